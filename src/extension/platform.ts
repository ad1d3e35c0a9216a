/**
 * The Node extension host (desktop VS Code, code-server's Node host): the engine in a
 * worker_threads Worker, local files streamed with node:fs. The web bundle uses platform.web.ts
 * in its place (scripts/build.mjs), so nothing here reaches VS Code for the Web.
 */
import { Worker } from "node:worker_threads";
import { createReadStream, promises as fs } from "node:fs";
import { isAscii } from "node:buffer";
import { join } from "node:path";
import type { EngineTransport, HostPlatform } from "./platformApi.js";
import type { ExportFileOps } from "./exportFile.js";

export function nodeWorkerTransport(path: string, heapMb: number): EngineTransport {
  const w = new Worker(path, { resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  return {
    sharedMemory: true,
    post: (m) => w.postMessage(m),
    onMessage: (listener) => void w.on("message", listener),
    onDeath: (listener) => {
      let dead = false;
      const once = (why: string) => {
        if (dead) return;
        dead = true;
        listener(why);
      };
      w.on("error", (e) => once(`the simulation worker crashed: ${e.message}`));
      w.on("exit", (code) => once(`the simulation worker exited with code ${code}`));
    },
    terminate: () => void w.terminate(),
  };
}

export const nodeFileOps: ExportFileOps = {
  // "wx": the temporary name is new; never open (and truncate) an existing file.
  open: (path) => fs.open(path, "wx"),
  rename: (from, to) => fs.rename(from, to),
  rm: (path) => fs.rm(path, { force: true }),
};

export const platform: HostPlatform = {
  kind: "node",
  workerLocation: (ext) => join(ext.extensionPath, "dist", "worker.cjs"),
  spawnWorker: (location, options) => nodeWorkerTransport(location, options.heapMb),
  canStream: (uri) => uri.scheme === "file",
  streamFile: (uri, chunkBytes) => (platform.canStream(uri) ? (createReadStream(uri.fsPath, { highWaterMark: chunkBytes }) as AsyncIterable<Buffer>) : undefined),
  // Node's Buffer helpers for the decoder's ASCII fast path (the CLI uses the same).
  asciiFast: { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") },
  fileOps: nodeFileOps,
};
