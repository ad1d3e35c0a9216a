// VT-d Invalidation Time-out (FSTS.ITE): a Device-TLB invalidation to an ATS endpoint that never
// answers (host.iommu.ats responds: false). The unit's side (vtd/unit.ts invalidationTimedOut:
// ITE, IQERCD.ITESID, the queue stalled, the device keeps its entries) and Linux's
// (vtd/driver.ts invalidationTimeout: qi_check_fault's lines, the -EAGAIN restart).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { QI_ITE_RETRIES } from "../../src/sim/vtd/driver.js";
import { encodeDevIotlbDesc } from "../../src/sim/vtd/qi.js";
import { DMAR_FSTS_REG, DMAR_IQER_REG, FSTS_ITE } from "../../src/sim/vtd/regs.js";

function load(text: string): Scenario {
  const p = parseScenario(text, "t.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

const example = readFileSync(join(__dirname, "..", "..", "examples", "invalidation-timeout.passthrough.yaml"), "utf8");

function run(text: string) {
  const m = new Machine(load(text));
  const outs = m.scenario.workload.map((st) => m.runStep(st));
  const kernelOf = (i: number) => m.log.lines.slice(outs[i]!.logStart, outs[i]!.logEnd).filter((l) => l.source === "kernel").map((l) => l.text);
  return { m, outs, kernelOf };
}

describe("Invalidation Time-out (ITE)", () => {
  it("an unmap's Device-TLB invalidation to a silent device: qi_check_fault's lines per submission, the same descriptor resubmitted (dmar.c)", () => {
    const { outs, kernelOf } = run(example);
    const unmap = outs.findIndex((o, i) => i > 0 && o.summary.startsWith("unmapped"));
    const lines = kernelOf(unmap);
    const once = [
      "DMAR: VT-d detected Invalidation Time-out Error: SID 300",
      "DMAR: QI HEAD: Invalidation Wait qw0 = 0x100000025, qw1 = 0x10002000",
      "DMAR: QI PRIOR: Device-TLB Invalidation qw0 = 0x30000000003, qw1 = 0x4000007001",
      "DMAR: Invalidation Time-out Error (ITE) cleared",
    ];
    expect(lines.length).toBe(4 * (QI_ITE_RETRIES + 1));
    // HEAD is the wait right after the timed-out descriptor (its status write aborted), PRIOR the
    // Device-TLB descriptor (SID 0x300 in bits 47:32); each restart submits the same pair again.
    expect(lines).toEqual(Array.from({ length: QI_ITE_RETRIES + 1 }, () => once).flat());
  });

  it("the device keeps its translation (it never invalidated), so its DMA after the unmap still lands", () => {
    const { outs } = run(example);
    const dmaAfter = outs[4]!;
    expect(dmaAfter.status).toBe("ok");
    expect(dmaAfter.firstIotlb).toBe("device-tlb");
  });

  it("an answering device has no ITE: the same scenario with responds: true faults after the unmap", () => {
    const { outs, kernelOf } = run(example.replace('ats: [{ device: "03:00.0", responds: false }]', 'ats: [{ device: "03:00.0", responds: true }]').replace("expect: { ok: true, iotlb: device-tlb }", "expect: { fault: 0x05 }").replace("expect: { error: invalidation-queue-error }", "expect: ok"));
    expect(kernelOf(3)).toEqual([]);
    expect(outs[4]!.fault).toBe(0x05);
    expect(outs.every((o) => o.expect?.pass !== false)).toBe(true);
  });

  it("the unit: FSTS.ITE and IQERCD.ITESID [47:32] name the device; the driver clears ITE after each try; other devices' invalidations complete", () => {
    const { m } = run(example.split("  - unmap:")[0]!);
    const u = m.unit;
    const d = m.driver;
    // Already the VM start timed out: vfio's attach flushed the device's Device-TLB.
    expect(d.takeIteErrors().length).toBe(0); // serviceFaults printed them
    d.iteHung = false;
    expect(u.readReg32(DMAR_FSTS_REG) & FSTS_ITE).toBe(0);
    expect(d.submitRaw(encodeDevIotlbDesc(0x300, 0, 32, 0n, 0))).toBe(false);
    expect(d.iteHung).toBe(true);
    expect(d.takeIteErrors().length).toBe(QI_ITE_RETRIES + 1);
    // The driver cleared ITE each time; ITESID still names the device.
    expect(u.readReg32(DMAR_FSTS_REG) & FSTS_ITE).toBe(0);
    expect((u.readReg64(DMAR_IQER_REG) >> 32n) & 0xffffn).toBe(0x300n);
    // Another device's invalidation completes normally.
    d.iteHung = false;
    expect(d.submitRaw(encodeDevIotlbDesc(0x301, 0, 32, 0n, 0))).toBe(true);
    expect(d.iteHung).toBe(false);
  });

  it("host.iommu.ats responds: false is accepted on VT-d and still refused on SMMUv3", () => {
    expect(parseScenario(example, "x.passthrough.yaml").diagnostics.filter((x) => x.severity === "error")).toEqual([]);
    const smmu = `host:\n  iommu: { model: smmuv3, ats: [{ device: "03:00.0", responds: false }] }\n  pci:\n    - { bdf: "03:00.0", id: "15b3:1017", driver: vfio-pci }\n`;
    expect(parseScenario(smmu, "s.passthrough.yaml").diagnostics.some((x) => x.message.includes("responds: false is an AMD-Vi option"))).toBe(true);
  });
});

describe("Invalidation Time-out on a surprise-removed endpoint (ats present: false)", () => {
  const removed = (kernel: string) => example.replace('ats: [{ device: "03:00.0", responds: false }]', 'ats: [{ device: "03:00.0", present: false }]').replace('kernel: "6.8"', `kernel: "${kernel}"`);
  const ite = (lines: string[]) => lines.filter((l) => l.startsWith("DMAR: VT-d detected Invalidation Time-out Error")).length;

  it("v6.9 on (80a9b50c0b9e): qi_check_fault finds the ITESID device not present and gives up (-ETIMEDOUT) after one round of lines", () => {
    const { outs, kernelOf } = run(removed("6.9"));
    const unmap = outs.findIndex((o, i) => i > 0 && o.summary.startsWith("unmapped"));
    expect(kernelOf(unmap)).toEqual([
      "DMAR: VT-d detected Invalidation Time-out Error: SID 300",
      "DMAR: QI HEAD: Invalidation Wait qw0 = 0x100000025, qw1 = 0x10002000",
      "DMAR: QI PRIOR: Device-TLB Invalidation qw0 = 0x30000000003, qw1 = 0x4000007001",
      "DMAR: Invalidation Time-out Error (ITE) cleared",
    ]);
    const inv = outs.at(-1)!;
    expect(inv.summary).toMatch(/03:00\.0 is not present \(surprise removal\); qi_check_fault\(\) gives up with -ETIMEDOUT instead of submitting it again \(80a9b50c0b9e, v6\.9\)/);
    expect(ite(kernelOf(outs.length - 1))).toBe(1);
  });

  it("before v6.9 the absent device is retried like a hung one, and the step says the kernel does not check presence", () => {
    const { outs, kernelOf } = run(removed("6.8"));
    const unmap = outs.findIndex((o, i) => i > 0 && o.summary.startsWith("unmapped"));
    expect(ite(kernelOf(unmap))).toBe(QI_ITE_RETRIES + 1);
    expect(outs.at(-1)!.summary).toMatch(/submits it again for ever: this kernel does not check pci_device_is_present\(\) \(before 80a9b50c0b9e, v6\.9\), though the device is gone/);
  });

  it("before v5.13 qi_check_fault printed nothing for an ITE (no qi_dump_fault): the time-out is silent in dmesg", () => {
    const { outs, kernelOf } = run(example.replace('kernel: "6.8"', 'kernel: "5.10"'));
    const unmap = outs.findIndex((o, i) => i > 0 && o.summary.startsWith("unmapped"));
    expect(kernelOf(unmap)).toEqual([]);
  });
});
