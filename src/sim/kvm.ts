/**
 * KVM guests as the VMM (QEMU, q35 machine) lays them out: guest RAM in one anonymous mapping of
 * the VMM process (HVA), split into KVM memslots around the PCI hole (GPA), backed by host pages
 * (HPA) that a deterministic host allocator hands out in `backing`-sized frames.
 *
 * QEMU pc_q35.c: with ram_size >= 0xb0000000 the RAM below 4 GiB ends at 0x80000000, otherwise at
 * 0xb0000000; the rest starts at 4 GiB. (QEMU also carves VGA/ROM windows out of pc.ram; the
 * simulation keeps the two big RAM slots, which is what VFIO maps for a device.)
 */
import type { PinSource } from "./vfio.js";
import type { WordMemory } from "./memory.js";

export interface Memslot {
  slot: number;
  name: string;
  gpa: bigint;
  size: bigint;
  hva: bigint;
}

const GiB = 1n << 30n;
/** HVA of the first VM's RAM block; later VMs are 1 TiB apart (different VMM processes). */
const HVA_BASE = 0x7f0000000000n;
const HVA_STRIDE = 0x10000000000n;

export function q35Memslots(ram: bigint, hvaBase: bigint): Memslot[] {
  const lowmem = ram >= 0xb0000000n ? 0x80000000n : 0xb0000000n;
  const below = ram < lowmem ? ram : lowmem;
  const slots: Memslot[] = [{ slot: 0, name: "pc.ram", gpa: 0n, size: below, hva: hvaBase }];
  if (ram > below) slots.push({ slot: 1, name: "pc.ram (above 4G)", gpa: 4n * GiB, size: ram - below, hva: hvaBase + below });
  return slots;
}

/** The GPA just above the highest memslot: the end of guest RAM (0 without memslots). */
export function memslotsEnd(slots: readonly Memslot[]): bigint {
  return slots.reduce((m, s) => (s.gpa + s.size > m ? s.gpa + s.size : m), 0n);
}

/**
 * QEMU's Arm `virt` machine (hw/arm/virt.c base_memmap: [VIRT_MEM] = { GiB, LEGACY_RAMLIMIT_BYTES }):
 * guest RAM is one block from GPA 0x4000_0000 (1 GiB), the "mach-virt.ram" region; below it sit the
 * flash, the GIC (its ITS at 0x0808_0000) and the other devices. No PCI hole splits it.
 */
export const VIRT_RAM_BASE = 0x40000000n;

export function virtMemslots(ram: bigint, hvaBase: bigint): Memslot[] {
  return [{ slot: 0, name: "mach-virt.ram", gpa: VIRT_RAM_BASE, size: ram, hva: hvaBase }];
}

/** The guest machine a VM's memory follows: QEMU's x86 q35, or the Arm virt machine (an Arm host: SMMUv3). */
export type GuestLayout = "q35" | "virt";

/**
 * Host allocator for guest RAM: frames of `granule` bytes between `start` and the end of DRAM,
 * visited in a fixed scattered order (a full-period stride walk seeded by the scenario), so a
 * guest's memory is physically discontiguous as on a real host, yet identical on every run.
 */
export class HostFrameAllocator {
  private readonly frames: number;
  private readonly stride: number;
  private cursor: number;
  private used = 0;
  private freeList: bigint[] = [];

  constructor(
    readonly start: bigint,
    readonly end: bigint,
    readonly granule: bigint,
    seed: number,
  ) {
    this.frames = end > start ? Number((end - start) / granule) : 0;
    const n = Math.max(this.frames, 1);
    let stride = Math.max(1, Math.floor(n * 0.6180339887) | 1);
    while (gcd(stride, n) !== 1) stride++;
    this.stride = stride;
    this.cursor = ((seed >>> 0) * 2654435761) % n;
  }

  get freeBytes(): bigint {
    return BigInt(this.frames - this.used + this.freeList.length) * this.granule;
  }

  alloc(): bigint | undefined {
    const reused = this.freeList.pop();
    if (reused !== undefined) return reused;
    if (this.used >= this.frames) return undefined;
    const frame = this.cursor;
    this.cursor = (this.cursor + this.stride) % this.frames;
    this.used++;
    return this.start + BigInt(frame) * this.granule;
  }

  free(hpa: bigint): void {
    this.freeList.push(hpa);
  }

  snapshot(): { cursor: number; used: number; freeList: bigint[] } {
    return { cursor: this.cursor, used: this.used, freeList: [...this.freeList] };
  }

  restore(s: { cursor: number; used: number; freeList: bigint[] }): void {
    this.cursor = s.cursor;
    this.used = s.used;
    this.freeList = [...s.freeList];
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** One guest's memory: memslots and the host frames behind its RAM block. */
export class GuestMemory implements PinSource {
  readonly memslots: Memslot[];
  readonly hvaBase: bigint;
  /** HPA of each granule of the RAM block, by offset / granule. */
  frames: bigint[] = [];

  constructor(
    readonly ram: bigint,
    readonly granule: bigint,
    vmIndex: number,
    layout: GuestLayout = "q35",
  ) {
    this.hvaBase = HVA_BASE - BigInt(vmIndex) * HVA_STRIDE;
    this.memslots = layout === "virt" ? virtMemslots(ram, this.hvaBase) : q35Memslots(ram, this.hvaBase);
  }

  /** Backs the whole RAM block (QEMU with VFIO pins all guest RAM at start). */
  populate(alloc: HostFrameAllocator): boolean {
    const n = Number((this.ram + this.granule - 1n) / this.granule);
    while (this.frames.length < n) {
      const f = alloc.alloc();
      if (f === undefined) return false;
      this.frames.push(f);
    }
    return true;
  }

  release(alloc: HostFrameAllocator): void {
    for (let i = this.frames.length - 1; i >= 0; i--) alloc.free(this.frames[i]!);
    this.frames = [];
  }

  gpaToHva(gpa: bigint): bigint | undefined {
    for (const s of this.memslots) if (gpa >= s.gpa && gpa < s.gpa + s.size) return s.hva + (gpa - s.gpa);
    return undefined;
  }

  gpaToHpa(gpa: bigint): bigint | undefined {
    const hva = this.gpaToHva(gpa);
    return hva === undefined ? undefined : this.resolve(hva)?.hpa;
  }

  /**
   * Guest RAM by GPA over host memory `host` (by HPA): what a guest driver's table reads and writes
   * go through. undefined / false where no memslot backs the GPA.
   */
  ramView(host: WordMemory): WordMemory {
    const hpa = (gpa: number) => this.gpaToHpa(BigInt(gpa));
    return {
      readU64: (gpa) => {
        const h = hpa(gpa);
        return h === undefined ? undefined : host.readU64(Number(h));
      },
      writeU64: (gpa, value) => {
        const h = hpa(gpa);
        return h !== undefined && host.writeU64(Number(h), value);
      },
    };
  }

  /** PinSource: the host page behind a VMM virtual address and how far it stays contiguous. */
  resolve(hva: bigint): { hpa: bigint; contiguous: bigint } | undefined {
    const off = hva - this.hvaBase;
    if (off < 0n || off >= this.ram) return undefined;
    const frame = this.frames[Number(off / this.granule)];
    if (frame === undefined) return undefined;
    const within = off % this.granule;
    let contiguous = this.granule - within;
    // Adjacent frames that happen to be physically consecutive extend the run (VFIO pins by runs).
    let i = Number(off / this.granule) + 1;
    while (i < this.frames.length && this.frames[i] === this.frames[i - 1]! + this.granule && off + contiguous < this.ram) {
      contiguous += this.granule;
      i++;
    }
    if (off + contiguous > this.ram) contiguous = this.ram - off;
    return { hpa: frame + within, contiguous };
  }
}
