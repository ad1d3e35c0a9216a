/**
 * The VMM side of device assignment: what QEMU and the VFIO user API do for a VM. Starting and
 * stopping a VM (guest RAM, group checks, the container), hot-plug and detach, attaching groups to
 * the container's domain and back to their default domains, VFIO_IOMMU_MAP_DMA/UNMAP_DMA from the
 * memory listener (no vIOMMU) and from the vIOMMU's shadowing (caching mode), with QEMU's and the
 * kernel's log lines. The Machine orchestrates the steps; this module owns the VMs' VFIO state.
 */
import { formatBdf, formatSid } from "./bdf.js";
import { plural } from "./plural.js";
import type { DiagnosticCode, Scenario, Step, VmSpec } from "../scenario/types.js";
import { memslotsEnd, type GuestMemory, type HostFrameAllocator } from "./kvm.js";
import type { IommuGroup, PciDevice, PciTopology } from "./pci.js";
import type { KernelLog } from "./klog.js";
import { pfBindRefused } from "./hostTopology.js";
import { nestedAttachment, runIommufdStep, type IommufdContext, type IommufdPort, type IommufdStep } from "./iommufdObjects.js";
import { IommufdIoas, ioasEnomemText, iommufdBindFailedText, iommufdStartText, ioasMapFailedLine, mapIoctl, rlimitMode, unmapIoctl, type RlimitMode } from "./iommufd.js";
import { VfioContainer, STRERROR, ERRNO_VALUE, type Errno, type VfioDma, type VfioResult } from "./vfio.js";
import type { HostDomain, HostIommu } from "./host-iommu.js";
import { EventKind, type Trace } from "../trace/trace.js";
import type { StepOutcome } from "./machine.js";
import { VirtioIommu, type GuestDeviceIotlbInvalidation, type ShadowHooks, type Viommu } from "./viommu.js";
import { effectiveMemlock, rmrrRefusal } from "./reserved.js";
import type { PhysicalMemory } from "./memory.js";
import { GUEST_SMMU_POOL_BYTES, GuestArmSmmuV3, type GuestSmmuState } from "./smmuv3/guestDriver.js";
import { IOMMU_READ, IOMMU_WRITE, type TableMemory } from "./smmuv3/ioPgtable.js";
import { DEFAULT_SMMU_SPEC } from "./smmuv3/unit.js";

const KiB = 1024n;
const MiB = 1024n * KiB;
const GiB = 1024n * MiB;
const VMM = "qemu-system-x86_64";
/** Simulated time between the accesses QEMU translates for an emulated device (their log lines' timestamps): 1 µs. */
const NS_PER_EMULATED_ACCESS = 1000n;
const PAGE = 4096n;

export interface VmRuntime {
  spec: VmSpec;
  index: number;
  running: boolean;
  guest: GuestMemory;
  container?: VfioContainer;
  domain?: HostDomain;
  /** Assigned device keys (cold- and hot-plugged). */
  devices: string[];
  /** Groups attached to the container. */
  groups: Set<number>;
  /** The guest's vIOMMU with its tables (sim/viommu.ts), when the VM has one. */
  viommu?: Viommu;
  /** The VM's iommufd objects beyond its first IOAS, once an `iommufd:` step ran (sim/iommufdObjects.ts). */
  iommufd?: IommufdContext;
  /** The guest's arm-smmu-v3 of a nested SMMUv3 domain the scenario drives with guest-map / guest-unmap (smmuv3/guestDriver.ts). */
  guestSmmu?: GuestArmSmmuV3;
}

/** What the VMM needs from the machine it runs on. */
export interface VmmHost {
  scenario: Scenario;
  pci: PciTopology;
  /** The host IOMMU and its driver (sim/host-iommu.ts). */
  iommu: HostIommu;
  frames: HostFrameAllocator;
  log: KernelLog;
  trace: Trace;
  vms: Map<string, VmRuntime>;
  /** Each group's default (host DMA API) domain. */
  groupDomain: Map<number, HostDomain>;
  /** Host physical memory (a nested guest's tables live in its RAM there). */
  mem: PhysicalMemory;
  /** The machine's clock and the index of the step being executed. */
  now(): bigint;
  step(): number;
}

/** A step that failed with an error: the outcome says so and the trace gets an Error event. */
export function failStep(trace: Trace, step: number, out: StepOutcome, error: DiagnosticCode, summary: string): false {
  out.status = "error";
  out.error = error;
  out.summary = summary;
  trace.push(EventKind.Error, step, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  return false;
}

/** A step whose system call failed with `errno`. */
export function failStepErrno(trace: Trace, step: number, out: StepOutcome, errno: Errno, summary: string): void {
  out.status = "errno";
  out.errno = errno;
  out.summary = summary;
  trace.push(EventKind.Error, step, 0, 0, 0, 0, ERRNO_VALUE[errno], 0, 0, 0, 0);
}

export class Vmm {
  private readonly scenario: Scenario;
  private readonly pci: PciTopology;
  private readonly driver: HostIommu;
  private readonly frames: HostFrameAllocator;
  private readonly log: KernelLog;
  private readonly trace: Trace;
  private readonly vms: Map<string, VmRuntime>;
  private readonly groupDomain: Map<number, HostDomain>;

  constructor(private readonly host: VmmHost) {
    this.scenario = host.scenario;
    this.pci = host.pci;
    this.driver = host.iommu;
    this.frames = host.frames;
    this.log = host.log;
    this.trace = host.trace;
    this.vms = host.vms;
    this.groupDomain = host.groupDomain;
  }

  private get clock(): bigint {
    return this.host.now();
  }

  private get currentStep(): number {
    return this.host.step();
  }

  private fail(out: StepOutcome, error: DiagnosticCode, summary: string): false {
    return failStep(this.trace, this.currentStep, out, error, summary);
  }

  private failErrno(out: StepOutcome, errno: Errno, summary: string): void {
    failStepErrno(this.trace, this.currentStep, out, errno, summary);
  }


  vm(name: string): VmRuntime {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new Error(`unknown VM "${name}"`);
    return vm;
  }

  private requireViommu(vm: VmRuntime, out: StepOutcome): boolean {
    if (!vm.running) return this.fail(out, "vm-not-running", `VM ${vm.spec.name} is not running`);
    if (!vm.spec.viommu) return this.fail(out, "no-viommu", `VM ${vm.spec.name} has no vIOMMU: its devices see guest-physical addresses`);
    return true;
  }

  /**
   * `emulated-dma`: a device QEMU emulates in the VM, at guest BDF `bdf`, reads or writes
   * [iova, iova + length) through the VM's virtio-iommu. QEMU translates each granule-sized access
   * (VirtioIommu.translateEmulated); a fault is reported on the event queue
   * (virtio_iommu_report_fault: one struct virtio_iommu_fault per access, in a buffer the guest's
   * driver keeps posted: viommu_fill_evtq refills each one it takes), QEMU's error_report_once line
   * goes to its stderr the first time a site fires, and the guest's viommu_fault_handler prints the
   * fault (ratelimited). The outcome's fault is the VIRTIO_IOMMU_FAULT_R_* reason of the first.
   */
  emulatedDma(step: Extract<Step, { op: "emulated-dma" }>, out: StepOutcome): void {
    const vm = this.vm(step.vm);
    if (!this.requireViommu(vm, out)) return;
    const v = vm.viommu!;
    if (!(v instanceof VirtioIommu)) return void this.fail(out, "no-viommu", `VM ${vm.spec.name}'s vIOMMU is ${v.model}: emulated-dma is DMA through QEMU's virtio-iommu`);
    const [bus, rest] = step.bdf.split(":") as [string, string];
    const [dev, fn] = rest.split(".") as [string, string];
    const sid = (parseInt(bus, 16) << 8) | (parseInt(dev, 16) << 3) | parseInt(fn, 10);
    const g = v.granule;
    let bytes = 0n;
    let faults = 0;
    let n = 0;
    let first: { reason: number; flags: number } | undefined;
    for (let a = step.iova; a < step.iova + step.length; a = a - (a % g) + g) {
      n++;
      const len = (a - (a % g) + g < step.iova + step.length ? a - (a % g) + g : step.iova + step.length) - a;
      const now = this.clock + BigInt(n) * NS_PER_EMULATED_ACCESS;
      const r = v.translateEmulated(sid, a, step.write, step.endpoint);
      if ("gpa" in r) {
        bytes += len;
        continue;
      }
      faults++;
      first ??= r.fault;
      const rep = v.reportFault(r, now);
      if (rep.qemu !== undefined) this.log.vmm(now, vm.spec.name, `${VMM}: ${rep.qemu}`, this.currentStep);
      for (const line of rep.guest) this.log.guest(now, vm.spec.name, line, this.currentStep);
    }
    out.transactions = n;
    out.faults = faults;
    const what = `(${step.write ? "writes" : "reads"} by the emulated device ${step.bdf}, endpoint ${sid})`;
    if (first === undefined) {
      out.summary = `${plural(Number(bytes), "byte")} ${step.write ? "written" : "read"} by the emulated device ${step.bdf} through virtio-iommu (QEMU's virtio_iommu_translate)`;
      return;
    }
    out.status = "fault";
    out.fault = first.reason;
    out.recorded = true;
    const reason = ["VIRTIO_IOMMU_FAULT_R_UNKNOWN", "VIRTIO_IOMMU_FAULT_R_DOMAIN", "VIRTIO_IOMMU_FAULT_R_MAPPING"][first.reason]!;
    const firstFlags = first.flags;
    const flags = ["READ", "WRITE", "EXEC"].filter((_, i) => firstFlags & (1 << i)).map((f) => `VIRTIO_IOMMU_FAULT_F_${f}`);
    out.summary = `${faults} of ${plural(n, "access", "accesses")} ${what} faulted in QEMU's virtio-iommu: ${reason} (flags ${[...flags, "VIRTIO_IOMMU_FAULT_F_ADDRESS"].join(" | ")}), reported on the event queue (VIRTIO_IOMMU_T_FAULT); the guest's driver prints it`;
  }

  /**
   * `guest-map`: the guest's intel-iommu driver writes second-level entries into its vIOMMU's
   * tables in guest memory and, as caching mode requires, invalidates them (sim/viommu.ts). QEMU
   * traps the invalidation and walks what it covers (hw/i386/intel_iommu.c
   * vtd_sync_shadow_page_table_range -> vtd_page_walk -> vtd_page_walk_level -> vtd_page_walk_one:
   * one IOMMUTLBEntry per leaf entry, 4 KiB or a superpage) and its VFIO notifier
   * (hw/vfio/listener.c, formerly common.c, vfio_iommu_map_notify) issues one VFIO_IOMMU_MAP_DMA
   * per entry. A failed map is reported with error_report("vfio_container_dma_map(%p,
   * 0x%"HWADDR_PRIx", 0x%"HWADDR_PRIx", %p) = %d (%s)") and the walk goes on: the guest never
   * hears of it and that page stays unmapped for the device. So dma-entry-limit counts entries.
   * Permissions: the notifier passes read_only = !(iotlb->perm & IOMMU_WO), and
   * vfio_legacy_dma_map() (hw/vfio/container.c) starts from .flags = VFIO_DMA_MAP_FLAG_READ and
   * adds WRITE unless read_only: a write-only guest entry becomes a read+write host mapping. (An
   * unaligned range keeps the single-call EINVAL of VFIO.) `invalidate: false`: the guest forgot
   * the flush, QEMU hears nothing and the host keeps what it had.
   */
  guestMap(step: Extract<Step, { op: "guest-map" }>, out: StepOutcome): void {
    const vm = this.vm(step.vm);
    if (!vm.spec.viommu && this.drivesNestedGuest(vm.spec.name, step.device)) return this.nestedGuestMap(vm, step, out);
    if (!this.requireViommu(vm, out)) return;
    const { iova, size, gpa, perm } = step;
    const v = vm.viommu!;
    // virtio-iommu: the guest's iommu core checks the alignment against the granule (VirtioIommu.map).
    if (v.model === "intel" && ((iova | size | gpa) % PAGE !== 0n || size === 0n)) return this.vfioMap(vm, iova, size, gpa, perm, out);
    if (!this.requireContainer(vm, out)) return;
    const did = vm.domain!.did;
    // virtio-iommu has no invalidation to forget: QEMU hears the MAP request itself.
    const invalidate = step.invalidate !== false || v.model === "virtio-iommu";
    const prot = perm === "r" ? 1 : perm === "w" ? 2 : 3;
    const shadow = this.shadowHooks(vm);
    const r = vm.viommu!.map(step.device, iova, size, gpa, prot, invalidate, this.currentStep, shadow.hooks);
    shadow.flush();
    out.deviceIotlbInvalidations = r.deviceIotlb?.length ?? 0;
    for (const y of r.syncs) {
      shadow.stats.skipped += y.skipped;
      shadow.stats.remapped += y.remapped;
    }
    if (r.refused) {
      this.failErrno(out, r.refused.errno, `the guest's ${v.model === "intel" ? "intel-iommu" : "virtio-iommu driver"} refused the mapping: ${r.refused.line} (-${ERRNO_VALUE[r.refused.errno]}, ${r.refused.errno})${v.model === "intel" ? `; the vIOMMU has aw-bits ${v.domainWidth}` : ""}`);
      return;
    }
    if (r.rejected) {
      const done = shadow.stats.maps ? ` (${plural(shadow.stats.maps, "VFIO_IOMMU_MAP_DMA call")} for the requests before it)` : "";
      this.fail(out, "viommu-rejected", `${r.rejected.status ? `QEMU's virtio-iommu answered ${r.rejected.status}: ` : "the guest's virtio-iommu driver sent no MAP: "}${r.rejected.why}${done}`);
      return;
    }
    const s = shadow.stats;
    if (!invalidate) {
      out.summary = `the guest wrote its vIOMMU entries for IOVA 0x${iova.toString(16)}+${formatSize(size)} -> GPA 0x${gpa.toString(16)} but did not invalidate: QEMU was not told, so nothing new is mapped on the host${s.unmaps ? "" : " (a DMA there hits whatever the host had, or faults)"}`;
      return;
    }
    const how = `${plural(s.maps + s.failed, "VFIO_IOMMU_MAP_DMA call")}${s.allSmall ? " of 4 KiB" : ""} (${v.model === "intel" ? "one per guest page-table entry" : "one per aligned block of each MAP request, at once"})`;
    const remap = s.remapped ? `; ${plural(s.remapped, "changed entry", "changed entries")} unmapped first (vtd_page_walk_one)` : "";
    if (s.firstErrno !== undefined) {
      const entries = s.maps + s.failed;
      this.failErrno(
        out,
        s.firstErrno,
        `QEMU shadowed the guest mapping with ${how}: ${s.maps} of ${plural(entries, "page")} mapped in domain ${did}; from IOVA 0x${s.firstFailed.toString(16)} VFIO_IOMMU_MAP_DMA failed: ${s.firstErrno} (${STRERROR[s.firstErrno]}), ` +
          `so ${plural(s.failed, "page")} stay${s.failed === 1 ? "s" : ""} unmapped (the guest is not told)`,
      );
      return;
    }
    if (s.maps === 0 && s.skipped > 0) {
      out.summary = `the guest rewrote the same entries for IOVA 0x${iova.toString(16)}+${formatSize(size)}: QEMU's walk found nothing changed (vtd_page_walk_one skips identical mappings)`;
      return;
    }
    out.summary = `mapped IOVA 0x${iova.toString(16)}+${formatSize(size)} -> GPA 0x${gpa.toString(16)} with ${how} in domain ${did}${perm === "w" ? " (read+write: QEMU always asks VFIO for read access)" : ""}${remap}`;
  }

  /** `guest-unmap`: the guest clears its entries; QEMU only hears of it through the guest's invalidation. */
  guestUnmap(step: Extract<Step, { op: "guest-unmap" }>, out: StepOutcome): void {
    const vm = this.vm(step.vm);
    if (!vm.spec.viommu && this.drivesNestedGuest(vm.spec.name, step.device)) return this.nestedGuestUnmap(vm, step, out);
    if (!this.requireViommu(vm, out)) return;
    if (!vm.running || !vm.container) {
      this.fail(out, "vm-not-running", `VM ${vm.spec.name} has no VFIO container`);
      return;
    }
    const shadow = this.shadowHooks(vm);
    const v = vm.viommu!;
    const r = v.unmap(step.device, step.iova, step.size, step.invalidate, this.currentStep, shadow.hooks, step.deviceIotlbInvalidate !== false);
    shadow.flush();
    out.deviceIotlbInvalidations = r.deviceIotlb?.length ?? 0;
    if (r.rejected) {
      const done = shadow.stats.unmapped ? ` (${formatSize(shadow.stats.unmapped)} unmapped before it)` : "";
      this.fail(out, "viommu-rejected", `${r.rejected.status ? `QEMU's virtio-iommu answered ${r.rejected.status}: ` : ""}${r.rejected.why}${done}`);
      return;
    }
    if (!step.invalidate && v.model === "intel") {
      // The guest cleared its vIOMMU entry but never invalidated: QEMU is not notified, the
      // host mapping (and the device's access) stays.
      out.summary = "guest unmapped without invalidation: the host mapping stays";
      return;
    }
    const s = shadow.stats;
    if (s.unmapErrno !== undefined) {
      this.failErrno(out, s.unmapErrno, `VFIO_IOMMU_UNMAP_DMA failed: ${s.unmapErrno} (${STRERROR[s.unmapErrno]})`);
      return;
    }
    const whole = r.unmapped !== undefined && r.unmapped > step.size ? ` (whole mappings: the guest's virtio-iommu driver never splits one, viommu_del_mappings)` : "";
    out.summary = (s.unmapped === 0n ? "nothing was mapped there (0 bytes unmapped)" : `unmapped ${formatSize(s.unmapped)} at IOVA 0x${step.iova.toString(16)}${whole}`) + deviceIotlbText(r.deviceIotlb, v.guestAts?.(step.device) === true, step.deviceIotlbInvalidate === false);
  }

  /** `${vm}\n${device}` of each guest-map / guest-unmap on a VM without `viommu:`: a nested SMMUv3 guest the scenario drives (smmuv3/guestDriver.ts). */
  private nestedGuests?: Set<string>;

  /** Whether the scenario drives the guest's arm-smmu-v3 for `device` of VM `vm` (its guest-map / guest-unmap steps; a VM without them writes its own words with pokes). */
  drivesNestedGuest(vm: string, device: string): boolean {
    this.nestedGuests ??= new Set(this.scenario.workload.flatMap((s) => ((s.op === "guest-map" || s.op === "guest-unmap") && this.vms.get(s.vm)?.spec.viommu === undefined ? [`${s.vm}\n${s.device}`] : [])));
    return this.nestedGuests.has(`${vm}\n${device}`);
  }

  /** The VM's guest arm-smmu-v3 (made on first use, or from a checkpoint's `state`): its RAM by GPA, a table pool at the top of it. */
  guestSmmuOf(vm: VmRuntime, state?: GuestSmmuState): GuestArmSmmuV3 {
    if (vm.guestSmmu !== undefined && state === undefined) return vm.guestSmmu;
    const ram: TableMemory = vm.guest.ramView(this.host.mem);
    const end = Number(memslotsEnd(vm.guest.memslots));
    const base = end - Math.min(GUEST_SMMU_POOL_BYTES, Number(vm.spec.memory) / 4);
    const oas = this.scenario.host.iommu.smmu?.oas ?? DEFAULT_SMMU_SPEC.oas;
    vm.guestSmmu = new GuestArmSmmuV3(ram, oas, { base: base - (base % 4096), end }, state);
    return vm.guestSmmu;
  }

  /**
   * VFIO_DEVICE_ATTACH_IOMMUFD_PT of a device the scenario's guest drives to a nested hwpt: the
   * guest's arm-smmu-v3 attached it to its DMA domain and wrote the CD at the vSTE's S1ContextPtr
   * (in the real order the guest writes CD and STE first and QEMU attaches on its CMD_CFGI_STE).
   */
  private nestedAttached(vmName: string, device: string, vste: readonly [bigint, bigint]): string | undefined {
    if (!this.drivesNestedGuest(vmName, device)) return undefined;
    const vm = this.vm(vmName);
    const cfg = Number((vste[0] >> 1n) & 7n);
    if ((vste[0] & 1n) === 0n || cfg !== 5) return "; the guest's STE is not S1 translate: its arm-smmu-v3 writes no CD";
    // S1Fmt (STRTAB_STE_0_S1FMT [5:4]): the guest's driver model writes a linear CD table's CD 0 (SubstreamID 0).
    if (((vste[0] >> 4n) & 3n) !== 0n) return "; the guest's STE has a 2-level CD table (S1Fmt != 0), which the guest driver model does not write";
    const cd = Number(vste[0] & 0x000fffffffffffc0n);
    const r = this.guestSmmuOf(vm).attach(device, cd);
    return `; the guest's arm-smmu-v3 wrote its CD at IPA 0x${cd.toString(16)} (arm_smmu_make_s1_cd: ASID ${r.domain.asid}, TTB0 IPA 0x${r.domain.pgd.toString(16)}; word 0 0x${r.words[0]!.toString(16).padStart(16, "0")})`;
  }

  /** The nested attachment of a device the guest drives, or a failed step. */
  private nestedGuest(vm: VmRuntime, device: string, out: StepOutcome): { g: GuestArmSmmuV3; viommu: number; asid: number } | undefined {
    if (!vm.running) return void this.fail(out, "vm-not-running", `VM ${vm.spec.name} is not running`);
    const n = nestedAttachment(vm.iommufd, device);
    const g = vm.guestSmmu;
    const d = g?.domainOf(device);
    if (n === undefined || g === undefined || d === undefined) {
      return void this.fail(out, "no-viommu", `${device} of VM ${vm.spec.name} is not attached to a nested hwpt whose guest STE is S1 translate: the guest's arm-smmu-v3 has no stage-1 domain for it (IOMMU_HWPT_ALLOC with a vste, then VFIO_DEVICE_ATTACH_IOMMUFD_PT)`);
    }
    return { g, viommu: n.viommu, asid: d.asid };
  }

  /** `guest-map` on a nested SMMUv3 guest: its io-pgtable-arm writes stage-1 descriptors in guest RAM; nothing reaches QEMU or the host (smmuv3/guestDriver.ts). */
  private nestedGuestMap(vm: VmRuntime, step: Extract<Step, { op: "guest-map" }>, out: StepOutcome): void {
    const n = this.nestedGuest(vm, step.device, out);
    if (n === undefined) return;
    const prot = step.perm === "r" ? IOMMU_READ : step.perm === "w" ? IOMMU_WRITE : IOMMU_READ | IOMMU_WRITE;
    const r = n.g.map(step.device, Number(step.iova), Number(step.gpa), Number(step.size), prot);
    if (!r.ok) {
      if (r.errno === "ERANGE") return void this.fail(out, "address-beyond-aw", `the guest's iommu_map refused: ${r.line}`);
      if (r.errno === "EINVAL") this.log.guest(this.clock, vm.spec.name, r.line, this.currentStep);
      this.failErrno(out, r.errno, `the guest's iommu_map refused: ${r.line} (-${ERRNO_VALUE[r.errno]}, ${r.errno})`);
      return;
    }
    const what = `${plural(r.leaves, "descriptor")}${r.tables ? ` and ${plural(r.tables, "new table")}` : ""}`;
    out.summary = `the guest's arm-smmu-v3 mapped IOVA 0x${step.iova.toString(16)}+${formatSize(step.size)} -> IPA 0x${step.gpa.toString(16)} in its stage-1 tables (ASID ${n.asid}): ${what} written in guest RAM; arm-smmu-v3 invalidates nothing after a map, and nothing reaches QEMU or the host`;
  }

  /**
   * `guest-unmap` on a nested SMMUv3 guest: its PTEs cleared, then CMD_TLBI_NH_VA per leaf and
   * CMD_SYNC in its vSMMU's command queue, which QEMU forwards with IOMMU_HWPT_INVALIDATE on the
   * vIOMMU (the host driver converts them: HostNesting.invalidate); `invalidate: false`: the guest
   * forgets them, so the host SMMU's TLB keeps the translation.
   */
  private nestedGuestUnmap(vm: VmRuntime, step: Extract<Step, { op: "guest-unmap" }>, out: StepOutcome): void {
    const n = this.nestedGuest(vm, step.device, out);
    if (n === undefined) return;
    const r = n.g.unmap(step.device, Number(step.iova), Number(step.size));
    const where = `at IOVA 0x${step.iova.toString(16)}`;
    if (r.bytes === 0) {
      out.summary = `nothing was mapped ${where} (0 bytes unmapped): the guest queues no invalidation`;
      return;
    }
    const cmds = r.batches.flat();
    const queued = `${plural(cmds.length, "CMD_TLBI_NH_VA")} (ASID ${n.asid}, LEAF) + ${plural(r.batches.length, "CMD_SYNC")}`;
    const cleared = `the guest's arm-smmu-v3 unmapped ${formatSize(BigInt(r.bytes))} ${where} (${plural(cmds.length, "descriptor")} cleared)`;
    if (!step.invalidate) {
      out.summary = `${cleared} and forgot its ${queued}: QEMU forwards nothing, and the host SMMU's TLB keeps the old translation`;
      return;
    }
    const nesting = this.driver.nesting!;
    const word = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;
    const sent: string[] = [];
    for (const batch of r.batches) {
      const res = nesting.invalidate(n.viommu, batch);
      sent.push(...res.issued.map(([w0, w1]) => `${nesting.commandName(w0)} { ${word(w0)}, ${word(w1)} }`));
      if (res.refused !== undefined) {
        this.failErrno(out, "EIO", `${cleared}; QEMU's IOMMU_HWPT_INVALIDATE on vIOMMU ${n.viommu} failed: EIO: entry ${res.refused.index}: ${res.refused.why}`);
        return;
      }
    }
    out.summary = `${cleared}, queued ${queued} in its vSMMU's command queue; QEMU forwarded ${cmds.length === 1 ? "the TLBI" : "the TLBIs"} with IOMMU_HWPT_INVALIDATE on vIOMMU ${n.viommu}: the host's queue got ${sent.join(", ")}, with CMD_SYNC`;
  }

  /**
   * QEMU's VFIO notifier for the vIOMMU's walk events (vfio_iommu_map_notify): one
   * VFIO_IOMMU_MAP_DMA / VFIO_IOMMU_UNMAP_DMA per event, logged as QEMU and the kernel log them;
   * one trace Map (Unmap) event per run of consecutive ranges mapped with the same permissions
   * (unmapped), as for the notifier-level shadowing before.
   */
  private shadowHooks(vm: VmRuntime): {
    hooks: ShadowHooks;
    flush(): void;
    stats: { maps: number; failed: number; unmaps: number; skipped: number; remapped: number; allSmall: boolean; firstErrno?: Errno; firstFailed: bigint; unmapped: bigint; unmapErrno?: Errno };
  } {
    const did = vm.domain?.did ?? 0;
    const stats: ReturnType<Vmm["shadowHooks"]>["stats"] = { maps: 0, failed: 0, unmaps: 0, skipped: 0, remapped: 0, allSmall: true, firstFailed: 0n, unmapped: 0n };
    // The pending trace event: a run of consecutive mapped (or unmapped) ranges of one kind.
    let runKind: EventKind.Map | EventKind.Unmap = EventKind.Map;
    let runStart = 0n;
    let runEnd = 0n;
    let runProt = 0;
    let runCause = -1;
    const flush = () => {
      if (runEnd > runStart) {
        this.trace.pushBig(runKind, this.currentStep, 0, did, runKind === EventKind.Map ? runProt : 0, 0, 0, runStart, runEnd - runStart);
        if (runKind === EventKind.Map && runCause >= 0 && runCause !== this.currentStep) vm.viommu?.noteCause(this.trace.length - 1, runCause);
      }
      runStart = runEnd = 0n;
    };
    /** Extends the pending run with [iova, iova + size), or starts a new one. */
    const extend = (kind: EventKind.Map | EventKind.Unmap, iova: bigint, size: bigint, prot: number, cause: number) => {
      if (runKind !== kind || runEnd !== iova || runEnd === runStart || prot !== runProt || cause !== runCause) {
        flush();
        runKind = kind;
        runStart = iova;
        runProt = prot;
        runCause = cause;
      }
      runEnd = iova + size;
    };
    const hooks: ShadowHooks = {
      map: (e) => {
        const write = (e.perm & 2) !== 0;
        const r = this.dmaMap(vm, e.iova, e.size, this.gpaToVaddr(vm, e.gpa), true, write);
        if (e.size !== PAGE) stats.allSmall = false;
        if (!r.ok) {
          stats.failed++;
          if (stats.firstErrno === undefined) {
            stats.firstErrno = r.errno;
            stats.firstFailed = e.iova;
          }
          return false;
        }
        stats.maps++;
        extend(EventKind.Map, e.iova, e.size, write ? 3 : 1, e.writtenBy);
        return true;
      },
      unmap: (iova, size) => {
        stats.unmaps++;
        const r = vm.container!.unmap({ iova, size });
        if (!r.ok) {
          flush();
          for (const line of r.kernelLog) this.log.kernel(this.clock, line, this.currentStep);
          // hw/vfio/listener.c vfio_iommu_map_notify: error_report("vfio_container_dma_unmap(%p, 0x%"HWADDR_PRIx", 0x%"HWADDR_PRIx") = %d (%s)").
          this.log.vmm(this.clock, vm.spec.name, `${VMM}: vfio_container_dma_unmap(${containerPtr(vm)}, 0x${iova.toString(16)}, 0x${size.toString(16)}) = -${ERRNO_VALUE[r.errno]} (${STRERROR[r.errno]})`, this.currentStep);
          stats.unmapErrno ??= r.errno;
          return;
        }
        stats.unmapped += r.unmapped;
        if (r.unmapped > 0n) extend(EventKind.Unmap, iova, r.unmapped, 0, -1);
      },
    };
    return {
      hooks,
      flush,
      stats,
    };
  }

  // ---------------------------------------------------------------- VM lifecycle

  startVm(vm: VmRuntime, out: StepOutcome): void {
    if (vm.running) {
      this.fail(out, "vm-running", `VM ${vm.spec.name} is already running`);
      return;
    }
    const vmm = (text: string) => this.log.vmm(this.clock, vm.spec.name, `${VMM}: ${text}`, this.currentStep);
    const hostAw = this.scenario.host.iommu.addressWidth;
    if (vm.viommu?.model === "intel" && vm.devices.length > 0 && vm.viommu.domainWidth > hostAw) {
      // QEMU (9.1+) hw/i386/intel_iommu.c vtd_check_hiod(): error_setg(errp, "aw-bits %d > host aw-bits %d"),
      // prefixed by vfio-pci realize (hw/vfio/pci.c: "Failed to set vIOMMU: ").
      const dev = this.pci.device(vm.devices[0]!);
      const name = dev ? fullBdf(dev) : vm.devices[0]!;
      vmm(`-device vfio-pci,host=${name}: vfio ${name}: Failed to set vIOMMU: aw-bits ${vm.viommu.domainWidth} > host aw-bits ${hostAw}`);
      this.fail(out, "viommu-aw-bits-host", `QEMU refuses to start: the vIOMMU's aw-bits ${vm.viommu.domainWidth} exceed the host IOMMU's ${hostAw}`);
      return;
    }
    if (vm.spec.viommu && !vm.spec.viommu.cachingMode && vm.devices.length > 0) {
      // QEMU vtd_machine_done_notify_one / vfio: refuses assigned devices behind a non-CM vIOMMU.
      vmm("We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.");
      this.fail(out, "caching-mode-required", "QEMU refuses to start: vfio-pci behind intel-iommu needs caching-mode=on");
      return;
    }
    // Open every group first: QEMU fails on the first device whose group is unusable.
    const groups: IommuGroup[] = [];
    for (const key of vm.devices) {
      const dev = this.pci.device(key);
      if (dev === undefined) {
        this.fail(out, "unknown-device", `no host device ${key}`);
        return;
      }
      const problem = this.groupProblem(vm, dev);
      if (problem !== undefined) {
        vmm(`-device vfio-pci,host=${fullBdf(dev)}: ${problem.text}`);
        if (problem.hint) vmm(problem.hint);
        this.fail(out, problem.code, problem.summary);
        return;
      }
      if (this.rmrrRefused(vm, dev, out)) return;
      const g = this.pci.groupOf(dev);
      if (!groups.includes(g)) groups.push(g);
    }
    if (!vm.guest.populate(this.frames)) {
      vm.guest.release(this.frames);
      vmm(`cannot set up guest memory 'pc.ram': Cannot allocate memory`);
      this.fail(out, "host-out-of-memory", `host has no room for ${formatSize(vm.spec.memory)} of guest RAM`);
      return;
    }
    vm.running = true;
    vm.viommu?.reset(); // the guest boots: its intel-iommu starts with empty tables
    this.trace.pushBig(EventKind.VmStart, this.currentStep, 0, 0, 0, 0, 0, vm.spec.memory, BigInt(vm.devices.length));
    if (groups.length === 0) {
      out.summary = vmStartText(vm.spec, 0);
      return;
    }
    this.createContainer(vm);
    for (const g of groups) this.attachGroup(vm, g);
    if (!vm.spec.viommu || vm.spec.viommu.bypass) {
      // No vIOMMU, or virtio-iommu in bypass (its endpoints in QEMU's bypass address space, sim/viommu.ts
      // VirtioIommu.bypass): QEMU's VFIO memory listener maps every RAM section IOVA = GPA.
      if (!this.mapGuestRam(vm, this.pci.device(vm.devices[0]!)!, out)) {
        this.teardown(vm);
        return;
      }
    }
    out.summary = vmStartText(vm.spec, vm.devices.length, vm.domain?.did);
    if (vm.spec.backend === "iommufd" && vm.container instanceof IommufdIoas) out.summary += iommufdStartText(vm.container, vm.devices.length, vm.domain!.did, !vm.spec.viommu);
  }

  /**
   * The kernel refuses the group when a member has an RMRR (sim/reserved.ts rmrrRefusal: the
   * message and errno of the host's kernel generation): it logs, QEMU reports, the step fails.
   */
  private rmrrRefused(vm: VmRuntime, dev: PciDevice, out: StepOutcome): boolean {
    const group = this.pci.groupOf(dev);
    const members = group.devices.map((d) => ({ key: d.key, full: fullBdf(d), ...(d.spec.driver !== undefined ? { driver: d.spec.driver } : {}) }));
    const r = rmrrRefusal(this.scenario.host, members, { full: fullBdf(dev) }, group.id);
    if (r === undefined) return false;
    this.log.kernel(this.clock, r.kernel, this.currentStep);
    this.log.vmm(this.clock, vm.spec.name, `${VMM}: ${r.qemu}`, this.currentStep);
    this.failErrno(out, r.errno, r.summary);
    return true;
  }

  /** Why QEMU cannot use this device's group, or undefined. */
  private groupProblem(vm: VmRuntime, dev: PciDevice): { code: DiagnosticCode; text: string; hint?: string; summary: string } | undefined {
    const group = this.pci.groupOf(dev);
    const driver = dev.spec.driver;
    if (pfBindRefused(dev)) {
      return {
        code: "pf-sriov-enabled",
        text: `vfio ${fullBdf(dev)}: no such host device: vfio-pci did not bind ${fullBdf(dev)}: Cannot bind to PF with SR-IOV enabled (${plural(dev.vfs?.length ?? 0, "VF")} enabled)`,
        summary: `${dev.key} is an SR-IOV PF with VFs enabled: vfio-pci refuses to bind it (-EBUSY); disable its VFs (sriov_numvfs = 0) or assign a VF`,
      };
    }
    if (driver !== "vfio-pci") {
      return {
        code: "device-not-bound",
        text: `vfio ${fullBdf(dev)}: no such host device: ${fullBdf(dev)} is bound to ${driver ? `"${driver}"` : "no driver"}, not vfio-pci`,
        summary: `${dev.key} is not bound to vfio-pci`,
      };
    }
    const v = this.pci.viability(group);
    if (!v.viable && vm.spec.backend === "iommufd") {
      return { code: "group-not-viable", text: iommufdBindFailedText(vm.index, fullBdf(dev)), summary: `VFIO_DEVICE_BIND_IOMMUFD failed with EBUSY: group ${group.id} is not viable: ${v.blockers.map((b) => b.why).join("; ")}` };
    }
    if (!v.viable) {
      return {
        code: "group-not-viable",
        text: `vfio ${fullBdf(dev)}: group ${group.id} is not viable`,
        hint: "Please ensure all devices within the iommu_group are bound to their vfio bus driver.",
        summary: `group ${group.id} is not viable: ${v.blockers.map((b) => b.why).join("; ")}`,
      };
    }
    for (const other of this.vms.values()) {
      if (other !== vm && other.running && other.groups.has(group.id)) {
        return {
          code: "group-busy",
          text: `vfio ${fullBdf(dev)}: failed to open /dev/vfio/${group.id}: Device or resource busy`,
          summary: `group ${group.id} is already used by VM ${other.spec.name}`,
        };
      }
    }
    return undefined;
  }

  private createContainer(vm: VmRuntime): void {
    vm.domain = this.driver.allocDomain(false);
    this.createContainerShell(vm);
    vm.container!.addDomain(vm.domain.did);
  }

  /** VFIO_GROUP_SET_CONTAINER + iommu_attach_group: every device of the group leaves its default domain. */
  private attachGroup(vm: VmRuntime, group: IommuGroup): void {
    for (const dev of group.devices) {
      const rids = this.pci.dmaAliases(dev);
      this.driver.attach(vm.domain!, rids);
      for (const rid of rids) this.trace.push(EventKind.Attach, this.currentStep, rid, vm.domain!.did, 0, 0, 0, 0, 0, 0, 0);
    }
    vm.groups.add(group.id);
  }

  /** The group goes back to its default domain (iommu_group_release_dma_owner). */
  private releaseGroup(vm: VmRuntime, groupId: number): void {
    const group = this.pci.groups[groupId]!;
    const dom = this.groupDomain.get(groupId)!;
    for (const dev of group.devices) {
      const rids = this.pci.dmaAliases(dev);
      this.driver.attach(dom, rids);
      for (const rid of rids) this.trace.push(EventKind.Detach, this.currentStep, rid, vm.domain?.did ?? 0, 0, 0, 0, 0, 0, 0, 0);
    }
    vm.groups.delete(groupId);
  }

  /**
   * QEMU's VFIO memory listener without a vIOMMU: every RAM slot mapped IOVA = GPA. On failure it
   * reports as the kernel and QEMU do and returns false; the caller unwinds.
   */
  private mapGuestRam(vm: VmRuntime, dev: PciDevice, out: StepOutcome): boolean {
    for (const slot of vm.guest.memslots) {
      const r = vm.container!.map({ iova: slot.gpa, vaddr: slot.hva, size: slot.size, read: true, write: true });
      if (!r.ok) {
        for (const line of r.kernelLog) this.log.kernel(this.clock, line, this.currentStep);
        if (vm.spec.backend === "iommufd") this.log.vmm(this.clock, vm.spec.name, `${VMM}: ${ioasMapFailedLine(r.errno)}`, this.currentStep);
        this.log.vmm(
          this.clock,
          vm.spec.name,
          `${VMM}: -device vfio-pci,host=${fullBdf(dev)}: vfio ${fullBdf(dev)}: failed to setup container for group ${this.pci.groupOf(dev).id}: ` +
            `memory listener initialization failed: Region ${slot.name}: vfio_dma_map(${containerPtr(vm)}, 0x${slot.gpa.toString(16)}, ` +
            `0x${slot.size.toString(16)}, 0x${slot.hva.toString(16)}) = -${ERRNO_VALUE[r.errno]} (${STRERROR[r.errno]})`,
          this.currentStep,
        );
        this.failErrno(out, r.errno, `${mapIoctl(vm.spec)} of ${slot.name} failed: ${r.errno} (${STRERROR[r.errno]})${r.errno === "ENOMEM" ? ioasEnomemText(vm.container) : ""}`);
        return false;
      }
      this.trace.pushBig(EventKind.Map, this.currentStep, 0, vm.domain!.did, 0, 0, 0, slot.gpa, slot.size);
    }
    return true;
  }

  /** Unmaps everything, returns the groups to their default domains and frees the VFIO domain. */
  private destroyContainer(vm: VmRuntime): void {
    if (vm.container) {
      vm.container.unmap({ iova: 0n, size: 0n, all: true });
      vm.container.removeDomain(vm.domain!.did);
    }
    for (const g of [...vm.groups]) this.releaseGroup(vm, g);
    if (vm.domain) this.driver.freeDomain(vm.domain);
    delete vm.container;
    delete vm.domain;
  }

  private teardown(vm: VmRuntime): void {
    this.destroyContainer(vm);
    vm.guest.release(this.frames);
    vm.running = false;
    // A new boot's guest kernel starts its arm-smmu-v3 afresh.
    delete vm.guestSmmu;
  }

  stopVm(vm: VmRuntime, out: StepOutcome): void {
    if (!vm.running) {
      this.fail(out, "vm-not-running", `VM ${vm.spec.name} is not running`);
      return;
    }
    const mapped = vm.container?.dmas.length ?? 0;
    this.teardown(vm);
    this.trace.push(EventKind.VmStop, this.currentStep, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    out.summary = `VM ${vm.spec.name} stopped; ${plural(mapped, "DMA mapping")} removed, devices back in their default domains`;
  }

  assign(vm: VmRuntime, key: string, out: StepOutcome): void {
    const dev = this.pci.device(key);
    if (dev === undefined) {
      this.fail(out, "unknown-device", `no host device ${key}`);
      return;
    }
    if (vm.devices.includes(dev.key)) {
      this.fail(out, "device-assigned", `${dev.key} is already assigned to VM ${vm.spec.name}`);
      return;
    }
    if (!vm.running) {
      vm.devices.push(dev.key);
      out.summary = `${dev.key} will be assigned when VM ${vm.spec.name} starts`;
      return;
    }
    const problem = this.groupProblem(vm, dev);
    if (problem !== undefined) {
      this.log.vmm(this.clock, vm.spec.name, `${VMM}: ${problem.text}`, this.currentStep);
      if (problem.hint) this.log.vmm(this.clock, vm.spec.name, `${VMM}: ${problem.hint}`, this.currentStep);
      this.fail(out, problem.code, problem.summary);
      return;
    }
    if (vm.spec.viommu && !vm.spec.viommu.cachingMode) {
      this.fail(out, "caching-mode-required", "hot-plugging vfio-pci behind intel-iommu needs caching-mode=on");
      return;
    }
    if (this.rmrrRefused(vm, dev, out)) return;
    const firstGroup = !vm.container;
    if (firstGroup) {
      this.createContainer(vm);
    }
    const group = this.pci.groupOf(dev);
    if (!vm.groups.has(group.id)) this.attachGroup(vm, group);
    vm.devices.push(dev.key);
    if (firstGroup && (!vm.spec.viommu || vm.spec.viommu.bypass)) {
      if (!this.mapGuestRam(vm, dev, out)) {
        // device_add fails as a whole: the device leaves the VM, its group the container.
        vm.devices.pop();
        this.destroyContainer(vm);
        return;
      }
    }
    out.summary = `${dev.key} hot-plugged into VM ${vm.spec.name} (group ${group.id}, domain ${vm.domain!.did})`;
  }

  detachDevice(vm: VmRuntime, key: string, out: StepOutcome): void {
    const dev = this.pci.device(key);
    const at = dev ? vm.devices.indexOf(dev.key) : -1;
    if (dev === undefined || at < 0) {
      this.fail(out, "device-not-assigned", `${key} is not assigned to VM ${vm.spec.name}`);
      return;
    }
    vm.devices.splice(at, 1);
    if (!vm.running) {
      out.summary = `${dev.key} removed from VM ${vm.spec.name}'s configuration`;
      return;
    }
    const group = this.pci.groupOf(dev);
    const stillUsed = vm.devices.some((k) => this.pci.groupOf(this.pci.device(k)!).id === group.id);
    if (!stillUsed && vm.groups.has(group.id)) this.releaseGroup(vm, group.id);
    out.summary = `${dev.key} detached from VM ${vm.spec.name}${stillUsed ? "" : `; group ${group.id} back in its default domain`}`;
  }

  // ---------------------------------------------------------------- VFIO map / unmap

  private requireContainer(vm: VmRuntime, out: StepOutcome): boolean {
    if (vm.running && vm.container) return true;
    return this.fail(out, vm.running ? "no-container" : "vm-not-running", vm.running ? `VM ${vm.spec.name} has no assigned device, hence no VFIO container` : `VM ${vm.spec.name} is not running`);
  }

  /** The VMM virtual address QEMU passes for a guest-physical address (a wild one outside guest RAM). */
  private gpaToVaddr(vm: VmRuntime, gpa: bigint): bigint {
    return vm.guest.gpaToHva(gpa) ?? 0xdead00000000n + gpa;
  }

  /** One VFIO_IOMMU_MAP_DMA by QEMU; a failure is logged as the kernel and QEMU log it. */
  private dmaMap(vm: VmRuntime, iova: bigint, size: bigint, vaddr: bigint, read: boolean, write: boolean): VfioResult<{ dma: VfioDma }> {
    const r = vm.container!.map({ iova, vaddr, size, read, write });
    if (!r.ok) {
      for (const line of r.kernelLog) this.log.kernel(this.clock, line, this.currentStep);
      if (vm.spec.backend === "iommufd") this.log.vmm(this.clock, vm.spec.name, `${VMM}: ${ioasMapFailedLine(r.errno)}`, this.currentStep);
      this.log.vmm(
        this.clock,
        vm.spec.name,
        `${VMM}: vfio_container_dma_map(${containerPtr(vm)}, 0x${iova.toString(16)}, 0x${size.toString(16)}, 0x${vaddr.toString(16)}) = -${ERRNO_VALUE[r.errno]} (${STRERROR[r.errno]})`,
        this.currentStep,
      );
    }
    return r;
  }

  vfioMap(vm: VmRuntime, iova: bigint, size: bigint, gpa: bigint, perm: "r" | "w" | "rw", out: StepOutcome): void {
    if (!this.requireContainer(vm, out)) return;
    const r = this.dmaMap(vm, iova, size, this.gpaToVaddr(vm, gpa), perm !== "w", perm !== "r");
    if (!r.ok) {
      this.failErrno(out, r.errno, `${mapIoctl(vm.spec)} failed: ${r.errno} (${STRERROR[r.errno]})${r.errno === "ENOMEM" ? ioasEnomemText(vm.container) : ""}`);
      return;
    }
    this.trace.pushBig(EventKind.Map, this.currentStep, 0, vm.domain!.did, perm === "r" ? 1 : perm === "w" ? 2 : 3, 0, 0, iova, size);
    out.summary = `mapped IOVA 0x${iova.toString(16)}+${formatSize(size)} -> GPA 0x${gpa.toString(16)} (${plural(r.dma.chunks.length, "host chunk")}) in domain ${vm.domain!.did}`;
  }

  vfioUnmap(vm: VmRuntime, iova: bigint, size: bigint, out: StepOutcome): void {
    if (!vm.running || !vm.container) {
      this.fail(out, "vm-not-running", `VM ${vm.spec.name} has no VFIO container`);
      return;
    }
    const r = vm.container.unmap({ iova, size });
    if (!r.ok && vm.spec.backend === "iommufd") {
      // backends/iommufd.c iommufd_backend_unmap_dma(): ENOENT is taken as success (no log line).
      if (r.errno !== "ENOENT") this.log.vmm(this.clock, vm.spec.name, `${VMM}: IOMMU_IOAS_UNMAP failed: ${STRERROR[r.errno]}`, this.currentStep);
      this.failErrno(out, r.errno, `${unmapIoctl(vm.spec)} failed: ${r.errno} (${STRERROR[r.errno]})${r.errno === "ENOENT" ? ": no mapping lies wholly inside the range (iommufd never splits one, and an empty range is ENOENT too); QEMU takes ENOENT as success and logs nothing" : ""}`);
      return;
    }
    if (!r.ok) {
      for (const line of r.kernelLog) this.log.kernel(this.clock, line, this.currentStep);
      this.log.vmm(
        this.clock,
        vm.spec.name,
        `${VMM}: vfio_container_dma_unmap(${containerPtr(vm)}, 0x${iova.toString(16)}, 0x${size.toString(16)}) = -${ERRNO_VALUE[r.errno]} (${STRERROR[r.errno]})`,
        this.currentStep,
      );
      this.failErrno(out, r.errno, `VFIO_IOMMU_UNMAP_DMA failed: ${r.errno} (${STRERROR[r.errno]})`);
      return;
    }
    this.trace.pushBig(EventKind.Unmap, this.currentStep, 0, vm.domain!.did, 0, 0, 0, iova, r.unmapped);
    out.summary = r.unmapped === 0n ? "nothing was mapped there (0 bytes unmapped)" : `unmapped ${formatSize(r.unmapped)} at IOVA 0x${iova.toString(16)}`;
  }

  /** The VFIO container of a VM, wired to the driver's domain `vm.domain` (not yet added to it). */
  createContainerShell(vm: VmRuntime): void {
    const host = this.scenario.host;
    const byDid = (did: number) => this.driver.domain(did)!;
    vm.container = new (vm.spec.backend === "iommufd" ? IommufdIoas : VfioContainer)({
      ops: {
        map: (did, iova, hpa, size, prot) => this.driver.map(byDid(did), iova, hpa, size, prot),
        unmap: (did, iova, size) => void this.driver.unmap(byDid(did), iova, size),
      },
      pins: vm.guest,
      dmaEntryLimit: host.dmaEntryLimit,
      ...(effectiveMemlock(host, vm.spec) !== undefined ? { memlockBytes: effectiveMemlock(host, vm.spec)! } : {}),
      apertureEnd: (1n << BigInt(this.driver.domainWidth(vm.domain!))) - 1n,
      ...(vm.spec.backend === "iommufd" ? { devices: vm.devices.length, ...this.iommufdAccounting(vm) } : {}),
      ...(this.driver.reservedIova ? { reservedRegions: this.driver.reservedIova() } : {}),
    });
  }

  /** The RLIMIT_MEMLOCK counter an IOAS of `vm` charges (sim/iommufd.ts): its mode and what is on it. */
  private iommufdAccounting(vm: VmRuntime): { rlimitMode: RlimitMode; lockedVm: () => bigint } {
    return { rlimitMode: rlimitMode(vm.spec), lockedVm: () => this.lockedVm(vm) };
  }

  /**
   * Bytes on the locked_vm counter an IOMMU_IOAS_MAP of `vm` is checked against: under "mm" the VMM
   * process's (its own IOASes); under "user" the user's, which every running iommufd VM in "user"
   * mode charges (the scenario's VMMs run as one user).
   */
  private lockedVm(vm: VmRuntime): bigint {
    const mode = rlimitMode(vm.spec);
    let sum = 0n;
    for (const other of this.vms.values()) {
      if (other !== vm && (mode === "mm" || !other.running || other.spec.backend !== "iommufd" || rlimitMode(other.spec) !== "user")) continue;
      for (const ioas of this.ioases(other)) sum += ioas.charged;
    }
    return sum;
  }

  /** A VM's IOASes: its first (the container) and those IOMMU_IOAS_ALLOC made. */
  private ioases(vm: VmRuntime): IommufdIoas[] {
    if (!(vm.container instanceof IommufdIoas)) return [];
    const out = [vm.container];
    for (const o of vm.iommufd?.objects.values() ?? []) if (o.type === "ioas" && o.ioas !== vm.container) out.push(o.ioas);
    return out;
  }

  /** A further IOAS of the VM's iommufd, wired to the driver like its first (IOMMU_IOAS_ALLOC; restore). */
  newIoas(vm: VmRuntime): IommufdIoas {
    const byDid = (did: number) => this.driver.domain(did)!;
    const host = this.scenario.host;
    const limit = effectiveMemlock(host, vm.spec);
    return new IommufdIoas({ ops: { map: (did, iova, hpa, size, prot) => this.driver.map(byDid(did), iova, hpa, size, prot), unmap: (did, iova, size) => void this.driver.unmap(byDid(did), iova, size) }, pins: vm.guest, dmaEntryLimit: host.dmaEntryLimit, ...(limit !== undefined ? { memlockBytes: limit } : {}), apertureEnd: (1n << BigInt(this.driver.domainWidth(vm.domain!))) - 1n, ...this.iommufdAccounting(vm) });
  }

  /** `iommufd:` steps: the VM's iommufd objects beyond its first IOAS (sim/iommufdObjects.ts). */
  iommufdStep(st: IommufdStep, out: StepOutcome): void {
    const port: IommufdPort = {
      vm: (name) => {
        const vm = this.vms.get(name);
        if (vm === undefined) return `no VM ${name}`;
        if (vm.spec.backend !== "iommufd") return `VM ${name} uses the type1 container, not iommufd (backend: iommufd)`;
        if (!vm.running || !(vm.container instanceof IommufdIoas) || vm.domain === undefined) return `VM ${name} is not running with an assigned device, so QEMU holds no iommufd`;
        return { ioas: vm.container, devices: vm.devices, domain: vm.domain, gpaToHva: (gpa) => vm.guest.gpaToHva(gpa), ...(vm.iommufd ? { context: vm.iommufd } : {}), setContext: (c) => (vm.iommufd = c) };
      },
      newIoas: (name) => this.newIoas(this.vms.get(name)!),
      allocDomain: () => this.driver.allocDomain(false),
      allocDirtyDomain: () => this.driver.allocDirtyDomain?.() ?? "the host IOMMU driver has no dirty tracking",
      setDirtyTracking: (domain, enable) => (this.driver.setDirtyTracking === undefined ? "the host IOMMU driver has no dirty tracking" : this.driver.setDirtyTracking(domain, enable)),
      readAndClearDirty: (domain, iova, length) => this.driver.readAndClearDirty?.(domain, iova, length) ?? "the host IOMMU driver has no dirty tracking",
      attachGroup: (key, domain) => {
        for (const dev of this.pci.groupOf(this.pci.device(key)!).devices) {
          const rids = this.pci.dmaAliases(dev);
          this.driver.attach(domain, rids);
          for (const rid of rids) this.trace.push(EventKind.Attach, this.currentStep, rid, domain.did, 0, 0, 0, 0, 0, 0, 0);
        }
      },
      traceMap: (did, iova, size, prot, unmap) => this.trace.pushBig(unmap ? EventKind.Unmap : EventKind.Map, this.currentStep, 0, did, prot, 0, 0, iova, size),
      fail: (o, errno, summary) => this.failErrno(o, errno, summary),
      error: (o, summary) => void this.fail(o, "vm-not-running", summary),
      ...(this.driver.faultQueues ? { faultQueues: this.driver.faultQueues } : {}),
      ...(this.driver.nesting ? { nesting: this.driver.nesting } : {}),
      rids: (key) => {
        const dev = this.pci.device(key);
        return dev === undefined ? [] : this.pci.dmaAliases(dev);
      },
      vmmLog: (vm, text) => this.log.vmm(this.clock, vm, `${VMM}: ${text}`, this.currentStep),
      guestLog: (vm, text) => this.log.guest(this.clock, vm, text, this.currentStep),
      nestedAttached: (vm, device, vste) => this.nestedAttached(vm, device, vste),
    };
    runIommufdStep(port, st, out);
  }
}

/** The kernel's dev_name() of a device, "0000:01:00.0" (sim/bdf.ts formatBdf). */
export function fullBdf(dev: PciDevice): string {
  return formatBdf(dev.bdf, "always");
}


function containerPtr(vm: VmRuntime): string {
  // A plausible, deterministic heap pointer for the VMM's container object in error messages.
  return `0x55d0c0a0${(0x1000 + vm.index * 0x40).toString(16)}`;
}

/**
 * What a VM start did, from the VM's spec: with a vIOMMU the guest programs the IOMMU and nothing
 * is mapped yet; without one QEMU maps all guest RAM IOVA = GPA (only when a device is assigned).
 */
export function vmStartText(spec: VmSpec, devices: number, domain?: number): string {
  if (spec.viommu?.bypass && devices > 0) return `VM ${spec.name} started behind a vIOMMU (virtio-iommu) in bypass with ${plural(devices, "assigned device")}: QEMU mapped its ${formatSize(spec.memory)} of guest RAM IOVA = GPA in domain ${domain ?? "-"} (ATTACH with VIRTIO_IOMMU_ATTACH_F_BYPASS)`;
  const viommu = spec.viommu ? (spec.viommu.model === "virtio-iommu" ? "a vIOMMU (virtio-iommu)" : `a vIOMMU (intel-iommu, caching-mode=${spec.viommu.cachingMode ? "on" : "off"})`) : undefined;
  if (devices === 0) return `VM ${spec.name} started with ${formatSize(spec.memory)} of RAM${viommu ? ` and ${viommu}` : " and no vIOMMU"}; no assigned devices, so no DMA mappings`;
  if (viommu) return `VM ${spec.name} started behind ${viommu} with ${plural(devices, "assigned device")}: no DMA mappings until the guest maps IOVAs`;
  return `VM ${spec.name} started without a vIOMMU with ${plural(devices, "assigned device")}: QEMU mapped its ${formatSize(spec.memory)} of guest RAM IOVA = GPA in domain ${domain ?? "-"}`;
}

export function formatSize(n: bigint): string {
  for (const [unit, v] of [["TiB", 1n << 40n], ["GiB", GiB], ["MiB", MiB], ["KiB", KiB]] as const) {
    if (n >= v && n % v === 0n) return `${n / v} ${unit}`;
  }
  return plural(n, "byte");
}

/**
 * What a guest-unmap's Device-TLB invalidations did (intel vIOMMU, device-iotlb=on): QEMU's
 * vtd_process_device_iotlb_desc notifies IOMMU_NOTIFIER_DEVIOTLB_UNMAP, which VFIO does not listen
 * to; the assigned device's ATC holds the host IOMMU's translations, flushed by the host kernel when
 * QEMU's VFIO_IOMMU_UNMAP_DMA removed the shadow. "" when the guest has no ATS device.
 */
function deviceIotlbText(inv: readonly GuestDeviceIotlbInvalidation[] | undefined, ats: boolean, forgot: boolean): string {
  if (inv === undefined || !ats) return "";
  const host = "the device's ATC caches the host IOMMU's translations, which the host kernel flushes when VFIO unmaps";
  if (inv.length === 0) return forgot ? `; the guest skipped its device-IOTLB invalidation: harmless for an assigned device (${host})` : "";
  const first = inv[0]!;
  return `; the guest sent ${plural(inv.length, "device-IOTLB invalidation")} for ${formatSid(first.sid)} (IOVA 0x${first.addr.toString(16)}+${formatSize(first.size)}): QEMU's vtd_process_device_iotlb_desc notifies IOMMU_NOTIFIER_DEVIOTLB_UNMAP, which VFIO does not register, so nothing reaches the host (${host})`;
}
