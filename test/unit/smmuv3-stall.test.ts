// SMMUv3 stall model (SMMUv3 spec 3.12.2, SMMU_IDR0.STALL_MODEL, STE.S1STALLD, CD.S): a stalled
// stage-1 fault records its event with Stall = 1 and a STAG and holds the transaction until
// CMD_RESUME (retry / abort) or CMD_STALL_TERM; CD.S = 1 is C_BAD_CD where the SMMU cannot stall
// (QEMU decode_cd, STALL_MODEL 0b01) or the STE disables stalls (S1STALLD), CD.S = 0 where stalls
// are forced; Linux's arm-smmu-v3 answers a VFIO device's stall with CMD_RESUME ABORT
// (iopf_error_response -> arm_smmu_page_response) and still prints the event.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";
import { Machine } from "../../src/sim/machine.js";
import { EventKind } from "../../src/trace/trace.js";
import { parseScenario } from "../../src/scenario/index.js";
import { cmd, IOMMU_READ, IOMMU_WRITE } from "../../src/sim/smmuv3/driver.js";
import { CMD_RESUME, CMD_STALL_TERM, decodeEvent, RESUME_ABORT, RESUME_RETRY, STALL_MODEL_FORCE, STALL_MODEL_NONE, STALL_MODEL_STALL } from "../../src/sim/smmuv3/spec.js";
import { bootedSmmu, split } from "./smmuv3-helpers.js";

const SID = 0x100;
const RW = IOMMU_READ | IOMMU_WRITE;

function setup(stallModel: number) {
  const s = bootedSmmu({ stallModel });
  s.driver.addMaster(SID, "0000:01:00.0");
  const d = s.driver.allocDomain();
  s.driver.attach(d, [SID]);
  s.driver.map(d, 0x1000_0000, 0x2_0000_0000, 0x1000, RW);
  return { ...s, d };
}

const cdAddress = (s: ReturnType<typeof setup>) => s.model.locate({ sid: SID, structure: "pasid-entry" }) as number;
const steW1 = (s: ReturnType<typeof setup>) => s.mem.readU64(s.driver.steAddress(SID)! + 8)!;

describe("SMMUv3 stall model", () => {
  it("SMMU_IDR0.STALL_MODEL [25:24] and what Linux writes: S1STALLD for a 0b00 SMMU's PCI master, CD.S = 1 under 0b10, neither under 0b01", () => {
    const stall = setup(STALL_MODEL_STALL);
    const none = setup(STALL_MODEL_NONE);
    const force = setup(STALL_MODEL_FORCE);
    expect([stall, none, force].map((s) => (s.unit.idr0 >>> 24) & 3)).toEqual([0, 1, 2]);
    expect([stall, none, force].map((s) => (steW1(s) >> 27n) & 1n)).toEqual([1n, 0n, 0n]);
    expect([stall, none, force].map((s) => (s.mem.readU64(cdAddress(s))! >> 44n) & 1n)).toEqual([0n, 0n, 1n]);
  });

  it("a stalled fault records its event with Stall = 1 and STAG, even with CD.R = 0; the transaction waits", () => {
    const s = setup(STALL_MODEL_FORCE);
    // CD.R = 0: a terminated fault would not be recorded; a stalled one always is.
    s.mem.writeU64(cdAddress(s), s.mem.readU64(cdAddress(s))! & ~(1n << 45n));
    s.driver.submit([cmd(0x05, BigInt(SID) << 32n, 1n)]); // CMD_CFGI_CD
    expect(s.unit.translate(SID, -1, ...split(0x3000_0000), false)).toBe(0x10);
    expect(s.unit.translate(SID, -1, ...split(0x3000_1000), true)).toBe(0x10);
    const ev = s.unit.pendingEvents().map((e) => decodeEvent(e.raw));
    expect(ev.map((e) => [e.id, e.stall, e.stag, e.inputAddr])).toEqual([
      [0x10, true, 0, 0x3000_0000n],
      [0x10, true, 1, 0x3000_1000n],
    ]);
    expect(s.unit.stalled.map((t) => t.stag)).toEqual([0, 1]);
  });

  it("CMD_RESUME RETRY translates the held transaction again with the tables as they are now; ABORT ends it; an unknown STAG is ignored", () => {
    const s = setup(STALL_MODEL_FORCE);
    s.unit.translate(SID, -1, ...split(0x3000_0000), true);
    s.unit.translate(SID, -1, ...split(0x3000_1000), false);
    // The fault handler maps the page, then answers success for STAG 0 and failure for STAG 1.
    s.driver.map(s.d, 0x3000_0000, 0x2_0010_0000, 0x1000, RW);
    s.driver.submit([cmd(CMD_RESUME, (BigInt(SID) << 32n) | (BigInt(RESUME_RETRY) << 12n), 0n), cmd(CMD_RESUME, (BigInt(SID) << 32n) | (BigInt(RESUME_ABORT) << 12n), 1n), cmd(CMD_RESUME, (BigInt(SID) << 32n) | (BigInt(RESUME_ABORT) << 12n), 7n)], false);
    expect(s.unit.stallOutcomes).toEqual([
      { sid: SID, stag: 0, action: "retry", result: 0, oa: 0x2_0010_0000 },
      { sid: SID, stag: 1, action: "abort", result: 0, oa: 0 },
    ]);
    expect(s.unit.stalled).toEqual([]);
    expect((s.unit.gerror ^ s.unit.gerrorn) & 1).toBe(0);
  });

  it("a retry that faults again stalls again with the next STAG; CMD_STALL_TERM ends every stalled transaction of the stream", () => {
    const s = setup(STALL_MODEL_FORCE);
    s.unit.translate(SID, -1, ...split(0x3000_0000), true);
    s.driver.submit([cmd(CMD_RESUME, (BigInt(SID) << 32n) | (BigInt(RESUME_RETRY) << 12n), 0n)], false);
    expect(s.unit.stallOutcomes[0]).toMatchObject({ action: "retry", result: 0x10 });
    expect(s.unit.stalled.map((t) => t.stag)).toEqual([1]);
    s.unit.translate(SID, -1, ...split(0x4000_0000), true);
    s.driver.submit([cmd(CMD_STALL_TERM, BigInt(SID) << 32n)]);
    expect(s.unit.stalled).toEqual([]);
    expect(s.unit.stallOutcomes.slice(1).map((o) => [o.stag, o.action])).toEqual([
      [1, "terminate"],
      [2, "terminate"],
    ]);
  });

  it("CD.S = 1 is C_BAD_CD without stall support (QEMU's STALL_MODEL 0b01) and under STE.S1STALLD; CD.S = 0 is C_BAD_CD when stalls are forced", () => {
    for (const [model, setS, why] of [
      [STALL_MODEL_NONE, true, /SMMU cannot stall/],
      [STALL_MODEL_STALL, true, /S1STALLD = 1/],
      [STALL_MODEL_FORCE, false, /forces stalls/],
    ] as const) {
      const s = setup(model);
      const at = cdAddress(s);
      const w0 = s.mem.readU64(at)!;
      expect(s.unit.translate(SID, -1, ...split(0x1000_0000), false)).toBe(0); // fills the STE and CD caches
      s.mem.writeU64(at, setS ? w0 | (1n << 44n) : w0 & ~(1n << 44n));
      // Cached configuration still answers until CMD_CFGI_CD.
      expect(s.unit.translate(SID, -1, ...split(0x1000_0000), false)).toBe(0);
      s.driver.submit([cmd(0x05, BigInt(SID) << 32n, 1n)]);
      expect(s.unit.translate(SID, -1, ...split(0x1000_0000), false)).toBe(0x0a);
      expect(s.unit.why).toMatch(why);
      // Explain (no caches) agrees.
      expect(s.model.explain({ sid: SID, iova: 0x1000_0000n, write: false }).verdict).toMatchObject({ kind: "fault", reason: 0x0a });
    }
  });

  it("a snapshot keeps the held transactions and the next STAG", () => {
    const s = setup(STALL_MODEL_FORCE);
    s.unit.translate(SID, -1, ...split(0x3000_0000), true);
    const snap = s.unit.snapshot();
    s.unit.translate(SID, -1, ...split(0x3000_1000), true);
    s.unit.restore(snap);
    expect(s.unit.stalled.map((t) => t.stag)).toEqual([0]);
    expect(s.unit.nextStag).toBe(1);
  });
});

describe("stall-model in scenarios", () => {
  it("host.iommu.stall-model takes stall, none or force; anything else is an error at its place with the choices", () => {
    const text = (v: string) => `name: t\nhost:\n  memory: 16GiB\n  iommu: { model: smmuv3, stall-model: ${v} }\n  pci:\n    - { bdf: "01:00.0", id: "15b3:1017", driver: vfio-pci }\n`;
    for (const v of ["stall", "none", "force"]) expect(parseScenario(text(v), "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const e = parseScenario(text("maybe"), "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    expect(e).toHaveLength(1);
    expect(e[0]!.range.line).toBe(3);
    expect(e[0]!.message + (e[0]!.hint ?? "")).toMatch(/stall.*none.*force/);
  });

  it("the example: Linux aborts the VFIO device's stalls with CMD_RESUME (no CMD_SYNC) and prints each event with 'stall stag'", () => {
    const file = "examples/smmuv3-stall.passthrough.yaml";
    const r = simulateText(readFileSync(join(__dirname, "..", "..", file), "utf8"), file);
    expect(r.exitCode).toBe(0);
    expect(r.expectations).toMatchObject({ passed: 4, failed: 0 });
    const text = r.dmesg;
    // arm_smmu_dump_event, 6.15: "%s %s %s %s \"%s\"%s%s stag: %#x".
    expect(text.filter((l) => l.includes("stall stag:")).map((l) => l.replace(/^.*auto: /, ""))).toEqual(['unpriv data read s1 "Input address caused fault" stall stag: 0x0', 'unpriv data write s1 "Input address caused fault" stall stag: 0x1']);
    expect(text.some((l) => l.includes("event: C_BAD_CD client: 0000:01:00.0 sid: 0x100 ssid: 0x0"))).toBe(true);
  });

  it("the trace holds the evtq thread's CMD_RESUME (SID 0x100, RESP = ABORT, STAG) in the faulting step, and no CMD_SYNC after it", () => {
    const file = "examples/smmuv3-stall.passthrough.yaml";
    const m = new Machine(parseScenario(readFileSync(join(__dirname, "..", "..", file), "utf8"), file).scenario!);
    const steps = m.scenario.workload;
    for (const st of steps.slice(0, 4)) m.runStep(st);
    const rows = (step: number) => {
      const [a, b] = m.trace.stepRange(step);
      return Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Invalidate);
    };
    const resume = (stag: bigint) => [(0x100n << 32n) | (2n << 12n) | 0x44n, stag];
    expect(rows(2).map((r) => [r.a, r.b])).toEqual([resume(0n)]);
    expect(rows(3).map((r) => [r.a, r.b])).toEqual([resume(1n)]);
  });
});
