// UnitHost (src/sim/unitHost.ts): the one implementation of the HostIommu seam's model-neutral
// methods (probe, transact, fate, scratch, translateRun) that VT-d, AMD-Vi and SMMUv3 share. The
// same behaviour is asked of every model: a probe reports without recording a fault, a replay
// (transact) records it, and scratch puts the unit's caches back.
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import { UnitHost } from "../../src/sim/unitHost.js";
import { nicScenario } from "./helpers.js";

const scenario = (iommu: string) => nicScenario(iommu, "", `  kernel: "6.15"\n`);

const RID = 0x0100;
const IOVA = 0x4000_0000n;
const HPA = 0x1_2345_6000n;

describe.each([["intel-vtd"], ["amd-vi"], ["smmuv3"]])("UnitHost over %s", (model) => {
  const host = () => {
    const parsed = parseScenario(scenario(`{ model: ${model} }`), "t.passthrough.yaml");
    expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const m = new Machine(parsed.scenario!);
    const h = m.hostIommu;
    const d = h.allocDomain(false);
    h.attach(d, [RID]);
    h.map(d, IOVA, HPA, 0x2000n, 3);
    return h;
  };
  const split = (iova: bigint): [number, number] => [Number(iova >> 32n), Number(iova & 0xffffffffn)];

  it("is the model's seam", () => {
    expect(host()).toBeInstanceOf(UnitHost);
  });

  it("probes a mapped IOVA to its HPA at the 4 KiB leaf, then from the IOTLB once a request filled it", () => {
    const h = host();
    expect(h.probe(RID, IOVA + 0x10n, false)).toEqual({ code: 0, cached: false, hpa: HPA + 0x10n, level: 1 });
    expect(h.transact(RID, ...split(IOVA + 0x20n), true)).toBe(0);
    expect(h.probe(RID, IOVA + 0x30n, true)).toMatchObject({ code: 0, cached: true, hpa: HPA + 0x30n });
  });

  it("a probe of an unmapped IOVA records no fault; the same request as a replay does", () => {
    const h = host();
    const probe = h.probe(RID, IOVA + 0x10000n, true);
    expect(probe.code).not.toBe(0);
    expect(probe.hpa).toBe(0n);
    expect(h.transact(RID, ...split(IOVA + 0x10000n), true)).toBe(probe.code);
    expect(h.fate).toBe(1); // recorded (trace.ts fate encoding)
  });

  it("scratch runs requests and puts the unit's caches back", () => {
    const h = host();
    const r = h.scratch(() => h.transact(RID, ...split(IOVA + 0x1000n), false));
    expect(r).toBe(0);
    expect(h.probe(RID, IOVA + 0x1000n, false).cached).toBe(false);
  });
});
