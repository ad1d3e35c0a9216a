// The IOTLB keeps a first-level translation's U/S (VT-d 6.2.1): a supervisor request's translation
// of a supervisor-only page (U/S = 0) is cached too - under the PASID's supervisor tag, which only
// supervisor requests look up - so a user request to the same page still walks and faults (0x81),
// and the PASID-based IOTLB invalidation drops it with the PASID's other entries.
import { describe, expect, it } from "vitest";
import { bootedUnit } from "./helpers.js";
import { vtdUnit } from "../../src/sim/vtd/model.js";
import { PGTT_FL, PGTT_NESTED } from "../../src/sim/vtd/scalable.js";

const SID = 0x0100;

function unitWithSupervisorPage(pgtt: number) {
  const u = bootedUnit({ scalable: true });
  const { mem, driver } = u;
  const dom = driver.allocDomain();
  driver.attach(dom, [SID]);
  const fl = driver.allocPage();
  mem.writeU64(driver.entryAddressIn(fl, 4, true, 0x1000n, 1, true)!, 0x3_2000_0000n | 0x63n); // P R/W A D, no U/S
  mem.writeU64(driver.entryAddressIn(fl, 4, true, 0x2000n, 1, true)!, 0x3_2000_1000n | 0x67n); // P R/W U/S A D
  let slRoot = 0;
  if (pgtt === PGTT_NESTED) {
    const parent = driver.allocDomain(false, true);
    driver.map(parent, 0n, 0n, 1n << 36n, 3); // identity: the tables and the output
    slRoot = parent.pgd;
  }
  const did = driver.allocDid();
  driver.setPasidEntry(SID, 7, pgtt, did, slRoot, fl, 4, { sre: true });
  return { ...u, did, iommu: vtdUnit(u.unit, u.driver) };
}

describe("supervisor-only first-level translations in the IOTLB", () => {
  for (const [name, pgtt] of [["first-level", PGTT_FL], ["nested", PGTT_NESTED]] as const) {
    it(`${name}: a supervisor request's second translation of a U/S = 0 page is an IOTLB hit; a user request still faults 0x81`, () => {
      const { iommu } = unitWithSupervisorPage(pgtt);
      const sup = { sid: SID, pasid: 7, iova: 0x1000n, write: true, privileged: true };
      expect(iommu.translate(sup)).toMatchObject({ kind: "translated", hpa: 0x3_2000_0000n, cached: false });
      expect(iommu.translate(sup)).toMatchObject({ kind: "translated", hpa: 0x3_2000_0000n, cached: true });
      expect(iommu.translate({ ...sup, privileged: false })).toMatchObject({ kind: "fault", reason: 0x81 });
      // A user page answers both kinds of request the same: one entry, hit by both.
      const user = { sid: SID, pasid: 7, iova: 0x2000n, write: true };
      expect(iommu.translate(user)).toMatchObject({ kind: "translated", cached: false });
      expect(iommu.translate({ ...user, privileged: true })).toMatchObject({ kind: "translated", cached: true });
    });
  }

  it("the PASID-based IOTLB invalidation drops the supervisor entries; a checkpoint keeps them", () => {
    const { iommu, unit, did } = unitWithSupervisorPage(PGTT_FL);
    const sup = { sid: SID, pasid: 7, iova: 0x1000n, write: true, privileged: true };
    iommu.translate(sup);
    const snap = unit.snapshot();
    expect(iommu.invalidate({ scope: "pasid", domain: did, pasid: 7 })).toMatchObject({ ok: true, dropped: 1 });
    expect(iommu.translate(sup)).toMatchObject({ kind: "translated", cached: false });
    unit.restore(snap);
    iommu.invalidate({ scope: "global" });
    unit.restore(snap);
    expect(iommu.translate(sup)).toMatchObject({ kind: "translated", cached: true });
  });

  it("the IOTLB view names the supervisor entry's domain and PASID", () => {
    const { iommu, unit, did } = unitWithSupervisorPage(PGTT_FL);
    iommu.translate({ sid: SID, pasid: 7, iova: 0x1000n, write: true, privileged: true });
    const tag = unit.sm.privTag(did, 7, false);
    expect(tag).toBeGreaterThan(0);
    expect(unit.sm.tagInfo(tag)).toEqual({ did, pasid: 7, fl: true, nested: false });
    expect(unit.sm.tagsOf(did, true, 7)).toContain(tag);
  });
});
