#!/usr/bin/env node
// Screenshots of the DMA Trace webview (the built bundle, the stand-in host) at the widths it is
// used at beside an editor and on its own, in VS Code's dark and light themes, with a fault
// selected and compare marks on: node test/webview/shots.mjs [OUT_DIR] (default test-results/trace-shots).
import { mkdirSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, chromium } from "./harness.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const out = resolve(process.argv[2] ?? join(root, "test-results/trace-shots"));
mkdirSync(out, { recursive: true });
const server = await serve();
const browser = await chromium();
try {
  for (const theme of ["dark", "light"])
    for (const width of [500, 640, 800, 1200]) {
      const page = await browser.newPage({ viewport: { width, height: 700 } });
      await page.goto(server.url({ events: 40, theme, compare: true, wideAddresses: width > 500, initialState: { filter: {}, compare: true } }));
      await page.locator(".row.r-walk, .row.r-hit").first().waitFor({ timeout: 10_000 });
      await page.locator(".scroller").focus();
      await page.keyboard.press("F8");
      await page.locator(".walk .stage.stop").waitFor({ timeout: 10_000 });
      await page.waitForTimeout(200);
      await page.screenshot({ path: join(out, `trace-${width}-${theme}.png`) });
      await page.close();
    }
  // A scenario with PASIDs and a guest vIOMMU's shadow mappings: the PASID column, and a map row
  // selected, its walk pane naming the guest step that caused it (with the link to it).
  for (const theme of ["dark", "light"])
    for (const width of [500, 800]) {
      const page = await browser.newPage({ viewport: { width, height: 700 } });
      await page.goto(server.url({ events: 300, theme, pasid: true, cause: true, steps: [0, 1, 2].map((s) => ({ line: 10 + s * 2, op: s === 1 ? "guest-map" : "dma" })) }));
      await page.locator(".row.r-walk, .row.r-hit").first().waitFor({ timeout: 10_000 });
      await page.evaluate(() => (document.querySelector(".scroller").scrollTop = 104 * 22));
      await page.locator(".row[data-row='112']").click();
      await page.locator(".walk .cause").waitFor({ timeout: 10_000 });
      await page.waitForTimeout(200);
      await page.screenshot({ path: join(out, `trace-pasid-cause-${width}-${theme}.png`) });
      await page.close();
    }
} finally {
  await browser.close();
  await server.close();
}
console.log(`screenshots in ${out}`);
