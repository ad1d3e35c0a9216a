/**
 * Real evidence in VS Code: "Import Evidence…" from a file (streamed in chunks with progress and
 * cancellation, never read into one string), the clipboard or the selection; the decoded records
 * with their explanations in a read-only document; "Create Scenario from Evidence"; and hovers
 * and CodeLens directly on log files.
 */
import * as vscode from "vscode";
import { createReadStream } from "node:fs";
import { isAscii } from "node:buffer";
import type { TreeNode } from "../protocol/engine.js";
import type { ExtraNodes } from "./trees.js";
import { explainRecords, type EvidenceKind, type EvidenceRecord, type Explanation, type Skipped } from "../import/index.js";
import type { EngineMethods } from "../protocol/engine.js";
import { EvidenceReader, decodeEvidenceText, type AsciiFastPath } from "../import/decode.js";

const SCHEME = "passthrough-evidence";
/** Bytes read per chunk: the parser works in slices of a few thousand lines, then the host gets the thread back. */
const CHUNK_BYTES = 256 * 1024;
/** Node's Buffer helpers for the decoder's ASCII fast path (the CLI uses the same). */
const FAST: AsciiFastPath = { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") };

/** A file's bytes in chunks: streamed from disk for `file:`, else read through vscode.workspace.fs and cut up (progress, cancellation). */
async function* fileChunks(uri: vscode.Uri): AsyncIterable<Uint8Array> {
  if (uri.scheme === "file") {
    yield* createReadStream(uri.fsPath, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>;
    return;
  }
  const bytes = await vscode.workspace.fs.readFile(uri);
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) yield bytes.subarray(at, at + CHUNK_BYTES);
}

/** Hovers and CodeLens parse a log file whole only up to this size. */
const MAX_INLINE_BYTES = 4 * 1024 * 1024;

export interface ImportedEvidence {
  source: string;
  kind: EvidenceKind;
  records: EvidenceRecord[];
  skipped: Skipped[];
  lines: number;
  explanations: Explanation[];
}

/** The engine requests evidence work runs through (in the worker: parsing a 4 MB log takes a few hundred ms). */
export interface EvidenceEngine {
  request<M extends "evidenceParse" | "evidenceExplain" | "evidenceLenses" | "evidenceSynthesize">(method: M, params: EngineMethods[M]["params"]): Promise<EngineMethods[M]["result"]>;
}

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
      return { id: `ev/${key}`, label: `Evidence: ${ev.source}`, description: `${ev.kind} · ${ev.records.length} records · ${faults} explained`, tooltip: `Imported ${ev.source}: ${ev.records.length} records, ${faults} with an explanation`, icon: "file-text", contextValue: "evidence", collapsible: 1 as const };
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
      return { id: `ev/${key}/${i}`, label: `line ${r.line + 1}: ${e?.title ?? r.kind}`, description: r.summary, tooltip: e ? `${e.meaning}\n\nMost likely: ${e.causes[0] ?? "-"}${e.evidence.length ? `\n\nEvidence: ${e.evidence.join(" ")}` : ""}` : r.summary, icon: fault ? "error" : e ? "warning" : "info", color: fault ? "errorForeground" : e ? "problemsWarningIcon.foreground" : undefined, contextValue: "evidence-record", collapsible: 0 as const, copy: r.text };
    });
  }

  /** Opens the decoded document of an import (tree item click). */
  async reveal(id: string): Promise<void> {
    const [, key] = id.split("/");
    const uri = key ? this.docs.get(key) : undefined;
    if (uri) await vscode.window.showTextDocument(uri, { preview: true });
  }
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
    );
  }

  get lastImport(): ImportedEvidence | undefined {
    return this.last ? this.imports.get(this.last) : undefined;
  }

  /** The command: pick a source, import, open the decoded document. */
  async importInteractive(arg?: vscode.Uri): Promise<vscode.TextDocument | undefined> {
    let uri = arg;
    if (!uri) {
      const editor = vscode.window.activeTextEditor;
      const picks: (vscode.QuickPickItem & { id: string })[] = [
        { id: "file", label: "$(file) From a file…", description: "dmesg / journalctl output, an iommu_groups listing, /sys/kernel/tracing/trace" },
        { id: "clipboard", label: "$(clippy) From the clipboard" },
      ];
      if (editor && !editor.selection.isEmpty) picks.push({ id: "selection", label: "$(selection) From the selection", description: vscode.workspace.asRelativePath(editor.document.uri) });
      if (editor) picks.push({ id: "editor", label: "$(file-text) The active editor", description: vscode.workspace.asRelativePath(editor.document.uri) });
      const pick = await vscode.window.showQuickPick(picks, { title: "Import evidence" });
      if (!pick) return undefined;
      if (pick.id === "clipboard") return this.importText(await vscode.env.clipboard.readText(), "clipboard");
      if (pick.id === "selection" && editor) return this.importText(editor.document.getText(editor.selection), `selection of ${vscode.workspace.asRelativePath(editor.document.uri)}`, editor.selection.start.line);
      if (pick.id === "editor" && editor) {
        if (editor.document.uri.scheme === "file") uri = editor.document.uri;
        else return this.importText(editor.document.getText(), vscode.workspace.asRelativePath(editor.document.uri));
      }
      if (!uri) {
        const files = await vscode.window.showOpenDialog({ title: "Import evidence", canSelectMany: false, openLabel: "Import" });
        if (!files?.[0]) return undefined;
        uri = files[0];
      }
    }
    return this.importFile(uri);
  }

  async importText(text: string, source: string, lineOffset = 0): Promise<vscode.TextDocument | undefined> {
    if (!text.trim()) {
      void vscode.window.showWarningMessage("Import evidence: there is no text to import.");
      return undefined;
    }
    let r: EngineMethods["evidenceParse"]["result"];
    try {
      r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Decoding ${source}` }, () => this.engine.request("evidenceParse", { text, lineOffset }));
    } catch (e) {
      void vscode.window.showErrorMessage(`Import evidence: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    return this.publish({ source, kind: r.kind, records: r.records, skipped: r.skipped, lines: r.lines, explanations: [] });
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
      void vscode.window.showErrorMessage(`Import evidence: cannot read ${name}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Importing ${name}`, cancellable: true }, async (progress, token) => {
      const reader = new EvidenceReader({ fast: FAST });
      let read = 0;
      try {
        for await (const chunk of fileChunks(uri)) {
          if (token.isCancellationRequested) return undefined;
          read += chunk.byteLength;
          reader.pushBytes(chunk);
          progress.report({ increment: (chunk.byteLength / Math.max(1, size)) * 100, message: `${(read / 2 ** 20).toFixed(1)} of ${(size / 2 ** 20).toFixed(1)} MiB` });
          // Give the extension host back between slices.
          await new Promise((ok) => setTimeout(ok, 0));
        }
      } catch (e) {
        void vscode.window.showErrorMessage(`Import evidence: cannot read ${name}: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }
      if (token.isCancellationRequested) return undefined;
      const r = reader.end();
      this.log.info(`imported ${uri.toString(true)} (${reader.encoding ?? "utf-8"}): ${r.records.length} records, ${r.skipped.length} skipped runs, ${(size / 2 ** 20).toFixed(1)} MiB`);
      return this.publish({ source: name, kind: r.kind, records: r.records, skipped: r.skipped, lines: r.lines, explanations: [] });
    });
  }

  private async publish(ev: ImportedEvidence): Promise<vscode.TextDocument> {
    // Explanations use the import's own trace records and, when a scenario is open, its maps
    // and unmaps ("IOVA … was unmapped at line 24 of the scenario"). Computed in the worker.
    const fromScenario = await this.scenarioHistory().catch(() => [] as EvidenceRecord[]);
    ev.explanations = await this.engine.request("evidenceExplain", { records: ev.records, history: [...ev.records.filter((r) => r.kind === "ftrace"), ...fromScenario] }).catch((e: unknown) => {
      this.log.warn(`evidence: explanations unavailable: ${e instanceof Error ? e.message : String(e)}`);
      return [] as Explanation[];
    });
    const key = `${Date.now().toString(36)}-${this.imports.size}`;
    this.imports.set(key, ev);
    this.last = key;
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${ev.source.replace(/[\\/]/g, "_")}.decoded`, query: key });
    this.docs.set(key, uri);
    this.treeChanged.fire();
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: false });
    return doc;
  }

  private render(uri: vscode.Uri): string {
    const ev = this.imports.get(uri.query);
    if (!ev) return "This import is no longer available: import the evidence again.";
    const byRecord = new Map(ev.explanations.map((e) => [e.record, e]));
    const out = [`# ${ev.source}: ${ev.kind}, ${ev.records.length} records, ${ev.skipped.reduce((a, s) => a + s.endLine - s.line + 1, 0)} lines skipped`, ""];
    ev.records.forEach((r, i) => {
      out.push(`line ${r.line + 1}${r.endLine > r.line ? `-${r.endLine + 1}` : ""}${r.timestamp ? ` [${r.timestamp}]` : ""}  ${r.kind}: ${r.summary}`);
      for (const c of r.context) out.push(`    | line ${c.line + 1}: ${c.text}`);
      const e = byRecord.get(i);
      if (e) {
        out.push(`    ${e.meaning}`);
        for (const x of e.evidence) out.push(`    Evidence: ${x}`);
        e.causes.forEach((c, k) => out.push(`    Cause ${k + 1}: ${c}`));
        for (const c of e.checks) out.push(`    Check: ${c}`);
      }
      out.push("");
    });
    if (ev.skipped.length) {
      out.push("# Skipped lines");
      for (const s of ev.skipped.slice(0, 500)) out.push(`line ${s.line + 1}${s.endLine > s.line ? `-${s.endLine + 1}` : ""}: ${s.reason}`);
      if (ev.skipped.length > 500) out.push(`… ${ev.skipped.length - 500} more runs`);
    }
    return out.join("\n");
  }

  /** "Create Scenario from Evidence": the last import (or the given decoded document) as a scenario. */
  async createScenario(uri?: vscode.Uri): Promise<vscode.TextDocument | undefined> {
    const ev = uri?.scheme === SCHEME ? this.imports.get(uri.query) : this.lastImport;
    if (!ev) {
      void vscode.window.showInformationMessage("Import evidence first (Passthrough: Import Evidence…).", "Import Evidence…").then((a) => a && vscode.commands.executeCommand("passthrough.importEvidence"));
      return undefined;
    }
    const all = [...this.imports.values()].flatMap((x) => x.records);
    let s: EngineMethods["evidenceSynthesize"]["result"];
    try {
      s = await this.engine.request("evidenceSynthesize", { records: all, title: `Reproduced from ${ev.source}` });
    } catch (e) {
      void vscode.window.showErrorMessage(`Create scenario from evidence: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument({ language: "passthrough", content: s.text });
    await vscode.window.showTextDocument(doc);
    void vscode.window.showInformationMessage(`Scenario created: ${s.reproduced} fault${s.reproduced === 1 ? "" : "s"} reproduced as steps${s.notes ? `, ${s.notes} noted as comments` : ""}.`);
    return doc;
  }

  private hover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    // Only the neighbourhood of the hovered line: bounded work for any file size.
    const from = Math.max(0, pos.line - 8);
    const to = Math.min(doc.lineCount - 1, pos.line + 8);
    const text = doc.getText(new vscode.Range(from, 0, to, doc.lineAt(to).text.length));
    const r = decodeEvidenceText(text);
    const i = r.records.findIndex((x) => x.line + from <= pos.line && x.endLine + from >= pos.line);
    if (i < 0) return undefined;
    const rec = r.records[i]!;
    const e = explainRecords(r.records).find((x) => x.record === i);
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**${esc(rec.kind)}**: ${esc(rec.summary)}\n\n`);
    if (e) {
      md.appendMarkdown(`${esc(e.meaning)}\n\n`);
      e.causes.slice(0, 3).forEach((c, k) => md.appendMarkdown(`${k + 1}. ${esc(c)}\n`));
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
    md.appendMarkdown(`**${esc(ev.source)}**, line ${rec.line + 1}${rec.endLine > rec.line ? `-${rec.endLine + 1}` : ""}:\n`);
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
    return found.map((l) => new vscode.CodeLens(new vscode.Range(l.line, 0, l.line, 0), { title: `$(lightbulb) ${l.title}`, command: "passthrough.importEvidence", arguments: [doc.uri], tooltip: "Decode and explain this file" }));
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
