// The DMA Trace end to end in a real VS Code (code-server + Chromium), driven as a person would,
// for one example: open it, open the trace, F8 to the fault with the keyboard, check the walk pane
// names the fault, and check that the shared cursor moved (the editor's "cursor here" CodeLens is
// on the faulting step). test/e2e/ui.mjs (VT-d), ui-smmuv3.mjs (SMMUv3) and ui-amdvi.mjs (AMD-Vi) are this drive
// with their example; each writes test-results/SUITE.json and its screenshot.
import { cpSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runWorkbenchSuite } from "./workbench.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/**
 * suite: the report's name; example: the example's base name (examples/EXAMPLE.passthrough.yaml,
 * its last dma faults); walk: what the walk pane says at the fault; code: the fault code the
 * cursor lens names ("0x05"); shot: the screenshot's file name in test-results/.
 */
export function driveTraceToFault({ suite, example, walk, code, shot }) {
  return runWorkbenchSuite(suite, { root, prepare: (ws) => cpSync(join(root, "examples"), ws, { recursive: true }) }, async (t) => {
    const { page } = t;
    await t.check("the DMA Trace steps to the fault and the editor's cursor follows", async () => {
      await t.quickOpen(`${example}.passthrough.yaml`);
      await page.locator(".codelens-decoration").first().waitFor({ timeout: 90_000 });
      await t.palette("Passthrough: Show DMA Trace");
      const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
      await frame.locator(".row.r-fault").first().waitFor({ timeout: 90_000 });
      // VS Code keeps the run the extension wrote into the document (the webview starts from it).
      const initial = await frame.locator("body").getAttribute("data-initial");
      if (!initial || !JSON.parse(initial).some((m) => m.type === "run" && m.file === `${example}.passthrough.yaml`)) throw new Error(`no initial run in the webview's document: ${initial}`);
      console.log(`  (answers written into the webview's document: ${JSON.parse(initial).filter((m) => m.type === "prefetched").map((m) => m.method).join(", ") || "none"})`);
      await frame.locator(".scroller").click();
      await page.keyboard.press("Home");
      await page.keyboard.press("F8");
      await frame.locator(".row.selected.r-fault").waitFor({ timeout: 90_000 });
      await frame.locator(".walk .stage.stop").first().waitFor({ timeout: 90_000 });
      const text = await frame.locator(".walk").innerText();
      if (!walk.test(text)) throw new Error(`walk diagram: ${text}`);
      // The editor: the "cursor here" lens sits on the faulting step. (CodeLens refreshes are
      // debounced by the editor: wait for it.)
      const faulted = `1 of 1 transaction faulted: ${code}`;
      const onFault = (f) => [...document.querySelectorAll(".codelens-decoration")].some((e) => /cursor here/.test(e.textContent ?? "") && (e.textContent ?? "").includes(f));
      await page.waitForFunction(onFault, faulted, { timeout: 120_000 }).catch(async () => {
        const lens = await page.locator(".codelens-decoration", { hasText: "cursor here" }).first().textContent({ timeout: 1000 }).catch(() => null);
        throw new Error(`the cursor lens is not on the faulting step: ${JSON.stringify(lens)}`);
      });
      await t.shot(shot);
    });
  });
}
