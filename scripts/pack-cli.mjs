// The CLI as its own npm package: dist/cli-package/ holds a package.json without dependencies
// (the bundle is self-contained), the bundle (and its chunks, scripts/cli-build.mjs), a README, the LICENSE and the two JSON schemas; then
// `npm pack` there writes dist/passthrough-debugger-cli-VERSION.tgz. The repository root's
// package.json is the extension's manifest (its dependencies are bundled, its `main` is the
// extension), so the CLI is not packed from the root.
//   node scripts/pack-cli.mjs [--out DIR]    (npm run pack:cli)
// Prints the tarball's path.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildCli, root } from "./cli-build.mjs";

const outArg = process.argv.indexOf("--out");
const outDir = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, "dist");
const stage = join(outDir, "cli-package");
rmSync(stage, { recursive: true, force: true });
mkdirSync(join(stage, "schemas"), { recursive: true });

await buildCli(join(stage, "passthrough.mjs"), { sourcemap: false, minify: true, logLevel: "error" });
const main = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const pkg = {
  name: "passthrough-debugger-cli",
  version: main.version,
  description: "Simulate KVM + VFIO + Intel VT-d passthrough bit-exactly, and decode and explain DMAR faults, IOMMU groups and VFIO errors from real logs (the Passthrough Debugger's command line).",
  license: main.license,
  type: "module",
  bin: { passthrough: "passthrough.mjs" },
  files: ["passthrough.mjs", "passthrough-chunks/", "schemas/evidence.schema.json", "schemas/passthrough.schema.json"],
  engines: { node: ">=20" },
  keywords: ["vfio", "iommu", "vt-d", "kvm", "passthrough", "dmar", "cli"],
};
writeFileSync(join(stage, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
copyFileSync(join(root, "scripts", "cli-package", "README.md"), join(stage, "README.md"));
copyFileSync(join(root, "LICENSE"), join(stage, "LICENSE"));
for (const s of ["evidence.schema.json", "passthrough.schema.json"]) copyFileSync(join(root, "schemas", s), join(stage, "schemas", s));

const out = execFileSync("npm", ["pack", "--json", "--pack-destination", outDir], { cwd: stage, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } });
const [info] = JSON.parse(out);
console.log(join(outDir, info.filename));
