/**
 * Scalable mode: the DID-tagged IOTLB descriptor (VT-d 6.5.2.3) drops a nested PASID's cached
 * translations too - they combine the second level, and Linux flushes a nesting parent's changes
 * with that descriptor under the nested domain's DID (drivers/iommu/intel/cache.c
 * cache_tag_flush_range, CACHE_TAG_NESTING_IOTLB) - while a first-level-only PASID's answer to
 * PASID-based invalidations alone.
 */
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const host = `name: t
host:
  memory: 32GiB
  kernel: "6.8"
  iommu: { model: intel-vtd, address-width: 48, scalable: true }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:0b25", name: DSA accelerator, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: guest1
    memory: 4GiB
    devices: ["01:00.0"]
workload:
  - start: guest1
`;

function run(bind: string, did: number) {
  const dma = `  - dma: { device: "01:00.0", pasid: 9, iova: 0x4000_0000, length: 4KiB }\n`;
  const text = host + bind + dma + dma + `  - invalidate: { granularity: domain, domain: ${did} }\n` + dma;
  const r = runScenario(parseScenario(text, "t.passthrough.yaml").scenario!).run!;
  return r.outcomes.slice(-4).map((o) => o.summary);
}

describe("scalable mode: the IOTLB descriptor and nested PASIDs", () => {
  it("a domain-selective IOTLB invalidation of the nested domain's DID drops its nested translation: the next DMA walks again", () => {
    const s = run(`  - bind-pasid: { device: "01:00.0", pasid: 9, mode: nested, vm: guest1, maps: [ { va: 0x4000_0000, gpa: 0x1234_5000, size: 8KiB, perm: rw } ] }\n`, 5);
    expect(s[0]).toMatch(/0\/1 IOTLB hits/);
    expect(s[1]).toMatch(/1\/1 IOTLB hit/);
    expect(s[2]).toBe("domain invalidation: 1 IOTLB entry dropped");
    expect(s[3]).toMatch(/0\/1 IOTLB hits/);
  });

  it("a first-level-only PASID keeps its translation across the same invalidation (PASID-based invalidations drop it)", () => {
    const text = host + `  - bind-pasid: { device: "01:00.0", pasid: 9, maps: [ { va: 0x4000_0000, size: 8KiB, perm: rw } ] }\n`;
    const bound = runScenario(parseScenario(text, "t.passthrough.yaml").scenario!).run!;
    const did = Number(/DID (\d+)/.exec(bound.outcomes.at(-1)!.summary)?.[1] ?? NaN);
    expect(Number.isInteger(did), bound.outcomes.at(-1)!.summary).toBe(true);
    const s = run(`  - bind-pasid: { device: "01:00.0", pasid: 9, maps: [ { va: 0x4000_0000, size: 8KiB, perm: rw } ] }\n`, did);
    expect(s[1]).toMatch(/1\/1 IOTLB hit/);
    expect(s[2]).toBe("domain invalidation: 0 IOTLB entries dropped");
    expect(s[3]).toMatch(/1\/1 IOTLB hit/);
  });
});
