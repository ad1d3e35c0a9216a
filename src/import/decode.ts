/**
 * The one way evidence becomes records, whatever it comes from: a file streamed in byte chunks
 * (CLI, extension), a file read whole (`vscode.workspace.fs`), or a text (clipboard, selection,
 * editor, the worker's evidenceParse). Bytes are decoded here (UTF-8, or UTF-16LE/BE by their
 * byte-order mark or by the NULs between ASCII characters, detected on the first 1024 bytes
 * whatever the chunks are); text goes through the one StreamParser, so the long-line rule and the
 * slices are the same for a whole text and for any split of it into chunks.
 *
 * Pure: TextDecoder is a global in Node and browsers; Node's faster ASCII check can be handed in.
 */
import { looksUtf16 } from "./lines.js";
import type { EvidenceKind } from "./index.js";
import type { EvidenceRecord, Skipped } from "./records.js";
import { StreamParser } from "./stream.js";

export type EvidenceEncoding = "utf-8" | "utf-16le" | "utf-16be";

/** Bytes looked at to tell the encoding. */
const HEAD_BYTES = 1024;

/**
 * The text encoding of a file from its first bytes: a UTF-16 byte-order mark, or ASCII text in
 * UTF-16 without one (a NUL in every other byte: odd offsets for little-endian). UTF-8 otherwise.
 */
export function encodingOf(head: Uint8Array): EvidenceEncoding {
  if (head[0] === 0xff && head[1] === 0xfe) return "utf-16le";
  if (head[0] === 0xfe && head[1] === 0xff) return "utf-16be";
  const n = Math.min(head.length, HEAD_BYTES) & ~1;
  if (n < 16) return "utf-8";
  let even = 0;
  let odd = 0;
  for (let k = 0; k < n; k += 2) {
    if (head[k] === 0 && head[k + 1] !== 0) even++;
    else if (head[k + 1] === 0 && head[k] !== 0) odd++;
  }
  const pairs = n / 2;
  if (odd * 5 >= pairs * 2 && even * 20 < pairs) return "utf-16le";
  if (even * 5 >= pairs * 2 && odd * 20 < pairs) return "utf-16be";
  return "utf-8";
}

/** Node's Buffer helpers (isAscii is SIMD, latin1 a plain copy); without them every chunk goes through TextDecoder. */
export interface AsciiFastPath {
  isAscii(bytes: Uint8Array): boolean;
  latin1(bytes: Uint8Array): string;
}

/** Bytes to text, chunk by chunk; the same text for any split of the bytes into chunks. */
export class EvidenceTextDecoder {
  encoding?: EvidenceEncoding;
  private head: Uint8Array[] = [];
  private headSize = 0;
  private decoder?: InstanceType<typeof TextDecoder>;
  private asciiSoFar = false;

  constructor(private readonly fast?: AsciiFastPath) {}

  /** Text of the chunk (may be "" while the first bytes are collected or a character is split). */
  decode(chunk: Uint8Array): string {
    if (this.encoding === undefined) {
      // The encoding is told from the first HEAD_BYTES bytes, however small the first chunks are.
      this.head.push(chunk);
      this.headSize += chunk.length;
      if (this.headSize < HEAD_BYTES) return "";
      return this.start();
    }
    return this.text(chunk);
  }

  /** The rest (a partial character at the end becomes U+FFFD). */
  end(): string {
    let out = this.encoding === undefined ? this.start() : "";
    if (this.decoder) out += this.decoder.decode();
    return out;
  }

  private start(): string {
    const all = concat(this.head, this.headSize);
    this.head = [];
    this.encoding = encodingOf(all);
    return this.text(all);
  }

  private text(chunk: Uint8Array): string {
    // A UTF-8 file's leading ASCII chunks are the same text read as latin1, which is a plain copy
    // (the streaming decoder took about a tenth of a 100 MB decode). Once a chunk is not ASCII the
    // decoder takes over for good (it may hold a partial character); started after the first
    // chunk, it must keep a U+FEFF it sees as text, as the decoder that had read from the start would.
    if (this.encoding === "utf-8" && this.decoder === undefined && this.fast?.isAscii(chunk)) {
      this.asciiSoFar = true;
      return this.fast.latin1(chunk);
    }
    this.decoder ??= new TextDecoder(this.encoding, { ignoreBOM: this.asciiSoFar });
    return this.decoder.decode(chunk, { stream: true });
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A text that is UTF-16 read as 8-bit characters (a Windows export pasted from a tool that did not
 * know its encoding, or opened as UTF-8): its characters again, two of the misread ones making one.
 * ASCII comes back exactly; a character a UTF-8 reading had already replaced stays U+FFFD.
 * Other texts are returned as they are; a leading U+FEFF is dropped in both cases.
 */
export function repairUtf16Text(text: string): string {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!looksUtf16(text)) return text;
  let be = false;
  let from = 0;
  if (text.startsWith("\u00FE\u00FF")) {
    be = true;
    from = 2;
  } else if (text.startsWith("\u00FF\u00FE") || text.startsWith("\uFFFD\uFFFD")) from = 2;
  else {
    // Without a byte-order mark: where the NULs are (odd positions: little-endian).
    let even = 0;
    for (let k = 0; k + 1 < Math.min(text.length, HEAD_BYTES); k += 2) if (text.charCodeAt(k) === 0 && text.charCodeAt(k + 1) !== 0) even++;
    let odd = 0;
    for (let k = 0; k + 1 < Math.min(text.length, HEAD_BYTES); k += 2) if (text.charCodeAt(k + 1) === 0 && text.charCodeAt(k) !== 0) odd++;
    be = even > odd;
  }
  const out: string[] = [];
  let run = "";
  for (let k = from; k + 1 < text.length; k += 2) {
    const a = text.charCodeAt(k);
    const b = text.charCodeAt(k + 1);
    const [lo, hi] = be ? [b, a] : [a, b];
    run += lo < 0x100 && hi < 0x100 ? String.fromCharCode(lo | (hi << 8)) : "\uFFFD";
    if (run.length >= 8192) {
      out.push(run);
      run = "";
    }
  }
  out.push(run);
  return out.join("");
}

export interface DecodedEvidence {
  kind: EvidenceKind;
  records: EvidenceRecord[];
  /** Runs of skipped lines in line order, neighbouring runs with the same reason merged. */
  skipped: Skipped[];
  /** Lines in the input. */
  lines: number;
  /** Records found beyond ReaderOptions.maxRecords: counted, not kept. */
  dropped?: number;
}

export interface ReaderOptions {
  kind?: EvidenceKind;
  /** Added to every line number (a selection starting at this line of its document). */
  lineOffset?: number;
  fast?: AsciiFastPath;
  /** Records as each slice is parsed (the CLI prints them as they come); end() still returns them all unless keep is false. */
  onRecords?: (records: EvidenceRecord[], skipped: Skipped[]) => void;
  /** Whether end() returns the records (false: only onRecords sees them; bounded memory for a CLI decode). Default true. */
  keep?: boolean;
  /**
   * Records kept at most (end() returns them and counts the rest in `dropped`), and runs of skipped
   * lines kept at most: what bounds an import's memory when a log has millions of records. Default: no limit.
   */
  maxRecords?: number;
}

/** Bytes or text in, records out: the one path every import takes. */
export class EvidenceReader {
  private readonly decoder: EvidenceTextDecoder;
  private readonly parser: StreamParser;
  private readonly records: EvidenceRecord[] = [];
  private readonly skipped: Skipped[] = [];
  private dropped = 0;

  constructor(options: ReaderOptions = {}) {
    this.decoder = new EvidenceTextDecoder(options.fast);
    const k = options.lineOffset ?? 0;
    const keep = options.keep ?? true;
    this.parser = new StreamParser((recs, sk) => {
      const r = k === 0 ? recs : recs.map((rec) => ({ ...rec, line: rec.line + k, endLine: rec.endLine + k, context: rec.context.map((c) => ({ ...c, line: c.line + k })) }));
      const s = k === 0 ? sk : sk.map((x) => ({ ...x, line: x.line + k, endLine: x.endLine + k }));
      if (keep) {
        const max = options.maxRecords ?? Infinity;
        for (const x of r) {
          if (this.records.length < max) this.records.push(x);
          else this.dropped++;
        }
        // Runs of skipped lines grow with the input too (one between every two records of a noisy log): the same limit.
        for (const x of s) if (this.skipped.length < max) this.skipped.push(x);
      }
      options.onRecords?.(r, s);
    }, options.kind);
  }

  /** The kind, once the first slice told it (or as given). */
  get kind(): EvidenceKind | undefined {
    return this.parser.kind;
  }

  /** Lines seen so far. */
  get lines(): number {
    return this.parser.lines;
  }

  /** The encoding of the bytes, once told. */
  get encoding(): EvidenceEncoding | undefined {
    return this.decoder.encoding;
  }

  pushBytes(chunk: Uint8Array): void {
    const t = this.decoder.decode(chunk);
    if (t) this.parser.push(t);
  }

  /** Text already decoded (chunks of one text; for a whole text prefer decodeEvidenceText, which also repairs misread UTF-16). */
  pushText(chunk: string): void {
    this.parser.push(chunk);
  }

  end(): DecodedEvidence {
    const t = this.decoder.end();
    if (t) this.parser.push(t);
    this.parser.end();
    return { kind: this.parser.kind ?? "log", records: this.records, skipped: mergeSkipped(this.skipped), lines: this.parser.lines, ...(this.dropped ? { dropped: this.dropped } : {}) };
  }
}

/** A whole text's records (clipboard, selection, editor, the worker): the same records as its bytes streamed in any chunks. */
export function decodeEvidenceText(text: string, options: Omit<ReaderOptions, "fast"> = {}): DecodedEvidence {
  const r = new EvidenceReader(options);
  r.pushText(repairUtf16Text(text));
  return r.end();
}

/** A whole file's bytes (e.g. from vscode.workspace.fs.readFile). */
export function decodeEvidenceBytes(bytes: Uint8Array, options: ReaderOptions = {}): DecodedEvidence {
  const r = new EvidenceReader(options);
  r.pushBytes(bytes);
  return r.end();
}

/** Runs of skipped lines sorted by line, touching runs with the same reason merged (slices hand them out in pieces). */
export function mergeSkipped(list: Skipped[]): Skipped[] {
  const out: Skipped[] = [];
  for (const s of [...list].sort((a, b) => a.line - b.line)) {
    const last = out[out.length - 1];
    if (last && last.reason === s.reason && last.endLine >= s.line - 1) last.endLine = Math.max(last.endLine, s.endLine);
    else out.push({ ...s });
  }
  return out;
}
