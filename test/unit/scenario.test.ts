import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { STEP_OPS, parseScenario } from "../../src/scenario/index.js";
import { parseBdf, parseSize } from "../../src/scenario/values.js";
import { Machine } from "../../src/sim/machine.js";

const root = join(__dirname, "..", "..");
const schema = JSON.parse(readFileSync(join(root, "schemas", "passthrough.schema.json"), "utf8")) as { definitions: { step: { oneOf: { required: string[] }[] } } };
const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".passthrough.yaml"));

const HOST = `host:
  iommu: { model: intel-vtd }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", parent: "00:01.0", driver: vfio-pci }
vms:
  - { name: a, memory: 1GiB, devices: ["01:00.0"] }
`;

function diag(text: string, code: string) {
  const r = parseScenario(text, "t.passthrough.yaml");
  const d = r.diagnostics.find((x) => x.code === code);
  if (!d) throw new Error(`no ${code} in ${JSON.stringify(r.diagnostics.map((x) => x.code))}`);
  return { d, at: text.slice(d.range.start, d.range.end), r };
}

describe("values", () => {
  it("parses sizes exactly, with units, hex and separators", () => {
    expect(parseSize("4KiB")).toEqual({ ok: true, value: 4096n });
    expect(parseSize("64GiB")).toEqual({ ok: true, value: 64n << 30n });
    expect(parseSize("1.5GiB")).toEqual({ ok: true, value: 3n << 29n });
    expect(parseSize("0x1000_0000")).toEqual({ ok: true, value: 0x10000000n });
    expect(parseSize("2M")).toEqual({ ok: true, value: 2n << 20n });
    expect(parseSize("3 apples").ok).toBe(false);
  });

  it("normalises BDFs and explains bad ones", () => {
    expect(parseBdf("0000:01:00.0")).toEqual({ ok: true, value: { bdf: { segment: 0, bus: 1, device: 0, fn: 0 }, key: "01:00.0" } });
    expect(parseBdf("0001:3B:1f.7")).toMatchObject({ ok: true, value: { key: "0001:3b:1f.7" } });
    expect(parseBdf("01:20.0")).toMatchObject({ ok: false, message: 'BDF "01:20.0": device number 0x20 is above 0x1f' });
    expect(parseBdf("01:00.8")).toMatchObject({ ok: false });
  });
});

describe("parseScenario", () => {
  it("applies the documented defaults", () => {
    const r = parseScenario(HOST, "t");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const h = r.scenario!.host;
    expect(h.memory).toBe(64n << 30n);
    expect(h.backing).toBe(2n << 20n);
    expect(h.memlock).toBeUndefined();
    expect(h.dmaEntryLimit).toBe(65535);
    expect(h.iommu).toMatchObject({ addressWidth: 48, sagaw: [39, 48], faultRecords: 8, iotlbSets: 256, iotlbWays: 4, cachingMode: false, mamv: 18 });
  });

  it("points a malformed BDF diagnostic at the value, with a hint", () => {
    const { d, at } = diag(HOST.replace('bdf: "01:00.0"', 'bdf: "01:20.0"'), "bdf-malformed");
    expect(at).toBe('"01:20.0"');
    expect(d.range.line).toBe(4);
    expect(d.hint).toMatch(/0\.\.1f/);
  });

  it("suggests the nearest key for a typo", () => {
    const { d, at } = diag(HOST.replace("memory: 1GiB", "memroy: 1GiB"), "unknown-key");
    expect(at).toBe("memroy");
    expect(d.hint).toBe('Did you mean "memory"?');
  });

  it("rejects an unknown step with a did-you-mean hint", () => {
    const { d, at } = diag(HOST + "workload:\n  - dam: { device: 01:00.0, iova: 0 }\n", "unknown-step");
    expect(at).toBe("dam");
    expect(d.hint).toBe('Did you mean "dma"?');
  });

  it("reports references to unknown VMs and devices, and a YAML syntax error with its position", () => {
    expect(diag(HOST + "workload:\n  - start: b\n", "unknown-vm").d.severity).toBe("error");
    expect(diag(HOST + 'workload:\n  - dma: { device: "02:00.0", iova: 0 }\n', "unknown-device").d.severity).toBe("error");
    const { d } = diag(HOST + "workload:\n  - dma: { device: 01:00.0\n", "yaml-syntax");
    expect(d.range.line).toBeGreaterThanOrEqual(8);
  });

  it("warns about an unaligned map unless the step expects EINVAL", () => {
    const w = HOST + "workload:\n  - start: a\n  - map: { vm: a, iova: 0x1800, size: 4KiB }\n";
    expect(diag(w, "map-unaligned").d.hint).toMatch(/0x1000/);
    const quiet = parseScenario(w + "    expect: { errno: EINVAL }\n", "t");
    expect(quiet.diagnostics.map((d) => d.code)).not.toContain("map-unaligned");
  });

  // The warning needs the PCI model (sim/pci.ts): the machine reports it with its topology problems
  // (the scenario layer does not import sim/), so it comes with the run's diagnostics.
  it("warns when an assigned device's IOMMU group is not viable, naming the culprit", () => {
    const text = HOST.replace('    - { bdf: "01:00.0", parent: "00:01.0", driver: vfio-pci }', '    - { bdf: "01:00.0", parent: "00:01.0", driver: vfio-pci }\n    - { bdf: "01:00.1", parent: "00:01.0", driver: ixgbe }') + "workload:\n  - start: a\n";
    const hostDiagnostics = (t: string) => new Machine(parseScenario(t, "t").scenario!).diagnostics;
    const d = hostDiagnostics(text).find((x) => x.code === "group-not-viable")!;
    expect(d.severity).toBe("warning");
    expect(d.message).toContain('01:00.1 is bound to the host driver "ixgbe"');
    expect(d.hint).toMatch(/Bind 01:00\.1 to vfio-pci/);
    expect(d.range.line).toBe(text.split("\n").findIndex((l) => l.includes("{ name: a,")));
    expect(hostDiagnostics(text.replace("  - start: a\n", "  - start: a\n    expect: { error: group-not-viable }\n")).map((x) => x.code)).not.toContain("group-not-viable");
  });

  it("bounds the host frames backing a VM", () => {
    const { d } = diag(HOST.replace("iommu: { model: intel-vtd }", "memory: 8TiB\n  backing: 4KiB\n  iommu: { model: intel-vtd }").replace("memory: 1GiB", "memory: 5GiB"), "vm-too-many-pages");
    expect(d.hint).toMatch(/2MiB/);
  });

  it("bounds the work of a dma step", () => {
    expect(diag(HOST + 'workload:\n  - dma: { device: "01:00.0", iova: 0, length: 1GiB, repeat: 1000 }\n', "dma-too-large").d.severity).toBe("error");
  });

  it("never throws and keeps every range inside the text, for any input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom(HOST, HOST + "workload:\n  - dma: {")), (text) => {
        const r = parseScenario(text, "f");
        for (const d of r.diagnostics) {
          expect(d.range.start).toBeGreaterThanOrEqual(0);
          expect(d.range.end).toBeLessThanOrEqual(text.length);
          expect(d.message.length).toBeGreaterThan(0);
        }
        if (r.scenario === undefined) expect(r.diagnostics.some((d) => d.severity === "error")).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe("JSON Schema", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);

  for (const f of examples) {
    it(`accepts ${f}`, () => {
      const doc: unknown = parseYaml(readFileSync(join(root, "examples", f), "utf8"));
      expect(validate(doc) ? [] : validate.errors).toEqual([]);
    });
  }

  it("lists exactly the step operations the parser knows", () => {
    const ops = schema.definitions.step.oneOf.map((s) => s.required[0]).sort();
    expect(ops).toEqual([...STEP_OPS].sort());
  });

  it("rejects what the parser rejects: an unknown key and a malformed BDF", () => {
    expect(validate(parseYaml(HOST.replace("memory: 1GiB", "memroy: 1GiB")))).toBe(false);
    expect(validate(parseYaml(HOST.replace('bdf: "01:00.0"', 'bdf: "01:00.9"')))).toBe(false);
  });
});
