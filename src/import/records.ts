/**
 * What an importer returns: records, each tied to its source lines, and the lines it skipped
 * with the reason. A line that is not a record never becomes one; context lines (the DRHD
 * status line, "callbacks suppressed", page-walk and DTE dumps) attach to their record.
 */

import type { RecordKind, FieldValue, EvidenceRecord, Skipped, ImportResult } from "../protocol/evidence.js";
export type { RecordKind, FieldValue, EvidenceRecord, Skipped, ImportResult };

export class SkipList {
  readonly items: Skipped[] = [];
  add(line: number, reason: string): void {
    const last = this.items[this.items.length - 1];
    if (last && last.reason === reason && last.endLine === line - 1) last.endLine = line;
    else this.items.push({ line, endLine: line, reason });
  }
}

export const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** "BB:DD.F" from bus/device/function numbers. */
export function bdfText(bus: number, dev: number, fn: number): string {
  return `${bus.toString(16).padStart(2, "0")}:${dev.toString(16).padStart(2, "0")}.${fn}`;
}

/** Parses "0000:01:00.0", "01:00.0", "0x01:0x00.0" into its parts (segment 0 by default). */
export function parseBdf(text: string): { segment: number; bus: number; dev: number; fn: number; key: string } | undefined {
  const m = /^(?:([0-9a-fA-F]{4}):)?(?:0x)?([0-9a-fA-F]{1,2}):(?:0x)?([0-9a-fA-F]{1,2})\.([0-7])$/.exec(text.trim());
  if (!m) return undefined;
  const segment = m[1] ? parseInt(m[1], 16) : 0;
  const bus = parseInt(m[2]!, 16);
  const dev = parseInt(m[3]!, 16);
  const fn = Number(m[4]);
  if (dev > 0x1f) return undefined;
  return { segment, bus, dev, fn, key: `${segment ? `${segment.toString(16).padStart(4, "0")}:` : ""}${bdfText(bus, dev, fn)}` };
}
