/**
 * Which unit of a host with several IOMMU units (`host.iommus`, docs/multi-unit.md) translates a
 * device: the unit whose scope names the device or the nearest bridge above it, else the VT-d
 * unit with INCLUDE_PCI_ALL - Linux's dmar_find_matched_drhd_unit() (drivers/iommu/intel/dmar.c)
 * walks the device and then its parent bridges through every DRHD's device scope, and takes the
 * INCLUDE_PCI_ALL unit, kept at the list's tail, when none matches. The one implementation of that
 * rule: the parser checks scopes with it and the machine routes requester ids with it.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { HostSpec, IommuUnitSpec, PciDeviceSpec } from "./types.js";

/** Index in `units` of the unit translating device `key`; -1 when no unit's scope holds it. */
export function unitIndexOfDevice(units: readonly IommuUnitSpec[], pci: readonly PciDeviceSpec[], key: string): number {
  const byKey = new Map(pci.map((d) => [d.key, d]));
  let k: string | undefined = key;
  // A parent chain is at most 256 buses deep; the bound also stops a cycle (reported elsewhere).
  for (let hops = 0; k !== undefined && hops < 256; hops++) {
    const at = k;
    const i = units.findIndex((u) => u.devices.includes(at));
    if (i >= 0) return i;
    k = byKey.get(k)?.parent;
  }
  return units.findIndex((u) => u.includeAll);
}

/**
 * Keys of the host devices with a PCIe ATS capability: the `ats` lists of every unit (VT-d
 * host.iommu.ats, AMD-Vi amd.ats, SMMUv3 smmu.ats). A guest behind a vIOMMU sees the same
 * capability (vfio-pci passes it read-only).
 */
export function atsDeviceKeys(host: Pick<HostSpec, "iommu" | "iommus">): Set<string> {
  const units = [host.iommu, ...(host.iommus ?? []).map((u) => u.iommu)];
  return new Set(units.flatMap((u) => [...(u.ats ?? []), ...(u.amd?.ats ?? []), ...(u.smmu?.ats ?? [])]).map((a) => a.device));
}
