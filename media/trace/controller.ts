/**
 * What the panel does: reload a run's rows (counts, filters, the cursor's row), select a row (the
 * shared cursor, the walk), jump between faults and steps, and follow the host's messages. It
 * holds the parts; each part holds its own DOM and state.
 */
import type { TraceFilter, TraceInfo } from "../../src/protocol/engine.js";
import type { ToWebview } from "../../src/protocol/webview.js";
import { groupDigits, type MessageLine } from "./dom.js";
import * as l10n from "@vscode/l10n";
import type { HostChannel } from "./host.js";
import { PAGE, type PageCache } from "./pages.js";
import type { RowList } from "./rows.js";
import type { Split } from "./split.js";
import type { TraceStore } from "./store.js";
import type { Timeline } from "./timeline.js";
import type { Toolbar } from "./toolbar.js";
import type { WalkPane } from "./walk.js";

export interface Parts {
  host: HostChannel;
  store: TraceStore;
  pages: PageCache;
  rows: RowList;
  toolbar: Toolbar;
  timeline: Timeline;
  walk: WalkPane;
  split: Split;
  message: MessageLine;
}

export class TraceController {
  /** Whether the last selection the host heard of was a fault row. */
  private selectedFault = false;

  constructor(private readonly p: Parts) {}

  persist(): void {
    this.p.host.persist(this.p.store.state);
  }

  /** Keeps the panel's scenario in the saved state, so that a reload restores this scenario's trace. */
  private rememberUri(uri: string): void {
    const { store, host } = this.p;
    if (store.state.uri === uri) return;
    store.state.uri = uri;
    host.persist(store.state);
  }

  /** The filters or compare changed: keep them, reload with the cursor where it is. */
  filter(filter: TraceFilter, compare: boolean): void {
    const { store } = this.p;
    store.state.filter = filter;
    store.state.compare = compare;
    this.persist();
    void this.reload(store.cursorStep);
  }

  exportRows(format: "csv" | "json"): void {
    this.p.host.post({ type: "export", format, filter: this.p.store.state.filter });
  }

  toggleRadix(): void {
    this.p.host.post({ type: "toggleRadix" });
  }

  /** Fetches counts and the timeline, drops cached pages, keeps the cursor on `step`. */
  async reload(step: number): Promise<void> {
    const { host, store, pages, rows, toolbar, timeline, split, message } = this.p;
    const { state } = store;
    pages.reset();
    const gen0 = pages.generation;
    store.invalidateRows();
    // Ask for the counts, the cursor's row and the first page at once: the first rows appear
    // one round trip after the panel opens, not three. A panel usually opens at step 0, whose
    // first row is row 0: its page is asked for now, not after traceLocate's answer (load asks
    // once, so the located page is not fetched twice).
    if (step === 0) void pages.load(0);
    const located = host.request<{ row: number }>("traceLocate", { filter: state.filter, step });
    const first = located.then((l) => pages.load(Math.floor(l.row / PAGE)));
    let info: TraceInfo;
    try {
      info = await host.request<TraceInfo>("traceInfo", { filter: state.filter, compare: state.compare });
    } catch (e) {
      if (gen0 === pages.generation) pages.failed = true;
      message.show(l10n.t("The trace is not available: {0}", (e as Error).message));
      return;
    }
    store.setInfo(info);
    const matched = store.matched;
    rows.grid.classList.toggle("compare", state.compare);
    // The PASID column only for a scenario with PASIDs (trace.css hides it otherwise).
    rows.grid.classList.toggle("pasid", info.usesPasid === true);
    split.fit();
    store.invalidateRows();
    toolbar.fill(info, state);
    const s = info.summary;
    // Index and step columns as wide as their largest number (trace.css).
    rows.grid.style.setProperty("--index-digits", String(String(Math.max(0, s.total - 1)).length));
    rows.grid.style.setProperty("--step-digits", String(String(Math.max(1, store.steps.length)).length));
    toolbar.setCounts(l10n.t("{0} · {1}{2}", s.total === 1 ? l10n.t("{0} of {1} event", groupDigits(matched), groupDigits(s.total)) : l10n.t("{0} of {1} events", groupDigits(matched), groupDigits(s.total)), s.faults === 1 ? l10n.t("{0} fault", groupDigits(s.faults)) : l10n.t("{0} faults", groupDigits(s.faults)), state.compare && info.removed ? l10n.t(" · {0} removed since the previous run", groupDigits(info.removed)) : ""));
    rows.scroller.setAttribute("aria-rowcount", String(matched + 1));
    rows.setCount(matched);
    rows.measure();
    message.hide();
    if (matched === 0) message.show(l10n.t("No events match the filter."), true);
    rows.schedule();
    // Keep the cursor on the same step where it still exists.
    const loc = await located;
    await first;
    // The first rows now, not in the next frame: with the answers in the document this runs while
    // the script starts, before the browser's first frame.
    if (rows.empty && gen0 === pages.generation) rows.render();
    // The timeline (a request, its answer and a canvas draw) waits until the first rows have been
    // rendered (a frame callback queued after the render's) and painted (the task after it): the
    // rows are what the user waits for.
    const gen = pages.generation;
    requestAnimationFrame(() => setTimeout(() => gen === pages.generation && void timeline.draw()));
    if (store.matched > 0) await this.select(Math.min(loc.row, store.matched - 1), false);
  }

  /** Selects a row (clamped to the rows there are), shows it and its walk; `notify`: move the shared cursor to its step. */
  async select(row: number, notify = true): Promise<void> {
    const { host, store, pages, rows, walk } = this.p;
    if (store.matched === 0) return;
    row = Math.max(0, Math.min(row, store.matched - 1));
    store.selectedRow = row;
    rows.reveal(row);
    rows.schedule();
    let r = pages.rowAt(row);
    if (!r) {
      await pages.load(Math.floor(row / PAGE));
      r = pages.rowAt(row);
    }
    if (!r || store.selectedRow !== row) return;
    store.state.selected = r.event;
    this.persist();
    // The host hears of a new step (the shared cursor) and of a selection that becomes, or stops
    // being, a fault (the walkthrough's "the trace is at a fault"), not of every row in between.
    if (notify && (r.step !== store.cursorStep || r.fault !== this.selectedFault)) {
      store.cursorStep = r.step;
      this.selectedFault = r.fault;
      host.post({ type: "select", event: r.event, step: r.step, fault: r.fault });
    }
    if (r.kind === 1 || r.kind === 2) void walk.showWalk(r.event);
    else void walk.showSlowPath(r.event, r.step, r.kind);
  }

  /** The first kept event of the next (or previous) step that has one. */
  async jumpStep(dir: 1 | -1): Promise<void> {
    const { host, store, pages, message } = this.p;
    const cur = store.selectedRow >= 0 ? await pages.rowData(store.selectedRow) : undefined;
    const step = cur?.step ?? store.cursorStep;
    if (dir > 0) {
      // The first kept row at or after the next step's first event belongs to the next step with rows.
      const r = await host.request<{ row: number }>("traceLocate", { filter: store.state.filter, step: step + 1 });
      if (r.row < store.matched && step + 1 < store.steps.length) return this.select(r.row);
    } else {
      const first = await host.request<{ row: number }>("traceLocate", { filter: store.state.filter, step });
      const prev = first.row - 1;
      const p = prev >= 0 ? await pages.rowData(prev) : undefined;
      if (p) return this.select((await host.request<{ row: number }>("traceLocate", { filter: store.state.filter, step: p.step })).row);
    }
    message.show(dir > 0 ? l10n.t("No later step has rows here.") : l10n.t("No earlier step has rows here."), true);
  }

  async jumpFault(dir: 1 | -1): Promise<void> {
    const { host, store, message } = this.p;
    const r = await host.request<{ row: number }>("traceNextFault", { filter: store.state.filter, row: store.selectedRow, dir });
    if (r.row >= 0) await this.select(r.row);
    else message.show(dir > 0 ? l10n.t("No fault after this row.") : l10n.t("No fault before this row."), true);
  }

  onHostMessage(m: ToWebview): void {
    const { host, store, pages, rows, toolbar, walk, message } = this.p;
    switch (m.type) {
      case "reply":
        host.reply(m);
        return;
      case "run":
        this.rememberUri(m.uri);
        store.file = m.file;
        toolbar.setFile(m.stale ? l10n.t("{0} (stale: the text has errors)", store.file) : store.file);
        store.steps = m.steps;
        store.cursorStep = m.step;
        // The same run again after rows failed to load (a worker restart rebuilt it): load them again.
        if (m.runVersion !== store.runVersion || pages.failed) {
          store.runVersion = m.runVersion;
          // Answers prefetched for the document's run are not this run's.
          host.newRun();
          void this.reload(m.step);
        }
        return;
      case "cursor":
        if (m.step !== store.cursorStep) {
          store.cursorStep = m.step;
          void host.request<{ row: number }>("traceLocate", { filter: store.state.filter, step: m.step }).then((r) => {
            if (store.matched) void this.select(Math.min(r.row, store.matched - 1), false);
          });
        }
        return;
      case "radix": {
        if (m.radix !== store.radix) store.invalidateRows();
        store.radix = m.radix;
        toolbar.showRadix(store.radix);
        // A search matches addresses as shown: in the other radix it keeps other rows.
        const { state } = store;
        if (state.filter.text && (state.filter.radix ?? "hex") !== store.radix) {
          const { radix: _old, ...rest } = state.filter;
          state.filter = store.radix === "dec" ? { ...rest, radix: store.radix } : rest;
          this.persist();
          if (store.runVersion !== -1) void this.reload(store.cursorStep);
        }
        rows.schedule();
        return;
      }
      case "navigate":
        // The panel's commands (palette, keybindings): the same moves as its F8/Shift+F8, ] and [.
        if (store.matched === 0) return;
        if (m.action === "nextFault" || m.action === "previousFault") void this.jumpFault(m.action === "nextFault" ? 1 : -1);
        else void this.jumpStep(m.action === "nextStep" ? 1 : -1);
        return;
      case "empty":
        this.rememberUri(m.uri);
        // No data (the scenario closed or has not run): clear the rows; the next run reloads.
        store.runVersion = -1;
        store.matched = 0;
        pages.reset();
        store.invalidateRows();
        toolbar.setCounts("");
        rows.setCount(0);
        walk.clear();
        rows.schedule();
        message.show(m.message, true);
        return;
    }
  }
}
