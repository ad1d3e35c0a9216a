// PRI and iommufd fault delivery on SMMUv3 (issue 17, item 2): what mainline Linux does. No Linux
// release routes an SMMUv3 PRI Page Request to iommu_report_device_fault: arm_smmu_handle_ppr
// (arm-smmu-v3.c, every version to date) prints "unexpected PRI request received" and, for the
// last request of a group, sends CMD_PRI_RESP with PRI_RESP_DENY; arm_smmu_master_iopf_supported
// asks for stall_enabled only. (The series that would have done it, "iommu/arm-smmu-v3: Add
// support for PRI", v5 25/25 of 2020, was not merged.) So with an hwpt whose faults go to a fault
// object, a stalled access reaches the fault fd, a Page Request of the same master does not.
import { describe, expect, it } from "vitest";
import { runSmmuScenario } from "./smmuv3-helpers.js";

const text = `name: PRI beside iommufd fault delivery
host:
  memory: 16GiB
  kernel: "6.15"
  iommu: { model: smmuv3, oas: 48, stream-id-bits: 16, stall-model: force, ats: ["01:00.0"], pri: ["01:00.0"] }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "19e5:a250", name: accelerator, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: arm01
    memory: 2GiB
    devices: ["01:00.0"]
    backend: iommufd
workload:
  - start: arm01
  - iommufd: { vm: arm01, ioctl: IOMMU_FAULT_QUEUE_ALLOC }
  - iommufd: { vm: arm01, ioctl: IOMMU_HWPT_ALLOC, device: "01:00.0", pt: 1, fault: 4 }
  - iommufd: { vm: arm01, ioctl: VFIO_DEVICE_ATTACH_IOMMUFD_PT, device: "01:00.0", pt: 5 }
  - dma: { device: "01:00.0", iova: 0xc000_0000, length: 4KiB, write: true, ats: true }
  - iommufd: { vm: arm01, ioctl: IOMMU_HWPT_PAGE_RESPONSE, fault: 4 }
  - dma: { device: "01:00.0", iova: 0xc000_1000, length: 4KiB, write: true }
  - iommufd: { vm: arm01, ioctl: IOMMU_HWPT_PAGE_RESPONSE, fault: 4 }
`;

describe("SMMUv3 PRI and iommufd fault objects (mainline behaviour)", () => {
  it("a Page Request of a master on a fault-object hwpt is printed and denied by the kernel, never queued on the fault fd; a stall of the same master is", () => {
    const { m, outs, host } = runSmmuScenario(text, "pri-iommufd.passthrough.yaml");
    const lines = m.log.lines.map((l) => l.text);
    expect(lines.some((l) => l.endsWith("unexpected PRI request received:"))).toBe(true);
    expect(host.unit.priResponses).toEqual([{ sid: 0x100, ssid: -1, grpid: 0, resp: 0 }]); // PRI_RESP_DENY
    // Nothing was queued for user space by the Page Request: the write to the fault fd fails.
    expect(outs[5]!.errno).toBe("EINVAL");
    expect(outs[5]!.summary).toContain("no fault group is queued");
    // The untranslated write of the same master stalls and is queued (STAG 0): the response resumes it.
    expect(outs[6]!.fault).toBe(0x10);
    expect(outs[7]!.errno).toBeUndefined();
    expect(outs[7]!.summary).toMatch(/^read\(fault fd 4\): iommu_hwpt_pgfault \{ flags LAST_PAGE, dev_id 2, pasid 0, grpid 0, perm WRITE, addr 0xc0001000, cookie 1 \}/);
  });
});
