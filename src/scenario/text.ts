/**
 * The scenario's text before YAML reads it: bytes -> text (UTF-8, or UTF-16 by its byte-order mark
 * or its zero bytes), line breaks (a lone CR is a line break, as in YAML and in VS Code), and the
 * YAML parse itself, bounded in nesting depth (the yaml package composes nodes recursively: a few
 * thousand nested brackets overflowed the stack, "Maximum call stack size exceeded").
 */
import * as l10n from "@vscode/l10n";
import { Composer, Parser, YAMLParseError, type CST, type Document, type LineCounter } from "yaml";
import type { Diagnostic, SourceRange } from "./types.js";

/** Nested collections ([ ], { }, indented lists and mappings) a scenario may have; its own need 6. */
export const MAX_NESTING = 64;

/**
 * Bytes of a scenario file -> its text. A UTF-16 file (LE or BE, with a byte-order mark, or
 * without one when every other byte of its start is zero, as in ASCII text) is decoded as UTF-16;
 * anything else as UTF-8. A byte-order mark is kept as U+FEFF (YAML skips it), so offsets, lines and
 * columns are those of the text an editor shows.
 */
export function decodeScenarioBytes(bytes: Uint8Array): string {
  const utf16 = utf16Order(bytes);
  if (utf16 === undefined) return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  const even = bytes.length - (bytes.length % 2);
  let le = bytes.subarray(0, even);
  if (utf16 === "be") {
    le = new Uint8Array(even);
    for (let i = 0; i < even; i += 2) {
      le[i] = bytes[i + 1]!;
      le[i + 1] = bytes[i]!;
    }
  }
  return new TextDecoder("utf-16le", { ignoreBOM: true }).decode(le);
}

function utf16Order(b: Uint8Array): "le" | "be" | undefined {
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) return "le";
  if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) return "be";
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return undefined;
  const n = Math.min(b.length, 512) & ~1;
  if (n < 4) return undefined;
  let zeroEven = 0;
  let zeroOdd = 0;
  for (let i = 0; i < n; i += 2) {
    if (b[i] === 0) zeroEven++;
    if (b[i + 1] === 0) zeroOdd++;
  }
  const pairs = n / 2;
  if (zeroOdd >= pairs * 0.4 && zeroEven === 0) return "le";
  if (zeroEven >= pairs * 0.4 && zeroOdd === 0) return "be";
  return undefined;
}

/**
 * A UTF-16 file that was read as UTF-8 (its byte-order mark became two U+FFFD, its ASCII letters
 * are each followed or preceded by a NUL): one diagnostic at 1:1, or undefined.
 */
export function utf16ReadAsUtf8(text: string): Diagnostic | undefined {
  const head = text.slice(0, 256);
  const bom = head.startsWith("\ufffd\ufffd");
  let nul = 0;
  for (let i = 0; i < head.length; i++) if (head.charCodeAt(i) === 0) nul++;
  if (nul === 0 || (!bom && nul < head.length / 4)) return undefined;
  return {
    severity: "error",
    code: "text-encoding",
    message: l10n.t("the file is UTF-16 text, read here as UTF-8"),
    hint: l10n.t("Save it as UTF-8 (in VS Code: click the encoding in the status bar, Save with Encoding, UTF-8); the passthrough CLI also reads UTF-16 files."),
    range: { start: 0, end: Math.min(text.length, 2), line: 0, column: 0 },
  };
}

/** A lone CR (old Mac line ends) as LF: the same length, so every offset stays the same. */
export function normalizeLineBreaks(text: string): string {
  return text.includes("\r") ? text.replace(/\r(?!\n)/g, "\n") : text;
}

/** A text with a lone CR (a line break the `\n`-based fast paths do not see). */
export function hasLoneCr(text: string): boolean {
  return /\r(?!\n)/.test(text);
}

export type YamlOptions = ConstructorParameters<typeof Composer>[0] & { lineCounter?: LineCounter };

/**
 * parseDocument of the yaml package, with the nesting of its concrete syntax tree measured (without
 * recursion) before the tree is composed into nodes: `tooDeep` is the offset of the first
 * collection nested deeper than MAX_NESTING.
 */
export function parseYaml(text: string, options: YamlOptions): { doc: Document.Parsed } | { tooDeep: number } {
  const tokens = Array.from(new Parser(options.lineCounter?.addNewLine).parse(text));
  const deep = tooDeep(tokens);
  if (deep !== undefined) return { tooDeep: deep };
  const composer = new Composer(options);
  let doc: Document.Parsed | undefined;
  for (const d of composer.compose(tokens, true, text.length)) {
    if (!doc) doc = d;
    else {
      // As parseDocument: a second document is an error of the first.
      doc.errors.push(new YAMLParseError(d.range.slice(0, 2) as [number, number], "MULTIPLE_DOCS", "Source contains multiple documents; please use YAML.parseAllDocuments()"));
      break;
    }
  }
  return { doc: doc! };
}

function tooDeep(tokens: CST.Token[]): number | undefined {
  const stack: { t: CST.Token | undefined; depth: number }[] = tokens.map((t) => ({ t, depth: 0 }));
  while (stack.length > 0) {
    const { t, depth } = stack.pop()!;
    if (t === undefined) continue;
    if (t.type === "document") {
      stack.push({ t: t.value, depth });
      continue;
    }
    if (t.type !== "block-map" && t.type !== "block-seq" && t.type !== "flow-collection") continue;
    if (depth + 1 > MAX_NESTING) return t.type === "flow-collection" ? t.start.offset : t.offset;
    for (const it of t.items) {
      if ("key" in it && it.key) stack.push({ t: it.key, depth: depth + 1 });
      if (it.value) stack.push({ t: it.value, depth: depth + 1 });
    }
  }
  return undefined;
}

/** The diagnostic of a text nested deeper than MAX_NESTING, at the collection that goes too deep. */
export function tooDeepDiagnostic(offset: number, at: (offset: number) => SourceRange): Diagnostic {
  return {
    severity: "error",
    code: "too-deep",
    message: l10n.t("nested too deeply (limit {0})", MAX_NESTING),
    hint: l10n.t("A scenario nests a few levels (host, pci, a device); look for brackets that never close or a list indented one step more on every line."),
    range: at(offset),
  };
}
