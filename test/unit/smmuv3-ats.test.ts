// PCIe ATS behind an SMMUv3: STE.EATS gates Translation Requests (F_BAD_ATS_TREQ) and Translated
// transactions (F_TRANSL_FORBIDDEN); the endpoint's ATC keeps a translation until CMD_ATC_INV,
// which Linux's unmap sends after the TLB invalidation (arm_smmu_atc_inv_domain). Without it the
// device keeps writing the old page: the stale-ATC bug.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { atcInvCommand, DeviceAtc } from "../../src/sim/smmuv3/ats.js";
import { IOMMU_READ, IOMMU_WRITE } from "../../src/sim/smmuv3/driver.js";
import { decodeEvent } from "../../src/sim/smmuv3/spec.js";
import { bootedSmmu, split } from "./smmuv3-helpers.js";

const SID = 0x100;
const RW = IOMMU_READ | IOMMU_WRITE;

function setup(ats: boolean) {
  const s = bootedSmmu({ oas: 48 });
  s.driver.addMaster(SID, "0000:01:00.0");
  if (ats) s.driver.enableAts(SID);
  const d = s.driver.allocDomain();
  s.driver.attach(d, [SID]);
  s.driver.map(d, 0x1000_0000, 0x2_0000_0000, 0x2000, RW);
  return { ...s, d };
}

describe("SMMUv3 ATS", () => {
  it("an ATS master's STE has EATS = 0b01; a Translation Request fills the endpoint's ATC, and Translated writes pass without a walk", () => {
    const { unit, mem, driver } = setup(true);
    expect((mem.readU64(driver.steAddress(SID)! + 8)! >> 28n) & 3n).toBe(1n);
    expect(unit.atsTranslate(SID, -1, ...split(0x1000_1234), true)).toBe(0);
    expect(unit.atc.lookup(SID, -1, 0x1000_1000)).toMatchObject({ iova: 0x1000_1000, size: 0x1000, pa: 0x2_0000_1000, perm: 3 });
    const walks = unit.counters.walks;
    expect(unit.translatedRequest(SID, ...split(0x2_0000_1234), true)).toBe(0);
    expect(unit.oa).toBe(0x2_0000_1234);
    expect(unit.counters.walks).toBe(walks);
  });

  it("without EATS: a Translation Request records F_BAD_ATS_TREQ, a Translated write F_TRANSL_FORBIDDEN, with the address", () => {
    const { unit } = setup(false);
    expect(unit.atsTranslate(SID, -1, ...split(0x1000_0000), false)).toBe(0x05);
    expect(unit.translatedRequest(SID, ...split(0x2_0000_0000), true)).toBe(0x07);
    const ev = unit.pendingEvents().map((e) => decodeEvent(e.raw));
    expect(ev.map((e) => [e.id, e.sid, e.inputAddr, e.read])).toEqual([
      [0x05, SID, 0x1000_0000n, true],
      [0x07, SID, 0x2_0000_0000n, false],
    ]);
  });

  it("a failing Translation Request records nothing (the completion says R = W = 0)", () => {
    const { unit } = setup(true);
    const before = unit.counters.events;
    expect(unit.atsTranslate(SID, -1, ...split(0x3000_0000), false)).toBe(0x10);
    expect(unit.counters.events).toBe(before);
    expect(unit.atc.entries).toEqual([]);
  });

  it("Linux's unmap sends CMD_ATC_INV after the TLBI: the ATC entry is gone; a missing ATC_INV leaves it stale", () => {
    const { unit, driver, d } = setup(true);
    unit.atsTranslate(SID, -1, ...split(0x1000_1000), true);
    driver.issued = [];
    driver.unmap(d, 0x1000_1000, 0x1000);
    expect(driver.issued.map((c) => Number(c[0] & 0xffn))).toEqual([0x12, 0x46, 0x40, 0x46]); // TLBI_NH_VA, SYNC, ATC_INV, SYNC
    expect(unit.atc.entries).toEqual([]);
    // The same unmap without the ATC invalidation (a driver bug): the device still holds the old page.
    unit.atsTranslate(SID, -1, ...split(0x1000_0000), true);
    driver.atsMasters.delete(SID);
    driver.unmap(d, 0x1000_0000, 0x1000);
    expect(unit.atc.lookup(SID, -1, 0x1000_0000)).toMatchObject({ pa: 0x2_0000_0000 });
    expect(unit.translate(SID, -1, ...split(0x1000_0000), true)).toBe(0x10);
  });

  it("CMD_ATC_INV covers exactly the aligned span arm_smmu_atc_inv_to_cmd encodes, for any range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 0x1ffff }), (page, pages, probe) => {
        const [w0, w1] = atcInvCommand(SID, -1, page * 4096, pages * 4096);
        const size = Number(w1 & 0x3fn);
        const base = Number(w1 & ~0xfffn);
        // The span is aligned to itself and covers the whole range.
        expect(base % 2 ** (size + 12)).toBe(0);
        expect(base).toBeLessThanOrEqual(page * 4096);
        expect(base + 2 ** (size + 12)).toBeGreaterThanOrEqual((page + pages) * 4096);
        const atc = new DeviceAtc();
        atc.fill({ sid: SID, ssid: -1, iova: probe * 4096, size: 4096, pa: 0, perm: 3 });
        atc.invalidate(w0, w1);
        const inSpan = probe * 4096 >= base && probe * 4096 < base + 2 ** (size + 12);
        expect(atc.entries.length === 0).toBe(inSpan);
      }),
      { numRuns: 300 },
    );
  });
});
