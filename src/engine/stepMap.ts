/**
 * Which workload step of the new run is "the same step" as a step of the previous run.
 *
 * An edit changes one region of the workload: the items before it (the common prefix) and after
 * it (the common suffix) are unchanged text. A step in the prefix keeps its index, a step in the
 * suffix moves by the number of items the edit added or removed, and a step inside the edited
 * region stays at its offset in the region (an edit of the step itself keeps it; a deleted step
 * gives the step that now follows the region). The cursor, the debugger's position and its
 * breakpoints all move this way, so that inserting a step above the cursor does not silently
 * put the cursor on the step before.
 */

/** The edited region: old steps [prefix, oldEnd) became new steps [prefix, newEnd). */
export interface StepShift {
  prefix: number;
  oldEnd: number;
  newEnd: number;
}

/** Key of a workload item: its source text with whitespace runs collapsed (re-indenting is not an edit of the step). */
export function stepKey(source: string): string {
  return source.replace(/\s+/g, " ").trim();
}

export function diffSteps(oldKeys: readonly string[], newKeys: readonly string[]): StepShift {
  const max = Math.min(oldKeys.length, newKeys.length);
  let prefix = 0;
  while (prefix < max && oldKeys[prefix] === newKeys[prefix]) prefix++;
  let suffix = 0;
  while (suffix < max - prefix && oldKeys[oldKeys.length - 1 - suffix] === newKeys[newKeys.length - 1 - suffix]) suffix++;
  return { prefix, oldEnd: oldKeys.length - suffix, newEnd: newKeys.length - suffix };
}

/**
 * The new index of old step `step` (0..old length; the length itself is "after the last step").
 * Always a valid new index (0..new length).
 */
export function mapStep(shift: StepShift, step: number): number {
  const { prefix, oldEnd, newEnd } = shift;
  if (step < prefix) return step;
  if (step >= oldEnd) return step + (newEnd - oldEnd);
  // Inside the edited region: same offset, or the first step after the region when it shrank past it.
  return Math.min(step, newEnd);
}
