/**
 * The AMD-Vi IOTLB: successful translations tagged by DomainID (what INVALIDATE_IOMMU_PAGES
 * names), one entry per 4 KiB request page - QEMU's AMD IOMMU keys its IOTLB by the 4 KiB frame
 * number too (hw/i386/amd_iommu.c amdvi_iotlb_lookup: key = addr >> AMDVI_PAGE_SHIFT_4K), and
 * keeps the leaf's page size with the entry. Set-associative (`sets` x `ways`, FIFO victim per set)
 * in typed arrays: lookups and fills allocate nothing. The device IOTLB of ATS devices is one too
 * (tag: device id), whose entries also carry the PASID of the translation request (-1: none), as
 * a PCIe ATC tags them; the unit's own IOTLB always fills -1.
 *
 * Pure module: no vscode, no Node built-ins.
 */

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

/** Fields per way in `words`: vpn low, vpn high, hpa page low, hpa page high, perm | pageShift << 8. */
const W = 5;

export class AmdIotlb {
  readonly sets: number;
  readonly ways: number;
  /** Per way: did + 1 (0 = invalid). */
  tag: Int32Array;
  words: Int32Array;
  victim: Uint8Array;
  /** Per way: the PASID of the entry's request, -1 without. */
  pasid: Int32Array;
  // ---- results of the last hit
  hpaLo = 0;
  hpaHi = 0;
  perm = 0;
  pageShift = 12;

  constructor(sets: number, ways: number) {
    this.sets = sets;
    this.ways = ways;
    this.tag = new Int32Array(sets * ways);
    this.words = new Int32Array(sets * ways * W);
    this.victim = new Uint8Array(sets);
    this.pasid = new Int32Array(sets * ways).fill(-1);
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
    const t = did + 1;
    for (let w = 0; w < this.ways; w++) {
      const i = base + w;
      if (this.tag[i] !== t || this.pasid[i] !== pasid) continue;
      const o = i * W;
      if (this.words[o] !== (vpnLo | 0) || this.words[o + 1] !== (vpnHi | 0)) continue;
      this.hpaLo = this.words[o + 2]! >>> 0;
      this.hpaHi = this.words[o + 3]! >>> 0;
      const pw = this.words[o + 4]!;
      this.perm = pw & 0xff;
      this.pageShift = pw >>> 8;
      return true;
    }
    return false;
  }

  fill(did: number, vpnLo: number, vpnHi: number, hpaLo: number, hpaHi: number, perm: number, pageShift: number, pasid = -1): void {
    const set = this.setOf(vpnLo);
    const w = this.victim[set]!;
    this.victim[set] = (w + 1) % this.ways;
    const i = set * this.ways + w;
    this.tag[i] = did + 1;
    this.pasid[i] = pasid;
    const o = i * W;
    this.words[o] = vpnLo | 0;
    this.words[o + 1] = vpnHi | 0;
    this.words[o + 2] = hpaLo | 0;
    this.words[o + 3] = hpaHi | 0;
    this.words[o + 4] = perm | (pageShift << 8);
  }

  /**
   * Drops the entries of `did` (all domains when did < 0) whose page lies in [first, last]; with
   * `pasid` only those of that PASID (-1: those without PASID), else every entry. Returns how many.
   */
  invalidate(did: number, first: bigint, last: bigint, pasid?: number): number {
    let n = 0;
    for (let i = 0; i < this.tag.length; i++) {
      const t = this.tag[i]!;
      if (t === 0 || (did >= 0 && t !== did + 1)) continue;
      if (pasid !== undefined && this.pasid[i] !== pasid) continue;
      const iova = this.iovaAt(i);
      if (iova < first || iova > last) continue;
      this.tag[i] = 0;
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
      if (t === 0) continue;
      const o = i * W;
      const pw = this.words[o + 4]!;
      out.push({
        did: t - 1,
        pasid: this.pasid[i]!,
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
