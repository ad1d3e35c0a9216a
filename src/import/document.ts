/**
 * The decoded-evidence document: its text and its outline (one entry per record, children for the
 * record's context lines, fields and explanation), from which the extension gives document symbols
 * (Outline, breadcrumbs), folding ranges and "reveal this record". Pure: no vscode.
 */
import { plural } from "../sim/plural.js";
import type { Explanation } from "./explain.js";
import type { EvidenceRecord, Skipped } from "./records.js";
import type { EvidenceDocument, OutlineItem, OutlineKind } from "../protocol/evidence.js";

export type { OutlineKind, OutlineItem, EvidenceDocument } from "../protocol/evidence.js";

export interface EvidenceDocumentInput {
  source: string;
  kind: string;
  records: EvidenceRecord[];
  skipped: Skipped[];
  explanations: Explanation[];
}

const lineRange = (a: number, b: number) => `${a + 1}${b > a ? `-${b + 1}` : ""}`;
const short = (s: string, n = 80) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * Characters of detail (context lines, fields, explanations) the decoded document holds at most;
 * later records are listed by their summary line only. VS Code does not hand a larger document to
 * extensions ("Files above 50MB cannot be synchronized with extensions": TextModel
 * _MODEL_SYNC_LIMIT, 50 * 1024 * 1024, src/vs/editor/common/model/textModel.ts), so the import of
 * a log with MAX_IMPORT_RECORDS faults (about 1 KB of explanation each) failed to open at all.
 */
export const DOCUMENT_DETAIL_CHARS = 32 * 1024 * 1024;

/** `beat`: called every 1 000 records (the worker's sign of life for the host's watchdog while 50 000 are laid out). */
export function renderEvidenceDocument(ev: EvidenceDocumentInput, maxDetailChars = DOCUMENT_DETAIL_CHARS, beat?: () => void): EvidenceDocument {
  const out: string[] = [];
  /** Characters pushed so far (lines and their newlines), and whether details stopped. */
  let chars = 0;
  let summariesOnly = false;
  const outline: OutlineItem[] = [];
  const recordLines: number[] = [];
  const byRecord = new Map(ev.explanations.map((e) => [e.record, e]));
  const skippedLines = ev.skipped.reduce((a, s) => a + s.endLine - s.line + 1, 0);
  out.push(`# ${ev.source}: ${ev.kind}, ${plural(ev.records.length, "record")}, ${plural(skippedLines, "line")} skipped`, "");
  const item = (kind: OutlineKind, name: string, detail: string, line: number, column = 0, endColumn = out[line]?.length ?? 0): OutlineItem => ({ kind, name, detail, start: line, end: line, column, endColumn, children: [] });
  /** A group of lines under one heading (e.g. the causes): the group spans them, each is a child. */
  const group = (kind: OutlineKind, childKind: OutlineKind, name: string, lines: string[], label: (k: number) => string, prefix: (k: number) => string): OutlineItem | undefined => {
    if (!lines.length) return undefined;
    const first = out.length;
    const g: OutlineItem = { kind, name, detail: `${lines.length}`, start: first, end: first + lines.length - 1, column: 0, endColumn: 0, children: [] };
    lines.forEach((x, k) => {
      out.push(`    ${prefix(k)}${x}`);
      g.children.push(item(childKind, label(k), short(x), out.length - 1, 4));
    });
    g.endColumn = out[first]!.length;
    return g;
  };
  ev.records.forEach((r, i) => {
    if (beat && i % 1000 === 999) beat();
    if (!summariesOnly && chars > maxDetailChars) {
      summariesOnly = true;
      out.push(`# Records ${i + 1}-${ev.records.length}: summary lines only (the decoded document stays under the size VS Code hands to extensions; \`passthrough decode\` or \`passthrough explain\` in a terminal prints every record in full)`, "");
    }
    const from = out.length;
    const header = out.length;
    recordLines[i] = header;
    const e = summariesOnly ? undefined : byRecord.get(i);
    out.push(`line ${lineRange(r.line, r.endLine)}${r.timestamp ? ` [${r.timestamp}]` : ""}  ${r.kind}: ${r.summary}`);
    const rec: OutlineItem = { ...item("record", `line ${lineRange(r.line, r.endLine)}: ${byRecord.get(i)?.title ?? r.kind}`, short(r.summary), header), record: i };
    if (summariesOnly) {
      outline.push(rec);
      return;
    }
    if (r.context.length) {
      const g = group("context", "context", "Context lines", r.context.map((c) => `| line ${c.line + 1}: ${c.text}`), (k) => `line ${r.context[k]!.line + 1}`, () => "");
      if (g) rec.children.push(g);
    }
    const entries = Object.entries(r.fields);
    if (entries.length) {
      // One line of fields; each field is a child whose range is its own part of the line.
      let line = "    Fields: ";
      const fields: OutlineItem[] = [];
      entries.forEach(([k, v], n) => {
        if (n) line += ", ";
        const col = line.length;
        line += `${k} ${String(v)}`;
        fields.push({ kind: "field", name: k, detail: short(String(v)), start: out.length, end: out.length, column: col, endColumn: line.length, children: [] });
      });
      out.push(line);
      rec.children.push({ ...item("fields", "Fields", `${entries.length}`, out.length - 1, 4, 10), children: fields });
    }
    if (e) {
      out.push(`    ${e.meaning}`);
      rec.children.push(item("meaning", "Meaning", short(e.meaning), out.length - 1, 4));
      const ev2 = group("evidence", "evidence", "Evidence", e.evidence, (k) => `Evidence ${k + 1}`, () => "Evidence: ");
      if (ev2) rec.children.push(ev2);
      const causes = group("causes", "cause", "Likely causes", e.causes, (k) => `Cause ${k + 1}`, (k) => `Cause ${k + 1}: `);
      if (causes) rec.children.push(causes);
      const checks = group("checks", "check", "Checks", e.checks, (k) => `Check ${k + 1}`, () => "Check: ");
      if (checks) rec.children.push(checks);
    }
    rec.end = out.length - 1;
    outline.push(rec);
    out.push("");
    for (let k = from; k < out.length; k++) chars += out[k]!.length + 1;
  });
  if (ev.skipped.length) {
    const start = out.length;
    out.push("# Skipped lines");
    for (const s of ev.skipped.slice(0, 500)) out.push(`line ${lineRange(s.line, s.endLine)}: ${s.reason}`);
    if (ev.skipped.length > 500) out.push(`… ${ev.skipped.length - 500} more runs`);
    outline.push({ kind: "section", name: "Skipped lines", detail: plural(ev.skipped.length, "run"), start, end: out.length - 1, column: 0, endColumn: out[start]!.length, children: [] });
  }
  return { text: out.join("\n"), outline, recordLines };
}

/**
 * The document's name: what VS Code shows as its title is the URI's basename, so that is
 * "mixed-dmesg.txt — decoded" for a file, "Clipboard — decoded" for the clipboard; a file's folder
 * stays in the path (breadcrumbs), never squashed into the name.
 */
export function evidenceDocumentPath(source: { file?: string; label?: string }): string {
  const clean = (s: string) => s.replace(/[\\/]+/g, " ").replace(/\s+/g, " ").trim() || "evidence";
  if (source.file) {
    const parts = source.file.split(/[\\/]+/).filter(Boolean);
    const base = parts.pop() ?? "evidence";
    return `/${[...parts, `${base} — decoded`].join("/")}`;
  }
  return `/${clean(source.label ?? "evidence")} — decoded`;
}
