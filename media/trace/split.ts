/**
 * Between the rows and the walk: side by side when the panel is wide, one above the other when it
 * is narrow (trace.css); drag it, or focus it and use the arrow keys, to give one more room. The
 * size the user chose is kept in the panel's state.
 */
import { el } from "./dom.js";
import { ROW_HEIGHT } from "./rows.js";
import * as l10n from "@vscode/l10n";
import type { TraceStore } from "./store.js";

/** Side by side at this panel width and wider (trace.css has the same figure). */
const SIDE_BY_SIDE = "(min-width: 1000px)";
const MIN_GRID = 4 * ROW_HEIGHT;
const MIN_WALK = 72;

export class Split {
  readonly main = el("div", { class: "main" });
  private readonly splitter = el("div", { class: "splitter", role: "separator", tabindex: "0", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "50", "aria-label": l10n.t("Resize the rows and the walk"), title: l10n.t("Drag to resize (or focus and use the arrow keys)") });
  private readonly sideBySide = matchMedia(SIDE_BY_SIDE);

  constructor(
    private readonly grid: HTMLElement,
    private readonly walk: HTMLElement,
    private readonly store: TraceStore,
    /** The state changed (keep it); the rows need a render (their viewport changed). */
    private readonly on: { persist(): void; schedule(): void },
  ) {
    const { main, splitter } = this;
    main.append(grid, splitter, walk);
    this.sideBySide.addEventListener("change", () => this.fit());
    splitter.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      splitter.setPointerCapture(e.pointerId);
      splitter.classList.add("active");
      const move = (ev: PointerEvent) => {
        const box = main.getBoundingClientRect();
        this.resize(0, this.isSide() ? box.right - ev.clientX : ev.clientY - box.top);
      };
      const up = () => {
        splitter.classList.remove("active");
        splitter.removeEventListener("pointermove", move);
        splitter.removeEventListener("pointerup", up);
        splitter.removeEventListener("pointercancel", up);
      };
      splitter.addEventListener("pointermove", move);
      splitter.addEventListener("pointerup", up);
      splitter.addEventListener("pointercancel", up);
    });
    splitter.addEventListener("keydown", (e) => {
      const step = e.shiftKey ? 5 * ROW_HEIGHT : ROW_HEIGHT;
      const side = this.isSide();
      // Arrows move the splitter: Up/Left give the rows less room.
      const d = side ? (e.key === "ArrowLeft" ? step : e.key === "ArrowRight" ? -step : 0) : e.key === "ArrowUp" ? -step : e.key === "ArrowDown" ? step : 0;
      if (d) {
        e.preventDefault();
        this.resize(d);
      }
    });
    splitter.addEventListener("dblclick", () => {
      // Back to the automatic split.
      if (this.isSide()) delete store.state.walkWidth;
      else delete store.state.gridHeight;
      this.fit();
      this.on.persist();
    });
  }

  private isSide(): boolean {
    return this.sideBySide.matches;
  }

  /**
   * Sizes the split: the user's size when they dragged it (kept in the state), else, one above the
   * other, the rows get what they need (a 7-event run does not leave empty rows above a squeezed walk)
   * up to 55% of the height; side by side, CSS gives the walk about 38% of the width.
   */
  fit(): void {
    const { main, store } = this;
    const side = this.isSide();
    this.splitter.setAttribute("aria-orientation", side ? "vertical" : "horizontal");
    main.classList.toggle("side", side);
    if (side) {
      if (store.state.walkWidth) main.style.setProperty("--walk-w", `${store.state.walkWidth}px`);
      else main.style.removeProperty("--walk-w");
    } else if (store.state.gridHeight) main.style.setProperty("--grid-h", `${store.state.gridHeight}px`);
    else {
      // The header row, the rows, a horizontal scrollbar's height.
      const need = ROW_HEIGHT + 2 + Math.max(3, store.matched) * ROW_HEIGHT + 14;
      main.style.setProperty("--grid-h", `min(${need}px, 55%)`);
    }
  }

  private resize(delta: number, absolute?: number): void {
    const { state } = this.store;
    const box = this.main.getBoundingClientRect();
    if (this.isSide()) {
      const cur = absolute ?? this.walk.getBoundingClientRect().width - delta;
      state.walkWidth = Math.round(Math.max(200, Math.min(box.width - 320, cur)));
    } else {
      const cur = absolute ?? this.grid.getBoundingClientRect().height + delta;
      state.gridHeight = Math.round(Math.max(MIN_GRID, Math.min(box.height - MIN_WALK, cur)));
    }
    this.fit();
    this.on.persist();
    this.on.schedule();
    // (a focusable separator says where it is: the rows' share of the space, in percent)
    const rowsShare = this.isSide() ? 1 - (state.walkWidth ?? 0) / Math.max(1, box.width) : (state.gridHeight ?? 0) / Math.max(1, box.height);
    this.splitter.setAttribute("aria-valuenow", String(Math.round(rowsShare * 100)));
  }
}
