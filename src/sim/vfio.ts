/**
 * The VFIO type1 IOMMU backend (drivers/vfio/vfio_iommu_type1.c) as a pure model: a container's
 * DMA mappings, the kernel's MAP/UNMAP rules and errno in the kernel's order, dma_entry_limit,
 * RLIMIT_MEMLOCK accounting of pinned pages, pinning by physically contiguous chunks, and replay
 * of existing mappings into a newly attached domain. See ../shared/reference §6.
 */

export type Errno = "EINVAL" | "EEXIST" | "ENOSPC" | "ENOMEM" | "EFAULT" | "EPERM" | "EBUSY" | "ENOENT" | "ENODEV" | "EIO" | "EOVERFLOW" | "EOPNOTSUPP";

/** Linux errno values (include/uapi/asm-generic/errno-base.h; EOVERFLOW from asm-generic/errno.h). */
export const ERRNO_VALUE: Record<Errno, number> = { EPERM: 1, ENOENT: 2, EIO: 5, ENOMEM: 12, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOSPC: 28, EOVERFLOW: 75, EOPNOTSUPP: 95 };

/** glibc strerror() text. */
export const STRERROR: Record<Errno, string> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  EIO: "Input/output error",
  ENOMEM: "Cannot allocate memory",
  EFAULT: "Bad address",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  ENODEV: "No such device",
  EINVAL: "Invalid argument",
  ENOSPC: "No space left on device",
  EOVERFLOW: "Value too large for defined data type",
  EOPNOTSUPP: "Operation not supported",
};

/** Implemented by the IOMMU driver model; called exactly as type1 calls iommu_map/iommu_unmap. */
export interface IommuDomainOps {
  map(domain: number, iova: bigint, hpa: bigint, size: bigint, prot: number): void;
  unmap(domain: number, iova: bigint, size: bigint): void;
}

/** The VMM's address space: which host physical pages back a user virtual address. */
export interface PinSource {
  resolve(vaddr: bigint): { hpa: bigint; contiguous: bigint } | undefined;
}

export interface VfioChunk {
  iova: bigint;
  hpa: bigint;
  size: bigint;
}

export interface VfioDma {
  iova: bigint;
  vaddr: bigint;
  size: bigint;
  /** IOMMU_READ = 1, IOMMU_WRITE = 2. */
  prot: number;
  lockedPages: number;
  chunks: VfioChunk[];
}

export type VfioResult<T = object> = ({ ok: true } & T) | { ok: false; errno: Errno; kernelLog: string[] };

export interface VfioContainerOptions {
  ops: IommuDomainOps;
  pins: PinSource;
  dmaEntryLimit: number;
  /** RLIMIT_MEMLOCK in bytes; undefined = CAP_IPC_LOCK (no accounting limit). */
  memlockBytes?: bigint;
  /** Inclusive reserved IOVA ranges; default the x86 MSI window. */
  reservedRegions?: [bigint, bigint][];
  /** Last valid IOVA of the domain aperture, inclusive. */
  apertureEnd?: bigint;
}

const PAGE = 4096n;
const U64 = (1n << 64n) - 1n;

export class VfioContainer {
  private list: VfioDma[] = [];
  private domains: number[] = [];
  private avail: number;
  private locked = 0;

  constructor(private readonly opts: VfioContainerOptions) {
    this.avail = opts.dmaEntryLimit;
  }

  get dmas(): readonly VfioDma[] {
    return this.list;
  }

  get dmaAvail(): number {
    return this.avail;
  }

  get lockedPages(): number {
    return this.locked;
  }

  /** The domains the mappings are programmed into. */
  get domainIds(): readonly number[] {
    return this.domains;
  }

  /** First group attach of a domain: vfio_iommu_replay maps every existing mapping into it. */
  addDomain(domain: number): VfioResult {
    this.domains.push(domain);
    for (const dma of this.list) for (const c of dma.chunks) this.opts.ops.map(domain, c.iova, c.hpa, c.size, dma.prot);
    return { ok: true };
  }

  removeDomain(domain: number): void {
    const i = this.domains.indexOf(domain);
    if (i < 0) return;
    for (const dma of this.list) for (const c of dma.chunks) this.opts.ops.unmap(domain, c.iova, c.size);
    this.domains.splice(i, 1);
  }

  /** VFIO_IOMMU_MAP_DMA: vfio_dma_do_map() checks in the kernel's order, then pins and maps. */
  map(req: { iova: bigint; vaddr: bigint; size: bigint; read: boolean; write: boolean }): VfioResult<{ dma: VfioDma }> {
    const { iova, vaddr, size } = req;
    const fail = (errno: Errno, kernelLog: string[] = []): VfioResult<{ dma: VfioDma }> => ({ ok: false, errno, kernelLog });
    if (iova < 0n || vaddr < 0n || size < 0n || iova > U64 || vaddr > U64 || size > U64) return fail("EINVAL");
    if (!req.read && !req.write) return fail("EINVAL");
    if (size === 0n || (size | iova | vaddr) % PAGE !== 0n) return fail("EINVAL");
    if (iova + size - 1n > U64 || vaddr + size - 1n > U64) return fail("EINVAL");
    if (this.overlapsAny(iova, size)) return fail("EEXIST");
    if (this.avail === 0) return fail("ENOSPC");
    if (!this.iovaRangeValid(iova, size)) return fail("EINVAL");
    const prot = (req.read ? 1 : 0) | (req.write ? 2 : 0);
    const dma: VfioDma = { iova, vaddr, size, prot, lockedPages: 0, chunks: [] };
    // vfio_pin_map_dma: pin a physically contiguous run, map it into every domain, continue.
    let done = 0n;
    const limitPages = this.opts.memlockBytes === undefined ? undefined : Number(this.opts.memlockBytes >> 12n);
    while (done < size) {
      const r = this.opts.pins.resolve(vaddr + done);
      if (r === undefined) {
        this.unwind(dma);
        return fail("EFAULT");
      }
      let len = r.contiguous < size - done ? r.contiguous : size - done;
      len -= len % PAGE;
      if (len === 0n) len = PAGE;
      const pages = Number(len / PAGE);
      if (limitPages !== undefined && this.locked + pages > limitPages) {
        this.unwind(dma);
        // vfio_pin_pages_remote: pr_warn("%s: RLIMIT_MEMLOCK (%ld) exceeded\n", __func__, limit << PAGE_SHIFT)
        return fail("ENOMEM", [`vfio_pin_pages_remote: RLIMIT_MEMLOCK (${this.opts.memlockBytes!.toString()}) exceeded`]);
      }
      this.locked += pages;
      dma.lockedPages += pages;
      const chunk = { iova: iova + done, hpa: r.hpa, size: len };
      dma.chunks.push(chunk);
      for (const d of this.domains) this.opts.ops.map(d, chunk.iova, chunk.hpa, chunk.size, prot);
      done += len;
    }
    this.avail--;
    this.insert(dma);
    return { ok: true, dma };
  }

  /**
   * Whether [iova, iova + size) overlaps a mapping. The list is sorted by IOVA and its ranges are
   * disjoint (map refuses overlaps), so their ends are sorted too: a binary search finds the only
   * candidate instead of a scan per map (a scenario mapping 512 pages paid 130 000 comparisons).
   */
  private overlapsAny(iova: bigint, size: bigint): boolean {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const d = this.list[mid]!;
      if (d.iova + d.size > iova) hi = mid;
      else lo = mid + 1;
    }
    const d = this.list[lo];
    return d !== undefined && d.iova < iova + size;
  }

  private unwind(dma: VfioDma): void {
    for (const c of dma.chunks) for (const d of this.domains) this.opts.ops.unmap(d, c.iova, c.size);
    this.locked -= dma.lockedPages;
  }

  private insert(dma: VfioDma): void {
    let i = this.list.length;
    while (i > 0 && this.list[i - 1]!.iova > dma.iova) i--;
    this.list.splice(i, 0, dma);
  }

  /** The aperture minus the reserved regions must contain the whole range (vfio_iommu_iova_dma_valid). */
  private iovaRangeValid(iova: bigint, size: bigint): boolean {
    const last = iova + size - 1n;
    if (this.opts.apertureEnd !== undefined && last > this.opts.apertureEnd) return false;
    for (const [s, e] of this.opts.reservedRegions ?? [[0xfee00000n, 0xfeefffffn]]) if (iova <= e && last >= s) return false;
    return true;
  }

  /** VFIO_IOMMU_UNMAP_DMA (TYPE1v2): whole mappings only; bisecting one is EINVAL. */
  unmap(req: { iova: bigint; size: bigint; all?: boolean }): VfioResult<{ unmapped: bigint }> {
    const fail = (errno: Errno): VfioResult<{ unmapped: bigint }> => ({ ok: false, errno, kernelLog: [] });
    let { iova, size } = req;
    if (req.all) {
      if (iova !== 0n || size !== 0n) return fail("EINVAL");
      iova = 0n;
      size = U64 + 1n;
    } else {
      if (iova % PAGE !== 0n || size === 0n || size % PAGE !== 0n || iova + size - 1n > U64) return fail("EINVAL");
    }
    const end = iova + size;
    const first = this.list.find((d) => d.iova < iova && d.iova + d.size > iova);
    const last = this.list.find((d) => d.iova < end && d.iova + d.size > end);
    if (first !== undefined || last !== undefined) return fail("EINVAL");
    let unmapped = 0n;
    this.list = this.list.filter((d) => {
      if (d.iova >= iova && d.iova + d.size <= end) {
        for (const c of d.chunks) for (const dom of this.domains) this.opts.ops.unmap(dom, c.iova, c.size);
        this.locked -= d.lockedPages;
        this.avail++;
        unmapped += d.size;
        return false;
      }
      return true;
    });
    return { ok: true, unmapped };
  }

  // A VfioDma is never changed once it is in the list (unmap removes it whole), so snapshots share
  // the objects and copy only the list: a run checkpoints every 8 steps, and deep copies of every
  // mapping made checkpointing quadratic in the number of mappings.
  snapshot(): { list: readonly VfioDma[]; domains: number[]; avail: number; locked: number } {
    return { list: this.list.slice(), domains: [...this.domains], avail: this.avail, locked: this.locked };
  }

  restore(s: unknown): void {
    const v = s as ReturnType<VfioContainer["snapshot"]>;
    this.list = v.list.slice();
    this.domains = [...v.domains];
    this.avail = v.avail;
    this.locked = v.locked;
  }
}
