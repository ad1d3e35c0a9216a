/**
 * Where a trace export's chunks go when the target is a local file: a temporary file beside the
 * target, renamed over it when every chunk is written. A cancelled or failed export deletes only
 * the temporary file, so a file the user chose to overwrite keeps its contents until the new one
 * is complete. No vscode import: the file operations are injectable for tests; the default ones
 * are the platform's (node:fs in platform.ts; VS Code for the Web has no local files).
 */
import { platform } from "./platform.js";

/** The file operations the sink uses (the platform's node:fs ones by default). */
export interface ExportFileOps {
  open(path: string): Promise<{ write(data: Uint8Array): Promise<unknown>; close(): Promise<void> }>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string): Promise<void>;
}

/** Where export chunks go: appended to a file as they come, or collected for one write. */
export interface ExportSink {
  bytes: number;
  write(text: string): Promise<void>;
  /** All chunks written: the file is complete (and replaces the target). */
  finish(): Promise<void>;
  /** Cancelled or failed: nothing (no partial file) stays behind; the target is untouched. */
  discard(): Promise<void>;
}

/** The temporary file's path for `target`: hidden, beside it (same file system, so rename is atomic). */
export function tempPathFor(target: string, random: string = Math.random().toString(36).slice(2, 10)): string {
  // The directory part as given (either separator, so Windows paths too): no node:path in a web bundle.
  const cut = Math.max(target.lastIndexOf("/"), target.lastIndexOf("\\")) + 1;
  return `${target.slice(0, cut)}.${target.slice(cut)}.${random}.part`;
}

export async function fileSink(target: string, ops: ExportFileOps | undefined = platform.fileOps, temp: string = tempPathFor(target)): Promise<ExportSink> {
  if (!ops) throw new Error(`cannot write ${target}: this VS Code has no local file system`);
  const handle = await ops.open(temp);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  const enc = new TextEncoder();
  const sink: ExportSink = {
    bytes: 0,
    async write(text) {
      const data = enc.encode(text);
      await handle.write(data);
      sink.bytes += data.length;
    },
    async finish() {
      await close();
      await ops.rename(temp, target);
    },
    async discard() {
      await close().catch(() => undefined);
      await ops.rm(temp).catch(() => undefined);
    },
  };
  return sink;
}
