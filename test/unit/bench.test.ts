// The benchmark is a correctness check too: every non-timing field must equal SPEC.md's values.
// Timings are never asserted (they are measured with `npm run bench`, not in tests).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { benchDump, runBench } from "../../src/cli/bench.js";

const SPEC = readFileSync(join(__dirname, "..", "..", "..", "shared", "bench", "SPEC.md"), "utf8");
const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== "impl" && !k.endsWith("_mtps") && !k.endsWith("_runs")));

describe("passthrough bench (../shared/bench/SPEC.md)", () => {
  it("reproduces the section 9 generation checkpoints", () => {
    const expected = SPEC.slice(SPEC.indexOf("splitmix64(42) first 3:"), SPEC.indexOf("```", SPEC.indexOf("splitmix64(42) first 3:"))).trim().split("\n");
    expect(benchDump()).toEqual(expected);
  });

  it("matches the N = 100 000 reference results on the simulator's translate path", () => {
    const line = JSON.parse(runBench(100_000, 1));
    expect(Object.keys(line)).toEqual(["impl", "n", "reps", "table_pages", "w1_mtps", "w1_runs", "w1_ok", "w1_faults", "w1_hash", "w2_mtps", "w2_runs", "w2_ok", "w2_faults", "w2_hash", "w2_hits", "w2_misses", "w3_mtps", "w3_runs", "w3_ok", "w3_faults", "w3_hash", "w3_hits", "w3_misses"]);
    expect(strip(line)).toEqual({
      n: 100000,
      reps: 1,
      table_pages: 166513,
      w1_ok: 92088,
      w1_faults: { "0x04": 516, "0x05": 3731, "0x06": 2635, "0x07": 953, "0x0c": 77 },
      w1_hash: "0x87bd122b81a96fa3",
      w2_ok: 97089,
      w2_faults: { "0x04": 0, "0x05": 2911, "0x06": 0, "0x07": 0, "0x0c": 0 },
      w2_hash: "0xefc2c9a590ea220d",
      w2_hits: 94446,
      w2_misses: 5554,
      w3_ok: 95293,
      w3_faults: { "0x04": 0, "0x05": 2687, "0x06": 990, "0x07": 994, "0x0c": 36 },
      w3_hash: "0x46704cae76e96690",
      w3_hits: 39155,
      w3_misses: 60845,
    });
  });
});
