/**
 * The editor side of a scenario: diagnostics (with codes and hints), CodeLens on each workload
 * step (Run to here + its outcome), hovers decoded by the engine, and quick fixes the engine
 * computed as text edits (applied as one undoable WorkspaceEdit).
 */
import * as vscode from "vscode";
import { HOVER_COMMANDS, type EngineDiagnostic, type SessionState } from "../protocol/engine.js";
import type { EngineClient } from "./engineClient.js";
import { LANGUAGE_ID, type ScenarioManager } from "./scenarios.js";

const SELECTOR: vscode.DocumentSelector = [{ language: LANGUAGE_ID }, { pattern: "**/*.passthrough.{yaml,yml}" }];
const SEVERITY = { error: vscode.DiagnosticSeverity.Error, warning: vscode.DiagnosticSeverity.Warning, info: vscode.DiagnosticSeverity.Information } as const;

class PassthroughDiagnostic extends vscode.Diagnostic {
  constructor(
    range: vscode.Range,
    message: string,
    severity: vscode.DiagnosticSeverity,
    readonly engine: EngineDiagnostic,
    /** Document version the fix offsets belong to. */
    readonly runVersion: number,
  ) {
    super(range, message, severity);
  }
}

export function registerEditorFeatures(ctx: vscode.ExtensionContext, scenarios: ScenarioManager, client: EngineClient, radix: () => "hex" | "dec"): { diagnostics: vscode.DiagnosticCollection; codeLens: CodeLensProvider } {
  const diagnostics = vscode.languages.createDiagnosticCollection("passthrough");
  const codeLens = new CodeLensProvider(scenarios);
  ctx.subscriptions.push(
    diagnostics,
    scenarios.onDidChange((c) => {
      const doc = scenarios.document(c.uri);
      if (!doc) return;
      if (c.kind === "run") diagnostics.set(doc.uri, toDiagnostics(doc, c.state));
      codeLens.changed();
    }),
    vscode.workspace.onDidCloseTextDocument((d) => diagnostics.delete(d.uri)),
    vscode.languages.registerCodeLensProvider(SELECTOR, codeLens),
    vscode.languages.registerHoverProvider(SELECTOR, {
      async provideHover(doc, pos, token) {
        if (!scenarios.states.has(doc.uri.toString())) return undefined;
        try {
          const line = doc.lineAt(pos.line).text;
          const h = await client.request("hover", { uri: doc.uri.toString(), line: pos.line, character: pos.character, lineText: line, radix: radix() });
          if (!h || token.isCancellationRequested) return undefined;
          const md = new vscode.MarkdownString(h.markdown);
          md.supportHtml = false;
          // Only the walk link's command runs from a hover: user text is escaped or in code spans.
          md.isTrusted = { enabledCommands: [...HOVER_COMMANDS] };
          return new vscode.Hover(md, new vscode.Range(pos.line, h.start, pos.line, h.end));
        } catch {
          return undefined;
        }
      },
    }),
    vscode.languages.registerCodeActionsProvider(SELECTOR, {
      provideCodeActions(doc, _range, context) {
        const out: vscode.CodeAction[] = [];
        for (const d of context.diagnostics) {
          if (!(d instanceof PassthroughDiagnostic) || !d.engine.fixes) continue;
          if (d.runVersion !== doc.version) continue; // offsets belong to older text
          for (const f of d.engine.fixes) {
            const a = new vscode.CodeAction(f.title, vscode.CodeActionKind.QuickFix);
            const edit = new vscode.WorkspaceEdit();
            for (const e of f.edits) edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.start), doc.positionAt(e.end)), e.text);
            a.edit = edit;
            a.diagnostics = [d];
            a.isPreferred = f.preferred ?? false;
            out.push(a);
          }
        }
        return out;
      },
    }, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] }),
  );
  return { diagnostics, codeLens };
}

function toDiagnostics(doc: vscode.TextDocument, state: SessionState): vscode.Diagnostic[] {
  return state.diagnostics.map((d) => {
    // Ranges are offsets into the text that was parsed: the document's text at `state.version`.
    const start = doc.positionAt(d.range.start);
    const end = d.range.end > d.range.start ? doc.positionAt(d.range.end) : doc.lineAt(Math.min(start.line, doc.lineCount - 1)).range.end;
    const message = d.hint ? `${d.message}\nHint: ${d.hint}` : d.message;
    const diag = new PassthroughDiagnostic(new vscode.Range(start, end), message, SEVERITY[d.severity], d, state.stale ? -1 : state.version);
    diag.code = d.code;
    diag.source = "passthrough";
    return diag;
  });
}

export class CodeLensProvider implements vscode.CodeLensProvider {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.emitter.event;

  constructor(private readonly scenarios: ScenarioManager) {}

  changed(): void {
    this.emitter.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const uri = doc.uri.toString();
    const st = this.scenarios.states.get(uri);
    if (!st) return [];
    const lenses: vscode.CodeLens[] = [];
    for (const s of st.steps) {
      if (s.line >= doc.lineCount) continue;
      const range = doc.lineAt(s.line).range;
      const here = st.cursor === s.step;
      lenses.push(new vscode.CodeLens(range, { title: here ? "$(debug-stackframe) cursor here" : "$(debug-continue) Run to here", command: "passthrough.runToStep", arguments: [uri, s.step], tooltip: "Move the cursor to this step: the sidebar shows the machine state just before it runs" }));
      const icon = s.expect ? (s.expect.pass ? "$(pass)" : "$(error)") : s.status === "ok" ? "$(check)" : s.status === "fault" ? "$(warning)" : "$(error)";
      const outcome = `${icon} ${s.summary}${s.expect && !s.expect.pass ? ` — expect failed: ${s.expect.failures.join("; ")}` : ""}`;
      lenses.push(new vscode.CodeLens(range, { title: outcome.length > 160 ? `${outcome.slice(0, 157)}…` : outcome, command: "passthrough.runToStep", arguments: [uri, s.step + 1], tooltip: `Step ${s.step + 1}: ${s.summary}${st.stale ? " (last good run: the text has errors)" : ""}` }));
    }
    return lenses;
  }
}
