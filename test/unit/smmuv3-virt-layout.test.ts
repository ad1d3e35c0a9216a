// An Arm host (SMMUv3) runs Arm guests on QEMU's virt machine: guest RAM at GPA 0x4000_0000
// (hw/arm/virt.c VIRT_MEM), and Linux's arm-smmu-v3 reserves the software MSI window
// 0x800_0000-0x80f_ffff (IOMMU_RESV_SW_MSI) in every domain, which VFIO refuses to map.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";
import { GuestMemory } from "../../src/sim/kvm.js";
import { bootedSmmu } from "./smmuv3-helpers.js";
import { nicScenario } from "./helpers.js";

const scenario = (iommu: string, steps: string) => nicScenario(iommu, steps);

describe("the Arm guest layout on an SMMUv3 host", () => {
  it("virt puts all guest RAM in one slot at 1 GiB; q35 keeps RAM from 0 with the PCI hole", () => {
    expect(new GuestMemory(3n << 30n, 2n << 20n, 0, "virt").memslots.map((s) => [s.name, s.gpa, s.size])).toEqual([["mach-virt.ram", 0x40000000n, 3n << 30n]]);
    expect(new GuestMemory(3n << 30n, 2n << 20n, 0).memslots.map((s) => [s.gpa, s.size])).toEqual([
      [0n, 0x80000000n],
      [0x100000000n, 1n << 30n],
    ]);
  });

  it("an smmuv3 host maps guest RAM at 0x4000_0000 and refuses the SW_MSI window; a VT-d host maps GPA 0 and refuses 0xfee0_0000", () => {
    const steps = `  - dma: { device: "01:00.0", iova: 0x4000_0000, length: 4KiB }
    expect: ok
  - dma: { device: "01:00.0", iova: 0x0, length: 4KiB }
    expect: { fault: 0x10 }
  - map: { vm: vm1, iova: 0x80f_0000, size: 64KiB, gpa: 0x4000_0000 }
    expect: { errno: EINVAL }
  - map: { vm: vm1, iova: 0xfee0_0000, size: 64KiB, gpa: 0x4000_0000 }
    expect: ok
`;
    const arm = simulateText(scenario("{ model: smmuv3 }", steps), "t.passthrough.yaml");
    expect(arm.expectations).toMatchObject({ passed: 4, failed: 0 });
    const x86 = simulateText(
      scenario(
        "{ model: intel-vtd }",
        `  - dma: { device: "01:00.0", iova: 0x0, length: 4KiB }
    expect: ok
  - map: { vm: vm1, iova: 0x800_0000, size: 64KiB, gpa: 0x1000_0000 }
    expect: { errno: EEXIST }
  - map: { vm: vm1, iova: 0xfee0_0000, size: 64KiB, gpa: 0x1000_0000 }
    expect: { errno: EINVAL }
`,
      ),
      "t.passthrough.yaml",
    );
    expect(x86.expectations).toMatchObject({ passed: 3, failed: 0 });
  });

  it("Mapping Tables lists the SW_MSI window as the SMMU's reserved region", () => {
    const { model } = bootedSmmu();
    expect(model.tables().reservedRegions).toEqual([{ kind: "msi", first: 0x8000000n, last: 0x80fffffn, devices: [], source: "MSI window (IOMMU_RESV_SW_MSI)" }]);
  });

  it("the example passes", () => {
    const file = join(__dirname, "..", "..", "examples", "smmuv3-virt-layout.passthrough.yaml");
    const r = simulateText(readFileSync(file, "utf8"), file);
    expect(r.exitCode).toBe(0);
    expect(r.expectations).toMatchObject({ passed: 6, failed: 0 });
  });
});
