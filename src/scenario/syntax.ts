/**
 * YAML syntax errors -> diagnostics a person can act on: one per slip, at the slip, in plain words
 * with a hint. The yaml library reports a slip many times over (a comment line that lost its `#`
 * turns every later token into "Unexpected token in YAML stream"; an over-indented line gives two
 * errors on the line above), so its errors are grouped: a run of errors on adjacent lines is one
 * slip, everything after the document ended is one slip, and at most MAX_SYNTAX_DIAGNOSTICS are
 * listed. The lines around each error are "broken": checks of the recovered document are only
 * kept away from them (trustedDespiteSyntaxErrors).
 */
import { isScalar, visit, type Document, type YAMLError } from "yaml";
import type { Diagnostic } from "./types.js";
import { quoted } from "./values.js";
import * as l10n from "@vscode/l10n";

/** Syntax diagnostics listed for one text; one more says how many were left out. */
export const MAX_SYNTAX_DIAGNOSTICS = 8;

export interface Span {
  start: number;
  end: number;
}

interface Explained {
  start: number;
  end: number;
  message: string;
  hint: string;
  /** 0-based lines the slip's errors cover: later errors on these lines (or the next) are the same slip. */
  firstLine: number;
  lastLine: number;
}

const genericHint = () => l10n.t("Fix the YAML syntax here (indentation, a missing colon, an unclosed bracket or quote).");
const siblingsHint = () => l10n.t("Indent this line like its siblings (the lines of one mapping or list start in the same column).");

/**
 * Codes whose check looks at one value only: still right where the document around them broke, as
 * long as they are not on a broken line. Cross-references (a missing key, an unknown device, a
 * duplicate) are not: the thing they miss may sit in the part YAML could not read.
 */
const VALUE_CODES = new Set([
  "expected-string",
  "expected-boolean",
  "out-of-range",
  "size-malformed",
  "address-malformed",
  "bdf-malformed",
  "duration-malformed",
  "invalid-value",
  "pci-id-malformed",
  "vm-name-invalid",
  "vm-memory-invalid",
  "iommu-model-unsupported",
  "dma-length",
  "dma-too-large",
]);

/**
 * Codes that depend on which mapping a key sits in: after a slip, YAML's recovery may put the
 * following keys into the wrong mapping (a workload read as keys of a VM), so these are only kept
 * before the first slip.
 */
const KEY_CODES = new Set(["unknown-key", "unknown-step", "missing-space"]);

/**
 * Line starts of a text, found in one pass; line/column of an offset by binary search. (The yaml
 * library's LineCounter only hears of the newlines its parser reports, and in error recovery it
 * misses some, e.g. inside a quoted text that swallowed the rest of the file: its lines and columns
 * were then off.)
 */
export class LineIndex {
  readonly lineStarts: number[] = [0];
  constructor(text: string) {
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) this.lineStarts.push(i + 1);
  }
  /** 1-based line and column, as the yaml library's LineCounter.linePos. */
  linePos(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.lineStarts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return { line: lo, col: offset - this.lineStarts[lo - 1]! + 1 };
  }
}

class Lines {
  constructor(
    private readonly text: string,
    private readonly lc: LineIndex,
  ) {}
  /** 0-based line of an offset. */
  of(offset: number): number {
    return this.lc.linePos(Math.min(Math.max(offset, 0), this.text.length)).line - 1;
  }
  start(line: number): number {
    return Math.min(this.lc.lineStarts[Math.max(line, 0)] ?? this.text.length, this.text.length);
  }
  /** Offset of the line's end (its newline, or the end of the text). */
  end(line: number): number {
    const next = this.lc.lineStarts[line + 1];
    return next === undefined ? this.text.length : Math.max(next - 1, this.start(line));
  }
  get last(): number {
    return this.of(this.text.length);
  }
}

export function syntaxDiagnostics(text: string, lc: LineIndex, doc: Document.Parsed): { diagnostics: Diagnostic[]; broken: Span[] } {
  const lines = new Lines(text, lc);
  // Stable order by position; of errors at one position, "implicit key on two lines" explains best.
  const errors = doc.errors
    .map((e, i) => ({ e, i }))
    .sort((x, y) => x.e.pos[0] - y.e.pos[0] || Number(y.e.code === "MULTILINE_IMPLICIT_KEY") - Number(x.e.code === "MULTILINE_IMPLICIT_KEY") || x.i - y.i)
    .map((x) => x.e);
  const slips: Explained[] = [];
  const spans: Span[] = [];
  const quotes = multiLineQuotes(text, doc);
  let streamSeen = false;
  for (const e of errors) {
    const a = Math.min(Math.max(e.pos[0], 0), text.length);
    const b = Math.min(Math.max(e.pos[1], a), text.length);
    const stream = /in YAML stream/.test(e.message);
    const toEnd = stream || /^Missing closing .quote/.test(e.message);
    spans.push({ start: lines.start(lines.of(a) - 1), end: toEnd ? text.length : lines.end(lines.of(b)) });
    if (stream && streamSeen) continue;
    streamSeen ||= stream;
    const prev = slips[slips.length - 1];
    if (prev !== undefined && lines.of(a) <= prev.lastLine + 1) {
      prev.lastLine = Math.max(prev.lastLine, lines.of(b));
      continue;
    }
    const x = unclosedQuote(quotes, a, text, lines) ?? explain(e, a, b, text, lines, doc);
    if (prev !== undefined && x.firstLine <= prev.lastLine + 1) {
      prev.lastLine = Math.max(prev.lastLine, x.lastLine);
      continue;
    }
    slips.push(x);
  }
  const diagnostics: Diagnostic[] = [];
  const at = (start: number, end: number) => {
    const p = lc.linePos(start);
    return { start, end, line: p.line - 1, column: p.col - 1 };
  };
  for (const x of slips.slice(0, MAX_SYNTAX_DIAGNOSTICS)) {
    diagnostics.push({ severity: "error", code: "yaml-syntax", message: x.message, hint: x.hint, range: at(x.start, x.end) });
  }
  if (slips.length > MAX_SYNTAX_DIAGNOSTICS) {
    const next = slips[MAX_SYNTAX_DIAGNOSTICS]!;
    const more = slips.length - MAX_SYNTAX_DIAGNOSTICS;
    diagnostics.push({
      severity: "error",
      code: "yaml-syntax",
      message: more === 1 ? l10n.t("1 more YAML error from line {0} on is not listed", lines.of(next.start) + 1) : l10n.t("{0} more YAML errors from line {1} on are not listed", more, lines.of(next.start) + 1),
      hint: l10n.t("Fix the errors above first: the later ones are often caused by them."),
      range: at(next.start, next.end),
    });
  }
  return { diagnostics, broken: merge(spans) };
}

function explain(e: YAMLError, a: number, b: number, text: string, lines: Lines, doc: Document.Parsed): Explained {
  const line = lines.of(a);
  const base = { start: a, end: b, firstLine: line, lastLine: lines.of(b) };
  const firstWord = (from: number) => {
    let i = from;
    while (i < text.length && /[ \t]/.test(text[i]!)) i++;
    let j = i;
    while (j < text.length && !/[\s]/.test(text[j]!)) j++;
    return { start: i, end: j };
  };
  if (/in YAML stream/.test(e.message)) {
    const root = doc.contents;
    if (isScalar(root) && root.range && root.range[0] < a) {
      // A line that lost its `#` (or its `key:`) became the whole document.
      const r0 = root.range[0];
      return {
        start: r0,
        end: Math.max(r0, Math.min(root.range[1], lines.end(lines.of(r0)))),
        message: l10n.t("this line is read as the whole document (a plain text value), so YAML reads nothing after it"),
        hint: l10n.t("Make it a comment (start it with #) or a `key: value` line."),
        firstLine: lines.of(r0),
        lastLine: lines.last,
      };
    }
    return {
      ...base,
      message: l10n.t("YAML stops reading here: lines {0}-{1} are not part of the scenario", line + 1, lines.last + 1),
      hint: l10n.t("Indent this line like the lines above it, or look just above it for a line that ends the document early."),
      lastLine: lines.last,
    };
  }
  switch (e.code) {
    case "TAB_AS_INDENT":
      return { ...base, message: l10n.t("this line is indented with a tab"), hint: l10n.t("YAML indents with spaces only: replace the tab with spaces, like the lines around it.") };
    case "MULTILINE_IMPLICIT_KEY":
    case "BLOCK_AS_IMPLICIT_KEY": {
      const head = text.slice(a, lines.end(line));
      const m = /^([A-Za-z0-9_.-]+):(\S+)/.exec(head);
      if (m) {
        const word = m[0];
        return {
          ...base,
          end: a + word.length,
          message: l10n.t("{0} is read as one word: YAML needs a space after the colon", quoted(word)),
          hint: l10n.t("Add a space after ':' ({0}).", `${m[1]}: ${m[2]!.length > 40 ? `${m[2]!.slice(0, 40)}…` : m[2]}`),
        };
      }
      if (lines.of(b) > line) {
        // The next line is indented further, so YAML reads it as the rest of this line's value.
        const next = lines.of(b);
        const w = firstWord(lines.start(next));
        return { ...base, start: w.start, end: Math.max(w.start, w.end), message: l10n.t("this line is indented further than the line above, so YAML reads it as part of that line's value"), hint: siblingsHint(), firstLine: next, lastLine: next };
      }
      if (/block sequence/.test(e.message)) return { ...base, message: l10n.t("a list item (- ...) stands where YAML expects a key"), hint: siblingsHint() };
      return { ...base, message: l10n.t("a value on this line is itself written as `key: value`"), hint: l10n.t("Put the inner `key: value` on its own line, indented further, or quote the value.") };
    }
    case "MISSING_CHAR": {
      const quote = /^Missing closing (["'])quote/.exec(e.message);
      if (quote) {
        const q = openingQuote(text, a, quote[1]!);
        const ql = lines.of(q);
        return { start: q, end: lines.end(ql), message: l10n.t("this quoted text is never closed, so YAML reads the rest of the file into it"), hint: l10n.t("Add the closing {0} on this line.", quote[1]!), firstLine: ql, lastLine: lines.last };
      }
      if (/^Sequence item without - indicator/.test(e.message)) {
        const w = firstWord(lines.start(line));
        return { ...base, start: w.start, end: Math.max(w.start, w.end), message: l10n.t("this line is indented differently from the lines next to it"), hint: siblingsHint() };
      }
      if (/^Implicit map keys need to be followed by map values/.test(e.message)) {
        return { ...base, message: l10n.t("this line has no `key: value` colon"), hint: l10n.t("Write it as `key: value` (a colon and a space after the key), or make it a comment with #.") };
      }
      if (/^Missing space after :/.test(e.message)) {
        return { ...base, message: l10n.t("a colon needs a space after it"), hint: l10n.t("Add a space after ':'.") };
      }
      if (/^Missing , (or : )?between/.test(e.message)) {
        return { ...base, message: l10n.t("a comma is missing between two items of this { ... } or [ ... ]"), hint: l10n.t("Separate the items with ', ' and write each as `key: value` (with a space after ':').") };
      }
      if (/^Comments must be separated/.test(e.message)) {
        return { ...base, message: l10n.t("a # comment must have a space before it"), hint: l10n.t("Add a space before #, or quote the value if the # is part of it.") };
      }
      break;
    }
    case "BAD_INDENT": {
      const flow = /^Flow (map|sequence) in block collection must be sufficiently indented and end with a ([}\]])/.exec(e.message);
      if (flow) {
        const open = flow[2] === "}" ? "{" : "[";
        return { ...base, message: l10n.t("a {0} ... {1} above this line is not closed", open, flow[2]!), hint: l10n.t("Add the missing {0} at the end of the line where the {1} opens.", flow[2]!, open) };
      }
      if (/must start at the same column|must be sufficiently indented/.test(e.message)) {
        const w = firstWord(lines.start(line));
        return { ...base, start: Math.min(w.start, a), end: Math.max(w.end, a), message: l10n.t("this line does not start in the same column as the lines next to it"), hint: siblingsHint() };
      }
      break;
    }
    case "UNEXPECTED_TOKEN":
      if (/at node end/.test(e.message)) return { ...base, message: l10n.t("unexpected text after the end of this value"), hint: l10n.t("Start it on a line of its own, or separate it with ', ' inside { } or [ ].") };
      break;
    case "BAD_SCALAR_START": {
      const c = /start with (.+)$/.exec(e.message.split("\n")[0]!)?.[1] ?? l10n.t("this character");
      return { ...base, message: l10n.t("a value cannot start with {0} unless it is quoted", c), hint: l10n.t("Put the value in quotes.") };
    }
    case "KEY_OVER_1024_CHARS":
      return { ...base, end: Math.min(b, a + 1024), message: l10n.t("this key is longer than 1024 characters"), hint: l10n.t("Keys are short names like `memory`: did a line lose its `: ` or a closing quote?") };
    case "MULTIPLE_DOCS":
      return { ...base, message: l10n.t("the file holds more than one YAML document"), hint: l10n.t("A scenario is one document: remove the `---` or `...` line.") };
    case "BAD_DQ_ESCAPE":
      return { ...base, message: l10n.t("{0} in a double-quoted text", e.message.split("\n")[0]!), hint: l10n.t("Write \\\\ for a backslash, or use single quotes.") };
    case "DUPLICATE_KEY":
      return { ...base, message: l10n.t("this key appears twice in its mapping"), hint: l10n.t("Keep one of them.") };
    default:
      break;
  }
  return { ...base, message: e.message.split("\n")[0]!, hint: genericHint() };
}

/** Quoted texts that span lines, in source order: an unclosed quote swallows lines up to the next quote. */
function multiLineQuotes(text: string, doc: Document.Parsed): Span[] {
  const out: Span[] = [];
  visit(doc, {
    Scalar(_, node) {
      if ((node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE") && node.range && text.slice(node.range[0], node.range[1]).includes("\n")) out.push({ start: node.range[0], end: node.range[1] });
    },
  });
  return out.sort((x, y) => x.start - y.start);
}

/**
 * An error at a quoted text that spans lines, or just after it (on the line of its end or the next),
 * is most likely that text's missing closing quote: point at where it opens.
 */
function unclosedQuote(quotes: Span[], a: number, text: string, lines: Lines): Explained | undefined {
  const errLine = lines.of(a);
  const q = quotes.find((s) => s.start === a || (s.end <= a && lines.of(s.end) >= errLine - 1));
  if (q === undefined) return undefined;
  const ql = lines.of(q.start);
  const ch = text[q.start] === "'" ? "'" : '"';
  return {
    start: q.start,
    end: lines.end(ql),
    message: l10n.t("this quoted text runs on to line {0}: is its closing {1} missing?", lines.of(q.end) + 1, ch),
    hint: l10n.t("Add the closing {0} on this line.", ch),
    firstLine: ql,
    lastLine: Math.max(errLine, lines.of(q.end)),
  };
}

/** The quote that opened the string a "Missing closing quote" error ends at. */
function openingQuote(text: string, from: number, q: string): number {
  for (let i = Math.min(from, text.length) - 1; i >= 0; i--) {
    if (text[i] !== q) continue;
    if (q === '"' && i > 0 && text[i - 1] === "\\") continue;
    return i;
  }
  return Math.min(from, text.length);
}

function merge(spans: Span[]): Span[] {
  const sorted = [...spans].sort((x, y) => x.start - y.start);
  const out: Span[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/** A diagnostic of the recovered document that is worth showing next to syntax errors. */
export function trustedDespiteSyntaxErrors(d: Diagnostic, broken: readonly Span[]): boolean {
  if (KEY_CODES.has(d.code)) return broken.length === 0 || d.range.end < broken[0]!.start;
  if (!VALUE_CODES.has(d.code)) return false;
  // broken is sorted and disjoint: find the last span starting at or before d's end.
  let lo = 0;
  let hi = broken.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (broken[mid]!.start <= d.range.end) lo = mid + 1;
    else hi = mid;
  }
  const s = broken[lo - 1];
  return s === undefined || s.end < d.range.start;
}
