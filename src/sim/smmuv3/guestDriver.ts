/**
 * The guest's arm-smmu-v3 in a VM with a nested SMMUv3 domain (Linux 6.15+ iommufd vIOMMU, QEMU's
 * accelerated vSMMUv3: docs/smmuv3-nesting.md). What `guest-map` / `guest-unmap` on such a VM
 * make the guest kernel do, in the guest's own RAM (addressed by GPA = IPA):
 *
 * - attach (the guest's arm_smmu_attach_dev of the device to its DMA domain, whose STE QEMU turned
 *   into the nested hwpt): a stage-1 domain (arm_smmu_domain_finalise_s1: ASID from 1, ias =
 *   min(48, VA_BITS) = 48 with the guest's 48-bit VA, io-pgtable-arm's 4 KiB-granule pgd) and its
 *   CD (arm_smmu_make_s1_cd) at the vSTE's S1ContextPtr: SubstreamID 0 of a linear CD table;
 * - map: iommu_map -> arm_lpae_map_pages in the guest's tables (__arm_lpae_map, table descriptors
 *   and page / block descriptors as for any stage-1 domain: ioPgtable.ts); iommu_map refuses an
 *   unaligned range (EINVAL, "iommu: unaligned: ...") and io-pgtable-arm a range already mapped
 *   (arm_lpae_init_pte: -EEXIST, after which iommu_map unmaps what it had mapped: nothing stays);
 * - unmap: iommu_unmap -> __arm_lpae_unmap clears the leaves (stopping at the first IOVA nothing
 *   maps, as __iommu_unmap does) and gathers them (iommu_iotlb_gather_add_page: a leaf of another
 *   size syncs the gather first); arm_smmu_iotlb_sync -> arm_smmu_tlb_inv_range_domain ->
 *   __arm_smmu_tlb_inv_range queues one CMD_TLBI_NH_VA per leaf (ASID, VMID 0: the guest has no
 *   stage 2, LEAF) and a CMD_SYNC per gather. No range invalidation: QEMU's accelerated vSMMUv3
 *   must not advertise IDR3.RIL where the host SMMU lacks it (smmuv3_accel_check_hw_compatible,
 *   "Host SMMUv3 differs in Range Invalidation support"), and the model's host SMMU has none.
 *
 * The guest's coherent: QEMU's vSMMUv3 sets IDR0.COHACC and virt's IORT the COHACC override, so
 * io-pgtable-arm walks coherently (CD IRGN0/ORGN0 WBWA, SH0 IS) and the DMA API maps with
 * IOMMU_CACHE (SH IS, AttrIndx 1).
 *
 * Table pages come from a pool at the top of the VM's RAM (GUEST_SMMU_POOL_BYTES below its end),
 * handed out upwards one 4 KiB page at a time and zeroed; nothing is freed (the guest's freed
 * tables are not modelled). A real guest never hands its table pages to a device; a scenario whose
 * guest-map targets or pokes fall in the pool can overwrite them (not checked).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { IOMMU_READ, IOMMU_WRITE, lpaeClearLeaves, lpaeLeafAt, lpaeMap, s1ContextDescriptor, tlbiVaCommand, unalignedText, type LpaeDomain, type LpaeTables, type TableMemory } from "./ioPgtable.js";
import { CMD_SYNC } from "./spec.js";
import { GUEST_SMMU_S1_IAS } from "../../scenario/kernelGates.js";

const PAGE = 4096;
/** The guest's table pool: this many bytes at the top of its RAM. */
export const GUEST_SMMU_POOL_BYTES = 16 * 1024 * 1024;
/** The guest domain's stage-1 input size (validation checks guest-map ranges against the same). */
const GUEST_IAS = GUEST_SMMU_S1_IAS;

/** One stage-1 domain of the guest (its DMA domain of one device). */
export interface GuestSmmuDomain {
  device: string;
  asid: number;
  /** The pgd (TTB0), an IPA. */
  pgd: number;
  /** Where its CD was written (the vSTE's S1ContextPtr). */
  cd: number;
}

/** Plain data, kept in checkpoints. */
export interface GuestSmmuState {
  nextAsid: number;
  /** The next free page of the pool (a GPA). */
  nextTable: number;
  domains: GuestSmmuDomain[];
}

/** What a map did, or why the guest's kernel refused it. */
export type GuestMapResult = { ok: true; leaves: number; tables: number } | { ok: false; errno: "EINVAL" | "EEXIST" | "ENOMEM" | "ERANGE"; line: string };

/** What an unmap did: the bytes unmapped and the commands the guest queued, CMD_SYNCs included. */
export interface GuestUnmapResult {
  bytes: number;
  /** Each gather's commands (CMD_TLBI_NH_VA ...), as the guest queued them before its CMD_SYNC. */
  batches: [bigint, bigint][][];
}

export class GuestArmSmmuV3 {
  state: GuestSmmuState;
  private readonly tables: LpaeTables;
  /** Table pages handed out so far (this object's life: for a step's summary). */
  private allocated = 0;

  constructor(
    /** The guest's RAM by GPA. */
    readonly mem: TableMemory,
    /** The vSMMU's output size (SMMU_IDR5.OAS, as the host's: QEMU's accelerated vSMMUv3 may not claim more). */
    readonly oas: number,
    /** The pool's GPA range [base, end). */
    readonly pool: { base: number; end: number },
    state?: GuestSmmuState,
    /** Another page allocator (tests that place tables where a hand-written scenario did). */
    alloc?: () => number,
  ) {
    this.state = state !== undefined ? { ...state, domains: state.domains.map((d) => ({ ...d })) } : { nextAsid: 1, nextTable: pool.base, domains: [] };
    const take = alloc ?? (() => this.takePage());
    this.tables = {
      mem,
      alloc: () => {
        const at = take();
        this.allocated++;
        for (let i = 0; i < PAGE; i += 8) mem.writeU64(at + i, 0n);
        return at;
      },
    };
  }

  private takePage(): number {
    const at = this.state.nextTable;
    if (at + PAGE > this.pool.end) throw new RangeError(`the guest's table pool (GPA 0x${this.pool.base.toString(16)}-0x${(this.pool.end - 1).toString(16)}) is full`);
    this.state.nextTable = at + PAGE;
    return at;
  }

  domainOf(device: string): GuestSmmuDomain | undefined {
    return this.state.domains.find((d) => d.device === device);
  }

  private lpae(d: GuestSmmuDomain): LpaeDomain {
    return { stage: 1, asid: d.asid, vmid: 0, pgd: d.pgd, ias: GUEST_IAS, startLevel: 0 };
  }

  /**
   * The guest attaches `device` to its DMA domain (made on first use) and writes the domain's CD
   * at IPA `cd`. Returns the domain and the CD's words.
   */
  attach(device: string, cd: number): { domain: GuestSmmuDomain; words: bigint[] } {
    let d = this.domainOf(device);
    if (d === undefined) {
      d = { device, asid: this.state.nextAsid++, pgd: this.tables.alloc(PAGE, PAGE), cd };
      this.state.domains.push(d);
    }
    d.cd = cd;
    const words = s1ContextDescriptor({ ias: GUEST_IAS, granule: 12, oas: this.oas, asid: d.asid, ttb0: d.pgd, stall: false });
    // arm_smmu_write_cd_entry writes the qwords; a CD's other words stay zero (arm_smmu_make_s1_cd memsets it).
    words.forEach((w, i) => this.mem.writeU64(cd + i * 8, w));
    return { domain: d, words };
  }

  /** iommu_map(domain, iova, gpa, size, prot) with prot from the guest's DMA API (IOMMU_CACHE always: coherent). */
  map(device: string, iova: number, gpa: number, size: number, prot: number): GuestMapResult {
    const d = this.domainOf(device)!;
    const unaligned = unalignedText(iova, gpa, size, 12);
    // __iommu_map: pr_err("unaligned: ...") under pr_fmt "iommu: "; a size of 0 is aligned and maps nothing.
    if (unaligned !== undefined) return { ok: false, errno: "EINVAL", line: `iommu: ${unaligned}` };
    // arm_lpae_map_pages: "if (WARN_ON(iaext || paddr >> cfg->oas)) return -ERANGE;" (iaext: IOVA bits above ias).
    if (iova + size > 2 ** GUEST_IAS || gpa + size > 2 ** this.oas) return { ok: false, errno: "ERANGE", line: `IOVA 0x${iova.toString(16)}+0x${size.toString(16)} or IPA 0x${gpa.toString(16)} beyond the stage-1 input (${GUEST_IAS}-bit) or output (${this.oas}-bit) size (arm_lpae_map_pages: WARN_ON, -ERANGE)` };
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) return { ok: true, leaves: 0, tables: 0 }; // arm_lpae_map_pages: "If no access, then nothing to do"
    const ld = this.lpae(d);
    for (let off = 0; off < size; ) {
      const leaf = lpaeLeafAt(this.tables, ld, iova + off);
      if (leaf !== undefined) return { ok: false, errno: "EEXIST", line: `IOVA 0x${(iova + off).toString(16)} is already mapped (arm_lpae_init_pte: -EEXIST; iommu_map unmaps what it mapped before it)` };
      off += PAGE;
    }
    const before = this.allocated;
    let leaves: number;
    try {
      leaves = lpaeMap(this.tables, ld, iova, gpa, size, prot, true);
    } catch (e) {
      return { ok: false, errno: "ENOMEM", line: (e as Error).message };
    }
    return { ok: true, leaves, tables: this.allocated - before };
  }

  /** iommu_unmap(domain, iova, size) and the guest's TLB invalidation of what it cleared. */
  unmap(device: string, iova: number, size: number): GuestUnmapResult {
    const d = this.domainOf(device)!;
    const ld = this.lpae(d);
    const batches: [bigint, bigint][][] = [];
    let gather: [bigint, bigint][] = [];
    let pgsize = 0;
    const bytes = lpaeClearLeaves(
      this.tables,
      ld,
      iova,
      size,
      (va, leafBytes) => {
        // iommu_iotlb_gather_add_page: a page of another size syncs what was gathered first.
        if (pgsize !== 0 && pgsize !== leafBytes) {
          batches.push(gather);
          gather = [];
        }
        pgsize = leafBytes;
        gather.push(tlbiVaCommand(ld, va - (va % leafBytes)));
      },
      true,
    );
    if (gather.length > 0) batches.push(gather);
    return { bytes, batches };
  }

  snapshot(): GuestSmmuState {
    return { ...this.state, domains: this.state.domains.map((d) => ({ ...d })) };
  }
}

/** CMD_SYNC as the guest queues it after each gather (arm_smmu_cmdq_issue_cmdlist with sync). */
export const GUEST_CMD_SYNC: [bigint, bigint] = [BigInt(CMD_SYNC), 0n];
