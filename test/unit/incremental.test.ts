// The incremental parser gives exactly what the full parse gives, for every example and for
// random edits of them; and it really reuses unchanged items.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IncrementalScenarioParser, cutWorkload } from "../../src/scenario/incremental.js";
import { parseScenario } from "../../src/scenario/index.js";

const dir = join(__dirname, "..", "..", "examples");
const examples = readdirSync(dir).filter((f) => f.endsWith(".passthrough.yaml")).map((f) => readFileSync(join(dir, f), "utf8"));

const norm = (r: ReturnType<typeof parseScenario>) => ({
  scenario: r.scenario,
  diagnostics: [...r.diagnostics].sort((a, b) => a.range.start - b.range.start || a.code.localeCompare(b.code) || a.message.localeCompare(b.message)),
});

describe("incremental scenario parsing", () => {
  it("cuts every example into a head and its workload items", () => {
    for (const text of examples) {
      const cut = cutWorkload(text);
      expect(cut).toBeDefined();
      expect(cut!.head + cut!.items.map((i) => i.text).join("")).toBe(text);
    }
  });

  it("equals the full parse on every example, and reuses unchanged items after an edit", () => {
    for (const text of examples) {
      const p = new IncrementalScenarioParser();
      expect(norm(p.parse(text, "f"))).toEqual(norm(parseScenario(text, "f")));
      expect(p.last.mode).toBe("incremental");
      const cut = cutWorkload(text)!;
      // Edit the last item's line: every other item comes from the cache.
      const last = cut.items.at(-1)!;
      const edited = text.slice(0, last.start) + last.text.replace(/\n?$/, " # edited\n") + text.slice(last.start + last.text.length);
      expect(norm(p.parse(edited, "f"))).toEqual(norm(parseScenario(edited, "f")));
      expect(p.last).toEqual({ mode: "incremental", reused: cut.items.length - 1, parsed: 1 });
    }
  });

  it("falls back to the full parse where the cut is not safe", () => {
    const p = new IncrementalScenarioParser();
    const flow = examples[0]!.replace(/^workload:[\s\S]*$/m, "workload: [ { start: x } ]\n");
    expect(norm(p.parse(flow, "f"))).toEqual(norm(parseScenario(flow, "f")));
    expect(p.last.mode).toBe("full");
    const tail = examples[0]! + "name: again\n";
    expect(norm(p.parse(tail, "f"))).toEqual(norm(parseScenario(tail, "f")));
    expect(p.last.mode).toBe("full");
  });

  it("equals the full parse after random edits (insert, delete, replace text anywhere)", () => {
    const edit = fc.record({
      example: fc.nat(examples.length - 1),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      del: fc.nat(12),
      ins: fc.oneof(fc.constantFrom("", "\n", "  - ", "- ", "    expect: ok\n", "  - dma: { device: \"01:00.0\", iova: 0x1000, length: 4KiB }\n", "#", ":", "{", "}", "\"", "0x", " ", "workload:\n", "\t", "&a ", "*a"), fc.string({ maxLength: 6 })),
    });
    const p = new IncrementalScenarioParser();
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = examples[edits[0]!.example]!;
        p.parse(text, "f");
        for (const e of edits) {
          const at = Math.floor(e.at * text.length);
          text = text.slice(0, at) + e.ins + text.slice(at + e.del);
          expect(norm(p.parse(text, "f"))).toEqual(norm(parseScenario(text, "f")));
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
    // Hundreds of full parses: on a loaded 2-core CI machine this took 73 s, past the 60 s default.
  }, 300_000);
});
