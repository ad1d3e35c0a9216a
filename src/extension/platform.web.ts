/**
 * VS Code for the Web: the extension runs in the browser's web-worker extension host, so the
 * engine runs in a nested Web Worker (dist/web/worker.js, a classic script: VS Code's host starts
 * extension workers from their URL through importScripts) and files are read through
 * vscode.workspace.fs only. scripts/build.mjs puts this module in place of platform.ts in the
 * web bundle; no Node API is used here.
 */
import * as vscode from "vscode";
import type { HostPlatform } from "./platformApi.js";
import { browserWorkerHost, webWorkerTransport } from "./webWorkerTransport.js";

export const platform: HostPlatform = {
  kind: "web",
  workerLocation: (ext) => vscode.Uri.joinPath(ext.extensionUri, "dist", "web", "worker.js").toString(),
  spawnWorker: (location) => webWorkerTransport(location, browserWorkerHost(async (l) => vscode.workspace.fs.readFile(vscode.Uri.parse(l)))),
  canStream: () => false,
  streamFile: () => undefined,
};
