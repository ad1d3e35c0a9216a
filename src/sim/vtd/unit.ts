/**
 * One Intel VT-d DMA-remapping hardware unit (DRHD) in legacy mode: MMIO registers, root-table
 * pointer, context cache, IOTLB, second-level translation, fault recording and queued (or
 * register-based) invalidation. Modelled on QEMU hw/i386/intel_iommu.c; every structure it reads
 * is bytes in simulated memory, so corrupted entries fault exactly as the hardware reports.
 */
import type { IommuSpec } from "../../scenario/types.js";
import type { PhysicalMemory } from "../memory.js";
import { encodePageRequestDesc } from "./prq.js";
import {
  CONTEXT_TT_DEV_IOTLB,
  CONTEXT_TT_MULTI_LEVEL,
  CONTEXT_TT_PASS_THROUGH,
  awToLevels,
  awToWidth,
  contextEntryReserved,
  rootEntryReserved,
} from "./context.js";
import { Iotlb } from "./iotlb.js";
import { PagingStructureCache, type PscSnapshot } from "./psc.js";
import { DeviceTlb, deviceTlbRange, type DeviceTlbSnapshot } from "./devtlb.js";
import { LEVEL_DEVICE_TLB } from "../../trace/trace.js";
import { CC_DEVICE, CC_DOMAIN, CC_GLOBAL, IOTLB_DSI, IOTLB_GLOBAL, IOTLB_PSI, PC_DOMAIN, PC_GLOBAL, PC_PASID, PIOTLB_PASID, PIOTLB_PSI, QI_RESP_SUCCESS, CC_RSVD_LO, IOTLB_RSVD_HI, IOTLB_RSVD_LO, decodeDesc, DIOTLB_RSVD_HI, DIOTLB_RSVD_LO, PDIOTLB_RSVD_HI, PDIOTLB_RSVD_LO, type InvDescriptor } from "./qi.js";
import {
  DMAR_CAP_REG,
  DMAR_CCMD_REG,
  DMAR_ECAP_REG,
  DMAR_FECTL_REG,
  DMAR_PECTL_REG,
  DMAR_FRCD_REG,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_IOTLB_REG,
  DMAR_IQA_REG,
  DMAR_IQER_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_IVA_REG,
  DMAR_PQA_REG,
  DMAR_PQH_REG,
  DMAR_PQT_REG,
  DMAR_PRS_REG,
  PRS_PPR,
  PRS_PRO,
  DMAR_RTADDR_REG,
  DMAR_VER_REG,
  FECTL_IM,
  FECTL_IP,
  PECTL_IM,
  PECTL_IP,
  FSTS_IQE,
  FSTS_ITE,
  IQA_DW,
  FSTS_PFO,
  FSTS_PPF,
  GCMD_IRE,
  GCMD_QIE,
  GCMD_SIRTP,
  GCMD_SRTP,
  GCMD_TE,
  GCMD_WBF,
  FRCD_F_DWORD_BIT,
  composeCap,
  composeEcap,
  decodeFrcdRecord,
  sagawBit,
} from "./regs.js";
import {
  VTD_FR_ADDR_BEYOND_MGAW,
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_CONTEXT_ENTRY_P,
  VTD_FR_CONTEXT_ENTRY_RSVD,
  VTD_FR_CONTEXT_ENTRY_TT,
  VTD_FR_CONTEXT_TABLE_INV,
  VTD_FR_INTERRUPT_ADDR,
  VTD_FR_RESERVED,
  VTD_FR_ROOT_ENTRY_P,
  VTD_FR_ROOT_ENTRY_RSVD,
  VTD_FR_ROOT_TABLE_INV,
  VTD_FR_PASID_DIR_ACCESS_ERR,
  VTD_FR_PASID_TABLE_ACCESS_ERR,
  VTD_FR_SM_CONTEXT_ACCESS_ERR,
  VTD_FR_SM_ROOT_ACCESS_ERR,
  VTD_FR_SM_ROOT_ENTRY_P,
  VTD_FR_SM_ROOT_ENTRY_RSVD,
  VTD_FR_SM_TTM0_PASID,
} from "./reasons.js";
import { SlptWalker } from "./slpt.js";
import { FlptWalker } from "./flpt.js";
import { RTADDR_SMT, SmState, translateScalable, type SmSnapshot, type SmStop } from "./scalable.js";
import type { TrailEntry } from "../iommu.js";
import { DmaBurst, SecondLevelTranslator } from "./translate.js";
import { CORE_FAULT_HI, CORE_INFO, CORE_INTERRUPT_WINDOW } from "./translateCoreLayout.js";
import { DMAR_IRTA_REG, GCMD_CFI, InterruptRemapper } from "./intremap.js";
import type { Trace } from "../../trace/trace.js";
import { loadBurst, translateEach, type DmaTally, type DmaTransfer, type DmaUnit } from "../dma.js";

// The transfer and tally moved to sim/dma.ts (translateEach's home); re-exported for existing importers.
export { DmaTally, dmaTransfer, type DmaTransfer } from "../dma.js";

/** Interrupt address range 0xFEE00000 - 0xFEEFFFFF (QEMU VTD_INTERRUPT_ADDR_FIRST/LAST), as the translate core knows it. */
export const INTERRUPT_ADDR_FIRST = CORE_INTERRUPT_WINDOW.first;
export const INTERRUPT_ADDR_LAST = CORE_INTERRUPT_WINDOW.last;

/** Transactions of a DMA run the translate core takes in one burst (translateRun). */
const RUN_BURST = 512;

/**
 * Faults that FPD suppresses (QEMU vtd_qualified_faults[]): root-entry and table-pointer faults
 * are reported even when the context entry asks for fault processing to be disabled.
 */
const NON_QUALIFIED = new Set([
  VTD_FR_RESERVED,
  VTD_FR_ROOT_ENTRY_P,
  VTD_FR_ROOT_TABLE_INV,
  VTD_FR_CONTEXT_TABLE_INV,
  VTD_FR_ROOT_ENTRY_RSVD,
  // Scalable mode: the root-level and table-access errors, and QEMU's unqualified 0x50 / 0x58.
  VTD_FR_SM_ROOT_ACCESS_ERR,
  VTD_FR_SM_ROOT_ENTRY_P,
  VTD_FR_SM_ROOT_ENTRY_RSVD,
  VTD_FR_SM_CONTEXT_ACCESS_ERR,
  VTD_FR_PASID_DIR_ACCESS_ERR,
  VTD_FR_PASID_TABLE_ACCESS_ERR,
]);

/** How a request was handled. */
export const enum XlateKind {
  /** Translation disabled (GSTS.TES = 0): the address goes to memory untranslated. */
  Untranslated = 0,
  /** Context entry T = pass-through. */
  PassThrough = 1,
  /** Second-level translation (IOTLB hit or walk). */
  Translated = 2,
  /** A write without PASID to 0xFEExxxxx: an interrupt request, not DMA. */
  Interrupt = 3,
}

/** Which check of translate() decided its answer (for the walk trail: where it stopped). */
export const enum XlateStage {
  /** No table was read (translation disabled, interrupt request). */
  None = 0,
  /** The root entry (read, P, reserved bits). */
  Root = 1,
  /** The context entry (read, P, reserved bits, AW, T). */
  Context = 2,
  /** The address-width check against the context's AW (0x04), on an IOTLB miss. */
  Width = 3,
  /** The second-level walk (SlptWalker / the translate core). */
  Walk = 4,
  /** An IOTLB hit. */
  Iotlb = 5,
  /** The translated page overlaps the interrupt range (0x0E) after a walk. */
  InterruptRange = 6,
  /** An interrupt request remapped through the interrupt-remapping table (GSTS.IRES = 1; intremap.ts). */
  InterruptRemap = 7,
  /** A Translated Request (ATS): the device's Device-TLB (or the request itself) gave the address; the unit checked the context entry only. */
  DeviceTlb = 8,
}

/** What the unit did with a page request (pageRequest). */
export const enum PageRequestFate {
  /** Written into the page request queue. */
  Queued = 0,
  /** The queue was full or PRS.PRO set: lost (not the last request of its group). */
  Dropped = 1,
  /** The queue was full or PRS.PRO set, and the request was the last of its group: the unit answered Success itself. */
  AutoResponded = 2,
  /** The unit has no page request support (ECAP.PRS = 0). */
  Refused = 3,
}

/** What happened to a fault on its way to the fault recording registers. */
export const enum FaultFate {
  None = 0,
  Recorded = 1,
  /** Context entry FPD = 1 and the fault is qualified. */
  SuppressedFpd = 2,
  /** FSTS.PFO was set or the next recording register was busy (PFO set now). */
  Overflow = 3,
  /** A pending record from the same source-id already exists (QEMU's fault compression). */
  Compressed = 4,
  /** A PRI device's failed Translation Request became a page request (not a fault record; VT-d 7.4). */
  PageRequest = 5,
  /** The page request did not fit in the page request queue (PRS.PRO): lost, or auto-answered with Success when last in its group. */
  PageRequestOverflow = 6,
}

interface CcEntry {
  did: number;
  root: number;
  levels: number;
  width: number;
  tt: number;
  fpd: boolean;
}

export interface FaultRecord {
  index: number;
  sid: number;
  /** Faulting page address (bits 63:12), or for IR faults the interrupt index << 48. */
  address: bigint;
  reason: number;
  /** FRCD.T = 1: read request. */
  read: boolean;
  pasid?: number;
}

export interface UnitCounters {
  requests: number;
  iotlbHits: number;
  walks: number;
  faults: number;
  recorded: number;
  suppressed: number;
  overflowed: number;
  invalidations: number;
}

export interface DmarUnitSnapshot {
  regs: Uint32Array;
  rootTable: number;
  nextFrcd: number;
  cc: [number, CcEntry][];
  iotlb: ReturnType<Iotlb["snapshot"]>;
  /** The paging-structure caches, when the unit has them. */
  psc?: PscSnapshot;
  /** The first-level / nested paging-structure caches (scalable mode), when the unit has them. */
  flPsc?: PscSnapshot;
  counters: UnitCounters;
  queueLog: { lo: bigint; hi: bigint }[];
  ttm?: number;
  sm?: SmSnapshot;
  ir?: ReturnType<InterruptRemapper["snapshot"]>;
  devtlb?: DeviceTlbSnapshot;
  nextPrgi?: number;
  prInterrupts?: number;
}

export class DmarUnit implements DmaUnit {
  readonly name: string;
  readonly spec: IommuSpec;
  readonly cap: bigint;
  readonly ecap: bigint;
  readonly haw: number;
  readonly nfr: number;
  readonly walker: SlptWalker;
  readonly iotlb: Iotlb;
  readonly translator: SecondLevelTranslator;
  /** Interrupt remapping (intremap.ts): IRTA latched by SIRTP, the interrupt entry cache, the last remap's results. */
  readonly ir: InterruptRemapper;
  /** MSI data of the interrupt request translate() is handling (translateMsi sets it; a DMA write into the window carries 0). */
  private msiData = 0;
  /** Register file, 32-bit words at byte offset / 4. */
  regs: Uint32Array;
  /** Root table address latched by the last SRTP. */
  rootTable = 0;
  /** RTADDR.TTM latched by the last SRTP: 0 legacy, 1 scalable mode (only on a unit with ECAP.SMTS). */
  ttm = 0;
  /** Scalable mode: context cache, PASID cache and the IOTLB's (DID, PASID) tags. */
  readonly sm = new SmState();
  /** The first-level walker (scalable mode; nested walks go through `walker`). */
  readonly flWalker: FlptWalker;

  // ---- the request translate() serves, beyond sid, IOVA and direction (set by the caller, reset after) ----
  /** PASID of a request with PASID; -1: a request without PASID. */
  reqPasid = -1;
  /** Privileged-mode (supervisor) request: the PASID prefix's PMR. */
  reqPriv = false;
  /** Execute request: the PASID prefix's ER. */
  reqExec = false;
  /** A Translated Request (PCIe AT = 10b): the IOVA is already a host physical address (VT-d 4.2.3). */
  reqTranslated = false;

  // ---- ATS (VT-d 4.1, 4.2): the endpoints' Device-TLBs and the requesters whose ATS Linux enabled
  /** The Device-TLBs of the ATS endpoints behind this unit (devtlb.ts). */
  readonly devtlb = new DeviceTlb();
  /**
   * Requester ids whose ATS capability is enabled (Linux iommu_enable_pci_caps: pci_enable_ats where
   * ecap_dev_iotlb_support and the device has ATS): their DMA looks up the Device-TLB first and
   * sends a Translation Request on a miss.
   */
  readonly atsSids = new Set<number>();
  /** The last translate() was answered by the device's Device-TLB (a Translated Request, no walk). */
  devtlbHit = false;
  /** Requester ids whose PRI capability is enabled (scalable mode): a failed Translation Request with PASID becomes a page request. */
  readonly priSids = new Set<number>();
  /** The page request group index the next page request gets (a device's 9-bit PRG index; one counter for the unit). */
  nextPrgi = 0;
  private nextFrcd = 0;
  private readonly cc = new Map<number, CcEntry>();
  counters: UnitCounters = { requests: 0, iotlbHits: 0, walks: 0, faults: 0, recorded: 0, suppressed: 0, overflowed: 0, invalidations: 0 };
  /** Descriptors processed since the last call to takeQueueLog(), for the trace. */
  private queueLog: { lo: bigint; hi: bigint }[] = [];

  // ---- results of the last translate() ----
  hpaLo = 0;
  hpaHi = 0;
  kind: XlateKind = XlateKind.Translated;
  did = 0;
  level = 0;
  iotlbHit = false;
  ccHit = false;
  fate: FaultFate = FaultFate.None;
  /** Permissions of the last translation (R = 1, W = 2): ANDed down the walk, or the IOTLB entry's. */
  /** The permissions of this translation, set by the scalable-mode path. */
  setPerm(p: number): void {
    this.lastPerm = p;
    this.permFromCore = false;
  }
  get perm(): number {
    // Read from the translate core only when asked: the DMA path does not pay for it.
    return this.permFromCore ? this.translator.perm : this.lastPerm;
  }
  private lastPerm = 0;
  private permFromCore = false;
  /** The check that decided the last translate(). */
  stage: XlateStage = XlateStage.None;

  // ---- the walk trail (VtdModel.explain): recorded by the code that decides, on probes only ----
  /** Probes bypass the context cache and the IOTLB (the walk a miss would do). */
  bypassCaches = false;
  /** Record the root and context entries resolveContext reads (the walker records its own). */
  recordTrail = false;
  /** Root and context entries read by the last resolveContext, when recordTrail is set: address, lo, hi (undefined: not readable). */
  readonly trailRoot: { address: number; lo?: bigint; hi?: bigint; read: boolean } = { address: 0, read: false };
  readonly trailContext: { address: number; lo?: bigint; hi?: bigint; read: boolean } = { address: 0, read: false };
  /** Scalable mode: the entries the last translate() read (recordTrail), in the contract's words, and where it stopped. */
  smTrail: TrailEntry[] = [];
  smStop: SmStop | undefined = undefined;

  /** Bytes of the memory's SRAM arena a unit of this spec takes (its IOTLB and its translator): size the PhysicalMemory's arena with it. */
  static sramBytes(spec: Pick<IommuSpec, "iotlbSets" | "iotlbWays">): number {
    return Iotlb.arenaBytes(spec.iotlbSets, spec.iotlbWays) + SecondLevelTranslator.ARENA_BYTES + DmaBurst.arenaBytes(RUN_BURST);
  }

  /** The requests and results of translateRun's bursts, in the SRAM arena where the core reads them. */
  private readonly burst: DmaBurst;
  /**
   * translateRun hands runs of transactions to the translate core in bursts; false: one
   * translate() per transaction (the reference its property test holds the bursts to).
   */
  runBursts = true;
  /** The current run's burst (dmaRequest): results [runNext, runDone) of the core, in context runCe; runSlowAt: handed back. */
  private runNext = 0;
  private runDone = 0;
  private runSlowAt = -1;
  private runCe: CcEntry | undefined;

  constructor(
    readonly mem: PhysicalMemory,
    spec: IommuSpec,
    name = "dmar0",
  ) {
    this.name = name;
    this.spec = spec;
    this.haw = spec.addressWidth;
    this.nfr = spec.faultRecords;
    this.cap = composeCap(spec);
    this.ecap = composeEcap(spec);
    this.walker = new SlptWalker(mem, {
      haw: spec.addressWidth,
      deviceTlb: spec.deviceTlb,
      snoopControl: false,
      superpage2M: spec.superpages["2M"],
      superpage1G: spec.superpages["1G"],
      slads: spec.scalable === true && spec.slads === true,
    });
    this.iotlb = new Iotlb(spec.iotlbSets, spec.iotlbWays, mem);
    const psc = spec.pagingStructureCache;
    if (psc !== undefined && psc.entries > 0) {
      this.walker.psc = new PagingStructureCache(psc.entries, psc.replacement);
      // Bursts run in the translate core, which has no paging-structure caches: one translate() each.
      this.runBursts = false;
    }
    // The unit's core vets walks into the interrupt window: translate() decides them (fault 0x0E).
    this.translator = new SecondLevelTranslator(this.walker, this.iotlb, true);
    this.burst = new DmaBurst(mem, RUN_BURST);
    this.flWalker = new FlptWalker(mem, spec.addressWidth, this.walker);
    // The first-level / nested paging-structure caches (flpt.ts): an array of their own, as large.
    if (psc !== undefined && psc.entries > 0) this.flWalker.psc = new PagingStructureCache(psc.entries, psc.replacement);
    this.ir = new InterruptRemapper(mem);
    this.ir.pi = ((this.cap >> 59n) & 1n) === 1n; // CAP.PI: posted-format IRTEs (intremap.ts, posted.ts)
    this.regs = new Uint32Array((DMAR_FRCD_REG + 16 * this.nfr) / 4);
    this.regs[DMAR_VER_REG / 4] = 0x10; // QEMU: VER 1.0
    // PECTL.IM is 1 after reset ("1: This is the value on reset", Intel 12th Generation Core datasheet
    // vol. 2, PECTL_REG); Linux unmasks it (dmar_msi_unmask) when it enables the queue.
    this.regs[DMAR_PECTL_REG >> 2] = PECTL_IM >>> 0;
    this.setReg64(DMAR_CAP_REG, this.cap);
    this.setReg64(DMAR_ECAP_REG, this.ecap);
  }

  // ---------------------------------------------------------------- MMIO

  readReg32(off: number): number {
    return this.regs[off >> 2]! >>> 0;
  }

  readReg64(off: number): bigint {
    return (BigInt(this.regs[(off >> 2) + 1]! >>> 0) << 32n) | BigInt(this.regs[off >> 2]! >>> 0);
  }

  private setReg64(off: number, v: bigint): void {
    this.regs[off >> 2] = Number(v & 0xffffffffn);
    this.regs[(off >> 2) + 1] = Number((v >> 32n) & 0xffffffffn);
  }

  /** A 32-bit MMIO write with the register's side effects. */
  writeReg32(off: number, value: number): void {
    value >>>= 0;
    switch (off) {
      case DMAR_GCMD_REG:
        this.handleGcmd(value);
        return;
      case DMAR_FSTS_REG: {
        // PFO, IQE, ICE, ITE are RW1C; PPF is derived from the F bits.
        const cur = this.readReg32(DMAR_FSTS_REG);
        this.regs[DMAR_FSTS_REG >> 2] = (cur & ~(value & 0x7d)) >>> 0;
        this.updatePpf();
        return;
      }
      case DMAR_FECTL_REG:
        this.regs[off >> 2] = (value & FECTL_IM) | (this.readReg32(off) & FECTL_IP);
        return;
      case DMAR_PECTL_REG: {
        // IM is the only writable bit; IP is read-only. Clearing IM with an event pending sends
        // it and clears IP, as for the fault event (QEMU vtd_handle_fectl_write; VT-d 11.4.9.2 and
        // 11.4.12.5 describe both registers alike).
        const ip = this.readReg32(off) & PECTL_IP;
        if (ip && !(value & PECTL_IM)) {
          this.regs[off >> 2] = 0;
          this.prInterrupts++;
        } else this.regs[off >> 2] = ((value & PECTL_IM) | ip) >>> 0;
        return;
      }
      case DMAR_PRS_REG:
        // PPR and PRO are RW1C (VT-d 11.4.12.4; Linux writel(DMA_PRS_PPR, DMAR_PRS_REG)).
        this.regs[off >> 2] = (this.readReg32(off) & ~(value & (PRS_PPR | PRS_PRO))) >>> 0;
        // PECTL.IP "is cleared by hardware as soon as the interrupt message pending condition is
        // serviced ... Software servicing the PPR field" (Intel 12th Generation Core datasheet vol. 2,
        // PECTL_REG): a pending event dies with PPR.
        if (!(this.readReg32(off) & PRS_PPR)) this.regs[DMAR_PECTL_REG >> 2] = (this.readReg32(DMAR_PECTL_REG) & ~PECTL_IP) >>> 0;
        return;
      default:
        break;
    }
    if (off >= DMAR_FRCD_REG && off < DMAR_FRCD_REG + 16 * this.nfr && (off - DMAR_FRCD_REG) % 16 === 12) {
      // Writing F (bit 31 of the top dword) clears the record (RW1C).
      if (value & 0x80000000) this.regs[off >> 2] = this.readReg32(off) & 0x7fffffff;
      this.updatePpf();
      return;
    }
    this.regs[off >> 2] = value;
  }

  /** A 64-bit MMIO write (RTADDR, IQA, IQT, CCMD, IOTLB, IVA). */
  writeReg64(off: number, value: bigint): void {
    switch (off) {
      case DMAR_RTADDR_REG:
        // QEMU write mask 0xfffffffffffffc00; legacy mode ignores TTM/SMT (bit 10 must be 0 here).
        this.setReg64(off, value & 0xfffffffffffffc00n);
        return;
      case DMAR_IQA_REG:
        this.setReg64(off, value);
        return;
      case DMAR_IQT_REG:
        this.setReg64(off, value & 0x7fff0n);
        this.processQueue();
        return;
      case DMAR_CCMD_REG:
        this.handleCcmd(value);
        return;
      case DMAR_IOTLB_REG:
        this.handleIotlbReg(value);
        return;
      default:
        this.setReg64(off, value);
    }
  }

  private handleGcmd(cmd: number): void {
    let gsts = this.readReg32(DMAR_GSTS_REG);
    if (cmd & GCMD_SRTP) {
      const rtaddr = this.readReg64(DMAR_RTADDR_REG);
      this.rootTable = Number(rtaddr & ~0xfffn);
      // TTM [11:10] = 01: scalable mode, honoured only where ECAP.SMTS is set (QEMU reads only SMT, bit 10).
      // TTM = 10b is reserved (VT-d 11.4.6; VirtualBox VTD_TTM_RSVD 2, include/VBox/iommu-intel.h): latched as 2,
      // translations take the legacy path, and the invalidation queue stops with IQEI 7 (processQueue).
      this.ttm = ((rtaddr >> 10n) & 3n) === 2n ? TTM_RESERVED : this.spec.scalable && (rtaddr & RTADDR_SMT) !== 0n ? 1 : 0;
      gsts |= GCMD_SRTP; // RTPS
    }
    if (cmd & GCMD_WBF) gsts &= ~GCMD_WBF; // the write buffer flush completes at once
    if ((cmd & GCMD_QIE) && !(gsts & GCMD_QIE)) {
      this.setReg64(DMAR_IQH_REG, 0n);
      gsts |= GCMD_QIE;
    } else if (!(cmd & GCMD_QIE) && (gsts & GCMD_QIE)) {
      gsts &= ~GCMD_QIE;
    }
    gsts = cmd & GCMD_TE ? gsts | GCMD_TE : gsts & ~GCMD_TE;
    if (cmd & GCMD_SIRTP) {
      // VT-d 11.4.4.1 SIRTP: latch IRTA; GSTS.IRTPS.
      this.ir.setTable(this.readReg64(DMAR_IRTA_REG));
      gsts |= GCMD_SIRTP;
    }
    // IRE / CFI are level commands mirrored in GSTS.IRES / CFIS (ECAP.IR required for IRE).
    gsts = cmd & GCMD_IRE && this.spec.intremap ? gsts | GCMD_IRE : gsts & ~GCMD_IRE;
    gsts = cmd & GCMD_CFI ? gsts | GCMD_CFI : gsts & ~GCMD_CFI;
    this.regs[DMAR_GCMD_REG >> 2] = cmd;
    this.regs[DMAR_GSTS_REG >> 2] = gsts >>> 0;
  }

  /** GSTS.IRES: interrupt requests go through the interrupt-remapping table. */
  get interruptRemappingEnabled(): boolean {
    return (this.readReg32(DMAR_GSTS_REG) & GCMD_IRE) !== 0;
  }

  get translationEnabled(): boolean {
    return (this.readReg32(DMAR_GSTS_REG) & GCMD_TE) !== 0;
  }

  // ---------------------------------------------------------------- invalidation

  private handleCcmd(v: bigint): void {
    // ICC bit 63, CIRG [62:61], FM [33:32], SID [31:16], DID [15:0].
    const cirg = Number((v >> 61n) & 3n);
    if ((v >> 63n) & 1n) {
      this.invalidate({ type: "cc", granularity: cirg, did: Number(v & 0xffffn), sid: Number((v >> 16n) & 0xffffn), fm: Number((v >> 32n) & 3n) });
    }
    // Completed: ICC cleared, CAIG [60:59] = the granularity performed.
    this.setReg64(DMAR_CCMD_REG, (v & ~(1n << 63n) & ~(3n << 59n)) | (BigInt(cirg) << 59n));
  }

  private handleIotlbReg(v: bigint): void {
    // IVT bit 63, IIRG [61:60], DID [47:32]; IVA: ADDR [63:12], IH bit 6, AM [5:0].
    const iirg = Number((v >> 60n) & 3n);
    if ((v >> 63n) & 1n) {
      const iva = this.readReg64(DMAR_IVA_REG);
      this.invalidate({ type: "iotlb", granularity: iirg, did: Number((v >> 32n) & 0xffffn), dr: false, dw: false, addr: iva & ~0xfffn, ih: ((iva >> 6n) & 1n) === 1n, am: Number(iva & 0x3fn) });
    }
    this.setReg64(DMAR_IOTLB_REG, (v & ~(1n << 63n) & ~(3n << 57n)) | (BigInt(iirg) << 57n));
  }

  /**
   * The paging-structure caches' share of an IOTLB invalidation (psc.ts; VT-d 6.5.2.3, IVA_REG.IH
   * in 11.4.8.2): global and domain-selective drop the entries whatever IH says; page-selective drops
   * the tag's entries over the range only with IH = 0 - with IH = 1 software says it changed no
   * non-leaf entry there, and the cached ones stay. The same rule for the first-level / nested
   * caches (flpt.ts) under a PASID-based IOTLB invalidation (VT-d 6.5.2.4: PASID-selective, or
   * page-selective-within-PASID with the descriptor's IH): Linux passes IH there as for second-level
   * domains (drivers/iommu/intel/cache.c cache_tag_flush_iotlb: qi_batch_add_piotlb(..., ih) for
   * first-level and nested domains). Both families are tagged per (DID, PASID) in scalable mode, so
   * a tag selects the entries of either. Returns the entries dropped.
   */
  private invalidatePsc(granularity: number, tag: number, addr: bigint, am: number, ih: boolean): number {
    let n = 0;
    for (const psc of [this.walker.psc, this.flWalker.psc]) {
      if (psc === null) continue;
      if (granularity === IOTLB_GLOBAL) n += psc.invalidateAll();
      else if (granularity === IOTLB_DSI) n += psc.invalidateTag(tag);
      else if (!ih) n += psc.invalidatePages(tag, addr, am);
    }
    this.pscDropped += n;
    return n;
  }

  /** Paging-structure-cache entries (both families) the invalidations dropped so far: the invalidate step's summary counts them (model.ts). */
  pscDropped = 0;

  /** Performs one invalidation. Returns false for an invalid descriptor (IQE). */
  invalidate(d: InvDescriptor): boolean {
    this.counters.invalidations++;
    switch (d.type) {
      case "cc":
        if (d.granularity === CC_GLOBAL) {
          this.cc.clear();
          this.sm.ctx.clear();
        } else if (d.granularity === CC_DOMAIN) {
          for (const [sid, e] of this.cc) if (e.did === d.did) this.cc.delete(sid);
          // A scalable context entry has no DID: a domain-selective invalidation drops them all (VT-d 6.5.2.1 allows more).
          this.sm.ctx.clear();
        } else if (d.granularity === CC_DEVICE) {
          // FM masks the low 0..3 bits of the function number (VT-d 6.5.2.1).
          const mask = d.fm === 0 ? 0xffff : (0xffff << d.fm) & 0xffff;
          for (const sid of [...this.cc.keys()]) if ((sid & mask) === (d.sid & mask)) this.cc.delete(sid);
          for (const sid of [...this.sm.ctx.keys()]) if ((sid & mask) === (d.sid & mask)) this.sm.ctx.delete(sid);
        } else return false;
        return true;
      case "pgrp-resp":
        // Page group response (VT-d 6.5.2.9), to the device; QEMU vtd_process_page_group_response_desc
        // refuses one without PASID ("Page group response without PASID is not supported yet").
        if (this.ttm !== 1 || !d.pasidPresent) return false;
        // VT-d 3.x 6.5.2.9 (as Linux quotes it in 1d421058c815): with PDP the response's private
        // data (qw2/qw3) must match the request's; the device gets it back.
        this.pageResponses.push({ sid: d.rid, pasid: d.pasid, prgi: d.prgi, code: d.code, ...(d.pdp ? { privateData: this.descQw2 } : {}) });
        return true;
      case "pc":
        // PASID-cache invalidation (VT-d 6.5.2.2): every PASID of a domain, one PASID of it, or all.
        if (d.granularity !== PC_DOMAIN && d.granularity !== PC_PASID && d.granularity !== PC_GLOBAL) return false;
        for (const [key, e] of [...this.sm.pc]) {
          if (d.granularity === PC_GLOBAL || (e.did === d.did && (d.granularity === PC_DOMAIN || key % 1048576 === d.pasid))) this.sm.pc.delete(key);
        }
        return true;
      case "piotlb": {
        // PASID-based IOTLB invalidation (VT-d 6.5.2.4): first-level and nested translations of (DID, PASID).
        if (d.granularity !== PIOTLB_PASID && d.granularity !== PIOTLB_PSI) return false;
        if (d.granularity === PIOTLB_PSI && d.am > this.spec.mamv) return false;
        for (const t of this.sm.tagsOf(d.did, true, d.pasid)) {
          if (d.granularity === PIOTLB_PASID) this.iotlb.invalidateDomain(t);
          else this.iotlb.invalidatePages(t, d.addr, d.am);
          this.invalidatePsc(d.granularity === PIOTLB_PASID ? IOTLB_DSI : IOTLB_PSI, t, d.addr, d.am, d.ih);
        }
        return true;
      }
      case "iotlb":
        if (this.ttm === 1 && d.granularity !== IOTLB_GLOBAL) {
          // Scalable mode: the IOTLB descriptor covers the domain's second-level, pass-through and nested PASIDs (VT-d 6.5.2.3; SmState.stageTwoTags).
          if (d.granularity === IOTLB_PSI && (!this.spec.pageSelectiveInvalidation || d.am > this.spec.mamv)) return false;
          if (d.granularity !== IOTLB_DSI && d.granularity !== IOTLB_PSI) return false;
          for (const t of this.sm.stageTwoTags(d.did)) {
            if (d.granularity === IOTLB_DSI) this.iotlb.invalidateDomain(t);
            else this.iotlb.invalidatePages(t, d.addr, d.am);
            this.invalidatePsc(d.granularity, t, d.addr, d.am, d.ih);
          }
          return true;
        }
        if (d.granularity === IOTLB_GLOBAL) this.iotlb.invalidateAll();
        else if (d.granularity === IOTLB_DSI) this.iotlb.invalidateDomain(d.did);
        else if (d.granularity === IOTLB_PSI) {
          if (!this.spec.pageSelectiveInvalidation || d.am > this.spec.mamv) return false;
          this.iotlb.invalidatePages(d.did, d.addr, d.am);
        } else return false;
        this.invalidatePsc(d.granularity, d.did, d.addr, d.am, d.ih);
        return true;
      case "iec":
        // VT-d 6.5.2.7: global, or index-selective (2^IM entries from IIDX).
        this.ir.invalidate(d.global, d.index, d.im);
        return true;
      case "wait":
        if (d.statusWrite) this.mem.write32(Number(d.statusAddr), d.statusData);
        return true;
      case "dev-iotlb": {
        // QEMU vtd_process_device_iotlb_desc: a device-TLB invalidation of the device's entries
        // without PASID over the range the S bit and address encode (devtlb.ts deviceTlbRange).
        if (!this.spec.deviceTlb) return false;
        const { addr, size } = deviceTlbRange(d.addr, d.size);
        this.devtlb.invalidate(d.sid, -1, addr, size);
        return true;
      }
      case "pdev-iotlb": {
        // QEMU vtd_process_device_piotlb_desc: G = 1 every PASID of the device, else one PASID
        // (VT-d 6.5.2.6); the same S-bit range encoding (bit 11).
        if (!this.spec.deviceTlb) return false;
        const { addr, size } = deviceTlbRange(d.addr, d.size);
        this.devtlb.invalidate(d.sid, d.pasid, addr, size, d.global);
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * IQA.DW: the queue holds 256-bit descriptors. Honoured only where ECAP.SMTS is set (QEMU
   * vtd_mem_write DMAR_IQA_REG: `s->ecap & VTD_ECAP_SMTS && val & VTD_IQA_DW_MASK`, bit 11).
   */
  get iqDw(): boolean {
    return this.spec.scalable === true && (this.readReg64(DMAR_IQA_REG) & IQA_DW) !== 0n;
  }

  /** The last invalidation-queue error about the queue or a descriptor's width, in QEMU's words (error_report of vtd_fetch_inv_desc and its helpers); "" for other IQEs. */
  qiError = "";

  /**
   * Invalidation Queue Error: IQH stays on the offending descriptor (VT-d 6.5.2.10; QEMU
   * vtd_handle_inv_queue_error), FSTS.IQE is set and IQERCD.IQEI [3:0] says why (VT-d 11.4.9.9,
   * IQEI_*). QEMU sets only FSTS.IQE; the cause is the spec's.
   */
  private queueError(why: string, iqei: number): void {
    this.qiError = why;
    this.regs[DMAR_FSTS_REG >> 2] = this.readReg32(DMAR_FSTS_REG) | FSTS_IQE;
    this.setReg64(DMAR_IQER_REG, (this.readReg64(DMAR_IQER_REG) & ~0xfn) | BigInt(iqei & 0xf));
  }

  /**
   * The IQEI of a descriptor the unit refused in invalidate(): a type this unit does not process in
   * its mode or with its capabilities (unknown type, Device-TLB without ECAP.DT, a page group
   * response in legacy mode) is IQEI_TYPE; otherwise a field value it does not support (a
   * granularity, AM above CAP.MAMV, a page group response without PASID - QEMU's
   * vtd_process_page_group_response_desc refuses it) - the spec's table has no cause of its own
   * for those, IQEI_RSVD is the nearest.
   */
  private refusedCause(d: InvDescriptor): number {
    if (d.type === "unknown" || ((d.type === "dev-iotlb" || d.type === "pdev-iotlb") && !this.spec.deviceTlb) || (d.type === "pgrp-resp" && this.ttm !== 1)) return IQEI_TYPE;
    return IQEI_RSVD;
  }

  private processQueue(): void {
    if (!(this.readReg32(DMAR_GSTS_REG) & GCMD_QIE)) return;
    this.qiError = "";
    const iqa = this.readReg64(DMAR_IQA_REG);
    const base = Number(iqa & ~0xfffn);
    const dw = this.iqDw;
    // QEMU vtd_fetch_inv_desc / vtd_get_inv_desc: 16- or 32-byte descriptors, IQH/IQT index from
    // bit 4 or 5 (VTD_IQH_QH_SHIFT_4/_5, VTD_IQT_QT), 2^(QS + 8 - DW) of them (vtd_handle_gcmd_qie).
    const shift = dw ? 5n : 4n;
    const size = dw ? 32 : 16;
    const entries = (256 << Number(iqa & 7n)) >> (dw ? 1 : 0);
    let head = Number((this.readReg64(DMAR_IQH_REG) >> shift) & 0x7fffn);
    const iqt = this.readReg64(DMAR_IQT_REG);
    const tail = Number((iqt >> shift) & 0x7fffn);
    if (this.readReg32(DMAR_FSTS_REG) & (FSTS_IQE | FSTS_ITE)) return; // stalled until software clears IQE / ITE
    // A reserved RTADDR.TTM is "not valid for any descriptor type": with descriptors pending the unit
    // fetches none and reports IQEI 7 (VirtualBox DevIommuIntel.cpp dmarR3InvQueueThread, checked
    // before the tail: VTDIQEI_INVALID_TTM). QEMU keeps only TTM bit 10 and has no such check.
    if (this.ttm === TTM_RESERVED && head !== tail) return this.queueError("invalid RTADDR.TTM 10b (reserved): the unit fetches no descriptor", IQEI_TTM);
    // QEMU vtd_handle_iqt_write: with 256-bit descriptors IQT bit 4 is reserved (VTD_IQT_QT_256_RSV_BIT).
    if (dw && (iqt & 0x10n) !== 0n) return this.queueError(`vtd_handle_iqt_write: RSV bit is set: val=0x${iqt.toString(16)}`, IQEI_TAIL_ALIGN);
    if (tail >= entries) return this.queueError(`vtd_fetch_inv_desc: detected invalid QI tail (tail=0x${tail.toString(16)}, size=0x${entries.toString(16)})`, IQEI_TAIL);
    let guard = 0;
    while (head !== tail && guard++ < entries) {
      const at = base + head * size;
      const lo = this.mem.readU64(at);
      const hi = this.mem.readU64(at + 8);
      const qw2 = dw ? this.mem.readU64(at + 16) : 0n;
      const qw3 = dw ? this.mem.readU64(at + 24) : 0n;
      let why = lo === undefined || hi === undefined || qw2 === undefined || qw3 === undefined ? "vtd_get_inv_desc: Read INV DESC failed." : "";
      let bad = why !== "";
      let iqei = IQEI_FETCH;
      if (!bad) {
        this.queueLog.push({ lo: lo!, hi: hi! });
        // A page group response with PDP [5] on a unit with private data (VT-d 3.x): PDP and the
        // private data in qw2/qw3 are fields, not reserved (QEMU follows 4.0, where they are).
        const pdp = this.spec.prqPrivateData === true && (lo! & 0xfn) === 0x9n && (lo! & 0x20n) !== 0n;
        why = pdp && dw ? "" : descriptorWidthError(dw, lo!, hi!, qw2!, qw3!);
        this.descQw2 = qw2!;
        // qw2/qw3 set in a 256-bit queue: reserved fields; a 256-bit-only type in a 128-bit queue:
        // in scalable mode the queue's width is wrong (IQEI 5), in legacy mode the type is invalid.
        if (why !== "") iqei = dw ? IQEI_RSVD : this.ttm === 1 ? IQEI_WIDTH : IQEI_TYPE;
        // A Device-TLB invalidation to an endpoint that never answers: ITE, the device keeps its entries.
        const rlo = pdp ? lo! & ~0x20n : lo!;
        if (why === "" && !descriptorReserved(rlo, hi!) && this.invalidationTimedOut(lo!, hi!)) {
          head = (head + 1) % entries;
          break;
        }
        // A wrong width, reserved bits, or a granularity / AM the unit does not support.
        if (why === "" && descriptorReserved(rlo, hi!)) {
          why = `reserved bits set in a ${descName(Number(lo! & 0xfn))} descriptor: qw0 = 0x${lo!.toString(16)}, qw1 = 0x${hi!.toString(16)}`;
          iqei = IQEI_RSVD;
        }
        if (why === "") {
          const d = decodeDesc(lo!, hi!);
          if (!this.invalidate(d)) {
            // qiError stays "": the caller names what the unit lacks (model.ts invalidate).
            iqei = this.refusedCause(d);
            bad = true;
          }
        }
        bad ||= why !== "";
      }
      if (bad) {
        this.queueError(why, iqei);
        break;
      }
      head = (head + 1) % entries;
    }
    this.setReg64(DMAR_IQH_REG, BigInt(head) << shift);
  }

  /**
   * Requester ids of ATS endpoints that never complete a Device-TLB invalidation (host.iommu.ats
   * `responds: false`): a hung function, a device mid-reset, a surprise-removed one.
   */
  readonly silentSids = new Set<number>();

  /**
   * Invalidation Time-out (VT-d 6.5.2.10 / 11.4.9.9): a Device-TLB invalidation (type 0x3, or the
   * PASID-based 0x8) sent to an endpoint that never answers. The unit sets FSTS.ITE and IQERCD.ITESID
   * [47:32] (the endpoint), aborts the invalidation waits behind it (their status is not written)
   * and fetches nothing more until software clears ITE; IQH is left past the timed-out descriptor
   * (Linux's qi_check_fault takes `(IQH >> shift) - 1 | 1` as the wait descriptor that follows it).
   */
  private invalidationTimedOut(lo: bigint, hi: bigint): boolean {
    const type = Number(lo & 0xfn);
    if ((type !== 0x3 && type !== 0x8) || this.silentSids.size === 0) return false;
    // SID: bits 47:32 of a Device-TLB descriptor, 31:16 of a PASID-based one (VT-d 6.5.2.5 / 6.5.2.6;
    // Linux QI_DEV_IOTLB_SID `<< 32`, QI_DEV_EIOTLB_SID `<< 16`; qi.ts encodeDevIotlbDesc / encodePdevIotlbDesc).
    void hi;
    const sid = Number((lo >> (type === 0x3 ? 32n : 16n)) & 0xffffn);
    if (!this.silentSids.has(sid)) return false;
    this.regs[DMAR_FSTS_REG >> 2] = this.readReg32(DMAR_FSTS_REG) | FSTS_ITE;
    this.setReg64(DMAR_IQER_REG, (this.readReg64(DMAR_IQER_REG) & ~(0xffffn << 32n)) | (BigInt(sid) << 32n));
    return true;
  }

  takeQueueLog(): { lo: bigint; hi: bigint }[] {
    const l = this.queueLog;
    this.queueLog = [];
    return l;
  }

  // ---------------------------------------------------------------- translation

  /**
   * Translates one DMA request from requester `sid`. Returns 0 (hpaLo/hpaHi/kind/level/iotlbHit set)
   * or the VT-d fault reason (fate tells whether it was recorded). With `probe` the unit answers
   * what it would do without filling caches or recording faults.
   */
  translate(sid: number, iovaHi: number, iovaLo: number, write: boolean, probe = false): number {
    this.fate = FaultFate.None;
    this.iotlbHit = false;
    this.devtlbHit = false;
    this.ccHit = false;
    this.level = 0;
    this.did = 0;
    this.lastPerm = 0;
    this.permFromCore = false;
    this.stage = XlateStage.None;
    if (!probe) this.counters.requests++;
    if (write && iovaHi === 0 && iovaLo >>> 20 === INTERRUPT_ADDR_FIRST >>> 20 && this.reqPasid < 0) {
      // Requests-without-PASID writes to the interrupt range are interrupt requests (VT-d 3.14).
      this.kind = XlateKind.Interrupt;
      this.hpaHi = 0;
      this.hpaLo = iovaLo;
      if (!this.interruptRemappingEnabled) return 0;
      // Interrupt remapping (intremap.ts): the request's handle indexes the IRTE.
      this.stage = XlateStage.InterruptRemap;
      const cfis = (this.readReg32(DMAR_GSTS_REG) & GCMD_CFI) !== 0;
      const r = this.ir.remap(sid, iovaLo, this.msiData, cfis, probe, probe && this.bypassCaches);
      if (r === 0) return 0;
      if (probe) return r;
      this.counters.faults++;
      if (this.ir.fpd && InterruptRemapper.qualified(r)) {
        this.fate = FaultFate.SuppressedFpd;
        this.counters.suppressed++;
        return r;
      }
      // FRCD.FI bits 63:48 hold the interrupt index for IR faults (Linux dmar_fault prints fault index = addr >> 48).
      this.fate = this.recordFault(sid, BigInt(this.ir.index) << 48n, r, false);
      if (this.fate === FaultFate.Recorded) this.counters.recorded++;
      else this.counters.overflowed++;
      return r;
    }
    if (!this.translationEnabled) {
      this.kind = XlateKind.Untranslated;
      this.hpaHi = iovaHi;
      this.hpaLo = iovaLo;
      return 0;
    }
    if (this.ttm === 1) return translateScalable(this, sid, iovaHi, iovaLo, write, probe);
    if (this.reqPasid >= 0) {
      // A request with PASID reaching a legacy-mode root table (Linux: "SM: TTM 0 for request with PASID").
      return this.fault(VTD_FR_SM_TTM0_PASID, sid, iovaHi, iovaLo, write, false, probe);
    }
    let ce = this.bypassCaches && probe ? undefined : this.cc.get(sid);
    let fpd = false;
    if (ce !== undefined) {
      this.ccHit = true;
    } else {
      const r = this.resolveContext(sid);
      if (typeof r === "number") return this.fault(r, sid, iovaHi, iovaLo, write, this.lastFpd, probe);
      ce = r;
      if (!probe) this.cc.set(sid, ce);
    }
    fpd = ce.fpd;
    this.did = ce.did;
    if (ce.tt === CONTEXT_TT_PASS_THROUGH) {
      this.kind = XlateKind.PassThrough;
      this.hpaHi = iovaHi;
      this.hpaLo = iovaLo;
      this.lastPerm = 3;
      return 0;
    }
    if (this.reqTranslated || this.atsSids.has(sid)) {
      const a = this.atsRequest(ce.tt === CONTEXT_TT_DEV_IOTLB, ce.fpd, VTD_FR_CONTEXT_ENTRY_TT, sid, -1, iovaHi, iovaLo, write, probe);
      if (a >= 0) return a;
    }
    this.kind = XlateKind.Translated;
    const t = this.translator;
    let r: number;
    if (probe) {
      // Look, don't touch: IOTLB lookup (stale entries included) or a walk, never a fill. QEMU's
      // order (vtd_do_iommu_translate): the IOTLB first; the range check only on a miss, inside
      // vtd_iova_to_slpte — the translate core does the same.
      r = this.bypassCaches ? -1 : this.iotlb.lookup(ce.did, iovaHi, iovaLo, write);
      if (r >= 0) {
        this.iotlbHit = true;
        this.stage = XlateStage.Iotlb;
        this.level = this.iotlb.level;
        this.lastPerm = this.iotlb.perm;
        this.hpaLo = this.iotlb.hpaLo >>> 0;
        this.hpaHi = this.iotlb.hpaHi >>> 0;
      } else if (ce.width < 64 && iovaHi >>> (ce.width - 32) !== 0) {
        this.stage = XlateStage.Width;
        r = VTD_FR_ADDR_BEYOND_MGAW;
      } else {
        this.stage = XlateStage.Walk;
        r = this.walker.walkTagged(this.bypassCaches ? 0 : ce.did, false, ce.root, ce.levels, iovaHi, iovaLo, write);
        this.level = this.walker.level;
        this.lastPerm = r === 0 ? this.walker.perm : 0;
        this.hpaLo = this.walker.hpaLo >>> 0;
        this.hpaHi = this.walker.hpaHi >>> 0;
      }
    } else {
      r = t.translate(ce.did, ce.root, ce.levels, ce.width, iovaHi, iovaLo, write);
      this.iotlbHit = t.iotlbHit;
      this.level = t.level;
      this.permFromCore = r === 0;
      this.stage = t.iotlbHit ? XlateStage.Iotlb : r === VTD_FR_ADDR_BEYOND_MGAW ? XlateStage.Width : XlateStage.Walk;
      // The translator keeps int32 halves (see SecondLevelTranslator); the unit's API is unsigned.
      this.hpaLo = t.hpaLo >>> 0;
      this.hpaHi = t.hpaHi >>> 0;
      if (t.iotlbHit) this.counters.iotlbHits++;
      else this.counters.walks++;
    }
    const res = this.settle(r, ce.did, sid, iovaHi, iovaLo, write, fpd, probe);
    // A successful Translation Request: the device caches the completion (ATS; VT-d 4.2.2).
    if (res === 0 && !probe && this.atsSids.has(sid) && ce.tt === CONTEXT_TT_DEV_IOTLB) this.devtlb.fill(sid, -1, iovaHi, iovaLo, this.hpaHi, this.hpaLo, this.level, this.perm);
    return res;
  }

  /**
   * The ATS half of a request from an ATS endpoint, after its context entry resolved (VT-d 4.2):
   * a Translated Request (the scenario's `translated: true`, or a hit in the device's Device-TLB
   * that allows the access) needs the context entry to allow ATS (`allowed`: legacy T = 01b,
   * scalable-mode DTE = 1) and is then passed untranslated, without an IOTLB lookup or a walk;
   * otherwise it is blocked with fault `reason` (legacy 0x0D VTD_FR_CONTEXT_ENTRY_TT, scalable
   * mode 0x44 VTD_FR_SM_DTE_CLEAR). A Translation Request (a Device-TLB miss) is blocked the same
   * way; when allowed it is translated as an untranslated request would be (IOTLB, walk, the same
   * faults: a device whose completion says R = W = 0 issues the access untranslated), and the
   * caller fills the Device-TLB with the result. `tag` is the Device-TLB's PASID tag (-1: none).
   * Returns -1 to let the caller do that translation.
   */
  atsRequest(allowed: boolean, fpd: boolean, reason: number, sid: number, tag: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean): number {
    const devtlb = this.devtlb;
    let translated = this.reqTranslated;
    if (!translated && !this.bypassCaches) {
      const i = devtlb.lookup(sid, tag, iovaHi, iovaLo);
      // An entry without the access's permission: the device asks again (a new Translation Request).
      if (i >= 0 && (devtlb.hitPerm & (write ? 2 : 1)) !== 0) translated = true;
      else if (i >= 0 && !probe) devtlb.invalidate(sid, tag, (BigInt(iovaHi) << 32n) | BigInt(iovaLo), 0x1000n);
    }
    this.kind = XlateKind.Translated;
    if (!allowed) {
      this.stage = XlateStage.Context;
      return this.fault(reason, sid, iovaHi, iovaLo, write, fpd, probe);
    }
    if (!translated) return -1;
    this.stage = XlateStage.DeviceTlb;
    this.devtlbHit = !this.reqTranslated;
    if (this.reqTranslated) {
      this.hpaHi = iovaHi >>> 0;
      this.hpaLo = iovaLo >>> 0;
      this.lastPerm = 3;
      this.level = 0;
    } else {
      this.hpaHi = devtlb.hpaHi;
      this.hpaLo = devtlb.hpaLo;
      this.lastPerm = devtlb.hitPerm;
      this.level = devtlb.hitLevel;
    }
    return 0;
  }

  /** The end of a translation in a context (translate(), translateRun's bursts): the interrupt-range check on a walk's page, then the fault, if any. */
  private settle(r: number, did: number, sid: number, iovaHi: number, iovaLo: number, write: boolean, fpd: boolean, probe: boolean): number {
    if (r === 0 && !this.iotlbHit && this.pageHitsInterruptRange()) {
      // QEMU vtd_iova_to_slpte: "xlat address is in interrupt range" -> LGN.4 (0x0E). Undo the fill.
      if (!probe) this.iotlb.invalidatePages(did, (BigInt(iovaHi) << 32n) | BigInt(iovaLo >>> 0), 0);
      this.stage = XlateStage.InterruptRange;
      r = VTD_FR_INTERRUPT_ADDR;
    }
    if (r !== 0) return this.fault(r, sid, iovaHi, iovaLo, write, fpd, probe);
    return 0;
  }

  /**
   * A device's MSI write: the 32-bit `address` (0xFEEx_xxxx) with `data`, through translate() - the
   * interrupt path of a DMA write into the window, with the MSI data the write carries.
   */
  translateMsi(sid: number, address: number, data: number, probe = false): number {
    this.msiData = data >>> 0;
    try {
      return this.translate(sid, 0, address >>> 0, true, probe);
    } finally {
      this.msiData = 0;
    }
  }

  pageHitsInterruptRange(): boolean {
    if (this.hpaHi !== 0) return false;
    const size = this.level === 1 ? 0x1000 : this.level === 2 ? 0x200000 : 0x40000000;
    const base = this.hpaLo - (this.hpaLo % size);
    return base <= INTERRUPT_ADDR_LAST && base + size - 1 >= INTERRUPT_ADDR_FIRST;
  }

  /** FPD of the context entry read by the last failed resolveContext (QEMU reads it even when P=0). */
  private lastFpd = false;

  /** Root entry -> context entry -> cached context, with QEMU's checks in QEMU's order. */
  private resolveContext(sid: number): CcEntry | number {
    this.lastFpd = false;
    const bus = sid >> 8;
    const devfn = sid & 0xff;
    const mem = this.mem;
    const record = this.recordTrail;
    const tr = this.trailRoot;
    const tc = this.trailContext;
    if (record) {
      tr.read = tc.read = false;
      tr.lo = tr.hi = tc.lo = tc.hi = undefined;
    }
    this.stage = XlateStage.Root;
    const reAddr = this.rootTable + bus * 16;
    if (record) tr.address = reAddr;
    if (!mem.read64(reAddr)) return VTD_FR_ROOT_TABLE_INV;
    const reLo = (BigInt(mem.hi) << 32n) | BigInt(mem.lo);
    if (!mem.read64(reAddr + 8)) return VTD_FR_ROOT_TABLE_INV;
    const reHi = (BigInt(mem.hi) << 32n) | BigInt(mem.lo);
    if (record) Object.assign(tr, { lo: reLo, hi: reHi, read: true });
    if ((reLo & 1n) === 0n) return VTD_FR_ROOT_ENTRY_P;
    if (rootEntryReserved(reLo, reHi, this.haw)) return VTD_FR_ROOT_ENTRY_RSVD;
    this.stage = XlateStage.Context;
    const ceAddr = Number(reLo & ~0xfffn) + devfn * 16;
    if (record) tc.address = ceAddr;
    if (!mem.read64(ceAddr)) return VTD_FR_CONTEXT_TABLE_INV;
    const ceLo = (BigInt(mem.hi) << 32n) | BigInt(mem.lo);
    if (!mem.read64(ceAddr + 8)) return VTD_FR_CONTEXT_TABLE_INV;
    const ceHi = (BigInt(mem.hi) << 32n) | BigInt(mem.lo);
    if (record) Object.assign(tc, { lo: ceLo, hi: ceHi, read: true });
    this.lastFpd = (ceLo & 2n) !== 0n;
    if ((ceLo & 1n) === 0n) return VTD_FR_CONTEXT_ENTRY_P;
    if (contextEntryReserved(ceLo, ceHi, this.haw)) return VTD_FR_CONTEXT_ENTRY_RSVD;
    const aw = Number(ceHi & 7n);
    const width = awToWidth(aw);
    const tt = Number((ceLo >> 2n) & 3n);
    if (this.contextInvalid(aw, tt) !== undefined) return VTD_FR_CONTEXT_ENTRY_INV;
    return {
      did: Number((ceHi >> 8n) & 0xffffn),
      root: Number(ceLo & ~0xfffn & ((1n << 52n) - 1n)),
      levels: awToLevels(aw),
      width: Math.min(width, this.haw),
      tt,
      fpd: this.lastFpd,
    };
  }

  /**
   * Why a present context entry with these AW and T fields is invalid on this unit (fault 0x03),
   * or undefined when it is valid: QEMU vtd_is_level_supported (the AW must be one SAGAW
   * advertises) and the translation types ECAP allows (vtd_ce_type_check).
   */
  contextInvalid(aw: number, tt: number): string | undefined {
    if (aw < 1 || aw > 3 || !this.spec.sagaw.some((w) => sagawBit(w) === 1 << aw)) return "its AW is not a width the unit supports (CAP.SAGAW)";
    if (tt === CONTEXT_TT_DEV_IOTLB && !this.spec.deviceTlb) return "T = 1 (device-TLB) but the unit has no device-TLB support (ECAP.DT = 0)";
    if (tt === CONTEXT_TT_PASS_THROUGH && !this.spec.passThrough) return "T = 2 (pass-through) but the unit has no pass-through support (ECAP.PT = 0)";
    if (tt !== CONTEXT_TT_MULTI_LEVEL && tt !== CONTEXT_TT_DEV_IOTLB && tt !== CONTEXT_TT_PASS_THROUGH) return "T = 3 is reserved";
    return undefined;
  }

  // ---------------------------------------------------------------- page requests

  /**
   * A page request from a PRI device (VT-d 7.4.1.1, QEMU vtd_pri_request_page): a 32-byte page
   * request descriptor at PQA + PQT - qw0: type 1 [7:0], PP [8], RID [31:16], PASID [51:32], ER
   * [52], PMR [53]; qw1: RDR [0], WRR [1], LPIG [2], PRGI [11:3], ADDR [63:12] (Linux struct
   * page_req_dsc) - PQT advanced, PRS.PPR set. The queue holds 2^(PQS + 7) entries (vtd_prq_size).
   *
   * Overflow (VT-d 7.4.1 "page request queue overflow"; QEMU vtd_pri_request_page): with PRS.PRO
   * already set, or when the request does not fit (PQT + 32 would meet PQH: the unit keeps one
   * slot empty), nothing is written and PRO is set. A dropped request that was the last of its
   * group (LPIG) is answered by the unit itself with a page group response of Success, so the
   * device retries its Translation Request instead of waiting for ever; the other requests of the
   * group are lost silently (Linux's iopf_queue_discard_partial() drops what it holds of such a
   * group, drivers/iommu/io-pgfault.c). QEMU does not auto-respond (it returns -ENOSPC to the
   * device model); the spec's auto-response is modelled here. `pasid` < 0: a request without PASID
   * (PP = 0). Each answer is in `pageResponses` (auto-responses with `auto: true`).
   *
   * A VT-d 3.x unit (prq-private-data) also owes a response to a request with private data that is
   * not the last of its group: "VT-d Rev3.0 ... introduced private data that requires page
   * response even the request is not last request in group (LPIG)" (Linux 5b438f4ba315, v5.0; and
   * 5f75585e19cc: "Page responses should only be sent when last page in group (LPIG) or private
   * data is present"). So a lost PDP request is answered like a lost LPIG one: Success, with its
   * private data (the response's qw2, as Linux's own responses echo it). The spec's overflow text
   * itself was not available to check this against; the rule "the unit answers a lost request that
   * needs an answer" is read from the two commits.
   */
  pageRequest(sid: number, pasid: number, addr: bigint, write: boolean, priv: boolean, exec: boolean, prgi: number, lpig = true, read = !write, privateData?: bigint): PageRequestFate {
    if (((this.ecap >> 29n) & 1n) === 0n) return PageRequestFate.Refused;
    const pqa = this.readReg64(DMAR_PQA_REG);
    const size = 32 * 2 ** (Number(pqa & 7n) + 7);
    const prs = this.readReg32(DMAR_PRS_REG);
    const tail = Number(this.readReg64(DMAR_PQT_REG)) % size;
    const next = (tail + 32) % size;
    if (prs & PRS_PRO || next === Number(this.readReg64(DMAR_PQH_REG))) {
      // QEMU vtd_pri_request_page: with PRO already set "no action is taken by hardware to report a
      // fault or generate an event"; a queue found full sets PRO and raises the page request event.
      if (!(prs & PRS_PRO)) {
        this.regs[DMAR_PRS_REG >> 2] = prs | PRS_PRO;
        this.pageRequestEvent(prs);
      }
      const pdpLost = privateData !== undefined && this.spec.prqPrivateData === true;
      if (!lpig && !pdpLost) return PageRequestFate.Dropped;
      this.pageResponses.push({ sid, pasid: Math.max(pasid, 0), prgi, code: QI_RESP_SUCCESS, auto: true, ...(pdpLost ? { privateData: BigInt.asUintN(64, privateData) } : {}) });
      return PageRequestFate.AutoResponded;
    }
    const at = Number(pqa & ~0xfffn) + tail;
    // Private data (VT-d 3.x, host.iommu.prq-private-data): PDP and the data in qw2 (qw3 stays 0).
    const pdp = privateData !== undefined && this.spec.prqPrivateData === true;
    const [qw0, qw1] = encodePageRequestDesc({ pp: pasid >= 0, pdp, rid: sid, pasid: Math.max(pasid, 0), er: exec, pmr: priv, rdr: read, wrr: write, lpig, prgi, addr });
    this.mem.writeU64(at, qw0);
    this.mem.writeU64(at + 8, qw1);
    this.mem.writeU64(at + 16, pdp ? BigInt.asUintN(64, privateData) : 0n);
    this.mem.writeU64(at + 24, 0n);
    this.setReg64(DMAR_PQT_REG, BigInt(next));
    // QEMU vtd_pri_request_page: PPR set, and the event raised when PPR was clear before.
    const before = this.readReg32(DMAR_PRS_REG);
    if (!(before & PRS_PPR)) {
      this.regs[DMAR_PRS_REG >> 2] = before | PRS_PPR;
      this.pageRequestEvent(before);
    }
    return PageRequestFate.Queued;
  }

  /** Page request event interrupts the unit has sent (MSI writes of PEDATA to PEADDR): each one runs Linux's prq_event_thread. */
  prInterrupts = 0;

  /**
   * The page request event (VT-d 7.5; QEMU vtd_generate_page_request_event): none while PRS had PPR
   * or PRO set before this request ("Hardware evaluates PPR and PRO fields ... if any of them is
   * set, Page Request Event is not generated"); else PECTL.IP is set, and when PECTL.IM is clear
   * the interrupt is sent at once and IP cleared again. A masked event stays pending in IP until
   * software clears IM (writeReg32 DMAR_PECTL_REG) or services PPR (writeReg32 DMAR_PRS_REG), as
   * Intel's PECTL_REG description has it (12th Generation Core datasheet vol. 2). That description
   * (VT-d 2.x wording: "a page group request with Last Page in Group ... added", no overflow) names
   * only last-in-group requests as the condition; QEMU raises it for every request that sets PPR
   * and for an overflow, which the unit follows.
   */
  private pageRequestEvent(prsBefore: number): void {
    if (prsBefore & (PRS_PPR | PRS_PRO)) return;
    const pectl = this.readReg32(DMAR_PECTL_REG);
    if (pectl & PECTL_IM) {
      this.regs[DMAR_PECTL_REG >> 2] = (pectl | PECTL_IP) >>> 0;
      return;
    }
    this.prInterrupts++;
  }

  /**
   * Page group responses the device heard: from the invalidation queue (type 0x9, Linux's answer)
   * or, with `auto`, from the unit itself for a last-in-group request it could not queue.
   */
  pageResponses: { sid: number; pasid: number; prgi: number; code: number; auto?: true; privateData?: bigint }[] = [];

  /** qw2 of the descriptor invalidate() is processing (a 256-bit queue), for a page group response's private data. */
  private descQw2 = 0n;

  // ---------------------------------------------------------------- fault recording

  /** Counts a fault and records it (or not: FPD, overflow, compression); the scalable-mode path reports through it too. */
  fault(reason: number, sid: number, iovaHi: number, iovaLo: number, write: boolean, fpd: boolean, probe: boolean): number {
    if (probe) return reason;
    this.counters.faults++;
    if (fpd && !NON_QUALIFIED.has(reason)) {
      this.fate = FaultFate.SuppressedFpd;
      this.counters.suppressed++;
      return reason;
    }
    this.fate = this.recordFault(sid, (BigInt(iovaHi) << 32n) | BigInt((iovaLo & ~0xfff) >>> 0), reason, !write);
    if (this.fate === FaultFate.Recorded) this.counters.recorded++;
    else this.counters.overflowed++;
    return reason;
  }

  /** QEMU vtd_report_frcd_fault: PFO drop, compression, next-register busy -> PFO, else record. */
  recordFault(sid: number, address: bigint, reason: number, read: boolean): FaultFate {
    const fsts = this.readReg32(DMAR_FSTS_REG);
    if (fsts & FSTS_PFO) return FaultFate.Overflow;
    for (let i = 0; i < this.nfr; i++) {
      const rec = this.readRecord(i);
      if (rec !== undefined && rec.sid === sid) return FaultFate.Compressed;
    }
    const i = this.nextFrcd;
    const off = DMAR_FRCD_REG + 16 * i;
    if (this.readReg32(off + 12) & 0x80000000) {
      this.regs[DMAR_FSTS_REG >> 2] = fsts | FSTS_PFO;
      return FaultFate.Overflow;
    }
    this.setReg64(off, address & 0xfffffffffffff000n);
    // SID [79:64]; for a request with PASID: PRIV [93], EXE [94], PP [95] and PV [123:104] (VT-d 11.4.9.6, regs.ts FRCD_FIELDS).
    const pasid = this.reqPasid;
    const pp = pasid >= 0;
    this.regs[(off + 8) >> 2] = ((sid & 0xffff) | (pp ? 0x80000000 | (this.reqPriv ? 0x20000000 : 0) | (this.reqExec ? 0x40000000 : 0) : 0)) >>> 0;
    this.regs[(off + 12) >> 2] = (0x80000000 | (read ? 0x40000000 : 0) | (pp ? (pasid & 0xfffff) << 8 : 0) | (reason & 0xff)) >>> 0; // F, T, PV, FR
    this.nextFrcd = (i + 1) % this.nfr;
    if (!(fsts & FSTS_PPF)) {
      // FRI = this record; PPF; the fault event is raised unless masked (FECTL.IP stays pending).
      this.regs[DMAR_FSTS_REG >> 2] = ((fsts & ~0xff00) | (i << 8) | FSTS_PPF) >>> 0;
      this.regs[DMAR_FECTL_REG >> 2] = this.readReg32(DMAR_FECTL_REG) | FECTL_IP;
    }
    return FaultFate.Recorded;
  }

  private updatePpf(): void {
    let any = false;
    for (let i = 0; i < this.nfr; i++) if (this.readReg32(DMAR_FRCD_REG + 16 * i + 12) & 0x80000000) any = true;
    const fsts = this.readReg32(DMAR_FSTS_REG);
    this.regs[DMAR_FSTS_REG >> 2] = (any ? fsts | FSTS_PPF : fsts & ~FSTS_PPF) >>> 0;
    if (!any && !(fsts & FSTS_PFO)) this.regs[DMAR_FECTL_REG >> 2] = this.readReg32(DMAR_FECTL_REG) & ~FECTL_IP;
  }

  /** Fault recording register i decoded (regs.ts decodeFrcdRecord), or undefined when its F bit is clear. */
  readRecord(i: number): FaultRecord | undefined {
    const off = DMAR_FRCD_REG + 16 * i;
    if (!(this.readReg32(off + 12) & FRCD_F_DWORD_BIT)) return undefined;
    const r = decodeFrcdRecord(this.readReg64(off), this.readReg64(off + 8));
    return { index: i, sid: r.SID, address: r.FI, reason: r.FR, read: r.T, ...(r.PP ? { pasid: r.PV } : {}) };
  }

  /** Fault event pending (FECTL.IP) and not masked. */
  get faultEventPending(): boolean {
    const fectl = this.readReg32(DMAR_FECTL_REG);
    return (fectl & FECTL_IP) !== 0 && (fectl & FECTL_IM) === 0;
  }

  // ---------------------------------------------------------------- runs of DMA transactions

  /**
   * Transactions [from, to) of a DMA transfer (transaction t is page t % pages of repetition
   * t / pages), each through translate() — so the interrupt range, the context cache, the IOTLB,
   * fault recording with FPD, compression and overflow, and the counters are exactly those of
   * single requests — and each appended to `trace` as the event the `dma` step has always
   * recorded (step `step`, requester, domain, flags, level, reason, IOVA, HPA). The step calls it
   * once per run of transactions (between its polls, or once per transaction of each device when
   * several devices' transactions interleave), with one tally for the whole step: nothing is
   * allocated per transaction, and the event columns are written in place.
   */
  translateRun(x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void {
    this.reqPasid = x.pasid ?? -1;
    this.reqTranslated = x.translated === true;
    this.runNext = this.runDone = 0;
    this.runSlowAt = -1;
    translateEach(this, x, from, to, trace, step, tally);
    this.reqPasid = -1;
    this.reqTranslated = false;
  }

  /**
   * Transaction t of a run (translateEach): the next result of the current burst of the translate
   * core, or a new burst when the run has two or more transactions left and a context bursts can
   * use (burstContext), or else translate(). Results [runNext, runDone) of the burst answer the
   * transactions from here on, in order; the one at runSlowAt was handed back by the core and goes
   * through translate().
   */
  dmaRequest(x: DmaTransfer, t: number, to: number, iovaHi: number, iovaLo: number): number {
    if (this.runNext < this.runDone) return this.takeBurstResult(this.burst.results, this.burst.info, this.runNext++, this.runCe!, x.sid, iovaHi, iovaLo, x.write);
    this.runNext = this.runDone = 0;
    if (t !== this.runSlowAt && to - t > 1 && (this.runCe = this.burstContext(x)) !== undefined) {
      const ce = this.runCe;
      const n = Math.min(to - t, RUN_BURST);
      loadBurst(this.burst, x, t, n);
      this.runDone = this.translator.translateBatch(ce.did, ce.root, ce.levels, ce.width, this.burst, n, true);
      if (this.runDone < n) this.runSlowAt = t + this.runDone;
    }
    return this.runNext < this.runDone ? this.takeBurstResult(this.burst.results, this.burst.info, this.runNext++, this.runCe!, x.sid, iovaHi, iovaLo, x.write) : this.translate(x.sid, iovaHi, iovaLo, x.write);
  }

  /**
   * One request from requester `rid` (HostUnit): translate(); `probe` records no fault. A request
   * with PASID carries the same tag translateRun gives each transaction of a transfer with one.
   */
  request(rid: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean, pasid = -1): number {
    if (pasid < 0) return this.translate(rid, iovaHi, iovaLo, write, probe);
    this.reqPasid = pasid;
    try {
      return this.translate(rid, iovaHi, iovaLo, write, probe);
    } finally {
      this.reqPasid = -1;
    }
  }

  /** The trace's translation kind of the last request (DmaUnit). */
  get xlateKind(): number {
    return this.kind;
  }

  /** The trace's level of the last request (DmaUnit): the leaf level, with LEVEL_DEVICE_TLB for a Translated Request (no walk). */
  get leafLevel(): number {
    return this.stage === XlateStage.DeviceTlb ? this.level | LEVEL_DEVICE_TLB : this.level;
  }

  /**
   * The context a run of x's transactions can be translated in by bursts of the translate core,
   * or undefined when each must go through translate(): translation off, scalable mode or a
   * request with PASID, no cached context for the requester yet (the first request resolves it),
   * a pass-through context, a probe's trail, or a write that may reach the interrupt range (an
   * interrupt request, not DMA).
   */
  private burstContext(x: DmaTransfer): CcEntry | undefined {
    if (!this.runBursts || this.bypassCaches || this.recordTrail || !this.translationEnabled) return undefined;
    // Scalable mode and requests with PASID take translateScalable's path (the legacy context cache is not theirs).
    if (this.ttm !== 0 || this.reqPasid >= 0) return undefined;
    // ATS endpoints look up their Device-TLB first (atsRequest): not the core's path.
    if (this.reqTranslated || this.atsSids.has(x.sid)) return undefined;
    const ce = this.cc.get(x.sid);
    if (ce === undefined || ce.tt === CONTEXT_TT_PASS_THROUGH) return undefined;
    if (x.write && x.baseHi === 0 && x.baseLo <= INTERRUPT_ADDR_LAST && x.baseLo + x.pages * 4096 > INTERRUPT_ADDR_FIRST) return undefined;
    return ce;
  }

  /**
   * Burst result j as translate() would have answered the same request in context ce: the same
   * result fields, counters and fault recording (settle), from the core's result and info byte.
   */
  private takeBurstResult(res: Int32Array, info: Uint8Array, j: number, ce: CcEntry, sid: number, iovaHi: number, iovaLo: number, write: boolean): number {
    this.counters.requests++;
    this.fate = FaultFate.None;
    this.kind = XlateKind.Translated;
    this.ccHit = true;
    this.did = ce.did;
    const inf = info[j]!;
    const hit = (inf & CORE_INFO.iotlbHit) !== 0;
    this.iotlbHit = hit;
    this.level = inf & CORE_INFO.levelMask;
    const resLo = res[2 * j]!;
    const resHi = res[2 * j + 1]!;
    const r = resHi === CORE_FAULT_HI ? resLo : 0;
    if (r === 0) {
      this.hpaLo = resLo >>> 0;
      this.hpaHi = resHi >>> 0;
    }
    // The core's result block describes the burst's last request: the one perm is asked of.
    this.permFromCore = r === 0;
    this.stage = hit ? XlateStage.Iotlb : r === VTD_FR_ADDR_BEYOND_MGAW ? XlateStage.Width : XlateStage.Walk;
    if (hit) this.counters.iotlbHits++;
    else this.counters.walks++;
    // A translated IOTLB hit is all settle() would return 0 for at once (its interrupt-range
    // check is for fills): answered here, since V8 does not inline settle into the hot loop.
    if (r === 0 && hit) return 0;
    return this.settle(r, ce.did, sid, iovaHi, iovaLo, write, ce.fpd, false);
  }

  /**
   * DmaUnit.takeIotlbHits: the current burst's next results, while they are translated IOTLB
   * hits (CORE_INFO.iotlbHit, no fault), each as takeBurstResult would have taken it (the same
   * counters; settle() has nothing to do for a hit), their output addresses and levels written
   * for the trace. Called after a burst hit, so did, ccHit, kind, fate and stage already hold.
   */
  takeIotlbHits(max: number, hpaHi: Uint32Array, hpaLo: Uint32Array, level: Uint8Array, at: number): number {
    let j = this.runNext;
    const end = Math.min(this.runDone, j + max);
    if (j >= end) return 0;
    const res = this.burst.results;
    const info = this.burst.info;
    let k = at;
    for (; j < end; j++, k++) {
      const inf = info[j]!;
      const resHi = res[2 * j + 1]!;
      if ((inf & CORE_INFO.iotlbHit) === 0 || resHi === CORE_FAULT_HI) break;
      hpaHi[k] = resHi;
      hpaLo[k] = res[2 * j]!;
      level[k] = inf & CORE_INFO.levelMask;
    }
    const n = j - this.runNext;
    if (n === 0) return 0;
    this.runNext = j;
    this.counters.requests += n;
    this.counters.iotlbHits += n;
    this.level = info[j - 1]! & CORE_INFO.levelMask;
    this.hpaLo = res[2 * j - 2]! >>> 0;
    this.hpaHi = res[2 * j - 1]! >>> 0;
    return n;
  }

  /** Cached context entries, for the tree views. */
  contextCacheEntries(): { sid: number; did: number; root: number; levels: number; tt: number; fpd: boolean }[] {
    return [...this.cc].map(([sid, e]) => ({ sid, ...e })).sort((a, b) => a.sid - b.sid);
  }

  snapshot(): DmarUnitSnapshot {
    return {
      regs: this.regs.slice(),
      rootTable: this.rootTable,
      nextFrcd: this.nextFrcd,
      cc: [...this.cc].map(([k, v]) => [k, { ...v }]),
      iotlb: this.iotlb.snapshot(),
      ...(this.walker.psc !== null ? { psc: this.walker.psc.snapshot() } : {}),
      ...(this.flWalker.psc !== null ? { flPsc: this.flWalker.psc.snapshot() } : {}),
      counters: { ...this.counters },
      queueLog: [...this.queueLog],
      ttm: this.ttm,
      sm: this.sm.snapshot(),
      ir: this.ir.snapshot(),
      devtlb: this.devtlb.snapshot(),
      nextPrgi: this.nextPrgi,
      prInterrupts: this.prInterrupts,
    };
  }

  restore(s: DmarUnitSnapshot): void {
    this.regs.set(s.regs);
    this.rootTable = s.rootTable;
    this.nextFrcd = s.nextFrcd;
    this.cc.clear();
    for (const [k, v] of s.cc) this.cc.set(k, { ...v });
    this.iotlb.restore(s.iotlb);
    if (s.psc !== undefined) this.walker.psc?.restore(s.psc);
    if (s.flPsc !== undefined) this.flWalker.psc?.restore(s.flPsc);
    this.counters = { ...s.counters };
    this.queueLog = [...s.queueLog];
    this.ttm = s.ttm ?? 0;
    if (s.sm) this.sm.restore(s.sm);
    if (s.ir) this.ir.restore(s.ir);
    if (s.devtlb) this.devtlb.restore(s.devtlb);
    else this.devtlb.clear();
    this.nextPrgi = s.nextPrgi ?? 0;
    this.prInterrupts = s.prInterrupts ?? 0;
  }
}

/**
 * QEMU vtd_inv_desc_reserved_check(): in a 256-bit queue the upper half (qw2, qw3) of every
 * descriptor type this unit knows is reserved; in a 128-bit queue the PASID-based descriptors
 * (PASID-based IOTLB 0x6, PASID-cache 0x7, PASID-based device-TLB 0x8), which exist only in the
 * 256-bit format, are an error. "" when the descriptor fits the queue's width; QEMU's message otherwise.
 */
export function descriptorWidthError(dw: boolean, lo: bigint, hi: bigint, qw2: bigint, qw3: bigint): string {
  const type = Number(lo & 0xfn);
  const name = ["", "context cache", "iotlb", "dev-iotlb", "iec", "wait", "piotlb inv", "pasid cache inv", "p-dev-iotlb inv"][type] ?? `type 0x${type.toString(16)}`;
  if (dw) {
    if (qw2 !== 0n || qw3 !== 0n) return `vtd_inv_desc_reserved_check: invalid ${name} desc val[3]: 0x${qw3.toString(16)} val[2]: 0x${qw2.toString(16)} val[1]=0x${hi.toString(16)} val[0]=0x${lo.toString(16)} (reserved nonzero)`;
    return "";
  }
  if (type >= 0x6 && type <= 0x8) return `vtd_inv_desc_reserved_check: 256-bit ${name} desc in 128-bit invalidation queue`;
  return "";
}

/**
 * IQERCD.IQEI (VT-d 11.4.9.9): 1 invalid tail pointer, 2 the descriptor fetch failed, 3 invalid
 * descriptor type, 4 reserved field set in a valid descriptor type, 5 descriptor width (IQA.DW = 0
 * in scalable mode), 6 queue tail not aligned to the width (IQA.DW = 1 and IQT[4] set), 7 invalid
 * (reserved) RTADDR.TTM. Checked: 0 - 5 against Intel's own register reference (edc.intel.com,
 * 14th Generation Core "IQ Error Info register (IQERCD_REG)": "1: hardware detected an invalid
 * Tail Pointer ... 5: hardware detected an invalid descriptor width programmed in the Invalidation
 * Queue Add[ress register]"), and 0 - 7 against VirtualBox's `enum VTDIQEI`
 * (include/VBox/iommu-intel.h, "in accordance with the Intel spec": INFO_NOT_AVAILABLE,
 * INVALID_TAIL_PTR, FETCH_DESCRIPTOR_ERR, INVALID_DESCRIPTOR_TYPE, RSVD_FIELD_VIOLATION,
 * INVALID_DESCRIPTOR_WIDTH, QUEUE_TAIL_MISALIGNED, INVALID_TTM).
 */
export const IQEI_TAIL = 1;
export const IQEI_FETCH = 2;
export const IQEI_TYPE = 3;
export const IQEI_RSVD = 4;
export const IQEI_WIDTH = 5;
export const IQEI_TAIL_ALIGN = 6;
export const IQEI_TTM = 7;
/** DmarUnit.ttm for RTADDR.TTM = 10b, a reserved translation table mode. */
export const TTM_RESERVED = 2;

/** QEMU VTD_INV_DESC_PGRESP_RSVD_LO / _HI (vtd_process_page_group_response_desc): lo [8:5] and [63:52], hi [1:0] and [63:12]. */
const PGRESP_RSVD_LO = 0xfff00000000001e0n;
const PGRESP_RSVD_HI = 0xfffffffffffff003n;
/** QEMU VTD_INV_DESC_WAIT_RSVD_LO of the 4-bit-type era (0xffffff80: PD [7] reserved without ECAP.PDS, which the unit does not report) and _HI (status address bits 1:0). */
const WAIT_RSVD_LO = 0xffffff80n;
const WAIT_RSVD_HI = 3n;

function descName(type: number): string {
  return ["type 0x0", "context-cache", "IOTLB", "device-TLB", "interrupt entry cache", "invalidation wait", "PASID-based IOTLB", "PASID-cache", "PASID-based device-TLB", "page group response"][type] ?? `type 0x${type.toString(16)}`;
}

/** Reserved-bit checks of QEMU's descriptor handlers (vtd_process_context_cache_desc etc.). */
function descriptorReserved(lo: bigint, hi: bigint): boolean {
  const type = Number(lo & 0xfn);
  // QEMU vtd_process_wait_desc: reserved bits, and a wait with none of IF [4], SW [5], FN [6]
  // ("invalid wait desc ... (unknown type)"; FN alone is a barrier, VT-d 7.10, QEMU 10.2).
  if (type === 0x5) return (lo & WAIT_RSVD_LO) !== 0n || (hi & WAIT_RSVD_HI) !== 0n || (lo & 0x70n) === 0n;
  if (type === 0x9) return (lo & PGRESP_RSVD_LO) !== 0n || (hi & PGRESP_RSVD_HI) !== 0n;
  if (type === 0x1) return (lo & CC_RSVD_LO) !== 0n || hi !== 0n;
  if (type === 0x2) return (lo & IOTLB_RSVD_LO) !== 0n || (hi & IOTLB_RSVD_HI) !== 0n;
  // QEMU vtd_process_device_iotlb_desc / vtd_process_device_piotlb_desc ("(reserved nonzero)").
  if (type === 0x3) return (lo & DIOTLB_RSVD_LO) !== 0n || (hi & DIOTLB_RSVD_HI) !== 0n;
  if (type === 0x8) return (lo & PDIOTLB_RSVD_LO) !== 0n || (hi & PDIOTLB_RSVD_HI) !== 0n;
  return false;
}
