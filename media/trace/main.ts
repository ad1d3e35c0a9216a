/**
 * The DMA Trace webview: a virtualized table of trace rows (paged from the worker through the
 * host, pages evicted beyond a bound), filters with counts, keyboard stepping, a timeline of the
 * whole run, the walk diagram of the selected translation, compare-with-previous marks and export.
 * Every string from a scenario or a log is set with textContent or as a Text node's data; nothing is
 * parsed as HTML.
 *
 * This file only wires the parts, each a module with one job and its own state: host.ts (the
 * channel to the extension host), store.ts (the panel's state), pages.ts (the paged rows), rows.ts
 * (the virtualized row list), toolbar.ts (filters and the cursor bar), timeline.ts, walk.ts (the
 * walk pane), split.ts (rows | walk), keyboard.ts; controller.ts does what the panel does.
 */
// First: the l10n bundle is configured before any module below translates a string.
import "./l10n.js";
import { HostChannel } from "./host.js";
import { TraceStore } from "./store.js";
import { PageCache } from "./pages.js";
import { RowList } from "./rows.js";
import { Toolbar } from "./toolbar.js";
import { Timeline } from "./timeline.js";
import { WalkPane } from "./walk.js";
import { Split } from "./split.js";
import { bindGridKeys } from "./keyboard.js";
import { MessageLine } from "./dom.js";
import { TraceController } from "./controller.js";

const host = new HostChannel();
const store = new TraceStore(host.saved());
const message = new MessageLine();
// The parts call the controller through these (it is made from the parts, below).
const select = (row: number) => void controller.select(row);
const jumpFault = (dir: 1 | -1) => void controller.jumpFault(dir);
const jumpStep = (dir: 1 | -1) => void controller.jumpStep(dir);
const toggleRadix = () => controller.toggleRadix();

const pages = new PageCache(host, store, () => rows.schedule(), (text) => message.show(text));
const rows: RowList = new RowList(store, pages, host, { select, rendered: () => timeline.drawCursor() });
const toolbar = new Toolbar(
  {
    selectRow: (which) => select(which === "first" ? 0 : which === "previous" ? store.selectedRow - 1 : which === "next" ? store.selectedRow + 1 : store.matched - 1),
    jumpFault,
    jumpStep,
    toggleRadix,
    exportRows: (format) => controller.exportRows(format),
    filter: (filter, compare) => controller.filter(filter, compare),
  },
  () => store.radix,
);
const timeline: Timeline = new Timeline(host, store, select);
const walk = new WalkPane(host, store);
const split = new Split(rows.grid, walk.el, store, { persist: () => controller.persist(), schedule: () => rows.schedule() });
const controller: TraceController = new TraceController({ host, store, pages, rows, toolbar, timeline, walk, split, message });

document.getElementById("app")!.append(toolbar.header, toolbar.nav, timeline.canvas, message.el, split.main);
split.fit();
rows.mount();
bindGridKeys(rows.scroller, { selectedRow: () => store.selectedRow, rows: () => store.matched, select, jumpFault, jumpStep, toggleRadix });
rows.observeScrollbar();
timeline.observeSize();
host.start((m) => controller.onHostMessage(m));
