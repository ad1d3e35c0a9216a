#!/usr/bin/env node
// Runs the end-to-end suite (test/e2e/suite) inside a real VS Code extension host, offline:
// code-server + Chromium from test/e2e/harness/setup.sh. The extension must be built (npm run build).
// The workspace is a fresh copy of examples/, so tests may edit files without touching the repo.
// Writes test-results/e2e.json ({passed, failed, skipped}) for the closing summary line.
//   node scripts/e2e.mjs [--vsix [FILE]]
// --vsix: the suite runs against the packaged extension as a user gets it (default
// out/NAME-VERSION.vsix, made by npm run package), installed into the test VS Code with
// code-server --install-extension, instead of the development folder: a file the VSIX lacks
// fails the tests that need it. `npm test` runs the suite this way.
import { cpSync, mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { join, resolve, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = resolve(process.env.E2E_PREFIX ?? join(root, ".e2e"));
mkdirSync(prefix, { recursive: true });
mkdirSync(join(root, "test-results"), { recursive: true });
const argv = process.argv.slice(2);
const vsixAt = argv.indexOf("--vsix");
let vsix;
if (vsixAt >= 0) {
  const { name, version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const given = argv[vsixAt + 1];
  vsix = resolve(given && !given.startsWith("-") ? given : join(root, "out", `${name}-${version}.vsix`));
  if (!existsSync(vsix)) {
    console.error(`e2e: ${relative(process.cwd(), vsix)} does not exist: run npm run package first`);
    process.exit(2);
  }
}
const ws = mkdtempSync(join(prefix, "ws-"));
cpSync(join(root, "examples"), ws, { recursive: true });
const t0 = Date.now();
let extensionDir = root;
let installed; // the throw-away folder the VSIX is installed into
if (vsix) {
  const { e2ePaths, isolatedEnv } = await import("../test/e2e/harness/workbench.mjs");
  const paths = e2ePaths(prefix);
  installed = mkdtempSync(join(prefix, "vsix-"));
  const extensionsDir = join(installed, "extensions");
  mkdirSync(extensionsDir, { recursive: true });
  const r = spawnSync(paths.node, [paths.codeServer, "--user-data-dir", join(installed, "user-data"), "--extensions-dir", extensionsDir, "--install-extension", vsix, "--force"], {
    env: { ...process.env, ...isolatedEnv(installed) },
    encoding: "utf8",
  });
  if (r.status !== 0) {
    console.error(`e2e: installing ${vsix} failed (${r.status}):\n${r.stdout}${r.stderr}`);
    rmSync(installed, { recursive: true, force: true });
    rmSync(ws, { recursive: true, force: true });
    process.exit(2);
  }
  console.log(`e2e: against the installed ${relative(root, vsix)}`);
  // VS Code runs extension tests only beside an extension under development: a manifest-only one.
  extensionDir = join(root, "test/e2e/harness/vsix-runner");
  process.env.E2E_EXTENSIONS_DIR = extensionsDir;
}
const child = spawn(process.execPath, [join(root, "test/e2e/harness/run-ext-tests.mjs"), extensionDir, join(root, "test/e2e/suite/index.cjs"), ws], {
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, E2E_PREFIX: prefix },
});
let out = "";
child.stdout.on("data", (b) => {
  out += b;
  process.stdout.write(b);
});
const code = await new Promise((ok) => child.on("exit", (c) => ok(c ?? 2)));
rmSync(ws, { recursive: true, force: true });
if (installed) rmSync(installed, { recursive: true, force: true });
const m = /e2e: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(out);
const result = m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) } : { passed: 0, failed: 1, skipped: 0, harness: `exit ${code}` };
if (vsix) result.vsix = relative(root, vsix);
// Only the default suite counts towards `npm test`'s summary (E2E_FILE selects the perf suite).
if (!process.env.E2E_FILE) writeFileSync(join(root, "test-results/e2e.json"), JSON.stringify(result));
console.log(`e2e: finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(code === 0 && m ? 0 : code || 1);
