/**
 * The engine's worker entry, dist/web/worker.js: a Web Worker in VS Code for the Web, and the same
 * bundle in a worker thread on the desktop (node.ts gives it this scope there). Without shared
 * memory (the web) the worker cannot see a newer version mid-run: the host's supervisor recycles
 * it instead (engineClient.ts SUPERSEDE_AFTER_MS).
 */
import { EngineServer, serveEngine, type AsciiFastPath } from "../engine/server.js";

/** What the engine needs of its worker's global scope. */
export interface WorkerScope {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: "message", listener: (e: { data: unknown }) => void): void;
  /** Node's Buffer helpers for imports, set by the desktop loader (node.ts); absent in a browser. */
  passthroughAsciiFast?: AsciiFastPath;
}
const scope = globalThis as unknown as WorkerScope;
serveEngine(
  {
    post: (message, transfer) => scope.postMessage(message, transfer ?? []),
    onMessage: (listener) => scope.addEventListener("message", (e) => listener(e.data)),
  },
  new EngineServer(undefined, scope.passthroughAsciiFast ? { asciiFast: scope.passthroughAsciiFast } : {}),
);
