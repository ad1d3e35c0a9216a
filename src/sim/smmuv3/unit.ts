/**
 * One Arm SMMUv3 (SMMUv3 spec, Arm IHI 0070): its registers, the stream table and context
 * descriptors as bytes in simulated memory, the configuration caches (STEs and CDs, emptied only
 * by CMD_CFGI_*), the TLB (tagged by VMID and ASID, emptied only by CMD_TLBI_*), the command
 * queue and the event queue in memory, and the translation of one transaction in the spec's order:
 * SMMUEN/GBPA, StreamID range, (level-1 descriptor,) STE, CD, TLB, stage 1, stage 2.
 *
 * translate() is the hot path: numbers in, results in fields, no allocation (a configuration
 * cache miss decodes the STE/CD into an object - a slow-path event). With `recordTrail` it also
 * keeps what it read for the walk trail (model.ts).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { MemoryView, PhysicalMemory } from "../memory.js";
import { floorPow2, modPow2 } from "../pow2.js";
import type { Trace } from "../../trace/trace.js";
import { DmaRun, loadBurst, RUN_BURST, translateEach, type DmaTally, type DmaTransfer, type DmaUnit } from "../dma.js";
import { DmaBurst, translateCoreModule } from "../vtd/translate.js";
import { CORE_ARM_TLB, CORE_FAULT_HI, CORE_INFO } from "../vtd/translateCoreLayout.js";
import {
  ABORT_NO_EVENT,
  C_BAD_CD,
  C_BAD_STE,
  C_BAD_STREAMID,
  C_BAD_SUBSTREAMID,
  CERROR_ILL,
  CMD_CFGI_ALL,
  CMD_CFGI_CD,
  CMD_CFGI_CD_ALL,
  CMD_CFGI_STE,
  CMD_PREFETCH_CFG,
  CMD_RESUME,
  CMD_STALL_TERM,
  CMD_SYNC,
  CMD_TLBI_EL2_ALL,
  CMD_TLBI_NH_ALL,
  CMD_TLBI_NH_ASID,
  CMD_TLBI_NH_VAA,
  CMD_TLBI_NH_VA,
  CMD_TLBI_NSNH_ALL,
  CMD_TLBI_S12_VMALL,
  CMD_TLBI_S2_IPA,
  CMDQ_CONS_ERR_SHIFT,
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_PRIQEN,
  CR0_SMMUEN,
  CMD_PRI_RESP,
  IDR0_PRI,
  IDR0_CD2L,
  L1CD_V,
  F_BAD_ATS_TREQ,
  F_CD_FETCH,
  F_PERMISSION,
  F_TRANSL_FORBIDDEN,
  F_STE_FETCH,
  F_STREAM_DISABLED,
  F_TRANSLATION,
  F_WALK_EABT,
  F_ACCESS,
  F_ADDR_SIZE,
  GBPA_ABORT,
  GERROR_CMDQ_ERR,
  Q_OVF,
  STE_CFG_ABORT,
  STE_CFG_BYPASS,
  STE_CFG_NESTED,
  STE_CFG_S1,
  STE_CFG_S2,
  STRTAB_FMT_2LVL,
  S1FMT_LINEAR,
  cdSplit,
  RESUME_RETRY,
  STALL_MODEL_FORCE,
  STALL_MODEL_NONE,
  STALL_MODEL_STALL,
  paSizeBits,
} from "./spec.js";
import { captureNestedFetch, type NestedFetch } from "./nested.js";
import { CMD_ATC_INV, DeviceAtc, EATS_ABORT, type AtcEntry } from "./ats.js";
import { LEVEL_DEVICE_TLB } from "../../trace/trace.js";
import { granuleOfTg, levelShift, s1StartLevel, StageWalker, type StageConfig } from "./walk.js";
import { TableWalkCore } from "../walkCore.js";

const TWO32 = 0x100000000;

/** What the scenario (or a test) configures of an SMMU. */
export interface SmmuSpec {
  /** Platform device name: "arm-smmu-v3.0.auto" (ACPI/IORT), "9050000.smmuv3" (QEMU virt, DT). */
  name: string;
  /** SMMU_IDR1.SIDSIZE: StreamID bits (Linux: 2-level stream table when above STRTAB_SPLIT = 8). */
  sidBits: number;
  /** SMMU_IDR1.SSIDSIZE: SubstreamID bits (0: no PASIDs). */
  ssidBits: number;
  /** SMMU_IDR5.OAS in bits (32, 36, 40, 42, 44, 48). */
  oas: number;
  /** SMMU_IDR0.S1P / S2P. */
  stage1: boolean;
  stage2: boolean;
  /** SMMU_IDR0.ST_LVL = 2-level supported. */
  twoLevelStreamTable: boolean;
  /** TLB geometry. */
  tlbSets: number;
  tlbWays: number;
  /** log2 of the event queue and command queue entries (SMMU_IDR1.EVTQS / CMDQS caps). */
  evtqShift: number;
  cmdqShift: number;
  /**
   * SMMU_IDR5.GRAN4K / GRAN16K / GRAN64K: the translation granules implemented, as shifts (12, 14,
   * 16). A CD or STE selecting another one is ILLEGAL (C_BAD_CD / C_BAD_STE). Optional: all three
   * when absent (as QEMU's virt smmuv3 advertises them, hw/arm/smmuv3.c smmuv3_init_regs).
   */
  granules?: readonly number[];
  /**
   * SMMU_IDR0.STALL_MODEL (spec.ts STALL_MODEL_*): 0b00 stall and terminate (the default, as
   * Arm's MMU-600/700 report), 0b01 terminate only (QEMU's smmuv3_init_regs), 0b10 stall forced.
   */
  stallModel?: number;
  /** SMMU_IDR0.PRI: the SMMU has a PRI queue for PCIe Page Requests. */
  pri?: boolean;
  /**
   * log2 of the PRI queue entries (SMMU_IDR1.PRIQS [15:11], arm-smmu-v3.h IDR1_PRIQS; Linux sizes
   * the queue min(PRIQ_MAX_SZ_SHIFT, PRIQS) in arm_smmu_device_hw_probe). Absent: evtqShift.
   */
  priqShift?: number;
  /**
   * SMMU_IDR0.CD2L (bit 19): 2-level context descriptor tables (STE.S1Fmt 0b01 / 0b10) are
   * supported. Absent: true (Arm's MMU-600/700 implement them).
   */
  cd2l?: boolean;
}

export const DEFAULT_SMMU_SPEC: SmmuSpec = { name: "arm-smmu-v3.0.auto", sidBits: 16, ssidBits: 0, oas: 48, stage1: true, stage2: true, twoLevelStreamTable: true, tlbSets: 64, tlbWays: 4, evtqShift: 7, cmdqShift: 8 };

/** The granules of an SMMU (SmmuSpec.granules, all three by default). */
export function smmuGranules(spec: SmmuSpec): readonly number[] {
  return spec.granules ?? [12, 14, 16];
}

/** log2 of an SMMU's PRI queue entries (SmmuSpec.priqShift, else the event queue's). */
export function smmuPriqShift(spec: SmmuSpec): number {
  return spec.priqShift ?? spec.evtqShift;
}

const GRANULE_NAME: Readonly<Record<number, string>> = { 12: "4 KiB", 14: "16 KiB", 16: "64 KiB" };

/** A decoded STE, as the configuration cache holds it. */
export interface Ste {
  sid: number;
  address: number;
  words: bigint[];
  valid: boolean;
  config: number;
  s1ContextPtr: number;
  s1CdMax: number;
  s1Dss: number;
  s1Fmt: number;
  vmid: number;
  s2: StageConfig | undefined;
  /** STE.S2R: record stage-2 faults. */
  s2Record: boolean;
  /** STE.S1STALLD (word 1 bit 27, STRTAB_STE_1_S1STALLD): CD.S = 1 is ILLEGAL. Absent in old snapshots: false. */
  s1Stalld?: boolean;
  /** STE.S2S (word 2 bit 57, STRTAB_STE_2_S2S): stage-2 faults stall. Absent in old snapshots: false. */
  s2Stall?: boolean;
  /** STE.EATS (word 1 bits 29:28): ATS translation requests and translated transactions allowed (ats.ts). Absent in old snapshots: 0. */
  eats?: number;
  /** Why the STE is ILLEGAL (C_BAD_STE), undefined when it is legal. */
  bad: string | undefined;
}

/** A decoded context descriptor, as the configuration cache holds it. */
export interface Cd {
  address: number;
  words: bigint[];
  valid: boolean;
  asid: number;
  s1: StageConfig;
  epd0: boolean;
  /** CD.R: record faults. */
  record: boolean;
  /** CD.S (bit 44): stage-1 faults stall (SMMUv3 spec 3.12.2) instead of terminating. Absent in old snapshots: false. */
  stall?: boolean;
  bad: string | undefined;
}

/** What decided a translation (the trail's stop). */
export const enum SmmuStage {
  None = 0,
  /** SMMU_CR0.SMMUEN = 0: GBPA decides. */
  Disabled = 1,
  /** StreamID range or level-1 stream table descriptor. */
  StreamTable = 2,
  Ste = 3,
  Cd = 4,
  Tlb = 5,
  S1 = 6,
  S2 = 7,
}

export const enum SmmuKind {
  Translated = 0,
  Bypass = 1,
  Fault = 2,
}

export interface SmmuCounters {
  requests: number;
  tlbHits: number;
  walks: number;
  faults: number;
  events: number;
  suppressed: number;
  overflowed: number;
  commands: number;
  syncs: number;
  /** Page Requests discarded because the PRI queue was full (PRIQ_PROD.OVFLG toggled). Absent in old snapshots: 0. */
  priLost?: number;
}

export interface SmmuSnapshot {
  regs: number[];
  ste: [number, Ste][];
  cd: [number, Cd][];
  tlb: ArrayBuffer[];
  counters: SmmuCounters;
  /** The endpoints' ATCs (ats.ts); absent in snapshots taken before ATS. */
  atc?: AtcEntry[];
  /** Stalled transactions and the next STAG; absent in snapshots taken before the stall model. */
  stalled?: StalledTransaction[];
  nextStag?: number;
  /** PRIQ_BASE, PRIQ_PROD, PRIQ_CONS, next PRG index; absent before PRI. */
  pri?: [number, number, number, number];
}

/**
 * A transaction held by the SMMU after a stall fault (SMMUv3 spec 3.12.2): its event record carries
 * Stall = 1 and the STAG, and it waits until software answers with CMD_RESUME (retry or abort,
 * by StreamID and STAG) or CMD_STALL_TERM (every stalled transaction of the StreamID).
 */
export interface StalledTransaction {
  sid: number;
  ssid: number;
  stag: number;
  iovaHi: number;
  iovaLo: number;
  write: boolean;
  privileged: boolean;
  exec: boolean;
}

/** What CMD_RESUME / CMD_STALL_TERM did to a stalled transaction (for the trace and tests). */
export interface StallOutcome {
  sid: number;
  stag: number;
  /** "retry": translated again (`result` 0 or the new fault's event id); "abort" / "terminate": ended. */
  action: "retry" | "abort" | "terminate";
  result: number;
  /** The retried transaction's output address (result 0). */
  oa: number;
}

/** A read the last translate() made, for the trail (recordTrail only). */
export interface ConfigRead {
  address: number;
  words: bigint[] | undefined;
}

function readWords(mem: PhysicalMemory, addr: number, n: number): bigint[] | undefined {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const v = mem.readU64(addr + i * 8);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

const field = (w: bigint, hi: number, lo: number) => Number((w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

/** The translate core's SMMUv3 TLB exports (translate-core.template.mjs armTlbFuncs; TableWalkCore). */
type SmmuTlbCore = Pick<TableWalkCore, "configureArmTlb" | "armTlbLookup" | "armTlbHitShift" | "armTlbFill">;

const ROWS = CORE_ARM_TLB.rows;
/** i32 words of a burst's fault list entry. */
const FAULT_WORDS = CORE_ARM_TLB.faultBytes / 4;
const VPN_HI_MASK = 2 ** CORE_ARM_TLB.tagVpnHiBits - 1;

/**
 * The TLB: sets (a power of two) x ways, round-robin per set; entries tagged by kind (1 stage 1,
 * 2 stage 2, 3 nested), VMID and ASID, holding one page or block (its size as a shift). Its
 * layout and its rule are the translate core's alone (LAYOUT.armTlb in
 * translate-core.template.mjs; CORE_ARM_TLB): lookup and fill call the core's armTlbLookup /
 * armTlbFill, and the core's stage-1 bursts ($armBurst) probe and fill the same rows inline
 * from the same generators. The rows live in a memory's SRAM arena (the unit's, where its bursts
 * run; or, without one, a small memory of the TLB's own). This class reads entries for the views
 * and the invalidation commands, drops, snapshots and restores them.
 */
export class SmmuTlb {
  readonly size: number;
  /** The sets' rows (LAYOUT.armTlb), victim bytes, the filled-sizes cell. */
  private readonly slotsIn: MemoryView<Int32Array>;
  private readonly nextIn: MemoryView<Uint8Array>;
  private readonly shiftsIn: MemoryView<Int32Array>;
  private readonly core: SmmuTlbCore;
  /** Slot of the last hit, and its shift. */
  hitSlot = -1;
  hitShift = 0;

  /** SRAM arena bytes a TLB of this geometry takes (alignment included). */
  static arenaBytes(sets: number, ways: number): number {
    return sets * ways * ROWS * 4 + 64 + sets + 64 + 4 + 64;
  }

  /**
   * With `mem`, the rows live in its SRAM arena, looked up and filled by `core` (the unit's
   * translate core over `mem`, whose bursts probe and fill them too) or by an instance of the core
   * module of their own over `mem`; without, in a small memory of their own.
   */
  constructor(
    readonly sets: number,
    readonly ways: number,
    mem?: PhysicalMemory,
    core?: TableWalkCore,
  ) {
    if (!(sets >= 1 && (sets & (sets - 1)) === 0)) throw new RangeError("TLB sets must be a power of two");
    const n = sets * ways;
    this.size = n;
    mem ??= new PhysicalMemory({ poolBase: 0, poolMaxPages: 1, poolInitialPages: 1, dramBytes: 0, sramBytes: SmmuTlb.arenaBytes(sets, ways) });
    const tlb = mem.allocSram(n * ROWS * 4);
    const next = mem.allocSram(sets);
    const shifts = mem.allocSram(4);
    this.slotsIn = new MemoryView(mem, Int32Array, tlb, n * ROWS);
    this.nextIn = new MemoryView(mem, Uint8Array, next, sets);
    this.shiftsIn = new MemoryView(mem, Int32Array, shifts, 1);
    this.core = core ?? (new WebAssembly.Instance(translateCoreModule(), { sim: { memory: mem.memory } }).exports as unknown as SmmuTlbCore);
    this.core.configureArmTlb(tlb, next, shifts, sets, ways);
  }

  /**
   * Bit (shift - 12) set for every entry size ever filled (4 KiB pages: 12, 16 KiB: 14, 64 KiB:
   * 16, blocks 21/25/29/30...): lookups probe only these sizes, smallest first.
   */
  get shifts(): number {
    return this.shiftsIn.get()[0]!;
  }
  set shifts(v: number) {
    this.shiftsIn.get()[0] = v;
  }

  /** Finds an entry of `kind` / VMID / ASID (a stage-2 entry's: 0) holding input address `ia`; its slot in hitSlot. */
  lookup(kind: number, vmid: number, asid: number, ia: number): boolean {
    const hi = Math.floor(ia / TWO32);
    // An input at or above 2^64 cannot come (translate()'s halves); a hi word beyond 32 bits would.
    const k = this.core.armTlbLookup(kind, vmid, asid, hi >>> 0, (ia - hi * TWO32) >>> 0);
    if (k < 0) return false;
    this.hitSlot = k;
    this.hitShift = this.core.armTlbHitShift();
    return true;
  }

  fill(kind: number, vmid: number, asid: number, ia: number, shift: number, oaBase: number, perm: number, level: number, ipaBase: number): void {
    // A TLB of no entries (tlbWays 0: `passthrough bench --model smmuv3`'s W1) keeps nothing.
    if (this.size === 0) return;
    const hi = Math.floor(ia / TWO32);
    this.core.armTlbFill(kind, vmid, asid, hi, ia - hi * TWO32, shift, oaBase, perm, level, ipaBase);
  }

  /** Row r's cell of entry i. */
  private cell(i: number, r: number): number {
    const w = i % this.ways;
    return this.slotsIn.get()[(i - w) * ROWS + r * this.ways + w]!;
  }

  valid(i: number): boolean {
    return this.cell(i, CORE_ARM_TLB.rowTag) < 0;
  }
  kind(i: number): number {
    return (this.cell(i, CORE_ARM_TLB.rowTag) >>> CORE_ARM_TLB.tagKindAt) & 3;
  }
  /** log2 of the entry's size. */
  shift(i: number): number {
    return ((this.cell(i, CORE_ARM_TLB.rowTag) >>> CORE_ARM_TLB.tagShiftAt) & 31) + CORE_ARM_TLB.tagShiftBase;
  }
  /** The entry's page number: its input base / 2^shift. */
  vpn(i: number): number {
    return (this.cell(i, CORE_ARM_TLB.rowTag) & VPN_HI_MASK) * TWO32 + (this.cell(i, CORE_ARM_TLB.rowVpnLo) >>> 0);
  }
  asid(i: number): number {
    return this.cell(i, CORE_ARM_TLB.rowIds) & 0xffff;
  }
  vmid(i: number): number {
    return this.cell(i, CORE_ARM_TLB.rowIds) >>> CORE_ARM_TLB.idsVmidAt;
  }
  /** The output base. */
  oa(i: number): number {
    return (this.cell(i, CORE_ARM_TLB.rowOaHi) >>> 0) * TWO32 + ((this.cell(i, CORE_ARM_TLB.rowOaLo) & -4096) >>> 0);
  }
  /** A nested entry's IPA base (0 for the others). */
  ipa(i: number): number {
    return (this.cell(i, CORE_ARM_TLB.rowIpaHi) >>> 0) * TWO32 + (this.cell(i, CORE_ARM_TLB.rowIpaLo) >>> 0);
  }
  perm(i: number): number {
    return this.cell(i, CORE_ARM_TLB.rowOaLo) & CORE_ARM_TLB.oaPermMask;
  }
  /** The Arm level of the entry's leaf. */
  level(i: number): number {
    return (this.cell(i, CORE_ARM_TLB.rowOaLo) >>> CORE_ARM_TLB.oaLevelAt) & 3;
  }

  /** Drops the valid entries `match` selects; returns how many. */
  drop(match: (i: number) => boolean): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.valid(i) && match(i)) {
        const w = i % this.ways;
        const at = (i - w) * ROWS + CORE_ARM_TLB.rowTag * this.ways + w;
        const slots = this.slotsIn.get();
        slots[at] = slots[at]! & ~CORE_ARM_TLB.tagValid;
        n++;
      }
    }
    return n;
  }

  /** Whether entry i covers input address `ia`. */
  covers(i: number, ia: number): boolean {
    return this.vpn(i) === Math.floor(ia / 2 ** this.shift(i));
  }

  entries(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.valid(i)) out.push(i);
    return out;
  }

  snapshot(): ArrayBuffer[] {
    return [this.slotsIn.get().slice().buffer, this.nextIn.get().slice().buffer, this.shiftsIn.get().slice().buffer];
  }

  restore(s: ArrayBuffer[]): void {
    this.slotsIn.get().set(new Int32Array(s[0]!));
    this.nextIn.get().set(new Uint8Array(s[1]!));
    this.shiftsIn.get().set(new Int32Array(s[2]!));
  }
}

export class SmmuV3Unit implements DmaUnit {
  readonly tlb: SmmuTlb;
  /** The translate core (walkCore.ts): the walkers' walk, and with `burst` the stage-1 bursts. */
  private readonly core: TableWalkCore | null;
  /**
   * The requests and results of a burst of the core (translateBurst, dmaRequest; null without the
   * TLB in the SRAM arena); each result's info byte holds its permission too (CORE_ARM_TLB.infoPermAt).
   */
  readonly burst: DmaBurst | null;
  /**
   * The faults of the core's last burst, in order (CORE_ARM_TLB.faultBytes each, as i32: the
   * request's index from the burst's start, and an F_WALK_EABT's fetch address as uint32 halves
   * at faultFetch), and the next one takeBurstResult takes.
   */
  private readonly faultList: MemoryView<Int32Array> | null;
  private bFault = 0;
  /** The burst's stream, resolved by burstConfig: its StreamID, STE and CD. */
  private bSid = 0;
  private bSte: Ste | undefined;
  private bCd: Cd | undefined;
  /** The current run's bursts (dmaRequest). */
  private readonly run = new DmaRun();

  /** SRAM arena bytes a unit with this TLB takes for its translate core (walk core, TLB, burst). */
  static sramBytes(tlbSets: number, tlbWays: number): number {
    return TableWalkCore.ARENA_BYTES + SmmuV3Unit.burstBytes(tlbSets, tlbWays);
  }

  private static burstBytes(tlbSets: number, tlbWays: number): number {
    return SmmuTlb.arenaBytes(tlbSets, tlbWays) + DmaBurst.arenaBytes(RUN_BURST) + CORE_ARM_TLB.faultBytes * RUN_BURST + 64;
  }
  readonly s1: StageWalker;
  readonly s2: StageWalker;
  /** Walks the stage-2 translation of a nested stream's table and CD addresses (no trail). */
  private readonly s2t: StageWalker;

  // Registers (SMMUv3 spec 6.3), as numbers; 64-bit base registers hold addresses below 2^52.
  cr0 = 0;
  gbpa = 0;
  gerror = 0;
  gerrorn = 0;
  strtabBase = 0;
  strtabBaseCfg = 0;
  cmdqBase = 0;
  cmdqProd = 0;
  cmdqCons = 0;
  evtqBase = 0;
  evtqProd = 0;
  evtqCons = 0;

  readonly steCache = new Map<number, Ste>();
  /** The ATCs of ATS-capable endpoints (ats.ts). */
  readonly atc = new DeviceAtc();
  readonly cdCache = new Map<number, Cd>();
  counters: SmmuCounters = { requests: 0, tlbHits: 0, walks: 0, faults: 0, events: 0, suppressed: 0, overflowed: 0, commands: 0, syncs: 0 };

  // ---- results of the last translate()
  kind: SmmuKind = SmmuKind.Translated;
  oa = 0;
  level = 0;
  perm = 0;
  tlbHit = false;
  steHit = false;
  cdHit = false;
  stage: SmmuStage = SmmuStage.None;
  /** Tags of the translation: ASID (stage 1) and VMID (stage 2 or S2VMID), -1 when none. */
  asid = -1;
  vmid = -1;
  /** The STE / CD the last translate() used (undefined before them). */
  ste: Ste | undefined;
  cd: Cd | undefined;
  /** Event fields of the last fault. */
  evS2 = false;
  evClass = 2;
  evIpa = 0;
  evFetch = 0;
  /** The last fault was recorded in the event queue (false: suppressed by CD.R / STE.S2R, or the queue was off/full). */
  recorded = false;
  /**
   * The last fault's fate in the trace's terms (trace.ts F_FATE_SHIFT): 0 none (an abort records
   * nothing), 1 recorded in the event queue, 2 suppressed (CD.R = 0 / STE.S2R = 0), 3 lost (the
   * event queue was full or disabled).
   */
  fate = 0;
  /** Why the configuration was rejected (C_BAD_STE, C_BAD_CD, C_BAD_STREAMID): for the trail. */
  why = "";

  /**
   * StreamID = requester id + sidOffset (the root complex's iommu-map / IORT ID mapping). The
   * machine, the trace and the contract speak requester ids; the SMMU, its tables and its event
   * records StreamIDs.
   */
  sidOffset = 0;

  /** Skip the configuration caches and the TLB (explain's walk of the tables as they are). */
  bypassCaches = false;
  recordTrail = false;
  /** Trail reads: level-1 stream table descriptor, STE, CD. */
  trailL1: ConfigRead | undefined;
  trailSte: ConfigRead | undefined;
  trailCd: ConfigRead | undefined;
  /** The level-1 context descriptor of a 2-level CD table (recordTrail only). */
  trailL1Cd: ConfigRead | undefined;
  /** The IPA the stage-2 walk translated (nested or stage-2-only). */
  ipa = 0;
  /** recordTrail only: the stage-2 walks of a nested stream's CD and stage-1 table fetches, in order. */
  nestedFetches: NestedFetch[] = [];

  /** Stage-1 table addresses of a nested stream through stage 2 (made once: no closure per walk). */
  private readonly nestedHook = (ipa: number): number => this.s2Fetch(this.ste!, ipa);

  /** Transactions held after a stall fault, oldest first (slow path: a stall is a fault). */
  stalled: StalledTransaction[] = [];
  /** The STAG the next stall gets (16 bits, wrapping). */
  nextStag = 0;
  /** What CMD_RESUME / CMD_STALL_TERM did, in order; the host drains it (host.ts). */
  stallOutcomes: StallOutcome[] = [];
  /** The last fault stalled the transaction (its event has Stall = 1). */
  stalledLast = false;

  /** PRI queue registers (SMMU_PRIQ_BASE / PROD / CONS) and the next PRG index a PRI endpoint uses. */
  priqBase = 0;
  priqProd = 0;
  priqCons = 0;
  nextPrg = 0;
  /** StreamIDs of endpoints whose PRI capability is enabled: a failed ATS translation becomes a Page Request. */
  readonly priSids = new Set<number>();
  /** CMD_PRI_RESP commands consumed, in order (the endpoint's PRG Response). */
  priResponses: { sid: number; ssid: number; grpid: number; resp: number }[] = [];

  /** Last command-queue error (opcode and dwords) for the driver's gerror handler. */
  lastCmdError: { cons: number; cmd: [bigint, bigint] } | undefined;

  constructor(
    readonly mem: PhysicalMemory,
    readonly spec: SmmuSpec,
  ) {
    // One walk core for the unit's walkers: their walks never overlap (a nested stage-1 walk, whose
    // table fetches go through s2t, walks in TypeScript). With room in the SRAM arena for the TLB
    // and a burst too, the TLB lives there and DMA runs translate in bursts of the core
    // ($armBurst); with room for the core alone, it walks; without, TypeScript does everything.
    const sets = spec.tlbSets;
    let core = Number.isInteger(Math.log2(sets)) ? TableWalkCore.create(mem, SmmuV3Unit.burstBytes(sets, spec.tlbWays)) : null;
    // The TLB configures the core's TLB globals: its lookups, fills and the bursts share one instance.
    this.tlb = new SmmuTlb(sets, spec.tlbWays, core === null ? undefined : mem, core ?? undefined);
    if (core !== null) {
      this.burst = new DmaBurst(mem, RUN_BURST);
      this.faultList = new MemoryView(mem, Int32Array, mem.allocSram(CORE_ARM_TLB.faultBytes * RUN_BURST), (CORE_ARM_TLB.faultBytes / 4) * RUN_BURST);
    } else {
      core = TableWalkCore.create(mem);
      this.burst = null;
      this.faultList = null;
    }
    this.core = core;
    this.s1 = new StageWalker(mem, core);
    this.s2 = new StageWalker(mem, core);
    this.s2t = new StageWalker(mem, core);
  }

  get name(): string {
    return this.spec.name;
  }

  // ------------------------------------------------------------ ID registers (SMMUv3 spec 6.3.1-6.3.6)

  /** SMMU_IDR0: ST_LVL [28:27], STALL_MODEL [25:24], CD2L [19], TTF [3:2] = 0b10 AArch64, S1P [1], S2P [0], ASID16 [12], VMID16 [18], COHACC [4], MSI [13]. */
  get idr0(): number {
    return ((this.spec.twoLevelStreamTable ? 1 : 0) << 27) | ((this.spec.stallModel ?? STALL_MODEL_STALL) << 24) | (this.spec.pri === true ? IDR0_PRI : 0) | (this.spec.cd2l !== false ? IDR0_CD2L : 0) | (1 << 18) | (1 << 13) | (1 << 12) | (1 << 4) | (2 << 2) | (this.spec.stage1 ? 2 : 0) | (this.spec.stage2 ? 1 : 0);
  }

  /** SMMU_IDR1: CMDQS [25:21], EVTQS [20:16], PRIQS [15:11] (with PRI), SSIDSIZE [10:6], SIDSIZE [5:0] (arm-smmu-v3.h IDR1_*). */
  get idr1(): number {
    return (this.spec.cmdqShift << 21) | (this.spec.evtqShift << 16) | (this.spec.pri === true ? smmuPriqShift(this.spec) << 11 : 0) | (this.spec.ssidBits << 6) | this.spec.sidBits;
  }

  /** SMMU_IDR5: GRAN64K [6], GRAN16K [5], GRAN4K [4], OAS [2:0] (Linux arm-smmu-v3.h IDR5_GRAN*). */
  get idr5(): number {
    const oas = [32, 36, 40, 42, 44, 48, 52].indexOf(this.spec.oas);
    const g = smmuGranules(this.spec);
    return (g.includes(16) ? 1 << 6 : 0) | (g.includes(14) ? 1 << 5 : 0) | (g.includes(12) ? 1 << 4 : 0) | (oas < 0 ? 5 : oas);
  }

  get enabled(): boolean {
    return (this.cr0 & CR0_SMMUEN) !== 0;
  }

  // ------------------------------------------------------------ register writes with side effects

  writeCr0(v: number): void {
    this.cr0 = v;
  }

  /** SMMU_CMDQ_PROD: the SMMU consumes the commands up to it (SMMUv3 spec 3.5.2). */
  writeCmdqProd(v: number): void {
    this.cmdqProd = v >>> 0;
    this.processCommands();
  }

  /** SMMU_EVTQ_CONS: software consumed records (and acknowledges overflow with OVACKFLG). */
  writeEvtqCons(v: number): void {
    this.evtqCons = v >>> 0;
  }

  writeGerrorn(v: number): void {
    this.gerrorn = v >>> 0;
  }

  // ------------------------------------------------------------ queues

  private queueShift(base: number): number {
    return base % 32; // Q_BASE LOG2SIZE [4:0] (the base address is 32-byte aligned at least)
  }

  private queueAddr(base: number): number {
    return base - (base % 32);
  }

  /** Writes one event record (four dwords as lo/hi halves) at EVTQ_PROD, or sets the overflow flag when full. */
  private writeEvent(l0: number, h0: number, l1: number, h1: number, l2: number, h2: number, l3: number, h3: number): boolean {
    if (!this.eventQueueOn()) return false;
    if (this.eventQueueFull()) {
      this.loseEvents(1);
      return false;
    }
    const shift = this.queueShift(this.evtqBase);
    const mask = (1 << shift) - 1;
    const wrap = 1 << shift;
    const prod = this.evtqProd;
    const at = this.queueAddr(this.evtqBase) + (prod & mask) * 32;
    this.mem.write64(at, l0, h0);
    this.mem.write64(at + 8, l1, h1);
    this.mem.write64(at + 16, l2, h2);
    this.mem.write64(at + 24, l3, h3);
    const next = ((prod & (mask | wrap)) + 1) & (mask | wrap);
    this.evtqProd = ((prod & Q_OVF) | next) >>> 0;
    this.counters.events++;
    return true;
  }

  /** The event queue takes records: CR0.EVTQEN set and a queue base programmed (writeEvent writes nowhere otherwise). */
  private eventQueueOn(): boolean {
    return (this.cr0 & CR0_EVTQEN) !== 0 && this.evtqBase !== 0;
  }

  /** The event queue is full: PROD and CONS at the same index, their wrap bits differing (SMMUv3 spec 3.5.1). */
  private eventQueueFull(): boolean {
    const shift = this.queueShift(this.evtqBase);
    const mask = (1 << shift) - 1;
    const wrap = 1 << shift;
    return (this.evtqProd & mask) === (this.evtqCons & mask) && (this.evtqProd & wrap) !== (this.evtqCons & wrap);
  }

  /**
   * `n` records the full queue cannot take: they are lost and PROD.OVFLG toggles (SMMUv3 spec 7.4),
   * once - it toggles only while it equals CONS.OVACKFLG, so a second lost record changes nothing
   * until software acknowledges the overflow.
   */
  private loseEvents(n: number): void {
    const prod = this.evtqProd;
    if ((prod & Q_OVF) === (this.evtqCons & Q_OVF)) this.evtqProd = (prod ^ Q_OVF) >>> 0;
    this.counters.overflowed += n;
  }

  /** The records between EVTQ_CONS and EVTQ_PROD (what the driver's evtq thread reads). */
  pendingEvents(): { index: number; raw: [bigint, bigint, bigint, bigint] }[] {
    const out: { index: number; raw: [bigint, bigint, bigint, bigint] }[] = [];
    if (this.evtqBase === 0) return out;
    const shift = this.queueShift(this.evtqBase);
    const mask = (1 << shift) - 1;
    const wrap = 1 << shift;
    let c = this.evtqCons & (mask | wrap);
    const p = this.evtqProd & (mask | wrap);
    while (c !== p) {
      const at = this.queueAddr(this.evtqBase) + (c & mask) * 32;
      const w = readWords(this.mem, at, 4) ?? [0n, 0n, 0n, 0n];
      out.push({ index: c & mask, raw: [w[0]!, w[1]!, w[2]!, w[3]!] });
      c = (c + 1) & (mask | wrap);
    }
    return out;
  }

  /** Every record slot of the event queue that was ever written (index, raw), for the views. */
  eventSlots(): { index: number; raw: [bigint, bigint, bigint, bigint] }[] {
    const out: { index: number; raw: [bigint, bigint, bigint, bigint] }[] = [];
    if (this.evtqBase === 0) return out;
    const n = 1 << this.queueShift(this.evtqBase);
    for (let i = 0; i < n; i++) {
      const w = readWords(this.mem, this.queueAddr(this.evtqBase) + i * 32, 4);
      if (!w || (w[0] === 0n && w[1] === 0n && w[2] === 0n && w[3] === 0n)) continue;
      out.push({ index: i, raw: [w[0]!, w[1]!, w[2]!, w[3]!] });
    }
    return out;
  }

  /**
   * Consumes commands from CMDQ_CONS to CMDQ_PROD (SMMUv3 spec 4). An illegal command stops the
   * queue: CMDQ_CONS.ERR = CERROR_ILL and GERROR.CMDQ_ERR toggles (active while it differs from
   * GERRORN), until software fixes the command and acknowledges the error.
   */
  processCommands(): void {
    if ((this.cr0 & CR0_CMDQEN) === 0 || this.cmdqBase === 0) return;
    if (((this.gerror ^ this.gerrorn) & GERROR_CMDQ_ERR) !== 0) return;
    const shift = this.queueShift(this.cmdqBase);
    const mask = (1 << shift) - 1;
    const wrap = 1 << shift;
    let c = this.cmdqCons & (mask | wrap);
    const p = this.cmdqProd & (mask | wrap);
    while (c !== p) {
      const at = this.queueAddr(this.cmdqBase) + (c & mask) * 16;
      const w0 = this.mem.readU64(at) ?? 0n;
      const w1 = this.mem.readU64(at + 8) ?? 0n;
      if (!this.execute(w0, w1)) {
        this.cmdqCons = ((CERROR_ILL << CMDQ_CONS_ERR_SHIFT) | c) >>> 0;
        this.gerror = (this.gerror ^ GERROR_CMDQ_ERR) >>> 0;
        this.lastCmdError = { cons: this.cmdqCons, cmd: [w0, w1] };
        return;
      }
      this.counters.commands++;
      c = (c + 1) & (mask | wrap);
    }
    this.cmdqCons = c >>> 0;
  }

  /** One command (SMMUv3 spec 4.1-4.7; field positions as Linux's arm_smmu_cmdq_build_cmd writes them). Returns false when illegal. */
  execute(w0: bigint, w1: bigint): boolean {
    const op = Number(w0 & 0xffn);
    const sid = field(w0, 63, 32);
    const tlb = this.tlb;
    switch (op) {
      case CMD_PREFETCH_CFG:
        return true;
      case CMD_CFGI_STE:
        // CMDQ_CFGI_0_SID; an STE's cached CDs go with it (they were fetched through it).
        this.steCache.delete(sid);
        this.dropCds((k) => Math.floor(k / 2 ** 20) === sid);
        return true;
      case CMD_CFGI_ALL:
        this.steCache.clear();
        this.cdCache.clear();
        return true;
      case CMD_CFGI_CD: {
        const ssid = field(w0, 31, 12); // CMDQ_CFGI_0_SSID
        this.cdCache.delete(sid * 2 ** 20 + ssid);
        return true;
      }
      case CMD_CFGI_CD_ALL:
        this.dropCds((k) => Math.floor(k / 2 ** 20) === sid);
        return true;
      case CMD_TLBI_NH_ALL: {
        // All stage-1 entries of the command's VMID [47:32] (SMMUv3 spec 4.4.2.1; QEMU smmuv3_cmdq_consume
        // SMMU_CMD_TLBI_NH_ALL: smmu_inv_notifiers_all / smmu_iotlb_inv_vmid_s1). A host's stage-1 entries have VMID 0.
        const vmid = field(w0, 47, 32);
        tlb.drop((i) => tlb.kind(i) !== 2 && tlb.vmid(i) === vmid);
        return true;
      }
      case CMD_TLBI_NH_VAA: {
        // CMD_TLBI_NH_VA for every ASID of the VMID (SMMUv3 spec 4.4.2.4): one address, VA [63:12] of dword 1.
        const vmid = field(w0, 47, 32);
        const va = Number((w1 >> 12n) & 0xfffffffffffffn) * 4096;
        tlb.drop((i) => tlb.kind(i) !== 2 && tlb.vmid(i) === vmid && tlb.vpn(i) * 2 ** tlb.shift(i) <= va && (tlb.vpn(i) + 1) * 2 ** tlb.shift(i) > va);
        return true;
      }
      case CMD_TLBI_NH_ASID: {
        const asid = field(w0, 63, 48); // CMDQ_TLBI_0_ASID
        const vmid = field(w0, 47, 32); // CMDQ_TLBI_0_VMID
        tlb.drop((i) => tlb.kind(i) !== 2 && tlb.asid(i) === asid && tlb.vmid(i) === vmid);
        return true;
      }
      case CMD_TLBI_NH_VA: {
        const asid = field(w0, 63, 48);
        const vmid = field(w0, 47, 32);
        const va = Number((w1 >> 12n) & 0xfffffffffffffn) * 4096; // CMDQ_TLBI_1_VA_MASK
        // Range invalidation (SMMUv3.2 RIL: NUM [16:12], SCALE [24:20], TG [11:10] of w1): (NUM+1) << SCALE
        // granules of TG (0b01 4 KiB, 0b10 16 KiB, 0b11 64 KiB); TG = 0 is one address.
        const tg = field(w1, 11, 10);
        const pages = tg === 0 ? 1 : (field(w0, 16, 12) + 1) * 2 ** field(w0, 24, 20);
        const end = va + pages * (tg === 2 ? 16384 : tg === 3 ? 65536 : 4096);
        tlb.drop((i) => tlb.kind(i) !== 2 && tlb.asid(i) === asid && tlb.vmid(i) === vmid && tlb.vpn(i) * 2 ** tlb.shift(i) < end && (tlb.vpn(i) + 1) * 2 ** tlb.shift(i) > va);
        return true;
      }
      case CMD_TLBI_EL2_ALL:
        return true; // no EL2 (StreamWorld EL2) entries are made here
      case CMD_TLBI_S12_VMALL: {
        const vmid = field(w0, 47, 32);
        tlb.drop((i) => tlb.vmid(i) === vmid);
        return true;
      }
      case CMD_TLBI_S2_IPA: {
        const vmid = field(w0, 47, 32);
        const ipa = Number((w1 >> 12n) & 0xffffffffffn) * 4096; // CMDQ_TLBI_1_IPA_MASK [51:12]
        // Stage-2-only entries: combined (nested) entries are tagged by VA and need CMD_TLBI_S12_VMALL.
        tlb.drop((i) => tlb.kind(i) === 2 && tlb.vmid(i) === vmid && tlb.covers(i, ipa));
        return true;
      }
      case CMD_TLBI_NSNH_ALL:
        tlb.drop(() => true);
        return true;
      case CMD_ATC_INV:
        this.atc.invalidate(w0, w1);
        return true;
      case CMD_RESUME:
        // SID [63:32], RESP [13:12] (Linux CMDQ_RESUME_0_RESP: 0 TERM, 1 RETRY, 2 ABORT), STAG [15:0] of dword 1.
        this.resume(sid, field(w1, 15, 0), field(w0, 13, 12));
        return true;
      case CMD_PRI_RESP:
        // SID [63:32], SSID [31:12] with SSV [11]; GRPID [8:0], RESP [13:12] of dword 1.
        this.priResponses.push({ sid, ssid: field(w0, 11, 11) === 1 ? field(w0, 31, 12) : -1, grpid: field(w1, 8, 0), resp: field(w1, 13, 12) });
        return true;
      case CMD_STALL_TERM:
        for (const t of this.stalled.filter((x) => x.sid === sid)) this.resume(sid, t.stag, -1);
        return true;
      case CMD_SYNC: {
        // CS [13:12] = 0b01 (SIG_IRQ) with MSIADDR [51:2] of w1: the SMMU writes MSIDATA [63:32]
        // there on completion (Linux polls that word: arm_smmu_cmdq_build_sync_cmd).
        const cs = field(w0, 13, 12);
        const msiAddr = Number((w1 >> 2n) & 0x3ffffffffffffn) * 4;
        if (cs === 1 && msiAddr !== 0) this.mem.write32(msiAddr, field(w0, 63, 32));
        this.counters.syncs++;
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * Answers the stalled transaction (sid, stag) (SMMUv3 spec 4.7.1 CMD_RESUME): RETRY translates it
   * again with the configuration and tables as they are now (a fault stalls it again with a new
   * STAG); ABORT and TERM end it (the device sees an abort, or a RAZ/WI completion). A STAG no
   * transaction holds is ignored. `resp` -1: CMD_STALL_TERM (SMMUv3 spec 4.7.2).
   */
  private resume(sid: number, stag: number, resp: number): void {
    const i = this.stalled.findIndex((t) => t.sid === sid && t.stag === stag);
    if (i < 0) return;
    const t = this.stalled[i]!;
    this.stalled.splice(i, 1);
    if (resp !== RESUME_RETRY) {
      this.stallOutcomes.push({ sid, stag, action: resp === -1 || resp === 0 ? "terminate" : "abort", result: 0, oa: 0 });
      return;
    }
    const r = this.translate(t.sid, t.ssid, t.iovaHi, t.iovaLo, t.write, false, t.privileged, t.exec);
    this.stallOutcomes.push({ sid, stag, action: "retry", result: r, oa: r === 0 ? this.oa : 0 });
  }

  private dropCds(match: (key: number) => boolean): void {
    for (const k of [...this.cdCache.keys()]) if (match(k)) this.cdCache.delete(k);
  }

  // ------------------------------------------------------------ configuration

  /** Decodes the STE of `sid` at `address` (SMMUv3 spec 5.2), with the reason it is ILLEGAL. */
  decodeSte(sid: number, address: number, words: bigint[]): Ste {
    const [w0 = 0n, w1 = 0n, w2 = 0n, w3 = 0n] = words;
    const valid = (w0 & 1n) === 1n;
    const config = field(w0, 3, 1);
    const s1Fmt = field(w0, 5, 4);
    const s1CdMax = field(w0, 63, 59);
    const vmid = field(w2, 15, 0);
    let bad: string | undefined;
    let s2: StageConfig | undefined;
    if (!valid) bad = "V = 0";
    else if (config > 0 && config < 4) bad = `Config ${config} is reserved`;
    else if ((config === STE_CFG_S1 || config === STE_CFG_NESTED) && !this.spec.stage1) bad = "stage 1 is not implemented (SMMU_IDR0.S1P = 0)";
    else if ((config === STE_CFG_S2 || config === STE_CFG_NESTED) && !this.spec.stage2) bad = "stage 2 is not implemented (SMMU_IDR0.S2P = 0)";
    // S1Fmt (SMMUv3 spec 5.2): read only when S1CDMax != 0 (one CD otherwise); 0b11 is reserved,
    // and a 2-level format needs SMMU_IDR0.CD2L.
    else if ((config === STE_CFG_S1 || config === STE_CFG_NESTED) && s1CdMax !== 0 && s1Fmt === 3) bad = "S1Fmt 0b11 is reserved";
    else if ((config === STE_CFG_S1 || config === STE_CFG_NESTED) && s1CdMax !== 0 && s1Fmt !== S1FMT_LINEAR && this.spec.cd2l === false) bad = `S1Fmt ${s1Fmt}: 2-level CD tables are not implemented (SMMU_IDR0.CD2L = 0)`;
    else if ((config === STE_CFG_S1 || config === STE_CFG_NESTED) && s1CdMax > this.spec.ssidBits) bad = `S1CDMax ${s1CdMax} is beyond SMMU_IDR1.SSIDSIZE ${this.spec.ssidBits}`;
    // STE.S2S with stage 2 translating (Config 0b11x; SMMUv3 spec 5.5 "Fault configuration",
    // SteIllegal(), as Linux commit ce7cb08e22e0 quotes it): S2S = 0 is ILLEGAL under
    // STALL_MODEL 0b10, S2S = 1 under 0b01 (no stalls); S2S = 1 with EATS != 0 is ILLEGAL (ATS
    // and stalls exclude each other: the thread of that commit, "5.2 Stream Table Entry").
    else if ((config === STE_CFG_S2 || config === STE_CFG_NESTED) && field(w2, 57, 57) === 0 && this.spec.stallModel === STALL_MODEL_FORCE) bad = "S2S = 0 but the SMMU forces stalls (SMMU_IDR0.STALL_MODEL = 0b10)";
    else if ((config === STE_CFG_S2 || config === STE_CFG_NESTED) && field(w2, 57, 57) === 1 && this.spec.stallModel === STALL_MODEL_NONE) bad = "S2S = 1 (stall) but the SMMU cannot stall (SMMU_IDR0.STALL_MODEL = 0b01)";
    else if ((config === STE_CFG_S2 || config === STE_CFG_NESTED) && field(w2, 57, 57) === 1 && field(w1, 29, 28) !== 0) bad = "S2S = 1 with EATS != 0b00: stage-2 stalls and ATS exclude each other";
    if (bad === undefined && (config === STE_CFG_S2 || config === STE_CFG_NESTED)) {
      const t0sz = field(w2, 37, 32);
      const sl0 = field(w2, 39, 38);
      const tg = field(w2, 47, 46);
      const ps = field(w2, 50, 48);
      const aa64 = field(w2, 51, 51);
      const inputBits = 64 - t0sz;
      const granule = granuleOfTg(tg);
      const outputBits = Math.min(paSizeBits(ps), this.spec.oas);
      // S2SL0 (Arm ARM AArch64.S2StartLevel, VTCR_EL2.SL0): 4 KiB 0 -> level 2, 1 -> 1, 2 -> 0;
      // 16 KiB and 64 KiB 3 - SL0. Reserved without FEAT_TTST/FEAT_LPA2: SL0 = 3 (every granule).
      const startLevel = sl0 === 3 ? -1 : granule === 12 ? 2 - sl0 : 3 - sl0;
      const atStart = granule < 0 || startLevel < 0 ? 0 : inputBits - levelShift(startLevel, granule);
      if (aa64 === 0) bad = "S2AA64 = 0: AArch32 stage-2 tables are not supported (SMMU_IDR0.TTF = AArch64)";
      else if (granule < 0) bad = `S2TG ${tg} is reserved`;
      else if (!smmuGranules(this.spec).includes(granule)) bad = `S2TG ${tg}: the ${GRANULE_NAME[granule]} granule is not implemented (SMMU_IDR5.GRAN*)`;
      else if (startLevel < 0) bad = `S2SL0 = 3 is reserved with the ${GRANULE_NAME[granule]} granule`;
      // QEMU s2t0sz_valid (hw/arm/smmuv3.c): S2T0SZ <= 39, and the IPA no wider than the effective
      // S2PS (with 4/16 KiB also at most 48 bits: S2T0SZ >= MAX(16, 64 - S2PS)).
      else if (inputBits > 48 || inputBits < 25 || inputBits > outputBits) bad = `S2T0SZ ${t0sz} is out of range (a ${inputBits}-bit IPA; 25..${Math.min(48, outputBits)} bits with S2PS ${outputBits})`;
      // At most 16 concatenated tables at the start level (Arm ARM D8.2.7, QEMU
      // s2_pgtable_config_valid: VMSA_MAX_S2_CONCAT): 1 .. stride + 4 index bits.
      else if (atStart < 1 || atStart > granule - 3 + 4) bad = `S2SL0 ${sl0} (start level ${startLevel}) is inconsistent with S2T0SZ ${t0sz} and the ${GRANULE_NAME[granule]} granule`;
      else s2 = { ttb: Number((w3 >> 4n) & 0xfffffffffffn) * 16, inputBits, startLevel, outputBits, s2: true, afOff: field(w2, 53, 53) === 1, granule };
    }
    return { sid, address, words, valid, config, s1ContextPtr: Number((w0 >> 6n) & 0x3ffffffffffn) * 64, s1CdMax, s1Dss: field(w1, 1, 0), s1Fmt, vmid, s2, s2Record: field(w2, 58, 58) === 1, s2Stall: field(w2, 57, 57) === 1, eats: field(w1, 29, 28), s1Stalld: field(w1, 27, 27) === 1, bad };
  }

  /** Decodes a context descriptor (SMMUv3 spec 5.4), with the reason it is ILLEGAL. */
  decodeCd(address: number, words: bigint[]): Cd {
    const [w0 = 0n, w1 = 0n] = words;
    const valid = field(w0, 31, 31) === 1;
    const t0sz = field(w0, 5, 0);
    const tg0 = field(w0, 7, 6);
    const inputBits = 64 - t0sz;
    const epd0 = field(w0, 14, 14) === 1;
    let bad: string | undefined;
    if (!valid) bad = "V = 0";
    else if (field(w0, 41, 41) === 0) bad = "AA64 = 0: AArch32 stage-1 tables are not supported (SMMU_IDR0.TTF = AArch64)";
    // CD.S (SMMUv3 spec 5.4): S = 1 is ILLEGAL when SMMU_IDR0.STALL_MODEL = 0b01 (QEMU decode_cd:
    // "if (CD_S(cd)) goto bad_cd; /* !STE_SECURE && SMMU_IDR0.STALL_MODEL == 1 */"), and S = 0 when
    // it is 0b10 (Linux arm-smmu-v3.c: "STALL_MODEL==0b10 && CD.S==0 is ILLEGAL"). STE.S1STALLD is
    // checked in translate(): the CD cache is per CD, the STE's bit per stream.
    else if (field(w0, 44, 44) === 1 && this.spec.stallModel === STALL_MODEL_NONE) bad = "S = 1 (stall) but the SMMU cannot stall (SMMU_IDR0.STALL_MODEL = 0b01)";
    else if (field(w0, 44, 44) === 0 && this.spec.stallModel === STALL_MODEL_FORCE) bad = "S = 0 but the SMMU forces stalls (SMMU_IDR0.STALL_MODEL = 0b10)";
    // T0SZ 16..39 for every granule (SMMUv3 spec 5.4: out of range is ILLEGAL without
    // SMMU_IDR3.STT; QEMU decode_cd checks it before TG0). Only for an enabled TTB0: with EPD0 = 1
    // T0SZ, TG0 and TTB0 are ignored (QEMU decode_cd: "cfg->tt[i].disabled = CD_EPD(cd, i); if
    // (cfg->tt[i].disabled) continue;"; Linux arm_smmu_make_sva_cd relies on it: "TTB0 is ignored
    // by HW when EPD0 is set", and writes T0SZ = 0 in the CD of an exited process).
    else if (epd0) bad = undefined;
    else if (t0sz < 16 || t0sz > 39) bad = `T0SZ ${t0sz} is out of range (16..39)`;
    // TG0: 0b11 reserved, or a granule SMMU_IDR5 does not implement (QEMU decode_cd: tg2granule).
    else if (granuleOfTg(tg0) < 0) bad = `TG0 ${tg0} is reserved`;
    else if (!smmuGranules(this.spec).includes(granuleOfTg(tg0))) bad = `TG0 ${tg0}: the ${GRANULE_NAME[granuleOfTg(tg0)]} granule is not implemented (SMMU_IDR5.GRAN*)`;
    const granule = granuleOfTg(tg0) < 0 ? 12 : granuleOfTg(tg0);
    const s1: StageConfig = { ttb: Number((w1 >> 4n) & 0xfffffffffffn) * 16, inputBits, startLevel: s1StartLevel(Math.max(25, Math.min(48, inputBits)), granule), outputBits: Math.min(paSizeBits(field(w0, 34, 32)), this.spec.oas), s2: false, afOff: field(w0, 35, 35) === 1 || field(w0, 43, 43) === 1, granule };
    return { address, words, valid, asid: field(w0, 63, 48), s1, epd0, record: field(w0, 45, 45) === 1, stall: field(w0, 44, 44) === 1, bad };
  }

  /** STRTAB_BASE_CFG: LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16]. */
  get strtabLog2Size(): number {
    return this.strtabBaseCfg & 0x3f;
  }
  get strtabSplit(): number {
    return (this.strtabBaseCfg >>> 6) & 0x1f;
  }
  get strtabFmt(): number {
    return (this.strtabBaseCfg >>> 16) & 3;
  }
  /** STRTAB_BASE.ADDR [51:6]. */
  get strtabAddr(): number {
    return this.strtabBase - (this.strtabBase % 64);
  }

  /**
   * The STE of `sid`: from the configuration cache, or fetched from the stream table. Returns the
   * STE or an event id (C_BAD_STREAMID, F_STE_FETCH); evFetch holds a failed fetch's address.
   */
  private fetchSte(sid: number): Ste | number {
    if (!this.bypassCaches) {
      const c = this.steCache.get(sid);
      if (c !== undefined) {
        this.steHit = true;
        if (this.recordTrail) this.trailSte = { address: c.address, words: c.words };
        return c;
      }
    }
    if (sid < 0 || sid >= 2 ** this.strtabLog2Size) {
      this.why = `StreamID 0x${sid.toString(16)} is beyond the stream table (STRTAB_BASE_CFG.LOG2SIZE ${this.strtabLog2Size})`;
      return C_BAD_STREAMID;
    }
    let steAddr: number;
    if (this.strtabFmt === STRTAB_FMT_2LVL) {
      const split = this.strtabSplit;
      const l1At = this.strtabAddr + Math.floor(sid / 2 ** split) * 8;
      const d = this.mem.readU64(l1At);
      if (this.recordTrail) this.trailL1 = { address: l1At, words: d === undefined ? undefined : [d] };
      if (d === undefined) {
        this.evFetch = l1At;
        return F_STE_FETCH;
      }
      const span = Number(d & 0x1fn);
      const low = sid % 2 ** split;
      if (span === 0 || low >= 2 ** (span - 1)) {
        this.why = span === 0 ? `the level-1 stream table descriptor ${Math.floor(sid / 2 ** split)} is invalid (Span = 0)` : `StreamID 0x${sid.toString(16)} is beyond the level-2 table (Span ${span})`;
        return C_BAD_STREAMID;
      }
      steAddr = Number((d >> 6n) & 0x3ffffffffffn) * 64 + low * 64;
    } else {
      steAddr = this.strtabAddr + sid * 64;
    }
    const words = readWords(this.mem, steAddr, 8);
    if (this.recordTrail) this.trailSte = { address: steAddr, words };
    if (words === undefined) {
      this.evFetch = steAddr;
      return F_STE_FETCH;
    }
    const ste = this.decodeSte(sid, steAddr, words);
    if (!this.bypassCaches && ste.bad === undefined) this.steCache.set(sid, ste);
    return ste;
  }

  /** The stage-2 translation of an IPA for a nested stream's CD or table fetch: the PA, or -1 - event id. */
  private s2Fetch(ste: Ste, ipa: number): number {
    this.s2t.recordTrail = this.recordTrail;
    const r = this.s2t.walk(ste.s2!, ipa, false, false, false);
    if (this.recordTrail) {
      // Explain only: keep the stage-2 walk of this fetch for the trail (nested.ts).
      const s1 = this.s1.tableAddress !== undefined;
      this.nestedFetches.push(captureNestedFetch(this.s2t, s1 ? "s1" : "cd", this.s1.trailLen, s1 ? this.s1.faultLevel : 0, ipa, r));
    }
    if (r !== 0) {
      this.evIpa = ipa;
      this.evFetch = this.s2t.fetchAddr;
      return -1 - r;
    }
    return this.s2t.oa;
  }

  private fetchCd(ste: Ste, ssid: number): Cd | number {
    const key = ste.sid * 2 ** 20 + ssid;
    if (!this.bypassCaches) {
      const c = this.cdCache.get(key);
      if (c !== undefined) {
        this.cdHit = true;
        if (this.recordTrail) this.trailCd = { address: c.address, words: c.words };
        return c;
      }
    }
    let at = ste.s1ContextPtr + ssid * 64;
    if (ste.s1CdMax !== 0 && ste.s1Fmt !== S1FMT_LINEAR) {
      // 2-level CD table (SMMUv3 spec 5.3): the L1CD of SSID[n:split], then the CD of
      // SSID[split-1:0] in its leaf table at L2Ptr. Nested: both are IPAs (stage 2 translates them).
      const split = cdSplit(ste.s1Fmt);
      let l1At = ste.s1ContextPtr + Math.floor(ssid / 2 ** split) * 8;
      if (ste.config === STE_CFG_NESTED) {
        const pa = this.s2Fetch(ste, l1At);
        if (pa < 0) {
          this.evS2 = true;
          this.evClass = 0; // CLASS = CD
          return -1 - pa;
        }
        l1At = pa;
      }
      const d = this.mem.readU64(l1At);
      if (this.recordTrail) this.trailL1Cd = { address: l1At, words: d === undefined ? undefined : [d] };
      if (d === undefined) {
        this.evFetch = l1At;
        return F_CD_FETCH;
      }
      if ((d & L1CD_V) === 0n) {
        this.why = `the L1CD ${Math.floor(ssid / 2 ** split)} of SubstreamID ${ssid} is invalid (V = 0)`;
        return C_BAD_SUBSTREAMID;
      }
      at = Number((d >> 12n) & 0xffffffffffn) * 4096 + (ssid % 2 ** split) * 64;
    }
    if (ste.config === STE_CFG_NESTED) {
      const pa = this.s2Fetch(ste, at);
      if (pa < 0) {
        this.evS2 = true;
        this.evClass = 0; // CLASS = CD
        return -1 - pa;
      }
      at = pa;
    }
    const words = readWords(this.mem, at, 8);
    if (this.recordTrail) this.trailCd = { address: at, words };
    if (words === undefined) {
      this.evFetch = at;
      return F_CD_FETCH;
    }
    const cd = this.decodeCd(at, words);
    if (!this.bypassCaches && cd.bad === undefined) this.cdCache.set(key, cd);
    return cd;
  }

  // ------------------------------------------------------------ translation

  /**
   * One transaction from StreamID `sid` (SubstreamID `ssid`, -1 without one) at the input address
   * iovaHi:iovaLo. Returns 0 (translated or bypassed) or the event id / ABORT_NO_EVENT; results in
   * fields. `probe` asks without recording an event or filling caches' counters.
   */
  translate(sid: number, ssid: number, iovaHi: number, iovaLo: number, write: boolean, probe = false, privileged = false, exec = false): number {
    this.tlbHit = false;
    this.atcHit = false;
    this.steHit = false;
    this.cdHit = false;
    this.ste = undefined;
    this.cd = undefined;
    this.asid = -1;
    this.vmid = -1;
    this.level = 0;
    this.perm = 0;
    this.clearFault();
    if (this.recordTrail) {
      this.trailL1 = undefined;
      this.trailSte = undefined;
      this.trailCd = undefined;
      this.trailL1Cd = undefined;
      this.nestedFetches = [];
      this.s1.trailLen = 0;
      this.s2.trailLen = 0;
      this.s1.trailUnreadable = false;
      this.s2.trailUnreadable = false;
    }
    if (!probe) this.counters.requests++;
    const ia = iovaHi * TWO32 + iovaLo;
    if (!this.enabled) {
      this.stage = SmmuStage.Disabled;
      if (this.gbpa & GBPA_ABORT) return this.fail(ABORT_NO_EVENT, sid, ssid, iovaHi, iovaLo, write, probe, false, privileged, exec);
      this.kind = SmmuKind.Bypass;
      this.oa = ia;
      this.perm = 7;
      return 0;
    }
    this.stage = SmmuStage.StreamTable;
    const s = this.fetchSte(sid);
    if (typeof s === "number") return this.fail(s, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
    this.ste = s;
    this.stage = SmmuStage.Ste;
    if (s.bad !== undefined) {
      this.why = s.bad;
      return this.fail(C_BAD_STE, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
    }
    const cfg = s.config;
    if (cfg === STE_CFG_ABORT) {
      this.why = "Config = 0b000 (abort)";
      return this.fail(ABORT_NO_EVENT, sid, ssid, iovaHi, iovaLo, write, probe, false, privileged, exec);
    }
    if (cfg === STE_CFG_BYPASS) {
      this.kind = SmmuKind.Bypass;
      this.oa = ia;
      this.perm = 7;
      return 0;
    }
    const useS1 = cfg === STE_CFG_S1 || cfg === STE_CFG_NESTED;
    const useS2 = cfg === STE_CFG_S2 || cfg === STE_CFG_NESTED;
    this.vmid = s.vmid;
    let cd: Cd | undefined;
    let s1Active = useS1;
    if (useS1) {
      this.stage = SmmuStage.Cd;
      let index = 0;
      if (ssid >= 0) {
        if (s.s1CdMax === 0) {
          this.why = "a SubstreamID with substreams disabled (S1CDMax = 0)";
          return this.fail(F_STREAM_DISABLED, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
        }
        if (ssid >= 2 ** s.s1CdMax) {
          this.why = `SubstreamID ${ssid} is beyond the ${2 ** s.s1CdMax}-entry CD table`;
          return this.fail(C_BAD_SUBSTREAMID, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
        }
        index = ssid;
      } else if (s.s1CdMax !== 0) {
        // No SubstreamID with substreams enabled: S1DSS (0 terminate, 1 bypass stage 1, 2 substream 0).
        if (s.s1Dss === 0) {
          this.why = "no SubstreamID and S1DSS = 0 (terminate)";
          return this.fail(F_STREAM_DISABLED, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
        }
        if (s.s1Dss === 1) s1Active = false;
      }
      if (s1Active) {
        const c = this.fetchCd(s, index);
        if (typeof c === "number") return this.fail(c, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
        cd = c;
        this.cd = c;
        if (c.bad !== undefined) {
          this.why = c.bad;
          return this.fail(C_BAD_CD, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
        }
        if (c.stall === true && s.s1Stalld === true) {
          // SMMUv3 spec 5.2 STE.S1STALLD: a CD with S = 1 under it is ILLEGAL (C_BAD_CD).
          this.why = "CD.S = 1 (stall) but the STE disables stage-1 stalls (S1STALLD = 1)";
          return this.fail(C_BAD_CD, sid, ssid, iovaHi, iovaLo, write, probe, true, privileged, exec);
        }
        this.asid = c.asid;
      }
    }
    if (!s1Active && !useS2) {
      this.kind = SmmuKind.Bypass;
      this.oa = ia;
      this.perm = 7;
      return 0;
    }
    const tlbKind = s1Active ? (useS2 ? 3 : 1) : 2;
    const tlbAsid = s1Active ? this.asid : 0;
    const tlb = this.tlb;
    if (!this.bypassCaches && tlb.lookup(tlbKind, s.vmid, tlbAsid, ia)) {
      const i = tlb.hitSlot;
      this.tlbHit = true;
      if (!probe) this.counters.tlbHits++;
      this.stage = SmmuStage.Tlb;
      this.perm = tlb.perm(i);
      this.level = tlb.level(i);
      const offset = modPow2(ia, tlb.hitShift);
      this.oa = tlb.oa(i) + offset;
      if (write ? (this.perm & 2) === 0 : (this.perm & 1) === 0) {
        // A permission fault from a cached entry: stage 2 for stage-2-only entries; a nested entry
        // keeps only the combined permission and reports stage 1 (a simplification of this model).
        this.evS2 = tlbKind === 2;
        this.evIpa = tlbKind === 2 ? ia : tlb.ipa(i) + offset;
        return this.fail(F_PERMISSION, sid, ssid, iovaHi, iovaLo, write, probe, tlbKind === 2 ? s.s2Record : (cd?.record ?? true), privileged, exec);
      }
      this.kind = SmmuKind.Translated;
      return 0;
    }
    if (!probe) this.counters.walks++;
    let out = ia;
    let perm = 7;
    let shift = 52; // narrowed by each stage's leaf size below
    let level = 3;
    if (s1Active && cd !== undefined) {
      this.stage = SmmuStage.S1;
      const w = this.s1;
      w.recordTrail = this.recordTrail;
      w.tableAddress = useS2 ? this.nestedHook : undefined;
      const r = cd.epd0 ? F_TRANSLATION_EPD : w.walk(cd.s1, ia, write, privileged, exec);
      w.tableAddress = undefined;
      if (r !== 0) {
        this.level = r === F_TRANSLATION_EPD ? 0 : w.faultLevel;
        if (w.tableFault !== 0) {
          // A stage-2 fault on a stage-1 table fetch: S2 = 1, CLASS = TT (SMMUv3 spec 7.3.12).
          this.evS2 = true;
          this.evClass = 1;
          return this.fail(w.tableFault, sid, ssid, iovaHi, iovaLo, write, probe, s.s2Record, privileged, exec);
        }
        if (r === F_WALK_EABT) this.evFetch = w.fetchAddr;
        return this.fail(r === F_TRANSLATION_EPD ? F_TRANSLATION : r, sid, ssid, iovaHi, iovaLo, write, probe, cd.record, privileged, exec);
      }
      out = w.oa;
      perm = w.perm;
      level = w.level;
      shift = levelShift(level, cd.s1.granule);
    }
    if (useS2 && s.s2 !== undefined) {
      this.stage = SmmuStage.S2;
      this.ipa = out;
      const w = this.s2;
      w.recordTrail = this.recordTrail;
      const r = w.walk(s.s2, out, write, false, exec);
      if (r !== 0) {
        this.level = w.faultLevel;
        this.evS2 = true;
        this.evIpa = out;
        if (r === F_WALK_EABT) this.evFetch = w.fetchAddr;
        return this.fail(r, sid, ssid, iovaHi, iovaLo, write, probe, s.s2Record, privileged, exec);
      }
      out = w.oa;
      perm &= w.perm;
      if (!s1Active) level = w.level;
      // A combined entry covers the smaller of the two pages.
      shift = Math.min(shift, levelShift(w.level, s.s2.granule));
    }
    this.kind = SmmuKind.Translated;
    this.oa = out;
    this.perm = perm;
    this.level = level;
    if (!this.bypassCaches) {
      tlb.fill(tlbKind, s.vmid, tlbAsid, ia, shift, out - modPow2(ia, shift), perm, level, floorPow2(this.ipa, shift));
    }
    return 0;
  }

  /** The fault fields of the last request, before a request: no fault, nothing recorded, no IPA. */
  private clearFault(): void {
    this.evS2 = false;
    this.evClass = 2;
    this.evIpa = 0;
    this.evFetch = 0;
    this.recorded = false;
    this.fate = 0;
    this.why = "";
    this.ipa = 0;
    this.stalledLast = false;
  }

  /** A fault: the event record as the SMMU writes it (SMMUv3 spec 7.3), unless suppressed or a probe. */
  private fail(id: number, sid: number, ssid: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean, record: boolean, privileged: boolean, exec: boolean): number {
    this.kind = SmmuKind.Fault;
    if (probe) return id;
    this.counters.faults++;
    if (id === ABORT_NO_EVENT) return id;
    // A translation, address size, access or permission fault stalls (SMMUv3 spec 3.12.2, 5.5) at
    // stage 1 under CD.S = 1, at stage 2 (S2 = 1: the walk, or a stage-1 table / CD fetch through
    // it) under STE.S2S = 1: the event is recorded whatever CD.R / STE.S2R say (software must see
    // it to resume the transaction) with Stall = 1 and a STAG.
    const stall = (this.evS2 ? this.ste?.s2Stall === true : this.cd?.stall === true) && (id === F_TRANSLATION || id === F_ADDR_SIZE || id === F_ACCESS || id === F_PERMISSION);
    if (!record && !stall) {
      this.counters.suppressed++;
      this.fate = 2;
      return id;
    }
    const ssv = ssid >= 0;
    // raw[0]: EventID [7:0], SSV [11], SubstreamID [31:12], StreamID [63:32].
    const l0 = (id | (ssv ? 1 << 11 : 0) | ((ssv ? ssid & 0xfffff : 0) << 12)) >>> 0;
    const h0 = sid >>> 0;
    const stag = stall ? this.nextStag : 0;
    // raw[1]: STAG [15:0], Stall [31].
    const l1 = stall ? (stag | 0x80000000) >>> 0 : 0;
    let h1 = 0;
    let l2 = 0;
    let h2 = 0;
    let l3 = 0;
    let h3 = 0;
    const addressed = (id >= F_TRANSLATION && id <= F_PERMISSION) || id === F_WALK_EABT;
    if (id === F_BAD_ATS_TREQ || id === F_TRANSL_FORBIDDEN) {
      // SMMUv3 spec 7.3.5 / 7.3.7: RnW, PnU, InD and the (untranslated / translated) address.
      h1 = (privileged ? 1 << 1 : 0) | (exec ? 1 << 2 : 0) | (write ? 0 : 1 << 3);
      l2 = iovaLo >>> 0;
      h2 = iovaHi >>> 0;
    } else if (addressed) {
      // raw[1]: PnU [33], InD [34], RnW [35], S2 [39], CLASS [41:40], TT_READ [44]; raw[2]: InputAddr.
      h1 = (privileged ? 1 << 1 : 0) | (exec ? 1 << 2 : 0) | (write ? 0 : 1 << 3) | (this.evS2 ? 1 << 7 : 0) | (this.evClass << 8) | (this.evClass === 1 ? 1 << 12 : 0);
      l2 = iovaLo >>> 0;
      h2 = iovaHi >>> 0;
      if (id === F_WALK_EABT) {
        // raw[3]: FetchAddr [51:3].
        l3 = (this.evFetch % TWO32) & ~7;
        h3 = Math.floor(this.evFetch / TWO32) & 0xfffff;
      } else if (this.evS2) {
        // raw[3]: IPA [51:12] (the faulting IPA of a stage-2 fault).
        l3 = ((this.evIpa % TWO32) & ~0xfff) >>> 0;
        h3 = Math.floor(this.evIpa / TWO32) & 0xfffff;
      }
    } else if (id === F_STE_FETCH || id === F_CD_FETCH) {
      l3 = ((this.evFetch % TWO32) & ~7) >>> 0;
      h3 = Math.floor(this.evFetch / TWO32) & 0xfffff;
    }
    this.recorded = this.writeEvent(l0, h0, l1 >>> 0, h1 >>> 0, l2, h2, l3 >>> 0, h3);
    this.fate = this.recorded ? 1 : 3;
    // A stall whose record was lost (queue full or off) can never be resumed: this model terminates it.
    if (stall && this.recorded) {
      this.stalledLast = true;
      this.nextStag = (this.nextStag + 1) & 0xffff;
      this.stalled.push({ sid, ssid, stag, iovaHi, iovaLo, write, privileged, exec });
    }
    return id;
  }

  /**
   * An ATS Translation Request from the endpoint of `sid` (SMMUv3 spec 3.9.1): STE.EATS = 0b00
   * answers Unsupported Request and records F_BAD_ATS_TREQ; otherwise the SMMU translates as for a
   * transaction, but a translation fault only makes the completion fail (R = W = 0, no event: the
   * endpoint then sends the request untranslated). A success fills the endpoint's ATC with the
   * page (the granule's page, or the block). Returns 0 or the event / fault id; results in fields.
   */
  atsTranslate(sid: number, ssid: number, iovaHi: number, iovaLo: number, write: boolean): number {
    const ste = this.enabled ? this.fetchSte(sid) : undefined;
    if (ste !== undefined && typeof ste !== "number" && ste.bad === undefined && (ste.eats ?? EATS_ABORT) === EATS_ABORT && ste.config !== STE_CFG_ABORT) {
      this.ste = ste;
      return this.fail(F_BAD_ATS_TREQ, sid, ssid, iovaHi, iovaLo, write, false, true, false, false);
    }
    const r = this.translate(sid, ssid, iovaHi, iovaLo, write, true);
    if (r === 0) {
      const ia = iovaHi * TWO32 + iovaLo;
      const g = this.cd?.s1.granule ?? this.ste?.s2?.granule ?? 12;
      const size = Math.max(2 ** g, this.kind === SmmuKind.Translated ? 2 ** levelShift(this.level, g) : 2 ** g);
      this.atc.fill({ sid, ssid, iova: ia - (ia % size), size, pa: this.oa - (ia % size), perm: this.perm & 3 });
    }
    return r;
  }

  /**
   * A Translated transaction (AT = translated) at physical address hi:lo (SMMUv3 spec 3.9.2):
   * with STE.EATS = 0b00 it is F_TRANSL_FORBIDDEN (recorded); with EATS = 0b01 it passes without
   * a walk, whatever the tables say now. Returns 0 or the event id.
   */
  translatedRequest(sid: number, paHi: number, paLo: number, write: boolean): number {
    this.kind = SmmuKind.Bypass;
    this.oa = paHi * TWO32 + paLo;
    if (!this.enabled) return 0;
    const ste = this.fetchSte(sid);
    if (typeof ste === "number") return this.fail(ste, sid, -1, paHi, paLo, write, false, true, false, false);
    this.ste = ste;
    if (ste.bad !== undefined) return this.fail(C_BAD_STE, sid, -1, paHi, paLo, write, false, true, false, false);
    if ((ste.eats ?? EATS_ABORT) === EATS_ABORT) return this.fail(F_TRANSL_FORBIDDEN, sid, -1, paHi, paLo, write, false, true, false, false);
    this.kind = SmmuKind.Bypass;
    return 0;
  }

  /** The trace's translation kind (trace.ts F_XLATE_SHIFT): 0 untranslated (SMMUEN = 0), 1 bypass (STE), 2 translated or a fault. */
  get xlateKind(): number {
    if (this.stage === SmmuStage.Disabled) return 0;
    // A Translated request from the endpoint's ATC is a translation (the device's), as VT-d's Device-TLB rows.
    if (this.atcHit && this.kind !== SmmuKind.Fault) return 2;
    return this.kind === SmmuKind.Bypass ? 1 : 2;
  }

  /**
   * Transactions [from, to) of a DMA transfer, each through translate() and appended to `trace` as
   * the `dma` step's event by translateEach (sim/dma.ts), the loop every host IOMMU runs: step,
   * requester id, domain = ASID or VMID, flags, level, event id, IOVA, output address. Nothing is
   * allocated per transaction.
   */
  translateRun(x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void {
    this.run.reset();
    translateEach(this, x, from, to, trace, step, tally);
    this.run.reset();
  }

  /**
   * One transaction of a run (DmaUnit): the next result of the current burst of the translate
   * core, or a new burst (DmaRun) when the stream's STE and CD allow one (burstConfig), or else
   * translate().
   */
  dmaRequest(x: DmaTransfer, t: number, to: number, iovaHi: number, iovaLo: number): number {
    // x.pasid: the request's PASID TLP prefix is its SubstreamID (SMMUv3 spec 3.3.2); -1 none.
    if (x.ats === true) return this.atsDma(x.sid + this.sidOffset, iovaHi, iovaLo, x.write, x.pasid ?? -1);
    const run = this.run;
    const sid = x.sid + this.sidOffset;
    if (run.next < run.done) return this.takeBurstResult(run.next++);
    const n = run.wants(t, to);
    if (n > 0 && this.burst !== null && (x.pasid === undefined || x.pasid < 0) && this.burstConfig(sid)) {
      loadBurst(this.burst, x, t, n);
      run.ran(t, n, this.runBurst(0, n));
    }
    return run.next < run.done ? this.takeBurstResult(run.next++) : this.translate(sid, x.pasid ?? -1, iovaHi, iovaLo, x.write, false);
  }

  /**
   * DmaUnit.takeIotlbHits: the current burst's next results while they are TLB hits (a burst's
   * results are all translated; its counters moved when it ran), their output addresses and levels
   * written for the trace; the result fields then describe the last.
   */
  takeIotlbHits(max: number, hpaHi: Uint32Array, hpaLo: Uint32Array, level: Uint8Array, at: number): number {
    const burst = this.burst!;
    const n = this.run.takeHits(burst, max, hpaHi, hpaLo, level, at);
    if (n === 0) return 0;
    this.takeBurstResult(this.run.next - 1);
    return n;
  }

  /**
   * The stream's configuration allows a burst of the core: the unit's burst, translation on, no
   * trail, caches on; an STE in the STE cache that is valid and translates with stage 1 alone,
   * one CD (S1CDMax = 0, or S1DSS = 0b10: substream 0 for a request without SubstreamID) in the
   * CD cache, valid, not stalling under S1STALLD, TTB0 walks enabled (EPD0 = 0), the 4 KiB
   * granule. Its STE and CD noted. (A request without SubstreamID: the caller checks.)
   */
  private burstConfig(sid: number): boolean {
    if (this.burst === null || this.recordTrail || this.bypassCaches || !this.enabled) return false;
    const s = this.steCache.get(sid);
    if (s === undefined || s.bad !== undefined || s.config !== STE_CFG_S1 || (s.s1CdMax !== 0 && s.s1Dss !== 2)) return false;
    const c = this.cdCache.get(sid * 2 ** 20);
    if (c === undefined || c.bad !== undefined || (c.stall === true && s.s1Stalld === true) || c.epd0 || c.s1.granule !== 12) return false;
    this.bSid = sid;
    this.bSte = s;
    this.bCd = c;
    return true;
  }

  /** The core's burst over requests [from, n) for the stream burstConfig noted; counters moved. Returns where it stopped. */
  private runBurst(from: number, n: number): number {
    const core = this.core!;
    const s = this.bSte!;
    const c = this.bCd!;
    // The event queue, where the records of the burst's faults will go (writeEvent: nowhere when it is off).
    const evq = this.eventQueueOn() ? this.queueAddr(this.evtqBase) : 0;
    const done = core.armBurst(s.vmid, c.asid, c.s1, this.tlb.size > 0, evq, evq === 0 ? 0 : 32 * 2 ** this.queueShift(this.evtqBase), this.burst!, this.faultList!.offset, from, n);
    this.bFault = 0;
    const hits = core.burstHits;
    this.counters.requests += done - from;
    this.counters.tlbHits += hits;
    this.counters.walks += done - from - hits;
    return done;
  }

  /**
   * Requests [from, n) of `burst` (its requests and write flags, loaded by the caller) from stream
   * `sid` without SubstreamID, unprivileged data accesses, in order, as that many calls of
   * translate() would answer them (the same results, counters, TLB and event queue), in the
   * translate core ($armBurst) without a call per request: result j is the output address, or a
   * fault (event id, CORE_FAULT_HI) whose event record this writes. Returns the index of the first
   * request it did not answer - a walk reading a descriptor in DRAM outside the table pool (one
   * where no memory is is F_WALK_EABT, answered) or in the event queue, or every
   * request when the stream's configuration allows no burst - which the caller translates with
   * translate() before it continues; n when it answered all. The result fields describe the last
   * request answered. The benchmark's timed path (`passthrough bench --model smmuv3`).
   */
  translateBurst(sid: number, from: number, n: number): number {
    if (from >= n || !this.burstConfig(sid)) return from;
    const done = this.runBurst(from, n);
    if (done === from) return done;
    // The faults' events, in order (the core's fault list; the last result's below).
    const faults = this.core!.burstFaults;
    if (faults > 0) {
      const list = this.faultList!.get();
      for (let k = 0; k < faults; k++) {
        const j = from + list[k * FAULT_WORDS]!;
        if (j >= done - 1) break;
        if (this.burstEventsUnwritable()) {
          // No record of this fault or of the later ones can be written: the list's faults before
          // the burst's last result are all taken at once, as that many fail() calls take them.
          let rest = faults - k;
          if (from + list[(faults - 1) * FAULT_WORDS]! >= done - 1) rest--;
          this.takeUnwrittenFaults(rest);
          break;
        }
        this.burstFault(j);
      }
    }
    this.takeBurstResult(done - 1);
    return done;
  }

  /**
   * No event of the running burst's faults can be written from here on: its CD does not stall (a
   * stalling fault is recorded whatever CD.R says: fail() takes those one by one), and CD.R = 0
   * suppresses them or the queue is off or full (nothing drains it while the unit takes a
   * burst's results).
   */
  private burstEventsUnwritable(): boolean {
    const cd = this.bCd!;
    return cd.stall !== true && (!cd.record || !this.eventQueueOn() || this.eventQueueFull());
  }

  /**
   * `n` of the burst's faults whose records cannot be written (burstEventsUnwritable), as `n` fail()
   * calls of a CD without stalling take them: each a fault; suppressed under CD.R = 0, else lost
   * to the full queue (or, queue off, nowhere). Their other result fields are the burst's last
   * request's (takeBurstResult).
   */
  private takeUnwrittenFaults(n: number): void {
    this.counters.faults += n;
    if (!this.bCd!.record) this.counters.suppressed += n;
    else if (this.eventQueueOn()) this.loseEvents(n);
    this.bFault += n;
  }

  /**
   * Burst result j, a fault: its event record written as translate() writes it (fail), with the
   * fields fail() reads set as translate() sets them. Of a fault before a burst's last result
   * (translateBurst) nothing else is set: the other result fields are the last request's
   * (takeBurstResult), as a run of translate() calls leaves only the last one's. Returns its event id.
   */
  private burstFault(j: number): number {
    const burst = this.burst!;
    const reqs = burst.requests;
    const id = burst.results[2 * j]!;
    // The burst's faults are taken in order: this is the next of its fault list.
    const at = this.bFault++ * FAULT_WORDS + CORE_ARM_TLB.faultFetch / 4;
    this.ste = this.bSte;
    this.cd = this.bCd;
    this.evS2 = false;
    this.evClass = 2;
    if (id === F_WALK_EABT) {
      // A descriptor where no memory is: the core noted the address it could not read.
      const list = this.faultList!.get();
      this.evFetch = (list[at + 1]! >>> 0) * TWO32 + (list[at]! >>> 0);
    }
    return this.fail(id, this.bSid, -1, reqs[2 * j + 1]! >>> 0, reqs[2 * j]! >>> 0, burst.writes[j] === 1, false, this.bCd!.record, false, false);
  }

  /**
   * Burst result j as translate() leaves the result fields for that request (its counters moved
   * with the burst), a fault's event record written as translate() writes it (fail). Returns 0 or
   * the fault's event id.
   */
  private takeBurstResult(j: number): number {
    const burst = this.burst!;
    const inf = burst.info[j]!;
    const res = burst.results;
    const faulted = res[2 * j + 1] === CORE_FAULT_HI;
    const hit = (inf & (faulted ? CORE_ARM_TLB.infoHitFault : CORE_INFO.iotlbHit)) !== 0;
    this.tlbHit = hit;
    this.atcHit = false;
    this.steHit = true;
    this.cdHit = true;
    this.ste = this.bSte;
    this.cd = this.bCd;
    this.asid = this.bCd!.asid;
    this.vmid = this.bSte!.vmid;
    // The trace's level (leafLevel): 0 only for a fault at Arm level 0.
    const level = inf & CORE_INFO.levelMask;
    this.level = level === 0 ? 0 : CORE_ARM_TLB.traceLevelOf - level;
    this.perm = (inf >> CORE_ARM_TLB.infoPermAt) & CORE_ARM_TLB.oaPermMask;
    this.clearFault();
    this.stage = hit ? SmmuStage.Tlb : SmmuStage.S1;
    if (faulted) {
      const reqs = burst.requests;
      // A TLB entry's permission fault reports the input's offset in the entry's page as its IPA
      // (translate(): a stage-1 entry's IPA base is 0); the output address is not defined after a fault.
      if (hit) this.evIpa = modPow2((reqs[2 * j + 1]! >>> 0) * TWO32 + (reqs[2 * j]! >>> 0), levelShift(this.level, 12));
      return this.burstFault(j);
    }
    this.kind = SmmuKind.Translated;
    this.oa = (res[2 * j + 1]! >>> 0) * TWO32 + (res[2 * j]! >>> 0);
    return 0;
  }

  /** True when the last request was a Translated request answered from the endpoint's ATC (atsDma). */
  atcHit = false;
  /** The leaf level of the ATC entry that answered (atsDma; trace level with LEVEL_DEVICE_TLB). */
  private atcLeaf = 1;

  /**
   * One transaction of an ATS endpoint (PCIe ATS; SMMUv3 spec 3.9): the endpoint looks in its ATC;
   * on a miss (or without the permission) it sends a Translation Request (atsTranslate: fills the
   * ATC, or F_BAD_ATS_TREQ when STE.EATS forbids ATS). A failed translation (R = W = 0) makes the
   * endpoint send the request untranslated, which faults as any transaction does. With an ATC
   * entry it sends a Translated request for the cached physical address, which the SMMU passes
   * without a walk (translatedRequest): after an unmap without CMD_ATC_INV that is the old page.
   * No allocation on an ATC hit (a miss fills the ATC: a slow-path event).
   */
  atsDma(sid: number, iovaHi: number, iovaLo: number, write: boolean, ssid = -1): number {
    const ia = iovaHi * TWO32 + iovaLo;
    const need = write ? 2 : 1;
    let e = this.atcFind(sid, ssid, ia);
    this.atcHit = e !== undefined && (e.perm & need) !== 0;
    if (!this.atcHit) {
      // A Translation Request with the PASID prefix: the CD of that SubstreamID translates it, and the ATC entry is tagged with it.
      const r = this.atsTranslate(sid, ssid, iovaHi, iovaLo, write);
      if (r === F_BAD_ATS_TREQ) return r;
      e = r === 0 ? this.atcFind(sid, ssid, ia) : undefined;
      if ((e === undefined || (e.perm & need) === 0) && this.priSids.has(sid)) {
        // A PRI endpoint asks the host to make the page present (PCIe Page Request, one-page PRG
        // with Last = 1) and waits for the PRG Response instead of sending the request: no
        // event is recorded; the access fails until the page is there (trace: 0x10, fate none).
        this.pageRequest(sid, ssid, ia, write);
        this.kind = SmmuKind.Fault;
        this.fate = 0;
        this.recorded = false;
        return F_TRANSLATION;
      }
      // No usable translation: the endpoint sends the request untranslated (the SMMU walks and faults as for any DMA).
      if (e === undefined || (e.perm & need) === 0) return this.translate(sid, ssid, iovaHi, iovaLo, write);
    }
    const pa = e!.pa + (ia - e!.iova);
    // (the ATC entry's size as the trace's leaf level: 4 KiB 1, 2 MiB 2, 1 GiB 3 - as VT-d's Device-TLB rows)
    this.atcLeaf = e!.size <= 4096 ? 1 : e!.size <= 0x20_0000 ? 2 : 3;
    const hit = this.atcHit;
    const r = this.translatedRequest(sid, Math.floor(pa / TWO32), pa % TWO32, write);
    // The STE decided (EATS); an ATC hit made no walk, so it has no ASID/VMID of its own (domain 0 in the trace).
    this.stage = this.enabled ? SmmuStage.Ste : SmmuStage.Disabled;
    this.tlbHit = false;
    if (hit) {
      this.asid = -1;
      this.vmid = -1;
      this.level = 0;
    }
    return r;
  }

  /**
   * A PCIe Page Request into the PRI queue (SMMUv3 spec 8.1; entry layout in spec.ts): one page,
   * PRG_LAST = 1, the next PRG index (9 bits). Lost when PRIQEN is off or the queue is full; a
   * full queue discards the request and toggles PRIQ_PROD.OVFLG (bit 31, as the event queue's,
   * SMMUv3 spec 7.4 "queue overflow") unless an overflow is already unacknowledged (PROD.OVFLG !=
   * CONS.OVACKFLG): Linux's arm_smmu_priq_thread sees queue_sync_prod_in() == -EOVERFLOW, prints
   * "PRIQ overflow detected -- requests lost" and acknowledges by copying OVFLG into CONS.OVACKFLG.
   * The PRG index is used even when the request is lost (the endpoint sent it).
   */
  pageRequest(sid: number, ssid: number, ia: number, write: boolean): boolean {
    if ((this.cr0 & CR0_PRIQEN) === 0 || this.priqBase === 0) return false;
    const shift = this.queueShift(this.priqBase);
    const mask = (1 << shift) - 1;
    const wrap = 1 << shift;
    const prod = this.priqProd;
    if ((prod & mask) === (this.priqCons & mask) && (prod & wrap) !== (this.priqCons & wrap)) {
      if ((prod & Q_OVF) === (this.priqCons & Q_OVF)) this.priqProd = (prod ^ Q_OVF) >>> 0;
      this.counters.priLost = (this.counters.priLost ?? 0) + 1;
      this.nextPrg = (this.nextPrg + 1) & 0x1ff;
      return false;
    }
    const at = this.queueAddr(this.priqBase) + (prod & mask) * 16;
    const ssv = ssid >= 0;
    // dword 0 high half: SSID [51:32] -> [19:0], PERM_READ 60 / PERM_WRITE 61 -> 28 / 29, PRG_LAST 62 -> 30, SSID_V 63 -> 31.
    const h0 = ((ssv ? ssid & 0xfffff : 0) | (write ? 1 << 29 : 1 << 28) | (1 << 30) | (ssv ? 1 << 31 : 0)) >>> 0;
    const page = ia - (ia % 4096);
    this.mem.write64(at, sid >>> 0, h0);
    this.mem.write64(at + 8, ((page % TWO32) | this.nextPrg) >>> 0, Math.floor(page / TWO32));
    this.nextPrg = (this.nextPrg + 1) & 0x1ff;
    this.priqProd = ((prod & Q_OVF) | (((prod & (mask | wrap)) + 1) & (mask | wrap))) >>> 0;
    return true;
  }

  /** The PRI queue entries between PRIQ_CONS and PRIQ_PROD (what arm_smmu_priq_thread reads). */
  pendingPageRequests(): [bigint, bigint][] {
    const out: [bigint, bigint][] = [];
    if (this.priqBase === 0) return out;
    const shift = this.queueShift(this.priqBase);
    const mask = (1 << shift) - 1;
    const wrap = 1 << shift;
    let c = this.priqCons & (mask | wrap);
    const p = this.priqProd & (mask | wrap);
    while (c !== p) {
      const at = this.queueAddr(this.priqBase) + (c & mask) * 16;
      out.push([this.mem.readU64(at) ?? 0n, this.mem.readU64(at + 8) ?? 0n]);
      c = (c + 1) & (mask | wrap);
    }
    return out;
  }

  /** Every PRI queue slot that was ever written (index, both dwords, pending = not yet consumed), for the views. */
  pageRequestSlots(): { index: number; at: number; raw: [bigint, bigint]; pending: boolean }[] {
    const out: { index: number; at: number; raw: [bigint, bigint]; pending: boolean }[] = [];
    if (this.priqBase === 0) return out;
    const shift = this.queueShift(this.priqBase);
    const mask = (1 << shift) - 1;
    const wrap = 1 << shift;
    const cons = this.priqCons & (mask | wrap);
    const prod = this.priqProd & (mask | wrap);
    const used = (prod - cons + 2 * wrap) % (2 * wrap);
    for (let i = 0; i <= mask; i++) {
      const at = this.queueAddr(this.priqBase) + i * 16;
      const e0 = this.mem.readU64(at) ?? 0n;
      const e1 = this.mem.readU64(at + 8) ?? 0n;
      if (e0 === 0n && e1 === 0n) continue;
      out.push({ index: i, at, raw: [e0, e1], pending: (i - (cons & mask) + wrap) % wrap < used });
    }
    return out;
  }

  /** The ATC entry of (sid, ssid; -1 no PASID) covering `ia` (a loop: no closure on the DMA path). */
  private atcFind(sid: number, ssid: number, ia: number): AtcEntry | undefined {
    const list = this.atc.entries;
    for (let i = 0; i < list.length; i++) {
      const x = list[i]!;
      if (x.sid === sid && x.ssid === ssid && ia >= x.iova && ia < x.iova + x.size) return x;
    }
    return undefined;
  }

  /** One request from requester id `rid` (HostUnit): its StreamID (rid + sidOffset), SubstreamID `pasid` (absent: none); `probe` records no event. */
  request(rid: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean, pasid?: number): number {
    return this.translate(rid + this.sidOffset, pasid ?? -1, iovaHi, iovaLo, write, probe);
  }

  /** The trace's domain of the last request (DmaUnit): its ASID (stage 1), else its VMID, else 0. */
  get did(): number {
    return this.asid >= 0 ? this.asid : this.vmid >= 0 ? this.vmid : 0;
  }

  /** The TLB answered the last request (DmaUnit). */
  get iotlbHit(): boolean {
    return this.tlbHit;
  }

  /** The STE cache answered the last request (DmaUnit). */
  get ccHit(): boolean {
    return this.steHit;
  }

  /**
   * The trace's level of the last request (DmaUnit): the leaf of a translation, or the level a
   * walk faulted at, counted as VT-d counts them (4 - the Arm level: Arm level 3 = 4 KiB leaf = 1);
   * 0 for a bypass or a fault before any walk.
   */
  get leafLevel(): number {
    // The endpoint's ATC answered (PCIe ATS Translated request): the one trace marker of a device-side cache.
    if (this.atcHit && this.kind !== SmmuKind.Fault) return this.atcLeaf | LEVEL_DEVICE_TLB;
    return this.kind === SmmuKind.Translated || (this.kind === SmmuKind.Fault && this.level > 0) ? CORE_ARM_TLB.traceLevelOf - this.level : 0;
  }

  /** The output address of the last request as uint32 halves (DmaUnit). */
  get hpaHi(): number {
    return Math.floor(this.oa / TWO32);
  }

  get hpaLo(): number {
    return this.oa % TWO32;
  }

  tlbEntries(): number[] {
    return this.tlb.entries();
  }

  snapshot(): SmmuSnapshot {
    return {
      regs: [this.cr0, this.gbpa, this.gerror, this.gerrorn, this.strtabBase, this.strtabBaseCfg, this.cmdqBase, this.cmdqProd, this.cmdqCons, this.evtqBase, this.evtqProd, this.evtqCons],
      ste: [...this.steCache],
      cd: [...this.cdCache],
      tlb: this.tlb.snapshot(),
      counters: { ...this.counters },
      atc: this.atc.snapshot(),
      stalled: this.stalled.map((t) => ({ ...t })),
      nextStag: this.nextStag,
      pri: [this.priqBase, this.priqProd, this.priqCons, this.nextPrg],
    };
  }

  restore(s: SmmuSnapshot): void {
    [this.cr0, this.gbpa, this.gerror, this.gerrorn, this.strtabBase, this.strtabBaseCfg, this.cmdqBase, this.cmdqProd, this.cmdqCons, this.evtqBase, this.evtqProd, this.evtqCons] = s.regs as [number, number, number, number, number, number, number, number, number, number, number, number];
    this.steCache.clear();
    for (const [k, v] of s.ste) this.steCache.set(k, v);
    this.cdCache.clear();
    for (const [k, v] of s.cd) this.cdCache.set(k, v);
    this.tlb.restore(s.tlb);
    this.counters = { ...s.counters };
    this.atc.restore(s.atc);
    this.stalled = (s.stalled ?? []).map((t) => ({ ...t }));
    this.nextStag = s.nextStag ?? 0;
    this.stallOutcomes = [];
    [this.priqBase, this.priqProd, this.priqCons, this.nextPrg] = s.pri ?? [0, 0, 0, 0];
    this.priResponses = [];
  }
}

/** Internal marker: CD.EPD0 = 1 disables TTB0 walks, a translation fault at no level. */
const F_TRANSLATION_EPD = -2;
