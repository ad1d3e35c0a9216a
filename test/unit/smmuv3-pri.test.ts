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
