/**
 * The host side of the engine worker: typed requests with promises, a supervisor that restarts a
 * crashed or hung worker and rebuilds its sessions from the documents' text, and the
 * cancellation slots through which a newer edit stops a stale run.
 *
 * The worker is started lazily, on the first request, so activation stays cheap. One supervisor for
 * both transports (platformApi.ts): Node worker_threads on the desktop, a Web Worker in VS Code for
 * the Web.
 */
import type * as vscode from "vscode";
import { platform } from "./platform.js";
import type { EngineTransport, SpawnOptions } from "./platformApi.js";
import { systemClock, type HostClock } from "./clock.js";
import type { EngineInit, EngineMethods, Method, WorkerMessage } from "../protocol/engine.js";
import type { RequestErrorCode } from "../protocol/diagnostics.js";
import { RpcClient, RpcError, type CancellationToken } from "../protocol/rpc.js";

/** A request failed: the worker's typed error, or the supervisor's ("restarted"). */
export const EngineRequestError = RpcError;
export type EngineRequestError = RpcError<RequestErrorCode>;

/**
 * Where the supervisor's time comes from: "now" and its timers. The extension uses the system
 * clock; tests inject one they advance themselves, so no test depends on how fast the machine is.
 */
export type SupervisorClock = Pick<HostClock, "now" | "setInterval" | "clearInterval" | "setTimeout">;

export interface EngineClientOptions {
  /** The worker bundle: a path (Node) or URL (web), as the platform's workerLocation gives it. */
  workerPath: string;
  /** Starts a worker (default: the platform's, platform.ts / platform.web.ts). */
  spawn?: (location: string, options: SpawnOptions) => EngineTransport;
  log: vscode.LogOutputChannel;
  /** Milliseconds of silence (no answer, no heartbeat) after which the worker counts as hung. */
  timeoutMs: () => number;
  /** Called after a restart so owners can resend their state (documents, cursors). */
  onRestart: (why: string) => void;
  /** Called instead of onRestart when the worker keeps dying (a crash loop): nothing is rebuilt until asked. */
  onGiveUp?: (why: string) => void;
  /** The watchdog's clock (default: the system clock). */
  clock?: SupervisorClock;
  /** The l10n bundle the worker translates its hovers and diagnostics with (vscode.l10n.bundle). */
  l10n?: EngineInit["l10n"];
}

const CANCEL_SLOTS = 1024;
/** The slot after the cancellation slots: the worker's heartbeat counter. */
const HEARTBEAT = CANCEL_SLOTS;
/** A crash loop: this many deaths within CRASH_WINDOW_MS stop the automatic rebuilds. */
const CRASH_LIMIT = 3;
const CRASH_WINDOW_MS = 60_000;
/**
 * The worker's own heap limit: a runaway scenario kills the worker, never the extension host. It
 * does not count ArrayBuffers (trace columns, checkpoints, simulated memory): each run keeps those
 * inside its own memory budget (trace/budget.ts DEFAULT_MEMORY_BUDGET) and stops with an error on
 * the step that would exceed it.
 */
const WORKER_HEAP_MB = 2048;
/**
 * A worker that has not beaten yet is still starting (loading its bundle): on a loaded machine that
 * alone can take seconds, so until its first beat it gets at least this long.
 */
export const STARTUP_ALLOWANCE_MS = 30_000;
/**
 * Without shared memory (a browser page that is not cross-origin isolated) a run cannot see that a
 * newer version superseded it: the worker reads no message until the run returns. A stale run that
 * has been running this long is stopped by recycling the worker (terminate, start a new one and
 * rebuild the sessions from the documents' text), which is what the Node transport's cancellation
 * slot achieves mid-run. A shorter run is left to finish: a restart costs more than its rest.
 */
export const SUPERSEDE_AFTER_MS = 500;

/** A request the worker has not answered yet, in the order it runs them (one at a time). */
interface InFlight {
  method: string;
  /** An update's document, version and cancellation slot. */
  uri?: string;
  version?: number;
  slot?: number;
  /** When the worker started on it (the answer to the one before came, or it was sent to an idle worker). */
  startedAt: number;
}

export class EngineClient {
  private worker?: EngineTransport;
  /** Ids, the pending requests and their typed results and errors (protocol/rpc.ts). */
  private readonly rpc: RpcClient<EngineMethods, RequestErrorCode>;
  private watchdog?: unknown;
  private readonly clock: SupervisorClock;
  /**
   * Cancellation slots and the heartbeat: shared with the worker where the transport can share
   * memory; otherwise host-local (the worker's beats arrive as messages and are counted here).
   */
  readonly cancel = new Int32Array(typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer((CANCEL_SLOTS + 1) * 4) : new ArrayBuffer((CANCEL_SLOTS + 1) * 4));
  /** The heartbeat value last seen and when it last changed. */
  private beat = 0;
  private beatAt = 0;
  /** The current worker has beaten at least once (it finished starting). */
  private started = false;
  /** When the watchdog last looked (a late look means the extension host itself was stalled). */
  private checkedAt = 0;
  /** The watchdog's period (set when it starts). */
  private tickMs = 1000;
  /** When the worker died recently (crash-loop detection). */
  private readonly deaths: number[] = [];
  /** Set after a crash loop: rebuilds wait for an explicit restart. */
  gaveUp = false;
  private readonly slots = new Map<string, number>();
  /** The current worker shares the cancellation slots (it polls them mid-run). */
  private shared = false;
  /** Requests sent and not answered, oldest (the one the worker is running) first. */
  private readonly inFlight: InFlight[] = [];
  restarts = 0;
  /** Workers recycled because a newer version superseded their long run (no shared memory). */
  superseded = 0;
  private disposed = false;

  constructor(private readonly opts: EngineClientOptions) {
    this.clock = opts.clock ?? systemClock;
    this.rpc = new RpcClient({ send: (req) => this.worker?.post(req), now: () => this.clock.now() });
  }

  get running(): boolean {
    return this.worker !== undefined;
  }

  /** The cancellation slot of a document: the host stores its newest version there. */
  slotFor(uri: string): number {
    let s = this.slots.get(uri);
    if (s === undefined) {
      s = this.slots.size % CANCEL_SLOTS;
      this.slots.set(uri, s);
    }
    return s;
  }

  /** `token`: a cancelled request rejects with "cancelled" at once and its late answer is dropped. */
  request<M extends Method>(method: M, params: EngineMethods[M]["params"], token?: CancellationToken): Promise<EngineMethods[M]["result"]> {
    if (this.disposed) return Promise.reject(new EngineRequestError("restarted", "the extension is shutting down"));
    this.ensure();
    const u = method === "update" ? (params as EngineMethods["update"]["params"]) : undefined;
    const f: InFlight = { method, startedAt: this.clock.now(), ...(u && u.slot !== undefined ? { uri: u.uri, version: u.version, slot: u.slot } : {}) };
    this.inFlight.push(f);
    const done = () => {
      const i = this.inFlight.indexOf(f);
      if (i < 0) return;
      this.inFlight.splice(i, 1);
      // The worker answers in order: the next one starts now.
      if (i === 0 && this.inFlight[0]) this.inFlight[0].startedAt = this.clock.now();
    };
    const p = this.rpc.request(method, params, token);
    void p.then(done, done);
    return p;
  }

  /**
   * A newer version of a document exists: its slot says so (a run that shares memory polls it and
   * stops), and without shared memory a long stale run is stopped by recycling the worker.
   */
  markNewest(uri: string, version: number): void {
    Atomics.store(this.cancel, this.slotFor(uri), version);
    this.stopStaleRun();
  }

  /** Without shared memory: recycles a worker whose current run is stale and has run SUPERSEDE_AFTER_MS. */
  private stopStaleRun(): void {
    const w = this.worker;
    const f = this.inFlight[0];
    if (!w || this.shared || !f || f.slot === undefined || f.version === undefined) return;
    if (Atomics.load(this.cancel, f.slot) === f.version) return;
    if (this.clock.now() - f.startedAt < SUPERSEDE_AFTER_MS) return;
    this.worker = undefined;
    w.terminate();
    const why = `version ${f.version} of ${f.uri ?? "a scenario"} was superseded while it ran`;
    this.rpc.rejectAll("restarted", why);
    this.inFlight.length = 0;
    if (this.disposed) return;
    // Not a crash: it does not count towards the crash loop, but sessions are rebuilt as after one.
    this.restarts++;
    this.superseded++;
    this.opts.log.info(`${why}; stopped it by restarting the worker (no shared memory to cancel it in place)`);
    this.clock.setTimeout(() => {
      if (!this.disposed) this.opts.onRestart(why);
    }, 0);
  }

  private ensure(): EngineTransport {
    if (this.worker) return this.worker;
    const t0 = this.clock.now();
    const w = (this.opts.spawn ?? platform.spawnWorker)(this.opts.workerPath, { heapMb: WORKER_HEAP_MB });
    this.worker = w;
    // The worker beats once when it has started, then while it works (see EngineInit).
    this.beat = Atomics.load(this.cancel, HEARTBEAT);
    this.beatAt = this.checkedAt = this.clock.now();
    this.started = false;
    const shared = w.sharedMemory && typeof SharedArrayBuffer === "function" && this.cancel.buffer instanceof SharedArrayBuffer;
    this.shared = shared;
    const l10nBundle = this.opts.l10n ? { l10n: this.opts.l10n } : {};
    const init: EngineInit = shared ? { init: true, cancel: this.cancel.buffer, heartbeat: HEARTBEAT, ...l10nBundle } : { init: true, heartbeat: HEARTBEAT, beatMessages: true, ...l10nBundle };
    w.onMessage((m) => this.onMessage(m as WorkerMessage));
    w.onDeath((why) => this.onDeath(w, why));
    w.post(init);
    if (this.watchdog === undefined) {
      this.tickMs = Math.max(50, Math.min(1000, this.opts.timeoutMs() / 4));
      this.watchdog = this.clock.setInterval(() => this.checkHung(), this.tickMs);
    }
    this.opts.log.info(`simulation worker started (${this.clock.now() - t0} ms)`);
    return w;
  }

  private onMessage(m: WorkerMessage): void {
    if ("event" in m) {
      // Without shared memory the worker's heartbeat comes as messages: count it where the watchdog looks.
      if (m.event === "beat") Atomics.add(this.cancel, HEARTBEAT, 1);
      else this.opts.log[m.level](m.message);
      return;
    }
    this.rpc.receive(m);
  }

  private checkHung(): void {
    if (!this.worker) return;
    this.stopStaleRun();
    if (!this.worker) return;
    const limit = this.opts.timeoutMs();
    const now = this.clock.now();
    const since = now - this.checkedAt;
    this.checkedAt = now;
    // A long run beats between its steps and within them (every so many transactions, and while
    // its text is parsed): only a worker silent for the whole limit is hung.
    const beat = Atomics.load(this.cancel, HEARTBEAT);
    if (beat !== this.beat) {
      this.beat = beat;
      this.beatAt = now;
      this.started = true;
    }
    if (since > Math.max(limit / 2, 2 * this.tickMs)) {
      // This look comes late: the extension host itself was stalled (a loaded machine, a busy
      // extension), so the worker's answers and beats may be waiting behind it. Silence that the
      // watchdog did not watch is no evidence of a hang: give the worker a fresh limit.
      this.beatAt = now;
      return;
    }
    // Until its first beat the worker is still loading its code.
    const allowed = this.started ? limit : Math.max(limit, STARTUP_ALLOWANCE_MS);
    for (const p of this.rpc.waiting()) {
      if (now - Math.max(p.sentAt, this.beatAt) > allowed) {
        const w = this.worker;
        this.opts.log.error(`the simulation worker did not answer "${p.method}" within ${allowed} ms; restarting it`);
        this.kill(w, `no answer to "${p.method}" within ${allowed} ms`);
        return;
      }
    }
  }

  private kill(w: EngineTransport, why: string): void {
    this.onDeath(w, why);
    w.terminate();
  }

  private onDeath(w: EngineTransport, why: string): void {
    if (this.worker !== w) return; // already handled
    this.worker = undefined;
    this.inFlight.length = 0;
    this.rpc.rejectAll("restarted", why);
    if (this.disposed) return;
    this.restarts++;
    const now = this.clock.now();
    this.deaths.push(now);
    while (this.deaths.length && now - this.deaths[0]! > CRASH_WINDOW_MS) this.deaths.shift();
    if (this.deaths.length >= CRASH_LIMIT && this.opts.onGiveUp) {
      // Rebuilding would run the same text into the same crash: stop until the user asks.
      this.gaveUp = true;
      this.deaths.length = 0;
      this.opts.log.error(`${why}; the worker died ${CRASH_LIMIT} times within ${CRASH_WINDOW_MS / 1000} s: not rebuilding the open scenarios until the engine is restarted`);
      this.opts.onGiveUp(why);
      return;
    }
    this.opts.log.error(`${why}; restarting the worker and rebuilding open scenarios from their text`);
    // Rebuild on the next tick so a crash loop cannot starve the extension host.
    this.clock.setTimeout(() => {
      if (!this.disposed) this.opts.onRestart(why);
    }, 50);
  }

  /** Test and command hook: restart the worker now. */
  restart(why = "restart requested"): void {
    this.gaveUp = false;
    this.deaths.length = 0;
    if (this.worker) this.kill(this.worker, why);
    else this.opts.onRestart(why);
  }

  dispose(): void {
    this.disposed = true;
    if (this.watchdog !== undefined) this.clock.clearInterval(this.watchdog);
    const w = this.worker;
    this.worker = undefined;
    this.rpc.rejectAll("restarted", "disposed");
    w?.terminate();
  }
}
