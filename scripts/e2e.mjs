#!/usr/bin/env node
// Runs the end-to-end suite (test/e2e/suite) inside a real VS Code extension host, offline:
// code-server + Chromium from test/e2e/harness/setup.sh. The extension must be built (npm run build).
// The workspace is a fresh copy of examples/, so tests may edit files without touching the repo.
import { cpSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = resolve(process.env.E2E_PREFIX ?? join(root, ".e2e"));
mkdirSync(prefix, { recursive: true });
const ws = mkdtempSync(join(prefix, "ws-"));
cpSync(join(root, "examples"), ws, { recursive: true });
const t0 = Date.now();
const r = spawnSync(process.execPath, [join(root, "test/e2e/harness/run-ext-tests.mjs"), root, join(root, "test/e2e/suite/index.cjs"), ws], {
  stdio: "inherit",
  env: { ...process.env, E2E_PREFIX: prefix },
});
rmSync(ws, { recursive: true, force: true });
console.log(`e2e: finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(r.status ?? 2);
