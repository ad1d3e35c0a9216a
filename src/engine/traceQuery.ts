/**
 * Queries over a run's trace for the DMA Trace webview: a filter turns the trace into a list of
 * matching event indices (a Uint32Array, built once per filter and run); pages of rows are
 * columns over that list; a timeline bins events and faults; a comparison with the previous run
 * marks events added or changed per step. All columnar: no object per event anywhere.
 */
import type { Run } from "../sim/run.js";
import type { Scenario } from "../scenario/types.js";
import { EventKind, F_IOTLB_HIT, F_WRITE, type Trace } from "../trace/trace.js";

/** What the result column can say; the filter's `results` picks among these. */
export const enum ResultKind {
  Hit = 1,
  Walk = 2,
  Fault = 3,
  Interrupt = 4,
  SlowPath = 5,
}

export interface TraceFilter {
  /** Requester ids to keep (empty or absent: all). */
  sids?: number[];
  /** VM names: keeps events of the devices assigned to them. */
  vms?: string[];
  results?: ResultKind[];
  reasons?: number[];
  /** Inclusive IOVA range, hex or decimal text. */
  iovaMin?: string;
  iovaMax?: string;
  /** Free text matched against the row's device, op and hex addresses. */
  text?: string;
}

export interface TraceSummary {
  total: number;
  matched: number;
  faults: number;
  byResult: Record<number, number>;
  byReason: Record<number, number>;
}

export function resultOf(t: Trace, i: number): ResultKind {
  const k = t.kind[i]!;
  if (k === EventKind.Interrupt) return ResultKind.Interrupt;
  if (k !== EventKind.Dma) return ResultKind.SlowPath;
  if (t.reason[i] !== 0) return ResultKind.Fault;
  return t.flags[i]! & F_IOTLB_HIT ? ResultKind.Hit : ResultKind.Walk;
}

function parseBig(text: string | undefined): bigint | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  try {
    return BigInt(text.trim().replace(/_/g, ""));
  } catch {
    return undefined;
  }
}

/** The filtered view of one run. */
export class TraceQuery {
  private readonly cache = new Map<string, Uint32Array>();

  constructor(
    readonly run: Run,
    readonly scenario: Scenario,
    /** requester id -> device key, for text search and the device column. */
    readonly deviceOfSid: (sid: number) => string,
  ) {}

  get trace(): Trace {
    return this.run.trace;
  }

  /** Indices of the events the filter keeps, in trace order. Cached per filter. */
  match(filter: TraceFilter): Uint32Array {
    const key = JSON.stringify(filter);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const t = this.trace;
    const n = t.length;
    const sids = new Set(filter.sids ?? []);
    if (filter.vms?.length) {
      const pci = this.run.machine.pci;
      for (const vm of this.scenario.vms) if (filter.vms.includes(vm.name)) for (const key of vm.devices) {
        const dev = pci.device(key);
        if (dev) for (const a of pci.dmaAliases(dev)) sids.add(a);
      }
    }
    const results = new Set(filter.results ?? []);
    const reasons = new Set(filter.reasons ?? []);
    const lo = parseBig(filter.iovaMin);
    const hi = parseBig(filter.iovaMax);
    const text = filter.text?.trim().toLowerCase() ?? "";
    const out = new Uint32Array(n);
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (sids.size && !sids.has(t.sid[i]!)) continue;
      if (results.size && !results.has(resultOf(t, i))) continue;
      if (reasons.size && !reasons.has(t.reason[i]!)) continue;
      if (lo !== undefined || hi !== undefined) {
        const k = t.kind[i]!;
        if (k !== EventKind.Dma && k !== EventKind.Interrupt && k !== EventKind.Map && k !== EventKind.Unmap) continue;
        const a = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
        if ((lo !== undefined && a < lo) || (hi !== undefined && a > hi)) continue;
      }
      if (text && !this.rowText(i).includes(text)) continue;
      out[m++] = i;
    }
    const list = out.slice(0, m);
    if (this.cache.size > 16) this.cache.clear();
    this.cache.set(key, list);
    return list;
  }

  /** What free-text search sees of a row (lower case). */
  private rowText(i: number): string {
    const t = this.trace;
    const a = ((BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!)).toString(16);
    const b = ((BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!)).toString(16);
    const step = this.scenario.workload[t.step[i]!];
    return `${this.deviceOfSid(t.sid[i]!)} ${step?.op ?? ""} 0x${a} 0x${b} ${t.flags[i]! & F_WRITE ? "write" : "read"}`.toLowerCase();
  }

  summary(filter: TraceFilter): TraceSummary {
    const list = this.match(filter);
    const t = this.trace;
    const byResult: Record<number, number> = {};
    const byReason: Record<number, number> = {};
    let faults = 0;
    for (let k = 0; k < list.length; k++) {
      const i = list[k]!;
      const r = resultOf(t, i);
      byResult[r] = (byResult[r] ?? 0) + 1;
      if (r === ResultKind.Fault) {
        faults++;
        byReason[t.reason[i]!] = (byReason[t.reason[i]!] ?? 0) + 1;
      }
    }
    return { total: t.length, matched: list.length, faults, byResult, byReason };
  }

  /** Rows [start, start + count) of the filtered list, as columns ready to transfer. */
  page(filter: TraceFilter, start: number, count: number, diff?: Uint8Array): Record<string, ArrayBufferView> & { index: Uint32Array } {
    const list = this.match(filter);
    const s = Math.max(0, Math.min(start, list.length));
    const c = Math.max(0, Math.min(count, list.length - s));
    const t = this.trace;
    const cols = {
      index: new Uint32Array(c),
      step: new Uint32Array(c),
      kind: new Uint8Array(c),
      flags: new Uint8Array(c),
      level: new Uint8Array(c),
      reason: new Uint8Array(c),
      sid: new Uint16Array(c),
      did: new Uint16Array(c),
      aLo: new Uint32Array(c),
      aHi: new Uint32Array(c),
      bLo: new Uint32Array(c),
      bHi: new Uint32Array(c),
      diff: new Uint8Array(c),
    };
    for (let k = 0; k < c; k++) {
      const i = list[s + k]!;
      cols.index[k] = i;
      cols.step[k] = t.step[i]!;
      cols.kind[k] = t.kind[i]!;
      cols.flags[k] = t.flags[i]!;
      cols.level[k] = t.level[i]!;
      cols.reason[k] = t.reason[i]!;
      cols.sid[k] = t.sid[i]!;
      cols.did[k] = t.did[i]!;
      cols.aLo[k] = t.aLo[i]!;
      cols.aHi[k] = t.aHi[i]!;
      cols.bLo[k] = t.bLo[i]!;
      cols.bHi[k] = t.bHi[i]!;
      if (diff) cols.diff[k] = diff[i]!;
    }
    return cols;
  }

  /** Position of event `i` in the filtered list, or of the first kept event after it. */
  locate(filter: TraceFilter, i: number): number {
    const list = this.match(filter);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]! < i) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Next/previous kept fault from row `row` (exclusive), or -1. */
  nextFault(filter: TraceFilter, row: number, dir: 1 | -1): number {
    const list = this.match(filter);
    const t = this.trace;
    for (let k = row + dir; k >= 0 && k < list.length; k += dir) {
      const i = list[k]!;
      if (t.kind[i] === EventKind.Dma && t.reason[i] !== 0) return k;
    }
    return -1;
  }

  /** Events and faults of the filtered list in `buckets` equal slices of the whole trace. */
  timeline(filter: TraceFilter, buckets: number): { events: Uint32Array; faults: Uint32Array; steps: Uint32Array } {
    const list = this.match(filter);
    const t = this.trace;
    const n = Math.max(1, t.length);
    const b = Math.max(1, Math.min(buckets, 4096));
    const events = new Uint32Array(b);
    const faults = new Uint32Array(b);
    for (let k = 0; k < list.length; k++) {
      const i = list[k]!;
      const q = Math.min(b - 1, Math.floor((i * b) / n));
      events[q]!++;
      if (t.kind[i] === EventKind.Dma && t.reason[i] !== 0) faults[q]!++;
    }
    // Step boundaries, for the ticks: the first event of each step as a bucket index.
    const steps = new Uint32Array(this.run.outcomes.length);
    this.run.outcomes.forEach((o, s) => (steps[s] = Math.min(b - 1, Math.floor((o.eventStart * b) / n))));
    return { events, faults, steps };
  }
}

/** 0 same, 1 added, 2 changed: each event of `cur` against the same position of its step in `prev`. */
export const DIFF_SAME = 0;
export const DIFF_ADDED = 1;
export const DIFF_CHANGED = 2;

export function diffRuns(prev: Run, cur: Run): { marks: Uint8Array; removed: Uint32Array } {
  const a = prev.trace;
  const b = cur.trace;
  const marks = new Uint8Array(b.length);
  const removed = new Uint32Array(cur.outcomes.length);
  for (let s = 0; s < cur.outcomes.length; s++) {
    const o = cur.outcomes[s]!;
    const p = prev.outcomes[s];
    const pStart = p?.eventStart ?? 0;
    const pLen = p ? p.eventEnd - p.eventStart : 0;
    const len = o.eventEnd - o.eventStart;
    for (let k = 0; k < len; k++) {
      const i = o.eventStart + k;
      if (k >= pLen) {
        marks[i] = DIFF_ADDED;
        continue;
      }
      const j = pStart + k;
      const same = a.kind[j] === b.kind[i] && a.sid[j] === b.sid[i] && a.reason[j] === b.reason[i] && a.aLo[j] === b.aLo[i] && a.aHi[j] === b.aHi[i] && a.bLo[j] === b.bLo[i] && a.bHi[j] === b.bHi[i] && (a.flags[j]! & (F_WRITE | F_IOTLB_HIT)) === (b.flags[i]! & (F_WRITE | F_IOTLB_HIT));
      marks[i] = same ? DIFF_SAME : DIFF_CHANGED;
    }
    removed[s] = Math.max(0, pLen - len);
  }
  return { marks, removed };
}
