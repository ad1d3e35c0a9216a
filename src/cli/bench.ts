/**
 * `passthrough bench`: the translation benchmark of ../shared/bench/SPEC.md, run on the
 * simulator's real translate path. Tables are built in a PhysicalMemory table pool exactly as
 * SPEC section 4 prescribes; the timed loop calls SecondLevelTranslator.translate, the same
 * method the DMAR unit calls after resolving a context entry (W1 without IOTLB, W2/W3 with a
 * 256 x 4 Iotlb). Generation and request streams are untimed (SPEC section 10).
 */
import { parseScenario } from "../scenario/index.js";
import { PhysicalMemory } from "../sim/memory.js";
import { runScenario } from "../sim/run.js";
import { FORWARD_ONLY_POLICY } from "../trace/checkpoints.js";
import { Iotlb } from "../sim/vtd/iotlb.js";
import { SlptWalker } from "../sim/vtd/slpt.js";
import { compileWasm, DmaBurst, SecondLevelTranslator } from "../sim/vtd/translate.js";
import { Trace } from "../trace/trace.js";
import { BENCH_FOLD_WASM } from "./benchFoldWasm.js";

export const TABLE_BASE = 0x10000000;
const M_4K = 262144;
const N_1G = 8;
const N_2M = 64;
const N_BAD = 64;
export const N_HOT = 512;
export const N_WS = 65536;
const BAD_PTR_HI = 0x00007fff;
const BAD_PTR_LO = 0xfffff000;
const TWO32 = 4294967296;
const FAULT_CODES = [0x04, 0x05, 0x06, 0x07, 0x0c] as const;

/**
 * splitmix64 on uint32 halves (SPEC section 2), so that generating 30 M requests needs no BigInt.
 * next() leaves the value in hi/lo.
 */
export class SplitMix64 {
  hi = 0;
  lo = 0;
  private sHi: number;
  private sLo: number;
  constructor(seed: number) {
    this.sHi = 0;
    this.sLo = seed >>> 0;
  }
  next(): void {
    // state += 0x9E3779B97F4A7C15
    const lo = this.sLo + 0x7f4a7c15;
    this.sHi = (this.sHi + 0x9e3779b9 + (lo >= TWO32 ? 1 : 0)) >>> 0;
    this.sLo = lo >>> 0;
    let h = this.sHi;
    let l = this.sLo;
    // z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    l = (l ^ ((l >>> 30) | (h << 2))) >>> 0;
    h = (h ^ (h >>> 30)) >>> 0;
    mul64(h, l, 0xbf58476d, 0x1ce4e5b9);
    h = mulHi;
    l = mulLo;
    // z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    l = (l ^ ((l >>> 27) | (h << 5))) >>> 0;
    h = (h ^ (h >>> 27)) >>> 0;
    mul64(h, l, 0x94d049bb, 0x133111eb);
    h = mulHi;
    l = mulLo;
    // z ^ (z >> 31)
    this.lo = (l ^ ((l >>> 31) | (h << 1))) >>> 0;
    this.hi = (h ^ (h >>> 31)) >>> 0;
  }
  /** The top k bits of the last value (k <= 32), as SPEC's "x >> (64 - k)". */
  top(k: number): number {
    return this.hi >>> (32 - k);
  }
  big(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

let mulHi = 0;
let mulLo = 0;
/** (a * b) mod 2^64 on uint32 halves, through 16-bit limbs (every partial sum is exact in a double). */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff, a1 = aLo >>> 16, a2 = aHi & 0xffff, a3 = aHi >>> 16;
  const b0 = bLo & 0xffff, b1 = bLo >>> 16, b2 = bHi & 0xffff, b3 = bHi >>> 16;
  let c = a0 * b0;
  const r0 = c % 65536;
  c = Math.floor(c / 65536) + a1 * b0 + a0 * b1;
  const r1 = c % 65536;
  c = Math.floor(c / 65536) + a2 * b0 + a1 * b1 + a0 * b2;
  const r2 = c % 65536;
  c = Math.floor(c / 65536) + a3 * b0 + a2 * b1 + a1 * b2 + a0 * b3;
  const r3 = c % 65536;
  mulLo = (r1 * 65536 + r0) >>> 0;
  mulHi = (r3 * 65536 + r2) >>> 0;
}

export interface Tables {
  mem: PhysicalMemory;
  map4k: Float64Array;
  g1: number[];
  sp2m: number[];
  bad: number[];
  hot: Float64Array;
  ws: Float64Array;
  mapped: Set<number>;
}

export /** How a model writes the SPEC's entries: each returns the 64-bit entry as [lo, hi] halves. */
interface Encoding {
  /** The entry at `level` (SPEC numbering: 4 = top) pointing to the table page at `page`. */
  table(level: number, page: number): [number, number];
  /** A 4 KiB leaf (level 1) at `hpa`; `ro`: no write; `bad`: SPEC's "SNP" page, the model's reserved-encoding fault. */
  leaf4k(hpa: number, ro: boolean, bad: boolean): [number, number];
  /** A 2 MiB (level 2) or 1 GiB (level 3) leaf. */
  large(level: number, hpa: number): [number, number];
  /** SPEC 4.2's "read-only PDE": the level-2 table entry with writes denied below it. */
  readOnlyTable(lo: number, hi: number): [number, number];
  /** SPEC 4.5's level-2 entry pointing outside table memory. */
  badPointer(): [number, number];
  /** The entry is present (install follows it) */
  present(lo: number): boolean;
  /** The next-table address of a present table entry. */
  next(lo: number, hi: number): number;
  /** The entry is a leaf at `level` (for `mapped` / slot checks: a large page ends the descent). */
  isLeaf(level: number, lo: number, hi: number): boolean;
}

/**
 * VT-d second-level entries as SPEC section 3 writes them: tables R | W; 4 KiB leaves R, W unless
 * read-only, bit 11 (SNP, reserved on this unit: 0x0C) on the "SNP" page; large pages PS | R | W;
 * the read-only PDE clears W; the bad pointer 0x7FFFFFFFF000.
 */
const VTD_ENCODING: Encoding = {
  table: (_level, page) => [((page % TWO32) | 3) >>> 0, Math.floor(page / TWO32)],
  leaf4k: (hpa, ro, bad) => [((hpa % TWO32) | 1 | (ro ? 0 : 2) | (bad ? 0x800 : 0)) >>> 0, Math.floor(hpa / TWO32)],
  large: (_level, hpa) => [((hpa % TWO32) | 0x83) >>> 0, Math.floor(hpa / TWO32)],
  readOnlyTable: (lo, hi) => [(lo & ~2) >>> 0, hi],
  badPointer: () => [(BAD_PTR_LO | 3) >>> 0, BAD_PTR_HI],
  present: (lo) => (lo & 3) !== 0,
  next: (lo, hi) => (hi & 0xffff) * TWO32 + ((lo & 0xfffff000) >>> 0),
  isLeaf: (level, lo) => level > 1 && (lo & 0x80) !== 0,
};

/** SPEC section 4 in VT-d's format. */
export function generate(extraSram = 0): Tables {
  return generateTables(VTD_ENCODING, extraSram);
}

/** SPEC 3: the index of `iova` in a level-`level` table (4 = top). */
export const index = (iova: number, level: number) => Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512;

/**
 * SPEC section 4, in order, on one generation stream (seed 42), with `enc` writing the entries:
 * VT-d's second-level format for the SPEC itself, AMD-Vi's and SMMUv3's for their adaptations
 * (benchModels.ts, bench/SPEC-*.md). One generator, so the three benchmarks draw the same tables.
 */
export function generateTables(enc: Encoding, extraSram = 0): Tables {
  const rng = new SplitMix64(42);
  const mem = new PhysicalMemory({ poolBase: TABLE_BASE, poolInitialPages: 170000, poolMaxPages: 200000, dramBytes: 0, sramBytes: 256 * 1024 + extraSram });
  mem.allocPage(); // page 0: the root
  const mapped = new Set<number>();
  /** SPEC 4.1 install(): missing tables allocated top-down with the model's table entry. */
  const slot = (iova: number, level: number): number => {
    let t = TABLE_BASE;
    for (let l = 4; l > level; l--) {
      const e = t + 8 * index(iova, l);
      mem.read64(e);
      if (!enc.present(mem.lo)) {
        const page = mem.allocPage();
        mem.write64(e, ...enc.table(l, page));
        t = page;
      } else t = enc.next(mem.lo, mem.hi);
    }
    return t + 8 * index(iova, level);
  };
  const install = (iova: number, level: number, [lo, hi]: [number, number]) => mem.write64(slot(iova, level), lo, hi);
  /** SPEC 4.1 peek: the level-`level` entry on iova's path is non-zero or a large page covers it. */
  const taken = (iova: number, level: number): boolean => {
    let t = TABLE_BASE;
    for (let l = 4; l > level; l--) {
      mem.read64(t + 8 * index(iova, l));
      if (!enc.present(mem.lo)) return false;
      if (enc.isLeaf(l, mem.lo, mem.hi)) return true;
      t = enc.next(mem.lo, mem.hi);
    }
    mem.read64(t + 8 * index(iova, level));
    return mem.lo !== 0 || mem.hi !== 0;
  };
  const drawPage = (): number => {
    for (;;) {
      rng.next();
      const p = rng.top(27) * 4096;
      if (!mapped.has(p / 4096)) return p;
    }
  };
  const map4k = new Float64Array(M_4K);
  for (let j = 0; j < M_4K; j++) {
    const iova = drawPage();
    rng.next();
    const hpa = (rng.hi >>> 4) * 4096; // (y >> 36) << 12
    install(iova, 1, enc.leaf4k(hpa, (rng.lo & 7) === 0, (j & 1023) === 1023));
    if ((j & 1023) === 511) {
      const e = slot(iova, 2);
      mem.read64(e);
      mem.write64(e, ...enc.readOnlyTable(mem.lo, mem.hi));
    }
    map4k[j] = iova;
    mapped.add(iova / 4096);
  }
  const g1: number[] = [];
  while (g1.length < N_1G) {
    rng.next();
    const iova = 2 ** 39 + rng.top(9) * 2 ** 30;
    if (taken(iova, 3)) continue;
    rng.next();
    install(iova, 3, enc.large(3, rng.top(10) * 2 ** 30));
    g1.push(iova);
  }
  const drawSlot = (): number => {
    for (;;) {
      rng.next();
      const iova = 2 ** 39 + rng.top(18) * 2 ** 21;
      if (!taken(iova, 2)) return iova;
    }
  };
  const sp2m: number[] = [];
  for (let k = 0; k < N_2M; k++) {
    const iova = drawSlot();
    rng.next();
    install(iova, 2, enc.large(2, rng.top(19) * 2 ** 21));
    sp2m.push(iova);
  }
  const bad: number[] = [];
  for (let k = 0; k < N_BAD; k++) {
    const iova = drawSlot();
    install(iova, 2, enc.badPointer());
    bad.push(iova);
  }
  const hot = new Float64Array(N_HOT);
  for (let k = 0; k < N_HOT; k++) {
    rng.next();
    hot[k] = map4k[rng.top(18)]!;
  }
  const ws = new Float64Array(N_WS);
  for (let i = 0; i < N_WS; i++) {
    rng.next();
    const sel = rng.top(6);
    const xlo = rng.lo;
    if (sel <= 55) ws[i] = map4k[xlo & 0x3ffff]!;
    else if (sel <= 59) ws[i] = sp2m[xlo & 63]! + ((xlo >>> 6) & 0x1ff) * 4096;
    else if (sel <= 61) ws[i] = g1[xlo & 7]! + ((xlo >>> 3) & 0x3ffff) * 4096;
    else if (sel === 62) ws[i] = drawPage();
    else ws[i] = bad[xlo & 63]! + ((xlo >>> 6) & 0x1ff) * 4096;
  }
  return { mem, map4k, g1, sp2m, bad, hot, ws, mapped };
}

export interface Requests {
  /** IOVA of request i: [2i] low dword, [2i + 1] high dword (the layout of a DmaBurst, so a chunk is one copy). */
  iova: Int32Array;
  write: Uint8Array;
}

/** SPEC section 5: one stream per workload. IOVAs stay below 2^49, exact as doubles. */
export function requests(t: Tables, workload: 1 | 2 | 3, n: number): Requests {
  const rng = new SplitMix64(42 + workload);
  const out: Requests = { iova: new Int32Array(2 * n), write: new Uint8Array(n) };
  for (let i = 0; i < n; i++) {
    rng.next();
    const aHi = rng.hi;
    const aLo = rng.lo;
    rng.next();
    const bLo = rng.lo;
    const isWrite = (bLo & 3) === 0;
    const off12 = (bLo >>> 2) & 0xfff;
    const off21 = (bLo >>> 2) & 0x1fffff;
    const off30 = bLo >>> 2;
    let iova: number;
    if (workload === 1) {
      const sel = aHi % 100;
      if (sel <= 89) iova = t.map4k[aLo & 0x3ffff]! + off12;
      else if (sel <= 93) iova = t.sp2m[aLo & 63]! + off21;
      else if (sel === 94) iova = t.g1[aLo & 7]! + off30;
      else if (sel <= 97) {
        for (;;) {
          rng.next();
          iova = rng.hi * 2 ** 7 + (rng.lo >>> 25); // next64() >> 25: 39 bits
          if (!t.mapped.has(Math.floor(iova / 4096))) break;
        }
      } else if (sel === 98) iova = t.bad[aLo & 63]! + off21;
      else {
        rng.next();
        iova = rng.hi * 2 ** 17 + (rng.lo >>> 15); // next64() >> 15: 49 bits
      }
    } else if (workload === 2) {
      iova = t.hot[aHi >>> 23]! + off12; // a >> 55
    } else {
      // u = (a >> 11) * 2^-53, exact; p = u^6 in this order, binary64, no FMA.
      const u = (aHi * 2 ** 21 + (aLo >>> 11)) * 2 ** -53;
      let p = u * u;
      p = p * u;
      p = p * p;
      iova = t.ws[Math.floor(p * 65536)]! + off12;
    }
    out.iova[2 * i + 1] = Math.floor(iova / TWO32);
    out.iova[2 * i] = iova % TWO32 | 0;
    out.write[i] = isWrite ? 1 : 0;
  }
  return out;
}

interface Result {
  ok: number;
  faults: number[];
  h1: number;
  h2: number;
  hits: number;
  misses: number;
}

/** Requests per burst: the burst's requests and results stay in the CPU caches between the core and the fold. */
const CHUNK = 4096;

/** The result fold (bench-fold.wat) on the simulated memory, its state in the SRAM arena. */
export interface Fold {
  reset(state: number): void;
  /** Folds n results at `results`, and copies the next burst's m requests from src/srcW to dst/dstW. */
  fold(results: number, n: number, src: number, dst: number, srcW: number, dstW: number, m: number): void;
}

export function resultFold(mem: PhysicalMemory): { fold: Fold; state: number } {
  const fold = new WebAssembly.Instance(compileWasm(BENCH_FOLD_WASM), { sim: { memory: mem.memory } }).exports as unknown as Fold;
  return { fold, state: mem.allocSram(64 + 4 * 256, 64) };
}

/** SRAM arena bytes the request stream of `n` requests takes in simulated memory (StreamAt). */
export const streamBytes = (n: number) => (n + CHUNK) * 9 + 16;

/** Where a workload's request stream lies in the simulated memory: IOVAs (8 bytes each, a DmaBurst's layout) and write flags. */
export interface StreamAt {
  iova: number;
  write: number;
}

/** The fold's counter slot of a fault word (bench-fold.wat): a byte is its own slot. */
export const foldSlot = (word: number) => (word ^ (word >>> 8)) & 0xff;

/**
 * The fold's state after a run: the hash words, the successes and the count of each fault word of
 * `keys`; a fault counted in any other slot (a word the benchmark does not expect) throws.
 */
export function readFold(mem: PhysicalMemory, state: number, keys: readonly number[], what: string): { ok: number; faults: number[]; h1: number; h2: number } {
  // [0] h1, [1] h2, [2] successes, [16 + slot] faults in that slot
  const s = new Int32Array(mem.memory.buffer, state, 16 + 256);
  const faults = keys.map((c) => s[16 + foldSlot(c)]!);
  const sum = (a: Iterable<number>) => [...a].reduce((x, v) => x + v, 0);
  if (sum(s.subarray(16)) !== sum(faults)) throw new Error(`${what}: unexpected fault word`);
  return { ok: s[2]!, faults, h1: s[0]! >>> 0, h2: s[1]! >>> 0 };
}

/** A stream of `n` requests in the SRAM arena (streamBytes(n) of it), with a burst's worth of slack after it for the fold's copy. */
export function allocStream(mem: PhysicalMemory, n: number): StreamAt {
  return { iova: mem.allocSram(8 * (n + CHUNK), 8), write: mem.allocSram(n + CHUNK, 1) };
}

/** A workload's requests into the stream (untimed). */
export function loadStream(mem: PhysicalMemory, s: StreamAt, r: Requests): void {
  new Int32Array(mem.memory.buffer, s.iova, r.write.length * 2).set(r.iova);
  new Uint8Array(mem.memory.buffer, s.write, r.write.length).set(r.write);
}

/**
 * The timed loop (SPEC sections 6-8): every request through the simulator's translate step, in
 * stream order, in bursts of CHUNK: each burst's requests copied into the DmaBurst, translated by
 * the core, folded. The copy of burst k + 1 runs in the fold of burst k (bench-fold.wat), so the
 * stream lies in the simulated memory (`s`) where the fold reads it.
 */
function translateAll(x: SecondLevelTranslator, burst: DmaBurst, fold: Fold, s: StreamAt, n: number): void {
  const results = burst.resultsOffset;
  const dst = burst.requestsOffset;
  const dstW = burst.writesOffset;
  fold.fold(results, 0, s.iova, dst, s.write, dstW, Math.min(CHUNK, n));
  for (let start = 0; start < n; start += CHUNK) {
    const m = Math.min(CHUNK, n - start);
    x.translateBatch(1, TABLE_BASE, 4, 48, burst, m);
    const next = start + m;
    fold.fold(results, m, s.iova + 8 * next, dst, s.write + next, dstW, Math.min(CHUNK, n - next));
  }
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

export interface BenchOptions {
  /** Also print the SPEC section 9 checkpoints (through `log`) from the tables this run uses. */
  dump?: boolean;
  /** Progress lines (generation, per-repetition Mtps); the JSON line is the return value. */
  log?: (line: string) => void;
}

export function runBench(n: number, reps: number, opts: BenchOptions = {}): string {
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(reps) && reps >= 1 && reps <= 16)) throw new RangeError("bench: N must be >= 1 and REPS 1..16");
  const log = opts.log ?? (() => {});
  const t = generate(streamBytes(n));
  log(`generated ${t.mem.poolPages} table pages`);
  if (opts.dump) for (const line of dumpLines(t)) log(line);
  const walker = new SlptWalker(t.mem, { haw: 48, deviceTlb: false, snoopControl: false, superpage2M: true, superpage1G: true });
  const burst = new DmaBurst(t.mem, CHUNK);
  const { fold, state } = resultFold(t.mem);
  const stream = allocStream(t.mem, n);
  const parts: string[] = [`"impl":"ts"`, `"n":${n}`, `"reps":${reps}`, `"table_pages":${t.mem.poolPages}`];
  for (const w of [1, 2, 3] as const) {
    loadStream(t.mem, stream, requests(t, w, n)); // untimed (SPEC section 10)
    const iotlb = w === 1 ? null : new Iotlb(256, 4, t.mem);
    const x = new SecondLevelTranslator(walker, iotlb);
    const runs: number[] = [];
    let first: Result | undefined;
    for (let rep = 0; rep < reps; rep++) {
      iotlb?.invalidateAll();
      x.hits = 0;
      x.misses = 0;
      fold.reset(state);
      const t0 = process.hrtime.bigint();
      translateAll(x, burst, fold, stream, n);
      const t1 = process.hrtime.bigint();
      const res: Result = { ...readFold(t.mem, state, FAULT_CODES, `W${w}`), hits: x.hits, misses: x.misses };
      runs.push(n / (Number(t1 - t0) / 1e9) / 1e6);
      if (first === undefined) first = res;
      else if (JSON.stringify(res) !== JSON.stringify(first)) throw new Error(`W${w}: repetition ${rep + 1} disagrees with repetition 1`);
      log(`w${w} rep ${rep + 1}: ${runs[rep]!.toFixed(2)} Mtps`);
    }
    const r = first!;
    const faults = FAULT_CODES.map((c, i) => `"0x${c.toString(16).padStart(2, "0")}":${r.faults[i]}`).join(",");
    parts.push(`"w${w}_mtps":${Math.max(...runs).toFixed(2)}`, `"w${w}_runs":[${runs.map((v) => v.toFixed(2)).join(",")}]`, `"w${w}_ok":${r.ok}`, `"w${w}_faults":{${faults}}`, `"w${w}_hash":"0x${hex8(r.h2)}${hex8(r.h1)}"`);
    if (w !== 1) parts.push(`"w${w}_hits":${r.hits}`, `"w${w}_misses":${r.misses}`);
  }
  return `{${parts.join(",")}}`;
}

/** SPEC section 9 checkpoints. */
export function benchDump(): string[] {
  return dumpLines(generate());
}

function dumpLines(t: Tables): string[] {
  const h = (v: number) => `0x${v.toString(16)}`;
  const rng = new SplitMix64(42);
  const first: string[] = [];
  for (let i = 0; i < 3; i++) {
    rng.next();
    first.push(`0x${rng.big().toString(16).padStart(16, "0")}`);
  }
  const pte = (iova: number, level: number) => {
    let tbl = TABLE_BASE;
    for (let l = 4; l >= level; l--) {
      t.mem.read64(tbl + 8 * (Math.floor(iova / 2 ** (12 + 9 * (l - 1))) % 512));
      if (l === level) break;
      tbl = (t.mem.hi & 0xffff) * TWO32 + ((t.mem.lo & 0xfffff000) >>> 0);
    }
    return `0x${((BigInt(t.mem.hi) << 32n) | BigInt(t.mem.lo)).toString(16).padStart(16, "0")}`;
  };
  const reqs = (w: 1 | 2 | 3) => {
    const r = requests(t, w, 4);
    return Array.from({ length: 4 }, (_, i) => `${h(r.iova[2 * i + 1]! * TWO32 + (r.iova[2 * i]! >>> 0))}${r.write[i] ? "W" : "R"}`).join(" ");
  };
  return [
    `splitmix64(42) first 3: ${first.join(" ")}`,
    `table_pages ${t.mem.poolPages}`,
    `map4k[0..3]: ${Array.from(t.map4k.slice(0, 4), h).join(" ")}`,
    `map4k[262143] ${h(t.map4k[M_4K - 1]!)}`,
    `pte(map4k[0]) ${pte(t.map4k[0]!, 1)}`,
    `g1[0] ${h(t.g1[0]!)} pte ${pte(t.g1[0]!, 3)}`,
    `sp2m[0] ${h(t.sp2m[0]!)} pte ${pte(t.sp2m[0]!, 2)}`,
    `bad[0] ${h(t.bad[0]!)}`,
    `hot[0] ${h(t.hot[0]!)} hot[511] ${h(t.hot[N_HOT - 1]!)}`,
    `ws[0] ${h(t.ws[0]!)} ws[65535] ${h(t.ws[N_WS - 1]!)}`,
    `w1 req[0..3]: ${reqs(1)}`,
    `w2 req[0..3]: ${reqs(2)}`,
    `w3 req[0..3]: ${reqs(3)}`,
  ];
}

// ---------------------------------------------------------------- the scenario path

const SCENARIO_HEAD = `host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1, driver: pcieport }
    - { bdf: "01:00.0", id: "8086:1572", name: X710 10GbE, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: web01
    memory: 4GiB
    devices: ["01:00.0"]
workload:
  - start: web01
`;

/**
 * The two shapes of a million-event scenario (issue 15): one 4 KiB \`dma\` step repeated, and
 * 4 000 steps of 1 MiB each (256 transactions, 64 buffers in turn, reads and writes alternating).
 * `scale` shrinks both for tests.
 */
export function benchScenarios(scale = 1): { name: string; text: string }[] {
  const repeat = Math.max(1, Math.round(1_000_000 * scale));
  const steps = Math.max(1, Math.round(4000 * scale));
  const one = `${SCENARIO_HEAD}  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 4KiB, write: true, repeat: ${repeat} }\n`;
  const many: string[] = [SCENARIO_HEAD];
  for (let i = 0; i < steps; i++) many.push(`  - dma: { device: "01:00.0", iova: 0x${(0x10000000 + (i % 64) * 0x100000).toString(16)}, length: 1MiB, write: ${i % 2 === 0} }\n`);
  return [
    { name: `one dma step repeated ${repeat} times`, text: one },
    { name: `${steps} dma steps of 1 MiB`, text: many.join("") },
  ];
}

/**
 * The scenario path timed as \`passthrough simulate\` runs it (parse, validate, host boot, every
 * step, the trace): one line per shape, best of `reps`, with the trace's bytes per event (its
 * columns, spare room included). Lines never start with "{": compare.sh reads the last line that
 * does, the SPEC result.
 */
export function runScenarioBench(reps = 3, scale = 1): string[] {
  const out: string[] = [];
  for (const { name, text } of benchScenarios(scale)) {
    const times: number[] = [];
    let line = "";
    for (let rep = 0; rep < reps; rep++) {
      const t0 = process.hrtime.bigint();
      const parsed = parseScenario(text, "bench.passthrough.yaml");
      const run = parsed.scenario === undefined ? undefined : runScenario(parsed.scenario, { checkpoints: FORWARD_ONLY_POLICY }).run;
      const t1 = process.hrtime.bigint();
      if (run === undefined) throw new Error(`bench scenario "${name}" did not run`);
      times.push(Number(t1 - t0) / 1e9);
      const t = run.trace;
      line = `${t.length} events, trace ${((t.capacity * Trace.BYTES_PER_EVENT) / t.length).toFixed(1)} B/event`;
    }
    out.push(`scenario "${name}": ${Math.min(...times).toFixed(3)} s (${times.map((v) => v.toFixed(3)).join(" / ")}), ${line}`);
  }
  return out;
}
