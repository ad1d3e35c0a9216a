// Explanations are about their record: its direction, its reason code (meaning from the one reason
// table, sim/vtd/reasons.ts), its IOVA, device and PASID, and what the rest of the evidence shows.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explainRecords, parseFtrace, parseLog } from "../../src/import/index.js";
import { faultReasonInfo } from "../../src/sim/vtd/reasons.js";

const dir = join(__dirname, "..", "fixtures", "evidence");
const read = (f: string) => readFileSync(join(dir, f), "utf8");

describe("specific explanations", () => {
  const log = [
    "[  0.523456] pci 0000:00:16.7: Adding to iommu group 9",
    "[  812.001010] DMAR: [DMA Read NO_PASID] Request device [00:16.7] fault addr 0xdceff000 [fault reason 0x06] PTE Read access is not set",
    "[  812.002010] DMAR: [DMA Write PASID 0x2] Request device [03:00.1] fault addr 0x7c346000 [fault reason 0x05] PTE Write access is not set",
  ].join("\n");

  it("two records with different reasons and directions get different, correct explanations", () => {
    const [read6, write5] = explainRecords(parseLog(log).records);
    expect(read6!.title).toBe("VT-d read fault 0x06 PTE Read access is not set — 00:16.7 at 0xdceff000");
    expect(write5!.title).toBe("VT-d write fault 0x05 PTE Write access is not set — 03:00.1 at 0x7c346000 PASID 2");
    // The reason's meaning comes from the reason table, followed by what it means for this record.
    expect(read6!.meaning).toContain(faultReasonInfo(6).explanation);
    expect(write5!.meaning).toContain(faultReasonInfo(5).explanation);
    expect(read6!.meaning).toMatch(/^00:16\.7 \(requester ID 0x00b7\) read from IOVA 0xdceff000 without a PASID, and the IOMMU refused the read with reason 0x06 \(VTD_FR_READ\)\./);
    expect(write5!.meaning).toMatch(/^03:00\.1 \(requester ID 0x0301\) wrote to IOVA 0x7c346000 with PASID 2,/);
    expect(read6!.meaning).toContain("no entry for page 0xdceff000 that grants read access");
    expect(write5!.meaning).toContain("mapped read-only");
    // Direction-specific cause, PASID-specific cause and checks.
    expect(read6!.causes).toContain("Wrong DMA direction: page 0xdceff000 is mapped write-only (DMA_FROM_DEVICE) and the device read from it.");
    expect(write5!.causes).toContain("Wrong DMA direction: page 0x7c346000 is mapped read-only (DMA_TO_DEVICE, or a VFIO map without WRITE) and the device wrote to it.");
    expect(write5!.causes.some((c) => c.includes("PASID 2"))).toBe(true);
    expect(read6!.causes.some((c) => c.includes("PASID"))).toBe(false);
    expect(read6!.checks.some((c) => c.includes("caching-mode=on"))).toBe(true);
    expect(write5!.checks.some((c) => c.includes("caching-mode=on"))).toBe(false);
    // The rest of the evidence: the device's group, the IOVA's width.
    expect(read6!.evidence).toContain("00:16.7 is in IOMMU group 9 (line 1).");
    expect(read6!.evidence.some((x) => x.includes("bits"))).toBe(false);
    expect(read6!.checks).toContain("ls /sys/kernel/iommu_groups/9/devices/: the devices that share 00:16.7's domain.");
    expect(write5!.checks).toContain("readlink /sys/bus/pci/devices/0000:03:00.1/iommu_group: the group (and domain) 03:00.1 is in.");
    expect(read6!.causes).not.toEqual(write5!.causes);
  });

  it("a record whose evidence shows a prior unmap of its IOVA says so, and ranks DMA after unmap first", () => {
    const faults = parseLog(read("mixed-dmesg.txt")).records;
    const trace = parseFtrace(read("iommu-trace.txt")).records;
    const ex = explainRecords(faults, trace);
    const w = ex.find((e) => e.title.includes("0x7c346000"))!;
    expect(w.evidence[0]).toBe("IOVA 0x7c346000 was unmapped at line 16 of the trace (0x7c340000..0x7c350000), 3.01 ms before the fault: DMA after unmap.");
    expect(w.causes[0]).toMatch(/^DMA after unmap/);
    expect(w.checks[0]).toMatch(/^Find who unmapped 0x7c346000 while 03:00\.1 still used it/);
    // The kernel's dump of the walk says the page is not mapped at all: direction is the least likely.
    expect(w.evidence.some((x) => x.includes("page table not present at level 2") && x.includes("not a permission problem"))).toBe(true);
    expect(w.causes[w.causes.length - 1]).toMatch(/^Wrong DMA direction/);
    // 44 suppressed reports before it; the other fault of the same device.
    expect(w.evidence).toContain("44 more fault reports were suppressed just before this one (line 9): the device is faulting repeatedly, so this record is one of many.");
    expect(w.evidence).toContain("03:00.1 has 1 other fault record in this log (line 8).");
    // A fault of another IOVA of the same log has no unmap evidence.
    const r = ex.find((e) => e.title.includes("0xdceff000"))!;
    expect(r.evidence.some((x) => x.includes("unmapped"))).toBe(false);
  });

  it("a context-entry fault says the IOVA is not the problem; a width fault names the IOVA's bits", () => {
    const ex = explainRecords(parseLog([
      "[  812.1] DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0xfffc0000 [fault reason 0x02] Present bit in context entry is clear",
      "[  812.2] DMAR: [DMA Read NO_PASID] Request device [04:00.0] fault addr 0x1fffffffff000 [fault reason 0x04] Access beyond MGAW",
    ].join("\n")).records);
    expect(ex[0]!.meaning).toContain("No context entry is present for 03:00.1: the walk stopped before any page table, so IOVA 0xfffc0000 itself is not the problem");
    expect(ex[0]!.causes[0]).toMatch(/not attached to any domain/);
    expect(ex[1]!.meaning).toContain("IOVA 0x1fffffffff000 needs 49 bits");
    expect(ex[1]!.evidence).toContain("IOVA 0x1fffffffff000 needs 49 bits: above the 48-bit width of 4-level tables; only a 5-level (57-bit) domain can map it.");
  });
});
