/**
 * The Mapping Tables view: the IOMMU unit, its registers, the root table -> context entries ->
 * domain -> page-table levels, the IOTLB and context cache, and the fault recording registers.
 * Every node comes from the model through the contract's inspection half (sim/iommu.ts
 * tables() / registers() / faults()): this module lays nodes out and words them, it reads no
 * entry bit itself.
 *
 * Ids below "t/root" are the path of node keys: "t/root/01/00/d/0/3" is bus 01, devfn 00, the
 * domain, entry 0 of the top level, entry 3 of the next; a node's id alone re-finds it after an edit.
 */
import type { TreeNode } from "../../protocol/engine.js";
import { fieldText, type DecodedField, type FaultRecordView, type StructureNames, type TableNode } from "../../sim/iommu.js";
import { plural } from "../../sim/plural.js";
import { formatDevfn, formatSid } from "../../sim/bdf.js";
import { hex2, hx, inspectionOf, leaf, num, pageSizeText, permText, qword, type TreeContext } from "./common.js";
import * as l10n from "@vscode/l10n";

export function tableChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const iommu = inspectionOf(ctx.machine);
  const t = iommu.tables();
  if (id === null) {
    return [{
      id: "t",
      label: t.name,
      description: l10n.t("{0} · {1}-bit · {2}", t.model, t.addressWidth, t.translationEnabled ? "translation on" : "translation off"),
      tooltip: l10n.t("DMA remapping unit {0}: host address width {1} bits, {2}, IOTLB {3}", t.name, t.addressWidth, plural(t.faultRecords, "fault recording register"), t.iotlb.geometry),
      icon: "chip",
      contextValue: "unit",
      collapsible: 2,
    }];
  }
  const parts = id.split("/");
  if (parts[0] !== "t") return null;
  const n = t.names;
  if (parts.length === 1) {
    const iotlb = t.iotlb.entries();
    const cc = t.contextCache.entries();
    const records = iommu.faults(ctx.scenario.host.kernel);
    const pending = records.filter((r) => r.pending).length;
    const serviced = records.length - pending;
    return [
      { id: "t/regs", label: "Registers", icon: "symbol-variable", collapsible: 1 },
      { id: "t/root", label: n?.root ?? l10n.t("Root table"), description: `@ ${num(t.root.address, ctx.radix)}`, icon: "list-tree", collapsible: 1, copy: hx(t.root.address) },
      { id: "t/iotlb", label: "IOTLB", description: l10n.t("{0} of {1} entries", iotlb.length, t.iotlb.capacity), icon: "database", collapsible: iotlb.length ? 1 : 0 },
      { id: "t/cc", label: n?.entryCache ?? l10n.t("Context cache"), description: plural(cc.length, "entry"), icon: "database", collapsible: cc.length ? 1 : 0 },
      {
        id: "t/frcd",
        label: n?.faults ?? l10n.t("Fault recording registers"),
        description: l10n.t("{0} of {1} in use{2}", pending, t.faultRecords, serviced ? ` · ${plural(serviced, "record")} serviced (F = 0)` : ""),
        tooltip: n?.faultsTooltip ?? l10n.t("FRCD registers at CAP.FRO (VT-d 11.4.9.6). F = 1: a fault record software has not read yet. F = 0 with a value: a record the kernel's dmar_fault() read and cleared; the register keeps its last contents."),
        icon: pending ? "warning" : "pass",
        color: pending ? "problemsWarningIcon.foreground" : undefined,
        collapsible: records.length ? 1 : 0,
      },
    ];
  }
  switch (parts[1]) {
    case "regs": {
      const regs = iommu.registers();
      if (parts.length === 2) {
        return regs.map((r) =>
          leaf(`t/regs/${r.name}`, r.name, r.width === 64 ? qword(r.value) : `0x${r.value.toString(16).padStart(8, "0")}`, {
            icon: "symbol-constant",
            tooltip: l10n.t("{0} (offset 0x{1}, {2} {3}): {4}", r.name, r.offset.toString(16).padStart(3, "0"), n?.spec ?? "VT-d spec", r.section, r.fields.map((f) => `${f.name}=${f.value}`).join(" ")),
            collapsible: r.fields.length ? 1 : 0,
            copy: hx(r.value),
          }),
        );
      }
      const reg = regs.find((r) => r.name === parts[2]);
      return reg === undefined ? null : fieldNodes(`t/regs/${reg.name}`, reg.fields);
    }
    case "iotlb":
      return t.iotlb.entries().map((e) =>
        leaf(`t/iotlb/${e.key}`, `DID ${e.did} IOVA ${num(e.iova, ctx.radix)}`, `→ HPA ${num(e.hpa, ctx.radix)} · ${pageSizeText(e.pageSize)} · ${permText(e.perm)}`, {
          icon: "symbol-key",
          tooltip: l10n.t("IOTLB {0}: domain {1}, IOVA page {2} -> HPA {3}, permissions {4}. Stays until an invalidation covers it, even when the page tables change.", e.slot, e.did, hx(e.iova), hx(e.hpa), permText(e.perm)),
        }),
      );
    case "cc":
      return t.contextCache.entries().map((e) =>
        leaf(`t/cc/${e.key}`, formatSid(e.sid), `DID ${e.did} · ${e.translation === "pass-through" ? "pass-through" : `${e.levels}-level @ ${num(e.pageTable, ctx.radix)}`}${e.fpd ? " · FPD" : ""}`, { icon: "symbol-key" }),
      );
    case "frcd": {
      const records = iommu.faults(ctx.scenario.host.kernel);
      if (parts.length === 3) {
        const r = records.find((x) => String(x.index) === parts[2]);
        return r === undefined ? null : fieldNodes(`t/frcd/${r.index}`, r.fields);
      }
      return records.map((r) => frcdNode(r, ctx, n?.faultRecord ?? "FRCD"));
    }
    case "root": {
      let node: TableNode | undefined = t.root;
      for (let i = 2; i < parts.length && node !== undefined; i++) node = node.child(parts[i]!);
      if (node === undefined) return null;
      return node.children().map((c) => tableNode(`${parts.join("/")}/${c.key}`, c, ctx, n));
    }
  }
  return null;
}

const bitRange = (f: DecodedField) => (f.hi === f.lo ? `[${f.lo}]` : `[${f.hi}:${f.lo}]`);

function fieldNodes(parentId: string, fields: readonly DecodedField[]): TreeNode[] {
  return fields.map((f) =>
    leaf(`${parentId}/${f.name}`, f.name, f.hi === f.lo || f.value === f.raw.toString() ? fieldText(f) : `${fieldText(f)} · ${bitRange(f)} = ${hx(f.raw)}`, {
      icon: "symbol-field",
      tooltip: l10n.t("{0}, bits {1}: raw {2} → {3}", f.name, bitRange(f), hx(f.raw), fieldText(f)),
    }),
  );
}

/** The fields as `NAME=value`, one tooltip line. */
function fieldLine(fields: readonly DecodedField[]): string {
  return fields.map((f) => `${f.name}=${fieldText(f)}`).join(" ");
}

/** A corrupt entry: the reserved bits the model faults on, and the fault it gives. */
function reservedText(n: TableNode, ctx: TreeContext): string | undefined {
  if (!n.reserved) return undefined;
  const bits = n.reserved.bits.map((b, i) => (b === 0n ? undefined : `${n.raw.length > 1 ? (i === 0 ? "lo " : "hi ") : ""}${hx(b)}`)).filter(Boolean);
  return `reserved bits ${bits.join(", ")} set: fault ${ctx.machine.iommu.reason(n.reserved.reason).label}`;
}

function frcdNode(r: FaultRecordView, ctx: TreeContext, prefix: string): TreeNode {
  const [lo, hi] = r.raw;
  return {
    id: `t/frcd/${r.index}`,
    label: l10n.t("{0}{1}: {2} {3} {4}", prefix, r.index, formatSid(r.sid), r.write ? "write" : "read", num(r.address, ctx.radix)),
    description: `${ctx.machine.iommu.reason(r.reason).label}${r.pending ? "" : " · serviced (F = 0)"}`,
    tooltip: l10n.t("{0}\n{1}\n{2}\nLinux prints:\n{3}", r.pending ? "Pending fault record (F = 1)." : "Serviced: the kernel's dmar_fault() read this record and cleared F; the register keeps its contents.", ctx.machine.iommu.reason(r.reason).explanation, r.fields.map((x) => `${x.name}=${x.value}`).join(" "), r.dmesg.join("\n")),
    icon: "error",
    color: r.pending ? "errorForeground" : "disabledForeground",
    collapsible: 1,
    copy: `${qword(hi)}${qword(lo).slice(2)}`,
  };
}

/** One node of the root table's tree, worded for the view. */
function tableNode(id: string, n: TableNode, ctx: TreeContext, names?: StructureNames): TreeNode {
  const m = ctx.machine;
  const corrupt = reservedText(n, ctx);
  const warn = corrupt ? { color: "errorForeground", icon: "error" } : {};
  switch (n.kind) {
    case "root-entry":
      return {
        id,
        label: l10n.t("bus {0}", hex2(n.bus)),
        description: l10n.t("root entry {0} → context table @ {1}{2}", qword(n.raw[0]!), num(n.contextTable, ctx.radix), corrupt ? ` · ${corrupt}` : ""),
        tooltip: l10n.t("Root entry {0} at HPA {1}: {2}{3}", n.bus, hx(n.address!), fieldLine(n.fields), corrupt ? `\n${corrupt}` : ""),
        icon: "symbol-namespace",
        collapsible: n.hasChildren ? 1 : 0,
        copy: qword(n.raw[0]!),
        ...warn,
      };
    case "context-entry": {
      const [lo, hi] = [n.raw[0]!, n.raw[1]!];
      const dev = m.pci.devices.find((d) => m.pci.dmaAliases(d).includes(n.sid));
      return {
        id,
        // Under the root directly (a device table indexed by requester id): the whole id, not the devfn.
        label: `${id.split("/").length === 3 ? formatSid(n.sid) : formatDevfn(n.sid)}${dev ? ` ${dev.spec.name ?? dev.key}` : ""}`,
        description: `${n.translation === "pass-through" ? `DID ${n.did} · pass-through` : `DID ${n.did} · ${n.levels}-level · ${names?.pageTablePointer ?? "SLPTPTR"} ${num(n.pageTable, ctx.radix)}${n.fpd ? " · FPD" : ""}`}${corrupt ? ` · ${corrupt}` : ""}`,
        tooltip: l10n.t("{0} {1} at HPA {2}\n{3}\n{4}{5}", names?.entry ?? "Context entry", formatSid(n.sid), hx(n.address!), n.raw.map((w, i) => `${n.raw.length === 2 ? (i === 0 ? "lo" : "hi") : `data[${i}]`} ${qword(w)}`).join("\n"), fieldLine(n.fields), corrupt ? `\n${corrupt}` : ""),
        icon: "symbol-struct",
        contextValue: "context-entry",
        collapsible: n.hasChildren ? 1 : 0,
        copy: `${qword(hi)}${qword(lo).slice(2)}`,
        ...(dev ? { device: dev.key } : {}),
        ...warn,
      };
    }
    case "domain": {
      const sharing = n.sharedWith;
      return {
        id,
        label: l10n.t("domain {0}", n.did),
        description: l10n.t("{0}-level · {1} @ {2}{3}", n.levels, n.topName, num(n.pageTable, ctx.radix), sharing.length ? ` · shared with ${sharing.map(formatSid).join(", ")}` : ""),
        tooltip: l10n.t("Domain {0} (DID): page tables of {1}, top table {2} at HPA {3}.{4} IOTLB entries are tagged with this DID.", n.did, plural(n.levels, "level"), n.topName, hx(n.pageTable), sharing.length ? ` The same tables translate ${sharing.map(formatSid).join(", ")}.` : ""),
        icon: "symbol-class",
        contextValue: "domain",
        collapsible: 1,
        copy: String(n.did),
      };
    }
    case "pte": {
      const v = n.raw[0]!;
      const perms = permText(n.perm);
      const description = n.leaf
        ? `${perms}${n.level > 1 ? " PS" : ""} · IOVA ${num(n.iova, ctx.radix)} → HPA ${num(n.target, ctx.radix)} (${pageSizeText(n.pageSize)})`
        : `${perms} · level-${n.level - 1} table @ ${num(n.target, ctx.radix)}`;
      return {
        id,
        label: `[${n.index}] ${qword(v)}`,
        description: corrupt ? `${perms} · ${corrupt}` : description,
        tooltip: l10n.t("Level-{0} entry {1} at HPA {2}\nraw {3}\n{4}\ncovers IOVA {5}–{6}{7}", n.level, n.index, hx(n.address!), qword(v), fieldLine(n.fields), hx(n.iova), hx(n.iova + n.span - 1n), corrupt ? `\n${corrupt}` : ""),
        icon: n.leaf ? "symbol-field" : "list-tree",
        contextValue: "pte",
        collapsible: n.hasChildren ? 1 : 0,
        copy: qword(v),
        ...warn,
      };
    }
    case "not-present":
      if (n.iova === undefined) return leaf(id, `${plural(n.count, "bus")} not present`, "P = 0", { icon: "circle-slash", color: "disabledForeground" });
      return leaf(id, n.first === n.last ? `[${n.first}]` : `[${n.first}–${n.last}]`, "not present", {
        icon: "circle-slash",
        color: "disabledForeground",
        tooltip: l10n.t("IOVA {0}–{1}: no translation (R = W = 0); a DMA here faults", hx(n.iova.first), hx(n.iova.last)),
      });
    case "unreadable":
      return leaf(id, `table @ ${num(n.address!, ctx.radix)} not readable`, `fault ${ctx.machine.iommu.reason(n.reason).label}`, { icon: "error", color: "errorForeground", tooltip: l10n.t("HPA {0} is not backed by memory: a walk that reads it faults {1}.", hx(n.address!), ctx.machine.iommu.reason(n.reason).label) });
    default:
      return leaf(id, n.key);
  }
}
