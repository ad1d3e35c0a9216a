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
    assert.match(text, /Walk for `04:00\.0` write/);
    assert.match(text, /not present/);
  });

  it("Translate address reveals the walk in Mapping Tables", async () => {
    const { doc } = await open("dma-after-unmap");
    await vscode.commands.executeCommand("passthrough.runToStep", doc.uri.toString(), 3);
    const ans = await vscode.commands.executeCommand("passthrough.translate", "04:00.0", "0x100000", true);
    assert.strictEqual(ans.reason, 0);
    assert.ok(ans.revealId);
    await until("selection", () => api.views.tables.selection.length && api.views.tables.selection[0].id === ans.revealId).catch((e) => {
      throw new Error(`${e.message}: visible=${api.views.tables.visible} selection=${api.views.tables.selection.map((s) => s.id)} reveal=${ans.revealId}`);
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
      assert.match(doc.lineAt(l).text, /- map: \{ vm: hpc01, iova: 0xc0000000, size: 4KiB, perm: r/);
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
    assert.match(doc.getText(), /Cause 1: DMA to an IOVA that was never mapped/);
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
    assert.match(api.trees.faults.getTreeItem(recs[0]).label, /^line \d+: VT-d fault 0x05 PTE Write access is not set — 03:00\.1$/);
    const scenario = await api.evidence.createScenario();
    assert.strictEqual(scenario.languageId, "passthrough");
    const st = await api.whenRun(scenario.uri);
    assert.strictEqual(st.stale, false);
    assert.strictEqual(st.totals.failedExpectations, 0);
    assert.strictEqual(st.totals.expectations, faults);
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
    assert.ok(lenses.some((l) => l.command && /VT-d fault 0x06/.test(l.command.title)));
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
