/**
 * The memory budget of a run: the bytes its trace columns, its checkpoints and its simulated
 * memory hold. These are ArrayBuffers, which V8's heap limit (the engine worker's
 * `maxOldGenerationSizeMb`) does not count: without a budget of their own a large scenario grew
 * the extension host past 5 GB. A run that would exceed it stops at that step with a
 * MemoryBudgetError naming the step, what it needed and the limit.
 */

const MiB = 1024 * 1024;

/**
 * ArrayBuffer bytes one run may hold. 1.5 GiB: the largest step the scenario format allows
 * (50 000 000 transactions, 28 bytes each: 1.30 GiB of trace) fits, with room for checkpoints.
 */
export const DEFAULT_MEMORY_BUDGET = 1536 * MiB;

/**
 * ArrayBuffer bytes all the runs an engine worker holds may take together (every open scenario's
 * run and its comparison run, and a run being built beside the one it replaces): a run's own
 * budget is what the others leave of it, at most DEFAULT_MEMORY_BUDGET.
 */
export const DEFAULT_WORKER_BUDGET = 2048 * MiB;

export class MemoryBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryBudgetError";
  }
}

/** What a trace asks before it grows: the limit and the bytes everything else holds now. */
export interface TraceBudget {
  readonly limit: number;
  /** Why the limit is what it is, when it is less than a run's own (e.g. other open scenarios hold the rest). */
  readonly why?: string;
  /** Bytes held besides the trace's columns (checkpoints, simulated memory). */
  others(): number;
}

/** "1.5 GiB", "12.3 MiB", "800 KiB": sizes in messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 * MiB) return `${+(n / (1024 * MiB)).toFixed(2)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}
