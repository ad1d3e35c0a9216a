// The hot walker against a small, obviously correct reference: BigInt entries in a Map, the
// VT-d rules written out plainly (QEMU's order: permission, then reserved bits, then leaf), on
// random tables with random bits, random requests, 3/4/5 levels, with and without superpage
// support and device-TLB, IOVAs up to 2^57.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { SlptWalker, type SlptFormat } from "../../src/sim/vtd/slpt.js";

const BASE = 0x10000000n;
const M64 = (1n << 64n) - 1n;

type Ref = { ok: true; hpa: bigint; level: number; perm: number } | { ok: false; reason: number; level: number };

function reference(mem: Map<bigint, bigint>, poolEnd: bigint, fmt: SlptFormat, root: bigint, levels: number, iova: bigint, write: boolean): Ref {
  const haw = BigInt(fmt.haw);
  const addrMask = ((1n << haw) - 1n) & ~0xfffn;
  const ignored = 0xbff0000000000000n; // bits 63, 61:52
  const above = ~((1n << haw) - 1n) & ~ignored & M64; // reserved: above HAW, except ignored bits
  const tm = 1n << 62n;
  let t = root;
  let perm = 3n;
  for (let level = levels; level >= 1; level--) {
    const addr = t + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n;
    if (addr < BASE || addr >= poolEnd) return { ok: false, reason: level === levels ? 0x03 : 0x07, level };
    const e = mem.get(addr) ?? 0n;
    perm &= e;
    if ((e & (write ? 2n : 1n)) === 0n) return { ok: false, reason: write ? 0x05 : 0x06, level };
    const psSupported = (level === 2 && fmt.superpage2M) || (level === 3 && fmt.superpage1G);
    const large = psSupported && (e & 0x80n) !== 0n;
    const leaf = level === 1 || large;
    let rsvd = fmt.snoopControl ? 0n : 0x800n;
    if (level >= 2 && !large) rsvd |= psSupported ? 0n : 0x80n; // PS reserved where no superpage exists
    if (large) rsvd |= level === 2 ? 0x1ff000n : 0x3ffff000n;
    rsvd |= leaf && fmt.deviceTlb ? above & ~tm : above;
    if ((e & rsvd) !== 0n) return { ok: false, reason: 0x0c, level };
    if (leaf) {
      const size = 1n << BigInt(12 + 9 * (level - 1));
      return { ok: true, hpa: ((e & addrMask) & ~(size - 1n)) | (iova & (size - 1n)), level, perm: Number(perm & 3n) };
    }
    t = e & addrMask;
  }
  throw new Error("unreachable");
}

const entryBits = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0n, 1n, 2n, 3n, 3n, 3n) },
  { weight: 2, arbitrary: fc.constantFrom(0x83n, 0x81n, 0x803n, 0x4000_0000_0000_0003n, 0x8000_0000_0000_0003n, 0x0010_0000_0000_0003n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: M64 }) },
);

describe("SlptWalker", () => {
  it("agrees with the reference walker on random tables and requests", () => {
    const fmtArb = fc.record({
      haw: fc.constantFrom(39, 48, 57),
      deviceTlb: fc.boolean(),
      snoopControl: fc.constant(false),
      superpage2M: fc.boolean(),
      superpage1G: fc.boolean(),
    });
    fc.assert(
      fc.property(fmtArb, fc.array(fc.tuple(fc.nat(7), entryBits, fc.nat(7)), { minLength: 1, maxLength: 40 }), fc.array(fc.tuple(fc.bigInt({ min: 0n, max: (1n << 57n) - 1n }), fc.boolean(), fc.nat(7)), { minLength: 1, maxLength: 20 }), (fmt, writes, reqs) => {
        const levels = fmt.haw === 39 ? 3 : fmt.haw === 48 ? 4 : 5;
        const mem = new PhysicalMemory({ poolBase: Number(BASE), poolMaxPages: 64, dramBytes: 0 });
        for (let i = 0; i < 8; i++) mem.allocPage();
        const poolEnd = BASE + 8n * 4096n;
        const ref = new Map<bigint, bigint>();
        // Each table page links to others in the pool: entries point at page (target) with random flag bits.
        const reqIovas = reqs.map(([iova]) => iova);
        writes.forEach(([page, bits, target], n) => {
          const iova = reqIovas[n % reqIovas.length]!;
          const level = levels - (n % levels);
          const addr = BASE + BigInt(page) * 4096n + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n;
          const pointsAt = target === 7 ? 0x7fff_ffff_f000n : BASE + BigInt(target) * 4096n;
          const value = bits > 0xfffn || bits === 0x83n || bits === 0x81n ? bits | (bits > 0xfffn ? 0n : pointsAt) : pointsAt | bits;
          ref.set(addr, value & M64);
          mem.writeU64(Number(addr), value & M64);
        });
        const w = new SlptWalker(mem, fmt);
        for (const [iova0, write, off] of reqs) {
          const iova = iova0 & ((1n << BigInt(fmt.haw)) - 1n) & ~0xfffn | BigInt(off * 0x1ff);
          const expected = reference(ref, poolEnd, fmt, BASE, levels, iova, write);
          const r = w.walk(Number(BASE), levels, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
          if (expected.ok) {
            expect(r, `iova 0x${iova.toString(16)}`).toBe(0);
            expect((BigInt(w.hpaHi >>> 0) << 32n) | BigInt(w.hpaLo >>> 0)).toBe(expected.hpa);
            expect(w.level).toBe(expected.level);
            expect(w.perm).toBe(expected.perm);
          } else {
            expect(r, `iova 0x${iova.toString(16)}`).toBe(expected.reason);
            expect(w.level).toBe(expected.level);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
