/**
 * The Device-TLBs of ATS endpoints behind a DMAR unit (VT-d 4.1 "Device-TLB", PCIe ATS 1.1 "ATC"):
 * translations a device obtained with a Translation Request and caches itself, so that its later
 * DMA goes out as Translated Requests (AT = translated) that the unit passes without a walk. The
 * unit's IOTLB invalidations do not reach them; only a Device-TLB invalidate descriptor (type 0x3,
 * or the PASID-based 0x8) does. A driver that unmaps and forgets that descriptor leaves the device
 * writing through a stale translation (docs/vtd-device-tlb.md).
 *
 * One pool for all devices (fixed capacity, typed arrays, round-robin replacement): a lookup and a
 * fill allocate nothing. Entries cover the translation's page: 4 KiB, 2 MiB or 1 GiB (the ATS
 * completion's S bit and size, from the walk's leaf level).
 */

/** Entries the pool holds (all ATS devices of a unit together). */
export const DEVICE_TLB_ENTRIES = 64;

/** 4 KiB pages per entry of a leaf at `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB). */
function pagesOf(level: number): number {
  return 2 ** (9 * (level - 1));
}

export interface DeviceTlbEntry {
  slot: number;
  sid: number;
  /** -1: a translation without PASID. */
  pasid: number;
  /** IOVA and HPA of the start of the cached page. */
  iova: bigint;
  hpa: bigint;
  level: number;
  /** R = 1, W = 2. */
  perm: number;
}

export interface DeviceTlbSnapshot {
  sid: Int32Array;
  pasid: Int32Array;
  page: Float64Array;
  hpaPage: Float64Array;
  level: Uint8Array;
  perm: Uint8Array;
  next: number;
}

export class DeviceTlb {
  /** Requester id of the entry; -1: invalid. */
  private sid = new Int32Array(DEVICE_TLB_ENTRIES).fill(-1);
  private pasid = new Int32Array(DEVICE_TLB_ENTRIES);
  /** 4 KiB page number of the entry's first IOVA (exact in a double up to 2^53 pages). */
  private page = new Float64Array(DEVICE_TLB_ENTRIES);
  private hpaPage = new Float64Array(DEVICE_TLB_ENTRIES);
  private level = new Uint8Array(DEVICE_TLB_ENTRIES);
  private perm = new Uint8Array(DEVICE_TLB_ENTRIES);
  private next = 0;

  // ---- results of the last lookup()
  hpaHi = 0;
  hpaLo = 0;
  hitLevel = 0;
  hitPerm = 0;

  /** The entry of (sid, pasid) covering iovaHi:iovaLo, or -1. Sets hpaHi/hpaLo/hitLevel/hitPerm on a hit. */
  lookup(sid: number, pasid: number, iovaHi: number, iovaLo: number): number {
    const pn = iovaHi * 0x100000 + (iovaLo >>> 12);
    for (let i = 0; i < DEVICE_TLB_ENTRIES; i++) {
      if (this.sid[i] !== sid || this.pasid[i] !== pasid) continue;
      const base = this.page[i]!;
      const lvl = this.level[i]!;
      if (pn < base || pn >= base + pagesOf(lvl)) continue;
      const hp = this.hpaPage[i]! + (pn - base);
      this.hpaHi = Math.floor(hp / 0x100000) >>> 0;
      this.hpaLo = (((hp % 0x100000) * 4096) | (iovaLo & 0xfff)) >>> 0;
      this.hitLevel = lvl;
      this.hitPerm = this.perm[i]!;
      return i;
    }
    return -1;
  }

  /** Caches the translation of a successful Translation Request: the page of `level` holding the IOVA, mapped to the page holding hpa. */
  fill(sid: number, pasid: number, iovaHi: number, iovaLo: number, hpaHi: number, hpaLo: number, level: number, perm: number): void {
    const span = pagesOf(level);
    const pn = iovaHi * 0x100000 + (iovaLo >>> 12);
    const hp = hpaHi * 0x100000 + (hpaLo >>> 12);
    const i = this.next;
    this.next = (i + 1) % DEVICE_TLB_ENTRIES;
    this.sid[i] = sid;
    this.pasid[i] = pasid;
    this.page[i] = pn - (pn % span);
    this.hpaPage[i] = hp - (hp % span);
    this.level[i] = level;
    this.perm[i] = perm;
  }

  /**
   * Drops the entries of requester `sid` that overlap [addr, addr + size): `pasid` -1 the entries
   * without PASID (Device-TLB invalidate, type 0x3), a PASID those of that PASID, `allPasids` every
   * PASID of the device (PASID-based Device-TLB invalidate with G = 1). Returns how many were dropped.
   */
  invalidate(sid: number, pasid: number, addr: bigint, size: bigint, allPasids = false): number {
    const first = Number(addr >> 12n);
    const pages = Number(size >> 12n);
    let n = 0;
    for (let i = 0; i < DEVICE_TLB_ENTRIES; i++) {
      if (this.sid[i] !== sid) continue;
      if (allPasids ? this.pasid[i] === -1 : this.pasid[i] !== pasid) continue;
      const base = this.page[i]!;
      if (base + pagesOf(this.level[i]!) <= first || base >= first + pages) continue;
      this.sid[i] = -1;
      n++;
    }
    return n;
  }

  clear(): void {
    this.sid.fill(-1);
  }

  entries(): DeviceTlbEntry[] {
    const out: DeviceTlbEntry[] = [];
    for (let i = 0; i < DEVICE_TLB_ENTRIES; i++) {
      if (this.sid[i]! < 0) continue;
      out.push({ slot: i, sid: this.sid[i]!, pasid: this.pasid[i]!, iova: BigInt(this.page[i]!) << 12n, hpa: BigInt(this.hpaPage[i]!) << 12n, level: this.level[i]!, perm: this.perm[i]! });
    }
    return out.sort((a, b) => a.sid - b.sid || a.pasid - b.pasid || (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  }

  snapshot(): DeviceTlbSnapshot {
    return { sid: this.sid.slice(), pasid: this.pasid.slice(), page: this.page.slice(), hpaPage: this.hpaPage.slice(), level: this.level.slice(), perm: this.perm.slice(), next: this.next };
  }

  restore(s: DeviceTlbSnapshot): void {
    this.sid.set(s.sid);
    this.pasid.set(s.pasid);
    this.page.set(s.page);
    this.hpaPage.set(s.hpaPage);
    this.level.set(s.level);
    this.perm.set(s.perm);
    this.next = s.next;
  }
}

/**
 * The range a Device-TLB invalidate descriptor covers (PCIe ATS, Invalidate Request "S" bit; QEMU
 * vtd_process_device_iotlb_desc: `sz = (VTD_PAGE_SIZE * 2) << cto64(addr >> VTD_PAGE_SHIFT);
 * addr &= ~(sz - 1)`): with S = 0 the 4 KiB page at addr; with S = 1 the trailing ones of the
 * address above bit 12 encode the size (8 KiB << their count), aligned down.
 */
export function deviceTlbRange(addr: bigint, size: boolean): { addr: bigint; size: bigint } {
  const a = addr & ~0xfffn;
  if (!size) return { addr: a, size: 0x1000n };
  let ones = 0n;
  for (let v = a >> 12n; (v & 1n) === 1n && ones < 52n; v >>= 1n) ones++;
  const sz = 0x2000n << ones;
  return { addr: a & ~(sz - 1n), size: sz };
}
