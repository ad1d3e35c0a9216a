/**
 * The "Get started with Passthrough Debugger" walkthrough (package.json contributes.walkthroughs)
 * and the commands around it: the context keys its steps' completionEvents wait for, the editor
 * title's Debug Scenario button, and the DMA Trace's next/previous fault and step commands (the
 * palette's and the panel's keybindings), routed to the panel through its protocol ("navigate").
 *
 * A step is checked off by VS Code when its event happens: `onCommand:` when the command runs
 * through the workbench (a button, the palette, a keybinding), `onContext:` when the context key
 * becomes true. The keys are set here, from what the user really did: the cursor on a faulting
 * step (the sidebar shows it), a fault row selected in the trace, a passthrough debug session,
 * a decoded import.
 */
import * as vscode from "vscode";
import type { TraceNavigation } from "../protocol/webview.js";
import type { SessionState } from "../protocol/engine.js";
import { activeUri, needScenario, type CommandContext, type Commands } from "./commands.js";
import { DEBUGGER_TYPE, type ContextKey } from "./contributions.js";

/** Whether a run's cursor is on a step whose DMA faulted. */
export function cursorAtFault(st: SessionState | undefined): boolean {
  return st !== undefined && st.steps[st.cursor]?.status === "fault";
}

/** Keeps the walkthrough's context keys in step with the parts; returns what to dispose. */
export function trackWalkthroughContext(cx: CommandContext): vscode.Disposable {
  const { scenarios: sm, tracePanels, evidence } = cx;
  const subs: vscode.Disposable[] = [];
  // Each key is set only when its value changes (a setContext is a round trip to the workbench).
  const last = new Map<ContextKey, boolean>();
  // (test/unit/contributions.test.ts finds the keys set here by their setKey calls)
  const setKey = (key: ContextKey, value: boolean) => {
    if (last.get(key) === value) return;
    last.set(key, value);
    void vscode.commands.executeCommand("setContext", key, value);
  };
  const atFault = () => setKey("passthrough.cursorAtFault", cursorAtFault(sm.activeState));
  setKey("passthrough.cursorAtFault", false);
  setKey("passthrough.traceOpen", false);
  setKey("passthrough.traceAtFault", false);
  setKey("passthrough.debugging", false);
  setKey("passthrough.evidenceImported", false);
  const debugging = new Set<vscode.DebugSession>();
  subs.push(
    sm.onDidChange((c) => {
      if (c.uri === sm.active) atFault();
    }),
    sm.onDidChangeActive(atFault),
    tracePanels.onDidChangeOpen((n) => {
      setKey("passthrough.traceOpen", n > 0);
      if (n === 0) setKey("passthrough.traceAtFault", false);
    }),
    tracePanels.onDidSelect((s) => setKey("passthrough.traceAtFault", s.fault)),
    vscode.debug.onDidStartDebugSession((s) => {
      if (s.type !== DEBUGGER_TYPE) return;
      debugging.add(s);
      setKey("passthrough.debugging", true);
    }),
    vscode.debug.onDidTerminateDebugSession((s) => {
      if (debugging.delete(s)) setKey("passthrough.debugging", debugging.size > 0);
    }),
    evidence.onDidChange(() => setKey("passthrough.evidenceImported", true)),
  );
  atFault();
  return vscode.Disposable.from(...subs);
}

/**
 * Debug Scenario (the editor title's $(debug-alt) button, the palette): starts the passthrough
 * debugger on the scenario, its unsaved text included (the adapter reads the open document), as
 * F5 would without a launch.json. Returns whether a session started.
 */
async function debugScenario(cx: CommandContext, arg?: unknown): Promise<boolean> {
  const uri = activeUri(cx, arg) ?? needScenario(cx);
  if (!uri) return false;
  const target = vscode.Uri.parse(uri);
  const doc = cx.scenarios.document(uri) ?? (await vscode.workspace.openTextDocument(target).then(undefined, () => undefined));
  if (!doc) {
    void vscode.window.showErrorMessage(`Debug Scenario: cannot open ${uri}.`);
    return false;
  }
  const name = target.path.split("/").pop() ?? uri;
  const folder = vscode.workspace.getWorkspaceFolder(target);
  // A file by its path (as ${file} gives it); an untitled or remote scenario by its uri.
  const scenario = target.scheme === "file" ? target.fsPath : uri;
  return vscode.debug.startDebugging(folder, { type: DEBUGGER_TYPE, request: "launch", name: `Debug ${name}`, scenario, stopOnEntry: false, stopOnFault: true });
}

function navigate(cx: CommandContext, action: TraceNavigation): boolean {
  const moved = cx.tracePanels.navigate(action, cx.scenarios.active);
  if (!moved) void vscode.window.showInformationMessage("Open the DMA Trace first (Passthrough: Show DMA Trace).");
  return moved;
}

export function walkthroughCommands(cx: CommandContext): Commands {
  return {
    "passthrough.debugScenario": (arg?: unknown) => debugScenario(cx, arg),
    "passthrough.traceNextFault": () => navigate(cx, "nextFault"),
    "passthrough.tracePreviousFault": () => navigate(cx, "previousFault"),
    "passthrough.traceNextStep": () => navigate(cx, "nextStep"),
    "passthrough.tracePreviousStep": () => navigate(cx, "previousStep"),
  };
}
