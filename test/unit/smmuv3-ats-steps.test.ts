// PCIe ATS in SMMUv3 scenarios: host.iommu.ats (Linux enables ATS: STE.EATS = 0b01), a dma with
// `ats: true` (ATC miss -> Translation Request -> Translated requests from the ATC), CMD_ATC_INV on
// unmap (arm_smmu_atc_inv_domain) and the stale ATC a driver without it leaves: the device keeps
// writing the unmapped page, with no fault. The ATC is listed in Mapping Tables with the TLB.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import { EventKind, LEVEL_DEVICE_TLB } from "../../src/trace/trace.js";
import { rowResult } from "../../src/trace/rowDisplay.js";

const FILE = "examples/smmuv3-ats-stale-atc.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

function run(text: string) {
  const m = new Machine(parseScenario(text, FILE).scenario!);
  const outs = m.scenario.workload.map((s) => m.runStep(s));
  return { m, outs };
}

const dmaRows = (m: Machine, step: number) => {
  const [a, b] = m.trace.stepRange(step);
  return Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Dma);
};

describe("SMMUv3 ATS scenario steps", () => {
  it("the example: without CMD_ATC_INV the ATS write after the unmap reaches the old host page; the untranslated one faults", () => {
    const { m, outs } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true, true, true]);
    const first = outs[2]!.firstHpa!;
    expect(first).toBeGreaterThan(0n);
    expect(outs[6]!.status).not.toBe("error");
    expect(outs[6]!.faults).toBe(0);
    expect(outs[6]!.firstHpa).toBe(first);
    // The trace row of the stale write: no fault, the old page's address as its output.
    const [row] = dmaRows(m, 6);
    expect(row!.reason).toBe(0);
    expect(row!.b).toBe(first);
    // It is marked as every model marks a device-side cache's answer (VT-d Device-TLB, AMD-Vi device
    // IOTLB): level bit 7 over the ATC entry's 4 KiB leaf, "Device-TLB (ATS)" in the DMA Trace. The
    // Translation Request of step 3 (an ATC miss that walked) is not.
    expect(row!.level).toBe(LEVEL_DEVICE_TLB | 1);
    expect(rowResult(row!).text).toBe("Device-TLB (ATS)");
    expect(dmaRows(m, 2).map((r) => (r.level & LEVEL_DEVICE_TLB) !== 0)).toEqual([false]);
    // No CMD_ATC_INV (0x40) in the unmap's commands.
    const [a, b] = m.trace.stepRange(4);
    const ops = Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Invalidate).map((r) => Number(r.a & 0xffn));
    expect(ops).toContain(0x12);
    expect(ops).not.toContain(0x40);
  });

  it("with Linux's CMD_ATC_INV the ATC entry goes with the unmap: the ATS write asks again, gets no translation, and faults untranslated", () => {
    const { m, outs } = run(example.replace(", ats-invalidation: false", ""));
    const [a, b] = m.trace.stepRange(4);
    expect(Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Invalidate).map((r) => Number(r.a & 0xffn))).toContain(0x40);
    expect(outs[6]!.faults).toBe(1);
    expect(dmaRows(m, 6)[0]!.reason).toBe(0x10);
  });

  it("Mapping Tables lists the endpoint's ATC entry under Device-TLB while the device holds it; stale after an unmap without CMD_ATC_INV", () => {
    const text = example;
    const m = new Machine(parseScenario(text, FILE).scenario!);
    for (const s of m.scenario.workload.slice(0, 3)) m.runStep(s);
    // Under Device-TLB, the one node of a device-side cache in every model; not a TLB entry.
    expect(m.iommu.tables().iotlb.entries().some((n) => n.key.startsWith("atc-"))).toBe(false);
    const atc = m.iommu.tables().deviceTlb!.entries();
    expect(atc).toHaveLength(1);
    expect(atc[0]).toMatchObject({ sid: 0x100, iova: 0x1_0000_0000n, pageSize: 4096n, perm: 3, stale: false });
    // The unmap (step 5) without CMD_ATC_INV: the device keeps the entry, the tables no longer give it.
    for (const s of m.scenario.workload.slice(3, 5)) m.runStep(s);
    expect(m.iommu.tables().deviceTlb!.entries().map((e) => e.stale)).toEqual([true]);
  });

  it("a device Linux did not enable ATS for (EATS = 0b00): its Translation Request records F_BAD_ATS_TREQ (0x05)", () => {
    const { m, outs } = run(example.replace('ats: ["01:00.0"], ', ""));
    expect(outs[2]!.faults).toBe(1);
    expect(dmaRows(m, 2)[0]!.reason).toBe(0x05);
  });

  it("`ats` takes a boolean; host.iommu.ats a list of devices; bad values are errors at their place", () => {
    const bad = parseScenario(example.replace("write: true, ats: true }\n    expect: ok\n  # The", "write: true, ats: maybe }\n    expect: ok\n  # The"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(bad).toHaveLength(1);
    expect(bad[0]!.range.line).toBe(example.split("\n").findIndex((l, i) => i > 26 && l.includes("ats: true")));
    const badList = parseScenario(example.replace('ats: ["01:00.0"]', "ats: 3"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(badList.map((d) => d.message)).toEqual(["host.iommu.ats must be a list of devices"]);
  });
});

describe("host.iommu.ats on smmuv3", () => {
  it("responds: false (AMD-Vi's never-completing invalidation) is an error at the item, with a hint", () => {
    const e = parseScenario(example.replace('ats: ["01:00.0"]', 'ats: [{ device: "01:00.0", responds: false }]'), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(e.map((d) => [d.message, d.range.line])).toEqual([["responds: false is an AMD-Vi option (an ATS invalidation that never completes)", 13]]);
    expect(e[0]!.hint).toMatch(/ats-invalidation: false/);
  });

  it("invalidate: false per device (AMD-Vi's forgetful driver) is an error at the item; SMMUv3 says it with ats-invalidation", () => {
    const e = parseScenario(example.replace('ats: ["01:00.0"]', 'ats: [{ device: "01:00.0", invalidate: false }]'), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(e.map((d) => [d.message, d.range.line])).toEqual([["invalidate: false per ATS device is an AMD-Vi option", 13]]);
    expect(e[0]!.hint).toMatch(/ats-invalidation: false/);
  });
});
