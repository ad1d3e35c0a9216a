/**
 * QEMU's intel-iommu (vIOMMU) reports decoded, explained and noted by synthesize. The lines are
 * real ones from qemu-devel (sources in test/fixtures/README.md, qemu-viommu.txt) plus QEMU's
 * format strings (hw/i386/intel_iommu.c) with example values.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { explainRecords, importText, synthesizeScenario } from "../../src/import/index.js";

const text = readFileSync(join(__dirname, "../fixtures/evidence/qemu-viommu.txt"), "utf8");

describe("QEMU vIOMMU reports", () => {
  const r = importText(text);

  it("decode each report with the summary line and the fault-recording complaint joined to it", () => {
    expect(r.kind).toBe("log");
    expect(r.skipped).toEqual([]);
    expect(r.records.map((x) => [x.line + 1, x.fields.problem, x.fields.device ?? null, x.fields.iova ?? null, x.fields.reason ?? null, x.context.map((c) => c.line + 1)])).toEqual([
      [1, "slpte-permission", "03:00.0", "0xfd200000", 0x06, [2]],
      [3, "slpte-reserved", "01:00.0", "0xfffff002", 0x0c, [4, 5]],
      [6, "dmar-fault-trace", "0b:00.0", "0x1187a9000", 0x06, [7]],
      [8, "slpte-permission", "00:03.0", "0x0", 0x05, [9, 10]],
      [11, "iova-overflow", null, "0x8000000000", 0x04, []],
      [12, "context-level-unsupported", null, null, 0x03, []],
    ]);
    // QEMU's own spelling: "splte reserve non-zero ... level=0x1slpte=..." (no separator).
    expect(r.records[1]!.fields).toMatchObject({ level: 1, slpte: "0x102681803", notRecorded: "compressed" });
    expect(r.records[3]!.fields).toMatchObject({ level: 3, write: true, present: false, program: "qemu-system-x86_64-dt" });
    expect(r.records[4]!.fields.pasid).toBe(0);
    // -msg timestamp=on: the ISO time before QEMU's program is not a syslog host.
    // (Read as syslog's "time host program:", the message would start at "detected translation failure".)
    expect(r.records[2]!.context[0]!.text).toMatch(/^qemu-system-x86_64: vtd_iommu_translate: detected translation failure \(dev=0b:00:00/);
  });

  it("explain them as the guest's vIOMMU, not the host's IOMMU", () => {
    const ex = explainRecords(r.records);
    expect(ex.map((e) => e.title)).toEqual([
      "QEMU vIOMMU: fault 0x06 PTE Read access is not set — 03:00.0 at IOVA 0xfd200000",
      "QEMU vIOMMU: fault 0x0c non-zero reserved fields in PTE — 01:00.0 at IOVA 0xfffff002",
      "QEMU vIOMMU: fault 0x06 PTE Read access is not set — 0b:00.0 at IOVA 0x1187a9000",
      "QEMU vIOMMU: fault 0x05 PTE Write access is not set — 00:03.0 at IOVA 0x0",
      "QEMU vIOMMU: fault 0x04 Access beyond MGAW at IOVA 0x8000000000",
      "QEMU vIOMMU: fault 0x03 Invalid context entry",
    ]);
    expect(ex[0]!.meaning).toMatch(/inside the VM — the host's IOMMU and VFIO were never asked/);
    expect(ex[1]!.causes[0]).toMatch(/snoop bit \(SNP\)/);
    expect(ex[1]!.evidence[0]).toMatch(/did not record it in the guest's fault registers/);
    expect(ex[2]!.causes[0]).toMatch(/never mapped in its \(virtual\) IOMMU/);
    expect(ex[4]!.causes[0]).toMatch(/aw-bits/);
  });

  it("synthesize lists every one with why it is not reproduced", () => {
    const s = synthesizeScenario(r.records);
    for (const rec of r.records) expect(s.text).toContain(`line ${rec.line + 1}: `);
    expect(s.text).toMatch(/not reproduced: QEMU's vIOMMU walks the guest's own page tables/);
  });

  it("never throw on mutated report lines, and every record stays inside the input", () => {
    const lines = text.split("\n").filter(Boolean);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...lines), { minLength: 1, maxLength: 12 }), fc.nat(), fc.string({ maxLength: 8 }), (picked, at, junk) => {
        const mutated = picked.map((l, i) => (i === at % picked.length ? l.slice(0, at % (l.length + 1)) + junk + l.slice(at % (l.length + 1)) : l)).join("\n");
        const out = importText(mutated, "log");
        const n = mutated.split("\n").length;
        for (const rec of out.records) {
          expect(rec.line).toBeGreaterThanOrEqual(0);
          expect(rec.endLine).toBeLessThan(n);
          expect(rec.kind).toBe("viommu-fault");
        }
        explainRecords(out.records);
      }),
      { numRuns: 300 },
    );
  });
});
