/**
 * Host-topology rules beyond pci.ts's grouping, reported with the machine's diagnostics and log:
 * the ACS override what-if (which groups `pcie_acs_override=` splits, and whether a split group
 * held a device the host itself depends on) and SR-IOV's PF binding rule.
 */
import { formatBdf } from "./bdf.js";
import { plural } from "./plural.js";
import { PciTopology, type PciDevice } from "./pci.js";
import { acsOverrideActive, parseAcsOverride } from "../scenario/acsOverride.js";
import type { Diagnostic, Scenario } from "../scenario/types.js";

/**
 * Host drivers whose device the host cannot lose (its storage, its display, its USB keyboard):
 * a group split by the override that puts one of these beside an assigned device lets the guest
 * reach it peer-to-peer without the IOMMU.
 */
const HOST_CRITICAL: Record<string, string> = {
  nvme: "storage",
  ahci: "storage",
  ata_piix: "storage",
  megaraid_sas: "storage",
  mpt3sas: "storage",
  smartpqi: "storage",
  virtio_blk: "storage",
  isci: "storage",
  i915: "the host's display",
  xe: "the host's display",
  amdgpu: "the host's display",
  radeon: "the host's display",
  nouveau: "the host's display",
  nvidia: "the host's display",
  ast: "the host's display",
  mgag200: "the host's display",
  xhci_hcd: "a USB controller of the host",
  "xhci-pci": "a USB controller of the host",
  "ehci-pci": "a USB controller of the host",
  ehci_hcd: "a USB controller of the host",
  "ohci-pci": "a USB controller of the host",
  uhci_hcd: "a USB controller of the host",
};

/** What a host-critical device is to the host ("storage", ...), or undefined. */
export function hostCriticalRole(d: PciDevice): string | undefined {
  const drv = d.spec.driver;
  return drv === undefined ? undefined : HOST_CRITICAL[drv];
}

/**
 * The override's diagnostics: the patch's own warning (as an `acs-override-unsafe` warning naming
 * the groups it splits), and an `acs-override-host-critical` warning per host-critical device that
 * shared a group with a device given to a VM (or bound to vfio-pci) before the override and does
 * not after it: the isolation Linux now reports is not there in the hardware.
 */
export function acsOverrideDiagnostics(s: Scenario, withOverride: PciTopology): Diagnostic[] {
  const o = s.host.acsOverride;
  if (!acsOverrideActive(o)) return [];
  const without = PciTopology.build(s.host.pci).topology;
  const out: Diagnostic[] = [];
  const assigned = new Map<string, string>();
  for (const vm of s.vms) for (const k of vm.devices) assigned.set(k, vm.name);
  const splits: string[] = [];
  for (const g of without.groups) {
    const now = new Map<number, PciDevice[]>();
    for (const d of g.devices) {
      const nd = withOverride.device(d.key);
      if (nd === undefined) continue;
      const id = withOverride.groupOf(nd).id;
      const list = now.get(id);
      if (list === undefined) now.set(id, [d]);
      else list.push(d);
    }
    if (now.size < 2) continue;
    splits.push(`group ${g.id} (${g.devices.map((d) => d.key).join(", ")}) into ${[...now.keys()].map((id) => `group ${id}`).join(", ")}`);
    for (const h of g.devices) {
      const role = hostCriticalRole(h);
      if (role === undefined) continue;
      const hGroup = withOverride.groupOf(withOverride.device(h.key)!).id;
      for (const a of g.devices) {
        const vm = assigned.get(a.key);
        if (a === h || (vm === undefined && a.spec.driver !== "vfio-pci")) continue;
        if (withOverride.groupOf(withOverride.device(a.key)!).id === hGroup) continue;
        out.push({
          severity: "warning",
          code: "acs-override-host-critical",
          range: o.range,
          message: `pcie_acs_override=${o.text} moves ${a.key}${vm !== undefined ? ` (assigned to VM ${vm})` : " (bound to vfio-pci)"} out of IOMMU group ${g.id}, away from ${h.key} (${h.spec.name ?? h.spec.driver}, ${role}, bound to ${h.spec.driver}); the ports between them still have no ACS, so the guest's device can reach it peer-to-peer and the IOMMU never sees that traffic`,
          hint: `Put ${a.key} in a slot whose root port has ACS, or keep ${h.key} out of that slot; the override only changes what Linux believes.`,
        });
      }
    }
  }
  out.unshift({
    severity: "warning",
    code: "acs-override-unsafe",
    range: o.range,
    message:
      `pcie_acs_override=${o.text}: the kernel warns "Warning: PCIe ACS overrides enabled; This may allow non-IOMMU protected peer-to-peer DMA". ` +
      (splits.length === 0 ? "It splits no IOMMU group on this host." : `It splits ${splits.join("; ")}: unsafe isolation, the hardware still lets those devices talk to each other without the IOMMU.`),
    hint: "The override makes Linux assume ACS where the hardware has none; use it only when every device it separates is trusted.",
  });
  return out;
}

/**
 * Kernel lines at boot: the patch's pr_warn at early_param time, and vfio-pci refusing a PF with
 * VFs enabled (drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_register_device() - vfio_pci_probe()
 * before 5.15: `if (pci_num_vf(pdev)) { pci_warn(pdev, "Cannot bind to PF with SR-IOV enabled\n");
 * return -EBUSY; }`; dev_warn's prefix is the driver and dev_name()).
 */
export function hostTopologyBootLines(s: Scenario, t: PciTopology): string[] {
  const out: string[] = [];
  if (acsOverrideActive(s.host.acsOverride)) out.push("Warning: PCIe ACS overrides enabled; This may allow non-IOMMU protected peer-to-peer DMA");
  for (const d of t.devices) if (pfBindRefused(d)) out.push(`vfio-pci ${formatBdf(d.bdf, "always")}: Cannot bind to PF with SR-IOV enabled`);
  return out;
}

/**
 * A warning on each VM that is given an SR-IOV PF vfio-pci refuses (its VFs enabled), unless every
 * start step of the VM expects an error (then the scenario shows the refusal on purpose).
 */
export function sriovDiagnostics(s: Scenario, t: PciTopology): Diagnostic[] {
  const out: Diagnostic[] = [];
  const expectsError = new Map<string, boolean>();
  for (const st of s.workload) if (st.op === "start") expectsError.set(st.vm, (expectsError.get(st.vm) ?? true) && st.expect?.error !== undefined);
  for (const vm of s.vms) {
    if (expectsError.get(vm.name) === true) continue;
    for (const key of vm.devices) {
      const d = t.device(key);
      if (d === undefined || !pfBindRefused(d)) continue;
      out.push({
        severity: "warning",
        code: "pf-sriov-enabled",
        range: vm.range,
        message: `${key} is an SR-IOV physical function with ${plural(d.vfs?.length ?? 0, "VF")} enabled: vfio-pci refuses to bind it ("Cannot bind to PF with SR-IOV enabled", -EBUSY), so VM ${vm.name} cannot start with it`,
        hint: `Set num-vfs: 0 on ${key} (echo 0 > sriov_numvfs before binding vfio-pci), or assign one of its VFs (${(d.vfs ?? []).map((v) => v.key).slice(0, 3).join(", ")}) instead.`,
      });
    }
  }
  return out;
}

/** vfio-pci refuses to bind a PF whose VFs are enabled (pci_num_vf(pdev) != 0): -EBUSY at probe. */
export function pfBindRefused(d: PciDevice): boolean {
  return d.spec.driver === "vfio-pci" && (d.spec.sriov?.numVfs ?? 0) > 0;
}

/** The override the "what if" tries: the broadest the patch offers short of naming ids. */
export const WHAT_IF_ACS_OVERRIDE = "downstream,multifunction";

/**
 * What if the host booted with pcie_acs_override=downstream,multifunction: for each of `keys`
 * (devices a VM needs), its group under the override and whether that group would be viable.
 * Undefined when the scenario already sets an override or the override would not help them all.
 */
export function acsOverrideWhatIf(s: Scenario, keys: string[]): { key: string; group: number; devices: string[] }[] | undefined {
  if (s.host.acsOverride !== undefined) return undefined;
  const o = parseAcsOverride(WHAT_IF_ACS_OVERRIDE, s.host.range).spec;
  const t = PciTopology.build(s.host.pci, o).topology;
  const out: { key: string; group: number; devices: string[] }[] = [];
  for (const key of keys) {
    const d = t.device(key);
    if (d === undefined) return undefined;
    const g = t.groupOf(d);
    if (!t.viability(g).viable) return undefined;
    out.push({ key, group: g.id, devices: g.devices.map((x) => x.key) });
  }
  return out.length > 0 ? out : undefined;
}
