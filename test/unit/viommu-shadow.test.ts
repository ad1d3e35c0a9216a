// The vIOMMU in caching mode as QEMU drives VFIO: every guest page-table entry the guest's
// invalidation makes QEMU walk becomes one VFIO_IOMMU_MAP_DMA (vtd_page_walk_level ->
// vtd_page_walk_one -> memory_region_notify_iommu -> vfio_iommu_map_notify), so the host sees
// 4 KiB mappings, dma-entry-limit counts pages, and QEMU always asks for read access.
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { runScenario } from "../../src/sim/run.js";

function load(text: string): Scenario {
  const p = parseScenario(text, "test.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

const scenario = (hostExtra: string, workload: string) => `
host:
  memory: 16GiB
${hostExtra}  iommu: { model: intel-vtd, address-width: 48 }
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
${workload}`;

describe("vIOMMU shadowing in caching mode", () => {
  it("maps a guest mapping page by page: dma-entry-limit counts pages and the pages past it stay unmapped", () => {
    const run = runScenario(
      load(
        scenario(
          "  dma-entry-limit: 4\n",
          `  - guest-map: { vm: a, device: "01:00.0", iova: 0x10000000, size: 24KiB, perm: rw, gpa: 0x200000 }
  - dma: { device: "01:00.0", iova: 0x10003000, length: 4KiB, write: false }
  - dma: { device: "01:00.0", iova: 0x10004000, length: 4KiB, write: false }
`,
        ),
      ),
    ).run!;
    const [, map, inside, past] = run.outcomes;
    expect(map!.status).toBe("errno");
    expect(map!.errno).toBe("ENOSPC");
    expect(map!.summary).toContain("4 of 6 pages");
    expect(run.machine.vmState("a")!.container!.dmas.map((d) => [d.iova, d.size])).toEqual([0, 1, 2, 3].map((i) => [0x10000000n + BigInt(i) * 0x1000n, 0x1000n]));
    // QEMU's vfio_iommu_map_notify: error_report("vfio_container_dma_map(%p, 0x%"HWADDR_PRIx", 0x%"HWADDR_PRIx", %p) = %d (%s)"), once per failed entry.
    const vmm = run.log.filter((l) => l.source === "vmm" && l.step === map!.step).map((l) => l.text);
    expect(vmm).toHaveLength(2);
    expect(vmm[0]).toMatch(/^qemu-system-x86_64: vfio_container_dma_map\(0x[0-9a-f]+, 0x10004000, 0x1000, 0x[0-9a-f]+\) = -28 \(No space left on device\)$/);
    expect(vmm[1]).toContain(", 0x10005000, 0x1000, ");
    expect(inside!.status).toBe("ok");
    expect(past!.status).toBe("fault");
  });

  it("a write-only guest mapping is readable by the device: vfio_legacy_dma_map always sets VFIO_DMA_MAP_FLAG_READ", () => {
    const run = runScenario(
      load(
        scenario(
          "",
          `  - guest-map: { vm: a, device: "01:00.0", iova: 0x10000000, size: 8KiB, perm: w, gpa: 0x200000 }
  - dma: { device: "01:00.0", iova: 0x10000000, length: 8KiB, write: false }
  - dma: { device: "01:00.0", iova: 0x10000000, length: 8KiB, write: true }
`,
        ),
      ),
    ).run!;
    const [, map, read, write] = run.outcomes;
    expect(map!.status).toBe("ok");
    expect(run.machine.vmState("a")!.container!.dmas.map((d) => d.prot)).toEqual([3, 3]);
    expect(read!.status).toBe("ok");
    expect(write!.status).toBe("ok");
  });

  it("a read-only guest mapping stays read-only on the host", () => {
    const run = runScenario(
      load(
        scenario(
          "",
          `  - guest-map: { vm: a, device: "01:00.0", iova: 0x10000000, size: 4KiB, perm: r, gpa: 0x200000 }
  - dma: { device: "01:00.0", iova: 0x10000000, length: 4KiB, write: true }
`,
        ),
      ),
    ).run!;
    expect(run.machine.vmState("a")!.container!.dmas.map((d) => d.prot)).toEqual([1]);
    expect(run.outcomes[2]!.fault).toBe(0x05);
  });

  it("a guest unmapping one page of a larger mapping unmaps just that page (no VFIO split, no EINVAL)", () => {
    const run = runScenario(
      load(
        scenario(
          "",
          `  - guest-map: { vm: a, device: "01:00.0", iova: 0x10000000, size: 16KiB, perm: rw, gpa: 0x200000 }
  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x10001000, size: 4KiB }
  - dma: { device: "01:00.0", iova: 0x10000000, length: 4KiB, write: true }
  - dma: { device: "01:00.0", iova: 0x10001000, length: 4KiB, write: true }
  - dma: { device: "01:00.0", iova: 0x10002000, length: 8KiB, write: true }
`,
        ),
      ),
    ).run!;
    const [, , unmap, before, hole, after] = run.outcomes;
    expect(unmap!.status).toBe("ok");
    expect(unmap!.summary).toBe("unmapped 4 KiB at IOVA 0x10001000");
    expect(before!.status).toBe("ok");
    expect(hole!.status).toBe("fault");
    expect(after!.status).toBe("ok");
  });
});

