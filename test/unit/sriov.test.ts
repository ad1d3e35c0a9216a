// SR-IOV: VF routing IDs as the capability defines them, VFs in host.pci and in IOMMU groups, the
// PF binding rule of vfio-pci, and the scenario errors for VFs whose PF does not enable them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { vfRoutingId } from "../../src/scenario/sriov.js";
import { Machine } from "../../src/sim/machine.js";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Linux drivers/pci/iov.c pci_iov_virtfn_bus() / pci_iov_virtfn_devfn(), with a 0-based vf_id. */
function linuxVf(bus: number, devfn: number, offset: number, stride: number, vfId: number): { bus: number; devfn: number } {
  // (>> and & on a JavaScript number are 32-bit: the same arithmetic on plain integers.)
  const x = devfn + offset + stride * vfId;
  return { bus: bus + Math.floor(x / 256), devfn: x % 256 };
}

function scenario(pci: string, extra = ""): string {
  return `host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
${pci}
${extra}`;
}

const ROOT = `    - { bdf: "00:01.0", kind: root-port, acs: ACS, secondary-bus: 1 }\n`;

function pf(sriov: string, driver = "i40e"): string {
  return `    - { bdf: "01:00.0", id: "8086:1572", name: X710, parent: "00:01.0", driver: ${driver}, sriov: ${sriov} }\n`;
}

describe("SR-IOV", () => {
  it("VF n's routing ID is PF RID + First VF Offset + (n-1) * VF Stride, as Linux computes bus and devfn (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }), (bus, devfn, offset, stride, n) => {
        const rid = vfRoutingId((bus << 8) | devfn, offset, stride, n);
        const l = linuxVf(bus, devfn, offset, stride, n - 1);
        expect(rid).toBe(l.bus * 256 + l.devfn);
      }),
      { numRuns: 500 },
    );
  });

  it("the enabled VFs join host.pci with their PF's vendor, the VF device id and the VF driver", () => {
    const r = parseScenario(scenario(ROOT.replace("ACS", "true") + pf(`{ total-vfs: 64, num-vfs: 3, first-vf-offset: 16, vf-stride: 2, vf-device-id: "154c", vf-driver: iavf }`)), "t.yaml");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const vfs = r.scenario!.host.pci.filter((d) => d.physfn === "01:00.0");
    expect(vfs.map((d) => [d.key, d.vfNumber, d.vendorId, d.deviceId, d.driver, d.parent])).toEqual([
      ["01:02.0", 1, 0x8086, 0x154c, "iavf", "00:01.0"],
      ["01:02.2", 2, 0x8086, 0x154c, "iavf", "00:01.0"],
      ["01:02.4", 3, 0x8086, 0x154c, "iavf", "00:01.0"],
    ]);
  });

  it("VFs cross to the next bus when the routing ID does, and still group below the PF's port", () => {
    const r = parseScenario(scenario(ROOT.replace("ACS", "true") + pf(`{ total-vfs: 8, num-vfs: 3, first-vf-offset: 0xfe, vf-stride: 1 }`)), "t.yaml");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.scenario!.host.pci.filter((d) => d.physfn !== undefined).map((d) => d.key)).toEqual(["01:1f.6", "01:1f.7", "02:00.0"]);
    const m = new Machine(r.scenario!);
    expect(m.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const vf3 = m.pci.device("02:00.0")!;
    expect(vf3.physfn?.key).toBe("01:00.0");
    expect(m.pci.requesterId(vf3)).toBe(0x0200);
  });

  it("behind a root port with ACS each VF has a group of its own; without ACS they share the port's group", () => {
    const text = (acs: string) => scenario(ROOT.replace("ACS", acs) + pf(`{ total-vfs: 8, num-vfs: 2, first-vf-offset: 0x10, vf-stride: 1 }`));
    const isolated = new Machine(parseScenario(text("true"), "t.yaml").scenario!).pci;
    const groupOf = (t: typeof isolated, k: string) => t.groupOf(t.device(k)!).id;
    expect(new Set(["01:00.0", "01:02.0", "01:02.1"].map((k) => groupOf(isolated, k))).size).toBe(3);
    expect(isolated.device("01:00.0")!.vfs!.map((d) => d.key)).toEqual(["01:02.0", "01:02.1"]);
    // VFs are single-function: they do not make the PF multifunction.
    expect(isolated.device("01:00.0")!.multifunction).toBe(false);
    const shared = new Machine(parseScenario(text("false"), "t.yaml").scenario!).pci;
    expect(new Set(["00:01.0", "01:00.0", "01:02.0", "01:02.1"].map((k) => groupOf(shared, k))).size).toBe(1);
  });

  it("a VF whose PF does not enable it is an error at the VF's line and column", () => {
    const text = scenario(ROOT.replace("ACS", "true") + pf(`{ total-vfs: 8, num-vfs: 0 }`) + `    - { bdf: "01:02.0", physfn: "01:00.0", driver: vfio-pci }\n`);
    const r = parseScenario(text, "t.yaml");
    const e = r.diagnostics.find((d) => d.code === "vf-without-pf")!;
    expect(e.severity).toBe("error");
    expect(e.message).toContain("01:02.0 is a VF without its PF enabled");
    expect(e.message).toContain("num-vfs: 0");
    expect(e.range.line).toBe(6);
    expect(e.range.column).toBe(6);
    expect(r.scenario).toBeUndefined();
    // A physfn that is not one of the enabled VFs, and one naming a device without SR-IOV.
    const wrong = parseScenario(scenario(ROOT.replace("ACS", "true") + pf(`{ total-vfs: 8, num-vfs: 2, first-vf-offset: 0x10 }`) + `    - { bdf: "01:03.0", physfn: "01:00.0" }\n`), "t.yaml");
    expect(wrong.diagnostics.find((d) => d.code === "vf-without-pf")?.message).toContain("not one of the 2 VFs 01:00.0 enables (01:02.0 .. 01:02.1)");
    const noCap = parseScenario(scenario(ROOT.replace("ACS", "true") + `    - { bdf: "01:00.0", parent: "00:01.0" }\n    - { bdf: "01:02.0", physfn: "01:00.0" }\n`), "t.yaml");
    expect(noCap.diagnostics.find((d) => d.code === "vf-without-pf")?.message).toContain("has no SR-IOV capability");
  });

  it("num-vfs above total-vfs, VFs beyond bus ff and a VF on another device's address are errors", () => {
    const codes = (sriov: string, more = "") => parseScenario(scenario(ROOT.replace("ACS", "true") + pf(sriov) + more), "t.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code}: ${d.message}`);
    expect(codes(`{ total-vfs: 4, num-vfs: 5 }`)[0]).toMatch(/^sriov-invalid: .*num-vfs 5 is above total-vfs 4.*ERANGE/);
    expect(codes(`{ total-vfs: 64, num-vfs: 2, first-vf-offset: 0xfeff }`)[0]).toMatch(/^sriov-invalid: .*beyond bus ff/);
    expect(codes(`{ total-vfs: 4, num-vfs: 2, vf-stride: 0 }`)[0]).toMatch(/^sriov-invalid: .*vf-stride 0/);
    expect(codes(`{ total-vfs: 4, num-vfs: 1, first-vf-offset: 1 }`, `    - { bdf: "01:00.1", parent: "00:01.0" }\n`)[0]).toMatch(/^bdf-duplicate: VF 1 of 01:00.0 is at 01:00.1/);
  });

  it("vfio-pci refuses a PF with VFs enabled: the kernel line at boot and QEMU cannot open it", () => {
    const text = scenario(ROOT.replace("ACS", "true") + pf(`{ total-vfs: 4, num-vfs: 1, first-vf-offset: 0x10 }`, "vfio-pci"), `vms:\n  - { name: a, memory: 1GiB, devices: ["01:00.0"] }\nworkload:\n  - start: a\n`);
    const m = new Machine(parseScenario(text, "t.yaml").scenario!);
    expect(m.log.lines.map((l) => l.text)).toContain("vfio-pci 0000:01:00.0: Cannot bind to PF with SR-IOV enabled");
    const out = m.runStep(m.scenario.workload[0]!);
    expect(out.error).toBe("pf-sriov-enabled");
    // The editor hears of it before the run: a warning on the VM (none when the start expects the error).
    expect(m.diagnostics.filter((d) => d.code === "pf-sriov-enabled").map((d) => d.message)).toEqual([
      '01:00.0 is an SR-IOV physical function with 1 VF enabled: vfio-pci refuses to bind it ("Cannot bind to PF with SR-IOV enabled", -EBUSY), so VM a cannot start with it',
    ]);
    expect(new Machine(parseScenario(text.replace("  - start: a\n", "  - start: a\n    expect: { error: pf-sriov-enabled }\n"), "t.yaml").scenario!).diagnostics.filter((d) => d.code === "pf-sriov-enabled")).toEqual([]);
    // The same PF with SR-IOV disabled binds and starts.
    const ok = new Machine(parseScenario(text.replace("num-vfs: 1", "num-vfs: 0"), "t.yaml").scenario!);
    expect(ok.runStep(ok.scenario.workload[0]!).status).toBe("ok");
  });

  it("the groups tree shows a PF's VFs under it (driver and group) and a VF's PF", () => {
    const s = new Session("sriov");
    expect(s.update(readFileSync(join(__dirname, "..", "..", "examples", "sriov-vf-with-pf-on-host.passthrough.yaml"), "utf8")).ran).toBe(true);
    s.setCursor(0);
    const ctx = { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: 0, radix: "hex" as const };
    const pci = ctx.machine.pci;
    const pfGroup = pci.groupOf(pci.device("01:00.0")!).id;
    const pfChildren = treeChildren("groups", `g/${pfGroup}/01:00.0`, ctx)!;
    const groupOf = (k: string) => pci.groupOf(pci.device(k)!).id;
    expect(pfChildren.slice(0, 4).map((n) => `${n.label}: ${n.description}`)).toEqual([
      `VF 1 01:02.0: iavf · group ${groupOf("01:02.0")}`,
      `VF 2 01:02.1: vfio-pci · group ${groupOf("01:02.1")}`,
      `VF 3 01:02.2: iavf · group ${groupOf("01:02.2")}`,
      `VF 4 01:02.3: iavf · group ${groupOf("01:02.3")}`,
    ]);
    const vfChildren = treeChildren("groups", `g/${groupOf("01:02.1")}/01:02.1`, ctx)!;
    expect(`${vfChildren[0]!.label}: ${vfChildren[0]!.description}`).toBe(`VF 2 of 01:00.0: physical function · group ${pfGroup}`);
  });
});
