// A long run in the extension (issue 18: a 10 M-event scenario): Cancel on its progress
// notification stops it (RunScheduler.cancel, src/extension/runs.ts) and nothing of it reaches the
// views; the user's memory limit (passthrough.memoryLimit, sent with each update) stops a run that
// needs more at the step that would exceed it, with an error on that step's line and the setting named.
import { describe, expect, it } from "vitest";
import { EngineFailure, EngineServer, limitBudget } from "../../src/engine/server.js";
import type { SessionState } from "../../src/protocol/engine.js";
import { CANCELLED_VERSION, RunScheduler, type RunDocument } from "../../src/extension/runs.js";
import { DEFAULT_MEMORY_BUDGET } from "../../src/trace/budget.js";
import { Session } from "../../src/engine/session.js";
import { Trace } from "../../src/trace/trace.js";

const scenario = (repeat: number) => `name: long
host:
  memory: 32GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:03.0", kind: root-port, acs: true, secondary-bus: 4 }
    - { bdf: "04:00.0", id: "8086:10fb", name: NIC, parent: "00:03.0", driver: vfio-pci }
vms:
  - name: fw01
    memory: 4GiB
    devices: ["04:00.0"]
workload:
  - start: fw01
  - dma: { device: "04:00.0", iova: 0x10_0000, length: 64KiB, write: true, repeat: ${repeat} }
`;
const URI = "file:///w/long.passthrough.yaml";

/** Timers that run only when the test says (no wall clock). */
const timers: (() => void)[] = [];
const clock = { now: () => 0, setTimeout: (fn: () => void) => timers.push(fn), clearTimeout: () => undefined };

describe("a long run: cancel and the memory limit", () => {
  it("Cancel stops the run in flight: the worker sees its slot changed, nothing is published, the document is no longer running, no run is re-sent", async () => {
    const server = new EngineServer();
    const newest = new Map<string, number>();
    const published: SessionState[] = [];
    let running = 0;
    const doc: RunDocument = { version: 1, getText: () => scenario(4) };
    const runs = new RunScheduler(
      {
        // The worker polls its slot during the run: here, when the message arrives.
        update: (uri, version, text, cancellable) =>
          Promise.resolve().then(() => {
            if (cancellable && newest.get(uri) !== version) throw new EngineFailure("cancelled", `version ${version} was superseded`);
            return server.handle("update", { uri, version, text });
          }),
        setCursor: (uri, step) => Promise.resolve(server.handle("setCursor", { uri, step })),
        markNewest: (uri, version) => newest.set(uri, version),
        isSuperseded: (e) => e instanceof EngineFailure && e.code === "cancelled",
      },
      { publish: (_u, s) => published.push(s), running: () => running++, log: (m) => { throw new Error(m); } },
      { delay: () => 0, settle: () => 0 },
      clock,
    );
    runs.track(URI, doc);
    timers.length = 0;
    const sent = runs.send(URI);
    expect(runs.running.has(URI)).toBe(true);
    expect(runs.cancel(URI)).toBe(true);
    expect(newest.get(URI)).toBe(CANCELLED_VERSION);
    expect(runs.running.has(URI)).toBe(false);
    expect(await sent).toBeUndefined();
    expect(published).toHaveLength(0);
    expect(timers).toHaveLength(0);
    // Nothing to cancel any more.
    expect(runs.cancel(URI)).toBe(false);
    // Re-run runs it again.
    const again = await runs.send(URI);
    expect(again?.totals.steps).toBe(2);
    expect(again?.totals.events).toBeGreaterThanOrEqual(4 * 16);
    expect(published).toHaveLength(1);
  });

  it("the user's limit is the run's budget when it is the smaller one, named in the message", () => {
    expect(limitBudget(undefined, undefined)).toBeUndefined();
    expect(limitBudget(undefined, DEFAULT_MEMORY_BUDGET)).toBeUndefined();
    expect(limitBudget(undefined, 64 << 20)).toEqual({ bytes: 64 << 20, why: "the setting passthrough.memoryLimit" });
    expect(limitBudget({ bytes: 32 << 20, why: "others" }, 64 << 20)).toEqual({ bytes: 32 << 20, why: "others" });
  });

  it("a run over passthrough.memoryLimit stops at its dma step with an error on that line that names the limit (not an out-of-memory crash)", () => {
    const server = new EngineServer();
    // 2 000 000 transactions: 56 MB of trace at 28 bytes each, over a 16 MiB limit.
    const st = server.handle("update", { uri: URI, version: 1, text: scenario(125_000), memoryLimit: 16 << 20 });
    const d = st.diagnostics.find((x) => x.code === "simulation-limit");
    expect(d, JSON.stringify(st.diagnostics)).toBeDefined();
    expect(d!.severity).toBe("error");
    expect(d!.range.line).toBe(scenario(1).split("\n").findIndex((l) => l.includes("- dma:")));
    expect(d!.message).toMatch(/memory budget exceeded: the trace needs room for \d+ events \([\d.]+ MiB\), the run's limit is 16 MiB \(the setting passthrough\.memoryLimit\)/);
    expect(st.stoppedEarly).toMatch(/^step 2 \(line 14\)/);
    // The same text under the engine's own budget runs whole.
    const whole = server.handle("update", { uri: URI, version: 2, text: scenario(125_000) });
    expect(whole.diagnostics.filter((x) => x.severity === "error")).toEqual([]);
    expect(whole.totals.events).toBeGreaterThanOrEqual(2_000_000);
  });

  it("10 000 000 DMA events: the run holds its trace in columns of 28 bytes an event, and little besides", () => {
    const session = new Session(URI);
    // 625 000 times 64 KiB: 16 transactions each.
    const r = session.update(scenario(625_000));
    expect(r.ran).toBe(true);
    const run = session.run!;
    expect(run.stoppedEarly).toBeUndefined();
    expect(run.trace.length).toBeGreaterThanOrEqual(10_000_000);
    expect(Trace.BYTES_PER_EVENT).toBe(28);
    // Columns (with the run's reserve of 64 events), plus checkpoints and simulated memory: under 300 MB.
    expect(run.trace.bytes).toBeLessThanOrEqual((run.trace.length + 64) * Trace.BYTES_PER_EVENT);
    expect(run.memoryBytes).toBeLessThan(300_000_000);
  }, 120_000);
});
