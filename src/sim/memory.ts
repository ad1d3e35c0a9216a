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
export class MemoryView<T extends Int32Array | Uint8Array | Float64Array> {
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

/**
 * A persistent (copy-on-write) radix trie of 4 KiB pages keyed by page number: 64-way nodes, as
 * many levels as the key needs. `freeze()` hands out the current root as an immutable version and
 * starts a new generation; a later `set` copies only the nodes on its path that belong to an
 * older generation (path copying). So a snapshot costs O(1), and what changed after it costs a
 * few nodes per changed page, never a copy of the whole memory.
 */
interface TrieNode {
  /** The generation that may change this node in place; any other generation copies it first. */
  gen: number;
  slots: (TrieNode | Int32Array | undefined)[];
}

/** A frozen version of a PageTrie: shared, never changed. */
export interface FrozenPages {
  readonly root: TrieNode | undefined;
  /** Pages present. */
  readonly size: number;
}

const TRIE_BITS = 6;
const TRIE_FANOUT = 1 << TRIE_BITS;
/** Bytes a trie node costs (its slot array: 64 references, plus object headers), for the budget. */
export const TRIE_NODE_BYTES = TRIE_FANOUT * 8 + 64;
/** Generations are unique across tries: a node shared by two memories is foreign to both. */
let nextGeneration = 1;

export class PageTrie {
  private readonly levels: number;
  private root: TrieNode | undefined;
  private gen = nextGeneration++;
  /** Pages present. */
  size = 0;
  /** Bytes of trie nodes allocated so far (monotonic; the memory budget counts them). */
  nodeBytes = 0;

  constructor(keyBits: number) {
    this.levels = Math.max(1, Math.ceil(keyBits / TRIE_BITS));
  }

  get(key: number): Int32Array | undefined {
    return this.getIn(this.root, key);
  }

  /** A page of a frozen version of this trie (or of one with the same key width). */
  getIn(root: TrieNode | undefined, key: number): Int32Array | undefined {
    let node = root;
    for (let l = this.levels - 1; node !== undefined && l > 0; l--) node = node.slots[Math.floor(key / 2 ** (TRIE_BITS * l)) % TRIE_FANOUT] as TrieNode | undefined;
    return node?.slots[key % TRIE_FANOUT] as Int32Array | undefined;
  }

  set(key: number, page: Int32Array | undefined): void {
    if (page === undefined && this.get(key) === undefined) return;
    this.root = this.own(this.root);
    let node = this.root;
    for (let l = this.levels - 1; l > 0; l--) {
      const i = Math.floor(key / 2 ** (TRIE_BITS * l)) % TRIE_FANOUT;
      const child = this.own(node.slots[i] as TrieNode | undefined);
      node.slots[i] = child;
      node = child;
    }
    const i = key % TRIE_FANOUT;
    if (node.slots[i] === undefined) this.size++;
    if (page === undefined) this.size--;
    node.slots[i] = page;
  }

  /** The node itself when this generation owns it, else a copy this generation owns. */
  private own(node: TrieNode | undefined): TrieNode {
    if (node !== undefined && node.gen === this.gen) return node;
    this.nodeBytes += TRIE_NODE_BYTES;
    return { gen: this.gen, slots: node === undefined ? new Array<TrieNode | Int32Array | undefined>(TRIE_FANOUT).fill(undefined) : node.slots.slice() };
  }

  /** The current version, frozen: later changes copy what they touch. */
  freeze(): FrozenPages {
    this.gen = nextGeneration++;
    return { root: this.root, size: this.size };
  }

  /** Becomes a frozen version (shared, so the first change of each node copies it). */
  adopt(v: FrozenPages): void {
    this.gen = nextGeneration++;
    this.root = v.root;
    this.size = v.size;
  }

  /** Calls `f` for every key whose page differs (by identity) between the current version and `v`. */
  diff(v: FrozenPages, f: (key: number) => void): void {
    diffNodes(this.root, v.root, this.levels - 1, 0, f);
  }

  /** Every page present, in key order. */
  forEach(f: (key: number, page: Int32Array) => void): void {
    const walk = (node: TrieNode | undefined, level: number, prefix: number): void => {
      if (node === undefined) return;
      for (let i = 0; i < TRIE_FANOUT; i++) {
        const s = node.slots[i];
        if (s === undefined) continue;
        const key = prefix * TRIE_FANOUT + i;
        if (level === 0) f(key, s as Int32Array);
        else walk(s as TrieNode, level - 1, key);
      }
    };
    walk(this.root, this.levels - 1, 0);
  }
}

function diffNodes(a: TrieNode | undefined, b: TrieNode | undefined, level: number, prefix: number, f: (key: number) => void): void {
  if (a === b) return;
  for (let i = 0; i < TRIE_FANOUT; i++) {
    const x = a?.slots[i];
    const y = b?.slots[i];
    if (x === y) continue;
    const key = prefix * TRIE_FANOUT + i;
    if (level === 0) f(key);
    else diffNodes(x as TrieNode | undefined, y as TrieNode | undefined, level - 1, key, f);
  }
}

/**
 * The memory's state at a checkpoint: its pages as frozen page tries, shared with the live memory
 * and with other snapshots wherever nothing changed in between.
 */
export interface MemorySnapshot {
  readonly poolPages: number;
  /** Copies of the pool's non-zero pages, keyed by page index in the pool. */
  readonly pool: FrozenPages;
  /** The written DRAM pages, keyed by page frame number. */
  readonly sparse: FrozenPages;
}

/** 64-bit word reads and writes by address: PhysicalMemory by HPA, a guest's RAM by GPA (GuestMemory.ramView). */
export interface WordMemory {
  readU64(address: number): bigint | undefined;
  writeU64(address: number, value: bigint): boolean;
}

export class PhysicalMemory implements WordMemory {
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
  /** Written DRAM pages by page frame number (copy-on-write: see PageTrie). */
  private readonly sparse = new PageTrie(40);
  /** Sparse pages written since the last snapshot or restore: this memory's own copies. */
  private readonly sparseOwned = new Set<number>();
  /** Copies of the pool's pages as of the last snapshot or restore (zero pages absent). */
  private readonly poolCopies: PageTrie;
  /** Pool pages written since the last snapshot or restore (a flag per page, and their list). */
  private readonly poolDirty: Uint8Array;
  private readonly poolDirtyList: number[] = [];
  /**
   * Bytes of page copies and trie nodes this memory allocated, monotonic: what its snapshots and
   * copy-on-write cost. The run's memory budget counts it (ArrayBuffers are outside V8's heap limit).
   */
  private pageBytes = 0;
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
    this.poolCopies = new PageTrie(Math.ceil(Math.log2(Math.max(opts.poolMaxPages, 2))));
    this.poolDirty = new Uint8Array(opts.poolMaxPages);
  }

  /** Bytes allocated for page copies and trie nodes so far (monotonic). */
  get copiedBytes(): number {
    return this.pageBytes + this.poolCopies.nodeBytes + this.sparse.nodeBytes;
  }

  /** Bytes of the WebAssembly memory (table pool, SRAM arena). */
  get liveBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Marks a pool page as changed since the last snapshot. */
  private touchPool(page: number): void {
    if (this.poolDirty[page] === 0) {
      this.poolDirty[page] = 1;
      this.poolDirtyList.push(page);
    }
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

  /** Bytes of the SRAM arena not yet reserved (before alignment of the next allocSram). */
  sramFree(): number {
    return this.sramEnd - this.sramNext;
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
      this.touchPool(i >>> 10);
      return true;
    }
    if (!(hpa >= 0 && hpa < this.dramBytes)) return false;
    const pfn = Math.floor(hpa / PAGE_SIZE);
    let page = this.sparse.get(pfn);
    if (page === undefined || !this.sparseOwned.has(pfn)) {
      // A page shared with a snapshot is copied before its first write (copy-on-write).
      if (page === undefined && this.sparse.size >= this.sparseMaxPages) {
        throw new MemoryLimitError(`simulated memory limit: more than ${this.sparseMaxPages} written DRAM pages`);
      }
      page = page === undefined ? new Int32Array(WORDS_PER_PAGE) : page.slice();
      this.pageBytes += PAGE_SIZE;
      this.sparse.set(pfn, page);
      this.sparseOwned.add(pfn);
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

  /** Zeroes a whole 4 KiB page (a page table handed out again, or one cleared before it is freed; the pool never shrinks). */
  zeroPage(hpa: number): void {
    const off = hpa - this.poolBase;
    if (off >= 0 && off < this.poolBytes) {
      const i = off >>> 2;
      this.words.fill(0, i, i + WORDS_PER_PAGE);
      this.touchPool(i >>> 10);
    } else {
      const pfn = Math.floor(hpa / PAGE_SIZE);
      this.sparse.set(pfn, undefined);
      this.sparseOwned.delete(pfn);
    }
  }

  /**
   * The state as a snapshot that shares every page unchanged since the last snapshot (or restore):
   * it copies only the pool pages written since, and freezes the sparse pages (a later write
   * copies the page it changes).
   */
  snapshot(): MemorySnapshot {
    for (const pg of this.poolDirtyList) {
      this.poolDirty[pg] = 0;
      const at = pg * WORDS_PER_PAGE;
      // A zero page (never written, or freed) is no copy at all.
      let zero = true;
      for (let i = at; i < at + WORDS_PER_PAGE; i++) {
        if (this.words[i] !== 0) {
          zero = false;
          break;
        }
      }
      if (zero) this.poolCopies.set(pg, undefined);
      else {
        this.poolCopies.set(pg, this.words.slice(at, at + WORDS_PER_PAGE));
        this.pageBytes += PAGE_SIZE;
      }
    }
    this.poolDirtyList.length = 0;
    this.sparseOwned.clear();
    return { poolPages: this.poolPages, pool: this.poolCopies.freeze(), sparse: this.sparse.freeze() };
  }

  /**
   * Becomes the snapshot's state exactly. Copies into the pool only the pages that differ: those
   * written since the last snapshot or restore, and those whose copies differ between the state
   * this memory was last in sync with and `s`. Sparse pages are adopted as they are (shared).
   */
  restore(s: MemorySnapshot): void {
    this.ensurePoolPages(s.poolPages);
    const load = (pg: number): void => {
      const page = this.poolCopies.getIn(s.pool.root, pg);
      if (page === undefined) this.words.fill(0, pg * WORDS_PER_PAGE, (pg + 1) * WORDS_PER_PAGE);
      else this.words.set(page, pg * WORDS_PER_PAGE);
    };
    for (const pg of this.poolDirtyList) {
      this.poolDirty[pg] = 0;
      load(pg);
    }
    this.poolDirtyList.length = 0;
    this.poolCopies.diff(s.pool, load);
    this.poolCopies.adopt(s.pool);
    this.setPoolPages(s.poolPages);
    this.sparse.adopt(s.sparse);
    this.sparseOwned.clear();
  }

  /** Every non-zero page of memory as [HPA, bytes] in address order (tests compare states with it). */
  contents(): [number, Uint8Array][] {
    const out: [number, Uint8Array][] = [];
    for (let pg = 0; pg < this.poolPages; pg++) {
      const page = this.words.subarray(pg * WORDS_PER_PAGE, (pg + 1) * WORDS_PER_PAGE);
      if (page.some((w) => w !== 0)) out.push([this.poolBase + pg * PAGE_SIZE, new Uint8Array(page.slice().buffer)]);
    }
    this.sparse.forEach((pfn, page) => {
      if (page.some((w) => w !== 0)) out.push([pfn * PAGE_SIZE, new Uint8Array(page.slice().buffer)]);
    });
    return out.sort((x, y) => x[0] - y[0]);
  }
}
