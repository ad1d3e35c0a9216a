/**
 * The trace rows, paged from the worker through the host: pages of TRACE_PAGE_ROWS rows as typed
 * columns, fetched once per generation (a new filter or run is a new generation), evicted beyond
 * MAX_PAGES (bounded memory for any trace size), least recently used first.
 */
import { TRACE_PAGE_ROWS } from "../../src/protocol/webview.js";
import { EventKind } from "../../src/trace/trace.js";
import { isCancelled, type HostChannel } from "./host.js";
import { CancellationSource } from "../../src/protocol/rpc.js";
import * as l10n from "@vscode/l10n";
import type { TraceStore } from "./store.js";

export interface RowData {
  event: number;
  step: number;
  kind: number;
  fault: boolean;
  /** A host mapping QEMU made for a guest vIOMMU: the step whose guest action wrote the entry, -1 for none. */
  cause: number;
}

export const PAGE = TRACE_PAGE_ROWS;
/** Pages kept in memory; older ones are evicted (bounded memory for any trace size). */
export const MAX_PAGES = 48;

export interface Page {
  gen: number;
  start: number;
  cols: Record<string, ArrayLike<number>>;
}

export class PageCache {
  private readonly pages = new Map<number, Page>();
  /** Pages on their way, with the generation they were asked for. */
  private readonly pending = new Map<number, { gen: number; done: Promise<void> }>();
  generation = 0;
  /** Cancels the requests of the current generation: a new filter or run does not want them. */
  private genCancel = new CancellationSource();
  /**
   * A page (or the counts) of this generation could not be loaded, e.g. the worker was restarted
   * under the request: the next run message reloads even when it is the same run.
   */
  failed = false;

  constructor(
    private readonly host: HostChannel,
    private readonly store: TraceStore,
    /** A page came: draw its rows. */
    private readonly onPage: () => void,
    private readonly onError: (message: string) => void,
  ) {}

  /** Drops every page: the next asks are a new generation's. */
  reset(): void {
    this.generation++;
    this.genCancel.cancel();
    this.genCancel = new CancellationSource();
    this.failed = false;
    this.pages.clear();
  }

  /** Drops the cached pages (same generation: pages on their way still land). */
  clear(): void {
    this.pages.clear();
  }

  /** Marks the pages of rows lo..hi as just used (LRU), without loading any. */
  touch(lo: number, hi: number): void {
    for (let p = Math.floor(lo / PAGE); hi >= lo && p <= Math.floor(hi / PAGE); p++) {
      const page = this.pages.get(p);
      if (page) {
        this.pages.delete(p);
        this.pages.set(p, page);
      }
    }
  }

  /** The page of `row` (marked as just used), or undefined while it is on its way (asked for now). */
  pageOf(row: number): Page | undefined {
    const p = Math.floor(row / PAGE);
    const page = this.pages.get(p);
    if (page && page.gen === this.generation) {
      // LRU: move to the end.
      this.pages.delete(p);
      this.pages.set(p, page);
      return page;
    }
    void this.load(p);
    return undefined;
  }

  /** Fetches page `p` once per generation: a second ask while it is on its way gets the same answer. */
  load(p: number): Promise<void> {
    const gen = this.generation;
    if (this.pages.get(p)?.gen === gen) return Promise.resolve();
    const on = this.pending.get(p);
    if (on && on.gen === gen) return on.done;
    const entry = { gen, done: Promise.resolve() };
    const { state } = this.store;
    entry.done = (async () => {
      try {
        const r = await this.host.request<{ start: number; count: number; matched: number; columns: Record<string, ArrayLike<number>> }>("tracePage", { filter: state.filter, start: p * PAGE, count: PAGE, compare: state.compare }, this.genCancel.token);
        if (gen !== this.generation) return;
        this.pages.set(p, { gen, start: r.start, cols: r.columns });
        while (this.pages.size > MAX_PAGES) this.pages.delete(this.pages.keys().next().value as number);
        this.onPage();
      } catch (e) {
        if (gen === this.generation && !isCancelled(e)) this.failed = true;
        if (!isCancelled(e)) this.onError(l10n.t("Could not load rows: {0}", (e as Error).message));
      } finally {
        if (this.pending.get(p) === entry) this.pending.delete(p);
      }
    })();
    this.pending.set(p, entry);
    return entry.done;
  }

  /** Row `row`'s event, step and kind, and whether it is a DMA fault (a DMA with a fault reason), when its page is here. */
  rowAt(row: number): RowData | undefined {
    const p = this.pages.get(Math.floor(row / PAGE));
    if (!p || p.gen !== this.generation) return undefined;
    const k = row - p.start;
    const kind: EventKind = p.cols.kind![k]!;
    return { event: p.cols.index![k]!, step: p.cols.step![k]!, kind, fault: kind === EventKind.Dma && (p.cols.reason?.[k] ?? 0) !== 0, cause: p.cols.cause?.[k] ?? -1 };
  }

  /** The same, loading its page first when needed. */
  async rowData(row: number): Promise<RowData | undefined> {
    return this.rowAt(row) ?? (await this.load(Math.floor(row / PAGE)), this.rowAt(row));
  }
}
