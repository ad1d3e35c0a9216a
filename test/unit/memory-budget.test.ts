// Bounded memory (issue 15): checkpoints cost what changed (copy-on-write pages), stepping back
// is exact, a run stays inside its memory budget and stops with an error naming the step and the
// limit, and a run that stops early reports the expectations it never reached.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulateText, formatReport } from "../../src/cli/simulate.js";
import { runDiagnostics } from "../../src/engine/fixes.js";
import { EngineServer } from "../../src/engine/server.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { runScenario } from "../../src/sim/run.js";

function load(text: string): Scenario {
  const p = parseScenario(text, "test.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

const HOST = `
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48, nd: 0 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["01:00.0"]
    viommu: { model: intel, caching-mode: true }
workload:
  - start: a
`;

describe("PhysicalMemory snapshots (copy-on-write)", () => {
  function mem() {
    return new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 4096, dramBytes: 16 * 2 ** 30 });
  }

  it("a snapshot is not changed by later writes, and restoring it gives back exactly its bytes", () => {
    const m = mem();
    const a = m.allocPage();
    m.allocPage();
    m.write64(a + 8, 0x1234, 0x5678);
    m.write64(0x2_0000_0000, 7, 0);
    const before = m.contents();
    const s = m.snapshot();
    m.write64(a + 8, 1, 2);
    m.write64(0x2_0000_0000, 9, 0);
    m.write64(0x3_0000_0000, 5, 0);
    m.zeroPage(a);
    m.allocPage();
    expect(m.contents()).not.toEqual(before);
    m.restore(s);
    expect(m.contents()).toEqual(before);
    expect(m.poolPages).toBe(2);
    expect(m.readU64(0x3_0000_0000)).toBe(0n);
    // A second memory restored from the same snapshot agrees, and the first one's later writes
    // do not reach it.
    const other = mem();
    other.restore(s);
    m.write64(a + 8, 3, 3);
    expect(other.contents()).toEqual(before);
  });

  it("a snapshot copies only the pages written since the previous one", () => {
    const m = mem();
    for (let i = 0; i < 200; i++) m.write64(m.allocPage(), 1, 0);
    for (let i = 0; i < 200; i++) m.write64(0x2_0000_0000 + i * 4096, 1, 0);
    m.snapshot();
    const after = m.copiedBytes;
    m.write64(0x10000000 + 5 * 4096, 2, 0); // one pool page
    m.write64(0x2_0000_0000 + 7 * 4096, 2, 0); // one DRAM page
    m.write64(0x2_0000_0000 + 7 * 4096 + 8, 2, 0); // the same page again: no second copy
    m.snapshot();
    // Two page copies plus the trie nodes on their paths, not 400 pages (1.6 MB).
    expect(m.copiedBytes - after).toBeLessThan(2 * 4096 + 16 * 1024);
  });
});

describe("checkpoints cost what changed", () => {
  it("1 000 pokes into distinct DRAM pages keep the checkpoints near the size of the pages written", () => {
    const lines = [];
    for (let i = 0; i < 1000; i++) lines.push(`  - poke: { address: 0x${(0x2_0000_0000 + i * 4096).toString(16)}, value: ${i + 1} }`);
    const run = runScenario(load(HOST + lines.join("\n") + "\n")).run!;
    expect(run.stoppedEarly).toBeUndefined();
    expect(run.checkpoints.count).toBeGreaterThan(100);
    // 1 000 pages are 4 MB; a full copy per checkpoint was 125 checkpoints x 500 pages (250 MB).
    expect(run.checkpoints.bytes).toBeLessThan(8 * 2 ** 20);
    // The state before any of those steps is still exact.
    const m = run.machineBefore(501);
    expect(m.mem.readU64(0x2_0000_0000 + 499 * 4096)).toBe(500n);
    expect(m.mem.readU64(0x2_0000_0000 + 500 * 4096)).toBe(0n);
  });

  it("10 000 steps that change nothing cost almost nothing", () => {
    const run = runScenario(load(HOST + "  - wait: 1ms\n".repeat(10_000))).run!;
    expect(run.checkpoints.count).toBeGreaterThan(1000);
    // Each checkpoint shares memory, IOTLB, registers and the log with the one before.
    expect(run.checkpoints.bytes / run.checkpoints.count).toBeLessThan(2048);
  });
});

/** Random workloads over every kind of step that changes state. */
const stepArb = fc.oneof(
  fc.record({ k: fc.constant("map" as const), slot: fc.integer({ min: 0, max: 7 }), pages: fc.integer({ min: 1, max: 3 }), gpa: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ k: fc.constant("unmap" as const), slot: fc.integer({ min: 0, max: 7 }), inv: fc.boolean() }),
  fc.record({ k: fc.constant("dma" as const), slot: fc.integer({ min: 0, max: 7 }), write: fc.boolean(), repeat: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ k: fc.constant("poke-pte" as const), slot: fc.integer({ min: 0, max: 7 }), value: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }) }),
  fc.record({ k: fc.constant("poke-ram" as const), page: fc.integer({ min: 0, max: 20 }), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  fc.record({ k: fc.constant("invalidate" as const), g: fc.constantFrom("global", "domain", "context-global") }),
  fc.record({ k: fc.constant("wait" as const) }),
  fc.record({ k: fc.constant("restart" as const) }),
);

function workloadText(steps: unknown[]): string {
  const lines: string[] = [];
  for (const s of steps as { k: string; [f: string]: string | number | bigint | boolean }[]) {
    const iova = `0x${(0x100000 + (s.slot as number) * 0x10000).toString(16)}`;
    switch (s.k) {
      case "map":
        lines.push(`  - guest-map: { vm: a, device: "01:00.0", iova: ${iova}, size: ${(s.pages as number) * 4}KiB, gpa: 0x${((s.gpa as number) * 0x100000).toString(16)} }`);
        break;
      case "unmap":
        lines.push(`  - guest-unmap: { vm: a, device: "01:00.0", iova: ${iova}, size: 4KiB, invalidate: ${s.inv} }`);
        break;
      case "dma":
        lines.push(`  - dma: { device: "01:00.0", iova: ${iova}, length: 8KiB, write: ${s.write}, repeat: ${s.repeat} }`);
        break;
      case "poke-pte":
        lines.push(`  - poke: { target: { device: "01:00.0", structure: pte, iova: ${iova} }, value: 0x${((s.value as bigint) & ~0xffcn | 3n).toString(16)} }`);
        break;
      case "poke-ram":
        lines.push(`  - poke: { address: 0x${(0x2_0000_0000 + (s.page as number) * 4096 + 8 * (s.page as number)).toString(16)}, value: 0x${(s.value as bigint).toString(16)} }`);
        break;
      case "invalidate":
        lines.push(`  - invalidate: { granularity: ${s.g}${s.g === "domain" ? ", domain: 1" : ""} }`);
        break;
      case "wait":
        lines.push("  - wait: 1s");
        break;
      case "restart":
        lines.push("  - stop: a", "  - start: a");
        break;
    }
  }
  return HOST.replace("nd: 0", "nd: 2") + lines.join("\n") + "\n";
}

/** Everything a user can observe of a machine between steps. */
function observe(m: Machine) {
  return {
    clock: m.clock,
    memory: m.mem.contents(),
    poolPages: m.mem.poolPages,
    regs: Array.from({ length: 0x100 / 4 }, (_, i) => m.unit.readReg32(i * 4)),
    iotlb: m.unit.iotlb.entries(),
    contextCache: m.unit.contextCacheEntries(),
    log: m.log.lines.map((l) => `${l.ns} ${l.source} ${l.text}`),
    domains: [...m.driver.domains.values()].map((d) => ({ ...d, rids: [...d.rids] })),
    vm: (({ running, devices, groups, container, guest }) => ({ running, devices, groups: [...groups], dmas: container?.dmas, frames: guest.frames }))(m.vmState("a")!),
    trace: m.trace.length,
  };
}

describe("stepping backwards is exact (property)", () => {
  it("random workload: the state before step M, reached after visiting step N, equals a fresh run to M", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 6 }), (steps, n0, m0, every) => {
        const text = workloadText(steps);
        const run = runScenario(load(text), { checkpoints: { every, maxWork: 4 } }).run!;
        const total = run.outcomes.length;
        const n = n0 % (total + 1);
        const m = m0 % (total + 1);
        run.machineBefore(n);
        const back = observe(run.machineBefore(m));
        const scenario = load(text);
        const fresh = new Machine(scenario);
        const outcomes = [];
        for (let i = 0; i < m; i++) outcomes.push(fresh.runStep(scenario.workload[i]!));
        expect(back).toEqual(observe(fresh));
        // The outputs of those steps are the run's (its trace rows and outcomes).
        expect(outcomes.map((o) => o.summary)).toEqual(run.outcomes.slice(0, m).map((o) => o.summary));
        for (let i = 0; i < fresh.trace.length; i += 7) expect(fresh.trace.row(i)).toEqual(run.trace.row(i));
      }),
      { numRuns: 40 },
    );
  });
});

describe("the memory budget", () => {
  const dma = (repeat: number) => `  - dma: { device: "01:00.0", iova: 0x100000, length: 4KiB, repeat: ${repeat} }\n`;
  const mapped = HOST + '  - guest-map: { vm: a, device: "01:00.0", iova: 0x100000, size: 4KiB, gpa: 0x200000 }\n';

  it("a step whose trace would exceed it stops the run with an error naming the step and the limit", () => {
    const text = mapped + dma(10) + dma(200_000) + "    expect: ok\n" + dma(1) + "    expect: ok\n";
    const run = runScenario(load(text), { memoryBudget: 4 * 2 ** 20 }).run!;
    expect(run.outcomes).toHaveLength(4);
    const stop = run.outcomes[3]!;
    expect(stop.status).toBe("error");
    expect(stop.summary).toMatch(/^memory budget exceeded: the trace needs room for \d+ events \([\d.]+ MiB\), the run's limit is 4 MiB/);
    expect(run.stoppedEarly).toBe(`step 4 (line 17): ${stop.summary}`);
    expect(run.memoryBytes).toBeLessThanOrEqual(4 * 2 ** 20);
    expect(run.notReached.map((s) => s.index)).toEqual([4]);
    // The earlier steps ran and stay inspectable.
    expect(run.outcomes[2]!.transactions).toBe(10);
    expect(run.machineBefore(3).trace.length).toBeGreaterThan(0);
  });

  it("a large step that fits does not take the whole budget: the checkpoints after it still fit", () => {
    const text = mapped + dma(100_000) + "  - wait: 1ms\n".repeat(20) + "    expect: ok\n";
    // The doubling would ask for 131 072 events (3.5 MiB), more than the room left.
    const run = runScenario(load(text), { memoryBudget: 3.5 * 2 ** 20, checkpoints: { every: 1, maxWork: 1 } }).run!;
    expect(run.stoppedEarly).toBeUndefined();
    expect(run.failedExpectations).toEqual([]);
    expect(run.memoryBytes).toBeLessThanOrEqual(3.5 * 2 ** 20);
  });

  it("stepping back over a large step replays it without a second copy of its trace", () => {
    const run = runScenario(load(mapped + dma(300_000) + "  - wait: 1ms\n")).run!;
    expect(run.trace.length).toBeGreaterThan(300_000);
    const m = run.machineBefore(4);
    expect(m.unit.iotlb.entries().length).toBeGreaterThan(0);
    expect(m.trace.length).toBe(run.trace.length);
    expect(m.trace.bytes).toBeLessThan(1024 * 1024);
  });

  it("checkpoints that would exceed it stop the run before the step that needs them", () => {
    const lines = [];
    for (let i = 0; i < 600; i++) lines.push(`  - poke: { address: 0x${(0x2_0000_0000 + i * 4096).toString(16)}, value: 1 }`);
    const run = runScenario(load(HOST + lines.join("\n") + "\n"), { memoryBudget: 2 * 2 ** 20 }).run!;
    expect(run.stoppedEarly).toMatch(/^step \d+ \(line \d+\): memory budget exceeded: the trace \([\d.]+ [KM]iB\), the checkpoints \([\d.]+ [KM]iB\) .* over the run's limit of 2 MiB$/);
    expect(run.outcomes.length).toBeLessThan(600);
    expect(run.outcomes.at(-1)!.status).toBe("error");
  });
});

describe("a run that stops early", () => {
  // nd: 0 allows 16 domain ids, and Linux never reuses one here: the 15th start fails.
  const text = HOST + "  - stop: a\n  - start: a\n".repeat(16) + '  - dma: { device: "01:00.0", iova: 0x100000 }\n    expect: { fault: 0x06 }\n  - wait: 1s\n  - wait: 1s\n    expect: ok\n';

  it("simulate exits 1 and reports each later expect as not reached (text and JSON)", () => {
    const r = simulateText(text, "s.passthrough.yaml");
    expect(r.stoppedEarly).toMatch(/^step \d+ \(line \d+\): no free domain id: CAP.ND allows 16 domains$/);
    expect(r.exitCode).toBe(1);
    expect(r.expectations).toEqual({ passed: 0, failed: 0, notReached: 2 });
    const nr = r.steps.filter((s) => s.status === "not-reached");
    expect(nr.map((s) => [s.op, s.line])).toEqual([["dma", 47], ["wait", 50]]);
    const out = formatReport(r);
    expect(out).toContain("[EXPECTATION NOT REACHED]");
    expect(out).toMatch(/expectations: 0 passed, 0 failed, 2 not reached\n$/);
    expect((JSON.parse(JSON.stringify(r)) as { steps: { status: string }[] }).steps.at(-1)?.status).toBe("not-reached");
  });

  it("the engine's state lists the steps whose expect was not reached (the editor's CodeLens)", () => {
    const st = new EngineServer().handle("update", { uri: "file:///x/s.passthrough.yaml", version: 1, text });
    expect(st.stoppedEarly).toMatch(/no free domain id/);
    expect(st.notReached).toEqual([
      { step: 33, line: 46 },
      { step: 35, line: 49 },
    ]);
  });

  it("the editor gets a diagnostic on each expect that was not reached", () => {
    const scenario = load(text);
    const run = runScenario(scenario).run!;
    const d = runDiagnostics(scenario, run, text).filter((x) => x.code === "expect-not-reached");
    expect(d.map((x) => x.range.line + 1)).toEqual([48, 51]);
    expect(d[0]!.message).toMatch(/^Not reached: the run stopped early at step \d+ \(line \d+\): no free domain id/);
  });
});
