// Commands live with their area (src/extension/commands*.ts, issue 15 "commands out of activate"):
// activate only wires the areas' tables, and every contributed command has exactly one handler.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const dir = join(__dirname, "..", "..", "src", "extension");
const pkg = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8")) as { contributes: { commands: { command: string }[] } };
const contributed = pkg.contributes.commands.map((c) => c.command).sort();
const areas = readdirSync(dir).filter((f) => /^commands\w*\.ts$/.test(f) && f !== "commands.ts");
/** The ids an area's table defines: its `"passthrough.x": ...` keys. */
const handled = (file: string) => [...readFileSync(join(dir, file), "utf8").matchAll(/^\s*"(passthrough\.[\w.]+)":/gm)].map((m) => m[1]!);

describe("commands per area", () => {
  it("activate registers no command itself: the areas' modules do", () => {
    const activate = readFileSync(join(dir, "extension.ts"), "utf8");
    expect(activate).not.toMatch(/registerCommand\(|reg\("passthrough\./);
    expect(areas.length).toBeGreaterThanOrEqual(3);
  });

  it("every contributed command has exactly one handler, in one area's module", () => {
    const all = areas.flatMap(handled);
    expect([...all].sort()).toEqual(contributed);
  });
});
