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
  /**
   * The text not parsed for good yet, from the first line of the current slice: its complete lines
   * and the partial last one, as the chunks it came in (joined once per slice, so small chunks
   * cost no copying). Lines are found by offset and a slice is a substring of it: no array of line
   * strings to split and join again, which was most of the time on a 100 MB log.
   */
  private pieces: string[] = [];
  /** Total length of pieces. */
  private size = 0;
  /** Offset (in the pieces' text) of the "\n" after each complete line of the current slice; after end(), the text's end for the last line. */
  private ends: number[] = [];
  /** Lines of the current slice (indexes into ends) longer than MAX_LINE: parsed as empty lines. */
  private long: number[] = [];
  private carryStart = 0;
  private nextLine = 0;
  /**
   * Characters of the current (unfinished) line dropped so far, or -1: a line longer than
   * MAX_LINE is not kept while it streams in (a 1 GB file without a newline would otherwise be one
   * string, beyond what a JavaScript string can hold); it is an empty line in the pieces' text.
   */
  private dropping = -1;
  kind?: EvidenceKind;

  constructor(
    private readonly onRecords: (records: EvidenceRecord[], skipped: Skipped[]) => void,
    kind?: EvidenceKind,
  ) {
    if (kind) this.kind = kind;
  }

  /** Characters held (the current slice and the unfinished line): bounded whatever the input. */
  get buffered(): number {
    return this.size;
  }

  /** Feeds a chunk of text (any size, lines may be split across chunks). */
  push(chunk: string): void {
    // The rest of a line being dropped: counted, not kept.
    let dropped = -1;
    if (this.dropping >= 0) {
      const nl = chunk.indexOf("\n");
      if (nl < 0) {
        this.dropping += chunk.length;
        return;
      }
      dropped = this.dropping + nl;
      this.dropping = -1;
      chunk = chunk.slice(nl);
    }
    // Offset of the chunk in the pieces' text; it moves back when a slice drops lines from the front.
    let base = this.size;
    this.pieces.push(chunk);
    this.size += chunk.length;
    let from = this.ends.length ? this.ends[this.ends.length - 1]! + 1 : 0;
    for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", nl + 1)) {
      const at = base + nl;
      const length = dropped >= 0 ? dropped : at - from;
      dropped = -1;
      if (length > MAX_LINE) this.tooLong(length, at > from);
      this.ends.push(at);
      from = at + 1;
      if (this.ends.length >= SLICE_LINES + OVERLAP_LINES) {
        const cut = this.slice(false);
        base -= cut;
        from -= cut;
      }
    }
    // An unfinished line already too long: its characters are dropped from here on.
    if (this.size - from > MAX_LINE) {
      this.dropping = this.size - from;
      const buf = this.pieces.length === 1 ? this.pieces[0]! : this.pieces.join("");
      this.pieces = [buf.slice(0, from)];
      this.size = from;
    }
  }

  /** A line too long to be a record: reported as skipped at its line, before the slice that holds it; kept out of the slice (bounded work). */
  private tooLong(length: number, inText: boolean): void {
    const line = this.carryStart + this.ends.length;
    this.onRecords([], [{ line, endLine: line, reason: `line of ${length} characters: too long to be a record` }]);
    if (inText) this.long.push(this.ends.length);
  }

  /** The rest; call once at the end of the input. */
  end(): void {
    // The last line (no "\n" after it) follows the same long-line rule as the others.
    const from = this.ends.length ? this.ends[this.ends.length - 1]! + 1 : 0;
    const length = this.dropping >= 0 ? this.dropping : this.size - from;
    if (length > MAX_LINE) this.tooLong(length, this.dropping < 0);
    this.dropping = -1;
    this.ends.push(this.size);
    this.slice(true);
  }

  /** Lines seen so far (after end(): the input's line count). */
  get lines(): number {
    return this.carryStart + this.ends.length;
  }

  /** The text of the current slice's lines 0..n-1 joined with "\n", long lines left empty. */
  private text(buf: string, n: number): string {
    const end = this.ends[n - 1]!;
    if (this.long.length === 0) return buf.slice(0, end);
    let out = "";
    let at = 0;
    for (const k of this.long) {
      if (k >= n) break;
      out += buf.slice(at, k === 0 ? 0 : this.ends[k - 1]! + 1);
      at = this.ends[k]!;
    }
    return out + buf.slice(at, end);
  }

  /** Parses the current slice; returns how many characters were dropped from the front of the pieces' text. */
  private slice(final: boolean): number {
    const count = this.ends.length;
    const first = this.carryStart;
    const buf = this.pieces.length === 1 ? this.pieces[0]! : this.pieces.join("");
    this.pieces = [buf];
    const text = this.text(buf, count);
    this.kind ??= detectKind(text);
    const r = importText(text, this.kind);
    const keepBefore = final ? Infinity : count - OVERLAP_LINES;
    const records: EvidenceRecord[] = [];
    const skipped: Skipped[] = [];
    for (const rec of r.records) {
      if (rec.line < keepBefore && first + rec.line >= this.nextLine) records.push({ ...rec, line: rec.line + first, endLine: rec.endLine + first, context: rec.context.map((c) => ({ ...c, line: c.line + first })) });
    }
    for (const s of r.skipped) {
      if (s.line < keepBefore && first + s.line >= this.nextLine) skipped.push({ ...s, line: s.line + first, endLine: Math.min(s.endLine, keepBefore - 1) + first });
    }
    this.nextLine = first + Math.min(keepBefore, count);
    let cut = 0;
    if (!final) {
      // The last OVERLAP_LINES lines start the next slice.
      const drop = count - OVERLAP_LINES;
      cut = this.ends[drop - 1]! + 1;
      this.pieces = [buf.slice(cut)];
      this.size -= cut;
      this.ends = this.ends.slice(drop).map((e) => e - cut);
      this.long = this.long.filter((k) => k >= drop).map((k) => k - drop);
      this.carryStart = first + drop;
    }
    if (records.length || skipped.length) this.onRecords(records, skipped);
    return cut;
  }
}
