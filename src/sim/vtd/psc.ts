/**
 * VT-d second-level paging-structure caches (VT-d spec 6.2.4 "Paging-Structure Caches": the
 * SL-PML5E, SL-PML4E, SL-PDPE and SL-PDE caches). An entry maps the upper bits of an IOVA - the
 * bits a non-leaf entry at `level` translates, iova >> (12 + 9 * (level - 1)) - to the address of
 * the next-level table that entry points to, with the R/W permissions ANDed down to it. The walk
 * (slpt.ts SlptWalker.walk) starts below the deepest cached entry and reads only the levels under
 * it, so a non-leaf entry changed in memory keeps being used until an invalidation drops it.
 *
 * What may be cached, per the spec: only present, non-faulting non-leaf entries (a walk that
 * faults at an entry caches nothing from it, CM = 0), tagged by domain id in legacy mode (by the
 * IOTLB's (DID, PASID) tag in scalable mode: the unit passes that tag). Invalidation (VT-d 6.5.2.3
 * IOTLB invalidate descriptor, 11.4.8 IOTLB_REG/IVA_REG): global drops every entry, domain-selective
 * the domain's, page-selective with IH = 0 the domain's entries whose region overlaps ADDR/AM;
 * page-selective with IH = 1 ("software has not modified any second-level non-leaf paging entries"
 * for the range, IVA_REG.IH) leaves the paging-structure caches alone. Linux sets IH only when the
 * unmap freed no page-table page (intel_iommu_tlb_sync: cache_tag_flush_range(..., ih =
 * list_empty(&gather->freelist))), so a driver that frees a table and still flushes with IH = 1 leaves
 * a stale SL-PDE that leads the device into the freed page.
 *
 * The cache is a model choice, not QEMU's (QEMU's intel_iommu caches leaf translations only): fully
 * associative, `entries` slots, replacement "fifo" (oldest fill) or "lru" (least recently used), all
 * levels in one array; deterministic. Off (0 entries) unless a scenario asks for it
 * (host.iommu.paging-structure-cache). No allocation on lookup and fill: typed arrays only.
 */

export type PscReplacement = "fifo" | "lru";
export const PSC_REPLACEMENTS = ["fifo", "lru"] as const;

/** One valid entry, for views and tests. */
export interface PscEntry {
  /** Legacy mode: the DID; scalable mode: the IOTLB tag of (DID, PASID). */
  tag: number;
  /** Level of the cached entry: 2 = SL-PDE ... 5 = SL-PML5E. */
  level: number;
  /** First IOVA of the region the entry translates (2^(12 + 9 * (level - 1)) bytes). */
  iova: bigint;
  /** HPA of the next-level table it points to. */
  table: bigint;
  /** HPA of the entry in memory when it was cached. */
  address: bigint;
  /** R = 1, W = 2, ANDed from the top level down to this entry. */
  perm: number;
  slot: number;
}

export interface PscSnapshot {
  tag: Int32Array;
  level: Uint8Array;
  key: Float64Array;
  table: Float64Array;
  address: Float64Array;
  perm: Uint8Array;
  stamp: Float64Array;
  clock: number;
}

const TWO20 = 1048576;
/** 4 KiB pages an entry at a level covers: 2^(9 * (level - 1)) (a table, not `2 **`: Math.pow is a call). */
const PAGES = [0, 1, 512, 262144, 134217728, 68719476736];

export class PagingStructureCache {
  readonly size: number;
  readonly replacement: PscReplacement;
  private readonly lru: boolean;
  /** 0: invalid slot. */
  private readonly tag: Int32Array;
  private readonly level: Uint8Array;
  /** iova >> (12 + 9 * (level - 1)), as a double (exact: an IOVA is below 2^64, the key below 2^52). */
  private readonly key: Float64Array;
  private readonly table: Float64Array;
  private readonly address: Float64Array;
  private readonly perm: Uint8Array;
  /** Fill order (fifo) or last use (lru): the smallest is the victim. */
  private readonly stamp: Float64Array;
  private clock = 0;

  // ---- results of the last lookup hit
  /** Level of the entry that hit (2..5). */
  hitLevel = 0;
  /** HPA of the next-level table, as a double (below 2^53). */
  hitTable = 0;
  hitPerm = 0;
  hitAddress = 0;

  constructor(entries: number, replacement: PscReplacement = "fifo") {
    if (!(entries >= 1 && entries <= 1024 && Number.isInteger(entries))) throw new RangeError("paging-structure cache entries must be 1..1024");
    this.size = entries;
    this.replacement = replacement;
    this.lru = replacement === "lru";
    this.tag = new Int32Array(entries);
    this.level = new Uint8Array(entries);
    this.key = new Float64Array(entries);
    this.table = new Float64Array(entries);
    this.address = new Float64Array(entries);
    this.perm = new Uint8Array(entries);
    this.stamp = new Float64Array(entries);
  }

  /**
   * The deepest cached entry of `tag` above the leaf for IOVA iovaHi:iovaLo in a table of `levels`
   * levels: its level (hit* fields set), or 0. A hit is a use (lru).
   */
  lookup(tag: number, levels: number, iovaHi: number, iovaLo: number): number {
    // 4 KiB page number: below 2^52, exact in a double.
    const pfn = (iovaHi >>> 0) * TWO20 + (iovaLo >>> 12);
    // The IOVA's key at each level, once: the scan compares, it does not divide.
    const k2 = Math.floor(pfn / PAGES[2]!);
    const k3 = Math.floor(pfn / PAGES[3]!);
    const k4 = Math.floor(pfn / PAGES[4]!);
    const k5 = Math.floor(pfn / PAGES[5]!);
    let best = -1;
    let bestLevel = 99;
    const n = this.size;
    const tags = this.tag;
    const lv = this.level;
    const keys = this.key;
    for (let i = 0; i < n; i++) {
      if (tags[i] !== tag) continue;
      const l = lv[i]!;
      if (l > levels || l >= bestLevel) continue;
      if (keys[i] !== (l === 2 ? k2 : l === 3 ? k3 : l === 4 ? k4 : k5)) continue;
      best = i;
      bestLevel = l;
      if (l === 2) break; // nothing deeper than an SL-PDE / FL-PDE is cached
    }
    if (best < 0) return 0;
    if (this.lru) this.stamp[best] = ++this.clock;
    this.hitLevel = bestLevel;
    this.hitTable = this.table[best]!;
    this.hitPerm = this.perm[best]!;
    this.hitAddress = this.address[best]!;
    return bestLevel;
  }

  /** Caches the non-leaf entry at `level` (at HPA `address`) for the IOVA: next table `table`, permissions `perm` ANDed so far. */
  fill(tag: number, level: number, iovaHi: number, iovaLo: number, table: number, perm: number, address: number): void {
    if (tag === 0) return;
    const key = Math.floor(((iovaHi >>> 0) * TWO20 + (iovaLo >>> 12)) / PAGES[level]!);
    const n = this.size;
    const tags = this.tag;
    const stamp = this.stamp;
    let slot = -1;
    let free = -1;
    let victim = 0;
    for (let i = 0; i < n; i++) {
      const t = tags[i]!;
      if (t === 0) {
        if (free < 0) free = i;
        continue;
      }
      if (t === tag && this.key[i] === key && this.level[i] === level) {
        slot = i;
        break;
      }
      if (stamp[i]! < stamp[victim]! || tags[victim] === 0) victim = i;
    }
    if (slot < 0) slot = free >= 0 ? free : victim;
    this.tag[slot] = tag;
    this.level[slot] = level;
    this.key[slot] = key;
    this.table[slot] = table;
    this.address[slot] = address;
    this.perm[slot] = perm;
    this.stamp[slot] = ++this.clock;
  }

  /** Global invalidation. Returns the number of entries dropped. */
  invalidateAll(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.tag[i] !== 0) n++;
    this.tag.fill(0);
    return n;
  }

  /** Domain-selective (every entry of `tag`). */
  invalidateTag(tag: number): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.tag[i] === tag) {
        this.tag[i] = 0;
        n++;
      }
    }
    return n;
  }

  /**
   * Page-selective with IH = 0: every entry of `tag` whose region overlaps [addr, addr + 2^(12 + am))
   * (the entries that would be used to translate an address of the range).
   */
  invalidatePages(tag: number, addr: bigint, am: number): number {
    const span = 2 ** am;
    const first = Math.floor(Number(addr >> 12n) / span) * span;
    const last = first + span;
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.tag[i] !== tag) continue;
      const pages = PAGES[this.level[i]!]!;
      const pfn = this.key[i]! * pages;
      if (pfn < last && pfn + pages > first) {
        this.tag[i] = 0;
        n++;
      }
    }
    return n;
  }

  /** Valid entries, deepest level first, then by IOVA (views, tests; not a hot path). */
  entries(): PscEntry[] {
    const out: PscEntry[] = [];
    for (let i = 0; i < this.size; i++) {
      if (this.tag[i] === 0) continue;
      const level = this.level[i]!;
      out.push({ tag: this.tag[i]!, level, iova: BigInt(this.key[i]!) << BigInt(12 + 9 * (level - 1)), table: BigInt(this.table[i]!), address: BigInt(this.address[i]!), perm: this.perm[i]!, slot: i });
    }
    return out.sort((a, b) => a.tag - b.tag || a.level - b.level || (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  }

  snapshot(): PscSnapshot {
    return { tag: this.tag.slice(), level: this.level.slice(), key: this.key.slice(), table: this.table.slice(), address: this.address.slice(), perm: this.perm.slice(), stamp: this.stamp.slice(), clock: this.clock };
  }

  restore(s: PscSnapshot): void {
    this.tag.set(s.tag);
    this.level.set(s.level);
    this.key.set(s.key);
    this.table.set(s.table);
    this.address.set(s.address);
    this.perm.set(s.perm);
    this.stamp.set(s.stamp);
    this.clock = s.clock;
  }
}
