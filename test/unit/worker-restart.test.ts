// The worker killed or hung at each phase of the extension's use of it, with the real supervisor
// (EngineClient), the real run scheduler and debug adapter, and a fake worker: the real built
// worker (dist/worker.cjs) behind a wrapper that dies (or hangs) on the n-th request of one method.
// After the restart every session is rebuilt from the host's text, the cursor stays where it was,
// the edit the worker died on is not lost, a trace page asked during the death gets its rows, and
// a debug step taken during the death stops where it would have without one.
//
// Time is a fake clock (the supervisor's watchdog, its restart delay and the scheduler's timers):
// nothing here depends on how fast or loaded the machine is.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DebugProtocol } from "@vscode/debugprotocol";
import { EngineClient, EngineRequestError, type SupervisorClock } from "../../src/extension/engineClient.js";
import { RebuildGate, RunScheduler, type Clock } from "../../src/extension/runs.js";
import { PassthroughDebugSession, type EngineLink } from "../../src/debug/adapter.js";
import type { SessionState } from "../../src/protocol/engine.js";

const workerPath = join(__dirname, "..", "..", "dist", "worker.cjs");
const TEXT = readFileSync(join(__dirname, "..", "..", "examples", "healthy-nic.passthrough.yaml"), "utf8");
const URI = "file:///w/healthy-nic.passthrough.yaml";
const log = { info: (m: string) => process.env.WR_DEBUG && console.log(m), warn: () => {}, error: (m: string) => process.env.WR_DEBUG && console.log(m), debug: () => {}, trace: () => {} } as never;

/** Supervisor and scheduler time: moves only when the test advances it; timers fire in time order. */
class FakeClock implements SupervisorClock, Clock {
  t = 0;
  private timers: { id: number; at: number; every?: number; fn: () => void }[] = [];
  private ids = 1;
  now = (): number => this.t;
  setInterval = (fn: () => void, ms: number): unknown => this.add(fn, ms, ms);
  setTimeout = (fn: () => void, ms: number): unknown => this.add(fn, ms);
  clearInterval = (h: unknown): void => this.clearTimeout(h);
  clearTimeout = (h: unknown): void => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  private add(fn: () => void, ms: number, every?: number): number {
    const id = this.ids++;
    this.timers.push(every === undefined ? { id, at: this.t + ms, fn } : { id, at: this.t + ms, every, fn });
    return id;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      this.t = next.at;
      if (next.every === undefined) this.timers = this.timers.filter((x) => x !== next);
      else next.at += next.every;
      next.fn();
    }
    this.t = end;
  }
}

const realTick = () => new Promise((ok) => setTimeout(ok, 1));

/** A worker that is the real one, except that the n-th request of `method` kills it ("exit") or hangs it (no answer, no beat). Once per test. */
function faultyWorker(method: string, nth: number, how: "exit" | "hang"): string {
  return faulty(method, nth, how).file;
}
function faulty(method: string, nth: number, how: "exit" | "hang"): { file: string; fired: () => boolean } {
  const dir = mkdtempSync(join(tmpdir(), "pt-faulty-"));
  dirs.push(dir);
  const file = join(dir, "worker.cjs");
  const marker = join(dir, "fired");
  writeFileSync(
    file,
    `const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
let seen = 0;
const on = parentPort.on.bind(parentPort);
parentPort.on = (ev, fn) => on(ev, ev !== "message" ? fn : (m) => {
  if (m && m.method === ${JSON.stringify(method)} && ++seen === ${nth} && !fs.existsSync(${JSON.stringify(marker)})) {
    fs.writeFileSync(${JSON.stringify(marker)}, "");
    if (${JSON.stringify(how)} === "exit") process.exit(7);
    for (;;) {}
  }
  fn(m);
});
require(${JSON.stringify(workerPath)});
`,
  );
  return { file, fired: () => existsSync(marker) };
}

const dirs: string[] = [];
const disposers: (() => void)[] = [];
afterEach(() => {
  for (const d of disposers.splice(0)) d();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

class Doc {
  version = 1;
  constructor(public text: string) {}
  getText(): string {
    return this.text;
  }
}

/** The extension's wiring (scenarios.ts, debugging.ts, extension.ts) without VS Code: supervisor, scheduler, gate, rebuild on restart. */
function setup(worker: string, limit = 1e9) {
  const clock = new FakeClock();
  const published: SessionState[] = [];
  const runListeners: ((uri: string, s: SessionState) => void)[] = [];
  let rebuilds = 0;
  // eslint-disable-next-line prefer-const
  let runs: RunScheduler;
  // eslint-disable-next-line prefer-const
  let gate: RebuildGate;
  const client = new EngineClient({
    workerPath: worker,
    log,
    timeoutMs: () => limit,
    clock,
    onRestart: () => {
      const n = client.restarts;
      void runs.rebuild().finally(() => {
        gate.rebuilt(n);
        rebuilds++;
      });
    },
  });
  disposers.push(() => client.dispose());
  gate = new RebuildGate(() => client.restarts);
  runs = new RunScheduler(
    {
      update: (uri, version, text, cancellable) => client.request("update", cancellable ? { uri, version, text, slot: client.slotFor(uri) } : { uri, version, text }),
      setCursor: (uri, step) => client.request("setCursor", { uri, step }),
      markNewest: (uri, version) => Atomics.store(client.cancel, client.slotFor(uri), version),
      isSuperseded: (e) => e instanceof EngineRequestError && (e.code === "cancelled" || e.code === "restarted"),
    },
    {
      publish: (uri, state, kind) => {
        published.push(state);
        if (kind === "run") for (const l of runListeners) l(uri, state);
      },
      running: () => {},
      log: () => {},
    },
    { delay: () => 5, settle: () => 400 },
    clock,
  );
  disposers.push(() => runs.dispose());
  const doc = new Doc(TEXT);
  const openStep = limit < 1e9 ? 0 : 1;
  /** Lets the worker answer and fires the timers due (the clock moves `step` ms per look) until `cond`. */
  const until = async (cond: () => boolean, step = 1, what = "condition") => {
    for (let i = 0; i < 20_000 && !cond(); i++) {
      await realTick();
      clock.advance(step);
    }
    if (!cond()) throw new Error(`timed out waiting for ${what} (restarts ${client.restarts}, rebuilds ${rebuilds}, gate ${gate.pending ? "closed" : "open"}, worker ${client.running ? "running" : "none"})`);
  };
  const link: EngineLink = {
    request: (method, params) => gate.call(() => client.request(method, params)),
    open: async () => {
      runs.track(URI, doc);
      await until(() => runs.states.has(URI), openStep, "the first run");
      return { uri: URI, state: runs.states.get(URI)! };
    },
    setCursor: (uri, step) => void runs.setCursor(uri, step),
    onDidRun: (l) => {
      runListeners.push(l);
      return { dispose: () => undefined };
    },
  };
  return { clock, client, runs, gate, doc, published, until, link, rebuilds: () => rebuilds };
}

/** Drives the debug adapter over DAP in-process. */
class Dap {
  readonly session: PassthroughDebugSession;
  readonly events: DebugProtocol.Event[] = [];
  private seq = 1;
  private readonly waiting = new Map<number, (r: DebugProtocol.Response) => void>();
  constructor(link: EngineLink) {
    this.session = new PassthroughDebugSession(link);
    this.session.onDidSendMessage((m) => {
      const msg = m as DebugProtocol.ProtocolMessage;
      if (msg.type === "response") this.waiting.get((msg as DebugProtocol.Response).request_seq)?.(msg as DebugProtocol.Response);
      if (msg.type === "event") this.events.push(msg as DebugProtocol.Event);
    });
  }
  request(command: string, args?: unknown): Promise<DebugProtocol.Response> {
    const seq = this.seq++;
    const p = new Promise<DebugProtocol.Response>((ok) => this.waiting.set(seq, ok));
    this.session.handleMessage({ seq, type: "request", command, arguments: args } as DebugProtocol.Request);
    return p;
  }
  stops(): DebugProtocol.StoppedEvent[] {
    return this.events.filter((e): e is DebugProtocol.StoppedEvent => e.event === "stopped");
  }
  outputs(): string {
    return this.events.filter((e) => e.event === "output").map((e) => (e.body as { output: string }).output).join("");
  }
}

/** `step`: fake ms per look while waiting (0: time stands still, only due timers fire). */
async function launched(s: ReturnType<typeof setup>, step = 1): Promise<Dap> {
  const dap = new Dap(s.link);
  await dap.request("initialize", { adapterID: "passthrough", linesStartAt1: true, columnsStartAt1: true });
  const launch = dap.request("launch", { scenario: URI, stopOnEntry: true });
  await s.until(() => dap.events.some((e) => e.event === "initialized"), step, "initialized");
  await dap.request("configurationDone");
  expect((await launch).success).toBe(true);
  await s.until(() => dap.stops().length === 1, step, "the entry stop");
  return dap;
}

/** The line the debugger shows for the top frame. */
async function line(dap: Dap): Promise<number> {
  const st = (await dap.request("stackTrace", { threadId: 1 })) as DebugProtocol.StackTraceResponse;
  return st.body.stackFrames[0]!.line;
}

describe.skipIf(!existsSync(workerPath))("worker killed or hung mid-use: restarted, sessions rebuilt, cursor kept, nothing lost", () => {
  it("killed during the run of an edit: the edited text is rebuilt and the cursor stays on its step, never shown elsewhere", async () => {
    const s = setup(faultyWorker("update", 2, "exit"));
    s.runs.track(URI, s.doc);
    await s.until(() => s.runs.states.get(URI)?.runVersion === 1, 1, "the first run");
    await s.runs.setCursor(URI, 3);
    expect(s.runs.states.get(URI)!.cursor).toBe(3);
    // The user types a comment; its run is the one the worker dies in.
    s.doc.text = TEXT.replace("workload:", "workload: # edited");
    s.doc.version = 2;
    const before = s.published.length;
    s.runs.edited(URI);
    await s.until(() => s.client.restarts === 1, 1, "the death");
    await s.until(() => s.rebuilds() === 1, 1, "the rebuild");
    const st = s.runs.states.get(URI)!;
    expect(st.runVersion).toBe(2); // the edit the worker died on was not lost
    expect(st.cursor).toBe(3);
    // Every state the views were given after the death has the cursor on step 3.
    expect(s.published.slice(before).map((p) => p.cursor)).toEqual(s.published.slice(before).map(() => 3));
    // The new worker's session agrees (its tree state is at the cursor).
    const again = await s.client.request("setCursor", { uri: URI, step: 3 });
    expect(again.runVersion).toBe(2);
  }, 120_000);

  it("killed during a trace page request: the page is asked again of the rebuilt session and has the same rows", async () => {
    const s = setup(faultyWorker("tracePage", 2, "exit"));
    s.runs.track(URI, s.doc);
    await s.until(() => s.runs.states.has(URI), 1, "the first run");
    const params = { uri: URI, filter: {}, start: 0, count: 64, compare: false };
    const first = await s.gate.call(() => s.client.request("tracePage", params));
    let second: typeof first | undefined;
    let failed: unknown;
    s.gate.call(() => s.client.request("tracePage", params)).then(
      (r) => (second = r),
      (e: unknown) => (failed = e),
    );
    await s.until(() => second !== undefined || failed !== undefined, 1, "the page");
    expect(failed).toBeUndefined();
    expect(s.client.restarts).toBe(1);
    expect(second!.matched).toBe(first.matched);
    expect(Array.from(second!.columns.index as Uint32Array)).toEqual(Array.from(first.columns.index as Uint32Array));
  }, 120_000);

  it("killed during a debug step: the step is taken on the rebuilt session and the session goes on", async () => {
    const s = setup(faultyWorker("debugScan", 1, "exit"));
    const dap = await launched(s);
    const entry = await line(dap);
    const r = await dap.request("next", { threadId: 1 });
    expect(r.success).toBe(true);
    await s.until(() => dap.stops().length === 2, 1, "the stop after the step");
    expect(s.client.restarts).toBe(1);
    expect(dap.events.some((e) => e.event === "terminated")).toBe(false);
    expect(dap.outputs()).not.toMatch(/failed/);
    expect(await line(dap)).toBeGreaterThan(entry);
    // And it keeps stepping.
    await dap.request("next", { threadId: 1 });
    await s.until(() => dap.stops().length === 3, 1, "the next stop");
    expect(dap.outputs()).not.toMatch(/failed/);
  }, 120_000);

  it("hung during a debug step (no answer, no heartbeat past engineTimeout): restarted, rebuilt, the step completes", async () => {
    const LIMIT = 400;
    const TICK = 100;
    const worker = faulty("debugScan", 1, "hang");
    const s = setup(worker.file, LIMIT);
    // Until the hang the clock moves only with the watchdog's looks, which see the worker beat.
    const dap = await launched(s, 0);
    s.clock.advance(TICK); // the watchdog has seen the worker's first beat: it has started
    const entry = await line(dap);
    const stepped = dap.request("next", { threadId: 1 });
    // The worker is stuck in the step (and every earlier answer has reached the host).
    await s.until(worker.fired, 0, "the hang");
    for (let i = 0; i < 20; i++) await realTick();
    s.clock.advance(LIMIT - TICK);
    expect(s.client.restarts).toBe(0); // not a hang yet
    s.clock.advance(2 * TICK);
    expect(s.client.restarts).toBe(1);
    expect((await stepped).success).toBe(true);
    s.clock.advance(50); // the rebuild is scheduled on the supervisor's next tick
    await s.until(() => dap.stops().length === 2, 0, "the stop after the step");
    expect(dap.events.some((e) => e.event === "terminated")).toBe(false);
    expect(dap.outputs()).not.toMatch(/failed/);
    expect(await line(dap)).toBeGreaterThan(entry);
    expect(s.runs.states.get(URI)!.runVersion).toBe(1);
  }, 120_000);
});
