#!/usr/bin/env node
// `npm run test:desktop`: the same end-to-end suite on a desktop VS Code through
// @vscode/test-electron (downloads VS Code, so it needs the network; offline, `npm test` runs the
// suite in code-server instead). Needs a display: run under xvfb-run on a headless machine.
import { runTests } from "@vscode/test-electron";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ws = mkdtempSync(join(tmpdir(), "passthrough-ws-"));
cpSync(join(root, "examples"), ws, { recursive: true });
try {
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath: join(root, "test/e2e/suite/index.cjs"),
    launchArgs: [ws, "--disable-extensions", "--disable-workspace-trust"],
    version: process.env.VSCODE_VERSION ?? "stable",
  });
} catch (e) {
  console.error(`test:desktop: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  rmSync(ws, { recursive: true, force: true });
}
