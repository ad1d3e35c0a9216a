/**
 * The IOTLB: caches successful second-level translations, tagged by domain id (DID).
 *
 * Set-associative (`sets` x `ways`, FIFO victim per set) as in ../shared/bench/SPEC.md section 7,
 * which follows QEMU: only successful walks are cached, with the permissions ANDed across levels,
 * keyed by the leaf's level; a lookup probes the 4 KiB, then 2 MiB, then 1 GiB key. A hit whose
 * cached permission lacks the requested access faults (0x05 / 0x06) without a walk.
 *
 * Layout (the WebAssembly translate core's, CORE_IOTLB in the generated translateCoreLayout.ts):
 * one Int32Array, 4 ints per way, grouped by field within a set so that a 4-way set is 16
 * consecutive ints (64 bytes): for set s with base b = s * ways * 4 and way w,
 *   slots[b + w]            tagA = (low 30 bits of (iova >> (pageShift + setBits))) << 2 | level  (never 0: level >= 1)
 *   slots[b + ways + w]     tagB = did << 16 | bits 30.. of (iova >> (pageShift + setBits))     (IOVAs up to 2^57)
 *   slots[b + 2*ways + w]   page base, low dword, | perm (R=1, W=2) in bits 1:0
 *   slots[b + 3*ways + w]   page base, high dword
 * tagA == 0 marks an invalid way. A 4-way set is probed without branches (every way compared, the
 * matching one selected arithmetically): on a hot set the way that hits is unpredictable.
 */

import { MemoryView, type PhysicalMemory } from "../memory.js";
import { CORE_IOTLB } from "./translateCoreLayout.js";

const STRIDE = CORE_IOTLB.rows;
if (CORE_IOTLB.rowTagA !== 0 || CORE_IOTLB.rowTagB !== 1 || CORE_IOTLB.rowBaseLo !== 2 || CORE_IOTLB.rowBaseHi !== 3) {
  throw new Error("iotlb.ts reads the rows in the order tagA, tagB, base low | perm, base high");
}
/** IOVAs at or above 2^TAG_IOVA_BITS have no tag: a lookup of one misses. */
const UNTAGGED_HI_SHIFT = CORE_IOTLB.tagIovaBits - 32;

export interface IotlbEntry {
  did: number;
  /** IOVA of the start of the cached page. */
  iova: bigint;
  hpa: bigint;
  /** 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. */
  level: number;
  perm: number;
  set: number;
  way: number;
}

export interface IotlbSnapshot {
  slots: Int32Array;
  victim: Uint8Array;
}

export class Iotlb {
  readonly sets: number = 0;
  readonly ways: number = 0;
  readonly setBits: number = 0;
  private readonly setMask: number = 0;
  /** Where the slots and victim bytes live: in a memory's SRAM arena (where the translate core probes them), or in arrays of their own. */
  private readonly slotsIn: MemoryView<Int32Array> | Int32Array;
  private readonly victimIn: MemoryView<Uint8Array> | Uint8Array;
  /** Byte offsets of the slots and the victim bytes in the memory (0: arrays of their own). */
  readonly slotsOffset: number = 0;
  readonly victimOffset: number = 0;
  /** Per level 1..3: total shift of the tag (pageShift + setBits). */
  private readonly tagShift = new Int32Array(4);
  /** 12 + setBits: the tag shift of the 4 KiB probe, always below 32. */
  private readonly shift1: number = 0;

  // ---- results of the last hit ----
  /** int32 halves of the cached translation (`>>> 0` for unsigned): see SecondLevelTranslator. */
  hpaLo = 0;
  hpaHi = 0;
  level = 0;
  perm = 0;

  /** Bytes of a memory's SRAM arena that an IOTLB of this geometry takes (slots, victim bytes, alignment). */
  static arenaBytes(sets: number, ways: number): number {
    return sets * ways * STRIDE * 4 + 64 + sets + 1;
  }

  /** With `mem`, the IOTLB lives in its SRAM arena (the translate core's IOTLB); without, in arrays of its own. */
  constructor(sets: number, ways: number, mem?: PhysicalMemory) {
    if (!(sets >= 1 && (sets & (sets - 1)) === 0 && sets <= 65536)) throw new RangeError("IOTLB sets must be a power of two <= 65536");
    if (!(ways >= 1 && ways <= 16)) throw new RangeError("IOTLB ways must be 1..16");
    this.sets = sets;
    this.ways = ways;
    this.setBits = Math.log2(sets);
    this.setMask = sets - 1;
    if (mem === undefined) {
      this.slotsIn = new Int32Array(sets * ways * STRIDE);
      this.victimIn = new Uint8Array(sets);
    } else {
      this.slotsOffset = mem.allocSram(sets * ways * STRIDE * 4);
      this.victimOffset = mem.allocSram(sets, 1);
      this.slotsIn = new MemoryView(mem, Int32Array, this.slotsOffset, sets * ways * STRIDE);
      this.victimIn = new MemoryView(mem, Uint8Array, this.victimOffset, sets);
    }
    for (let level = 1; level <= 3; level++) this.tagShift[level] = 3 + 9 * level + this.setBits;
    this.shift1 = 12 + this.setBits;
  }

  /** The slots (see the layout above). */
  get slots(): Int32Array {
    const s = this.slotsIn;
    return s instanceof Int32Array ? s : s.get();
  }

  /** FIFO victim way per set. */
  get victim(): Uint8Array {
    const v = this.victimIn;
    return v instanceof Uint8Array ? v : v.get();
  }

  get size(): number {
    return this.sets * this.ways;
  }

  /**
   * Looks up (did, iova). Returns -1 on a miss; 0 on a permitted hit (hpaLo/hpaHi/level/perm set);
   * 0x05 / 0x06 on a hit whose cached permission lacks the access.
   * Probes the 4 KiB key first (straight-line, the common case), then 2 MiB, then 1 GiB.
   */
  lookup(did: number, iovaHi: number, iovaLo: number, write: boolean): number {
    if (iovaHi >>> UNTAGGED_HI_SHIFT !== 0) return -1;
    const s = this.shift1;
    const base = (((iovaLo >>> 12) | (iovaHi << 20)) & this.setMask) * this.ways * STRIDE;
    const tagA = (((iovaLo >>> s) | (iovaHi << (32 - s))) << 2) | 1;
    const tagB = (did << 16) | ((iovaHi >>> (s - 2)) & 0xffff);
    const q = this.ways === 4 ? this.match4(base, tagA, tagB) : this.matchAny(base, tagA, tagB);
    if (q >= 0) return this.hit(q, 1, iovaLo, write);
    return this.lookupLarge(did, iovaHi, iovaLo, write);
  }

  /** Slot index of the way of a 4-way set (at `base`) holding (tagA, tagB), or -1. No branches on the ways. */
  private match4(base: number, tagA: number, tagB: number): number {
    const slots = this.slots;
    // clz32(0) >>> 5 is 1, and 0 for any non-zero difference.
    const m0 = Math.clz32((slots[base]! ^ tagA) | (slots[base + 4]! ^ tagB)) >>> 5;
    const m1 = Math.clz32((slots[base + 1]! ^ tagA) | (slots[base + 5]! ^ tagB)) >>> 5;
    const m2 = Math.clz32((slots[base + 2]! ^ tagA) | (slots[base + 6]! ^ tagB)) >>> 5;
    const m3 = Math.clz32((slots[base + 3]! ^ tagA) | (slots[base + 7]! ^ tagB)) >>> 5;
    // At most one way matches (a fill only follows a miss for the same tag).
    return (m0 | m1 | m2 | m3) === 0 ? -1 : base + (m1 | (m2 << 1) | (m3 * 3));
  }

  private matchAny(base: number, tagA: number, tagB: number): number {
    const slots = this.slots;
    const ways = this.ways;
    for (let w = 0; w < ways; w++) {
      if (slots[base + w] === tagA && slots[base + ways + w] === tagB) return base + w;
    }
    return -1;
  }

  /** The 2 MiB and 1 GiB probes, after a 4 KiB miss. */
  private lookupLarge(did: number, iovaHi: number, iovaLo: number, write: boolean): number {
    const didTag = did << 16;
    for (let level = 2; level <= 3; level++) {
      const pageShift = 3 + 9 * level;
      const base = (((iovaLo >>> pageShift) | (iovaHi << (32 - pageShift))) & this.setMask) * this.ways * STRIDE;
      const s = this.tagShift[level]!;
      const xLo = s < 32 ? (iovaLo >>> s) | (iovaHi << (32 - s)) : iovaHi >>> (s - 32);
      const xHi = s - 2 < 32 ? iovaHi >>> (s - 2) : 0;
      const tagA = (xLo << 2) | level;
      const tagB = didTag | (xHi & 0xffff);
      const q = this.ways === 4 ? this.match4(base, tagA, tagB) : this.matchAny(base, tagA, tagB);
      if (q >= 0) return this.hit(q, level, iovaLo, write);
    }
    return -1;
  }

  /** A hit on the way whose tagA is slots[q]. */
  private hit(q: number, level: number, iovaLo: number, write: boolean): number {
    const slots = this.slots;
    const ways2 = this.ways * 2;
    const baseLo = slots[q + ways2]!;
    const perm = baseLo & 3;
    this.level = level;
    this.perm = perm;
    if ((perm & (write === true ? 2 : 1)) === 0) return write === true ? 0x05 : 0x06;
    const offMask = level === 1 ? 0xfff : level === 2 ? 0x1fffff : 0x3fffffff;
    this.hpaLo = (baseLo & ~offMask) | (iovaLo & offMask);
    this.hpaHi = slots[q + ways2 + this.ways]! | 0;
    return 0;
  }

  /** Caches a successful walk whose leaf is at `level` (1..3). hpa is the translated address. */
  fill(did: number, iovaHi: number, iovaLo: number, level: number, hpaHi: number, hpaLo: number, perm: number): void {
    const pageShift = 3 + 9 * level;
    const set = ((iovaLo >>> pageShift) | (iovaHi << (32 - pageShift))) & this.setMask;
    const s = this.tagShift[level]!;
    const xLo = s < 32 ? (iovaLo >>> s) | (iovaHi << (32 - s)) : iovaHi >>> (s - 32);
    const xHi = s - 2 < 32 ? iovaHi >>> (s - 2) : 0;
    const ways = this.ways;
    const w = this.victim[set]!;
    this.victim[set] = w + 1 === ways ? 0 : w + 1;
    const q = set * ways * STRIDE + w;
    const offMask = level === 1 ? 0xfff : level === 2 ? 0x1fffff : 0x3fffffff;
    const slots = this.slots;
    slots[q] = (xLo << 2) | level;
    slots[q + ways] = (did << 16) | (xHi & 0xffff);
    slots[q + 2 * ways] = (hpaLo & ~offMask) | (perm & 3);
    slots[q + 3 * ways] = hpaHi | 0;
  }

  /** Global invalidation (and the per-repetition reset of the benchmark). */
  invalidateAll(): void {
    this.slots.fill(0);
    this.victim.fill(0);
  }

  /** Domain-selective invalidation. Returns the number of entries dropped. */
  invalidateDomain(did: number): number {
    let n = 0;
    const slots = this.slots;
    const ways = this.ways;
    for (let base = 0; base < slots.length; base += ways * STRIDE) {
      for (let q = base; q < base + ways; q++) {
        if (slots[q] !== 0 && slots[q + ways]! >>> 16 === did) {
          slots[q] = 0;
          n++;
        }
      }
    }
    return n;
  }

  /**
   * Page-selective invalidation: drops every entry of `did` whose page overlaps
   * [addr, addr + 2^(12 + am)) (VT-d: ADDR must be aligned to the mask; hardware ignores low bits).
   */
  invalidatePages(did: number, addr: bigint, am: number): number {
    const span = 1n << BigInt(12 + am);
    const start = addr & ~(span - 1n);
    const end = start + span;
    let n = 0;
    for (const e of this.entries()) {
      if (e.did !== did) continue;
      const pageEnd = e.iova + (1n << BigInt(3 + 9 * e.level));
      if (e.iova < end && pageEnd > start) {
        this.slots[e.set * this.ways * STRIDE + e.way] = 0;
        n++;
      }
    }
    return n;
  }

  /** Valid entries, for tree views and tests (not a hot path). */
  entries(): IotlbEntry[] {
    const out: IotlbEntry[] = [];
    const slots = this.slots;
    for (let set = 0; set < this.sets; set++) {
      for (let way = 0; way < this.ways; way++) {
        const q = set * this.ways * STRIDE + way;
        const tagA = slots[q]!;
        if (tagA === 0) continue;
        const level = tagA & 3;
        const tagB = slots[q + this.ways]!;
        const x = (BigInt(tagB & 0xffff) << 30n) | BigInt((tagA >>> 2) & 0x3fffffff);
        const key = (x << BigInt(this.setBits)) | BigInt(set);
        const pageShift = BigInt(3 + 9 * level);
        const baseLo = slots[q + 2 * this.ways]!;
        out.push({
          did: tagB >>> 16,
          iova: key << pageShift,
          hpa: (BigInt(slots[q + 3 * this.ways]! >>> 0) << 32n) | BigInt((baseLo & ~0xfff) >>> 0),
          level,
          perm: baseLo & 3,
          set,
          way,
        });
      }
    }
    return out;
  }

  snapshot(): IotlbSnapshot {
    return { slots: this.slots.slice(), victim: this.victim.slice() };
  }

  restore(s: IotlbSnapshot): void {
    this.slots.set(s.slots);
    this.victim.set(s.victim);
  }
}
