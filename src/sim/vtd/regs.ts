/**
 * VT-d remapping-unit registers: offsets, CAP/ECAP composition and decoding.
 * Offsets and fields: VT-d spec chapter 11; Linux drivers/iommu/intel/iommu.h @3af56d9611cf
 * (`DMAR_*_REG`, `cap_*`, `ecap_*`); QEMU hw/i386/intel_iommu_internal.h (`VTD_CAP_*`).
 * See ../shared/reference/iommu-reference.md sections 1.1 - 1.5.
 */
import type { IommuSpec } from "../../scenario/types.js";

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

/** FSTS bits (VT-d 11.4.9.2). */
export const FSTS_PFO = 1 << 0;
export const FSTS_PPF = 1 << 1;
export const FSTS_IQE = 1 << 4;
export const FSTS_ICE = 1 << 5;
export const FSTS_ITE = 1 << 6;
/** FECTL: interrupt mask and pending. */
export const FECTL_IM = 1 << 31;
export const FECTL_IP = 1 << 30;

/** QEMU `VTD_MAMV` and `DMAR_REG_SIZE` analogue. */
export const DEFAULT_MAMV = 18;

export interface CapFields {
  nd: number;
  cm: boolean;
  sagaw: number;
  mgaw: number;
  fro: number;
  sllps: number;
  psi: boolean;
  nfr: number;
  mamv: number;
  drd: boolean;
  dwd: boolean;
}

export interface EcapFields {
  c: boolean;
  qi: boolean;
  dt: boolean;
  ir: boolean;
  eim: boolean;
  pt: boolean;
  sc: boolean;
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
  return cap;
}

export function composeEcap(spec: IommuSpec): bigint {
  let ecap = 0n;
  if (spec.queuedInvalidation) ecap |= 1n << 1n; // QI
  if (spec.deviceTlb) ecap |= 1n << 2n; // DT
  if (spec.passThrough) ecap |= 1n << 6n; // PT
  ecap |= BigInt(DMAR_IVA_REG / 16) << 8n; // IRO [17:8]
  return ecap;
}

export function decodeCap(cap: bigint): CapFields {
  const f = (shift: number, bits: number) => Number((cap >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
  return {
    nd: f(0, 3),
    cm: f(7, 1) === 1,
    sagaw: f(8, 5),
    mgaw: f(16, 6) + 1,
    fro: f(24, 10) * 16,
    sllps: f(34, 4),
    psi: f(39, 1) === 1,
    nfr: f(40, 8) + 1,
    mamv: f(48, 6),
    dwd: f(54, 1) === 1,
    drd: f(55, 1) === 1,
  };
}

export function decodeEcap(ecap: bigint): EcapFields {
  const f = (shift: number, bits: number) => Number((ecap >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
  return {
    c: f(0, 1) === 1,
    qi: f(1, 1) === 1,
    dt: f(2, 1) === 1,
    ir: f(3, 1) === 1,
    eim: f(4, 1) === 1,
    pt: f(6, 1) === 1,
    sc: f(7, 1) === 1,
    iro: f(8, 10) * 16,
    mhmv: f(20, 4),
  };
}

/** Number of domains CAP.ND advertises: 2^(4 + 2 * ND) (Linux cap_ndoms). */
export function capNdoms(nd: number): number {
  return 1 << (4 + 2 * nd);
}
