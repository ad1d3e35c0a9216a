/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- this test walks every string of the untyped manifest JSON generically */
// Localization: the manifest's user-visible strings live in package.nls.json (VS Code swaps in
// package.nls.<lang>.json), and the code's strings in l10n/bundle.l10n.json, which is generated from
// the sources and must not go stale.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLE, extract, extractFrom, L10N_SOURCES, serialize } from "../../scripts/l10n-export.mjs";
import { manifest, nlsKeysUsed, nlsStrings, rawManifest } from "./manifest.js";

describe("package.nls.json", () => {
  const used = nlsKeysUsed(rawManifest());
  const nls = nlsStrings();

  it("has every %key% package.json names, and no key package.json does not name", () => {
    expect(used.length).toBeGreaterThan(30);
    expect([...new Set(used)].filter((k) => !(k in nls)).sort()).toEqual([]);
    expect(Object.keys(nls).filter((k) => !used.includes(k)).sort()).toEqual([]);
  });

  it("leaves no user-visible manifest string in English in package.json", () => {
    type Pkg = Record<string, any>;
    const raw = rawManifest() as Pkg;
    const c = raw.contributes;
    const isKey = (s: unknown) => typeof s === "string" && /^%[^%\s]+%$/.test(s);
    const texts: [string, unknown][] = [
      ["displayName", raw.displayName],
      ["description", raw.description],
      ...c.commands.flatMap((x: Pkg) => [[`${x.command} title`, x.title], [`${x.command} category`, x.category]]),
      ...c.viewsContainers.activitybar.map((x: Pkg) => [`${x.id} title`, x.title]),
      ...Object.values(c.views).flat().flatMap((x: any) => [[`${x.id} name`, x.name], ...(x.contextualTitle ? [[`${x.id} contextualTitle`, x.contextualTitle]] : [])]),
      ...c.viewsWelcome.map((x: Pkg) => [`welcome ${x.view}`, x.contents]),
      ["configuration title", c.configuration.title],
      ...Object.entries(c.configuration.properties).flatMap(([k, p]: [string, any]) => [[`${k} description`, p.description], ...(p.markdownDescription ? [[`${k} markdownDescription`, p.markdownDescription]] : []), ...(p.enumDescriptions ?? []).map((d: string) => [`${k} enumDescriptions`, d])]),
      ...c.debuggers.flatMap((d: Pkg) => [
        [`${d.type} label`, d.label],
        ...Object.entries(d.configurationAttributes.launch.properties).map(([k, p]: [string, any]) => [`launch ${k}`, p.description]),
        ...d.configurationSnippets.flatMap((s: Pkg) => [["snippet label", s.label], ["snippet description", s.description]]),
      ]),
      ...(c.walkthroughs ?? []).flatMap((w: Pkg) => [[`${w.id} title`, w.title], [`${w.id} description`, w.description], ...w.steps.flatMap((s: Pkg) => [[`${s.id} title`, s.title], [`${s.id} description`, s.description]])]),
    ];
    expect(texts.length).toBeGreaterThan(30);
    expect(texts.filter(([, v]) => !isKey(v)).map(([where]) => where)).toEqual([]);
  });

  it("names keys by what they label, and keeps the English text of the manifest", () => {
    const pkg = manifest();
    expect(nls["command.rerun.title"]).toBe("Re-run Scenario");
    expect(pkg.contributes.commands.find((x: { command: string }) => x.command === "passthrough.rerun").title).toBe("Re-run Scenario");
    expect(pkg.displayName).toBe("Passthrough Debugger");
    for (const k of Object.keys(nls)) expect(k).toMatch(/^[a-z][A-Za-z]*(\.[a-zA-Z][A-Za-z0-9]*)*$/);
  });
});

describe("l10n/bundle.l10n.json", () => {
  const root = join(__dirname, "..", "..");
  const committed = () => readFileSync(join(root, BUNDLE), "utf8");

  it("is what scripts/l10n-export.mjs makes from the sources (regenerate it after changing a string)", () => {
    const { bundle } = extract(root);
    expect(Object.keys(bundle).length).toBeGreaterThan(200);
    expect(JSON.parse(committed())).toEqual(bundle);
    expect(committed()).toBe(serialize(bundle));
  });

  it("is where package.json's l10n field points, and ships in the VSIX", () => {
    const pkg = rawManifest() as { l10n?: string };
    expect(pkg.l10n).toBe("./l10n");
    expect(BUNDLE.startsWith("l10n/")).toBe(true);
    const ignore = readFileSync(join(root, ".vscodeignore"), "utf8").split("\n");
    expect(ignore).toContain("!l10n/**");
    expect(ignore.some((l) => /^!package\.nls(\*)?\.json$/.test(l))).toBe(true);
  });

  it("every t() call has a literal message (a computed one could never be translated)", () => {
    expect(extract(root).dynamic).toEqual([]);
  });

  it("extracts messages as @vscode/l10n-dev does: literals, escapes, the {message, comment} form; not templates with expressions", () => {
    const src = [
      'vscode.l10n.t("Open {0}", x);',
      "l10n.t('it\\'s \"quoted\"\\n');",
      "l10n.t(`plain template`);",
      "l10n.t({ message: \"Save\", comment: [\"a button\"] });",
      "l10n.t(`dynamic ${x}`);",
      "l10n.t(name);",
      "notl10n.t(\"no\");",
    ].join("\n");
    const r = extractFrom(src);
    expect(r.messages.map((m: { key: string }) => m.key)).toEqual(["Open {0}", "it's \"quoted\"\n", "plain template", "Save/a button"]);
    expect(r.messages[3]!.value).toEqual({ message: "Save", comment: ["a button"] });
    expect(r.dynamic).toEqual([5, 6]);
  });

  it("leaves no English literal where the host, the adapter or the webview shows text to the user", () => {
    // A message, title, placeholder, tooltip or label given as a literal with words in it, instead
    // of through l10n.t: a string a translation could not reach. Literals made only of
    // placeholders, punctuation, codicons and numbers ("${n}. ${op}", "0x10000000") are fine.
    const shown = /(?:show(?:Information|Warning|Error)Message\(|\b(?:title|placeHolder|placeholder|prompt|tooltip|label|description|detail|message|hint|openLabel|"aria-label"):\s*|\b(?:parts|lines|out)\.push\(|\.(?:text|tooltip|name|message|textContent|title)\s*=\s*|message\.show\(|option\(\w+, "[^"]*", )(["'`])/g;
    const offenders: string[] = [];
    // The engine and the scenario reader run in the worker: their hovers, tree labels, diagnostics
    // and quick fixes go through the worker's l10n (EngineInit.l10n) as the host's strings do.
    for (const dir of ["src/extension", "src/debug", "media/trace", "src/engine", "src/scenario"]) {
      expect(L10N_SOURCES).toContain(dir);
      for (const f of sourceFiles(join(root, dir))) {
        // (comments blanked, lines kept)
        const text = readFileSync(f, "utf8").replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/^\s*\/\/.*$/gm, "");
        for (const m of text.matchAll(shown)) {
          const lit = literalAt(text, m.index + m[0].length - 1);
          const words = lit.replace(/\$\{(?:[^{}]|\{[^{}]*\})*\}/g, "").replace(/\$\([\w~-]+\)/g, "");
          if (/[A-Za-z]{2,}/.test(words)) offenders.push(`${f.slice(root.length + 1)}:${text.slice(0, m.index).split("\n").length}: ${lit.slice(0, 80)}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** The raw text of the string literal at text[i] (its quote), templates' ${...} included. */
function literalAt(text: string, i: number): string {
  const q = text[i]!;
  let depth = 0;
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j]!;
    if (c === "\\") j++;
    else if (q === "`" && c === "$" && text[j + 1] === "{") {
      depth++;
      j++;
    } else if (depth > 0 && c === "}") depth--;
    else if (depth === 0 && c === q) return text.slice(i + 1, j);
  }
  return text.slice(i + 1);
}
