// SVA on SMMUv3: the bound process exits (process-exit). arm_smmu_mm_release (arm-smmu-v3-sva.c)
// keeps the CD valid but makes it fault everything, by kernel version (smmuv3/dmesg.ts SvaReleaseCd):
// quiet_cd (EPD0, v5.11-6.7), quiet_cd with S and R cleared (v6.8-6.9), arm_smmu_make_sva_cd with
// mm = NULL (v6.10+); then CMD_TLBI_NH_ASID and CMD_ATC_INV. The device's later DMA on the PASID
// gets F_TRANSLATION, recorded and printed only where CD.R stays 1.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";
import { CPU_MAIR_EL1 } from "../../src/sim/smmuv3/driver.js";
import { smmuSvaReleaseCd } from "../../src/sim/smmuv3/dmesg.js";
import { COMMAND_NAMES } from "../../src/sim/smmuv3/spec.js";
import { EventKind } from "../../src/trace/trace.js";
import { runSmmuScenario } from "./smmuv3-helpers.js";

const FILE = "examples/smmuv3-sva-exit.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");
const run = (text: string) => runSmmuScenario(text, FILE);
const kernel = (v: string) => example.replace('kernel: "6.15"', `kernel: "${v}"`);
/** The example up to and including the process-exit step (the CD as mm_release left it). */
const toExit = example.replace(/  # The TLB entry is gone[\s\S]*$/, "");
const SID = 0x100;
const field = (w: bigint, hi: number, lo: number) => (w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
const smmuLines = (m: Machine) => m.log.lines.map((l) => l.text).filter((t) => t.includes("arm-smmu-v3"));

function cdWords(m: Machine, host: ReturnType<typeof run>["host"]): bigint[] {
  const at = host.driver.cdAddress(SID, 5, false)!;
  return Array.from({ length: 8 }, (_, i) => m.mem.readU64(at + i * 8) ?? 0n);
}

describe("SMMUv3 SVA process exit (arm_smmu_mm_release)", () => {
  it("the example passes its expectations; nothing is printed for the aborted DMA (CD.R = 0)", () => {
    const { m, outs } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual(Array(7).fill(true));
    expect(smmuLines(m)).toEqual([]);
  });

  it("the kernel versions: quiet_cd before 6.8, quiet_cd without S and R in 6.8 and 6.9, arm_smmu_make_sva_cd(mm = NULL) from 6.10", () => {
    expect(["5.15", "6.7", "6.8", "6.9", "6.10", "6.15", "current"].map(smmuSvaReleaseCd)).toEqual(["quiet", "quiet", "quiet-abort", "quiet-abort", "sva-cd", "sva-cd", "sva-cd"]);
  });

  it("6.10+: the CD is arm_smmu_make_sva_cd's without an mm: V, EPD0, EPD1, IPS, AA64, A, ASET, the ASID; T0SZ, TG0, the walk attributes, TTB0, S and R zero; MAIR kept", () => {
    const before = run(example.replace(/  - process-exit[\s\S]*$/, ""));
    const old = cdWords(before.m, before.host);
    const { m, host } = run(toExit);
    const w = cdWords(m, host);
    const d = host.driver.domains.find((x) => x.sva === true)!;
    expect(w[0]).toBe((1n << 14n) | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 46n) | (1n << 47n) | (BigInt(d.asid) << 48n));
    expect([field(w[0]!, 5, 0), field(w[0]!, 13, 6), field(w[0]!, 45, 44)]).toEqual([0n, 0n, 0n]);
    expect(w.slice(1)).toEqual([0n, 0n, CPU_MAIR_EL1, 0n, 0n, 0n, 0n]);
    expect(old[1]).not.toBe(0n); // TTB0 was mm->pgd
    expect(d.released).toBe(true);
  });

  it("before 6.10: quiet_cd sets EPD0 in the live CD and keeps the rest (TTB0, T0SZ); 6.8-6.9 also clear S and R", () => {
    const before = run(kernel("6.6").replace(/  - process-exit[\s\S]*$/, ""));
    const old = cdWords(before.m, before.host);
    const q = run(kernel("6.6").replace(/  # The TLB entry is gone[\s\S]*$/, ""));
    expect(cdWords(q.m, q.host)).toEqual([old[0]! | (1n << 14n), ...old.slice(1)]);
    expect(field(old[0]!, 45, 45)).toBe(1n);
    const a = run(kernel("6.8").replace(/  # The TLB entry is gone[\s\S]*$/, ""));
    expect(cdWords(a.m, a.host)).toEqual([(old[0]! | (1n << 14n)) & ~((1n << 44n) | (1n << 45n)), ...old.slice(1)]);
  });

  it("6.6: the DMA after the exit is an F_TRANSLATION the SMMU records (SubstreamID 5, SSV), printed as that kernel prints events", () => {
    const { m, outs } = run(kernel("6.6"));
    expect(outs[5]!.fault).toBe(0x10);
    expect(outs[5]!.expect!.pass).toBe(false); // the example expects recorded: false (6.15)
    const lines = smmuLines(m);
    const at = lines.indexOf("arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:");
    expect(at).toBeGreaterThanOrEqual(0);
    // Event dword 0: F_TRANSLATION 0x10, SSV [11], SubstreamID 5 [31:12], StreamID 0x100 [63:32].
    expect(lines[at + 1]).toBe("arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000010000005810");
  });

  it("an SMMU that forces stalls (STALL_FORCE) keeps S and R: CD.S = 0 would be ILLEGAL there", () => {
    const { m, host } = run(toExit.replace("ats: [\"01:00.0\"] }", "ats: [\"01:00.0\"], stall-model: force }"));
    const w0 = cdWords(m, host)[0]!;
    expect([field(w0, 44, 44), field(w0, 45, 45), field(w0, 14, 14)]).toEqual([1n, 1n, 1n]);
  });

  it("the trace has the release's commands as rows of the process-exit step: CMD_CFGI_CD, CMD_TLBI_NH_ASID, CMD_ATC_INV with SSV and SubstreamID 5", () => {
    const { m } = run(toExit);
    const t = m.trace;
    const rows = [...Array(t.length).keys()].filter((i) => t.kind[i] === EventKind.Invalidate && t.step[i] === 4);
    const words = rows.map((i) => [(BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!), (BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!)] as const);
    expect(words.map(([w0]) => COMMAND_NAMES[Number(w0 & 0xffn)])).toEqual(["CMD_CFGI_CD", "CMD_TLBI_NH_ASID", "CMD_ATC_INV"]);
    const [cfgi, , atc] = words;
    expect(field(cfgi![0], 31, 12)).toBe(5n);
    expect(field(atc![0], 11, 11)).toBe(1n); // SSV
    expect(field(atc![0], 31, 12)).toBe(5n);
  });

  it("Mapping Tables shows the CD after the release: EPD0 = 1 and no stage-1 table under it", () => {
    const sess = new Session("sva-exit.passthrough.yaml");
    sess.update(example);
    sess.setCursor(5);
    const ctx = { machine: sess.machineAtCursor()!, run: sess.run!, scenario: sess.scenario!, cursor: sess.cursor.step, radix: "hex" as const };
    const cd = treeChildren("tables", "t/root/01/0100", ctx)!.find((n) => n.id.endsWith("/cd-5"))!;
    expect(cd.tooltip).toMatch(/EPD0=1 \(TTB0 walks disabled\)/);
    expect(cd.collapsible).toBe(0);
    sess.setCursor(4);
    const live = treeChildren("tables", "t/root/01/0100", { ...ctx, machine: sess.machineAtCursor()!, cursor: sess.cursor.step })!.find((n) => n.id.endsWith("/cd-5"))!;
    expect(live.collapsible).not.toBe(0);
  });

  it("refused: a PASID not bound (ENOENT), a DMA domain's PASID (EINVAL), a second exit (EINVAL); on VT-d a scenario error", () => {
    const twice = run(toExit + '  - process-exit: { device: "01:00.0", pasid: 5 }\n');
    expect([twice.outs.at(-1)!.errno, twice.outs.at(-1)!.summary]).toEqual(["EINVAL", "the process of PASID 0x5 of 01:00.0 has already exited"]);
    const unbound = run(example.replace(/  - process-exit: \{ device: "01:00.0", pasid: 5 \}/, '  - process-exit: { device: "01:00.0", pasid: 6 }'));
    expect([unbound.outs[4]!.errno, unbound.outs[4]!.summary]).toEqual(["ENOENT", "PASID 0x6 of 01:00.0 is not bound to a process"]);
    const dmaDomain = run(toExit.replace("sva: true, ", ""));
    expect(dmaDomain.outs[4]!.errno).toBe("EINVAL");
    expect(dmaDomain.outs[4]!.summary).toMatch(/holds a DMA domain/);
    const vtd = parseScenario(example.replace(/iommu: \{ model: smmuv3[^}]*\}/, "iommu: { model: intel-vtd, scalable: true }"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(vtd.map((d) => d.message)).toContain("process-exit is an SMMUv3 SVA step");
  });
});
