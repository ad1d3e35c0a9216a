/** The status-bar item: the active scenario's state (steps, faults, expectations, running, stale). */
import { plural } from "../sim/plural.js";
import * as vscode from "vscode";
import type { ScenarioManager } from "./scenarios.js";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("passthrough.status", vscode.StatusBarAlignment.Left, 50);
  private readonly subs: vscode.Disposable[];

  constructor(private readonly scenarios: ScenarioManager) {
    this.item.name = "Passthrough scenario";
    this.item.command = "passthrough.goToStep";
    this.subs = [scenarios.onDidChange(() => this.update()), scenarios.onDidChangeActive(() => this.update())];
    this.update();
  }

  private update(): void {
    const uri = this.scenarios.active;
    const st = uri ? this.scenarios.states.get(uri) : undefined;
    if (!uri) {
      this.item.hide();
      return;
    }
    const running = this.scenarios.running.has(uri);
    this.item.backgroundColor = undefined;
    if (!st || running) {
      this.item.text = "$(sync~spin) Passthrough: running…";
      this.item.tooltip = "The simulation worker is running the scenario";
    } else {
      const t = st.totals;
      const exp = t.expectations ? ` · ${t.expectations - t.failedExpectations}/${t.expectations} expect` : "";
      const icon = st.stale ? "$(warning)" : t.failedExpectations ? "$(error)" : t.faults ? "$(debug-breakpoint-log)" : "$(pass)";
      this.item.text = `${icon} ${plural(t.steps, "step")} · ${plural(t.faults, "fault")}${exp}${st.stale ? " · stale" : ""}`;
      this.item.tooltip = `Passthrough: ${plural(t.steps, "step")}, ${plural(t.events, "trace event")}, ${plural(t.faults, "DMA fault")}${t.expectations ? `, ${t.failedExpectations} of ${plural(t.expectations, "expectation")} failed` : ""}; ran in ${st.elapsedMs} ms${st.stale ? "\nThe text has errors: the sidebar shows the last good run." : ""}${st.stoppedEarly ? `\nStopped early: ${st.stoppedEarly}` : ""}\nClick to go to a step.`;
      if (st.stale || t.failedExpectations) this.item.backgroundColor = new vscode.ThemeColor(st.stale ? "statusBarItem.warningBackground" : "statusBarItem.errorBackground");
    }
    this.item.show();
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.item.dispose();
  }
}
