/**
 * The typed Scenario that `scenario.parse` + `scenario.validate` build from a `*.passthrough.yaml`
 * and that `sim/` runs. Every node keeps the source range it came from, so the simulator's
 * outcomes (faults, errno, failed expectations) point back at the user's text.
 *
 * Addresses and sizes are bigint: IOVAs reach 2^57 with 5-level tables, beyond a double's 53 bits.
 */
import type { Bdf } from "../sim/bdf.js";

// The taxonomy of problems is the protocol's (protocol/diagnostics.ts): one list of codes.
import type { Diagnostic, DiagnosticCode, Severity, SourceRange } from "../protocol/diagnostics.js";
export type { Diagnostic, DiagnosticCode, Severity, SourceRange };

/** A PCI address. segment 0 unless given as SSSS:BB:DD.F. */
/** A PCI address: the one definition is sim/bdf.ts. */
export type { Bdf } from "../sim/bdf.js";

export type PciKind =
  | "host-bridge"
  | "root-port"
  | "switch-upstream"
  | "switch-downstream"
  | "pcie-pci-bridge"
  | "endpoint"
  /** Root-complex integrated endpoint (bus 0, no parent port). */
  | "integrated";

export interface PciDeviceSpec {
  bdf: Bdf;
  /** The text the user wrote, normalised "BB:DD.F" (segment 0) or "SSSS:BB:DD.F". */
  key: string;
  kind: PciKind;
  /** Parent port/bridge key; undefined for devices on the root bus. */
  parent?: string;
  vendorId?: number;
  deviceId?: number;
  name?: string;
  /** Bound host driver: "vfio-pci", "pci-stub", a host driver name, or undefined = no driver. */
  driver?: string;
  /** ACS capability with SV|RR|CR|UF enabled (what Linux requires for isolation). */
  acs: boolean;
  /** Set on function 0 of a multifunction device (header type bit 7). Derived when siblings exist. */
  multifunction?: boolean;
  /** For bridges: the secondary bus number (defaults to the bus of the first child). */
  secondaryBus?: number;
  /** For bridges: the subordinate bus number, the last bus below it (when given, VFs must fit). */
  subordinateBus?: number;
  /**
   * ARI (PCIe Base Spec 6.13): on a root or downstream port, ARI Forwarding Supported (DevCap2);
   * on a function, the ARI extended capability. Linux enables ARI Forwarding when both hold for
   * function 0 below the port (drivers/pci/pci.c pci_configure_ari). Undefined: assumed present;
   * `false` makes VFs at function numbers 8-255 an error (scenario/sriov.ts).
   */
  ari?: boolean;
  /** A physical function's SR-IOV capability (see scenario/sriov.ts). */
  sriov?: SriovSpec;
  /** Set on a virtual function: its PF's key and its VF number (1-based, as the spec counts). */
  physfn?: string;
  vfNumber?: number;
  range: SourceRange;
}

/**
 * The SR-IOV extended capability of a physical function (PCIe Base Spec 9.3.3, "SR-IOV Extended
 * Capability"): TotalVFs, NumVFs, First VF Offset, VF Stride, VF Device ID. `vfDriver` is the
 * driver every VF is bound to (a VF listed in host.pci with `physfn` can name its own).
 */
export interface SriovSpec {
  totalVfs: number;
  numVfs: number;
  firstVfOffset: number;
  vfStride: number;
  vfDeviceId?: number;
  vfDriver?: string;
  range: SourceRange;
}

/** Options of an Arm SMMUv3 host IOMMU (model smmuv3; docs/smmuv3.md). */
export interface SmmuV3Spec {
  /** The SMMU's platform device name in log lines ("arm-smmu-v3.0.auto" under ACPI/IORT). */
  name: string;
  /** SMMU_IDR1.SIDSIZE / SSIDSIZE. */
  sidBits: number;
  ssidBits: number;
  /** SMMU_IDR5.OAS in bits. */
  oas: number;
  /** SMMU_IDR0.S1P / S2P: the stages the SMMU implements. */
  stage1: boolean;
  stage2: boolean;
  /** The stage of the driver's paging domains (1 by default when S1P). */
  stage: 1 | 2;
  /** SMMU_IDR0.ST_LVL allows a 2-level stream table. */
  twoLevel: boolean;
  /** log2 of the event queue's entries. */
  evtqShift: number;
  /** log2 of the PRI queue's entries (host.iommu.pri-queue, SMMU_IDR1.PRIQS); absent: the event queue's. */
  priqShift?: number;
  /** The root complex's iommu-map (IORT ID mapping): StreamID = RID - ridBase + sidBase. */
  ridBase: number;
  sidBase: number;
  /** SMMU_IDR5.GRAN4K/16K/64K as shifts (12, 14, 16); absent: all three. */
  granules?: number[];
  /** The host kernel's PAGE_SIZE as a shift (io-pgtable-arm's granule); absent: 12 (4 KiB). */
  pageShift?: number;
  /** SMMU_IDR0.STALL_MODEL: "stall" 0b00 (absent), "none" 0b01 (terminate only), "force" 0b10. */
  stallModel?: "stall" | "none" | "force";
  /** PCI devices with ATS that Linux enables (arm_smmu_enable_ats: STE.EATS, CMD_ATC_INV on unmap). */
  ats?: AtsDeviceSpec[];
  /** false: the driver omits CMD_ATC_INV after unmap (a driver bug: the endpoint's ATC stays stale). */
  atsInvalidation?: boolean;
  /** false: the SVA mmu notifier never reaches the SMMU (no CMD_TLBI_NH_VA/ASID, no CMD_ATC_INV after a munmap): a what-if knob. */
  svaInvalidation?: boolean;
  /** Device keys of ATS devices whose PCIe PRI is enabled; present: the SMMU has a PRI queue (SMMU_IDR0.PRI). */
  pri?: string[];
  /** Device keys of PCI devices with a PASID capability (arm_smmu_enable_pasid: SubstreamIDs, a CD per PASID; docs/smmuv3-pasid.md). */
  pasid?: string[];
}

/** An IVRS IVMD unity range (ACPI IVRS, type 0x21/0x22 with the Unity flag): a 1:1 mapping firmware requires for a device. */
export interface UnityMapSpec {
  /** Device key as the scenario writes it. */
  device: string;
  start: bigint;
  size: bigint;
  /** IVMD flags IR / IW. */
  read: boolean;
  write: boolean;
  range: SourceRange;
}

/** Options of an AMD-Vi host IOMMU (model amd-vi). */
export interface AmdViSpec {
  unityMaps: UnityMapSpec[];
  /**
   * The IVRS IVHD device entries as bytes (scenario/ivhd.ts), one block per `ivhd:` item in table
   * order: which device ids the unit covers, their DTE settings and their DMA aliases.
   */
  ivhd?: IvhdBlockSpec[];
  /** Linux's AMD-Vi interrupt remapping (on unless amd_iommu_intr / intremap=off says otherwise). */
  intremap?: boolean;
  /** 128-bit (GA) IRTEs, Control.GAEn (Linux's default where the unit has GA; amd_iommu_intr=legacy: 32-bit). */
  ga?: boolean;
  /** Devices with ATS that Linux enables (DTE I = 1, INVALIDATE_IOTLB_PAGES on unmap). */
  ats?: AtsDeviceSpec[];
  /**
   * false: Linux's PPR interrupt thread does not run by itself (a starved or blocked IRQ thread):
   * page requests stay in the PPR log until a `page-response` step services it, so a burst can
   * fill the 512-entry log (PPROverflow). Absent: true, each page request is answered at once.
   */
  pprInterrupt?: boolean;
}

/** An ATS-capable device of an AMD-Vi host: `responds: false` never completes an ATS invalidation. */
export interface AtsDeviceSpec {
  device: string;
  responds: boolean;
  /** AMD-Vi: the device has PRI (PCIe Page Request Interface): not-present faults of its PASID requests go to the PPR log. */
  pri?: boolean;
  /**
   * false: the driver unmaps without invalidating this device's own translation cache (AMD-Vi:
   * INVALIDATE_IOTLB_PAGES; VT-d: the Device-TLB invalidation), the classic bug: the device keeps
   * translating through its stale entries. Absent: true.
   */
  invalidate?: boolean;
  /**
   * VT-d: false - the endpoint was surprise-removed (link down): it answers no Device-TLB
   * invalidation, and Linux's pci_device_is_present() is false for it. Absent: true.
   */
  present?: boolean;
  range: SourceRange;
}

/** One `host.iommu.ivhd` item, encoded to IVHD device-entry bytes. */
export interface IvhdBlockSpec {
  bytes: number[];
  range: SourceRange;
}

export interface IommuSpec {
  model: "intel-vtd" | "smmuv3" | "amd-vi";
  /**
   * MMIO base of the unit's register block (`register-base` of a `host.iommus` unit, or its default
   * by position: scenario/parse.ts defaultRegisterBase); absent: the model's one-unit default.
   */
  registerBase?: bigint;
  /** SMMUv3 only: its own options (the VT-d fields keep their defaults; iotlbSets/Ways size its TLB). */
  smmu?: SmmuV3Spec;
  /** AMD-Vi only: its own options (the VT-d fields keep their defaults and mean nothing there). */
  amd?: AmdViSpec;
  /** MGAW = HAW in this model: 39, 48 or 57. */
  addressWidth: 39 | 48 | 57;
  /** SAGAW bitmap as widths; defaults to every width <= addressWidth that VT-d defines. */
  sagaw: (39 | 48 | 57)[];
  cachingMode: boolean;
  /** Number of fault recording registers (CAP.NFR + 1). */
  faultRecords: number;
  /** CAP.ND: number of domains = 2^(4 + 2*nd). */
  nd: number;
  /** IOTLB geometry: sets (power of two) x ways. */
  iotlbSets: number;
  iotlbWays: number;
  /** Second-level superpage sizes supported (CAP.SLLPS): 2 MiB and/or 1 GiB. */
  superpages: { "2M": boolean; "1G": boolean };
  /** ECAP.PT. */
  passThrough: boolean;
  /** ECAP.QI: the driver uses queued invalidation; otherwise register-based CCMD/IOTLB_REG. */
  queuedInvalidation: boolean;
  /** ECAP.DT (device-TLB); when false, T=01 in a context entry is invalid and TM is reserved. */
  deviceTlb: boolean;
  /** CAP.PSI and CAP.MAMV. */
  pageSelectiveInvalidation: boolean;
  mamv: number;
  /** Host kernel option iommu=pt: host-driver devices get a pass-through context entry. */
  hostPassThrough: boolean;
  /**
   * ECAP.SMTS, and the host driver runs the unit in scalable mode (RTADDR.TTM = 01; Linux's default
   * on SMTS hardware, intel_iommu=sm_on/sm_off). Absent: legacy mode (docs/scalable-mode.md).
   */
  scalable?: boolean;
  /** ECAP.FLTS (first-level translation; Linux then uses first-level tables for DMA domains). Default: true with `scalable`. */
  firstLevel?: boolean;
  /** ECAP.SLTS (second-level translation). Default: true. */
  secondLevel?: boolean;
  /**
   * ECAP.SLADS: second-level Accessed/Dirty bits, which a PASID entry's SLADE turns on (Linux sets it
   * for iommufd dirty tracking only). Scalable mode only; default false.
   */
  slads?: boolean;
  /**
   * ECAP.SMPWC: scalable-mode page walks snoop the CPU caches. Linux copies it into each PASID
   * entry's PWSNP (pasid_set_page_snoop); with PWSNP = 0 a walk that must set an Accessed/Dirty bit
   * faults (0x90 first level, 0x7c second level with SLADE; VT-d 3.10). Scalable mode only; default true.
   */
  smpwc?: boolean;
  /** ECAP.NEST (nested translation). Default: true with `scalable`. */
  nested?: boolean;
  /** ECAP.PSS + 1: PASID width in bits (ECAP.PASID when above 0). Default: 20 with `scalable`. */
  pasidBits?: number;
  /** ECAP.IR: interrupt remapping; the host driver enables it at boot (docs/interrupt-remapping-and-reserved-regions.md). */
  intremap?: boolean;
  /** ECAP.EIM: x2APIC mode (IRTA.EIME, 32-bit destination ids). */
  eim?: boolean;
  /** CAP.PI: posted interrupts (posted-format IRTEs; KVM posts assigned devices' MSIs into vCPUs). Default false. */
  postedInterrupts?: boolean;
  /** The firmware's RMRRs (ACPI DMAR table): memory the listed devices DMA to behind the OS's back. */
  rmrr?: RmrrSpec[];
  /** VT-d: the ATS endpoints whose ATS Linux enables (needs ECAP.DT, `device-iotlb: true`; docs/vtd-device-tlb.md). */
  ats?: AtsDeviceSpec[];
  /** VT-d scalable mode: ATS endpoints with a PRI capability (ECAP.PRS, context entry PRE; docs/vtd-scalable-device.md). */
  pri?: string[];
  /** VT-d: Linux's PRQ_ORDER, the page request queue's PQA.PQS (2^(order + 7) descriptors); default 4. */
  prqOrder?: number;
  /**
   * VT-d: second-level paging-structure caches (VT-d spec 6.2.4; sim/vtd/psc.ts), `entries` slots
   * (1..1024) replaced by `replacement`. Absent: none (QEMU's model: leaf translations only).
   */
  pagingStructureCache?: { entries: number; replacement: "fifo" | "lru" };
  /** VT-d 3.x page request private data (PDP): the unit queues it and takes it back in the page group response (removed in VT-d 4.0). Default false. */
  prqPrivateData?: boolean;
  range: SourceRange;
}

/**
 * One unit of `host.iommus`: the unit's options (as `host.iommu` takes them) and its scope - the
 * devices whose requests it translates. VT-d: a DRHD's device scope, or INCLUDE_PCI_ALL
 * (`include-all: true`, the last DRHD); AMD-Vi: an IVHD's device entries; SMMUv3: the IORT root
 * complex's devices. A bridge or port in the scope covers every device below it.
 */
export interface IommuUnitSpec {
  /** Linux's name of the unit: "dmar0", "dmar1" ... in DRHD order; "ivhd0" ...; "arm-smmu-v3.0.auto" ... */
  name: string;
  iommu: IommuSpec;
  /** Keys of the host devices (and bridges: everything below them) in the unit's scope. */
  devices: string[];
  /** VT-d INCLUDE_PCI_ALL: every device no other unit's scope names. */
  includeAll: boolean;
  range: SourceRange;
}

/** One Reserved Memory Region Reporting structure (VT-d 8.4): [base, end] and its device scope. */
export interface RmrrSpec {
  base: bigint;
  /** Inclusive last byte (the ACPI field "End Address", 4 KiB aligned minus 1). */
  end: bigint;
  /** Keys of the host devices in the RMRR's device scope. */
  devices: string[];
  range: SourceRange;
}

export interface HostSpec {
  /** Host DRAM in bytes. */
  memory: bigint;
  /** Granule of guest RAM backing: 4 KiB pages, 2 MiB THP or 1 GiB hugetlbfs. */
  backing: bigint;
  /** RLIMIT_MEMLOCK of the VMM process in bytes; undefined = unlimited (CAP_IPC_LOCK). */
  memlock?: bigint;
  /** vfio_iommu_type1 dma_entry_limit (default 65535). */
  dmaEntryLimit: number;
  /** Kernel version whose dmesg format faults are rendered in, e.g. "6.8" (default current). */
  kernel: string;
  /** Seed of the deterministic host allocator's placement of guest RAM. */
  seed: number;
  /** The host's IOMMU unit; with `host.iommus`, the first of them (its model is every unit's). */
  iommu: IommuSpec;
  /**
   * `host.iommus`: a host of several units of one model, each translating the devices of its scope
   * (docs/multi-unit.md). Absent: one unit, `iommu`, translates every device.
   */
  iommus?: IommuUnitSpec[];
  pci: PciDeviceSpec[];
  /** `pcie_acs_override=` (out-of-tree patch), as scenario/acsOverride.ts reads it. */
  acsOverride?: AcsOverrideSpec;
  /** The host kernel's command line (`host.kernel-params`) as far as the simulation reads it. */
  kernelParams?: KernelParamsSpec;
  range: SourceRange;
}

/** `host.kernel-params`: the options of the host kernel's command line the simulation models. */
export interface KernelParamsSpec {
  /** The command line as written. */
  text: string;
  /** pci=noari: Linux never enables ARI (SR-IOV VFs only at functions 0-7 below a link). */
  noAri: boolean;
  /** amd_iommu=pgtbl_v1|pgtbl_v2: the page table of AMD-Vi DMA domains (init.c parse_amd_iommu_options); absent: v1. */
  amdPgtable?: "v1" | "v2";
  range: SourceRange;
}

/** The parsed `pcie_acs_override=` option: which devices the quirk claims have ACS. */
export interface AcsOverrideSpec {
  /** The option text as written (items joined with ","). */
  text: string;
  downstream: boolean;
  multifunction: boolean;
  ids: { vendor: number; device: number }[];
  range: SourceRange;
}

export interface ViommuSpec {
  /** QEMU's intel-iommu (legacy mode) or virtio-iommu-pci (sim/viommu.ts). */
  model: "intel" | "virtio-iommu";
  /** intel-iommu caching-mode; virtio-iommu has no caching mode (QEMU hears every MAP): always true there. */
  cachingMode: boolean;
  /**
   * aw-bits: intel-iommu 39 or 48 (default 48, QEMU 9.2+), the guest's MGAW; virtio-iommu 32..64
   * (default 48 on Arm virt, 39 on q35), its input range.
   */
  awBits?: number;
  /** virtio-iommu granule in bytes (QEMU granule=4k|8k|16k|64k; default: the host's page, 4 KiB). */
  granule?: number;
  /**
   * virtio-iommu: the guest's devices are in an identity domain (guest iommu.passthrough=1), which
   * the driver attaches with VIRTIO_IOMMU_ATTACH_F_BYPASS: QEMU maps all guest RAM, and a MAP fails.
   */
  bypass?: boolean;
  /** QEMU intel-iommu device-iotlb=on: ECAP.DT, the guest may use ATS (device-TLB) contexts. */
  deviceIotlb?: boolean;
  /** QEMU intel-iommu intremap=on / eim=on (needs the VM's irqchip: split). */
  intremap?: boolean;
  eim?: boolean;
  range: SourceRange;
}

export interface VmSpec {
  name: string;
  memory: bigint;
  /** Keys of assigned host devices (vfio-pci). */
  devices: string[];
  viommu?: ViommuSpec;
  /** VFIO backend: the type1 container (default) or iommufd (sim/iommufd.ts). */
  backend?: "type1" | "iommufd";
  /**
   * iommufd's IOMMU_OPTION_RLIMIT_MODE for the VM's /dev/iommu: "user" (0, the kernel's default:
   * every VMM of the same user charges one locked_vm) or "mm" (1: the VMM process's own, as libvirt
   * sets it). Absent: "mm" with a `libvirt:` block, else "user" (sim/iommufd.ts rlimitMode).
   */
  rlimitMode?: "user" | "mm";
  /** The VM as libvirt defines it, where that changes RLIMIT_MEMLOCK (sim/reserved.ts memlockNeed). */
  libvirt?: LibvirtMemSpec;
  range: SourceRange;
}

/**
 * The domain XML facts libvirt's qemuDomainGetMemLockLimitBytes() reads. A VM with this block is
 * started by libvirt, which raises the VMM's RLIMIT_MEMLOCK to its limit (never lowers it).
 */
export interface LibvirtMemSpec {
  /** <memtune><hard_limit>: used as the memlock limit instead of the computed one. */
  hardLimit?: bigint;
  /** <memoryBacking><locked/>: no memlock limit at all. */
  locked?: boolean;
  /** <disk type='nvme'> disks (QEMU's userspace NVMe driver maps guest RAM through VFIO too). */
  nvmeDisks?: number;
  /** vDPA network interfaces and vhost-vdpa disks. */
  vdpaDevices?: number;
  range: SourceRange;
}

export type Perm = "r" | "w" | "rw";

/** What a step is expected to produce. All present fields must hold. */
export interface Expectation {
  /** `ok`: no fault, no errno, no error. */
  ok?: boolean;
  /** VT-d fault reason code (e.g. 0x05). */
  fault?: number;
  /** errno name, e.g. "EEXIST", "ENOMEM", "ENOSPC", "EINVAL". */
  errno?: string;
  /** Named error of a non-ioctl failure, e.g. "group-not-viable", "caching-mode-required". */
  error?: string;
  /** Translated address of the first transaction (dma / translate). */
  hpa?: bigint;
  /** IOTLB outcome of the first transaction ("device-tlb": a Translated Request from the device's Device-TLB, ATS). */
  iotlb?: "hit" | "miss" | "device-tlb";
  /** Number of faulting transactions in the step (dma with length/repeat). */
  faults?: number;
  /** Whether the fault was recorded in a fault recording register (false: suppressed by FPD or overflow). */
  recorded?: boolean;
  /**
   * The PASID of the request the step's outcome is about: its first faulting request, or its first
   * request when none faulted (`pasid: none` in YAML, -1 here: a request without PASID).
   */
  pasid?: number;
  /**
   * Device-TLB invalidate descriptors (QI type 0x3) the guest's driver queued on its vIOMMU in the
   * step (guest-map / guest-unmap): QEMU processes each, and none reaches VFIO.
   */
  deviceIotlbInvalidations?: number;
  /** Posted interrupts: whether the MSI sent a notification event (false: coalesced into an outstanding one, or suppressed by SN). */
  notification?: boolean;
  /** IOMMU_HWPT_GET_DIRTY_BITMAP: the IOVAs of the pages the bitmap marks dirty, in order. */
  dirty?: bigint[];
  range: SourceRange;
}

/** One device's transfer of a `dma` step. */
export interface DmaTransferSpec {
  device: string;
  iova: bigint;
  length: bigint;
  write: boolean;
  repeat: number;
  pasid?: number;
  /** The device uses PCIe ATS: its ATC, Translation Requests on a miss, then Translated requests (SMMUv3). */
  ats?: boolean;
  /** A Translated Request (PCIe AT = translated): `iova` is the host physical address the device already holds (ATS). */
  translated?: boolean;
  /** Where the transfer is written (the step's own range for a single-device step). */
  range: SourceRange;
}

interface StepBase {
  /** 0-based index in the workload. */
  index: number;
  range: SourceRange;
  expect?: Expectation;
}

export type Step =
  | (StepBase & { op: "start"; vm: string })
  | (StepBase & { op: "stop"; vm: string })
  | (StepBase & { op: "assign"; vm: string; device: string })
  | (StepBase & { op: "detach"; vm: string; device: string })
  /** VFIO_IOMMU_MAP_DMA issued by the VM's VMM: IOVA -> the HVA of guest-physical `gpa` (default = iova). */
  | (StepBase & { op: "map"; vm: string; iova: bigint; size: bigint; perm: Perm; gpa?: bigint })
  | (StepBase & { op: "unmap"; vm: string; iova: bigint; size: bigint })
  /** The guest programs its vIOMMU; with caching mode the VMM shadows it into VFIO (map). */
  /** The guest maps; `invalidate: false` models a guest that forgets the caching-mode IOTLB flush after a map. */
  | (StepBase & { op: "guest-map"; vm: string; device: string; iova: bigint; size: bigint; perm: Perm; gpa: bigint; invalidate?: boolean })
  /** The guest unmaps; `invalidate: false` models a guest that forgets the IOTLB invalidation. */
  | (StepBase & {
      op: "guest-unmap";
      vm: string;
      device: string;
      iova: bigint;
      size: bigint;
      invalidate: boolean;
      /**
       * false: the guest's intel-iommu driver flushes the IOTLB but forgets the Device-TLB invalidation
       * (QI type 0x3) it owes an ATS device behind a device-iotlb=on vIOMMU (docs/guest-viommu.md).
       */
      deviceIotlbInvalidate?: boolean;
    })
  /**
   * Device DMA: `length` bytes from `iova`, split at 4 KiB page boundaries, the whole thing `repeat`
   * times. Written as a list (`dma: [ {...}, {...} ]`), several devices' transfers in one step:
   * `transfers` holds them all, their transactions interleaved one by one as they reach the IOMMU,
   * and the step's own fields are those of the first.
   */
  | (StepBase & DmaTransferSpec & { op: "dma"; transfers?: DmaTransferSpec[] })
  /** A raw invalidation descriptor submitted to the IOMMU (queued invalidation). */
  | (StepBase & {
      op: "invalidate";
      granularity: "global" | "domain" | "page" | "context-global" | "context-domain" | "context-device" | "pasid-cache" | "pasid" | "pasid-page" | "interrupt-global" | "interrupt-entry" | "device-tlb";
      /** interrupt-entry: the IRTE index (YAML `index`); `am` gives 2^am entries. */
      entry?: number;
      domain?: number;
      device?: string;
      iova?: bigint;
      /** Address mask: 2^am pages. */
      am?: number;
      ih?: boolean;
      /** The PASID of a pasid-cache (optional), pasid or pasid-page invalidation (scalable mode). */
      pasid?: number;
    })
  /** Writes a raw 64-bit value into a table entry or RTADDR (reproduces corruption). */
  | (StepBase & {
      op: "poke";
      /** Either an explicit HPA ... */
      address?: bigint;
      /** ... or a structure located through the device's tables ... */
      target?: { device: string; structure: PokeStructure; iova?: bigint; level?: number; /** pasid-entry: the PASID and the entry's 64-bit word. */ pasid?: number; word?: number };
      /** ... or a DMAR register: RTADDR is written, then latched with GCMD.SRTP ... */
      register?: PokeRegister;
      /** ... or a word of VM `vm`'s RAM at this guest-physical address (what its guest kernel wrote: a nested guest's CD or page table). */
      gpa?: bigint;
      vm?: string;
      /** The unit whose register (a host of several units, host.iommus: "dmar1"); absent: the first unit. */
      unit?: string;
      /** The new value; absent for a read-modify-write ... */
      value?: bigint;
      /** ... which sets these bits of the current value ... */
      set?: bigint;
      /** ... and clears these. */
      clear?: bigint;
    })
  /** A side-effect-free probe: what would the IOMMU do for this request now. Carries an expectation. */
  | (StepBase & { op: "translate"; device: string; iova: bigint; write: boolean; /** Scalable mode: a request with this PASID. */ pasid?: number })
  /** Advances simulated time (ratelimits, timestamps). */
  | (StepBase & { op: "wait"; ns: bigint })
  /**
   * Scalable mode: binds a PASID of a device to an address space (Linux iommu_attach_device_pasid /
   * iommu_sva_bind_device): a PASID table entry with the mode's PGTT, and the first-level (or
   * second-level) tables holding `maps`. docs/scalable-mode.md.
   */
  | (StepBase & { op: "bind-pasid"; device: string; pasid: number; mode: PasidMode; /** Second-level or nested: SLADE in the PASID entry (Linux: a domain with dirty tracking, intel_pasid_setup_dirty_tracking). */ dirtyTracking?: boolean; /** Nested: the VM whose guest RAM is the second level (the `vm:` key). */ guestVm?: string; supervisor: boolean; wpe: boolean; maps: PasidMapSpec[]; /** SMMUv3: iommu_sva_bind_device, the PASID shares the process's CPU page table (arm_smmu_make_sva_cd). */ sva?: boolean })
  /** Tears the PASID's entry down as intel_pasid_tear_down_entry() does (PASID-cache and IOTLB invalidations). */
  | (StepBase & { op: "unbind-pasid"; device: string; pasid: number })
  /**
   * SMMUv3 SVA: the process bound to `pasid` of `device` (bind-pasid sva: true) unmaps [va, va + size)
   * (munmap: its PTEs cleared), and the mmu notifier invalidates the SMMU's TLB and the ATCs
   * (arm-smmu-v3-sva.c arm_smmu_mm_arch_invalidate_secondary_tlbs). docs/smmuv3-pasid.md.
   */
  | (StepBase & { op: "munmap"; device: string; pasid: number; va: bigint; size: bigint })
  /**
   * SMMUv3 SVA: the process bound to `pasid` of `device` (bind-pasid sva: true) exits: exit_mmap
   * runs the mmu notifiers' release (arm_smmu_mm_release), which makes the PASID's CD fault
   * everything while the device may still do DMA (smmuv3/pasidBind.ts svaRelease).
   */
  | (StepBase & { op: "process-exit"; device: string; pasid: number })
  /**
   * DMA by a device QEMU emulates in VM `vm` (virtio-net, e1000e, ...) at guest BDF `bdf`, through
   * the VM's virtio-iommu: QEMU's virtio_iommu_translate, which reports faults on the event queue
   * (an assigned device's DMA never goes through it). `endpoint`: what the guest's driver did with
   * the endpoint (attached to the VM's domain; detached; never attached: unknown to QEMU).
   */
  | (StepBase & { op: "emulated-dma"; vm: string; bdf: string; iova: bigint; length: bigint; write: boolean; endpoint: "attached" | "detached" | "unknown" })
  /**
   * VT-d scalable mode: Linux's page request handler runs (prq_event_thread: the page request
   * queue, iommu_sva_handle_iopf, a page group response descriptor per request), and the device
   * retries the Translation Requests that were answered (docs/vtd-scalable-device.md).
   */
  | (StepBase & { op: "page-response"; device: string })
  /**
   * VT-d scalable mode: a PCIe Page Request Message from a PRI device (VT-d 7.4.1.1): `pages`
   * consecutive pages from `address` in one page request group (index `prgi`, default the unit's
   * next), the last with LPIG unless `last: false`; without `pasid` the request has no PASID (PP = 0).
   */
  | (StepBase & { op: "page-request"; device: string; address: bigint; pasid?: number; write: boolean; read: boolean; exec: boolean; privileged: boolean; pages: number; last: boolean; prgi?: number; privateData?: bigint })
  /**
   * The host's IRQ-remapping driver programs (or clears) one IRTE for a device, as VFIO_DEVICE_SET_IRQS
   * makes it do (modify_irte / free_irte), then invalidates the interrupt entry cache unless
   * `invalidate: false`.
   */
  | (StepBase & IrteStepSpec & { op: "irte" })
  /** The device writes an MSI: remappable format with a handle (index) and optional subhandle, or compatibility format. */
  | (StepBase & MsiStepSpec & { op: "msi" })
  /** KVM writes a vCPU's posted-interrupt descriptor (VT-d posted interrupts; docs/posted-interrupts-and-invalidation-errors.md). */
  | (StepBase & PostedDescriptorStepSpec & { op: "posted-descriptor" })
  /** An iommufd ioctl of the VM's VMM on its /dev/iommu objects (sim/iommufdObjects.ts). */
  | (StepBase & IommufdStepSpec & { op: "iommufd" });

/** How a bound PASID translates (the PASID entry's PGTT). */
export type PasidMode = "first-level" | "second-level" | "nested" | "pass-through";
export const PASID_MODES = ["first-level", "second-level", "nested", "pass-through"] as const;

/** One mapping of a bound PASID's address space: `size` bytes from virtual address `va`. */
export interface PasidMapSpec {
  va: bigint;
  size: bigint;
  perm: Perm;
  /** U/S = 1: user requests (and requests without PASID) may use it. Default true. */
  user: boolean;
  /** false: the first-level leaf starts with A = D = 0 (a page the CPU never touched); the unit sets them on DMA. Default true. */
  accessed?: boolean;
  /** The host page behind it (first-level, second-level); absent: pages the host allocates. */
  hpa?: bigint;
  /** Nested: the guest-physical page behind it (the guest's first-level tables map va -> gpa). */
  gpa?: bigint;
  /**
   * false: in the process's address space but not faulted in yet (no first-level / v2 leaf); a PRI
   * device's page request (VT-d page request queue, AMD-Vi PPR log) makes Linux map it. Default true.
   */
  present?: boolean;
  range: SourceRange;
}

export interface IrteStepSpec {
  device: string;
  /** The IRTE index (YAML `index`). */
  entry: number;
  /** false: free_irte (the entry is cleared, P = 0). */
  present: boolean;
  vector: number;
  /** APIC destination id. */
  destination: number;
  /** Posted format: the posted-interrupt descriptor address. */
  posted?: bigint;
  urgent: boolean;
  fpd: boolean;
  /** Source validation: by requester id (Linux's choice), by bus, none; default what Linux's set_msi_sid picks. */
  svt?: "requester" | "bus" | "none";
  sq: number;
  /** Issue the IEC invalidation (qi_flush_iec) after the write. */
  invalidate: boolean;
  /**
   * AMD-Vi guest virtual APIC IRTE (with `posted`): IsRun, the vCPU runs now (default true; false is
   * KVM's amd_iommu_update_ga for a vCPU put or blocked: interrupts go to the GA log).
   */
  running?: boolean;
  /**
   * AMD-Vi guest virtual APIC IRTE with `running: false`: the vCPU was preempted (scheduled out while
   * runnable), not blocked; from Linux 6.17 KVM leaves GALogIntr clear for it (sim/amdvi/avic.ts kvmGaLogIntr).
   */
  preempted?: boolean;
  /** AMD-Vi guest virtual APIC IRTE: GATag, the tag a GA log entry carries (KVM's AVIC_GATAG(vm, vcpu)); default 0. */
  gaTag?: number;
  /** AMD-Vi guest virtual APIC IRTE: the vCPU (id; from Linux 6.17 index) whose tag KVM writes: GATag = AVIC_GATAG(vmId, vcpu) in the host kernel's layout. */
  vcpu?: number;
  /** With vcpu: KVM's AVIC VM id (1-based, in VM creation order; default 1). */
  vmId?: number;
}

/** `iommufd: { vm, ioctl, ... }`: which fields an ioctl takes is in scenario/parse.ts IOMMUFD_FIELDS. */
export interface IommufdStepSpec {
  vm: string;
  ioctl: (typeof IOMMUFD_IOCTLS)[number];
  /** IOAS id (MAP, UNMAP; COPY's destination). */
  ioas?: number;
  srcIoas?: number;
  iova?: bigint;
  srcIova?: bigint;
  gpa?: bigint;
  length?: bigint;
  device?: string;
  /** HWPT_ALLOC's IOAS, ATTACH's IOAS or hwpt. */
  pt?: number;
  /** IOMMU_DESTROY's object id. */
  id?: number;
  /** HWPT_ALLOC's fault_id (IOMMU_HWPT_FAULT_ID_VALID); IOMMU_HWPT_PAGE_RESPONSE's fault object. */
  fault?: number;
  /** IOMMU_HWPT_PAGE_RESPONSE: the group's cookie (absent: the oldest queued group) and the code. */
  cookie?: number;
  code?: "success" | "invalid";
  /** HWPT_ALLOC: IOMMU_HWPT_ALLOC_DIRTY_TRACKING (a domain that can track dirty pages). */
  dirtyTracking?: boolean;
  /** SET_DIRTY_TRACKING: IOMMU_HWPT_DIRTY_TRACKING_ENABLE set (true) or clear. */
  enable?: boolean;
  /** HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT (`nest-parent: true`): a stage-2 domain a vIOMMU can nest over. */
  nestParent?: boolean;
  /** HWPT_ALLOC on a vIOMMU (`pt` = the vIOMMU): IOMMU_HWPT_DATA_ARM_SMMUV3's vSTE, two 64-bit words. */
  vste?: [bigint, bigint];
  /** VDEVICE_ALLOC / VEVENTQ_ALLOC: the vIOMMU object. */
  viommu?: number;
  /** VDEVICE_ALLOC's virt_id (the guest's StreamID of the device: vSID). */
  virtId?: number;
  /** VEVENTQ_ALLOC's veventq_depth. */
  depth?: number;
  /** IOMMU_VEVENTQ_READ: the vEVENTQ object whose fd the VMM reads. */
  veventq?: number;
  /**
   * IOMMU_HWPT_INVALIDATE (`id`: hwpt_id, a vIOMMU): the guest's commands the VMM trapped, as
   * IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 entries (struct iommu_viommu_arm_smmuv3_invalidate: two 64-bit words each).
   */
  cmds?: [bigint, bigint][];
}

/**
 * The `iommufd:` step's operations: ioctls, and IOMMU_HWPT_PAGE_RESPONSE, the VMM's read() of a
 * fault group from a fault object's fd and write() of its struct iommu_hwpt_page_response.
 */
export const IOMMUFD_IOCTLS = ["IOMMU_IOAS_ALLOC", "IOMMU_IOAS_MAP", "IOMMU_IOAS_UNMAP", "IOMMU_IOAS_COPY", "IOMMU_HWPT_ALLOC", "VFIO_DEVICE_ATTACH_IOMMUFD_PT", "IOMMU_DESTROY", "IOMMU_FAULT_QUEUE_ALLOC", "IOMMU_HWPT_PAGE_RESPONSE", "IOMMU_HWPT_SET_DIRTY_TRACKING", "IOMMU_HWPT_GET_DIRTY_BITMAP", "IOMMU_VIOMMU_ALLOC", "IOMMU_VDEVICE_ALLOC", "IOMMU_VEVENTQ_ALLOC", "IOMMU_VEVENTQ_READ", "IOMMU_HWPT_INVALIDATE"] as const;

/**
 * `posted-descriptor: { address, vcpu, cpu, sync }`: the vCPU's posted-interrupt descriptor as KVM
 * keeps it (arch/x86/kvm/vmx/posted_intr.c): `running` is vmx_vcpu_pi_load (NV = POSTED_INTR_VECTOR,
 * SN = 0, NDST = the CPU), `blocked` is pi_enable_wakeup_handler (NV = POSTED_INTR_WAKEUP_VECTOR),
 * `preempted` is vmx_vcpu_pi_put setting SN. PIR and ON are kept, unless `sync`
 * (vmx_sync_pir_to_irr at VM entry: ON cleared, PIR taken into the vCPU's IRR).
 */
export interface PostedDescriptorStepSpec {
  /** HPA of the descriptor (64-byte aligned, in host memory). */
  address: bigint;
  vcpu: "running" | "blocked" | "preempted";
  /** APIC id of the physical CPU the vCPU runs (or last ran) on. */
  cpu: number;
  sync: boolean;
}

export interface MsiStepSpec {
  device: string;
  format: "remappable" | "compatibility";
  /** Remappable: the interrupt handle (IRTE index, YAML `index`); with `subhandle` SHV = 1. */
  handle: number;
  subhandle?: number;
  /** MSI data (default: the subhandle, or 0). */
  data?: number;
  /** Compatibility format: APIC destination in address bits 19:12. */
  destination: number;
  /** MSIs written back to back before the host's interrupt threads run (default 1). */
  count?: number;
}

export type StepOp = Step["op"];

/** The 64-bit words a poke target names: root entry low/high, context entry low/high, a page-table entry. */
export const POKE_STRUCTURES = ["root", "root-hi", "context-lo", "context-hi", "pte", "pasid-entry"] as const;
export type PokeStructure = (typeof POKE_STRUCTURES)[number];
/** DMAR registers a poke can write. */
export const POKE_REGISTERS = ["RTADDR", "IQA", "PECTL"] as const;
export type PokeRegister = (typeof POKE_REGISTERS)[number];

export interface Scenario {
  /** File name (for messages). */
  file: string;
  name?: string;
  description?: string;
  host: HostSpec;
  vms: VmSpec[];
  workload: Step[];
}

export interface ParseResult {
  /** Undefined when errors prevent building a Scenario. */
  scenario?: Scenario;
  diagnostics: Diagnostic[];
}
