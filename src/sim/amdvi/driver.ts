/**
 * Linux's amd_iommu driver (drivers/iommu/amd/init.c, iommu.c, io_pgtable.c) for one AMD-Vi unit,
 * as far as passthrough needs it: bring-up, protection domains with v1 page tables, the device
 * table entries of attached devices, map/unmap with the driver's page sizes, and the command-buffer
 * flushes. Every choice is the driver's, cited where made.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { PhysicalMemory } from "../memory.js";
import type { HostDomain } from "../host-iommu.js";
import type { AmdViUnit } from "./unit.js";
import { ivhdDte, type IvrsDevices } from "./ivrs.js";
import { CMD_INV_IRT, CONTROL_GA_EN } from "./intremap.js";
import { CONTROL_GAINT_EN, CONTROL_GALOG_EN, GA_ENTRY_SIZE, GA_LOG_ENTRIES, GA_LOG_LEN_512, MMIO_GA_HEAD_OFFSET, MMIO_GA_LOG_BASE_OFFSET, MMIO_GA_LOG_TAIL_OFFSET, MMIO_GA_TAIL_OFFSET, STATUS_GALOG_OVERFLOW, STATUS_GALOG_RUN } from "./defs.js";
import {
  CMD_BUFFER_SIZE,
  CMD_COMPL_WAIT,
  CMD_COMPL_WAIT_STORE,
  CMD_INV_ALL,
  CMD_INV_ALL_PAGES_ADDRESS,
  CMD_INV_DEV_ENTRY,
  CMD_INV_IOMMU_PAGES,
  CMD_INV_PAGES_PDE,
  CMD_INV_PAGES_S,
  CMD_INV_PAGES_GN,
  AMD_PASID_BITS,
  GCR3_VALID,
  CMD_COMPLETE_PPR,
  CONTROL_PPRINT_EN,
  CONTROL_PPRLOG_EN,
  CONTROL_PPR_EN,
  MMIO_PPR_HEAD_OFFSET,
  MMIO_PPR_LOG_OFFSET,
  MMIO_PPR_TAIL_OFFSET,
  PPR_FLAG_GN,
  PPR_FLAG_WRITE,
  STATUS_PPR_OVERFLOW,
  STATUS_PPR_RUN,
  PPR_LOG_ENTRIES,
  PPR_REQ_FAULT,
  PPR_STATUS_INVALID,
  PPR_STATUS_SUCCESS,
  V2_A,
  V2_D,
  V2_LEVELS,
  V2_P,
  V2_PS,
  V2_RW,
  V2_US,
  CONTROL_CMDBUF_EN,
  CONTROL_EVT_INT_EN,
  CONTROL_EVT_LOG_EN,
  CONTROL_IOMMU_EN,
  DTE_SIZE,
  DTE_TV,
  DTE_V,
  ENTRY_SIZE,
  EVT_BUFFER_SIZE,
  MMIO_CMD_BUF_OFFSET,
  MMIO_CMD_HEAD_OFFSET,
  MMIO_CMD_TAIL_OFFSET,
  MMIO_CONTROL_OFFSET,
  MMIO_DEV_TABLE_OFFSET,
  MMIO_EVT_BUF_OFFSET,
  MMIO_EVT_HEAD_OFFSET,
  MMIO_EVT_TAIL_OFFSET,
  MMIO_STATUS_OFFSET,
  NEXT_LEVEL_LARGE,
  STATUS_EVT_OVERFLOW,
  STATUS_EVT_RUN,
} from "./defs.js";

/** One page request amd_iommu_poll_ppr_log read, and the COMPLETE_PPR status it was answered with. */
/** One GA log entry as iommu_poll_ga_log reads it (GA_TAG, GA_DEVID, GA_REQ_TYPE). */
export interface GaLogEntry {
  at: number;
  raw: bigint;
  tag: number;
  devid: number;
  type: number;
}

export interface PprAnswer {
  devid: number;
  pasid: number;
  address: bigint;
  write: boolean;
  tag: number;
  status: number;
}

/** A protection domain (struct protection_domain with its v1 io_pgtable). */
export interface AmdDomain extends HostDomain {
  did: number;
  /** Identity domain (iommu=pt): DTE Mode 0, no page table. */
  passThrough: boolean;
  /**
   * A v2 DMA domain (amd_iommu=pgtbl_v2, PD_MODE_V2): `root` is its x86-64 long-mode table
   * (pdom->iop.pgd, 4 levels), reached through each device's GCR3[0] with DTE GIoV; `mode` is 0.
   */
  v2?: boolean;
  /** HPA of the top table and the table's levels (pgtable->root, pgtable->mode). */
  root: number;
  mode: number;
  /** Device ids whose DTE points here. */
  devids: Set<number>;
  /**
   * The page table is another IOMMU's domain's (a protection domain attached to devices behind
   * several IOMMUs, sim/multiHost.ts): Linux keeps one io_pgtable per protection_domain and every
   * IOMMU's DTE points at it (set_dte_entry: domain->iop.root); this unit neither writes nor frees it.
   */
  sharedTable?: boolean;
}

/** The owner's last map or unmap, for the other IOMMUs of a shared table (followShared). */
export interface AmdTableChange {
  iova: bigint;
  size: bigint;
  /** The owner flushed its IOTLB for it (an unmap, or a map over present entries). */
  flushed: boolean;
}

export interface AmdDriverSnapshot {
  domains: { did: number; passThrough: boolean; v2?: boolean; root: number; mode: number; devids: number[]; sharedTable?: boolean }[];
  cmdTail: number;
  sem: bigint;
  irt: [number, number][];
  /** The devices' GCR3 tables (absent in snapshots from before they existed). */
  gcr3?: [number, Gcr3Info][];
  /** Linux 6.1-6.8's per-domain GCR3 tables (absent in snapshots from before). */
  domainGcr3?: [number, Gcr3Info][];
  lazyPages?: [number, LazyPage[]][];
  pprLog?: number;
}

/**
 * A device's GCR3 table (struct gcr3_tbl_info): its root page, GLX (levels - 1), the per-device
 * domain id setup_gcr3_table allocates (gcr3_info->domid), and the bound PASIDs with their CR3.
 */
/** A process page a page request may fault in: `va` of PASID `pasid` (its v2 table at `root`), the leaf to write. */
export interface LazyPage {
  pasid: number;
  root: number;
  va: number;
  leaf: bigint;
}

export interface Gcr3Info {
  table: number;
  glx: number;
  domid: number;
  pasids: [number, number][];
}

const PAGE = 4096n;
/** IOMMU_PROT_IR / IOMMU_PROT_IW as the iommu core's IOMMU_READ = 1 / IOMMU_WRITE = 2 map to. */
const PROT_READ = 1;
const PROT_WRITE = 2;
/**
 * AMD_IOMMU_PGSIZES (amd_iommu_types.h): every power of two from 4 KiB up except 512 GiB
 * ((~0xFFFUL) & ~(2ULL << 38)); the iommu core picks the largest that the alignment allows.
 */
const PGSIZE_EXCLUDED_SHIFT = 39;
/** DTE data[2] interrupt remapping as set_dte_irq_entry writes it: IV (bit 0), IntTabLen 9 (512 entries, DTE_INTTABLEN_VALUE) in bits 4:1, IntCtl 2 (remapped) in bits 61:60. */
const DTE2_IV = 1n;
const DTE2_INTTABLEN = 9n << 1n;
const DTE2_INTCTL_REMAP = 2n << 60n;

/** DTE data[0] bit 52 PPR (DTE_FLAG_PPR): set_dte_gcr3_table sets it when dev_data->ppr. */
const DTE0_PPR = 1n << 52n;
/** DTE data[0] bit 55 GV (DTE_FLAG_GV). */
const DTE0_GV = 1n << 55n;
/** DTE data[0] bit 54 GIoV (DTE_FLAG_GIOV): requests without PASID translate through GCR3[0]. */
const DTE0_GIOV = 1n << 54n;
/**
 * AMD_IOMMU_PGSIZES_V2 (amd_iommu_types.h): 4 KiB, 2 MiB and 1 GiB, the page sizes of the v2 table
 * (io_pgtable_v2.c get_alloc_page_size).
 */
const V2_PAGE_SHIFTS = [30, 21, 12];
/** INVALIDATE_IOTLB_PAGES (CMD_INV_IOTLB_PAGES 0x04). */
const CMD_INV_IOTLB = 0x04;
/** DTE data[1] bit 32: I, the device's IOTLB (ATS) is enabled (DTE_FLAG_IOTLB). */
const DTE1_IOTLB = 1n << 32n;
/**
 * pci_ats_queue_depth of the simulated devices: the ATS capability's Invalidate Queue Depth 0
 * means 32 (PCI_ATS_MAX_QDEP); device_flush_iotlb puts it in data[0] 31:24.
 */
const ATS_QDEP = 32;

export class AmdIommuDriver {
  readonly domains = new Map<number, AmdDomain>();
  /** Device ids whose ATS Linux enabled (pdev_enable_cap_ats: dev_data->ats_enabled). */
  readonly atsDevids = new Set<number>();
  /**
   * ATS devices whose INVALIDATE_IOTLB_PAGES this driver forgets (host.iommu.ats invalidate: false):
   * a driver bug, the device keeps translating unmapped IOVAs from its own IOTLB.
   */
  readonly atsFlushForgotten = new Set<number>();
  private cmdBuf = 0;
  private cmdTail = 0;
  private semAddr = 0;
  private sem = 0n;
  /** Interrupt remapping table per device id (allocated at the first attach). */
  private irt = new Map<number, number>();
  private devTable = 0;
  /** GCR3 tables by device id (dev_data->gcr3_info), set up at the first PASID bind of a device in an identity domain. */
  gcr3 = new Map<number, Gcr3Info>();
  /**
   * How this kernel builds v2 DMA domains (dmesg.ts v2DomainLayout): "device" (v6.9 on) a GCR3 table
   * per device in `gcr3`; "domain" / "domain-gn" (v6.1-v6.8) one table per protection domain in
   * `domainGcr3`, its id the domain's, flushed without / with GN.
   */
  v2Layout: "domain" | "domain-gn" | "device" = "device";
  /** Linux 6.1-6.8: the GCR3 table of each v2 protection domain (domain->gcr3_tbl, domain->glx), by domain id. */
  domainGcr3 = new Map<number, Gcr3Info>();
  /** Devices with PRI that Linux added to the IOPF queue (dev_data->ppr: DTE PPR with their GCR3 table). */
  readonly priDevids = new Set<number>();
  /**
   * The bound processes' pages not faulted in yet (`present: false`), by device id: what the SVA
   * fault handler (iommu_sva_handle_iopf -> handle_mm_fault) can map on a page request.
   */
  lazyPages = new Map<number, LazyPage[]>();
  private pprLog = 0;

  constructor(
    readonly unit: AmdViUnit,
    private readonly mem: PhysicalMemory,
    /** Highest device id the IVRS covers (amd_iommu_last_bdf / pci_seg->last_bdf). */
    readonly lastBdf: number,
    /** Levels of a new domain's table (v1_alloc_pgtable: PAGE_MODE_3_LEVEL) and the most the unit takes. */
    private readonly startMode: number,
    readonly maxMode: number,
    /** The IVRS device entries as Linux read them (alias table, initial DTE settings). */
    private readonly ivrs?: IvrsDevices,
    /** Interrupt remapping: off (amd_iommu=... irq remapping disabled), 32-bit IRTEs, or 128-bit (GA) IRTEs. */
    readonly intremap: "off" | "legacy" | "ga" = "ga",
    /**
     * The page table of DMA (paging) domains, amd_iommu_pgtable: v1 by default, v2 with
     * amd_iommu=pgtbl_v2 (init.c parse_amd_iommu_options; do_iommu_domain_alloc(dev, 0, amd_iommu_pgtable)).
     */
    readonly pgtable: "v1" | "v2" = "v1",
  ) {}

  /**
   * Bring-up (init.c): the device table sized for last_bdf (tbl_size: a power-of-two number of
   * pages) with every entry V = 1, TV = 1 (init_device_table_dma: DMA from devices the driver
   * does not know is blocked), the 512-entry command and event buffers (MMIO_CMD_SIZE_512,
   * EVT_LEN_MASK: length field 9), then IommuEn, and INVALIDATE_ALL (amd_iommu_flush_all_caches).
   */
  init(): void {
    const u = this.unit;
    const bytes = (this.lastBdf + 1) * DTE_SIZE;
    let pages = 1;
    while (pages * 4096 < bytes) pages *= 2;
    this.devTable = this.mem.allocPage();
    for (let i = 1; i < pages; i++) this.mem.allocPage();
    for (let devid = 0; devid <= this.lastBdf; devid++) this.mem.write64(this.devTable + devid * DTE_SIZE, DTE_V | DTE_TV, 0);
    // The IVHD's DTE settings (set_dev_entry_from_acpi_range), kept under V | TV (set_dte_bit ORs them).
    for (const [devid, flags] of this.ivrs?.flags ?? []) {
      if (devid > this.lastBdf) continue;
      const d = ivhdDte(flags);
      for (let q = 0; q < 4; q++) if (d[q] !== 0n) this.mem.writeU64(this.devTable + devid * DTE_SIZE + q * 8, (this.mem.readU64(this.devTable + devid * DTE_SIZE + q * 8) ?? 0n) | d[q]!);
    }
    u.writeReg(MMIO_DEV_TABLE_OFFSET, BigInt(this.devTable) | BigInt(pages - 1));
    this.cmdBuf = this.mem.allocPage();
    this.mem.allocPage();
    const evt = this.mem.allocPage();
    this.mem.allocPage();
    this.semAddr = this.mem.allocPage();
    u.writeReg(MMIO_CMD_BUF_OFFSET, BigInt(this.cmdBuf) | (BigInt(Math.log2(CMD_BUFFER_SIZE / ENTRY_SIZE)) << 56n));
    u.writeReg(MMIO_EVT_BUF_OFFSET, BigInt(evt) | (BigInt(Math.log2(EVT_BUFFER_SIZE / ENTRY_SIZE)) << 56n));
    u.writeReg(MMIO_CMD_HEAD_OFFSET, 0n);
    u.writeReg(MMIO_CMD_TAIL_OFFSET, 0n);
    u.writeReg(MMIO_EVT_HEAD_OFFSET, 0n);
    u.writeReg(MMIO_EVT_TAIL_OFFSET, 0n);
    // iommu_enable_ga: GAEn for the 128-bit IRTE format (amd_iommu_guest_ir VAPIC or LEGACY_GA).
    const ga = this.intremap === "ga" ? 1n << BigInt(CONTROL_GA_EN) : 0n;
    const ctrl = (1n << BigInt(CONTROL_CMDBUF_EN)) | (1n << BigInt(CONTROL_EVT_LOG_EN)) | (1n << BigInt(CONTROL_EVT_INT_EN)) | (1n << BigInt(CONTROL_IOMMU_EN)) | ga;
    u.writeReg(MMIO_CONTROL_OFFSET, ctrl);
    this.queue([BigInt(CMD_INV_ALL) << 60n, 0n]);
    this.completionWait();
    if (this.intremap === "ga") this.enableGaLog();
  }

  /**
   * iommu_init_ga_log + iommu_ga_log_enable (init.c; with AMD_IOMMU_GUEST_IR_VAPIC, the GA mode this
   * model's "ga" is): a 4 KiB log of GA_LOG_ENTRIES 8-byte entries and a page for the tail copy;
   * GA Log Base = log | GA_LOG_SIZE_512, GA Log Tail Address = the tail page (bits 51:3), head and
   * tail 0, then CONTROL_GAINT_EN and CONTROL_GALOG_EN.
   */
  private enableGaLog(): void {
    const u = this.unit;
    const log = this.mem.allocPage();
    const tail = this.mem.allocPage();
    u.writeReg(MMIO_GA_LOG_BASE_OFFSET, BigInt(log) | (BigInt(GA_LOG_LEN_512) << 56n));
    u.writeReg(MMIO_GA_LOG_TAIL_OFFSET, BigInt(tail) & 0x000f_ffff_ffff_fff8n);
    u.writeReg(MMIO_GA_HEAD_OFFSET, 0n);
    u.writeReg(MMIO_GA_TAIL_OFFSET, 0n);
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) | (1n << BigInt(CONTROL_GAINT_EN)));
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) | (1n << BigInt(CONTROL_GALOG_EN)));
  }

  /**
   * iommu_poll_ga_log (iommu.c): each entry from head to tail read (not zeroed), the head written
   * back ((head + GA_ENTRY_SIZE) % GA_LOG_SIZE); the caller hands a GA_GUEST_NR entry's tag to the
   * notifier (KVM's avic_ga_log_notifier) and ignores other types, as Linux does without a line.
   */
  pollGaLog(): GaLogEntry[] {
    const u = this.unit;
    const out: GaLogEntry[] = [];
    for (const e of u.pendingGaEntries()) {
      const head = (Number(u.readReg(MMIO_GA_HEAD_OFFSET)) + GA_ENTRY_SIZE) % (GA_LOG_ENTRIES * GA_ENTRY_SIZE);
      u.writeReg(MMIO_GA_HEAD_OFFSET, BigInt(head));
      out.push({ at: e.at, raw: e.raw, tag: Number(e.raw & 0xffffffffn), devid: Number((e.raw >> 32n) & 0xffffn), type: Number(e.raw >> 60n) });
    }
    return out;
  }

  get deviceTable(): number {
    return this.devTable;
  }

  // ------------------------------------------------------------------ commands

  /** copy_cmd_to_buffer + the tail write: the unit runs the command at once. */
  private queue(cmd: [bigint, bigint]): void {
    this.mem.writeU64(this.cmdBuf + this.cmdTail, cmd[0]);
    this.mem.writeU64(this.cmdBuf + this.cmdTail + 8, cmd[1]);
    this.cmdTail = (this.cmdTail + ENTRY_SIZE) % CMD_BUFFER_SIZE;
    this.unit.writeReg(MMIO_CMD_TAIL_OFFSET, BigInt(this.cmdTail));
  }

  /** build_completion_wait: store the next sequence number at cmd_sem (wait_on_sem polls it). */
  private completionWait(): void {
    this.sem++;
    this.queue([BigInt(this.semAddr) | BigInt(CMD_COMPL_WAIT_STORE) | (BigInt(CMD_COMPL_WAIT) << 60n), this.sem]);
  }

  /** Raw words through the command buffer, then COMPLETION_WAIT: false when the unit stopped (an illegal command). */
  submitRaw(cmd: [bigint, bigint]): boolean {
    this.queue(cmd);
    this.completionWait();
    return this.mem.readU64(this.semAddr) === this.sem;
  }

  /** build_inv_dte. */
  private flushDte(devid: number): void {
    this.queue([BigInt(devid & 0xffff) | (BigInt(CMD_INV_DEV_ENTRY) << 60n), 0n]);
  }

  /**
   * __domain_flush_pages: INVALIDATE_IOMMU_PAGES for the domain, then device_flush_iotlb
   * (INVALIDATE_IOTLB_PAGES, build_inv_iotlb_pages) for each of its devices with ATS enabled.
   */
  flushPages(did: number, address: bigint, size: bigint): void {
    const d = this.domains.get(did);
    if (d?.v2) return this.flushPagesV2(d, address, size);
    this.queue(invIommuPages(did, address, size));
    if (d === undefined) return;
    for (const devid of d.devids) if (this.atsDevids.has(devid) && !this.atsFlushForgotten.has(devid)) this.queue(invIotlbPages(devid, ATS_QDEP, address, size));
  }

  /**
   * __domain_flush_pages of a v2 domain: domain_flush_pages_v2 - per device INVALIDATE_IOMMU_PAGES
   * with the device's GCR3 domid, PASID 0 (IOMMU_NO_PASID) and GN (build_inv_iommu_pages(..., domid,
   * IOMMU_NO_PASID, true)) - then device_flush_iotlb(dev_data, address, size, 0, gn = true) for each
   * ATS device: INVALIDATE_IOTLB_PAGES with GN and PASID 0.
   */
  private flushPagesV2(d: AmdDomain, address: bigint, size: bigint): void {
    if (this.v2Layout !== "device") {
      // v6.1-v6.8 __domain_flush_pages: one INVALIDATE_IOMMU_PAGES for the domain's own id (PDE set),
      // GN with PASID 0 in v6.8, none before; ATS devices: device_flush_iotlb with the same GN.
      const gn = this.v2Layout === "domain-gn";
      this.queue(gn ? invIommuPagesGn(d.did, address, size, 0) : invIommuPages(d.did, address, size));
      for (const devid of d.devids) {
        if (!this.atsDevids.has(devid) || this.atsFlushForgotten.has(devid)) continue;
        const [i0, i1] = invIotlbPages(devid, ATS_QDEP, address, size);
        this.queue([i0, gn ? i1 | BigInt(CMD_INV_PAGES_GN) : i1]);
      }
      return;
    }
    for (const devid of d.devids) {
      const g = this.gcr3.get(devid);
      if (g === undefined) continue;
      this.queue(invIommuPagesGn(g.domid, address, size, 0));
    }
    for (const devid of d.devids) {
      if (!this.atsDevids.has(devid) || this.atsFlushForgotten.has(devid)) continue;
      const [i0, i1] = invIotlbPages(devid, ATS_QDEP, address, size);
      this.queue([i0, i1 | BigInt(CMD_INV_PAGES_GN)]);
    }
  }

  // ------------------------------------------------------------------ domains

  /** protection_domain_alloc: the lowest free id from 1 (pdom_id_alloc, an IDA from 1). */
  allocDomain(passThrough: boolean, id?: number): AmdDomain {
    let did = id ?? 1;
    while (id === undefined && !this.domainIdFree(did)) did++;
    if (did > 0xffff) throw new Error("no free AMD-Vi domain id (16 bits)");
    // v2: v2_alloc_pgtable's pgd (one zeroed page); the v1 table mode stays 0 (PAGE_MODE_NONE).
    const v2 = !passThrough && this.pgtable === "v2";
    const d: AmdDomain = { did, passThrough, ...(v2 ? { v2 } : {}), root: passThrough ? 0 : this.mem.allocPage(), mode: passThrough || v2 ? 0 : this.startMode, devids: new Set() };
    this.domains.set(did, d);
    if (v2 && this.v2Layout !== "device") {
      // v6.1-v6.8: domain_enable_v2(domain, 1) - the domain's GCR3 table, one zeroed page, GLX 0 (one
      // PASID); v2_alloc_pgtable -> amd_iommu_domain_set_gcr3(0, pgd): GCR3[0] = pgd | GCR3_VALID. Its
      // flush reaches no IOMMU yet (no device attached: dev_iommu[] all 0).
      const g: Gcr3Info = { table: this.mem.allocPage(), glx: 0, domid: did, pasids: [[0, d.root]] };
      this.mem.writeU64(g.table, (BigInt(d.root) & 0x000ffffffffff000n) | BigInt(GCR3_VALID));
      this.domainGcr3.set(did, g);
    }
    return d;
  }

  /** No domain and no GCR3 table of this IOMMU uses the id. */
  domainIdFree(did: number): boolean {
    return !this.domains.has(did) && !this.gcr3DomidUsed(did);
  }

  /**
   * `d` (new, not attached yet) takes the page table of `owner`, another IOMMU's domain: Linux's one
   * protection_domain io_pgtable for every IOMMU it is attached to. Its own top table is freed.
   */
  shareTable(d: AmdDomain, owner: AmdDomain): boolean {
    if (d.passThrough || owner.passThrough || d.devids.size > 0) return false;
    this.freeTable(d.root, 1);
    d.root = owner.root;
    d.mode = owner.mode;
    d.sharedTable = true;
    // v6.1-v6.8: the domain's GCR3[0] points at the shared table.
    const g = this.domainGcr3.get(d.did);
    if (g !== undefined) {
      this.mem.writeU64(g.table, (BigInt(owner.root) & 0x000ffffffffff000n) | BigInt(GCR3_VALID));
      g.pasids = [[0, owner.root]];
    }
    return true;
  }

  /** The last map's or unmap's range, for the IOMMUs sharing the table. */
  lastChange: AmdTableChange | undefined;

  /**
   * After the owner's driver changed a table `d` shares: a grown table (increase_address_space)
   * rewrites this IOMMU's DTEs of the domain (amd_iommu_domain_update -> amd_iommu_update_and_flush_device_table,
   * every device of the domain on every IOMMU), and a flushed change is flushed here too
   * (amd_iommu_domain_flush_pages walks every IOMMU the domain is attached to: domain_flush_pages_v1).
   */
  followShared(d: AmdDomain, owner: AmdDomain, c: AmdTableChange): void {
    if (d.root !== owner.root || d.mode !== owner.mode) {
      d.root = owner.root;
      d.mode = owner.mode;
      for (const devid of d.devids) {
        this.writeDte(devid, d);
        this.flushDte(devid);
      }
      this.completionWait();
    }
    if (c.flushed) {
      this.flushPages(d.did, c.iova, c.size);
      this.completionWait();
    }
  }

  freeDomain(d: AmdDomain): void {
    // A shared table is the owner's (another IOMMU's domain): that driver frees it.
    if (!d.sharedTable) {
      if (d.v2) this.freeV2Table(d.root, V2_LEVELS);
      else if (!d.passThrough) this.freeTable(d.root, d.mode);
    }
    // v6.1-v6.8 protection_domain_free -> free_gcr3_table.
    const g = this.domainGcr3.get(d.did);
    if (g !== undefined) {
      this.mem.zeroPage(g.table);
      this.domainGcr3.delete(d.did);
    }
    this.domains.delete(d.did);
  }

  /** io_pgtable_v2.c free_pgtable: present non-PS entries above level 1 lead to tables. */
  private freeV2Table(table: number, level: number): void {
    if (level > 1) {
      for (let i = 0; i < 512; i++) {
        const v = this.mem.readU64(table + i * 8) ?? 0n;
        if ((v & BigInt(V2_P)) !== 0n && (v & BigInt(V2_PS)) === 0n) this.freeV2Table(Number(v & 0x000ffffffffff000n), level - 1);
      }
    }
    this.mem.zeroPage(table);
  }

  private freeTable(table: number, level: number): void {
    if (level > 1) {
      for (let i = 0; i < 512; i++) {
        const v = this.mem.readU64(table + i * 8) ?? 0n;
        const next = Number((v >> 9n) & 7n);
        if ((v & 1n) !== 0n && next !== 0 && next !== NEXT_LEVEL_LARGE) this.freeTable(Number(v & 0x000ffffffffff000n), next);
      }
    }
    this.mem.zeroPage(table);
  }

  /**
   * attach_device -> set_dte_entry for the device and each alias (clone_aliases): data[0] = the
   * root | Mode << 9 | IR | IW | V | TV, data[1] = the domain id, data[2] = the interrupt
   * remapping table (set_dte_irq_entry); then device_flush_dte per devid, a flush of the old
   * domain id's pages when it changes (amd_iommu_flush_tlb_domid), and COMPLETION_WAIT.
   */
  attach(d: AmdDomain, rids: number[]): void {
    // clone_aliases: the IVRS alias of each id too, even on another bus (pci_seg->alias_table).
    const devids = [...rids];
    for (const r of rids) {
      const a = this.ivrs?.alias.get(r);
      if (a !== undefined && !devids.includes(a)) devids.push(a);
    }
    // alloc_irq_table: one table for the device and its aliases (an alias's table is reused).
    if (this.intremap !== "off") {
      let table = devids.map((v) => this.irt.get(v)).find((t) => t !== undefined);
      if (table === undefined) {
        // get_irq_table_size(MAX_IRQS_PER_TABLE 512): 4 bytes per IRTE, 16 in GA mode.
        table = this.mem.allocPage();
        if (this.intremap === "ga") this.mem.allocPage();
      }
      for (const v of devids) if (!this.irt.has(v)) this.irt.set(v, table);
    }
    const old = new Set<number>();
    const gcr3Set: number[] = [];
    for (const devid of devids) {
      for (const o of this.domains.values()) {
        if (o === d || !o.devids.delete(devid)) continue;
        old.add(o.did);
        // detach_device -> destroy_gcr3_table: a v2 domain's device loses its GCR3 table (v6.9 on;
        // before, the table is the domain's and stays).
        if (o.v2 && this.v2Layout === "device") this.destroyGcr3(devid);
      }
      d.devids.add(devid);
      if (d.v2 && this.v2Layout === "device" && this.initGcr3(devid, d)) gcr3Set.push(devid);
      this.writeDte(devid, d);
    }
    for (const devid of devids) this.flushDte(devid);
    // v6.1-v6.8 attach_device: amd_iommu_domain_flush_tlb_pde(domain) after do_attach - every page
    // of the domain's id (with GN in v6.8, as its other flushes).
    if (d.v2 && this.v2Layout !== "device") this.flushPages(d.did, 0n, 1n << 64n);
    // update_gcr3(dev_data, 0, pgd, true) -> dev_flush_pasid_all(dev_data, 0).
    for (const devid of gcr3Set) this.flushPasid(devid, this.gcr3.get(devid)!.domid, 0);
    for (const did of old) this.flushPages(did, 0n, 1n << 64n);
    this.completionWait();
  }

  private writeDte(devid: number, d: AmdDomain): void {
    const at = this.devTable + devid * DTE_SIZE;
    // set_dte_entry ORs in the IVHD settings (amd_iommu_get_ivhd_dte_flags -> initial_dte).
    const flags = this.ivrs?.flags.get(devid);
    const init = flags === undefined ? undefined : ivhdDte(flags);
    // v6.1-v6.8: a v2 domain's DTE points at the domain's GCR3 table, DomainID the domain's id.
    const g = d.v2 && this.v2Layout !== "device" ? this.domainGcr3.get(d.did) : d.passThrough || d.v2 ? this.gcr3.get(devid) : undefined;
    if (g !== undefined) {
      // set_entry + set_dte_gcr3_table: TV | GV | GLX | GCR3[14:12] | IR | IW in data[0], GIoV for a
      // v2 domain (pdom_is_v2_pgtbl_mode: requests without PASID use GCR3[0]; Mode 0, no v1 root),
      // the GCR3 table's domid | GCR3[30:15] << 16 | GCR3[51:31] << 43 in data[1]. GPT level
      // (data[2]) is GUEST_PGTABLE_4_LEVEL, 0.
      const t = BigInt(g.table);
      this.mem.writeU64(at, BigInt(DTE_V | DTE_TV) | DTE0_GV | (d.v2 ? DTE0_GIOV : 0n) | (this.priDevids.has(devid) ? DTE0_PPR : 0n) | (BigInt(g.glx) << 56n) | (((t >> 12n) & 7n) << 58n) | (1n << 61n) | (1n << 62n) | (init?.[0] ?? 0n));
      this.mem.writeU64(at + 8, BigInt(g.domid) | (((t >> 15n) & 0xffffn) << 16n) | (((t >> 31n) & 0x1fffffn) << 43n) | (init?.[1] ?? 0n) | (this.atsDevids.has(devid) ? DTE1_IOTLB : 0n));
      const irt = this.irt.get(devid);
      this.mem.writeU64(at + 16, (irt === undefined ? 0n : BigInt(irt) | DTE2_IV | DTE2_INTTABLEN | DTE2_INTCTL_REMAP) | (init?.[2] ?? 0n));
      return;
    }
    const q0 = BigInt(d.root) | (BigInt(d.mode) << 9n) | (1n << 61n) | (1n << 62n) | BigInt(DTE_V | DTE_TV) | (init?.[0] ?? 0n);
    this.mem.writeU64(at, q0);
    // set_dte_entry: DTE_FLAG_IOTLB when dev_data->ats_enabled.
    this.mem.writeU64(at + 8, BigInt(d.did) | (init?.[1] ?? 0n) | (this.atsDevids.has(devid) ? DTE1_IOTLB : 0n));
    const irt = this.irt.get(devid);
    this.mem.writeU64(at + 16, (irt === undefined ? 0n : BigInt(irt) | DTE2_IV | DTE2_INTTABLEN | DTE2_INTCTL_REMAP) | (init?.[2] ?? 0n));
  }

  // ------------------------------------------------------------------ PASIDs: the GCR3 table (iommu.c, pasid.c)

  private gcr3DomidUsed(did: number): boolean {
    for (const g of this.gcr3.values()) if (g.domid === did) return true;
    return false;
  }

  /**
   * The host-wide test of an id (a host of several IOMMUs, HostIommu.useIdSpace): Linux's
   * pdom_id_alloc() takes ids from one IDA (pdom_ids) for every IOMMU - before v6.11 the global
   * bitmap amd_iommu_pd_alloc_bitmap of domain_id_alloc() - so a GCR3 table's id is never one
   * another unit uses. Absent: this unit is the host's only one.
   */
  idTaken?: (did: number) => boolean;

  /**
   * setup_gcr3_table (iommu.c): the table's root page, GLX and a domain id of its own ("Allocate per
   * device domain ID": pdom_id_alloc(), the lowest id free host-wide), unless the device has one.
   */
  private setupGcr3(devid: number, glx: number): Gcr3Info {
    let g = this.gcr3.get(devid);
    if (g !== undefined) return g;
    let domid = 1;
    while (this.domains.has(domid) || this.gcr3DomidUsed(domid) || this.idTaken?.(domid) === true) domid++;
    g = { table: this.mem.allocPage(), glx, domid, pasids: [] };
    this.gcr3.set(devid, g);
    return g;
  }

  /**
   * attach_device -> init_gcr3_table for a v2 domain: setup_gcr3_table with the device's max_pasids
   * (a device without PASID support: 1, so get_gcr3_levels(1) = GLX 0; a PRI device here: 2^16,
   * GLX 1), then update_gcr3(dev_data, 0, pgd, true): GCR3[0] = pgd | GCR3_VALID. True when written.
   */
  private initGcr3(devid: number, d: AmdDomain): boolean {
    const g = this.setupGcr3(devid, this.priDevids.has(devid) ? Math.ceil(AMD_PASID_BITS / 9) - 1 : 0);
    const entry = this.gcr3Entry(g, 0, true)!;
    this.mem.writeU64(entry, (BigInt(d.root) & 0x000ffffffffff000n) | BigInt(GCR3_VALID));
    g.pasids = [...g.pasids.filter(([p]) => p !== 0), [0, d.root]];
    return true;
  }

  /** destroy_gcr3_table: GCR3[0] cleared (update_gcr3(dev_data, 0, 0, false)) and the table dropped (free_gcr3_table). */
  private destroyGcr3(devid: number): void {
    const g = this.gcr3.get(devid);
    if (g === undefined) return;
    const entry = this.gcr3Entry(g, 0, false);
    if (entry !== undefined) this.mem.writeU64(entry, 0n);
    this.gcr3.delete(devid);
  }

  /** The domain a device id is attached to. */
  domainOf(devid: number): AmdDomain | undefined {
    for (const d of this.domains.values()) if (d.devids.has(devid)) return d;
    return undefined;
  }

  /**
   * amd_iommu_set_gcr3 for an SVA bind (pasid.c iommu_sva_set_dev_pasid): the PASID must be
   * 0 < pasid < max_pasids (is_pasid_valid; PASID 0 is the requests without PASID) and the device
   * must have a GCR3 table, which attach_device -> init_gcr3_table sets up only for an SVA-capable
   * domain (identity or v2; pdom_is_sva_capable): a v1 DMA domain has none, -EINVAL. The table is
   * set up here at the first bind (setup_gcr3_table: GLX from get_gcr3_levels(max_pasids), a domid
   * of its own) and the DTE rewritten (set_dte_gcr3_table, device_flush_dte); then update_gcr3
   * writes the entry (__get_gcr3_pte allocating the lower levels; (cr3 & PAGE_MASK) | GCR3_VALID)
   * and flushes the PASID (dev_flush_pasid_all). Returns an error text, or the entry's address.
   */
  bindPasid(devid: number, pasid: number, cr3: number): { error: string } | { entry: number; info: Gcr3Info } {
    if (pasid <= 0 || pasid >= 2 ** AMD_PASID_BITS) return { error: `PASID 0x${pasid.toString(16)} is not in 1..0x${(2 ** AMD_PASID_BITS - 1).toString(16)} (is_pasid_valid: PASID 0 is for requests without PASID)` };
    const d = this.domainOf(devid);
    if (d === undefined || (!d.passThrough && !d.v2)) return { error: `the device's DMA domain has v1 page tables, so it has no GCR3 table (init_gcr3_table runs only for an identity or v2 domain, pdom_is_sva_capable)` };
    if (d.v2 && this.v2Layout !== "device") return { error: `a v2 DMA domain of Linux 6.1-6.8 has one GCR3 table per protection domain for PASID 0 only (domain_enable_v2(domain, 1)): binding a PASID on it is not modelled` };
    let g = this.gcr3.get(devid);
    if (g === undefined) {
      // get_gcr3_levels(max_pasids): get_count_order(2^16) = 16 -> DIV_ROUND_UP(16, 9) - 1 = 1 (two levels).
      g = this.setupGcr3(devid, Math.ceil(AMD_PASID_BITS / 9) - 1);
      this.writeDte(devid, d);
      this.flushDte(devid);
    }
    // A v2 DMA domain's GCR3 table covers only the PASIDs its GLX indexes (a device without PASID support: PASID 0).
    if (pasid >= 2 ** (9 * (g.glx + 1))) return { error: `PASID 0x${pasid.toString(16)} is beyond the device's GCR3 table (GLX ${g.glx}: max_pasids of a device without PASID support)` };
    const entry = this.gcr3Entry(g, pasid, true)!;
    this.mem.writeU64(entry, (BigInt(cr3) & 0x000ffffffffff000n) | BigInt(GCR3_VALID));
    g.pasids = [...g.pasids.filter(([p]) => p !== pasid), [pasid, cr3]];
    this.flushPasid(devid, g.domid, pasid);
    this.completionWait();
    return { entry, info: g };
  }

  /** amd_iommu_clear_gcr3 (remove_dev_pasid): the entry zeroed, then dev_flush_pasid_all. False when the PASID was not bound. */
  unbindPasid(devid: number, pasid: number): boolean {
    const g = this.gcr3.get(devid);
    if (g === undefined || !g.pasids.some(([p]) => p === pasid)) return false;
    const entry = this.gcr3Entry(g, pasid, false);
    if (entry !== undefined) this.mem.writeU64(entry, 0n);
    g.pasids = g.pasids.filter(([p]) => p !== pasid);
    this.lazyPages.set(devid, (this.lazyPages.get(devid) ?? []).filter((p) => p.pasid !== pasid));
    this.flushPasid(devid, g.domid, pasid);
    this.completionWait();
    return true;
  }

  /**
   * amd_iommu_enable_ppr_log (ppr.c), at bring-up when the unit has PPR (FEATURE_PPR): PPREn, the
   * 512-entry log's base with PPR_LOG_SIZE_512 (length field 9), head and tail 0, PPRIntEn,
   * PPRLogEn. Here only on a host with a PRI device, so other hosts' memory layout is unchanged.
   */
  enablePprLog(): void {
    if (this.pprLog !== 0) return;
    this.pprLog = this.mem.allocPage();
    this.mem.allocPage();
    const u = this.unit;
    const ctrl = u.readReg(MMIO_CONTROL_OFFSET);
    u.writeReg(MMIO_CONTROL_OFFSET, ctrl | (1n << BigInt(CONTROL_PPR_EN)));
    u.writeReg(MMIO_PPR_LOG_OFFSET, BigInt(this.pprLog) | (BigInt(Math.log2(PPR_LOG_ENTRIES)) << 56n));
    u.writeReg(MMIO_PPR_HEAD_OFFSET, 0n);
    u.writeReg(MMIO_PPR_TAIL_OFFSET, 0n);
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) | (1n << BigInt(CONTROL_PPRINT_EN)) | (1n << BigInt(CONTROL_PPRLOG_EN)));
  }

  /**
   * The PPR interrupt (amd_iommu_int_thread_pprlog -> amd_iommu_poll_ppr_log): each entry from head
   * to tail is copied, zeroed (erratum 733) and the head advanced, then iommu_call_iopf_notifier:
   * a type other than PPR_REQ_FAULT is ignored; GN = 0 (ppr_is_valid) or a PASID outside
   * 1..max_pasids is answered with failure; otherwise the fault goes to the SVA handler, which maps
   * the page when the process has it (handle_mm_fault: a `present: false` page) and answers
   * IOMMU_PAGE_RESP_SUCCESS, else IOMMU_PAGE_RESP_INVALID - amd_iommu_page_response ->
   * amd_iommu_complete_ppr: COMPLETE_PPR (build_complete_ppr) and COMPLETION_WAIT. True when every
   * request was answered with success.
   */
  handlePageRequests(): boolean {
    return this.pollPprLog().every((p) => p.status === PPR_STATUS_SUCCESS);
  }

  /** amd_iommu_poll_ppr_log as handlePageRequests describes it: each request read and its COMPLETE_PPR status. */
  pollPprLog(): PprAnswer[] {
    const u = this.unit;
    const out: PprAnswer[] = [];
    for (const e of u.pendingPageRequests()) {
      const [r0, r1] = e.raw;
      this.mem.writeU64(e.at, 0n);
      this.mem.writeU64(e.at + 8, 0n);
      const head = (Number(u.readReg(MMIO_PPR_HEAD_OFFSET)) + ENTRY_SIZE) % (PPR_LOG_ENTRIES * ENTRY_SIZE);
      u.writeReg(MMIO_PPR_HEAD_OFFSET, BigInt(head));
      if (Number(r0 >> 60n) !== PPR_REQ_FAULT) continue; // pr_info_ratelimited("Unknown PPR request received")
      const devid = Number(r0 & 0xffffn);
      const pasid = Number(((r0 >> 42n) & 0xfn) << 16n | ((r0 >> 16n) & 0xffffn));
      const tag = Number((r0 >> 32n) & 0x3ffn);
      const flags = Number((r0 >> 48n) & 0xfffn);
      let status = PPR_STATUS_INVALID;
      if ((flags & PPR_FLAG_GN) !== 0 && pasid > 0 && pasid < 2 ** AMD_PASID_BITS) {
        const page = (this.lazyPages.get(devid) ?? []).find((p) => p.pasid === pasid && BigInt(p.va) === (r1 & ~0xfffn));
        if (page !== undefined) {
          this.mem.writeU64(v2EntryFor(this.mem, page.root, BigInt(page.va)), page.leaf);
          this.lazyPages.set(devid, this.lazyPages.get(devid)!.filter((p) => p !== page));
          status = PPR_STATUS_SUCCESS;
        }
      }
      out.push({ devid, pasid, address: r1 & ~0xfffn, write: (flags & PPR_FLAG_WRITE) !== 0, tag, status });
      // build_complete_ppr(devid, pasid, status, tag, gn = 1): data[1] = PASID | type, data[2] = GN, data[3] = tag & 0x1ff | status << 12.
      this.queue([BigInt(devid) | ((BigInt(pasid) | (BigInt(CMD_COMPLETE_PPR) << 28n)) << 32n), BigInt(CMD_INV_PAGES_GN) | (BigInt((tag & 0x1ff) | (status << 12)) << 32n)]);
      this.completionWait();
    }
    return out;
  }

  /**
   * amd_iommu_restart_log (init.c, v6.6 on), the restart of the PPR log (amd_iommu_restart_ppr_log)
   * and of the event log (amd_iommu_restart_event_logging): nothing while the log's Run bit is 1;
   * else its LogEn and IntEn off, its overflow bit cleared (W1C), IntEn and LogEn on again. True
   * when it restarted (the caller prints "IOMMU %s log restarting").
   */
  restartLog(log: "Event" | "PPR" | "GA"): boolean {
    const u = this.unit;
    // "GA": amd_iommu_restart_ga_log (af47b0a24058, v6.4: the same sequence, GALogEn then GAIntEn off,
    // GALogOverflow W1C, GAIntEn then GALogEn on), from v6.6 amd_iommu_restart_log(iommu, "GA", ...).
    const [run, overflow, logEn, intEn] =
      log === "PPR" ? [STATUS_PPR_RUN, STATUS_PPR_OVERFLOW, CONTROL_PPRLOG_EN, CONTROL_PPRINT_EN] : log === "GA" ? [STATUS_GALOG_RUN, STATUS_GALOG_OVERFLOW, CONTROL_GALOG_EN, CONTROL_GAINT_EN] : [STATUS_EVT_RUN, STATUS_EVT_OVERFLOW, CONTROL_EVT_LOG_EN, CONTROL_EVT_INT_EN];
    if ((Number(u.readReg(MMIO_STATUS_OFFSET)) & run) !== 0) return false;
    const l = 1n << BigInt(logEn);
    const i = 1n << BigInt(intEn);
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) & ~l);
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) & ~i);
    u.writeReg(MMIO_STATUS_OFFSET, BigInt(overflow));
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) | i);
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) | l);
    return true;
  }

  /**
   * amd_iommu_restart_event_logging as 5ce97f4ec5e0 wrote it (v5.17 to v6.5): EventLogEn off, then
   * on (iommu_feature_disable / iommu_feature_enable), without looking at EventLogRun; the caller
   * cleared EventOverflow with the interrupt mask before.
   */
  restartEventLogging(): void {
    const u = this.unit;
    const l = 1n << BigInt(CONTROL_EVT_LOG_EN);
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) & ~l);
    u.writeReg(MMIO_CONTROL_OFFSET, u.readReg(MMIO_CONTROL_OFFSET) | l);
  }

  /** __get_gcr3_pte: the last-level entry of `pasid`, allocating the lower tables when `alloc`. */
  gcr3Entry(g: Gcr3Info, pasid: number, alloc: boolean): number | undefined {
    let root = g.table;
    for (let level = g.glx; ; level--) {
      const at = root + ((pasid >>> (9 * level)) & 0x1ff) * 8;
      if (level === 0) return at;
      let v = this.mem.readU64(at) ?? 0n;
      if ((v & BigInt(GCR3_VALID)) === 0n) {
        if (!alloc) return undefined;
        v = BigInt(this.mem.allocPage()) | BigInt(GCR3_VALID);
        this.mem.writeU64(at, v);
      }
      root = Number(v & 0x000ffffffffff000n);
    }
  }

  /**
   * dev_flush_pasid_all -> dev_flush_pasid_pages: INVALIDATE_IOMMU_PAGES of every page with GN and
   * the PASID (build_inv_iommu_pages(..., gcr3_info.domid, pasid, true)), and for an ATS device
   * INVALIDATE_IOTLB_PAGES with the PASID (build_inv_iotlb_pages with GN).
   */
  private flushPasid(devid: number, domid: number, pasid: number): void {
    this.queue(invIommuPagesGn(domid, 0n, 1n << 64n, pasid));
    if (this.atsDevids.has(devid) && !this.atsFlushForgotten.has(devid)) {
      const [i0, i1] = invIotlbPages(devid, ATS_QDEP, 0n, 1n << 64n);
      // build_inv_iotlb_pages with gn: PASID[15:8] in data[0] 23:16, PASID[7:0] in data[1] 23:16, GN in data[2].
      this.queue([i0 | (BigInt((pasid >>> 8) & 0xff) << 16n) | (BigInt(pasid & 0xff) << 48n), i1 | BigInt(CMD_INV_PAGES_GN)]);
    }
  }

  // ------------------------------------------------------------------ interrupt remapping (iommu.c)

  /** Every device id's interrupt remapping table (device id, table address), in device id order. */
  irqTables(): [number, number][] {
    return [...this.irt].sort((a, b) => a[0] - b[0]);
  }

  /** The interrupt remapping table of a device id (its DTE's IntTableRootPtr), if it has one. */
  irqTable(devid: number): number | undefined {
    return this.irt.get(devid);
  }

  /**
   * modify_irte / modify_irte_ga (or clear_irte when `words` is all zero): the entry written into
   * the device's table, then iommu_flush_irt_and_complete(devid): INVALIDATE_INTERRUPT_TABLE for
   * the device id and COMPLETION_WAIT. Returns the entry's address.
   */
  writeIrte(devid: number, index: number, words: [bigint, bigint], flush: boolean): number | undefined {
    const table = this.irt.get(devid);
    if (table === undefined) return undefined;
    if (this.intremap === "ga") {
      const at = table + index * 16;
      this.mem.writeU64(at, words[0]);
      this.mem.writeU64(at + 8, words[1]);
      if (flush) this.flushIrt(devid);
      return at;
    }
    const at = table + index * 4;
    this.mem.write32(at, Number(words[0] & 0xffffffffn));
    if (flush) this.flushIrt(devid);
    return at;
  }

  /** build_inv_irt + COMPLETION_WAIT. */
  private flushIrt(devid: number): void {
    this.queue([BigInt(devid & 0xffff) | (BigInt(CMD_INV_IRT) << 60n), 0n]);
    this.completionWait();
  }

  // ------------------------------------------------------------------ map / unmap (io_pgtable.c, v1)

  /**
   * iommu_map: the range cut into the largest page sizes the alignment of IOVA and HPA allows
   * (iommu_pgsize over AMD_IOMMU_PGSIZES), each written by iommu_v1_map_pages: the tables down
   * to PAGE_SIZE_LEVEL(size) (alloc_pte, PDEs with IR | IW), then PAGE_SIZE_PTE_COUNT(size)
   * equal entries - Next Level 7 and the size in the address bits when more than one
   * (PAGE_SIZE_PTE), FC set, IR/IW from prot. Overwritten present entries are flushed.
   */
  map(d: AmdDomain, iova: bigint, hpa: bigint, size: bigint, prot: number): void {
    if (d.passThrough) return;
    if (d.v2) return this.mapV2(d, iova, hpa, size, prot);
    let done = 0n;
    let flush = false;
    while (done < size) {
      const shift = pageShiftFor(iova + done, hpa + done, size - done);
      const pgsize = 1n << BigInt(shift);
      this.growFor(d, iova + done + pgsize - 1n);
      if (this.mapOne(d, iova + done, hpa + done, shift, prot)) flush = true;
      done += pgsize;
    }
    this.lastChange = { iova, size, flushed: flush };
    if (flush) {
      this.flushPages(d.did, iova, size);
      this.completionWait();
    }
  }

  /** increase_address_space: a new top table whose entry 0 points at the old root, until `last` fits. */
  private growFor(d: AmdDomain, last: bigint): void {
    let grown = false;
    while (d.mode < this.maxMode && last >> BigInt(12 + 9 * d.mode) !== 0n) {
      const top = this.mem.allocPage();
      this.mem.writeU64(top, pde(d.mode, d.root));
      d.root = top;
      d.mode++;
      grown = true;
    }
    if (grown) {
      for (const devid of d.devids) {
        this.writeDte(devid, d);
        this.flushDte(devid);
      }
      this.completionWait();
    }
  }

  /** One page of 2^shift bytes; true when it replaced present entries. */
  private mapOne(d: AmdDomain, iova: bigint, hpa: bigint, shift: number, prot: number): boolean {
    const endLevel = Math.floor((shift - 12) / 9) + 1; // PAGE_SIZE_LEVEL, 1-based
    const count = 1 << (shift - 12) % 9; // PAGE_SIZE_PTE_COUNT
    let table = d.root;
    for (let level = d.mode; level > endLevel; level--) {
      const at = table + idx(iova, level) * 8;
      const v = this.mem.readU64(at) ?? 0n;
      const next = Number((v >> 9n) & 7n);
      if ((v & 1n) === 0n || next === 0 || next === NEXT_LEVEL_LARGE) {
        const t = this.mem.allocPage();
        this.mem.writeU64(at, pde(level - 1, t));
        table = t;
      } else table = Number(v & 0x000ffffffffff000n);
    }
    let pte: bigint;
    if (count > 1) {
      const pgsize = 1n << BigInt(shift);
      // PAGE_SIZE_PTE(address, pagesize): ((address | (pagesize - 1)) & ~(pagesize >> 1)) & PM_ADDR_MASK.
      pte = ((hpa | (pgsize - 1n)) & ~(pgsize >> 1n) & 0x000ffffffffff000n) | (BigInt(NEXT_LEVEL_LARGE) << 9n);
    } else pte = hpa & 0x000ffffffffff000n;
    pte |= 1n | (1n << 60n); // IOMMU_PTE_PR | IOMMU_PTE_FC
    if (prot & PROT_READ) pte |= 1n << 61n;
    if (prot & PROT_WRITE) pte |= 1n << 62n;
    const first = idx(iova, endLevel);
    let updated = false;
    for (let i = 0; i < count; i++) {
      const at = table + (first + i) * 8;
      if (((this.mem.readU64(at) ?? 0n) & 1n) !== 0n) updated = true;
      this.mem.writeU64(at, pte);
    }
    return updated;
  }

  /**
   * iommu_v1_unmap_pages: each present leaf in the range cleared with its count of entries (a
   * Next Level 7 page as a whole, fetch_pte's first_pte_l7), then amd_iommu_iotlb_sync: one
   * INVALIDATE_IOMMU_PAGES over the range and COMPLETION_WAIT. Tables stay (v1 frees them with the domain).
   */
  unmap(d: AmdDomain, iova: bigint, size: bigint): bigint {
    if (d.passThrough) return size;
    if (d.v2) return this.unmapV2(d, iova, size);
    let at = iova;
    let unmapped = 0n;
    const end = iova + size;
    while (at < end) {
      const f = this.fetchPte(d, at);
      const pgsize = 1n << BigInt(f.shift);
      if (f.address !== undefined) {
        const count = f.large ? Number(pgsize / (1n << BigInt(12 + 9 * (f.level - 1)))) : 1;
        const first = f.large ? f.address - ((Number((at >> BigInt(12 + 9 * (f.level - 1))) & 511n) % count) * 8) : f.address;
        for (let i = 0; i < count; i++) this.mem.writeU64(first + i * 8, 0n);
        unmapped += pgsize;
      }
      at = (at & ~(pgsize - 1n)) + pgsize;
    }
    this.lastChange = { iova, size, flushed: true };
    this.flushPages(d.did, iova, size);
    this.completionWait();
    return unmapped;
  }

  /**
   * iommu_map on a v2 domain: the iommu core cuts the range into AMD_IOMMU_PGSIZES_V2 pages (4 KiB,
   * 2 MiB, 1 GiB: the largest the alignment of IOVA and HPA and the size allow), each written by
   * iommu_v2_map_pages: v2_alloc_pte down to the page's level (directories set_pgtable_attr: P | R/W
   * | U/S | A | D; a present PS entry on the way cleared), the leaf set_pte_attr: P | U/S | A | D,
   * R/W with IOMMU_PROT_IW, PS for 2 MiB / 1 GiB. Overwritten present entries are flushed
   * (amd_iommu_flush_page / amd_iommu_flush_tlb -> __domain_flush_pages with GN).
   */
  private mapV2(d: AmdDomain, iova: bigint, hpa: bigint, size: bigint, prot: number): void {
    let done = 0n;
    let updated = false;
    while (done < size) {
      const at = iova + done;
      const pa = hpa + done;
      const shift = V2_PAGE_SHIFTS.find((s) => { const ps = 1n << BigInt(s); return ps <= size - done && ((at | pa) & (ps - 1n)) === 0n; })!;
      const level = (shift - 12) / 9 + 1;
      const entry = v2EntryFor(this.mem, d.root, at, level, () => (updated = true));
      if (((this.mem.readU64(entry) ?? 0n) & BigInt(V2_P)) !== 0n) updated = true;
      const leaf = (pa & 0x000ffffffffff000n) | BigInt(V2_P | V2_US | V2_A | V2_D) | (prot & PROT_WRITE ? BigInt(V2_RW) : 0n) | (level > 1 ? BigInt(V2_PS) : 0n);
      this.mem.writeU64(entry, leaf);
      done += 1n << BigInt(shift);
    }
    if (updated) {
      this.flushPages(d.did, iova, size);
      this.completionWait();
    }
  }

  /**
   * iommu_v2_unmap_pages: fetch_pte for each page (a PS entry at level 3 or 2 is 1 GiB / 2 MiB), the
   * entry zeroed; then amd_iommu_iotlb_sync -> amd_iommu_domain_flush_pages (GN, PASID 0) and
   * COMPLETION_WAIT. Tables stay.
   */
  private unmapV2(d: AmdDomain, iova: bigint, size: bigint): bigint {
    let at = iova;
    let unmapped = 0n;
    const end = iova + size;
    while (at < end) {
      const f = v2Leaf(this.mem, d.root, at);
      const pgsize = 1n << BigInt(f.shift);
      if (f.address === undefined) break; // fetch_pte NULL: iommu_v2_unmap_pages returns what it unmapped
      this.mem.writeU64(f.address, 0n);
      unmapped += pgsize;
      at = (at & ~(pgsize - 1n)) + pgsize;
    }
    this.flushPages(d.did, iova, size);
    this.completionWait();
    return unmapped;
  }

  /** fetch_pte: the leaf (or the non-present entry) covering `iova`, its level and page size. */
  fetchPte(d: AmdDomain, iova: bigint): { address?: number; level: number; shift: number; large: boolean } {
    let table = d.root;
    for (let level = d.mode; level >= 1; level--) {
      const at = table + idx(iova, level) * 8;
      const v = this.mem.readU64(at) ?? 0n;
      const shift = 12 + 9 * (level - 1);
      if ((v & 1n) === 0n) return { level, shift, large: false };
      const next = Number((v >> 9n) & 7n);
      if (next === NEXT_LEVEL_LARGE) return { address: at, level, shift: largeShift(v), large: true };
      if (next === 0) return { address: at, level, shift, large: false };
      table = Number(v & 0x000ffffffffff000n);
    }
    return { level: 1, shift: 12, large: false };
  }

  /**
   * Aperture width of a domain (VFIO's): what maxMode levels cover; a v2 domain's is 47 bits
   * (dma_max_address(PD_MODE_V2): (1 << (PM_LEVEL_SHIFT(4 levels) - 1)) - 1, the top bit chopped
   * off for the sign-extended v2 address space).
   */
  domainWidth(): number {
    if (this.pgtable === "v2") return 12 + 9 * V2_LEVELS - 1;
    return Math.min(64, 12 + 9 * this.maxMode);
  }

  // ------------------------------------------------------------------ events

  /**
   * iommu_poll_events: the events from head to tail, each zeroed after reading (erratum 732), the
   * head written back. The interrupt thread around it (the Status bits, the overflow) is the host's
   * serviceFaults, per kernel generation.
   */
  pollEvents(): [number, number, number, number][] {
    const u = this.unit;
    const out: [number, number, number, number][] = [];
    for (const e of u.pendingEvents()) {
      out.push(e.words);
      this.mem.write64(e.at, 0, 0);
      this.mem.write64(e.at + 8, 0, 0);
    }
    u.writeReg(MMIO_EVT_HEAD_OFFSET, u.readReg(MMIO_EVT_TAIL_OFFSET));
    return out;
  }

  snapshot(): AmdDriverSnapshot {
    return {
      domains: [...this.domains.values()].map((d) => ({ did: d.did, passThrough: d.passThrough, ...(d.v2 ? { v2: true } : {}), root: d.root, mode: d.mode, devids: [...d.devids], ...(d.sharedTable ? { sharedTable: true } : {}) })),
      cmdTail: this.cmdTail,
      sem: this.sem,
      irt: [...this.irt],
      gcr3: [...this.gcr3].map(([k, g]) => [k, { ...g, pasids: g.pasids.map(([p, c]) => [p, c] as [number, number]) }]),
      domainGcr3: [...this.domainGcr3].map(([k, g]) => [k, { ...g, pasids: g.pasids.map(([p, c]) => [p, c] as [number, number]) }]),
      lazyPages: [...this.lazyPages].map(([k, v]) => [k, v.map((p) => ({ ...p }))]),
      pprLog: this.pprLog,
    };
  }

  restore(s: AmdDriverSnapshot): void {
    this.domains.clear();
    for (const d of s.domains) this.domains.set(d.did, { ...d, devids: new Set(d.devids) });
    this.cmdTail = s.cmdTail;
    this.sem = s.sem;
    this.irt = new Map(s.irt);
    this.gcr3 = new Map((s.gcr3 ?? []).map(([k, g]) => [k, { ...g, pasids: g.pasids.map(([p, c]) => [p, c] as [number, number]) }]));
    this.domainGcr3 = new Map((s.domainGcr3 ?? []).map(([k, g]) => [k, { ...g, pasids: g.pasids.map(([p, c]) => [p, c] as [number, number]) }]));
    this.lazyPages = new Map((s.lazyPages ?? []).map(([k, v]) => [k, v.map((p) => ({ ...p }))]));
    this.pprLog = s.pprLog ?? 0;
  }
}

/** PM_LEVEL_PDE: a present directory entry pointing at a level-`nextLevel` table, IR | IW. */
function pde(nextLevel: number, table: number): bigint {
  return BigInt(table) | (BigInt(nextLevel) << 9n) | 1n | (1n << 61n) | (1n << 62n);
}

function idx(iova: bigint, level: number): number {
  return Number((iova >> BigInt(12 + 9 * (level - 1))) & 511n);
}

/** log2 of a Next Level 7 entry's page size: 13 + the ones from address bit 12 up. */
export function largeShift(v: bigint): number {
  let n = 0;
  while (n < 40 && ((v >> BigInt(12 + n)) & 1n) === 1n) n++;
  return 13 + n;
}

/** iommu_pgsize: the largest page size in AMD_IOMMU_PGSIZES not above `size` nor the alignment of iova | hpa. */
export function pageShiftFor(iova: bigint, hpa: bigint, size: bigint): number {
  let shift = 12;
  const merged = iova | hpa;
  while (shift < 51) {
    const next = shift + 1;
    const s = 1n << BigInt(next);
    if (s > size || (merged & (s - 1n)) !== 0n) break;
    shift = next;
  }
  if (shift === PGSIZE_EXCLUDED_SHIFT) shift--;
  return shift;
}

/**
 * build_inv_iotlb_pages: data[0] = devid | qdep << 24, data[1] = devid | CMD_INV_IOTLB_PAGES << 28,
 * data[2..3] = build_inv_address(address, size) (no PASID, GN = 0).
 */
export function invIotlbPages(devid: number, qdep: number, address: bigint, size: bigint): [bigint, bigint] {
  const inv = invIommuPages(0, address, size)[1] & ~BigInt(CMD_INV_PAGES_PDE);
  return [BigInt(devid & 0xffff) | (BigInt(qdep & 0xff) << 24n) | (BigInt(devid & 0xffff) << 32n) | (BigInt(CMD_INV_IOTLB) << 60n), inv];
}

/** The INVALIDATE_IOMMU_PAGES command Linux builds (build_inv_iommu_pages with build_inv_address). */
/**
 * build_inv_iommu_pages(..., pasid, gn = true): INVALIDATE_IOMMU_PAGES of a guest (v2) translation,
 * the PASID in data[0] 19:0 and GN in data[2] bit 1 - the command that drops the IOTLB's guest
 * entries of (did, pasid) in the range.
 */
export function invIommuPagesGn(did: number, address: bigint, size: bigint, pasid: number): [bigint, bigint] {
  const [c0, c1] = invIommuPages(did, address, size);
  return [c0 | BigInt(pasid & 0xfffff), c1 | BigInt(CMD_INV_PAGES_GN)];
}

export function invIommuPages(did: number, address: bigint, size: bigint): [bigint, bigint] {
  let inv: bigint;
  const pages = ((address & (PAGE - 1n)) + size + PAGE - 1n) / PAGE;
  if (pages === 1n) inv = address & ~(PAGE - 1n);
  else {
    const end = address + size - 1n;
    const msbDiff = bitLength(end ^ address) - 1;
    const a = msbDiff > 51 ? CMD_INV_ALL_PAGES_ADDRESS : address | ((1n << BigInt(msbDiff)) - 1n);
    inv = (a & ~(PAGE - 1n)) | BigInt(CMD_INV_PAGES_S);
  }
  return [(BigInt(did & 0xffff) << 32n) | (BigInt(CMD_INV_IOMMU_PAGES) << 60n), inv | BigInt(CMD_INV_PAGES_PDE)];
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * The level-1 entry's address for `va` in the v2 table at `root`, allocating directory pages as
 * the CPU's page tables have them (x86 _PAGE_TABLE = P | R/W | U/S | A | D, the bits io_pgtable_v2.c
 * set_pgtable_attr writes too): rights are decided at the leaf.
 */
export function v2EntryFor(mem: PhysicalMemory, root: number, va: bigint, leafLevel = 1, replaced?: () => void): number {
  let table = root;
  for (let level = V2_LEVELS; level > leafLevel; level--) {
    const at = table + Number((va >> BigInt(12 + 9 * (level - 1))) & 511n) * 8;
    let v = mem.readU64(at) ?? 0n;
    if ((v & 1n) === 0n || (v & BigInt(V2_PS)) !== 0n) {
      if ((v & 1n) !== 0n) replaced?.();
      v = BigInt(mem.allocPage()) | BigInt(V2_P | V2_RW | V2_US | V2_A | V2_D);
      mem.writeU64(at, v);
    }
    table = Number(v & 0x000ffffffffff000n);
  }
  return table + Number((va >> BigInt(12 + 9 * (leafLevel - 1))) & 511n) * 8;
}

/**
 * io_pgtable_v2.c fetch_pte: the present leaf covering `va` (a PS entry at level 3 / 2: 1 GiB /
 * 2 MiB) and its page size, or no address when an entry on the way is not present.
 */
export function v2Leaf(mem: PhysicalMemory, root: number, va: bigint): { address?: number; shift: number } {
  let table = root;
  for (let level = V2_LEVELS; level >= 1; level--) {
    const at = table + Number((va >> BigInt(12 + 9 * (level - 1))) & 511n) * 8;
    const v = mem.readU64(at) ?? 0n;
    const shift = 12 + 9 * (level - 1);
    if ((v & BigInt(V2_P)) === 0n) return { shift: 12 };
    if (level === 1 || (v & BigInt(V2_PS)) !== 0n) return { address: at, shift };
    table = Number(v & 0x000ffffffffff000n);
  }
  return { shift: 12 };
}
