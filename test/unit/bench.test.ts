// The benchmark is a correctness check too: every non-timing field must equal SPEC.md's values.
// Timings are never asserted (they are measured with `npm run bench`, not in tests).
import { describe, expect, it } from "vitest";
import { benchDump, runBench, runScenarioBench } from "../../src/cli/bench.js";

/** SPEC.md section 9, verbatim. */
const CHECKPOINTS = [
  "splitmix64(42) first 3: 0xbdd732262feb6e95 0x28efe333b266f103 0x47526757130f9f52",
  "table_pages 166513",
  "map4k[0..3]: 0x5eeb991000 0x23a933a000 0x4de2c2000 0x1bf4b38000",
  "map4k[262143] 0x53beaed000",
  "pte(map4k[0]) 0x00000028efe33003",
  "g1[0] 0xe640000000 pte 0x0000005180000083",
  "sp2m[0] 0x9604e00000 pte 0x00000085f2800083",
  "bad[0] 0xb148000000",
  "hot[0] 0x3cd6b51000 hot[511] 0x7a21cb2000",
  "ws[0] 0x457e49d000 ws[65535] 0xe7ce39b000",
  "w1 req[0..3]: 0x1e525720d2R 0x1026a8cadfR 0x2cb19832ffR 0x23c8de8d8eR",
  "w2 req[0..3]: 0x1534360848R 0x6185c3f9dfR 0x467aa9de71R 0x4b13a9b844R",
  "w3 req[0..3]: 0x20b284d9b1W 0x38664f82d0W 0x457e49dd77R 0x1d55cc9521W",
];
const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== "impl" && !k.endsWith("_mtps") && !k.endsWith("_runs")));

describe("passthrough bench (../shared/bench/SPEC.md)", () => {
  it("reproduces the section 9 generation checkpoints", () => {
    expect(benchDump()).toEqual(CHECKPOINTS);
  });

  it("matches the N = 100 000 reference results on the simulator's translate path", () => {
    const logged: string[] = [];
    const line = JSON.parse(runBench(100_000, 1, { dump: true, log: (l) => logged.push(l) })) as Record<string, unknown>;
    // --dump through runBench: the checkpoints of the very tables this run used.
    expect(logged.filter((l) => CHECKPOINTS.includes(l))).toEqual(CHECKPOINTS);
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
    expect(line.w1_runs).toHaveLength(1);
    expect(line.w1_mtps).toBeGreaterThan(0);
  });

  it("folds every result and translates every request when N is one more than a burst (the copy of burst k + 1 runs in the fold of burst k)", () => {
    // The C reference walker's fields for N = 4 097 (anchor/walker 4097 1): the first burst's
    // copy before any fold, a full burst, and a last burst of one request.
    const line = JSON.parse(runBench(4097, 2)) as Record<string, unknown>;
    expect(strip(line)).toEqual({
      n: 4097,
      reps: 2,
      table_pages: 166513,
      w1_ok: 3787,
      w1_faults: { "0x04": 28, "0x05": 131, "0x06": 104, "0x07": 44, "0x0c": 3 },
      w1_hash: "0xe5137eb7375cc38f",
      w2_ok: 3970,
      w2_faults: { "0x04": 0, "0x05": 127, "0x06": 0, "0x07": 0, "0x0c": 0 },
      w2_hash: "0x5d92b57d34a5c575",
      w2_hits: 3431,
      w2_misses: 666,
      w3_ok: 3900,
      w3_faults: { "0x04": 0, "0x05": 106, "0x06": 45, "0x07": 42, "0x0c": 4 },
      w3_hash: "0x1e8d590b1971c8e5",
      w3_hits: 1455,
      w3_misses: 2642,
    });
  });

  it("rejects a nonsensical N or REPS", () => {
    expect(() => runBench(0, 1)).toThrow(RangeError);
    expect(() => runBench(10, 0)).toThrow(RangeError);
  });
});

describe("the scenario path in npm run bench", () => {
  it("runs both million-event shapes (here scaled down) and reports events and bytes per event, on lines compare.sh does not read", () => {
    const lines = runScenarioBench(1, 0.05);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^scenario "one dma step repeated 50000 times": \d+\.\d{3} s \(\d+\.\d{3}\), 50006 events, trace \d+\.\d B\/event$/);
    expect(lines[1]).toMatch(/^scenario "200 dma steps of 1 MiB": \d+\.\d{3} s \(\d+\.\d{3}\), 51206 events, trace /);
    for (const l of lines) expect(Number(/trace (\d+\.\d) B\/event/.exec(l)![1])).toBeLessThanOrEqual(32);
  });
});
