/**
 * The walk pane: the walk of the selected translation as the engine answered it (traceWalk: the
 * model's trail, every entry read and where it stopped), or what a slow-path event is.
 */
import type { SlowPathAnswer, TranslateAnswer } from "../../src/protocol/engine.js";
import { EVENT_KIND_NAMES } from "../../src/trace/trace.js";
import { clip, clipped, el } from "./dom.js";
import type { HostChannel } from "./host.js";
import { CancellationSource } from "../../src/protocol/rpc.js";
import * as l10n from "@vscode/l10n";
import type { TraceStore } from "./store.js";

export class WalkPane {
  /** The walk request on its way, cancelled when another row is selected first. */
  private inflight: CancellationSource | undefined;
  readonly el = el("div", { class: "walk", role: "region", "aria-label": l10n.t("Walk of the selected translation") });

  constructor(
    private readonly host: HostChannel,
    private readonly store: TraceStore,
  ) {}

  /** A link to step `step` (0-based): the host moves the shared cursor there (the rows follow it). */
  private stepLink(step: number, text: string): HTMLButtonElement {
    const b = el("button", { class: "text link", title: l10n.t("Go to step {0} (line {1})", step + 1, (this.store.steps[step]?.line ?? 0) + 1) }, text);
    b.addEventListener("click", () => this.host.post({ type: "gotoStep", step }));
    return b;
  }

  clear(): void {
    this.el.replaceChildren();
  }

  /**
   * The engine's answer about `event` for the pane (undefined when it failed or was cancelled). An
   * answer still on its way for the previous selection is not wanted any more: cancelled.
   */
  private async ask<T>(method: "traceWalk" | "traceSlowPath", event: number): Promise<T | undefined> {
    this.inflight?.cancel();
    const mine = (this.inflight = new CancellationSource());
    const answer = await this.host.request<T>(method, { event }, mine.token).catch(() => undefined);
    if (this.inflight === mine) this.inflight = undefined;
    return answer;
  }

  /** A translation's walk, unless another row was selected while it was on its way. */
  async showWalk(event: number): Promise<void> {
    const { store } = this;
    const pane = this.el;
    const w = await this.ask<TranslateAnswer & { event: number; step: number; device: string; pasid?: number }>("traceWalk", event);
    if (!w || store.state.selected !== event) return;
    pane.replaceChildren();
    // Names from the scenario (a device's, in the heading and the verdict) may be 1 MB: clipped, whole in the tooltip.
    // A request with PASID says so as Linux prints it ("PASID 0x%x"): the PASID column may be hidden in a narrow panel.
    const who = w.pasid !== undefined ? l10n.t("{0} · PASID {1}", clip(w.device), `0x${w.pasid.toString(16)}`) : clip(w.device);
    pane.append(el("h3", clip(w.device) === w.device ? {} : { title: w.device }, l10n.t("Event #{0} · step {1} (line {2}) · {3}", w.event, w.step + 1, (store.steps[w.step]?.line ?? 0) + 1, who)));
    pane.append(clipped("p", { class: w.reason ? "verdict fault" : "verdict ok" }, w.summary));
    const list = el("ol", { class: "stages" });
    for (const s of w.stages) {
      const li = el("li", { class: s.stop ? "stage stop" : "stage" });
      // The entry's name is the model's (the trail's: "root entry", "SL-PML4E"); the index reads as the table indexes it.
      const title = s.name ? s.name.charAt(0).toUpperCase() + s.name.slice(1) : s.kind;
      // The index as the engine names it (engine/walk.ts indexText): a bus, a devfn, the model's own text (a stream id).
      const name = `${title} [${s.kind === "root" ? l10n.t("bus {0}", s.indexText) : s.indexText}]`;
      li.append(el("div", { class: "stage-name" }, name));
      li.append(el("div", { class: "mono" }, `@ ${s.address} = ${s.raw.join(" ")}`));
      li.append(el("div", { class: "fields" }, s.fields.map(([k, v]) => `${k}=${v}`).join("  ")));
      if (s.stop) li.append(el("div", { class: "why" }, `✗ ${s.stop}`));
      list.append(li);
    }
    if (w.reason === 0 && w.hpa) list.append(el("li", { class: "stage page" }, w.iotlbHit ? l10n.t("Page → HPA {0} (from the IOTLB)", w.hpa) : l10n.t("Page → HPA {0}", w.hpa)));
    pane.append(list);
    // The entry where the walk stopped in view (F8 from far away: the failing level, not the root entry).
    const stop = list.querySelector<HTMLElement>(".stage.stop");
    pane.scrollTop = 0;
    if (stop && stop.offsetTop + stop.offsetHeight > pane.clientHeight) pane.scrollTop = stop.offsetTop + stop.offsetHeight - pane.clientHeight + 8;
  }

  /**
   * A slow-path event has no walk: say what it is (the engine's words for the host's model: a
   * queued command is named as its spec names it) and which step made it.
   */
  async showSlowPath(event: number, step: number, kind: number): Promise<void> {
    const { steps } = this.store;
    const pane = this.el;
    const a = await this.ask<SlowPathAnswer>("traceSlowPath", event);
    if (this.store.state.selected !== event) return;
    pane.replaceChildren();
    pane.append(el("h3", {}, l10n.t("Event #{0} · step {1} (line {2})", event, step + 1, (steps[step]?.line ?? 0) + 1)));
    pane.append(el("p", {}, l10n.t("{0} ({1} step)", a?.command?.name ?? EVENT_KIND_NAMES[kind] ?? "event", clip(steps[step]?.op ?? ""))));
    pane.append(clipped("p", { class: "fields" }, a?.text ?? l10n.t("(No description: the simulation worker did not answer.)")));
    if (a?.command) pane.append(el("p", { class: "mono" }, a.command.words.join(" ")));
    // QEMU made this VFIO call for the guest's vIOMMU: the guest action behind it, in the words of
    // the VM's vIOMMU model (the engine's answer), and a link to that step.
    if (a?.cause) {
      const p = el("p", { class: "cause" });
      p.append(el("span", {}, l10n.t("Caused by the guest: {0}", clip(a.cause.text))), " ", this.stepLink(a.cause.step, l10n.t("Go to guest step {0}", a.cause.step + 1)));
      pane.append(p);
    }
  }
}
