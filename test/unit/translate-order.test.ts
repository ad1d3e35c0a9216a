// The order of the translate step's checks, through the DMA path of a whole scenario: the IOTLB
// is looked up first, and only a miss walks, starting with the address-width range check (QEMU
// hw/i386/intel_iommu.c vtd_do_iommu_translate: vtd_lookup_iotlb, then vtd_iova_to_slpte, whose
// first check is vtd_iova_sl_range_check -> VTD_FR_ADDR_BEYOND_MGAW 0x04).
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

function simulate(text: string) {
  const p = parseScenario(text, "order.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  const r = runScenario(p.scenario);
  if (!r.run) throw new Error(r.error);
  return r.run;
}

describe("translate: IOTLB before the address-width check (vtd_do_iommu_translate)", () => {
  it("an IOVA cached in the IOTLB beyond a narrowed address width is a hit for DMA and for the probe alike", () => {
    const run = simulate(`
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: web01
    memory: 2GiB
    devices: ["01:00.0"]
workload:
  - start: web01
  - map: { vm: web01, iova: 0x80_0000_0000, size: 4KiB, gpa: 0x10_0000 }
  - dma: { device: "01:00.0", iova: 0x80_0000_0000, length: 4KiB }
    expect: { ok: true, iotlb: miss }
  # AW 1 (39 bits, 3 levels), DID 3 kept; the context cache reads it again, the IOTLB keeps the page.
  - poke: { target: { device: "01:00.0", structure: context-hi }, value: 0x301 }
  - invalidate: { granularity: context-global }
  - translate: { device: "01:00.0", iova: 0x80_0000_0000 }
    expect: { ok: true, iotlb: hit }
  - dma: { device: "01:00.0", iova: 0x80_0000_0000, length: 4KiB }
    expect: { ok: true, iotlb: hit }
  # A neighbouring page beyond the width is not cached: the walk's range check faults.
  - dma: { device: "01:00.0", iova: 0x80_0000_1000, length: 4KiB }
    expect: { fault: 0x04 }
`);
    expect(run.outcomes).toHaveLength(8);
    expect(run.expectations).toBe(4);
    expect(run.outcomes.flatMap((o, i) => (o.expect && !o.expect.pass ? [`step ${i}: ${o.expect.failures.join("; ")}`] : []))).toEqual([]);
  });
});
