// Bundles the CLI (and, from the extension issue on, the extension and its worker) with esbuild.
// One script so `npm run build` is the single way artefacts are made, in CI and on a laptop.
import { build } from "esbuild";
import { buildCli, common } from "./cli-build.mjs";

await buildCli();

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
