/**
 * The simulated host: memory, PCI topology with IOMMU groups, one VT-d unit with the host's
 * intel-iommu driver, VMs with VFIO containers, a kernel log and a clock. It executes workload
 * steps one at a time, appends every event to the Trace and returns each step's outcome. The
 * whole state can be snapshotted and restored exactly (the debugger steps backwards on this).
 */
import { nounFor, plural } from "./plural.js";
import type { Diagnostic, Scenario, Step, VmSpec } from "../scenario/types.js";
import { GuestMemory, HostFrameAllocator } from "./kvm.js";
import { PhysicalMemory, type MemorySnapshot } from "./memory.js";
import { PciTopology, type IommuGroup, type PciDevice } from "./pci.js";
import { KernelLog, type LogSnapshot } from "./klog.js";
import { renderQiError } from "./vtd/dmesg.js";
import { faultReasonInfo } from "./vtd/reasons.js";
import { DMAR_FSTS_REG, FSTS_PFO, FSTS_PPF } from "./vtd/regs.js";
import { VfioContainer, STRERROR, ERRNO_VALUE, type Errno } from "./vfio.js";
import { encodeCcDesc, encodeIotlbDesc, CC_DEVICE, CC_DOMAIN, CC_GLOBAL, IOTLB_DSI, IOTLB_GLOBAL, IOTLB_PSI } from "./vtd/qi.js";
import { IntelIommuDriver, type DmarDomain, type DriverSnapshot } from "./vtd/driver.js";
import { DmarUnit, FaultFate, XlateKind, type DmarUnitSnapshot } from "./vtd/unit.js";
import { EventKind, F_CC_HIT, F_FATE_SHIFT, F_IOTLB_HIT, F_WRITE, F_XLATE_SHIFT, Trace, hi32, lo32 } from "../trace/trace.js";

const KiB = 1024n;
const MiB = 1024n * KiB;
const GiB = 1024n * MiB;
/** Table pool: where the driver's root/context/page tables live (host physical). */
const POOL_BASE = 0x10000000;
const POOL_MAX_PAGES = 65536; // 256 MiB of tables: a clear limit error beyond that
/** Guest RAM frames come from host DRAM above 1 GiB (below: host kernel and the table pool). */
const GUEST_RAM_START = 1n * GiB;
/** Simulated time per DMA transaction and per slow-path step. */
const NS_PER_TRANSACTION = 100n;
const NS_PER_STEP = 1_000_000n;
/** A long step calls `Machine.poll` every this many transactions (tens of times a second). */
export const POLL_TRANSACTIONS = 1 << 16;
/** Boot finishes at 2.5 s: VMs start after the host is up. */
const BOOT_NS = 2_500_000_000n;
const VMM = "qemu-system-x86_64";

export type StepStatus = "ok" | "fault" | "errno" | "error";

export interface StepOutcome {
  step: number;
  status: StepStatus;
  /** One-line human summary: "8192 bytes translated", "fault 0x05 PTE Write access is not set", ... */
  summary: string;
  /** First fault reason of the step. */
  fault?: number;
  faults: number;
  errno?: Errno;
  error?: string;
  transactions: number;
  iotlbHits: number;
  firstHpa?: bigint;
  firstIotlb?: "hit" | "miss";
  /** Whether the first fault reached a fault recording register. */
  recorded?: boolean;
  /** Trace events of this step: [eventStart, eventEnd). */
  eventStart: number;
  eventEnd: number;
  /** Log lines produced by this step (kernel and VMM). */
  logStart: number;
  logEnd: number;
  expect?: { pass: boolean; failures: string[] };
}

export interface VmRuntime {
  spec: VmSpec;
  index: number;
  running: boolean;
  guest: GuestMemory;
  container?: VfioContainer;
  domain?: DmarDomain;
  /** Assigned device keys (cold- and hot-plugged). */
  devices: string[];
  /** Groups attached to the container. */
  groups: Set<number>;
}

export interface MachineSnapshot {
  clock: bigint;
  mem: MemorySnapshot;
  unit: DmarUnitSnapshot;
  driver: DriverSnapshot;
  frames: ReturnType<HostFrameAllocator["snapshot"]>;
  log: LogSnapshot;
  groupDomain: [number, number][];
  vms: { name: string; running: boolean; frames: bigint[]; container?: unknown; domain?: number; devices: string[]; groups: number[] }[];
  traceLength: number;
  stepStartLength: number;
}

export class Machine {
  readonly scenario: Scenario;
  readonly mem: PhysicalMemory;
  readonly pci: PciTopology;
  readonly unit: DmarUnit;
  readonly driver: IntelIommuDriver;
  readonly frames: HostFrameAllocator;
  readonly log: KernelLog;
  readonly trace = new Trace(4096);
  readonly vms = new Map<string, VmRuntime>();
  /** Each group's default (host DMA API) domain. */
  readonly groupDomain = new Map<number, DmarDomain>();
  /** Problems found while building the host (topology), as diagnostics on the scenario. */
  readonly diagnostics: Diagnostic[] = [];
  clock = 0n;
  private currentStep = 0;
  /**
   * Called every POLL_TRANSACTIONS transactions within a step (the run also calls it between
   * steps): a sign of life for the engine worker's watchdog; a true answer stops the step halfway
   * (cancellation) and sets `interrupted`.
   */
  poll?: () => boolean;
  /** The last step was stopped halfway by `poll`: its outcome is incomplete. */
  interrupted = false;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    const host = scenario.host;
    this.mem = new PhysicalMemory({
      poolBase: POOL_BASE,
      poolMaxPages: POOL_MAX_PAGES,
      poolInitialPages: 64,
      dramBytes: Number(host.memory < 1n << 52n ? host.memory : 1n << 52n),
      sparseMaxPages: 4096,
      sramBytes: DmarUnit.sramBytes(host.iommu),
    });
    const { topology, problems } = PciTopology.build(host.pci);
    this.pci = topology;
    for (const p of problems) {
      const spec = host.pci.find((d) => d.key === p.key);
      this.diagnostics.push({ severity: "error", code: p.code, message: p.message, hint: p.hint, range: spec?.range ?? host.range });
    }
    this.unit = new DmarUnit(this.mem, host.iommu);
    this.driver = new IntelIommuDriver(this.unit, this.mem);
    this.frames = new HostFrameAllocator(GUEST_RAM_START, host.memory, host.backing, host.seed);
    this.log = new KernelLog(host.kernel);
    scenario.vms.forEach((spec, index) => {
      this.vms.set(spec.name, { spec, index, running: false, guest: new GuestMemory(spec.memory, host.backing, index), devices: [...spec.devices], groups: new Set() });
    });
    this.boot();
  }

  /** Host boot: DMAR bring-up, then every device probed into its group's default domain. */
  private boot(): void {
    this.clock = 500_000_000n;
    this.driver.init();
    const hostPt = this.scenario.host.iommu.hostPassThrough && this.scenario.host.iommu.passThrough;
    for (const dev of this.pci.devices) {
      const group = this.pci.groupOf(dev);
      let dom = this.groupDomain.get(group.id);
      if (dom === undefined) {
        dom = this.driver.allocDomain(hostPt);
        this.groupDomain.set(group.id, dom);
      }
      this.driver.attach(dom, this.pci.dmaAliases(dev));
      this.log.kernel(this.clock, `pci ${fullBdf(dev)}: Adding to iommu group ${group.id}`, -1);
      this.clock += 1000n;
    }
    this.driver.takeIssued();
    this.unit.takeQueueLog();
    this.clock = BOOT_NS;
  }

  // ====================================================================== steps

  runStep(step: Step): StepOutcome {
    this.currentStep = step.index;
    this.interrupted = false;
    this.trace.stepStart[step.index] = this.trace.length;
    const logStart = this.log.lines.length;
    const out: StepOutcome = {
      step: step.index,
      status: "ok",
      summary: "",
      faults: 0,
      transactions: 0,
      iotlbHits: 0,
      eventStart: this.trace.length,
      eventEnd: this.trace.length,
      logStart,
      logEnd: logStart,
    };
    this.clock += NS_PER_STEP;
    try {
      this.execute(step, out);
    } catch (e) {
      out.status = "error";
      out.error = "simulation-limit";
      out.summary = e instanceof Error ? e.message : String(e);
    }
    this.recordInvalidations();
    this.serviceFaultInterrupt();
    out.eventEnd = this.trace.length;
    out.logEnd = this.log.lines.length;
    if (step.expect) out.expect = checkExpectation(step, out);
    return out;
  }

  private execute(step: Step, out: StepOutcome): void {
    switch (step.op) {
      case "start":
        return this.startVm(this.vm(step.vm), out);
      case "stop":
        return this.stopVm(this.vm(step.vm), out);
      case "assign":
        return this.assign(this.vm(step.vm), step.device, out);
      case "detach":
        return this.detachDevice(this.vm(step.vm), step.device, out);
      case "map": {
        const vm = this.vm(step.vm);
        return this.vfioMap(vm, step.iova, step.size, step.gpa ?? step.iova, step.perm, out);
      }
      case "unmap":
        return this.vfioUnmap(this.vm(step.vm), step.iova, step.size, out);
      case "guest-map": {
        const vm = this.vm(step.vm);
        if (!this.requireViommu(vm, out)) return;
        return this.vfioMap(vm, step.iova, step.size, step.gpa, step.perm, out);
      }
      case "guest-unmap": {
        const vm = this.vm(step.vm);
        if (!this.requireViommu(vm, out)) return;
        if (!step.invalidate) {
          // The guest cleared its vIOMMU entry but never invalidated: QEMU is not notified, the
          // host mapping (and the device's access) stays.
          out.summary = "guest unmapped without invalidation: the host mapping stays";
          return;
        }
        return this.vfioUnmap(vm, step.iova, step.size, out);
      }
      case "dma":
        return this.dma(step.device, step.iova, step.length, step.write, step.repeat, out);
      case "translate":
        return this.probe(step.device, step.iova, step.write, out);
      case "invalidate":
        return this.invalidateStep(step, out);
      case "poke":
        return this.poke(step, out);
      case "wait":
        this.clock += step.ns;
        out.summary = `time advanced to ${formatSeconds(this.clock)}`;
        return;
    }
  }

  private vm(name: string): VmRuntime {
    const vm = this.vms.get(name);
    if (vm === undefined) throw new Error(`unknown VM "${name}"`);
    return vm;
  }

  private requireViommu(vm: VmRuntime, out: StepOutcome): boolean {
    if (!vm.running) return this.fail(out, "vm-not-running", `VM ${vm.spec.name} is not running`);
    if (!vm.spec.viommu) return this.fail(out, "no-viommu", `VM ${vm.spec.name} has no vIOMMU: its devices see guest-physical addresses`);
    return true;
  }

  private fail(out: StepOutcome, error: string, summary: string): false {
    out.status = "error";
    out.error = error;
    out.summary = summary;
    this.trace.push(EventKind.Error, this.currentStep, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return false;
  }

  private failErrno(out: StepOutcome, errno: Errno, summary: string): void {
    out.status = "errno";
    out.errno = errno;
    out.summary = summary;
    this.trace.push(EventKind.Error, this.currentStep, 0, 0, 0, 0, ERRNO_VALUE[errno], 0, 0, 0, 0);
  }

  // ---------------------------------------------------------------- VM lifecycle

  private startVm(vm: VmRuntime, out: StepOutcome): void {
    if (vm.running) {
      this.fail(out, "vm-running", `VM ${vm.spec.name} is already running`);
      return;
    }
    const vmm = (text: string) => this.log.vmm(this.clock, vm.spec.name, `${VMM}: ${text}`, this.currentStep);
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
    this.trace.pushBig(EventKind.VmStart, this.currentStep, 0, 0, 0, 0, 0, vm.spec.memory, BigInt(vm.devices.length));
    if (groups.length === 0) {
      out.summary = vmStartText(vm.spec, 0);
      return;
    }
    this.createContainer(vm);
    for (const g of groups) this.attachGroup(vm, g);
    if (!vm.spec.viommu) {
      // No vIOMMU: QEMU's VFIO memory listener maps every RAM section IOVA = GPA.
      if (!this.mapGuestRam(vm, this.pci.device(vm.devices[0]!)!, out)) {
        this.teardown(vm);
        return;
      }
    }
    out.summary = vmStartText(vm.spec, vm.devices.length, vm.domain?.did);
  }

  /** Why QEMU cannot use this device's group, or undefined. */
  private groupProblem(vm: VmRuntime, dev: PciDevice): { code: string; text: string; hint?: string; summary: string } | undefined {
    const group = this.pci.groupOf(dev);
    const driver = dev.spec.driver;
    if (driver !== "vfio-pci") {
      return {
        code: "device-not-bound",
        text: `vfio ${fullBdf(dev)}: no such host device: ${fullBdf(dev)} is bound to ${driver ? `"${driver}"` : "no driver"}, not vfio-pci`,
        summary: `${dev.key} is not bound to vfio-pci`,
      };
    }
    const v = this.pci.viability(group);
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
        this.log.vmm(
          this.clock,
          vm.spec.name,
          `${VMM}: -device vfio-pci,host=${fullBdf(dev)}: vfio ${fullBdf(dev)}: failed to setup container for group ${this.pci.groupOf(dev).id}: ` +
            `memory listener initialization failed: Region ${slot.name}: vfio_dma_map(${containerPtr(vm)}, 0x${slot.gpa.toString(16)}, ` +
            `0x${slot.size.toString(16)}, 0x${slot.hva.toString(16)}) = -${ERRNO_VALUE[r.errno]} (${STRERROR[r.errno]})`,
          this.currentStep,
        );
        this.failErrno(out, r.errno, `VFIO_IOMMU_MAP_DMA of ${slot.name} failed: ${r.errno} (${STRERROR[r.errno]})`);
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
  }

  private stopVm(vm: VmRuntime, out: StepOutcome): void {
    if (!vm.running) {
      this.fail(out, "vm-not-running", `VM ${vm.spec.name} is not running`);
      return;
    }
    const mapped = vm.container?.dmas.length ?? 0;
    this.teardown(vm);
    this.trace.push(EventKind.VmStop, this.currentStep, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    out.summary = `VM ${vm.spec.name} stopped; ${plural(mapped, "DMA mapping")} removed, devices back in their default domains`;
  }

  private assign(vm: VmRuntime, key: string, out: StepOutcome): void {
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
    const firstGroup = !vm.container;
    if (firstGroup) {
      this.createContainer(vm);
    }
    const group = this.pci.groupOf(dev);
    if (!vm.groups.has(group.id)) this.attachGroup(vm, group);
    vm.devices.push(dev.key);
    if (firstGroup && !vm.spec.viommu) {
      if (!this.mapGuestRam(vm, dev, out)) {
        // device_add fails as a whole: the device leaves the VM, its group the container.
        vm.devices.pop();
        this.destroyContainer(vm);
        return;
      }
    }
    out.summary = `${dev.key} hot-plugged into VM ${vm.spec.name} (group ${group.id}, domain ${vm.domain!.did})`;
  }

  private detachDevice(vm: VmRuntime, key: string, out: StepOutcome): void {
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

  private vfioMap(vm: VmRuntime, iova: bigint, size: bigint, gpa: bigint, perm: "r" | "w" | "rw", out: StepOutcome): void {
    if (!vm.running || !vm.container) {
      this.fail(out, vm.running ? "no-container" : "vm-not-running", vm.running ? `VM ${vm.spec.name} has no assigned device, hence no VFIO container` : `VM ${vm.spec.name} is not running`);
      return;
    }
    const vaddr = vm.guest.gpaToHva(gpa) ?? 0xdead00000000n + gpa;
    const r = vm.container.map({ iova, vaddr, size, read: perm !== "w", write: perm !== "r" });
    if (!r.ok) {
      for (const line of r.kernelLog) this.log.kernel(this.clock, line, this.currentStep);
      this.log.vmm(
        this.clock,
        vm.spec.name,
        `${VMM}: vfio_container_dma_map(${containerPtr(vm)}, 0x${iova.toString(16)}, 0x${size.toString(16)}, 0x${vaddr.toString(16)}) = -${ERRNO_VALUE[r.errno]} (${STRERROR[r.errno]})`,
        this.currentStep,
      );
      this.failErrno(out, r.errno, `VFIO_IOMMU_MAP_DMA failed: ${r.errno} (${STRERROR[r.errno]})`);
      return;
    }
    this.trace.pushBig(EventKind.Map, this.currentStep, 0, vm.domain!.did, perm === "r" ? 1 : perm === "w" ? 2 : 3, 0, 0, iova, size);
    out.summary = `mapped IOVA 0x${iova.toString(16)}+${formatSize(size)} -> GPA 0x${gpa.toString(16)} (${plural(r.dma.chunks.length, "host chunk")}) in domain ${vm.domain!.did}`;
  }

  private vfioUnmap(vm: VmRuntime, iova: bigint, size: bigint, out: StepOutcome): void {
    if (!vm.running || !vm.container) {
      this.fail(out, "vm-not-running", `VM ${vm.spec.name} has no VFIO container`);
      return;
    }
    const r = vm.container.unmap({ iova, size });
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

  // ---------------------------------------------------------------- DMA

  private dma(key: string, iova: bigint, length: bigint, write: boolean, repeat: number, out: StepOutcome): void {
    const dev = this.pci.device(key);
    if (dev === undefined) {
      this.fail(out, "unknown-device", `no host device ${key}`);
      return;
    }
    const sid = this.pci.requesterId(dev);
    const unit = this.unit;
    const trace = this.trace;
    const step = this.currentStep;
    const startOff = Number(iova & 0xfffn);
    const pages = Math.max(1, Math.ceil((startOff + Number(length)) / 4096));
    const baseHi = hi32(iova);
    const baseLo = lo32(iova) & ~0xfff;
    const wflag = write ? F_WRITE : 0;
    let first = true;
    let bytes = 0;
    // One event per transaction: room for all of them now, not in doublings halfway through.
    trace.reserve(trace.length + repeat * pages);
    const poll = this.poll;
    let countdown = POLL_TRANSACTIONS;
    outer: for (let r = 0; r < repeat; r++) {
      let hi = baseHi;
      let lo = baseLo >>> 0;
      for (let p = 0; p < pages; p++) {
        // A step of millions of transactions takes seconds: keep polling (a counter, no allocation).
        if (--countdown === 0) {
          countdown = POLL_TRANSACTIONS;
          if (poll !== undefined && poll()) {
            this.interrupted = true;
            break outer;
          }
        }
        const reqLo = p === 0 ? (lo | startOff) >>> 0 : lo;
        const code = unit.translate(sid, hi, reqLo, write);
        const kind = unit.kind === XlateKind.Interrupt ? EventKind.Interrupt : EventKind.Dma;
        const flags = wflag | (unit.iotlbHit ? F_IOTLB_HIT : 0) | (unit.ccHit ? F_CC_HIT : 0) | (unit.fate << F_FATE_SHIFT) | (unit.kind << F_XLATE_SHIFT);
        trace.push(kind, step, sid, unit.did, flags, unit.level, code, hi, reqLo, code === 0 ? unit.hpaHi : 0, code === 0 ? unit.hpaLo : 0);
        if (first) {
          first = false;
          if (code === 0) out.firstHpa = (BigInt(unit.hpaHi) << 32n) | BigInt(unit.hpaLo);
          out.firstIotlb = unit.iotlbHit ? "hit" : "miss";
        }
        if (code !== 0) {
          if (out.faults === 0) {
            out.fault = code;
            out.recorded = unit.fate === FaultFate.Recorded;
          }
          out.faults++;
        } else {
          bytes += p === 0 ? Math.min(4096 - startOff, Number(length)) : Math.min(4096, Number(length) + startOff - p * 4096);
          if (unit.iotlbHit) out.iotlbHits++;
        }
        out.transactions++;
        lo = (lo + 4096) >>> 0;
        if (lo === 0) hi = (hi + 1) >>> 0;
      }
      this.clock += NS_PER_TRANSACTION * BigInt(pages);
    }
    if (out.faults > 0) {
      out.status = "fault";
      out.summary = `${out.faults} of ${plural(out.transactions, "transaction")} faulted: ${faultLabel(out.fault!)}`;
    } else {
      out.summary = `${plural(bytes, "byte")} ${write ? "written" : "read"}; ${out.iotlbHits}/${out.transactions} IOTLB ${nounFor(out.iotlbHits, "hit")}`;
    }
  }

  private probe(key: string, iova: bigint, write: boolean, out: StepOutcome): void {
    const dev = this.pci.device(key);
    if (dev === undefined) {
      this.fail(out, "unknown-device", `no host device ${key}`);
      return;
    }
    const code = this.unit.translate(this.pci.requesterId(dev), hi32(iova), lo32(iova), write, true);
    out.transactions = 0;
    out.firstIotlb = this.unit.iotlbHit ? "hit" : "miss";
    if (code === 0) {
      out.firstHpa = (BigInt(this.unit.hpaHi) << 32n) | BigInt(this.unit.hpaLo);
      out.summary = `IOVA 0x${iova.toString(16)} -> HPA 0x${out.firstHpa.toString(16)}${this.unit.iotlbHit ? " (IOTLB)" : ` (walk, level ${this.unit.level} leaf)`}`;
    } else {
      out.status = "fault";
      out.fault = code;
      out.faults = 1;
      out.summary = `would fault: ${faultLabel(code)}`;
    }
  }

  // ---------------------------------------------------------------- invalidate / poke

  private invalidateStep(step: Extract<Step, { op: "invalidate" }>, out: StepOutcome): void {
    let desc: [bigint, bigint];
    const sid = step.device ? this.sidOf(step.device) : 0;
    switch (step.granularity) {
      case "global":
        desc = encodeIotlbDesc(IOTLB_GLOBAL);
        break;
      case "domain":
        desc = encodeIotlbDesc(IOTLB_DSI, step.domain ?? 0);
        break;
      case "page":
        desc = encodeIotlbDesc(IOTLB_PSI, step.domain ?? 0, step.iova ?? 0n, step.am ?? 0, step.ih ?? false);
        break;
      case "context-global":
        desc = encodeCcDesc(CC_GLOBAL);
        break;
      case "context-domain":
        desc = encodeCcDesc(CC_DOMAIN, step.domain ?? 0);
        break;
      case "context-device":
        desc = encodeCcDesc(CC_DEVICE, step.domain ?? 0, sid);
        break;
    }
    const before = this.unit.iotlb.entries().length;
    const ok = this.driver.submitRaw(desc);
    if (!ok) {
      if (this.driver.lastQiError) for (const line of renderQiError(this.driver.lastQiError)) this.log.kernel(this.clock, line, this.currentStep);
      this.fail(out, "invalidation-queue-error", "the unit rejected the descriptor (IQE): unsupported granularity or AM above CAP.MAMV");
      return;
    }
    const dropped = before - this.unit.iotlb.entries().length;
    out.summary = `${step.granularity} invalidation${step.granularity.startsWith("context") ? "" : `: ${plural(dropped, "IOTLB entry", "IOTLB entries")} dropped`}`;
  }

  private sidOf(key: string): number {
    const dev = this.pci.device(key);
    return dev ? this.pci.requesterId(dev) : 0;
  }

  /** Resolves a poke target to the HPA of a table entry, reading the tables as they are now. */
  resolveEntry(target: NonNullable<Extract<Step, { op: "poke" }>["target"]>): number | string {
    const dev = this.pci.device(target.device);
    if (dev === undefined) return `no host device ${target.device}`;
    const sid = this.pci.requesterId(dev);
    const rootAddr = this.unit.rootTable + (sid >> 8) * 16;
    if (target.structure === "root") return rootAddr;
    const re = this.mem.readU64(rootAddr) ?? 0n;
    if ((re & 1n) === 0n) return `the root entry of bus ${(sid >> 8).toString(16).padStart(2, "0")} is not present`;
    const ceAddr = Number(re & ~0xfffn) + (sid & 0xff) * 16;
    if (target.structure === "context-lo") return ceAddr;
    if (target.structure === "context-hi") return ceAddr + 8;
    const lo = this.mem.readU64(ceAddr) ?? 0n;
    const hi = this.mem.readU64(ceAddr + 8) ?? 0n;
    if ((lo & 1n) === 0n) return `the context entry of ${dev.key} is not present`;
    const levels = 2 + Number(hi & 7n);
    const iova = target.iova ?? 0n;
    let table = Number(lo & 0x000ffffffffff000n);
    const want = target.level ?? 1;
    for (let l = levels; l >= 1; l--) {
      const at = table + Number((iova >> BigInt(12 + 9 * (l - 1))) & 511n) * 8;
      if (l === want) return at;
      const v = this.mem.readU64(at);
      if (v === undefined || (v & 3n) === 0n) return `no level-${l - 1} table for IOVA 0x${iova.toString(16)}: the level-${l} entry is not present`;
      if (l <= 3 && (v & 0x80n) !== 0n) return target.level === undefined ? at : `IOVA 0x${iova.toString(16)} is mapped by a superpage at level ${l}`;
      table = Number(v & 0x000ffffffffff000n);
    }
    return `level ${want} is outside this ${levels}-level table`;
  }

  private poke(step: Extract<Step, { op: "poke" }>, out: StepOutcome): void {
    let addr: number;
    if (step.address !== undefined) addr = Number(step.address);
    else {
      const r = this.resolveEntry(step.target!);
      if (typeof r === "string") {
        this.fail(out, "poke-target-missing", r);
        return;
      }
      addr = r;
    }
    const old = this.mem.readU64(addr);
    if (!this.mem.writeU64(addr, step.value)) {
      this.fail(out, "poke-unbacked", `0x${addr.toString(16)} is not host memory`);
      return;
    }
    this.trace.pushBig(EventKind.Poke, this.currentStep, 0, 0, 0, 0, 0, BigInt(addr), step.value);
    out.summary = `wrote 0x${step.value.toString(16).padStart(16, "0")} at HPA 0x${addr.toString(16)} (was 0x${(old ?? 0n).toString(16).padStart(16, "0")}); no invalidation issued`;
  }

  // ---------------------------------------------------------------- bookkeeping

  /** Moves the invalidation descriptors the unit processed during the step into the trace. */
  private recordInvalidations(): void {
    for (const d of this.unit.takeQueueLog()) {
      if ((d.lo & 0xfn) === 0x5n) continue; // invalidation-wait: bookkeeping, not an invalidation
      this.trace.pushBig(EventKind.Invalidate, this.currentStep, 0, Number((d.lo >> 16n) & 0xffffn), 0, 0, 0, d.lo, d.hi);
    }
    for (const d of this.driver.takeIssued()) {
      if (!this.unit.spec.queuedInvalidation) this.trace.pushBig(EventKind.Invalidate, this.currentStep, 0, 0, 0, 0, 0, d.lo, d.hi);
    }
  }

  /** The fault interrupt is serviced at the end of the step: dmar_fault() prints the records. */
  private serviceFaultInterrupt(): void {
    if (!this.unit.faultEventPending && !(this.unit.readReg32(DMAR_FSTS_REG) & (FSTS_PFO | FSTS_PPF))) return;
    const { fsts, records } = this.driver.serviceFaults();
    this.log.dmarFault(this.clock, fsts, records, this.currentStep);
  }

  snapshot(): MachineSnapshot {
    return {
      clock: this.clock,
      mem: this.mem.snapshot(),
      unit: this.unit.snapshot(),
      driver: this.driver.snapshot(),
      frames: this.frames.snapshot(),
      log: this.log.snapshot(),
      groupDomain: [...this.groupDomain].map(([g, d]) => [g, d.did]),
      vms: [...this.vms.values()].map((vm) => ({
        name: vm.spec.name,
        running: vm.running,
        frames: [...vm.guest.frames],
        ...(vm.container ? { container: vm.container.snapshot() } : {}),
        ...(vm.domain ? { domain: vm.domain.did } : {}),
        devices: [...vm.devices],
        groups: [...vm.groups],
      })),
      traceLength: this.trace.length,
      stepStartLength: this.trace.stepStart.length,
    };
  }

  /** Restores machine state. The trace is truncated to the snapshot's length (replay appends again). */
  restore(s: MachineSnapshot): void {
    this.clock = s.clock;
    this.mem.restore(s.mem);
    this.unit.restore(s.unit);
    this.driver.restore(s.driver);
    this.frames.restore(s.frames);
    this.log.restore(s.log);
    this.groupDomain.clear();
    for (const [g, did] of s.groupDomain) this.groupDomain.set(g, this.driver.domains.get(did)!);
    for (const v of s.vms) {
      const vm = this.vms.get(v.name)!;
      vm.running = v.running;
      vm.guest.frames = [...v.frames];
      vm.devices = [...v.devices];
      vm.groups = new Set(v.groups);
      if (v.domain !== undefined) vm.domain = this.driver.domains.get(v.domain)!;
      else delete vm.domain;
      if (v.container !== undefined) {
        if (!vm.container) this.createContainerShell(vm);
        vm.container!.restore(v.container);
      } else delete vm.container;
    }
    this.trace.length = s.traceLength;
    this.trace.stepStart.length = s.stepStartLength;
  }

  /** The VFIO container of a VM, wired to the driver's domain `vm.domain` (not yet added to it). */
  private createContainerShell(vm: VmRuntime): void {
    const host = this.scenario.host;
    const byDid = (did: number) => this.driver.domains.get(did)!;
    vm.container = new VfioContainer({
      ops: {
        map: (did, iova, hpa, size, prot) => this.driver.map(byDid(did), iova, hpa, size, prot),
        unmap: (did, iova, size) => void this.driver.unmap(byDid(did), iova, size),
      },
      pins: vm.guest,
      dmaEntryLimit: host.dmaEntryLimit,
      ...(host.memlock !== undefined ? { memlockBytes: host.memlock } : {}),
      apertureEnd: (1n << BigInt(this.driver.domainWidth(vm.domain!))) - 1n,
    });
  }

  /** The VM runtime state for tree views. */
  vmState(name: string): Readonly<VmRuntime> | undefined {
    return this.vms.get(name);
  }
}

// ------------------------------------------------------------------ expectations

export function checkExpectation(step: Step, out: StepOutcome): { pass: boolean; failures: string[] } {
  const e = step.expect!;
  const f: string[] = [];
  const got = describeOutcome(out);
  if (e.ok === true && out.status !== "ok") f.push(`expected success, got ${got}`);
  if (e.fault !== undefined && out.fault !== e.fault) f.push(`expected fault 0x${hex2(e.fault)}, got ${got}`);
  if (e.errno !== undefined && out.errno !== e.errno) f.push(`expected errno ${e.errno}, got ${got}`);
  if (e.error !== undefined && out.error !== e.error) f.push(`expected error ${e.error}, got ${got}`);
  if (e.hpa !== undefined && out.firstHpa !== e.hpa) f.push(`expected HPA 0x${e.hpa.toString(16)}, got ${out.firstHpa === undefined ? got : `0x${out.firstHpa.toString(16)}`}`);
  if (e.iotlb !== undefined && out.firstIotlb !== e.iotlb) f.push(`expected IOTLB ${e.iotlb}, got ${out.firstIotlb ?? "no translation"}`);
  if (e.faults !== undefined && out.faults !== e.faults) f.push(`expected ${e.faults} faulting transactions, got ${out.faults}`);
  if (e.recorded !== undefined && (out.recorded ?? false) !== e.recorded) f.push(`expected the fault ${e.recorded ? "" : "not "}to be recorded, it was ${out.recorded ? "" : "not "}recorded`);
  return { pass: f.length === 0, failures: f };
}

export function describeOutcome(out: StepOutcome): string {
  switch (out.status) {
    case "ok":
      return "success";
    case "fault":
      return `fault ${faultLabel(out.fault!)}`;
    case "errno":
      return `errno ${out.errno}`;
    case "error":
      return `error ${out.error} (${out.summary})`;
  }
}


export function faultLabel(code: number): string {
  return `0x${hex2(code)} ${faultReasonInfo(code).linuxText}`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

export function fullBdf(dev: PciDevice): string {
  const b = dev.bdf;
  return `${b.segment.toString(16).padStart(4, "0")}:${hex2(b.bus)}:${hex2(b.device)}.${b.fn}`;
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
  const viommu = spec.viommu ? `a vIOMMU (intel-iommu, caching-mode=${spec.viommu.cachingMode ? "on" : "off"})` : undefined;
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

function formatSeconds(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, "0").slice(0, 6)} s`;
}
