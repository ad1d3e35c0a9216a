// The SMMUv3 stage-1 bursts of the WebAssembly core (translate-core.template.mjs $armBurst:
// SmmuV3Unit.translateBurst and the `dma` step's runs), TLB in the SRAM arena, against the unit's
// TypeScript path (translate() with the walk loop it keeps for trails: recordTrail), on random
// VMSAv8-64 4 KiB tables - table, block and page descriptors, reserved types, blocks at level 0,
// AF clear, AP / APTable / XN bits, output addresses beyond the OAS, tables in sparse DRAM and
// beyond it - with random requests (repeated ones hit the TLB; some beyond the 48-bit input
// range): the same verdict for every request (output address, permission, level, TLB hit, stage,
// event id), the same counters, event queue and TLB (every field of every way, every
// round-robin pointer, the filled sizes). The bursts answer faults (their events written as the
// unit takes the results); some tables point into the event queue, whose records a later walk of
// the same burst would read before they are written (such a walk goes back to translate()).
// Halfway through a burst test some table descriptors become blocks without an invalidation, so
// that stale entries of several sizes hold the same input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { ArmSmmuV3Driver } from "../../src/sim/smmuv3/driver.js";
import { DEFAULT_SMMU_SPEC, SmmuV3Unit, type SmmuSpec } from "../../src/sim/smmuv3/unit.js";
import { CR0_EVTQEN, F_PERMISSION, STALL_MODEL_FORCE } from "../../src/sim/smmuv3/spec.js";
import { DmaTally, type DmaTransfer } from "../../src/sim/dma.js";
import { Trace } from "../../src/trace/trace.js";
import { prng } from "./prng.js";

const BASE = 0x10000000;
/** 4 GiB of DRAM: a table below it reads zeros (sparse), above it is unreadable (F_WALK_EABT). */
const DRAM = 2 ** 32;
const SID = 0x100;

/** Random stage-1 tables (Arm levels 0..3, 4 KiB granule); entries at indices 0..4 of each table. */
function buildTables(mem: PhysicalMemory, r: () => number): number {
  const table = (level: number): number => {
    const page = mem.allocPage();
    for (let idx = 0; idx < 5; idx++) {
      if (r() < 0.1) continue;
      let addr: number;
      let lo: number;
      let hi = 0;
      if (level < 3 && r() < 0.6) {
        const where = r();
        addr = where < 0.9 ? table(level + 1) : where < 0.95 ? 0x7fff0000 : 2 ** 40;
        lo = 3;
        // APTable (62:61), UXNTable (60), PXNTable (59), sometimes.
        if (r() < 0.2) hi = Math.floor(r() * 16) << 27;
      } else {
        const size = 2 ** (12 + 9 * (3 - level));
        addr = Math.floor(r() * 2 ** 20) * size;
        if (addr >= 2 ** 44 || r() < 0.05) addr = (addr % 2 ** 44) + 2 ** 45; // beyond OAS 44: F_ADDR_SIZE
        // Page (L3, 0b11), block (0b01), rarely the other (reserved at L3, a table elsewhere: table-sized leaf).
        lo = level === 3 ? (r() < 0.93 ? 3 : 1) : 1;
        if (r() < 0.9) lo |= 0x400; // AF
        lo |= Math.floor(r() * 4) << 6; // AP[2:1]
        lo |= 0x4 | 0x300; // AttrIndx 1, SH inner
        hi = Math.floor(r() * 4) << 21; // PXN, UXN
      }
      lo = (lo | (addr % 2 ** 32 & 0xfffff000)) >>> 0;
      hi = (hi | (Math.floor(addr / 2 ** 32) & 0xffff)) >>> 0;
      mem.write64(page + idx * 8, lo, hi);
    }
    return page;
  };
  return table(0);
}

/**
 * A unit with Linux's bring-up and one stage-1 domain over `root` (OAS 44, as the benchmark's), of
 * `ias` input bits (48: the walk starts at level 0, the burst's unrolled walk; 39: level 1, $armWalk).
 */
function unitOver(mem: PhysicalMemory, root: number, sets: number, ways: number, ias = 48, queue: Partial<SmmuSpec> = {}, events: Events = "record"): SmmuV3Unit {
  const u = new SmmuV3Unit(mem, { ...DEFAULT_SMMU_SPEC, oas: 44, tlbSets: sets, tlbWays: ways, ...queue });
  const driver = new ArmSmmuV3Driver(u, mem);
  driver.init();
  const d = driver.allocDomain();
  d.pgd = root;
  d.ias = ias;
  driver.attach(d, [SID]);
  if (events === "cd-r0") {
    // CD.R (word 0 bit 45) cleared before any request reads the CD: faults are not recorded.
    const at = driver.cdAddress(SID, 0, false)!;
    mem.read64(at);
    mem.write64(at, mem.lo, (mem.hi & ~(1 << 13)) >>> 0);
  } else if (events === "evtq-off") {
    u.writeCr0(u.cr0 & ~CR0_EVTQEN);
  }
  return u;
}

/** Where fault records go: the event queue (Linux's set-up), nowhere under CD.R = 0, or a queue turned off (CR0.EVTQEN = 0). */
type Events = "record" | "cd-r0" | "evtq-off";

/** The result fields a view or the trace reads of the last request. */
function verdict(u: SmmuV3Unit, code: number) {
  return {
    code,
    oa: code === 0 ? u.oa : null,
    level: u.level,
    perm: u.perm,
    tlbHit: u.tlbHit,
    steHit: u.steHit,
    cdHit: u.cdHit,
    stage: u.stage,
    kind: u.kind,
    asid: u.asid,
    vmid: u.vmid,
    fate: u.fate,
    recorded: u.recorded,
    ev: [u.evS2, u.evClass, u.evIpa, u.evFetch],
    ipa: u.ipa,
    why: u.why,
    leafLevel: u.leafLevel,
    xlateKind: u.xlateKind,
  };
}

function cacheState(u: SmmuV3Unit) {
  return {
    tlb: u.tlb.snapshot().map((b) => [...new Uint8Array(b)]),
    shifts: u.tlb.shifts,
    counters: { ...u.counters },
    events: u.pendingEvents().map((e) => e.raw),
    // PROD with its overflow flag (a full queue loses records and toggles OVFLG).
    prod: u.evtqProd,
    stalled: u.stalled.length,
  };
}

/** IOVAs through the populated indices (sometimes an empty one, or bits beyond the input range). */
function iovaOf(r: () => number, ias = 48): [number, number] {
  let v = Math.floor(r() * 4096);
  for (let l = 0; l <= 3; l++) v += Math.floor(r() * 6) * 2 ** (12 + 9 * (3 - l));
  if (ias < 48 && r() < 0.9) v %= 2 ** ias;
  let hi = Math.floor(v / 2 ** 32);
  const lo = v % 2 ** 32 >>> 0;
  if (r() < 0.05) hi = (hi | (1 << (16 + Math.floor(r() * 16)))) >>> 0;
  return [hi >>> 0, lo];
}

/** Input hi:lo with its Arm level-`level` index (1..3) replaced by `idx`, its page offset by `off`. */
function siblingOf(hi: number, lo: number, level: number, idx: number, off: number): [number, number] {
  const ia = hi * 2 ** 32 + lo;
  const at = 2 ** (12 + 9 * (3 - level));
  const v = ia - (Math.floor(ia / at) % 512) * at + idx * at;
  const w = v - (v % 4096) + off;
  return [Math.floor(w / 2 ** 32) >>> 0, w % 2 ** 32 >>> 0];
}

const params = fc.record({
  seed: fc.integer(),
  geometry: fc.constantFrom([1, 0], [4, 1], [16, 2], [64, 4]),
  n: fc.integer({ min: 1, max: 120 }),
  ias: fc.constantFrom(48, 48, 39),
  // The event queue: 128 records, 4 (it overflows: OVFLG, lost records), or 4 with every fault
  // stalling (STALL_MODEL forced: CD.S = 1, each recorded fault held with its STAG).
  queue: fc.constantFrom<Partial<SmmuSpec>>({}, { evtqShift: 2 }, { evtqShift: 2, stallModel: STALL_MODEL_FORCE }),
  // Records written (mostly), suppressed by CD.R = 0, or with the queue off: a burst's faults whose
  // records cannot be written are taken together (SmmuV3Unit.takeUnwrittenFaults).
  events: fc.constantFrom<Events>("record", "record", "cd-r0", "evtq-off"),
  // How often a request repeats an earlier one's page: 0.9 makes runs of TLB hits (a 4-way TLB's
  // runs of 4 KiB hits go through $armHitRun4).
  again: fc.constantFrom(0.35, 0.9),
});

/**
 * Two memories with the same random tables and a unit each (their event queues at the same
 * address); with `intoQueue`, the root's entry 5 is a table descriptor pointing at the event
 * queue (IOVAs with level-0 index 5 walk through the records written so far).
 */
function twoUnits(seed: number, sets: number, ways: number, intoQueue: boolean, ias: number, queue: Partial<SmmuSpec>, events: Events = "record"): { r: () => number; ts: SmmuV3Unit; core: SmmuV3Unit; root: number } {
  const make = () => {
    const r = prng(seed);
    const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 4096, dramBytes: DRAM });
    const root = buildTables(mem, r);
    const u = unitOver(mem, root, sets, ways, ias, queue, events);
    const evq = u.evtqBase - (u.evtqBase % 32);
    if (intoQueue) mem.write64(root + 5 * 8, (evq | 3) >>> 0, Math.floor(evq / 2 ** 32));
    return { r, u, root };
  };
  const a = make();
  const b = make();
  expect(b.u.evtqBase).toBe(a.u.evtqBase);
  return { r: a.r, ts: a.u, core: b.u, root: a.root };
}

/**
 * The address of the table descriptor at Arm level `level` (1 or 2) on the walk of input hi:lo
 * from `root` (48-bit input, level 0 first), or -1 when the walk has no table descriptor there.
 */
function tableDescriptorAt(mem: PhysicalMemory, root: number, hi: number, lo: number, level: number): number {
  const ia = hi * 2 ** 32 + lo;
  let table = root;
  for (let l = 0; l <= level; l++) {
    const at = table + (Math.floor(ia / 2 ** (39 - 9 * l)) % 512) * 8;
    if (!mem.read64(at) || (mem.lo & 3) !== 3) return -1;
    if (l === level) return at;
    table = (mem.hi & 0xffff) * 2 ** 32 + (mem.lo & 0xfffff000);
  }
  return -1;
}

/** Burst result j as (code, oa, trace level, TLB hit bit) beside what translate() said of the request. */
function burstResult(u: SmmuV3Unit, j: number) {
  const res = u.burst!.results;
  const info = u.burst!.info[j]!;
  const code = res[2 * j + 1] === -1 ? res[2 * j]! : 0;
  return { code, oa: code === 0 ? (res[2 * j + 1]! >>> 0) * 2 ** 32 + (res[2 * j]! >>> 0) : null, level: info & 7, hit: (info & 8) !== 0 };
}

/**
 * The last translate() of `u` (recordTrail) walked and read a descriptor outside the table pool
 * or in the event queue - outside the pool in DRAM (sparse pages) when the walk started at level
 * 0 (`unrolled`: the burst's unrolled walk answers F_WALK_EABT, a read where no memory is, itself).
 */
function readsOutside(u: SmmuV3Unit, unrolled: boolean): boolean {
  const w = u.s1;
  const reads = Array.from(w.trailAddr.subarray(0, w.trailLen + (w.trailUnreadable ? 1 : 0)));
  const evq = u.evtqBase - (u.evtqBase % 32);
  const evqEnd = evq + 32 * 2 ** (u.evtqBase % 32);
  const outside = (a: number) => (a < u.mem.poolBase || a >= u.mem.poolBase + u.mem.poolBytes) && (!unrolled || a < u.mem.dramBytes);
  return !u.tlbHit && reads.some((a) => outside(a) || (a >= evq && a < evqEnd));
}

describe("SMMUv3 translate core bursts vs the unit's TypeScript path", () => {
  it("answers bursts of random requests on random tables as translate() does, request by request, faults included", () => {
    fc.assert(
      fc.property(params, fc.boolean(), ({ seed, geometry, n, ias, queue, events, again: repeat }, intoQueue) => {
        const [sets, ways] = geometry as [number, number];
        const { r, ts, core, root } = twoUnits(seed, sets, ways, intoQueue, ias, queue, events);
        ts.recordTrail = true; // the TypeScript walk (the views' path)
        // Warm the STE and CD caches as a first request would.
        expect(verdict(core, core.translate(SID, -1, 0, 0, false))).toEqual(verdict(ts, ts.translate(SID, -1, 0, 0, false)));
        const burst = core.burst!;
        expect(burst).not.toBeNull();
        const reqs: [number, number, boolean][] = [];
        for (let i = 0; i < n; i++) {
          // Repeat some requests (or their pages) so that the TLB answers them.
          const again = i > 0 && r() < repeat ? reqs[Math.floor(r() * i)]! : undefined;
          // Or somewhere else in the 1 GiB of an earlier request (other 2 MiB and 4 KiB pages of it).
          const near = again === undefined && i > 0 && r() < 0.2 ? reqs[Math.floor(r() * i)]! : undefined;
          // Or an earlier request with one level's index (Arm level 1, 2 or 3) another populated one
          // (0..5): its neighbours in the same 1 GiB or 2 MiB, whose walks share its upper tables
          // - once those become blocks halfway, inputs that TLB entries of several sizes hold -
          // and between repeats of earlier pages the misses a run of 4 KiB hits meets.
          const sibling = again === undefined && near === undefined && i > 0 && r() < 0.4 ? reqs[Math.floor(r() * i)]! : undefined;
          const [hi, lo] =
            again !== undefined
              ? [again[0], (again[1] & ~0xfff) + Math.floor(r() * 4096)]
              : near !== undefined
                ? [near[0], ((near[1] & 0xc0000000) | Math.floor(r() * 2 ** 30)) >>> 0]
                : sibling !== undefined
                  ? siblingOf(sibling[0], sibling[1], 1 + Math.floor(r() * 3), Math.floor(r() * 6), Math.floor(r() * 4096))
                  : iovaOf(r, ias);
          reqs.push([hi, lo >>> 0, r() < 0.5]);
        }
        reqs.forEach(([hi, lo, w], i) => {
          burst.requests[2 * i] = lo | 0;
          burst.requests[2 * i + 1] = hi | 0;
          burst.writes[i] = w ? 1 : 0;
        });
        // Halfway, some table descriptors become blocks in both memories (no invalidation): the TLB
        // then holds stale smaller entries beside new larger ones, and the smallest must answer.
        // (The table descriptors at level 1 or 2 on the walks of a few requests of the first half.)
        const half = Math.floor(n / 2);
        const blocks = Array.from({ length: 3 }, () => {
          const [hi, lo] = reqs[Math.floor(r() * Math.max(half, 1))]!;
          return tableDescriptorAt(ts.mem, root, hi, lo, r() < 0.5 ? 1 : 2);
        });
        for (let j = 0, end = half; j < n; ) {
          if (j === end) {
            for (const u of [ts, core]) {
              for (const at of blocks) {
                if (at >= 0 && u.mem.read64(at) && (u.mem.lo & 3) === 3) u.mem.write64(at, ((u.mem.lo & ~2) | 0x400 | 0x40) >>> 0, u.mem.hi);
              }
            }
            end = n;
          }
          const k = core.translateBurst(SID, j, end);
          for (; j < k; j++) {
            const [hi, lo, w] = reqs[j]!;
            const want = verdict(ts, ts.translate(SID, -1, hi, lo, w));
            // The burst's results and info bytes (a fault's without the hit bit), and the fields of its last request.
            const got = burstResult(core, j);
            expect(got).toEqual({ code: want.code, oa: want.oa, level: want.leafLevel, hit: want.code === 0 && want.tlbHit });
            if (j === k - 1) expect(verdict(core, got.code)).toEqual(want);
          }
          if (j === n) break;
          if (j === end) continue;
          const [hi, lo, w] = reqs[j]!;
          expect(verdict(core, core.translate(SID, -1, hi, lo, w))).toEqual(verdict(ts, ts.translate(SID, -1, hi, lo, w)));
          // The burst stops only where the core cannot decide: a walk that reads outside the table
          // pool (in DRAM, from level 0), or reads the event queue (faults - F_WALK_EABT from level
          // 0 included -, TLB hits and the input range are its own).
          expect(readsOutside(ts, ias === 48)).toBe(true);
          j++;
        }
        expect(cacheState(core)).toEqual(cacheState(ts));
      }),
      { numRuns: 300 },
    );
  });

  it("answers the requests between a run's 4 KiB hits as translate() does: 2 MiB and 1 GiB entries of one input (the smaller answers), walks, faults, hand-backs", () => {
    // Fixed tables, random permissions and requests: level-0 entry 0 -> T1; T1[0] -> T2 (1 GiB at
    // 0), T1[1] a 1 GiB block, T1[2] a table in sparse DRAM (a walk there goes back to translate()),
    // T1[3] invalid; T2[0] and T2[2] 2 MiB blocks, T2[1] -> T3 (4 KiB pages 0..7), T2[3] invalid.
    // At `flipAt` T1[0] becomes a 1 GiB block without an invalidation: the TLB's 4 KiB and 2 MiB
    // entries under it stay, a walk there fills a 1 GiB entry, and a later 4 KiB miss that a 2 MiB
    // and a 1 GiB entry both hold must take the 2 MiB one (SmmuTlb.lookup: smallest first). Most
    // requests repeat 4 KiB pages (the hit loop's runs), the others fall between them. OAS 48: the
    // odd pages and T2[2] lie at outputs of 2^44 and above (bits 47:44 set: the output page
    // number's bits the TLB keeps in a way's tag row, beside its key).
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 8, max: 160 }), fc.integer({ min: 0, max: 160 }), fc.integer({ min: 1, max: 64 }), (seed, n, flipAt, cut) => {
        const G = 2 ** 30;
        const M2 = 2 ** 21;
        const make = () => {
          const r = prng(seed);
          const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 64, dramBytes: DRAM });
          const [root, t1, t2, t3] = [mem.allocPage(), mem.allocPage(), mem.allocPage(), mem.allocPage()];
          // A page (level 3) or block, AF, AP[1], AttrIndx 1, SH inner; read-only (AP[2]) sometimes.
          const leaf = (at: number, oa: number, page: boolean) =>
            mem.write64(at, ((oa % 2 ** 32) | (page ? 3 : 1) | 0x400 | 0x40 | 0x304 | (r() < 0.3 ? 0x80 : 0)) >>> 0, Math.floor(oa / 2 ** 32));
          const table = (at: number, next: number) => mem.write64(at, (next | 3) >>> 0, 0);
          table(root, t1);
          table(t1, t2);
          leaf(t1 + 8, 5 * G, false);
          table(t1 + 16, 0x7fff0000);
          leaf(t2, 0x300 * M2, false);
          table(t2 + 8, t3);
          const HIGH = 0xb * 2 ** 44;
          leaf(t2 + 16, HIGH + 0x301 * M2, false);
          for (let p = 0; p < 8; p++) leaf(t3 + 8 * p, (p % 2 === 1 ? HIGH : 0) + 0x12345000 + p * 0x3000, true);
          const u = unitOver(mem, root, 64, 4, 48, { oas: 48 });
          return { r, u, t1 };
        };
        const a = make();
        const b = make();
        const [ts, core, r] = [a.u, b.u, a.r];
        ts.recordTrail = true;
        core.translate(SID, -1, 0, 0, false);
        ts.translate(SID, -1, 0, 0, false);
        const reqs: [number, number, boolean][] = [];
        for (let i = 0; i < n; i++) {
          const c = r();
          const off = Math.floor(r() * 4096);
          const ia =
            c < 0.55
              ? M2 + Math.floor(r() * 9) * 4096 + off // a 4 KiB page of T3 (page 8: invalid)
              : c < 0.7
                ? Math.floor(r() * 4) * M2 + Math.floor(r() * 512) * 4096 + off // T2's 2 MiB regions
                : c < 0.8
                  ? G + Math.floor(r() * 2 ** 30) // the 1 GiB block
                  : c < 0.86
                    ? Math.floor(r() * 2 ** 30) // anywhere in T1[0]'s 1 GiB
                    : c < 0.92
                      ? (2 + Math.floor(r() * 2)) * G + off // the DRAM table, the invalid entry
                      : c < 0.96
                        ? 2 ** 39 + off // beyond T1: level-0 entry 1, invalid
                        : 2 ** 48 + off; // beyond the input range
          reqs.push([Math.floor(ia / 2 ** 32), ia % 2 ** 32 >>> 0, r() < 0.5]);
        }
        const burst = core.burst!;
        reqs.forEach(([hi, lo, w], i) => {
          burst.requests[2 * i] = lo | 0;
          burst.requests[2 * i + 1] = hi | 0;
          burst.writes[i] = w ? 1 : 0;
        });
        // Bursts end at every multiple of `cut` and at flipAt, where T1[0] becomes a 1 GiB block.
        for (let j = 0; j < n; ) {
          if (j === flipAt) for (const x of [a, b]) x.u.mem.write64(x.t1, (6 * G + 0x400 + 0x40 + 0x304 + 1) >>> 0, 0);
          const end = Math.min(n, (Math.floor(j / cut) + 1) * cut, j < flipAt ? flipAt : n);
          const k = core.translateBurst(SID, j, end);
          for (; j < k; j++) {
            const [hi, lo, w] = reqs[j]!;
            const want = verdict(ts, ts.translate(SID, -1, hi, lo, w));
            expect(burstResult(core, j)).toEqual({ code: want.code, oa: want.oa, level: want.leafLevel, hit: want.code === 0 && want.tlbHit });
            if (j === k - 1) expect(verdict(core, burstResult(core, j).code)).toEqual(want);
          }
          if (j < end) {
            const [hi, lo, w] = reqs[j]!;
            expect(verdict(core, core.translate(SID, -1, hi, lo, w))).toEqual(verdict(ts, ts.translate(SID, -1, hi, lo, w)));
            expect(readsOutside(ts, true)).toBe(true);
            j++;
          }
        }
        expect(cacheState(core)).toEqual(cacheState(ts));
      }),
      { numRuns: 300 },
    );
  });

  it("leaves translate()'s permission and TLB hit when a burst ends in a run of 4 KiB hits, a permission fault included", () => {
    // The hit loop keeps the aux byte (permission, hit bit) of its run's last request only: a
    // burst whose last request it answers must still read as translate() left it.
    let hitsLast = 0;
    let faultsLast = 0;
    for (let seed = 1; seed <= 3000 && (hitsLast < 8 || faultsLast < 8); seed++) {
      const { r, ts, core } = twoUnits(seed, 64, 4, false, 48, {});
      const scout = twoUnits(seed, 64, 4, false, 48, {}).ts;
      // Requests whose walk ends at a 4 KiB page (Arm level 3), and the other access to such a page when refused.
      const ok: [number, number, boolean][] = [];
      const refused: [number, number, boolean][] = [];
      for (let t = 0; t < 2000 && (ok.length < 4 || refused.length < 2); t++) {
        const [hi, lo] = iovaOf(r);
        const w = r() < 0.5;
        const code = scout.translate(SID, -1, hi, lo, w);
        if (code !== 0 || scout.level !== 3 || scout.tlbHit || ok.length === 4) continue;
        ok.push([hi, lo, w]);
        // The other access to a page allowing one only: the TLB entry's permission fault.
        if (scout.translate(SID, -1, hi, lo, !w) === F_PERMISSION && refused.length < 2) refused.push([hi, lo, !w]);
      }
      const pages = [...ok, ...refused];
      if (ok.length === 0) continue;
      const last = refused.length > 0 && faultsLast <= hitsLast ? refused : ok;
      // Each page walked once, then 30 requests of them, the last one a hit of the hit loop.
      const reqs = [...pages, ...Array.from({ length: 30 }, () => pages[Math.floor(r() * pages.length)]!), last[0]!];
      const burst = core.burst!;
      core.translate(SID, -1, 0, 0, false);
      ts.translate(SID, -1, 0, 0, false);
      reqs.forEach(([hi, lo, w], i) => {
        burst.requests[2 * i] = lo | 0;
        burst.requests[2 * i + 1] = hi | 0;
        burst.writes[i] = w ? 1 : 0;
      });
      const k = core.translateBurst(SID, 0, reqs.length);
      expect(k).toBe(reqs.length);
      let want = 0;
      for (const [hi, lo, w] of reqs) want = ts.translate(SID, -1, hi, lo, w);
      expect(ts.tlbHit).toBe(true);
      expect(verdict(core, burstResult(core, k - 1).code)).toEqual(verdict(ts, want));
      if (want === 0) hitsLast++;
      else faultsLast++;
    }
    expect(hitsLast).toBeGreaterThanOrEqual(8);
    expect(faultsLast).toBeGreaterThanOrEqual(8);
  });

  it("gives a dma step's runs the trace and counters of translate() per transaction", () => {
    fc.assert(
      fc.property(params, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), ({ seed, geometry, ias, queue, events }, pages, repeat, intoQueue) => {
        const [sets, ways] = geometry as [number, number];
        const { r, ts, core } = twoUnits(seed, sets, ways, intoQueue, ias, queue, events);
        const units = [ts, core] as const;
        units[0].recordTrail = true;
        const [hi, lo] = iovaOf(r, ias);
        const base = Math.floor(lo / 4096) * 4096;
        const x: DmaTransfer = { sid: SID, baseHi: hi, baseLo: base, startOff: lo - base, pages, length: pages * 4096 - (lo - base), write: r() < 0.5 } as DmaTransfer;
        const out = units.map((u) => {
          u.translate(SID, -1, 0, 0, false);
          const trace = new Trace(8);
          const tally = new DmaTally();
          u.translateRun(x, 0, pages * repeat, trace, 1, tally);
          const cols = (["kind", "flags", "level", "reason", "did", "aHi", "aLo", "bHi", "bLo"] as const).map((c) => Array.from(trace[c] as ArrayLike<number>).slice(0, trace.length));
          return { cols, tally: { ...tally }, last: verdict(u, u.xlateKind), state: cacheState(u) };
        });
        expect(out[1]).toEqual(out[0]);
      }),
      // (The first: a TLB hit of a 4 KiB page taken by takeIotlbHits, whose trace level is 1, not the Arm level 3.)
      { numRuns: 400, examples: [[{ seed: -393963775, geometry: [64, 4], n: 1, ias: 48, queue: {}, events: "record", again: 0.35 }, 1, 2, false], [{ seed: 622954711, geometry: [4, 1], n: 1, ias: 48, queue: {}, events: "record", again: 0.35 }, 5, 2, false]] },
    );
  });

  it("keeps the TLB in the SRAM arena only when the memory has room for it (otherwise translate() alone)", () => {
    const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 16, dramBytes: DRAM, sramBytes: SmmuV3Unit.sramBytes(64, 4) - 64 });
    const u = unitOver(mem, mem.allocPage(), 64, 4);
    expect(u.burst).toBeNull();
    expect(u.translateBurst(SID, 0, 4)).toBe(0);
    const roomy = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 16, dramBytes: DRAM, sramBytes: SmmuV3Unit.sramBytes(64, 4) });
    expect(unitOver(roomy, roomy.allocPage(), 64, 4).burst).not.toBeNull();
  });
});
