// Fuzzing the scenario parser, validator and simulator (issue 18, hardening suite): real examples
// mutated by grammar-aware edits. Every input gives diagnostics, never an exception; every
// diagnostic has a range inside the text whose line and column match its offset, a message and (for
// errors) a hint; the work done is bounded by a step counter (parse progress ticks, run polls), not
// by a clock, so a slow case is reported by its input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROGRESS_EVERY, parseScenario } from "../../../src/scenario/index.js";
import type { Diagnostic } from "../../../src/scenario/types.js";
import { runScenario } from "../../../src/sim/run.js";
import { SCENARIOS, YAML_TOKENS, applyEdits, caseArb, lineColumn, runs, seed } from "./mutate.js";

/** Codes about the text as a whole, rightly at its start. */
const WHOLE_TEXT = new Set(["empty", "too-large", "text-encoding", "expected-mapping"]);

/** Throws (fast-check then shrinks the input) unless the diagnostic is one a user can act on. */
function checkDiagnostic(text: string, d: Diagnostic): void {
  const fail = (why: string) => {
    throw new Error(`${why}: ${d.code} ${JSON.stringify(d.message)} at ${JSON.stringify(d.range)}`);
  };
  if (d.message === "" || /call stack|undefined|\[object |NaN/.test(d.message)) fail("a message that says nothing");
  if (d.code === "internal-error") fail("an internal error");
  if (d.severity === "error" && !d.hint) fail("an error without a hint");
  // An error points at something: an empty range at the start is a problem reported nowhere.
  if (d.severity === "error" && d.range.end === 0 && text.trim() !== "" && !WHOLE_TEXT.has(d.code)) fail("an error at 1:1 with an empty range");
  const r = d.range;
  if (!(Number.isInteger(r.start) && r.start >= 0 && r.start <= r.end && r.end <= text.length)) fail("a range outside the text");
  const lc = lineColumn(text, r.start);
  if (lc.line !== r.line || lc.column !== r.column) fail(`line:column ${lc.line}:${lc.column} expected`);
}

/**
 * parseScenario with its progress hook counting work: it calls the hook every PROGRESS_EVERY
 * lines, nodes and steps, so a parse doing more than a few units per character is superlinear.
 */
function parseCounted(text: string) {
  let ticks = 0;
  const parsed = parseScenario(text, "fuzz.passthrough.yaml", { progress: () => void ticks++ });
  const limit = Math.ceil((8 * (text.length + 64)) / PROGRESS_EVERY);
  if (ticks > limit) throw new Error(`parse work ${ticks} × ${PROGRESS_EVERY} units for a ${text.length}-character text (limit ${limit})`);
  return parsed;
}

const arb = caseArb.map((c) => applyEdits(SCENARIOS, YAML_TOKENS, c));

describe("fuzz: scenario parser and validator", () => {
  it("mutated examples: diagnostics with ranges and hints, never an exception, bounded work", () => {
    fc.assert(
      fc.property(arb, (text) => {
        const r = parseCounted(text);
        for (const d of r.diagnostics) checkDiagnostic(text, d);
        if (r.scenario === undefined) expect(r.diagnostics.some((d) => d.severity === "error")).toBe(true);
      }),
      { numRuns: runs(6_000), ...seed(18_001) },
    );
  });

  it("arbitrary text from the scenario's tokens", () => {
    const tokens = fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 60 }).map((t) => t.join(""));
    fc.assert(
      fc.property(fc.oneof(tokens, fc.string({ maxLength: 200, unit: "binary" })), (text) => {
        const r = parseCounted(text);
        for (const d of r.diagnostics) checkDiagnostic(text, d);
      }),
      { numRuns: runs(5_000), ...seed(18_002) },
    );
  });
});

/** Polls of a run (between steps, every 65 536 transactions) before the case is cancelled. */
const POLL_BUDGET = 64;

describe("fuzz: simulator", () => {
  it("mutated examples that parse run without an exception, honour cancellation, and report with ranges", () => {
    let ran = 0;
    fc.assert(
      fc.property(caseArb.map((c) => ({ ...c, edits: c.edits.slice(0, 3) })).map((c) => applyEdits(SCENARIOS, YAML_TOKENS, c)), (text) => {
        const parsed = parseScenario(text, "fuzz.passthrough.yaml");
        if (parsed.scenario === undefined) return;
        ran++;
        let polls = 0;
        const result = runScenario(parsed.scenario, { cancelled: () => ++polls > POLL_BUDGET, memoryBudget: 256 << 20 });
        // A run stops at the first poll past the budget: the step counter bounds every case's work.
        if (polls > POLL_BUDGET + 1) throw new Error(`the run went on after it was cancelled (${polls} polls)`);
        if (result.run === undefined) {
          if (!result.error) throw new Error("a run that could not start without a reason");
          return;
        }
        for (const d of result.run.machine.diagnostics) checkDiagnostic(text, d);
        for (const o of result.run.outcomes) if (o.step >= parsed.scenario.workload.length) throw new Error(`outcome of step ${o.step} of ${parsed.scenario.workload.length}`);
      }),
      { numRuns: runs(500), ...seed(18_003) },
    );
    expect(ran).toBeGreaterThan(runs(500) / 10);
  });
});
