// The SMMUv3 stage walker (src/sim/smmuv3/walk.ts) against a small reference written from the Arm
// ARM's VMSAv8-64 walk (D8.2 "Translation table walk", D8.3 "Descriptor formats"; 4 KiB, 16 KiB
// and 64 KiB granules, without FEAT_LPA/LPA2):
// BigInt descriptors, the rules spelled out plainly, on random tables with random bits (invalid,
// reserved-type, table, block and page descriptors, AF, AP/S2AP, XN, APTable, output addresses
// beyond the output size, tables in unbacked memory), random start levels and input sizes
// (stage-2 concatenation included), random requests. And the whole unit + driver against an
// oracle of what was mapped: random map/unmap/DMA sequences, stage 1 and stage 2. The walker with
// the translate core's walk (4 KiB granule) gives every result field of the walker without it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { IOMMU_READ, IOMMU_WRITE } from "../../src/sim/smmuv3/driver.js";
import { StageWalker, type StageConfig } from "../../src/sim/smmuv3/walk.js";
import { TableWalkCore } from "../../src/sim/walkCore.js";
import { bootedSmmu } from "./smmuv3-helpers.js";

const BASE = 0x10000000;
const DRAM = 16 * 2 ** 30;
const UNBACKED = 0x800000000n; // 32 GiB: beyond DRAM and the pool

type Ref = { ok: true; oa: bigint; level: number; perm: number } | { ok: false; id: number; level: number };

/**
 * Arm ARM D8.2/D8.3 written out: one stage. Per granule (Table D8-xx "translation granule"):
 * 4 KiB resolves 9 bits a level, blocks at L1 (1 GiB) and L2 (2 MiB); 16 KiB 11 bits, blocks at
 * L2 (32 MiB) only; 64 KiB 13 bits, blocks at L2 (512 MiB) only (L1 needs 52-bit addresses).
 */
const GRANULES = {
  12: { bits: 9n, blockLevels: [1, 2] },
  14: { bits: 11n, blockLevels: [2] },
  16: { bits: 13n, blockLevels: [2] },
} as const;

function reference(mem: Map<bigint, bigint>, c: StageConfig, va: bigint, write: boolean, priv: boolean, exec: boolean): Ref {
  const gran = GRANULES[c.granule as 12 | 14 | 16];
  const g = BigInt(c.granule);
  const addrMask = 0x0000ffffffffffffn & ~((1n << g) - 1n);
  if (va >> BigInt(c.inputBits) !== 0n) return { ok: false, id: 0x10, level: c.startLevel };
  let table = BigInt(c.ttb);
  let apTable = 0n;
  let uxnTable = false;
  let pxnTable = false;
  const oaLimit = 1n << BigInt(c.outputBits);
  for (let level = c.startLevel; level <= 3; level++) {
    const shift = g + gran.bits * BigInt(3 - level);
    const bits = level === c.startLevel ? BigInt(c.inputBits) - shift : gran.bits;
    const addr = table + ((va >> shift) & ((1n << bits) - 1n)) * 8n;
    const inPool = addr >= BigInt(BASE) && addr < BigInt(BASE) + 0x100000n;
    if (!inPool && addr >= BigInt(DRAM)) return { ok: false, id: 0x0b, level };
    const d = mem.get(addr) ?? 0n;
    if ((d & 1n) === 0n) return { ok: false, id: 0x10, level };
    const typeBit = (d & 2n) !== 0n;
    if (level === 3 && !typeBit) return { ok: false, id: 0x10, level }; // reserved at level 3
    if (level < 3 && typeBit) {
      const next = d & addrMask;
      if (next >= oaLimit) return { ok: false, id: 0x11, level };
      if (!c.s2) {
        apTable |= (d >> 61n) & 3n;
        uxnTable ||= ((d >> 60n) & 1n) === 1n;
        pxnTable ||= ((d >> 59n) & 1n) === 1n;
      }
      table = next;
      continue;
    }
    if (level < 3 && !(gran.blockLevels as readonly number[]).includes(level)) return { ok: false, id: 0x10, level }; // no block at this level
    const size = 1n << shift;
    const oa = d & addrMask & ~(size - 1n);
    if (oa >= oaLimit) return { ok: false, id: 0x11, level };
    if (((d >> 10n) & 1n) === 0n && !c.afOff) return { ok: false, id: 0x12, level };
    let r: boolean;
    let w: boolean;
    let x: boolean;
    if (c.s2) {
      r = ((d >> 6n) & 1n) === 1n;
      w = ((d >> 7n) & 1n) === 1n;
      x = ((d >> 53n) & 3n) === 0n;
    } else {
      const ap = (d >> 6n) & 3n; // AP[2:1]
      r = priv || ((ap & 1n) === 1n && (apTable & 1n) === 0n);
      w = r && (ap & 2n) === 0n && (apTable & 2n) === 0n;
      x = r && (priv ? ((d >> 53n) & 1n) === 0n && !pxnTable : ((d >> 54n) & 1n) === 0n && !uxnTable);
    }
    if ((write && !w) || (!write && !r) || (exec && !x)) return { ok: false, id: 0x13, level };
    return { ok: true, oa: oa | (va & (size - 1n)), level, perm: (r ? 1 : 0) | (w ? 2 : 0) | (x ? 4 : 0) };
  }
  throw new Error("unreachable");
}

const descArb = (next: bigint, level: number) =>
  fc.record({
    // Weighted towards walks that reach a leaf through several tables.
    kind: fc.oneof({ arbitrary: fc.constant("table"), weight: 6 }, { arbitrary: fc.constant("leaf"), weight: 4 }, { arbitrary: fc.constantFrom("invalid", "table-unbacked", "leaf-type0", "leaf-far"), weight: 3 }),
    af: fc.boolean(),
    ap: fc.integer({ min: 0, max: 3 }),
    xn: fc.integer({ min: 0, max: 3 }),
    apt: fc.integer({ min: 0, max: 3 }),
    page: fc.integer({ min: 0, max: 0xfffff }),
    junk: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  }).map((r) => {
    const attrs = (r.af ? 1n << 10n : 0n) | (BigInt(r.ap) << 6n) | (BigInt(r.xn) << 53n);
    switch (r.kind) {
      case "invalid":
        return r.junk & ~1n;
      case "table":
        return next | 3n | (BigInt(r.apt) << 61n);
      case "table-unbacked":
        return UNBACKED | 3n;
      case "leaf":
        return (BigInt(r.page) << 21n & 0x0000fffffffff000n) | (level === 3 ? 3n : 1n) | attrs;
      case "leaf-type0":
        return (BigInt(r.page) << 12n) | 1n | attrs;
      default:
        return (1n << 45n) | (BigInt(r.page) << 12n) | (level === 3 ? 3n : 1n) | attrs;
    }
  });

describe("SMMUv3 stage walk vs the Arm ARM reference", () => {
  it("agrees on verdict, event, level, output address and permissions", () => {
    const scenario = fc
      .record({
        s2: fc.boolean(),
        inputBits: fc.integer({ min: 25, max: 48 }),
        granule: fc.constantFrom(12, 14, 16),
        outputBits: fc.constantFrom(32, 36, 40, 44, 48),
        afOff: fc.boolean(),
        concat: fc.boolean(),
      })
      .chain((p) => {
        // Stage 1 starts where the input size says (levels = ceil((ia - g) / (g - 3))); stage 2
        // may start one level lower and concatenate (up to 16 tables: stride + 4 index bits at
        // the start level, as the STE checks allow).
        const g = p.granule;
        const stride = g - 3;
        let start = 4 - Math.ceil((p.inputBits - g) / stride);
        if (p.s2 && p.concat && start < 3 && p.inputBits - (g + stride * (3 - (start + 1))) <= stride + 4) start += 1;
        const cfgLevels = [0, 1, 2, 3].filter((l) => l >= start);
        return fc.record({
          p: fc.constant(p),
          start: fc.constant(start),
          descs: fc.tuple(...cfgLevels.map((l) => fc.array(descArb(BigInt(BASE + (l + 1) * 2 ** g), l), { minLength: 3, maxLength: 3 }))),
          idx: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
          off: fc.integer({ min: 0, max: 2 ** g - 1 }),
          high: fc.boolean(),
          write: fc.boolean(),
          priv: fc.boolean(),
          exec: fc.boolean(),
        });
      });
    fc.assert(
      fc.property(scenario, ({ p, start, descs, idx, off, high, write, priv, exec }) => {
        const g = p.granule;
        // One table per level at BASE + level * granule (aligned to the granule, as the walk wants).
        const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 256, dramBytes: DRAM });
        for (let i = 0; i < (5 * 2 ** g) / 4096 + 2; i++) mem.allocPage();
        const ref = new Map<bigint, bigint>();
        descs.forEach((table, k) => {
          const level = start + k;
          table.forEach((d, i) => {
            const at = BigInt(BASE + level * 2 ** g + i * 8);
            ref.set(at, d);
            mem.writeU64(Number(at), d);
          });
        });
        const cfg: StageConfig = { ttb: BASE + start * 2 ** g, inputBits: p.inputBits, startLevel: start, outputBits: p.outputBits, s2: p.s2, afOff: p.afOff, granule: g };
        let va = BigInt(off);
        for (let l = start; l <= 3; l++) va |= BigInt(idx[l]!) << BigInt(g + (g - 3) * (3 - l));
        if (high) va |= 1n << BigInt(p.inputBits); // outside the input range
        const w = new StageWalker(mem);
        const got = w.walk(cfg, Number(va), write, priv, exec);
        const want = reference(ref, cfg, va, write, priv, exec);
        // The translate core's walk (4 KiB granule; walkCore.ts): every field the unit reads alike.
        const core = TableWalkCore.create(mem);
        expect(core).not.toBeNull();
        const wc = new StageWalker(mem, core);
        const fields = (x: StageWalker, id: number) => ({ id, oa: x.oa, level: x.level, perm: x.perm, leaf: [x.leafLo, x.leafHi], faultLevel: x.faultLevel, granule: x.granule });
        expect(fields(wc, wc.walk(cfg, Number(va), write, priv, exec))).toEqual(fields(w, got));
        if (want.ok) {
          expect({ id: got, oa: BigInt(w.oa), level: w.level, perm: w.perm }).toEqual({ id: 0, oa: want.oa, level: want.level, perm: want.perm });
        } else {
          expect({ id: got, level: w.faultLevel }).toEqual({ id: want.id, level: want.level });
        }
      }),
      { numRuns: 600 },
    );
  });
});

type Op = { kind: "map"; slot: number; pages: number; prot: number; pa: number } | { kind: "unmap"; slot: number; pages: number } | { kind: "dma"; slot: number; off: number; write: boolean };

describe("SMMUv3 unit + arm-smmu-v3 driver vs an oracle of the mappings", () => {
  it("every DMA gets what was mapped (stage 1 and stage 2), through the TLB and its invalidations", () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant("map" as const), slot: fc.integer({ min: 0, max: 7 }), pages: fc.integer({ min: 1, max: 3 }), prot: fc.constantFrom(IOMMU_READ, IOMMU_READ | IOMMU_WRITE, IOMMU_WRITE), pa: fc.integer({ min: 0x1000, max: 0x3fff }) }),
      fc.record({ kind: fc.constant("unmap" as const), slot: fc.integer({ min: 0, max: 7 }), pages: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant("dma" as const), slot: fc.integer({ min: 0, max: 9 }), off: fc.integer({ min: 0, max: 4095 }), write: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 40, size: "max" }), fc.constantFrom<1 | 2>(1, 2), fc.constantFrom(12, 14, 16), (ops, stage, pageShift) => {
        // The host kernel's PAGE_SIZE is io-pgtable-arm's granule: slots are pages of that size.
        const P = 2 ** pageShift;
        const { model, driver } = bootedSmmu({ oas: 44 }, { stage, pageShift });
        driver.addMaster(0x100, "0000:01:00.0");
        const d = driver.allocDomain();
        driver.attach(d, [0x100]);
        const IOVA = 0x7fff0000;
        const oracle = new Map<number, { pa: number; prot: number }>();
        for (const o of ops) {
          if (o.kind === "map") {
            const pages = Array.from({ length: o.pages }, (_, i) => o.slot + i);
            if (pages.some((p) => oracle.has(p))) continue; // io-pgtable refuses to map over a mapping
            driver.map(d, IOVA + o.slot * P, o.pa * P, o.pages * P, o.prot);
            pages.forEach((p, i) => oracle.set(p, { pa: (o.pa + i) * P, prot: o.prot }));
          } else if (o.kind === "unmap") {
            driver.unmap(d, IOVA + o.slot * P, o.pages * P);
            for (let i = 0; i < o.pages; i++) oracle.delete(o.slot + i);
          } else {
            const v = model.translate({ sid: 0x100, iova: BigInt(IOVA + o.slot * P + o.off * (P / 4096)), write: o.write });
            const m = oracle.get(o.slot);
            // Stage 1 cannot say write-only: io-pgtable gives IOMMU_WRITE alone AP = 0b01 (read/write).
            const allowed = m !== undefined && (o.write ? (m.prot & IOMMU_WRITE) !== 0 : (m.prot & IOMMU_READ) !== 0 || stage === 1);
            if (m === undefined) expect(v.reason).toBe(0x10);
            else if (!allowed) expect(v.reason).toBe(0x13);
            else expect(v).toMatchObject({ kind: "translated", hpa: BigInt(m.pa + o.off * (P / 4096)) });
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
