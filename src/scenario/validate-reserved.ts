/**
 * Checks of interrupt remapping, reserved regions and the memlock limit across the scenario
 * (docs/interrupt-remapping-and-reserved-regions.md): RMRR device scopes name host devices, a host
 * with EIM has interrupt remapping, interrupt remapping has queued invalidation, `irte` steps have
 * an interrupt-remapping table to write. (Whether host.memlock covers what a VM needs is the
 * simulator's question: sim/reserved.ts memlockDiagnostics, reported with the machine's
 * diagnostics.) Called from validateScenario with one line.
 */
import type { Diagnostic, Scenario } from "./types.js";
import * as l10n from "@vscode/l10n";

/**
 * Posted interrupts (VT-d CAP.PI): `posted-interrupts` is a mode of interrupt remapping; a posted
 * `irte` on a unit without CAP.PI is what KVM never writes (vmx_can_use_vtd_pi() needs
 * irq_remapping_cap(IRQ_POSTING_CAP), which set_irq_posting_cap() clears unless every unit has
 * cap_pi_support) - a warning, since the unit's answer (IM reserved, fault 0x24) is worth seeing;
 * a descriptor must be host memory.
 */
function validatePosted(s: Scenario): Diagnostic[] {
  const out: Diagnostic[] = [];
  const io = s.host.iommu;
  if (io.postedInterrupts && !io.intremap) out.push({ severity: "error", code: "intremap-config", message: l10n.t("host.iommu.posted-interrupts needs host.iommu.intremap"), hint: l10n.t("Posted interrupts are a format of interrupt-remapping table entries: add intremap: true."), range: io.range });
  for (const w of s.workload) {
    if (w.op === "irte" && w.posted !== undefined && io.model === "intel-vtd" && io.intremap && !io.postedInterrupts)
      out.push({ severity: "warning", code: "intremap-config", message: l10n.t("a posted-format IRTE on a unit without posted interrupts (CAP.PI = 0): the unit treats IRTE.IM as reserved and faults 0x24"), hint: l10n.t("KVM writes posted IRTEs only when every DMAR unit reports CAP.PI (irq_remapping_cap(IRQ_POSTING_CAP)): add posted-interrupts: true to host.iommu, or drop posted:."), range: w.range });
    if (w.op === "posted-descriptor" && w.address + 64n > s.host.memory)
      out.push({ severity: "error", code: "intremap-config", message: l10n.t("the posted-interrupt descriptor at {0} is beyond host memory ({1} bytes)", `0x${w.address.toString(16)}`, s.host.memory.toString()), hint: l10n.t("KVM's descriptor is part of the vCPU (struct vcpu_vmx, kernel memory): give an address below host.memory."), range: w.range });
    if (w.op === "posted-descriptor" && io.model !== "intel-vtd")
      out.push({ severity: "error", code: "intremap-config", message: l10n.t("posted-descriptor is VT-d's posted-interrupt descriptor; this host's IOMMU is {0}", io.model), hint: l10n.t("Use model: intel-vtd with intremap: true and posted-interrupts: true."), range: w.range });
  }
  return out;
}

export function validateReserved(s: Scenario): Diagnostic[] {
  const out: Diagnostic[] = [];
  const io = s.host.iommu;
  const devices = new Set(s.host.pci.map((d) => d.key));
  // Every unit's RMRRs and ATS devices (host.iommus), the host's one otherwise.
  const units = s.host.iommus?.map((u) => u.iommu) ?? [io];
  for (const r of units.flatMap((u) => u.rmrr ?? []))
    for (const d of r.devices) if (!devices.has(d)) out.push({ severity: "error", code: "unknown-device", message: l10n.t("RMRR device {0} is not a device in host.pci", d), hint: l10n.t("An RMRR's device scope names host devices: add it to host.pci or fix the BDF."), range: r.range });
  for (const a of units.flatMap((u) => [...(u.amd?.ats ?? []), ...(u.ats ?? [])])) if (!devices.has(a.device)) out.push({ severity: "error", code: "unknown-device", message: l10n.t("ATS device {0} is not a device in host.pci", a.device), hint: l10n.t("host.iommu.ats names host devices: add it to host.pci or fix the BDF."), range: a.range });
  if (io.eim && !io.intremap) out.push({ severity: "error", code: "intremap-config", message: l10n.t("host.iommu.eim needs host.iommu.intremap"), hint: l10n.t("x2APIC mode (EIM) is a mode of interrupt remapping: add intremap: true."), range: io.range });
  if (io.intremap && !io.queuedInvalidation) out.push({ severity: "error", code: "intremap-config", message: l10n.t("interrupt remapping needs queued invalidation"), hint: l10n.t("Linux enables interrupt remapping only with queued invalidation (the interrupt entry cache is invalidated through the queue): set queued-invalidation: true."), range: io.range });
  // AMD-Vi: Linux remaps interrupts unless host.iommu.intremap is false (amd.intremap).
  const amdIr = io.model === "amd-vi" && io.amd?.intremap !== false;
  if (!io.intremap && !amdIr) {
    const st = s.workload.find((w) => w.op === "irte");
    if (st) out.push({ severity: "error", code: "intremap-config", message: l10n.t("an irte step needs interrupt remapping on the host"), hint: l10n.t("Add intremap: true to host.iommu."), range: st.range });
  }
  out.push(...validatePosted(s));
  return out;
}
