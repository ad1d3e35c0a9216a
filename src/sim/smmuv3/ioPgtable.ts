/**
 * The rules Linux's arm-smmu-v3 and io-pgtable-arm follow when they write a stage-1 CD and a
 * domain's translation tables, shared by every driver the model runs: the host's (driver.ts
 * ArmSmmuV3Driver) and the guest's in a nested VM (guestDriver.ts GuestArmSmmuV3). Each works on
 * a TableMemory (the host's physical memory; the guest's RAM by GPA) and its own page allocator.
 *
 * - s1ContextDescriptor: arm_smmu_make_s1_cd (arm-smmu-v3.c; arm_smmu_make_s1_cd_common in newer
 *   trees) with io-pgtable-arm's tcr and MAIR (arm_64_lpae_alloc_pgtable_s1);
 * - lpaeLeaf: arm_lpae_prot_to_pte + the type bits arm_lpae_init_pte adds;
 * - lpaeEntryAddress / lpaeMap: __arm_lpae_map (table descriptors: arm_lpae_install_table, the
 *   table's address | ARM_LPAE_PTE_TYPE_TABLE), the largest block size and alignment allow
 *   (arm_lpae_map_pages with the pgsize_bitmap's block sizes);
 * - lpaeClearLeaves: __arm_lpae_unmap of whole leaves (the tables stay);
 * - tlbiVaCommand: the CMD_TLBI_NH_VA / CMD_TLBI_S2_IPA of arm_smmu_tlb_inv_range_asid / _domain
 *   on an SMMU without range invalidation (one command per leaf, LEAF set).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { WordMemory } from "../memory.js";
import { CMD_TLBI_NH_VA, CMD_TLBI_S2_IPA } from "./spec.js";
import { blockAllowed, levelShift } from "./walk.js";

/** Word access to the memory a driver's tables live in (PhysicalMemory, or a guest's RAM by GPA). */
export type TableMemory = WordMemory;

/** Where a driver's tables are written and how it gets a zeroed table (bytes, aligned to `align`). */
export interface LpaeTables {
  mem: TableMemory;
  alloc(bytes: number, align: number): number;
}

/** What the rules need of a domain (driver.ts SmmuDomain extends it). */
export interface LpaeDomain {
  stage: 1 | 2 | "bypass";
  /** Stage 1: ASID; stage 2: VMID. */
  asid: number;
  vmid: number;
  /** Top table (the pgd): TTB0 or S2TTB. */
  pgd: number;
  /** Input address size, start level (io-pgtable-arm's ias, start_level after concatenation). */
  ias: number;
  startLevel: number;
  /** io-pgtable-arm's granule as a shift (12, 14, 16): the kernel's PAGE_SIZE (arm_lpae_restrict_pgsizes). Absent: 12. */
  granule?: number;
  /**
   * An SVA domain (IOMMU_DOMAIN_SVA, arm_smmu_sva_domain_alloc): `pgd` is the process's page table
   * (mm->pgd, written as the CPU's page tables are: lpaeLeaf), its CD is arm_smmu_make_sva_cd's.
   */
  sva?: boolean;
}

/** IOMMU_READ / IOMMU_WRITE / IOMMU_NOEXEC / IOMMU_PRIV (include/linux/iommu.h). */
export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;
export const IOMMU_NOEXEC = 8;
export const IOMMU_PRIV = 32;

/** io-pgtable-arm descriptor bits (ARM_LPAE_PTE_*). */
const PTE_TYPE_TABLE = 3n;
const PTE_TYPE_PAGE = 3n;
const PTE_TYPE_BLOCK = 1n;
const PTE_AF = 1n << 10n;
const PTE_SH_IS = 3n << 8n;
const PTE_NG = 1n << 11n;
const PTE_AP_UNPRIV = 1n << 6n;
const PTE_AP_RDONLY = 2n << 6n;
const PTE_XN = 3n << 53n;
const PTE_HAP_READ = 1n << 6n;
const PTE_HAP_WRITE = 2n << 6n;
/** ARM_LPAE_PTE_MEMATTR_OIWB (stage 2, cacheable) and ARM_LPAE_MAIR_ATTR_IDX_CACHE << 2 (stage 1). */
const PTE_MEMATTR_OIWB = 0xfn << 2n;
const PTE_ATTRINDX_CACHE = 1n << 2n;
/**
 * arm64 user page bits of a process page table (arch/arm64/include/asm/pgtable-prot.h _PAGE_SHARED /
 * _PAGE_READONLY: PTE_USER, PTE_RDONLY, PTE_NG, PTE_PXN, PTE_UXN, PTE_WRITE = PTE_DBM bit 51; AttrIndx
 * MT_NORMAL = 0, asm/memory.h). A written (dirty) writable page has PTE_RDONLY clear (pte_mkdirty).
 */
const CPU_PTE_DBM = 1n << 51n;
const CPU_PTE_PXN = 1n << 53n;
const CPU_PTE_UXN = 1n << 54n;
/** The output address bits of a descriptor (ARM_LPAE_PTE_ADDR / 48-bit OA). */
const PTE_OA_MASK = 0x0000ffffffffffffn;

/** CD.TG0 / STE.S2TG of a granule shift (io-pgtable-arm ARM_LPAE_TCR_TG0_4K 0, _64K 1, _16K 2). */
export function tgOfGranule(g: number): bigint {
  return g === 16 ? 1n : g === 14 ? 2n : 0n;
}

/** CD.IPS / STE.S2PS / VTCR.PS of an output size in bits (ARM_LPAE_TCR_PS_32_BIT 0 ... _52_BIT 6). */
export function psOf(oas: number): bigint {
  return BigInt([32, 36, 40, 42, 44, 48, 52].indexOf(oas));
}

/**
 * The MAIR io-pgtable-arm gives a stage-1 table (arm_64_lpae_alloc_pgtable_s1): idx0 NC 0x44,
 * idx1 WBRWA 0xff (ARM_LPAE_MAIR_ATTR_IDX_CACHE), idx2 DEVICE 0x04, idx3 INC_OWBRWA 0xf4. CD word 3.
 */
export const LPAE_S1_MAIR = 0xf404ff44n;

/**
 * arm_smmu_make_s1_cd for a stage-1 paging domain: the CD's eight dwords. Word 0: T0SZ = 64 - ias,
 * TG0, IRGN0 / ORGN0 WBWA (1) and SH0 IS (3) (io-pgtable-arm's tcr for a coherent walk: cfg.coherent_walk
 * = ARM_SMMU_FEAT_COHERENCY, SMMU_IDR0.COHACC), EPD1, V, IPS = the output size, AA64, S (a
 * stall_enabled master), R, A, ASET, ASID; word 1 TTB0; word 3 MAIR.
 */
export function s1ContextDescriptor(p: { ias: number; granule: number; oas: number; asid: number; ttb0: number; stall: boolean }): bigint[] {
  const w0 =
    BigInt(64 - p.ias) | (tgOfGranule(p.granule) << 6n) | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (psOf(p.oas) << 32n) | (1n << 41n) | (p.stall ? 1n << 44n : 0n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(p.asid) << 48n);
  return [w0, BigInt(p.ttb0), 0n, LPAE_S1_MAIR, 0n, 0n, 0n, 0n];
}

/** The descriptor address of `iova` at `level` in the domain's tables (allocating tables when `create`); undefined when a block covers it or (without `create`) a table is missing. */
export function lpaeEntryAddress(t: LpaeTables, d: LpaeDomain, iova: number, level: number, create: boolean): number | undefined {
  const g = d.granule ?? 12;
  let table = d.pgd;
  for (let l = d.startLevel; l <= 3; l++) {
    const shift = levelShift(l, g);
    const bits = l === d.startLevel ? d.ias - shift : g - 3;
    const at = table + (Math.floor(iova / 2 ** shift) % 2 ** bits) * 8;
    if (l === level) return at;
    const v = t.mem.readU64(at) ?? 0n;
    if ((v & 3n) === 3n) {
      table = Number(v & PTE_OA_MASK & ~((1n << BigInt(g)) - 1n));
      continue;
    }
    if ((v & 1n) === 1n) return undefined; // a block covers it
    if (!create) return undefined;
    const next = t.alloc(2 ** g, 2 ** g);
    // arm_lpae_install_table: the new table's address | ARM_LPAE_PTE_TYPE_TABLE.
    t.mem.writeU64(at, BigInt(next) | PTE_TYPE_TABLE);
    table = next;
  }
  return undefined;
}

/**
 * io-pgtable-arm arm_lpae_prot_to_pte + the type bits of a leaf at `level`, for a coherent
 * master (the DMA API's IOMMU_CACHE: dma_info_to_prot; VFIO / iommufd map with it too): AF, SH IS;
 * stage 1: nG, AttrIndx 1 (cacheable), AP[1] unprivileged unless IOMMU_PRIV, AP[2] read-only for
 * IOMMU_READ without IOMMU_WRITE; stage 2: MemAttr OIWB, S2AP from IOMMU_READ / IOMMU_WRITE.
 */
export function lpaeLeaf(d: LpaeDomain, pa: number, prot: number, level: number): bigint {
  let pte = level === 3 ? PTE_TYPE_PAGE : PTE_TYPE_BLOCK;
  pte |= PTE_AF | PTE_SH_IS;
  if (d.sva === true) {
    // A process page (the CPU's table behind an SVA CD): MT_NORMAL, nG, never executable here.
    pte |= PTE_NG | CPU_PTE_PXN | CPU_PTE_UXN;
    if (!(prot & IOMMU_PRIV)) pte |= PTE_AP_UNPRIV;
    if (prot & IOMMU_WRITE) pte |= CPU_PTE_DBM;
    else pte |= PTE_AP_RDONLY;
  } else if (d.stage === 1) {
    pte |= PTE_NG | PTE_ATTRINDX_CACHE;
    if (!(prot & IOMMU_PRIV)) pte |= PTE_AP_UNPRIV;
    if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) pte |= PTE_AP_RDONLY;
  } else {
    pte |= PTE_MEMATTR_OIWB;
    if (prot & IOMMU_READ) pte |= PTE_HAP_READ;
    if (prot & IOMMU_WRITE) pte |= PTE_HAP_WRITE;
  }
  if (prot & IOMMU_NOEXEC) pte |= PTE_XN;
  return pte | BigInt(pa);
}

/** iommu_map's alignment check (drivers/iommu/iommu.c __iommu_map), the pr_err text without "iommu: ", or undefined. */
export function unalignedText(iova: number, pa: number, size: number, granule: number): string | undefined {
  const min = 2 ** granule;
  if (iova % min === 0 && pa % min === 0 && size % min === 0) return undefined;
  return `unaligned: iova 0x${iova.toString(16)} pa 0x${pa.toString(16).padStart(16, "0")} size 0x${size.toString(16)} min_pagesz 0x${min.toString(16)}`;
}

/** iommu_map -> arm_lpae_map_pages: the largest block that size and alignment allow (`blocks`), else pages; returns how many leaves it wrote. Throws a RangeError where Linux refuses. */
export function lpaeMap(t: LpaeTables, d: LpaeDomain, iova: number, pa: number, size: number, prot: number, blocks: boolean): number {
  const g = d.granule ?? 12;
  // iommu_map: iova, paddr and size aligned to the smallest page size (drivers/iommu/iommu.c
  // __iommu_map: pr_err("unaligned: iova 0x%lx pa %pa size 0x%zx min_pagesz 0x%x\n", ...), -EINVAL).
  const unaligned = unalignedText(iova, pa, size, g);
  if (unaligned !== undefined) throw new RangeError(unaligned);
  let off = 0;
  let leaves = 0;
  while (off < size) {
    const va = iova + off;
    const p = pa + off;
    let level = 3;
    if (blocks) {
      for (const l of [1, 2]) {
        if (!blockAllowed(l, g)) continue;
        const span = 2 ** levelShift(l, g);
        if (l >= d.startLevel && va % span === 0 && p % span === 0 && size - off >= span) {
          level = l;
          break;
        }
      }
    }
    const at = lpaeEntryAddress(t, d, va, level, true);
    if (at === undefined) throw new RangeError(`IOVA 0x${va.toString(16)} is already mapped by a block`);
    t.mem.writeU64(at, lpaeLeaf(d, p, prot, level));
    off += 2 ** levelShift(level, g);
    leaves++;
  }
  return leaves;
}

/** The leaf that maps `iova` now: its level, descriptor address and value; undefined when nothing does. */
export function lpaeLeafAt(t: LpaeTables, d: LpaeDomain, iova: number): { level: number; address: number; value: bigint } | undefined {
  for (let l = d.startLevel; l <= 3; l++) {
    const at = lpaeEntryAddress(t, d, iova, l, false);
    if (at === undefined) return undefined;
    const v = t.mem.readU64(at) ?? 0n;
    if ((v & 1n) === 0n) return undefined;
    if (l === 3 || (v & 2n) === 0n) return { level: l, address: at, value: v };
  }
  return undefined;
}

/**
 * Clears the leaf descriptors (pages or blocks) of [iova, iova + size) and calls `cleared(va,
 * bytes)` for each; returns the bytes they covered. Tables are kept. `stopAtHole`: as
 * __iommu_unmap, which stops at the first IOVA nothing maps (unmap_pages returns 0); else holes
 * are skipped a granule at a time.
 */
export function lpaeClearLeaves(t: LpaeTables, d: LpaeDomain, iova: number, size: number, cleared: (va: number, bytes: number) => void, stopAtHole = false): number {
  let off = 0;
  let done = 0;
  const g = d.granule ?? 12;
  while (off < size) {
    const va = iova + off;
    const leaf = lpaeLeafAt(t, d, va);
    let step = 2 ** g;
    if (leaf !== undefined) {
      t.mem.writeU64(leaf.address, 0n);
      step = 2 ** levelShift(leaf.level, g);
      done += step;
      cleared(va, step);
    } else if (stopAtHole) break;
    off += step;
  }
  return done;
}

/** arm_smmu_tlb_inv_range_asid / _domain without range invalidation: one CMD_TLBI_NH_VA (stage 1: ASID) or CMD_TLBI_S2_IPA (stage 2: VMID), LEAF, at the granule-aligned address. */
export function tlbiVaCommand(d: LpaeDomain, va: number): [bigint, bigint] {
  const granule = 2 ** (d.granule ?? 12);
  const addr = BigInt(va - (va % granule));
  return d.stage === 1 ? [BigInt(CMD_TLBI_NH_VA) | (BigInt(d.asid) << 48n), addr | 1n] : [BigInt(CMD_TLBI_S2_IPA) | (BigInt(d.vmid) << 32n), addr | 1n];
}
