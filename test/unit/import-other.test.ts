// Group listings, ftrace iommu events, detection, explanations with trace evidence, and the CLI.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { detectKind, explainRecords, importText, parseFtrace, parseGroups, parseLog } from "../../src/import/index.js";

const dir = join(__dirname, "..", "fixtures", "evidence");
const read = (f: string) => readFileSync(join(dir, f), "utf8");
const root = join(__dirname, "..", "..");
const cli = join(root, "dist", "cli.mjs");

describe("group listings", () => {
  it("reads the one-line loop, the header form and raw sysfs paths; prompts are skipped", () => {
    const r = parseGroups(read("groups.txt"));
    expect(r.records.map((x) => [x.fields.group, x.fields.device])).toEqual([[1, "00:01.0"], [1, "01:00.0"], [1, "01:00.1"], [14, "03:00.0"], [14, "03:00.1"], [2, "00:14.0"]]);
    expect(r.records[1]!.fields).toMatchObject({ class: "VGA compatible controller", classId: "0300", vendorId: "10de", deviceId: "1b80", rev: "a1", name: "NVIDIA Corporation GP104 [GeForce GTX 1080]" });
    expect(r.skipped.map((s) => s.reason)).toEqual(["shell prompt or command", "shell prompt or command"]);
  });
});

describe("ftrace", () => {
  it("decodes the iommu tracepoints and skips the header", () => {
    const r = parseFtrace(read("iommu-trace.txt"));
    expect(r.records.map((x) => x.fields.event)).toEqual(["add_device_to_group", "attach_device_to_domain", "map", "unmap", "io_page_fault"]);
    expect(r.records[2]!.fields).toMatchObject({ iova: "0x7c340000", end: "0x7c350000", paddr: "0x123450000", size: 65536, cpu: 3, time: "811.000000", task: "qemu-system-x86" });
    expect(r.records[4]!.fields).toMatchObject({ driver: "vfio-pci", device: "03:00.1", iova: "0x7c346000", flags: "0x0020" });
    expect(r.skipped[0]).toMatchObject({ line: 0, reason: "trace header" });
  });
});

describe("detection", () => {
  it("tells logs, group listings and traces apart", () => {
    expect(detectKind(read("iommu-trace.txt"))).toBe("ftrace");
    expect(detectKind(read("groups.txt"))).toBe("groups");
    expect(detectKind(read("mixed-dmesg.txt"))).toBe("log");
    expect(importText(read("groups.txt")).records.length).toBe(6);
  });
  it("no importer throws on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (t) => {
        for (const k of ["log", "groups", "ftrace"] as const) importText(t, k);
      }),
      { numRuns: 300 },
    );
  });
});

describe("explanations", () => {
  it("uses the trace: an unmap before the fault makes it DMA after unmap, with the line and the time", () => {
    const faults = parseLog(read("mixed-dmesg.txt")).records;
    const trace = parseFtrace(read("iommu-trace.txt")).records;
    const ex = explainRecords(faults, trace);
    const w = ex.find((e) => /0x05/.test(e.title))!;
    expect(w.evidence[0]).toBe("IOVA 0x7c346000 was unmapped at line 16 of the trace (0x7c340000..0x7c350000), 3.01 ms before the fault: DMA after unmap.");
    expect(w.causes[0]).toMatch(/^DMA after unmap/);
    const ctx = ex.find((e) => /0x02/.test(e.title))!;
    expect(ctx.causes[0]).toMatch(/not attached to any domain/);
    const viable = ex.find((e) => /not viable/.test(e.title))!;
    expect(viable.checks[0]).toContain("/sys/kernel/iommu_groups/14/devices/");
    expect(ex.some((e) => /RLIMIT_MEMLOCK \(65536 bytes\)/.test(e.title))).toBe(true);
    expect(ex.some((e) => /RMRR/.test(e.title))).toBe(true);
  });
  it("a mapped, never unmapped IOVA points at direction and permissions", () => {
    const faults = parseLog("[  811.5] DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0x7c341000 [fault reason 0x05] PTE Write access is not set").records;
    const trace = parseFtrace(read("iommu-trace.txt").split("\n").filter((l) => !l.includes("unmap")).join("\n")).records;
    const e = explainRecords(faults, trace)[0]!;
    expect(e.evidence[0]).toMatch(/was mapped at line \d+ of the trace .* not unmapped before the fault/);
    expect(e.causes[0]).toMatch(/^Wrong DMA direction/);
  });
});

describe("passthrough decode / explain", () => {
  beforeAll(() => {
    if (!existsSync(cli)) execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
  });
  it("decode prints file:line:col records with their context", () => {
    const r = spawnSync(process.execPath, [cli, "decode", join(dir, "mixed-dmesg.txt")], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/mixed-dmesg\.txt: log: 15 records, \d+ lines skipped/);
    expect(r.stdout).toMatch(/mixed-dmesg\.txt:7:16: dmar-fault: read by 00:16\.7 to IOVA 0xdceff000 faulted: 0x06 PTE Read access is not set/);
    expect(r.stdout).toMatch(/ {4}.*mixed-dmesg\.txt:6: DMAR: DRHD: handling fault status reg 3/);
  });
  it("decode --json has the documented record fields", () => {
    const r = spawnSync(process.execPath, [cli, "decode", join(dir, "mixed-dmesg.txt"), "--json"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { records: Record<string, unknown>[]; skipped: unknown[] };
    for (const rec of j.records) for (const k of ["file", "line", "source", "type", "bdf", "address", "reason", "reasonText", "pasid"]) expect(rec, k).toHaveProperty(k);
    expect(j.records.find((x) => x.source === "kernel" && x.type === "boot-haw")).toMatchObject({ line: 2, width: 46 });
    expect(j.records[3]).toMatchObject({ source: "vtd", type: "dma-read", bdf: "0000:00:16.7", address: "0xdceff000", reason: 6, reasonText: "PTE Read access is not set", pasid: null, line: 7 });
    expect(j.records[5]).toMatchObject({ source: "vtd", type: "dma-write", bdf: "0000:03:00.1", reason: 5, pasid: 2 });
    expect(j.records.find((x) => x.source === "amd-vi")).toMatchObject({ type: "IO_PAGE_FAULT", bdf: "0000:07:00.0", address: "0xffffc02000", reason: 2, domain: 7, flags: { value: 0x20, write: true, interrupt: false } });
    expect(j.records.find((x) => x.source === "smmuv3")).toMatchObject({ type: "F_TRANSLATION", bdf: "0000:01:00.0", streamId: 0x100, ssid: 0, eventId: 0x10, reason: 0x10 });
    expect(j.records.find((x) => x.source === "smmuv2")).toMatchObject({ type: "context-fault", address: "0x84000000", streamId: 0x1100 });
    expect(j.records.find((x) => x.type === "group-not-viable")).toMatchObject({ source: "vfio", bdf: "0000:01:00.0", group: 14 });
    const g = JSON.parse(spawnSync(process.execPath, [cli, "decode", join(dir, "groups.txt"), "--json"], { encoding: "utf8" }).stdout) as { groups: { group: number; devices: { bdf: string }[] }[] };
    expect(g.groups.map((x) => [x.group, x.devices.map((d) => d.bdf)])).toEqual([[1, ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]], [2, ["0000:00:14.0"]], [14, ["0000:03:00.0", "0000:03:00.1"]]]);
  });

  it("explain with --trace names the evidence; a missing file is exit 2", () => {
    const r = spawnSync(process.execPath, [cli, "explain", join(dir, "mixed-dmesg.txt"), "--trace", join(dir, "iommu-trace.txt")], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("3.01 ms before the fault: DMA after unmap.");
    const bad = spawnSync(process.execPath, [cli, "explain", join(dir, "nope.txt")], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/nope\.txt: cannot read: ENOENT/);
  });
});

describe("a scenario from the evidence", () => {
  it("reproduces the logged faults when simulated", async () => {
    const { synthesizeScenario } = await import("../../src/import/index.js");
    const { parseScenario } = await import("../../src/scenario/index.js");
    const { runScenario } = await import("../../src/sim/run.js");
    const records = [...parseGroups(read("groups.txt")).records, ...parseFtrace(read("iommu-trace.txt")).records, ...parseLog(read("mixed-dmesg.txt")).records];
    const s = synthesizeScenario(records, "From the fixture");
    const parsed = parseScenario(s.text, "synth.passthrough.yaml");
    expect(parsed.diagnostics.filter((d) => d.severity === "error"), s.text).toEqual([]);
    const run = runScenario(parsed.scenario!).run!;
    expect(run.failedExpectations.map((o) => o.summary), s.text).toEqual([]);
    // The read fault (0x06) of 00:16.7, the write fault (0x05) after the unmap, the AMD-Vi and SMMU
    // faults, the trace's own io_page_fault event, and 03:00.1's 0x02 (its context entry's present
    // bit cleared for that one DMA): the simulated kernel prints the logged line again.
    expect(s.reproduced.length).toBe(7);
    expect(run.outcomes.filter((o) => o.status === "fault").length).toBe(7);
    expect(s.notes.some((n) => /Present bit in context entry is clear/.test(n))).toBe(false);
    const line = "DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0xfffc0000 [fault reason 0x02] Present bit in context entry is clear";
    expect(read("mixed-dmesg.txt")).toContain(line);
    expect(run.log.some((l) => l.text.endsWith(line))).toBe(true);
    expect(s.text).toContain('guest-map: { vm: "vm0", device: "03:00.1", iova: 0x7c340000, size: 65536');
  });
});

describe("streaming", () => {
  it("feeding a log in chunks of any size, over slice boundaries, gives the records of the whole text", async () => {
    const { StreamParser, SLICE_LINES } = await import("../../src/import/stream.js");
    const base = read("mixed-dmesg.txt").split("\n");
    // Enough copies to cross several slices, with the two-line ≤4.6 form at every offset.
    const lines: string[] = [];
    for (let i = 0; lines.length < SLICE_LINES * 3; i++) {
      lines.push(...base, `[ 1.0] noise ${i}`, "dmar: DMAR:[DMA Read] Request device [02:00.0] fault addr a0c58000 ", "DMAR:[fault reason 02] Present bit in context entry is clear");
    }
    const text = lines.join("\n");
    // The stream parses what importText would (the log's records and its boot-state lines).
    const whole = importText(text, "log").records.map((r) => [r.line, r.endLine, r.kind, r.summary]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 8 }), (cuts) => {
        const got: (string | number)[][] = [];
        const p = new StreamParser((recs) => got.push(...recs.map((r) => [r.line, r.endLine, r.kind, r.summary])), "log");
        let at = 0;
        let k = 0;
        while (at < text.length) {
          const n = cuts[k++ % cuts.length]!;
          p.push(text.slice(at, at + n));
          at += n;
        }
        p.end();
        expect(got).toEqual(whole);
      }),
      { numRuns: 12 },
    );
  });
});

describe("explanations against a loaded scenario", () => {
  it("names the scenario step that unmapped the faulting IOVA", async () => {
    const { EngineServer } = await import("../../src/engine/server.js");
    const server = new EngineServer();
    const text = readFileSync(join(root, "examples", "dma-after-unmap.passthrough.yaml"), "utf8");
    server.handle("update", { uri: "u", version: 1, text });
    const history = server.handle("iovaHistory", { uri: "u" }).map((x) => ({ kind: "ftrace" as const, line: x.line, endLine: x.line, column: 0, text: "", summary: "", fields: { origin: "scenario", event: x.event, iova: x.iova, end: x.end, step: x.step, devices: x.devices.join(",") }, context: [] }));
    expect(history.map((h) => h.fields.event)).toEqual(["map", "unmap"]);
    const fault = parseLog("[  2.0] DMAR: [DMA Write NO_PASID] Request device [04:00.0] fault addr 0x102000 [fault reason 0x05] PTE Write access is not set").records;
    const e = explainRecords(fault, history)[0]!;
    const unmapLine = text.split("\n").findIndex((l) => l.includes("guest-unmap:")) + 1;
    expect(e.evidence[0]).toBe(`IOVA 0x102000 was unmapped at line ${unmapLine} of the scenario (step 5) (0x100000..0x104000): DMA after unmap.`);
    expect(e.causes[0]).toMatch(/^DMA after unmap/);
    // A device the scenario does not have gets no evidence from it.
    const other = parseLog("[  2.0] DMAR: [DMA Write NO_PASID] Request device [07:00.0] fault addr 0x102000 [fault reason 0x05] PTE Write access is not set").records;
    expect(explainRecords(other, history)[0]!.evidence.filter((x) => x.includes("scenario"))).toEqual([]);
  });
});

describe("group listings in other shapes", () => {
  it("reads unindented devices under a header and `ls -l /sys/kernel/iommu_groups/*/devices`", () => {
    const hdr = "[user@fedora ~]$ ./iommu.sh\nIOMMU Group 10:\n00:1f.0 ISA bridge [0601]: Intel Corporation Z390 Chipset LPC/eSPI Controller [8086:a305] (rev 10)\n00:1f.3 Audio device [0403]: Intel Corporation Cannon Lake PCH cAVS [8086:a348] (rev 10)\nIOMMU Group 11:\n\t00:1f.4 SMBus [0c05]: Intel Corporation Cannon Lake PCH SMBus Controller [8086:a323] (rev 10)";
    expect(parseGroups(hdr).records.map((x) => [x.fields.group, x.fields.device])).toEqual([[10, "00:1f.0"], [10, "00:1f.3"], [11, "00:1f.4"]]);
    const ls = "# ls -l /sys/kernel/iommu_groups/*/devices\n/sys/kernel/iommu_groups/0/devices:\ntotal 0\nlrwxrwxrwx 1 root root 0 Nov 25 10:00 0000:00:00.0 -> ../../../../devices/pci0000:00/0000:00:00.0\n\n/sys/kernel/iommu_groups/1/devices:\ntotal 0\nlrwxrwxrwx 1 root root 0 Nov 25 10:00 0000:00:01.0 -> ../../../../devices/pci0000:00/0000:00:01.0\nlrwxrwxrwx 1 root root 0 Nov 25 10:00 0000:01:00.0 -> ../../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0";
    expect(detectKind(ls)).toBe("groups");
    expect(parseGroups(ls).records.map((x) => [x.fields.group, x.fields.device])).toEqual([[0, "00:00.0"], [1, "00:01.0"], [1, "01:00.0"]]);
  });
});

describe("CLI: encodings and explain", () => {
  const tmp = join(tmpdir(), `passthrough-import-test-${process.pid}`);
  beforeAll(async () => {
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(tmp, { recursive: true });
    const log = "[  1.0] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7c346000 [fault reason 0x06] PTE Read access is not set\r\n";
    writeFileSync(join(tmp, "bom.log"), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(log, "utf16le")]));
    writeFileSync(join(tmp, "nobom.log"), Buffer.from(log, "utf16le"));
    const be = Buffer.from(log, "utf16le");
    for (let k = 0; k < be.length; k += 2) [be[k], be[k + 1]] = [be[k + 1]!, be[k]!];
    writeFileSync(join(tmp, "be.log"), Buffer.concat([Buffer.from([0xfe, 0xff]), be]));
    if (!existsSync(cli)) execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
  });
  it("decode reads UTF-16 files (with or without a byte-order mark)", () => {
    for (const f of ["bom.log", "nobom.log", "be.log"]) {
      const j = JSON.parse(spawnSync(process.execPath, [cli, "decode", join(tmp, f), "--json"], { encoding: "utf8" }).stdout) as { records: { reason: number; bdf: string }[] };
      expect(j.records.map((r) => [r.bdf, r.reason]), f).toEqual([["0000:00:02.0", 6]]);
    }
  });
  it("explain streams the file like decode (same records, UTF-16 included)", () => {
    const r = spawnSync(process.execPath, [cli, "explain", join(tmp, "bom.log"), "--json"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { explanations: { title: string; line: number }[] }).explanations.map((e) => [e.line, e.title])).toEqual([[1, expect.stringMatching(/^VT-d read fault 0x06 /)]]);
  });
});
