/**
 * Scalable-mode debugfs dumps and dumps of more than one DMAR unit as a real host's tables
 * (import/hostTables.ts). Sample: test/fixtures/evidence/debugfs-kabylake-sm.txt, the dmar1
 * (legacy) and dmar0 (scalable) rows of the kernel's Documentation/ABI/testing/debugfs-intel-iommu
 * dmar_translation_struct example (Jingqi Liu, 2024), rejoined into one line per row in the
 * seq_printf formats of drivers/iommu/intel/debugfs.c (print_tbl_walk), with a v5.15-6.3
 * domain_translation_struct (show_device_domain_translation) of each device: 00:02.0's rows from
 * the same document's legacy example, 00:0a.0's from its scalable-mode example (PASID 1 there),
 * here under the pgd the PASID 0 entry's SLPTPTR names; 00:0a.0's context entry has bits 6:5
 * cleared (the document prints 0x103220e7d; VT-d 9.4 and QEMU VTD_SM_CONTEXT_ENTRY_RSVD_VAL0
 * reserve them).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeEvidenceText } from "../../src/import/decode.js";
import { hostTablesScenario, hostTableUnits } from "../../src/import/hostTables.js";
import { synthesizeScenario } from "../../src/import/synthesize.js";
import { explainRecords } from "../../src/import/explain.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const fixture = readFileSync(join(__dirname, "..", "fixtures", "evidence", "debugfs-kabylake-sm.txt"), "utf8");
const pad = (v: bigint | number) => `0x${v.toString(16).padStart(16, "0")}`;
const HEADER = "B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry";
const PTE_HEADER = "IOVA_PFN\t\tPML5E\t\t\tPML4E\t\t\tPDPE\t\t\tPDE\t\t\tPTE";
/** print_tbl_walk: "%02x:%02x.%x\t0x%016llx:0x%016llx\t0x%016llx:0x%016llx\t" + "%-6d\t0x%016llx:0x%016llx:0x%016llx\n" (val[2]:val[1]:val[0]). */
const smRow = (dev: string, root: [number, number], ctx: [number, number], pasid: number, pe: [number, number, number]) =>
  `${dev}\t${pad(root[1])}:${pad(root[0])}\t${pad(ctx[1])}:${pad(ctx[0])}\t${String(pasid).padEnd(6)}\t${pad(pe[2])}:${pad(pe[1])}:${pad(pe[0])}`;
/** dump_page_info: "0x%013lx |\t0x%016llx\t..." (PML5E first). */
const pteRow = (pfn: number, ...path: number[]) => `0x${pfn.toString(16).padStart(13, "0")} |\t${path.map(pad).join("\t")}`;

function run(text: string) {
  const p = parseScenario(text, "host.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const r = runScenario(p.scenario!);
  expect(r.error).toBeUndefined();
  return r.run!;
}

describe("scalable-mode tables from dmar_translation_struct", () => {
  const records = decodeEvidenceText(fixture).records;
  const s = hostTablesScenario(records, "Kabylake dmar0", { unit: "dmar0" });

  it("each printed entry is written where the unit reads it: root entry, the context entry in the lower context table at 32-byte stride, a made-up PASID table holding the printed PASID entry, RTADDR with TTM = 01", () => {
    expect(s.text).toContain("iommu: { model: intel-vtd, scalable: true, address-width: 48, device-iotlb: true }"); // DTE in the context entry
    expect(s.text).toContain("poke: { address: 0x103028000, value: 0x1038a7001 }"); // root entry of bus 0 (LCTP)
    expect(s.text).toContain("poke: { address: 0x1038a7a00, value: 0x103220e1d }"); // LCTP + 32 * devfn 0x50
    // The PASID directory entry is not printed: a free page above every printed address holds PASID 0's entry.
    expect(s.text).toContain("poke: { address: 0x103220000, value: 0x147c03001 }");
    expect(s.text).toContain("poke: { address: 0x147c03000, value: 0x1038a5089 }");
    expect(s.text).toContain("poke: { address: 0x147c03008, value: 0x800002 }");
    expect(s.text).toContain("poke: { address: 0x1038a5000, value: 0x10df93003 }"); // SL-PML4E at SLPTPTR
    expect(s.text).toContain("poke: { register: RTADDR, value: 0x103028400 }");
    expect(s.notes.join("\n")).toMatch(/PASID directory entries are not in the dump .* 1 made-up PASID table page from 0x147c03000/);
  });

  it("Translate Address walks them with the one scalable-mode model: root, context, PASID directory and table entry, then the second-level table the dump printed", () => {
    const r = run(s.text);
    const x = r.machine.iommu.explain({ sid: 0x50, iova: 0x1abcn, write: true });
    expect(x.trail.entries.map((e) => [e.name, e.address, e.raw[0]])).toEqual([
      ["scalable-mode root entry", 0x103028000n, 0x1038a7001n],
      ["scalable-mode context entry", 0x1038a7a00n, 0x103220e1dn],
      ["PASID directory entry", 0x103220000n, 0x147c03001n],
      ["PASID table entry", 0x147c03000n, 0x1038a5089n],
      ["SL-PML4E", 0x1038a5000n, 0x10df93003n],
      ["SL-PDPE", 0x10df93000n, 0x106ae6003n],
      ["SL-PDE", 0x106ae6000n, 0x104b38003n],
      ["SL-PTE", 0x104b38008n, 0x147c01803n],
    ]);
    // The host's leaves have SNP (bit 11) set; the simulated unit has no snoop control: it faults them as reserved, and the import says so.
    expect(x.verdict).toMatchObject({ kind: "fault", reason: 0x7a });
    expect(s.notes.join("\n")).toMatch(/3 mappings of 00:0a\.0 have SNP \(bit 11\) set/);
    expect(s.text).not.toContain("translate:");
  });

  it("without SNP the scenario checks itself: its translate step walks the imported tables to the host's page; Mapping Tables shows the PASID entry and its table", () => {
    const t = hostTablesScenario(decodeEvidenceText(fixture.replace(/0x0000000147c0(\d)803/g, "0x0000000147c0$1003")).records, "no SNP", { unit: "dmar0" });
    expect(t.text).toContain('translate: { device: "00:0a.0", iova: 0x0 }');
    const r = run(t.text);
    expect(r.failedExpectations).toEqual([]);
    expect(r.expectations).toBe(1);
    expect(r.machine.iommu.explain({ sid: 0x50, iova: 0x2010n, write: true }).verdict).toMatchObject({ kind: "translated", hpa: 0x147c02010n });
    const bus0 = r.machine.iommu.tables().root.children().find((n) => n.kind === "root-entry")!;
    const ctx = bus0.children().find((n) => n.kind === "context-entry")!;
    expect(ctx.address).toBe(0x1038a7a00n);
    const pe = ctx.children().find((n) => n.kind === "pasid-entry");
    expect(pe && pe.kind === "pasid-entry" ? { pasid: pe.pasid, did: pe.did, translation: pe.translation, levels: pe.levels, pageTable: pe.pageTable } : undefined).toEqual({ pasid: 0, did: 2, translation: "second-level", levels: 4, pageTable: 0x1038a5000n });
  });

  it("devfn 0x80 and above: the context entry is in the upper context table (UCTP); a first-level PASID entry walks first-level entries (levels from FLPM)", () => {
    const text = [
      "IOMMU dmar0: Root Table Address: 0x200000000",
      HEADER,
      // 00:1f.3 = devfn 0xfb: UCTP 0x200002000 + 32 * 0x7b; PASID 0: PGTT 001, DID 5, PWSNP (bit 87, as Linux
      // writes it on a unit with ECAP.SMPWC), FLPTPTR 0x200005000, FLPM 0 (4-level).
      smRow("00:1f.3", [0x200001001, 0x200002001], [0x200003209, 0], 0, [0x41, 0x800005, 0x200005000]),
      "Device 0000:00:1f.3 @0x200005000",
      PTE_HEADER,
      // First-level entries: P | R/W | U/S (Linux's __domain_mapping for first-level domains).
      pteRow(0x40, 0, 0x200006007, 0x200007007, 0x200008007, 0x300040007),
    ].join("\n");
    const t = hostTablesScenario(decodeEvidenceText(text).records);
    expect(t.text).toContain("poke: { address: 0x200002f60, value: 0x200003209 }");
    // The made-up PASID table: the first page above every printed address (the leaf's page included).
    expect(t.text).toContain("poke: { address: 0x200003000, value: 0x300041001 }");
    expect(t.text).toContain("poke: { address: 0x300041010, value: 0x200005000 }");
    expect(t.text).not.toContain("device-iotlb");
    const r = run(t.text);
    expect(r.failedExpectations).toEqual([]);
    const x = r.machine.iommu.explain({ sid: 0xfb, iova: 0x40123n, write: true });
    expect(x.verdict).toMatchObject({ kind: "translated", hpa: 0x300040123n });
    expect(x.trail.entries.slice(4).map((e) => e.name)).toEqual(["FL-PML4E", "FL-PDPE", "FL-PDE", "FL-PTE"]);
    // The same row with PWSNP = 0 (a unit without SMPWC): the entries' A bits are clear, so the walk
    // that must set them faults 0x90 (VT-d 3.10), as a dump from such a unit would.
    const noSnoop = hostTablesScenario(decodeEvidenceText(text.replace("0x0000000000800005", "0x0000000000000005")).records);
    expect(run(noSnoop.text).machine.iommu.explain({ sid: 0xfb, iova: 0x40123n, write: true }).verdict).toMatchObject({ kind: "fault", reason: 0x90 });
  });

  it("a scalable-mode row with a PASID entry not present (Baolu Lu's row) is imported; the model answers the fault", () => {
    const text = ["IOMMU dmar0: Root Table Address: 0x105a82000", HEADER, smRow("00:02.0", [0x105a85001, 0], [0x105a84405, 0], 0, [0, 0, 0])].join("\n");
    const t = hostTablesScenario(decodeEvidenceText(text).records);
    expect(t.hostTables).toBeGreaterThan(0);
    const r = run(t.text);
    expect(r.machine.iommu.explain({ sid: 0x10, iova: 0x1000n, write: false }).verdict).toMatchObject({ kind: "fault", reason: 0x59 });
  });
});

describe("more than one DMAR unit", () => {
  const records = decodeEvidenceText(fixture).records;

  it("hostTableUnits lists each unit with tables, the default first; each can be imported as its own scenario", () => {
    expect(hostTableUnits(records)).toEqual([
      { name: "dmar1", contexts: 1, scalable: false },
      { name: "dmar0", contexts: 1, scalable: true },
    ]);
    const legacy = hostTablesScenario(records, "dmar1", { unit: "dmar1" });
    expect(legacy.text).toContain("poke: { register: RTADDR, value: 0x103027000 }");
    expect(legacy.text).toContain('translate: { device: "00:02.0", iova: 0x8d800000 }');
    expect(legacy.text).not.toContain("scalable: true");
    expect(legacy.notes.join("\n")).toContain("dmar0: 1 context entry not imported");
    // 00:0a.0's page table belongs to dmar0: not written into dmar1's scenario.
    expect(legacy.notes.join("\n")).toContain("page table of 00:0a.0 not imported: its context entry is dmar0's");
    expect(legacy.text).not.toContain("0x10df93003");
    expect(run(legacy.text).failedExpectations).toEqual([]);
  });

  it("Create Scenario from Evidence takes the unit the user picked", () => {
    const s = synthesizeScenario(records, "picked", { unit: "dmar0" });
    expect(s.text).toContain("scalable: true");
    const none = hostTablesScenario(records, "x", { unit: "dmar7" });
    expect(none.notes.join("\n")).toContain("there is no unit dmar7 in the dump (units: dmar1, dmar0)");
  });
});

describe("explain on a scalable-mode row", () => {
  it("decodes the scalable context entry and the PASID entry with the model's own layouts", () => {
    const records = decodeEvidenceText(fixture).records;
    const e = explainRecords(records).find((x) => records[x.record]!.fields.device === "00:0a.0" && records[x.record]!.fields.part === "context")!;
    expect(e.title).toBe("Scalable-mode context entry of 00:0a.0, PASID 0 (host tables from debugfs)");
    expect(e.meaning).toContain("PASIDDIRPTR 0x103220000");
    expect(e.meaning).toContain("PDTS 7");
    expect(e.meaning).toContain("PGTT 2 (second-level)");
    expect(e.meaning).toContain("SLPTPTR 0x1038a5000");
    expect(e.meaning).toContain("DID 2");
  });
});
