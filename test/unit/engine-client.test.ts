// The extension's supervisor of the engine worker, with the real built worker (dist/worker.cjs):
// a long step that beats within itself is not taken for a hang, a silent worker is; a worker that
// keeps dying stops being rebuilt (a crash loop) until the engine is restarted.
//
// The watchdog's time is a clock the test advances (FakeClock): how fast this machine runs, and
// how loaded it is, changes how long a test takes, never what it asserts.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EngineClient, STARTUP_ALLOWANCE_MS, type SupervisorClock } from "../../src/extension/engineClient.js";
import { POLL_TRANSACTIONS } from "../../src/sim/machine.js";

const workerPath = join(__dirname, "..", "..", "dist", "worker.cjs");
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m), debug: () => {}, trace: () => {} } as never;

/** The heartbeat slot (after the 1024 cancellation slots). */
const HEARTBEAT = 1024;
const LIMIT = 400;
/** The watchdog's period for LIMIT: a quarter of it. */
const TICK = 100;

/** A clock whose time moves only when the test says so; its timers fire in time order. */
class FakeClock implements SupervisorClock {
  t = 0;
  private timers: { id: number; at: number; every?: number; fn: () => void }[] = [];
  private ids = 1;
  now = (): number => this.t;
  setInterval = (fn: () => void, ms: number): unknown => this.add(fn, ms, ms);
  setTimeout = (fn: () => void, ms: number): unknown => this.add(fn, ms);
  clearInterval = (h: unknown): void => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  private add(fn: () => void, ms: number, every?: number): number {
    const id = this.ids++;
    this.timers.push(every === undefined ? { id, at: this.t + ms, fn } : { id, at: this.t + ms, every, fn });
    return id;
  }
  /** Time passes and every timer due in it fires, as on an idle host. */
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
  /** Time passes while the host's event loop is blocked: overdue timers fire once, late. */
  stall(ms: number): void {
    this.t += ms;
    for (const x of this.timers) if (x.at < this.t) x.at = this.t;
    this.advance(0);
  }
}

const base = readFileSync(join(__dirname, "..", "..", "examples", "healthy-nic.passthrough.yaml"), "utf8");
const head = base.slice(0, base.indexOf("workload:"));
/** ONE dma step of 40 × POLL_TRANSACTIONS transactions (64 KiB = 16 pages, repeated). */
const TRANSACTIONS = 40 * POLL_TRANSACTIONS;
const longStep = `${head}workload:\n  - start: web01\n  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 64KiB, write: true, repeat: ${TRANSACTIONS / 16} }\n`;

const tick = () => new Promise((ok) => setTimeout(ok, 1));

let client: EngineClient | undefined;
afterEach(() => client?.dispose());

describe.skipIf(!existsSync(workerPath))("engine worker supervision", () => {
  it("does not restart a worker busy with one long step that beats within it; restarts a silent one", async () => {
    const clock = new FakeClock();
    const restarts: string[] = [];
    client = new EngineClient({ workerPath, log, timeoutMs: () => LIMIT, onRestart: (why) => restarts.push(why), clock });
    const slot = client.slotFor("long");
    Atomics.store(client.cancel, slot, 1); // the newest version of the document, as the scenario manager stores it
    let done = false;
    const update = client.request("update", { uri: "long", version: 1, text: longStep, slot });
    update.then(
      () => (done = true),
      () => (done = true),
    );
    // Each beat the test sees buys the worker 3/4 of the limit of watchdog time: beats within the
    // one step keep it alive through several limits. (Several beats between two looks of a busy
    // test count as one look: the counter tells how many there were.)
    const first = Atomics.load(client.cancel, HEARTBEAT);
    let seen = first;
    let looks = 0;
    while (!done) {
      await tick();
      const b = Atomics.load(client.cancel, HEARTBEAT);
      if (b === seen) continue;
      seen = b;
      looks++;
      clock.advance((3 * LIMIT) / 4);
    }
    const st = await update;
    expect(st.totals.steps).toBe(2);
    expect(st.steps[1]!.transactions).toBe(TRANSACTIONS);
    expect(restarts).toEqual([]);
    // The step beat every POLL_TRANSACTIONS transactions (between steps alone: a handful of beats).
    expect(Atomics.load(client.cancel, HEARTBEAT) - first).toBeGreaterThanOrEqual(TRANSACTIONS / POLL_TRANSACTIONS);
    // Several limits of watchdog time passed while it ran.
    expect(looks).toBeGreaterThanOrEqual(4);
    expect(clock.now()).toBeGreaterThan(2 * LIMIT);
    // A hang (no steps, no beats) is caught once the limit has passed.
    const hung = client.request("crash", { how: "hang" }).then(
      () => "answered",
      (e: { code: string }) => e.code,
    );
    clock.advance(LIMIT - TICK);
    expect(restarts).toEqual([]);
    clock.advance(2 * TICK);
    expect(await hung).toBe("restarted");
    clock.advance(50); // the rebuild is scheduled on the next tick
    expect(restarts.length).toBe(1);
    expect(lines.some((l) => /did not answer "crash" within 400 ms/.test(l))).toBe(true);
  }, 60_000);

  it("gives a worker that has not started yet (no first beat) the startup allowance, then restarts it", async () => {
    // A worker that loads but never beats nor answers: a worker stuck while starting.
    const dir = mkdtempSync(join(tmpdir(), "pt-watchdog-"));
    const silent = join(dir, "silent-worker.cjs");
    writeFileSync(silent, 'require("node:worker_threads").parentPort.on("message", () => {});\n');
    const clock = new FakeClock();
    const restarts: string[] = [];
    client = new EngineClient({ workerPath: silent, log, timeoutMs: () => LIMIT, onRestart: (why) => restarts.push(why), clock });
    const ping = client.request("ping", {}).then(
      () => "answered",
      (e: { code: string }) => e.code,
    );
    clock.advance(10 * LIMIT); // a slow start on a loaded machine: not a hang yet
    expect(restarts).toEqual([]);
    expect(client.running).toBe(true);
    clock.advance(STARTUP_ALLOWANCE_MS);
    expect(await ping).toBe("restarted");
    clock.advance(50);
    expect(restarts.length).toBe(1);
  });

  it("does not count a stall of the extension host as the worker's silence", async () => {
    const clock = new FakeClock();
    const restarts: string[] = [];
    client = new EngineClient({ workerPath, log, timeoutMs: () => LIMIT, onRestart: (why) => restarts.push(why), clock });
    expect(await client.request("ping", {})).toBe("pong"); // started: it has beaten
    clock.advance(TICK);
    const hung = client.request("crash", { how: "hang" }).then(
      () => "answered",
      (e: { code: string }) => e.code,
    );
    // The host's event loop was blocked for three limits: the watchdog saw none of that time.
    clock.stall(3 * LIMIT);
    expect(restarts).toEqual([]);
    expect(client.running).toBe(true);
    // Watched silence for a whole limit: now it is a hang.
    clock.advance(LIMIT + TICK);
    expect(await hung).toBe("restarted");
  });

  it("stops rebuilding after three deaths in a minute, until restarted", async () => {
    const clock = new FakeClock();
    const restarts: string[] = [];
    const gaveUp: string[] = [];
    client = new EngineClient({ workerPath, log, timeoutMs: () => 10_000, onRestart: (why) => restarts.push(why), onGiveUp: (why) => gaveUp.push(why), clock });
    for (let i = 0; i < 3; i++) {
      const r = await client.request("crash", { how: "throw" }).then(
        () => "answered",
        (e: { code: string }) => e.code,
      );
      expect(r).toBe("restarted");
      clock.advance(100);
    }
    expect(restarts.length).toBe(2);
    expect(gaveUp.length).toBe(1);
    expect(client.gaveUp).toBe(true);
    expect(lines.some((l) => /died 3 times within 60 s/.test(l))).toBe(true);
    // The engine still answers the next request (an edit, a restart): a fresh worker starts.
    expect(await client.request("ping", {})).toBe("pong");
    client.restart("test");
    expect(client.gaveUp).toBe(false);
  });

  it("rebuilds after deaths that are more than a minute apart", async () => {
    const clock = new FakeClock();
    const restarts: string[] = [];
    const gaveUp: string[] = [];
    client = new EngineClient({ workerPath, log, timeoutMs: () => 10_000, onRestart: (why) => restarts.push(why), onGiveUp: (why) => gaveUp.push(why), clock });
    for (let i = 0; i < 4; i++) {
      await client.request("crash", { how: "throw" }).catch(() => undefined);
      clock.advance(31_000);
    }
    expect(restarts.length).toBe(4);
    expect(gaveUp).toEqual([]);
  });
});
