/** Highlights the cursor's step in the scenario editor, as a debugger highlights the current line. */
import * as vscode from "vscode";
import type { ScenarioManager } from "./scenarios.js";

export class CursorHighlight implements vscode.Disposable {
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    isWholeLine: true,
    backgroundColor: new vscode.ThemeColor("editor.stackFrameHighlightBackground"),
    overviewRulerColor: new vscode.ThemeColor("editorOverviewRuler.infoForeground"),
    overviewRulerLane: vscode.OverviewRulerLane.Center,
  });
  private readonly subs: vscode.Disposable[];

  constructor(private readonly scenarios: ScenarioManager) {
    this.subs = [scenarios.onDidChange(() => this.paint()), vscode.window.onDidChangeVisibleTextEditors(() => this.paint())];
  }

  /** Lines currently highlighted, per document (tests read it). */
  readonly lines = new Map<string, number | undefined>();

  private paint(): void {
    for (const editor of vscode.window.visibleTextEditors) {
      const uri = editor.document.uri.toString();
      const st = this.scenarios.states.get(uri);
      if (!st) continue;
      const s = st.steps[st.cursor];
      this.lines.set(uri, s?.line);
      editor.setDecorations(this.decoration, s ? [new vscode.Range(s.line, 0, s.endLine, 0)] : []);
    }
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.decoration.dispose();
  }
}
