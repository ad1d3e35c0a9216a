/**
 * The virtualized row list: the grid (a header row and a scroller of rows), virtual-core for the
 * scroll range, the row elements (kept, reused and refilled only where they differ), the compare
 * marks. What a row shows comes from rowDisplay (the same cells TraceQuery's search matches).
 */
import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from "@tanstack/virtual-core";
import { readRow, rowCells, rowResult, TRACE_COLUMNS, type RowColumns, type RowFields } from "../../src/trace/rowDisplay.js";
import { el, groupDigits } from "./dom.js";
import * as l10n from "@vscode/l10n";
import { PAGE, type PageCache } from "./pages.js";
import type { HostChannel } from "./host.js";
import type { TraceStore } from "./store.js";

export const ROW_HEIGHT = 22;
const COLS = TRACE_COLUMNS;
/** Each cell's class (trace.css sizes, hides and colours columns by it). */
const COL_CLASS = ["c-index", "c-step", "c-device", "c-vm", "c-pasid", "c-rw", "c-addr", "c-result", "c-domain"];
const COL_TITLE: Record<string, string> = { "#": l10n.t("Event index"), step: l10n.t("Workload step (1-based)"), "R/W": l10n.t("Read or write"), PASID: l10n.t("Process address space id of the request (— : a request without PASID)"), "IOVA → HPA": l10n.t("I/O virtual address and the host physical address it translated to"), domain: l10n.t("Domain id") };

/**
 * A row element and what it shows now. Rows are keyed by the row they show: a scroll of a few
 * rows keeps the elements of the rows still on screen untouched (no attribute, class or text
 * writes, so no style, layout or paint for them) and refills only the elements of the rows that
 * came into view, moved from the other end. What a row shows is remembered here, so a refill
 * compares against these strings instead of reading the DOM (textContent reads allocate).
 */
interface RowView {
  el: HTMLDivElement;
  cells: HTMLSpanElement[];
  /** Each cell's one text node: its data is rewritten in place (no node created per refill). */
  texts: Text[];
  text: string[];
  /** The compare gutter's cell and the mark it shows ("" none, "+" added, "~" changed, "−" removed next to it). */
  gutter: HTMLSpanElement;
  mark: string;
  /** Hidden while its page is on its way. */
  hidden: boolean;
  /** The row shown, -1 for none. */
  row: number;
  /** The row whose place (transform, id, aria-rowindex) the element has, -1 for none. */
  placed: number;
  /** contentVersion when filled; a row whose page was missing has -1 (refilled when the page comes). */
  version: number;
  cls: string;
  title: string;
  /** The device and VM cells' tooltips (their whole text when it was clipped, else "") and the result's (its whole text). */
  tips: [string, string, string];
  selected: boolean;
}

/**
 * Rows drawn beyond the viewport on each side, so that a wheel or key scroll finds them drawn. A
 * jump (a scroll past every row drawn: the scrollbar, a search, End) draws the viewport alone, and
 * the overscan a moment later when no other jump followed: filling a row's cells is the costly part
 * of a frame (text layout), and the overscan is 40% of the rows.
 */
const OVERSCAN_ROWS = 12;
const OVERSCAN_AFTER_JUMP_MS = 120;

/** Comparison marks of a row (the engine's diffRuns): the low bits added/changed, then where events were removed. */
const DIFF_KIND_MASK = 3;
const DIFF_ADDED = 1;
const DIFF_CHANGED = 2;
const DIFF_REMOVED_BEFORE = 4;
const DIFF_REMOVED_AFTER = 8;

function diffTitle(diff: number, before: number, after: number): string {
  const parts: string[] = [];
  const change = diff & DIFF_KIND_MASK;
  if (change === DIFF_ADDED) parts.push(l10n.t("Added since the previous run."));
  else if (change === DIFF_CHANGED) parts.push(l10n.t("Changed since the previous run."));
  if (diff & DIFF_REMOVED_BEFORE) parts.push(before === 1 ? l10n.t("{0} event of the previous run removed before this row.", groupDigits(before)) : l10n.t("{0} events of the previous run removed before this row.", groupDigits(before)));
  if (diff & DIFF_REMOVED_AFTER) parts.push(after === 1 ? l10n.t("{0} event of the previous run removed after this row.", groupDigits(after)) : l10n.t("{0} events of the previous run removed after this row.", groupDigits(after)));
  return parts.join(" ");
}

export interface RowListEvents {
  /** A row was clicked. */
  select(row: number): void;
  /** A render ended (the timeline's cursor follows it). */
  rendered(): void;
}

export class RowList {
  readonly grid = el("div", { class: "grid" });
  readonly headRow = el("div", { class: "row head", role: "row" });
  readonly scroller = el("div", { class: "scroller", tabindex: "0", role: "grid", "aria-label": l10n.t("Trace rows"), "aria-rowcount": "0" });
  private readonly spacer = el("div", { class: "spacer" });
  /**
   * The virtualizer works at page granularity (one item = PAGE rows of fixed height): virtual-core
   * keeps a measurement per item, and a million items would cost a million objects on every count
   * change; a few thousand pages cost nothing. Rows inside the visible pages are windowed below.
   */
  private virtualizer!: Virtualizer<HTMLDivElement, HTMLDivElement>;
  /** The row elements in the DOM, in row (and document) order; spare ones are kept for reuse. */
  private views: RowView[] = [];
  private readonly spare: RowView[] = [];
  private frame = 0;
  private overscanTimer: ReturnType<typeof setTimeout> | undefined;
  private spacerHeight = -1;
  /** The host was told that the first rows are drawn (once per document: the bench reads it). */
  private firstRowsSent = false;
  private revealRow = -1;
  /** Reused by every refill: the event's fields and its cells (rowCells, the one rendering search matches too). */
  private readonly fields: RowFields = { index: 0, step: 0, kind: 0, flags: 0, level: 0, reason: 0, sid: 0, did: 0, aLo: 0, aHi: 0, bLo: 0, bHi: 0, pasid: -1, cause: -1 };
  private readonly cellText: string[] = [];

  constructor(
    private readonly store: TraceStore,
    private readonly pages: PageCache,
    private readonly host: HostChannel,
    private readonly on: RowListEvents,
  ) {
    const { headRow, scroller, spacer, grid } = this;
    COLS.forEach((c, i) => headRow.append(el("span", { role: "columnheader", class: COL_CLASS[i]!, ...(COL_TITLE[c] ? { title: COL_TITLE[c] } : {}) }, c)));
    // The compare gutter's header (last child, shown first: cells keep their child positions).
    headRow.append(el("span", { class: "gutter", role: "columnheader", "aria-label": l10n.t("Change since the previous run"), title: l10n.t("Change since the previous run") }));
    scroller.append(spacer);
    grid.append(headRow, scroller);
  }

  /** Starts the virtualizer and the scroll and resize listeners (once the grid is in the document). */
  mount(): void {
    const { scroller, store } = this;
    this.virtualizer = new Virtualizer<HTMLDivElement, HTMLDivElement>({
      count: 0,
      getScrollElement: () => scroller,
      estimateSize: (i) => Math.min(PAGE, store.matched - i * PAGE) * ROW_HEIGHT,
      overscan: 0,
      observeElementRect,
      observeElementOffset,
      scrollToFn: elementScroll,
      onChange: () => this.schedule(),
    });
    this.virtualizer._didMount();
    // virtual-core calls onChange only when the visible range of pages (or isScrolling) changes: a
    // wheel scroll inside one page left the rows where they were, and past the overscan rows the
    // bottom of the grid stayed blank until the scroll stopped. Every scroll schedules a render (at
    // most one a frame; rows still on screen are not touched, see render).
    scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
  }

  /** The header row is outside the scroller: it leaves room for the rows' vertical scrollbar, so that its flexible columns are exactly the rows' columns. */
  observeScrollbar(): void {
    let scrollbar = -1;
    new ResizeObserver(() => {
      const w = this.scroller.offsetWidth - this.scroller.clientWidth;
      if (w !== scrollbar) this.headRow.style.paddingRight = `${(scrollbar = w)}px`;
    }).observe(this.scroller);
  }

  /** The number of rows changed (a reload, no data). */
  setCount(matched: number): void {
    this.virtualizer.setOptions({ ...this.virtualizer.options, count: Math.ceil(matched / PAGE) });
  }

  measure(): void {
    this.virtualizer.measure();
  }

  /** No row element yet (the panel just opened). */
  get empty(): boolean {
    return this.views.length === 0;
  }

  /** A render in the next frame (at most one a frame). */
  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /**
   * Scrolls the least distance that shows `row`, at the start of the next render: the scroll
   * position is read there anyway, while reading it here, after the DOM changed, forced a layout
   * (on opening, 25-40 ms: the first layout of the rows, before they were even in a frame).
   */
  reveal(row: number): void {
    this.revealRow = row;
    this.schedule();
  }

  private applyReveal(top: number, height: number): number {
    const row = this.revealRow;
    this.revealRow = -1;
    if (row < 0) return top;
    const y = row * ROW_HEIGHT;
    if (y < top) return (this.scroller.scrollTop = y);
    if (y + ROW_HEIGHT > top + height) return (this.scroller.scrollTop = y + ROW_HEIGHT - height);
    return top;
  }

  render(): void {
    const { virtualizer, scroller, spacer, store, pages } = this;
    const matched = store.matched;
    const selectedRow = store.selectedRow;
    // The spacer's height first (a reveal must not be clamped to an old height; it changes only when
    // the trace does), then the reads (scroll position, viewport), then the writes: no layout forced
    // between writes.
    virtualizer._willUpdate();
    const total = virtualizer.getTotalSize();
    if (total !== this.spacerHeight) spacer.style.height = `${(this.spacerHeight = total)}px`;
    const height = scroller.clientHeight;
    const top = this.applyReveal(scroller.scrollTop, height);
    const onScreenFirst = Math.floor(top / ROW_HEIGHT);
    const onScreenLast = Math.ceil((top + height) / ROW_HEIGHT);
    const jump = !this.views.some((v) => v.row >= onScreenFirst && v.row <= onScreenLast);
    if (jump) {
      clearTimeout(this.overscanTimer);
      this.overscanTimer = setTimeout(() => {
        this.overscanTimer = undefined;
        this.schedule();
      }, OVERSCAN_AFTER_JUMP_MS);
    }
    const overscan = jump || this.overscanTimer !== undefined ? 0 : OVERSCAN_ROWS;
    const first = Math.max(0, onScreenFirst - overscan);
    const last = Math.min(matched - 1, onScreenLast + overscan);
    // The visible pages are contiguous: the rows drawn are one range [lo, hi] (empty when lo > hi).
    let lo = 0;
    let hi = -1;
    for (const it of virtualizer.getVirtualItems()) {
      const r0 = Math.max(first, it.index * PAGE);
      const r1 = Math.min(last, it.index * PAGE + PAGE - 1);
      if (r0 > r1) continue;
      if (hi < lo) lo = r0;
      hi = r1;
    }
    // Touch the pages on screen (LRU): kept rows are not refilled, so they do not touch them.
    pages.touch(lo, hi);
    // No rows yet (the panel just opened) and their page is still on its way: rows are created
    // when it comes, in the same frame as their text, instead of hidden now and filled a frame later.
    if (this.views.length === 0 && hi >= lo && !pages.pageOf(lo)) hi = lo - 1;
    const n = Math.max(0, hi - lo + 1);
    const kept = this.views.filter((v) => v.row >= lo && v.row <= hi);
    if (kept.length === 0) {
      // A jump (or the first render): reuse the elements in place, in order; no DOM moves.
      const views = this.views;
      while (views.length < n) {
        const v = this.spare.pop() ?? this.newView();
        spacer.appendChild(v.el);
        views.push(v);
      }
      while (views.length > n) {
        const v = views.pop()!;
        v.el.remove();
        this.spare.push(v);
      }
      for (let i = 0; i < n; i++) this.showRow(views[i]!, lo + i);
    } else {
      // A scroll that keeps some rows: the elements of rows that left go to the side that needs rows.
      const free = this.views.filter((v) => v.row < lo || v.row > hi);
      const take = () => free.pop() ?? this.spare.pop() ?? this.newView();
      const keptLo = kept[0]!.row;
      const keptHi = kept[kept.length - 1]!.row;
      const before: RowView[] = [];
      for (let row = lo; row < keptLo; row++) {
        const v = take();
        spacer.insertBefore(v.el, kept[0]!.el);
        before.push(v);
      }
      const after: RowView[] = [];
      for (let row = keptHi + 1; row <= hi; row++) {
        const v = take();
        spacer.appendChild(v.el);
        after.push(v);
      }
      for (const v of free) {
        v.el.remove();
        v.row = -1;
        this.spare.push(v);
      }
      this.views = [...before, ...kept, ...after];
      for (let i = 0; i < this.views.length; i++) this.showRow(this.views[i]!, lo + i);
    }
    const views = this.views;
    // Rows waiting for their page are hidden; assistive technology hears that the grid is loading.
    const busy = views.some((v) => v.hidden);
    if (!this.firstRowsSent && views.length > 0 && !busy) {
      this.firstRowsSent = true;
      this.host.post({ type: "firstRows", rows: views.length, sinceLoad: Math.round(performance.now()), timeOrigin: performance.timeOrigin });
    }
    if (busy !== (scroller.getAttribute("aria-busy") === "true")) scroller.setAttribute("aria-busy", String(busy));
    // The grid keeps focus; assistive technology follows the selected row through this.
    const active = selectedRow >= lo && selectedRow <= hi && selectedRow >= first && selectedRow <= last ? `row-${selectedRow}` : "";
    if (active && scroller.getAttribute("aria-activedescendant") !== active) scroller.setAttribute("aria-activedescendant", active);
    else if (!active && scroller.hasAttribute("aria-activedescendant")) scroller.removeAttribute("aria-activedescendant");
    this.on.rendered();
  }

  private newView(): RowView {
    const r = el("div", { class: "row", role: "row", "aria-selected": "false" });
    const cells: HTMLSpanElement[] = [];
    const texts: Text[] = [];
    for (let c = 0; c < COLS.length; c++) {
      const cell = r.appendChild(el("span", { role: "gridcell", class: COL_CLASS[c]! }));
      cells.push(cell);
      texts.push(cell.appendChild(document.createTextNode("")));
    }
    // The compare gutter: a marker with its meaning as the cell's accessible name (last child, shown first).
    const gutter = r.appendChild(el("span", { role: "gridcell", class: "gutter" }));
    const v: RowView = { el: r, cells, texts, text: COLS.map(() => ""), gutter, mark: "", hidden: false, row: -1, placed: -1, version: -1, cls: "row", title: "", tips: ["", "", ""], selected: false };
    r.addEventListener("click", () => this.on.select(v.row));
    r.addEventListener("dblclick", () => this.on.select(v.row));
    return v;
  }

  /** Puts `row` into the element `v`, writing only what differs from what it shows. */
  private showRow(v: RowView, row: number): void {
    if (v.row !== row) {
      v.row = row;
      v.version = -1;
    }
    const selected = row === this.store.selectedRow;
    if (v.version === this.store.contentVersion && v.selected === selected) return;
    this.fillRow(v, row, selected);
  }

  /** Moves the element to `row`'s place (only rows with their data are placed: a hidden row is not). */
  private place(v: RowView, row: number): void {
    if (v.placed === row) return;
    v.placed = row;
    const r = v.el;
    r.style.transform = `translateY(${row * ROW_HEIGHT}px)`;
    r.dataset.row = String(row);
    r.id = `row-${row}`;
    r.setAttribute("aria-rowindex", String(row + 2));
  }

  private fillRow(v: RowView, row: number, selected: boolean): void {
    const { store, fields, cellText } = this;
    const page = this.pages.pageOf(row);
    const set = (c: number, t: string) => {
      if (v.text[c] !== t) v.texts[c]!.data = v.text[c] = t;
    };
    const setClass = (cls: string) => {
      if (v.cls !== cls) v.el.className = v.cls = cls;
    };
    if (!page) {
      // Hidden until the page comes, neither moved nor rewritten: writing placeholders into its
      // cells and the real text a frame later doubled a fast scroll's text layout, a class that
      // hides the cells restyles each of them (visibility on the row is inherited cheaply), and
      // moving it restyles it in every frame of a scroll through pages still on their way.
      if (!v.hidden) {
        v.hidden = true;
        v.el.style.visibility = "hidden";
      }
      v.version = -1; // refilled when the page comes
      return;
    }
    this.place(v, row);
    if (v.selected !== selected) {
      v.selected = selected;
      v.el.setAttribute("aria-selected", selected ? "true" : "false");
    }
    if (v.hidden) {
      v.hidden = false;
      v.el.style.visibility = "";
    }
    v.version = store.contentVersion;
    const k = row - page.start;
    const col = page.cols;
    readRow(col as RowColumns, k, col.index![k]!, fields);
    const names = store.info?.reasonNames;
    rowCells(fields, store.deviceBySid.get(fields.sid), store.radix, cellText, names, store.info?.domainNames);
    const cls = rowResult(fields, names).cls;
    const diff = store.state.compare ? col.diff?.[k] ?? 0 : 0;
    const change = diff & DIFF_KIND_MASK;
    setClass(`row ${cls}${selected ? " selected" : ""}${change === DIFF_ADDED ? " added" : change === DIFF_CHANGED ? " changed" : ""}${diff & DIFF_REMOVED_BEFORE ? " removed-before" : ""}${diff & DIFF_REMOVED_AFTER ? " removed-after" : ""}`);
    for (let c = 0; c < COLS.length; c++) set(c, cellText[c]!);
    // A clipped device name or VM (dom.ts clip) is whole in its cell's tooltip.
    const full = store.fullCells.size ? store.fullCells.get(fields.sid) : undefined;
    const devTip = full && cellText[2] ? full.device : "";
    const vmTip = full && cellText[3] ? full.vm : "";
    if (v.tips[0] !== devTip) v.cells[2]!.title = v.tips[0] = devTip;
    if (v.tips[1] !== vmTip) v.cells[3]!.title = v.tips[1] = vmTip;
    // A narrow result column shows a result's kind and code ("fault 0x05", "walk → L1", "map ← guest
    // step N" cut short): the whole text (the reason's name, "leaf", the guest step) is in its tooltip.
    const resultTip = cellText[7]!;
    if (v.tips[2] !== resultTip) v.cells[7]!.title = v.tips[2] = resultTip;
    const title = diff ? diffTitle(diff, col.removed?.[k] ?? 0, col.removedAfter?.[k] ?? 0) : "";
    if (v.title !== title) {
      v.el.title = v.title = title;
      if (title) v.gutter.setAttribute("aria-label", title);
      else v.gutter.removeAttribute("aria-label");
    }
    const mark = change === DIFF_ADDED ? "+" : change === DIFF_CHANGED ? "~" : diff & (DIFF_REMOVED_BEFORE | DIFF_REMOVED_AFTER) ? "−" : "";
    if (v.mark !== mark) v.gutter.textContent = v.mark = mark;
  }
}
