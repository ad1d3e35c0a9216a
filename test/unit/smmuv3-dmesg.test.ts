/**
 * Linux's arm-smmu-v3 event lines (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c,
 * arm_smmu_dump_event / arm_smmu_dump_raw_event) against real lines from public reports. Each
 * source is cited at its test; the printk timestamps and mail quoting are stripped, the tab after
 * the prefix of the raw-dword lines is the kernel's "\t0x%016llx" (mail archives show it expanded).
 */
import { describe, expect, test } from "vitest";
import { IOMMU_READ, IOMMU_WRITE } from "../../src/sim/smmuv3/driver.js";
import { renderEvent, smmuKernelEra } from "../../src/sim/smmuv3/dmesg.js";
import { bootedSmmu } from "./smmuv3-helpers.js";

/** Real lines as printed: "<prefix>:      0x..." in the archive is "<prefix>: \t0x..." in the log. */
function real(text: string): string[] {
  return text
    .trim()
    .split("\n")
    .map((l) => l.trim().replace(/^\[\s*\d+\.\d+\] /, "").replace(/: {2,}(0x[0-9a-f]{16})$/, ": \t$1"));
}

describe("arm-smmu-v3 event lines", () => {
  test("a simulated DMA reproduces Niklas Cassel's nvmet-pci-epf F_TRANSLATION byte for byte", () => {
    // Source: linux-pci, Niklas Cassel, reply on the dw_pcie_ep_raise_msix_irq() flush (quoted in
    // upstream commit c22533c66cca "PCI: dwc: ep: Flush MSI-X write before unmapping its ATU entry",
    // https://patch.msgid.link/20260211175540.105677-2-cassel@kernel.org). RK3588 SMMU fc900000.iommu,
    // endpoint 0000:01:00.0 = StreamID 0x100, a posted MSI-X write after its iATU entry was unmapped.
    const want = real(`
[  106.585811] arm-smmu-v3 fc900000.iommu: event 0x10 received:
[  106.586349] arm-smmu-v3 fc900000.iommu:      0x0000010000000010
[  106.586846] arm-smmu-v3 fc900000.iommu:      0x0000020000000000
[  106.587341] arm-smmu-v3 fc900000.iommu:      0x000000090000f040
[  106.587841] arm-smmu-v3 fc900000.iommu:      0x0000000000000000
[  106.588335] arm-smmu-v3 fc900000.iommu: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x90000f040 ipa: 0x0
[  106.589383] arm-smmu-v3 fc900000.iommu: unpriv data write s1 "Input address caused fault" stag: 0x0`);
    const { model, driver } = bootedSmmu({ name: "fc900000.iommu" });
    driver.addMaster(0x100, "0000:01:00.0");
    const d = driver.allocDomain();
    driver.attach(d, [0x100]);
    driver.map(d, 0x90000e000, 0x80000000, 0x1000, IOMMU_READ | IOMMU_WRITE);
    expect(model.translate({ sid: 0x100, iova: 0x90000f040n, write: true }).reason).toBe(0x10);
    expect(driver.serviceEvents()[0]!.lines).toEqual(want);
  });

  test("a privileged read (PnU = 1) on SID 0x11 renders as the r8169 report shows it", () => {
    // Source: linux-pci / LKML thread on an r8169 probe failure behind pcie@4c300000 with msi-map and
    // iommu-map (SMMU 490d0000.iommu), "With only msi-map removed, but smmu enabled". The report's
    // last line carries a console-interleaved " r8169 0000:03:00.0" after "stag: 0x0".
    const want = real(`
arm-smmu-v3 490d0000.iommu: event 0x10 received:
arm-smmu-v3 490d0000.iommu:      0x0000001100000010
arm-smmu-v3 490d0000.iommu:      0x0000020a00000000
arm-smmu-v3 490d0000.iommu:      0x000000009b0cc000
arm-smmu-v3 490d0000.iommu:      0x0000000000000000
arm-smmu-v3 490d0000.iommu: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x11 ssid: 0x0 iova: 0x9b0cc000 ipa: 0x0
arm-smmu-v3 490d0000.iommu: priv data read s1 "Input address caused fault" stag: 0x0`);
    const raw = [0x0000001100000010n, 0x0000020a00000000n, 0x000000009b0cc000n, 0n] as const;
    expect(renderEvent(raw, "490d0000.iommu", "0000:01:00.0")).toEqual(want);
    // The same record through the model: a privileged read of an unmapped IOVA from StreamID 0x11.
    const { model, driver } = bootedSmmu({ name: "490d0000.iommu" });
    driver.addMaster(0x11, "0000:01:00.0");
    driver.attach(driver.allocDomain(), [0x11]);
    model.translate({ sid: 0x11, iova: 0x9b0cc000n, write: false, privileged: true });
    expect(driver.serviceEvents()[0]!.lines).toEqual(want);
  });

  test("kernels before the decoded form print the raw dump only; an unowned StreamID is (unassigned sid)", () => {
    const raw = [0x0000010000000010n, 0x0000020000000000n, 0x000000090000f040n, 0n] as const;
    expect(renderEvent(raw, "arm-smmu-v3.0.auto", "0000:01:00.0", "4.x")).toHaveLength(5);
    expect(renderEvent(raw, "arm-smmu-v3.0.auto", undefined).at(-2)).toBe("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: (unassigned sid) sid: 0x100 ssid: 0x0 iova: 0x90000f040 ipa: 0x0");
    expect(smmuKernelEra("6.8.0-45-generic")).toBe("4.x");
    expect(smmuKernelEra("6.17.1-300.fc43.aarch64")).toBe("6.15");
  });

  test("the Kunpeng megaraid_sas paste: raw dump lines and the stage-1 write fault they decode to", () => {
    // Source: a public note on binding megaraid_sas (0000:87:00.0) to vfio-pci on Kunpeng, kernel
    // 6.17.1-300.fc43.aarch64: "arm-smmu-v3 arm-smmu-v3.4.auto: event 0x10 received:" with these dwords.
    const raw = [0x0000870000000010n, 0x0000020000000000n, 0x00000000272f7800n, 0x00000000272f7000n] as const;
    const lines = renderEvent(raw, "arm-smmu-v3.4.auto", "0000:87:00.0");
    expect(lines.slice(0, 5)).toEqual(real(`
arm-smmu-v3 arm-smmu-v3.4.auto: event 0x10 received:
arm-smmu-v3 arm-smmu-v3.4.auto:  0x0000870000000010
arm-smmu-v3 arm-smmu-v3.4.auto:  0x0000020000000000
arm-smmu-v3 arm-smmu-v3.4.auto:  0x00000000272f7800
arm-smmu-v3 arm-smmu-v3.4.auto:  0x00000000272f7000`).map((l) => l.replace(/: (0x[0-9a-f]{16})$/, ": \t$1")));
    expect(lines.slice(5)).toEqual([
      "arm-smmu-v3 arm-smmu-v3.4.auto: event: F_TRANSLATION client: 0000:87:00.0 sid: 0x8700 ssid: 0x0 iova: 0x272f7800 ipa: 0x272f7000",
      'arm-smmu-v3 arm-smmu-v3.4.auto: unpriv data write s1 "Input address caused fault" stag: 0x0',
    ]);
  });
});

describe("the simulator's SMMU lines read back by the importer (src/import)", () => {
  test("every event the model prints decodes to the record it wrote: event, StreamID, IOVA, direction, stage", async () => {
    const { parseLog } = await import("../../src/import/dmesg.js");
    const { decodeEvent, eventInfo } = await import("../../src/sim/smmuv3/spec.js");
    const { model, driver, d, mem } = (() => {
      const s = bootedSmmu();
      s.driver.addMaster(0x100, "0000:01:00.0");
      const dom = s.driver.allocDomain();
      s.driver.attach(dom, [0x100]);
      return { ...s, d: dom };
    })();
    driver.map(d, 0x10000000, 0x40000000, 0x2000, IOMMU_READ);
    model.translate({ sid: 0x100, iova: 0x10000000n, write: true }); // F_PERMISSION
    model.translate({ sid: 0x100, iova: 0x20000000n, write: false }); // F_TRANSLATION
    const at = model.locate({ sid: 0x100, structure: "pte", iova: 0x10001000n }) as number;
    mem.writeU64(at, mem.readU64(at)! & ~(1n << 10n));
    model.translate({ sid: 0x100, iova: 0x10001000n, write: false }); // F_ACCESS
    model.translate({ sid: 0x100, pasid: 3, iova: 0n, write: false }); // F_STREAM_DISABLED, SSV
    const events = driver.serviceEvents();
    const text = events.flatMap((e) => e.lines).join("\n");
    const recs = parseLog(text).records.filter((r) => r.kind === "smmuv3-event");
    expect(recs).toHaveLength(4);
    recs.forEach((r, i) => {
      const e = decodeEvent(events[i]!.raw);
      expect(r.fields).toMatchObject({ event: eventInfo(e.id).linux, sid: e.sid });
      if (e.id >= 0x10) expect(r.fields).toMatchObject({ iova: `0x${e.inputAddr.toString(16)}`, write: !e.read, stage: e.s2 ? "s2" : "s1" });
    });
  });
});
