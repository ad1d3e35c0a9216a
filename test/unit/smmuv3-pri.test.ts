// PCIe PRI behind an SMMUv3: a PRI endpoint whose ATS translation fails sends a Page Request into
// the PRI queue (16-byte entries, arm-smmu-v3.h PRIQ_0_* / PRIQ_1_*); Linux's arm_smmu_handle_ppr
// prints it as "unexpected" and denies the group with CMD_PRI_RESP (PRI_RESP_DENY, no CMD_SYNC).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { renderPageRequest } from "../../src/sim/smmuv3/dmesg.js";
import { EventKind } from "../../src/trace/trace.js";

const FILE = "examples/smmuv3-pri.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

describe("SMMUv3 PRI", () => {
  it("renders a PRI queue entry as arm_smmu_handle_ppr's format string does, field by field", () => {
    // SID 0x1234, SSID 0x56 valid, PRIV + READ + EXEC, not last; PRG index 0x1ff, address 0xdead_b000.
    const e0 = 0x1234n | (0x56n << 32n) | (1n << 58n) | (1n << 59n) | (1n << 60n) | (1n << 63n);
    const e1 = 0xdeadb000n | 0x1ffn;
    expect(renderPageRequest("arm-smmu-v3.0.auto", [e0, e1])).toEqual(["arm-smmu-v3 arm-smmu-v3.0.auto: unexpected PRI request received:", "arm-smmu-v3 arm-smmu-v3.0.auto: \tsid 0x00001234.0x00056: [511] privileged RX access at iova 0x00000000deadb000"]);
  });

  it("the example: each failed ATS write of the PRI device is a Page Request (PRG 0, then 1), printed and denied with CMD_PRI_RESP; no event is recorded", () => {
    const m = new Machine(parseScenario(example, FILE).scenario!);
    const outs = m.scenario.workload.map((s) => m.runStep(s));
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true, true]);
    const host = m.hostIommu as SmmuV3Host;
    expect((host.unit.idr0 >>> 16) & 1).toBe(1);
    expect(host.unit.priResponses).toEqual([
      { sid: 0x100, ssid: -1, grpid: 0, resp: 0 },
      { sid: 0x100, ssid: -1, grpid: 1, resp: 0 },
    ]);
    expect(host.unit.counters.events).toBe(0);
    const lines = m.log.lines.map((l) => l.text).filter((t) => t.includes("PRI") || t.includes("access at iova"));
    expect(lines).toEqual([
      "arm-smmu-v3 arm-smmu-v3.0.auto: unexpected PRI request received:",
      "arm-smmu-v3 arm-smmu-v3.0.auto: \tsid 0x00000100.0x00000: [0L] unprivileged W access at iova 0x00000000c0000000",
      "arm-smmu-v3 arm-smmu-v3.0.auto: unexpected PRI request received:",
      "arm-smmu-v3 arm-smmu-v3.0.auto: \tsid 0x00000100.0x00000: [1L] unprivileged R access at iova 0x00000000c0001000",
    ]);
    // The denial is in the faulting step's trace: CMD_PRI_RESP (0x41), SID 0x100, GRPID 0, RESP DENY.
    const [a, b] = m.trace.stepRange(2);
    const cmds = Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Invalidate);
    expect(cmds.map((r) => [r.a, r.b])).toEqual([[(0x100n << 32n) | 0x41n, 0n]]);
  });

  it("pri lists ATS devices: a device with PRI but not ATS is an error at the key, with a hint", () => {
    const e = parseScenario(example.replace('ats: ["01:00.0"], ', ""), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(e.map((d) => [d.message, d.range.line])).toEqual([["01:00.0 has PRI but not ATS", 12]]);
    expect(e[0]!.hint).toMatch(/host\.iommu\.ats/);
  });
});

describe("SMMUv3 PRI queue overflow", () => {
  const OVF_FILE = "examples/smmuv3-priq-overflow.passthrough.yaml";
  const ovf = readFileSync(join(__dirname, "..", "..", OVF_FILE), "utf8");

  it("the example: a full PRI queue discards Page Requests and toggles PRIQ_PROD.OVFLG; Linux prints the four it finds, then its overflow line, acknowledges, and answers the next request", () => {
    const m = new Machine(parseScenario(ovf, OVF_FILE).scenario!);
    const host = m.hostIommu as SmmuV3Host;
    // SMMU_IDR1.PRIQS [15:11] = log2(4).
    expect((host.unit.idr1 >>> 11) & 0x1f).toBe(2);
    m.runStep(m.scenario.workload[0]!);
    // Before the PRI thread runs: drive the six Page Requests into the unit as the DMA does.
    const u = host.unit;
    for (let k = 0; k < 6; k++) u.pageRequest(0x100, -1, 0xc000_0000 + k * 4096, true);
    expect(u.priqProd >>> 0).toBe((0x8000_0000 | 4) >>> 0);
    expect(u.priqCons).toBe(0);
    expect(u.counters.priLost).toBe(2);
    expect(u.pendingPageRequests().map(([, e1]) => Number(e1 & 0x1ffn))).toEqual([0, 1, 2, 3]);
    const lines = host.driver.servicePri();
    expect(lines.at(-1)).toBe("arm-smmu-v3 arm-smmu-v3.0.auto: PRIQ overflow detected -- requests lost");
    expect(lines.filter((l) => l.includes("unexpected PRI request"))).toHaveLength(4);
    // PRIQ_CONS.OVACKFLG = PROD.OVFLG: acknowledged; a second pass prints nothing.
    expect(u.priqCons >>> 0).toBe(u.priqProd >>> 0);
    expect(host.driver.servicePri()).toEqual([]);
    expect(u.priResponses.map((r) => r.grpid)).toEqual([0, 1, 2, 3]);
  });

  it("the example runs: its expectations pass and dmesg shows the overflow line once, after the four requests, then request 6", () => {
    const m = new Machine(parseScenario(ovf, OVF_FILE).scenario!);
    const outs = m.scenario.workload.map((s) => m.runStep(s));
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true]);
    const host = m.hostIommu as SmmuV3Host;
    const lines = m.log.lines.map((l) => l.text).filter((t) => t.includes("PRI") || t.includes("access at iova"));
    const groups = lines.filter((t) => t.includes("access at iova")).map((t) => /\[(\d+)L\]/.exec(t)![1]);
    expect(groups).toEqual(["0", "1", "2", "3", "6"]);
    expect(lines.filter((t) => t.endsWith("PRIQ overflow detected -- requests lost"))).toEqual(["arm-smmu-v3 arm-smmu-v3.0.auto: PRIQ overflow detected -- requests lost"]);
    expect(lines.indexOf("arm-smmu-v3 arm-smmu-v3.0.auto: PRIQ overflow detected -- requests lost")).toBe(8);
    // The lost requests (PRG 4 and 5) got no PRG Response; the event queue saw nothing.
    expect(host.unit.priResponses.map((r) => r.grpid)).toEqual([0, 1, 2, 3, 6]);
    expect(host.unit.counters.events).toBe(0);
  });

  it("pri-queue must be a power of two and needs pri, each an error at the key with a hint", () => {
    const bad = parseScenario(ovf.replace("pri-queue: 4 }", "pri-queue: 6 }"), OVF_FILE).diagnostics.filter((d) => d.severity === "error");
    expect(bad.map((d) => [d.message, d.range.line])).toEqual([["host.iommu.pri-queue 6 is not a power of two", 15]]);
    const noPri = parseScenario(ovf.replace(', pri: ["01:00.0"]', ""), OVF_FILE).diagnostics.filter((d) => d.severity === "error");
    expect(noPri.map((d) => [d.message, d.range.line])).toEqual([["pri-queue needs pri", 15]]);
    expect(noPri[0]!.hint).toMatch(/host\.iommu\.pri/);
  });
});

describe("SMMUv3 PRI queue registers", () => {
  it("the registers show SMMU_IDR1.PRIQS and PRIQ_PROD.OVFLG / PRIQ_CONS.OVACKFLG: toggled by the overflow, equal again after Linux's acknowledgement", () => {
    const file = "examples/smmuv3-priq-overflow.passthrough.yaml";
    const m = new Machine(parseScenario(readFileSync(join(__dirname, "..", "..", file), "utf8"), file).scenario!);
    m.runStep(m.scenario.workload[0]!);
    const host = m.hostIommu as SmmuV3Host;
    for (let k = 0; k < 5; k++) host.unit.pageRequest(0x100, -1, 0xc000_0000 + k * 4096, true);
    const reg = (name: string) => m.iommu.registers().find((r) => r.name === name)!;
    const f = (name: string, field: string) => reg(name).fields.find((x) => x.name === field)!;
    expect(f("SMMU_IDR1", "PRIQS").value).toBe("2");
    expect(reg("SMMU_PRIQ_PROD").offset).toBe(0x100c8);
    expect([f("SMMU_PRIQ_PROD", "OVFLG").value, f("SMMU_PRIQ_CONS", "OVACKFLG").value]).toEqual(["1", "0"]);
    host.driver.servicePri();
    expect([f("SMMU_PRIQ_PROD", "OVFLG").value, f("SMMU_PRIQ_CONS", "OVACKFLG").value]).toEqual(["1", "1"]);
    // An SMMU without PRI lists no PRI queue registers.
    const plain = new Machine(parseScenario(readFileSync(join(__dirname, "..", "..", "examples/smmuv3-translation-fault.passthrough.yaml"), "utf8"), "x.yaml").scenario!);
    expect(plain.iommu.registers().some((r) => r.name.startsWith("SMMU_PRIQ"))).toBe(false);
  });
});
