/**
 * The `pcie_acs_override=` quirk of the out-of-tree ACS override patch (drivers/pci/quirks.c
 * pcie_acs_overrides(), registered last in pci_dev_acs_enabled[] as
 * { PCI_ANY_ID, PCI_ANY_ID, pcie_acs_overrides }), as pci_acs_enabled() consults it before its own
 * rules (pci_dev_specific_acs_enabled(): a result >= 0 is the answer):
 *   - never for a legacy (conventional PCI) device or one with an ACS capability: -ENOTTY;
 *   - an `id:` match on vendor and device: 1;
 *   - PCI_EXP_TYPE_DOWNSTREAM / ROOT_PORT with `downstream`: 1;
 *   - PCI_EXP_TYPE_ENDPOINT / UPSTREAM / LEG_END / RC_END with `multifunction` when
 *     dev->multifunction: 1;
 *   - otherwise -ENOTTY (pci_acs_enabled() goes on with its own rules).
 * The option text is read in scenario/acsOverride.ts.
 */
import type { AcsOverrideSpec } from "../scenario/types.js";
import type { PciDevice } from "./pci.js";

/** true where the quirk says "ACS enabled" (returns 1), undefined where it returns -ENOTTY. */
export function acsOverrideQuirk(d: PciDevice, o: AcsOverrideSpec): true | undefined {
  // The model's `acs: true` is an ACS capability with SV|RR|CR|UF; `acs: false` is none.
  if (d.spec.acs || !isPcie(d)) return undefined;
  for (const id of o.ids) if (id.vendor === d.spec.vendorId && id.device === d.spec.deviceId) return true;
  switch (d.kind) {
    case "switch-downstream":
    case "root-port":
      return o.downstream ? true : undefined;
    case "endpoint":
    case "switch-upstream":
    case "integrated":
      return o.multifunction && d.multifunction ? true : undefined;
    default:
      return undefined;
  }
}

/** pci_is_pcie(): not a host bridge and not a conventional PCI device behind a PCIe-to-PCI bridge. */
function isPcie(d: PciDevice): boolean {
  if (d.kind === "host-bridge") return false;
  for (let p = d.parent; p !== undefined; p = p.parent) if (p.kind === "pcie-pci-bridge") return false;
  return true;
}
