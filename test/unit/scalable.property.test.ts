// The scalable-mode translation (root -> context -> PASID directory -> PASID entry -> first-level,
// second-level or nested walk) against a small reference written from the VT-d rules, BigInt
// entries read from the same memory: random bound PASIDs of every PGTT, random corruption of any
// entry on the path (PASID entries, directory entries, FL and SL entries), random requests with
// and without PASID, user and supervisor. Both the side-effect-free probe and the DMA path (the
// WebAssembly core for second-level PASIDs, the IOTLB for all) must give the reference's answer.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bootedUnit, split } from "./helpers.js";
import { PGTT_FL, PGTT_NESTED, PGTT_PT, PGTT_SL } from "../../src/sim/vtd/scalable.js";
import type { DmarUnit } from "../../src/sim/vtd/unit.js";
import type { PhysicalMemory } from "../../src/sim/memory.js";

const M64 = (1n << 64n) - 1n;
const SID = 0x0100; // 01:00.0

type Ref = { ok: true; hpa: bigint } | { ok: false; reason: number };
const fault = (reason: number): Ref => ({ ok: false, reason });

interface Caps {
  haw: number;
  sagaw: number[];
  fl: boolean;
  sl: boolean;
  nest: boolean;
  pt: boolean;
}

/** The reference: the VT-d scalable-mode rules written out plainly (see docs/scalable-mode.md). */
function reference(mem: PhysicalMemory, rootTable: bigint, caps: Caps, sid: number, reqPasid: number | undefined, priv0: boolean, iova: bigint, write: boolean): Ref {
  // A write without PASID to 0xFEExxxxx is an interrupt request, not DMA (VT-d 3.14).
  if (reqPasid === undefined && write && iova >> 20n === 0xfeen) return { ok: true, hpa: iova };
  const rd = (a: bigint) => mem.readU64(Number(a));
  const hawMask = (1n << BigInt(caps.haw)) - 1n;
  const above = ~hawMask & M64;
  const bus = BigInt(sid >> 8);
  const devfn = sid & 0xff;
  const lo = rd(rootTable + bus * 16n);
  const hi = rd(rootTable + bus * 16n + 8n);
  if (lo === undefined || hi === undefined) return fault(0x38);
  const half = devfn >= 0x80 ? hi : lo;
  if ((half & 1n) === 0n) return fault(0x39);
  if ((lo & (0xffen | above)) !== 0n || (hi & (0xffen | above)) !== 0n) return fault(0x3a);
  const ceAt = (half & ~0xfffn) + BigInt(devfn & 0x7f) * 32n;
  const ce = [0, 1, 2, 3].map((i) => rd(ceAt + BigInt(8 * i)));
  if (ce.some((v) => v === undefined)) return fault(0x40);
  const [c0, c1, c2, c3] = ce as bigint[];
  if ((c0! & 1n) === 0n) return fault(0x41);
  if ((c0! & (0x1e0n | (above & ~0xfffn))) !== 0n || (c1! & ~0x1fffffn & M64) !== 0n || c2 !== 0n || c3 !== 0n) return fault(0x42);
  const pasid = reqPasid ?? Number(c1! & 0xfffffn);
  const priv = reqPasid !== undefined ? priv0 : ((c1! >> 20n) & 1n) === 1n;
  if (reqPasid !== undefined && (c0! & 8n) === 0n) return fault(0x45);
  const pdts = Number((c0! >> 9n) & 7n);
  // VT-d §7.1.3 Table 26: SCT.7 for a request's PASID, SCT.4 (invalid context entry) for RID_PASID.
  if (pasid >> 6 >= 1 << (pdts + 7)) return fault(reqPasid !== undefined ? 0x46 : 0x43);
  const de = rd((c0! & ~0xfffn & hawMask) + BigInt(pasid >> 6) * 8n);
  if (de === undefined) return fault(0x50);
  if ((de & 1n) === 0n) return fault(0x51);
  if ((de & (0xffcn | above)) !== 0n) return fault(0x52);
  const peAt = (de & ~0xfffn) + BigInt(pasid & 63) * 64n;
  const pe = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => rd(peAt + BigInt(8 * i)));
  if (pe.some((v) => v === undefined)) return fault(0x58);
  const p = pe as bigint[];
  if ((p[0]! & 1n) === 0n) return fault(0x59);
  const a = above & ~0xfffn;
  if ((p[0]! & (0xc00n | a)) !== 0n || (p[1]! & 0x7f0000n) !== 0n || (p[2]! & (0xf00n | a)) !== 0n || p.slice(3).some((v) => v !== 0n)) return fault(0x5a);
  const pgtt = Number((p[0]! >> 6n) & 7n);
  const aw = Number((p[0]! >> 2n) & 7n);
  const flpm = Number((p[2]! >> 2n) & 3n);
  const slOk = aw >= 1 && aw <= 3 && caps.sagaw.includes(30 + 9 * aw);
  const flOk = flpm === 0 || (flpm === 1 && caps.haw >= 57);
  const valid = pgtt === PGTT_FL ? caps.fl && flOk : pgtt === PGTT_SL ? caps.sl && slOk : pgtt === PGTT_NESTED ? caps.nest && slOk && flOk : pgtt === PGTT_PT ? caps.pt : false;
  if (!valid) return fault(0x5b);
  const sre = (p[2]! & 1n) === 1n;
  const wpe = (p[2]! & 0x10n) !== 0n;
  const nxe = (p[2]! & 0x20n) !== 0n;
  if (priv && !sre && pgtt !== PGTT_PT) return fault(0x5d);
  if (pgtt === PGTT_PT) return iova & above ? fault(0x83) : { ok: true, hpa: iova }; // SGN.4
  const slRoot = p[0]! & ~0xfffn & hawMask;
  const slLevels = 2 + aw;
  const slWidth = Math.min(30 + 9 * aw, caps.haw);
  // Second-level walk in the hardware's order (Table 26): R = W = 0 in an entry or accumulated
  // (SSS.2) and reserved bits (SSS.3) per entry, the needed bit of the accumulated R/W at the leaf
  // (SGN.6 / SGN.7); PS where SLLPS (2M, 1G here). `legacy`: QEMU's order (the nested table reads,
  // where any failure is one code).
  const slWalk = (addr: bigint, w: boolean, legacy = false): { hpa: bigint; size: bigint; perm: bigint } | { reason: number } => {
    if (addr >> BigInt(slWidth) !== 0n) return { reason: 0x84 };
    let t = slRoot;
    let perm = 3n;
    for (let level = slLevels; level >= 1; level--) {
      const e = rd(t + ((addr >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n);
      if (e === undefined) return { reason: level === slLevels ? 0x7b : 0x78 };
      perm &= e;
      if (legacy ? (e & (w ? 2n : 1n)) === 0n : (perm & 3n) === 0n) return { reason: 0x79 };
      const large = (level === 2 || level === 3) && (e & 0x80n) !== 0n;
      const leaf = level === 1 || large;
      let rsvd = 0x800n | (level >= 4 ? 0x80n : 0n) | (above & ~0xbff0000000000000n);
      if (large) rsvd |= level === 2 ? 0x1ff000n : 0x3ffff000n;
      if ((e & rsvd) !== 0n) return { reason: 0x7a };
      if (leaf) {
        if ((perm & (w ? 2n : 1n)) === 0n) return { reason: w ? 0x85 : 0x86 };
        const size = 1n << BigInt(12 + 9 * (level - 1));
        return { hpa: (e & hawMask & ~(size - 1n)) | (addr & (size - 1n)), size, perm: perm & 3n };
      }
      t = e & hawMask & ~0xfffn;
    }
    throw new Error("unreachable");
  };
  let out: bigint;
  if (pgtt === PGTT_SL) {
    const r = slWalk(iova, write);
    if ("reason" in r) return fault(r.reason);
    out = r.hpa;
  } else {
    const flLevels = 4 + flpm;
    const width = flLevels === 5 ? 57 : 48;
    const top = iova >> BigInt(width - 1);
    if (top !== 0n && top !== (1n << BigInt(64 - width + 1)) - 1n) return fault(0x80);
    let t = p[2]! & ~0xfffn & hawMask;
    for (let level = flLevels; level >= 1; level--) {
      let at = t + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n;
      if (pgtt === PGTT_NESTED) {
        if (at >> BigInt(slWidth) !== 0n) return fault(0x74);
        const r = slWalk(at, false, true);
        if ("reason" in r) return fault(level === flLevels ? 0x75 : 0x76);
        at = r.hpa;
      }
      const e = rd(at);
      if (e === undefined) return fault(level === flLevels ? 0x73 : 0x70);
      if ((e & 1n) === 0n) return fault(0x71);
      if (!priv && (e & 4n) === 0n) return fault(0x81);
      if (write && (e & 2n) === 0n && (!priv || wpe)) return fault(0x85);
      const large = (level === 2 || level === 3) && (e & 0x80n) !== 0n;
      let rsvd = (level >= 4 ? 0x80n : 0n) | (((1n << 52n) - 1n) & above) | (nxe ? 0n : 1n << 63n);
      if (large) rsvd |= level === 2 ? 0x1fe000n : 0x3fffe000n;
      if ((e & rsvd) !== 0n) return fault(0x72);
      if (level === 1 || large) {
        const size = 1n << BigInt(12 + 9 * (level - 1));
        out = (e & hawMask & ~(size - 1n)) | (iova & (size - 1n));
        if (pgtt === PGTT_NESTED) {
          const r = slWalk(out, write);
          if ("reason" in r) return fault(r.reason);
          out = r.hpa;
        }
        break;
      }
      t = e & hawMask & ~0xfffn;
    }
  }
  const page = out! & ~0xfffn;
  if (page <= 0xfeefffffn && page + 0xfffn >= 0xfee00000n) return fault(0x87);
  return { ok: true, hpa: out! };
}

/** Builds one PASID of each kind on 01:00.0 through the driver: the tables are the driver's bytes. */
function setup(haw: 48 | 57) {
  const { mem, unit, driver } = bootedUnit({ scalable: true, addressWidth: haw, sagaw: haw === 57 ? [39, 48, 57] : [39, 48], superpages: { "2M": true, "1G": true } });
  const dom = driver.allocDomain(); // first-level (ECAP.FLTS): the RID_PASID domain
  driver.attach(dom, [SID]);
  driver.map(dom, 0x10000000n, 0x2_0000_0000n, 0x400000n, 3); // 4 MiB: a 2 MiB leaf pair
  driver.map(dom, 0x20000000n, 0x2_4000_0000n, 0x4000n, 1); // read-only
  // PASID 1: second level.
  const sl = driver.allocDomain(false, true);
  driver.map(sl, 0x7000_0000n, 0x3_0000_0000n, 0x8000n, 3);
  driver.setPasidEntry(SID, 1, PGTT_SL, sl.did, sl.pgd, 0, 4, {});
  // PASID 2: first level (SVA) with a read-only and a supervisor page; SRE set.
  const levels = haw >= 57 ? 5 : 4;
  const fl = driver.allocPage();
  const put = (va: bigint, v: bigint) => mem.writeU64(driver.entryAddressIn(fl, levels, true, va, 1, true)!, v);
  put(0x7f00_0000_0000n, 0x3_1000_0000n | 0x67n); // P RW US A D
  put(0x7f00_0000_1000n, 0x3_1000_1000n | 0x25n); // P US A: read-only
  put(0x7f00_0000_2000n, 0x3_1000_2000n | 0x63n); // P RW A D: supervisor only
  driver.setPasidEntry(SID, 2, PGTT_FL, driver.allocDid(), 0, fl, levels, { sre: true });
  // PASID 3: nested over a parent that maps the pool identity and GPA 0x8000_0000 to HPA 0x3_2000_0000.
  const parent = driver.allocDomain(false, true);
  driver.map(parent, 0x10000000n, 0x10000000n, 0x1000000n, 3);
  driver.map(parent, 0x8000_0000n, 0x3_2000_0000n, 0x4000n, 3);
  const g = driver.allocPage();
  for (let i = 0; i < 4; i++) mem.writeU64(driver.entryAddressIn(g, levels, true, 0x5000_0000n + BigInt(i) * 0x1000n, 1, true)!, (0x8000_0000n + BigInt(i) * 0x1000n) | 0x67n);
  driver.setPasidEntry(SID, 3, PGTT_NESTED, driver.allocDid(), parent.pgd, g, levels, {});
  // PASID 4: pass-through.
  driver.setPasidEntry(SID, 4, PGTT_PT, driver.allocDid(), 0, 0, 4, {});
  unit.iotlb.invalidateAll();
  return { mem, unit, driver, caps: { haw, sagaw: haw === 57 ? [39, 48, 57] : [39, 48], fl: true, sl: true, nest: true, pt: true } as Caps };
}

/** Every table entry of the PASID paths (for corruption): the addresses of their qwords. */
function pathEntries(unit: DmarUnit, mem: PhysicalMemory): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  const visit = (table: number, levels: number, depth: number) => {
    if (depth > 5 || seen.has(table) || !mem.inPool(table)) return;
    seen.add(table);
    for (let i = 0; i < 512; i++) {
      const v = mem.readU64(table + i * 8) ?? 0n;
      if (v === 0n) continue;
      out.push(table + i * 8);
      if (levels > 1 && (v & 0x80n) === 0n) visit(Number(v & 0xffffffffff000n), levels - 1, depth + 1);
    }
  };
  visit(unit.rootTable, 6, 0);
  return out;
}

const iovaArb = fc.oneof(
  fc.constantFrom(0x10000000n, 0x10001234n, 0x10200000n, 0x20000000n, 0x20001000n, 0x7000_0000n, 0x7000_7000n, 0x7f00_0000_0000n, 0x7f00_0000_1000n, 0x7f00_0000_2000n, 0x5000_0000n, 0x5000_3000n, 0xfee0_0000n, 0xffff_8000_0000_0000n, 0x8000_0000_0000n),
  fc.bigInt({ min: 0n, max: (1n << 57n) - 1n }),
);
const flipArb = fc.tuple(fc.nat(10_000), fc.nat(63));

describe("scalable-mode translation", () => {
  for (const haw of [48, 57] as const) {
    it(`agrees with the reference walker on every PGTT, with random corruption (${haw}-bit)`, () => {
      const seen = new Set<string>();
      fc.assert(
        fc.property(fc.array(flipArb, { maxLength: 3 }), fc.array(fc.tuple(fc.option(fc.nat(6), { nil: undefined }), iovaArb, fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 12 }), (flips, reqs) => {
          const { mem, unit, caps } = setup(haw);
          const entries = pathEntries(unit, mem);
          for (const [i, bit] of flips) {
            const at = entries[i % entries.length]!;
            mem.writeU64(at, (mem.readU64(at)! ^ (1n << BigInt(bit))) & M64);
          }
          for (const [pasid, iova, write, priv] of reqs) {
            const want = reference(mem, BigInt(unit.rootTable), caps, SID, pasid, priv, iova, write);
            const [hi, lo] = split(iova);
            unit.reqPasid = pasid ?? -1;
            unit.reqPriv = pasid !== undefined && priv;
            // The probe, caches bypassed ...
            unit.bypassCaches = true;
            const probe = unit.translate(SID, hi, lo, write, true);
            unit.bypassCaches = false;
            const probeHpa = (BigInt(unit.hpaHi >>> 0) << 32n) | BigInt(unit.hpaLo >>> 0);
            // ... and the DMA path (core, IOTLB fill), twice: the second may hit the IOTLB.
            const dma1 = unit.translate(SID, hi, lo, write);
            const dmaHpa = (BigInt(unit.hpaHi >>> 0) << 32n) | BigInt(unit.hpaLo >>> 0);
            const dma2 = unit.translate(SID, hi, lo, write);
            const dma2Hpa = (BigInt(unit.hpaHi >>> 0) << 32n) | BigInt(unit.hpaLo >>> 0);
            unit.reqPasid = -1;
            unit.reqPriv = false;
            seen.add(want.ok ? `ok ${pasid ?? "-"}` : `0x${want.reason.toString(16)}`);
            const label = `pasid ${pasid} iova 0x${iova.toString(16)} ${write ? "W" : "R"}${priv ? " priv" : ""}`;
            if (want.ok) {
              expect([probe, dma1, dma2], label).toEqual([0, 0, 0]);
              expect([probeHpa, dmaHpa, dma2Hpa], label).toEqual([want.hpa, want.hpa, want.hpa]);
            } else expect([probe, dma1, dma2], label).toEqual([want.reason, want.reason, want.reason]);
          }
        }),
        { numRuns: 60, seed: 4 },
      );
      // The runs reached every kind of translation and the first-level permission faults.
      for (const k of ["ok -", "ok 1", "ok 2", "ok 3", "ok 4", "0x85", "0x81", "0x71", "0x79", "0x59", "0x84"]) expect(seen, k).toContain(k);
    });
  }
});
