/**
 * The engine's worker_threads entry (desktop VS Code, code-server): a loader, not a second engine.
 * The engine is one bundle, dist/web/worker.js, which VS Code for the Web runs as a Web Worker;
 * here it runs in the thread with a Web Worker's postMessage/addEventListener over the thread's
 * port and Node's Buffer helpers for the ASCII fast path of imports (as the CLI decodes them).
 * Two engine bundles were two thirds of the VSIX (issue 18: under 1 MB).
 */
import { isAscii } from "node:buffer";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runInThisContext } from "node:vm";
import { parentPort } from "node:worker_threads";
import type { WorkerScope } from "./web.js";

const port = parentPort;
if (port === null) throw new Error("dist/worker.cjs must run in a worker thread");
const scope = globalThis as unknown as WorkerScope;
scope.postMessage = (message, transfer) => port.postMessage(message, transfer);
scope.addEventListener = (_type, listener) => void port.on("message", (data: unknown) => listener({ data }));
scope.passthroughAsciiFast = { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") };
const engine = join(__dirname, "web", "worker.js");
runInThisContext(readFileSync(engine, "utf8"), { filename: engine });
