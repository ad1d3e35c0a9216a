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

export function validateReserved(s: Scenario): Diagnostic[] {
  const out: Diagnostic[] = [];
  const io = s.host.iommu;
  const devices = new Set(s.host.pci.map((d) => d.key));
  for (const r of io.rmrr ?? [])
    for (const d of r.devices) if (!devices.has(d)) out.push({ severity: "error", code: "unknown-device", message: l10n.t("RMRR device {0} is not a device in host.pci", d), hint: l10n.t("An RMRR's device scope names host devices: add it to host.pci or fix the BDF."), range: r.range });
  for (const a of [...(io.amd?.ats ?? []), ...(io.ats ?? [])]) if (!devices.has(a.device)) out.push({ severity: "error", code: "unknown-device", message: l10n.t("ATS device {0} is not a device in host.pci", a.device), hint: l10n.t("host.iommu.ats names host devices: add it to host.pci or fix the BDF."), range: a.range });
  if (io.eim && !io.intremap) out.push({ severity: "error", code: "intremap-config", message: l10n.t("host.iommu.eim needs host.iommu.intremap"), hint: l10n.t("x2APIC mode (EIM) is a mode of interrupt remapping: add intremap: true."), range: io.range });
  if (io.intremap && !io.queuedInvalidation) out.push({ severity: "error", code: "intremap-config", message: l10n.t("interrupt remapping needs queued invalidation"), hint: l10n.t("Linux enables interrupt remapping only with queued invalidation (the interrupt entry cache is invalidated through the queue): set queued-invalidation: true."), range: io.range });
  // AMD-Vi: Linux remaps interrupts unless host.iommu.intremap is false (amd.intremap).
  const amdIr = io.model === "amd-vi" && io.amd?.intremap !== false;
  if (!io.intremap && !amdIr) {
    const st = s.workload.find((w) => w.op === "irte");
    if (st) out.push({ severity: "error", code: "intremap-config", message: l10n.t("an irte step needs interrupt remapping on the host"), hint: l10n.t("Add intremap: true to host.iommu."), range: st.range });
  }
  return out;
}
