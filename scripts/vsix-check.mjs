// What a VSIX may contain, and the checks scripts/package.mjs runs on the one it makes (unit-tested
// in test/unit/vsix-check.test.ts). Entries are the zip's paths: the extension's files under
// extension/, vsce's manifest beside them.

/** The most a VSIX may weigh (bytes): the "< 1 MB". */
export const MAX_VSIX_BYTES = 1_000_000;

/**
 * Every file the VSIX may ship. Anything else (docs/, test/, src/, scripts/, .e2e, source maps,
 * node_modules) is a packaging mistake: .vscodeignore is an allow-list too, and this catches a
 * pattern added there too broadly.
 */
export const ALLOWED = [
  /^\[Content_Types\]\.xml$/,
  /^extension\.vsixmanifest$/,
  /^extension\/(package\.json|readme\.md|changelog\.md|LICENSE\.txt|language-configuration\.json)$/,
  /^extension\/package\.nls(\.[\w-]+)?\.json$/, // l10n of the manifest
  /^extension\/l10n\/bundle\.l10n(\.[\w-]+)?\.json$/, // l10n of the code
  /^extension\/dist\/[\w./-]+\.(cjs|mjs|js)$/, // the bundles (no source maps: see FORBIDDEN)
  /^extension\/syntaxes\/[\w.-]+\.json$/,
  /^extension\/schemas\/[\w.-]+\.json$/,
  /^extension\/examples\/[\w./-]+\.(yaml|yml|json|md|log|txt)$/,
  /^extension\/media\/(icon\.png|icon\.svg|trace\.css)$/,
  /^extension\/media\/walkthrough\/[\w./-]+\.(png|svg|gif|md)$/,
];

/** Files the code loads at run time, which the manifest does not name. */
export const RUNTIME_FILES = ["dist/worker.cjs", "dist/web/worker.js", "dist/webview.js", "media/trace.css"];

/** Never shipped, whatever ALLOWED says. */
export const FORBIDDEN = [/\.map$/, /(^|\/)(node_modules|src|test|docs|scripts|\.e2e|\.git|\.vscode)\//, /\.ts$/];

/** Every relative link target in a Markdown text (not images, URLs or in-page anchors). */
export function relativeLinks(markdown) {
  const out = [];
  for (const m of markdown.matchAll(/(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1].split("#")[0];
    if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    out.push(decodeURI(target.replace(/^\.\//, "")));
  }
  return [...new Set(out)];
}

/** Every image source of a Markdown text (Markdown images and <img> tags). */
export function imageSources(markdown) {
  const out = [];
  for (const m of markdown.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|<img\s[^>]*src="([^"]+)"/g)) out.push(m[1] ?? m[2]);
  return out;
}

/**
 * The files the manifest itself names: `main`, `browser`, `icon`, grammars, language
 * configurations and icons, schemas, walkthrough media. Relative to the extension folder.
 */
export function manifestFiles(pkg) {
  const files = [pkg.main, pkg.browser, pkg.icon];
  const c = pkg.contributes ?? {};
  for (const l of c.languages ?? []) files.push(l.configuration, l.icon?.light, l.icon?.dark);
  for (const g of c.grammars ?? []) files.push(g.path);
  for (const v of [...(c.yamlValidation ?? []), ...(c.jsonValidation ?? [])]) files.push(v.url);
  for (const w of c.walkthroughs ?? []) {
    for (const s of w.steps ?? []) {
      const m = s.media ?? {};
      files.push(m.markdown, m.svg, typeof m.image === "string" ? m.image : m.image?.light, typeof m.image === "string" ? undefined : m.image?.dark);
    }
  }
  return [...new Set(files.filter((f) => typeof f === "string" && !/^[a-z]+:/i.test(f)).map((f) => f.replace(/^\.\//, "")))];
}

/**
 * Problems with a VSIX: `entries` maps each zip path to its uncompressed size, `bytes` is the
 * VSIX's size, `pkg` the packaged package.json, `readme` the packaged readme.md. Empty when fine.
 */
export function checkVsix({ entries, bytes, pkg, readme }) {
  const problems = [];
  const names = [...entries.keys()];
  if (bytes >= MAX_VSIX_BYTES) problems.push(`the VSIX is ${bytes} bytes, the limit is ${MAX_VSIX_BYTES}`);
  for (const n of names) {
    if (FORBIDDEN.some((re) => re.test(n))) problems.push(`${n}: a development file (source map, source, tests or docs) must not ship`);
    else if (!ALLOWED.some((re) => re.test(n))) problems.push(`${n}: not in the allow-list of scripts/vsix-check.mjs`);
  }
  const has = (f) => entries.has(`extension/${f}`);
  for (const f of ["package.json", "readme.md", "changelog.md"]) if (!has(f)) problems.push(`extension/${f} is missing`);
  for (const f of manifestFiles(pkg)) if (!has(f)) problems.push(`extension/${f} is missing (package.json names it)`);
  for (const f of RUNTIME_FILES) if (!has(f)) problems.push(`extension/${f} is missing (the extension loads it)`);
  for (const src of imageSources(readme ?? "")) {
    if (!/^https:/i.test(src)) problems.push(`readme.md: the image ${src.slice(0, 80)} would be broken on the details page (it shows https: images only)`);
  }
  for (const f of relativeLinks(readme ?? "")) if (!has(f)) problems.push(`extension/${f} is missing (the README links to it; it would be broken on the details page)`);
  return problems;
}
