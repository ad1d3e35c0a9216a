// The web e2e suite: loaded by VS Code's *web-worker* extension host (the browser), not Node. That
// host loads this file as CommonJS with `require("vscode")` only (no mocha, no Node modules), so
// the suite carries its own small runner. scripts/e2e-web.mjs opens the workbench so that the
// extension (and therefore this file, which lives inside it) runs in that host; see test/README.md.
const vscode = require("vscode");

const EXT_ID = "passthrough-debugger.passthrough-debugger";
const tests = [];
const it = (name, fn, skip = false) => tests.push({ name, fn, skip });
/** scripts/e2e-web.mjs says which variant runs: Restricted Mode (npm test) or trusted (E2E_WEB_TRUSTED=1). */
const trustedRun = vscode.workspace.getConfiguration("passthroughE2e").get("trusted") === true;
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
/** Polls until `fn` gives a truthy value (a limit for a stuck run, not a speed budget). */
async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}
const folder = () => vscode.workspace.workspaceFolders[0].uri;
let api;
async function open(name) {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder(), `${name}.passthrough.yaml`));
  await vscode.window.showTextDocument(doc);
  const ext = vscode.extensions.getExtension(EXT_ID);
  api = await until("activation", () => (ext.isActive ? ext.exports : undefined));
  await until("the active scenario", () => api.scenarios.active === doc.uri.toString());
  return { doc, state: await api.whenRun(doc.uri) };
}

it(`runs in the web worker extension host, ${trustedRun ? "trusted" : "in Restricted Mode"}`, async () => {
  // A Node extension host has `process.versions.node`; the browser's web worker has no `process`.
  assert(typeof process === "undefined" || !(process.versions && process.versions.node), "the suite runs in a Node extension host, not the web worker one");
  assert(typeof globalThis.WorkerGlobalScope === "function" && globalThis instanceof globalThis.WorkerGlobalScope, "not inside a Web Worker");
  assert(vscode.env.uiKind === vscode.UIKind.Web, "the workbench is not the web one");
  if (!trustedRun) assert(vscode.workspace.isTrusted === false, "the workspace is trusted: the Restricted Mode check would prove nothing");
  else assert(vscode.workspace.isTrusted === true, "the workspace is not trusted");
});

it("opens an example: the engine runs in a Web Worker, the trees and CodeLens fill", async () => {
  const { doc, state } = await open("dma-after-unmap");
  assert(doc.languageId === "passthrough", `language ${doc.languageId}`);
  assert(state.stale === false && state.steps.length === 6, `state: stale ${state.stale}, ${state.steps.length} steps`);
  assert(api.client.running, "the worker did not start");
  const vms = await api.trees.vms.getChildren(undefined);
  assert(vms.length > 0, "the Virtual Machines view is empty");
  const tables = await api.trees.tables.getChildren(undefined);
  assert(tables.length > 0, "the Mapping Tables view is empty");
  const lenses = await vscode.commands.executeCommand("vscode.executeCodeLensProvider", doc.uri);
  const titles = (lenses || []).map((l) => (l.command ? l.command.title : ""));
  assert(titles.some((t) => /16384 bytes written/.test(t)), `CodeLens: ${titles.join(" | ")}`);
});

it("reports an unexpected DMA fault as a diagnostic", async () => {
  // An example's faults are expected (no diagnostic); without its `expect:` lines the fault is news.
  const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder(), "unmapped-iova.passthrough.yaml")));
  await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(folder(), "web-fault.passthrough.yaml"), new TextEncoder().encode(text.replace(/^\s*expect:.*\n/gm, "")));
  const { doc } = await open("web-fault");
  const diag = await until("a dma-fault diagnostic", () => vscode.languages.getDiagnostics(doc.uri).find((d) => d.code === "dma-fault"), 30000);
  assert(/DMA fault/.test(diag.message), diag.message);
  const faults = await api.trees.faults.getChildren(undefined);
  assert(faults.length > 0, "the Faults view is empty");
});

it("shows the DMA Trace webview and it draws its first rows", async () => {
  const { doc } = await open("write-to-readonly");
  const panel = await vscode.commands.executeCommand("passthrough.showTrace", doc.uri.toString());
  const t = await Promise.race([panel.whenFirstRows, new Promise((ok) => setTimeout(ok, 60000))]);
  assert(t && t.firstRows > t.created, "the webview did not report its first rows");
  panel.panel.dispose();
});

it("restarts the Web Worker engine and rebuilds the open scenario", async () => {
  const { doc } = await open("dma-after-unmap");
  const before = api.client.restarts;
  api.client.restart("web e2e");
  await until("the restart", () => api.client.restarts > before);
  const vms = await until("the rebuilt session", async () => {
    try {
      const v = await api.trees.vms.getChildren(undefined);
      return v.length ? v : undefined;
    } catch {
      return undefined;
    }
  });
  assert(vms.length > 0 && api.scenarios.states.has(doc.uri.toString()), "the scenario was not rebuilt");
});

it("imports evidence through vscode.workspace.fs", async () => {
  await open("dma-after-unmap");
  const log = vscode.Uri.joinPath(folder(), "web-dmesg.log");
  const text = "[  12.345678] DMAR: DRHD: handling fault status reg 2\n[  12.345690] DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0x7c340000 [fault reason 0x05] PTE Write access is not set\n";
  await vscode.workspace.fs.writeFile(log, new TextEncoder().encode(text));
  const doc = await api.evidence.importFile(log);
  assert(doc, "the import returned no document");
  assert(/fault/i.test(doc.getText()), "the decoded document names no fault");
});

// Starting a debug session in Restricted Mode asks for trust (a dialog): trusted variant only.
it("debugs a scenario with the inline adapter: stops on entry with a stack frame on the scenario", async () => {
  await open("dma-after-unmap");
  const started = new Promise((ok) => {
    const sub = vscode.debug.onDidStartDebugSession((s) => {
      sub.dispose();
      ok(s);
    });
  });
  // As F5 does: the configuration provider names the scenario (by URI: this is vscode-remote:).
  assert(await vscode.debug.startDebugging(undefined, { type: "passthrough", request: "launch", name: "web e2e", stopOnEntry: true }), "startDebugging failed");
  const session = await started;
  const frames = await until("a stop on entry", async () => {
    try {
      const r = await session.customRequest("stackTrace", { threadId: 1 });
      return r.stackFrames && r.stackFrames.length ? r.stackFrames : undefined;
    } catch {
      return undefined;
    }
  }, 30000);
  assert(frames[0].line > 0 && frames[0].source && /dma-after-unmap/.test(frames[0].source.path || frames[0].source.name), `frame ${JSON.stringify(frames[0])}`);
  await vscode.debug.stopDebugging(session);
}, !trustedRun);

exports.run = async () => {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const t of tests) {
    if (t.skip) {
      skipped++;
      console.log(`  - ${t.name} (skipped: ${trustedRun ? "" : "Restricted Mode; E2E_WEB_TRUSTED=1 runs it"})`);
      continue;
    }
    try {
      await t.fn();
      passed++;
      console.log(`  ✓ ${t.name}`);
    } catch (e) {
      failed++;
      console.error(`  ✗ ${t.name}: ${e && e.message ? e.message : String(e)}`);
    }
  }
  console.log(`e2e-web: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  if (failed) throw new Error(`${failed} web tests failed`);
};
