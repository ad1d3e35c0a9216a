#!/usr/bin/env node
// The web e2e suite (test/e2e/web/index.cjs): the extension in VS Code for the Web's *web-worker*
// extension host, in an untrusted workspace (Restricted Mode), offline: code-server + Chromium from
// test/e2e/harness/setup.sh. Needs `npm run build` (dist/web/). How the workbench is driven into
// the web worker host is in test/README.md. Writes test-results/e2e-web.json ({passed, failed, skipped}).
import { cpSync, mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { format } from "node:util";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { e2ePaths, startCodeServer, launchChromium, workbenchUrl } from "../test/e2e/harness/workbench.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = resolve(process.env.E2E_PREFIX ?? join(root, ".e2e"));
const verbose = !!process.env.E2E_VERBOSE;
// npm test runs the Restricted Mode variant; E2E_WEB_TRUSTED=1 opens the folder trusted, which adds
// the debugger test (starting a debug session in Restricted Mode asks for trust in a dialog).
const trusted = !!process.env.E2E_WEB_TRUSTED;
// A guard against a hung harness, not a speed budget.
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS ?? 300_000);
mkdirSync(join(root, "test-results"), { recursive: true });
const EXT_ID = JSON.parse((await import("node:fs")).readFileSync(join(root, "package.json"), "utf8"));
const id = `${EXT_ID.publisher}.${EXT_ID.name}`;

const t0 = Date.now();
const ws = mkdtempSync(join(prefix, "ws-web-"));
cpSync(join(root, "examples"), ws, { recursive: true });
let server, browser, code = 2, out = "";
const print = (type, line) => {
  out += line + "\n";
  (type === "error" ? console.error : console.log)(line);
};
try {
  const paths = e2ePaths(prefix);
  server = await startCodeServer({
    paths,
    workspace: ws,
    workspaceTrust: !trusted,
    settings: {
      // Run the extension in the browser's web worker extension host although code-server also has
      // a Node one: its only extension kind is "web" (the default for an extension with both
      // `main` and `browser` is ["workspace", "web"], which picks the Node host).
      "remote.extensionKind": { [id]: ["web"] },
      "extensions.webWorker": true,
      // Restricted Mode: trust on, the folder not trusted, and no startup dialog asking.
      "security.workspace.trust.enabled": true,
      "security.workspace.trust.startupPrompt": "never",
      "security.workspace.trust.banner": "never",
      "passthroughE2e.trusted": trusted,
    },
    log: verbose ? console.error : () => {},
  });
  ({ browser } = await launchChromium(paths));
  const page = (await browser.contexts())[0]?.pages()[0] ?? (await browser.newPage());
  let exit;
  const done = new Promise((ok) => (exit = ok));
  await page.exposeFunction("codeAutomationExit", (c) => exit(Number(c)));
  await page.exposeFunction("codeAutomationLog", (type, args) => {
    const line = format(...(Array.isArray(args) ? args : [args]));
    if (verbose || /^\s+[✓✗-] |^e2e-web:/.test(line)) print(type, line);
  });
  // The web worker host's console reaches the page's console (not codeAutomationLog) in some builds.
  page.on("console", (m) => {
    const line = m.text();
    if (verbose) console.error(`[workbench] ${line}`);
    else if (/^\s+[✓✗-] |^e2e-web:/.test(line) && !out.includes(line)) print(m.type(), line);
  });
  await page.goto(workbenchUrl(server.url, { folder: ws, extensionDevelopmentPath: root, extensionTestsPath: join(root, "test/e2e/web/index.cjs") }), { timeout: 120_000 });
  code = await Promise.race([done, new Promise((ok) => setTimeout(() => (console.error(`web tests did not finish in ${timeoutMs} ms`), ok(2)), timeoutMs))]);
} catch (e) {
  console.error(`e2e-web harness: ${e.message}`);
} finally {
  await browser?.close().catch(() => {});
  await server?.stop();
  rmSync(ws, { recursive: true, force: true });
}
const m = /e2e-web: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(out);
const result = m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) } : { passed: 0, failed: 1, skipped: 0, harness: `exit ${code}` };
if (!trusted) writeFileSync(join(root, "test-results/e2e-web.json"), JSON.stringify(result));
console.log(`e2e-web: finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(code === 0 && m ? 0 : code || 1);
