// Measurements in the real extension host (not assertions on time): run by
// `npm run bench:extension`, never by `npm test`. Prints one JSON line.
const assert = require("assert");
const vscode = require("vscode");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function scenario(steps, maps) {
  const lines = [
    "name: perf",
    "host:",
    "  memory: 64GiB",
    "  iommu: { model: intel-vtd, address-width: 48 }",
    "  pci:",
    '    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }',
    '    - { bdf: "01:00.0", id: "8086:1572", name: X710, parent: "00:01.0", driver: vfio-pci }',
    "vms:",
    "  - name: vm0",
    "    memory: 4GiB",
    '    devices: ["01:00.0"]',
    "    viommu: { model: intel, caching-mode: true }",
    "workload:",
    "  - start: vm0",
  ];
  for (let i = 0; i < maps; i++) lines.push(`  - guest-map: { vm: vm0, device: "01:00.0", iova: 0x${(0x40000000 + i * 0x1000).toString(16)}, size: 4KiB, perm: rw, gpa: 0x${(0x1000000 + i * 0x1000).toString(16)} }`);
  for (let i = lines.length; i < steps + 14 - 1; i++) lines.push(`  - dma: { device: "01:00.0", iova: 0x${(0x40000000 + (i % maps) * 0x1000).toString(16)}, length: 4KiB, write: true }`);
  return lines.join("\n") + "\n";
}

async function median(n, fn) {
  const xs = [];
  for (let i = 0; i < n; i++) xs.push(await fn(i));
  xs.sort((a, b) => a - b);
  return xs[Math.floor(n / 2)];
}

describe("extension performance", function () {
  this.timeout(120000);
  it("measures activation, edit -> diagnostics/trees, and a 512-entry expansion", async () => {
    const doc = await vscode.workspace.openTextDocument({ language: "passthrough", content: scenario(1000, 512) });
    await vscode.window.showTextDocument(doc);
    const ext = vscode.extensions.getExtension("passthrough-debugger.passthrough-debugger");
    while (!ext.isActive) await sleep(20);
    const api = ext.exports;
    let st = await api.whenRun(doc.uri);
    assert.strictEqual(st.steps.length, 1000);
    await vscode.commands.executeCommand("passthrough.tables.focus");
    await vscode.commands.executeCommand("passthrough.runToStep", doc.uri.toString(), 1000);
    await sleep(500);
    // Edit -> diagnostics published, and edit -> the visible trees refreshed.
    const editToDiag = [];
    const editToTrees = [];
    const workerMs = [];
    const hostSeen = [];
    const changeToTrees = [];
    for (let i = 0; i < 7; i++) {
      const line = doc.lineCount - 2;
      const t0 = performance.now();
      const diag = new Promise((ok) => {
        const sub = vscode.languages.onDidChangeDiagnostics((e) => {
          if (e.uris.some((u) => u.toString() === doc.uri.toString())) {
            sub.dispose();
            ok(performance.now() - t0);
          }
        });
      });
      const edit = new vscode.WorkspaceEdit();
      edit.insert(doc.uri, new vscode.Position(line, 0), `  # edit ${i}\n`);
      await vscode.workspace.applyEdit(edit);
      editToDiag.push(await diag);
      const tm = api.scenarios.timings.get(doc.uri.toString());
      const lr = api.trees.tables.lastRefresh;
      while (!(lr.end > tm.answeredAt && tm.answeredAt > 0)) await sleep(1);
      editToTrees.push(lr.end - t0);
      changeToTrees.push(lr.end - tm.scheduledAt);
      hostSeen.push(tm.answeredAt - tm.scheduledAt);
      workerMs.push(api.scenarios.states.get(doc.uri.toString()).elapsedMs);
    }
    st = await api.whenRun(doc.uri);
    // The level-1 table holding the 512 mappings: find it through Translate.
    const ans = await api.client.request("translate", { uri: doc.uri.toString(), device: "01:00.0", iova: "0x40000000", write: false });
    const l1 = ans.revealId.slice(0, ans.revealId.lastIndexOf("/"));
    let entries = 0;
    const expand = await median(7, async () => {
      const t0 = performance.now();
      const kids = await api.trees.tables.getChildren(api.trees.tables.handle(l1));
      for (const k of kids) api.trees.tables.getTreeItem(k);
      entries = kids.length;
      return performance.now() - t0;
    });
    const sorted = (xs) => [...xs].sort((a, b) => a - b);
    const med = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
    const result = {
      activation_ms: +api.activationMs.toFixed(2),
      steps: st.steps.length,
      engine_run_ms: st.elapsedMs,
      edit_to_diagnostics_ms_median: +med(editToDiag).toFixed(1),
      worker_update_ms_median: med(workerMs),
      change_event_to_state_ms_median: +med(hostSeen).toFixed(1),
      edit_to_trees_ms_median: +med(editToTrees).toFixed(1),
      change_event_to_trees_ms_median: +med(changeToTrees).toFixed(1),
      edit_to_trees_ms_max: +sorted(editToTrees).at(-1).toFixed(1),
      expand_level_entries: entries,
      expand_level_ms_median: +expand.toFixed(1),
    };
    console.log(`bench-extension: ${JSON.stringify(result)}`);
    assert.strictEqual(entries, 512);
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
  });
});
