/**
 * A synthesized scenario never loses a record and always runs: each fault or refusal is either a
 * step or a note with its reason, the topology keeps the listing's IOMMU groups, and every
 * scenario passes `simulate` (parse without errors, every expectation met).
 * groups-desktop.txt is a Z390 desktop's listing in the shape of the usual sysfs loop.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { importText, synthesizeScenario, type EvidenceRecord } from "../../src/import/index.js";
import { MAX_FAULT_STEPS } from "../../src/import/synthesize.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { PciTopology } from "../../src/sim/pci.js";

const read = (f: string) => readFileSync(join(__dirname, "..", "fixtures", "evidence", f), "utf8");

/** Synthesizes, parses and runs; returns the scenario and the run, failing the test on any error. */
function roundTrip(records: EvidenceRecord[]) {
  const s = synthesizeScenario(records, "t");
  const parsed = parseScenario(s.text, "synth.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error").map((d) => d.message), s.text.slice(0, 4000)).toEqual([]);
  const run = runScenario(parsed.scenario!).run!;
  expect(run.failedExpectations.map((o) => o.summary), s.text.slice(0, 4000)).toEqual([]);
  return { s, parsed, run };
}

const dmar = (dev: string, iova: number, write: boolean) => `[  5.0] DMAR: [DMA ${write ? "Write" : "Read"} NO_PASID] Request device [${dev}] fault addr 0x${iova.toString(16)} [fault reason 0x0${write ? 5 : 6}] PTE ${write ? "Write" : "Read"} access is not set`;

describe("synthesize", () => {
  it("a desktop's group listing: the listing's own root ports, and the simulator's groups are the listing's", () => {
    const records = importText(read("groups-desktop.txt")).records;
    const { parsed } = roundTrip(records);
    const { topology } = PciTopology.build(parsed.scenario!.host.pci);
    const simGroups = topology.groups.map((g) => g.devices.map((d) => d.key).sort().join(" ")).sort();
    const byGroup = new Map<number, string[]>();
    for (const r of records) byGroup.set(Number(r.fields.group), [...(byGroup.get(Number(r.fields.group)) ?? []), String(r.fields.device)]);
    expect(simGroups).toEqual([...byGroup.values()].map((g) => g.sort().join(" ")).sort());
  });

  it("faults on more buses than bus 0 has free device numbers: every root port is a valid BDF", () => {
    const log = Array.from({ length: 40 }, (_, b) => dmar(`${(b + 1).toString(16).padStart(2, "0")}:00.0`, 0x1000 * (b + 1), b % 2 === 0)).join("\n");
    const { s, run } = roundTrip(importText(log).records);
    expect(s.reproduced).toHaveLength(40);
    expect(run.outcomes.filter((o) => o.status === "fault")).toHaveLength(40);
    for (const m of s.text.matchAll(/bdf: "00:([0-9a-f]{2})\.[0-7]"/g)) expect(parseInt(m[1]!, 16)).toBeLessThanOrEqual(0x1f);
  });

  it("names from the evidence are quoted as YAML needs, colour codes and control characters dropped; a VM named null stays a string", () => {
    const lspci = "01:00.0 VGA compatible controller [0300]: \x1b[31mNVIDIA\x1b[0m Corporation \"GP104\" #1: [GeForce] [10de:1b80] (rev a1)\n\tKernel driver in use: vfio-pci";
    const xml = "<domain type='kvm'><name>null</name><memory unit='GiB'>2</memory><devices><hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev></devices></domain>";
    const { s } = roundTrip([...importText(lspci).records, ...importText(xml).records]);
    const y = parseYaml(s.text) as { vms: { name: unknown; devices: string[] }[]; host: { pci: { name?: string }[] } };
    expect(y.vms[0]!.name).toBe("null");
    expect(y.vms[0]!.devices).toEqual(["01:00.0"]);
    expect(y.host.pci.find((d) => d.name)!.name).toBe('NVIDIA Corporation "GP104" #1: [GeForce]');
  });

  it("every fault-like record is reproduced or noted with its reason; ftrace io_page_fault is reproduced", () => {
    const log = [
      dmar("03:00.0", 0x7c346000, true),
      "[  5.1] DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x02] Present bit in context entry is clear",
      "[  5.2] DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 0x8 [fault reason 0x25] Blocked a compatibility format interrupt request",
    ].join("\n");
    const trace = "  qemu-system-x86-1234  [003] .....   812.000100: io_page_fault: IOMMU:vfio-pci 0000:05:00.0 iova=0x00000000dead0000 flags=0x0001";
    const records = [...importText(log).records, ...importText(trace, "ftrace").records];
    const { s } = roundTrip(records);
    const faultLike = records.map((r, i) => [r, i] as const).filter(([r]) => /fault|event/.test(r.kind) || r.fields.event === "io_page_fault");
    for (const [r, i] of faultLike) expect(s.reproduced.includes(i) || s.notes.some((n) => n.startsWith(`line ${r.line + 1}:`)), r.summary).toBe(true);
    expect(s.text).toMatch(/dma: \{ device: "05:00.0", iova: 0xdead0000, length: 4KiB, write: true \}/);
  });

  it("faults beyond missing translations, from public reports, come back as the same kernel lines: root/context not present, a bad table pointer, reserved bits in a PTE, IRTE not present, a blocked compatibility MSI", () => {
    const want = [
      // test/fixtures/evidence/mixed-dmesg.txt and real-world.txt (an i915 boot log).
      "DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0xfffc0000 [fault reason 0x02] Present bit in context entry is clear",
      "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7cd80000 [fault reason 0x01] Present bit in root entry is clear",
      "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x70ad5000 [fault reason 0x07] Next page table ptr is invalid",
      // A Dell WD19TB dock's xHCI on 6.11-rc4 (lkml regression report, 28 Aug 2024, kernel bugzilla 219198).
      "DMAR: [DMA Read NO_PASID] Request device [04:00.0] fault addr 0xffffe000 [fault reason 0x0c] non-zero reserved fields in PTE",
      // lkml, 2 Mar 2022, "IRTE entry not present errors for serial driver" (ptp_ocp, 5.17-rc4).
      "DMAR: [INTR-REMAP] Request device [65:00.0] fault index 0x25 [fault reason 0x22] Present field in the IRTE entry is clear",
      // linux-pci, Feb 2022, "PCI: vmd: Check EIME mode before MSI remapping" (there in the 5.14-5.17 "[0xc9:0x05.0]" form).
      "DMAR: [INTR-REMAP] Request device [c9:05.0] fault index 0xa00 [fault reason 0x25] Blocked a compatibility format interrupt request",
    ];
    const records = importText(want.map((l, i) => `[  ${i + 5}.0] ${l}`).join("\n")).records;
    const { s, run } = roundTrip(records);
    expect(s.reproduced).toEqual([0, 1, 2, 3, 4, 5]);
    expect(s.notes).toEqual([]);
    const kernel = run.log.filter((l) => l.source === "kernel").map((l) => l.text.replace(/^\[\s*\d+\.\d+\] /, ""));
    for (const line of want) expect(kernel).toContain(line);
    // Each entry is put back after its step: the last fault of 00:02.0 is not a root-entry fault again.
    expect(s.text).toMatch(/poke: \{ target: \{ device: "00:02.0", structure: root \}, set: 0x1 \}/);
    expect(s.text).toMatch(/intremap: true/);
    expect(s.text).not.toMatch(/scalable: true/);
  });

  it("a log of scalable-mode faults (a 6.x host with first-level DMA tables) gives a scalable-mode unit that prints each line again", () => {
    const want = [
      // test/fixtures/evidence/real-world.txt
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x100000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
      "DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x200000 [fault reason 0x85] SM: No write permission for Write/AtomicOp request",
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x300000 [fault reason 0x41] SM: Present bit in Context Entry is clear",
      // devfn 0x81: the upper half of the scalable root entry.
      "DMAR: [DMA Read NO_PASID] Request device [04:10.1] fault addr 0x300000 [fault reason 0x39] SM: Present bit in Root Entry is clear",
      "DMAR: [DMA Read NO_PASID] Request device [04:10.1] fault addr 0x300000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
    ];
    const records = importText(want.map((l, i) => `[  ${i + 5}.0] ${l}`).join("\n")).records;
    const { s, run } = roundTrip(records);
    expect(s.text).toMatch(/iommu: \{ model: intel-vtd, address-width: 48, scalable: true \}/);
    expect(s.text).toMatch(/structure: root-hi \}, clear: 0x1/);
    expect(s.reproduced).toEqual([0, 1, 2, 3, 4]);
    const kernel = run.log.filter((l) => l.source === "kernel").map((l) => l.text.replace(/^\[\s*\d+\.\d+\] /, ""));
    for (const line of want) expect(kernel).toContain(line);
    // With a legacy-mode reason in the same log the unit stays in legacy mode and the others are noted.
    const mixed = synthesizeScenario(importText(`${want[0]}\n[  9.0] DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x9000 [fault reason 0x06] PTE Read access is not set`).records);
    expect(mixed.text).not.toMatch(/scalable: true/);
    expect(mixed.notes).toEqual([expect.stringMatching(/^line 1: .*not reproduced: the log's other faults put the unit in legacy mode, and this reason is scalable mode's/)]);
  });

  it("130 000 identical and repeated faults: no stack overflow, folded into `repeat`, small enough for simulate", () => {
    const lines: string[] = [];
    for (let k = 0; k < 130_000; k++) lines.push(dmar("03:00.0", 0x10000 + (k % 50) * 0x1000, k % 2 === 0));
    const records = importText(lines.join("\n")).records;
    const s = synthesizeScenario(records, "big");
    expect(s.reproduced).toHaveLength(130_000);
    expect(s.text.length).toBeLessThan(200_000);
    expect(s.text).toMatch(/repeat: 2600\b/);
    const parsed = parseScenario(s.text, "big.passthrough.yaml");
    expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  });

  it("more distinct faults than the scenario keeps: the rest are one note with their count", () => {
    const n = MAX_FAULT_STEPS + 5;
    const records = importText(Array.from({ length: n }, (_, k) => dmar("03:00.0", 0x100000 + k * 0x1000, true)).join("\n")).records;
    const s = synthesizeScenario(records, "many");
    expect(s.reproduced).toHaveLength(MAX_FAULT_STEPS);
    expect(s.notes.at(-1)).toMatch(/^lines \d+-\d+: 5 more faults at 5 other pages \(not reproduced: the scenario keeps the first 10000 distinct faults\)$/);
  });

  it("property: mutated evidence always synthesizes to a scenario that simulates, and loses no record", () => {
    const base = [...read("groups-desktop.txt").split("\n"), ...read("mixed-dmesg.txt").split("\n"), ...read("lspci-nnk.txt").split("\n")];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("dup" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("fault" as const), bus: fc.integer({ min: 0, max: 255 }), dev: fc.integer({ min: 0, max: 31 }), fn: fc.integer({ min: 0, max: 7 }), page: fc.integer({ min: 1, max: 0xfffff }), write: fc.boolean() }),
      fc.record({ kind: fc.constant("junk" as const), text: fc.string({ maxLength: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 12 }), (muts) => {
        const lines = [...base];
        for (const m of muts) {
          if (m.kind === "drop" && lines.length) lines.splice(m.at % lines.length, 1);
          else if (m.kind === "dup" && lines.length) lines.splice(m.at % lines.length, 0, lines[m.at % lines.length]!);
          else if (m.kind === "fault") lines.push(dmar(`${m.bus.toString(16).padStart(2, "0")}:${m.dev.toString(16).padStart(2, "0")}.${m.fn}`, m.page * 0x1000, m.write));
          else if (m.kind === "junk") lines.push(m.text);
        }
        // The three kinds imported separately, as a user would import three files.
        const groups = importText(lines.filter((l) => l.startsWith("IOMMU Group")).join("\n")).records;
        const log = importText(lines.filter((l) => !l.startsWith("IOMMU Group") && !/^\d\d:|^\t/.test(l)).join("\n"), "log").records;
        const { s } = roundTrip([...groups, ...log]);
        const all = [...groups, ...log];
        all.forEach((r, i) => {
          if (r.kind === "dmar-fault" || r.kind === "amdvi-event" || r.kind === "smmuv3-event") expect(s.reproduced.includes(i) || s.notes.some((n) => n.startsWith(`line ${r.line + 1}:`)), r.summary).toBe(true);
        });
      }),
      { numRuns: 25 },
    );
  });
});
