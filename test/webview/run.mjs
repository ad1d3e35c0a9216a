#!/usr/bin/env node
// Webview tests in real Chromium against the built bundle (dist/webview.js) with a stand-in host:
// rendering, virtualization (bounded DOM rows), filter, keyboard stepping, walk diagram, hostile
// strings, CSP. Prints one line per test and writes test-results/webview.json for the summary.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, chromium } from "./harness.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

const server = await serve();
const browser = await chromium();

async function open(config = {}, waitMs = 90_000) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 800 } });
  // Waits are for conditions; their limit only has to outlast a loaded machine (the 1 MB row
  // alone took 30-40 s of this suite's time there), not measure speed.
  page.setDefaultTimeout(90_000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("dialog", (d) => {
    errors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(server.url(config));
  await page.locator(".row.r-walk, .row.r-hit").first().waitFor({ timeout: waitMs });
  return { page, errors };
}

test("renders rows, counts and the toolbar from the host's data", async () => {
  const { page, errors } = await open({ events: 200 });
  assert.match(await page.locator(".counts").innerText(), /^200 of 200 events · 4 faults$/);
  const first = await page.locator(".row[data-row='1']").innerText();
  assert.match(first, /01:00\.0 X710 10GbE/);
  assert.match(first, /0x1000 → 0x40001000|0x1000 → 0x440001000/);
  assert.deepEqual(errors, []);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  await page.close();
});

test("l10n: strings come from the bundle the host writes into the document; a string it lacks stays English", async () => {
  const l10n = { Search: "Suchen", "{0} of {1} events": "{0} von {1} Ereignissen", "{0} faults": "{0} Fehler", "Next fault (F8)": "Nächster Fehler (F8)", "Compare with previous run": "<img src=x onerror=alert(1)>Vergleichen" };
  const { page, errors } = await open({ events: 200, l10n });
  assert.equal(await page.locator("input[type=search]").getAttribute("placeholder"), "Suchen");
  assert.match(await page.locator(".counts").innerText(), /^200 von 200 Ereignissen · 4 Fehler$/);
  assert.equal(await page.locator("button[aria-label='Nächster Fehler (F8)']").count(), 1);
  // A translation is text too: markup in it is shown, never parsed.
  assert.equal(await page.locator("label[for=compare]").innerText(), "<img src=x onerror=alert(1)>Vergleichen");
  assert.equal(await page.locator("img").count(), 0);
  // Not in the bundle: English.
  assert.equal(await page.locator("input[type=search]").getAttribute("aria-label"), "Search rows");
  assert.deepEqual(errors, []);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  await page.close();
});

test("starts from the run written into its document, before the host's messages after ready", async () => {
  const { page, errors } = await open({ events: 300, runFromDocumentOnly: true });
  assert.match(await page.locator(".counts").innerText(), /^300 of 300 events/);
  assert.equal(await page.locator(".file").innerText(), "perf.passthrough.yaml");
  // Its first request left before anything came from the host.
  const first = await page.evaluate(() => window.__posted.findIndex((m) => m.type === "request"));
  assert.ok(first > 0, "a request was posted");
  assert.deepEqual(errors, []);
  await page.close();
});

test("draws its first rows from the answers written into its document, without asking the host", async () => {
  const { page, errors } = await open({ events: 300 });
  assert.match(await page.locator(".counts").innerText(), /^300 of 300 events/);
  const asked = await page.evaluate(() => window.__posted.filter((m) => m.type === "request").map((m) => `${m.method}${m.method === "tracePage" ? ` ${m.params.start}` : ""}`));
  assert.ok(!asked.includes("traceInfo") && !asked.includes("traceLocate") && !asked.includes("tracePage 0"), `asked: ${asked.join(", ")}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test("does not take answers written for another filter than the one it starts with", async () => {
  // Prefetched for no filter; the webview's saved state filters faults.
  const { page } = await browser.newPage({ viewport: { width: 1300, height: 800 } }).then(async (page) => {
    page.setDefaultTimeout(90_000);
    await page.goto(server.url({ events: 500, initialState: { filter: { results: [3] }, compare: false }, prefetchState: { filter: {}, compare: false } }));
    await page.locator(".row.r-fault").first().waitFor();
    return { page };
  });
  await page.waitForFunction(() => document.querySelector(".counts")?.textContent?.startsWith("10 of 500"));
  const results = await page.locator(".scroller .row > span:nth-child(8)").allInnerTexts();
  assert.ok(results.length > 0 && results.every((r) => r.startsWith("fault")), results.join("|"));
  await page.close();
});

test("virtualizes: a million rows keep the DOM bounded, also after scrolling to the end", async () => {
  const { page } = await open({ events: 1_000_000 });
  const rows = async () => page.locator(".scroller .row").count();
  assert.ok((await rows()) < 80, `DOM rows ${await rows()}`);
  await page.locator(".scroller").focus();
  await page.keyboard.press("End");
  await page.waitForFunction(() => [...document.querySelectorAll(".scroller .row")].some((r) => r.firstChild?.textContent === "999999"));
  assert.ok((await rows()) < 80, `DOM rows after End ${await rows()}`);
  const pages = await page.evaluate(() => window.__posted.filter((m) => m.type === "request" && m.method === "tracePage").length);
  assert.ok(pages <= 10, `pages fetched ${pages}`);
  await page.close();
});

test("filters: choosing Faults shows only faults and updates the counts", async () => {
  const { page } = await open({ events: 500 });
  await page.selectOption("select[aria-label='Result']", "3");
  await page.waitForFunction(() => document.querySelector(".counts")?.textContent?.startsWith("10 of 500"));
  await page.locator(".row.r-fault").first().waitFor();
  const results = await page.locator(".scroller .row > span:nth-child(8)").allInnerTexts();
  assert.ok(results.length > 0 && results.every((t) => /^fault 0x05/.test(t)), results.join("|"));
  await page.close();
});

test("keyboard: Down, F8 (next fault), Shift+F8, End; the selection moves the shared cursor", async () => {
  const { page } = await open({ events: 500 });
  await page.locator(".scroller").focus();
  await page.keyboard.press("Home");
  await page.keyboard.press("ArrowDown");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "1");
  await page.keyboard.press("F8");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "7");
  await page.keyboard.press("F8");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "57");
  await page.keyboard.press("Shift+F8");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "7");
  await page.keyboard.press("End");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "499");
  const selects = await page.evaluate(() => window.__posted.filter((m) => m.type === "select").map((m) => m.step));
  assert.equal(selects.at(-1), 4); // event 499 is in step 5 (index 4)
  await page.close();
});

test("] and [ move to the first row of the next and previous step; x asks for the other radix", async () => {
  const { page } = await open({ events: 500 });
  const drawn = await page.evaluate(() => window.__posted.filter((m) => m.type === "request" && m.method === "traceTimeline").length);
  await page.evaluate(() => window.postMessage({ type: "run", uri: "file:///w/perf.passthrough.yaml", file: "x", runVersion: 2, stale: false, step: 0, steps: Array.from({ length: 5 }, () => ({ line: 0, op: "dma" })) }, "*"));
  // The new run reloads the rows and re-selects the cursor's row, then asks for its timeline: wait
  // for that (a fixed wait can lose the race on a loaded machine: the reload then undoes the keys).
  await page.waitForFunction((n) => window.__posted.filter((m) => m.type === "request" && m.method === "traceTimeline").length > n, drawn);
  await page.locator(".scroller").focus();
  await page.keyboard.press("Home");
  await page.keyboard.press("]");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "100");
  await page.keyboard.press("]");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "200");
  await page.keyboard.press("[");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "100");
  await page.keyboard.press("x");
  assert.ok(await page.evaluate(() => window.__posted.some((m) => m.type === "toggleRadix")));
  await page.close();
});

test("the panel's commands (a navigate message) move like its keys, and a fault selection is reported as one", async () => {
  const { page } = await open({ events: 500 });
  const drawn = await page.evaluate(() => window.__posted.filter((m) => m.type === "request" && m.method === "traceTimeline").length);
  await page.evaluate(() => window.postMessage({ type: "run", uri: "file:///w/perf.passthrough.yaml", file: "x", runVersion: 2, stale: false, step: 0, steps: Array.from({ length: 5 }, () => ({ line: 0, op: "dma" })) }, "*"));
  await page.waitForFunction((n) => window.__posted.filter((m) => m.type === "request" && m.method === "traceTimeline").length > n, drawn);
  const navigate = (action) => page.evaluate((a) => window.postMessage({ type: "navigate", action: a }, "*"), action);
  const selected = (row) => page.waitForFunction((r) => document.querySelector(".row.selected")?.firstChild?.textContent === r, row);
  await navigate("nextFault");
  await selected("7");
  await navigate("nextFault");
  await selected("57");
  await navigate("previousFault");
  await selected("7");
  const lastSelect = () => page.evaluate(() => window.__posted.filter((m) => m.type === "select").at(-1));
  assert.equal((await lastSelect()).fault, true);
  await navigate("nextStep");
  await selected("100");
  assert.deepEqual(await lastSelect(), { type: "select", event: 100, step: 1, fault: false });
  await navigate("nextStep");
  await selected("200");
  await navigate("previousStep");
  await selected("100");
  await page.close();
});

test("keys the grid handles stay in the webview; others go on to VS Code's keybindings (nothing moves twice)", async () => {
  const { page } = await open({ events: 500 });
  // VS Code's webview host forwards the keydown events that reach the webview's window to the workbench.
  await page.evaluate(() => {
    window.__forwarded = [];
    // (a modifier's own keydown, Shift of Shift+F8, binds nothing)
    window.addEventListener("keydown", (e) => ["Shift", "Alt", "Control", "Meta"].includes(e.key) || window.__forwarded.push(e.key));
  });
  await page.locator(".scroller").focus();
  await page.keyboard.press("Home");
  await page.keyboard.press("F8");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "7");
  await page.keyboard.press("Shift+F8");
  await page.keyboard.press("Alt+]");
  assert.deepEqual(await page.evaluate(() => window.__forwarded), []);
  // In the search box F8 is not the grid's: VS Code gets it (its keybinding runs passthrough.traceNextFault).
  await page.locator("input[type=search]").focus();
  await page.keyboard.press("F8");
  assert.deepEqual(await page.evaluate(() => window.__forwarded), ["F8"]);
  await page.close();
});

test("the walk diagram shows each entry and where the walk failed", async () => {
  const { page } = await open({ events: 200 });
  await page.locator(".scroller").focus();
  await page.keyboard.press("F8");
  await page.locator(".walk .stage.stop").waitFor();
  assert.match(await page.locator(".walk .verdict").innerText(), /fault 0x05 PTE Write access is not set/);
  assert.equal(await page.locator(".walk .stage").count(), 3);
  assert.match(await page.locator(".walk .stage.stop .why").innerText(), /not present/);
  // Each entry is named as the model names it (the trail's names), indexed as its table is.
  assert.deepEqual(await page.locator(".walk .stage-name").allInnerTexts(), ["Root entry [bus 01]", "Context entry [00.0]", `SL-PTE [${(await page.evaluate(() => window.__state().selected)) % 512}]`]);
  await page.close();
});

test("cancels what it no longer wants: the walk of a row left before it came, the pages of a filter left", async () => {
  const { page } = await open({ events: 5000 });
  // A worker that is slow to answer walks: select one row, then the next before the walk comes.
  await page.evaluate(() => (window.__config.hold = ["traceWalk"]));
  await page.locator(".scroller").focus();
  await page.keyboard.press("ArrowDown");
  await page.waitForFunction(() => window.__posted.filter((m) => m.type === "request" && m.method === "traceWalk").length >= 1);
  const firstWalk = await page.evaluate(() => window.__posted.filter((m) => m.type === "request" && m.method === "traceWalk").at(-1).id);
  await page.keyboard.press("ArrowDown");
  await page.waitForFunction((id) => window.__posted.some((m) => m.type === "cancel" && m.id === id), firstWalk);
  // Pages still on their way when the filter changes are cancelled, and no error is shown for them.
  await page.evaluate(() => (window.__config.hold = ["tracePage"]));
  await page.keyboard.press("End");
  await page.waitForFunction(() => window.__posted.some((m) => m.type === "request" && m.method === "tracePage" && m.params.start > 0));
  const held = await page.evaluate(() => window.__posted.filter((m) => m.type === "request" && m.method === "tracePage" && m.params.start > 0).map((m) => m.id));
  await page.evaluate(() => (window.__config.hold = []));
  await page.selectOption("select[aria-label='Result']", "3");
  await page.waitForFunction((ids) => ids.every((id) => window.__posted.some((m) => m.type === "cancel" && m.id === id)), held);
  assert.equal(await page.locator(".error, .banner.error").count(), 0);
  await page.close();
});

test("hostile strings are text: HTML, bidi controls and a 1 MB device name", async () => {
  const hostile = "<img src=x onerror=alert(1)>\u202Eevil\u202C";
  const { page, errors } = await open({ events: 100, deviceName: hostile, vm: "<b>vm</b>" });
  assert.equal(await page.locator(".scroller img, .scroller b").count(), 0);
  const cell = await page.locator(".row[data-row='1'] > span:nth-child(3)").evaluate((e) => e.textContent);
  assert.equal(cell, `01:00.0 ${hostile}`);
  await page.locator(".scroller").focus();
  await page.keyboard.press("F8");
  await page.locator(".walk h3").waitFor();
  assert.equal(await page.locator(".walk img").count(), 0);
  assert.deepEqual(errors, []);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  await page.close();
  // A 1 MB device name, VM name and step label (an untrusted scenario) are drawn clipped with an
  // ellipsis, whole in the tooltip: the row, the filter menus and the event pane stay one line, and
  // the panel never lays out a megabyte of text (which took Chromium 4-40 s).
  const big = (c) => `${hostile}${c.repeat(1_000_000)}`;
  const { page: p2, errors: e2 } = await open({ events: 100, deviceNameRepeat: { char: "N", count: 1_000_000 }, vmRepeat: { prefix: hostile, char: "V", count: 1_000_000 }, stepRepeat: { prefix: hostile, char: "O", count: 1_000_000 } }, 120_000);
  const cellOf = async (n) => p2.locator(`.row[data-row='1'] > span:nth-child(${n})`).evaluate((e) => ({ text: e.textContent, title: e.title, height: e.getBoundingClientRect().height, rowHeight: e.parentElement.getBoundingClientRect().height }));
  const dev = await cellOf(3);
  assert.ok(dev.text.length <= 210 && dev.text.endsWith("…"), `device cell ${dev.text.length} characters`);
  assert.equal(dev.title.length, 1_000_008);
  const vm = await cellOf(4);
  assert.ok(vm.text.length <= 200 && vm.text.endsWith("…") && vm.text.startsWith(hostile), `vm cell ${vm.text.length} characters`);
  assert.equal(vm.title, big("V"));
  assert.ok(dev.height <= dev.rowHeight + 0.5, "the row stays one line");
  const options = await p2.locator("select[aria-label='Device'] option, select[aria-label='VM'] option").evaluateAll((os) => os.map((o) => o.textContent.length));
  assert.ok(options.every((n) => n <= 210), `option lengths ${options.join(",")}`);
  // Row 0 is a map of step 1: the event pane names the step's operation, clipped.
  await p2.locator(".row[data-row='0']").click();
  await p2.locator(".walk h3").waitFor();
  const pane = await p2.locator(".walk").evaluate((e) => e.textContent.length);
  assert.ok(pane < 2000, `event pane ${pane} characters`);
  assert.equal(await p2.locator(".walk img, .scroller img, .toolbar img, .walk b").count(), 0);
  assert.deepEqual(e2, []);
  assert.deepEqual(await p2.evaluate(() => window.__violations), []);
  await p2.close();
});

test("a trace that failed to load when the worker restarted loads when the rebuilt run arrives (the same run)", async () => {
  const page = await browser.newPage({ viewport: { width: 1300, height: 800 } });
  page.setDefaultTimeout(90_000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(server.url({ events: 200, prefetch: false, failMethods: ["traceInfo"] }));
  await page.waitForFunction(() => /The trace is not available/.test(document.querySelector(".message")?.textContent ?? ""));
  assert.equal(await page.locator(".counts").innerText(), "");
  // The host's run message after the rebuild: the same document version.
  await page.evaluate(() => (window.__healed = true) && window.postMessage({ type: "run", uri: "file:///w/perf.passthrough.yaml", file: "perf.passthrough.yaml", runVersion: 1, stale: false, step: 0, steps: [] }, "*"));
  await page.waitForFunction(() => /^200 of 200 events/.test(document.querySelector(".counts")?.textContent ?? ""), undefined, { timeout: 30_000 });
  await page.locator(".row.r-walk, .row.r-hit").first().waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test("state survives a reload through getState/setState (filter)", async () => {
  const { page } = await open({ events: 300 });
  await page.fill("input[aria-label='Search rows']", "12");
  await page.waitForFunction(() => /^\d+ of 300/.test(document.querySelector(".counts")?.textContent ?? "") && !document.querySelector(".counts").textContent.startsWith("300"));
  const counts = await page.locator(".counts").innerText();
  const saved = await page.evaluate(() => window.__state());
  assert.equal(saved.filter.text, "12");
  // The panel remembers which scenario it shows: a restored panel reopens that one, not the active one.
  assert.equal(saved.uri, "file:///w/perf.passthrough.yaml");
  await page.close();
  // A new webview (after a reload) gets the saved state back: the same filter, the same rows.
  const { page: p2 } = await open({ events: 300, initialState: saved });
  assert.equal(await p2.inputValue("input[aria-label='Search rows']"), "12");
  await p2.waitForFunction((c) => document.querySelector(".counts")?.textContent === c, counts);
  await p2.close();
});

test("compare with previous run: added, changed and removed rows are marked, with tooltips", async () => {
  const { page, errors } = await open({ events: 200, compare: true });
  assert.equal(await page.locator(".row.added, .row.changed").count(), 0); // off until asked
  await page.locator("#compare").check();
  await page.locator(".row.added").first().waitFor();
  assert.match(await page.locator(".counts").innerText(), /· 60 removed since the previous run$/);
  const marks = await page.evaluate(() => Object.fromEntries([3, 4, 5, 6, 7].map((i) => {
    const r = document.querySelector(`.row[data-row='${i}']`);
    return [i, { cls: [...r.classList].filter((c) => ["added", "changed", "removed-before", "removed-after"].includes(c)).join(" "), title: r.title }];
  })));
  assert.deepEqual(marks, {
    3: { cls: "added", title: "Added since the previous run." },
    4: { cls: "changed", title: "Changed since the previous run." },
    5: { cls: "removed-before", title: "2 events of the previous run removed before this row." },
    6: { cls: "removed-after", title: "1 event of the previous run removed after this row." },
    7: { cls: "", title: "" },
  });
  // The marker is a theme-colored line, not text.
  const line = await page.locator(".row[data-row='5']").evaluate((r) => getComputedStyle(r, "::before").height);
  assert.equal(line, "2px");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a11y: the grid's aria-activedescendant names the selected row", async () => {
  const { page } = await open({ events: 300 });
  await page.locator(".scroller").focus();
  await page.keyboard.press("Home");
  await page.keyboard.press("ArrowDown");
  await page.waitForFunction(() => document.querySelector(".row.selected")?.firstChild?.textContent === "1");
  await page.waitForFunction(() => document.querySelector(".scroller").getAttribute("aria-activedescendant") === "row-1");
  const active = await page.evaluate(() => {
    const id = document.querySelector(".scroller").getAttribute("aria-activedescendant");
    const r = document.getElementById(id);
    return { selected: r?.getAttribute("aria-selected"), role: r?.getAttribute("role"), text: r?.firstChild?.textContent };
  });
  assert.deepEqual(active, { selected: "true", role: "row", text: "1" });
  await page.close();
});

test("timeline: step ticks drawn, no style recalculation while scrolling, recolored on a theme change", async () => {
  const { page } = await open({ events: 500 });
  const pixel = (x, y) => page.evaluate(([x, y]) => Array.from(document.querySelector(".timeline").getContext("2d").getImageData(x, y, 1, 1).data), [x, y]);
  const width = await page.evaluate(() => document.querySelector(".timeline").width);
  const tickX = Math.floor((100 * width) / 500); // step 2 starts at event 100
  await page.waitForFunction((x) => document.querySelector(".timeline").getContext("2d").getImageData(x, 7, 1, 1).data[3] > 0, tickX);
  assert.equal((await pixel(tickX + Math.floor(width / 10), 7))[3], 0, "no tick between steps");
  // Scrolling (which moves the cursor) reads no computed style.
  await page.evaluate(() => {
    window.__styleReads = 0;
    const orig = window.getComputedStyle;
    window.getComputedStyle = (...a) => (window.__styleReads++, orig(...a));
  });
  await page.locator(".scroller").focus();
  for (let i = 0; i < 10; i++) await page.keyboard.press("PageDown");
  await page.waitForFunction(() => Number(document.querySelector(".row.selected")?.firstChild?.textContent) > 100);
  await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
  assert.equal(await page.evaluate(() => window.__styleReads), 0);
  // A theme switch (VS Code changes body's class) re-reads the colors: the fault strip takes the new one.
  const faultX = Math.floor((57 * width) / 500);
  assert.deepEqual((await pixel(faultX, 2)).slice(0, 3), [0xf1, 0x4c, 0x4c]);
  await page.evaluate(() => {
    document.body.style.setProperty("--vscode-errorForeground", "#00ff00");
    document.body.classList.add("vscode-light");
  });
  await page.waitForFunction((x) => document.querySelector(".timeline").getContext("2d").getImageData(x, 2, 1, 1).data[1] === 255, faultX);
  assert.ok(await page.evaluate(() => window.__styleReads) > 0);
  await page.close();
});

test("PASID column: hidden for a scenario without PASIDs; with them, a request's PASID in hex and a dash without", async () => {
  const shown = async (page) => page.evaluate(() => getComputedStyle(document.querySelector(".row.head > .c-pasid")).display !== "none");
  const without = await open({ events: 40 });
  assert.equal(await shown(without.page), false);
  await without.page.close();
  const { page, errors } = await open({ events: 40, pasid: true });
  assert.equal(await shown(page), true);
  // Row 5: the second device (sid 0x200), a DMA with PASID 5; row 1: the first device, no PASID.
  assert.equal(await page.locator(".row[data-row='5'] > .c-pasid").innerText(), "0x5");
  assert.equal(await page.locator(".row[data-row='1'] > .c-pasid").innerText(), "—");
  assert.match(await page.locator(".row.head > .c-pasid").getAttribute("title"), /without PASID/);
  // The walk pane's heading names the PASID too (the column leaves a narrow panel).
  await page.locator(".row[data-row='5']").click();
  await page.locator(".walk h3").filter({ hasText: "PASID" }).waitFor();
  assert.match(await page.locator(".walk h3").innerText(), /^Event #5 · step 1 \(line 1\) · 02:00\.0 second · PASID 0x5$/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a host mapping QEMU made for a guest vIOMMU names its guest step; the walk pane's link moves the shared cursor there", async () => {
  const { page, errors } = await open({ events: 300, cause: true, steps: [0, 1, 2].map((s) => ({ line: 10 + s * 2, op: s === 1 ? "guest-map" : "dma" })) });
  // Event 16 is a map of step 0 (its cause: step 0, clamped); event 112 a map of step 1, caused by step 0... as the fake says.
  await page.locator(".scroller").focus();
  await page.evaluate(() => document.querySelector(".scroller").scrollTop = 100 * 22);
  const row = page.locator(".row[data-row='112']");
  await row.waitFor();
  assert.equal(await row.locator(".c-result").innerText(), "map ← guest step 1");
  await row.click();
  // (the pane is the engine's answer for event 112, not the one still shown for the row selected before)
  await page.locator(".walk h3", { hasText: "Event #112 " }).waitFor();
  const cause = page.locator(".walk .cause");
  await cause.waitFor();
  assert.match(await cause.innerText(), /guest driver wrote this entry in step 1 \(dma\)/);
  const link = cause.locator("button.link");
  assert.equal(await link.innerText(), "Go to guest step 1");
  assert.match(await link.getAttribute("title"), /Go to step 1 \(line 11\)/);
  await link.click();
  assert.deepEqual((await page.evaluate(() => window.__posted)).filter((m) => m.type === "gotoStep"), [{ type: "gotoStep", step: 0 }]);
  assert.deepEqual(errors, []);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  await page.close();
});

/** Cells of the header and of every drawn row: visible cells' boxes, in document order. */
async function cellBoxes(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll(".row")].filter((r) => r.offsetParent !== null && getComputedStyle(r).visibility !== "hidden").map((r) => ({
      row: r.dataset.row ?? "head",
      // the visible right edge: the scroller's content box for data rows (its vertical scrollbar excluded)
      right: r.classList.contains("head") ? r.getBoundingClientRect().right : r.closest(".scroller").getBoundingClientRect().left + r.closest(".scroller").clientWidth,
      cells: [...r.children].filter((c) => getComputedStyle(c).display !== "none").map((c) => {
        const b = c.getBoundingClientRect();
        return { cls: c.className, left: b.left, right: b.right, width: b.width, text: c.textContent };
      }),
    })),
  );
}

for (const [width, events, pasid] of [[500, 60], [500, 1_000_000], [640, 60], [700, 1_000_000], [800, 60], [1200, 60], [500, 60, true], [800, 60, true]])
  test(`layout at ${width} px (${events} events${pasid ? ", PASID column" : ""}): no cell is 0 px wide or drawn over another, the header's columns are the rows' columns`, async () => {
    const page = await browser.newPage({ viewport: { width, height: 700 } });
    await page.goto(server.url({ events, theme: "dark", compare: true, pasid, initialState: { filter: {}, compare: true } }));
    await page.locator(".row.r-walk, .row.r-hit").first().waitFor({ timeout: 10_000 });
    const rows = await cellBoxes(page);
    assert.ok(rows.length > 5, `rows drawn: ${rows.length}`);
    const head = rows.find((r) => r.row === "head");
    for (const r of rows) {
      assert.equal(r.cells.length, head.cells.length, `row ${r.row}: ${r.cells.length} cells, header ${head.cells.length}`);
      const sorted = [...r.cells].sort((a, b) => a.left - b.left);
      for (let i = 0; i < sorted.length; i++) {
        const c = sorted[i];
        assert.ok(c.width >= 14, `row ${r.row}: ${c.cls} is ${c.width} px wide`);
        if (i > 0) assert.ok(sorted[i - 1].right <= c.left + 0.5, `row ${r.row}: ${sorted[i - 1].cls} (${sorted[i - 1].right}) overlaps ${c.cls} (${c.left})`);
        const h = head.cells.find((x) => x.cls === c.cls);
        assert.ok(h && Math.abs(h.left - c.left) < 0.5 && Math.abs(h.width - c.width) < 0.5, `row ${r.row}: ${c.cls} is not under its header`);
      }
      // Nothing beyond the rows' right edge (no column off screen, under the scrollbar included).
      assert.ok(sorted.at(-1).right <= r.right + 0.5, `row ${r.row} ends at ${sorted.at(-1).right}, its box at ${r.right}`);
    }
    // The columns users need are there at every width.
    for (const cls of ["c-index", "c-device", "c-rw", "c-addr", "c-result"]) assert.ok(head.cells.some((c) => c.cls.includes(cls)), `${cls} shown at ${width} px`);
    await page.close();
  });

// From 580 px a 9-digit IOVA and a 10-digit HPA fit whole; at 500 px (with the compare gutter) shorter ones do.
for (const [width, wideAddresses] of [[500, false], [580, true], [640, true], [700, true], [800, true]])
  test(`a ${width} px panel shows a row's whole IOVA → HPA${wideAddresses ? " of 9 and 10 digits" : ""} (the address pair is not cut off)`, async () => {
    const page = await browser.newPage({ viewport: { width, height: 700 } });
    await page.goto(server.url({ events: 60, theme: "dark", compare: true, wideAddresses, initialState: { filter: {}, compare: true } }));
    await page.locator(".row.r-walk, .row.r-hit").first().waitFor({ timeout: 10_000 });
    const cut = await page.evaluate(() =>
      [...document.querySelectorAll(".scroller .row.r-walk > .c-addr, .scroller .row.r-hit > .c-addr")].filter((c) => c.scrollWidth > c.clientWidth + 1).map((c) => `${c.textContent} (${c.scrollWidth} > ${c.clientWidth} px)`),
    );
    assert.equal(cut.length, 0, `address cells cut off: ${cut.join("; ")}`);
    await page.close();
  });

// At 500-580 px the result column keeps a result's kind and code whole ("fault 0x05", "walk → L1");
// the rest of it (the reason's name, "leaf") is in the cell's tooltip with the whole text.
for (const width of [500, 580])
  test(`a ${width} px panel shows each result's kind and code whole, and the whole result in its tooltip`, async () => {
    const page = await browser.newPage({ viewport: { width, height: 700 } });
    await page.goto(server.url({ events: 60, theme: "dark", compare: true, initialState: { filter: {}, compare: true } }));
    await page.locator(".row.r-fault").first().waitFor({ timeout: 10_000 });
    const cells = await page.evaluate(() =>
      [...document.querySelectorAll(".scroller .row > .c-result")].filter((c) => c.textContent).map((c) => {
        const text = c.textContent;
        // "fault 0x05 …" → "fault 0x05"; "walk → L1 leaf" → "walk → L1"; "IOTLB hit", "map" whole.
        const head = /^(fault 0x[0-9a-f]+|walk → L\d+)/.exec(text)?.[0] ?? text;
        // Measured in the cell's own font (a fault's is semibold), with the ellipsis that follows a cut.
        const style = getComputedStyle(c);
        const ctx = document.createElement("canvas").getContext("2d");
        ctx.font = style.font;
        const need = ctx.measureText(head === text ? head : `${head}…`).width;
        const pad = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
        return { text, head, fits: need <= c.clientWidth - pad + 0.5, title: c.title };
      }),
    );
    assert.ok(cells.some((c) => c.text.startsWith("fault 0x")) && cells.some((c) => c.text.startsWith("walk → L")), `fault and walk rows drawn: ${cells.map((c) => c.text).join(", ")}`);
    const cut = cells.filter((c) => !c.fits).map((c) => c.head);
    assert.deepEqual(cut, [], `results cut inside their kind and code at ${width} px`);
    for (const c of cells) assert.equal(c.title, c.text);
    await page.close();
  });

test("changed rows carry a gutter marker with an accessible name; the radix button says what it does", async () => {
  const { page } = await open({ events: 40, compare: true, initialState: { filter: {}, compare: true } });
  const gutter = await page.evaluate(() => [3, 4, 5].map((i) => {
    const g = document.querySelector(`.row[data-row='${i}'] > .gutter`);
    return { text: g.textContent, label: g.getAttribute("aria-label"), role: g.getAttribute("role"), shown: getComputedStyle(g).display !== "none" && g.getBoundingClientRect().width > 0 };
  }));
  assert.deepEqual(gutter.map((g) => g.text), ["+", "~", "−"]);
  assert.ok(gutter.every((g) => g.shown && g.role === "gridcell"));
  assert.match(gutter[0].label, /Added since the previous run/);
  assert.match(gutter[1].label, /Changed since the previous run/);
  assert.match(gutter[2].label, /removed before this row/);
  assert.equal(await page.locator("button.radix").getAttribute("title"), "Show numbers in decimal (x)");
  await page.close();
});

test("narrow panel: rows and walk one above the other, the rows no taller than they need, the failing entry in view", async () => {
  const page = await browser.newPage({ viewport: { width: 500, height: 600 } });
  await page.goto(server.url({ events: 9 }));
  await page.locator(".row.r-walk, .row.r-hit").first().waitFor({ timeout: 10_000 });
  await page.locator(".scroller").focus();
  await page.keyboard.press("F8");
  await page.locator(".walk .stage.stop").waitFor();
  const m = await page.evaluate(() => {
    const box = (s) => document.querySelector(s).getBoundingClientRect();
    const stop = box(".walk .stage.stop");
    return { grid: box(".grid"), walk: box(".walk"), stop, walkBottom: box(".walk").bottom, rows: document.querySelectorAll(".scroller .row").length };
  });
  assert.ok(m.walk.top >= m.grid.bottom, "the walk is below the rows");
  // 9 rows (22 px) and the header: no strip of empty rows above a squeezed walk.
  assert.ok(m.grid.height <= 10 * 22 + 2 + 14 + 2, `rows pane ${m.grid.height} px for 9 rows`);
  assert.ok(m.stop.top >= m.walk.top && m.stop.bottom <= m.walkBottom + 0.5, "the failing entry is in view");
  // The splitter resizes it from the keyboard.
  await page.locator(".splitter").focus();
  await page.keyboard.press("ArrowUp");
  const after = await page.evaluate(() => document.querySelector(".grid").getBoundingClientRect().height);
  assert.ok(after < m.grid.height, `ArrowUp on the splitter: ${m.grid.height} -> ${after}`);
  await page.close();
});

let passed = 0;
let failed = 0;
// WEBVIEW_GREP=text runs only the tests whose name contains it.
for (const t of tests.filter((t) => !process.env.WEBVIEW_GREP || t.name.includes(process.env.WEBVIEW_GREP))) {
  const t0 = Date.now();
  try {
    await t.fn();
    passed++;
    console.log(`  ✔ ${t.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`  ✘ ${t.name}\n    ${String(e.stack ?? e).split("\n").slice(0, 4).map((l) => l.slice(0, 300)).join("\n    ")}`);
  }
}
await browser.close();
await server.close();
mkdirSync(join(root, "test-results"), { recursive: true });
writeFileSync(join(root, "test-results/webview.json"), JSON.stringify({ passed, failed, skipped: 0 }));
console.log(`webview: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
