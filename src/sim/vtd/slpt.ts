/**
 * VT-d legacy-mode second-level page-table walk in TypeScript: the reserved-bit masks the
 * WebAssembly translate core is configured with, and the walk for what the core leaves to
 * TypeScript (tables outside the pool, probes, recorded trails).
 *
 * Follows QEMU's `vtd_iova_to_slpte` (hw/i386/intel_iommu.c @0192d6677c38) check for check, in
 * the same order: at each level the entry is read from simulated memory at the address the
 * previous entry pointed to; permissions are ANDed down the levels; a missing R (read) or W
 * (write) bit faults before reserved bits are looked at, so a not-present entry at any level is
 * 0x06 / 0x05 (QEMU never reports 0x07 for a merely missing entry); reserved bits give 0x0C; a
 * read error gives 0x03 at the top level and 0x07 below it.
 *
 * No allocation: the IOVA arrives as two uint32 halves, results land in fields of this object.
 */
import type { PhysicalMemory } from "../memory.js";
import type { DecodedField } from "../iommu.js";
import type { PagingStructureCache } from "./psc.js";
import { VTD_FR_CONTEXT_ENTRY_INV, VTD_FR_PAGING_ENTRY_INV, VTD_FR_PAGING_ENTRY_RSVD, VTD_FR_READ, VTD_FR_SM_READ, VTD_FR_SM_SL_AD_NO_SNOOP, VTD_FR_SM_SL_PERM, VTD_FR_SM_WRITE, VTD_FR_WRITE } from "./reasons.js";

/** Second-level entry bits (VT-d spec 9.8; Linux `DMA_PTE_*`; QEMU `VTD_SL_*`). */
export const SL_R = 0x1;
export const SL_W = 0x2;
export const SL_PS = 0x80;
export const SL_SNP = 0x800;
/** Accessed (bit 8) and Dirty (bit 9) of a second-level entry, with SLADE (VT-d 9.8; Linux DMA_SL_PTE_DIRTY_BIT 9). */
export const SL_A = 0x100;
export const SL_D = 0x200;
/** QEMU `VTD_SL_IGN_COM` = 0xbff0000000000000: bits 63 and 61:52 are ignored; as the high dword. */
const SL_IGN_COM_HI = 0xbff00000 | 0;
/** Bit 62 (TM, transient mapping), high dword. Reserved unless device-TLB (ECAP.DT) is supported. */
const SL_TM_HI = 0x40000000;

const TWO32 = 4294967296;
/** Offset-within-page masks of the low dword for leaf levels 1 (4 KiB), 2 (2 MiB), 3 (1 GiB). */
const OFFSET_MASK_LO = [0, 0xfff, 0x1fffff, 0x3fffffff];

export interface SlptFormat {
  /** Host address width (HAW = MGAW in this model): 39, 48 or 57. */
  haw: number;
  /** Device-TLB supported: TM (bit 62) is allowed in leaf entries. */
  deviceTlb: boolean;
  /** Snoop control supported: SNP (bit 11) is allowed (QEMU legacy mode reserves it). */
  snoopControl: boolean;
  /** CAP.SLLPS: 2 MiB and 1 GiB superpages. */
  superpage2M: boolean;
  superpage1G: boolean;
  /** ECAP.SLADS: entries have A (bit 8) and D (bit 9), which a PASID entry's SLADE turns on (the views show them). */
  slads?: boolean;
}

export class SlptWalker {
  /** Reserved-bit masks as dwords, index level*2 + large (QEMU vtd_spte_rsvd / vtd_spte_rsvd_large). */
  readonly rsvdLo = new Int32Array(12);
  readonly rsvdHi = new Int32Array(12);
  // Every numeric field starts as a small integer, so V8 keeps it in an untagged-int field
  // (a field declared without initializer starts as undefined and every later load needs a check).
  /** Bits of the high dword that hold address (below HAW). */
  readonly addrHiMask: number = 0;
  /** Bit L set when PS=1 at level L is a superpage. */
  readonly largeOk: number = 0;
  /** ECAP.SLADS: the layout shows A and D. */
  readonly slads: boolean = false;
  /**
   * SLADE: walks set A in every entry they use and D in the leaf of a write, as bytes in memory
   * (VT-d 3.6/9.8 second-level A/D; only where a PASID entry has SLADE: never in legacy mode, so the
   * legacy walk and the benchmark write nothing). Set by the caller around one walk; off for probes.
   */
  updateAD = false;
  /**
   * SLADE on a PASID entry with PWSNP = 0 (walks not snooped): an entry whose A (or, for the leaf
   * of a write, D) is still clear is fault 0x7c instead of an update (VT-d 3.10; reasons.ts
   * VTD_FR_SM_SL_AD_NO_SNOOP). Set by the caller around one walk, probes included.
   */
  adNoSnoop = false;
  /** Leaf D after the last walk with updateAD (set by it on a write): a read of a clean writable page is not cached. */
  dirty = false;

  // ---- results of the last walk ----
  /** int32 halves of the translated address (`>>> 0` for unsigned): see SecondLevelTranslator. */
  hpaLo = 0;
  hpaHi = 0;
  /** Leaf level on success; the level whose entry faulted on failure. */
  level = 0;
  /** Permissions ANDed across levels (R=1, W=2). */
  perm = 0;
  /** Entries read, top level first: address, low and high dword (when recordTrail is set). */
  trailLen = 0;
  /** Record the entries each walk reads (walk diagrams, explanations); off on the hot path. */
  recordTrail = false;
  readonly trailAddr = new Float64Array(6);
  readonly trailLo = new Int32Array(6);
  readonly trailHi = new Int32Array(6);
  /** The last walk failed to read an entry: its address is trailAddr[trailLen] (with recordTrail). */
  trailUnreadable = false;
  /** The memory whose table pool the walk reads (the translate core reads the same memory). */
  readonly mem: PhysicalMemory;
  /**
   * The unit's second-level paging-structure caches (psc.ts), or null (the default: QEMU's model,
   * leaf translations only). Used by walk() when `pscTag` is not 0.
   */
  psc: PagingStructureCache | null = null;
  /** The tag the next walks look up and fill the paging-structure caches under (DID; scalable: the IOTLB tag); 0: none. */
  pscTag = 0;
  /** Fill the paging-structure caches with the non-leaf entries a walk reads (off for probes: look, don't touch). */
  pscFill = true;
  /**
   * The last walk started below a cached non-leaf entry: its level (2..5), 0 when it read from the
   * top. The trail's first entry is then at level pscLevel - 1 (trailTop).
   */
  pscLevel = 0;
  /** Level of the last walk's first entry read (trailAddr[0]): the table's top level, or pscLevel - 1. */
  trailTop = 0;

  constructor(mem: PhysicalMemory, format: SlptFormat) {
    this.mem = mem;
    this.slads = format.slads === true;
    const haw = format.haw;
    this.addrHiMask = haw >= 64 ? -1 : ((2 ** (haw - 32) - 1) >>> 0) | 0;
    // Everything above HAW is reserved except the ignored bits (and TM when DT is supported).
    const aboveHaw = ~(this.addrHiMask | SL_IGN_COM_HI) | 0;
    const leafHi = format.deviceTlb ? aboveHaw & ~SL_TM_HI : aboveHaw;
    const nonLeafHi = aboveHaw; // TM is meaningful only in leaf entries
    const snp = format.snoopControl ? 0 : SL_SNP;
    this.largeOk = (format.superpage2M ? 1 << 2 : 0) | (format.superpage1G ? 1 << 3 : 0);
    for (let level = 1; level <= 5; level++) {
      // QEMU: L1 0x800, L2/L3 0x800, L4 (and L5) 0x880: PS is reserved where no superpage exists.
      // A PS bit at L2/L3 without CAP.SLLPS support is reserved too (VT-d spec 9.8).
      const psReservedHere = level >= 4 || (level >= 2 && !(this.largeOk & (1 << level)));
      this.rsvdLo[level * 2] = snp | (psReservedHere ? SL_PS : 0);
      this.rsvdHi[level * 2] = level === 1 ? leafHi : nonLeafHi;
    }
    // Superpage entries: the address bits below the page size are reserved as well.
    this.rsvdLo[2 * 2 + 1] = snp | 0x1ff000; // 2 MiB: QEMU 0x1ff800
    this.rsvdHi[2 * 2 + 1] = leafHi;
    this.rsvdLo[3 * 2 + 1] = snp | 0x3ffff000; // 1 GiB: QEMU 0x3ffff800
    this.rsvdHi[3 * 2 + 1] = leafHi;
  }

  /**
   * walk() through the paging-structure caches under `tag` (0: without them), filling them when
   * `fill` (off for probes and for re-walks that only work out a fault's reason).
   */
  walkTagged(tag: number, fill: boolean, root: number, levels: number, iovaHi: number, iovaLo: number, write: boolean, scalable = false): number {
    this.pscTag = tag;
    this.pscFill = fill;
    const r = this.walk(root, levels, iovaHi, iovaLo, write, scalable);
    this.pscTag = 0;
    this.pscFill = true;
    return r;
  }

  /**
   * Walks `levels` levels from the table at HPA `root` for the IOVA (iovaHi:iovaLo).
   * Returns 0 on success (hpaLo/hpaHi/level/perm set) or a VT-d fault reason.
   * The caller has already done the address-width range check (0x04).
   *
   * Not the hot path: translations run in the WebAssembly translate core (translate-core.wat),
   * which implements the same walk. This one serves what the core leaves to TypeScript: walks
   * whose tables leave the pool (sparse DRAM, read errors), probes that must not fill the IOTLB,
   * and walk trails for diagrams and explanations.
   *
   * `scalable` selects the hardware's check order in scalable mode (VT-d spec §7.1.3 Table 26,
   * the SSS/SSL and SGN conditions) instead of QEMU's legacy one: at each entry R = W = 0 in the
   * entry or in the R/W accumulated so far is "not present" (0x79, SSS.2); reserved bits of a
   * present entry are 0x0C (the caller maps it to 0x7A, SSS.3); a present entry that lacks only
   * the needed bit does not stop the walk; at the leaf the accumulated R/W decides: no W for a
   * write 0x85 (SGN.6), no R for a read 0x86 (SGN.7). Read errors as in legacy order.
   */
  walk(root: number, levels: number, iovaHi: number, iovaLo: number, write: boolean, scalable = false): number {
    const mem = this.mem;
    const words = mem.words;
    // Table addresses stay in uint32 halves: the in-pool test and the index are integer math.
    const poolHi = Math.floor(mem.poolBase / TWO32);
    const poolLo = mem.poolBase % TWO32;
    const poolBytes = mem.poolBytes;
    const need = write ? SL_W : SL_R;
    const rsvdLo = this.rsvdLo;
    const rsvdHi = this.rsvdHi;
    const largeOk = this.largeOk;
    const addrHiMask = this.addrHiMask;
    const record = this.recordTrail;
    let tHi = Math.floor(root / TWO32);
    let tLo = root % TWO32;
    let perm = SL_R | SL_W;
    let n = 0;
    if (record) this.trailUnreadable = false;
    let top = levels;
    const psc = this.psc;
    const tag = psc === null ? 0 : this.pscTag;
    const fill = tag !== 0 && this.pscFill;
    this.pscLevel = 0;
    if (this.updateAD) this.dirty = false;
    if (tag !== 0) {
      // VT-d 6.2.4: the walk may start from the deepest paging-structure-cache entry for the IOVA.
      // A cached entry without the access's permission (legacy order checks each entry's own bit)
      // is not used: the walk reads memory from the top, as without the cache.
      const l = psc!.lookup(tag, levels, iovaHi, iovaLo);
      if (l !== 0 && (scalable || (psc!.hitPerm & need) !== 0)) {
        top = l - 1;
        perm = psc!.hitPerm;
        tHi = Math.floor(psc!.hitTable / TWO32) | 0;
        tLo = psc!.hitTable % TWO32 | 0;
        this.pscLevel = l;
      }
    }
    this.trailTop = top;
    for (let level = top; level >= 1; level--) {
      const shift = 3 + 9 * level; // 12 + 9 * (level - 1)
      const index =
        shift < 32 ? ((iovaLo >>> shift) | (iovaHi << (32 - shift))) & 511 : (iovaHi >>> (shift - 32)) & 511;
      let lo: number;
      let hi: number;
      const off = (tLo - poolLo) >>> 0;
      if (tHi === poolHi && off < poolBytes) {
        const i = (off >>> 2) + (index << 1);
        lo = words[i]!;
        hi = words[i + 1]!;
      } else if (mem.read64((tHi >>> 0) * TWO32 + (tLo >>> 0) + index * 8)) {
        lo = mem.lo | 0;
        hi = mem.hi | 0;
      } else {
        this.level = level;
        this.trailLen = n;
        if (record) {
          this.trailAddr[n] = (tHi >>> 0) * TWO32 + (tLo >>> 0) + index * 8;
          this.trailUnreadable = true;
        }
        // QEMU: failing to read the top-level entry means the context entry's SLPTPTR is bad.
        return level === levels ? VTD_FR_CONTEXT_ENTRY_INV : VTD_FR_PAGING_ENTRY_INV;
      }
      if (record) {
        this.trailAddr[n] = (tHi >>> 0) * TWO32 + (tLo >>> 0) + index * 8;
        this.trailLo[n] = lo;
        this.trailHi[n] = hi;
      }
      n++;
      perm &= lo;
      if (scalable) {
        if ((perm & (SL_R | SL_W)) === 0) {
          this.level = level;
          this.trailLen = n;
          return VTD_FR_SM_SL_PERM;
        }
      } else if ((lo & need) === 0) {
        this.level = level;
        this.trailLen = n;
        return write ? VTD_FR_WRITE : VTD_FR_READ;
      }
      const large = (lo & SL_PS) !== 0 && (largeOk & (1 << level)) !== 0 ? 1 : 0;
      const k = level * 2 + large;
      if ((lo & rsvdLo[k]!) !== 0 || (hi & rsvdHi[k]!) !== 0) {
        this.level = level;
        this.trailLen = n;
        return VTD_FR_PAGING_ENTRY_RSVD;
      }
      const leaf = level === 1 || large === 1;
      if (this.updateAD || this.adNoSnoop) {
        // SLADE: A in every entry the walk uses, D in the leaf of a write that the permissions allow
        // (VT-d 3.6 "Accessed, Extended Accessed, and Dirty Flags", applied to second-level entries).
        // Only the low dword changes: no allocation.
        const want = SL_A | (leaf && write && (perm & need) !== 0 ? SL_D : 0);
        if ((lo & want) !== want) {
          if (this.adNoSnoop) {
            this.level = level;
            this.trailLen = n;
            return VTD_FR_SM_SL_AD_NO_SNOOP;
          }
          lo |= want;
          mem.write32((tHi >>> 0) * TWO32 + (tLo >>> 0) + index * 8, lo);
          if (record) this.trailLo[n - 1] = lo;
        }
        if (leaf && this.updateAD) this.dirty = (lo & SL_D) !== 0;
      }
      if (leaf) {
        if (scalable && (perm & need) === 0) {
          this.level = level;
          this.trailLen = n;
          return write ? VTD_FR_SM_WRITE : VTD_FR_SM_READ;
        }
        const offMask = OFFSET_MASK_LO[level]!;
        this.hpaLo = (lo & ~offMask) | (iovaLo & offMask);
        this.hpaHi = (hi & addrHiMask) >>> 0;
        this.level = level;
        this.perm = perm & (SL_R | SL_W);
        this.trailLen = n;
        return 0;
      }
      // A present non-leaf entry that passed its checks: cached with the permissions ANDed so far.
      if (fill) psc!.fill(tag, level, iovaHi, iovaLo, (hi & addrHiMask) * TWO32 + ((lo & 0xfffff000) >>> 0), perm & (SL_R | SL_W), (tHi >>> 0) * TWO32 + (tLo >>> 0) + index * 8);
      tHi = hi & addrHiMask;
      tLo = lo & 0xfffff000;
    }
    // levels < 1 cannot happen: the context entry's AW was validated.
    this.trailLen = n;
    return VTD_FR_CONTEXT_ENTRY_INV;
  }
}

/** The spec's name of a second-level entry at a level (VT-d 9.8): SL-PTE ... SL-PML5E. */
export function slEntryName(level: number): string {
  return ["", "SL-PTE", "SL-PDE", "SL-PDPE", "SL-PML4E", "SL-PML5E"][level] ?? `level-${level} entry`;
}

/** Decoded second-level entry, by the walker's own rules (the masks and superpage support walk() uses). */
export interface SlpteDecoded {
  read: boolean;
  write: boolean;
  /** PS = 1 where this unit supports a superpage: a leaf above level 1. */
  superpage: boolean;
  /** Leaf: level 1, or a superpage. */
  leaf: boolean;
  /** Address field (bits HAW-1:12). */
  address: bigint;
  /** Reserved bits set, as walk() checks them at this level (QEMU vtd_spte_rsvd / vtd_spte_rsvd_large). */
  reserved: bigint;
}

/** Decodes a second-level entry at `level` as `walker` interprets it: walk()'s own tables. */
export function decodeSlpte(walker: SlptWalker, level: number, v: bigint): SlpteDecoded {
  const lo = Number(v & 0xffffffffn) | 0;
  const large = (lo & SL_PS) !== 0 && (walker.largeOk & (1 << level)) !== 0 ? 1 : 0;
  const k = level * 2 + large;
  const mask = (BigInt(walker.rsvdHi[k]! >>> 0) << 32n) | BigInt(walker.rsvdLo[k]! >>> 0);
  const addrMask = ((BigInt(walker.addrHiMask >>> 0) << 32n) | 0xfffff000n);
  return { read: (lo & SL_R) !== 0, write: (lo & SL_W) !== 0, superpage: large === 1, leaf: level === 1 || large === 1, address: v & addrMask, reserved: v & mask };
}

/** VT-d page-table index of an IOVA at a level (1 = SL-PT ... 5 = SL-PML5). */
export function slIndex(iova: bigint, level: number): number {
  return Number((iova >> BigInt(12 + 9 * (level - 1))) & 511n);
}

/** Top bit of the address field of a second-level entry: the walker keeps address bits below the host address width. */
function slAddrTop(walker: SlptWalker): number {
  return 32 + Math.min(32, Math.clz32(0) - Math.clz32(walker.addrHiMask)) - 1;
}

/**
 * The field layout of a second-level entry at `level` (VT-d 9.8): R [0], W [1], PS [7] (in the
 * SL-PDE and SL-PDPE only), A [8] and D [9] (leaf) on a unit with ECAP.SLADS, ADDR [HAW-1:12], with what PS and ADDR mean by the walker's rules
 * (decodeSlpte). The one layout: the walk trail (vtd/model.ts) and the tables tree read it.
 */
export function slpteLayout(walker: SlptWalker, level: number, v: bigint): DecodedField[] {
  const d = decodeSlpte(walker, level, v);
  const bit = (name: string, b: number, meaning?: string): DecodedField => {
    const raw = (v >> BigInt(b)) & 1n;
    return { name, hi: b, lo: b, raw, value: raw.toString(), ...(meaning ? { meaning } : {}) };
  };
  const out = [bit("R", 0), bit("W", 1)];
  if (level === 2 || level === 3) out.push(bit("PS", 7, (v >> 7n) & 1n ? (d.superpage ? `${level === 3 ? "1 GiB" : "2 MiB"} page` : "reserved: no superpage of this size (CAP.SLLPS)") : undefined));
  // ECAP.SLADS: A [8] in every entry, D [9] in leaves, set by walks of PASIDs with SLADE.
  if (walker.slads) {
    out.push(bit("A", 8, (v >> 8n) & 1n ? "accessed" : undefined));
    if (d.leaf) out.push(bit("D", 9, (v >> 9n) & 1n ? "dirty" : undefined));
  }
  const top = slAddrTop(walker);
  out.push({ name: "ADDR", hi: top, lo: 12, raw: d.address >> 12n, value: `0x${d.address.toString(16)}`, meaning: d.leaf ? "page" : "next table" });
  return out;
}
