// Second-level Accessed/Dirty bits (SLADE in the scalable-mode PASID entry, ECAP.SLADS): the walk
// sets A in every second-level entry it uses and D in the leaf of a write, as bytes in memory; a
// read of a clean writable page is not cached (examples/second-level-dirty-tracking). Without
// SLADE (and in legacy mode) the walk writes nothing.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";
import { SL_A, SL_D, slpteLayout } from "../../src/sim/vtd/slpt.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "second-level-dirty-tracking.passthrough.yaml"), "utf8");
const IOMMUFD = readFileSync(join(__dirname, "..", "..", "examples", "iommufd-dirty-tracking.passthrough.yaml"), "utf8");
const IOVA = 0x1000_0000;

function run(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
}
const failures = (r: ReturnType<typeof run>) => r.outcomes.flatMap((o) => o.expect?.failures ?? []);
/** The example with its DMA steps cut after the `n`th. */
const firstDmas = (n: number) => EXAMPLE.split("\n  - dma:").slice(0, n + 1).join("\n  - dma:");

/** A and D of the four second-level entries (SL-PML4E .. SL-PTE) for IOVA of PASID 9, read from memory now. */
function adBits(r: ReturnType<typeof run>): string[] {
  const unit = (r.machine.hostIommu as VtdHost).unit;
  const pe = [...unit.sm.pc.values()].find((p) => p.pgtt === 2)!;
  const w = unit.walker;
  w.recordTrail = true;
  expect(w.walk(pe.slRoot, pe.slLevels, 0, IOVA, false, true)).toBe(0);
  w.recordTrail = false;
  const out: string[] = [];
  for (let i = 0; i < w.trailLen; i++) out.push(`${w.trailLo[i]! & SL_A ? "A" : "-"}${w.trailLo[i]! & SL_D ? "D" : "-"}`);
  return out;
}

describe("second-level A/D bits (SLADE)", () => {
  it("the example's expectations hold: read misses, the first write misses (D clear), the next write hits", () => {
    expect(failures(run(EXAMPLE))).toEqual([]);
  });

  it("a read sets A on every level and no D; a write sets D in the leaf", () => {
    expect(adBits(run(firstDmas(1)))).toEqual(["A-", "A-", "A-", "A-"]);
    expect(adBits(run(firstDmas(2)))).toEqual(["A-", "A-", "A-", "AD"]);
  });

  it("without dirty-tracking (SLADE = 0) the walk writes nothing and the read caches the writable page", () => {
    const text = EXAMPLE.replace("      dirty-tracking: true\n", "").replace("expect: { ok: true, iotlb: miss }\n  - dma: { device: \"02:00.0\", pasid: 9, iova: 0x1000_0000, length: 4KiB, write: true }\n    expect: { ok: true, iotlb: miss }", "expect: { ok: true, iotlb: miss }\n  - dma: { device: \"02:00.0\", pasid: 9, iova: 0x1000_0000, length: 4KiB, write: true }\n    expect: { ok: true, iotlb: hit }");
    const r = run(text);
    expect(failures(r)).toEqual([]);
    expect(adBits(r)).toEqual(["--", "--", "--", "--"]);
  });

  it("the PASID entry has SLADE; ECAP.SLADS is set; the decoded SL entries show A and D (only on a SLADS unit)", () => {
    const r = run(EXAMPLE);
    const unit = (r.machine.hostIommu as VtdHost).unit;
    expect((unit.ecap >> 45n) & 1n).toBe(1n);
    expect([...unit.sm.pc.values()].map((p) => p.slade)).toEqual([true]);
    expect(slpteLayout(unit.walker, 1, 0x1234_5000n | 0x303n).map((f) => `${f.name}=${f.value}`)).toEqual(["R=1", "W=1", "A=1", "D=1", "ADDR=0x12345000"]);
    const plain = (run(EXAMPLE.replace(", slads: true", "").replace("      dirty-tracking: true\n", "")).machine.hostIommu as VtdHost).unit;
    expect((plain.ecap >> 45n) & 1n).toBe(0n);
    expect(slpteLayout(plain.walker, 1, 0x1234_5000n | 0x303n).map((f) => f.name)).toEqual(["R", "W", "ADDR"]);
  });

  it("bad input: dirty-tracking without ECAP.SLADS, on a first-level bind; slads without scalable mode", () => {
    const errors = (text: string) => parseScenario(text, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errors(EXAMPLE.replace(", slads: true", ""))).toEqual(["dirty-tracking sets SLADE in the PASID entry, but host.iommu has no slads: true (ECAP.SLADS = 0)"]);
    expect(errors(EXAMPLE.replace("mode: second-level", "mode: first-level"))).toEqual(["Dirty tracking not supported on translation type first-level"]);
    expect(errors(EXAMPLE.replace("scalable: true, ", "")).some((m) => m.startsWith("host.iommu.slads is a scalable-mode capability"))).toBe(true);
  });
});

describe("iommufd dirty tracking on VT-d (IOMMU_HWPT_ALLOC_DIRTY_TRACKING, SET_DIRTY_TRACKING, GET_DIRTY_BITMAP)", () => {
  /** The example's workload up to (not including) its `n`th step after `start`, then `steps`. */
  const withSteps = (n: number, steps: string) => {
    const [head, work] = IOMMUFD.split("workload:\n") as [string, string];
    return `${head}workload:\n${work.split(/\n(?=  - )/).slice(0, n + 1).join("\n")}\n${steps}`;
  };
  const outcomes = (r: ReturnType<typeof run>) => r.outcomes.map((o) => [o.status, o.errno ?? null, o.dirty?.map((v) => `0x${v.toString(16)}`) ?? null]);

  it("the example's expectations hold: writes mark their pages, the read clears them, the next write marks again", () => {
    expect(failures(run(IOMMUFD))).toEqual([]);
  });

  it("EOPNOTSUPP without ECAP.SLADS, and in legacy mode (ssads_supported)", () => {
    for (const iommu of ["{ model: intel-vtd, address-width: 48, scalable: true }", "{ model: intel-vtd, address-width: 48 }"]) {
      const r = run(withSteps(1, "").replace(/iommu: \{[^}]*\}/, `iommu: ${iommu}`));
      expect(r.outcomes.at(-1)).toMatchObject({ status: "errno", errno: "EOPNOTSUPP" });
    }
  });

  it("SET_DIRTY_TRACKING on an hwpt allocated without the flag is EOPNOTSUPP; on a non-hwpt id ENOENT", () => {
    const r = run(withSteps(0, "  - iommufd: { vm: gpu01, ioctl: IOMMU_HWPT_SET_DIRTY_TRACKING, id: 3 }\n  - iommufd: { vm: gpu01, ioctl: IOMMU_HWPT_SET_DIRTY_TRACKING, id: 1 }\n"));
    expect(outcomes(r).slice(1)).toEqual([["errno", "EOPNOTSUPP", null], ["errno", "ENOENT", null]]);
  });

  it("tracking on sets SLADE in the device's RID_PASID entry; off clears it and the bitmap is refused (EINVAL)", () => {
    const on = run(withSteps(5, ""));
    const unit = (on.machine.hostIommu as VtdHost).unit;
    expect(failures(on)).toEqual([]);
    expect([...unit.sm.pc.values()].map((p) => [p.pgtt, p.slade])).toEqual([[2, true]]);
    const off = run(withSteps(5, "  - iommufd: { vm: gpu01, ioctl: IOMMU_HWPT_SET_DIRTY_TRACKING, id: 4, enable: false }\n  - dma: { device: \"01:00.0\", iova: 0x10_4000, length: 4KiB, write: true }\n  - iommufd: { vm: gpu01, ioctl: IOMMU_HWPT_GET_DIRTY_BITMAP, id: 4, iova: 0x10_0000, length: 64KiB }\n"));
    expect(outcomes(off).slice(-3)).toEqual([["ok", null, null], ["ok", null, null], ["errno", "EINVAL", null]]);
    expect([...(off.machine.hostIommu as VtdHost).unit.sm.pc.values()].map((p) => p.slade)).toEqual([false]);
  });

  it("with 2 MiB leaves a dirty leaf marks every 4 KiB page of the range it covers (iommu_dirty_bitmap_record)", () => {
    const text = IOMMUFD.replace("  backing: 4KiB\n", "").replace("expect: { dirty: [0x10_2000, 0x10_3000] }", "expect: { ok: true }");
    const r = run(text);
    const first = r.outcomes.find((o) => o.dirty !== undefined)!;
    expect(first.dirty!.length).toBe(16);
    expect(first.dirty![0]).toBe(0x10_0000n);
  });

  it("bad input: expect.dirty must be a list", () => {
    const errors = parseScenario(IOMMUFD.replace("expect: { dirty: [] }", "expect: { dirty: 0x10_0000 }"), "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errors).toEqual(["expect.dirty must be a list of IOVAs"]);
  });
});
