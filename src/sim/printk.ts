/**
 * Generic Linux kernel-log helpers: the printk timestamp prefix and the `___ratelimit()` state
 * machine behind `__ratelimit()` / `printk_ratelimited()`.
 *
 * Pure module: no vscode, no Node built-ins.
 */

const NS_PER_SEC = 1_000_000_000n;

/**
 * The timestamp prefix printk puts before every line when CONFIG_PRINTK_TIME is on:
 * `"[%5lu.%06lu] "` with `ts_nsec / 10^9` and `(ts_nsec % 10^9) / 1000` (truncated, not rounded).
 * Source: kernel/printk/printk.c `print_time()` (v3.5 .. current: `sprintf(buf, "[%5lu.%06lu]", ...)`
 * followed by a space appended by `info_print_prefix()` / `print_prefix()`).
 * Width 5 is a minimum: from 100000 s on the seconds just grow ("[123456.000001] ").
 */
export function formatTimestamp(ns: bigint): string {
  const t = ns < 0n ? 0n : ns;
  const sec = t / NS_PER_SEC;
  const usec = (t % NS_PER_SEC) / 1000n;
  return `[${sec.toString().padStart(5, " ")}.${usec.toString().padStart(6, "0")}] `;
}

/** Linux `DEFAULT_RATELIMIT_INTERVAL` (5 * HZ) in ns and `DEFAULT_RATELIMIT_BURST` (include/linux/ratelimit_types.h). */
export const DEFAULT_RATELIMIT_INTERVAL_NS = 5_000_000_000n;
export const DEFAULT_RATELIMIT_BURST = 10;

export interface RatelimitState {
  /** rs->begin; undefined until the first call (Linux: `if (!rs->begin) rs->begin = jiffies;`). */
  begin: string | undefined;
  printed: number;
  missed: number;
}

export interface RatelimitResult {
  /** true: the caller may print. */
  allowed: boolean;
  /**
   * `"<func>: N callbacks suppressed"`, printed (KERN_WARNING, no pr_fmt prefix) by the call that
   * opens a new interval when calls were suppressed in the previous one. It precedes the caller's
   * own message in the log, whether or not that call is allowed.
   */
  suppressedLine?: string;
}

/**
 * `struct ratelimit_state` + `___ratelimit()` as in lib/ratelimit.c (v4.x .. v6.15, the
 * begin/printed/missed form; the trylock failure path is not modelled):
 *
 * ```c
 * if (!rs->begin) rs->begin = jiffies;
 * if (time_is_before_jiffies(rs->begin + interval)) {        // now > begin + interval
 *     if (rs->missed && !(rs->flags & RATELIMIT_MSG_ON_RELEASE))
 *         printk_deferred(KERN_WARNING "%s: %d callbacks suppressed\n", func, rs->missed);
 *     rs->missed = 0; rs->begin = jiffies; rs->printed = 0;
 * }
 * if (burst && burst > rs->printed) { rs->printed++; ret = 1; } else { rs->missed++; ret = 0; }
 * ```
 *
 * Time is kept in ns, not jiffies (no HZ quantisation). An interval of 0 disables limiting.
 */
export class Ratelimit {
  private begin: bigint | undefined = undefined;
  private printed = 0;
  private missed = 0;

  constructor(
    readonly intervalNs: bigint = DEFAULT_RATELIMIT_INTERVAL_NS,
    readonly burst: number = DEFAULT_RATELIMIT_BURST,
  ) {}

  check(nowNs: bigint, func: string): RatelimitResult {
    if (this.intervalNs === 0n) return { allowed: true };
    if (this.begin === undefined) this.begin = nowNs;
    let suppressedLine: string | undefined;
    if (nowNs > this.begin + this.intervalNs) {
      if (this.missed > 0) suppressedLine = `${func}: ${this.missed} callbacks suppressed`;
      this.missed = 0;
      this.begin = nowNs;
      this.printed = 0;
    }
    let allowed: boolean;
    if (this.burst > 0 && this.burst > this.printed) {
      this.printed++;
      allowed = true;
    } else {
      this.missed++;
      allowed = false;
    }
    return suppressedLine === undefined ? { allowed } : { allowed, suppressedLine };
  }

  /** Calls suppressed so far in the current interval (not yet reported). */
  get missedCount(): number {
    return this.missed;
  }

  /** JSON-safe copy of the state (bigint as decimal string). */
  snapshot(): RatelimitState {
    return { begin: this.begin === undefined ? undefined : this.begin.toString(), printed: this.printed, missed: this.missed };
  }

  restore(s: RatelimitState): void {
    this.begin = s.begin === undefined ? undefined : BigInt(s.begin);
    this.printed = s.printed;
    this.missed = s.missed;
  }
}
