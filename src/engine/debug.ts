/**
 * The debugger's model of a run, in two parts with one job each: execution control (movement,
 * breakpoints, exception filters, data breakpoints: debugControl.ts) and inspection (names,
 * Variables scopes, Debug Console: debugInspect.ts). Pure: the debug adapter asks for these
 * through the engine protocol (server.ts holds one DebugModel per run).
 */
import type { Machine } from "../sim/machine.js";
import type { Run } from "../sim/run.js";
import type { Scenario } from "../scenario/types.js";
import type { Value } from "./expr.js";
import { DebugControl, type ScanRequest, type ScanResult } from "./debugControl.js";
import { DebugInspector, type DebugPos, type Scope, type VarNode } from "./debugInspect.js";

export type { DebugAction, DataWatch, ExceptionFilter, LineBreakpoint, ScanRequest, ScanResult } from "./debugControl.js";
export type { DebugPos, Scope, VarNode } from "./debugInspect.js";

export class DebugModel {
  readonly inspect: DebugInspector;
  readonly control: DebugControl;

  constructor(run: Run, scenario: Scenario, stepLines: [number, number][]) {
    this.inspect = new DebugInspector(run, scenario, stepLines);
    this.control = new DebugControl(this.inspect, run, scenario);
  }

  get steps(): number {
    return this.inspect.steps;
  }
  stepForLine(line: number): number | undefined {
    return this.inspect.stepForLine(line);
  }
  lineOf(step: number): number {
    return this.inspect.lineOf(step);
  }
  machineAt(pos: DebugPos): Machine {
    return this.inspect.machineAt(pos);
  }
  scan(req: ScanRequest): ScanResult {
    return this.control.scan(req);
  }
  names(pos: DebugPos): string[] {
    return this.inspect.names(pos);
  }
  lookup(pos: DebugPos, name: string): Value | null {
    return this.inspect.lookup(pos, name);
  }
  scopes(pos: DebugPos): Scope[] {
    return this.inspect.scopes(pos);
  }
  evaluate(pos: DebugPos, expression: string): { result: string; children?: VarNode[] } | { error: string } {
    return this.inspect.evaluate(pos, expression);
  }
}
