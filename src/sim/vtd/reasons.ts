/**
 * VT-d fault reason codes: QEMU's `VTDFaultReason` names, the exact strings Linux's
 * `dmar_get_fault_reason()` returns for them, Linux's fault-type classification, and a plain
 * explanation for users.
 *
 * Sources:
 *  - Linux strings and lookup: torvalds/linux drivers/iommu/intel/dmar.c @c34e9ab9a612 (identical text
 *    in @01feba590cd6): `dma_remap_fault_reasons[]`, `dma_remap_sm_fault_reasons[]`,
 *    `irq_remap_fault_reasons[]`, `dmar_get_fault_reason()`. The scalable-mode table (with its holes
 *    filled by literal "Unknown" strings, classified DMA_REMAP) came with "iommu/vt-d: Add Scalable Mode
 *    fault information" (Kyung Min Park, 2019), in v5.4 (its dmar.c has it; sim/vtd/dmesg.ts kernelEra); older kernels print "Unknown" (type
 *    UNKNOWN) for every code >= 0x0e outside 0x20..0x26.
 *  - QEMU names: qemu/qemu hw/i386/intel_iommu_internal.h @8ffa52c20d56 / @0192d6677c38 plus the 2024
 *    first-stage/PASID series (0x50..0x91); see iommu-reference.md §2.2.
 *
 * Pure module: no vscode, no Node built-ins.
 */

// ---- QEMU VTDFaultReason (hw/i386/intel_iommu_internal.h) ---------------------------------------
export const VTD_FR_RESERVED = 0x00;
export const VTD_FR_ROOT_ENTRY_P = 0x01;
export const VTD_FR_CONTEXT_ENTRY_P = 0x02;
export const VTD_FR_CONTEXT_ENTRY_INV = 0x03;
export const VTD_FR_ADDR_BEYOND_MGAW = 0x04;
export const VTD_FR_WRITE = 0x05;
export const VTD_FR_READ = 0x06;
export const VTD_FR_PAGING_ENTRY_INV = 0x07;
export const VTD_FR_ROOT_TABLE_INV = 0x08;
export const VTD_FR_CONTEXT_TABLE_INV = 0x09;
export const VTD_FR_ROOT_ENTRY_RSVD = 0x0a;
export const VTD_FR_CONTEXT_ENTRY_RSVD = 0x0b;
export const VTD_FR_PAGING_ENTRY_RSVD = 0x0c;
export const VTD_FR_CONTEXT_ENTRY_TT = 0x0d;
export const VTD_FR_INTERRUPT_ADDR = 0x0e;
export const VTD_FR_IR_REQ_RSVD = 0x20;
export const VTD_FR_IR_INDEX_OVER = 0x21;
export const VTD_FR_IR_ENTRY_P = 0x22;
export const VTD_FR_IR_ROOT_INVAL = 0x23;
export const VTD_FR_IR_IRTE_RSVD = 0x24;
export const VTD_FR_IR_REQ_COMPAT = 0x25;
export const VTD_FR_IR_SID_ERR = 0x26;
export const VTD_FR_PASID_DIR_ACCESS_ERR = 0x50;
export const VTD_FR_PASID_DIR_ENTRY_P = 0x51;
export const VTD_FR_PASID_TABLE_ACCESS_ERR = 0x58;
/** Older QEMU trees (@8ffa52c2) used one code for every PASID-table problem. */
export const VTD_FR_PASID_TABLE_INV = 0x58;
export const VTD_FR_PASID_ENTRY_P = 0x59;
export const VTD_FR_PASID_TABLE_ENTRY_INV = 0x5b;
export const VTD_FR_FS_PAGING_ENTRY_INV = 0x70;
export const VTD_FR_FS_PAGING_ENTRY_P = 0x71;
export const VTD_FR_FS_PAGING_ENTRY_RSVD = 0x72;
export const VTD_FR_PASID_ENTRY_FSPTPTR_INV = 0x73;
export const VTD_FR_FS_NON_CANONICAL = 0x80;
export const VTD_FR_FS_PAGING_ENTRY_US = 0x81;
export const VTD_FR_SM_WRITE = 0x85;
export const VTD_FR_SM_INTERRUPT_ADDR = 0x87;
export const VTD_FR_FS_BIT_UPDATE_FAILED = 0x91;

// ---- Scalable-mode codes QEMU does not name (its emulation reports the legacy codes for root and
// context faults in scalable mode, and 0x05/0x06/0x0c for second-level ones). The hardware's codes,
// as Linux's `dma_remap_sm_fault_reasons[]` (below) describes each; the scalable-mode walk
// (scalable.ts) reports these. Constant names follow the Linux text.
/** "SM: TTM 0 for request with PASID": a request with PASID reached a legacy-mode root table. */
export const VTD_FR_SM_TTM0_PASID = 0x31;
export const VTD_FR_SM_ROOT_ACCESS_ERR = 0x38;
export const VTD_FR_SM_ROOT_ENTRY_P = 0x39;
export const VTD_FR_SM_ROOT_ENTRY_RSVD = 0x3a;
export const VTD_FR_SM_CONTEXT_ACCESS_ERR = 0x40;
export const VTD_FR_SM_CONTEXT_ENTRY_P = 0x41;
export const VTD_FR_SM_CONTEXT_ENTRY_RSVD = 0x42;
export const VTD_FR_SM_CONTEXT_ENTRY_INV = 0x43;
/**
 * "SM: DTE field in Context Entry is clear" (Linux dma_remap_sm_fault_reasons[0x44 - 0x30],
 * drivers/iommu/intel/dmar.c): a Translation Request or a Translated Request (ATS) from a device
 * whose scalable-mode context entry has DTE (bit 2) = 0 - the scalable-mode counterpart of the
 * legacy 0x0D (T = 00b blocks ATS). QEMU names no such code: its ATS path (vtd_iommu_ats_do_translate)
 * does not read DTE.
 */
export const VTD_FR_SM_DTE_CLEAR = 0x44;
export const VTD_FR_SM_PASIDE_CLEAR = 0x45;
/** "SM: PRE field in Context-Entry is clear": a page request from a device whose context entry has PRE = 0 (QEMU VTD_FR_SM_PRE_ABS, "SCT.8"; vtd_check_pre_bit). */
export const VTD_FR_SM_PRE_CLEAR = 0x47;
export const VTD_FR_SM_PASID_TOO_LARGE = 0x46;
export const VTD_FR_SM_PASID_DIR_ENTRY_RSVD = 0x52;
export const VTD_FR_SM_PASID_ENTRY_RSVD = 0x5a;
export const VTD_FR_SM_ERE_CLEAR = 0x5c;
export const VTD_FR_SM_SRE_CLEAR = 0x5d;
/** Nested: a first-level table address beyond the second level's input width. */
export const VTD_FR_SM_NESTED_FL_BEYOND = 0x74;
/** Nested: the FL-PML4 (top) entry / a lower first-level entry could not be read through the second-level tables. */
export const VTD_FR_SM_NESTED_FL_TOP_READ = 0x75;
export const VTD_FR_SM_NESTED_FL_READ = 0x76;
/** Nested: an A/D update of a first-level entry the second level maps without write permission ("Write permission error in first-level paging entry in Nested translation"). */
export const VTD_FR_SM_NESTED_FL_WRITE = 0x77;
export const VTD_FR_SM_SL_ACCESS_ERR = 0x78;
/**
 * VT-d spec §7.1.3 Table 26 "SSS.2" / "SSL.2": R = W = 0 in a second-level entry, or in the R/W
 * accumulated down the second-level entries (a not-present entry). Linux's text says "Read/Write
 * permission error"; a present entry that lacks only the needed bit is SGN.6/SGN.7 (0x85/0x86).
 */
export const VTD_FR_SM_SL_PERM = 0x79;
export const VTD_FR_SM_SL_RSVD = 0x7a;
export const VTD_FR_SM_SLPTPTR_INV = 0x7b;
/**
 * An A/D update of a paging entry the unit walks without snooping (the PASID entry's PWSNP, bit 87,
 * is 0; Linux sets it from ECAP.SMPWC, pasid_set_page_snoop). VT-d spec 3.10 "Snoop Behavior":
 * "Remapping hardware encountering the need to atomically update A/EA/D bits in a paging-structure
 * entry that is not snooped will result in a non-recoverable fault" (quoted in Linux 57f55048e564,
 * "iommu/vt-d: Disallow dirty tracking if incoherent page walk"). Second level (with SLADE): 0x7c,
 * Linux "SM: A/D bit update needed in second-level entry when set up in no snoop"; first level:
 * 0x90, "... in first-level entry ..." (Linux 242b0aaeabbe shows a real 0x90 line on a unit with
 * ECAP.SMPWC = 0). QEMU never reports either: its PASID entries are always walked snooped.
 */
export const VTD_FR_SM_SL_AD_NO_SNOOP = 0x7c;
export const VTD_FR_SM_FL_AD_NO_SNOOP = 0x90;
export const VTD_FR_SM_EXECUTE = 0x82;
/** Table 26 "SGN.4": the input address of a request is above 2^HAW - 1 (pass-through PASIDs: the input is the output). */
export const VTD_FR_SM_ADDR_BEYOND_MAX = 0x83;
/**
 * Table 26 "SGN.5": an address subject to second-level translation (the IOVA of a second-level
 * PASID, the first-level output of a nested one) is above 2^min(MGAW, AGAW) - 1, AGAW being the
 * PASID entry's AW (Linux: "SM: Second-level entry address beyond the max").
 */
export const VTD_FR_SM_SL_ADDR_BEYOND = 0x84;
/** Table 26 "SGN.7": a read request, the translation's accumulated R = 0 (a write-only second-level page). */
export const VTD_FR_SM_READ = 0x86;

/**
 * THE table of fault-reason names: one row per code QEMU names — the code, QEMU's enumerator (the
 * newest name where QEMU renamed a code) and, for the codes the DMA path produces, the short label
 * a table cell shows (the DMA Trace's result column; trace/rowDisplay.ts SHORT_REASONS is derived
 * from this). Plain literals, so a bundle that needs only the short labels drops the rest.
 */
const REASON_NAMES: readonly (readonly [code: number, qemu: string, short?: string])[] = [
  [VTD_FR_RESERVED, "VTD_FR_RESERVED"],
  [VTD_FR_ROOT_ENTRY_P, "VTD_FR_ROOT_ENTRY_P", "root not present"],
  [VTD_FR_CONTEXT_ENTRY_P, "VTD_FR_CONTEXT_ENTRY_P", "context not present"],
  [VTD_FR_CONTEXT_ENTRY_INV, "VTD_FR_CONTEXT_ENTRY_INV", "context invalid"],
  [VTD_FR_ADDR_BEYOND_MGAW, "VTD_FR_ADDR_BEYOND_MGAW", "beyond AW"],
  [VTD_FR_WRITE, "VTD_FR_WRITE", "PTE W not set"],
  [VTD_FR_READ, "VTD_FR_READ", "PTE R not set"],
  [VTD_FR_PAGING_ENTRY_INV, "VTD_FR_PAGING_ENTRY_INV", "bad next-level ptr"],
  [VTD_FR_ROOT_TABLE_INV, "VTD_FR_ROOT_TABLE_INV", "root table bad"],
  [VTD_FR_CONTEXT_TABLE_INV, "VTD_FR_CONTEXT_TABLE_INV", "context table bad"],
  [VTD_FR_ROOT_ENTRY_RSVD, "VTD_FR_ROOT_ENTRY_RSVD", "root rsvd"],
  [VTD_FR_CONTEXT_ENTRY_RSVD, "VTD_FR_CONTEXT_ENTRY_RSVD", "context rsvd"],
  [VTD_FR_PAGING_ENTRY_RSVD, "VTD_FR_PAGING_ENTRY_RSVD", "PTE rsvd"],
  [VTD_FR_CONTEXT_ENTRY_TT, "VTD_FR_CONTEXT_ENTRY_TT", "translated blocked"],
  [VTD_FR_INTERRUPT_ADDR, "VTD_FR_INTERRUPT_ADDR", "interrupt range"],
  [VTD_FR_IR_REQ_RSVD, "VTD_FR_IR_REQ_RSVD"],
  [VTD_FR_IR_INDEX_OVER, "VTD_FR_IR_INDEX_OVER"],
  [VTD_FR_IR_ENTRY_P, "VTD_FR_IR_ENTRY_P"],
  [VTD_FR_IR_ROOT_INVAL, "VTD_FR_IR_ROOT_INVAL"],
  [VTD_FR_IR_IRTE_RSVD, "VTD_FR_IR_IRTE_RSVD"],
  [VTD_FR_IR_REQ_COMPAT, "VTD_FR_IR_REQ_COMPAT"],
  [VTD_FR_IR_SID_ERR, "VTD_FR_IR_SID_ERR"],
  [VTD_FR_SM_TTM0_PASID, "", "PASID on legacy root"],
  [VTD_FR_SM_ROOT_ACCESS_ERR, "", "root table bad"],
  [VTD_FR_SM_ROOT_ENTRY_P, "", "root not present"],
  [VTD_FR_SM_ROOT_ENTRY_RSVD, "", "root rsvd"],
  [VTD_FR_SM_CONTEXT_ACCESS_ERR, "", "context table bad"],
  [VTD_FR_SM_CONTEXT_ENTRY_P, "", "context not present"],
  [VTD_FR_SM_CONTEXT_ENTRY_RSVD, "", "context rsvd"],
  [VTD_FR_SM_CONTEXT_ENTRY_INV, "", "context invalid"],
  [VTD_FR_SM_PASIDE_CLEAR, "", "PASID not enabled"],
  [VTD_FR_SM_PASID_TOO_LARGE, "", "PASID too large"],
  [VTD_FR_PASID_DIR_ACCESS_ERR, "VTD_FR_PASID_DIR_ACCESS_ERR", "PASID dir bad"],
  [VTD_FR_PASID_DIR_ENTRY_P, "VTD_FR_PASID_DIR_ENTRY_P", "PASID dir not present"],
  [VTD_FR_SM_PASID_DIR_ENTRY_RSVD, "", "PASID dir rsvd"],
  [VTD_FR_PASID_TABLE_ACCESS_ERR, "VTD_FR_PASID_TABLE_ACCESS_ERR", "PASID table bad"],
  [VTD_FR_PASID_ENTRY_P, "VTD_FR_PASID_ENTRY_P", "PASID not present"],
  [VTD_FR_SM_PASID_ENTRY_RSVD, "", "PASID entry rsvd"],
  [VTD_FR_PASID_TABLE_ENTRY_INV, "VTD_FR_PASID_TABLE_ENTRY_INV", "PASID entry invalid"],
  [VTD_FR_SM_ERE_CLEAR, "", "ERE clear"],
  [VTD_FR_SM_SRE_CLEAR, "", "SRE clear"],
  [VTD_FR_FS_PAGING_ENTRY_INV, "VTD_FR_FS_PAGING_ENTRY_INV", "FL entry bad"],
  [VTD_FR_FS_PAGING_ENTRY_P, "VTD_FR_FS_PAGING_ENTRY_P", "FL not present"],
  [VTD_FR_FS_PAGING_ENTRY_RSVD, "VTD_FR_FS_PAGING_ENTRY_RSVD", "FL rsvd"],
  [VTD_FR_PASID_ENTRY_FSPTPTR_INV, "VTD_FR_PASID_ENTRY_FSPTPTR_INV", "FLPTPTR bad"],
  [VTD_FR_SM_NESTED_FL_BEYOND, "", "nested: FL table beyond AW"],
  [VTD_FR_SM_NESTED_FL_TOP_READ, "", "nested: FL-PML4 unreadable"],
  [VTD_FR_SM_NESTED_FL_READ, "", "nested: FL table unreadable"],
  [VTD_FR_SM_NESTED_FL_WRITE, "", "nested: FL A/D not writable"],
  [VTD_FR_SM_SL_ACCESS_ERR, "", "SL entry bad"],
  [VTD_FR_SM_SL_PERM, "", "SL R/W not set"],
  [VTD_FR_SM_SL_RSVD, "", "SL rsvd"],
  [VTD_FR_SM_SLPTPTR_INV, "", "SLPTPTR bad"],
  [VTD_FR_SM_SL_AD_NO_SNOOP, "", "SL A/D update, no snoop"],
  [VTD_FR_FS_NON_CANONICAL, "VTD_FR_FS_NON_CANONICAL", "non-canonical"],
  [VTD_FR_FS_PAGING_ENTRY_US, "VTD_FR_FS_PAGING_ENTRY_US", "U/S = 0"],
  [VTD_FR_SM_EXECUTE, "", "no execute"],
  [VTD_FR_SM_ADDR_BEYOND_MAX, "", "beyond HAW"],
  [VTD_FR_SM_SL_ADDR_BEYOND, "", "beyond AW"],
  [VTD_FR_SM_WRITE, "VTD_FR_SM_WRITE", "no write permission"],
  [VTD_FR_SM_READ, "", "no read permission"],
  [VTD_FR_SM_INTERRUPT_ADDR, "VTD_FR_SM_INTERRUPT_ADDR", "interrupt range"],
  [VTD_FR_SM_FL_AD_NO_SNOOP, "", "FL A/D update, no snoop"],
  [VTD_FR_FS_BIT_UPDATE_FAILED, "VTD_FR_FS_BIT_UPDATE_FAILED", "FL A/D update failed"],
];

/** Code → QEMU enumerator name. */
const QEMU_NAMES: ReadonlyMap<number, string> = /* @__PURE__ */ new Map(REASON_NAMES.filter(([, qemu]) => qemu !== "").map(([code, qemu]) => [code, qemu]));

/** The short label of a fault reason for a table cell ("PTE W not set"), "" where there is none. */
export function shortReason(code: number): string {
  for (const [c, , short] of REASON_NAMES) if (c === code) return short ?? "";
  return "";
}

/** Every short label by code (REASON_NAMES' third column). */
export function shortReasons(): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [c, , short] of REASON_NAMES) if (short !== undefined) out[c] = short;
  return out;
}

// ---- Linux tables (drivers/iommu/intel/dmar.c @c34e9ab9a612, text identical @01feba590cd6) -----

/** `dma_remap_fault_reasons[]`, index = FR (0x00..0x0d). Unchanged since the 2.6 drivers/pci/dmar.c. */
export const DMA_REMAP_FAULT_REASONS: readonly string[] = [
  "Software",
  "Present bit in root entry is clear",
  "Present bit in context entry is clear",
  "Invalid context entry",
  "Access beyond MGAW",
  "PTE Write access is not set",
  "PTE Read access is not set",
  "Next page table ptr is invalid",
  "Root table address invalid",
  "Context table ptr is invalid",
  "non-zero reserved fields in RTP",
  "non-zero reserved fields in CTP",
  "non-zero reserved fields in PTE",
  "PCE for translation request specifies blocking",
];

/** `irq_remap_fault_reasons[]`, index = FR − 0x20 (0x20..0x26). */
export const IRQ_REMAP_FAULT_REASONS: readonly string[] = [
  "Detected reserved fields in the decoded interrupt-remapped request",
  "Interrupt index exceeded the interrupt-remapping table size",
  "Present field in the IRTE entry is clear",
  "Error accessing interrupt-remapping table pointed by IRTA_REG",
  "Detected reserved fields in the IRTE entry",
  "Blocked a compatibility format interrupt request",
  "Blocked an interrupt request due to source-id verification failure",
];

const U = "Unknown";
/**
 * `dma_remap_sm_fault_reasons[]`, index = FR − 0x30 (0x30..0x90, 97 entries). Linux fills the holes
 * with literal "Unknown" strings, so they are still classified DMA_REMAP.
 */
export const DMA_REMAP_SM_FAULT_REASONS: readonly string[] = [
  "SM: Invalid Root Table Address",
  "SM: TTM 0 for request with PASID",
  "SM: TTM 0 for page group request",
  U, U, U, U, U, /* 0x33-0x37 */
  "SM: Error attempting to access Root Entry",
  "SM: Present bit in Root Entry is clear",
  "SM: Non-zero reserved field set in Root Entry",
  U, U, U, U, U, /* 0x3B-0x3F */
  "SM: Error attempting to access Context Entry",
  "SM: Present bit in Context Entry is clear",
  "SM: Non-zero reserved field set in the Context Entry",
  "SM: Invalid Context Entry",
  "SM: DTE field in Context Entry is clear",
  "SM: PASID Enable field in Context Entry is clear",
  "SM: PASID is larger than the max in Context Entry",
  "SM: PRE field in Context-Entry is clear",
  "SM: RID_PASID field error in Context-Entry",
  U, U, U, U, U, U, U, /* 0x49-0x4F */
  "SM: Error attempting to access the PASID Directory Entry",
  "SM: Present bit in Directory Entry is clear",
  "SM: Non-zero reserved field set in PASID Directory Entry",
  U, U, U, U, U, /* 0x53-0x57 */
  "SM: Error attempting to access PASID Table Entry",
  "SM: Present bit in PASID Table Entry is clear",
  "SM: Non-zero reserved field set in PASID Table Entry",
  "SM: Invalid Scalable-Mode PASID Table Entry",
  "SM: ERE field is clear in PASID Table Entry",
  "SM: SRE field is clear in PASID Table Entry",
  U, U, /* 0x5E-0x5F */
  U, U, U, U, U, U, U, U, /* 0x60-0x67 */
  U, U, U, U, U, U, U, U, /* 0x68-0x6F */
  "SM: Error attempting to access first-level paging entry",
  "SM: Present bit in first-level paging entry is clear",
  "SM: Non-zero reserved field set in first-level paging entry",
  "SM: Error attempting to access FL-PML4 entry",
  "SM: First-level entry address beyond MGAW in Nested translation",
  "SM: Read permission error in FL-PML4 entry in Nested translation",
  "SM: Read permission error in first-level paging entry in Nested translation",
  "SM: Write permission error in first-level paging entry in Nested translation",
  "SM: Error attempting to access second-level paging entry",
  "SM: Read/Write permission error in second-level paging entry",
  "SM: Non-zero reserved field set in second-level paging entry",
  "SM: Invalid second-level page table pointer",
  "SM: A/D bit update needed in second-level entry when set up in no snoop",
  U, U, U, /* 0x7D-0x7F */
  "SM: Address in first-level translation is not canonical",
  "SM: U/S set 0 for first-level translation with user privilege",
  "SM: No execute permission for request with PASID and ER=1",
  "SM: Address beyond the DMA hardware max",
  "SM: Second-level entry address beyond the max",
  "SM: No write permission for Write/AtomicOp request",
  "SM: No read permission for Read/AtomicOp request",
  "SM: Invalid address-interrupt address",
  U, U, U, U, U, U, U, U, /* 0x88-0x8F */
  "SM: A/D bit update needed in first-level entry when set up in no snoop",
];

/** Linux `enum faulttype { DMA_REMAP, INTR_REMAP, UNKNOWN }`. */
export type FaultKind = "dma" | "intr-remap" | "unknown";

/**
 * `dmar_get_fault_reason(fault_reason, &fault_type)`. `fault_reason` is a u8 in C, so the code is
 * truncated to 8 bits first. `scalableTable: false` models kernels before the SM table (≤ 5.4).
 */
export function dmarGetFaultReason(code: number, scalableTable = true): { text: string; kind: FaultKind } {
  const fr = code & 0xff;
  if (fr >= 0x20 && fr - 0x20 < IRQ_REMAP_FAULT_REASONS.length) return { text: IRQ_REMAP_FAULT_REASONS[fr - 0x20]!, kind: "intr-remap" };
  if (scalableTable && fr >= 0x30 && fr - 0x30 < DMA_REMAP_SM_FAULT_REASONS.length) return { text: DMA_REMAP_SM_FAULT_REASONS[fr - 0x30]!, kind: "dma" };
  if (fr < DMA_REMAP_FAULT_REASONS.length) return { text: DMA_REMAP_FAULT_REASONS[fr]!, kind: "dma" };
  return { text: "Unknown", kind: "unknown" };
}

// ---- Plain explanations ----------------------------------------------------------------------

const EXPLANATIONS: ReadonlyMap<number, string> = /* @__PURE__ */ new Map([
  [0x00, "Reserved code 0 (\"Software\"): no hardware condition is reported with it; a record with reason 0 usually means the fault record was read while being cleared or was fabricated by software."],
  [0x01, "The root-table entry for the device's bus has its Present bit clear, so the IOMMU has no context table for that bus. The bus was never given to any domain (no driver attached it), or the root table pointer is wrong."],
  [0x02, "The context entry for this bus/device/function has its Present bit clear: the IOMMU knows no domain for this requester ID. Typically the device (or the alias it uses for DMA) is not attached to any IOMMU domain, or it was detached while still doing DMA."],
  [0x03, "The context entry is present but programmed in a way the hardware does not support, e.g. an address width not in SAGAW or a translation type the unit lacks (device-TLB or pass-through). QEMU also reports this when the top-level page table cannot be read."],
  [0x04, "The DMA address is above the address width the context entry's page table covers (MGAW/AGAW). The device used an IOVA larger than the domain can translate."],
  [0x05, "The device wrote to an IOVA whose page-table entry does not grant write access: the address is not mapped at all, or it is mapped read-only. This is the classic symptom of DMA to an address that was never mapped or was already unmapped."],
  [0x06, "The device read from an IOVA whose page-table entry does not grant read access, which almost always means the address is not mapped (or no longer mapped) in the device's domain."],
  [0x07, "A second-level paging entry could not be fetched (its address is invalid). QEMU reports this when a lower-level page table cannot be read."],
  [0x08, "The root table address in RTADDR could not be accessed, so no translation for any device is possible."],
  [0x09, "The context table referenced by the root entry could not be accessed (the context-table pointer is invalid)."],
  [0x0a, "The root entry has non-zero bits in reserved fields; the root table is corrupt or was written in the wrong format (legacy versus scalable mode)."],
  [0x0b, "The context entry has non-zero bits in reserved fields; the context table is corrupt or uses the wrong format."],
  [0x0c, "A page-table entry on the walk has non-zero reserved bits (for example an address above the host address width, or the snoop bit on hardware without snoop control)."],
  [0x0d, "A translation request (ATS) came from a device whose context entry does not allow device-TLB translation requests, so it was blocked."],
  [0x0e, "QEMU's code for a translation whose result falls in the interrupt address range 0xFEE00000-0xFEEFFFFF; Linux has no text for it and prints \"Unknown\"."],
  [0x20, "An interrupt request (a DMA write to the MSI window) had non-zero reserved fields in its remappable-format address/data."],
  [0x21, "The interrupt request's handle is beyond the size of the interrupt-remapping table."],
  [0x22, "The interrupt-remapping table entry selected by the request is not present: the interrupt was never set up for this device, or was torn down while the device still signals it."],
  [0x23, "The interrupt-remapping table pointed to by IRTA could not be accessed."],
  [0x24, "The interrupt-remapping table entry has non-zero reserved fields."],
  [0x25, "A compatibility-format (non-remappable) interrupt was blocked because compatibility format interrupts are disabled."],
  [0x26, "The interrupt request came from a requester ID that the remapping entry does not allow (source-id verification failed), e.g. a device behind a bridge or a misbehaving function using another function's vector."],
  [0x30, "Scalable mode: the root table address is invalid."],
  [0x31, "Scalable mode: a request with PASID arrived while the root table is in legacy mode (TTM 0)."],
  [0x32, "Scalable mode: a page group request arrived while the root table is in legacy mode (TTM 0)."],
  [0x38, "Scalable mode: the root entry could not be read."],
  [0x39, "Scalable mode: the root entry (lower or upper half for this devfn) is not present."],
  [0x3a, "Scalable mode: the root entry has non-zero reserved fields."],
  [0x40, "Scalable mode: the context entry could not be read."],
  [0x41, "Scalable mode: the context entry is not present; the device is not attached to any domain."],
  [0x42, "Scalable mode: the context entry has non-zero reserved fields."],
  [0x43, "Scalable mode: the context entry is programmed inconsistently."],
  [0x44, "Scalable mode: a translation request came from a device whose context entry does not enable device-TLB (DTE clear)."],
  [0x45, "Scalable mode: a request with PASID came from a device whose context entry does not enable PASID."],
  [0x46, "Scalable mode: the request's PASID is larger than the PASID directory size in the context entry."],
  [0x47, "Scalable mode: a page request came from a device whose context entry does not enable page requests (PRE clear)."],
  [0x48, "Scalable mode: the RID_PASID field of the context entry is invalid."],
  [0x50, "Scalable mode: the PASID directory entry could not be read."],
  [0x51, "Scalable mode: the PASID directory entry for this PASID is not present."],
  [0x52, "Scalable mode: the PASID directory entry has non-zero reserved fields."],
  [0x58, "Scalable mode: the PASID table entry could not be read."],
  [0x59, "Scalable mode: the PASID table entry for this PASID is not present; the PASID (or RID_PASID for requests without PASID) is not bound to a domain."],
  [0x5a, "Scalable mode: the PASID table entry has non-zero reserved fields."],
  [0x5b, "Scalable mode: the PASID table entry is programmed inconsistently (bad translation type or paging level)."],
  [0x5c, "Scalable mode: an execute request arrived but execute requests are not enabled in the PASID entry (ERE clear)."],
  [0x5d, "Scalable mode: a supervisor request arrived but supervisor requests are not enabled in the PASID entry (SRE clear)."],
  [0x70, "Scalable mode: a first-level paging entry could not be read."],
  [0x71, "Scalable mode: a first-level paging entry is not present: the address is not mapped in the first-level (guest-style) page table."],
  [0x72, "Scalable mode: a first-level paging entry has non-zero reserved bits."],
  [0x73, "Scalable mode: the top-level first-level table (FL-PML4) could not be read."],
  [0x74, "Scalable mode, nested: a first-level entry's address is beyond MGAW."],
  [0x75, "Scalable mode, nested: the FL-PML4 entry could not be read through the second-level tables."],
  [0x76, "Scalable mode, nested: a first-level paging entry could not be read through the second-level tables."],
  [0x77, "Scalable mode, nested: an Accessed/Dirty update of a first-level entry was not writable through the second-level tables."],
  [0x78, "Scalable mode: a second-level paging entry could not be read."],
  [0x79, "Scalable mode: a second-level paging entry on the walk is not present (R = W = 0), or R and W ANDed down the second-level entries are both 0: the address is not mapped in the second level."],
  [0x7a, "Scalable mode: a second-level paging entry has non-zero reserved bits."],
  [0x7b, "Scalable mode: the second-level page-table pointer is invalid."],
  [0x7c, "Scalable mode: the second-level walk had to set an Accessed/Dirty bit (SLADE), but the PASID entry has PWSNP = 0 (page walks not snooped; Linux sets PWSNP only when ECAP.SMPWC = 1), and an A/D update of an entry that is not snooped is a fault (VT-d 3.10)."],
  [0x80, "Scalable mode: the address is not canonical for the first-level paging mode (bits above the table width are not a sign extension)."],
  [0x81, "Scalable mode: a first-level entry has U/S = 0 but the request was a user-privilege request."],
  [0x82, "Scalable mode: an execute request hit a page without execute permission."],
  [0x83, "Scalable mode: the request's address is above the host address width (a pass-through PASID passes the address on unchanged, so it must fit the hardware)."],
  [0x84, "Scalable mode: the address the second level must translate (the IOVA of a second-level PASID, or the guest-physical output of a nested first level) is above the PASID entry's address width (min(MGAW, AGAW))."],
  [0x85, "Scalable mode: a write (or atomic) request hit a page whose translation is read-only (R/W = 0 in a first-level entry, or W = 0 in a present second-level entry)."],
  [0x86, "Scalable mode: a read (or atomic) request hit a page whose translation is write-only (R = 0 in a present second-level entry)."],
  [0x87, "Scalable mode: the translated address falls in the interrupt address range 0xFEE00000-0xFEEFFFFF."],
  [0x90, "Scalable mode: the first-level walk had to set an Accessed/Dirty bit (an entry with A clear, or D clear on a write), but the PASID entry has PWSNP = 0 (page walks not snooped; Linux sets PWSNP only when ECAP.SMPWC = 1), and an A/D update of an entry that is not snooped is a fault (VT-d 3.10)."],
  [0x91, "QEMU's code for a failed Accessed/Dirty bit update of a first-stage entry; Linux's table ends at 0x90 and prints \"Unknown\"."],
]);

export interface FaultReasonInfo {
  code: number;
  /** QEMU `VTDFaultReason` enumerator, e.g. "VTD_FR_WRITE"; "" when QEMU has no name for the code. */
  name: string;
  /** Exactly what the current `dmar_get_fault_reason()` returns ("Unknown" where Linux has none). */
  linuxText: string;
  /** Linux's fault type: IR faults print the INTR-REMAP line, everything else the DMA line. */
  kind: FaultKind;
  /** One or two plain sentences: what the hardware found. */
  explanation: string;
}

export function faultReasonInfo(code: number): FaultReasonInfo {
  const fr = code & 0xff;
  const { text, kind } = dmarGetFaultReason(fr);
  const explanation =
    EXPLANATIONS.get(fr) ??
    (kind === "intr-remap"
      ? "An interrupt-remapping fault."
      : `Fault reason 0x${fr.toString(16).padStart(2, "0")} is not defined by the VT-d specification versions Linux knows; Linux prints "Unknown".`);
  return { code: fr, name: QEMU_NAMES.get(fr) ?? "", linuxText: text, kind, explanation };
}

/** Every code Linux has a (non-"Unknown") string for, ascending. */
export function knownLinuxReasonCodes(): number[] {
  const out: number[] = [];
  for (let c = 0; c < 0x100; c++) if (dmarGetFaultReason(c).text !== "Unknown") out.push(c);
  return out;
}
