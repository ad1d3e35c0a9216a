// The CLI as an npm package (issue 18): `npm run pack:cli` builds dist/cli-package/ and packs it;
// the tarball installs into an empty folder offline (it has no dependencies: the bundle is
// self-contained) and its `passthrough` runs simulate, decode --json and explain from
// node_modules/.bin, as a user or a CI job would after `npm install`.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(__dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "passthrough-cli-package-"));
const project = join(tmp, "project");
let tarball = "";
const bin = join(project, "node_modules", ".bin", "passthrough");
const example = join(root, "examples", "write-to-readonly.passthrough.yaml");
const log = join(root, "test", "fixtures", "evidence", "real-world.txt");

beforeAll(() => {
  tarball = execFileSync(process.execPath, [join(root, "scripts", "pack-cli.mjs"), "--out", tmp], { encoding: "utf8" }).trim();
  execFileSync("mkdir", ["-p", project]);
  // No registry: --offline with an empty cache fails on any dependency it would have to fetch.
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--cache", join(tmp, "npm-cache"), tarball], { cwd: project, encoding: "utf8", env: { ...process.env, npm_config_registry: "http://127.0.0.1:9/" } });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the CLI package", () => {
  it("holds only the bundle (and its chunks), its manifest, README, LICENSE and the two schemas; no dependencies", () => {
    const all = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort();
    // The code only some commands load (cli.ts's dynamic imports), minified, without source maps.
    const chunks = all.filter((f) => f.startsWith("package/passthrough-chunks/"));
    expect(chunks.length).toBeGreaterThan(0);
    for (const f of chunks) expect(f).toMatch(/^package\/passthrough-chunks\/[\w-]+\.mjs$/);
    const files = all.filter((f) => !chunks.includes(f));
    expect(files).toEqual(["package/LICENSE", "package/README.md", "package/package.json", "package/passthrough.mjs", "package/schemas/evidence.schema.json", "package/schemas/passthrough.schema.json"]);
    const pkg = JSON.parse(readFileSync(join(project, "node_modules", "passthrough-debugger-cli", "package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg.bin).toEqual({ passthrough: "passthrough.mjs" });
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.version).toBe((JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version);
  });

  it("passthrough simulate runs an example from node_modules/.bin (exit 0, expectations held)", () => {
    const r = spawnSync(bin, ["simulate", "--quiet", example], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/expectations: \d+ passed, 0 failed/);
  });

  it("passthrough decode --json prints JSON records; explain explains the faults", () => {
    const d = spawnSync(bin, ["decode", "--json", log], { encoding: "utf8" });
    expect(d.status).toBe(0);
    const j = JSON.parse(d.stdout) as { file: string; records: { type: string }[] };
    expect(j.file).toBe(log);
    expect(j.records.length).toBeGreaterThan(0);
    const e = spawnSync(bin, ["explain", log], { encoding: "utf8" });
    expect(e.status).toBe(0);
    expect(e.stdout).toMatch(/Likely causes, most likely first:/);
    const bad = spawnSync(bin, ["bench", "0"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^passthrough: error invalid-argument: bench: N must be/);
  });
});
