// ESLint (flat config) with typescript-eslint's type-aware rules (issue 18, "Lint"): floating and
// misused promises, the no-unsafe-* family (an `any` that leaks from JSON.parse, a message or a
// catch), await of a non-thenable, and the layering of ARCHITECTURE.md. `npm run lint` runs it
// with --max-warnings 0; `npm test` runs that right after the typecheck.
//
// The TypeScript of src/, media/ and test/ is linted with type information: the project service
// picks for each file the nearest tsconfig.json that includes it (tsconfig.json for src/, test/,
// vitest.config.ts; media/tsconfig.json, with the DOM, for the webview; tsconfig.pure.json only
// narrows the types of a subset and stays the compiler's job). The JavaScript of scripts/ and the
// test harnesses is untyped, so there only the rules that need no types run.
import { builtinModules } from "node:module";
import tseslint from "typescript-eslint";

// The layering (ARCHITECTURE.md; test/unit/layering.test.ts checks the same and more: dynamic
// import(), require(), the vocabulary modules' own imports). Per layer: the layers it may import,
// and whether Node built-ins are allowed. `vscode` is allowed in none of them.
const LAYERS = {
  protocol: { may: [] },
  trace: { may: ["protocol"] },
  scenario: { may: ["protocol"] },
  sim: { may: ["scenario", "trace", "protocol"] },
  import: { may: ["sim", "scenario", "trace", "protocol"] },
  engine: { may: ["sim", "scenario", "trace", "import", "protocol"] },
  debug: { may: ["engine", "scenario", "protocol"] },
  worker: { may: ["engine", "protocol"], node: true },
};
const ALL_LAYERS = [...Object.keys(LAYERS), "extension", "cli"];
// The hardware vocabulary every layer may import (leaves that import nothing).
const VOCABULARY = ["sim/bdf.js", "sim/vtd/reasons.js"];
const NODE_BUILTINS = [...new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))];
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** no-restricted-imports for the files of `layer` that sit `depth` directories below src/<layer>/. */
function layerRule(layer, depth, node) {
  const forbidden = ALL_LAYERS.filter((l) => l !== layer && !LAYERS[layer].may.includes(l));
  // A relative path that climbs exactly out of src/<layer>/ into a layer it may not use; the
  // vocabulary modules are allowed from anywhere.
  const up = "\\.\\./".repeat(depth + 1);
  const alternatives = forbidden.map((l) => {
    const allowed = VOCABULARY.filter((v) => v.startsWith(`${l}/`)).map((v) => `(?!${esc(v.slice(l.length + 1))}$)`);
    return `^${up}${esc(l)}/${allowed.join("")}`;
  });
  const message = `src/${layer}/ may import ${LAYERS[layer].may.join(", ") || "nothing outside itself"} (ARCHITECTURE.md, layering).`;
  return [
    "error",
    {
      paths: [
        { name: "vscode", message: `src/${layer}/ runs outside the extension host (worker, CLI, tests): no vscode (ARCHITECTURE.md, layering).` },
        ...(node ? [] : NODE_BUILTINS.map((name) => ({ name, message: `src/${layer}/ runs in a browser Web Worker too: no Node built-ins (ARCHITECTURE.md, layering).` }))),
      ],
      patterns: alternatives.length ? [{ regex: alternatives.join("|"), message }] : [],
    },
  ];
}

/** The layering as config objects, one per layer and directory depth (exported for test/unit/layering.test.ts). */
export function layering() {
  const out = [];
  for (const [layer, rule] of Object.entries(LAYERS)) {
    for (let depth = 0; depth < 4; depth++) {
      out.push({
        name: `layering/${layer}/${depth}`,
        files: [`src/${layer}/${"*/".repeat(depth)}*.ts`],
        // worker/web.ts runs in a browser Web Worker: no Node built-ins there.
        rules: { "no-restricted-imports": layerRule(layer, depth, rule.node === true) },
      });
    }
  }
  out.push({ name: "layering/worker/web", files: ["src/worker/web.ts"], rules: { "no-restricted-imports": layerRule("worker", 0, false) } });
  return out;
}

export default tseslint.config(
  {
    ignores: ["dist/**", "out/**", "node_modules/**", "test-results/**", ".e2e/**", ".vscode-test/**", "**/*.d.ts"],
  },
  {
    files: ["src/**/*.ts", "media/**/*.ts", "test/**/*.ts", "vitest.config.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Off: an async function without await is how this code base implements a Promise-returning
      // interface (the FileSystem/UI seams of examples.ts, tracePanel.ts, evidence.ts and their
      // fakes in the tests): a throw inside becomes a rejection, which a Promise.resolve() wrapper
      // would turn into a synchronous throw at the caller.
      "@typescript-eslint/require-await": "off",
      // VS Code's API returns Thenable, not Promise (showErrorMessage, editor.edit, workspace.fs, ...):
      // a dropped one is the floating promise an extension most often has.
      "@typescript-eslint/no-floating-promises": ["error", { checkThenables: true }],
    },
  },
  {
    files: ["scripts/**/*.mjs", "test/**/*.mjs", "test/**/*.cjs", "test/**/*.js", "eslint.config.mjs"],
    extends: [tseslint.configs.recommended],
  },
  {
    // The extension-host test suite is CommonJS (VS Code's test runner require()s it).
    files: ["test/**/*.cjs"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["src/**/*.ts", "media/**/*.ts", "test/**/*.ts", "vitest.config.ts", "scripts/**/*.mjs", "test/**/*.mjs", "test/**/*.cjs", "test/**/*.js", "eslint.config.mjs"],
    rules: {
      // `const { radix: _old, ...rest } = o` is how the code base drops a key; `_x` marks a name
      // that is kept for its position or its documentation.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  ...layering(),
);
