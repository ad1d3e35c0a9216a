/**
 * VM configurations with every option a user sets. Attribute names follow libvirt's
 * formatdomain documentation (hostdev: managed, <driver name>, <alias name>, <rom bar file>,
 * <address> type/domain/bus/slot/function/multifunction, <boot order>; <vcpu placement>;
 * <iommu model> <driver intremap caching_mode eim iotlb aw_bits dma_translation>) and QEMU's
 * property names (hw/i386/intel_iommu.c vtd_properties, hw/i386/amd_iommu.c amdvi_properties,
 * hw/vfio/pci.c vfio_pci_dev_properties, -smp and -machine kernel_irqchip in qemu-options.hx).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { detectKind, importText, parseLibvirtXml, parseQemuCommandLine } from "../../src/import/index.js";
import { configToJson } from "../../src/import/json.js";

const DOMAIN = `<domain type='kvm'>
  <name>win11</name>
  <memory unit='GiB'>16</memory>
  <vcpu placement='static'>8</vcpu>
  <features>
    <ioapic driver='qemu'/>
  </features>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source>
        <address domain='0x0000' bus='0x0a' slot='0x00' function='0x0'/>
      </source>
      <alias name='hostdev0'/>
      <rom bar='on' file='/var/lib/libvirt/vbios/navi21.rom'/>
      <boot order='1'/>
      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0' multifunction='on'/>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source>
        <address domain='0x0000' bus='0x0a' slot='0x00' function='0x1'/>
      </source>
    </hostdev>
    <iommu model='intel'>
      <driver intremap='on' caching_mode='on' eim='on' iotlb='on' aw_bits='48' dma_translation='off'/>
    </iommu>
  </devices>
</domain>`;

describe("libvirt: every hostdev and iommu option", () => {
  it("reads managed, driver, alias, rom, boot order and the guest address of each hostdev", () => {
    const r = parseLibvirtXml(DOMAIN);
    const devs = r.records.filter((x) => x.fields.hostdev !== undefined).map((x) => x.fields);
    expect(devs[0]).toEqual({ source: "libvirt", hostdev: "0a:00.0", managed: true, driver: "vfio", alias: "hostdev0", rombar: "on", romfile: "/var/lib/libvirt/vbios/navi21.rom", bootOrder: 1, guestAddressType: "pci", guestAddress: "0000:06:00.0", multifunction: true });
    expect(devs[1]).toEqual({ source: "libvirt", hostdev: "0a:00.1", managed: false });
    expect(r.records.find((x) => x.fields.vcpus !== undefined)!.fields).toMatchObject({ vcpus: 8, placement: "static" });
    expect(r.records.find((x) => x.fields.viommu !== undefined)!.fields).toMatchObject({ viommu: "intel", cachingMode: true, intremap: "on", eim: true, deviceIotlb: true, awBits: 48, dmaTranslation: false });
  });

  it("--json: each hostdev and each vIOMMU is an object with its options", () => {
    const r = parseLibvirtXml(DOMAIN);
    const j = configToJson(r.records, r.skipped, "win11.xml") as { vm: Record<string, unknown> };
    expect(j.vm.hostdevs).toEqual([
      { bdf: "0000:0a:00.0", line: 12, managed: true, alias: "hostdev0", driver: "vfio", rombar: "on", romfile: "/var/lib/libvirt/vbios/navi21.rom", bootOrder: 1, guestAddressType: "pci", guestAddress: "0000:06:00.0", multifunction: true },
      { bdf: "0000:0a:00.1", line: 21, managed: false, alias: null, driver: null },
    ]);
    expect(j.vm.viommus).toEqual([{ model: "intel", line: 24, cachingMode: true, intremap: "on", awBits: 48, deviceIotlb: true, eim: true, dmaTranslation: false }]);
    expect(j.vm).toMatchObject({ name: "win11", memory: 16 * 2 ** 30, vcpus: 8, ioapic: "qemu", viommu: "intel" });
  });
});

describe("QEMU: options, fragments and scripts", () => {
  it("reads -smp in its forms, kernel_irqchip with an underscore, every intel-iommu switch and vfio-pci's own options", () => {
    const r = parseQemuCommandLine(
      "qemu-system-x86_64 -machine q35,accel=kvm,kernel_irqchip=split -smp sockets=1,cores=4,threads=2 \\\n" +
        "  -device intel-iommu,intremap=on,caching-mode=on,eim=on,device-iotlb=on,aw-bits=48,x-scalable-mode=on \\\n" +
        "  -device vfio-pci,host=0000:01:00.0,id=gpu,bus=root.1,addr=00.0,multifunction=on,x-vga=on,romfile=/tmp/gpu.rom",
    );
    const f = r.records.map((x) => x.fields);
    expect(f[0]).toMatchObject({ machine: "q35", kernelIrqchip: "split", accel: "kvm" });
    expect(f[1]).toMatchObject({ vcpus: 8, sockets: 1, cores: 4, threads: 2 });
    expect(f[2]).toMatchObject({ viommu: "intel", intremap: "on", cachingMode: true, eim: true, deviceIotlb: true, awBits: 48, scalableMode: true });
    expect(f[3]).toMatchObject({ hostdev: "01:00.0", id: "gpu", bus: "root.1", addr: "00.0", multifunction: true, vga: true, romfile: "/tmp/gpu.rom" });
    expect(parseQemuCommandLine("qemu-kvm -smp 6 -m 4G").records[0]!.fields.vcpus).toBe(6);
  });

  it("a fragment without the binary and a script with variables: the variables are resolved, an unset one is named", () => {
    const script = ["#!/bin/bash", 'GPU="0000:01:00.0"', "export AUDIO=0000:01:00.1", "OPTS=(", "  -device vfio-pci,host=$GPU,multifunction=on \\", "  -device vfio-pci,host=${AUDIO} \\", "  -device vfio-pci,host=$NIC", ")"].join("\n");
    expect(detectKind(script)).toBe("qemu");
    const r = importText(script);
    expect(r.records.map((x) => x.fields.hostdev)).toEqual(["01:00.0", "01:00.1"]);
    expect(r.skipped.find((s) => s.line === 6)?.reason).toBe("vfio-pci host=$NIC uses a shell variable the text does not set");
    const one = "-device vfio-pci,host=0000:65:00.0,id=nvme0";
    expect(detectKind(one)).toBe("qemu");
    expect(importText(one).records.map((x) => x.fields.hostdev)).toEqual(["65:00.0"]);
  });

  it("property: substituted and literal spellings of a command line give the same records", () => {
    const bdf = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 7 })).map(([b, d, f]) => `0000:${b.toString(16).padStart(2, "0")}:${d.toString(16).padStart(2, "0")}.${f}`);
    fc.assert(
      fc.property(fc.uniqueArray(bdf, { minLength: 1, maxLength: 5 }), fc.boolean(), (bdfs, braces) => {
        const literal = ["qemu-system-x86_64 -m 2G \\", ...bdfs.map((b, k) => `  -device vfio-pci,host=${b},id=hostdev${k} \\`), "  -nographic"].join("\n");
        const script = [...bdfs.map((b, k) => `DEV${k}=${b}`), "qemu-system-x86_64 -m 2G \\", ...bdfs.map((_, k) => `  -device vfio-pci,host=${braces ? `\${DEV${k}}` : `$DEV${k}`},id=hostdev${k} \\`), "  -nographic"].join("\n");
        const a = importText(literal).records.map((x) => x.fields);
        const b = importText(script).records.map((x) => x.fields);
        expect(b).toEqual(a);
      }),
      { numRuns: 100 },
    );
  });
});
