/**
 * Export of the filtered trace as CSV or as one JSON document (an array of row objects), in
 * chunks (the host writes them to a file as they come, with progress and cancellation), so a
 * million rows never become one string. JSON chunks concatenate into the document: the first
 * opens `[`, each row after the first is preceded by a comma, the last chunk closes `]`.
 */
import type { Run } from "../sim/run.js";
import { EVENT_KIND_NAMES, F_IOTLB_HIT, F_WRITE, LEVEL_DEVICE_TLB } from "../trace/trace.js";
import { ResultKind, resultOf, type TraceFilter, type TraceQuery } from "./traceQuery.js";

const COLUMNS = ["index", "step", "line", "kind", "device", "vm", "pasid", "domain", "direction", "iova", "hpa", "result", "level", "reason", "cause"] as const;
/**
 * Columns that hold names or words (a device key, a VM name from the scenario...): the ones a
 * spreadsheet could take for a formula. The others are non-negative numbers or 0x addresses.
 */
const TEXT_COLUMNS = new Set<string>(["kind", "device", "vm", "direction", "result", "reason"]);

/** RFC 4180 quoting: a field with a comma, quote or newline is quoted, quotes doubled. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A text field for CSV: one that starts with = + - @ tab or CR gets a leading single quote, so a
 * spreadsheet shows it instead of evaluating it (OWASP, CSV injection); then RFC 4180 quoting.
 * Only for text columns: a number must stay a number.
 */
export function csvText(s: string): string {
  return csvField(/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);
}

export function exportRows(q: TraceQuery, run: Run, filter: TraceFilter, format: "csv" | "json", start: number, count: number, device: (sid: number) => string): { text: string; done: boolean; next: number; matched: number } {
  const list = q.match(filter);
  const t = run.trace;
  const s = Math.max(0, Math.min(start, list.length));
  const end = Math.min(list.length, s + Math.max(1, Math.min(count, 100_000)));
  const done = end >= list.length;
  const vmOf = new Map<string, string>();
  for (const vm of q.scenario.vms) for (const key of vm.devices) vmOf.set(key, vm.name);
  const lines: string[] = [];
  if (s === 0 && format === "csv") lines.push(COLUMNS.join(","));
  for (let k = s; k < end; k++) {
    const i = list[k]!;
    const r = resultOf(t, i);
    const a = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
    const b = (BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!);
    const step = t.step[i]!;
    const dev = device(t.sid[i]!);
    const pasid = q.tags.pasid(i);
    const cause = q.tags.cause(i);
    const row = {
      index: i,
      step: step + 1,
      line: (q.scenario.workload[step]?.range.line ?? 0) + 1,
      kind: EVENT_KIND_NAMES[t.kind[i]!] ?? String(t.kind[i]),
      device: dev,
      vm: vmOf.get(dev) ?? null,
      // The request's PASID (traceTags.ts), null without.
      pasid: pasid >= 0 ? pasid : null,
      // A domain whose number is only the simulator's key by its name (TraceQuery.domainNames: "S2 VMID 1").
      domain: q.domainNames()[t.did[i]!] ?? t.did[i]!,
      direction: t.flags[i]! & F_WRITE ? "write" : "read",
      iova: `0x${a.toString(16)}`,
      hpa: r === ResultKind.Hit || r === ResultKind.Walk ? `0x${b.toString(16)}` : "",
      result: r === ResultKind.Fault ? "fault" : r === ResultKind.Hit ? "iotlb-hit" : r === ResultKind.Walk ? ((t.level[i]! & LEVEL_DEVICE_TLB) !== 0 ? "device-tlb" : "walk") : r === ResultKind.Interrupt ? "interrupt" : (t.flags[i]! & F_IOTLB_HIT ? "hit" : "slow-path"),
      level: t.level[i]! & ~LEVEL_DEVICE_TLB,
      reason: r === ResultKind.Fault ? run.machine.iommu.reason(t.reason[i]!).label : "",
      // A VFIO call QEMU made for a guest vIOMMU: the (1-based) step whose guest action it replays.
      cause: cause >= 0 ? cause + 1 : null,
    };
    if (format === "csv") lines.push(COLUMNS.map((c) => (TEXT_COLUMNS.has(c) ? csvText : csvField)(String(row[c] ?? ""))).join(","));
    else lines.push(`${k === 0 ? "\n" : ",\n"}${JSON.stringify(row)}`);
  }
  if (format === "csv") return { text: lines.length ? `${lines.join("\n")}\n` : "", done, next: end, matched: list.length };
  return { text: `${s === 0 ? "[" : ""}${lines.join("")}${done ? "\n]\n" : ""}`, done, next: end, matched: list.length };
}
