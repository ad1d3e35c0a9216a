// A/D updates on a unit whose scalable-mode page walks are not snooped (ECAP.SMPWC = 0, so Linux
// writes PWSNP = 0 into each PASID entry): VT-d 3.10 makes an A/D update of such an entry a fault,
// 0x90 at a first-level entry and 0x7c at a second-level one with SLADE (examples/ad-update-no-snoop).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";
import { FL_A } from "../../src/sim/vtd/flpt.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "ad-update-no-snoop.passthrough.yaml"), "utf8");
const IOMMUFD = readFileSync(join(__dirname, "..", "..", "examples", "iommufd-dirty-tracking.passthrough.yaml"), "utf8");
const SID = 0x0200;

function run(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
}
const errors = (text: string) => parseScenario(text, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
const failures = (r: ReturnType<typeof run>) => r.outcomes.flatMap((o) => o.expect?.failures ?? []);
const dmesg = (r: ReturnType<typeof run>) => r.machine.log.lines.map((l) => l.text);
const upTo = (marker: string) => EXAMPLE.slice(0, EXAMPLE.indexOf(marker));
/** Everything but the example's expectations (the model's answers are then read directly). */
const noExpect = (t: string) => t.replace(/\n    expect: \{[^}]*\}/g, "");

describe("A/D updates without snooped page walks", () => {
  it("the example: a first-level entry with A clear faults 0x90, a second-level walk with SLADE 0x7c, with Linux's lines", () => {
    const r = run(EXAMPLE);
    expect(failures(r)).toEqual([]);
    expect(dmesg(r).filter((l) => l.includes("fault reason"))).toEqual([
      "DMAR: [DMA Read PASID 0x7] Request device [02:00.0] fault addr 0x7f0000100000 [fault reason 0x90] SM: A/D bit update needed in first-level entry when set up in no snoop",
      "DMAR: [DMA Read PASID 0x9] Request device [02:00.0] fault addr 0x10000000 [fault reason 0x7c] SM: A/D bit update needed in second-level entry when set up in no snoop",
    ]);
  });

  it("the faulting walk writes nothing: the leaf's A stays clear", () => {
    const r = run(EXAMPLE);
    const e = r.machine.iommu.explain({ sid: SID, pasid: 7, iova: 0x7f00_0010_0000n, write: false });
    const leaf = e.trail.entries.filter((x) => x.kind === "pte").at(-1)!;
    expect(Number(leaf.raw[0]! & BigInt(FL_A))).toBe(0);
  });

  it("explain gives the DMA's answer (one walk): 0x90 for the untouched page, a translation for the touched one", () => {
    const r = run(EXAMPLE);
    expect(r.machine.iommu.explain({ sid: SID, pasid: 7, iova: 0x7f00_0010_0000n, write: false }).verdict).toMatchObject({ kind: "fault", reason: 0x90 });
    expect(r.machine.iommu.explain({ sid: SID, pasid: 7, iova: 0x7f00_0000_0000n, write: true }).verdict).toMatchObject({ kind: "translated" });
  });

  it("ECAP.SMPWC and PWSNP: set by default (the same steps translate and set A/D), clear with smpwc: false", () => {
    const snooped = run(noExpect(EXAMPLE.replace(", smpwc: false", "")));
    expect(snooped.outcomes.map((o) => o.summary).filter((s) => s.includes("bytes"))).toEqual(["4096 bytes written; 0/1 IOTLB hits", "4096 bytes read; 0/1 IOTLB hits", "4096 bytes read; 0/1 IOTLB hits"]);
    const ecap = (r: ReturnType<typeof run>) => ((r.machine.hostIommu as VtdHost).unit.ecap >> 48n) & 1n;
    expect(ecap(snooped)).toBe(1n);
    const off = run(EXAMPLE);
    expect(ecap(off)).toBe(0n);
    const pwsnp = (r: ReturnType<typeof run>) => r.machine.iommu.explain({ sid: SID, pasid: 7, iova: 0x7f00_0000_0000n, write: false }).trail.entries.find((x) => x.name === "PASID table entry")!.fields.find((f) => f.name === "PWSNP")!.value;
    expect(pwsnp(snooped)).toBe("1");
    expect(pwsnp(off)).toBe("0");
  });

  it("kernels from v6.18 refuse dirty tracking on the unit; smpwc outside scalable mode is an error", () => {
    expect(errors(EXAMPLE)).toEqual([]);
    expect(errors(EXAMPLE.replace('kernel: "6.8"', 'kernel: "6.18"'))).toEqual(["dirty-tracking needs page walks that snoop (ECAP.SMPWC), but host.iommu has smpwc: false"]);
    expect(errors(upTo("workload:").replace("scalable: true, slads: true, smpwc: false", "smpwc: false") + "workload: []\n")).toHaveLength(1);
  });

  it("iommufd: IOMMU_HWPT_ALLOC with dirty tracking is EOPNOTSUPP on such a unit from v6.18, allowed on 6.8", () => {
    const alloc = '  - iommufd: { vm: gpu01, ioctl: IOMMU_HWPT_ALLOC, device: "01:00.0", pt: 1, dirty-tracking: true }\n';
    const upToAlloc = IOMMUFD.slice(0, IOMMUFD.indexOf(alloc) + alloc.length).replace("slads: true }", "slads: true, smpwc: false }");
    const withKernel = (k: string) => upToAlloc.replace("  iommu: {", `  kernel: "${k}"\n  iommu: {`);
    expect(failures(run(withKernel("6.18") + "    expect: { errno: EOPNOTSUPP }\n"))).toEqual([]);
    expect(failures(run(withKernel("6.8") + "    expect: { ok: true }\n"))).toEqual([]);
  });
});

describe("explain: the no-snoop A/D faults from a log", () => {
  it("0x90 names the missing preset A bit, the kernel fix and ECAP.SMPWC; 0x7c names dirty tracking", async () => {
    const { decodeEvidenceText } = await import("../../src/import/decode.js");
    const { explainRecords } = await import("../../src/import/index.js");
    const explainText = (t: string) => JSON.stringify(explainRecords(decodeEvidenceText(t).records));
    const fl = explainText("DMAR: DRHD: handling fault status reg 2\nDMAR: [DMA Read PASID 0x7] Request device [02:00.0] fault addr 0x7f0000100000 [fault reason 0x90] SM: A/D bit update needed in first-level entry when set up in no snoop\n");
    expect(fl).toMatch(/242b0aaeabbe/);
    expect(fl).toMatch(/bit 48 is SMPWC/);
    const sl = explainText("DMAR: DRHD: handling fault status reg 2\nDMAR: [DMA Read PASID 0x9] Request device [02:00.0] fault addr 0x10000000 [fault reason 0x7c] SM: A/D bit update needed in second-level entry when set up in no snoop\n");
    expect(sl).toMatch(/57f55048e564/);
  });
});
