/**
 * A `dma` step's transfers and their tally, and the one per-transaction loop every host IOMMU's
 * hot path (HostIommu.translateRun) runs: translateEach. A model supplies one request at a time
 * (DmaUnit.dmaRequest) and the result fields of its last request; the trace row, the tally's
 * first-transaction fields and the bytes-per-transaction rule live here alone.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { CORE_INFO } from "./vtd/translateCoreLayout.js";
import { EventKind, F_CC_HIT, F_FATE_SHIFT, F_IOTLB_HIT, F_WRITE, F_XLATE_SHIFT, LEVEL_DEVICE_TLB, type Trace } from "../trace/trace.js";

/** 4 KiB: a PCIe request does not cross a 4 KiB boundary (PCIe Base Spec, 2.2.7), so a transfer splits at them. */
const PAGE = 4096;
/** The trace's fault fate "recorded" (trace.ts, flags bits 3..5: 1 = recorded / logged). */
const FATE_RECORDED = 1;
/** The trace's translation kind "interrupt" (trace.ts, flags bits 6..7: 3 = interrupt). */
const XLATE_INTERRUPT = 3;

/**
 * One requester's DMA transfer as a `dma` step issues it: `length` bytes from IOVA
 * baseHi:baseLo + startOff, split at 4 KiB boundaries (PCIe requests do not cross them) into
 * `pages` transactions, `repeat` times.
 */
export interface DmaTransfer {
  sid: number;
  write: boolean;
  /** The first page's IOVA as uint32 halves (page aligned). */
  baseHi: number;
  baseLo: number;
  /** Offset of the first byte in the first page. */
  startOff: number;
  /** Bytes per repetition (at most 1 GiB). */
  length: number;
  /** PASID of a request with PASID (scalable mode); absent or -1: requests without PASID. */
  pasid?: number;
  /** The device translates through its ATC (PCIe ATS): a model with ATS sends Translated requests (SMMUv3 unit.ts atsDma). */
  ats?: boolean;
  /** Translated Requests (PCIe AT = translated, ATS): the IOVA is a host physical address. Absent: untranslated. */
  translated?: boolean;
  /** Transactions per repetition. */
  pages: number;
  repeat: number;
}

/** The transfer of `length` bytes at `iova` by requester `sid`, `repeat` times. */
export function dmaTransfer(sid: number, iova: bigint, length: bigint, write: boolean, repeat: number, pasid = -1): DmaTransfer {
  const startOff = Number(iova & 0xfffn);
  const len = Number(length);
  return {
    sid,
    write,
    baseHi: Number((iova >> 32n) & 0xffffffffn),
    baseLo: Number(iova & 0xfffff000n),
    startOff,
    length: len,
    pages: Math.max(1, Math.ceil((startOff + len) / PAGE)),
    repeat,
    pasid,
  };
}

/**
 * What the transactions of a `dma` step did, summed over its runs (translateRun): numbers only,
 * one tally per step.
 */
export class DmaTally {
  transactions = 0;
  faults = 0;
  /** Reason of the step's first faulting transaction (0 before one). */
  firstFault = 0;
  /** Whether that fault reached a fault recording register. */
  firstRecorded = false;
  /** Transactions that translated from an IOTLB entry. */
  iotlbHits = 0;
  /** Translated Requests answered by the device's own Device-TLB (ATS; trace.ts LEVEL_DEVICE_TLB). */
  deviceTlbHits = 0;
  /**
   * Bytes of the transactions that translated: a double from the start (V8 field representation),
   * since a step past 1 GiB leaves the small-integer range, and the change of representation
   * halfway through a run deoptimized the hot loop (--trace-deopt: "wrong map").
   */
  bytes = 0.5;
  /** The step's first transaction ran: whether it translated, from the IOTLB, and to which HPA. */
  started = false;
  firstOk = false;
  firstIotlbHit = false;
  /** The first transaction was a Translated Request answered by the device's Device-TLB (ATS; trace.ts LEVEL_DEVICE_TLB). */
  firstDeviceTlb = false;
  /** PASID of the step's first transaction, and of its first faulting one (-1: a request without PASID). */
  firstPasid = -1;
  firstFaultPasid = -1;
  firstHpaHi = 0;
  firstHpaLo = 0;
  constructor() {
    this.bytes = 0;
  }
}

/**
 * Bytes of transaction `p` (0-based page of one repetition) of transfer x: the transfer's part of
 * that 4 KiB page.
 */
export function transactionBytes(x: DmaTransfer, p: number): number {
  return p === 0 ? Math.min(PAGE - x.startOff, x.length) : Math.min(PAGE, x.length + x.startOff - p * PAGE);
}

/**
 * A host IOMMU unit as translateEach drives it: one request at a time, then the result fields of
 * that request (model-neutral names; the trace's encodings, trace.ts). Fields, or getters that
 * allocate nothing.
 */
export interface DmaUnit {
  /**
   * Transaction t of transfer x (of the run that ends before `to`), at IOVA iovaHi:iovaLo, as the
   * hot path translates it (caches used and filled, faults recorded). Returns the model's fault
   * code, 0 when it translated (or passed through).
   */
  dmaRequest(x: DmaTransfer, t: number, to: number, iovaHi: number, iovaLo: number): number;
  /** The domain tag the request used (VT-d/AMD-Vi domain id, SMMUv3 ASID or VMID; 0 none). */
  readonly did: number;
  /** Answered by the IOTLB (TLB). */
  readonly iotlbHit: boolean;
  /** Answered by the device-configuration cache (context cache, DTE cache, STE cache). */
  readonly ccHit: boolean;
  /** The fault's fate (trace.ts flags bits 3..5: 0 none, 1 recorded, ...). */
  readonly fate: number;
  /** The translation kind (trace.ts flags bits 6..7: 0 untranslated, 1 pass-through, 2 translated, 3 interrupt). */
  readonly xlateKind: number;
  /** The trace's level column: leaf level of the walk (1 = 4 KiB), or of the fault; 0 none. */
  readonly leafLevel: number;
  /** The output address as uint32 halves (read only when the request translated). */
  readonly hpaHi: number;
  readonly hpaLo: number;
  /**
   * Optional batch of the common case, for a unit that answers a run in bursts: called right after
   * dmaRequest answered a transaction as translated by the IOTLB, it takes at most `max` of the
   * following transactions that the unit has already answered the same way (translated, IOTLB
   * hit, same domain, no fault; the same request counters as one dmaRequest each), writes their
   * output addresses and leaf levels into `hpaHi`/`hpaLo`/`level` from index `at`, and returns how
   * many it took (0: the next one needs dmaRequest). The result fields then describe the last.
   */
  takeIotlbHits?(max: number, hpaHi: Uint32Array, hpaLo: Uint32Array, level: Uint8Array, at: number): number;
}

/**
 * Transactions [t, t + n) of x as a burst's requests (the IOVAs translateEach walks through, in
 * the layout of vtd/translate.ts DmaBurst: IOVA i as [2i] low, [2i + 1] high dword; write flag i).
 */
export function loadBurst(burst: { readonly requests: Int32Array; readonly writes: Uint8Array }, x: DmaTransfer, t: number, n: number): void {
  const req = burst.requests;
  burst.writes.fill(x.write ? 1 : 0, 0, n);
  let p = t % x.pages;
  const at = x.baseLo + p * 4096;
  let lo = at % 0x100000000;
  let hi = (x.baseHi + Math.floor(at / 0x100000000)) >>> 0;
  for (let k = 0; k < n; k++) {
    req[2 * k] = (p === 0 ? lo | x.startOff : lo) | 0;
    req[2 * k + 1] = hi | 0;
    if (++p === x.pages) {
      p = 0;
      lo = x.baseLo;
      hi = x.baseHi;
    } else {
      lo = (lo + 4096) >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
    }
  }
}

/** Transactions of a DMA run a unit's translate core takes in one burst at most, and at first. */
export const RUN_BURST = 512;
const RUN_MIN = 8;

/**
 * A DMA run that a unit answers in bursts of its translate core (AmdViUnit, SmmuV3Unit
 * dmaRequest): the current burst's results [next, done) not yet taken, the transaction the last
 * burst handed back (the unit translates it alone), and the next burst's length, which starts at
 * RUN_MIN and doubles up to RUN_BURST while bursts answer every request, so that a run of faults
 * (each handed back) loads few requests.
 */
export class DmaRun {
  next = 0;
  done = 0;
  private slowAt = -1;
  private len = RUN_MIN;

  /** A new run (translateRun). */
  reset(): void {
    this.next = this.done = 0;
    this.slowAt = -1;
    this.len = RUN_MIN;
  }

  /**
   * Transaction t of a run that ends before `to`, no result left: the length of the burst to load
   * from t, or 0 when none (t was handed back, or it is the run's last transaction).
   */
  wants(t: number, to: number): number {
    this.next = this.done = 0;
    return t === this.slowAt || to - t <= 1 ? 0 : Math.min(to - t, this.len);
  }

  /** The burst of n transactions from t answered `done` of them. */
  ran(t: number, n: number, done: number): void {
    this.len = done === n ? Math.min(2 * this.len, RUN_BURST) : RUN_MIN;
    this.done = done;
    if (done < n) this.slowAt = t + done;
  }

  /**
   * DmaUnit.takeIotlbHits' loop: the burst's next results while they are IOTLB hits (its info
   * bytes), at most `max`, their output addresses and levels written from index `at`; `next`
   * moves past them. Returns how many.
   */
  takeHits(burst: { readonly results: Int32Array; readonly info: Uint8Array }, max: number, hpaHi: Uint32Array, hpaLo: Uint32Array, level: Uint8Array, at: number): number {
    let j = this.next;
    const end = Math.min(this.done, j + max);
    const res = burst.results;
    const info = burst.info;
    let k = at;
    for (; j < end; j++, k++) {
      const inf = info[j]!;
      if ((inf & CORE_INFO.iotlbHit) === 0) break;
      hpaHi[k] = res[2 * j + 1]!;
      hpaLo[k] = res[2 * j]!;
      level[k] = inf & CORE_INFO.levelMask;
    }
    const n = j - this.next;
    this.next = j;
    return n;
  }
}

/**
 * Transactions one call of translateSpan handles at most. translateEach cuts a run into spans so
 * that V8 optimizes the loop as a whole function after a few spans, with type feedback for every
 * line of it: a run of 65 536 transactions in one loop was optimized on the stack (OSR) before the
 * code after the loop had ever run, deoptimized there ("insufficient type feedback"), and ran
 * interpreted until the next optimization (profiled with --trace-deopt: four rounds per 1 M
 * transactions). Small enough that a span's bytes stay a small integer (2^12 x 4 KiB).
 */
const SPAN = 4096;

/**
 * The hot path of every model: transactions [from, to) of transfer x (transaction t is page
 * t % pages of repetition t / pages), each through unit.dmaRequest and appended to `trace` as the
 * event the `dma` step records (step, requester, domain, flags, level, reason, IOVA, output
 * address), summed into `tally`. Nothing is allocated per transaction: the event columns are
 * written in place.
 */
export function translateEach(unit: DmaUnit, x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void {
  if (to <= from) return;
  if (trace.length + (to - from) > trace.capacity) trace.reserve(trace.length + (to - from));
  for (let t = from; t < to; t += SPAN) translateSpan(unit, x, t, Math.min(to, t + SPAN), to, trace, step, tally);
  tally.transactions += to - from;
}

/**
 * Transactions [from, to) of x (at most SPAN of them) as translateEach describes, the trace's room
 * reserved; `runEnd` is the end of the run the unit is told of (dmaRequest's `to`).
 */
function translateSpan(unit: DmaUnit, x: DmaTransfer, from: number, to: number, runEnd: number, trace: Trace, step: number, tally: DmaTally): void {
  const { sid, pages, startOff, baseLo } = x;
  const wflag = x.write ? F_WRITE : 0;
  let p = from % pages;
  // IOVA of page p as uint32 halves (the base is page aligned, so the carry is exact).
  const at = baseLo + p * PAGE;
  let lo = at % 0x100000000;
  let hi = (x.baseHi + Math.floor(at / 0x100000000)) >>> 0;
  const kind = trace.kind;
  const stepCol = trace.step;
  const sidCol = trace.sid;
  const didCol = trace.did;
  const flagsCol = trace.flags;
  const levelCol = trace.level;
  const reasonCol = trace.reason;
  const aHi = trace.aHi;
  const aLo = trace.aLo;
  const bHi = trace.bHi;
  const bLo = trace.bLo;
  let i = trace.length;
  let faults = 0;
  let hits = 0;
  let dhits = 0;
  let bytes = 0;
  for (let t = from; t < to; t++) {
    const reqLo = p === 0 ? (lo | startOff) >>> 0 : lo;
    const code = unit.dmaRequest(x, t, runEnd, hi, reqLo);
    const xk = unit.xlateKind;
    const iotlbHit = unit.iotlbHit;
    const fate = unit.fate;
    const outHi = code === 0 ? unit.hpaHi : 0;
    const outLo = code === 0 ? unit.hpaLo : 0;
    kind[i] = xk === XLATE_INTERRUPT ? EventKind.Interrupt : EventKind.Dma;
    stepCol[i] = step;
    sidCol[i] = sid;
    didCol[i] = unit.did;
    flagsCol[i] = wflag | (iotlbHit ? F_IOTLB_HIT : 0) | (unit.ccHit ? F_CC_HIT : 0) | (fate << F_FATE_SHIFT) | (xk << F_XLATE_SHIFT);
    const leafLevel = unit.leafLevel;
    levelCol[i] = leafLevel;
    reasonCol[i] = code;
    aHi[i] = hi;
    aLo[i] = reqLo;
    bHi[i] = outHi;
    bLo[i] = outLo;
    i++;
    if (!tally.started) {
      tally.started = true;
      tally.firstOk = code === 0;
      tally.firstIotlbHit = iotlbHit;
      tally.firstDeviceTlb = (leafLevel & LEVEL_DEVICE_TLB) !== 0;
      tally.firstPasid = x.pasid ?? -1;
      tally.firstHpaHi = outHi;
      tally.firstHpaLo = outLo;
    }
    if (code !== 0) {
      if (tally.faults + faults === 0) {
        tally.firstFault = code;
        tally.firstRecorded = fate === FATE_RECORDED;
        tally.firstFaultPasid = x.pasid ?? -1;
      }
      faults++;
    } else {
      bytes += transactionBytes(x, p);
      if (iotlbHit) hits++;
      else if ((leafLevel & LEVEL_DEVICE_TLB) !== 0) dhits++;
    }
    if (++p === pages) {
      p = 0;
      lo = baseLo;
      hi = x.baseHi;
    } else {
      lo = (lo + PAGE) >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
    }
    // The transactions after a translated IOTLB hit that the unit answered alike (its burst):
    // their rows differ from this one only in IOVA, output address and leaf level.
    if (code === 0 && iotlbHit && t + 1 < to && unit.takeIotlbHits !== undefined) {
      const k = unit.takeIotlbHits(to - t - 1, bHi, bLo, levelCol, i);
      if (k > 0) {
        const did = didCol[i - 1]!;
        const flags = flagsCol[i - 1]!;
        const end = i + k;
        for (; i < end; i++) {
          kind[i] = EventKind.Dma;
          stepCol[i] = step;
          sidCol[i] = sid;
          didCol[i] = did;
          flagsCol[i] = flags;
          reasonCol[i] = 0;
          aHi[i] = hi;
          aLo[i] = p === 0 ? (lo | startOff) >>> 0 : lo;
          bytes += transactionBytes(x, p);
          if (++p === pages) {
            p = 0;
            lo = baseLo;
            hi = x.baseHi;
          } else {
            lo = (lo + PAGE) >>> 0;
            if (lo === 0) hi = (hi + 1) >>> 0;
          }
        }
        hits += k;
        t += k;
      }
    }
  }
  trace.length = i;
  tally.faults += faults;
  tally.iotlbHits += hits;
  tally.deviceTlbHits += dhits;
  tally.bytes += bytes;
}
