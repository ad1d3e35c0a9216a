#!/usr/bin/env node
// `npm run demo`: builds the extension, packages it, installs the VSIX into a real VS Code
// (code-server, installed by scripts/setup.sh), opens examples/ and prints the URL. Ctrl-C stops it.
//   PORT=8080 npm run demo
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
process.env.E2E_PREFIX ??= join(root, ".e2e");
const { e2ePaths, startCodeServer, workbenchUrl } = await import("../test/e2e/harness/workbench.mjs");
const paths = e2ePaths();
let r = spawnSync(process.execPath, [join(root, "scripts/package.mjs")], { stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);
const { version, name } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const extensionsDir = join(paths.root, "demo-extensions");
mkdirSync(extensionsDir, { recursive: true });
r = spawnSync(paths.node, [paths.codeServer, "--extensions-dir", extensionsDir, "--install-extension", join(root, "out", `${name}-${version}.vsix`), "--force"], { stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);
const workspace = join(root, "examples");
const server = await startCodeServer({ paths, workspace, extensionsDir, vscodeOptions: [], port: Number(process.env.PORT ?? 8080) });
console.log(`\nPassthrough Debugger in VS Code: ${workbenchUrl(server.url, { folder: workspace })}\nOpen it in a browser; Ctrl-C stops the server.`);
const stop = () => server.stop().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
server.child.on("exit", (code) => process.exit(code ?? 1));
