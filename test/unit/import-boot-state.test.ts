/**
 * "Is the IOMMU even on?": the boot lines, each decoded, and the one status they add up to. The
 * lines are the kernel's format strings (cited in src/import/bootState.ts) with the usual dmesg
 * prefixes around them.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { explainRecords, importText, iommuStatus } from "../../src/import/index.js";
import { recordToJson } from "../../src/import/json.js";

const INTEL_PT = [
  "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.8.0-45-generic root=UUID=1234 ro quiet splash intel_iommu=on iommu=pt vfio-pci.ids=10de:1b80,10de:10f0",
  "[    0.012345] DMAR: IOMMU enabled",
  "[    0.045678] DMAR: Host address width 39",
  "[    0.045679] DMAR: DRHD base: 0x000000fed90000 flags: 0x0",
  "[    0.101010] DMAR-IR: Enabled IRQ remapping in x2apic mode",
  "[    0.350000] iommu: Default domain type: Passthrough (set via kernel command line)",
  "[    0.812000] DMAR: Intel(R) Virtualization Technology for Directed I/O",
].join("\n");

describe("IOMMU boot state", () => {
  it("decodes each boot line and answers: translation on, pass-through host domains, x2apic interrupt remapping", () => {
    const r = importText(INTEL_PT);
    expect(r.kind).toBe("log");
    const boot = r.records.filter((x) => x.kind === "boot-state");
    expect(boot.map((x) => [x.line, x.fields.fact])).toEqual([
      [0, "cmdline"],
      [1, "vtd-on"],
      [2, "haw"],
      [3, "drhd"],
      [4, "ir-on"],
      [5, "default-domain"],
      [6, "vtd-initialized"],
    ]);
    expect(boot[0]!.fields.params).toBe("intel_iommu=on iommu=pt vfio-pci.ids=10de:1b80,10de:10f0");
    expect(boot[0]!.column).toBe(15);
    const s = iommuStatus(r.records)!;
    expect(s).toMatchObject({ translation: "on", vendor: "intel", defaultDomain: "Passthrough", interruptRemapping: "on", interruptMode: "x2apic", blockers: [] });
    const ex = explainRecords(r.records);
    expect(ex[0]!.title).toBe("IOMMU status: DMA translation on (Intel VT-d; default domain Passthrough); interrupt remapping on (x2apic)");
    expect(ex[0]!.evidence).toContain("line 5: VT-d interrupt remapping on (x2apic mode)");
    // The boot-state lines are no longer skipped.
    expect(r.skipped.flatMap((s) => Array.from({ length: s.endLine - s.line + 1 }, (_, k) => s.line + k)).filter((l) => boot.some((b) => b.line === l))).toEqual([]);
    expect(recordToJson(boot[5]!, "dmesg.txt")).toMatchObject({ source: "kernel", type: "boot-default-domain", line: 6, domainType: "Passthrough", fromCmdline: true });
  });

  it("intel_iommu=off and no interrupt remapping are named as what blocks passthrough, with the fix", () => {
    const log = "Nov 25 10:00:00 host kernel: Command line: BOOT_IMAGE=/vmlinuz intel_iommu=off\nNov 25 10:00:00 host kernel: DMAR: IOMMU disabled\nNov 25 10:00:01 host kernel: DMAR-IR: Failed to enable irq remapping.  You are vulnerable to irq-injection attacks.";
    const s = iommuStatus(importText(log).records)!;
    expect(s.translation).toBe("off");
    expect(s.interruptRemapping).toBe("off");
    expect(s.blockers.join("\n")).toMatch(/intel_iommu=on/);
    expect(s.blockers.join("\n")).toMatch(/allow_unsafe_interrupts/);
  });

  it("an AMD host: the IOMMU found, interrupt remapping on, translated default domain", () => {
    const log = ["[    0.9] pci 0000:00:00.2: AMD-Vi: Found IOMMU at 0000:00:00.2 cap 0x40", "[    0.9] AMD-Vi: Interrupt remapping enabled", "[    0.9] AMD-Vi: X2APIC enabled", "[    0.4] iommu: Default domain type: Translated", "[    0.4] iommu: DMA domain TLB invalidation policy: lazy mode"].join("\n");
    const s = iommuStatus(importText(log).records)!;
    expect(s).toMatchObject({ translation: "on", vendor: "amd", defaultDomain: "Translated", interruptRemapping: "on", blockers: [] });
  });

  it("the units of a host: DRHD lines with INCLUDE_PCI_ALL, dmarN's register base, cap and ecap (also the old prefix-less form), AMD-Vi IOMMUs in both formats, sysfs links", () => {
    const log = [
      "[    0.045679] DMAR: DRHD base: 0x000000fed91000 flags: 0x1",
      "[    0.045680] DMAR: dmar1: reg_base_addr fed91000 ver 1:0 cap d2008c40660462 ecap f050da",
      "[    0.000000] IOMMU 0: reg_base_addr fbffe000 ver 1:0 cap d2078c106f0462 ecap f020fe",
      "[    0.9] pci 0000:40:00.2: AMD-Vi: Found IOMMU cap 0x40",
      "[    0.9] AMD-Vi: Found IOMMU at 0000:80:00.2 cap 0x40",
      "/sys/class/iommu/dmar1/devices/0000:00:14.0",
      "/sys/class/iommu/ivhd2/devices/0000:c1:00.0",
    ].join("\n");
    const boot = importText(log).records.filter((x) => x.kind === "boot-state");
    expect(boot.map((x) => x.fields)).toEqual([
      { fact: "drhd", vendor: "intel", base: "0xfed91000", includeAll: true },
      { fact: "vtd-unit", vendor: "intel", unit: "dmar1", base: "0xfed91000", cap: "0xd2008c40660462", ecap: "0xf050da" },
      { fact: "vtd-unit", vendor: "intel", unit: "dmar0", base: "0xfbffe000", cap: "0xd2078c106f0462", ecap: "0xf020fe" },
      { fact: "amdvi-found", vendor: "amd", device: "0000:40:00.2", cap: "0x40" },
      { fact: "amdvi-found", vendor: "amd", device: "0000:80:00.2", cap: "0x40" },
      { fact: "unit-device", vendor: "intel", unit: "dmar1", device: "0000:00:14.0" },
      { fact: "unit-device", vendor: "amd", unit: "ivhd2", device: "0000:c1:00.0" },
    ]);
    expect(boot[0]!.summary).toBe("VT-d DRHD at 0x000000fed91000 (INCLUDE_PCI_ALL: every device no other DRHD lists)");
    // A device linked under a unit is translated: the status says translation is on.
    expect(iommuStatus(importText("/sys/class/iommu/dmar0/devices/0000:00:02.0").records)).toMatchObject({ translation: "on", vendor: "intel" });
  });

  it("a log without any boot line has no status; a fault log keeps its faults first", () => {
    const fault = "[  812.001010] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x7c346000 [fault reason 0x05] PTE Write access is not set";
    expect(iommuStatus(importText(fault).records)).toBeUndefined();
    const both = importText(`${INTEL_PT}\n${fault}`);
    expect(explainRecords(both.records).map((e) => e.title.split(":")[0])).toEqual(["IOMMU status", expect.stringMatching(/^VT-d write fault 0x05/)]);
  });

  it("property: the status facts of a log do not depend on prefixes or on unrelated lines around them", () => {
    const prefix = fc.constantFrom("", "[    1.234567] ", "Nov 25 10:00:00 host kernel: ", "kern  :info  : [Mon Nov 25 10:00:00 2026] ");
    const noise = fc.array(fc.constantFrom("usb 1-1: new high-speed USB device number 2 using xhci_hcd", "random text", "", "e1000e 0000:00:1f.6 eth0: NIC Link is Up"), { maxLength: 4 });
    const lines = INTEL_PT.split("\n").map((l) => l.replace(/^\[[^\]]*\] /, ""));
    fc.assert(
      fc.property(fc.array(fc.tuple(prefix, noise), { minLength: lines.length, maxLength: lines.length }), (decor) => {
        const text = lines.flatMap((l, k) => [...decor[k]![1], decor[k]![0] + l]).join("\n");
        const s = iommuStatus(importText(text).records)!;
        expect({ ...s, facts: s.facts.length }).toEqual({ translation: "on", vendor: "intel", defaultDomain: "Passthrough", interruptRemapping: "on", interruptMode: "x2apic", blockers: [], facts: 7 });
      }),
      { numRuns: 150 },
    );
  });
});
