/**
 * The second-level translate step shared by the DMAR unit and the benchmark: address-width range
 * check, IOTLB probe, page walk, IOTLB fill. The DMAR unit calls it after resolving the context
 * entry (root table -> context table -> DID, SLPTPTR, AW); `passthrough bench` calls the very same
 * method with the benchmark's fixed context, so the benchmark measures the simulator's real path.
 */
import type { Iotlb } from "./iotlb.js";
import type { SlptWalker } from "./slpt.js";

/** QEMU VTD_FR_ADDR_BEYOND_MGAW. */
export const FR_ADDR_BEYOND_MGAW = 0x04;

export class SecondLevelTranslator {
  // ---- results of the last translate ----
  /**
   * The translated address as int32 halves (`>>> 0` for the unsigned value). Signed on purpose:
   * V8 keeps int32 fields as small integers, while a uint32 of 2^31 or more becomes a heap
   * number on every store — in the benchmark's walk-bound W1 that was more than half the time.
   */
  hpaLo = 0;
  hpaHi = 0;
  /** Leaf level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) on success; faulting level on a walk fault; 0 otherwise. */
  level = 0;
  perm = 0;
  /** True when the last translate was answered by the IOTLB (hit, permitted or not). */
  iotlbHit = false;
  hits = 0;
  misses = 0;

  constructor(
    readonly walker: SlptWalker,
    /** null: no IOTLB (every request walks). */
    readonly iotlb: Iotlb | null,
  ) {}

  /**
   * Translates IOVA (iovaHi:iovaLo) in domain `did` whose tables start at `root` with `levels`
   * levels, accepting IOVAs below 2^widthBits (QEMU vtd_iova_sl_range_check:
   * min(30 + 9 * AW, aw-bits)). Returns 0 or a VT-d fault reason.
   */
  translate(did: number, root: number, levels: number, widthBits: number, iovaHi: number, iovaLo: number, write: boolean): number {
    // Range check first, as QEMU does (bits at or above widthBits must be zero). widthBits >= 39.
    if (widthBits < 64 && iovaHi >>> (widthBits - 32) !== 0) {
      this.iotlbHit = false;
      this.level = 0;
      return FR_ADDR_BEYOND_MGAW;
    }
    const iotlb = this.iotlb;
    if (iotlb !== null) {
      const r = iotlb.lookup(did, iovaHi, iovaLo, write);
      if (r >= 0) {
        this.hits++;
        this.iotlbHit = true;
        this.level = iotlb.level;
        this.perm = iotlb.perm;
        this.hpaLo = iotlb.hpaLo;
        this.hpaHi = iotlb.hpaHi;
        return r;
      }
      this.misses++;
    }
    this.iotlbHit = false;
    const walker = this.walker;
    const r = walker.walk(root, levels, iovaHi, iovaLo, write);
    this.level = walker.level;
    if (r !== 0) return r;
    this.perm = walker.perm;
    this.hpaLo = walker.hpaLo;
    this.hpaHi = walker.hpaHi;
    if (iotlb !== null) iotlb.fill(did, iovaHi, iovaLo, walker.level, walker.hpaHi, walker.hpaLo, walker.perm);
    return 0;
  }
}
