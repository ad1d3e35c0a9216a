/**
 * The per-format walk steps of the WebAssembly translate core (src/sim/vtd/translate-core.template.mjs:
 * $amdV1Walk, $armWalk) for the AMD-Vi and SMMUv3 units: an instance of the same module VT-d's
 * SecondLevelTranslator runs, with its own result block in the memory's SRAM arena. A unit calls
 * it per request in place of its TypeScript walk loop when no trail is recorded; -1 from a walk
 * (an entry outside the table pool) sends the request back to that loop, which reads the same bytes
 * by the same rules (test/unit/walk-core.test.ts holds the two to the same verdicts).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { MemoryView, type PhysicalMemory } from "./memory.js";
import { translateCoreModule, type DmaBurst } from "./vtd/translate.js";
import { CORE_AMD_V1, CORE_BLOCK } from "./vtd/translateCoreLayout.js";

/** The core's per-format exports. */
interface WalkCoreExports {
  configure(blk: number, poolHpa: number, poolOff: number, poolBytesAt: number, addrMaskHi: number, largeOk: number, tlb: number, victim: number, sets: number, ways: number, vet: number): void;
  amdV1Walk(root: number, mode: number, iovaHi: number, iovaLo: number, perm: number, write: number): number;
  configureAmdIotlb(tlb: number, victim: number, sets: number, ways: number): void;
  amdIotlbMatch(tag: number, vpnLo: number, vpnHi: number): number;
  amdIotlbFill(tag: number, vpnLo: number, vpnHi: number, hpaLo: number, hpaHi: number, perm: number, pageShift: number): number;
  amdBurst(did: number, root: number, mode: number, perm: number, useTlb: number, evt: number, evtBytes: number, reqs: number, writes: number, n: number, results: number, info: number, aux: number, faultList: number): number;
  configureDram(dramBytes: number): void;
  armWalk(ttb: number, startLevel: number, outputBits: number, s2: number, afOff: number, priv: number, exec: number, iaHi: number, iaLo: number, write: number): number;
  configureArmTlb(tlb: number, next: number, shifts: number, sets: number, ways: number): void;
  armTlbLookup(kind: number, vmid: number, asid: number, iaHi: number, iaLo: number): number;
  armTlbHitShift(): number;
  armTlbFill(kind: number, vmid: number, asid: number, iaHi: number, iaLo: number, shift: number, oa: number, perm: number, level: number, ipa: number): void;
  armBurst(vmid: number, asid: number, ttb: number, startLevel: number, outputBits: number, afOff: number, inputBits: number, useTlb: number, evq: number, evqBytes: number, faultList: number, reqs: number, writes: number, n: number, results: number, info: number): number;
}

const HPA = CORE_BLOCK.hpa / 4;
const ENTRY = CORE_BLOCK.entry / 4;
const LEVEL = CORE_BLOCK.level / 4;
const PERM = CORE_BLOCK.perm / 4;
const PAGE_SHIFT = CORE_BLOCK.pageShift / 4;
const FAULT_LEVEL = CORE_BLOCK.faultLevel / 4;
const FLAGS = CORE_BLOCK.flags / 4;
const HITS = CORE_BLOCK.hits / 4;
const MISSES = CORE_BLOCK.misses / 4;
const BURST_FAULTS = CORE_BLOCK.burstFaults / 4;

/** amdV1Walk's result for a fault (its event flags in `flags`). */
export const AMD_V1_FAULT = CORE_AMD_V1.fault;
/** amdV1Walk's result for an entry no memory backs (its address in hpaHi:hpaLo). */
export const AMD_V1_READ_ERROR = CORE_AMD_V1.readError;

export class TableWalkCore {
  /** Bytes of a memory's SRAM arena one core takes (its block, aligned). */
  static readonly ARENA_BYTES = CORE_BLOCK.bytes + 64;

  private readonly core: WalkCoreExports;
  private readonly block: MemoryView<Int32Array>;

  /**
   * A core over `mem`'s table pool, or null when the memory's SRAM arena has no room for its
   * block and `alsoBytes` more (what the unit puts beside it: a memory made without the unit's
   * share, PhysicalMemory sramBytes): the unit then walks in TypeScript only.
   */
  static create(mem: PhysicalMemory, alsoBytes = 0): TableWalkCore | null {
    if (mem.sramFree() < TableWalkCore.ARENA_BYTES + alsoBytes) return null;
    return new TableWalkCore(mem);
  }

  private constructor(mem: PhysicalMemory) {
    this.block = new MemoryView(mem, Int32Array, mem.allocSram(CORE_BLOCK.bytes), CORE_BLOCK.bytes / 4);
    this.core = new WebAssembly.Instance(translateCoreModule(), { sim: { memory: mem.memory } }).exports as unknown as WalkCoreExports;
    // Only the pool and the block: no IOTLB (sets = ways = 1 keep the unused globals sane).
    this.core.configure(this.block.offset, mem.poolBase, mem.poolOffset, mem.poolBytesCell, 0, 0, 0, 0, 1, 1, 0);
    // An entry outside the pool and at or above the DRAM size is a read error (amdV1Walk's readError).
    this.core.configureDram(mem.dramBytes);
  }

  /**
   * AMD-Vi v1 walk of `mode` levels from `root` for IOVA iovaHi:iovaLo, `perm` the DTE's IR/IW.
   * 0: a leaf (hpaHi:hpaLo the entry's address field, level, perm, pageShift); AMD_V1_FAULT: an
   * IO_PAGE_FAULT at `level` with event flags `flags`; AMD_V1_READ_ERROR: the entry at `level`,
   * at hpaHi:hpaLo, lies where no memory is; -1: walk it in TypeScript.
   */
  amdV1Walk(root: number, mode: number, iovaHi: number, iovaLo: number, perm: number, write: boolean): number {
    return this.core.amdV1Walk(root, mode, iovaHi, iovaLo, perm, write ? 1 : 0);
  }

  /**
   * One VMSAv8-64 stage, 4 KiB granule, input range already checked: 0 or the SMMUv3 event id
   * (faultLevel; level, entryLo/Hi once the leaf's output is in range; perm, hpa after the access
   * flag check), -1: walk it in TypeScript.
   */
  armWalk(ttb: number, startLevel: number, outputBits: number, s2: boolean, afOff: boolean, privileged: boolean, exec: boolean, iaHi: number, iaLo: number, write: boolean): number {
    return this.core.armWalk(ttb, startLevel, outputBits, s2 ? 1 : 0, afOff ? 1 : 0, privileged ? 1 : 0, exec ? 1 : 0, iaHi, iaLo, write ? 1 : 0);
  }

  /** The AMD-Vi IOTLB the core's bursts, amdIotlbMatch and amdIotlbFill probe and fill (byte offsets of its sets and victim bytes in the memory; amdvi/iotlb.ts). */
  configureAmdIotlb(tlb: number, victim: number, sets: number, ways: number): void {
    this.core.configureAmdIotlb(tlb, victim, sets, ways);
  }

  /** The ways of the AMD-Vi IOTLB set of frame (vpnLo, vpnHi) whose tag is `tag` and frame that one: bit w for way w. */
  amdIotlbMatch(tag: number, vpnLo: number, vpnHi: number): number {
    return this.core.amdIotlbMatch(tag, vpnLo, vpnHi);
  }

  /** The AMD-Vi IOTLB's FIFO fill of frame (vpnLo, vpnHi) with `tag`: the way it took (set x ways + way). */
  amdIotlbFill(tag: number, vpnLo: number, vpnHi: number, hpaLo: number, hpaHi: number, perm: number, pageShift: number): number {
    return this.core.amdIotlbFill(tag, vpnLo, vpnHi, hpaLo, hpaHi, perm, pageShift);
  }

  /**
   * AMD-Vi's translate step for requests [from, n) of `burst` (translate-core.template.mjs
   * $amdBurst) with the event log at `evt` (`evtBytes`; 0: none), which no walk of the burst may
   * read: the index of the first request it did not answer (n when it answered all); `burstHits`
   * of them were IOTLB hits, `burstWalks` walked, `burstFaults` are faults - result (event[1]
   * 31:16, -1), not yet logged; in `faultList` (CORE_AMD_IOTLB.faultBytes each) the request's
   * index from `from` and the event's address. `aux` byte i: perm | pageShift << CORE_AMD_IOTLB.auxShiftShift.
   */
  amdBurst(did: number, root: number, mode: number, perm: number, useTlb: boolean, evt: number, evtBytes: number, burst: DmaBurst, aux: number, faultList: number, from: number, n: number): number {
    return (
      from +
      this.core.amdBurst(did, root, mode, perm, useTlb ? 1 : 0, evt, evtBytes, burst.requestsOffset + 8 * from, burst.writesOffset + from, n - from, burst.resultsOffset + 8 * from, burst.infoOffset + from, aux + from, faultList)
    );
  }

  /** The SMMUv3 TLB $armBurst, armTlbLookup and armTlbFill probe and fill (byte offsets in the memory: its rows, victim bytes, filled-sizes cell; smmuv3/unit.ts SmmuTlb). */
  configureArmTlb(tlb: number, next: number, shifts: number, sets: number, ways: number): void {
    this.core.configureArmTlb(tlb, next, shifts, sets, ways);
  }

  /** The SMMUv3 TLB's lookup of input address iaHi:iaLo for kind / VMID / ASID: the entry's slot, or -1 (its shift: armTlbHitShift). */
  armTlbLookup(kind: number, vmid: number, asid: number, iaHi: number, iaLo: number): number {
    return this.core.armTlbLookup(kind, vmid, asid, iaHi, iaLo);
  }

  /** The shift (log2 size) of the entry the last armTlbLookup hit. */
  armTlbHitShift(): number {
    return this.core.armTlbHitShift();
  }

  /** The SMMUv3 TLB's round-robin fill of an entry holding input address iaHi:iaLo. */
  armTlbFill(kind: number, vmid: number, asid: number, iaHi: number, iaLo: number, shift: number, oa: number, perm: number, level: number, ipa: number): void {
    this.core.armTlbFill(kind, vmid, asid, iaHi, iaLo, shift, oa, perm, level, ipa);
  }

  /**
   * SMMUv3's stage-1 translate step for requests [from, n) of `burst` (translate-core.template.mjs
   * $armBurst) with the stream's resolved configuration: the index of the first request it did
   * not answer (n when it answered all); `burstHits` of them were TLB hits, `burstFaults` faults
   * (results (event id, CORE_FAULT_HI) whose events the caller writes); info byte i holds the
   * permission too (CORE_ARM_TLB.infoPermAt; a fault's: see $armBurst). [evq, evq + evqBytes): the event queue
   * (a walk reading it is handed back; 0 bytes: no queue is written). `faultList`: the burst's
   * faults, in order (CORE_ARM_TLB.faultBytes each: the request's index from `from`, and an
   * F_WALK_EABT's fetch address at faultFetch).
   */
  armBurst(vmid: number, asid: number, c: { ttb: number; startLevel: number; outputBits: number; afOff: boolean; inputBits: number }, useTlb: boolean, evq: number, evqBytes: number, burst: DmaBurst, faultList: number, from: number, n: number): number {
    return (
      from +
      this.core.armBurst(vmid, asid, c.ttb, c.startLevel, c.outputBits, c.afOff ? 1 : 0, c.inputBits, useTlb ? 1 : 0, evq, evqBytes, faultList, burst.requestsOffset + 8 * from, burst.writesOffset + from, n - from, burst.resultsOffset + 8 * from, burst.infoOffset + from)
    );
  }

  /** IOTLB hits of the last amdBurst / TLB hits of the last armBurst. */
  get burstHits(): number {
    return this.block.get()[HITS]!;
  }

  /** The requests the last amdBurst walked (its misses within the Mode's range). */
  get burstWalks(): number {
    return this.block.get()[MISSES]!;
  }

  /** The IO_PAGE_FAULTs among the last amdBurst's results. */
  get burstFaults(): number {
    return this.block.get()[BURST_FAULTS]!;
  }

  // ---- results of the last walk (uint32 halves as int32: `>>> 0` for the unsigned value)
  get hpaLo(): number {
    return this.block.get()[HPA]!;
  }
  get hpaHi(): number {
    return this.block.get()[HPA + 1]!;
  }
  get entryLo(): number {
    return this.block.get()[ENTRY]!;
  }
  get entryHi(): number {
    return this.block.get()[ENTRY + 1]!;
  }
  get level(): number {
    return this.block.get()[LEVEL]!;
  }
  get perm(): number {
    return this.block.get()[PERM]!;
  }
  get pageShift(): number {
    return this.block.get()[PAGE_SHIFT]!;
  }
  get faultLevel(): number {
    return this.block.get()[FAULT_LEVEL]!;
  }
  get flags(): number {
    return this.block.get()[FLAGS]!;
  }
}
