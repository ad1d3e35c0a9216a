// Bundles the CLI (and, from the extension issue on, the extension and its worker) with esbuild.
// One script so `npm run build` is the single way artefacts are made, in CI and on a laptop.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const common = {
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

await build({
  ...common,
  entryPoints: ["src/cli/main.ts"],
  outfile: "dist/cli.mjs",
  format: "esm",
  // CommonJS dependencies (yaml) call require() for Node built-ins; give the ESM bundle one.
  banner: { js: '#!/usr/bin/env node\nimport { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);' },
});

// The extension (CommonJS: VS Code's extension host loads `main` with require), its worker, and
// the DMA Trace webview (a browser bundle). All three are minified: VS Code's activation time
// counts loading the bundle, and a third fewer bytes to read and parse is most of what loading
// costs. The source maps stay next to them in dist/ and out of the VSIX (.vscodeignore).
// NOMINIFY=1 keeps names, for a CPU profile.
const minify = !process.env.NOMINIFY;
await Promise.all([
  build({ ...common, alias: {}, platform: "browser", target: "chrome114", entryPoints: ["media/trace/main.ts"], outfile: "dist/webview.js", format: "iife", minify }),
  build({ ...common, entryPoints: ["src/extension/extension.ts"], outfile: "dist/extension.cjs", format: "cjs", external: ["vscode"], minify }),
  build({ ...common, entryPoints: ["src/worker/node.ts"], outfile: "dist/worker.cjs", format: "cjs", minify }),
]);
