// The ACS override what-if: pcie_acs_override= read as the out-of-tree patch reads it, its quirk
// in pci_acs_enabled() recomputing the IOMMU groups (checked against a small reference grouping),
// and the warnings when a split group held a device the host depends on.
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAcsOverride } from "../../src/scenario/acsOverride.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { AcsOverrideSpec, PciDeviceSpec, PciKind } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { EngineServer } from "../../src/engine/server.js";
import { PciTopology } from "../../src/sim/pci.js";
import { NO_RANGE } from "./helpers.js";

const parse = (t: string) => parseAcsOverride(t, NO_RANGE);

describe("pcie_acs_override= text", () => {
  it("reads downstream, multifunction and id:VVVV:DDDD items", () => {
    const { spec, warnings } = parse("downstream,multifunction,id:8086:1234,id:10de:0x1b");
    expect(warnings).toEqual([]);
    expect([spec.downstream, spec.multifunction]).toEqual([true, true]);
    expect(spec.ids).toEqual([{ vendor: 0x8086, device: 0x1234 }, { vendor: 0x10de, device: 0x1b }]);
  });

  it("matches keywords by prefix (strncmp) and skips to the next comma", () => {
    expect(parse("downstreams").spec.downstream).toBe(true);
    expect(parse("down,multi").spec).toMatchObject({ downstream: false, multifunction: false });
  });

  it("prints the patch's pr_warn lines for malformed ids and keeps going at the next comma", () => {
    // snprintf(opt, 5, ...) takes 4 characters: "86:1" is not hex -> kstrtol() = -EINVAL (-22).
    expect(parse("id:86:1234,downstream")).toMatchObject({ warnings: ["PCIe ACS ID parse error -22"], spec: { downstream: true, ids: [] } });
    // No ':' after the vendor: strcspn() runs to the end of the text, so a later item is lost too.
    expect(parse("id:8086,downstream")).toMatchObject({ warnings: ["PCIe ACS invalid ID"], spec: { downstream: false, ids: [] } });
    // max_acs_id >= NUM_ACS_IDS - 1: the 16th id has no slot.
    const many = Array.from({ length: 16 }, (_, i) => `id:8086:${(0x1000 + i).toString(16)}`).join(",");
    expect(parse(many)).toMatchObject({ warnings: ["Out of PCIe ACS override slots (16)"] });
    expect(parse(many).spec.ids.length).toBe(15);
  });

  it("property: a comma-joined list of well-formed items reads back as written", () => {
    const item = fc.oneof(fc.constant("downstream"), fc.constant("multifunction"), fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([v, d]) => `id:${v.toString(16).padStart(4, "0")}:${d.toString(16).padStart(4, "0")}`));
    fc.assert(
      fc.property(fc.array(item, { maxLength: 14 }), (items) => {
        const { spec, warnings } = parse(items.join(","));
        expect(warnings).toEqual([]);
        expect(spec.downstream).toBe(items.includes("downstream"));
        expect(spec.multifunction).toBe(items.includes("multifunction"));
        expect(spec.ids.map((i) => `id:${i.vendor.toString(16).padStart(4, "0")}:${i.device.toString(16).padStart(4, "0")}`)).toEqual(items.filter((i) => i.startsWith("id:")));
      }),
      { numRuns: 300 },
    );
  });
});

function dev(key: string, kind: PciKind, extra: Partial<PciDeviceSpec> = {}): PciDeviceSpec {
  const [bus, rest] = key.split(":");
  const [d, fn] = rest!.split(".");
  return { key, bdf: { segment: 0, bus: parseInt(bus!, 16), device: parseInt(d!, 16), fn: Number(fn) }, kind, acs: false, range: NO_RANGE, ...extra };
}

/**
 * A reference for the topologies generated below (root ports on bus 0, endpoints right below
 * them): union-find over pci_device_group()'s rules as they apply there, with ACS as the override
 * patch answers it (else PCIe 6.12.1.3: a single-function endpoint needs none).
 */
function referenceGroups(specs: PciDeviceSpec[], o: AcsOverrideSpec | undefined): string[][] {
  const parent = new Map(specs.map((s) => [s.key, s.key]));
  const find = (k: string): string => (parent.get(k) === k ? k : find(parent.get(k)!));
  const union = (a: string, b: string) => parent.set(find(a), find(b));
  const slot = (s: PciDeviceSpec) => `${s.bdf.bus}:${s.bdf.device}`;
  const perSlot = new Map<string, PciDeviceSpec[]>();
  for (const s of specs) perSlot.set(slot(s), [...(perSlot.get(slot(s)) ?? []), s]);
  const multi = (s: PciDeviceSpec) => perSlot.get(slot(s))!.length > 1;
  const acs = (s: PciDeviceSpec): boolean => {
    if (o !== undefined && !s.acs) {
      if (o.ids.some((i) => i.vendor === s.vendorId && i.device === s.deviceId)) return true;
      if (s.kind === "root-port" && o.downstream) return true;
      if (s.kind === "endpoint" && o.multifunction && multi(s)) return true;
    }
    return s.kind === "root-port" ? s.acs : multi(s) ? s.acs : true;
  };
  for (const s of specs) {
    if (s.parent !== undefined && !acs(specs.find((p) => p.key === s.parent)!)) union(s.key, s.parent);
    if (multi(s) && !acs(s)) for (const t of perSlot.get(slot(s))!) if (t !== s && !acs(t)) union(s.key, t.key);
  }
  const groups = new Map<string, string[]>();
  for (const s of specs) groups.set(find(s.key), [...(groups.get(find(s.key)) ?? []), s.key]);
  return [...groups.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

describe("IOMMU groups under the ACS override", () => {
  it("property: the groups Linux computes with the override's quirk equal a reference grouping", () => {
    const ids = [0x1234, 0x5678, 0x9abc];
    const fn = fc.record({ acs: fc.boolean(), device: fc.constantFrom(...ids) });
    const port = fc.record({ slot: fc.integer({ min: 1, max: 3 }), acs: fc.boolean(), device: fc.constantFrom(...ids), fns: fc.array(fn, { minLength: 1, maxLength: 3 }) });
    const override = fc.record({ downstream: fc.boolean(), multifunction: fc.boolean(), ids: fc.subarray(ids) });
    fc.assert(
      fc.property(fc.array(port, { minLength: 1, maxLength: 6 }), fc.option(override, { nil: undefined }), (ports, ov) => {
        const specs: PciDeviceSpec[] = [];
        const used = new Map<number, number>();
        ports.forEach((p, i) => {
          const f = used.get(p.slot) ?? 0;
          if (f > 7) return;
          used.set(p.slot, f + 1);
          const key = `00:0${p.slot}.${f}`;
          const bus = i + 1;
          specs.push(dev(key, "root-port", { acs: p.acs, secondaryBus: bus, vendorId: 0x8086, deviceId: p.device }));
          p.fns.forEach((e, j) => specs.push(dev(`${bus.toString(16).padStart(2, "0")}:00.${j}`, "endpoint", { parent: key, acs: e.acs, vendorId: 0x10de, deviceId: e.device })));
        });
        const o: AcsOverrideSpec | undefined = ov === undefined ? undefined : { text: "", downstream: ov.downstream, multifunction: ov.multifunction, ids: ov.ids.map((d) => ({ vendor: d < 0x5000 ? 0x8086 : 0x10de, device: d })), range: NO_RANGE };
        const { topology, problems } = PciTopology.build(specs, o);
        expect(problems).toEqual([]);
        const got = topology.groups.map((g) => g.devices.map((d) => d.key).sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
        expect(got).toEqual(referenceGroups(specs, o));
        // The override only ever splits: never fewer groups than without it.
        expect(topology.groups.length).toBeGreaterThanOrEqual(PciTopology.build(specs).topology.groups.length);
      }),
      { numRuns: 300 },
    );
  });

  it("never overrides a conventional PCI device behind a PCIe-to-PCI bridge (!pci_is_pcie), even by id", () => {
    const o = parse("downstream,multifunction,id:8086:aaaa").spec;
    const { topology: t } = PciTopology.build(
      [
        dev("00:01.0", "root-port", { acs: true, secondaryBus: 1 }),
        dev("01:00.0", "pcie-pci-bridge", { parent: "00:01.0", secondaryBus: 2 }),
        dev("02:01.0", "endpoint", { parent: "01:00.0", vendorId: 0x8086, deviceId: 0xaaaa }),
        dev("02:01.1", "endpoint", { parent: "01:00.0" }),
        dev("00:02.0", "root-port", { acs: true, secondaryBus: 3 }),
        dev("03:00.0", "endpoint", { parent: "00:02.0", vendorId: 0x8086, deviceId: 0xaaaa }),
        dev("03:00.1", "endpoint", { parent: "00:02.0" }),
      ],
      o,
    );
    expect(t.acsEnabled(t.device("02:01.0")!)).toBe(false);
    expect(t.acsEnabled(t.device("03:00.0")!)).toBe(true);
    // The bridge's aliasing still puts both functions in one group.
    expect(t.groupOf(t.device("02:01.0")!)).toBe(t.groupOf(t.device("02:01.1")!));
    expect(t.acsPath(t.device("01:00.0")!)[0]!.overridden).toBeUndefined();
  });
});

describe("ACS override diagnostics", () => {
  const example = readFileSync(join(__dirname, "..", "..", "examples", "unsafe-acs-override.passthrough.yaml"), "utf8");

  it("without the override the GPU shares a group with the host's NVMe disk and the VM cannot start", () => {
    const m = new Machine(parseScenario(example.replace(/^ {2}acs-override:.*\n/m, ""), "x.yaml").scenario!);
    expect(m.pci.groups.length).toBe(1);
    expect(m.runStep(m.scenario.workload[0]!).error).toBe("group-not-viable");
    expect(m.diagnostics.some((d) => d.code.startsWith("acs-override"))).toBe(false);
  });

  it("with it the groups split, the VM starts, and warnings say the isolation is unsafe and name the host's disk", () => {
    const m = new Machine(parseScenario(example, "x.yaml").scenario!);
    expect(m.pci.groups.length).toBe(5);
    expect(m.runStep(m.scenario.workload[0]!).status).toBe("ok");
    const unsafe = m.diagnostics.filter((d) => d.code === "acs-override-unsafe");
    expect(unsafe).toHaveLength(1);
    expect(unsafe[0]!.message).toContain('"Warning: PCIe ACS overrides enabled; This may allow non-IOMMU protected peer-to-peer DMA"');
    expect(unsafe[0]!.range.line).toBe(11);
    const critical = m.diagnostics.filter((d) => d.code === "acs-override-host-critical");
    expect(critical.map((d) => d.message.slice(0, 60))).toEqual([
      "pcie_acs_override=downstream,multifunction moves 01:00.0 (as",
      "pcie_acs_override=downstream,multifunction moves 01:00.1 (as",
    ]);
    expect(critical[0]!.message).toContain("02:00.0 (970 EVO Plus (host boot disk), storage, bound to nvme)");
    expect(m.log.lines[0]!.text).toBe("Warning: PCIe ACS overrides enabled; This may allow non-IOMMU protected peer-to-peer DMA");
  });

  it("no host-critical warning when the device the split separates from the assigned one is not the host's", () => {
    const m = new Machine(parseScenario(example.replace("driver: nvme", "driver: vfio-pci"), "x.yaml").scenario!);
    expect(m.diagnostics.filter((d) => d.code === "acs-override-host-critical")).toEqual([]);
    expect(m.diagnostics.filter((d) => d.code === "acs-override-unsafe")).toHaveLength(1);
  });

  it("a malformed item is a warning with the kernel's text at the option", () => {
    const r = parseScenario(example.replace('"downstream,multifunction"', '"downstream,id:10de"'), "x.yaml");
    const w = r.diagnostics.find((d) => d.code === "acs-override-ignored")!;
    expect(w.message).toContain('"PCIe ACS invalid ID"');
    expect(w.range.line).toBe(11);
  });
});

describe("ACS override what-if (quick fix)", () => {
  const example = readFileSync(join(__dirname, "..", "..", "examples", "unsafe-acs-override.passthrough.yaml"), "utf8");
  const update = (text: string) => new EngineServer().handle("update", { uri: "file:///w.passthrough.yaml", version: 1, text });

  it("a group not viable for want of ACS offers 'What if pcie_acs_override=...'; applied, the VM starts and the warnings appear", () => {
    const text = example.replace(/^ {2}acs-override:.*\n/m, "").replace("    expect: { ok: true }\n  - dma", "  - dma");
    const st = update(text);
    const start = st.diagnostics.find((d) => d.code === "group-not-viable" && d.severity === "error")!;
    const whatIf = start.fixes!.find((f) => f.title.startsWith("What if"))!;
    expect(whatIf.title).toBe("What if pcie_acs_override=downstream,multifunction (unsafe isolation): 01:00.0 in group 2, 01:00.1 in group 3");
    expect(whatIf.preferred).toBe(false);
    const e = whatIf.edits[0]!;
    const fixed = text.slice(0, e.start) + e.text + text.slice(e.end);
    expect(fixed).toContain('host:\n  acs-override: "downstream,multifunction"\n  memory: 32GiB\n');
    const after = update(fixed);
    expect(after.steps[0]!.status).toBe("ok");
    expect(after.diagnostics.map((d) => d.code).sort()).toEqual(["acs-override-host-critical", "acs-override-host-critical", "acs-override-unsafe"]);
  });

  it("no what-if when the override would not help (a device behind a PCIe-to-PCI bridge) or one is already set", () => {
    const bridged = `host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", kind: pcie-pci-bridge, parent: "00:01.0", secondary-bus: 2 }
    - { bdf: "02:01.0", parent: "01:00.0", driver: vfio-pci }
    - { bdf: "02:02.0", parent: "01:00.0", driver: e1000 }
vms:
  - { name: a, memory: 1GiB, devices: ["02:01.0"] }
workload:
  - start: a
`;
    const st = update(bridged);
    const fixes = st.diagnostics.filter((d) => d.code === "group-not-viable").flatMap((d) => d.fixes ?? []);
    expect(fixes.length).toBeGreaterThan(0);
    expect(fixes.some((f) => f.title.startsWith("What if"))).toBe(false);
  });
});

