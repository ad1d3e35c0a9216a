/**
 * Commands, per area (like vscode-js-debug's typed contributions): each commands*.ts module turns
 * the parts activate made (CommandContext) into a table of command id -> handler, and activate
 * registers the tables with registerCommands. The helpers several areas share live here.
 */
import * as vscode from "vscode";
import type { Radix, ViewId } from "../protocol/engine.js";
import type { EngineClient } from "./engineClient.js";
import type { ScenarioManager } from "./scenarios.js";
import type { EngineTree, NodeHandle } from "./trees.js";
import type { TracePanels } from "./tracePanel.js";
import type { EvidenceFeature } from "./evidence.js";
import type { CommandId } from "./contributions.js";

/** A command's handler (VS Code passes whatever the caller gave: a tree element, a Uri, arguments of executeCommand). */
export type CommandHandler = (...args: never[]) => unknown;
/** One area's commands: a contributed command id (package.json contributes.commands) -> its handler. */
export type Commands = Readonly<Partial<Record<CommandId, CommandHandler>>>;

/** What the commands work with: the parts activate made. */
export interface CommandContext {
  readonly ctx: vscode.ExtensionContext;
  readonly log: vscode.LogOutputChannel;
  readonly client: EngineClient;
  readonly scenarios: ScenarioManager;
  readonly trees: Record<ViewId, EngineTree>;
  readonly views: Record<ViewId, vscode.TreeView<NodeHandle>>;
  readonly tracePanels: TracePanels;
  readonly evidence: EvidenceFeature;
  /** The `passthrough` settings. */
  config(): vscode.WorkspaceConfiguration;
  radix(): Radix;
  /** Whether the views show the state after the cursor's step (the title toggle). */
  readonly stateView: { readonly after: boolean; setAfter(value: boolean): Promise<boolean> };
}

export function registerCommands(ctx: vscode.ExtensionContext, ...areas: Commands[]): void {
  for (const area of areas) for (const [id, fn] of Object.entries(area)) ctx.subscriptions.push(vscode.commands.registerCommand(id, fn as (...args: unknown[]) => unknown));
}

/** The scenario a command is about: its argument (a uri string or a Uri) or the active scenario. */
export function activeUri(cx: CommandContext, arg?: unknown): string | undefined {
  if (typeof arg === "string") return arg;
  if (arg instanceof vscode.Uri) return arg.toString();
  return cx.scenarios.active;
}

/** The active scenario, or a hint to open one (undefined). */
export function needScenario(cx: CommandContext): string | undefined {
  const uri = cx.scenarios.active;
  if (!uri) void vscode.window.showInformationMessage(vscode.l10n.t("Open a *.passthrough.yaml scenario first."), vscode.l10n.t("Open Example Scenarios")).then((a) => a && vscode.commands.executeCommand("passthrough.openExamples"));
  return uri;
}
