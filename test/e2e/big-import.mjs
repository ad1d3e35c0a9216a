#!/usr/bin/env node
// Big evidence end to end in a real VS Code (code-server + Chromium), issue 18: importing a
// 384 MiB kernel log (generated into the temporary workspace as a stream, deleted afterwards)
// shows a progress notification that counts MiB, and its Cancel stops the import (no decoded
// document ever opens for it, while a later import completes); a log with more records than
// MAX_IMPORT_RECORDS (src/extension/evidence.ts) is imported up to the limit with a warning that
// names the limit and what to do. 384 MiB rather than 1 GB: the same streamed code path, and long
// enough on any machine to be cancelled mid-way, without writing a gigabyte to a shared disk.
//   E2E_PREFIX=... node test/e2e/big-import.mjs   (after npm run build)
//
// STATUS (issue 18, not finished): the first check does not pass yet: the import runs and
// completes (its decoded document opens), but the test never finds the "Importing big.log"
// progress notification, neither as a toast nor in the notification center, so it never clicks
// Cancel. The next step is to find where code-server's workbench renders a progress notification
// here (the status bar's progress item?) or to drive the cancel through the extension's own API.
// The second check found the 50 MB document bug (see docs/hardening.md); not in npm test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
process.env.E2E_PREFIX ??= join(root, ".e2e");
const { e2ePaths, startCodeServer, launchChromium, workbenchUrl } = await import("./harness/workbench.mjs");
mkdirSync(join(root, "test-results"), { recursive: true });
const ws = mkdtempSync(join(process.env.E2E_PREFIX, "ws-"));

const MAX_IMPORT_RECORDS = 50_000;
const fault = (k) => `[ ${(5 + k / 1000).toFixed(6)}] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x${(0x10000 + (k % 4096) * 0x1000).toString(16)} [fault reason 0x05] PTE Write access is not set\n`;
const noise = (k) => `[ ${(5 + k / 1000).toFixed(6)}] usb 1-1: noise line ${k} of a long kernel log\n`;
/** Writes `bytes` of log (a fault every 50 lines) in 1 MiB pieces: never the whole text in memory. */
function writeLog(path, bytes, every) {
  const fd = openSync(path, "w");
  let written = 0;
  let k = 0;
  while (written < bytes) {
    let piece = "";
    while (piece.length < 1 << 20) piece += k++ % every === 0 ? fault(k) : noise(k);
    written += writeSync(fd, piece);
  }
  closeSync(fd);
}
const BIG = 384 * 2 ** 20;
writeLog(join(ws, "big.log"), BIG, 50);
// More faults than the limit, small enough to import whole quickly: every line a fault.
writeLog(join(ws, "many.log"), 12 * 2 ** 20, 1);
writeFileSync(join(ws, "small.log"), fault(1) + noise(2));

let server, browser, page;
const results = [];
const t0 = Date.now();
async function check(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`  ✔ ${name}`);
  } catch (e) {
    results.push([name, false]);
    console.log(`  ✘ ${name}\n    ${String(e?.message ?? e).split("\n").slice(0, 3).join("\n    ")}`);
    await page?.screenshot({ path: join(root, `test-results/big-import-failure-${results.length}.png`) }).catch(() => {});
  }
}
/** Runs a command from the palette; asks again while it lists no match (the extension's contributions still loading). */
async function palette(command) {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press("Escape");
    await page.keyboard.press("F1");
    await page.locator(".quick-input-widget input").fill(`>${command}`);
    try {
      await page.locator(".quick-input-widget .monaco-list-row.focused", { hasText: command }).first().waitFor({ timeout: 20_000 });
      break;
    } catch (e) {
      if (attempt >= 6) throw e;
    }
  }
  await page.keyboard.press("Enter");
}
/** Import Evidence → From a file… → the workbench's own file dialog (a quick input taking a path). */
async function importFile(path) {
  await palette("Passthrough: Import Evidence");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "From a file" }).first().click();
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ timeout: 60_000 });
  await input.fill(path);
  await page.keyboard.press("Enter");
}
/** A notification, as a toast or in the notification center (the test profile may not pop toasts up). */
const toast = (text) => page.locator(".notification-list-item", { hasText: text }).first();
async function showNotifications() {
  if (!(await page.locator(".notifications-center.visible").count())) await palette("Notifications: Show Notifications");
}

try {
  const paths = e2ePaths();
  server = await startCodeServer({ paths, workspace: ws, settings: { "files.simpleDialog.enable": true } });
  ({ browser, page } = await launchChromium(paths, { width: 1400, height: 900 }));
  await page.goto(workbenchUrl(server.url, { folder: ws, extensionDevelopmentPath: root }));
  await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });
  await page.locator(".part.sidebar .monaco-list-row", { hasText: "small.log" }).first().waitFor({ timeout: 120_000 });
  await page.locator('.activitybar .action-item a[aria-label^="Passthrough"]').first().waitFor({ timeout: 120_000 });

  await check("a 384 MiB log: a progress notification counts MiB, and Cancel stops the import", async () => {
    await importFile(join(ws, "big.log"));
    const progress = toast("Importing big.log");
    await showNotifications();
    await progress.waitFor({ timeout: 120_000 });
    // Progress: some MiB read, not all of them.
    await page.waitForFunction(() => [...document.querySelectorAll(".notification-list-item")].some((e) => /[1-9][\d.]* of 384\.0 MiB/.test(e.textContent ?? "")), null, { timeout: 120_000 });
    const before = (await progress.innerText()).replace(/\s+/g, " ");
    await page.screenshot({ path: join(root, "test-results/big-import-progress.png") });
    await progress.hover();
    await progress.locator(".monaco-button", { hasText: "Cancel" }).first().click();
    await progress.waitFor({ state: "detached", timeout: 60_000 });
    console.log(`    (cancelled at: ${/[\d.]+ of 384\.0 MiB/.exec(before)?.[0]})`);
    // A later import completes; the cancelled one never opens a document.
    await importFile(join(ws, "small.log"));
    await page.locator(".tabs-container .tab", { hasText: "small.log — decoded" }).first().waitFor({ timeout: 120_000 });
    const tabs = await page.locator(".tabs-container").first().innerText();
    if (/big\.log/.test(tabs)) throw new Error(`a document opened for the cancelled import: ${tabs}`);
  });

  await check(`more records than MAX_IMPORT_RECORDS (${MAX_IMPORT_RECORDS}): the first ones are imported, with a warning that says so`, async () => {
    await importFile(join(ws, "many.log"));
    const warning = toast("records; the first");
    await showNotifications();
    await warning.waitFor({ timeout: 240_000 });
    const text = (await warning.innerText()).replace(/\s+/g, " ");
    if (!text.includes(`the first ${MAX_IMPORT_RECORDS.toLocaleString("en-US")} are imported`) || !/passthrough decode/.test(text)) throw new Error(`warning: ${text}`);
    await page.locator(".tabs-container .tab", { hasText: "many.log — decoded" }).first().waitFor({ timeout: 120_000 });
    await page.screenshot({ path: join(root, "test-results/big-import-limit.png") });
  });
} catch (e) {
  results.push(["setup", false]);
  console.log(`  ✘ setup\n    ${String(e?.message ?? e).split("\n")[0]}`);
  await page?.screenshot({ path: join(root, "test-results/big-import-failure.png") }).catch(() => {});
} finally {
  await browser?.close().catch(() => {});
  await server?.stop();
  rmSync(ws, { recursive: true, force: true });
}
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
writeFileSync(join(root, "test-results/big-import.json"), JSON.stringify({ passed, failed, skipped: 0 }));
console.log(`big-import: ${passed} passed, ${failed} failed (${Math.round((Date.now() - t0) / 1000)} s)`);
process.exit(failed ? 1 : 0);
