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
import { fieldText, type DecodedField, type FaultRecordView, type InspectTables, type IommuInspection, type PagingStructureCacheEntryView, type PostedDescriptorView, type StructureNames, type TableNode } from "../../sim/iommu.js";
import { plural } from "../../sim/plural.js";
import { formatDevfn, formatSid } from "../../sim/bdf.js";
import { hex2, hx, inspectionOf, leaf, num, pageSizeText, permText, permWords, qword, type TreeContext } from "./common.js";
import * as l10n from "@vscode/l10n";

/**
 * The id prefix of unit `i`'s row on a host of several units (host.iommus): "t" for the first (so
 * a one-unit host's ids stay what they are), "t~1", "t~2" ... for the others.
 */
export function unitTreePrefix(i: number): string {
  return i === 0 ? "t" : `t~${i}`;
}

export function tableChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const hu = ctx.machine.hostUnits;
  if (hu.units.length < 2) return unitChildren(id, ctx, inspectionOf(ctx.machine));
  // One row per unit, each laid out as a one-unit host's with its ids under the unit's prefix.
  const under = (i: number, nodes: TreeNode[] | null) => nodes?.map((n) => ({ ...n, id: unitTreePrefix(i) + n.id.slice(1) })) ?? null;
  if (id === null) return hu.units.flatMap((u, i) => under(i, unitChildren(null, ctx, u)) ?? []);
  const head = /^t(?:~(\d+))?(?=\/|$)/.exec(id);
  if (head === null) return null;
  const i = head[1] === undefined ? 0 : Number(head[1]);
  const u = hu.units[i];
  return u === undefined ? null : under(i, unitChildren("t" + id.slice(head[0].length), ctx, u));
}

/** The rows of one unit (its registers, tables, caches and fault records), read through the contract. */
function unitChildren(id: string | null, ctx: TreeContext, iommu: IommuInspection): TreeNode[] | null {
  const t = iommu.tables();
  if (id === null) {
    return [{
      id: "t",
      label: t.name,
      description: l10n.t("{0} · {1}-bit · {2}", t.model, t.addressWidth, t.translationEnabled ? "translation on" : "translation off"),
      tooltip: l10n.t("IOMMU {0} ({1}): host address width {2} bits, {3}, IOTLB {4}", t.name, t.model, t.addressWidth, t.names ? `${t.names.faults.toLowerCase()} of ${plural(t.faultRecords, "record")}` : plural(t.faultRecords, "fault recording register"), t.iotlb.geometry),
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
      {
        id: "t/regs",
        label: l10n.t("Registers"),
        ...(t.registerBase !== undefined ? { description: `@ ${num(t.registerBase, ctx.radix)}` } : {}),
        tooltip: t.registerBase !== undefined ? l10n.t("The MMIO registers of {0} at {1} as software reads them now, each decoded into its fields ({2}).", t.name, hx(t.registerBase), n?.spec ?? "VT-d spec") : l10n.t("The MMIO registers of {0} as software reads them now, each decoded into its fields ({1}).", t.name, n?.spec ?? "VT-d spec"),
        icon: "symbol-variable",
        collapsible: 1,
      },
      {
        id: "t/root",
        label: t.root.label ?? n?.root ?? l10n.t("Root table"),
        description: `${t.root.description ? `${t.root.description} ` : ""}@ ${num(t.root.address, ctx.radix)}`,
        tooltip: l10n.t("{0} at HPA {1}: the table the unit reads first for every request, indexed by the requester's id. Expand it to follow a device to its page tables.", t.root.label ?? n?.root ?? l10n.t("Root table"), hx(t.root.address)),
        icon: "list-tree",
        collapsible: 1,
        copy: hx(t.root.address),
      },
      { id: "t/iotlb", label: l10n.t("IOTLB"), description: l10n.t("{0} of {1} entries", iotlb.length, t.iotlb.capacity), tooltip: l10n.t("Translations the unit has cached ({0}): used instead of the page tables until an invalidation removes them.", t.iotlb.geometry), icon: "database", collapsible: iotlb.length ? 1 : 0 },
      { id: "t/cc", label: n?.entryCache ?? l10n.t("Context cache"), description: plural(cc.length, "entry"), tooltip: l10n.t("{0}: per-device entries the unit has cached, used until an invalidation removes them.", n?.entryCache ?? l10n.t("Context cache")), icon: "database", collapsible: cc.length ? 1 : 0 },
      {
        id: "t/frcd",
        label: n?.faults ?? l10n.t("Fault recording registers"),
        description: l10n.t("{0} of {1} in use{2}", pending, t.faultRecords, serviced ? ` · ${plural(serviced, "record")} serviced (F = 0)` : ""),
        tooltip: n?.faultsTooltip ?? l10n.t("FRCD registers at CAP.FRO (VT-d 11.4.9.6). F = 1: a fault record software has not read yet. F = 0 with a value: a record the kernel's dmar_fault() read and cleared; the register keeps its last contents."),
        icon: pending ? "warning" : "pass",
        color: pending ? "problemsWarningIcon.foreground" : undefined,
        collapsible: records.length ? 1 : 0,
      },
      ...extraTableNodes(t, ctx),
    ];
  }
  switch (parts[1]) {
    case "regs": {
      const regs = iommu.registers();
      if (parts.length === 2) {
        const base = t.registerBase;
        return regs.map((r) =>
          leaf(`t/regs/${r.name}`, r.name, r.width === 64 ? qword(r.value) : `0x${r.value.toString(16).padStart(8, "0")}`, {
            icon: "symbol-constant",
            tooltip:
              base !== undefined
                ? l10n.t("{0} (MMIO {1}: offset 0x{2}, {3} {4}): {5}", r.name, hx(base + BigInt(r.offset)), r.offset.toString(16).padStart(3, "0"), n?.spec ?? "VT-d spec", r.section, r.fields.map((f) => `${f.name}=${f.value}`).join(" "))
                : l10n.t("{0} (offset 0x{1}, {2} {3}): {4}", r.name, r.offset.toString(16).padStart(3, "0"), n?.spec ?? "VT-d spec", r.section, r.fields.map((f) => `${f.name}=${f.value}`).join(" ")),
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
      return t.contextCache.entries().map((e) => {
        const description = e.description ?? `DID ${e.did} · ${e.translation === "pass-through" ? "pass-through" : `${e.levels}-level @ ${num(e.pageTable, ctx.radix)}`}${e.fpd ? " · FPD" : ""}`;
        const what = e.label ?? l10n.t("{0} {1} (cached)", n?.entry ?? l10n.t("Context entry"), formatSid(e.sid));
        return leaf(`t/cc/${e.key}`, e.label ?? formatSid(e.sid), description, {
          icon: "symbol-key",
          tooltip: l10n.t("{0}: {1}. The unit uses this copy, not the table in memory, until an invalidation removes it.", what, description),
          accessibilityLabel: `${what}, ${description}`,
        });
      });
    case "frcd": {
      const records = iommu.faults(ctx.scenario.host.kernel);
      if (parts.length === 3) {
        const r = records.find((x) => String(x.index) === parts[2]);
        return r === undefined ? null : fieldNodes(`t/frcd/${r.index}`, r.fields);
      }
      return records.map((r) => frcdNode(r, ctx, n?.faultRecord ?? "FRCD"));
    }
    case "ir":
    case "resv":
      return extraTableChildren(t, parts, ctx);
    case "log": {
      const lg = (t.logs ?? []).find((l) => l.id === parts[2]);
      if (lg === undefined || parts.length > 4) return null;
      const entries = lg.entries();
      if (parts.length === 4) {
        const e = entries.find((x) => x.key === parts[3]);
        return e === undefined ? null : fieldNodes(`t/log/${lg.id}/${e.key}`, e.fields);
      }
      return entries.map((e) => ({
        ...leaf(`t/log/${lg.id}/${e.key}`, `[${e.index}] ${e.summary}`, e.pending ? l10n.t("pending") : l10n.t("read"), {
          icon: e.pending ? "warning" : "mail",
          color: e.pending ? "problemsWarningIcon.foreground" : undefined,
          tooltip: l10n.t("{0} entry {1} at {2}: {3}", lg.name, e.index, hx(e.address), e.summary) + "\n" + e.raw.map((w) => qword(w)).join(" ") + (e.pending ? "\n" + l10n.t("Not yet read by the driver (between head and tail).") : ""),
          copy: hx(e.address),
          // Words first for a screen reader (the label starts with "[index]").
          accessibilityLabel: l10n.t("{0} entry {1}, {2}, {3}", lg.name, e.index, e.summary, e.pending ? l10n.t("pending") : l10n.t("read")),
        }),
        collapsible: e.fields.length ? 1 : 0,
      }));
    }
    case "devtlb":
      return (t.deviceTlb?.entries() ?? []).map((e) =>
        leaf(`t/devtlb/${e.key}`, `${formatSid(e.sid)}${e.pasid !== undefined ? ` PASID ${hx(e.pasid)}` : ""} IOVA ${num(e.iova, ctx.radix)}`, `→ HPA ${num(e.hpa, ctx.radix)} · ${pageSizeText(e.pageSize)} · ${permText(e.perm)}${e.stale ? l10n.t(" · stale") : ""}`, {
          icon: e.stale ? "warning" : "symbol-key",
          color: e.stale ? "problemsWarningIcon.foreground" : undefined,
          tooltip: e.stale ? l10n.t("Stale: the page tables no longer map IOVA {0} to {1}, but the device still translates with this entry. The driver unmapped without a device-TLB invalidation.", hx(e.iova), hx(e.hpa)) : l10n.t("Device {0} caches IOVA page {1} -> HPA {2}, permissions {3}.", formatSid(e.sid), hx(e.iova), hx(e.hpa), permText(e.perm)),
        }),
      );
    case "psc":
      return (t.pagingStructureCache?.entries() ?? []).map((e) => pscLeaf("t/psc", e, ctx));
    case "flpsc":
      return (t.firstLevelPagingStructureCache?.entries() ?? []).map((e) => pscLeaf("t/flpsc", e, ctx));
    case "priq": {
      const entries = t.pageRequests?.entries() ?? [];
      if (parts.length === 3) {
        const e = entries.find((x) => x.key === parts[2]);
        return e === undefined ? null : fieldNodes(`t/priq/${e.key}`, e.fields);
      }
      return entries.map((e) => {
        const who = `${formatSid(e.sid)}${e.pasid !== undefined ? ` PASID ${hx(e.pasid)}` : ""}`;
        return {
          ...leaf(`t/priq/${e.key}`, `[${e.index}] ${who} ${e.access} ${num(e.page, ctx.radix)}`, `PRG ${e.group}${e.last ? l10n.t(" (last)") : ""}${e.pending ? l10n.t(" · pending") : ""}`, {
            icon: e.pending ? "warning" : "mail",
            color: e.pending ? "problemsWarningIcon.foreground" : undefined,
            tooltip: l10n.t("Page request {0} at {1}: {2} asks for page {3} ({4}), page request group {5}{6}.", e.index, hx(e.address), who, hx(e.page), e.access, e.group, e.last ? l10n.t(", the group's last request") : "") + "\n" + e.raw.map((w) => qword(w)).join(" ") + (e.dmesg.length ? "\n" + e.dmesg.join("\n") : ""),
            accessibilityLabel: l10n.t("Page request {0}, {1}, {2} access to {3}, group {4}", e.index, who, e.access, num(e.page, ctx.radix), e.group),
            copy: hx(e.address),
          }),
          collapsible: e.fields.length ? 1 : 0,
        };
      });
    }
    case "root":
      return rootTableChildren(t.root, "t/root", parts.slice(2), ctx, undefined, n);
  }
  return null;
}

/** The interrupt-remapping table and the reserved regions, when the model has them (contract: tables()). */
function extraTableNodes(t: InspectTables, ctx: TreeContext): TreeNode[] {
  const out: TreeNode[] = [];
  const ir = t.interruptRemapping;
  if (ir) {
    const n = ir.entries().length;
    out.push({
      id: "t/ir",
      label: l10n.t("Interrupt remapping table"),
      description: l10n.t("@ {0} · {1} of {2} present · {3}{4}", num(ir.address, ctx.radix), n, ir.size, ir.entryFormat ?? (ir.x2apic ? "x2APIC" : "xAPIC"), ir.enabled ? "" : l10n.t(" · off")),
      tooltip: ir.perDevice ? l10n.t("The interrupt remapping tables of every device (one per device id, from its DTE): an MSI's data names an entry of its device's table.") : l10n.t("Every MSI in remappable format names an entry here; compatibility-format MSIs are {0}.", ir.compatibilityAllowed ? l10n.t("passed through unremapped") : l10n.t("blocked (fault 0x25)")),
      icon: "bell",
      collapsible: n ? 1 : 0,
      copy: hx(ir.address),
    });
  }
  const dtlb = t.deviceTlb;
  if (dtlb) {
    const entries = dtlb.entries();
    const stale = entries.filter((e) => e.stale).length;
    out.push({
      id: "t/devtlb",
      label: l10n.t("Device-TLB"),
      description: (dtlb.capacity !== undefined ? l10n.t("{0} of {1} entries", entries.length, dtlb.capacity) : plural(entries.length, "entry")) + (stale ? l10n.t(" · {0} stale", stale) : ""),
      tooltip: l10n.t("Translations ATS devices cache themselves (PCIe ATS: VT-d Device-TLB, AMD-Vi device IOTLB, SMMUv3 ATC). Their translated requests skip the IOTLB and the walk; only an invalidation sent to the device drops an entry."),
      icon: stale ? "warning" : "database",
      color: stale ? "problemsWarningIcon.foreground" : undefined,
      collapsible: entries.length ? 1 : 0,
    });
  }
  const psc = t.pagingStructureCache;
  if (psc) out.push(pscNode("t/psc", l10n.t("Paging-structure caches"), psc, l10n.t("Non-leaf page-table entries the unit has cached (VT-d 6.2.4: PML4E, PDPE and PDE caches): a walk starts below the deepest one. A page-selective invalidation with IH = 1 keeps them.")));
  const flpsc = t.firstLevelPagingStructureCache;
  if (flpsc) out.push(pscNode("t/flpsc", l10n.t("First-level paging-structure caches"), flpsc, l10n.t("Non-leaf first-level entries the unit has cached per PASID (VT-d 6.2.4: FL-PML4E, FL-PDPE and FL-PDE caches; nested: the host-physical address of the next first-level table, after the second level): a first-level walk starts below the deepest one. A PASID-based IOTLB invalidation drops them, a page-selective one only with IH = 0.")));
  const prq = t.pageRequests;
  if (prq) {
    const entries = prq.entries();
    const pending = entries.filter((e) => e.pending).length;
    out.push({
      id: "t/priq",
      label: prq.name,
      description: l10n.t("{0} of {1} slots used{2} @ {3}", entries.length, prq.capacity, pending ? l10n.t(" · {0} pending", pending) : "", num(prq.address, ctx.radix)),
      tooltip: l10n.t("Page requests PRI devices sent after a failed ATS translation: the device waits for the host to make the page present and answer the request group."),
      icon: "mail",
      collapsible: entries.length ? 1 : 0,
      copy: hx(prq.address),
    });
  }
  for (const lg of t.logs ?? []) {
    const entries = lg.entries();
    const pending = entries.filter((e) => e.pending).length;
    out.push({
      id: `t/log/${lg.id}`,
      label: lg.name,
      description: l10n.t("{0} of {1} slots used{2} @ {3}", entries.length, lg.capacity, pending ? l10n.t(" · {0} pending", pending) : "", num(lg.address, ctx.radix)) + (lg.stopped ? l10n.t(" · stopped") : ""),
      tooltip: lg.tooltip + (lg.stopped ? "\n" + l10n.t("Stopped: the log overflowed and the driver has not restarted it; new entries are lost.") : ""),
      icon: lg.stopped ? "warning" : "output",
      color: lg.stopped ? "problemsWarningIcon.foreground" : undefined,
      collapsible: entries.length ? 1 : 0,
      copy: hx(lg.address),
    });
  }
  const resv = t.reservedRegions ?? [];
  if (resv.length) out.push({ id: "t/resv", label: l10n.t("Reserved regions"), description: plural(resv.length, "region"), tooltip: l10n.t("Address ranges the IOMMU keeps for the firmware (identity-mapped regions such as RMRRs) or for interrupts (the MSI window): VFIO may not map them."), icon: "lock", collapsible: 1 });
  return out;
}

function extraTableChildren(t: InspectTables, parts: string[], ctx: TreeContext): TreeNode[] | null {
  if (parts[1] === "resv") {
    return (t.reservedRegions ?? []).map((r, i) =>
      leaf(`t/resv/${i}`, `${num(r.first, ctx.radix)}–${num(r.last, ctx.radix)}`, `${r.source}${r.devices.length ? ` · ${r.devices.join(", ")}` : ""}`, {
        icon: r.kind === "msi" ? "bell" : "lock",
        accessibilityLabel: `${r.source}, ${num(r.first, ctx.radix)} to ${num(r.last, ctx.radix)}${r.devices.length ? `, ${r.devices.join(", ")}` : ""}`,
        tooltip: r.kind === "msi" ? l10n.t("The MSI window: no DMA mapping may cover it (VFIO_IOMMU_MAP_DMA returns EINVAL); writes into it are interrupt requests.") : l10n.t("A direct (1:1) region the firmware requires for {0}: mapped identity in the device's default domain; the kernel refuses to give the device to VFIO.", r.devices.join(", ")),
      }),
    );
  }
  const ir = t.interruptRemapping;
  if (!ir) return null;
  const entries = ir.entries();
  if (parts.length >= 3) {
    const e = entries.find((x) => x.key === parts[2]);
    if (e === undefined) return null;
    if (parts.length === 4 && parts[3] === "pid" && e.descriptor) return fieldNodes(`t/ir/${e.key}/pid`, e.descriptor.fields);
    if (parts.length !== 3) return null;
    const fields = fieldNodes(`t/ir/${e.key}`, e.fields);
    return e.descriptor ? [...fields, descriptorNode(`t/ir/${e.key}/pid`, e.descriptor, ctx)] : fields;
  }
  return entries.map((e) =>
    leaf(`t/ir/${e.key}`, `IRTE[${e.index}]`, `${e.format === "posted" ? `posted → ${hx(e.destination)}` : `vector ${hx(e.vector)} → APIC ${e.destination}`} · ${e.source === "any" ? l10n.t("any source") : l10n.t("from {0}", e.source)}`, {
      icon: e.reserved ? "warning" : "symbol-event",
      tooltip:
        l10n.t("Interrupt remapping table entry {0} at HPA {1}\n{2}\n{3}", e.index, hx(e.address), e.raw.map((w, i) => `${e.raw.length === 2 ? (i === 0 ? "lo" : "hi") : `data[${i}]`} ${qword(w)}`).join("\n"), fieldLine(e.fields)) +
        (e.reserved ? "\n" + l10n.t("reserved bits set: fault {0}", ctx.machine.iommu.reason(e.reserved.reason).label) : ""),
      collapsible: 1,
      copy: hx(e.address),
    }),
  );
}

/** A posted-format entry's descriptor (contract: InterruptEntryView.descriptor), read from memory now. */
function descriptorNode(id: string, d: PostedDescriptorView, ctx: TreeContext): TreeNode {
  const pending = d.pending.map((v) => hx(v)).join(", ");
  const state = d.raw.length === 0 ? l10n.t("not in memory") : `${pending ? l10n.t("PIR {0}", pending) : l10n.t("PIR empty")}${d.outstanding ? " · ON" : ""}${d.suppressed ? " · SN" : ""} · NV ${hx(d.notificationVector)} → APIC ${d.notificationDestination}`;
  return {
    id,
    label: l10n.t("Posted-interrupt descriptor"),
    description: `@ ${num(d.address, ctx.radix)} · ${state}`,
    tooltip:
      d.raw.length === 0
        ? l10n.t("The entry posts into {0}, which is not host memory: the unit cannot post the interrupt.", hx(d.address))
        : l10n.t("Posted-interrupt descriptor at HPA {0}: an interrupt through this entry sets its vector's PIR bit; the unit sends notification vector {1} to APIC {2} when ON is clear and SN is clear (or the entry is urgent).\n{3}", hx(d.address), hx(d.notificationVector), d.notificationDestination, fieldLine(d.fields)),
    icon: d.outstanding ? "bell-dot" : "bell",
    collapsible: d.raw.length ? 1 : 0,
    copy: hx(d.address),
  };
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

/**
 * The structure a model's domain node stands for, where it has one in memory (SMMUv3: the CD), as
 * the model decodes it: its address, raw words and fields (empty for a VT-d/AMD-Vi domain).
 */
function domainEntryText(n: TableNode): string {
  if (n.address === undefined || n.raw.length === 0 || n.fields.length === 0) return "";
  return `\n${l10n.t("{0} at HPA {1}", n.label ?? "", hx(n.address))}\n${n.raw.map((w, i) => `data[${i}] ${qword(w)}`).join("\n")}\n${fieldLine(n.fields)}`;
}

/** The fields as `NAME=value`, one tooltip line. */
function fieldLine(fields: readonly DecodedField[]): string {
  return fields.map((f) => `${f.name}=${fieldText(f)}`).join(" ");
}

/** A corrupt entry: the reserved bits the model faults on, and the fault it gives. */
function reservedText(n: TableNode, ctx: TreeContext): string | undefined {
  if (!n.reserved) return undefined;
  const bits = n.reserved.bits.map((b, i) => (b === 0n ? undefined : `${n.raw.length > 1 ? (i === 0 ? "lo " : "hi ") : ""}${hx(b)}`)).filter(Boolean);
  // No reserved bit set: the entry is invalid for another reason (AMD-Vi: Next Level 7 at the DTE).
  if (bits.length === 0) return `invalid entry: fault ${ctx.machine.iommu.reason(n.reserved.reason).label}`;
  return `reserved bits ${bits.join(", ")} set: fault ${ctx.machine.iommu.reason(n.reserved.reason).label}`;
}

function frcdNode(r: FaultRecordView, ctx: TreeContext, prefix: string): TreeNode {
  const [lo, hi] = r.raw;
  return {
    id: `t/frcd/${r.index}`,
    // "FRCD0" is a register's name; "event 5" a record's number.
    label: l10n.t("{0}{1}: {2} {3} {4}", /[a-z]$/.test(prefix) ? `${prefix} ` : prefix, r.index, formatSid(r.sid), r.write ? "write" : "read", num(r.address, ctx.radix)),
    description: `${ctx.machine.iommu.reason(r.reason).label}${r.pending ? "" : " · serviced (F = 0)"}`,
    tooltip: l10n.t("{0}\n{1}\n{2}\nLinux prints:\n{3}", r.pending ? "Pending fault record (F = 1)." : "Serviced: the kernel's dmar_fault() read this record and cleared F; the register keeps its contents.", ctx.machine.iommu.reason(r.reason).explanation, r.fields.map((x) => `${x.name}=${x.value}`).join(" "), r.dmesg.join("\n")),
    icon: "error",
    color: r.pending ? "errorForeground" : "disabledForeground",
    collapsible: 1,
    copy: `${qword(hi)}${qword(lo).slice(2)}`,
  };
}

/**
 * The nodes below `parts` (node keys from the root table) of a unit's root table: the host unit's
 * (ids "t/root/...") or a guest vIOMMU's (the VM view, `guest` names its devices; addresses there
 * are guest-physical).
 */
export function rootTableChildren(root: TableNode, prefix: string, keys: readonly string[], ctx: TreeContext, guest?: GuestSpace, names?: StructureNames): TreeNode[] | null {
  let node: TableNode | undefined = root;
  for (const k of keys) {
    node = node.child(k);
    if (node === undefined) return null;
  }
  const base = keys.length ? `${prefix}/${keys.join("/")}` : prefix;
  return node.children().map((n) => tableNode(`${base}/${n.key}`, n, ctx, guest, names));
}

/** A guest vIOMMU's tables: its requester ids name the VM's devices, its addresses are GPAs. */
export interface GuestSpace {
  device(sid: number): string | undefined;
}

/** One node of the root table's tree, worded for the view. */
function tableNode(id: string, n: TableNode, ctx: TreeContext, guest?: GuestSpace, names?: StructureNames): TreeNode {
  const node = hostTableNode(id, n, ctx, guest, names);
  if (!guest) return node;
  // The same entries in the guest's memory: every address is guest-physical.
  const gpa = (t: string | undefined) => t?.replace(/\bHPA\b/g, "GPA");
  // No host menus (poke, translate) on guest entries: they act on the host unit.
  const { contextValue: _menu, device: _dev, ...rest } = node;
  return { ...rest, ...(node.description !== undefined ? { description: gpa(node.description)! } : {}), ...(node.tooltip !== undefined ? { tooltip: gpa(node.tooltip)! } : {}) };
}

/** A node as the host's view words it: the model's own label and description when it gives them (iommu.ts NodeBase). */
function hostTableNode(id: string, n: TableNode, ctx: TreeContext, guest?: GuestSpace, names?: StructureNames): TreeNode {
  const node = kindNode(id, n, ctx, guest, names);
  if (n.label !== undefined) node.label = n.label;
  if (n.description !== undefined) {
    const corrupt = reservedText(n, ctx);
    node.description = corrupt ? `${n.description} · ${corrupt}` : n.description;
  }
  return node;
}

/** The default wording of a node by its kind (`names`: the model's structure names, InspectTables.names). */
function kindNode(id: string, n: TableNode, ctx: TreeContext, guest?: GuestSpace, names?: StructureNames): TreeNode {
  const m = ctx.machine;
  const corrupt = reservedText(n, ctx);
  const warn = corrupt ? { color: "errorForeground", icon: "error" } : {};
  switch (n.kind) {
    case "root-entry":
      return {
        id,
        label: l10n.t("bus {0}", hex2(n.bus)),
        // The decoded pointer; the raw entry is in the tooltip (and Copy Value).
        description: l10n.t("→ context table @ {0}{1}", num(n.contextTable, ctx.radix), corrupt ? ` · ${corrupt}` : ""),
        tooltip: l10n.t("{0} at HPA {1}\nraw {2}\n{3}{4}", n.label ?? l10n.t("Root entry {0}", n.bus), hx(n.address!), n.raw.map(qword).join(" "), fieldLine(n.fields), corrupt ? `\n${corrupt}` : ""),
        icon: "symbol-namespace",
        collapsible: n.hasChildren ? 1 : 0,
        copy: qword(n.raw[0]!),
        ...warn,
      };
    case "context-entry": {
      const [lo, hi] = [n.raw[0]!, n.raw[1]!];
      const dev = guest ? undefined : m.pci.devices.find((d) => m.pci.dmaAliases(d).includes(n.sid));
      const guestDev = guest?.device(n.sid);
      const whole = id.split("/").length === 3;
      // The device's name, or its key when it is not the requester id the label already shows (an alias).
      const devName = dev ? dev.spec.name ?? (dev.key === formatSid(n.sid) ? "" : dev.key) : guestDev ?? "";
      // A scalable-mode context entry points at a PASID directory, not at a page table: its
      // translation is each PASID entry's (the model's decoded PASIDDIRPTR and RID_PASID fields).
      const dir = n.fields.find((f) => f.name === "PASIDDIRPTR");
      const ridPasid = n.fields.find((f) => f.name === "RID_PASID");
      const what = dir
        ? `PASID directory @ ${num(dir.raw << 12n, ctx.radix)}${ridPasid ? ` · RID_PASID ${hx(ridPasid.raw)}: DID ${n.did}` : ""}${n.fpd ? " · FPD" : ""}`
        : n.translation === "pass-through"
          ? `DID ${n.did} · pass-through`
          : `DID ${n.did} · ${n.levels}-level · ${names?.pageTablePointer ?? "SLPTPTR"} ${num(n.pageTable, ctx.radix)}${n.fpd ? " · FPD" : ""}`;
      return {
        id,
        // Under the root directly (a device table indexed by requester id): the whole id, not the devfn.
        label: `${whole ? formatSid(n.sid) : formatDevfn(n.sid)}${devName ? ` ${devName}` : ""}`,
        description: `${what}${corrupt ? ` · ${corrupt}` : ""}`,
        accessibilityLabel: `${n.label ?? names?.entry ?? l10n.t("Context entry")} ${formatSid(n.sid)}${devName ? ` ${devName}` : ""}, ${n.description ?? what}${corrupt ? `, ${corrupt}` : ""}`,
        tooltip: l10n.t("{0} {1} at HPA {2}\n{3}\n{4}{5}", n.label ?? names?.entry ?? "Context entry", formatSid(n.sid), hx(n.address!), n.raw.map((w, i) => `${n.raw.length === 2 ? (i === 0 ? "lo" : "hi") : `data[${i}]`} ${qword(w)}`).join("\n"), fieldLine(n.fields), corrupt ? `\n${corrupt}` : ""),
        icon: "symbol-struct",
        contextValue: "context-entry",
        collapsible: n.hasChildren ? 1 : 0,
        copy: `${qword(hi)}${qword(lo).slice(2)}`,
        ...(dev ? { device: dev.key } : {}),
        ...warn,
      };
    }
    case "pasid-entry":
      return {
        id,
        label: n.noPasid ? l10n.t("PASID {0} (requests without PASID)", hx(BigInt(n.pasid))) : l10n.t("PASID {0}", hx(BigInt(n.pasid))),
        description: l10n.t("DID {0} · {1}{2}{3}", n.did, n.translation, n.levels > 0 ? ` · ${l10n.t("{0}-level", n.levels)} · ${n.topName} @ ${num(n.pageTable, ctx.radix)}` : "", corrupt ? ` · ${corrupt}` : ""),
        tooltip: l10n.t("PASID table entry {0} at HPA {1}: {2}{3}", hx(BigInt(n.pasid)), hx(n.address!), fieldLine(n.fields), corrupt ? `\n${corrupt}` : ""),
        icon: "key",
        contextValue: "pasid-entry",
        collapsible: n.hasChildren ? 1 : 0,
        copy: qword(n.raw[0]!),
        ...warn,
      };
    case "domain": {
      const sharing = n.sharedWith;
      return {
        id,
        label: l10n.t("domain {0}", n.did),
        description: l10n.t("{0}-level · {1} @ {2}{3}", n.levels, n.topName, num(n.pageTable, ctx.radix), sharing.length ? ` · shared with ${sharing.map(formatSid).join(", ")}` : ""),
        tooltip: n.label
          ? l10n.t("{0}: page tables of {1}, top table {2} at HPA {3}.{4} IOTLB entries from these tables are tagged with it.", n.label, plural(n.levels, "level"), n.topName, hx(n.pageTable), sharing.length ? ` The same tables translate ${sharing.map(formatSid).join(", ")}.` : "") + domainEntryText(n)
          : l10n.t("Domain {0} (DID): page tables of {1}, top table {2} at HPA {3}.{4} IOTLB entries are tagged with this DID.", n.did, plural(n.levels, "level"), n.topName, hx(n.pageTable), sharing.length ? ` The same tables translate ${sharing.map(formatSid).join(", ")}.` : ""),
        icon: "symbol-class",
        contextValue: "domain",
        // A domain without tables to show (an SMMUv3 CD with EPD0 = 1: TTB0 walks disabled) does not expand.
        collapsible: n.hasChildren ? 1 : 0,
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
        accessibilityLabel: `${n.label ?? l10n.t("Level-{0} entry {1}", n.level, n.index)}, ${permWords(n.perm)}, ${corrupt ?? (n.description ?? description).replace(/^[-RW]{2}( PS)? · /, "")}`,
        tooltip: l10n.t("{0} at HPA {1}\nraw {2}\n{3}\ncovers IOVA {4}–{5}{6}", n.label ?? l10n.t("Level-{0} entry {1}", n.level, n.index), hx(n.address!), qword(v), fieldLine(n.fields), hx(n.iova), hx(n.iova + n.span - 1n), corrupt ? `\n${corrupt}` : ""),
        icon: n.leaf ? "symbol-field" : "list-tree",
        contextValue: "pte",
        collapsible: n.hasChildren ? 1 : 0,
        copy: qword(v),
        ...warn,
      };
    }
    case "not-present":
      // At the root: buses of a root table; requester ids of a device table (a model that names its entry, AMD-Vi's DTE).
      if (n.iova === undefined) {
        const label = names ? `${plural(n.count, names.entry)} not present` : `${plural(n.count, "bus")} not present`;
        return leaf(id, label, names ? "V = 0" : "P = 0", {
          icon: "circle-slash",
          color: "disabledForeground",
          tooltip: n.label && n.description
            ? `${n.label}: ${n.description}`
            : names
            ? l10n.t("{0}: no {1} is set up for these requester ids; a DMA request from one of them faults.", n.label ?? label, names.entry)
            : l10n.t("{0}: no context table for these buses (root entry P = 0); a DMA request from a device on one of them faults.", n.label ?? label),
        });
      }
      return leaf(id, n.first === n.last ? `[${n.first}]` : `[${n.first}–${n.last}]`, "not present", {
        icon: "circle-slash",
        color: "disabledForeground",
        accessibilityLabel: n.first === n.last ? l10n.t("Entry {0} not present", n.first) : l10n.t("Entries {0} to {1} not present", n.first, n.last),
        tooltip: l10n.t("IOVA {0}–{1}: no translation (R = W = 0); a DMA here faults", hx(n.iova.first), hx(n.iova.last)),
      });
    case "unreadable":
      return leaf(id, `table @ ${num(n.address!, ctx.radix)} not readable`, `fault ${ctx.machine.iommu.reason(n.reason).label}`, { icon: "error", color: "errorForeground", tooltip: l10n.t("HPA {0} is not backed by memory: a walk that reads it faults {1}.", hx(n.address!), ctx.machine.iommu.reason(n.reason).label) });
    default:
      return leaf(id, n.key);
  }
}

/** A cached non-leaf entry (second-level or first-level paging-structure caches) as a tree leaf. */
function pscLeaf(prefix: string, e: PagingStructureCacheEntryView, ctx: TreeContext): TreeNode {
  return leaf(`${prefix}/${e.key}`, `${e.name} DID ${e.did}${e.pasid !== undefined ? ` PASID ${hx(e.pasid)}` : ""} IOVA ${num(e.iova, ctx.radix)}`, `→ table ${num(e.table, ctx.radix)} · ${pageSizeText(e.span)} · ${permText(e.perm)}${e.stale ? l10n.t(" · stale") : ""}`, {
    icon: e.stale ? "warning" : "symbol-key",
    color: e.stale ? "problemsWarningIcon.foreground" : undefined,
    tooltip: e.stale
      ? prefix === "t/flpsc"
        ? l10n.t("Stale: the {0} at {1} no longer leads to table {2}, but first-level walks for IOVAs {3}-{4} still start there. Only a PASID-based IOTLB invalidation with IH = 0 (or a PASID-selective or global one) drops it.", e.name, hx(e.address), hx(e.table), hx(e.iova), hx(e.iova + e.span - 1n))
        : l10n.t("Stale: the {0} at {1} no longer points to table {2}, but walks for IOVAs {3}-{4} still start there. Only an IOTLB invalidation with IH = 0 (or a domain/global one) drops it.", e.name, hx(e.address), hx(e.table), hx(e.iova), hx(e.iova + e.span - 1n))
      : l10n.t("{0} ({1}) cached from {2}: walks for IOVAs {3}-{4} continue in table {5} without reading the levels above.", e.name, e.slot, hx(e.address), hx(e.iova), hx(e.iova + e.span - 1n), hx(e.table)),
  });
}

/** The node of one family of paging-structure caches: how full, the replacement, how many stale. */
function pscNode(id: string, label: string, c: NonNullable<InspectTables["pagingStructureCache"]>, tooltip: string): TreeNode {
  const entries = c.entries();
  const stale = entries.filter((e) => e.stale).length;
  return {
    id,
    label,
    description: l10n.t("{0} of {1} entries", entries.length, c.capacity) + ` · ${c.replacement}` + (stale ? l10n.t(" · {0} stale", stale) : ""),
    tooltip,
    icon: stale ? "warning" : "database",
    color: stale ? "problemsWarningIcon.foreground" : undefined,
    collapsible: entries.length ? 1 : 0,
  };
}
