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
      [2, { source: "qemu", machine: "q35", kernelIrqchip: "split", accel: "kvm" }],
      [3, { source: "qemu", memory: String(8n << 30n) }],
      [4, { source: "qemu", viommu: "intel", cachingMode: true, intremap: "on", awBits: 48, deviceIotlb: false }],
      [5, { source: "qemu", hostdev: "03:00.0", id: "hostdev0" }],
      [6, { source: "qemu", hostdev: "03:00.1", id: "hostdev1", bus: "pci.2" }],
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
    expect(s.text).toContain('  - name: "router"');
    expect(s.text).toContain("    memory: 4096MiB");
    expect(s.text).toMatch(/bdf: "03:00.1".*driver: "ixgbe"/);
    const parsed = parseScenario(s.text, "x.passthrough.yaml");
    expect(parsed.diagnostics.filter((d) => d.severity === "error"), s.text).toEqual([]);
    const run = runScenario(parsed.scenario!).run!;
    expect(run.failedExpectations.map((o) => o.summary), s.text).toEqual([]);
    expect(run.outcomes.at(-1)!.fault).toBe(0x05);
  });
});

describe("QEMU error lines are log records, not command lines", () => {
  it("a libvirtd journal line and a bare QEMU error are logs; a real command line is qemu", () => {
    const journal = "Nov 25 10:00:00 host libvirtd[1234]: internal error: qemu unexpectedly closed the monitor: 2026-11-25T10:00:00.123456Z qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0,id=hostdev0,bus=pci.0,addr=0x5: vfio 0000:01:00.0: group 14 is not viable\nNov 25 10:00:01 host kernel: DMAR: [DMA Read NO_PASID] Request device [01:00.0] fault addr 0x7c346000 [fault reason 0x06] PTE Read access is not set";
    expect(detectKind(journal)).toBe("log");
    expect(importText(journal).records.map((r) => r.kind)).toEqual(["vfio-message", "dmar-fault"]);
    const bare = "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: group 14 is not viable\nPlease ensure all devices within the iommu_group are bound to their vfio bus driver.";
    expect(detectKind(bare)).toBe("log");
    expect(importText(bare).records[0]!.fields).toMatchObject({ problem: "group-not-viable", group: 14, device: "01:00.0", program: "qemu-system-x86_64" });
    expect(detectKind("$ sudo qemu-system-aarch64 -M virt,iommu=smmuv3 -m 8G \\\n    -device vfio-pci,host=0002:01:00.0")).toBe("qemu");
  });
  it("a libvirt qemu log: the command line is the VM, QEMU's errors after it are records", () => {
    const text = [
      "2026-11-25 10:00:00.123+0000: starting up libvirt version: 9.0.0, qemu version: 8.2.0, kernel: 6.8.0-45-generic, hostname: host",
      "LC_ALL=C \\",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin \\",
      "/usr/bin/qemu-system-x86_64 \\",
      "-name guest=win10,debug-threads=on \\",
      "-machine pc-q35-8.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram,hpet=off,acpi=on \\",
      "-m size=16777216k \\",
      "-device '{\"driver\":\"vfio-pci\",\"host\":\"0000:01:00.0\",\"id\":\"hostdev0\",\"bus\":\"pci.5\",\"addr\":\"0x0\"}' \\",
      "-msg timestamp=on",
      "2026-11-25T10:00:01.123456Z qemu-system-x86_64: -device {\"driver\":\"vfio-pci\",\"host\":\"0000:01:00.0\",\"id\":\"hostdev0\",\"bus\":\"pci.5\",\"addr\":\"0x0\"}: vfio 0000:01:00.0: group 14 is not viable",
      "Please ensure all devices within the iommu_group are bound to their vfio bus driver.",
      "2026-11-25 10:00:01.234+0000: shutting down, reason=failed",
    ].join("\n");
    expect(detectKind(text)).toBe("qemu");
    const r = importText(text);
    expect(r.records.map((x) => [x.line, x.kind, x.fields.hostdev ?? x.fields.problem ?? x.fields.name ?? x.fields.machine ?? x.fields.memory])).toEqual([
      [4, "vm-config", "win10"],
      [5, "vm-config", "pc-q35-8.2"],
      [6, "vm-config", String(16n << 30n)],
      [7, "vm-config", "01:00.0"],
      [9, "vfio-message", "group-not-viable"],
    ]);
    expect(r.records[4]!.context.map((c) => c.line)).toEqual([10]);
    expect(r.skipped.map((s) => s.line)).toEqual([0, 11]);
  });
});

describe("configuration details", () => {
  it("keeps the PCI segment of a libvirt hostdev", () => {
    const r = parseLibvirtXml("<domain type='kvm'>\n  <devices>\n    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source>\n        <address domain='0x0001' bus='0x02' slot='0x00' function='0x1'/>\n      </source>\n    </hostdev>\n  </devices>\n</domain>");
    expect(r.records.map((x) => x.fields.hostdev)).toEqual(["0001:02:00.1"]);
  });
  it("reads sysfsdev=, -device arm-smmuv3, and keeps every vIOMMU", () => {
    const r = parseQemuCommandLine("qemu-system-aarch64 -M virt,iommu=smmuv3,gic-version=3 -m 8G \\\n  -device virtio-iommu-pci \\\n  -device arm-smmuv3,primary-bus=pcie.0,id=smmuv3.1 \\\n  -device vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:03:00.0 \\\n  -device vfio-pci,sysfsdev=/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
    expect(r.records.map((x) => x.fields.viommu ?? x.fields.hostdev).filter(Boolean)).toEqual(["smmuv3", "virtio", "smmuv3", "03:00.0"]);
    expect(r.skipped).toEqual([{ line: 4, endLine: 4, reason: expect.stringMatching(/names no PCI address/) as unknown }]);
  });
  it("detects plain lspci -k and -vvv (no -nn)", () => {
    const k = "01:00.0 VGA compatible controller: NVIDIA Corporation GP104 [GeForce GTX 1070] (rev a1)\n\tKernel driver in use: vfio-pci\n\tKernel modules: nouveau\n01:00.1 Audio device: NVIDIA Corporation GP104 High Definition Audio Controller (rev a1)";
    expect(detectKind(k)).toBe("lspci");
    expect(parseLspci(k).records.map((x) => [x.fields.device, x.fields.class, x.fields.driver])).toEqual([["01:00.0", "VGA compatible controller", "vfio-pci"], ["01:00.1", "Audio device", undefined]]);
    const v = "00:1c.0 PCI bridge: Intel Corporation 200 Series PCH PCI Express Root Port #1 (rev f0) (prog-if 00 [Normal decode])\n\tFlags: bus master, fast devsel, latency 0, IRQ 122, IOMMU group 7\n\tCapabilities: [140 v1] Access Control Services\n\t\tACSCap:\tSrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-\n\t\tACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans-";
    expect(detectKind(v)).toBe("lspci");
    expect(parseLspci(v).records[0]!.fields).toMatchObject({ group: 7, acsIsolates: true });
  });
});
