/**
 * The part of the HostIommu seam (sim/host-iommu.ts) that is the same for every model: the hot
 * path, one-request probes and replays, the fault fate and scratch runs, over a unit that answers
 * one request at a time with the model-neutral result fields of sim/dma.ts (DmaUnit). VtdHost,
 * AmdViHost and SmmuV3Host extend UnitHost and add what is their model's own (domains, the
 * driver, registers, faults, snapshots).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { DmaTally, DmaTransfer, DmaUnit } from "./dma.js";
import type { ProbeResult } from "./host-iommu.js";
import type { Trace } from "../trace/trace.js";

/** A host IOMMU unit as UnitHost drives it. */
export interface HostUnit<S> extends DmaUnit {
  /** The hot path: transactions [from, to) of x into the trace and the tally (translateEach). */
  translateRun(x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void;
  /**
   * One request from requester id `rid` at IOVA iovaHi:iovaLo. `probe`: as a `translate` step asks
   * it (caches used and filled, no fault recorded). Returns the fault code (0: translated); the
   * result fields (DmaUnit) describe it. `pasid`: a request with PASID (models without PASIDs ignore it).
   */
  request(rid: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean, pasid?: number): number;
  /** The unit's own state (registers, caches, counters; not memory). */
  snapshot(): S;
  restore(s: S): void;
}

/** The seam's model-neutral methods over `unit`; S is the unit's snapshot. */
export abstract class UnitHost<S> {
  abstract readonly unit: HostUnit<S>;

  translateRun(x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void {
    this.unit.translateRun(x, from, to, trace, step, tally);
  }

  probe(rid: number, iova: bigint, write: boolean, pasid?: number): ProbeResult {
    const u = this.unit;
    const code = u.request(rid, Number((iova >> 32n) & 0xffffffffn), Number(iova & 0xffffffffn), write, true, pasid);
    return { code, cached: u.iotlbHit, hpa: code === 0 ? (BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0) : 0n, level: u.leafLevel };
  }

  transact(rid: number, iovaHi: number, iovaLo: number, write: boolean): number {
    return this.unit.request(rid, iovaHi, iovaLo, write, false);
  }

  get fate(): number {
    return this.unit.fate;
  }

  scratch<T>(use: () => T): T {
    const saved = this.unit.snapshot();
    try {
      return use();
    } finally {
      this.unit.restore(saved);
    }
  }
}
