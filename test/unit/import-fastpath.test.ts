// The log importer's fast paths against their slow references, on arbitrary and mutated input:
// parseLog (one scan of the whole text for pieces of keywords, lines decided from offsets) against
// parseLogLineByLine (every line split and tested on its own), and the offset-based StreamParser
// against the split-and-join one it replaced (kept here as the reference).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseLog, parseLogLineByLine } from "../../src/import/dmesg.js";
import { detectKind, importText, type EvidenceKind, type EvidenceRecord, type Skipped } from "../../src/import/index.js";
import { LineIndex, MAX_LINE, splitLines } from "../../src/import/lines.js";
import { OVERLAP_LINES, SLICE_LINES, StreamParser } from "../../src/import/stream.js";

const dir = join(__dirname, "..", "fixtures", "evidence");
const realLines = ["mixed-dmesg.txt", "real-world.txt"].flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n"));

/** Every keyword of the filter, whole and cut, so mutated lines hit and nearly hit them. */
const KEYWORDS = ["FSR", "FSYNR", "FAR ", "CBFRSYNRA", "iova-to-phys", "DMAR", "dmar", "DRHD", "INTR-REMAP", "AMD-Vi", "DTE[", "CMD[", "smmu", "event", "Unhandled context", "vfio", "VFIO", "RMRR", "iommu group", "callbacks suppressed", "Please ensure", "interrupt remapping", "pte level", "root entry", "context entry", "pasid", "PASID", "Dump ", "not present", "priv ", "ineligible", "device=", "group 7", "caching-mode", "1:1 IOMMU", "Device initialization"];
const fragment = fc.oneof(
  fc.constantFrom(...KEYWORDS),
  fc.constantFrom(...KEYWORDS).chain((k) => fc.nat(k.length).map((n) => k.slice(0, n))),
  fc.constantFrom("", " ", "\t", "\r", "\0", "\0\0\0", "\u00a0", "\u2028", "\ufeff", "\uFFFD", "é", "  \r"),
  fc.string({ maxLength: 6, unit: "binary" }),
);
/** A line: a real one, mutated (cut, with fragments inserted), or made of fragments only. */
const line = fc.oneof(
  fc.constantFrom(...realLines),
  fc.record({ l: fc.constantFrom(...realLines), at: fc.nat(160), cut: fc.nat(12), ins: fragment }).map(({ l, at, cut, ins }) => l.slice(0, Math.min(at, l.length)) + ins + l.slice(Math.min(at, l.length) + cut)),
  fc.array(fragment, { maxLength: 6 }).map((a) => a.join("")),
);
const text = fc.array(line, { maxLength: 60 }).map((ls) => ls.join("\n"));

describe("the keyword scan", () => {
  it("parseLog gives exactly what the line-by-line filter gives, on arbitrary and mutated logs", () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ maxLength: 400 }), fc.string({ maxLength: 200, unit: "binary" })), (t) => {
        expect(parseLog(t)).toEqual(parseLogLineByLine(t));
      }),
      { numRuns: 600 },
    );
  });

  it("agrees on lines longer than MAX_LINE, with and without a keyword", () => {
    const long = "x".repeat(MAX_LINE + 1);
    const t = [realLines[6], long, `${long}DMAR`, "", realLines[7], `  ${long}`, "\r"].join("\n");
    expect(parseLog(t)).toEqual(parseLogLineByLine(t));
  });

  it("LineIndex holds the same lines as splitLines", () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ maxLength: 200 }).map((s) => s.replace(/x/g, "\r\n").replace(/y/g, "\n"))), (t) => {
        const idx = new LineIndex(t);
        expect(Array.from({ length: idx.length }, (_, i) => idx.at(i))).toEqual(splitLines(t));
        expect(idx.at(idx.length)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});

/** The StreamParser before it kept offsets instead of an array of lines (split each chunk, join each slice). */
class ReferenceStreamParser {
  private carry: string[] = [];
  private carryStart = 0;
  private nextLine = 0;
  private partial = "";
  kind?: EvidenceKind;
  constructor(private readonly onRecords: (records: EvidenceRecord[], skipped: Skipped[]) => void, kind?: EvidenceKind) {
    if (kind) this.kind = kind;
  }
  push(chunk: string): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    for (const p of parts) {
      if (p.length > MAX_LINE) {
        this.onRecords([], [{ line: this.carryStart + this.carry.length, endLine: this.carryStart + this.carry.length, reason: `line of ${p.length} characters: too long to be a record` }]);
        this.carry.push("");
      } else this.carry.push(p);
      if (this.carry.length >= SLICE_LINES + OVERLAP_LINES) this.slice(false);
    }
  }
  end(): void {
    if (this.partial.length > MAX_LINE) {
      this.onRecords([], [{ line: this.carryStart + this.carry.length, endLine: this.carryStart + this.carry.length, reason: `line of ${this.partial.length} characters: too long to be a record` }]);
      this.partial = "";
    }
    this.carry.push(this.partial);
    this.partial = "";
    this.slice(true);
  }
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
    for (const rec of r.records) if (rec.line < keepBefore && first + rec.line >= this.nextLine) records.push({ ...rec, line: rec.line + first, endLine: rec.endLine + first, context: rec.context.map((c) => ({ ...c, line: c.line + first })) });
    for (const s of r.skipped) if (s.line < keepBefore && first + s.line >= this.nextLine) skipped.push({ ...s, line: s.line + first, endLine: Math.min(s.endLine, keepBefore - 1) + first });
    this.nextLine = first + Math.min(keepBefore, lines.length);
    if (!final) {
      this.carry = lines.slice(lines.length - OVERLAP_LINES);
      this.carryStart = first + lines.length - OVERLAP_LINES;
    } else this.carry = lines;
    if (records.length || skipped.length) this.onRecords(records, skipped);
  }
}

/** Every call the parser makes, in order, with its kind and line count at the end. */
function run(P: typeof StreamParser | typeof ReferenceStreamParser, input: string, cuts: number[], kind?: EvidenceKind) {
  const calls: unknown[] = [];
  const p = new P((records, skipped) => calls.push({ records, skipped }), kind);
  let at = 0;
  for (let k = 0; at < input.length; k++) {
    const n = cuts[k % cuts.length]!;
    p.push(input.slice(at, at + n));
    at += n;
  }
  const before = p.lines;
  p.end();
  return { calls, before, after: p.lines, kind: p.kind };
}

describe("the streaming parser", () => {
  it("hands out the same records and skipped lines, in the same calls, as the split-and-join parser", () => {
    // Big enough to cross slices: a log of real and mutated lines, with lines longer than MAX_LINE
    // (before, inside and at the end of the overlap) and a text without a final line break.
    const long = "y".repeat(MAX_LINE + 3);
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: SLICE_LINES * 2 + 100 }),
        fc.array(fc.integer({ min: 0, max: 3 * SLICE_LINES }), { maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.constantFrom<EvidenceKind | undefined>(undefined, "log"),
        (sample, total, longAt, cuts, finalNewline, kind) => {
          const lines = Array.from({ length: total }, (_, i) => sample[i % sample.length]!);
          for (const k of longAt) if (k < lines.length) lines[k] = long;
          const input = lines.join("\n") + (finalNewline ? "\n" : "");
          expect(run(StreamParser, input, cuts, kind)).toEqual(run(ReferenceStreamParser, input, cuts, kind));
        },
      ),
      { numRuns: 25 },
    );
  });

  it("slices exactly at SLICE_LINES + OVERLAP_LINES lines, a long line as the last of a slice and an unterminated long line at the end", () => {
    const long = "z".repeat(MAX_LINE + 1);
    for (const n of [SLICE_LINES + OVERLAP_LINES - 1, SLICE_LINES + OVERLAP_LINES, SLICE_LINES + OVERLAP_LINES + 1]) {
      const lines = Array.from({ length: n }, (_, i) => realLines[i % realLines.length]!);
      lines[n - 1] = long;
      for (const input of [lines.join("\n"), `${lines.join("\n")}\n`, `${lines.join("\n")}\n${long}`, ""]) {
        for (const cuts of [[1 << 20], [97], [MAX_LINE]]) expect(run(StreamParser, input, cuts)).toEqual(run(ReferenceStreamParser, input, cuts));
      }
    }
  });
});
