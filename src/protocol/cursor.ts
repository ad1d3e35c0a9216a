/**
 * Which machine state the views show for the shared cursor. The cursor sits *before* a workload
 * step (0-based index = the next step to run); the views can show that state or, with "Show State
 * After Step", the state once the cursor's step has run. One rule for the trees, Translate Address
 * and their captions.
 */

/** The step index whose "machine before" the views show (0..steps). */
export function stateStep(cursor: number, steps: number, after: boolean): number {
  const c = Math.max(0, Math.min(cursor, steps));
  return after ? Math.min(c + 1, steps) : c;
}

/** "before step 3 of 4", "after step 3 of 4" (1-based, as the editor and the debugger count). */
export function describeState(cursor: number, steps: number, after: boolean): string {
  if (steps === 0) return "no workload steps";
  const c = Math.max(0, Math.min(cursor, steps));
  if (!after && c < steps) return `before step ${c + 1} of ${steps}`;
  return `after step ${stateStep(c, steps, after) || 1} of ${steps}`;
}
