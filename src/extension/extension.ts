/**
 * Activation: wires the engine worker (started lazily), the scenario manager, the four sidebar
 * trees, the editor features, the status bar and the commands. Everything heavy happens in the
 * worker; this file only connects parts.
 */
import * as vscode from "vscode";
import * as path from "node:path";
import type { Radix, SessionState, TranslateAnswer, ViewId } from "../protocol/engine.js";
import { EngineClient, EngineRequestError } from "./engineClient.js";
import { ScenarioManager, LANGUAGE_ID } from "./scenarios.js";
import { EngineTree, type NodeHandle } from "./trees.js";
import { registerEditorFeatures } from "./editor.js";
import { StatusBar } from "./statusBar.js";
import { CursorHighlight } from "./cursorHighlight.js";
import { registerDebugger } from "./debugging.js";
import { TracePanels } from "./tracePanel.js";
import { EvidenceFeature } from "./evidence.js";
import { openExamplesCommand } from "./examples.js";
import { CursorFollower } from "./follow.js";
import { describeState } from "../protocol/cursor.js";
import type { CommandId } from "./contributions.js";

const VIEWS: [ViewId, string][] = [
  ["vms", "passthrough.vms"],
  ["groups", "passthrough.groups"],
  ["tables", "passthrough.tables"],
  ["faults", "passthrough.faults"],
];

export interface PassthroughApi {
  client: EngineClient;
  scenarios: ScenarioManager;
  trees: Record<ViewId, EngineTree>;
  views: Record<ViewId, vscode.TreeView<NodeHandle>>;
  activationMs: number;
  tracePanels: TracePanels;
  evidence: EvidenceFeature;
  /** Resolves once the document's state for its current version has arrived. */
  whenRun(uri: vscode.Uri): Promise<SessionState>;
}

export function activate(ctx: vscode.ExtensionContext): PassthroughApi {
  const t0 = performance.now();
  const log = vscode.window.createOutputChannel("Passthrough Debugger", { log: true });
  ctx.subscriptions.push(log);
  const config = () => vscode.workspace.getConfiguration("passthrough");
  const radix = (): Radix => (config().get<string>("radix") === "dec" ? "dec" : "hex");

  let scenarios: ScenarioManager | undefined;
  const client = new EngineClient({
    workerPath: path.join(ctx.extensionPath, "dist", "worker.cjs"),
    log,
    timeoutMs: () => config().get<number>("engineTimeout", 20000),
    onRestart: (why) => {
      void vscode.window.showWarningMessage(`Passthrough: the simulation worker was restarted (${why}). Open scenarios were rebuilt from their text.`, "Show Log").then((a) => a && log.show());
      void scenarios?.rebuild();
    },
    onGiveUp: (why) => {
      void vscode.window
        .showErrorMessage(`Passthrough: the simulation worker keeps stopping (${why}). Open scenarios were not rebuilt; an edit re-runs its scenario, or restart the engine.`, "Restart Simulation Engine", "Show Log")
        .then((a) => (a === "Show Log" ? log.show() : a ? vscode.commands.executeCommand("passthrough.restartEngine") : undefined));
    },
  });
  ctx.subscriptions.push({ dispose: () => client.dispose() });
  scenarios = new ScenarioManager(client, log);
  const sm = scenarios;
  ctx.subscriptions.push(sm);
  // First listener of a new run: diagnostics reach the workbench before the trees re-query the worker.
  registerEditorFeatures(ctx, sm, client, radix);

  // ---- evidence (its records also show in the Faults view)
  const evidence = new EvidenceFeature(log, client, async () => {
    const uri = scenarios?.active;
    if (!uri) return [];
    const h = await client.request("iovaHistory", { uri });
    return h.map((x) => ({ kind: "ftrace" as const, line: x.line, endLine: x.line, column: 0, text: "", summary: `${x.event} ${x.iova}..${x.end}`, fields: { origin: "scenario", event: x.event, iova: x.iova, end: x.end, step: x.step, domain: x.domain, devices: x.devices.join(",") }, context: [] }));
  });
  ctx.subscriptions.push(evidence);

  // ---- trees
  /** The views show the state after the cursor's step (title toggle; context key passthrough.stateAfterStep). */
  let after = false;
  const trees = {} as Record<ViewId, EngineTree>;
  const views = {} as Record<ViewId, vscode.TreeView<NodeHandle>>;
  for (const [id, viewId] of VIEWS) {
    const tree = new EngineTree(id, client, sm, radix, id === "faults" ? evidence : undefined, () => after);
    const view = vscode.window.createTreeView(viewId, { treeDataProvider: tree, showCollapseAll: true });
    ctx.subscriptions.push(view.onDidCollapseElement((e) => tree.forget(e.element.id)));
    trees[id] = tree;
    views[id] = view;
    ctx.subscriptions.push(tree, view);
  }
  const describeViews = (st: SessionState | undefined) => {
    for (const [id] of VIEWS) {
      const v = views[id];
      v.description = st ? describeState(st.cursor, st.steps.length, after) : undefined;
      v.message = st?.stale ? `The scenario has errors: stale, ${sm.staleLabel(st.uri)}.` : undefined;
    }
  };
  const refreshTrees = () => {
    describeViews(sm.activeState);
    for (const [id] of VIEWS) void trees[id].refresh();
  };
  ctx.subscriptions.push(
    sm.onDidChange((c) => {
      if (c.uri === sm.active) refreshTrees();
    }),
    sm.onDidChangeActive(() => {
      void vscode.commands.executeCommand("setContext", "passthrough.hasScenario", sm.active !== undefined);
      describeViews(sm.activeState);
      for (const [id] of VIEWS) trees[id].reset();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("passthrough.radix")) {
        refreshTrees();
        tracePanels?.radixChanged();
      }
    }),
  );
  void vscode.commands.executeCommand("setContext", "passthrough.hasScenario", sm.active !== undefined);
  const setAfter = async (value: boolean) => {
    after = value;
    await vscode.commands.executeCommand("setContext", "passthrough.stateAfterStep", value);
    refreshTrees();
    return value;
  };
  void vscode.commands.executeCommand("setContext", "passthrough.stateAfterStep", false);

  // ---- the trees follow the editor's text cursor (debounced); a debug session of the scenario
  // owns the cursor while it runs, and then the text cursor does not move it.
  const debugged = new Set<string>();
  const scenarioOf = (s: vscode.DebugSession): string | undefined => {
    const p = (s.configuration.scenario ?? s.configuration.program) as unknown;
    return s.type === "passthrough" && typeof p === "string" ? vscode.Uri.file(p).toString() : undefined;
  };
  const follower = new CursorFollower({
    steps: (uri) => sm.states.get(uri)?.steps,
    cursor: (uri) => sm.states.get(uri)?.cursor,
    debuggerOwns: (uri) => debugged.has(uri),
    setCursor: (uri, step) => void sm.setCursor(uri, step),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  });
  ctx.subscriptions.push(
    follower,
    vscode.window.onDidChangeTextEditorSelection((e) => {
      const uri = e.textEditor.document.uri.toString();
      if (sm.states.has(uri) && e.selections.length === 1) follower.onSelection(uri, e.selections[0]!.active.line);
    }),
    vscode.debug.onDidStartDebugSession((s) => {
      const uri = scenarioOf(s);
      if (uri) debugged.add(uri);
    }),
    vscode.debug.onDidTerminateDebugSession((s) => {
      const uri = scenarioOf(s);
      if (uri) debugged.delete(uri);
    }),
  );

  // ---- debugger, trace webview
  registerDebugger(ctx, client, sm);
  const tracePanels = new TracePanels(ctx, client, sm, radix, log);
  ctx.subscriptions.push(tracePanels);

  // ---- status bar, cursor line (the editor features are registered first, above)
  ctx.subscriptions.push(new StatusBar(sm), new CursorHighlight(sm));

  // ---- commands
  const activeUri = (arg?: unknown): string | undefined => {
    if (typeof arg === "string") return arg;
    if (arg instanceof vscode.Uri) return arg.toString();
    return sm.active;
  };
  const needScenario = (): string | undefined => {
    const uri = sm.active;
    if (!uri) void vscode.window.showInformationMessage("Open a *.passthrough.yaml scenario first.", "Open Example Scenarios").then((a) => a && vscode.commands.executeCommand("passthrough.openExamples"));
    return uri;
  };
  const revealLine = async (uri: string, step: number) => {
    const st = sm.states.get(uri);
    const s = st?.steps[Math.min(step, (st?.steps.length ?? 1) - 1)];
    const doc = sm.document(uri);
    if (!s || !doc) return;
    const editor = await vscode.window.showTextDocument(doc, { preserveFocus: false, preview: false });
    const pos = new vscode.Position(s.line, 0);
    editor.selection = new vscode.Selection(pos, pos);
    editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  };
  const translate = async (device?: string, iova?: string, write?: boolean, atStep?: number | null): Promise<TranslateAnswer | undefined> => {
    const uri = needScenario();
    if (!uri) return undefined;
    try {
      // From a hover's "Full walk" link: the walk at the hovered step, so the views go there too.
      if (typeof atStep === "number") {
        if (after) await setAfter(false);
        await sm.setCursor(uri, atStep);
      }
      if (device === undefined) {
        const devices = await client.request("devices", { uri });
        const pick = await vscode.window.showQuickPick(devices.map((d) => ({ label: d.key, description: d.label.slice(d.key.length).trim() })), { title: "Translate address: device", placeHolder: "The requesting device (its requester id selects the context entry)" });
        if (!pick) return undefined;
        device = pick.label;
      }
      if (iova === undefined) {
        iova = await vscode.window.showInputBox({
          title: `Translate address for ${device}: IOVA`,
          placeHolder: "0x10000000",
          prompt: "The I/O virtual address the device puts on the bus (hex with 0x, or decimal; _ allowed)",
          validateInput: (v) => (/^\s*(0x[0-9a-f_]+|\d[\d_]*)\s*$/i.test(v) ? undefined : "An address: 0x1234_5000 or 305418240"),
        });
        if (iova === undefined) return undefined;
      }
      if (write === undefined) {
        const dir = await vscode.window.showQuickPick([{ label: "Read", description: "DMA read (device reads memory)" }, { label: "Write", description: "DMA write (device writes memory)" }], { title: `Translate ${iova} for ${device}: direction` });
        if (!dir) return undefined;
        write = dir.label === "Write";
      }
      const ans = await client.request("translate", { uri, device, iova, write, after });
      const at = ans.state ? ` (${ans.state})` : "";
      log.info(`translate ${device} ${write ? "write" : "read"} ${iova}${at}: ${ans.summary}`);
      for (const s of ans.stages) log.info(`  ${s.kind}${s.level ? ` L${s.level}` : ""}[${s.index}] @ ${s.address} = ${s.raw.join(" ")} ${s.fields.map(([k, v]) => `${k}=${v}`).join(" ")}${s.stop ? `  <- ${s.stop}` : ""}`);
      if (ans.revealId) {
        const shown = views.tables.visible;
        const roots = shown ? Promise.resolve() : trees.tables.whenRootsServed(2000);
        await vscode.commands.executeCommand("passthrough.tables.focus");
        await roots;
        // A refresh of the tree still on its way (the cursor just moved, a run just ended) can
        // replace the revealed element and drop the selection: reveal again once it has landed.
        for (let attempt = 1; attempt <= 3; attempt++) {
          await views.tables.reveal(trees.tables.handle(ans.revealId), { select: true, focus: true, expand: true });
          await new Promise((ok) => setTimeout(ok, 100));
          const selected = views.tables.selection.map((h) => h.id);
          log.debug(`revealed ${ans.revealId} (attempt ${attempt}); selection ${selected.join(",")}`);
          if (selected[0] === ans.revealId) break;
        }
      }
      const show = ans.reason === 0 ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
      void show(`${device} ${write ? "write" : "read"} ${iova}${at}: ${ans.summary}`, "Show Walk in Log").then((a) => a && log.show(true));
      return ans;
    } catch (e) {
      void vscode.window.showErrorMessage(`Translate address: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  const reg = (id: CommandId, fn: (...args: never[]) => unknown) => ctx.subscriptions.push(vscode.commands.registerCommand(id, fn as (...args: unknown[]) => unknown));

  reg("passthrough.rerun", async (arg?: unknown) => {
    const uri = activeUri(arg) ?? needScenario();
    if (!uri) return undefined;
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: "Passthrough: running scenario" }, () => sm.rerun(uri));
  });
  reg("passthrough.translate", (device?: string, iova?: string, write?: boolean, atStep?: number | null) => translate(device, iova, write, atStep));
  reg("passthrough.translateDevice", (h?: NodeHandle) => {
    const node = h ? trees.groups.node(h.id) ?? trees.vms.node(h.id) ?? trees.tables.node(h.id) : undefined;
    return translate(node?.device);
  });
  reg("passthrough.runToStep", async (uri?: string, step?: number) => {
    const u = activeUri(uri);
    if (!u || step === undefined) return undefined;
    return sm.setCursor(u, step);
  });
  // From a tree item's click (its step) or its inline button (VS Code passes the tree element).
  reg("passthrough.revealStep", async (arg?: number | { id: string }) => {
    const uri = sm.active;
    const step = typeof arg === "number" ? arg : arg && typeof arg.id === "string" ? trees.faults.node(arg.id)?.step : undefined;
    if (!uri || step === undefined) return;
    await sm.setCursor(uri, step);
    await revealLine(uri, step);
  });
  reg("passthrough.goToStep", async (step?: number) => {
    const uri = needScenario();
    const st = uri ? sm.states.get(uri) : undefined;
    if (!uri || !st) return undefined;
    if (step === undefined) {
      const pick = await vscode.window.showQuickPick(
        st.steps.map((s) => ({ label: `${s.step + 1}. ${s.op}`, description: `line ${s.line + 1}`, detail: s.summary, step: s.step, iconPath: new vscode.ThemeIcon(s.status === "ok" ? "pass" : s.status === "fault" ? "warning" : "error") })),
        { title: "Go to step: the sidebar shows the machine before it runs", matchOnDetail: true },
      );
      if (!pick) return undefined;
      step = pick.step;
    }
    const r = await sm.setCursor(uri, step);
    await revealLine(uri, step);
    return r;
  });
  reg("passthrough.toggleRadix", async () => {
    await config().update("radix", radix() === "hex" ? "dec" : "hex", vscode.ConfigurationTarget.Global);
    return radix();
  });
  reg("passthrough.showStateAfterStep", () => setAfter(true));
  reg("passthrough.showStateBeforeStep", () => setAfter(false));
  reg("passthrough.showLog", () => log.show());
  reg("passthrough.importEvidence", (uri?: vscode.Uri) => evidence.importInteractive(uri instanceof vscode.Uri ? uri : undefined));
  reg("passthrough.showEvidence", (id?: string) => (typeof id === "string" ? evidence.reveal(id) : undefined));
  reg("passthrough.goToEvidenceLogLine", (arg?: string | { id: string }) => {
    const id = typeof arg === "string" ? arg : arg?.id;
    return id ? evidence.goToLogLine(id) : undefined;
  });
  reg("passthrough.createScenarioFromEvidence", (uri?: vscode.Uri) => evidence.createScenario(uri instanceof vscode.Uri ? uri : undefined));
  reg("passthrough.showTrace", (arg?: unknown) => {
    const uri = activeUri(arg) ?? needScenario();
    return uri ? tracePanels.open(uri) : undefined;
  });
  reg("passthrough.copyValue", async (h?: NodeHandle) => {
    if (!h) return;
    const node = VIEWS.map(([id]) => trees[id].node(h.id)).find(Boolean);
    const text = node?.copy ?? node?.label;
    if (text) await vscode.env.clipboard.writeText(text);
  });
  reg("passthrough.restartEngine", () => client.restart("restart requested from the command palette"));
  reg("passthrough.newScenario", async () => {
    const dir = vscode.Uri.joinPath(ctx.extensionUri, "examples");
    const entries = (await vscode.workspace.fs.readDirectory(dir)).filter(([n]) => n.endsWith(".passthrough.yaml")).sort();
    const items = await Promise.all(entries.map(async ([n]) => {
      const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(dir, n)));
      const title = /^name:\s*(.+)$/m.exec(text)?.[1] ?? n;
      const about = text.split("\n").filter((l) => l.startsWith("#")).map((l) => l.replace(/^#\s?/, "")).join(" ");
      return { label: title, description: n.replace(".passthrough.yaml", ""), detail: about, text };
    }));
    const pick = await vscode.window.showQuickPick(items, { title: "New scenario from a template", matchOnDetail: true });
    if (!pick) return undefined;
    const doc = await vscode.workspace.openTextDocument({ language: LANGUAGE_ID, content: pick.text });
    await vscode.window.showTextDocument(doc);
    return doc.uri.toString();
  });
  reg("passthrough.openExamples", openExamplesCommand(vscode, ctx.extensionUri, LANGUAGE_ID));

  const whenRun = (uri: vscode.Uri): Promise<SessionState> =>
    new Promise((resolve) => {
      const key = uri.toString();
      const doc = sm.document(key);
      const now = sm.states.get(key);
      if (now && doc && now.version === doc.version && !sm.running.has(key)) return resolve(now);
      const sub = sm.onDidChange((c) => {
        const d = sm.document(key);
        if (c.uri === key && c.kind === "run" && d && c.state.version === d.version) {
          sub.dispose();
          resolve(c.state);
        }
      });
    });

  const activationMs = performance.now() - t0;
  log.info(`activated in ${activationMs.toFixed(1)} ms (worker starts on first use)`);
  return { client, scenarios: sm, trees, views, activationMs, whenRun, tracePanels, evidence };
}

export function deactivate(): void {}

export { EngineRequestError };
