/**
 * The host <-> engine-worker channel: one request union (each with its response type), one event
 * union. Structured-clone data only (no classes, no bigint: addresses travel as hex strings, bulk
 * trace columns as transferred ArrayBuffers). The same messages serve worker_threads and a
 * browser Web Worker.
 */
import type { Diagnostic, RequestErrorCode } from "./diagnostics.js";
import type { RpcErrorData, RpcRequest, RpcResponse } from "./rpc.js";
import type { DebugPos, ScanRequest, ScanResult, Scope, VarNode } from "./debug.js";
import type { TraceFilter, TraceSummary } from "./trace.js";
import type { EvidenceDocument, EvidenceKind, EvidenceRecord, Explanation, Skipped } from "./evidence.js";

export type { DebugPos, ScanRequest, ScanResult, Scope, VarNode, TraceFilter, TraceSummary };

export interface TraceInfo {
  runVersion: number;
  summary: TraceSummary;
  devices: { sid: number; key: string; name: string; vm?: string }[];
  vms: string[];
  /** The previous run exists, so "compare with previous run" can mark differences. */
  canCompare: boolean;
  /** Events of the previous run missing from this one, in all (compare mode; each row says where: tracePage's removed/removedAfter). */
  removed: number;
  /** The host IOMMU model's short name of each fault code (ReasonInfo.short): what the result column shows. */
  reasonNames?: Record<number, string>;
  /** Domains the domain column names instead of numbering (HostDomain.label: an SMMUv3 nesting parent's "S2 VMID 1"), by the rows' domain number. */
  domainNames?: Record<number, string>;
  /** The scenario sends requests with PASID (or binds one): the rows show the PASID column. */
  usesPasid?: boolean;
}

/** A slow-path trace event explained (engine/slowPath.ts): the DMA Trace's walk pane for a row without a walk. */
export interface SlowPathAnswer {
  event: number;
  step: number;
  /** One or two sentences in the model's vocabulary. */
  text: string;
  /** A queued command: its name as the model's spec names it and its two qwords (hex). */
  command?: { name: string; words: string[] };
  /** A VFIO map/unmap QEMU made for a guest vIOMMU: the guest step behind it, and how (in the vIOMMU model's words). */
  cause?: { step: number; text: string };
}

export type ViewId = "vms" | "groups" | "tables" | "faults";
export type Radix = "hex" | "dec";

/** One tree item as the engine describes it; the host turns it into a vscode.TreeItem. */
export interface TreeNode {
  /** Stable path, unique within its view; the parent's id is its prefix up to the last '/'. */
  id: string;
  label: string;
  description?: string;
  /** Plain text (rendered as text, never as markdown from user data). */
  tooltip?: string;
  /** A codicon id, e.g. "vm", "circuit-board". */
  icon?: string;
  /** A theme color id for the icon, e.g. "errorForeground". */
  color?: string;
  /** Drives menus: "vm", "device", "group", "pte", "fault", ... */
  contextValue?: string;
  /** 0 none, 1 collapsed, 2 expanded. */
  collapsible: 0 | 1 | 2;
  /** The workload step this node belongs to (Go to step, Run to here). */
  step?: number;
  /** For device nodes: the device key (Translate address…). */
  device?: string;
  /** Text a "Copy value" action puts on the clipboard. */
  copy?: string;
  /**
   * What a screen reader says for the node, when label and description alone would be a glyph or a
   * number ("[254] 0x…", "#9 …", "04:00.0"): words first ("Level-4 entry 254, …"). Absent: label
   * and description.
   */
  accessibilityLabel?: string;
}

/** A step outcome as the editor shows it (CodeLens, status bar, Faults view). */
export interface StepSummary {
  step: number;
  line: number;
  /** Last line of the step's item (for "go to" and hovers). */
  endLine: number;
  op: string;
  status: "ok" | "fault" | "errno" | "error";
  summary: string;
  faults: number;
  transactions: number;
  expect?: { pass: boolean; failures: string[] };
}

/** A quick fix: text edits (character offsets into the text that was run) applied as one edit. */
export interface TextEditFix {
  title: string;
  preferred?: boolean;
  edits: { start: number; end: number; text: string }[];
}

export interface EngineDiagnostic extends Diagnostic {
  fixes?: TextEditFix[];
}

export interface SessionState {
  uri: string;
  /** Document version the state belongs to. */
  version: number;
  diagnostics: EngineDiagnostic[];
  /** True when the text has errors and the state shown is the last good run's. */
  stale: boolean;
  /** Version of the run shown (= version when not stale). */
  runVersion: number;
  steps: StepSummary[];
  cursor: number;
  totals: { steps: number; events: number; faults: number; failedExpectations: number; expectations: number };
  /** Why the run stopped early (cancelled, simulation limit). */
  stoppedEarly?: string;
  /** After an early stop: the later steps with an `expect` (never run, so never checked); 0-based line. */
  notReached?: { step: number; line: number }[];
  /** Milliseconds spent parsing + running in the worker. */
  elapsedMs: number;
  /**
   * The edited region between run `fromRunVersion` and this run: old steps [prefix, oldEnd)
   * became [prefix, newEnd); steps before it keep their index, steps after it move by
   * newEnd - oldEnd (engine/stepMap.ts). The debugger moves its position and breakpoints with it.
   */
  stepShift?: { fromRunVersion: number; prefix: number; oldEnd: number; newEnd: number };
}

export interface TranslateAnswer {
  summary: string;
  /** The machine state it translated in: "before step 3 of 4" (protocol/cursor.ts describeState). */
  state?: string;
  /** The step index of that state (the machine before this step ran; = steps after the last). */
  step?: number;
  reason: number;
  hpa?: string;
  iotlbHit: boolean;
  /** A cache (IOTLB or context cache) answered, and the tables in memory now say otherwise. */
  stale: boolean;
  /** Id of the deepest Mapping Tables node of the walk, to reveal. */
  revealId?: string;
  /** The walk trail (sim/iommu.ts): kind root | context | pasid | pte; name the spec's ("SL-PML4E"); raw empty when unreadable. */
  /** indexText: the entry's index as the views print it (engine/walk.ts indexText). */
  stages: { kind: string; name?: string; level: number; index: number; indexText: string; address: string; raw: string[]; fields: [string, string][]; stop?: string }[];
}

/** Commands a hover may link to: the host trusts exactly these in the engine's markdown. */
export const HOVER_COMMANDS = ["passthrough.translate"] as const;

export interface HoverAnswer {
  /** Markdown built by the engine from escaped parts. */
  markdown: string;
  /** Character range of the hovered token on its line. */
  start: number;
  end: number;
}

export interface RowsAnswer {
  start: number;
  count: number;
  total: number;
  columns: Record<string, ArrayBufferView>;
}

/** Requests, keyed by method, with their parameters and results. */
export interface EngineMethods {
  /** slot: index into the cancellation SharedArrayBuffer reserved for this document. */
  update: { params: { uri: string; version: number; text: string; slot?: number; /** Bytes the run may hold (the user's passthrough.memoryLimit), when less than the engine's own. */ memoryLimit?: number }; result: SessionState };
  close: { params: { uri: string }; result: null };
  setCursor: { params: { uri: string; step: number }; result: SessionState };
  /** after: show the state once the cursor's step has run (protocol/cursor.ts stateStep). */
  children: { params: { uri: string; view: ViewId; ids: (string | null)[]; radix: Radix; after?: boolean }; result: (TreeNode[] | null)[] };
  /** `pasid`: a request with PASID (scalable-mode hosts; the devices' `pasid` says which take one). */
  translate: { params: { uri: string; device: string; iova: string; write: boolean; after?: boolean; pasid?: number }; result: TranslateAnswer };
  hover: { params: { uri: string; line: number; character: number; lineText: string; radix: Radix }; result: HoverAnswer | null };
  /** `pasid`: the host unit takes requests with PASID from it (scalable mode; Translate Address asks for one). */
  devices: { params: { uri: string }; result: { key: string; label: string; pasid?: boolean }[] };
  rows: { params: { uri: string; start: number; count: number }; result: RowsAnswer };
  ping: { params: Record<string, never>; result: "pong" };
  /** Every map and unmap of the run, for explaining imported faults against the scenario. */
  iovaHistory: { params: { uri: string }; result: { step: number; line: number; event: "map" | "unmap"; iova: string; end: string; domain: number; devices: string[] }[] };
  traceInfo: { params: { uri: string; filter: TraceFilter; compare: boolean }; result: TraceInfo };
  tracePage: { params: { uri: string; filter: TraceFilter; start: number; count: number; compare: boolean }; result: { start: number; count: number; matched: number; columns: Record<string, ArrayBufferView> } };
  /** Row of the first kept event at or after `event` (or of the first event of `step`). */
  traceLocate: { params: { uri: string; filter: TraceFilter; event?: number; step?: number }; result: { row: number; event: number } };
  traceNextFault: { params: { uri: string; filter: TraceFilter; row: number; dir: 1 | -1 }; result: { row: number } };
  traceTimeline: { params: { uri: string; filter: TraceFilter; buckets: number }; result: { events: Uint32Array; faults: Uint32Array; steps: Uint32Array } };
  /** `pasid`: the request's PASID, when it had one. */
  traceWalk: { params: { uri: string; event: number }; result: TranslateAnswer & { event: number; step: number; device: string; pasid?: number } };
  /** What a slow-path event (map, unmap, a queued command, attach, VM start ...) is, in the host model's words. */
  traceSlowPath: { params: { uri: string; event: number }; result: SlowPathAnswer };
  traceExport: { params: { uri: string; filter: TraceFilter; format: "csv" | "json"; start: number; count: number }; result: { text: string; done: boolean; next: number; matched: number } };
  /** Debugger: which step each 0-based line's breakpoint belongs to (null: after the last step). */
  debugLines: { params: { uri: string; lines: number[] }; result: { step: number | null; line: number | null }[] };
  debugScan: { params: { uri: string; scan: ScanRequest }; result: ScanResult & { line: number } };
  debugScopes: { params: { uri: string; pos: DebugPos }; result: Scope[] };
  debugEvaluate: { params: { uri: string; pos: DebugPos; expression: string }; result: { result: string; children?: VarNode[] } | { error: string } };
  /**
   * Evidence (kernel logs, group listings, configs) is parsed, explained and synthesized in the
   * worker: a 4 MB log takes a few hundred ms to parse, which must not block the extension host.
   */
  evidenceParse: { params: { text: string; lineOffset?: number }; result: { kind: EvidenceKind; records: EvidenceRecord[]; skipped: Skipped[]; lines: number } };
  /** context: configuration records of other imports (lspci, VM configs) that rank the causes (import/explain.ts rankFromConfig). */
  evidenceExplain: { params: { records: EvidenceRecord[]; history: EvidenceRecord[]; context?: EvidenceRecord[] }; result: Explanation[] };
  /** CodeLens of a log file: the explained records' first lines and titles. */
  evidenceLenses: { params: { text: string }; result: { line: number; title: string }[] };
  /** hostTables: the scenario holds a real host's tables from debugfs dumps (import/hostTables.ts), this many entries. */
  evidenceSynthesize: { params: { records: EvidenceRecord[]; title: string; /** A debugfs dump's DMAR unit to import (import/hostTables.ts hostTableUnits). */ unit?: string }; result: { text: string; reproduced: number; notes: number; hostTables?: number } };
  /**
   * A scenario's VM as a QEMU command line or libvirt domain XML (import/vmExport.ts), built in the
   * worker so the extension host bundles no YAML parser. Without `vm` and `format` it answers the
   * errors and the VMs only (the host asks which VM and format, then asks again).
   */
  vmExport: { params: { text: string; path: string; vm?: string; format?: "qemu" | "libvirt" }; result: { errors: number; vms: { name: string; devices: number }[]; text?: string } };
  /**
   * A file's bytes streamed into the worker's reader for import `id` (import/decode.ts
   * EvidenceReader: the same decoding as evidenceParse and the CLI), chunk by chunk: the first
   * chunk opens the reader (keeping at most `maxRecords` records), evidenceReadEnd answers the
   * records and lets it go. The extension host bundles no importer.
   */
  evidenceReadChunk: { params: { id: string; /** Bytes of the file before this chunk (0: the first, which opens the reader). */ at: number; bytes: Uint8Array; maxRecords?: number }; result: null };
  /**
   * The end of import `id`: its records (`dropped`: found beyond maxRecords), or null when it is
   * unknown or `cancel`led (the reader is let go either way). With `explain` (evidenceExplain's
   * history and context) the answer also holds what evidenceExplain and evidenceDocument would
   * (`source`: the document's heading), from the records the worker already has: a big import's
   * records cross to the host once, not three times.
   */
  evidenceReadEnd: {
    params: { id: string; cancel?: boolean; explain?: { source: string; history: EvidenceRecord[]; context: EvidenceRecord[] } };
    result: { kind: EvidenceKind; records: EvidenceRecord[]; skipped: Skipped[]; lines: number; dropped?: number; encoding?: string; explanations?: Explanation[]; laid?: EngineMethods["evidenceDocument"]["result"] } | null;
  };
  /**
   * An import's decoded document (import/document.ts) with the explanations evidenceExplain gave,
   * the records of this import that rank the causes of later ones (import/explain.ts
   * rankingContext), and the DMAR units of a debugfs dump (import/hostTables.ts hostTableUnits;
   * absent: no host tables).
   */
  evidenceDocument: {
    params: { source: string; kind: EvidenceKind; records: EvidenceRecord[]; skipped: Skipped[]; explanations: Explanation[] };
    result: { document: EvidenceDocument; ranking: EvidenceRecord[]; hostUnits?: { name: string; contexts: number; scalable: boolean }[] };
  };
  /** The hover of a log file's line `line` of `text` (a few lines around it): the record there, its meaning and its first causes. */
  evidenceHover: { params: { text: string; line: number }; result: { line: number; endLine: number; kind: string; summary: string; meaning?: string; causes: string[] } | null };
  /** Test hook: the worker throws from its message handler (a crash), or spins (a hang). */
  crash: { params: { how: "throw" | "hang" }; result: null };
}

export type Method = keyof EngineMethods;

/** A request on the wire (protocol/rpc.ts: the host's RpcClient numbers them). */
export type EngineRequest<M extends Method = Method> = RpcRequest<M, EngineMethods[M]["params"]>;

/** The error taxonomy on the wire: a code the host can act on (protocol/diagnostics.ts), a message for people. */
export type EngineError = RpcErrorData<Exclude<RequestErrorCode, "restarted">>;

export type EngineResponse = RpcResponse<EngineError["code"]>;

export type EngineEvent = { event: "log"; level: "info" | "warn" | "error"; message: string } | { event: "beat" };

export type WorkerMessage = EngineResponse | EngineEvent;

/**
 * Host -> worker: the first message carries a SharedArrayBuffer (when the platform has one)
 * through which the host cancels a stale run: slot 0 holds the newest document version per
 * session generation; a run polls it and stops when it is no longer the newest.
 */
export interface EngineInit {
  init: true;
  cancel?: SharedArrayBuffer;
  /**
   * Index of the heartbeat slot in `cancel`: the worker adds 1 to it once when it has started,
   * while it parses, between the steps of a run and every so many transactions within a step, so
   * the host's watchdog tells a long run (beating) from a hung worker (silent).
   */
  heartbeat?: number;
  /**
   * No shared memory (a browser page that is not cross-origin isolated): the worker sends its
   * heartbeat as `{ event: "beat" }` messages instead (at most a few a second).
   */
  beatMessages?: boolean;
  /**
   * The extension's l10n bundle (vscode.l10n.bundle: English message -> translation), for the
   * strings the engine builds (hovers, diagnostics); absent in English and in the CLI.
   */
  l10n?: Record<string, string | { message: string; comment: string[] }>;
}
