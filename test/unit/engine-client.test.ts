// The extension's supervisor of the engine worker, with the real built worker (dist/worker.cjs):
// a long run that beats between its steps is not taken for a hang, a silent one is; a worker
// that keeps dying stops being rebuilt (a crash loop) until the engine is restarted.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EngineClient } from "../../src/extension/engineClient.js";

const workerPath = join(__dirname, "..", "..", "dist", "worker.cjs");
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m), debug: () => {}, trace: () => {} } as never;

const base = readFileSync(join(__dirname, "..", "..", "examples", "healthy-nic.passthrough.yaml"), "utf8");
/** About two seconds of simulation in 300 steps of ~6 ms each (64 KiB DMAs repeated). */
const longRun = base.slice(0, base.indexOf("workload:")) + "workload:\n  - start: web01\n" + '  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 64KiB, write: true, repeat: 2000 }\n'.repeat(300);

let client: EngineClient | undefined;
afterEach(() => client?.dispose());

describe.skipIf(!existsSync(workerPath))("engine worker supervision", () => {
  it("does not restart a worker busy with a long run that beats between steps; restarts a silent one", async () => {
    const restarts: string[] = [];
    client = new EngineClient({ workerPath, log, timeoutMs: () => 400, onRestart: (why) => restarts.push(why) });
    const t0 = Date.now();
    const slot = client.slotFor("long");
    Atomics.store(client.cancel, slot, 1); // the newest version of the document, as the scenario manager stores it
    const st = await client.request("update", { uri: "long", version: 1, text: longRun, slot });
    expect(Date.now() - t0).toBeGreaterThan(500); // longer than the limit: only the heartbeat kept it alive
    expect(st.totals.steps).toBe(301);
    expect(restarts).toEqual([]);
    // A hang (no steps, no beats) is caught within the limit.
    const hung = await client.request("crash", { how: "hang" }).then(() => "answered", (e: { code: string }) => e.code);
    expect(hung).toBe("restarted");
    await new Promise((ok) => setTimeout(ok, 100));
    expect(restarts.length).toBe(1);
  }, 20_000);

  it("stops rebuilding after three deaths in a minute, until restarted", async () => {
    const restarts: string[] = [];
    const gaveUp: string[] = [];
    client = new EngineClient({ workerPath, log, timeoutMs: () => 10_000, onRestart: (why) => restarts.push(why), onGiveUp: (why) => gaveUp.push(why) });
    for (let i = 0; i < 3; i++) {
      const r = await client.request("crash", { how: "throw" }).then(() => "answered", (e: { code: string }) => e.code);
      expect(r).toBe("restarted");
    }
    await new Promise((ok) => setTimeout(ok, 100));
    expect(restarts.length).toBe(2);
    expect(gaveUp.length).toBe(1);
    expect(client.gaveUp).toBe(true);
    expect(lines.some((l) => /died 3 times within 60 s/.test(l))).toBe(true);
    // The engine still answers the next request (an edit, a restart): a fresh worker starts.
    expect(await client.request("ping", {})).toBe("pong");
    client.restart("test");
    expect(client.gaveUp).toBe(false);
  }, 20_000);
});
