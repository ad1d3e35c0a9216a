import { describe, expect, it } from "vitest";
import { DMAR_FSTS_REG, DMAR_GSTS_REG, decodeCap, decodeEcap } from "../../src/sim/vtd/regs.js";
import { FaultFate, XlateKind } from "../../src/sim/vtd/unit.js";
import { bootedUnit, split, vtdSpec } from "./helpers.js";
import { renderQiError } from "../../src/sim/vtd/dmesg.js";
import { composeCap } from "../../src/sim/vtd/regs.js";

const RID = 0x0100; // 01:00.0
const GiB = 1n << 30n;

function translate(u: ReturnType<typeof bootedUnit>["unit"], iova: bigint, write = false, sid = RID) {
  const [hi, lo] = split(iova);
  const r = u.translate(sid, hi, lo, write);
  return { r, hpa: (BigInt(u.hpaHi) << 32n) | BigInt(u.hpaLo), hit: u.iotlbHit, level: u.level, fate: u.fate, kind: u.kind };
}

describe("CAP/ECAP", () => {
  it("encode the configuration the way Linux decodes it", () => {
    const cap = decodeCap(composeCap(vtdSpec({ addressWidth: 48, sagaw: [39, 48], faultRecords: 8, cachingMode: true, nd: 6 })));
    expect(cap).toMatchObject({ mgaw: 48, sagaw: 0b00110, nfr: 8, cm: true, nd: 6, sllps: 3, psi: true, mamv: 18, fro: 0x220 });
    const { unit } = bootedUnit({ passThrough: false, queuedInvalidation: true });
    expect(decodeEcap(unit.ecap)).toMatchObject({ qi: true, pt: false, iro: 0xf0 });
  });

  it("bring-up sets TES, RTPS and QIES in GSTS", () => {
    const { unit } = bootedUnit();
    const gsts = unit.readReg32(DMAR_GSTS_REG);
    expect(gsts & (1 << 31)).not.toBe(0);
    expect(gsts & (1 << 30)).not.toBe(0);
    expect(gsts & (1 << 26)).not.toBe(0);
  });
});

describe("translation through root and context entries", () => {
  it("translates a mapped page, then hits the IOTLB", () => {
    const { unit, driver } = bootedUnit();
    const d = driver.allocDomain();
    driver.attach(d, [RID]);
    driver.map(d, 0x10000000n, 0x2_3456_7000n, 0x1000n, 3);
    const a = translate(unit, 0x10000123n, true);
    expect(a).toMatchObject({ r: 0, hpa: 0x2_3456_7123n, hit: false, level: 1, kind: XlateKind.Translated });
    expect(translate(unit, 0x10000fffn)).toMatchObject({ r: 0, hpa: 0x2_3456_7fffn, hit: true });
  });

  it("uses 2 MiB and 1 GiB superpages when both addresses are aligned", () => {
    const { unit, driver, mem } = bootedUnit();
    const d = driver.allocDomain();
    driver.attach(d, [RID]);
    const before = mem.poolPages;
    driver.map(d, 0n, 0x4_0000_0000n, 2n * GiB + 0x200000n, 3);
    // 1 GiB pages need only the PML4 and PDPT levels; the last 2 MiB needs one PD.
    expect(mem.poolPages - before).toBe(2);
    expect(translate(unit, 0x4000_1234n)).toMatchObject({ r: 0, hpa: 0x4_4000_1234n, level: 3 });
    expect(translate(unit, 2n * GiB + 0x1234n)).toMatchObject({ r: 0, hpa: 0x4_8000_1234n, level: 2 });
  });

  it("reports the root/context faults in QEMU's order and codes", () => {
    const { unit, driver, mem } = bootedUnit();
    // No context table for bus 7 yet: root entry not present -> 0x01.
    expect(translate(unit, 0x1000n, false, 0x0700).r).toBe(0x01);
    const d = driver.allocDomain();
    driver.attach(d, [RID]);
    // Another devfn on bus 1 without a context entry -> 0x02.
    expect(translate(unit, 0x1000n, false, 0x0108).r).toBe(0x02);
    // Root entry with a reserved bit (bit 1) -> 0x0A.
    const re = unit.rootTable + 1 * 16;
    const lo = mem.readU64(re)!;
    mem.writeU64(re, lo | 2n);
    unit.invalidate({ type: "cc", granularity: 1, did: 0, sid: 0, fm: 0 });
    expect(translate(unit, 0x1000n).r).toBe(0x0a);
    mem.writeU64(re, lo);
    // Context entry AW = 3 (57-bit) on a unit without 5-level support -> 0x03.
    const ce = Number(lo & ~0xfffn);
    const hi = mem.readU64(ce + 8)!;
    mem.writeU64(ce + 8, (hi & ~7n) | 3n);
    unit.invalidate({ type: "cc", granularity: 1, did: 0, sid: 0, fm: 0 });
    expect(translate(unit, 0x1000n).r).toBe(0x03);
    // Translation type 3 (reserved) -> 0x03.
    mem.writeU64(ce + 8, hi);
    const clo = mem.readU64(ce)!;
    mem.writeU64(ce, clo | (3n << 2n));
    unit.invalidate({ type: "cc", granularity: 1, did: 0, sid: 0, fm: 0 });
    expect(translate(unit, 0x1000n).r).toBe(0x03);
    // Root table pointer outside memory -> 0x08.
    unit.rootTable = 0x7fff_ffff_f000;
    unit.invalidate({ type: "cc", granularity: 1, did: 0, sid: 0, fm: 0 });
    expect(translate(unit, 0x1000n).r).toBe(0x08);
  });

  it("pass-through context entries leave addresses untouched; writes to 0xFEExxxxx are interrupts", () => {
    const { unit, driver } = bootedUnit();
    const pt = driver.allocDomain(true);
    driver.attach(pt, [RID]);
    expect(translate(unit, 0x1234_5678n)).toMatchObject({ r: 0, hpa: 0x1234_5678n, kind: XlateKind.PassThrough });
    expect(translate(unit, 0xfee0_0000n, true)).toMatchObject({ r: 0, kind: XlateKind.Interrupt });
  });

  it("faults 0x0E when a translation lands on the interrupt window, and does not cache it", () => {
    const { unit, driver } = bootedUnit();
    const d = driver.allocDomain();
    driver.attach(d, [RID]);
    driver.map(d, 0x1000n, 0xfee0_0000n, 0x1000n, 3);
    expect(translate(unit, 0x1000n).r).toBe(0x0e);
    expect(translate(unit, 0x1000n)).toMatchObject({ r: 0x0e, hit: false });
  });

  it("a probe neither fills the IOTLB nor records a fault", () => {
    const { unit, driver } = bootedUnit();
    const d = driver.allocDomain();
    driver.attach(d, [RID]);
    driver.map(d, 0x10000n, 0x9000_0000n, 0x1000n, 1);
    const [hi, lo] = split(0x10000n);
    expect(unit.translate(RID, hi, lo, false, true)).toBe(0);
    expect(unit.iotlb.entries()).toHaveLength(0);
    expect(unit.translate(RID, hi, lo, true, true)).toBe(0x05);
    expect(unit.readReg32(DMAR_FSTS_REG)).toBe(0);
  });
});

describe("fault recording registers", () => {
  it("records into NFR slots, compresses per source-id, overflows into PFO", () => {
    const { unit, driver } = bootedUnit({ faultRecords: 2 });
    const d = driver.allocDomain();
    driver.attach(d, [RID, 0x0101, 0x0102]);
    expect(translate(unit, 0x1000n, false, RID).fate).toBe(FaultFate.Recorded);
    expect(translate(unit, 0x2000n, false, RID).fate).toBe(FaultFate.Compressed);
    expect(translate(unit, 0x1000n, true, 0x0101).fate).toBe(FaultFate.Recorded);
    expect(translate(unit, 0x1000n, false, 0x0102).fate).toBe(FaultFate.Overflow);
    const fsts = unit.readReg32(DMAR_FSTS_REG);
    expect(fsts & 3).toBe(3); // PPF | PFO
    expect((fsts >> 8) & 0xff).toBe(0); // FRI
    expect(unit.readRecord(0)).toMatchObject({ sid: RID, reason: 0x06, read: true, address: 0x1000n });
    expect(unit.readRecord(1)).toMatchObject({ sid: 0x0101, reason: 0x05, read: false });
    // Linux's dmar_fault() clears the records and the status.
    const { records } = driver.serviceFaults();
    expect(records.map((r) => r.sid)).toEqual([RID, 0x0101]);
    expect(unit.readReg32(DMAR_FSTS_REG) & 3).toBe(0);
    expect(translate(unit, 0x3000n, false, 0x0102).fate).toBe(FaultFate.Recorded);
  });

  it("FPD suppresses qualified faults but not a missing root entry", () => {
    const { unit, driver, mem } = bootedUnit();
    const d = driver.allocDomain();
    driver.attach(d, [RID]);
    const ce = driver.contextTableOf(1)!;
    mem.writeU64(ce, mem.readU64(ce)! | 2n); // FPD
    unit.invalidate({ type: "cc", granularity: 1, did: 0, sid: 0, fm: 0 });
    expect(translate(unit, 0x1000n)).toMatchObject({ r: 0x06, fate: FaultFate.SuppressedFpd });
    expect(translate(unit, 0x1000n, false, 0x0900)).toMatchObject({ r: 0x01, fate: FaultFate.Recorded });
  });
});

describe("invalidation", () => {
  it("keeps a stale translation until the matching invalidation, at each granularity", () => {
    for (const gran of ["psi", "dsi", "global"] as const) {
      const { unit, driver, mem } = bootedUnit();
      const d = driver.allocDomain();
      driver.attach(d, [RID]);
      driver.map(d, 0x200000n, 0x8000_0000n, 0x2000n, 3);
      expect(translate(unit, 0x200000n).r).toBe(0);
      const pte = driver.entryAddress(d, 0x200000n, 1, false)!;
      mem.writeU64(pte, 0n); // behind the IOMMU's back
      expect(translate(unit, 0x200000n)).toMatchObject({ r: 0, hit: true });
      // A PSI for a different page keeps it.
      driver.flushIotlb(3, d.did, 0x400000n, 0, false);
      expect(translate(unit, 0x200000n)).toMatchObject({ r: 0, hit: true });
      if (gran === "psi") driver.flushIotlb(3, d.did, 0x200000n, 1, true);
      if (gran === "dsi") driver.flushIotlb(2, d.did, 0n, 0, false);
      if (gran === "global") driver.flushIotlb(1, 0, 0n, 0, false);
      expect(translate(unit, 0x200000n).r).toBe(0x06);
    }
  });

  it("rejects a PSI above MAMV with an invalidation queue error", () => {
    const { unit, driver } = bootedUnit({ mamv: 4 });
    expect(driver.submitRaw([0x2n | (3n << 4n), 5n])).toBe(false);
    expect(unit.readReg32(DMAR_FSTS_REG) & (1 << 4)).toBe(0); // the driver cleared IQE
    const lines = renderQiError(driver.lastQiError!);
    // IQEI 4: a field value the unit does not support in a valid descriptor type (unit.ts refusedCause).
    expect(lines[0]).toBe("DMAR: VT-d detected Invalidation Queue Error: Reason 4");
    expect(lines[1]).toBe("DMAR: QI HEAD: IOTLB Invalidation qw0 = 0x32, qw1 = 0x5");
    expect(lines[2]).toMatch(/^DMAR: QI PRIOR: Invalidation Wait qw0 = 0x1000000[0-9a-f]{2}, qw1 = 0x[0-9a-f]+$/);
    expect(lines.at(-1)).toBe("DMAR: Invalidation Queue Error (IQE) cleared");
    // The queue resumed: the next submission completes.
    expect(driver.submitRaw([0x2n | (1n << 4n), 0n])).toBe(true);
  });

  it("unmap flushes page-selectively with IH=1 when no table was freed, and frees covered tables", () => {
    const { driver, mem } = bootedUnit();
    const d = driver.allocDomain();
    driver.map(d, 0x10000n, 0x1_0000_0000n, 0x4000n, 3);
    driver.takeIssued();
    driver.unmap(d, 0x10000n, 0x1000n);
    const [psi] = driver.takeIssued();
    // IOTLB descriptor: type 2, G = 3 (PSI), DID; qw1 = addr | IH | AM
    expect(psi!.lo & 0x3fn).toBe(0x2n | (3n << 4n));
    expect((psi!.lo >> 6n) & 3n).toBe(3n); // DW, DR: the unit advertises write/read drain
    expect(Number((psi!.lo >> 16n) & 0xffffn)).toBe(d.did);
    expect(psi!.hi).toBe(0x10000n | (1n << 6n));
    const pages = mem.poolPages;
    driver.unmap(d, 0n, 0x200000n); // covers the whole SL-PT
    const [psi2] = driver.takeIssued();
    expect(psi2!.hi & (1n << 6n)).toBe(0n); // a table was freed: IH = 0
    expect(psi2!.hi & 0x3fn).toBe(9n); // 512 pages
    // The freed SL-PT is reused by the next allocation instead of growing the pool.
    driver.map(d, 0x4000_0000n, 0x1_0000_0000n, 0x1000n, 3);
    expect(mem.poolPages).toBe(pages + 1); // one new PD for the 1 GiB slot; the PT came from the free list
  });

  it("computes an aligned PSI covering an unaligned range (calculate_psi_aligned_address)", () => {
    const { driver } = bootedUnit();
    const d = driver.allocDomain();
    driver.takeIssued();
    driver.flushIotlbRange(d, 0x3n, 2n, false); // pfns 3..4 -> aligned block 0..7, AM 3
    const [desc] = driver.takeIssued();
    expect(desc!.hi).toBe(0n | 3n);
  });
});

describe("entry codecs", () => {
  it("context entries round-trip through encode/decode, and QI descriptors describe themselves", async () => {
    const { encodeContextEntry, decodeContextEntry, decodeRootEntry } = await import("../../src/sim/vtd/context.js");
    const { encodeIotlbDesc, decodeDesc, describeDesc } = await import("../../src/sim/vtd/qi.js");
    const [lo, hi] = encodeContextEntry({ slptptr: 0x1234_5000n, tt: 2, aw: 2, did: 0x42, fpd: true });
    expect(decodeContextEntry(lo, hi)).toMatchObject({ present: true, fpd: true, tt: 2, slptptr: 0x1234_5000n, aw: 2, did: 0x42 });
    expect(decodeRootEntry(0x1000_0001n, 0n)).toMatchObject({ present: true, ctp: 0x1000_0000n });
    const [dlo, dhi] = encodeIotlbDesc(3, 7, 0x20_0000n, 1, true);
    expect(describeDesc(decodeDesc(dlo, dhi))).toBe("IOTLB page did=7 addr=0x200000 am=1 ih=1");
  });
});
