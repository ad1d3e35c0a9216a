/**
 * Records a log holds besides faults and VFIO messages, found by their own line rules and added to
 * the log parser's result: the IOMMU boot state (bootState.ts) and device reset/power/AER/ROM
 * events (deviceEvents.ts). Kept apart from dmesg.ts's keyword scan, which selects fault lines.
 */
import { parseBootState } from "./bootState.js";
import { parseDeviceEvents } from "./deviceEvents.js";
import { parseDebugfs } from "./debugfs.js";
import type { EvidenceRecord, Skipped } from "./records.js";

/** Adds the supplemental records of `text` to a log's import result: sorted in, their lines no longer skipped. */
export function withSupplementalRecords<T extends { records: EvidenceRecord[]; skipped: Skipped[] }>(r: T, text: string): T {
  const lines = text.split("\n");
  const extra = [...parseBootState(lines), ...parseDeviceEvents(lines), ...parseDebugfs(lines)];
  if (!extra.length) return r;
  const taken = new Set(r.records.map((x) => x.line));
  const add = extra.filter((b) => !taken.has(b.line));
  if (!add.length) return r;
  // A wrapped row's record covers its continuation lines too (debugfs.ts rejoin).
  const used = new Set<number>();
  for (const b of add) for (let l = b.line; l <= b.endLine; l++) used.add(l);
  const skipped: Skipped[] = [];
  for (const s of r.skipped) {
    let start = s.line;
    for (let l = s.line; l <= s.endLine + 1; l++) {
      if (l <= s.endLine && !used.has(l)) continue;
      if (l > start) skipped.push({ ...s, line: start, endLine: l - 1 });
      start = l + 1;
    }
  }
  return { ...r, records: [...r.records, ...add].sort((a, b) => a.line - b.line), skipped };
}
