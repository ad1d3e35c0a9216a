/**
 * The engine's request handler: one Session per open scenario, answering the typed requests of
 * protocol/engine.ts. Transport-agnostic: `serveEngine` wires it to anything with postMessage and
 * a message callback, so the Node worker_threads entry and a browser Web Worker entry are each a
 * few lines (src/worker/), and the tests drive `EngineServer` directly.
 */
import type {
  EngineDiagnostic, EngineError, EngineEvent, EngineInit, EngineMethods, EngineRequest, EngineResponse, Method, SessionState, StepSummary, TranslateAnswer,
} from "../protocol/engine.js";
import { REQUEST_ERROR_CODES } from "../protocol/diagnostics.js";
import { answer, errorData, RpcError } from "../protocol/rpc.js";
import { Session } from "./session.js";
import { treeChildren, type TreeContext } from "./trees.js";
import { unitTreePrefix } from "./trees/tables.js";
import { explainEvent, explainWalk, type WalkExplanation } from "./walk.js";
import { describeSlowPath } from "./slowPath.js";
import { hoverAt } from "./hover.js";
import * as l10n from "@vscode/l10n";
import { describeState, stateStep } from "../protocol/cursor.js";
import { parseAddress } from "../scenario/values.js";
import { bdfKey, formatSid } from "../sim/bdf.js";
import { EventKind } from "../trace/trace.js";
import { DEFAULT_MEMORY_BUDGET, DEFAULT_WORKER_BUDGET, formatBytes } from "../trace/budget.js";
import { diagnosesFault, runDiagnostics, validatorFixes } from "./fixes.js";
import { DebugModel } from "./debug.js";
import { TraceQuery, diffRuns } from "./traceQuery.js";
import { exportRows } from "./traceExport.js";
import type { Run } from "../sim/run.js";
import type { TableNode } from "../sim/iommu.js";
import { explainRecords, rankingContext, synthesizeScenario } from "../import/index.js";
import { EvidenceReader, decodeEvidenceText, type AsciiFastPath } from "../import/decode.js";
/** The importers' ASCII fast path, for the worker entries (they may import only engine/ and protocol/). */
export type { AsciiFastPath };
import { renderEvidenceDocument } from "../import/document.js";
import { DEEP_OUTLINE_RECORDS } from "../protocol/evidence.js";
import { hasHostTables, hostTableUnits } from "../import/hostTables.js";
import { toLibvirtXml, toQemuCommandLine } from "../import/vmExport.js";
import { parseScenario } from "../scenario/index.js";

/**
 * The Mapping Tables path (node keys below t/root) of the deepest entry a walk read, as far as the
 * model's tables() tree has it: BB/DF/d/i4/i3/... in legacy mode; BB/DF/p<PASID>/i4/... in scalable
 * mode, where the context entry holds the PASID entries (vtd/inspectSm.ts keys them p<hex>) and the
 * PASID is the directory index (bits 19:6) and the table index (bits 5:0) of the two PASID stages
 * (VT-d 3.4.3, scalable.ts). `dropLast`: the last entry was not present (it lives inside a collapsed
 * run): its table is revealed instead. A key the tree does not have ends the path there.
 */
export function revealKeys(root: TableNode, w: WalkExplanation, dropLast: boolean): string[] {
  const want: string[] = [];
  let pasidDir: number | undefined;
  for (const s of w.stages) {
    if (s.kind === "root") want.push(s.index.toString(16).padStart(2, "0"));
    else if (s.kind === "context") want.push(s.index.toString(16).padStart(2, "0"), "d");
    else if (s.kind === "pasid") {
      if (pasidDir === undefined) pasidDir = s.index;
      else want.push(`p${((pasidDir << 6) | s.index).toString(16)}`);
    } else want.push(String(s.index));
    if (s.stop) break;
  }
  if (dropLast) want.pop();
  const out: string[] = [];
  let node: TableNode | undefined = root;
  for (const k of want) {
    const next: TableNode | undefined = node.child(k);
    if (next === undefined) {
      // A scalable-mode context entry has no domain node: its PASID entries are its children.
      if (k === "d") continue;
      break;
    }
    out.push(k);
    node = next;
  }
  return out;
}

/** The walk's stages as the protocol carries them (Translate Address, the trace's walk pane). */
function answerStages(w: WalkExplanation): TranslateAnswer["stages"] {
  return w.stages.map((s) => {
    const st: TranslateAnswer["stages"][number] = { kind: s.kind, name: s.name, level: s.level, index: s.index, indexText: s.indexText, address: `0x${s.address.toString(16)}`, raw: s.raw.map((r) => `0x${r.toString(16).padStart(16, "0")}`), fields: s.fields };
    if (s.stop) st.stop = s.stop;
    return st;
  });
}

/** A request the engine refuses, with the code the host acts on (sent as EngineError). */
export class EngineFailure extends RpcError<EngineError["code"]> {}

/** The codes a worker may answer with ("restarted" is the host's own). */
const WIRE_CODES = REQUEST_ERROR_CODES.filter((c): c is EngineError["code"] => c !== "restarted");

interface Entry {
  session: Session;
  version: number;
  runVersion: number;
  elapsedMs: number;
  diagnostics?: EngineDiagnostic[];
  /** How the steps of run `fromRunVersion` map onto the current run's (after an update that ran). */
  stepShift?: SessionState["stepShift"];
}

export class EngineServer {
  private readonly sessions = new Map<string, Entry>();
  /** Newest document version per cancellation slot, written by the host (SharedArrayBuffer). */
  cancelSlots?: Int32Array;
  /** Index of the heartbeat slot in cancelSlots (see EngineInit). */
  heartbeat?: number;
  /** Without shared memory: the heartbeat as a message to the host (serveEngine throttles it). */
  beatMessage?: () => void;
  private readonly now: () => number;

  /** ArrayBuffer bytes all the worker's runs may hold together (trace/budget.ts DEFAULT_WORKER_BUDGET). */
  private readonly workerBudget: number;

  /** The decoder's ASCII fast path where the worker has one (Node's Buffer helpers, as the CLI uses). */
  private readonly asciiFast?: AsciiFastPath;
  /** evidenceDocument: the decoded document of an import, its ranking records and its DMAR units. */
  private layOut(p: EngineMethods["evidenceDocument"]["params"]): EngineMethods["evidenceDocument"]["result"] {
    this.beat();
    const document = renderEvidenceDocument(p, undefined, () => this.beat());
    // A big import's outline goes without the groups' one-line items (the host shows records and
    // groups only): 50 000 records' items cost more to copy to the host than to render.
    if (document.outline.length > DEEP_OUTLINE_RECORDS) for (const o of document.outline) for (const c of o.children) c.children = [];
    this.beat();
    return { document, ranking: rankingContext([p.records]), ...(hasHostTables(p.records) ? { hostUnits: hostTableUnits(p.records) } : {}) };
  }

  /** A sign of life for the host's watchdog between the phases of a long request (cheap: one atomic add). */
  private beat(): void {
    if (this.cancelSlots !== undefined && this.heartbeat !== undefined) Atomics.add(this.cancelSlots, this.heartbeat, 1);
    else this.beatMessage?.();
  }
  /** The evidence files being streamed in (evidenceReadChunk), by import id, with the bytes each has read. */
  private readonly reads = new Map<string, { reader: EvidenceReader; at: number }>();

  constructor(now: () => number = () => Date.now(), opts: { workerBudget?: number; asciiFast?: AsciiFastPath } = {}) {
    this.now = now;
    this.workerBudget = opts.workerBudget ?? DEFAULT_WORKER_BUDGET;
    if (opts.asciiFast) this.asciiFast = opts.asciiFast;
  }

  /**
   * The memory budget of the run an update of `e` is about to build: what the worker's budget
   * leaves beside every run the worker holds (other documents' runs, their comparison runs, and
   * this document's own, which stays until the new one replaces it), at most a run's own budget.
   * Comparison runs are let go first when the room is short. Undefined: a run's own budget.
   */
  private budgetFor(e: Entry): { bytes: number; why?: string } | undefined {
    const held = () => {
      let bytes = 0;
      for (const x of this.sessions.values()) bytes += x.session.heldBytes;
      return bytes;
    };
    if (this.workerBudget - held() >= DEFAULT_MEMORY_BUDGET) return undefined;
    for (const x of this.sessions.values()) x.session.dropComparison();
    const h = held();
    const room = this.workerBudget - h;
    if (room >= DEFAULT_MEMORY_BUDGET) return undefined;
    const others = [...this.sessions.values()].filter((x) => x !== e && x.session.heldBytes > 0).length;
    const holders = [others > 0 ? `${others} other open scenario${others === 1 ? "" : "s"}` : "", e.session.heldBytes > 0 ? "this scenario's last run" : ""].filter(Boolean).join(" and ");
    // A run gets at least a little room: it then stops at its first large step, with this message.
    const why = holders ? `the engine's ${formatBytes(this.workerBudget)} less ${formatBytes(h)} held by ${holders}; close scenarios you are not using` : `the engine's limit of ${formatBytes(this.workerBudget)}`;
    return { bytes: Math.max(room, 16 * 1024 * 1024), why };
  }

  handle<M extends Method>(method: M, params: EngineMethods[M]["params"]): EngineMethods[M]["result"] {
    const h = this.handlers[method] as unknown as (p: EngineMethods[M]["params"]) => EngineMethods[M]["result"];
    if (h === undefined) throw new EngineFailure("bad-params", `unknown method ${String(method)}`);
    return h(params);
  }

  private entry(uri: string): Entry {
    const e = this.sessions.get(uri);
    if (e === undefined) throw new EngineFailure("no-session", `no scenario open for ${uri}`);
    return e;
  }

  private state(uri: string, e: Entry): SessionState {
    const s = e.session;
    const run = s.run;
    const lines = s.stepLines();
    const steps: StepSummary[] = s.outcomes.map((o) => {
      const step = s.scenario!.workload[o.step]!;
      const sum: StepSummary = { step: o.step, line: lines[o.step]?.[0] ?? step.range.line, endLine: lines[o.step]?.[1] ?? step.range.line, op: step.op, status: o.status, summary: o.summary, faults: o.faults, transactions: o.transactions };
      if (o.expect) sum.expect = o.expect;
      return sum;
    });
    let faults = 0;
    if (run) {
      const t = run.trace;
      for (let i = 0; i < t.length; i++) if (t.reason[i] !== 0 && t.kind[i] === EventKind.Dma) faults++;
    }
    e.diagnostics ??= this.diagnosticsOf(s);
    const diagnostics = e.diagnostics;
    const st: SessionState = {
      uri,
      version: e.version,
      diagnostics,
      stale: s.stale,
      runVersion: e.runVersion,
      steps,
      cursor: s.cursor.step,
      totals: { steps: s.outcomes.length, events: run?.trace.length ?? 0, faults, failedExpectations: run?.failedExpectations.length ?? 0, expectations: run?.expectations ?? 0 },
      elapsedMs: e.elapsedMs,
    };
    if (run?.stoppedEarly) st.stoppedEarly = run.stoppedEarly;
    const notReached = run?.notReached.filter((x) => x.expect).map((x) => ({ step: x.index, line: lines[x.index]?.[0] ?? x.range.line }));
    if (notReached?.length) st.notReached = notReached;
    if (e.stepShift) st.stepShift = e.stepShift;
    return st;
  }

  /** Validator diagnostics with their fixes, plus the run's unexpected outcomes (computed once per update). */
  private diagnosticsOf(s: Session): EngineDiagnostic[] {
    const run = s.run;
    const text = s.sourceText;
    // Fix offsets point into the text of the run; while stale the diagnostics belong to newer text.
    const diagnostics = validatorFixes(s.diagnostics, s.stale ? undefined : s.scenario, run, text);
    if (run && s.scenario && !s.stale) diagnostics.push(...runDiagnostics(s.scenario, run, text));
    return diagnostics;
  }

  private traceQueries = new WeakMap<object, TraceQuery>();
  private diffs = new WeakMap<object, ReturnType<typeof diffRuns>>();

  private traceQuery(uri: string): { q: TraceQuery; e: Entry } {
    const e = this.entry(uri);
    const run = e.session.run;
    if (!run || !e.session.scenario) throw new EngineFailure("not-ready", "the scenario has not run: fix its errors first");
    let q = this.traceQueries.get(run);
    if (!q) {
      q = new TraceQuery(run, e.session.scenario, (sid) => this.deviceOfSid(run, sid));
      this.traceQueries.set(run, q);
    }
    return { q, e };
  }

  private diffFor(e: Entry): ReturnType<typeof diffRuns> {
    const run = e.session.run!;
    let d = this.diffs.get(run);
    if (!d) {
      d = diffRuns(e.session.previous!, run);
      this.diffs.set(run, d);
    }
    return d;
  }

  private sidNames = new WeakMap<object, Map<number, string>>();

  private deviceOfSid(run: Run, sid: number): string {
    let m = this.sidNames.get(run);
    if (!m) {
      m = new Map();
      const pci = run.machine.pci;
      for (const d of pci.devices) for (const a of pci.dmaAliases(d)) if (!m.has(a)) m.set(a, d.key);
      for (const d of pci.devices) m.set(pci.requesterId(d), d.key);
      this.sidNames.set(run, m);
    }
    return m.get(sid) ?? formatSid(sid);
  }

  private debugModel(uri: string): DebugModel {
    const s = this.entry(uri).session;
    if (!s.run || !s.scenario) throw new EngineFailure("not-ready", "the scenario has not run: fix its errors first");
    return new DebugModel(s.run, s.scenario, s.stepLines());
  }

  private treeContext(e: Entry, after = false): TreeContext | undefined {
    const s = e.session;
    const run = s.run;
    if (!run || !s.scenario) return undefined;
    const step = stateStep(s.cursor.step, run.outcomes.length, after);
    return { machine: run.machineBefore(step), run, scenario: s.scenario, cursor: step, radix: "hex" };
  }

  private readonly handlers: { [M in Method]: (p: EngineMethods[M]["params"]) => EngineMethods[M]["result"] } = {
    update: (p) => {
      let e = this.sessions.get(p.uri);
      if (e === undefined) {
        e = { session: new Session(p.uri), version: p.version, runVersion: -1, elapsedMs: 0 };
        this.sessions.set(p.uri, e);
      }
      const slots = this.cancelSlots;
      const slot = p.slot;
      const hb = this.heartbeat;
      // The sign of life the host's watchdog looks for: given while the text is parsed, between
      // the steps of the run and every so many transactions within a long step (and later while a
      // step is replayed for a query). Cheap: one atomic add.
      const progress = slots !== undefined && hb !== undefined ? () => void Atomics.add(slots, hb, 1) : this.beatMessage;
      // A newer version of the document stops this run (polled where progress is given).
      const cancelled = slots !== undefined && slot !== undefined ? () => Atomics.load(slots, slot) !== p.version : undefined;
      const t0 = this.now();
      const r = e.session.update(p.text, cancelled, progress, limitBudget(this.budgetFor(e), p.memoryLimit));
      e.diagnostics = undefined;
      if (r.cancelled) throw new EngineFailure("cancelled", `version ${p.version} was superseded`);
      e.version = p.version;
      e.elapsedMs = this.now() - t0;
      if (r.ran) {
        if (e.session.lastShift && e.runVersion >= 0) e.stepShift = { fromRunVersion: e.runVersion, ...e.session.lastShift };
        else delete e.stepShift;
        e.runVersion = p.version;
      }
      const st = this.state(p.uri, e);
      if (r.error) st.diagnostics = [...st.diagnostics, { severity: "error", code: "simulation-error", message: r.error, hint: l10n.t("Reduce the scenario's memory or work, or report the scenario that caused this."), range: { start: 0, end: 0, line: 0, column: 0 } }];
      return st;
    },
    close: (p) => {
      this.sessions.delete(p.uri);
      return null;
    },
    setCursor: (p) => {
      const e = this.entry(p.uri);
      e.session.setCursor(p.step);
      return this.state(p.uri, e);
    },
    children: (p) => {
      const e = this.entry(p.uri);
      const ctx = this.treeContext(e, p.after ?? false);
      if (!ctx) return p.ids.map(() => null);
      ctx.radix = p.radix;
      return p.ids.map((id) => treeChildren(p.view, id, ctx));
    },
    translate: (p) => {
      const e = this.entry(p.uri);
      const run = e.session.run;
      if (!run) throw new EngineFailure("not-ready", "the scenario has not run yet: fix its errors first");
      // The state the tree views show: before the cursor's step, or after it (the views' toggle).
      const step = stateStep(e.session.cursor.step, run.outcomes.length, p.after ?? false);
      const m = run.machineBefore(step);
      const key = bdfKey(p.device);
      const dev = key ? m.pci.device(key) : undefined;
      if (!dev) throw new EngineFailure("bad-params", `no host device ${p.device}`);
      const a = parseAddress(p.iova.trim());
      if (!a.ok) throw new EngineFailure("bad-params", `${a.message} (${a.hint})`);
      const sid = m.pci.requesterId(dev);
      if (p.pasid !== undefined) {
        // PCIe PASIDs are 20 bits (PASID TLP prefix); only a scalable-mode unit takes requests with one.
        if (!Number.isInteger(p.pasid) || p.pasid < 0 || p.pasid > 0xfffff) throw new EngineFailure("bad-params", `PASID ${String(p.pasid)} is not a 20-bit number (0 to 0xfffff)`);
        if (e.session.scenario?.host.iommu.scalable !== true) throw new EngineFailure("bad-params", "requests with PASID need a scalable-mode host (host.iommu.scalable: true); a legacy root table faults them");
      }
      const w = explainWalk(m, sid, a.value, p.write, p.pasid);
      const ans: TranslateAnswer = {
        summary: w.summary,
        state: describeState(e.session.cursor.step, run.outcomes.length, p.after ?? false),
        step,
        reason: w.reason,
        iotlbHit: w.iotlbHit,
        stale: w.stale,
        stages: answerStages(w),
      };
      if (w.hpa !== undefined) ans.hpa = `0x${w.hpa.toString(16)}`;
      const last = w.stages[w.stages.length - 1];
      // The row of the device's unit (a host of several units: host.iommus).
      const unit = m.hostUnits.unitOf(sid);
      if (w.stages.length) ans.revealId = [unitTreePrefix(unit), "root", ...revealKeys((m.hostUnits.units[unit] ?? m.iommu).tables().root, w, last?.stop !== undefined && last.kind === "pte" && w.cause === "not-present")].join("/");
      return ans;
    },
    hover: (p) => {
      const e = this.entry(p.uri);
      const s = e.session;
      const stepIndex = s.stepAtLine(p.line);
      const run = s.run;
      if (!run || !s.scenario) return null;
      const machine = run.machineBefore(stepIndex ?? s.cursor.step);
      const o = stepIndex !== undefined ? run.outcomes[stepIndex] : undefined;
      // The run's diagnostic on this step (engine/fixes.ts runDiagnostics) shows in the same hover.
      const diagnosed = o !== undefined && diagnosesFault(o);
      return hoverAt({ machine, step: stepIndex !== undefined ? s.scenario.workload[stepIndex] : undefined, lineText: p.lineText, character: p.character, radix: p.radix, stepIndex: stepIndex ?? s.cursor.step, steps: run.outcomes.length, diagnosed });
    },
    devices: (p) => {
      const e = this.entry(p.uri);
      const m = e.session.machineAtCursor();
      if (!m) return [];
      const pasid = e.session.scenario?.host.iommu.scalable === true;
      return m.pci.devices.filter((d) => !d.isBridge).map((d) => ({ key: d.key, label: `${d.key}${d.spec.name ? ` ${d.spec.name}` : ""}${d.spec.driver ? ` (${d.spec.driver})` : ""}`, ...(pasid ? { pasid } : {}) }));
    },
    rows: (p) => this.entry(p.uri).session.rows(p.start, p.count),
    ping: () => "pong",
    evidenceParse: (p) => decodeEvidenceText(p.text, { lineOffset: p.lineOffset ?? 0 }),
    evidenceExplain: (p) => explainRecords(p.records, p.history, p.context, () => this.beat()),
    evidenceReadChunk: (p) => {
      let r = this.reads.get(p.id);
      if (!r && p.at === 0) this.reads.set(p.id, (r = { reader: new EvidenceReader({ ...(this.asciiFast ? { fast: this.asciiFast } : {}), ...(p.maxRecords !== undefined ? { maxRecords: p.maxRecords } : {}) }), at: 0 }));
      // A chunk of a read this worker never opened (it was restarted mid-import): the start is lost.
      if (!r || r.at !== p.at) throw new RpcError("bad-params", `import ${p.id} lost its first ${p.at} bytes (the engine was restarted); import the file again`);
      r.reader.pushBytes(p.bytes);
      r.at += p.bytes.byteLength;
      return null;
    },
    evidenceReadEnd: (p) => {
      const r = this.reads.get(p.id);
      this.reads.delete(p.id);
      if (!r || p.cancel) return null;
      const d = r.reader.end();
      const read = { ...d, ...(r.reader.encoding !== undefined ? { encoding: r.reader.encoding } : {}) };
      if (!p.explain) return read;
      this.beat();
      const explanations = explainRecords(d.records, [...d.records.filter((x) => x.kind === "ftrace"), ...p.explain.history], p.explain.context, () => this.beat());
      return { ...read, explanations, laid: this.layOut({ source: p.explain.source, kind: d.kind, records: d.records, skipped: d.skipped, explanations }) };
    },
    evidenceDocument: (p) => this.layOut(p),
    evidenceHover: (p) => {
      const r = decodeEvidenceText(p.text);
      const i = r.records.findIndex((x) => x.line <= p.line && x.endLine >= p.line);
      const rec = r.records[i];
      if (!rec) return null;
      const e = explainRecords(r.records).find((x) => x.record === i);
      return { line: rec.line, endLine: rec.endLine, kind: rec.kind, summary: rec.summary, ...(e ? { meaning: e.meaning } : {}), causes: e ? e.causes.slice(0, 3) : [] };
    },
    evidenceLenses: (p) => {
      const r = decodeEvidenceText(p.text);
      if (!r.records.length) return [];
      return explainRecords(r.records, r.records.filter((x) => x.kind === "ftrace")).map((e) => ({ line: r.records[e.record]!.line, title: e.title }));
    },
    vmExport: (p) => {
      const parsed = parseScenario(p.text, p.path);
      const errors = parsed.diagnostics.filter((d) => d.severity === "error").length;
      const s = errors === 0 ? parsed.scenario : undefined;
      const vms = s ? s.vms.map((v) => ({ name: v.name, devices: v.devices.length })) : [];
      if (!s || p.vm === undefined || p.format === undefined || !s.vms.some((v) => v.name === p.vm)) return { errors, vms };
      return { errors, vms, text: p.format === "qemu" ? toQemuCommandLine(s, p.vm) : toLibvirtXml(s, p.vm) };
    },
    evidenceSynthesize: (p) => {
      const s = synthesizeScenario(p.records, p.title, p.unit !== undefined ? { unit: p.unit } : {});
      return { text: s.text, reproduced: s.reproduced.length, notes: s.notes.length, ...(s.hostTables !== undefined ? { hostTables: s.hostTables } : {}) };
    },
    iovaHistory: (p) => {
      const { e } = this.traceQuery(p.uri);
      const run = e.session.run!;
      const lines = e.session.stepLines();
      const t = run.trace;
      // Which devices a domain's mappings belong to: the scenario's VMs and their devices.
      const byVm = new Map(e.session.scenario!.vms.map((v) => [v.name, v.devices]));
      const domainDevices = new Map<number, string[]>();
      for (const vm of run.machine.vms.values()) if (vm.domain) domainDevices.set(vm.domain.did, byVm.get(vm.spec.name) ?? vm.devices);
      const allDevices = e.session.scenario!.vms.flatMap((v) => v.devices);
      const out: EngineMethods["iovaHistory"]["result"] = [];
      for (let i = 0; i < t.length && out.length < 100_000; i++) {
        const k = t.kind[i];
        if (k !== EventKind.Map && k !== EventKind.Unmap) continue;
        const iova = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
        const size = (BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!);
        const step = t.step[i]!;
        out.push({ step, line: lines[step]?.[0] ?? 0, event: k === EventKind.Map ? "map" : "unmap", iova: `0x${iova.toString(16)}`, end: `0x${(iova + size).toString(16)}`, domain: t.did[i]!, devices: domainDevices.get(t.did[i]!) ?? allDevices });
      }
      return out;
    },
    traceInfo: (p) => {
      const { q, e } = this.traceQuery(p.uri);
      // The devices the rows show (and free-text search matches): one list, TraceQuery's.
      const devices = q.devices();
      const prev = e.session.previous;
      let removed = 0;
      if (p.compare && prev) for (const r of this.diffFor(e).removed) removed += r;
      return { runVersion: e.runVersion, summary: q.summary(p.filter), devices, vms: e.session.scenario!.vms.map((v) => v.name), canCompare: prev !== undefined, removed, reasonNames: q.reasonNames(), domainNames: q.domainNames(), usesPasid: q.tags.usesPasid };
    },
    tracePage: (p) => {
      const { q, e } = this.traceQuery(p.uri);
      const diff = p.compare && e.session.previous ? this.diffFor(e).marks : undefined;
      const list = q.match(p.filter);
      const start = Math.max(0, Math.min(p.start, list.length));
      const columns = q.page(p.filter, start, Math.min(p.count, 4096), diff);
      return { start, count: columns.index.length, matched: list.length, columns };
    },
    traceLocate: (p) => {
      const { q, e } = this.traceQuery(p.uri);
      const event = p.event ?? e.session.run!.outcomes[Math.max(0, Math.min(p.step ?? 0, e.session.run!.outcomes.length - 1))]?.eventStart ?? 0;
      return { row: q.locate(p.filter, event), event };
    },
    traceNextFault: (p) => ({ row: this.traceQuery(p.uri).q.nextFault(p.filter, p.row, p.dir) }),
    traceTimeline: (p) => this.traceQuery(p.uri).q.timeline(p.filter, p.buckets),
    traceWalk: (p) => {
      const { e } = this.traceQuery(p.uri);
      const run = e.session.run!;
      const t = run.trace;
      if (!(p.event >= 0 && p.event < t.length)) throw new EngineFailure("bad-params", `no event #${p.event}`);
      const step = t.step[p.event]!;
      const w = explainEvent(run, p.event);
      const ans: TranslateAnswer & { event: number; step: number; device: string; pasid?: number } = {
        event: p.event,
        step,
        device: this.deviceOfSid(run, t.sid[p.event]!),
        summary: w.summary,
        reason: w.reason,
        iotlbHit: w.iotlbHit,
        stale: w.stale,
        stages: answerStages(w),
      };
      if (w.hpa !== undefined) ans.hpa = `0x${w.hpa.toString(16)}`;
      if (w.translation.request.pasid !== undefined) ans.pasid = w.translation.request.pasid;
      return ans;
    },
    traceSlowPath: (p) => {
      const run = this.traceQuery(p.uri).e.session.run!;
      if (!(p.event >= 0 && p.event < run.trace.length)) throw new EngineFailure("bad-params", `no event #${p.event}`);
      return describeSlowPath(run, p.event);
    },
    traceExport: (p) => {
      const { q, e } = this.traceQuery(p.uri);
      return exportRows(q, e.session.run!, p.filter, p.format, p.start, p.count, (sid) => this.deviceOfSid(e.session.run!, sid));
    },
    debugLines: (p) => {
      const m = this.debugModel(p.uri);
      return p.lines.map((line) => {
        const step = m.stepForLine(line);
        return step === undefined ? { step: null, line: null } : { step, line: m.lineOf(step) };
      });
    },
    debugScan: (p) => {
      const m = this.debugModel(p.uri);
      const r = m.scan(p.scan);
      return { ...r, line: m.lineOf(r.pos.step) };
    },
    debugScopes: (p) => this.debugModel(p.uri).scopes(p.pos),
    debugEvaluate: (p) => this.debugModel(p.uri).evaluate(p.pos, p.expression),
    crash: (p) => {
      if (p.how === "throw") throw new Error("engine crash requested (test hook)");
      for (;;) {
        // spin: a hung worker, for the supervisor's watchdog test
      }
    },
  };
}

/** The least time between two heartbeat messages (when the host and worker share no memory). */
export const BEAT_MESSAGE_MS = 250;

/** The smallest transport a worker offers. */
export interface Endpoint {
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  onMessage(listener: (message: unknown) => void): void;
}

/** Serves EngineServer over an endpoint: requests in, responses (with transfers) out. */
export function serveEngine(endpoint: Endpoint, server = new EngineServer(), now: () => number = () => Date.now()): EngineServer {
  endpoint.onMessage((raw) => {
    const msg = raw as EngineRequest | EngineInit;
    if ("init" in msg) {
      if (msg.cancel) server.cancelSlots = new Int32Array(msg.cancel);
      if (msg.heartbeat !== undefined) server.heartbeat = msg.heartbeat;
      // The strings the engine builds (hovers, diagnostics) in the user's language.
      if (msg.l10n && Object.keys(msg.l10n).length > 0) l10n.config({ contents: msg.l10n });
      if (msg.beatMessages) {
        // No shared memory: beats travel as messages, at most one per BEAT_MESSAGE_MS (a run gives
        // progress many times a second; the host's watchdog needs one every few seconds).
        let last = -Infinity;
        const beat: EngineEvent = { event: "beat" };
        server.beatMessage = () => {
          const t = now();
          if (t - last < BEAT_MESSAGE_MS) return;
          last = t;
          endpoint.post(beat);
        };
        endpoint.post(beat); // the first beat: loaded and ready
      }
      // The first beat: the worker has loaded and is ready (the host allows a slow start until then).
      if (server.cancelSlots !== undefined && server.heartbeat !== undefined) Atomics.add(server.cancelSlots, server.heartbeat, 1);
      return;
    }
    if (msg.method === "crash" && (msg.params as { how: string }).how === "throw") {
      // A real crash: thrown outside the try so the worker dies as it would on a bug.
      setTimeout(() => {
        throw new Error("engine crash requested (test hook)");
      });
      return;
    }
    // The engine answers synchronously (one request at a time, in order).
    const res = answer(msg.id, () => server.handle(msg.method, msg.params), (e) => errorData(e, WIRE_CODES, "internal")) as EngineResponse;
    endpoint.post(res, res.ok ? transfersOf(msg.method, res.result) : []);
  });
  return server;
}

/** The typed arrays of a result that travel as transferred ArrayBuffers (bulk trace columns). */
function transfersOf(method: Method, result: unknown): ArrayBuffer[] {
  const transfer: ArrayBuffer[] = [];
  if (method === "rows") {
    for (const v of Object.values((result as EngineMethods["rows"]["result"]).columns)) transfer.push(v.buffer as ArrayBuffer);
  }
  if (method === "tracePage") {
    for (const v of Object.values((result as EngineMethods["tracePage"]["result"]).columns)) transfer.push(v.buffer as ArrayBuffer);
  }
  if (method === "traceTimeline") {
    const r = result as EngineMethods["traceTimeline"]["result"];
    transfer.push(r.events.buffer as ArrayBuffer, r.faults.buffer as ArrayBuffer, r.steps.buffer as ArrayBuffer);
  }
  return transfer;
}

/** The run's budget under the user's limit (the setting passthrough.memoryLimit), when that is the smaller. */
export function limitBudget(budget: { bytes: number; why?: string } | undefined, limit: number | undefined): { bytes: number; why?: string } | undefined {
  if (limit === undefined || limit >= (budget?.bytes ?? DEFAULT_MEMORY_BUDGET)) return budget;
  return { bytes: limit, why: "the setting passthrough.memoryLimit" };
}
