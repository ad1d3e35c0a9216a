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
  range: SourceRange;
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
}

export interface IommuSpec {
  model: "intel-vtd" | "amd-vi";
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
  iommu: IommuSpec;
  pci: PciDeviceSpec[];
  range: SourceRange;
}

export interface ViommuSpec {
  model: "intel";
  cachingMode: boolean;
  range: SourceRange;
}

export interface VmSpec {
  name: string;
  memory: bigint;
  /** Keys of assigned host devices (vfio-pci). */
  devices: string[];
  viommu?: ViommuSpec;
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
  /** IOTLB outcome of the first transaction. */
  iotlb?: "hit" | "miss";
  /** Number of faulting transactions in the step (dma with length/repeat). */
  faults?: number;
  /** Whether the fault was recorded in a fault recording register (false: suppressed by FPD or overflow). */
  recorded?: boolean;
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
  | (StepBase & { op: "guest-map"; vm: string; device: string; iova: bigint; size: bigint; perm: Perm; gpa: bigint })
  /** The guest unmaps; `invalidate: false` models a guest that forgets the IOTLB invalidation. */
  | (StepBase & { op: "guest-unmap"; vm: string; device: string; iova: bigint; size: bigint; invalidate: boolean })
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
      granularity: "global" | "domain" | "page" | "context-global" | "context-domain" | "context-device";
      domain?: number;
      device?: string;
      iova?: bigint;
      /** Address mask: 2^am pages. */
      am?: number;
      ih?: boolean;
    })
  /** Writes a raw 64-bit value into a table entry or RTADDR (reproduces corruption). */
  | (StepBase & {
      op: "poke";
      /** Either an explicit HPA ... */
      address?: bigint;
      /** ... or a structure located through the device's tables ... */
      target?: { device: string; structure: PokeStructure; iova?: bigint; level?: number };
      /** ... or a DMAR register: RTADDR is written, then latched with GCMD.SRTP. */
      register?: PokeRegister;
      /** The new value; absent for a read-modify-write ... */
      value?: bigint;
      /** ... which sets these bits of the current value ... */
      set?: bigint;
      /** ... and clears these. */
      clear?: bigint;
    })
  /** A side-effect-free probe: what would the IOMMU do for this request now. Carries an expectation. */
  | (StepBase & { op: "translate"; device: string; iova: bigint; write: boolean })
  /** Advances simulated time (ratelimits, timestamps). */
  | (StepBase & { op: "wait"; ns: bigint });

export type StepOp = Step["op"];

/** The 64-bit words a poke target names: root entry low/high, context entry low/high, a page-table entry. */
export const POKE_STRUCTURES = ["root", "root-hi", "context-lo", "context-hi", "pte"] as const;
export type PokeStructure = (typeof POKE_STRUCTURES)[number];
/** DMAR registers a poke can write. */
export const POKE_REGISTERS = ["RTADDR"] as const;
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
