/**
 * The DMA Trace's query vocabulary on the wire: the filter the webview sends (through the host) and
 * the counts the engine answers with (engine/traceQuery.ts implements them).
 */

/** What the result column can say; the filter's `results` picks among these. */
export const enum ResultKind {
  Hit = 1,
  Walk = 2,
  Fault = 3,
  Interrupt = 4,
  SlowPath = 5,
}

export interface TraceFilter {
  /** Requester ids to keep (empty or absent: all). */
  sids?: number[];
  /** VM names: keeps events of the devices assigned to them. */
  vms?: string[];
  results?: ResultKind[];
  reasons?: number[];
  /** Inclusive IOVA range, hex or decimal text. */
  iovaMin?: string;
  iovaMax?: string;
  /**
   * Free text, case-insensitive, matched against what each row shows (trace/rowDisplay.ts's
   * rowCells: device key and name, VM, R/W, addresses, result, domain...).
   */
  text?: string;
  /** The radix the rows show their addresses in (what `text` is matched against); hex when absent. */
  radix?: "hex" | "dec";
}

export interface TraceSummary {
  total: number;
  matched: number;
  faults: number;
  byResult: Record<number, number>;
  byReason: Record<number, number>;
}
