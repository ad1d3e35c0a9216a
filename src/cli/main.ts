/**
 * `passthrough` — the command line for terminals and CI.
 *   passthrough simulate FILE... [--json] [--quiet]
 *   passthrough bench [N] [REPS]
 *   passthrough decode FILE... | explain FILE... [--trace FTRACE]
 * Exit codes: 0 ok, 1 an expectation failed, 2 invalid scenario or usage error.
 */
import { readFileSync } from "node:fs";
import { runBench, benchDump, runScenarioBench } from "./bench.js";
import { simulateText, formatReport, type SimulateReport } from "./simulate.js";
import { decode, explain, synthesize } from "./evidence.js";

const USAGE = `usage:
  passthrough simulate FILE... [--json] [--quiet]   run scenarios, print outcomes, faults (dmesg format) and expectations
  passthrough bench [N] [REPS] [--dump]             the VT-d translation benchmark of ../shared/bench/SPEC.md
  passthrough decode FILE... [--kind log|groups|ftrace] [--json]
                                                    decode kernel logs, IOMMU group listings, ftrace iommu events
  passthrough explain FILE... [--trace FTRACE] [--json]
                                                    explain each fault: meaning, likely causes, what to check, evidence
  passthrough synthesize FILE...                    a scenario (to stdout) that reproduces the faults of the evidence
exit codes: 0 success, 1 an expectation failed, 2 invalid scenario or usage`;

function main(argv: string[]): number | Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "simulate":
      return simulate(rest);
    case "decode":
      return decode(rest);
    case "explain":
      return explain(rest);
    case "synthesize":
      return synthesize(rest);
    case "bench": {
      if (rest.includes("--dump")) {
        for (const line of benchDump()) process.stdout.write(line + "\n");
        return 0;
      }
      const nums = rest.filter((a) => /^\d+$/.test(a)).map(Number);
      const n = nums[0] ?? 10_000_000;
      const reps = nums[1] ?? 3;
      process.stdout.write(runBench(n, reps, { log: (l) => process.stderr.write(l + "\n") }) + "\n");
      // The scenario path after the SPEC workloads (lines that do not start with "{").
      for (const line of runScenarioBench(reps)) process.stdout.write(line + "\n");
      return 0;
    }
    case "help":
    case "--help":
    case "-h":
    case undefined:
      process.stdout.write(USAGE + "\n");
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`passthrough: unknown command "${cmd}"\n${USAGE}\n`);
      return 2;
  }
}

function simulate(args: string[]): number {
  const json = args.includes("--json");
  const quiet = args.includes("--quiet");
  const files = args.filter((a) => !a.startsWith("--"));
  if (files.length === 0) {
    process.stderr.write(`passthrough simulate: no scenario file given\n${USAGE}\n`);
    return 2;
  }
  let worst = 0;
  const reports: SimulateReport[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      process.stderr.write(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
      worst = 2;
      continue;
    }
    const report = simulateText(text, file);
    reports.push(report);
    worst = Math.max(worst, report.exitCode);
    if (!json) {
      const out = formatReport(report, { quiet });
      (report.exitCode === 2 ? process.stderr : process.stdout).write(out);
    }
  }
  if (json) process.stdout.write(JSON.stringify(reports.length === 1 ? reports[0] : reports, jsonBigint, 2) + "\n");
  return worst;
}

function jsonBigint(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `0x${value.toString(16)}` : value;
}

void Promise.resolve(main(process.argv.slice(2))).then((code) => {
  process.exitCode = code;
});
