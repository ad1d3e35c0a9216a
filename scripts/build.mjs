// Bundles the CLI (and, from the extension issue on, the extension and its worker) with esbuild.
// One script so `npm run build` is the single way artefacts are made, in CI and on a laptop.
import { build } from "esbuild";
import { resolve } from "node:path";
import { buildCli, common, root } from "./cli-build.mjs";

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

// VS Code for the Web (package.json `browser`): the same extension for the browser's web-worker
// extension host, and the engine as a Web Worker (a classic script: the host starts extension
// workers through importScripts). No Node API may reach these bundles (test/unit/web-bundle.test.ts):
// the host's Node parts sit behind src/extension/platform.ts, which the web build replaces with
// platform.web.ts; @vscode/debugadapter's Node imports are for its socket/stdio modes and its file
// logger, which the inline adapter never uses, so they get small browser stand-ins.
const WEB_SHIMS = {
  // protocol.js extends EventEmitter (on/emit only, for the adapter's own events).
  events: `class EventEmitter {
    constructor() { this._l = new Map(); }
    on(e, f) { (this._l.get(e) || this._l.set(e, []).get(e)).push(f); return this; }
    addListener(e, f) { return this.on(e, f); }
    once(e, f) { const g = (...a) => { this.off(e, g); f(...a); }; return this.on(e, g); }
    off(e, f) { const l = this._l.get(e); if (l) { const i = l.indexOf(f); if (i >= 0) l.splice(i, 1); } return this; }
    removeListener(e, f) { return this.off(e, f); }
    removeAllListeners(e) { if (e === undefined) this._l.clear(); else this._l.delete(e); return this; }
    listeners(e) { return [...(this._l.get(e) || [])]; }
    emit(e, ...a) { const l = this._l.get(e); if (!l || !l.length) { if (e === "error") throw a[0]; return false; } for (const f of [...l]) f.apply(this, a); return true; }
  }
  module.exports = { EventEmitter, default: EventEmitter };`,
  url: "module.exports = { URL: globalThis.URL };",
  // Only reached by DebugSession.run (a socket server) and the file logger: never inline.
  net: "module.exports = {};",
  fs: "module.exports = {};",
  path: "module.exports = { isAbsolute: (p) => p.startsWith('/'), dirname: (p) => p.replace(/\\/[^/]*$/, '') };",
};
const webPlatform = {
  name: "web-platform",
  setup(b) {
    b.onResolve({ filter: /^\.\/platform\.js$/ }, (args) => (args.importer.includes(`${"src"}/extension/`) || args.importer.includes("src\\extension\\") ? { path: resolve(root, "src/extension/platform.web.ts") } : undefined));
    b.onResolve({ filter: new RegExp(`^(node:)?(${Object.keys(WEB_SHIMS).join("|")})$`) }, (args) => ({ path: args.path.replace(/^node:/, ""), namespace: "web-shim" }));
    b.onLoad({ filter: /.*/, namespace: "web-shim" }, (args) => ({ contents: WEB_SHIMS[args.path], loader: "js" }));
  },
};
// The extension's file ends in .cjs: package.json says "type": "module", and the web worker host
// loads anything else from such a package as ESM, which it does not support.
const web = { ...common, platform: "browser", target: "es2022", minify, mainFields: ["browser", "module", "main"] };
await Promise.all([
  build({ ...web, entryPoints: ["src/extension/extension.ts"], outfile: "dist/web/extension.cjs", format: "cjs", external: ["vscode"], plugins: [webPlatform] }),
  build({ ...web, entryPoints: ["src/worker/web.ts"], outfile: "dist/web/worker.js", format: "iife" }),
]);
