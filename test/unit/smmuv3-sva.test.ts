// SVA on SMMUv3: bind-pasid with sva: true is iommu_sva_bind_device; the CD is arm_smmu_make_sva_cd's
// (arm-smmu-v3-sva.c): T0SZ from the CPU's VA size, IPS and MAIR from the CPU, TTB0 = mm->pgd; the
// process's pages are the CPU's. Faults on the PASID are printed with its ssid; Mapping Tables shows
// the CD through the contract (the domain node's raw words and fields).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import { CPU_MAIR_EL1 } from "../../src/sim/smmuv3/driver.js";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";
import { runSmmuScenario } from "./smmuv3-helpers.js";

const FILE = "examples/smmuv3-sva.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

const run = (text: string) => runSmmuScenario(text, FILE);

const SID = 0x100;
const field = (w: bigint, hi: number, lo: number) => (w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);

describe("SMMUv3 SVA context descriptors", () => {
  it("the example passes its expectations", () => {
    const { outs } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true, true, true]);
  });

  it("the SVA CD is arm_smmu_make_sva_cd's: T0SZ 16 (CPU VA 48), TG0 4K, WBWA, inner shareable, EPD1, V, IPS = CPU PARange, AA64, R, A, ASET, the SMMU's ASID; TTB0 = the process pgd; MAIR = the CPU's MAIR_EL1", () => {
    const { m, host } = run(example.replace(/  - unbind-pasid[\s\S]*$/, ""));
    const at = host.driver.cdAddress(SID, 5, false)!;
    const w = Array.from({ length: 8 }, (_, i) => m.mem.readU64(at + i * 8) ?? 0n);
    const sva = host.driver.domains.find((d) => d.sva === true)!;
    expect(sva).toBeDefined();
    expect(field(w[0]!, 5, 0)).toBe(16n); // T0SZ
    expect(field(w[0]!, 7, 6)).toBe(0n); // TG0 4 KiB
    expect([field(w[0]!, 9, 8), field(w[0]!, 11, 10), field(w[0]!, 13, 12)]).toEqual([1n, 1n, 3n]); // IRGN0, ORGN0 WBWA, SH0 IS
    expect([field(w[0]!, 14, 14), field(w[0]!, 30, 30), field(w[0]!, 31, 31)]).toEqual([0n, 1n, 1n]); // EPD0, EPD1, V
    expect(field(w[0]!, 34, 32)).toBe(5n); // IPS: the CPU's 48-bit PARange
    expect([field(w[0]!, 41, 41), field(w[0]!, 44, 44), field(w[0]!, 45, 45), field(w[0]!, 46, 46), field(w[0]!, 47, 47)]).toEqual([1n, 0n, 1n, 1n, 1n]); // AA64, S, R, A, ASET
    expect(field(w[0]!, 63, 48)).toBe(BigInt(sva.asid));
    expect(w[1]).toBe(BigInt(sva.pgd));
    expect(w[3]).toBe(CPU_MAIR_EL1);
    expect(CPU_MAIR_EL1).toBe(0x000c0400bb44ffffn);
    // The RID's DMA-domain CD (arm_smmu_make_s1_cd) differs in the ASID, TTB0 and MAIR only (io-pgtable's MAIR 0xf404ff44).
    const dmaAt = host.driver.cdAddress(SID, 0, false)!;
    const dw = Array.from({ length: 8 }, (_, i) => m.mem.readU64(dmaAt + i * 8) ?? 0n);
    expect(dw[0]! & 0x0000ffffffffffffn).toBe(w[0]! & 0x0000ffffffffffffn);
    expect(dw[3]).toBe(0xf404ff44n);
    expect(field(dw[0]!, 63, 48)).not.toBe(field(w[0]!, 63, 48));
  });

  it("the process's pages are the CPU's: AttrIndx MT_NORMAL, AP[1] user, nG, AF, PXN and UXN; a writable page has DBM and AP[2] clear, a read-only page AP[2] set; a page not present has no entry", () => {
    const { m, host } = run(example.replace(/  - dma[\s\S]*$/, ""));
    const sva = host.driver.domains.find((d) => d.sva === true)!;
    const pte = (va: number) => m.mem.readU64(host.driver.entryAddress(sva, va, 3, false)!) ?? 0n;
    const rw = pte(0x7f12_3456_0000);
    const ro = pte(0x7f12_3457_0000);
    expect(field(rw, 1, 0)).toBe(3n);
    expect(field(rw, 4, 2)).toBe(0n); // AttrIndx MT_NORMAL
    expect([field(rw, 6, 6), field(rw, 7, 7), field(rw, 10, 10), field(rw, 11, 11), field(rw, 51, 51), field(rw, 53, 53), field(rw, 54, 54)]).toEqual([1n, 0n, 1n, 1n, 1n, 1n, 1n]);
    expect([field(ro, 6, 6), field(ro, 7, 7), field(ro, 51, 51)]).toEqual([1n, 1n, 0n]);
    expect(pte(0x7f12_3458_0000)).toBe(0n);
  });

  it("faults on the SVA PASID carry its SubstreamID in Linux's lines", () => {
    const { m } = run(example);
    const lines = m.log.lines.map((l) => l.text);
    expect(lines).toContain("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_PERMISSION client: 0000:01:00.0 sid: 0x100 ssid: 0x5 iova: 0x7f1234570000 ipa: 0x0");
    expect(lines).toContain("arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 \"Input address caused fault\" stag: 0x0");
    expect(lines).toContain("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x5 iova: 0x7f1234580000 ipa: 0x0");
  });

  it("Mapping Tables shows the SVA CD through the contract: its address, its eight words and its fields (T0SZ, IPS, TTB0, MAIR)", () => {
    const sess = new Session("sva.passthrough.yaml");
    sess.update(example);
    sess.setCursor(2);
    const ctx = { machine: sess.machineAtCursor()!, run: sess.run!, scenario: sess.scenario!, cursor: sess.cursor.step, radix: "hex" as const };
    const cd = treeChildren("tables", "t/root/01/0100", ctx)!.find((n) => n.id.endsWith("/cd-5"))!;
    expect(cd.label).toBe("CD[0x5] (ASID 4)");
    expect(cd.tooltip).toContain("data[3] 0x000c0400bb44ffff");
    expect(cd.tooltip).toMatch(/T0SZ=16 \(48-bit input\) .*EPD1=1 .*IPS=5 \(48-bit\) .*ASID=0x4 TTB0=0x[0-9a-f]+ MAIR=0xc0400bb44ffff/);
  });

  it("sva: true: only with mode first-level, only on SMMUv3, and only where the SMMU implements the kernel's page size (arm_smmu_sva_supported)", () => {
    const mode = parseScenario(example.replace("sva: true,", "sva: true, mode: second-level,"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(mode.map((d) => d.message)).toEqual(["sva: true shares a process's page table: mode second-level does not fit it"]);
    const vtd = parseScenario(example.replace(/iommu: \{ model: smmuv3[^}]*\}/, "iommu: { model: intel-vtd, scalable: true }"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(vtd.map((d) => d.message)).toContain("sva: true is an SMMUv3 key");
    const { outs } = runLoose(example.replace("pasid: [\"01:00.0\"] }", "pasid: [\"01:00.0\"], page-size: 64KiB, granules: [4KiB] }"));
    expect(outs[1]!.summary).toMatch(/no SVA on this SMMU \(arm_smmu_sva_supported\): the SMMU does not implement the kernel's 64 KiB pages/);
  });
});

function runLoose(text: string) {
  const m = new Machine(parseScenario(text, FILE).scenario!);
  return { m, outs: m.scenario.workload.slice(0, 2).map((s) => m.runStep(s)) };
}
