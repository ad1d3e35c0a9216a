/**
 * Where a command's named inputs come from: a file, or standard input for "-" (as cat, grep and
 * jq read it), so `dmesg | passthrough explain -` works without a temporary file of the user's.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliIo } from "./output.js";

/** The argument that names standard input. */
export const STDIN = "-";

/** How an input is named in output lines and JSON: "<stdin>" for "-" (grep says "(standard input)"). */
export function inputName(file: string): string {
  return file === STDIN ? "<stdin>" : file;
}

/** Chunks of 256 KiB: a 100 MB log is never one string. */
const CHUNK = 1 << 18;

async function* nothing(): AsyncIterable<Uint8Array> {}

/**
 * Opens inputs by name. Standard input can be read once; a command that reads its inputs twice
 * (explain: a pass that gathers context, then one that explains) asks for `replayable`, and the
 * first read copies stdin's bytes to a private temporary file that later reads stream from — the
 * memory stays bounded whatever is piped in. `dispose()` removes that file.
 */
export class Inputs {
  private stdinTaken = false;
  private spoolDir: string | undefined;
  private spooled: string | undefined;

  constructor(
    private readonly io: CliIo,
    private readonly replayable = false,
  ) {}

  /** The bytes of `file`, in chunks. A second "-" without `replayable` reads nothing (stdin is spent). */
  open(file: string): AsyncIterable<Uint8Array> {
    if (file !== STDIN) return createReadStream(file, { highWaterMark: CHUNK });
    if (this.spooled !== undefined) return createReadStream(this.spooled, { highWaterMark: CHUNK });
    if (this.stdinTaken) return nothing();
    this.stdinTaken = true;
    const source = this.io.stdin?.();
    if (source === undefined) throw Object.assign(new Error("no standard input"), { code: "ENOSTDIN" });
    return this.replayable ? this.spool(source) : source;
  }

  /** Passes stdin's chunks through while writing them to the temporary file later reads use. */
  private async *spool(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    this.spoolDir = mkdtempSync(join(tmpdir(), "passthrough-stdin-"));
    const path = join(this.spoolDir, "stdin");
    const out = createWriteStream(path);
    for await (const chunk of source) {
      if (!out.write(chunk)) await once(out, "drain");
      yield chunk;
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    this.spooled = path;
  }

  dispose(): void {
    if (this.spoolDir !== undefined) rmSync(this.spoolDir, { recursive: true, force: true });
    this.spoolDir = this.spooled = undefined;
  }
}

/** All of an input's bytes (a scenario: simulate's own 5 MB limit applies once it is read). */
export async function readAll(inputs: Inputs, file: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of inputs.open(file)) parts.push(chunk);
  return Buffer.concat(parts);
}
