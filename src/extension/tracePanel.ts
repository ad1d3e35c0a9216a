/**
 * The DMA Trace webview panel: one per scenario, restored after a reload by a serializer (its
 * state lives in the webview's getState/setState; no retainContextWhenHidden). The host only
 * forwards the webview's trace requests to the worker and keeps the shared cursor in sync.
 */
import * as vscode from "vscode";
import { escapeAttribute, scenarioDisplayName, TRACE_METHODS, TRACE_PAGE_ROWS, type FromWebview, type InitialMessages, type PrefetchedReply, type ToWebview, type TraceMethod, type TraceNavigation, type TraceViewState } from "../protocol/webview.js";
import type { TraceFilter } from "../protocol/engine.js";
import { REQUEST_ERROR_CODES } from "../protocol/diagnostics.js";
import { answer, CancellationSource, errorData, RpcError } from "../protocol/rpc.js";
import type { EngineClient } from "./engineClient.js";
import { fileSink, type ExportSink } from "./exportFile.js";
import type { ScenarioManager } from "./scenarios.js";

const VIEW_TYPE = "passthrough.trace";
const TRACE_METHOD_SET: ReadonlySet<string> = new Set(TRACE_METHODS);

export class TracePanels implements vscode.Disposable {
  private readonly panels = new Map<string, TracePanel>();
  private readonly subs: vscode.Disposable[] = [];
  /** The scenario of the panel that was active last (the target of the commands when none is active). */
  private lastActive?: string;
  private readonly openChanged = new vscode.EventEmitter<number>();
  /** The number of open panels changed (the commands' enablement: passthrough.traceOpen). */
  readonly onDidChangeOpen = this.openChanged.event;
  private readonly selected = new vscode.EventEmitter<{ uri: string; step: number; fault: boolean }>();
  /** The user selected a row of another step, or a fault row, or left one (passthrough.traceAtFault). */
  readonly onDidSelect = this.selected.event;

  constructor(
    private readonly ctx: vscode.ExtensionContext,
    private readonly client: EngineClient,
    private readonly scenarios: ScenarioManager,
    private readonly radix: () => "hex" | "dec",
    private readonly log: vscode.LogOutputChannel,
  ) {
    // Read the webview's script and stylesheet now, off the path of the first Show DMA Trace.
    void webviewAssets(ctx.extensionUri);
    this.subs.push(
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: TraceViewState | undefined) => {
          // The panel's own scenario (saved by the webview); panels saved before it kept one fall back to the active scenario.
          const uri = state?.uri ?? this.scenarios.active;
          if (!uri || this.panels.has(uri)) {
            panel.dispose();
            return;
          }
          this.adopt(panel, uri, state);
          // The scenario's editor may not be restored (or not yet): open its document so it runs.
          if (!this.scenarios.states.has(uri)) {
            try {
              await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
            } catch (e) {
              this.log.warn(`DMA Trace: could not reopen ${uri}: ${e instanceof Error ? e.message : String(e)}`);
            }
          }
        },
      }),
      scenarios.onDidClose((uri) => this.panels.get(uri)?.post({ type: "empty", uri, message: vscode.l10n.t("The scenario was closed: open it again to see its trace.") })),
      scenarios.onDidChange((c) => {
        const p = this.panels.get(c.uri);
        if (!p) return;
        if (c.kind === "run") p.postRun();
        else if (!p.ownCursorMove(c.state.cursor)) p.post({ type: "cursor", step: c.state.cursor });
      }),
    );
  }

  /** Opens (or reveals) the trace of a scenario. */
  open(uri: string): TracePanel {
    const existing = this.panels.get(uri);
    if (existing) {
      existing.panel.reveal(undefined, true);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, vscode.l10n.t("DMA Trace"), { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, this.options());
    return this.adopt(panel, uri);
  }

  get(uri: string): TracePanel | undefined {
    return this.panels.get(uri);
  }

  /** How many panels are open. */
  get count(): number {
    return this.panels.size;
  }

  /**
   * The panel the DMA Trace commands (palette, keybindings) act on: the active one (focused, as
   * for its keybindings), else the active scenario's, else the one active last, else the only one.
   */
  target(activeScenario?: string): TracePanel | undefined {
    const all = [...this.panels.values()];
    return all.find((p) => p.panel.active) ?? (activeScenario ? this.panels.get(activeScenario) : undefined) ?? (this.lastActive ? this.panels.get(this.lastActive) : undefined) ?? (all.length === 1 ? all[0] : undefined);
  }

  /** Moves the target panel's selection as its own keys do; false when no panel is open. */
  navigate(action: TraceNavigation, activeScenario?: string): boolean {
    const p = this.target(activeScenario);
    if (!p) return false;
    p.post({ type: "navigate", action });
    return true;
  }

  private options(): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.ctx.extensionUri, "dist"), vscode.Uri.joinPath(this.ctx.extensionUri, "media")], enableFindWidget: false };
  }

  private adopt(panel: vscode.WebviewPanel, uri: string, state?: TraceViewState): TracePanel {
    panel.webview.options = this.options();
    const p: TracePanel = new TracePanel(panel, uri, this.ctx.extensionUri, this.client, this.scenarios, this.radix, this.log, () => {
      if (this.panels.get(uri) === p) {
        this.panels.delete(uri);
        this.openChanged.fire(this.panels.size);
      }
    }, state);
    p.onSelect = (step, fault) => this.selected.fire({ uri, step, fault });
    this.panels.set(uri, p);
    if (panel.active) this.lastActive = uri;
    panel.onDidChangeViewState((e) => {
      if (e.webviewPanel.active) this.lastActive = uri;
    });
    this.openChanged.fire(this.panels.size);
    return p;
  }

  radixChanged(): void {
    for (const p of this.panels.values()) p.post({ type: "radix", radix: this.radix() });
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    for (const p of [...this.panels.values()]) p.panel.dispose();
    this.openChanged.dispose();
    this.selected.dispose();
  }
}

/** How long a new panel waits for the worker's first rows before it is written without them. */
const PREFETCH_MS = 250;

/**
 * When a panel's start-up stages happened, in ms of the host's performance clock (bench:extension
 * reads them; the log gets one line): created (the command ran), prefetched (the worker's first
 * answers came or PREFETCH_MS passed), html (the document was written), ready (the webview's script
 * ran), firstRows (the webview said its first rows are drawn).
 */
export interface TracePanelTimings {
  created: number;
  prefetched?: number;
  /** The prefetch gave up waiting for the worker (the webview asks itself). */
  prefetchLate?: boolean;
  html?: number;
  ready?: number;
  firstRows?: number;
  /** The webview's own figure: ms from its document's start to the first rows. */
  webviewMs?: number;
  /** When the webview's document started loading, on this clock (its timeOrigin; same machine's wall clock). */
  documentStart?: number;
}

export class TracePanel {
  /** Messages the webview sent (tests read the last selection through it). */
  lastSelection?: { event: number; step: number; fault: boolean };
  /** Told of each selection the webview reports (TracePanels.onDidSelect). */
  onSelect?: (step: number, fault: boolean) => void;
  readonly timings: TracePanelTimings = { created: performance.now() };
  private readonly firstRows: { promise: Promise<TracePanelTimings>; resolve: (t: TracePanelTimings) => void };
  /** Resolves when the webview has drawn its first rows (once per panel). */
  get whenFirstRows(): Promise<TracePanelTimings> {
    return this.firstRows.promise;
  }
  private readonly subs: vscode.Disposable[] = [];
  private ready = false;
  private disposed = false;
  /** The webview's requests on their way to the worker, by id: a "cancel" from the webview cancels one. */
  private readonly forwarded = new Map<number, CancellationSource>();
  /** Steps this panel moved the cursor to, not yet echoed back (they must not move it again). */
  private readonly ownMoves: number[] = [];

  /** True (once) when a cursor change is the echo of this panel's own selection. */
  ownCursorMove(step: number): boolean {
    const i = this.ownMoves.indexOf(step);
    if (i < 0) return false;
    this.ownMoves.splice(0, i + 1);
    return true;
  }

  constructor(
    readonly panel: vscode.WebviewPanel,
    readonly uri: string,
    private readonly extensionUri: vscode.Uri,
    private readonly client: EngineClient,
    private readonly scenarios: ScenarioManager,
    private readonly radix: () => "hex" | "dec",
    private readonly log: vscode.LogOutputChannel,
    onDispose: () => void,
    /** The webview's saved state, for a panel restored after a reload. */
    state?: TraceViewState,
  ) {
    panel.title = vscode.l10n.t("DMA Trace: {0}", scenarioDisplayName(uri));
    panel.iconPath = vscode.Uri.joinPath(extensionUri, "media", "icon.svg");
    let resolveFirst!: (t: TracePanelTimings) => void;
    this.firstRows = { promise: new Promise((ok) => (resolveFirst = ok)), resolve: (t) => resolveFirst(t) };
    const version = scenarios.states.get(uri)?.runVersion;
    const assets = webviewAssets(extensionUri);
    void this.prefetch(state).then(async (replies) => {
      this.timings.prefetched = performance.now();
      const inline = await assets;
      if (this.disposed) return;
      // Answers of a run that was replaced meanwhile would be taken for the new run's.
      panel.webview.html = this.html(scenarios.states.get(uri)?.runVersion === version ? replies : [], inline);
      this.timings.html = performance.now();
    });
    this.subs.push(
      panel.webview.onDidReceiveMessage((m: FromWebview) => void this.onMessage(m)),
      panel.onDidDispose(() => {
        this.disposed = true;
        for (const s of this.subs) s.dispose();
        onDispose();
      }),
    );
  }

  post(m: ToWebview): void {
    // (a reply to a request may come after the user closed the panel)
    if (this.ready && !this.disposed) this.panel.webview.postMessage(m).then(undefined, () => undefined);
  }

  postRun(): void {
    this.post(this.runMessage());
  }

  private runMessage(): ToWebview {
    const st = this.scenarios.states.get(this.uri);
    if (!st) return { type: "empty", uri: this.uri, message: vscode.l10n.t("The scenario has not run yet.") };
    return { type: "run", uri: this.uri, file: scenarioDisplayName(this.uri), runVersion: st.runVersion, stale: st.stale, step: st.cursor, steps: st.steps.map((s) => ({ line: s.line, op: s.op, summary: s.summary })) };
  }

  private async onMessage(m: FromWebview): Promise<void> {
    switch (m.type) {
      case "firstRows": {
        if (this.timings.firstRows !== undefined) return;
        const t = this.timings;
        t.firstRows = performance.now();
        t.webviewMs = m.sinceLoad;
        t.documentStart = m.timeOrigin - performance.timeOrigin;
        const ms = (x: number | undefined) => (x === undefined ? "-" : `${Math.round(x - t.created)} ms`);
        this.log.info(`DMA Trace: first ${m.rows} rows drawn ${ms(t.firstRows)} after the command (worker answers ${ms(t.prefetched)}${t.prefetchLate ? ", late" : ""}, document written ${ms(t.html)}, document loading ${ms(t.documentStart)}, script ready ${ms(t.ready)}; ${m.sinceLoad} ms in the webview)`);
        this.firstRows.resolve(t);
        return;
      }
      case "ready":
        this.timings.ready ??= performance.now();
        this.ready = true;
        this.post({ type: "radix", radix: this.radix() });
        this.postRun();
        return;
      case "request": {
        // Forwarded to the worker with the panel's uri; the answer (or the typed error) goes back
        // under the webview's id, unless the webview cancelled it meanwhile.
        const cancel = new CancellationSource();
        this.forwarded.set(m.id, cancel);
        const res = await answer(
          m.id,
          () => {
            if (!TRACE_METHOD_SET.has(m.method)) throw new RpcError("bad-params", `unknown method ${String(m.method)}`);
            // After a worker restart the page waits for the rebuilt session (and is asked again if the worker died under it).
            return this.scenarios.gate.call(() => this.client.request(m.method, { ...(m.params as object), uri: this.uri } as never, cancel.token));
          },
          (e) => errorData(e, REQUEST_ERROR_CODES, "internal"),
        );
        this.forwarded.delete(m.id);
        if (!cancel.token.isCancellationRequested) this.post({ type: "reply", ...res });
        return;
      }
      case "cancel":
        this.forwarded.get(m.id)?.cancel();
        return;
      case "select": {
        this.lastSelection = { event: m.event, step: m.step, fault: m.fault === true };
        this.onSelect?.(m.step, m.fault === true);
        const st = this.scenarios.states.get(this.uri);
        if (st && st.cursor !== m.step) {
          this.ownMoves.push(m.step);
          await this.scenarios.setCursor(this.uri, m.step);
        }
        const doc = this.scenarios.document(this.uri);
        const line = st?.steps[m.step]?.line;
        if (doc && line !== undefined) {
          // Move the editor's view to the step without taking focus from the trace.
          const editor = vscode.window.visibleTextEditors.find((e) => e.document === doc);
          if (editor) editor.revealRange(new vscode.Range(line, 0, line, 0), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
        }
        return;
      }
      case "gotoStep": {
        // Not an own move: the cursor's echo brings the panel to the step's rows too.
        const st = this.scenarios.states.get(this.uri);
        if (!st || !Number.isInteger(m.step) || m.step < 0 || m.step >= st.steps.length) return;
        if (st.cursor !== m.step) await this.scenarios.setCursor(this.uri, m.step);
        const doc = this.scenarios.document(this.uri);
        const line = st.steps[m.step]?.line;
        const editor = doc && vscode.window.visibleTextEditors.find((e) => e.document === doc);
        if (editor && line !== undefined) editor.revealRange(new vscode.Range(line, 0, line, 0), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
        return;
      }
      case "toggleRadix":
        await vscode.commands.executeCommand("passthrough.toggleRadix");
        return;
      case "export":
        await this.export(m.format, m.filter);
        return;
    }
  }

  /**
   * Writes the filtered trace to a file chunk by chunk as the worker makes them, with progress and
   * cancellation. vscode.workspace.fs has no append: a file: target is written through node:fs
   * into a temporary file beside it, renamed over the target when complete (a cancelled or failed
   * export deletes only the temporary file: a file chosen for overwriting keeps its contents); any
   * other scheme (remote, virtual) gets the chunks collected and written once, at the end.
   */
  private async export(format: "csv" | "json", filter: TraceFilter): Promise<void> {
    const base = scenarioDisplayName(this.uri).replace(/\.passthrough\.ya?ml$/, "");
    const target = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.joinPath(vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file("/"), `${base}.trace.${format}`), filters: format === "csv" ? { CSV: ["csv"] } : { JSON: ["json"] } });
    if (!target) return;
    let sink: ExportSink | undefined;
    let next = 0;
    let ok = false;
    try {
      const out = (sink = target.scheme === "file" ? await fileSink(target.fsPath) : memorySink(target));
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t("Exporting the trace to {0}", target.fsPath), cancellable: true }, async (progress, token) => {
        for (;;) {
          if (token.isCancellationRequested) return;
          const r = await this.client.request("traceExport", { uri: this.uri, filter, format, start: next, count: 20_000 });
          if (token.isCancellationRequested) return;
          await out.write(r.text);
          progress.report({ increment: r.matched ? ((r.next - next) / r.matched) * 100 : 100, message: vscode.l10n.t("{0} of {1} rows", r.next, r.matched) });
          next = r.next;
          if (r.done) break;
        }
        await out.finish();
        ok = true;
      });
    } catch (e) {
      void vscode.window.showErrorMessage(vscode.l10n.t("The trace export failed: {0}", e instanceof Error ? e.message : String(e)));
    } finally {
      if (!ok) await sink?.discard();
    }
    if (ok) this.log.info(`exported ${next} trace rows (${sink?.bytes ?? 0} bytes) to ${target.fsPath}`);
    else this.log.info(`trace export to ${target.fsPath} stopped after ${next} rows; the partial file was removed and ${target.fsPath} left as it was`);
  }

  /**
   * The answers to the requests the webview makes first (PrefetchedReply), asked of the worker
   * before the document is written: the counts, the cursor's row and its page, with the filter
   * the webview will start with (its saved state, or none). Nothing when the scenario has not run
   * or the worker takes longer than PREFETCH_MS (the webview then asks, as always).
   */
  private async prefetch(state: TraceViewState | undefined): Promise<PrefetchedReply[]> {
    const st = this.scenarios.states.get(this.uri);
    if (!st) return [];
    const filter = state?.filter ?? {};
    const compare = state?.compare ?? false;
    const ask = async (method: TraceMethod, params: object): Promise<PrefetchedReply> => {
      const result = await this.client.request(method, { ...params, uri: this.uri } as never);
      return { type: "prefetched", method, params, result };
    };
    const work = (async () => {
      const [info, located] = await Promise.all([ask("traceInfo", { filter, compare }), ask("traceLocate", { filter, step: st.cursor })]);
      const page = (p: number) => ask("tracePage", { filter, start: p * TRACE_PAGE_ROWS, count: TRACE_PAGE_ROWS, compare });
      const at = Math.floor((located.result as { row: number }).row / TRACE_PAGE_ROWS);
      // (the webview asks for page 0 at once when the cursor is at step 0)
      const pages = await Promise.all(st.cursor === 0 && at !== 0 ? [page(0), page(at)] : [page(at)]);
      return [info, located, ...pages];
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<PrefetchedReply[]>((ok) =>
      (timer = setTimeout(() => {
        this.timings.prefetchLate = true;
        ok([]);
      }, PREFETCH_MS)),
    );
    try {
      return await Promise.race([work, late]);
    } catch (e) {
      this.log.warn(`DMA Trace: could not prefetch the first rows: ${e instanceof Error ? e.message : String(e)}`);
      return [];
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The webview's document. The script and the stylesheet are written into it (nonce'd) when they
   * could be read: loaded by URL, each was one more request through VS Code's webview service
   * worker and the workbench (in code-server: to the server and back), on the path to the first
   * rows; by URL otherwise.
   */
  private html(prefetched: PrefetchedReply[] = [], inline?: WebviewAssets): string {
    const w = this.panel.webview;
    const nonce = makeNonce();
    const script = w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, "dist", "webview.js")).toString();
    const style = w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, "media", "trace.css")).toString();
    const initial: InitialMessages = [...prefetched, { type: "radix", radix: this.radix() }, this.runMessage()];
    return `<!DOCTYPE html>
<html lang="${escapeAttribute(vscode.env.language)}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${w.cspSource} 'nonce-${nonce}'; font-src ${w.cspSource}; img-src ${w.cspSource} data:; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${inline ? `<style nonce="${nonce}">${inline.style}</style>` : `<link href="${style}" rel="stylesheet">`}
<title>${escapeAttribute(vscode.l10n.t("DMA Trace"))}</title>
</head>
<body data-l10n="${escapeAttribute(JSON.stringify(vscode.l10n.bundle ?? {}))}" data-initial="${escapeAttribute(JSON.stringify(initial, (_, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v)))}">
<div id="app" role="main" aria-label="${escapeAttribute(vscode.l10n.t("DMA trace"))}"></div>
${inline ? `<script nonce="${nonce}">${inline.script}</script>` : `<script nonce="${nonce}" src="${script}"></script>`}
</body>
</html>`;
  }
}

function memorySink(target: vscode.Uri): ExportSink {
  const chunks: Uint8Array[] = [];
  const enc = new TextEncoder();
  const sink: ExportSink = {
    bytes: 0,
    async write(text) {
      const data = enc.encode(text);
      chunks.push(data);
      sink.bytes += data.length;
    },
    async finish() {
      const all = new Uint8Array(sink.bytes);
      let o = 0;
      for (const c of chunks) {
        all.set(c, o);
        o += c.length;
      }
      chunks.length = 0;
      await vscode.workspace.fs.writeFile(target, all);
    },
    async discard() {
      chunks.length = 0;
    },
  };
  return sink;
}

/** The webview's script and stylesheet as text, for the document (read once per session). */
interface WebviewAssets {
  script: string;
  style: string;
}
let assetCache: Promise<WebviewAssets | undefined> | undefined;
export function webviewAssets(extensionUri: vscode.Uri): Promise<WebviewAssets | undefined> {
  assetCache ??= (async () => {
    const read = async (...path: string[]) => new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(extensionUri, ...path)));
    try {
      const [script, style] = await Promise.all([read("dist", "webview.js"), read("media", "trace.css")]);
      // Inside <script>/<style> only "</" could end the element early; the source map URL would be
      // resolved against the webview's origin.
      return { script: script.replace(/<\/(script)/gi, "<\\/$1").replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n"), style: style.replace(/<\/(style)/gi, "<\\/$1") };
    } catch {
      assetCache = undefined;
      return undefined; // loaded by URL
    }
  })();
  return assetCache;
}

function makeNonce(): string {
  const bytes = new Uint8Array(24);
  globalThis.crypto.getRandomValues(bytes);
  // Hex, not Buffer's base64: Buffer does not exist in VS Code for the Web.
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
