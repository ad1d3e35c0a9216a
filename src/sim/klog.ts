/**
 * The host kernel log (dmesg) and each VMM's stderr, with simulated timestamps. DMAR faults are
 * printed as Linux's dmar_fault() prints them for the configured kernel version, including its
 * ratelimit (one ratelimit state shared by the DRHD line and the records, 10 per 5 s).
 */
import { Ratelimit, formatTimestamp } from "./printk.js";
import { kernelEra, renderDmarFault, renderDrhdLine, type KernelEra } from "./vtd/dmesg.js";
import type { FaultRecord } from "./vtd/unit.js";

export interface LogLine {
  ns: bigint;
  /** "kernel" for dmesg, otherwise the VM whose VMM printed it. */
  source: "kernel" | "vmm";
  vm?: string;
  text: string;
  /** Workload step that produced it; -1 during host boot. */
  step: number;
}

export interface LogSnapshot {
  lines: LogLine[];
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

  /** dmar_fault(): the DRHD line and one line (or two, in old kernels) per record, ratelimited. */
  dmarFault(ns: bigint, fsts: number, records: FaultRecord[], step: number): void {
    if (fsts !== 0) this.limited(ns, step, () => [renderDrhdLine(fsts, this.era)]);
    for (const r of records) {
      const rec = { write: !r.read, reason: r.reason, sourceId: r.sid, address: r.address, ...(r.pasid !== undefined ? { pasid: r.pasid } : {}) };
      this.limited(ns, step, () => renderDmarFault(rec, this.era));
    }
  }

  private limited(ns: bigint, step: number, render: () => string[]): void {
    const r = this.faultLimit.check(ns, "dmar_fault");
    if (r.suppressedLine !== undefined) this.kernel(ns, r.suppressedLine, step);
    if (r.allowed) for (const line of render()) this.kernel(ns, line, step);
  }

  /** dmesg as a user would paste it: "[    2.501000] DMAR: ..." lines (kernel only). */
  dmesg(): string[] {
    return this.lines.filter((l) => l.source === "kernel").map((l) => `${formatTimestamp(l.ns)}${l.text}`);
  }

  snapshot(): LogSnapshot {
    return { lines: this.lines.slice(), ratelimit: this.faultLimit.snapshot() };
  }

  restore(s: LogSnapshot): void {
    this.lines = s.lines.slice();
    this.faultLimit.restore(s.ratelimit as never);
  }
}
