/**
 * The simulated host: memory, PCI topology with IOMMU groups, one IOMMU unit with the host's
 * Linux driver for it (a HostIommu, sim/host-iommu.ts, of the model sim/models.ts picks), VMs with VFIO containers, a kernel log and a clock. It executes workload
 * steps one at a time, appends every event to the Trace and returns each step's outcome. The
 * whole state can be snapshotted and restored exactly (the debugger steps backwards on this).
 */
import { nounFor, plural } from "./plural.js";
import type { Diagnostic, DiagnosticCode, Scenario, Step } from "../scenario/types.js";
import { GuestMemory, HostFrameAllocator } from "./kvm.js";
import { PhysicalMemory, type MemorySnapshot } from "./memory.js";
import { groupViabilityWarnings, PciTopology } from "./pci.js";
import { acsOverrideDiagnostics, hostTopologyBootLines, sriovDiagnostics } from "./hostTopology.js";
import { KernelLog, type LogSnapshot } from "./klog.js";
import { faultReasonInfo } from "./vtd/reasons.js";
import type { Errno, VfioContainer } from "./vfio.js";
import { Vmm, failStep, failStepErrno, fullBdf, type VmRuntime } from "./vmm.js";
import { bindPasidStep, pageRequestStep, pageResponseStep, unbindPasidStep, type PasidStepContext } from "./vtd/pasidBind.js";
import { amdBindPasidStep, amdPageResponseStep, amdUnbindPasidStep, type AmdPasidStepContext } from "./amdvi/pasidBind.js";
import { AmdViHost } from "./amdvi/host.js";
import { createViommu, type ViommuSnapshot } from "./viommu.js";
import { atsDeviceKeys } from "../scenario/iommuUnits.js";
import type { EntryTarget, IommuDecoders, InvalidateRequest, IommuHostUnits, IommuUnit } from "./iommu.js";
import type { HostDomain, HostIommu, HostIommuSnapshot, PasidSeamContext } from "./host-iommu.js";
import { createHostIommu, hostIommuModel, hostIommuSram } from "./models.js";
import { MultiHost } from "./multiHost.js";
import { VtdHost } from "./vtd/host.js";
import type { IntelIommuDriver } from "./vtd/driver.js";
import type { DmarUnit } from "./vtd/unit.js";
import { DmaTally, dmaTransfer, type DmaTransfer } from "./dma.js";
import { EventKind, LEVEL_DEVICE_TLB, Trace } from "../trace/trace.js";
import type { IrqRemapDriver } from "./vtd/intremap.js";
import { bootIommuExtras, irteStep, mapRmrrs, msiStep, postedDescriptorStep } from "./irqsteps.js";
import { memlockDiagnostics } from "./reserved.js";
import { restoreIommufd, snapshotIommufd, type IommufdSnapshot } from "./iommufdObjects.js";
import type { GuestSmmuState } from "./smmuv3/guestDriver.js";
import { IommufdIoas } from "./iommufd.js";

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

export type { VmRuntime } from "./vmm.js";
export { formatSize, fullBdf, vmStartText } from "./vmm.js";

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
  error?: DiagnosticCode;
  transactions: number;
  iotlbHits: number;
  firstHpa?: bigint;
  /** "device-tlb": a Translated Request answered by the device's own Device-TLB (ATS), no IOTLB lookup. */
  firstIotlb?: "hit" | "miss" | "device-tlb";
  /** PASID of the request the outcome is about: the first faulting one, else the first (-1: without PASID). */
  pasid?: number;
  /** Whether the first fault reached a fault recording register. */
  recorded?: boolean;
  /** A posted interrupt: whether it sent a notification event. */
  notified?: boolean;
  /** guest-map / guest-unmap on an intel vIOMMU: the Device-TLB invalidate descriptors the guest queued. */
  deviceIotlbInvalidations?: number;
  /** IOMMU_HWPT_GET_DIRTY_BITMAP: the IOVAs of the pages it reported dirty. */
  dirty?: bigint[];
  /** Trace events of this step: [eventStart, eventEnd). */
  eventStart: number;
  eventEnd: number;
  /** Log lines produced by this step (kernel and VMM). */
  logStart: number;
  logEnd: number;
  expect?: { pass: boolean; failures: string[] };
}

type ContainerSnapshot = ReturnType<VfioContainer["snapshot"]>;

export interface MachineSnapshot {
  clock: bigint;
  mem: MemorySnapshot;
  /** The host IOMMU's unit and driver state (the model's own shape). */
  iommu: HostIommuSnapshot;
  frames: ReturnType<HostFrameAllocator["snapshot"]>;
  log: LogSnapshot;
  groupDomain: [number, number][];
  vms: { name: string; running: boolean; frames: bigint[]; container?: ContainerSnapshot; domain?: number; devices: string[]; groups: number[]; viommu?: ViommuSnapshot; iommufd?: IommufdSnapshot; guestSmmu?: GuestSmmuState }[];
  traceLength: number;
  stepStartLength: number;
  /**
   * Bytes this snapshot added to what earlier snapshots of the same machine hold (page copies,
   * trie nodes, the arrays it could not share): what a checkpoint costs, for the memory budget.
   */
  bytes: number;
}

export class Machine {
  readonly scenario: Scenario;
  readonly mem: PhysicalMemory;
  readonly pci: PciTopology;
  /** The host IOMMU and its Linux driver, model-neutral (sim/host-iommu.ts). */
  readonly hostIommu: HostIommu;
  /** The IOMMU unit through the contract (sim/iommu.ts): what the engine and every view read. */
  readonly iommu: IommuUnit;
  /** Every unit of the host (`host.iommus`), for views that show each; one entry on a one-unit host. */
  readonly hostUnits: IommuHostUnits;
  /** The VT-d unit of a VT-d host (unit tests and VT-d-only code); throws on another model. */
  get unit(): DmarUnit {
    return this.vtd().unit;
  }
  /** The intel-iommu driver of a VT-d host; throws on another model. */
  get driver(): IntelIommuDriver {
    return this.vtd().driver;
  }
  /** The host's IRQ-remapping driver of a VT-d host (vtd/intremap.ts), enabled at boot with host.iommu.intremap; throws on another model. */
  get irq(): IrqRemapDriver {
    return this.vtd().irq;
  }
  private vtd(): VtdHost {
    if (this.hostIommu instanceof VtdHost) return this.hostIommu;
    throw new Error(`this host's IOMMU is ${this.iommu.model}, not Intel VT-d`);
  }
  /** Every VT-d unit of the host (host and driver), in DRHD order; empty on another model. */
  vtdUnits(): VtdHost[] {
    const h = this.hostIommu;
    if (h instanceof VtdHost) return [h];
    return h instanceof MultiHost ? h.hosts.filter((x): x is VtdHost => x instanceof VtdHost) : [];
  }
  /**
   * The VT-d unit that handles requester id `sid` (its DMA, its interrupts, its IRT): the host's one,
   * or on a host of several DRHDs the one whose scope holds the device (dmar_find_matched_drhd_unit;
   * Linux's map_dev_to_ir() for interrupts); throws on another model.
   */
  vtdFor(sid: number): VtdHost {
    const h = this.hostIommu;
    if (h instanceof MultiHost && h.hosts[0] instanceof VtdHost) return h.hosts[h.unitIndex(sid)] as VtdHost;
    return this.vtd();
  }
  readonly frames: HostFrameAllocator;
  readonly log: KernelLog;
  readonly trace = new Trace(4096);
  readonly vms = new Map<string, VmRuntime>();
  /** Each group's default (host DMA API) domain. */
  readonly groupDomain = new Map<number, HostDomain>();
  /** Problems found while building the host (topology), as diagnostics on the scenario. */
  readonly diagnostics: Diagnostic[] = [];
  /** The VMM side (QEMU + the VFIO user API): VM lifecycle, groups, containers, DMA mappings. */
  readonly vmm: Vmm;
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
      sramBytes: hostIommuSram(host),
    });
    const { topology, problems } = PciTopology.build(host.pci, host.acsOverride, hostIommuModel(host.iommu.model).requesterAliases?.(host));
    this.pci = topology;
    for (const p of problems) {
      const spec = host.pci.find((d) => d.key === p.key);
      this.diagnostics.push({ severity: "error", code: p.code, message: p.message, hint: p.hint, range: spec?.range ?? host.range });
    }
    this.diagnostics.push(...groupViabilityWarnings(scenario, topology));
    this.diagnostics.push(...memlockDiagnostics(scenario));
    this.diagnostics.push(...acsOverrideDiagnostics(scenario, topology), ...sriovDiagnostics(scenario, topology));
    this.hostIommu = createHostIommu(this.mem, host);
    this.iommu = this.hostIommu.iommu;
    const multi = this.hostIommu instanceof MultiHost ? this.hostIommu : undefined;
    this.hostUnits = multi ? { units: multi.units, names: multi.names, unitOf: (sid) => multi.unitIndex(sid) } : oneUnit(this.iommu);
    this.frames = new HostFrameAllocator(GUEST_RAM_START, host.memory, host.backing, host.seed);
    this.log = new KernelLog(host.kernel);
    // The host devices with an ATS capability (host.iommu.ats of any unit): a vIOMMU guest sees it too.
    const atsDevices = atsDeviceKeys(host);
    scenario.vms.forEach((spec, index) => {
      this.vms.set(spec.name, { spec, index, running: false, guest: new GuestMemory(spec.memory, host.backing, index, host.iommu.model === "smmuv3" ? "virt" : "q35"), devices: [...spec.devices], groups: new Set(), ...(spec.viommu ? { viommu: createViommu(spec.viommu, spec.memory, spec.name, host.iommu.model === "smmuv3" ? "virt" : "q35", atsDevices, { model: host.iommu.model, addressWidth: host.iommu.addressWidth }) } : {}) });
    });
    this.vmm = new Vmm({
      scenario,
      pci: this.pci,
      iommu: this.hostIommu,
      frames: this.frames,
      log: this.log,
      trace: this.trace,
      vms: this.vms,
      groupDomain: this.groupDomain,
      mem: this.mem,
      now: () => this.clock,
      step: () => this.currentStep,
    });
    this.boot();
  }

  /** Host boot: DMAR bring-up, then every device probed into its group's default domain. */
  private boot(): void {
    this.clock = 500_000_000n;
    for (const line of hostTopologyBootLines(this.scenario, this.pci)) this.log.kernel(this.clock, line, -1);
    this.hostIommu.init();
    bootIommuExtras(this);
    const rmrrMapped = new Set<string>();
    const hostPt = this.scenario.host.iommu.hostPassThrough && this.scenario.host.iommu.passThrough;
    for (const dev of this.pci.devices) {
      const group = this.pci.groupOf(dev);
      let dom = this.groupDomain.get(group.id);
      if (dom === undefined) {
        dom = this.hostIommu.allocDomain(hostPt);
        this.groupDomain.set(group.id, dom);
      }
      this.hostIommu.attach(dom, this.pci.dmaAliases(dev));
      // RMRRs are VT-d's (host.iommu.rmrr): identity maps in the device's default domain.
      if (this.scenario.host.iommu.model === "intel-vtd") mapRmrrs(this, dev, dom, rmrrMapped);
      this.log.kernel(this.clock, `pci ${fullBdf(dev)}: Adding to iommu group ${group.id}`, -1);
      this.clock += 1000n;
    }
    this.hostIommu.endBoot((rid) => {
      const dev = this.pci.devices.find((d) => this.pci.dmaAliases(d).includes(rid));
      return dev ? this.groupDomain.get(this.pci.groupOf(dev).id) : undefined;
    });
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
    if (step.expect) out.expect = checkExpectation(step, out, this.iommu);
    return out;
  }

  private execute(step: Step, out: StepOutcome): void {
    switch (step.op) {
      case "start":
        return this.vmm.startVm(this.vm(step.vm), out);
      case "stop":
        return this.vmm.stopVm(this.vm(step.vm), out);
      case "assign":
        return this.vmm.assign(this.vm(step.vm), step.device, out);
      case "detach":
        return this.vmm.detachDevice(this.vm(step.vm), step.device, out);
      case "map": {
        const vm = this.vm(step.vm);
        return this.vmm.vfioMap(vm, step.iova, step.size, step.gpa ?? step.iova, step.perm, out);
      }
      case "unmap":
        return this.vmm.vfioUnmap(this.vm(step.vm), step.iova, step.size, out);
      case "guest-map":
        return this.vmm.guestMap(step, out);
      case "guest-unmap":
        return this.vmm.guestUnmap(step, out);
      case "dma":
        return this.dma(step, out);
      case "translate":
        return this.probe(step.device, step.iova, step.write, out, step.pasid);
      case "invalidate":
        return this.invalidateStep(step, out);
      case "poke":
        return this.poke(step, out);
      case "emulated-dma":
        return this.vmm.emulatedDma(step, out);
      case "munmap":
      case "process-exit":
        // SMMUv3 SVA only (validate.ts); a model without the seam has no SVA process to unmap or end.
        if (this.hostIommu.pasidStep !== undefined) return this.hostIommu.pasidStep(step, this.pasidSeamContext(out));
        return this.pasidSeamContext(out).fail("pasid-unsupported", `${step.op} is modelled for SMMUv3 SVA bindings only`);
      case "bind-pasid":
      case "unbind-pasid":
        if (this.hostIommu.pasidStep !== undefined) return this.hostIommu.pasidStep(step, this.pasidSeamContext(out));
        if (this.hostIommu instanceof AmdViHost) return step.op === "bind-pasid" ? amdBindPasidStep(this.amdPasidContext(this.hostIommu, out), step) : amdUnbindPasidStep(this.amdPasidContext(this.hostIommu, out), step);
        return step.op === "bind-pasid" ? bindPasidStep(this.pasidContext(out), step) : unbindPasidStep(this.pasidContext(out), step);
      case "page-response":
        if (this.hostIommu instanceof AmdViHost) return amdPageResponseStep(this.amdPasidContext(this.hostIommu, out), this.hostIommu, step, out, this.log, this.clock, this.currentStep);
        return pageResponseStep(this.pasidContext(out), step, out);
      case "page-request":
        return pageRequestStep(this.pasidContext(out), step);
      case "irte":
        return irteStep(this, step, out);
      case "msi":
        return msiStep(this, step, out);
      case "posted-descriptor":
        return postedDescriptorStep(this, step, out);
      case "iommufd":
        return this.vmm.iommufdStep(step, out);
      case "wait":
        this.clock += step.ns;
        out.summary = `time advanced to ${formatSeconds(this.clock)}`;
        return;
    }
  }

  /** What the scalable-mode PASID steps (vtd/pasidBind.ts) need of the machine. */
  private pasidContext(out: StepOutcome): PasidStepContext {
    return { ...this.pasidSeamContext(out), driver: this.driver, vm: (name) => this.vms.get(name), ...(this.scenario.host.kernel !== undefined ? { kernel: this.scenario.host.kernel } : {}), dmesg: (line) => this.log.kernel(this.clock, line, this.currentStep), retry: (sid, pasid, iova, write) => this.retryRequest(out, sid, pasid, iova, write) };
  }

  /**
   * A device's retried Translation Request after a Success page response (PCIe PRI): one 4 KiB
   * transaction through the host IOMMU's DMA path, so the trace has its row in this step.
   */
  private retryRequest(out: StepOutcome, sid: number, pasid: number, iova: bigint, write: boolean): { code: number; hpa: bigint } {
    const tally = new DmaTally();
    this.hostIommu.translateRun(dmaTransfer(sid, iova & ~0xfffn, 4096n, write, 1, pasid), 0, 1, this.trace, this.currentStep, tally);
    this.clock += NS_PER_TRANSACTION;
    out.transactions += 1;
    out.iotlbHits += tally.iotlbHits;
    return { code: tally.faults > 0 ? tally.firstFault : 0, hpa: (BigInt(tally.firstHpaHi >>> 0) << 32n) | BigInt(tally.firstHpaLo >>> 0) };
  }

  /** What a model's PASID steps through the seam (HostIommu.pasidStep) need of the machine. */
  private pasidSeamContext(out: StepOutcome): PasidSeamContext {
    return {
      sidOf: (key) => {
        const dev = this.pci.device(key);
        return dev === undefined ? undefined : this.pci.requesterId(dev);
      },
      fail: (error, summary) => void this.fail(out, error, summary),
      failErrno: (errno, summary) => failStepErrno(this.trace, this.currentStep, out, errno, summary),
      summary: (text) => void (out.summary = text),
    };
  }

  /** What AMD-Vi's PASID steps (amdvi/pasidBind.ts: the GCR3 table) need of the machine. */
  private amdPasidContext(host: AmdViHost, out: StepOutcome): AmdPasidStepContext {
    return {
      driver: host.driver,
      sidOf: (key) => {
        const dev = this.pci.device(key);
        return dev === undefined ? undefined : this.pci.requesterId(dev);
      },
      fail: (error, summary) => void this.fail(out, error, summary),
      failErrno: (errno, summary) => failStepErrno(this.trace, this.currentStep, out, errno, summary),
      summary: (text) => void (out.summary = text),
    };
  }

  private vm(name: string): VmRuntime {
    return this.vmm.vm(name);
  }

  private fail(out: StepOutcome, error: DiagnosticCode, summary: string): false {
    return failStep(this.trace, this.currentStep, out, error, summary);
  }

  // ---------------------------------------------------------------- DMA

  /**
   * A `dma` step: each device's transfer split into 4 KiB transactions, translated by the unit in
   * runs (HostIommu.translateRun), one trace event each. With several devices their transactions
   * interleave one by one, as the devices' requests reach the root complex, so the fault
   * recording registers see several sources within the step (and can overflow: FSTS.PFO).
   */
  private dma(st: Extract<Step, { op: "dma" }>, out: StepOutcome): void {
    const specs = st.transfers ?? [st];
    const xs: DmaTransfer[] = [];
    let total = 0;
    for (const t of specs) {
      const dev = this.pci.device(t.device);
      if (dev === undefined) {
        this.fail(out, "unknown-device", `no host device ${t.device}`);
        return;
      }
      const x = dmaTransfer(this.pci.requesterId(dev), t.iova, t.length, t.write, t.repeat, t.pasid ?? -1);
      if (t.ats === true) x.ats = true;
      if (t.translated) x.translated = true;
      xs.push(x);
      total += x.pages * x.repeat;
    }
    const unit = this.hostIommu;
    const trace = this.trace;
    const step = this.currentStep;
    const tally = new DmaTally();
    // One event per transaction: room for all of them now, not in reallocations halfway through.
    trace.reserve(trace.length + total);
    const poll = this.poll;
    // A step of millions of transactions takes seconds: poll every POLL_TRANSACTIONS of them.
    let countdown = POLL_TRANSACTIONS;
    if (xs.length === 1) {
      const x = xs[0]!;
      for (let t = 0; t < total; ) {
        const n = Math.min(countdown, total - t);
        unit.translateRun(x, t, t + n, trace, step, tally);
        t += n;
        countdown -= n;
        if (countdown === 0) {
          countdown = POLL_TRANSACTIONS;
          if (poll !== undefined && poll()) {
            this.interrupted = true;
            break;
          }
        }
      }
    } else {
      // Round robin, one transaction per device in turn, until every transfer is done.
      const done = new Float64Array(xs.length);
      let left = total;
      outer: while (left > 0) {
        for (let k = 0; k < xs.length; k++) {
          const x = xs[k]!;
          const t = done[k]!;
          if (t === x.pages * x.repeat) continue;
          unit.translateRun(x, t, t + 1, trace, step, tally);
          done[k] = t + 1;
          left--;
          if (--countdown === 0) {
            countdown = POLL_TRANSACTIONS;
            if (poll !== undefined && poll()) {
              this.interrupted = true;
              break outer;
            }
          }
        }
      }
    }
    this.clock += NS_PER_TRANSACTION * BigInt(tally.transactions);
    out.transactions = tally.transactions;
    out.faults = tally.faults;
    out.iotlbHits = tally.iotlbHits;
    if (tally.started) {
      if (tally.firstOk) out.firstHpa = (BigInt(tally.firstHpaHi) << 32n) | BigInt(tally.firstHpaLo);
      out.firstIotlb = tally.firstDeviceTlb ? "device-tlb" : tally.firstIotlbHit ? "hit" : "miss";
      out.pasid = tally.faults > 0 ? tally.firstFaultPasid : tally.firstPasid;
    }
    if (tally.faults > 0) {
      out.fault = tally.firstFault;
      out.recorded = tally.firstRecorded;
      out.status = "fault";
      out.summary = `${out.faults} of ${plural(out.transactions, "transaction")} faulted: ${faultLabel(out.fault, this.iommu)}`;
      // QEMU's virtio-iommu reports faults (virtio_iommu_report_fault) only from virtio_iommu_translate,
      // which an assigned device's DMA never reaches: the host IOMMU faulted, the guest hears nothing.
      const vms = [...this.vms.values()].filter((v) => v.spec.viommu?.model === "virtio-iommu" && specs.some((t) => v.devices.includes(t.device)));
      if (vms.length > 0) out.summary += `; QEMU's virtio-iommu is not told (an assigned device's DMA does not go through virtio_iommu_translate): nothing reaches ${vms.map((v) => v.spec.name).join(", ")}'s event queue`;
    } else {
      const dir = specs.every((t) => t.write) ? "written" : specs.every((t) => !t.write) ? "read" : "transferred";
      const by = specs.length > 1 ? ` by ${plural(new Set(specs.map((t) => t.device)).size, "device")}` : "";
      out.summary = `${plural(tally.bytes, "byte")} ${dir}${by}; ${out.iotlbHits}/${out.transactions} IOTLB ${nounFor(out.iotlbHits, "hit")}${tally.deviceTlbHits > 0 ? `, ${tally.deviceTlbHits} from the device's Device-TLB (ATS)` : ""}`;
    }
  }

  private probe(key: string, iova: bigint, write: boolean, out: StepOutcome, pasid?: number): void {
    const dev = this.pci.device(key);
    if (dev === undefined) {
      this.fail(out, "unknown-device", `no host device ${key}`);
      return;
    }
    const { code, cached, hpa, level } = this.hostIommu.probe(this.pci.requesterId(dev), iova, write, pasid);
    out.transactions = 0;
    const devtlb = (level & LEVEL_DEVICE_TLB) !== 0;
    out.pasid = pasid ?? -1;
    out.firstIotlb = devtlb ? "device-tlb" : cached ? "hit" : "miss";
    if (code === 0) {
      out.firstHpa = hpa;
      out.summary = `IOVA 0x${iova.toString(16)} -> HPA 0x${out.firstHpa.toString(16)}${devtlb ? " (the device's Device-TLB, ATS)" : cached ? " (IOTLB)" : ` (walk, level ${level} leaf)`}`;
    } else {
      out.status = "fault";
      out.fault = code;
      out.faults = 1;
      out.summary = `would fault: ${faultLabel(code, this.iommu)}`;
    }
  }

  // ---------------------------------------------------------------- invalidate / poke

  private invalidateStep(step: Extract<Step, { op: "invalidate" }>, out: StepOutcome): void {
    const req: InvalidateRequest = { scope: step.granularity, sid: step.device ? this.sidOf(step.device) : 0 };
    if (step.domain !== undefined) req.domain = step.domain;
    if (step.iova !== undefined) req.iova = step.iova;
    if (step.am !== undefined) req.order = step.am;
    if (step.ih !== undefined) req.leafOnly = step.ih;
    if (step.pasid !== undefined) req.pasid = step.pasid;
    if (step.entry !== undefined) req.index = step.entry;
    if (this.scenario.host.kernel !== undefined) req.kernel = this.scenario.host.kernel;
    const r = this.iommu.invalidate(req);
    if (!r.ok) {
      for (const line of r.log) this.log.kernel(this.clock, line, this.currentStep);
      this.fail(out, "invalidation-queue-error", r.error ?? "the unit rejected the invalidation");
      return;
    }
    const ir = step.granularity.startsWith("interrupt");
    const dev = step.granularity === "device-tlb";
    out.summary = `${step.granularity} invalidation${step.granularity.startsWith("context") || step.granularity === "pasid-cache" ? "" : `: ${plural(r.dropped, ir ? "interrupt entry cache entry" : dev ? "Device-TLB entry" : "IOTLB entry", ir ? "interrupt entry cache entries" : dev ? "Device-TLB entries" : "IOTLB entries")}${r.pscDropped !== undefined ? ` and ${plural(r.pscDropped, "paging-structure-cache entry", "paging-structure-cache entries")}` : ""} dropped`}`;
  }

  private sidOf(key: string): number {
    const dev = this.pci.device(key);
    return dev ? this.pci.requesterId(dev) : 0;
  }

  /** Resolves a poke target to the HPA of a table entry, reading the tables as they are now (the model's locate()). */
  resolveEntry(target: NonNullable<Extract<Step, { op: "poke" }>["target"]>): number | string {
    const dev = this.pci.device(target.device);
    if (dev === undefined) return `no host device ${target.device}`;
    const t: EntryTarget = { sid: this.pci.requesterId(dev), structure: target.structure };
    if (target.iova !== undefined) t.iova = target.iova;
    if (target.level !== undefined) t.level = target.level;
    if (target.pasid !== undefined) t.pasid = target.pasid;
    if (target.word !== undefined) t.word = target.word;
    return this.iommu.locate(t);
  }

  private poke(step: Extract<Step, { op: "poke" }>, out: StepOutcome): void {
    if (step.register !== undefined) return this.pokeRegister(step, out);
    let addr: number;
    let where = "";
    if (step.address !== undefined) addr = Number(step.address);
    else if (step.gpa !== undefined) {
      const vm = this.vms.get(step.vm ?? "");
      const hpa = vm?.running === true ? vm.guest.gpaToHpa(step.gpa) : undefined;
      if (hpa === undefined) {
        this.fail(out, "poke-target-missing", vm === undefined ? `no VM ${step.vm}` : vm.running !== true ? `VM ${step.vm} is not running: it has no RAM to write` : `GPA 0x${step.gpa.toString(16)} is not RAM of VM ${step.vm}`);
        return;
      }
      addr = Number(hpa);
      where = `GPA 0x${step.gpa.toString(16)} of VM ${step.vm}, `;
    } else {
      const r = this.resolveEntry(step.target!);
      if (typeof r === "string") {
        this.fail(out, "poke-target-missing", r);
        return;
      }
      addr = r;
    }
    const old = this.mem.readU64(addr);
    const value = pokeValue(step, old ?? 0n);
    if (!this.mem.writeU64(addr, value)) {
      this.fail(out, "poke-unbacked", `0x${addr.toString(16)} is not host memory`);
      return;
    }
    this.trace.pushBig(EventKind.Poke, this.currentStep, 0, 0, 0, 0, 0, BigInt(addr), value);
    out.summary = `${pokeVerb(step)}wrote ${hex16(value)} at ${where}HPA 0x${addr.toString(16)} (was ${hex16(old ?? 0n)}); no invalidation issued`;
  }

  /** A poke of a register: the model writes it as its driver would (VT-d: RTADDR, then GCMD.SRTP; sim/vtd/host.ts). */
  private pokeRegister(step: Extract<Step, { op: "poke" }>, out: StepOutcome): void {
    const h = this.hostIommu;
    const names = this.hostUnits.names;
    const unit = step.unit === undefined ? 0 : names.indexOf(step.unit);
    if (unit < 0) {
      this.fail(out, "poke-target-missing", `no IOMMU unit ${step.unit ?? ""} on this host (units: ${names.join(", ")})`);
      return;
    }
    const r = h instanceof MultiHost ? h.pokeRegisterOf(unit, step.register!, (old) => pokeValue(step, old)) : h.pokeRegister(step.register!, (old) => pokeValue(step, old));
    if (typeof r === "string") {
      this.fail(out, "poke-target-missing", r);
      return;
    }
    this.trace.pushBig(EventKind.Poke, this.currentStep, 0, 0, 0, 0, 0, r.address, r.now);
    out.summary = `${pokeVerb(step)}${r.summary}`;
  }

  // ---------------------------------------------------------------- bookkeeping

  /** Moves the invalidation commands the unit processed during the step into the trace. */
  private recordInvalidations(): void {
    this.hostIommu.recordInvalidations(this.trace, this.currentStep);
  }

  /** The fault interrupt is serviced at the end of the step: the driver prints the records. */
  private serviceFaultInterrupt(): void {
    this.hostIommu.serviceFaults(this.log, this.clock, this.currentStep);
  }

  /**
   * The whole state, sharing with the previous snapshot whatever did not change since: memory
   * pages (copy-on-write), the log (append-only), and the IOTLB, registers and frame lists when
   * they are equal to the previous snapshot's. A checkpoint then costs what changed.
   */
  snapshot(): MachineSnapshot {
    const prev = this.lastSnapshot;
    let bytes = 0;
    /** The previous snapshot's array when equal to `cur` (a fresh copy), else `cur`, counted. */
    const share = <T extends ArrayLike<unknown>>(old: T | undefined, cur: T, perItem: number): T => {
      if (old !== undefined && sameItems(old, cur)) return old;
      bytes += cur.length * perItem;
      return cur;
    };
    /** The container's mapping list, shared with the previous snapshot's when it is the same. */
    const containerSnapshot = (c: VfioContainer, old: ContainerSnapshot | undefined): ContainerSnapshot => {
      const cur = c.snapshot();
      return { ...cur, list: share(old?.list, cur.list, 8) };
    };
    const iommu = this.hostIommu.snapshot(prev?.iommu, share);
    bytes += iommu.bytes;
    const frames = this.frames.snapshot();
    frames.freeList = share(prev?.frames.freeList, frames.freeList, 8);
    const snap: MachineSnapshot = {
      clock: this.clock,
      mem: this.mem.snapshot(),
      iommu: iommu.snap,
      frames,
      log: this.log.snapshot(),
      groupDomain: [...this.groupDomain].map(([g, d]) => [g, d.did]),
      vms: [...this.vms.values()].map((vm, i) => ({
        name: vm.spec.name,
        running: vm.running,
        // The live array changes in place (populate appends): a copy, unless the previous one is equal.
        frames: share(prev?.vms[i]?.frames, vm.guest.frames, 8) === vm.guest.frames ? [...vm.guest.frames] : prev!.vms[i]!.frames,
        ...(vm.container ? { container: containerSnapshot(vm.container, prev?.vms[i]?.container) } : {}),
        ...(vm.domain ? { domain: vm.domain.did } : {}),
        devices: [...vm.devices],
        groups: [...vm.groups],
        ...(vm.viommu ? { viommu: vm.viommu.snapshot() } : {}),
        ...(vm.iommufd ? { iommufd: snapshotIommufd(vm.iommufd) } : {}),
        ...(vm.guestSmmu ? { guestSmmu: vm.guestSmmu.snapshot() } : {}),
      })),
      traceLength: this.trace.length,
      stepStartLength: this.trace.stepStart.length,
      bytes: 0,
    };
    // Page copies made since the last snapshot (copy-on-write writes, and this snapshot's own).
    snap.bytes = bytes + (this.mem.copiedBytes - this.copiedMark) + 256;
    this.copiedMark = this.mem.copiedBytes;
    this.lastSnapshot = snap;
    return snap;
  }

  /** The last snapshot taken of (or restored into) this machine: the next one shares with it. */
  private lastSnapshot?: MachineSnapshot;
  /** mem.copiedBytes when the last snapshot was taken: the copies since belong to the next one. */
  private copiedMark = 0;

  /** Restores machine state. The trace is truncated to the snapshot's length (replay appends again). */
  restore(s: MachineSnapshot): void {
    this.clock = s.clock;
    this.mem.restore(s.mem);
    this.hostIommu.restore(s.iommu);
    this.frames.restore(s.frames);
    this.log.restore(s.log);
    this.groupDomain.clear();
    for (const [g, did] of s.groupDomain) this.groupDomain.set(g, this.hostIommu.domain(did)!);
    for (const v of s.vms) {
      const vm = this.vms.get(v.name)!;
      vm.running = v.running;
      vm.guest.frames = [...v.frames];
      vm.devices = [...v.devices];
      vm.groups = new Set(v.groups);
      if (v.viommu) vm.viommu?.restore(v.viommu);
      if (v.domain !== undefined) vm.domain = this.hostIommu.domain(v.domain)!;
      else delete vm.domain;
      if (v.container !== undefined) {
        if (!vm.container) this.createContainerShell(vm);
        vm.container!.restore(v.container);
      } else delete vm.container;
      if (v.iommufd !== undefined && vm.container instanceof IommufdIoas) vm.iommufd = restoreIommufd(v.iommufd, vm.container, () => this.vmm.newIoas(vm), (did) => this.hostIommu.domain(did)!);
      else delete vm.iommufd;
      if (v.guestSmmu !== undefined) this.vmm.guestSmmuOf(vm, v.guestSmmu);
      else delete vm.guestSmmu;
    }
    this.trace.length = s.traceLength;
    this.trace.stepStart.length = s.stepStartLength;
    this.lastSnapshot = s;
    this.copiedMark = this.mem.copiedBytes;
  }

  /** The VFIO container of a VM (restore rebuilds it): the VMM's. */
  private createContainerShell(vm: VmRuntime): void {
    this.vmm.createContainerShell(vm);
  }

  /** The VM runtime state for tree views. */
  vmState(name: string): Readonly<VmRuntime> | undefined {
    return this.vms.get(name);
  }
}

/**
 * Trace events a step will append, as far as the text tells: one per DMA transaction of a `dma`
 * step; a few for any other step (a guess: the trace grows by an eighth when it is short).
 */
export function expectedEvents(step: Step): number {
  if (step.op !== "dma") return 4;
  let n = 0;
  for (const t of step.transfers ?? [step]) n += Math.max(1, Math.ceil((Number(t.iova & 0xfffn) + Number(t.length)) / 4096)) * t.repeat;
  return n;
}

// ------------------------------------------------------------------ expectations

/** Same length and the same items (by identity or number value). */
function sameItems(a: ArrayLike<unknown>, b: ArrayLike<unknown>): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function checkExpectation(step: Step, out: StepOutcome, model?: Pick<IommuDecoders, "reason">): { pass: boolean; failures: string[] } {
  const e = step.expect!;
  const f: string[] = [];
  const got = describeOutcome(out, model);
  if (e.ok === true && out.status !== "ok") f.push(`expected success, got ${got}`);
  if (e.fault !== undefined && out.fault !== e.fault) f.push(`expected fault 0x${hex2(e.fault)}, got ${got}`);
  if (e.errno !== undefined && out.errno !== e.errno) f.push(`expected errno ${e.errno}, got ${got}`);
  if (e.error !== undefined && out.error !== e.error) f.push(`expected error ${e.error}, got ${got}`);
  if (e.hpa !== undefined && out.firstHpa !== e.hpa) f.push(`expected HPA 0x${e.hpa.toString(16)}, got ${out.firstHpa === undefined ? got : `0x${out.firstHpa.toString(16)}`}`);
  if (e.iotlb !== undefined && out.firstIotlb !== e.iotlb) f.push(`expected IOTLB ${e.iotlb}, got ${out.firstIotlb ?? "no translation"}`);
  if (e.pasid !== undefined && out.pasid !== e.pasid) f.push(`expected the ${out.status === "fault" ? "fault" : "translation"} of a request ${pasidText(e.pasid)}, got ${out.pasid === undefined ? "no request" : `a request ${pasidText(out.pasid)}`}`);
  if (e.faults !== undefined && out.faults !== e.faults) f.push(`expected ${e.faults} faulting transactions, got ${out.faults}`);
  if (e.notification !== undefined && out.notified !== e.notification) f.push(e.notification ? `expected a notification event, got ${out.notified === false ? "none" : got}` : `expected no notification event, ${out.notified ? "one was sent" : `got ${got}`}`);
  if (e.deviceIotlbInvalidations !== undefined && (out.deviceIotlbInvalidations ?? 0) !== e.deviceIotlbInvalidations) f.push(`expected ${plural(e.deviceIotlbInvalidations, "device-IOTLB invalidation")} from the guest, got ${out.deviceIotlbInvalidations ?? 0}`);
  if (e.dirty !== undefined) {
    const hexs = (l: readonly bigint[]) => `[${l.map((v) => `0x${v.toString(16)}`).join(", ")}]`;
    if (out.dirty === undefined) f.push(`expected a dirty bitmap ${hexs(e.dirty)}, got ${got}`);
    else if (hexs(out.dirty) !== hexs(e.dirty)) f.push(`expected dirty pages ${hexs(e.dirty)}, got ${hexs(out.dirty)}`);
  }
  if (e.recorded !== undefined && (out.recorded ?? false) !== e.recorded) f.push(`expected the fault ${e.recorded ? "" : "not "}to be recorded, it was ${out.recorded ? "" : "not "}recorded`);
  return { pass: f.length === 0, failures: f };
}

/** "with PASID 0x5" / "without PASID" (-1). */
function pasidText(p: number): string {
  return p < 0 ? "without PASID" : `with PASID 0x${p.toString(16)}`;
}

export function describeOutcome(out: StepOutcome, model?: Pick<IommuDecoders, "reason">): string {
  switch (out.status) {
    case "ok":
      return "success";
    case "fault":
      return `fault ${faultLabel(out.fault!, model)}`;
    case "errno":
      return `errno ${out.errno}`;
    case "error":
      return `error ${out.error} (${out.summary})`;
  }
}


/** A fault code as the model names it ("0x05 PTE Write access is not set"); VT-d's names without a model. */
export function faultLabel(code: number, model?: Pick<IommuDecoders, "reason">): string {
  return model ? model.reason(code).label : `0x${hex2(code)} ${faultReasonInfo(code).linuxText}`;
}

/** The word a poke writes: its value, or the current word with `set` bits set and `clear` bits cleared. */
export function pokeValue(step: Extract<Step, { op: "poke" }>, current: bigint): bigint {
  if (step.value !== undefined) return BigInt.asUintN(64, step.value);
  return BigInt.asUintN(64, (current & ~(step.clear ?? 0n)) | (step.set ?? 0n));
}

function pokeVerb(step: Extract<Step, { op: "poke" }>): string {
  if (step.value !== undefined) return "";
  const parts = [step.set !== undefined ? `set 0x${step.set.toString(16)}` : "", step.clear !== undefined ? `cleared 0x${step.clear.toString(16)}` : ""].filter(Boolean);
  return `${parts.join(", ")}: `;
}

function hex16(v: bigint): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function formatSeconds(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, "0").slice(0, 6)} s`;
}

/** The units of a one-unit host: the one unit, named as its tables() name it (read when asked). */
function oneUnit(iommu: IommuUnit): IommuHostUnits {
  return {
    units: [iommu],
    get names() {
      return [iommu.tables().name];
    },
    unitOf: () => 0,
  };
}
