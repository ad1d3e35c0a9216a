/** Commands about imported evidence (kernel logs, configs): import, show a record, go to its log line, a scenario that reproduces it. */
import * as vscode from "vscode";
import type { CommandContext, Commands } from "./commands.js";

export function evidenceCommands(cx: CommandContext): Commands {
  const evidence = cx.evidence;
  return {
    "passthrough.importEvidence": (uri?: vscode.Uri) => evidence.importInteractive(uri instanceof vscode.Uri ? uri : undefined),
    "passthrough.showEvidence": (id?: string) => (typeof id === "string" ? evidence.reveal(id) : undefined),
    "passthrough.goToEvidenceLogLine": (arg?: string | { id: string }) => {
      const id = typeof arg === "string" ? arg : arg?.id;
      return id ? evidence.goToLogLine(id) : undefined;
    },
    "passthrough.createScenarioFromEvidence": (uri?: vscode.Uri) => evidence.createScenario(uri instanceof vscode.Uri ? uri : undefined),
  };
}
