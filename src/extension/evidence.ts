/**
 * Real evidence in VS Code: "Import Evidence…" from a file (streamed in chunks with progress and
 * cancellation, never read into one string), the clipboard or the selection; the decoded records
 * with their explanations in a read-only document; "Create Scenario from Evidence"; and hovers
 * and CodeLens directly on log files.
 */
import * as vscode from "vscode";
import type { TreeNode } from "../protocol/engine.js";
import type { ExtraNodes } from "./trees.js";
import { DEEP_OUTLINE_RECORDS, type EvidenceDocument, type EvidenceKind, type EvidenceRecord, type Explanation, type OutlineItem, type OutlineKind, type Skipped } from "../protocol/evidence.js";
import type { EngineMethods } from "../protocol/engine.js";
import { platform } from "./platform.js";
import { wholeReadRefusal } from "./fileAccess.js";
import { evidenceDocumentPath } from "../import/document.js";
import { lensText } from "./text.js";

const SCHEME = "passthrough-evidence";
/** The decoded document's language: word wrap on by default (package.json configurationDefaults), Outline and folding from its records. */
export const EVIDENCE_LANGUAGE = "passthrough-evidence";
/** Bytes read per chunk: the parser works in slices of a few thousand lines, then the host gets the thread back. */
const CHUNK_BYTES = 256 * 1024;

/**
 * A file's bytes in chunks: streamed from disk where the platform can (a local file in the Node
 * host: a 1 GB log never sits in memory), else read through vscode.workspace.fs (any scheme, and
 * the only way in VS Code for the Web) and cut up (progress, cancellation).
 */
async function* fileChunks(uri: vscode.Uri): AsyncIterable<Uint8Array> {
  const stream = platform.streamFile(uri, CHUNK_BYTES);
  if (stream) {
    yield* stream;
    return;
  }
  const bytes = await vscode.workspace.fs.readFile(uri);
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) yield bytes.subarray(at, at + CHUNK_BYTES);
}

/**
 * Records one import keeps. A DMAR fault record with its fields and context lines holds about 4 KB
 * (measured: 200 000 records took the reader to 1 GB RSS, 20 000 to 370 MB): 50 000 keep a 1 GB log
 * of faults at a few hundred MB in the extension host.
 */
export const MAX_IMPORT_RECORDS = 50_000;
/** Hovers and CodeLens parse a log file whole only up to this size. */
const MAX_INLINE_BYTES = 4 * 1024 * 1024;

export interface ImportedEvidence {
  source: string;
  /** The document the records came from (a file, or the editor of a selection), for "Go to Log Line"; none for the clipboard. */
  origin?: vscode.Uri;
  /** The decoded document's name before " — decoded" when it is not the origin's file name ("Clipboard", "x.log, lines 10-40"). */
  label?: string;
  kind: EvidenceKind;
  records: EvidenceRecord[];
  skipped: Skipped[];
  lines: number;
  explanations: Explanation[];
  /** Its records that rank the causes of other imports (import/explain.ts rankingContext, from the worker). */
  ranking: EvidenceRecord[];
  /** The DMAR units of a debugfs dump (import/hostTables.ts hostTableUnits); absent: no host tables. */
  hostUnits?: { name: string; contexts: number; scalable: boolean }[];
}

/** An import before the worker has explained it and laid out its document. */
type ParsedEvidence = Omit<ImportedEvidence, "explanations" | "ranking" | "hostUnits">;

/**
 * The engine requests all evidence work runs through: the importers, the explanations and the
 * decoded document live in the worker (parsing a 4 MB log takes a few hundred ms), so the extension
 * host bundles none of them.
 */
export interface EvidenceEngine {
  request<M extends "evidenceParse" | "evidenceReadChunk" | "evidenceReadEnd" | "evidenceExplain" | "evidenceDocument" | "evidenceHover" | "evidenceLenses" | "evidenceSynthesize">(method: M, params: EngineMethods[M]["params"]): Promise<EngineMethods[M]["result"]>;
}

/** A chunk as its own bytes: a view into a larger buffer (a whole file read at once) would be copied whole to the worker. */
const ownBytes = (c: Uint8Array) => (c.byteOffset === 0 && c.byteLength === c.buffer.byteLength ? c : c.slice());

const LOG_SELECTOR: vscode.DocumentSelector = [{ language: "log" }, { pattern: "**/*.{log,txt}" }, { pattern: "**/{dmesg,syslog,messages,kern.log,journal}*" }];

export class EvidenceFeature implements vscode.Disposable, ExtraNodes {
  private readonly imports = new Map<string, ImportedEvidence>();
  private last?: string;
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly treeChanged = new vscode.EventEmitter<void>();
  readonly onDidChange = this.treeChanged.event;
  readonly prefix = "ev/";
  private readonly docs = new Map<string, vscode.Uri>();

  /** Faults view: one root per import, its records (faults and refusals first) below. */
  roots(): TreeNode[] {
    return [...this.imports].map(([key, ev]) => {
      const faults = ev.explanations.length;
      return { id: `ev/${key}`, label: vscode.l10n.t("Evidence: {0}", ev.source), description: vscode.l10n.t("{0} · {1} records · {2} explained", ev.kind, ev.records.length, faults), tooltip: vscode.l10n.t("Imported {0}: {1} records, {2} with an explanation", ev.source, ev.records.length, faults), icon: "file-text", contextValue: "evidence", collapsible: 1 as const };
    });
  }

  children(id: string): TreeNode[] {
    const [, key, idx] = id.split("/");
    const ev = key ? this.imports.get(key) : undefined;
    if (!ev || idx !== undefined) return [];
    const ex = new Map(ev.explanations.map((e) => [e.record, e]));
    const order = ev.records.map((_, i) => i).sort((a, b) => Number(ex.has(b)) - Number(ex.has(a)) || a - b).slice(0, 2000);
    return order.map((i) => {
      const r = ev.records[i]!;
      const e = ex.get(i);
      const fault = /fault|event/.test(r.kind);
      return { id: `ev/${key}/${i}`, label: vscode.l10n.t("line {0}: {1}", r.line + 1, e?.title ?? r.kind), description: r.summary, tooltip: e ? vscode.l10n.t("{0}\n\nMost likely: {1}{2}", e.meaning, e.causes[0] ?? "-", e.evidence.length ? vscode.l10n.t("\n\nEvidence: {0}", e.evidence.join(" ")) : "") : r.summary, icon: fault ? "error" : e ? "warning" : "info", color: fault ? "errorForeground" : e ? "problemsWarningIcon.foreground" : undefined, contextValue: "evidence-record", collapsible: 0 as const, copy: r.text };
    });
  }

  /** Tree item click: opens the decoded document of an import, at the record for a record's item (selected, in the middle of the editor). */
  async reveal(id: string): Promise<vscode.TextEditor | undefined> {
    const [, key, idx] = id.split("/");
    const uri = key ? this.docs.get(key) : undefined;
    if (!key || !uri) return undefined;
    const editor = await vscode.window.showTextDocument(await this.openDecoded(uri), { preview: true });
    const at = idx !== undefined ? this.layout(key)?.outline.find((o) => o.record === Number(idx)) : undefined;
    if (at) {
      editor.selection = new vscode.Selection(at.start, 0, at.start, editor.document.lineAt(at.start).text.length);
      editor.revealRange(new vscode.Range(at.start, 0, at.end, 0), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }
    return editor;
  }

  /** "Go to Log Line": the record's lines in the file (or editor) it came from, selected; for the clipboard, the record in the decoded document. */
  async goToLogLine(id: string): Promise<vscode.TextEditor | undefined> {
    const [, key, idx] = id.split("/");
    const ev = key ? this.imports.get(key) : undefined;
    const rec = ev && idx !== undefined ? ev.records[Number(idx)] : undefined;
    if (!ev || !rec) return undefined;
    if (!ev.origin) {
      void vscode.window.showInformationMessage(vscode.l10n.t("Line {0} came from the clipboard, not from a file: its text is shown in the decoded document.", rec.line + 1));
      return this.reveal(id);
    }
    let doc: vscode.TextDocument;
    try {
      doc = await vscode.workspace.openTextDocument(ev.origin);
    } catch (e) {
      void vscode.window.showErrorMessage(vscode.l10n.t("Go to log line: cannot open {0}: {1}", ev.source, e instanceof Error ? e.message : String(e)));
      return undefined;
    }
    const last = Math.min(rec.endLine, doc.lineCount - 1);
    const sel = new vscode.Selection(rec.line, 0, last, doc.lineAt(last).text.length);
    return vscode.window.showTextDocument(doc, { selection: sel, preview: true });
  }

  /** The decoded document, in the evidence language (a content provider's document opens as plain text). */
  private async openDecoded(uri: vscode.Uri): Promise<vscode.TextDocument> {
    const doc = await vscode.workspace.openTextDocument(uri);
    return doc.languageId === EVIDENCE_LANGUAGE ? doc : vscode.languages.setTextDocumentLanguage(doc, EVIDENCE_LANGUAGE);
  }

  /** The rendered text and outline of an import's document (laid out once per import, by the worker). */
  private layout(key: string): EvidenceDocument | undefined {
    return this.rendered.get(key);
  }
  private readonly rendered = new Map<string, EvidenceDocument>();
  private readonly subs: vscode.Disposable[] = [];

  /** CodeLens per log document version (the provider is asked again on every edit and scroll). */
  private readonly lensCache = new Map<string, { version: number; lenses: Promise<{ line: number; title: string }[]> }>();

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly engine: EvidenceEngine,
    /** The active scenario's maps and unmaps, as history for explanations (empty when none is open). */
    private readonly scenarioHistory: () => Promise<EvidenceRecord[]> = async () => [],
  ) {
    this.subs.push(
      vscode.workspace.registerTextDocumentContentProvider(SCHEME, { onDidChange: this.changed.event, provideTextDocumentContent: (uri) => this.render(uri) }),
      vscode.languages.registerHoverProvider(LOG_SELECTOR, { provideHover: (doc, pos) => this.hover(doc, pos) }),
      vscode.languages.registerHoverProvider({ scheme: SCHEME }, { provideHover: (doc, pos) => this.decodedHover(doc, pos) }),
      vscode.languages.registerCodeLensProvider(LOG_SELECTOR, { provideCodeLenses: (doc, token) => this.lenses(doc, token) }),
      vscode.workspace.onDidCloseTextDocument((d) => this.lensCache.delete(d.uri.toString())),
      vscode.languages.registerDocumentSymbolProvider({ scheme: SCHEME }, { provideDocumentSymbols: (doc) => this.symbols(doc) }, { label: vscode.l10n.t("Evidence records") }),
      vscode.languages.registerFoldingRangeProvider({ scheme: SCHEME }, { provideFoldingRanges: (doc) => this.folding(doc) }),
      vscode.languages.registerDocumentLinkProvider({ scheme: SCHEME }, { provideDocumentLinks: (doc) => this.links(doc) }),
    );
  }

  get lastImport(): ImportedEvidence | undefined {
    return this.last ? this.imports.get(this.last) : undefined;
  }

  /** The command: pick a source (or the one named: a file, "clipboard"), import, open the decoded document. */
  async importInteractive(arg?: vscode.Uri | "clipboard"): Promise<vscode.TextDocument | undefined> {
    if (arg === "clipboard") return this.importText(await vscode.env.clipboard.readText(), vscode.l10n.t("clipboard"), 0, { label: this.nextName(vscode.l10n.t("Clipboard")) });
    let uri = arg;
    if (!uri) {
      const editor = vscode.window.activeTextEditor;
      const picks: (vscode.QuickPickItem & { id: string })[] = [
        { id: "file", label: vscode.l10n.t("$(file) From a file…"), description: vscode.l10n.t("dmesg / journalctl output, an iommu_groups listing, /sys/kernel/tracing/trace") },
        { id: "clipboard", label: vscode.l10n.t("$(clippy) From the clipboard") },
      ];
      if (editor && !editor.selection.isEmpty) picks.push({ id: "selection", label: vscode.l10n.t("$(selection) From the selection"), description: vscode.workspace.asRelativePath(editor.document.uri) });
      if (editor) picks.push({ id: "editor", label: vscode.l10n.t("$(file-text) The active editor"), description: vscode.workspace.asRelativePath(editor.document.uri) });
      const pick = await vscode.window.showQuickPick(picks, { title: vscode.l10n.t("Import evidence") });
      if (!pick) return undefined;
      if (pick.id === "clipboard") return this.importText(await vscode.env.clipboard.readText(), vscode.l10n.t("clipboard"), 0, { label: this.nextName(vscode.l10n.t("Clipboard")) });
      if (pick.id === "selection" && editor) {
        const s = editor.selection;
        const base = editor.document.uri.path.split("/").pop() ?? "selection";
        return this.importText(editor.document.getText(s), vscode.l10n.t("selection of {0}", vscode.workspace.asRelativePath(editor.document.uri)), s.start.line, { origin: editor.document.uri, label: vscode.l10n.t("{0}, lines {1}-{2}", base, s.start.line + 1, s.end.line + 1) });
      }
      if (pick.id === "editor" && editor) {
        if (editor.document.uri.scheme === "file") uri = editor.document.uri;
        else return this.importText(editor.document.getText(), vscode.workspace.asRelativePath(editor.document.uri), 0, { origin: editor.document.uri, label: editor.document.uri.path.split("/").pop() || vscode.l10n.t("Untitled") });
      }
      if (!uri) {
        const files = await vscode.window.showOpenDialog({ title: vscode.l10n.t("Import evidence"), canSelectMany: false, openLabel: vscode.l10n.t("Import") });
        if (!files?.[0]) return undefined;
        uri = files[0];
      }
    }
    return this.importFile(uri);
  }

  /** "Clipboard", then "Clipboard (2)", ...: each import's document has a name of its own. */
  private nextName(base: string): string {
    const n = (this.names.get(base) ?? 0) + 1;
    this.names.set(base, n);
    return n === 1 ? base : `${base} (${n})`;
  }
  private readonly names = new Map<string, number>();
  /** File reads started (each streams into the worker under its own id). */
  private reads = 0;

  async importText(text: string, source: string, lineOffset = 0, from: { origin?: vscode.Uri; label?: string } = {}): Promise<vscode.TextDocument | undefined> {
    if (!text.trim()) {
      void vscode.window.showWarningMessage(vscode.l10n.t("Import evidence: there is no text to import."));
      return undefined;
    }
    let r: EngineMethods["evidenceParse"]["result"];
    try {
      r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t("Decoding {0}", source) }, () => this.engine.request("evidenceParse", { text, lineOffset }));
    } catch (e) {
      void vscode.window.showErrorMessage(vscode.l10n.t("Import evidence: {0}", e instanceof Error ? e.message : String(e)));
      return undefined;
    }
    return this.publish({ source, ...from, kind: r.kind, records: r.records, skipped: r.skipped, lines: r.lines });
  }

  /**
   * Streams a file in slices (bounded memory for a 100 MB log), with progress and cancellation. A
   * `file:` file is read in chunks, another scheme's through vscode.workspace.fs; both decode and
   * parse as the CLI and a pasted text do (import/decode.ts: UTF-8 or UTF-16, the same long-line rule).
   */
  async importFile(uri: vscode.Uri): Promise<vscode.TextDocument | undefined> {
    const name = vscode.workspace.asRelativePath(uri);
    let size: number;
    try {
      size = (await vscode.workspace.fs.stat(uri)).size;
    } catch (e) {
      void vscode.window.showErrorMessage(vscode.l10n.t("Import evidence: cannot read {0}: {1}", name, e instanceof Error ? e.message : String(e)));
      return undefined;
    }
    // Read whole (no local file system to stream from): a clear limit instead of an out-of-memory host.
    const refusal = platform.canStream(uri) ? undefined : wholeReadRefusal(name, size);
    if (refusal) {
      void vscode.window.showErrorMessage(refusal);
      return undefined;
    }
    this.log.info(`importing ${uri.toString(true)} (${(size / 2 ** 20).toFixed(1)} MiB)`);
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t("Importing {0}", name), cancellable: true }, async (progress, token) => {
      // The worker decodes the chunks (evidenceReadChunk) as the CLI does; the host only reads them.
      const id = `read-${++this.reads}`;
      let read = 0;
      /** Cancel pressed: the reading stops here (the chunks read so far are let go) and nothing is published. */
      const cancelled = () => {
        const at = vscode.l10n.t("{0} of {1} MiB", (read / 2 ** 20).toFixed(1), (size / 2 ** 20).toFixed(1));
        this.log.info(`import of ${uri.toString(true)} cancelled after ${read} of ${size} bytes`);
        void this.engine.request("evidenceReadEnd", { id, cancel: true }).catch(() => null);
        void vscode.window.showInformationMessage(vscode.l10n.t("Import of {0} cancelled after {1}: nothing was imported.", name, at));
        return undefined;
      };
      try {
        for await (const chunk of fileChunks(uri)) {
          if (token.isCancellationRequested) return cancelled();
          await this.engine.request("evidenceReadChunk", { id, at: read, bytes: ownBytes(chunk), maxRecords: MAX_IMPORT_RECORDS });
          read += chunk.byteLength;
          progress.report({ increment: (chunk.byteLength / Math.max(1, size)) * 100, message: vscode.l10n.t("{0} of {1} MiB", (read / 2 ** 20).toFixed(1), (size / 2 ** 20).toFixed(1)) });
          // Give the extension host back between slices.
          await new Promise((ok) => setTimeout(ok, 0));
        }
        if (token.isCancellationRequested) return cancelled();
      } catch (e) {
        void this.engine.request("evidenceReadEnd", { id, cancel: true }).catch(() => null);
        void vscode.window.showErrorMessage(vscode.l10n.t("Import evidence: cannot read {0}: {1}", name, e instanceof Error ? e.message : String(e)));
        return undefined;
      }
      let r: EngineMethods["evidenceReadEnd"]["result"];
      try {
        // The worker explains the records it read and lays out their document in the same answer.
        r = await this.engine.request("evidenceReadEnd", { id, explain: { source: name, ...(await this.explainInputs()) } });
      } catch (e) {
        void vscode.window.showErrorMessage(vscode.l10n.t("Import evidence: cannot read {0}: {1}", name, e instanceof Error ? e.message : String(e)));
        return undefined;
      }
      // An empty file sent no chunk, so the worker never opened a reader for it.
      r ??= { kind: "log", records: [], skipped: [], lines: 0 };
      this.log.info(`imported ${uri.toString(true)} (${r.encoding ?? "utf-8"}): ${r.records.length} records, ${r.skipped.length} skipped runs, ${(size / 2 ** 20).toFixed(1)} MiB`);
      if (r.dropped) {
        // The limit that bounds the extension host's memory for a log of millions of records.
        const total = r.records.length + r.dropped;
        this.log.warn(`${name}: ${total} records; the first ${r.records.length} are imported (limit ${MAX_IMPORT_RECORDS})`);
        void vscode.window.showWarningMessage(vscode.l10n.t("Import evidence: {0} has {1} records; the first {2} are imported (the limit that keeps the editor responsive). To decode the whole file, run `passthrough decode` in a terminal, or import a part of it.", name, total.toLocaleString(), r.records.length.toLocaleString()));
      }
      const done = r.explanations && r.laid ? { explanations: r.explanations, laid: r.laid } : undefined;
      return this.publish({ source: name, origin: uri, kind: r.kind, records: r.records, skipped: r.skipped, lines: r.lines }, done);
    });
  }

  /**
   * What explanations use besides the import's own trace records: when a scenario is open, its
   * maps and unmaps ("IOVA … was unmapped at line 24 of the scenario"), and the configuration of
   * the other imports (lspci, the VM's XML), which ranks this import's causes.
   */
  private async explainInputs(): Promise<{ history: EvidenceRecord[]; context: EvidenceRecord[] }> {
    const history = await this.scenarioHistory().catch(() => [] as EvidenceRecord[]);
    return { history, context: [...this.imports.values()].flatMap((x) => x.ranking) };
  }

  /** An import's explanations and document from the worker (`done`: a file read answered them already), then its decoded document opens. */
  private async publish(parsed: ParsedEvidence, done?: { explanations: Explanation[]; laid: EngineMethods["evidenceDocument"]["result"] }): Promise<vscode.TextDocument | undefined> {
    let explanations = done?.explanations;
    let laid = done?.laid;
    if (!explanations || !laid) {
      const { history, context } = await this.explainInputs();
      // The document opens without explanations when they fail.
      explanations = await this.engine.request("evidenceExplain", { records: parsed.records, history: [...parsed.records.filter((r) => r.kind === "ftrace"), ...history], context }).catch((e: unknown) => {
        this.log.warn(`evidence: explanations unavailable: ${e instanceof Error ? e.message : String(e)}`);
        return [] as Explanation[];
      });
      try {
        laid = await this.engine.request("evidenceDocument", { source: parsed.source, kind: parsed.kind, records: parsed.records, skipped: parsed.skipped, explanations });
      } catch (e) {
        void vscode.window.showErrorMessage(vscode.l10n.t("Import evidence: {0}", e instanceof Error ? e.message : String(e)));
        return undefined;
      }
    }
    const ev: ImportedEvidence = { ...parsed, explanations, ranking: laid.ranking, ...(laid.hostUnits ? { hostUnits: laid.hostUnits } : {}) };
    const key = `${Date.now().toString(36)}-${this.imports.size}`;
    this.imports.set(key, ev);
    this.rendered.set(key, laid.document);
    this.last = key;
    const uri = vscode.Uri.from({ scheme: SCHEME, path: evidenceDocumentPath(ev.label !== undefined || !ev.origin ? { label: ev.label ?? ev.source } : { file: ev.source }), query: key });
    this.docs.set(key, uri);
    this.treeChanged.fire();
    const doc = await this.openDecoded(uri);
    await vscode.window.showTextDocument(doc, { preview: false });
    // The kernel's debugfs table dumps: offer the host's own tables as a scenario (import/hostTables.ts).
    if (ev.hostUnits) {
      const open = vscode.l10n.t("Open as Host Tables");
      void vscode.window.showInformationMessage(vscode.l10n.t("{0} holds the IOMMU's tables from debugfs: open them as a scenario to see them in Mapping Tables and walk them with Translate Address.", ev.source), open).then((a) => (a === open ? this.createScenario(uri) : undefined));
    }
    return doc;
  }

  private render(uri: vscode.Uri): string {
    return this.layout(uri.query)?.text ?? vscode.l10n.t("This import is no longer available: import the evidence again.");
  }

  /** Outline and breadcrumbs: one symbol per record, its context lines, fields and explanation below it. */
  private symbols(doc: vscode.TextDocument): vscode.DocumentSymbol[] {
    const d = this.layout(doc.uri.query);
    if (!d) return [];
    const kinds: Record<OutlineKind, vscode.SymbolKind> = { record: vscode.SymbolKind.Event, context: vscode.SymbolKind.String, fields: vscode.SymbolKind.Struct, field: vscode.SymbolKind.Field, meaning: vscode.SymbolKind.String, evidence: vscode.SymbolKind.Key, causes: vscode.SymbolKind.Array, cause: vscode.SymbolKind.EnumMember, checks: vscode.SymbolKind.Array, check: vscode.SymbolKind.Boolean, section: vscode.SymbolKind.Namespace };
    const last = doc.lineCount - 1;
    // A big import (thousands of records) keeps the Outline to records and their groups: tens of
    // thousands of symbols made the extension host and the Outline slow for nothing.
    const deep = d.outline.length <= DEEP_OUTLINE_RECORDS;
    const symbol = (o: OutlineItem, depth = 0): vscode.DocumentSymbol => {
      const end = Math.min(o.end, last);
      const range = new vscode.Range(Math.min(o.start, last), 0, end, doc.lineAt(end).text.length);
      const sel = new vscode.Range(Math.min(o.start, last), o.column, Math.min(o.start, last), Math.max(o.column, o.endColumn));
      const s = new vscode.DocumentSymbol(o.name, o.detail, kinds[o.kind], range, range.contains(sel) ? sel : range);
      s.children = deep || depth < 1 ? o.children.map((c) => symbol(c, depth + 1)) : [];
      return s;
    };
    return d.outline.map(symbol);
  }

  /** Each record folds (and its groups of causes, checks, context lines); so does the list of skipped lines. */
  private folding(doc: vscode.TextDocument): vscode.FoldingRange[] {
    const d = this.layout(doc.uri.query);
    if (!d) return [];
    const out: vscode.FoldingRange[] = [];
    const walk = (o: OutlineItem) => {
      if (o.end > o.start) out.push(new vscode.FoldingRange(o.start, o.end, o.kind === "section" ? vscode.FoldingRangeKind.Region : undefined));
      o.children.forEach(walk);
    };
    d.outline.forEach(walk);
    return out;
  }

  /** "line 812" of each record links to that line of the file it came from. */
  private links(doc: vscode.TextDocument): vscode.DocumentLink[] {
    const ev = this.imports.get(doc.uri.query);
    const d = this.layout(doc.uri.query);
    if (!ev?.origin || !d) return [];
    return ev.records.map((r, i) => {
      const line = d.recordLines[i]!;
      const word = /^line \d+(?:-\d+)?/.exec(doc.lineAt(Math.min(line, doc.lineCount - 1)).text)?.[0] ?? "line";
      const link = new vscode.DocumentLink(new vscode.Range(line, 0, line, word.length), ev.origin!.with({ fragment: `L${r.line + 1}` }));
      link.tooltip = vscode.l10n.t("Go to line {0} of {1}", r.line + 1, ev.source);
      return link;
    });
  }

  /** "Create Scenario from Evidence": the last import (or the given decoded document) as a scenario. */
  async createScenario(uri?: vscode.Uri): Promise<vscode.TextDocument | undefined> {
    const ev = uri?.scheme === SCHEME ? this.imports.get(uri.query) : this.lastImport;
    if (!ev) {
      void vscode.window.showInformationMessage(vscode.l10n.t("Import evidence first (Passthrough: Import Evidence…)."), vscode.l10n.t("Import Evidence…")).then((a) => a && vscode.commands.executeCommand("passthrough.importEvidence"));
      return undefined;
    }
    // A debugfs dump is a host's tables: they are synthesized from that import alone (the faults of
    // other imports would take precedence over them); otherwise every import adds its facts.
    const all = ev.records.some((r) => r.kind === "vtd-debugfs") ? ev.records : [...this.imports.values()].flatMap((x) => x.records);
    // A dump of several DMAR units: every unit (a multi-unit host, host.iommus), or the one the user picks.
    let unit: string | undefined;
    const units = all === ev.records ? (ev.hostUnits ?? []) : [];
    if (units.length > 1) {
      const every = vscode.l10n.t("All {0} units", units.length);
      const pick = await vscode.window.showQuickPick(
        [{ label: every, description: vscode.l10n.t("one scenario with every unit (host.iommus)") }, ...units.map((u) => ({ label: u.name, description: u.scalable ? vscode.l10n.t("{0} context entries, scalable mode", u.contexts) : vscode.l10n.t("{0} context entries, legacy mode", u.contexts) }))],
        { title: vscode.l10n.t("{0} holds the tables of {1} DMAR units: open which?", ev.source, units.length), placeHolder: vscode.l10n.t("Every unit in one scenario, or one unit alone.") },
      );
      if (!pick) return undefined;
      if (pick.label !== every) unit = pick.label;
    }
    let s: EngineMethods["evidenceSynthesize"]["result"];
    try {
      s = await this.engine.request("evidenceSynthesize", { records: all, title: unit !== undefined ? vscode.l10n.t("{0}: {1}", ev.source, unit) : vscode.l10n.t("Reproduced from {0}", ev.source), ...(unit !== undefined ? { unit } : {}) });
    } catch (e) {
      void vscode.window.showErrorMessage(vscode.l10n.t("Create scenario from evidence: {0}", e instanceof Error ? e.message : String(e)));
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument({ language: "passthrough", content: s.text });
    await vscode.window.showTextDocument(doc);
    if (s.hostTables !== undefined) {
      // The host's tables are in memory once the pokes have run: the views go to the step after them.
      void this.showAfterPokes(doc.uri.toString(), s.hostTables + 1);
      void vscode.window.showInformationMessage(vscode.l10n.t("Scenario created with the host's IOMMU tables: {0} entries written where the host kept them{1}. Mapping Tables shows them; Translate Address walks them.", s.hostTables, s.notes ? vscode.l10n.t(", {0} noted as comments", s.notes) : ""));
      return doc;
    }
    void vscode.window.showInformationMessage(s.reproduced === 1 ? vscode.l10n.t("Scenario created: 1 fault reproduced as steps{0}.", s.notes ? vscode.l10n.t(", {0} noted as comments", s.notes) : "") : vscode.l10n.t("Scenario created: {0} faults reproduced as steps{1}.", s.reproduced, s.notes ? vscode.l10n.t(", {0} noted as comments", s.notes) : ""));
    return doc;
  }

  /** Moves a new host-tables scenario's cursor past its pokes once its first run is in (bounded: about 30 s of tries). */
  private async showAfterPokes(uri: string, step: number): Promise<void> {
    for (let tries = 0; tries < 150; tries++) {
      const st = await Promise.resolve(vscode.commands.executeCommand<unknown>("passthrough.runToStep", uri, step)).catch(() => undefined);
      if (st) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    this.log.warn(`evidence: the host-tables scenario ${uri} did not run; its cursor stays at step 1`);
  }

  private async hover(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.Hover | undefined> {
    // Only the neighbourhood of the hovered line: bounded work for any file size. Decoded and explained in the worker.
    const from = Math.max(0, pos.line - 8);
    const to = Math.min(doc.lineCount - 1, pos.line + 8);
    const text = doc.getText(new vscode.Range(from, 0, to, doc.lineAt(to).text.length));
    const rec = await this.engine.request("evidenceHover", { text, line: pos.line - from }).catch(() => null);
    if (!rec || rec.endLine + from >= doc.lineCount) return undefined;
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**${esc(rec.kind)}**: ${esc(rec.summary)}\n\n`);
    if (rec.meaning !== undefined) {
      md.appendMarkdown(`${esc(rec.meaning)}\n\n`);
      rec.causes.forEach((c, k) => md.appendMarkdown(`${k + 1}. ${esc(c)}\n`));
    }
    md.isTrusted = false;
    md.supportHtml = false;
    return new vscode.Hover(md, new vscode.Range(rec.line + from, 0, rec.endLine + from, doc.lineAt(rec.endLine + from).text.length));
  }

  /** In the decoded document: the record's source lines and its decoded fields. */
  private decodedHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const ev = this.imports.get(doc.uri.query);
    const m = /^line (\d+)/.exec(doc.lineAt(pos.line).text);
    if (!ev || !m) return undefined;
    const rec = ev.records.find((r) => r.line + 1 === Number(m[1]));
    if (!rec) return undefined;
    const md = new vscode.MarkdownString();
    md.appendMarkdown(vscode.l10n.t("**{0}**, line {1}{2}:\n", esc(ev.source), rec.line + 1, rec.endLine > rec.line ? `-${rec.endLine + 1}` : ""));
    md.appendCodeblock(rec.text.slice(0, 4000), "log");
    md.appendCodeblock(Object.entries(rec.fields).map(([k, v]) => `${k}: ${String(v)}`).join("\n").slice(0, 4000), "yaml");
    md.isTrusted = false;
    md.supportHtml = false;
    return new vscode.Hover(md);
  }

  /** Lenses on the explained records of a log file, parsed in the worker (once per document version). */
  private async lenses(doc: vscode.TextDocument, token: vscode.CancellationToken): Promise<vscode.CodeLens[]> {
    const key = doc.uri.toString();
    let c = this.lensCache.get(key);
    if (!c || c.version !== doc.version) {
      const text = doc.getText();
      const lenses = text.length > MAX_INLINE_BYTES ? Promise.resolve([]) : this.engine.request("evidenceLenses", { text }).catch(() => []);
      c = { version: doc.version, lenses };
      this.lensCache.set(key, c);
    }
    const found = await c.lenses;
    if (token.isCancellationRequested) return [];
    return found.map((l) => new vscode.CodeLens(new vscode.Range(l.line, 0, l.line, 0), { title: `$(lightbulb) ${lensText(l.title)}`, command: "passthrough.importEvidence", arguments: [doc.uri], tooltip: vscode.l10n.t("Decode and explain this file") }));
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
    this.treeChanged.dispose();
  }
}

function esc(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>~&]/g, (c) => `\\${c}`);
}
