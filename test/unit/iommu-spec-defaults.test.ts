// One default-spec builder per model (scenario/iommuSpecs.ts; sim/vtd/spec.ts re-exports VT-d's):
// a scenario's bare `host.iommu: { model: X }` parses to exactly what
// the model's builder makes, so code without a scenario (bench, tests) and scenarios get one unit.
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { IommuSpec } from "../../src/scenario/types.js";
import { amdviIommuSpec, smmuv3IommuSpec, vtdIommuSpec } from "../../src/scenario/iommuSpecs.js";
import { nicScenario } from "./helpers.js";

const parsedIommu = (iommu: string): IommuSpec => {
  const p = parseScenario(nicScenario(iommu), "t.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return p.scenario!.host.iommu;
};

describe("default host.iommu specs", () => {
  it("intel-vtd: the builder's unit", () => {
    const s = parsedIommu("{ model: intel-vtd }");
    expect(s).toEqual(vtdIommuSpec({ range: s.range }));
  });

  it("amd-vi: the builder's unit, the v1 table width and IOTLB from the scenario", () => {
    const s = parsedIommu("{ model: amd-vi }");
    expect(s).toEqual(amdviIommuSpec({ unityMaps: [] }, { range: s.range }));
    expect(s).toMatchObject({ model: "amd-vi", addressWidth: 48, sagaw: [], faultRecords: 1, iotlbSets: 256, iotlbWays: 4, hostPassThrough: false });
    const t = parsedIommu("{ model: amd-vi, address-width: 39, iotlb: { sets: 16, ways: 2 }, host-pass-through: true }");
    expect(t).toEqual(amdviIommuSpec({ unityMaps: [] }, { addressWidth: 39, iotlbSets: 16, iotlbWays: 2, hostPassThrough: true, range: t.range }));
  });

  it("smmuv3: the builder's unit, 64 x 4 TLB and one fault record per event-queue entry", () => {
    const s = parsedIommu("{ model: smmuv3 }");
    expect(s).toEqual(smmuv3IommuSpec(s.smmu!, { range: s.range }));
    expect(s).toMatchObject({ model: "smmuv3", sagaw: [], faultRecords: 128, iotlbSets: 64, iotlbWays: 4, hostPassThrough: false });
    const t = parsedIommu("{ model: smmuv3, event-queue: 16, iotlb: { sets: 8, ways: 2 } }");
    expect(t).toEqual(smmuv3IommuSpec({ ...s.smmu!, evtqShift: 4 }, { iotlbSets: 8, iotlbWays: 2, range: t.range }));
    expect(t.faultRecords).toBe(16);
  });
});
