// Serves the built webview (dist/webview.js, media/trace.css) on loopback with the same CSP the
// extension gives it, a stand-in host (fake-host.js) and a per-page config; launches Debian's
// Chromium through playwright-core. Used by the webview tests and `npm run bench:webview`.
import { createServer } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export async function serve() {
  const nonce = "dGVzdG5vbmNldGVzdG5vbmNl";
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const send = (type, body) => {
      res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (url.pathname === "/") {
      const csp = `default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; script-src 'nonce-${nonce}';`;
      // The stand-in host is inline, as VS Code injects its own host script into the webview's
      // document: loaded as two more scripts, it cost the page two sequential requests before
      // the webview's own script.
      const config = JSON.stringify(JSON.parse(url.searchParams.get("config") ?? "{}")).replace(/</g, "\\u003c");
      const traceSource = readFileSync(join(root, "test/webview/fake-trace.js"), "utf8");
      const host = traceSource + "\n" + readFileSync(join(root, "test/webview/fake-host.js"), "utf8");
      // The messages the extension writes into the document (tracePanel.ts, InitialMessages): the
      // answers to the webview's first requests, computed here as the extension has its worker
      // compute them before it writes the document, then the radix and run the stand-in also posts
      // after "ready". config.prefetch false: no answers (the webview asks for everything).
      const cfg = JSON.parse(url.searchParams.get("config") ?? "{}");
      // (the trace's own config: its defaults and huge names expanded)
      const tcfg = new Function(`${traceSource}\nreturn fakeTrace;`)()(cfg).cfg;
      const run = { type: "run", uri: cfg.uri || "file:///w/perf.passthrough.yaml", file: cfg.file || "perf.passthrough.yaml", runVersion: 1, stale: false, step: 0, steps: tcfg.steps || [] };
      const initial = [...(cfg.prefetch === false ? [] : prefetch(traceSource, cfg)), { type: "radix", radix: "hex" }, run];
      const attr = JSON.stringify(initial, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v)).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      // config.l10n: the bundle tracePanel.ts writes into the document (vscode.l10n.bundle).
      const l10n = JSON.stringify(cfg.l10n ?? {}).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      return send("text/html", `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><link href="/trace.css" rel="stylesheet"></head><body data-l10n="${l10n}" data-initial="${attr}"><div id="app"></div><script nonce="${nonce}">window.__config = ${config};\n${host}</script><script nonce="${nonce}" src="/webview.js"></script></body></html>`);
    }
    // The benchmark's baseline: the same stylesheet and a one-line script, no webview: what the
    // browser alone needs before a webview's script could run.
    if (url.pathname === "/baseline") return send("text/html", `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><link href="/trace.css" rel="stylesheet"></head><body><div id="app"></div><script src="/baseline.js"></script></body></html>`);
    if (url.pathname === "/baseline.js") return send("text/javascript", `document.getElementById("app").textContent = "baseline";`);
    if (url.pathname === "/webview.js") return send("text/javascript", readFileSync(join(root, "dist/webview.js")));
    if (url.pathname === "/trace.css") return send("text/css", readFileSync(join(root, "media/trace.css")));
    res.writeHead(404);
    res.end();
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address();
  return { url: (config = {}) => `http://127.0.0.1:${port}/?config=${encodeURIComponent(JSON.stringify(config))}`, baseline: `http://127.0.0.1:${port}/baseline`, close: () => new Promise((ok) => server.close(ok)) };
}

/**
 * The answers tracePanel.ts prefetches for a new panel (counts, cursor row, its page) for the
 * filter the webview starts with (its saved state, or none), from the stand-in's trace.
 */
function prefetch(traceSource, cfg) {
  const { handlers } = new Function(`${traceSource}\nreturn fakeTrace;`)()(cfg);
  // (config.prefetchState: prefetch for another state than the webview starts with, as a test)
  const st = "prefetchState" in cfg ? cfg.prefetchState : cfg.initialState;
  const filter = st?.filter ?? {};
  const compare = st?.compare ?? false;
  const answer = (method, params) => ({ type: "prefetched", method, params, result: handlers[method](params) });
  const located = answer("traceLocate", { filter, step: 0 });
  const page = Math.floor(located.result.row / 256);
  return [answer("traceInfo", { filter, compare }), located, answer("tracePage", { filter, start: page * 256, count: 256, compare })];
}

export async function chromium() {
  const require = createRequire(join(root, "package.json"));
  const { chromium } = require("playwright-core");
  const executablePath = process.env.E2E_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: run bash scripts/setup.sh`);
  return chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"] });
}
