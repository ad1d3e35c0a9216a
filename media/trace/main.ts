/**
 * The DMA Trace webview: a virtualized table of trace rows (paged from the worker through the
 * host, pages evicted beyond a bound), filters with counts, keyboard stepping, a timeline of the
 * whole run, the walk diagram of the selected translation, compare-with-previous marks and export.
 * Every string from a scenario or a log is set with textContent or as a Text node's data; nothing is
 * parsed as HTML.
 */
import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from "@tanstack/virtual-core";
import { requestKey, TRACE_PAGE_ROWS, type FromWebview, type InitialMessages, type ToWebview, type TraceMethod, type TraceMethods, type TraceViewState } from "../../src/protocol/webview.js";
import { RpcClient } from "../../src/protocol/rpc.js";
import type { RequestErrorCode } from "../../src/protocol/diagnostics.js";
import type { TraceFilter, TraceInfo, TranslateAnswer } from "../../src/protocol/engine.js";
import { EVENT_KIND_NAMES } from "../../src/trace/trace.js";
import { readRow, rowCells, rowResult, SHORT_REASONS, TRACE_COLUMNS, type RowColumns, type RowFields } from "../../src/trace/rowDisplay.js";
import { nounFor } from "../../src/sim/plural.js";

declare function acquireVsCodeApi(): { postMessage(m: FromWebview): void; getState(): TraceViewState | undefined; setState(s: TraceViewState): void };

const vscode = acquireVsCodeApi();
const PAGE = TRACE_PAGE_ROWS;
/** Pages kept in memory; older ones are evicted (bounded memory for any trace size). */
export const MAX_PAGES = 48;
const ROW_HEIGHT = 22;

// ---------------------------------------------------------------- state

const saved = vscode.getState();
const state: TraceViewState = { ...(saved?.uri !== undefined ? { uri: saved.uri } : {}), filter: saved?.filter ?? {}, compare: saved?.compare ?? false, ...(saved?.selected !== undefined ? { selected: saved.selected } : {}), ...(saved?.walkWidth ? { walkWidth: saved.walkWidth } : {}), ...(saved?.gridHeight ? { gridHeight: saved.gridHeight } : {}) };
let info: TraceInfo | undefined;
/** info.devices by source id (a row's device, without a search per row). */
let deviceBySid = new Map<number, TraceInfo["devices"][number]>();
let matched = 0;
let radix: "hex" | "dec" = "hex";
let runVersion = -1;
let steps: { line: number; op: string; summary?: string }[] = [];
let selectedRow = -1;
let cursorStep = 0;
let file = "";
const pages = new Map<number, Page>();
/** Pages on their way, with the generation they were asked for. */
const pending = new Map<number, { gen: number; done: Promise<void> }>();
let generation = 0;

interface Page {
  gen: number;
  start: number;
  cols: Record<string, ArrayLike<number>>;
}

// ---------------------------------------------------------------- requests

/** Ids, pending requests, typed errors (protocol/rpc.ts, the same helper as the host's worker channel). */
const rpc = new RpcClient<TraceMethods, RequestErrorCode>({ send: (r) => vscode.postMessage({ type: "request", ...r }), sendCancel: (id) => vscode.postMessage({ type: "cancel", id }) });
/** Answers the host wrote into the document (InitialMessages), by requestKey: each used once. */
const prefetched = new Map<string, unknown>();
/** True while the document's messages are taken (at the end of this script). */
let startingUp = false;
function request<T>(method: TraceMethod, params: object): Promise<T> {
  if (prefetched.size) {
    const key = requestKey(method, params);
    if (prefetched.has(key)) {
      const result = prefetched.get(key);
      prefetched.delete(key);
      return Promise.resolve(result as T);
    }
  }
  return rpc.request(method, params as never) as Promise<T>;
}

// ---------------------------------------------------------------- DOM

/**
 * 1234567 -> "1,234,567". Not toLocaleString: its first call loads the locale data, 25-35 ms on
 * the benchmark machine, on the path to the first rows.
 */
function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const app = document.getElementById("app")!;
const header = el("div", { class: "toolbar", role: "toolbar", "aria-label": "Trace filters" });
const fileLabel = el("span", { class: "file" });
const deviceSel = el("select", { "aria-label": "Device", title: "Device" });
const vmSel = el("select", { "aria-label": "VM", title: "VM" });
const resultSel = el("select", { "aria-label": "Result", title: "Result" });
const reasonSel = el("select", { "aria-label": "Fault reason", title: "Fault reason" });
const iovaMin = el("input", { type: "text", placeholder: "IOVA from", "aria-label": "IOVA from", size: "12", spellcheck: "false" });
const iovaMax = el("input", { type: "text", placeholder: "IOVA to", "aria-label": "IOVA to", size: "12", spellcheck: "false" });
const search = el("input", { type: "search", placeholder: "Search", "aria-label": "Search rows", size: "14", spellcheck: "false" });
const counts = el("span", { class: "counts", role: "status", "aria-live": "polite" });
const nav = el("div", { class: "nav", role: "toolbar", "aria-label": "Cursor" });
/**
 * Toolbar icons (16 px, currentColor), drawn for this panel in the style of VS Code's codicons
 * (the codicon font is not bundled). Paths only: no markup from data.
 */
const ICONS: Record<string, string[]> = {
  first: ["M3 2h10v1.5H3z", "M8 4.6l-4.5 4.5 1.06 1.06 2.69-2.69V14h1.5V7.47l2.69 2.69L12.5 9.1z"],
  last: ["M3 12.5h10V14H3z", "M8 11.4l4.5-4.5-1.06-1.06-2.69 2.69V2h-1.5v6.53L4.56 5.84 3.5 6.9z"],
  up: ["M8 2.6L3.5 7.1l1.06 1.06 2.69-2.69V14h1.5V5.47l2.69 2.69L12.5 7.1z"],
  down: ["M8 13.4l4.5-4.5-1.06-1.06-2.69 2.69V2h-1.5v8.53L4.56 7.84 3.5 8.9z"],
  faultUp: ["M8 1.5L4 5.5l1.06 1.06L8 3.62l2.94 2.94L12 5.5z", "!M8 7.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7zm-.6 1.4h1.2v2.9H7.4zm0 3.5h1.2v1.1H7.4z"],
  faultDown: ["M8 14.5l4-4-1.06-1.06L8 12.38 5.06 9.44 4 10.5z", "!M8 1.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7zm-.6 1.4h1.2v2.9H7.4zm0 3.5h1.2v1.1H7.4z"],
  stepUp: ["M8 1.8L3.5 6.3l1.06 1.06L8 3.92l3.44 3.44L12.5 6.3z", "M8 6.8L3.5 11.3l1.06 1.06L8 8.92l3.44 3.44 1.06-1.06z", "M3 13.5h10V15H3z"],
  stepDown: ["M8 14.2l4.5-4.5-1.06-1.06L8 12.08 4.56 8.64 3.5 9.7z", "M8 9.2l4.5-4.5-1.06-1.06L8 7.08 4.56 3.64 3.5 4.7z", "M3 1h10v1.5H3z"],
  export: ["M8 1.5l3.5 3.5-1.06 1.06-1.69-1.69V10h-1.5V4.37L5.56 6.06 4.5 5z", "M2.5 9h1.5v3.5h8V9h1.5v5h-11z"],
};
const SVG = "http://www.w3.org/2000/svg";
function icon(name: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG, "path");
    // A leading "!" marks the fault part of an icon (the error colour).
    if (d.startsWith("!")) path.setAttribute("class", "err");
    path.setAttribute("d", d.replace(/^!/, ""));
    svg.append(path);
  }
  return svg;
}
/** A toolbar button: an icon, its tooltip and accessible name (with the key that does the same). */
function button(iconName: string, title: string, onClick: () => void): HTMLButtonElement {
  const b = el("button", { class: "icon", type: "button", title, "aria-label": title });
  b.append(icon(iconName));
  b.addEventListener("click", onClick);
  return b;
}
/** A text button in VS Code's secondary button style, optionally with an icon. */
function textButton(iconName: string | undefined, label: string, title: string, onClick: () => void): HTMLButtonElement {
  const b = el("button", { class: "text", type: "button", title });
  if (iconName) b.append(icon(iconName));
  b.append(document.createTextNode(label));
  b.addEventListener("click", onClick);
  return b;
}
const separator = () => el("span", { class: "sep", role: "separator", "aria-orientation": "vertical" });
const compareBox = el("input", { type: "checkbox", id: "compare" });
const compareLabel = el("label", { for: "compare", title: "Mark events added, changed or removed since the previous run" }, "Compare with previous run");
const compareWrap = el("span", { class: "check" });
compareWrap.append(compareBox, compareLabel);
const radixButton = textButton(undefined, "0x", "", () => vscode.postMessage({ type: "toggleRadix" }));
radixButton.classList.add("radix");
/** The radix button says what it does: the other radix. */
function showRadix(): void {
  const t = radix === "hex" ? "Show numbers in decimal (x)" : "Show numbers in hex (x)";
  radixButton.title = t;
  radixButton.setAttribute("aria-label", t);
  radixButton.lastChild!.textContent = radix === "hex" ? "0x" : "10";
}
const timeline = el("canvas", { class: "timeline", height: "36", role: "img", "aria-label": "Timeline: event density, faults in red, step boundaries as ticks; click to jump" });
const grid = el("div", { class: "grid" });
const headRow = el("div", { class: "row head", role: "row" });
const scroller = el("div", { class: "scroller", tabindex: "0", role: "grid", "aria-label": "Trace rows", "aria-rowcount": "0" });
const spacer = el("div", { class: "spacer" });
const walkPane = el("div", { class: "walk", role: "region", "aria-label": "Walk of the selected translation" });
const message = el("div", { class: "message" });

const COLS = TRACE_COLUMNS;
/** Each cell's class (trace.css sizes, hides and colours columns by it). */
const COL_CLASS = ["c-index", "c-step", "c-device", "c-vm", "c-pasid", "c-rw", "c-addr", "c-result", "c-domain"];
const COL_TITLE: Record<string, string> = { "#": "Event index", step: "Workload step (1-based)", "R/W": "Read or write", PASID: "Process address space id (scalable mode is not simulated: none)", "IOVA → HPA": "I/O virtual address and the host physical address it translated to", domain: "Domain id" };
COLS.forEach((c, i) => headRow.append(el("span", { role: "columnheader", class: COL_CLASS[i]!, ...(COL_TITLE[c] ? { title: COL_TITLE[c] } : {}) }, c)));
// The compare gutter's header (last child, shown first: cells keep their child positions).
headRow.append(el("span", { class: "gutter", role: "columnheader", "aria-label": "Change since the previous run", title: "Change since the previous run" }));
scroller.append(spacer);
grid.append(headRow, scroller);
header.append(fileLabel, deviceSel, vmSel, resultSel, reasonSel, iovaMin, iovaMax, search, counts);
nav.append(
  button("first", "First row (Home)", () => select(0)),
  button("faultUp", "Previous fault (Shift+F8)", () => void jumpFault(-1)),
  button("up", "Previous row (Up)", () => select(selectedRow - 1)),
  button("down", "Next row (Down)", () => select(selectedRow + 1)),
  button("faultDown", "Next fault (F8)", () => void jumpFault(1)),
  button("last", "Last row (End)", () => select(matched - 1)),
  separator(),
  button("stepUp", "First event of the previous step ([)", () => void jumpStep(-1)),
  button("stepDown", "First event of the next step (])", () => void jumpStep(1)),
  separator(),
  radixButton,
  compareWrap,
  el("span", { class: "grow" }),
  textButton("export", "CSV", "Export the filtered rows as CSV", () => vscode.postMessage({ type: "export", format: "csv", filter: state.filter })),
  textButton("export", "JSON", "Export the filtered rows as a JSON document", () => vscode.postMessage({ type: "export", format: "json", filter: state.filter })),
);
showRadix();
const main = el("div", { class: "main" });
/**
 * Between the rows and the walk: side by side when the panel is wide, one above the other when it
 * is narrow (trace.css); drag it, or focus it and use the arrow keys, to give one more room.
 */
const splitter = el("div", { class: "splitter", role: "separator", tabindex: "0", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "50", "aria-label": "Resize the rows and the walk", title: "Drag to resize (or focus and use the arrow keys)" });
main.append(grid, splitter, walkPane);
app.append(header, nav, timeline, message, main);

// ---------------------------------------------------------------- split between rows and walk

/** Side by side at this panel width and wider (trace.css has the same figure). */
const sideBySide = matchMedia("(min-width: 1000px)");
const MIN_GRID = 4 * ROW_HEIGHT;
const MIN_WALK = 72;
function isSide(): boolean {
  return sideBySide.matches;
}
/**
 * Sizes the split: the user's size when they dragged it (kept in the state), else, one above the
 * other, the rows get what they need (a 7-event run does not leave empty rows above a squeezed walk)
 * up to 55% of the height; side by side, CSS gives the walk about 38% of the width.
 */
function fitSplit(): void {
  const side = isSide();
  splitter.setAttribute("aria-orientation", side ? "vertical" : "horizontal");
  main.classList.toggle("side", side);
  if (side) {
    if (state.walkWidth) main.style.setProperty("--walk-w", `${state.walkWidth}px`);
    else main.style.removeProperty("--walk-w");
  } else if (state.gridHeight) main.style.setProperty("--grid-h", `${state.gridHeight}px`);
  else {
    // The header row, the rows, a horizontal scrollbar's height.
    const need = ROW_HEIGHT + 2 + Math.max(3, matched) * ROW_HEIGHT + 14;
    main.style.setProperty("--grid-h", `min(${need}px, 55%)`);
  }
}
sideBySide.addEventListener("change", fitSplit);
function resizeSplit(delta: number, absolute?: number): void {
  const box = main.getBoundingClientRect();
  if (isSide()) {
    const cur = absolute ?? walkPane.getBoundingClientRect().width - delta;
    state.walkWidth = Math.round(Math.max(200, Math.min(box.width - 320, cur)));
  } else {
    const cur = absolute ?? grid.getBoundingClientRect().height + delta;
    state.gridHeight = Math.round(Math.max(MIN_GRID, Math.min(box.height - MIN_WALK, cur)));
  }
  fitSplit();
  persist();
  schedule();
  // (a focusable separator says where it is: the rows' share of the space, in percent)
  const rowsShare = isSide() ? 1 - (state.walkWidth ?? 0) / Math.max(1, box.width) : (state.gridHeight ?? 0) / Math.max(1, box.height);
  splitter.setAttribute("aria-valuenow", String(Math.round(rowsShare * 100)));
}
splitter.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  splitter.setPointerCapture(e.pointerId);
  splitter.classList.add("active");
  const move = (ev: PointerEvent) => {
    const box = main.getBoundingClientRect();
    resizeSplit(0, isSide() ? box.right - ev.clientX : ev.clientY - box.top);
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
  const side = isSide();
  // Arrows move the splitter: Up/Left give the rows less room.
  const d = side ? (e.key === "ArrowLeft" ? step : e.key === "ArrowRight" ? -step : 0) : e.key === "ArrowUp" ? -step : e.key === "ArrowDown" ? step : 0;
  if (d) {
    e.preventDefault();
    resizeSplit(d);
  }
});
splitter.addEventListener("dblclick", () => {
  // Back to the automatic split.
  if (isSide()) delete state.walkWidth;
  else delete state.gridHeight;
  fitSplit();
  persist();
});
fitSplit();

// ---------------------------------------------------------------- virtualizer

/**
 * The virtualizer works at page granularity (one item = PAGE rows of fixed height): virtual-core
 * keeps a measurement per item, and a million items would cost a million objects on every count
 * change; a few thousand pages cost nothing. Rows inside the visible pages are windowed below.
 */
const virtualizer = new Virtualizer<HTMLDivElement, HTMLDivElement>({
  count: 0,
  getScrollElement: () => scroller,
  estimateSize: (i) => Math.min(PAGE, matched - i * PAGE) * ROW_HEIGHT,
  overscan: 0,
  observeElementRect,
  observeElementOffset,
  scrollToFn: elementScroll,
  onChange: () => schedule(),
});
virtualizer._didMount();
// virtual-core calls onChange only when the visible range of pages (or isScrolling) changes: a
// wheel scroll inside one page left the rows where they were, and past the overscan rows the
// bottom of the grid stayed blank until the scroll stopped. Every scroll schedules a render (at
// most one a frame; rows still on screen are not touched, see render).
scroller.addEventListener("scroll", () => schedule(), { passive: true });

let frame = 0;
function schedule(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

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
  selected: boolean;
}

/** Bumped when every row's content may have changed: new data, new device list, another radix. */
let contentVersion = 0;
function invalidateRows(): void {
  contentVersion++;
}

/** The row elements in the DOM, in row (and document) order; spare ones are kept for reuse. */
let views: RowView[] = [];
const spare: RowView[] = [];
function newView(): RowView {
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
  const v: RowView = { el: r, cells, texts, text: COLS.map(() => ""), gutter, mark: "", hidden: false, row: -1, placed: -1, version: -1, cls: "row", title: "", selected: false };
  r.addEventListener("click", () => select(v.row));
  r.addEventListener("dblclick", () => select(v.row));
  return v;
}

/**
 * Rows drawn beyond the viewport on each side, so that a wheel or key scroll finds them drawn. A
 * jump (a scroll past every row drawn: the scrollbar, a search, End) draws the viewport alone, and
 * the overscan a moment later when no other jump followed: filling a row's cells is the costly part
 * of a frame (text layout), and the overscan is 40% of the rows.
 */
const OVERSCAN_ROWS = 12;
const OVERSCAN_AFTER_JUMP_MS = 120;
let overscanTimer: ReturnType<typeof setTimeout> | undefined;
let spacerHeight = -1;
/** The host was told that the first rows are drawn (once per document: the bench reads it). */
let firstRowsSent = false;

function render(): void {
  // The spacer's height first (a reveal must not be clamped to an old height; it changes only when
  // the trace does), then the reads (scroll position, viewport), then the writes: no layout forced
  // between writes.
  virtualizer._willUpdate();
  const total = virtualizer.getTotalSize();
  if (total !== spacerHeight) spacer.style.height = `${(spacerHeight = total)}px`;
  const height = scroller.clientHeight;
  const top = applyReveal(scroller.scrollTop, height);
  const onScreenFirst = Math.floor(top / ROW_HEIGHT);
  const onScreenLast = Math.ceil((top + height) / ROW_HEIGHT);
  const jump = !views.some((v) => v.row >= onScreenFirst && v.row <= onScreenLast);
  if (jump) {
    clearTimeout(overscanTimer);
    overscanTimer = setTimeout(() => {
      overscanTimer = undefined;
      schedule();
    }, OVERSCAN_AFTER_JUMP_MS);
  }
  const overscan = jump || overscanTimer !== undefined ? 0 : OVERSCAN_ROWS;
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
  for (let p = Math.floor(lo / PAGE); hi >= lo && p <= Math.floor(hi / PAGE); p++) {
    const page = pages.get(p);
    if (page) {
      pages.delete(p);
      pages.set(p, page);
    }
  }
  // No rows yet (the panel just opened) and their page is still on its way: rows are created
  // when it comes, in the same frame as their text, instead of hidden now and filled a frame later.
  if (views.length === 0 && hi >= lo && !pageOf(lo)) hi = lo - 1;
  const n = Math.max(0, hi - lo + 1);
  const kept = views.filter((v) => v.row >= lo && v.row <= hi);
  if (kept.length === 0) {
    // A jump (or the first render): reuse the elements in place, in order; no DOM moves.
    while (views.length < n) {
      const v = spare.pop() ?? newView();
      spacer.appendChild(v.el);
      views.push(v);
    }
    while (views.length > n) {
      const v = views.pop()!;
      v.el.remove();
      spare.push(v);
    }
    for (let i = 0; i < n; i++) showRow(views[i]!, lo + i);
  } else {
    // A scroll that keeps some rows: the elements of rows that left go to the side that needs rows.
    const free = views.filter((v) => v.row < lo || v.row > hi);
    const take = () => free.pop() ?? spare.pop() ?? newView();
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
      spare.push(v);
    }
    views = [...before, ...kept, ...after];
    for (let i = 0; i < views.length; i++) showRow(views[i]!, lo + i);
  }
  // Rows waiting for their page are hidden; assistive technology hears that the grid is loading.
  const busy = views.some((v) => v.hidden);
  if (!firstRowsSent && views.length > 0 && !busy) {
    firstRowsSent = true;
    vscode.postMessage({ type: "firstRows", rows: views.length, sinceLoad: Math.round(performance.now()), timeOrigin: performance.timeOrigin });
  }
  if (busy !== (scroller.getAttribute("aria-busy") === "true")) scroller.setAttribute("aria-busy", String(busy));
  // The grid keeps focus; assistive technology follows the selected row through this.
  const active = selectedRow >= lo && selectedRow <= hi && selectedRow >= first && selectedRow <= last ? `row-${selectedRow}` : "";
  if (active && scroller.getAttribute("aria-activedescendant") !== active) scroller.setAttribute("aria-activedescendant", active);
  else if (!active && scroller.hasAttribute("aria-activedescendant")) scroller.removeAttribute("aria-activedescendant");
  drawTimelineCursor();
}

/** Puts `row` into the element `v`, writing only what differs from what it shows. */
function showRow(v: RowView, row: number): void {
  if (v.row !== row) {
    v.row = row;
    v.version = -1;
  }
  if (v.version === contentVersion && v.selected === (row === selectedRow)) return;
  fillRow(v, row, row === selectedRow);
}

/** Moves the element to `row`'s place (only rows with their data are placed: a hidden row is not). */
function place(v: RowView, row: number): void {
  if (v.placed === row) return;
  v.placed = row;
  const r = v.el;
  r.style.transform = `translateY(${row * ROW_HEIGHT}px)`;
  r.dataset.row = String(row);
  r.id = `row-${row}`;
  r.setAttribute("aria-rowindex", String(row + 2));
}

/**
 * Scrolls the least distance that shows `row`, at the start of the next render: the scroll
 * position is read there anyway, while reading it here, after the DOM changed, forced a layout
 * (on opening, 25-40 ms: the first layout of the rows, before they were even in a frame).
 */
let revealRow = -1;
function reveal(row: number): void {
  revealRow = row;
  schedule();
}
function applyReveal(top: number, height: number): number {
  const row = revealRow;
  revealRow = -1;
  if (row < 0) return top;
  const y = row * ROW_HEIGHT;
  if (y < top) return (scroller.scrollTop = y);
  if (y + ROW_HEIGHT > top + height) return (scroller.scrollTop = y + ROW_HEIGHT - height);
  return top;
}

function pageOf(row: number): Page | undefined {
  const p = Math.floor(row / PAGE);
  const page = pages.get(p);
  if (page && page.gen === generation) {
    // LRU: move to the end.
    pages.delete(p);
    pages.set(p, page);
    return page;
  }
  loadPage(p);
  return undefined;
}

/** Fetches page `p` once per generation: a second ask while it is on its way gets the same answer. */
function loadPage(p: number): Promise<void> {
  const gen = generation;
  if (pages.get(p)?.gen === gen) return Promise.resolve();
  const on = pending.get(p);
  if (on && on.gen === gen) return on.done;
  const entry = { gen, done: Promise.resolve() };
  entry.done = (async () => {
    try {
      const r = await request<{ start: number; count: number; matched: number; columns: Record<string, ArrayLike<number>> }>("tracePage", { filter: state.filter, start: p * PAGE, count: PAGE, compare: state.compare });
      if (gen !== generation) return;
      pages.set(p, { gen, start: r.start, cols: r.columns });
      while (pages.size > MAX_PAGES) pages.delete(pages.keys().next().value as number);
      schedule();
    } catch (e) {
      showMessage(`Could not load rows: ${(e as Error).message}`);
    } finally {
      if (pending.get(p) === entry) pending.delete(p);
    }
  })();
  pending.set(p, entry);
  return entry.done;
}

const REASONS = SHORT_REASONS;
const KIND = EVENT_KIND_NAMES;
/** Reused by every refill: the event's fields and its cells (rowCells, the one rendering search matches too). */
const fields: RowFields = { index: 0, step: 0, kind: 0, flags: 0, level: 0, reason: 0, sid: 0, did: 0, aLo: 0, aHi: 0, bLo: 0, bHi: 0 };
const cellText: string[] = [];

function fillRow(v: RowView, row: number, selected: boolean): void {
  const page = pageOf(row);
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
  place(v, row);
  if (v.selected !== selected) {
    v.selected = selected;
    v.el.setAttribute("aria-selected", selected ? "true" : "false");
  }
  if (v.hidden) {
    v.hidden = false;
    v.el.style.visibility = "";
  }
  v.version = contentVersion;
  const k = row - page.start;
  const col = page.cols;
  readRow(col as RowColumns, k, col.index![k]!, fields);
  rowCells(fields, deviceBySid.get(fields.sid), radix, cellText);
  const cls = rowResult(fields).cls;
  const diff = state.compare ? col.diff?.[k] ?? 0 : 0;
  const change = diff & DIFF_KIND_MASK;
  setClass(`row ${cls}${selected ? " selected" : ""}${change === DIFF_ADDED ? " added" : change === DIFF_CHANGED ? " changed" : ""}${diff & DIFF_REMOVED_BEFORE ? " removed-before" : ""}${diff & DIFF_REMOVED_AFTER ? " removed-after" : ""}`);
  for (let c = 0; c < COLS.length; c++) set(c, cellText[c]!);
  const title = diff ? diffTitle(diff, col.removed?.[k] ?? 0, col.removedAfter?.[k] ?? 0) : "";
  if (v.title !== title) {
    v.el.title = v.title = title;
    if (title) v.gutter.setAttribute("aria-label", title);
    else v.gutter.removeAttribute("aria-label");
  }
  const mark = change === DIFF_ADDED ? "+" : change === DIFF_CHANGED ? "~" : diff & (DIFF_REMOVED_BEFORE | DIFF_REMOVED_AFTER) ? "−" : "";
  if (v.mark !== mark) v.gutter.textContent = v.mark = mark;
}

/** Comparison marks of a row (the engine's diffRuns): the low bits added/changed, then where events were removed. */
const DIFF_KIND_MASK = 3;
const DIFF_ADDED = 1;
const DIFF_CHANGED = 2;
const DIFF_REMOVED_BEFORE = 4;
const DIFF_REMOVED_AFTER = 8;
const events = (n: number) => `${groupDigits(n)} ${nounFor(n, "event")}`;

function diffTitle(diff: number, before: number, after: number): string {
  const parts: string[] = [];
  const change = diff & DIFF_KIND_MASK;
  if (change === DIFF_ADDED) parts.push("Added since the previous run.");
  else if (change === DIFF_CHANGED) parts.push("Changed since the previous run.");
  if (diff & DIFF_REMOVED_BEFORE) parts.push(`${events(before)} of the previous run removed before this row.`);
  if (diff & DIFF_REMOVED_AFTER) parts.push(`${events(after)} of the previous run removed after this row.`);
  return parts.join(" ");
}

// ---------------------------------------------------------------- selection and cursor

function rowAt(row: number): { event: number; step: number; kind: number } | undefined {
  const p = pages.get(Math.floor(row / PAGE));
  if (!p || p.gen !== generation) return undefined;
  const k = row - p.start;
  return { event: p.cols.index![k]!, step: p.cols.step![k]!, kind: p.cols.kind![k]! };
}

async function select(row: number, notify = true): Promise<void> {
  if (matched === 0) return;
  row = Math.max(0, Math.min(row, matched - 1));
  selectedRow = row;
  reveal(row);
  schedule();
  let r = rowAt(row);
  if (!r) {
    await loadPage(Math.floor(row / PAGE));
    r = rowAt(row);
  }
  if (!r || selectedRow !== row) return;
  state.selected = r.event;
  persist();
  if (notify && r.step !== cursorStep) {
    cursorStep = r.step;
    vscode.postMessage({ type: "select", event: r.event, step: r.step });
  }
  if (r.kind === 1 || r.kind === 2) void showWalk(r.event);
  else showSlowPath(r.event, r.step, r.kind);
}

/** A slow-path event has no walk: say what it is and which step made it. */
function showSlowPath(event: number, step: number, kind: number): void {
  walkPane.replaceChildren();
  walkPane.append(el("h3", {}, `Event #${event} · step ${step + 1} (line ${(steps[step]?.line ?? 0) + 1})`));
  const what: Record<number, string> = {
    3: "VFIO_IOMMU_MAP_DMA: the host driver wrote page-table entries for this IOVA range and flushed as Linux does.",
    4: "VFIO_IOMMU_UNMAP_DMA: the entries were cleared and the IOTLB invalidated (page-selective or domain).",
    5: "An invalidation descriptor processed by the IOMMU (queued invalidation).",
    6: "A context entry written: the device's requester id now points at its domain's tables.",
    7: "A context entry cleared: the device is detached from the domain.",
    // The model's own account of this VM (with or without a vIOMMU), not a generic sentence.
    8: steps[step]?.summary ?? "The VM started.",
    9: "The VM stopped: its mappings are gone.",
    10: "A raw write into a table entry (poke): the next walk reads whatever was written.",
    11: "A slow-path operation failed (errno or a refused start); see the step's outcome.",
  };
  walkPane.append(el("p", {}, `${KIND[kind] ?? "event"} (${steps[step]?.op ?? ""} step)`));
  walkPane.append(el("p", { class: "fields" }, what[kind] ?? ""));
}

/** The first kept event of the next (or previous) step that has one. */
async function jumpStep(dir: 1 | -1): Promise<void> {
  const rowData = async (row: number) => rowAt(row) ?? (await loadPage(Math.floor(row / PAGE)), rowAt(row));
  const cur = selectedRow >= 0 ? await rowData(selectedRow) : undefined;
  const step = cur?.step ?? cursorStep;
  if (dir > 0) {
    // The first kept row at or after the next step's first event belongs to the next step with rows.
    const r = await request<{ row: number }>("traceLocate", { filter: state.filter, step: step + 1 });
    if (r.row < matched && step + 1 < steps.length) return select(r.row);
  } else {
    const first = await request<{ row: number }>("traceLocate", { filter: state.filter, step });
    const prev = first.row - 1;
    const p = prev >= 0 ? await rowData(prev) : undefined;
    if (p) return select((await request<{ row: number }>("traceLocate", { filter: state.filter, step: p.step })).row);
  }
  showMessage(dir > 0 ? "No later step has rows here." : "No earlier step has rows here.", true);
}

async function jumpFault(dir: 1 | -1): Promise<void> {
  const r = await request<{ row: number }>("traceNextFault", { filter: state.filter, row: selectedRow, dir });
  if (r.row >= 0) await select(r.row);
  else showMessage(dir > 0 ? "No fault after this row." : "No fault before this row.", true);
}

async function showWalk(event: number): Promise<void> {
  const w = await request<TranslateAnswer & { event: number; step: number; device: string }>("traceWalk", { event }).catch(() => undefined);
  if (!w || state.selected !== event) return;
  walkPane.replaceChildren();
  walkPane.append(el("h3", {}, `Event #${w.event} · step ${w.step + 1} (line ${(steps[w.step]?.line ?? 0) + 1}) · ${w.device}`));
  walkPane.append(el("p", { class: w.reason ? "verdict fault" : "verdict ok" }, w.summary));
  const list = el("ol", { class: "stages" });
  for (const s of w.stages) {
    const li = el("li", { class: s.stop ? "stage stop" : "stage" });
    const name = s.kind === "root" ? `Root entry [bus ${s.index.toString(16).padStart(2, "0")}]` : s.kind === "context" ? `Context entry [${(s.index >> 3).toString(16).padStart(2, "0")}.${s.index & 7}]` : `Level-${s.level} entry [${s.index}]`;
    li.append(el("div", { class: "stage-name" }, name));
    li.append(el("div", { class: "mono" }, `@ ${s.address} = ${s.raw.join(" ")}`));
    li.append(el("div", { class: "fields" }, s.fields.map(([k, v]) => `${k}=${v}`).join("  ")));
    if (s.stop) li.append(el("div", { class: "why" }, `✗ ${s.stop}`));
    list.append(li);
  }
  if (w.reason === 0 && w.hpa) list.append(el("li", { class: "stage page" }, `Page → HPA ${w.hpa}${w.iotlbHit ? " (from the IOTLB)" : ""}`));
  walkPane.append(list);
  // The entry where the walk stopped in view (F8 from far away: the failing level, not the root entry).
  const stop = list.querySelector<HTMLElement>(".stage.stop");
  walkPane.scrollTop = 0;
  if (stop && stop.offsetTop + stop.offsetHeight > walkPane.clientHeight) walkPane.scrollTop = stop.offsetTop + stop.offsetHeight - walkPane.clientHeight + 8;
}

function persist(): void {
  vscode.setState(state);
}

// ---------------------------------------------------------------- filters

function option(sel: HTMLSelectElement, value: string, label: string): void {
  const o = el("option", { value }, label);
  sel.append(o);
}

function fillFilters(): void {
  if (!info) return;
  const keep = (sel: HTMLSelectElement, fill: () => void) => {
    const v = sel.value;
    sel.replaceChildren();
    fill();
    sel.value = v || "";
  };
  keep(deviceSel, () => {
    option(deviceSel, "", "All devices");
    for (const d of info!.devices) option(deviceSel, String(d.sid), `${d.key}${d.name ? ` ${d.name}` : ""}`);
  });
  keep(vmSel, () => {
    option(vmSel, "", "All VMs");
    for (const v of info!.vms) option(vmSel, v, v);
  });
  keep(resultSel, () => {
    option(resultSel, "", "All results");
    for (const [v, l] of [["1", "IOTLB hits"], ["2", "Walks"], ["3", "Faults"], ["4", "Interrupts"], ["5", "Slow path"], ["1,2,3,4", "DMA only"]]) option(resultSel, v!, l!);
  });
  keep(reasonSel, () => {
    option(reasonSel, "", "Any reason");
    for (const [r, n] of Object.entries(info!.summary.byReason)) option(reasonSel, r, `0x${Number(r).toString(16).padStart(2, "0")} ${REASONS[Number(r)] ?? ""} (${n})`);
  });
  deviceSel.value = state.filter.sids?.length ? String(state.filter.sids[0]) : "";
  vmSel.value = state.filter.vms?.[0] ?? "";
  resultSel.value = state.filter.results?.join(",") ?? "";
  reasonSel.value = state.filter.reasons?.length ? String(state.filter.reasons[0]) : "";
  iovaMin.value = state.filter.iovaMin ?? "";
  iovaMax.value = state.filter.iovaMax ?? "";
  search.value = state.filter.text ?? "";
  compareBox.checked = state.compare;
  compareBox.disabled = !info.canCompare;
}

function readFilters(): TraceFilter {
  const f: TraceFilter = {};
  if (deviceSel.value) f.sids = [Number(deviceSel.value)];
  if (vmSel.value) f.vms = [vmSel.value];
  if (resultSel.value) f.results = resultSel.value.split(",").map(Number) as TraceFilter["results"];
  if (reasonSel.value) f.reasons = [Number(reasonSel.value)];
  if (iovaMin.value.trim()) f.iovaMin = iovaMin.value.trim();
  if (iovaMax.value.trim()) f.iovaMax = iovaMax.value.trim();
  // Search matches the rows as shown, addresses in the radix shown.
  if (search.value.trim()) {
    f.text = search.value.trim();
    if (radix === "dec") f.radix = "dec";
  }
  return f;
}

let filterTimer = 0;
function onFilter(): void {
  clearTimeout(filterTimer);
  filterTimer = window.setTimeout(() => {
    for (const input of [iovaMin, iovaMax]) input.classList.toggle("invalid", input.value.trim() !== "" && !/^(0x[0-9a-f_]+|\d[\d_]*)$/i.test(input.value.trim()));
    state.filter = readFilters();
    state.compare = compareBox.checked;
    persist();
    void reload(cursorStep);
  }, 120);
}
for (const c of [deviceSel, vmSel, resultSel, reasonSel, compareBox]) c.addEventListener("change", onFilter);
for (const c of [iovaMin, iovaMax, search]) c.addEventListener("input", onFilter);

// ---------------------------------------------------------------- data

/** Fetches counts and the timeline, drops cached pages, keeps the cursor on `step`. */
async function reload(step: number): Promise<void> {
  const gen0 = ++generation;
  invalidateRows();
  pages.clear();
  // Ask for the counts, the cursor's row and the first page at once: the first rows appear
  // one round trip after the panel opens, not three. A panel usually opens at step 0, whose
  // first row is row 0: its page is asked for now, not after traceLocate's answer (loadPage
  // asks once, so the located page is not fetched twice).
  if (step === 0) void loadPage(0);
  const located = request<{ row: number }>("traceLocate", { filter: state.filter, step });
  const first = located.then((l) => loadPage(Math.floor(l.row / PAGE)));
  try {
    info = await request<TraceInfo>("traceInfo", { filter: state.filter, compare: state.compare });
  } catch (e) {
    showMessage(`The trace is not available: ${(e as Error).message}`);
    return;
  }
  matched = info.summary.matched;
  grid.classList.toggle("compare", state.compare);
  fitSplit();
  deviceBySid = new Map(info.devices.map((d) => [d.sid, d]));
  invalidateRows();
  fillFilters();
  const s = info.summary;
  // Index and step columns as wide as their largest number (trace.css).
  grid.style.setProperty("--index-digits", String(String(Math.max(0, s.total - 1)).length));
  grid.style.setProperty("--step-digits", String(String(Math.max(1, steps.length)).length));
  counts.textContent = `${groupDigits(matched)} of ${groupDigits(s.total)} ${nounFor(s.total, "event")} · ${groupDigits(s.faults)} ${nounFor(s.faults, "fault")}${state.compare && info.removed ? ` · ${groupDigits(info.removed)} removed since the previous run` : ""}`;
  scroller.setAttribute("aria-rowcount", String(matched + 1));
  virtualizer.setOptions({ ...virtualizer.options, count: Math.ceil(matched / PAGE) });
  virtualizer.measure();
  hideMessage();
  if (matched === 0) showMessage("No events match the filter.", true);
  schedule();
  // Keep the cursor on the same step where it still exists.
  const loc = await located;
  await first;
  // The first rows now, not in the next frame: with the answers in the document this runs while
  // the script starts, before the browser's first frame.
  if (views.length === 0 && gen0 === generation) render();
  // The timeline (a request, its answer and a canvas draw) waits until the first rows have been
  // rendered (a frame callback queued after the render's) and painted (the task after it): the
  // rows are what the user waits for.
  const gen = generation;
  requestAnimationFrame(() => setTimeout(() => gen === generation && void drawTimeline()));
  if (matched > 0) await select(Math.min(loc.row, matched - 1), false);
}

// ---------------------------------------------------------------- timeline

let tl: { events: ArrayLike<number>; faults: ArrayLike<number>; steps: ArrayLike<number> } | undefined;
async function drawTimeline(): Promise<void> {
  const width = Math.max(100, timeline.clientWidth || 800);
  tl = await request("traceTimeline", { filter: state.filter, buckets: width });
  if (timeline.width !== width) timeline.width = width;
  drawTimelineBase();
}

/**
 * The theme's colors, read once (getComputedStyle forces a style pass: not on every scroll
 * frame) and again when VS Code switches themes (it sets vscode-light/-dark/-high-contrast on body).
 */
let colors: ReturnType<typeof readColors> | undefined;
function readColors(): { bar: string; fault: string; cursor: string; tick: string } {
  const css = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return { bar: v("--vscode-charts-blue", "#3794ff"), fault: v("--vscode-errorForeground", "#f14c4c"), cursor: v("--vscode-focusBorder", "#007fd4"), tick: v("--vscode-descriptionForeground", "#999999") };
}
new MutationObserver(() => {
  colors = undefined;
  drawTimelineBase();
}).observe(document.body, { attributes: true, attributeFilter: ["class"] });

/** Bars, faults and step ticks, drawn when the data, the size or the theme change; the cursor goes over a copy of them. */
const base = document.createElement("canvas");
let cursorX = -1;
function drawTimelineBase(): void {
  const ctx = base.getContext("2d");
  if (!ctx || !tl) return;
  // Read when first drawn, not when the script starts: getComputedStyle there forced a style pass before the first rows.
  colors ??= readColors();
  const w = (base.width = timeline.width);
  const h = (base.height = timeline.height);
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
  cursorX = -2;
  drawTimelineCursor();
}

/** Redraws only when the cursor moved (or the base changed): a copy of the base, then the cursor. */
function drawTimelineCursor(): void {
  const ctx = timeline.getContext("2d");
  if (!ctx || !tl) return;
  const sel = state.selected;
  const x = sel !== undefined && info ? Math.floor((sel * tl.events.length) / Math.max(1, info.summary.total)) : -1;
  if (x === cursorX) return;
  cursorX = x;
  ctx.clearRect(0, 0, timeline.width, timeline.height);
  ctx.drawImage(base, 0, 0);
  if (x >= 0) {
    ctx.fillStyle = (colors ??= readColors()).cursor;
    ctx.fillRect(Math.max(0, x - 1), 0, 2, timeline.height);
  }
}

timeline.addEventListener("click", (e) => {
  if (!info || !tl) return;
  const rect = timeline.getBoundingClientRect();
  const bucket = Math.floor(((e.clientX - rect.left) / rect.width) * tl.events.length);
  const event = Math.floor((bucket * info.summary.total) / tl.events.length);
  void request<{ row: number }>("traceLocate", { filter: state.filter, event }).then((r) => select(Math.min(r.row, matched - 1)));
});

// ---------------------------------------------------------------- keyboard

scroller.addEventListener("keydown", (e) => {
  const page = Math.max(1, Math.floor(scroller.clientHeight / ROW_HEIGHT) - 1);
  const key = e.key;
  let handled = true;
  if (key === "ArrowDown" || key === "j") void select(selectedRow + 1);
  else if (key === "ArrowUp" || key === "k") void select(selectedRow - 1);
  else if (key === "PageDown") void select(selectedRow + page);
  else if (key === "PageUp") void select(selectedRow - page);
  else if (key === "Home") void select(0);
  else if (key === "End") void select(matched - 1);
  else if (key === "F8" || key === "n") void jumpFault(e.shiftKey ? -1 : 1);
  else if (key === "N") void jumpFault(-1);
  else if (key === "]") void jumpStep(1);
  else if (key === "[") void jumpStep(-1);
  else if (key === "x") vscode.postMessage({ type: "toggleRadix" });
  else handled = false;
  if (handled) e.preventDefault();
});

// ---------------------------------------------------------------- messages

function showMessage(text: string, soft = false): void {
  message.textContent = text;
  message.className = soft ? "message soft" : "message error";
}
function hideMessage(): void {
  message.textContent = "";
  message.className = "message";
}

window.addEventListener("message", (ev: MessageEvent<ToWebview>) => onHostMessage(ev.data));

function onHostMessage(m: ToWebview): void {
  switch (m.type) {
    case "reply":
      rpc.receive(m);
      return;
    case "run":
      rememberUri(m.uri);
      file = m.file;
      fileLabel.textContent = m.stale ? `${file} (stale: the text has errors)` : file;
      steps = m.steps;
      cursorStep = m.step;
      if (m.runVersion !== runVersion) {
        runVersion = m.runVersion;
        // Answers prefetched for the document's run are not this run's.
        if (!startingUp) prefetched.clear();
        void reload(m.step);
      }
      return;
    case "cursor":
      if (m.step !== cursorStep) {
        cursorStep = m.step;
        void request<{ row: number }>("traceLocate", { filter: state.filter, step: m.step }).then((r) => {
          if (matched) void select(Math.min(r.row, matched - 1), false);
        });
      }
      return;
    case "radix":
      if (m.radix !== radix) invalidateRows();
      radix = m.radix;
      showRadix();
      // A search matches addresses as shown: in the other radix it keeps other rows.
      if (state.filter.text && (state.filter.radix ?? "hex") !== radix) {
        const { radix: _old, ...rest } = state.filter;
        state.filter = radix === "dec" ? { ...rest, radix } : rest;
        persist();
        if (runVersion !== -1) void reload(cursorStep);
      }
      schedule();
      return;
    case "empty":
      rememberUri(m.uri);
      // No data (the scenario closed or has not run): clear the rows; the next run reloads.
      runVersion = -1;
      matched = 0;
      generation++;
      invalidateRows();
      pages.clear();
      counts.textContent = "";
      virtualizer.setOptions({ ...virtualizer.options, count: 0 });
      walkPane.replaceChildren();
      schedule();
      showMessage(m.message, true);
      return;
  }
}

/** Keeps the panel's scenario in the saved state, so that a reload restores this scenario's trace. */
function rememberUri(uri: string): void {
  if (state.uri === uri) return;
  state.uri = uri;
  vscode.setState(state);
}

// The header row is outside the scroller: it leaves room for the rows' vertical scrollbar, so that
// its flexible columns are exactly the rows' columns.
let scrollbar = -1;
new ResizeObserver(() => {
  const w = scroller.offsetWidth - scroller.clientWidth;
  if (w !== scrollbar) headRow.style.paddingRight = `${(scrollbar = w)}px`;
}).observe(scroller);
// Its first call comes as soon as it observes, before there is a trace: nothing to draw then
// (reload draws the timeline once the first rows are on screen).
new ResizeObserver(() => {
  if (info) void drawTimeline();
}).observe(timeline);
vscode.postMessage({ type: "ready" });
// What the host wrote into the document (InitialMessages): the answers to the first requests,
// then the run, so that the first rows are drawn now, not two host round trips later (the same
// run comes again as a message). Prefetched answers nobody asked for are dropped after the first
// rows, so that a later request with the same params asks the host.
startingUp = true;
for (const m of initialMessages()) {
  if (m.type === "prefetched") prefetched.set(requestKey(m.method, m.params), m.result);
  else onHostMessage(m);
}
startingUp = false;
if (prefetched.size) requestAnimationFrame(() => setTimeout(() => prefetched.clear()));

function initialMessages(): InitialMessages {
  try {
    const parsed: unknown = JSON.parse(document.body.dataset.initial ?? "[]");
    return Array.isArray(parsed) ? (parsed as InitialMessages) : [];
  } catch {
    return []; // the messages posted after "ready" carry the same
  }
}
