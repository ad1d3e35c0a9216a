// The Devices & IOMMU Groups tree shows each device's ACS path as the grouping rule reads it: a
// single-function switch upstream port without ACS is "n/a" (PCIe 6.12.1.3), not a merging "off".
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";

const TEXT = `
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", kind: switch-upstream, parent: "00:01.0", secondary-bus: 2 }
    - { bdf: "02:00.0", kind: switch-downstream, parent: "01:00.0", secondary-bus: 3 }
    - { bdf: "02:01.0", kind: switch-downstream, parent: "01:00.0", secondary-bus: 4 }
    - { bdf: "03:00.0", id: "8086:1572", name: NIC, parent: "02:00.0", driver: vfio-pci }
    - { bdf: "04:00.0", id: "8086:1572", name: NIC, parent: "02:01.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["03:00.0"]
workload:
  - start: a
`;

describe("groups tree: ACS path", () => {
  it("marks a single-function upstream port 'ACS n/a' and the downstream port without ACS 'off'", () => {
    const s = new Session("acs");
    expect(s.update(TEXT).ran).toBe(true);
    s.setCursor(0);
    const ctx = { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: 0, radix: "hex" as const };
    const groups = treeChildren("groups", null, ctx)!;
    // Root port, upstream port, and one group per downstream port with its endpoint.
    expect(groups.map((g) => g.description)).toEqual(["1 device · viable", "1 device · viable", "2 devices · viable", "2 devices · viable"]);
    const nic = treeChildren("groups", `${groups[2]!.id}/03:00.0`, ctx)!;
    expect(nic.map((n) => `${n.label}: ${n.description}`)).toEqual([
      "02:00.0 switch-downstream: ACS off",
      "01:00.0 switch-upstream: ACS n/a · isolates",
      "00:01.0 root-port: ACS on · isolates",
    ]);
    expect(nic[1]!.tooltip).toContain("does not apply");
    expect(nic[1]!.icon).toBe("lock");
  });
});
