/**
 * What an importer returns: records, each tied to its source lines, and the lines it skipped
 * with the reason. A line that is not a record never becomes one; context lines (the DRHD
 * status line, "callbacks suppressed", page-walk and DTE dumps) attach to their record.
 */
import { formatBdf, parseBdf as parseBdfText } from "../sim/bdf.js";

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

/** "BB:DD.F" from bus/device/function numbers (sim/bdf.ts formatBdf). */
export function bdfText(bus: number, dev: number, fn: number): string {
  return formatBdf({ segment: 0, bus, device: dev, fn });
}

/** Parses "0000:01:00.0", "01:00.0", "0x01:0x00.0" into its parts (sim/bdf.ts parseBdf; segment 0 by default). */
export function parseBdf(text: string): { segment: number; bus: number; dev: number; fn: number; key: string } | undefined {
  const p = parseBdfText(text);
  return p.ok ? { segment: p.bdf.segment, bus: p.bdf.bus, dev: p.bdf.device, fn: p.bdf.fn, key: p.key } : undefined;
}
