// A stage-2 nesting parent (IOMMU_HWPT_ALLOC_NEST_PARENT) on an SMMUv3 host is the seam's domain
// 0x8000 | VMID (smmuv3/nested.ts nestParentDid): the DMA Trace, the step summaries, the export and
// the debugger name it by the VMID its STEs carry ("S2 VMID 1"), while the seam still finds it by
// that number (HostIommu.domain).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import { TraceQuery } from "../../src/engine/traceQuery.js";
import { exportRows } from "../../src/engine/traceExport.js";
import { readRow, rowCells, type RowFields } from "../../src/trace/rowDisplay.js";
import { EventKind } from "../../src/trace/trace.js";
import { runSmmuScenario } from "./smmuv3-helpers.js";

const FILE = "examples/smmuv3-veventq.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");
/** The example with one IOMMU_IOAS_MAP after the nesting parent exists: iommufd maps it into every domain of IOAS 1, the parent's too (map rows). */
const withMap = example.replace("  - iommufd: { vm: arm01, ioctl: IOMMU_VIOMMU_ALLOC", "  - iommufd: { vm: arm01, ioctl: IOMMU_IOAS_MAP, ioas: 1, iova: 0x1_0000_0000, gpa: 0x4000_0000, length: 64KiB }\n    expect: ok\n  - iommufd: { vm: arm01, ioctl: IOMMU_VIOMMU_ALLOC");

describe("an SMMUv3 nesting parent's domain as the user knows it", () => {
  it("step summaries say S2 VMID 1, not 32769; the seam still finds the domain by 0x8000 | VMID", () => {
    const { outs, host } = runSmmuScenario(example, FILE);
    const parent = host.driver.domains.find((d) => d.nestParent === true)!;
    expect(outs[1]!.summary).toContain(`a stage-2 nesting parent (IOMMU_HWPT_ALLOC_NEST_PARENT), domain S2 VMID ${parent.vmid} for 01:00.0's IOMMU`);
    expect(outs[2]!.summary).toBe(`IOMMU_VIOMMU_ALLOC -> vIOMMU 5 (IOMMU_VIOMMU_TYPE_ARM_SMMUV3) on nesting parent hwpt 4 (domain S2 VMID ${parent.vmid})`);
    for (const o of outs) expect(o.summary).not.toContain("32769");
    expect(host.domain(0x8000 | parent.vmid)?.label).toBe(`S2 VMID ${parent.vmid}`);
    // A plain stage-2 or stage-1 domain keeps its number: no label.
    expect(host.driver.domains.filter((d) => d.nestParent !== true).map((d) => host.domain(d.stage === 1 ? d.asid : d.vmid)?.label)).toEqual(host.driver.domains.filter((d) => d.nestParent !== true).map(() => undefined));
  });

  it("the trace's map rows of the nesting parent show S2 VMID 1 in the domain column, in the search and the export", () => {
    const sess = new Session("veventq.passthrough.yaml");
    sess.update(withMap);
    const run = sess.run!;
    const q = new TraceQuery(run, sess.scenario!, () => "01:00.0");
    const names = q.domainNames();
    const t = run.trace;
    const mapRows = [...Array(t.length).keys()].filter((i) => t.kind[i] === EventKind.Map && (t.did[i]! & 0x8000) !== 0);
    expect(mapRows.length).toBeGreaterThan(0);
    const did = t.did[mapRows[0]!]!;
    expect(names).toEqual({ [did]: `S2 VMID ${did & 0x7fff}` });
    const r: RowFields = { index: 0, step: 0, kind: 0, flags: 0, level: 0, reason: 0, sid: 0, did: 0, aLo: 0, aHi: 0, bLo: 0, bHi: 0, pasid: -1, cause: -1 };
    readRow(t, mapRows[0]!, mapRows[0]!, r);
    expect(rowCells(r, undefined, "hex", undefined, undefined, names)[8]).toBe("S2 VMID 1");
    // Without the names (an old webview): the number, as before.
    expect(rowCells(r, undefined, "hex")[8]).toBe(String(did));
    expect([...q.match({ text: "s2 vmid 1" })]).toEqual(mapRows);
    const csv = exportRows(q, run, {}, "csv", 0, t.length, () => "01:00.0").text;
    expect(csv).toContain(",S2 VMID 1,");
    expect(csv).not.toContain(`,${did},`);
  });
});
