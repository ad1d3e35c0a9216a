/**
 * Where the CLI writes, and how it writes to a pipe without falling over:
 *  - back-pressure: text is batched, and a command waits (`await io.drain()`) while the reader is
 *    behind, so a 1 GB `decode --json` into a slow reader neither queues its whole output in memory
 *    nor dies with `write ENOBUFS`;
 *  - a reader that goes away (`| head`): the EPIPE is swallowed, `closed` turns true and the
 *    commands stop reading input; the process exits quietly with status 0.
 * Terminal (text) output goes through `terminalSafe` (control characters escaped); JSON is
 * escaped by JSON.stringify already.
 */
import type { Readable, Writable } from "node:stream";

/** The CLI's two outputs (tests collect them in strings). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Resolves once the reader has caught up (immediately when it is not behind, or is gone). */
  drain?(): Promise<void>;
  /** True once the reader of `out` went away (EPIPE): stop producing output. */
  readonly closed?: boolean;
  /** Standard input's bytes, for an input named "-" (inputs.ts); absent where there is none. */
  stdin?(): AsyncIterable<Uint8Array>;
}

/** Batches larger than this are handed to the stream (a write per record was slow on a 100 MB log). */
const BATCH = 1 << 16;

/** A CliIo over two Node streams (process.stdout and process.stderr, or a test's). */
export class StreamIo implements CliIo {
  private batch: string[] = [];
  private batched = 0;
  private gone = false;

  constructor(
    private readonly stdout: Writable,
    private readonly stderr: Writable,
    private readonly input?: Readable,
  ) {
    // An EPIPE (or any write error) on stdout means nobody reads any more: stop, quietly.
    stdout.on("error", () => {
      this.gone = true;
      this.batch = [];
      this.batched = 0;
    });
    // A closed stderr is no reason to crash either.
    stderr.on("error", () => {});
  }

  stdin(): AsyncIterable<Uint8Array> {
    if (this.input === undefined) throw Object.assign(new Error("no standard input"), { code: "ENOSTDIN" });
    // "-" typed at a terminal waits for text like cat does: say so, and how to end it.
    if ((this.input as { isTTY?: boolean }).isTTY) this.err("passthrough: reading standard input; end it with Ctrl-D\n");
    return this.input as AsyncIterable<Uint8Array>;
  }

  get closed(): boolean {
    return this.gone || this.stdout.destroyed;
  }

  out(text: string): void {
    if (this.closed) return;
    this.batch.push(text);
    this.batched += text.length;
    if (this.batched >= BATCH) this.flush();
  }

  /** stderr after stdout's batch, so the two interleave in the order they were written. */
  err(text: string): void {
    this.flush();
    if (!this.stderr.destroyed) this.stderr.write(text);
  }

  flush(): void {
    if (this.batch.length === 0 || this.closed) return;
    const text = this.batch.length === 1 ? this.batch[0]! : this.batch.join("");
    this.batch = [];
    this.batched = 0;
    this.stdout.write(text);
  }

  drain(): Promise<void> {
    this.flush();
    if (this.closed || !this.stdout.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.stdout.off("drain", done);
        this.stdout.off("close", done);
        this.stdout.off("error", done);
        resolve();
      };
      this.stdout.on("drain", done);
      this.stdout.on("close", done);
      this.stdout.on("error", done);
    });
  }

  /** Everything written handed to the stream, and taken by it (the end of a command). */
  async end(): Promise<void> {
    await this.drain();
  }
}

/**
 * A string as a terminal shows it harmlessly: C0 controls (except tab and newline), DEL, C1
 * controls, the bidirectional overrides and isolates, and the zero-width characters (U+200B-U+200D,
 * U+2060, U+FEFF: a name that looks like another) become visible escapes (`\x1b`,
 * `\u202e`), so a scenario name or a log line cannot retitle, clear or reorder the terminal.
 */
export function terminalSafe(text: string): string {
   
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}
