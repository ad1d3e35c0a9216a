// "Any text given as a scenario yields diagnostics or a run, never an exception, never a hang."
// The whole pipeline (parse, validate, build the host, run) on mutated examples and on junk.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";

const dir = join(__dirname, "..", "..", "examples");
const texts = readdirSync(dir)
  .filter((f) => f.endsWith(".passthrough.yaml"))
  .sort()
  .map((f) => readFileSync(join(dir, f), "utf8"));

/** Replace, insert or delete a few characters or whole lines: the edits a user makes mid-typing. */
const mutation = fc.record({
  text: fc.constantFrom(...texts),
  edits: fc.array(
    fc.record({
      at: fc.nat(),
      del: fc.integer({ min: 0, max: 12 }),
      ins: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("\n", "  ", ": ", "- ", "{", "}", "0x", "ffff_ffff_ffff", "GiB", "\t", "&a", "*a", "!!binary", "~", "null", "-1", "1e309")),
    }),
    { minLength: 1, maxLength: 6 },
  ),
});

function apply(text: string, edits: { at: number; del: number; ins: string }[]): string {
  let t = text;
  for (const e of edits) {
    const at = e.at % (t.length + 1);
    t = t.slice(0, at) + e.ins + t.slice(at + e.del);
  }
  return t;
}

describe("robustness of the whole pipeline", () => {
  it("mutated examples give diagnostics or a run, never an exception", () => {
    fc.assert(
      fc.property(mutation, ({ text, edits }) => {
        const r = simulateText(apply(text, edits), "m.passthrough.yaml");
        expect([0, 1, 2]).toContain(r.exitCode);
        if (r.exitCode === 2) expect(r.diagnostics.length).toBeGreaterThan(0);
        for (const d of r.diagnostics) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.column).toBeGreaterThanOrEqual(1);
          expect(d.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("junk gives diagnostics", () => {
    for (const junk of ["", "\u0000\u0001\u0002", "{{{{", "- - -", "host: 3", "\uFEFFhost:\n  iommu: []", "x".repeat(100_000), "a: &a [*a, *a]"]) {
      const r = simulateText(junk, "junk.passthrough.yaml");
      expect(r.exitCode).toBe(2);
      expect(r.diagnostics.length).toBeGreaterThan(0);
    }
  });
});
