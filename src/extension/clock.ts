/**
 * Time and timers for the host side's schedulers (the run scheduler, the worker's supervisor):
 * the extension uses the system clock; tests inject one they advance themselves, so no test
 * depends on how fast the machine is. Each user takes the part it needs (a Pick of this).
 * No `vscode` import.
 */
export interface HostClock {
  /** Wall-clock milliseconds (labels such as "run of 14:02:11" show it). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemClock: HostClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};
