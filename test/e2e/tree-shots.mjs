#!/usr/bin/env node
// Screenshots of the newer tree nodes in a real VS Code (code-server + Chromium), to be looked at
// (issue 16): scalable-mode PASID entries and a first-level table, IRTEs, RMRR/MSI-window nodes,
// AMD-Vi's device table, SMMUv3's stream table, a guest vIOMMU's tables and QEMU shadow (Virtual
// Machines), an SMMUv3 event in Faults, and the DMA Trace. Each sidebar shot is taken with the
// side bar dragged to 500 and to 800 px (widths VS Code gives a side bar or panel), in Default Dark
// Modern and Default Light Modern: test-results/tree-shots/<file>-<view>-<width>-<theme>.png.
// Each check fails when a row it expands is not drawn, when a row's label (not its description) is
// clipped at 500 px, or when a row has no words a screen reader can read (an aria-label that is
// only a glyph, a bracket or a number). One check walks a path with the keyboard alone.
//   E2E_PREFIX=... [E2E_GREP=regex] node test/e2e/tree-shots.mjs   (after npm run build; part of npm test)
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { runWorkbenchSuite } = await import("./harness/workbench.mjs");
const out = join(root, "test-results/tree-shots");
mkdirSync(out, { recursive: true });

/**
 * Each shot: a scenario, the view, the rows to expand in order (text in the row, the first that
 * matches, case-insensitive), and the text the last expanded row's children must show.
 */
const SHOTS = [
  { file: "first-level-permission", view: "Mapping Tables", expand: ["Root table", "bus 02", "00.0 DSA accelerator", "PASID 0x5", "[254]", "[0] 0x000000001001c027", "[0] 0x000000001001d027"], shows: "IOVA 0x7f0000001000" },
  { file: "irte-not-present", view: "Mapping Tables", expand: ["Interrupt remapping table", "Reserved regions"], shows: "MSI window" },
  { file: "rmrr-device-refused", view: "Mapping Tables", expand: ["Reserved regions"], shows: "RMRR" },
  { file: "amd-illegal-dte", view: "Mapping Tables", expand: ["Device table", "00:01.1", "domain 1"], shows: "not present" },
  { file: "smmuv3-translation-fault", view: "Mapping Tables", expand: ["Stream table", "L1STD[1]", "STE[0x100]", "CD (ASID 3)", "S1 L0 table descriptor [0]", "S1 L1 table descriptor [1]"], shows: "block descriptor" },
  // A kernel log line is a label as long as Linux prints it: clipped at 500 px, whole in its tooltip.
  { file: "smmuv3-translation-fault", view: "Faults", expand: ["step 3", "Kernel and VMM log"], shows: "F_TRANSLATION", longLabels: true },
  // A host with two DMAR units: one row per unit, and the Faults view naming the unit of each fault.
  { file: "laptop-two-dmar-units", view: "Mapping Tables", expand: ["dmar1"], shows: "Root table" },
  { file: "laptop-two-dmar-units", view: "Faults", expand: ["step 5"], shows: "dmar1" },
  { file: "viommu-late-shadow", view: "Virtual Machines", expand: ["fw01", "vIOMMU", "Guest tables", "bus 00", "03.0 (host 04:00.0)", "QEMU shadow"], shows: "→ GPA 0x40000000" },
  // A virtio-iommu VM on an Arm host: the vIOMMU row names its model; two DRHDs, each with its register block.
  { file: "virtio-iommu-arm", view: "Virtual Machines", expand: ["arm01"], shows: "virtio-iommu · granule 4 KiB" },
  { file: "server-two-drhd-per-unit", view: "Mapping Tables", expand: ["dmar1"], shows: "@ 0xfbffc000" },
  // VT-d paging-structure caches (their non-leaf entries, by domain) and an AMD GuestMode IRTE's vAPIC fields.
  // (cut before the IH = 0 flush: the stale SL-PDE is cached while the last DMA walks from it)
  { file: "stale-paging-structure-cache", view: "Mapping Tables", expand: ["Paging-structure caches"], shows: "stale", cut: "  # The flush Linux issues" },
  { file: "amd-ga-vapic-irte", view: "Mapping Tables", expand: ["Interrupt remapping table", "IRTE[0]"], shows: "GA Root Ptr" },
  // The AMD-Vi GA log's entries; VT-d's first-level (nested) paging-structure caches with the stale
  // FL-PDE (cut before the IH = 0 flush); an SMMUv3 VM's iommufd objects down to the nested hwpt.
  { file: "amd-ga-log", view: "Mapping Tables", expand: ["GA log"], shows: "GA_GUEST_NR" },
  { file: "stale-nested-paging-structure-cache", view: "Mapping Tables", expand: ["First-level paging-structure caches"], shows: "stale", cut: "  # The flush with IH = 0" },
  { file: "smmuv3-veventq", view: "Virtual Machines", expand: ["arm01", "iommufd objects", "IOAS 1", "hwpt 4", "vIOMMU 5"], shows: "nested hwpt 7" },
  { file: "smmuv3-nested-guest-map", view: "Virtual Machines", expand: ["arm01", "iommufd objects", "IOAS 1", "hwpt 4", "vIOMMU 5"], shows: "nested hwpt 7" },
];
const VIEWS = ["Virtual Machines", "Devices & IOMMU Groups", "Mapping Tables", "Faults"];
const THEMES = { dark: "Default Dark Modern", light: "Default Light Modern" };
const WIDTHS = [800, 500];
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-");

await runWorkbenchSuite("tree-shots", {
  root,
  width: 1600,
  height: 900,
  settings: { "workbench.colorTheme": THEMES.dark, "editor.minimap.enabled": false },
  prepare(ws) {
    for (const f of new Set(SHOTS.map((s) => s.file))) cpSync(join(root, "examples", `${f}.passthrough.yaml`), join(ws, `${f}.passthrough.yaml`));
    // A shot with `cut` shows the state an example has part-way: the copy ends before that line.
    for (const s of SHOTS.filter((s) => s.cut)) {
      const text = readFileSync(join(root, "examples", `${s.file}.passthrough.yaml`), "utf8");
      writeFileSync(join(ws, `${s.file}.passthrough.yaml`), text.slice(0, text.indexOf(s.cut)));
    }
  },
}, async (t) => {
  const { page } = t;
  const sidebar = page.locator(".part.sidebar");
  const paneOf = (view) => page.locator(".part.sidebar .pane", { has: page.locator(".pane-header", { hasText: view }) }).first();
  const headerOf = (view) => page.locator(".part.sidebar .pane-header", { hasText: view }).first();

  /** Sets the colour theme as a user does: Preferences: Color Theme, the theme's name, Enter. */
  let current = "dark";
  async function setTheme(theme) {
    if (theme !== current) {
      // (t.palette would take "Browse Color Themes in Marketplace", the first fuzzy match)
      await page.keyboard.press("Escape");
      await page.keyboard.press("F1");
      const input = page.locator(".quick-input-widget input");
      await input.waitFor({ state: "visible", timeout: 20_000 });
      await input.fill(">Preferences: Color Theme");
      await page.locator(".quick-input-widget .monaco-list-row", { hasText: /^\s*Preferences: Color Theme/ }).first().click({ timeout: 30_000 });
      const name = THEMES[theme].replace(/^Default /, "");
      await page.locator(".quick-input-widget .monaco-list-row", { hasText: "Dark Modern" }).first().waitFor({ timeout: 30_000 });
      await input.fill(name);
      await page.locator(".quick-input-widget .monaco-list-row.focused", { hasText: name }).first().waitFor({ timeout: 30_000 });
      await page.keyboard.press("Enter");
      current = theme;
    }
    await page.waitForFunction((dark) => document.querySelector(".monaco-workbench")?.classList.contains(dark ? "vs-dark" : "vs"), theme === "dark", { timeout: 60_000 });
  }

  /** Drags the side bar's sash until the side bar is `width` px wide. */
  async function setSidebarWidth(width) {
    for (let k = 0; k < 4; k++) {
      const box = await sidebar.boundingBox();
      if (!box) throw new Error("no side bar");
      if (Math.abs(box.width - width) <= 2) return;
      // The vertical sash on the side bar's right edge (the grid's sashes are siblings of the parts).
      const sash = await page.evaluate((edge) => {
        for (const el of document.querySelectorAll(".monaco-sash.vertical")) {
          const r = el.getBoundingClientRect();
          if (r.height > 100 && Math.abs(r.left + r.width / 2 - edge) <= 4) return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        }
        return null;
      }, box.x + box.width);
      if (!sash) throw new Error(`no sash at the side bar's edge (x ${box.x + box.width})`);
      await page.mouse.move(sash.x, sash.y);
      await page.mouse.down();
      await page.mouse.move(sash.x + (width - box.width) / 2, sash.y, { steps: 4 });
      await page.mouse.move(sash.x + (width - box.width), sash.y, { steps: 4 });
      await page.mouse.up();
      await page.waitForTimeout(300);
    }
    const box = await sidebar.boundingBox();
    throw new Error(`the side bar is ${box?.width} px wide, not ${width}`);
  }

  /** Opens a file of the workspace through Quick Open and waits for its run (its CodeLens). */
  async function open(file) {
    await t.quickOpen(`${file}.passthrough.yaml`);
    const editor = page.locator(".editor-group-container.active .monaco-editor", { has: page.locator(".codelens-decoration") }).first();
    await editor.waitFor({ timeout: 240_000 });
    // The state before the last step (every table written): its "Run to here" lens. The click can
    // be lost while the lenses are drawn again (the click into the text moved the cursor: on a
    // loaded machine a run of this suite found the views still before step 1): click again until
    // the last lens says the cursor is there.
    await editor.locator(".view-lines").first().click();
    await page.keyboard.press("Control+End");
    // The lowest lens on screen (lenses are content widgets: their DOM order is not the lines' order).
    const lowest = () => editor.evaluate((ed) => {
      const lenses = [...ed.querySelectorAll(".codelens-decoration")].sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
      const l = lenses.at(-1);
      return { text: l?.textContent ?? "", y: l ? l.getBoundingClientRect().top + l.getBoundingClientRect().height / 2 : 0 };
    });
    for (let attempt = 1; ; attempt++) {
      const l = await lowest();
      if (/cursor here/.test(l.text)) break;
      if (attempt > 4) throw new Error(`Run to here on the last step did not move the cursor: its lens says "${l.text}"`);
      // Its "Run to here" link: the one at the lowest lens's height.
      const link = editor.locator(".codelens-decoration a", { hasText: "Run to here" });
      const n = await link.count();
      for (let i = 0; i < n; i++) {
        const b = await link.nth(i).boundingBox();
        if (b && Math.abs(b.y + b.height / 2 - l.y) < 4) {
          await link.nth(i).click({ timeout: 30_000 }).catch(() => {});
          break;
        }
      }
      // Up to 15 s for the cursor to move there (the loop above checks again and clicks again).
      for (let k = 0; k < 30 && !/cursor here/.test((await lowest()).text); k++) await page.waitForTimeout(500);
    }
  }

  /** Only `view` open in the Passthrough side bar (the others folded), so its rows have the side bar's height. */
  async function only(view) {
    await t.palette(`Focus on ${view} View`);
    for (const v of VIEWS) {
      const header = headerOf(v);
      if (!(await header.count())) continue;
      const want = v === view ? "true" : "false";
      for (let k = 0; k < 3 && (await header.getAttribute("aria-expanded")) !== want; k++) {
        // On the title, left: the header's middle can be one of the view's title actions.
        await header.click({ position: { x: 24, y: 10 } });
        await page.waitForTimeout(200);
      }
      if ((await header.getAttribute("aria-expanded")) !== want) throw new Error(`the ${v} view did not ${want === "true" ? "open" : "fold"}`);
    }
  }

  /** Expands the rows `labels` in order; a row below the pane's end is brought into view with the keyboard (Down). */
  async function expand(view, labels) {
    const pane = paneOf(view);
    for (const label of labels) {
      const row = pane.locator(".monaco-list-row", { hasText: label });
      // Scrolled into the list's window with the mouse wheel over the pane (a key press needs the
      // list to have focus, which a click on a twistie does not always give it: CI of 2e6c2ee).
      if (!(await row.count())) await pane.locator(".monaco-list").first().hover();
      for (let k = 0; k < 80 && !(await row.count()); k++) await page.mouse.wheel(0, 44);
      await row.first().waitFor({ timeout: 30_000 });
      // On the twistie: a click on a row with a command (a step) runs it instead of expanding; a click
      // on an expanded row would fold it.
      if ((await row.first().getAttribute("aria-expanded")) === "false") await row.first().locator(".monaco-tl-twistie").click();
      // Expanded and its children drawn: the next row is one level deeper. Pressing Down before the
      // children arrive (the tree asks the worker for them) walks focus past them and scrolls them out
      // of the list's window (CI of 5854bd1 lost PASID 0x5 that way).
      await page.waitForFunction((el) => {
        if (el.getAttribute("aria-expanded") === "false") return false;
        const next = el.parentElement?.querySelector(`.monaco-list-row[data-index="${Number(el.getAttribute("data-index")) + 1}"]`);
        return !!next && Number(next.getAttribute("aria-level")) > Number(el.getAttribute("aria-level"));
      }, await row.first().elementHandle(), { timeout: 30_000 });
    }
  }

  /** Rows of the pane whose label is cut off (an ellipsis inside the label, not the description), and rows without readable words. */
  const inspectRows = (view) =>
    paneOf(view).evaluate((pane) => {
      const clipped = [];
      const unreadable = [];
      for (const row of pane.querySelectorAll(".monaco-list-row")) {
        const box = row.querySelector(".monaco-icon-label-container");
        const name = row.querySelector(".label-name");
        if (box && name && name.getBoundingClientRect().right > box.getBoundingClientRect().right + 1) clipped.push(name.textContent);
        const aria = row.getAttribute("aria-label") ?? "";
        // An index, an address or a requester id first ("[254] 0x…", "0xfee00000–…", "00:01.1") must have words before it.
        if (/^(\[|#|0x|[0-9a-f]{2}[:.][0-9a-f])/i.test(aria.trim())) unreadable.push(`${name?.textContent ?? "?"} (aria-label "${aria}")`);
      }
      return { clipped, unreadable, rows: pane.querySelectorAll(".monaco-list-row").length };
    });

  let first = true;
  // E2E_GREP: only the checks whose title matches (a run of all takes minutes).
  const grep = process.env.E2E_GREP ? new RegExp(process.env.E2E_GREP) : undefined;
  const check = (title, fn) => (grep && !grep.test(title) ? undefined : t.check(title, fn));
  for (const shot of SHOTS) {
    await check(`${shot.file} · ${shot.view}: ${shot.expand.join(" > ")}`, async () => {
      await setTheme("dark");
      if (first) {
        // The explorer first (the extension activates on the scenario), then the Passthrough side bar.
        await page.locator(".part.sidebar .monaco-list-row", { hasText: `${shot.file}.passthrough.yaml` }).first().click();
        await page.locator(".codelens-decoration").first().waitFor({ timeout: 240_000 });
      }
      first = false;
      await open(shot.file);
      await only(shot.view);
      await setSidebarWidth(500);
      await paneOf(shot.view).locator(".monaco-list-row").first().waitFor({ timeout: 60_000 });
      await expand(shot.view, shot.expand);
      await paneOf(shot.view).locator(".monaco-list-row", { hasText: shot.shows }).first().waitFor({ timeout: 30_000 });
      const problems = [];
      for (const theme of ["dark", "light"]) {
        await setTheme(theme);
        for (const width of WIDTHS) {
          await setSidebarWidth(width);
          await page.waitForTimeout(400);
          await sidebar.screenshot({ path: join(out, `${shot.file}-${slug(shot.view)}-${width}-${theme}.png`) });
          if (theme === "dark") {
            const r = await inspectRows(shot.view);
            if (width === 500 && r.clipped.length && !shot.longLabels) problems.push(`labels clipped at ${width} px: ${r.clipped.join(" | ")}`);
            if (r.unreadable.length) problems.push(`rows without words for a screen reader: ${r.unreadable.join(" | ")}`);
          }
        }
      }
      await setTheme("dark");
      if (problems.length) throw new Error(problems.join("; "));
    });
  }

  await check("keyboard only: Focus on Mapping Tables, Collapse All, then arrows walk to PASID 0x5's first-level entry [254]", async () => {
    await open("first-level-permission");
    await only("Mapping Tables");
    const pane = paneOf("Mapping Tables");
    await pane.hover();
    await pane.locator(".pane-header .action-label[aria-label^='Collapse All']").first().click();
    await t.palette("Focus on Mapping Tables View");
    const focused = pane.locator(".monaco-list-row.focused");
    // Keys go where the keyboard focus is: wait until it is in the tree (on a loaded machine the
    // palette's command lands after the next key presses would).
    await page.waitForFunction(() => !!document.activeElement?.closest(".pane")?.querySelector(".pane-header")?.textContent?.includes("Mapping Tables") && !!document.activeElement?.closest(".monaco-list"), null, { timeout: 30_000 });
    await page.keyboard.press("Home");
    // Each step: Down until the focused row's aria-label says it, then Right to expand it.
    for (const want of [/^dmar0\b/, /^Root table\b/, /^bus 02\b/, /^Context entry 02:00\.0 DSA accelerator\b/, /^PASID 0x5\b/, /^level-4 entry 254\b/i]) {
      let k = 0;
      for (; k < 40; k++) {
        const aria = (await focused.first().getAttribute("aria-label").catch(() => "")) ?? "";
        if (want.test(aria)) break;
        await page.keyboard.press("ArrowDown");
      }
      if (k === 40) throw new Error(`no row reached by Down matches ${want}; focused: ${await focused.first().getAttribute("aria-label").catch(() => "(none)")}`);
      // Right expands it (again if a loaded machine dropped the key; children load from the worker).
      for (let tries = 1; (await focused.first().getAttribute("aria-expanded")) === "false"; tries++) {
        await page.keyboard.press("ArrowRight");
        try {
          await page.waitForFunction((el) => el?.getAttribute("aria-expanded") !== "false", await focused.first().elementHandle(), { timeout: 10_000 });
        } catch (e) {
          if (tries >= 4) throw e;
        }
      }
      // Its children come from the worker: wait until the first is drawn, or Down walks past them.
      await page.waitForFunction((el) => {
        const next = el?.nextElementSibling;
        return !!next && Number(next.getAttribute("aria-level")) > Number(el.getAttribute("aria-level"));
      }, await focused.first().elementHandle(), { timeout: 30_000 }).catch(() => {});
    }
    await sidebar.screenshot({ path: join(out, "keyboard-walk.png") });
  });

  await check("DMA Trace: the SMMUv3 fault selected with F8, its walk shown", async () => {
    await open("smmuv3-translation-fault");
    await t.palette("Passthrough: Show DMA Trace");
    const group = page.locator(".editor-group-container", { has: page.locator(".tab.active", { hasText: "DMA Trace" }) }).first();
    await group.waitFor({ timeout: 60_000 });
    const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
    await frame.locator("body").waitFor({ timeout: 60_000 });
    await t.palette("Passthrough: Next Fault in DMA Trace");
    // (the reason filter's hidden options hold "F_TRANSLATION" too: wait for the walk's failing stage)
    await frame.getByText("invalid: F_TRANSLATION").first().waitFor({ timeout: 60_000 });
    for (const theme of ["dark", "light"]) {
      await setTheme(theme);
      await page.waitForTimeout(600);
      const box = await group.boundingBox();
      await group.screenshot({ path: join(out, `dma-trace-${Math.round(box?.width ?? 0)}-${theme}.png`) });
    }
    await setTheme("dark");
  });

  await check("DMA Trace: an SMMUv3 command row is named as Arm names it, with its doublewords", async () => {
    const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
    await frame.locator(".row", { hasText: "invalidate" }).first().click();
    const said = frame.locator(".walk p.fields", { hasText: "from the command queue (SMMUv3 spec 4)" }).first();
    await said.waitFor({ timeout: 60_000 });
    const text = await frame.locator(".walk").first().innerText();
    if (!/CMD_CFGI_(STE|CD) \(/.test(text) || !/0x[0-9a-f]{16} 0x[0-9a-f]{16}/.test(text) || /invalidation descriptor/.test(text)) throw new Error(`walk pane: ${text}`);
    const group = page.locator(".editor-group-container", { has: page.locator(".tab.active", { hasText: "DMA Trace" }) }).first();
    await group.screenshot({ path: join(out, "dma-trace-smmuv3-command.png") });
  });
});
