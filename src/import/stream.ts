/**
 * Parsing evidence as it streams in: text arrives in chunks of any size; complete lines are
 * parsed in slices that re-read the last OVERLAP_LINES lines of the previous slice, so a
 * multi-line record (a ≤4.6 DMAR fault, an SMMU dump) is never cut in two; records are handed
 * out slice by slice with their global line numbers. Memory is bounded by the slice size, not
 * by the input (a 100 MB log is never one string). Used by the CLI and the extension alike.
 */
import { detectKind, importText, type EvidenceKind } from "./index.js";
import { MAX_LINE } from "./lines.js";
import type { EvidenceRecord, Skipped } from "./records.js";

/** Lines re-read at the start of the next slice (longer than any multi-line record with its context: a DMAR_DEBUG dump is up to 19 lines). */
export const OVERLAP_LINES = 32;
/** Lines per slice. */
export const SLICE_LINES = 4096;

export class StreamParser {
  private carry: string[] = [];
  private carryStart = 0;
  private nextLine = 0;
  private partial = "";
  kind?: EvidenceKind;

  constructor(
    private readonly onRecords: (records: EvidenceRecord[], skipped: Skipped[]) => void,
    kind?: EvidenceKind,
  ) {
    if (kind) this.kind = kind;
  }

  /** Feeds a chunk of text (any size, lines may be split across chunks). */
  push(chunk: string): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    for (const p of parts) {
      if (p.length > MAX_LINE) {
        // Kept out of the slice (bounded memory); reported as skipped at its line.
        this.onRecords([], [{ line: this.carryStart + this.carry.length, endLine: this.carryStart + this.carry.length, reason: `line of ${p.length} characters: too long to be a record` }]);
        this.carry.push("");
      } else this.carry.push(p);
      if (this.carry.length >= SLICE_LINES + OVERLAP_LINES) this.slice(false);
    }
  }

  /** The rest; call once at the end of the input. */
  end(): void {
    this.carry.push(this.partial);
    this.partial = "";
    this.slice(true);
  }

  /** Lines seen so far (after end(): the input's line count). */
  get lines(): number {
    return this.carryStart + this.carry.length;
  }

  private slice(final: boolean): void {
    const lines = this.carry;
    const first = this.carryStart;
    const text = lines.join("\n");
    this.kind ??= detectKind(text);
    const r = importText(text, this.kind);
    const keepBefore = final ? Infinity : lines.length - OVERLAP_LINES;
    const records: EvidenceRecord[] = [];
    const skipped: Skipped[] = [];
    for (const rec of r.records) {
      if (rec.line < keepBefore && first + rec.line >= this.nextLine) records.push({ ...rec, line: rec.line + first, endLine: rec.endLine + first, context: rec.context.map((c) => ({ ...c, line: c.line + first })) });
    }
    for (const s of r.skipped) {
      if (s.line < keepBefore && first + s.line >= this.nextLine) skipped.push({ ...s, line: s.line + first, endLine: Math.min(s.endLine, keepBefore - 1) + first });
    }
    this.nextLine = first + Math.min(keepBefore, lines.length);
    if (!final) {
      this.carry = lines.slice(lines.length - OVERLAP_LINES);
      this.carryStart = first + lines.length - OVERLAP_LINES;
    } else {
      this.carry = lines;
    }
    if (records.length || skipped.length) this.onRecords(records, skipped);
  }
}
