#!/usr/bin/env node
// Renders the Marketplace icon (media/icon-marketplace.svg) to the 128×128 PNG that package.json's
// "icon" names (media/icon.png), with playwright-core driving Debian's Chromium (no download;
// E2E_CHROMIUM overrides its path). The PNG is committed: run this after changing the SVG.
//   node scripts/render-icon.mjs [SVG] [PNG]
import { readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const svg = resolve(process.argv[2] ?? join(root, "media/icon-marketplace.svg"));
const png = resolve(process.argv[3] ?? join(root, "media/icon.png"));
const size = 128;
const browser = await chromium.launch({ executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: size, height: size }, deviceScaleFactor: 1 });
  const src = `data:image/svg+xml;base64,${readFileSync(svg).toString("base64")}`;
  await page.setContent(`<html><body style="margin:0;background:transparent"><img src="${src}" width="${size}" height="${size}" style="display:block"></body></html>`);
  await page.locator("img").evaluate((img) => img.decode());
  await page.screenshot({ path: png, omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } });
  console.log(`rendered ${png}`);
} finally {
  await browser.close();
}
