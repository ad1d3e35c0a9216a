// The layering rules of ARCHITECTURE.md: nothing below extension/ imports `vscode`, nothing
// below engine/ (and engine/ itself) imports Node built-ins, so the same code runs in a worker
// thread, a browser Web Worker, the CLI and the tests; each layer imports only the layers below
// it (no cycles between layers: scenario/ does not import sim/, protocol/ imports nothing).
// tsconfig.pure.json enforces the "no Node, no DOM" half for the pure layers in the compiler;
// this test covers import statements of every kind (static, type-only, re-exports, side-effect
// imports, dynamic import(), require()) and the layers the compiler config does not (debug/,
// worker/).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { Linter } from "eslint";
import { describe, expect, it } from "vitest";
// @ts-expect-error: the ESLint config is a plain ES module without types
import { layering } from "../../eslint.config.mjs";

const root = join(__dirname, "..", "..");
const src = join(root, "src");
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Per layer: the layers it may import, and whether Node built-ins are allowed (vscode never is). */
const LAYERS: Record<string, { may: string[]; node?: boolean }> = {
  protocol: { may: [] },
  trace: { may: ["protocol"] },
  scenario: { may: ["protocol"] },
  sim: { may: ["scenario", "trace", "protocol"] },
  import: { may: ["sim", "scenario", "trace", "protocol"] },
  engine: { may: ["sim", "scenario", "trace", "import", "protocol"] },
  // The inline debug adapter: a DAP shell testable in-process, talking to the engine's protocol.
  debug: { may: ["engine", "scenario", "protocol"] },
  // The worker entries: transport only. worker_threads is Node's (node.ts); web.ts is checked below.
  worker: { may: ["engine", "protocol"], node: true },
};
/**
 * The hardware vocabulary every layer speaks: BDFs and VT-d fault reasons, each defined once
 * (issue 15: one vocabulary). Leaves that import nothing, so importing them makes no cycle; the
 * test below holds them to that.
 */
const VOCABULARY = ["sim/bdf.ts", "sim/vtd/reasons.ts"];
/** Files of a Node-allowed layer that must run in a browser Web Worker too. */
const NO_NODE_FILES = ["worker/web.ts"];

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
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)/g;
  const out: string[] = [];
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  return out;
}

/** The layer (first directory under src/) a relative import of `file` lands in. */
function layerOf(file: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  return relative(src, resolve(dirname(file), spec)).split(sep)[0];
}

/** Every rule broken by the files of one layer. */
function offenders(layer: string): string[] {
  const rule = LAYERS[layer]!;
  const out: string[] = [];
  for (const f of files(join(src, layer))) {
    const name = relative(src, f).split(sep).join("/");
    const node = rule.node === true && !NO_NODE_FILES.includes(name);
    for (const spec of importsOf(readFileSync(f, "utf8"))) {
      if (spec === "vscode") out.push(`src/${name} imports vscode`);
      if (builtins.has(spec) && !node) out.push(`src/${name} imports the Node built-in ${spec}`);
      const to = layerOf(f, spec);
      const target = spec.startsWith(".") ? relative(src, resolve(dirname(f), spec)).split(sep).join("/").replace(/\.js$/, ".ts") : "";
      if (VOCABULARY.includes(target)) continue;
      if (to !== undefined && to !== layer && !rule.may.includes(to)) out.push(`src/${name} imports ${spec} (${layer}/ may import ${rule.may.join(", ") || "nothing outside itself"})`);
    }
  }
  return out;
}

describe("layering", () => {
  it("the vocabulary modules import nothing (so every layer may use them without a cycle)", () => {
    for (const v of VOCABULARY) expect(importsOf(readFileSync(join(src, v), "utf8")), v).toEqual([]);
  });

  for (const layer of Object.keys(LAYERS)) {
    it(`src/${layer} imports no vscode${LAYERS[layer]!.node ? "" : ", no Node built-ins"} and only ${LAYERS[layer]!.may.join(", ") || "itself"}`, () => {
      expect(offenders(layer)).toEqual([]);
    });
  }

  it("every directory under src/ is either a checked layer or an upper one", () => {
    const dirs = readdirSync(src).filter((d) => statSync(join(src, d)).isDirectory());
    expect(dirs.filter((d) => !(d in LAYERS) && d !== "extension" && d !== "cli")).toEqual([]);
  });

  it("the import scanner sees the kinds of import statement used in the tree", () => {
    const sample = `import { a } from "node:fs";\nexport { b } from "./x.js";\nconst c = await import("vscode");\nimport type {\n  D,\n} from "os";\nimport "./side-effect.js";\nexport * from "../all.js";\nconst r = require("path");`;
    expect(importsOf(sample).sort()).toEqual(["node:fs", "./x.js", "vscode", "os", "./side-effect.js", "../all.js", "path"].sort());
  });

  it("a rule break is reported: each kind of import, into a layer above or beside", () => {
    const f = join(src, "scenario", "probe.ts");
    expect(layerOf(f, "../sim/pci.js")).toBe("sim");
    expect(layerOf(f, "./types.js")).toBe("scenario");
    expect(layerOf(join(src, "sim", "vtd", "unit.ts"), "../../scenario/types.js")).toBe("scenario");
    expect(layerOf(f, "yaml")).toBeUndefined();
  });
});

// `npm run lint` enforces the same rules as you type (no-restricted-imports in eslint.config.mjs,
// per layer and directory depth); this holds the two to one table, LAYERS above.
describe("the lint's layering rule agrees with LAYERS", () => {
  const linter = new Linter({ cwd: root });
  const config: Linter.Config[] = [{ files: ["**/*.ts"] }, ...(layering as () => Linter.Config[])()];
  const flagged = (file: string, spec: string) =>
    linter.verify(`import x from "${spec}";\nexport default x;\n`, config, { filename: join(root, file) }).some((m) => m.ruleId === "no-restricted-imports");
  const all = [...Object.keys(LAYERS), "extension", "cli"];

  for (const layer of Object.keys(LAYERS)) {
    it(`src/${layer}: the lint flags exactly the imports this test forbids, at every depth`, () => {
      const rule = LAYERS[layer]!;
      for (const [dir, up] of [[layer, "../"], [`${layer}/sub`, "../../"], [`${layer}/a/b`, "../../../"]] as const) {
        const file = `src/${dir}/probe.ts`;
        for (const other of all) {
          const spec = `${up}${other}/x.js`;
          expect(flagged(file, spec), `${file} imports ${spec}`).toBe(other !== layer && !rule.may.includes(other));
        }
        for (const v of VOCABULARY) expect(flagged(file, `${up}${v.replace(/\.ts$/, ".js")}`), `${file} imports the vocabulary ${v}`).toBe(false);
        expect(flagged(file, "./x.js"), file).toBe(false);
        expect(flagged(file, "yaml"), file).toBe(false);
        expect(flagged(file, "vscode"), file).toBe(true);
        for (const b of ["node:fs", "fs", "worker_threads"]) expect(flagged(file, b), `${file} imports ${b}`).toBe(rule.node !== true);
      }
    });
  }

  it("src/worker/web.ts runs in a browser Web Worker: the lint flags Node built-ins there", () => {
    for (const f of NO_NODE_FILES) for (const b of ["node:worker_threads", "fs"]) expect(flagged(`src/${f}`, b), `src/${f} imports ${b}`).toBe(true);
  });
});
