/**
 * Work budgets (issue 18): what bounds the time of a step whose work is not linear in its input,
 * counted in units of work, never by a clock (the same on a fast and a loaded machine, and
 * testable by counting). A step that would exceed its budget stops that part of the work and says
 * so in its output, with the limit and what to do.
 */
export class WorkBudget {
  /** Units taken so far (tests assert the bound on it). */
  used = 0;
  /** Set once a take was refused. */
  exhausted = false;

  constructor(readonly limit: number) {}

  /** Takes `units` if they fit: false (and nothing taken) once they would exceed the limit. */
  take(units: number): boolean {
    if (this.exhausted || this.used + units > this.limit) {
      this.exhausted = true;
      return false;
    }
    this.used += units;
    return true;
  }
}

/**
 * Map/unmap records one explanation pass compares with faults at most (each fault compares its
 * address with every map and unmap of the history: faults x history). About 0.8 s for the whole limit
 * on the loaded 2-core development machine (docs/hardening.md), so any log's explain stays under
 * a second; a log that needs more explains its first faults with their history and the rest without.
 */
export const EXPLAIN_HISTORY_WORK = 1_000_000;
