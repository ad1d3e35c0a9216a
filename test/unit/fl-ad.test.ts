// First-level Accessed / Dirty: the unit sets A in every first-level entry a DMA walk uses and D in
// the leaf on a write, in simulated memory (QEMU vtd_iova_to_fspte / vtd_set_flag_in_pte), so the
// Mapping Tables view shows them from the bytes; probes never write; a writable page whose D is
// still clear is not cached, so the first write walks and sets D; in a nested walk the update
// goes through the second level, which must map the table writable (0x77).
import { describe, expect, it } from "vitest";
import { bootedUnit } from "./helpers.js";
import { vtdUnit } from "../../src/sim/vtd/model.js";
import { PGTT_FL, PGTT_NESTED } from "../../src/sim/vtd/scalable.js";
import { simulateText } from "../../src/cli/simulate.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const SID = 0x0100;
const VA = 0x7f00_0000_0000n;

/** PASID 2: a first-level table whose entries have A = D = 0 (written by hand, as a CPU page table never touched). */
function clean() {
  const u = bootedUnit({ scalable: true });
  const { mem, driver } = u;
  const dom = driver.allocDomain();
  driver.attach(dom, [SID]);
  const fl = driver.allocPage();
  const leafAt = driver.entryAddressIn(fl, 4, true, VA, 1, true)!;
  mem.writeU64(leafAt, 0x3_1000_0000n | 0x7n); // P R/W U/S, no A/D
  // The non-leaf entries entryAddressIn created: clear their A bits too.
  const iommu = vtdUnit(u.unit, u.driver);
  driver.setPasidEntry(SID, 2, PGTT_FL, driver.allocDid(), 0, fl, 4, {});
  const fls = () => iommu.explain({ sid: SID, pasid: 2, iova: VA, write: false }).trail.entries.filter((e) => e.name.startsWith("FL-"));
  for (const e of fls()) mem.writeU64(Number(e.address), e.raw[0]! & ~0x60n);
  const bits = () => fls().map((e) => [Number((e.raw[0]! >> 5n) & 1n), Number((e.raw[0]! >> 6n) & 1n)]);
  return { ...u, iommu, leafAt, bits };
}

describe("first-level Accessed / Dirty bits", () => {
  it("a DMA read sets A at every level, a write then sets D in the leaf; probes write nothing", () => {
    const w = clean();
    expect(w.bits()).toEqual([[0, 0], [0, 0], [0, 0], [0, 0]]);
    expect(w.iommu.explain({ sid: SID, pasid: 2, iova: VA, write: true }).verdict.kind).toBe("translated");
    expect(w.bits()).toEqual([[0, 0], [0, 0], [0, 0], [0, 0]]);
    expect(w.iommu.translate({ sid: SID, pasid: 2, iova: VA, write: false })).toMatchObject({ kind: "translated", cached: false });
    expect(w.bits()).toEqual([[1, 0], [1, 0], [1, 0], [1, 0]]);
    // The read did not cache the clean writable page: the write walks (no IOTLB hit) and sets D.
    expect(w.iommu.translate({ sid: SID, pasid: 2, iova: VA, write: true })).toMatchObject({ kind: "translated", cached: false });
    expect(w.bits()).toEqual([[1, 0], [1, 0], [1, 0], [1, 1]]);
    expect(w.mem.readU64(w.leafAt)).toBe(0x3_1000_0000n | 0x67n);
    // Now dirty: cached, and the next access hits.
    expect(w.iommu.translate({ sid: SID, pasid: 2, iova: VA, write: false })).toMatchObject({ cached: true });
  });

  it("the Mapping Tables view shows A and D from the entry's bytes", () => {
    const w = clean();
    w.iommu.translate({ sid: SID, pasid: 2, iova: VA, write: true });
    let n = w.iommu.tables().root.child("01")!.child("00")!.child("p2")!;
    for (const k of ["254", "0", "0"]) n = n.children().find((c) => c.key === k)!;
    const leaf = n.children().find((c) => c.kind === "pte")!;
    expect(leaf.fields.filter((f) => f.name === "A" || f.name === "D").map((f) => [f.name, f.value])).toEqual([["A", "1"], ["D", "1"]]);
  });

  it("nested: an A/D update of a first-level table the second level maps read-only faults 0x77", () => {
    const u = bootedUnit({ scalable: true });
    const { mem, driver } = u;
    const dom = driver.allocDomain();
    driver.attach(dom, [SID]);
    const g = driver.allocPage();
    mem.writeU64(driver.entryAddressIn(g, 4, true, 0x5000_0000n, 1, true)!, 0x8000_0000n | 0x7n); // no A/D
    const parent = driver.allocDomain(false, true);
    driver.map(parent, 0x10000000n, 0x10000000n, 0x1000000n, 1); // the guest's tables: read-only in the second level
    driver.map(parent, 0x8000_0000n, 0x3_3000_0000n, 0x1000n, 3);
    driver.setPasidEntry(SID, 3, PGTT_NESTED, driver.allocDid(), parent.pgd, g, 4, {});
    const iommu = vtdUnit(u.unit, u.driver);
    expect(iommu.translate({ sid: SID, pasid: 3, iova: 0x5000_0000n, write: false })).toMatchObject({ kind: "fault", reason: 0x77 });
  });

  it("the example: a never-touched SVA page gets A on the device's read and D on its write", () => {
    const file = join(__dirname, "..", "..", "examples", "first-level-accessed-dirty.passthrough.yaml");
    const r = simulateText(readFileSync(file, "utf8"), file);
    expect(r.expectations).toEqual({ passed: 3, failed: 0, notReached: 0 });
  });
});
