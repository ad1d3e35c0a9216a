/**
 * The walkthrough's commands: Debug Scenario (the editor title's button of a scenario), and the DMA
 * Trace's next/previous fault and step (the palette's, and the focused panel's keybindings F8,
 * Shift+F8, Alt+] and Alt+[), routed to the panel through its protocol ("navigate"), where they
 * move as the panel's own keys do.
 */
import * as vscode from "vscode";
import type { TraceNavigation } from "../protocol/webview.js";
import { activeUri, needScenario, type CommandContext, type Commands } from "./commands.js";
import { DEBUGGER_TYPE } from "./contributions.js";

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
    void vscode.window.showErrorMessage(vscode.l10n.t("Debug Scenario: cannot open {0}.", uri));
    return false;
  }
  const name = target.path.split("/").pop() ?? uri;
  const folder = vscode.workspace.getWorkspaceFolder(target);
  // A file by its path (as ${file} gives it); an untitled or remote scenario by its uri.
  const scenario = target.scheme === "file" ? target.fsPath : uri;
  return vscode.debug.startDebugging(folder, { type: DEBUGGER_TYPE, request: "launch", name: vscode.l10n.t("Debug {0}", name), scenario, stopOnEntry: false, stopOnFault: true });
}

function navigate(cx: CommandContext, action: TraceNavigation): boolean {
  const moved = cx.tracePanels.navigate(action, cx.scenarios.active);
  if (!moved) void vscode.window.showInformationMessage(vscode.l10n.t("Open the DMA Trace first (Passthrough: Show DMA Trace)."));
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
