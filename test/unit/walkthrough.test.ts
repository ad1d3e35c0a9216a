// The walkthrough, the DMA Trace's keybindings and the Debug Scenario button, as package.json
// contributes them: every completion event names a command, view or context key that exists (and
// the context keys are set by the code), every command link runs a contributed command, every
// picture exists, is small and ships in the VSIX (.vscodeignore), and the trace's commands are
// bound for the focused panel only and shown in the palette while a trace is open.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { manifest } from "./manifest.js";
import { COMMANDS, CONTEXT_KEYS, DEBUGGER_TYPE, LANGUAGES, VIEWS, WALKTHROUGH_ID, WEBVIEW_TYPE } from "../../src/extension/contributions.js";

const root = join(__dirname, "..", "..");
interface Step {
  id: string;
  title: string;
  description: string;
  media: { image?: string | Record<string, string>; markdown?: string; altText?: string };
  completionEvents?: string[];
}
interface Command {
  command: string;
  title: string;
  category?: string;
  icon?: string;
  enablement?: string;
}
// The English strings, as the workbench shows them (package.json names them by %key%: manifest.ts resolves them).
const pkg = manifest<{
  contributes: {
    commands: Command[];
    keybindings: { command: string; key: string; mac?: string; when?: string }[];
    menus: Record<string, { command: string; when?: string; group?: string }[]>;
    walkthroughs: { id: string; title: string; description: string; steps: Step[] }[];
  };
}>();
const c = pkg.contributes;
const commandIds = new Set<string>(COMMANDS);
const viewIds = new Set<string>(Object.values(VIEWS));
const code = ["extension.ts", "walkthrough.ts", "tracePanel.ts"].map((f) => readFileSync(join(root, "src", "extension", f), "utf8")).join("\n");

/** Whether .vscodeignore (gitignore-like globs, the last matching line wins, `!` re-includes) leaves `file` in the package. */
function shipped(file: string): boolean {
  const lines = readFileSync(join(root, ".vscodeignore"), "utf8").split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const glob = (g: string) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\/?|\*|\?/g, (m) => (m.startsWith("**") ? ".*" : m === "*" ? "[^/]*" : "[^/]"))}$`);
  let included = true;
  for (const l of lines) {
    const neg = l.startsWith("!");
    if (glob(neg ? l.slice(1) : l).test(file)) included = neg;
  }
  return included;
}

/** The image files a step shows (one path, or one per theme). */
function images(s: Step): string[] {
  const img = s.media.image;
  return typeof img === "string" ? [img] : img ? Object.values(img) : [];
}

describe("walkthrough", () => {
  const [w, ...others] = c.walkthroughs;

  it("one walkthrough, its five steps in the order a new user takes them", () => {
    expect(others).toEqual([]);
    expect(w!.id).toBe(WALKTHROUGH_ID);
    expect(w!.title).toBe("Get started with Passthrough Debugger");
    expect(w!.steps.map((s) => s.id)).toEqual(["openExample", "readSidebar", "stepTrace", "debug", "importDmesg"]);
    for (const s of w!.steps) expect(s.title.length, s.id).toBeGreaterThan(0);
  });

  it("every step has completion events, each naming a contributed command or view, or context keys the extension sets", () => {
    const setInCode = new Set([...code.matchAll(/(?:"setContext",\s*|\bsetKey\()"([^"]+)"/g)].map((m) => m[1]!));
    for (const s of w!.steps) {
      // (without completionEvents VS Code checks a step off when it is merely selected)
      expect(s.completionEvents?.length, s.id).toBeGreaterThan(0);
      for (const e of s.completionEvents!) {
        const [, kind, arg] = /^(onCommand|onView|onContext):(.+)$/.exec(e) ?? [];
        expect(kind, `${s.id}: ${e}`).toBeDefined();
        if (kind === "onCommand") expect(commandIds.has(arg!), e).toBe(true);
        else if (kind === "onView") expect(viewIds.has(arg!), e).toBe(true);
        else {
          const keys = [...arg!.matchAll(/\bpassthrough\.[A-Za-z]+/g)].map((m) => m[0]);
          expect(keys.length, e).toBeGreaterThan(0);
          for (const k of keys) {
            expect(CONTEXT_KEYS as readonly string[], e).toContain(k);
            expect(setInCode.has(k), `${k} is set by the code`).toBe(true);
          }
        }
      }
    }
  });

  it("every command link in a step runs a contributed command (or focuses a contributed view)", () => {
    const links = w!.steps.flatMap((s) => [...s.description.matchAll(/\]\(command:([^)?\s]+)/g)].map((m) => [s.id, m[1]!] as const));
    expect(links.length).toBeGreaterThanOrEqual(w!.steps.length);
    for (const [id, cmd] of links) expect(commandIds.has(cmd) || (cmd.endsWith(".focus") && viewIds.has(cmd.slice(0, -".focus".length))), `${id}: ${cmd}`).toBe(true);
    // Each step offers its own action as a button.
    for (const s of w!.steps) expect(s.description, s.id).toMatch(/\n\[[^\]]+\]\(command:/);
  });

  it("every step's picture exists, is a PNG or SVG under media/walkthrough, has alt text, ships in the VSIX, and all weigh < 200 KB", () => {
    let total = 0;
    for (const s of w!.steps) {
      const files = images(s);
      expect(files.length, s.id).toBeGreaterThan(0);
      expect(s.media.altText?.length, s.id).toBeGreaterThan(10);
      for (const f of files) {
        expect(f, s.id).toMatch(/^media\/walkthrough\/[\w-]+\.(png|svg)$/);
        const bytes = readFileSync(join(root, f));
        if (f.endsWith(".png")) expect(bytes.subarray(0, 8).toString("hex"), f).toBe("89504e470d0a1a0a");
        else expect(bytes.toString("utf8"), f).toMatch(/<svg[\s>]/);
        total += statSync(join(root, f)).size;
        expect(shipped(f), `${f} is allow-listed in .vscodeignore`).toBe(true);
      }
    }
    expect(total).toBeLessThan(200 * 1024);
    // (the matcher itself: what .vscodeignore leaves out is left out)
    expect(shipped("src/extension/walkthrough.ts")).toBe(false);
    expect(shipped("dist/extension.cjs")).toBe(true);
  });
});

describe("DMA Trace keybindings and commands", () => {
  const TRACE = ["passthrough.traceNextFault", "passthrough.tracePreviousFault", "passthrough.traceNextStep", "passthrough.tracePreviousStep"];

  it("each is bound for the focused DMA Trace panel only, with the panel's own keys (F8, Shift+F8, Alt+] and Alt+[)", () => {
    // (the trace is the active group's editor, and the focus is not in the side bar or the panel below)
    const when = `activeWebviewPanelId == '${WEBVIEW_TYPE}' && !sideBarFocus && !panelFocus`;
    expect(c.keybindings.filter((k) => TRACE.includes(k.command)).map((k) => [k.command, k.key, k.when])).toEqual([
      ["passthrough.traceNextFault", "f8", when],
      ["passthrough.tracePreviousFault", "shift+f8", when],
      ["passthrough.traceNextStep", "alt+]", when],
      ["passthrough.tracePreviousStep", "alt+[", when],
    ]);
    // Every keybinding is the panel's: none fires in a text editor (F8 there is Go to Next Problem).
    for (const k of c.keybindings) expect(k.when, k.command).toBe(when);
  });

  it("each is in the palette under Passthrough, enabled while a trace is open", () => {
    for (const id of TRACE) {
      const cmd = c.commands.find((x) => x.command === id);
      expect(cmd, id).toBeDefined();
      expect(cmd!.category).toBe("Passthrough");
      expect(cmd!.title).toMatch(/^(Next|Previous) (Fault|Step) in DMA Trace$/);
      expect(cmd!.enablement).toBe("passthrough.traceOpen");
      expect(c.menus.commandPalette!.some((m) => m.command === id && m.when === "false"), `${id} not hidden from the palette`).toBe(false);
    }
  });
});

describe("Debug Scenario", () => {
  it("is a $(debug-alt) button in the editor title of a scenario, and in the palette while one is open", () => {
    const cmd = c.commands.find((x) => x.command === "passthrough.debugScenario");
    expect(cmd).toMatchObject({ title: "Debug Scenario", category: "Passthrough", icon: "$(debug-alt)" });
    expect(LANGUAGES).toContain("passthrough");
    const button = c.menus["editor/title"]!.find((m) => m.command === "passthrough.debugScenario");
    expect(button).toMatchObject({ when: "resourceLangId == passthrough" });
    expect(button!.group).toMatch(/^navigation/);
    expect(c.menus.commandPalette!.find((m) => m.command === "passthrough.debugScenario")?.when).toBe("passthrough.hasScenario");
    // It starts the passthrough debugger (the one type contributes.debuggers declares).
    expect(readFileSync(join(root, "src", "extension", "commandsWalkthrough.ts"), "utf8")).toMatch(/startDebugging\([^)]*type: DEBUGGER_TYPE/);
    expect(DEBUGGER_TYPE).toBe("passthrough");
  });
});
