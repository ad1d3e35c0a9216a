/**
 * The "Get started with Passthrough Debugger" walkthrough (package.json contributes.walkthroughs):
 * the context keys its steps' completionEvents wait for. (Its commands, Debug Scenario and the DMA
 * Trace's next/previous fault and step, are in commandsWalkthrough.ts.)
 *
 * A step is checked off by VS Code when its event happens: `onCommand:` when the command runs
 * through the workbench (a button, the palette, a keybinding), `onContext:` when the context key
 * becomes true. The keys are set here, from what the user really did: the cursor on a faulting
 * step (the sidebar shows it), a fault row selected in the trace, a passthrough debug session,
 * a decoded import.
 */
import * as vscode from "vscode";
import type { SessionState } from "../protocol/engine.js";
import type { CommandContext } from "./commands.js";
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
