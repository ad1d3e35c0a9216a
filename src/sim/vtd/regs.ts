/**
 * VT-d remapping-unit registers: offsets, CAP/ECAP composition and decoding.
 * Offsets and fields: VT-d spec chapter 11; Linux drivers/iommu/intel/iommu.h @3af56d9611cf
 * (`DMAR_*_REG`, `cap_*`, `ecap_*`); QEMU hw/i386/intel_iommu_internal.h (`VTD_CAP_*`).
 * See ../shared/reference/iommu-reference.md sections 1.1 - 1.5.
 */
import type { IommuSpec } from "../../scenario/types.js";
import { formatSid } from "../bdf.js";
import { plural } from "../plural.js";

export const DMAR_VER_REG = 0x000;
export const DMAR_CAP_REG = 0x008;
export const DMAR_ECAP_REG = 0x010;
export const DMAR_GCMD_REG = 0x018;
export const DMAR_GSTS_REG = 0x01c;
export const DMAR_RTADDR_REG = 0x020;
export const DMAR_CCMD_REG = 0x028;
export const DMAR_FSTS_REG = 0x034;
export const DMAR_FECTL_REG = 0x038;
export const DMAR_FEDATA_REG = 0x03c;
export const DMAR_FEADDR_REG = 0x040;
export const DMAR_FEUADDR_REG = 0x044;
export const DMAR_IQH_REG = 0x080;
export const DMAR_IQT_REG = 0x088;
export const DMAR_IQA_REG = 0x090;
export const DMAR_ICS_REG = 0x09c;
export const DMAR_IQER_REG = 0x0b0;
/** Page request queue head, tail, address, status (Linux DMAR_PQH_REG .. DMAR_PRS_REG, drivers/iommu/intel/iommu.h; VT-d 11.4.12). */
export const DMAR_PQH_REG = 0x0c0;
export const DMAR_PQT_REG = 0x0c8;
export const DMAR_PQA_REG = 0x0d0;
export const DMAR_PRS_REG = 0x0dc;
/** PRS: Pending Page Request and Page Request Overflow (Linux DMA_PRS_PPR, DMA_PRS_PRO). */
export const PRS_PPR = 1;
export const PRS_PRO = 2;
/**
 * Page request event control, data, address and upper address (VT-d 11.4.12.5 - 11.4.12.8; Linux
 * DMAR_PECTL_REG 0xe0 / DMAR_PEDATA_REG 0xe4 / DMAR_PEADDR_REG 0xe8 / DMAR_PEUADDR_REG 0xec,
 * drivers/iommu/intel/iommu.h). Linux programs them as it programs the fault event's: dmar_msi_reg()
 * answers DMAR_PECTL_REG for iommu->pr_irq, dmar_msi_write() writes data at +4, address at +8 and
 * +12, dmar_msi_unmask() writes 0 to PECTL.
 */
export const DMAR_PECTL_REG = 0x0e0;
export const DMAR_PEDATA_REG = 0x0e4;
export const DMAR_PEADDR_REG = 0x0e8;
export const DMAR_PEUADDR_REG = 0x0ec;
/** PECTL: interrupt mask [31] and pending [30] (QEMU VTD_PR_PECTL_IM 0x80000000, VTD_PR_PECTL_IP 0x40000000). */
export const PECTL_IM = 1 << 31;
export const PECTL_IP = 1 << 30;
/** IOTLB registers at ECAP.IRO * 16: QEMU puts IVA at 0xf0 and IOTLB at 0xf8. */
export const DMAR_IVA_REG = 0x0f0;
export const DMAR_IOTLB_REG = 0x0f8;
/** Fault recording registers at CAP.FRO * 16: QEMU uses 0x220 (DMAR_FRCD_REG_OFFSET). */
export const DMAR_FRCD_REG = 0x220;

/** GCMD / GSTS bits (VT-d 11.4.4). */
export const GCMD_TE = 1 << 31;
export const GCMD_SRTP = 1 << 30;
export const GCMD_WBF = 1 << 27;
export const GCMD_QIE = 1 << 26;
export const GCMD_IRE = 1 << 25;
export const GCMD_SIRTP = 1 << 24;
/** GSTS bit names mirror GCMD: TES, RTPS, WBFS, QIES, IRES, IRTPS. */

/** FSTS bits (VT-d 11.4.9.1). */
export const FSTS_PFO = 1 << 0;
export const FSTS_PPF = 1 << 1;
export const FSTS_IQE = 1 << 4;
/** IQA.DW (bit 11): 256-bit invalidation descriptors (VT-d 11.4.11.3; QEMU VTD_IQA_DW_MASK; Linux __dmar_enable_qi sets it with QS = 1 when ecap_smts). */
export const IQA_DW = 0x800n;
export const FSTS_ICE = 1 << 5;
export const FSTS_ITE = 1 << 6;
/** FECTL: interrupt mask and pending. */
export const FECTL_IM = 1 << 31;
export const FECTL_IP = 1 << 30;

/** QEMU `VTD_MAMV` and `DMAR_REG_SIZE` analogue. */
export const DEFAULT_MAMV = 18;

export interface CapFields {
  nd: number;
  afl: boolean;
  rwbf: boolean;
  plmr: boolean;
  phmr: boolean;
  cm: boolean;
  sagaw: number;
  /** Guest address width in bits (the field holds width - 1). */
  mgaw: number;
  zlr: boolean;
  /** Byte offset of the first fault recording register (the field holds offset / 16). */
  fro: number;
  sllps: number;
  psi: boolean;
  /** Number of fault recording registers (the field holds count - 1). */
  nfr: number;
  mamv: number;
  dwd: boolean;
  drd: boolean;
}

export interface EcapFields {
  c: boolean;
  qi: boolean;
  dt: boolean;
  ir: boolean;
  eim: boolean;
  pt: boolean;
  sc: boolean;
  /** Byte offset of the IOTLB registers (the field holds offset / 16). */
  iro: number;
  mhmv: number;
}

/** SAGAW bit for an adjusted guest address width (bit 1 = 39-bit, bit 2 = 48-bit, bit 3 = 57-bit). */
export function sagawBit(width: 39 | 48 | 57): number {
  return width === 39 ? 1 << 1 : width === 48 ? 1 << 2 : 1 << 3;
}

/** Composes CAP as QEMU's vtd_cap_init does for the given unit configuration. */
export function composeCap(spec: IommuSpec): bigint {
  let sagaw = 0;
  for (const w of spec.sagaw) sagaw |= sagawBit(w);
  const sllps = (spec.superpages["2M"] ? 1 : 0) | (spec.superpages["1G"] ? 2 : 0);
  let cap = 0n;
  cap |= BigInt(spec.nd & 7); // ND [2:0]
  if (spec.cachingMode) cap |= 1n << 7n; // CM
  cap |= BigInt(sagaw) << 8n; // SAGAW [12:8]
  cap |= BigInt(spec.addressWidth - 1) << 16n; // MGAW [21:16] = width - 1
  cap |= BigInt(DMAR_FRCD_REG / 16) << 24n; // FRO [33:24], in 16-byte units
  cap |= BigInt(sllps) << 34n; // SLLPS [37:34]
  if (spec.pageSelectiveInvalidation) cap |= 1n << 39n; // PSI
  cap |= BigInt(spec.faultRecords - 1) << 40n; // NFR [47:40] = records - 1
  cap |= BigInt(spec.mamv & 0x3f) << 48n; // MAMV [53:48]
  cap |= (1n << 54n) | (1n << 55n); // DWD, DRD (QEMU dma-drain default on)
  if (spec.intremap && spec.postedInterrupts) cap |= 1n << 59n; // PI (VT-d 11.4.2; Linux cap_pi_support)
  return cap;
}

export function composeEcap(spec: IommuSpec): bigint {
  let ecap = 0n;
  if (spec.queuedInvalidation) ecap |= 1n << 1n; // QI
  if (spec.deviceTlb) ecap |= 1n << 2n; // DT
  if (spec.scalable && (spec.pri?.length ?? 0) > 0) ecap |= 1n << 29n; // PRS (Linux ecap_prs: bit 29)
  if (spec.passThrough) ecap |= 1n << 6n; // PT
  if (spec.intremap) ecap |= 1n << 3n; // IR (QEMU: VTD_ECAP_IR with intremap=on)
  if (spec.intremap && spec.eim) ecap |= 1n << 4n; // EIM (QEMU: VTD_ECAP_EIM with eim=on)
  ecap |= BigInt(DMAR_IVA_REG / 16) << 8n; // IRO [17:8]
  if (spec.scalable) {
    // Scalable mode (VT-d 11.4.3; Linux ecap_smts/ecap_flts/ecap_slts/ecap_nest/ecap_pasid/ecap_pss, §1.3 of the reference).
    ecap |= 1n << 43n; // SMTS
    if (spec.firstLevel ?? true) ecap |= 1n << 47n; // FLTS
    if (spec.secondLevel ?? true) ecap |= 1n << 46n; // SLTS
    if (spec.nested ?? true) ecap |= 1n << 26n; // NEST
    if (spec.slads === true) ecap |= 1n << 45n; // SLADS: second-level A/D (Linux ecap_slads, VT-d 11.4.3)
    if (spec.smpwc !== false) ecap |= 1n << 48n; // SMPWC: scalable-mode page walks snooped (Linux ecap_smpwc)
    const bits = spec.pasidBits ?? 20;
    if (bits > 0) ecap |= (1n << 40n) | (BigInt(bits - 1) << 35n); // PASID, PSS [39:35]
  }
  return ecap;
}

/** Bits [hi:lo] of a register value. */
export function bitsOf(v: bigint, hi: number, lo: number): bigint {
  return (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

export function decodeCap(cap: bigint): CapFields {
  const f = (hi: number, lo: number) => Number(bitsOf(cap, hi, lo));
  return {
    nd: f(2, 0),
    afl: f(3, 3) === 1,
    rwbf: f(4, 4) === 1,
    plmr: f(5, 5) === 1,
    phmr: f(6, 6) === 1,
    cm: f(7, 7) === 1,
    sagaw: f(12, 8),
    mgaw: f(21, 16) + 1,
    zlr: f(22, 22) === 1,
    fro: f(33, 24) * 16,
    sllps: f(37, 34),
    psi: f(39, 39) === 1,
    nfr: f(47, 40) + 1,
    mamv: f(53, 48),
    dwd: f(54, 54) === 1,
    drd: f(55, 55) === 1,
  };
}

export function decodeEcap(ecap: bigint): EcapFields {
  const f = (hi: number, lo: number) => Number(bitsOf(ecap, hi, lo));
  return {
    c: f(0, 0) === 1,
    qi: f(1, 1) === 1,
    dt: f(2, 2) === 1,
    ir: f(3, 3) === 1,
    eim: f(4, 4) === 1,
    pt: f(6, 6) === 1,
    sc: f(7, 7) === 1,
    iro: f(17, 8) * 16,
    mhmv: f(23, 20),
  };
}

// ------------------------------------------------------------------ register views

/** One decoded field of a register, as every view shows it. */
export interface RegField {
  name: string;
  /** Most and least significant bit of the field in the register. */
  hi: number;
  lo: number;
  /** The field's bits as stored. */
  raw: bigint;
  /** What the field means, decoded as the spec defines it (e.g. MGAW field 47 -> "48-bit"). */
  value: string;
}

/** The registers the views decode: name, MMIO offset, width, VT-d spec section. */
export const REGISTER_VIEWS = [
  { name: "VER", offset: DMAR_VER_REG, width: 32, section: "11.4.1" },
  { name: "CAP", offset: DMAR_CAP_REG, width: 64, section: "11.4.2" },
  { name: "ECAP", offset: DMAR_ECAP_REG, width: 64, section: "11.4.3" },
  { name: "GSTS", offset: DMAR_GSTS_REG, width: 32, section: "11.4.5" },
  { name: "RTADDR", offset: DMAR_RTADDR_REG, width: 64, section: "11.4.6" },
  { name: "FSTS", offset: DMAR_FSTS_REG, width: 32, section: "11.4.9.1" },
  { name: "FECTL", offset: DMAR_FECTL_REG, width: 32, section: "11.4.9.2" },
  { name: "IQH", offset: DMAR_IQH_REG, width: 64, section: "11.4.11.1" },
  { name: "IQT", offset: DMAR_IQT_REG, width: 64, section: "11.4.11.2" },
  { name: "IQA", offset: DMAR_IQA_REG, width: 64, section: "11.4.11.3" },
  { name: "IQER", offset: DMAR_IQER_REG, width: 64, section: "11.4.9.9" },
  { name: "PQH", offset: DMAR_PQH_REG, width: 64, section: "11.4.12.1" },
  { name: "PQT", offset: DMAR_PQT_REG, width: 64, section: "11.4.12.2" },
  { name: "PQA", offset: DMAR_PQA_REG, width: 64, section: "11.4.12.3" },
  { name: "PRS", offset: DMAR_PRS_REG, width: 32, section: "11.4.12.4" },
  { name: "PECTL", offset: DMAR_PECTL_REG, width: 32, section: "11.4.12.5" },
  { name: "PEDATA", offset: DMAR_PEDATA_REG, width: 32, section: "11.4.12.6" },
  { name: "PEADDR", offset: DMAR_PEADDR_REG, width: 32, section: "11.4.12.7" },
  { name: "PEUADDR", offset: DMAR_PEUADDR_REG, width: 32, section: "11.4.12.8" },
] as const;

/** IQERCD.IQEI meanings (VT-d 11.4.9.9; unit.ts IQEI_*). */
const IQEI_TEXT = ["info not available", "invalid tail pointer", "descriptor fetch error", "invalid descriptor type", "reserved field set in a valid descriptor type", "descriptor width wrong for the mode (IQA.DW)", "queue tail not aligned to the descriptor width", "invalid RTADDR.TTM"];

export type RegisterName = (typeof REGISTER_VIEWS)[number]["name"];

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** Names of the address widths a SAGAW bitmap advertises (bit 1 = 39-bit, 2 = 48-bit, 3 = 57-bit). */
function sagawText(sagaw: number): string {
  const w = [[1, "39-bit 3-level"], [2, "48-bit 4-level"], [3, "57-bit 5-level"]] as const;
  const names = w.filter(([b]) => (sagaw >> b) & 1).map(([, n]) => n);
  return `0b${sagaw.toString(2).padStart(5, "0")}${names.length ? ` (${names.join(", ")})` : ""}`;
}

function sllpsText(sllps: number): string {
  const names = [[0, "2 MiB"], [1, "1 GiB"], [2, "512 GiB"], [3, "256 TiB"]].filter(([b]) => (sllps >> (b as number)) & 1).map(([, n]) => n);
  return `0b${sllps.toString(2).padStart(4, "0")}${names.length ? ` (${names.join(", ")})` : " (4 KiB pages only)"}`;
}

/**
 * Decodes a register into its fields, in the spec's bit order (low bits first). `iqaDw` is IQA.DW
 * for IQH/IQT, whose index field starts at bit 5 instead of 4 with 256-bit descriptors.
 * The one decoder the tree views, hovers and tests use.
 */
export function decodeRegister(name: RegisterName, v: bigint, iqaDw = false): RegField[] {
  const out: RegField[] = [];
  const field = (n: string, hi: number, lo: number, value?: (raw: bigint) => string) => {
    const raw = bitsOf(v, hi, lo);
    out.push({ name: n, hi, lo, raw, value: value ? value(raw) : raw.toString() });
  };
  switch (name) {
    case "VER":
      field("MIN", 3, 0);
      field("MAX", 7, 4);
      break;
    case "CAP": {
      const c = decodeCap(v);
      field("ND", 2, 0, () => `${c.nd} (${plural(capNdoms(c.nd), "domain")})`);
      field("AFL", 3, 3);
      field("RWBF", 4, 4);
      field("PLMR", 5, 5);
      field("PHMR", 6, 6);
      field("CM", 7, 7);
      field("SAGAW", 12, 8, () => sagawText(c.sagaw));
      field("MGAW", 21, 16, () => `${c.mgaw}-bit`);
      field("ZLR", 22, 22);
      field("FRO", 33, 24, () => hex(c.fro));
      field("SLLPS", 37, 34, () => sllpsText(c.sllps));
      field("PSI", 39, 39);
      field("NFR", 47, 40, () => plural(c.nfr, "record"));
      field("MAMV", 53, 48, () => String(c.mamv));
      field("DWD", 54, 54);
      field("DRD", 55, 55);
      field("PI", 59, 59);
      break;
    }
    case "ECAP": {
      const e = decodeEcap(v);
      field("C", 0, 0);
      field("QI", 1, 1);
      field("DT", 2, 2);
      field("IR", 3, 3);
      field("EIM", 4, 4);
      field("PT", 6, 6);
      field("SC", 7, 7);
      field("IRO", 17, 8, () => hex(e.iro));
      field("MHMV", 23, 20, () => String(e.mhmv));
      break;
    }
    case "GSTS":
      field("CFIS", 23, 23);
      field("IRTPS", 24, 24);
      field("IRES", 25, 25);
      field("QIES", 26, 26);
      field("WBFS", 27, 27);
      field("AFLS", 28, 28);
      field("FLS", 29, 29);
      field("RTPS", 30, 30);
      field("TES", 31, 31);
      break;
    case "RTADDR":
      // 00b legacy, 01b scalable, 10b reserved, 11b abort-DMA mode (VirtualBox VTD_TTM_LEGACY_MODE 0 / _SCALABLE_MODE 1 / _RSVD 2 / _ABORT_DMA_MODE 3).
      field("TTM", 11, 10, (r) => `${r} (${["legacy mode", "scalable mode", "reserved", "abort-DMA mode"][Number(r)]})`);
      field("RTA", 63, 12, (r) => hex(r << 12n));
      break;
    case "FSTS":
      field("PFO", 0, 0);
      field("PPF", 1, 1);
      field("IQE", 4, 4);
      field("ICE", 5, 5);
      field("ITE", 6, 6);
      field("FRI", 15, 8);
      break;
    case "FECTL":
      field("IP", 30, 30);
      field("IM", 31, 31);
      break;
    case "IQH":
    case "IQT":
      // 128-bit descriptors: index in [18:4]; 256-bit (IQA.DW = 1): [18:5].
      field(name === "IQH" ? "QH" : "QT", 18, iqaDw ? 5 : 4);
      break;
    case "IQER":
      // Valid while FSTS.IQE / ITE / ICE is set (Linux DMAR_IQER_REG_IQEI / _ITESID / _ICESID).
      field("IQEI", 3, 0, (r) => `${r} (${IQEI_TEXT[Number(r)] ?? "undefined"})`);
      field("ITESID", 47, 32, (r) => `${hex(r)} (${formatSid(Number(r))})`);
      field("ICESID", 63, 48, (r) => `${hex(r)} (${formatSid(Number(r))})`);
      break;
    case "PQH":
    case "PQT":
      // Byte offsets of 32-byte page request descriptors: [18:5] is the descriptor index (Linux masks with PRQ_RING_MASK).
      field(name, 18, 5, (r) => `${r} (offset ${hex(r << 5n)})`);
      break;
    case "PQA": {
      const pqs = Number(bitsOf(v, 2, 0));
      field("PQS", 2, 0, () => `${pqs} (${plural(2 ** (pqs + 7), "descriptor")}; Linux PRQ_ORDER)`);
      field("PQA", 63, 12, (r) => hex(r << 12n));
      break;
    }
    case "PRS":
      field("PPR", 0, 0, (r) => `${r}${r ? " (page requests pending)" : ""}`);
      field("PRO", 1, 1, (r) => `${r}${r ? " (overflow: page requests are being dropped)" : ""}`);
      break;
    case "PECTL":
      // As FECTL (11.4.9.2): IP is set when an event is pending because IM masks it.
      field("IP", 30, 30, (r) => `${r}${r ? " (a page request event is pending)" : ""}`);
      field("IM", 31, 31, (r) => `${r}${r ? " (masked: no page request interrupt)" : ""}`);
      break;
    case "PEDATA":
      // Interrupt message data [15:0] (x86 MSI: vector [7:0]); [31:16] extended data before the 2021
      // spec revisions, reserved since (VirtualBox VTD_BF_PEDATA_REG_RSVD_31_16).
      field("IMD", 15, 0, (r) => `${hex(r)} (vector ${hex(r & 0xffn)})`);
      field("EIMD", 31, 16, (r) => hex(r));
      break;
    case "PEADDR":
      // Message address [31:2] (x86 MSI: 0xFEE, destination APIC id [19:12]).
      field("MA", 31, 2, (r) => `${hex(r << 2n)} (APIC id ${(r >> 10n) & 0xffn})`);
      break;
    case "PEUADDR":
      field("MUA", 31, 0, (r) => hex(r));
      break;
    case "IQA": {
      const dw = bitsOf(v, 11, 11);
      const qs = Number(bitsOf(v, 2, 0));
      field("QS", 2, 0, () => `${qs} (${plural((1 << qs) * (dw ? 128 : 256), "descriptor")})`);
      field("DW", 11, 11, () => `${dw} (${dw ? "256" : "128"}-bit descriptors)`);
      field("IQA", 63, 12, (r) => hex(r << 12n));
      break;
    }
  }
  return out;
}

/**
 * The fields of a fault recording register (128 bits; VT-d spec 11.4.9.6, "Fault Recording
 * Registers [n]"; ../shared/reference/iommu-reference.md §1.6), named as the spec names them, with
 * their bit positions in the 128-bit register (low qword = bits 63:0). Linux reads them with the
 * `dma_frcd_*` macros (drivers/iommu/intel/iommu.h), QEMU writes them with `VTD_FRCD_*`.
 * PRIV [93] and EXE [94]: set only for requests with a PASID; no Linux macro reads them and QEMU
 * never sets them (../reference §1.6, §10 item 4).
 */
export const FRCD_FIELDS = {
  /** Fault Info: the faulting page address (IR faults: the interrupt index in bits 63:48). */
  FI: { hi: 63, lo: 12 },
  /** Source Identifier: the requester id (bus << 8 | devfn). */
  SID: { hi: 79, lo: 64 },
  /** Privilege Mode Requested (requests with PASID). */
  PRIV: { hi: 93, lo: 93 },
  /** Execute Permission Requested (requests with PASID). */
  EXE: { hi: 94, lo: 94 },
  /** PASID Present. */
  PP: { hi: 95, lo: 95 },
  /** Fault Reason (reasons.ts VTD_FR_*). */
  FR: { hi: 103, lo: 96 },
  /** PASID Value (when PP = 1). */
  PV: { hi: 123, lo: 104 },
  /** Address Type: 00 untranslated, 01 translation request, 10 translated. */
  AT: { hi: 125, lo: 124 },
  /** Type: 1 = read request (Linux prints "DMA Read"), 0 = write. */
  T: { hi: 126, lo: 126 },
  /** Fault: the record is valid; software clears it by writing 1 (RW1C). */
  F: { hi: 127, lo: 127 },
} as const;

export type FrcdFieldName = keyof typeof FRCD_FIELDS;

/** Bits [hi:lo] of a 128-bit register given as its low and high qwords. */
function bits128(lo: bigint, hi: bigint, f: { hi: number; lo: number }): bigint {
  return f.lo >= 64 ? bitsOf(hi, f.hi - 64, f.lo - 64) : bitsOf(lo, f.hi, f.lo);
}

/** One named field of a fault recording register. */
export function frcdField(lo: bigint, hi: bigint, name: FrcdFieldName): bigint {
  return bits128(lo, hi, FRCD_FIELDS[name]);
}

/** How each FRCD field's meaning is shown (raw bits -> text). */
const FRCD_VALUE: Partial<Record<FrcdFieldName, (raw: bigint) => string>> = {
  FI: (r) => hex(r << 12n),
  SID: (r) => `${hex(r)} (${formatSid(Number(r))})`,
  FR: (r) => `0x${r.toString(16).padStart(2, "0")}`,
  PV: (r) => hex(r),
  AT: (r) => `${r} (${["untranslated", "translation request", "translated", "reserved"][Number(r)]})`,
  T: (r) => `${r} (${r ? "read" : "write"})`,
};

/**
 * A fault recording register from its low and high qwords: every field of FRCD_FIELDS, low bits
 * first, as the views show them.
 */
export function decodeFrcd(lo: bigint, hi: bigint): RegField[] {
  return (Object.keys(FRCD_FIELDS) as FrcdFieldName[]).map((name) => {
    const f = FRCD_FIELDS[name];
    const raw = bits128(lo, hi, f);
    return { name, hi: f.hi, lo: f.lo, raw, value: FRCD_VALUE[name]?.(raw) ?? raw.toString() };
  });
}

/** A fault recording register's fields as numbers, named as the spec names them. */
export interface FrcdRecord {
  F: boolean;
  T: boolean;
  AT: number;
  PV: number;
  PRIV: boolean;
  EXE: boolean;
  PP: boolean;
  FR: number;
  SID: number;
  /** The Fault Info field shifted back into place: the page address (bits 63:12). */
  FI: bigint;
}

/** decodeFrcd's fields as typed values (the unit's readRecord, the fault views). */
export function decodeFrcdRecord(lo: bigint, hi: bigint): FrcdRecord {
  const f = (name: FrcdFieldName) => bits128(lo, hi, FRCD_FIELDS[name]);
  return {
    F: f("F") === 1n,
    T: f("T") === 1n,
    AT: Number(f("AT")),
    PV: Number(f("PV")),
    PRIV: f("PRIV") === 1n,
    EXE: f("EXE") === 1n,
    PP: f("PP") === 1n,
    FR: Number(f("FR")),
    SID: Number(f("SID")),
    FI: f("FI") << 12n,
  };
}

/** FRCD.F as a bit of the register's top dword (offset +12): the cheap "is a record pending" test. */
export const FRCD_F_DWORD_BIT = 1 << (FRCD_FIELDS.F.lo - 96);

/** Number of domains CAP.ND advertises: 2^(4 + 2 * ND) (Linux cap_ndoms). */
export function capNdoms(nd: number): number {
  return 1 << (4 + 2 * nd);
}
