/**
 * A reader for the plain workload items most scenarios are made of — `- dma: { device: "01:00.0",
 * iova: 0x1000_0000, length: 1MiB }` with perhaps an `expect:` line — that builds the very nodes
 * the `yaml` package would (same classes, values and source ranges), about twenty times faster:
 * the package's lexer, CST and composer took half a second for 4 000 such lines. Anything outside
 * its small grammar (block values, escapes, anchors, tags, multi-word plain scalars, floats, a key
 * without the space after its colon, odd indentation) makes it answer undefined, and the caller
 * parses with `yaml` as before; a property test holds the two to the same scenario and diagnostics.
 *
 * Grammar, per item: `-` spaces `key: value` [comment], then lines `key: value` [comment] indented
 * to the first key's column, blank lines and comment lines. A value is a flow mapping
 * `{ key: value, ... }`, a flow sequence `[ value, ... ]` (on one line), a quoted scalar without
 * escapes, or a one-word plain scalar, resolved as YAML 1.2's core schema does (null, booleans,
 * integers as BigInt, since scenarios are parsed with intAsBigInt; floats are left to `yaml`).
 */
import { Pair, Scalar, YAMLMap, YAMLSeq, type Node } from "yaml";

const SP = 32;
const NL = 10;
const HASH = 35;

/** Characters of the one-word plain scalars read here (a `:` also, when a word character follows). */
function plainChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || // 0-9
    (c >= 65 && c <= 90) || // A-Z
    (c >= 97 && c <= 122) || // a-z
    c === 95 || // _
    c === 46 || // .
    c === 45 || // -
    c === 43 || // +
    c === 47 || // /
    c === 126 || // ~
    c === 36 || // $
    c === 94 || // ^
    c === 61 || // =
    c === 40 || // (
    c === 41 // )
  );
}

function keyChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
}

const INT_DEC = /^[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const INT_OCT = /^0o[0-7]+$/;
/** What the core schema could read as a number other than the integers above: left to `yaml`. */
const NUMBERISH = /^[-+.]?[0-9.]|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/;
const NUMBER_FORMS = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/;

class Reader {
  i: number;
  constructor(
    readonly s: string,
    start: number,
    readonly end: number,
  ) {
    this.i = start;
  }

  at(): number {
    return this.i < this.end ? this.s.charCodeAt(this.i) : -1;
  }

  spaces(): void {
    while (this.at() === SP) this.i++;
  }

  /** A block sequence entry's `- ` (spaces around it skipped), the cursor after it; false if something else is there. */
  entry(): boolean {
    this.spaces();
    if (this.at() !== 45 /* - */) return false;
    this.i++;
    if (this.at() !== SP) return false;
    this.spaces();
    return true;
  }

  /** A plain key at the cursor followed by `: ` (the space required), or undefined. */
  key(): Scalar | undefined {
    const k0 = this.i;
    const word = this.keyWord();
    return word === undefined ? undefined : scalar(word, "PLAIN", k0, k0 + word.length);
  }

  /** The word of a plain key at the cursor followed by `: ` (the space required, then skipped), or undefined. */
  keyWord(): string | undefined {
    const k0 = this.i;
    const c0 = this.at();
    if (!((c0 >= 65 && c0 <= 90) || (c0 >= 97 && c0 <= 122))) return undefined;
    while (keyChar(this.at())) this.i++;
    const k1 = this.i;
    if (this.at() !== 58 /* : */) return undefined;
    this.i++;
    if (this.at() !== SP) return undefined;
    this.spaces();
    const word = this.s.slice(k0, k1);
    // A key that the core schema reads as something else than a string (`true:`, `null:`) is rare enough to leave to yaml.
    if (resolvePlain(word) !== word) return undefined;
    return word;
  }

  /** A value in block (`flow` false) or flow context, or undefined outside the grammar. */
  value(flow: boolean): Node | undefined {
    const c = this.at();
    if (c === 123 /* { */) return this.flowMap();
    if (c === 91 /* [ */) return this.flowSeq();
    void flow;
    const t0 = this.i;
    if (!this.scalarToken()) return undefined;
    return scalar(this.tokValue, this.tokType, t0, this.i);
  }

  /** The last scalarToken's value (resolved as the core schema does), its type and its raw text (as parse.ts Reader.raw reads a scalar). */
  tokValue: unknown = null;
  tokType: Scalar.Type = "PLAIN";
  tokRaw = "";

  /**
   * A quoted scalar without escapes or a one-word plain scalar at the cursor: read into tokValue,
   * tokType and tokRaw, the cursor after it. False outside the grammar.
   */
  scalarToken(): boolean {
    const c = this.at();
    if (c === 34 /* " */ || c === 39 /* ' */) {
      const q0 = this.i;
      const close = this.s.indexOf(c === 34 ? '"' : "'", q0 + 1);
      if (close < 0 || close >= this.end) return false;
      const body = this.s.slice(q0 + 1, close);
      if (body.includes("\n") || (c === 34 && body.includes("\\"))) return false;
      this.i = close + 1;
      // '' (an escaped quote) continues a single-quoted scalar: not read here.
      if (c === 39 && this.at() === 39) return false;
      this.tokValue = body;
      this.tokType = c === 34 ? "QUOTE_DOUBLE" : "QUOTE_SINGLE";
      this.tokRaw = body;
      return true;
    }
    const p0 = this.i;
    if (c === 64 /* @ */ || c === 45 /* - */ || !plainChar(c)) {
      // `-5` is a plain scalar, `- x` a sequence entry: leave both to yaml.
      return false;
    }
    for (;;) {
      const d = this.at();
      if (plainChar(d)) this.i++;
      else if (d === 58 /* : */ && plainChar(this.i + 1 < this.end ? this.s.charCodeAt(this.i + 1) : -1)) this.i++;
      else break;
    }
    const word = this.s.slice(p0, this.i);
    const v = resolvePlain(word);
    if (v === undefined) return false;
    this.tokValue = v;
    this.tokType = "PLAIN";
    this.tokRaw = word;
    return true;
  }

  /** After a flow collection's entry: 1 after a `,` (and the spaces after it), 0 after the closing character, -1 at anything else. */
  flowNext(close: number): number {
    this.spaces();
    const c = this.at();
    this.i++;
    if (c === close) return 0;
    if (c !== 44 /* , */) return -1;
    this.spaces();
    return 1;
  }

  flowMap(): YAMLMap | undefined {
    const b0 = this.i;
    this.i++;
    const map = new YAMLMap();
    map.flow = true;
    this.spaces();
    if (this.at() === 125 /* } */) {
      this.i++;
      map.range = [b0, this.i, this.i];
      return map;
    }
    for (;;) {
      const k = this.key();
      if (k === undefined) return undefined;
      const v = this.value(true);
      if (v === undefined) return undefined;
      map.items.push(new Pair(k, v));
      const more = this.flowNext(125 /* } */);
      if (more < 0) return undefined;
      if (more === 0) break;
    }
    map.range = [b0, this.i, this.i];
    return map;
  }

  flowSeq(): YAMLSeq | undefined {
    const b0 = this.i;
    this.i++;
    const seq = new YAMLSeq();
    seq.flow = true;
    this.spaces();
    if (this.at() === 93 /* ] */) {
      this.i++;
      seq.range = [b0, this.i, this.i];
      return seq;
    }
    for (;;) {
      const v = this.value(true);
      if (v === undefined) return undefined;
      seq.items.push(v);
      const more = this.flowNext(93 /* ] */);
      if (more < 0) return undefined;
      if (more === 0) break;
    }
    seq.range = [b0, this.i, this.i];
    return seq;
  }

  /**
   * The rest of a line after a value: spaces, perhaps a comment (after at least one space), the
   * newline. Returns the offset after the newline (or the end), or -1 when something else follows.
   */
  lineEnd(): number {
    const v1 = this.i;
    this.spaces();
    let c = this.at();
    if (c === HASH) {
      if (this.i === v1) return -1; // `x#y` is one scalar in YAML, not a comment
      const nl = this.s.indexOf("\n", this.i);
      this.i = nl < 0 || nl >= this.end ? this.end : nl;
      c = this.at();
    }
    if (c === 13 /* \r */) return -1;
    if (c === NL) return ++this.i;
    return c === -1 ? this.i : -1;
  }
}

function scalar(value: unknown, type: Scalar.Type, start: number, end: number): Scalar {
  const s = new Scalar(value);
  s.type = type;
  s.range = [start, end, end];
  return s;
}

/** A one-word plain scalar as the core schema resolves it (with intAsBigInt), or undefined to leave it to yaml. */
function resolvePlain(w: string): unknown {
  switch (w) {
    case "~":
    case "null":
    case "Null":
    case "NULL":
      return null;
    case "true":
    case "True":
    case "TRUE":
      return true;
    case "false":
    case "False":
    case "FALSE":
      return false;
  }
  // A word that starts with a letter is none of the forms below (each starts with a digit, a sign or a dot).
  const c = w.charCodeAt(0);
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return w;
  if (INT_DEC.test(w) || INT_HEX.test(w) || INT_OCT.test(w)) return BigInt(w);
  if (NUMBERISH.test(w) && NUMBER_FORMS.test(w)) return undefined;
  return w;
}

/**
 * The block mapping of one workload item: `text[start, end)` holds exactly one sequence item (its
 * `-` line, its continuation lines, blank and comment lines after it). Undefined when the item is
 * outside the grammar.
 */
export function fastItem(text: string, start: number, end: number): YAMLMap | undefined {
  const r = new Reader(text, start, end);
  if (!r.entry()) return undefined;
  const lineStart = text.lastIndexOf("\n", r.i - 1) + 1;
  const col = r.i - lineStart;
  const map = new YAMLMap();
  const m0 = r.i;
  let m1 = m0;
  for (;;) {
    const k = r.key();
    if (k === undefined) return undefined;
    if (r.at() === HASH || r.at() === NL || r.at() === -1) return undefined; // no value on the line: a block value or null
    const v = r.value(false);
    if (v === undefined) return undefined;
    map.items.push(new Pair(k, v));
    const next = r.lineEnd();
    if (next < 0) return undefined;
    m1 = next;
    const ind = nextIndent(r, end);
    if (ind < 0) break;
    if (ind !== col) return undefined;
  }
  map.range = [m0, m1, m1];
  return map;
}

/**
 * After an item's line: skips blank and comment lines; the column of the next line with content
 * (the cursor at it), or -1 at the end of the item.
 */
function nextIndent(r: Reader, end: number): number {
  while (r.i < end) {
    const l0 = r.i;
    r.spaces();
    const c = r.at();
    if (c === NL) {
      r.i++;
      continue;
    }
    if (c === -1) break;
    if (c === HASH) {
      const nl = r.s.indexOf("\n", r.i);
      r.i = nl < 0 || nl >= end ? end : nl + 1;
      continue;
    }
    return r.i - l0;
  }
  return -1;
}

/**
 * A `dma` item of one line whose flow mapping holds scalars only (`- dma: { device: "01:00.0",
 * iova: 0x1000, length: 1MiB }`), read without building nodes: what fastItem would read, as
 * parallel arrays. The full parse makes its Step from them when every value is valid, and reads
 * the item through fastItem's nodes otherwise (so diagnostics come from the one path).
 */
export class FlatDma {
  /** Offsets of the item's mapping: its first key, and after its line's newline (fastItem's range). */
  m0 = 0;
  m1 = 0;
  /** Pairs read. */
  n = 0;
  readonly keys: string[] = [];
  /** Each value as the core schema resolves it (Scalar.value), and as parse.ts Reader.raw reads it. */
  readonly values: unknown[] = [];
  readonly raws: string[] = [];
}

/** Reads `text[start, end)` into `out` when it is such a dma item; false otherwise (out then means nothing). */
export function fastDmaItem(text: string, start: number, end: number, out: FlatDma): boolean {
  const r = new Reader(text, start, end);
  if (!r.entry()) return false;
  out.m0 = r.i;
  if (r.keyWord() !== "dma" || r.at() !== 123 /* { */) return false;
  r.i++;
  r.spaces();
  let n = 0;
  for (;;) {
    const k = r.keyWord();
    if (k === undefined || !r.scalarToken()) return false;
    out.keys[n] = k;
    out.values[n] = r.tokValue;
    out.raws[n] = r.tokRaw;
    n++;
    const more = r.flowNext(125 /* } */);
    if (more < 0) return false;
    if (more === 0) break;
  }
  out.n = n;
  const next = r.lineEnd();
  if (next < 0) return false;
  out.m1 = next;
  return nextIndent(r, end) < 0;
}

/**
 * The workload's items as one block sequence (ranges from the first item's `-` to the end of the
 * last item). `direct`, when given, may stand in for an item's mapping (something with the same
 * `range`) before fastItem builds it.
 */
export function fastSequence(text: string, items: readonly { start: number; end: number }[], direct?: (start: number, end: number) => Node | undefined): YAMLSeq | undefined {
  const seq = new YAMLSeq();
  for (const it of items) {
    const m = direct?.(it.start, it.end) ?? fastItem(text, it.start, it.end);
    if (m === undefined) return undefined;
    seq.items.push(m);
  }
  const first = items[0];
  const dash = first === undefined ? 0 : text.indexOf("-", first.start);
  const last = seq.items[seq.items.length - 1] as YAMLMap | undefined;
  const e = last?.range?.[1] ?? dash;
  seq.range = [dash, e, e];
  return seq;
}
