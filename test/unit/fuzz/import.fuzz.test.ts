// Fuzzing every evidence importer (issue 18, hardening suite): the fixtures of each kind (kernel
// log, IOMMU groups, ftrace, lspci, libvirt XML, QEMU command line) mutated by edits from all their
// grammars, decoded as each kind, as text and as bytes in chunks, then explained and synthesized.
// Never an exception; every record and skipped run points at lines of the input; synthesize writes
// a scenario the parser reads without a syntax error.
import fc from "fast-check";
import { describe, it } from "vitest";
import { EvidenceReader, decodeEvidenceText, type DecodedEvidence } from "../../../src/import/decode.js";
import { explainRecords, synthesizeScenario } from "../../../src/import/index.js";
import type { EvidenceKind } from "../../../src/protocol/evidence.js";
import { parseScenario } from "../../../src/scenario/index.js";
import { EVIDENCE, EVIDENCE_TOKENS, applyEdits, caseArb, runs, seed } from "./mutate.js";

const KINDS: readonly (EvidenceKind | undefined)[] = [undefined, "log", "groups", "ftrace", "lspci", "libvirt", "qemu"];
const corpus = EVIDENCE.map((e) => e.text);

/** Lines of a text as the importers count them (\n separated). */
const lineCount = (text: string) => text.split("\n").length;

function checkDecoded(text: string, d: DecodedEvidence): void {
  const lines = Math.max(d.lines, lineCount(text));
  for (const r of d.records) {
    if (!(Number.isInteger(r.line) && r.line >= 0 && r.line <= r.endLine && r.endLine < lines && r.column >= 0)) throw new Error(`record ${r.kind} at lines ${r.line}-${r.endLine}, column ${r.column} of ${lines}`);
    for (const c of r.context) if (!(c.line >= 0 && c.line < lines)) throw new Error(`context line ${c.line} of ${lines}`);
  }
  for (const s of d.skipped) {
    if (!(s.line >= 0 && s.line <= s.endLine && s.endLine < lines)) throw new Error(`skipped lines ${s.line}-${s.endLine} of ${lines}`);
    if (!s.reason) throw new Error("a skipped run without a reason");
  }
}

function explainAndSynthesize(d: DecodedEvidence): void {
  for (const e of explainRecords(d.records)) {
    if (!(e.record >= 0 && e.record < d.records.length) || !e.title) throw new Error(`explanation ${JSON.stringify(e).slice(0, 200)}`);
  }
  const s = synthesizeScenario(d.records);
  for (const i of s.reproduced) if (!(i >= 0 && i < d.records.length)) throw new Error(`reproduced record ${i} of ${d.records.length}`);
  const bad = parseScenario(s.text, "synthesized.passthrough.yaml").diagnostics.filter((x) => x.code === "yaml-syntax" || x.code === "internal-error");
  if (bad.length > 0) throw new Error(`synthesized scenario does not read: ${bad[0]!.message} at ${bad[0]!.range.line + 1}:${bad[0]!.range.column + 1}\n${s.text.slice(0, 2000)}`);
}

describe("fuzz: evidence importers", () => {
  it("mutated fixtures, decoded as every kind: records and skipped lines inside the input", () => {
    fc.assert(
      fc.property(caseArb.map((c) => applyEdits(corpus, EVIDENCE_TOKENS, c)), fc.constantFrom(...KINDS), (text, kind) => {
        checkDecoded(text, decodeEvidenceText(text, kind ? { kind } : {}));
      }),
      { numRuns: runs(14_000), ...seed(18_021) },
    );
  });

  it("bytes in arbitrary chunks give the records of the whole text", () => {
    const enc = new TextEncoder();
    fc.assert(
      fc.property(caseArb.map((c) => applyEdits(corpus, EVIDENCE_TOKENS, c)), fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) => {
        const bytes = enc.encode(text);
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const r = new EvidenceReader();
        let prev = 0;
        for (const c of [...at, bytes.length]) {
          r.pushBytes(bytes.subarray(prev, c));
          prev = c;
        }
        const chunked = r.end();
        checkDecoded(text, chunked);
        const whole = decodeEvidenceText(text);
        if (chunked.records.length !== whole.records.length) throw new Error(`${chunked.records.length} records in chunks, ${whole.records.length} whole`);
      }),
      { numRuns: runs(5_000), ...seed(18_022) },
    );
  });

  it("explain and synthesize the records of mutated evidence", () => {
    fc.assert(
      fc.property(caseArb.map((c) => applyEdits(corpus, EVIDENCE_TOKENS, c)), (text) => {
        const d = decodeEvidenceText(text);
        checkDecoded(text, d);
        explainAndSynthesize(d);
      }),
      { numRuns: runs(1_500), ...seed(18_023) },
    );
  });

  it("arbitrary text from the evidence tokens", () => {
    const tokens = fc.array(fc.constantFrom(...EVIDENCE_TOKENS), { maxLength: 80 }).map((t) => t.join(""));
    fc.assert(
      fc.property(fc.oneof(tokens, fc.string({ maxLength: 300, unit: "binary" })), fc.constantFrom(...KINDS), (text, kind) => {
        const d = decodeEvidenceText(text, kind ? { kind } : {});
        checkDecoded(text, d);
        if (kind === undefined) explainAndSynthesize(d);
      }),
      { numRuns: runs(6_000), ...seed(18_024) },
    );
  });
});
