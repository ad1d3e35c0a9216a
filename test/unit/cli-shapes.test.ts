// The two million-event shapes of issue 15 (`npm run bench`, bench.ts benchScenarios), scaled down:
// what `passthrough simulate` prints for them must not change while their path is made faster
// (docs/performance-cli.md), and a run holds at most 32 bytes per event (memory, not time).
// The expected hashes are of the text and --json reports as the CLI printed them before that work
// (main 59aa436); one shape holds more than 2^30 bytes of DMA (the byte tally leaves the
// small-integer range) and runs longer than one poll interval (machine.ts POLL_TRANSACTIONS).
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { benchScenarios } from "../../src/cli/bench.js";
import { formatReport, simulateText } from "../../src/cli/simulate.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { DEFAULT_POLICY, FORWARD_ONLY_POLICY } from "../../src/trace/checkpoints.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `0x${x.toString(16)}` : x), 2) + "\n";

/** benchScenarios(scale)[k] with its event count: [one step repeated, many 1 MiB steps]. */
const shape = (k: 0 | 1, scale: number) => benchScenarios(scale)[k]!.text;

describe("simulate of the million-event shapes (scaled)", () => {
  it("one dma step repeated 300 000 times: the same text and JSON report as before", () => {
    const r = simulateText(shape(0, 0.3), "one.passthrough.yaml", { detail: true });
    expect(r.exitCode).toBe(0);
    expect(r.steps[1]!.summary).toBe("1228800000 bytes written; 299999/300000 IOTLB hits");
    expect(sha(formatReport(r))).toBe("7224cb920420537a88116fc72be034e52bf26dec7e8a1af01e6020bd91d573c7");
    expect(sha(json(r))).toBe("08cd18ccaf32bf7919ab92bceef066a25fb770c8ca542560ecb923509375d44c");
  });

  it("80 dma steps of 1 MiB: the same text and JSON report as before", () => {
    const r = simulateText(shape(1, 0.02), "many.passthrough.yaml", { detail: true });
    expect(r.exitCode).toBe(0);
    expect(r.steps).toHaveLength(81);
    expect(r.steps[80]!.summary).toBe("1048576 bytes read; 256/256 IOTLB hits");
    expect(sha(formatReport(r))).toBe("baa92d9abee0191e7535f04cab6dc77fe1abb9bb2edd97fe58595b2b607a2949");
    expect(sha(json(r))).toBe("da3a5a7ec347f52be696c5d00f011c005f984727f62e3446ebd14d5138588211");
  });

  // What each further event costs the run in ArrayBuffers (trace columns, checkpoints, simulated
  // memory): the difference between two sizes of the same shape, so the fixed part (guest RAM's
  // tables, the boot) drops out. Both checkpoint policies: the CLI's and the editor's.
  for (const [policyName, policy] of [["forward-only (CLI)", FORWARD_ONLY_POLICY], ["default (editor)", DEFAULT_POLICY]] as const) {
    for (const k of [0, 1] as const) {
      it(`${k === 0 ? "one step repeated" : "many 1 MiB steps"}, ${policyName} checkpoints: at most 32 bytes per further event`, () => {
        const at = (scale: number) => {
          const run = runScenario(parseScenario(shape(k, scale), "x.passthrough.yaml").scenario!, { checkpoints: policy }).run!;
          return { bytes: run.memoryBytes, events: run.trace.length };
        };
        const a = at(0.01);
        const b = at(0.03);
        expect(b.events - a.events).toBeGreaterThan(15_000);
        expect((b.bytes - a.bytes) / (b.events - a.events)).toBeLessThanOrEqual(32);
      });
    }
  }
});
