/**
 * `passthrough decode FILE...` and `passthrough explain FILE... [--trace FTRACE]`: real evidence
 * (kernel logs, group listings, ftrace) decoded record by record, and each fault explained.
 */
import { isAscii } from "node:buffer";
import { createReadStream } from "node:fs";
import { explainRecords, synthesizeScenario, type EvidenceKind, type EvidenceRecord, type Skipped } from "../import/index.js";
import { EvidenceReader, mergeSkipped, type AsciiFastPath, type DecodedEvidence } from "../import/decode.js";
import { configToJson, recordToJson } from "../import/json.js";
import type { Command } from "./args.js";

/** Node's Buffer helpers for the decoder's ASCII fast path. */
const FAST: AsciiFastPath = { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") };

/**
 * Streams a file's bytes into an EvidenceReader (a 100 MB log is never one string): the same
 * decoding (UTF-8, UTF-16LE/BE) and parsing as the extension's file, clipboard and editor imports.
 */
async function streamFile(file: string, reader: EvidenceReader, beforeError?: () => void): Promise<boolean> {
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) reader.pushBytes(chunk);
    return true;
  } catch (e) {
    beforeError?.();
    process.stderr.write(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
    return false;
  }
}

/** A whole file's records, parsed as it streams in (explain and synthesize keep the records, not the text). */
async function importFile(file: string, kind?: EvidenceKind): Promise<DecodedEvidence | undefined> {
  const reader = new EvidenceReader({ kind, fast: FAST });
  if (!(await streamFile(file, reader))) return undefined;
  return reader.end();
}

const CONFIG_KINDS = new Set(["groups", "lspci", "libvirt", "qemu"]);

export async function decode(c: Extract<Command, { cmd: "decode" }>): Promise<number> {
  const { json, files: list } = c;
  let status = 0;
  // Output is batched (a 100 MB log has tens of thousands of records: one write each was a
  // noticeable part of the time) and flushed before anything goes to stderr, so the two
  // streams interleave as before.
  let batch: string[] = [];
  let batched = 0;
  const flush = () => {
    if (batch.length) process.stdout.write(batch.join(""));
    batch = [];
    batched = 0;
  };
  const out = (s: string) => {
    batch.push(s);
    batched += s.length;
    if (batched >= 1 << 16) flush();
  };
  if (json && list.length > 1) out("[\n");
  for (const [fi, file] of list.entries()) {
    const kind = c.kind;
    let count = 0;
    let skippedLines = 0;
    const skipped: Skipped[] = [];
    const configRecords: EvidenceRecord[] = [];
    let first = true;
    const reader: EvidenceReader = new EvidenceReader({
      kind,
      fast: FAST,
      keep: false,
      onRecords: (records, sk) => {
        skipped.push(...sk);
        for (const s of sk) skippedLines += s.endLine - s.line + 1;
        if (reader.kind && CONFIG_KINDS.has(reader.kind)) {
          configRecords.push(...records);
          return;
        }
        for (const rec of records) {
          count++;
          if (json) {
            if (first) out(`{"file":${JSON.stringify(file)},"records":[\n`);
            out(`${first ? "" : ",\n"}${JSON.stringify(recordToJson(rec, file))}`);
            first = false;
          } else {
            out(`${file}:${rec.line + 1}:${rec.column + 1}: ${rec.kind}: ${rec.summary}\n`);
            for (const c of rec.context) out(`    ${file}:${c.line + 1}: ${c.text}\n`);
          }
        }
      },
    });
    const ok = await streamFile(file, reader, flush);
    if (!ok) {
      status = 2;
      continue;
    }
    const parser = reader.end();
    const sep = fi < list.length - 1 ? ",\n" : "\n";
    if (parser.kind && CONFIG_KINDS.has(parser.kind)) {
      if (json) out(JSON.stringify(configToJson(configRecords, mergeSkipped(skipped), file)) + (list.length > 1 ? sep : "\n"));
      else for (const rec of configRecords) out(`${file}:${rec.line + 1}: ${rec.kind}: ${rec.summary}\n`);
      count = configRecords.length;
    } else if (json) {
      if (first) out(`{"file":${JSON.stringify(file)},"records":[\n`);
      out(`\n],"skipped":${JSON.stringify(mergeSkipped(skipped).map((s) => ({ line: s.line + 1, endLine: s.endLine + 1, reason: s.reason })))}}${list.length > 1 ? sep : "\n"}`);
    }
    flush();
    if (!json) process.stderr.write(`${file}: ${parser.kind}: ${count} record${count === 1 ? "" : "s"}, ${skippedLines} line${skippedLines === 1 ? "" : "s"} skipped\n`);
  }
  if (json && list.length > 1) out("]\n");
  flush();
  return status;
}

export async function explain(c: Extract<Command, { cmd: "explain" }>): Promise<number> {
  const { json, files: list } = c;
  let history: EvidenceRecord[] = [];
  if (c.trace !== undefined) {
    const t = await importFile(c.trace, "ftrace");
    if (t === undefined) {
      process.stderr.write("passthrough explain: --trace needs a readable ftrace file\n");
      return 2;
    }
    history = t.records;
  }
  let status = 0;
  for (const file of list) {
    const r = await importFile(file, c.kind);
    if (r === undefined) {
      status = 2;
      continue;
    }
    const ex = explainRecords(r.records, history.length ? history : r.kind === "ftrace" ? r.records : []);
    if (json) {
      process.stdout.write(JSON.stringify({ file, explanations: ex.map((e) => ({ ...e, line: r.records[e.record]!.line + 1 })) }, null, 2) + "\n");
      continue;
    }
    for (const e of ex) {
      const rec = r.records[e.record]!;
      process.stdout.write(`${file}:${rec.line + 1}: ${e.title}\n  ${e.meaning}\n`);
      if (e.evidence.length) process.stdout.write(`  Evidence:\n${e.evidence.map((x) => `    - ${x}`).join("\n")}\n`);
      if (e.causes.length) process.stdout.write(`  Likely causes, most likely first:\n${e.causes.map((x, k) => `    ${k + 1}. ${x}`).join("\n")}\n`);
      if (e.checks.length) process.stdout.write(`  Check next:\n${e.checks.map((x) => `    - ${x}`).join("\n")}\n`);
      process.stdout.write("\n");
    }
    if (ex.length === 0) process.stdout.write(`${file}: nothing to explain (${r.records.length} records, none a fault or a refusal)${r.skipped.some((s) => /UTF-16/.test(s.reason)) ? ` (${r.skipped[0]!.reason})` : ""}\n`);
  }
  return status;
}

/** `passthrough synthesize FILE...`: one scenario from all the evidence files together, to stdout. */
export async function synthesize(c: Extract<Command, { cmd: "synthesize" }>): Promise<number> {
  const list = c.files;
  const records: EvidenceRecord[] = [];
  for (const file of list) {
    const r = await importFile(file);
    if (r === undefined) return 2;
    // A loop, not push(...): 130 000 records as arguments overflow the stack.
    for (const rec of r.records) records.push(rec);
  }
  const r = synthesizeScenario(records, `Reproduced from ${list.map((f) => f.split("/").pop()).join(", ")}`);
  process.stdout.write(r.text);
  process.stderr.write(`${r.reproduced.length} fault${r.reproduced.length === 1 ? "" : "s"} reproduced as dma steps; ${r.notes.length} record${r.notes.length === 1 ? "" : "s"} only noted\n`);
  return 0;
}
