#!/usr/bin/env node
// The DMA Trace end to end in a real VS Code (code-server + Chromium), driven as a person would:
// open an example, open the trace, step to the fault with the keyboard, and check that the shared
// cursor moved (the editor's "cursor here" CodeLens is now on the faulting step). Writes
// test-results/ui.json for the closing summary; screenshot in test-results/ui-trace.png.
import { cpSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { runWorkbenchSuite } = await import("./harness/workbench.mjs");

await runWorkbenchSuite("ui", { root, prepare: (ws) => cpSync(join(root, "examples"), ws, { recursive: true }) }, async (t) => {
  const { page } = t;
  await t.check("the DMA Trace steps to the fault and the editor's cursor follows", async () => {
    await page.locator(".part.sidebar .monaco-list-row", { hasText: "dma-after-unmap" }).first().click();
    await page.locator(".codelens-decoration").first().waitFor({ timeout: 90_000 });
    await t.palette("Passthrough: Show DMA Trace");
    const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
    await frame.locator(".row.r-fault").first().waitFor({ timeout: 90_000 });
    // VS Code keeps the run the extension wrote into the document (the webview starts from it).
    const initial = await frame.locator("body").getAttribute("data-initial");
    if (!initial || !JSON.parse(initial).some((m) => m.type === "run" && m.file === "dma-after-unmap.passthrough.yaml")) throw new Error(`no initial run in the webview's document: ${initial}`);
    console.log(`  (answers written into the webview's document: ${JSON.parse(initial).filter((m) => m.type === "prefetched").map((m) => m.method).join(", ") || "none"})`);
    await frame.locator(".scroller").click();
    await page.keyboard.press("Home");
    await page.keyboard.press("F8");
    await frame.locator(".row.selected.r-fault").waitFor({ timeout: 90_000 });
    await frame.locator(".walk .stage.stop").first().waitFor({ timeout: 90_000 });
    const walk = await frame.locator(".walk").innerText();
    if (!/fault 0x05 PTE Write access is not set/.test(walk)) throw new Error(`walk diagram: ${walk}`);
    // The editor: the "cursor here" lens sits on the faulting step (the last dma, line 24).
    // (CodeLens refreshes are debounced by the editor: wait for it.)
    const onFault = () => [...document.querySelectorAll(".codelens-decoration")].some((e) => /cursor here/.test(e.textContent ?? "") && /1 of 1 transaction faulted: 0x05/.test(e.textContent ?? ""));
    await page.waitForFunction(onFault, null, { timeout: 120_000 }).catch(async () => {
      const text = await page.locator(".codelens-decoration", { hasText: "cursor here" }).first().textContent({ timeout: 1000 }).catch(() => null);
      throw new Error(`the cursor lens is not on the faulting step: ${JSON.stringify(text)}`);
    });
    await t.shot("ui-trace.png");
  });
});
