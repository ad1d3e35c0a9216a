// One supervisor, two transports (issue 18, "Web"): the engine client drives a worker through
// EngineTransport, whether Node worker_threads or a browser Web Worker. A browser page that is not
// cross-origin isolated has no SharedArrayBuffer, so there the worker's heartbeat arrives as
// messages: the watchdog must still tell a long run (beating) from a hung worker (silent). The Web
// Worker transport itself is tested against a stand-in Worker (no browser here; the web e2e suite,
// scripts/e2e-web.mjs, runs the real one).
//
// Time is a clock the test advances: nothing here depends on how fast the machine is.
import { describe, expect, it } from "vitest";
import { EngineClient, STARTUP_ALLOWANCE_MS, SUPERSEDE_AFTER_MS, type SupervisorClock } from "../../src/extension/engineClient.js";
import type { EngineTransport } from "../../src/extension/platformApi.js";
import { webWorkerTransport, type BrowserWorker, type WebWorkerHost } from "../../src/extension/webWorkerTransport.js";
import { BEAT_MESSAGE_MS, serveEngine } from "../../src/engine/server.js";
import type { EngineInit, EngineRequest } from "../../src/protocol/engine.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const log = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {}, trace: () => {} } as never;
const LIMIT = 400;
const flush = () => new Promise((ok) => setTimeout(ok, 0));

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

/** A worker without shared memory that the test speaks for: it sees what the host posts and answers by hand. */
class ScriptedWorker implements EngineTransport {
  readonly sharedMemory = false;
  readonly received: unknown[] = [];
  terminated = false;
  private listener?: (m: unknown) => void;
  post(m: unknown): void {
    this.received.push(m);
  }
  onMessage(l: (m: unknown) => void): void {
    this.listener = l;
  }
  onDeath(): void {}
  terminate(): void {
    this.terminated = true;
  }
  send(m: unknown): void {
    this.listener?.(m);
  }
}

describe("the supervisor over a transport without shared memory", () => {
  it("asks for beats as messages, keeps a beating long run alive and restarts a silent worker", async () => {
    const clock = new FakeClock();
    const workers: ScriptedWorker[] = [];
    const restarts: string[] = [];
    const client = new EngineClient({ workerPath: "https://x.invalid/worker.js", spawn: () => (workers.push(new ScriptedWorker()), workers.at(-1)!), log, timeoutMs: () => LIMIT, onRestart: (why) => restarts.push(why), clock });
    try {
      const long = client.request("ping", {});
      const w = workers[0]!;
      const init = w.received[0] as EngineInit;
      // No SharedArrayBuffer crosses (a browser would refuse to post one): beats come as messages.
      expect(init).toMatchObject({ init: true, beatMessages: true });
      expect(init.cancel).toBeUndefined();
      const req = w.received[1] as EngineRequest;
      expect(req.method).toBe("ping");
      // The worker beats by message: more than the startup allowance and many limits pass without a
      // restart (a worker whose beats went unseen would be restarted once the allowance is over).
      w.send({ event: "beat" });
      while (clock.now() < STARTUP_ALLOWANCE_MS + 4 * LIMIT) {
        clock.advance(LIMIT / 2);
        w.send({ event: "beat" });
      }
      expect(restarts).toEqual([]);
      expect(w.terminated).toBe(false);
      w.send({ id: req.id, ok: true, result: { pong: true } });
      let answer: unknown;
      void long.then((r) => (answer = r), (e: Error) => (answer = e.message));
      await flush();
      expect(answer).toEqual({ pong: true });
      // Silence while a request waits: a hang, caught after the limit.
      let hung = "waiting";
      void client.request("ping", {}).then(
        () => (hung = "answered"),
        (e: { code: string }) => (hung = e.code),
      );
      clock.advance(LIMIT + LIMIT / 2);
      await flush();
      expect(hung).toBe("restarted");
      expect(w.terminated).toBe(true);
      clock.advance(50);
      expect(restarts.length).toBe(1);
      // The next request starts a new worker through the same transport factory.
      void client.request("ping", {}).catch(() => undefined);
      expect(workers.length).toBe(2);
    } finally {
      client.dispose();
    }
  });
});

describe("a stale run without shared memory (issue 18: the web transport cancels mid-way as the Node one does)", () => {
  function setup() {
    const clock = new FakeClock();
    const workers: ScriptedWorker[] = [];
    const restarts: string[] = [];
    const gaveUp: string[] = [];
    const client = new EngineClient({ workerPath: "https://x.invalid/worker.js", spawn: () => (workers.push(new ScriptedWorker()), workers.at(-1)!), log, timeoutMs: () => 10 * LIMIT, onRestart: (why) => restarts.push(why), onGiveUp: (why) => gaveUp.push(why), clock });
    const update = (version: number) => {
      let outcome = "waiting";
      const slot = client.slotFor("file:///a.passthrough.yaml");
      client.markNewest("file:///a.passthrough.yaml", version);
      void client.request("update", { uri: "file:///a.passthrough.yaml", version, text: "x", slot }).then(
        () => (outcome = "answered"),
        (e: { code: string }) => (outcome = e.code),
      );
      return () => outcome;
    };
    return { clock, workers, restarts, gaveUp, client, update };
  }

  it("recycles the worker when a newer version supersedes a run that has been beating for a while", async () => {
    const { clock, workers, restarts, client, update } = setup();
    try {
      const v1 = update(1);
      const w = workers[0]!;
      w.send({ event: "beat" });
      // The run goes on (it beats, so the watchdog keeps it) past SUPERSEDE_AFTER_MS.
      for (let t = 0; t <= SUPERSEDE_AFTER_MS; t += 100) {
        clock.advance(100);
        w.send({ event: "beat" });
      }
      expect(w.terminated).toBe(false);
      // The user edits: the worker cannot read the slot, so the supervisor stops the run by recycling it.
      client.markNewest("file:///a.passthrough.yaml", 2);
      expect(w.terminated).toBe(true);
      await flush();
      expect(v1()).toBe("restarted");
      clock.advance(1);
      expect(restarts).toEqual(["version 1 of file:///a.passthrough.yaml was superseded while it ran"]);
      expect(client.superseded).toBe(1);
      // The rebuild and the new version go to a fresh worker.
      const v2 = update(2);
      expect(workers.length).toBe(2);
      const req = workers[1]!.received.find((m) => (m as EngineRequest).method === "update") as EngineRequest<"update">;
      expect(req.params.version).toBe(2);
      workers[1]!.send({ id: req.id, ok: true, result: {} });
      await flush();
      expect(v2()).toBe("answered");
    } finally {
      client.dispose();
    }
  });

  it("lets a short stale run finish, and stops it at the watchdog's next look once it has run long enough", async () => {
    const { clock, workers, client, update } = setup();
    try {
      const v1 = update(1);
      const w = workers[0]!;
      w.send({ event: "beat" });
      clock.advance(SUPERSEDE_AFTER_MS / 5);
      client.markNewest("file:///a.passthrough.yaml", 2);
      expect(w.terminated).toBe(false);
      // Still running (beating) later: the watchdog stops it without waiting for another edit.
      for (let t = 0; t < SUPERSEDE_AFTER_MS + 1000 && !w.terminated; t += 50) {
        clock.advance(50);
        w.send({ event: "beat" });
      }
      expect(w.terminated).toBe(true);
      await flush();
      expect(v1()).toBe("restarted");
    } finally {
      client.dispose();
    }
  });

  it("keeps a current run however long it runs, and counts a queued run's time from when the worker starts it", async () => {
    const { clock, workers, client, update } = setup();
    try {
      const v1 = update(1);
      const w = workers[0]!;
      clock.advance(2 * SUPERSEDE_AFTER_MS);
      // v1 is still the newest: nothing is stopped however long it runs.
      client.markNewest("file:///a.passthrough.yaml", 1);
      expect(w.terminated).toBe(false);
      // Another document's run v1 of b queues behind it and is superseded before the worker starts on it.
      const slotB = client.slotFor("b");
      let b1 = "waiting";
      client.markNewest("b", 1);
      void client.request("update", { uri: "b", version: 1, text: "x", slot: slotB }).then(
        () => (b1 = "answered"),
        (e: { code: string }) => (b1 = e.code),
      );
      clock.advance(2 * SUPERSEDE_AFTER_MS);
      client.markNewest("b", 2);
      expect(w.terminated).toBe(false);
      const reqs = w.received.filter((m) => (m as EngineRequest).method === "update") as EngineRequest<"update">[];
      w.send({ id: reqs[0]!.id, ok: true, result: {} });
      await flush();
      expect(v1()).toBe("answered");
      // Now the worker runs b's stale v1: stopped only once it has run SUPERSEDE_AFTER_MS itself.
      clock.advance(SUPERSEDE_AFTER_MS / 2);
      client.markNewest("b", 2);
      expect(w.terminated).toBe(false);
      clock.advance(SUPERSEDE_AFTER_MS / 2);
      client.markNewest("b", 2);
      expect(w.terminated).toBe(true);
      await flush();
      expect(b1).toBe("restarted");
    } finally {
      client.dispose();
    }
  });

  it("never gives up for superseded runs: recycling is not a crash", async () => {
    const { clock, workers, gaveUp, client, update } = setup();
    try {
      for (let v = 1; v <= 5; v++) {
        update(v);
        clock.advance(SUPERSEDE_AFTER_MS);
        client.markNewest("file:///a.passthrough.yaml", v + 1);
        await flush();
        clock.advance(1);
      }
      expect(workers.length).toBe(5);
      expect(workers.every((w) => w.terminated)).toBe(true);
      expect(client.superseded).toBe(5);
      expect(client.gaveUp).toBe(false);
      expect(gaveUp).toEqual([]);
    } finally {
      client.dispose();
    }
  });

  it("leaves a stale run alone when the worker shares memory (it polls its slot and stops itself)", () => {
    const clock = new FakeClock();
    const w = new ScriptedWorker();
    Object.defineProperty(w, "sharedMemory", { value: true });
    const client = new EngineClient({ workerPath: "x", spawn: () => w, log, timeoutMs: () => 10 * LIMIT, onRestart: () => {}, clock });
    try {
      const slot = client.slotFor("a");
      void client.request("update", { uri: "a", version: 1, text: "x", slot }).catch(() => undefined);
      clock.advance(2 * SUPERSEDE_AFTER_MS);
      client.markNewest("a", 2);
      expect(Atomics.load(client.cancel, slot)).toBe(2);
      expect(w.terminated).toBe(typeof SharedArrayBuffer !== "function");
    } finally {
      client.dispose();
    }
  });
});

describe("the worker's beats as messages (serveEngine)", () => {
  const scenario = readFileSync(join(__dirname, "..", "..", "examples", "healthy-nic.passthrough.yaml"), "utf8");
  function serve(init: EngineInit, now: () => number) {
    const out: unknown[] = [];
    let listener: (m: unknown) => void = () => {};
    serveEngine({ post: (m) => out.push(m), onMessage: (l) => (listener = l) }, undefined, now);
    listener(init);
    return { out, send: (m: unknown) => listener(m), beats: () => out.filter((m) => (m as { event?: string }).event === "beat").length };
  }

  it("beats once when ready and then at most once per BEAT_MESSAGE_MS while a run gives progress", () => {
    let t = 0;
    // Every look at the clock is 100 ms later: a run's many progress calls span seconds.
    const s = serve({ init: true, heartbeat: 1024, beatMessages: true }, () => (t += 100));
    expect(s.beats()).toBe(1);
    s.send({ id: 1, method: "update", params: { uri: "a", version: 1, text: scenario } });
    const calls = t / 100;
    expect(s.beats()).toBeGreaterThan(1);
    expect(s.beats() - 1).toBeLessThanOrEqual(Math.ceil((calls * 100) / BEAT_MESSAGE_MS));
    expect((s.out.at(-1) as { ok: boolean }).ok).toBe(true);
  });

  it("sends no beat messages when the host shares memory", () => {
    let t = 0;
    const s = serve({ init: true, heartbeat: 1024, cancel: new SharedArrayBuffer(1025 * 4) }, () => (t += 100));
    s.send({ id: 1, method: "update", params: { uri: "a", version: 1, text: scenario } });
    expect(s.beats()).toBe(0);
  });
});

/** A stand-in for the browser's Worker. */
class FakeWorker implements BrowserWorker {
  static made: FakeWorker[] = [];
  posted: unknown[] = [];
  terminated = 0;
  private ls = new Map<string, ((e: never) => void)[]>();
  constructor(readonly url: string) {
    FakeWorker.made.push(this);
  }
  postMessage(m: unknown): void {
    this.posted.push(m);
  }
  terminate(): void {
    this.terminated++;
  }
  addEventListener(type: string, l: (e: never) => void): void {
    this.ls.set(type, [...(this.ls.get(type) ?? []), l]);
  }
  fire(type: string, e: unknown): void {
    for (const l of this.ls.get(type) ?? []) l(e as never);
  }
}
function host(load: (location: string) => Promise<string>): WebWorkerHost {
  return { Worker: FakeWorker, loadScript: load, blobUrl: (text) => `blob:${text}` };
}

describe("the Web Worker transport", () => {
  it("starts an http(s) worker at once and passes messages both ways", () => {
    FakeWorker.made = [];
    const t = webWorkerTransport("https://cdn.example/ext/dist/web/worker.js", host(() => Promise.reject(new Error("not used"))));
    expect(FakeWorker.made.map((w) => w.url)).toEqual(["https://cdn.example/ext/dist/web/worker.js"]);
    const got: unknown[] = [];
    t.onMessage((m) => got.push(m));
    t.post({ a: 1 });
    FakeWorker.made[0]!.fire("message", { data: { b: 2 } });
    expect(FakeWorker.made[0]!.posted).toEqual([{ a: 1 }]);
    expect(got).toEqual([{ b: 2 }]);
    expect(t.sharedMemory).toBe(false); // Node's test process is no cross-origin isolated page
  });

  it("loads a vscode-remote: worker as text into a Blob URL, keeping earlier messages in order", async () => {
    FakeWorker.made = [];
    const t = webWorkerTransport("vscode-remote://host/ext/dist/web/worker.js", host(async (l) => `script of ${l}`));
    t.post(1);
    t.post(2);
    expect(FakeWorker.made).toEqual([]);
    await flush();
    expect(FakeWorker.made.map((w) => w.url)).toEqual(["blob:script of vscode-remote://host/ext/dist/web/worker.js"]);
    t.post(3);
    expect(FakeWorker.made[0]!.posted).toEqual([1, 2, 3]);
  });

  it("reports an uncaught error as one death and ends the worker (a browser worker would live on)", () => {
    FakeWorker.made = [];
    const t = webWorkerTransport("https://x/w.js", host(() => Promise.reject(new Error("x"))));
    const deaths: string[] = [];
    t.onDeath((why) => deaths.push(why));
    let prevented = false;
    const w = FakeWorker.made[0]!;
    w.fire("error", { message: "boom", preventDefault: () => (prevented = true) });
    w.fire("error", { message: "again", preventDefault: () => {} });
    expect(deaths).toEqual(["the simulation worker crashed: boom"]);
    expect(prevented).toBe(true);
    expect(w.terminated).toBeGreaterThan(0);
  });

  it("reports a worker script that cannot be loaded as a death with the location", async () => {
    FakeWorker.made = [];
    const t = webWorkerTransport("vscode-remote://host/missing.js", host(() => Promise.reject(new Error("ENOENT"))));
    const deaths: string[] = [];
    t.onDeath((why) => deaths.push(why));
    t.post("dropped");
    await flush();
    expect(deaths).toEqual(["the simulation worker could not be loaded from vscode-remote://host/missing.js: ENOENT"]);
    expect(FakeWorker.made).toEqual([]);
  });
});
