// A nested SMMUv3 stream (STE.Config = 0b111): the CD address and every stage-1 table address are
// IPAs, each translated by a stage-2 walk before the read (SMMUv3 spec 3.4.4). explain() itemises
// those stage-2 walks in the trail, right before the read they served, marked `nestedFor`.
import { describe, expect, it } from "vitest";
import { ArmSmmuV3Driver, IOMMU_READ, IOMMU_WRITE } from "../../src/sim/smmuv3/driver.js";
import { bootedSmmu } from "./smmuv3-helpers.js";

const SID = 0x100;
const SID2 = 0x200;
const POOL = 0x10000000;
const RW = IOMMU_READ | IOMMU_WRITE;

/** Stage 1 from the booted driver; stage 2 from a second driver's domain, identity over the table pool and the buffer. */
function nested() {
  const s = bootedSmmu({ oas: 44 }, { stage: 1 });
  const { driver, mem, unit } = s;
  driver.addMaster(SID, "0000:01:00.0");
  const d1 = driver.allocDomain();
  driver.attach(d1, [SID]);
  driver.map(d1, 0x8000_0000, 0x4000_0000, 0x1000, RW); // IOVA -> IPA 0x4000_0000
  const s2drv = new ArmSmmuV3Driver(unit, mem, { stage: 2, blocks: false });
  s2drv.addMaster(SID2, "0000:02:00.0");
  const d2 = s2drv.allocDomain();
  s2drv.attach(d2, [SID2]);
  s2drv.map(d2, POOL, POOL, 0x80000, RW); // the tables (IPA = PA), 4 KiB pages
  s2drv.map(d2, 0x4000_0000, 0x2_0000_0000, 0x1000, RW); // the buffer's IPA -> PA
  // The nested STE: stage-1 fields of SID's STE, stage-2 words of SID2's, Config = 0b111.
  const at = driver.steAddress(SID)!;
  const at2 = s2drv.steAddress(SID2)!;
  mem.writeU64(at, (mem.readU64(at)! & ~0xen) | (7n << 1n));
  mem.writeU64(at + 16, mem.readU64(at2 + 16)!);
  mem.writeU64(at + 24, mem.readU64(at2 + 24)!);
  unit.steCache.clear();
  unit.cdCache.clear();
  return { ...s, d1, d2, s2drv };
}

describe("nested SMMUv3 translation in the trail", () => {
  it("each stage-1 fetch is preceded by the stage-2 walk of its IPA, and the output IPA's walk ends the trail", () => {
    const { model } = nested();
    const t = model.explain({ sid: SID, iova: 0x8000_0123n, write: true });
    expect(t.verdict).toMatchObject({ kind: "translated", hpa: 0x2_0000_0123n });
    const rows = t.trail.entries.map((e) => `${e.name}${e.nestedFor ? ` <- ${e.nestedFor.of}` : ""}`);
    // 44-bit IPA, 4 KiB: stage 2 starts at level 0 (32 entries there: too many to concatenate at level 1).
    const s2walk = (of: string) => ["S2 L0 table descriptor", "S2 L1 table descriptor", "S2 L2 table descriptor", "S2 L3 page descriptor"].map((n) => `${n} <- ${of}`);
    expect(rows).toEqual([
      "L1STD",
      "STE",
      ...s2walk("CD"),
      "CD",
      ...s2walk("S1 L0 table"),
      "S1 L0 table descriptor",
      ...s2walk("S1 L1 table"),
      "S1 L1 table descriptor",
      ...s2walk("S1 L2 table"),
      "S1 L2 table descriptor",
      ...s2walk("S1 L3 table"),
      "S1 L3 page descriptor",
      "S2 L0 table descriptor",
      "S2 L1 table descriptor",
      "S2 L2 table descriptor",
      "S2 L3 page descriptor",
    ]);
    // Each nested walk translated the address the next read used: the CD's IPA is its own PA here.
    const cd = t.trail.entries.find((e) => e.name === "CD")!;
    expect(t.trail.entries.find((e) => e.nestedFor?.of === "CD")!.nestedFor!.input).toBe(cd.address);
  });

  it("a stage-2 fault on a stage-1 table's IPA stops the trail on that stage-2 walk (S2 = 1, CLASS = TT)", () => {
    const { model, s2drv, d2, unit, mem } = nested();
    // The S1 L2 table's page loses its stage-2 mapping.
    const l1 = model.explain({ sid: SID, iova: 0x8000_0000n, write: false }).trail.entries.find((e) => e.name === "S1 L1 table descriptor")!;
    const l2Table = Number(l1.raw[0]! & 0x0000fffffffff000n);
    s2drv.unmap(d2, l2Table, 0x1000);
    unit.tlb.drop(() => true);
    const t = model.explain({ sid: SID, iova: 0x8000_0000n, write: false });
    expect(t.verdict.reason).toBe(0x10);
    const last = t.trail.entries.at(-1)!;
    expect(last).toMatchObject({ name: "S2 L3 descriptor", nestedFor: { of: "S1 L2 table", input: BigInt(l2Table) } });
    expect(t.trail.stop).toMatchObject({ entry: t.trail.entries.length - 1, cause: "invalid" });
    expect(t.trail.stop!.why).toBe(`stage 2 faulted (F_TRANSLATION) translating the IPA 0x${l2Table.toString(16)} of the S1 L2 table`);
    // The event the SMMU records for it: S2 = 1, CLASS = TT (translation table fetch), IPA of the table.
    model.translate({ sid: SID, iova: 0x8000_0000n, write: false });
    const ev = unit.pendingEvents().at(-1)!.raw;
    expect(Number((ev[1] >> 39n) & 1n)).toBe(1);
    expect(Number((ev[1] >> 40n) & 3n)).toBe(1);
    expect(ev[3] & 0x000ffffffffff000n).toBe(BigInt(l2Table));
    void mem;
  });

  it("a stage-2 fault on the CD's IPA stops the trail after the CD fetch's stage-2 walk", () => {
    const { model, s2drv, d2, unit, driver } = nested();
    const cdAt = Number(driver.unit.decodeSte(SID, driver.steAddress(SID)!, [driver.mem.readU64(driver.steAddress(SID)!)!]).s1ContextPtr);
    s2drv.unmap(d2, cdAt - (cdAt % 0x1000), 0x1000);
    unit.cdCache.clear();
    const t = model.explain({ sid: SID, iova: 0x8000_0000n, write: false });
    expect(t.verdict.reason).toBe(0x10);
    expect(t.trail.entries.some((e) => e.name === "CD")).toBe(false);
    expect(t.trail.entries.at(-1)).toMatchObject({ nestedFor: { of: "CD" } });
    expect(t.trail.stop!.why).toBe(`stage 2 faulted (F_TRANSLATION) translating the CD's IPA 0x${cdAt.toString(16)}`);
  });

  it("the hot path records nothing for the trail", () => {
    const { model, unit } = nested();
    model.translate({ sid: SID, iova: 0x8000_0000n, write: false });
    expect(unit.nestedFetches).toEqual([]);
  });
});
