// lspci listings, QEMU command lines and libvirt XML: facts with their lines; broken XML is a
// skipped line with the error, never an exception; and a scenario built from all of it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { detectKind, importText, parseLibvirtXml, parseLspci, parseQemuCommandLine, synthesizeScenario, parseLog } from "../../src/import/index.js";
import { qemuSize, readXml } from "../../src/import/vmconfig.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const read = (f: string) => readFileSync(join(__dirname, "..", "fixtures", "evidence", f), "utf8");

describe("lspci", () => {
  it("reads devices, drivers, modules and the ACS capability", () => {
    const r = parseLspci(read("lspci-nnk.txt"));
    expect(r.records.map((x) => [x.fields.device, x.fields.driver])).toEqual([["00:1c.0", "pcieport"], ["03:00.0", "vfio-pci"], ["03:00.1", "ixgbe"]]);
    expect(r.records[0]!.fields).toMatchObject({ acs: true, "ACSCap.SrcValid": true, "ACSCtl.TransBlk": false, acsIsolates: true, class: "PCI bridge", vendorId: "8086", deviceId: "a290" });
    expect(r.records[1]!.fields.modules).toBe("ixgbe");
    expect(r.records[1]!.endLine).toBe(8);
    expect(detectKind(read("lspci-nnk.txt"))).toBe("lspci");
  });
});

describe("QEMU command lines", () => {
  it("reads -m, -machine, -name, vfio-pci hosts (classic and JSON) and the vIOMMU across continuations", () => {
    const r = parseQemuCommandLine(read("qemu-cmdline.txt"));
    const f = r.records.map((x) => [x.line, x.fields]);
    expect(f).toEqual([
      [1, { source: "qemu", name: "router" }],
      [2, { source: "qemu", machine: "q35", kernelIrqchip: "split" }],
      [3, { source: "qemu", memory: String(8n << 30n) }],
      [4, { source: "qemu", viommu: "intel", cachingMode: true, intremap: "on", awBits: 48, deviceIotlb: false }],
      [5, { source: "qemu", hostdev: "03:00.0", id: "hostdev0" }],
      [6, { source: "qemu", hostdev: "03:00.1", id: "hostdev1" }],
    ]);
    expect(detectKind(read("qemu-cmdline.txt"))).toBe("qemu");
    expect(qemuSize("4096")).toBe(4096n << 20n);
    expect(qemuSize("2G")).toBe(2n << 30n);
  });
});

describe("libvirt XML", () => {
  it("reads name, memory with its unit, hostdev addresses, the iommu driver attributes, ioapic, memtune", () => {
    const r = parseLibvirtXml(read("domain.xml"));
    const by = (k: string) => r.records.find((x) => k in x.fields)!;
    expect(by("name").fields.name).toBe("router");
    expect(by("memory").fields.memory).toBe(String(8n << 30n));
    expect(by("memory").line).toBe(2);
    expect(by("hostdev").fields).toMatchObject({ hostdev: "03:00.0", managed: true });
    expect(by("hostdev").line).toBe(16);
    expect(by("viommu").fields).toMatchObject({ viommu: "intel", cachingMode: true, intremap: "on", awBits: 48, deviceIotlb: true });
    expect(by("ioapic").fields.ioapic).toBe("qemu");
    expect(by("memlock").fields.memlock).toBe(String(10n << 30n));
    expect(r.skipped).toEqual([]);
    expect(detectKind(read("domain.xml"))).toBe("libvirt");
  });
  it("reports broken XML with its line instead of throwing", () => {
    const r = parseLibvirtXml("<domain>\n  <name>x</name>\n  <devices>\n</domain>\n");
    expect(r.skipped).toEqual([{ line: 3, endLine: 3, reason: "XML error: </domain> closes <devices>" }]);
    fc.assert(fc.property(fc.string({ maxLength: 500 }), (s) => {
      readXml(s);
      parseLibvirtXml(s);
      parseQemuCommandLine(s);
      parseLspci(s);
    }), { numRuns: 300 });
  });
});

describe("a scenario from configs, listings and logs", () => {
  it("uses the VM's name and devices, keeps the host driver of the unassigned function, and reproduces the fault", () => {
    const records = [...importText(read("lspci-nnk.txt")).records, ...importText(read("domain.xml")).records, ...parseLog("[  5.0] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x7c346000 [fault reason 0x05] PTE Write access is not set").records];
    const s = synthesizeScenario(records, "router");
    expect(s.text).toContain("  - name: router");
    expect(s.text).toContain("    memory: 4096MiB");
    expect(s.text).toMatch(/bdf: "03:00.1".*driver: ixgbe/);
    const parsed = parseScenario(s.text, "x.passthrough.yaml");
    expect(parsed.diagnostics.filter((d) => d.severity === "error"), s.text).toEqual([]);
    const run = runScenario(parsed.scenario!).run!;
    expect(run.failedExpectations.map((o) => o.summary), s.text).toEqual([]);
    expect(run.outcomes.at(-1)!.fault).toBe(0x05);
  });
});
