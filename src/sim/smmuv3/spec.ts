/**
 * Arm SMMUv3 architecture constants: register offsets, stream table entry (STE) and context
 * descriptor (CD) fields, command opcodes, event ids — named as the SMMUv3 architecture
 * specification (Arm IHI 0070, "SMMUv3 spec" below) and Linux's
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h name them, with the field decoders every view uses.
 *
 * Bit numbers of 512-bit structures (STE, CD) count across the 64-bit words as the spec writes
 * them: word n bit b is bit 64n+b ("S2VMID [143:128]").
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { DecodedField } from "../iommu.js";

// ---------------------------------------------------------------- registers (SMMUv3 spec 6.3)
// Offsets: Linux arm-smmu-v3.h ARM_SMMU_IDR0 .. ARM_SMMU_EVTQ_CONS (EVTQ_PROD/CONS live in page 1, +0x10000).
export const SMMU_IDR0 = 0x0;
export const SMMU_IDR1 = 0x4;
export const SMMU_IDR5 = 0x14;
export const SMMU_CR0 = 0x20;
export const SMMU_CR0ACK = 0x24;
export const SMMU_GBPA = 0x44;
export const SMMU_GERROR = 0x60;
export const SMMU_GERRORN = 0x64;
export const SMMU_STRTAB_BASE = 0x80;
export const SMMU_STRTAB_BASE_CFG = 0x88;
export const SMMU_CMDQ_BASE = 0x90;
export const SMMU_CMDQ_PROD = 0x98;
export const SMMU_CMDQ_CONS = 0x9c;
export const SMMU_EVTQ_BASE = 0xa0;
export const SMMU_EVTQ_PROD = 0x100a8;
export const SMMU_EVTQ_CONS = 0x100ac;
/** ARM_SMMU_PRIQ_BASE / _PROD / _CONS (PROD and CONS in page 1, as the event queue's). */
export const SMMU_PRIQ_BASE = 0xc0;
export const SMMU_PRIQ_PROD = 0x100c8;
export const SMMU_PRIQ_CONS = 0x100cc;

/** CR0 bits (arm-smmu-v3.h CR0_SMMUEN, CR0_EVTQEN, CR0_CMDQEN). */
export const CR0_SMMUEN = 1;
export const CR0_EVTQEN = 1 << 2;
/** CR0.PRIQEN (bit 1) and SMMU_IDR0.PRI (bit 16) (arm-smmu-v3.h CR0_PRIQEN, IDR0_PRI). */
export const CR0_PRIQEN = 1 << 1;
export const IDR0_PRI = 1 << 16;
/** SMMU_IDR0.CD2L (bit 19, arm-smmu-v3.h IDR0_CD2L): 2-level context descriptor tables. */
export const IDR0_CD2L = 1 << 19;
/**
 * Context descriptor tables (SMMUv3 spec 5.3; arm-smmu-v3.h): STE.S1Fmt 0b00 linear (2^S1CDMax
 * CDs), 0b01 2-level with 4 KiB leaf tables (L1 index SSID[n:6], 64 CDs per leaf), 0b10 2-level
 * with 64 KiB leaf tables (SSID[n:10], 1024 CDs: Linux's STRTAB_STE_0_S1FMT_64K_L2 with
 * CTXDESC_L2_ENTRIES 1024). An L1CD descriptor is one dword: V [0] (CTXDESC_L1_DESC_V), L2Ptr
 * [51:12] (CTXDESC_L1_DESC_L2PTR_MASK); an invalid one makes its SubstreamIDs C_BAD_SUBSTREAMID.
 */
export const S1FMT_LINEAR = 0;
export const S1FMT_4K_L2 = 1;
export const S1FMT_64K_L2 = 2;
export const CTXDESC_L2_ENTRIES = 1024;
export const L1CD_V = 1n;
/** The split (leaf-table index bits) of a 2-level CD table format. */
export function cdSplit(s1Fmt: number): number {
  return s1Fmt === S1FMT_4K_L2 ? 6 : 10;
}
/**
 * PRI queue entry, 16 bytes (arm-smmu-v3.h PRIQ_ENT_SZ_SHIFT 4): dword 0 SID [31:0], SSID [51:32],
 * PERM_PRIV 58, PERM_EXEC 59, PERM_READ 60, PERM_WRITE 61, PRG_LAST 62, SSID_V 63; dword 1
 * PRG_IDX [8:0], ADDR [63:12]. CMD_PRI_RESP: SSID [31:12], SSV 11, SID [63:32]; GRPID [8:0] and
 * RESP [13:12] of dword 1 (CMDQ_PRI_*; enum pri_resp: PRI_RESP_DENY 0, _FAIL 1, _SUCC 2).
 */
export const PRI_RESP_DENY = 0;
export const PRI_RESP_FAIL = 1;
export const PRI_RESP_SUCC = 2;
export const CR0_CMDQEN = 1 << 3;
/** GBPA.ABORT (bit 20): with SMMUEN = 0, incoming transactions abort instead of bypassing. */
export const GBPA_ABORT = 1 << 20;
/** GERROR.CMDQ_ERR (bit 0). */
export const GERROR_CMDQ_ERR = 1;
/** STRTAB_BASE_CFG.FMT (bits 17:16): 0 linear, 1 2-level. */
export const STRTAB_FMT_LINEAR = 0;
export const STRTAB_FMT_2LVL = 1;
/** Linux STRTAB_SPLIT: 8 (256 STEs per level-2 table, one PCI bus). */
export const STRTAB_SPLIT = 8;
/** Queue PROD/CONS overflow flag (Q_OVERFLOW_FLAG, bit 31) and CMDQ_CONS.ERR (bits 30:24). */
export const Q_OVF = 0x80000000;
export const CMDQ_CONS_ERR_SHIFT = 24;
/** CMDQ_CONS.ERR codes (arm-smmu-v3.h CMDQ_ERR_CERROR_*_IDX). */
export const CERROR_NONE = 0;
export const CERROR_ILL = 1;
export const CERROR_ABT = 2;

/**
 * The software-managed MSI window Linux's arm-smmu-v3 reserves in every domain's IOVA space
 * (arm-smmu-v3.c arm_smmu_get_resv_regions: iommu_alloc_resv_region(MSI_IOVA_BASE,
 * MSI_IOVA_LENGTH, prot, IOMMU_RESV_SW_MSI); MSI_IOVA_BASE 0x8000000, MSI_IOVA_LENGTH 0x100000 in
 * arm-smmu-v3.h): dma-iommu maps the GIC ITS doorbell there (iommu_dma_prepare_msi), and VFIO
 * refuses VFIO_IOMMU_MAP_DMA over it.
 */
export const MSI_IOVA_BASE = 0x8000000;
export const MSI_IOVA_LENGTH = 0x100000;

// ---------------------------------------------------------------- STE (SMMUv3 spec 5.2)
/** STE.Config (bits 3:1) values (arm-smmu-v3.h STRTAB_STE_0_CFG_*; 0b111 nested). */
export const STE_CFG_ABORT = 0;
export const STE_CFG_BYPASS = 4;
export const STE_CFG_S1 = 5;
export const STE_CFG_S2 = 6;
export const STE_CFG_NESTED = 7;
/** STE size: 64 bytes (STRTAB_STE_DWORDS 8); CD size: 64 bytes (CTXDESC_CD_DWORDS 8). */
export const STE_BYTES = 64;
export const CD_BYTES = 64;

// ---------------------------------------------------------------- commands (SMMUv3 spec 4)
/** Command opcodes (arm-smmu-v3.h CMDQ_OP_*). */
export const CMD_PREFETCH_CFG = 0x01;
export const CMD_CFGI_STE = 0x03;
export const CMD_CFGI_ALL = 0x04;
export const CMD_CFGI_CD = 0x05;
export const CMD_CFGI_CD_ALL = 0x06;
export const CMD_TLBI_NH_ALL = 0x10;
export const CMD_TLBI_NH_ASID = 0x11;
export const CMD_TLBI_NH_VA = 0x12;
export const CMD_TLBI_NH_VAA = 0x13;
export const CMD_TLBI_EL2_ALL = 0x20;
export const CMD_TLBI_S12_VMALL = 0x28;
export const CMD_TLBI_S2_IPA = 0x2a;
export const CMD_TLBI_NSNH_ALL = 0x30;
export const CMD_SYNC = 0x46;
/**
 * Stall model commands (SMMUv3 spec 4.7; Linux arm-smmu-v3.h CMDQ_OP_RESUME 0x44; QEMU
 * hw/arm/smmuv3-internal.h SMMU_CMD_RESUME 0x44, SMMU_CMD_STALL_TERM 0x45, SMMU_CMD_PRI_RESP 0x41).
 * CMD_RESUME: SID [63:32] (CMDQ_RESUME_0_SID), RESP [13:12] (CMDQ_RESUME_0_RESP), STAG [15:0] of
 * dword 1 (CMDQ_RESUME_1_STAG). CMD_STALL_TERM: SID [63:32].
 */
export const CMD_PRI_RESP = 0x41;
export const CMD_RESUME = 0x44;
export const CMD_STALL_TERM = 0x45;
/**
 * Every opcode of SMMUv3 spec chapter 4 by its spec name (QEMU hw/arm/smmuv3-internal.h
 * SMMUCommandType has the same codes; 0x04 is CMD_CFGI_STE_RANGE, Linux's CMDQ_OP_CFGI_ALL is it
 * with Range 31).
 */
export const COMMAND_NAMES: Readonly<Record<number, string>> = {
  0x01: "CMD_PREFETCH_CONFIG",
  0x02: "CMD_PREFETCH_ADDR",
  0x03: "CMD_CFGI_STE",
  0x04: "CMD_CFGI_STE_RANGE",
  0x05: "CMD_CFGI_CD",
  0x06: "CMD_CFGI_CD_ALL",
  0x10: "CMD_TLBI_NH_ALL",
  0x11: "CMD_TLBI_NH_ASID",
  0x12: "CMD_TLBI_NH_VA",
  0x13: "CMD_TLBI_NH_VAA",
  0x18: "CMD_TLBI_EL3_ALL",
  0x1a: "CMD_TLBI_EL3_VA",
  0x20: "CMD_TLBI_EL2_ALL",
  0x21: "CMD_TLBI_EL2_ASID",
  0x22: "CMD_TLBI_EL2_VA",
  0x23: "CMD_TLBI_EL2_VAA",
  0x28: "CMD_TLBI_S12_VMALL",
  0x2a: "CMD_TLBI_S2_IPA",
  0x30: "CMD_TLBI_NSNH_ALL",
  0x40: "CMD_ATC_INV",
  0x41: "CMD_PRI_RESP",
  0x44: "CMD_RESUME",
  0x45: "CMD_STALL_TERM",
  0x46: "CMD_SYNC",
};
/** CMDQ_RESUME_0_RESP_TERM / _RETRY / _ABORT (arm-smmu-v3.h): the spec's Ac (bit 12) and Ab (bit 13). */
export const RESUME_TERM = 0;
export const RESUME_RETRY = 1;
export const RESUME_ABORT = 2;
/**
 * SMMU_IDR0.STALL_MODEL [25:24] (SMMUv3 spec 6.3.1; arm-smmu-v3.h IDR0_STALL_MODEL,
 * IDR0_STALL_MODEL_STALL 0, IDR0_STALL_MODEL_FORCE 2): 0b00 stall and terminate, 0b01 terminate
 * only (no stall: QEMU's smmuv3_init_regs sets it), 0b10 stall forced.
 */
export const STALL_MODEL_STALL = 0;
export const STALL_MODEL_NONE = 1;
export const STALL_MODEL_FORCE = 2;

// ---------------------------------------------------------------- events (SMMUv3 spec 7.3)
/** Event ids (SMMUv3 spec 7.3; arm-smmu-v3.h EVT_ID_* where Linux has a macro). */
export const F_UUT = 0x01;
export const C_BAD_STREAMID = 0x02;
export const F_STE_FETCH = 0x03;
export const C_BAD_STE = 0x04;
export const F_BAD_ATS_TREQ = 0x05;
export const F_STREAM_DISABLED = 0x06;
export const F_TRANSL_FORBIDDEN = 0x07;
export const C_BAD_SUBSTREAMID = 0x08;
export const F_CD_FETCH = 0x09;
export const C_BAD_CD = 0x0a;
export const F_WALK_EABT = 0x0b;
export const F_TRANSLATION = 0x10;
export const F_ADDR_SIZE = 0x11;
export const F_ACCESS = 0x12;
export const F_PERMISSION = 0x13;
export const F_TLB_CONFLICT = 0x20;
export const F_CFG_CONFLICT = 0x21;
export const F_VMS_FETCH = 0x25;
/**
 * Not an event: STE.Config = 0b000 (abort) or GBPA.ABORT terminate a transaction without
 * recording anything (SMMUv3 spec 5.2, STE.Config). The model's verdict needs a reason code for
 * it; 0x100 is outside the 8-bit event id space, so it can never be mistaken for an event.
 */
export const ABORT_NO_EVENT = 0x100;

export interface EventInfo {
  id: number;
  /** The spec's name. */
  name: string;
  /** Linux's event_str[] entry, undefined where Linux prints "UNKNOWN" (no EVT_ID_* macro). */
  linux?: string;
  explanation: string;
}

const E = (id: number, name: string, linux: boolean, explanation: string): EventInfo => ({ id, name, ...(linux ? { linux: name } : {}), explanation });

/** The event table: names from the SMMUv3 spec 7.3, Linux's event_str[] (arm-smmu-v3.c) where it has them. */
export const EVENTS: readonly EventInfo[] = [
  E(F_UUT, "F_UUT", false, "Unsupported upstream transaction: the transaction's attributes are not supported."),
  E(C_BAD_STREAMID, "C_BAD_STREAMID", true, "The StreamID is outside the stream table (beyond STRTAB_BASE_CFG.LOG2SIZE), or its level-1 stream table descriptor is invalid (Span = 0) or does not cover it."),
  E(F_STE_FETCH, "F_STE_FETCH", true, "Fetching the STE got an external abort: the stream table (or its level-2 table) is not at readable memory."),
  E(C_BAD_STE, "C_BAD_STE", true, "The STE is invalid (V = 0) or its configuration is illegal (reserved Config, S2T0SZ/S2SL0/S2TG inconsistent, ...)."),
  E(F_BAD_ATS_TREQ, "F_BAD_ATS_TREQ", false, "An ATS translation request the STE does not allow."),
  E(F_STREAM_DISABLED, "F_STREAM_DISABLED", true, "A transaction with a SubstreamID while substreams are disabled for the stream (S1CDMax = 0) and S1DSS does not allow it."),
  E(F_TRANSL_FORBIDDEN, "F_TRANSL_FORBIDDEN", false, "A translated (ATS) transaction the STE forbids."),
  E(C_BAD_SUBSTREAMID, "C_BAD_SUBSTREAMID", true, "The SubstreamID (PASID) is beyond the CD table (2^S1CDMax entries)."),
  E(F_CD_FETCH, "F_CD_FETCH", true, "Fetching the context descriptor got an external abort: S1ContextPtr does not point at readable memory."),
  E(C_BAD_CD, "C_BAD_CD", true, "The context descriptor is invalid (V = 0) or illegal (AA64 = 0, reserved TG0, T0SZ out of range, S = 1 where the SMMU cannot stall or STE.S1STALLD = 1, ...)."),
  E(F_WALK_EABT, "F_WALK_EABT", false, "A translation table walk read got an external abort: a table descriptor points at memory that is not there."),
  E(F_TRANSLATION, "F_TRANSLATION", true, "Translation fault: the walk found an invalid descriptor, or the address is outside the range of the translation table (T0SZ / S2T0SZ)."),
  E(F_ADDR_SIZE, "F_ADDR_SIZE", true, "Address size fault: a table or output address is wider than the configured output size (CD.IPS / STE.S2PS, capped at SMMU_IDR5.OAS)."),
  E(F_ACCESS, "F_ACCESS", true, "Access flag fault: the leaf descriptor has AF = 0 and the access flag is not updated by hardware (HA = 0) nor fault-disabled (AFFD = 0)."),
  E(F_PERMISSION, "F_PERMISSION", true, "Permission fault: the descriptor's AP (stage 1) or S2AP (stage 2) bits, or XN, do not allow the access."),
  E(F_TLB_CONFLICT, "F_TLB_CONFLICT", false, "TLB conflict: more than one cached translation matches the address (a break-before-make violation)."),
  E(F_CFG_CONFLICT, "F_CFG_CONFLICT", false, "Configuration cache conflict."),
  E(F_VMS_FETCH, "F_VMS_FETCH", true, "Fetching the virtual machine structure got an external abort."),
];

export function eventInfo(id: number): EventInfo {
  if (id === ABORT_NO_EVENT) return { id, name: "abort", explanation: "The stream's STE says Config = 0b000 (abort), or the SMMU is disabled with GBPA.ABORT = 1: the transaction is terminated and no event is recorded." };
  return EVENTS.find((e) => e.id === id) ?? { id, name: `event 0x${id.toString(16).padStart(2, "0")}`, explanation: "An event id the SMMUv3 architecture reserves." };
}

// ---------------------------------------------------------------- field decoding

const hex = (v: bigint) => `0x${v.toString(16)}`;

function bits(words: readonly bigint[], hi: number, lo: number): bigint {
  const w = Math.floor(lo / 64);
  const v = words[w] ?? 0n;
  const b = BigInt(lo - w * 64);
  return (v >> b) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

type FieldSpec = [name: string, hi: number, lo: number, kind?: "addr" | ((v: bigint) => string | undefined)];

function decode(words: readonly bigint[], specs: readonly FieldSpec[]): DecodedField[] {
  return specs.map(([name, hi, lo, kind]) => {
    let raw = bits(words, hi, lo);
    let value: string;
    let meaning: string | undefined;
    if (kind === "addr") {
      // An address field keeps its bit position: the field [51:4] is address bits 51:4.
      raw = raw << BigInt(lo % 64);
      value = hex(raw);
    } else {
      value = hi - lo >= 8 ? hex(raw) : raw.toString();
      meaning = kind?.(raw);
    }
    return { name, hi, lo, raw, value, ...(meaning !== undefined ? { meaning } : {}) };
  });
}

/** STE.Config as text. */
export function steConfigName(cfg: number): string {
  switch (cfg) {
    case STE_CFG_ABORT:
      return "abort";
    case STE_CFG_BYPASS:
      return "bypass";
    case STE_CFG_S1:
      return "stage 1 translate, stage 2 bypass";
    case STE_CFG_S2:
      return "stage 1 bypass, stage 2 translate";
    case STE_CFG_NESTED:
      return "stage 1 and stage 2 (nested)";
    default:
      return "reserved";
  }
}

const yes = (v: bigint) => (v === 1n ? "set" : undefined);
/** Output/physical address size encodings (SMMU_IDR5.OAS, CD.IPS, STE.S2PS): 32, 36, 40, 42, 44, 48, 52 bits. */
export const PA_SIZES = [32, 36, 40, 42, 44, 48, 52] as const;
export function paSizeBits(enc: number): number {
  return PA_SIZES[Math.min(enc, 6)] ?? 52;
}
const paSize = (v: bigint) => (v <= 6n ? `${paSizeBits(Number(v))}-bit` : "reserved");
const granule = (v: bigint) => (v === 0n ? "4 KiB" : v === 1n ? "64 KiB" : v === 2n ? "16 KiB" : "reserved");

const S1_ONLY = new Set(["S1Fmt", "S1ContextPtr", "S1CDMax", "S1DSS"]);
const S2_ONLY = new Set(["S2T0SZ", "S2SL0", "S2TG", "S2PS", "S2AA64", "S2AFFD", "S2PTW", "S2S", "S2R", "S2TTB"]);

/**
 * The fields of an STE (SMMUv3 spec 5.2), low bits first. A valid STE shows the fields of the
 * stages its Config uses (a stage-1-only STE's stage-2 fields are not read by the SMMU).
 */
export function steFields(words: readonly bigint[]): DecodedField[] {
  const all = steAllFields(words);
  const w0 = words[0] ?? 0n;
  if ((w0 & 1n) === 0n) return all;
  const cfg = Number((w0 >> 1n) & 7n);
  const s1 = cfg === STE_CFG_S1 || cfg === STE_CFG_NESTED;
  const s2 = cfg === STE_CFG_S2 || cfg === STE_CFG_NESTED;
  return all.filter((f) => (s1 || !S1_ONLY.has(f.name)) && (s2 || !S2_ONLY.has(f.name)));
}

function steAllFields(words: readonly bigint[]): DecodedField[] {
  return decode(words, [
    ["V", 0, 0, (v) => (v === 1n ? "valid" : "invalid: C_BAD_STE")],
    ["Config", 3, 1, (v) => steConfigName(Number(v))],
    ["S1Fmt", 5, 4, (v) => (v === 0n ? "linear CD table" : v === 1n ? "2-level, 4 KiB leaf tables" : v === 2n ? "2-level, 64 KiB leaf tables" : "reserved")],
    ["S1ContextPtr", 51, 6, "addr"],
    ["S1CDMax", 63, 59, (v) => (v === 0n ? "substreams disabled" : `${1n << v} CDs`)],
    ["S1DSS", 65, 64, (v) => (v === 0n ? "terminate" : v === 1n ? "bypass" : v === 2n ? "substream 0" : "reserved")],
    ["S1STALLD", 91, 91, (v) => (v === 1n ? "stage-1 stalls disabled: CD.S = 1 is C_BAD_CD" : undefined)],
    ["EATS", 93, 92, (v) => (v === 0n ? "ATS abort" : v === 1n ? "ATS full" : v === 2n ? "ATS split-stage" : "reserved")],
    ["STRW", 95, 94, (v) => (v === 0n ? "NS-EL1" : v === 2n ? "EL2" : "reserved")],
    ["S2VMID", 143, 128],
    ["S2T0SZ", 165, 160, (v) => `${64n - v}-bit IPA`],
    ["S2SL0", 167, 166, (v) => `start level ${v === 0n ? 2 : v === 1n ? 1 : v === 2n ? 0 : "reserved"} (4 KiB granule)`],
    ["S2TG", 175, 174, granule],
    ["S2PS", 178, 176, paSize],
    ["S2AA64", 179, 179, (v) => (v === 1n ? "AArch64 tables" : "AArch32 (LPAE) tables")],
    ["S2AFFD", 181, 181, (v) => (v === 1n ? "access flag faults disabled" : undefined)],
    ["S2PTW", 182, 182, yes],
    ["S2S", 185, 185, (v) => (v === 1n ? "stage-2 faults stall" : undefined)],
    ["S2R", 186, 186, (v) => (v === 1n ? "record faults" : "faults not recorded")],
    ["S2TTB", 243, 196, "addr"],
  ]);
}

/** The fields of a context descriptor (SMMUv3 spec 5.4), low bits first. */
export function cdFields(words: readonly bigint[]): DecodedField[] {
  return decode(words, [
    ["T0SZ", 5, 0, (v) => `${64n - v}-bit input`],
    ["TG0", 7, 6, granule],
    // TCR fields of the walk's own memory accesses (arm-smmu-v3.h CTXDESC_CD_0_TCR_IRGN0 [9:8], ORGN0 [11:10], SH0 [13:12], EPD1 [30]).
    ["IRGN0", 9, 8, cacheability],
    ["ORGN0", 11, 10, cacheability],
    ["SH0", 13, 12, (v) => ["non-shareable", "reserved", "outer shareable", "inner shareable"][Number(v)]],
    ["EPD0", 14, 14, (v) => (v === 1n ? "TTB0 walks disabled" : undefined)],
    ["EPD1", 30, 30, (v) => (v === 1n ? "TTB1 walks disabled" : undefined)],
    ["V", 31, 31, (v) => (v === 1n ? "valid" : "invalid: C_BAD_CD")],
    ["IPS", 34, 32, paSize],
    ["AFFD", 35, 35, (v) => (v === 1n ? "access flag faults disabled" : undefined)],
    ["AA64", 41, 41, (v) => (v === 1n ? "AArch64" : "AArch32: C_BAD_CD here")],
    ["HD", 42, 42, yes],
    ["HA", 43, 43, (v) => (v === 1n ? "hardware access flag update" : undefined)],
    ["S", 44, 44, (v) => (v === 1n ? "stall" : undefined)],
    ["R", 45, 45, (v) => (v === 1n ? "record faults" : "faults not recorded")],
    ["A", 46, 46, (v) => (v === 1n ? "abort on fault" : undefined)],
    ["ASET", 47, 47, (v) => (v === 1n ? "private ASID" : "shared ASID")],
    ["ASID", 63, 48],
    ["TTB0", 115, 68, "addr"],
    // CD word 3: MAIR0 (Linux copies io-pgtable's MAIR for a DMA domain, the CPU's MAIR_EL1 for SVA).
    ["MAIR", 255, 192],
  ]);
}

/** IRGN0/ORGN0 (ARM_LPAE_TCR_RGN_*): 0 non-cacheable, 1 write-back write-allocate, 2 write-through, 3 write-back no write-allocate. */
function cacheability(v: bigint): string | undefined {
  return ["non-cacheable", "write-back, write-allocate", "write-through", "write-back, no write-allocate"][Number(v)];
}

/** The fields of a PRI queue entry (SMMUv3 spec 8.1), named as arm-smmu-v3.h's PRIQ_0_* / PRIQ_1_* are: dword 0 then dword 1. */
export function priqFields(e0: bigint, e1: bigint): DecodedField[] {
  return decode([e0, e1], [
    ["SID", 31, 0],
    ["SSID", 51, 32],
    ["PERM_PRIV", 58, 58, (v) => (v === 1n ? "privileged" : "unprivileged")],
    ["PERM_EXEC", 59, 59, yes],
    ["PERM_READ", 60, 60, yes],
    ["PERM_WRITE", 61, 61, yes],
    ["PRG_LAST", 62, 62, (v) => (v === 1n ? "last request of the group: answered with CMD_PRI_RESP" : undefined)],
    ["SSID_V", 63, 63, (v) => (v === 1n ? "SubstreamID valid" : undefined)],
    ["PRG_IDX", 72, 64],
    ["ADDR", 127, 76, "addr"],
  ]);
}

/** The fields of a level-1 context descriptor (L1CD, SMMUv3 spec 5.3; Linux CTXDESC_L1_DESC_*). */
export function l1CdFields(v: bigint): DecodedField[] {
  return decode([v], [
    ["V", 0, 0, (x) => (x === 1n ? "valid" : "invalid: C_BAD_SUBSTREAMID")],
    ["L2Ptr", 51, 12, "addr"],
  ]);
}

/** The fields of a level-1 stream table descriptor (SMMUv3 spec 5.1, Linux STRTAB_L1_DESC_*). */
export function l1DescFields(v: bigint): DecodedField[] {
  return decode([v], [
    ["Span", 4, 0, (s) => (s === 0n ? "invalid: C_BAD_STREAMID" : `${1n << (s - 1n)} STEs`)],
    ["L2Ptr", 51, 6, "addr"],
  ]);
}

/**
 * The fields of a stage-1 (s2 = false) or stage-2 VMSAv8-64 descriptor at `level` (Arm ARM D8.3),
 * for a granule of 2^granule bytes: addresses are bits [47:granule] of a table descriptor and
 * [47:shift of the level] of a leaf (4 KiB: 12/21/30; 16 KiB: 14/25; 64 KiB: 16/29).
 */
export function descriptorFields(v: bigint, level: number, s2: boolean, granule = 12): DecodedField[] {
  const leafLo = granule + (granule - 3) * (3 - level);
  const valid = (v & 1n) === 1n;
  if (!valid) return decode([v], [["valid", 0, 0, () => "invalid: F_TRANSLATION"]]);
  const table = (v & 2n) === 2n && level < 3;
  if (table) {
    return decode(
      [v],
      s2
        ? [
            ["valid", 0, 0],
            ["table", 1, 1, () => "table descriptor"],
            ["next-level table address", 47, granule, "addr"],
          ]
        : [
            ["valid", 0, 0],
            ["table", 1, 1, () => "table descriptor"],
            ["next-level table address", 47, granule, "addr"],
            ["PXNTable", 59, 59, yes],
            ["UXNTable", 60, 60, yes],
            ["APTable", 62, 61, (a) => (a === 0n ? undefined : `${a & 1n ? "no unprivileged access" : ""}${a === 3n ? ", " : ""}${a & 2n ? "no write" : ""} below`)],
          ],
    );
  }
  const type = level === 3 ? "page descriptor" : "block descriptor";
  return decode(
    [v],
    s2
      ? [
          ["valid", 0, 0],
          ["type", 1, 1, () => type],
          ["MemAttr", 5, 2],
          ["S2AP", 7, 6, (a) => ["none", "read-only", "write-only", "read/write"][Number(a)]],
          ["SH", 9, 8],
          ["AF", 10, 10, (a) => (a === 1n ? "accessed" : "0: F_ACCESS on use")],
          ["output address", 47, leafLo, "addr"],
          ["Contiguous", 52, 52, yes],
          ["XN", 54, 53, (x) => (x === 0n ? undefined : "execute never")],
        ]
      : [
          ["valid", 0, 0],
          ["type", 1, 1, () => type],
          ["AttrIndx", 4, 2],
          ["AP", 7, 6, (a) => ["privileged read/write", "read/write", "privileged read-only", "read-only"][Number(a)]],
          ["SH", 9, 8],
          ["AF", 10, 10, (a) => (a === 1n ? "accessed" : "0: F_ACCESS on use")],
          ["nG", 11, 11, yes],
          ["output address", 47, leafLo, "addr"],
          ["DBM", 51, 51, yes],
          ["Contiguous", 52, 52, yes],
          ["PXN", 53, 53, yes],
          ["UXN", 54, 54, yes],
        ],
  );
}

/** The spec's name of a descriptor the walk reads: "S1 L0 table descriptor", "S2 L3 page descriptor", "S1 L2 descriptor" (invalid). */
export function descriptorName(v: bigint | undefined, level: number, s2: boolean): string {
  const st = s2 ? "S2" : "S1";
  if (v === undefined || (v & 1n) === 0n) return `${st} L${level} descriptor`;
  const t = (v & 2n) === 2n;
  if (level === 3) return t ? `${st} L3 page descriptor` : `${st} L3 descriptor`;
  return `${st} L${level} ${t ? "table" : "block"} descriptor`;
}

/** The decoded event record (SMMUv3 spec 7.3; Linux arm_smmu_decode_event). */
export interface EventRecord {
  raw: readonly [bigint, bigint, bigint, bigint];
  id: number;
  sid: number;
  ssv: boolean;
  ssid: number;
  stag: number;
  stall: boolean;
  privileged: boolean;
  instruction: boolean;
  read: boolean;
  s2: boolean;
  /** CLASS: 0 CD fetch, 1 translation table fetch, 2 input address, 3 reserved. */
  cls: number;
  /** TT_READ, meaningful when CLASS = 1. */
  ttRead: boolean;
  inputAddr: bigint;
  /** IPA[51:12] of raw[3] (EVTQ_3_IPA). */
  ipa: bigint;
  /** FetchAddr[51:3] of raw[3] (EVTQ_3_FETCH_ADDR). */
  fetchAddr: bigint;
}

/** An event record's fields (Linux arm_smmu_decode_event: EVTQ_0_ID, EVTQ_0_SSV, EVTQ_0_SSID, EVTQ_0_SID, EVTQ_1_*, EVTQ_2_ADDR, EVTQ_3_IPA/FETCH_ADDR). */
export function decodeEvent(raw: readonly [bigint, bigint, bigint, bigint]): EventRecord {
  const [r0, r1, r2, r3] = raw;
  const b = (v: bigint, n: number) => ((v >> BigInt(n)) & 1n) === 1n;
  return {
    raw,
    id: Number(r0 & 0xffn),
    ssv: b(r0, 11),
    ssid: Number((r0 >> 12n) & 0xfffffn),
    sid: Number((r0 >> 32n) & 0xffffffffn),
    stag: Number(r1 & 0xffffn),
    stall: b(r1, 31),
    privileged: b(r1, 33),
    instruction: b(r1, 34),
    read: b(r1, 35),
    s2: b(r1, 39),
    cls: Number((r1 >> 40n) & 3n),
    ttRead: b(r1, 44),
    inputAddr: r2,
    ipa: r3 & 0x000ffffffffff000n,
    fetchAddr: r3 & 0x000ffffffffffff8n,
  };
}

/** The fields of an event record for the views (SMMUv3 spec 7.3). */
export function eventFields(raw: readonly [bigint, bigint, bigint, bigint]): DecodedField[] {
  return decode(raw, [
    ["EventID", 7, 0, (v) => eventInfo(Number(v)).name],
    ["SSV", 11, 11],
    ["SubstreamID", 31, 12],
    ["StreamID", 63, 32],
    ["STAG", 79, 64],
    ["Stall", 95, 95],
    ["PnU", 97, 97, (v) => (v === 1n ? "privileged" : "unprivileged")],
    ["InD", 98, 98, (v) => (v === 1n ? "instruction" : "data")],
    ["RnW", 99, 99, (v) => (v === 1n ? "read" : "write")],
    ["S2", 103, 103, (v) => (v === 1n ? "stage 2" : "stage 1")],
    ["CLASS", 105, 104, (v) => ["CD fetch", "translation table fetch", "input address", "reserved"][Number(v)]],
    ["InputAddr", 191, 128, "addr"],
    ["IPA / FetchAddr", 243, 195, "addr"],
  ]);
}
