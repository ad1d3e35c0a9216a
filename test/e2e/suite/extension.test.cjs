// End-to-end tests in a real VS Code extension host: the extension as a user meets it.
const assert = require("assert");
const vscode = require("vscode");

const EXT_ID = "passthrough-debugger.passthrough-debugger";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits for a condition, not for a time: the limit only turns a stuck test into a clear message
// (well inside mocha's 60 s, generous for a loaded machine).
async function until(what, fn, timeoutMs = 40000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function exampleUri(name) {
  const folder = vscode.workspace.workspaceFolders[0].uri;
  return vscode.Uri.joinPath(folder, `${name}.passthrough.yaml`);
}

let api;
async function open(name) {
  const doc = await vscode.workspace.openTextDocument(exampleUri(name));
  await vscode.window.showTextDocument(doc);
  const ext = vscode.extensions.getExtension(EXT_ID);
  api = await until("activation", async () => (ext.isActive ? ext.exports : undefined));
  await until("the active scenario", () => api.scenarios.active === doc.uri.toString());
  const state = await api.whenRun(doc.uri);
  return { doc, state };
}

/** Expands a view through its real TreeDataProvider, as the tree widget does. */
async function expand(view, depth = 6) {
  const tree = api.trees[view];
  const out = [];
  async function walk(h, d) {
    const kids = await tree.getChildren(h);
    for (const k of kids) {
      const item = tree.getTreeItem(k);
      out.push({ id: k.id, label: item.label, description: item.description, contextValue: item.contextValue, collapsible: item.collapsibleState });
      if (d > 0 && item.collapsibleState !== vscode.TreeItemCollapsibleState.None) await walk(k, d - 1);
    }
  }
  await walk(undefined, depth);
  return out;
}

describe("Passthrough Debugger in a real VS Code", function () {
  this.timeout(60000);

  it("activates on opening an example and runs it in the worker", async () => {
    const { doc, state } = await open("dma-after-unmap");
    assert.strictEqual(doc.languageId, "passthrough");
    assert.strictEqual(state.stale, false);
    assert.strictEqual(state.steps.length, 6);
    assert.ok(api.client.running, "worker started");
    console.log(`    activation: ${api.activationMs.toFixed(1)} ms`);
  });

  it("populates every tree with the expected items", async () => {
    const { doc } = await open("dma-after-unmap");
    await vscode.commands.executeCommand("passthrough.runToStep", doc.uri.toString(), 3);
    const vms = await expand("vms", 3);
    assert.ok(vms.some((n) => n.label === "fw01" && /^running/.test(n.description)), "VM fw01 running");
    assert.ok(vms.some((n) => n.label === "VFIO container" && /domain \d+/.test(n.description)));
    const groups = await expand("groups", 2);
    assert.ok(groups.some((n) => /^IOMMU group \d+$/.test(n.label) && /viable/.test(n.description)));
    assert.ok(groups.some((n) => n.label === "04:00.0" && /82599ES/.test(n.description)));
    const tables = await expand("tables", 8);
    assert.ok(tables.some((n) => n.label === "Registers"));
    assert.ok(tables.some((n) => n.label === "bus 04"), "root entry for bus 04");
    assert.ok(tables.some((n) => n.contextValue === "pte" && /IOVA 0x100000 → HPA 0x[0-9a-f]+ \(4 KiB\)/.test(n.description)), "leaf PTE for IOVA 0x100000");
    assert.ok(tables.some((n) => /not present/.test(n.description || "")), "non-present runs collapsed");
    assert.ok(tables.some((n) => /^domain \d+$/.test(n.label) && /^4-level · SL-PML4 @/.test(n.description)), "context entry -> domain node");
    // Collapsing a subtree stops refreshing it: the lists below the unit are dropped.
    const tracked = api.trees.tables.trackedLists;
    api.trees.tables.forget("t");
    assert.ok(api.trees.tables.trackedLists < tracked && api.trees.tables.trackedLists <= 1, `lists after collapse: ${api.trees.tables.trackedLists} of ${tracked}`);
    const faults = await expand("faults", 2);
    assert.ok(faults.some((n) => /^step 6: dma$/.test(n.label)), "faulting step listed");
    assert.ok(faults.some((n) => /0x05 PTE Write access is not set/.test(n.description || "")));
    // The inline "Show Step in Editor" button: VS Code passes the tree element, not the step.
    const faulting = faults.find((n) => /^step 6: dma$/.test(n.label));
    await vscode.commands.executeCommand("passthrough.revealStep", { id: faulting.id });
    assert.strictEqual(api.scenarios.states.get(doc.uri.toString()).cursor, 5);
    assert.match(api.views.faults.description, /before step 6 of 6/);
  });

  it("the trees follow the cursor", async () => {
    const { doc } = await open("dma-after-unmap");
    await vscode.commands.executeCommand("passthrough.runToStep", doc.uri.toString(), 0);
    await until("refresh", async () => (await expand("vms", 0)).some((n) => /^stopped/.test(n.description)));
    await vscode.commands.executeCommand("passthrough.runToStep", doc.uri.toString(), 1);
    await until("refresh", async () => (await expand("vms", 0)).some((n) => /^running/.test(n.description)));
    assert.match(api.views.vms.description, /before step 2 of 6/);
  });

  it("toggles hex/decimal in the trees", async () => {
    await open("dma-after-unmap");
    const root = async () => (await expand("tables", 1)).find((n) => n.label === "Root table").description;
    assert.match(await root(), /^@ 0x[0-9a-f]+$/);
    assert.strictEqual(await vscode.commands.executeCommand("passthrough.toggleRadix"), "dec");
    try {
      await until("decimal labels", async () => /^@ \d+$/.test(await root()));
    } finally {
      await vscode.commands.executeCommand("passthrough.toggleRadix");
    }
    await until("hex labels", async () => /^@ 0x/.test(await root()));
  });

  it("shows diagnostics for a broken scenario and keeps the last good trees, marked stale", async () => {
    const { doc } = await open("healthy-nic");
    const edit = new vscode.WorkspaceEdit();
    const line = doc.getText().split("\n").findIndex((l) => l.includes('bdf: "01:00.0"'));
    const at = doc.lineAt(line).text.indexOf('"01:00.0"');
    edit.replace(doc.uri, new vscode.Range(line, at, line, at + 9), '"01:0g.0"');
    assert.ok(await vscode.workspace.applyEdit(edit));
    try {
      const st = await api.whenRun(doc.uri);
      assert.strictEqual(st.stale, true);
      const diags = await until("diagnostics", () => {
        const d = vscode.languages.getDiagnostics(doc.uri);
        return d.length ? d : undefined;
      });
      const bdf = diags.find((d) => d.code === "bdf-malformed");
      assert.ok(bdf, `bdf-malformed among ${diags.map((d) => d.code).join(", ")}`);
      assert.strictEqual(bdf.range.start.line, line);
      assert.match(bdf.message, /Hint:/);
      assert.match(api.views.vms.message, /stale/);
      assert.ok((await expand("vms", 0)).length > 0, "last good VM tree still shown");
      // Dimmed: its icons in the disabled foreground, its tooltip saying why.
      const [vm] = await api.trees.vms.getChildren(undefined);
      const item = api.trees.vms.getTreeItem(vm);
      assert.strictEqual(item.iconPath && item.iconPath.color && item.iconPath.color.id, "disabledForeground");
      assert.match(String(item.tooltip), /Stale: the scenario's text has errors/);
    } finally {
      await vscode.commands.executeCommand("undo");
      await api.whenRun(doc.uri);
    }
    const after = await api.whenRun(doc.uri);
    assert.strictEqual(after.stale, false);
  });

  it("puts CodeLens on each step: Run to here and the outcome", async () => {
    const { doc } = await open("dma-after-unmap");
    const lenses = await vscode.commands.executeCommand("vscode.executeCodeLensProvider", doc.uri);
    const titles = lenses.map((l) => l.command && l.command.title);
    assert.ok(titles.filter((t) => /Run to here|cursor here/.test(t)).length >= 6, titles.join(" | "));
    assert.ok(titles.some((t) => /16384 bytes written/.test(t)), titles.join(" | "));
    assert.ok(titles.some((t) => /fault.*0x05/.test(t)), titles.join(" | "));
  });

  it("hovers decode BDFs and walk IOVAs", async () => {
    const { doc } = await open("dma-after-unmap");
    const lines = doc.getText().split("\n");
    const l = lines.findIndex((x) => x.includes("iova: 0x10_2000, length: 4KiB, write: true"));
    const hovers = await vscode.commands.executeCommand("vscode.executeHoverProvider", doc.uri, new vscode.Position(l, lines[l].indexOf("0x10_2000") + 2));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === "string" ? c : c.value))).join("\n");
    assert.match(text, /^\*\*`04:00\.0` write: fault 0x05/m);
    assert.match(text, /not present/);
  });

  it("an AMD-Vi example: the device table in Mapping Tables and the IO_PAGE_FAULT in the trace", async () => {
    const { doc } = await open("amd-io-page-fault");
    const uri = doc.uri.toString();
    const nodes = await expand("tables", 3);
    assert.ok(nodes.some((n) => n.label === "Device table"), nodes.map((n) => n.label).join(" | "));
    assert.ok(nodes.some((n) => /^03:00\.0/.test(n.label) && /Page Table Root Pointer/.test(n.description ?? "")), "the DTE of 03:00.0 with its root pointer");
    assert.ok(nodes.some((n) => n.label === "Event log"));
    const panel = await vscode.commands.executeCommand("passthrough.showTrace", uri);
    const info = await api.scenarios.gate.call(() => api.client.request("traceInfo", { uri, filter: {}, compare: false }));
    assert.strictEqual(info.summary.faults, 1);
    assert.deepStrictEqual(info.reasonNames, { 2: "IO_PAGE_FAULT" });
    panel.panel.dispose();
  });

  it("Translate address reveals the walk in Mapping Tables", async () => {
    const { doc } = await open("dma-after-unmap");
    await vscode.commands.executeCommand("passthrough.runToStep", doc.uri.toString(), 3);
    const ans = await vscode.commands.executeCommand("passthrough.translate", "04:00.0", "0x100000", true);
    assert.strictEqual(ans.reason, 0);
    assert.ok(ans.revealId);
    await until("selection", () => api.views.tables.selection.length && api.views.tables.selection[0].id === ans.revealId).catch((e) => {
      throw new Error(`${e.message}: visible=${api.views.tables.visible} selection=${api.views.tables.selection.map((s) => s.id)} reveal=${ans.revealId} cursor=${api.scenarios.states.get(doc.uri.toString())?.cursor}`);
    });
    const item = api.trees.tables.node(ans.revealId);
    assert.match(item.description, /→ HPA/);
  });

  it("offers a quick fix that adds the missing map, as one undoable edit", async () => {
    const { doc } = await open("unmapped-iova");
    // Remove the expectation of the faulting read so the fault becomes a diagnostic.
    const lines = doc.getText().split("\n");
    const l = lines.findIndex((x) => x.includes("iova: 0xc000_0000, length: 4KiB, write: false"));
    const edit = new vscode.WorkspaceEdit();
    edit.delete(doc.uri, new vscode.Range(l + 1, 0, l + 2, 0));
    assert.ok(await vscode.workspace.applyEdit(edit));
    try {
      await api.whenRun(doc.uri);
      const diag = await until("dma-fault diagnostic", () => vscode.languages.getDiagnostics(doc.uri).find((d) => d.code === "dma-fault"));
      const actions = await vscode.commands.executeCommand("vscode.executeCodeActionProvider", doc.uri, diag.range);
      const fix = actions.find((a) => /Add the missing map/.test(a.title));
      assert.ok(fix, actions.map((a) => a.title).join(" | "));
      assert.ok(await vscode.workspace.applyEdit(fix.edit));
      assert.match(doc.lineAt(l).text, /- map: \{ vm: hpc01, iova: 0xc000_0000, size: 4KiB, perm: r, gpa: 0x10_0000 \}/);
      const st = await api.whenRun(doc.uri);
      assert.ok(!vscode.languages.getDiagnostics(doc.uri).some((d) => d.code === "dma-fault" && d.range.start.line === l + 1), "the read no longer faults");
      assert.ok(st.steps.length > 0);
      await vscode.commands.executeCommand("undo");
    } finally {
      await vscode.commands.executeCommand("undo");
      await api.whenRun(doc.uri);
    }
  });

  it("restarts a crashed worker and rebuilds the sessions", async () => {
    const { doc } = await open("healthy-nic");
    const before = api.client.restarts;
    await api.client.request("crash", { how: "throw" }).catch(() => undefined);
    await until("restart", () => api.client.restarts > before);
    const st = await until("rebuilt session", async () => {
      try {
        return await api.client.request("setCursor", { uri: doc.uri.toString(), step: 0 });
      } catch {
        return undefined;
      }
    });
    assert.ok(st.steps.length > 0);
    assert.ok((await expand("vms", 0)).length > 0);
  });

  it("the worker killed mid-run: the session, the trees and the trace panel come back with the same cursor", async () => {
    const { doc } = await open("healthy-nic");
    const uri = doc.uri.toString();
    await api.scenarios.setCursor(uri, 3);
    const panel = api.tracePanels.open(uri);
    await panel.whenFirstRows;
    const vmsBefore = (await expand("vms", 2)).map((n) => `${n.label} ${n.description}`);
    const descBefore = api.views.vms.description;
    const before = api.client.restarts;
    // A run in flight, and the worker killed under it (the Restart Engine command's own path).
    const rerun = api.scenarios.rerun(uri);
    api.client.restart("e2e: the worker killed mid-run");
    await rerun;
    await until("restart", () => api.client.restarts > before);
    await until("rebuilt sessions", () => !api.scenarios.gate.pending);
    const st = api.scenarios.states.get(uri);
    assert.strictEqual(st.cursor, 3);
    assert.strictEqual(api.views.vms.description, descBefore);
    await until("the same VMs view", async () => JSON.stringify((await expand("vms", 2)).map((n) => `${n.label} ${n.description}`)) === JSON.stringify(vmsBefore));
    // The panel is the same one, and a trace request through it reaches the rebuilt session.
    assert.strictEqual(api.tracePanels.get(uri), panel);
    const info = await api.scenarios.gate.call(() => api.client.request("traceInfo", { uri, filter: {}, compare: false }));
    assert.ok(info.summary.total > 0);
    panel.panel.dispose();
  });

  it("restarts a hung worker (watchdog)", async () => {
    const { doc } = await open("healthy-nic");
    await vscode.workspace.getConfiguration("passthrough").update("engineTimeout", 1500, vscode.ConfigurationTarget.Global);
    try {
      const before = api.client.restarts;
      const hung = api.client.request("crash", { how: "hang" }).then(() => "answered", (e) => e.code);
      assert.strictEqual(await hung, "restarted");
      assert.ok(api.client.restarts > before);
      await until("rebuilt session", async () => {
        try {
          return await api.client.request("setCursor", { uri: doc.uri.toString(), step: 0 });
        } catch {
          return undefined;
        }
      });
    } finally {
      await vscode.workspace.getConfiguration("passthrough").update("engineTimeout", undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it("debugs a scenario with F5: stops on the fault, steps back, Variables show the failing walk", async () => {
    const { doc } = await open("dma-after-unmap");
    const messages = [];
    const tracker = vscode.debug.registerDebugAdapterTrackerFactory("passthrough", {
      createDebugAdapterTracker: () => ({ onDidSendMessage: (m) => messages.push(m) }),
    });
    const stops = () => messages.filter((m) => m.type === "event" && m.event === "stopped");
    try {
      // F5 with the scenario active and no launch.json: the configuration provider fills it in.
      await vscode.commands.executeCommand("workbench.action.debug.start");
      await until("a stop", () => stops().length >= 1);
      const session = vscode.debug.activeDebugSession;
      assert.ok(session, "a debug session");
      assert.strictEqual(session.type, "passthrough");
      const first = stops()[0].body;
      assert.strictEqual(first.reason, "exception");
      assert.match(first.text, /0x05 PTE Write access is not set/);
      const trace = await session.customRequest("stackTrace", { threadId: 1 });
      const faultLine = doc.getText().split("\n").findIndex((l) => l.includes("iova: 0x10_2000, length: 4KiB, write: true")) + 1;
      assert.strictEqual(trace.stackFrames[0].line, faultLine);
      // The Variables view's data: the Translation scope's walk ends at the non-present entry.
      const scopes = await session.customRequest("scopes", { frameId: trace.stackFrames[0].id });
      const translation = scopes.scopes.find((s) => s.name === "Translation");
      const vars = await session.customRequest("variables", { variablesReference: translation.variablesReference });
      const walk = vars.variables.find((v) => v.name === "walk");
      const stages = await session.customRequest("variables", { variablesReference: walk.variablesReference });
      assert.match(stages.variables.at(-1).value, /not present/);
      // The shared cursor follows the debugger: the editor highlight is on the faulting step.
      await until("cursor", () => api.scenarios.states.get(doc.uri.toString()).cursor === 5);
      // Step back twice: from the event to the step start, then to the previous step (the unmap).
      await session.customRequest("stepBack", { threadId: 1 });
      await session.customRequest("stepBack", { threadId: 1 });
      await until("two more stops", () => stops().length >= 3);
      const back = await session.customRequest("stackTrace", { threadId: 1 });
      assert.ok(back.stackFrames[0].line < faultLine);
      assert.match(doc.lineAt(back.stackFrames[0].line - 1).text, /guest-unmap/);
      await until("cursor back", () => api.scenarios.states.get(doc.uri.toString()).cursor === 4);
      const ev = await session.customRequest("evaluate", { expression: "translate 04:00.0 0x102000 w", context: "repl" });
      assert.match(ev.result, /IOTLB hit/);
    } finally {
      tracker.dispose();
      await vscode.debug.stopDebugging();
    }
  });

  it("imports a 4 MB kernel log in slices, decodes and explains it, and turns it into a scenario that reproduces it", async function () {
    // 40 s of a loaded 2-core machine (the extension host reported unresponsive meanwhile): the
    // suite's 60 s would be a speed budget here.
    this.timeout(240000);
    await open("healthy-nic");
    const folder = vscode.workspace.workspaceFolders[0].uri;
    // The ≤4.6 two-line form, so records straddle slice boundaries; noise in between.
    const lines = [];
    let faults = 0;
    for (let i = 0; lines.length < 60000; i++) {
      lines.push(`[ ${(100 + i / 1000).toFixed(6)}] e1000e 0000:00:1f.6 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None ${"x".repeat(i % 20)}`);
      if (i % 30 === 0) {
        lines.push(`[ ${(100 + i / 1000).toFixed(6)}] DMAR: DMAR:[DMA Write] Request device [03:00.1] fault addr ${(0x7c340000 + (i % 16) * 0x1000).toString(16)} `);
        lines.push(`[ ${(100 + i / 1000).toFixed(6)}] DMAR:[fault reason 05] PTE Write access is not set`);
        faults++;
      }
    }
    const file = vscode.Uri.joinPath(folder, "big-dmesg.log");
    await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(lines.join("\n")));
    const doc = await api.evidence.importFile(file);
    assert.ok(doc, "a decoded document");
    const ev = api.evidence.lastImport;
    assert.strictEqual(ev.records.length, faults);
    assert.ok(ev.records.every((r) => r.endLine === r.line + 1 && r.fields.reason === 5), "every two-line fault whole");
    assert.match(doc.getText(), /dmar-fault: write by 03:00\.1 to IOVA 0x7c340000 faulted: 0x05 PTE Write access is not set/);
    assert.match(doc.getText(), /Cause 1: IOVA 0x7c340000 was never mapped for 03:00\.1/);
    // Hovering a record in the decoded document shows its source lines and fields.
    const recLine = doc.getText().split("\n").findIndex((l) => /^line \d+-\d+ .*dmar-fault/.test(l));
    const dh = await vscode.commands.executeCommand("vscode.executeHoverProvider", doc.uri, new vscode.Position(recLine, 2));
    const dmd = dh.flatMap((h) => h.contents.map((c) => (typeof c === "string" ? c : c.value))).join("\n");
    assert.match(dmd, /DMAR:\[fault reason 05\] PTE Write access is not set/);
    assert.match(dmd, /device: 03:00\.1/);
    // The Faults view lists the import and its explained records.
    const roots = await api.trees.faults.getChildren();
    const evRoot = roots.find((h) => h.id.startsWith("ev/"));
    assert.ok(evRoot, "an evidence root in the Faults view");
    assert.match(api.trees.faults.getTreeItem(evRoot).label, /^Evidence: big-dmesg\.log$/);
    const recs = await api.trees.faults.getChildren(evRoot);
    assert.strictEqual(recs.length, faults);
    assert.match(api.trees.faults.getTreeItem(recs[0]).label, /^line \d+: VT-d write fault 0x05 PTE Write access is not set — 03:00\.1 at 0x7c340000$/);
    const scenario = await api.evidence.createScenario();
    assert.strictEqual(scenario.languageId, "passthrough");
    const st = await api.whenRun(scenario.uri);
    assert.strictEqual(st.stale, false);
    assert.strictEqual(st.totals.failedExpectations, 0);
    // Identical faults fold into one step with `repeat` (synthesize): every fault is a transaction of some step.
    const steps = scenario.getText().split("\n").filter((l) => l.startsWith("  - dma: {"));
    assert.strictEqual(st.totals.expectations, steps.length);
    assert.strictEqual(steps.reduce((n, l) => n + Number(/repeat: (\d+)/.exec(l)?.[1] ?? 1), 0), faults);
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });

  it("hovers a fault line in a log file with its explanation", async () => {
    const folder = vscode.workspace.workspaceFolders[0].uri;
    const file = vscode.Uri.joinPath(folder, "fault.log");
    const text = "[  1.0] something else\n[  812.001010] DMAR: [DMA Read NO_PASID] Request device [00:16.7] fault addr 0xdceff000 [fault reason 0x06] PTE Read access is not set\n";
    await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(text));
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    const hovers = await vscode.commands.executeCommand("vscode.executeHoverProvider", doc.uri, new vscode.Position(1, 30));
    const md = hovers.flatMap((h) => h.contents.map((c) => (typeof c === "string" ? c : c.value))).join("\n");
    assert.match(md, /dmar\\?-fault/); // markdown-escaped
    assert.match(md, /never mapped/);
    const lenses = await vscode.commands.executeCommand("vscode.executeCodeLensProvider", doc.uri);
    assert.ok(lenses.some((l) => l.command && /VT-d read fault 0x06/.test(l.command.title)));
  });

  it("New scenario from a template opens an untitled scenario that runs", async () => {
    // Pick the first template through the quick pick, as a keyboard user would.
    const p = vscode.commands.executeCommand("passthrough.newScenario");
    // The quick pick opens when it opens (later on a loaded machine): accepting before that does
    // nothing, so accept until the command has its answer.
    let answered = false;
    void p.then(() => (answered = true), () => (answered = true));
    await until("the template quick pick accepted", async () => {
      await vscode.commands.executeCommand("workbench.action.acceptSelectedQuickOpenItem");
      await sleep(100);
      return answered;
    });
    const uri = await p;
    assert.ok(uri, "a document was opened");
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    assert.strictEqual(doc.languageId, "passthrough");
    const st = await api.whenRun(doc.uri);
    assert.ok(st.steps.length > 0);
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });
});

// The DMA Trace panel (issue 14, trace part): its title names the document as the tab does, and the
// webview tells the host when its first rows are drawn.
describe("DMA Trace panel", function () {
  this.timeout(90000);

  it("an untitled scenario's trace is titled 'DMA Trace: Untitled-N' and draws its first rows", async () => {
    await open("write-to-readonly");
    const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(exampleUri("write-to-readonly")));
    const doc = await vscode.workspace.openTextDocument({ language: "passthrough", content: text });
    await vscode.window.showTextDocument(doc);
    await api.whenRun(doc.uri);
    assert.strictEqual(doc.uri.scheme, "untitled");
    const panel = await vscode.commands.executeCommand("passthrough.showTrace", doc.uri.toString());
    assert.match(panel.panel.title, /^DMA Trace: Untitled-\d+$/);
    const t = await Promise.race([panel.whenFirstRows, sleep(60000).then(() => undefined)]);
    assert.ok(t && t.firstRows > t.created, "the webview reported its first rows");
    panel.panel.dispose();
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });
});

// Issue 14: no view presents the outcome of a text the user did not leave.
describe("Transient text: views show only what the user left", function () {
  this.timeout(60000);
  const setSettle = (ms) => vscode.workspace.getConfiguration("passthrough").update("settleDelay", ms, vscode.ConfigurationTarget.Global);
  const TRANSIENT = /EINVAL|Invalid argument|-22/;
  /** Puts the document's text back (one edit), and waits for its run. */
  async function restore(doc, text) {
    if (doc.getText() !== text) {
      const edit = new vscode.WorkspaceEdit();
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), text);
      assert.ok(await vscode.workspace.applyEdit(edit));
    }
    return api.whenRun(doc.uri);
  }

  it("typing 64KB over 64KiB never publishes the 6- or 64-byte run; the broken end keeps the last good run, marked stale in trees, CodeLens and state", async () => {
    const { doc, state: good } = await open("write-to-readonly");
    const original = doc.getText();
    const key = doc.uri.toString();
    // A settle delay longer than the test: no keystroke on the way may show, however slow the machine.
    await setSettle(60000);
    const published = [];
    const sub = api.scenarios.onDidChange((c) => {
      if (c.uri === key && c.kind === "run") published.push(c.state);
    });
    const line = doc.getText().split("\n").findIndex((l) => l.includes("size: 64KiB"));
    const col = doc.lineAt(line).text.indexOf("64KiB");
    let width = 5;
    try {
      for (const size of ["6", "64", "64K", "64KB"]) {
        const edit = new vscode.WorkspaceEdit();
        edit.replace(doc.uri, new vscode.Range(line, col, line, col + width), size);
        assert.ok(await vscode.workspace.applyEdit(edit));
        width = size.length;
        await sleep(150);
      }
      const end = await api.whenRun(doc.uri);
      for (const st of published) assert.doesNotMatch(JSON.stringify(st.steps), TRANSIENT, `published version ${st.version}`);
      assert.strictEqual(end.stale, true);
      assert.deepStrictEqual(end.steps.map((s) => s.summary), good.steps.map((s) => s.summary));
      assert.ok(end.diagnostics.some((d) => d.code === "size-malformed"));
      assert.match(api.views.faults.message, /^The scenario has errors: stale, showing the run of version \d+, \d\d:\d\d:\d\d, before your current edit\.$/);
      const faults = await expand("faults", 1);
      assert.doesNotMatch(JSON.stringify(faults), TRANSIENT);
      const lenses = await vscode.commands.executeCommand("vscode.executeCodeLensProvider", doc.uri, 100);
      const titles = lenses.map((l) => (l.command ? l.command.title : ""));
      assert.ok(titles.length > 0 && titles.every((t) => t.startsWith("$(history) stale · ")), titles.join(" | "));
      assert.ok(titles.every((t) => !TRANSIENT.test(t)), titles.join(" | "));
    } finally {
      sub.dispose();
      await setSettle(undefined);
    }
    const after = await restore(doc, original);
    assert.strictEqual(after.stale, false);
  });

  it("a large scenario's CodeLens carry ranges and resolve in view, each with its command", async () => {
    const lines = ["name: many", "host:", "  memory: 64GiB", "  iommu: { model: intel-vtd, address-width: 48 }", "  pci:",
      '    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }',
      '    - { bdf: "01:00.0", id: "8086:1572", name: X710, parent: "00:01.0", driver: vfio-pci }',
      "vms:", "  - name: vm0", "    memory: 4GiB", '    devices: ["01:00.0"]', "workload:", "  - start: vm0"];
    for (let i = 0; i < 150; i++) lines.push(`  - dma: { device: "01:00.0", iova: 0x${(0x100000 + i * 0x1000).toString(16)}, length: 4KiB, write: true }`);
    const doc = await vscode.workspace.openTextDocument({ language: "passthrough", content: lines.join("\n") + "\n" });
    await vscode.window.showTextDocument(doc);
    const st = await api.whenRun(doc.uri);
    assert.strictEqual(st.steps.length, 151);
    const lazy = await vscode.commands.executeCommand("vscode.executeCodeLensProvider", doc.uri);
    assert.strictEqual(lazy.length, 302);
    assert.ok(lazy.every((l) => !l.command), "unresolved: ranges only");
    const some = await vscode.commands.executeCommand("vscode.executeCodeLensProvider", doc.uri, 4);
    const titles = some.filter((l) => l.command).map((l) => l.command.title);
    assert.deepStrictEqual(titles.length, 4);
    assert.ok(titles.some((t) => /cursor here|Run to here/.test(t)) && titles.some((t) => /started/.test(t)), titles.join(" | "));
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });

  it("a text with new faults that the user leaves shows once it has settled", async () => {
    const { doc } = await open("write-to-readonly");
    const original = doc.getText();
    await setSettle(200);
    const line = doc.getText().split("\n").findIndex((l) => l.includes("size: 64KiB"));
    const col = doc.lineAt(line).text.indexOf("64KiB");
    try {
      const edit = new vscode.WorkspaceEdit();
      edit.replace(doc.uri, new vscode.Range(line, col, line, col + 5), "6");
      assert.ok(await vscode.workspace.applyEdit(edit));
      const st = await api.whenRun(doc.uri);
      assert.strictEqual(st.stale, false);
      assert.match(JSON.stringify(st.steps), TRANSIENT);
    } finally {
      await setSettle(undefined);
      await restore(doc, original);
    }
  });
});

// Open Example Scenarios (misc): copies, never the installed files. The quick picks and the
// folder dialog cannot be answered from here, so the command's arguments answer them.
describe("Open Example Scenarios", function () {
  this.timeout(60000);
  const os = require("os");
  const fs = require("fs");
  const path = require("path");

  it("copies the chosen examples into a folder and opens the copies, never the extension's own files", async () => {
    const ext = vscode.extensions.getExtension(EXT_ID);
    await ext.activate();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "examples-"));
    const folder = vscode.Uri.file(dir);
    const r = await vscode.commands.executeCommand("passthrough.openExamples", { examples: ["healthy-nic", "stale-iotlb"], folder });
    assert.ok(r, "the command copied something");
    assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["healthy-nic.passthrough.yaml", "stale-iotlb.passthrough.yaml"]);
    const active = vscode.window.activeTextEditor.document;
    assert.strictEqual(active.uri.fsPath, path.join(dir, "stale-iotlb.passthrough.yaml"));
    assert.strictEqual(active.languageId, "passthrough");
    // The examples the extension ships (in a development run the workspace itself may sit inside the extension's folder).
    const shipped = path.join(ext.extensionPath, "examples") + path.sep;
    for (const d of vscode.workspace.textDocuments) assert.ok(!d.uri.fsPath.startsWith(shipped), `${d.uri.fsPath} is one of the installed extension's own examples`);
    assert.ok(vscode.workspace.textDocuments.some((d) => d.uri.fsPath === path.join(dir, "healthy-nic.passthrough.yaml")));
    // Again, into the same folder: the user's (edited) copy is kept, the new one gets a new name.
    fs.writeFileSync(path.join(dir, "healthy-nic.passthrough.yaml"), "# mine\n");
    const again = await vscode.commands.executeCommand("passthrough.openExamples", { examples: ["healthy-nic"], folder, onConflict: "rename" });
    assert.deepStrictEqual(again.written.map((u) => path.basename(u.fsPath)), ["healthy-nic-2.passthrough.yaml"]);
    assert.strictEqual(fs.readFileSync(path.join(dir, "healthy-nic.passthrough.yaml"), "utf8"), "# mine\n");
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });

  it("without a folder opens untitled passthrough scenarios that run", async () => {
    const r = await vscode.commands.executeCommand("passthrough.openExamples", { examples: ["unmapped-iova"], folder: "untitled" });
    assert.strictEqual(r.untitled, 1);
    const doc = vscode.window.activeTextEditor.document;
    assert.strictEqual(doc.isUntitled, true);
    assert.strictEqual(doc.languageId, "passthrough");
    const e = vscode.extensions.getExtension(EXT_ID).exports;
    const st = await e.whenRun(doc.uri);
    assert.ok(st.steps.length > 0);
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });
});

describe("Views follow the text cursor (issue 14, views)", function () {
  this.timeout(60000);

  const node = async (view, id, parent) => {
    const tree = api.trees[view];
    const kids = await tree.getChildren(parent ? tree.handle(parent) : undefined);
    const h = kids.find((k) => k.id === id);
    return h ? tree.getTreeItem(h) : undefined;
  };

  it("moving the selection to step 3 moves every view there; 'after step' shows the step's fault record", async () => {
    const { doc, state } = await open("unmapped-iova");
    const uri = doc.uri.toString();
    await vscode.commands.executeCommand("passthrough.runToStep", uri, 0);
    await until("cursor at step 1", () => api.views.tables.description === `before step 1 of ${state.steps.length}`);
    const editor = await vscode.window.showTextDocument(doc);
    const third = state.steps[2];
    assert.strictEqual(third.status, "fault", "step 3 of unmapped-iova faults");
    // The caret on the step's line (not its first column: anywhere on the item counts).
    const pos = new vscode.Position(third.line, 6);
    editor.selection = new vscode.Selection(pos, pos);
    await until("views at step 3", () => Object.values(api.views).every((v) => v.description === `before step 3 of ${state.steps.length}`));
    assert.strictEqual(api.scenarios.states.get(uri).cursor, 2);
    // Before step 3: its fault has not happened (the Faults view dims it), no record yet.
    await until("faults refreshed", async () => /after the cursor/.test((await node("faults", "f/2"))?.tooltip ?? ""));
    const frcdBefore = await node("tables", "t/frcd", "t");
    assert.match(frcdBefore.description, /^0 of \d+ in use$/);
    // After step 3: the record the kernel serviced stays in its register (F = 0).
    await vscode.commands.executeCommand("passthrough.showStateAfterStep");
    try {
      await until("views after step 3", () => Object.values(api.views).every((v) => v.description === `after step 3 of ${state.steps.length}`));
      await until("tables after step 3", async () => /1 record serviced/.test((await node("tables", "t/frcd", "t"))?.description ?? ""));
      const rec = (await api.trees.tables.getChildren(api.trees.tables.handle("t/frcd"))).map((h) => api.trees.tables.getTreeItem(h));
      assert.ok(rec.some((r) => /^FRCD\d+: 02:00\.0 read 0xc0000000$/.test(r.label)), rec.map((r) => r.label).join(" | "));
      const fault = await node("faults", "f/2");
      assert.doesNotMatch(fault.tooltip, /after the cursor/);
      // Translate Address says in which state it translated.
      const ans = await vscode.commands.executeCommand("passthrough.translate", "02:00.0", "0xc0000000", false);
      assert.strictEqual(ans.state, `after step 3 of ${state.steps.length}`);
    } finally {
      await vscode.commands.executeCommand("passthrough.showStateBeforeStep");
    }
    await until("views back before step 3", () => api.views.vms.description === `before step 3 of ${state.steps.length}`);
  });

  it("an IOVA hover leads with the verdict; its 'Full walk' link translates at the hovered step", async () => {
    const { doc, state } = await open("unmapped-iova");
    const uri = doc.uri.toString();
    const lines = doc.getText().split("\n");
    const l = state.steps[3].line;
    const hovers = await vscode.commands.executeCommand("vscode.executeHoverProvider", doc.uri, new vscode.Position(l, lines[l].indexOf("0xc000_0000") + 3));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === "string" ? c : c.value))).join("\n");
    const first = text.split("\n")[0];
    assert.match(first, /^\*\*`02:00\.0` write: fault 0x0?[0-9a-f]+/, text);
    assert.doesNotMatch(text, /KiB/);
    const link = /\(command:passthrough\.translate\?([^ )]+)/.exec(text);
    assert.ok(link, text);
    const args = JSON.parse(decodeURIComponent(link[1]));
    assert.deepStrictEqual(args.slice(0, 3), ["02:00.0", "0xc0000000", true]);
    await vscode.commands.executeCommand("passthrough.runToStep", uri, 0);
    const ans = await vscode.commands.executeCommand("passthrough.translate", ...args);
    assert.strictEqual(ans.state, `before step 4 of ${state.steps.length}`);
    assert.strictEqual(api.scenarios.states.get(uri).cursor, 3);
  });
});

// ---- Evidence: one decoding path, the decoded document, Faults view → record (issue 14)
describe("Evidence in a real VS Code", function () {
  this.timeout(60000);
  const fs = require("fs");
  const path = require("path");
  const mixed = fs.readFileSync(path.join(__dirname, "..", "..", "fixtures", "evidence", "mixed-dmesg.txt"), "utf8");

  it("imports a UTF-16 copy of mixed-dmesg.txt like the CLI (15 records) into 'mixed-dmesg.txt — decoded', with Outline, folding and word wrap", async () => {
    await open("dma-after-unmap");
    const folder = vscode.workspace.workspaceFolders[0].uri;
    const dir = vscode.Uri.joinPath(folder, "utf16");
    const file = vscode.Uri.joinPath(dir, "mixed-dmesg.txt");
    await vscode.workspace.fs.writeFile(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(mixed, "utf16le")]));
    const doc = await api.evidence.importFile(file);
    assert.ok(doc, "a decoded document");
    assert.strictEqual(api.evidence.lastImport.records.length, 15);
    assert.strictEqual(path.posix.basename(doc.uri.path), "mixed-dmesg.txt — decoded");
    assert.strictEqual(doc.languageId, "passthrough-evidence");
    assert.strictEqual(vscode.workspace.getConfiguration("editor", { languageId: "passthrough-evidence" }).get("wordWrap"), "on");
    const symbols = await until("document symbols", async () => {
      const s = await vscode.commands.executeCommand("vscode.executeDocumentSymbolProvider", doc.uri);
      return s && s.length ? s : undefined;
    });
    const records = symbols.filter((s) => /^line \d+/.test(s.name));
    assert.strictEqual(records.length, 15);
    const w = records.find((s) => s.name.includes("0x7c346000"));
    assert.match(w.name, /^line 10: VT-d write fault 0x05 PTE Write access is not set — 03:00\.1 at 0x7c346000 PASID 2$/);
    assert.deepStrictEqual(w.children.map((c) => c.name), ["Context lines", "Fields", "Meaning", "Evidence", "Likely causes", "Checks"]);
    const folds = await vscode.commands.executeCommand("vscode.executeFoldingRangeProvider", doc.uri);
    const wStart = w.range.start.line;
    assert.ok(folds.some((f) => f.start === wStart && f.end === w.range.end.line), "the record folds");
  });

  it("clicking a record in the Faults view reveals it in the decoded document; Go to Log Line selects it in the log", async () => {
    const roots = await api.trees.faults.getChildren();
    const evRoot = roots.filter((h) => h.id.startsWith("ev/")).pop();
    assert.ok(evRoot);
    const recs = await api.trees.faults.getChildren(evRoot);
    const item = recs.map((h) => [h, api.trees.faults.getTreeItem(h)]).find(([, it]) => /0x7c346000/.test(it.label));
    assert.ok(item, "the 0x05 record in the Faults view");
    const [handle, treeItem] = item;
    assert.strictEqual(treeItem.contextValue, "evidence-record");
    await vscode.commands.executeCommand(treeItem.command.command, ...treeItem.command.arguments);
    const ed = await until("the decoded document", () => {
      const e = vscode.window.activeTextEditor;
      return e && e.document.uri.scheme === "passthrough-evidence" ? e : undefined;
    });
    assert.match(ed.document.lineAt(ed.selection.active.line).text, /^line 10 .*dmar-fault: write by 03:00\.1 to IOVA 0x7c346000/);
    await vscode.commands.executeCommand("passthrough.goToEvidenceLogLine", handle);
    const log = await until("the log", () => {
      const e = vscode.window.activeTextEditor;
      return e && e.document.uri.scheme === "file" ? e : undefined;
    });
    assert.match(log.document.uri.path, /\/utf16\/mixed-dmesg\.txt$/);
    assert.strictEqual(log.selection.start.line, 9);
    assert.match(log.document.lineAt(9).text, /fault addr 0x7c346000/);
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });
});

describe("Export a scenario's VM (issue 19)", function () {
  this.timeout(120000);
  it("Export VM opens the QEMU command line and the libvirt XML in untitled editors, the scenario untouched", async () => {
    const { doc } = await open("viommu-no-caching-mode");
    const before = doc.getText();
    const q = await vscode.commands.executeCommand("passthrough.exportVm", doc.uri.toString(), "qemu");
    assert.ok(q, "a QEMU document");
    assert.strictEqual(q.isUntitled, true);
    assert.match(q.getText(), /^qemu-system-x86_64 \\\n/);
    assert.match(q.getText(), /-device intel-iommu,intremap=on,caching-mode=off/);
    assert.match(q.getText(), /-device vfio-pci,host=0000:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7],id=hostdev0/);
    const x = await vscode.commands.executeCommand("passthrough.exportVm", doc.uri.toString(), "libvirt");
    assert.strictEqual(x.languageId, "xml");
    assert.match(x.getText(), /<iommu model='intel'>\n {6}<driver intremap='on' caching_mode='off'\/>/);
    assert.strictEqual(doc.getText(), before);
    // The exports are untitled and dirty: closed without saving (no "save?" dialog).
    for (const d of [q, x]) {
      await vscode.window.showTextDocument(d);
      await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
    }
  });
});

describe("IOMMU status from a paste (issue 19)", function () {
  this.timeout(120000);
  it("boot lines pasted from the clipboard decode to one IOMMU status answer with its facts", async () => {
    await open("healthy-nic");
    const paste = [
      "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.8.0-45-generic root=UUID=1234 ro quiet intel_iommu=on iommu=pt",
      "[    0.012345] DMAR: IOMMU enabled",
      "[    0.101010] DMAR-IR: Enabled IRQ remapping in x2apic mode",
      "[    0.350000] iommu: Default domain type: Passthrough (set via kernel command line)",
      "[    0.812000] DMAR: Intel(R) Virtualization Technology for Directed I/O",
    ].join("\n");
    await vscode.env.clipboard.writeText(paste);
    assert.strictEqual(await vscode.env.clipboard.readText(), paste, "the clipboard holds the paste");
    const doc = await vscode.commands.executeCommand("passthrough.importEvidence", "clipboard");
    assert.ok(doc, "a decoded document");
    assert.strictEqual(api.evidence.lastImport.records.filter((r) => r.kind === "boot-state").length, 5);
    // The answer is the first boot line's explanation: its Outline entry, with the facts as evidence.
    const symbols = await until("document symbols", async () => {
      const s = await vscode.commands.executeCommand("vscode.executeDocumentSymbolProvider", doc.uri);
      return s && s.length ? s : undefined;
    });
    assert.ok(symbols.some((x) => x.name === "line 1: IOMMU status: DMA translation on (Intel VT-d; default domain Passthrough); interrupt remapping on (x2apic)"), symbols.map((x) => x.name).join("\n"));
    assert.match(doc.getText(), /Evidence: line 3: VT-d interrupt remapping on \(x2apic mode\)/);
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });
});

// Issue 18: the editor title's Debug Scenario button and the DMA Trace's commands (its keybindings).
describe("Debug Scenario and the DMA Trace's commands (issue 18)", function () {
  this.timeout(120000);

  it("Debug Scenario starts the passthrough debugger on the scenario it is given, which stops on its fault", async () => {
    const { doc } = await open("dma-after-unmap");
    // Another scenario is the active editor: the button's argument (the editor's resource) decides.
    await open("healthy-nic");
    const messages = [];
    const tracker = vscode.debug.registerDebugAdapterTrackerFactory("passthrough", {
      createDebugAdapterTracker: () => ({ onDidSendMessage: (m) => messages.push(m) }),
    });
    try {
      assert.strictEqual(await vscode.commands.executeCommand("passthrough.debugScenario", doc.uri), true);
      const session = await until("a passthrough session", () => vscode.debug.activeDebugSession);
      assert.strictEqual(session.type, "passthrough");
      assert.strictEqual(session.configuration.scenario, doc.uri.fsPath);
      const stop = await until("a stop", () => messages.find((m) => m.type === "event" && m.event === "stopped"));
      assert.strictEqual(stop.body.reason, "exception");
      assert.match(stop.body.text, /0x05 PTE Write access is not set/);
      await until("the shared cursor on the faulting step", () => api.scenarios.states.get(doc.uri.toString()).cursor === 5);
    } finally {
      tracker.dispose();
      await vscode.debug.stopDebugging();
      await until("the session ended", () => !vscode.debug.activeDebugSession);
    }
  });

  it("Next/Previous Fault and Step move the open DMA Trace's selection, and with it the shared cursor", async () => {
    const { doc } = await open("dma-after-unmap");
    const key = doc.uri.toString();
    assert.strictEqual(await vscode.commands.executeCommand("passthrough.traceNextFault"), false, "no trace open: nothing to move");
    await vscode.commands.executeCommand("passthrough.runToStep", key, 0);
    const panel = await vscode.commands.executeCommand("passthrough.showTrace", key);
    try {
      await Promise.race([panel.whenFirstRows, sleep(60000)]);
      assert.strictEqual(await vscode.commands.executeCommand("passthrough.traceNextFault"), true);
      await until("the fault row selected", () => panel.lastSelection && panel.lastSelection.fault && panel.lastSelection.step === 5);
      await until("the cursor on the faulting step", () => api.scenarios.states.get(key).cursor === 5);
      await vscode.commands.executeCommand("passthrough.tracePreviousStep");
      await until("the previous step (the unmap)", () => panel.lastSelection.step === 4 && !panel.lastSelection.fault);
      await until("the cursor on the unmap", () => api.scenarios.states.get(key).cursor === 4);
      await vscode.commands.executeCommand("passthrough.traceNextStep");
      await until("the next step", () => panel.lastSelection.step === 5 && api.scenarios.states.get(key).cursor === 5);
      // From the unmap's row there is no earlier fault (the example has one): Previous Fault leaves
      // the selection there (the webview tests move it between faults); Next Fault goes to the fault.
      await vscode.commands.executeCommand("passthrough.tracePreviousStep");
      await until("the unmap again", () => panel.lastSelection.step === 4);
      assert.strictEqual(await vscode.commands.executeCommand("passthrough.tracePreviousFault"), true);
      assert.strictEqual(await vscode.commands.executeCommand("passthrough.traceNextFault"), true);
      await until("the fault again", () => panel.lastSelection.step === 5 && panel.lastSelection.fault && api.scenarios.states.get(key).cursor === 5);
    } finally {
      panel.panel.dispose();
    }
  });
});

// Issue 17: an Arm SMMUv3 host through the same views (no SMMU code in the extension).
describe("Arm SMMUv3 host", function () {
  this.timeout(90000);

  it("the SMMUv3 example: stream table -> STE -> CD in Mapping Tables, F_TRANSLATION in Faults, and a fault row in the DMA Trace", async () => {
    const { doc, state } = await open("smmuv3-translation-fault");
    assert.strictEqual(state.stale, false);
    const key = doc.uri.toString();
    await vscode.commands.executeCommand("passthrough.runToStep", key, 3);
    const tables = await expand("tables", 9);
    assert.ok(tables.some((n) => n.label === "arm-smmu-v3.0.auto" && /^Arm SMMUv3/.test(n.description)), "the SMMU");
    assert.ok(tables.some((n) => n.label === "Stream table" && /2-level/.test(n.description)), "the stream table");
    assert.ok(tables.some((n) => n.label === "STE[0x100]" && /stage 1 translate/.test(n.description)), "the STE of 01:00.0");
    assert.ok(tables.some((n) => /^CD \(ASID \d+\)$/.test(n.label)), "its CD");
    assert.ok(tables.some((n) => /^S1 L2 block descriptor \[\d+\]$/.test(n.label)), "a stage-1 block descriptor");
    const faults = await expand("faults", 2);
    assert.ok(faults.some((n) => /0x10 F_TRANSLATION/.test(n.description || "")), "the event in Faults");
    await vscode.commands.executeCommand("passthrough.runToStep", key, 0);
    const panel = await vscode.commands.executeCommand("passthrough.showTrace", key);
    try {
      await Promise.race([panel.whenFirstRows, sleep(60000)]);
      assert.strictEqual(await vscode.commands.executeCommand("passthrough.traceNextFault"), true);
      await until("the fault row selected", () => panel.lastSelection && panel.lastSelection.fault && panel.lastSelection.step === 2);
    } finally {
      panel.panel.dispose();
    }
  });
});

// Issue 19: the kernel's debugfs dumps as a real host's tables, from the clipboard to Mapping Tables.
describe("Host tables from a debugfs paste (issue 19)", function () {
  this.timeout(120000);
  it("a debugfs dump pasted from the clipboard opens as host tables: Mapping Tables shows the host's root table, context entry and page table", async () => {
    await open("healthy-nic");
    const pad = (v) => `0x${v.toString(16).padStart(16, "0")}`;
    // The Kabylake example of the kernel's Documentation/ABI/testing/debugfs-intel-iommu, as debugfs.c prints it.
    const paste = [
      "IOMMU dmar1: Root Table Address: 0x103027000",
      "B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry",
      `00:02.0\t${pad(0)}:${pad(0x10303e001)}\t${pad(0x102)}:${pad(0x1017f8001)}\t-1    \t${pad(0)}:${pad(0)}:${pad(0)}`,
      "",
      "Device 0000:00:02.0 @0x1017f8000",
      `${"IOVA_PFN".padEnd(17)}\t${"PML5E".padEnd(18)}\t${"PML4E".padEnd(18)}\t${"PDPE".padEnd(18)}\t${"PDE".padEnd(18)}\tPTE`,
      `0x000000008d800 |\t${pad(0)}\t${pad(0x1017f9003)}\t${pad(0x1017fa003)}\t${pad(0x1017fb003)}\t${pad(0x8d800003)}`,
    ].join("\n");
    await vscode.env.clipboard.writeText(paste);
    const decoded = await vscode.commands.executeCommand("passthrough.importEvidence", "clipboard");
    assert.ok(decoded, "a decoded document");
    assert.strictEqual(api.evidence.lastImport.records.filter((r) => r.kind === "vtd-debugfs").length, 6);
    // "Open as Host Tables" (the import's notification button) runs Create Scenario from Evidence on this import.
    const doc = await vscode.commands.executeCommand("passthrough.createScenarioFromEvidence", decoded.uri);
    assert.strictEqual(doc.languageId, "passthrough");
    assert.match(doc.getText(), /poke: \{ register: RTADDR, value: 0x103027000 \}/);
    await until("the host-tables scenario is active", () => api.scenarios.active === doc.uri.toString());
    const st = await api.whenRun(doc.uri);
    assert.strictEqual(st.totals.failedExpectations, 0);
    assert.strictEqual(st.totals.expectations, 1);
    // The cursor on the last step: every poke done, RTADDR on the host's root table.
    await vscode.commands.executeCommand("passthrough.runToStep", doc.uri.toString(), st.steps.length - 1);
    await until("views at the last step", () => api.views.tables.description === `before step ${st.steps.length} of ${st.steps.length}`);
    await vscode.commands.executeCommand("workbench.view.extension.passthrough");
    const tables = await until("the host's tables", async () => {
      const t = await expand("tables", 8);
      return t.some((n) => n.label === "Root table" && n.description === "@ 0x103027000") ? t : undefined;
    });
    assert.ok(tables.some((n) => n.label === "bus 00"), "root entry for bus 00");
    assert.ok(tables.some((n) => n.contextValue === "pte" && /IOVA 0x8d800000 → HPA 0x8d800000 \(4 KiB\)/.test(n.description)), tables.map((n) => `${n.label} ${n.description}`).join("\n"));
    // Translate Address walks the host's tables: the contract's trail from the root entry at 0x103027000.
    const ans = await vscode.commands.executeCommand("passthrough.translate", "00:02.0", "0x8d800abc", false);
    assert.strictEqual(ans.hpa, "0x8d800abc");
    assert.deepStrictEqual(ans.stages.map((s) => s.address), ["0x103027000", "0x10303e100", "0x1017f8000", "0x1017f9010", "0x1017fa360", "0x1017fb000"]);
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });
});
