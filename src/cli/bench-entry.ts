/**
 * Standalone entry of the translation benchmark (SPEC.md of ../shared/bench), for measuring
 * without the whole CLI:
 *   npx esbuild src/cli/bench-entry.ts --bundle --platform=node --format=esm --outfile=/tmp/bench.mjs
 *   node /tmp/bench.mjs [N] [REPS] [--dump]
 * `passthrough bench` (src/cli/main.ts) calls the same runBench / benchDump.
 */
import { benchDump, runBench } from "./bench.js";

const args = process.argv.slice(2);
if (args.includes("--dump")) {
  for (const line of benchDump()) process.stdout.write(line + "\n");
} else {
  const nums = args.filter((a) => /^\d+$/.test(a)).map(Number);
  const verbose = args.includes("-v") || args.includes("--verbose");
  const line = runBench(nums[0] ?? 10_000_000, nums[1] ?? 3, verbose ? { log: (l) => process.stderr.write(l + "\n") } : {});
  process.stdout.write(line + "\n");
}
