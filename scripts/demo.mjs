#!/usr/bin/env node
// `npm run demo`: builds the extension, packages it, installs the VSIX into a real VS Code
// (code-server, installed by scripts/setup.sh), opens examples/ and prints the URL. Ctrl-C stops it.
//   PORT=8080 npm run demo
// Everything it writes stays in the project: the VSIX in out/, and code-server's config, profile,
// extensions and caches in one .e2e/run-* folder, removed when the demo ends (Ctrl-C, SIGTERM,
// SIGHUP, or code-server exiting). Nothing goes to ~/.config, ~/.local or ~/.cache.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join, resolve, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
process.env.E2E_PREFIX ??= join(root, ".e2e");
const { e2ePaths, startCodeServer, workbenchUrl, isolatedEnv } = await import("../test/e2e/harness/workbench.mjs");
const paths = e2ePaths();

// This run's folder: the VSIX install's profile and the extensions dir live here.
const run = mkdtempSync(join(paths.root, "run-demo-"));
const env = isolatedEnv(run);
let server;
let serverStarting;
let child;
let stopping = false;

async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    child?.kill("SIGTERM");
    // A signal while code-server starts: wait for it, then stop it too (it runs in its own group).
    if (!server && serverStarting) server = await serverStarting.catch(() => undefined);
    await server?.stop();
  } finally {
    rmSync(run, { recursive: true, force: true });
    process.exit(code);
  }
}
process.on("SIGINT", () => void stop(130));
process.on("SIGTERM", () => void stop(143));
process.on("SIGHUP", () => void stop(129));

/** Runs a step of the demo; a signal meanwhile ends it and the demo (no half-installed leftovers). */
function step(cmd, args, opts = {}) {
  return new Promise((ok) => {
    child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"], ...opts });
    child.on("exit", (code, sig) => {
      child = undefined;
      ok(code ?? (sig ? 1 : 0));
    });
  });
}

let code = await step(process.execPath, [join(root, "scripts/package.mjs")], { env: { ...process.env, ...env } });
if (code !== 0) await stop(code);
const { version, name } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const extensionsDir = join(run, "extensions");
const userDataDir = join(run, "user-data");
mkdirSync(extensionsDir, { recursive: true });
code = await step(paths.node, [paths.codeServer, "--config", join(run, "config.yaml"), "--user-data-dir", userDataDir, "--extensions-dir", extensionsDir, "--install-extension", join(root, "out", `${name}-${version}.vsix`), "--force"], { env: { ...process.env, ...env } });
if (code !== 0) await stop(code);
if (stopping) await new Promise(() => {}); // a signal arrived during the install: stop() exits
const workspace = join(root, "examples");
try {
  serverStarting = startCodeServer({ paths, workspace, extensionsDir, vscodeOptions: [], port: Number(process.env.PORT ?? 8080) });
  server = await serverStarting;
} catch (e) {
  if (!stopping) console.error(`demo: ${e.message}${/exited early/.test(e.message) ? ` (is port ${process.env.PORT ?? 8080} in use? PORT=8081 npm run demo)` : ""}`);
  await stop(1);
}
if (stopping) await new Promise(() => {}); // stop() is under way and exits
console.log(`\nPassthrough Debugger in VS Code: ${workbenchUrl(server.url, { folder: workspace })}`);
console.log(`Open it in a browser; Ctrl-C stops the server and removes ${relative(root, run) || run} and ${relative(root, server.state) || server.state}.`);
server.child.on("exit", (c) => {
  if (!stopping) {
    console.error(`demo: code-server exited (${c})`);
    void stop(c ?? 1);
  }
});
