/**
 * The debugger's execution control over a run: movement between positions (step, step in/out,
 * step back, continue and reverse continue) with line, conditional, hit-count and log
 * breakpoints, exception filters and data breakpoints on a mapping. Backwards is exact: every
 * position is rebuilt from the run's checkpoints (Run.machineBefore), never replayed from the
 * start. What a position shows (names, variables) is debugInspect.ts's.
 */
import type { Run } from "../sim/run.js";
import type { Scenario } from "../scenario/types.js";
import { formatSid } from "../sim/bdf.js";
import { parseAddress } from "../scenario/values.js";
import { EventKind, F_FATE_SHIFT, F_WRITE } from "../trace/trace.js";
import { evalExpr, formatValue, parseExpr, truthy, type Node } from "./expr.js";
import { explainWalk } from "./walk.js";
import { EVENT_NAMES, mappingSignature, type DebugInspector, type DebugPos } from "./debugInspect.js";
import type { LineBreakpoint, DataWatch, ExceptionFilter, DebugAction, ScanRequest, ScanResult } from "../protocol/debug.js";
export type { LineBreakpoint, DataWatch, ExceptionFilter, DebugAction, ScanRequest, ScanResult };


/**
 * Names with a value both per step and per translation: a condition using them (and no
 * EVENT_NAMES) is tested on each translation of a step that has some, else once on the step.
 */
const DEVICE_NAMES = new Set(["device"]);

/** How often a breakpoint's condition is tested: on the step, on each event, or per translation when the step has any. */
type CondMode = "step" | "event" | "translation";

const isTranslation = (kind: EventKind) => kind === EventKind.Dma || kind === EventKind.Interrupt;

const hx = (v: bigint | number) => `0x${v.toString(16)}`;

export class DebugControl {
  constructor(
    private readonly view: DebugInspector,
    private readonly run: Run,
    private readonly scenario: Scenario,
  ) {}

  // ------------------------------------------------------------------ movement

  scan(req: ScanRequest): ScanResult {
    const res: ScanResult = { pos: req.from, reason: "step", description: "", logs: [], hits: { ...req.hits }, errors: [] };
    const n = this.view.steps;
    const p = req.from;
    const [es, ee] = this.view.events(p.step);
    const at = (pos: DebugPos, reason: ScanResult["reason"] = "step", description = "") => Object.assign(res, { pos, reason, description: description || this.describe(pos) });
    switch (req.action) {
      case "next":
      case "stepOut":
        return p.step >= n ? at({ step: n, event: -1 }, "end", "end of the workload") : at({ step: p.step + 1, event: -1 });
      case "stepIn":
        if (p.step >= n) return at({ step: n, event: -1 }, "end", "end of the workload");
        if (p.event < 0 && ee > es) return at({ step: p.step, event: es });
        if (p.event >= 0 && p.event + 1 < ee) return at({ step: p.step, event: p.event + 1 });
        return at({ step: p.step + 1, event: -1 });
      case "stepBack":
        if (p.event > es) return at({ step: p.step, event: p.event - 1 });
        if (p.event >= 0) return at({ step: p.step, event: -1 });
        return p.step === 0 ? at({ step: 0, event: -1 }, "entry", "start of the workload") : at({ step: p.step - 1, event: -1 });
      case "continue":
        return this.continueScan(req, res, 1);
      case "reverseContinue":
        return this.continueScan(req, res, -1);
    }
  }

  private describe(pos: DebugPos): string {
    if (pos.step >= this.view.steps) return "end of the workload";
    const step = this.scenario.workload[pos.step]!;
    if (pos.event < 0) return `step ${pos.step + 1}: ${step.op}`;
    return `step ${pos.step + 1}: ${step.op}, event #${pos.event}`;
  }

  private continueScan(req: ScanRequest, res: ScanResult, dir: 1 | -1): ScanResult {
    const n = this.view.steps;
    const parsed = new Map<number, { cond?: Node; mode: CondMode }>();
    for (const bp of req.breakpoints) {
      if (!bp.condition) {
        parsed.set(bp.id, { mode: "step" });
        continue;
      }
      const c = parseExpr(bp.condition);
      if ("error" in c) {
        res.errors.push(`breakpoint condition "${bp.condition}": ${c.error} (column ${c.column + 1})`);
        parsed.set(bp.id, { mode: "step" });
        continue;
      }
      parsed.set(bp.id, { cond: c, mode: usesAny(c, EVENT_NAMES) ? "event" : usesAny(c, DEVICE_NAMES) ? "translation" : "step" });
    }
    const translations = new Map<number, boolean>();
    const hasTranslations = (k: number): boolean => {
      let v = translations.get(k);
      if (v === undefined) {
        const [es, ee] = this.view.events(k);
        v = false;
        for (let e = es; e < ee && !v; e++) v = isTranslation(this.run.trace.kind[e]!);
        translations.set(k, v);
      }
      return v;
    };
    const watches = req.watches.map((w) => ({ w, sid: this.view.sidOf(w.device), iova: parseAddress(w.iova) }));
    const watchValue = (k: number) => {
      const m = this.run.machineBefore(k);
      return watches.map((x) => (x.sid === undefined || !x.iova.ok ? "" : mappingSignature(explainWalk(m, x.sid, x.iova.value, false))));
    };
    const stopAt = (pos: DebugPos, reason: ScanResult["reason"], description: string, text?: string, ids?: number[]) => {
      Object.assign(res, { pos, reason, description });
      if (text !== undefined) res.text = text;
      if (ids) res.breakpointIds = ids;
      return res;
    };
    /** Checks arriving at (k, -1); returns a stop or undefined. */
    const arrive = (k: number): ScanResult | undefined => {
      if (watches.length > 0 && k > 0) {
        const before = watchValue(k - 1);
        const after = watchValue(k);
        for (let i = 0; i < watches.length; i++) {
          if (before[i] !== after[i]) {
            const w = watches[i]!.w;
            const step = this.scenario.workload[k - 1]!;
            return stopAt({ step: k, event: -1 }, "data breakpoint", `mapping of ${w.iova} for ${w.device} changed`, `The mapping of IOVA ${w.iova} for ${w.device} changed in step ${k} (${step.op}, line ${this.view.lineOf(k - 1) + 1}): ${before[i]} → ${after[i]}`);
          }
        }
      }
      if (k >= n) return undefined;
      const o = this.run.outcomes[k]!;
      if (req.exceptions.includes("vfio-errno") && o.status === "errno") return stopAt({ step: k, event: -1 }, "exception", `VFIO error ${o.errno}`, `Step ${k + 1} fails: ${o.summary}`);
      if (req.exceptions.includes("group-not-viable") && o.error === "group-not-viable") return stopAt({ step: k, event: -1 }, "exception", "IOMMU group not viable", `Step ${k + 1} fails: ${o.summary}`);
      const ids: number[] = [];
      for (const bp of req.breakpoints) {
        if (bp.step !== k) continue;
        const pb = parsed.get(bp.id)!;
        if (pb.mode === "event" || (pb.mode === "translation" && hasTranslations(k))) continue;
        if (pb.cond && !this.test(pb.cond, { step: k, event: -1 }, res, bp.condition!)) continue;
        if (dir === 1 && !this.hit(bp, res)) continue;
        if (bp.logMessage !== undefined) {
          if (dir === 1) res.logs.push({ step: k, text: this.interpolate(bp.logMessage, { step: k, event: -1 }) });
          continue;
        }
        ids.push(bp.id);
      }
      if (ids.length) return stopAt({ step: k, event: -1 }, "breakpoint", `breakpoint at step ${k + 1}`, undefined, ids);
      return undefined;
    };
    /** Checks an event position. */
    const visit = (k: number, e: number): ScanResult | undefined => {
      const t = this.run.trace;
      if (t.kind[e] === EventKind.Dma && t.reason[e] !== 0) {
        const fate = (t.flags[e]! >> F_FATE_SHIFT) & 7;
        const text = `DMA fault: ${this.run.machine.iommu.reason(t.reason[e]!).label} — ${formatSid(t.sid[e]!)} ${t.flags[e]! & F_WRITE ? "write" : "read"} IOVA ${hx((BigInt(t.aHi[e]!) << 32n) | BigInt(t.aLo[e]!))}. ${this.run.machine.iommu.reason(t.reason[e]!).explanation}`;
        if (req.exceptions.includes("fault")) return stopAt({ step: k, event: e }, "exception", `DMA fault ${this.run.machine.iommu.reason(t.reason[e]!).label}`, text);
        if (req.exceptions.includes("fault-unsuppressed") && fate !== 2) return stopAt({ step: k, event: e }, "exception", `DMA fault ${this.run.machine.iommu.reason(t.reason[e]!).label}`, text);
      }
      const ids: number[] = [];
      for (const bp of req.breakpoints) {
        if (bp.step !== k) continue;
        const pb = parsed.get(bp.id)!;
        if (!pb.cond || pb.mode === "step" || (pb.mode === "translation" && !isTranslation(t.kind[e]!))) continue;
        if (!this.test(pb.cond, { step: k, event: e }, res, bp.condition!)) continue;
        if (dir === 1 && !this.hit(bp, res)) continue;
        if (bp.logMessage !== undefined) {
          if (dir === 1) res.logs.push({ step: k, text: this.interpolate(bp.logMessage, { step: k, event: e }) });
          continue;
        }
        ids.push(bp.id);
      }
      if (ids.length) return stopAt({ step: k, event: e }, "breakpoint", `breakpoint at step ${k + 1}, event #${e}`, undefined, ids);
      return undefined;
    };

    const from = req.from;
    if (dir === 1) {
      // Rest of the current step's events, then each following step.
      if (from.step < n) {
        const [es, ee] = this.view.events(from.step);
        for (let e = from.event < 0 ? es : from.event + 1; e < ee; e++) {
          const r = visit(from.step, e);
          if (r) return r;
        }
      }
      for (let k = from.step + 1; k <= n; k++) {
        const r = arrive(k);
        if (r) return r;
        if (k >= n) break;
        const [es, ee] = this.view.events(k);
        for (let e = es; e < ee; e++) {
          const v = visit(k, e);
          if (v) return v;
        }
      }
      return stopAt({ step: n, event: -1 }, "end", "end of the workload");
    }
    // Backwards: earlier events of the current step, its start, then earlier steps' events and starts.
    for (let k = Math.min(from.step, n); k >= 0; k--) {
      if (k < n) {
        const [es, ee] = this.view.events(k);
        const last = k === from.step && from.event >= 0 ? from.event - 1 : k === from.step ? -1 : ee - 1;
        for (let e = last; e >= es; e--) {
          const v = visit(k, e);
          if (v) return v;
        }
      }
      if (k === from.step && from.event < 0) continue; // we are here already
      const r = arrive(k);
      if (r) return r;
    }
    return stopAt({ step: 0, event: -1 }, "entry", "start of the workload");
  }

  private hit(bp: LineBreakpoint, res: ScanResult): boolean {
    const count = (res.hits[bp.id] ?? 0) + 1;
    res.hits[bp.id] = count;
    if (!bp.hitCondition) return true;
    const m = /^\s*(==|>=|>|<=|<|%)?\s*(\d+)\s*$/.exec(bp.hitCondition);
    if (!m) {
      res.errors.push(`hit condition "${bp.hitCondition}": expected a number, optionally after ==, >=, >, <=, < or %`);
      return true;
    }
    const v = Number(m[2]);
    switch (m[1] ?? ">=") {
      case "==":
        return count === v;
      case ">=":
        return count >= v;
      case ">":
        return count > v;
      case "<=":
        return count <= v;
      case "<":
        return count < v;
      case "%":
        return v > 0 && count % v === 0;
    }
    return true;
  }

  private test(cond: Node, pos: DebugPos, res: ScanResult, text: string): boolean {
    const v = evalExpr(cond, (name) => this.view.lookup(pos, name), () => this.view.names(pos));
    if (typeof v === "object" && v !== null && "error" in v) {
      const msg = `breakpoint condition "${text}": ${v.error}`;
      if (!res.errors.includes(msg)) res.errors.push(msg);
      return false;
    }
    return truthy(v);
  }

  private interpolate(message: string, pos: DebugPos): string {
    return message.replace(/\{([^}]*)\}/g, (_, src: string) => {
      const e = parseExpr(src);
      if ("error" in e) return `{${src}: ${e.error}}`;
      const v = evalExpr(e, (name) => this.view.lookup(pos, name), () => this.view.names(pos));
      return typeof v === "object" && v !== null && "error" in v ? `{${src}: ${v.error}}` : formatValue(v);
    });
  }
}

function usesAny(n: Node, names: Set<string>): boolean {
  switch (n.t) {
    case "id":
      return names.has(n.name);
    case "un":
      return usesAny(n.e, names);
    case "bin":
      return usesAny(n.a, names) || usesAny(n.b, names);
    default:
      return false;
  }
}
