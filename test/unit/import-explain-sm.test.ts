/**
 * Scalable-mode fault reasons have their own causes and checks (issue 19, "specific answers"):
 * a first-stage fault points at the PASID's address space and PRI, a structure error at the
 * scalable-mode setup, never at "corrupted tables" first. Lines in the 5.15+ format (reference §3)
 * with the SM reason texts of Linux's dma_remap_sm_fault_reasons[].
 */
import { describe, expect, it } from "vitest";
import { explainRecords, importText } from "../../src/import/index.js";

const line = (reason: number, text: string, pasid = "PASID 0x2") => `[  812.0] DMAR: [DMA Write ${pasid}] Request device [6a:01.0] fault addr 0x7f3a12345000 [fault reason 0x${reason.toString(16).padStart(2, "0")}] ${text}`;
const explain = (l: string) => {
  const r = importText(l);
  expect(r.records.map((x) => x.kind)).toEqual(["dmar-fault"]);
  return explainRecords(r.records)[0]!;
};

describe("scalable-mode explanations", () => {
  it("a first-level entry not present (0x71) with a PASID: the SVA page and PRI first, and the PASID checks", () => {
    const e = explain(line(0x71, "SM: Present bit in first-level paging entry is clear"));
    expect(e.meaning).toContain("PASID 2's first-level table (with SVA: the bound process's page table) found no usable entry for page 0x7f3a12345000");
    expect(e.causes[0]).toMatch(/not present in PASID 2's first-level table .* page requests \(PRI\)/);
    expect(e.checks[0]).toBe("lspci -vvv -s 6a:01.0: PASIDCtl Enable+ and PRICtl Enable+ (without PRI every page must be present before the DMA).");
    expect(e.checks.join("\n")).toContain("/sys/kernel/debug/iommu/intel/dmar_translation_struct");
  });

  it("a non-canonical address (0x80) and a user request to a supervisor page (0x81) say so", () => {
    expect(explain(line(0x80, "SM: Address in first-level translation is not canonical")).meaning).toContain("the address is not canonical");
    expect(explain(line(0x81, "SM: U/S set 0 for first-level translation with user privilege")).meaning).toContain("a user-privilege request reached a supervisor-only page (U/S = 0)");
  });

  it("a scalable-mode structure error (0x3a, reserved bits in the root entry): the mode mismatch first, the ECAP.SMTS check", () => {
    const e = explain(line(0x3a, "SM: Non-zero reserved field set in Root Entry", "NO_PASID"));
    expect(e.meaning).toContain("IOVA 0x7f3a12345000 itself is not the problem");
    expect(e.causes[0]).toMatch(/disagree on scalable mode/);
    expect(e.checks[0]).toMatch(/SMTS \(bit 43\)/);
  });

  it("a second-level permission fault under scalable mode (0x79) is explained like the legacy one", () => {
    const e = explain(line(0x79, "SM: Read/Write permission error in second-level paging entry"));
    expect(e.causes[0]).toMatch(/was never mapped for 6a:01\.0/);
  });
});
