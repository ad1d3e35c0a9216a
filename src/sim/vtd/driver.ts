/**
 * The host's intel-iommu driver (Linux drivers/iommu/intel/), as far as passthrough needs it:
 * bring-up of a DMAR unit, domains and their second-level tables, attaching devices (context
 * entries), map/unmap with superpages, and the invalidations Linux issues for each of those.
 * It talks to the unit only through MMIO registers and memory, as the real driver does.
 */
import type { PasidMapSpec } from "../../scenario/types.js";
import type { PhysicalMemory } from "../memory.js";
import { decodePageRequestDesc, type PageRequestDesc } from "./prq.js";
import { renderQiError } from "./dmesg.js";
import { kernelAtLeast } from "../kernelVersion.js";
import { dirtyTrackingNeedsSmpwc } from "../../scenario/kernelGates.js";
import { awToWidth, encodeContextEntry, widthToAw, CONTEXT_TT_DEV_IOTLB, CONTEXT_TT_MULTI_LEVEL, CONTEXT_TT_PASS_THROUGH } from "./context.js";
import { encodeDevIotlbDesc, encodePageResponseDesc, encodePdevIotlbDesc, QI_RESP_FAILURE, QI_RESP_INVALID, QI_RESP_SUCCESS } from "./qi.js";
import { CC_DEVICE, IOTLB_DSI, IOTLB_GLOBAL, IOTLB_PSI, CC_GLOBAL, PC_DOMAIN, PC_GLOBAL, PC_PASID, PIOTLB_PASID, PIOTLB_PSI, encodeCcDesc, encodeIotlbDesc, encodePcDesc, encodePiotlbDesc, encodeWaitDesc, QI_DONE } from "./qi.js";
import { FL_A, FL_D, FL_P, FL_US } from "./flpt.js";
import { IOMMU_NO_PASID, PGTT_FL, PGTT_NESTED, PGTT_PT, PGTT_SL, RTADDR_SMT } from "./scalable.js";
import {
  DMAR_CCMD_REG,
  DMAR_FRCD_REG,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_IOTLB_REG,
  DMAR_IQER_REG,
  DMAR_IQH_REG,
  DMAR_IQA_REG,
  DMAR_IQT_REG,
  DMAR_IVA_REG,
  DMAR_PQA_REG,
  DMAR_PQH_REG,
  DMAR_PQT_REG,
  DMAR_PRS_REG,
  DMAR_PECTL_REG,
  DMAR_PEDATA_REG,
  DMAR_PEADDR_REG,
  DMAR_PEUADDR_REG,
  PRS_PPR,
  PRS_PRO,
  DMAR_RTADDR_REG,
  FSTS_IQE,
  FSTS_ITE,
  IQA_DW,
  FSTS_PFO,
  FSTS_PPF,
  GCMD_QIE,
  GCMD_SRTP,
  GCMD_TE,
  capNdoms,
} from "./regs.js";
import { SL_D, SL_PS, SL_R, SL_W } from "./slpt.js";
import type { DmarUnit, FaultRecord } from "./unit.js";
import type { QiErrorInput } from "./dmesg.js";

const VTD_STRIDE = 9;
const PAGE_SHIFT = 12n;
/** Linux MAX_AGAW_PFN_WIDTH: MAX_AGAW_WIDTH (64) - VTD_PAGE_SHIFT (drivers/iommu/intel/iommu.c); a Device-TLB flush of every address. */
const MAX_AGAW_PFN_WIDTH = 52;
/**
 * Linux PRQ_ORDER: 4 in drivers/iommu/intel/iommu.h v6.5 (PRQ_DEPTH 2048 descriptors; 2 when it
 * moved to include/linux/intel-svm.h, 0 - one page, 128 descriptors - in the first svm.c).
 * `host.iommu.prq-order` overrides it; PRQ_RING_MASK = (0x1000 << PRQ_ORDER) - 0x20 follows.
 */
export const PRQ_ORDER = 4;

/**
 * The page request interrupt's MSI message as dmar_msi_write() stores it: x86 MSI address 0xFEE
 * with destination APIC id 0 in [19:12] and the vector in the data's [7:0]. The vector is the
 * simulator's choice (Linux's vector allocator is not modelled); the format is the x86 MSI one.
 */
export const PRQ_MSI_ADDRESS = 0xfee00000;
export const PRQ_MSI_DATA = 0x25;

export interface DmarDomain {
  did: number;
  /** HPA of the top-level second-level table. */
  pgd: number;
  /** Context AW (agaw): levels = 2 + aw. */
  aw: number;
  levels: number;
  passThrough: boolean;
  /** Context-entry RIDs attached to this domain. */
  rids: Set<number>;
  /**
   * Scalable mode: the domain's tables are first-level (IA-32e) tables — Linux's choice for DMA API
   * and VFIO domains when ECAP.FLTS (first_level_by_default(), drivers/iommu/intel/iommu.c).
   */
  firstLevel?: boolean;
  /**
   * The domain's table is another unit's (a domain spanning several DRHDs, sim/multiHost.ts): Linux
   * keeps one dmar_domain->pgd per domain and every unit's context entry points at it
   * (domain_context_mapping_one: context_set_address_root(context, virt_to_phys(pgd))); this unit
   * neither writes nor frees it, it only invalidates its own caches (flushShared).
   */
  sharedTable?: boolean;
  /** Allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING (Linux: domain->dirty_ops = &intel_dirty_ops). */
  dirtyOps?: boolean;
  /** Dirty tracking on (Linux dmar_domain->dirty_tracking): SLADE in the PASID entries of its devices. */
  dirtyTracking?: boolean;
}

/** The range and hint of the driver's last map/unmap flush, for the other units of a shared table. */
export interface TableFlush {
  pfn: bigint;
  pages: bigint;
  /** Invalidation hint (no page-table page was freed). */
  ih: boolean;
  unmap: boolean;
}

/** One PASID bound on a requester (scalable mode): its PASID entry's domain and type. */
export interface PasidBinding {
  did: number;
  pgtt: number;
}

/** qi_submit_sync() restarts after an ITE: how many times the simulator follows it before calling the CPU stuck. */
export const QI_ITE_RETRIES = 2;

/** One invalidation the driver issued, for the trace and the tree views. */
export interface IssuedInvalidation {
  lo: bigint;
  hi: bigint;
}

export interface DriverSnapshot {
  domains: { did: number; pgd: number; aw: number; levels: number; passThrough: boolean; rids: number[]; firstLevel?: boolean; sharedTable?: boolean; dirtyOps?: boolean; dirtyTracking?: boolean }[];
  smContextTables?: [number, number][];
  pasidDirs?: [number, number][];
  bindings?: [number, PasidBinding][];
  guestTables?: [string, number][];
  /** SVA binds and their mappings (page requests fill them in). */
  svaMm?: [number, { root: number; levels: number; maps: readonly PasidMapSpec[] }][];
  freePages: number[];
  contextTables: [number, number][];
  qiTail: number;
  nextDid: number;
  prqPartial?: PrqRequest[];
  prqIrqsSeen?: number;
}

export class IntelIommuDriver {
  readonly domains = new Map<number, DmarDomain>();
  /** Page-table pages freed by unmap, reused LIFO as the page allocator would. */
  private freePages: number[] = [];
  /** bus -> context table HPA. */
  private contextTables = new Map<number, number>();
  private rootTable = 0;
  private qiBase = 0;
  private qiTail = 0;
  private statusAddr = 0;
  private nextDid = 1;
  /** Domain AW the driver uses: the largest SAGAW width not above MGAW (Linux iommu_calculate_agaw). */
  readonly aw: number;
  readonly superpageLevels: number;
  /** Invalidations issued since takeIssued(). */
  private issued: IssuedInvalidation[] = [];
  /** The hardware caches non-present entries in caching mode (vIOMMU): flushes follow every map. */
  readonly cachingMode: boolean;
  /** The unit runs in scalable mode (ECAP.SMTS and the scenario's `scalable: true`; Linux sm_supported()). */
  readonly scalable: boolean;
  /** Scalable mode: bus * 2 + upper -> context table HPA (lower: devfn 00-7f, upper: 80-ff). */
  private smContextTables = new Map<number, number>();
  /** Scalable mode: requester id -> its PASID directory (one page: Linux intel_pasid_alloc_table with order 0). */
  private pasidDirs = new Map<number, number>();
  /** Scalable mode: requester id * 2^20 + PASID -> the bound PASID entry's domain and type. */
  readonly bindings = new Map<number, PasidBinding>();
  /**
   * ATS endpoints (scenario host.iommu.ats): requester id -> whether the driver sends their
   * Device-TLB invalidations (false: the classic bug of a driver that forgets them). Linux sets
   * info->ats_supported where ecap_dev_iotlb_support and the device has ATS (iommu_probe_device).
   */
  readonly atsRids = new Map<number, boolean>();
  /**
   * The ATS capability's Invalidate Queue Depth as pci_ats_queue_depth() returns it: 0 in the
   * capability means 32, and qi_flush_dev_iotlb sends a depth >= QI_DEV_IOTLB_MAX_INVS as 0.
   */
  readonly atsQdep = 32;

  constructor(
    readonly unit: DmarUnit,
    readonly mem: PhysicalMemory,
  ) {
    const widths = [...unit.spec.sagaw].filter((w) => w <= unit.haw).sort((a, b) => b - a);
    this.aw = widthToAw(widths[0] ?? unit.haw);
    this.superpageLevels = unit.spec.superpages["1G"] && unit.spec.superpages["2M"] ? 2 : unit.spec.superpages["2M"] ? 1 : 0;
    this.cachingMode = unit.spec.cachingMode;
    this.scalable = unit.spec.scalable === true;
  }

  /** intel_iommu_init -> init_dmars: root table, queued invalidation, global flushes, enable translation. */
  init(): void {
    const u = this.unit;
    this.rootTable = this.mem.allocPage();
    // iommu_set_root_entry(): addr |= DMA_RTADDR_SMT when sm_supported(iommu).
    u.writeReg64(DMAR_RTADDR_REG, BigInt(this.rootTable) | (this.scalable ? RTADDR_SMT : 0n));
    u.writeReg32(DMAR_GCMD_REG, GCMD_SRTP);
    let gcmd = 0;
    if (u.spec.queuedInvalidation) {
      // dmar_enable_qi(): QI_LENGTH (256) descriptors; with ecap_smts 256-bit ones in two pages
      // (alloc_pages_node order !!ecap_smts), and __dmar_enable_qi() sets "DW=1 and QS=1 in IQA_REG".
      this.qiBase = this.mem.allocPage();
      if (this.qiShift === 5) this.mem.allocPage(); // the bump allocator: the next page is contiguous
      this.statusAddr = this.mem.allocPage();
      u.writeReg64(DMAR_IQA_REG, BigInt(this.qiBase) | (this.qiShift === 5 ? IQA_DW | 1n : 0n));
      gcmd |= GCMD_QIE;
      u.writeReg32(DMAR_GCMD_REG, gcmd);
    }
    this.flushContext(CC_GLOBAL, 0, 0);
    this.flushIotlb(IOTLB_GLOBAL, 0, 0n, 0, false);
    gcmd |= GCMD_TE;
    u.writeReg32(DMAR_GCMD_REG, gcmd);
    if (this.scalable && ((u.ecap >> 29n) & 1n) === 1n) {
      // intel_svm_enable_prq (svm.c, v6.5): 2^PRQ_ORDER zeroed pages, PQH = PQT = 0,
      // PQA = virt_to_phys(prq) | PRQ_ORDER (PQS 4: 2^(4 + 7) = 2048 descriptors of 32 bytes).
      const order = this.prqOrder;
      this.prq = this.mem.allocPage();
      for (let i = 1; i < 1 << order; i++) this.mem.allocPage(); // the bump allocator: contiguous
      u.writeReg64(DMAR_PQH_REG, 0n);
      u.writeReg64(DMAR_PQT_REG, 0n);
      u.writeReg64(DMAR_PQA_REG, BigInt(this.prq) | BigInt(order));
      // The page request interrupt (intel_svm_enable_prq / intel_iommu_enable_prq:
      // dmar_alloc_hwirq + request_threaded_irq(prq_event_thread)): dmar_msi_write() programs
      // PEDATA / PEADDR / PEUADDR, dmar_msi_unmask() writes 0 to PECTL.
      u.writeReg32(DMAR_PEDATA_REG, PRQ_MSI_DATA);
      u.writeReg32(DMAR_PEADDR_REG, PRQ_MSI_ADDRESS);
      u.writeReg32(DMAR_PEUADDR_REG, 0);
      u.writeReg32(DMAR_PECTL_REG, 0);
    }
  }

  /** The unit's page request interrupts (DmarUnit.prInterrupts) prq_event_thread has run for. */
  prqIrqsSeen = 0;

  /**
   * Whether a page request interrupt came since prq_event_thread last ran: the threaded handler
   * runs because of one (request_threaded_irq), so with PECTL.IM set - or no new event, PPR having
   * stayed set - queued requests wait in the queue.
   */
  get prqInterruptPending(): boolean {
    return this.unit.prInterrupts !== this.prqIrqsSeen;
  }

  /** The page request queue (scalable mode with ECAP.PRS), 0 without one. */
  prq = 0;

  /** Linux's PRQ_ORDER on this host (host.iommu.prq-order, default 4): the queue is 4 KiB << order. */
  get prqOrder(): number {
    return this.unit.spec.prqOrder ?? PRQ_ORDER;
  }

  /** PRQ_RING_MASK: (0x1000 << PRQ_ORDER) - 0x20. */
  private get prqRingMask(): number {
    return (0x1000 << this.prqOrder) - 0x20;
  }

  /**
   * Page requests of groups whose last request has not come yet (the iopf layer's per-device
   * `partial` list, drivers/iommu/io-pgfault.c iommu_queue_iopf / iopf_handle_group): a group is
   * handled when its LPIG request arrives, and dropped by iopf_queue_discard_partial() after an
   * overflow.
   */
  private prqPartial: PrqRequest[] = [];

  /**
   * prq_event_thread (drivers/iommu/intel/svm.c v6.5, prq.c since v6.13), with the kernel's lines:
   * clear PRS.PPR; take the descriptors from PQH to PQT (PRQ_RING_MASK); reject the ones Linux
   * rejects, each with `pr_err("IOMMU: %s: ...")` and handle_bad_prq_event()'s
   * `pr_err("%s: Invalid page request: %08llx %08llx\n")` and, for the last of a group, a page
   * group response Invalid Request (QI_RESP_INVALID) - no PASID ("Page request without PASID"),
   * an address not canonical in a 48-bit address space (is_canonical_address,
   * __VIRTUAL_MASK_SHIFT 47: "Address is not canonical"), a privileged read or write ("Page request
   * in Privilege Mode"), an execute + read ("Execution request not supported"); drop Stop Markers
   * (LPIG without read or write); collect the others per group and hand a complete group to the
   * fault handler (`handle`: iommu_sva_handle_iopf's answer for each page, the first failure is
   * the group's; iopf_handler), which answers with one page group response
   * (intel_svm_page_response). Then PQH = tail, and with PRS.PRO set, by kernel generation:
   * - since "iommu/vt-d: Clear PRQ overflow only when PRQ is empty" (28a77185f1cd, v5.12; in
   *   5.10.y stable): `pr_info_ratelimited("IOMMU: %s: PRQ overflow detected\n")`, and when PQH =
   *   PQT the partial groups are discarded (iopf_queue_discard_partial), PRO is cleared and
   *   "IOMMU: %s: PRQ overflow cleared" is printed (its format has no "\n"; the next record starts
   *   a line anyway);
   * - from "iommu/vt-d: Add page request draining support" (v5.8) to v5.11: PRO is cleared,
   *   nothing is printed;
   * - before: PRO is never cleared, and the unit drops every later page request.
   * The rejection lines are those of the refactored handler (handle_bad_prq_event, v5.13-era
   * kernels to v6.x); older kernels printed other text, and a later prq.c no longer requires a
   * PASID - neither is modelled. The lines are not ratelimited here.
   */
  servicePrq(handle: (rid: number, pasid: number, addr: bigint, write: boolean) => number, kernel?: string): { handled: PrqHandled[]; lines: string[] } {
    const u = this.unit;
    const handled: PrqHandled[] = [];
    const lines: string[] = [];
    if (this.prq === 0) return { handled, lines };
    this.prqIrqsSeen = u.prInterrupts;
    const pdpHandling = prqPrivateDataHandling(kernel);
    const prqEra = prqHandlerEra(kernel);
    const name = u.name;
    const mask = this.prqRingMask;
    // qi_submit_sync of the response; a descriptor the unit refuses (an IQE: QEMU takes no page
    // group response without PASID) gets qi_check_fault()'s lines.
    const respond = (desc: QiDesc): void => {
      if (!this.submit([desc]) && this.lastQiError !== undefined) lines.push(...renderQiError(this.lastQiError, kernel));
    };
    u.writeReg32(DMAR_PRS_REG, PRS_PPR);
    const tail = Number(u.readReg64(DMAR_PQT_REG)) & mask;
    let head = Number(u.readReg64(DMAR_PQH_REG)) & mask;
    while (head !== tail) {
      const head0 = head;
      const qw0 = this.mem.readU64(this.prq + head) ?? 0n;
      const qw1 = this.mem.readU64(this.prq + head + 8) ?? 0n;
      head = (head + 32) & mask;
      const d = decodePageRequestDesc(qw0, qw1);
      // Private data by kernel generation (prqPrivateDataHandling); a kernel that ignores PDP reads neither.
      const pd = d.pdp && pdpHandling !== "ignored" ? (this.mem.readU64(this.prq + head0 + 16) ?? 0n) : undefined;
      const req: PrqRequest = { rid: d.rid, pasid: d.pasid, pasidPresent: d.pp, addr: d.addr, write: d.wrr, read: d.rdr, prgi: d.prgi, lpig: d.lpig || pd !== undefined, ...(pd !== undefined ? { privateData: pd } : {}), ...(d.pdp && pd === undefined ? { pdpIgnored: true as const } : {}) };
      // The response's PDP and private data (qw2): echoed, or cleared before qi_submit_sync (v5.0 - v5.12).
      const withPd = (desc: [bigint, bigint]): QiDesc => (pd === undefined ? desc : [desc[0] | (1n << 5n), desc[1], pdpHandling === "echo" ? pd : 0n]);
      const bad = badPageRequest(d, prqEra);
      if (bad !== undefined) {
        const { why, code } = bad;
        lines.push(...badPageRequestLines(why, prqEra, name, qw0, qw1));
        // handle_bad_prq_event / the old no_pasid label: "if (!req->lpig && !req->priv_data_present) return;" (LPIG only since v6.10).
        if (req.lpig) respond(withPd(encodePageResponseDesc(d.rid, d.pasid, code, d.prgi, d.lpig, d.pp)));
        handled.push({ ...req, code: req.lpig ? code : undefined, rejected: why, group: [req] });
        continue;
      }
      if (d.lpig && !d.rdr && !d.wrr) continue; // a Stop Marker: no response
      if (!req.lpig) {
        this.prqPartial.push(req);
        handled.push({ ...req, code: undefined, group: [] });
        continue;
      }
      // iopf_handle_group: this request and the partial ones of the same device and group index.
      const group = [...this.prqPartial.filter((p) => p.rid === d.rid && p.prgi === d.prgi), req];
      this.prqPartial = this.prqPartial.filter((p) => !(p.rid === d.rid && p.prgi === d.prgi));
      let code: number = QI_RESP_SUCCESS;
      for (const g of group) {
        code = handle(g.rid, g.pasid, g.addr, g.write);
        if (code !== QI_RESP_SUCCESS) break;
      }
      // intel_svm_page_response: QI_PGRP_LPIG(last_page), last_page being set for a PDP request too (v5.13 - v6.9).
      respond(withPd(encodePageResponseDesc(d.rid, d.pasid, code, d.prgi, pdpHandling === "cleared" ? d.lpig : true)));
      handled.push({ ...req, code, group });
    }
    u.writeReg64(DMAR_PQH_REG, BigInt(tail));
    if (u.readReg32(DMAR_PRS_REG) & PRS_PRO) {
      const era = kernelAtLeast(kernel, 5, 12, true) ? 2 : kernelAtLeast(kernel, 5, 8, true) ? 1 : 0;
      if (era === 2) lines.push(`IOMMU: ${name}: PRQ overflow detected`);
      const empty = (Number(u.readReg64(DMAR_PQH_REG)) & mask) === (Number(u.readReg64(DMAR_PQT_REG)) & mask);
      if (era === 1 || (era === 2 && empty)) {
        if (era === 2) this.prqPartial = [];
        u.writeReg32(DMAR_PRS_REG, PRS_PRO);
        if (era === 2) lines.push(`IOMMU: ${name}: PRQ overflow cleared`);
      }
    }
    return { handled, lines };
  }

  // ------------------------------------------------------------------ domains

  /** `secondLevel`: a second-level domain even where Linux would take first-level (a nesting parent, IOMMU_HWPT_ALLOC_NEST_PARENT). */
  allocDomain(passThrough = false, secondLevel = false): DmarDomain {
    const ndoms = capNdoms(this.unit.spec.nd);
    if (this.nextDid >= ndoms) throw new Error(`no free domain id: CAP.ND allows ${ndoms} domains`);
    const did = this.nextDid++;
    const pgd = passThrough ? 0 : this.allocTable();
    const d: DmarDomain = { did, pgd, aw: this.aw, levels: 2 + this.aw, passThrough, rids: new Set() };
    if (this.scalable && !passThrough && !secondLevel && (this.unit.spec.firstLevel ?? true)) {
      // First-level tables: 4-level (48-bit), or 5-level on a 57-bit unit (FLPM; Linux: cap_fl5lp_support).
      d.firstLevel = true;
      d.levels = this.unit.haw >= 57 && this.aw === 3 ? 5 : 4;
      d.aw = d.levels - 2;
    }
    this.domains.set(did, d);
    return d;
  }

  /**
   * `d` (new, not attached yet) takes `owner`'s page table, a domain of another unit: the table it
   * allocated goes back to the free list. Linux's paging_domain_compatible()
   * (drivers/iommu/intel/iommu.c) lets a unit join a domain whose agaw is not above its own
   * ("if (dmar_domain->gaw > addr_width || dmar_domain->agaw > iommu->agaw) return -EINVAL"), and
   * domain_context_mapping_one() writes the domain's pgd with context AW = the domain's agaw. So a
   * wider unit joins a narrower domain's table (its SAGAW must offer that depth, or the context entry
   * would be invalid), taking the table's depth; a narrower unit is refused with -EINVAL, no log
   * line, and VFIO type1 keeps the group in a domain of its own (vfio_iommu_type1_attach_group: the
   * compatible-domain loop moves on): false, and `d` keeps a table of its own.
   */
  shareTable(d: DmarDomain, owner: DmarDomain): boolean {
    if (d.passThrough || owner.passThrough || !!d.firstLevel !== !!owner.firstLevel || d.rids.size > 0) return false;
    if (owner.levels > d.levels) return false;
    // (Scalable mode writes the unit's own AW into PASID entries (setPasidEntry): a shallower shared table is legacy mode's only.)
    if (owner.levels < d.levels && (d.firstLevel === true || this.scalable || !this.unit.spec.sagaw.includes(awToWidth(owner.aw) as 39 | 48 | 57))) return false;
    this.freeTableTree(d.pgd, 1);
    d.pgd = owner.pgd;
    d.aw = owner.aw;
    d.levels = owner.levels;
    d.sharedTable = true;
    return true;
  }

  /**
   * The flushes this unit issues after another unit's driver changed a table `d` shares
   * (intel_iommu_tlb_sync / cache_tag_flush_range walk every unit the domain is attached to, each
   * with its own DID): an unmap's IOTLB (and Device-TLB) flush, a map's in caching mode only.
   */
  flushShared(d: DmarDomain, f: TableFlush): void {
    if (!f.unmap) {
      if (this.cachingMode) this.flushIotlbRange(d, f.pfn, f.pages, false);
      return;
    }
    this.unmapping = true;
    try {
      this.flushIotlbRange(d, f.pfn, f.pages, f.ih);
    } finally {
      this.unmapping = false;
    }
  }

  /** The last map's or unmap's range (what a unit sharing the table flushes). */
  lastFlush: TableFlush | undefined;

  /** domain_exit: domain_unmap of the whole range onto a freelist, then iommu_put_pages_list: the pages keep their entries. */
  freeDomain(d: DmarDomain): void {
    if (!d.passThrough && !d.sharedTable) this.freeTableTree(d.pgd, d.levels, false);
    this.domains.delete(d.did);
  }

  /** domain_context_mapping_one for each DMA alias of the device. */
  attach(d: DmarDomain, rids: number[]): void {
    if (this.scalable) {
      for (const rid of rids) this.smAttach(d, rid);
      return;
    }
    for (const rid of rids) {
      const bus = rid >> 8;
      const devfn = rid & 0xff;
      const ctx = this.contextTable(bus);
      const at = ctx + devfn * 16;
      const oldLo = this.mem.readU64(at) ?? 0n;
      const oldHi = this.mem.readU64(at + 8) ?? 0n;
      if (oldLo & 1n) {
        // Already present for another domain: block translation first, as Linux does on re-attach.
        this.clearContext(rid, Number((oldHi >> 8n) & 0xffffn));
      }
      // domain_context_mapping_one: CONTEXT_TT_DEV_IOTLB where info->ats_supported; then
      // iommu_enable_pci_caps() enables the device's ATS (pci_enable_ats).
      const ats = !d.passThrough && this.atsRids.has(rid);
      const tt = d.passThrough ? CONTEXT_TT_PASS_THROUGH : ats ? CONTEXT_TT_DEV_IOTLB : CONTEXT_TT_MULTI_LEVEL;
      if (ats) this.unit.atsSids.add(rid);
      const [lo, hi] = encodeContextEntry({ slptptr: BigInt(d.pgd), tt, aw: d.aw, did: d.did });
      this.mem.writeU64(at + 8, hi);
      this.mem.writeU64(at, lo);
      d.rids.add(rid);
      // Non-present -> present: only caching-mode hardware needs a flush (it caches non-present
      // entries under domain 0); otherwise a write-buffer flush suffices.
      if (this.cachingMode) {
        this.flushContext(CC_DEVICE, 0, rid);
        this.flushIotlb(IOTLB_DSI, d.did, 0n, 0, false);
      }
    }
  }

  /** domain_context_clear_one for each alias. */
  detach(d: DmarDomain, rids: number[]): void {
    if (this.scalable) {
      for (const rid of rids) {
        this.tearDownPasid(rid, IOMMU_NO_PASID);
        d.rids.delete(rid);
      }
      return;
    }
    for (const rid of rids) {
      this.clearContext(rid, d.did);
      d.rids.delete(rid);
    }
  }

  private clearContext(rid: number, did: number): void {
    const ctx = this.contextTables.get(rid >> 8);
    if (ctx === undefined) return;
    const at = ctx + (rid & 0xff) * 16;
    this.mem.writeU64(at, 0n);
    this.mem.writeU64(at + 8, 0n);
    this.flushContext(CC_DEVICE, did, rid);
    this.flushIotlb(IOTLB_DSI, did, 0n, 0, false);
    // domain_context_clear_one: __iommu_flush_dev_iotlb(info, 0, MAX_AGAW_PFN_WIDTH) - the whole Device-TLB.
    this.flushDevIotlb(rid, 0n, MAX_AGAW_PFN_WIDTH);
    for (const dom of this.domains.values()) dom.rids.delete(rid);
  }

  private contextTable(bus: number): number {
    let ctx = this.contextTables.get(bus);
    if (ctx === undefined) {
      ctx = this.allocTable();
      this.contextTables.set(bus, ctx);
      this.mem.writeU64(this.rootTable + bus * 16, BigInt(ctx) | 1n);
    }
    return ctx;
  }

  // ------------------------------------------------------------------ dirty tracking (iommufd)

  /**
   * IOMMU_HWPT_ALLOC_DIRTY_TRACKING (intel_iommu_domain_alloc_paging_flags): a second-level domain,
   * on a unit with ssads_supported() (scalable mode and ECAP.SLADS); otherwise -EOPNOTSUPP.
   */
  allocDirtyDomain(): DmarDomain | string {
    if (!this.scalable || this.unit.spec.slads !== true) return `${this.unit.name} cannot track dirty pages: ssads_supported() needs scalable mode and ECAP.SLADS`;
    if (((this.unit.ecap >> 48n) & 1n) === 0n && dirtyTrackingNeedsSmpwc(this.kernel)) return `${this.unit.name} cannot track dirty pages: ssads_supported() needs ECAP.SMPWC as well (page walks not snooped; v6.18 on)`;
    const d = this.allocDomain(false, true);
    d.dirtyOps = true;
    return d;
  }

  /**
   * intel_iommu_set_dirty_tracking -> intel_pasid_setup_dirty_tracking for each device: SLADE set or
   * cleared in its RID_PASID entry, then (VT-d spec Table 25) a PASID-selective PASID-cache
   * invalidation and a domain-selective IOTLB flush.
   */
  setDirtyTracking(d: DmarDomain, enable: boolean): string | undefined {
    if (d.dirtyOps !== true) return `domain ${d.did} was not allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING (no dirty_ops)`;
    if ((d.dirtyTracking === true) === enable) return undefined;
    d.dirtyTracking = enable;
    for (const rid of d.rids) {
      this.setPasidEntry(rid, IOMMU_NO_PASID, PGTT_SL, d.did, d.pgd, 0, 4, { slade: enable });
      this.submit([encodePcDesc(PC_PASID, d.did, IOMMU_NO_PASID)]);
    }
    if (d.rids.size > 0) this.flushIotlb(IOTLB_DSI, d.did, 0n, 0, false);
    return undefined;
  }

  /**
   * intel_iommu_read_and_clear_dirty: -EINVAL while tracking is off; else, page by page from `iova`
   * (pfn_to_dma_pte: the leaf and its level, a hole skipped by its level's size), D tested and
   * cleared (dma_sl_pte_test_and_clear_dirty) and [iova, iova + page size) recorded, as 4 KiB pages
   * of the bitmap (a dirty 2 MiB leaf marks every page of the range it covers); then iommufd's
   * iommu_iotlb_sync of the gathered range: a page-selective flush with IH = 1 (no table was freed),
   * so the next write walks again and sets D.
   */
  readAndClearDirty(d: DmarDomain, iova: bigint, length: bigint): bigint[] | string {
    if (d.dirtyTracking !== true) return `dirty tracking is off for domain ${d.did}`;
    const out: bigint[] = [];
    const end = iova + length;
    let a = iova;
    while (a < end) {
      let table = d.pgd;
      let size = 1n << 12n;
      for (let level = d.levels; level >= 1; level--) {
        size = 1n << BigInt(12 + VTD_STRIDE * (level - 1));
        const at = table + Number((a >> BigInt(12 + VTD_STRIDE * (level - 1))) & 511n) * 8;
        const v = this.mem.readU64(at) ?? 0n;
        if ((v & 3n) === 0n) break;
        if (level === 1 || (v & BigInt(SL_PS)) !== 0n) {
          if ((v & BigInt(SL_D)) !== 0n) {
            this.mem.writeU64(at, v & ~BigInt(SL_D));
            // iommu_dirty_bitmap_record(dirty, iova, pgsize): [a, a + size) in the bitmap's 4 KiB pages.
            for (let p = a; p < a + size && p < end; p += 0x1000n) out.push(p);
          }
          break;
        }
        table = Number(v & 0x000ffffffffff000n);
      }
      a += size;
    }
    if (out.length > 0) this.flushIotlbRange(d, iova >> PAGE_SHIFT, (length + 0xfffn) >> PAGE_SHIFT, true);
    return out;
  }

  // ------------------------------------------------------------------ map / unmap

  /**
   * __domain_mapping: writes leaf entries for [iova, iova + size) -> hpa with the largest page
   * size that alignment and CAP.SLLPS allow (hardware_largepage_caps), allocating tables on demand.
   * prot: 1 = read, 2 = write (IOMMU_READ / IOMMU_WRITE map to DMA_PTE_READ / DMA_PTE_WRITE).
   * `flush` false: a guest driver that forgets the caching-mode flush (sim/viommu.ts).
   */
  map(d: DmarDomain, iova: bigint, hpa: bigint, size: bigint, prot: number, flush = this.cachingMode): void {
    let iovPfn = iova >> PAGE_SHIFT;
    let phyPfn = hpa >> PAGE_SHIFT;
    let pages = size >> PAGE_SHIFT;
    const firstPfn = iovPfn;
    const total = pages;
    while (pages > 0n) {
      const level = this.largepageLevel(iovPfn, phyPfn, pages);
      const lvPages = 1n << BigInt(VTD_STRIDE * (level - 1));
      const pte = (phyPfn << PAGE_SHIFT) | this.leafAttr(d, prot) | (level > 1 ? BigInt(SL_PS) : 0n);
      const at = this.entryAddress(d, iovPfn << PAGE_SHIFT, level, true)!;
      if (level > 1) this.freeLowerLevel(at, level); // a smaller-page table being replaced
      this.mem.writeU64(at, pte);
      iovPfn += lvPages;
      phyPfn += lvPages;
      pages -= lvPages;
    }
    this.lastFlush = { pfn: firstPfn, pages: total, ih: false, unmap: false };
    if (flush) this.flushIotlbRange(d, firstPfn, total, false);
  }

  /**
   * Leaf attributes (__domain_mapping): DMA_PTE_READ/WRITE from prot; a first-level domain's
   * entries also get DMA_FL_PTE_PRESENT | DMA_FL_PTE_US | DMA_FL_PTE_ACCESS, and DMA_FL_PTE_DIRTY
   * when writable (bit 1 is R/W in both formats).
   */
  private leafAttr(d: DmarDomain, prot: number): bigint {
    const rw = BigInt(prot & (SL_R | SL_W));
    if (!d.firstLevel) return rw;
    return rw | BigInt(FL_P | FL_US | FL_A) | (prot & SL_W ? BigInt(FL_D) : 0n);
  }

  /** Removes [iova, iova + size), rounding up to whole superpages; frees fully covered tables. */
  unmap(d: DmarDomain, iova: bigint, size: bigint, flush = true): bigint {
    const start = iova >> PAGE_SHIFT;
    const last = (iova + size - 1n) >> PAGE_SHIFT;
    const freed = { tables: 0, end: last };
    this.clearLevel(d.pgd, d.levels, 0n, start, last, freed);
    const pages = freed.end - start + 1n;
    this.lastFlush = { pfn: start, pages, ih: freed.tables === 0, unmap: true };
    // cache_tag_flush_range(domain, start, end, ih = no page-table page was freed)
    if (flush) {
      this.unmapping = true;
      try {
        this.flushIotlbRange(d, start, pages, freed.tables === 0);
      } finally {
        this.unmapping = false;
      }
    }
    return pages << PAGE_SHIFT;
  }

  private clearLevel(table: number, level: number, base: bigint, start: bigint, last: bigint, freed: { tables: number; end: bigint }): void {
    const span = 1n << BigInt(VTD_STRIDE * (level - 1)); // pages per entry
    const first = Number(((start > base ? start : base) - base) / span);
    for (let i = first; i < 512; i++) {
      const entryBase = base + BigInt(i) * span;
      if (entryBase > last) break;
      const at = table + i * 8;
      const v = this.mem.readU64(at) ?? 0n;
      if ((v & 3n) === 0n) continue;
      const leaf = level === 1 || (v & BigInt(SL_PS)) !== 0n;
      const entryLast = entryBase + span - 1n;
      if (leaf) {
        this.mem.writeU64(at, 0n);
        if (entryLast > freed.end) freed.end = entryLast;
        continue;
      }
      const child = Number(v & 0x000ffffffffff000n);
      if (start <= entryBase && last >= entryLast) {
        // "If range covers entire pagetable, free it" (dma_pte_clear_level, drivers/iommu/intel/iommu.c
        // v5.x-v6.x): "These subordinate page tables are going away entirely. Don't bother to clear
        // them; we're just going to *free* them." Only the entry that points at the table is cleared;
        // the table pages go on the freelist (dma_pte_list_pagetables) with their old entries, and
        // intel_iommu_tlb_sync hands them back (iommu_put_pages_list) after the IOTLB flush. A walk
        // that still reaches a freed page (a paging-structure cache kept by a flush with IH = 1)
        // reads its old entries until the page is allocated again (allocTable zeroes it then).
        this.mem.writeU64(at, 0n);
        this.freeTableTree(child, level - 1, false);
        freed.tables++;
        continue;
      }
      this.clearLevel(child, level - 1, entryBase, start, last, freed);
    }
  }

  private largepageLevel(iovPfn: bigint, phyPfn: bigint, pages: bigint): number {
    let support = this.superpageLevels;
    let level = 1;
    let merge = iovPfn | phyPfn;
    const mask = (1n << BigInt(VTD_STRIDE)) - 1n;
    while (support > 0 && (merge & mask) === 0n) {
      pages >>= BigInt(VTD_STRIDE);
      if (pages === 0n) break;
      merge >>= BigInt(VTD_STRIDE);
      level++;
      support--;
    }
    return level;
  }

  /**
   * HPA of the entry for `iova` at `level`, descending from the domain's pgd; with `create`,
   * missing tables are allocated and linked with R|W (Linux pfn_to_dma_pte).
   */
  entryAddress(d: DmarDomain, iova: bigint, level: number, create: boolean): number | undefined {
    return this.entryAddressIn(d.pgd, d.levels, d.firstLevel === true, iova, level, create);
  }

  /**
   * entryAddress for a table tree at `pgd` (pfn_to_dma_pte; first-level tables link with US | A as
   * well). Without alloc, write and read: the driver's own tables in host memory (no closures made
   * per call: a VM's start maps its memory through here).
   */
  entryAddressIn(pgd: number, levels: number, firstLevel: boolean, iova: bigint, level: number, create: boolean, alloc?: () => number, write?: (at: number, v: bigint) => void, read?: (at: number) => bigint | undefined): number | undefined {
    let table = pgd;
    for (let l = levels; l > level; l--) {
      const at = table + Number((iova >> BigInt(12 + VTD_STRIDE * (l - 1))) & 511n) * 8;
      let v = (read === undefined ? this.mem.readU64(at) : read(at)) ?? 0n;
      if ((v & 3n) === 0n || (v & BigInt(SL_PS)) !== 0n) {
        if (!create) return undefined;
        const page = alloc === undefined ? this.allocTable() : alloc();
        v = BigInt(page) | BigInt(SL_R | SL_W) | (firstLevel ? BigInt(FL_US | FL_A) : 0n);
        if (write === undefined) this.mem.writeU64(at, v);
        else write(at, v);
      }
      table = Number(v & 0x000ffffffffff000n);
    }
    return table + Number((iova >> BigInt(12 + VTD_STRIDE * (level - 1))) & 511n) * 8;
  }

  private freeLowerLevel(at: number, level: number): void {
    const v = this.mem.readU64(at) ?? 0n;
    if ((v & 3n) !== 0n && (v & BigInt(SL_PS)) === 0n) this.freeTableTree(Number(v & 0x000ffffffffff000n), level - 1);
  }

  private allocTable(): number {
    const page = this.freePages.pop();
    if (page !== undefined) {
      this.mem.zeroPage(page);
      return page;
    }
    return this.mem.allocPage();
  }

  /**
   * Returns a table tree to the allocator. `clear`: its entries were cleared first, as
   * dma_pte_free_pagetable (dma_pte_clear_range, then dma_pte_free_level) does when a superpage
   * replaces smaller tables; an unmap's freelist (dma_pte_list_pagetables) keeps them as they were.
   */
  private freeTableTree(table: number, level: number, clear = true): void {
    if (level > 1) {
      for (let i = 0; i < 512; i++) {
        const v = this.mem.readU64(table + i * 8) ?? 0n;
        if ((v & 3n) !== 0n && (v & BigInt(SL_PS)) === 0n) this.freeTableTree(Number(v & 0x000ffffffffff000n), level - 1, clear);
      }
    }
    if (clear) this.mem.zeroPage(table);
    this.freePages.push(table);
  }

  // ------------------------------------------------------------------ invalidation

  /**
   * iommu_flush_iotlb_psi / calculate_psi_aligned_address: a power-of-two, naturally aligned
   * page range covering [pfn, pfn + pages), or a domain-selective flush when PSI is absent or the
   * mask exceeds CAP.MAMV.
   */
  flushIotlbRange(d: DmarDomain, pfn: bigint, pages: bigint, ih: boolean): void {
    let aligned = 1n;
    while (aligned < pages) aligned <<= 1n;
    let mask = bitLength(aligned) - 1;
    const bitmask = aligned - 1n;
    let addrPfn = pfn;
    if ((bitmask & pfn) !== 0n) {
      const endPfn = pfn + pages - 1n;
      const shared = ~(pfn ^ endPfn) & ~bitmask & ((1n << 64n) - 1n);
      mask = shared !== 0n ? ffs(shared) : 64;
      addrPfn = mask >= 64 ? 0n : pfn & ~((1n << BigInt(mask)) - 1n);
    }
    if (d.firstLevel) {
      // cache_tag_flush_range() for a first-level domain: qi_flush_piotlb(did, IOMMU_NO_PASID, ...),
      // PASID-selective when the mask exceeds MAMV. Every PASID bound to the domain is flushed.
      for (const pasid of this.pasidsOf(d.did)) {
        if (mask > this.unit.spec.mamv) this.submit([encodePiotlbDesc(PIOTLB_PASID, d.did, pasid)]);
        else this.submit([encodePiotlbDesc(PIOTLB_PSI, d.did, pasid, addrPfn << PAGE_SHIFT, mask, ih)]);
      }
      // iommu_flush_iotlb_psi (v6.5) flushes the Device-TLB after the PASID-based IOTLB flush too:
      // iommu_flush_dev_iotlb(domain, addr, mask), a request-without-PASID (RID_PASID) descriptor.
      if (!this.cachingMode || this.unmapping) for (const rid of d.rids) this.flushDevIotlb(rid, pfn << PAGE_SHIFT, mask);
      return;
    }
    if (!this.unit.spec.pageSelectiveInvalidation || mask > this.unit.spec.mamv) {
      this.flushIotlb(IOTLB_DSI, d.did, 0n, 0, false);
    } else {
      this.flushIotlb(IOTLB_PSI, d.did, addrPfn << PAGE_SHIFT, mask, ih);
    }
    // iommu_flush_iotlb_psi (v6.5): `if (!cap_caching_mode(iommu->cap) || !map)
    // iommu_flush_dev_iotlb(domain, addr, mask)` with addr = pfn << VTD_PAGE_SHIFT, for every
    // device of the domain with ATS enabled. This path runs for unmaps (and caching-mode maps, skipped).
    if (!this.cachingMode || this.unmapping) for (const rid of d.rids) this.flushDevIotlb(rid, pfn << PAGE_SHIFT, mask);
  }

  /** Set while unmap() flushes: iommu_flush_iotlb_psi's `map` = 0. */
  private unmapping = false;

  /** __iommu_flush_dev_iotlb -> qi_flush_dev_iotlb(iommu, sid, pfsid, qdep, addr, mask) for an ATS endpoint the driver does not forget. */
  private flushDevIotlb(rid: number, addr: bigint, mask: number): void {
    if (this.atsRids.get(rid) !== true || !this.unit.atsSids.has(rid) || !this.unit.spec.queuedInvalidation) return;
    // PFSID: 0 unless ECAP.DIT (info->pfsid is set only then; the unit advertises no DIT).
    this.submit([encodeDevIotlbDesc(rid, 0, this.atsQdep, addr, mask)]);
  }

  flushContext(granularity: number, did: number, sid: number): void {
    if (this.unit.spec.queuedInvalidation) {
      this.submit([encodeCcDesc(granularity, did, sid, 0)]);
    } else {
      // Register-based: ICC | CIRG | SID | DID (Linux __iommu_flush_context).
      const v = (1n << 63n) | (BigInt(granularity) << 61n) | (BigInt(sid & 0xffff) << 16n) | BigInt(did & 0xffff);
      this.issued.push({ lo: v, hi: 0n });
      this.unit.writeReg64(DMAR_CCMD_REG, v);
    }
  }

  flushIotlb(granularity: number, did: number, addr: bigint, am: number, ih: boolean): void {
    if (this.unit.spec.queuedInvalidation) {
      this.submit([encodeIotlbDesc(granularity, did, addr, am, ih)]);
    } else {
      if (granularity === IOTLB_PSI) this.unit.writeReg64(DMAR_IVA_REG, addr | (ih ? 1n << 6n : 0n) | BigInt(am));
      const v = (1n << 63n) | (BigInt(granularity) << 60n) | (BigInt(did & 0xffff) << 32n);
      this.issued.push({ lo: v, hi: 0n });
      this.unit.writeReg64(DMAR_IOTLB_REG, v);
    }
  }

  // ------------------------------------------------------------------ scalable mode

  /** The PASIDs bound to a domain on any requester. */
  private pasidsOf(did: number): number[] {
    const out = new Set<number>();
    for (const [key, b] of this.bindings) if (b.did === did) out.add(key % 1048576);
    return [...out];
  }

  /** The scalable-mode context table of (bus, half), allocated and linked into the root entry's LCTP/UCTP. */
  private smContextTable(bus: number, upper: boolean): number {
    const key = bus * 2 + (upper ? 1 : 0);
    let ctx = this.smContextTables.get(key);
    if (ctx === undefined) {
      ctx = this.allocTable();
      this.smContextTables.set(key, ctx);
      this.mem.writeU64(this.rootTable + bus * 16 + (upper ? 8 : 0), BigInt(ctx) | 1n);
    }
    return ctx;
  }

  /** Scalable-mode context entry address of a requester (32-byte entries, 128 per table). */
  smContextEntry(rid: number): number {
    const devfn = rid & 0xff;
    return this.smContextTable(rid >> 8, devfn >= 0x80) + (devfn & 0x7f) * 32;
  }

  /**
   * PDTS of the one-page PASID directory: 512 entries = 2^(PDTS + 7) (Linux context_get_sm_pds() of
   * a table with max_pasid = 1 << (order + PAGE_SHIFT + 3), order 0), fewer when ECAP.PSS is smaller.
   */
  get pdts(): number {
    const bits = this.unit.spec.pasidBits ?? 20;
    return Math.max(0, Math.min(2, bits - 13));
  }

  /**
   * domain_context_mapping_one() in scalable mode: the PASID directory (intel_pasid_alloc_table),
   * the context entry (PASIDDIRPTR | PDTS, PASIDE, RID_PASID = IOMMU_NO_PASID), and the RID_PASID
   * entry for the domain (intel_pasid_setup_first_level / _second_level / _pass_through).
   */
  private smAttach(d: DmarDomain, rid: number): void {
    const at = this.smContextEntry(rid);
    let dir = this.pasidDirs.get(rid);
    if (dir === undefined) {
      dir = this.allocTable();
      this.pasidDirs.set(rid, dir);
    }
    if (this.bindings.has(rid * 1048576 + IOMMU_NO_PASID)) this.tearDownPasid(rid, IOMMU_NO_PASID);
    // val[0]: P | PASIDE (bit 3) | PDTS [11:9] | PASIDDIRPTR; val[1]: RID_PASID = IOMMU_NO_PASID (context_set_sm_rid2pasid).
    // domain_context_mapping_one (v6.5, sm_supported): context_set_sm_dte (bit 2) where
    // info->ats_supported - for every domain type, pass-through included - and the device's ATS
    // is then enabled (iommu_enable_pci_caps).
    const ats = this.atsRids.has(rid);
    if (ats) this.unit.atsSids.add(rid);
    // context_set_sm_pre (bit 4) where info->pri_supported (ecap_prs and the device's PRI capability).
    const pri = ats && ((this.unit.ecap >> 29n) & 1n) === 1n && (this.unit.spec.pri ?? []).some((k) => this.priRid(k) === rid);
    if (pri) this.unit.priSids.add(rid);
    const lo = BigInt(dir) | (BigInt(this.pdts) << 9n) | 8n | (ats ? 4n : 0n) | (pri ? 0x10n : 0n) | 1n;
    this.mem.writeU64(at + 8, BigInt(IOMMU_NO_PASID));
    this.mem.writeU64(at + 16, 0n);
    this.mem.writeU64(at + 24, 0n);
    this.mem.writeU64(at, lo);
    const pgtt = d.passThrough ? PGTT_PT : d.firstLevel ? PGTT_FL : PGTT_SL;
    // intel_pasid_setup_second_level: `if (domain->dirty_tracking) pasid_set_ssade(pte)`.
    this.setPasidEntry(rid, IOMMU_NO_PASID, pgtt, d.did, d.firstLevel ? 0 : d.pgd, d.firstLevel ? d.pgd : 0, d.firstLevel ? d.levels : 4, { slade: d.dirtyTracking === true });
    d.rids.add(rid);
    if (this.cachingMode) {
      this.flushContext(CC_DEVICE, 0, rid);
      this.submit([encodePcDesc(PC_PASID, d.did, IOMMU_NO_PASID)]);
    }
  }

  /**
   * Writes the PASID table entry of (rid, pasid) (Linux pasid_pte_config_*: PGTT, DID, AW, SLPTPTR,
   * FLPTPTR and FLPM, SRE/WPE where asked), allocating the PASID table page on demand
   * (intel_pasid_get_entry). The entry is written P last, as Linux's pasid_set_present() does.
   */
  setPasidEntry(rid: number, pasid: number, pgtt: number, did: number, slptr: number, flptr: number, flLevels: number, o: { sre?: boolean; wpe?: boolean; slade?: boolean }): void {
    const dir = this.pasidDirs.get(rid);
    if (dir === undefined) throw new Error(`no PASID table for requester ${rid.toString(16)}: attach it first`);
    const dirAt = dir + (pasid >>> 6) * 8;
    let de = this.mem.readU64(dirAt) ?? 0n;
    if ((de & 1n) === 0n) {
      de = BigInt(this.allocTable()) | 1n;
      this.mem.writeU64(dirAt, de);
    }
    const at = Number(de & ~0xfffn) + (pasid & 0x3f) * 64;
    // SLADE, bit 9 (Linux pasid_set_ssade: dirty tracking on a second-level or nested PASID).
    const slade = o.slade === true && (pgtt === PGTT_SL || pgtt === PGTT_NESTED) ? 1n << 9n : 0n;
    const v0 = BigInt(pgtt === PGTT_SL || pgtt === PGTT_NESTED ? slptr : 0) | (BigInt(pgtt) << 6n) | (BigInt(this.aw) << 2n) | slade;
    const v2 = pgtt === PGTT_FL || pgtt === PGTT_NESTED ? BigInt(flptr) | (flLevels === 5 ? 4n : 0n) | (o.sre ? 1n : 0n) | (o.wpe ? 0x10n : 0n) : 0n;
    // PWSNP, bit 87: "pasid_set_page_snoop(pte, !!ecap_smpwc(iommu->ecap))" in every pasid_pte_config_* / intel_pasid_setup_*.
    const pwsnp = ((this.unit.ecap >> 48n) & 1n) === 1n ? 1n << 23n : 0n;
    this.mem.writeU64(at + 8, BigInt(did & 0xffff) | pwsnp);
    this.mem.writeU64(at + 16, v2);
    for (let i = 3; i < 8; i++) this.mem.writeU64(at + 8 * i, 0n);
    this.mem.writeU64(at, v0 | 1n);
    this.bindings.set(rid * 1048576 + pasid, { did, pgtt });
  }

  /**
   * intel_pasid_tear_down_entry(): clear the PASID entry, PASID-cache invalidation (PASID-selective),
   * then the IOTLB: PASID-based for first-level and pass-through entries, domain-selective for
   * second-level and nested (qi_flush_piotlb / flush_iotlb DSI).
   */
  tearDownPasid(rid: number, pasid: number): boolean {
    const key = rid * 1048576 + pasid;
    const b = this.bindings.get(key);
    if (b === undefined) return false;
    const dir = this.pasidDirs.get(rid)!;
    const de = this.mem.readU64(dir + (pasid >>> 6) * 8) ?? 0n;
    if (de & 1n) {
      const at = Number(de & ~0xfffn) + (pasid & 0x3f) * 64;
      for (let i = 0; i < 8; i++) this.mem.writeU64(at + 8 * i, 0n);
    }
    this.bindings.delete(key);
    this.svaMm.delete(key);
    this.submit([encodePcDesc(PC_PASID, b.did, pasid)]);
    if (b.pgtt === PGTT_FL || b.pgtt === PGTT_PT) this.submit([encodePiotlbDesc(PIOTLB_PASID, b.did, pasid)]);
    else this.flushIotlb(IOTLB_DSI, b.did, 0n, 0, false);
    // devtlb_invalidation_with_pasid (drivers/iommu/intel/pasid.c, v6.5), skipped in caching mode:
    // RID_PASID with qi_flush_dev_iotlb, another PASID with qi_flush_dev_iotlb_pasid, every address
    // (addr 0, 64 - VTD_PAGE_SHIFT).
    if (!this.cachingMode) {
      if (pasid === IOMMU_NO_PASID) this.flushDevIotlb(rid, 0n, MAX_AGAW_PFN_WIDTH);
      else if (this.atsRids.get(rid) === true && this.unit.atsSids.has(rid) && this.unit.spec.queuedInvalidation) this.submit([encodePdevIotlbDesc(rid, 0, pasid, this.atsQdep, 0n, MAX_AGAW_PFN_WIDTH)]);
    }
    return true;
  }

  /** A PASID-cache invalidation of every PASID, as after a global change (unused by Linux's steady state; kept for symmetry). */
  flushPasidCacheGlobal(): void {
    this.submit([encodePcDesc(PC_GLOBAL, 0)]);
  }

  /** A PASID-cache invalidation of all PASIDs of a domain. */
  flushPasidCacheDomain(did: number): void {
    this.submit([encodePcDesc(PC_DOMAIN, did)]);
  }

  /** SVA binds (first-level PASIDs): requester id * 2^20 + PASID -> the process's page table and mappings (its vmas). */
  readonly svaMm = new Map<number, { root: number; levels: number; maps: readonly PasidMapSpec[] }>();

  /** Requester ids of the scenario's device keys, set by the host (host.ts) for `pri`. */
  priRid: (key: string) => number | undefined = () => undefined;

  /** The PASID directory of a requester (scalable mode), if it has one. */
  pasidDirectory(rid: number): number | undefined {
    return this.pasidDirs.get(rid);
  }

  /** Guest table pages handed out per VM (nested binds), counted down from the top of its low RAM. */
  private guestTables = new Map<string, number>();

  /** The next guest-physical page for a guest first-level table of VM `vm` (below `top`). */
  allocGuestTablePage(vm: string, top: number): number {
    const n = (this.guestTables.get(vm) ?? 0) + 1;
    this.guestTables.set(vm, n);
    return top - n * 4096;
  }

  /** Allocates a page from the driver's table pool (first-level tables of an SVA bind). */
  allocPage(): number {
    return this.allocTable();
  }

  /** Allocates a domain id (an SVA or nested domain: DID only, its tables are not the driver's). */
  allocDid(): number {
    const ndoms = capNdoms(this.unit.spec.nd);
    if (this.nextDid >= ndoms) throw new Error(`no free domain id: CAP.ND allows ${ndoms} domains`);
    return this.nextDid++;
  }

  /** Submits a custom descriptor (a scenario's `invalidate` step). */
  submitRaw(desc: [bigint, bigint]): boolean {
    return this.submit([desc]);
  }

  /** The invalidation-queue error of the last failed submit, as qi_dump_fault() sees it. */
  lastQiError?: QiErrorInput;
  /** What the unit said about that error's queue or descriptor width (DmarUnit.qiError), "" for other errors. */
  lastQiWhy = "";

  /**
   * Linux qi_shift(): DMAR_IQ_SHIFT (4) + !!ecap_smts: descriptors are 1 << shift bytes, and IQH /
   * IQT hold index << shift. Linux decides by the capability, not by what IQA says now.
   */
  get qiShift(): number {
    return this.unit.spec.scalable === true ? 5 : 4;
  }

  /** qi_submit_sync: descriptors + a wait descriptor, IQT bump, poll the status word. */
  private submit(descs: QiDesc[]): boolean {
    const all: QiDesc[] = [...descs, encodeWaitDesc(BigInt(this.statusAddr), QI_DONE)];
    const waitIndex = (this.qiTail + descs.length) % 256;
    const shift = this.qiShift;
    this.mem.write32(this.statusAddr, 0);
    for (const [lo, hi, qw2] of all) {
      // qi_submit_sync: memcpy(qi->desc + (index << shift), &desc[i], 1 << shift); qw2/qw3 are 0
      // (struct qi_desc) but for a page group response's private data (qw2; qw3 is 0 here).
      const at = this.qiBase + (this.qiTail << shift);
      this.mem.writeU64(at, lo);
      this.mem.writeU64(at + 8, hi);
      if (shift === 5) {
        this.mem.writeU64(at + 16, qw2 ?? 0n);
        this.mem.writeU64(at + 24, 0n);
      }
      this.qiTail = (this.qiTail + 1) % 256;
      this.issued.push({ lo, hi });
    }
    this.unit.writeReg64(DMAR_IQT_REG, BigInt(this.qiTail << shift));
    const fsts = this.unit.readReg32(DMAR_FSTS_REG);
    if (fsts & FSTS_ITE) return this.invalidationTimeout(descs, shift);
    if (fsts & FSTS_IQE) {
      // qi_check_fault(): dump the descriptors at IQH and before it, overwrite the bad one with
      // the wait descriptor, clear IQE so the hardware resumes, and fail the request (-EINVAL).
      const head = Number((this.unit.readReg64(DMAR_IQH_REG) >> BigInt(shift)) & 0xffn);
      const desc = (i: number) => ({ qw0: this.mem.readU64(this.qiBase + (i << shift)) ?? 0n, qw1: this.mem.readU64(this.qiBase + (i << shift) + 8) ?? 0n });
      this.lastQiWhy = this.unit.qiError;
      this.lastQiError = { fault: fsts & FSTS_IQE, iqer: this.unit.readReg64(DMAR_IQER_REG), head: desc(head), prior: desc((head + 255) % 256) };
      const wait = desc(waitIndex);
      this.mem.writeU64(this.qiBase + (head << shift), wait.qw0);
      this.mem.writeU64(this.qiBase + (head << shift) + 8, wait.qw1);
      if (shift === 5) {
        this.mem.writeU64(this.qiBase + (head << shift) + 16, 0n);
        this.mem.writeU64(this.qiBase + (head << shift) + 24, 0n);
      }
      this.unit.writeReg32(DMAR_FSTS_REG, FSTS_IQE);
      this.unit.writeReg64(DMAR_IQT_REG, BigInt(this.qiTail << shift));
      return false;
    }
    this.mem.read64(this.statusAddr);
    return (this.mem.lo >>> 0) === QI_DONE;
  }

  /** Invalidation time-outs qi_check_fault() met since the last takeIteErrors(), for qi_dump_fault's lines. */
  private iteErrors: QiErrorInput[] = [];
  /** Nesting of qi_submit_sync's `goto restart` after an ITE. */
  private iteRetries = 0;
  /** The last submission ended with the kernel retrying an invalidation that times out every time (see invalidationTimeout). */
  iteHung = false;
  /** The last submission's time-out was for an endpoint that is not present, and the kernel gave up (-ETIMEDOUT, v6.9 on). */
  iteGaveUp = false;
  /** The host kernel's version (host.kernel); undefined: a current kernel. */
  kernel: string | undefined;
  /** Requester ids of surprise-removed endpoints (host.iommu.ats `present: false`): pci_device_is_present() is false. */
  readonly absentRids = new Set<number>();

  /**
   * qi_check_fault()'s ITE branch (drivers/iommu/intel/dmar.c): qi_dump_fault() ("VT-d detected
   * Invalidation Time-out Error: SID %llx", QI HEAD / QI PRIOR), clear FSTS.ITE ("Invalidation
   * Time-out Error (ITE) cleared"), mark the pending waits QI_ABORT and return -EAGAIN, on which
   * qi_submit_sync() jumps back to `restart` and submits the same descriptors again. Since "iommu/vt-d:
   * Improve ITE fault handling if target device isn't present" (Ethan Zhao, 80a9b50c0b9e, v6.9) a
   * device that is released or not present ends it: `if (ite_sid) { dev = device_rbtree_find(iommu,
   * ite_sid); if (!dev || !dev_is_pci(dev) || !pci_device_is_present(to_pci_dev(dev))) return
   * -ETIMEDOUT; }` after the lines and the ITE clear, so one round of lines and no retry
   * (`iteGaveUp`); before v6.9 a surprise-removed endpoint is retried like a hung one. A present
   * device that does not answer is retried for ever, in every generation - the CPU spins in
   * qi_submit_sync with the queue lock held. The simulator stops after QI_ITE_RETRIES submissions
   * and sets `iteHung`.
   */
  private invalidationTimeout(descs: QiDesc[], shift: number): boolean {
    const head = Number((this.unit.readReg64(DMAR_IQH_REG) >> BigInt(shift)) & 0xffn);
    const desc = (i: number) => ({ qw0: this.mem.readU64(this.qiBase + (i << shift)) ?? 0n, qw1: this.mem.readU64(this.qiBase + (i << shift) + 8) ?? 0n });
    this.iteErrors.push({ fault: FSTS_ITE, iqer: this.unit.readReg64(DMAR_IQER_REG), head: desc(head), prior: desc((head + 255) % 256) });
    this.unit.writeReg32(DMAR_FSTS_REG, FSTS_ITE);
    const iteSid = Number((this.iteErrors.at(-1)!.iqer >> 32n) & 0xffffn);
    if (iteSid !== 0 && this.absentRids.has(iteSid) && iteChecksPresence(this.kernel)) {
      this.iteGaveUp = true;
      return false;
    }
    if (this.iteRetries >= QI_ITE_RETRIES) {
      this.iteHung = true;
      return false;
    }
    this.iteRetries++;
    try {
      return this.submit(descs);
    } finally {
      this.iteRetries--;
    }
  }

  takeIteErrors(): QiErrorInput[] {
    const l = this.iteErrors;
    this.iteErrors = [];
    return l;
  }

  takeIssued(): IssuedInvalidation[] {
    const l = this.issued;
    this.issued = [];
    return l;
  }

  // ------------------------------------------------------------------ faults

  /**
   * dmar_fault(): reads FSTS, walks the fault recording registers from FRI, clears each F bit and
   * returns the records in the order Linux prints them; finally clears PFO|PPF|PRO.
   */
  serviceFaults(): { fsts: number; records: FaultRecord[] } {
    const u = this.unit;
    const fsts = u.readReg32(DMAR_FSTS_REG);
    const records: FaultRecord[] = [];
    if (fsts & FSTS_PPF) {
      let index = (fsts >> 8) & 0xff;
      for (let n = 0; n < u.nfr; n++) {
        const rec = u.readRecord(index);
        if (rec === undefined) break;
        records.push(rec);
        u.writeReg32(DMAR_FRCD_REG + 16 * index + 12, 0x80000000);
        index = (index + 1) % u.nfr;
      }
    }
    u.writeReg32(DMAR_FSTS_REG, FSTS_PFO | FSTS_PPF | (1 << 7));
    return { fsts, records };
  }

  snapshot(): DriverSnapshot {
    return {
      domains: [...this.domains.values()].map((d) => ({ did: d.did, pgd: d.pgd, aw: d.aw, levels: d.levels, passThrough: d.passThrough, rids: [...d.rids], ...(d.firstLevel ? { firstLevel: true } : {}), ...(d.sharedTable ? { sharedTable: true } : {}), ...(d.dirtyOps ? { dirtyOps: true } : {}), ...(d.dirtyTracking ? { dirtyTracking: true } : {}) })),
      smContextTables: [...this.smContextTables],
      pasidDirs: [...this.pasidDirs],
      bindings: [...this.bindings].map(([k, b]) => [k, { ...b }]),
      guestTables: [...this.guestTables],
      svaMm: [...this.svaMm],
      freePages: [...this.freePages],
      contextTables: [...this.contextTables],
      qiTail: this.qiTail,
      nextDid: this.nextDid,
      prqPartial: this.prqPartial.map((r) => ({ ...r })),
      prqIrqsSeen: this.prqIrqsSeen,
    };
  }

  restore(s: DriverSnapshot): void {
    this.domains.clear();
    for (const d of s.domains) this.domains.set(d.did, { ...d, rids: new Set(d.rids) });
    this.freePages = [...s.freePages];
    this.contextTables = new Map(s.contextTables);
    this.qiTail = s.qiTail;
    this.nextDid = s.nextDid;
    this.smContextTables = new Map(s.smContextTables ?? []);
    this.pasidDirs = new Map(s.pasidDirs ?? []);
    this.bindings.clear();
    for (const [k, b] of s.bindings ?? []) this.bindings.set(k, { ...b });
    this.guestTables = new Map(s.guestTables ?? []);
    this.svaMm.clear();
    for (const [k, v] of s.svaMm ?? []) this.svaMm.set(k, v);
    this.prqPartial = (s.prqPartial ?? []).map((r) => ({ ...r }));
    this.prqIrqsSeen = s.prqIrqsSeen ?? 0;
  }

  get rootTableAddress(): number {
    return this.rootTable;
  }

  contextTableOf(bus: number): number | undefined {
    return this.contextTables.get(bus);
  }

  /** Width of IOVAs the domain accepts. */
  domainWidth(d: DmarDomain): number {
    return Math.min(awToWidth(d.aw), this.unit.haw);
  }
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

function ffs(n: bigint): number {
  let i = 0;
  while (((n >> BigInt(i)) & 1n) === 0n) i++;
  return i;
}

/** Whether qi_check_fault() gives up on an ITE for a device that is not present: v6.9 on (80a9b50c0b9e), and a current kernel. */
export function iteChecksPresence(kernel: string | undefined): boolean {
  return kernelAtLeast(kernel, 6, 9, true);
}

/** A descriptor qi_submit_sync() copies into the queue: qw0, qw1 and, for a page group response with private data, qw2. */
type QiDesc = [bigint, bigint] | [bigint, bigint, bigint];

/**
 * What Linux does with a page request's private data (PDP, VT-d 3.x), by kernel version:
 * - "echo" (v5.13 - v6.9): the response sets PDP and copies the request's private data, and a PDP
 *   request is answered even without LPIG (intel_svm_prq_report: "page response is required as it
 *   does for LPIG", so the iopf layer treats it as the last page of its group);
 * - "cleared" (v5.0 - v5.12): prq_event_thread answers LPIG or PDP requests with PDP set but sets
 *   the private data, then clears qw2/qw3 before qi_submit_sync - fixed by "iommu/vt-d: Don't set
 *   then clear private data in prq_event_thread()" (1d421058c815, v5.13: "The VT-d specification
 *   (section 7.6) requires that the value in the Private Data field of a Page Group Response
 *   Descriptor must match the value in the Private Data field of the respective Page Request
 *   Descriptor");
 * - "ignored" (v6.10 on, and without host.kernel): "iommu/vt-d: Remove private data use in fault
 *   message" (621b7e54f288) - the response has no PDP and no data, and only LPIG gets one.
 */
export function prqPrivateDataHandling(kernel: string | undefined): "echo" | "cleared" | "ignored" {
  if (kernelAtLeast(kernel, 6, 10, true)) return "ignored";
  return kernelAtLeast(kernel, 5, 13, true) ? "echo" : "cleared";
}

/** One page request as Linux's handler reads it from the queue. */
export interface PrqRequest {
  rid: number;
  pasid: number;
  pasidPresent: boolean;
  addr: bigint;
  write: boolean;
  read: boolean;
  prgi: number;
  lpig: boolean;
  /** Private data (PDP set, VT-d 3.x): qw2 of the descriptor. */
  privateData?: bigint;
  /** PDP was set, and this kernel does not read private data (v6.10 on). */
  pdpIgnored?: true;
}

/**
 * What prq_event_thread did with one request: `code` is the page group response it sent (the
 * last of a group, or a rejected one), undefined when it sent none (a request that waits for the
 * rest of its group); `rejected` the reason line of a rejected request; `group` the requests the
 * response answers.
 */
export interface PrqHandled extends PrqRequest {
  code: number | undefined;
  rejected?: string;
  group: PrqRequest[];
}

/**
 * prq_event_thread's generations for a malformed page request (drivers/iommu/intel/svm.c):
 * - "refactored" (v5.14 on: "iommu/vt-d: Refactor prq_event_thread()", posted 2021-05-20 for
 *   v5.14): `pr_err("IOMMU: %s: <why>\n")` then handle_bad_prq_event()'s `"%s: Invalid page
 *   request: %08llx %08llx\n"`; the checks in order PASID, canonical address, privilege mode,
 *   execute with read;
 * - "invalid" (v5.12, v5.13): one line each - `"%s: Page request without PASID: %08llx %08llx\n"`,
 *   `"Unexpected page request in Privilege Mode"` and `"Execution request not supported\n"` (no
 *   pr_fmt, no unit name: Jacob Pan's "reject unsupported page request modes", 2021-03 fixes), a
 *   non-canonical address is answered Invalid Request without a line (`goto bad_req`), all with
 *   Invalid Request ("iommu/vt-d: Use INVALID response code instead of FAILURE", 2021-01-26, the
 *   series of 28a77185f1cd);
 * - "failure" (before v5.12): only the no-PASID line, answered with Response Failure
 *   (QI_RESP_FAILURE: "When the device receives RESPONSE_FAILURE, it sends the device state machine
 *   to HALT state"); privileged and execute requests are not checked and reach the fault handler.
 */
export type PrqHandlerEra = "refactored" | "invalid" | "failure";

export function prqHandlerEra(kernel: string | undefined): PrqHandlerEra {
  if (kernelAtLeast(kernel, 5, 14, true)) return "refactored";
  return kernelAtLeast(kernel, 5, 12, true) ? "invalid" : "failure";
}

/** prq_event_thread's checks before a request reaches the fault handler, in its generation's order, or undefined; the reason text is the current kernel's. */
function badPageRequest(d: PageRequestDesc, era: PrqHandlerEra): { why: string; code: number } | undefined {
  if (!d.pp) return { why: "Page request without PASID", code: era === "failure" ? QI_RESP_FAILURE : QI_RESP_INVALID };
  // is_canonical_address with a 48-bit virtual address space (__VIRTUAL_MASK_SHIFT 47).
  const canonical = BigInt.asIntN(64, d.addr << 16n) >> 16n === BigInt.asIntN(64, d.addr);
  if (era === "refactored" && !canonical) return { why: "Address is not canonical", code: QI_RESP_INVALID };
  if (era !== "failure" && d.pmr && (d.rdr || d.wrr)) return { why: "Page request in Privilege Mode", code: QI_RESP_INVALID };
  if (era !== "failure" && d.er && d.rdr) return { why: "Execution request not supported", code: QI_RESP_INVALID };
  if (!canonical) return { why: "Address is not canonical", code: QI_RESP_INVALID };
  return undefined;
}

/** The lines of a rejected request, by generation (see PrqHandlerEra): qw0 and qw1 with `%08llx` (at least 8 hex digits). */
function badPageRequestLines(why: string, era: PrqHandlerEra, name: string, qw0: bigint, qw1: bigint): string[] {
  const words = `${qw0.toString(16).padStart(8, "0")} ${qw1.toString(16).padStart(8, "0")}`;
  if (era === "refactored") return [`IOMMU: ${name}: ${why}`, `${name}: Invalid page request: ${words}`];
  if (why === "Page request without PASID") return [`${name}: Page request without PASID: ${words}`];
  if (why === "Page request in Privilege Mode") return ["Unexpected page request in Privilege Mode"];
  if (why === "Execution request not supported") return ["Execution request not supported"];
  return []; // a non-canonical address: `goto bad_req`, no line
}
