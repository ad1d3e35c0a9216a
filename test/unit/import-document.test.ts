// The decoded-evidence document: its name, and an outline whose ranges are the record's lines.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeEvidenceText } from "../../src/import/decode.js";
import { evidenceDocumentPath, renderEvidenceDocument } from "../../src/import/document.js";
import { explainRecords } from "../../src/import/index.js";

const mixed = readFileSync(join(__dirname, "..", "fixtures", "evidence", "mixed-dmesg.txt"), "utf8");

describe("the evidence document", () => {
  it("is named after its log: the basename reads 'mixed-dmesg.txt — decoded'", () => {
    expect(evidenceDocumentPath({ file: "logs/mixed-dmesg.txt" })).toBe("/logs/mixed-dmesg.txt — decoded");
    expect(evidenceDocumentPath({ file: "/tmp/_x/mixed-dmesg.txt" }).split("/").pop()).toBe("mixed-dmesg.txt — decoded");
    expect(evidenceDocumentPath({ label: "Clipboard (2)" })).toBe("/Clipboard (2) — decoded");
    expect(evidenceDocumentPath({ label: "kern.log, lines 10-40" })).toBe("/kern.log, lines 10-40 — decoded");
    expect(evidenceDocumentPath({ label: "a/b\\c" })).toBe("/a b c — decoded");
  });

  it("has one outline entry per record spanning its lines, with its context, fields and explanation below", () => {
    const r = decodeEvidenceText(mixed);
    const doc = renderEvidenceDocument({ source: "mixed-dmesg.txt", kind: r.kind, records: r.records, skipped: r.skipped, explanations: explainRecords(r.records) });
    const lines = doc.text.split("\n");
    const recs = doc.outline.filter((o) => o.kind === "record");
    expect(recs).toHaveLength(15);
    expect(doc.outline[doc.outline.length - 1]!.name).toBe("Skipped lines");
    recs.forEach((o, i) => {
      const rec = r.records[i]!;
      expect(o.record).toBe(i);
      expect(doc.recordLines[i]).toBe(o.start);
      expect(lines[o.start]).toMatch(new RegExp(`^line ${rec.line + 1}\\b.*${rec.kind}: `));
      // The record ends before the blank line that separates it from the next.
      expect(lines[o.end]).not.toBe("");
      expect(lines[o.end + 1]).toBe("");
      for (const c of o.children) {
        expect(c.start).toBeGreaterThan(o.start);
        expect(c.end).toBeLessThanOrEqual(o.end);
      }
    });
    // Records never overlap: each folds on its own.
    for (let k = 1; k < recs.length; k++) expect(recs[k]!.start).toBeGreaterThan(recs[k - 1]!.end);
    // A fault: its title, its fields (each field's range is its part of the Fields line), its causes.
    const w = recs.find((o) => o.name.includes("0x7c346000"))!;
    expect(w.name).toBe("line 10: VT-d write fault 0x05 PTE Write access is not set — 03:00.1 at 0x7c346000 PASID 2");
    expect(w.children.map((c) => c.name)).toEqual(["Context lines", "Fields", "Meaning", "Evidence", "Likely causes", "Checks"]);
    const fields = w.children.find((c) => c.kind === "fields")!;
    const pasid = fields.children.find((c) => c.name === "pasid")!;
    expect(lines[pasid.start]!.slice(pasid.column, pasid.endColumn)).toBe("pasid 2");
    const causes = w.children.find((c) => c.kind === "causes")!;
    expect(lines[causes.children[0]!.start]).toMatch(/^ {4}Cause 1: /);
    expect(causes.children.map((c) => c.name)).toEqual(causes.children.map((_, k) => `Cause ${k + 1}`));
  });

  it("says 1 record and 1 line, not 1 records", () => {
    const r = decodeEvidenceText("[  812.001010] DMAR: [DMA Read NO_PASID] Request device [00:16.7] fault addr 0xdceff000 [fault reason 0x06] PTE Read access is not set\nnoise");
    const doc = renderEvidenceDocument({ source: "x.log", kind: r.kind, records: r.records, skipped: r.skipped, explanations: [] });
    expect(doc.text.split("\n")[0]).toBe("# x.log: log, 1 record, 1 line skipped");
  });
});

// Found by test/e2e/big-import.mjs (issue 18): a log with MAX_IMPORT_RECORDS faults rendered a
// document over 50 MB, which VS Code refuses to hand to extensions ("Files above 50MB cannot be
// synchronized with extensions"): the import failed with an error instead of opening.
describe("the decoded document's size", () => {
  const faultLine = (k: number) => `[ ${(5 + k / 1000).toFixed(6)}] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x${(0x10000 + k * 0x1000).toString(16)} [fault reason 0x05] PTE Write access is not set`;
  const r = decodeEvidenceText(Array.from({ length: 400 }, (_, k) => faultLine(k)).join("\n"));
  const input = { source: "many.log", kind: r.kind, records: r.records, skipped: r.skipped, explanations: explainRecords(r.records) };

  it("stops the details at its budget: later records get their summary line, every record keeps its line and outline item", () => {
    const full = renderEvidenceDocument(input);
    const perRecord = full.text.length / r.records.length;
    expect(perRecord).toBeGreaterThan(500); // about 1 KB each: 50 000 of them were over 50 MB
    const budget = Math.round(100 * perRecord);
    const doc = renderEvidenceDocument(input, budget);
    expect(doc.text.length).toBeLessThan(budget + 2 * perRecord + 400 * 200);
    const lines = doc.text.split("\n");
    const marker = lines.findIndex((l) => l.startsWith("# Records "));
    expect(lines[marker]).toMatch(/^# Records (\d+)-400: summary lines only \(the decoded document stays under the size VS Code hands to extensions; `passthrough decode` or `passthrough explain` in a terminal prints every record in full\)$/);
    const first = Number(/^# Records (\d+)-/.exec(lines[marker]!)![1]);
    expect(first).toBeGreaterThan(90);
    expect(first).toBeLessThan(110);
    expect(doc.recordLines).toHaveLength(400);
    expect(doc.outline.filter((o) => o.kind === "record")).toHaveLength(400);
    for (const [i, line] of doc.recordLines.entries()) expect(lines[line], `record ${i}`).toMatch(/^line \d+ \[[\d.]+\]  dmar-fault: /);
    // Before the marker: the full details, as without a budget.
    expect(doc.text.slice(0, doc.text.indexOf("# Records "))).toBe(full.text.slice(0, doc.text.indexOf("# Records ")));
  });

  it("a document under the budget is unchanged", () => {
    expect(renderEvidenceDocument(input, Number.MAX_SAFE_INTEGER).text).toBe(renderEvidenceDocument(input).text);
    expect(renderEvidenceDocument(input).text).not.toContain("summary lines only");
  });
});
