// One decoding path for every way evidence comes in (import/decode.ts): a file's bytes streamed in
// chunks (CLI, extension), a file read whole (vscode.workspace.fs), and a text (clipboard, selection,
// editor, the worker's evidenceParse) give the same records, skipped lines and line count.
import { readFileSync } from "node:fs";
import { isAscii } from "node:buffer";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EvidenceReader, decodeEvidenceBytes, decodeEvidenceText, encodingOf, repairUtf16Text, type AsciiFastPath, type EvidenceEncoding } from "../../src/import/decode.js";
import { MAX_LINE } from "../../src/import/lines.js";
import { EngineServer } from "../../src/engine/server.js";

const dir = join(__dirname, "..", "fixtures", "evidence");
const mixed = readFileSync(join(dir, "mixed-dmesg.txt"), "utf8");
const fixtureLines = ["mixed-dmesg.txt", "real-world.txt", "iommu-trace.txt"].flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n"));
const FAST: AsciiFastPath = { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") };

function encode(text: string, encoding: EvidenceEncoding, bom: boolean): Uint8Array {
  if (encoding === "utf-8") return Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(text, "utf8")]);
  const le = Buffer.concat([bom ? Buffer.from([0xff, 0xfe]) : Buffer.alloc(0), Buffer.from(text, "utf16le")]);
  if (encoding === "utf-16be") for (let k = 0; k + 1 < le.length; k += 2) [le[k], le[k + 1]] = [le[k + 1]!, le[k]!];
  return new Uint8Array(le);
}

/** The bytes cut at the given sizes (repeated), each chunk fed on its own. */
function streamed(bytes: Uint8Array, cuts: number[], fast?: AsciiFastPath) {
  const r = new EvidenceReader({ fast });
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const n = cuts[k % cuts.length]!;
    r.pushBytes(bytes.subarray(at, at + n));
    at += n;
  }
  return r.end();
}

/** Lines around MAX_LINE (with and without a keyword, a CR before the LF), real lines, lines with non-ASCII characters. */
const longLine = fc.record({ d: fc.integer({ min: -2, max: 2 }), tail: fc.constantFrom("", "DMAR", "\r", "é") }).map(({ d, tail }) => "x".repeat(MAX_LINE + d - tail.length) + tail);
const line = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...fixtureLines) },
  { weight: 1, arbitrary: longLine },
  { weight: 1, arbitrary: fc.constantFrom("", "\r", "naïve — ünïcödé 🚀 line", "\0\0\0\0", "  DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xé") },
);

describe("one decoding path", () => {
  it("records from bytes streamed in random chunks equal the records of the whole text (UTF-8, UTF-16LE/BE, with and without BOM)", () => {
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 40 }),
        fc.constantFrom<EvidenceEncoding>("utf-8", "utf-16le", "utf-16be"),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        (lines, encoding, bom, cuts, finalNewline, fast) => {
          // Without a byte-order mark UTF-16 is told by its NULs: the log starts as a log does, in ASCII.
          const text = (bom || encoding === "utf-8" ? [] : fixtureLines.slice(0, 12)).concat(lines).join("\n") + (finalNewline ? "\n" : "");
          const whole = decodeEvidenceText(text);
          const bytes = encode(text, encoding, bom);
          expect(streamed(bytes, cuts, fast ? FAST : undefined)).toEqual(whole);
          expect(decodeEvidenceBytes(bytes)).toEqual(whole);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("chunk boundaries do not change records across slice boundaries (thousands of lines, long lines inside multi-line records)", () => {
    const lines = Array.from({ length: 9000 }, (_, i) => fixtureLines[i % fixtureLines.length]!);
    lines[4100] = "y".repeat(MAX_LINE + 1);
    lines[4127] = "z".repeat(MAX_LINE);
    const text = lines.join("\n");
    const whole = decodeEvidenceText(text);
    expect(whole.records.length).toBeGreaterThan(500);
    for (const cuts of [[7], [4093, 17], [MAX_LINE + 1], [1 << 20]]) expect(streamed(encode(text, "utf-8", false), cuts, FAST)).toEqual(whole);
  });

  it("a UTF-16 copy of mixed-dmesg.txt gives its 15 records (14 faults and messages, one boot-state line), as the UTF-8 file does", () => {
    const utf8 = decodeEvidenceBytes(encode(mixed, "utf-8", false));
    expect(utf8.records).toHaveLength(15);
    for (const [encoding, bom] of [["utf-16le", true], ["utf-16le", false], ["utf-16be", true], ["utf-16be", false]] as const) {
      const bytes = encode(mixed, encoding, bom);
      expect(encodingOf(bytes), `${encoding} bom=${bom}`).toBe(encoding);
      expect(streamed(bytes, [3, 1000, 64 * 1024], FAST), `${encoding} bom=${bom}`).toEqual(utf8);
    }
  });

  it("a text that is UTF-16 read as 8-bit characters (a pasted Windows export) is repaired, not refused", () => {
    const le = Buffer.from(`\ufeff${mixed}`, "utf16le");
    const asLatin1 = le.toString("latin1");
    const asUtf8 = le.toString("utf8");
    expect(repairUtf16Text(asLatin1)).toBe(mixed);
    expect(decodeEvidenceText(asUtf8).records).toEqual(decodeEvidenceText(mixed).records);
    expect(repairUtf16Text("plain text, nothing to repair")).toBe("plain text, nothing to repair");
  });

  it("the worker's evidenceParse (clipboard, selection, editor) gives the records of the file import, long lines included", () => {
    // A 64 KiB+ line between the two lines of a ≤4.6 DMAR fault and before a record: the file path
    // blanks it as a long line; the text path must do the same, with the same skipped reason.
    const text = [fixtureLines[0], "DMAR:[DMA Read] Request device [00:02.0] fault addr 7c346000", "w".repeat(MAX_LINE + 10), mixed, "v".repeat(MAX_LINE + 1)].join("\n");
    const server = new EngineServer();
    const fromText = server.handle("evidenceParse", { text, lineOffset: 0 });
    const fromFile = streamed(encode(text, "utf-16le", true), [65_536], FAST);
    expect(fromText).toEqual(fromFile);
    expect(fromText.skipped.filter((s) => /too long/.test(s.reason)).map((s) => s.line)).toEqual([2, 3 + mixed.split("\n").length]);
    // A selection starting at line 10 of its document: same records, shifted.
    const shifted = server.handle("evidenceParse", { text, lineOffset: 10 });
    expect(shifted.records.map((r) => r.line)).toEqual(fromFile.records.map((r) => r.line + 10));
  });
});
