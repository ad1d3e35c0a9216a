/**
 * The AMD-Vi IOTLB: successful translations tagged by DomainID (what INVALIDATE_IOMMU_PAGES
 * names), one entry per 4 KiB request page - QEMU's AMD IOMMU keys its IOTLB by the 4 KiB frame
 * number too (hw/i386/amd_iommu.c amdvi_iotlb_lookup: key = addr >> AMDVI_PAGE_SHIFT_4K), and
 * keeps the leaf's page size with the entry. Set-associative (`sets` x `ways`, FIFO victim per set)
 * in a memory's SRAM arena, laid out for the translate core (LAYOUT.amdIotlb: a set's tags, frame
 * numbers and page addresses each side by side, one 128-bit compare per field for 4 ways). The
 * rules of a lookup and a fill are the core's alone: this class calls its amdIotlbMatch and
 * amdIotlbFill (the same generators as the bursts' probes and fills), the unit's IOTLB through
 * the unit's core, any other (a device IOTLB, a unit without a core) through a core of its own
 * over a small memory of its own. It lists, invalidates, snapshots and restores the ways.
 * Lookups and fills allocate nothing. The device IOTLB of ATS devices is one too
 * (tag: device id), whose entries also carry the PASID of the translation request (-1: none), as
 * a PCIe ATC tags them; the unit's own IOTLB always fills -1.
 *
 * The unit's guest (v2) translations (DomainID and PASID) live in the same ways as its v1 ones
 * (AmdIotlb.guestView): one IOTLB of the configured sets x ways, whose FIFO victim per set is
 * shared, so the configured capacity holds for both kinds together. A guest entry's tag is
 * did + 1 + GUEST_TAG, which the translate core's probe (tag = did + 1) never matches, and the
 * core's fills may take its way like any other.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { MemoryView, PhysicalMemory } from "../memory.js";
import { TableWalkCore } from "../walkCore.js";
import { CORE_AMD_IOTLB } from "../vtd/translateCoreLayout.js";

export interface AmdIotlbEntry {
  did: number;
  /** The PASID the translation was for; -1: a request without PASID. */
  pasid: number;
  /** IOVA of the cached 4 KiB page. */
  iova: bigint;
  hpa: bigint;
  /** log2 of the leaf's page size (12 = 4 KiB, 21 = 2 MiB, 13 = an 8 KiB Next Level 7 page ...). */
  pageShift: number;
  perm: number;
  set: number;
  way: number;
}

export interface AmdIotlbSnapshot {
  /** The sets as the core lays them out (CORE_AMD_IOTLB: rows of `ways` i32 per set). */
  slots: Int32Array;
  victim: Uint8Array;
  /** Per way (set x ways + way): the PASID (-1: none); absent in snapshots from before PASID-tagged entries. */
  pasid?: Int32Array;
}

const ROWS = CORE_AMD_IOTLB.rows;
const { rowTag: TAG, rowVpnLo: VPN_LO, rowVpnHi: VPN_HI, rowLo: LO, rowHi: HI } = CORE_AMD_IOTLB;
const AUX_SHIFT = CORE_AMD_IOTLB.auxShiftShift;

/** Tag offset of the guest (v2) entries in a shared IOTLB: above every did + 1 (DomainIDs are 16 bits). */
const GUEST_TAG = 0x20000;
/** Tags one view owns: tagBase + 1 .. tagBase + 0x10000. */
const DID_TAGS = 0x10000;

/** The core's IOTLB exports (TableWalkCore). */
type AmdIotlbCore = Pick<TableWalkCore, "configureAmdIotlb" | "amdIotlbMatch" | "amdIotlbFill">;

/** Index of the lowest set bit of a non-zero 32-bit mask. */
const lowestBit = (m: number) => 31 - Math.clz32(m & -m);

export class AmdIotlb {
  readonly sets: number;
  readonly ways: number;
  /** Added to did + 1 in this view's tags (0, or GUEST_TAG for the guest view of a unit's IOTLB). */
  private tagBase = 0;
  /**
   * The entries of this view carry no PASID (an IOTLB the translate core's bursts fill: they write
   * no PASID, so a way they took over from a guest entry keeps a stale one, which this view ignores).
   */
  private noPasid = false;
  private readonly slotsIn: MemoryView<Int32Array>;
  private readonly victimIn: MemoryView<Uint8Array>;
  private readonly core: AmdIotlbCore;
  /**
   * Per way: the PASID of the entry's request, -1 without (a device IOTLB's PASID-tagged entries).
   * Not in the SRAM arena: the translate core does not tag by PASID, so an IOTLB the core's bursts
   * fill (the unit's own, which caches no PASID translation) only ever holds -1 here (fill() checks).
   */
  readonly pasid: Int32Array;
  // ---- results of the last hit
  hpaLo = 0;
  hpaHi = 0;
  perm = 0;
  pageShift = 12;

  /** Bytes of a memory's SRAM arena an IOTLB of this geometry takes (alignment included). */
  static arenaBytes(sets: number, ways: number): number {
    return sets * ways * 4 * ROWS + sets + 2 * 64;
  }

  /**
   * With `mem`, the ways live in its SRAM arena and are probed and filled by `core` (the unit's
   * translate core over `mem`, whose bursts probe and fill them too) or by a core of their own
   * over `mem`; without (or without room for a core in `mem`'s arena), in a small memory of their
   * own with a core of their own.
   */
  constructor(sets: number, ways: number, mem?: PhysicalMemory, core?: TableWalkCore) {
    this.sets = sets;
    this.ways = ways;
    this.noPasid = mem !== undefined;
    let c = core ?? (mem === undefined ? null : TableWalkCore.create(mem, AmdIotlb.arenaBytes(sets, ways)));
    if (mem === undefined || c === null) {
      mem = new PhysicalMemory({ poolBase: 0, poolMaxPages: 1, poolInitialPages: 1, dramBytes: 0, sramBytes: TableWalkCore.ARENA_BYTES + AmdIotlb.arenaBytes(sets, ways) });
      c = TableWalkCore.create(mem)!;
    }
    this.core = c;
    this.slotsIn = new MemoryView(mem, Int32Array, mem.allocSram(sets * ways * 4 * ROWS, 64), sets * ways * ROWS);
    this.victimIn = new MemoryView(mem, Uint8Array, mem.allocSram(sets, 1), sets);
    c.configureAmdIotlb(this.slotsIn.offset, this.victimIn.offset, sets, ways);
    this.pasid = new Int32Array(sets * ways).fill(-1);
  }

  /**
   * The guest (v2) view of `host`: the same ways, FIFO victims and PASIDs, its own tags
   * (did + 1 + GUEST_TAG). Entries of one view are invisible to the other's lookups,
   * invalidations and entries(); a fill of either may evict an entry of the other.
   */
  static guestView(host: AmdIotlb): AmdIotlb {
    const g: AmdIotlb = Object.create(AmdIotlb.prototype) as AmdIotlb;
    Object.assign(g, { sets: host.sets, ways: host.ways, slotsIn: host.slotsIn, victimIn: host.victimIn, core: host.core, pasid: host.pasid, tagBase: GUEST_TAG, noPasid: false, hpaLo: 0, hpaHi: 0, perm: 0, pageShift: 12 });
    return g;
  }

  /** The sets (CORE_AMD_IOTLB's layout: set s, way w, row r at (s x rows + r) x ways + w). */
  get slots(): Int32Array {
    return this.slotsIn.get();
  }

  /** FIFO victim way per set. */
  get victim(): Uint8Array {
    return this.victimIn.get();
  }

  /** Tag t belongs to this view. */
  private owns(t: number): boolean {
    return t > this.tagBase && t <= this.tagBase + DID_TAGS;
  }

  get size(): number {
    return this.sets * this.ways;
  }

  /** Index in `slots` of row r of way i (set x ways + way). */
  private at(i: number, r: number): number {
    const w = i % this.ways;
    return (i - w) * ROWS + r * this.ways + w;
  }

  /** A hit: true, with hpaLo/hpaHi (of the byte's 4 KiB page), perm and pageShift set. `pasid` -1: an entry without PASID. */
  lookup(did: number, vpnLo: number, vpnHi: number, pasid = -1): boolean {
    let m = this.core.amdIotlbMatch(did + 1 + this.tagBase, vpnLo | 0, vpnHi | 0);
    if (m === 0) return false;
    const first = (vpnLo & (this.sets - 1)) * this.ways;
    let w = lowestBit(m);
    if (!this.noPasid) {
      // A guest view's or a device IOTLB's ways of the same tag and frame may differ in PASID.
      while (m !== 0 && this.pasid[first + (w = lowestBit(m))] !== pasid) m &= m - 1;
      if (m === 0) return false;
    }
    const slots = this.slots;
    const i = first + w;
    const lo = slots[this.at(i, LO)]!;
    this.hpaLo = (lo & CORE_AMD_IOTLB.pageLoMask) >>> 0;
    this.hpaHi = slots[this.at(i, HI)]! >>> 0;
    this.perm = lo & 3;
    this.pageShift = (lo & CORE_AMD_IOTLB.auxMask) >>> AUX_SHIFT;
    return true;
  }

  fill(did: number, vpnLo: number, vpnHi: number, hpaLo: number, hpaHi: number, perm: number, pageShift: number, pasid = -1): void {
    // The core's bursts probe and fill an IOTLB they share by DID and page alone.
    if (pasid !== -1 && this.noPasid) throw new Error("a PASID-tagged entry in an IOTLB the translate core shares");
    const i = this.core.amdIotlbFill(did + 1 + this.tagBase, vpnLo | 0, vpnHi | 0, hpaLo | 0, hpaHi | 0, perm, pageShift);
    this.pasid[i] = pasid;
  }

  /**
   * Drops the entries of `did` (all domains when did < 0) whose page lies in [first, last]; with
   * `pasid` only those of that PASID (-1: those without PASID), else every entry. Returns how many.
   */
  invalidate(did: number, first: bigint, last: bigint, pasid?: number): number {
    let n = 0;
    const slots = this.slots;
    for (let i = 0; i < this.size; i++) {
      const q = this.at(i, TAG);
      const t = slots[q]!;
      if (!this.owns(t) || (did >= 0 && t !== did + 1 + this.tagBase)) continue;
      if (pasid !== undefined && !this.noPasid && this.pasid[i] !== pasid) continue;
      const iova = this.iovaAt(slots, i);
      if (iova < first || iova > last) continue;
      slots[q] = 0;
      n++;
    }
    return n;
  }

  private iovaAt(slots: Int32Array, i: number): bigint {
    return ((BigInt(slots[this.at(i, VPN_HI)]! >>> 0) << 32n) | BigInt(slots[this.at(i, VPN_LO)]! >>> 0)) << 12n;
  }

  entries(): AmdIotlbEntry[] {
    const out: AmdIotlbEntry[] = [];
    const slots = this.slots;
    for (let i = 0; i < this.size; i++) {
      const t = slots[this.at(i, TAG)]!;
      if (!this.owns(t)) continue;
      const lo = slots[this.at(i, LO)]!;
      out.push({
        did: t - 1 - this.tagBase,
        pasid: this.noPasid ? -1 : this.pasid[i]!,
        iova: this.iovaAt(slots, i),
        hpa: (BigInt(slots[this.at(i, HI)]! >>> 0) << 32n) | BigInt((lo & CORE_AMD_IOTLB.pageLoMask) >>> 0),
        pageShift: (lo & CORE_AMD_IOTLB.auxMask) >>> AUX_SHIFT,
        perm: lo & 3,
        set: Math.floor(i / this.ways),
        way: i % this.ways,
      });
    }
    return out;
  }

  snapshot(): AmdIotlbSnapshot {
    return { slots: this.slots.slice(), victim: this.victim.slice(), pasid: this.pasid.slice() };
  }

  restore(s: AmdIotlbSnapshot): void {
    this.slots.set(s.slots);
    this.victim.set(s.victim);
    if (s.pasid !== undefined) this.pasid.set(s.pasid);
    else this.pasid.fill(-1);
  }
}
