/**
 * The columnar event log of a run: one typed array per field, 28 bytes per event, grown by an
 * eighth (at least GROW_MIN events) so that a trace of more than 8 × GROW_MIN events holds at most
 * 31.5 bytes per event; a run and a `dma` step, which know how many events they will append,
 * reserve that many up front. Events are tied to their workload step (and through it to a source line). Rows are never
 * objects on the hot path; `row(i)` builds one for UIs and tests.
 */
import { MemoryBudgetError, formatBytes, type TraceBudget } from "./budget.js";

export const enum EventKind {
  /** A DMA transaction translated (or faulted) by the IOMMU. */
  Dma = 1,
  /** A write to 0xFEExxxxx: an interrupt request, not translated. */
  Interrupt = 2,
  /** VFIO_IOMMU_MAP_DMA accepted: a = iova, b = size. */
  Map = 3,
  /** VFIO_IOMMU_UNMAP_DMA: a = iova, b = bytes unmapped. */
  Unmap = 4,
  /** A queued command the unit processed (a VT-d invalidation descriptor, an AMD-Vi or SMMUv3 command): a = qw0, b = qw1. */
  Invalidate = 5,
  /** The device's entry (context entry, DTE, STE) written for a requester id: sid, did. */
  Attach = 6,
  /** Context entry cleared. */
  Detach = 7,
  VmStart = 8,
  VmStop = 9,
  /** Raw memory write from a `poke` step: a = address, b = value. */
  Poke = 10,
  /** A slow-path operation failed: reason = errno value or 0 for a named error. */
  Error = 11,
}

export const EVENT_KIND_NAMES: Record<number, string> = {
  1: "dma",
  2: "interrupt",
  3: "map",
  4: "unmap",
  5: "invalidate",
  6: "attach",
  7: "detach",
  8: "vm-start",
  9: "vm-stop",
  10: "poke",
  11: "error",
};

/** flags bits. */
export const F_WRITE = 1;
export const F_IOTLB_HIT = 2;
export const F_CC_HIT = 4;
/** bits 3..5: FaultFate (0 none, 1 recorded, 2 FPD, 3 overflow, 4 compressed). */
export const F_FATE_SHIFT = 3;
/** bits 6..7: translation kind (0 untranslated, 1 pass-through, 2 translated, 3 interrupt). */
export const F_XLATE_SHIFT = 6;
/**
 * Level column, bit 7 of a dma event: a Translated Request (PCIe ATS) - the device's own
 * Device-TLB / ATC gave the address and the IOMMU walked nothing; bits 6:0 keep the cached leaf level.
 */
export const LEVEL_DEVICE_TLB = 0x80;

export interface TraceRow {
  index: number;
  kind: EventKind;
  step: number;
  sid: number;
  did: number;
  flags: number;
  level: number;
  reason: number;
  a: bigint;
  b: bigint;
}

/** The least a full trace grows by, in events (112 KiB of columns). */
export const GROW_MIN = 4096;

export class Trace {
  length = 0;
  kind: Uint8Array;
  flags: Uint8Array;
  level: Uint8Array;
  reason: Uint8Array;
  step: Uint32Array;
  sid: Uint16Array;
  did: Uint16Array;
  aLo: Uint32Array;
  aHi: Uint32Array;
  bLo: Uint32Array;
  bHi: Uint32Array;
  /** First event index of each step (stepStart[i] .. stepStart[i+1]). Filled by the runner. */
  stepStart: number[] = [];
  /**
   * When set, growing past the budget throws MemoryBudgetError instead (before allocating); near
   * the limit the capacity grows to what fits rather than doubling.
   */
  budget?: TraceBudget;
  /**
   * A trace that keeps no events: a replay's (Run.machineBefore), whose events the run's own trace
   * already holds. It never grows, so replaying a step of millions of transactions allocates no
   * second copy of them (pushes past the capacity store nothing; `length` still counts).
   */
  discard = false;

  constructor(capacity = 1024) {
    this.kind = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.level = new Uint8Array(capacity);
    this.reason = new Uint8Array(capacity);
    this.step = new Uint32Array(capacity);
    this.sid = new Uint16Array(capacity);
    this.did = new Uint16Array(capacity);
    this.aLo = new Uint32Array(capacity);
    this.aHi = new Uint32Array(capacity);
    this.bLo = new Uint32Array(capacity);
    this.bHi = new Uint32Array(capacity);
  }

  get capacity(): number {
    return this.kind.length;
  }

  /** Bytes the columns hold (capacity included): what the memory budget counts for the trace. */
  get bytes(): number {
    return this.capacity * Trace.BYTES_PER_EVENT;
  }

  /** Bytes held per event by the columns (capacity included). */
  static readonly BYTES_PER_EVENT = 1 + 1 + 1 + 1 + 4 + 2 + 2 + 4 * 4;

  /**
   * Makes room for `n` events in one step, copying only the events held. A step about to push
   * millions of events calls it first, so it does not stop for seconds (silent, under load) in a
   * reallocation halfway through. The capacity becomes `n` when that is at least an eighth more
   * (a known count of events to come: no slack), else it grows by an eighth (GROW_MIN at least):
   * at most 28 × 9/8 = 31.5 bytes per event, against 56 for a doubling just past a power of two.
   */
  reserve(n: number): void {
    const held = this.capacity;
    if (n <= held || this.discard) return;
    let cap = Math.max(n, held + Math.max(held >>> 3, GROW_MIN));
    const budget = this.budget;
    if (budget !== undefined) {
      const room = Math.floor((budget.limit - budget.others()) / Trace.BYTES_PER_EVENT);
      if (room < n) {
        throw new MemoryBudgetError(
          `memory budget exceeded: the trace needs room for ${n} events (${formatBytes(n * Trace.BYTES_PER_EVENT)}), ` +
            `the run's limit is ${formatBytes(budget.limit)}${budget.why ? ` (${budget.why})` : ""} and checkpoints and simulated memory hold ${formatBytes(budget.others())}`,
        );
      }
      // At most what is needed and half the room left above it: one large step must not take the
      // whole budget as capacity (the checkpoints after it need some).
      cap = Math.min(cap, n + Math.floor((room - n) / 2));
    }
    const keep = Math.min(this.length, this.capacity);
    const g = <T extends Uint8Array | Uint16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const x = make(cap);
      x.set(a.subarray(0, keep));
      return x;
    };
    this.kind = g(this.kind, (n) => new Uint8Array(n));
    this.flags = g(this.flags, (n) => new Uint8Array(n));
    this.level = g(this.level, (n) => new Uint8Array(n));
    this.reason = g(this.reason, (n) => new Uint8Array(n));
    this.step = g(this.step, (n) => new Uint32Array(n));
    this.sid = g(this.sid, (n) => new Uint16Array(n));
    this.did = g(this.did, (n) => new Uint16Array(n));
    this.aLo = g(this.aLo, (n) => new Uint32Array(n));
    this.aHi = g(this.aHi, (n) => new Uint32Array(n));
    this.bLo = g(this.bLo, (n) => new Uint32Array(n));
    this.bHi = g(this.bHi, (n) => new Uint32Array(n));
  }

  /**
   * Becomes the first `n` events of `src` (a run resumed from a checkpoint of an earlier run),
   * with room for at least those (reserve).
   */
  copyPrefix(src: Trace, n: number): void {
    this.reserve(n);
    this.kind.set(src.kind.subarray(0, n));
    this.flags.set(src.flags.subarray(0, n));
    this.level.set(src.level.subarray(0, n));
    this.reason.set(src.reason.subarray(0, n));
    this.step.set(src.step.subarray(0, n));
    this.sid.set(src.sid.subarray(0, n));
    this.did.set(src.did.subarray(0, n));
    this.aLo.set(src.aLo.subarray(0, n));
    this.aHi.set(src.aHi.subarray(0, n));
    this.bLo.set(src.bLo.subarray(0, n));
    this.bHi.set(src.bHi.subarray(0, n));
    this.length = n;
  }

  /** Appends one event; a and b are given as uint32 halves (no allocation). */
  push(kind: EventKind, step: number, sid: number, did: number, flags: number, level: number, reason: number, aHi: number, aLo: number, bHi: number, bLo: number): number {
    if (this.length === this.capacity) this.reserve(this.capacity + 1); // grows by an eighth
    const i = this.length++;
    this.kind[i] = kind;
    this.step[i] = step;
    this.sid[i] = sid;
    this.did[i] = did;
    this.flags[i] = flags;
    this.level[i] = level;
    this.reason[i] = reason;
    this.aHi[i] = aHi;
    this.aLo[i] = aLo;
    this.bHi[i] = bHi;
    this.bLo[i] = bLo;
    return i;
  }

  pushBig(kind: EventKind, step: number, sid: number, did: number, flags: number, level: number, reason: number, a: bigint, b: bigint): number {
    return this.push(kind, step, sid, did, flags, level, reason, hi32(a), lo32(a), hi32(b), lo32(b));
  }

  row(i: number): TraceRow {
    return {
      index: i,
      kind: this.kind[i] as EventKind,
      step: this.step[i]!,
      sid: this.sid[i]!,
      did: this.did[i]!,
      flags: this.flags[i]!,
      level: this.level[i]!,
      reason: this.reason[i]!,
      a: (BigInt(this.aHi[i]!) << 32n) | BigInt(this.aLo[i]!),
      b: (BigInt(this.bHi[i]!) << 32n) | BigInt(this.bLo[i]!),
    };
  }

  /** Events of a step: [start, end). */
  stepRange(step: number): [number, number] {
    const start = this.stepStart[step] ?? this.length;
    const end = this.stepStart[step + 1] ?? this.length;
    return [start, end];
  }

  /** Number of DMA events that faulted. */
  countFaults(): number {
    return this.dmaCounts().faults;
  }

  /**
   * DMA events, and how many of them faulted, in one pass over two columns (a report reads both
   * of a million-event trace; the pass runs once, mostly before V8 has optimized it).
   */
  dmaCounts(): { dma: number; faults: number } {
    const kind = this.kind;
    const reason = this.reason;
    const n = this.length;
    let dma = 0;
    let faults = 0;
    for (let i = 0; i < n; i++) {
      if (kind[i] === EventKind.Dma) {
        dma++;
        if (reason[i] !== 0) faults++;
      }
    }
    return { dma, faults };
  }

  /** The columns trimmed to length, for transfer as ArrayBuffers. */
  columns(): Record<string, ArrayBufferView> {
    const n = this.length;
    return {
      kind: this.kind.slice(0, n),
      flags: this.flags.slice(0, n),
      level: this.level.slice(0, n),
      reason: this.reason.slice(0, n),
      step: this.step.slice(0, n),
      sid: this.sid.slice(0, n),
      did: this.did.slice(0, n),
      aLo: this.aLo.slice(0, n),
      aHi: this.aHi.slice(0, n),
      bLo: this.bLo.slice(0, n),
      bHi: this.bHi.slice(0, n),
    };
  }
}

export function lo32(v: bigint): number {
  return Number(v & 0xffffffffn);
}

export function hi32(v: bigint): number {
  return Number((v >> 32n) & 0xffffffffn);
}
