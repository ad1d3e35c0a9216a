// SMMUv3 stage-2 stalls (STE.S2S, word 2 bit 57): a stage-2 fault of a stream with S2S = 1 records
// its event with Stall = 1, S2 = 1 and a STAG and holds the transaction until CMD_RESUME. Linux
// v6.12+ (commit ce7cb08e22e0 "iommu/arm-smmu-v3: Match Stall behaviour for S2") sets S2S for
// stall_enabled masters and answers a VFIO device's stage-2 stall as a stage-1 one (CMD_RESUME
// ABORT); older kernels leave S2S = 0, which SteIllegal() rejects under STALL_MODEL 0b10.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { C_BAD_STE, CMD_RESUME, RESUME_ABORT, STALL_MODEL_NONE, STALL_MODEL_STALL, STE_CFG_S2, decodeEvent } from "../../src/sim/smmuv3/spec.js";
import { smmuS2Stalls } from "../../src/sim/smmuv3/dmesg.js";
import { EventKind } from "../../src/trace/trace.js";
import { explainWalk } from "../../src/engine/walk.js";
import { bootedSmmu } from "./smmuv3-helpers.js";

const FILE = "examples/smmuv3-stage2-stall.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

function run(text: string) {
  const m = new Machine(parseScenario(text, FILE).scenario!);
  const outs = m.scenario.workload.map((s) => m.runStep(s));
  return { m, outs, host: m.hostIommu as SmmuV3Host };
}

describe("SMMUv3 stage-2 stalls", () => {
  it("the example: Linux 6.15 sets STE.S2S; a stage-2 fault stalls (Stall, S2, STAG 0 then 1) and is aborted with CMD_RESUME", () => {
    const { m, outs, host } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true, true]);
    const w2 = m.mem.readU64(host.driver.steAddress(0x100, false)! + 16)!;
    expect(Number((w2 >> 57n) & 1n)).toBe(1);
    const recs = host.unit.eventSlots().map((e) => decodeEvent(e.raw));
    expect(recs.map((e) => [e.id, e.stall, e.s2, e.stag, Number(e.ipa)])).toEqual([
      [0x10, true, true, 0, 0xc000_0000],
      [0x10, true, true, 1, 0xc000_1000],
    ]);
    // arm_smmu_page_response: CMD_RESUME, SID 0x100, RESP = ABORT, the STAG; in the faulting step's trace.
    const [a, b] = m.trace.stepRange(2);
    const cmds = Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Invalidate);
    expect(cmds.map((r) => [r.a, r.b])).toEqual([[BigInt(CMD_RESUME) | (0x100n << 32n) | (BigInt(RESUME_ABORT) << 12n), 0n]]);
    expect(host.unit.stalled).toEqual([]);
    expect(m.log.lines.map((l) => l.text)).toContain('arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s2 "Input address caused fault" stall stag: 0x0');
  });

  it("a kernel before 6.12 leaves S2S = 0: under STALL_MODEL 0b10 the stage-2 STE is ILLEGAL and every DMA gets C_BAD_STE", () => {
    expect([smmuS2Stalls("6.11"), smmuS2Stalls("6.12"), smmuS2Stalls("5.15.0-91-generic"), smmuS2Stalls("")]).toEqual([false, true, false, true]);
    // The stable backports of ce7cb08e22e0: 6.10.14 and 6.11.3 set S2S; the patch before does not.
    expect(["6.10.13", "6.10.14", "6.11.2", "6.11.3"].map(smmuS2Stalls)).toEqual([false, true, false, true]);
    expect(run(example.replace('kernel: "6.15"', 'kernel: "6.11.3"')).outs[1]!.fault).not.toBe(C_BAD_STE);
    expect(run(example.replace('kernel: "6.15"', 'kernel: "6.11.2"')).outs[1]!.fault).toBe(C_BAD_STE);
    const { m, outs } = run(example.replace('kernel: "6.15"', 'kernel: "6.8"'));
    expect(outs[1]!.fault).toBe(C_BAD_STE);
    const w = explainWalk(m, 0x100, 0x5000_0000n, false);
    expect(w.stages.at(-1)!.stop).toBe("C_BAD_STE: S2S = 0 but the SMMU forces stalls (SMMU_IDR0.STALL_MODEL = 0b10)");
  });

  it("S2S = 1 is ILLEGAL where the SMMU cannot stall, and with ATS (EATS != 0); legal on a stall-and-terminate SMMU", () => {
    const ste = (w1: bigint, s2s: boolean) => [1n | (BigInt(STE_CFG_S2) << 1n), w1, (BigInt(64 - 48) << 32n) | (2n << 38n) | (5n << 48n) | (1n << 51n) | (s2s ? 1n << 57n : 0n), 0x1000_0000n, 0n, 0n, 0n, 0n];
    const none = bootedSmmu({ stallModel: STALL_MODEL_NONE }).unit;
    expect(none.decodeSte(1, 0, ste(0n, true)).bad).toBe("S2S = 1 (stall) but the SMMU cannot stall (SMMU_IDR0.STALL_MODEL = 0b01)");
    expect(none.decodeSte(1, 0, ste(0n, false)).bad).toBeUndefined();
    const stall = bootedSmmu({ stallModel: STALL_MODEL_STALL }).unit;
    expect(stall.decodeSte(1, 0, ste(0n, true))).toMatchObject({ bad: undefined, s2Stall: true });
    expect(stall.decodeSte(1, 0, ste(1n << 28n, true)).bad).toBe("S2S = 1 with EATS != 0b00: stage-2 stalls and ATS exclude each other");
  });

  it("STE.S2S is decoded in the STE's fields", () => {
    const { host } = run(example);
    const ste = host.iommu.explain({ sid: 0x100, iova: 0x5000_0000n, write: false }).trail.entries.find((e) => e.name === "STE")!;
    expect(ste.fields.find((f) => f.name === "S2S")).toMatchObject({ value: "1", meaning: "stage-2 faults stall" });
  });
});
