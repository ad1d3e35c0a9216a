import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import { EventKind } from "../../src/trace/trace.js";

const text = readFileSync(join(__dirname, "..", "..", "examples", "stale-iotlb.passthrough.yaml"), "utf8");

describe("engine Session", () => {
  it("runs a scenario and pages its trace as columns", () => {
    const s = new Session("stale-iotlb.passthrough.yaml");
    expect(s.update(text)).toMatchObject({ ran: true, stale: false });
    const all = s.rows(0, 1_000);
    expect(all.total).toBe(s.run!.trace.length);
    const page = s.rows(2, 3);
    expect(page).toMatchObject({ start: 2, count: 3 });
    expect(Array.from(page.columns.kind as Uint8Array)).toEqual(Array.from(all.columns.kind as Uint8Array).slice(2, 5));
    expect(s.rows(all.total - 1, 10).count).toBe(1);
  });

  it("maps source lines to steps", () => {
    const s = new Session("f");
    s.update(text);
    const lines = text.split("\n");
    const pokeLine = lines.findIndex((l) => l.includes("- poke:"));
    expect(s.scenario!.workload[s.stepAtLine(pokeLine)!]!.op).toBe("poke");
    expect(s.stepAtLine(0)).toBeUndefined();
  });

  it("keeps the last good run, marked stale, while the text is broken; keeps the cursor across edits", () => {
    const s = new Session("f");
    s.update(text);
    s.setCursor(5);
    const broken = s.update(text.replace("- start: fw01", "- start: [fw01"));
    expect(broken).toMatchObject({ ran: false, stale: true });
    expect(broken.diagnostics.length).toBeGreaterThan(0);
    expect(s.run).toBeDefined();
    expect(s.cursor.step).toBe(5);
    // An edit that adds a step after the cursor: the cursor stays on step 5.
    expect(s.update(text + '  - dma: { device: "04:00.0", iova: 0x1000 }\n').ran).toBe(true);
    expect(s.cursor.step).toBe(5);
    // An edit that removes steps past the cursor clamps it to the end.
    const short = text.slice(0, text.indexOf("  - guest-unmap"));
    s.update(short);
    expect(s.cursor.step).toBe(s.outcomes.length);
  });

  it("keeps the cursor on the same step when steps are inserted, deleted or edited above it", () => {
    const s = new Session("f");
    s.update(text);
    s.setCursor(5);
    const op = (k: number) => s.scenario!.workload[k]!.op;
    const key = (k: number) => s.sourceText.slice(s.scenario!.workload[k]!.range.start, s.scenario!.workload[k]!.range.end);
    const cursorText = key(5);
    // Insert a step right after `workload:` (above the cursor): the cursor moves down with its step.
    const inserted = text.replace("workload:\n", 'workload:\n  - wait: 1ms\n');
    expect(s.update(inserted).ran).toBe(true);
    expect(s.cursor.step).toBe(6);
    expect(s.lastShift).toEqual({ prefix: 0, oldEnd: 0, newEnd: 1 });
    expect(key(6)).toBe(cursorText);
    // Delete it again: back to 5, still the same item.
    s.update(text);
    expect(s.cursor.step).toBe(5);
    expect(key(5)).toBe(cursorText);
    // Editing the cursor's own step keeps the cursor on it.
    const before = op(5);
    const edited = text.replace(cursorText, cursorText.replace(/\s+$/, "") + "  # edited\n");
    s.update(edited);
    expect(s.cursor.step).toBe(5);
    expect(op(5)).toBe(before);
  });

  it("gives the machine state before the cursor's step", () => {
    const s = new Session("f");
    s.update(text);
    const pokeStep = s.scenario!.workload.findIndex((st) => st.op === "poke");
    s.setCursor(pokeStep);
    const before = s.machineAtCursor()!;
    expect(before.trace.length).toBe(s.outcomes[pokeStep]!.eventStart);
    s.setCursor(pokeStep + 1);
    const after = s.machineAtCursor()!;
    expect(after.trace.kind[after.trace.length - 1]).toBe(EventKind.Poke);
  });
});
