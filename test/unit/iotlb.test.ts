// The IOTLB against a reference model: a plain array of entries per set, FIFO victim per set,
// compared after random sequences of lookups, fills (each after a miss, as translate does),
// global, domain and page-selective (with address mask) invalidations. Any geometry, domain ids
// up to 65535, IOVAs up to 2^57 chosen to collide in sets and in the low tag bits.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Iotlb } from "../../src/sim/vtd/iotlb.js";

interface RefEntry {
  did: number;
  level: number;
  key: bigint; // iova >> pageShift
  base: bigint;
  perm: number;
}

const pageShift = (level: number) => BigInt(12 + 9 * (level - 1));

class RefIotlb {
  readonly slots: (RefEntry | null)[][];
  readonly victim: number[];
  constructor(
    readonly sets: number,
    readonly ways: number,
  ) {
    this.slots = Array.from({ length: sets }, () => Array<RefEntry | null>(ways).fill(null));
    this.victim = Array<number>(sets).fill(0);
  }
  lookup(did: number, iova: bigint, write: boolean): { code: number; hpa?: bigint; level?: number; perm?: number } {
    for (let level = 1; level <= 3; level++) {
      const key = iova >> pageShift(level);
      const e = this.slots[Number(key & BigInt(this.sets - 1))]!.find((x) => x !== null && x.did === did && x.level === level && x.key === key);
      if (e) {
        if ((e.perm & (write ? 2 : 1)) === 0) return { code: write ? 0x05 : 0x06, level, perm: e.perm };
        return { code: 0, hpa: e.base | (iova & ((1n << pageShift(level)) - 1n)), level, perm: e.perm };
      }
    }
    return { code: -1 };
  }
  fill(did: number, iova: bigint, level: number, hpa: bigint, perm: number): void {
    const key = iova >> pageShift(level);
    const set = Number(key & BigInt(this.sets - 1));
    const w = this.victim[set]!;
    this.victim[set] = (w + 1) % this.ways;
    this.slots[set]![w] = { did, level, key, base: hpa & ~((1n << pageShift(level)) - 1n), perm };
  }
  invalidateAll(): void {
    for (const s of this.slots) s.fill(null);
    this.victim.fill(0);
  }
  drop(pred: (e: RefEntry) => boolean): number {
    let n = 0;
    for (const s of this.slots) {
      for (let w = 0; w < s.length; w++) {
        if (s[w] !== null && pred(s[w]!)) {
          s[w] = null;
          n++;
        }
      }
    }
    return n;
  }
  entries() {
    const out: { did: number; iova: bigint; hpa: bigint; level: number; perm: number; set: number; way: number }[] = [];
    this.slots.forEach((s, set) =>
      s.forEach((e, way) => {
        if (e !== null) out.push({ did: e.did, iova: e.key << pageShift(e.level), hpa: e.base, level: e.level, perm: e.perm, set, way });
      }),
    );
    return out;
  }
}

function lookupReal(t: Iotlb, did: number, iova: bigint, write: boolean) {
  const code = t.lookup(did, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
  if (code < 0) return { code: -1 };
  if (code !== 0) return { code, level: t.level, perm: t.perm };
  return { code, hpa: (BigInt(t.hpaHi >>> 0) << 32n) | BigInt(t.hpaLo >>> 0), level: t.level, perm: t.perm };
}

// IOVAs from a few bases that share low bits (same sets, same low 30 tag bits) but differ above.
const BASES = [0n, 0x4000_0000n, 0x40_0000_0000n, 1n << 50n, (1n << 56n) | 0x1234_5000n, 0x1ff_ffff_ffff_f000n & ~((1n << 30n) - 1n)];
// Few distinct pages, so that lookups revisit filled entries; sets 1..4 make full sets common.
const iovaArb = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...BASES), fc.nat(5), fc.constantFrom(12n, 12n, 20n, 21n, 30n), fc.nat(4095)).map(([b, k, sh, o]) => (b + (BigInt(k) << sh) + BigInt(o)) & ((1n << 57n) - 1n)) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 57n) - 1n }) },
);
const opArb = fc.oneof(
  { weight: 12, arbitrary: fc.record({ op: fc.constant("access" as const), did: fc.constantFrom(1, 1, 7, 65535), iova: iovaArb, write: fc.boolean(), level: fc.constantFrom(1, 1, 2, 3), hpa: fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }), perm: fc.constantFrom(1, 2, 3) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("all" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("domain" as const), did: fc.constantFrom(0, 1, 7, 65535) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("pages" as const), did: fc.constantFrom(0, 1, 7, 65535), addr: iovaArb, am: fc.constantFrom(0, 0, 1, 9, 18, 30) }) },
);

describe("Iotlb against a reference model", () => {
  it("agrees on random lookups, fills, and global / domain / page-selective invalidations", () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 256), fc.constantFrom(1, 2, 3, 4, 8), fc.array(opArb, { minLength: 1, maxLength: 120 }), (sets, ways, ops) => {
        const real = new Iotlb(sets, ways);
        const ref = new RefIotlb(sets, ways);
        for (const o of ops) {
          if (o.op === "access") {
            // What translate does: a lookup, and on a miss a fill (here with a random leaf level and result).
            const expected = ref.lookup(o.did, o.iova, o.write);
            expect(lookupReal(real, o.did, o.iova, o.write), `lookup did ${o.did} iova 0x${o.iova.toString(16)}`).toEqual(expected);
            if (expected.code === -1) {
              ref.fill(o.did, o.iova, o.level, o.hpa, o.perm);
              real.fill(o.did, Number(o.iova >> 32n), Number(o.iova & 0xffffffffn), o.level, Number(o.hpa >> 32n), Number(o.hpa & 0xffffffffn), o.perm);
            }
          } else if (o.op === "all") {
            ref.invalidateAll();
            real.invalidateAll();
          } else if (o.op === "domain") {
            expect(real.invalidateDomain(o.did)).toBe(ref.drop((e) => e.did === o.did));
          } else {
            const span = 1n << BigInt(12 + o.am);
            const start = o.addr & ~(span - 1n);
            const dropped = ref.drop((e) => e.did === o.did && e.key << pageShift(e.level) < start + span && (e.key + 1n) << pageShift(e.level) > start);
            expect(real.invalidatePages(o.did, o.addr, o.am)).toBe(dropped);
          }
          expect(real.entries()).toEqual(ref.entries());
        }
      }),
      { numRuns: 400 },
    );
  });

  it("a hit that lacks the permission faults (0x05 write, 0x06 read) without touching the entry", () => {
    const t = new Iotlb(256, 4);
    t.fill(3, 0, 0x1234_5000, 1, 0, 0x9999_9000, 1); // read-only 4 KiB page
    expect(t.lookup(3, 0, 0x1234_5abc, true)).toBe(0x05);
    expect(t.lookup(3, 0, 0x1234_5abc, false)).toBe(0);
    expect(t.hpaLo >>> 0).toBe(0x9999_9abc);
    t.fill(3, 0, 0x4000_0000, 3, 0x51, 0x8000_0000, 2); // write-only 1 GiB page
    expect(t.lookup(3, 0, 0x7fff_ffff, false)).toBe(0x06);
    expect(t.lookup(3, 0, 0x7fff_ffff, true)).toBe(0);
    expect([t.level, t.hpaHi >>> 0, t.hpaLo >>> 0]).toEqual([3, 0x51, 0xbfff_ffff]);
    expect(t.lookup(4, 0, 0x7fff_ffff, true)).toBe(-1); // another domain
  });

  it("replaces FIFO within a set: the fifth page of a 4-way set evicts the first", () => {
    const t = new Iotlb(256, 4);
    const page = (k: number) => (k * 256 + 5) * 4096; // all in set 5
    for (let k = 0; k < 5; k++) {
      expect(t.lookup(1, 0, page(k), false)).toBe(-1);
      t.fill(1, 0, page(k), 1, 0, 0x1000 * (k + 1), 3);
    }
    expect(t.lookup(1, 0, page(0), false)).toBe(-1);
    for (let k = 1; k < 5; k++) expect(t.lookup(1, 0, page(k), false)).toBe(0);
    expect(t.entries().map((e) => e.way)).toEqual([0, 1, 2, 3]);
    expect(t.entries()[0]!.iova).toBe(BigInt(page(4)));
  });

  it("keeps IOVAs that differ only above bit 50 apart (57-bit tags)", () => {
    const t = new Iotlb(256, 4);
    const hiA = 0x0100_0000; // bit 56
    t.fill(1, 0, 0x5000, 1, 0, 0xa000, 3);
    expect(t.lookup(1, hiA, 0x5000, false)).toBe(-1);
    t.fill(1, hiA, 0x5000, 1, 0, 0xb000, 3);
    expect(t.lookup(1, 0, 0x5123, false)).toBe(0);
    expect(t.hpaLo).toBe(0xa123);
    expect(t.lookup(1, hiA, 0x5123, false)).toBe(0);
    expect(t.hpaLo).toBe(0xb123);
  });
});
