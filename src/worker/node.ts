/**
 * The engine's worker_threads entry (desktop VS Code, code-server). All engine code is shared
 * with web.ts; only the transport differs.
 */
import { parentPort } from "node:worker_threads";
import { isAscii } from "node:buffer";
import { EngineServer, serveEngine } from "../engine/server.js";

const port = parentPort;
if (port === null) throw new Error("src/worker/node.ts must run in a worker thread");
serveEngine(
  {
    post: (message, transfer) => port.postMessage(message, transfer ?? []),
    onMessage: (listener) => port.on("message", listener),
  },
  // Imported files are decoded here with Node's Buffer helpers for ASCII, as the CLI decodes them.
  new EngineServer(undefined, { asciiFast: { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") } }),
);
