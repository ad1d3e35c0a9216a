/**
 * Queued-invalidation descriptors, 128-bit legacy format (VT-d spec 6.5.2; Linux `QI_*` in
 * drivers/iommu/intel/iommu.h; QEMU `VTD_INV_DESC_*`). See reference section 1.12.
 */

export const QI_CC_TYPE = 0x1;
export const QI_IOTLB_TYPE = 0x2;
export const QI_DIOTLB_TYPE = 0x3;
export const QI_IEC_TYPE = 0x4;
export const QI_IWD_TYPE = 0x5;
/** PASID-based IOTLB and PASID-cache invalidation (Linux QI_EIOTLB_TYPE = 0x6, QI_PC_TYPE = 0x7; reference §1.12). */
export const QI_EIOTLB_TYPE = 0x6;
export const QI_PC_TYPE = 0x7;
/** PASID-based Device-TLB invalidation (Linux QI_DEIOTLB_TYPE = 0x8, a 256-bit-queue descriptor). */
export const QI_DEIOTLB_TYPE = 0x8;
/** Page group response (Linux QI_PGRP_RESP_TYPE = 0x9, drivers/iommu/intel/iommu.h; scalable mode). */
export const QI_PGRP_RESP_TYPE = 0x9;
/** Response codes (Linux QI_RESP_SUCCESS / QI_RESP_INVALID / QI_RESP_FAILURE). */
export const QI_RESP_SUCCESS = 0x0;
export const QI_RESP_INVALID = 0x1;
export const QI_RESP_FAILURE = 0xf;

/**
 * Linux intel_svm_page_response / handle_bad_prq_event: qw0 = QI_PGRP_PASID(pasid) [51:32] |
 * QI_PGRP_DID(rid) [31:16] | QI_PGRP_PASID_P [4] (handle_bad_prq_event: the request's PP) | QI_PGRP_PDP [5] | QI_PGRP_RESP_CODE [15:12] |
 * QI_PGRP_RESP_TYPE; qw1 = QI_PGRP_IDX(prg_index) [11:3] | QI_PGRP_LPIG [2].
 */
export function encodePageResponseDesc(rid: number, pasid: number, code: number, prgi: number, lpig: boolean, pasidPresent = true, pdp = false): [bigint, bigint] {
  const lo = BigInt(QI_PGRP_RESP_TYPE) | (pasidPresent ? 1n << 4n : 0n) | (pdp ? 1n << 5n : 0n) | (BigInt(code & 0xf) << 12n) | (BigInt(rid & 0xffff) << 16n) | (BigInt(pasid & 0xfffff) << 32n);
  return [lo, (BigInt(prgi & 0x1ff) << 3n) | (lpig ? 4n : 0n)];
}

/** The fields of a page group response descriptor (type 0x9), the inverse of encodePageResponseDesc. */
export function decodePageResponseDesc(lo: bigint, hi: bigint): { rid: number; pasid: number; pasidPresent: boolean; pdp: boolean; code: number; prgi: number; lpig: boolean } {
  return { rid: Number((lo >> 16n) & 0xffffn), pasid: Number((lo >> 32n) & 0xfffffn), pasidPresent: ((lo >> 4n) & 1n) === 1n, pdp: ((lo >> 5n) & 1n) === 1n, code: Number((lo >> 12n) & 0xfn), prgi: Number((hi >> 3n) & 0x1ffn), lpig: ((hi >> 2n) & 1n) === 1n };
}
/** Linux QI_DEV_IOTLB_MAX_INVS / QI_DEV_EIOTLB_MAX_INVS: a queue depth of 32 or more is sent as 0 (the ATS encoding of 32). */
export const QI_DEV_IOTLB_MAX_INVS = 32;

/**
 * QEMU hw/i386/intel_iommu_internal.h VTD_INV_DESC_DEVICE_IOTLB_RSVD_LO / _HI, checked by
 * vtd_process_device_iotlb_desc: bits 15:3 (PFSID [15:12] too: QEMU advertises no ECAP.DIT), 31:21
 * and 63:48 of qw0; 11:1 of qw1. The same era as CC_RSVD_LO / IOTLB_RSVD_LO below (the later
 * "intel_iommu: Make the type of invalidation descriptor 7 bits" frees bits 11:9 in all of them).
 */
export const DIOTLB_RSVD_LO = 0xffff0000ffe0fff8n;
export const DIOTLB_RSVD_HI = 0xffen;
/** QEMU VTD_INV_DESC_PASID_DEVICE_IOTLB_RSVD_LO / _HI (vtd_process_device_piotlb_desc, QEMU 9.2): PFSID [15:12] and [63:52]; hi 10:1. */
export const PDIOTLB_RSVD_LO = 0xfff000000000f000n;
export const PDIOTLB_RSVD_HI = 0x7fen;

/** P_IOTLB granularity (Linux QI_GRAN_NONG_PASID = 2, QI_GRAN_PSI_PASID = 3). */
export const PIOTLB_PASID = 2;
export const PIOTLB_PSI = 3;
/** PASID-cache granularity (Linux QI_PC_ALL_PASIDS = 0, QI_PC_PASID_SEL = 1, QI_PC_GLOBAL = 3). */
export const PC_DOMAIN = 0;
export const PC_PASID = 1;
export const PC_GLOBAL = 3;

/** Context-cache invalidation granularity (CIRG/G): 1 global, 2 domain, 3 device. */
export const CC_GLOBAL = 1;
export const CC_DOMAIN = 2;
export const CC_DEVICE = 3;
/** IOTLB invalidation granularity (IIRG/G): 1 global, 2 domain-selective, 3 page-selective. */
export const IOTLB_GLOBAL = 1;
export const IOTLB_DSI = 2;
export const IOTLB_PSI = 3;

/** QEMU VTD_INV_DESC_CC_RSVD: reserved bits of the context-cache descriptor's low qword. */
export const CC_RSVD_LO = 0xfffc00000000ffc0n;
/** QEMU VTD_INV_DESC_IOTLB_RSVD_LO / _HI. */
export const IOTLB_RSVD_LO = 0xffffffff0000ff00n;
export const IOTLB_RSVD_HI = 0xf80n;

export type InvDescriptor =
  | { type: "cc"; granularity: number; did: number; sid: number; fm: number }
  | { type: "iotlb"; granularity: number; did: number; dr: boolean; dw: boolean; addr: bigint; ih: boolean; am: number }
  | { type: "iec"; global: boolean; index: number; im: number }
  | { type: "wait"; interrupt: boolean; statusWrite: boolean; fence: boolean; statusData: number; statusAddr: bigint }
  | { type: "dev-iotlb"; sid: number; addr: bigint; size: boolean; qdep: number; pfsid: number }
  | { type: "pdev-iotlb"; sid: number; pasid: number; addr: bigint; size: boolean; global: boolean; qdep: number; pfsid: number }
  | { type: "piotlb"; granularity: number; did: number; pasid: number; addr: bigint; ih: boolean; am: number }
  | { type: "pc"; granularity: number; did: number; pasid: number }
  | { type: "pgrp-resp"; rid: number; pasid: number; pasidPresent: boolean; pdp: boolean; code: number; prgi: number; lpig: boolean }
  | { type: "unknown"; code: number };

/** Linux qi_flush_piotlb: QI_EIOTLB_PASID | QI_EIOTLB_DID | QI_EIOTLB_GRAN | QI_EIOTLB_TYPE; qw1 ADDR | IH | AM. */
export function encodePiotlbDesc(granularity: number, did: number, pasid: number, addr = 0n, am = 0, ih = false): [bigint, bigint] {
  const lo = BigInt(QI_EIOTLB_TYPE) | (BigInt(granularity & 3) << 4n) | (BigInt(did & 0xffff) << 16n) | (BigInt(pasid & 0xfffff) << 32n);
  const hi = granularity === PIOTLB_PSI ? (addr & ~0xfffn) | (ih ? 1n << 6n : 0n) | BigInt(am & 0x3f) : 0n;
  return [lo, hi];
}

/** Linux pasid_cache_invalidation_with_pasid: QI_PC_DID | QI_PC_GRAN | QI_PC_PASID | QI_PC_TYPE. */
export function encodePcDesc(granularity: number, did: number, pasid = 0): [bigint, bigint] {
  return [BigInt(QI_PC_TYPE) | (BigInt(granularity & 3) << 4n) | (BigInt(did & 0xffff) << 16n) | (BigInt(pasid & 0xfffff) << 32n), 0n];
}

export function encodeCcDesc(granularity: number, did = 0, sid = 0, fm = 0): [bigint, bigint] {
  const lo = BigInt(QI_CC_TYPE) | (BigInt(granularity & 3) << 4n) | (BigInt(did & 0xffff) << 16n) | (BigInt(sid & 0xffff) << 32n) | (BigInt(fm & 3) << 48n);
  return [lo, 0n];
}

/** Linux qi_flush_iotlb: DR and DW are set when the unit advertises drain (CAP.DRD/DWD). */
export function encodeIotlbDesc(granularity: number, did = 0, addr = 0n, am = 0, ih = false, drain = true): [bigint, bigint] {
  const lo =
    BigInt(QI_IOTLB_TYPE) |
    (BigInt(granularity & 3) << 4n) |
    (drain ? (1n << 6n) | (1n << 7n) : 0n) |
    (BigInt(did & 0xffff) << 16n);
  const hi = (addr & ~0xfffn) | (ih ? 1n << 6n : 0n) | BigInt(am & 0x3f);
  return [lo, hi];
}

/**
 * Linux qi_flush_dev_iotlb (drivers/iommu/intel/dmar.c): qw0 = QI_DEV_IOTLB_SID(sid) |
 * QI_DEV_IOTLB_QDEP(qdep) | QI_DIOTLB_TYPE | QI_DEV_IOTLB_PFSID(pfsid) (SID [47:32], QDEP [20:16],
 * PFSID [15:12] + [63:52], qdep >= QI_DEV_IOTLB_MAX_INVS sent as 0); qw1 = the page address, and
 * for mask > 0 `addr |= (1 << (VTD_PAGE_SHIFT + mask - 1)) - 1` with S (bit 0): 2^mask pages.
 */
export function encodeDevIotlbDesc(sid: number, pfsid: number, qdep: number, addr: bigint, mask: number): [bigint, bigint] {
  const q = qdep >= QI_DEV_IOTLB_MAX_INVS ? 0 : qdep;
  const lo = (BigInt(sid & 0xffff) << 32n) | (BigInt(q & 0x1f) << 16n) | BigInt(QI_DIOTLB_TYPE) | (BigInt(pfsid & 0xf) << 12n) | (BigInt((pfsid >> 4) & 0xfff) << 52n);
  if (mask === 0) return [lo, addr & ~0xfffn];
  const a = addr | ((1n << BigInt(12 + mask - 1)) - 1n);
  return [lo, (a & ~0xfffn) | 1n];
}

/**
 * Linux qi_flush_dev_iotlb_pasid: qw0 = QI_DEV_EIOTLB_PASID(pasid) [51:32] | QI_DEV_EIOTLB_SID(sid)
 * [31:16] | QI_DEV_EIOTLB_QDEP(qdep) [8:4] | QI_DEIOTLB_TYPE | PFSID; qw1 = the page address and,
 * for size_order > 0, ones below the size bit with that bit cleared, and S (bit 11).
 */
export function encodePdevIotlbDesc(sid: number, pfsid: number, pasid: number, qdep: number, addr: bigint, sizeOrder: number): [bigint, bigint] {
  const lo = (BigInt(pasid & 0xfffff) << 32n) | (BigInt(sid & 0xffff) << 16n) | (BigInt(qdep & 0x1f) << 4n) | BigInt(QI_DEIOTLB_TYPE) | (BigInt(pfsid & 0xf) << 12n) | (BigInt((pfsid >> 4) & 0xfff) << 52n);
  let hi = addr & ~0xfffn;
  if (sizeOrder > 0) {
    hi |= ((1n << BigInt(sizeOrder)) - 1n) << 12n;
    hi &= ~(1n << BigInt(12 + sizeOrder - 1));
    hi |= 1n << 11n;
  }
  return [lo, hi];
}

/** Linux qi_submit_sync appends: QI_IWD_STATUS_DATA(QI_DONE) | QI_IWD_STATUS_WRITE | QI_IWD_TYPE. */
export const QI_DONE = 1;
export function encodeWaitDesc(statusAddr: bigint, statusData = QI_DONE): [bigint, bigint] {
  const lo = BigInt(QI_IWD_TYPE) | (1n << 5n) | (BigInt(statusData >>> 0) << 32n);
  return [lo, statusAddr];
}

export function decodeDesc(lo: bigint, hi: bigint): InvDescriptor {
  const type = Number(lo & 0xfn);
  switch (type) {
    case QI_CC_TYPE:
      return {
        type: "cc",
        granularity: Number((lo >> 4n) & 3n),
        did: Number((lo >> 16n) & 0xffffn),
        sid: Number((lo >> 32n) & 0xffffn),
        fm: Number((lo >> 48n) & 3n),
      };
    case QI_IOTLB_TYPE:
      return {
        type: "iotlb",
        granularity: Number((lo >> 4n) & 3n),
        dw: ((lo >> 6n) & 1n) === 1n,
        dr: ((lo >> 7n) & 1n) === 1n,
        did: Number((lo >> 16n) & 0xffffn),
        addr: hi & ~0xfffn,
        ih: ((hi >> 6n) & 1n) === 1n,
        am: Number(hi & 0x3fn),
      };
    case QI_IEC_TYPE:
      return { type: "iec", global: ((lo >> 4n) & 1n) === 0n, im: Number((lo >> 27n) & 0x1fn), index: Number((lo >> 32n) & 0xffffn) };
    case QI_IWD_TYPE:
      return {
        type: "wait",
        interrupt: ((lo >> 4n) & 1n) === 1n,
        statusWrite: ((lo >> 5n) & 1n) === 1n,
        fence: ((lo >> 6n) & 1n) === 1n,
        statusData: Number((lo >> 32n) & 0xffffffffn),
        statusAddr: hi & ~3n,
      };
    case QI_DIOTLB_TYPE:
      return { type: "dev-iotlb", sid: Number((lo >> 32n) & 0xffffn), addr: hi & ~0xfffn, size: (hi & 1n) === 1n, qdep: Number((lo >> 16n) & 0x1fn), pfsid: Number(((lo >> 12n) & 0xfn) | (((lo >> 52n) & 0xfffn) << 4n)) };
    case QI_DEIOTLB_TYPE:
      return { type: "pdev-iotlb", sid: Number((lo >> 16n) & 0xffffn), pasid: Number((lo >> 32n) & 0xfffffn), addr: hi & ~0xfffn, size: ((hi >> 11n) & 1n) === 1n, global: (hi & 1n) === 1n, qdep: Number((lo >> 4n) & 0x1fn), pfsid: Number(((lo >> 12n) & 0xfn) | (((lo >> 52n) & 0xfffn) << 4n)) };
    case QI_EIOTLB_TYPE:
      return { type: "piotlb", granularity: Number((lo >> 4n) & 3n), did: Number((lo >> 16n) & 0xffffn), pasid: Number((lo >> 32n) & 0xfffffn), addr: hi & ~0xfffn, ih: ((hi >> 6n) & 1n) === 1n, am: Number(hi & 0x3fn) };
    case QI_PC_TYPE:
      return { type: "pc", granularity: Number((lo >> 4n) & 3n), did: Number((lo >> 16n) & 0xffffn), pasid: Number((lo >> 32n) & 0xfffffn) };
    case QI_PGRP_RESP_TYPE:
      return { type: "pgrp-resp", ...decodePageResponseDesc(lo, hi) };
    default:
      return { type: "unknown", code: type };
  }
}

export function describeDesc(d: InvDescriptor): string {
  switch (d.type) {
    case "cc":
      return d.granularity === CC_GLOBAL
        ? "context-cache global"
        : d.granularity === CC_DOMAIN
          ? `context-cache domain did=${d.did}`
          : `context-cache device did=${d.did} sid=${d.sid.toString(16).padStart(4, "0")} fm=${d.fm}`;
    case "iotlb":
      return d.granularity === IOTLB_GLOBAL
        ? "IOTLB global"
        : d.granularity === IOTLB_DSI
          ? `IOTLB domain did=${d.did}`
          : `IOTLB page did=${d.did} addr=0x${d.addr.toString(16)} am=${d.am} ih=${d.ih ? 1 : 0}`;
    case "iec":
      return d.global ? "interrupt-entry-cache global" : `interrupt-entry-cache index ${d.index}`;
    case "wait":
      return `invalidation wait${d.statusWrite ? ` status 0x${d.statusData.toString(16)} -> 0x${d.statusAddr.toString(16)}` : ""}`;
    case "dev-iotlb":
      return `device-TLB sid=${d.sid.toString(16).padStart(4, "0")} addr=0x${d.addr.toString(16)}${d.size ? " s=1" : ""}`;
    case "pdev-iotlb":
      return `PASID-based device-TLB sid=${d.sid.toString(16).padStart(4, "0")} ${d.global ? "all PASIDs" : `pasid=0x${d.pasid.toString(16)}`} addr=0x${d.addr.toString(16)}${d.size ? " s=1" : ""}`;
    case "piotlb":
      return d.granularity === PIOTLB_PSI
        ? `PASID-based IOTLB page did=${d.did} pasid=0x${d.pasid.toString(16)} addr=0x${d.addr.toString(16)} am=${d.am} ih=${d.ih ? 1 : 0}`
        : `PASID-based IOTLB did=${d.did} pasid=0x${d.pasid.toString(16)}`;
    case "pc":
      return d.granularity === PC_GLOBAL ? "PASID-cache global" : d.granularity === PC_PASID ? `PASID-cache did=${d.did} pasid=0x${d.pasid.toString(16)}` : `PASID-cache domain did=${d.did}`;
    case "pgrp-resp":
      return `page group response rid=${formatRid(d.rid)} pasid=0x${d.pasid.toString(16)} prgi=${d.prgi} code=${d.code === QI_RESP_SUCCESS ? "success" : d.code === QI_RESP_INVALID ? "invalid" : d.code === QI_RESP_FAILURE ? "failure" : `0x${d.code.toString(16)}`}`;
    default:
      return `unknown descriptor type 0x${d.code.toString(16)}`;
  }
}

function formatRid(rid: number): string {
  return `${(rid >> 8).toString(16).padStart(2, "0")}:${((rid >> 3) & 0x1f).toString(16).padStart(2, "0")}.${rid & 7}`;
}
