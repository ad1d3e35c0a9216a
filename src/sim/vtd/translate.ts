/**
 * The second-level translate step shared by the DMAR unit and the benchmark: IOTLB probe; on a
 * miss the address-width range check and the page walk; IOTLB fill (QEMU vtd_do_iommu_translate's
 * order). The DMAR unit calls it after resolving the context
 * entry (root table -> context table -> DID, SLPTPTR, AW); `passthrough bench` calls the very same
 * method with the benchmark's fixed context, so the benchmark measures the simulator's real path.
 *
 * The step runs in the WebAssembly translate core (generated from translate-core.template.mjs), which reads the table
 * pool and the IOTLB where they live, in the PhysicalMemory's WebAssembly.Memory. A walk whose
 * tables leave the pool (a corrupted pointer into sparse DRAM, the top level's read error) comes
 * back to the TypeScript SlptWalker, which reads the same bytes by the same rules; a paging entry
 * below the top level that no memory backs (at or above the memory's DRAM size) is a read error
 * (0x07) the core answers itself, as the walker would.
 */
import { MemoryView, type PhysicalMemory } from "../memory.js";
import type { Iotlb } from "./iotlb.js";
import type { SlptWalker } from "./slpt.js";
import { CORE_BLOCK, CORE_FAULT_HI, CORE_INFO } from "./translateCoreLayout.js";
import { TRANSLATE_CORE_WASM } from "./translateCoreWasm.js";
import { VTD_FR_ADDR_BEYOND_MGAW } from "./reasons.js";


/** The core's exports (translate-core.template.mjs). */
interface TranslateCore {
  configure(blk: number, poolHpa: number, poolOff: number, poolBytesAt: number, addrMaskHi: number, largeOk: number, tlb: number, victim: number, sets: number, ways: number, vet: number): void;
  /** The memory's DRAM size: a paging entry outside the pool and at or above it is a read error the core answers (0x07). */
  configureDram(dramBytes: number): void;
  translate(did: number, root: number, levels: number, widthBits: number, iovaHi: number, iovaLo: number, write: number): number;
  translateBatch(did: number, root: number, levels: number, widthBits: number, reqs: number, writes: number, n: number, results: number, info: number): number;
}

/**
 * A burst of DMA requests of one requester and their results, in the SRAM arena of a
 * PhysicalMemory where the translate core reads and writes them (translateBatch). Views are
 * re-created after the memory grew; take them again after anything that allocates table pages.
 */
export class DmaBurst {
  readonly capacity: number;
  private readonly req: MemoryView<Int32Array>;
  private readonly wr: MemoryView<Uint8Array>;
  private readonly res: MemoryView<Int32Array>;
  private readonly inf: MemoryView<Uint8Array>;

  /** SRAM arena bytes a burst of `capacity` requests takes (alignment included). */
  static arenaBytes(capacity: number): number {
    return capacity * 18 + 32;
  }

  constructor(mem: PhysicalMemory, capacity: number) {
    this.capacity = capacity;
    this.req = new MemoryView(mem, Int32Array, mem.allocSram(capacity * 8, 8), capacity * 2);
    this.res = new MemoryView(mem, Int32Array, mem.allocSram(capacity * 8, 8), capacity * 2);
    this.wr = new MemoryView(mem, Uint8Array, mem.allocSram(capacity, 1), capacity);
    this.inf = new MemoryView(mem, Uint8Array, mem.allocSram(capacity, 1), capacity);
  }

  /** IOVA of request i: [2i] low dword, [2i + 1] high dword. */
  get requests(): Int32Array {
    return this.req.get();
  }
  /** 1 when request i is a write. */
  get writes(): Uint8Array {
    return this.wr.get();
  }
  /** Result i: [2i], [2i + 1] the translated address's low and high dword; a fault is [2i] = reason, [2i + 1] = CORE_FAULT_HI (-1). */
  get results(): Int32Array {
    return this.res.get();
  }

  /**
   * Info of result i: the level (bits 2:0, CORE_INFO.levelMask: the leaf's, or the faulting
   * entry's, 0 for the address-width check) and CORE_INFO.iotlbHit when the IOTLB answered.
   */
  get info(): Uint8Array {
    return this.inf.get();
  }

  /** Byte offsets in the memory, for the core. */
  get requestsOffset(): number {
    return this.req.offset;
  }
  get writesOffset(): number {
    return this.wr.offset;
  }
  get resultsOffset(): number {
    return this.res.offset;
  }
  get infoOffset(): number {
    return this.inf.offset;
  }
}

/** Per-translator block in the SRAM arena: reserved masks (i64), the results (int32 indices below), a scratch request. */
const BLOCK_BYTES = CORE_BLOCK.bytes;
const MASKS = CORE_BLOCK.masks / 4;
const HPA_LO = CORE_BLOCK.hpa / 4;
const HPA_HI = HPA_LO + 1;
const LEVEL = CORE_BLOCK.level / 4;
const PERM = CORE_BLOCK.perm / 4;
const IOTLB_HIT = CORE_BLOCK.iotlbHit / 4;
const HITS = CORE_BLOCK.hits / 4;
const MISSES = CORE_BLOCK.misses / 4;

/**
 * A module from the base64 bytes scripts/build-wasm.mjs commits (a few KB: synchronous
 * compilation is allowed in workers and Node).
 */
export function compileWasm(base64: string): WebAssembly.Module {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new WebAssembly.Module(bytes);
}

let compiled: WebAssembly.Module | undefined;
/** The core, compiled once per thread. */
export function translateCoreModule(): WebAssembly.Module {
  return (compiled ??= compileWasm(TRANSLATE_CORE_WASM));
}

export class SecondLevelTranslator {
  /** Bytes of a memory's SRAM arena a translator takes (its block, aligned). */
  static readonly ARENA_BYTES = BLOCK_BYTES + 64;

  private readonly core: TranslateCore;
  /** The translator's block in the SRAM arena (masks, results, scratch request). */
  private readonly block: MemoryView<Int32Array>;

  constructor(
    readonly walker: SlptWalker,
    /** null: no IOTLB (every request walks). Otherwise it must live in the walker's memory. */
    readonly iotlb: Iotlb | null,
    /**
     * Hand walks whose leaf page overlaps the interrupt window (CORE_INTERRUPT_WINDOW) back to
     * TypeScript unfilled, as walks out of the pool are: the DMAR unit decides those (fault
     * 0x0E, no IOTLB entry) itself, so a burst never caches one.
     */
    vetInterruptWindow = false,
  ) {
    const mem = walker.mem;
    if (iotlb !== null && iotlb.memory !== mem.memory) throw new RangeError("the translator's IOTLB must live in the walker's memory (new Iotlb(sets, ways, mem))");
    this.block = new MemoryView(mem, Int32Array, mem.allocSram(BLOCK_BYTES), BLOCK_BYTES / 4);
    // Reserved-bit masks as i64 at index level * 2 + large (the walker's rsvdLo/rsvdHi).
    const out = this.block.get();
    for (let k = 0; k < CORE_BLOCK.maskCount; k++) {
      out[MASKS + 2 * k] = walker.rsvdLo[k]!;
      out[MASKS + 2 * k + 1] = walker.rsvdHi[k]!;
    }
    this.core = new WebAssembly.Instance(translateCoreModule(), { sim: { memory: mem.memory } }).exports as unknown as TranslateCore;
    this.core.configure(
      this.block.offset,
      mem.poolBase,
      mem.poolOffset,
      mem.poolBytesCell,
      walker.addrHiMask,
      walker.largeOk,
      iotlb?.slotsOffset ?? 0,
      iotlb?.victimOffset ?? 0,
      iotlb?.sets ?? 1,
      iotlb?.ways ?? 1,
      vetInterruptWindow ? 1 : 0,
    );
    this.core.configureDram(mem.dramBytes);
  }

  private view(): Int32Array {
    return this.block.get();
  }

  // ---- results of the last translate ----
  /**
   * The translated address as int32 halves (`>>> 0` for the unsigned value): V8 keeps int32
   * values as small integers, while a uint32 of 2^31 or more becomes a heap number.
   */
  get hpaLo(): number {
    return this.view()[HPA_LO]!;
  }
  get hpaHi(): number {
    return this.view()[HPA_HI]!;
  }
  /** Leaf level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) on success; faulting level on a walk fault; 0 otherwise. */
  get level(): number {
    return this.view()[LEVEL]!;
  }
  get perm(): number {
    return this.view()[PERM]!;
  }
  /** True when the last translate was answered by the IOTLB (hit, permitted or not). */
  get iotlbHit(): boolean {
    return this.view()[IOTLB_HIT] === 1;
  }
  get hits(): number {
    return this.view()[HITS]!;
  }
  set hits(n: number) {
    this.view()[HITS] = n;
  }
  get misses(): number {
    return this.view()[MISSES]!;
  }
  set misses(n: number) {
    this.view()[MISSES] = n;
  }

  /**
   * Translates IOVA (iovaHi:iovaLo) in domain `did` whose tables start at `root` with `levels`
   * levels, accepting IOVAs below 2^widthBits (QEMU vtd_iova_sl_range_check:
   * min(30 + 9 * AW, aw-bits)). Returns 0 or a VT-d fault reason.
   */
  translate(did: number, root: number, levels: number, widthBits: number, iovaHi: number, iovaLo: number, write: boolean): number {
    if (this.walker.psc !== null || this.walker.updateAD) return this.translateInTs(did, root, levels, widthBits, iovaHi, iovaLo, write);
    const r = this.core.translate(did, root, levels, widthBits, iovaHi, iovaLo, write ? 1 : 0);
    return r >= 0 ? r : this.translateOutsidePool(did, root, levels, iovaHi, iovaLo, write);
  }

  /**
   * Translates requests 0..n-1 of `burst` in order, exactly as n calls of translate() would (the
   * core runs the same step in a loop, without a JavaScript call per request), and writes each
   * result into burst.results. After it, the result fields describe the last request. With a
   * 4-way IOTLB, or with no IOTLB and 4 levels, the core runs a loop made for that configuration
   * (translate-core.template.mjs: $burstProbe4, $burstWalk4). Each result has its info byte
   * (DmaBurst.info). A request the core hands back (its walk left the table pool for sparse DRAM
   * or at the top level, or a vetting
   * core's walk reached the interrupt window) is walked here in TypeScript; with `handBack` the
   * burst stops there instead and the call returns that request's index (the caller translates
   * it on its own path). Returns the number of requests done.
   */
  translateBatch(did: number, root: number, levels: number, widthBits: number, burst: DmaBurst, n: number, handBack = false): number {
    if (!(n >= 0 && n <= burst.capacity)) throw new RangeError(`burst of ${n} requests exceeds its capacity ${burst.capacity}`);
    let i = 0;
    if (this.walker.psc !== null || this.walker.updateAD) {
      // Paging-structure caches (psc.ts) and A/D updates live in TypeScript: request by request, as translate().
      const req = burst.requests;
      const res = burst.results;
      const info = burst.info;
      for (; i < n; i++) {
        const r = this.translate(did, root, levels, widthBits, req[2 * i + 1]!, req[2 * i]!, burst.writes[i] === 1);
        res[2 * i] = r === 0 ? this.hpaLo : r;
        res[2 * i + 1] = r === 0 ? this.hpaHi : CORE_FAULT_HI;
        info[i] = (this.level & CORE_INFO.levelMask) | (this.iotlbHit ? CORE_INFO.iotlbHit : 0);
      }
      return n;
    }
    while (i < n) {
      i += this.core.translateBatch(did, root, levels, widthBits, burst.requestsOffset + 8 * i, burst.writesOffset + i, n - i, burst.resultsOffset + 8 * i, burst.infoOffset + i);
      if (i === n || handBack) break;
      // Request i was handed back.
      const req = burst.requests;
      const r = this.translateOutsidePool(did, root, levels, req[2 * i + 1]!, req[2 * i]!, burst.writes[i] === 1);
      const res = burst.results;
      res[2 * i] = r === 0 ? this.hpaLo : r;
      res[2 * i + 1] = r === 0 ? this.hpaHi : CORE_FAULT_HI;
      burst.info[i] = this.walker.level & CORE_INFO.levelMask;
      i++;
    }
    return i;
  }

  /**
   * translate() with the walker's paging-structure caches (slpt.ts, psc.ts) or its A/D updates
   * (SLADE, slpt.ts updateAD), which the core does not have: the same order as the
   * core's step (QEMU vtd_do_iommu_translate: the IOTLB, on a miss the range check, the walk, the
   * fill), the walk in TypeScript where it can start below a cached non-leaf entry. The core's
   * IOTLB (the same slots and rules) answers the lookup and takes the fill.
   */
  private translateInTs(did: number, root: number, levels: number, widthBits: number, iovaHi: number, iovaLo: number, write: boolean): number {
    const out = this.view();
    const tlb = this.iotlb;
    if (tlb !== null) {
      const r = tlb.lookup(did, iovaHi, iovaLo, write);
      if (r >= 0) {
        out[IOTLB_HIT] = 1;
        out[HITS] = out[HITS]! + 1;
        out[LEVEL] = tlb.level;
        out[PERM] = tlb.perm;
        if (r === 0) {
          out[HPA_LO] = tlb.hpaLo;
          out[HPA_HI] = tlb.hpaHi;
        }
        return r;
      }
      out[MISSES] = out[MISSES]! + 1;
    }
    if (widthBits < 64 && iovaHi >>> (widthBits - 32) !== 0) {
      out[IOTLB_HIT] = 0;
      out[LEVEL] = 0;
      return VTD_FR_ADDR_BEYOND_MGAW;
    }
    const w = this.walker;
    w.pscTag = did;
    w.pscFill = true;
    const r = this.translateOutsidePool(did, root, levels, iovaHi, iovaLo, write);
    w.pscTag = 0;
    return r;
  }

  /** The core left the table pool: the TypeScript walker reads sparse DRAM and reports read errors. */
  private translateOutsidePool(did: number, root: number, levels: number, iovaHi: number, iovaLo: number, write: boolean): number {
    const walker = this.walker;
    const r = walker.walk(root, levels, iovaHi, iovaLo, write);
    const out = this.view();
    out[LEVEL] = walker.level;
    // A walk is never an IOTLB hit (the core's loops leave the flag of the request before when
    // they hand a request over).
    out[IOTLB_HIT] = 0;
    if (r !== 0) return r;
    out[HPA_LO] = walker.hpaLo;
    out[HPA_HI] = walker.hpaHi;
    out[PERM] = walker.perm;
    // SLADE: a writable page whose D is still clear is not cached, so the first write walks to set D
    // (as the first-level walk's fill rule, scalable.ts).
    if (walker.updateAD && (walker.perm & 2) !== 0 && !walker.dirty) return 0;
    this.iotlb?.fill(did, iovaHi, iovaLo, walker.level, walker.hpaHi, walker.hpaLo, walker.perm);
    return 0;
  }
}
