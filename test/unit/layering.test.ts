// The layering rules of ARCHITECTURE.md: nothing below extension/ imports `vscode`, nothing
// below engine/ (and engine/ itself) imports Node built-ins, so the same code runs in a worker
// thread, a browser Web Worker, the CLI and the tests.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(__dirname, "..", "..");
const PURE_LAYERS = ["sim", "scenario", "trace", "import", "engine", "protocol"];
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function files(dir: string): string[] {
  let out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

function importsOf(text: string): string[] {
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)/g;
  const out: string[] = [];
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

describe("layering", () => {
  for (const layer of PURE_LAYERS) {
    it(`src/${layer} imports neither vscode nor Node built-ins`, () => {
      const offenders: string[] = [];
      for (const f of files(join(root, "src", layer))) {
        for (const spec of importsOf(readFileSync(f, "utf8"))) {
          if (spec === "vscode" || builtins.has(spec)) offenders.push(`${relative(root, f)} imports ${spec}`);
          if (spec.includes("/extension/") || spec.includes("/cli/")) offenders.push(`${relative(root, f)} imports the upper layer ${spec}`);
        }
      }
      expect(offenders).toEqual([]);
    });
  }

  it("the import scanner sees the kinds of import statement used in the tree", () => {
    const sample = `import { a } from "node:fs";\nexport { b } from "./x.js";\nconst c = await import("vscode");\nimport type {\n  D,\n} from "os";`;
    expect(importsOf(sample)).toEqual(["node:fs", "./x.js", "os", "vscode"].sort((x, y) => sample.indexOf(x) - sample.indexOf(y)));
  });
});
