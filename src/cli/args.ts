/**
 * The command line, parsed strictly (node:util parseArgs): an option a command does not know
 * (`simulate --jsno`), a value outside its list (`decode --kind bogus`), a missing value or a
 * missing file is a UsageError, which main.ts prints with the usage and exit code 2. Nothing is
 * guessed: a typo never silently turns into a file name or a default.
 */
import { parseArgs } from "node:util";
import type { EvidenceKind } from "../import/index.js";
import type { UsageErrorCode } from "../protocol/diagnostics.js";
import { BENCH_MODES, type BenchMode } from "./benchModes.js";
import { BENCH_MODELS, type BenchModel } from "./benchModels.js";

export const USAGE = `usage:
  passthrough simulate FILE... [--json | --format text|json|junit] [--junit OUT.xml] [--quiet]
                                                    run scenarios, print outcomes, faults (dmesg format) and expectations;
                                                    junit: one test case per expect, for CI (--junit also writes the file)
  passthrough bench [N] [REPS] [--dump] [--mode legacy|scalable|nested] [--model amd-vi|smmuv3]
                                                    the VT-d translation benchmark (--mode: the SPEC workloads through the unit's translate(), legacy beside the mode;
                                                    --model: the SPEC adapted to that model's tables, through its unit's translate()) (N requests: 1..50000000, default
                                                    10000000; REPS: 1..16, default 3)
  passthrough decode FILE... [--kind KIND] [--json] decode kernel logs, IOMMU group listings, ftrace iommu events, configs
  passthrough explain FILE... [--kind KIND] [--trace FTRACE] [--json]
                                                    explain each fault: meaning, likely causes, what to check, evidence
  passthrough synthesize FILE... [--unit NAME]      a scenario (to stdout) that reproduces the faults of the evidence
                                                    (--unit: which DMAR unit of a debugfs dump of several, e.g. dmar0)
  passthrough export FILE [--format qemu|libvirt] [--vm NAME]
                                                    a scenario's VM as a QEMU command line or libvirt domain XML (to stdout)
  KIND: log, groups, ftrace, lspci, libvirt, qemu (default: detected from the text)
  FILE "-" reads standard input (dmesg | passthrough explain -)
exit codes: 0 success, 1 an expectation failed, 2 invalid scenario or usage`;

/** Every evidence kind, as `--kind` accepts it (the type check below keeps it complete). */
export const EVIDENCE_KINDS = ["log", "groups", "ftrace", "lspci", "libvirt", "qemu"] as const satisfies readonly EvidenceKind[];
// A compile error here when import/ adds a kind the list above lacks.
const _allKinds: Exclude<EvidenceKind, (typeof EVIDENCE_KINDS)[number]> extends never ? true : never = true;
void _allKinds;

export type Command =
  | { cmd: "simulate"; files: string[]; json: boolean; quiet: boolean; format: SimulateFormat; junit?: string }
  | { cmd: "decode"; files: string[]; kind?: EvidenceKind; json: boolean }
  | { cmd: "explain"; files: string[]; kind?: EvidenceKind; trace?: string; json: boolean }
  | { cmd: "synthesize"; files: string[]; unit?: string }
  | { cmd: "export"; file: string; format: ExportFormat; vm?: string }
  | { cmd: "bench"; n: number; reps: number; dump: boolean; mode?: BenchMode; model?: BenchModel }
  | { cmd: "help" };

/**
 * `bench` limits: REPS as runBench takes it; N where the request streams (12 bytes a request per
 * workload) still fit a few hundred MB (SPEC's runs use N = 10 M).
 */
export const BENCH_MAX_N = 50_000_000;
export const BENCH_MAX_REPS = 16;

/** What `simulate` prints (`--json` is `--format json`). */
export const SIMULATE_FORMATS = ["text", "json", "junit"] as const;
export type SimulateFormat = (typeof SIMULATE_FORMATS)[number];

/** What `export` writes. */
export const EXPORT_FORMATS = ["qemu", "libvirt"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A command line the CLI refuses: the code says what kind of mistake, the message names the command and what was wrong. */
export class UsageError extends Error {
  constructor(
    readonly code: UsageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type OptionSpec = { type: "boolean" } | { type: "string" };
const COMMANDS = {
  simulate: { json: { type: "boolean" }, quiet: { type: "boolean" }, format: { type: "string" }, junit: { type: "string" } },
  decode: { kind: { type: "string" }, json: { type: "boolean" } },
  explain: { kind: { type: "string" }, trace: { type: "string" }, json: { type: "boolean" } },
  synthesize: { unit: { type: "string" } },
  export: { format: { type: "string" }, vm: { type: "string" } },
  bench: { dump: { type: "boolean" }, mode: { type: "string" }, model: { type: "string" } },
} satisfies Record<string, Record<string, OptionSpec>>;
type CommandName = keyof typeof COMMANDS;

/** Parses `passthrough ARGS...` (argv without node and the script). Throws UsageError. */
export function parseCommandLine(argv: readonly string[]): Command {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") return { cmd: "help" };
  if (!Object.hasOwn(COMMANDS, cmd)) throw new UsageError("unknown-command", `unknown command "${cmd}"${suggest(cmd, Object.keys(COMMANDS), "")}`);
  const name = cmd as CommandName;
  const options: Record<string, OptionSpec> = COMMANDS[name];
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (e) {
    const p = argumentProblem(e, Object.keys(options));
    throw new UsageError(p.code, `${name}: ${p.message}`);
  }
  const { values, positionals } = parsed;
  const flag = (k: string) => values[k] === true;
  const needFiles = (what: string) => {
    if (positionals.length === 0) throw new UsageError("missing-file", `${name}: no ${what} file given`);
    return positionals;
  };
  switch (name) {
    case "simulate": {
      const files = needFiles("scenario");
      const f = values.format;
      if (f !== undefined && (typeof f !== "string" || !(SIMULATE_FORMATS as readonly string[]).includes(f))) throw new UsageError("invalid-option-value", `simulate: --format ${JSON.stringify(f)} is not one of ${SIMULATE_FORMATS.join(", ")}${suggest(String(f), SIMULATE_FORMATS, "")}`);
      if (flag("json") && f !== undefined && f !== "json") throw new UsageError("conflicting-options", `simulate: --json and --format ${f} ask for two outputs; give one`);
      const format: SimulateFormat = flag("json") ? "json" : ((f as SimulateFormat | undefined) ?? "text");
      const c: Extract<Command, { cmd: "simulate" }> = { cmd: name, files, json: format === "json", quiet: flag("quiet"), format };
      if (typeof values.junit === "string") {
        if (values.junit === "") throw new UsageError("option-value-missing", "simulate: --junit needs a file name");
        c.junit = values.junit;
      }
      return c;
    }
    case "decode":
    case "explain": {
      const c: Extract<Command, { cmd: "decode" | "explain" }> = { cmd: name, files: needFiles("evidence"), json: flag("json") };
      const kind = values.kind;
      if (typeof kind === "string") {
        if (!(EVIDENCE_KINDS as readonly string[]).includes(kind)) throw new UsageError("invalid-option-value", `${name}: --kind ${JSON.stringify(kind)} is not one of ${EVIDENCE_KINDS.join(", ")}${suggest(kind, EVIDENCE_KINDS, "")}`);
        c.kind = kind as EvidenceKind;
      }
      if (name === "explain" && typeof values.trace === "string") (c as Extract<Command, { cmd: "explain" }>).trace = values.trace;
      return c;
    }
    case "synthesize": {
      const files = needFiles("evidence");
      if (values.unit === "") throw new UsageError("option-value-missing", "synthesize: --unit needs a DMAR unit's name (e.g. dmar0)");
      return { cmd: name, files, ...(typeof values.unit === "string" ? { unit: values.unit } : {}) };
    }
    case "export": {
      const [file, ...more] = needFiles("scenario");
      if (more.length) throw new UsageError("too-many-arguments", `export: one scenario file, got ${positionals.length}`);
      const format = values.format ?? "qemu";
      if (typeof format !== "string" || !(EXPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError("invalid-option-value", `export: --format ${JSON.stringify(format)} is not one of ${EXPORT_FORMATS.join(", ")}${suggest(String(format), EXPORT_FORMATS, "")}`);
      return { cmd: name, file: file!, format: format as ExportFormat, ...(typeof values.vm === "string" ? { vm: values.vm } : {}) };
    }
    case "bench": {
      if (positionals.length > 2) throw new UsageError("too-many-arguments", `bench: at most two numbers (N and REPS), got ${positionals.length} arguments`);
      const nums = positionals.map((p, i) => {
        const [what, max] = i === 0 ? ["N", BENCH_MAX_N] : ["REPS", BENCH_MAX_REPS];
        if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > max) throw new UsageError("invalid-argument", `bench: ${what} must be a whole number from 1 to ${max.toLocaleString("en-US")}, got ${JSON.stringify(p)}`);
        return Number(p);
      });
      const mode = values.mode;
      if (mode !== undefined && (typeof mode !== "string" || !(BENCH_MODES as readonly string[]).includes(mode))) throw new UsageError("invalid-option-value", `bench: --mode ${JSON.stringify(mode)} is not one of ${BENCH_MODES.join(", ")}${suggest(String(mode), BENCH_MODES, "")}`);
      const model = values.model;
      if (model !== undefined && (typeof model !== "string" || !(BENCH_MODELS as readonly string[]).includes(model))) throw new UsageError("invalid-option-value", `bench: --model ${JSON.stringify(model)} is not one of ${BENCH_MODELS.join(", ")}${suggest(String(model), BENCH_MODELS, "")}`);
      if (model !== undefined && mode !== undefined) throw new UsageError("invalid-option-value", "bench: --mode is VT-d's (legacy, scalable, nested); it does not combine with --model");
      return { cmd: name, n: nums[0] ?? 10_000_000, reps: nums[1] ?? 3, dump: flag("dump"), ...(mode !== undefined ? { mode: mode as BenchMode } : {}), ...(model !== undefined ? { model: model as BenchModel } : {}) };
    }
  }
}

/** parseArgs' error in the CLI's words, with the nearest known option as a hint. */
function argumentProblem(e: unknown, known: string[]): { code: UsageErrorCode; message: string } {
  const err = e as { code?: string; message?: string };
  const opt = /'(-[^' ]*)/.exec(err.message ?? "")?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return { code: "unknown-option", message: `unknown option ${opt}${suggest(opt.replace(/^-+/, "").replace(/=.*$/, ""), known, "--")}${known.length ? ` (options: ${known.map((k) => `--${k}`).join(", ")})` : " (it takes no options)"}` };
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing/.test(err.message ?? "") ? { code: "option-value-missing", message: `${opt} needs a value` } : { code: "option-takes-no-value", message: `${opt} takes no value` };
    default:
      return { code: "invalid-argument", message: err.message ?? String(e) };
  }
}

/** "; did you mean --json?" when one candidate is within two edits of `word`. */
function suggest(word: string, candidates: readonly string[], prefix: string): string {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best === undefined ? "" : `; did you mean ${prefix}${best}?`;
}

/** Damerau-Levenshtein (optimal string alignment): a transposition ("jsno") is one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
