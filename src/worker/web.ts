/**
 * The engine's Web Worker entry (VS Code for the Web, dist/web/worker.js). Without shared memory the
 * worker cannot see a newer version mid-run: the host's supervisor recycles it instead
 * (engineClient.ts SUPERSEDE_AFTER_MS).
 */
import { serveEngine } from "../engine/server.js";

interface WorkerScope {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: "message", listener: (e: { data: unknown }) => void): void;
}
const scope = globalThis as unknown as WorkerScope;
serveEngine({
  post: (message, transfer) => scope.postMessage(message, transfer ?? []),
  onMessage: (listener) => scope.addEventListener("message", (e) => listener(e.data)),
});
