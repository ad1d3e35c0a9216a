// When a run reaches the views (src/extension/runs.ts): never the outcome of a text the user did not
// leave. The real EngineServer stands in for the worker (it keeps its last good run exactly as the
// worker does); time is a fake clock, so every interleaving is deterministic.
import { describe, expect, it } from "vitest";
import { EngineFailure, EngineServer } from "../../src/engine/server.js";
import type { SessionState } from "../../src/protocol/engine.js";
import { RunScheduler, describeRun, newProblems, type Clock, type RunDocument } from "../../src/extension/runs.js";

const SCENARIO = (size: string, comment = "") => `name: sizes
host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: X710, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: vm0
    memory: 4GiB
    devices: ["01:00.0"]
    viommu: { model: intel, caching-mode: true }
workload:
  - start: vm0
  - guest-map: { vm: vm0, device: "01:00.0", iova: 0x40000000, size: ${size}, perm: rw, gpa: 0x1000000 }${comment}
  - dma: { device: "01:00.0", iova: 0x40000000, length: 4KiB, write: false }
`;

/** A clock whose timers run only when the test advances it. */
class FakeClock implements Clock {
  private t = Date.UTC(2026, 11, 5, 14, 2, 11);
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Moves time forward, running due timers in order and letting their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const next = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

class Doc implements RunDocument {
  version = 1;
  constructor(public text: string) {}
  getText(): string {
    return this.text;
  }
  edit(text: string): void {
    this.text = text;
    this.version++;
  }
}

const URI = "file:///w/sizes.passthrough.yaml";
const DELAY = 20;
const SETTLE = 400;

function setup(first: string) {
  let server = new EngineServer();
  const clock = new FakeClock();
  const doc = new Doc(first);
  /** Every state handed to the views, in order. */
  const published: SessionState[] = [];
  /** Worker answers reach the host a little later than the run ends (a message hop). */
  const hop = <T>(fn: () => T): Promise<T> => Promise.resolve().then(fn);
  const newest = new Map<string, number>();
  const runs = new RunScheduler(
    {
      update: (uri, version, text, cancellable) =>
        hop(() => {
          if (cancellable && newest.get(uri) !== version) throw new EngineFailure("cancelled", `version ${version} was superseded`);
          return server.handle("update", { uri, version, text });
        }),
      setCursor: (uri, step) => hop(() => server.handle("setCursor", { uri, step })),
      markNewest: (uri, version) => newest.set(uri, version),
      isSuperseded: (e) => e instanceof EngineFailure && e.code === "cancelled",
    },
    { publish: (_uri, state) => published.push(state), running: () => undefined, log: (m) => { throw new Error(m); } },
    { delay: () => DELAY, settle: () => SETTLE },
    clock,
  );
  runs.track(URI, doc);
  return {
    get server() {
      return server;
    },
    /** The worker died and came back empty (the supervisor then resends every document). */
    restart: () => (server = new EngineServer()),
    clock, doc, runs, published,
  };
}

/** What a view could read: the published state, and the worker's Faults tree (the trees query it). */
function shown(server: EngineServer, state: SessionState): string {
  const [faults] = server.handle("children", { uri: URI, view: "faults", ids: [null], radix: "hex" });
  return JSON.stringify({ steps: state.steps, totals: state.totals, faults });
}

const TRANSIENT = /EINVAL|Invalid argument|0x06|-22/;

describe("runs reach the views only from a text the user left", () => {
  it.each([[["6", "64", "64KB"]], [["6", "64", "64K", "64KB"]]])("typing 64KB over 64KiB (%j) never shows the EINVAL or fault 0x06 of the sizes on the way; the end shows the last good run, stale, with 64KB's diagnostics", async (typed) => {
    const { server, clock, doc, runs, published } = setup(SCENARIO("64KiB"));
    await clock.advance(100);
    expect(published).toHaveLength(1);
    const good = published[0]!;
    expect(good.stale).toBe(false);
    expect(shown(server, good)).not.toMatch(TRANSIENT);
    // Keystrokes at typing speed: each text ran in the worker before the next one arrived.
    // ("64K" is valid, 64 KiB: no new problem, so it shows at once.)
    const versions: Record<string, number> = {};
    for (const size of typed) {
      doc.edit(SCENARIO(size));
      versions[size] = doc.version;
      runs.edited(URI);
      await clock.advance(150);
      const st = runs.states.get(URI)!;
      expect(shown(server, st), `after typing ${size}`).not.toMatch(TRANSIENT);
    }
    await clock.advance(2000);
    for (const st of published) expect(JSON.stringify(st.steps) + JSON.stringify(st.totals)).not.toMatch(TRANSIENT);
    const end = runs.states.get(URI)!;
    expect(end.version).toBe(doc.version);
    expect(end.stale).toBe(true);
    expect(end.diagnostics.map((d) => d.code)).toContain("size-malformed");
    expect(end.runVersion).toBe(versions["64K"] ?? 1);
    expect(end.steps.map((s) => s.summary)).toEqual(good.steps.map((s) => s.summary));
    // The worker too falls back to the run on show, not to the 64-byte run typed on the way.
    expect(shown(server, end)).not.toMatch(TRANSIENT);
    expect(runs.running.has(URI)).toBe(false);
  });

  it("edits that supersede each other at once (within the rerun delay, or while a run is in flight) show only the last text", async () => {
    const { server, clock, doc, runs, published } = setup(SCENARIO("64KiB"));
    await clock.advance(100);
    for (const size of ["6", "64", "64KB"]) {
      doc.edit(SCENARIO(size));
      runs.edited(URI);
      await clock.advance(size === "6" ? DELAY : 1); // "6" reaches the worker; "64" is superseded while waiting
    }
    await clock.advance(2000);
    for (const st of published) expect(shown(server, st)).not.toMatch(TRANSIENT);
    const end = runs.states.get(URI)!;
    expect(end.stale).toBe(true);
    expect(end.runVersion).toBe(1);
    expect(end.version).toBe(doc.version);
  });

  it("a broken text the user leaves shows its diagnostics at once and the last good run marked stale, naming its version and time", async () => {
    const { clock, doc, runs, published } = setup(SCENARIO("64KiB"));
    await clock.advance(100);
    doc.edit(SCENARIO("64KB"));
    runs.edited(URI);
    await clock.advance(DELAY);
    const st = runs.states.get(URI)!;
    expect(published).toHaveLength(2); // no settle wait for diagnostics
    expect(st.stale).toBe(true);
    expect(st.version).toBe(2);
    expect(st.runVersion).toBe(1);
    expect(st.diagnostics.find((d) => d.code === "size-malformed")?.range.line).toBe(14);
    const run = runs.shownRun(URI)!;
    expect(run.version).toBe(1);
    expect(describeRun(run)).toMatch(/^run of version 1, \d\d:\d\d:\d\d$/);
  });

  it("a text with new faults shows once it has stayed unchanged for the settle delay", async () => {
    const { clock, doc, runs, published } = setup(SCENARIO("64KiB"));
    await clock.advance(100);
    doc.edit(SCENARIO("6"));
    runs.edited(URI);
    await clock.advance(SETTLE - 1);
    expect(published).toHaveLength(1);
    expect(runs.running.has(URI)).toBe(true);
    await clock.advance(1);
    expect(published).toHaveLength(2);
    const st = runs.states.get(URI)!;
    expect(st.stale).toBe(false);
    expect(st.version).toBe(2);
    expect(JSON.stringify(st.steps)).toMatch(TRANSIENT); // the user left it: it is the truth now
    expect(runs.shownRun(URI)!.version).toBe(2);
  });

  it("an edit with no new problems (a comment) shows after the rerun delay, without waiting to settle", async () => {
    const { clock, doc, runs, published } = setup(SCENARIO("64KiB"));
    await clock.advance(100);
    doc.edit(SCENARIO("64KiB", "  # a note"));
    runs.edited(URI);
    await clock.advance(DELAY);
    expect(published).toHaveLength(2);
    expect(runs.states.get(URI)!.version).toBe(2);
  });

  it("while a run with new problems waits to settle, the worker (trees, hovers, debugger) stays on the run on show, cursor included", async () => {
    const { server, clock, doc, runs, published } = setup(SCENARIO("64KiB"));
    await clock.advance(100);
    await runs.setCursor(URI, 2);
    doc.edit(SCENARIO("6"));
    runs.edited(URI);
    await clock.advance(DELAY + 10);
    expect(published.at(-1)?.version).toBe(1);
    expect(shown(server, runs.states.get(URI)!)).not.toMatch(TRANSIENT);
    const st = await runs.setCursor(URI, 1);
    expect(st?.runVersion).toBe(1);
    await clock.advance(SETTLE);
    const end = runs.states.get(URI)!;
    expect(end.version).toBe(2);
    expect(end.cursor).toBe(1);
    expect(shown(server, end)).toMatch(TRANSIENT);
  });

  it("after a worker restart on broken text, the rebuilt worker and the views show the last good run, stale", async () => {
    const env = setup(SCENARIO("64KiB"));
    const { clock, doc, runs } = env;
    await clock.advance(100);
    doc.edit(SCENARIO("64KB"));
    runs.edited(URI);
    await clock.advance(DELAY);
    env.restart();
    const st = await runs.send(URI);
    expect(st?.stale).toBe(true);
    expect(st?.runVersion).toBe(1);
    expect(st?.steps).toHaveLength(3);
    const [vms] = env.server.handle("children", { uri: URI, view: "vms", ids: [null], radix: "hex" });
    expect(vms).toHaveLength(1);
  });

  it("newProblems compares faults, failed steps, expectations and errors", async () => {
    const { clock, doc, runs } = setup(SCENARIO("64KiB"));
    await clock.advance(100);
    const good = runs.states.get(URI)!;
    doc.edit(SCENARIO("6"));
    runs.edited(URI);
    await clock.advance(SETTLE + DELAY);
    const bad = runs.states.get(URI)!;
    expect(newProblems(bad, good)).toBe(true);
    expect(newProblems(good, bad)).toBe(false);
    expect(newProblems(good, good)).toBe(false);
  });
});
