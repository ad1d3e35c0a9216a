/**
 * A run of a scenario: the machine executes every workload step once, recording the trace, the
 * outcomes and the logs, with checkpoints so that the exact machine state before any step can be
 * rebuilt cheaply (the debugger's step back, the trees following the cursor).
 */
import type { Scenario, Step } from "../scenario/types.js";
import { DEFAULT_MEMORY_BUDGET, MemoryBudgetError, formatBytes } from "../trace/budget.js";
import { CheckpointStore, DEFAULT_POLICY, type CheckpointPolicy } from "../trace/checkpoints.js";
import { EventKind, F_FATE_SHIFT, F_WRITE, type Trace } from "../trace/trace.js";
import type { LogLine } from "./klog.js";
import { Machine, checkExpectation, expectedEvents, type MachineSnapshot, type StepOutcome } from "./machine.js";
import { MemoryLimitError } from "./memory.js";

export interface RunOptions {
  checkpoints?: CheckpointPolicy;
  /**
   * Polled between steps and every so many transactions within a long step; a true answer stops
   * the run (the outcome list is then shorter, and a step stopped halfway has no outcome).
   */
  cancelled?: () => boolean;
  /**
   * A sign of life, called as often as `cancelled` is polled, and also while `machineBefore`
   * replays a step: the engine worker's heartbeat, so a long step is not taken for a hang.
   */
  progress?: () => void;
  /**
   * An earlier run whose scenario had the same host, VMs and first `steps` workload items (same
   * source text): the run starts at that run's last checkpoint at or before `steps` instead of at
   * the boot. Its outcomes, trace, log and checkpoints up to there are the ones this run would
   * produce (the machine is deterministic), so an edit near the end re-runs only the end.
   */
  resume?: { run: Run; steps: number };
  /**
   * Bytes of ArrayBuffers the run may hold (trace columns, checkpoints, simulated memory); a step
   * that would exceed it stops the run with an error outcome naming the limit. Default
   * DEFAULT_MEMORY_BUDGET.
   */
  memoryBudget?: number;
  /** Why the budget is smaller than a run's own, for the message of a run that hits it. */
  memoryBudgetWhy?: string;
}

export class Run {
  readonly machine: Machine;
  readonly outcomes: StepOutcome[] = [];
  readonly checkpoints: CheckpointStore<MachineSnapshot>;
  /**
   * Set when the run stopped early: "cancelled", or why and where ("step 3 (line 14): no free
   * domain id: ..."); the steps after it did not run (`notReached`).
   */
  stoppedEarly?: string;
  /** Bytes of ArrayBuffers the run may hold. */
  readonly memoryBudget: number;
  private scratch?: Machine;
  private scratchAt = -1;
  private readonly progress?: () => void;

  constructor(
    readonly scenario: Scenario,
    opts: RunOptions = {},
  ) {
    this.machine = new Machine(scenario);
    const { cancelled, progress } = opts;
    if (progress) this.progress = progress;
    if (cancelled || progress) {
      this.machine.poll = () => {
        progress?.();
        return cancelled?.() === true;
      };
    }
    this.checkpoints = new CheckpointStore(opts.checkpoints ?? DEFAULT_POLICY);
    this.memoryBudget = opts.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
    const mem = this.machine.mem;
    const why = opts.memoryBudgetWhy;
    this.machine.trace.budget = { limit: this.memoryBudget, others: () => this.checkpoints.bytes + mem.liveBytes, ...(why ? { why } : {}) };
    let first = 0;
    const from = opts.resume;
    // A checkpoint is taken before a step runs: resume at most at this run's last step, so that the
    // checkpoints taken over are the ones this run takes.
    const last = Math.min(from?.steps ?? 0, from?.run.outcomes.length ?? 0, scenario.workload.length - 1);
    const cp = from && last >= 0 && from.run.checkpoints.policy === this.checkpoints.policy ? from.run.checkpoints.atOrBefore(last) : undefined;
    if (from && cp) {
      // The trace first: restore() sets its length to the checkpoint's, which must hold the events.
      this.machine.trace.copyPrefix(from.run.trace, cp.state.traceLength);
      this.machine.trace.stepStart = from.run.trace.stepStart.slice(0, cp.state.stepStartLength);
      this.machine.restore(cp.state);
      // Outcomes are never changed after their step ran: shared with the earlier run.
      for (let i = 0; i < cp.step; i++) this.outcomes.push(from.run.outcomes[i]!);
      this.checkpoints.copyPrefix(from.run.checkpoints, cp.step);
      first = cp.step;
    }
    // Room for the whole run's events at once, not reallocations step by step (each copies the trace).
    let events = this.machine.trace.length + 64;
    for (let i = first; i < scenario.workload.length; i++) events += expectedEvents(scenario.workload[i]!);
    try {
      this.machine.trace.reserve(events);
    } catch (e) {
      // The whole run does not fit the memory budget: each step reserves its own events, and the
      // one that does not fit stops the run with the budget error on that step.
      if (!(e instanceof MemoryBudgetError)) throw e;
    }
    for (let i = first; i < scenario.workload.length; i++) {
      const step = scenario.workload[i]!;
      if (this.machine.poll?.()) {
        this.stoppedEarly = "cancelled";
        break;
      }
      if (this.checkpoints.due(step.index)) {
        const snap = this.machine.snapshot();
        this.checkpoints.add(step.index, snap, snap.bytes);
        if (this.memoryBytes > this.memoryBudget) {
          // The step does not run: its outcome is the error, so the editor marks it and the CLI names it.
          const out = this.budgetOutcome(step.index, `memory budget exceeded: the trace (${formatBytes(this.trace.bytes)}), the checkpoints (${formatBytes(this.checkpoints.bytes)}) and the simulated memory (${formatBytes(this.machine.mem.liveBytes)}) hold ${formatBytes(this.memoryBytes)}, over the run's limit of ${formatBytes(this.memoryBudget)}${why ? ` (${why})` : ""}`);
          this.outcomes.push(out);
          this.stoppedEarly = this.stopText(out);
          break;
        }
      }
      const out = this.machine.runStep(step);
      if (this.machine.interrupted) {
        // Cancelled within the step: the step is incomplete, so it gets no outcome.
        this.stoppedEarly = "cancelled";
        break;
      }
      this.outcomes.push(out);
      this.checkpoints.addWork(out.transactions, step.op === "dma");
      if (out.error === "simulation-limit") {
        this.stoppedEarly = this.stopText(out);
        break;
      }
    }
    this.machine.trace.stepStart[this.outcomes.length] = this.machine.trace.length;
    // Replays (machineBefore) run on another machine; this trace no longer grows.
    delete this.machine.trace.budget;
    // The run is over: a later edit's cancellation must not reach into this machine.
    this.machine.poll = undefined;
  }

  /** "step 3 (line 14): why": where and why the run stopped. */
  private stopText(out: StepOutcome): string {
    return `step ${out.step + 1} (line ${this.scenario.workload[out.step]!.range.line + 1}): ${out.summary}`;
  }

  /** The outcome of a step that was not run because the memory budget is used up. */
  private budgetOutcome(index: number, summary: string): StepOutcome {
    const t = this.machine.trace.length;
    const l = this.machine.log.lines.length;
    const out: StepOutcome = { step: index, status: "error", error: "simulation-limit", summary, faults: 0, transactions: 0, iotlbHits: 0, eventStart: t, eventEnd: t, logStart: l, logEnd: l };
    const step = this.scenario.workload[index]!;
    if (step.expect) out.expect = checkExpectation(step, out, this.machine.iommu);
    return out;
  }

  /** ArrayBuffer bytes the run holds: trace columns, checkpoints, simulated memory. */
  get memoryBytes(): number {
    return this.machine.trace.bytes + this.checkpoints.bytes + this.machine.mem.liveBytes;
  }

  /**
   * The workload steps that never ran because the run stopped early (empty when it ran to the
   * end): their `expect`s were not evaluated.
   */
  get notReached(): readonly Step[] {
    return this.stoppedEarly === undefined ? [] : this.scenario.workload.slice(this.outcomes.length);
  }

  get trace(): Trace {
    return this.machine.trace;
  }

  get log(): LogLine[] {
    return this.machine.log.lines;
  }

  get failedExpectations(): StepOutcome[] {
    return this.outcomes.filter((o) => o.expect && !o.expect.pass);
  }

  get expectations(): number {
    return this.outcomes.filter((o) => o.expect).length;
  }

  /**
   * The machine as it was before step `n` ran (n = outcomes.length: after the last step).
   * Returns a scratch machine owned by the run: valid until a call for another step; callers
   * may only read it (and probe translations), never run steps on it.
   */
  machineBefore(n: number): Machine {
    const target = Math.max(0, Math.min(n, this.outcomes.length));
    // The trees, hovers and walks read the same step many times in a row (and only probe it):
    // keep the rebuilt machine until another step is asked for.
    if (this.scratch !== undefined && this.scratchAt === target) return this.scratch;
    const cp = this.checkpoints.atOrBefore(target);
    if (this.scratch === undefined) {
      this.scratch = new Machine(this.scenario);
      this.scratch.trace.discard = true;
      // A replay never stops halfway, but a long step replayed still beats.
      const progress = this.progress;
      if (progress) {
        this.scratch.poll = () => {
          progress();
          return false;
        };
      }
    }
    const m = this.scratch;
    this.scratchAt = target;
    if (cp === undefined) return m; // no steps at all: the booted host
    m.restore(cp.state);
    for (let i = cp.step; i < target; i++) m.runStep(this.scenario.workload[i]!);
    return m;
  }

  /**
   * Calls `use` with the machine as it was just before trace event `event` (`inclusive`: just
   * after it) - inside a `dma` step, after the step's earlier transactions, whose IOTLB fills,
   * context-cache fills and fault records a later transaction sees. Rebuilt exactly: the machine
   * before the step replays the step's transactions up to there through the unit (a `dma` step
   * changes the machine only through them; the driver's fault handler runs at the step's end),
   * each checked against the trace; afterwards the unit is restored, so the scratch machine is
   * again the state before the step. Undefined for an event outside a `dma` step, or should a
   * replay ever disagree with the trace.
   */
  atEvent<T>(event: number, inclusive: boolean, use: (m: Machine) => T): T | undefined {
    const t = this.trace;
    if (!(event >= 0 && event < t.length)) return undefined;
    const step = t.step[event]!;
    const o = this.outcomes[step];
    if (o === undefined || this.scenario.workload[step]?.op !== "dma") return undefined;
    const end = inclusive ? event + 1 : event;
    for (let i = o.eventStart; i < end; i++) {
      const kind: EventKind = t.kind[i]!;
      if (kind !== EventKind.Dma && kind !== EventKind.Interrupt) return undefined;
    }
    const m = this.machineBefore(step);
    const u = m.hostIommu;
    if (end === o.eventStart) return use(m);
    return u.scratch(() => {
      for (let i = o.eventStart; i < end; i++) {
        const flags = t.flags[i]!;
        const code = u.transact(t.sid[i]!, t.aHi[i]!, t.aLo[i]!, (flags & F_WRITE) !== 0);
        if (code !== t.reason[i] || u.fate !== ((flags >> F_FATE_SHIFT) & 7)) return undefined;
      }
      return use(m);
    });
  }
}

/**
 * Runs a scenario. Never throws: a failure to even build the host (a simulation limit, a domain-id
 * exhaustion) comes back as `error` with a message for the user.
 */
export function runScenario(scenario: Scenario, opts: RunOptions = {}): { run: Run; error?: undefined } | { run?: undefined; error: string } {
  try {
    return { run: new Run(scenario, opts) };
  } catch (e) {
    const why = e instanceof MemoryLimitError ? e.message : `the simulation could not build this host: ${e instanceof Error ? e.message : String(e)}`;
    return { error: why };
  }
}
