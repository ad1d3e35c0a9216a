/**
 * The AMD-Vi IOTLB: successful translations tagged by DomainID (what INVALIDATE_IOMMU_PAGES
 * names), one entry per 4 KiB request page - QEMU's AMD IOMMU keys its IOTLB by the 4 KiB frame
 * number too (hw/i386/amd_iommu.c amdvi_iotlb_lookup: key = addr >> AMDVI_PAGE_SHIFT_4K), and
 * keeps the leaf's page size with the entry. Set-associative (`sets` x `ways`, FIFO victim per set)
 * in typed arrays: lookups and fills allocate nothing. The device IOTLB of ATS devices is one too
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
import { MemoryView, type PhysicalMemory } from "../memory.js";
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
  tag: Int32Array;
  words: Int32Array;
  victim: Uint8Array;
  /** Per way: the PASID (-1: none); absent in snapshots from before PASID-tagged entries. */
  pasid?: Int32Array;
}

/**
 * Fields per way in `words`: vpn low, vpn high, hpa page low, hpa page high, perm | pageShift << 8
 * (the translate core's layout, CORE_AMD_IOTLB: $amdBurst probes and fills these arrays).
 */
const W = CORE_AMD_IOTLB.words;
if (CORE_AMD_IOTLB.vpnLo !== 0 || CORE_AMD_IOTLB.vpnHi !== 1 || CORE_AMD_IOTLB.hpaLo !== 2 || CORE_AMD_IOTLB.hpaHi !== 3 || CORE_AMD_IOTLB.permShift !== 4) {
  throw new Error("amdvi/iotlb.ts reads a way's words in the order vpn low, vpn high, hpa low, hpa high, perm | pageShift << 8");
}

/** Tag offset of the guest (v2) entries in a shared IOTLB: above every did + 1 (DomainIDs are 16 bits). */
const GUEST_TAG = 0x20000;
/** Tags one view owns: tagBase + 1 .. tagBase + 0x10000. */
const DID_TAGS = 0x10000;

export class AmdIotlb {
  readonly sets: number;
  readonly ways: number;
  /** Added to did + 1 in this view's tags (0, or GUEST_TAG for the guest view of a unit's IOTLB). */
  private tagBase = 0;
  /**
   * The entries of this view carry no PASID (an IOTLB the translate core fills: the core writes no
   * PASID, so a way it took over from a guest entry keeps a stale one, which this view ignores).
   */
  private noPasid = false;
  private readonly tagIn: MemoryView<Int32Array> | Int32Array;
  private readonly wordsIn: MemoryView<Int32Array> | Int32Array;
  private readonly victimIn: MemoryView<Uint8Array> | Uint8Array;
  /** Per way: did + 1 (0 = invalid). */
  get tag(): Int32Array {
    const t = this.tagIn;
    return t instanceof Int32Array ? t : t.get();
  }
  get words(): Int32Array {
    const t = this.wordsIn;
    return t instanceof Int32Array ? t : t.get();
  }
  get victim(): Uint8Array {
    const t = this.victimIn;
    return t instanceof Uint8Array ? t : t.get();
  }
  /**
   * Per way: the PASID of the entry's request, -1 without (a device IOTLB's PASID-tagged entries).
   * Not in the SRAM arena: the translate core does not tag by PASID, so an IOTLB the core fills
   * (the unit's own, which caches no PASID translation) only ever holds -1 here (fill() checks).
   */
  readonly pasid: Int32Array;
  // ---- results of the last hit
  hpaLo = 0;
  hpaHi = 0;
  perm = 0;
  pageShift = 12;

  /** Bytes of a memory's SRAM arena an IOTLB of this geometry takes (alignment included). */
  static arenaBytes(sets: number, ways: number): number {
    return sets * ways * 4 * (1 + W) + sets + 3 * 64;
  }

  /**
   * With `mem`, the arrays live in its SRAM arena, where the translate core's AMD-Vi burst
   * ($amdBurst) probes and fills them; otherwise they are the IOTLB's own.
   */
  constructor(sets: number, ways: number, mem?: PhysicalMemory) {
    this.sets = sets;
    this.ways = ways;
    if (mem === undefined) {
      this.tagIn = new Int32Array(sets * ways);
      this.wordsIn = new Int32Array(sets * ways * W);
      this.victimIn = new Uint8Array(sets);
    } else {
      this.tagIn = new MemoryView(mem, Int32Array, mem.allocSram(sets * ways * 4), sets * ways);
      this.wordsIn = new MemoryView(mem, Int32Array, mem.allocSram(sets * ways * 4 * W), sets * ways * W);
      this.victimIn = new MemoryView(mem, Uint8Array, mem.allocSram(sets, 1), sets);
    }
    this.pasid = new Int32Array(sets * ways).fill(-1);
    this.noPasid = mem !== undefined;
  }

  /**
   * The guest (v2) view of `host`: the same ways, FIFO victims and PASIDs, its own tags
   * (did + 1 + GUEST_TAG). Entries of one view are invisible to the other's lookups,
   * invalidations and entries(); a fill of either may evict an entry of the other.
   */
  static guestView(host: AmdIotlb): AmdIotlb {
    const g: AmdIotlb = Object.create(AmdIotlb.prototype) as AmdIotlb;
    Object.assign(g, { sets: host.sets, ways: host.ways, tagIn: host.tagIn, wordsIn: host.wordsIn, victimIn: host.victimIn, pasid: host.pasid, tagBase: GUEST_TAG, noPasid: false, hpaLo: 0, hpaHi: 0, perm: 0, pageShift: 12 });
    return g;
  }

  /** Tag t belongs to this view. */
  private owns(t: number): boolean {
    return t > this.tagBase && t <= this.tagBase + DID_TAGS;
  }

  /** Byte offsets of the arrays in the memory (an IOTLB in a memory's SRAM arena), for the core. */
  get offsets(): { tag: number; words: number; victim: number } | undefined {
    const t = this.tagIn;
    const w = this.wordsIn;
    const v = this.victimIn;
    return t instanceof Int32Array || w instanceof Int32Array || v instanceof Uint8Array ? undefined : { tag: t.offset, words: w.offset, victim: v.offset };
  }

  get size(): number {
    return this.sets * this.ways;
  }

  /** The set of a 4 KiB frame: its low bits. */
  private setOf(vpnLo: number): number {
    return vpnLo & (this.sets - 1);
  }

  /** A hit: true, with hpaLo/hpaHi (of the byte's 4 KiB page), perm and pageShift set. `pasid` -1: an entry without PASID. */
  lookup(did: number, vpnLo: number, vpnHi: number, pasid = -1): boolean {
    const base = this.setOf(vpnLo) * this.ways;
    const t = did + 1 + this.tagBase;
    const tag = this.tag;
    const words = this.words;
    for (let w = 0; w < this.ways; w++) {
      const i = base + w;
      if (tag[i] !== t || (!this.noPasid && this.pasid[i] !== pasid)) continue;
      const o = i * W;
      if (words[o] !== (vpnLo | 0) || words[o + 1] !== (vpnHi | 0)) continue;
      this.hpaLo = words[o + 2]! >>> 0;
      this.hpaHi = words[o + 3]! >>> 0;
      const pw = words[o + 4]!;
      this.perm = pw & 0xff;
      this.pageShift = pw >>> 8;
      return true;
    }
    return false;
  }

  fill(did: number, vpnLo: number, vpnHi: number, hpaLo: number, hpaHi: number, perm: number, pageShift: number, pasid = -1): void {
    // The core probes and fills an IOTLB in the SRAM arena by DID and page alone.
    if (pasid !== -1 && this.noPasid) throw new Error("a PASID-tagged entry in an IOTLB the translate core shares");
    const set = this.setOf(vpnLo);
    const victim = this.victim;
    const words = this.words;
    const w = victim[set]!;
    victim[set] = (w + 1) % this.ways;
    const i = set * this.ways + w;
    this.tag[i] = did + 1 + this.tagBase;
    this.pasid[i] = pasid;
    const o = i * W;
    words[o] = vpnLo | 0;
    words[o + 1] = vpnHi | 0;
    words[o + 2] = hpaLo | 0;
    words[o + 3] = hpaHi | 0;
    words[o + 4] = perm | (pageShift << 8);
  }

  /**
   * Drops the entries of `did` (all domains when did < 0) whose page lies in [first, last]; with
   * `pasid` only those of that PASID (-1: those without PASID), else every entry. Returns how many.
   */
  invalidate(did: number, first: bigint, last: bigint, pasid?: number): number {
    let n = 0;
    const tag = this.tag;
    for (let i = 0; i < tag.length; i++) {
      const t = tag[i]!;
      if (!this.owns(t) || (did >= 0 && t !== did + 1 + this.tagBase)) continue;
      if (pasid !== undefined && !this.noPasid && this.pasid[i] !== pasid) continue;
      const iova = this.iovaAt(i);
      if (iova < first || iova > last) continue;
      tag[i] = 0;
      n++;
    }
    return n;
  }

  private iovaAt(i: number): bigint {
    const o = i * W;
    return ((BigInt(this.words[o + 1]! >>> 0) << 32n) | BigInt(this.words[o]! >>> 0)) << 12n;
  }

  entries(): AmdIotlbEntry[] {
    const out: AmdIotlbEntry[] = [];
    for (let i = 0; i < this.tag.length; i++) {
      const t = this.tag[i]!;
      if (!this.owns(t)) continue;
      const o = i * W;
      const pw = this.words[o + 4]!;
      out.push({
        did: t - 1 - this.tagBase,
        pasid: this.noPasid ? -1 : this.pasid[i]!,
        iova: this.iovaAt(i),
        hpa: (BigInt(this.words[o + 3]! >>> 0) << 32n) | BigInt(this.words[o + 2]! >>> 0),
        pageShift: pw >>> 8,
        perm: pw & 0xff,
        set: Math.floor(i / this.ways),
        way: i % this.ways,
      });
    }
    return out;
  }

  snapshot(): AmdIotlbSnapshot {
    return { tag: this.tag.slice(), words: this.words.slice(), victim: this.victim.slice(), pasid: this.pasid.slice() };
  }

  restore(s: AmdIotlbSnapshot): void {
    this.tag.set(s.tag);
    this.words.set(s.words);
    this.victim.set(s.victim);
    if (s.pasid !== undefined) this.pasid.set(s.pasid);
    else this.pasid.fill(-1);
  }
}
