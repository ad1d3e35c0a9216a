/**
 * The engine's Web Worker entry (VS Code for the Web). Not bundled yet — the extension declares no
 * `browser` entry — but it builds from the same engine code, which is what keeps that door open.
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
