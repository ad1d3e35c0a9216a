/**
 * A run of a scenario: the machine executes every workload step once, recording the trace, the
 * outcomes and the logs, with checkpoints so that the exact machine state before any step can be
 * rebuilt cheaply (the debugger's step back, the trees following the cursor).
 */
import type { Scenario } from "../scenario/types.js";
import { CheckpointStore, DEFAULT_POLICY, type CheckpointPolicy } from "../trace/checkpoints.js";
import type { Trace } from "../trace/trace.js";
import type { LogLine } from "./klog.js";
import { Machine, expectedEvents, type MachineSnapshot, type StepOutcome } from "./machine.js";
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
}

export class Run {
  readonly machine: Machine;
  readonly outcomes: StepOutcome[] = [];
  readonly checkpoints: CheckpointStore<MachineSnapshot>;
  /** Set when the run stopped early: cancelled, or a simulation limit was hit. */
  stoppedEarly?: string;
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
    this.machine.trace.reserve(events);
    for (let i = first; i < scenario.workload.length; i++) {
      const step = scenario.workload[i]!;
      if (this.machine.poll?.()) {
        this.stoppedEarly = "cancelled";
        break;
      }
      if (this.checkpoints.due(step.index)) this.checkpoints.add(step.index, this.machine.snapshot());
      const out = this.machine.runStep(step);
      if (this.machine.interrupted) {
        // Cancelled within the step: the step is incomplete, so it gets no outcome.
        this.stoppedEarly = "cancelled";
        break;
      }
      this.outcomes.push(out);
      this.checkpoints.addWork(out.transactions);
      if (out.error === "simulation-limit") {
        this.stoppedEarly = out.summary;
        break;
      }
    }
    this.machine.trace.stepStart[this.outcomes.length] = this.machine.trace.length;
    // The run is over: a later edit's cancellation must not reach into this machine.
    this.machine.poll = undefined;
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
