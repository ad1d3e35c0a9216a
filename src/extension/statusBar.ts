/** The status-bar item: the active scenario's state (steps, faults, expectations, running, stale). */
import * as vscode from "vscode";
import type { ScenarioManager } from "./scenarios.js";

/** "1 step", "2 steps" (a count with its noun, translatable as a whole). */
const steps = (n: number): string => (n === 1 ? vscode.l10n.t("1 step") : vscode.l10n.t("{0} steps", n));
const faults = (n: number): string => (n === 1 ? vscode.l10n.t("1 fault") : vscode.l10n.t("{0} faults", n));

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("passthrough.status", vscode.StatusBarAlignment.Left, 50);
  private readonly subs: vscode.Disposable[];

  constructor(private readonly scenarios: ScenarioManager) {
    this.item.name = vscode.l10n.t("Passthrough scenario");
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
      this.item.text = vscode.l10n.t("$(sync~spin) Passthrough: running…");
      this.item.tooltip = vscode.l10n.t("The simulation worker is running the scenario");
    } else {
      // While a run is on its way the last state stays readable; the icon spins.
      const t = st.totals;
      const exp = t.expectations ? vscode.l10n.t(" · {0}/{1} expect", t.expectations - t.failedExpectations, t.expectations) : "";
      const icon = running ? "$(sync~spin)" : st.stale ? "$(warning)" : t.failedExpectations ? "$(error)" : t.faults ? "$(debug-breakpoint-log)" : "$(pass)";
      this.item.text = vscode.l10n.t("{0} {1} · {2}{3}{4}", icon, steps(t.steps), faults(t.faults), exp, st.stale ? vscode.l10n.t(" · stale") : "");
      const lines = [vscode.l10n.t("Passthrough: {0}, {1}, {2}{3}; ran in {4} ms", steps(t.steps), t.events === 1 ? vscode.l10n.t("1 trace event") : vscode.l10n.t("{0} trace events", t.events), t.faults === 1 ? vscode.l10n.t("1 DMA fault") : vscode.l10n.t("{0} DMA faults", t.faults), t.expectations ? (t.expectations === 1 ? vscode.l10n.t(", {0} of 1 expectation failed", t.failedExpectations) : vscode.l10n.t(", {0} of {1} expectations failed", t.failedExpectations, t.expectations)) : "", st.elapsedMs)];
      if (st.stale) lines.push(vscode.l10n.t("Stale: the text (version {0}) has errors; {1}.", st.version, this.scenarios.staleLabel(uri)));
      if (running) lines.push(vscode.l10n.t("Re-running after your edit; a run with new faults shows once the text has settled."));
      if (st.stoppedEarly) lines.push(vscode.l10n.t("Stopped early: {0}", st.stoppedEarly));
      lines.push(vscode.l10n.t("Click to go to a step."));
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
