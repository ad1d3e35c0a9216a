/**
 * Back out: every VM of every example exported as a QEMU command line and as libvirt XML, and
 * imported again, gives the same VM facts (name, memory, hostdevs, vIOMMU and its caching mode,
 * the memlock limit).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { importText, type EvidenceRecord } from "../../src/import/index.js";
import { configToJson } from "../../src/import/json.js";
import { toLibvirtXml, toQemuCommandLine } from "../../src/import/vmExport.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";

const examples = join(__dirname, "..", "..", "examples");

/** The VM facts of imported configuration records, as the documented --json has them. */
function facts(records: EvidenceRecord[]) {
  const vm = (configToJson(records, [], "x") as { vm: Record<string, unknown> }).vm;
  return {
    name: vm.name,
    memory: vm.memory,
    hostdevs: (vm.hostdevs as { bdf: string }[]).map((h) => h.bdf),
    viommus: ((vm.viommus ?? []) as { model: string; cachingMode?: boolean }[]).map((v) => `${v.model}:${v.cachingMode === true}`),
    memlock: vm.memlock,
  };
}

function expected(s: Scenario, k: number) {
  const vm = s.vms[k]!;
  return {
    name: vm.name,
    memory: Number(vm.memory),
    hostdevs: vm.devices.map((d) => (d.length === 7 ? `0000:${d}` : d)),
    // The importers name virtio-iommu "virtio" (libvirt's <iommu model='virtio'/>); it has no caching mode (the QEMU importer leaves it unset, libvirt's false).
    viommus: vm.viommu ? [vm.viommu.model === "virtio-iommu" ? "virtio:false" : `intel:${vm.viommu.cachingMode}`] : [],
    memlock: s.host.memlock === undefined ? undefined : Number(s.host.memlock),
  };
}

describe("export to QEMU and libvirt", () => {
  // Examples with VMs (smmuv3-real-event is a host driver's DMA: nothing to export).
  const files = readdirSync(examples).filter((f) => f.endsWith(".passthrough.yaml") && /\nvms:\n/.test(readFileSync(join(examples, f), "utf8")));
  it.each(files)("%s: each VM round-trips through both formats", (file) => {
    const s = parseScenario(readFileSync(join(examples, file), "utf8"), file).scenario!;
    expect(s.vms.length).toBeGreaterThan(0);
    s.vms.forEach((vm, k) => {
      const q = importText(toQemuCommandLine(s, vm.name));
      expect(q.kind).toBe("qemu");
      expect(q.skipped).toEqual([]);
      expect(facts(q.records)).toEqual(expected(s, k));
      const x = importText(toLibvirtXml(s, vm.name));
      expect(x.kind).toBe("libvirt");
      expect(x.skipped).toEqual([]);
      expect(facts(x.records)).toEqual(expected(s, k));
    });
  });

  it("an iommufd VM gets -object iommufd and vfio-pci,iommufd= on each device", () => {
    const s = parseScenario(readFileSync(join(examples, "iommufd-map-failure.passthrough.yaml"), "utf8"), "x").scenario!;
    const q = toQemuCommandLine(s, "vm1");
    expect(q).toContain("  -object iommufd,id=iommufd0 \\\n  -device vfio-pci,host=0000:01:00.0,id=hostdev0,iommufd=iommufd0 \\\n");
    const typeOne = toQemuCommandLine({ ...s, vms: s.vms.map((v) => ({ ...v, backend: "type1" as const })) }, "vm1");
    expect(typeOne).not.toContain("iommufd");
  });

  it("the QEMU line puts intel-iommu before the devices and uses the split irqchip interrupt remapping needs", () => {
    const s = parseScenario(readFileSync(join(examples, "viommu-no-caching-mode.passthrough.yaml"), "utf8"), "v.yaml").scenario!;
    const q = toQemuCommandLine(s);
    expect(q).toMatch(/-machine q35,accel=kvm,kernel-irqchip=split/);
    expect(q.indexOf("intel-iommu")).toBeLessThan(q.indexOf("vfio-pci"));
    expect(toLibvirtXml(s)).toContain("<ioapic driver='qemu'/>");
  });

  it("a virtio-iommu VM exports as -device virtio-iommu-pci with its granule and aw-bits, and <iommu model='virtio'/>", () => {
    const s = parseScenario(readFileSync(join(examples, "virtio-iommu-arm.passthrough.yaml"), "utf8"), "v.yaml").scenario!;
    const q = toQemuCommandLine({ ...s, vms: s.vms.map((v) => ({ ...v, viommu: { ...v.viommu!, awBits: 48 } })) });
    expect(q).toContain("-device virtio-iommu-pci,granule=4k,aw-bits=48 \\\n");
    expect(q).not.toContain("intel-iommu");
    expect(q).not.toContain("kernel-irqchip=split");
    expect(toLibvirtXml(s)).toContain("    <iommu model='virtio'/>\n");
  });

  it("property: names with shell, XML and QEMU metacharacters survive both round trips", () => {
    const base = parseScenario(readFileSync(join(examples, "healthy-nic.passthrough.yaml"), "utf8"), "h.yaml").scenario!;
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9 ,'"&<>$;._-]{0,30}[A-Za-z0-9])?$/), (name) => {
        const s: Scenario = { ...base, vms: [{ ...base.vms[0]!, name }] };
        expect(facts(importText(toQemuCommandLine(s)).records).name).toBe(name);
        expect(facts(importText(toLibvirtXml(s)).records).name).toBe(name);
      }),
      { numRuns: 200 },
    );
  });
});
