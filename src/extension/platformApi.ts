/**
 * What differs between the desktop extension host (Node) and VS Code for the Web (a browser Web
 * Worker): how the engine worker is started and talks, and how local files are read and written.
 * `platform.ts` is the Node implementation; the web bundle replaces it with `platform.web.ts`
 * (scripts/build.mjs). Everything else is shared, including the worker's supervisor.
 * Type imports only: no `vscode` or Node module is loaded from here.
 */
import type * as vscode from "vscode";
import type { AsciiFastPath } from "../import/decode.js";
import type { ExportFileOps } from "./exportFile.js";

/**
 * One engine worker as the supervisor (engineClient.ts) sees it, whatever runs it: Node
 * worker_threads or a browser Web Worker.
 */
export interface EngineTransport {
  /**
   * The worker shares memory with the host (a SharedArrayBuffer can be posted): cancellation and
   * the heartbeat go through it. Without it (a browser page that is not cross-origin isolated) the
   * worker sends its heartbeat as messages and a superseded run finishes before it is dropped.
   */
  readonly sharedMemory: boolean;
  post(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  /** The worker crashed or exited; `why` is a sentence for the log. Called at most once. */
  onDeath(listener: (why: string) => void): void;
  terminate(): void;
}

export interface SpawnOptions {
  /** The worker's heap limit where the platform can set one (Node). */
  heapMb: number;
}

export interface HostPlatform {
  readonly kind: "node" | "web";
  /** The engine worker's bundle inside the extension: a path (Node) or a URL (web). */
  workerLocation(extension: { extensionUri: vscode.Uri; extensionPath: string }): string;
  spawnWorker(location: string, options: SpawnOptions): EngineTransport;
  /**
   * A file's bytes in chunks, streamed without reading the whole file (a 1 GB log stays out of
   * memory); undefined where the platform cannot stream this uri, and vscode.workspace.fs reads it.
   */
  streamFile(uri: vscode.Uri, chunkBytes: number): AsyncIterable<Uint8Array> | undefined;
  /** Whether streamFile streams this uri (otherwise it is read whole, fileAccess.ts's limit applies). */
  canStream(uri: vscode.Uri): boolean;
  /** A faster ASCII check for the evidence decoder, where the platform has one. */
  asciiFast?: AsciiFastPath;
  /** Local file operations for a streamed trace export; undefined: no local file system. */
  fileOps?: ExportFileOps;
}
