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
 * tagA == 0 marks an invalid way. Lookups and fills run in the translate core (the same code as
 * the DMA path's); this class lists, invalidates, snapshots and restores the slots.
 */

import { MemoryView, PhysicalMemory } from "../memory.js";
import { translateCoreModule } from "./translate.js";
import { CORE_BLOCK, CORE_IOTLB } from "./translateCoreLayout.js";

const STRIDE = CORE_IOTLB.rows;
if (CORE_IOTLB.rowTagA !== 0 || CORE_IOTLB.rowTagB !== 1 || CORE_IOTLB.rowBaseLo !== 2 || CORE_IOTLB.rowBaseHi !== 3) {
  throw new Error("iotlb.ts reads the rows in the order tagA, tagB, base low | perm, base high");
}

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

/** The core's IOTLB exports (translate-core.template.mjs). */
interface IotlbCore {
  configure(blk: number, poolHpa: number, poolOff: number, poolBytesAt: number, addrMaskHi: number, largeOk: number, tlb: number, victim: number, sets: number, ways: number): void;
  lookup(did: number, iovaHi: number, iovaLo: number, write: number): number;
  fill(did: number, iovaHi: number, iovaLo: number, level: number, hpaHi: number, hpaLo: number, perm: number): void;
}

export class Iotlb {
  readonly sets: number = 0;
  readonly ways: number = 0;
  readonly setBits: number = 0;
  /** The slots and victim bytes, in a memory's SRAM arena (where the translate core probes them). */
  private readonly slotsIn: MemoryView<Int32Array>;
  private readonly victimIn: MemoryView<Uint8Array>;
  /** The memory the slots live in, and their byte offsets there. */
  readonly memory: WebAssembly.Memory;
  readonly slotsOffset: number = 0;
  readonly victimOffset: number = 0;
  /**
   * The translate core's lookup and fill, on these slots: the IOTLB's rules are the core's (one
   * source), the probe path and fills after a TypeScript walk included. Results in `block`.
   */
  private readonly core: IotlbCore;
  private readonly block: MemoryView<Int32Array>;

  // ---- results of the last hit ----
  /** int32 halves of the cached translation (`>>> 0` for unsigned): see SecondLevelTranslator. */
  hpaLo = 0;
  hpaHi = 0;
  level = 0;
  perm = 0;

  /** Bytes of a memory's SRAM arena that an IOTLB of this geometry takes (slots, victim bytes, the core's block, alignment). */
  static arenaBytes(sets: number, ways: number): number {
    return sets * ways * STRIDE * 4 + 64 + sets + 64 + CORE_BLOCK.bytes;
  }

  /** With `mem`, the IOTLB lives in its SRAM arena (the translate core's IOTLB); without, in a small memory of its own. */
  constructor(sets: number, ways: number, mem?: PhysicalMemory) {
    if (!(sets >= 1 && (sets & (sets - 1)) === 0 && sets <= 65536)) throw new RangeError("IOTLB sets must be a power of two <= 65536");
    if (!(ways >= 1 && ways <= 16)) throw new RangeError("IOTLB ways must be 1..16");
    this.sets = sets;
    this.ways = ways;
    this.setBits = Math.log2(sets);
    mem ??= new PhysicalMemory({ poolBase: 0, poolMaxPages: 1, poolInitialPages: 1, dramBytes: 0, sramBytes: Iotlb.arenaBytes(sets, ways) });
    this.memory = mem.memory;
    this.slotsOffset = mem.allocSram(sets * ways * STRIDE * 4);
    this.victimOffset = mem.allocSram(sets, 1);
    this.slotsIn = new MemoryView(mem, Int32Array, this.slotsOffset, sets * ways * STRIDE);
    this.victimIn = new MemoryView(mem, Uint8Array, this.victimOffset, sets);
    this.block = new MemoryView(mem, Int32Array, mem.allocSram(CORE_BLOCK.bytes), CORE_BLOCK.bytes / 4);
    this.core = new WebAssembly.Instance(translateCoreModule(), { sim: { memory: mem.memory } }).exports as unknown as IotlbCore;
    // No tables: the core's lookup and fill read only the IOTLB and the block.
    this.core.configure(this.block.offset, mem.poolBase, mem.poolOffset, mem.poolBytesCell, 0, 0, this.slotsOffset, this.victimOffset, sets, ways);
  }

  /** The slots (see the layout above). */
  get slots(): Int32Array {
    return this.slotsIn.get();
  }

  /** FIFO victim way per set. */
  get victim(): Uint8Array {
    return this.victimIn.get();
  }

  get size(): number {
    return this.sets * this.ways;
  }

  /**
   * Looks up (did, iova). Returns -1 on a miss; 0 on a permitted hit (hpaLo/hpaHi/level/perm set);
   * 0x05 / 0x06 on a hit whose cached permission lacks the access (level/perm set). Probes the
   * 4 KiB key, then 2 MiB, then 1 GiB. Fills nothing (the translate probe's look, don't touch).
   */
  lookup(did: number, iovaHi: number, iovaLo: number, write: boolean): number {
    const r = this.core.lookup(did, iovaHi, iovaLo, write ? 1 : 0);
    if (r < 0) return r;
    const b = this.block.get();
    this.level = b[CORE_BLOCK.level / 4]!;
    this.perm = b[CORE_BLOCK.perm / 4]!;
    if (r === 0) {
      this.hpaLo = b[CORE_BLOCK.hpa / 4]!;
      this.hpaHi = b[CORE_BLOCK.hpa / 4 + 1]!;
    }
    return r;
  }

  /** Caches a successful walk whose leaf is at `level` (1..3). hpa is the translated address. */
  fill(did: number, iovaHi: number, iovaLo: number, level: number, hpaHi: number, hpaLo: number, perm: number): void {
    this.core.fill(did, iovaHi, iovaLo, level, hpaHi, hpaLo, perm);
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
    // In 4 KiB page numbers, as doubles: an IOVA is below 2^57 (TAG_IOVA_BITS), so every page
    // number here is below 2^45 and exact. No entry objects: a 4 GiB unmap issues thousands of
    // these (the driver's page-selective flushes), each scanning every slot.
    const span = 1n << BigInt(12 + am);
    const first = Number((addr & ~(span - 1n)) >> 12n);
    const last = first + 2 ** am;
    const slots = this.slots;
    const ways = this.ways;
    const setScale = 2 ** this.setBits;
    let n = 0;
    for (let set = 0; set < this.sets; set++) {
      for (let way = 0; way < ways; way++) {
        const q = set * ways * STRIDE + way;
        const tagA = slots[q]!;
        if (tagA === 0) continue;
        const tagB = slots[q + ways]!;
        if (tagB >>> 16 !== did) continue;
        const level = tagA & 3;
        // The entry's page number (iova >> pageShift), then its first 4 KiB page and their count.
        const key = ((tagB & 0xffff) * 2 ** 30 + ((tagA >>> 2) & 0x3fffffff)) * setScale + set;
        const pages = 2 ** (9 * (level - 1));
        const pfn = key * pages;
        if (pfn < last && pfn + pages > first) {
          slots[q] = 0;
          n++;
        }
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
