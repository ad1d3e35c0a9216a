/**
 * AMD-Vi (AMD I/O Virtualization Technology) constants: MMIO registers, the device table entry,
 * the v1 I/O page table, commands and events. Bit positions are the AMD IOMMU specification's
 * (pub. 48882, "AMD I/O Virtualization Technology (IOMMU) Specification": §2.2.2 device table,
 * §2.2.3 I/O page tables, §2.4 commands, §2.5 event log, §3.4 MMIO registers) as Linux's
 * drivers/iommu/amd/amd_iommu_types.h names them (reference §4); QEMU's hw/i386/amd_iommu.[ch]
 * implements the same layout.
 *
 * Pure module: no vscode, no Node built-ins.
 */

// ---- MMIO registers (amd_iommu_types.h MMIO_*_OFFSET; spec §3.4)
export const MMIO_DEV_TABLE_OFFSET = 0x0000;
export const MMIO_CMD_BUF_OFFSET = 0x0008;
export const MMIO_EVT_BUF_OFFSET = 0x0010;
export const MMIO_CONTROL_OFFSET = 0x0018;
export const MMIO_EXCL_BASE_OFFSET = 0x0020;
export const MMIO_EXCL_LIMIT_OFFSET = 0x0028;
export const MMIO_EXT_FEATURES = 0x0030;
export const MMIO_CMD_HEAD_OFFSET = 0x2000;
export const MMIO_CMD_TAIL_OFFSET = 0x2008;
export const MMIO_EVT_HEAD_OFFSET = 0x2010;
export const MMIO_EVT_TAIL_OFFSET = 0x2018;
export const MMIO_STATUS_OFFSET = 0x2020;
/**
 * Where the simulated unit's register block sits (the trace's address of a register poke). The
 * IVHD's IOMMU Base Address is firmware's choice; 0xfeb80000 is QEMU's amd-iommu default
 * (hw/i386/amd_iommu.h AMDVI_BASE_ADDR).
 */
export const AMDVI_MMIO_BASE = 0xfeb80000n;

// ---- Control register bits (amd_iommu_types.h CONTROL_*)
export const CONTROL_IOMMU_EN = 0;
export const CONTROL_EVT_LOG_EN = 2;
export const CONTROL_EVT_INT_EN = 3;
export const CONTROL_COMWAIT_EN = 4;
export const CONTROL_CMDBUF_EN = 12;

// ---- Status register bits (amd_iommu_types.h MMIO_STATUS_*)
export const STATUS_EVT_OVERFLOW = 1 << 0;
export const STATUS_EVT_INT = 1 << 1;
export const STATUS_COM_WAIT_INT = 1 << 2;
export const STATUS_EVT_RUN = 1 << 3;
export const STATUS_CMDBUF_RUN = 1 << 4;

// ---- Device table entry: 256 bits, data[0..3] (reference §4.3; spec §2.2.2.1)
export const DTE_SIZE = 32;
/** data[0] bit 0: V; bit 1: TV; 11:9 Mode; 51:12 Page Table Root Pointer; 61 IR; 62 IW. */
export const DTE_V = 1;
export const DTE_TV = 2;
/** data[1] 15:0 DomainID; bit 33 SE; bit 34 SA (suppress all I/O page fault events). */
export const DTE_SA_HI = 1 << 2; // bit 34 of data[1] = bit 2 of its high dword
/**
 * Reserved bits of data[0] and data[1] that the model checks (ILLEGAL_DEV_TABLE_ENTRY when set
 * with V = 1 and TV = 1): data[0] bits 6:2 (between TV and HAD), data[1] bits 31:16 are GCR3
 * fields that need GV, so not checked. A Mode of 7 is reserved as well.
 */
export const DTE0_RESERVED_LO = 0x7c; // bits 6:2

// ---- v1 I/O page-table entries (spec §2.2.3; amd_iommu_types.h IOMMU_PTE_*, PM_*)
/** PR bit 0; Next Level 11:9; address 51:12; U bit 59; FC bit 60; IR bit 61; IW bit 62. */
export const PTE_PR = 1;
export const PTE_U_HI = 1 << 27;
export const PTE_FC_HI = 1 << 28;
export const PTE_IR_HI = 1 << 29;
export const PTE_IW_HI = 1 << 30;
/** Next Level 7: a large page whose size the address field encodes (spec Table 14). */
export const NEXT_LEVEL_LARGE = 7;

// ---- Commands (16 bytes; type in data[1] 31:28: amd_iommu_types.h CMD_*, CMD_SET_TYPE)
export const CMD_COMPL_WAIT = 0x01;
export const CMD_INV_DEV_ENTRY = 0x02;
export const CMD_INV_IOMMU_PAGES = 0x03;
export const CMD_INV_IOTLB_PAGES = 0x04;
export const CMD_INV_IRT = 0x05;
export const CMD_COMPLETE_PPR = 0x07;
export const CMD_INV_ALL = 0x08;
/**
 * The command names of AMD IOMMU spec 48882 section 2.4 (Table "Command Codes"), by opcode;
 * Linux's amd_iommu_types.h CMD_* are the same codes.
 */
export const COMMAND_NAMES: Readonly<Record<number, string>> = {
  0x01: "COMPLETION_WAIT",
  0x02: "INVALIDATE_DEVTAB_ENTRY",
  0x03: "INVALIDATE_IOMMU_PAGES",
  0x04: "INVALIDATE_IOTLB_PAGES",
  0x05: "INVALIDATE_INTERRUPT_TABLE",
  0x06: "PREFETCH_IOMMU_PAGES",
  0x07: "COMPLETE_PPR_REQUEST",
  0x08: "INVALIDATE_IOMMU_ALL",
};
/** COMPLETION_WAIT data[0] bit 0: store the data at the address (CMD_COMPL_WAIT_STORE_MASK). */
export const CMD_COMPL_WAIT_STORE = 0x01;
/** INVALIDATE_IOMMU_PAGES data[2] bits: S (size) 0, PDE 1, GN 2 (CMD_INV_IOMMU_PAGES_*_MASK). */
export const CMD_INV_PAGES_S = 0x01;
export const CMD_INV_PAGES_PDE = 0x02;
/** The "all pages" address with S = 1 (CMD_INV_IOMMU_ALL_PAGES_ADDRESS). */
export const CMD_INV_ALL_PAGES_ADDRESS = 0x7fffffffffffffffn;
/** Linux's buffers: CMD_BUFFER_SIZE and EVT_BUFFER_SIZE are 8192 bytes (512 entries of 16 bytes). */
export const CMD_BUFFER_SIZE = 8192;
export const EVT_BUFFER_SIZE = 8192;
export const ENTRY_SIZE = 16;

// ---- Events (type in event[1] 31:28; reference §4.1 table, amd_iommu_types.h EVENT_TYPE_*)
export const EVENT_TYPE_ILL_DEV = 0x1;
export const EVENT_TYPE_IO_FAULT = 0x2;
export const EVENT_TYPE_DEV_TAB_ERR = 0x3;
export const EVENT_TYPE_PAGE_TAB_ERR = 0x4;
export const EVENT_TYPE_ILL_CMD = 0x5;
export const EVENT_TYPE_CMD_HARD_ERR = 0x6;
export const EVENT_TYPE_IOTLB_INV_TO = 0x7;
export const EVENT_TYPE_INV_DEV_REQ = 0x8;
export const EVENT_TYPE_INV_PPR_REQ = 0x9;
export const EVENT_TYPE_RMP_FAULT = 0xd;
export const EVENT_TYPE_RMP_HW_ERR = 0xe;

/** Event flags (event[1] 27:16), IO_PAGE_FAULT's meanings (spec Table "IO_PAGE_FAULT Event"; Linux EVENT_FLAG_I 0x008, EVENT_FLAG_RW 0x020). */
export const EVENT_FLAG_GN = 0x001;
export const EVENT_FLAG_NX = 0x002;
export const EVENT_FLAG_US = 0x004;
export const EVENT_FLAG_I = 0x008;
export const EVENT_FLAG_PR = 0x010;
export const EVENT_FLAG_RW = 0x020;
export const EVENT_FLAG_PE = 0x040;
export const EVENT_FLAG_RZ = 0x080;
export const EVENT_FLAG_TR = 0x100;

export interface EventInfo {
  code: number;
  name: string;
  explanation: string;
}

const EVENTS: readonly EventInfo[] = [
  { code: EVENT_TYPE_ILL_DEV, name: "ILLEGAL_DEV_TABLE_ENTRY", explanation: "The device table entry of the requester has reserved bits set or an invalid Mode (7): the IOMMU cannot use it and aborts the request." },
  { code: EVENT_TYPE_IO_FAULT, name: "IO_PAGE_FAULT", explanation: "No translation allows the request: the page is not present (PR = 0), or it is present without the permission the request needs (PR = 1, PE = 1), or an entry's level encoding is invalid (RZ = 1)." },
  { code: EVENT_TYPE_DEV_TAB_ERR, name: "DEV_TAB_HARDWARE_ERROR", explanation: "Reading the device table entry failed: the device table is not readable memory." },
  { code: EVENT_TYPE_PAGE_TAB_ERR, name: "PAGE_TAB_HARDWARE_ERROR", explanation: "Reading a page-table entry failed: a table pointer leads outside readable memory." },
  { code: EVENT_TYPE_ILL_CMD, name: "ILLEGAL_COMMAND_ERROR", explanation: "The command buffer held a command with an unknown opcode or reserved bits set; the IOMMU stopped fetching commands." },
  { code: EVENT_TYPE_CMD_HARD_ERR, name: "COMMAND_HARDWARE_ERROR", explanation: "Fetching a command from the command buffer failed." },
  { code: EVENT_TYPE_IOTLB_INV_TO, name: "IOTLB_INV_TIMEOUT", explanation: "A device did not answer an ATS invalidation (INVALIDATE_IOTLB_PAGES) in time." },
  { code: EVENT_TYPE_INV_DEV_REQ, name: "INVALID_DEVICE_REQUEST", explanation: "The device made a request its device table entry does not allow (an ATS translation request without I = 1, a PASID without GV ...)." },
  { code: EVENT_TYPE_INV_PPR_REQ, name: "INVALID_PPR_REQUEST", explanation: "A peripheral page request the IOMMU could not accept." },
  { code: EVENT_TYPE_RMP_FAULT, name: "RMP_PAGE_FAULT", explanation: "A DMA to memory the SEV-SNP reverse map does not allow for this device." },
  { code: EVENT_TYPE_RMP_HW_ERR, name: "RMP_HW_ERROR", explanation: "Reading the SEV-SNP reverse map failed." },
];

export function eventInfo(code: number): EventInfo {
  return EVENTS.find((e) => e.code === code) ?? { code, name: "UNKNOWN", explanation: `Event code ${code} is not one the Linux driver names.` };
}

/** The IO_PAGE_FAULT flag bits as names, low bit first ("PR RW PE"). */
export function flagNames(flags: number): string[] {
  const names: [number, string][] = [
    [EVENT_FLAG_GN, "GN"],
    [EVENT_FLAG_NX, "NX"],
    [EVENT_FLAG_US, "US"],
    [EVENT_FLAG_I, "I"],
    [EVENT_FLAG_PR, "PR"],
    [EVENT_FLAG_RW, "RW"],
    [EVENT_FLAG_PE, "PE"],
    [EVENT_FLAG_RZ, "RZ"],
    [EVENT_FLAG_TR, "TR"],
  ];
  return names.filter(([b]) => (flags & b) !== 0).map(([, n]) => n);
}

/** Bytes a level-`level` entry maps (PTE_LEVEL_PAGE_SIZE with 1-based levels): 4 KiB at level 1. */
export function levelShift(level: number): number {
  return 12 + 9 * (level - 1);
}

// ---- v2 (guest) page tables and the GCR3 table (spec §2.2.2 DTE GV/GLX/GCR3, §2.2.6 guest
// translation; Linux amd_iommu_types.h DTE_FLAG_GV, DTE_FLAG_GIOV, DTE_GLX_*, DTE_GCR3_*, GCR3_VALID)
/** DTE data[0] bit 54 GIoV: requests without PASID use GCR3[0] (bit 22 of the high dword). */
export const DTE_GIOV_HI = 1 << 22;
/** DTE data[0] bit 55 GV: the GCR3 table is valid (bit 23 of the high dword). */
export const DTE_GV_HI = 1 << 23;
/** DTE data[0] 57:56 GLX: GCR3 table levels - 1 (bits 25:24 of the high dword). */
export const DTE_GLX_SHIFT_HI = 24;
/** DTE data[0] 60:58 GCR3[14:12] (DTE_GCR3_SHIFT_A 58: bits 28:26 of the high dword). */
export const DTE_GCR3_A_SHIFT_HI = 26;
/** DTE data[1] 31:16 GCR3[30:15] (DTE_GCR3_SHIFT_B 16). */
export const DTE_GCR3_B_SHIFT = 16;
/** DTE data[1] 63:43 GCR3[51:31] (DTE_GCR3_SHIFT_C 43: bits 31:11 of the high dword). */
export const DTE_GCR3_C_SHIFT_HI = 11;
/** A GCR3 table entry (8 bytes, one per PASID at the last level): bit 0 valid (GCR3_VALID), 51:12 the next table or the guest CR3. */
export const GCR3_VALID = 1;
/** Linux's GCR3 table covers max_pasids = min(IOMMU, device) PASIDs; the IOMMU's 16 bits (PASID_MASK 0xffff). */
export const AMD_PASID_BITS = 16;
/**
 * v2 page-table entries: the x86-64 long-mode format (drivers/iommu/amd/io_pgtable_v2.c
 * IOMMU_PAGE_*): P 0, R/W 1, U/S 2, PWT 3, PCD 4, A 5, D 6, PS 7 (a 2 MiB / 1 GiB leaf), NX 63.
 */
export const V2_P = 1 << 0;
export const V2_RW = 1 << 1;
export const V2_US = 1 << 2;
export const V2_A = 1 << 5;
export const V2_D = 1 << 6;
export const V2_PS = 1 << 7;
/** NX: bit 63 = bit 31 of the high dword. */
export const V2_NX_HI = 1 << 31;
/** v2 tables have 4 levels (io_pgtable_v2.c get_pgtable_level: PAGE_MODE_4_LEVEL; 5 levels not modelled). */
export const V2_LEVELS = 4;
/** INVALIDATE_IOMMU_PAGES data[2] bit 2 GN: the PASID in data[0] 19:0 names guest translations (CMD_INV_IOMMU_PAGES_GN_MASK). */
export const CMD_INV_PAGES_GN = 0x04;

// ---- PPR (peripheral page requests; spec 2.6 PPR log, 3.4 MMIO; Linux amd_iommu_types.h, ppr.c)
export const MMIO_PPR_LOG_OFFSET = 0x0038;
export const MMIO_PPR_HEAD_OFFSET = 0x2030;
export const MMIO_PPR_TAIL_OFFSET = 0x2038;
/** Control bits CONTROL_PPRLOG_EN 13, CONTROL_PPRINT_EN 14, CONTROL_PPR_EN 15. */
export const CONTROL_PPRLOG_EN = 13;
export const CONTROL_PPRINT_EN = 14;
export const CONTROL_PPR_EN = 15;
/** Status: PPROverflow bit 5, PPRInt bit 6 (MMIO_STATUS_PPR_INT_MASK), PPRLogRun bit 7. */
export const STATUS_PPR_OVERFLOW = 1 << 5;
export const STATUS_PPR_INT = 1 << 6;
export const STATUS_PPR_RUN = 1 << 7;
/** DTE data[0] bit 52 PPR (DTE_FLAG_PPR): the IOMMU accepts the device's page requests (bit 20 of the high dword). */
export const DTE_PPR_HI = 1 << 20;
/** A PPR log entry is 16 bytes; Linux's log has 512 (PPR_LOG_ENTRIES, PPR_LOG_SIZE_512 = 0x9 << 56). */
export const PPR_LOG_ENTRIES = 512;
/** PPR_REQ_TYPE 1: a page request (PPR_REQ_FAULT). */
export const PPR_REQ_FAULT = 0x1;
/** PPR entry flags (raw[0] 59:48; amd_iommu_types.h PPR_FLAG_*): EXEC 0x002, READ 0x004, WRITE 0x020, US 0x040 (1: user), RVSD 0x080, GN 0x100. */
export const PPR_FLAG_EXEC = 0x002;
export const PPR_FLAG_READ = 0x004;
export const PPR_FLAG_WRITE = 0x020;
export const PPR_FLAG_US = 0x040;
export const PPR_FLAG_GN = 0x100;
/**
 * The tag's bit 9 (raw[0] bit 41): the last request of its page request group (PCIe PRG "L");
 * build_complete_ppr sends back tag & 0x1ff, the PRG index without it.
 */
export const PPR_TAG_LAST = 0x200;
/** COMPLETE_PPR status (data[3] 15:12, PPR_STATUS_SHIFT 12): the iommu core's IOMMU_PAGE_RESP_SUCCESS 0, INVALID 1, FAILURE 2. */
export const PPR_STATUS_SUCCESS = 0;
export const PPR_STATUS_INVALID = 1;

// ---- GA log (guest virtual APIC log; AMD IOMMU spec 48882 2.2.5.3 "Guest Virtual APIC Log" and 3.4
// MMIO registers; Linux amd_iommu_types.h MMIO_GA_*, CONTROL_GA*, MMIO_STATUS_GALOG_*, GA_*; read in
// init.c iommu_ga_log_enable and iommu.c iommu_poll_ga_log)
/** GA Log Base Address (0xE0: base | GALogLen 59:56) and GA Log Tail Address (0xE8, where the IOMMU keeps a copy of the tail). */
export const MMIO_GA_LOG_BASE_OFFSET = 0x00e0;
export const MMIO_GA_LOG_TAIL_OFFSET = 0x00e8;
/** GA Log Head / Tail pointer registers (byte offsets into the log). */
export const MMIO_GA_HEAD_OFFSET = 0x2040;
export const MMIO_GA_TAIL_OFFSET = 0x2048;
/** Control GALogEn 28, GAIntEn 29 (CONTROL_GALOG_EN 0x1C, CONTROL_GAINT_EN 0x1D). */
export const CONTROL_GALOG_EN = 28;
export const CONTROL_GAINT_EN = 29;
/** Status GALogRun 8, GALogOverflow 9, GAInt 10 (MMIO_STATUS_GALOG_RUN_MASK, _OVERFLOW_MASK, _INT_MASK). */
export const STATUS_GALOG_RUN = 1 << 8;
export const STATUS_GALOG_OVERFLOW = 1 << 9;
export const STATUS_GALOG_INT = 1 << 10;
/**
 * Linux's GA log: GA_LOG_ENTRIES 512 of GA_ENTRY_SIZE 8 bytes (GA_LOG_SIZE 4096), programmed with
 * GA_LOG_SIZE_512 = 0x8 << 56; iommu_poll_ga_log wraps the head at GA_LOG_SIZE. So a GALogLen of 8
 * is 512 entries: entries = 2^(GALogLen + 1) (the encoding as Linux's constant names it; the spec's
 * table of the field was not found in the sources searched - the public-code index holds only
 * VirtualBox's GALOG_BAR_T, which names bits 59:56 GALogLen without their values - so only the
 * value 8 = 512 entries that Linux programs is confirmed).
 */
export const GA_LOG_ENTRIES = 512;
export const GA_ENTRY_SIZE = 8;
export const GA_LOG_LEN_512 = 0x8;
/**
 * A GA log entry (one qword): GA_TAG 31:0 (the IRTE's GATag), GA_DEVID 47:32 (the requester),
 * GA_REQ_TYPE 63:60; GA_GUEST_NR 0x1 - an interrupt for a guest whose vCPU is not running. Linux
 * hands a GA_GUEST_NR entry's tag to the notifier KVM registered (avic_ga_log_notifier) and ignores
 * every other type without a line (iommu_poll_ga_log's `default: break`).
 */
export const GA_GUEST_NR = 0x1;
