/** The Virtual Machines view: VMs, their memory slots (GPA -> HVA -> HPA), assigned devices, vIOMMU and VFIO container. */
import type { TreeNode } from "../../protocol/engine.js";
import type { VmRuntime } from "../../sim/machine.js";
import { formatSize } from "../../sim/machine.js";
import { plural } from "../../sim/plural.js";
import { deviceNode, hx, leaf, num, permText, type TreeContext } from "./common.js";
import { rootTableChildren } from "./tables.js";
import type { Viommu } from "../../sim/viommu.js";
import { iommufdObjectsOf, iommufdObjectTree, nestedAttachment, type IommufdObjectNode } from "../../sim/iommufdObjects.js";
import * as l10n from "@vscode/l10n";

/** Codicons of the iommufd object types. */
const IOMMUFD_ICONS: Record<IommufdObjectNode["type"], string> = { ioas: "package", hwpt: "layers", nested: "layers-active", viommu: "shield", vdevice: "symbol-reference", veventq: "bell", device: "circuit-board", fault: "warning" };

/** How many HPA runs a memory slot lists before "… N more". */
export const RUNS_PER_SLOT = 256;

export function vmChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const m = ctx.machine;
  if (id === null) {
    return [...m.vms.values()].map((vm) => ({
      id: `vm/${vm.spec.name}`,
      label: vm.spec.name,
      description: `${vm.running ? "running" : "stopped"} · ${formatSize(vm.spec.memory)} · ${plural(vm.devices.length, "device")}`,
      tooltip: l10n.t("VM {0}: {1} RAM, {2} at this step{3}", vm.spec.name, formatSize(vm.spec.memory), vm.running ? "running" : "not running", vm.viommu ? `, vIOMMU (${vm.viommu.describe().description})` : ""),
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
      { id: `${base}/slots`, label: l10n.t("Memory slots"), description: l10n.t("{0} (GPA → HVA → HPA)", vm.guest.memslots.length), icon: "server", collapsible: 1 },
      { id: `${base}/devices`, label: l10n.t("Assigned devices"), description: String(vm.devices.length), icon: "circuit-board", collapsible: vm.devices.length ? 1 : 0 },
      vm.spec.viommu && vm.viommu
        ? {
            ...leaf(`${base}/viommu`, "vIOMMU", vm.viommu.describe().description, {
              icon: vm.spec.viommu.cachingMode ? "shield" : "warning",
              color: vm.spec.viommu.cachingMode ? undefined : "problemsWarningIcon.foreground",
              tooltip: vm.viommu.describe().tooltip,
            }),
            collapsible: vm.viommu && vm.running ? 1 : 0,
          }
        : noEmulatedViommu(base, vm),
      {
        id: `${base}/vfio`,
        label: vm.spec.backend === "iommufd" ? l10n.t("iommufd IOAS") : l10n.t("VFIO container"),
        description: vm.container ? `${vm.spec.backend === "iommufd" ? "hwpt = " : ""}domain ${vm.domain?.did ?? "-"} · ${plural(vm.container.dmas.length, "mapping")} · ${plural(vm.container.lockedPages, "page")} locked` : "none",
        icon: "package",
        collapsible: vm.container && vm.container.dmas.length ? 1 : 0,
      },
    ];
    const objects = vm.running ? iommufdObjectsOf(vm) : undefined;
    if (objects !== undefined) {
      out.push({
        id: `${base}/iommufd`,
        label: l10n.t("iommufd objects"),
        description: plural(objects.objects.size, "object"),
        tooltip: l10n.t("The VM's iommufd objects, each under the one it refers to: IOAS, hwpt, vIOMMU, nested hwpt, the devices attached"),
        icon: "type-hierarchy",
        collapsible: 1,
      });
    }
    return out;
  }
  switch (parts[2]) {
    case "slots":
      if (parts.length === 3) return vm.guest.memslots.map((s) => slotNode(vm, s.slot, ctx));
      if (parts.length === 4) return slotRuns(vm, Number(parts[3]), ctx);
      return null;
    case "devices":
      return vm.devices.map((key) => deviceNode(`${base}/devices/${key}`, m.pci.device(key), key, ctx));
    case "viommu":
      return vm.viommu && vm.running ? viommuChildren(vm, vm.viommu, parts.slice(3), ctx) : null;
    case "iommufd": {
      const objects = vm.running ? iommufdObjectsOf(vm) : undefined;
      if (objects === undefined) return null;
      // Down the object forest (sim/iommufdObjects.ts iommufdObjectTree) by the ids in the path.
      let level: IommufdObjectNode[] = iommufdObjectTree(objects);
      for (const key of parts.slice(3)) {
        const next = level.find((n) => String(n.id) === key);
        if (next === undefined) return null;
        level = next.children;
      }
      return level.map((n) => ({ ...leaf(`${id}/${n.id}`, n.label, n.description, { icon: IOMMUFD_ICONS[n.type], tooltip: `${n.label}: ${n.description}` }), collapsible: n.children.length > 0 ? 1 : 0 }));
    }
    case "vfio": {
      const c = vm.container;
      if (!c) return [];
      return c.dmas.map((d) =>
        leaf(`${base}/vfio/${hx(d.iova)}`, `IOVA ${num(d.iova, ctx.radix)}–${num(d.iova + d.size - 1n, ctx.radix)}`, `${formatSize(d.size)} · ${permText(d.prot)} · HVA ${num(d.vaddr, ctx.radix)}`, {
          icon: "arrow-both",
          tooltip:
            vm.spec.backend === "iommufd"
              ? l10n.t("IOMMU_IOAS_MAP: IOVA {0} size {1} -> user VA {2}, {3} pinned, {4}", hx(d.iova), hx(d.size), hx(d.vaddr), plural(d.lockedPages, "page"), plural(d.chunks.length, "physically contiguous chunk"))
              : l10n.t("VFIO_IOMMU_MAP_DMA: IOVA {0} size {1} -> vaddr {2}, {3} pinned, {4}", hx(d.iova), hx(d.size), hx(d.vaddr), plural(d.lockedPages, "page"), plural(d.chunks.length, "physically contiguous chunk")),
          contextValue: "mapping",
          copy: hx(d.iova),
        }),
      );
    }
  }
  return null;
}

function slotNode(vm: VmRuntime, slot: number, ctx: TreeContext): TreeNode {
  const s = vm.guest.memslots.find((x) => x.slot === slot)!;
  return {
    id: `vm/${vm.spec.name}/slots/${slot}`,
    label: l10n.t("slot {0} {1}", slot, s.name),
    description: l10n.t("GPA {0}–{1} → HVA {2}", num(s.gpa, ctx.radix), num(s.gpa + s.size - 1n, ctx.radix), num(s.hva, ctx.radix)),
    tooltip: l10n.t("KVM memslot {0}: {1} of guest-physical memory at GPA {2}, backed by the VMM's virtual memory at HVA {3}", slot, formatSize(s.size), hx(s.gpa), hx(s.hva)),
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
        tooltip: l10n.t("GPA {0}–{1} -> HVA {2} -> HPA {3}–{4} ({5} physically contiguous)", hx(gpa), hx(gpa + len - 1n), hx(s.hva + (gpa - s.gpa)), hx(r.hpa), hx(r.hpa + len - 1n), formatSize(len)),
        copy: hx(r.hpa),
      }));
    } else skipped++;
    gpa += len;
  }
  if (skipped > 0n) out.push(leaf(`vm/${vm.spec.name}/slots/${slot}/more`, `… ${plural(skipped, "more run")}`, undefined, { icon: "ellipsis" }));
  return out;
}

/**
 * A VM's vIOMMU: the guest's own tables (read through the guest unit's contract, tables(): the
 * same inspection as the host unit's, addresses guest-physical) and QEMU's shadow of them (its
 * IOVA tree: each entry one VFIO mapping, with the step whose guest action wrote the entry).
 */
function viommuChildren(vm: VmRuntime, v: Viommu, rest: string[], ctx: TreeContext): TreeNode[] | null {
  const base = `vm/${vm.spec.name}/viommu`;
  if (rest.length === 0) {
    const t = v.iommu?.tables();
    const shadow = v.shadowEntries();
    return [
      ...(t === undefined ? [] : [{ id: `${base}/root`, label: l10n.t("Guest tables"), description: l10n.t("{0} · {1}-bit · root table @ GPA {2}", t.model, t.addressWidth, num(t.root.address, ctx.radix)), tooltip: l10n.t("The guest's intel-iommu tables in guest memory, as QEMU's emulated unit reads them: root table at GPA {0}, guest domain {1}.", hx(t.root.address), v.guestDomain), icon: "list-tree", collapsible: 1 as const, copy: hx(t.root.address) }]),
      { id: `${base}/shadow`, label: l10n.t("QEMU shadow"), description: l10n.t("{0} in VFIO domain {1}", plural(shadow.length, "mapping"), vm.domain?.did ?? "-"), tooltip: l10n.t("What QEMU mapped into VFIO from the guest's tables at the guest's invalidations (its IOVA tree). The host unit's tables show the same mappings as host entries."), icon: "mirror", collapsible: shadow.length ? 1 : 0 },
    ];
  }
  if (rest[0] === "root" && v.iommu) {
    const names = new Map([...v.guestRids()].map(([key, rid]) => [rid, key]));
    return rootTableChildren(v.iommu.tables().root, `${base}/root`, rest.slice(1), ctx, { device: (sid) => (names.has(sid) ? `(host ${names.get(sid)!})` : undefined) });
  }
  if (rest[0] === "shadow") {
    return v.shadowEntries().map((e) => {
      const hva = vm.guest.gpaToHva(e.gpa);
      const hpa = vm.guest.gpaToHpa(e.gpa);
      return leaf(`${base}/shadow/${hx(e.iova)}`, `IOVA ${num(e.iova, ctx.radix)}`, `→ GPA ${num(e.gpa, ctx.radix)}${hpa !== undefined ? ` → HPA ${num(hpa, ctx.radix)}` : ""} · ${formatSize(e.size)} · ${permText(e.perm)}${e.writtenBy >= 0 ? ` · step ${e.writtenBy + 1}` : ""}`, {
        icon: "arrow-both",
        tooltip: l10n.t("Guest entry IOVA {0} -> GPA {1} ({2}), written by step {3}; QEMU mapped it with VFIO_IOMMU_MAP_DMA at vaddr {4}", hx(e.iova), hx(e.gpa), formatSize(e.size), e.writtenBy + 1, hva !== undefined ? hx(hva) : "-"),
        ...(e.writtenBy >= 0 ? { step: e.writtenBy } : {}),
        copy: hx(e.iova),
      });
    });
  }
  return null;
}

/**
 * The vIOMMU row of a VM without an emulated one (`viommu:`): QEMU mapped guest RAM IOVA = GPA -
 * unless a device is attached to a nested hwpt through iommufd (an accelerated vSMMUv3), where that
 * mapping is the nesting parent's stage 2 under the guest's own stage 1.
 */
function noEmulatedViommu(base: string, vm: VmRuntime): TreeNode {
  const ctx = vm.running ? vm.iommufd : undefined;
  const nested = vm.devices.map((d) => nestedAttachment(ctx, d)).find((n) => n !== undefined);
  if (nested === undefined) return leaf(`${base}/viommu`, "vIOMMU", "none (guest RAM mapped IOVA = GPA)", { icon: "circle-slash" });
  return leaf(`${base}/viommu`, "vIOMMU", l10n.t("nested through iommufd: the guest's stage 1 over guest RAM mapped IOVA = GPA"), {
    icon: "shield",
    tooltip: l10n.t("No emulated vIOMMU (no `viommu:`): the device is attached through iommufd to nested hwpt {0} on vIOMMU {1}, so the guest's own tables give stage 1 and QEMU's IOVA = GPA mapping of guest RAM is the nesting parent's stage 2 (see iommufd objects).", nested.hwpt, nested.viommu),
  });
}
