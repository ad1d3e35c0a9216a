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
    this.subs = [scenarios.onDidChange(() => this.update()), scenarios.onDidChangeRunning(() => this.update()), scenarios.onDidChangeActive(() => this.update())];
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
    if (!st) {
      this.item.text = "$(sync~spin) Passthrough: running…";
      this.item.tooltip = "The simulation worker is running the scenario";
    } else {
      // While a run is on its way the last state stays readable; the icon spins.
      const t = st.totals;
      const exp = t.expectations ? ` · ${t.expectations - t.failedExpectations}/${t.expectations} expect` : "";
      const icon = running ? "$(sync~spin)" : st.stale ? "$(warning)" : t.failedExpectations ? "$(error)" : t.faults ? "$(debug-breakpoint-log)" : "$(pass)";
      this.item.text = `${icon} ${plural(t.steps, "step")} · ${plural(t.faults, "fault")}${exp}${st.stale ? " · stale" : ""}`;
      const lines = [`Passthrough: ${plural(t.steps, "step")}, ${plural(t.events, "trace event")}, ${plural(t.faults, "DMA fault")}${t.expectations ? `, ${t.failedExpectations} of ${plural(t.expectations, "expectation")} failed` : ""}; ran in ${st.elapsedMs} ms`];
      if (st.stale) lines.push(`Stale: the text (version ${st.version}) has errors; ${this.scenarios.staleLabel(uri)}.`);
      if (running) lines.push("Re-running after your edit; a run with new faults shows once the text has settled.");
      if (st.stoppedEarly) lines.push(`Stopped early: ${st.stoppedEarly}`);
      lines.push("Click to go to a step.");
      this.item.tooltip = lines.join("\n");
      if (st.stale || t.failedExpectations) this.item.backgroundColor = new vscode.ThemeColor(st.stale ? "statusBarItem.warningBackground" : "statusBarItem.errorBackground");
    }
    this.item.show();
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.item.dispose();
  }
}
