import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PciDeviceSpec, PciKind } from "../../src/scenario/types.js";
import { PciTopology } from "../../src/sim/pci.js";
import { NO_RANGE } from "./helpers.js";

function dev(key: string, kind: PciKind = "endpoint", extra: Partial<PciDeviceSpec> = {}): PciDeviceSpec {
  const [bus, rest] = key.split(":");
  const [d, fn] = rest!.split(".");
  return { key, bdf: { segment: 0, bus: parseInt(bus!, 16), device: parseInt(d!, 16), fn: Number(fn) }, kind, acs: false, range: NO_RANGE, ...extra };
}

const groupKeys = (t: PciTopology) => t.groups.map((g) => g.devices.map((d) => d.key));

describe("IOMMU groups", () => {
  it("a dual-port NIC without ACS behind an ACS root port: one group for both functions", () => {
    const { topology: t, problems } = PciTopology.build([
      dev("00:01.0", "root-port", { acs: true, secondaryBus: 1 }),
      dev("01:00.0", "endpoint", { parent: "00:01.0" }),
      dev("01:00.1", "endpoint", { parent: "00:01.0" }),
    ]);
    expect(problems).toEqual([]);
    expect(groupKeys(t)).toEqual([["00:01.0"], ["01:00.0", "01:00.1"]]);
  });

  it("the same NIC behind a root port without ACS shares the port's group", () => {
    const { topology: t } = PciTopology.build([
      dev("00:01.0", "root-port", { secondaryBus: 1 }),
      dev("01:00.0", "endpoint", { parent: "00:01.0" }),
      dev("01:00.1", "endpoint", { parent: "00:01.0" }),
    ]);
    expect(groupKeys(t)).toEqual([["00:01.0", "01:00.0", "01:00.1"]]);
  });

  it("a PCIe-to-PCI bridge and everything behind it form one group; DMA arrives as secbus:00.0", () => {
    const { topology: t } = PciTopology.build([
      dev("00:1c.0", "root-port", { acs: true, secondaryBus: 5 }),
      dev("05:00.0", "pcie-pci-bridge", { parent: "00:1c.0", secondaryBus: 6 }),
      dev("06:02.0", "endpoint", { parent: "05:00.0" }),
      dev("06:03.0", "endpoint", { parent: "05:00.0" }),
    ]);
    expect(groupKeys(t)).toEqual([["00:1c.0"], ["05:00.0", "06:02.0", "06:03.0"]]);
    expect(t.requesterId(t.device("06:03.0")!)).toBe(0x0600);
    expect(t.dmaAliases(t.device("06:02.0")!)).toEqual([0x0610, 0x0600]);
  });

  // A PLX-style switch: ACS root port, upstream port 01:00.0, downstream ports 02:00.0 / 02:01.0.
  const sw = (upstream: Partial<PciDeviceSpec> = {}, extra: PciDeviceSpec[] = []) => [
    dev("00:01.0", "root-port", { acs: true, secondaryBus: 1 }),
    dev("01:00.0", "switch-upstream", { parent: "00:01.0", secondaryBus: 2, ...upstream }),
    ...extra,
    dev("02:00.0", "switch-downstream", { parent: "01:00.0", secondaryBus: 3 }),
    dev("02:01.0", "switch-downstream", { parent: "01:00.0", secondaryBus: 4 }),
    dev("03:00.0", "endpoint", { parent: "02:00.0" }),
    dev("04:00.0", "endpoint", { parent: "02:01.0" }),
  ];

  it("ACS does not apply to a single-function switch upstream port: one group per downstream port without ACS", () => {
    // pci_acs_enabled() returns true for a PCI_EXP_TYPE_UPSTREAM that is not multifunction
    // (PCIe 3.0 6.12.1.3), so the walk in pci_device_group() stops above the downstream port.
    const { topology: t, problems } = PciTopology.build(sw());
    expect(problems).toEqual([]);
    expect(groupKeys(t)).toEqual([["00:01.0"], ["01:00.0"], ["02:00.0", "03:00.0"], ["02:01.0", "04:00.0"]]);
    const path = t.acsPath(t.device("03:00.0")!);
    expect(path.map((p) => [p.device.key, p.acs, p.enabled, p.isolates])).toEqual([
      ["02:00.0", false, false, false],
      ["01:00.0", false, true, true],
      ["00:01.0", true, true, true],
    ]);
  });

  it("a multifunction switch upstream port without ACS still merges everything below it", () => {
    const { topology: t } = PciTopology.build(sw({}, [dev("01:00.1", "endpoint", { parent: "00:01.0" })]));
    expect(t.groupOf(t.device("03:00.0")!)).toBe(t.groupOf(t.device("04:00.0")!));
    expect(t.groupOf(t.device("03:00.0")!)).toBe(t.groupOf(t.device("01:00.0")!));
  });

  it("integrated devices on bus 0 get a group each, numbered in probe order", () => {
    const { topology: t } = PciTopology.build([dev("00:1f.3", "integrated"), dev("00:02.0", "integrated"), dev("00:14.0", "integrated")]);
    expect(groupKeys(t)).toEqual([["00:02.0"], ["00:14.0"], ["00:1f.3"]]);
  });

  it("viability names the device bound to a host driver; bridges and vfio-pci/pci-stub are fine", () => {
    const { topology: t } = PciTopology.build([
      dev("00:01.0", "root-port", { secondaryBus: 1, driver: "pcieport" }),
      dev("01:00.0", "endpoint", { parent: "00:01.0", driver: "vfio-pci" }),
      dev("01:00.1", "endpoint", { parent: "00:01.0", driver: "ixgbe" }),
      dev("01:00.2", "endpoint", { parent: "00:01.0", driver: "pci-stub" }),
    ]);
    const v = t.viability(t.groupOf(t.device("0000:01:00.0")!));
    expect(v.viable).toBe(false);
    expect(v.blockers.map((b) => b.why)).toEqual(['01:00.1 is bound to the host driver "ixgbe"']);
  });

  it("reports topology problems instead of throwing", () => {
    const { problems } = PciTopology.build([dev("01:00.0", "endpoint", { parent: "00:09.0" }), dev("02:00.0", "endpoint"), dev("03:00.0", "endpoint", { parent: "02:00.0" })]);
    expect(problems.map((p) => p.code)).toEqual(["parent-unknown", "parent-not-bridge"]);
  });

  it("properties: one group per device, dense ids, shared aliases share a group, ACS never merges", () => {
    const topo = fc.record({
      ports: fc.array(fc.record({ acs: fc.boolean(), fns: fc.integer({ min: 1, max: 3 }), bridge: fc.boolean() }), { minLength: 1, maxLength: 6 }),
    });
    fc.assert(
      fc.property(topo, fc.nat(), ({ ports }, flip) => {
        const specs: PciDeviceSpec[] = [];
        ports.forEach((p, i) => {
          const bus = i + 1;
          specs.push(dev(`00:${(i + 1).toString(16).padStart(2, "0")}.0`, "root-port", { acs: p.acs, secondaryBus: bus }));
          if (p.bridge) {
            const sec = 0x40 + i;
            specs.push(dev(`${bus.toString(16).padStart(2, "0")}:00.0`, "pcie-pci-bridge", { parent: `00:${(i + 1).toString(16).padStart(2, "0")}.0`, secondaryBus: sec }));
            for (let f = 0; f < p.fns; f++) specs.push(dev(`${sec.toString(16)}:01.${f}`, "endpoint", { parent: `${bus.toString(16).padStart(2, "0")}:00.0` }));
          } else {
            for (let f = 0; f < p.fns; f++) specs.push(dev(`${bus.toString(16).padStart(2, "0")}:00.${f}`, "endpoint", { parent: `00:${(i + 1).toString(16).padStart(2, "0")}.0` }));
          }
        });
        const { topology: t, problems } = PciTopology.build(specs);
        expect(problems).toEqual([]);
        const seen = t.groups.flatMap((g) => g.devices.map((d) => d.key));
        expect(new Set(seen).size).toBe(specs.length);
        expect(seen.length).toBe(specs.length);
        expect(t.groups.map((g) => g.id)).toEqual(t.groups.map((_, i) => i));
        for (const a of t.devices) for (const b of t.devices) if (t.requesterId(a) === t.requesterId(b)) expect(t.groupOf(a)).toBe(t.groupOf(b));
        // Enabling ACS on one more port never reduces the number of groups.
        const i = flip % ports.length;
        const more = specs.map((s) => (s.key === `00:${(i + 1).toString(16).padStart(2, "0")}.0` ? { ...s, acs: true } : s));
        expect(PciTopology.build(more).topology.groups.length).toBeGreaterThanOrEqual(t.groups.length);
      }),
      { numRuns: 200 },
    );
  });
});
