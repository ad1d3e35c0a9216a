/**
 * Export of the filtered trace as CSV or JSON lines, in chunks (the host writes them to a file as
 * they come, with progress and cancellation), so a million rows never become one string.
 */
import type { Run } from "../sim/run.js";
import { faultLabel } from "../sim/machine.js";
import { EVENT_KIND_NAMES, F_IOTLB_HIT, F_WRITE } from "../trace/trace.js";
import { ResultKind, resultOf, type TraceFilter, type TraceQuery } from "./traceQuery.js";

const COLUMNS = ["index", "step", "line", "kind", "device", "domain", "direction", "iova", "hpa", "result", "level", "reason"];

/** RFC 4180 quoting: a field with a comma, quote or newline is quoted, quotes doubled. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function exportRows(q: TraceQuery, run: Run, filter: TraceFilter, format: "csv" | "json", start: number, count: number, device: (sid: number) => string): { text: string; done: boolean; next: number; matched: number } {
  const list = q.match(filter);
  const t = run.trace;
  const s = Math.max(0, Math.min(start, list.length));
  const end = Math.min(list.length, s + Math.max(1, Math.min(count, 100_000)));
  const lines: string[] = [];
  if (s === 0 && format === "csv") lines.push(COLUMNS.join(","));
  for (let k = s; k < end; k++) {
    const i = list[k]!;
    const r = resultOf(t, i);
    const a = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
    const b = (BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!);
    const step = t.step[i]!;
    const row = {
      index: i,
      step: step + 1,
      line: (q.scenario.workload[step]?.range.line ?? 0) + 1,
      kind: EVENT_KIND_NAMES[t.kind[i]!] ?? String(t.kind[i]),
      device: device(t.sid[i]!),
      domain: t.did[i]!,
      direction: t.flags[i]! & F_WRITE ? "write" : "read",
      iova: `0x${a.toString(16)}`,
      hpa: r === ResultKind.Hit || r === ResultKind.Walk ? `0x${b.toString(16)}` : "",
      result: r === ResultKind.Fault ? "fault" : r === ResultKind.Hit ? "iotlb-hit" : r === ResultKind.Walk ? "walk" : r === ResultKind.Interrupt ? "interrupt" : (t.flags[i]! & F_IOTLB_HIT ? "hit" : "slow-path"),
      level: t.level[i]!,
      reason: r === ResultKind.Fault ? faultLabel(t.reason[i]!) : "",
    };
    lines.push(format === "csv" ? COLUMNS.map((c) => csvField(String(row[c as keyof typeof row]))).join(",") : JSON.stringify(row));
  }
  return { text: lines.length ? `${lines.join("\n")}\n` : "", done: end >= list.length, next: end, matched: list.length };
}
