/**
 * The IOTLB: caches successful second-level translations, tagged by domain id (DID).
 *
 * Set-associative (`sets` x `ways`, FIFO victim per set) as in ../shared/bench/SPEC.md section 7,
 * which follows QEMU: only successful walks are cached, with the permissions ANDed across levels,
 * keyed by the leaf's level; a lookup probes the 4 KiB, then 2 MiB, then 1 GiB key. A hit whose
 * cached permission lacks the requested access faults (0x05 / 0x06) without a walk.
 *
 * Layout: one Int32Array, 4 ints per way, the ways of a set adjacent (64 bytes for 4 ways):
 *   [tagA, tagB, baseLo | perm, baseHi]
 *   tagA = (low 30 bits of (iova >> (pageShift + setBits))) << 2 | level   (never 0: level >= 1)
 *   tagB = did << 16 | bits 30.. of (iova >> (pageShift + setBits))        (IOVAs up to 2^57)
 * tagA == 0 marks an invalid way.
 */

const STRIDE = 4;

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
  readonly sets: number;
  readonly ways: number;
  readonly setBits: number;
  private readonly setMask: number;
  slots: Int32Array;
  victim: Uint8Array;
  /** Per level 1..3: total shift of the tag (pageShift + setBits). */
  private readonly tagShift = new Int32Array(4);

  // ---- results of the last hit ----
  hpaLo = 0;
  hpaHi = 0;
  level = 0;
  perm = 0;

  constructor(sets: number, ways: number) {
    if (!(sets >= 1 && (sets & (sets - 1)) === 0 && sets <= 65536)) throw new RangeError("IOTLB sets must be a power of two <= 65536");
    if (!(ways >= 1 && ways <= 16)) throw new RangeError("IOTLB ways must be 1..16");
    this.sets = sets;
    this.ways = ways;
    this.setBits = Math.log2(sets);
    this.setMask = sets - 1;
    this.slots = new Int32Array(sets * ways * STRIDE);
    this.victim = new Uint8Array(sets);
    for (let level = 1; level <= 3; level++) this.tagShift[level] = 3 + 9 * level + this.setBits;
  }

  get size(): number {
    return this.sets * this.ways;
  }

  /**
   * Looks up (did, iova). Returns -1 on a miss; 0 on a permitted hit (hpaLo/hpaHi/level/perm set);
   * 0x05 / 0x06 on a hit whose cached permission lacks the access.
   */
  lookup(did: number, iovaHi: number, iovaLo: number, write: boolean): number {
    const slots = this.slots;
    const ways = this.ways;
    const setMask = this.setMask;
    const didTag = did << 16;
    // 4 KiB first: the common case, with shifts that are always below 32 (setBits <= 16).
    const s1 = 12 + this.setBits;
    const set1 = ((iovaLo >>> 12) | (iovaHi << 20)) & setMask;
    const tagA1 = (((iovaLo >>> s1) | (iovaHi << (32 - s1))) << 2) | 1;
    const tagB1 = didTag | ((iovaHi >>> (s1 - 2)) & 0xffff);
    let p = set1 * ways * STRIDE;
    for (let w = 0; w < ways; w++, p += STRIDE) {
      if (slots[p] === tagA1 && slots[p + 1] === tagB1) return this.hit(p, 1, iovaLo, write);
    }
    for (let level = 2; level <= 3; level++) {
      const pageShift = 3 + 9 * level;
      const set = ((iovaLo >>> pageShift) | (iovaHi << (32 - pageShift))) & setMask;
      const s = this.tagShift[level]!;
      const xLo = s < 32 ? (iovaLo >>> s) | (iovaHi << (32 - s)) : iovaHi >>> (s - 32);
      const xHi = s - 2 < 32 ? iovaHi >>> (s - 2) : 0;
      const tagA = (xLo << 2) | level;
      const tagB = didTag | (xHi & 0xffff);
      p = set * ways * STRIDE;
      for (let w = 0; w < ways; w++, p += STRIDE) {
        if (slots[p] === tagA && slots[p + 1] === tagB) return this.hit(p, level, iovaLo, write);
      }
    }
    return -1;
  }

  private hit(p: number, level: number, iovaLo: number, write: boolean): number {
    const slots = this.slots;
    const baseLo = slots[p + 2]!;
    const perm = baseLo & 3;
    this.level = level;
    this.perm = perm;
    if ((perm & (write ? 2 : 1)) === 0) return write ? 0x05 : 0x06;
    const offMask = level === 1 ? 0xfff : level === 2 ? 0x1fffff : 0x3fffffff;
    this.hpaLo = ((baseLo & ~offMask) | (iovaLo & offMask)) >>> 0;
    this.hpaHi = slots[p + 3]! >>> 0;
    return 0;
  }

  /** Caches a successful walk whose leaf is at `level` (1..3). hpa is the translated address. */
  fill(did: number, iovaHi: number, iovaLo: number, level: number, hpaHi: number, hpaLo: number, perm: number): void {
    const pageShift = 3 + 9 * level;
    const set = ((iovaLo >>> pageShift) | (iovaHi << (32 - pageShift))) & this.setMask;
    const s = this.tagShift[level]!;
    const xLo = s < 32 ? (iovaLo >>> s) | (iovaHi << (32 - s)) : iovaHi >>> (s - 32);
    const xHi = s - 2 < 32 ? iovaHi >>> (s - 2) : 0;
    const w = this.victim[set]!;
    this.victim[set] = (w + 1) % this.ways;
    const p = (set * this.ways + w) * STRIDE;
    const offMask = level === 1 ? 0xfff : level === 2 ? 0x1fffff : 0x3fffffff;
    this.slots[p] = (xLo << 2) | level;
    this.slots[p + 1] = (did << 16) | (xHi & 0xffff);
    this.slots[p + 2] = (hpaLo & ~offMask) | (perm & 3);
    this.slots[p + 3] = hpaHi | 0;
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
    for (let p = 0; p < slots.length; p += STRIDE) {
      if (slots[p] !== 0 && slots[p + 1]! >>> 16 === did) {
        slots[p] = 0;
        n++;
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
        this.slots[(e.set * this.ways + e.way) * STRIDE] = 0;
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
        const p = (set * this.ways + way) * STRIDE;
        const tagA = slots[p]!;
        if (tagA === 0) continue;
        const level = tagA & 3;
        const tagB = slots[p + 1]!;
        const x = (BigInt(tagB & 0xffff) << 30n) | BigInt((tagA >>> 2) & 0x3fffffff);
        const key = (x << BigInt(this.setBits)) | BigInt(set);
        const pageShift = BigInt(3 + 9 * level);
        const baseLo = slots[p + 2]!;
        out.push({
          did: tagB >>> 16,
          iova: key << pageShift,
          hpa: (BigInt(slots[p + 3]! >>> 0) << 32n) | BigInt((baseLo & ~0xfff) >>> 0),
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
