/**
 * A Session: one scenario's text -> diagnostics -> run -> trace -> cursor. The query API the UIs
 * (tree views, trace webview, debugger) share; it lives in a worker in the extension (issue 5),
 * and is plain synchronous code here so that the same object serves the CLI and the tests.
 *
 * Edits re-run the scenario and keep the cursor on the same step where that step still exists.
 */
import { IncrementalScenarioParser } from "../scenario/incremental.js";
import type { Diagnostic, Scenario } from "../scenario/types.js";
import type { Machine, StepOutcome } from "../sim/machine.js";
import { runScenario, type Run, type RunOptions } from "../sim/run.js";
import { diffSteps, mapStep, stepKey, type StepShift } from "./stepMap.js";

export interface Cursor {
  /** Workload step the cursor is on (the machine state is the one *before* this step runs). */
  step: number;
}

/** A page of trace rows as columns (each a typed array of `count` entries), ready to transfer. */
export interface RowPage {
  start: number;
  count: number;
  total: number;
  columns: Record<string, ArrayBufferView>;
}

export interface UpdateResult {
  diagnostics: Diagnostic[];
  /** False when the text has errors: the previous run (if any) stays, marked stale. */
  ran: boolean;
  stale: boolean;
  error?: string;
  /** The run was cancelled (a newer text arrived); nothing changed. */
  cancelled?: boolean;
}

export class Session {
  private current?: { scenario: Scenario; run: Run; cut?: { head: string; items: readonly string[] } };
  /** The run before the current one (the trace webview compares against it). */
  previous?: Run;
  /** The text of the current run (ranges point into it). */
  private text = "";
  stale = false;
  cursor: Cursor = { step: 0 };
  diagnostics: Diagnostic[] = [];
  /** How the steps of the previous run map onto the current run's (set by each update that ran). */
  lastShift?: StepShift;

  /** Re-parses only the workload items an edit touched. */
  readonly parser = new IncrementalScenarioParser();

  constructor(readonly file: string) {}

  /**
   * New text: parse, validate, run. A broken text keeps the last good run (stale). `cancelled` is
   * polled between steps and every so many transactions within a step (true stops the run);
   * `progress` is called as often while parsing and running (and while the run later replays a
   * step for a query): the worker's heartbeat.
   */
  update(text: string, cancelled?: () => boolean, progress?: () => void, budget?: { bytes: number; why?: string }): UpdateResult {
    const parsed = this.parser.parse(text, this.file, progress ? { progress } : undefined);
    this.diagnostics = parsed.diagnostics;
    if (parsed.scenario === undefined) {
      this.stale = this.current !== undefined;
      return { diagnostics: parsed.diagnostics, ran: false, stale: this.stale };
    }
    const cut = this.parser.lastCut;
    const opts: RunOptions = {};
    if (cancelled) opts.cancelled = cancelled;
    if (progress) opts.progress = progress;
    if (budget !== undefined) {
      opts.memoryBudget = budget.bytes;
      if (budget.why !== undefined) opts.memoryBudgetWhy = budget.why;
    }
    const same = this.unchangedSteps(cut, parsed.scenario);
    if (same > 0) opts.resume = { run: this.current!.run, steps: same };
    const result = runScenario(parsed.scenario, opts);
    if (result.run === undefined) {
      this.stale = this.current !== undefined;
      return { diagnostics: parsed.diagnostics, ran: false, stale: this.stale, error: result.error };
    }
    if (result.run.stoppedEarly === "cancelled") {
      // A newer text is on its way: keep what is shown, don't publish a partial run.
      return { diagnostics: parsed.diagnostics, ran: false, stale: this.stale, cancelled: true };
    }
    const oldKeys = this.current !== undefined ? this.stepKeys() : undefined;
    this.previous = this.current?.run;
    // Two runs held together stay inside one run's memory budget: the comparison run goes first.
    if (this.previous !== undefined && this.previous.memoryBytes + result.run.memoryBytes > result.run.memoryBudget) this.previous = undefined;
    this.current = { scenario: parsed.scenario, run: result.run, ...(cut ? { cut } : {}) };
    this.text = text;
    this.linesCache = undefined;
    this.keysCache = undefined;
    // The first run has nothing to map from.
    this.lastShift = oldKeys !== undefined ? diffSteps(oldKeys, this.stepKeys()) : undefined;
    this.stale = false;
    this.diagnostics = [...parsed.diagnostics, ...result.run.machine.diagnostics];
    // Keep the cursor on the same step where it still exists (by its text, not its number).
    const step = this.lastShift !== undefined ? mapStep(this.lastShift, this.cursor.step) : this.cursor.step;
    this.cursor = { step: Math.min(step, result.run.outcomes.length) };
    return { diagnostics: this.diagnostics, ran: true, stale: false };
  }

  /**
   * How many leading workload steps the new parse shares with the current run: same head text and
   * same item texts (so the same host, VMs and steps, at the same offsets). Only incremental
   * parses know their items, and only parses where every item is a step count them.
   */
  private unchangedSteps(cut: { head: string; items: readonly string[] } | undefined, scenario: Scenario): number {
    const old = this.current;
    if (cut === undefined || old?.cut === undefined || old.cut.head !== cut.head) return 0;
    if (scenario.workload.length !== cut.items.length || old.scenario.workload.length !== old.cut.items.length) return 0;
    const max = Math.min(cut.items.length, old.cut.items.length);
    let k = 0;
    while (k < max && cut.items[k] === old.cut.items[k]) k++;
    return k;
  }

  /** The text of the shown run (diagnostic and fix offsets point into it). */
  get sourceText(): string {
    return this.text;
  }

  get run(): Run | undefined {
    return this.current?.run;
  }

  /** ArrayBuffer bytes the session's runs hold (the current run and the comparison run). */
  get heldBytes(): number {
    return (this.current?.run.memoryBytes ?? 0) + (this.previous?.memoryBytes ?? 0);
  }

  /** Lets the comparison run go (the DMA Trace's "compare with previous run" then has none), to free its memory. */
  dropComparison(): void {
    this.previous = undefined;
  }

  get scenario(): Scenario | undefined {
    return this.current?.scenario;
  }

  get outcomes(): readonly StepOutcome[] {
    return this.current?.run.outcomes ?? [];
  }

  setCursor(step: number): Cursor {
    const n = this.outcomes.length;
    this.cursor = { step: Math.max(0, Math.min(Math.trunc(step), n)) };
    return this.cursor;
  }

  /** The step whose workload item covers a 0-based source line of the current run's text. */
  stepAtLine(line: number): number | undefined {
    const lines = this.stepLines();
    for (let i = 0; i < lines.length; i++) if (line >= lines[i]![0] && line <= lines[i]![1]) return i;
    return undefined;
  }

  /** First and last 0-based source line of every workload item of the current run. */
  stepLines(): [number, number][] {
    if (this.linesCache !== undefined) return this.linesCache;
    const out: [number, number][] = [];
    for (const s of this.current?.scenario.workload ?? []) {
      let lines = this.stepLineOf.get(s);
      if (lines === undefined) {
        const span = this.text.slice(s.range.start, s.range.end).replace(/\s+$/, "");
        lines = [s.range.line, s.range.line + (span.match(/\n/g)?.length ?? 0)];
        this.stepLineOf.set(s, lines);
      }
      out.push(lines);
    }
    this.linesCache = out;
    return out;
  }
  private linesCache?: [number, number][];
  /**
   * Per step object: its lines and its key. The parser hands out the same step object again only
   * for the same item text at the same offset, so both still hold; an edit then computes them only
   * for the steps it moved or changed.
   */
  private readonly stepLineOf = new WeakMap<object, [number, number]>();
  private readonly stepKeyOf = new WeakMap<object, string>();

  /** The identity of each workload item of the current run (its normalized source text). */
  private stepKeys(): string[] {
    if (this.keysCache !== undefined) return this.keysCache;
    const keys = (this.current?.scenario.workload ?? []).map((s) => {
      let k = this.stepKeyOf.get(s);
      if (k === undefined) this.stepKeyOf.set(s, (k = stepKey(this.text.slice(s.range.start, s.range.end))));
      return k;
    });
    this.keysCache = keys;
    return keys;
  }
  private keysCache?: string[];

  /** The machine before the cursor's step (checkpoint + replay). Valid until the next query. */
  machineAtCursor(): Machine | undefined {
    return this.current?.run.machineBefore(this.cursor.step);
  }

  /** Trace rows [start, start + count) as columns; count is clamped to the trace. */
  rows(start: number, count: number): RowPage {
    const trace = this.current?.run.trace;
    const total = trace?.length ?? 0;
    const s = Math.max(0, Math.min(start, total));
    const c = Math.max(0, Math.min(count, total - s));
    const columns: Record<string, ArrayBufferView> = {};
    if (trace) {
      columns.kind = trace.kind.slice(s, s + c);
      columns.flags = trace.flags.slice(s, s + c);
      columns.level = trace.level.slice(s, s + c);
      columns.reason = trace.reason.slice(s, s + c);
      columns.step = trace.step.slice(s, s + c);
      columns.sid = trace.sid.slice(s, s + c);
      columns.did = trace.did.slice(s, s + c);
      columns.aLo = trace.aLo.slice(s, s + c);
      columns.aHi = trace.aHi.slice(s, s + c);
      columns.bLo = trace.bLo.slice(s, s + c);
      columns.bHi = trace.bHi.slice(s, s + c);
    }
    return { start: s, count: c, total, columns };
  }
}
