// `expect: { pasid }` (issue 16): the PASID of the request a step's outcome is about - its first
// faulting request, or its first request when none faulted; `none` for a request without PASID.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "expect-pasid.passthrough.yaml"), "utf8");

function failures(text: string): string[][] {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!.outcomes.map((o) => o.expect?.failures ?? []);
}

describe("expect pasid", () => {
  it("examples/expect-pasid: the fault of an interleaved step is the PASID 5 request's; a clean step's is the first request's", () => {
    expect(failures(EXAMPLE)).toEqual([[], [], [], [], []]);
  });

  it("a wrong PASID fails the expectation and says which request the outcome was about", () => {
    const f = failures(EXAMPLE.replace("expect: { ok: true, pasid: 5 }\n", "expect: { ok: true, pasid: 6 }\n").replace("expect: { fault: 0x85, faults: 1, pasid: 5 }", "expect: { fault: 0x85, pasid: none }").replace("expect: { ok: true, pasid: none }", "expect: { ok: true, pasid: 5 }"));
    expect(f[2]).toEqual(["expected the translation of a request with PASID 0x5, got a request without PASID"]);
    expect(f[3]).toEqual(["expected the fault of a request without PASID, got a request with PASID 0x5"]);
    expect(f[4]).toEqual(["expected the translation of a request with PASID 0x6, got a request with PASID 0x5"]);
  });

  it("the order of the transfers does not change which request faulted", () => {
    const swapped = EXAMPLE.replace(
      '      - { device: "01:00.0", iova: 0x1000_0000, length: 4KiB, write: true }\n      - { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, length: 4KiB, write: true }',
      '      - { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, length: 4KiB, write: true }\n      - { device: "01:00.0", iova: 0x1000_0000, length: 4KiB, write: true }',
    );
    expect(swapped).not.toBe(EXAMPLE);
    expect(failures(swapped)).toEqual([[], [], [], [], []]);
  });

  it("bad input: a PASID beyond 20 bits or a word other than none is an error at the value", () => {
    for (const bad of ["pasid: 0x100000", "pasid: some"]) {
      const d = parseScenario(EXAMPLE.replace("pasid: none }", `${bad} }`), "x.passthrough.yaml").diagnostics.filter((x) => x.severity === "error");
      expect(d.length).toBe(1);
      expect(d[0]!.message).toMatch(/expect\.pasid/);
      expect(d[0]!.range.line).toBeGreaterThan(0);
    }
  });
});
