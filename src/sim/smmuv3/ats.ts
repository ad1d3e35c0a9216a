/**
 * PCIe ATS behind an SMMUv3 (SMMUv3 spec 3.9 "Support for PCI Express ATS"; Linux arm-smmu-v3.c
 * arm_smmu_enable_ats / arm_smmu_atc_inv_domain): an endpoint with an Address Translation Cache
 * asks the SMMU to translate (a Translation Request), caches the answer in its ATC, and then sends
 * Translated transactions carrying the physical address, which the SMMU passes without a walk when
 * STE.EATS allows them. The ATC is emptied only by CMD_ATC_INV (which the SMMU forwards to the
 * endpoint as an ATS Invalidate Request): an unmap whose ATC invalidation is missing leaves the
 * device with a stale translation - the bug ATS adds.
 *
 * Here: the endpoints' ATCs (DeviceAtc, keyed by StreamID) and CMD_ATC_INV's decoding. The SMMU
 * side (the EATS checks and their events) is in unit.ts atsTranslate() / translatedRequest().
 *
 * Pure module: no vscode, no Node built-ins.
 */

/** CMDQ_OP_ATC_INV (arm-smmu-v3.h). */
export const CMD_ATC_INV = 0x40;
/** ATC_INV_SIZE_ALL (arm-smmu-v3.h): Size = 52 invalidates the whole address space. */
export const ATC_INV_SIZE_ALL = 52;
/** STE.EATS (STRTAB_STE_1_EATS, word 1 bits 29:28): 0b00 ATS aborted, 0b01 full ATS (STRTAB_STE_1_EATS_TRANS), 0b10 split-stage. */
export const EATS_ABORT = 0;
export const EATS_TRANS = 1;

/** One ATC entry: a translation the endpoint cached from a Translation Completion. */
export interface AtcEntry {
  sid: number;
  /** SubstreamID (PASID) of the request, -1 without one. */
  ssid: number;
  /** Untranslated page base and size (bytes), the physical base, R/W permission bits (1, 2). */
  iova: number;
  size: number;
  pa: number;
  perm: number;
}

/** The ATCs of the endpoints behind one SMMU (a few entries each; a slow path: explain and ATS steps only). */
export class DeviceAtc {
  entries: AtcEntry[] = [];

  /** The entry covering `iova` for (sid, ssid), if the endpoint has one. */
  lookup(sid: number, ssid: number, iova: number): AtcEntry | undefined {
    return this.entries.find((e) => e.sid === sid && e.ssid === ssid && iova >= e.iova && iova < e.iova + e.size);
  }

  fill(e: AtcEntry): void {
    this.entries = this.entries.filter((x) => !(x.sid === e.sid && x.ssid === e.ssid && x.iova === e.iova));
    this.entries.push(e);
  }

  /**
   * CMD_ATC_INV (SMMUv3 spec 4.5.1; Linux arm-smmu-v3.h CMDQ_ATC_0_SID [63:32], CMDQ_ATC_0_SSID
   * [31:12], CMDQ_0_SSV [11], CMDQ_ATC_0_GLOBAL [9]; CMDQ_ATC_1_SIZE [5:0], CMDQ_ATC_1_ADDR_MASK
   * [63:12]): the span is 2^Size 4 KiB pages aligned to itself, Size 52 everything. Without SSV
   * (or with Global) every SubstreamID of the stream; with SSV that one. Returns how many entries
   * were dropped.
   */
  invalidate(w0: bigint, w1: bigint): number {
    const sid = Number((w0 >> 32n) & 0xffffffffn);
    const ssid = Number((w0 >> 12n) & 0xfffffn);
    const anySsid = ((w0 >> 9n) & 1n) === 1n || ((w0 >> 11n) & 1n) === 0n;
    const size = Number(w1 & 0x3fn);
    const span = 2 ** (Math.min(size, ATC_INV_SIZE_ALL) + 12);
    const addr = Number((w1 >> 12n) & 0xfffffffffffffn) * 4096;
    const start = size >= ATC_INV_SIZE_ALL ? 0 : addr - (addr % span);
    const end = size >= ATC_INV_SIZE_ALL ? Infinity : start + span;
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => !(e.sid === sid && (anySsid || e.ssid === ssid) && e.iova < end && e.iova + e.size > start));
    return before - this.entries.length;
  }

  snapshot(): AtcEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  restore(s: readonly AtcEntry[] | undefined): void {
    this.entries = (s ?? []).map((e) => ({ ...e }));
  }
}

/**
 * The CMD_ATC_INV of [iova, iova + size) for a stream, as Linux arm_smmu_atc_inv_to_cmd builds it:
 * SSV when there is a PASID; size 0 is ATC_INV_SIZE_ALL; else log2_span = fls(page_start ^
 * page_end) and the start aligned down to the span.
 */
export function atcInvCommand(sid: number, ssid: number, iova: number, size: number): [bigint, bigint] {
  const ssv = ssid >= 0;
  const w0 = BigInt(CMD_ATC_INV) | (BigInt(sid) << 32n) | (BigInt(ssv ? ssid : 0) << 12n) | (ssv ? 1n << 11n : 0n);
  if (size === 0) return [w0, BigInt(ATC_INV_SIZE_ALL)];
  const first = Math.floor(iova / 4096);
  const last = Math.floor((iova + size - 1) / 4096);
  // log2 of the span that contains both first and last page, aligned to itself.
  let log2 = 0;
  while (Math.floor(first / 2 ** log2) !== Math.floor(last / 2 ** log2)) log2++;
  const base = Math.floor(first / 2 ** log2) * 2 ** log2 * 4096;
  return [w0, BigInt(base) | BigInt(log2)];
}
