// `passthrough bench --model amd-vi|smmuv3` is a correctness check too: every non-timing field must
// equal the reference results written in bench/SPEC-amdvi.md and bench/SPEC-smmuv3.md (which the
// C walkers in bench/ print as well; cc is not needed here). Timings are never asserted.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { modelBenchDump, runModelBench, type BenchModel } from "../../src/cli/benchModels.js";
import { parseCommandLine, UsageError } from "../../src/cli/args.js";

const SPEC_FILE: Record<BenchModel, string> = { "amd-vi": "SPEC-amdvi.md", smmuv3: "SPEC-smmuv3.md" };

/** Section 9's checkpoint block and the N = 100 000 reference line of a model's SPEC file. */
function spec(model: BenchModel): { checkpoints: string[]; reference: Record<string, unknown> } {
  const text = readFileSync(join(__dirname, "..", "..", "bench", SPEC_FILE[model]), "utf8");
  const s9 = text.slice(text.indexOf("## 9."));
  const block = /```\n([\s\S]*?)```/.exec(s9);
  const ref = /N = 100 000:\s*```json\n(.*)\n```/.exec(s9);
  if (!block || !ref) throw new Error(`${SPEC_FILE[model]}: no section 9 checkpoints or N = 100 000 reference`);
  return { checkpoints: block[1]!.trim().split("\n"), reference: JSON.parse(ref[1]!) as Record<string, unknown> };
}

const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== "impl" && k !== "reps" && !k.endsWith("_mtps") && !k.endsWith("_runs")));

const KEYS = ["impl", "n", "reps", "table_pages", "w1_mtps", "w1_runs", "w1_ok", "w1_faults", "w1_hash", "w2_mtps", "w2_runs", "w2_ok", "w2_faults", "w2_hash", "w2_hits", "w2_misses", "w3_mtps", "w3_runs", "w3_ok", "w3_faults", "w3_hash", "w3_hits", "w3_misses"];

describe.each(["amd-vi", "smmuv3"] as const)("passthrough bench --model %s", (model) => {
  it("generates the tables of its SPEC file's section 9 checkpoints", () => {
    expect(modelBenchDump(model)).toEqual(spec(model).checkpoints);
  });

  it("matches its SPEC file's N = 100 000 reference results through the unit's translate()", () => {
    const line = JSON.parse(runModelBench(model, 100_000, 1)) as Record<string, unknown>;
    expect(Object.keys(line)).toEqual(KEYS);
    expect(line.impl).toBe(`ts-${model}`);
    expect(strip(line)).toEqual(spec(model).reference);
    expect(line.w1_runs).toHaveLength(1);
  });
});

describe("bench --model arguments", () => {
  it("takes amd-vi and smmuv3 with N and REPS", () => {
    expect(parseCommandLine(["bench", "--model", "smmuv3", "1000", "2"])).toEqual({ cmd: "bench", n: 1000, reps: 2, dump: false, model: "smmuv3" });
  });

  it("names the models and suggests the nearest one for a typo", () => {
    expect(() => parseCommandLine(["bench", "--model", "amdvi"])).toThrow(UsageError);
    expect(() => parseCommandLine(["bench", "--model", "amdvi"])).toThrow(/--model "amdvi" is not one of amd-vi, smmuv3.*amd-vi/);
  });

  it("refuses VT-d's --mode with --model", () => {
    expect(() => parseCommandLine(["bench", "--model", "amd-vi", "--mode", "legacy"])).toThrow(/does not combine with --model/);
  });
});
