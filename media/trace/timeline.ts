/**
 * The timeline of the whole run: event density per bucket (log scale), faults in red, step
 * boundaries as ticks, the cursor as a line; a click jumps to the row there.
 */
import { el } from "./dom.js";
import { isCancelled, type HostChannel } from "./host.js";
import { CancellationSource } from "../../src/protocol/rpc.js";
import * as l10n from "@vscode/l10n";
import type { TraceStore } from "./store.js";

export class Timeline {
  readonly canvas = el("canvas", { class: "timeline", height: "36", role: "img", "aria-label": l10n.t("Timeline: event density, faults in red, step boundaries as ticks; click to jump") });
  private tl: { events: ArrayLike<number>; faults: ArrayLike<number>; steps: ArrayLike<number> } | undefined;
  /** The timeline request on its way, cancelled by a newer draw. */
  private inflight: CancellationSource | undefined;
  /**
   * The theme's colors, read once (getComputedStyle forces a style pass: not on every scroll
   * frame) and again when VS Code switches themes (it sets vscode-light/-dark/-high-contrast on body).
   */
  private colors: ReturnType<typeof readColors> | undefined;
  /** Bars, faults and step ticks, drawn when the data, the size or the theme change; the cursor goes over a copy of them. */
  private readonly base = document.createElement("canvas");
  private cursorX = -1;

  constructor(
    private readonly host: HostChannel,
    private readonly store: TraceStore,
    /** A click on the timeline: the row of the event there. */
    private readonly jump: (row: number) => void,
  ) {
    new MutationObserver(() => {
      this.colors = undefined;
      this.drawBase();
    }).observe(document.body, { attributes: true, attributeFilter: ["class"] });
    this.canvas.addEventListener("click", (e) => {
      const { info, state } = store;
      const tl = this.tl;
      if (!info || !tl) return;
      const rect = this.canvas.getBoundingClientRect();
      const bucket = Math.floor(((e.clientX - rect.left) / rect.width) * tl.events.length);
      const event = Math.floor((bucket * info.summary.total) / tl.events.length);
      void host.request<{ row: number }>("traceLocate", { filter: state.filter, event }).then((r) => this.jump(Math.min(r.row, store.matched - 1)));
    });
  }

  /** Its first call comes as soon as it observes, before there is a trace: nothing to draw then (reload draws the timeline once the first rows are on screen). */
  observeSize(): void {
    new ResizeObserver(() => {
      if (this.store.info) void this.draw();
    }).observe(this.canvas);
  }

  async draw(): Promise<void> {
    const { canvas } = this;
    const width = Math.max(100, canvas.clientWidth || 800);
    // A resize or a new filter while the last timeline is on its way: only the newest is drawn.
    this.inflight?.cancel();
    const mine = (this.inflight = new CancellationSource());
    let tl: typeof this.tl;
    try {
      tl = await this.host.request("traceTimeline", { filter: this.store.state.filter, buckets: width }, mine.token);
    } catch (e) {
      if (isCancelled(e)) return;
      throw e;
    } finally {
      if (this.inflight === mine) this.inflight = undefined;
    }
    this.tl = tl;
    if (canvas.width !== width) canvas.width = width;
    this.drawBase();
  }

  private drawBase(): void {
    const { base, tl, canvas } = this;
    const ctx = base.getContext("2d");
    if (!ctx || !tl) return;
    // Read when first drawn, not when the script starts: getComputedStyle there forced a style pass before the first rows.
    const colors = (this.colors ??= readColors());
    const w = (base.width = canvas.width);
    const h = (base.height = canvas.height);
    ctx.clearRect(0, 0, w, h);
    let max = 1;
    for (let i = 0; i < tl.events.length; i++) max = Math.max(max, tl.events[i]!);
    ctx.fillStyle = colors.bar;
    for (let i = 0; i < tl.events.length; i++) {
      const v = tl.events[i]!;
      if (!v) continue;
      const bh = Math.max(1, Math.round((Math.log1p(v) / Math.log1p(max)) * (h - 10)));
      ctx.fillRect(i, h - bh, 1, bh);
    }
    ctx.fillStyle = colors.fault;
    for (let i = 0; i < tl.faults.length; i++) if (tl.faults[i]) ctx.fillRect(i, 0, 1, 6);
    // Step boundaries: a short subtle tick under the fault strip, once per bucket.
    ctx.fillStyle = colors.tick;
    ctx.globalAlpha = 0.6;
    let last = -1;
    for (let s = 0; s < tl.steps.length; s++) {
      const x = tl.steps[s]!;
      if (x !== last) ctx.fillRect(x, 6, 1, 4);
      last = x;
    }
    ctx.globalAlpha = 1;
    this.cursorX = -2;
    this.drawCursor();
  }

  /** Redraws only when the cursor moved (or the base changed): a copy of the base, then the cursor. */
  drawCursor(): void {
    const { canvas, tl } = this;
    const ctx = canvas.getContext("2d");
    if (!ctx || !tl) return;
    const { info, state } = this.store;
    const sel = state.selected;
    const x = sel !== undefined && info ? Math.floor((sel * tl.events.length) / Math.max(1, info.summary.total)) : -1;
    if (x === this.cursorX) return;
    this.cursorX = x;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(this.base, 0, 0);
    if (x >= 0) {
      ctx.fillStyle = (this.colors ??= readColors()).cursor;
      ctx.fillRect(Math.max(0, x - 1), 0, 2, canvas.height);
    }
  }
}

function readColors(): { bar: string; fault: string; cursor: string; tick: string } {
  const css = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return { bar: v("--vscode-charts-blue", "#3794ff"), fault: v("--vscode-errorForeground", "#f14c4c"), cursor: v("--vscode-focusBorder", "#007fd4"), tick: v("--vscode-descriptionForeground", "#999999") };
}
