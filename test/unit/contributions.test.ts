// package.json's contributions against the typed ids of src/extension/contributions.ts and the
// code, both ways: every command, view, configuration key and context key the code uses is
// contributed (a typo in a `when` clause or a registerCommand is a failure here, not a silently
// dead menu item), and every contributed one is used.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS, CONFIG_KEYS, CONFIG_SECTION, CONTEXT_KEYS, DEBUGGER_TYPE, LANGUAGES, OTHER_IDS, VIEW_CONTAINER, VIEWS, WEBVIEW_TYPE } from "../../src/extension/contributions.js";
import { HOVER_COMMANDS } from "../../src/protocol/engine.js";
import { manifest } from "./manifest.js";

const root = join(__dirname, "..", "..");
interface Menu {
  command: string;
  when?: string;
}
// (with its %key% strings resolved from package.nls.json: the welcome links are in the English text)
const pkg = manifest<{
  activationEvents: string[];
  contributes: {
    commands: { command: string; enablement?: string }[];
    keybindings: { command: string; when?: string }[];
    walkthroughs: { steps: { completionEvents?: string[] }[] }[];
    views: Record<string, { id: string; when?: string }[]>;
    viewsContainers: { activitybar: { id: string }[] };
    viewsWelcome: { view: string; contents: string; when?: string }[];
    menus: Record<string, Menu[]>;
    configuration: { properties: Record<string, unknown> };
    debuggers: { type: string }[];
    languages: { id: string }[];
  };
}>();
const c = pkg.contributes;

function sources(dir: string): { file: string; text: string }[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") && !p.endsWith("contributions.ts") ? [{ file: p, text: readFileSync(p, "utf8") }] : [];
  });
}
const code = [...sources(join(root, "src")), ...sources(join(root, "media"))];
const all = code.map((s) => s.text).join("\n");
const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
/** Every `passthrough.x` id a `when` clause names. */
const whenIds = (when: string | undefined) => [...(when ?? "").matchAll(/\bpassthrough\.[A-Za-z.]+/g)].map((m) => m[0]);

describe("contributions", () => {
  it("commands: package.json's are the typed list, and each is registered exactly once", () => {
    expect(sorted(c.commands.map((x) => x.command))).toEqual(sorted(COMMANDS));
    // Each area module (extension/commands*.ts) is a table of id -> handler, registered by registerCommands.
    const registered = [...all.matchAll(/^\s*"(passthrough\.[A-Za-z]+)":\s*\S/gm)].map((m) => m[1]!);
    expect(registered.sort()).toEqual(sorted(COMMANDS));
  });

  it("every command a menu, a welcome link, a hover or the code runs is contributed", () => {
    const menus = [...Object.values(c.menus).flatMap((ms) => ms.map((m) => m.command)), ...c.keybindings.map((k) => k.command)];
    const links = c.viewsWelcome.flatMap((w) => [...w.contents.matchAll(/\(command:([^)?\s]+)/g)].map((m) => m[1]!));
    const run = [...all.matchAll(/(?:executeCommand\(|command:\s*)"(passthrough\.[A-Za-z]+)"/g)].map((m) => m[1]!);
    const used = [...menus, ...links, ...HOVER_COMMANDS, ...run];
    expect(used.filter((id) => !(COMMANDS as readonly string[]).includes(id))).toEqual([]);
  });

  it("views and their container are the typed ones; each view has a tree in code", () => {
    expect(c.viewsContainers.activitybar.map((x) => x.id)).toEqual([VIEW_CONTAINER]);
    expect(Object.keys(c.views)).toEqual([VIEW_CONTAINER]);
    expect(sorted(c.views[VIEW_CONTAINER]!.map((v) => v.id))).toEqual(sorted(Object.values(VIEWS)));
    for (const id of Object.values(VIEWS)) expect(all, id).toContain(`"${id}"`);
    for (const w of c.viewsWelcome) expect(Object.values(VIEWS)).toContain(w.view);
  });

  it("configuration: the contributed keys are the typed ones, and each is read in code", () => {
    expect(sorted(Object.keys(c.configuration.properties))).toEqual(sorted(CONFIG_KEYS.map((k) => `${CONFIG_SECTION}.${k}`)));
    expect(all).toContain(`getConfiguration("${CONFIG_SECTION}")`);
    // Read through settings.ts's typed reader (readSetting(config(), "key")) or updated in place.
    const read = [...all.matchAll(/(?:readSetting\(config\(\), |config\(\)\.update\()\s*"([^"]+)"/g)].map((m) => m[1]!);
    expect(sorted(read)).toEqual(sorted(CONFIG_KEYS));
  });

  it("context keys: every one a `when` clause reads is set by the code, and every one set is read", () => {
    const clauses = [
      ...Object.values(c.menus).flat().map((m) => m.when),
      ...c.viewsWelcome.map((w) => w.when),
      ...c.views[VIEW_CONTAINER]!.map((v) => v.when),
      ...c.commands.map((x) => x.enablement),
      ...c.keybindings.map((k) => k.when),
      // The walkthrough's steps wait for context keys (onContext:<expression>).
      ...c.walkthroughs.flatMap((w) => w.steps.flatMap((st) => st.completionEvents ?? [])).filter((e) => e.startsWith("onContext:")),
    ];
    const viewIds = new Set<string>(Object.values(VIEWS));
    // (a view's id, `view =~ /^passthrough\./` patterns and the webview type `activeWebviewPanelId` is compared with are not context keys)
    const read = clauses.flatMap(whenIds).filter((id) => !viewIds.has(id) && !id.endsWith(".") && id !== WEBVIEW_TYPE);
    // (extension/walkthrough.ts sets its keys through a helper, setKey("..."))
    const set = [...all.matchAll(/(?:"setContext",\s*|\bsetKey\()"([^"]+)"/g)].map((m) => m[1]!);
    expect(sorted(read)).toEqual(sorted(CONTEXT_KEYS));
    expect(sorted(set)).toEqual(sorted(CONTEXT_KEYS));
  });

  it("the debugger, languages and webview type are the typed ones", () => {
    expect(c.debuggers.map((d) => d.type)).toEqual([DEBUGGER_TYPE]);
    expect(sorted(c.languages.map((l) => l.id))).toEqual(sorted(LANGUAGES));
    expect(pkg.activationEvents).toContain(`onWebviewPanel:${WEBVIEW_TYPE}`);
    expect(pkg.activationEvents).toContain(`onDebugResolve:${DEBUGGER_TYPE}`);
  });

  it("every passthrough.* id in the code is one of the lists", () => {
    const known = new Set<string>([...COMMANDS, ...Object.values(VIEWS), ...Object.values(VIEWS).map((v) => `${v}.focus`), ...CONTEXT_KEYS, ...CONFIG_KEYS.map((k) => `${CONFIG_SECTION}.${k}`), WEBVIEW_TYPE, ...OTHER_IDS]);
    const unknown = code.flatMap((s) => [...s.text.matchAll(/["'`](passthrough\.[A-Za-z.]+)["'`]/g)].map((m) => `${s.file.slice(root.length + 1)}: ${m[1]}`).filter((x) => !known.has(x.split(": ")[1]!)));
    expect(unknown).toEqual([]);
  });
});
