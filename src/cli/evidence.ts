/**
 * `passthrough decode FILE...` and `passthrough explain FILE... [--trace FTRACE]`: real evidence
 * (kernel logs, group listings, ftrace) decoded record by record, and each fault explained.
 */
import { isAscii } from "node:buffer";
import { hostTableUnits } from "../import/hostTables.js";
import { synthesizeScenario, type EvidenceKind, type EvidenceRecord, type Explanation, type Skipped } from "../import/index.js";
import { ExplainContext, explainRecord, rankingContext, ranksCauses } from "../import/explain.js";
import { EvidenceReader, mergeSkipped, type AsciiFastPath, type DecodedEvidence } from "../import/decode.js";
import { configToJson, recordToJson } from "../import/json.js";
import type { Command } from "./args.js";
import { terminalSafe, type CliIo } from "./output.js";
import { Inputs, inputName } from "./inputs.js";

/** Node's Buffer helpers for the decoder's ASCII fast path. */
const FAST: AsciiFastPath = { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") };

/**
 * Streams a file's bytes into an EvidenceReader (a 100 MB log is never one string): the same
 * decoding (UTF-8, UTF-16LE/BE) and parsing as the extension's file, clipboard and editor imports.
 */
async function streamFile(inputs: Inputs, file: string, reader: EvidenceReader, io: CliIo, pump?: () => Promise<void>): Promise<boolean> {
  try {
    for await (const chunk of inputs.open(file)) {
      reader.pushBytes(chunk);
      // What the chunk's slices decoded is written a little at a time, waiting whenever the
      // reader is behind (bounded memory, no ENOBUFS); a reader that is gone stops the reading.
      await pump?.();
      await io.drain?.();
      if (io.closed) break;
    }
    return true;
  } catch (e) {
    io.err(terminalSafe(`${inputName(file)}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`));
    return false;
  }
}

/** A whole file's records, parsed as it streams in (explain and synthesize keep the records, not the text). */
async function importFile(inputs: Inputs, file: string, io: CliIo, kind?: EvidenceKind): Promise<DecodedEvidence | undefined> {
  const reader = new EvidenceReader({ kind, fast: FAST });
  if (!(await streamFile(inputs, file, reader, io))) return undefined;
  return reader.end();
}

const CONFIG_KINDS = new Set(["groups", "lspci", "libvirt", "qemu"]);

/** Records decoded but not written yet (at most a slice's), written in small steps with a wait for the reader between them. */
class Pending {
  private list: EvidenceRecord[] = [];
  constructor(
    private readonly io: CliIo,
    private readonly write: (r: EvidenceRecord) => void,
  ) {}
  add(records: EvidenceRecord[]): void {
    for (const r of records) this.list.push(r);
  }
  readonly pump = async (): Promise<void> => {
    const list = this.list;
    this.list = [];
    for (let k = 0; k < list.length; k++) {
      if (this.io.closed) return;
      this.write(list[k]!);
      if (k % 32 === 31) await this.io.drain?.();
    }
  };
}

/** Runs a command with its inputs, and removes a copy of piped-in stdin afterwards. */
async function withInputs(io: CliIo, replayable: boolean, run: (inputs: Inputs) => Promise<number>): Promise<number> {
  const inputs = new Inputs(io, replayable);
  try {
    return await run(inputs);
  } finally {
    inputs.dispose();
  }
}

export function decode(c: Extract<Command, { cmd: "decode" }>, io: CliIo): Promise<number> {
  return withInputs(io, false, (inputs) => decodeInputs(inputs, c, io));
}

async function decodeInputs(inputs: Inputs, c: Extract<Command, { cmd: "decode" }>, io: CliIo): Promise<number> {
  const { json, files: list } = c;
  let status = 0;
  // Text lines are made terminal-safe (a log line cannot retitle or clear the terminal); JSON is escaped by JSON.stringify.
  const out = json ? (s: string) => io.out(s) : (s: string) => io.out(terminalSafe(s));
  const many = json && list.length > 1;
  if (many) out("[");
  // Separators go before an object, not after it: a file that cannot be read adds nothing (no trailing comma).
  let objects = 0;
  const open = () => out(many ? (objects++ ? ",\n" : "\n") : "");
  for (const arg of list) {
    if (io.closed) break;
    const file = inputName(arg);
    const kind = c.kind;
    let count = 0;
    let skippedLines = 0;
    // Merged as they come (slices hand them out in line order): a log of a million unrelated lines is a few runs, not a million entries.
    const skipped: Skipped[] = [];
    const configRecords: EvidenceRecord[] = [];
    let first = true;
    const reader: EvidenceReader = new EvidenceReader({
      kind,
      fast: FAST,
      keep: false,
      onRecords: (records, sk) => {
        for (const s of sk) {
          skippedLines += s.endLine - s.line + 1;
          const last = skipped[skipped.length - 1];
          if (last && last.reason === s.reason && last.endLine >= s.line - 1 && s.line >= last.line) last.endLine = Math.max(last.endLine, s.endLine);
          else skipped.push({ ...s });
        }
        if (reader.kind && CONFIG_KINDS.has(reader.kind)) {
          for (const r of records) configRecords.push(r);
          return;
        }
        pending.add(records);
      },
    });
    const pending = new Pending(io, (rec) => {
      count++;
      if (json) {
        if (first) {
          open();
          out(`{"file":${JSON.stringify(file)},"records":[\n`);
        }
        out(`${first ? "" : ",\n"}${JSON.stringify(recordToJson(rec, file))}`);
        first = false;
      } else {
        out(`${file}:${rec.line + 1}:${rec.column + 1}: ${rec.kind}: ${rec.summary}\n`);
        for (const c of rec.context) out(`    ${file}:${c.line + 1}: ${c.text}\n`);
      }
    });
    if (!(await streamFile(inputs, arg, reader, io, pending.pump))) {
      // A file whose records were partly written before the read failed still closes its object.
      if (json && !first) out(`\n],"skipped":[]}`);
      status = 2;
      continue;
    }
    if (io.closed) break;
    const parser = reader.end();
    await pending.pump();
    if (parser.kind && CONFIG_KINDS.has(parser.kind)) {
      if (json) {
        open();
        out(JSON.stringify(configToJson(configRecords, mergeSkipped(skipped), file)));
      } else for (const rec of configRecords) out(`${file}:${rec.line + 1}: ${rec.kind}: ${rec.summary}\n`);
      count = configRecords.length;
    } else if (json) {
      if (first) {
        open();
        out(`{"file":${JSON.stringify(file)},"records":[\n`);
      }
      out(`\n],"skipped":${JSON.stringify(mergeSkipped(skipped).map((s) => ({ line: s.line + 1, endLine: s.endLine + 1, reason: s.reason })))}}`);
    }
    if (json && !many) out("\n");
    await io.drain?.();
    if (!json) io.err(terminalSafe(`${file}: ${parser.kind}: ${count} record${count === 1 ? "" : "s"}, ${skippedLines} line${skippedLines === 1 ? "" : "s"} skipped\n`));
  }
  if (many) out("\n]\n");
  await io.drain?.();
  return status;
}

export function explain(c: Extract<Command, { cmd: "explain" }>, io: CliIo): Promise<number> {
  // Each file is read twice (below): piped-in evidence is kept in a temporary file for the second pass.
  return withInputs(io, true, (inputs) => explainInputs(inputs, c, io));
}

async function explainInputs(inputs: Inputs, c: Extract<Command, { cmd: "explain" }>, io: CliIo): Promise<number> {
  const { json, files: list } = c;
  let history: EvidenceRecord[] = [];
  if (c.trace !== undefined) {
    const t = await importFile(inputs, c.trace, io, "ftrace");
    if (t === undefined) {
      io.err("passthrough explain: --trace needs a readable ftrace file\n");
      return 2;
    }
    history = t.records;
  }
  let status = 0;
  const out = json ? (s: string) => io.out(s) : (s: string) => io.out(terminalSafe(s));
  // Two passes over each file, both streamed (memory bounded whatever its size): the first
  // gathers what explanations cite from elsewhere in the log (groups, RMRRs, other faults of a
  // device, boot state) and the configuration that ranks the causes; the second explains each
  // record as it is decoded and writes it. All first passes run before any second one, so a
  // fault is ranked with every file's configuration (lspci, the VM's XML), as the extension
  // ranks it with the user's other imports (rankingContext, one function for both).
  const firsts: { arg: string; file: string; around: ExplainContext; kind: EvidenceKind | undefined; own: EvidenceRecord[]; config: EvidenceRecord[]; utf16: string | undefined }[] = [];
  for (const arg of list) {
    if (io.closed) break;
    const file = inputName(arg);
    const around = new ExplainContext();
    let utf16: string | undefined;
    // An ftrace file without --trace is its own map/unmap history (kept: it is what the faults are compared with).
    const own: EvidenceRecord[] = [];
    const config: EvidenceRecord[] = [];
    const first = new EvidenceReader({
      kind: c.kind,
      fast: FAST,
      keep: false,
      onRecords: (records, sk) => {
        for (const r of records) {
          around.add(r);
          if (first.kind === "ftrace" && !history.length) own.push(r);
          if (ranksCauses(r)) config.push(r);
        }
        for (const x of sk) if (utf16 === undefined && /UTF-16/.test(x.reason)) utf16 = x.reason;
      },
    });
    if (!(await streamFile(inputs, arg, first, io))) {
      status = 2;
      continue;
    }
    firsts.push({ arg, file, around, kind: first.end().kind, own, config, utf16 });
  }
  for (const [k, { arg, file, around, kind, own, utf16 }] of firsts.entries()) {
    if (io.closed) break;
    const ownRecords = around.records;
    // The other files' configuration, after the file's own records (their indices stay).
    for (const r of rankingContext(firsts.filter((_x, j) => j !== k).map((x) => x.config))) around.add(r);
    const hist = history.length ? history : own;
    const boot = around.bootExplanation();
    let bootDone = boot === undefined;
    let index = 0;
    let explained = 0;
    const emit = (e: Explanation, line: number) => {
      explained++;
      if (json) {
        out(`${explained > 1 ? "," : ""}\n    ${JSON.stringify({ ...e, line: line + 1 }, null, 2).replace(/\n/g, "\n    ")}`);
        return;
      }
      out(`${file}:${line + 1}: ${e.title}\n  ${e.meaning}\n`);
      if (e.evidence.length) out(`  Evidence:\n${e.evidence.map((x) => `    - ${x}`).join("\n")}\n`);
      if (e.causes.length) out(`  Likely causes, most likely first:\n${e.causes.map((x, k) => `    ${k + 1}. ${x}`).join("\n")}\n`);
      if (e.checks.length) out(`  Check next:\n${e.checks.map((x) => `    - ${x}`).join("\n")}\n`);
      out("\n");
    };
    if (json) out(`{\n  "file": ${JSON.stringify(file)},\n  "explanations": [`);
    const second = new EvidenceReader({
      kind,
      fast: FAST,
      keep: false,
      onRecords: (records) => pending.add(records),
    });
    const pending = new Pending(io, (r) => {
      const i = index++;
      const e = explainRecord(r, i, hist, around);
      if (!e) return;
      // The boot state's answer goes before the first explanation of a later record.
      if (!bootDone && e.record > boot!.record) {
        emit(boot!, around.bootLine()!);
        bootDone = true;
      }
      emit(e, r.line);
    });
    if (!(await streamFile(inputs, arg, second, io, pending.pump))) {
      status = 2;
      continue;
    }
    if (io.closed) break;
    second.end();
    await pending.pump();
    if (!bootDone) emit(boot!, around.bootLine()!);
    if (json) out(`${explained ? "\n  " : ""}]\n}\n`);
    else if (explained === 0) out(`${file}: nothing to explain (${ownRecords} records, none a fault or a refusal)${utf16 !== undefined ? ` (${utf16})` : ""}\n`);
    await io.drain?.();
  }
  await io.drain?.();
  return status;
}

/** `passthrough synthesize FILE...`: one scenario from all the evidence files together, to stdout. */
export function synthesize(c: Extract<Command, { cmd: "synthesize" }>, io: CliIo): Promise<number> {
  return withInputs(io, false, (inputs) => synthesizeInputs(inputs, c, io));
}

async function synthesizeInputs(inputs: Inputs, c: Extract<Command, { cmd: "synthesize" }>, io: CliIo): Promise<number> {
  const list = c.files;
  const records: EvidenceRecord[] = [];
  for (const file of list) {
    const r = await importFile(inputs, file, io);
    if (r === undefined) return 2;
    // A loop, not push(...): 130 000 records as arguments overflow the stack.
    for (const rec of r.records) records.push(rec);
  }
  // A debugfs dump of several DMAR units: the scenario has all of them (host.iommus), or the one --unit picks.
  const units = hostTableUnits(records);
  if (c.unit !== undefined && !units.some((u) => u.name === c.unit)) {
    io.err(terminalSafe(units.length ? `passthrough synthesize: --unit ${c.unit}: the dumps have no DMAR unit of that name with tables (units: ${units.map((u) => u.name).join(", ")})\n` : `passthrough synthesize: --unit ${c.unit}: the evidence has no debugfs table dump (dmar_translation_struct) to pick a DMAR unit from\n`));
    return 2;
  }
  const r = synthesizeScenario(records, `Reproduced from ${list.map((f) => inputName(f).split("/").pop()).join(", ")}${c.unit !== undefined ? `: ${c.unit}` : ""}`, c.unit !== undefined ? { unit: c.unit } : {});
  if (c.unit === undefined && units.length > 1) io.err(`${units.length} DMAR units hold tables (${units.map((u) => u.name).join(", ")}); the scenario has every unit's (host.iommus): --unit NAME for one\n`);
  // A scenario file (YAML, its strings quoted by the synthesizer), meant to be redirected: written as it is.
  io.out(r.text);
  await io.drain?.();
  io.err(`${r.reproduced.length} fault${r.reproduced.length === 1 ? "" : "s"} reproduced as dma steps; ${r.notes.length} record${r.notes.length === 1 ? "" : "s"} only noted\n`);
  return 0;
}
