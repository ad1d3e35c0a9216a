/**
 * Checkpoints of machine state at step boundaries. "State before step N" is the nearest
 * checkpoint at or before N plus a replay of the steps in between, so stepping backwards costs at
 * most `every` steps (or `maxWork` transactions) of replay, never a replay from the start.
 * The store counts what its states cost (each state's own bytes, as its taker reports them: a
 * state that shares with the one before costs only what changed), for the run's memory budget.
 */

export interface CheckpointPolicy {
  /** Take a checkpoint at least every this many steps. */
  every: number;
  /** ... and as soon as this much work (DMA transactions) ran since the last one. */
  maxWork: number;
  /**
   * While every step since the last checkpoint was a `dma` step (whose replay cost is its
   * transactions, counted), wait up to this many steps, until `dmaWork` transactions ran: a
   * snapshot costs more than replaying a few small DMA steps (4 000 steps of 1 MiB took a
   * snapshot every 8 steps, a fifth of the run). Absent: `every` holds for every kind of step.
   */
  dmaEvery?: number;
  dmaWork?: number;
}

/** Stepping back replays at most 8 steps, or 64 DMA steps / 16 384 transactions (a few ms). */
export const DEFAULT_POLICY: CheckpointPolicy = { every: 8, maxWork: 1_000_000, dmaEvery: 64, dmaWork: 16_384 };

/**
 * A run nobody steps back in (`passthrough simulate`, the CLI's report): the boot state only. The
 * snapshots DEFAULT_POLICY takes are for the debugger and the trace's stepping; a report that
 * reads the run once, forwards, pays for none of them.
 */
export const FORWARD_ONLY_POLICY: CheckpointPolicy = { every: Infinity, maxWork: Infinity };

export class CheckpointStore<S> {
  /** Step index -> state before that step, in increasing step order. */
  private readonly steps: number[] = [];
  private readonly states: S[] = [];
  private readonly costs: number[] = [];
  private workSince = 0;
  /** Whether every step since the last checkpoint was a DMA step (addWork's `dma`). */
  private onlyDmaSince = true;
  /** Bytes the states hold, as reported to add(). */
  bytes = 0;

  constructor(readonly policy: CheckpointPolicy = DEFAULT_POLICY) {}

  /** Called before each step runs; returns true when a checkpoint should be taken now. */
  due(step: number): boolean {
    const last = this.steps.length === 0 ? -Infinity : this.steps[this.steps.length - 1]!;
    const p = this.policy;
    if (this.workSince >= p.maxWork) return true;
    const since = step - last;
    if (since < p.every) return false;
    if (!this.onlyDmaSince || p.dmaEvery === undefined) return true;
    return since >= p.dmaEvery || this.workSince >= (p.dmaWork ?? 0);
  }

  add(step: number, state: S, bytes = 0): void {
    this.steps.push(step);
    this.states.push(state);
    this.costs.push(bytes);
    this.bytes += bytes;
    this.workSince = 0;
    this.onlyDmaSince = true;
  }

  /** A step ran: `n` DMA transactions; `dma` when it was a `dma` step. */
  addWork(n: number, dma = false): void {
    this.workSince += n;
    if (!dma) this.onlyDmaSince = false;
  }

  /**
   * Takes over `src`'s checkpoints at steps <= `step` (states are shared: a snapshot is never
   * changed after it is taken, restoring copies out of it). The last one taken over must be at
   * `step` itself, where the resumed run continues, so no work has run since it.
   */
  copyPrefix(src: CheckpointStore<S>, step: number): void {
    for (let i = 0; i < src.steps.length && src.steps[i]! <= step; i++) this.add(src.steps[i]!, src.states[i]!, src.costs[i]);
  }

  /** The latest checkpoint at or before `step`. */
  atOrBefore(step: number): { step: number; state: S } | undefined {
    let lo = 0;
    let hi = this.steps.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid]! <= step) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : { step: this.steps[found]!, state: this.states[found]! };
  }

  get count(): number {
    return this.steps.length;
  }
}
