/**
 * Simulated host physical memory.
 *
 * Two kinds of backing, both addressed by host physical address (HPA):
 *  - the *table pool*: one contiguous run of 4 KiB pages handed out by a bump allocator. The IOMMU
 *    driver allocates every root/context/page table from it, so the hot page walk reads a single
 *    Int32Array with one bounds check (the 8-byte entry at HPA a is words[2k], words[2k+1] with
 *    k = (a - poolBase) / 8, low half first: little-endian, as the hardware reads it);
 *  - sparse 4 KiB pages anywhere else below `dramBytes`, created on first write (a `poke` into
 *    guest RAM, an invalidation-wait status write). Unwritten DRAM reads as zero.
 * Reading an address that is neither in the pool nor below `dramBytes` is a *read error*: the
 * IOMMU reports it as the hardware does (0x07 for a paging entry, 0x08/0x09 for root/context).
 *
 * Addresses are JavaScript numbers: every HPA here is below 2^52, so doubles hold them exactly.
 * 64-bit entry values travel as two uint32 halves (lo, hi) on hot paths and as bigint elsewhere.
 *
 * The pool lives in a WebAssembly.Memory so that the translate core (vtd/translate-core.wat) reads
 * table entries where they are, as i64 loads; below the pool the same memory holds a small arena
 * ("SRAM": the IOMMU's own caches, such as the IOTLB, which the core probes) and a cell with the
 * pool's allocated size. Growing the memory detaches every view of it: `epoch` counts growths, and
 * holders of views (words here, the IOTLB's slots) re-create theirs when it changed.
 */

export const PAGE_SIZE = 4096;
const WORDS_PER_PAGE = PAGE_SIZE / 4;
/** WebAssembly page: 64 KiB. */
const WASM_PAGE = 65536;
/** wasm32 memories end at 4 GiB (65536 pages). */
const WASM_MAX_PAGES = 65536;
/** Byte offset of the cell holding poolBytes (read by the translate core). */
const POOL_BYTES_CELL = 0;
/** The SRAM arena starts after the cells. */
const SRAM_OFFSET = 64;

export class MemoryLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryLimitError";
  }
}

/**
 * A typed-array view of part of a PhysicalMemory's WebAssembly.Memory (the SRAM arena), taken
 * again after the memory grew: growth detaches every view of it (PhysicalMemory.epoch counts).
 */
export class MemoryView<T extends Int32Array | Uint8Array> {
  private view: T;
  private epoch: number;

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly make: new (buffer: ArrayBuffer, byteOffset: number, length: number) => T,
    /** Byte offset in mem.memory. */
    readonly offset: number,
    /** Elements. */
    readonly length: number,
  ) {
    this.epoch = mem.epoch;
    this.view = new make(mem.memory.buffer, offset, length);
  }

  get(): T {
    if (this.epoch !== this.mem.epoch) {
      this.epoch = this.mem.epoch;
      this.view = new this.make(this.mem.memory.buffer, this.offset, this.length);
    }
    return this.view;
  }
}

export interface PhysicalMemoryOptions {
  /** HPA of the first pool page (4 KiB aligned). */
  poolBase: number;
  /** Pages reserved up front; the pool grows (by doubling) up to `poolMaxPages`. */
  poolInitialPages?: number;
  /** Hard limit: allocating past it throws MemoryLimitError with a clear message. */
  poolMaxPages: number;
  /** Bytes of host DRAM: addresses below it read as zero when unbacked. 0 = only the pool exists. */
  dramBytes: number;
  /** Hard limit on sparse (non-pool) pages that may be written. */
  sparseMaxPages?: number;
  /** Bytes of the SRAM arena for IOMMU caches (allocSram). Default 64 KiB. */
  sramBytes?: number;
}

export interface MemorySnapshot {
  poolPages: number;
  words: Int32Array;
  sparse: [number, Int32Array][];
}

export class PhysicalMemory {
  readonly poolBase: number;
  readonly poolMaxPages: number;
  readonly dramBytes: number;
  readonly sparseMaxPages: number;
  /** Pages allocated from the pool so far. */
  poolPages = 0;
  /** Bytes of the pool that are allocated: [poolBase, poolBase + poolBytes) is table memory. */
  poolBytes = 0;
  /** Backing words of the pool (capacity may exceed poolBytes). Read directly by the page walk. */
  words: Int32Array;
  /** The memory the pool, the SRAM arena and the pool-size cell live in. */
  readonly memory: WebAssembly.Memory;
  /** Byte offset of the pool in `memory` (HPA poolBase is memory byte poolOffset). */
  readonly poolOffset: number;
  /** Byte offset of the i32 cell in `memory` that mirrors poolBytes for the translate core. */
  readonly poolBytesCell = POOL_BYTES_CELL;
  /** Incremented whenever `memory` grows (every view of it is then detached). */
  epoch = 0;
  private readonly sramEnd: number;
  private sramNext = SRAM_OFFSET;
  private cells: Int32Array;
  private readonly sparse = new Map<number, Int32Array>();
  /** Scratch result of read64(): valid after it returned true. */
  lo = 0;
  hi = 0;

  constructor(opts: PhysicalMemoryOptions) {
    if (opts.poolBase % PAGE_SIZE !== 0) throw new RangeError("poolBase must be 4 KiB aligned");
    this.poolBase = opts.poolBase;
    this.poolMaxPages = opts.poolMaxPages;
    this.dramBytes = opts.dramBytes;
    this.sparseMaxPages = opts.sparseMaxPages ?? 65536;
    const initial = Math.min(Math.max(opts.poolInitialPages ?? 64, 1), opts.poolMaxPages);
    this.sramEnd = SRAM_OFFSET + (opts.sramBytes ?? 65536);
    this.poolOffset = Math.ceil(this.sramEnd / PAGE_SIZE) * PAGE_SIZE;
    if (this.poolOffset + opts.poolMaxPages * PAGE_SIZE > WASM_MAX_PAGES * WASM_PAGE) {
      throw new RangeError("the table pool and SRAM arena must fit in 4 GiB");
    }
    this.memory = new WebAssembly.Memory({ initial: Math.ceil((this.poolOffset + initial * PAGE_SIZE) / WASM_PAGE) });
    this.words = this.poolView();
    this.cells = new Int32Array(this.memory.buffer, 0, SRAM_OFFSET / 4);
  }

  /** The pool's words: a view from poolOffset to the end of the memory. */
  private poolView(): Int32Array {
    return new Int32Array(this.memory.buffer, this.poolOffset, (this.memory.buffer.byteLength - this.poolOffset) / 4);
  }

  /** Grows the memory so that the pool holds at least `pages` pages; views are re-created. */
  private ensurePoolPages(pages: number): void {
    const bytes = this.poolOffset + pages * PAGE_SIZE;
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
    this.epoch++;
    this.words = this.poolView();
    this.cells = new Int32Array(this.memory.buffer, 0, SRAM_OFFSET / 4);
  }

  private setPoolPages(pages: number): void {
    this.poolPages = pages;
    this.poolBytes = pages * PAGE_SIZE;
    this.cells[POOL_BYTES_CELL / 4] = this.poolBytes;
  }

  /**
   * Reserves `bytes` of the SRAM arena (aligned to `align`) and returns its byte offset in
   * `memory`. The arena is sized at construction; running out is a programming error.
   */
  allocSram(bytes: number, align = 64): number {
    const off = Math.ceil(this.sramNext / align) * align;
    if (off + bytes > this.sramEnd) throw new RangeError(`SRAM arena exhausted: ${bytes} bytes requested, ${this.sramEnd - off} left`);
    this.sramNext = off + bytes;
    return off;
  }

  /** Allocates one zeroed 4 KiB page from the pool and returns its HPA (deterministic bump order). */
  allocPage(): number {
    if (this.poolPages >= this.poolMaxPages) {
      throw new MemoryLimitError(
        `simulated table memory exhausted: ${this.poolMaxPages} pages (${(this.poolMaxPages * 4) / 1024} MiB) ` +
          `allocated for IOMMU tables`,
      );
    }
    const need = (this.poolPages + 1) * WORDS_PER_PAGE;
    if (need > this.words.length) this.ensurePoolPages(Math.min(Math.max(this.poolPages * 2, 64), this.poolMaxPages));
    const hpa = this.poolBase + this.poolPages * PAGE_SIZE;
    this.setPoolPages(this.poolPages + 1);
    return hpa;
  }

  /** True when `hpa` lies in allocated table memory. */
  inPool(hpa: number): boolean {
    const off = hpa - this.poolBase;
    return off >= 0 && off < this.poolBytes;
  }

  /** True when a read of `hpa` succeeds (pool, or DRAM). */
  readable(hpa: number): boolean {
    return this.inPool(hpa) || (hpa >= 0 && hpa < this.dramBytes);
  }

  /**
   * Reads the 8-byte little-endian word at `hpa` (8-byte aligned) into this.lo / this.hi.
   * Returns false on a read error (address not backed by pool or DRAM).
   */
  read64(hpa: number): boolean {
    const off = hpa - this.poolBase;
    if (off >= 0 && off < this.poolBytes) {
      const i = off >>> 2;
      this.lo = this.words[i]! >>> 0;
      this.hi = this.words[i + 1]! >>> 0;
      return true;
    }
    return this.readSlow(hpa);
  }

  private readSlow(hpa: number): boolean {
    if (!(hpa >= 0 && hpa < this.dramBytes)) return false;
    const page = this.sparse.get(Math.floor(hpa / PAGE_SIZE));
    if (page === undefined) {
      this.lo = 0;
      this.hi = 0;
    } else {
      const i = (hpa % PAGE_SIZE) >>> 2;
      this.lo = page[i]! >>> 0;
      this.hi = page[i + 1]! >>> 0;
    }
    return true;
  }

  /** Writes an 8-byte word. Returns false when the address is not writable memory. */
  write64(hpa: number, lo: number, hi: number): boolean {
    const off = hpa - this.poolBase;
    if (off >= 0 && off < this.poolBytes) {
      const i = off >>> 2;
      this.words[i] = lo | 0;
      this.words[i + 1] = hi | 0;
      return true;
    }
    if (!(hpa >= 0 && hpa < this.dramBytes)) return false;
    const pfn = Math.floor(hpa / PAGE_SIZE);
    let page = this.sparse.get(pfn);
    if (page === undefined) {
      if (this.sparse.size >= this.sparseMaxPages) {
        throw new MemoryLimitError(`simulated memory limit: more than ${this.sparseMaxPages} written DRAM pages`);
      }
      page = new Int32Array(WORDS_PER_PAGE);
      this.sparse.set(pfn, page);
    }
    const i = (hpa % PAGE_SIZE) >>> 2;
    page[i] = lo | 0;
    page[i + 1] = hi | 0;
    return true;
  }

  /** Writes a 32-bit word (used for invalidation-wait status writes, which are 4-byte aligned). */
  write32(hpa: number, value: number): boolean {
    const aligned = hpa - (hpa % 8);
    if (!this.read64(aligned)) return false;
    return (hpa % 8 === 0) ? this.write64(aligned, value, this.hi) : this.write64(aligned, this.lo, value);
  }

  readU64(hpa: number): bigint | undefined {
    if (!this.read64(hpa)) return undefined;
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  writeU64(hpa: number, value: bigint): boolean {
    return this.write64(hpa, Number(value & 0xffffffffn), Number((value >> 32n) & 0xffffffffn));
  }

  /** Zeroes a whole 4 KiB page (page tables are freed as zero pages; the pool never shrinks). */
  zeroPage(hpa: number): void {
    const off = hpa - this.poolBase;
    if (off >= 0 && off < this.poolBytes) {
      const i = off >>> 2;
      this.words.fill(0, i, i + WORDS_PER_PAGE);
    } else {
      this.sparse.delete(Math.floor(hpa / PAGE_SIZE));
    }
  }

  snapshot(): MemorySnapshot {
    return {
      poolPages: this.poolPages,
      words: this.words.slice(0, this.poolPages * WORDS_PER_PAGE),
      sparse: [...this.sparse].map(([k, v]) => [k, v.slice()]),
    };
  }

  restore(s: MemorySnapshot): void {
    this.ensurePoolPages(s.poolPages);
    // Zero what either state used (the rest of the pool is zero already: pages are freed as zeros).
    this.words.fill(0, 0, Math.max(this.poolPages, s.poolPages) * WORDS_PER_PAGE);
    this.words.set(s.words);
    this.setPoolPages(s.poolPages);
    this.sparse.clear();
    for (const [k, v] of s.sparse) this.sparse.set(k, v.slice());
  }
}
