#!/usr/bin/env node
// The "Get started with Passthrough Debugger" walkthrough in a real VS Code (code-server +
// Chromium), done as a person would: open the walkthrough, do each step's action (its button,
// the palette, the panel's keys, the editor title's Debug Scenario button), then read the
// walkthrough page's own checkmarks (each step's aria-checked, as VS Code renders its progress).
// Every step starts unchecked; each is checked only by its completion event. One test per step
// in test-results/walkthrough.json; screenshot in test-results/walkthrough.png.
//
//   WALKTHROUGH_SHOTS=media/walkthrough node test/e2e/walkthrough.mjs
// also saves the screenshots the walkthrough shows (each step's media), clipped to what the step
// is about; compress them to 8 colours before committing (pngquant --nofs --strip 8: UI screenshots
// stay legible, 107 KB for the five) - they ship in the VSIX, which must stay under 1 MB.
import { mkdirSync, mkdtempSync, cpSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
process.env.E2E_PREFIX ??= join(root, ".e2e");
const { e2ePaths, startCodeServer, launchChromium, workbenchUrl } = await import("./harness/workbench.mjs");
mkdirSync(join(root, "test-results"), { recursive: true });
const ws = mkdtempSync(join(process.env.E2E_PREFIX, "ws-"));
cpSync(join(root, "examples"), ws, { recursive: true });
cpSync(join(root, "test/fixtures/evidence/mixed-dmesg.txt"), join(ws, "dmesg.log"));
const shots = process.env.WALKTHROUGH_SHOTS ? resolve(process.env.WALKTHROUGH_SHOTS) : undefined;
if (shots) mkdirSync(shots, { recursive: true });

const WALKTHROUGH = "passthrough-debugger.passthrough-debugger#getStarted";
const STEPS = [
  ["openExample", "its button runs Open Example Scenarios"],
  ["readSidebar", "Go to Step puts the cursor (and the sidebar) on the faulting step"],
  ["stepTrace", "F8 in the DMA Trace (the panel's keybinding) selects the fault row"],
  ["debug", "the editor title's Debug Scenario button starts the passthrough debugger"],
  ["importDmesg", "Import Evidence decodes a kernel log"],
];
// Waits are for conditions; their limits only have to outlast a loaded machine.
const LONG = Number(process.env.WALKTHROUGH_TIMEOUT ?? 90_000);

let server, browser, page;
const results = new Map();
const t0 = Date.now();
const shot = async (name, clip) => {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), clip });
};
const sidebarRow = (text) => page.locator(".part.sidebar .monaco-list-row", { hasText: text }).first();
/** Shows a view container of the activity bar (a click on its tab when it is not the one shown: a click on that one would hide the side bar). */
async function showContainer(title) {
  const tab = page.locator(`.part.activitybar [role="tab"]:has([aria-label^="${title}"])`).first();
  if ((await tab.getAttribute("aria-selected")) !== "true" || !(await page.locator(".part.sidebar").isVisible())) await tab.click();
}
/** Runs a palette command: Enter once the palette has filtered to it (not after a fixed time). */
async function palette(title) {
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget input").fill(`>${title}`);
  await page.locator(".quick-input-widget .monaco-list-row.focused", { hasText: title }).first().waitFor({ timeout: LONG });
  await page.keyboard.press("Enter");
}
/** Opens the walkthrough page (Welcome: Open Walkthrough...) and returns each step's aria-checked. */
async function walkthroughState() {
  await palette("Welcome: Open Walkthrough...");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "Get started with Passthrough Debugger" }).first().waitFor({ timeout: LONG });
  await page.locator(".quick-input-widget input").fill("Get started with Passthrough Debugger");
  await page.locator(".quick-input-widget .monaco-list-row.focused", { hasText: "Get started with Passthrough Debugger" }).first().waitFor({ timeout: LONG });
  await page.keyboard.press("Enter");
  const step = (id) => page.locator(`.getting-started-step[data-step-id="${WALKTHROUGH}#${id}"]`);
  await step(STEPS[0][0]).waitFor({ timeout: LONG });
  return Object.fromEntries(await Promise.all(STEPS.map(async ([id]) => [id, (await step(id).getAttribute("aria-checked")) === "true"])));
}
const frame = () => page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");

try {
  const paths = e2ePaths();
  server = await startCodeServer({ paths, workspace: ws, settings: { "workbench.colorTheme": "Default Dark Modern", "editor.minimap.enabled": false } });
  ({ browser, page } = await launchChromium(paths, { width: 1280, height: 800 }));
  page.setDefaultTimeout(LONG);
  await page.goto(workbenchUrl(server.url, { folder: ws, extensionDevelopmentPath: root }), { timeout: 120_000 });
  await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });

  const before = await walkthroughState();
  for (const [id] of STEPS) if (before[id]) results.set(id, "checked before its action");

  // 1. Open an example: the step's button. The picker is the step's picture; Escape cancels it
  // (the workspace already holds copies of the examples).
  await page.locator(".getting-started-step.expanded").getByText("Open Example Scenarios", { exact: true }).click();
  // The picker's list is virtualized and holds every example: filter it to the one the walkthrough opens.
  await page.locator(".quick-input-widget .monaco-list-row").first().waitFor();
  await page.locator(".quick-input-widget input").fill("after unmap");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "dma-after-unmap" }).first().waitFor();
  await shot("open-example", { x: 250, y: 0, width: 780, height: 430 });
  await page.keyboard.press("Escape");
  await showContainer("Explorer");
  await sidebarRow("dma-after-unmap").click();
  await page.locator(".codelens-decoration").first().waitFor();

  // 2. The sidebar at the faulting step: Go to Step…, the sixth step (the DMA after the unmap).
  await palette("Passthrough: Go to Step…");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "6. dma" }).first().waitFor();
  await page.locator(".quick-input-widget input").fill("6. dma");
  await page.locator(".quick-input-widget .monaco-list-row.focused", { hasText: "6. dma" }).first().waitFor();
  await page.keyboard.press("Enter");
  await showContainer("Passthrough");
  await sidebarRow("step 6: dma").waitFor();
  await sidebarRow("fw01").click();
  await sidebarRow("Memory slots").waitFor();
  await shot("sidebar", { x: 0, y: 30, width: 760, height: 740 });

  // 3. The DMA Trace: select the first row in the grid, then F8 with the focus in the panel's
  // search box (not the grid, which handles F8 itself): the workbench's keybinding runs
  // passthrough.traceNextFault, which the panel turns into its own next-fault move.
  await palette("Passthrough: Show DMA Trace");
  await frame().locator(".row.r-fault").first().waitFor();
  await frame().locator(".scroller").click();
  await page.keyboard.press("Home");
  await frame().locator(".row.selected").first().waitFor();
  await frame().locator("input[type=search]").click();
  await page.keyboard.press("F8");
  await frame().locator(".row.selected.r-fault").waitFor();
  await frame().locator(".walk .stage.stop").first().waitFor();
  if (shots) {
    // The picture: the panel on the whole editor area (rows beside the walk), then back.
    await palette("View: Toggle Maximize Editor Group");
    await page.waitForFunction(() => document.querySelector("iframe.webview.ready")?.getBoundingClientRect().width > 800);
    await frame().locator(".row.selected.r-fault").waitFor();
    const box = await page.locator("iframe.webview.ready").boundingBox();
    await shot("trace", { x: box.x, y: 30, width: box.width, height: 740 });
    await palette("View: Toggle Maximize Editor Group");
  }

  // 4. Debug it: the scenario's editor, its title's Debug Scenario button.
  await page.locator(".monaco-editor .view-lines").first().click();
  await page.locator('.editor-actions .action-label[aria-label^="Debug Scenario"]').first().click();
  await page.locator(".debug-toolbar").waitFor();
  await showContainer("Run and Debug");
  // The Variables list is virtualized: with the Step scope expanded (VS Code expands the first
  // scope) the Translation scope can lie below the pane's visible rows and have no element at
  // all. Collapse the expanded scopes first, so that every scope is a visible row.
  const variables = page.locator(".part.sidebar .pane").filter({ has: page.locator(".pane-header", { hasText: "Variables" }) }).first();
  await variables.locator('.monaco-list-row[aria-level="1"]').first().waitFor();
  for (let k = 0; k < 6; k++) {
    const open = variables.locator('.monaco-list-row[aria-level="1"][aria-expanded="true"]').first();
    if ((await open.count()) === 0) break;
    await open.click();
  }
  const translation = variables.locator(".monaco-list-row", { hasText: "Translation" }).first();
  await translation.click();
  if ((await translation.getAttribute("aria-expanded")) === "false") await page.keyboard.press("ArrowRight");
  await sidebarRow("fault 0x05 PTE Write").waitFor();
  await shot("debug", { x: 0, y: 30, width: 820, height: 520 });
  await page.keyboard.press("Shift+F5");
  await page.locator(".debug-toolbar").waitFor({ state: "hidden" });

  // 5. Import your own dmesg: a kernel log in the editor, Import Evidence…, "active editor".
  await showContainer("Explorer");
  await sidebarRow("dmesg.log").click();
  await page.locator(".view-line", { hasText: "DMAR" }).first().waitFor();
  await palette("Passthrough: Import Evidence…");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "active editor" }).first().waitFor();
  await page.locator(".quick-input-widget input").fill("active editor");
  await page.locator(".quick-input-widget .monaco-list-row.focused", { hasText: "active editor" }).first().waitFor();
  await page.keyboard.press("Enter");
  await page.locator(".view-line", { hasText: "Cause 1" }).first().waitFor();
  await showContainer("Passthrough");
  await sidebarRow("Evidence: dmesg.log").click();
  await page.keyboard.press("ArrowRight");
  await shot("import", { x: 0, y: 30, width: 820, height: 740 });

  const after = await walkthroughState();
  for (const [id] of STEPS) if (!results.has(id)) results.set(id, after[id] ? "ok" : "not checked after its action");
  await page.screenshot({ path: join(root, "test-results/walkthrough.png") });
} catch (e) {
  const why = String(e.message ?? e).split("\n")[0];
  for (const [id] of STEPS) if (!results.has(id)) results.set(id, `not reached: ${why}`);
  await page?.screenshot({ path: join(root, "test-results/walkthrough-failure.png") }).catch(() => {});
} finally {
  await browser?.close().catch(() => {});
  await server?.stop();
  rmSync(ws, { recursive: true, force: true });
}
let passed = 0, failed = 0;
for (const [id, what] of STEPS) {
  const r = results.get(id);
  if (r === "ok") passed++;
  else failed++;
  console.log(r === "ok" ? `  ✔ walkthrough step ${id}: ${what}` : `  ✘ walkthrough step ${id}: ${what}\n    ${r}`);
}
writeFileSync(join(root, "test-results/walkthrough.json"), JSON.stringify({ passed, failed, skipped: 0 }));
console.log(`walkthrough: ${passed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
