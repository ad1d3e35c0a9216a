/**
 * The host kernel's DMAR fault messages, character for character, for every format generation
 * of drivers/iommu/intel/dmar.c (`dmar_fault()` / `dmar_fault_do_one()`), plus the Invalidation
 * Queue error dump (`qi_dump_fault()` / `qi_check_fault()`).
 *
 * Lines are returned without the printk timestamp but with the pr_fmt prefix of the era
 * ("dmar: " before v4.1, "DMAR: " from v4.1 on). A message whose format contains an embedded "\n"
 * (the two-line ≤ v4.6 forms) is returned as two strings; the second one has no pr_fmt prefix.
 *
 * Format sources: see the table on ERA_FORMATS below and iommu-reference.md §3.
 * Pure module: no vscode, no Node built-ins.
 */
import { formatSid, formatSidZeroX } from "../bdf.js";
import { Ratelimit } from "../printk.js";
import { dmarGetFaultReason } from "./reasons.js";
import { parseKernelVersion, versionAtLeast } from "../kernelVersion.js";

/** Format generations of the DMAR fault message (first kernel version of each). */
export type KernelEra = "3.x" | "4.1" | "4.7" | "5.4" | "5.14" | "5.15";
export const KERNEL_ERAS: readonly KernelEra[] = ["3.x", "4.1", "4.7", "5.4", "5.14", "5.15"];
/** The era of current kernels. */
export const CURRENT_ERA: KernelEra = "5.15";

/**
 * Kernel version → format era:
 * < 4.2 "3.x" (pr_fmt `KBUILD_MODNAME ": "` = "dmar: "), 4.2–4.6 "4.1" (pr_fmt "DMAR: ", two-line form;
 * the era keeps its old name: a v4.1.3 tree's dmar.c still has `KBUILD_MODNAME ": "`, a v4.2.8 tree's
 * has `"DMAR: "` - mlpzaq9998/linux-4.2 vs fsl-jyt/linux-4.1.3, test/unit/kernel-boundaries.test.ts),
 * 4.7–5.3 "4.7" (one line, a0fe14d7dcf5), 5.4–5.13 "5.4" (PASID %x, SM reasons), 5.14 "5.14"
 * (719a19335692, "0x" before bus/dev), ≥ 5.15 "5.15" (current). Throws RangeError without a number.
 *
 * 5.4, not 5.5: "iommu/vt-d: Add Scalable Mode fault information" (Kyung Min Park, posted
 * 2019-09-06, merged for the v5.4 merge window) is in v5.4 - a v5.4.228 tree's drivers/iommu/dmar.c
 * (ReaperSigma/WildAngelKernel_sm8350_samsung @d1493a77, Makefile VERSION 5 PATCHLEVEL 4) has
 * `dma_remap_sm_fault_reasons[]` and `"[%s] Request device [%02x:%02x.%d] PASID %x fault addr %llx
 * [fault reason %02d] %s\n"` with `pasid_present ? pasid : -1`, as Ubuntu 20.04's 5.4.0 kernels print.
 */
export function kernelEra(version: string): KernelEra {
  const v = parseKernelVersion(version);
  if (!v) throw new RangeError(`not a kernel version: ${JSON.stringify(version)}`);
  if (versionAtLeast(v, 5, 15)) return "5.15";
  if (versionAtLeast(v, 5, 14)) return "5.14";
  if (versionAtLeast(v, 5, 4)) return "5.4";
  if (versionAtLeast(v, 4, 7)) return "4.7";
  if (versionAtLeast(v, 4, 2)) return "4.1";
  return "3.x";
}

/** pr_fmt of dmar.c: `KBUILD_MODNAME ": "` up to v4.1, `"DMAR: "` since v4.2 (see kernelEra). */
export function dmarPrefix(era: KernelEra): string {
  return era === "3.x" ? "dmar: " : "DMAR: ";
}

/** Whether `dmar_get_fault_reason()` knows the scalable-mode table (from v5.4: same patch as the PASID form, see kernelEra). */
export function hasScalableReasons(era: KernelEra): boolean {
  return era === "5.4" || era === "5.14" || era === "5.15";
}

/** One primary fault record as `dmar_fault()` decodes it from FRCD. */
export interface DmarFaultRecord {
  /** FRCD.T = 0 ("DMA Write"); Linux prints `type ? "DMA Read" : "DMA Write"`. */
  write: boolean;
  /** FRCD.FR (u8). */
  reason: number;
  /** FRCD.SID: bus << 8 | devfn. */
  sourceId: number;
  /** FRCD.FI (qword 0); Linux keeps `d & (~0ULL << 12)`. IR faults carry the interrupt index in bits 63:48. */
  address: bigint;
  /** FRCD.PV when FRCD.PP is set; undefined = no PASID. */
  pasid?: number;
}

const MASK64 = (1n << 64n) - 1n;
const hex = (n: number | bigint): string => n.toString(16);
const hex2 = (n: number): string => n.toString(16).padStart(2, "0");
const dec2 = (n: number): string => n.toString(10).padStart(2, "0");

/** `%02x:%02x.%d` of `source_id >> 8, PCI_SLOT(source_id & 0xFF), PCI_FUNC(source_id & 0xFF)`. */
const bdf = (sid: number, zeroX = false): string => (zeroX ? formatSidZeroX(sid) : formatSid(sid));

/**
 * The message(s) `dmar_fault_do_one()` prints for one record in the given era.
 *
 * Exact C formats (pr_err, so prefixed by pr_fmt):
 *  - ≤ v4.6 ("3.x", "4.1"), drivers/iommu/dmar.c before a0fe14d7dcf5:
 *      DMA: `"DMAR:[%s] Request device [%02x:%02x.%d] " "fault addr %llx \n" "DMAR:[fault reason %02d] %s\n"`
 *      IR:  `"INTR-REMAP: Request device [[%02x:%02x.%d] " "fault index %llx\n" "INTR-REMAP:[fault reason %02d] %s\n"`
 *  - v4.7 – v5.3 ("4.7"), a0fe14d7dcf5 "iommu/vt-d: Improve fault handler error messages":
 *      DMA: `"[%s] Request device [%02x:%02x.%d] fault addr %llx [fault reason %02d] %s\n"`
 *      IR:  `"[INTR-REMAP] Request device [%02x:%02x.%d] fault index %llx [fault reason %02d] %s\n"`
 *  - v5.4 – v5.13 ("5.4"), "iommu/vt-d: Add Scalable Mode fault information" (pasid = −1 when absent, `int`):
 *      DMA: `"[%s] Request device [%02x:%02x.%d] PASID %x fault addr %llx [fault reason %02d] %s\n"`
 *      IR:  unchanged from v4.7
 *  - v5.14 ("5.14"), 719a19335692 "iommu/vt-d: Tweak the description of a DMA fault":
 *      DMA: `"[%s NO_PASID] Request device [0x%02x:0x%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s\n"`
 *           `"[%s PASID 0x%x] Request device [0x%02x:0x%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s\n"`
 *      IR:  `"[INTR-REMAP] Request device [0x%02x:0x%02x.%d] fault index 0x%llx [fault reason 0x%02x] %s\n"`
 *  - ≥ v5.15 ("5.15"), "iommu/vt-d: Drop "0x" prefix from PCI bus & device addresses" (dmar.c @c34e9ab9a612):
 *      DMA: `"[%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s\n"`
 *           `"[%s PASID 0x%x] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s\n"`
 *      IR:  `"[INTR-REMAP] Request device [%02x:%02x.%d] fault index 0x%llx [fault reason 0x%02x] %s\n"`
 *
 * The reason text and the DMA/IR choice come from `dmar_get_fault_reason()` (Unknown codes use the
 * DMA form). PASID is only printed from v5.4 on; earlier kernels ignore FRCD.PP.
 * (Current kernels follow a DMA fault with `dmar_fault_dump_ptes()` output only under
 * CONFIG_DMAR_DEBUG; not rendered here.)
 */
export function renderDmarFault(rec: DmarFaultRecord, era: KernelEra): string[] {
  const pre = dmarPrefix(era);
  const fr = rec.reason & 0xff;
  const { text, kind } = dmarGetFaultReason(fr, hasScalableReasons(era));
  const addr = BigInt.asUintN(64, rec.address) & (MASK64 << 12n) & MASK64; // dma_frcd_page_addr()
  const type = rec.write ? "DMA Write" : "DMA Read";
  const sid = rec.sourceId & 0xffff;

  switch (era) {
    case "3.x":
    case "4.1":
      if (kind === "intr-remap")
        return [`${pre}INTR-REMAP: Request device [[${bdf(sid)}] fault index ${hex(addr >> 48n)}`, `INTR-REMAP:[fault reason ${dec2(fr)}] ${text}`];
      return [`${pre}DMAR:[${type}] Request device [${bdf(sid)}] fault addr ${hex(addr)} `, `DMAR:[fault reason ${dec2(fr)}] ${text}`];
    case "4.7":
      if (kind === "intr-remap") return [`${pre}[INTR-REMAP] Request device [${bdf(sid)}] fault index ${hex(addr >> 48n)} [fault reason ${dec2(fr)}] ${text}`];
      return [`${pre}[${type}] Request device [${bdf(sid)}] fault addr ${hex(addr)} [fault reason ${dec2(fr)}] ${text}`];
    case "5.4": {
      if (kind === "intr-remap") return [`${pre}[INTR-REMAP] Request device [${bdf(sid)}] fault index ${hex(addr >> 48n)} [fault reason ${dec2(fr)}] ${text}`];
      // `int pasid = pasid_present ? pasid : -1`, printed with %x.
      const pasid = rec.pasid === undefined ? "ffffffff" : hex(rec.pasid & 0xfffff);
      return [`${pre}[${type}] Request device [${bdf(sid)}] PASID ${pasid} fault addr ${hex(addr)} [fault reason ${dec2(fr)}] ${text}`];
    }
    case "5.14":
    case "5.15": {
      const zeroX = era === "5.14";
      if (kind === "intr-remap")
        return [`${pre}[INTR-REMAP] Request device [${bdf(sid, zeroX)}] fault index 0x${hex(addr >> 48n)} [fault reason 0x${hex2(fr)}] ${text}`];
      const tag = rec.pasid === undefined ? `${type} NO_PASID` : `${type} PASID 0x${hex(rec.pasid & 0xfffff)}`;
      return [`${pre}[${tag}] Request device [${bdf(sid, zeroX)}] fault addr 0x${hex(addr)} [fault reason 0x${hex2(fr)}] ${text}`];
    }
  }
}

/** `pr_err("DRHD: handling fault status reg %x\n", fault_status)` (all eras). */
export function renderDrhdLine(faultStatus: number, era: KernelEra): string {
  return `${dmarPrefix(era)}DRHD: handling fault status reg ${hex(faultStatus >>> 0)}`;
}

// ---- dmar_fault(): the whole interrupt, with its ratelimit -------------------------------------

/**
 * How `dmar_fault()` uses its `static DEFINE_RATELIMIT_STATE(rs, 5 * HZ, 10)`:
 *  - "none": ≤ v4.6, every line is printed;
 *  - "per-irq": v4.7 – v4.17, one `__ratelimit()` per interrupt gates the DRHD line and all records
 *    (a v4.4 tree's dmar_fault has no ratelimit, v4.9's, v4.15.18's and v4.16.13's have this form;
 *    v4.7 as the start is assumed from the v4.7 fault-handler rework, no 4.5-4.8 tree was read);
 *  - "per-record": v4.18+ ("iommu/vt-d: Ratelimit each dmar fault printing", Dmitry Safonov; a
 *    v4.18 tree has it, v4.16.13 not; v4.17 was not read, so v4.17 may already be per-record):
 *    one call for the DRHD line (only if FSTS ≠ 0) and one at the top of every loop iteration,
 *    including the final iteration that finds FRCD.F clear and breaks (dmar.c @c34e9ab9a612).
 */
export type DmarRatelimitModel = "none" | "per-irq" | "per-record";

export function dmarRatelimitModel(version: string): DmarRatelimitModel {
  const v = parseKernelVersion(version);
  if (!v) throw new RangeError(`not a kernel version: ${JSON.stringify(version)}`);
  if (versionAtLeast(v, 4, 18)) return "per-record";
  if (versionAtLeast(v, 4, 7)) return "per-irq";
  return "none";
}

const DMA_FSTS_PPF = 1 << 1;

/**
 * All kernel-log lines of one `dmar_fault()` invocation: the DRHD line, the records (read only if
 * FSTS.PPF is set; `records` in the order the loop finds them, starting at FSTS.FRI), and any
 * "dmar_fault: N callbacks suppressed" line where `___ratelimit()` emits it. `rl` is the handler's
 * static ratelimit state (shared by all DMAR units of the host, as in Linux).
 */
export function dmarFaultInterrupt(rl: Ratelimit, nowNs: bigint, faultStatus: number, records: readonly DmarFaultRecord[], kernelVersion: string): string[] {
  const era = kernelEra(kernelVersion);
  const model = dmarRatelimitModel(kernelVersion);
  const out: string[] = [];
  const limit = (): boolean => {
    const r = rl.check(nowNs, "dmar_fault");
    if (r.suppressedLine !== undefined) out.push(r.suppressedLine);
    return r.allowed;
  };
  const ppf = (faultStatus & DMA_FSTS_PPF) !== 0;
  const recs = ppf ? records : [];

  if (model === "none") {
    if (faultStatus !== 0) out.push(renderDrhdLine(faultStatus, era));
    for (const r of recs) out.push(...renderDmarFault(r, era));
    return out;
  }
  if (model === "per-irq") {
    const ok = limit();
    if (!ok) return out;
    if (faultStatus !== 0) out.push(renderDrhdLine(faultStatus, era));
    for (const r of recs) out.push(...renderDmarFault(r, era));
    return out;
  }
  if (faultStatus !== 0 && limit()) out.push(renderDrhdLine(faultStatus, era));
  if (!ppf) return out;
  for (const r of recs) if (limit()) out.push(...renderDmarFault(r, era));
  limit(); // the iteration that reads FRCD.F = 0 and breaks
  return out;
}

// ---- Invalidation Queue errors -----------------------------------------------------------------

export const DMA_FSTS_IQE = 1 << 4;
export const DMA_FSTS_ICE = 1 << 5;
export const DMA_FSTS_ITE = 1 << 6;

/** `qi_type_string(desc->qw0 & 0xf)` (dmar.c @c34e9ab9a612). */
export function qiTypeString(type: number): string {
  switch (type & 0xf) {
    case 0x1: return "Context-cache Invalidation";
    case 0x2: return "IOTLB Invalidation";
    case 0x3: return "Device-TLB Invalidation";
    case 0x4: return "Interrupt Entry Cache Invalidation";
    case 0x5: return "Invalidation Wait";
    case 0x6: return "PASID-based IOTLB Invalidation";
    case 0x7: return "PASID-cache Invalidation";
    case 0x8: return "PASID-based Device-TLB Invalidation";
    case 0x9: return "Page Group Response";
    default: return "UNKNOWN";
  }
}

export interface QiDescriptor {
  qw0: bigint;
  qw1: bigint;
}

export interface QiErrorInput {
  /** FSTS & (IQE | ITE | ICE). */
  fault: number;
  /** IQER register: IQEI [3:0], ITESID [47:32], ICESID [63:48]. */
  iqer: bigint;
  /** Descriptor at IQH (`QI HEAD`) and the one before it (`QI PRIOR`). */
  head: QiDescriptor;
  prior: QiDescriptor;
  /**
   * IQE only: whether IQH points at the submitting caller's descriptor, in which case
   * qi_check_fault() clears IQE, prints "Invalidation Queue Error (IQE) cleared" and returns
   * -EINVAL before looking at ITE/ICE. Default true.
   */
  iqeAtSubmitted?: boolean;
}

/**
 * `qi_dump_fault()` followed by the `pr_info` lines of `qi_check_fault()` (current dmar.c,
 * @c34e9ab9a612; the "VT-d detected ..." formats have no "\n" but each is a separate record):
 * `"VT-d detected Invalidation Queue Error: Reason %llx"`, `"... Time-out Error: SID %llx"`,
 * `"... Completion Error: SID %llx"`, `"QI HEAD: %s qw0 = 0x%llx, qw1 = 0x%llx\n"`,
 * `"QI PRIOR: %s qw0 = 0x%llx, qw1 = 0x%llx\n"`, then `"Invalidation Queue Error (IQE) cleared\n"` /
 * `"Invalidation Time-out Error (ITE) cleared\n"` / `"Invalidation Completion Error (ICE) cleared\n"`.
 * All prefixed "DMAR: ". `kernel` older than v5.13: the one line of qi_check_fault() before qi_dump_fault() (below).
 */
export function renderQiError(e: QiErrorInput, kernel?: string): string[] {
  const f = e.fault & (DMA_FSTS_IQE | DMA_FSTS_ITE | DMA_FSTS_ICE);
  if (f === 0) return [];
  const v = kernel === undefined ? undefined : parseKernelVersion(kernel);
  if (v !== undefined && !versionAtLeast(v, 5, 13)) {
    // Before "iommu/vt-d: Report more information about invalidation errors" (Lu Baolu, posted
    // 2021-03-18, v5.13) qi_check_fault() printed only the rejected descriptor, and nothing for
    // ITE / ICE: `pr_err("VT-d detected invalid descriptor: qw0 = %llx, qw1 = %llx\n")` since the
    // 256-bit descriptor support of v5.0, `"VT-d detected invalid descriptor: low=%llx, high=%llx\n"`
    // before it (struct qi_desc { u64 low, high; }); pr_fmt as dmar.c's (dmarPrefix).
    if (!(f & DMA_FSTS_IQE) || !(e.iqeAtSubmitted ?? true)) return [];
    const pre = dmarPrefix(kernelEra(kernel!));
    const qw0 = BigInt.asUintN(64, e.head.qw0).toString(16);
    const qw1 = BigInt.asUintN(64, e.head.qw1).toString(16);
    return [versionAtLeast(v, 5, 0) ? `${pre}VT-d detected invalid descriptor: qw0 = ${qw0}, qw1 = ${qw1}` : `${pre}VT-d detected invalid descriptor: low=${qw0}, high=${qw1}`];
  }
  const pre = "DMAR: ";
  const iqer = BigInt.asUintN(64, e.iqer);
  const out: string[] = [];
  if (f & DMA_FSTS_IQE) out.push(`${pre}VT-d detected Invalidation Queue Error: Reason ${hex(iqer & 0xfn)}`);
  if (f & DMA_FSTS_ITE) out.push(`${pre}VT-d detected Invalidation Time-out Error: SID ${hex((iqer >> 32n) & 0xffffn)}`);
  if (f & DMA_FSTS_ICE) out.push(`${pre}VT-d detected Invalidation Completion Error: SID ${hex((iqer >> 48n) & 0xffffn)}`);
  const d = (label: string, q: QiDescriptor): string => {
    const qw0 = BigInt.asUintN(64, q.qw0);
    return `${pre}${label}: ${qiTypeString(Number(qw0 & 0xfn))} qw0 = 0x${hex(qw0)}, qw1 = 0x${hex(BigInt.asUintN(64, q.qw1))}`;
  };
  out.push(d("QI HEAD", e.head), d("QI PRIOR", e.prior));
  if (f & DMA_FSTS_IQE && (e.iqeAtSubmitted ?? true)) {
    out.push(`${pre}Invalidation Queue Error (IQE) cleared`);
    return out;
  }
  if (f & DMA_FSTS_ITE) out.push(`${pre}Invalidation Time-out Error (ITE) cleared`);
  if (f & DMA_FSTS_ICE) out.push(`${pre}Invalidation Completion Error (ICE) cleared`);
  return out;
}
