#!/usr/bin/env node
// Drives the real workbench (code-server + Chromium) as a person would and saves screenshots:
// the Passthrough sidebar with its trees, a hover on an IOVA, Translate address revealing the
// walk, and the diagnostics of a broken scenario. Used for the README and to look at the UI.
//   node scripts/ui-shots.mjs [OUT_DIR]   (default test-results/ui; UI_ONLY=trace stops after the DMA Trace)
import { mkdirSync, mkdtempSync, cpSync, rmSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
process.env.E2E_PREFIX ??= join(root, ".e2e");
const { e2ePaths, startCodeServer, launchChromium, workbenchUrl } = await import("../test/e2e/harness/workbench.mjs");
const out = resolve(process.argv[2] ?? join(root, "test-results/ui"));
mkdirSync(out, { recursive: true });
const ws = mkdtempSync(join(process.env.E2E_PREFIX, "ws-"));
cpSync(join(root, "examples"), ws, { recursive: true });
cpSync(join(root, "test/fixtures/evidence/mixed-dmesg.txt"), join(ws, "dmesg.log"));

let server, browser, page, code = 1;
const shot = (name) => page.screenshot({ path: join(out, `${name}.png`) });
try {
  const paths = e2ePaths();
  server = await startCodeServer({ paths, workspace: ws, settings: { "workbench.colorTheme": process.env.THEME ?? "Default Dark Modern", "editor.minimap.enabled": false } });
  ({ browser, page } = await launchChromium(paths, { width: 1500, height: 950 }));
  // (a loaded machine takes longer than the default 30 s to load the workbench)
  await page.goto(workbenchUrl(server.url, { folder: ws, extensionDevelopmentPath: root }), { timeout: 120_000 });
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  const palette = async (text) => {
    await page.keyboard.press("F1");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ timeout: 10_000 });
    await input.fill(text);
    await page.waitForTimeout(400);
    await page.keyboard.press("Enter");
  };
  // Open a scenario through Quick Open.
  await page.locator(".part.sidebar .monaco-list-row", { hasText: "dma-after-unmap" }).first().click();
  await page.locator(".monaco-editor .view-lines").first().waitFor({ timeout: 30_000 });
  // The Passthrough container.
  const tab = page.locator('.part.activitybar [role="tab"]:has([aria-label^="Passthrough"])').first();
  await tab.waitFor({ timeout: 30_000 });
  await tab.click();
  const rows = page.locator(".part.sidebar .monaco-list-row");
  await rows.first().waitFor({ timeout: 30_000 });
  await page.locator(".codelens-decoration").first().waitFor({ timeout: 30_000 });
  // Cursor to step 4 (after the DMA) through CodeLens "Run to here".
  await page.locator(".codelens-decoration a", { hasText: "Run to here" }).nth(3).click();
  await page.waitForTimeout(500);
  for (const label of ["fw01", "Memory slots", "VFIO container"]) {
    await page.locator(".part.sidebar .monaco-list-row", { hasText: label }).first().click();
    await page.waitForTimeout(250);
  }
  console.log(`sidebar rows: ${(await rows.allInnerTexts()).slice(0, 12).join(" | ")}`);
  await shot("sidebar");
  // Translate address: palette, device, IOVA, direction.
  await palette(">Passthrough: Translate Address");
  await page.waitForTimeout(800);
  if (process.env.UI_DEBUG) await shot("t1");
  await page.keyboard.type("04:00.0");
  await page.keyboard.press("Enter");
  await page.waitForTimeout(400);
  if (process.env.UI_DEBUG) await shot("t2");
  await page.keyboard.type("0x100000");
  await page.keyboard.press("Enter");
  await page.waitForTimeout(400);
  if (process.env.UI_DEBUG) await shot("t3");
  await page.keyboard.type("Write");
  await page.keyboard.press("Enter");
  await page.waitForTimeout(1500);
  console.log(`after translate: ${(await rows.allInnerTexts()).slice(0, 30).join(" | ")}`);
  await shot("translate");
  if (process.env.UI_DEBUG) {
    await palette(">Passthrough: Show Log");
    await page.waitForTimeout(1500);
    await shot("log");
  }
  // Hover on an IOVA of the faulting DMA.
  const line = page.locator(".view-line", { hasText: "iova: 0x10_2000, length: 4KiB, write: true" });
  const box = await line.locator("span", { hasText: "0x10_2000" }).last().boundingBox();
  if (box) {
    await page.mouse.move(box.x + 20, box.y + box.height / 2);
    await page.locator(".monaco-hover").first().waitFor({ timeout: 10_000 });
    await page.waitForTimeout(500);
    await shot("hover");
  }
  // The DMA Trace webview: open it, step to the next fault with the keyboard.
  await page.keyboard.press("Escape");
  await page.mouse.move(5, 400);
  await palette(">Passthrough: Show DMA Trace");
  const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
  await frame.locator(".row.r-fault").first().waitFor({ timeout: 30_000 });
  await frame.locator(".scroller").click();
  await page.keyboard.press("Home");
  await page.keyboard.press("F8");
  await frame.locator(".walk .stage.stop").first().waitFor({ timeout: 10_000 });
  await page.waitForTimeout(500);
  console.log(`trace rows: ${(await frame.locator(".row").allInnerTexts()).slice(0, 8).join(" | ")}`);
  await shot("trace");
  // UI_ONLY=trace: stop after the DMA Trace (docs/images/trace.png is this shot).
  if (process.env.UI_ONLY === "trace") {
    code = 0;
    throw Object.assign(new Error("done"), { done: true });
  }
  await page.keyboard.press("Control+1");

  // The debugger: F5 on the scenario stops at the fault; expand the Translation scope's walk.
  await page.keyboard.press("Escape");
  await page.locator(".monaco-editor .view-lines").first().click();
  await page.keyboard.press("F5");
  await page.locator(".debug-toolbar").waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000);
  await page.locator('.part.activitybar [role="tab"]:has([aria-label^="Run and Debug"])').first().click();
  await page.waitForTimeout(1000);
  for (const label of ["Translation", "walk"]) {
    const row = page.locator(".part.sidebar .monaco-list-row", { hasText: label }).first();
    await row.waitFor({ timeout: 10_000 });
    await row.click();
    await page.waitForTimeout(300);
    if ((await row.getAttribute("aria-expanded")) === "false") await page.keyboard.press("ArrowRight");
    await page.waitForTimeout(500);
  }
  console.log(`debug rows: ${(await page.locator(".part.sidebar .monaco-list-row").allInnerTexts()).slice(0, 24).join(" | ")}`);
  await shot("debug");
  // Evidence: a kernel log with CodeLens and a hover, then Import Evidence on it.
  await page.keyboard.press("Shift+F5").catch(() => {});
  await page.waitForTimeout(500);
  await page.locator('.part.activitybar [role="tab"]:has([aria-label^="Explorer"])').first().click();
  await page.locator(".part.sidebar .monaco-list-row", { hasText: "dmesg.log" }).first().click();
  await page.locator(".codelens-decoration", { hasText: "VT-d fault" }).first().waitFor({ timeout: 30_000 });
  const faultLine = page.locator(".view-line", { hasText: "0x7c346000" }).first();
  const fb = await faultLine.boundingBox();
  if (fb) {
    await page.mouse.move(fb.x + 200, fb.y + fb.height / 2);
    await page.locator(".monaco-hover").first().waitFor({ timeout: 10_000 }).catch(() => {});
    await page.waitForTimeout(500);
  }
  await shot("log-hover");
  await page.mouse.move(5, 400);
  await palette(">Passthrough: Import Evidence");
  await page.waitForTimeout(600);
  await page.keyboard.type("active editor");
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
  await page.locator(".view-line", { hasText: "Cause 1" }).first().waitFor({ timeout: 30_000 });
  await page.locator('.part.activitybar [role="tab"]:has([aria-label^="Passthrough"])').first().click();
  await page.waitForTimeout(800);
  await page.locator(".part.sidebar .monaco-list-row", { hasText: "Evidence: dmesg.log" }).first().click().catch(() => {});
  await page.waitForTimeout(800);
  await shot("evidence");
  code = 0;
} catch (e) {
  if (!e.done) {
    console.error(`ui-shots: ${e.message}`);
    await page?.screenshot({ path: join(out, "failure.png") }).catch(() => {});
  }
} finally {
  await browser?.close().catch(() => {});
  await server?.stop();
  rmSync(ws, { recursive: true, force: true });
}
process.exit(code);
