/**
 * The host's arm-smmu-v3 driver (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c) and its page-table
 * code (drivers/iommu/io-pgtable-arm.c), as far as VFIO passthrough meets them:
 * - probe/reset: the stream table (2-level when SMMU_IDR0.ST_LVL allows it and SIDSIZE is above
 *   STRTAB_SPLIT = 8, else linear: arm_smmu_init_strtab), the command and event queues, CR0;
 *   unused STEs abort (arm_smmu_init_initial_stes with disable_bypass = 1, the default);
 * - a paging domain is stage 1 when the SMMU has it, else stage 2 (arm_smmu_domain_finalise);
 *   ASIDs from 1 (xa_alloc(&arm_smmu_asid_xa, ..., XA_LIMIT(1, (1 << asid_bits) - 1))), VMIDs
 *   from 1 (ida_alloc_range(&smmu->vmid_map, 1, (1 << vmid_bits) - 1));
 * - attach writes the master's STE (arm_smmu_make_cdtable_ste / arm_smmu_make_s2_domain_ste) and,
 *   for stage 1, its CD (arm_smmu_make_s1_cd), then CMD_CFGI_STE / CMD_CFGI_CD + CMD_SYNC;
 * - map/unmap write io-pgtable-arm descriptors (ARM_64_LPAE_S1 / ARM_64_LPAE_S2: AF, SH_IS, AP or
 *   S2AP, nG for stage 1, blocks where size and alignment allow) and unmap invalidates the TLB
 *   by address (CMD_TLBI_NH_VA with the ASID, CMD_TLBI_S2_IPA with the VMID) + CMD_SYNC;
 * - the event queue thread prints each record (dmesg.ts) and moves EVTQ_CONS.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { PhysicalMemory } from "../memory.js";
import { Ratelimit } from "../printk.js";
import { renderCmdqError, renderEvent, renderPageRequest, renderEvtqOverflow, renderPriqOverflow, SMMU_CURRENT_ERA, type SmmuKernelEra, type SvaReleaseCd } from "./dmesg.js";
import {
  CMD_CFGI_ALL,
  CMD_CFGI_CD,
  CMD_CFGI_STE,
  CMD_RESUME,
  CMD_SYNC,
  CMD_TLBI_NH_ASID,
  CMD_TLBI_NH_VA,
  CMD_TLBI_NH_VAA,
  CMD_TLBI_NH_ALL,
  CMD_CFGI_CD_ALL,
  COMMAND_NAMES,
  CMD_TLBI_NSNH_ALL,
  CMD_TLBI_S12_VMALL,
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_PRIQEN,
  CR0_SMMUEN,
  CMD_PRI_RESP,
  PRI_RESP_DENY,
  decodeEvent,
  GERROR_CMDQ_ERR,
  Q_OVF,
  RESUME_ABORT,
  RESUME_RETRY,
  STALL_MODEL_FORCE,
  STALL_MODEL_STALL,
  STE_CFG_ABORT,
  STE_CFG_BYPASS,
  STE_CFG_S1,
  STE_CFG_S2,
  STE_CFG_NESTED,
  C_BAD_STE,
  F_STREAM_DISABLED,
  C_BAD_SUBSTREAMID,
  C_BAD_CD,
  F_TRANSLATION,
  F_ADDR_SIZE,
  F_ACCESS,
  F_PERMISSION,
  STRTAB_FMT_2LVL,
  STRTAB_FMT_LINEAR,
  STRTAB_SPLIT,
  CTXDESC_L2_ENTRIES,
  L1CD_V,
  S1FMT_64K_L2,
  S1FMT_LINEAR,
} from "./spec.js";
import { levelShift, s1StartLevel } from "./walk.js";
import { lpaeClearLeaves, lpaeEntryAddress, lpaeLeaf, lpaeMap, psOf, s1ContextDescriptor, tgOfGranule, tlbiVaCommand, type LpaeDomain, type LpaeTables } from "./ioPgtable.js";
import { atcInvCommand, CMD_ATC_INV, EATS_TRANS } from "./ats.js";
import { smmuGranules, smmuPriqShift, type SmmuV3Unit } from "./unit.js";

const PAGE = 4096;

export { IOMMU_READ, IOMMU_WRITE, IOMMU_NOEXEC, IOMMU_PRIV } from "./ioPgtable.js";

/** A domain of the host driver: its tables' shape (ioPgtable.ts LpaeDomain) and its attachments. */
export interface SmmuDomain extends LpaeDomain {
  id: number;
  /** StreamIDs attached. */
  sids: number[];
  /** (StreamID, SubstreamID) pairs whose CD this domain fills (iommu_attach_device_pasid: arm_smmu_set_pasid). */
  ssids?: [number, number][];
  /** An SVA domain whose process exited: arm_smmu_mm_release quiesced its CDs (svaRelease); the binding stays until unbind. */
  released?: boolean;
  /**
   * iommufd fault delivery (IOMMU_HWPT_ALLOC with IOMMU_HWPT_FAULT_ID_VALID): the id of the fault
   * object whose queue takes this domain's I/O page faults (hwpt->domain->iopf_handler =
   * iommufd_fault_iopf_handler) instead of the kernel's answer.
   */
  faultQueue?: number;
  /** A stage-2 nesting parent (IOMMU_HWPT_ALLOC_NEST_PARENT): vSMMUs nest guest stage-1 tables over it. */
  nestParent?: boolean;
}

/**
 * One I/O page fault group iommufd queued for user space (fault.c iommufd_fault_iopf_handler), as
 * read() of the fault fd returns it (uapi struct iommu_hwpt_pgfault): the StreamID and STAG the
 * answer goes back to, the SubstreamID (-1 none), the faulting address and IOMMU_PGFAULT_PERM_*.
 */
export interface IopfRecord {
  fault: number;
  cookie: number;
  sid: number;
  ssid: number;
  grpid: number;
  perm: number;
  addr: bigint;
}

/** A vEVENT as read() of a vEVENTQ returns it: the header's sequence; the record (absent: the lost-events header, IOMMU_VEVENTQ_FLAG_LOST_EVENTS). */
export interface VEvent {
  sequence: number;
  raw?: [bigint, bigint, bigint, bigint];
}

/** A vSMMU (struct arm_vsmmu) and its vEVENTQ (struct iommufd_veventq of type IOMMU_VEVENTQ_TYPE_ARM_SMMUV3). */
export interface VSmmu {
  /** The iommufd object id of the vIOMMU. */
  id: number;
  /** The nesting parent (an SmmuDomain id). */
  parent: number;
  vmid: number;
  /** vDEVICEs: (StreamID, virtual StreamID) (IOMMU_VDEVICE_ALLOC virt_id). */
  vdevs: [number, number][];
  veventq?: { depth: number; sequence: number; queued: VEvent[] };
}

/** The event ids uapi struct iommu_vevent_arm_smmuv3 lists as forwarded to a VM (arm_smmu_handle_event's cases). */
export const VEVENT_IDS: readonly number[] = [C_BAD_STE, F_STREAM_DISABLED, C_BAD_SUBSTREAMID, C_BAD_CD, F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION];
/** uapi IOMMU_VEVENTQ_FLAG_LOST_EVENTS (struct iommufd_vevent_header.flags). */
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1;
/** STRTAB_STE_1_MEV (arm-smmu-v3.h, bit 19): merge events, set in a nested STE for DoS mitigation. */
const STE_1_MEV = 1n << 19n;

/** uapi enum iommu_hwpt_pgfault_perm. */
export const IOMMU_PGFAULT_PERM_READ = 1;
export const IOMMU_PGFAULT_PERM_WRITE = 2;
export const IOMMU_PGFAULT_PERM_EXEC = 4;
export const IOMMU_PGFAULT_PERM_PRIV = 8;

export interface SmmuDriverOptions {
  /** Kernel version era of the log lines. */
  era?: SmmuKernelEra;
  /** Stage of paging domains: the driver's default (1 when SMMU_IDR0.S1P) or 2 (an iommufd nesting parent). */
  stage?: 1 | 2;
  /** Blocks (2 MiB, 1 GiB) in io-pgtable's pgsize_bitmap. */
  blocks?: boolean;
  /**
   * The host kernel's PAGE_SIZE as a shift (CONFIG_ARM64_4K_PAGES 12, _16K_PAGES 14, _64K_PAGES
   * 16). io-pgtable-arm's arm_lpae_restrict_pgsizes takes PAGE_SIZE as the granule when the SMMU
   * implements it (SMMU_IDR5.GRAN*), else the largest granule below it, else the smallest above.
   */
  pageShift?: number;
  /** Kernel v6.12+ (S2S for stall_enabled masters, stage-2 stalls answered); false for older kernels. Absent: true. */
  s2Stalls?: boolean;
  /** Kernel v6.6+: the SVA notifier sends one CMD_TLBI_NH_ASID from CMDQ_MAX_TLBI_OPS pages on (svaUnmap). Absent: true. */
  svaTlbiThreshold?: boolean;
  /** What arm_smmu_mm_release writes in an exiting process's CD (dmesg.ts SvaReleaseCd). Absent: "sva-cd". */
  svaReleaseCd?: SvaReleaseCd;
}

export interface SmmuLogLine {
  text: string;
  level: "err" | "warn" | "info";
}

/**
 * The CPU's MAIR_EL1 that arm_smmu_make_sva_cd copies into CD word 3 (read_sysreg(mair_el1)):
 * arch/arm64 MAIR_EL1_SET with MT_NORMAL 0 (0xff), MT_NORMAL_TAGGED 1 (0xff without MTE),
 * MT_NORMAL_NC 2 (0x44), MT_NORMAL_WT 3 (0xbb), MT_DEVICE_nGnRnE 4 (0x00), MT_DEVICE_nGnRE 5
 * (0x04), MT_DEVICE_GRE 6 (0x0c): v5.10+ trees, a CPU without MTE (newer trees add
 * MT_NORMAL_iNC_oWB, not modelled).
 */
export const CPU_MAIR_EL1 = 0x000c0400bb44ffffn;
/**
 * The model's CPU: vabits_actual 48 (no 52-bit VA) and ID_AA64MMFR0_EL1.PARange 0b0101 (48-bit PA),
 * the T0SZ and IPS of an SVA CD (arm_smmu_make_sva_cd).
 */
export const CPU_VA_BITS = 48;
export const CPU_PA_BITS = 48;
export const CPU_PARANGE = 5n;

export class ArmSmmuV3Driver {
  readonly domains: SmmuDomain[] = [];
  /** dev_name of the master of each StreamID ("0000:01:00.0"). */
  readonly masters = new Map<number, string>();
  /** CD table of each stage-1 master: linear (2^ssid_bits CDs) or a level-1 table of L1CDs (cdTableFormat). */
  private readonly cdTables = new Map<number, number>();
  /**
   * master->ssid_bits of the PCI masters with a PASID capability (arm_smmu_enable_pasid: min of
   * ilog2(pci_max_pasids) and SMMU_IDR1.SSIDSIZE; without CD2L at most CTXDESC_LINEAR_CDMAX 10).
   * Absent: 0 (one CD, S1CDMax = 0).
   */
  readonly ssidBits = new Map<number, number>();
  private nextAsid = 1;
  private nextVmid = 1;
  private nextDomain = 1;
  /** The evtq thread's DEFINE_RATELIMIT_STATE. */
  private rs = new Ratelimit();
  readonly era: SmmuKernelEra;
  readonly stage: 1 | 2;
  readonly blocks: boolean;
  /** The granule of every domain's tables (a shift): see SmmuDriverOptions.pageShift. */
  readonly granule: number;
  /** The kernel's PAGE_SIZE as a shift (SmmuDriverOptions.pageShift): the granule of a process page table. */
  readonly pageShift: number;
  /** StreamIDs of masters with ATS enabled (arm_smmu_enable_ats: PCI ATS capability and SMMU_IDR0.ATS). */
  readonly atsMasters = new Set<number>();
  /** false: unmap skips CMD_ATC_INV (a driver bug the scenario can model: host.iommu.ats-invalidation). */
  atcInvalidation = true;
  /** false: the SVA mmu notifier sends nothing to the SMMU (host.iommu.sva-invalidation, a what-if knob: svaUnmap). */
  svaInvalidation = true;
  /** The SVA notifier's CMDQ_MAX_TLBI_OPS threshold (SmmuDriverOptions.svaTlbiThreshold). */
  readonly svaTlbiThreshold: boolean;
  /** What arm_smmu_mm_release writes in the CD (SmmuDriverOptions.svaReleaseCd). */
  readonly svaReleaseCd: SvaReleaseCd;
  /** Commands the driver issued, in order (the trace's slow-path record). */
  issued: [bigint, bigint][] = [];
  /**
   * The kernel sets STE.S2S for stall_enabled masters and reports stage-2 stalls (v6.12+, commit
   * ce7cb08e22e0; before it arm_smmu_handle_evt returned -EFAULT for S2 events: "Stage-2 is always
   * pinned at the moment"). SmmuDriverOptions.s2Stalls; default true.
   */
  readonly s2Stalls: boolean;

  constructor(
    readonly unit: SmmuV3Unit,
    readonly mem: PhysicalMemory,
    opts: SmmuDriverOptions = {},
  ) {
    this.tables = { mem, alloc: (bytes, align) => this.alloc(bytes, align) };
    this.era = opts.era ?? SMMU_CURRENT_ERA;
    this.stage = opts.stage ?? (unit.spec.stage1 ? 1 : 2);
    this.blocks = opts.blocks ?? true;
    this.pageShift = opts.pageShift ?? 12;
    this.granule = pickGranule(this.pageShift, smmuGranules(unit.spec));
    this.s2Stalls = opts.s2Stalls ?? true;
    this.svaTlbiThreshold = opts.svaTlbiThreshold ?? true;
    this.svaReleaseCd = opts.svaReleaseCd ?? "sva-cd";
  }

  /** The driver's tables: host memory, pages from its pool (alloc). */
  private readonly tables: LpaeTables;

  /** Zeroed table memory of `bytes`, aligned to `align` (a 16/64 KiB table is aligned to its size: the pool is 4 KiB pages, so skip to the boundary). */
  private alloc(bytes: number, align = PAGE): number {
    let first = this.mem.allocPage();
    while (first % align !== 0) first = this.mem.allocPage();
    const pages = Math.ceil(bytes / PAGE);
    for (let i = 1; i < pages; i++) this.mem.allocPage();
    return first;
  }

  /** arm_smmu_device_probe -> arm_smmu_init_structures + arm_smmu_device_reset. */
  init(): void {
    const u = this.unit;
    const sidBits = u.spec.sidBits;
    // arm_smmu_device_hw_probe: "If sid_bits is tiny, don't bother with 2-level".
    const twoLevel = u.spec.twoLevelStreamTable && sidBits > STRTAB_SPLIT;
    if (twoLevel) {
      // arm_smmu_init_strtab_2lvl: 1 << (sid_bits - STRTAB_SPLIT) level-1 descriptors, all invalid (Span = 0).
      const l1 = 2 ** (sidBits - STRTAB_SPLIT);
      u.strtabBase = this.alloc(l1 * 8);
      u.strtabBaseCfg = (STRTAB_FMT_2LVL << 16) | (STRTAB_SPLIT << 6) | sidBits;
    } else {
      u.strtabBase = this.alloc(2 ** sidBits * 64);
      u.strtabBaseCfg = (STRTAB_FMT_LINEAR << 16) | sidBits;
      for (let sid = 0; sid < 2 ** sidBits; sid++) this.writeSte(u.strtabBase + sid * 64, abortSte());
    }
    // Queues: Q_BASE = address | LOG2SIZE.
    u.cmdqBase = this.alloc(2 ** u.spec.cmdqShift * 16) + u.spec.cmdqShift;
    u.evtqBase = this.alloc(2 ** u.spec.evtqShift * 32) + u.spec.evtqShift;
    u.cmdqProd = u.cmdqCons = 0;
    u.evtqProd = u.evtqCons = 0;
    // arm_smmu_init_queues: the PRI queue when ARM_SMMU_FEAT_PRI (SMMU_IDR0.PRI), 16-byte entries; CR0.PRIQEN.
    const priqen = u.spec.pri === true ? CR0_PRIQEN : 0;
    if (priqen) {
      const priqShift = smmuPriqShift(u.spec);
      u.priqBase = this.alloc(2 ** priqShift * 16) + priqShift;
      u.priqProd = u.priqCons = 0;
    }
    u.writeCr0(CR0_CMDQEN | CR0_EVTQEN | priqen);
    // arm_smmu_device_reset: invalidate any cached configuration and TLB entries.
    this.submit([cmd(CMD_CFGI_ALL, 0n, 31n), cmd(CMD_TLBI_NSNH_ALL)]);
    u.writeCr0(CR0_CMDQEN | CR0_EVTQEN | priqen | CR0_SMMUEN);
  }

  private writeSte(at: number, words: readonly bigint[]): void {
    words.forEach((w, i) => this.mem.writeU64(at + i * 8, w));
  }

  /** The address of the STE of `sid`, allocating its level-2 table (arm_smmu_init_l2_strtab) on first use. */
  steAddress(sid: number, create = true): number | undefined {
    const u = this.unit;
    if (((u.strtabBaseCfg >>> 16) & 3) !== STRTAB_FMT_2LVL) return u.strtabBase + sid * 64;
    const l1At = u.strtabBase + Math.floor(sid / 2 ** STRTAB_SPLIT) * 8;
    const d = this.mem.readU64(l1At) ?? 0n;
    if ((d & 0x1fn) !== 0n) return Number((d >> 6n) & 0x3ffffffffffn) * 64 + (sid % 2 ** STRTAB_SPLIT) * 64;
    if (!create) return undefined;
    const l2 = this.alloc(2 ** STRTAB_SPLIT * 64);
    for (let i = 0; i < 2 ** STRTAB_SPLIT; i++) this.writeSte(l2 + i * 64, abortSte());
    // L1 descriptor: Span = STRTAB_SPLIT + 1, L2Ptr (arm_smmu_write_strtab_l1_desc).
    this.mem.writeU64(l1At, BigInt(l2) | BigInt(STRTAB_SPLIT + 1));
    this.submit([cmd(CMD_CFGI_STE, BigInt(sid) << 32n, 0n)]);
    return l2 + (sid % 2 ** STRTAB_SPLIT) * 64;
  }

  /**
   * arm_smmu_enable_pasid (called before ATS is enabled, arm_smmu_probe_device): the PCI master's
   * PASID capability is on and master->ssid_bits = min(ilog2(num_pasids), smmu->ssid_bits);
   * "if (!(smmu->features & ARM_SMMU_FEAT_2_LVL_CDTAB)) master->ssid_bits = min_t(u8,
   * master->ssid_bits, CTXDESC_LINEAR_CDMAX)" (10).
   */
  enablePasid(sid: number, pasidBits = 20): void {
    let bits = Math.min(pasidBits, this.unit.spec.ssidBits);
    if (this.unit.spec.cd2l === false) bits = Math.min(bits, 10);
    if (bits > 0) this.ssidBits.set(sid, bits);
  }

  /**
   * The CD table's format of a master (arm_smmu_alloc_cd_tables): max_contexts = 1 << ssid_bits;
   * linear when the SMMU has no 2-level CD tables or max_contexts <= CTXDESC_L2_ENTRIES (1024),
   * else STRTAB_STE_0_S1FMT_64K_L2 with DIV_ROUND_UP(max_contexts, 1024) L1CDs.
   */
  cdTableFormat(sid: number): { s1Fmt: number; s1CdMax: number; l1Entries: number } {
    const bits = this.ssidBits.get(sid) ?? 0;
    const max = 2 ** bits;
    if (this.unit.spec.cd2l === false || max <= CTXDESC_L2_ENTRIES) return { s1Fmt: S1FMT_LINEAR, s1CdMax: bits, l1Entries: max };
    return { s1Fmt: S1FMT_64K_L2, s1CdMax: bits, l1Entries: Math.ceil(max / CTXDESC_L2_ENTRIES) };
  }

  /**
   * The address of the CD of (sid, ssid) (arm_smmu_get_cd_ptr): the CD table is allocated on first
   * use; a 2-level table's leaf (1024 CDs, 64 KiB) when its L1CD is first needed, written
   * (arm_smmu_write_cd_l1_desc: L2Ptr | V) and synced with CMD_CFGI_CD, leaf = 0 ("An invalid
   * L1CD can be cached"). undefined when it is not there and `create` is false.
   */
  cdAddress(sid: number, ssid: number, create = true): number | undefined {
    const f = this.cdTableFormat(sid);
    let base = this.cdTables.get(sid);
    if (base === undefined) {
      if (!create) return undefined;
      base = this.alloc(f.s1Fmt === S1FMT_LINEAR ? f.l1Entries * 64 : f.l1Entries * 8);
      this.cdTables.set(sid, base);
    }
    if (f.s1Fmt === S1FMT_LINEAR) return base + ssid * 64;
    const l1At = base + Math.floor(ssid / CTXDESC_L2_ENTRIES) * 8;
    let d = this.mem.readU64(l1At) ?? 0n;
    if ((d & L1CD_V) === 0n) {
      if (!create) return undefined;
      const leaf = this.alloc(CTXDESC_L2_ENTRIES * 64);
      d = BigInt(leaf) | L1CD_V;
      this.mem.writeU64(l1At, d);
      this.submit([cmd(CMD_CFGI_CD, (BigInt(sid) << 32n) | (BigInt(ssid) << 12n), 0n)]);
    }
    return Number(d & 0x000ffffffffff000n) + (ssid % CTXDESC_L2_ENTRIES) * 64;
  }

  /** arm_smmu_make_s1_cd for a stage-1 domain: the CD's eight dwords (ioPgtable.ts s1ContextDescriptor). */
  private s1Cd(d: SmmuDomain): bigint[] {
    return s1ContextDescriptor({ ias: d.ias, granule: d.granule ?? 12, oas: this.unit.spec.oas, asid: d.asid, ttb0: d.pgd, stall: this.stallEnabled });
  }

  /**
   * arm_smmu_make_sva_cd (arm-smmu-v3-sva.c) for an SVA domain bound to a process: what differs
   * from a DMA domain's CD (s1Cd) is where the numbers come from: T0SZ = 64 - vabits_actual (the
   * CPU's VA size, not io-pgtable's ias), TG0 = the kernel's PAGE_SIZE (page_size_to_cd), IPS = the
   * CPU's ID_AA64MMFR0_EL1.PARange (not the SMMU's OAS), TTB0 = mm->pgd, MAIR = the CPU's
   * MAIR_EL1. The rest is the same: IRGN0/ORGN0 WBWA, SH0 IS, EPD1, V, AA64, S (stall_enabled), R,
   * A, ASET (BTM is never enabled: btm_invalidation false) and the ASID from the SMMU's own ASID
   * allocator (arm_smmu_share_asid -> arm_smmu_domain_alloc_id; the mm's CPU ASID only with BTM).
   */
  private svaCd(d: SmmuDomain): bigint[] {
    const tg0 = this.pageShift === 16 ? 1n : this.pageShift === 14 ? 2n : 0n;
    const w0 = BigInt(64 - CPU_VA_BITS) | (tg0 << 6n) | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (CPU_PARANGE << 32n) | (1n << 41n) | (this.stallEnabled ? 1n << 44n : 0n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(d.asid) << 48n);
    return [w0, BigInt(d.pgd) & 0x000ffffffffffff0n, 0n, CPU_MAIR_EL1, 0n, 0n, 0n, 0n];
  }

  /**
   * iommu_attach_device_pasid with a stage-1 paging domain (arm_smmu_s1_set_dev_pasid ->
   * arm_smmu_set_pasid): the domain's CD at SubstreamID `ssid` of the master's CD table, then
   * CMD_CFGI_CD (SSID, leaf) + CMD_SYNC (arm_smmu_write_cd_entry -> arm_smmu_sync_cd). Returns an
   * error text where Linux refuses (-EINVAL / -EOPNOTSUPP), undefined on success.
   */
  setPasid(sid: number, ssid: number, d: SmmuDomain): string | undefined {
    if (d.stage !== 1) return "only a stage-1 domain can be attached to a PASID (arm_smmu_s1_set_dev_pasid: -EINVAL)";
    const f = this.cdTableFormat(sid);
    if (f.s1CdMax === 0) return "the master has no SubstreamIDs (master->ssid_bits = 0: no PASID capability, or SMMU_IDR1.SSIDSIZE = 0)";
    if (ssid === 0 || ssid >= 2 ** f.s1CdMax) return `PASID ${ssid} is outside 1..${2 ** f.s1CdMax - 1} (master->ssid_bits ${f.s1CdMax}; PASID 0 is the RID's CD: IOMMU_NO_PASID)`;
    const at = this.cdAddress(sid, ssid)!;
    this.writeSte(at, d.sva === true ? this.svaCd(d) : this.s1Cd(d));
    this.submit([cmd(CMD_CFGI_CD, (BigInt(sid) << 32n) | (BigInt(ssid) << 12n), 1n)]);
    d.ssids = [...(d.ssids ?? []).filter(([a, b]) => !(a === sid && b === ssid)), [sid, ssid]];
    return undefined;
  }

  /**
   * iommu_detach_device_pasid (arm_smmu_remove_dev_pasid -> arm_smmu_clear_cd): the CD written
   * invalid (V = 0), CMD_CFGI_CD + CMD_SYNC, and the master's ATC for that SubstreamID invalidated
   * (arm_smmu_atc_inv_master(master, ssid)). false when no domain holds the PASID.
   */
  clearPasid(sid: number, ssid: number): boolean {
    const d = this.domains.find((x) => x.ssids?.some(([a, b]) => a === sid && b === ssid));
    if (d === undefined) return false;
    const at = this.cdAddress(sid, ssid, false);
    if (at !== undefined) this.writeSte(at, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    const cmds: [bigint, bigint][] = [cmd(CMD_CFGI_CD, (BigInt(sid) << 32n) | (BigInt(ssid) << 12n), 1n)];
    if (this.atsMasters.has(sid)) cmds.push(atcInvCommand(sid, ssid, 0, 0));
    this.submit(cmds);
    d.ssids = (d.ssids ?? []).filter(([a, b]) => !(a === sid && b === ssid));
    this.flushDomain(d);
    return true;
  }

  /** arm_smmu_enable_ats: the master's ATS is on; its STE gets EATS when next attached. */
  enableAts(sid: number): void {
    this.atsMasters.add(sid);
  }

  /**
   * master->stall_enabled (arm_smmu_probe_device): with ARM_SMMU_FEAT_STALL_FORCE (SMMU_IDR0.STALL_MODEL
   * = 0b10) every master; otherwise only firmware's "dma-can-stall" masters (DT, or IORT named
   * components), which PCI devices never are.
   */
  get stallEnabled(): boolean {
    return this.unit.spec.stallModel === STALL_MODEL_FORCE;
  }

  /**
   * A stalled transaction's event (Stall = 1) as arm_smmu_handle_event() treats it: it reports an
   * IOMMU_FAULT_PAGE_REQ with grpid = STAG to iommu_report_device_fault(). A VFIO (type1) device
   * has no fault handler attached, so the core answers IOMMU_PAGE_RESP_INVALID
   * (io-pgfault.c iopf_error_response; "Nobody cared, abort the access" before the iopf rework),
   * and arm_smmu_page_response() turns that into CMD_RESUME with CMDQ_RESUME_0_RESP_ABORT for
   * master->streams[0].id and the STAG, issued without a CMD_SYNC ("Don't send a SYNC, it doesn't
   * do anything for RESUME or PRI_RESP"). The handler returns an error, so the event is still
   * printed. An unknown StreamID (no master) gets no answer: the transaction stays stalled.
   */
  private answerStall(raw: readonly [bigint, bigint, bigint, bigint]): boolean {
    const e = decodeEvent(raw);
    if (!e.stall || !this.masters.has(e.sid)) return false;
    // Before v6.12 a stage-2 event returned -EFAULT before the stall was looked at: never resumed.
    if (e.s2 && !this.s2Stalls) return false;
    // iommu_report_device_fault -> the attached domain's iopf_handler: an iommufd hwpt with a fault
    // object queues the group for user space (fault.c iommufd_fault_iopf_handler) and returns 0,
    // so arm_smmu_evtq_thread prints nothing; the answer comes back through the fault fd (pageResponse).
    const d = this.domains.find((x) => x.faultQueue !== undefined && (e.ssv ? x.ssids?.some(([a, b]) => a === e.sid && b === e.ssid) : x.sids.includes(e.sid)));
    if (d !== undefined && !e.s2) {
      const perm = (e.read ? IOMMU_PGFAULT_PERM_READ : IOMMU_PGFAULT_PERM_WRITE) | (e.instruction ? IOMMU_PGFAULT_PERM_EXEC : 0) | (e.privileged ? IOMMU_PGFAULT_PERM_PRIV : 0);
      this.iopfQueue.push({ fault: d.faultQueue!, cookie: this.nextCookie++, sid: e.sid, ssid: e.ssv ? e.ssid : -1, grpid: e.stag, perm, addr: e.inputAddr });
      return true;
    }
    const first = [...this.masters.keys()].find((k) => this.masters.get(k) === this.masters.get(e.sid)) ?? e.sid;
    this.submit([cmd(CMD_RESUME, (BigInt(first) << 32n) | (BigInt(RESUME_ABORT) << 12n), BigInt(e.stag))], false);
    return false;
  }

  /** Fault groups queued for user space and not yet answered (IopfRecord), oldest first. */
  iopfQueue: IopfRecord[] = [];
  /** fault.c: the cookie of the next group (xa_alloc in fault->response, from 1 here). */
  private nextCookie = 1;

  /**
   * write() of a struct iommu_hwpt_page_response to fault object `fault`'s fd (fault.c
   * iommufd_fault_fops_write): a code other than IOMMUFD_PAGE_RESP_SUCCESS (0) / _INVALID (1) or
   * a cookie no queued group holds -> -EINVAL; else iopf_group_response -> arm_smmu_page_response:
   * CMD_RESUME with RETRY for SUCCESS, ABORT otherwise, to master->streams[0].id and the STAG, no
   * CMD_SYNC. Returns the answered group, or the errno text.
   */
  pageResponse(fault: number, cookie: number, code: number): IopfRecord | string {
    if (code !== 0 && code !== 1) return `code ${code} is neither IOMMUFD_PAGE_RESP_SUCCESS (0) nor IOMMUFD_PAGE_RESP_INVALID (1)`;
    const i = this.iopfQueue.findIndex((r) => r.fault === fault && r.cookie === cookie);
    if (i < 0) return `no fault group of fault object ${fault} has cookie ${cookie}`;
    const r = this.iopfQueue.splice(i, 1)[0]!;
    const first = [...this.masters.keys()].find((k) => this.masters.get(k) === this.masters.get(r.sid)) ?? r.sid;
    this.submit([cmd(CMD_RESUME, (BigInt(first) << 32n) | (BigInt(code === 0 ? RESUME_RETRY : RESUME_ABORT) << 12n), BigInt(r.grpid))], false);
    return r;
  }

  /** vIOMMUs (IOMMU_VIOMMU_ALLOC of type IOMMU_VIOMMU_TYPE_ARM_SMMUV3: struct arm_vsmmu), by id. */
  vsmmus: VSmmu[] = [];
  /** master->vmaster of each StreamID attached to a nested domain with a vDEVICE (arm_smmu_attach_prepare_vmaster). */
  vmasters = new Map<number, { vsmmu: number; vsid: number }>();

  /**
   * arm_vsmmu_alloc (arm-smmu-v3-iommufd.c, v6.13+): a vSMMU on a stage-2 nesting parent. In v6.15
   * the vSMMU takes the parent's VMID ("vsmmu->vmid = s2_parent->s2_cfg.vmid", later kernels give
   * each vSMMU its own). Not modelled: the S2FWB / coherency requirement (EOPNOTSUPP).
   */
  allocVsmmu(parent: SmmuDomain, id: number): VSmmu {
    const v: VSmmu = { id, parent: parent.id, vmid: parent.vmid, vdevs: [] };
    this.vsmmus.push(v);
    return v;
  }

  /**
   * arm_smmu_validate_vste (arm-smmu-v3-iommufd.c): the vSTE of IOMMU_HWPT_ALLOC with
   * IOMMU_HWPT_DATA_ARM_SMMUV3. V = 0: the vSTE is zeroed (a non-valid STE); bits outside
   * STRTAB_STE_0_NESTING_ALLOWED (V, Config, S1Fmt, S1ContextPtr, S1CDMax) or
   * STRTAB_STE_1_NESTING_ALLOWED (S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS), a Config other
   * than abort / bypass / S1 translate, or EATS other than 0b00 / 0b01 -> -EIO. Returns the vSTE
   * as the nested domain keeps it (EATS cleared) and whether ATS stays enabled, or the EIO reason.
   */
  validateVste(vste: readonly [bigint, bigint]): { data: [bigint, bigint]; ats: boolean } | string {
    if ((vste[0] & 1n) === 0n) return { data: [0n, 0n], ats: false };
    const allowed0 = 1n | (7n << 1n) | (3n << 4n) | (((1n << 46n) - 1n) << 6n) | (0x1fn << 59n);
    const allowed1 = 3n | (3n << 2n) | (3n << 4n) | (3n << 6n) | (1n << 27n) | (3n << 28n);
    if ((vste[0] & ~allowed0) !== 0n) return `vSTE word 0 sets bits outside STRTAB_STE_0_NESTING_ALLOWED: 0x${(vste[0] & ~allowed0).toString(16)}`;
    if ((vste[1] & ~allowed1) !== 0n) return `vSTE word 1 sets bits outside STRTAB_STE_1_NESTING_ALLOWED: 0x${(vste[1] & ~allowed1).toString(16)}`;
    const cfg = Number((vste[0] >> 1n) & 7n);
    if (cfg !== STE_CFG_ABORT && cfg !== STE_CFG_BYPASS && cfg !== STE_CFG_S1) return `vSTE Config 0b${cfg.toString(2).padStart(3, "0")} is not abort, bypass or S1 translate`;
    const eats = Number((vste[1] >> 28n) & 3n);
    if (eats !== 0 && eats !== EATS_TRANS) return `vSTE EATS ${eats} is neither 0b00 nor 0b01 (only full ATS or ATS UR)`;
    return { data: [vste[0], vste[1] & ~(3n << 28n)], ats: cfg === STE_CFG_S1 && eats === EATS_TRANS };
  }

  /**
   * arm_smmu_attach_dev_nested -> arm_smmu_make_nested_domain_ste: the physical STE of a nested
   * domain. A non-valid vSTE or Config abort: an abort STE; bypass: the parent's stage-2 STE;
   * S1 translate (arm_smmu_make_nested_cd_table_ste): the stage-2 STE with word 0 = V | Config
   * nested | the vSTE's word 0 without Config, word 1 |= the vSTE's word 1 and STRTAB_STE_1_MEV
   * ("Merge events for DoS mitigations on eventq"), EATS when the vSTE asked for ATS and the
   * master has it. Then CMD_CFGI_STE + CMD_SYNC. The master's vmaster is the vSMMU's vDEVICE of
   * it when one exists (arm_smmu_attach_prepare_vmaster: "Not allocated yet?" -> none).
   */
  attachNested(v: VSmmu, vste: readonly [bigint, bigint], ats: boolean, sids: number[]): void {
    const parent = this.domains.find((d) => d.id === v.parent)!;
    for (const o of this.domains) o.sids = o.sids.filter((x) => !sids.includes(x));
    const cfg = (vste[0] & 1n) === 0n ? STE_CFG_ABORT : Number((vste[0] >> 1n) & 7n);
    for (const sid of sids) {
      let ste: bigint[];
      if (cfg === STE_CFG_S1 || cfg === STE_CFG_BYPASS) {
        ste = this.s2Ste(parent);
        if (cfg === STE_CFG_S1) {
          ste[0] = 1n | (BigInt(STE_CFG_NESTED) << 1n) | (vste[0] & ~(7n << 1n));
          ste[1] = ste[1]! | vste[1] | STE_1_MEV;
        }
        if ((cfg === STE_CFG_BYPASS || ats) && this.atsMasters.has(sid)) ste[1] = ste[1]! | (BigInt(EATS_TRANS) << 28n);
      } else ste = abortSte();
      this.writeSte(this.steAddress(sid)!, ste);
      this.submit([cmd(CMD_CFGI_STE, BigInt(sid) << 32n, 1n)]);
      const vdev = v.vdevs.find(([s]) => s === sid);
      if (vdev !== undefined) this.vmasters.set(sid, { vsmmu: v.id, vsid: vdev[1] });
      else this.vmasters.delete(sid);
    }
  }

  /**
   * arm_smmu_handle_event (v6.15) for a record that did not stall: the event ids a guest can be
   * told of (C_BAD_STE, F_STREAM_DISABLED, C_BAD_SUBSTREAMID, C_BAD_CD, F_TRANSLATION, F_ADDR_SIZE,
   * F_ACCESS, F_PERMISSION: uapi struct iommu_vevent_arm_smmuv3) of a master with a vmaster, and
   * not at stage 2 ("master->vmaster && !event->s2"), go to arm_vmaster_report_event: the record
   * with StreamID [63:32] replaced by the vSID, to the vSMMU's vEVENTQ (iommufd_viommu_report_event).
   * That returns 0 (the event is not printed) when the vSMMU has a vEVENTQ of type
   * IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, also when it is full (the lost-events header is queued instead,
   * rc stays 0); without one -EOPNOTSUPP, and the evtq thread prints the event as for any other.
   */
  private reportVmaster(raw: readonly [bigint, bigint, bigint, bigint]): boolean {
    if (this.vmasters.size === 0) return false;
    const e = decodeEvent(raw);
    if (!VEVENT_IDS.includes(e.id) || e.s2 || e.stall) return false;
    const vm = this.vmasters.get(e.sid);
    if (vm === undefined) return false;
    const q = this.vsmmus.find((x) => x.id === vm.vsmmu)?.veventq;
    if (q === undefined) return false;
    const rec: [bigint, bigint, bigint, bigint] = [(raw[0] & 0xffffffffn) | (BigInt(vm.vsid) << 32n), raw[1], raw[2], raw[3]];
    // iommufd_vevent_handler: a lost-events header that is last in the list is taken out, the new
    // node goes to the tail with the next sequence number (& INT_MAX); a full queue
    // (num_events == depth) queues the lost-events header instead.
    const full = q.queued.filter((x) => x.raw !== undefined).length === q.depth;
    const last = q.queued[q.queued.length - 1];
    if (last !== undefined && last.raw === undefined) q.queued.pop();
    q.queued.push(full ? { sequence: q.sequence } : { sequence: q.sequence, raw: rec });
    q.sequence = (q.sequence + 1) & 0x7fffffff;
    return true;
  }

  /**
   * IOMMU_HWPT_INVALIDATE (alias IOMMU_VIOMMU_INVALIDATE) on vIOMMU `v` with
   * IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3: the guest's commands, trapped by the VMM, as the kernel
   * takes them (arm-smmu-v3-iommufd.c arm_vsmmu_cache_invalidate -> arm_vsmmu_convert_user_cmd):
   * - CMD_TLBI_NSNH_ALL becomes CMD_TLBI_NH_ALL of the vSMMU's VMID (dword 1 zero): a guest's
   *   "invalidate everything" reaches only its own stage-1 entries;
   * - CMD_TLBI_NH_VA, _NH_VAA, _NH_ALL, _NH_ASID: the VMID field [47:32] is replaced by the vSMMU's
   *   (CMDQ_TLBI_0_VMID), whatever the guest wrote;
   * - CMD_ATC_INV, CMD_CFGI_CD, CMD_CFGI_CD_ALL: the StreamID [63:32] is a vSID, replaced by the
   *   physical StreamID of the vDEVICE (arm_vsmmu_vsid_to_sid); a vSID without a vDEVICE -> -EIO;
   * - any other opcode (CMD_CFGI_STE, CMD_TLBI_S2_IPA, CMD_TLBI_S12_VMALL, CMD_SYNC, ...) -> -EIO.
   * Converted commands are issued in batches of up to CMDQ_BATCH_ENTRIES - 1 (63) with a CMD_SYNC
   * each; the first refused command stops the loop, the commands before it in its batch are not
   * issued, and entry_num is returned as the number handled (array->entry_num = cur - cmds).
   */
  vsmmuInvalidate(v: VSmmu, cmds: readonly (readonly [bigint, bigint])[]): { issued: [bigint, bigint][]; handled: number; refused?: { index: number; why: string } } {
    const BATCH = 63; // CMDQ_BATCH_ENTRIES (BITS_PER_LONG) - 1 commands before the batch is issued
    const issued: [bigint, bigint][] = [];
    let batch: [bigint, bigint][] = [];
    const VMID_MASK = 0xffffn << 32n;
    const SID_MASK = 0xffffffffn << 32n;
    for (let i = 0; i < cmds.length; i++) {
      const [w0, w1] = cmds[i]!;
      const op = Number(w0 & 0xffn);
      let c: [bigint, bigint] | undefined;
      let why: string | undefined;
      switch (op) {
        case CMD_TLBI_NSNH_ALL:
          c = [BigInt(CMD_TLBI_NH_ALL) | (BigInt(v.vmid) << 32n), 0n];
          break;
        case CMD_TLBI_NH_VA:
        case CMD_TLBI_NH_VAA:
        case CMD_TLBI_NH_ALL:
        case CMD_TLBI_NH_ASID:
          c = [(w0 & ~VMID_MASK) | (BigInt(v.vmid) << 32n), w1];
          break;
        case CMD_ATC_INV:
        case CMD_CFGI_CD:
        case CMD_CFGI_CD_ALL: {
          const vsid = Number(w0 >> 32n);
          const sid = v.vdevs.find(([, vs]) => vs === vsid)?.[0];
          if (sid === undefined) why = `vSID 0x${vsid.toString(16)} has no vDEVICE on the vIOMMU (arm_vsmmu_vsid_to_sid)`;
          else c = [(w0 & ~SID_MASK) | (BigInt(sid) << 32n), w1];
          break;
        }
        default:
          why = `${COMMAND_NAMES[op] ?? `opcode 0x${op.toString(16)}`} is not a command a guest may send (arm_vsmmu_convert_user_cmd takes CMD_TLBI_NSNH_ALL, CMD_TLBI_NH_VA, CMD_TLBI_NH_VAA, CMD_TLBI_NH_ALL, CMD_TLBI_NH_ASID, CMD_ATC_INV, CMD_CFGI_CD, CMD_CFGI_CD_ALL)`;
      }
      if (c === undefined) return { issued, handled: i, refused: { index: i, why: why! } };
      batch.push(c);
      if (i + 1 === cmds.length || batch.length === BATCH) {
        this.submit(batch);
        issued.push(...batch);
        batch = [];
      }
    }
    return { issued, handled: cmds.length };
  }

  /**
   * read() of the vEVENTQ fd (iommufd_veventq_fops_read) with a large enough buffer: every queued
   * vEVENT, oldest first, as struct iommufd_vevent_header { flags, sequence } + the record; the
   * lost-events header carries IOMMU_VEVENTQ_FLAG_LOST_EVENTS and no record. Empties the queue.
   */
  readVeventq(v: VSmmu): VEvent[] {
    const q = v.veventq;
    if (q === undefined) return [];
    const out = q.queued.map((x) => ({ ...x }));
    q.queued = [];
    return out;
  }

  /** arm_smmu_probe_device: the master's StreamID (PCI: the RID, through the iommu-map). */
  addMaster(sid: number, name: string): void {
    this.masters.set(sid, name);
    this.steAddress(sid);
  }

  /** arm_smmu_domain_alloc_paging + arm_smmu_domain_finalise (stage per SMMU features and the driver option). */
  allocDomain(bypass = false, want?: 1 | 2): SmmuDomain {
    const u = this.unit;
    if (bypass) {
      const d: SmmuDomain = { id: this.nextDomain++, stage: "bypass", asid: 0, vmid: 0, pgd: 0, ias: 0, startLevel: 0, sids: [] };
      this.domains.push(d);
      return d;
    }
    // `want`: a stage asked for (a PASID's domain is stage 1: arm_smmu_s1_set_dev_pasid), when the SMMU has it.
    const stage = want === 1 && u.spec.stage1 ? 1 : want === 2 && u.spec.stage2 ? 2 : this.stage === 2 && u.spec.stage2 ? 2 : u.spec.stage1 ? 1 : 2;
    const g = this.granule;
    let ias: number;
    let startLevel: number;
    let pgdBytes: number;
    if (stage === 1) {
      // arm_smmu_domain_finalise_s1: ias = min(48, VA_BITS) (no FEAT_VAX), oas = smmu->ias.
      // io-pgtable-arm: pgd_bits = ias - (granule shift + bits_per_level * (levels - 1)).
      ias = 48;
      startLevel = s1StartLevel(ias, g);
      pgdBytes = 2 ** (ias - levelShift(startLevel, g)) * 8;
    } else {
      // arm_smmu_domain_finalise_s2: ias = smmu->ias (= OAS here), oas = smmu->oas. io-pgtable-arm
      // arm_64_lpae_alloc_pgtable_s2 concatenates the pgd at the next level when it would have at
      // most ARM_LPAE_S2_MAX_CONCAT_PAGES (16) entries at start level 0.
      ias = u.spec.oas;
      startLevel = s1StartLevel(ias, g);
      let pgdBits = ias - levelShift(startLevel, g);
      if (startLevel === 0 && 2 ** pgdBits <= 16) {
        startLevel = 1;
        pgdBits += g - 3;
      }
      pgdBytes = 2 ** pgdBits * 8;
    }
    // __arm_lpae_alloc_pages: whole pages, aligned to the table's size (TTB0 / S2TTB alignment).
    const pgd = this.alloc(Math.max(PAGE, pgdBytes), Math.max(PAGE, Math.min(pgdBytes, 2 ** g)));
    const d: SmmuDomain = { id: this.nextDomain++, stage, asid: stage === 1 ? this.nextAsid++ : 0, vmid: stage === 2 ? this.nextVmid++ : 0, pgd, ias, startLevel, sids: [], ...(g !== 12 ? { granule: g } : {}) };
    this.domains.push(d);
    return d;
  }

  /** arm_smmu_attach_dev: the STE (and CD) of each StreamID, then CFGI + SYNC. */
  attach(d: SmmuDomain, sids: number[]): void {
    for (const sid of sids) {
      const at = this.steAddress(sid)!;
      let ste: bigint[];
      if (d.stage === "bypass") {
        ste = [1n | (BigInt(STE_CFG_BYPASS) << 1n), 1n << 44n, 0n, 0n, 0n, 0n, 0n, 0n]; // SHCFG incoming
      } else if (d.stage === 1) {
        // arm_smmu_make_s1_cd: T0SZ = 64 - ias, TG0 4K, IRGN0/ORGN0 WBWA (1), SH0 IS (3), EPD1,
        // V, IPS = oas, AA64, R, A, ASET, ASID; TTB0; MAIR.
        // The RID's CD is SubstreamID 0 (IOMMU_NO_PASID) of the master's CD table.
        const cdAt = this.cdAddress(sid, 0)!;
        const cdt = this.cdTables.get(sid)!;
        const fmt = this.cdTableFormat(sid);
        this.writeSte(cdAt, this.s1Cd(d));
        this.submit([cmd(CMD_CFGI_CD, BigInt(sid) << 32n, 1n)]);
        // arm_smmu_make_cdtable_ste: V, Config S1, S1Fmt (cd_table->s1fmt), S1ContextPtr, S1CDMax (cd_table->s1cdmax);
        // S1DSS SSID0 (2), S1CIR/S1COR WBRA (1), S1CSH ISH (3), STRW NSEL1, SHCFG incoming.
        // S1STALLD (STRTAB_STE_1_S1STALLD, bit 27) when the SMMU has ARM_SMMU_FEAT_STALLS and the
        // master is not stall_enabled: "if (smmu->features & ARM_SMMU_FEAT_STALLS && !master->stall_enabled)".
        const s1stalld = this.unit.spec.stallModel === undefined || this.unit.spec.stallModel === STALL_MODEL_STALL ? 1n << 27n : 0n;
        ste = [1n | (BigInt(STE_CFG_S1) << 1n) | (BigInt(fmt.s1Fmt) << 4n) | BigInt(cdt) | (BigInt(fmt.s1CdMax) << 59n), 2n | (1n << 2n) | (1n << 4n) | (3n << 6n) | s1stalld | (1n << 44n), 0n, 0n, 0n, 0n, 0n, 0n];
      } else ste = this.s2Ste(d);
      // STE.EATS = STRTAB_STE_1_EATS_TRANS for an ATS master of a translating domain
      // (arm_smmu_make_cdtable_ste / arm_smmu_make_s2_domain_ste: ats_enabled).
      if (d.stage !== "bypass" && this.atsMasters.has(sid)) ste[1] = (ste[1] ?? 0n) | (BigInt(EATS_TRANS) << 28n);
      this.writeSte(at, ste);
      this.submit([cmd(CMD_CFGI_STE, BigInt(sid) << 32n, 1n)]);
      if (!d.sids.includes(sid)) d.sids.push(sid);
    }
    // A master attached to a paging domain is no vIOMMU's any more (arm_smmu_master_clear_vmaster).
    for (const sid of sids) this.vmasters.delete(sid);
  }

  /**
   * arm_smmu_make_s2_domain_ste: V, Config S2; SHCFG incoming; S2VMID, VTCR (T0SZ, SL0, IR0/OR0
   * WBWA, SH0 IS, TG 4K, PS), S2AA64, S2PTW, S2R; S2TTB. EATS is the caller's.
   */
  private s2Ste(d: SmmuDomain): bigint[] {
    const oasEnc = psOf(this.unit.spec.oas);
    const sl0 = BigInt(~(d.startLevel + ((d.granule ?? 12) === 12 ? 1 : 0)) & 3); // io-pgtable-arm: sl++ for 4K, vtcr->sl = ~sl & 3
    const vtcr = BigInt(64 - d.ias) | (sl0 << 6n) | (1n << 8n) | (1n << 10n) | (3n << 12n) | (tgOfGranule(d.granule ?? 12) << 14n) | (oasEnc << 16n);
    // STRTAB_STE_2_S2S (bit 57) "(master->stall_enabled ? STRTAB_STE_2_S2S : 0)": since v6.12
    // (commit ce7cb08e22e0 "iommu/arm-smmu-v3: Match Stall behaviour for S2"); older kernels
    // never set it, so their stage-2 STE is ILLEGAL on a STALL_MODEL 0b10 SMMU (C_BAD_STE).
    const s2s = this.stallEnabled && this.s2Stalls ? 1n << 57n : 0n;
    const w2 = BigInt(d.vmid) | (vtcr << 32n) | (1n << 51n) | (1n << 54n) | s2s | (1n << 58n);
    return [1n | (BigInt(STE_CFG_S2) << 1n), 1n << 44n, w2, BigInt(d.pgd), 0n, 0n, 0n, 0n];
  }

  /** arm_smmu_attach_dev_blocked: an abort STE. */
  detach(d: SmmuDomain, sids: number[]): void {
    for (const sid of sids) {
      const at = this.steAddress(sid);
      if (at !== undefined) this.writeSte(at, abortSte());
      this.submit([cmd(CMD_CFGI_STE, BigInt(sid) << 32n, 1n)]);
      d.sids = d.sids.filter((s) => s !== sid);
    }
    this.flushDomain(d);
  }

  /** The descriptor address of `iova` at `level` in the domain's tables (allocating tables when `create`): ioPgtable.ts lpaeEntryAddress. */
  entryAddress(d: SmmuDomain, iova: number, level: number, create: boolean): number | undefined {
    return lpaeEntryAddress(this.tables, d, iova, level, create);
  }

  /** io-pgtable-arm arm_lpae_prot_to_pte + the type bits of a leaf at `level` (ioPgtable.ts lpaeLeaf). */
  leafDescriptor(d: SmmuDomain, pa: number, prot: number, level: number): bigint {
    return lpaeLeaf(d, pa, prot, level);
  }

  /** iommu_map -> arm_lpae_map_pages: the largest block that size and alignment allow (ioPgtable.ts lpaeMap). */
  map(d: SmmuDomain, iova: number, pa: number, size: number, prot: number): void {
    lpaeMap(this.tables, d, iova, pa, size, prot, this.blocks);
  }

  /** Clears the leaf descriptors of [iova, iova + size), holes skipped (ioPgtable.ts lpaeClearLeaves); returns the bytes they covered. */
  private clearLeaves(d: SmmuDomain, iova: number, size: number, cleared: (va: number) => void): number {
    return lpaeClearLeaves(this.tables, d, iova, size, cleared);
  }

  /** iommu_unmap -> arm_lpae_unmap_pages, then the TLB invalidation by address + CMD_SYNC. Returns bytes unmapped. */
  unmap(d: SmmuDomain, iova: number, size: number): number {
    const cmds: [bigint, bigint][] = [];
    const done = this.clearLeaves(d, iova, size, (va) => cmds.push(this.tlbiVa(d, va)));
    if (cmds.length > 0) this.submit(cmds);
    // arm_smmu_tlb_inv_range_domain -> arm_smmu_atc_inv_domain: after the TLB, the ATCs of the
    // domain's ATS masters (one CMD_ATC_INV each, then CMD_SYNC).
    // Per attachment (arm_smmu_atc_inv_domain walks the domain's master_domain list): the RID's
    // without SSV (every SubstreamID), a PASID's with its SSID (arm_smmu_atc_inv_to_cmd: SSV when
    // ssid != IOMMU_NO_PASID; it never sets G).
    const atc = this.atcInvDomain(d, iova, size);
    if (done > 0 && atc.length > 0 && this.atcInvalidation) this.submit(atc);
    return done;
  }

  /** arm_smmu_atc_inv_domain's commands: one CMD_ATC_INV per ATS attachment of the domain (size 0: the whole ATC of it). */
  private atcInvDomain(d: SmmuDomain, iova: number, size: number): [bigint, bigint][] {
    return [...d.sids.filter((sid) => this.atsMasters.has(sid)).map((sid) => atcInvCommand(sid, -1, iova, size)), ...(d.ssids ?? []).filter(([sid]) => this.atsMasters.has(sid)).map(([sid, ssid]) => atcInvCommand(sid, ssid, iova, size))];
  }

  /**
   * The process of SVA domain `d` unmaps [va, va + size) (munmap: zap_pte_range clears its PTEs in
   * mm->pgd, the CPU's TLBs are flushed), and the SVA mmu notifier runs for the range:
   * arm-smmu-v3-sva.c arm_smmu_mm_invalidate_range (v5.11-v6.5, mmu_notifier_ops.invalidate_range)
   * and arm_smmu_mm_arch_invalidate_secondary_tlbs (v6.6 on, .arch_invalidate_secondary_tlbs, renamed
   * by "mmu_notifiers: rename invalidate_range notifier"; called from the arm64 TLB flush). Both:
   * - size = end - start (mm's end is exclusive); with CMDQ_MAX_TLBI_OPS (1 << (PAGE_SHIFT - 3))
   *   pages or more, on an SMMU without ARM_SMMU_FEAT_RANGE_INV (this model), size = 0 (v6.6 on:
   *   `svaTlbiThreshold`);
   * - size 0: arm_smmu_tlb_inv_asid -> CMD_TLBI_NH_ASID + CMD_SYNC; else arm_smmu_tlb_inv_range_asid
   *   (start, size, asid, PAGE_SIZE, leaf = false): one CMD_TLBI_NH_VA per PAGE_SIZE, LEAF clear,
   *   + CMD_SYNC (older kernels skip the TLBI with ARM_SMMU_FEAT_BTM, which Linux never enables here);
   * - arm_smmu_atc_inv_domain(start, size): CMD_ATC_INV of each ATS attachment (SSV and the PASID
   *   for the SVA domain's), + CMD_SYNC; none without ATS masters (nr_ats_masters == 0).
   * `svaInvalidation` false drops all of it (a what-if: the SMMU keeps the old translations).
   * Returns the bytes the process had mapped there and the commands sent (CMD_SYNCs not counted).
   */
  svaUnmap(d: SmmuDomain, va: number, size: number): { bytes: number; commands: [bigint, bigint][] } {
    const bytes = this.clearLeaves(d, va, size, () => undefined);
    if (!this.svaInvalidation) return { bytes, commands: [] };
    const page = 2 ** this.pageShift;
    const maxTlbiOps = 2 ** (this.pageShift - 3);
    const all = this.svaTlbiThreshold && size >= maxTlbiOps * page;
    const tlbi: [bigint, bigint][] = [];
    if (all) tlbi.push(cmd(CMD_TLBI_NH_ASID, BigInt(d.asid) << 48n));
    else for (let a = va; a < va + size; a += page) tlbi.push(cmd(CMD_TLBI_NH_VA, BigInt(d.asid) << 48n, BigInt(a)));
    this.submit(tlbi);
    const atc = this.atcInvDomain(d, va, all ? 0 : size);
    if (atc.length > 0) this.submit(atc);
    return { bytes, commands: [...tlbi, ...atc] };
  }

  /**
   * The process of SVA domain `d` exits: arm_smmu_mm_release (dmesg.ts SvaReleaseCd, by kernel
   * version) rewrites the CD of every (StreamID, SubstreamID) the domain is bound to, each write
   * followed by CMD_CFGI_CD (leaf) + CMD_SYNC (arm_smmu_write_cd_entry / arm_smmu_sync_cd); then
   * CMD_TLBI_NH_ASID of the domain's ASID (arm_smmu_tlb_inv_asid) and, for ATS masters, CMD_ATC_INV
   * of the whole SubstreamID (arm_smmu_atc_inv_domain(smmu_domain, 0, 0)), each + CMD_SYNC. The
   * CDs stay valid (V = 1: no C_BAD_CD) with EPD0 set, so every later transaction on the PASID is a
   * translation fault; `recorded` says whether CD.R still records it. svaInvalidation false (the
   * what-if knob) drops the TLBI and the ATC invalidation, not the CD write.
   */
  svaRelease(d: SmmuDomain): { cds: { sid: number; ssid: number; address: number; words: bigint[] }[]; commands: [bigint, bigint][]; recorded: boolean } {
    // CTXDESC_CD_0_TCR_EPD0 [14], _TCR_EPD1 [30], _V [31], _AA64 [41], _S [44], _R [45], _A [46], _ASET [47] (arm-smmu-v3.h).
    const EPD0 = 1n << 14n;
    const S_R = (1n << 44n) | (1n << 45n);
    // "if (!(smmu->features & ARM_SMMU_FEAT_STALL_FORCE))": stall_enabled is exactly STALL_FORCE here (stallEnabled).
    const abort = this.svaReleaseCd !== "quiet" && !this.stallEnabled;
    const cds: { sid: number; ssid: number; address: number; words: bigint[] }[] = [];
    const commands: [bigint, bigint][] = [];
    for (const [sid, ssid] of d.ssids ?? []) {
      const at = this.cdAddress(sid, ssid, false);
      if (at === undefined) continue;
      let words: bigint[];
      if (this.svaReleaseCd === "sva-cd") {
        // arm_smmu_make_sva_cd(target, master, NULL, asid): EPD1 | V | IPS | AA64 | S (stall_enabled) | R | A | ASET | ASID, then EPD0 (svaCd without the mm's fields).
        const w0 = (1n << 30n) | (1n << 31n) | (CPU_PARANGE << 32n) | (1n << 41n) | (this.stallEnabled ? 1n << 44n : 0n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(d.asid) << 48n) | EPD0;
        words = [abort ? w0 & ~S_R : w0, 0n, 0n, CPU_MAIR_EL1, 0n, 0n, 0n, 0n];
      } else {
        // quiet_cd: "val |= CTXDESC_CD_0_TCR_EPD0" on the live word 0 (v6.8: "val &= ~(CTXDESC_CD_0_S | CTXDESC_CD_0_R)" first).
        const w0 = (this.mem.readU64(at) ?? 0n) | EPD0;
        words = [abort ? w0 & ~S_R : w0, ...[1, 2, 3, 4, 5, 6, 7].map((i) => this.mem.readU64(at + i * 8) ?? 0n)];
      }
      this.writeSte(at, words);
      const c = cmd(CMD_CFGI_CD, (BigInt(sid) << 32n) | (BigInt(ssid) << 12n), 1n);
      this.submit([c]);
      commands.push(c);
      cds.push({ sid, ssid, address: at, words });
    }
    d.released = true;
    if (this.svaInvalidation) {
      const tlbi = cmd(CMD_TLBI_NH_ASID, BigInt(d.asid) << 48n);
      this.submit([tlbi]);
      commands.push(tlbi);
      const atc = this.atcInvDomain(d, 0, 0);
      if (atc.length > 0) this.submit(atc);
      commands.push(...atc);
    }
    return { cds, commands, recorded: !abort };
  }

  /** arm_smmu_tlb_inv_range_asid / _domain: one CMD_TLBI_NH_VA (stage 1) or CMD_TLBI_S2_IPA (stage 2), leaf (ioPgtable.ts tlbiVaCommand). */
  tlbiVa(d: SmmuDomain, va: number): [bigint, bigint] {
    return tlbiVaCommand(d, va);
  }

  /** arm_smmu_tlb_inv_context: CMD_TLBI_NH_ASID or CMD_TLBI_S12_VMALL, + CMD_SYNC. */
  flushDomain(d: SmmuDomain): void {
    if (d.stage === "bypass") return;
    this.submit([d.stage === 1 ? cmd(CMD_TLBI_NH_ASID, BigInt(d.asid) << 48n) : cmd(CMD_TLBI_S12_VMALL, BigInt(d.vmid) << 32n)]);
  }

  /**
   * arm_smmu_cmdq_issue_cmdlist: the commands and a CMD_SYNC at CMDQ_PROD, then PROD is written
   * and the SMMU consumes them. Returns false when the SMMU stopped on an illegal command
   * (GERROR.CMDQ_ERR; the driver's gerror handler then skips it: serviceGerror()).
   */
  submit(cmds: [bigint, bigint][], sync = true): boolean {
    const u = this.unit;
    const shift = u.cmdqBase % 32;
    const mask = 2 ** shift - 1;
    const wrap = 2 ** shift;
    const base = u.cmdqBase - shift;
    let prod = u.cmdqProd & (mask | wrap);
    for (const c of sync ? [...cmds, cmd(CMD_SYNC)] : cmds) {
      const at = base + (prod & mask) * 16;
      this.mem.writeU64(at, c[0]);
      this.mem.writeU64(at + 8, c[1]);
      this.issued.push(c);
      prod = (prod + 1) & (mask | wrap);
    }
    u.writeCmdqProd(prod);
    return ((u.gerror ^ u.gerrorn) & GERROR_CMDQ_ERR) === 0;
  }

  /** The lines arm_smmu_gerror_handler prints for an active CMDQ_ERR, and the skip (the bad command becomes a CMD_SYNC). */
  serviceGerror(): string[] {
    const u = this.unit;
    const active = (u.gerror ^ u.gerrorn) >>> 0;
    if (active === 0) return [];
    const e = u.lastCmdError;
    const lines = renderCmdqError(u.name, active, u.cmdqCons, e?.cmd ?? [0n, 0n]);
    if (active & GERROR_CMDQ_ERR) {
      const shift = u.cmdqBase % 32;
      const at = u.cmdqBase - shift + (u.cmdqCons & (2 ** shift - 1)) * 16;
      const sync = cmd(CMD_SYNC);
      this.mem.writeU64(at, sync[0]);
      this.mem.writeU64(at + 8, sync[1]);
    }
    u.writeGerrorn(u.gerror);
    u.cmdqCons &= 0x00ffffff;
    u.processCommands();
    return lines;
  }

  /**
   * arm_smmu_evtq_thread: each record from EVTQ_CONS to EVTQ_PROD printed (ratelimited), CONS
   * moved; an overflow (PROD.OVFLG != CONS.OVACKFLG) printed once and acknowledged.
   */
  serviceEvents(nowNs = 0n): { raw: [bigint, bigint, bigint, bigint]; lines: string[] }[] {
    const u = this.unit;
    const out: { raw: [bigint, bigint, bigint, bigint]; lines: string[] }[] = [];
    const recs = u.pendingEvents();
    for (const r of recs) {
      // An event the fault handler consumed (queued for iommufd) is not printed (arm_smmu_handle_event returned 0).
      if (this.answerStall(r.raw) || this.reportVmaster(r.raw)) {
        out.push({ raw: r.raw, lines: [] });
        continue;
      }
      const rl = this.rs.check(nowNs, "arm_smmu_evtq_thread");
      const lines: string[] = [];
      if (rl.suppressedLine) lines.push(rl.suppressedLine);
      if (rl.allowed) lines.push(...renderEvent(r.raw, u.name, this.masters.get(Number((r.raw[0] >> 32n) & 0xffffffffn)), this.era));
      out.push({ raw: r.raw, lines });
    }
    const shift = u.evtqBase % 32;
    const idx = u.evtqProd & (2 ** (shift + 1) - 1);
    if ((u.evtqProd & Q_OVF) !== (u.evtqCons & Q_OVF)) {
      out.push({ raw: [0n, 0n, 0n, 0n], lines: [renderEvtqOverflow(u.name)] });
    }
    u.writeEvtqCons(((u.evtqProd & Q_OVF) | idx) >>> 0);
    return out;
  }

  /**
   * arm_smmu_priq_thread -> arm_smmu_handle_ppr: each Page Request printed (dmesg.ts
   * renderPageRequest); the last request of a group is answered with CMD_PRI_RESP, PRI_RESP_DENY
   * (SSV when the request had a SubstreamID), without a CMD_SYNC (arm_smmu_cmdq_issue_cmd). Then,
   * when PRIQ_PROD.OVFLG differs from PRIQ_CONS.OVACKFLG (queue_sync_prod_in() == -EOVERFLOW), the
   * dev_err "PRIQ overflow detected -- requests lost"; PRIQ_CONS = Q_OVF(prod) | wrap | index
   * ("Sync our overflow flag, as we believe we're up to speed") acknowledges the overflow. The
   * requests the SMMU discarded get no response from Linux.
   */
  servicePri(): string[] {
    const u = this.unit;
    const lines: string[] = [];
    for (const e of u.pendingPageRequests()) {
      lines.push(...renderPageRequest(u.name, e));
      if (((e[0] >> 62n) & 1n) === 1n) {
        const ssv = ((e[0] >> 63n) & 1n) === 1n;
        const w0 = ((e[0] & 0xffffffffn) << 32n) | (ssv ? (((e[0] >> 32n) & 0xfffffn) << 12n) | (1n << 11n) : 0n);
        this.submit([cmd(CMD_PRI_RESP, w0, (e[1] & 0x1ffn) | (BigInt(PRI_RESP_DENY) << 12n))], false);
      }
    }
    if ((u.priqProd & Q_OVF) !== (u.priqCons & Q_OVF)) lines.push(renderPriqOverflow(u.name));
    u.priqCons = u.priqProd >>> 0;
    return lines;
  }

  snapshot(): SmmuDriverSnapshot {
    return {
      domains: this.domains.map((d) => ({ ...d, sids: [...d.sids], ...(d.ssids ? { ssids: d.ssids.map(([a, b]): [number, number] => [a, b]) } : {}) })),
      masters: [...this.masters],
      cdTables: [...this.cdTables],
      ssidBits: [...this.ssidBits],
      next: [this.nextAsid, this.nextVmid, this.nextDomain],
      rs: Object.assign(Object.create(Ratelimit.prototype) as Ratelimit, this.rs),
      iopf: [this.nextCookie, this.iopfQueue.map((r) => ({ ...r }))],
      ...(this.vsmmus.length > 0 ? { vsmmus: this.vsmmus.map(cloneVsmmu), vmasters: [...this.vmasters].map(([k, v]) => [k, { ...v }] as [number, { vsmmu: number; vsid: number }]) } : {}),
    };
  }

  restore(s: SmmuDriverSnapshot): void {
    // Domains keep their identity (the VMM holds them): update in place, drop the ones created since.
    const byId = new Map(this.domains.map((d) => [d.id, d]));
    this.domains.length = 0;
    for (const d of s.domains) {
      const cur = byId.get(d.id);
      if (cur && d.ssids === undefined) delete cur.ssids;
      if (cur && d.released === undefined) delete cur.released;
      this.domains.push(cur ? Object.assign(cur, { ...d, sids: [...d.sids] }) : { ...d, sids: [...d.sids] });
    }
    this.masters.clear();
    for (const [k, v] of s.masters) this.masters.set(k, v);
    this.cdTables.clear();
    for (const [k, v] of s.cdTables) this.cdTables.set(k, v);
    this.ssidBits.clear();
    for (const [k, v] of s.ssidBits ?? []) this.ssidBits.set(k, v);
    [this.nextAsid, this.nextVmid, this.nextDomain] = s.next;
    this.rs = Object.assign(Object.create(Ratelimit.prototype) as Ratelimit, s.rs);
    this.issued = [];
    this.nextCookie = s.iopf?.[0] ?? 1;
    this.iopfQueue = (s.iopf?.[1] ?? []).map((r) => ({ ...r }));
    this.vsmmus = (s.vsmmus ?? []).map(cloneVsmmu);
    this.vmasters = new Map((s.vmasters ?? []).map(([k, v]) => [k, { ...v }]));
  }

  /** Global invalidations for the scenario's granularities. */
  flushAll(): void {
    this.submit([cmd(CMD_CFGI_ALL, 0n, 31n), cmd(CMD_TLBI_NSNH_ALL)]);
  }
}

export interface SmmuDriverSnapshot {
  domains: SmmuDomain[];
  masters: [number, string][];
  cdTables: [number, number][];
  /** Absent in snapshots taken before PASIDs. */
  ssidBits?: [number, number][];
  next: [number, number, number];
  rs: Ratelimit;
  /** The next fault cookie and the fault groups queued for iommufd; absent before fault delivery. */
  iopf?: [number, IopfRecord[]];
  /** vSMMUs with their vEVENTQs, and the vmasters; absent without any. */
  vsmmus?: VSmmu[];
  vmasters?: [number, { vsmmu: number; vsid: number }][];
}

/** A deep copy of a vSMMU (checkpoints): its vDEVICEs and queued vEVENTs. */
function cloneVsmmu(v: VSmmu): VSmmu {
  const q = v.veventq;
  return { ...v, vdevs: v.vdevs.map(([a, b]): [number, number] => [a, b]), ...(q !== undefined ? { veventq: { ...q, queued: q.queued.map((e) => ({ ...e, ...(e.raw !== undefined ? { raw: [...e.raw] as [bigint, bigint, bigint, bigint] } : {}) })) } } : {}) };
}

/**
 * io-pgtable-arm arm_lpae_restrict_pgsizes: the kernel's PAGE_SIZE when the SMMU implements it,
 * else the largest implemented granule below it, else the smallest above it.
 */
export function pickGranule(pageShift: number, granules: readonly number[]): number {
  if (granules.includes(pageShift)) return pageShift;
  const below = granules.filter((g) => g < pageShift);
  if (below.length > 0) return Math.max(...below);
  return granules.length > 0 ? Math.min(...granules) : 12;
}

/** A command's two dwords: opcode | w0 bits, w1. */
export function cmd(op: number, w0 = 0n, w1 = 0n): [bigint, bigint] {
  return [BigInt(op) | w0, w1];
}

/** arm_smmu_make_abort_ste: V = 1, Config = abort. */
export function abortSte(): bigint[] {
  return [1n | (BigInt(STE_CFG_ABORT) << 1n), 0n, 0n, 0n, 0n, 0n, 0n, 0n];
}

