/**
 * Wires the `passthrough` debugger into VS Code: a configuration provider (F5 on a scenario works
 * without a launch.json), the inline adapter factory, and the EngineLink the adapter uses — the
 * same worker and the same shared cursor as the trees and the editor.
 */
import * as vscode from "vscode";
import type { EngineLink } from "../debug/adapter.js";
import type { EngineClient } from "./engineClient.js";
import { isScenario, type ScenarioManager } from "./scenarios.js";

export const DEBUG_TYPE = "passthrough";

/**
 * A launch configuration's `scenario` for a document: a path for a local file, the URI for any
 * other scheme (a virtual or remote workspace, VS Code for the Web), where a path would lose it.
 */
export function scenarioProgram(uri: vscode.Uri): string {
  return uri.scheme === "file" ? uri.fsPath : uri.toString();
}

/** The document a launch configuration's `scenario` (or `program`) names: a URI, or a local path. */
export function programUri(program: string): vscode.Uri {
  return /^[a-z][a-z0-9+.-]*:/i.test(program) && !/^[a-zA-Z]:[\\/]/.test(program) ? vscode.Uri.parse(program) : vscode.Uri.file(program);
}

export function registerDebugger(ctx: vscode.ExtensionContext, client: EngineClient, scenarios: ScenarioManager): void {
  ctx.subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, {
      resolveDebugConfiguration(_folder, config) {
        if (!config.type && !config.request && !config.name) {
          const doc = vscode.window.activeTextEditor?.document;
          if (doc && isScenario(doc)) {
            return { type: DEBUG_TYPE, request: "launch", name: vscode.l10n.t("Debug scenario"), scenario: scenarioProgram(doc.uri), stopOnEntry: false, stopOnFault: true };
          }
        }
        if (!config.scenario && !config.program) {
          const doc = vscode.window.activeTextEditor?.document;
          if (doc && isScenario(doc)) config.scenario = scenarioProgram(doc.uri);
          else {
            void vscode.window.showInformationMessage(vscode.l10n.t("Open a *.passthrough.yaml scenario to debug it."));
            return undefined;
          }
        }
        return config;
      },
    }),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, {
      async createDebugAdapterDescriptor() {
        // Loaded on the first debug session, not at activation (@vscode/debugadapter and node:net).
        const { PassthroughDebugSession } = await import("../debug/adapter.js");
        return new vscode.DebugAdapterInlineImplementation(new PassthroughDebugSession(linkFor(client, scenarios)));
      },
    }),
  );
}

function linkFor(client: EngineClient, scenarios: ScenarioManager): EngineLink {
  return {
    // A step while a restarted worker's sessions are rebuilt waits for them (and is sent again if the worker died under it).
    request: (method, params) => scenarios.gate.call(() => client.request(method, params)),
    open: async (program) => {
      let doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === program || d.uri.toString() === program);
      try {
        doc ??= await vscode.workspace.openTextDocument(programUri(program));
      } catch (e) {
        return { error: vscode.l10n.t("cannot open {0}: {1}", program, e instanceof Error ? e.message : String(e)) };
      }
      scenarios.track(doc);
      const uri = doc.uri.toString();
      const state = (await scenarios.send(doc)) ?? scenarios.states.get(uri);
      if (!state) return { error: vscode.l10n.t("{0} could not be run", program) };
      return { uri, state };
    },
    setCursor: (uri, step) => void scenarios.setCursor(uri, step),
    onDidRun: (listener) => scenarios.onDidChange((c) => {
      if (c.kind === "run") listener(c.uri, c.state);
    }),
  };
}
