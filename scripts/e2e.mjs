#!/usr/bin/env node
// Runs the end-to-end suite (test/e2e/suite) inside a real VS Code extension host, offline:
// code-server + Chromium from test/e2e/harness/setup.sh. The extension must be built (npm run build).
// The workspace is a fresh copy of examples/, so tests may edit files without touching the repo.
// Writes test-results/e2e.json ({passed, failed, skipped}) for the closing summary line.
import { cpSync, mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = resolve(process.env.E2E_PREFIX ?? join(root, ".e2e"));
mkdirSync(prefix, { recursive: true });
mkdirSync(join(root, "test-results"), { recursive: true });
const ws = mkdtempSync(join(prefix, "ws-"));
cpSync(join(root, "examples"), ws, { recursive: true });
const t0 = Date.now();
const child = spawn(process.execPath, [join(root, "test/e2e/harness/run-ext-tests.mjs"), root, join(root, "test/e2e/suite/index.cjs"), ws], {
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
const m = /e2e: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(out);
const result = m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) } : { passed: 0, failed: 1, skipped: 0, harness: `exit ${code}` };
// Only the default suite counts towards `npm test`'s summary (E2E_FILE selects the perf suite).
if (!process.env.E2E_FILE) writeFileSync(join(root, "test-results/e2e.json"), JSON.stringify(result));
console.log(`e2e: finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(code === 0 && m ? 0 : code || 1);
