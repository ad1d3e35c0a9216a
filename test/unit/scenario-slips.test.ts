// One YAML slip, one diagnostic: a wrong indent, a missing space after ':', a tab, a comment that
// lost its '#', an unclosed quote or bracket in any example gives a short list with the slip at its
// line and a hint, and the checks of the parts YAML did read are still reported.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { Diagnostic } from "../../src/scenario/types.js";

const dir = join(__dirname, "..", "..", "examples");
const examples = readdirSync(dir)
  .filter((f) => f.endsWith(".passthrough.yaml"))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(join(dir, f), "utf8") }));

/** 0-based line of the first occurrence of `needle` in `text`. */
function lineOf(text: string, needle: string | RegExp): number {
  const at = typeof needle === "string" ? text.indexOf(needle) : text.search(needle);
  if (at < 0) throw new Error(`no ${JSON.stringify(needle)}`);
  return text.slice(0, at).split("\n").length - 1;
}

/** Replace the first match of `re` (which must match). */
function slip(text: string, re: RegExp, by: string): string {
  const out = text.replace(re, by);
  if (out === text) throw new Error(`${re} does not match`);
  return out;
}

interface Slip {
  kind: string;
  /** The slipped text, or undefined when the example has no place for this slip. */
  make: (text: string) => string | undefined;
  /** Text on the line the diagnostic must point at (in the slipped text); "" for the first line. */
  at: string | RegExp;
  hint: RegExp;
}

const SLIPS: Slip[] = [
  { kind: "a line indented further than its siblings", make: (t) => (/\n  - name: (\S+)\n    memory: /.test(t) ? slip(t, /\n    memory: /, "\n      memory: ") : undefined), at: "      memory: ", hint: /indent this line like its siblings/i },
  // Examples of several IOMMU units (host.iommus, docs/multi-unit.md) have no `iommu:` line.
  { kind: "a line indented less than its siblings", make: (t) => (/\n  iommu:/.test(t) ? slip(t, /\n  iommu:/, "\n iommu:") : undefined), at: " iommu:", hint: /indent this line like its siblings/i },
  { kind: "a missing space after ':' in a flow mapping", make: (t) => (t.includes('{ bdf: "01:00.0"') ? slip(t, /\{ bdf: "01:00\.0"/, '{ bdf:"01:00.0"') : undefined), at: 'bdf:"01:00.0"', hint: /space after ':'/ },
  { kind: "a missing space after ':' in a block mapping", make: (t) => slip(t, /\n  memory: (\S+)\n/, "\n  memory:$1\n"), at: "  memory:", hint: /space after ':'/ },
  { kind: "a tab as indentation", make: (t) => (/\nvms:\n  - /.test(t) ? slip(t, /\nvms:\n  - /, "\nvms:\n\t- ") : undefined), at: "\t- ", hint: /replace the tab with spaces/ },
  { kind: "a comment line that lost its '#'", make: (t) => (t.startsWith("# ") && !/^# [^\n]*: /.test(t) ? t.slice(2) : undefined), at: "", hint: /comment \(start it with #\)/ },
  { kind: "an unclosed quote", make: (t) => slip(t, /\{ bdf: "([0-9a-f:.]+)",/, '{ bdf: "$1,'), at: /\{ bdf: "[0-9a-f:.]+,/, hint: /closing "/ },
];

describe("one diagnostic per YAML slip", () => {
  for (const s of SLIPS) {
    it(`${s.kind}: a short list, the slip at its line with a hint, in every example`, () => {
      let tried = 0;
      for (const ex of examples) {
        const text = s.make(ex.text);
        if (text === undefined) continue;
        tried++;
        const r = parseScenario(text, ex.name);
        expect(r.scenario, ex.name).toBeUndefined();
        const slips = r.diagnostics.filter((d) => d.code === "yaml-syntax" || d.code === "missing-space");
        expect(slips.map((d) => d.message), ex.name).toHaveLength(1);
        const d = slips[0]!;
        expect(d.range.line, `${ex.name}: ${d.message}`).toBe(s.at === "" ? 0 : lineOf(text, s.at));
        expect(d.hint, ex.name).toMatch(s.hint);
        expect(d.message).not.toMatch(/token|YAML stream|implicit/i);
        // Nothing else is made up from the slip: no "missing" key, no unknown device or VM.
        expect(r.diagnostics.filter((x) => x !== d && x.severity === "error").map((x) => x.code), ex.name).toEqual([]);
        expect(r.diagnostics.length).toBeLessThanOrEqual(10);
      }
      expect(tried).toBeGreaterThan(0);
    });
  }

  it("a comment that lost its '#' is one diagnostic, not one per following token", () => {
    const ex = examples.find((e) => e.name === "stale-iotlb.passthrough.yaml")!;
    const r = parseScenario(ex.text.slice(2), ex.name);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ severity: "error", code: "yaml-syntax", range: { line: 0, column: 0 } });
  });

  it("reads { bdf:\"01:00.0\" } as the bdf it was meant to be, so nothing else reports the device missing", () => {
    const ex = examples.find((e) => e.name === "healthy-nic.passthrough.yaml")!;
    const text = ex.text.replace('{ bdf: "01:00.0"', '{ bdf:"01:00.0"');
    const r = parseScenario(text, ex.name);
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0]!;
    expect(d.code).toBe("missing-space");
    expect(text.slice(d.range.start, d.range.end)).toBe("bdf:");
    expect(d.hint).toBe(`Add a space after ':' (bdf: "01:00.0").`);
  });

  it("keeps the value checks of the parts YAML did read, away from the slip", () => {
    const ex = examples.find((e) => e.name === "healthy-nic.passthrough.yaml")!;
    // A slip in the workload (a tab) and, independently, a malformed BDF and size in host.
    const text = ex.text
      .replace('{ bdf: "01:00.0", id', '{ bdf: "01:20.0", id')
      .replace("memory: 64GiB", "memory: 64 apples")
      .replace("\n  - stop: web01", "\n\t- stop: web01");
    const r = parseScenario(text, ex.name);
    const codes = r.diagnostics.map((d) => d.code);
    expect(codes).toEqual(expect.arrayContaining(["size-malformed", "bdf-malformed", "yaml-syntax"]));
    expect(r.diagnostics.find((d) => d.code === "bdf-malformed")!.range.line).toBe(lineOf(text, "01:20.0"));
    expect(r.diagnostics.find((d) => d.code === "yaml-syntax")!.range.line).toBe(lineOf(text, "\t- stop"));
    // In source order.
    expect([...r.diagnostics].sort((a, b) => a.range.start - b.range.start)).toEqual(r.diagnostics);
  });

  it("says how many more slips there are instead of listing a screenful", () => {
    const ex = examples.find((e) => e.name === "stale-iotlb.passthrough.yaml")!;
    // A tab on every workload item: many independent slips.
    const text = (ex.text + "\n  - stop: fw01\n\n".repeat(12)).replace(/\n  - /g, "\n\t- ");
    const r = parseScenario(text, ex.name);
    expect(r.diagnostics.length).toBeLessThanOrEqual(10);
    expect(r.diagnostics.at(-1)!.message).toMatch(/^\d+ more YAML errors from line \d+ on are not listed$/);
  });
});

describe("any single-character slip in any example", () => {
  const slipArb = fc.record({
    example: fc.nat(examples.length - 1),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    op: fc.constantFrom("delete", "insert", "replace"),
    ch: fc.constantFrom(" ", "\t", "\n", ":", "-", "#", '"', "'", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "%", "@", "`", "?", "x", "0"),
  });

  it("gives a few diagnostics with ranges inside the text and a hint each, never an exception", () => {
    fc.assert(
      fc.property(slipArb, ({ example, at, op, ch }) => {
        const original = examples[example]!.text;
        const i = Math.min(Math.floor(at * original.length), original.length - 1);
        const text = op === "delete" ? original.slice(0, i) + original.slice(i + 1) : op === "insert" ? original.slice(0, i) + ch + original.slice(i) : original.slice(0, i) + ch + original.slice(i + 1);
        let r: ReturnType<typeof parseScenario> | undefined;
        expect(() => (r = parseScenario(text, "s.passthrough.yaml"))).not.toThrow();
        const ds: Diagnostic[] = r!.diagnostics;
        expect(ds.length).toBeLessThanOrEqual(10);
        for (const d of ds) {
          expect(d.range.start).toBeGreaterThanOrEqual(0);
          expect(d.range.end).toBeGreaterThanOrEqual(d.range.start);
          expect(d.range.end).toBeLessThanOrEqual(text.length);
          expect(d.range.line).toBe(text.slice(0, d.range.start).split("\n").length - 1);
          expect(d.message.length).toBeGreaterThan(0);
          expect(d.message.length).toBeLessThan(300);
          if (d.severity === "error") expect(d.hint?.length ?? 0).toBeGreaterThan(0);
        }
        if (r!.scenario === undefined) expect(ds.some((d) => d.severity === "error")).toBe(true);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 400) },
    );
  }, 300_000);
});
