/**
 * Instruction counts of the VT-d unit's `translate()` alone, per mode and SPEC workload
 * (docs/performance.md "Nested translation against the legacy walk"): the set-up of
 * `passthrough bench --mode` (src/cli/benchModes.ts setupModeBench), one warm-up pass of the
 * workload (JIT), then PASSES passes of N requests. Run it under callgrind with PASSES 1 and 3 and
 * subtract: what is left is 2 * N translations and the loop around them (a hash of the output and a
 * fault tally, the same in every mode).
 *
 *   npx esbuild bench/nested-ir.ts --bundle --platform=node --format=esm --outfile=/tmp/nested-ir.mjs
 *   valgrind --tool=callgrind node /tmp/nested-ir.mjs nested 1 3 50000 [psc-entries]
 *
 * Prints the loop's ok count, fault tally and hash, so the two modes' answers can be compared.
 */
import { setupModeBench, translateAll, type BenchMode } from "../src/cli/benchModes.js";
import { requests } from "../src/cli/bench.js";

const [mode = "nested", w = "1", passes = "1", n = "50000", psc = "0"] = process.argv.slice(2);
const { unit, t } = setupModeBench(mode as BenchMode, Number(psc) > 0 ? { entries: Number(psc) } : undefined);
const req = requests(t, Number(w) as 1 | 2 | 3, Number(n));
let res = { ok: 0, hash: 0 };
const faults = new Map<number, number>();
const count = Number(n);
function pass(): void {
  unit.iotlb.invalidateAll();
  // The paging-structure caches too (a global IOTLB invalidation): every pass starts cold.
  unit.invalidate({ type: "iotlb", granularity: 1, did: 0, dr: false, dw: false, addr: 0n, ih: false, am: 0 });
  res = translateAll(unit, req, count, faults);
}
pass();
for (let p = 0; p < Number(passes); p++) pass();
console.log(JSON.stringify({ mode, w: Number(w), n: count, psc: Number(psc), ok: res.ok, faults: Object.fromEntries([...faults].sort((a, b) => a[0] - b[0]).map(([c, k]) => [`0x${c.toString(16)}`, k])), hash: `0x${(res.hash >>> 0).toString(16).padStart(8, "0")}` }));
