/**
 * `passthrough bench --model amd-vi|smmuv3`: the SPEC workloads (../shared/bench/SPEC.md) adapted to
 * the AMD-Vi v1 page table and to the SMMUv3 stage-1 AArch64 4 KiB table (bench/SPEC-amdvi.md,
 * bench/SPEC-smmuv3.md), timed through the unit's own translate() - the call every `dma`
 * transaction of that model makes (AmdViUnit.dmaRequest / SmmuV3Unit.dmaRequest) - with the
 * unit's caches and its event log / event queue. The JSON line has the keys of SPEC section 10;
 * the fault keys are the model's fault words (SPEC-amdvi.md section 6, SPEC-smmuv3.md section 6).
 *
 * Generation follows SPEC section 4 draw for draw: the same PRNG streams, the same IOVAs, the same
 * bump order of table pages (so table_pages is SPEC's 166 513); only the bytes of each entry are
 * the model's encoding (`Encoding`). The configuration (device table / stream table, CD, queues)
 * is set up by the model's Linux driver after generation, in pages above the tables.
 */
import { PhysicalMemory } from "../sim/memory.js";
import { AmdIommuDriver, type AmdDomain } from "../sim/amdvi/driver.js";
import { AmdViUnit } from "../sim/amdvi/unit.js";
import { MMIO_EVT_HEAD_OFFSET, MMIO_EVT_TAIL_OFFSET, MMIO_STATUS_OFFSET, STATUS_EVT_OVERFLOW } from "../sim/amdvi/defs.js";
import { ArmSmmuV3Driver } from "../sim/smmuv3/driver.js";
import { DEFAULT_SMMU_SPEC, SmmuV3Unit } from "../sim/smmuv3/unit.js";
import type { DmaBurst } from "../sim/vtd/translate.js";
import { CORE_FAULT_HI } from "../sim/vtd/translateCoreLayout.js";
import { N_HOT, N_WS, TABLE_BASE, allocStream, foldSlot, generateTables, index, loadStream, readFold, requests, resultFold, streamBytes, type Encoding, type Fold, type StreamAt, type Tables } from "./bench.js";

export type BenchModel = "amd-vi" | "smmuv3";
export const BENCH_MODELS: readonly BenchModel[] = ["amd-vi", "smmuv3"];

const TWO32 = 4294967296;

const lo32 = (v: number) => v % TWO32 >>> 0;
const hi32 = (v: number) => Math.floor(v / TWO32);

/**
 * AMD-Vi v1 (AMD IOMMU spec 48882 section 2.2.3, Figures "I/O Page Table Entry" / "PDE"; Linux
 * amd/io_pgtable.c): bit 0 PR, 11:9 Next Level, 51:12 address, 60 FC, 61 IR, 62 IW. Tables as
 * Linux's PM_LEVEL_PDE (PR | IR | IW | Next Level = level - 1); leaves as iommu_v1_map_pages
 * (PR | FC | IR | IW?, Next Level 0 at the page's natural level: 2 MiB at level 2, 1 GiB at 3).
 */
const IR_HI = 1 << 29;
const IW_HI = 1 << 30;
const FC_HI = 1 << 28;
export const AMD_BAD_PTR = 0x00007ffffffff000;
const amdEncoding: Encoding = {
  table: (level, page) => [(lo32(page) | ((level - 1) << 9) | 1) >>> 0, (hi32(page) | IR_HI | IW_HI) >>> 0],
  // The "SNP" page: Next Level 1 at level 1 - an invalid level encoding (IO_PAGE_FAULT, PR | RZ).
  leaf4k: (hpa, ro, bad) => [(lo32(hpa) | 1 | (bad ? 1 << 9 : 0)) >>> 0, (hi32(hpa) | FC_HI | IR_HI | (ro ? 0 : IW_HI)) >>> 0],
  large: (_level, hpa) => [(lo32(hpa) | 1) >>> 0, (hi32(hpa) | FC_HI | IR_HI | IW_HI) >>> 0],
  readOnlyTable: (lo, hi) => [lo, (hi & ~IW_HI) >>> 0],
  badPointer: () => [(lo32(AMD_BAD_PTR) | (1 << 9) | 1) >>> 0, (hi32(AMD_BAD_PTR) | IR_HI | IW_HI) >>> 0],
  present: (lo) => (lo & 1) !== 0,
  next: (lo, hi) => (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0),
  isLeaf: (level, lo) => level > 1 && ((lo >>> 9) & 7) === 0,
};

/**
 * SMMUv3 stage 1, VMSAv8-64 4 KiB granule (Arm ARM D8.3.1; Linux io-pgtable-arm.c): bits 1:0 0b11
 * table (levels 0-2) or page (level 3), 0b01 block (levels 1-2); 47:12 address; leaves with
 * AttrIndx 1 (4:2), AP[1] unprivileged (6), AP[2] read-only (7), SH inner (9:8), AF (10), nG (11)
 * as arm_lpae_prot_to_pte + __arm_lpae_init_pte write them; APTable[1] (bit 62) denies writes below.
 * SPEC level L is Arm level 4 - L.
 */
const ARM_LEAF_ATTRS = 0x4 | 0x40 | 0x300 | 0x400 | 0x800;
/** Below the 44-bit output size (CD.IPS) so the walk reads it (F_WALK_EABT), outside table memory. */
export const SMMU_BAD_PTR = 0x00000ffffffff000;
const smmuEncoding: Encoding = {
  table: (_level, page) => [(lo32(page) | 3) >>> 0, hi32(page)],
  // The "SNP" page: output address bit 44 set, beyond CD.IPS = 44 bits (F_ADDR_SIZE).
  leaf4k: (hpa, ro, bad) => [(lo32(hpa) | 3 | ARM_LEAF_ATTRS | (ro ? 0x80 : 0)) >>> 0, (hi32(hpa) | (bad ? 1 << 12 : 0)) >>> 0],
  large: (_level, hpa) => [(lo32(hpa) | 1 | ARM_LEAF_ATTRS) >>> 0, hi32(hpa)],
  readOnlyTable: (lo, hi) => [lo, (hi | (1 << 30)) >>> 0],
  badPointer: () => [(lo32(SMMU_BAD_PTR) | 3) >>> 0, hi32(SMMU_BAD_PTR)],
  present: (lo) => (lo & 1) !== 0,
  next: (lo, hi) => (hi & 0xffff) * TWO32 + ((lo & 0xfffff000) >>> 0),
  isLeaf: (level, lo) => level > 1 && (lo & 3) === 1,
};

const ENCODINGS: Record<BenchModel, Encoding> = { "amd-vi": amdEncoding, smmuv3: smmuEncoding };

/** SPEC section 4 with the model's entry encoding (bench.ts generateTables: the same draws, the same page order); `extraSram` for a request stream. */
export function generateModel(model: BenchModel, extraSram = 0): Tables {
  return generateTables(ENCODINGS[model], extraSram);
}

/** The requester: device 01:00.0 (AMD device id / SMMU StreamID 0x100). */
export const BENCH_SID = 0x0100;

/** One model's unit, set up by its driver over the SPEC tables, as the timed loop drives it. */
interface BenchUnit {
  /** The model's fault words counted in the JSON, in order (SPEC-*.md section 6). */
  readonly faultKeys: readonly number[];
  /** Empty caches, event log and counters (untimed, before each repetition); `tlb`: W2/W3. */
  reset(tlb: boolean): void;
  /** The n requests of stream `s` through the unit, each result folded by `fold` (SPEC sections 6-8). */
  run(s: StreamAt, n: number, fold: Fold): void;
  readonly hits: number;
}

class AmdBench implements BenchUnit {
  // IO_PAGE_FAULT (code 2) and PAGE_TAB_HARDWARE_ERROR (code 4) as event[1] 31:16: code << 12 | flags (RW 0x020, PR 0x010, PE 0x040, RZ 0x080).
  readonly faultKeys = [0x2000, 0x2020, 0x2050, 0x2070, 0x2090, 0x20b0, 0x4000, 0x4020];
  readonly unit: AmdViUnit;
  private readonly empty: ReturnType<AmdViUnit["iotlb"]["snapshot"]>;
  constructor(mem: PhysicalMemory) {
    this.unit = new AmdViUnit(mem, { iotlbSets: 256, iotlbWays: 4, maxLevels: 4 });
    // Linux bring-up (device table, command buffer, event log, IommuEn), no interrupt remapping.
    const driver = new AmdIommuDriver(this.unit, mem, BENCH_SID, 4, 4, undefined, "off");
    driver.init();
    const d: AmdDomain = { did: 1, passThrough: false, root: TABLE_BASE, mode: 4, devids: new Set() };
    driver.domains.set(d.did, d);
    driver.attach(d, [BENCH_SID]);
    this.empty = this.unit.iotlb.snapshot();
  }
  reset(tlb: boolean): void {
    const u = this.unit;
    u.iotlb.restore(this.empty);
    // W1 has no IOTLB: the unit's caches bypassed (the DTE is read from the device table each time).
    u.bypassCaches = !tlb;
    u.counters.iotlbHits = 0;
    u.writeReg(MMIO_EVT_HEAD_OFFSET, 0n);
    u.writeReg(MMIO_EVT_TAIL_OFFSET, 0n);
    u.writeReg(MMIO_STATUS_OFFSET, BigInt(STATUS_EVT_OVERFLOW));
  }
  get hits(): number {
    return this.unit.counters.iotlbHits;
  }
  /**
   * The requests in bursts of the unit's translate core (AmdViUnit.translateBurst, the path of a
   * `dma` step's runs), each request the core hands back (a fault) through translate().
   */
  run(s: StreamAt, n: number, fold: Fold): void {
    const u = this.unit;
    runBursts(u, s, n, fold, (hi, lo, write, out, j) => {
      const r = u.translate(BENCH_SID, hi, lo, write);
      if (r === 0) {
        out[2 * j] = u.hpaLo;
        out[2 * j + 1] = u.hpaHi;
      } else {
        out[2 * j] = (r << 12) | (u.flags & 0xfff);
        out[2 * j + 1] = CORE_FAULT_HI;
      }
    });
  }
}

/** A unit whose translate core answers requests in bursts (AmdViUnit, SmmuV3Unit translateBurst). */
interface BurstUnit {
  readonly burst: DmaBurst | null;
  translateBurst(sid: number, from: number, n: number): number;
}

/**
 * The n requests of stream `s` in bursts of the unit's translate core (the path of a `dma` step's
 * runs), as bench.ts's translateAll: each burst's requests copied into the unit's DmaBurst by the
 * fold of the burst before (bench-fold.wat), translated, folded in order. A request the core hands
 * back goes through `one` (the unit's translate()), which writes its result (an address, or the
 * model's fault word with CORE_FAULT_HI) into the burst's results for the fold.
 */
function runBursts(u: BurstUnit, s: StreamAt, n: number, fold: Fold, one: (hi: number, lo: number, write: boolean, out: Int32Array, j: number) => void): void {
  const burst = u.burst!;
  const cap = burst.capacity;
  const results = burst.resultsOffset;
  const dst = burst.requestsOffset;
  const dstW = burst.writesOffset;
  fold.fold(results, 0, s.iova, dst, s.write, dstW, Math.min(cap, n));
  for (let start = 0; start < n; start += cap) {
    const m = Math.min(cap, n - start);
    for (let j = 0; ; j++) {
      j = u.translateBurst(BENCH_SID, j, m);
      if (j === m) break;
      // (Views taken here: one is replaced when the memory grows.)
      const req = burst.requests;
      one(req[2 * j + 1]! >>> 0, req[2 * j]! >>> 0, burst.writes[j] === 1, burst.results, j);
    }
    const next = start + m;
    fold.fold(results, m, s.iova + 8 * next, dst, s.write + next, dstW, Math.min(cap, n - next));
  }
}

class SmmuBench implements BenchUnit {
  // SMMUv3 event ids (IHI 0070 7.3): F_WALK_EABT, F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION.
  readonly faultKeys = [0x0b, 0x10, 0x11, 0x12, 0x13];
  private readonly units: [SmmuV3Unit, SmmuV3Unit];
  private unit: SmmuV3Unit;
  constructor(mem: PhysicalMemory) {
    // Two units over the same tables: W1's with no TLB (0 ways), W2/W3's with 256 x 4.
    const make = (ways: number) => {
      // OAS 44: CD.IPS = 44 bits (Linux arm_smmu_domain_finalise_s1: oas = smmu->ias).
      const u = new SmmuV3Unit(mem, { ...DEFAULT_SMMU_SPEC, oas: 44, tlbSets: 256, tlbWays: ways });
      const driver = new ArmSmmuV3Driver(u, mem);
      driver.init();
      const d = driver.allocDomain();
      d.pgd = TABLE_BASE; // the SPEC tables as the domain's TTB0
      driver.attach(d, [BENCH_SID]);
      return u;
    };
    this.units = [make(0), make(4)];
    this.unit = this.units[1];
  }
  private readonly emptyTlb = new Map<SmmuV3Unit, ArrayBuffer[]>();
  reset(tlb: boolean): void {
    const u = tlb ? this.units[1] : this.units[0];
    this.unit = u;
    const empty = this.emptyTlb.get(u) ?? u.tlb.snapshot();
    this.emptyTlb.set(u, empty);
    u.tlb.restore(empty);
    u.counters.tlbHits = 0;
    u.evtqProd = 0;
    u.evtqCons = 0;
  }
  get hits(): number {
    return this.unit.counters.tlbHits;
  }
  /**
   * The requests in bursts of the unit's translate core (SmmuV3Unit.translateBurst, the path of a
   * `dma` step's runs), each request the core hands back (a fault) through translate().
   */
  run(s: StreamAt, n: number, fold: Fold): void {
    const u = this.unit;
    runBursts(u, s, n, fold, (hi, lo, write, out, j) => {
      const r = u.translate(BENCH_SID, -1, hi, lo, write);
      out[2 * j] = r === 0 ? u.oa % TWO32 | 0 : r;
      out[2 * j + 1] = r === 0 ? (u.oa / TWO32) | 0 : CORE_FAULT_HI;
    });
  }
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
const faultKey = (model: BenchModel, c: number) => `0x${c.toString(16).padStart(model === "amd-vi" ? 4 : 2, "0")}`;

export interface ModelBenchOptions {
  log?: (line: string) => void;
}

/** The adapted SPEC run (section 10 of each SPEC file): one JSON line, the keys of the VT-d anchor's. */
export function runModelBench(model: BenchModel, n: number, reps: number, opts: ModelBenchOptions = {}): string {
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(reps) && reps >= 1 && reps <= 16)) throw new RangeError("bench: N must be >= 1 and REPS 1..16");
  const log = opts.log ?? (() => {});
  const t = generateModel(model, streamBytes(n));
  const tablePages = t.mem.poolPages;
  log(`${model}: generated ${tablePages} table pages`);
  const b: BenchUnit = model === "amd-vi" ? new AmdBench(t.mem) : new SmmuBench(t.mem);
  // The fold's counters are per slot: the model's fault words must not share one.
  if (new Set(b.faultKeys.map(foldSlot)).size !== b.faultKeys.length) throw new Error(`bench: ${model}'s fault words share a fold slot`);
  const { fold, state } = resultFold(t.mem);
  const stream = allocStream(t.mem, n);
  const parts: string[] = [`"impl":"ts-${model}"`, `"n":${n}`, `"reps":${reps}`, `"table_pages":${tablePages}`];
  for (const w of [1, 2, 3] as const) {
    loadStream(t.mem, stream, requests(t, w, n)); // untimed (SPEC section 10)
    const runs: number[] = [];
    let first: string | undefined;
    let r: ReturnType<typeof readFold> | undefined;
    let hits = 0;
    for (let rep = 0; rep < reps; rep++) {
      b.reset(w !== 1);
      fold.reset(state);
      const t0 = process.hrtime.bigint();
      b.run(stream, n, fold);
      const t1 = process.hrtime.bigint();
      hits = b.hits;
      r = readFold(t.mem, state, b.faultKeys, `W${w}`);
      const key = JSON.stringify([r, hits]);
      runs.push(n / (Number(t1 - t0) / 1e9) / 1e6);
      if (first === undefined) first = key;
      else if (key !== first) throw new Error(`W${w}: repetition ${rep + 1} disagrees with repetition 1`);
      log(`${model} w${w} rep ${rep + 1}: ${runs[rep]!.toFixed(2)} Mtps`);
    }
    const f = r!;
    const faults = b.faultKeys.map((c, i) => `"${faultKey(model, c)}":${f.faults[i]}`).join(",");
    parts.push(`"w${w}_mtps":${Math.max(...runs).toFixed(3)}`, `"w${w}_runs":[${runs.map((v) => v.toFixed(3)).join(",")}]`, `"w${w}_ok":${f.ok}`, `"w${w}_faults":{${faults}}`, `"w${w}_hash":"0x${hex8(f.h2)}${hex8(f.h1)}"`);
    if (w !== 1) parts.push(`"w${w}_hits":${hits}`, `"w${w}_misses":${n - hits}`);
  }
  return `{${parts.join(",")}}`;
}

/** The generation checkpoints of SPEC-amdvi.md / SPEC-smmuv3.md section 9 (identical in the C walker's --dump). */
export function modelBenchDump(model: BenchModel): string[] {
  const t = generateModel(model);
  const enc = ENCODINGS[model];
  const h = (v: number) => `0x${v.toString(16)}`;
  const entry = (iova: number, level: number) => {
    let tbl = TABLE_BASE;
    for (let l = 4; l > level; l--) {
      t.mem.read64(tbl + 8 * index(iova, l));
      tbl = enc.next(t.mem.lo, t.mem.hi);
    }
    t.mem.read64(tbl + 8 * index(iova, level));
    return `0x${hex8(t.mem.hi)}${hex8(t.mem.lo)}`;
  };
  const reqs = (w: 1 | 2 | 3) => {
    const r = requests(t, w, 4);
    return Array.from({ length: 4 }, (_, i) => `${h(r.iova[2 * i + 1]! * TWO32 + (r.iova[2 * i]! >>> 0))}${r.write[i] ? "W" : "R"}`).join(" ");
  };
  return [
    `table_pages ${t.mem.poolPages}`,
    `root[0] ${entry(0, 4)}`,
    `pte(map4k[0]) ${entry(t.map4k[0]!, 1)}`,
    `pte(map4k[1023]) ${entry(t.map4k[1023]!, 1)}`,
    `pde(map4k[511]) ${entry(t.map4k[511]!, 2)}`,
    `g1[0] ${h(t.g1[0]!)} pte ${entry(t.g1[0]!, 3)}`,
    `sp2m[0] ${h(t.sp2m[0]!)} pte ${entry(t.sp2m[0]!, 2)}`,
    `bad[0] ${h(t.bad[0]!)} pde ${entry(t.bad[0]!, 2)}`,
    `hot[0] ${h(t.hot[0]!)} hot[511] ${h(t.hot[N_HOT - 1]!)}`,
    `ws[0] ${h(t.ws[0]!)} ws[65535] ${h(t.ws[N_WS - 1]!)}`,
    `w1 req[0..3]: ${reqs(1)}`,
    `w2 req[0..3]: ${reqs(2)}`,
    `w3 req[0..3]: ${reqs(3)}`,
  ];
}
