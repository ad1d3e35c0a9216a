import { describe, expect, it } from "vitest";
import {
  DMA_REMAP_SM_FAULT_REASONS,
  VTD_FR_CONTEXT_ENTRY_TT,
  VTD_FR_FS_BIT_UPDATE_FAILED,
  VTD_FR_INTERRUPT_ADDR,
  VTD_FR_IR_SID_ERR,
  VTD_FR_PAGING_ENTRY_RSVD,
  VTD_FR_ROOT_ENTRY_P,
  VTD_FR_WRITE,
  dmarGetFaultReason,
  faultReasonInfo,
  knownLinuxReasonCodes,
} from "../../src/sim/vtd/reasons.js";

// Transcribed independently from iommu-reference.md §2.1 (drivers/iommu/intel/dmar.c @c34e9ab9).
const LINUX: Record<number, string> = {
  0x00: "Software",
  0x01: "Present bit in root entry is clear",
  0x02: "Present bit in context entry is clear",
  0x03: "Invalid context entry",
  0x04: "Access beyond MGAW",
  0x05: "PTE Write access is not set",
  0x06: "PTE Read access is not set",
  0x07: "Next page table ptr is invalid",
  0x08: "Root table address invalid",
  0x09: "Context table ptr is invalid",
  0x0a: "non-zero reserved fields in RTP",
  0x0b: "non-zero reserved fields in CTP",
  0x0c: "non-zero reserved fields in PTE",
  0x0d: "PCE for translation request specifies blocking",
  0x20: "Detected reserved fields in the decoded interrupt-remapped request",
  0x21: "Interrupt index exceeded the interrupt-remapping table size",
  0x22: "Present field in the IRTE entry is clear",
  0x23: "Error accessing interrupt-remapping table pointed by IRTA_REG",
  0x24: "Detected reserved fields in the IRTE entry",
  0x25: "Blocked a compatibility format interrupt request",
  0x26: "Blocked an interrupt request due to source-id verification failure",
  0x30: "SM: Invalid Root Table Address",
  0x31: "SM: TTM 0 for request with PASID",
  0x32: "SM: TTM 0 for page group request",
  0x38: "SM: Error attempting to access Root Entry",
  0x39: "SM: Present bit in Root Entry is clear",
  0x3a: "SM: Non-zero reserved field set in Root Entry",
  0x40: "SM: Error attempting to access Context Entry",
  0x41: "SM: Present bit in Context Entry is clear",
  0x42: "SM: Non-zero reserved field set in the Context Entry",
  0x43: "SM: Invalid Context Entry",
  0x44: "SM: DTE field in Context Entry is clear",
  0x45: "SM: PASID Enable field in Context Entry is clear",
  0x46: "SM: PASID is larger than the max in Context Entry",
  0x47: "SM: PRE field in Context-Entry is clear",
  0x48: "SM: RID_PASID field error in Context-Entry",
  0x50: "SM: Error attempting to access the PASID Directory Entry",
  0x51: "SM: Present bit in Directory Entry is clear",
  0x52: "SM: Non-zero reserved field set in PASID Directory Entry",
  0x58: "SM: Error attempting to access PASID Table Entry",
  0x59: "SM: Present bit in PASID Table Entry is clear",
  0x5a: "SM: Non-zero reserved field set in PASID Table Entry",
  0x5b: "SM: Invalid Scalable-Mode PASID Table Entry",
  0x5c: "SM: ERE field is clear in PASID Table Entry",
  0x5d: "SM: SRE field is clear in PASID Table Entry",
  0x70: "SM: Error attempting to access first-level paging entry",
  0x71: "SM: Present bit in first-level paging entry is clear",
  0x72: "SM: Non-zero reserved field set in first-level paging entry",
  0x73: "SM: Error attempting to access FL-PML4 entry",
  0x74: "SM: First-level entry address beyond MGAW in Nested translation",
  0x75: "SM: Read permission error in FL-PML4 entry in Nested translation",
  0x76: "SM: Read permission error in first-level paging entry in Nested translation",
  0x77: "SM: Write permission error in first-level paging entry in Nested translation",
  0x78: "SM: Error attempting to access second-level paging entry",
  0x79: "SM: Read/Write permission error in second-level paging entry",
  0x7a: "SM: Non-zero reserved field set in second-level paging entry",
  0x7b: "SM: Invalid second-level page table pointer",
  0x7c: "SM: A/D bit update needed in second-level entry when set up in no snoop",
  0x80: "SM: Address in first-level translation is not canonical",
  0x81: "SM: U/S set 0 for first-level translation with user privilege",
  0x82: "SM: No execute permission for request with PASID and ER=1",
  0x83: "SM: Address beyond the DMA hardware max",
  0x84: "SM: Second-level entry address beyond the max",
  0x85: "SM: No write permission for Write/AtomicOp request",
  0x86: "SM: No read permission for Read/AtomicOp request",
  0x87: "SM: Invalid address-interrupt address",
  0x90: "SM: A/D bit update needed in first-level entry when set up in no snoop",
};

describe("Linux fault reason strings", () => {
  it("every code of the Linux tables has its exact text", () => {
    for (const [code, text] of Object.entries(LINUX)) expect(faultReasonInfo(Number(code)).linuxText, `0x${Number(code).toString(16)}`).toBe(text);
  });

  it("the set of codes with a real string is exactly the Linux tables", () => {
    expect(knownLinuxReasonCodes()).toEqual(Object.keys(LINUX).map(Number).sort((a, b) => a - b));
  });

  it("the SM table has 97 entries (0x30..0x90) as in dmar.c", () => {
    expect(DMA_REMAP_SM_FAULT_REASONS.length).toBe(0x91 - 0x30);
  });

  it.each([0x0e, 0x1f, 0x27, 0x33, 0x91, 0xff, 0x0f, 0x2f, 0x3b, 0x4f, 0x6f, 0x7d, 0x88, 0x8f])("0x%s prints Unknown", (code) => {
    expect(faultReasonInfo(code).linuxText).toBe("Unknown");
  });

  it("classifies like dmar_get_fault_reason(): IR 0x20..0x26, SM holes stay DMA_REMAP, the rest UNKNOWN", () => {
    for (let c = 0; c < 0x100; c++) {
      const k = faultReasonInfo(c).kind;
      if (c >= 0x20 && c <= 0x26) expect(k).toBe("intr-remap");
      else if (c <= 0x0d || (c >= 0x30 && c <= 0x90)) expect(k).toBe("dma");
      else expect(k, `0x${c.toString(16)}`).toBe("unknown");
    }
    expect(faultReasonInfo(0x33)).toMatchObject({ linuxText: "Unknown", kind: "dma" });
    expect(faultReasonInfo(0x0e)).toMatchObject({ linuxText: "Unknown", kind: "unknown" });
  });

  it("kernels before the SM table print Unknown for SM codes", () => {
    expect(dmarGetFaultReason(0x59, false)).toEqual({ text: "Unknown", kind: "unknown" });
    expect(dmarGetFaultReason(0x59, true)).toEqual({ text: "SM: Present bit in PASID Table Entry is clear", kind: "dma" });
    expect(dmarGetFaultReason(0x22, false).kind).toBe("intr-remap");
    expect(dmarGetFaultReason(0x05, false).text).toBe("PTE Write access is not set");
  });

  it("treats the code as the u8 it is in C", () => {
    expect(faultReasonInfo(0x105)).toMatchObject({ code: 0x05, linuxText: "PTE Write access is not set" });
  });
});

describe("QEMU names", () => {
  it("constants carry QEMU's values", () => {
    expect([VTD_FR_ROOT_ENTRY_P, VTD_FR_WRITE, VTD_FR_PAGING_ENTRY_RSVD, VTD_FR_CONTEXT_ENTRY_TT, VTD_FR_INTERRUPT_ADDR, VTD_FR_IR_SID_ERR, VTD_FR_FS_BIT_UPDATE_FAILED]).toEqual([
      0x01, 0x05, 0x0c, 0x0d, 0x0e, 0x26, 0x91,
    ]);
  });

  it.each([
    [0x00, "VTD_FR_RESERVED"],
    [0x01, "VTD_FR_ROOT_ENTRY_P"],
    [0x02, "VTD_FR_CONTEXT_ENTRY_P"],
    [0x03, "VTD_FR_CONTEXT_ENTRY_INV"],
    [0x04, "VTD_FR_ADDR_BEYOND_MGAW"],
    [0x05, "VTD_FR_WRITE"],
    [0x06, "VTD_FR_READ"],
    [0x07, "VTD_FR_PAGING_ENTRY_INV"],
    [0x08, "VTD_FR_ROOT_TABLE_INV"],
    [0x09, "VTD_FR_CONTEXT_TABLE_INV"],
    [0x0a, "VTD_FR_ROOT_ENTRY_RSVD"],
    [0x0b, "VTD_FR_CONTEXT_ENTRY_RSVD"],
    [0x0c, "VTD_FR_PAGING_ENTRY_RSVD"],
    [0x0d, "VTD_FR_CONTEXT_ENTRY_TT"],
    [0x0e, "VTD_FR_INTERRUPT_ADDR"],
    [0x20, "VTD_FR_IR_REQ_RSVD"],
    [0x21, "VTD_FR_IR_INDEX_OVER"],
    [0x22, "VTD_FR_IR_ENTRY_P"],
    [0x23, "VTD_FR_IR_ROOT_INVAL"],
    [0x24, "VTD_FR_IR_IRTE_RSVD"],
    [0x25, "VTD_FR_IR_REQ_COMPAT"],
    [0x26, "VTD_FR_IR_SID_ERR"],
    [0x50, "VTD_FR_PASID_DIR_ACCESS_ERR"],
    [0x51, "VTD_FR_PASID_DIR_ENTRY_P"],
    [0x58, "VTD_FR_PASID_TABLE_ACCESS_ERR"],
    [0x59, "VTD_FR_PASID_ENTRY_P"],
    [0x5b, "VTD_FR_PASID_TABLE_ENTRY_INV"],
    [0x70, "VTD_FR_FS_PAGING_ENTRY_INV"],
    [0x71, "VTD_FR_FS_PAGING_ENTRY_P"],
    [0x72, "VTD_FR_FS_PAGING_ENTRY_RSVD"],
    [0x73, "VTD_FR_PASID_ENTRY_FSPTPTR_INV"],
    [0x80, "VTD_FR_FS_NON_CANONICAL"],
    [0x81, "VTD_FR_FS_PAGING_ENTRY_US"],
    [0x85, "VTD_FR_SM_WRITE"],
    [0x87, "VTD_FR_SM_INTERRUPT_ADDR"],
    [0x91, "VTD_FR_FS_BIT_UPDATE_FAILED"],
  ])("0x%s is %s", (code, name) => {
    expect(faultReasonInfo(code).name).toBe(name);
  });

  it("codes QEMU never records have no name", () => {
    expect(faultReasonInfo(0x30).name).toBe("");
    expect(faultReasonInfo(0xff).name).toBe("");
  });
});

describe("explanations", () => {
  it("every code has a non-empty, sentence-shaped explanation", () => {
    for (let c = 0; c < 0x100; c++) {
      const e = faultReasonInfo(c).explanation;
      expect(e.length).toBeGreaterThan(10);
      expect(e.endsWith(".")).toBe(true);
    }
  });

  it("the QEMU-only codes say that Linux prints Unknown", () => {
    expect(faultReasonInfo(0x0e).explanation).toContain("Unknown");
    expect(faultReasonInfo(0x91).explanation).toContain("Unknown");
  });
});
