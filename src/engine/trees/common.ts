/**
 * What the per-view tree modules share: the context a tree is built in, number formatting in the
 * user's radix, and the device node (the VM and group views both list devices).
 */
import type { TreeNode, Radix } from "../../protocol/engine.js";
import type { IommuInspection } from "../../sim/iommu.js";
import type { Machine } from "../../sim/machine.js";
import { formatBdf, formatSid } from "../../sim/bdf.js";
import type { PciDevice } from "../../sim/pci.js";
import type { Run } from "../../sim/run.js";
import type { Scenario } from "../../scenario/types.js";
import * as l10n from "@vscode/l10n";

export interface TreeContext {
  machine: Machine;
  run: Run;
  scenario: Scenario;
  cursor: number;
  radix: Radix;
}

/** The machine's IOMMU through the contract's inspection half: the one way a view reads tables, registers and fault records. */
export function inspectionOf(m: Machine): IommuInspection {
  return m.iommu;
}

export function num(v: bigint | number, radix: Radix): string {
  return radix === "hex" ? `0x${v.toString(16)}` : v.toString(10);
}
export const hx = (v: bigint | number) => `0x${v.toString(16)}`;
export const hex2 = (n: number) => n.toString(16).padStart(2, "0");
export const hex4 = (n: number) => n.toString(16).padStart(4, "0");
export const qword = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;

export function leaf(id: string, label: string, description?: string, extra: Partial<TreeNode> = {}): TreeNode {
  const n: TreeNode = { id, label, collapsible: 0, ...extra };
  if (description !== undefined) n.description = description;
  return n;
}

/** Read/write permissions as "RW", "R-", "-W", "--" (R = 1, W = 2: VFIO prot and VT-d entries alike). */
export function permText(prot: number): string {
  return `${prot & 1 ? "R" : "-"}${prot & 2 ? "W" : "-"}`;
}

/** The same permissions in words, for a screen reader ("read-write", "read-only", "write-only", "no access"). */
export function permWords(prot: number): string {
  return [l10n.t("no access"), l10n.t("read-only"), l10n.t("write-only"), l10n.t("read-write")][prot & 3]!;
}

/** A page size from its byte count: "4 KiB", "2 MiB", "1 GiB". */
export function pageSizeText(bytes: bigint): string {
  return bytes >= 1n << 30n ? `${bytes >> 30n} GiB` : bytes >= 1n << 20n ? `${bytes >> 20n} MiB` : `${bytes >> 10n} KiB`;
}

export function deviceNode(id: string, dev: PciDevice | undefined, key: string, ctx: TreeContext): TreeNode {
  if (dev === undefined) return leaf(id, key, "not in the host topology", { icon: "error", color: "errorForeground" });
  const s = dev.spec;
  const ids = s.vendorId !== undefined ? `${hex4(s.vendorId)}:${hex4(s.deviceId ?? 0)}` : undefined;
  const group = ctx.machine.pci.groupOf(dev);
  const description = [s.name, ids ? `[${ids}]` : undefined, s.driver ?? "no driver"].filter(Boolean).join(" · ");
  return {
    id,
    label: dev.key,
    description,
    accessibilityLabel: l10n.t("{0} {1}, {2}", dev.isBridge ? l10n.t("Bridge") : l10n.t("Device"), dev.key, description),
    tooltip: l10n.t("{0} {1}{2}\nkind: {3}\ndriver: {4}\nrequester id: {5}\nIOMMU group {6}", formatBdf(dev.bdf, "always"), s.name ?? "", ids ? ` [${ids}]` : "", dev.kind, s.driver ?? "(none)", formatSid(ctx.machine.pci.requesterId(dev)), group.id),
    icon: dev.isBridge ? "type-hierarchy" : "circuit-board",
    contextValue: dev.isBridge ? "bridge" : "device",
    collapsible: 0,
    device: dev.key,
    copy: dev.key,
  };
}
