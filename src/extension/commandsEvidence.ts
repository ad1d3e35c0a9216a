/** Commands about imported evidence (kernel logs, configs): import, show a record, go to its log line, a scenario that reproduces it. */
import * as vscode from "vscode";
import type { CommandContext, Commands } from "./commands.js";

export function evidenceCommands(cx: CommandContext): Commands {
  const evidence = cx.evidence;
  return {
    // A Uri imports that file; "clipboard" imports the clipboard without asking (a keybinding's argument).
    "passthrough.importEvidence": (arg?: vscode.Uri | "clipboard") => evidence.importInteractive(arg instanceof vscode.Uri || arg === "clipboard" ? arg : undefined),
    "passthrough.showEvidence": (id?: string) => (typeof id === "string" ? evidence.reveal(id) : undefined),
    "passthrough.goToEvidenceLogLine": (arg?: string | { id: string }) => {
      const id = typeof arg === "string" ? arg : arg?.id;
      return id ? evidence.goToLogLine(id) : undefined;
    },
    "passthrough.createScenarioFromEvidence": (uri?: vscode.Uri) => evidence.createScenario(uri instanceof vscode.Uri ? uri : undefined),
  };
}
