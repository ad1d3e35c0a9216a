/**
 * Semantic checks across the parsed scenario: references between steps, VMs and devices, and the
 * mistakes VFIO or the IOMMU would punish (unaligned maps, the MSI window, overlapping maps,
 * addresses beyond the address width). (Group viability needs the PCI model: sim/pci.ts
 * groupViabilityWarnings, reported with the machine's diagnostics.) A warning is dropped when the step's `expect` names the
 * very errno or fault the mistake produces: then the scenario demonstrates it on purpose.
 */
import { Ticker, type ParseOptions } from "./parse.js";
import type { Diagnostic, DiagnosticCode, Scenario, SourceRange, Step, VmSpec } from "./types.js";
import { atsDeviceKeys } from "./iommuUnits.js";
import * as l10n from "@vscode/l10n";
import { validateReserved } from "./validate-reserved.js";
import { GUEST_SMMU_S1_IAS, dirtyTrackingNeedsSmpwc } from "./kernelGates.js";

const PAGE = 4096n;
const MSI_FIRST = 0xfee00000n;
const MSI_LAST = 0xfeefffffn;

export function validateScenario(s: Scenario, opts: ParseOptions = {}): Diagnostic[] {
  const ticker = new Ticker(opts.progress);
  const out: Diagnostic[] = [];
  const vms = new Map(s.vms.map((v) => [v.name, v]));
  const devices = new Set(s.host.pci.map((d) => d.key));
  const aw = BigInt(s.host.iommu.addressWidth);
  const limit = 1n << aw;
  const mapped = new Map<string, MapList>();
  let seq = 0;
  const add = (severity: Diagnostic["severity"], range: SourceRange, code: DiagnosticCode, message: string, hint: string) => out.push({ severity, code, message, hint, range });
  out.push(...validateReserved(s));
  const expects = (st: Step, errno?: string, fault?: number) => (errno !== undefined && st.expect?.errno === errno) || (fault !== undefined && st.expect?.fault === fault) || st.expect?.error !== undefined;

  for (const vm of s.vms) {
    // QEMU (9.1+) hw/i386/intel_iommu.c vtd_check_hiod(): error_setg(errp, "aw-bits %d > host aw-bits %d"),
    // reported by vfio-pci realize as "vfio <BDF>: Failed to set vIOMMU: ..." for each assigned device.
    const awBits = vm.viommu?.awBits ?? 48;
    if (vm.viommu?.model === "intel" && vm.devices.length > 0 && awBits > s.host.iommu.addressWidth) {
      add("error", vm.viommu.range, "viommu-aw-bits-host", l10n.t("vfio {0}: Failed to set vIOMMU: aw-bits {1} > host aw-bits {2}", vm.devices[0]!, String(awBits), String(s.host.iommu.addressWidth)), l10n.t("Give the vIOMMU aw-bits: {0} (the guest's IOVAs must fit the host IOMMU's address width), or use a host with a wider IOMMU.", String(s.host.iommu.addressWidth >= 48 ? 48 : 39)));
    }
  }
  // A VM's nested hwpts (IOMMU_HWPT_ALLOC with a vste) and the devices attached to one (any VFIO_DEVICE_ATTACH_IOMMUFD_PT after it): where a guest-map drives the guest's arm-smmu-v3.
  const nestedAllocs = new Set<string>();
  const nestedAttaches = new Set<string>();
  for (const st of s.workload) {
    ticker.tick();
    if (st.op === "iommufd" && st.ioctl === "IOMMU_HWPT_ALLOC" && st.vste !== undefined) nestedAllocs.add(st.vm);
    if (st.op === "iommufd" && st.ioctl === "VFIO_DEVICE_ATTACH_IOMMUFD_PT" && nestedAllocs.has(st.vm) && st.device !== undefined) nestedAttaches.add(`${st.vm}\n${st.device}`);
    if ("vm" in st && st.vm !== undefined) {
      const vm = vms.get(st.vm);
      if (vm === undefined) add("error", st.range, "unknown-vm", l10n.t("no VM named \"{0}\"", st.vm), s.vms.length ? l10n.t("Defined VMs: {0}.", s.vms.map((v) => v.name).join(", ")) : l10n.t("Define it under vms:."));
      else if ((st.op === "guest-map" || st.op === "guest-unmap") && !vm.viommu) {
        // A nested SMMUv3 guest (smmuv3/guestDriver.ts): its arm-smmu-v3 maps once the device is attached to a nested hwpt.
        const nestedWhy = s.host.iommu.model !== "smmuv3" || vm.backend !== "iommufd" ? undefined : !nestedAllocs.has(vm.name) ? "nested-hwpt" : !nestedAttaches.has(`${vm.name}\n${st.device}`) ? "attach" : "";
        if (nestedWhy === undefined) add("error", st.range, "no-viommu", l10n.t("VM {0} has no vIOMMU, so the guest cannot map IOVAs", vm.name), l10n.t("Add viommu: { model: intel, caching-mode: true } to the VM, or use map: (the VMM's VFIO_IOMMU_MAP_DMA). On an smmuv3 host a VM with backend: iommufd can run a nested domain: the guest's arm-smmu-v3 maps through it."));
        else if (nestedWhy === "nested-hwpt") add("error", st.range, "no-viommu", l10n.t("VM {0} has no vIOMMU and no nested hwpt before this step, so its guest's arm-smmu-v3 has no stage-1 domain to map in", vm.name), l10n.t("Allocate the nesting objects first (IOMMU_HWPT_ALLOC nest-parent: true, IOMMU_VIOMMU_ALLOC, IOMMU_HWPT_ALLOC with a vste whose Config is S1 translate) and attach {0} to the nested hwpt (VFIO_DEVICE_ATTACH_IOMMUFD_PT), as examples/smmuv3-nested-guest-map does.", st.device));
        else if (nestedWhy === "attach") add("error", st.range, "no-viommu", l10n.t("{0} is not attached to a nested hwpt before this step, so the guest's arm-smmu-v3 has no stage-1 domain for it", st.device), l10n.t("Attach it first: iommufd: { vm: {0}, ioctl: VFIO_DEVICE_ATTACH_IOMMUFD_PT, device: \"{1}\", pt: <the nested hwpt> }.", vm.name, st.device));
      }
      else if (st.op === "guest-unmap" && st.deviceIotlbInvalidate === false) guestDeviceIotlbChecks(s, st, vm, add);
      else if (st.op === "emulated-dma" && vm.viommu?.model !== "virtio-iommu") add("error", st.range, "no-viommu", l10n.t("emulated-dma goes through QEMU's virtio-iommu, and VM {0} has none", vm.name), l10n.t("Give the VM viommu: { model: virtio-iommu } (QEMU reports an emulated device's faults on virtio-iommu's event queue; intel-iommu's emulated-device faults are not modelled)."));
    }
    if (st.expect?.deviceIotlbInvalidations !== undefined && st.op !== "guest-map" && st.op !== "guest-unmap") {
      add("error", st.expect.range, "invalid-value", l10n.t("expect.device-iotlb-invalidations is about a guest-map or guest-unmap step, not {0}", st.op), l10n.t("It counts the Device-TLB invalidations the guest's intel-iommu driver sends to its vIOMMU (viommu device-iotlb: true); drop it here."));
    }
    if ("device" in st && st.device !== undefined && !devices.has(st.device)) add("error", st.range, "unknown-device", l10n.t("{0} is not a device in host.pci", st.device), l10n.t("Add it to host.pci or fix the BDF."));
    if (st.op === "poke" && st.target && !devices.has(st.target.device)) add("error", st.range, "unknown-device", l10n.t("{0} is not a device in host.pci", st.target.device), l10n.t("Add it to host.pci or fix the BDF."));

    const nestedGuest = (st.op === "guest-map" || st.op === "guest-unmap") && vms.get(st.vm) !== undefined && !vms.get(st.vm)!.viommu && nestedAttaches.has(`${st.vm}\n${st.device}`);
    if (st.op === "guest-map" && nestedGuest) nestedGuestMapChecks(st, mapped, add, expects(st, "EINVAL"), expects(st, "EEXIST"), seq++);
    else if (st.op === "guest-unmap" && nestedGuest) nestedGuestUnmapChecks(st, mapped, add);
    else if (st.op === "map" || st.op === "guest-map") {
      const gpa = st.op === "map" ? st.gpa : st.gpa;
      if (((st.iova | st.size | (gpa ?? 0n)) % PAGE !== 0n || st.size === 0n) && !expects(st, "EINVAL")) {
        const down = st.iova - (st.iova % PAGE);
        add("warning", st.range, "map-unaligned", l10n.t("iova 0x{0} / size 0x{1}{2} is not 4 KiB aligned; VFIO_IOMMU_MAP_DMA returns EINVAL", st.iova.toString(16), st.size.toString(16), gpa !== undefined ? ` / gpa 0x${gpa.toString(16)}` : ""), l10n.t("VFIO maps whole 4 KiB pages: use iova 0x{0} and a size that is a multiple of 4KiB.", down.toString(16)));
      }
      if (st.iova <= MSI_LAST && st.iova + st.size - 1n >= MSI_FIRST && !expects(st, "EINVAL")) add("warning", st.range, "map-interrupt-window", l10n.t("the range overlaps the MSI window 0xfee00000-0xfeefffff; VFIO returns EINVAL for this reserved region"), l10n.t("Map IOVAs outside 0xfee00000-0xfeefffff; that window carries interrupts."));
      const vmv = st.op === "guest-map" ? vms.get(st.vm)?.viommu : undefined;
      // virtio-iommu: QEMU's virtio_iommu_map() checks no input range; the host's VFIO map is what fails.
      const vmAw = vmv?.model === "intel" ? vmv.awBits ?? 48 : undefined;
      if (vmAw !== undefined && st.iova + st.size > 1n << BigInt(vmAw) && !expects(st, "EFAULT")) {
        // drivers/iommu/intel/iommu.c intel_iommu_map(): the guest's driver refuses with -EFAULT.
        add("warning", st.range, "address-beyond-aw", l10n.t("the range ends beyond 2^{0} (the vIOMMU's aw-bits); the guest's intel_iommu_map refuses it with EFAULT", String(vmAw)), l10n.t("Keep guest IOVAs below 0x{0} or give the vIOMMU aw-bits: 48.", (1n << BigInt(vmAw)).toString(16)));
      } else if (st.iova + st.size > limit && !expects(st, "EINVAL")) add("warning", st.range, "address-beyond-aw", l10n.t("the range ends beyond 2^{0} (the IOMMU's address width); VFIO returns EINVAL", String(aw)), l10n.t("Keep IOVAs below 0x{0} or raise host.iommu.address-width.", limit.toString(16)));
      let list = mapped.get(st.vm);
      if (list === undefined) mapped.set(st.vm, (list = new MapList()));
      const hit = list.firstOverlap(st.iova, st.size);
      if (hit && vmv?.model === "virtio-iommu") {
        if (!expects(st)) add("warning", st.range, "map-overlap", l10n.t("overlaps the mapping made at line {0}; QEMU's virtio-iommu answers VIRTIO_IOMMU_S_INVAL", hit.line), l10n.t("Unmap the earlier range first, or map a range that does not overlap it."));
      } else if (hit && !expects(st, "EEXIST")) add("warning", st.range, "map-overlap", l10n.t("overlaps the mapping made at line {0}; VFIO returns EEXIST", hit.line), l10n.t("Unmap the earlier range first, or map a range that does not overlap it."));
      list.add({ iova: st.iova, size: st.size, line: st.range.line + 1, seq: seq++ });
    }
    if (st.op === "unmap" || (st.op === "guest-unmap" && st.invalidate && !nestedGuest)) mapped.get(st.vm)?.removeWithin(st.iova, st.size);
    if (st.op === "stop") mapped.delete(st.vm);
    pasidChecks(s, st, add);
    if (st.op === "dma" && st.transfers) {
      // A list of transfers: each one's device and IOVA, at the transfer (the first is checked above).
      for (const t of st.transfers.slice(1)) {
        if (!devices.has(t.device)) add("error", t.range, "unknown-device", l10n.t("{0} is not a device in host.pci", t.device), l10n.t("Add it to host.pci or fix the BDF."));
      }
    }
    for (const t of st.op === "dma" ? st.transfers ?? [st] : st.op === "translate" ? [st] : []) {
      // Scalable mode reports the width fault per PASID type (VT-d 7.1.3 Table 26): 0x80 first level, 0x83 pass-through, 0x84 second level.
      if (t.iova >= limit && !expects(st, undefined, 0x04) && !(s.host.iommu.scalable === true && [0x80, 0x83, 0x84].includes(st.expect?.fault ?? -1))) add("warning", t.range, "address-beyond-aw", l10n.t("IOVA 0x{0} is beyond 2^{1}: the IOMMU faults 0x04 \"Access beyond MGAW\"", t.iova.toString(16), String(aw)), l10n.t("Add expect: { fault: 0x04 } if that is the point, or use a smaller IOVA."));
    }
  }
  return out;
}

/**
 * Mappings looked at by the overlap checks, and mappings moved to make room or close a gap (for
 * tests that check the work stays linear). Only ever incremented.
 */
export const overlapWork = { visited: 0, moved: 0 };

interface Mapped {
  iova: bigint;
  size: bigint;
  line: number;
  /** Order of the map steps: the first overlapping mapping made is the one a warning names. */
  seq: number;
}

/** Mappings per chunk of a MapList at most (a chunk is split in two beyond it). */
const CHUNK_MAX = 1024;

/**
 * A VM's mappings, sorted by IOVA, for the overlap check of each map step. A linear scan per map
 * was quadratic in the number of maps (a 512-map scenario spent a third of its re-validation in
 * it, on every edit). A mapping that overlaps [iova, iova + size) starts before iova + size and
 * after iova - (the largest size seen), so only that slice of the sorted order is looked at; of
 * the overlapping ones the earliest made is reported, as the scan in map order did. The order is
 * kept in chunks of at most CHUNK_MAX mappings: an insertion into one sorted array moved half of
 * it each time (80 000 scattered maps took 6.4 s), into a chunk it moves at most CHUNK_MAX.
 */
class MapList {
  private readonly chunks: Mapped[][] = [];
  private maxSize = 0n;

  /** The first mapping whose IOVA is greater than `iova`, as [chunk, index] (index may be the chunk's length only in the last chunk). */
  private upper(iova: bigint): [number, number] {
    const cs = this.chunks;
    let lo = 0;
    let hi = cs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cs[mid]![cs[mid]!.length - 1]!.iova > iova) hi = mid;
      else lo = mid + 1;
    }
    if (lo === cs.length) return cs.length === 0 ? [0, 0] : [cs.length - 1, cs[cs.length - 1]!.length];
    const list = cs[lo]!;
    let a = 0;
    let b = list.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (list[mid]!.iova > iova) b = mid;
      else a = mid + 1;
    }
    return [lo, a];
  }

  firstOverlap(iova: bigint, size: bigint): Mapped | undefined {
    let hit: Mapped | undefined;
    const end = iova + size;
    let [c, i] = this.upper(iova - this.maxSize);
    for (; c < this.chunks.length; c++, i = 0) {
      const list = this.chunks[c]!;
      for (; i < list.length; i++) {
        const m = list[i]!;
        overlapWork.visited++;
        if (m.iova >= end) return hit;
        if (iova < m.iova + m.size && (hit === undefined || m.seq < hit.seq)) hit = m;
      }
    }
    return hit;
  }

  add(m: Mapped): void {
    if (m.size > this.maxSize) this.maxSize = m.size;
    if (this.chunks.length === 0) {
      this.chunks.push([m]);
      return;
    }
    const [c, i] = this.upper(m.iova);
    const list = this.chunks[c]!;
    overlapWork.moved += list.length - i;
    list.splice(i, 0, m);
    if (list.length > CHUNK_MAX) {
      const half = list.length >> 1;
      overlapWork.moved += list.length - half;
      this.chunks.splice(c + 1, 0, list.splice(half));
    }
  }

  /**
   * An unmap removes the mappings that lie wholly inside its range: those start in [iova, end), a
   * slice of the sorted order found by binary search (a scan of the whole list per unmap was
   * quadratic in a workload of many maps and unmaps).
   */
  removeWithin(iova: bigint, size: bigint): void {
    const end = iova + size;
    let [c, i] = this.upper(iova - 1n);
    for (; c < this.chunks.length; i = 0) {
      const list = this.chunks[c]!;
      let hi = i;
      let j = i;
      for (; hi < list.length && list[hi]!.iova < end; hi++) {
        overlapWork.visited++;
        const m = list[hi]!;
        if (m.iova + m.size > end) list[j++] = m;
      }
      if (j < hi) {
        overlapWork.moved += list.length - hi;
        list.splice(j, hi - j);
      }
      const more = hi === list.length + (hi - j);
      if (list.length === 0) this.chunks.splice(c, 1);
      else c++;
      if (!more) return;
    }
  }
}

/**
 * Requests with PASID and PASID binds need a scalable-mode unit with PASID support (ECAP.SMTS,
 * ECAP.PASID) and a PASID below 2^pasid-bits; a nested bind needs ECAP.NEST and a known VM.
 */
/**
 * An SMMUv3 host: a PASID is a SubstreamID of a device listed in host.iommu.pasid, below
 * 2^substream-id-bits (Linux's master->ssid_bits: docs/smmuv3-pasid.md).
 */
function smmuPasidChecks(smmu: NonNullable<Scenario["host"]["iommu"]["smmu"]>, st: Step, add: (severity: Diagnostic["severity"], range: SourceRange, code: DiagnosticCode, message: string, hint: string) => void): void {
  const check = (device: string, pasid: number, range: SourceRange, what: string) => {
    if (!(smmu.pasid ?? []).includes(device)) add("error", range, "pasid-unsupported", l10n.t("{0} PASID 0x{1}, but {2} has no PASID capability on this SMMUv3 host", what, pasid.toString(16), device), l10n.t("List the device in host.iommu.pasid (and set substream-id-bits): Linux then enables its PASIDs (arm_smmu_enable_pasid)."));
    else if (pasid >= 2 ** smmu.ssidBits) add("error", range, "pasid-unsupported", l10n.t("PASID 0x{0} does not fit the SMMU's {1}-bit SubstreamIDs (SMMU_IDR1.SSIDSIZE)", pasid.toString(16), smmu.ssidBits), l10n.t("Use a PASID below 0x{0}, or raise host.iommu.substream-id-bits.", (2 ** smmu.ssidBits).toString(16)));
  };
  if (st.op === "dma") for (const t of st.transfers ?? [st]) if (t.pasid !== undefined) check(t.device, t.pasid, t.range, l10n.t("DMA with"));
  if (st.op === "translate" && st.pasid !== undefined) check(st.device, st.pasid, st.range, l10n.t("translate with"));
  if (st.op === "bind-pasid" || st.op === "unbind-pasid") check(st.device, st.pasid, st.range, st.op === "bind-pasid" ? l10n.t("bind-pasid of") : l10n.t("unbind-pasid of"));
  if (st.op === "munmap") check(st.device, st.pasid, st.range, l10n.t("munmap through"));
  if (st.op === "process-exit") check(st.device, st.pasid, st.range, l10n.t("process-exit of"));
}

function pasidChecks(s: Scenario, st: Step, add: (severity: Diagnostic["severity"], range: SourceRange, code: DiagnosticCode, message: string, hint: string) => void): void {
  const io = s.host.iommu;
  if (io.smmu !== undefined) return smmuPasidChecks(io.smmu, st, add);
  if (st.op === "munmap") add("error", st.range, "pasid-unsupported", l10n.t("munmap is an SMMUv3 SVA step"), l10n.t("It unmaps part of the process bound with bind-pasid sva: true on an smmuv3 host (the mmu notifier's CMD_TLBI_NH_VA / CMD_ATC_INV); on VT-d and AMD-Vi use guest-unmap or unbind-pasid."));
  if (st.op === "process-exit") add("error", st.range, "pasid-unsupported", l10n.t("process-exit is an SMMUv3 SVA step"), l10n.t("It ends the process bound with bind-pasid sva: true on an smmuv3 host (arm_smmu_mm_release makes its CD fault); on VT-d and AMD-Vi use unbind-pasid."));
  if (st.op === "bind-pasid" && st.sva === true) add("error", st.range, "pasid-unsupported", l10n.t("sva: true is an SMMUv3 key"), l10n.t("On VT-d (first-level) and AMD-Vi a bind-pasid already shares the process's page table as Linux's SVA does: drop sva."));
  // VT-d 3.x page request private data (PDP): a unit without it (VT-d 4.0 removed the field) has no place for it.
  if (st.op === "page-request" && st.privateData !== undefined && io.prqPrivateData !== true) add("error", st.range, "invalid-value", l10n.t("private-data needs a unit with page request private data (VT-d 3.x PDP)"), l10n.t("Add prq-private-data: true to host.iommu (VT-d 4.0 removed the field, and QEMU's unit treats PDP as reserved)."));
  // AMD-Vi: PASIDs through the GCR3 table (DTE GV), 16 bits as Linux uses them (amd_iommu_types.h PASID_MASK).
  const amd = io.model === "amd-vi";
  const bits = amd ? 16 : io.scalable ? io.pasidBits ?? 20 : 0;
  const check = (pasid: number, range: SourceRange, what: string) => {
    if (amd) {
      if (pasid >= 2 ** bits) add("error", range, "pasid-unsupported", l10n.t("PASID 0x{0} does not fit AMD-Vi's {1}-bit PASIDs (Linux's PASID_MASK 0xffff)", pasid.toString(16), bits), l10n.t("Use a PASID below 0x{0}.", (2 ** bits).toString(16)));
    } else if (!io.scalable) add("error", range, "pasid-unsupported", l10n.t("{0} PASID 0x{1}, but host.iommu is a legacy-mode unit", what, pasid.toString(16)), l10n.t("Requests with PASID need scalable mode (a legacy root table faults them: \"SM: TTM 0 for request with PASID\"); add scalable: true to host.iommu."));
    else if (pasid >= 2 ** bits) add("error", range, "pasid-unsupported", l10n.t("PASID 0x{0} does not fit the unit's {1}-bit PASIDs (ECAP.PSS)", pasid.toString(16), bits), l10n.t("Use a PASID below 0x{0}, or raise host.iommu.pasid-bits.", (2 ** bits).toString(16)));
  };
  if (st.op === "dma") for (const t of st.transfers ?? [st]) if (t.pasid !== undefined) check(t.pasid, t.range, l10n.t("DMA with"));
  if (st.op === "translate" && st.pasid !== undefined) check(st.pasid, st.range, l10n.t("translate with"));
  if (st.op === "bind-pasid" || st.op === "unbind-pasid") check(st.pasid, st.range, st.op === "bind-pasid" ? l10n.t("bind-pasid of") : l10n.t("unbind-pasid of"));
  if (st.op === "bind-pasid" && amd && st.mode !== "first-level") add("error", st.range, "pasid-unsupported", l10n.t("AMD-Vi binds a PASID to a v2 (guest) page table: mode {0} does not exist there", st.mode), l10n.t("Drop mode: (first-level is the v2 table in the device's GCR3 table)."));
  if (st.op === "bind-pasid" && io.scalable) {
    if (st.mode === "nested" && io.nested === false) add("error", st.range, "scalable-mode-required", l10n.t("a nested bind needs nested translation, but host.iommu has nested: false (ECAP.NEST = 0)"), l10n.t("Set nested: true, or bind in first-level mode."));
    if (st.mode === "first-level" && io.firstLevel === false) add("error", st.range, "scalable-mode-required", l10n.t("a first-level bind needs first-level translation, but host.iommu has first-level: false (ECAP.FLTS = 0)"), l10n.t("Linux's SVA needs ECAP.FLTS; set first-level: true or bind in second-level mode."));
    // Linux intel_iommu_domain_alloc_paging_flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING without ssads_supported() is -EOPNOTSUPP.
    if (st.dirtyTracking === true && io.slads !== true) add("error", st.range, "scalable-mode-required", l10n.t("dirty-tracking sets SLADE in the PASID entry, but host.iommu has no slads: true (ECAP.SLADS = 0)"), l10n.t("Set slads: true on the unit (second-level A/D support); Linux refuses IOMMU_HWPT_ALLOC_DIRTY_TRACKING (-EOPNOTSUPP) on a unit without it."));
    // Linux v6.18 on (57f55048e564): ssads_supported() needs ecap_smpwc too; older kernels set SLADE and the walks fault 0x7c.
    if (st.dirtyTracking === true && io.slads === true && io.smpwc === false && dirtyTrackingNeedsSmpwc(s.host.kernel)) add("error", st.range, "scalable-mode-required", l10n.t("dirty-tracking needs page walks that snoop (ECAP.SMPWC), but host.iommu has smpwc: false"), l10n.t("Linux (v6.18 on) refuses dirty tracking on a unit without ECAP.SMPWC: the unit could not set Accessed/Dirty bits in tables it does not snoop. Set smpwc: true, or host.kernel below 6.18 to see the 0x7c faults it gave."));
    if (st.mode === "second-level" && io.secondLevel === false) add("error", st.range, "scalable-mode-required", l10n.t("a second-level bind needs second-level translation, but host.iommu has second-level: false (ECAP.SLTS = 0)"), l10n.t("Set second-level: true, or bind in first-level mode."));
    if (st.guestVm !== undefined && !s.vms.some((v) => v.name === st.guestVm)) add("error", st.range, "unknown-vm", l10n.t("no VM named \"{0}\"", st.guestVm), l10n.t("Define it under vms:."));
  }
}

/**
 * `guest-unmap ... device-iotlb-invalidate: false` names a Device-TLB invalidation the guest would
 * have sent: only an intel vIOMMU with device-iotlb=on (ECAP.DT) and a device with ATS gets one
 * (Linux info->ats_supported: ecap_dev_iotlb_support and pci_ats_supported).
 */
function guestDeviceIotlbChecks(s: Scenario, st: Extract<Step, { op: "guest-unmap" }>, vm: VmSpec, add: (severity: "error" | "warning", range: SourceRange, code: DiagnosticCode, message: string, hint: string) => void): void {
  const v = vm.viommu!;
  if (v.model !== "intel" || v.deviceIotlb !== true) {
    add("warning", st.range, "invalid-value", l10n.t("device-iotlb-invalidate: false changes nothing: VM {0}'s vIOMMU has no device-iotlb", vm.name), l10n.t("The guest sends Device-TLB invalidations only to an intel-iommu with device-iotlb: true (ECAP.DT); add it to the VM's viommu."));
    return;
  }
  if (!atsDeviceKeys(s.host).has(st.device)) {
    add("warning", st.range, "invalid-value", l10n.t("device-iotlb-invalidate: false changes nothing: {0} has no ATS capability here", st.device), l10n.t("The guest enables ATS only for a device with an ATS capability: list it in host.iommu.ats."));
  }
}

/** The guest driver's stage-1 input range (GUEST_SMMU_S1_IAS); beyond it arm_lpae_map_pages WARNs and returns -ERANGE. */
const GUEST_S1_LIMIT = 1n << BigInt(GUEST_SMMU_S1_IAS);

/**
 * A guest-map of a nested SMMUv3 guest (smmuv3/guestDriver.ts): iommu_map's alignment (EINVAL,
 * "iommu: unaligned: ..."), io-pgtable-arm's refusal of an IOVA already mapped (arm_lpae_init_pte:
 * -EEXIST), the guest's 48-bit input range. The mapping is remembered for later overlaps.
 */
function nestedGuestMapChecks(st: Extract<Step, { op: "guest-map" }>, mapped: Map<string, MapList>, add: (severity: "error" | "warning", range: SourceRange, code: DiagnosticCode, message: string, hint: string) => void, expectsEinval: boolean, expectsEexist: boolean, seq: number): void {
  const unaligned = (st.iova | st.size | st.gpa) % PAGE !== 0n;
  if (unaligned && !expectsEinval) {
    add("warning", st.range, "map-unaligned", l10n.t("iova 0x{0} / size 0x{1} / gpa 0x{2} is not 4 KiB aligned; the guest's iommu_map refuses it with EINVAL (iommu: unaligned)", st.iova.toString(16), st.size.toString(16), st.gpa.toString(16)), l10n.t("The guest's io-pgtable-arm maps whole 4 KiB pages: use iova 0x{0} and a size that is a multiple of 4KiB.", (st.iova - (st.iova % PAGE)).toString(16)));
  }
  if (st.iova + st.size > GUEST_S1_LIMIT) add("error", st.range, "address-beyond-aw", l10n.t("the range ends beyond 2^{0}, the guest's stage-1 input size; arm_lpae_map_pages refuses it (-ERANGE)", GUEST_SMMU_S1_IAS), l10n.t("Keep guest IOVAs below 0x{0}.", GUEST_S1_LIMIT.toString(16)));
  let list = mapped.get(st.vm);
  if (list === undefined) mapped.set(st.vm, (list = new MapList()));
  const hit = list.firstOverlap(st.iova, st.size);
  if (hit && !expectsEexist) add("warning", st.range, "map-overlap", l10n.t("overlaps the mapping made at line {0}; the guest's io-pgtable-arm refuses it (arm_lpae_init_pte: EEXIST)", hit.line), l10n.t("Unmap the earlier range first (guest-unmap), or map a range that does not overlap it."));
  if (!unaligned && !hit) list.add({ iova: st.iova, size: st.size, line: st.range.line + 1, seq });
}

/** A guest-unmap of a nested SMMUv3 guest: the guest's page tables forget the range whether or not it invalidates. */
function nestedGuestUnmapChecks(st: Extract<Step, { op: "guest-unmap" }>, mapped: Map<string, MapList>, add: (severity: "error" | "warning", range: SourceRange, code: DiagnosticCode, message: string, hint: string) => void): void {
  if ((st.iova | st.size) % PAGE !== 0n) add("warning", st.range, "map-unaligned", l10n.t("iova 0x{0} / size 0x{1} is not 4 KiB aligned; the guest's iommu_unmap works on whole pages", st.iova.toString(16), st.size.toString(16)), l10n.t("Unmap whole 4 KiB pages, as the guest's io-pgtable-arm mapped them."));
  mapped.get(st.vm)?.removeWithin(st.iova, st.size);
}
