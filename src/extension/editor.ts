/**
 * The editor side of a scenario: diagnostics (with codes and hints), CodeLens on each workload
 * step (Run to here + its outcome), hovers decoded by the engine, and quick fixes the engine
 * computed as text edits (applied as one undoable WorkspaceEdit).
 */
import * as vscode from "vscode";
import { HOVER_COMMANDS, type EngineDiagnostic, type SessionState, type StepSummary } from "../protocol/engine.js";
import type { EngineClient } from "./engineClient.js";
import { LANGUAGE_ID, type ScenarioManager } from "./scenarios.js";
import { MAX_TOOLTIP, lensText, visibleText } from "./text.js";

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
      if (c.kind === "run") {
        diagnostics.set(doc.uri, toDiagnostics(doc, c.state));
        const t = scenarios.timings.get(c.uri);
        if (t) t.diagnosticsAt = performance.now();
      }
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
    const message = d.hint ? vscode.l10n.t("{0}\nHint: {1}", d.message, d.hint) : d.message;
    const diag = new PassthroughDiagnostic(new vscode.Range(start, end), message, SEVERITY[d.severity], d, state.stale ? -1 : state.version);
    diag.code = d.code;
    diag.source = "passthrough";
    return diag;
  });
}

/** Above this many steps a scenario's lenses carry only their range; VS Code resolves the visible ones. */
export const EAGER_LENS_STEPS = 100;

class StepLens extends vscode.CodeLens {
  constructor(
    range: vscode.Range,
    readonly uri: string,
    readonly state: SessionState,
    readonly step: StepSummary,
    readonly outcome: boolean,
  ) {
    super(range);
  }
}

export class CodeLensProvider implements vscode.CodeLensProvider<vscode.CodeLens> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.emitter.event;

  constructor(private readonly scenarios: ScenarioManager) {}

  changed(): void {
    this.emitter.fire();
  }

  /**
   * Two lenses per step: "Run to here" and the step's outcome. A large scenario (1 000 steps)
   * sends only ranges and lets VS Code resolve the lenses in view: each edit then ships a few
   * dozen commands to the workbench instead of 2 000.
   */
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const uri = doc.uri.toString();
    const st = this.scenarios.states.get(uri);
    if (!st) return [];
    const eager = st.steps.length <= EAGER_LENS_STEPS;
    const lenses: vscode.CodeLens[] = [];
    for (const s of st.steps) {
      if (s.line >= doc.lineCount) continue;
      const range = doc.lineAt(s.line).range;
      for (const outcome of [false, true]) {
        const lens = new StepLens(range, uri, st, s, outcome);
        lenses.push(eager ? this.resolveCodeLens(lens) : lens);
      }
    }
    // The run stopped early: the expects after it were never checked.
    for (const n of st.notReached ?? []) {
      if (n.line >= doc.lineCount) continue;
      const title = vscode.l10n.t("$(circle-slash) not reached: the run stopped early, this expect was not checked");
      const stop = Math.max(0, st.steps.length - 1);
      lenses.push(new vscode.CodeLens(doc.lineAt(n.line).range, { title, command: "passthrough.runToStep", arguments: [uri, stop], tooltip: vscode.l10n.t("Stopped early at {0}. Click: move the cursor to the step that stopped the run.", st.stoppedEarly !== undefined ? visibleText(st.stoppedEarly, MAX_TOOLTIP, true) : vscode.l10n.t("an earlier step")) }));
    }
    return lenses;
  }

  resolveCodeLens(lens: vscode.CodeLens): vscode.CodeLens {
    if (!(lens instanceof StepLens) || lens.command) return lens;
    const { uri, state: st, step: s } = lens;
    // While the text has errors the lenses show the last good run, each one saying so.
    const stale = st.stale ? vscode.l10n.t("$(history) stale · ") : "";
    const staleNote = st.stale ? vscode.l10n.t("\nStale: the text has errors; {0}.", this.scenarios.staleLabel(uri)) : "";
    if (!lens.outcome) {
      const here = st.cursor === s.step;
      lens.command = { title: `${stale}${here ? vscode.l10n.t("$(debug-stackframe) cursor here") : vscode.l10n.t("$(debug-continue) Run to here")}`, command: "passthrough.runToStep", arguments: [uri, s.step], tooltip: vscode.l10n.t("Move the cursor to this step: the sidebar shows the machine state just before it runs{0}", staleNote) };
    } else {
      const icon = s.expect ? (s.expect.pass ? "$(pass)" : "$(error)") : s.status === "ok" ? "$(check)" : s.status === "fault" ? "$(warning)" : "$(error)";
      // The summary names drivers, devices and groups from the scenario: text, made visible and clipped (text.ts).
      const outcome = `${s.summary}${s.expect && !s.expect.pass ? vscode.l10n.t(" — expect failed: {0}", s.expect.failures.join("; ")) : ""}`;
      lens.command = { title: `${stale}${icon} ${lensText(outcome)}`, command: "passthrough.runToStep", arguments: [uri, s.step + 1], tooltip: vscode.l10n.t("Step {0}: {1}{2}", s.step + 1, visibleText(s.summary, MAX_TOOLTIP, true), staleNote) };
    }
    return lens;
  }
}
