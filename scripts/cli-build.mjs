// The CLI bundle's esbuild options, shared by scripts/build.mjs (dist/cli.mjs), the CLI package
// (scripts/pack-cli.mjs) and tests that run the built CLI from source (test/unit/cli-holds.test.ts).
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { basename, dirname, resolve } from "node:path";

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

/**
 * Bundles the `passthrough` executable (self-contained: every dependency inside) to `outfile`, with
 * the code only some commands load (cli.ts's dynamic imports: the evidence importers, the
 * benchmarks) in chunks beside it, in the folder `<name>-chunks/`: `simulate` does not compile them.
 * Minified and ASCII-only: V8 compiles a 0.7 MB one-byte source faster than a 1.2 MB source that
 * one non-ASCII comment character makes a two-byte string (docs/performance-cli.md).
 */
export function buildCli(outfile = "dist/cli.mjs", extra = {}) {
  const name = basename(outfile).replace(/\.mjs$/, "");
  // Chunk names carry a content hash: the last build's chunks would stay beside the new ones.
  rmSync(resolve(root, dirname(outfile), `${name}-chunks`), { recursive: true, force: true });
  return build({
    ...common,
    entryPoints: { [name]: "src/cli/main.ts" },
    outdir: dirname(resolve(root, outfile)),
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: `${name}-chunks/[name]-[hash]`,
    minify: true,
    charset: "ascii",
    format: "esm",
    // CommonJS dependencies (yaml) call require() for Node built-ins; give the ESM bundle one.
    banner: { js: '#!/usr/bin/env node\nimport { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);' },
    ...extra,
  });
}
