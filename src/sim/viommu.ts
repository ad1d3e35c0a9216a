/**
 * A guest's vIOMMU with real tables: QEMU's emulated Intel VT-d (hw/i386/intel_iommu.c, legacy
 * mode) in front of a VM, the guest kernel's intel-iommu driver that programs it, and QEMU's
 * shadowing of the guest's tables into VFIO in caching mode.
 *
 * - The guest's root, context and second-level tables are bytes in the guest's physical address
 *   space: a PhysicalMemory addressed by GPA whose table pool sits at the top of the VM's low RAM
 *   (below the PCI hole, where the guest's page allocator hands out its page-table pages).
 * - QEMU's intel-iommu is a DmarUnit on that memory, with the capabilities QEMU gives it
 *   (vtd_cap_init); the guest driver is the same IntelIommuDriver the host uses, in caching mode
 *   (it flushes after every map). So the guest tables are written, read and invalidated by the one
 *   VT-d model: the walk of the guest table is the DmarUnit's walk (SlptWalker), nothing else.
 * - Caching mode: every IOTLB invalidation the guest queues is trapped by QEMU
 *   (vtd_process_iotlb_desc). A page-selective one syncs that range (vtd_iotlb_page_invalidate_notify
 *   -> vtd_sync_shadow_page_table_range), a domain-selective or global one the whole address space
 *   (vtd_sync_shadow_page_table / vtd_iommu_replay_all). The sync walks the guest table as
 *   vtd_page_walk_level does - one event per present leaf (a 4 KiB entry, or a superpage), one
 *   unmap event per non-present entry over its whole span - and vtd_page_walk_one filters the
 *   events through the address space's IOVA tree (what QEMU has mapped): an identical mapping is
 *   skipped, a changed one is unmapped and mapped again, an unmap of nothing is skipped. Each
 *   surviving event is one VFIO_IOMMU_MAP_DMA / VFIO_IOMMU_UNMAP_DMA (vfio_iommu_map_notify).
 *   Here the walk asks the guest DmarUnit, entry span by entry span, what its walk finds (probes
 *   that bypass its caches), and takes the span to skip from the level where the walk stopped.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { IommuSpec, ViommuSpec } from "../scenario/types.js";
import type { IommuUnit } from "./iommu.js";
import { memslotsEnd, q35Memslots } from "./kvm.js";
import { PhysicalMemory, type MemorySnapshot } from "./memory.js";
import { Ratelimit } from "./printk.js";
import { IntelIommuDriver, type DmarDomain, type DriverSnapshot } from "./vtd/driver.js";
import { vtdUnit } from "./vtd/model.js";
import { deviceTlbRange } from "./vtd/devtlb.js";
import { decodeDesc } from "./vtd/qi.js";
import { IOTLB_PSI } from "./vtd/qi.js";
import { VTD_FR_READ, VTD_FR_WRITE } from "./vtd/reasons.js";
import { DmarUnit, type DmarUnitSnapshot } from "./vtd/unit.js";

const PAGE = 4096n;
/** Page-table pages the guest driver may take: 16 MiB of tables. */
const GUEST_TABLE_PAGES = 4096;
/** Bytes an entry at `level` covers (4 KiB at level 1, 2 MiB at 2, 1 GiB at 3, ...). */
const levelSpan = (level: number): bigint => PAGE << BigInt(9 * (level - 1));

/** QEMU's default aw-bits: 48 since QEMU 9.2 (hw/i386/intel_iommu.c VTD_HOST_AW_48BIT default; 39 before). */
export const DEFAULT_AW_BITS = 48;

/**
 * QEMU's intel-iommu in legacy mode as the guest sees it (hw/i386/intel_iommu.c vtd_cap_init,
 * intel_iommu_internal.h): MGAW = aw-bits, SAGAW 39-bit (and 48-bit with aw-bits=48), ND = 6
 * (VTD_CAP_ND with 16-bit domain ids), one fault recording register (VTD_FRCD_REG_NR), PSI with
 * MAMV 18 (VTD_MAMV), SLLPS 2 MiB + 1 GiB (VTD_CAP_SLLPS), ECAP.QI, ECAP.PT (x-pt default on),
 * ECAP.DT with device-iotlb=on, CAP.CM with caching-mode=on.
 */
export function viommuIommuSpec(v: ViommuSpec): IommuSpec {
  const aw = (v.awBits ?? DEFAULT_AW_BITS) as 39 | 48; // intel-iommu: the parser takes 39 or 48 only
  return {
    model: "intel-vtd",
    addressWidth: aw,
    sagaw: aw === 48 ? [39, 48] : [39],
    cachingMode: v.cachingMode,
    faultRecords: 1,
    nd: 6,
    iotlbSets: 64,
    iotlbWays: 4,
    superpages: { "2M": true, "1G": true },
    passThrough: true,
    queuedInvalidation: true,
    deviceTlb: v.deviceIotlb ?? false,
    pageSelectiveInvalidation: true,
    mamv: 18,
    hostPassThrough: false,
    range: v.range,
  };
}

/** One mapping QEMU made for the guest (an entry of vtd_as->iova_tree, a DMAMap). */
export interface ShadowEntry {
  iova: bigint;
  size: bigint;
  /** The guest entry's output address: a GPA. */
  gpa: bigint;
  /** R = 1, W = 2, as the guest entry (ANDed down its walk) grants. */
  perm: number;
  /** Workload step whose guest driver action wrote the entry (-1: unknown). */
  writtenBy: number;
}

/** What QEMU's notifier does with one walk event: the VMM's VFIO calls. */
export interface ShadowHooks {
  /** VFIO_IOMMU_MAP_DMA of one guest entry; false when it failed (QEMU reports it and goes on). */
  map(e: ShadowEntry): boolean;
  /** VFIO_IOMMU_UNMAP_DMA of an event's range. */
  unmap(iova: bigint, size: bigint): void;
}

/** What one invalidation's sync did. */
export interface SyncResult {
  /** Range the invalidation covered. */
  first: bigint;
  last: bigint;
  maps: number;
  failed: number;
  unmaps: number;
  /** Identical mappings vtd_page_walk_one skipped. */
  skipped: number;
  /** Changed translations: unmapped, then mapped again. */
  remapped: number;
}

export interface GuestViommuSnapshot {
  mem: MemorySnapshot;
  unit: DmarUnitSnapshot;
  driver: DriverSnapshot;
  shadow: ShadowEntry[];
  rids: [string, number][];
  written: [bigint, number][];
  /** The cause notes (noteCause) of the trace's events so far: a run resumed from a checkpoint keeps them. */
  notes?: [number, number][];
}

/**
 * A Device-TLB invalidate descriptor (QI type 0x3) the guest queued on its vIOMMU, as QEMU's
 * vtd_process_device_iotlb_desc (hw/i386/intel_iommu.c) decodes it: the requester id and the range
 * (S = 1: 8 KiB << cto64(addr >> 12), aligned down). QEMU sends it to the device's address space as
 * an IOMMU_NOTIFIER_DEVIOTLB_UNMAP event (memory_region_notify_iommu). Only vhost registers for
 * that event; VFIO's notifier is IOMMU_NOTIFIER_IOTLB_EVENTS = MAP | UNMAP (hw/vfio/listener.c
 * vfio_listener_region_add, QEMU commit "vfio: Do not register any IOMMU_NOTIFIER_DEVIOTLB_UNMAP
 * notifier", 2021): for an assigned device nothing reaches the host. Its ATC caches the HOST
 * IOMMU's translations, which the host kernel flushes itself when QEMU's VFIO_IOMMU_UNMAP_DMA
 * clears the shadow (the host driver's iommu_flush_iotlb_psi -> iommu_flush_dev_iotlb).
 */
export interface GuestDeviceIotlbInvalidation {
  /** Guest requester id (the vIOMMU's bus:devfn). */
  sid: number;
  addr: bigint;
  size: bigint;
}

/** The outcome of a guest driver action (map / unmap and its invalidation). */
export interface GuestActionResult {
  /** Linux refused the request (intel_iommu_map's width check): the guest kernel's line and errno. */
  refused?: { errno: "EFAULT" | "EINVAL" | "ENODEV"; line: string };
  /**
   * virtio-iommu: QEMU answered a request with an error status (virtio_iommu_map / _unmap), or the
   * guest driver never sent it: what happened, in QEMU's / Linux's terms.
   */
  rejected?: { status?: VirtioIommuStatus; why: string };
  /** virtio-iommu UNMAP: the bytes the guest driver removed (whole mappings: it never splits one). */
  unmapped?: bigint;
  /** One per IOTLB invalidation QEMU trapped (none when the guest skipped it). */
  syncs: SyncResult[];
  /** The Device-TLB invalidations QEMU processed (intel-iommu with device-iotlb=on and an ATS device). */
  deviceIotlb?: GuestDeviceIotlbInvalidation[];
}

/**
 * What a VM's vIOMMU is to the rest of the simulator (the VMM's guest-map / guest-unmap, the
 * machine's snapshots, the views): the one interface over the models QEMU emulates. Only the model
 * classes below know how the guest's requests reach QEMU (intel-iommu: tables and trapped
 * invalidations; virtio-iommu: MAP / UNMAP requests on a virtqueue).
 */
export interface Viommu {
  readonly spec: ViommuSpec;
  readonly model: ViommuSpec["model"];
  /** The guest unit through the IOMMU contract, when the vIOMMU has tables in guest memory (intel-iommu); virtio-iommu has none. */
  readonly iommu?: IommuUnit;
  /** The guest's domain id (intel: its DMAR domain; virtio-iommu: the domain the driver attached). */
  readonly guestDomain: number;
  /** Width of IOVAs the guest may map. */
  readonly domainWidth: number;
  /** The vIOMMU's model and options, for the views ("intel-iommu · caching-mode=on · aw-bits 48"). */
  describe(): { description: string; tooltip: string };
  map(key: string, iova: bigint, size: bigint, gpa: bigint, perm: number, invalidate: boolean, step: number, hooks: ShadowHooks): GuestActionResult;
  /** `deviceIotlbInvalidate` false: the guest flushes the IOTLB but forgets the Device-TLB invalidation (intel-iommu, device-iotlb=on). */
  unmap(key: string, iova: bigint, size: bigint, invalidate: boolean, step: number, hooks: ShadowHooks, deviceIotlbInvalidate?: boolean): GuestActionResult;
  /** intel-iommu: whether the guest enables ATS for the assigned host device `key` (device-iotlb=on and an ATS capability). */
  guestAts?(key: string): boolean;
  reset(): void;
  snapshot(): ViommuSnapshot;
  restore(s: ViommuSnapshot): void;
  noteCause(event: number, step: number): void;
  causeOf(event: number): number | undefined;
  shadowEntries(): readonly ShadowEntry[];
  mappingAt(iova: bigint): ShadowEntry | undefined;
  guestRids(): ReadonlyMap<string, number>;
}

export type ViommuSnapshot = GuestViommuSnapshot | VirtioIommuSnapshot;

/**
 * The VM's vIOMMU of the model its spec names. `atsDevices`: the host devices with a PCIe ATS
 * capability (host.iommu.ats); vfio-pci shows the guest that capability read-only. `host`: the host
 * unit whose reserved IOVA ranges QEMU passes to virtio-iommu.
 */
export function createViommu(spec: ViommuSpec, ram: bigint, name: string, machine: "q35" | "virt", atsDevices: ReadonlySet<string> = new Set(), host?: HostIovaSpec): Viommu {
  return spec.model === "virtio-iommu" ? new VirtioIommu(spec, machine, host) : new GuestViommu(spec, ram, name, atsDevices);
}

/** What every model keeps: QEMU's IOVA tree (its mappings into VFIO), the guest requester ids, the trace's cause notes. */
abstract class ViommuCommon {
  /** QEMU's IOVA tree of the VM's address space, sorted by IOVA. */
  protected shadow: ShadowEntry[] = [];
  /** Guest requester id of each assigned host device, by host device key. */
  protected rids = new Map<string, number>();
  /** Trace events (by index) of host mappings whose guest entry an earlier step wrote: that step. */
  protected notes = new Map<number, number>();

  /**
   * The guest requester id of an assigned host device: QEMU places each vfio-pci device on the
   * guest's root bus, in order of assignment from slot 3 (00:03.0, 00:04.0, ...).
   */
  guestRid(key: string): number {
    let rid = this.rids.get(key);
    if (rid === undefined) {
      rid = (3 + this.rids.size) << 3;
      this.rids.set(key, rid);
    }
    return rid;
  }

  /** First shadow index whose mapping ends above `iova`. */
  protected lowerBound(iova: bigint): number {
    let lo = 0;
    let hi = this.shadow.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = this.shadow[mid]!;
      if (e.iova + e.size <= iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Indices [from, to) of shadow entries overlapping [iova, iova + size). */
  protected overlapping(iova: bigint, size: bigint): [number, number] {
    const from = this.lowerBound(iova);
    let to = from;
    while (to < this.shadow.length && this.shadow[to]!.iova < iova + size) to++;
    return [from, to];
  }

  /** Links the host mapping at trace event `event` to the step whose guest driver action wrote its entry. */
  noteCause(event: number, step: number): void {
    this.notes.set(event, step);
  }

  /**
   * The step whose guest action caused the host mapping of trace event `event`, when it is not the
   * event's own step (a guest-map whose invalidation came later); undefined otherwise.
   */
  causeOf(event: number): number | undefined {
    return this.notes.get(event);
  }

  /** QEMU's IOVA tree: what it believes it mapped into VFIO for the guest. */
  shadowEntries(): readonly ShadowEntry[] {
    return this.shadow;
  }

  /** The node of QEMU's IOVA tree holding `iova`, if any. */
  mappingAt(iova: bigint): ShadowEntry | undefined {
    const e = this.shadow[this.lowerBound(iova)];
    return e !== undefined && e.iova <= iova ? e : undefined;
  }

  /** The guest requester ids QEMU assigned, by host device key. */
  guestRids(): ReadonlyMap<string, number> {
    return this.rids;
  }
}

export class GuestViommu extends ViommuCommon implements Viommu {
  readonly model = "intel";
  /** The guest-physical address space holding the guest's IOMMU tables. */
  readonly mem: PhysicalMemory;
  /** QEMU's emulated VT-d unit. */
  readonly unit: DmarUnit;
  /** The guest kernel's intel-iommu driver. */
  readonly driver: IntelIommuDriver;
  /** The guest unit through the IOMMU contract: tables(), explain() of guest IOVA -> GPA. */
  readonly iommu: IommuUnit;
  /** GPA of the guest's table pool. */
  readonly tableBase: number;
  /** The guest DMA domain every assigned device of the VM is attached to. */
  domain!: DmarDomain;
  /** The step that last wrote the guest leaf entry at an IOVA (span start). */
  private written = new Map<bigint, number>();
  private readonly boot: GuestViommuSnapshot;

  constructor(
    readonly spec: ViommuSpec,
    ram: bigint,
    name: string,
    /** Host devices with an ATS capability the guest sees (createViommu). */
    private readonly atsDevices: ReadonlySet<string> = new Set(),
  ) {
    super();
    const slots = q35Memslots(ram, 0n);
    const low = Number(slots[0]!.size);
    const end = memslotsEnd(slots);
    const pages = Math.max(16, Math.min(GUEST_TABLE_PAGES, Math.floor(low / 4096 / 4)));
    this.tableBase = Math.max(0, low - pages * 4096);
    const unitSpec = viommuIommuSpec(spec);
    this.mem = new PhysicalMemory({
      poolBase: this.tableBase,
      poolMaxPages: pages,
      poolInitialPages: 16,
      dramBytes: Number(end),
      sparseMaxPages: 256,
      sramBytes: DmarUnit.sramBytes(unitSpec),
    });
    this.unit = new DmarUnit(this.mem, unitSpec, `${name} vIOMMU`);
    this.driver = new IntelIommuDriver(this.unit, this.mem);
    this.iommu = vtdUnit(this.unit, this.driver, this.mem);
    this.bootGuest();
    this.boot = this.snapshot();
  }

  /** The guest kernel boots: intel_iommu_init on QEMU's unit, one DMA domain for the assigned devices. */
  private bootGuest(): void {
    this.driver.init();
    this.domain = this.driver.allocDomain(false);
    this.unit.takeQueueLog();
    this.driver.takeIssued();
  }

  /** The guest reboots (the VM starts again): no tables, nothing shadowed. */
  reset(): void {
    // The cause notes are about trace events already recorded, not guest state: a reboot keeps them.
    const notes = this.notes;
    this.restore(this.boot);
    this.notes = notes;
  }

  get guestDomain(): number {
    return this.domain.did;
  }

  describe(): { description: string; tooltip: string } {
    const cm = this.spec.cachingMode;
    return {
      description: `intel-iommu · caching-mode=${cm ? "on" : "off"} · aw-bits ${this.domainWidth}${this.spec.deviceIotlb ? " · device-iotlb" : ""}`,
      tooltip: cm
        ? "The guest programs its own IOMMU; caching mode makes it report every map so QEMU can shadow it into VFIO."
        : "Without caching mode QEMU cannot see the guest's mappings: vfio-pci refuses the device (\"caching-mode=on\" required).",
    };
  }

  /**
   * Whether the guest enables ATS for the assigned device: Linux's info->ats_supported needs the
   * unit's ECAP.DT (ecap_dev_iotlb_support: QEMU sets it with device-iotlb=on, vtd_cap_init) and
   * the device's ATS capability (pci_ats_supported), which QEMU's vfio-pci passes to the guest
   * (hw/vfio/pci.c vfio_add_ext_cap drops SR-IOV, ARI and, in some versions, resizable BAR - not
   * ATS) and the host's vfio-pci exposes read-only (drivers/vfio/pci/vfio_pci_config.c
   * pci_ext_cap_length[PCI_EXT_CAP_ID_ATS], default ecap_perms = direct_ro_perms: the guest's
   * pci_enable_ats write to the ATS Control register is dropped, the device keeps the host's
   * setting). A device on the guest's root bus is integrated ("If it's an integrated device, allow
   * ATS"), so dmar_ats_supported allows it without an ATSR.
   */
  guestAts(key: string): boolean {
    return this.spec.deviceIotlb === true && this.atsDevices.has(key);
  }

  /** The device's context entry points at the guest domain (domain_context_mapping in the guest). */
  attach(key: string, step: number, hooks: ShadowHooks): SyncResult[] {
    const rid = this.guestRid(key);
    if (this.domain.rids.has(rid)) return [];
    // domain_context_mapping_one: CONTEXT_TT_DEV_IOTLB (T = 01b) where info->ats_supported.
    if (this.guestAts(key)) this.driver.atsRids.set(rid, true);
    this.driver.attach(this.domain, [rid]);
    return this.trapped(step, hooks);
  }

  /** Width of IOVAs the guest domain takes (Linux: the domain's gaw, __DOMAIN_MAX_ADDR). */
  get domainWidth(): number {
    return this.driver.domainWidth(this.domain);
  }

  /**
   * The guest driver maps [iova, iova + size) -> gpa (intel_iommu_map -> __domain_mapping) and,
   * unless `invalidate` is false, flushes the range as caching mode requires
   * (iommu_flush_iotlb_psi after every map); QEMU traps the flush and shadows.
   */
  map(key: string, iova: bigint, size: bigint, gpa: bigint, perm: number, invalidate: boolean, step: number, hooks: ShadowHooks): GuestActionResult {
    const syncs = this.attach(key, step, hooks);
    // drivers/iommu/intel/iommu.c intel_iommu_map(): max_addr = iova + size beyond the domain's
    // gaw: pr_err("%s: iommu width (%d) is not sufficient for the mapped address (%llx)\n") and
    // -EFAULT (pr_fmt "DMAR: ").
    const gaw = this.domainWidth;
    if (iova + size > 1n << BigInt(gaw)) {
      return { refused: { errno: "EFAULT", line: `DMAR: intel_iommu_map: iommu width (${gaw}) is not sufficient for the mapped address (${(iova + size).toString(16)})` }, syncs };
    }
    this.driver.map(this.domain, iova, gpa, size, perm, invalidate);
    for (let a = iova; a < iova + size; a += PAGE) this.written.set(a, step);
    if (invalidate) syncs.push(...this.trapped(step, hooks));
    else this.driver.takeIssued();
    return { syncs };
  }

  /**
   * The guest driver unmaps (intel_iommu_unmap) and, unless `invalidate` is false, flushes: the
   * IOTLB, then (v6.5 iommu_flush_iotlb_psi -> iommu_flush_dev_iotlb, every unmap, caching mode or
   * not) one Device-TLB invalidate per ATS device of the domain, unless `deviceIotlbInvalidate` is
   * false (the guest bug: the IOTLB flush without the Device-TLB one).
   */
  unmap(key: string, iova: bigint, size: bigint, invalidate: boolean, step: number, hooks: ShadowHooks, deviceIotlbInvalidate = true): GuestActionResult {
    const syncs = this.attach(key, step, hooks);
    const ats = this.driver.atsRids;
    const forget = deviceIotlbInvalidate ? [] : [...this.domain.rids].filter((rid) => ats.get(rid) === true);
    for (const rid of forget) ats.set(rid, false);
    try {
      this.driver.unmap(this.domain, iova, size, invalidate);
    } finally {
      for (const rid of forget) ats.set(rid, true);
    }
    for (let a = iova; a < iova + size; a += PAGE) this.written.delete(a);
    const deviceIotlb: GuestDeviceIotlbInvalidation[] = [];
    if (invalidate) syncs.push(...this.trapped(step, hooks, deviceIotlb));
    else this.driver.takeIssued();
    return { syncs, ...(this.spec.deviceIotlb ? { deviceIotlb } : {}) };
  }

  /**
   * QEMU's side of the guest's invalidation queue: for each IOTLB descriptor the unit processed,
   * the shadow sync of the range it names (vtd_process_iotlb_desc); each Device-TLB descriptor
   * (vtd_process_device_iotlb_desc) into `deviceIotlb`, reaching no VFIO notifier.
   */
  private trapped(step: number, hooks: ShadowHooks, deviceIotlb?: GuestDeviceIotlbInvalidation[]): SyncResult[] {
    this.driver.takeIssued();
    const out: SyncResult[] = [];
    for (const { lo, hi } of this.unit.takeQueueLog()) {
      const d = decodeDesc(lo, hi);
      if (d.type === "dev-iotlb") {
        deviceIotlb?.push({ sid: d.sid, ...deviceTlbRange(d.addr, d.size) });
        continue;
      }
      if (d.type !== "iotlb") continue;
      const top = 1n << BigInt(this.domainWidth);
      if (d.granularity === IOTLB_PSI) {
        // vtd_iotlb_page_invalidate: addr with AM low bits masked, 2^AM pages.
        const size = PAGE << BigInt(d.am);
        const first = d.addr & ~(size - 1n);
        out.push(this.sync(first, first + size, step, hooks));
      } else out.push(this.sync(0n, top, step, hooks));
    }
    return out;
  }

  /**
   * vtd_sync_shadow_page_table_range: the guest table over [first, end) as vtd_page_walk_level
   * sees it, each event through vtd_page_walk_one's IOVA-tree filter into `hooks`.
   */
  sync(first: bigint, end: bigint, step: number, hooks: ShadowHooks): SyncResult {
    const r: SyncResult = { first, last: end - 1n, maps: 0, failed: 0, unmaps: 0, skipped: 0, remapped: 0 };
    const top = 1n << BigInt(this.domainWidth);
    if (end > top) end = top; // vtd_page_walk: end = MIN(end, vtd_iova_limit())
    const rid = this.anyRid();
    let iova = first;
    while (iova < end) {
      const leaf = rid === undefined ? undefined : this.probe(rid, iova);
      if (leaf === "stop") break; // vtd_page_walk_level: a reserved bit or unreadable entry ends the walk
      const level = leaf === undefined ? this.domain.levels : leaf.level;
      const span = levelSpan(level);
      const at = iova & ~(span - 1n);
      if (leaf === undefined || !leaf.present) this.unmapEvent(at, span, r, hooks);
      else this.mapEvent({ iova: at, size: span, gpa: leaf.gpa, perm: leaf.perm, writtenBy: this.written.get(at) ?? step }, r, hooks);
      iova = at + span;
    }
    return r;
  }

  /** A requester id attached to the domain (the walk starts from its context entry). */
  private anyRid(): number | undefined {
    for (const rid of this.domain.rids) return rid;
    return undefined;
  }

  /**
   * What the guest unit's walk finds at `iova` (caches bypassed, nothing recorded): a leaf with
   * its output address and permissions, or the level of the entry where neither a read nor a
   * write gets through (QEMU: entry_valid = read_cur | write_cur, ANDed down the levels).
   */
  private probe(rid: number, iova: bigint): { present: true; level: number; gpa: bigint; perm: number } | { present: false; level: number } | "stop" {
    const u = this.unit;
    const hi = Number(iova >> 32n);
    const lo = Number(iova & 0xffffffffn);
    const saved = u.bypassCaches;
    u.bypassCaches = true;
    try {
      let r = u.translate(rid, hi, lo, false, true);
      if (r === 0) return this.leafOf(u.level, u.perm);
      if (r !== VTD_FR_READ) return "stop";
      const readLevel = u.level;
      r = u.translate(rid, hi, lo, true, true);
      // A write to the interrupt range is an interrupt request, not a walk (VT-d 3.14): level 0.
      if (r === 0 && u.level >= 1) return this.leafOf(u.level, u.perm);
      if (r === 0) return { present: false, level: readLevel };
      if (r !== VTD_FR_WRITE) return "stop";
      return { present: false, level: Math.min(readLevel, u.level) };
    } finally {
      u.bypassCaches = saved;
    }
  }

  private leafOf(level: number, perm: number): { present: true; level: number; gpa: bigint; perm: number } {
    const u = this.unit;
    const out = (BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0);
    return { present: true, level, gpa: out & ~(levelSpan(level) - 1n), perm };
  }

  /** vtd_page_walk_one for a MAP event. */
  private mapEvent(e: ShadowEntry, r: SyncResult, hooks: ShadowHooks): void {
    const [from, to] = this.overlapping(e.iova, e.size);
    if (to - from === 1) {
      const m = this.shadow[from]!;
      if (m.iova === e.iova && m.size === e.size && m.gpa === e.gpa && m.perm === e.perm) {
        r.skipped++;
        return;
      }
    }
    if (to > from) {
      // "Translation changed. Normally this should not happen, but it can happen when with buggy
      // guest OSes": QEMU emulates an UNMAP of the event's range, then maps.
      hooks.unmap(e.iova, e.size);
      this.shadow.splice(from, to - from);
      r.unmaps++;
      r.remapped++;
    }
    this.shadow.splice(from, 0, e);
    if (hooks.map(e)) r.maps++;
    else r.failed++;
  }

  /** vtd_page_walk_one for an UNMAP event: skipped unless something was mapped there. */
  private unmapEvent(iova: bigint, size: bigint, r: SyncResult, hooks: ShadowHooks): void {
    const [from, to] = this.overlapping(iova, size);
    if (to === from) return;
    this.shadow.splice(from, to - from);
    hooks.unmap(iova, size);
    r.unmaps++;
  }

  snapshot(): GuestViommuSnapshot {
    return {
      mem: this.mem.snapshot(),
      unit: this.unit.snapshot(),
      driver: this.driver.snapshot(),
      shadow: [...this.shadow],
      rids: [...this.rids],
      written: [...this.written],
      notes: [...this.notes],
    };
  }

  restore(snap: ViommuSnapshot): void {
    const s = snap as GuestViommuSnapshot;
    this.mem.restore(s.mem);
    this.unit.restore(s.unit);
    this.driver.restore(s.driver);
    this.domain = this.driver.domains.get(this.domain.did)!;
    this.shadow = [...s.shadow];
    this.rids = new Map(s.rids);
    this.written = new Map(s.written);
    this.notes = new Map(s.notes ?? []);
  }
}

/**
 * virtio-iommu request status (include/uapi/linux/virtio_iommu.h VIRTIO_IOMMU_S_*; virtio spec
 * 1.2, 5.13.6 "Device operation").
 */
export type VirtioIommuStatus = "VIRTIO_IOMMU_S_INVAL" | "VIRTIO_IOMMU_S_RANGE" | "VIRTIO_IOMMU_S_NOENT";

/** QEMU virtio-iommu's default aw-bits per machine: hw/arm/virt.c arm_virt_compat "48", hw/i386/pc_q35.c pc_q35_compat_defaults "39". */
export const VIRTIO_IOMMU_DEFAULT_AW = { virt: 48, q35: 39 } as const;

/**
 * The IOVA window the guest's virtio-iommu driver reserves for MSIs when the device's PROBE reports
 * no MSI region (QEMU's virt machine reports none): drivers/iommu/virtio-iommu.c
 * viommu_get_resv_regions() adds IOMMU_RESV_SW_MSI at MSI_IOVA_BASE 0x8000000, MSI_IOVA_LENGTH
 * 0x100000. The guest's IOVA allocator keeps it out of DMA (dma-iommu iova_reserve_iommu_regions).
 */
export const VIRTIO_IOMMU_SW_MSI = { base: 0x8000000n, size: 0x100000n } as const;

/**
 * The MSI region QEMU's x86 machines give the device (hw/i386/pc.c pc_machine_device_pre_plug_cb:
 * "Declare the APIC range as the reserved MSI region", "0xfee00000:0xfeefffff" of type
 * VIRTIO_IOMMU_RESV_MEM_T_MSI). The PROBE reports it; the guest driver adds it as IOMMU_RESV_MSI
 * (viommu_add_resv_mem) and, having an MSI region, no SW_MSI window (viommu_get_resv_regions).
 */
export const VIRTIO_IOMMU_X86_MSI = { base: 0xfee00000n, size: 0x100000n } as const;

/** An IOVA range the guest's driver keeps out of its DMA allocator, and why (in the kernel's and QEMU's terms). */
export interface ReservedIova {
  base: bigint;
  size: bigint;
  /** What the range is ("the guest's reserved MSI window"). */
  what: string;
  why: string;
}

/** The host unit a VM's vIOMMU sits on, as far as its reserved IOVA ranges go. */
export interface HostIovaSpec {
  model: "intel-vtd" | "amd-vi" | "smmuv3";
  addressWidth: number;
}

const HOST_RANGES_WHY = "VFIO leaves it out of the usable IOVA ranges of the host's container (vfio_iommu_type1: the domain's aperture minus the group's reserved regions, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE), and QEMU's virtio-iommu reports what is not usable as a VIRTIO_IOMMU_RESV_MEM_T_RESERVED region in the PROBE (virtio_iommu_set_host_iova_ranges), so the guest's DMA allocator never hands it out";

/**
 * The host's reserved IOVA ranges QEMU passes on to the guest: the host driver's reserved regions
 * (iommu_get_group_resv_regions) and, for VT-d, the IOVAs beyond the domain's aperture.
 * - VT-d: intel_iommu_get_resv_regions() IOMMU_RESV_MSI at IOAPIC_RANGE_START 0xfee00000 ..
 *   IOAPIC_RANGE_END 0xfeefffff; the aperture ends at __DOMAIN_MAX_ADDR(gaw) = 2^aw - 1.
 * - AMD-Vi: amd_iommu_get_resv_regions() IOMMU_RESV_MSI MSI_RANGE_START 0xfee00000 .. 0xfeefffff and
 *   IOMMU_RESV_RESERVED HT_RANGE_START 0xfd00000000 .. HT_RANGE_END 0xffffffffff (drivers/iommu/amd/iommu.c).
 * - SMMUv3: arm_smmu_get_resv_regions() IOMMU_RESV_SW_MSI at MSI_IOVA_BASE 0x8000000, MSI_IOVA_LENGTH 0x100000.
 */
export function hostReservedIova(host: HostIovaSpec): ReservedIova[] {
  if (host.model === "smmuv3") return [{ ...VIRTIO_IOMMU_SW_MSI, what: "the host SMMU's MSI window", why: `arm_smmu_get_resv_regions IOMMU_RESV_SW_MSI; ${HOST_RANGES_WHY}` }];
  const msi = { ...VIRTIO_IOMMU_X86_MSI, what: "the host's interrupt window", why: `${host.model === "intel-vtd" ? "intel_iommu_get_resv_regions IOAPIC_RANGE_START" : "amd_iommu_get_resv_regions MSI_RANGE_START"}, IOMMU_RESV_MSI; ${HOST_RANGES_WHY}` };
  if (host.model === "amd-vi") return [msi, { base: 0xfd_0000_0000n, size: 0x3_0000_0000n, what: "the host's HyperTransport range", why: `amd_iommu_get_resv_regions HT_RANGE_START, IOMMU_RESV_RESERVED; ${HOST_RANGES_WHY}` }];
  const top = 1n << BigInt(host.addressWidth);
  return [msi, { base: top, size: (1n << 64n) - top, what: `the IOVAs beyond the host unit's ${host.addressWidth}-bit address width`, why: `the VFIO domain's aperture ends at __DOMAIN_MAX_ADDR(gaw) = 2^${host.addressWidth} - 1; ${HOST_RANGES_WHY}` }];
}

export interface VirtioIommuSnapshot {
  model: "virtio-iommu";
  shadow: ShadowEntry[];
  rids: [string, number][];
  notes: [number, number][];
  /** QEMU's error_report_once sites that printed; the guest's fault-line ratelimit. */
  reported?: string[];
  rs?: Ratelimit;
}

/**
 * struct virtio_iommu_fault's reason and flags (include/uapi/linux/virtio_iommu.h; virtio spec
 * 5.13.6.9 "Fault reporting", VIRTIO_IOMMU_T_FAULT): reason UNKNOWN 0, DOMAIN 1, MAPPING 2; flags
 * READ 1, WRITE 2, EXEC 4, ADDRESS 0x100 (the address field is valid).
 */
export const VIRTIO_IOMMU_FAULT_R_UNKNOWN = 0;
export const VIRTIO_IOMMU_FAULT_R_DOMAIN = 1;
export const VIRTIO_IOMMU_FAULT_R_MAPPING = 2;
export const VIRTIO_IOMMU_FAULT_F_READ = 1;
export const VIRTIO_IOMMU_FAULT_F_WRITE = 2;
export const VIRTIO_IOMMU_FAULT_F_EXEC = 4;
export const VIRTIO_IOMMU_FAULT_F_ADDRESS = 0x100;

/** What virtio_iommu_translate answered one access of an emulated endpoint. */
export type VirtioTranslation =
  | { gpa: bigint }
  | {
      /** The struct virtio_iommu_fault QEMU queued (virtio_iommu_report_fault). */
      fault: { reason: number; flags: number; endpoint: number; address: bigint };
      /** QEMU's error_report_once site and its line (printed once per QEMU process and site). */
      site: string;
      qemu: string;
    };

/**
 * The line the guest's driver prints for a fault it takes from the event queue
 * (drivers/iommu/virtio-iommu.c viommu_fault_handler, dev_err_ratelimited on the virtio device):
 * "%s fault from EP %u at %#llx [%s%s%s]" with reason "domain" / "page" / "unknown" and R, W, X
 * from the flags, or "%s fault from EP %u" without VIRTIO_IOMMU_FAULT_F_ADDRESS. The device is the
 * virtio device the driver binds ("virtio_iommu virtio0": the first virtio device the guest probes).
 */
export function virtioFaultLine(f: { reason: number; flags: number; endpoint: number; address: bigint }, device = "virtio0"): string {
  const reason = f.reason === VIRTIO_IOMMU_FAULT_R_DOMAIN ? "domain" : f.reason === VIRTIO_IOMMU_FAULT_R_MAPPING ? "page" : "unknown";
  const p = `virtio_iommu ${device}: `;
  if ((f.flags & VIRTIO_IOMMU_FAULT_F_ADDRESS) === 0) return `${p}${reason} fault from EP ${f.endpoint}`;
  const rwx = `${f.flags & VIRTIO_IOMMU_FAULT_F_READ ? "R" : ""}${f.flags & VIRTIO_IOMMU_FAULT_F_WRITE ? "W" : ""}${f.flags & VIRTIO_IOMMU_FAULT_F_EXEC ? "X" : ""}`;
  // %#llx: Linux's vsprintf puts "0x" before any value, 0 too (lib/vsprintf.c number(): need_pfx).
  return `${p}${reason} fault from EP ${f.endpoint} at 0x${f.address.toString(16)} [${rwx}]`;
}

/** Why QEMU refuses a MAP or UNMAP on a bypass domain (hw/virtio/virtio-iommu.c virtio_iommu_map / _unmap: "if (domain->bypass) return VIRTIO_IOMMU_S_INVAL"). */
const BYPASS_WHY = "the domain was attached with VIRTIO_IOMMU_ATTACH_F_BYPASS (viommu: bypass, the guest's identity domain), and virtio_iommu_map / virtio_iommu_unmap refuse requests on a bypass domain; QEMU already maps all guest RAM into VFIO, IOVA = GPA, so the device's DMA uses guest-physical addresses";

/** Highest set bit of a non-zero bigint. */
const fls = (x: bigint): number => x.toString(2).length - 1;
/** Lowest set bit of a non-zero bigint. */
const ffs = (x: bigint): number => fls(x & -x);

/**
 * QEMU's virtio-iommu (hw/virtio/virtio-iommu.c) in front of a VM, with the guest's Linux driver
 * (drivers/iommu/virtio-iommu.c). No tables in guest memory: the guest sends MAP / UNMAP requests
 * and QEMU keeps each domain's mappings in an interval tree (domain->mappings), one node per MAP.
 * There is no caching mode: virtio_iommu_map() notifies the VFIO listener at once
 * (virtio_iommu_notify_map), virtio_iommu_unmap() likewise, so `invalidate` means nothing here.
 *
 * - The guest's iommu core splits a map into page-size runs (drivers/iommu/iommu.c __iommu_map ->
 *   iommu_pgsize), each one viommu_map_pages() call and one VIRTIO_IOMMU_T_MAP request.
 * - QEMU splits each request's range into naturally aligned power-of-two blocks for its notifiers
 *   (virtio_iommu_notify_map_unmap -> dma_aligned_pow2_mask): one VFIO_IOMMU_MAP_DMA per block.
 * - A MAP overlapping a mapping of the domain: g_tree_lookup with interval_cmp finds it and QEMU
 *   answers VIRTIO_IOMMU_S_INVAL, mapping nothing.
 * - UNMAP: Linux's viommu_del_mappings removes whole mappings only ("Virtio-iommu doesn't allow
 *   UNMAP to split a mapping created with a single MAP request"): a mapping that starts below the
 *   range stops it (nothing unmapped: viommu_unmap_pages returns 0 and sends nothing); one that
 *   ends above the range is removed whole. If fewer bytes than asked were removed it returns 0
 *   without sending the UNMAP: QEMU keeps those mappings. QEMU itself answers S_RANGE to a split.
 */
export class VirtioIommu extends ViommuCommon implements Viommu {
  readonly model = "virtio-iommu";
  readonly iommu = undefined;
  /** The guest's domain id: Linux's first ida id from QEMU's domain_range (start 0, viommu_domain_finalise). */
  readonly guestDomain = 0;
  /** config.page_size_mask (QEMU: the granule's mask, 4k default on a 4 KiB host). */
  readonly pageSizeMask: bigint;
  readonly domainWidth: number;
  private readonly boot: VirtioIommuSnapshot;

  constructor(
    readonly spec: ViommuSpec,
    readonly machine: "q35" | "virt",
    host?: HostIovaSpec,
  ) {
    super();
    const own: ReservedIova =
      machine === "virt"
        ? { ...VIRTIO_IOMMU_SW_MSI, what: "the guest's reserved MSI window", why: "virtio-iommu IOMMU_RESV_SW_MSI: the device's PROBE reports no MSI region, so the guest driver reserves MSI_IOVA_BASE; its DMA allocator never hands this range out" }
        : { ...VIRTIO_IOMMU_X86_MSI, what: "the guest's reserved MSI region", why: "QEMU's x86 machine declares the APIC range a VIRTIO_IOMMU_RESV_MEM_T_MSI region, the PROBE reports it and the guest driver reserves it as IOMMU_RESV_MSI; its DMA allocator never hands this range out" };
    this.reserved = [own, ...(host ? hostReservedIova(host) : [])];
    this.domainWidth = spec.awBits ?? VIRTIO_IOMMU_DEFAULT_AW[machine];
    this.pageSizeMask = ((1n << 64n) - 1n) & ~(BigInt(spec.granule ?? 4096) - 1n);
    this.boot = this.snapshot();
  }

  get granule(): bigint {
    return this.pageSizeMask & -this.pageSizeMask;
  }

  describe(): { description: string; tooltip: string } {
    if (this.bypass) {
      return {
        description: `virtio-iommu · bypass · aw-bits ${this.domainWidth}`,
        tooltip: "The guest's devices are in an identity domain, attached with VIRTIO_IOMMU_ATTACH_F_BYPASS: QEMU maps all guest RAM into VFIO (IOVA = GPA) and answers a MAP with VIRTIO_IOMMU_S_INVAL.",
      };
    }
    return {
      description: `virtio-iommu · granule ${formatGranule(this.granule)} · aw-bits ${this.domainWidth}`,
      tooltip: "The guest sends MAP and UNMAP requests to QEMU's virtio-iommu, which maps each into VFIO at once (no tables in guest memory, no caching mode).",
    };
  }

  /**
   * The guest's devices sit in an identity domain (guest iommu.passthrough=1 or iommu=pt): Linux's
   * viommu_domain_finalise() sets vdomain->bypass for IOMMU_DOMAIN_IDENTITY when the device offers
   * VIRTIO_IOMMU_F_BYPASS_CONFIG (QEMU does), and viommu_attach_dev() sends ATTACH with
   * VIRTIO_IOMMU_ATTACH_F_BYPASS. QEMU's virtio_iommu_attach() then switches the endpoint to its
   * bypass address space (virtio_iommu_switch_address_space), so VFIO's memory listener maps every
   * RAM section IOVA = GPA, as without a vIOMMU (sim/vmm.ts), and virtio_iommu_map() /
   * virtio_iommu_unmap() answer VIRTIO_IOMMU_S_INVAL on a bypass domain.
   */
  get bypass(): boolean {
    return this.spec.bypass === true;
  }

  /**
   * The IOVA ranges the guest keeps out of DMA: its MSI window (virt: the driver's SW_MSI, as the
   * PROBE reports no MSI region there; q35: the APIC range QEMU's PROBE reports as T_MSI), then the
   * host's reserved ranges QEMU reports (hostReservedIova), when the host is known.
   */
  readonly reserved: readonly ReservedIova[];

  /** drivers/iommu/iommu.c iommu_pgsize(): the page size and count of the next run of [iova, iova + size) -> paddr. */
  private pgsize(iova: bigint, paddr: bigint, size: bigint): { pgsize: bigint; count: bigint } {
    const bitmap = this.pageSizeMask;
    let pgsizes = bitmap & ((1n << BigInt(fls(size) + 1)) - 1n);
    const merge = iova | paddr;
    if (merge !== 0n) pgsizes &= (1n << BigInt(ffs(merge) + 1)) - 1n;
    const idx = fls(pgsizes);
    const pgsize = 1n << BigInt(idx);
    const bigger = bitmap & ~((1n << BigInt(idx + 1)) - 1n);
    if (bigger !== 0n) {
      const next = 1n << BigInt(ffs(bigger));
      if (((iova ^ paddr) & (next - 1n)) === 0n) {
        const offset = next - (merge & (next - 1n));
        if (offset + next <= size) size = offset;
      }
    }
    return { pgsize, count: size >> BigInt(idx) };
  }

  map(key: string, iova: bigint, size: bigint, gpa: bigint, perm: number, _invalidate: boolean, step: number, hooks: ShadowHooks): GuestActionResult {
    this.guestRid(key);
    const syncs: SyncResult[] = [];
    if (this.bypass) return { rejected: { status: "VIRTIO_IOMMU_S_INVAL", why: BYPASS_WHY }, syncs };
    // drivers/iommu/virtio-iommu.c viommu_domain_finalise(): dev_err "granule 0x%lx larger than
    // system page size 0x%lx" and -ENODEV: the guest (4 KiB pages) cannot use a larger granule.
    if (this.granule > PAGE) {
      return { refused: { errno: "ENODEV", line: `virtio_iommu: granule 0x${this.granule.toString(16)} larger than system page size 0x${PAGE.toString(16)}` }, syncs };
    }
    // drivers/iommu/iommu.c __iommu_map(): pr_err("unaligned: iova 0x%lx pa %pa size 0x%zx
    // min_pagesz 0x%x\n") and -EINVAL (pr_fmt "iommu: "; %pa prints 0x and 16 hex digits).
    const min = this.granule;
    if (((iova | gpa | size) & (min - 1n)) !== 0n || size === 0n) {
      return { refused: { errno: "EINVAL", line: `iommu: unaligned: iova 0x${iova.toString(16)} pa 0x${gpa.toString(16).padStart(16, "0")} size 0x${size.toString(16)} min_pagesz 0x${min.toString(16)}` }, syncs };
    }
    // dma-iommu's iova_reserve_iommu_regions() keeps every reserved region out of the guest's IOVA allocator.
    const hit = this.reserved.find((r) => iova < r.base + r.size && iova + size > r.base);
    if (hit) {
      return { rejected: { why: `IOVA 0x${iova.toString(16)}+0x${size.toString(16)} overlaps ${hit.what} 0x${hit.base.toString(16)}-0x${(hit.base + hit.size - 1n).toString(16)} (${hit.why})` }, syncs };
    }
    // __iommu_map: one viommu_map_pages() call (one T_MAP request) per iommu_pgsize run.
    let done = 0n;
    while (done < size) {
      const { pgsize, count } = this.pgsize(iova + done, gpa + done, size - done);
      const len = pgsize * count;
      const r = this.request(iova + done, len, gpa + done, perm, step, hooks);
      if (r) return { rejected: r, syncs };
      done += len;
    }
    return { syncs };
  }

  /**
   * hw/virtio/virtio-iommu.c virtio_iommu_translate for one access by a device QEMU emulates
   * behind the virtio-iommu (an emulated endpoint's DMA goes through QEMU's IOMMU memory region;
   * an assigned device's never does: the host IOMMU translates it from what QEMU mapped into VFIO,
   * and its faults are the host's). In QEMU's order: an endpoint the guest never attached ("sid=%d is
   * not known!!": R_UNKNOWN); one not attached to a domain ("not attached to any domain": R_DOMAIN);
   * QEMU's reserved regions (an MSI region passes untranslated: the q35 APIC range); a bypass
   * domain passes (IOVA = GPA); no mapping ("no mapping for 0x%lx for sid=%d": R_MAPPING); a
   * read of a mapping without VIRTIO_IOMMU_MAP_F_READ or a write without _F_WRITE ("permission
   * error on ...": R_MAPPING with the READ / WRITE flag). Every fault has VIRTIO_IOMMU_FAULT_F_ADDRESS
   * and the endpoint id is the guest RID (virtio_iommu_get_bdf). `sid` is the guest RID; `endpoint`
   * the state the guest's driver left it in. The domain is the VM's one domain (its mappings).
   */
  translateEmulated(sid: number, addr: bigint, write: boolean, endpoint: "attached" | "detached" | "unknown"): VirtioTranslation {
    const flag = write ? 2 : 1; // IOMMU_RO 1, IOMMU_WO 2
    const fault = (reason: number, flags: number, site: string, qemu: string): VirtioTranslation => ({ fault: { reason, flags: flags | VIRTIO_IOMMU_FAULT_F_ADDRESS, endpoint: sid, address: addr }, site, qemu });
    const bdf = `${(sid >> 8).toString(16).padStart(2, "0")}:${((sid >> 3) & 0x1f).toString(16).padStart(2, "0")}.${sid & 7}`;
    // bypass_allowed (config.bypass) is off: the guest's driver negotiates VIRTIO_IOMMU_F_BYPASS_CONFIG and clears it.
    if (endpoint === "unknown") return fault(VIRTIO_IOMMU_FAULT_R_UNKNOWN, 0, "unknown", `virtio_iommu_translate sid=${sid} is not known!!`);
    // QEMU's reserved regions: only the x86 machine's MSI region (VIRTIO_IOMMU_RESV_MEM_T_MSI) is one here.
    if (this.machine === "q35" && addr >= VIRTIO_IOMMU_X86_MSI.base && addr < VIRTIO_IOMMU_X86_MSI.base + VIRTIO_IOMMU_X86_MSI.size) return { gpa: addr };
    if (endpoint === "detached") return fault(VIRTIO_IOMMU_FAULT_R_DOMAIN, 0, "domain", `virtio_iommu_translate ${bdf} not attached to any domain`);
    if (this.bypass) return { gpa: addr };
    const m = this.shadow.find((e) => addr >= e.iova && addr < e.iova + e.size);
    if (m === undefined) return fault(VIRTIO_IOMMU_FAULT_R_MAPPING, 0, "mapping", `virtio_iommu_translate no mapping for 0x${addr.toString(16)} for sid=${sid}`);
    const flags = (flag & 1 && !(m.perm & 1) ? VIRTIO_IOMMU_FAULT_F_READ : 0) | (flag & 2 && !(m.perm & 2) ? VIRTIO_IOMMU_FAULT_F_WRITE : 0);
    if (flags !== 0) return fault(VIRTIO_IOMMU_FAULT_R_MAPPING, flags, "permission", `virtio_iommu_translate permission error on 0x${addr.toString(16)}(${flag}): allowed=${m.perm}`);
    return { gpa: addr - m.iova + m.gpa };
  }

  /** virtio_iommu_map(): S_INVAL on an overlap, else insert and notify (split in aligned blocks). */
  private request(iova: bigint, size: bigint, gpa: bigint, perm: number, step: number, hooks: ShadowHooks): { status: VirtioIommuStatus; why: string } | undefined {
    const [from, to] = this.overlapping(iova, size);
    if (to > from) {
      const m = this.shadow[from]!;
      return { status: "VIRTIO_IOMMU_S_INVAL", why: `MAP [0x${iova.toString(16)}, 0x${(iova + size - 1n).toString(16)}] overlaps the domain's mapping [0x${m.iova.toString(16)}, 0x${(m.iova + m.size - 1n).toString(16)}] (virtio_iommu_map: g_tree_lookup finds it)` };
    }
    const r: SyncResult = { first: iova, last: iova + size - 1n, maps: 0, failed: 0, unmaps: 0, skipped: 0, remapped: 0 };
    this.shadow.splice(from, 0, { iova, size, gpa, perm, writtenBy: step });
    // virtio_iommu_notify_map_unmap: dma_aligned_pow2_mask blocks.
    for (const [a, len, off] of alignedBlocks(iova, size)) {
      if (hooks.map({ iova: a, size: len, gpa: gpa + off, perm, writtenBy: step })) r.maps++;
      else r.failed++;
    }
    return undefined;
  }

  unmap(key: string, iova: bigint, size: bigint, _invalidate: boolean, _step: number, hooks: ShadowHooks): GuestActionResult {
    this.guestRid(key);
    if (this.bypass) return { rejected: { status: "VIRTIO_IOMMU_S_INVAL", why: BYPASS_WHY }, unmapped: 0n, syncs: [] };
    let unmapped = 0n;
    // __iommu_unmap: one viommu_unmap_pages() per iommu_pgsize run; it stops at a run that unmaps nothing.
    while (unmapped < size) {
      const { pgsize, count } = this.pgsize(iova + unmapped, iova + unmapped, size - unmapped);
      const len = pgsize * count;
      const at = iova + unmapped;
      const [from, to] = this.overlapping(at, len);
      let removed = 0n;
      let k = from;
      // viommu_del_mappings: "Trying to split a mapping?" stops at a mapping starting below the range.
      while (k < to && this.shadow[k]!.iova >= at) {
        removed += this.shadow[k]!.size;
        k++;
      }
      if (removed < len) {
        // viommu_unmap_pages: "if (unmapped < size) return 0": no UNMAP is sent; QEMU keeps them.
        const split = k < to ? this.shadow[k] : undefined;
        const why = split
          ? `the guest's virtio-iommu driver does not split the mapping [0x${split.iova.toString(16)}, 0x${(split.iova + split.size - 1n).toString(16)}] (viommu_del_mappings: "Trying to split a mapping?"): nothing was unmapped from IOVA 0x${at.toString(16)}`
          : k > from
            ? `the guest removed ${formatGranule(removed)} of mappings but fewer bytes than the ${formatGranule(len)} asked: viommu_unmap_pages returns 0 without sending the UNMAP, so QEMU still maps them on the host`
            : `nothing was mapped at IOVA 0x${at.toString(16)}`;
        return { rejected: { why }, unmapped, syncs: [] };
      }
      const gone = this.shadow.splice(from, k - from);
      // VIRTIO_IOMMU_T_UNMAP [at, at + removed - 1]: QEMU notifies each removed mapping.
      for (const m of gone) for (const [a, l] of alignedBlocks(m.iova, m.size)) hooks.unmap(a, l);
      unmapped += removed;
    }
    return { unmapped, syncs: [] };
  }

  reset(): void {
    const notes = this.notes;
    this.restore(this.boot);
    this.notes = notes;
  }

  snapshot(): VirtioIommuSnapshot {
    return { model: "virtio-iommu", shadow: [...this.shadow], rids: [...this.rids], notes: [...this.notes], reported: [...this.reported], rs: Object.assign(Object.create(Ratelimit.prototype) as Ratelimit, this.faultRs) };
  }

  restore(snap: ViommuSnapshot): void {
    const s = snap as VirtioIommuSnapshot;
    this.shadow = [...s.shadow];
    this.rids = new Map(s.rids);
    this.notes = new Map(s.notes);
    this.reported = new Set(s.reported ?? []);
    this.faultRs = s.rs === undefined ? new Ratelimit() : Object.assign(Object.create(Ratelimit.prototype) as Ratelimit, s.rs);
  }

  /** QEMU's error_report_once sites of virtio_iommu_translate that have printed (once per QEMU process). */
  private reported = new Set<string>();
  /** The guest driver's dev_err_ratelimited in viommu_fault_handler (DEFAULT_RATELIMIT_INTERVAL / _BURST). */
  private faultRs = new Ratelimit();

  /**
   * One fault QEMU reported: its error_report_once line if that site has not printed yet, and the
   * guest's lines for the event (the ratelimit's "callbacks suppressed" line first when it ends a
   * suppression; nothing while it suppresses).
   */
  reportFault(t: Extract<VirtioTranslation, { fault: unknown }>, nowNs: bigint): { qemu?: string; guest: string[] } {
    const first = !this.reported.has(t.site);
    this.reported.add(t.site);
    const rl = this.faultRs.check(nowNs, "viommu_fault_handler");
    const guest = [...(rl.suppressedLine ? [rl.suppressedLine] : []), ...(rl.allowed ? [virtioFaultLine(t.fault)] : [])];
    return { ...(first ? { qemu: t.qemu } : {}), guest };
  }
}

/** [iova, size, offset] blocks of QEMU's dma_aligned_pow2_mask (system/dma-helpers.c) over [iova, iova + size). */
function alignedBlocks(iova: bigint, size: bigint): [bigint, bigint, bigint][] {
  const out: [bigint, bigint, bigint][] = [];
  const end = iova + size - 1n;
  let a = iova;
  while (a <= end) {
    const alignMask = a === 0n ? (1n << 64n) - 1n : (a & -a) - 1n;
    const sizeMask = end - a;
    const mask = alignMask <= sizeMask ? alignMask : (1n << BigInt(fls(sizeMask + 1n))) - 1n;
    out.push([a, mask + 1n, a - iova]);
    a += mask + 1n;
  }
  return out;
}

function formatGranule(b: bigint): string {
  return b >= 1n << 30n && b % (1n << 30n) === 0n ? `${b >> 30n} GiB` : b >= 1n << 20n && b % (1n << 20n) === 0n ? `${b >> 20n} MiB` : b >= 1024n && b % 1024n === 0n ? `${b >> 10n} KiB` : `${b} bytes`;
}
