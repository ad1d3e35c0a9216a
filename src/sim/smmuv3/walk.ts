/**
 * The VMSAv8-64 translation table walk of one SMMUv3 stage, 4 KiB, 16 KiB or 64 KiB granule (Arm ARM D8.2/D8.3;
 * SMMUv3 spec 3.4 "Address sizes", 5.2/5.4 for the STE/CD fields that configure it). One walker
 * serves stage 1 (CD: T0SZ, IPS, AP, UXN/PXN, APTable) and stage 2 (STE: S2T0SZ, S2SL0, S2PS,
 * S2AP, XN); it is the only code that interprets a descriptor for a verdict. The hot path calls
 * walk() with numbers and reads the results from fields (no allocation); when `recordTrail` is
 * set it also keeps each descriptor it read (address and both halves), for the walk trail.
 *
 * Order of checks per descriptor, as the Arm ARM's AArch64 walk pseudocode: an external abort
 * on the read (F_WALK_EABT), an invalid or reserved-type descriptor (F_TRANSLATION), an output or
 * next-table address beyond the output size (F_ADDR_SIZE); at the leaf the access flag (F_ACCESS)
 * and then the permissions (F_PERMISSION).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { PhysicalMemory } from "../memory.js";
import { F_ACCESS, F_ADDR_SIZE, F_PERMISSION, F_TRANSLATION, F_WALK_EABT } from "./spec.js";
import { INV_POW2, POW2 } from "../pow2.js";
import type { TableWalkCore } from "../walkCore.js";

const TWO32 = 0x100000000;
/** The most descriptors one walk reads (levels 0..3). */
export const MAX_TRAIL = 4;

/** Permission bits of a translation (as ../iommu.ts PERM_*): R = 1, W = 2, X = 4. */
const R = 1;
const W = 2;
const X = 4;

/** One stage's configuration, from the CD (stage 1) or the STE (stage 2). */
export interface StageConfig {
  /** Translation table base (TTB0 / S2TTB), a physical address (stage 1 of a nested stream: an IPA). */
  ttb: number;
  /** Input address size in bits: 64 - T0SZ (stage 1) or 64 - S2T0SZ (stage 2). */
  inputBits: number;
  /** Level of the first lookup (0..3). */
  startLevel: number;
  /** Output address size in bits (CD.IPS or STE.S2PS, capped at SMMU_IDR5.OAS). */
  outputBits: number;
  /** Stage 2: S2AP/XN semantics, the STE's S2AFFD; stage 1: AP/UXN/PXN and APTable, the CD's AFFD. */
  s2: boolean;
  /** Access flag faults disabled (CD.AFFD / STE.S2AFFD) or updated by hardware (CD.HA / STE.S2HA). */
  afOff: boolean;
  /**
   * The translation granule as a shift: 12 (4 KiB), 14 (16 KiB) or 16 (64 KiB), from CD.TG0 or
   * STE.S2TG (granuleOfTg). Each level resolves granule - 3 bits (a table is one granule of
   * 8-byte descriptors).
   */
  granule: number;
}

/** The granule (as a shift) a CD.TG0 / STE.S2TG encoding selects: 0b00 4 KiB, 0b01 64 KiB, 0b10 16 KiB, 0b11 reserved (-1). SMMUv3 spec 5.2/5.4; QEMU tg2granule() / decode_ste_s2_cfg(). */
export function granuleOfTg(tg: number): number {
  return tg === 0 ? 12 : tg === 1 ? 16 : tg === 2 ? 14 : -1;
}

/**
 * Start level of a stage-1 walk for an input size (Arm ARM AArch64.S1StartLevel:
 * FINAL_LEVEL - ((iasize - 1 - granulebits) DIV stride), stride = granulebits - 3).
 */
export function s1StartLevel(inputBits: number, granule = 12): number {
  return 3 - Math.floor((inputBits - 1 - granule) / (granule - 3));
}

/** Bits resolved below `level`: granule + (granule - 3) * (3 - level) (4 KiB: 12, 21, 30, 39). */
export function levelShift(level: number, granule = 12): number {
  return granule + (granule - 3) * (3 - level);
}

/**
 * Whether a block descriptor is allowed at `level` (Arm ARM D8.3.1, without FEAT_LPA/FEAT_LPA2 -
 * output addresses are at most 48 bits here): 4 KiB blocks at levels 1 and 2 (1 GiB, 2 MiB),
 * 16 KiB at level 2 (32 MiB), 64 KiB at level 2 (512 MiB). Anywhere else a descriptor with
 * bits[1:0] = 0b01 is a translation fault.
 */
export function blockAllowed(level: number, granule: number): boolean {
  return level === 2 || (level === 1 && granule === 12);
}

export class StageWalker {
  /** Results of the last walk(): output address, leaf level, permissions (R/W/X). */
  oa = 0;
  level = 0;
  perm = 0;
  /** Leaf descriptor halves and address (the walk's last read). */
  leafLo = 0;
  leafHi = 0;
  /** The granule (a shift) of the last walk's configuration. */
  granule = 12;
  /** Fault: the level whose descriptor decided (or the start level for a range check). */
  faultLevel = 0;
  /** Fault: the walk read that failed was a table (descriptor) fetch — F_WALK_EABT; its address. */
  fetchAddr = 0;

  recordTrail = false;
  trailLen = 0;
  readonly trailAddr = new Float64Array(MAX_TRAIL);
  readonly trailLo = new Uint32Array(MAX_TRAIL);
  readonly trailHi = new Uint32Array(MAX_TRAIL);
  readonly trailLevel = new Uint8Array(MAX_TRAIL);
  /** The walk stopped on a read that failed (trailAddr[trailLen] is its address). */
  trailUnreadable = false;

  /**
   * Descriptor addresses of a stage-1 walk under stage 2 (nested): a hook that maps an IPA to a
   * PA, returning -1 - eventId when stage 2 faults (the fault's fields are the hook's business).
   */
  tableAddress: ((ipa: number) => number) | undefined;
  /** The event of the last tableAddress() that failed (0 when none). */
  tableFault = 0;

  constructor(
    private readonly mem: PhysicalMemory,
    /**
     * The translate core's VMSAv8-64 walk (walkCore.ts), for 4 KiB-granule walks without a trail
     * or a table-address hook; null: every walk is the loop below.
     */
    private readonly core: TableWalkCore | null = null,
  ) {}

  /**
   * Translates `ia` (a number below 2^53; the caller checks wider addresses) through one stage.
   * Returns 0 or the event id; `privileged`, `write`, `exec` select the permission checked.
   */
  walk(c: StageConfig, ia: number, write: boolean, privileged: boolean, exec: boolean): number {
    const mem = this.mem;
    this.trailLen = 0;
    this.trailUnreadable = false;
    this.tableFault = 0;
    this.perm = 0;
    // The input address range: bits at and above inputBits must be zero (SMMUv3 spec 3.4.1: an
    // input address outside the range of TTB0 is a translation fault, at the start level).
    if (ia >= POW2[c.inputBits]!) {
      this.faultLevel = c.startLevel;
      return F_TRANSLATION;
    }
    const g = c.granule;
    this.granule = g;
    const core = this.core;
    if (core !== null && g === 12 && !this.recordTrail && this.tableAddress === undefined) {
      const iaHi = Math.floor(ia / TWO32);
      const r = core.armWalk(c.ttb, c.startLevel, c.outputBits, c.s2, c.afOff, privileged, exec, iaHi, ia - iaHi * TWO32, write);
      if (r >= 0) {
        // The fields the loop below would have set for the same verdict.
        this.faultLevel = core.faultLevel;
        if (r === 0 || r === F_PERMISSION || r === F_ACCESS) {
          this.level = core.level;
          this.leafLo = core.entryLo >>> 0;
          this.leafHi = core.entryHi >>> 0;
          if (r !== F_ACCESS) {
            this.perm = core.perm;
            this.oa = (core.hpaHi >>> 0) * TWO32 + (core.hpaLo >>> 0);
          }
        }
        return r;
      }
    }
    const outLimit = POW2[c.outputBits]!;
    let table = c.ttb;
    // Hierarchical permissions of stage-1 table descriptors (APTable, UXNTable, PXNTable).
    let noUnpriv = false;
    let noWrite = false;
    let noUx = false;
    let noPx = false;
    const stride = g - 3;
    // Descriptor address bits [47:g] (Arm ARM D8.3.1: a table or output address is aligned to the
    // granule; bits below it are attributes or RES0).
    const pageMask = POW2[g]! - 1;
    for (let level = c.startLevel; level <= 3; level++) {
      const shift = levelShift(level, g);
      // At the start level the index takes every remaining input bit: a stage-2 start level may
      // concatenate up to 16 tables (Arm ARM D8.2.7); StageConfig validation bounds it.
      const bitsHere = level === c.startLevel ? c.inputBits - shift : stride;
      // floor(ia / 2^shift) mod 2^bitsHere, exactly, without pow/fmod (src/sim/pow2.ts; written
      // out: with the walk's other callees TurboFan inlines no helper here).
      const q = Math.floor(ia * INV_POW2[shift]!);
      const index = q - Math.floor(q * INV_POW2[bitsHere]!) * POW2[bitsHere]!;
      let at = table + index * 8;
      if (this.tableAddress !== undefined) {
        this.faultLevel = level; // the level being fetched, for the hook (and a fault there)
        const pa = this.tableAddress(at);
        if (pa < 0) {
          this.faultLevel = level;
          this.tableFault = -1 - pa;
          return this.tableFault;
        }
        at = pa;
      }
      const n = this.trailLen;
      if (!mem.read64(at)) {
        this.faultLevel = level;
        this.fetchAddr = at;
        if (this.recordTrail && n < MAX_TRAIL) {
          this.trailAddr[n] = at;
          this.trailLevel[n] = level;
          this.trailUnreadable = true;
        }
        return F_WALK_EABT;
      }
      const lo = mem.lo;
      const hi = mem.hi;
      if (this.recordTrail) {
        this.trailAddr[n] = at;
        this.trailLo[n] = lo;
        this.trailHi[n] = hi;
        this.trailLevel[n] = level;
        this.trailLen = n + 1;
      }
      this.faultLevel = level;
      // Invalid (bit 0 = 0), a reserved-type L3 descriptor (bits 1:0 = 0b01), or a block at a
      // level the granule has no blocks at (blockAllowed; Arm ARM D8.3.1): translation fault.
      if ((lo & 1) === 0) return F_TRANSLATION;
      const isTable = (lo & 2) !== 0 && level < 3;
      if (level === 3 && (lo & 2) === 0) return F_TRANSLATION;
      if (!isTable && level < 3 && !blockAllowed(level, g)) return F_TRANSLATION;
      // Address bits 47:g of the descriptor (without FEAT_LPA/LPA2; bits 51:48 are RES0 or
      // attributes): beyond the output size is an address size fault (Arm ARM D8.3.1).
      const addr = (hi & 0xffff) * TWO32 + ((lo & ~pageMask) >>> 0);
      if (isTable) {
        const nextAddr = addr;
        if (nextAddr >= outLimit) return F_ADDR_SIZE;
        if (!c.s2) {
          if (hi & (1 << 29)) noUnpriv = true; // APTable[0], bit 61
          if (hi & (1 << 30)) noWrite = true; // APTable[1], bit 62
          if (hi & (1 << 28)) noUx = true; // UXNTable, bit 60
          if (hi & (1 << 27)) noPx = true; // PXNTable, bit 59
        }
        table = nextAddr;
        continue;
      }
      // A leaf: block (L1/L2) or page (L3). Output address bits [47:shift].
      const base = addr;
      const oaBase = Math.floor(base * INV_POW2[shift]!) * POW2[shift]!;
      if (oaBase >= outLimit) return F_ADDR_SIZE;
      this.leafLo = lo;
      this.leafHi = hi;
      this.level = level;
      // Access flag, bit 10.
      if ((lo & 0x400) === 0 && !c.afOff) return F_ACCESS;
      let perm: number;
      if (c.s2) {
        // S2AP bits 7:6: bit 6 read, bit 7 write; XN bits 54:53 (0b00: executable).
        perm = ((lo >>> 6) & 1 ? R : 0) | ((lo >>> 7) & 1 ? W : 0) | ((hi >>> 21) & 3 ? 0 : X);
      } else {
        // AP[2:1] bits 7:6: AP[1] (bit 6) unprivileged access, AP[2] (bit 7) read-only.
        const ap1 = (lo >>> 6) & 1;
        const ap2 = (lo >>> 7) & 1;
        const unpriv = !privileged;
        const readable = unpriv ? ap1 === 1 && !noUnpriv : true;
        const writable = readable && ap2 === 0 && !noWrite;
        const xn = unpriv ? (hi >>> 22) & 1 || noUx : (hi >>> 21) & 1 || noPx;
        perm = (readable ? R : 0) | (writable ? W : 0) | (readable && !xn ? X : 0);
      }
      this.perm = perm;
      this.oa = oaBase + (ia - Math.floor(ia * INV_POW2[shift]!) * POW2[shift]!);
      if (write ? (perm & W) === 0 : (perm & R) === 0) return F_PERMISSION;
      if (exec && (perm & X) === 0) return F_PERMISSION;
      return 0;
    }
    return F_TRANSLATION; // unreachable: level 3 always decides
  }
}
