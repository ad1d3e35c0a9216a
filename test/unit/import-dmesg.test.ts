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
          // PASIDs are printed from v5.4 on.
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
    expect(five.records[0]!.fields).toMatchObject({ era: "5.4-5.13", reason: 5, write: true });
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
    expect(faults[2]!.context.slice(1).map((c) => c.text)).toEqual(["DMAR: Dump dmar0 table entries for IOVA 0x7c346000", "DMAR: root entry: 0x0000000104a3f001", "DMAR: context entry: hi 0x0000000000000102, low 0x0000000104a40001", "DMAR: pte level: 4, pte value: 0x0000000104a41003", "DMAR: pte level: 3, pte value: 0x0000000000000000", "DMAR: page table not present at level 2"]);
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

describe("every log prefix people paste", () => {
  const fault = "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7c346000 [fault reason 0x06] PTE Read access is not set";
  const cases: [string, string | undefined][] = [
    ["[Nov25 10:00] ", "Nov25 10:00"], // dmesg -H, a new minute
    ["[  +0.000123] ", "+0.000123"], // dmesg -H, relative
    ["[  812.001010 <    0.000123>] ", "812.001010"], // dmesg -d
    ["2026-11-25T10:00:00,123456+01:00 ", "2026-11-25T10:00:00,123456+01:00"], // dmesg --time-format iso
    ["Nov 25 10:00:00.123456 myhost kernel: ", "Nov 25 10:00:00.123456"], // journalctl -o short-precise
    ["Mon 2026-11-25 10:00:00 UTC myhost kernel: ", "Mon 2026-11-25 10:00:00 UTC"], // journalctl -o short-full
    ["1764064800.123456 myhost kernel: ", "1764064800.123456"], // journalctl -o short-unix
    ["kern  :err   : [  812.001010] ", "812.001010"], // dmesg -x
    ["kern  :err   : ", undefined],
    ["\0\0\0[  1.0] ", "1.0"], // NUL padding of a crashed log
    ["2026-11-25T10:00:00,123456+01:00 myhost kernel: ", "2026-11-25T10:00:00,123456+01:00"],
    ["/var/log/kern.log:Nov 25 10:00:00 host kernel: [  1.5] ", "1.5"], // grep -H
    ["> [  812.001010] ", "812.001010"], // a mail quote
  ];
  it("strips each one and keeps the timestamp", () => {
    for (const [prefix, ts] of cases) {
      const r = parseLog(prefix + fault);
      expect(r.records, JSON.stringify(prefix)).toHaveLength(1);
      expect(r.records[0]!.column, prefix).toBe(prefix.length);
      expect(r.records[0]!.timestamp, prefix).toBe(ts);
    }
  });
  it("keeps the device prefix after a hostless ISO time (dmesg --time-format iso)", () => {
    const r = parseLog(["2026-11-25T10:00:00,000001+01:00 arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:", ...["0x0000010000000010", "0x0000020800000000", "0x00000000fffff000", "0x0000000000000000"].map((w) => `2026-11-25T10:00:00,000002+01:00 arm-smmu-v3 arm-smmu-v3.0.auto: \t${w}`)].join("\n"));
    expect(r.records[0]!.fields).toMatchObject({ event: "F_TRANSLATION", sid: 0x100, iova: "0xfffff000" });
  });
  it("a UTF-16 text is skipped with the reason, a line of NULs is skipped as such", () => {
    const utf16 = Buffer.from(`[  1.0] ${fault}\n`, "utf16le").toString("latin1");
    expect(parseLog(utf16).skipped).toEqual([{ line: 0, endLine: 1, reason: "UTF-16 encoded: convert with iconv -f UTF-16 -t UTF-8" }]);
    const nul = parseLog(`${"\0".repeat(600)}\n\0\0[  1.0] ${fault}`);
    expect(nul.records).toHaveLength(1);
    expect(nul.skipped[0]!.reason).toMatch(/NUL bytes/);
  });
});

describe("RMRR refusals and VFIO/QEMU errors as current software prints them", () => {
  it("decodes the Intel RMRR refusal with its DMAR: prefix and the iommu core's 1:1-mapping refusal (6.5+)", () => {
    const r = parseLog([
      "Jan 23 17:54:48 dcache01 kernel: vfio-pci 0000:07:00.0: DMAR: Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.",
      "[  709.000000] vfio-pci 0000:01:00.0: Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.",
    ].join("\n"));
    expect(r.records.map((x) => [x.kind, x.fields.problem, x.fields.device, x.fields.driver, x.fields.firmwareDirect])).toEqual([
      ["rmrr", "rmrr-ineligible", "07:00.0", "vfio-pci", undefined],
      ["rmrr", "rmrr-ineligible", "01:00.0", "vfio-pci", true],
    ]);
  });
  it("decodes QEMU's container, device and caching-mode errors with their group, errno and hint", () => {
    const r = parseLog([
      "qemu-system-x86_64: -device vfio-pci,host=03:00.0: vfio: failed to set iommu for container: Operation not permitted",
      "vfio 0000:01:00.0: failed to setup container for group 13: Failed to set group container: Invalid argument",
      "kvm: -device vfio-pci,host=0000:01:00.0,id=hostpci0,bus=ich9-pcie-port-1,addr=0x0: vfio 0000:01:00.0: failed to setup container for group 13: Failed to set group container: Invalid argument",
      "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: error getting device from group 14: Invalid argument",
      "Verify all devices in group 14 are bound to vfio-<bus> or pci-stub and not already in use",
      "qemu-system-x86_64: We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.",
      "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: failed to open /dev/vfio/14: No such file or directory",
    ].join("\n"));
    expect(r.skipped).toEqual([]);
    expect(r.records.map((x) => [x.fields.problem, x.fields.group, x.fields.device, x.fields.errno])).toEqual([
      ["set-iommu-failed", undefined, "03:00.0", "EPERM"],
      ["set-container-failed", 13, "01:00.0", "EINVAL"],
      ["set-container-failed", 13, "01:00.0", "EINVAL"],
      ["get-device-failed", 14, "01:00.0", "EINVAL"],
      ["caching-mode-off", undefined, undefined, undefined],
      ["group-open-failed", 14, "01:00.0", "ENOENT"],
    ]);
    expect(r.records[2]!.fields.program).toBe("kvm");
    expect(r.records[3]!.context.map((c) => c.line)).toEqual([4]);
  });
  it("reads QEMU's message inside libvirt's error line (journal and syslog)", () => {
    const r = parseLog([
      "Nov 25 10:00:00 host libvirtd[1234]: internal error: qemu unexpectedly closed the monitor: 2026-11-25T10:00:00.123456Z qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0,id=hostdev0,bus=pci.0,addr=0x5: vfio 0000:01:00.0: group 14 is not viable",
      "Nov 25 10:00:00 host libvirtd[1234]: error : qemuProcessReportLogError:2051 : internal error: qemu unexpectedly closed the monitor: qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: failed to setup container for group 14: Failed to set group container: Invalid argument",
      "Nov 25 10:00:01 host kernel: vfio-pci 0000:01:00.0: DMAR: Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.",
    ].join("\n"));
    expect(r.records.map((x) => [x.kind, x.fields.problem, x.fields.group, x.fields.device])).toEqual([
      ["vfio-message", "group-not-viable", 14, "01:00.0"],
      ["vfio-message", "set-container-failed", 14, "01:00.0"],
      ["rmrr", "rmrr-ineligible", undefined, "01:00.0"],
    ]);
  });
});

describe("DMAR_DEBUG page-walk dumps in their real text", () => {
  it("attaches every line of dmar_fault_dump_ptes() (both kernel generations) to its fault", () => {
    const dump = [
      "DMAR: Dump dmar1 table entries for IOVA 0xfffc0000",
      "DMAR: scalable mode root entry: hi 0x0000000000000000, low 0x000000010a4d7001",
      "DMAR: context entry: hi 0x0000000000000000, low 0x000000010b4c0001",
      "DMAR: pasid dir entry: 0x000000010b4c2001",
      ...[0, 1, 2, 3, 4, 5, 6, 7].map((k) => `DMAR: pasid table entry[${k}]: 0x${(k === 0 ? 0x10b4c3002n : 0n).toString(16).padStart(16, "0")}`),
      "DMAR: pte level: 4, pte value: 0x000000010b4c4003",
      "DMAR: page table not present at level 3",
    ];
    const absent = ["root table is not present", "context table is not present", "legacy mode page table is not present", "pasid directory table is not present", "pasid table is not present", "scalable mode page table is not present", "root table entry is not present", "context table entry is not present", "pasid directory entry is not present", "pasid table entry is not present", "PTE not present at level 2"].map((x) => `DMAR: ${x}`);
    const text = ["DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0xfffc0000 [fault reason 0x02] Present bit in context entry is clear", ...dump, ...absent].map((l, k) => `[   14.${String(k).padStart(6, "0")}] ${l}`).join("\n");
    const r = parseLog(text);
    expect(r.skipped).toEqual([]);
    expect(r.records).toHaveLength(1);
    expect(r.records[0]!.context.map((c) => c.text)).toEqual([...dump, ...absent]);
    // The text the kernel never printed is not a dump line.
    expect(parseLog("DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set\nDMAR: context entry: hi 0x0000000000000000, lo 0x0000000000000000").records[0]!.context).toEqual([]);
  });
});

describe("lines that are not records", () => {
  it("prose quoting a record and a grep command are not joined into a record", () => {
    const r = parseLog("The log showed ...[DMA Write NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set\n# grep \"group 5 is not viable\" /var/log/messages\n[  2.000000] systemd[1]: Started Session for vfio group 3 is not viable test.");
    expect(r.records).toEqual([]);
    expect(r.skipped.map((s) => s.line)).toEqual([0, 1, 2]);
  });
  it("two records on one line (a lost line break) are two records", () => {
    const r = parseLog("[  2.000003] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7c346000 [fault reason 0x06] PTE Read access is not set[  2.000004] DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set");
    expect(r.records.map((x) => [x.fields.device, x.fields.address, x.fields.reasonText, x.timestamp])).toEqual([
      ["00:02.0", "0x7c346000", "PTE Read access is not set", "2.000003"],
      ["00:03.0", "0x1000", "PTE Write access is not set", "2.000004"],
    ]);
    // The second message starts after its own timestamp.
    expect(r.records[1]!.column).toBe("[  2.000003] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7c346000 [fault reason 0x06] PTE Read access is not set[  2.000004] ".length);
  });
  it("a device number above 0x1f and an address wider than 64 bits are rejected", () => {
    const r = parseLog("DMAR: [DMA Read NO_PASID] Request device [00:2f.0] fault addr 0x7c346000 [fault reason 0x06] PTE Read access is not set\nDMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xffffffffffffffffff [fault reason 0x06] PTE Read access is not set\nAMD-Vi: Event logged [IO_PAGE_FAULT device=00:2f.0 domain=0x0007 address=0x1000 flags=0x0000]");
    expect(r.records).toEqual([]);
    expect(r.skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/device number 0x2f is out of range/), expect.stringMatching(/wider than 64 bits/), expect.stringMatching(/not a PCI address/)]);
  });
});

describe("AMD-Vi details", () => {
  it("decodes 'Device not attached to domain properly' with its device line, attaches Control Reg, decodes every IO_PAGE_FAULT flag", () => {
    const r = parseLog([
      "[  100.000004] iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=0000:00:14.3 pasid=0x00000 address=0xfffffffdf8000000 flags=0x0a00]",
      "[  100.000005] iommu ivhd0: AMD-Vi: Control Reg : 0x3c000102dd",
      "[  100.000006] AMD-Vi: DTE[0]: 6000000000000003",
      "[  100.000020] AMD-Vi: Event logged [Device not attached to domain properly]",
      "[  100.000021] AMD-Vi:   device=0000:03:00.0 domain=0x0005",
      "Nov 25 10:00:00 host kernel: amdgpu 0000:0c:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000f address=0xf4c1d000 flags=0x0050]",
      "[  100.000030] AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:07:00.0 domain=0x0007 address=0x1000 flags=0x01a5]",
    ].join("\n"));
    expect(r.skipped).toEqual([]);
    expect(r.records[0]!.context.map((c) => c.line)).toEqual([1, 2]);
    expect(r.records[1]).toMatchObject({ line: 3, endLine: 4, fields: { event: "DEVICE_NOT_ATTACHED", device: "03:00.0", domain: "0x0005" } });
    expect(r.records[2]!.fields).toMatchObject({ present: true, permission: true, write: false, interrupt: false, reservedBit: false });
    expect(r.records[3]!.fields).toMatchObject({ guest: true, user: true, present: false, write: true, reservedBit: true, translationRequest: true, execute: false, interrupt: false, permission: false });
  });
  it("a truncated event at the end of the input is skipped, not a record with a cut address; a wrap still joins", () => {
    const cut = parseLog("[  1.000002] AMD-Vi: Event logged [IO_PAGE_FAULT device=07:00.0 domain=0x0007 address=0xffff");
    expect(cut.records).toEqual([]);
    expect(cut.skipped[0]!.reason).toBe("a truncated AMD-Vi event (no closing bracket)");
    const wrap = parseLog("[  1.000003] AMD-Vi: Event logged [IO_PAGE_FAULT device=07:00.0 domain=0x0007 address=0xfff\nfc02000 flags=0x0000]");
    expect(wrap.records[0]).toMatchObject({ endLine: 1, fields: { address: "0xffffc02000" } });
    const unknown = parseLog("iommu ivhd0: AMD-Vi: Event logged [UNKNOWN event[0]=0x0000abcd event[1]=0xf0000000 event[2]=0x00000000 event[3]=0x00000000");
    expect(unknown.records[0]!.fields).toMatchObject({ event: "UNKNOWN", raw: "event[0]=0x0000abcd event[1]=0xf0000000 event[2]=0x00000000 event[3]=0x00000000" });
  });
});

describe("SMMUv3 fields per event", () => {
  const ev = (id: string, words: string[], decoded?: string) => parseLog([`arm-smmu-v3 arm-smmu-v3.0.auto: event ${id} received:`, ...words.map((w) => `arm-smmu-v3 arm-smmu-v3.0.auto: \t${w}`), ...(decoded ? [`arm-smmu-v3 arm-smmu-v3.0.auto: ${decoded}`] : [])].join("\n")).records[0]!;
  it("F_CD_FETCH has a fetch address and no input address; C_BAD_STREAMID has neither, nor a direction", () => {
    const cd = ev("0x09", ["0x0000010000001809", "0x0000000000000000", "0x0000000000000000", "0x0000000812345000"], "event: F_CD_FETCH client: 0000:01:00.0 sid: 0x100 ssid: 0x1 fetch_addr: 0x812345000");
    expect(cd.fields).toMatchObject({ event: "F_CD_FETCH", sid: 0x100, ssid: 1, fetchAddr: "0x812345000" });
    expect(cd.fields.iova).toBeUndefined();
    expect(cd.fields.write).toBeUndefined();
    const bad = ev("0x02", ["0x0000030000000002", "0x0000000000000000", "0x0000000000000000", "0x0000000000000000"], "event: C_BAD_STREAMID client: (unassigned sid) sid: 0x300 ssid: 0");
    expect(bad.fields).toMatchObject({ event: "C_BAD_STREAMID", sid: 0x300 });
    expect([bad.fields.iova, bad.fields.write, bad.fields.fetchAddr]).toEqual([undefined, undefined, undefined]);
  });
});

describe("a wrapped reason text", () => {
  it("joins '... PTE Read' with 'access is not set' and takes the reason text from the code's table", () => {
    const r = parseLog("[  1.000001] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7c346000 [fault reason 0x06] PTE Read\naccess is not set\n[  1.000002] next");
    expect(r.records[0]).toMatchObject({ line: 0, endLine: 1, fields: { reason: 6, reasonText: "PTE Read access is not set" } });
    expect(r.records[0]!.fields.printedReason).toBeUndefined();
    expect(r.skipped.map((s) => s.line)).toEqual([2]);
  });
});
