/**
 * The four sidebar trees as data: Virtual Machines, Devices & IOMMU Groups, Mapping Tables and
 * Faults. Children are computed on demand from the machine at the cursor (lazy expansion), each
 * node with a stable path id so the host can refresh single elements and reveal a path.
 *
 * Ids: segments joined by '/', the first segment names the root. Page-table entries are
 * addressed by their index path below the context entry's domain ("t/root/01/00/d/0/3": bus 01,
 * devfn 00, domain node, entry 0 of the top level, entry 3 of the next), so a node's
 * id alone tells how to re-read it after an edit.
 */
import type { TreeNode, ViewId, Radix } from "../protocol/engine.js";
import type { Machine, VmRuntime } from "../sim/machine.js";
import { faultLabel, formatSize, fullBdf } from "../sim/machine.js";
import { plural } from "../sim/plural.js";
import type { PciDevice } from "../sim/pci.js";
import type { Run } from "../sim/run.js";
import { decodeContextEntry, awToLevels, formatSid } from "../sim/vtd/context.js";
import { DMAR_FRCD_REG, REGISTER_VIEWS, decodeFrcd, decodeRegister, type RegField, type RegisterName } from "../sim/vtd/regs.js";
import { faultReasonInfo } from "../sim/vtd/reasons.js";
import { EVENT_KIND_NAMES, EventKind, F_FATE_SHIFT, F_IOTLB_HIT, F_WRITE } from "../trace/trace.js";
import type { Scenario } from "../scenario/types.js";

export interface TreeContext {
  machine: Machine;
  run: Run;
  scenario: Scenario;
  cursor: number;
  radix: Radix;
}

/** How many fault events one step node lists before "… N more". */
export const FAULTS_PER_STEP = 200;
/** How many HPA runs a memory slot lists before "… N more". */
export const RUNS_PER_SLOT = 256;

const ADDR_MASK = 0x000ffffffffff000n;

function num(v: bigint | number, radix: Radix): string {
  return radix === "hex" ? `0x${v.toString(16)}` : v.toString(10);
}
const hx = (v: bigint | number) => `0x${v.toString(16)}`;
const hex2 = (n: number) => n.toString(16).padStart(2, "0");
const qword = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;

function leaf(id: string, label: string, description?: string, extra: Partial<TreeNode> = {}): TreeNode {
  const n: TreeNode = { id, label, collapsible: 0, ...extra };
  if (description !== undefined) n.description = description;
  return n;
}

/** Children of `id` (null = the roots) in `view`, or null when the id no longer exists. */
export function treeChildren(view: ViewId, id: string | null, ctx: TreeContext): TreeNode[] | null {
  switch (view) {
    case "vms":
      return vmChildren(id, ctx);
    case "groups":
      return groupChildren(id, ctx);
    case "tables":
      return tableChildren(id, ctx);
    case "faults":
      return faultChildren(id, ctx);
  }
}

// ------------------------------------------------------------------ Virtual Machines

function vmChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const m = ctx.machine;
  if (id === null) {
    return [...m.vms.values()].map((vm) => ({
      id: `vm/${vm.spec.name}`,
      label: vm.spec.name,
      description: `${vm.running ? "running" : "stopped"} · ${formatSize(vm.spec.memory)} · ${plural(vm.devices.length, "device")}`,
      tooltip: `VM ${vm.spec.name}: ${formatSize(vm.spec.memory)} RAM, ${vm.running ? "running" : "not running"} at this step${vm.spec.viommu ? `, vIOMMU (intel-iommu, caching-mode=${vm.spec.viommu.cachingMode ? "on" : "off"})` : ""}`,
      icon: vm.running ? "vm-running" : "vm-outline",
      color: vm.running ? "charts.green" : "disabledForeground",
      contextValue: "vm",
      collapsible: 1,
    }));
  }
  const parts = id.split("/");
  const vm = m.vms.get(parts[1] ?? "");
  if (vm === undefined) return null;
  const base = `vm/${vm.spec.name}`;
  if (parts.length === 2) {
    const out: TreeNode[] = [
      { id: `${base}/slots`, label: "Memory slots", description: `${vm.guest.memslots.length} (GPA → HVA → HPA)`, icon: "server", collapsible: 1 },
      { id: `${base}/devices`, label: "Assigned devices", description: String(vm.devices.length), icon: "circuit-board", collapsible: vm.devices.length ? 1 : 0 },
      vm.spec.viommu
        ? leaf(`${base}/viommu`, "vIOMMU", `intel-iommu · caching-mode=${vm.spec.viommu.cachingMode ? "on" : "off"}`, {
            icon: vm.spec.viommu.cachingMode ? "shield" : "warning",
            color: vm.spec.viommu.cachingMode ? undefined : "problemsWarningIcon.foreground",
            tooltip: vm.spec.viommu.cachingMode
              ? "The guest programs its own IOMMU; caching mode makes it report every map so QEMU can shadow it into VFIO."
              : "Without caching mode QEMU cannot see the guest's mappings: vfio-pci refuses the device (\"caching-mode=on\" required).",
          })
        : leaf(`${base}/viommu`, "vIOMMU", "none (guest RAM mapped IOVA = GPA)", { icon: "circle-slash" }),
      {
        id: `${base}/vfio`,
        label: "VFIO container",
        description: vm.container ? `domain ${vm.domain?.did ?? "-"} · ${plural(vm.container.dmas.length, "mapping")} · ${plural(vm.container.lockedPages, "page")} locked` : "none",
        icon: "package",
        collapsible: vm.container && vm.container.dmas.length ? 1 : 0,
      },
    ];
    return out;
  }
  switch (parts[2]) {
    case "slots":
      if (parts.length === 3) return vm.guest.memslots.map((s) => slotNode(vm, s.slot, ctx));
      if (parts.length === 4) return slotRuns(vm, Number(parts[3]), ctx);
      return null;
    case "devices":
      return vm.devices.map((key) => deviceNode(`${base}/devices/${key}`, m.pci.device(key), key, ctx));
    case "vfio": {
      const c = vm.container;
      if (!c) return [];
      return c.dmas.map((d) =>
        leaf(`${base}/vfio/${hx(d.iova)}`, `IOVA ${num(d.iova, ctx.radix)}–${num(d.iova + d.size - 1n, ctx.radix)}`, `${formatSize(d.size)} · ${permText(d.prot)} · HVA ${num(d.vaddr, ctx.radix)}`, {
          icon: "arrow-both",
          tooltip: `VFIO_IOMMU_MAP_DMA: IOVA ${hx(d.iova)} size ${hx(d.size)} -> vaddr ${hx(d.vaddr)}, ${plural(d.lockedPages, "page")} pinned, ${plural(d.chunks.length, "physically contiguous chunk")}`,
          contextValue: "mapping",
          copy: hx(d.iova),
        }),
      );
    }
  }
  return null;
}

function permText(prot: number): string {
  return `${prot & 1 ? "R" : "-"}${prot & 2 ? "W" : "-"}`;
}

function slotNode(vm: VmRuntime, slot: number, ctx: TreeContext): TreeNode {
  const s = vm.guest.memslots.find((x) => x.slot === slot)!;
  return {
    id: `vm/${vm.spec.name}/slots/${slot}`,
    label: `slot ${slot} ${s.name}`,
    description: `GPA ${num(s.gpa, ctx.radix)}–${num(s.gpa + s.size - 1n, ctx.radix)} → HVA ${num(s.hva, ctx.radix)}`,
    tooltip: `KVM memslot ${slot}: ${formatSize(s.size)} of guest-physical memory at GPA ${hx(s.gpa)}, backed by the VMM's virtual memory at HVA ${hx(s.hva)}`,
    icon: "symbol-array",
    collapsible: 1,
  };
}

/** A slot's host-physical backing, as runs of contiguous host frames. */
function slotRuns(vm: VmRuntime, slot: number, ctx: TreeContext): TreeNode[] | null {
  const s = vm.guest.memslots.find((x) => x.slot === slot);
  if (s === undefined) return null;
  if (vm.guest.frames.length === 0) return [leaf(`vm/${vm.spec.name}/slots/${slot}/none`, "not backed by host memory", "the VM is not running at this step", { icon: "info" })];
  const out: TreeNode[] = [];
  let gpa = s.gpa;
  const end = s.gpa + s.size;
  let skipped = 0n;
  while (gpa < end) {
    const r = vm.guest.resolve(s.hva + (gpa - s.gpa));
    if (r === undefined) break;
    const len = r.contiguous < end - gpa ? r.contiguous : end - gpa;
    if (out.length < RUNS_PER_SLOT) {
      out.push(leaf(`vm/${vm.spec.name}/slots/${slot}/${hx(gpa)}`, `GPA ${num(gpa, ctx.radix)}`, `→ HPA ${num(r.hpa, ctx.radix)} · ${formatSize(len)}`, {
        icon: "symbol-field",
        tooltip: `GPA ${hx(gpa)}–${hx(gpa + len - 1n)} -> HVA ${hx(s.hva + (gpa - s.gpa))} -> HPA ${hx(r.hpa)}–${hx(r.hpa + len - 1n)} (${formatSize(len)} physically contiguous)`,
        copy: hx(r.hpa),
      }));
    } else skipped++;
    gpa += len;
  }
  if (skipped > 0n) out.push(leaf(`vm/${vm.spec.name}/slots/${slot}/more`, `… ${plural(skipped, "more run")}`, undefined, { icon: "ellipsis" }));
  return out;
}

function deviceNode(id: string, dev: PciDevice | undefined, key: string, ctx: TreeContext): TreeNode {
  if (dev === undefined) return leaf(id, key, "not in the host topology", { icon: "error", color: "errorForeground" });
  const s = dev.spec;
  const ids = s.vendorId !== undefined ? `${hex4(s.vendorId)}:${hex4(s.deviceId ?? 0)}` : undefined;
  const group = ctx.machine.pci.groupOf(dev);
  return {
    id,
    label: dev.key,
    description: [s.name, ids ? `[${ids}]` : undefined, s.driver ?? "no driver"].filter(Boolean).join(" · "),
    tooltip: `${fullBdf(dev)} ${s.name ?? ""}${ids ? ` [${ids}]` : ""}\nkind: ${dev.kind}\ndriver: ${s.driver ?? "(none)"}\nrequester id: ${formatSid(ctx.machine.pci.requesterId(dev))}\nIOMMU group ${group.id}`,
    icon: dev.isBridge ? "type-hierarchy" : "circuit-board",
    contextValue: dev.isBridge ? "bridge" : "device",
    collapsible: 0,
    device: dev.key,
    copy: dev.key,
  };
}

const hex4 = (n: number) => n.toString(16).padStart(4, "0");

// ------------------------------------------------------------------ Devices & IOMMU Groups

function groupChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const pci = ctx.machine.pci;
  if (id === null) {
    return pci.groups.map((g) => {
      const v = pci.viability(g);
      return {
        id: `g/${g.id}`,
        label: `IOMMU group ${g.id}`,
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
        label: "Why not viable",
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
      leaf(`g/${g.id}/why/${b.device.key}`, b.why, "bind it to vfio-pci", { icon: "debug-disconnect", tooltip: `${b.why}. VFIO requires every device in a group to be bound to vfio-pci, pci-stub or no driver (bridges excepted) — the kernel's vfio_dev_viable().`, device: b.device.key }),
    );
  }
  const dev = g.devices.find((d) => d.key === parts[2]);
  if (dev === undefined) return null;
  // A device's children: its ACS path up to the root.
  const path = pci.acsPath(dev);
  if (path.length === 0) return [leaf(`g/${g.id}/${dev.key}/root`, "on the root bus", "no bridge above it", { icon: "arrow-up" })];
  return path.map((p) =>
    leaf(`g/${g.id}/${dev.key}/${p.device.key}`, `${p.device.key} ${p.device.kind}`, `ACS ${p.acs ? "on" : p.enabled ? "n/a" : "off"}${p.isolates ? " · isolates" : ""}`, {
      icon: p.enabled ? "lock" : "unlock",
      color: p.enabled ? undefined : "problemsWarningIcon.foreground",
      tooltip: p.acs
        ? `${p.device.key} has ACS (SV, RR, CR, UF): peer-to-peer traffic below it goes up to the IOMMU.`
        : p.enabled
          ? `${p.device.key} is a single-function switch upstream port: ACS does not apply to it (PCIe 6.12.1.3), so Linux does not merge the groups below it here.`
          : `${p.device.key} has no ACS: devices below it can reach each other without the IOMMU, so Linux puts them in one group.`,
    }),
  );
}

// ------------------------------------------------------------------ Mapping Tables

function tableChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const m = ctx.machine;
  const unit = m.unit;
  if (id === null) {
    return [{
      id: "t",
      label: unit.name,
      description: `Intel VT-d · ${unit.haw}-bit · ${unit.translationEnabled ? "translation on" : "translation off"}`,
      tooltip: `DMA remapping unit ${unit.name}: host address width ${unit.haw} bits, ${plural(unit.nfr, "fault recording register")}, IOTLB ${unit.iotlb.sets}×${unit.iotlb.ways}`,
      icon: "chip",
      contextValue: "unit",
      collapsible: 2,
    }];
  }
  const parts = id.split("/");
  if (parts[0] !== "t") return null;
  if (parts.length === 1) {
    const iotlb = unit.iotlb.entries();
    const cc = unit.contextCacheEntries();
    const faults = recordsOf(ctx);
    let serviced = 0;
    for (let i = 0; i < unit.nfr; i++) if (unit.readRecord(i) === undefined && frcdRaw(ctx, i) !== undefined) serviced++;
    return [
      { id: "t/regs", label: "Registers", icon: "symbol-variable", collapsible: 1 },
      { id: "t/root", label: "Root table", description: `@ ${num(unit.rootTable, ctx.radix)}`, icon: "list-tree", collapsible: 1, copy: hx(unit.rootTable) },
      { id: "t/iotlb", label: "IOTLB", description: `${iotlb.length} of ${unit.iotlb.size} entries`, icon: "database", collapsible: iotlb.length ? 1 : 0 },
      { id: "t/cc", label: "Context cache", description: plural(cc.length, "entry"), icon: "database", collapsible: cc.length ? 1 : 0 },
      {
        id: "t/frcd",
        label: "Fault recording registers",
        description: `${faults.length} of ${unit.nfr} in use${serviced ? ` · ${plural(serviced, "record")} serviced (F = 0)` : ""}`,
        tooltip: "FRCD registers at CAP.FRO (VT-d 11.4.9.6). F = 1: a fault record software has not read yet. F = 0 with a value: a record the kernel's dmar_fault() read and cleared; the register keeps its last contents.",
        icon: faults.length ? "warning" : "pass",
        color: faults.length ? "problemsWarningIcon.foreground" : undefined,
        collapsible: faults.length || serviced ? 1 : 0,
      },
    ];
  }
  switch (parts[1]) {
    case "regs":
      return parts.length === 2 ? registerNodes(ctx) : registerFields(parts[2]!, ctx);
    case "iotlb":
      return unit.iotlb.entries().map((e) =>
        leaf(`t/iotlb/${e.set}.${e.way}`, `DID ${e.did} IOVA ${num(e.iova, ctx.radix)}`, `→ HPA ${num(e.hpa, ctx.radix)} · ${e.level === 3 ? "1 GiB" : e.level === 2 ? "2 MiB" : "4 KiB"} · ${permText(e.perm)}`, {
          icon: "symbol-key",
          tooltip: `IOTLB set ${e.set} way ${e.way}: domain ${e.did}, IOVA page ${hx(e.iova)} -> HPA ${hx(e.hpa)}, permissions ${permText(e.perm)}. Stays until an invalidation covers it, even when the page tables change.`,
        }),
      );
    case "cc":
      return unit.contextCacheEntries().map((e) =>
        leaf(`t/cc/${e.sid}`, formatSid(e.sid), `DID ${e.did} · ${e.tt === 2 ? "pass-through" : `${e.levels}-level @ ${num(e.root, ctx.radix)}`}${e.fpd ? " · FPD" : ""}`, { icon: "symbol-key" }),
      );
    case "frcd":
      if (parts.length === 3) {
        const i = Number(parts[2]);
        if (!(i >= 0 && i < unit.nfr) || frcdRaw(ctx, i) === undefined) return null;
        return fieldNodes(`t/frcd/${i}`, frcdFields(ctx, i));
      }
      return frcdNodes(ctx);
    case "root":
      return rootChildren(parts, ctx);
  }
  return null;
}

function recordsOf(ctx: TreeContext) {
  const out = [];
  for (let i = 0; i < ctx.machine.unit.nfr; i++) {
    const r = ctx.machine.unit.readRecord(i);
    if (r) out.push(r);
  }
  return out;
}

function readRegister(ctx: TreeContext, name: RegisterName): bigint {
  const u = ctx.machine.unit;
  const r = REGISTER_VIEWS.find((x) => x.name === name)!;
  return r.width === 64 ? u.readReg64(r.offset) : BigInt(u.readReg32(r.offset) >>> 0);
}

/** A register's fields as the model decodes them (regs.ts: the one decoder). */
function registerFieldsOf(ctx: TreeContext, name: RegisterName): RegField[] {
  const dw = name === "IQH" || name === "IQT" ? ((readRegister(ctx, "IQA") >> 11n) & 1n) === 1n : false;
  return decodeRegister(name, readRegister(ctx, name), dw);
}

function frcdFields(ctx: TreeContext, i: number): RegField[] {
  const u = ctx.machine.unit;
  return decodeFrcd(u.readReg64(DMAR_FRCD_REG + 16 * i), u.readReg64(DMAR_FRCD_REG + 16 * i + 8));
}

/** The 128-bit register as one hex number (high qword first), or undefined while it is all zero. */
function frcdRaw(ctx: TreeContext, i: number): string | undefined {
  const u = ctx.machine.unit;
  const lo = u.readReg64(DMAR_FRCD_REG + 16 * i);
  const hi = u.readReg64(DMAR_FRCD_REG + 16 * i + 8);
  if (lo === 0n && hi === 0n) return undefined;
  return `${qword(hi)}${qword(lo).slice(2)}`;
}

/**
 * Every fault recording register that holds a record: F = 1 (pending) or F = 0 with contents (the
 * kernel's fault handler read and cleared it; the hardware register keeps the last record).
 */
function frcdNodes(ctx: TreeContext): TreeNode[] {
  const u = ctx.machine.unit;
  const out: TreeNode[] = [];
  for (let i = 0; i < u.nfr; i++) {
    const raw = frcdRaw(ctx, i);
    if (raw === undefined) continue;
    const f = Object.fromEntries(frcdFields(ctx, i).map((x) => [x.name, x]));
    const pending = f.F!.raw === 1n;
    const sid = Number(f.SID!.raw);
    const reason = Number(f.FR!.raw);
    out.push({
      id: `t/frcd/${i}`,
      label: `FRCD${i}: ${formatSid(sid)} ${f.T!.raw ? "read" : "write"} ${num(f.FI!.raw << 12n, ctx.radix)}`,
      description: `${faultLabel(reason)}${pending ? "" : " · serviced (F = 0)"}`,
      tooltip: `${pending ? "Pending fault record (F = 1)." : "Serviced: the kernel's dmar_fault() read this record and cleared F; the register keeps its contents."}\n${faultReasonInfo(reason).explanation}\n${frcdFields(ctx, i).map((x) => `${x.name}=${x.value}`).join(" ")}`,
      icon: "error",
      color: pending ? "errorForeground" : "disabledForeground",
      collapsible: 1,
      copy: raw,
    });
  }
  return out;
}

const bitRange = (f: RegField) => (f.hi === f.lo ? `[${f.lo}]` : `[${f.hi}:${f.lo}]`);

function fieldNodes(parentId: string, fields: RegField[]): TreeNode[] {
  return fields.map((f) =>
    leaf(`${parentId}/${f.name}`, f.name, f.hi === f.lo || f.value === f.raw.toString() ? f.value : `${f.value} · ${bitRange(f)} = ${hx(f.raw)}`, {
      icon: "symbol-field",
      tooltip: `${f.name}, bits ${bitRange(f)}: raw ${hx(f.raw)} → ${f.value}`,
    }),
  );
}

function registerNodes(ctx: TreeContext): TreeNode[] {
  return REGISTER_VIEWS.map((r) => {
    const v = readRegister(ctx, r.name);
    const fields = registerFieldsOf(ctx, r.name);
    return leaf(`t/regs/${r.name}`, r.name, r.width === 64 ? qword(v) : `0x${v.toString(16).padStart(8, "0")}`, {
      icon: "symbol-constant",
      tooltip: `${r.name} (offset 0x${r.offset.toString(16).padStart(3, "0")}, VT-d spec ${r.section}): ${fields.map((f) => `${f.name}=${f.value}`).join(" ")}`,
      collapsible: fields.length ? 1 : 0,
      copy: hx(v),
    });
  });
}

function registerFields(name: string, ctx: TreeContext): TreeNode[] | null {
  const reg = REGISTER_VIEWS.find((r) => r.name === name);
  if (reg === undefined) return null;
  return fieldNodes(`t/regs/${reg.name}`, registerFieldsOf(ctx, reg.name));
}

/** Root table -> bus -> context entries -> domain -> page-table levels. */
function rootChildren(parts: string[], ctx: TreeContext): TreeNode[] | null {
  const m = ctx.machine;
  const rt = m.unit.rootTable;
  if (parts.length === 2) {
    const out: TreeNode[] = [];
    let absent = 0;
    for (let bus = 0; bus < 256; bus++) {
      const lo = m.mem.readU64(rt + bus * 16) ?? 0n;
      if ((lo & 1n) === 0n) {
        absent++;
        continue;
      }
      out.push({
        id: `t/root/${hex2(bus)}`,
        label: `bus ${hex2(bus)}`,
        description: `root entry ${qword(lo)} → context table @ ${num(lo & ADDR_MASK, ctx.radix)}`,
        tooltip: `Root entry ${bus} at HPA ${hx(rt + bus * 16)}: P=1, CTP=${hx(lo & ADDR_MASK)}`,
        icon: "symbol-namespace",
        collapsible: 1,
        copy: qword(lo),
      });
    }
    if (absent) out.push(leaf("t/root/absent", `${plural(absent, "bus")} not present`, "P = 0", { icon: "circle-slash", color: "disabledForeground" }));
    return out;
  }
  const bus = parseInt(parts[2]!, 16);
  if (!(bus >= 0 && bus < 256)) return null;
  const re = m.mem.readU64(rt + bus * 16) ?? 0n;
  if ((re & 1n) === 0n) return null;
  const ctxTable = Number(re & ADDR_MASK);
  if (parts.length === 3) {
    const out: TreeNode[] = [];
    for (let devfn = 0; devfn < 256; devfn++) {
      const lo = m.mem.readU64(ctxTable + devfn * 16) ?? 0n;
      const hi = m.mem.readU64(ctxTable + devfn * 16 + 8) ?? 0n;
      if ((lo & 1n) === 0n) continue;
      const ce = decodeContextEntry(lo, hi);
      const sid = (bus << 8) | devfn;
      const dev = m.pci.devices.find((d) => m.pci.dmaAliases(d).includes(sid));
      out.push({
        id: `t/root/${hex2(bus)}/${hex2(devfn)}`,
        label: `${hex2(devfn >> 3)}.${devfn & 7}${dev ? ` ${dev.spec.name ?? dev.key}` : ""}`,
        description: ce.tt === 2 ? `DID ${ce.did} · pass-through` : `DID ${ce.did} · ${awToLevels(ce.aw)}-level · SLPTPTR ${num(ce.slptptr, ctx.radix)}${ce.fpd ? " · FPD" : ""}`,
        tooltip: `Context entry ${formatSid(sid)} at HPA ${hx(ctxTable + devfn * 16)}\nlo ${qword(lo)}\nhi ${qword(hi)}\nP=1 FPD=${ce.fpd ? 1 : 0} T=${ce.tt} SLPTPTR=${hx(ce.slptptr)} AW=${ce.aw} DID=${ce.did}`,
        icon: "symbol-struct",
        contextValue: "context-entry",
        collapsible: ce.tt === 2 ? 0 : 1,
        copy: `${qword(hi)}${qword(lo).slice(2)}`,
        ...(dev ? { device: dev.key } : {}),
      });
    }
    return out;
  }
  const devfn = parseInt(parts[3]!, 16);
  const lo = m.mem.readU64(ctxTable + devfn * 16) ?? 0n;
  const hi = m.mem.readU64(ctxTable + devfn * 16 + 8) ?? 0n;
  if ((lo & 1n) === 0n) return null;
  const ce = decodeContextEntry(lo, hi);
  const levels = awToLevels(ce.aw);
  if (parts.length === 4) {
    // The domain: its page tables are shared by every context entry with the same DID (a VFIO
    // container's devices, a device's DMA aliases).
    const sharing = contextEntriesOfDomain(ctx, ce.did).filter((sid) => sid !== ((bus << 8) | devfn));
    const top = ["", "SL-PT", "SL-PD", "SL-PDPT", "SL-PML4", "SL-PML5"][levels] ?? `level-${levels}`;
    return [{
      id: `${parts.join("/")}/d`,
      label: `domain ${ce.did}`,
      description: `${levels}-level · ${top} @ ${num(ce.slptptr, ctx.radix)}${sharing.length ? ` · shared with ${sharing.map(formatSid).join(", ")}` : ""}`,
      tooltip: `Domain ${ce.did} (DID): second-level page tables of ${plural(levels, "level")} (AW=${ce.aw}), top table ${top} at HPA ${hx(ce.slptptr)}.${sharing.length ? ` The same tables translate ${sharing.map(formatSid).join(", ")}.` : ""} IOTLB entries are tagged with this DID.`,
      icon: "symbol-class",
      contextValue: "domain",
      collapsible: 1,
      copy: String(ce.did),
    }];
  }
  if (parts[4] !== "d") return null;
  // parts[5..] are the entry indices from the top level down.
  let table = ce.slptptr;
  let level = levels;
  let iovaBase = 0n;
  for (let i = 5; i < parts.length; i++) {
    const index = Number(parts[i]);
    if (!(index >= 0 && index < 512) || level < 2) return null;
    const v = m.mem.readU64(Number(table) + index * 8);
    if (v === undefined || (v & 3n) === 0n || (level <= 3 && (v & 0x80n) !== 0n)) return null;
    iovaBase += BigInt(index) << BigInt(12 + 9 * (level - 1));
    table = v & ADDR_MASK;
    level--;
  }
  return tableEntries(parts.slice(0, parts.length).join("/"), Number(table), level, iovaBase, ctx);
}

/** Source ids of every present context entry (legacy mode) whose DID is `did`. */
function contextEntriesOfDomain(ctx: TreeContext, did: number): number[] {
  const m = ctx.machine;
  const rt = m.unit.rootTable;
  const out: number[] = [];
  for (let bus = 0; bus < 256; bus++) {
    const re = m.mem.readU64(rt + bus * 16) ?? 0n;
    if ((re & 1n) === 0n) continue;
    const ct = Number(re & ADDR_MASK);
    for (let devfn = 0; devfn < 256; devfn++) {
      const lo = m.mem.readU64(ct + devfn * 16) ?? 0n;
      if ((lo & 1n) === 0n) continue;
      const hi = m.mem.readU64(ct + devfn * 16 + 8) ?? 0n;
      if (decodeContextEntry(lo, hi).did === did) out.push((bus << 8) | devfn);
    }
  }
  return out;
}

/** One page-table level: present entries, non-present runs collapsed into one row each. */
export function tableEntries(parentId: string, table: number, level: number, iovaBase: bigint, ctx: TreeContext): TreeNode[] {
  const mem = ctx.machine.mem;
  const out: TreeNode[] = [];
  const span = 1n << BigInt(12 + 9 * (level - 1));
  let runStart = -1;
  const closeRun = (end: number) => {
    if (runStart < 0) return;
    out.push(leaf(`${parentId}/n${runStart}-${end}`, runStart === end ? `[${runStart}]` : `[${runStart}–${end}]`, "not present", {
      icon: "circle-slash",
      color: "disabledForeground",
      tooltip: `IOVA ${hx(iovaBase + BigInt(runStart) * span)}–${hx(iovaBase + BigInt(end + 1) * span - 1n)}: no translation (R = W = 0); a DMA here faults`,
    }));
    runStart = -1;
  };
  for (let i = 0; i < 512; i++) {
    const v = mem.readU64(table + i * 8);
    if (v === undefined || (v & 3n) === 0n) {
      if (runStart < 0) runStart = i;
      continue;
    }
    closeRun(i - 1);
    const iova = iovaBase + BigInt(i) * span;
    const isLeaf = level === 1 || (level <= 3 && (v & 0x80n) !== 0n);
    const perms = `${v & 1n ? "R" : "-"}${v & 2n ? "W" : "-"}`;
    const addr = v & ADDR_MASK;
    out.push({
      id: `${parentId}/${i}`,
      label: `[${i}] ${qword(v)}`,
      description: isLeaf
        ? `${perms}${level > 1 ? " PS" : ""} · IOVA ${num(iova, ctx.radix)} → HPA ${num(addr, ctx.radix)} (${level === 3 ? "1 GiB" : level === 2 ? "2 MiB" : "4 KiB"})`
        : `${perms} · level-${level - 1} table @ ${num(addr, ctx.radix)}`,
      tooltip: `Level-${level} entry ${i} at HPA ${hx(table + i * 8)}\nraw ${qword(v)}\nR=${v & 1n} W=${(v >> 1n) & 1n}${level <= 3 ? ` PS=${(v >> 7n) & 1n}` : ""} ADDR=${hx(addr)}\ncovers IOVA ${hx(iova)}–${hx(iova + span - 1n)}`,
      icon: isLeaf ? "symbol-field" : "list-tree",
      contextValue: "pte",
      collapsible: isLeaf ? 0 : 1,
      copy: qword(v),
    });
  }
  closeRun(511);
  return out;
}

// ------------------------------------------------------------------ Faults

function faultChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const run = ctx.run;
  if (id === null) {
    const out: TreeNode[] = [];
    for (const o of run.outcomes) {
      if (o.faults === 0 && o.status !== "errno" && o.status !== "error" && !(o.expect && !o.expect.pass)) continue;
      const step = ctx.scenario.workload[o.step]!;
      const future = o.step >= ctx.cursor;
      out.push({
        id: `f/${o.step}`,
        label: `step ${o.step + 1}: ${step.op}`,
        description: o.summary,
        tooltip: `Line ${step.range.line + 1}: ${o.summary}${o.expect && !o.expect.pass ? `\nexpectation failed: ${o.expect.failures.join("; ")}` : ""}${future ? "\n(after the cursor)" : ""}`,
        icon: o.status === "fault" ? "error" : o.status === "errno" ? "debug-disconnect" : "warning",
        color: future ? "disabledForeground" : o.status === "fault" ? "errorForeground" : "problemsWarningIcon.foreground",
        contextValue: "fault-step",
        collapsible: 1,
        step: o.step,
      });
    }
    return out;
  }
  const parts = id.split("/");
  const o = run.outcomes[Number(parts[1])];
  if (o === undefined || parts[0] !== "f") return null;
  if (parts.length === 2) {
    const out: TreeNode[] = [];
    const t = run.trace;
    let listed = 0;
    let more = 0;
    for (let i = o.eventStart; i < o.eventEnd; i++) {
      if (t.reason[i] === 0 || t.kind[i] !== EventKind.Dma) {
        if (t.kind[i] === EventKind.Error) out.push(leaf(`f/${o.step}/e${i}`, o.errno ?? o.error ?? "error", o.summary, { icon: "debug-disconnect", color: "errorForeground", step: o.step }));
        continue;
      }
      if (listed >= FAULTS_PER_STEP) {
        more++;
        continue;
      }
      listed++;
      const iova = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
      const fate = (t.flags[i]! >> F_FATE_SHIFT) & 7;
      const fateText = ["", "recorded", "suppressed by FPD", "lost: fault overflow", "compressed (same source already recorded)"][fate] ?? "";
      out.push(leaf(`f/${o.step}/e${i}`, `#${i} ${formatSid(t.sid[i]!)} ${t.flags[i]! & F_WRITE ? "write" : "read"} ${num(iova, ctx.radix)}`, `${faultLabel(t.reason[i]!)}${t.flags[i]! & F_IOTLB_HIT ? " · IOTLB" : ""}${fateText ? ` · ${fateText}` : ""}`, {
        icon: "error",
        color: "errorForeground",
        contextValue: "fault",
        tooltip: `Event ${i} (${EVENT_KIND_NAMES[t.kind[i]!]}), domain ${t.did[i]}: ${faultReasonInfo(t.reason[i]!).explanation}`,
        step: o.step,
      }));
    }
    if (more) out.push(leaf(`f/${o.step}/more`, `… ${plural(more, "more fault")} in this step`, "see the DMA trace", { icon: "ellipsis" }));
    const lines = run.log.filter((l) => l.step === o.step);
    if (lines.length) out.push({ id: `f/${o.step}/log`, label: "Kernel and VMM log", description: plural(lines.length, "line"), icon: "output", collapsible: 1 });
    return out;
  }
  if (parts[2] === "log") {
    return run.log.filter((l) => l.step === o.step).map((l, k) => leaf(`f/${o.step}/log/${k}`, l.text, l.source === "vmm" ? l.vm : "dmesg", { icon: l.source === "vmm" ? "terminal" : "output", tooltip: l.text }));
  }
  return null;
}
