/**
 * AMD-Vi interrupt remapping behind the seam (HostIommu.interrupts): Linux's amd_iommu IRQ
 * remapping driver writing IRTEs (iommu.c modify_irte / modify_irte_ga, irq_remapping_prepare_irte:
 * IntType fixed, DM physical, RemapEn = 1) and the unit's answer to an MSI (intremap.ts).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { HostInterruptRemap, IrteRequest, MsiAnswer } from "../host-iommu.js";
import type { KernelLog } from "../klog.js";
import type { AmdIommuDriver } from "./driver.js";
import type { AmdViUnit } from "./unit.js";
import { AmdFate } from "./unit.js";
import { encodeIrte, IntrOutcome } from "./intremap.js";
import { eventInfo, flagNames } from "./defs.js";
import { avicGaTag, gaTagLayout, gaTagVcpuName, kvmGaLogIntr } from "./avic.js";

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
/** The vCPU state a guest virtual APIC IRTE encodes (IsRun, GALogIntr), in a step's summary. */
function vapicState(v: { isRun: boolean; gaLogIntr: boolean; gaTag: number }, e: IrteRequest, tagged: string): string {
  const bits = `GuestMode = 1, IsRun = ${v.isRun ? 1 : 0}, GALogIntr = ${v.gaLogIntr ? 1 : 0}`;
  if (v.isRun) return `vCPU running on APIC ${e.destination} (${bits})`;
  const who = e.preempted === true ? "vCPU preempted" : "vCPU not running";
  return v.gaLogIntr
    ? `${who} (${bits}): its interrupts go to the GA log with GATag ${hex(v.gaTag)}${tagged}`
    : `${who} (${bits}): its interrupts are only posted to the vAPIC backing page, no GA log entry (KVM asks for one only for a blocked vCPU from Linux 6.17)`;
}

const bdf = (devid: number) => `${(devid >> 8).toString(16).padStart(2, "0")}:${((devid >> 3) & 0x1f).toString(16).padStart(2, "0")}.${devid & 7}`;

export class AmdInterrupts implements HostInterruptRemap {
  constructor(
    private readonly unit: AmdViUnit,
    private readonly driver: AmdIommuDriver,
    /** The GA log interrupt thread (AmdViHost.serviceGaLog): runs after a step's MSIs. */
    private readonly gaThread?: (log: KernelLog, ns: bigint, step: number) => string,
    /** The host kernel (KVM's GATag layout: avic.ts). */
    private readonly kernel = "",
  ) {}

  afterMsi(log: KernelLog, ns: bigint, step: number): string {
    return this.gaThread?.(log, ns, step) ?? "";
  }

  program(rid: number, index: number, e: IrteRequest, invalidate: boolean): { address: bigint; value: bigint; summary: string } | string {
    if (this.driver.intremap === "off") return "interrupt remapping is off on this AMD-Vi host (host.iommu.intremap: false): there is no IRTE to program";
    const ga = this.driver.intremap === "ga";
    // MAX_IRQS_PER_TABLE: the driver's tables hold 512 entries (DTE IntTabLen 9).
    if (index >= 512) return `IRTE index ${index} is past the 512 entries of Linux's interrupt remapping table (MAX_IRQS_PER_TABLE)`;
    if (!ga && e.destination > 0xff) return `APIC id ${e.destination} does not fit the 8-bit destination of a 32-bit IRTE (GA mode, ga: true, has 32 bits)`;
    if (e.posted !== undefined && !ga) return "a guest virtual APIC IRTE (posted:) needs 128-bit IRTEs: GA mode (host.iommu.ga: true), as amd_iommu_activate_guest_mode needs AMD_IOMMU_GUEST_IR_VAPIC";
    if (e.posted !== undefined && (e.posted & 0xfffn) !== 0n) return `the vAPIC backing page ${hex(e.posted)} is not 4 KiB aligned (GA Root Ptr holds bits 51:12)`;
    // amd_iommu_activate_guest_mode (iommu.c): the entry rewritten with GuestMode = 1, GA Root Ptr =
    // the vCPU's backing page, the guest's vector; amd_iommu_update_ga with the CPU the vCPU is
    // loaded on: IsRun = 1 and Destination = that CPU's APIC id (here the step's destination);
    // `running: false` is amd_iommu_update_ga for a vCPU put (IsRun = 0), blocked or `preempted`.
    // GALogIntr as KVM asks for it (avic.ts kvmGaLogIntr: always before 6.17, from 6.17 only for a
    // blocked vCPU): with it the IOMMU writes a GA log entry for an interrupt to a vCPU not running.
    // GATag is KVM's AVIC_GATAG(vm_id, vcpu) in the kernel's layout (avic.ts) when the step names
    // the vCPU, else the step's ga-tag as written.
    const tag = e.vcpu === undefined ? (e.gaTag ?? 0) >>> 0 : avicGaTag(this.kernel, e.vmId ?? 1, e.vcpu);
    if (typeof tag === "string") return tag;
    const isRun = e.running ?? true;
    const vapic = e.posted === undefined ? undefined : { gaLogIntr: kvmGaLogIntr(this.kernel, isRun, e.preempted === true), isRun, gaTag: tag, gaRootPtr: e.posted };
    const tagged = e.vcpu === undefined ? "" : ` = AVIC_GATAG(vm_id ${e.vmId ?? 1}, ${gaTagVcpuName(gaTagLayout(this.kernel))} ${e.vcpu})`;
    const words: [bigint, bigint] = e.present ? encodeIrte({ remapEn: true, supIopf: e.suppressFaults, intType: 0, dm: false, guestMode: vapic !== undefined, destination: e.destination, vector: e.vector, ...(vapic !== undefined ? { vapic } : {}) }, ga) : [0n, 0n];
    const at = this.driver.writeIrte(rid, index, words, invalidate);
    if (at === undefined) return `device id ${bdf(rid)} has no interrupt remapping table (its DTE's IntTableRootPtr is not set: the device is not attached)`;
    const what = !e.present ? "cleared (RemapEn = 0)" : vapic !== undefined ? `guest virtual APIC: vector ${hex(e.vector)} posted to the vAPIC backing page at ${hex(vapic.gaRootPtr)}, ${vapicState(vapic, e, tagged)}` : `vector ${hex(e.vector)} -> APIC ${e.destination}${e.suppressFaults ? " (SupIOPF)" : ""}`;
    const size = ga ? "128-bit" : "32-bit";
    return { address: BigInt(at), value: words[0], summary: `${size} IRTE ${index} of devid ${bdf(rid)} at HPA ${hex(at)}: ${what}${invalidate ? "; INVALIDATE_INTERRUPT_TABLE issued" : "; no INVALIDATE_INTERRUPT_TABLE"}` };
  }

  msi(rid: number, address: number, data: number): MsiAnswer {
    const ir = this.unit.intr;
    const code = ir.remap(rid, address, data);
    const via = ir.cached ? " (IRTE cache)" : "";
    if (code !== 0) {
      const name = eventInfo(code).name;
      const flags = flagNames(ir.flags).join(" ");
      const fate = ir.fate === AmdFate.Logged ? "logged" : ir.fate === AmdFate.Suppressed ? "not logged (SupIOPF or DTE SA)" : ir.fate === AmdFate.Overflow ? "lost: event log overflow" : "not logged";
      return { code, fate: ir.fate, recorded: ir.fate === AmdFate.Logged, delivered: false, summary: `blocked: ${hex(code)} ${name} [${flags}] - ${ir.why}${via}; ${fate}` };
    }
    if (ir.outcome === IntrOutcome.Aborted) return { code: 0, fate: 0, recorded: false, delivered: false, summary: `target-aborted without an event: ${ir.why}` };
    if (ir.outcome === IntrOutcome.Posted) return { code: 0, fate: 0, recorded: false, delivered: true, notified: ir.notified, target: BigInt(ir.postedTo), summary: `${ir.why}${via}` };
    if (ir.outcome === IntrOutcome.Forwarded) return { code: 0, fate: 0, recorded: false, delivered: true, summary: `delivered as written: ${ir.why}` };
    return { code: 0, fate: 0, recorded: false, delivered: true, summary: `${ir.why} remapped to vector ${hex(ir.vector)}, APIC ${ir.destination}${via}` };
  }
}
