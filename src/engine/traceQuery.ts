/**
 * Queries over a run's trace for the DMA Trace webview: a filter turns the trace into a list of
 * matching event indices (a Uint32Array, built once per filter and run); pages of rows are
 * columns over that list; a timeline bins events and faults; a comparison with the previous run
 * marks events added, changed or removed, steps paired by identity. All columnar: no object per
 * event anywhere.
 */
import type { Run } from "../sim/run.js";
import type { Scenario } from "../scenario/types.js";
import { EventKind, F_IOTLB_HIT, F_WRITE, type Trace } from "../trace/trace.js";
import { normalizeSearch, readRow, rowCells, rowSearchText, type RowDevice, type RowFields } from "../trace/rowDisplay.js";
import { diffSteps } from "./stepMap.js";
import { EventTags } from "./traceTags.js";

import { ResultKind, type TraceFilter, type TraceSummary } from "../protocol/trace.js";
export { ResultKind, type TraceFilter, type TraceSummary };

/** A device as the DMA Trace lists it (TraceInfo.devices): its requester id, key, name and VM. */
export interface TraceDevice extends RowDevice {
  sid: number;
}

export function resultOf(t: Trace, i: number): ResultKind {
  const k: EventKind = t.kind[i]!;
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

  private tagsOf: EventTags | undefined;
  /** PASIDs and guest-action causes of the run's events (traceTags.ts). */
  get tags(): EventTags {
    return (this.tagsOf ??= new EventTags(this.run));
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
    const text = normalizeSearch(filter.text);
    const radix = filter.radix ?? "hex";
    const out = new Uint32Array(n);
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (sids.size && !sids.has(t.sid[i]!)) continue;
      if (results.size && !results.has(resultOf(t, i))) continue;
      if (reasons.size && !reasons.has(t.reason[i]!)) continue;
      if (lo !== undefined || hi !== undefined) {
        const k: EventKind = t.kind[i]!;
        if (k !== EventKind.Dma && k !== EventKind.Interrupt && k !== EventKind.Map && k !== EventKind.Unmap) continue;
        const a = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
        if ((lo !== undefined && a < lo) || (hi !== undefined && a > hi)) continue;
      }
      if (text && !this.rowText(i, radix).includes(text)) continue;
      out[m++] = i;
    }
    const list = out.slice(0, m);
    if (this.cache.size > 16) this.cache.clear();
    this.cache.set(key, list);
    return list;
  }

  private deviceList: TraceDevice[] | undefined;
  private names: Record<number, string> | undefined;
  private namesLength = -1;

  /** The model's short name of every fault code in the trace (ReasonInfo.short): the result column's words. */
  reasonNames(): Record<number, string> {
    if (!this.names || this.namesLength !== this.trace.length) {
      this.namesLength = this.trace.length;
      const iommu = this.run.machine.iommu;
      const t = this.trace;
      const out: Record<number, string> = {};
      for (let i = 0; i < t.length; i++) {
        const c = t.reason[i]!;
        if (c !== 0 && out[c] === undefined) {
          const info = iommu.reason(c);
          out[c] = info.short ?? info.name;
        }
      }
      this.names = out;
    }
    return this.names;
  }
  private domainLabels: Record<number, string> | undefined;
  private domainLabelsLength = -1;

  /**
   * The host's names of the domains of the trace's map and unmap rows that have one (HostDomain.label):
   * what the domain column shows instead of the number. A DMA row's domain is the tag the request used
   * (ASID, VMID, domain id), a number the user knows: not looked up.
   */
  domainNames(): Record<number, string> {
    if (!this.domainLabels || this.domainLabelsLength !== this.trace.length) {
      this.domainLabelsLength = this.trace.length;
      const host = this.run.machine.hostIommu;
      const t = this.trace;
      const out: Record<number, string> = {};
      const seen = new Set<number>();
      for (let i = 0; i < t.length; i++) {
        const k: EventKind = t.kind[i]!;
        if (k !== EventKind.Map && k !== EventKind.Unmap) continue;
        const did = t.did[i]!;
        if (seen.has(did)) continue;
        seen.add(did);
        const label = host.domain(did)?.label;
        if (label !== undefined) out[did] = label;
      }
      this.domainLabels = out;
    }
    return this.domainLabels;
  }
  private deviceMap: Map<number, TraceDevice> | undefined;

  /** The run's devices (bridges left out) by requester id: what the rows' device and VM cells show. */
  devices(): TraceDevice[] {
    if (!this.deviceList) {
      const pci = this.run.machine.pci;
      const vmOf = new Map<string, string>();
      for (const vm of this.scenario.vms) for (const k of vm.devices) vmOf.set(k, vm.name);
      this.deviceList = pci.devices.filter((d) => !d.isBridge).map((d) => {
        const vm = vmOf.get(d.key);
        return { sid: pci.requesterId(d), key: d.key, name: d.spec.name ?? "", ...(vm ? { vm } : {}) };
      });
      this.deviceMap = new Map(this.deviceList.map((d) => [d.sid, d]));
    }
    return this.deviceList;
  }

  private readonly scratch: RowFields = { index: 0, step: 0, kind: 0, flags: 0, level: 0, reason: 0, sid: 0, did: 0, aLo: 0, aHi: 0, bLo: 0, bHi: 0, pasid: -1, cause: -1 };
  private readonly cells: string[] = [];

  /** What free-text search sees of a row: exactly the cells the webview shows (rowCells), lower case. */
  private rowText(i: number, radix: "hex" | "dec"): string {
    const r = readRow(this.trace, i, i, this.scratch);
    r.pasid = this.tags.pasid(i);
    r.cause = this.tags.cause(i);
    if (!this.deviceMap) this.devices();
    return rowSearchText(rowCells(r, this.deviceMap!.get(r.sid), radix, this.cells, this.reasonNames(), this.domainNames()));
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

  /**
   * Rows [start, start + count) of the filtered list, as columns ready to transfer; with `diff`
   * (diffRuns' marks) also the comparison: `diff`, and how many events of the previous run are
   * missing before (`removed`) and after (`removedAfter`) each row.
   */
  page(filter: TraceFilter, start: number, count: number, diff?: DiffMarks): Record<string, ArrayBufferView> & { index: Uint32Array } {
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
      removed: new Uint32Array(c),
      removedAfter: new Uint32Array(c),
      /** The request's PASID, -1 without (traceTags.ts). */
      pasid: new Int32Array(c),
      /** A host mapping's guest action: the step whose guest driver wrote the entry, -1 for none. */
      cause: new Int32Array(c),
    };
    const tags = this.tags;
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
      cols.pasid[k] = tags.pasid(i);
      cols.cause[k] = tags.cause(i);
      if (diff) {
        const m = diff[i]!;
        cols.diff[k] = m;
        if (m & DIFF_REMOVED_BEFORE) cols.removed[k] = diff.removedBefore?.get(i) ?? 0;
        if (m & DIFF_REMOVED_AFTER) cols.removedAfter[k] = diff.removedAfter?.get(i) ?? 0;
      }
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

/**
 * Comparison marks, one byte per event of the current run: the low two bits say same (0), added
 * (1) or changed (2) against the paired event of the previous run; DIFF_REMOVED_BEFORE /
 * DIFF_REMOVED_AFTER say that events of the previous run are missing right before / after it
 * (how many: `removedBefore` / `removedAfter`, by event index).
 */
export const DIFF_SAME = 0;
export const DIFF_ADDED = 1;
export const DIFF_CHANGED = 2;
export const DIFF_KIND_MASK = 3;
export const DIFF_REMOVED_BEFORE = 4;
export const DIFF_REMOVED_AFTER = 8;

export type DiffMarks = Uint8Array & { removedBefore?: ReadonlyMap<number, number>; removedAfter?: ReadonlyMap<number, number> };

/** The identity of a workload step without its position: what it does, not where its text is (every node keeps a `range`). */
function stepIdentity(step: Scenario["workload"][number]): string {
  return JSON.stringify(step, (k, v: unknown) => (k === "range" || k === "index" ? undefined : typeof v === "bigint" ? `0x${v.toString(16)}` : v));
}

/**
 * Which step of `prev` each step of `cur` is (-1: none, the step is new), and the steps of `prev`
 * that have no counterpart, each with the step of `cur` before which it was. Outside the edited
 * region (the common prefix/suffix of the workloads, as Session.lastShift) a step is its
 * counterpart; inside it, a longest common subsequence of the items pairs the unchanged ones
 * (a step inserted above an edited one), and the others pair by offset between those anchors.
 */
export function pairSteps(prev: Run, cur: Run): { partner: Int32Array; lost: { old: number; before: number }[] } {
  const keys = (r: Run) => r.scenario.workload.slice(0, r.outcomes.length).map(stepIdentity);
  const oldKeys = keys(prev);
  const newKeys = keys(cur);
  const { prefix, oldEnd, newEnd } = diffSteps(oldKeys, newKeys);
  const partner = new Int32Array(newKeys.length).fill(-1);
  const lost: { old: number; before: number }[] = [];
  for (let s = 0; s < prefix; s++) partner[s] = s;
  for (let s = newEnd; s < newKeys.length; s++) partner[s] = s - newEnd + oldEnd;
  const n = oldEnd - prefix;
  const m = newEnd - prefix;
  // Anchors inside the region: [old, new] pairs of identical items, increasing; then the region's end.
  const anchors: [number, number][] = [];
  if (n > 0 && m > 0 && n * m <= 4_000_000) {
    const w = m + 1;
    const len = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) len[i * w + j] = oldKeys[prefix + i] === newKeys[prefix + j] ? len[(i + 1) * w + j + 1]! + 1 : Math.max(len[(i + 1) * w + j]!, len[i * w + j + 1]!);
    for (let i = 0, j = 0; i < n && j < m; ) {
      if (oldKeys[prefix + i] === newKeys[prefix + j]) anchors.push([prefix + i++, prefix + j++]);
      else if (len[(i + 1) * w + j]! >= len[i * w + j + 1]!) i++;
      else j++;
    }
  }
  anchors.push([oldEnd, newEnd]);
  let o = prefix;
  let c = prefix;
  for (const [ao, an] of anchors) {
    // The gap [o, ao) of the old steps against [c, an) of the new: pair by offset.
    for (let k = 0; k < an - c; k++) if (o + k < ao) partner[c + k] = o + k;
    for (let k = an - c; o + k < ao; k++) lost.push({ old: o + k, before: an });
    if (an < newEnd) partner[an] = ao;
    o = ao + 1;
    c = an + 1;
  }
  return { partner, lost };
}

/**
 * Marks each event of `cur` against the previous run. Steps are paired by identity, not number
 * (pairSteps): a step inserted or deleted above does not make the steps after it "changed".
 * Events of a paired step compare by position: extra ones are added, missing ones are removed at
 * the end of the step (after its last event, or before the next event when it has none); a step
 * of the previous run with no counterpart is removed before the step that took its place.
 * `removed` counts the missing events per step of `cur` (the last entry: after the last step).
 */
export function diffRuns(prev: Run, cur: Run): { marks: DiffMarks; removed: Uint32Array } {
  const a = prev.trace;
  const b = cur.trace;
  const marks: DiffMarks = new Uint8Array(b.length);
  const before = new Map<number, number>();
  const after = new Map<number, number>();
  const removed = new Uint32Array(cur.outcomes.length + 1);
  const same = (i: number, j: number) => a.kind[j] === b.kind[i] && a.sid[j] === b.sid[i] && a.reason[j] === b.reason[i] && a.aLo[j] === b.aLo[i] && a.aHi[j] === b.aHi[i] && a.bLo[j] === b.bLo[i] && a.bHi[j] === b.bHi[i] && (a.flags[j]! & (F_WRITE | F_IOTLB_HIT)) === (b.flags[i]! & (F_WRITE | F_IOTLB_HIT));
  /** `n` events of the previous run are missing at position `at` of the current trace (step `s`); `tail`: say so after the event before it. */
  const lose = (n: number, at: number, s: number, tail: boolean) => {
    if (n <= 0) return;
    removed[s] = removed[s]! + n;
    if ((tail || at >= b.length) && at > 0) after.set(at - 1, (after.get(at - 1) ?? 0) + n);
    else if (at < b.length) before.set(at, (before.get(at) ?? 0) + n);
  };
  /** Compares events [bStart, bEnd) of `cur` with [aStart, aEnd) of `prev` by position. */
  const pair = (bStart: number, bEnd: number, aStart: number, aEnd: number, s: number) => {
    const len = bEnd - bStart;
    const pLen = aEnd - aStart;
    for (let k = 0; k < len; k++) marks[bStart + k] = k >= pLen ? DIFF_ADDED : same(bStart + k, aStart + k) ? DIFF_SAME : DIFF_CHANGED;
    lose(pLen - len, bEnd, s, len > 0);
  };
  // Events before the first step (none today), then each step of the current run.
  pair(0, cur.outcomes[0]?.eventStart ?? b.length, 0, prev.outcomes[0]?.eventStart ?? 0, 0);
  const { partner, lost } = pairSteps(prev, cur);
  for (let s = 0; s < cur.outcomes.length; s++) {
    const o = cur.outcomes[s]!;
    const p = prev.outcomes[partner[s]!];
    if (p) pair(o.eventStart, o.eventEnd, p.eventStart, p.eventEnd, s);
    else marks.fill(DIFF_ADDED, o.eventStart, o.eventEnd);
  }
  for (const { old, before: s } of lost) {
    const p = prev.outcomes[old]!;
    lose(p.eventEnd - p.eventStart, cur.outcomes[s]?.eventStart ?? b.length, s, false);
  }
  for (const i of before.keys()) marks[i] = marks[i]! | DIFF_REMOVED_BEFORE;
  for (const i of after.keys()) marks[i] = marks[i]! | DIFF_REMOVED_AFTER;
  marks.removedBefore = before;
  marks.removedAfter = after;
  return { marks, removed };
}
