/**
 * What one row of the DMA Trace shows: the text of each cell, from a trace event's columns. The
 * ONE rendering of a row: the webview draws these strings and the engine's free-text search
 * (TraceQuery.match) matches against the same strings, so a word a row shows always finds it.
 * Pure: no DOM, no vscode, no Node built-ins (it runs in the webview and in the worker).
 */
import { shortReasons } from "../sim/vtd/reasons.js";
import { EVENT_KIND_NAMES, EventKind, F_IOTLB_HIT, F_WRITE, LEVEL_DEVICE_TLB } from "./trace.js";

/** The column headers, in cell order. */
export const TRACE_COLUMNS = ["#", "step", "device", "VM", "PASID", "R/W", "IOVA → HPA", "result", "domain"] as const;

/** One event's fields, as the trace's columns (and a page's columns) hold them. */
export interface RowFields {
  index: number;
  /** Workload step, 0-based (shown 1-based). */
  step: number;
  kind: number;
  flags: number;
  level: number;
  reason: number;
  sid: number;
  did: number;
  aLo: number;
  aHi: number;
  bLo: number;
  bHi: number;
  /** The request's PASID, -1 without (a page's `pasid` column; engine/traceTags.ts). */
  pasid: number;
  /** A host mapping QEMU made for a guest vIOMMU: the step whose guest action wrote the entry, -1 for none. */
  cause: number;
}

/** The columns rows are read from, by field name: a Trace's own, or a page of them (the webview's, which adds pasid and cause). */
export type RowColumns = Readonly<Record<Exclude<keyof RowFields, "index" | "pasid" | "cause">, ArrayLike<number>>> & { readonly pasid?: ArrayLike<number>; readonly cause?: ArrayLike<number> };

/** Reads row `k` of `cols` (event number `index`) into `out`, which is returned: no allocation per row. */
export function readRow(cols: RowColumns, k: number, index: number, out: RowFields): RowFields {
  out.index = index;
  out.step = cols.step[k]!;
  out.kind = cols.kind[k]!;
  out.flags = cols.flags[k]!;
  out.level = cols.level[k]!;
  out.reason = cols.reason[k]!;
  out.sid = cols.sid[k]!;
  out.did = cols.did[k]!;
  out.aLo = cols.aLo[k]!;
  out.aHi = cols.aHi[k]!;
  out.bLo = cols.bLo[k]!;
  out.bHi = cols.bHi[k]!;
  out.pasid = cols.pasid?.[k] ?? -1;
  out.cause = cols.cause?.[k] ?? -1;
  return out;
}

/** A requester id's device as the trace shows it (TraceInfo.devices). */
export interface RowDevice {
  key: string;
  name: string;
  vm?: string;
}

export type Radix = "hex" | "dec";

/**
 * Short VT-d fault reason labels for the result column: the short-label column of reasons.ts's
 * one table of reason names (the full Linux strings and explanations are there too).
 */
export const SHORT_REASONS: Readonly<Record<number, string>> = shortReasons();

/** The result column's colour class of a row. */
export type RowClass = "r-fault" | "r-hit" | "r-walk" | "r-irq" | "r-slow";

/** A 64-bit address from two 32-bit halves, in the radix the user chose. */
export function formatAddress(hi: number, lo: number, radix: Radix): string {
  hi >>>= 0;
  lo >>>= 0;
  // Below 2^53 a double is exact: no BigInt (two per row, on every refill).
  if (hi < 0x200000) {
    const v = hi * 0x100000000 + lo;
    return radix === "hex" ? `0x${v.toString(16)}` : v.toString(10);
  }
  const v = (BigInt(hi) << 32n) | BigInt(lo);
  return radix === "hex" ? `0x${v.toString(16)}` : v.toString(10);
}

/** The result cell and its class. */
export function rowResult(r: Pick<RowFields, "kind" | "flags" | "reason" | "level"> & { cause?: number }, names: Readonly<Record<number, string>> = SHORT_REASONS): { text: string; cls: RowClass } {
  const kind: EventKind = r.kind;
  if (kind === EventKind.Dma && r.reason !== 0) return { text: `fault 0x${r.reason.toString(16).padStart(2, "0")} ${names[r.reason] ?? ""}`.trimEnd(), cls: "r-fault" };
  // A Translated Request (ATS): the device's Device-TLB answered, the IOMMU walked nothing.
  if (kind === EventKind.Dma && (r.level & LEVEL_DEVICE_TLB) !== 0) return { text: "Device-TLB (ATS)", cls: "r-hit" };
  if (kind === EventKind.Dma) return (r.flags & F_IOTLB_HIT) !== 0 ? { text: "IOTLB hit", cls: "r-hit" } : { text: `walk → L${r.level} leaf`, cls: "r-walk" };
  if (kind === EventKind.Interrupt) return { text: "interrupt", cls: "r-irq" };
  // A VFIO call QEMU made for a guest vIOMMU: the guest step whose action it replays (1-based, as the step column).
  if ((kind === EventKind.Map || kind === EventKind.Unmap) && r.cause !== undefined && r.cause >= 0) return { text: `${EVENT_KIND_NAMES[r.kind] ?? "event"} ← guest step ${r.cause + 1}`, cls: "r-slow" };
  return { text: EVENT_KIND_NAMES[r.kind] ?? "event", cls: "r-slow" };
}

/**
 * The cells of a row, in TRACE_COLUMNS order. `out` (optional) is filled and returned, so the
 * webview's refill allocates no array per row.
 */
/**
 * `names`: the host IOMMU model's short fault names (TraceInfo.reasonNames); VT-d's when absent.
 * `domains`: the names of domains whose number is only the simulator's key (TraceInfo.domainNames:
 * an SMMUv3 nesting parent's "S2 VMID 1"); the number itself for the others.
 */
export function rowCells(r: RowFields, device: RowDevice | undefined, radix: Radix, out: string[] = new Array<string>(TRACE_COLUMNS.length), names: Readonly<Record<number, string>> = SHORT_REASONS, domains?: Readonly<Record<number, string>>): string[] {
  const kind: EventKind = r.kind;
  const isDma = kind === EventKind.Dma || kind === EventKind.Interrupt;
  const shows = isDma || kind === EventKind.Map || kind === EventKind.Unmap || kind === EventKind.Poke;
  // Addresses only where a cell shows them (an invalidation's descriptor words are not shown).
  const a = shows ? formatAddress(r.aHi, r.aLo, radix) : "";
  const b = shows && !(kind === EventKind.Dma && r.reason !== 0) ? formatAddress(r.bHi, r.bLo, radix) : "";
  out[0] = String(r.index);
  out[1] = String(r.step + 1);
  out[2] = isDma ? `${device?.key ?? r.sid.toString(16)}${device?.name ? ` ${device.name}` : ""}` : "";
  out[3] = isDma ? device?.vm ?? "" : "";
  // Linux prints a PASID in hex (drivers/iommu/intel/dmar.c dmar_fault_do_one: "PASID 0x%x").
  out[4] = isDma ? (r.pasid >= 0 ? `0x${r.pasid.toString(16)}` : "—") : "";
  out[5] = isDma ? ((r.flags & F_WRITE) !== 0 ? "W" : "R") : "";
  out[6] = isDma ? (r.reason === 0 ? `${a} → ${b}` : a) : kind === EventKind.Map || kind === EventKind.Unmap ? `${a} +${b}` : kind === EventKind.Poke ? `${a} ← ${b}` : "";
  out[7] = rowResult(r, names).text;
  out[8] = isDma || kind === EventKind.Map || kind === EventKind.Unmap ? domains?.[r.did] ?? String(r.did) : "";
  return out;
}

/** What free-text search matches: the row's cells as shown, lower case, separated by a tab (no match spans two cells). */
export function rowSearchText(cells: readonly string[]): string {
  return cells.join("\t").toLowerCase();
}

/** A search query as rowSearchText compares it: trimmed, lower case. */
export function normalizeSearch(text: string | undefined): string {
  return text?.trim().toLowerCase() ?? "";
}
