// The AMD-Vi translate path of the WebAssembly core (translate-core.template.mjs $amdV1Walk,
// $amdBurst; AmdViUnit.translateBurst and the `dma` step's bursts) against the unit's TypeScript
// path (the walk loop it keeps for trails: recordTrail), on random v1 tables - Next Level
// encodings valid and invalid, skipped levels, Next Level 7 pages of every size and beyond the
// level, PR/IR/IW, tables outside the pool (sparse DRAM, unreadable) - with random requests: the
// same verdict for every request (address, permission, page size, level, event code and flags),
// the same counters, event log and IOTLB (every way, every FIFO victim).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { AmdIommuDriver, type AmdDomain } from "../../src/sim/amdvi/driver.js";
import { AmdViUnit } from "../../src/sim/amdvi/unit.js";
import { DTE_SA_HI, MMIO_EVT_HEAD_OFFSET, MMIO_EVT_TAIL_OFFSET, MMIO_STATUS_OFFSET } from "../../src/sim/amdvi/defs.js";
import { DmaTally, type DmaTransfer } from "../../src/sim/dma.js";
import { Trace } from "../../src/trace/trace.js";
import { prng } from "./prng.js";

const BASE = 0x10000000;
/** 4 GiB of DRAM: a table pointer below it reads zeros (sparse), above it is unreadable (PAGE_TAB_HARDWARE_ERROR). */
const DRAM = 2 ** 32;
const SID = 0x100;

/** Random v1 tables below a root of `mode` levels; entries at indices 0..3 of each table (each table's page and level into `pages`). */
function buildTables(mem: PhysicalMemory, r: () => number, mode: number, pages: [number, number][] = []): number {
  const table = (level: number, depth: number): number => {
    const page = mem.allocPage();
    pages.push([page, level]);
    for (let idx = 0; idx < 4; idx++) {
      if (r() < 0.15) continue;
      let lo = r() < 0.92 ? 1 : 0; // PR
      let hi = (r() < 0.85 ? 1 << 29 : 0) | (r() < 0.75 ? 1 << 30 : 0); // IR, IW
      const kind = r();
      let addr: number;
      let next: number;
      if (level > 1 && kind < 0.55 && depth < 6) {
        // A PDE: usually the next level, sometimes skipping levels, rarely an invalid encoding.
        const k = r();
        next = k < 0.75 ? level - 1 : k < 0.92 ? Math.floor(r() * level) : level + Math.floor(r() * (7 - level));
        const where = r();
        // (An invalid encoding points at a table in the pool too: the core must not walk it.)
        addr = where < 0.9 && next > 0 ? table(Math.min(next, level - 1), depth + 1) : where < 0.95 ? 0x7fff0000 : 0x7fff00000000;
      } else if (kind < 0.8) {
        next = 0; // a leaf of the level's size
        addr = Math.floor(r() * 2 ** 28) * 4096;
      } else {
        // Next Level 7: the page size is in the address's low one bits (sometimes beyond the level).
        next = 7;
        const ones = Math.floor(r() * (9 * level + 3));
        const base = Math.floor(r() * 2 ** 20) * 2 ** 20 * 4096;
        addr = base + (2 ** ones - 1) * 4096;
      }
      lo |= (next << 9) | (addr % 2 ** 32 & 0xfffff000);
      hi |= Math.floor(addr / 2 ** 32) & 0xfffff;
      mem.write64(page + idx * 8, lo >>> 0, hi >>> 0);
    }
    return page;
  };
  return table(mode, 0);
}

/** A unit with Linux's bring-up and one domain over `root`. */
function unitOver(mem: PhysicalMemory, root: number, mode: number, sets: number, ways: number): AmdViUnit {
  const unit = new AmdViUnit(mem, { iotlbSets: sets, iotlbWays: ways, maxLevels: 6 });
  const driver = new AmdIommuDriver(unit, mem, SID, mode, 6, undefined, "off");
  driver.init();
  const d: AmdDomain = { did: 5, passThrough: false, root, mode, devids: new Set() };
  driver.domains.set(d.did, d);
  driver.attach(d, [SID]);
  return unit;
}

/** The result fields a view or the trace reads of the last request. */
function verdict(u: AmdViUnit, code: number) {
  return {
    code,
    hpa: code === 0 ? [u.hpaHi >>> 0, u.hpaLo >>> 0] : null,
    flags: u.flags,
    level: u.level,
    did: u.did,
    kind: u.kind,
    stage: u.stage,
    fate: u.fate,
    iotlbHit: u.iotlbHit,
    perm: u.perm,
    pageShift: u.pageShift,
    event: [u.eventAddrHi >>> 0, u.eventAddrLo >>> 0],
    unreadable: u.trailUnreadable,
    pageRequested: u.pageRequested,
    pprLost: u.pprLost,
  };
}

/** The state a request that lost its page request (a full PPR log) leaves: the next request's result must not carry it. */
function afterLostPageRequest(...units: AmdViUnit[]): void {
  for (const u of units) u.pageRequested = u.pprLost = true;
}

function cacheState(u: AmdViUnit) {
  const s = u.iotlb.snapshot();
  return { slots: [...s.slots], victim: [...s.victim], counters: { ...u.counters }, events: u.pendingEvents().map((e) => e.words) };
}

/** IOVAs through the populated indices (sometimes an empty one, or bits beyond the Mode's range). */
function iovaOf(r: () => number, mode: number): [number, number] {
  let v = Math.floor(r() * 4096);
  for (let l = 1; l <= mode; l++) v += Math.floor(r() * 5) * 2 ** (12 + 9 * (l - 1));
  let hi = Math.floor(v / 2 ** 32);
  const lo = v % 2 ** 32 >>> 0;
  if (r() < 0.05) hi = (hi | (1 << Math.floor(r() * 20))) >>> 0;
  return [hi >>> 0, lo];
}

/**
 * n random requests (some repeated, some interrupt writes) through `core`'s bursts - the requests
 * it hands back through its translate() - and one by one through `ts`'s translate(): the same
 * result, fault word, level and IOTLB hit per request, the same result fields after each burst
 * (each burst and each translate() starting after a request that lost its page request).
 * Returns how many the bursts answered.
 */
function burstsAgainstTranslate(ts: AmdViUnit, core: AmdViUnit, r: () => number, mode: number, n: number, repeat = 0.3): number {
  const burst = core.burst!;
  const reqs: [number, number, boolean][] = [];
  for (let i = 0; i < n; i++) {
    // Repeat some requests so that the IOTLB answers them.
    const [hi, lo] = i > 0 && r() < repeat ? reqs[Math.floor(r() * i)]!.slice(0, 2) as [number, number] : r() < 0.02 ? [0, 0xfee00000 + Math.floor(r() * 0x100000)] : iovaOf(r, mode);
    reqs.push([hi, lo, r() < 0.5]);
  }
  reqs.forEach(([hi, lo, w], i) => {
    burst.requests[2 * i] = lo | 0;
    burst.requests[2 * i + 1] = hi | 0;
    burst.writes[i] = w ? 1 : 0;
  });
  let answered = 0;
  for (let j = 0; j < n; ) {
    afterLostPageRequest(core);
    const k = core.translateBurst(SID, j, n);
    answered += k - j;
    for (; j < k; j++) {
      const [hi, lo, w] = reqs[j]!;
      afterLostPageRequest(ts);
      const want = verdict(ts, ts.translate(SID, hi, lo, w));
      const res = burst.results;
      const info = burst.info;
      // The burst's results and info bytes, and the fields of its last request: an address,
      // or a fault's event word (event[1] 31:16) with the high word all ones.
      const fault = res[2 * j + 1] === -1;
      expect({
        hpa: fault ? null : [res[2 * j + 1]! >>> 0, res[2 * j]! >>> 0],
        word: fault ? res[2 * j]! : 0,
        level: info[j]! & 7,
        hit: (info[j]! & (fault ? 0x10 : 8)) !== 0,
      }).toEqual({ hpa: want.hpa, word: want.code === 0 ? 0 : (want.code << 12) | want.flags, level: want.level, hit: want.iotlbHit });
      if (j === k - 1) expect(verdict(core, core.code)).toEqual(want);
    }
    if (j === n) break;
    const [hi, lo, w] = reqs[j]!;
    expect(verdict(core, core.translate(SID, hi, lo, w))).toEqual(verdict(ts, ts.translate(SID, hi, lo, w)));
    j++;
  }
  return answered;
}

const params = fc.record({
  seed: fc.integer(),
  mode: fc.integer({ min: 1, max: 6 }),
  geometry: fc.constantFrom([4, 1], [16, 2], [64, 4]),
  bypass: fc.boolean(),
  n: fc.integer({ min: 1, max: 120 }),
});

describe("AMD-Vi translate core vs the unit's TypeScript walk", () => {
  it("answers a burst's faults without leaving it, and logs their events in order when the unit takes them", () => {
    const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 64, dramBytes: DRAM });
    const IR = 1 << 29;
    const IW = 1 << 30;
    // Mode 4: L4[0] -> L3[0] -> L2[0] -> L1: [1] a read-only 4 KiB page, [2] not present; L2[1] a PDE to where no memory is.
    const [l4, l3, l2, l1] = [mem.allocPage(), mem.allocPage(), mem.allocPage(), mem.allocPage()];
    const pde = (at: number, next: number, level: number) => mem.write64(at, (1 | (level << 9) | next % 2 ** 32) >>> 0, (IR | IW | Math.floor(next / 2 ** 32)) >>> 0);
    pde(l4, l3, 3);
    pde(l3, l2, 2);
    pde(l2, l1, 1);
    pde(l2 + 8, 0x7fff00000000, 1);
    mem.write64(l1 + 8, (1 | 0x50000000) >>> 0, IR);
    const u = unitOver(mem, l4, 4, 64, 4);
    u.translate(SID, 0, 0, false);
    const reqs: [number, number, boolean][] = [
      [0, 0x1008, true], // walk: a write to a read-only page, PR | PE | RW
      [0, 0x1000, false], // walk: translated, the IOTLB filled
      [0, 0x1010, false], // IOTLB hit
      [0, 0x1018, true], // IOTLB hit lacking W
      [0, 0x2000, false], // not present
      [0, 0x200000, true], // PAGE_TAB_HARDWARE_ERROR at the L1 entry's address
      [0x10000, 0, false], // beyond Mode 4's 48 bits
      [0, 0x1020, false], // IOTLB hit
    ];
    const burst = u.burst!;
    reqs.forEach(([hi, lo, w], i) => {
      burst.requests[2 * i] = lo | 0;
      burst.requests[2 * i + 1] = hi;
      burst.writes[i] = w ? 1 : 0;
    });
    expect(u.translateBurst(SID, 0, reqs.length)).toBe(reqs.length);
    const res = Array.from(burst.results.subarray(0, 2 * reqs.length));
    expect(res).toEqual([0x2070, -1, 0x50000000, 0, 0x50000010, 0, 0x2070, -1, 0x2000, -1, 0x4020, -1, 0x2000, -1, 0x50000020, 0]);
    expect(Array.from(burst.info.subarray(0, reqs.length))).toEqual([1, 1, 9, 0x11, 1, 1, 0, 9]);
    // event[0] device id; event[1] code << 28 | flags << 16 | domain; event[2..3] the address.
    const at = 0x7fff00000000 + 8 * 0; // the unreadable L1 entry of IOVA 0x200000 (index 0)
    expect(u.pendingEvents().map((e) => e.words.map((x) => x >>> 0))).toEqual([
      [SID, 0x20000005, 0, 0], // the first request's (IOVA 0: not present)
      [SID, 0x20700005, 0x1008, 0],
      [SID, 0x20700005, 0x1018, 0],
      [SID, 0x20000005, 0x2000, 0],
      [SID, 0x40200005, at % 2 ** 32, Math.floor(at / 2 ** 32)],
      [SID, 0x20000005, 0, 0x10000],
    ]);
    expect({ requests: u.counters.requests, hits: u.counters.iotlbHits, walks: u.counters.walks, faults: u.counters.faults, logged: u.counters.logged }).toEqual({
      requests: 9,
      hits: 3,
      walks: 5,
      faults: 6,
      logged: 6,
    });
  });

  it("answers bursts of random requests on random tables as translate() does, request by request", () => {
    fc.assert(
      fc.property(params, ({ seed, mode, geometry, bypass, n }) => {
        const [sets, ways] = geometry as [number, number];
        const r = prng(seed);
        const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 4096, dramBytes: DRAM });
        const root = buildTables(mem, r, mode);
        const ts = unitOver(mem, root, mode, sets, ways);
        const core = unitOver(mem, root, mode, sets, ways);
        ts.recordTrail = true; // the TypeScript walk (the views' path)
        ts.bypassCaches = core.bypassCaches = bypass;
        // Warm the device-table cache as a first request would.
        ts.translate(SID, 0, 0, false);
        core.translate(SID, 0, 0, false);
        const answered = burstsAgainstTranslate(ts, core, r, mode, n);
        expect(cacheState(core)).toEqual(cacheState(ts));
        return answered >= 0;
      }),
      { numRuns: 300 },
    );
  });

  it("Mode 4 with a 4-way IOTLB: runs of hits, hits lacking the permission, misses and interrupt writes interleaved, as translate() answers them", () => {
    // The specializations of that configuration ($amdHitRun4 for runs of hits, $amdBurstTlb4 for
    // the rest, switching at every hit or miss), with streams that mostly repeat earlier requests.
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 400 }), fc.constantFrom(0.5, 0.8, 0.95), fc.constantFrom(1, 4, 64), (seed, n, repeat, sets) => {
        const r = prng(seed);
        const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 4096, dramBytes: DRAM });
        const root = buildTables(mem, r, 4);
        const ts = unitOver(mem, root, 4, sets, 4);
        const core = unitOver(mem, root, 4, sets, 4);
        ts.recordTrail = true;
        ts.translate(SID, 0, 0, false);
        core.translate(SID, 0, 0, false);
        burstsAgainstTranslate(ts, core, r, 4, n, repeat);
        expect(cacheState(core)).toEqual(cacheState(ts));
        expect(core.iotlb.entries()).toEqual(ts.iotlb.entries());
      }),
      { numRuns: 200 },
    );
  });

  it("logs the faults it answers in a burst as translate() does: order, overflow, SA, walks into the event log handed back", () => {
    fc.assert(
      fc.property(params, fc.integer({ min: 0, max: 40 }), fc.boolean(), fc.integer({ min: 0, max: 3 }), ({ seed, mode, geometry, bypass, n }, room, sa, intoLog) => {
        const [sets, ways] = geometry as [number, number];
        // Two memories built alike (the same tables, event log and device table at the same
        // addresses): a walk that reads the event log reads what its own unit logged before.
        const both = [0, 1].map(() => {
          const r = prng(seed);
          const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 4096, dramBytes: DRAM });
          const pages: [number, number][] = [];
          const root = buildTables(mem, r, mode, pages);
          const u = unitOver(mem, root, mode, sets, ways);
          // Some PDEs point at the event log as their next table (the log's first entries are read as entries).
          const tables = pages.filter(([, level]) => level > 1);
          for (let k = 0; k < intoLog && tables.length > 0; k++) {
            const [page, level] = tables[Math.floor(r() * tables.length)]!;
            const at = u.eventLogBase;
            mem.write64(page + 8 * Math.floor(r() * 4), (1 | ((level - 1) << 9) | (at % 2 ** 32)) >>> 0, ((3 << 29) | Math.floor(at / 2 ** 32)) >>> 0);
          }
          // SA: the DTE's IO_PAGE_FAULTs suppressed (counted, not logged).
          if (sa) {
            const dte = u.devTableBase + SID * 32 + 8;
            mem.read64(dte);
            mem.write64(dte, mem.lo, (mem.hi | DTE_SA_HI) >>> 0);
          }
          // Room for `room` events before the log overflows (the driver's head: nobody reads).
          u.writeReg(MMIO_EVT_HEAD_OFFSET, BigInt(((room + 1) * 16) % u.eventLogBytes));
          u.bypassCaches = bypass;
          u.translate(SID, 0, 0, false);
          return { mem, u, r };
        });
        const [ts, core] = [both[0]!.u, both[1]!.u];
        ts.recordTrail = true;
        const r = prng(seed ^ 0x5a5a);
        burstsAgainstTranslate(ts, core, r, mode, n);
        expect(cacheState(core)).toEqual(cacheState(ts));
        const log = (x: (typeof both)[number]) => Array.from({ length: x.u.eventLogBytes / 8 }, (_, i) => x.mem.readU64(x.u.eventLogBase + 8 * i));
        expect(log(both[1]!)).toEqual(log(both[0]!));
        expect([core.readReg(MMIO_STATUS_OFFSET), core.readReg(MMIO_EVT_TAIL_OFFSET)]).toEqual([ts.readReg(MMIO_STATUS_OFFSET), ts.readReg(MMIO_EVT_TAIL_OFFSET)]);
      }),
      { numRuns: 300 },
    );
  });

  it("gives a dma step's runs the trace and counters of translate() per transaction", () => {
    fc.assert(
      fc.property(params, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }), ({ seed, mode, geometry, bypass }, pages, repeat) => {
        const [sets, ways] = geometry as [number, number];
        const r = prng(seed);
        const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 4096, dramBytes: DRAM });
        const root = buildTables(mem, r, mode);
        const units = [unitOver(mem, root, mode, sets, ways), unitOver(mem, root, mode, sets, ways)] as const;
        units[0].recordTrail = true;
        const [hi, lo] = iovaOf(r, mode);
        const base = Math.floor(lo / 4096) * 4096;
        const x: DmaTransfer = { sid: SID, baseHi: hi, baseLo: base, startOff: lo - base, pages, length: pages * 4096 - (lo - base), write: r() < 0.5 } as DmaTransfer;
        const out = units.map((u) => {
          u.bypassCaches = bypass;
          u.translate(SID, 0, 0, false);
          const trace = new Trace(8);
          const tally = new DmaTally();
          u.translateRun(x, 0, pages * repeat, trace, 1, tally);
          const cols = (["kind", "flags", "level", "reason", "did", "aHi", "aLo", "bHi", "bLo"] as const).map((c) => Array.from(trace[c] as ArrayLike<number>).slice(0, trace.length));
          return { cols, tally: { ...tally }, last: verdict(u, u.code), state: cacheState(u) };
        });
        expect(out[1]).toEqual(out[0]);
      }),
      { numRuns: 200 },
    );
  });
});
