#!/usr/bin/env node
// Hostile strings in a real VS Code (code-server + Chromium), issue 18: a scenario and a kernel log
// whose VM and device names, log text and comments hold markup (`<img src=x onerror=...>`,
// `</script>`), a bidi override (U+202E), zero-width and control characters, and a 1 MB name. The
// sidebar trees, a hover, the CodeLens, the decoded evidence document and the DMA Trace must show
// them as text: no element injected, no handler run (window.__pwned is never set in the workbench
// or a webview), a name clipped where the views clip it. Screenshot: test-results/hostile.png.
//   E2E_PREFIX=... node test/e2e/hostile.mjs   (after npm run build)
import { writeFileSync, readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { runWorkbenchSuite } = await import("./harness/workbench.mjs");

/** Runs its handler if it ever becomes an element: the flag the test looks for. */
const MARKUP = `<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script>`;
/** As YAML double-quoted text: the markup, U+202E, a zero-width space and BEL. */
const HOSTILE_YAML = `${MARKUP.replace(/"/g, '\\"')}\\u202Eevil\\u200Bzw\\a`;
const BIG = "N".repeat(1_000_000);
const scenario = readFileSync(join(root, "examples/dma-after-unmap.passthrough.yaml"), "utf8")
  .replace(/^# .*$/m, `# ${MARKUP} \u202E comment`)
  .replace(/^name: .*$/m, `name: "${HOSTILE_YAML}"`)
  .replace("name: 82599ES 10GbE", `name: "${HOSTILE_YAML} ${BIG}"`)
  ;
// A step's summary names the host driver of the device that keeps a group from being viable: the
// outcome CodeLens of `start` shows it ("group 1 is not viable: 01:00.1 is bound to the host
// driver "…""). Its driver name holds markup, U+202E, a zero-width space and "$(bug)" (icon
// syntax in a lens title).
const groupScenario = readFileSync(join(root, "examples/non-viable-group.passthrough.yaml"), "utf8")
  .replace("driver: ixgbe }", `driver: "<img src=x onerror=window.__pwned=4>\\u202Eevil\\u200B$(bug) ${"D".repeat(5000)}" }`);
if (!groupScenario.includes("$(bug)")) throw new Error("the example non-viable-group changed: update this test");
// (VM names are plain by the format: "has characters other than letters, digits, _ . -".)
// A kernel log: a fault of the same device, and lines of markup and controls around it.
// Its file name holds markup too: the decoded document's header and tab show it.
const LOG = `hostile <img src=x onerror=window.__pwned=3> \u202Eevil.log`;
const writeLog = (ws) => writeFileSync(
  join(ws, LOG),
  [
    `[    1.000000] usb 1-1: new device ${MARKUP} \u202Eevil\u200B \u0007`,
    "[    2.000000] DMAR: [DMA Write NO_PASID] Request device [0x04:0x00.0] fault addr 0x102000 [fault reason 0x05] PTE Write access is not set",
    `[    3.000000] vfio-pci 0000:04:00.0: ${MARKUP} ${"L".repeat(200_000)}`,
    "",
  ].join("\n"),
);

/** Text as a page shows it: Monaco renders spaces as no-break spaces. */
const plain = (t) => t.replace(/\u00a0/g, " ");
let page;
/** In every frame (the workbench, each webview): the flag and injected elements. */
async function nothingRan() {
  for (const f of page.frames()) {
    const r = await f.evaluate(() => ({ pwned: globalThis.__pwned, imgs: document.querySelectorAll('img[src="x"]').length, scripts: [...document.scripts].filter((s) => s.textContent?.includes("__pwned")).length })).catch(() => undefined);
    if (!r) continue; // a frame that went away
    if (r.pwned !== undefined || r.imgs || r.scripts) throw new Error(`frame ${f.url().slice(0, 80)}: ${JSON.stringify(r)}`);
  }
}

await runWorkbenchSuite("hostile", {
  root,
  prepare(ws) {
    writeFileSync(join(ws, "hostile.passthrough.yaml"), scenario);
    writeFileSync(join(ws, "hostile-group.passthrough.yaml"), groupScenario);
    writeLog(ws);
  },
}, async (t) => {
  ({ page } = t);
  const { check, palette } = t;
  await page.locator(".part.sidebar .monaco-list-row", { hasText: "hostile.passthrough.yaml" }).first().click();
  await page.locator(".codelens-decoration").first().waitFor({ timeout: 120_000 });

  await check("CodeLens: rendered, nothing injected (the scenario's comment and names hold the markup)", async () => {
    const lenses = await page.locator(".codelens-decoration").allInnerTexts();
    if (!lenses.some((t) => /fault/.test(t))) throw new Error(`lenses: ${lenses.join(" | ").slice(0, 300)}`);
    const editor = plain(await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().innerText());
    if (!editor.includes('<img src=x onerror="window.__pwned=1">')) throw new Error("the editor does not show the markup as text");
    await nothingRan();
  });

  await check("CodeLens: a host driver's name in a step's outcome shows as text (markup, U+202E, $(bug) visible; clipped)", async () => {
    await page.locator(".part.sidebar .monaco-list-row", { hasText: "hostile-group.passthrough.yaml" }).first().click();
    const lens = page.locator(".codelens-decoration", { hasText: "is not viable" }).first();
    await lens.waitFor({ timeout: 120_000 });
    const text = plain(await lens.innerText());
    if (!text.includes("<img src=x onerror=window.__pwned=4>")) throw new Error(`the lens does not show the markup as text: ${JSON.stringify(text.slice(0, 300))}`);
    if (!text.includes("<U+202E>evil<U+200B>") || text.includes("\u202E")) throw new Error(`bidi override / zero-width not shown as code points: ${JSON.stringify(text.slice(0, 300))}`);
    if (!text.includes("$(bug)") || (await lens.locator(".codicon-bug").count())) throw new Error(`"$(bug)" became an icon: ${JSON.stringify(text.slice(0, 300))}`);
    if (text.length > 400 || !text.includes("…")) throw new Error(`a 5 000-character name is not clipped: ${text.length} characters`);
    if (await lens.locator("img").count()) throw new Error("an <img> element in the CodeLens");
    await page.screenshot({ path: join(root, "test-results/hostile-codelens.png") });
    await nothingRan();
  });
  // Back to the first scenario: the checks below read its trees, hover and trace.
  await page.locator(".part.sidebar .monaco-list-row", { hasText: "hostile.passthrough.yaml" }).first().click();
  await page.locator(".tabs-container .tab.active", { hasText: "hostile.passthrough.yaml" }).first().waitFor({ timeout: 60_000 });

  await check("sidebar trees: names as text, invisible characters shown, the 1 MB name clipped", async () => {
    await page.locator('.activitybar .action-item a[aria-label^="Passthrough"]').first().click();
    await page.locator(".part.sidebar .monaco-list-row", { hasText: /IOMMU group/ }).first().waitFor({ timeout: 90_000 });
    // Expand every collapsed group row, so the devices show.
    const collapsed = page.locator('.part.sidebar .monaco-list-row[aria-expanded="false"]', { hasText: /IOMMU group/ });
    for (let k = 0; k < 8 && (await collapsed.count()) > 0; k++) await collapsed.first().click();
    await page.locator(".part.sidebar .monaco-list-row", { hasText: "<img src=x" }).first().waitFor({ timeout: 60_000 });
    const text = plain(await page.locator(".part.sidebar .monaco-list-row", { hasText: "<img src=x" }).first().innerText()).replace(/\n/g, " ");
    if (!text) throw new Error("no tree row shows the device's name");
    if (!text.includes("<U+202E>") || text.includes("\u202E")) throw new Error(`bidi override not shown as a code point: ${JSON.stringify(text.slice(0, 300))}`);
    if (text.length > 400 || !text.includes("…")) throw new Error(`a 1 MB name is not clipped: ${text.length} characters`);
    await page.screenshot({ path: join(root, "test-results/hostile-trees.png") });
    await nothingRan();
  });

  await check("hover: the device's name is text", async () => {
    await page.locator(".monaco-editor .view-line", { hasText: "04:00.0" }).first().click();
    await page.keyboard.press("Control+g");
    const line = scenario.split("\n").findIndex((l) => l.includes('bdf: "04:00.0"')) + 1;
    await page.keyboard.type(`${line}:20`);
    await page.keyboard.press("Enter");
    await palette("Show or Focus Hover");
    const hover = page.locator(".monaco-hover .hover-contents, .monaco-hover .rendered-markdown").first();
    await hover.waitFor({ timeout: 60_000 });
    await page.waitForFunction(() => (document.querySelector(".monaco-hover")?.textContent ?? "").includes("<img src=x"), null, { timeout: 60_000 });
    const h = await page.locator(".monaco-hover").first().innerText();
    if (await page.locator(".monaco-hover img").count()) throw new Error("an <img> element in the hover");
    if (!h.includes("<img src=x")) throw new Error(`hover: ${h.slice(0, 300)}`);
    await nothingRan();
  });

  await check("DMA Trace: names as text in the webview", async () => {
    await page.keyboard.press("Escape");
    await palette("Passthrough: Show DMA Trace");
    const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
    await frame.locator(".row.r-fault").first().waitFor({ timeout: 120_000 });
    const body = await frame.locator("body").innerText();
    if (!body.includes("<img src=x")) throw new Error(`trace shows no name: ${body.slice(0, 300)}`);
    if (await frame.locator('img[src="x"]').count()) throw new Error("an <img> element in the trace");
    await page.screenshot({ path: join(root, "test-results/hostile.png") });
    await nothingRan();
  });

  await check("evidence: the decoded document and the Faults view show the log's text as text", async () => {
    await palette("View: Show Explorer");
    await page.locator(".part.sidebar .monaco-list-row", { hasText: "hostile <img src=x" }).first().click();
    await page.locator(".monaco-editor .view-line", { hasText: "usb 1-1" }).first().waitFor({ timeout: 60_000 });
    await palette("Passthrough: Import Evidence");
    await t.pick("The active editor");
    // The decoded document opens: its header names the file, markup and all, as text.
    await page.waitForFunction(() => [...document.querySelectorAll(".monaco-editor .view-line")].some((e) => /^# hostile <img src=x onerror=window\.__pwned=3>/.test((e.textContent ?? "").replace(/\u00a0/g, " "))), null, { timeout: 120_000 });
    const header = plain(await page.locator(".monaco-editor .view-line", { hasText: "# hostile" }).first().innerText());
    if (await page.locator(".editor-group-container.active .monaco-editor .view-lines img").count()) throw new Error(`an <img> element in the decoded document: ${header.slice(0, 200)}`);
    const tabs = plain(await page.locator(".tabs-container").first().innerText());
    if (!tabs.includes("<img src=x onerror=window.__pwned=3>")) throw new Error(`tabs: ${tabs.slice(0, 300)}`);
    // (word-wrapped: compare with whitespace collapsed)
    const body = plain(await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().innerText()).replace(/\s+/g, " ");
    if (!/0x05 PTE Write access is not set/.test(body)) throw new Error(`decoded document: ${body.slice(0, 300)}`);
    // The editor shows the bidi override as a visible code point, not as a reordering.
    if (!body.includes("[U+202E]evil.log")) throw new Error(`the override is not visible: ${body.slice(0, 300)}`);
    await page.screenshot({ path: join(root, "test-results/hostile-evidence.png") });
    await nothingRan();
  });

  await check("nothing ran in any frame at the end", nothingRan);
});
