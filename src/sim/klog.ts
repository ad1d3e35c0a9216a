/**
 * The host kernel log (dmesg) and each VMM's stderr, with simulated timestamps. DMAR faults are
 * printed as Linux's dmar_fault() prints them for the configured kernel version, including its
 * ratelimit (10 per 5 s, applied per interrupt or per record depending on the version).
 */
import { Ratelimit, formatTimestamp } from "./printk.js";
import { dmarFaultInterrupt, kernelEra, type KernelEra } from "./vtd/dmesg.js";
import type { FaultRecord } from "./vtd/unit.js";

export interface LogLine {
  ns: bigint;
  /** "kernel" for the host's dmesg; "vmm": the VM whose VMM printed it; "guest": the VM's own kernel log (its dmesg). */
  source: "kernel" | "vmm" | "guest";
  vm?: string;
  text: string;
  /** Workload step that produced it; -1 during host boot. */
  step: number;
}

export interface LogSnapshot {
  /** The log's own array, shared: lines are only ever appended, so its first `length` stay. */
  lines: readonly LogLine[];
  length: number;
  ratelimit: unknown;
}

export class KernelLog {
  lines: LogLine[] = [];
  readonly era: KernelEra;
  private readonly faultLimit = new Ratelimit();

  constructor(readonly kernelVersion: string) {
    this.era = kernelEra(kernelVersion);
  }

  kernel(ns: bigint, text: string, step: number): void {
    this.lines.push({ ns, source: "kernel", text, step });
  }

  vmm(ns: bigint, vm: string, text: string, step: number): void {
    this.lines.push({ ns, source: "vmm", vm, text, step });
  }

  /** A line the guest kernel of `vm` printed (its driver of an emulated or accelerated vIOMMU). */
  guest(ns: bigint, vm: string, text: string, step: number): void {
    this.lines.push({ ns, source: "guest", vm, text, step });
  }

  /**
   * dmar_fault(): the DRHD line and one line (two in old kernels) per record, through the
   * handler's ratelimit as the configured kernel version applies it.
   */
  dmarFault(ns: bigint, fsts: number, records: FaultRecord[], step: number): void {
    const recs = records.map((r) => ({ write: !r.read, reason: r.reason, sourceId: r.sid, address: r.address, ...(r.pasid !== undefined ? { pasid: r.pasid } : {}) }));
    for (const line of dmarFaultInterrupt(this.faultLimit, ns, fsts, recs, this.kernelVersion)) this.kernel(ns, line, step);
  }

  /** dmesg as a user would paste it: "[    2.501000] DMAR: ..." lines (kernel only). */
  dmesg(): string[] {
    return this.lines.filter((l) => l.source === "kernel").map((l) => `${formatTimestamp(l.ns)}${l.text}`);
  }

  snapshot(): LogSnapshot {
    // No copy: a checkpoint every few steps copying the whole log made checkpoints quadratic.
    return { lines: this.lines, length: this.lines.length, ratelimit: this.faultLimit.snapshot() };
  }

  restore(s: LogSnapshot): void {
    this.lines = s.lines.slice(0, s.length);
    this.faultLimit.restore(s.ratelimit as never);
  }
}
