/**
 * The `passthrough` debug adapter (inline, on @vscode/debugadapter): the scenario's workload is
 * the program, a workload item is a statement, its translation events are what Step Into walks.
 * Step back and reverse continue land on exact states (the engine rebuilds them from the run's
 * checkpoints). Breakpoints on workload lines (conditional, hit counts, logpoints), exception
 * filters for DMA faults, VFIO errors and group viability, data breakpoints on the mapping of an
 * IOVA; Variables scopes for the step, the translation's walk, IOMMU registers, IOTLB and memory
 * slots; Debug Console commands (`translate`, `pte`, `groups`) and field expressions.
 *
 * No `vscode` import: the adapter talks to the engine through an EngineLink, so tests drive it
 * in-process with the engine itself, and the extension hands it the worker.
 */
import { DebugSession, ContinuedEvent, InitializedEvent, OutputEvent, StoppedEvent, TerminatedEvent, Thread, StackFrame, Scope as DapScope, Source, Handles, InvalidatedEvent, BreakpointEvent } from "@vscode/debugadapter";
import type { DebugProtocol } from "@vscode/debugprotocol";
import type { EngineMethods, Method, SessionState } from "../protocol/engine.js";
import type { DebugAction, DebugPos, ExceptionFilter, LineBreakpoint, DataWatch, ScanResult, VarNode } from "../protocol/debug.js";
import { mapStep } from "../engine/stepMap.js";
import { reformatNumber } from "../engine/expr.js";
import { parseAddress } from "../scenario/values.js";
import { bdfKey } from "../sim/bdf.js";
import * as l10n from "@vscode/l10n";

export interface EngineLink {
  request<M extends Method>(method: M, params: EngineMethods[M]["params"]): Promise<EngineMethods[M]["result"]>;
  /** Opens (or finds) the scenario at `program` and returns its uri and current state. */
  open(program: string): Promise<{ uri: string; state: SessionState } | { error: string }>;
  /** Moves the shared cursor (trees, editor highlight) to a step. */
  setCursor(uri: string, step: number): void;
  /** New runs of a scenario (the user edited it). */
  onDidRun(listener: (uri: string, state: SessionState) => void): { dispose(): void };
}

export interface LaunchArguments extends DebugProtocol.LaunchRequestArguments {
  /** The scenario file (`program` is accepted too, as other debuggers name it). */
  scenario?: string;
  program?: string;
  stopOnEntry?: boolean;
  stopOnFault?: boolean;
}

export const EXCEPTION_FILTERS: DebugProtocol.ExceptionBreakpointsFilter[] = [
  { filter: "fault", label: l10n.t("All DMA faults"), description: l10n.t("Stop at every translation the IOMMU faults"), default: false },
  { filter: "fault-unsuppressed", label: l10n.t("DMA faults not suppressed by FPD"), description: l10n.t("Stop at faults whose context entry does not set FPD (the ones the OS sees)"), default: true },
  { filter: "vfio-errno", label: l10n.t("VFIO errors"), description: l10n.t("Stop before a step whose VFIO ioctl fails with an errno"), default: true },
  { filter: "group-not-viable", label: l10n.t("IOMMU group not viable"), description: l10n.t("Stop before a step that VFIO refuses because the group is not viable"), default: true },
];

const THREAD = 1;

const ACTION_LABELS: Record<DebugAction, string> = {
  next: l10n.t("Step over"),
  stepIn: l10n.t("Step into"),
  stepOut: l10n.t("Step out"),
  stepBack: l10n.t("Step back"),
  continue: l10n.t("Continue"),
  reverseContinue: l10n.t("Reverse continue"),
};

/** A BDF compared by its normalised key (sim/bdf.ts: "0000:04:00.0" and "4:0.0" name 04:00.0). */
const keyOf = (bdf: string) => bdfKey(bdf) ?? bdf.trim().toLowerCase();

/** An error as one line for the console: its message's first line, no stack. */
function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : typeof e === "string" ? e : (e as { message?: unknown } | null)?.message;
  const line = (typeof msg === "string" ? msg : String(e)).split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? l10n.t("unknown error");
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

export class PassthroughDebugSession extends DebugSession {
  private uri?: string;
  private program = "";
  private pos: DebugPos = { step: 0, event: -1 };
  private steps = 0;
  private lines: number[] = [];
  /** Document version of the run being debugged: a state for the same run is not an edit. */
  private runVersion = -1;
  private breakpoints: LineBreakpoint[] = [];
  /** The exception filters the user selected (see activeExceptions). */
  private exceptions: ExceptionFilter[] = [];
  private watches: DataWatch[] = [];
  private hits: Record<number, number> = {};
  private nextBpId = 1;
  private readonly vars = new Handles<VarNode[]>();
  private launchArgs?: LaunchArguments;
  private runSub?: { dispose(): void };
  private configured?: () => void;
  private readonly configurationDone = new Promise<void>((ok) => (this.configured = ok));
  private reportedErrors = new Set<string>();
  /** Numbers the moves: only the latest one may stop the session (an older scan answering late is dropped). */
  private moveSeq = 0;

  constructor(private readonly link: EngineLink) {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  /** Every handler goes through here: failures become error responses, never stack traces. */
  private guard(response: DebugProtocol.Response, fn: () => Promise<void>): void {
    fn().catch((e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      this.sendErrorResponse(response, { id: 1000, format: msg.replace(/[{}]/g, ""), showUser: true });
    });
  }

  protected override initializeRequest(response: DebugProtocol.InitializeResponse): void {
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsStepBack: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsEvaluateForHovers: true,
      supportsValueFormattingOptions: true,
      supportsDataBreakpoints: true,
      supportsRestartRequest: true,
      supportsTerminateRequest: true,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
    };
    this.sendResponse(response);
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.sendResponse(response);
    this.configured?.();
  }

  protected override launchRequest(response: DebugProtocol.LaunchResponse, args: LaunchArguments): void {
    this.guard(response, async () => {
      const file = args.scenario ?? args.program;
      if (!file) throw new Error(l10n.t('The launch configuration needs "scenario": the *.passthrough.yaml to debug.'));
      const opened = await this.link.open(file);
      if ("error" in opened) throw new Error(opened.error);
      const errors = opened.state.diagnostics.filter((d) => d.severity === "error");
      if (opened.state.stale || errors.length > 0 || opened.state.runVersion < 0) {
        const first = errors[0];
        throw new Error(l10n.t("{0} has {1}{2}. Fix them (see the Problems view) and launch again.", file, errors.length === 1 ? l10n.t("1 error") : l10n.t("{0} errors", errors.length), first ? l10n.t("; the first, at line {0}, column {1}: {2}", first.range.line + 1, first.range.column + 1, first.message) : ""));
      }
      this.uri = opened.uri;
      this.program = file;
      this.launchArgs = args;
      this.steps = opened.state.steps.length;
      this.lines = opened.state.steps.map((x) => x.line);
      this.runVersion = opened.state.runVersion;
      this.runSub = this.link.onDidRun((uri, state) => {
        if (uri === this.uri) this.onEdit(state);
      });
      this.sendResponse(response);
      this.sendEvent(new InitializedEvent());
      await this.configurationDone;
      await this.begin("Launch");
    });
  }

  /** Launch and restart: to the start of the workload, hit counts reset (kept until the move succeeds). */
  private async begin(label: string): Promise<void> {
    const args = this.launchArgs!;
    if (args.stopOnEntry) {
      this.moveSeq++;
      this.stopAt({ pos: { step: 0, event: -1 }, reason: "entry", description: l10n.t("start of the workload"), logs: [], hits: {}, errors: [] });
      return;
    }
    // From "before the first step", so a breakpoint on step 1 is hit.
    await this.move("continue", { step: -1, event: -1 }, {}, label);
  }

  private onEdit(state: SessionState): void {
    if (state.runVersion === this.runVersion && !state.stale) return; // the same run, delivered again
    if (state.stale) {
      this.sendEvent(new OutputEvent(l10n.t("The scenario has errors; the debugger stays on the last good run until they are fixed.\n"), "console"));
      return;
    }
    const shift = state.stepShift?.fromRunVersion === this.runVersion ? state.stepShift : undefined;
    this.steps = state.steps.length;
    this.lines = state.steps.map((x) => x.line);
    this.runVersion = state.runVersion;
    // Stay on the same step where it still exists (steps are matched by their text, so a step
    // inserted above moves the position with its step); events are renumbered by a re-run.
    const step = shift ? mapStep(shift, this.pos.step) : this.pos.step;
    this.pos = { step: Math.min(step, this.steps), event: -1 };
    // Breakpoints stay on their steps too: VS Code sends their new lines only on save.
    if (shift) {
      for (const bp of this.breakpoints) {
        const moved = Math.min(mapStep(shift, bp.step), Math.max(0, this.steps - 1));
        if (moved === bp.step) continue;
        bp.step = moved;
        this.sendEvent(new BreakpointEvent("changed", { id: bp.id, verified: true, line: this.convertDebuggerLineToClient(this.lineOf(moved) + 1), source: this.source() }));
      }
    }
    this.link.setCursor(this.uri!, this.pos.step);
    this.sendEvent(new OutputEvent(l10n.t("Scenario re-run after an edit: {0} steps; staying at step {1} (line {2}).\n", this.steps, this.pos.step + 1, this.lineOf(this.pos.step) + 1), "console"));
    this.sendEvent(new InvalidatedEvent(["stacks", "variables"], THREAD));
    this.sendEvent(new StoppedEvent("step", THREAD));
  }

  protected override setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    this.guard(response, async () => {
      const requested = args.breakpoints ?? [];
      const uri = this.uri;
      if (!uri) {
        response.body = { breakpoints: requested.map(() => ({ verified: false, message: l10n.t("the scenario is not loaded yet") })) };
        this.sendResponse(response);
        return;
      }
      const mapped = await this.link.request("debugLines", { uri, lines: requested.map((b) => this.convertClientLineToDebugger(b.line) - 1) });
      this.breakpoints = [];
      const out: DebugProtocol.Breakpoint[] = [];
      requested.forEach((b, i) => {
        const m = mapped[i]!;
        if (m.step === null || m.line === null) {
          out.push({ verified: false, message: l10n.t("no workload step at or after this line") });
          return;
        }
        const bp: LineBreakpoint = { id: this.nextBpId++, step: m.step };
        if (b.condition) bp.condition = b.condition;
        if (b.hitCondition) bp.hitCondition = b.hitCondition;
        if (b.logMessage !== undefined) bp.logMessage = b.logMessage;
        this.breakpoints.push(bp);
        out.push({ id: bp.id, verified: true, line: this.convertDebuggerLineToClient(m.line + 1), source: this.source() });
      });
      response.body = { breakpoints: out };
      this.sendResponse(response);
    });
  }

  protected override setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    const known = new Set(EXCEPTION_FILTERS.map((f) => f.filter));
    this.exceptions = args.filters.filter((f): f is ExceptionFilter => known.has(f));
    this.sendResponse(response);
  }

  /**
   * The filters a move uses: the user's, plus "fault" for `stopOnFault` — unless the user picked
   * the narrower "fault-unsuppressed", which already stops at the faults the OS sees (adding
   * "fault" would also stop at the ones FPD suppresses, making that choice pointless).
   */
  private activeExceptions(): ExceptionFilter[] {
    const ex = [...this.exceptions];
    if (this.launchArgs?.stopOnFault && !ex.includes("fault") && !ex.includes("fault-unsuppressed")) ex.push("fault");
    return ex;
  }

  protected override dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    const v = args.variablesReference !== undefined ? this.vars.get(args.variablesReference)?.find((x) => x.name === args.name) : undefined;
    if (v?.dataId) {
      const [, device, iova] = v.dataId.split("|");
      response.body = { dataId: v.dataId, description: l10n.t("mapping of IOVA {0} for {1}", iova ?? "", device ?? ""), accessTypes: ["write"], canPersist: true };
    } else {
      response.body = { dataId: null, description: l10n.t("Data breakpoints watch the `mapping` of a translation (Translation scope)") };
    }
    this.sendResponse(response);
  }

  /**
   * Data breakpoints are `map|<device>|<iova>` ids from dataBreakpointInfo (or persisted from an
   * earlier session): each is checked against the current run's host devices and verified only
   * when it names one of them and a valid IOVA; the others are reported unverified with why.
   */
  protected override setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    this.guard(response, async () => {
      const requested = args.breakpoints ?? [];
      const uri = this.uri;
      if (!uri) {
        this.watches = [];
        response.body = { breakpoints: requested.map(() => ({ verified: false, message: l10n.t("the scenario is not loaded yet") })) };
        this.sendResponse(response);
        return;
      }
      const devices = requested.length > 0 ? await this.link.request("devices", { uri }) : [];
      const byKey = new Map(devices.map((d) => [keyOf(d.key), d.key]));
      const watches: DataWatch[] = [];
      const out: DebugProtocol.Breakpoint[] = requested.map((b) => {
        const parts = b.dataId.split("|");
        if (parts.length !== 3 || parts[0] !== "map" || !parts[1] || !parts[2]) return { verified: false, message: l10n.t("\"{0}\" is not a mapping data breakpoint (expected map|<device>|<iova>, from the Translation scope's \"mapping\")", b.dataId) };
        const [, device, iova] = parts as [string, string, string];
        const key = byKey.get(keyOf(device));
        if (key === undefined) return { verified: false, message: l10n.t("no host device {0} in this scenario{1}", device, devices.length ? l10n.t(" (devices: {0})", devices.map((d) => d.key).join(", ")) : "") };
        const a = parseAddress(iova);
        if (!a.ok) return { verified: false, message: `${a.message} (${a.hint})` };
        watches.push({ id: b.dataId, device: key, iova });
        return { verified: true, message: l10n.t("mapping of {0} for {1}", iova, key) };
      });
      this.watches = watches;
      response.body = { breakpoints: out };
      this.sendResponse(response);
    });
  }

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD, "workload")] };
    this.sendResponse(response);
  }

  private source(): Source {
    return new Source(this.program.split(/[\\/]/).pop() ?? this.program, this.program);
  }

  /**
   * Reads the position at the time of the request (never a frame kept from an earlier stop) and
   * honours startFrame/levels: VS Code asks for the top frame first and the rest in a second
   * request, so answering every frame both times would show them twice.
   */
  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    const frames: DebugProtocol.StackFrame[] = [];
    const line = this.convertDebuggerLineToClient(this.lineOf(this.pos.step) + 1);
    const column = this.convertDebuggerColumnToClient(1);
    if (this.pos.step >= this.steps) {
      frames.push(new StackFrame(0, l10n.t("end of the workload"), this.source(), line, column));
    } else {
      // Frame 0 is the position itself; inside a step's events, frame 1 is the step that runs them.
      if (this.pos.event >= 0) frames.push(new StackFrame(0, `event #${this.pos.event}`, this.source(), line, column), new StackFrame(1, `step ${this.pos.step + 1}`, this.source(), line, column));
      else frames.push(new StackFrame(0, `step ${this.pos.step + 1}`, this.source(), line, column));
    }
    const start = Math.max(0, args.startFrame ?? 0);
    const levels = args.levels && args.levels > 0 ? args.levels : frames.length;
    response.body = { stackFrames: frames.slice(start, start + levels), totalFrames: frames.length };
    this.sendResponse(response);
  }

  /** 0-based source line of a step (the last step's line once past the end). */
  private lineOf(step: number): number {
    return this.lines[Math.min(step, this.lines.length - 1)] ?? 0;
  }

  /** The position a stack frame shows: frame 1 (inside a step's events) is the step, before it runs. */
  private posOfFrame(frameId: number | undefined): DebugPos {
    return frameId === 1 && this.pos.event >= 0 ? { step: this.pos.step, event: -1 } : this.pos;
  }

  protected override scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    this.guard(response, async () => {
      if (!this.uri) throw new Error(l10n.t("no scenario loaded"));
      const scopes = await this.link.request("debugScopes", { uri: this.uri, pos: this.posOfFrame(args.frameId) });
      // VS Code expands the first scope that is not expensive: the Step scope comes first, as
      // "locals", and every scope says whether it is expensive.
      response.body = {
        scopes: scopes.map((s, i): DebugProtocol.Scope => {
          const scope: DebugProtocol.Scope = new DapScope(s.name, this.vars.create(s.vars), s.expensive ?? false);
          scope.namedVariables = s.vars.length;
          if (i === 0) scope.presentationHint = "locals";
          else if (s.name.startsWith("IOMMU registers")) scope.presentationHint = "registers";
          return scope;
        }),
      };
      this.sendResponse(response);
    });
  }

  protected override variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    const list = this.vars.get(args.variablesReference) ?? [];
    response.body = { variables: list.map((v) => this.toVariable(v, args.format?.hex)) };
    this.sendResponse(response);
  }

  /** DAP ValueFormat: hex true shows numbers in hex, false in decimal, absent as the engine wrote them. */
  private toVariable(v: VarNode, hex: boolean | undefined): DebugProtocol.Variable {
    let value = v.value;
    if (v.num !== undefined && hex !== undefined) {
      const n = BigInt(v.num);
      value = hex ? `0x${n.toString(16)}` : n.toString(10);
    }
    const out: DebugProtocol.Variable = { name: v.name, value, variablesReference: v.children?.length ? this.vars.create(v.children) : 0 };
    if (v.type) out.type = v.type;
    return out;
  }

  // ---- movement

  protected override continueRequest(response: DebugProtocol.ContinueResponse): void {
    this.guard(response, async () => {
      response.body = { allThreadsContinued: true };
      this.sendResponse(response);
      await this.move("continue");
    });
  }
  protected override reverseContinueRequest(response: DebugProtocol.ReverseContinueResponse): void {
    this.guard(response, async () => {
      this.sendResponse(response);
      await this.move("reverseContinue");
    });
  }
  protected override nextRequest(response: DebugProtocol.NextResponse): void {
    this.guard(response, async () => {
      this.sendResponse(response);
      await this.move("next");
    });
  }
  protected override stepInRequest(response: DebugProtocol.StepInResponse): void {
    this.guard(response, async () => {
      this.sendResponse(response);
      await this.move("stepIn");
    });
  }
  protected override stepOutRequest(response: DebugProtocol.StepOutResponse): void {
    this.guard(response, async () => {
      this.sendResponse(response);
      await this.move("stepOut");
    });
  }
  protected override stepBackRequest(response: DebugProtocol.StepBackResponse): void {
    this.guard(response, async () => {
      this.sendResponse(response);
      await this.move("stepBack");
    });
  }
  protected override pauseRequest(response: DebugProtocol.PauseResponse): void {
    // Moves are instant: the session is always paused between requests.
    this.sendResponse(response);
    this.sendEvent(new StoppedEvent("pause", THREAD));
  }

  protected override restartRequest(response: DebugProtocol.RestartResponse): void {
    this.guard(response, async () => {
      this.sendResponse(response);
      // A new session as far as the console is concerned: condition problems are reported again.
      this.reportedErrors.clear();
      // The thread runs again (VS Code drops its call stack) until the stop the restart reaches.
      this.sendEvent(new ContinuedEvent(THREAD, true));
      await this.begin("Restart");
    });
  }

  protected override terminateRequest(response: DebugProtocol.TerminateResponse): void {
    this.sendResponse(response);
    this.sendEvent(new TerminatedEvent());
  }

  protected override disconnectRequest(response: DebugProtocol.DisconnectResponse): void {
    this.runSub?.dispose();
    this.sendResponse(response);
  }

  /**
   * Every move runs after its request was answered (DAP: the response says "running", the
   * StoppedEvent says where it ended), so a failure here cannot become an error response: it is
   * reported on the console and the session stops again at the last good position (or ends when
   * the engine no longer has the scenario), so the UI never stays "running".
   */
  private async move(action: DebugAction, from: DebugPos = this.pos, hits: Record<number, number> = this.hits, label: string = ACTION_LABELS[action]): Promise<void> {
    const seq = ++this.moveSeq;
    let r: ScanResult;
    try {
      r = await this.scanFrom(action, from, hits);
    } catch (e) {
      if (seq === this.moveSeq) this.moveFailed(label, e);
      return;
    }
    // A later move (a restart while a continue was still scanning) owns the position now.
    if (seq !== this.moveSeq) return;
    this.stopAt(r);
  }

  private scanFrom(action: DebugAction, from: DebugPos, hits: Record<number, number>): Promise<ScanResult & { line: number }> {
    if (!this.uri) return Promise.reject(Object.assign(new Error(l10n.t("no scenario is loaded")), { code: "no-session" }));
    return this.link.request("debugScan", { uri: this.uri, scan: { from, action, breakpoints: this.breakpoints, exceptions: this.activeExceptions(), watches: this.watches, hits } });
  }

  private moveFailed(label: string, e: unknown): void {
    const why = oneLine(e);
    if (!this.uri || (typeof e === "object" && e !== null && (e as { code?: unknown }).code === "no-session")) {
      this.sendEvent(new OutputEvent(l10n.t("{0} failed: {1}. The scenario is no longer open in the engine; the debug session ends.\n", label, why), "stderr"));
      this.sendEvent(new TerminatedEvent());
      return;
    }
    const where = this.pos.step >= this.steps ? l10n.t("the end of the workload") : this.pos.event >= 0 ? l10n.t("step {0}, event #{1} (line {2})", this.pos.step + 1, this.pos.event, this.lineOf(this.pos.step) + 1) : l10n.t("step {0} (line {1})", this.pos.step + 1, this.lineOf(this.pos.step) + 1);
    this.sendEvent(new OutputEvent(l10n.t("{0} failed: {1}. Stopped at {2}, the last good position; try again.\n", label, why, where), "stderr"));
    const ev: DebugProtocol.StoppedEvent = new StoppedEvent("pause", THREAD);
    ev.body.description = l10n.t("{0} failed; stopped at the last good position", label);
    this.sendEvent(ev);
  }

  private stopAt(r: ScanResult): void {
    this.pos = r.pos;
    this.hits = r.hits;
    for (const l of r.logs) this.sendEvent(new OutputEvent(`${l.text}\n`, "console"));
    for (const e of r.errors) {
      if (this.reportedErrors.has(e)) continue;
      this.reportedErrors.add(e);
      this.sendEvent(new OutputEvent(`${e}\n`, "stderr"));
    }
    this.link.setCursor(this.uri!, Math.max(0, r.pos.step));
    const reason = r.reason === "end" ? "step" : r.reason;
    const ev: DebugProtocol.StoppedEvent = new StoppedEvent(reason, THREAD, r.text);
    ev.body.description = r.reason === "end" ? l10n.t("End of the workload (step back, or stop the session)") : r.description;
    if (r.breakpointIds) ev.body.hitBreakpointIds = r.breakpointIds;
    this.sendEvent(ev);
  }

  // ---- console

  protected override evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    this.guard(response, async () => {
      if (!this.uri) throw new Error(l10n.t("no scenario loaded"));
      const r = await this.link.request("debugEvaluate", { uri: this.uri, pos: this.posOfFrame(args.frameId), expression: args.expression });
      if ("error" in r) {
        this.sendErrorResponse(response, { id: 2001, format: r.error.replace(/[{}]/g, ""), showUser: false });
        return;
      }
      response.body = { result: reformatNumber(r.result, args.format?.hex), variablesReference: r.children?.length ? this.vars.create(r.children) : 0 };
      this.sendResponse(response);
    });
  }
}
