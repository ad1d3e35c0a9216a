/**
 * The Intel IOMMU driver's debugfs dumps as a real host's tables (import/debugfs.ts,
 * import/hostTables.ts). Samples:
 * - test/fixtures/evidence/debugfs-kabylake.txt: the Kabylake examples of the kernel's own
 *   Documentation/ABI/testing/debugfs-intel-iommu (Jingqi Liu, 2024), rejoined into the one line per
 *   row the kernel prints (the document wraps the columns), with CAP/ECAP of the same unit from a
 *   Kabylake boot log ("dmar0: reg_base_addr fed90000 ver 1:0 cap 1c0000c40660462 ecap 19e2ff0505e")
 *   and its context entry's SLPTPTR set to the page table the domain dump shows (README in fixtures);
 * - the format of each kernel generation, rendered from the seq_printf strings of
 *   drivers/iommu/intel/debugfs.c (v4.20 intel-iommu-debugfs.c, v5.15 and v6.4+);
 * - the scalable-mode row Baolu Lu pasted to iommu@lists.linux.dev (November 2025).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeEvidenceText } from "../../src/import/decode.js";
import { parseDebugfs } from "../../src/import/debugfs.js";
import { hostTablesScenario } from "../../src/import/hostTables.js";
import { synthesizeScenario } from "../../src/import/synthesize.js";
import { explainRecords } from "../../src/import/explain.js";
import { recordToJson } from "../../src/import/json.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";

const fixture = readFileSync(join(__dirname, "..", "fixtures", "evidence", "debugfs-kabylake.txt"), "utf8");
const pad = (v: bigint | number) => `0x${v.toString(16).padStart(16, "0")}`;

function run(text: string) {
  const p = parseScenario(text, "host.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const r = runScenario(p.scenario!);
  expect(r.error).toBeUndefined();
  return r.run!;
}

describe("debugfs lines of every kernel generation", () => {
  it("v4.20 dmar_translation_struct (no PASID columns), v5.x with them, and the 'not enabled' line", () => {
    const lines = [
      "IOMMU dmar0: Root Table Address:103027000",
      "B.D.F\tRoot_entry\t\t\t\tContext_entry",
      "00:14.0\t0x0000000000000000:0x000000010303e001\t0x0000000000000102:0x000000010303f001",
      "IOMMU dmar1: Root Table Address: 0x103028000",
      "B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry",
      `01:00.1\t${pad(0)}:${pad(0x103040001)}\t${pad(0x202)}:${pad(0x103041001)}\t-1    \t${pad(0)}:${pad(0)}:${pad(0)}`,
      "DMA Remapping is not enabled on dmar2",
    ];
    const r = parseDebugfs(lines);
    expect(r.map((x) => x.fields.part)).toEqual(["root-table", "header", "context", "root-table", "header", "context", "not-enabled"]);
    expect(r[0]!.fields).toMatchObject({ unit: "dmar0", address: "0x103027000" });
    expect(r[2]!.fields).toMatchObject({ device: "00:14.0", rootLo: "0x10303e001", rootHi: "0x0", contextLo: "0x10303f001", contextHi: "0x102" });
    expect(r[2]!.fields.pasid).toBeUndefined();
    expect(r[5]!.fields).toMatchObject({ device: "01:00.1", pasid: -1 });
  });

  it("domain_translation_struct: v5.15-6.3 (dev_name, five columns always) and v6.4+ (a 2 MiB leaf row ends at its PDE)", () => {
    const old = parseDebugfs([
      "Device 0000:00:02.0 @0x1017f8000",
      "IOVA_PFN\t\tPML5E\t\t\tPML4E\t\t\tPDPE\t\t\tPDE\t\t\tPTE",
      `0x00000000fee00 |\t${pad(0)}\t${pad(0x1017f9003)}\t${pad(0x1017fa003)}\t${pad(0x1017fb003)}\t${pad(0xfee00003)}`,
    ]);
    expect(old.map((x) => x.fields.part)).toEqual(["domain", "header", "pte"]);
    expect(old[0]!.fields).toMatchObject({ device: "00:02.0", segment: 0, pgd: "0x1017f8000" });
    expect(old[2]!.fields).toMatchObject({ iovaPfn: "0xfee00", entries: "0x0,0x1017f9003,0x1017fa003,0x1017fb003,0xfee00003" });
    const v64 = parseDebugfs([
      "Device 0000:3b:00.0 with pasid 1 @0x10c112000",
      `${"IOVA_PFN".padEnd(17)}\t${"PML5E".padEnd(18)}\t${"PML4E".padEnd(18)}\t${"PDPE".padEnd(18)}\t${"PDE".padEnd(18)}\tPTE`,
      `0x0000000040000 |\t${pad(0)}\t${pad(0x10df93003)}\t${pad(0x106ae6003)}\t${pad(0x40000083)}`,
    ]);
    expect(v64.map((x) => x.fields.part)).toEqual(["domain", "header", "pte"]);
    expect(v64[0]!.fields).toMatchObject({ device: "3b:00.0", pasid: 1 });
    expect(v64[2]!.fields.entries).toBe("0x0,0x10df93003,0x106ae6003,0x40000083");
  });

  it("iommu_regset: the unit header and each register with its offset (%-16s\\t0x%02x\\t\\t0x%016llx)", () => {
    const r = parseDebugfs(["IOMMU: dmar0 Register Base Address: fed90000", "Name\t\t\tOffset\t\tContents", `${"RTADDR".padEnd(16)}\t0x20\t\t${pad(0x103027000)}`, `${"MTRR_PHYSMASK9".padEnd(16)}\t0x1a8\t\t${pad(0)}`]);
    expect(r.map((x) => x.fields.part)).toEqual(["unit", "header", "register", "register"]);
    expect(r[2]!.fields).toMatchObject({ register: "RTADDR", offset: 0x20, value: "0x103027000" });
    expect(r[3]!.fields).toMatchObject({ register: "MTRR_PHYSMASK9", offset: 0x1a8 });
  });

  it("a row whose columns ran together (a lost tab) is no record: skipped with a reason, never an exception (found by the fuzz suite)", () => {
    const r = decodeEvidenceText(`Device 0000:00:02.0 @0x1017f8000\n0x000000008d801 |\t${pad(0)}${pad(0x1017f9003)}\t${pad(0x1017fa003)}\t${pad(0x1017fb003)}\t${pad(0x8d801003)}\n`);
    expect(r.records.map((x) => x.fields.part)).toEqual(["domain"]);
    expect(r.skipped.map((s) => s.line)).toEqual([1]);
  });

  it("a mail quote and a paste's indentation are read; the shell prompt is skipped with a reason", () => {
    const r = decodeEvidenceText(`$ sudo cat /sys/kernel/debug/iommu/intel/dmar_translation_struct\n> IOMMU dmar0: Root Table Address: 0x105a82000\n>   00:02.0\t${pad(0)}:${pad(0x105a85001)}\t${pad(0)}:${pad(0x105a84001)}\t-1\t${pad(0)}:${pad(0)}:${pad(0)}\n`);
    expect(r.records.map((x) => x.kind)).toEqual(["vtd-debugfs", "vtd-debugfs"]);
    expect(r.skipped.map((s) => s.line)).toEqual([0]);
    expect(r.skipped[0]!.reason).toBeTruthy();
  });
});

describe("a real host's tables, walked by the VT-d model", () => {
  const decoded = decodeEvidenceText(fixture);
  const s = synthesizeScenario(decoded.records, "Kabylake host tables");

  it("the fixture decodes to registers, the context entry and three page-table rows, nothing skipped but the shell prompts", () => {
    const parts = decoded.records.map((r) => r.fields.part);
    expect(parts.filter((p) => p === "register")).toHaveLength(8);
    expect(parts.filter((p) => p === "context")).toHaveLength(1);
    expect(parts.filter((p) => p === "pte")).toHaveLength(3);
    expect(decoded.skipped.every((x) => /^\$ sudo cat/.test(fixture.split("\n")[x.line]!))).toBe(true);
  });

  it("Create Scenario from Evidence writes each printed entry at its host address and points RTADDR at the root table", () => {
    expect(s.hostTables).toBe(10);
    expect(s.text).toContain("poke: { address: 0x103027000, value: 0x10303e001 }"); // root entry of bus 0 at RTA + 0
    expect(s.text).toContain("poke: { address: 0x10303e100, value: 0x1017f8005 }"); // context entry 00:02.0: devfn 0x10 * 16
    expect(s.text).toContain("poke: { address: 0x1017fb008, value: 0x8d801003 }"); // SL-PTE[1] of IOVA 0x8d801000
    expect(s.text).toContain("poke: { register: RTADDR, value: 0x103027000 }");
    // CAP 0x1c0000c40660462: SAGAW 4-level only, one fault recording register, 2 MiB and 1 GiB pages; ECAP.DT for the T = 01 entry.
    expect(s.text).toMatch(/iommu: \{ model: intel-vtd, address-width: 48, sagaw: \[ 48 \], caching-mode: false, fault-records: 1, device-iotlb: true, pass-through: true, superpages: \[ 2MiB, 1GiB \] \}/);
  });

  it("the scenario passes simulate: its translate step walks the imported tables to the host's page", () => {
    const r = run(s.text);
    expect(r.failedExpectations).toEqual([]);
    expect(r.expectations).toBe(1);
  });

  it("Mapping Tables (the contract's tables()) shows the host's root table, context entry and domain; explain's trail reads the printed entries at their addresses", () => {
    const r = run(s.text);
    const unit = r.machine.iommu;
    const t = unit.tables();
    expect(t.root.address).toBe(0x103027000n);
    const bus0 = t.root.children().find((n) => n.kind === "root-entry");
    expect(bus0 && bus0.kind === "root-entry" && bus0.contextTable).toBe(0x10303e000n);
    const ctx = bus0!.children().find((n) => n.kind === "context-entry");
    expect(ctx && ctx.kind === "context-entry" ? { sid: ctx.sid, did: ctx.did, pageTable: ctx.pageTable, levels: ctx.levels, translation: ctx.translation } : undefined).toEqual({ sid: 0x10, did: 1, pageTable: 0x1017f8000n, levels: 4, translation: "translated+device-TLB" });
    const x = unit.explain({ sid: 0x10, iova: 0x8d802abcn, write: true });
    expect(x.verdict.kind).toBe("translated");
    expect(x.verdict.hpa).toBe(0x8d802abcn);
    expect(x.trail.entries.map((e) => [e.name, e.address, e.raw[0]])).toEqual([
      ["root entry", 0x103027000n, 0x10303e001n],
      ["context entry", 0x10303e100n, 0x1017f8005n],
      ["SL-PML4E", 0x1017f8000n, 0x1017f9003n],
      ["SL-PDPE", 0x1017f9010n, 0x1017fa003n],
      ["SL-PDE", 0x1017fa360n, 0x1017fb003n],
      ["SL-PTE", 0x1017fb010n, 0x8d802003n],
    ]);
    // A page the dump does not list is not mapped on the host either: the model's fault, from its own walk.
    const miss = unit.explain({ sid: 0x10, iova: 0x8d803000n, write: false });
    expect(miss.verdict).toMatchObject({ kind: "fault", reason: 6 });
  });

  it("decode --json: every debugfs line is a record of source debugfs, its type the part, the device and table address filled", () => {
    const ctx = decoded.records.find((r) => r.fields.part === "context")!;
    expect(recordToJson(ctx, "f")).toMatchObject({ source: "debugfs", type: "debugfs-context", bdf: "0000:00:02.0", address: null, pasid: null, contextLo: "0x1017f8005" });
    const dom = decoded.records.find((r) => r.fields.part === "domain")!;
    expect(recordToJson(dom, "f")).toMatchObject({ source: "debugfs", type: "debugfs-domain", bdf: "0000:00:02.0", address: "0x1017f8000" });
  });

  it("explain decodes the context row with the model's own layout", () => {
    const e = explainRecords(decoded.records).find((x) => decoded.records[x.record]!.fields.part === "context")!;
    expect(e.meaning).toContain("DID 1");
    expect(e.meaning).toContain("AW 2 (48-bit, 4-level)");
    expect(e.meaning).toContain("SLPTPTR 0x1017f8000");
  });
});

describe("what is not imported is said, never guessed", () => {
  const ctxRow = (dev: string, rootLo: number, lo: number, hi = 0x102, pasid = -1) => `${dev}\t${pad(0)}:${pad(rootLo)}\t${pad(hi)}:${pad(lo)}\t${String(pasid).padEnd(6)}\t${pad(0)}:${pad(0)}:${pad(0)}`;

  it("scalable mode (PASID entries) is imported now (import-debugfs-sm.test.ts); what debugfs does not print, the PASID directory entry, is said to be made up", () => {
    const r = decodeEvidenceText(["IOMMU dmar0: Root Table Address: 0x105a82000", ctxRow("00:02.0", 0x105a85001, 0x105a84405, 0, 0)].join("\n"));
    const s = hostTablesScenario(r.records);
    expect(s.hostTables).toBe(8);
    expect(s.notes.join("\n")).toMatch(/PASID directory entries are not in the dump/);
    run(s.text);
  });

  // Changed on purpose (multi-unit hosts): both units with tables are imported as host.iommus; the
  // disabled dmar2 is noted. Asked for one unit, the other is noted as before.
  it("every unit with tables is imported (host.iommus); a disabled unit is noted; an entry printed twice with two values keeps the first", () => {
    const text = [
      "IOMMU dmar0: Root Table Address: 0x103028000",
      ctxRow("00:0a.0", 0x1038a7001, 0x103220001),
      "IOMMU dmar1: Root Table Address: 0x103027000",
      ctxRow("00:14.0", 0x10303e001, 0x10303f001),
      ctxRow("00:16.0", 0x10303e001, 0x10304f001),
      ctxRow("00:16.0", 0x10303e001, 0x10305f001),
      "DMA Remapping is not enabled on dmar2",
    ].join("\n");
    const s = hostTablesScenario(decodeEvidenceText(text).records);
    const notes = s.notes.join("\n");
    expect(notes).toContain("dmar2 has DMA remapping off");
    expect(notes).toMatch(/context entry of 00:16\.0 at 0x10303eb00 is 0x10305f001, but line 5 printed 0x10304f001/);
    expect(s.text).toContain("poke: { register: RTADDR, unit: dmar0, value: 0x103028000 }");
    expect(s.text).toContain("poke: { register: RTADDR, unit: dmar1, value: 0x103027000 }");
    expect(s.text).toContain('{ model: intel-vtd, address-width: 48, devices: [ "00:0a.0" ] }');
    const both = run(s.text);
    // Each device's context entry is read from its own unit's root table.
    const m = both.machineBefore(both.outcomes.length);
    expect(m.iommu.explain({ sid: 0x50, iova: 0n, write: false }).trail.entries[0]!.address).toBe(0x103028000n);
    expect(m.iommu.explain({ sid: 0xa0, iova: 0n, write: false }).trail.entries[0]!.address).toBe(0x103027000n);
    const one = hostTablesScenario(decodeEvidenceText(text).records, "t", { unit: "dmar1" });
    expect(one.notes.join("\n")).toContain("dmar0: 1 context entry not imported (imported: dmar1");
    expect(one.text).toContain("poke: { register: RTADDR, value: 0x103027000 }");
    run(one.text);
  });

  it("a dump longer than one import slice (4096 lines) loses no row: every row is a self-contained record", () => {
    const rows: string[] = ["IOMMU dmar0: Root Table Address: 0x200000000", ctxRow("01:00.0", 0x200001001, 0x200002001), "Device 0000:01:00.0 @0x200002000"];
    // 4300 4 KiB pages from IOVA 0: PML4E[0] -> PDPE[0] -> PDE[k >> 9] -> PTE[k & 511].
    for (let k = 0; k < 4300; k++) rows.push(`0x${k.toString(16).padStart(13, "0")} |\t${pad(0)}\t${pad(0x200003003)}\t${pad(0x200004003)}\t${pad(0x200010003 + (k >> 9) * 0x1000)}\t${pad(0x300000003 + k * 0x1000)}`);
    const r = decodeEvidenceText(rows.join("\n"));
    expect(r.records.filter((x) => x.fields.part === "pte")).toHaveLength(4300);
    const s = hostTablesScenario(r.records);
    expect(s.notes).toEqual([]);
    // 2 root, 2 context, PML4E, PDPE, 9 PDEs, 4300 PTEs.
    expect(s.hostTables).toBe(4315);
    const run1 = run(s.text);
    expect(run1.failedExpectations).toEqual([]);
    const x = run1.machine.iommu.explain({ sid: 0x100, iova: 4299n * 4096n + 8n, write: true });
    expect(x.verdict.hpa).toBe(0x300000000n + 4299n * 4096n + 8n);
  });
});
