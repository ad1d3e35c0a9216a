// SMMUv3 with the 16 KiB and 64 KiB translation granules: what io-pgtable-arm builds for a host
// kernel with that PAGE_SIZE (CD.TG0 / STE.S2TG, start level, concatenated stage-2 tables), what
// the SMMU rejects (QEMU hw/arm/smmuv3.c decode_cd / decode_ste_s2_cfg: C_BAD_CD / C_BAD_STE), the
// trail the views read, the scenario keys with their errors at line:column, and the example.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { Diagnostic } from "../../src/scenario/types.js";
import { IOMMU_READ, IOMMU_WRITE, pickGranule } from "../../src/sim/smmuv3/driver.js";
import { bootedSmmu } from "./smmuv3-helpers.js";
import { nicScenario } from "./helpers.js";

const SID = 0x100;
const RW = IOMMU_READ | IOMMU_WRITE;

function setup(pageShift: number, stage: 1 | 2 = 1, oas = 48) {
  const s = bootedSmmu({ oas }, { pageShift, stage });
  s.driver.addMaster(SID, "0000:01:00.0");
  const d = s.driver.allocDomain();
  s.driver.attach(d, [SID]);
  return { ...s, d };
}

describe("io-pgtable-arm granules on an SMMUv3", () => {
  it("a 64 KiB-page kernel gets 64 KiB stage-1 tables: CD.TG0 = 0b01, three levels from L1, 64 KiB pages and 512 MiB blocks", () => {
    const { model, driver, d } = setup(16);
    driver.map(d, 0x2_0000_0000, 0x1_2345_0000, 0x10000, RW);
    driver.map(d, 0x4000_0000, 0x8000_0000, 0x2000_0000, RW);
    const t = model.explain({ sid: SID, iova: 0x2_0000_abcdn, write: true });
    expect(t.verdict).toMatchObject({ kind: "translated", hpa: 0x1_2345_abcdn });
    const cd = t.trail.entries.find((e) => e.name === "CD")!;
    expect(cd.fields.find((f) => f.name === "TG0")).toMatchObject({ value: "1", meaning: "64 KiB" });
    expect(cd.fields.find((f) => f.name === "T0SZ")).toMatchObject({ value: "16" });
    const ptes = t.trail.entries.filter((e) => e.kind === "pte");
    expect(ptes.map((e) => e.name)).toEqual(["S1 L1 table descriptor", "S1 L2 table descriptor", "S1 L3 page descriptor"]);
    // Indexes: IOVA bits [47:42] at L1, [41:29] at L2, [28:16] at L3.
    expect(ptes.map((e) => e.index)).toEqual([0, 0x2_0000_0000 / 2 ** 29, 0]);
    expect(ptes[2]!.fields.find((f) => f.name === "output address")).toMatchObject({ bits: "47:16", value: "0x123450000" });
    // 512 MiB block at L2.
    const b = model.explain({ sid: SID, iova: 0x5234_5678n, write: false });
    expect(b.verdict).toMatchObject({ kind: "translated", hpa: 0x9234_5678n });
    expect(b.trail.entries.filter((e) => e.kind === "pte").map((e) => e.name)).toEqual(["S1 L1 table descriptor", "S1 L2 block descriptor"]);
  });

  it("a 16 KiB-page kernel gets four levels from L0 (1 index bit) and 32 MiB blocks", () => {
    const { model, driver, d } = setup(14);
    driver.map(d, 0x8000_0000_0000, 0x1_0000_4000, 0x4000, RW);
    driver.map(d, 0x400_0000, 0x1200_0000, 0x200_0000, RW);
    const t = model.explain({ sid: SID, iova: 0x8000_0000_0123n, write: false });
    expect(t.verdict).toMatchObject({ kind: "translated", hpa: 0x1_0000_4123n });
    expect(t.trail.entries.filter((e) => e.kind === "pte").map((e) => [e.name, e.index])).toEqual([
      ["S1 L0 table descriptor", 1],
      ["S1 L1 table descriptor", 0],
      ["S1 L2 table descriptor", 0],
      ["S1 L3 page descriptor", 0],
    ]);
    const b = model.explain({ sid: SID, iova: 0x500_0000n, write: true });
    expect(b.verdict).toMatchObject({ kind: "translated", hpa: 0x1300_0000n });
    expect(b.trail.entries.filter((e) => e.kind === "pte").at(-1)!.name).toBe("S1 L2 block descriptor");
  });

  it("stage 2 with 64 KiB: S2TG = 0b01, S2SL0 as io-pgtable-arm writes it, and the walk it selects", () => {
    const { model, driver, d, unit } = setup(16, 2, 44);
    // 44-bit IPA, 64 KiB: levels 1..3 with 2 index bits at L1; io-pgtable concatenates only from level 0.
    expect(d.startLevel).toBe(1);
    driver.map(d, 0x1234_0000, 0x5678_0000, 0x10000, IOMMU_READ);
    const t = model.explain({ sid: SID, iova: 0x1234_0042n, write: false });
    expect(t.verdict).toMatchObject({ kind: "translated", hpa: 0x5678_0042n });
    expect(unit.ste!.s2).toMatchObject({ granule: 16, startLevel: 1, inputBits: 44 });
    expect(model.translate({ sid: SID, iova: 0x1234_0042n, write: true }).reason).toBe(0x13);
  });

  it("a CD or STE selecting a granule the SMMU lacks, a reserved one, or more than 16 concatenated tables is ILLEGAL", () => {
    const { model, mem, unit } = bootedSmmu({ oas: 48, granules: [12, 16] }, { pageShift: 14 });
    // io-pgtable-arm falls back to the largest granule below PAGE_SIZE (arm_lpae_restrict_pgsizes).
    expect(pickGranule(14, [12, 16])).toBe(12);
    expect(pickGranule(12, [16])).toBe(16);
    expect(unit.idr5 & 0x70).toBe(0x50); // GRAN64K | GRAN4K
    const { driver } = { driver: (model as unknown as { driver: import("../../src/sim/smmuv3/driver.js").ArmSmmuV3Driver }).driver };
    driver.addMaster(SID, "0000:01:00.0");
    const d = driver.allocDomain();
    driver.attach(d, [SID]);
    const cdAt = unit.decodeSte(SID, driver.steAddress(SID)!, [mem.readU64(driver.steAddress(SID)!)!]).s1ContextPtr;
    const cd0 = mem.readU64(cdAt)!;
    const why = () => {
      unit.cdCache.clear();
      return model.explain({ sid: SID, iova: 0x1000n, write: false }).trail.stop?.why;
    };
    mem.writeU64(cdAt, (cd0 & ~(3n << 6n)) | (2n << 6n)); // TG0 = 16 KiB
    expect(why()).toBe("C_BAD_CD: TG0 2: the 16 KiB granule is not implemented (SMMU_IDR5.GRAN*)");
    mem.writeU64(cdAt, cd0 | (3n << 6n));
    expect(why()).toBe("C_BAD_CD: TG0 3 is reserved");
    // QEMU decode_cd checks T0SZ before TG0.
    mem.writeU64(cdAt, (cd0 & ~0x3fn) | 40n | (3n << 6n));
    expect(why()).toBe("C_BAD_CD: T0SZ 40 is out of range (16..39)");
    // Stage 2, 64 KiB, S2SL0 = 0 (level 3) for a 48-bit IPA: 2^19 tables at level 3.
    const steAt = driver.steAddress(SID)!;
    mem.writeU64(steAt, 1n | (6n << 1n));
    mem.writeU64(steAt + 16, (1n << 51n) | (5n << 48n) | (1n << 46n) | (16n << 32n) | (0n << 38n));
    unit.steCache.clear();
    expect(model.explain({ sid: SID, iova: 0n, write: false }).trail.stop?.why).toBe("C_BAD_STE: S2SL0 0 (start level 3) is inconsistent with S2T0SZ 16 and the 64 KiB granule");
    // S2SL0 = 2 (level 1): 6 index bits, a legal 64 KiB start.
    mem.writeU64(steAt + 16, (1n << 51n) | (5n << 48n) | (1n << 46n) | (16n << 32n) | (2n << 38n));
    unit.steCache.clear();
    expect(model.explain({ sid: SID, iova: 0n, write: false }).trail.stop?.why).not.toMatch(/C_BAD_STE/);
    // S2TG = 0b10 (16 KiB) is not implemented here; 0b11 is reserved.
    mem.writeU64(steAt + 16, (1n << 51n) | (5n << 48n) | (2n << 46n) | (16n << 32n) | (1n << 38n));
    unit.steCache.clear();
    expect(model.explain({ sid: SID, iova: 0n, write: false }).trail.stop?.why).toBe("C_BAD_STE: S2TG 2: the 16 KiB granule is not implemented (SMMU_IDR5.GRAN*)");
  });

  it("iommu_map refuses a range not aligned to the granule, with Linux's line", () => {
    const { driver, d } = setup(16);
    expect(() => driver.map(d, 0x1000, 0x10000, 0x10000, RW)).toThrow("unaligned: iova 0x1000 pa 0x0000000000010000 size 0x10000 min_pagesz 0x10000");
  });
});

const at = (d: Diagnostic) => `${d.range.line + 1}:${d.range.column + 1}`;
const scenario = (iommu: string, backing = "") => nicScenario(iommu, "", backing);

describe("host.iommu page-size and granules (smmuv3)", () => {
  it("parses them and reports bad values and a too-small backing at their place, with a hint", () => {
    const ok = parseScenario(scenario("{ model: smmuv3, page-size: 64KiB, granules: [4KiB, 64KiB] }"), "t.passthrough.yaml");
    expect(ok.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(ok.scenario!.host.iommu.smmu).toMatchObject({ pageShift: 16, granules: [12, 16] });
    const text = scenario("{ model: smmuv3, page-size: 8KiB, granules: [4KiB, 32KiB] }");
    const e = parseScenario(text, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    const line = text.split("\n").findIndex((l) => l.includes("model: smmuv3"));
    const col = (n: string) => text.split("\n")[line]!.indexOf(n) + 1;
    expect(e.map((d) => [at(d), d.message])).toEqual(
      expect.arrayContaining([
        [`${line + 1}:${col("32KiB")}`, "a granule must be 4KiB, 16KiB or 64KiB"],
        [`${line + 1}:${col("8KiB")}`, "host.iommu.page-size must be 4KiB, 16KiB or 64KiB"],
      ]),
    );
    expect(e).toHaveLength(2);
    expect(e.every((d) => (d.hint ?? "").length > 0)).toBe(true);
    const b = scenario("{ model: smmuv3, page-size: 64KiB }", "  backing: 4KiB\n");
    const be = parseScenario(b, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    expect(be.map((d) => [at(d), d.message])).toContainEqual(["4:12", "host.backing 4KiB is smaller than the host kernel's page size (host.iommu.page-size)"]);
  });

  it("the 64 KiB example: a TLB hit within one 64 KiB page, then F_TRANSLATION after the page descriptor is cleared", () => {
    const file = join(__dirname, "..", "..", "examples", "smmuv3-64k-pages.passthrough.yaml");
    const r = simulateText(readFileSync(file, "utf8"), file);
    expect(r.exitCode).toBe(0);
    expect(r.expectations).toMatchObject({ passed: 4, failed: 0 });
    expect(r.dmesg.some((l) => l.includes("event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x200008000"))).toBe(true);
  });
});
