/** The Devices & IOMMU Groups view: groups, their viability, each device's ACS path to the root. */
import type { TreeNode } from "../../protocol/engine.js";
import { plural } from "../../sim/plural.js";
import { deviceNode, leaf, type TreeContext } from "./common.js";
import * as l10n from "@vscode/l10n";

export function groupChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const pci = ctx.machine.pci;
  if (id === null) {
    return pci.groups.map((g) => {
      const v = pci.viability(g);
      return {
        id: `g/${g.id}`,
        label: l10n.t("IOMMU group {0}", g.id),
        description: `${plural(g.devices.length, "device")} · ${v.viable ? "viable" : "not viable"}`,
        tooltip: v.viable
          ? `Group ${g.id} is viable: every device is bound to vfio-pci, pci-stub or no driver.`
          : `Group ${g.id} is not viable:\n${v.blockers.map((b) => `- ${b.why}`).join("\n")}\nBind every device of the group to vfio-pci (or unbind it) before assigning any of them.`,
        icon: v.viable ? "pass" : "error",
        color: v.viable ? "testing.iconPassed" : "errorForeground",
        contextValue: v.viable ? "group" : "group-not-viable",
        collapsible: 1,
      };
    });
  }
  const parts = id.split("/");
  const g = pci.groups.find((x) => String(x.id) === parts[1]);
  if (g === undefined) return null;
  if (parts.length === 2) {
    const v = pci.viability(g);
    const out: TreeNode[] = g.devices.map((d) => ({ ...deviceNode(`g/${g.id}/${d.key}`, d, d.key, ctx), collapsible: 1 as const }));
    if (!v.viable) {
      out.unshift({
        id: `g/${g.id}/why`,
        label: l10n.t("Why not viable"),
        description: v.blockers.map((b) => `${b.device.key} → ${b.driver}`).join(", "),
        icon: "warning",
        color: "problemsWarningIcon.foreground",
        collapsible: 1,
        contextValue: "why-not-viable",
      });
    }
    return out;
  }
  if (parts[2] === "why") {
    return pci.viability(g).blockers.map((b) =>
      leaf(`g/${g.id}/why/${b.device.key}`, b.why, "bind it to vfio-pci", { icon: "debug-disconnect", tooltip: l10n.t("{0}. VFIO requires every device in a group to be bound to vfio-pci, pci-stub or no driver (bridges excepted) — the kernel's vfio_dev_viable().", b.why), device: b.device.key }),
    );
  }
  const dev = g.devices.find((d) => d.key === parts[2]);
  if (dev === undefined) return null;
  // A device's children: its SR-IOV relatives (a PF's VFs, a VF's PF), then its ACS path up to the root.
  const sriov: TreeNode[] = [];
  if (dev.physfn !== undefined) {
    sriov.push(leaf(`g/${g.id}/${dev.key}/physfn`, l10n.t("VF {0} of {1}", dev.spec.vfNumber ?? "?", dev.physfn.key), l10n.t("physical function · group {0}", pci.groupOf(dev.physfn).id), { icon: "type-hierarchy-super", device: dev.physfn.key, tooltip: l10n.t("{0} is virtual function {1} of the SR-IOV physical function {2} ({3}).", dev.key, dev.spec.vfNumber ?? "?", dev.physfn.key, dev.physfn.spec.driver ?? "no driver") }));
  }
  for (const vf of dev.vfs ?? []) {
    sriov.push(leaf(`g/${g.id}/${dev.key}/vf/${vf.key}`, l10n.t("VF {0} {1}", vf.spec.vfNumber ?? "?", vf.key), `${vf.spec.driver ?? l10n.t("no driver")} · ${l10n.t("group {0}", pci.groupOf(vf).id)}`, { icon: "type-hierarchy-sub", device: vf.key, tooltip: l10n.t("Virtual function {0} of {1} at routing ID {2}: PF RID + First VF Offset + (n-1) × VF Stride.", vf.spec.vfNumber ?? "?", dev.key, vf.key) }));
  }
  const path = pci.acsPath(dev);
  if (path.length === 0) return [...sriov, leaf(`g/${g.id}/${dev.key}/root`, "on the root bus", "no bridge above it", { icon: "arrow-up" })];
  return [...sriov, ...path.map((p) =>
    leaf(`g/${g.id}/${dev.key}/${p.device.key}`, `${p.device.key} ${p.device.kind}`, `ACS ${p.acs ? "on" : p.overridden ? "override" : p.enabled ? "n/a" : "off"}${p.isolates ? " · isolates" : ""}`, {
      icon: p.enabled ? "lock" : "unlock",
      color: p.enabled ? undefined : "problemsWarningIcon.foreground",
      tooltip: p.acs
        ? `${p.device.key} has ACS (SV, RR, CR, UF): peer-to-peer traffic below it goes up to the IOMMU.`
        : p.overridden
          ? `${p.device.key} has no ACS, but pcie_acs_override= makes Linux believe it has: the groups below it are split, yet devices below it can still reach each other without the IOMMU (unsafe isolation).`
          : p.enabled
          ? `${p.device.key} is a single-function switch upstream port: ACS does not apply to it (PCIe 6.12.1.3), so Linux does not merge the groups below it here.`
          : `${p.device.key} has no ACS: devices below it can reach each other without the IOMMU, so Linux puts them in one group.`,
    }),
  )];
}
