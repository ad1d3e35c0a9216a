/**
 * `passthrough` — the command line for terminals and CI (main.ts runs it with the process's argv).
 *   passthrough simulate FILE... [--json] [--quiet]
 *   passthrough bench [N] [REPS] [--dump]
 *   passthrough decode FILE... | explain FILE... [--kind KIND] [--trace FTRACE] [--json] | synthesize FILE...
 * Exit codes: 0 ok, 1 an expectation failed, 2 invalid scenario or usage error.
 */
import { readFileSync, writeFileSync } from "node:fs";
// `simulate` is what runs most often (CI, scripts, thousands of files): the evidence importers,
// the benchmarks and the VM export are loaded by the commands that use them (dynamic import():
// esbuild puts them into chunks of their own, scripts/cli-build.mjs), so a simulate compiles
// about a third less of the bundle (docs/performance-cli.md).
import { simulateText, formatReport, type SimulateReport } from "./simulate.js";
import { parseCommandLine, UsageError, USAGE, type Command } from "./args.js";
import { parseScenario } from "../scenario/index.js";
import { decodeScenarioBytes } from "../scenario/text.js";
import { terminalSafe, type CliIo } from "./output.js";
import { toJunit, type JunitEntry } from "./junit.js";
import { Inputs, inputName, readAll, STDIN } from "./inputs.js";

export type { CliIo };

/** Runs one command line; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let c: Command;
  try {
    c = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(terminalSafe(`passthrough: error ${e.code}: ${e.message}\n${USAGE}\n`));
    return 2;
  }
  switch (c.cmd) {
    case "help":
      io.out(USAGE + "\n");
      return argv.length === 0 ? 2 : 0;
    case "simulate":
      return simulate(c, io);
    case "decode":
      return (await import("./evidence.js")).decode(c, io);
    case "explain":
      return (await import("./evidence.js")).explain(c, io);
    case "synthesize":
      return (await import("./evidence.js")).synthesize(c, io);
    case "export":
      return exportVm(c, io, await import("../import/vmExport.js"));
    case "bench": {
      if (c.model !== undefined) {
        // The SPEC adapted to the model's tables (bench/SPEC-amdvi.md, bench/SPEC-smmuv3.md).
        const { modelBenchDump, runModelBench } = await import("./benchModels.js");
        if (c.dump) for (const line of modelBenchDump(c.model)) io.out(line + "\n");
        else io.out(runModelBench(c.model, c.n, c.reps, { log: (l) => io.err(l + "\n") }) + "\n");
        return 0;
      }
      const { runBench, benchDump, runScenarioBench } = await import("./bench.js");
      const { runModeBench } = await import("./benchModes.js");
      if (c.dump) {
        for (const line of benchDump()) io.out(line + "\n");
        return 0;
      }
      if (c.mode !== undefined) {
        // The unit path: legacy first, then the mode, the same tables and requests (docs/scalable-mode.md).
        for (const m of c.mode === "legacy" ? (["legacy"] as const) : (["legacy", c.mode] as const)) io.out(runModeBench(m, c.n, c.reps, (l) => io.err(l + "\n")) + "\n");
        return 0;
      }
      io.out(runBench(c.n, c.reps, { log: (l) => io.err(l + "\n") }) + "\n");
      // The scenario path after the SPEC workloads (lines that do not start with "{").
      for (const line of runScenarioBench(c.reps)) io.out(line + "\n");
      return 0;
    }
  }
}

/** A file's bytes, or standard input's for "-" (`generate | passthrough simulate -`). */
async function readInput(inputs: Inputs, arg: string): Promise<Uint8Array> {
  return arg === STDIN ? readAll(inputs, arg) : readFileSync(arg);
}

async function simulate(c: Extract<Command, { cmd: "simulate" }>, io: CliIo): Promise<number> {
  let worst = 0;
  const reports: SimulateReport[] = [];
  const entries: JunitEntry[] = [];
  const inputs = new Inputs(io);
  for (const arg of c.files) {
    const file = inputName(arg);
    let text: string;
    try {
      text = decodeScenarioBytes(await readInput(inputs, arg));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      entries.push({ file, readError: code });
      io.err(terminalSafe(`${file}: cannot read: ${code}\n`));
      worst = 2;
      continue;
    }
    const report = simulateText(text, file, { detail: c.json });
    reports.push(report);
    entries.push(report);
    worst = Math.max(worst, report.exitCode);
    if (c.format === "text") {
      // Names, messages and file names come from untrusted files: escaped for the terminal.
      const out = terminalSafe(formatReport(report, { quiet: c.quiet }));
      if (report.exitCode === 2) io.err(out);
      else io.out(out);
    }
  }
  if (c.format === "json") io.out(JSON.stringify(reports.length === 1 ? reports[0] : reports, jsonBigint, 2) + "\n");
  if (c.format === "junit" || c.junit !== undefined) {
    // A file that cannot be read is a scenario that does not load, in the XML too.
    const xml = toJunit(entries);
    if (c.format === "junit") io.out(xml);
    if (c.junit !== undefined) {
      try {
        writeFileSync(c.junit, xml);
      } catch (e) {
        io.err(terminalSafe(`${c.junit}: cannot write the JUnit report: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`));
        return 2;
      }
    }
  }
  return worst;
}

/** `passthrough export`: a scenario's VM as the configuration a user runs (import/vmExport.ts). */
async function exportVm(c: Extract<Command, { cmd: "export" }>, io: CliIo, { toLibvirtXml, toQemuCommandLine }: typeof import("../import/vmExport.js")): Promise<number> {
  const file = inputName(c.file);
  let text: string;
  try {
    text = decodeScenarioBytes(await readInput(new Inputs(io), c.file));
  } catch (e) {
    io.err(terminalSafe(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`));
    return 2;
  }
  const parsed = parseScenario(text, file);
  const errors = parsed.diagnostics.filter((d) => d.severity === "error");
  if (errors.length || !parsed.scenario) {
    for (const d of errors) io.err(terminalSafe(`${file}:${d.range.line + 1}:${d.range.column + 1}: error ${d.code}: ${d.message}\n${d.hint ? `    hint: ${d.hint}\n` : ""}`));
    return 2;
  }
  const s = parsed.scenario;
  if (s.vms.length === 0) {
    io.err(terminalSafe(`${file}: the scenario has no VM to export\n`));
    return 2;
  }
  if (c.vm !== undefined && !s.vms.some((v) => v.name === c.vm)) {
    io.err(terminalSafe(`${file}: no VM named ${JSON.stringify(c.vm)} (VMs: ${s.vms.map((v) => v.name).join(", ")})\n`));
    return 2;
  }
  io.out(c.format === "qemu" ? toQemuCommandLine(s, c.vm) : toLibvirtXml(s, c.vm));
  return 0;
}

function jsonBigint(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `0x${value.toString(16)}` : value;
}
