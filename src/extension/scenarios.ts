/**
 * Tracks open scenario documents: sends their text to the engine (debounced on edits, a newer
 * edit cancelling a stale run through the document's cancellation slot), keeps each one's latest
 * SessionState, knows which scenario is active, and owns the shared cursor.
 */
import * as vscode from "vscode";
import type { SessionState } from "../protocol/engine.js";
import { EngineRequestError, type EngineClient } from "./engineClient.js";

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
  readonly states = new Map<string, SessionState>();
  private readonly docs = new Map<string, vscode.TextDocument>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Documents with an update in flight (status bar "running"). */
  readonly running = new Set<string>();
  private readonly changed = new vscode.EventEmitter<StateChange>();
  readonly onDidChange = this.changed.event;
  private readonly activeChanged = new vscode.EventEmitter<string | undefined>();
  private readonly closed = new vscode.EventEmitter<string>();
  /** A tracked scenario's document was closed (its panels say so). */
  readonly onDidClose = this.closed.event;
  readonly onDidChangeActive = this.activeChanged.event;
  private activeUri?: string;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly client: EngineClient,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.subs.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.track(d)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.docs.has(e.document.uri.toString()) && e.contentChanges.length) this.schedule(e.document, this.delay());
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.untrack(d)),
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e && isScenario(e.document)) this.setActive(e.document.uri.toString());
      }),
    );
    for (const d of vscode.workspace.textDocuments) this.track(d);
    const ed = vscode.window.activeTextEditor;
    if (ed && isScenario(ed.document)) this.setActive(ed.document.uri.toString());
  }

  private delay(): number {
    return vscode.workspace.getConfiguration("passthrough").get<number>("rerunDelay", 20);
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
    this.schedule(doc, 0);
  }

  private untrack(doc: vscode.TextDocument): void {
    const uri = doc.uri.toString();
    if (!this.docs.delete(uri)) return;
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
    this.states.delete(uri);
    this.closed.fire(uri);
    if (this.client.running) void this.client.request("close", { uri }).catch(() => undefined);
    if (this.activeUri === uri) this.setActive([...this.docs.keys()][0]);
  }

  /** Timings of the last run per document (ms): edit -> sent, sent -> answered. For the log and benchmarks. */
  readonly timings = new Map<string, { scheduledAt: number; sentAt: number; answeredAt: number }>();

  /** Re-runs a document after `delayMs` (edits are debounced; the newest version wins). */
  schedule(doc: vscode.TextDocument, delayMs: number): void {
    const uri = doc.uri.toString();
    this.timings.set(uri, { scheduledAt: performance.now(), sentAt: 0, answeredAt: 0 });
    clearTimeout(this.timers.get(uri));
    // Tell a run already in the worker that it is stale, before the debounce even ends.
    Atomics.store(this.client.cancel, this.client.slotFor(uri), doc.version);
    this.timers.set(uri, setTimeout(() => void this.send(doc), delayMs));
  }

  /** Sends the document's current text and resolves with the new state (undefined if superseded). */
  async send(doc: vscode.TextDocument): Promise<SessionState | undefined> {
    const uri = doc.uri.toString();
    this.timers.delete(uri);
    const version = doc.version;
    const slot = this.client.slotFor(uri);
    Atomics.store(this.client.cancel, slot, version);
    this.running.add(uri);
    this.fireRunning(uri);
    const timing = this.timings.get(uri);
    if (timing) timing.sentAt = performance.now();
    try {
      const state = await this.client.request("update", { uri, version, text: doc.getText(), slot });
      if (timing) timing.answeredAt = performance.now();
      if (doc.version !== version || !this.docs.has(uri)) return undefined; // a newer run is on its way
      this.running.delete(uri);
      this.states.set(uri, state);
      this.changed.fire({ uri, state, kind: "run" });
      return state;
    } catch (e) {
      if (e instanceof EngineRequestError && (e.code === "cancelled" || e.code === "restarted")) return undefined;
      this.running.delete(uri);
      this.log.error(`running ${doc.uri.fsPath}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  private fireRunning(uri: string): void {
    const st = this.states.get(uri);
    if (st) this.changed.fire({ uri, state: st, kind: "cursor" });
  }

  /** Re-runs now (the Re-run command), resolving when the state is back. */
  rerun(uri: string): Promise<SessionState | undefined> {
    const doc = this.docs.get(uri);
    return doc ? this.send(doc) : Promise.resolve(undefined);
  }

  async setCursor(uri: string, step: number): Promise<SessionState | undefined> {
    try {
      const state = await this.client.request("setCursor", { uri, step });
      this.states.set(uri, state);
      this.changed.fire({ uri, state, kind: "cursor" });
      return state;
    } catch (e) {
      if (!(e instanceof EngineRequestError && e.code === "restarted")) this.log.warn(`cursor: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  /** After a worker restart: every session is rebuilt from its document and its cursor restored. */
  async rebuild(): Promise<void> {
    const cursors = new Map([...this.states].map(([u, s]) => [u, s.cursor]));
    await Promise.all([...this.docs.values()].map(async (d) => {
      const st = await this.send(d);
      const c = cursors.get(d.uri.toString());
      if (st && c !== undefined && c !== st.cursor) await this.setCursor(d.uri.toString(), c);
    }));
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
    this.activeChanged.dispose();
    this.closed.dispose();
  }
}
