/**
 * Tracks open scenario documents: sends their text to the engine (debounced on edits, a newer
 * edit cancelling a stale run through the document's cancellation slot), keeps the SessionState
 * each view shows (runs.ts decides when a run may show: never one of a transient text), knows
 * which scenario is active, and owns the shared cursor.
 */
import * as vscode from "vscode";
import type { SessionState } from "../protocol/engine.js";
import { EngineRequestError, type EngineClient } from "./engineClient.js";
import { RebuildGate, RunScheduler, describeRun, systemClock, type Clock, type ShownRun } from "./runs.js";
import { SETTINGS, readSetting } from "./settings.js";

/** The extension's settings section, read afresh (a changed setting applies to the next run). */
const config = () => vscode.workspace.getConfiguration("passthrough");

/** A run still going after this long shows a cancellable progress notification. */

export const LANGUAGE_ID = "passthrough";

export function isScenario(doc: vscode.TextDocument): boolean {
  return doc.languageId === LANGUAGE_ID || /\.passthrough\.ya?ml$/.test(doc.uri.path);
}

export interface StateChange {
  uri: string;
  state: SessionState;
  /** "run": a new run (or diagnostics); "cursor": only the cursor moved. */
  kind: "run" | "cursor";
}

export class ScenarioManager implements vscode.Disposable {
  private readonly docs = new Map<string, vscode.TextDocument>();
  private readonly runs: RunScheduler;
  private readonly changed = new vscode.EventEmitter<StateChange>();
  readonly onDidChange = this.changed.event;
  private readonly runningChanged = new vscode.EventEmitter<string>();
  /** A document's run started, or its state was published (the status bar's spinner). */
  readonly onDidChangeRunning = this.runningChanged.event;
  private readonly activeChanged = new vscode.EventEmitter<string | undefined>();
  private readonly closed = new vscode.EventEmitter<string>();
  /** A tracked scenario's document was closed (its panels say so). */
  readonly onDidClose = this.closed.event;
  readonly onDidChangeActive = this.activeChanged.event;
  private activeUri?: string;
  private readonly subs: vscode.Disposable[] = [];
  /** Session-bound requests (trace pages, debugger steps) wait here while a restarted worker's sessions are rebuilt. */
  readonly gate: RebuildGate;

  constructor(
    private readonly client: EngineClient,
    private readonly log: vscode.LogOutputChannel,
    clock: Clock = systemClock,
  ) {
    this.gate = new RebuildGate(() => client.restarts);
    this.runs = new RunScheduler(
      {
        update: (uri, version, text, cancellable) => {
          // The user's limit (MiB) when it is below the engine's own (trace/budget.ts): a run that needs more stops with an error on its step.
          const limit = readSetting(config(), "memoryLimit");
          const memoryLimit = limit < SETTINGS.memoryLimit.default ? { memoryLimit: limit * 2 ** 20 } : {};
          return client.request("update", cancellable ? { uri, version, text, slot: client.slotFor(uri), ...memoryLimit } : { uri, version, text, ...memoryLimit });
        },
        setCursor: (uri, step) => client.request("setCursor", { uri, step }),
        markNewest: (uri, version) => client.markNewest(uri, version),
        isSuperseded: (e) => e instanceof EngineRequestError && (e.code === "cancelled" || e.code === "restarted"),
      },
      {
        publish: (uri, state, kind) => this.changed.fire({ uri, state, kind }),
        running: (uri) => this.runningChanged.fire(uri),
        log: (m) => this.log.error(m),
        mark: (uri, what) => this.mark(uri, what),
      },
      { delay: () => readSetting(config(), "rerunDelay"), settle: () => readSetting(config(), "settleDelay") },
      clock,
    );
    this.subs.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.track(d)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.docs.has(e.document.uri.toString()) && e.contentChanges.length) this.runs.edited(e.document.uri.toString());
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.untrack(d)),
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e && isScenario(e.document)) this.setActive(e.document.uri.toString());
      }),
    );
    this.subs.push(this.onDidChangeRunning((uri) => this.watchLongRun(uri, clock)));
    for (const d of vscode.workspace.textDocuments) this.track(d);
    const ed = vscode.window.activeTextEditor;
    if (ed && isScenario(ed.document)) this.setActive(ed.document.uri.toString());
  }

  /** Per document: the timer before its long run's notification, or "shown" while the notification is up. */
  private readonly longRuns = new Map<string, unknown>();

  /**
   * A run that takes longer than passthrough.progressDelay (default 1.5 s; 10 million DMA
   * transactions can take seconds) gets a progress notification until it ends; its Cancel stops the
   * run in the worker (RunScheduler.cancel).
   */
  private watchLongRun(uri: string, clock: Clock): void {
    const pending = this.longRuns.get(uri);
    if (!this.runs.running.has(uri)) {
      if (pending !== undefined && pending !== "shown") {
        clock.clearTimeout(pending);
        this.longRuns.delete(uri);
      }
      return;
    }
    if (pending !== undefined) return;
    this.longRuns.set(uri, clock.setTimeout(() => {
      if (!this.runs.running.has(uri)) {
        this.longRuns.delete(uri);
        return;
      }
      this.longRuns.set(uri, "shown");
      const name = vscode.workspace.asRelativePath(vscode.Uri.parse(uri));
      void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t("Running {0}", name), cancellable: true }, (_progress, token) =>
        new Promise<void>((done) => {
          const subs: vscode.Disposable[] = [];
          const end = () => {
            for (const s of subs) s.dispose();
            this.longRuns.delete(uri);
            done();
          };
          subs.push(
            this.onDidChangeRunning((u) => {
              if (u === uri && !this.runs.running.has(uri)) end();
            }),
            this.onDidClose((u) => {
              if (u === uri) end();
            }),
            token.onCancellationRequested(() => {
              end();
              if (!this.runs.cancel(uri)) return;
              this.log.info(`run of ${uri} cancelled`);
              const shown = this.runs.shownRun(uri);
              void vscode.window.showInformationMessage(
                shown
                  ? vscode.l10n.t("The run of {0} was cancelled; the views keep the {1}. Edit the scenario or run Re-run Scenario to run it again.", name, describeRun(shown))
                  : vscode.l10n.t("The run of {0} was cancelled; nothing is shown for it. Edit the scenario or run Re-run Scenario to run it again.", name),
              );
            }),
          );
        }),
      );
    }, readSetting(config(), "progressDelay")));
  }

  /** The state each view reads, per document (the outcome of a settled text, or the last good run marked stale). */
  get states(): ReadonlyMap<string, SessionState> {
    return this.runs.states;
  }

  /** Documents with a run in flight, or a run waiting for the text to settle. */
  get running(): ReadonlySet<string> {
    return this.runs.running;
  }

  /** The last good run shown for a document: what a stale view names ("run of version 12, 14:02:11"). */
  shownRun(uri: string): ShownRun | undefined {
    return this.runs.shownRun(uri);
  }

  /** How a stale view describes what it shows, e.g. "showing the run of version 12, 14:02:11, before your current edit". */
  staleLabel(uri: string): string {
    const run = this.runs.shownRun(uri);
    return run ? vscode.l10n.t("showing the {0}, before your current edit", describeRun(run)) : vscode.l10n.t("showing the last good run");
  }

  get active(): string | undefined {
    if (this.activeUri && this.docs.has(this.activeUri)) return this.activeUri;
    return undefined;
  }

  get activeState(): SessionState | undefined {
    const a = this.active;
    return a ? this.states.get(a) : undefined;
  }

  document(uri: string): vscode.TextDocument | undefined {
    return this.docs.get(uri);
  }

  private setActive(uri: string | undefined): void {
    if (this.activeUri === uri) return;
    this.activeUri = uri;
    this.activeChanged.fire(uri);
  }

  track(doc: vscode.TextDocument): void {
    if (!isScenario(doc) || doc.uri.scheme === "git") return;
    const uri = doc.uri.toString();
    this.docs.set(uri, doc);
    if (!this.activeUri) this.setActive(uri);
    this.runs.track(uri, doc);
  }

  private untrack(doc: vscode.TextDocument): void {
    const uri = doc.uri.toString();
    if (!this.docs.delete(uri)) return;
    this.moves.delete(uri);
    this.runs.untrack(uri);
    this.closed.fire(uri);
    if (this.client.running) void this.client.request("close", { uri }).catch(() => undefined);
    if (this.activeUri === uri) this.setActive([...this.docs.keys()][0]);
  }

  /** Timings of the last run per document (performance.now() ms), for the log and benchmarks. */
  readonly timings = new Map<string, { scheduledAt: number; sentAt: number; answeredAt: number; publishedAt: number; diagnosticsAt: number }>();

  private mark(uri: string, what: "scheduled" | "sent" | "answered" | "published"): void {
    const now = performance.now();
    if (what === "scheduled") this.timings.set(uri, { scheduledAt: now, sentAt: 0, answeredAt: 0, publishedAt: 0, diagnosticsAt: 0 });
    const t = this.timings.get(uri);
    if (t && what !== "scheduled") t[`${what}At`] = now;
  }

  /** Sends the document's current text now and resolves with its state (undefined if superseded). */
  send(doc: vscode.TextDocument): Promise<SessionState | undefined> {
    const uri = doc.uri.toString();
    if (!this.runs.has(uri)) this.track(doc);
    return this.runs.send(uri);
  }

  /** Re-runs now (the Re-run command), resolving when the state is back. */
  rerun(uri: string): Promise<SessionState | undefined> {
    return this.runs.has(uri) ? this.runs.send(uri) : Promise.resolve(undefined);
  }

  setCursor(uri: string, step: number): Promise<SessionState | undefined> {
    this.moves.set(uri, this.cursorMoves(uri) + 1);
    return this.runs.setCursor(uri, step);
  }

  private readonly moves = new Map<string, number>();

  /** How many times `uri`'s cursor has been moved through setCursor (the caret follower compares). */
  cursorMoves(uri: string): number {
    return this.moves.get(uri) ?? 0;
  }

  /** After a worker restart: every session is rebuilt from its document and its cursor restored; then the gate opens. */
  async rebuild(): Promise<void> {
    const n = this.client.restarts;
    try {
      await this.runs.rebuild();
    } finally {
      this.gate.rebuilt(n);
    }
  }

  /** The supervisor gave up rebuilding (a crash loop): requests waiting for a rebuild go on (and fail with their own error). */
  abandonRebuild(): void {
    this.gate.rebuilt(this.client.restarts);
  }

  dispose(): void {
    this.runs.dispose();
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
    this.runningChanged.dispose();
    this.activeChanged.dispose();
    this.closed.dispose();
  }
}
