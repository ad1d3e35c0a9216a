// The log importer on realistic, messy logs: every VT-d generation (round trip with the
// simulator's own renderer), AMD-Vi, SMMUv3/v2, VFIO/QEMU/RMRR messages; context attached,
// skipped lines reported; and properties: never throws, ranges inside the input, junk never
// becomes a record.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseLog } from "../../src/import/dmesg.js";
import { messageOf } from "../../src/import/lines.js";
import { KERNEL_ERAS, renderDmarFault } from "../../src/sim/vtd/dmesg.js";

const fixture = readFileSync(join(__dirname, "..", "fixtures", "evidence", "mixed-dmesg.txt"), "utf8");

describe("log prefixes", () => {
  it("strips dmesg, dmesg -T, syslog, RFC 3339 and kernel: prefixes, keeping the timestamp", () => {
    expect(messageOf("[  812.001010] DMAR: x")).toMatchObject({ text: "DMAR: x", timestamp: "812.001010", column: 15 });
    expect(messageOf("[Tue Nov 25 10:00:00 2026] DMAR: x")).toMatchObject({ text: "DMAR: x", timestamp: "Tue Nov 25 10:00:00 2026" });
    expect(messageOf("Nov 25 10:00:00 host kernel: [  830.5] arm-smmu-v3 a: b")).toMatchObject({ text: "arm-smmu-v3 a: b", host: "host", program: "kernel", timestamp: "830.5" });
    expect(messageOf("2026-11-25T10:00:01.000000+00:00 host kernel: x")).toMatchObject({ text: "x", timestamp: "2026-11-25T10:00:01.000000+00:00" });
    expect(messageOf("kernel: DMAR: x").text).toBe("DMAR: x");
    expect(messageOf("[  812.001010] host kernel: DMAR: x")).toMatchObject({ text: "DMAR: x", timestamp: "812.001010" });
    expect(messageOf("<3>[  812.001010] DMAR: x").text).toBe("DMAR: x");
    expect(messageOf("\x1b[32m[  812.001010] \x1b[0mDMAR: x").text).toBe("DMAR: x");
    expect(messageOf("[  0.5] pci 0000:00:02.0: Adding to iommu group 1").text).toBe("pci 0000:00:02.0: Adding to iommu group 1");
  });
});

describe("Intel DMAR faults in every kernel generation", () => {
  const samples = [
    { write: false, reason: 0x06, sourceId: 0x0300 | (0x00 << 3) | 1, address: 0xdceff000n },
    { write: true, reason: 0x05, sourceId: 0x0100, address: 0x7c346000n, pasid: 2 },
    { write: true, reason: 0x02, sourceId: 0x00a7, address: 0xfffc0000n },
    { write: false, reason: 0x22, sourceId: 0x00fd, address: 0x1cn << 48n },
  ];
  for (const era of KERNEL_ERAS) {
    it(`parses back what kernel ${era} prints`, () => {
      for (const rec of samples) {
        const lines = renderDmarFault(rec, era);
        const { records, skipped } = parseLog(lines.map((l) => `[  1.000000] ${l}`).join("\n"));
        expect(skipped).toEqual([]);
        expect(records).toHaveLength(1);
        const r = records[0]!;
        expect(r.line).toBe(0);
        expect(r.endLine).toBe(lines.length - 1);
        const dev = `${(rec.sourceId >> 8).toString(16).padStart(2, "0")}:${((rec.sourceId >> 3) & 31).toString(16).padStart(2, "0")}.${rec.sourceId & 7}`;
        expect(r.fields.device).toBe(dev);
        expect(r.fields.reason).toBe(rec.reason);
        if (rec.reason >= 0x20) {
          expect(r.kind).toBe("intr-remap-fault");
          expect(r.fields.index).toBe(0x1c);
        } else {
          expect(r.kind).toBe("dmar-fault");
          expect(r.fields.write).toBe(rec.write);
          expect(r.fields.address).toBe(`0x${rec.address.toString(16)}`);
          // PASIDs are printed from v5.5 on.
          if (rec.pasid !== undefined && !["3.x", "4.1", "4.7"].includes(era)) expect(r.fields.pasid).toBe(rec.pasid);
        }
      }
    });
  }

  it("reads the reference's real pastes, old two-line form included", () => {
    const old = parseLog("dmar: DRHD: handling fault status reg 2\ndmar: DMAR:[DMA Read] Request device [02:00.0] fault addr a0c58000 \nDMAR:[fault reason 02] Present bit in context entry is clear");
    expect(old.records).toHaveLength(1);
    expect(old.records[0]).toMatchObject({ kind: "dmar-fault", line: 1, endLine: 2, fields: { device: "02:00.0", write: false, reason: 2, address: "0xa0c58000", era: "≤4.6" } });
    expect(old.records[0]!.context[0]!.text).toMatch(/PPF primary fault pending/);
    const five = parseLog("DMAR: [DMA Write] Request device [00:02.0] PASID ffffffff fault addr b97ff000 [fault reason 05] PTE Write access is not set");
    expect(five.records[0]!.fields).toMatchObject({ era: "5.5-5.13", reason: 5, write: true });
    expect(five.records[0]!.fields.pasid).toBeUndefined();
  });
});

describe("a mixed log", () => {
  const { records, skipped } = parseLog(fixture);
  const kinds = records.map((r) => r.kind);

  it("finds every record, in order, with its lines", () => {
    expect(kinds).toEqual(["rmrr", "group-add", "dmar-fault", "dmar-fault", "dmar-fault", "amdvi-event", "amdvi-event", "amdvi-event", "smmuv3-event", "smmuv2-fault", "vfio-message", "vfio-message", "vfio-message", "rmrr"]);
    const lines = fixture.split("\n");
    for (const r of records) expect(lines.slice(r.line, r.endLine + 1).join("\n")).toBe(r.text);
  });

  it("attaches context: DRHD status, suppressed callbacks, page-walk dumps, DTE dumps, QEMU's hint", () => {
    const faults = records.filter((r) => r.kind === "dmar-fault");
    expect(faults[0]!.context.map((c) => c.text)).toEqual([expect.stringMatching(/^DMAR: DRHD: handling fault status reg 3 \(FSTS: PFO fault overflow, PPF primary fault pending\)$/)]);
    expect(faults[2]!.context[0]!.text).toMatch(/44 more messages of dmar_fault were dropped/);
    expect(faults[2]!.context.slice(1).map((c) => c.text)).toEqual(["DMAR: Dump dmar0 table entries for IOVA 0x7c346000", "DMAR: root entry: 0x0000000104a3f001", "DMAR: pte level: 4, pte value: 0x0000000104a41003", "DMAR: PTE not present at level 1"]);
    expect(faults[2]!.fields).toMatchObject({ pasid: 2, write: true, reason: 5 });
    const amd = records.filter((r) => r.kind === "amdvi-event");
    expect(amd[0]!.fields).toMatchObject({ event: "IO_PAGE_FAULT", device: "07:00.0", driver: "vfio-pci", domain: "0x0007", address: "0xffffc02000", write: true, interrupt: false });
    expect(amd[1]!.fields).toMatchObject({ device: "08:00.0", write: false });
    expect(amd[2]!.fields.event).toBe("ILLEGAL_DEV_TABLE_ENTRY");
    expect(amd[2]!.context.map((c) => c.text)).toEqual(["AMD-Vi: DTE[0]: 7ffc000000000003"]);
    const vfio = records.filter((r) => r.kind === "vfio-message");
    expect(vfio[0]!.fields).toMatchObject({ problem: "group-not-viable", group: 14, device: "01:00.0" });
    expect(vfio[0]!.context[0]!.text).toMatch(/Please ensure all devices/);
  });

  it("decodes SMMU events: the raw words and the decoded lines are one record", () => {
    const s = records.find((r) => r.kind === "smmuv3-event")!;
    expect(s.endLine - s.line).toBe(6);
    expect(s.fields).toMatchObject({ id: 0x10, event: "F_TRANSLATION", sid: 0x100, ssid: 0, write: false, iova: "0xfffff000", client: "0000:01:00.0", stage: "s1", class: "Input address caused fault" });
    const v2 = records.find((r) => r.kind === "smmuv2-fault")!;
    expect(v2.fields).toMatchObject({ cb: 2, iova: "0x84000000", streamId: "0x1100", write: true });
    expect(v2.fields.faults).toMatch(/TF translation fault/);
  });

  it("reports the lines it skipped, merged into runs, with reasons", () => {
    expect(skipped[0]).toEqual({ line: 0, endLine: 0, reason: "not an IOMMU, VFIO or RMRR message" });
    expect(skipped.find((s) => s.line === 1)!.reason).toBe("a DMAR message that is not a fault record");
    const covered = new Set<number>();
    for (const r of records) for (let l = r.line; l <= r.endLine; l++) covered.add(l);
    for (const s of skipped) for (let l = s.line; l <= s.endLine; l++) expect(covered.has(l)).toBe(false);
  });
});

describe("properties", () => {
  it("never throws, and every record's lines are inside the input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3000 }), (text) => {
        const { records, skipped } = parseLog(text);
        const n = text.split("\n").length;
        for (const r of records) expect(r.line >= 0 && r.endLine < n && r.line <= r.endLine).toBe(true);
        for (const s of skipped) expect(s.line >= 0 && s.endLine < n).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("mixing record lines with junk finds exactly the records (junk never becomes one)", () => {
    const real = fixture.split("\n");
    const expected = parseLog(fixture).records.length;
    const junk = fc.stringMatching(/^[a-zA-Z0-9 :=.,\[\]-]{0,80}$/).filter((s) => !/DMAR|AMD-Vi|smmu|vfio|RMRR|iommu|fault|qemu|group|Please|event|Unhandled|RLIMIT|VFIO|0x/i.test(s));
    fc.assert(
      fc.property(fc.array(junk, { maxLength: 30 }), fc.nat(), (extra, seed) => {
        // Junk lines go before the log, so multi-line records stay together.
        const text = [...extra, ...real].join("\n");
        const r = parseLog(text);
        expect(r.records.length).toBe(expected);
        void seed;
      }),
      { numRuns: 100 },
    );
  });
});

describe("fuzzing mutated real lines", () => {
  it("mutated fixture lines (cuts, insertions, binary junk, a 10 MB line) are skipped or decoded, never thrown on", () => {
    const real = fixture.split("\n");
    fc.assert(
      fc.property(fc.array(fc.record({ line: fc.nat(real.length - 1), at: fc.nat(200), cut: fc.nat(20), ins: fc.string({ maxLength: 8, unit: "binary" }) }), { minLength: 1, maxLength: 20 }), (muts) => {
        const lines = [...real];
        for (const m of muts) {
          const l = lines[m.line]!;
          const at = Math.min(m.at, l.length);
          lines[m.line] = l.slice(0, at) + m.ins + l.slice(at + m.cut);
        }
        const text = lines.join("\n");
        const { records } = parseLog(text);
        for (const r of records) expect(r.endLine).toBeLessThan(text.split("\n").length);
      }),
      { numRuns: 300 },
    );
    const huge = parseLog(`${"A".repeat(10 * 2 ** 20)}\n${real[6]}`);
    expect(huge.records.map((r) => r.kind)).toEqual(["dmar-fault"]);
    expect(huge.skipped[0]).toMatchObject({ line: 0, reason: "line too long to be a kernel message" });
  });
});

describe("wrapped lines", () => {
  it("joins a record a terminal wrapped over two or three lines", () => {
    const full = "DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0x7c346000 [fault reason 0x05] PTE Write access is not set";
    for (const cuts of [[60], [40, 90]]) {
      const parts: string[] = [];
      let at = 0;
      for (const c of cuts) {
        parts.push(full.slice(at, c));
        at = c;
      }
      parts.push(full.slice(at));
      const r = parseLog(["[  1.0] other", ...parts.map((p, k) => (k === 0 ? `[  812.0] ${p}` : p))].join("\n"));
      expect(r.records).toHaveLength(1);
      expect(r.records[0]).toMatchObject({ line: 1, endLine: cuts.length + 1, fields: { device: "03:00.1", reason: 5, address: "0x7c346000" } });
    }
    const amd = parseLog("vfio-pci 0000:07:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0007 address=0xffff\nc02000 flags=0x0020]");
    expect(amd.records[0]!.fields).toMatchObject({ address: "0xffffc02000", write: true });
  });
});

describe("real-world pastes", () => {
  it("decodes lines from public bug reports, in every form they were pasted", () => {
    const text = readFileSync(join(__dirname, "..", "fixtures", "evidence", "real-world.txt"), "utf8");
    const { records } = parseLog(text);
    const summary = records.map((r) => [r.line, r.kind, r.fields.device, r.fields.reason ?? r.fields.event, r.fields.address]);
    expect(summary).toEqual([
      [0, "dmar-fault", "00:02.0", 0x07, "0x70ad5000"],
      [1, "dmar-fault", "00:02.0", 0x06, "0x7c346000"],
      [4, "dmar-fault", "00:02.0", 6, "0x9c000000"],
      [5, "dmar-fault", "00:02.0", 0x01, "0x7cd80000"],
      [6, "dmar-fault", "00:12.0", 5, "0x0"],
      [8, "dmar-fault", "03:00.0", 0x71, "0x100000"],
      [9, "amdvi-event", "01:00.0", "IO_PAGE_FAULT", "0xcff49550"],
      [10, "amdvi-event", "00:00.1", "INVALID_DEVICE_REQUEST", "0x000000fdf8000020"],
      [12, "amdvi-event", "05:00.0", "IO_PAGE_FAULT", "0x00000000ff6101b0"],
      [15, "amdvi-event", "01:00.0", "IO_PAGE_FAULT", "0xfc189000"],
      [16, "smmuv2-fault", undefined, undefined, undefined],
    ]);
    const v2 = records[10]!;
    expect(v2.fields).toMatchObject({ iova: "0xfd7ff000", streamId: "0x19c3", cb: 10, write: false });
    expect(v2.fields.faults).toBe("TF translation fault"); // 0x400 is FSR.FORMAT (bits 10:9), not a fault bit
    expect(v2.context.map((c) => c.line)).toEqual([17, 19]);
    expect(records[2]!.context.map((c) => c.line)).toEqual([2, 3]);
    expect(records[7]!.endLine).toBe(11);
    expect(records[9]!.context[0]!.text).toMatch(/96 more messages of amd_iommu_report_page_fault/);
    expect(records[5]!.fields.reasonText).toBe("SM: Present bit in first-level paging entry is clear");
  });
});
