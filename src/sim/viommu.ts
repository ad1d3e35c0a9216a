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
import { q35Memslots } from "./kvm.js";
import { PhysicalMemory, type MemorySnapshot } from "./memory.js";
import { IntelIommuDriver, type DmarDomain, type DriverSnapshot } from "./vtd/driver.js";
import { vtdUnit } from "./vtd/model.js";
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
  const aw = (v.awBits ?? DEFAULT_AW_BITS);
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

/** The outcome of a guest driver action (map / unmap and its invalidation). */
export interface GuestActionResult {
  /** Linux refused the request (intel_iommu_map's width check): the guest kernel's line and errno. */
  refused?: { errno: "EFAULT"; line: string };
  /** One per IOTLB invalidation QEMU trapped (none when the guest skipped it). */
  syncs: SyncResult[];
}

export class GuestViommu {
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
  /** QEMU's IOVA tree of the VM's address space, sorted by IOVA. */
  private shadow: ShadowEntry[] = [];
  /** Guest requester id of each assigned host device, by host device key. */
  private rids = new Map<string, number>();
  /** The step that last wrote the guest leaf entry at an IOVA (span start). */
  private written = new Map<bigint, number>();
  private readonly boot: GuestViommuSnapshot;

  constructor(
    readonly spec: ViommuSpec,
    ram: bigint,
    name: string,
  ) {
    const slots = q35Memslots(ram, 0n);
    const low = Number(slots[0]!.size);
    const end = slots.reduce((m, s) => (s.gpa + s.size > m ? s.gpa + s.size : m), 0n);
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

  /** The device's context entry points at the guest domain (domain_context_mapping in the guest). */
  attach(key: string, step: number, hooks: ShadowHooks): SyncResult[] {
    const rid = this.guestRid(key);
    if (this.domain.rids.has(rid)) return [];
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

  /** The guest driver unmaps (intel_iommu_unmap) and, unless `invalidate` is false, flushes. */
  unmap(key: string, iova: bigint, size: bigint, invalidate: boolean, step: number, hooks: ShadowHooks): GuestActionResult {
    const syncs = this.attach(key, step, hooks);
    this.driver.unmap(this.domain, iova, size, invalidate);
    for (let a = iova; a < iova + size; a += PAGE) this.written.delete(a);
    if (invalidate) syncs.push(...this.trapped(step, hooks));
    else this.driver.takeIssued();
    return { syncs };
  }

  /**
   * QEMU's side of the guest's invalidation queue: for each IOTLB descriptor the unit processed,
   * the shadow sync of the range it names (vtd_process_iotlb_desc).
   */
  private trapped(step: number, hooks: ShadowHooks): SyncResult[] {
    this.driver.takeIssued();
    const out: SyncResult[] = [];
    for (const { lo, hi } of this.unit.takeQueueLog()) {
      const d = decodeDesc(lo, hi);
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

  /** First shadow index whose mapping ends above `iova`. */
  private lowerBound(iova: bigint): number {
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
  private overlapping(iova: bigint, size: bigint): [number, number] {
    const from = this.lowerBound(iova);
    let to = from;
    while (to < this.shadow.length && this.shadow[to]!.iova < iova + size) to++;
    return [from, to];
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

  /** Trace events (by index) of host mappings whose guest entry an earlier step wrote: that step. */
  private notes = new Map<number, number>();

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

  /** The guest requester ids QEMU assigned, by host device key. */
  guestRids(): ReadonlyMap<string, number> {
    return this.rids;
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

  restore(s: GuestViommuSnapshot): void {
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
