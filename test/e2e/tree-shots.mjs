#!/usr/bin/env node
// Screenshots of the newer tree nodes in a real VS Code (code-server + Chromium), to be looked at:
// scalable-mode PASID entries, IRTEs, RMRR/MSI-window nodes, AMD-Vi's device table (Mapping
// Tables) and a guest vIOMMU's tables and QEMU shadow (Virtual Machines), each at a 500 and an
// 800 px wide window, in Dark Modern and Light Modern. The sidebar of each goes to
// test-results/tree-shots/<scenario>-<width>-<theme>.png. Checks that each node it expands is
// drawn; not part of npm test: run it by hand after npm run build (E2E_PREFIX as scripts/e2e.mjs).
// STATUS (stop 24): not passing yet - folding the other views by clicking their headers did not
// take effect in three tries, so the expanded rows below "00.0 DSA accelerator" are out of the
// short Mapping Tables pane and the waits time out. The tree text was checked instead
// (test/unit/tree-new-nodes.test.ts).
import { mkdirSync, mkdtempSync, cpSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
process.env.E2E_PREFIX ??= join(root, ".e2e");
const { e2ePaths, startCodeServer, launchChromium, workbenchUrl } = await import("./harness/workbench.mjs");
const out = join(root, "test-results/tree-shots");
mkdirSync(out, { recursive: true });
const ws = mkdtempSync(join(process.env.E2E_PREFIX, "ws-"));
cpSync(join(root, "examples"), ws, { recursive: true });

/** Each scenario: the view, and the rows to expand in order (a row's text, the first that matches). */
const SHOTS = [
  { file: "first-level-permission", view: "Mapping Tables", expand: ["Root table", "bus 02", "00.0 DSA accelerator", "PASID 0x5", "[254]"] },
  { file: "irte-not-present", view: "Mapping Tables", expand: ["Interrupt remapping table", "Reserved regions"] },
  { file: "rmrr-device-refused", view: "Mapping Tables", expand: ["Reserved regions"] },
  { file: "amd-illegal-dte", view: "Mapping Tables", expand: ["Device table", "00:01.1"] },
  { file: "viommu-late-shadow", view: "Virtual Machines", expand: ["fw01", "vIOMMU", "Guest tables", "bus 00", "03.0 (host 04:00.0)", "QEMU shadow"] },
];
const VIEWS = ["Virtual Machines", "Devices & IOMMU Groups", "Mapping Tables", "Faults"];
const THEMES = { dark: "Default Dark Modern", light: "Default Light Modern" };

let server, browser, page;
let passed = 0;
let failed = 0;
const palette = async (text) => {
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget input").fill(text);
  await page.locator(".quick-input-widget .monaco-list-row.focused").first().waitFor();
  await page.keyboard.press("Enter");
};
/** Sets the colour theme through the user settings file (VS Code applies a change to it live). */
const setTheme = async (theme) => {
  const file = join(server.state, "user-data/User/settings.json");
  const s = JSON.parse(readFileSync(file, "utf8"));
  s["workbench.colorTheme"] = THEMES[theme];
  writeFileSync(file, JSON.stringify(s, null, 2));
  await page.waitForFunction((dark) => document.querySelector(".monaco-workbench")?.classList.contains(dark ? "vs-dark" : "vs"), theme === "dark", { timeout: 30_000 });
};
try {
  const paths = e2ePaths();
  server = await startCodeServer({ paths, workspace: ws, settings: { "workbench.colorTheme": THEMES.dark, "editor.minimap.enabled": false } });
  ({ browser, page } = await launchChromium(paths, { width: 800, height: 900 }));
  await page.goto(workbenchUrl(server.url, { folder: ws, extensionDevelopmentPath: root }));
  await page.locator(".monaco-workbench").waitFor();
  let first = true;
  const expanded = new Map(VIEWS.map((v) => [v, true]));
  for (const shot of SHOTS) {
    const name = `${shot.file}.passthrough.yaml`;
    try {
      await page.setViewportSize({ width: 800, height: 900 });
      await setTheme("dark");
      if (first) await page.locator(".part.sidebar .monaco-list-row", { hasText: name }).first().click();
      else await palette(name);
      await page.locator(".tabs-container .tab.active", { hasText: name }).first().waitFor();
      await page.locator(".codelens-decoration").first().waitFor({ timeout: 240_000 });
      // The state before the last step (every table written): its "Run to here" lens.
      await page.locator(".monaco-editor .view-lines").first().click();
      await page.keyboard.press("Control+End");
      await page.waitForTimeout(500);
      await page.locator(".codelens-decoration a", { hasText: "Run to here" }).last().click();
      await page.waitForTimeout(1500);
      if (first) await page.locator(".activitybar .action-item [aria-label^='Passthrough']").first().click();
      first = false;
      // Only the view shot open (the others folded), so its rows have the sidebar's height.
      // (All four start open; the state is tracked here: clicks on a header toggle it.)
      for (const v of VIEWS) {
        if (expanded.get(v) === (v === shot.view)) continue;
        await page.locator(".pane-header", { hasText: v }).first().click();
        expanded.set(v, v === shot.view);
        await page.waitForTimeout(300);
      }
      const pane = page.locator(".pane", { has: page.locator(".pane-header", { hasText: shot.view }) }).first();
      for (const label of shot.expand) {
        const row = pane.locator(".monaco-list-row", { hasText: label }).first();
        await row.waitFor({ timeout: 30_000 });
        if ((await row.getAttribute("aria-expanded")) === "false") await row.click();
        await page.waitForFunction(() => true);
      }
      await page.waitForTimeout(500);
      for (const theme of ["dark", "light"]) {
        await setTheme(theme);
        for (const width of [800, 500]) {
          await page.setViewportSize({ width, height: 900 });
          await page.waitForTimeout(700);
          await page.locator(".part.sidebar").screenshot({ path: join(out, `${shot.file}-${width}-${theme}.png`) });
        }
      }
      passed++;
      console.log(`  ✔ ${shot.file}: ${shot.expand.join(" > ")}`);
    } catch (e) {
      failed++;
      console.log(`  ✘ ${shot.file}: ${String(e.message ?? e).split("\n")[0]}`);
      await page.screenshot({ path: join(out, `${shot.file}-failure.png`) }).catch(() => {});
    }
  }
} finally {
  await browser?.close().catch(() => {});
  await server?.stop();
  rmSync(ws, { recursive: true, force: true });
}
console.log(`tree-shots: ${passed} passed, ${failed} failed; screenshots in ${out}`);
process.exit(failed ? 1 : 0);
