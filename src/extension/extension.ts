/**
 * Activation: wires the engine worker (started lazily), the scenario manager, the four sidebar
 * trees, the editor features, the status bar and the commands (each area's in its commands*.ts
 * module). Everything heavy happens in the worker; this file only connects parts.
 */
import * as vscode from "vscode";
import * as l10n from "@vscode/l10n";
import type { Radix, SessionState, ViewId } from "../protocol/engine.js";
import { EngineClient, EngineRequestError } from "./engineClient.js";
import { ScenarioManager } from "./scenarios.js";
import { EngineTree, type NodeHandle } from "./trees.js";
import { registerEditorFeatures } from "./editor.js";
import { StatusBar } from "./statusBar.js";
import { CursorHighlight } from "./cursorHighlight.js";
import { programUri, registerDebugger } from "./debugging.js";
import { TracePanels } from "./tracePanel.js";
import { EvidenceFeature } from "./evidence.js";
import { CursorFollower } from "./follow.js";
import { describeState } from "../protocol/cursor.js";
import { registerCommands, type CommandContext } from "./commands.js";
import { scenarioCommands } from "./commandsScenario.js";
import { viewCommands } from "./commandsViews.js";
import { evidenceCommands } from "./commandsEvidence.js";
import { readSetting } from "./settings.js";
import { walkthroughCommands } from "./commandsWalkthrough.js";
import { trackWalkthroughContext } from "./walkthrough.js";
import { platform } from "./platform.js";

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
  // Modules that do not import vscode (runs, examples, the debug adapter) translate with @vscode/l10n: the same bundle.
  if (vscode.l10n.bundle) l10n.config({ contents: vscode.l10n.bundle });
  const log = vscode.window.createOutputChannel(vscode.l10n.t("Passthrough Debugger"), { log: true });
  ctx.subscriptions.push(log);
  const config = () => vscode.workspace.getConfiguration("passthrough");
  const radix = (): Radix => readSetting(config(), "radix");

  // eslint-disable-next-line prefer-const -- created below, after the client it needs; the client's callbacks read it (and may run before then)
  let scenarios: ScenarioManager | undefined;
  const client = new EngineClient({
    // dist/worker.cjs in the Node host, dist/web/worker.js in the web one (platform.ts / platform.web.ts).
    workerPath: platform.workerLocation(ctx),
    log,
    timeoutMs: () => readSetting(config(), "engineTimeout"),
    l10n: vscode.l10n.bundle,
    onRestart: (why) => {
      void vscode.window.showWarningMessage(vscode.l10n.t("Passthrough: the simulation worker was restarted ({0}). Open scenarios were rebuilt from their text.", why), vscode.l10n.t("Show Log")).then((a) => a && log.show());
      void scenarios?.rebuild();
    },
    onGiveUp: (why) => {
      scenarios?.abandonRebuild();
      const showLog = vscode.l10n.t("Show Log");
      void vscode.window
        .showErrorMessage(vscode.l10n.t("Passthrough: the simulation worker keeps stopping ({0}). Open scenarios were not rebuilt; an edit re-runs its scenario, or restart the engine.", why), vscode.l10n.t("Restart Simulation Engine"), showLog)
        .then((a) => (a === showLog ? log.show() : a ? vscode.commands.executeCommand("passthrough.restartEngine") : undefined));
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
      v.message = st?.stale ? vscode.l10n.t("The scenario has errors: stale, {0}.", sm.staleLabel(st.uri)) : undefined;
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
    return s.type === "passthrough" && typeof p === "string" ? programUri(p).toString() : undefined;
  };
  const follower = new CursorFollower({
    steps: (uri) => sm.states.get(uri)?.steps,
    cursor: (uri) => sm.states.get(uri)?.cursor,
    cursorMoves: (uri) => sm.cursorMoves(uri),
    debuggerOwns: (uri) => debugged.has(uri),
    setCursor: (uri, step) => void sm.setCursor(uri, step),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  });
  ctx.subscriptions.push(
    follower,
    sm.onDidClose((uri) => follower.forget(uri)),
    vscode.window.onDidChangeTextEditorSelection((e) => {
      const uri = e.textEditor.document.uri.toString();
      const byUser = e.kind === vscode.TextEditorSelectionChangeKind.Keyboard || e.kind === vscode.TextEditorSelectionChangeKind.Mouse;
      if (sm.states.has(uri) && e.selections.length === 1) follower.onSelection(uri, e.selections[0]!.active.line, byUser);
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

  // ---- commands, per area (commands*.ts)
  const cx: CommandContext = { ctx, log, client, scenarios: sm, trees, views, tracePanels, evidence, config, radix, stateView: { get after() { return after; }, setAfter } };
  registerCommands(ctx, scenarioCommands(cx), viewCommands(cx), evidenceCommands(cx), walkthroughCommands(cx));
  ctx.subscriptions.push(trackWalkthroughContext(cx));

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
