// ATS behind a guest vIOMMU (QEMU intel-iommu device-iotlb=on): the guest's intel-iommu enables ATS
// for an assigned device that has the capability (T = 01b context entry, a Device-TLB invalidation
// after each unmap's IOTLB flush); QEMU's vtd_process_device_iotlb_desc turns it into an
// IOMMU_NOTIFIER_DEVIOTLB_UNMAP event no VFIO notifier listens to, and the device's ATC - the host
// IOMMU's - is flushed by the host when QEMU's shadow unmap reaches VFIO.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { loadScenario } from "./helpers.js";
import { runScenario } from "../../src/sim/run.js";
import type { GuestViommu } from "../../src/sim/viommu.js";

function parse(text: string) {
  return parseScenario(text, "test.passthrough.yaml");
}

const load = loadScenario;

const scenario = (viommu: string, workload: string, ats = `, device-iotlb: true, ats: ["01:00.0"]`) => `
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48${ats} }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "15b3:1017", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["01:00.0"]
    viommu: ${viommu}
workload:
  - start: a
${workload}`;

const ON = "{ model: intel, caching-mode: true, device-iotlb: true }";
const OFF = "{ model: intel, caching-mode: true, device-iotlb: false }";
const MAP = `  - guest-map: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB, perm: rw, gpa: 0x200000 }\n`;
const DMA = `  - dma: { device: "01:00.0", iova: 0x100000, length: 4KiB, write: true }\n`;

/** The T field of the guest's context entry for the device, read through the guest unit's explain(). */
function guestContextT(text: string): string | undefined {
  const run = runScenario(load(text)).run!;
  const v = run.machine.vmState("a")!.viommu! as GuestViommu;
  const rid = v.guestRids().get("01:00.0")!;
  const ce = v.iommu.explain({ sid: rid, iova: 0x100000n, write: false }).trail.entries.find((e) => e.name === "context entry");
  return ce?.fields.find((f) => f.name === "T")?.value;
}

describe("guest vIOMMU with device-iotlb", () => {
  it("the guest writes a device-TLB context entry (T = 01b) only with device-iotlb=on and an ATS device", () => {
    expect(guestContextT(scenario(ON, MAP))).toBe("1");
    expect(guestContextT(scenario(OFF, MAP))).toBe("0");
    // device-iotlb=on, but the device has no ATS capability (not in host.iommu.ats).
    expect(guestContextT(scenario(ON, MAP, ""))).toBe("0");
  });

  it("an unmap sends one Device-TLB invalidation of the unmapped range, decoded as QEMU does, and nothing of it reaches VFIO", () => {
    const run = runScenario(load(scenario(ON, `${MAP}${DMA}${DMA}  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB }\n${DMA}`))).run!;
    const [map, dma1, dma2, unmap, after] = run.outcomes.slice(1);
    expect(map!.deviceIotlbInvalidations).toBe(0); // caching mode: no Device-TLB flush on map
    expect(dma1!.firstIotlb).toBe("miss");
    expect(dma2!.firstIotlb).toBe("device-tlb"); // the host's ATS
    expect(unmap!.deviceIotlbInvalidations).toBe(1);
    expect(unmap!.summary).toContain("1 device-IOTLB invalidation for 00:03.0 (IOVA 0x100000+8 KiB)");
    expect(unmap!.summary).toContain("IOMMU_NOTIFIER_DEVIOTLB_UNMAP");
    // The host flushed the NIC's ATC when VFIO unmapped: the DMA faults.
    expect(after!.fault).toBe(0x05);
    expect(after!.firstIotlb).not.toBe("device-tlb");
  });

  it("device-iotlb=off: the same unmap sends no Device-TLB invalidation, and the DMA faults the same", () => {
    const run = runScenario(load(scenario(OFF, `${MAP}${DMA}${DMA}  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB }\n${DMA}`))).run!;
    const unmap = run.outcomes[4]!;
    expect(unmap.deviceIotlbInvalidations).toBe(0);
    expect(unmap.summary).not.toContain("device-IOTLB");
    expect(run.outcomes[5]!.fault).toBe(0x05);
  });

  it("a guest that forgets the Device-TLB invalidation does no harm to an assigned device; one that forgets the IOTLB flush does", () => {
    const forgotDev = runScenario(load(scenario(ON, `${MAP}${DMA}${DMA}  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB, device-iotlb-invalidate: false }\n${DMA}`))).run!;
    expect(forgotDev.outcomes[4]!.deviceIotlbInvalidations).toBe(0);
    expect(forgotDev.outcomes[4]!.summary).toContain("skipped its device-IOTLB invalidation: harmless");
    expect(forgotDev.outcomes[5]!.fault).toBe(0x05);
    // Stepping on after the forgotten one: the next unmap sends it again (the bug was that step's).
    const again = runScenario(load(scenario(ON, `${MAP}  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB, device-iotlb-invalidate: false }\n${MAP}  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB }\n`))).run!;
    expect(again.outcomes.slice(1).map((o) => o.deviceIotlbInvalidations)).toEqual([0, 0, 0, 1]);
    const forgotAll = runScenario(load(scenario(ON, `${MAP}${DMA}${DMA}  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB, invalidate: false }\n${DMA}`))).run!;
    expect(forgotAll.outcomes[5]!.status).toBe("ok");
    expect(forgotAll.outcomes[5]!.firstIotlb).toBe("device-tlb");
  });

  it("validates the new keys with line and column", () => {
    const bad = parse(scenario(ON, `  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB, device-iotlb-invalidate: maybe }\n`));
    const e = bad.diagnostics.find((d) => d.severity === "error")!;
    expect(e.range.line).toBe(14); // 0-based: the guest-unmap line
    expect(e.range.column).toBeGreaterThan(60); // at the value
    // Forgetting an invalidation the guest never sends: a warning at the step.
    const off = parse(scenario(OFF, `  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB, device-iotlb-invalidate: false }\n`));
    const w = off.diagnostics.find((d) => d.message.includes("device-iotlb-invalidate"))!;
    expect(w.severity).toBe("warning");
    expect(w.range.line).toBe(14);
    const noAts = parse(scenario(ON, `  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB, device-iotlb-invalidate: false }\n`, ""));
    expect(noAts.diagnostics.find((d) => d.message.includes("no ATS capability"))?.severity).toBe("warning");
    // The expectation belongs to guest-map / guest-unmap steps.
    const wrong = parse(scenario(ON, `  - dma: { device: "01:00.0", iova: 0x100000, length: 4KiB }\n    expect: { device-iotlb-invalidations: 1 }\n`));
    const x = wrong.diagnostics.find((d) => d.message.includes("device-iotlb-invalidations"))!;
    expect(x.severity).toBe("error");
    expect(x.range.line).toBe(15); // the expect line
  });

  it("the expectation fails when the count differs", () => {
    const run = runScenario(load(scenario(OFF, `${MAP}  - guest-unmap: { vm: a, device: "01:00.0", iova: 0x100000, size: 8KiB }\n    expect: { device-iotlb-invalidations: 1 }\n`))).run!;
    expect(run.outcomes[2]!.expect).toEqual({ pass: false, failures: ["expected 1 device-IOTLB invalidation from the guest, got 0"] });
  });

  it("the example passes its expectations", () => {
    const run = runScenario(load(readFileSync("examples/guest-viommu-device-iotlb.passthrough.yaml", "utf8"))).run!;
    const withExpect = run.outcomes.filter((o) => o.expect);
    expect(withExpect.length).toBe(19);
    expect(withExpect.every((o) => o.expect!.pass)).toBe(true);
  });
});
