// vtdIommuSpec (src/sim/vtd/spec.ts): the one default VT-d spec the bench modes and the unit tests
// build a unit from is the unit a scenario gets from `host.iommu: { model: intel-vtd }`.
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { vtdIommuSpec } from "../../src/sim/vtd/spec.js";

const scenario = `name: t
host:
  memory: 16GiB
  iommu: { model: intel-vtd }
  pci:
    - { bdf: "01:00.0", id: "15b3:1017", name: NIC, driver: vfio-pci }
`;

describe("vtdIommuSpec", () => {
  it("is the spec of a scenario's host.iommu with model intel-vtd and no other key", () => {
    const parsed = parseScenario(scenario, "t.passthrough.yaml");
    expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(parsed.scenario!.host.iommu).toEqual({ ...vtdIommuSpec(), range: parsed.scenario!.host.iommu.range });
  });

  it("takes overrides on top of the defaults", () => {
    expect(vtdIommuSpec({ addressWidth: 39, sagaw: [39] })).toMatchObject({ addressWidth: 39, sagaw: [39], iotlbSets: 256, faultRecords: 8 });
  });
});
