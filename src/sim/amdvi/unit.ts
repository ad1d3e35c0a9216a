/**
 * One AMD-Vi IOMMU as hardware: its MMIO registers, the device table, v1 I/O page tables, the
 * device-table cache and IOTLB, the command buffer and the event log - every structure as bytes in
 * simulated memory, read and written where the spec puts them (defs.ts).
 *
 * translate() is the hot path: numbers only (IOVA as uint32 halves), results in fields, nothing
 * allocated per request. The walk (spec §2.2.3, QEMU hw/i386/amd_iommu.c fetch_pte):
 *   DTE (devtab + devid * 32): unreadable -> DEV_TAB_HARDWARE_ERROR; V = 0 -> untranslated;
 *   V = 1, TV = 1 with reserved bits or Mode 7 -> ILLEGAL_DEV_TABLE_ENTRY; TV = 0 -> untranslated;
 *   Mode 0 -> no translation, DTE IR/IW decide; Mode 1..6 -> a walk of Mode levels from the Page
 *   Table Root Pointer, IOVA bits above the top level must be zero. At each level the entry's PR,
 *   its Next Level (0: a leaf here; 7: a large page whose size the address field encodes; below
 *   the current level: the next table, the skipped levels' IOVA bits must be zero; otherwise an
 *   invalid encoding), and IR/IW ANDed from the DTE down to the leaf.
 * Faults are written to the event log (16-byte entries at the Event Log Base, tail advanced) unless
 * the DTE says SA (suppress I/O page faults) or the log is full (Status.EventOverflow).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { MemoryView, type PhysicalMemory } from "../memory.js";
import { LEVEL_DEVICE_TLB, type Trace } from "../../trace/trace.js";
import { DmaRun, loadBurst, RUN_BURST, translateEach, type DmaTally, type DmaTransfer, type DmaUnit } from "../dma.js";
import { AmdIotlb, type AmdIotlbSnapshot } from "./iotlb.js";
import { AMD_V1_READ_ERROR, TableWalkCore } from "../walkCore.js";
import { DmaBurst } from "../vtd/translate.js";
import { CORE_AMD_IOTLB, CORE_AMD_V1, CORE_FAULT_HI, CORE_INFO, CORE_INTERRUPT_WINDOW } from "../vtd/translateCoreLayout.js";
import { AmdIntRemap, CONTROL_GA_EN, GaLogFate } from "./intremap.js";
import {
  CMD_COMPL_WAIT,
  CMD_COMPL_WAIT_STORE,
  CMD_INV_ALL,
  CMD_INV_DEV_ENTRY,
  CMD_INV_IOMMU_PAGES,
  CMD_INV_IOTLB_PAGES,
  CMD_INV_IRT,
  CMD_INV_PAGES_S,
  CMD_INV_PAGES_GN,
  CONTROL_CMDBUF_EN,
  CONTROL_EVT_LOG_EN,
  CONTROL_IOMMU_EN,
  DTE0_RESERVED_LO,
  DTE_SA_HI,
  DTE_SIZE,
  DTE_TV,
  DTE_V,
  ENTRY_SIZE,
  EVENT_FLAG_PE,
  EVENT_FLAG_PR,
  EVENT_FLAG_RW,
  EVENT_FLAG_TR,
  EVENT_FLAG_RZ,
  EVENT_TYPE_DEV_TAB_ERR,
  EVENT_TYPE_ILL_CMD,
  EVENT_TYPE_ILL_DEV,
  EVENT_TYPE_IO_FAULT,
  EVENT_TYPE_IOTLB_INV_TO,
  EVENT_TYPE_INV_DEV_REQ,
  EVENT_TYPE_PAGE_TAB_ERR,
  EVENT_FLAG_GN,
  EVENT_FLAG_US,
  DTE_GCR3_A_SHIFT_HI,
  DTE_GCR3_B_SHIFT,
  DTE_GCR3_C_SHIFT_HI,
  DTE_GIOV_HI,
  DTE_GLX_SHIFT_HI,
  DTE_GV_HI,
  GCR3_VALID,
  CMD_COMPLETE_PPR,
  CONTROL_PPRLOG_EN,
  DTE_PPR_HI,
  MMIO_PPR_HEAD_OFFSET,
  MMIO_PPR_LOG_OFFSET,
  MMIO_PPR_TAIL_OFFSET,
  PPR_FLAG_GN,
  PPR_FLAG_READ,
  PPR_FLAG_US,
  PPR_FLAG_WRITE,
  PPR_REQ_FAULT,
  PPR_TAG_LAST,
  STATUS_PPR_INT,
  STATUS_PPR_OVERFLOW,
  STATUS_PPR_RUN,
  CONTROL_GALOG_EN,
  GA_ENTRY_SIZE,
  GA_GUEST_NR,
  MMIO_GA_HEAD_OFFSET,
  MMIO_GA_LOG_BASE_OFFSET,
  MMIO_GA_TAIL_OFFSET,
  STATUS_GALOG_INT,
  STATUS_GALOG_OVERFLOW,
  STATUS_GALOG_RUN,
  V2_LEVELS,
  V2_P,
  V2_PS,
  MMIO_CMD_BUF_OFFSET,
  MMIO_CMD_HEAD_OFFSET,
  MMIO_CMD_TAIL_OFFSET,
  MMIO_CONTROL_OFFSET,
  MMIO_DEV_TABLE_OFFSET,
  MMIO_EVT_BUF_OFFSET,
  MMIO_EVT_HEAD_OFFSET,
  MMIO_EVT_TAIL_OFFSET,
  MMIO_EXT_FEATURES,
  MMIO_STATUS_OFFSET,
  NEXT_LEVEL_LARGE,
  PTE_IR_HI,
  PTE_IW_HI,
  PTE_PR,
  STATUS_CMDBUF_RUN,
  STATUS_COM_WAIT_INT,
  STATUS_EVT_INT,
  STATUS_EVT_OVERFLOW,
  STATUS_EVT_RUN,
} from "./defs.js";

/** How a request was handled (the trace's xlate kind: the numbers of vtd/unit.ts XlateKind). */
export const AmdKind = { Untranslated: 0, PassThrough: 1, Translated: 2, Interrupt: 3 } as const;
/** What happened to a fault on its way to the event log (the trace's fate: vtd/unit.ts FaultFate's numbers). */
export const AmdFate = { None: 0, Logged: 1, Suppressed: 2, Overflow: 3 } as const;
/** What logPageRequest did with a page request. */
const PPR_OFF = 0;
const PPR_LOGGED = 1;
const PPR_LOST = 2;

/** Which check decided (for the trail). */
export const AmdStage = { None: 0, Dte: 1, Range: 2, Walk: 3, Iotlb: 4, DeviceIotlb: 5, Gcr3: 6, GuestWalk: 7 } as const;

/**
 * The device IOTLB of an ATS device (PCIe ATS "ATC"): 16 sets x 4 ways per unit, tagged by device
 * id. A real device keeps it on the device; the unit holds it because it is what forwards the
 * invalidations (INVALIDATE_IOTLB_PAGES) to the device and answers its translation requests.
 */
const DEV_IOTLB_SETS = 16;
const DEV_IOTLB_WAYS = 4;
/** DTE data[1] bit 32 (I, DTE_FLAG_IOTLB): the IOMMU accepts the device's ATS requests; bit 0 of the high dword. */
const DTE1_I_HI = 1;

/** Interrupt address range (MSI): 0xFEE00000-0xFEEFFFFF is not translated by the page tables. */
const MSI_FIRST = 0xfee00000;
const MSI_LAST = 0xfeefffff;
// The core's bursts hand interrupt writes back by its window: the same range.
if (CORE_INTERRUPT_WINDOW.first !== MSI_FIRST || CORE_INTERRUPT_WINDOW.last !== MSI_LAST) throw new Error("the translate core's interrupt window is not AMD-Vi's MSI range");
// The core's fault results are event[1] 31:16 of the event (takeBurstResult logs them).
if (CORE_AMD_V1.ioPageFault !== EVENT_TYPE_IO_FAULT || CORE_AMD_V1.pageTabHardwareError !== EVENT_TYPE_PAGE_TAB_ERR || CORE_AMD_V1.flagRw !== EVENT_FLAG_RW || CORE_AMD_V1.flagPr !== EVENT_FLAG_PR || CORE_AMD_V1.flagPe !== EVENT_FLAG_PE) throw new Error("the translate core's AMD-Vi fault word is not the event's");

export interface AmdUnitCounters {
  requests: number;
  iotlbHits: number;
  walks: number;
  faults: number;
  logged: number;
  suppressed: number;
  overflowed: number;
  commands: number;
  /** Page requests written to the PPR log (PRI devices; absent in snapshots from before). */
  pageRequests?: number;
  /** Page requests discarded because the PPR log was full or stopped (PPROverflow). */
  pprLost?: number;
  /** GA log entries written (interrupts for vCPUs not running; absent in snapshots from before). */
  gaLogged?: number;
  /** GA log entries discarded because the GA log was full or stopped (GALogOverflow). */
  gaLost?: number;
}

export interface AmdUnitSnapshot {
  regs: [number, bigint][];
  dtc: [number, number[]][];
  iotlb: AmdIotlbSnapshot;
  counters: AmdUnitCounters;
  commandLog: bigint[][];
  /** The interrupt remapping unit's IRTE cache (absent in snapshots from before it existed). */
  irteCache?: [number, [number, [bigint, bigint]][]][];
  /** The ATS devices' IOTLBs (absent in snapshots from before they existed). */
  devIotlb?: AmdIotlbSnapshot;
  /**
   * The guest (v2) translations of snapshots from before they shared the IOTLB's ways (ignored:
   * they are now in `iotlb`, tagged apart; see AmdIotlb.guestView).
   */
  guestIotlb?: AmdIotlbSnapshot;
}

/** One command the unit executed (its 4 dwords as 2 qwords), for the trace. */
export type CommandWords = [bigint, bigint];

export interface AmdUnitOptions {
  iotlbSets: number;
  iotlbWays: number;
  /** Page-table levels the unit supports (EFR HATS): 4, 5 or 6. */
  maxLevels: number;
}

export class AmdViUnit implements DmaUnit {
  readonly mem: PhysicalMemory;
  readonly iotlb: AmdIotlb;
  readonly maxLevels: number;
  /** The translate core's v1 walk and burst (null: the memory's SRAM arena had no room; TypeScript walks). */
  private readonly core: TableWalkCore | null;
  /**
   * The requests and results of a burst of the core (translateBurst; null without a core), and
   * each result's perm | pageShift << CORE_AMD_IOTLB.auxShiftShift byte.
   */
  readonly burst: DmaBurst | null;
  private readonly aux: MemoryView<Uint8Array> | null;
  /** The burst's faults in order (CORE_AMD_IOTLB.faultBytes each): request index, 0, event address low, high. */
  private readonly faultList: MemoryView<Int32Array> | null;
  /** The burst's faults: how many, and how many the unit has taken (logged). */
  private bFaults = 0;
  private bFaultNext = 0;
  /** The burst's device, resolved by burstDte: domain, root, Mode, DTE IR/IW. */
  private bSid = 0;
  private bDid = 0;
  private bRoot = 0;
  private bMode = 0;
  private bPerm = 0;
  /** The DTE's SA: the burst's IO_PAGE_FAULTs are suppressed, not logged. */
  private bSuppress = false;
  /** The current run's bursts (dmaRequest). */
  private readonly run = new DmaRun();
  /** ATS devices behind the unit: whether the device at a device id completes ATS invalidations (undefined: no ATS device there). */
  atsResponds?: (devid: number) => boolean | undefined;
  /** Interrupt remapping: the DTE's interrupt fields, the IRTEs and their cache (intremap.ts). */
  readonly intr: AmdIntRemap;
  /** The device IOTLBs of the ATS devices (tag: device id): translations the devices cached from their translation requests. */
  readonly devIotlb = new AmdIotlb(DEV_IOTLB_SETS, DEV_IOTLB_WAYS);
  /**
   * The IOTLB's guest translations: what the GCR3 table and a v2 (guest) page table gave a request
   * with PASID, or one without on a DTE with GIoV (PASID 0), tagged by the DTE's DomainID and that
   * PASID (spec 2.2.6/2.4.3: a guest translation is cached per DomainID and PASID, and
   * INVALIDATE_IOMMU_PAGES with GN = 1 names both). The same ways as the v1 entries (AmdIotlb.guestView:
   * one IOTLB of the configured size holds both kinds), tagged apart so the translate core's probe
   * by DomainID and page never answers a request with a guest entry.
   */
  readonly guestIotlb: AmdIotlb;
  private regs = new Map<number, bigint>();
  /** Device-table cache: devid -> DTE words [q0 lo, q0 hi, q1 lo, q1 hi]; INVALIDATE_DEVTAB_ENTRY drops one. */
  private dtc = new Map<number, number[]>();
  counters: AmdUnitCounters = { requests: 0, iotlbHits: 0, walks: 0, faults: 0, logged: 0, suppressed: 0, overflowed: 0, commands: 0 };
  /** Commands executed since the last takeCommandLog(). */
  private commandLog: CommandWords[] = [];

  // ---- register mirrors for the hot path
  devTableBase = 0;
  /** Device table bytes (Size field + 1 pages). */
  devTableBytes = 0;
  private evtBase = 0;
  private evtBytes = 0;

  // ---- results of the last translate()
  code = 0;
  flags = 0;
  level = 0;
  did = 0;
  kind = 0;
  fate = 0;
  stage = 0;
  iotlbHit = false;
  /** The last request was a translated (ATS) request: the device's own IOTLB answered it, the unit did not walk. */
  devIotlbHit = false;
  /** The last request came from an ATS device without a device-IOTLB hit: a translation request whose result the device caches. */
  private atsRequest = false;
  dtcHit = false;
  hpaHi = 0;
  hpaLo = 0;
  perm = 0;
  /** log2 of the translated page's size. */
  pageShift = 12;
  /** The event's address (a page-table error: the entry's address; otherwise the request's). */
  eventAddrHi = 0;
  eventAddrLo = 0;

  // ---- the trail of the last walk (set when recordTrail)
  recordTrail = false;
  bypassCaches = false;
  trailDteAddr = 0;
  trailDteRead = false;
  readonly trailDte = new Float64Array(8); // lo/hi of data[0..3]
  trailLen = 0;
  readonly trailAddr = new Float64Array(8);
  readonly trailLo = new Uint32Array(8);
  readonly trailHi = new Uint32Array(8);
  readonly trailLevel = new Uint8Array(8);
  /** The walk read an unreadable entry at trailAddr[trailLen]. */
  trailUnreadable = false;
  /** The last request went through the GCR3 table and a v2 (guest) page table (DTE GV; a request with PASID, or GIoV). */
  guest = false;
  /** The PASID the last guest translation used (GCR3 index; 0 for a GIoV request without PASID), -1 for none. */
  guestPasid = -1;
  /**
   * The driver's PPR log handler (Linux's PPR interrupt: amd_iommu_poll_ppr_log and the SVA fault
   * handler), called right after a page request is logged; true when it made the page present and
   * answered COMPLETE_PPR with success, so the device retries its request.
   */
  pageRequest?: () => boolean;
  /** The last request raised a page request (PPR log) instead of an event. */
  pageRequested = false;
  /** The last request's page request was discarded: the PPR log was full or stopped by an overflow (Status.PPROverflow). */
  pprLost = false;
  private inPageRequest = false;
  private pprTag = 0;
  /** The GCR3 table entries the last guest translation read (GLX + 1 levels, top first): address, level (GLX .. 0), value. */
  trailGcr3Len = 0;
  readonly trailGcr3Addr = new Float64Array(4);
  readonly trailGcr3Lo = new Uint32Array(4);
  readonly trailGcr3Hi = new Uint32Array(4);
  readonly trailGcr3Level = new Uint8Array(4);

  /** SRAM arena bytes a unit with this IOTLB takes for its translate core (walk core, IOTLB, burst). */
  static sramBytes(iotlbSets: number, iotlbWays: number): number {
    return TableWalkCore.ARENA_BYTES + AmdViUnit.burstBytes(iotlbSets, iotlbWays);
  }

  private static burstBytes(iotlbSets: number, iotlbWays: number): number {
    return AmdIotlb.arenaBytes(iotlbSets, iotlbWays) + DmaBurst.arenaBytes(RUN_BURST) + RUN_BURST + 64 + RUN_BURST * CORE_AMD_IOTLB.faultBytes + 64;
  }

  constructor(mem: PhysicalMemory, opts: AmdUnitOptions) {
    this.mem = mem;
    this.core = TableWalkCore.create(mem, AmdViUnit.burstBytes(opts.iotlbSets, opts.iotlbWays));
    // With the core, the IOTLB lives in the SRAM arena, where the core's bursts probe and fill it.
    this.iotlb = this.core === null ? new AmdIotlb(opts.iotlbSets, opts.iotlbWays) : new AmdIotlb(opts.iotlbSets, opts.iotlbWays, mem, this.core);
    if (this.core !== null) {
      this.burst = new DmaBurst(mem, RUN_BURST);
      this.aux = new MemoryView(mem, Uint8Array, mem.allocSram(RUN_BURST, 1), RUN_BURST);
      this.faultList = new MemoryView(mem, Int32Array, mem.allocSram(RUN_BURST * CORE_AMD_IOTLB.faultBytes, 8), (RUN_BURST * CORE_AMD_IOTLB.faultBytes) / 4);
    } else {
      this.burst = null;
      this.aux = null;
      this.faultList = null;
    }
    this.guestIotlb = AmdIotlb.guestView(this.iotlb);
    this.maxLevels = opts.maxLevels;
    this.intr = new AmdIntRemap(this);
    // Extended Feature Register: HATS (bits 11:10) = max levels - 4 (spec §3.4.3; Linux amd_iommu_hpt_level).
    this.regs.set(MMIO_EXT_FEATURES, BigInt(Math.max(0, opts.maxLevels - 4)) << 10n);
  }

  // ------------------------------------------------------------------ registers

  readReg(off: number): bigint {
    return this.regs.get(off) ?? 0n;
  }

  /** An MMIO write as the driver does it; the tail registers start the command processor. */
  writeReg(off: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    if (off === MMIO_STATUS_OFFSET) {
      // RW1C: EventOverflow, EventLogInt, ComWaitInt, PPROverflow, PPRInt (spec §3.4.13; Linux clears
      // them by writing the mask: amd_iommu_handle_irq, amd_iommu_restart_log).
      // GALogOverflow and GAInt likewise (amd_iommu_handle_irq "GA", amd_iommu_restart_ga_log).
      this.regs.set(off, this.readReg(off) & ~(v & BigInt(STATUS_EVT_OVERFLOW | STATUS_EVT_INT | STATUS_COM_WAIT_INT | STATUS_PPR_OVERFLOW | STATUS_PPR_INT | STATUS_GALOG_OVERFLOW | STATUS_GALOG_INT)));
      return;
    }
    if (off === MMIO_EXT_FEATURES) return; // read-only
    this.regs.set(off, v);
    switch (off) {
      case MMIO_DEV_TABLE_OFFSET:
        this.devTableBase = Number(v & 0x000ffffffffff000n);
        this.devTableBytes = (Number(v & 0x1ffn) + 1) * 4096;
        this.dtc.clear();
        break;
      case MMIO_EVT_BUF_OFFSET:
        this.evtBase = Number(v & 0x000ffffffffff000n);
        this.evtBytes = ENTRY_SIZE * 2 ** Number((v >> 56n) & 0xfn);
        break;
      case MMIO_CONTROL_OFFSET: {
        const was = this.ctrlLo;
        this.ctrlLo = Number(v & 0xffffffffn);
        this.updateRun(was);
        break;
      }
      case MMIO_CMD_TAIL_OFFSET:
        this.processCommands();
        break;
    }
  }

  /**
   * The Control register's low 32 bits as a number (every enable bit the unit reads is below 32),
   * mirrored on each write and restore: translate() asks for IommuEn per request, and a BigInt
   * shift there allocated per transaction (the profile of `passthrough bench --model amd-vi`).
   */
  private ctrlLo = 0;

  private control(bit: number): boolean {
    return ((this.ctrlLo >>> bit) & 1) === 1;
  }

  private setStatus(bits: number, on: boolean): void {
    const s = this.readReg(MMIO_STATUS_OFFSET);
    this.regs.set(MMIO_STATUS_OFFSET, on ? s | BigInt(bits) : s & ~BigInt(bits));
  }

  /**
   * The Run bits after a Control write. EventLogRun and PPRLogRun follow a 0 -> 1 write of their
   * log's enable bit only: an overflow stops the log (Run = 0) until software writes the enable bit
   * 0 then 1 - the spec's Software Note on EventOverflow ("To resume logging, clear EventOverflow
   * (W1C), and write a 1 to MMIO Offset 0018h[EventLogEn]", quoted in Linux 5ce97f4ec5e0 "iommu/amd:
   * Recover from event log overflow", whose author found the hardware needs the 0 first), and the
   * sequence of Linux's amd_iommu_restart_log, which returns early while Run is still 1.
   */
  private updateRun(was: number): void {
    const evtWas = ((was >>> CONTROL_EVT_LOG_EN) & 1) === 1;
    if (!this.control(CONTROL_EVT_LOG_EN)) this.setStatus(STATUS_EVT_RUN, false);
    else if (!evtWas) this.setStatus(STATUS_EVT_RUN, true);
    const pprWas = ((was >>> CONTROL_PPRLOG_EN) & 1) === 1;
    if (!this.control(CONTROL_PPRLOG_EN)) this.setStatus(STATUS_PPR_RUN, false);
    else if (!pprWas) this.setStatus(STATUS_PPR_RUN, true);
    // GALogRun follows GALogEn the same way (Linux's amd_iommu_restart_ga_log / amd_iommu_restart_log
    // "GA" return early while it is 1, and rewrite GALogEn 0 then 1 to restart the log).
    const gaWas = ((was >>> CONTROL_GALOG_EN) & 1) === 1;
    if (!this.control(CONTROL_GALOG_EN)) this.setStatus(STATUS_GALOG_RUN, false);
    else if (!gaWas) this.setStatus(STATUS_GALOG_RUN, true);
    this.setStatus(STATUS_CMDBUF_RUN, this.control(CONTROL_CMDBUF_EN));
  }

  get translationEnabled(): boolean {
    return this.control(CONTROL_IOMMU_EN);
  }

  /** Control.GAEn: 128-bit IRTEs. */
  get gaEnabled(): boolean {
    return this.control(CONTROL_GA_EN);
  }

  /** An interrupt request's event (intremap.ts), through the same event log as a DMA's. */
  logIntrEvent(devid: number, code: number, did: number, flags: number, addrHi: number, addrLo: number, suppress: boolean): number {
    return this.logEvent(devid, code, did, flags, addrHi, addrLo, suppress);
  }

  /**
   * The GA log entry of an interrupt posted to a vCPU that is not running (intremap.ts: a GuestMode
   * IRTE with IsRun = 0 and GALogIntr = 1; spec 48882 2.2.5.3): one qword at the GA log tail -
   * GATag 31:0, DeviceID 47:32, type GA_GUEST_NR in 63:60 (Linux's GA_TAG, GA_DEVID, GA_REQ_TYPE) -,
   * the tail advanced and GAInt set. Off when GALogEn is 0 or no log is programmed. Lost when the log
   * is stopped by an earlier overflow (GALogRun = 0 or GALogOverflow still set) or full now
   * (tail + 8 = head): GALogOverflow is set, GALogRun cleared and the entry discarded - as the event
   * and PPR logs do (EventOverflow: "No new event log entries are written while this bit is set";
   * that the GA log follows the same rule is assumed, as Linux's amd_iommu_restart_ga_log treats it alike).
   */
  /** HPA of the GA log entry logGaEntry wrote last. */
  gaEntryAt = 0;

  logGaEntry(devid: number, gaTag: number): number {
    const reg = this.readReg(MMIO_GA_LOG_BASE_OFFSET);
    if (!this.control(CONTROL_GALOG_EN) || reg === 0n) return GaLogFate.Off;
    const status = Number(this.readReg(MMIO_STATUS_OFFSET));
    const lost = (): number => {
      this.counters.gaLost = (this.counters.gaLost ?? 0) + 1;
      return GaLogFate.Lost;
    };
    if ((status & STATUS_GALOG_OVERFLOW) !== 0 || (status & STATUS_GALOG_RUN) === 0) return lost();
    const base = Number(reg & 0x000ffffffffff000n);
    const bytes = this.gaLogBytes;
    const head = Number(this.readReg(MMIO_GA_HEAD_OFFSET)) % bytes;
    const tail = Number(this.readReg(MMIO_GA_TAIL_OFFSET)) % bytes;
    const next = (tail + GA_ENTRY_SIZE) % bytes;
    if (next === head) {
      this.setStatus(STATUS_GALOG_OVERFLOW, true);
      this.setStatus(STATUS_GALOG_RUN, false);
      return lost();
    }
    this.mem.write64(base + tail, gaTag >>> 0, ((devid & 0xffff) | (GA_GUEST_NR << 28)) >>> 0);
    this.gaEntryAt = base + tail;
    this.regs.set(MMIO_GA_TAIL_OFFSET, BigInt(next));
    this.setStatus(STATUS_GALOG_INT, true);
    this.counters.gaLogged = (this.counters.gaLogged ?? 0) + 1;
    return GaLogFate.Logged;
  }

  /** Bytes of the GA log the GA Log Base register programs: 8-byte entries, 2^(GALogLen + 1) of them (defs.ts GA_LOG_LEN_512). */
  get gaLogBytes(): number {
    const reg = this.readReg(MMIO_GA_LOG_BASE_OFFSET);
    return reg === 0n ? 0 : GA_ENTRY_SIZE * 2 ** (Number((reg >> 56n) & 0xfn) + 1);
  }

  /** The GA log's base address (0: none programmed). */
  get gaLogBase(): number {
    return Number(this.readReg(MMIO_GA_LOG_BASE_OFFSET) & 0x000ffffffffff000n);
  }

  /** GA log entries between head and tail (what the driver has not read), oldest first. */
  pendingGaEntries(): { at: number; raw: bigint }[] {
    const out: { at: number; raw: bigint }[] = [];
    const bytes = this.gaLogBytes;
    if (bytes === 0) return out;
    const base = this.gaLogBase;
    let head = Number(this.readReg(MMIO_GA_HEAD_OFFSET)) % bytes;
    const tail = Number(this.readReg(MMIO_GA_TAIL_OFFSET)) % bytes;
    while (head !== tail) {
      out.push({ at: base + head, raw: this.mem.readU64(base + head) ?? 0n });
      head = (head + GA_ENTRY_SIZE) % bytes;
    }
    return out;
  }

  // ------------------------------------------------------------------ the command buffer

  /**
   * Fetches commands from head to tail (spec §2.4): 16 bytes each, opcode in data[1] 31:28. An
   * unknown opcode stops the processor (Status.CmdBufRun = 0) and logs ILLEGAL_COMMAND_ERROR with
   * the command's address; Linux then prints the event and the command's dwords.
   */
  private processCommands(): void {
    if (!this.control(CONTROL_CMDBUF_EN) || (Number(this.readReg(MMIO_STATUS_OFFSET)) & STATUS_CMDBUF_RUN) === 0) return;
    const cmdReg = this.readReg(MMIO_CMD_BUF_OFFSET);
    const base = Number(cmdReg & 0x000ffffffffff000n);
    const bytes = ENTRY_SIZE * 2 ** Number((cmdReg >> 56n) & 0xfn);
    let head = Number(this.readReg(MMIO_CMD_HEAD_OFFSET)) & (bytes - 1);
    const tail = Number(this.readReg(MMIO_CMD_TAIL_OFFSET)) & (bytes - 1);
    while (head !== tail) {
      const at = base + head;
      const lo = this.mem.readU64(at) ?? 0n;
      const hi = this.mem.readU64(at + 8) ?? 0n;
      if (!this.execute(lo, hi, at)) {
        this.logEvent(0, EVENT_TYPE_ILL_CMD, 0, 0, at / 0x100000000 >>> 0, at >>> 0, false);
        this.setStatus(STATUS_CMDBUF_RUN, false);
        break;
      }
      this.counters.commands++;
      this.commandLog.push([lo, hi]);
      head = (head + ENTRY_SIZE) % bytes;
    }
    this.regs.set(MMIO_CMD_HEAD_OFFSET, BigInt(head));
  }

  /** One command; false for an opcode the unit does not know. */
  private execute(lo: bigint, hi: bigint, at: number): boolean {
    const type = Number((lo >> 60n) & 0xfn);
    switch (type) {
      case CMD_COMPL_WAIT: {
        // data[0] 31:3 and data[1] 19:0: the store address; data[2..3]: the data (Linux build_completion_wait).
        if ((lo & BigInt(CMD_COMPL_WAIT_STORE)) !== 0n) this.mem.writeU64(Number(lo & 0x000ffffffffffff8n), hi);
        this.setStatus(STATUS_COM_WAIT_INT, true);
        return true;
      }
      case CMD_INV_DEV_ENTRY:
        this.dtc.delete(Number(lo & 0xffffn));
        return true;
      case CMD_INV_IOMMU_PAGES: {
        // data[1] 15:0 DomainID; data[0] 19:0 PASID and data[2] bit 1 GN (build_inv_iommu_pages).
        // GN = 1: the guest translations of that DomainID and PASID; GN = 0: its translations of
        // requests without PASID - the v1 entries and the guest entries a GIoV request made through
        // GCR3[0] (tagged PASID 0), not those of a request with a PASID. That reading is assumed (the
        // spec's "PASID is ignored" for GN = 0); Linux 6.1-6.7 flushes its v2 DMA domains with GN = 0
        // (dmesg.ts v2DomainLayout), in v6.8 with GN = 1 and PASID 0 - both drop those entries.
        const did = Number((lo >> 32n) & 0xffffn);
        const [first, last] = invalidationRange(hi);
        if ((hi & BigInt(CMD_INV_PAGES_GN)) !== 0n) this.guestIotlb.invalidate(did, first, last, Number(lo & 0xfffffn));
        else {
          this.iotlb.invalidate(did, first, last);
          this.guestIotlb.invalidate(did, first, last, 0);
        }
        return true;
      }
      case CMD_INV_IOTLB_PAGES: {
        // The ATS invalidation goes to the device (data[0] 15:0); one that never completes it is
        // IOTLB_INV_TIMEOUT with the command's system physical address (spec event layout).
        // A device that completes it drops the cached translations of the range (data[2..3], the
        // build_inv_address encoding of INVALIDATE_IOMMU_PAGES); a hung one keeps them.
        // With GN (data[2] bit 2) the invalidation carries a PASID (data[0] 23:16 PASID[15:8], data[1]
        // 23:16 PASID[7:0]: build_inv_iotlb_pages) and drops only that PASID's entries; without GN only
        // the entries of requests without PASID. GN with PASID 0 also drops the untagged entries: the
        // IOMMU translates a GIoV device's requests without PASID as PASID 0 and Linux flushes a v2
        // DMA domain so (device_flush_iotlb(dev_data, ..., IOMMU_NO_PASID, gn = true)) - assumed, not
        // read in the spec.
        const devid = Number(lo & 0xffffn);
        if (this.atsResponds?.(devid) === false) this.logEvent(devid, EVENT_TYPE_IOTLB_INV_TO, 0, 0, at / 0x100000000 >>> 0, at >>> 0, false);
        else {
          const [first, last] = invalidationRange(hi);
          const gn = (hi & BigInt(CMD_INV_PAGES_GN)) !== 0n;
          const pasid = gn ? Number((((lo >> 16n) & 0xffn) << 8n) | ((lo >> 48n) & 0xffn)) : -1;
          this.devIotlb.invalidate(devid, first, last, pasid);
          if (gn && pasid === 0) this.devIotlb.invalidate(devid, first, last, -1);
        }
        return true;
      }
      case CMD_COMPLETE_PPR:
        // COMPLETE_PPR: the response goes to the device (data[0] 15:0; PASID, GN, tag and status for it); nothing in the IOMMU changes.
        return true;
      case CMD_INV_IRT:
        // INVALIDATE_INTERRUPT_TABLE: the cached IRTEs of data[0] 15:0 (build_inv_irt).
        this.intr.invalidate(Number(lo & 0xffffn));
        return true;
      case CMD_INV_ALL:
        this.dtc.clear();
        this.intr.invalidateAll();
        this.iotlb.invalidate(-1, 0n, (1n << 64n) - 1n);
        this.guestIotlb.invalidate(-1, 0n, (1n << 64n) - 1n);
        return true;
      default:
        return false;
    }
  }

  takeCommandLog(): CommandWords[] {
    const l = this.commandLog;
    this.commandLog = [];
    return l;
  }

  // ------------------------------------------------------------------ the event log

  /**
   * Writes one event at the Event Log tail (spec §2.5; Linux iommu_print_event reads it back):
   * event[0] 15:0 DeviceID, 19:16 PASID[19:16]; event[1] 15:0 DomainID or PASID[15:0], 27:16
   * flags, 31:28 the event code; event[2..3] the address. Returns the fate.
   */
  private logEvent(devid: number, code: number, did: number, flags: number, addrHi: number, addrLo: number, suppress: boolean): number {
    this.counters.faults++;
    if (suppress) {
      this.counters.suppressed++;
      return AmdFate.Suppressed;
    }
    if (!this.control(CONTROL_EVT_LOG_EN) || this.evtBytes === 0) return AmdFate.None;
    const status = Number(this.readReg(MMIO_STATUS_OFFSET));
    const head = Number(this.readReg(MMIO_EVT_HEAD_OFFSET));
    const tail = Number(this.readReg(MMIO_EVT_TAIL_OFFSET));
    const next = (tail + ENTRY_SIZE) % this.evtBytes;
    // EventOverflow (Status bit 0, spec 3.4.13 as Linux 5ce97f4ec5e0 quotes it): "set when a new
    // event is to be written to the event log and there is no usable entry ..., causing the new
    // event information to be discarded. ... No new event log entries are written while this bit
    // is set." The full log holds size - 1 entries (tail + 16 = head). The overflow also stops the
    // log (EventLogRun = 0) until EventLogEn is written 0 then 1 (updateRun): assumed, as for the
    // PPR log - Linux v6.6's amd_iommu_restart_log skips the restart while Run is 1.
    if ((status & STATUS_EVT_OVERFLOW) !== 0 || (status & STATUS_EVT_RUN) === 0) {
      this.counters.overflowed++;
      return AmdFate.Overflow;
    }
    if (next === head) {
      this.setStatus(STATUS_EVT_OVERFLOW, true);
      this.setStatus(STATUS_EVT_RUN, false);
      this.counters.overflowed++;
      return AmdFate.Overflow;
    }
    const at = this.evtBase + tail;
    // event[0] 19:16: PASID[19:16] of a guest (GN) event; a DomainID has none.
    const e0 = (devid & 0xffff) | (((did >>> 16) & 0xf) << 16);
    const e1 = ((code & 0xf) << 28) | ((flags & 0xfff) << 16) | (did & 0xffff);
    this.mem.write64(at, e0, e1 >>> 0);
    this.mem.write64(at + 8, addrLo >>> 0, addrHi >>> 0);
    this.regs.set(MMIO_EVT_TAIL_OFFSET, BigInt(next));
    // (Already set after the first event until the driver clears it: no new Status then.)
    if ((status & STATUS_EVT_INT) === 0) this.setStatus(STATUS_EVT_INT, true);
    this.counters.logged++;
    return AmdFate.Logged;
  }

  /** Events between head and tail (what the driver has not read), oldest first: their 4 dwords each. */
  pendingEvents(): { at: number; words: [number, number, number, number] }[] {
    const out: { at: number; words: [number, number, number, number] }[] = [];
    if (this.evtBytes === 0) return out;
    let head = Number(this.readReg(MMIO_EVT_HEAD_OFFSET));
    const tail = Number(this.readReg(MMIO_EVT_TAIL_OFFSET));
    while (head !== tail) {
      const at = this.evtBase + head;
      const a = this.mem.read64(at) ? [this.mem.lo, this.mem.hi] : [0, 0];
      const b = this.mem.read64(at + 8) ? [this.mem.lo, this.mem.hi] : [0, 0];
      out.push({ at, words: [a[0]!, a[1]!, b[0]!, b[1]!] });
      head = (head + ENTRY_SIZE) % this.evtBytes;
    }
    return out;
  }

  get eventLogBytes(): number {
    return this.evtBytes;
  }

  get eventLogBase(): number {
    return this.evtBase;
  }

  // ------------------------------------------------------------------ translation

  /**
   * One request from `sid` for the byte at IOVA hi:lo. Returns 0 (translated, untranslated or an
   * interrupt) or the event code; the fields above say the rest. `probe`: a question, not a
   * request - no event is logged, no counter moves.
   */
  translate(sid: number, hi: number, lo: number, write: boolean, probe = false, pasid = -1): number {
    if (!probe) this.counters.requests++;
    this.guest = false;
    this.guestPasid = -1;
    if (!this.inPageRequest) {
      this.pageRequested = false;
      this.pprLost = false;
    }
    this.trailGcr3Len = 0;
    this.code = 0;
    this.flags = write ? EVENT_FLAG_RW : 0;
    this.level = 0;
    this.did = 0;
    this.fate = AmdFate.None;
    this.stage = AmdStage.None;
    this.iotlbHit = false;
    this.devIotlbHit = false;
    this.atsRequest = false;
    this.dtcHit = false;
    this.perm = 0;
    this.pageShift = 12;
    this.trailLen = 0;
    this.trailUnreadable = false;
    this.trailDteRead = false;
    this.eventAddrHi = hi;
    this.eventAddrLo = lo;
    if (!this.translationEnabled) return this.untranslated(hi, lo, AmdKind.Untranslated);
    if (write && hi === 0 && lo >= MSI_FIRST && lo <= MSI_LAST) return this.untranslated(hi, lo, AmdKind.Interrupt);
    // ---- the device table entry
    this.stage = AmdStage.Dte;
    let q0lo: number;
    let q0hi: number;
    let q1lo: number;
    let q1hi: number;
    const cached = this.bypassCaches ? undefined : this.dtc.get(sid);
    const dteAddr = this.devTableBase + sid * DTE_SIZE;
    this.trailDteAddr = dteAddr;
    if (cached !== undefined && !this.recordTrail) {
      this.dtcHit = true;
      q0lo = cached[0]!;
      q0hi = cached[1]!;
      q1lo = cached[2]!;
      q1hi = cached[3]!;
    } else {
      const mem = this.mem;
      if (sid * DTE_SIZE >= this.devTableBytes || !mem.read64(dteAddr)) return this.fault(sid, EVENT_TYPE_DEV_TAB_ERR, 0, dteAddr / 0x100000000 >>> 0, dteAddr >>> 0, probe, false);
      q0lo = mem.lo;
      q0hi = mem.hi;
      mem.read64(dteAddr + 8);
      q1lo = mem.lo;
      q1hi = mem.hi;
      if (this.recordTrail) {
        this.trailDteRead = true;
        this.trailDte[0] = q0lo;
        this.trailDte[1] = q0hi;
        this.trailDte[2] = q1lo;
        this.trailDte[3] = q1hi;
        mem.read64(dteAddr + 16);
        this.trailDte[4] = mem.lo;
        this.trailDte[5] = mem.hi;
        mem.read64(dteAddr + 24);
        this.trailDte[6] = mem.lo;
        this.trailDte[7] = mem.hi;
      }
      if (cached !== undefined) {
        // A cached DTE answers the hardware; the trail above is the table as it is now.
        this.dtcHit = true;
        q0lo = cached[0]!;
        q0hi = cached[1]!;
        q1lo = cached[2]!;
        q1hi = cached[3]!;
      } else if (!probe && !this.bypassCaches && (q0lo & DTE_V) !== 0) this.dtc.set(sid, [q0lo, q0hi, q1lo, q1hi]);
    }
    if ((q0lo & DTE_V) === 0) return this.untranslated(hi, lo, AmdKind.Untranslated);
    const suppress = (q1hi & DTE_SA_HI) !== 0;
    const mode = (q0lo >>> 9) & 7;
    this.did = q1lo & 0xffff;
    if ((q0lo & DTE_TV) !== 0 && ((q0lo & DTE0_RESERVED_LO) !== 0 || mode === 7)) {
      // RZ: "reserved bit not zero or illegal level encoding" (spec, event flags).
      this.flags |= EVENT_FLAG_RZ;
      return this.fault(sid, EVENT_TYPE_ILL_DEV, 0, hi, lo, probe, false);
    }
    if ((q0lo & DTE_TV) === 0) return this.untranslated(hi, lo, AmdKind.Untranslated);
    let perm = (q0hi >>> 29) & 3; // IR (bit 61) = R, IW (bit 62) = W
    const need = write ? 2 : 1;
    // A request with PASID, or without one on a DTE with GIoV: the GCR3 table and the v2 tables (guestWalk).
    if (pasid >= 0 || (q0hi & (DTE_GV_HI | DTE_GIOV_HI)) === (DTE_GV_HI | DTE_GIOV_HI)) return this.guestRequest(sid, hi, lo, write, probe, pasid, q0hi, q1lo, q1hi, suppress);
    if (mode === 0) {
      // No translation: the DTE's IR/IW decide (spec §2.2.2: Mode 0, "translation disabled").
      if ((perm & need) === 0) {
        this.flags |= EVENT_FLAG_PR | EVENT_FLAG_PE;
        return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
      }
      this.perm = perm;
      return this.untranslated(hi, lo, AmdKind.PassThrough);
    }
    // ---- the IOTLB
    const vpnLo = ((lo >>> 12) | (hi << 20)) >>> 0;
    const vpnHi = hi >>> 12;
    if ((q1hi & DTE1_I_HI) !== 0 && this.atsResponds?.(sid) !== undefined) {
      // An ATS device (DTE I = 1): it looks in its own IOTLB first. A hit with the access's
      // permission is a translated request (PCIe AT = 10b): the unit passes it without the
      // IOTLB or a walk, to whatever address the device cached - stale after an unmap whose
      // INVALIDATE_IOTLB_PAGES never reached the device. A miss is a translation request: the
      // unit translates as for any request and the device caches the completion.
      if (this.deviceIotlbHit(sid, vpnLo, vpnHi, -1, need, lo)) return 0;
      this.atsRequest = true;
      // A fault of a translation request: TR = 1 (spec, IO_PAGE_FAULT flags; Linux EVENT_FLAG_TR).
      this.flags |= EVENT_FLAG_TR;
    }
    if (!this.bypassCaches && this.iotlb.lookup(this.did, vpnLo, vpnHi)) {
      this.stage = AmdStage.Iotlb;
      this.iotlbHit = true;
      if (!probe) this.counters.iotlbHits++;
      this.perm = this.iotlb.perm;
      this.pageShift = this.iotlb.pageShift;
      this.level = 1;
      if ((this.iotlb.perm & need) === 0) {
        this.flags |= EVENT_FLAG_PR | EVENT_FLAG_PE;
        return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
      }
      this.kind = AmdKind.Translated;
      this.hpaHi = this.iotlb.hpaHi;
      this.hpaLo = (this.iotlb.hpaLo + (lo & 0xfff)) >>> 0;
      if (this.atsRequest && !probe) this.devIotlb.fill(sid, vpnLo, vpnHi, this.iotlb.hpaLo, this.iotlb.hpaHi, this.iotlb.perm, this.iotlb.pageShift);
      return 0;
    }
    // ---- the address range of Mode levels
    this.stage = AmdStage.Range;
    if (mode < 6 && !bitsZeroFrom(hi, lo, 12 + 9 * mode)) return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
    // ---- the walk
    this.stage = AmdStage.Walk;
    if (!probe) this.counters.walks++;
    const mem = this.mem;
    let table = (q0hi & 0xfffff) * 0x100000000 + ((q0lo & 0xfffff000) >>> 0);
    // The WebAssembly core's v1 walk (walkCore.ts): the same verdicts as the loop below, which
    // walks when a trail is recorded (the views') or the core hands the walk back (outside the pool).
    const core = this.core;
    if (core !== null && !this.recordTrail) {
      const r = core.amdV1Walk(table, mode, hi, lo, perm, write);
      if (r >= 0) {
        this.level = core.level;
        if (r === 0) return this.walkLeaf(sid, hi, lo, core.hpaHi, core.hpaLo >>> 0, core.pageShift, core.perm, vpnLo, vpnHi, probe);
        if (r === AMD_V1_READ_ERROR) {
          // The loop's read64 failure below: the entry's address in the event.
          this.trailUnreadable = true;
          return this.fault(sid, EVENT_TYPE_PAGE_TAB_ERR, this.did, core.hpaHi >>> 0, core.hpaLo >>> 0, probe, false);
        }
        this.flags |= core.flags;
        return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
      }
    }
    let level = mode;
    for (;;) {
      const at = table + indexAt(hi, lo, level) * 8;
      if (this.recordTrail) this.trailAddr[this.trailLen] = at;
      this.level = level;
      if (!mem.read64(at)) {
        this.trailUnreadable = true;
        return this.fault(sid, EVENT_TYPE_PAGE_TAB_ERR, this.did, at / 0x100000000 >>> 0, at >>> 0, probe, false);
      }
      const plo = mem.lo;
      const phi = mem.hi;
      if (this.recordTrail) {
        this.trailLo[this.trailLen] = plo;
        this.trailHi[this.trailLen] = phi;
        this.trailLevel[this.trailLen] = level;
        this.trailLen++;
      }
      if ((plo & PTE_PR) === 0) return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
      perm &= ((phi & PTE_IR_HI) !== 0 ? 1 : 0) | ((phi & PTE_IW_HI) !== 0 ? 2 : 0);
      const next = (plo >>> 9) & 7;
      const addrLo = (plo & 0xfffff000) >>> 0;
      const addrHi = phi & 0xfffff;
      if (next === 0 || next === NEXT_LEVEL_LARGE) {
        let shift = 12 + 9 * (level - 1);
        if (next === NEXT_LEVEL_LARGE) {
          // The page size is encoded in the address: the first zero bit from bit 12 up (QEMU
          // pte_override_page_mask; Linux PTE_PAGE_SIZE: 1 << (1 + ffz(pte | 0xfff))).
          shift = 13 + trailingOnes(addrHi, addrLo >>> 12);
          if (shift > 12 + 9 * level) {
            this.flags |= EVENT_FLAG_PR | EVENT_FLAG_RZ;
            return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
          }
        }
        if ((perm & need) === 0) {
          this.flags |= EVENT_FLAG_PR | EVENT_FLAG_PE;
          return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
        }
        return this.walkLeaf(sid, hi, lo, addrHi, addrLo, shift, perm, vpnLo, vpnHi, probe);
      }
      if (next >= level) {
        // An invalid level encoding (spec: RZ "reserved bit not zero or invalid level encoding").
        this.flags |= EVENT_FLAG_PR | EVENT_FLAG_RZ;
        return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
      }
      // Skipped levels (next < level - 1): their IOVA bits must be zero.
      for (let l = level - 1; l > next; l--) {
        if (indexAt(hi, lo, l) !== 0) return this.fault(sid, EVENT_TYPE_IO_FAULT, this.did, hi, lo, probe, suppress);
      }
      table = addrHi * 0x100000000 + addrLo;
      level = next;
    }
  }

  /**
   * A translated request: the device's own IOTLB holds (sid, PASID tag, page) with the access's
   * permission (PCIe AT = 10b): the unit passes it without its IOTLB or a walk, to whatever
   * address the device cached. Sets the result fields; no allocation.
   */
  private deviceIotlbHit(sid: number, vpnLo: number, vpnHi: number, pasidTag: number, need: number, lo: number): boolean {
    if (this.bypassCaches || !this.devIotlb.lookup(sid, vpnLo, vpnHi, pasidTag) || (this.devIotlb.perm & need) === 0) return false;
    this.stage = AmdStage.DeviceIotlb;
    this.devIotlbHit = true;
    // The unit's own IOTLB was not asked; the leaf level is the cached page's (4 KiB 1, 2 MiB 2, 1 GiB 3).
    this.kind = AmdKind.Translated;
    this.level = this.devIotlb.pageShift <= 12 ? 1 : this.devIotlb.pageShift <= 21 ? 2 : 3;
    this.perm = this.devIotlb.perm;
    this.pageShift = this.devIotlb.pageShift;
    this.hpaHi = this.devIotlb.hpaHi;
    this.hpaLo = (this.devIotlb.hpaLo + (lo & 0xfff)) >>> 0;
    return true;
  }

  /**
   * A request through the GCR3 table (guestWalk) from an ATS device (DTE I = 1): first its own
   * IOTLB, whose entries carry the PASID of the translation request that filled them (PCIe ATS
   * with a PASID TLP prefix; -1 for a request without PASID through GIoV); a miss is a translation
   * request (TR in a fault's flags) and the device caches the completion with that PASID. Only
   * INVALIDATE_IOTLB_PAGES with GN and the PASID (build_inv_iotlb_pages(..., pasid, gn)) drops such
   * an entry. No allocation.
   */
  private guestRequest(sid: number, hi: number, lo: number, write: boolean, probe: boolean, pasid: number, q0hi: number, q1lo: number, q1hi: number, suppress: boolean): number {
    const ats = (q1hi & DTE1_I_HI) !== 0 && this.atsResponds?.(sid) !== undefined;
    if (!ats) return this.guestWalk(sid, hi, lo, write, probe, pasid, q0hi, q1lo, q1hi, suppress);
    const vpnLo = ((lo >>> 12) | (hi << 20)) >>> 0;
    const vpnHi = hi >>> 12;
    if (this.deviceIotlbHit(sid, vpnLo, vpnHi, pasid, write ? 2 : 1, lo)) {
      this.guest = true;
      this.guestPasid = pasid >= 0 ? pasid : 0;
      return 0;
    }
    this.atsRequest = true;
    this.flags |= EVENT_FLAG_TR;
    const r = this.guestWalk(sid, hi, lo, write, probe, pasid, q0hi, q1lo, q1hi, suppress);
    if (r === 0 && !probe && !this.bypassCaches && !this.pageRequestRetry()) this.devIotlb.fill(sid, vpnLo, vpnHi, (this.hpaLo & 0xfffff000) >>> 0, this.hpaHi, this.perm, this.pageShift, pasid);
    return r;
  }

  /** The retry after a page request already filled the device IOTLB (translate ran again inside afterPageRequest). */
  private pageRequestRetry(): boolean {
    return this.pageRequested;
  }

  /**
   * Guest translation (spec §2.2.6; Linux iommu.c set_dte_gcr3_table / __get_gcr3_pte,
   * io_pgtable_v2.c): a request with PASID on a DTE without GV is an INVALID_DEVICE_REQUEST. The
   * GCR3 table root (DTE GCR3[51:12]) has GLX + 1 levels of 512 8-byte entries, indexed by PASID
   * bits 9 * level up (level GLX first); an entry without V (GCR3_VALID) is an IO_PAGE_FAULT. The
   * last level's entry is the guest CR3: the root of a 4-level x86-64 long-mode table. Its walk
   * ANDs R/W and U/S from the top down; PS at level 3 or 2 is a 1 GiB / 2 MiB leaf, at level 4 a
   * reserved bit (RZ); P = 0 is a fault with PR = 0. The request is a user, non-execute request
   * (no Privileged Mode / Execute Requested in the PASID prefix): the leaf needs U/S = 1 on every
   * level, a write R/W = 1 (PR | PE, US set for the user request, as the x86 page-fault error code).
   * Faults of a request with PASID carry GN and the PASID in the DomainID/PASID fields (event[0]
   * 19:16, event[1] 15:0: Linux prints it as the "domain="). A translation is cached in the
   * IOTLB's guest entries (guestIotlb: the DTE's DomainID and the PASID, 0 for GIoV), looked up
   * before the GCR3 table; only INVALIDATE_IOMMU_PAGES with GN and that PASID (or
   * INVALIDATE_IOMMU_ALL) drops one, so a v2 unmap without that flush leaves a stale hit. No allocation.
   */
  private guestWalk(sid: number, hi: number, lo: number, write: boolean, probe: boolean, pasid: number, q0hi: number, q1lo: number, q1hi: number, suppress: boolean): number {
    const gn = pasid >= 0;
    if (gn) this.flags |= EVENT_FLAG_GN;
    const id = gn ? pasid : this.did;
    if ((q0hi & DTE_GV_HI) === 0) return this.fault(sid, EVENT_TYPE_INV_DEV_REQ, pasid, hi, lo, probe, false);
    const p = gn ? pasid : 0;
    const glx = (q0hi >>> DTE_GLX_SHIFT_HI) & 3;
    this.guest = true;
    this.guestPasid = p;
    // PASID bits above the GCR3 table's levels: the IOMMU's PASmax is exceeded.
    if (glx === 3 || p >= 2 ** (9 * (glx + 1))) return this.fault(sid, EVENT_TYPE_INV_DEV_REQ, id, hi, lo, probe, false);
    // ---- the IOTLB's guest entries (DomainID, PASID): a hit skips the GCR3 table and the v2 walk.
    const vpnLo = ((lo >>> 12) | (hi << 20)) >>> 0;
    const vpnHi = hi >>> 12;
    const g = this.guestIotlb;
    if (!this.bypassCaches && g.lookup(this.did, vpnLo, vpnHi, p)) {
      this.stage = AmdStage.Iotlb;
      this.iotlbHit = true;
      if (!probe) this.counters.iotlbHits++;
      this.perm = g.perm;
      this.pageShift = g.pageShift;
      this.level = 1;
      // Only user-accessible leaves are cached (U/S = 1 on every level); R/W is the cached perm.
      if (write && (g.perm & 2) === 0) {
        this.flags |= EVENT_FLAG_PR | EVENT_FLAG_PE | EVENT_FLAG_US;
        return this.fault(sid, EVENT_TYPE_IO_FAULT, id, hi, lo, probe, suppress);
      }
      this.kind = AmdKind.Translated;
      this.hpaHi = g.hpaHi;
      this.hpaLo = (g.hpaLo + (lo & 0xfff)) >>> 0;
      return 0;
    }
    this.stage = AmdStage.Gcr3;
    const mem = this.mem;
    let table = ((q0hi >>> DTE_GCR3_A_SHIFT_HI) & 7) * 0x1000 + ((q1lo >>> DTE_GCR3_B_SHIFT) & 0xffff) * 0x8000 + ((q1hi >>> DTE_GCR3_C_SHIFT_HI) & 0x1fffff) * 0x80000000;
    for (let level = glx; level >= 0; level--) {
      const at = table + ((p >>> (9 * level)) & 0x1ff) * 8;
      const n = this.trailGcr3Len;
      if (this.recordTrail) {
        this.trailGcr3Addr[n] = at;
        this.trailGcr3Level[n] = level;
      }
      if (!mem.read64(at)) {
        this.trailUnreadable = true;
        return this.fault(sid, EVENT_TYPE_PAGE_TAB_ERR, id, at / 0x100000000 >>> 0, at >>> 0, probe, false);
      }
      if (this.recordTrail) {
        this.trailGcr3Lo[n] = mem.lo;
        this.trailGcr3Hi[n] = mem.hi;
        this.trailGcr3Len = n + 1;
      }
      if ((mem.lo & GCR3_VALID) === 0) return this.fault(sid, EVENT_TYPE_IO_FAULT, id, hi, lo, probe, suppress);
      table = (mem.hi & 0xfffff) * 0x100000000 + ((mem.lo & 0xfffff000) >>> 0);
    }
    // ---- the v2 table: canonical 48-bit addresses only (bits 63:47 equal).
    this.stage = AmdStage.GuestWalk;
    const top = hi >>> 15;
    if (top !== 0 && top !== 0x1ffff) return this.fault(sid, EVENT_TYPE_IO_FAULT, id, hi, lo, probe, suppress);
    if (!probe) this.counters.walks++;
    let rw = 1;
    let us = 1;
    for (let level = V2_LEVELS; ; level--) {
      const at = table + indexAt(hi, lo, level) * 8;
      if (this.recordTrail) this.trailAddr[this.trailLen] = at;
      this.level = level;
      if (!mem.read64(at)) {
        this.trailUnreadable = true;
        return this.fault(sid, EVENT_TYPE_PAGE_TAB_ERR, id, at / 0x100000000 >>> 0, at >>> 0, probe, false);
      }
      const plo = mem.lo;
      const phi = mem.hi;
      if (this.recordTrail) {
        this.trailLo[this.trailLen] = plo;
        this.trailHi[this.trailLen] = phi;
        this.trailLevel[this.trailLen] = level;
        this.trailLen++;
      }
      if ((plo & V2_P) === 0) {
        // A PRI device (DTE PPR) with a request with PASID: the translation completes without
        // access and the device sends a page request instead of the IOMMU logging an event.
        if (gn && !probe && (q0hi & DTE_PPR_HI) !== 0 && !this.inPageRequest) {
          const ppr = this.logPageRequest(sid, pasid, write, hi, lo);
          if (ppr === PPR_LOGGED) return this.afterPageRequest(sid, hi, lo, write, pasid);
          if (ppr === PPR_LOST) return this.pageRequestLost();
        }
        return this.fault(sid, EVENT_TYPE_IO_FAULT, id, hi, lo, probe, suppress);
      }
      rw &= (plo >>> 1) & 1;
      us &= (plo >>> 2) & 1;
      const large = (plo & V2_PS) !== 0 && level > 1;
      if (large && level === V2_LEVELS) {
        this.flags |= EVENT_FLAG_PR | EVENT_FLAG_RZ;
        return this.fault(sid, EVENT_TYPE_IO_FAULT, id, hi, lo, probe, suppress);
      }
      const addrLo = (plo & 0xfffff000) >>> 0;
      const addrHi = phi & 0xfffff;
      if (level === 1 || large) {
        if (us === 0 || (write && rw === 0)) {
          this.flags |= EVENT_FLAG_PR | EVENT_FLAG_PE | EVENT_FLAG_US;
          return this.fault(sid, EVENT_TYPE_IO_FAULT, id, hi, lo, probe, suppress);
        }
        // The result fields, with no v1 IOTLB fill (probe = true for leaf()); the guest entry below.
        const shift = 12 + 9 * (level - 1);
        const perm = 1 | (rw << 1);
        this.leaf(hi, lo, addrHi, addrLo, shift, perm, 0, 0, true);
        if (!probe && !this.bypassCaches) g.fill(this.did, vpnLo, vpnHi, (this.hpaLo & 0xfffff000) >>> 0, this.hpaHi, perm, shift, p);
        return 0;
      }
      table = addrHi * 0x100000000 + addrLo;
    }
  }

  /**
   * Writes a page request at the PPR log tail (spec 2.6; Linux ppr.c reads it back with PPR_DEVID,
   * PPR_PASID1/2, PPR_TAG, PPR_FLAGS, PPR_REQ_TYPE): raw[0] = DeviceID | PASID[15:0] << 16 | tag << 32
   * (bit 41 the group's last request) | PASID[19:16] << 42 | flags << 48 | type 1 << 60; raw[1] the
   * page's address. PPR_OFF when the log is off (the IOMMU logs an IO_PAGE_FAULT event instead);
   * PPR_LOST when the log is stopped by an earlier overflow (PPRLogRun = 0, or PPROverflow still
   * set: "no new entries are written while this bit is set", as the spec says of EventOverflow) or
   * full now: the spec's PPROverflow "set when a new request is to be written and there is no
   * usable entry", the request discarded. The full log holds size - 1 entries (tail + 16 = head
   * means full, as Linux's head/tail ring reads it).
   */
  private logPageRequest(devid: number, pasid: number, write: boolean, hi: number, lo: number): number {
    const reg = this.readReg(MMIO_PPR_LOG_OFFSET);
    if (!this.control(CONTROL_PPRLOG_EN) || reg === 0n) return PPR_OFF;
    const status = Number(this.readReg(MMIO_STATUS_OFFSET));
    if ((status & STATUS_PPR_OVERFLOW) !== 0 || (status & STATUS_PPR_RUN) === 0) return PPR_LOST;
    const base = Number(reg & 0x000ffffffffff000n);
    const bytes = ENTRY_SIZE * 2 ** Number((reg >> 56n) & 0xfn);
    const head = Number(this.readReg(MMIO_PPR_HEAD_OFFSET));
    const tail = Number(this.readReg(MMIO_PPR_TAIL_OFFSET));
    const next = (tail + ENTRY_SIZE) % bytes;
    if (next === head) {
      this.setStatus(STATUS_PPR_OVERFLOW, true);
      this.setStatus(STATUS_PPR_RUN, false);
      return PPR_LOST;
    }
    const tag = (this.pprTag++ & 0x1ff) | PPR_TAG_LAST;
    const flags = PPR_FLAG_GN | PPR_FLAG_US | (write ? PPR_FLAG_WRITE : PPR_FLAG_READ);
    this.mem.write64(base + tail, ((devid & 0xffff) | ((pasid & 0xffff) << 16)) >>> 0, (tag | (((pasid >>> 16) & 0xf) << 10) | (flags << 16) | (PPR_REQ_FAULT << 28)) >>> 0);
    this.mem.write64(base + tail + 8, (lo & 0xfffff000) >>> 0, hi >>> 0);
    this.regs.set(MMIO_PPR_TAIL_OFFSET, BigInt(next));
    this.setStatus(STATUS_PPR_INT, true);
    this.counters.pageRequests = (this.counters.pageRequests ?? 0) + 1;
    return PPR_LOGGED;
  }

  /**
   * A page request the PPR log could not take: the IOMMU discarded it, so no response will come
   * (PCIe PRI: the device waits for its Page Request Group Response, then times out). The
   * translation request completed without access and no event is logged.
   */
  private pageRequestLost(): number {
    this.pageRequested = true;
    this.pprLost = true;
    this.counters.pprLost = (this.counters.pprLost ?? 0) + 1;
    this.code = EVENT_TYPE_IO_FAULT;
    this.kind = AmdKind.Translated;
    this.fate = AmdFate.None;
    return EVENT_TYPE_IO_FAULT;
  }

  /** The driver answers the page request; on success the device retries (one retry), else its request ends without access and no event. */
  private afterPageRequest(sid: number, hi: number, lo: number, write: boolean, pasid: number): number {
    this.inPageRequest = true;
    let ok = false;
    try {
      ok = this.pageRequest?.() ?? false;
      if (ok) {
        this.counters.requests--;
        const r = this.translate(sid, hi, lo, write, false, pasid);
        this.pageRequested = true;
        return r;
      }
    } finally {
      this.inPageRequest = false;
    }
    this.pageRequested = true;
    this.code = EVENT_TYPE_IO_FAULT;
    this.kind = AmdKind.Translated;
    this.fate = AmdFate.None;
    return EVENT_TYPE_IO_FAULT;
  }

  /** PPR log entries between head and tail (what the driver has not read). */
  pendingPageRequests(): { at: number; raw: [bigint, bigint] }[] {
    const reg = this.readReg(MMIO_PPR_LOG_OFFSET);
    const out: { at: number; raw: [bigint, bigint] }[] = [];
    if (reg === 0n) return out;
    const base = Number(reg & 0x000ffffffffff000n);
    const bytes = ENTRY_SIZE * 2 ** Number((reg >> 56n) & 0xfn);
    let head = Number(this.readReg(MMIO_PPR_HEAD_OFFSET));
    const tail = Number(this.readReg(MMIO_PPR_TAIL_OFFSET));
    while (head !== tail) {
      out.push({ at: base + head, raw: [this.mem.readU64(base + head) ?? 0n, this.mem.readU64(base + head + 8) ?? 0n] });
      head = (head + ENTRY_SIZE) % bytes;
    }
    return out;
  }

  /** A walk's permitted leaf: the translation (leaf) and, for a translation request, the device's IOTLB fill. */
  private walkLeaf(sid: number, hi: number, lo: number, addrHi: number, addrLo: number, shift: number, perm: number, vpnLo: number, vpnHi: number, probe: boolean): number {
    const r = this.leaf(hi, lo, addrHi, addrLo, shift, perm, vpnLo, vpnHi, probe);
    if (this.atsRequest && !probe) this.devIotlb.fill(sid, vpnLo, vpnHi, (this.hpaLo & 0xfffff000) >>> 0, this.hpaHi, perm, shift);
    return r;
  }

  private untranslated(hi: number, lo: number, kind: number): number {
    this.kind = kind;
    this.hpaHi = hi;
    this.hpaLo = lo;
    if (kind !== AmdKind.PassThrough) this.perm = 3;
    return 0;
  }

  private leaf(hi: number, lo: number, addrHi: number, addrLo: number, shift: number, perm: number, vpnLo: number, vpnHi: number, probe: boolean): number {
    this.kind = AmdKind.Translated;
    this.perm = perm;
    this.pageShift = shift;
    // HPA = page base (address with the offset bits cleared) + the IOVA's offset in the page.
    let outLo: number;
    let outHi: number;
    if (shift >= 32) {
      const m = 2 ** (shift - 32) - 1;
      outHi = ((addrHi & ~m) | (hi & m)) >>> 0;
      outLo = lo >>> 0;
    } else {
      const m = 2 ** shift - 1;
      outHi = addrHi >>> 0;
      outLo = ((addrLo & ~m) | (lo & m)) >>> 0;
    }
    this.hpaHi = outHi;
    this.hpaLo = outLo;
    if (!probe && !this.bypassCaches) this.iotlb.fill(this.did, vpnLo, vpnHi, (outLo & 0xfffff000) >>> 0, outHi, perm, shift);
    return 0;
  }

  private fault(sid: number, code: number, did: number, addrHi: number, addrLo: number, probe: boolean, suppress: boolean): number {
    this.code = code;
    this.kind = AmdKind.Translated;
    this.eventAddrHi = addrHi;
    this.eventAddrLo = addrLo;
    if (!probe) this.fate = this.logEvent(sid, code, did, this.flags, addrHi, addrLo, suppress && code === EVENT_TYPE_IO_FAULT);
    return code;
  }

  /**
   * Transactions [from, to) of transfer `x`, one trace event each (sim/dma.ts translateEach, the
   * loop every model runs, so every view reads them alike). No allocation.
   */
  translateRun(x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void {
    this.run.reset();
    translateEach(this, x, from, to, trace, step, tally);
    this.run.reset();
  }

  /**
   * Transaction t of a run (DmaUnit): the next result of the current burst of the translate core,
   * or a new burst (DmaRun) when the device's DTE allows one (burstDte), or else translate() with
   * caches and the event log.
   */
  dmaRequest(x: DmaTransfer, t: number, to: number, iovaHi: number, iovaLo: number): number {
    const run = this.run;
    if (run.next < run.done) return this.takeBurstResult(run.next++, x.sid, iovaHi, iovaLo, x.write);
    const n = run.wants(t, to);
    if (n > 0 && this.burst !== null && (x.pasid === undefined || x.pasid < 0) && this.burstDte(x.sid)) {
      loadBurst(this.burst, x, t, n);
      run.ran(t, n, this.runBurst(0, n));
    }
    return run.next < run.done ? this.takeBurstResult(run.next++, x.sid, iovaHi, iovaLo, x.write) : this.translate(x.sid, iovaHi, iovaLo, x.write, false, x.pasid ?? -1);
  }

  /**
   * DmaUnit.takeIotlbHits: the current burst's next results while they are IOTLB hits (a burst's
   * results are all translated; its counters moved when it ran), their output addresses and levels
   * written for the trace; the result fields then describe the last.
   */
  takeIotlbHits(max: number, hpaHi: Uint32Array, hpaLo: Uint32Array, level: Uint8Array, at: number): number {
    const burst = this.burst!;
    const n = this.run.takeHits(burst, max, hpaHi, hpaLo, level, at);
    if (n === 0) return 0;
    const j = this.run.next;
    const req = burst.requests;
    this.takeBurstResult(j - 1, this.bSid, req[2 * j - 1]! >>> 0, req[2 * j - 2]! >>> 0, burst.writes[j - 1] === 1);
    return n;
  }

  /**
   * The device's DTE allows a burst of the core (the unit's burst, a DTE that the unit has cached -
   * or reads each time, bypassing its caches - that is valid, translating with Mode 1..6, no guest
   * tables, no ATS device; translation on; no trail): its domain, root, Mode and IR/IW noted.
   */
  private burstDte(sid: number): boolean {
    if (this.burst === null || this.recordTrail || !this.translationEnabled) return false;
    let q0lo: number;
    let q0hi: number;
    let q1lo: number;
    let q1hi: number;
    if (this.bypassCaches) {
      const mem = this.mem;
      const at = this.devTableBase + sid * DTE_SIZE;
      if (sid * DTE_SIZE >= this.devTableBytes || !mem.read64(at)) return false;
      q0lo = mem.lo;
      q0hi = mem.hi;
      mem.read64(at + 8);
      q1lo = mem.lo;
      q1hi = mem.hi;
    } else {
      const c = this.dtc.get(sid);
      if (c === undefined) return false;
      q0lo = c[0]!;
      q0hi = c[1]!;
      q1lo = c[2]!;
      q1hi = c[3]!;
    }
    const mode = (q0lo >>> 9) & 7;
    if ((q0lo & DTE_V) === 0 || (q0lo & DTE_TV) === 0 || (q0lo & DTE0_RESERVED_LO) !== 0 || mode === 0 || mode === 7) return false;
    if ((q0hi & (DTE_GV_HI | DTE_GIOV_HI)) === (DTE_GV_HI | DTE_GIOV_HI)) return false;
    if ((q1hi & DTE1_I_HI) !== 0 && this.atsResponds?.(sid) !== undefined) return false;
    // The burst's faults are logged after it ran: a DTE read each request (bypassCaches) must not
    // lie where those events go.
    if (this.bypassCaches && this.evtBytes > 0) {
      const at = this.devTableBase + sid * DTE_SIZE;
      if (at < this.evtBase + this.evtBytes && this.evtBase < at + 16) return false;
    }
    this.bSid = sid;
    this.bSuppress = (q1hi & DTE_SA_HI) !== 0;
    this.bDid = q1lo & 0xffff;
    this.bPerm = (q0hi >>> 29) & 3;
    this.bMode = mode;
    this.bRoot = (q0hi & 0xfffff) * 0x100000000 + ((q0lo & 0xfffff000) >>> 0);
    return true;
  }

  /** The core's burst over requests [from, n) for the device burstDte noted; counters moved. Returns where it stopped. */
  private runBurst(from: number, n: number): number {
    const core = this.core!;
    const done = core.amdBurst(this.bDid, this.bRoot, this.bMode, this.bPerm, !this.bypassCaches, this.evtBase, this.evtBytes, this.burst!, this.aux!.offset, this.faultList!.offset, from, n);
    this.bFaults = core.burstFaults;
    this.bFaultNext = 0;
    this.counters.requests += done - from;
    this.counters.iotlbHits += core.burstHits;
    this.counters.walks += core.burstWalks;
    return done;
  }

  /**
   * Requests [from, n) of `burst` (its requests and write flags, loaded by the caller) from device
   * `sid`, in order, as that many calls of translate() would answer them (the same results,
   * counters, IOTLB and event log), in the translate core ($amdBurst) without a call per request.
   * A result is an address, or for a fault - IO_PAGE_FAULT, PAGE_TAB_HARDWARE_ERROR - (event[1]
   * 31:16, CORE_FAULT_HI): the unit logs its event here, in order. Returns the index of the first
   * request it did not answer - an interrupt write, a walk into sparse DRAM or into the event log,
   * or every request when the device's DTE allows no burst - which the caller translates with translate() before it
   * continues; n when it answered all. The result fields describe the last request answered. The
   * benchmark's timed path (`passthrough bench --model amd-vi`).
   */
  translateBurst(sid: number, from: number, n: number): number {
    if (from >= n || !this.burstDte(sid)) return from;
    const done = this.runBurst(from, n);
    if (done > from) {
      const burst = this.burst!;
      const req = burst.requests;
      // The faults before the last result, in order (takeBurstResult logs the last one's).
      const nf = this.bFaults;
      if (nf > 0) {
        const res = burst.results;
        const list = this.faultList!.get();
        for (let k = 0; k < nf && list[4 * k]! + from < done - 1; k++) this.logBurstFault(res[2 * (list[4 * k]! + from)]!);
      }
      this.takeBurstResult(done - 1, sid, req[2 * done - 1]! >>> 0, req[2 * done - 2]! >>> 0, burst.writes[done - 1] === 1);
    }
    return done;
  }

  /**
   * The event of the burst's next fault (its result `word`: event[1] 31:16; its address from the
   * fault list), as translate()'s fault() logs it. Returns the fate.
   */
  private logBurstFault(word: number): number {
    const k = this.bFaultNext++;
    const list = this.faultList!.get();
    const code = word >>> 12;
    return this.logEvent(this.bSid, code, this.bDid, word & 0xfff, list[4 * k + 3]! >>> 0, list[4 * k + 2]! >>> 0, this.bSuppress && code === EVENT_TYPE_IO_FAULT);
  }

  /**
   * Burst result j as translate() leaves the result fields for that request (its counters moved
   * with the burst), its event logged for a fault. Returns 0, or the fault's event code.
   */
  private takeBurstResult(j: number, sid: number, hi: number, lo: number, write: boolean): number {
    const burst = this.burst!;
    const inf = burst.info[j]!;
    const a = this.aux!.get()[j]!;
    const res = burst.results;
    const fault = res[2 * j + 1] === CORE_FAULT_HI;
    const hit = (inf & (fault ? CORE_AMD_IOTLB.infoHitFault : CORE_INFO.iotlbHit)) !== 0;
    this.guest = false;
    this.guestPasid = -1;
    // As translate()'s prologue: a request the burst answers raised no page request, so a lost one
    // of an earlier request (pprLost) is not this one's.
    if (!this.inPageRequest) {
      this.pageRequested = false;
      this.pprLost = false;
    }
    this.trailGcr3Len = 0;
    this.code = 0;
    this.flags = write ? EVENT_FLAG_RW : 0;
    this.level = inf & CORE_INFO.levelMask;
    this.did = this.bDid;
    this.fate = AmdFate.None;
    this.stage = hit ? AmdStage.Iotlb : fault && this.level === 0 ? AmdStage.Range : AmdStage.Walk;
    this.iotlbHit = hit;
    this.devIotlbHit = false;
    this.atsRequest = false;
    this.dtcHit = !this.bypassCaches;
    this.perm = a & 3;
    this.pageShift = a >>> CORE_AMD_IOTLB.auxShiftShift;
    this.trailLen = 0;
    this.trailUnreadable = false;
    this.trailDteRead = false;
    this.trailDteAddr = this.devTableBase + sid * DTE_SIZE;
    this.eventAddrHi = hi;
    this.eventAddrLo = lo;
    this.kind = AmdKind.Translated;
    if (fault) {
      // translate()'s fault(): the output address fields keep the last translation's; an
      // unreadable entry's address is the event's.
      const word = res[2 * j]!;
      const k = this.bFaultNext;
      const list = this.faultList!.get();
      this.code = word >>> 12;
      this.flags = word & 0xfff;
      this.eventAddrHi = list[4 * k + 3]! >>> 0;
      this.eventAddrLo = list[4 * k + 2]! >>> 0;
      this.trailUnreadable = this.code === EVENT_TYPE_PAGE_TAB_ERR;
      this.fate = this.logBurstFault(word);
      return this.code;
    }
    this.hpaLo = res[2 * j]! >>> 0;
    this.hpaHi = res[2 * j + 1]! >>> 0;
    return 0;
  }

  /** One request from requester `rid` (HostUnit): translate(); `probe` logs no event. */
  request(rid: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean, pasid?: number): number {
    return this.translate(rid, iovaHi, iovaLo, write, probe, pasid ?? -1);
  }

  /** The trace's translation kind of the last request (DmaUnit; AmdKind has its values). */
  get xlateKind(): number {
    return this.kind;
  }

  /** The device-table-entry cache answered the last request (DmaUnit). */
  get ccHit(): boolean {
    return this.dtcHit;
  }

  /**
   * The trace's level of the last request (DmaUnit): the leaf level, with LEVEL_DEVICE_TLB when the
   * device's own IOTLB answered (an ATS translated request: no IOTLB lookup, no walk).
   */
  get leafLevel(): number {
    return this.devIotlbHit ? this.level | LEVEL_DEVICE_TLB : this.level;
  }

  // ------------------------------------------------------------------ state

  dtcEntries(): { sid: number; words: number[] }[] {
    return [...this.dtc].map(([sid, words]) => ({ sid, words: [...words] })).sort((a, b) => a.sid - b.sid);
  }

  snapshot(): AmdUnitSnapshot {
    return {
      regs: [...this.regs],
      dtc: [...this.dtc].map(([k, v]) => [k, [...v]]),
      iotlb: this.iotlb.snapshot(),
      counters: { ...this.counters },
      commandLog: this.commandLog.map((c) => [...c]),
      irteCache: this.intr.snapshot(),
      devIotlb: this.devIotlb.snapshot(),
    };
  }

  restore(s: AmdUnitSnapshot): void {
    this.regs = new Map(s.regs);
    this.ctrlLo = Number(this.readReg(MMIO_CONTROL_OFFSET) & 0xffffffffn);
    this.dtc = new Map(s.dtc.map(([k, v]) => [k, [...v]]));
    this.iotlb.restore(s.iotlb);
    this.counters = { ...s.counters };
    this.commandLog = s.commandLog.map((c) => [c[0]!, c[1]!]);
    this.intr.restore(s.irteCache);
    this.devIotlb.restore(s.devIotlb ?? new AmdIotlb(DEV_IOTLB_SETS, DEV_IOTLB_WAYS).snapshot());
    const dt = this.readReg(MMIO_DEV_TABLE_OFFSET);
    this.devTableBase = Number(dt & 0x000ffffffffff000n);
    this.devTableBytes = dt === 0n ? 0 : (Number(dt & 0x1ffn) + 1) * 4096;
    const ev = this.readReg(MMIO_EVT_BUF_OFFSET);
    this.evtBase = Number(ev & 0x000ffffffffff000n);
    this.evtBytes = ev === 0n ? 0 : ENTRY_SIZE * 2 ** Number((ev >> 56n) & 0xfn);
  }
}

/** The 9-bit table index of `level` (1 = the last level) in IOVA hi:lo. */
export function indexAt(hi: number, lo: number, level: number): number {
  const s = 12 + 9 * (level - 1);
  if (s >= 32) return (hi >>> (s - 32)) & 511;
  if (s + 9 <= 32) return (lo >>> s) & 511;
  return ((lo >>> s) | (hi << (32 - s))) & 511;
}

/** True when IOVA hi:lo has no bit set at or above `bit`. */
function bitsZeroFrom(hi: number, lo: number, bit: number): boolean {
  if (bit >= 64) return true;
  if (bit >= 32) return hi >>> (bit - 32) === 0;
  return hi === 0 && lo >>> bit === 0;
}

/** Number of consecutive one bits from bit 0 of the 40-bit value (hi 20 bits : lo 20 bits), i.e. address bits 12 up. */
function trailingOnes(addrHi: number, low20: number): number {
  let n = 0;
  let v = low20;
  while (n < 20 && (v & 1) === 1) {
    v >>>= 1;
    n++;
  }
  if (n < 20) return n;
  v = addrHi;
  while (n < 40 && (v & 1) === 1) {
    v >>>= 1;
    n++;
  }
  return n;
}

/**
 * The range an INVALIDATE_IOMMU_PAGES address names (spec §2.4.3; Linux build_inv_address): S = 0,
 * the one 4 KiB page at address 63:12; S = 1, the first zero bit at or above bit 12 gives the
 * size, 2^(bit + 1) bytes, aligned; 0x7fff_ffff_ffff_f000 | S is every page.
 * `hi` is the command's data[2..3] qword.
 */
export function invalidationRange(q: bigint): [bigint, bigint] {
  const addr = q & ~0xfffn;
  if ((q & BigInt(CMD_INV_PAGES_S)) === 0n) return [addr, addr + 0xfffn];
  let bit = 12;
  while (bit < 63 && ((addr >> BigInt(bit)) & 1n) === 1n) bit++;
  const size = 1n << BigInt(bit + 1);
  const first = addr & ~(size - 1n);
  return [first, first + size - 1n];
}
