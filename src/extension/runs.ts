/**
 * When a run of an edited scenario reaches the views (no `vscode` import: unit-tested with an
 * injected clock and the real EngineServer).
 *
 * The rule: views show the outcome of a text the user left, never of a keystroke in between.
 * - An edit re-runs after the rerun delay (fast feedback). A run that is no worse than the run on
 *   show (no more faults, failed ioctls/steps, failed expectations or error diagnostics) is
 *   published at once: a comment, a fix, a cursor-neutral edit cost one worker round trip.
 * - A run that brings new problems is not shown: the worker is put back on the shown run, and
 *   the text runs again once it has been unchanged for the settle delay (a newer edit cancels
 *   that). So typing `64KB` over `64KiB` never shows the EINVAL and the fault of the 6- and
 *   64-byte sizes typed on the way, in the status bar, CodeLens, or any tree.
 * - A text that does not parse or validate publishes its diagnostics at once; the views keep the
 *   last *published* run, marked stale. If the worker's last good run is a text that was never
 *   published (it was superseded while held), the published text is run again first, so the
 *   trees, hovers, trace and debugger that query the worker show that same run.
 */
import type { EngineDiagnostic, SessionState, StepSummary } from "../protocol/engine.js";
import { systemClock, type HostClock } from "./clock.js";
import * as l10n from "@vscode/l10n";

/** What a cancelled document's slot holds: no text has this version, so its run stops. */
export const CANCELLED_VERSION = -1;

/** The scheduler's time and timers (injectable for tests). */
export type Clock = Pick<HostClock, "now" | "setTimeout" | "clearTimeout">;
export { systemClock };

/** What the scheduler needs of a document. */
export interface RunDocument {
  readonly version: number;
  getText(): string;
}

/** What the scheduler needs of the engine (the worker client). */
export interface RunEngine {
  /** `cancellable`: the run stops early when a newer version is marked (see `markNewest`). */
  update(uri: string, version: number, text: string, cancellable: boolean): Promise<SessionState>;
  setCursor(uri: string, step: number): Promise<SessionState>;
  /** Tells a run in flight that `version` is now the newest text (it stops if it is older). */
  markNewest(uri: string, version: number): void;
  /** A failure that only means "a newer request took over" (no log, nothing published). */
  isSuperseded(e: unknown): boolean;
}

export interface RunHooks {
  /** A new state for the views ("run": a run or diagnostics; "cursor": only the cursor moved). */
  publish(uri: string, state: SessionState, kind: "run" | "cursor"): void;
  /** The document's running flag changed. */
  running(uri: string): void;
  log(message: string): void;
  /** Timestamps for benchmarks (optional). */
  mark?(uri: string, what: "scheduled" | "sent" | "answered" | "published"): void;
}

export interface RunSettings {
  /** Milliseconds after an edit before the text is sent to the worker. */
  delay(): number;
  /** Milliseconds a text must stay unchanged before a run with new problems is shown. */
  settle(): number;
}

/** The last run published as good (not stale): what stale views name and fall back to. */
export interface ShownRun {
  version: number;
  /** Clock time it was published. */
  at: number;
  text: string;
  state: SessionState;
}

interface Doc {
  doc: RunDocument;
  timer?: unknown;
  holdTimer?: unknown;
  /** Clock time of the last edit (or of tracking). */
  editedAt: number;
  good?: ShownRun;
}

export class RunScheduler {
  /** The state each view reads, per document. */
  readonly states = new Map<string, SessionState>();
  /** Documents with a run in flight or held (status bar "running"). */
  readonly running = new Set<string>();
  private readonly docs = new Map<string, Doc>();

  constructor(
    private readonly engine: RunEngine,
    private readonly hooks: RunHooks,
    private readonly settings: RunSettings,
    private readonly clock: Clock = systemClock,
  ) {}

  has(uri: string): boolean {
    return this.docs.has(uri);
  }

  /** The last good run published for the document (a stale view shows it and names it). */
  shownRun(uri: string): ShownRun | undefined {
    return this.docs.get(uri)?.good;
  }

  /** Starts tracking a document and runs it at once (an opened text counts as settled). */
  track(uri: string, doc: RunDocument): void {
    const known = this.docs.get(uri);
    if (known) {
      known.doc = doc;
      return;
    }
    // Never edited: settled. (Not reading the settle setting here keeps activation cheap: the
    // first getConfiguration of an extension host consolidates every extension's settings.)
    this.docs.set(uri, { doc, editedAt: -Infinity });
    this.schedule(uri, 0);
  }

  untrack(uri: string): boolean {
    const d = this.docs.get(uri);
    if (!d) return false;
    this.stopTimers(d);
    this.docs.delete(uri);
    this.states.delete(uri);
    this.running.delete(uri);
    return true;
  }

  /**
   * The user stopped the document's run (Cancel on its progress notification): the worker stops it
   * where it polls (its slot no longer names the version it runs: CANCELLED_VERSION), a held run
   * is dropped, and the views keep what they show. The next edit or Re-run runs the text again.
   * False when no run was in flight or held.
   */
  cancel(uri: string): boolean {
    const d = this.docs.get(uri);
    if (!d || !this.running.has(uri)) return false;
    this.stopTimers(d);
    this.engine.markNewest(uri, CANCELLED_VERSION);
    this.setRunning(uri, false);
    return true;
  }

  /** The text changed: re-run after the rerun delay; a held run of older text is dropped. */
  edited(uri: string): void {
    const d = this.docs.get(uri);
    if (!d) return;
    d.editedAt = this.clock.now();
    this.schedule(uri, this.settings.delay());
  }

  private schedule(uri: string, delayMs: number): void {
    const d = this.docs.get(uri)!;
    this.stopTimers(d);
    this.hooks.mark?.(uri, "scheduled");
    // Tell a run already in the worker that it is stale, before the debounce even ends.
    this.engine.markNewest(uri, d.doc.version);
    d.timer = this.clock.setTimeout(() => void this.send(uri, false), delayMs);
  }

  private stopTimers(d: Doc): void {
    if (d.timer !== undefined) this.clock.clearTimeout(d.timer);
    if (d.holdTimer !== undefined) this.clock.clearTimeout(d.holdTimer);
    d.timer = d.holdTimer = undefined;
  }

  private isCurrent(uri: string, d: Doc, version: number): boolean {
    return this.docs.get(uri) === d && d.doc.version === version;
  }

  /**
   * Sends the document's current text and resolves with the state published for it (undefined
   * if a newer edit superseded it, or, for an edit's run, while it waits to settle).
   * `settled`: the caller asked for this run (Re-run, the debugger, a restart), so it shows at once.
   * `cursor`: the step the cursor goes back to before the run is published (a rebuild after a
   * worker restart: the views never see the fresh session's cursor in between).
   */
  async send(uri: string, settled = true, cursor?: number): Promise<SessionState | undefined> {
    const d = this.docs.get(uri);
    if (!d) return undefined;
    if (d.timer !== undefined) this.clock.clearTimeout(d.timer);
    d.timer = undefined;
    const version = d.doc.version;
    const text = d.doc.getText();
    this.engine.markNewest(uri, version);
    this.setRunning(uri, true);
    this.hooks.mark?.(uri, "sent");
    try {
      let state = await this.engine.update(uri, version, text, true);
      this.hooks.mark?.(uri, "answered");
      if (!this.isCurrent(uri, d, version)) return undefined; // a newer run is on its way
      const good = d.good;
      const ran = !state.stale && state.runVersion === version;
      if (!ran && good && state.runVersion !== good.version) {
        // The worker fell back to a run that was never shown (superseded before it settled), or
        // to none (a restarted worker given broken text): put the shown run back in the worker,
        // then apply the current text over it again.
        if (!(await this.restore(uri, d, version, good))) return undefined;
        state = await this.engine.update(uri, version, text, true);
        if (!this.isCurrent(uri, d, version)) return undefined;
      }
      const wait = settled || !ran || !good ? 0 : this.settleWait(d, state, good.state);
      if (wait > 0) {
        // New problems from a text that may be a keystroke on the way: the views keep the run on
        // show, and so does the worker (trees, hovers, trace and debugger query it), until the
        // text has stayed unchanged for the settle delay; then it runs again and shows.
        if (!(await this.restore(uri, d, version, good!))) return undefined;
        d.holdTimer = this.clock.setTimeout(() => {
          d.holdTimer = undefined;
          if (this.isCurrent(uri, d, version)) void this.send(uri, true);
        }, wait);
        return undefined;
      }
      if (cursor !== undefined && !state.stale && state.cursor !== cursor) {
        state = await this.engine.setCursor(uri, Math.min(cursor, state.steps.length));
        if (!this.isCurrent(uri, d, version)) return undefined;
      }
      this.publish(uri, d, state, text);
      return state;
    } catch (e) {
      if (this.engine.isSuperseded(e)) return undefined;
      if (this.docs.get(uri) === d) this.setRunning(uri, false);
      this.hooks.log(`running ${uri}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  /** Milliseconds until a run with new problems may show (0: it may show now). */
  private settleWait(d: Doc, state: SessionState, shown: SessionState): number {
    if (!newProblems(state, shown)) return 0;
    return Math.max(0, d.editedAt + this.settings.settle() - this.clock.now());
  }

  /** Runs the shown run's text again in the worker (and puts its cursor back); false if superseded meanwhile. */
  private async restore(uri: string, d: Doc, version: number, good: ShownRun): Promise<boolean> {
    const back = await this.engine.update(uri, good.version, good.text, false);
    if (!this.isCurrent(uri, d, version)) return false;
    const cursor = this.states.get(uri)?.cursor;
    if (cursor !== undefined && cursor !== back.cursor) {
      await this.engine.setCursor(uri, cursor);
      if (!this.isCurrent(uri, d, version)) return false;
    }
    return true;
  }

  private publish(uri: string, d: Doc, state: SessionState, text: string): void {
    if (!state.stale && state.runVersion === state.version) d.good = { version: state.runVersion, at: this.clock.now(), text, state };
    this.states.set(uri, state);
    this.running.delete(uri);
    this.hooks.mark?.(uri, "published");
    this.hooks.publish(uri, state, "run");
    this.hooks.running(uri);
  }

  private setRunning(uri: string, on: boolean): void {
    if (on === this.running.has(uri)) return;
    if (on) this.running.add(uri);
    else this.running.delete(uri);
    this.hooks.running(uri);
  }

  /**
   * After a worker restart: every tracked document runs again from its current text (nothing the
   * user typed is lost: the text lives in the host) and its cursor goes back where it was, before
   * the views hear of the run.
   */
  async rebuild(): Promise<void> {
    const cursors = new Map([...this.states].map(([u, s]) => [u, s.cursor]));
    await Promise.all([...this.docs.keys()].map((uri) => this.send(uri, true, cursors.get(uri))));
  }

  /** Moves the shared cursor. */
  async setCursor(uri: string, step: number): Promise<SessionState | undefined> {
    const d = this.docs.get(uri);
    if (!d) return undefined;
    try {
      const state = await this.engine.setCursor(uri, step);
      if (this.docs.get(uri) !== d) return undefined;
      if (d.good && state.runVersion === d.good.version) d.good.state = state;
      this.states.set(uri, state);
      this.hooks.publish(uri, state, "cursor");
      return state;
    } catch (e) {
      if (!this.engine.isSuperseded(e)) this.hooks.log(`cursor: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  dispose(): void {
    for (const d of this.docs.values()) this.stopTimers(d);
  }
}

/**
 * Between a worker's death and the rebuild of its sessions, a request of a view bound to a session
 * (a trace page, a debugger step) would reach a fresh worker that does not know the scenario
 * ("no-session") or die with the old one ("restarted"). Through the gate such a request waits for
 * the rebuild and is sent again once, so the trace keeps its rows and the debug session its
 * position instead of ending.
 */
export class RebuildGate {
  /** The supervisor's restart count whose sessions are rebuilt (or will not be: it gave up). */
  private through: number;
  private waiters: (() => void)[] = [];

  constructor(private readonly restarts: () => number) {
    this.through = restarts();
  }

  /** A restart's sessions are rebuilt: `n` is the restart count the rebuild started at. */
  rebuilt(n: number): void {
    this.through = Math.max(this.through, n);
    if (this.pending) return;
    const w = this.waiters;
    this.waiters = [];
    for (const ok of w) ok();
  }

  /** The worker died and its sessions are not rebuilt yet. */
  get pending(): boolean {
    return this.restarts() > this.through;
  }

  whenRebuilt(): Promise<void> {
    return this.pending ? new Promise((ok) => this.waiters.push(ok)) : Promise.resolve();
  }

  /** Sends `fn`'s request after any pending rebuild; once more after the next if the worker died under it. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.whenRebuilt();
      const before = this.restarts();
      try {
        return await fn();
      } catch (e) {
        const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
        const lost = code === "restarted" || code === "no-session";
        if (attempt < 2 && lost && (this.restarts() !== before || this.pending)) continue;
        throw e;
      }
    }
  }
}

const errorSteps = (steps: readonly StepSummary[]): number => steps.reduce((n, s) => n + (s.status === "error" ? 1 : 0), 0);
const faultSteps = (steps: readonly StepSummary[]): number => steps.reduce((n, s) => n + (s.status === "fault" ? 1 : 0), 0);
const errors = (ds: readonly EngineDiagnostic[]): number => ds.reduce((n, x) => n + (x.severity === "error" ? 1 : 0), 0);
const warnings = (ds: readonly EngineDiagnostic[]): number => ds.reduce((n, x) => n + (x.severity === "warning" ? 1 : 0), 0);

/** Does `next` show a problem `shown` did not have (more faults, failed steps or expectations, errors)? */
export function newProblems(next: SessionState, shown: SessionState): boolean {
  const a = next.totals;
  const b = shown.totals;
  return (
    a.faults > b.faults ||
    a.failedExpectations > b.failedExpectations ||
    errorSteps(next.steps) > errorSteps(shown.steps) ||
    faultSteps(next.steps) > faultSteps(shown.steps) ||
    errors(next.diagnostics) > errors(shown.diagnostics) ||
    warnings(next.diagnostics) > warnings(shown.diagnostics) ||
    (next.stoppedEarly !== undefined && shown.stoppedEarly === undefined)
  );
}

/** "run of version 12, 14:02:11" — how a stale view names the run it shows. */
export function describeRun(run: Pick<ShownRun, "version" | "at">): string {
  const t = new Date(run.at);
  const hh = (n: number) => String(n).padStart(2, "0");
  return l10n.t("run of version {0}, {1}", run.version, `${hh(t.getHours())}:${hh(t.getMinutes())}:${hh(t.getSeconds())}`);
}
