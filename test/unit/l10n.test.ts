// Localization: the manifest's user-visible strings live in package.nls.json (VS Code swaps in
// package.nls.<lang>.json), and the code's strings in l10n/bundle.l10n.json, which is generated from
// the sources and must not go stale.
import { describe, expect, it } from "vitest";
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
