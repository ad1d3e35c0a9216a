/**
 * VT-d scalable-mode first-level (IA-32e style) page-table walk: 4- or 5-level tables of 64-bit
 * entries (VT-d spec 9.9 "First-Level Paging Entries"; Linux `DMA_FL_PTE_*` in
 * drivers/iommu/intel/iommu.h; QEMU `VTD_FL_*` and `vtd_iova_to_flpte` in hw/i386/intel_iommu.c,
 * ../reference/iommu-reference.md §1.10), and the nested walk: with PGTT = nested every
 * first-level table address and the final output are guest-physical and go through the
 * second-level tables — the very SlptWalker.walk the legacy and second-level paths use.
 *
 * Checks per level in QEMU's order (vtd_iova_to_flpte): the entry is read (top level 0x73, below
 * 0x70; nested: unreadable through the second level 0x75 at the top, 0x76 below), P = 0 gives
 * 0x71, a user request meets U/S = 0 with 0x81, a write meets R/W = 0 with 0x85 (a supervisor
 * write only when the PASID entry's WPE is set, as CR0.WP does on the CPU), reserved bits give
 * 0x72, an execute request meets XD = 1 (with NXE) with 0x82. The input address must be canonical
 * for the paging mode (0x80) before any table is read.
 *
 * No allocation on the walk itself: the IOVA arrives as two uint32 halves, results land in fields.
 * The trail (recordTrail) allocates, as the legacy trail does, on probes only.
 */
import { toTrailField, type DecodedField, type TrailEntry } from "../iommu.js";
import type { PhysicalMemory } from "../memory.js";
import { bitRanges } from "./context.js";
import {
  VTD_FR_ADDR_BEYOND_MGAW,
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_FS_NON_CANONICAL,
  VTD_FR_FS_PAGING_ENTRY_INV,
  VTD_FR_FS_PAGING_ENTRY_P,
  VTD_FR_FS_PAGING_ENTRY_RSVD,
  VTD_FR_FS_PAGING_ENTRY_US,
  VTD_FR_PAGING_ENTRY_INV,
  VTD_FR_PAGING_ENTRY_RSVD,
  VTD_FR_PASID_ENTRY_FSPTPTR_INV,
  VTD_FR_SM_SL_ADDR_BEYOND,
  VTD_FR_SM_EXECUTE,
  VTD_FR_SM_NESTED_FL_BEYOND,
  VTD_FR_SM_NESTED_FL_READ,
  VTD_FR_SM_NESTED_FL_WRITE,
  VTD_FR_FS_BIT_UPDATE_FAILED,
  VTD_FR_SM_FL_AD_NO_SNOOP,
  VTD_FR_SM_SL_AD_NO_SNOOP,
  VTD_FR_SM_NESTED_FL_TOP_READ,
  VTD_FR_SM_SLPTPTR_INV,
  VTD_FR_SM_SL_ACCESS_ERR,
  VTD_FR_SM_SL_RSVD,
  VTD_FR_SM_WRITE,
} from "./reasons.js";
import { decodeSlpte, slEntryName, slpteLayout, type SlptWalker } from "./slpt.js";

/** First-level entry bits (VT-d 9.9; Linux DMA_FL_PTE_PRESENT/US/ACCESS/DIRTY/XD; QEMU VTD_FL_P/RW/US/A/D). */
export const FL_P = 0x1;
export const FL_RW = 0x2;
export const FL_US = 0x4;
export const FL_A = 0x20;
export const FL_D = 0x40;
export const FL_PS = 0x80;
/** XD is bit 63: bit 31 of the high dword. */
const FL_XD_HI = 0x80000000 | 0;

const TWO32 = 4294967296;
/** Offset-within-page masks of the low dword for leaf levels 1 (4 KiB), 2 (2 MiB), 3 (1 GiB). */
const OFFSET_MASK_LO = [0, 0xfff, 0x1fffff, 0x3fffffff];
/**
 * Reserved address bits of a large-page leaf's low dword (VT-d 9.9: bits 20:13 of a 2 MiB and 29:13
 * of a 1 GiB first-level entry; bit 12 is PAT).
 */
const LARGE_RSVD_LO = [0, 0, 0x1fe000, 0x3fffe000];

/** The spec's name of a first-level entry at a level (VT-d 9.9): FL-PTE ... FL-PML5E. */
export function flEntryName(level: number): string {
  return ["", "FL-PTE", "FL-PDE", "FL-PDPE", "FL-PML4E", "FL-PML5E"][level] ?? `level-${level} entry`;
}

/** Input address width of a first-level paging mode: 48 bits with 4 levels, 57 with 5 (FLPM). */
export function flWidth(levels: number): number {
  return levels === 5 ? 57 : 48;
}

/** One request's attributes beyond address and direction. */
export interface FlRequest {
  /** Supervisor request (PASID TLP prefix PMR, or the context's RID_PRIV for requests without PASID). */
  priv: boolean;
  exec: boolean;
  /** PASID entry WPE: supervisor writes honour R/W. */
  wpe: boolean;
  /** PASID entry NXE: XD is meaningful (reserved otherwise). */
  nxe: boolean;
}

/** The second level a nested walk goes through. */
export interface NestParent {
  root: number;
  levels: number;
  /** Input width of the second-level tables: min(30 + 9 * AW, MGAW). */
  width: number;
}

export class FlptWalker {
  /** Bits of the high dword that hold address (below HAW). */
  readonly addrHiMask: number = 0;
  /** Reserved bits of the high dword: 51:HAW (62:52 are ignored, XD is checked on its own). */
  readonly rsvdHi: number = 0;

  // ---- results of the last walk ----
  hpaLo = 0;
  hpaHi = 0;
  /** Leaf level on success (the smaller of the two stages' page sizes when nested); faulting level otherwise. */
  level = 0;
  /** Permissions of the translation (R = 1, W = 2): P and R/W ANDed down the levels, ANDed with the second level's when nested. */
  perm = 0;
  /** U/S ANDed down the levels: the translation is accessible to user requests. */
  user = false;
  /** The fault decided at a second-level entry of a nested walk (the trail's last entry is an SL entry). */
  inSecondLevel = false;
  /** Leaf D after the walk (set by this walk on a write): a read walk of a clean writable page must not fill the IOTLB. */
  dirty = false;
  /**
   * Set Accessed / Dirty in the entries in memory as the hardware does (off for probes: a hover
   * or an explanation never writes). QEMU vtd_iova_to_fspte / vtd_set_flag_in_pte.
   */
  updateAD = true;
  /**
   * The PASID entry has PWSNP = 0 (walks not snooped): an entry whose A (or D, for the leaf of a
   * write) is still clear is fault 0x90 instead of an update (VT-d 3.10; reasons.ts
   * VTD_FR_SM_FL_AD_NO_SNOOP). Set by the caller around one walk, probes included.
   */
  adNoSnoop = false;

  /** Record every entry read into `trail` (probes only). */
  recordTrail = false;
  trail: TrailEntry[] = [];
  /** The last walk could not read an entry at trailUnreadable (with recordTrail), -1 otherwise. */
  trailUnreadable = -1;

  constructor(
    readonly mem: PhysicalMemory,
    /** Host address width (MGAW in this model). */
    readonly haw: number,
    /** The second-level walker a nested walk uses (the unit's, the legacy walk's own code). */
    readonly sl: SlptWalker,
  ) {
    this.addrHiMask = haw >= 64 ? -1 : ((2 ** (haw - 32) - 1) >>> 0) | 0;
    this.rsvdHi = (0x000fffff & ~this.addrHiMask) | 0;
  }

  /**
   * Walks `levels` (4 or 5) levels from the first-level table at `root` (an HPA; a GPA when `nest`
   * is given) for IOVA iovaHi:iovaLo. Returns 0 (hpaLo/hpaHi/level/perm/user set) or the
   * scalable-mode fault reason.
   */
  walk(root: number, levels: number, iovaHi: number, iovaLo: number, write: boolean, req: FlRequest, nest: NestParent | null): number {
    const mem = this.mem;
    const record = this.recordTrail;
    this.inSecondLevel = false;
    if (record) {
      this.trail = [];
      this.trailUnreadable = -1;
    }
    // Canonical: bits 63:width-1 all equal (QEMU vtd_iova_fl_check_canonical).
    const top = levels === 5 ? hiShift(iovaHi, 24) : hiShift(iovaHi, 15);
    const ones = levels === 5 ? 0xff : 0x1ffff;
    if (top !== 0 && top !== ones) {
      this.level = levels;
      return VTD_FR_FS_NON_CANONICAL;
    }
    let tHi = Math.floor(root / TWO32);
    let tLo = root % TWO32;
    let rw = FL_RW;
    let us = FL_US;
    const xdRsvd = req.nxe ? 0 : FL_XD_HI;
    for (let level = levels; level >= 1; level--) {
      const shift = 3 + 9 * level;
      const index = shift < 32 ? ((iovaLo >>> shift) | (iovaHi << (32 - shift))) & 511 : (iovaHi >>> (shift - 32)) & 511;
      let at = (tHi >>> 0) * TWO32 + (tLo >>> 0) + index * 8;
      if (nest !== null) {
        // The table is guest-physical: its entry's address goes through the second level (read).
        const gHi = Math.floor(at / TWO32);
        if (nest.width < 64 && gHi >>> (nest.width - 32) !== 0) {
          this.level = level;
          return VTD_FR_SM_NESTED_FL_BEYOND;
        }
        const r = this.sl.walk(nest.root, nest.levels, gHi, at % TWO32, false);
        if (record) this.pushSecondLevel(gHi, at % TWO32);
        if (r !== 0) {
          this.level = level;
          this.inSecondLevel = true;
          if (r === VTD_FR_SM_SL_AD_NO_SNOOP) return r;
          return level === levels ? VTD_FR_SM_NESTED_FL_TOP_READ : VTD_FR_SM_NESTED_FL_READ;
        }
        at = (this.sl.hpaHi >>> 0) * TWO32 + (this.sl.hpaLo >>> 0);
      }
      if (!mem.read64(at)) {
        this.level = level;
        if (record) this.trailUnreadable = this.trail.push({ kind: "pte", name: flEntryName(level), level, index, address: BigInt(at), raw: [], fields: [] }) - 1;
        return level === levels ? VTD_FR_PASID_ENTRY_FSPTPTR_INV : VTD_FR_FS_PAGING_ENTRY_INV;
      }
      const lo = mem.lo | 0;
      const hi = mem.hi | 0;
      if (record) this.trail.push(flTrailEntry(level, index, at, lo, hi, this.haw, req.nxe));
      this.level = level;
      if ((lo & FL_P) === 0) return VTD_FR_FS_PAGING_ENTRY_P;
      if (!req.priv && (lo & FL_US) === 0) return VTD_FR_FS_PAGING_ENTRY_US;
      rw &= lo;
      us &= lo;
      if (write && (lo & FL_RW) === 0 && (!req.priv || req.wpe)) return VTD_FR_SM_WRITE;
      const large = (lo & FL_PS) !== 0 && (level === 2 || level === 3);
      const rsvdLo = level >= 4 ? FL_PS : large ? LARGE_RSVD_LO[level]! : 0;
      if ((lo & rsvdLo) !== 0 || (hi & (this.rsvdHi | xdRsvd)) !== 0) return VTD_FR_FS_PAGING_ENTRY_RSVD;
      if (req.exec && req.nxe && (hi & FL_XD_HI) !== 0) return VTD_FR_SM_EXECUTE;
      const leaf = level === 1 || large;
      if (this.updateAD || this.adNoSnoop) {
        // VT-d 3.6 "Accessed, Extended Accessed, and Dirty Flags" as QEMU does it (vtd_iova_to_fspte:
        // vtd_set_flag_in_pte(VTD_FL_A) on every level, VTD_FL_D on the leaf of a write; a failed
        // write is VTD_FR_FS_BIT_UPDATE_FAILED). Nested: the entry's GPA must be writable in the
        // second level (0x77). Only the low dword changes: no allocation.
        const want = FL_A | (leaf && write ? FL_D : 0);
        if ((lo & want) !== want) {
          if (this.adNoSnoop) return VTD_FR_SM_FL_AD_NO_SNOOP;
          if (nest !== null && (this.sl.perm & 2) === 0) return VTD_FR_SM_NESTED_FL_WRITE;
          if (!mem.write32(at, lo | want)) return VTD_FR_FS_BIT_UPDATE_FAILED;
          if (record) this.trail[this.trail.length - 1] = flTrailEntry(level, index, at, lo | want, hi, this.haw, req.nxe);
        }
      }
      if (leaf) {
        this.dirty = ((this.updateAD && write ? lo | FL_D : lo) & FL_D) !== 0;
        const offMask = OFFSET_MASK_LO[level]!;
        const outLo = ((lo & ~offMask) | (iovaLo & offMask)) >>> 0;
        const outHi = (hi & this.addrHiMask) >>> 0;
        // A supervisor write without WPE is allowed whatever R/W says (the CPU's CR0.WP = 0).
        const writable = rw !== 0 || (req.priv && !req.wpe);
        this.user = us !== 0;
        if (nest === null) {
          this.hpaLo = outLo | 0;
          this.hpaHi = outHi | 0;
          this.perm = writable ? 3 : 1;
          return 0;
        }
        // Nested: the output is guest-physical; the second level translates it with the request's access.
        // SGN.5: the second level's input (this GPA) beyond min(MGAW, AGAW); then the walk in the hardware's order.
        if (nest.width < 64 && outHi >>> (nest.width - 32) !== 0) return VTD_FR_SM_SL_ADDR_BEYOND;
        const r = this.sl.walk(nest.root, nest.levels, outHi, outLo, write, true);
        if (record) this.pushSecondLevel(outHi, outLo);
        if (r !== 0) {
          this.inSecondLevel = true;
          this.level = this.sl.level;
          return smSecondLevelReason(r);
        }
        this.hpaLo = this.sl.hpaLo;
        this.hpaHi = this.sl.hpaHi;
        this.perm = (writable ? 3 : 1) & this.sl.perm;
        if (this.sl.level < level) this.level = this.sl.level;
        return 0;
      }
      tHi = hi & this.addrHiMask;
      tLo = lo & 0xfffff000;
    }
    return VTD_FR_FS_PAGING_ENTRY_INV;
  }

  /** The second-level entries the last SlptWalker.walk read, appended to the trail (nested walks). */
  private pushSecondLevel(gHi: number, gLo: number): void {
    this.trail.push(...secondLevelTrail(this.sl, (BigInt(gHi >>> 0) << 32n) | BigInt(gLo >>> 0)));
  }
}

/** hi >>> n as a non-negative number. */
function hiShift(hi: number, n: number): number {
  return (hi >>> n) >>> 0;
}

/**
 * A second-level walk's fault reason as scalable-mode hardware reports it (VT-d spec §7.1.3 Table
 * 26; Linux dma_remap_sm_fault_reasons[]): reserved bits 0x7a (SSS.3), an unreadable lower entry
 * 0x78 (SSS.1), an unreadable top table (bad SLPTPTR) 0x7b (SSS.4), the address-width check 0x84
 * (SGN.5). The walk in scalable order (SlptWalker.walk with `scalable`) reports 0x79, 0x85 and
 * 0x86 itself; a legacy-order permission code (0x05/0x06) is no scalable-mode answer, so the
 * caller re-walks in scalable order (scalable.ts slPermissionFault).
 */
export function smSecondLevelReason(r: number): number {
  switch (r) {
    case VTD_FR_PAGING_ENTRY_RSVD:
      return VTD_FR_SM_SL_RSVD;
    case VTD_FR_PAGING_ENTRY_INV:
      return VTD_FR_SM_SL_ACCESS_ERR;
    case VTD_FR_CONTEXT_ENTRY_INV:
      return VTD_FR_SM_SLPTPTR_INV;
    case VTD_FR_ADDR_BEYOND_MGAW:
      return VTD_FR_SM_SL_ADDR_BEYOND;
    default:
      return r;
  }
}

/** The second-level entries of the walker's last walk (recordTrail set), as trail entries. */
export function secondLevelTrail(w: SlptWalker, iova: bigint): TrailEntry[] {
  const out: TrailEntry[] = [];
  const top = w.trailTop;
  for (let i = 0; i < w.trailLen; i++) {
    const level = top - i;
    const v = (BigInt(w.trailHi[i]! >>> 0) << 32n) | BigInt(w.trailLo[i]! >>> 0);
    const d = decodeSlpte(w, level, v);
    const fields = slpteLayout(w, level, v).map(toTrailField);
    if (d.reserved !== 0n) fields.push({ name: "reserved", bits: bitRanges(d.reserved), value: `0x${d.reserved.toString(16)}`, meaning: "set: fault" });
    out.push({ kind: "pte", name: slEntryName(level), level, index: Number((iova >> BigInt(12 + 9 * (level - 1))) & 511n), address: BigInt(w.trailAddr[i]!), raw: [v], fields });
  }
  if (w.trailUnreadable) {
    const level = top - w.trailLen;
    out.push({ kind: "pte", name: slEntryName(level), level, index: Number((iova >> BigInt(12 + 9 * (level - 1))) & 511n), address: BigInt(w.trailAddr[w.trailLen]!), raw: [], fields: [] });
  }
  return out;
}

/** Reserved bits of a first-level entry at `level` as walk() checks them. */
export function flReservedBits(v: bigint, level: number, haw: number, nxe: boolean): bigint {
  const lo = Number(v & 0xffffffffn);
  const large = (lo & FL_PS) !== 0 && (level === 2 || level === 3);
  const rsvdLo = BigInt(level >= 4 ? FL_PS : large ? LARGE_RSVD_LO[level]! : 0);
  const above = ((1n << 52n) - 1n) & ~((1n << BigInt(haw)) - 1n);
  return v & (rsvdLo | above | (nxe ? 0n : 1n << 63n));
}

/**
 * The field layout of a first-level entry (VT-d 9.9): P [0], R/W [1], U/S [2], A [5], D [6] (leaf),
 * PS [7] (FL-PDE, FL-PDPE), ADDR [HAW-1:12], XD [63]. The one layout: the trail and the tables tree read it.
 */
export function flpteLayout(v: bigint, level: number, haw: number): DecodedField[] {
  const bit = (name: string, b: number, meaning?: string): DecodedField => {
    const raw = (v >> BigInt(b)) & 1n;
    return { name, hi: b, lo: b, raw, value: raw.toString(), ...(meaning ? { meaning } : {}) };
  };
  const ps = level === 2 || level === 3 ? (v >> 7n) & 1n : 0n;
  const leaf = level === 1 || ps === 1n;
  const out = [bit("P", 0, (v & 1n) === 0n ? "not present" : undefined), bit("R/W", 1, (v >> 1n) & 1n ? "read/write" : "read-only"), bit("U/S", 2, (v >> 2n) & 1n ? "user" : "supervisor only"), bit("A", 5)];
  if (leaf) out.push(bit("D", 6));
  if (level === 2 || level === 3) out.push(bit("PS", 7, ps ? `${level === 3 ? "1 GiB" : "2 MiB"} page` : undefined));
  const addr = v & (((1n << BigInt(haw)) - 1n) & ~0xfffn);
  out.push({ name: "ADDR", hi: haw - 1, lo: 12, raw: addr >> 12n, value: `0x${addr.toString(16)}`, meaning: leaf ? "page" : "next table" });
  out.push(bit("XD", 63));
  return out;
}

function flTrailEntry(level: number, index: number, at: number, lo: number, hi: number, haw: number, nxe: boolean): TrailEntry {
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const fields = flpteLayout(v, level, haw).map(toTrailField);
  const rsvd = (lo & FL_P) !== 0 ? flReservedBits(v, level, haw, nxe) : 0n;
  if (rsvd !== 0n) fields.push({ name: "reserved", bits: bitRanges(rsvd), value: `0x${rsvd.toString(16)}`, meaning: "set: fault 0x72" });
  return { kind: "pte", name: flEntryName(level), level, index, address: BigInt(at), raw: [v], fields };
}
