// The CLI bundle's esbuild options, shared by scripts/build.mjs (dist/cli.mjs), the CLI package
// (scripts/pack-cli.mjs) and tests that run the built CLI from source (test/unit/cli-holds.test.ts).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Options every bundle shares. */
export const common = {
  bundle: true,
  // yaml's Node build reads process.env.LOG_TOKENS for every token it parses (a C++ getter call
  // each time: a third of the parse time of a 1000-step scenario); its browser build does not,
  // has the same API, and is what a Web Worker needs anyway.
  alias: { yaml: "./node_modules/yaml/browser/index.js" },
  platform: "node",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
  absWorkingDir: root,
};

/** Bundles the `passthrough` executable (self-contained: every dependency inside) to `outfile`. */
export function buildCli(outfile = "dist/cli.mjs", extra = {}) {
  return build({
    ...common,
    entryPoints: ["src/cli/main.ts"],
    outfile,
    format: "esm",
    // CommonJS dependencies (yaml) call require() for Node built-ins; give the ESM bundle one.
    banner: { js: '#!/usr/bin/env node\nimport { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);' },
    ...extra,
  });
}
