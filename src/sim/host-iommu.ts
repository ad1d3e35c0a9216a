/**
 * The seam between the simulated host (machine.ts, vmm.ts) and its IOMMU hardware + the Linux
 * driver for it: what the Machine and the VMM need, and nothing model-specific. Intel VT-d
 * (sim/vtd/host.ts) and AMD-Vi (sim/amdvi/host.ts) implement it; sim/models.ts picks one from
 * `host.iommu.model`. Views do not use this: they read the unit through the IOMMU contract
 * (sim/iommu.ts), which every HostIommu hands out as `iommu`.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { IommuUnit } from "./iommu.js";
import type { KernelLog } from "./klog.js";
import type { DmaTally, DmaTransfer } from "./dma.js";
import type { Trace } from "../trace/trace.js";
import type { Step } from "../scenario/types.js";
import type { DiagnosticCode } from "../protocol/diagnostics.js";

/** A domain of the host driver: one set of I/O page tables, with its hardware domain id. */
export interface HostDomain {
  readonly did: number;
  /**
   * What the user calls the domain where `did` is only the seam's key for it (an SMMUv3 nesting
   * parent is did 0x8000 | VMID: "S2 VMID 1"); absent where the number is the one Linux shows.
   */
  readonly label?: string;
}

/** A domain as summaries and the DMA Trace name it: its label, else its number. */
export const domainName = (d: HostDomain): string => d.label ?? String(d.did);

/** The answer to one side-effect-free probe (a `translate` step). */
export interface ProbeResult {
  /** The model's fault code (0: translated). */
  code: number;
  /** Answered by the IOTLB. */
  cached: boolean;
  hpa: bigint;
  /** Leaf level of a walk (1 = 4 KiB). */
  level: number;
}

/** A register poke's effect, for the trace and the step summary. */
export interface RegisterPoke {
  old: bigint;
  now: bigint;
  /** MMIO address of the register (the trace event's address). */
  address: bigint;
  /** The step's summary: what was written and what it did. */
  summary: string;
}

/** The host IOMMU unit and its Linux driver, as the machine drives them. */
export interface HostIommu {
  /** The unit through the IOMMU contract: what the engine and every view read. */
  readonly iommu: IommuUnit;
  /** MMIO base of the unit's register block (a register poke's trace address). */
  readonly registerBase?: bigint;
  /**
   * The IOVA ranges (inclusive) the driver reserves in every domain, which VFIO refuses to map
   * (vfio_iommu_resv_exclude). Absent: the x86 MSI window 0xfee00000-0xfeefffff.
   */
  reservedIova?(): [bigint, bigint][];
  /** The driver's bring-up at boot (tables, command queues, enabling translation). */
  init(): void;
  /**
   * A new domain (the DMA API default domain of a group, or a VFIO container's). `did`: the id a
   * host-wide allocator chose (models with domainIdFree).
   */
  allocDomain(passThrough: boolean, did?: number): HostDomain;
  /**
   * Present when the model numbers domains from one allocator for all its units (AMD-Vi: one
   * pdom_ids IDA, pdom_id_alloc()): whether this unit has no domain with the id. A host of several
   * such units (sim/multiHost.ts) picks the lowest id free in every unit.
   */
  domainIdFree?(did: number): boolean;
  /**
   * With domainIdFree: the host-wide test of an id a unit allocates by itself (AMD-Vi: the domain
   * id of a device's GCR3 table, setup_gcr3_table's pdom_id_alloc() from the same IDA), so that it
   * avoids every unit's ids and the host's domains not yet attached to this unit.
   */
  useIdSpace?(taken: (did: number) => boolean): void;
  freeDomain(d: HostDomain): void;
  /**
   * iommufd dirty tracking, where the model has it (VT-d: second-level A/D with SLADE). A domain
   * allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, or the reason the driver refuses it (EOPNOTSUPP).
   */
  allocDirtyDomain?(): HostDomain | string;
  /** IOMMU_HWPT_SET_DIRTY_TRACKING on a domain: undefined, or why not (the domain has no dirty ops: EOPNOTSUPP). */
  setDirtyTracking?(d: HostDomain, enable: boolean): string | undefined;
  /**
   * IOMMU_HWPT_GET_DIRTY_BITMAP: the driver's read_and_clear_dirty over [iova, iova + length): the
   * 4 KiB pages the bitmap marks (D cleared in their leaves; a dirty superpage marks all its pages in the range), or why it refused (EINVAL: tracking is off).
   */
  readAndClearDirty?(d: HostDomain, iova: bigint, length: bigint): bigint[] | string;
  /** Attaches requester ids (a device and its DMA aliases) to a domain, leaving any previous one. */
  attach(d: HostDomain, rids: number[]): void;
  /** The live domain with this id (restore maps snapshot ids back to domains). */
  domain(did: number): HostDomain | undefined;
  /** iommu_map / iommu_unmap of the domain (prot: IOMMU_READ = 1 | IOMMU_WRITE = 2); unmap returns bytes unmapped. */
  map(d: HostDomain, iova: bigint, hpa: bigint, size: bigint, prot: number): void;
  unmap(d: HostDomain, iova: bigint, size: bigint): bigint;
  /**
   * A domain spanning several units of one model (sim/multiHost.ts): `d`, a new domain of this unit,
   * takes the page table of `owner`, a domain of unit `from`, so that one table in memory serves
   * every unit (Linux: one pgd per domain). false: not this model, or the tables are not compatible.
   * Absent: each unit keeps its own copy of the mappings.
   */
  shareTable?(d: HostDomain, from: HostIommu, owner: HostDomain): boolean;
  /** After `from` mapped or unmapped `owner`'s table, which `d` shares: what this unit's driver does for it (invalidations). */
  flushShared?(d: HostDomain, from: HostIommu, owner: HostDomain): void;
  /** Width in bits of the IOVAs the domain accepts (VFIO's aperture). */
  domainWidth(d: HostDomain): number;
  /**
   * Boot is over (every device is in its group's default domain, `defaultDomain` of a requester
   * id): firmware-declared direct mappings go in (AMD IVMD unity ranges), and the bring-up's
   * commands are not step events.
   */
  endBoot(defaultDomain: (rid: number) => HostDomain | undefined): void;
  /**
   * The hot path: transactions [from, to) of transfer `x`, one trace event each, summed into
   * `tally`. No allocation per transaction.
   */
  translateRun(x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void;
  /**
   * One request as a `translate` step asks it: caches used and filled, no fault recorded. `pasid`:
   * a request with that PASID (models without PASIDs ignore it; validation refuses it for them).
   */
  probe(sid: number, iova: bigint, write: boolean, pasid?: number): ProbeResult;
  /** One request on the hot path's code (a replay); the fault's fate in `fate` (trace FaultFate). */
  transact(sid: number, iovaHi: number, iovaLo: number, write: boolean): number;
  readonly fate: number;
  /** Runs `use`, then puts the unit's own state (registers, caches, counters; not memory) back. */
  scratch<T>(use: () => T): T;
  /** A `poke` of a named register; a string says why it cannot be done on this model. */
  pokeRegister(name: string, value: (old: bigint) => bigint): RegisterPoke | string;
  /** Moves the invalidation commands processed during the step into the trace. */
  recordInvalidations(trace: Trace, step: number): void;
  /** The fault interrupt, serviced at the end of a step: the driver prints what it read. */
  serviceFaults(log: KernelLog, ns: bigint, step: number): void;
  /**
   * The unit's and the driver's state. `share(old, cur, bytesPerItem)` returns the previous
   * snapshot's array when equal (and counts the bytes of `cur` otherwise); `bytes` is what the
   * snapshot holds beyond what `share` counted.
   */
  snapshot(prev: HostIommuSnapshot | undefined, share: Share): { snap: HostIommuSnapshot; bytes: number };
  restore(s: HostIommuSnapshot): void;
  /** Interrupt remapping through the seam (models other than VT-d); absent: `irte`/`msi` go to VT-d's driver. */
  readonly interrupts?: HostInterruptRemap;
  /**
   * The `bind-pasid` / `unbind-pasid` steps through the seam (Linux's iommu_attach_device_pasid /
   * iommu_detach_device_pasid as the model's driver does them; SMMUv3: a CD per SubstreamID).
   * Absent: the steps go to VT-d's scalable-mode driver (vtd/pasidBind.ts).
   */
  pasidStep?(st: Extract<Step, { op: "bind-pasid" | "unbind-pasid" | "munmap" | "process-exit" }>, c: PasidSeamContext): void;
  /**
   * iommufd fault delivery (fault.c: IOMMU_FAULT_QUEUE_ALLOC, IOMMU_HWPT_FAULT_ID_VALID, the fault
   * fd): where the model's driver can hand a domain's I/O page faults to user space. Absent: no
   * fault delivery on this model here (SMMUv3 stalls only).
   */
  readonly faultQueues?: HostFaultQueues;
  /**
   * iommufd nesting through a vIOMMU (IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_VIOMMU_ALLOC,
   * IOMMU_VDEVICE_ALLOC, a nested hwpt, IOMMU_VEVENTQ_ALLOC). Absent: not modelled (SMMUv3 only).
   */
  readonly nesting?: HostNesting;
}

/** One vEVENT as read() of a vEVENTQ fd returns it (uapi struct iommufd_vevent_header + the model's record). */
export interface HostVEvent {
  sequence: number;
  /** IOMMU_VEVENTQ_FLAG_LOST_EVENTS: the queue was full; no record follows. */
  lost: boolean;
  /** The event record as the guest's vIOMMU would see it (SMMUv3: 4 dwords, StreamID = the vSID). */
  record: bigint[];
}

/** What iommufd's vIOMMU objects need of the host IOMMU driver (HostIommu.nesting). */
export interface HostNesting {
  /** IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT: a paging domain that can be a nesting parent, or why not (EOPNOTSUPP). */
  allocNestParent(): HostDomain | string;
  /** IOMMU_VIOMMU_ALLOC on nesting parent `parent` (its iommufd object `id`), or why not (EINVAL). */
  allocViommu(parent: HostDomain, id: number): string | undefined;
  /** IOMMU_VDEVICE_ALLOC: the device's requester ids get virtual id `virtId` on vIOMMU `viommu`. */
  allocVdevice(viommu: number, rids: number[], virtId: number): void;
  /** IOMMU_HWPT_ALLOC with the model's nested data (SMMUv3: the vSTE): what the domain keeps, or the EIO reason. */
  checkNested(data: readonly [bigint, bigint]): { data: [bigint, bigint]; ats: boolean } | string;
  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT to a nested hwpt: the physical entries written for `rids`. */
  attachNested(viommu: number, data: readonly [bigint, bigint], ats: boolean, rids: number[]): void;
  /** IOMMU_VEVENTQ_ALLOC of the model's type; the reason for EEXIST when the vIOMMU has one. */
  allocVeventq(viommu: number, depth: number): string | undefined;
  /** IOMMU_DESTROY of the vEVENTQ: its queued events go. */
  freeVeventq(viommu: number): void;
  /** read() of the vEVENTQ fd: everything queued, oldest first; the queue is then empty. */
  readVeventq(viommu: number): HostVEvent[];
  /**
   * IOMMU_HWPT_INVALIDATE on the vIOMMU: the guest's commands converted and issued (the commands as
   * the host's queue got them), how many were handled (entry_num), and the first refused one (EIO).
   */
  invalidate(viommu: number, cmds: readonly (readonly [bigint, bigint])[]): { issued: [bigint, bigint][]; handled: number; refused?: { index: number; why: string } };
  /** A command's name in the model's words (CMD_TLBI_NH_VA). */
  commandName(lo: bigint): string;
  /** The lines the guest's driver prints for a vEVENT record the VMM put in the guest vIOMMU's event queue. */
  guestEvent(record: readonly bigint[]): string[];
}

/** One fault group queued for user space, as read() of the fault fd returns it (uapi struct iommu_hwpt_pgfault). */
export interface HostIopf {
  cookie: number;
  /** Requester id of the faulting device. */
  rid: number;
  /** PASID (SubstreamID), -1 none (IOMMU_PGFAULT_FLAGS_PASID_VALID clear). */
  pasid: number;
  grpid: number;
  /** IOMMU_PGFAULT_PERM_READ 1, _WRITE 2, _EXEC 4, _PRIV 8. */
  perm: number;
  addr: bigint;
}

/** What iommufd's fault objects need of the host IOMMU driver (HostIommu.faultQueues). */
export interface HostFaultQueues {
  /** Why requester id `rid` cannot take I/O page faults (attach of a fault-capable hwpt fails -EINVAL), or undefined. */
  iopfUnsupported(rid: number): string | undefined;
  /** Routes the domain's I/O page faults to fault object `fault` (undefined: back to the kernel). */
  setFaultQueue(d: HostDomain, fault: number | undefined): void;
  /** The groups queued on fault object `fault`, oldest first. */
  pending(fault: number): HostIopf[];
  /** The page response written to the fault fd: the answered group, or why the write fails (-EINVAL). */
  respond(fault: number, cookie: number, code: number): HostIopf | string;
}

/** What a model's PASID steps need of the machine (HostIommu.pasidStep). */
export interface PasidSeamContext {
  /** Requester id of a host device, undefined when there is none. */
  sidOf(device: string): number | undefined;
  fail(error: DiagnosticCode, summary: string): void;
  failErrno(errno: "EBUSY" | "ENOENT" | "EINVAL", summary: string): void;
  summary(text: string): void;
}

/** One interrupt remapping table entry as an `irte` step asks for it, in model-neutral terms. */
export interface IrteRequest {
  /** false: the entry is freed (not present / not enabled). */
  present: boolean;
  vector: number;
  /** APIC id of the destination. */
  destination: number;
  /** Faults of this entry are not reported (VT-d FPD, AMD-Vi SupIOPF). */
  suppressFaults: boolean;
  /** AMD-Vi (GA mode): a guest virtual APIC IRTE posting into the vAPIC backing page at this address (GuestMode = 1). */
  posted?: bigint;
  /** AMD-Vi guest virtual APIC IRTE: IsRun (default true); false sends its interrupts to the GA log (when GALogIntr is set). */
  running?: boolean;
  /** AMD-Vi guest virtual APIC IRTE with running false: the vCPU was preempted, not blocked (from Linux 6.17 KVM leaves GALogIntr clear). */
  preempted?: boolean;
  /** AMD-Vi guest virtual APIC IRTE: GATag (default 0, or KVM's AVIC_GATAG(vmId, vcpu) when vcpu is given). */
  gaTag?: number;
  /** AMD-Vi guest virtual APIC IRTE: the vCPU (id, from v6.17 index) KVM tags the entry with (amdvi/avic.ts). */
  vcpu?: number;
  /** AMD-Vi guest virtual APIC IRTE: KVM's AVIC VM id of the tag (default 1: the first VM created). */
  vmId?: number;
}

/** The answer to one MSI write (an `msi` step). */
export interface MsiAnswer {
  /** The model's fault code (0: delivered or aborted without an event). */
  code: number;
  /** What happened to the fault (trace FaultFate numbers). */
  fate: number;
  /** The fault reached the unit's log. */
  recorded: boolean;
  /** The interrupt was delivered (remapped or forwarded unmapped); false: blocked. */
  delivered: boolean;
  /** The step's summary. */
  summary: string;
  /** A posted interrupt: whether it notified (AMD-Vi: the doorbell, or a GA log entry for a vCPU not running); absent otherwise. */
  notified?: boolean;
  /** A posted interrupt: the host address it wrote last (AMD-Vi: its GA log entry, else the vAPIC backing page), the trace row's target. */
  target?: bigint;
}

/**
 * Interrupt remapping behind the seam for a model whose `irte`/`msi` steps the machine does not
 * drive itself (VT-d's go through its own driver): the host IRQ-remapping driver's writes and the
 * unit's answer to an MSI.
 */
export interface HostInterruptRemap {
  /** Writes entry `index` of requester `rid`'s table (and invalidates it when asked); a string says why it cannot. */
  program(rid: number, index: number, e: IrteRequest, invalidate: boolean): { address: bigint; value: bigint; summary: string } | string;
  /** An MSI write of `data` to `address` from requester `rid`, as the unit answers it (events logged). */
  msi(rid: number, address: number, data: number): MsiAnswer;
  /**
   * The host's interrupt threads the step's MSIs raised, run after them (AMD-Vi: the GA log's,
   * amd_iommu_int_thread_galog): their lines into `log`; returns what they did, for the step's
   * summary ("" when nothing ran).
   */
  afterMsi?(log: KernelLog, ns: bigint, step: number): string;
}

/** Opaque to the machine: each model knows its own. */
export interface HostIommuSnapshot {
  readonly model: string;
}

export type Share = <T extends ArrayLike<unknown>>(old: T | undefined, cur: T, perItem: number) => T;
