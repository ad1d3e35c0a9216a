#!/usr/bin/env node
// Makes the README's screenshots (media/readme/*.png) from the full-size ones `npm run screenshots`
// writes to docs/images: scaled to 960 px wide by Chromium (playwright-core, Debian's Chromium) and
// reduced to a 256-colour palette by pngquant (apt-get install pngquant), ~50-80 KiB each. They do
// not ship in the VSIX (the details page shows only https images; docs/development.md), but a
// published README would link them from the repository. Committed: run this after new screenshots.
//   node scripts/readme-images.mjs [NAME...]   (default: every docs/images/*.png the README uses)
import { readFileSync, mkdirSync, readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "media/readme");
mkdirSync(out, { recursive: true });
const names = process.argv.slice(2).length ? process.argv.slice(2) : readdirSync(out).filter((f) => f.endsWith(".png"));
const width = 960;
const browser = await chromium.launch({ executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ deviceScaleFactor: 1 });
  for (const name of names) {
    const png = readFileSync(join(root, "docs/images", name));
    const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    const height = Math.round((h * width) / w);
    await page.setViewportSize({ width, height });
    await page.setContent(`<body style="margin:0"><img src="data:image/png;base64,${png.toString("base64")}" width="${width}" height="${height}" style="display:block"></body>`);
    await page.locator("img").evaluate((img) => img.decode());
    const target = join(out, name);
    await page.screenshot({ path: target, clip: { x: 0, y: 0, width, height } });
    const q = spawnSync("pngquant", ["--force", "--skip-if-larger", "--strip", "--quality", "70-95", "--output", target, "256", target], { stdio: "inherit" });
    if (q.error) console.error(`readme-images: pngquant not found (${q.error.message}): ${name} stays a full-colour PNG`);
    console.log(`${target}: ${width}×${height}, ${(readFileSync(target).length / 1024).toFixed(0)} KiB`);
  }
} finally {
  await browser.close();
}
