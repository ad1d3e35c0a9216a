// The sidebar's welcome view (package.json viewsWelcome) as VS Code renders it: only links and
// plain text (no Markdown code spans), a link alone on its line becomes a button, and it gets the
// sidebar to itself while no scenario is open.
import { describe, expect, it } from "vitest";
import { manifest } from "./manifest.js";

// The English strings, as the workbench shows them (package.json names them by %key%).
/** The part of package.json this test reads. */
interface Manifest {
  contributes: { viewsWelcome: { view: string; contents: string; when?: string }[]; commands: { command: string }[]; views: { passthrough: { id: string; when?: string }[] } };
}
const pkg = manifest<Manifest>();
const welcome = (view: string) => pkg.contributes.viewsWelcome.filter((w: { view: string }) => w.view === view);

describe("welcome view", () => {
  const [vms] = welcome("passthrough.vms");
  const lines: string[] = vms!.contents.split("\n");

  it("is plain text and links: no backticks or other Markdown VS Code would show literally", () => {
    for (const l of lines) expect(l, l).not.toMatch(/[`*_]{1,2}\S|<\w/);
  });

  it("puts each command link alone on its line (a button), for commands the extension contributes", () => {
    const commands = new Set(pkg.contributes.commands.map((c) => c.command));
    const links = lines.filter((l) => l.includes("]("));
    expect(links.length).toBeGreaterThanOrEqual(3);
    for (const l of links) {
      const m = /^\[[^\]]+\]\(command:([\w.]+)\)$/.exec(l);
      expect(m, l).not.toBeNull();
      expect(commands.has(m![1]!), l).toBe(true);
    }
    expect(links[0]).toContain("passthrough.openExamples");
  });

  it("keeps text lines short enough for a narrow sidebar", () => {
    for (const l of lines.filter((x) => !x.includes("]("))) expect(l.length, l).toBeLessThanOrEqual(90);
  });

  it("has the sidebar to itself: the other views appear with a scenario", () => {
    expect(vms!.when).toBe("!passthrough.hasScenario");
    for (const v of pkg.contributes.views.passthrough) if (v.id !== "passthrough.vms") expect(v.when, v.id).toBe("passthrough.hasScenario");
  });
});
