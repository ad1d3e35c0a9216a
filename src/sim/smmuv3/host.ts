/**
 * Arm SMMUv3 behind the machine's HostIommu seam (sim/host-iommu.ts): the SMMU and Linux's
 * arm-smmu-v3 driver as the machine and the VMM drive them. A PCI requester id reaches the SMMU
 * as StreamID = RID - rid-base + sid-base (the root complex's iommu-map / IORT ID mapping).
 */
import type { IommuSpec, Step } from "../../scenario/types.js";
import type { HostDomain, HostFaultQueues, HostIommu, HostIommuSnapshot, HostIopf, HostNesting, PasidSeamContext, RegisterPoke, Share } from "../host-iommu.js";
import { smmuPasidStep } from "./pasidBind.js";
import { nestParentDid, nestParentLabel } from "./nested.js";
import { UnitHost } from "../unitHost.js";
import type { IommuUnit } from "../iommu.js";
import type { KernelLog } from "../klog.js";
import type { PhysicalMemory } from "../memory.js";
import { EventKind, type Trace } from "../../trace/trace.js";
import { formatSid, parseBdf } from "../bdf.js";
import { renderEvent, smmuKernelEra, smmuS2Stalls, smmuSvaReleaseCd, smmuSvaTlbiThreshold } from "./dmesg.js";
import { ArmSmmuV3Driver, type IopfRecord, type SmmuDomain, type SmmuDriverSnapshot } from "./driver.js";
import { smmuV3Unit } from "./model.js";
import { DEFAULT_SMMU_SPEC, SmmuV3Unit, type SmmuSnapshot, type SmmuSpec } from "./unit.js";
import { COMMAND_NAMES, MSI_IOVA_BASE, MSI_IOVA_LENGTH, SMMU_STRTAB_BASE, STALL_MODEL_FORCE, STALL_MODEL_NONE, STALL_MODEL_STALL } from "./spec.js";

/** host.iommu.stall-model -> SMMU_IDR0.STALL_MODEL (spec.ts STALL_MODEL_*). */
const STALL_MODELS = { stall: STALL_MODEL_STALL, none: STALL_MODEL_NONE, force: STALL_MODEL_FORCE } as const;

/** MMIO base of the SMMU's register page 0 (QEMU virt's smmuv3 at 0x09050000, hw/arm/virt.c VIRT_SMMU). */
const SMMU_REG_BASE = 0x09050000n;

export interface SmmuV3HostSnapshot extends HostIommuSnapshot {
  readonly model: "smmuv3";
  unit: SmmuSnapshot;
  driver: SmmuDriverSnapshot;
}

export class SmmuV3Host extends UnitHost<SmmuSnapshot> implements HostIommu {
  readonly unit: SmmuV3Unit;
  readonly driver: ArmSmmuV3Driver;
  readonly iommu: IommuUnit;
  private readonly sidOffset: number;
  /** Requester ids of the devices with ATS (host.iommu.ats). */
  private readonly atsRids = new Set<number>();
  /** Requester ids of the devices whose PRI is enabled (host.iommu.pri). */
  private readonly priRids = new Set<number>();
  /** Requester ids of the devices with a PCIe PASID capability (host.iommu.pasid). */
  private readonly pasidRids = new Set<number>();

  /** SRAM the unit takes in the machine's memory (PhysicalMemory sramBytes): its walk core, TLB and burst. */
  static sramBytes(spec: IommuSpec): number {
    const smmu = smmuSpecOf(spec);
    return SmmuV3Unit.sramBytes(smmu.tlbSets, smmu.tlbWays);
  }

  /** MMIO base of the SMMU's register page 0 (the IORT node's Base Address). */
  readonly registerBase: bigint;

  constructor(
    private readonly mem: PhysicalMemory,
    spec: IommuSpec,
    kernel?: string,
  ) {
    super();
    this.registerBase = spec.registerBase ?? SMMU_REG_BASE;
    const s = spec.smmu;
    const smmu = smmuSpecOf(spec);
    this.sidOffset = s ? s.sidBase - s.ridBase : 0;
    this.unit = new SmmuV3Unit(mem, smmu);
    this.driver = new ArmSmmuV3Driver(this.unit, mem, { ...(s ? { stage: s.stage } : {}), ...(s?.pageShift !== undefined ? { pageShift: s.pageShift } : {}), era: (kernel === undefined ? undefined : smmuKernelEra(kernel)) ?? "6.15", s2Stalls: kernel === undefined || smmuS2Stalls(kernel), svaTlbiThreshold: kernel === undefined || smmuSvaTlbiThreshold(kernel), svaReleaseCd: kernel === undefined ? "sva-cd" : smmuSvaReleaseCd(kernel) });
    this.unit.sidOffset = this.sidOffset;
    // host.iommu.ats: Linux enables ATS for these PCI devices (arm_smmu_enable_ats) when they attach.
    for (const a of s?.ats ?? []) {
      const p = parseBdf(a.device);
      if (p.ok) this.atsRids.add((p.bdf.bus << 8) | (p.bdf.device << 3) | p.bdf.fn);
    }
    if (s?.atsInvalidation === false) this.driver.atcInvalidation = false;
    if (s?.svaInvalidation === false) this.driver.svaInvalidation = false;
    for (const key of s?.pasid ?? []) {
      const p = parseBdf(key);
      if (p.ok) this.pasidRids.add((p.bdf.bus << 8) | (p.bdf.device << 3) | p.bdf.fn);
    }
    for (const key of s?.pri ?? []) {
      const p = parseBdf(key);
      if (p.ok) this.priRids.add((p.bdf.bus << 8) | (p.bdf.device << 3) | p.bdf.fn);
    }
    this.iommu = smmuV3Unit(this.unit, this.driver, mem);
  }

  /** IOMMU_RESV_SW_MSI (spec.ts MSI_IOVA_BASE): VFIO keeps it out of every container. */
  reservedIova(): [bigint, bigint][] {
    return [[BigInt(MSI_IOVA_BASE), BigInt(MSI_IOVA_BASE + MSI_IOVA_LENGTH - 1)]];
  }

  /** StreamID of a requester id (iommu-map: rid-base -> sid-base). */
  sid(rid: number): number {
    return rid + this.sidOffset;
  }

  init(): void {
    this.driver.init();
  }

  allocDomain(passThrough: boolean): HostDomain {
    return asHost(this.driver.allocDomain(passThrough));
  }

  freeDomain(d: HostDomain): void {
    const dom = d as unknown as SmmuDomain;
    const i = this.driver.domains.indexOf(dom);
    if (i >= 0) this.driver.domains.splice(i, 1);
  }

  attach(d: HostDomain, rids: number[]): void {
    const dom = d as unknown as SmmuDomain;
    const sids = rids.map((r) => this.sid(r));
    for (const o of this.driver.domains) if (o !== dom) o.sids = o.sids.filter((s) => !sids.includes(s));
    // arm_smmu_probe_device: every StreamID of the master (its RID and DMA aliases) is the
    // device's; dev_name() of a PCI device is "%04x:%02x:%02x.%d" (segment 0 here).
    const name = rids.length > 0 ? `0000:${formatSid(rids[0]!)}` : "";
    for (const sid of sids) if (!this.driver.masters.has(sid)) this.driver.addMaster(sid, name);
    // arm_smmu_probe_device: PASID is enabled before ATS (PCIe: ATS Control's note on PASID Enable).
    for (const rid of rids) if (this.pasidRids.has(rid)) this.driver.enablePasid(this.sid(rid));
    for (const rid of rids) if (this.atsRids.has(rid)) this.driver.enableAts(this.sid(rid));
    for (const rid of rids) if (this.priRids.has(rid)) this.unit.priSids.add(this.sid(rid));
    this.driver.attach(dom, sids);
  }

  /**
   * iommufd fault delivery on arm-smmu-v3: a master takes I/O page faults when it can stall
   * (arm_smmu_master_iopf_supported: one StreamID and stall_enabled; mainline does not use PRI for
   * IOPF); its stage-1 stall events then go to the hwpt's fault object (driver.ts answerStall) and
   * the page response becomes CMD_RESUME (driver.ts pageResponse).
   */
  readonly faultQueues: HostFaultQueues = {
    iopfUnsupported: () => (this.driver.stallEnabled ? undefined : "the master cannot stall (arm_smmu_master_iopf_supported: stall_enabled needs SMMU_IDR0.STALL_MODEL = force for a PCI device; host.iommu.stall-model: force)"),
    setFaultQueue: (d, fault) => {
      const dom = d as unknown as SmmuDomain;
      if (fault === undefined) delete dom.faultQueue;
      else dom.faultQueue = fault;
    },
    pending: (fault) => this.driver.iopfQueue.filter((r) => r.fault === fault).map((r) => this.iopfView(r)),
    respond: (fault, cookie, code) => {
      const r = this.driver.pageResponse(fault, cookie, code);
      return typeof r === "string" ? r : this.iopfView(r);
    },
  };

  /** iommufd nesting on the SMMU (arm-smmu-v3-iommufd.c; driver.ts allocVsmmu, attachNested, reportVmaster). */
  readonly nesting: HostNesting = {
    allocNestParent: () => {
      // arm_smmu_domain_alloc_paging_flags with IOMMU_HWPT_ALLOC_NEST_PARENT: ARM_SMMU_FEAT_NESTING (S1P and S2P) or -EOPNOTSUPP; a stage-2 domain.
      if (!this.unit.spec.stage1 || !this.unit.spec.stage2) return "the SMMU cannot nest (ARM_SMMU_FEAT_NESTING needs SMMU_IDR0.S1P and S2P)";
      const d = this.driver.allocDomain(false, 2);
      d.nestParent = true;
      return asHost(d);
    },
    allocViommu: (parent, id) => {
      const d = parent as unknown as SmmuDomain;
      if (d.stage !== 2 || d.nestParent !== true) return "the parent is not a stage-2 nesting parent (IOMMU_HWPT_ALLOC_NEST_PARENT)";
      this.driver.allocVsmmu(d, id);
      return undefined;
    },
    allocVdevice: (viommu, rids, virtId) => {
      const v = this.driver.vsmmus.find((x) => x.id === viommu)!;
      for (const rid of rids) v.vdevs.push([this.sid(rid), virtId]);
    },
    checkNested: (data) => this.driver.validateVste(data),
    attachNested: (viommu, data, ats, rids) => {
      const sids = rids.map((r) => this.sid(r));
      const name = rids.length > 0 ? `0000:${formatSid(rids[0]!)}` : "";
      for (const sid of sids) if (!this.driver.masters.has(sid)) this.driver.addMaster(sid, name);
      this.driver.attachNested(this.driver.vsmmus.find((x) => x.id === viommu)!, data, ats, sids);
    },
    allocVeventq: (viommu, depth) => {
      const v = this.driver.vsmmus.find((x) => x.id === viommu)!;
      if (v.veventq !== undefined) return "the vIOMMU already has a vEVENTQ of type IOMMU_VEVENTQ_TYPE_ARM_SMMUV3";
      v.veventq = { depth, sequence: 0, queued: [] };
      return undefined;
    },
    freeVeventq: (viommu) => {
      const v = this.driver.vsmmus.find((x) => x.id === viommu);
      if (v !== undefined) delete v.veventq;
    },
    invalidate: (viommu, cmds) => this.driver.vsmmuInvalidate(this.driver.vsmmus.find((x) => x.id === viommu)!, cmds),
    // QEMU's accelerated vSMMUv3 (hw/arm/smmuv3-accel.c smmuv3_accel_event_read -> smmuv3_propagate_event)
    // writes the record, StreamID = the vSID, into the guest's event queue; the guest's arm-smmu-v3
    // (a QEMU virt guest booted with ACPI: the IORT node's platform device "arm-smmu-v3.0.auto")
    // prints it from arm_smmu_evtq_thread as any event, naming the master whose StreamID is the vSID:
    // QEMU's virt machine maps RIDs to StreamIDs 1:1 (iommu-map / IORT ID mapping), so the vSID
    // the VMM gave the vDEVICE is the device's guest BDF. Current kernel's format (dmesg.ts renderEvent).
    guestEvent: (record) => renderEvent([record[0]!, record[1]!, record[2]!, record[3]!], GUEST_SMMU_DEVICE, `0000:${formatSid(Number(record[0]! >> 32n))}`),
    commandName: (lo) => COMMAND_NAMES[Number(lo & 0xffn)] ?? `opcode 0x${(lo & 0xffn).toString(16)}`,
    readVeventq: (viommu) => {
      const v = this.driver.vsmmus.find((x) => x.id === viommu);
      return v === undefined ? [] : this.driver.readVeventq(v).map((e) => ({ sequence: e.sequence, lost: e.raw === undefined, record: e.raw === undefined ? [] : [...e.raw] }));
    },
  };

  private iopfView(r: IopfRecord): HostIopf {
    return { cookie: r.cookie, rid: r.sid - this.sidOffset, pasid: r.ssid, grpid: r.grpid, perm: r.perm, addr: r.addr };
  }

  /** bind-pasid / unbind-pasid: a stage-1 domain's CD at the PASID's SubstreamID (pasidBind.ts). */
  pasidStep(st: Extract<Step, { op: "bind-pasid" | "unbind-pasid" | "munmap" | "process-exit" }>, c: PasidSeamContext): void {
    smmuPasidStep(this.driver, this.mem, (rid) => this.sid(rid), st, c);
  }

  domain(did: number): HostDomain | undefined {
    const d = this.driver.domains.find((x) => asHost(x).did === did);
    return d ? asHost(d) : undefined;
  }

  map(d: HostDomain, iova: bigint, hpa: bigint, size: bigint, prot: number): void {
    this.driver.map(d as unknown as SmmuDomain, Number(iova), Number(hpa), Number(size), prot);
  }

  unmap(d: HostDomain, iova: bigint, size: bigint): bigint {
    return BigInt(this.driver.unmap(d as unknown as SmmuDomain, Number(iova), Number(size)));
  }

  domainWidth(d: HostDomain): number {
    return (d as unknown as SmmuDomain).ias;
  }

  endBoot(): void {
    this.driver.issued = [];
  }

  /** A poke of SMMU_STRTAB_BASE: the register write alone (no CMD_CFGI_ALL), so cached STEs still answer. */
  pokeRegister(name: string, value: (old: bigint) => bigint): RegisterPoke | string {
    if (name !== "STRTAB_BASE" && name !== "SMMU_STRTAB_BASE") return `register ${name} is not an SMMUv3 register a poke can write (STRTAB_BASE)`;
    const u = this.unit;
    const old = BigInt(u.strtabBase);
    u.strtabBase = Number(value(old) & 0x000fffffffffffc0n);
    const now = BigInt(u.strtabBase);
    return { old, now, address: this.registerBase + BigInt(SMMU_STRTAB_BASE), summary: `wrote 0x${now.toString(16).padStart(16, "0")} to SMMU_STRTAB_BASE (was 0x${old.toString(16).padStart(16, "0")}); no CMD_CFGI_ALL issued` };
  }

  /** The machine's trace, kept for the commands the evtq thread issues (CMD_RESUME of a stall) after recordInvalidations ran. */
  private trace: Trace | undefined;

  /** The commands the driver issued during the step, CMD_SYNC left out: a = dword 0, b = dword 1. */
  recordInvalidations(trace: Trace, step: number): void {
    this.trace = trace;
    for (const [w0, w1] of this.driver.issued) {
      if ((w0 & 0xffn) === 0x46n) continue;
      trace.pushBig(EventKind.Invalidate, step, Number((w0 >> 32n) & 0xffffn), 0, 0, 0, 0, w0, w1);
    }
    this.driver.issued = [];
  }

  /** arm_smmu_evtq_thread (and the gerror handler) print what they read. */
  serviceFaults(log: KernelLog, ns: bigint, step: number): void {
    for (const line of this.driver.serviceGerror()) log.kernel(ns, line, step);
    for (const line of this.driver.servicePri()) log.kernel(ns, line, step);
    const events = this.unit.pendingEvents().length > 0 || (this.unit.evtqProd & 0x80000000) !== (this.unit.evtqCons & 0x80000000);
    if (events) for (const e of this.driver.serviceEvents(ns)) for (const line of e.lines) log.kernel(ns, line, step);
    // The evtq thread's answers to stalls (CMD_RESUME) belong to this step's trace too.
    if (this.driver.issued.length > 0 && this.trace !== undefined) this.recordInvalidations(this.trace, step);
  }

  snapshot(_prev: HostIommuSnapshot | undefined, _share: Share): { snap: HostIommuSnapshot; bytes: number } {
    const unit = this.unit.snapshot();
    const driver = this.driver.snapshot();
    const bytes = unit.tlb.reduce((n, b) => n + b.byteLength, 0) + (unit.ste.length + unit.cd.length) * 160 + driver.domains.length * 64;
    return { snap: { model: "smmuv3", unit, driver } as SmmuV3HostSnapshot, bytes };
  }

  restore(s: HostIommuSnapshot): void {
    const v = s as SmmuV3HostSnapshot;
    this.unit.restore(v.unit);
    this.driver.restore(v.driver);
  }
}

/** The guest's SMMUv3 as Linux names it: QEMU virt with ACPI, IORT SMMUv3 node -> platform device "arm-smmu-v3.<n>.auto" (acpi_iort.c iort_add_platform_device: PLATFORM_DEVID_AUTO). */
const GUEST_SMMU_DEVICE = "arm-smmu-v3.0.auto";

/** A domain as the seam sees it: its hardware tag (ASID for stage 1, VMID for stage 2) as `did`. */
function asHost(d: SmmuDomain): HostDomain & SmmuDomain {
  const h = d as HostDomain & SmmuDomain;
  // A nesting parent is named 0x8000 | VMID: a stage-2 VMID and a stage-1 ASID count from 1 each, and the seam finds domains by this number.
  // Its label is what the user knows it by (the VMID in its STEs and in CMD_TLBI_S2_IPA / CMD_TLBI_S12_VMALL).
  if (!Object.getOwnPropertyDescriptor(d, "did")) {
    Object.defineProperty(d, "did", { get: () => (d.stage === 1 ? d.asid : d.stage === 2 ? (d.nestParent === true ? nestParentDid(d.vmid) : d.vmid) : 0), enumerable: false });
    Object.defineProperty(d, "label", { get: () => (d.stage === 2 && d.nestParent === true ? nestParentLabel(d.vmid) : undefined), enumerable: false });
  }
  return h;
}

/** The unit's SmmuSpec from the scenario's host.iommu (DEFAULT_SMMU_SPEC without an smmu block). */
function smmuSpecOf(spec: IommuSpec): SmmuSpec {
  const s = spec.smmu;
  return { ...DEFAULT_SMMU_SPEC, ...(s ? { name: s.name, sidBits: s.sidBits, ssidBits: s.ssidBits, oas: s.oas, stage1: s.stage1, stage2: s.stage2, twoLevelStreamTable: s.twoLevel, tlbSets: spec.iotlbSets, tlbWays: spec.iotlbWays, evtqShift: s.evtqShift, ...(s.granules ? { granules: s.granules } : {}), ...(s.stallModel !== undefined ? { stallModel: STALL_MODELS[s.stallModel] } : {}), ...(s.pri !== undefined ? { pri: true } : {}), ...(s.priqShift !== undefined ? { priqShift: s.priqShift } : {}) } : {}) };
}
