// SR-IOV with and without ARI (scenario/sriov.ts): below a PCIe port only functions 0-7 of each bus
// are reachable unless Linux enabled ARI (the port forwards it, function 0 has the capability:
// drivers/pci/pci.c pci_configure_ari), and VFs past the PF's bus must fit the port's subordinate
// bus (drivers/pci/iov.c sriov_enable's "can't enable %d VFs (bus %02x out of range of %pR)").
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { ariEnabled, vfRoutingId } from "../../src/scenario/sriov.js";
import { Machine } from "../../src/sim/machine.js";

function scenario(port: string, pf: string, extra = ""): string {
  return `host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 3${port} }
    - { bdf: "03:00.0", id: "8086:1572", name: X710, parent: "00:01.0", driver: i40e, sriov: ${pf} }
${extra}`;
}

const errors = (text: string) => parseScenario(text, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");

describe("SR-IOV ARI", () => {
  it("with ARI (the default) VFs use the 8-bit function number: 03:02.0 is function 16 of bus 03", () => {
    const r = parseScenario(scenario("", "{ total-vfs: 64, num-vfs: 2, first-vf-offset: 16, vf-stride: 1 }"), "t.yaml");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.scenario!.host.pci.filter((d) => d.physfn).map((d) => d.key)).toEqual(["03:02.0", "03:02.1"]);
    const byKey = new Map(r.scenario!.host.pci.map((d) => [d.key, d]));
    expect(ariEnabled(byKey.get("03:00.0")!, byKey)).toBe(true);
  });

  it("a port without ARI Forwarding: VF 1 at function 16 is an error at the sriov mapping, naming the port", () => {
    const text = scenario(", ari: false", "{ total-vfs: 64, num-vfs: 2, first-vf-offset: 16, vf-stride: 1 }");
    const e = errors(text);
    expect(e.map((d) => d.code)).toEqual(["sriov-ari-required"]);
    expect(e[0]!.message).toBe("03:00.0: VF 1 would be at 03:02.0, function number 16 of bus 03; without ARI only functions 0-7 are reachable below 00:01.0: 00:01.0 does not forward ARI (ari: false)");
    const line = text.split("\n").findIndex((l) => l.includes("sriov:"));
    expect(e[0]!.range).toMatchObject({ line, column: text.split("\n")[line]!.indexOf("{ total-vfs") });
  });

  it("function 0 without the ARI capability disables ARI too; offsets within functions 0-7 need no ARI", () => {
    expect(errors(scenario("", "{ total-vfs: 8, num-vfs: 2, first-vf-offset: 16, vf-stride: 1 }").replace("driver: i40e,", "driver: i40e, ari: false,")).map((d) => d.message)).toEqual([
      "03:00.0: VF 1 would be at 03:02.0, function number 16 of bus 03; without ARI only functions 0-7 are reachable below 00:01.0: function 0 of bus 03 has no ARI capability (ari: false)",
    ]);
    expect(errors(scenario(", ari: false", "{ total-vfs: 7, num-vfs: 7, first-vf-offset: 1, vf-stride: 1 }"))).toEqual([]);
    // Without ARI a VF may still cross to the next bus at function 0-7 (a non-ARI device's captured bus).
    expect(errors(scenario(", ari: false, subordinate-bus: 4", "{ total-vfs: 8, num-vfs: 1, first-vf-offset: 0x100, vf-stride: 1 }"))).toEqual([]);
  });

  it("a root-complex integrated PF has no link: any function number is fine without ARI", () => {
    const text = `host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:04.0", kind: integrated, ari: false, sriov: { total-vfs: 8, num-vfs: 2, first-vf-offset: 8, vf-stride: 1 } }
`;
    expect(errors(text)).toEqual([]);
  });

  it("the first VF past function 7 is the one reported, for any offset and stride without ARI (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 24 }), (offset, stride, num) => {
        const e = errors(scenario(", ari: false, subordinate-bus: 0xff", `{ total-vfs: 64, num-vfs: ${num}, first-vf-offset: ${offset}, vf-stride: ${stride} }`));
        let bad = 0;
        for (let n = 1; n <= num && bad === 0; n++) if ((vfRoutingId(0x0300, offset, stride, n) & 0xf8) !== 0) bad = n;
        if (bad === 0) expect(e).toEqual([]);
        else expect(e.map((d) => d.message.split(" would")[0])).toEqual([`03:00.0: VF ${bad}`]);
      }),
      { numRuns: 60 },
    );
  });
});

describe("SR-IOV bus crossing", () => {
  it("VFs past the PF's bus must fit the port's subordinate bus: Linux's ENOMEM message with the bus range", () => {
    const pf = "{ total-vfs: 32, num-vfs: 20, first-vf-offset: 0xf0, vf-stride: 1 }";
    expect(errors(scenario(", subordinate-bus: 4", pf))).toEqual([]);
    const e = errors(scenario(", subordinate-bus: 3", pf));
    expect(e.map((d) => d.message)).toEqual(["03:00.0: VF 20 would be on bus 04, beyond 00:01.0's subordinate bus 03 (the kernel: can't enable 20 VFs (bus 04 out of range of [bus 03]), ENOMEM)"]);
    expect(errors(scenario(", subordinate-bus: 2", pf)).map((d) => d.message)).toEqual(["subordinate-bus 02 is below secondary-bus 03"]);
  });

  it("with ARI a VF on the next bus is a device of its own that the machine can assign", () => {
    const text = scenario(", subordinate-bus: 4", "{ total-vfs: 32, num-vfs: 20, first-vf-offset: 0xf0, vf-stride: 1, vf-driver: vfio-pci }");
    const m = new Machine(parseScenario(text, "t.yaml").scenario!);
    expect(m.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const vf = m.pci.device("04:00.3");
    expect(vf?.physfn?.key).toBe("03:00.0");
    expect(m.pci.requesterId(vf!)).toBe(0x0403);
  });
});
