/**
 * The `irte` and `msi` steps on a host whose model drives interrupt remapping through the seam
 * (HostIommu.interrupts, sim/host-iommu.ts): the step becomes the host driver's IRTE write and
 * the device's MSI, the answer an outcome and a trace event. Model-neutral: the rules are the
 * model's (AMD-Vi: sim/amdvi/intremap.ts). Called from irqsteps.ts with one line each.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { Step } from "../scenario/types.js";
import type { HostInterruptRemap } from "./host-iommu.js";
import type { Machine, StepOutcome } from "./machine.js";
import { failStep } from "./vmm.js";
import { EventKind, F_FATE_SHIFT, F_WRITE, F_XLATE_SHIFT } from "../trace/trace.js";

/** The trace's xlate kind of an interrupt (vtd/unit.ts XlateKind.Interrupt; the same number on every model). */
const XLATE_INTERRUPT = 3;
const hex = (n: number | bigint) => `0x${n.toString(16)}`;

export function hostIrteStep(m: Machine, ir: HostInterruptRemap, st: Extract<Step, { op: "irte" }>, out: StepOutcome): void {
  const dev = m.pci.device(st.device);
  if (dev === undefined) {
    failStep(m.trace, st.index, out, "unknown-device", `no host device ${st.device}`);
    return;
  }
  const vtdOnly = st.svt !== undefined ? "svt" : st.sq !== 0 ? "sq" : st.urgent ? "urgent" : undefined;
  if (vtdOnly !== undefined) {
    failStep(m.trace, st.index, out, "intremap-config", `"${vtdOnly}" is a field of Intel's IRTE; this host's IOMMU has no such field`);
    return;
  }
  const r = ir.program(m.pci.requesterId(dev), st.entry, { present: st.present, vector: st.vector, destination: st.destination, suppressFaults: st.fpd, ...(st.posted !== undefined ? { posted: st.posted } : {}), ...(st.running !== undefined ? { running: st.running } : {}), ...(st.preempted !== undefined ? { preempted: st.preempted } : {}), ...(st.gaTag !== undefined ? { gaTag: st.gaTag } : {}), ...(st.vcpu !== undefined ? { vcpu: st.vcpu } : {}), ...(st.vmId !== undefined ? { vmId: st.vmId } : {}) }, st.invalidate);
  if (typeof r === "string") {
    failStep(m.trace, st.index, out, "intremap-config", r);
    return;
  }
  m.trace.pushBig(EventKind.Poke, st.index, 0, 0, 0, 0, 0, r.address, r.value);
  out.summary = r.summary;
}

export function hostMsiStep(m: Machine, ir: HostInterruptRemap, st: Extract<Step, { op: "msi" }>, out: StepOutcome): void {
  const dev = m.pci.device(st.device);
  if (dev === undefined) {
    failStep(m.trace, st.index, out, "unknown-device", `no host device ${st.device}`);
    return;
  }
  const sid = m.pci.requesterId(dev);
  // The device's MSI: address 0xFEE00000 with the APIC id in 19:12, data = the index the driver
  // programmed (fill_msi_msg: msg->data = index) unless the step gives the data.
  const address = (0xfee00000 | ((st.destination & 0xff) << 12)) >>> 0;
  const data = st.data ?? st.handle;
  // `count` MSIs back to back, one trace event each; the summary tells the last (and how many were alike).
  const count = st.count ?? 1;
  const t = m.trace;
  t.reserve(t.length + count);
  let a = ir.msi(sid, address, data);
  let faults = 0;
  let firstFault = 0;
  let recorded = false;
  for (let i = 0; ; i++) {
    // The row's target: where the interrupt went (a posted one: its GA log entry or backing page).
    const to = a.target ?? (a.delivered ? BigInt(address) : 0n);
    t.push(EventKind.Interrupt, st.index, sid, 0, F_WRITE | (a.fate << F_FATE_SHIFT) | (XLATE_INTERRUPT << F_XLATE_SHIFT), 0, a.code, 0, address, Number(to >> 32n), Number(to & 0xffffffffn));
    if (a.code !== 0 && faults++ === 0) firstFault = a.code;
    recorded ||= a.recorded;
    if (i + 1 >= count) break;
    a = ir.msi(sid, address, data);
  }
  out.transactions = count;
  if (a.notified !== undefined) out.notified = a.notified;
  out.summary = `${count > 1 ? `${count} MSIs ` : "MSI "}${hex(address)} data ${hex(data)}: ${count > 1 ? "the last: " : ""}${a.summary}`;
  const after = ir.afterMsi?.(m.log, m.clock, st.index) ?? "";
  if (after) out.summary += `; ${after}`;
  if (faults !== 0) {
    out.status = "fault";
    out.fault = firstFault;
    out.faults = faults;
    out.recorded = recorded;
  }
}
