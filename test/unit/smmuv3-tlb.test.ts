// The SMMUv3 TLB (SmmuTlb), whose layout and lookup/fill are the translate core's
// (translate-core.template.mjs LAYOUT.armTlb, armTlbLookup / armTlbFill), against a plain model
// of its rule written here (the arrays SmmuTlb kept before: one field per array): random fills of
// every kind (stage 1, stage 2, nested), VMIDs and ASIDs of 16 bits, every size from a 4 KiB page
// to a 64 KiB granule's level-1 block (2^42), inputs and outputs up to 52 bits, permissions R/W/X
// and levels 0-3, drops, snapshots; lookups of filled inputs, their neighbours and inputs beyond
// 52 bits: the same hit (way, size), the same fields read back, the same entries.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { SmmuTlb } from "../../src/sim/smmuv3/unit.js";

/** The rule, in the obvious form: sets x ways, round robin per set, the filled sizes smallest first. */
class ModelTlb {
  readonly e: { valid: boolean; kind: number; vmid: number; asid: number; shift: number; vpn: number; oa: number; perm: number; level: number; ipa: number }[];
  readonly next: number[];
  shifts = 0;
  constructor(
    readonly sets: number,
    readonly ways: number,
  ) {
    this.e = Array.from({ length: sets * ways }, () => ({ valid: false, kind: 0, vmid: 0, asid: 0, shift: 0, vpn: 0, oa: 0, perm: 0, level: 0, ipa: 0 }));
    this.next = new Array<number>(sets).fill(0);
  }
  lookup(kind: number, vmid: number, asid: number, ia: number): number {
    for (let shift = 12; shift <= 42; shift++) {
      if ((this.shifts & (1 << (shift - 12))) === 0) continue;
      const vpn = Math.floor(ia / 2 ** shift);
      const set = vpn % this.sets;
      for (let w = 0; w < this.ways; w++) {
        const x = this.e[set * this.ways + w]!;
        if (x.valid && x.shift === shift && x.vpn === vpn && x.kind === kind && x.vmid === vmid && (kind === 2 || x.asid === asid)) return set * this.ways + w;
      }
    }
    return -1;
  }
  fill(kind: number, vmid: number, asid: number, ia: number, shift: number, oa: number, perm: number, level: number, ipa: number): void {
    const vpn = Math.floor(ia / 2 ** shift);
    const set = vpn % this.sets;
    const i = set * this.ways + this.next[set]!;
    this.next[set] = (this.next[set]! + 1) % this.ways;
    this.shifts |= 1 << (shift - 12);
    this.e[i] = { valid: true, kind, vmid, asid, shift, vpn, oa, perm, level, ipa };
  }
}

const SHIFTS = [12, 14, 16, 21, 25, 29, 30, 36, 39, 42];
const fields = (t: SmmuTlb, i: number) => ({ kind: t.kind(i), vmid: t.vmid(i), asid: t.asid(i), shift: t.shift(i), vpn: t.vpn(i), oa: t.oa(i), perm: t.perm(i), level: t.level(i), ipa: t.ipa(i) });

describe("SMMUv3 TLB (the translate core's layout and rule)", () => {
  it("keeps, finds and reads back what the plain model does", () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom([1, 1], [4, 1], [16, 2], [64, 4], [8, 16]), fc.boolean(), (seed, [sets, ways], own) => {
        let x = seed >>> 0 || 1;
        const r = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x / 2 ** 32);
        const int = (n: number) => Math.floor(r() * n);
        // In a machine's memory (its SRAM arena) or in the TLB's own.
        const mem = own ? undefined : new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 4, dramBytes: 0, sramBytes: SmmuTlb.arenaBytes(sets, ways) + 4096 });
        if (mem !== undefined) mem.allocSram(100, 4); // not at the arena's start
        const t = new SmmuTlb(sets, ways, mem);
        const m = new ModelTlb(sets, ways);
        const filled: number[] = [];
        const ids = () => {
          const kind = 1 + int(3);
          return { kind, vmid: int(4) === 0 ? 0xffff : int(3), asid: kind === 2 ? 0 : int(4) === 0 ? 0xffff : int(3) };
        };
        for (let op = 0; op < 200; op++) {
          const what = r();
          if (what < 0.4) {
            const { kind, vmid, asid } = ids();
            const shift = SHIFTS[int(SHIFTS.length)]!;
            const ia = int(4) === 0 ? 2 ** 52 - 1 - int(2 ** 20) * 4096 : int(2 ** 40) * 4096 + int(4096);
            const oa = Math.floor((int(4) === 0 ? 2 ** 52 - 1 : int(2 ** 44) * 4096) / 2 ** shift) * 2 ** shift;
            const ipa = kind === 3 ? Math.floor(int(2 ** 40) * 4096 / 2 ** shift) * 2 ** shift : 0;
            const perm = int(8);
            const level = int(4);
            t.fill(kind, vmid, asid, ia, shift, oa, perm, level, ipa);
            m.fill(kind, vmid, asid, ia, shift, oa, perm, level, ipa);
            filled.push(ia);
          } else if (what < 0.9) {
            const { kind, vmid, asid } = ids();
            const base = filled.length > 0 && r() < 0.8 ? filled[int(filled.length)]! : int(2 ** 40) * 4096;
            // Near a filled input (the same page, or a neighbour), or beyond every tag (2^52 and up).
            const ia = int(8) === 0 ? base + 2 ** (52 + int(11)) : Math.max(0, base - 2 ** 20 + int(2 ** 21));
            const want = m.lookup(kind, vmid, asid, ia);
            const got = t.lookup(kind, vmid, asid, ia) ? t.hitSlot : -1;
            expect(got).toBe(want);
            if (got >= 0) {
              expect(t.hitShift).toBe(m.e[got]!.shift);
              const { valid: _v, ...f } = m.e[got]!;
              expect(fields(t, got)).toEqual(f);
            }
          } else if (what < 0.95) {
            // CMD_TLBI_NH_ASID-like: drop the entries of one VMID / ASID.
            const { vmid, asid } = ids();
            const n = t.drop((i) => t.kind(i) !== 2 && t.vmid(i) === vmid && t.asid(i) === asid);
            let k = 0;
            for (const e of m.e) {
              if (e.valid && e.kind !== 2 && e.vmid === vmid && e.asid === asid) {
                e.valid = false;
                k++;
              }
            }
            expect(n).toBe(k);
          } else {
            const s = t.snapshot();
            t.fill(1, 0, 0, 0, 12, 0, 1, 3, 0);
            t.restore(s);
          }
        }
        expect(t.entries()).toEqual(m.e.flatMap((e, i) => (e.valid ? [i] : [])));
        for (const i of t.entries()) {
          const { valid: _v, ...f } = m.e[i]!;
          expect(fields(t, i)).toEqual(f);
        }
        expect(t.shifts).toBe(m.shifts);
      }),
      { numRuns: 200 },
    );
  });
});
