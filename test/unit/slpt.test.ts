// The second-level walker (and the translate step around it) against a small, obviously correct
// reference: 64-bit entries as BigInt in a Map keyed by address, the VT-d rules of
// ../shared/bench/SPEC.md section 6 written out plainly in QEMU's order (read, permission AND,
// permission fault, reserved bits, leaf), for haw 39/48/57, 2/3/4/5 levels (each an unrolled walk of the core), superpages on/off,
// device-TLB on/off, snoop control on/off. Tables live in the pool, in sparse DRAM, or nowhere
// (pointers outside memory), so both the unrolled in-pool path and the general walk are covered.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { Iotlb } from "../../src/sim/vtd/iotlb.js";
import { SlptWalker, type SlptFormat } from "../../src/sim/vtd/slpt.js";
import { DmaBurst, SecondLevelTranslator } from "../../src/sim/vtd/translate.js";
import { CORE_INFO, CORE_INTERRUPT_WINDOW } from "../../src/sim/vtd/translateCoreLayout.js";

const POOL = 0x10000000n;
const POOL_PAGES = 8;
const DRAM = 0x40000n; // DRAM below 256 KiB: sparse pages read as zero unless written
const M64 = (1n << 64n) - 1n;

type Outcome = { code: number; level: number; hpa?: bigint; perm?: number };

/** The reference: reads through `read` (undefined = read error), nothing cached, nothing clever. */
function refWalk(read: (a: bigint) => bigint | undefined, fmt: SlptFormat, root: bigint, levels: number, iova: bigint, write: boolean): Outcome {
  const haw = BigInt(fmt.haw);
  const addrMask = ((1n << haw) - 1n) & ~0xfffn;
  const ignored = (1n << 63n) | (((1n << 10n) - 1n) << 52n); // bits 63 and 61:52
  const aboveHaw = ~((1n << haw) - 1n) & ~ignored & M64;
  const tm = 1n << 62n;
  let t = root;
  let perm = 3n;
  for (let level = levels; level >= 1; level--) {
    const e = read(t + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n);
    if (e === undefined) return { code: level === levels ? 0x03 : 0x07, level };
    perm &= e;
    if ((e & (write ? 2n : 1n)) === 0n) return { code: write ? 0x05 : 0x06, level };
    const psAllowed = (level === 2 && fmt.superpage2M) || (level === 3 && fmt.superpage1G);
    const large = psAllowed && (e & 0x80n) !== 0n;
    const leaf = level === 1 || large;
    let rsvd = fmt.snoopControl ? 0n : 0x800n; // SNP
    if (level >= 2 && !psAllowed) rsvd |= 0x80n; // PS where no superpage exists (always at L4/L5)
    if (level === 2 && large) rsvd |= 0x1ff000n; // address bits inside a 2 MiB page
    if (level === 3 && large) rsvd |= 0x3ffff000n; // ... inside a 1 GiB page
    rsvd |= leaf && fmt.deviceTlb ? aboveHaw & ~tm : aboveHaw; // TM only in leaves with device-TLB
    if ((e & rsvd) !== 0n) return { code: 0x0c, level };
    if (leaf) {
      const size = 1n << BigInt(12 + 9 * (level - 1));
      return { code: 0, level, hpa: (e & addrMask & ~(size - 1n)) | (iova & (size - 1n)), perm: Number(perm & 3n) };
    }
    t = e & addrMask;
  }
  throw new Error("unreachable");
}

function refMemory(entries: Map<bigint, bigint>) {
  const poolEnd = POOL + BigInt(POOL_PAGES) * 4096n;
  return (a: bigint): bigint | undefined => ((a >= POOL && a < poolEnd) || a < DRAM ? (entries.get(a) ?? 0n) : undefined);
}

function newMemory(): PhysicalMemory {
  const mem = new PhysicalMemory({ poolBase: Number(POOL), poolMaxPages: 64, dramBytes: Number(DRAM) });
  for (let i = 0; i < POOL_PAGES; i++) mem.allocPage();
  return mem;
}

function walkOutcome(w: SlptWalker, root: bigint, levels: number, iova: bigint, write: boolean): Outcome {
  const code = w.walk(Number(root), levels, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
  if (code !== 0) return { code, level: w.level };
  return { code, level: w.level, hpa: (BigInt(w.hpaHi >>> 0) << 32n) | BigInt(w.hpaLo >>> 0), perm: w.perm };
}

// ---- random tables -----------------------------------------------------------------------------

const fmtArb = fc.record({
  haw: fc.constantFrom(39, 48, 57),
  deviceTlb: fc.boolean(),
  snoopControl: fc.boolean(),
  superpage2M: fc.boolean(),
  superpage1G: fc.boolean(),
});

/** Table pages an entry may point at: the pool pages, two DRAM pages, and addresses outside memory. */
const TARGETS: bigint[] = [
  ...Array.from({ length: POOL_PAGES }, (_, i) => POOL + BigInt(i) * 4096n),
  0x1000n,
  0x3f000n,
  POOL + BigInt(POOL_PAGES) * 4096n, // just past the allocated pool
  0x7ffffffff000n, // SPEC's BAD_PTR
  0x7f00000000n,
];

/** Flag/extra bits of an entry: mostly present, sometimes read-only, not present, PS, SNP, TM, bits above HAW, ignored bits, anything. */
const bitsArb = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(3n, 3n, 3n, 1n, 2n, 0n) },
  { weight: 3, arbitrary: fc.constantFrom(0x83n, 0x81n, 0x82n, 0x80n) },
  { weight: 2, arbitrary: fc.constantFrom(0x803n, 1n << 62n | 3n, 1n << 63n | 3n, 0x3ffn << 52n | 3n, 1n << 40n | 3n, 1n << 50n | 3n, 1n << 56n | 3n, 0x100n | 3n, 0x7cn | 3n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: M64 }) },
);

const iovaArb = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 57n) - 1n }),
  fc.bigInt({ min: 0n, max: (1n << 39n) - 1n }),
  fc.constantFrom(0n, 0x1ffffffffffffffn, 0xfffffffffffn, 0x8000000000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n),
);

/** A scenario: format, levels, root, requests, and path entries written along the requests' walks. */
const scenarioArb = fc.record({
  fmt: fmtArb,
  levels: fc.constantFrom<number>(2, 3, 4, 4, 5),
  root: fc.oneof({ weight: 8, arbitrary: fc.constant(POOL) }, { weight: 1, arbitrary: fc.constantFrom(POOL + 4096n, 0x2000n, 0x7ffffffff000n) }),
  reqs: fc.array(fc.tuple(iovaArb, fc.boolean()), { minLength: 1, maxLength: 12 }),
  // Path entries: [page written when stray, page pointed at, bits, stray]. Two in three are
  // well-formed (pool tables, present, leaves aligned half the time) so that whole walks succeed,
  // superpages included; the rest are anything.
  paths: fc.array(
    fc.oneof(
      { weight: 2, arbitrary: fc.tuple(fc.nat(POOL_PAGES - 1), fc.nat(POOL_PAGES - 1), fc.constantFrom(3n, 3n, 0x83n, 0x83n, 1n), fc.integer({ min: 1, max: 9 })) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(TARGETS.length - 1), fc.nat(TARGETS.length - 1), bitsArb, fc.nat(9)) },
    ),
    { minLength: 5, maxLength: 5 * 12 },
  ),
  noise: fc.array(fc.tuple(fc.nat(TARGETS.length - 1), fc.nat(511), fc.bigInt({ min: 0n, max: M64 })), { maxLength: 8 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Writes the scenario's entries to both memories: along each request's walk, level by level. */
function build(s: Scenario) {
  const mem = newMemory();
  const entries = new Map<bigint, bigint>();
  const read = refMemory(entries);
  const put = (addr: bigint, value: bigint) => {
    if (read(addr) === undefined) return; // not memory: nothing to write
    entries.set(addr, value & M64);
    expect(mem.writeU64(Number(addr), value & M64)).toBe(true);
  };
  let n = 0;
  for (const [iova] of s.reqs) {
    let table = s.root;
    for (let level = s.levels; level >= 1 && n < s.paths.length; level--, n++) {
      const [here, target, bits, stray] = s.paths[n]!;
      // Mostly continue along the current path; sometimes write into another table page.
      const page = stray === 0 ? TARGETS[here]! : table;
      const addr = page + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n;
      // Leaves point at a "host page"; non-leaves at a table page. Half the superpage leaves are
      // aligned to their size (the others have reserved address bits set: 0x0C), so that
      // successful 2 MiB / 1 GiB translations carry IOVA offset bits above 4 KiB.
      const large = (bits & 0x80n) !== 0n;
      const align = large && level > 1 && (stray & 1) === 1 ? (1n << BigInt(12 + 9 * (level - 1))) - 1n : 0xfffn;
      const pointsAt = level === 1 || large ? (iova ^ (BigInt(target) << 33n)) & ~align & ((1n << 52n) - 1n) : TARGETS[target]!;
      put(addr, bits > 0xfffn ? bits | (bits > (1n << 52n) ? 0n : pointsAt) : pointsAt | bits);
      table = TARGETS[target]!;
    }
  }
  for (const [page, index, value] of s.noise) put(TARGETS[page]! + BigInt(index) * 8n, value);
  return { mem, read };
}

describe("SlptWalker against the reference walker", () => {
  it("agrees on random tables and requests (3/4/5 levels, haw 39/48/57, superpages, DT, SC, pool/DRAM/outside pointers)", () => {
    let walks = 0;
    const codes = new Set<number>();
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { mem, read } = build(s);
        const w = new SlptWalker(mem, s.fmt);
        const traced = new SlptWalker(mem, s.fmt);
        traced.recordTrail = true;
        for (const [iova0, write] of s.reqs) {
          const iova = iova0 & ((1n << BigInt(Math.min(57, 12 + 9 * s.levels))) - 1n);
          const expected = refWalk(read, s.fmt, s.root, s.levels, iova, write);
          const label = `iova 0x${iova.toString(16)} ${write ? "W" : "R"} levels ${s.levels} ${JSON.stringify(s.fmt)}`;
          expect(walkOutcome(w, s.root, s.levels, iova, write), label).toEqual(expected);
          // The general loop (taken whenever the trail is recorded) must give the same answer.
          expect(walkOutcome(traced, s.root, s.levels, iova, write), label).toEqual(expected);
          walks++;
          codes.add(expected.code);
        }
      }),
      { numRuns: 1500 },
    );
    // The generator reaches every outcome of the walk.
    expect([...codes].sort((a, b) => a - b)).toEqual([0, 3, 5, 6, 7, 12]);
    expect(walks).toBeGreaterThan(5000);
  });

  it("translate (IOTLB probe, then range check and walk, fill: the WebAssembly core) gives the reference answers with any IOTLB geometry, and its IOTLB is the TypeScript Iotlb's", () => {
    fc.assert(
      fc.property(scenarioArb, fc.constantFrom(1, 2, 4, 16), fc.constantFrom(1, 2, 3, 4), fc.integer({ min: 0, max: 65535 }), fc.nat(27), (s, sets, ways, did, narrow) => {
        const { mem, read } = build(s);
        const full = Math.min(s.fmt.haw, 12 + 9 * s.levels); // as the DMAR unit passes it
        const iotlb = new Iotlb(sets, ways, mem);
        const x = new SecondLevelTranslator(new SlptWalker(mem, s.fmt), iotlb);
        // Each request twice (the second may hit), interleaved with the others; the second round
        // with the address width narrowed (a context entry's AW changed, the IOTLB not flushed).
        const rounds = [full, full - narrow];
        for (const width of rounds) {
          for (const [iova0, write] of s.reqs) {
            const iova = iova0 & ((1n << 57n) - 1n);
            // The TypeScript probe of the same slots (what the core filled) must predict the core's hit.
            const tsHit = iotlb.lookup(did, Number(iova >> 32n), Number(iova & 0xffffffffn), write) >= 0;
            // QEMU vtd_do_iommu_translate: the IOTLB first; a miss walks, range check first.
            // (A hit answers what the walk gave when it was filled: the tables do not change here.)
            const walked = refWalk(read, s.fmt, s.root, s.levels, iova, write);
            const expected: Outcome = tsHit || iova >> BigInt(width) === 0n ? walked : { code: 0x04, level: 0 };
            const code = x.translate(did, Number(s.root), s.levels, width, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
            expect(code, `iova 0x${iova.toString(16)} width ${width}`).toBe(expected.code);
            expect(x.iotlbHit).toBe(tsHit);
            if (code === 0) {
              expect((BigInt(x.hpaHi >>> 0) << 32n) | BigInt(x.hpaLo >>> 0)).toBe(expected.hpa);
              expect(x.level).toBe(expected.level);
              expect(x.perm).toBe(expected.perm);
            }
          }
        }
        // Every request probes the IOTLB: a hit or a miss.
        expect(x.hits + x.misses).toBe(2 * s.reqs.length);
      }),
      { numRuns: 500 },
    );
  });
});

/**
 * Random tables and requests through translateBatch in bursts of `chunkArb` requests (a DmaBurst
 * of `capacity`), the scenario's requests `copies` times over, against translate() one by one.
 */
function burstsMatchTranslate(chunkArb: fc.Arbitrary<number>, capacity: number, copies: number, numRuns: number) {
  fc.assert(
    fc.property(scenarioArb, fc.constantFrom(1, 4, 16), fc.constantFrom(0, 1, 2, 4), fc.integer({ min: 0, max: 65535 }), chunkArb, fc.nat(), fc.nat(27), (s, sets, ways, did, chunk, seed, narrow) => {
      // ways 0: no IOTLB (every request walks; the core's walk-only loop at 4 levels)
      const full = Math.min(s.fmt.haw, 12 + 9 * s.levels);
      // The address width narrowed after the first chunks (the IOTLB keeps what they filled).
      const widthAt = (i: number) => (i < 2 * chunk ? full : full - narrow);
      // Requests repeated (IOTLB hits, including permission faults on hits) and shuffled.
      const reqs = Array.from({ length: copies }, () => s.reqs).flat().map(([iova, write]) => [iova & ((1n << 57n) - 1n), write] as const);
      for (let i = reqs.length - 1; i > 0; i--) {
        const j = (seed + i * 7919) % (i + 1);
        [reqs[i], reqs[j]] = [reqs[j]!, reqs[i]!];
      }
      const one = build(s).mem;
      const many = build(s).mem;
      const xOne = new SecondLevelTranslator(new SlptWalker(one, s.fmt), ways === 0 ? null : new Iotlb(sets, ways, one));
      const tlbMany = ways === 0 ? null : new Iotlb(sets, ways, many);
      const xMany = new SecondLevelTranslator(new SlptWalker(many, s.fmt), tlbMany);
      // Each request's info byte: the level translate() reports and whether the IOTLB answered.
      const expectedInfo: number[] = [];
      const expected: [number, number][] = reqs.map(([iova, write], i) => {
        const code = xOne.translate(did, Number(s.root), s.levels, widthAt(i), Number(iova >> 32n), Number(iova & 0xffffffffn), write);
        expectedInfo.push(xOne.level | (xOne.iotlbHit ? CORE_INFO.iotlbHit : 0));
        return code === 0 ? [xOne.hpaLo | 0, xOne.hpaHi | 0] : [code, -1];
      });
      const burst = new DmaBurst(many, capacity);
      const got: [number, number][] = [];
      const gotInfo: number[] = [];
      for (let start = 0; start < reqs.length; start += chunk) {
        const part = reqs.slice(start, start + chunk);
        part.forEach(([iova, write], i) => {
          burst.requests[2 * i] = Number(iova & 0xffffffffn) | 0;
          burst.requests[2 * i + 1] = Number(iova >> 32n) | 0;
          burst.writes[i] = write ? 1 : 0;
        });
        expect(xMany.translateBatch(did, Number(s.root), s.levels, widthAt(start), burst, part.length)).toBe(part.length);
        for (let i = 0; i < part.length; i++) {
          got.push([burst.results[2 * i]!, burst.results[2 * i + 1]!]);
          gotInfo.push(burst.info[i]!);
        }
      }
      expect(got).toEqual(expected);
      expect(gotInfo).toEqual(expectedInfo);
      expect([xMany.hits, xMany.misses]).toEqual([xOne.hits, xOne.misses]);
      if (tlbMany) expect(tlbMany.entries()).toEqual(xOne.iotlb!.entries());
      // The result fields describe the last request, as after translate().
      expect([xMany.level, xMany.iotlbHit]).toEqual([xOne.level, xOne.iotlbHit]);
      if (expected.at(-1)![1] !== -1) expect([xMany.hpaLo, xMany.hpaHi, xMany.perm]).toEqual([xOne.hpaLo, xOne.hpaHi, xOne.perm]);
    }),
    { numRuns },
  );
}

describe("translateBatch (bursts in the WebAssembly core)", () => {
  it("gives exactly the results of one translate() per request, in order, with the same IOTLB state and counters", () => {
    burstsMatchTranslate(fc.integer({ min: 1, max: 7 }), 8, 3, 400);
  });

  it("bursts long enough for the burst loops' read-ahead of later requests' table entries (groups of 16 without an IOTLB, 8 with one): the same results", () => {
    // The read-ahead reads entries of requests the loop has not reached (pure reads, whatever the
    // entries hold: not present, bad pointers, DRAM tables, superpages); a burst stopped early (a
    // walk handed back to TypeScript) resumes after it.
    burstsMatchTranslate(fc.integer({ min: 17, max: 64 }), 64, 6, 200);
  });
});

// ---- specific cases ------------------------------------------------------------------------------

const F48: SlptFormat = { haw: 48, deviceTlb: false, snoopControl: false, superpage2M: true, superpage1G: true };

/** A 4-level identity-ish setup: root page 0, then pages 1, 2, 3 on the path of `iova`. */
function chain(iova: bigint, leaf: bigint, fmt: SlptFormat = F48, levels = 4, overrides: Partial<Record<number, bigint>> = {}) {
  const mem = newMemory();
  let table = POOL;
  for (let level = levels; level >= 1; level--) {
    const addr = table + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n;
    const next = POOL + BigInt(levels - level + 1) * 4096n;
    mem.writeU64(Number(addr), overrides[level] ?? (level === 1 ? leaf : next | 3n));
    table = next;
  }
  return new SlptWalker(mem, fmt);
}

describe("SlptWalker faults and leaves", () => {
  const iova = 0x1234_5678_9000n;

  it("maps a 4 KiB page: base from the leaf, offset from the IOVA, permissions ANDed", () => {
    const w = chain(iova, 0xabcd_e000n | 3n, F48, 4, { 2: POOL + 3n * 4096n | 1n });
    expect(walkOutcome(w, POOL, 4, iova | 0x321n, false)).toEqual({ code: 0, level: 1, hpa: 0xabcd_e321n, perm: 1 });
    // Write through a read-only PDE: 0x05 at level 2, although the leaf allows writes.
    expect(walkOutcome(w, POOL, 4, iova | 0x321n, true)).toEqual({ code: 0x05, level: 2 });
  });

  it("the ignored bits 10:8 of a non-leaf entry never make it a superpage (the WebAssembly core too)", () => {
    // An SL-PDE with bit 8 set (ignored) and PS clear, on a unit with 1 GiB but not 2 MiB pages.
    const fmt: SlptFormat = { ...F48, superpage2M: false, superpage1G: true };
    const w = chain(iova, 0xabcd_e000n | 3n, fmt, 4, { 2: POOL + 3n * 4096n | 0x103n, 3: POOL + 2n * 4096n | 0x703n });
    const expected = { code: 0, level: 1, hpa: 0xabcd_e321n, perm: 3 };
    expect(walkOutcome(w, POOL, 4, iova | 0x321n, false)).toEqual(expected);
    const x = new SecondLevelTranslator(w, null);
    const code = x.translate(1, Number(POOL), 4, 48, Number(iova >> 32n), Number((iova | 0x321n) & 0xffffffffn), false);
    expect({ code, level: x.level, hpa: (BigInt(x.hpaHi >>> 0) << 32n) | BigInt(x.hpaLo >>> 0), perm: x.perm }).toEqual(expected);
  });

  it("0x03 when the top-level table cannot be read, 0x07 below it", () => {
    const w = chain(iova, 0xabcd_e003n, F48, 4, { 3: 0x7fff_ffff_f000n | 3n });
    expect(walkOutcome(w, 0x7fff_ffff_f000n, 4, iova, false)).toEqual({ code: 0x03, level: 4 });
    expect(walkOutcome(w, POOL + 64n * 4096n, 4, iova, false)).toEqual({ code: 0x03, level: 4 }); // past the allocated pool
    expect(walkOutcome(w, POOL, 4, iova, false)).toEqual({ code: 0x07, level: 2 }); // the SL-PD is not memory
  });

  it("0x06 / 0x05 for a not-present entry at any level (QEMU never says 0x07 for a missing entry)", () => {
    for (const level of [4, 3, 2, 1]) {
      const w = chain(iova, 0xabcd_e003n, F48, 4, { [level]: level === 1 ? 0n : POOL + 4096n });
      expect(walkOutcome(w, POOL, 4, iova, false)).toEqual({ code: 0x06, level });
      expect(walkOutcome(w, POOL, 4, iova, true)).toEqual({ code: 0x05, level });
    }
    // An empty root: not present at the top.
    expect(walkOutcome(new SlptWalker(newMemory(), F48), POOL, 4, iova, true)).toEqual({ code: 0x05, level: 4 });
  });

  it("0x05 for a write to a read-only page, before the reserved-bit check (SNP on a read-only page)", () => {
    const w = chain(iova, 0xabcd_e000n | 0x800n | 1n);
    expect(walkOutcome(w, POOL, 4, iova, true)).toEqual({ code: 0x05, level: 1 });
    expect(walkOutcome(w, POOL, 4, iova, false)).toEqual({ code: 0x0c, level: 1 });
  });

  it("0x0C: SNP without snoop control, TM without device-TLB (and in any non-leaf), bits above HAW", () => {
    const snp = chain(iova, 0xabcd_e803n);
    expect(walkOutcome(snp, POOL, 4, iova, false)).toEqual({ code: 0x0c, level: 1 });
    const snpOk = chain(iova, 0xabcd_e803n, { ...F48, snoopControl: true });
    expect(walkOutcome(snpOk, POOL, 4, iova, false).code).toBe(0);

    const tmLeaf = 1n << 62n | 0xabcd_e003n;
    expect(walkOutcome(chain(iova, tmLeaf), POOL, 4, iova, false)).toEqual({ code: 0x0c, level: 1 });
    expect(walkOutcome(chain(iova, tmLeaf, { ...F48, deviceTlb: true }), POOL, 4, iova, false).code).toBe(0);
    const tmPde = chain(iova, 0xabcd_e003n, { ...F48, deviceTlb: true }, 4, { 2: 1n << 62n | POOL + 3n * 4096n | 3n });
    expect(walkOutcome(tmPde, POOL, 4, iova, false)).toEqual({ code: 0x0c, level: 2 });

    // Bit 48 is above HAW 48 (reserved), bit 47 is address; ignored bits 63 and 61:52 never fault.
    expect(walkOutcome(chain(iova, 1n << 48n | 0xabcd_e003n), POOL, 4, iova, false)).toEqual({ code: 0x0c, level: 1 });
    expect(walkOutcome(chain(iova, 1n << 47n | 0xabcd_e003n), POOL, 4, iova, false)).toEqual({ code: 0, level: 1, hpa: 1n << 47n | 0xabcd_e000n, perm: 3 });
    expect(walkOutcome(chain(iova, 0xbff0_0000_abcd_e003n), POOL, 4, iova, false)).toEqual({ code: 0, level: 1, hpa: 0xabcd_e000n, perm: 3 });
    // HAW 39: bit 39 is reserved; HAW 57: bit 56 is address.
    const f39 = { ...F48, haw: 39 };
    expect(walkOutcome(chain(iova, 1n << 39n | 0xabcd_e003n, f39), POOL, 4, iova, false)).toEqual({ code: 0x0c, level: 1 });
    const f57 = { ...F48, haw: 57 };
    expect(walkOutcome(chain(iova, 1n << 56n | 0xabcd_e003n, f57), POOL, 4, iova, false)).toEqual({ code: 0, level: 1, hpa: 1n << 56n | 0xabcd_e000n, perm: 3 });
    // PS in an SL-PML4E is reserved.
    expect(walkOutcome(chain(iova, 0xabcd_e003n, F48, 4, { 4: POOL + 4096n | 0x83n }), POOL, 4, iova, false)).toEqual({ code: 0x0c, level: 4 });
  });

  it("1 GiB and 2 MiB leaves: base with the low address bits cleared, offset from the IOVA; reserved low bits and SLLPS", () => {
    // SPEC section 9: g1[0] = 0xe640000000 with pte 0x0000005180000083.
    const g1 = 0xe6_4000_0000n;
    const w1g = chain(g1, 0n, F48, 4, { 3: 0x51_8000_0083n });
    expect(walkOutcome(w1g, POOL, 4, g1 + 0x1234_5678n, true)).toEqual({ code: 0, level: 3, hpa: 0x51_9234_5678n, perm: 3 });
    expect(walkOutcome(w1g, POOL, 4, g1 + 0x3fff_ffffn, false)).toEqual({ code: 0, level: 3, hpa: 0x51_bfff_ffffn, perm: 3 });
    // An address bit below 1 GiB in a 1 GiB leaf is reserved.
    expect(walkOutcome(chain(g1, 0n, F48, 4, { 3: 0x51_8000_1083n }), POOL, 4, g1, false)).toEqual({ code: 0x0c, level: 3 });
    // Without 1 GiB support, PS at level 3 is a reserved bit.
    expect(walkOutcome(chain(g1, 0n, { ...F48, superpage1G: false }, 4, { 3: 0x51_8000_0083n }), POOL, 4, g1, false)).toEqual({ code: 0x0c, level: 3 });

    // SPEC section 9: sp2m[0] = 0x9604e00000 with pte 0x00000085f2800083.
    const sp = 0x96_04e0_0000n;
    const w2m = chain(sp, 0n, F48, 4, { 2: 0x85_f280_0083n });
    expect(walkOutcome(w2m, POOL, 4, sp + 0x1f_fabcn, false)).toEqual({ code: 0, level: 2, hpa: 0x85_f29f_fabcn, perm: 3 });
    expect(walkOutcome(chain(sp, 0n, F48, 4, { 2: 0x85_f280_1083n }), POOL, 4, sp, false)).toEqual({ code: 0x0c, level: 2 });
    expect(walkOutcome(chain(sp, 0n, { ...F48, superpage2M: false }, 4, { 2: 0x85_f280_0083n }), POOL, 4, sp, false)).toEqual({ code: 0x0c, level: 2 });
    // PS at level 1 is ignored.
    expect(walkOutcome(chain(iova, 0xabcd_e083n), POOL, 4, iova, false)).toEqual({ code: 0, level: 1, hpa: 0xabcd_e000n, perm: 3 });
  });

  it("walks 5 levels for a 57-bit IOVA (and 3 levels for 39 bits)", () => {
    const f57 = { ...F48, haw: 57 };
    const top = 0x1ff_ffff_ffff_f000n; // the highest 4 KiB page below 2^57
    const w5 = chain(top, 0x1_2345_6789_a003n, f57, 5);
    expect(walkOutcome(w5, POOL, 5, top | 0xabcn, true)).toEqual({ code: 0, level: 1, hpa: 0x1_2345_6789_aabcn, perm: 3 });
    // The same walker reads index 511 at every level: a different top index is another (empty) entry.
    expect(walkOutcome(w5, POOL, 5, top - (1n << 48n), false)).toEqual({ code: 0x06, level: 5 });
    const f39 = { ...F48, haw: 39 };
    const low = 0x7f_ffff_f000n;
    expect(walkOutcome(chain(low, 0x1234_5003n, f39, 3), POOL, 3, low | 0xfffn, false)).toEqual({ code: 0, level: 1, hpa: 0x1234_5fffn, perm: 3 });
  });

  it("a level count the core has no unrolled walk for (1, 6) is walked in TypeScript, with the same rules", () => {
    for (const levels of [1, 6]) {
      const iova = 0x1000n;
      const w = chain(iova, 0x5555_5003n, { ...F48, haw: 57 }, levels);
      const x = new SecondLevelTranslator(w, new Iotlb(16, 4, w.mem));
      expect(walkOutcome(w, POOL, levels, iova | 0x123n, false)).toEqual({ code: 0, level: 1, hpa: 0x5555_5123n, perm: 3 });
      expect(x.translate(1, Number(POOL), levels, 57, 0, 0x1123, false), `${levels} levels`).toBe(0);
      expect([x.hpaLo, x.level, x.iotlbHit]).toEqual([0x5555_5123, 1, false]);
      // Filled by the TypeScript side into the core's IOTLB: the next one hits.
      expect(x.translate(1, Number(POOL), levels, 57, 0, 0x1456, false)).toBe(0);
      expect([x.hpaLo, x.iotlbHit]).toEqual([0x5555_5456, true]);
    }
  });

  it("an IOVA at or above 2^57, where the IOTLB's tags end, never hits an entry it aliases (translate and both burst loops)", () => {
    const iova = 0x1234_5000n;
    const alias = iova | (1n << 58n); // the same tags if bits 58+ were dropped
    const w = chain(iova, 0x7777_7003n);
    const x = new SecondLevelTranslator(w, new Iotlb(1, 4, w.mem));
    expect(x.translate(1, Number(POOL), 4, 48, 0, 0x1234_5000, false)).toBe(0);
    expect(x.translate(1, Number(POOL), 4, 48, Number(alias >> 32n), 0x1234_5000, false)).toBe(0x04);
    expect(x.iotlbHit).toBe(false);
    expect(x.iotlb!.lookup(1, Number(alias >> 32n), 0x1234_5000, false)).toBe(-1);
    // Bursts: a run of hits ($hitRun4), then the alias; a miss first ($burstTlb4), then the alias.
    const burst = new DmaBurst(w.mem, 8);
    for (const order of [[iova, iova, alias, iova], [0x5000n, alias, iova, alias]]) {
      order.forEach((a, i) => {
        burst.requests[2 * i] = Number(a & 0xffffffffn) | 0;
        burst.requests[2 * i + 1] = Number(a >> 32n) | 0;
        burst.writes[i] = 0;
      });
      x.translateBatch(1, Number(POOL), 4, 48, burst, order.length);
      order.forEach((a, i) => {
        const r = [burst.results[2 * i], burst.results[2 * i + 1]];
        if (a === alias) expect(r, `request ${i}`).toEqual([0x04, -1]);
        if (a === iova) expect(r, `request ${i}`).toEqual([0x7777_7000, 0]);
      });
    }
  });

  it("follows tables in sparse DRAM, where unwritten memory reads as zero", () => {
    const mem = newMemory();
    // root -> DRAM page 0x1000 -> pool page 1 -> DRAM page 0x3f000 -> leaf
    const at = (t: bigint, level: number) => t + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n;
    mem.writeU64(Number(at(POOL, 4)), 0x1000n | 3n);
    mem.writeU64(Number(at(0x1000n, 3)), POOL + 4096n | 3n);
    mem.writeU64(Number(at(POOL + 4096n, 2)), 0x3f000n | 3n);
    mem.writeU64(Number(at(0x3f000n, 1)), 0x5555_5003n);
    const w = new SlptWalker(mem, F48);
    expect(walkOutcome(w, POOL, 4, iova | 0x10n, true)).toEqual({ code: 0, level: 1, hpa: 0x5555_5010n, perm: 3 });
    expect(walkOutcome(w, POOL, 4, iova + 0x1000n, false)).toEqual({ code: 0x06, level: 1 }); // zero entry in the DRAM SL-PT
  });

  it("records the entries it read when asked (the trail), with the same result", () => {
    const w = chain(iova, 0xabcd_e003n);
    w.recordTrail = true;
    expect(walkOutcome(w, POOL, 4, iova, false)).toEqual({ code: 0, level: 1, hpa: 0xabcd_e000n, perm: 3 });
    expect(w.trailLen).toBe(4);
    expect(w.trailLo[3]! >>> 0).toBe(0xabcd_e003);
  });
});

describe("translateBatch's loops of the common configurations", () => {
  // A 1 GiB leaf at L3 and a 2 MiB leaf at L2 (under a different SL-PML4E), 4 KiB pages elsewhere.
  const g1 = 0x40_0000_0000n; // L4 index 0, L3 index 256
  const m2 = 0x80_4000_0000n; // L4 index 1
  const superpages = (ways: 0 | 4) => {
    const fmt = F48;
    const make = () => {
      const mem = newMemory();
      const w = new SlptWalker(mem, fmt);
      // root (page 0) -> L3 tables at pages 1 and 2; page 2's entry -> L2 table at page 3.
      mem.writeU64(Number(POOL + ((g1 >> 39n) & 511n) * 8n), (POOL + 4096n) | 3n);
      mem.writeU64(Number(POOL + 4096n + ((g1 >> 30n) & 511n) * 8n), 0x1_8000_0000n | 0x83n);
      mem.writeU64(Number(POOL + ((m2 >> 39n) & 511n) * 8n), (POOL + 2n * 4096n) | 3n);
      mem.writeU64(Number(POOL + 2n * 4096n + ((m2 >> 30n) & 511n) * 8n), (POOL + 3n * 4096n) | 3n);
      mem.writeU64(Number(POOL + 3n * 4096n + ((m2 >> 21n) & 511n) * 8n), 0x7_c020_0000n | 0x81n); // read-only
      return new SecondLevelTranslator(w, ways === 0 ? null : new Iotlb(256, 4, mem));
    };
    return { one: make(), many: make() };
  };

  for (const ways of [0, 4] as const) {
    it(`keeps the IOVA's offset within 1 GiB and 2 MiB pages (${ways === 0 ? "no IOTLB: the walk loop" : "4-way IOTLB: the hit loop"})`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: (1n << 30n) - 1n }), fc.boolean()), { minLength: 1, maxLength: 24 }),
          (reqs) => {
            const { one, many } = superpages(ways);
            const iovas = reqs.map(([big, off, write]) => [big ? g1 + off : m2 + (off & 0x1fffffn), write] as const);
            const burst = new DmaBurst(many.walker.mem, iovas.length);
            iovas.forEach(([iova, write], i) => {
              burst.requests[2 * i] = Number(iova & 0xffffffffn) | 0;
              burst.requests[2 * i + 1] = Number(iova >> 32n);
              burst.writes[i] = write ? 1 : 0;
            });
            many.translateBatch(1, Number(POOL), 4, 48, burst, iovas.length);
            iovas.forEach(([iova, write], i) => {
              const code = one.translate(1, Number(POOL), 4, 48, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
              const want = code === 0 ? [one.hpaLo | 0, one.hpaHi | 0] : [code, -1];
              expect([burst.results[2 * i], burst.results[2 * i + 1]], `request ${i}: 0x${iova.toString(16)}`).toEqual(want);
              expect(burst.info[i], `request ${i}: level and IOTLB hit`).toBe(one.level | (one.iotlbHit ? CORE_INFO.iotlbHit : 0));
            });
          },
        ),
        { numRuns: 200 },
      );
    });
  }
});

/** Pool pages 0 -> 1 -> 2 -> 3 along IOVA 0's path (entry 0 of each): page 3 is the SL-PT of IOVAs below 2 MiB. */
function poolPath(mem: PhysicalMemory): void {
  for (let page = 0n; page < 3n; page++) mem.writeU64(Number(POOL + page * 4096n), (POOL + (page + 1n) * 4096n) | 3n);
}

describe("translateBatch's IOTLB loop with reads ahead (a stream that misses often)", () => {
  // 4 KiB pages 0..63 mapped through pool tables (every fifth read-only, every seventh not
  // present); IOVAs under SL-PML4E 1..3 find a not-present entry at the top, whose address 0 the
  // reads ahead must not follow out of the pool. Faults are never cached, so a stream of them
  // keeps missing: after a call of the IOTLB loop that walked four misses or more, the next call
  // reads ahead ($burstTlb4Ahead).
  const make = () => {
    const mem = newMemory();
    poolPath(mem);
    for (let k = 0n; k < 64n; k++) if (k % 7n !== 3n) mem.writeU64(Number(POOL + 3n * 4096n + 8n * k), ((0x5_0000n + k) << 12n) | (k % 5n === 0n ? 1n : 3n));
    return new SecondLevelTranslator(new SlptWalker(mem, F48), new Iotlb(256, 4, mem));
  };
  it("gives the results, info bytes and counters of translate() one request at a time", () => {
    fc.assert(
      fc.property(
        // Mostly pages 0..63 (runs of hits end the IOTLB loop's calls), some not present at L1 or at the top.
        fc.array(fc.tuple(fc.constantFrom(0, 0, 0, 0, 0, 1, 2, 3), fc.nat(79), fc.nat(0xfff), fc.boolean()), { minLength: 40, maxLength: 300 }),
        (reqs) => {
          const one = make();
          const many = make();
          const iovas = reqs.map(([top, page, off, write]) => [(BigInt(top) << 39n) | (BigInt(page) << 12n) | BigInt(off), write] as const);
          const burst = new DmaBurst(many.walker.mem, iovas.length);
          iovas.forEach(([iova, write], i) => {
            burst.requests[2 * i] = Number(iova & 0xffffffffn) | 0;
            burst.requests[2 * i + 1] = Number(iova >> 32n);
            burst.writes[i] = write ? 1 : 0;
          });
          expect(many.translateBatch(1, Number(POOL), 4, 48, burst, iovas.length)).toBe(iovas.length);
          iovas.forEach(([iova, write], i) => {
            const code = one.translate(1, Number(POOL), 4, 48, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
            const want = code === 0 ? [one.hpaLo | 0, one.hpaHi | 0] : [code, -1];
            expect([burst.results[2 * i], burst.results[2 * i + 1]], `request ${i}: 0x${iova.toString(16)}`).toEqual(want);
            expect(burst.info[i], `request ${i}: level and IOTLB hit`).toBe(one.level | (one.iotlbHit ? CORE_INFO.iotlbHit : 0));
          });
          expect([many.hits, many.misses]).toEqual([one.hits, one.misses]);
          expect(many.iotlb!.entries()).toEqual(one.iotlb!.entries());
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("translateBatch's result block", () => {
  it("a request whose walk leaves the table pool, right after an IOTLB hit, is not reported as a hit", () => {
    // IOVA 0x1000 maps through pool tables; IOVA 2^39's SL-PML4E points at address 0, outside the
    // pool (walked in TypeScript: DRAM there reads as zeros, a not-present SL-PDPTE).
    const make = () => {
      const mem = newMemory();
      poolPath(mem);
      mem.writeU64(Number(POOL + 3n * 4096n + 8n), 0x5000n | 3n);
      mem.writeU64(Number(POOL + 8n), 3n);
      return new SecondLevelTranslator(new SlptWalker(mem, F48), new Iotlb(16, 4, mem));
    };
    const iovas = [0x1000, 0x1000, 2 ** 39];
    const one = make();
    for (const iova of iovas) one.translate(1, Number(POOL), 4, 48, Math.floor(iova / 2 ** 32), iova % 2 ** 32, false);
    expect([one.level, one.iotlbHit]).toEqual([3, false]);
    for (const chunk of [1, 3]) {
      const many = make();
      const burst = new DmaBurst(many.walker.mem, 3);
      for (let start = 0; start < iovas.length; start += chunk) {
        const part = iovas.slice(start, start + chunk);
        part.forEach((iova, i) => {
          burst.requests[2 * i] = iova % 2 ** 32 | 0;
          burst.requests[2 * i + 1] = Math.floor(iova / 2 ** 32);
          burst.writes[i] = 0;
        });
        many.translateBatch(1, Number(POOL), 4, 48, burst, part.length);
      }
      expect([burst.results[2 * ((iovas.length - 1) % chunk)], burst.results[2 * ((iovas.length - 1) % chunk) + 1]], `bursts of ${chunk}`).toEqual([0x06, -1]);
      expect([many.level, many.iotlbHit], `bursts of ${chunk}`).toEqual([3, false]);
    }
  });
});

describe("a vetting core (the DMAR unit's) and the interrupt window", () => {
  // IOVA 0x1000 -> a 4 KiB page at 0xfee0_1000 (inside 0xFEE00000-0xFEEFFFFF); 0x2000 -> 0x5000.
  const make = (vet: boolean) => {
    const w = chain(0x1000n, 0xfee0_1000n | 3n);
    // The second leaf, in the same SL-PT (page 3 of the pool).
    w.mem.writeU64(Number(POOL + 3n * 4096n + 2n * 8n), 0x5000n | 3n);
    return new SecondLevelTranslator(w, new Iotlb(16, 4, w.mem), vet);
  };
  const load = (burst: DmaBurst, iovas: bigint[]) =>
    iovas.forEach((iova, i) => {
      burst.requests[2 * i] = Number(iova & 0xffffffffn);
      burst.requests[2 * i + 1] = 0;
      burst.writes[i] = 0;
    });

  it("hands a walk whose leaf lies in the window back unfilled (handBack: the burst stops there), and leaves other walks alone", () => {
    const x = make(true);
    const burst = new DmaBurst(x.walker.mem, 4);
    load(burst, [0x2000n, 0x1000n, 0x2000n]);
    expect(x.translateBatch(1, Number(POOL), 4, 48, burst, 3, true)).toBe(1);
    expect(burst.results[0]! >>> 0).toBe(0x5000);
    // Only the page outside the window was cached.
    expect(x.iotlb!.entries().map((e) => e.hpa)).toEqual([0x5000n]);
    expect(CORE_INTERRUPT_WINDOW.first).toBe(0xfee00000);
  });

  it("without handBack the request is walked in TypeScript and the burst goes on: the same answers as translate()", () => {
    const x = make(true);
    const burst = new DmaBurst(x.walker.mem, 4);
    load(burst, [0x2000n, 0x1000n, 0x2000n]);
    expect(x.translateBatch(1, Number(POOL), 4, 48, burst, 3)).toBe(3);
    expect([0, 1, 2].map((i) => burst.results[2 * i]! >>> 0)).toEqual([0x5000, 0xfee01000, 0x5000]);
    expect([...burst.info.subarray(0, 3)]).toEqual([1, 1, 1 | CORE_INFO.iotlbHit]);
    // A core that does not vet (the benchmark's) answers the window's page like any other.
    const plain = make(false);
    const b2 = new DmaBurst(plain.walker.mem, 4);
    load(b2, [0x1000n]);
    expect(plain.translateBatch(1, Number(POOL), 4, 48, b2, 1, true)).toBe(1);
    expect(b2.results[0]! >>> 0).toBe(0xfee01000);
  });
});

describe("read errors the core answers (no memory behind a table below the top level)", () => {
  // IOVA A: the SL-PDPTE points past DRAM and the pool (SPEC's BAD_PTR): reading the SL-PDE fails,
  // 0x07 at level 2. IOVA B: the SL-PDPTE points into sparse DRAM (reads as zero): walked in
  // TypeScript, 0x06 / 0x05 at level 2. IOVA C: a 4 KiB page in pool tables.
  const A = 0x0000_4000_0000n; // L4 index 0, L3 index 1
  const B = 0x0000_8000_0000n; // L3 index 2
  const C = 0x0000_0000_1000n; // L3 index 0
  const make = (ways: number, levels: 3 | 4) => {
    const mem = newMemory();
    const top = levels === 4 ? POOL + 4096n : POOL; // the SL-PDPT
    if (levels === 4) mem.writeU64(Number(POOL), top | 3n);
    mem.writeU64(Number(top + 8n), 0x7fff_ffff_f000n | 3n);
    mem.writeU64(Number(top + 16n), 0x1000n | 3n);
    mem.writeU64(Number(top), (POOL + 2n * 4096n) | 3n);
    mem.writeU64(Number(POOL + 2n * 4096n), (POOL + 3n * 4096n) | 3n);
    mem.writeU64(Number(POOL + 3n * 4096n + 8n), 0x5000n | 3n);
    return new SecondLevelTranslator(new SlptWalker(mem, F48), ways === 0 ? null : new Iotlb(16, ways, mem), true);
  };
  // Each configuration's loop: the walk loop (no IOTLB, 4 levels) and the general loop (2 ways;
  // 3 levels). (The 4-way IOTLB's whole-step loop hands every walk that leaves the pool back.)
  const configs = [
    { ways: 0, levels: 4 },
    { ways: 2, levels: 4 },
    { ways: 4, levels: 3 },
  ] as const;

  for (const { ways, levels } of configs) {
    const width = levels === 4 ? 48 : 39;
    it(`answers 0x07 at the level it could not read, in the burst, without handing it back (${ways} ways, ${levels} levels)`, () => {
      const x = make(ways, levels);
      const burst = new DmaBurst(x.walker.mem, 8);
      const iovas = [C, A, C, A | 0x123n, B];
      iovas.forEach((iova, i) => {
        burst.requests[2 * i] = Number(iova & 0xffffffffn);
        burst.requests[2 * i + 1] = Number(iova >> 32n);
        burst.writes[i] = i === 3 ? 1 : 0;
      });
      // handBack: the core answers the four, every one of them in the burst.
      expect(x.translateBatch(1, Number(POOL), levels, width, burst, 4, true)).toBe(4);
      // The result block describes the last request: the read error, not an IOTLB hit.
      expect([x.level, x.iotlbHit]).toEqual([2, false]);
      const got = [0, 1, 2, 3].map((i) => [burst.results[2 * i]! >>> 0, burst.results[2 * i + 1], burst.info[i]]);
      const hit = ways === 0 ? 0 : CORE_INFO.iotlbHit;
      expect(got).toEqual([
        [0x5000, 0, 1],
        [0x07, -1, 2],
        [0x5000, 0, 1 | hit],
        [0x07, -1, 2],
      ]);
      if (ways !== 0) expect([x.hits, x.misses]).toEqual([1, 3]);
      // B's table is in DRAM: the burst stops there (TypeScript reads it).
      burst.requests[0] = Number(B & 0xffffffffn);
      burst.requests[1] = Number(B >> 32n);
      expect(x.translateBatch(1, Number(POOL), levels, width, burst, 1, true)).toBe(0);
      // translate() of the same requests: the same answers (B through the TypeScript walker).
      const one = make(ways, levels);
      const codes = iovas.map((iova, i) => [one.translate(1, Number(POOL), levels, width, Number(iova >> 32n), Number(iova & 0xffffffffn), i === 3), one.level]);
      expect(codes).toEqual([[0, 1], [0x07, 2], [0, 1], [0x07, 2], [0x06, 2]]);
    });
  }

  it("the 4-way IOTLB's whole-step loop hands the read error back; the TypeScript walker gives the same answers", () => {
    const iovas = [C, A, C, A | 0x123n];
    const loaded = (x: SecondLevelTranslator) => {
      const b = new DmaBurst(x.walker.mem, 8);
      iovas.forEach((iova, i) => {
        b.requests[2 * i] = Number(iova & 0xffffffffn);
        b.requests[2 * i + 1] = Number(iova >> 32n);
        b.writes[i] = i === 3 ? 1 : 0;
      });
      return b;
    };
    const x = make(4, 4);
    expect(x.translateBatch(1, Number(POOL), 4, 48, loaded(x), 4, true)).toBe(1);
    const y = make(4, 4);
    const burst = loaded(y);
    expect(y.translateBatch(1, Number(POOL), 4, 48, burst, 4)).toBe(4);
    expect([0, 1, 2, 3].map((i) => [burst.results[2 * i]! >>> 0, burst.results[2 * i + 1], burst.info[i]])).toEqual([
      [0x5000, 0, 1],
      [0x07, -1, 2],
      [0x5000, 0, 1 | CORE_INFO.iotlbHit],
      [0x07, -1, 2],
    ]);
  });

  it("leaves the top level's read error (0x03, the context entry's SLPTPTR) and DRAM tables to the TypeScript walker", () => {
    const x = make(4, 4);
    const burst = new DmaBurst(x.walker.mem, 2);
    burst.requests[0] = 0x1000;
    burst.requests[1] = 0;
    burst.writes[0] = 0;
    // A root no memory backs: handed back at request 0.
    expect(x.translateBatch(1, 0x7fff_ffff_f000, 4, 48, burst, 1, true)).toBe(0);
    expect(x.translate(1, 0x7fff_ffff_f000, 4, 48, 0, 0x1000, false)).toBe(0x03);
    expect(x.level).toBe(4);
  });
});
