/**
 * Where a run takes its checkpoints (trace/checkpoints.ts): every 8 steps, but runs of small DMA
 * steps - whose replay cost is their transactions - up to 64 steps or 16 384 transactions apart,
 * because a snapshot costs more than replaying a few of them.
 */
import { describe, expect, it } from "vitest";
import { CheckpointStore, DEFAULT_POLICY, FORWARD_ONLY_POLICY } from "../../src/trace/checkpoints.js";
import { simulateText } from "../../src/cli/simulate.js";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

/** The steps at which a store with the default policy checkpoints, for steps of (dma?, transactions). */
function taken(steps: [boolean, number][]): number[] {
  const s = new CheckpointStore<number>(DEFAULT_POLICY);
  const at: number[] = [];
  steps.forEach(([dma, n], i) => {
    if (s.due(i)) {
      s.add(i, i);
      at.push(i);
    }
    s.addWork(n, dma);
  });
  return at;
}

describe("checkpoint policy", () => {
  it("other steps: one checkpoint every 8 steps", () => {
    expect(taken(Array.from({ length: 20 }, () => [false, 0]))).toEqual([0, 8, 16]);
  });

  it("small DMA steps: every 64 steps, or sooner once 16 384 transactions ran", () => {
    expect(taken(Array.from({ length: 130 }, () => [true, 1]))).toEqual([0, 64, 128]);
    // 256 transactions a step (a 1 MiB dma): 16 384 after 64 steps.
    expect(taken(Array.from({ length: 130 }, () => [true, 256]))).toEqual([0, 64, 128]);
    // 4 096 a step: the work bound, every 8 steps still being the floor.
    expect(taken(Array.from({ length: 20 }, () => [true, 4096]))).toEqual([0, 8, 16]);
  });

  it("a forward-only run (passthrough simulate) keeps the boot state only, and still reaches every earlier step by replay", () => {
    const s = new CheckpointStore<number>(FORWARD_ONLY_POLICY);
    const at: number[] = [];
    for (let i = 0; i < 500; i++) {
      if (s.due(i)) {
        s.add(i, i);
        at.push(i);
      }
      s.addWork(i % 3 === 0 ? 100_000 : 0, i % 2 === 0);
    }
    expect(at).toEqual([0]);
    // The CLI's report of every example is the one a default-policy run gives.
    const dir = join(__dirname, "..", "..", "examples");
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".passthrough.yaml"))) {
      const text = readFileSync(join(dir, f), "utf8");
      const parsed = parseScenario(text, f);
      const forward = runScenario(parsed.scenario!, { checkpoints: FORWARD_ONLY_POLICY }).run!;
      const usual = runScenario(parsed.scenario!).run!;
      expect(forward.checkpoints.count, f).toBe(1);
      expect(forward.outcomes, f).toEqual(usual.outcomes);
      expect(forward.machineBefore(forward.outcomes.length).log.lines, f).toEqual(usual.machineBefore(usual.outcomes.length).log.lines);
      expect(simulateText(text, f).exitCode, f).toBe(0);
    }
  });

  it("one other step among DMA steps brings back every 8 steps", () => {
    const steps: [boolean, number][] = Array.from({ length: 40 }, (_, i) => [i !== 3, 1]);
    // Step 3 is not a DMA step: the checkpoint at 8 comes on time; after it only DMA steps, so the next would be at 72.
    expect(taken(steps)).toEqual([0, 8]);
  });

  it("a run of 1 MiB DMA steps rebuilds every step's state exactly from its checkpoints", () => {
    const head = `name: p
host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:01.0", driver: vfio-pci }
vms:
  - { name: web01, memory: 4GiB, devices: ["01:00.0"] }
workload:
  - start: web01
`;
    const steps = Array.from({ length: 150 }, (_, i) => `  - dma: { device: "01:00.0", iova: 0x${(0x1000_0000 + (i % 7) * 0x10_0000).toString(16)}, length: 1MiB, write: ${i % 2 === 0} }\n`);
    // A step the tables change in, to tell the states apart: an unmap and a map of the same VM.
    steps.splice(100, 0, "  - unmap: { vm: web01, iova: 0x1000_0000, size: 1MiB }\n");
    const run = runScenario(parseScenario(head + steps.join(""), "p.passthrough.yaml").scenario!).run!;
    expect(run.checkpoints.count).toBeLessThan(12);
    for (const k of [1, 30, 64, 65, 99, 101, 109, 140, 151]) {
      const m = run.machineBefore(k);
      const fresh = runScenario(parseScenario(head + steps.slice(0, k - 1).join(""), "p.passthrough.yaml").scenario!).run!.machine;
      expect(m.iommu.explain({ sid: 0x100, iova: 0x1000_0000n, write: true }).verdict, `before step ${k}`).toEqual(fresh.iommu.explain({ sid: 0x100, iova: 0x1000_0000n, write: true }).verdict);
      expect(m.unit.iotlb.entries(), `IOTLB before step ${k}`).toEqual(fresh.unit.iotlb.entries());
    }
  });
});
