#!/usr/bin/env node
// `npm run bench:webview`: the DMA Trace webview with a 1 000 000-event trace in real Chromium:
// time to the first rows, frame times while scrolling end to end, DOM rows and JS heap. Prints
// one JSON line. Measurement only (never a timed test).
import { serve, chromium } from "./harness.mjs";

const server = await serve();
const browser = await chromium();
const runs = [];
for (let run = 0; run < 3; run++) {
  // The browser's own share: DOMContentLoaded of a page with the stylesheet and a one-line script.
  const blank = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await blank.goto(server.baseline);
  const baselineDcl = await blank.evaluate(() => performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd);
  await blank.close();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const firstRow = page.waitForEvent("console", { predicate: (m) => m.text() === "first-row", timeout: 20_000 });
  await page.goto(server.url({ events: 1_000_000 }));
  await firstRow;
  const first = await page.evaluate(() => ({ firstRow: window.__firstRow, dcl: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd }));
  const heap0 = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
  // Scroll from top to bottom in 400 frames. A frame's work: from the frame's start (the rAF
  // timestamp) to the end of style and layout, measured in a rAF callback that runs after the
  // webview's own render callback of that frame (scripts + style + layout; paint is excluded).
  const frames = await page.evaluate(async () => {
    const el = document.querySelector(".scroller");
    const max = el.scrollHeight - el.clientHeight;
    const n = 400;
    const out = [];
    const frame = () => new Promise((ok) => requestAnimationFrame(ok));
    for (let i = 1; i <= n; i++) {
      await frame();
      el.scrollTop = Math.round((max * i) / n);
      el.dispatchEvent(new Event("scroll")); // the virtualizer schedules the render for the next frame
      const work = await new Promise((ok) => requestAnimationFrame((ts) => {
        void el.offsetHeight; // force style + layout of what the render changed
        ok(performance.now() - ts);
      }));
      out.push(work);
    }
    return out;
  });
  await page.waitForTimeout(300);
  const after = await page.evaluate(() => ({ rows: document.querySelectorAll(".scroller .row").length, heap: performance.memory?.usedJSHeapSize ?? 0, last: document.querySelector(".scroller .row:last-child")?.firstChild?.textContent }));
  // Scrolling as a mouse wheel does (3 rows a frame, 300 frames from the top): the rows on screen
  // have their data (their pages come while they are approached), unlike the end-to-end scroll
  // above, whose 2500-row jumps mostly draw placeholder rows whose pages are still on their way.
  const wheel = await page.evaluate(async () => {
    const el = document.querySelector(".scroller");
    const frame = () => new Promise((ok) => requestAnimationFrame(ok));
    el.scrollTop = 0;
    el.dispatchEvent(new Event("scroll"));
    for (let i = 0; i < 20; i++) await frame();
    const out = [];
    for (let i = 1; i <= 300; i++) {
      await frame();
      el.scrollTop = i * 66;
      el.dispatchEvent(new Event("scroll"));
      const work = await new Promise((ok) => requestAnimationFrame((ts) => {
        void el.offsetHeight;
        ok(performance.now() - ts);
      }));
      out.push(work);
    }
    return out;
  });
  wheel.sort((a, b) => a - b);
  frames.sort((a, b) => a - b);
  const p = (q) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))];
  runs.push({ first_rows_ms: +first.firstRow.toFixed(1), first_rows_after_dcl_ms: +(first.firstRow - first.dcl).toFixed(1), dom_content_loaded_ms: +first.dcl.toFixed(1), baseline_dom_content_loaded_ms: +baselineDcl.toFixed(1), frame_p50_ms: +p(0.5).toFixed(2), frame_p95_ms: +p(0.95).toFixed(2), frame_max_ms: +frames.at(-1).toFixed(2), wheel_p50_ms: +wheel[150].toFixed(2), wheel_p95_ms: +wheel[285].toFixed(2), wheel_max_ms: +wheel.at(-1).toFixed(2), dom_rows: after.rows, heap_mb_before: +(heap0 / 2 ** 20).toFixed(1), heap_mb_after: +(after.heap / 2 ** 20).toFixed(1) });
  await page.close();
}
await browser.close();
await server.close();
console.log(JSON.stringify({ events: 1_000_000, runs }));
