// The VT-d page request tests' shared scenario (examples/prq-overflow: a DSA accelerator with ATS
// and PRI, PASID 5 bound to a process whose pages are not faulted in, a 128-descriptor queue) and
// the run helpers vtd-prq-overflow.test.ts and vtd-prq-events.test.ts use.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";

export const PRQ_EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "prq-overflow.passthrough.yaml"), "utf8");
/** The DSA accelerator's requester id (02:00.0). */
export const DSA = 0x0200;
/** The example's host and bind, without its workload's requests. */
export const PRQ_BASE = PRQ_EXAMPLE.replace(/  # Two pages of group 300[\s\S]*$/, "");

/** Parses (no errors expected) and runs a scenario. */
export function runText(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
}

export const vtdHost = (r: ReturnType<typeof runText>) => r.machine.hostIommu as VtdHost;
export const dmesgOf = (r: ReturnType<typeof runText>) => r.machine.log.lines.map((l) => l.text);
