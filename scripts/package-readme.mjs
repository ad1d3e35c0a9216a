#!/usr/bin/env node
// The README the extension's details page shows (out/readme.md), made from README.md by
// `vscode:prepublish`, so a bare `vsce package` (package.json "vsce": { "readmePath" }) packages it
// as scripts/package.mjs does.
//
// Why not README.md itself (checked with @vscode/vsce 4.1.0 and code-server 4.139.1, issue 18):
//  - vsce rewrites every relative link and image against the repository (or --baseContentUrl /
//    --baseImagesUrl) and refuses to package without one: "Couldn't detect the repository where
//    this extension is published. The image 'media/readme/sidebar.png' will be broken in
//    README.md" (vsce out/package.js, ReadmeProcessor.processFile). We have no public host, and
//    placeholder hosts are not allowed.
//  - VS Code's details page cannot show an image from the installed extension anyway: the
//    extension editor renders the README with renderMarkdownDocument and no sanitizer config
//    (src/vs/workbench/contrib/extensions/browser/extensionEditor.ts, renderMarkdown), so the
//    sanitizer keeps only http/https media sources and no relative ones
//    (src/vs/base/browser/domSanitize.ts defaults), inside a webview whose CSP is
//    "img-src https: data:" and that has no base URL and no local resource roots.
// So links into the source tree become text, and images that are not https are left out (the
// repository's README shows them from media/readme/).
//   node scripts/package-readme.mjs   (writes out/readme.md)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Paths that ship in the VSIX (a link to them stays; vsce renames CHANGELOG.md and LICENSE, which the details page shows in tabs of their own). */
const SHIPPED = /^(media|examples|schemas|syntaxes)\//;

/** README.md as the details page can show it, and as vsce packages it without a repository. */
export function packagedReadme(markdown) {
  const linked = markdown.replace(/(?<!!)\[([^\]]+)\]\(([^)\s]+)\)/g, (all, text, target) => {
    const path = target.replace(/^\.\//, "");
    if (/^[a-z][a-z0-9+.-]*:|^#/i.test(target) || SHIPPED.test(path)) return all;
    return text === path ? `\`${path}\` (in the source)` : `${text} (\`${path}\` in the source)`;
  });
  // Block images (a paragraph of their own) and inline ones that are not https.
  return linked.replace(/^!\[[^\]]*\]\((?!https:)[^)]*\)\n\n?/gm, "").replace(/!\[([^\]]*)\]\((?!https:)[^)]*\)/g, "$1");
}

/** Where vscode:prepublish writes it (package.json "vsce": { "readmePath" }; vsce wants a relative path inside the tree). */
export const PACKAGED_README = "out/readme.md";

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  mkdirSync(join(root, "out"), { recursive: true });
  writeFileSync(join(root, PACKAGED_README), packagedReadme(readFileSync(join(root, "README.md"), "utf8")));
}
