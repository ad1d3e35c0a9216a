// Every IOTLB geometry the scenario schema allows (sets: powers of two 1..65536, ways 1..16)
// builds and runs, through the DMA path of a whole scenario: a miss that walks and fills, a hit
// on the second DMA of the page, and a page-selective invalidation that drops it. Before, 70 of
// them failed with "SRAM arena exhausted" (the arena did not grow with the IOTLB).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const schema: unknown = JSON.parse(readFileSync(join(__dirname, "../../schemas/passthrough.schema.json"), "utf8"));

/** The schema's iotlb object (under host.iommu), wherever it sits in the schema. */
function iotlbSchema(node: unknown): { sets: { minimum: number; maximum: number }; ways: { minimum: number; maximum: number } } {
  const found: unknown[] = [];
  const visit = (n: unknown) => {
    if (n === null || typeof n !== "object") return;
    const o = n as Record<string, unknown>;
    const p = o.properties as Record<string, unknown> | undefined;
    if (p?.sets && p?.ways) found.push(p);
    for (const v of Object.values(o)) visit(v);
  };
  visit(node);
  expect(found).toHaveLength(1);
  return found[0] as ReturnType<typeof iotlbSchema>;
}

function scenario(sets: number, ways: number): string {
  return `
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48, iotlb: { sets: ${sets}, ways: ${ways} } }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: web01
    memory: 64MiB
    devices: ["01:00.0"]
workload:
  - start: web01
  - dma: { device: "01:00.0", iova: 0x10_0000, length: 4KiB }
    expect: { ok: true, iotlb: miss }
  - dma: { device: "01:00.0", iova: 0x10_0000, length: 4KiB }
    expect: { ok: true, iotlb: hit }
  - invalidate: { granularity: page, domain: 3, iova: 0x10_0000, am: 0 }
  - dma: { device: "01:00.0", iova: 0x10_0000, length: 4KiB }
    expect: { ok: true, iotlb: miss }
`;
}

describe("IOTLB geometry", () => {
  const range = iotlbSchema(schema);
  const combos: [number, number][] = [];
  for (let sets = range.sets.minimum; sets <= range.sets.maximum; sets *= 2) {
    for (let ways = range.ways.minimum; ways <= range.ways.maximum; ways++) combos.push([sets, ways]);
  }

  it("the schema's ranges are the ones the parser and the model accept", () => {
    expect([range.sets.minimum, range.sets.maximum, range.ways.minimum, range.ways.maximum]).toEqual([1, 65536, 1, 16]);
    expect(combos).toHaveLength(17 * 16);
  });

  it("every sets x ways combination the schema allows runs a DMA: miss, hit, invalidation, miss", () => {
    const failed: string[] = [];
    for (const [sets, ways] of combos) {
      const p = parseScenario(scenario(sets, ways), "geometry.passthrough.yaml");
      const errors = p.diagnostics.filter((d) => d.severity === "error");
      if (errors.length > 0 || !p.scenario) {
        failed.push(`${sets}x${ways}: ${errors.map((e) => e.message).join("; ")}`);
        continue;
      }
      expect([p.scenario.host.iommu.iotlbSets, p.scenario.host.iommu.iotlbWays]).toEqual([sets, ways]);
      const r = runScenario(p.scenario);
      if (!r.run) {
        failed.push(`${sets}x${ways}: ${r.error}`);
        continue;
      }
      const bad = r.run.failedExpectations.map((o) => `step ${o.step}: ${o.expect!.failures.join(", ")}`);
      if (r.run.expectations !== 3 || bad.length > 0) failed.push(`${sets}x${ways}: ${r.run.expectations} expectations; ${bad.join("; ")}`);
    }
    expect(failed).toEqual([]);
  });
});
