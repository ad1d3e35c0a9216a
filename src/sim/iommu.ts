/**
 * The IOMMU contract: what every IOMMU model (Intel VT-d now; AMD-Vi, Arm SMMUv3, VT-d scalable
 * mode later) offers the engine. Views never interpret a table entry or re-walk tables: a hover,
 * Translate Address, the debugger's Translation scope, the trace's walk pane and the quick fixes
 * all read the model's verdict and its walk *trail*, recorded by the code that decides the verdict.
 *
 * The hot DMA path is not this interface: a model keeps its allocation-free API for that (VT-d:
 * DmarUnit.translate with results in fields). `translate` here is one DMA request as the device
 * issues it (caches filled, faults recorded), `explain` the same question asked without side
 * effects, with the trail — both answer from the same code, in the hardware's order.
 *
 * Pure module: no vscode, no Node built-ins.
 */

/** One DMA request. Addresses are bigints: this is the inspection path, not the hot path. */
export interface TranslateRequest {
  /** Requester id (bus << 8 | devfn) or the model's stream id. */
  sid: number;
  /** PASID / substream id (models without one ignore it). */
  pasid?: number;
  iova: bigint;
  /** Bytes accessed from iova (default 1); a model may check only the first page. */
  size?: number;
  write: boolean;
  exec?: boolean;
  privileged?: boolean;
}

/** Permission bits of a translation: R = 1, W = 2, X = 4. */
export const PERM_R = 1;
export const PERM_W = 2;
export const PERM_X = 4;

export type VerdictKind = "translated" | "pass-through" | "untranslated" | "interrupt" | "fault";

/** How the IOMMU handled a request. */
export interface Verdict {
  kind: VerdictKind;
  /** The hardware's fault reason code (VT-d FR, AMD-Vi event code, SMMU event id); 0 unless a fault. */
  reason: number;
  /**
   * Translated: the leaf level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB); fault: the level whose entry
   * faulted (0 when no page-table entry decided: context faults, address width).
   */
  level: number;
  /** The output address unless the request faulted (an interrupt request: the address as issued, untranslated). */
  hpa?: bigint;
  /** Permissions of the translation (PERM_*): ANDed down the levels, or those of the IOTLB entry. */
  perms: number;
  /** Answered by the IOTLB (a hit: permitted or not). */
  cached: boolean;
  /** The domain the request was translated in, when a context said so. */
  domain?: number;
}

/**
 * Which structure an entry of the trail is, model-neutral: the table indexed by the requester
 * (VT-d root table, SMMU stream table level 1), the per-device entry (VT-d context entry, AMD-Vi
 * device table entry, SMMU STE), the per-PASID entry (PASID entry, SMMU CD), a page-table entry.
 */
export type TrailEntryKind = "root" | "context" | "pasid" | "pte";

/** One decoded field of an entry, from the model's own decoder. */
export interface TrailField {
  name: string;
  /** Bit range in the entry as the spec writes it: "0", "63:12", "127:64" (128-bit entries count on). */
  bits: string;
  /** The field's value as text (a number in hex for addresses, else decimal). */
  value: string;
  /** What the value means here, when that is more than the number ("pass-through", "reserved"). */
  meaning?: string;
}

/** One entry the translation read, in the order it read them. */
export interface TrailEntry {
  kind: TrailEntryKind;
  /** The spec's name: "root entry", "context entry", "SL-PML4E", "SL-PTE". */
  name: string;
  /** Page-table level for `pte` entries (4 = the PML4 of a 4-level table), 0 otherwise. */
  level: number;
  /** Index of the entry in its table (bus for a root entry, devfn for a context entry, IOVA bits for a PTE). */
  index: number;
  /** HPA of the entry. */
  address: bigint;
  /** The entry as read, low qword first; empty when it could not be read. */
  raw: bigint[];
  /** Decoded fields in the spec's bit order; empty when the entry could not be read. */
  fields: TrailField[];
}

/** Why a walk stopped, model-neutral, for views that act on it (a quick fix for a missing mapping). */
export type StopCause = "not-present" | "permission" | "reserved" | "unreadable" | "invalid" | "address-width" | "interrupt-range";

/** Where and why the walk stopped (a fault). */
export interface TrailStop {
  /** Index into `entries` of the entry that decided; -1 when none did (a check before the first read). */
  entry: number;
  /** The hardware's fault reason code (the verdict's, when the trail decided the verdict). */
  reason: number;
  cause: StopCause;
  /** One line: "write request, W = 0 in the SL-PDPE". */
  why: string;
}

/** The entries a translation reads, and where it stopped when it faulted. */
export interface Trail {
  entries: TrailEntry[];
  stop?: TrailStop;
}

/** A request explained: the verdict and the walk that decides it. */
export interface Translation {
  request: TranslateRequest;
  verdict: Verdict;
  /**
   * The walk of the tables as they are now, recorded by the model's own translation code. When a
   * cache answered (verdict.cached, or a cached context), this is the walk a miss would do — the
   * hardware read none of it — so a stale cache entry shows as a verdict the trail disagrees with.
   */
  trail: Trail;
  /** The trail's verdict differs from the cached verdict: a stale IOTLB (or context-cache) entry answered. */
  stale: boolean;
}

/** What every IOMMU model implements for the engine and the views. */
export interface IommuModel {
  /** The model's name for users: "Intel VT-d (legacy mode)". */
  readonly model: string;
  /** One DMA request as the device issues it: caches filled, faults recorded. */
  translate(req: TranslateRequest): Verdict;
  /** The same request without side effects, with its trail: what every view shows. */
  explain(req: TranslateRequest): Translation;
}
