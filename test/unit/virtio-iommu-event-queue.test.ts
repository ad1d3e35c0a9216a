// virtio-iommu's event queue: QEMU reports faults (virtio_iommu_report_fault, VIRTIO_IOMMU_T_FAULT)
// only from virtio_iommu_translate, i.e. for devices it emulates; an assigned device's fault is the
// host IOMMU's. The guest's driver prints each fault as viommu_fault_handler does
// (drivers/iommu/virtio-iommu.c: "%s fault from EP %u at %#llx [%s%s%s]").
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import { runSmmuScenario } from "./smmuv3-helpers.js";
import { VirtioIommu, virtioFaultLine, VIRTIO_IOMMU_FAULT_F_ADDRESS, VIRTIO_IOMMU_FAULT_F_EXEC, VIRTIO_IOMMU_FAULT_F_READ, VIRTIO_IOMMU_FAULT_F_WRITE } from "../../src/sim/viommu.js";

const FILE = "examples/virtio-iommu-event-queue.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

/** The example's host is an SMMUv3 one: the SMMUv3 helper runs it. */
const run = (text: string) => runSmmuScenario(text, FILE);
const lines = (m: Machine, source: "guest" | "vmm") => m.log.lines.filter((l) => l.source === source).map((l) => l.text.replace(/^qemu-system-[^:]+: /, ""));

describe("virtio-iommu's event queue", () => {
  it("the example passes; the guest prints one line per fault, QEMU one per error_report_once site", () => {
    const { m, outs } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual(Array(8).fill(true));
    expect(lines(m, "guest")).toEqual([
      "virtio_iommu virtio0: page fault from EP 16 at 0x20000 [W]",
      "virtio_iommu virtio0: page fault from EP 16 at 0x200000 []",
      "virtio_iommu virtio0: domain fault from EP 16 at 0x100000 []",
      "virtio_iommu virtio0: unknown fault from EP 24 at 0x100000 []",
    ]);
    expect(lines(m, "vmm")).toEqual([
      "virtio_iommu_translate permission error on 0x20000(2): allowed=1",
      "virtio_iommu_translate no mapping for 0x200000 for sid=16",
      "virtio_iommu_translate 00:02.0 not attached to any domain",
      "virtio_iommu_translate sid=24 is not known!!",
    ]);
  });

  it("an assigned device's fault is the host SMMU's: printed in the host's dmesg, nothing on the guest's event queue, and the step says so", () => {
    const { m, outs } = run(example);
    const dma = outs[3]!;
    expect(dma.fault).toBe(0x10);
    expect(dma.summary).toContain("QEMU's virtio-iommu is not told (an assigned device's DMA does not go through virtio_iommu_translate): nothing reaches arm01's event queue");
    const guestAtDma = m.log.lines.slice(dma.logStart, dma.logEnd).filter((l) => l.source === "guest");
    expect(guestAtDma).toEqual([]);
    expect(m.log.lines.slice(dma.logStart, dma.logEnd).some((l) => l.source === "kernel" && l.text.includes("event: F_TRANSLATION client: 0000:01:00.0"))).toBe(true);
  });

  it("a read of a write-only mapping: R_MAPPING with READ; a read+write spanning pages faults per page; QEMU's line once per site, the guest's per fault", () => {
    const text = example.replace(/  # The assigned NIC writes[\s\S]*$/, "") +
      `  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x3_0000, size: 4KiB, perm: w, gpa: 0x4020_0000 }\n` +
      `  - emulated-dma: { vm: arm01, bdf: "00:02.0", iova: 0x3_0000, length: 4KiB }\n` +
      `  - emulated-dma: { vm: arm01, bdf: "00:02.0", iova: 0x1f_f000, length: 12KiB, write: true }\n`;
    const { m, outs } = run(text);
    expect(outs.at(-2)!.fault).toBe(2);
    // 0x1f_f000 (no mapping), 0x20_0000, 0x20_1000: three accesses, three faults; the no-mapping site prints once.
    expect([outs.at(-1)!.transactions, outs.at(-1)!.faults]).toEqual([3, 3]);
    expect(lines(m, "guest")).toEqual([
      "virtio_iommu virtio0: page fault from EP 16 at 0x30000 [R]",
      "virtio_iommu virtio0: page fault from EP 16 at 0x1ff000 []",
      "virtio_iommu virtio0: page fault from EP 16 at 0x200000 []",
      "virtio_iommu virtio0: page fault from EP 16 at 0x201000 []",
    ]);
    expect(lines(m, "vmm")).toEqual(["virtio_iommu_translate permission error on 0x30000(1): allowed=2", "virtio_iommu_translate no mapping for 0x1ff000 for sid=16"]);
  });

  it("the guest's dev_err_ratelimited: 16 faults in one burst print 10 lines", () => {
    const text = example.replace(/  # The assigned NIC writes[\s\S]*$/, "") + `  - emulated-dma: { vm: arm01, bdf: "00:02.0", iova: 0x40_0000, length: 64KiB }\n`;
    const { m, outs } = run(text);
    expect(outs.at(-1)!.faults).toBe(16);
    expect(lines(m, "guest")).toHaveLength(10);
  });

  it("a bypass domain passes the emulated device's DMA untranslated; q35's MSI region passes; the x86 machine is q35", () => {
    const v = new VirtioIommu({ model: "virtio-iommu", bypass: true } as never, "virt");
    expect(v.translateEmulated(16, 0x1234_5000n, true, "attached")).toEqual({ gpa: 0x1234_5000n });
    const q = new VirtioIommu({ model: "virtio-iommu" } as never, "q35");
    expect(q.translateEmulated(16, 0xfee0_0000n, true, "attached")).toEqual({ gpa: 0xfee0_0000n });
    expect("fault" in q.translateEmulated(16, 0xfee0_0000n, true, "unknown")).toBe(true);
  });

  it("validation: emulated-dma needs a virtio-iommu VM and a BB:DD.F bdf", () => {
    const errs = (t: string) => parseScenario(t, FILE).diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errs(example.replace("viommu: { model: virtio-iommu, granule: 4k }", "viommu: { model: intel, caching-mode: true }").replace(/  - guest-map[^\n]*\n    expect: ok\n/g, ""))).toContain("emulated-dma goes through QEMU's virtio-iommu, and VM arm01 has none");
    expect(errs(example.replace('bdf: "00:03.0"', 'bdf: "zz"'))).toEqual(["bdf is the emulated device's guest PCI address, BB:DD.F"]);
  });

  it("property: the guest's line has the reason word, the endpoint, 0x + hex address and R/W/X in that order exactly when the flags say so", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0x1ff }), fc.integer({ min: 0, max: 0xffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (reason, flags, ep, addr) => {
        const l = virtioFaultLine({ reason, flags, endpoint: ep, address: addr });
        const word = reason === 1 ? "domain" : reason === 2 ? "page" : "unknown";
        if ((flags & VIRTIO_IOMMU_FAULT_F_ADDRESS) === 0) return l === `virtio_iommu virtio0: ${word} fault from EP ${ep}`;
        const rwx = `${flags & VIRTIO_IOMMU_FAULT_F_READ ? "R" : ""}${flags & VIRTIO_IOMMU_FAULT_F_WRITE ? "W" : ""}${flags & VIRTIO_IOMMU_FAULT_F_EXEC ? "X" : ""}`;
        return l === `virtio_iommu virtio0: ${word} fault from EP ${ep} at 0x${addr.toString(16)} [${rwx}]`;
      }),
    );
  });
});
