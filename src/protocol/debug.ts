/**
 * The debugger's wire types: positions, scan requests (step, continue, breakpoints, exception
 * filters, data watches) and their results, Variables scopes. The debug adapter sends them and
 * engine/debug.ts answers them (protocol/engine.ts debugScan, debugScopes, debugEvaluate).
 */

/** event = -1: at the start of `step` (before it runs); otherwise a trace event of that step. */
export interface DebugPos {
  step: number;
  event: number;
}

export interface LineBreakpoint {
  id: number;
  step: number;
  condition?: string;
  hitCondition?: string;
  logMessage?: string;
}

export interface DataWatch {
  id: string;
  device: string;
  iova: string;
}

export type ExceptionFilter = "fault" | "fault-unsuppressed" | "vfio-errno" | "group-not-viable";

export type DebugAction = "next" | "stepIn" | "stepOut" | "stepBack" | "continue" | "reverseContinue";

export interface ScanRequest {
  from: DebugPos;
  action: DebugAction;
  breakpoints: LineBreakpoint[];
  exceptions: ExceptionFilter[];
  watches: DataWatch[];
  /** Hit counts so far, by breakpoint id (carried by the adapter between requests). */
  hits: Record<number, number>;
}

export interface ScanResult {
  pos: DebugPos;
  reason: "step" | "breakpoint" | "exception" | "data breakpoint" | "entry" | "end";
  description: string;
  text?: string;
  breakpointIds?: number[];
  /** Logpoint output produced on the way. */
  logs: { step: number; text: string }[];
  hits: Record<number, number>;
  /** Problems with conditions, reported once to the console. */
  errors: string[];
}

/** A variable as the engine describes it; the adapter hands out references for `children`. */
export interface VarNode {
  name: string;
  value: string;
  type?: string;
  /** Decimal text of a numeric value, so the adapter can show it in hex or decimal. */
  num?: string;
  children?: VarNode[];
  /** Set on a mapping the user can put a data breakpoint on. */
  dataId?: string;
}

export interface Scope {
  name: string;
  vars: VarNode[];
  expensive?: boolean;
}
