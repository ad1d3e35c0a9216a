/**
 * Evidence on the wire: what an importer makes of real-world text (records tied to their source
 * lines, skipped lines with the reason), the kinds of text it reads, and the explanation of a
 * record. The import layer produces them (import/records.ts, import/explain.ts); the engine
 * protocol (evidenceParse, evidenceExplain) carries them.
 */

/** What a text is: a kernel log, a group listing, an ftrace, lspci, a libvirt XML or a QEMU command line. */
export type EvidenceKind = "log" | "groups" | "ftrace" | "lspci" | "libvirt" | "qemu";

export type RecordKind =
  | "dmar-fault"
  | "intr-remap-fault"
  /** QEMU's intel-iommu (a vIOMMU) could not translate through the guest's own tables. */
  | "viommu-fault"
  | "amdvi-event"
  | "smmuv3-event"
  | "smmuv2-fault"
  | "vfio-message"
  | "rmrr"
  | "group-add"
  | "iommu-group"
  | "pci-device"
  | "vm-config"
  | "ftrace"
  | "boot-state"
  | "device-event"
  /** A line of the Intel IOMMU driver's debugfs dumps (iommu_regset, dmar_translation_struct, domain_translation_struct): import/debugfs.ts. */
  | "vtd-debugfs";

export type FieldValue = string | number | boolean;

export interface EvidenceRecord {
  kind: RecordKind;
  /** 0-based first and last line of the record in the input. */
  line: number;
  endLine: number;
  /** Column where the message starts on its first line (after log prefixes). */
  column: number;
  /** The record's own lines, as in the input. */
  text: string;
  timestamp?: string;
  /** One line in plain words: what the record says. */
  summary: string;
  fields: Record<string, FieldValue>;
  /** Lines that belong to the record without being records: "DRHD: handling fault status reg 3", ... */
  context: { line: number; text: string }[];
}

/** A run of consecutive lines skipped for the same reason. */
export interface Skipped {
  line: number;
  endLine: number;
  reason: string;
}

export interface ImportResult {
  records: EvidenceRecord[];
  skipped: Skipped[];
}

export interface Explanation {
  record: number;
  title: string;
  meaning: string;
  causes: string[];
  checks: string[];
  evidence: string[];
}

// ------------------------------------------------------------- the decoded document (import/document.ts)

export type OutlineKind = "record" | "context" | "fields" | "field" | "meaning" | "evidence" | "causes" | "cause" | "checks" | "check" | "section";

export interface OutlineItem {
  name: string;
  detail: string;
  kind: OutlineKind;
  /** 0-based first and last line in the document; columns of the part that names it (the selection range). */
  start: number;
  end: number;
  column: number;
  endColumn: number;
  /** For kind "record": its index in the import's records. */
  record?: number;
  children: OutlineItem[];
}

/**
 * Imports with more records than this get record and group symbols only (no symbol per field,
 * cause, check): the worker sends their outline without the groups' line items (one-line items
 * that neither fold nor show), and the Outline stays fast.
 */
export const DEEP_OUTLINE_RECORDS = 300;

export interface EvidenceDocument {
  text: string;
  outline: OutlineItem[];
  /** Document line of each record's header, by record index. */
  recordLines: number[];
}
