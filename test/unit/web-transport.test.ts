// One supervisor, two transports (issue 18, "Web"): the engine client drives a worker through
// EngineTransport, whether Node worker_threads or a browser Web Worker. A browser page that is not
// cross-origin isolated has no SharedArrayBuffer, so there the worker's heartbeat arrives as
// messages: the watchdog must still tell a long run (beating) from a hung worker (silent). The Web
// Worker transport itself is tested against a stand-in Worker (no browser here; the web e2e suite,
// scripts/e2e-web.mjs, runs the real one).
//
// Time is a clock the test advances: nothing here depends on how fast the machine is.
import { describe, expect, it } from "vitest";
import { EngineClient, STARTUP_ALLOWANCE_MS, type SupervisorClock } from "../../src/extension/engineClient.js";
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
