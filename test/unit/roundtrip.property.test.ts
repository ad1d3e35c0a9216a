/**
 * Round trips: import -> synthesize -> simulate reproduces every reproducible record. For each
 * evidence fixture (test/fixtures/evidence), all of them together, and mutated evidence, the
 * synthesized scenario simulates with every expectation met, and every fault record is either
 * reproduced - the simulated host's own dmesg, imported again, has a DMAR fault with the same
 * device, the same page and (for a VT-d record) the same fault reason, or for the other IOMMUs the
 * same direction - or named in a note with its reason.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { importText, synthesizeScenario, type EvidenceRecord } from "../../src/import/index.js";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { bdfKey } from "../../src/sim/bdf.js";

const dir = join(__dirname, "..", "fixtures", "evidence");
const fixtures = readdirSync(dir).sort().map((f) => ({ name: f, text: readFileSync(join(dir, f), "utf8") }));

const FAULT_KINDS = new Set(["dmar-fault", "amdvi-event", "smmuv3-event", "smmuv2-fault", "intr-remap-fault"]);
const isFault = (r: EvidenceRecord) => FAULT_KINDS.has(r.kind) || r.fields.event === "io_page_fault";

/** What a reproduced record must show again in the simulated dmesg: device, page, and the reason or the direction. */
function signature(r: EvidenceRecord): { dev: string; page: bigint; reason?: number; write?: boolean } | undefined {
  const f = r.fields;
  const dev = bdfKey(String(f.device ?? f.client ?? ""));
  const addr = f.address ?? f.iova;
  if (dev === undefined || typeof addr !== "string") return undefined;
  const page = BigInt(addr) >> 12n;
  if (r.kind === "dmar-fault") return { dev, page, reason: Number(f.reason) };
  // (the io_page_fault tracepoint's flags are report_iommu_fault's: IOMMU_FAULT_WRITE is 0x1)
  if (r.kind === "ftrace") return { dev, page, write: (Number(f.flags) & 1) !== 0 };
  return { dev, page, ...(typeof f.write === "boolean" ? { write: f.write } : {}) };
}

/**
 * The same record again, in the scenario's own model: an interrupt-remapping fault with its device,
 * index and reason; an AMD-Vi or SMMU event with its name and device, and for a page fault its exact
 * address, direction and, for an AMD-Vi write, whether the page was present (a read of a present
 * page needs a write-only mapping, which QEMU's VFIO maps never are: it is reproduced not present).
 */
function sameEvent(r: EvidenceRecord, x: EvidenceRecord): boolean {
  const dev = (q: EvidenceRecord) => bdfKey(String(q.fields.device ?? q.fields.client ?? ""));
  if (x.kind !== r.kind || dev(x) !== dev(r)) return false;
  if (r.kind === "intr-remap-fault") return x.fields.index === r.fields.index && x.fields.reason === r.fields.reason;
  if (x.fields.event !== r.fields.event) return false;
  if (!["IO_PAGE_FAULT", "F_TRANSLATION", "F_PERMISSION"].includes(String(r.fields.event))) return true;
  const at = (q: EvidenceRecord) => BigInt(String(q.fields.address ?? q.fields.iova));
  return at(x) === at(r) && x.fields.write === r.fields.write && (r.fields.write !== true || x.fields.present === r.fields.present);
}

/** Synthesizes, simulates, re-imports the simulated dmesg and checks every fault record. */
function roundTrip(records: EvidenceRecord[], label: string): { reproduced: number; noted: number } {
  const s = synthesizeScenario(records, label);
  const parsed = parseScenario(s.text, "synth.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.range.line + 1}: ${d.message}`), label).toEqual([]);
  const run = runScenario(parsed.scenario!).run!;
  expect(run.failedExpectations.map((o) => o.summary), label).toEqual([]);
  const dmesg = run.log.filter((l) => l.source === "kernel").map((l) => l.text).join("\n");
  const again = importText(dmesg, "log").records;
  const simulated = again.filter((r) => r.kind === "dmar-fault").map((r) => signature(r)!);
  let reproduced = 0;
  let noted = 0;
  records.forEach((r, i) => {
    if (!isFault(r)) return;
    if (s.reproduced.includes(i)) {
      const want = signature(r) ?? { dev: "", page: -1n };
      const hit = again.some((x) => sameEvent(r, x)) || simulated.some((x) => x.dev === want.dev && x.page === want.page && (want.reason === undefined || x.reason === want.reason) && (want.write === undefined || (x.reason === 5) === want.write));
      expect(hit, `${label}: line ${r.line + 1} (${r.summary}) is not in the simulated dmesg:\n${dmesg.split("\n").filter((l) => l.includes(want.dev) && !l.includes("iommu group")).join("\n").slice(0, 3000)}`).toBe(true);
      reproduced++;
    } else {
      expect(s.notes.some((n) => n.startsWith(`line ${r.line + 1}:`) || n.startsWith(`lines `)), `${label}: line ${r.line + 1} (${r.summary}) is neither reproduced nor noted`).toBe(true);
      noted++;
    }
  });
  return { reproduced, noted };
}

/** Linux's dma_remap_fault_reasons[] for the legacy reasons the synthesis reproduces. */
const REASON_TEXT: Record<number, string> = { 1: "Present bit in root entry is clear", 2: "Present bit in context entry is clear", 5: "PTE Write access is not set", 6: "PTE Read access is not set", 7: "Next page table ptr is invalid", 0xa: "non-zero reserved fields in RTP", 0xb: "non-zero reserved fields in CTP", 0xc: "non-zero reserved fields in PTE" };
const dmar = (dev: string, iova: number, write: boolean, reason = write ? 5 : 6) => `[  5.0] DMAR: [DMA ${write ? "Write" : "Read"} NO_PASID] Request device [${dev}] fault addr 0x${iova.toString(16)} [fault reason 0x0${reason.toString(16)}] ${REASON_TEXT[reason]}`;
const ir = (dev: string, index: number, reason: number) => `[  7.0] DMAR: [INTR-REMAP] Request device [${dev}] fault index 0x${index.toString(16)} [fault reason 0x${reason.toString(16)}] ${reason === 0x22 ? "Present field in the IRTE entry is clear" : "Blocked a compatibility format interrupt request"}`;
const amd = (dev: string, iova: number, write: boolean) => `[  6.0] vfio-pci 0000:${dev}: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000d address=0x${iova.toString(16)} flags=${write ? "0x0020" : "0x0000"}]`;
const hex2 = (n: number) => n.toString(16).padStart(2, "0");

describe("round trip: import -> synthesize -> simulate", () => {
  it("every evidence fixture, and all of them together: each fault record reproduced in the simulated dmesg or noted", () => {
    let total = 0;
    for (const f of fixtures) total += roundTrip(importText(f.text).records, f.name).reproduced;
    // All files of one machine, imported one by one as a user would, in one scenario.
    const all = fixtures.flatMap((f) => importText(f.text).records);
    const together = roundTrip(all, "all fixtures");
    expect(together.reproduced).toBe(total);
    expect(total).toBeGreaterThanOrEqual(12);
  });

  it("property: mutated evidence (faults added, lines dropped, duplicated or replaced by junk) round-trips", () => {
    const base = [...fixtures.find((f) => f.name === "mixed-dmesg.txt")!.text.split("\n"), ...fixtures.find((f) => f.name === "real-world.txt")!.text.split("\n")];
    const trace = fixtures.find((f) => f.name === "iommu-trace.txt")!.text;
    const dev = fc.record({ bus: fc.integer({ min: 0, max: 255 }), dev: fc.integer({ min: 0, max: 31 }), fn: fc.integer({ min: 0, max: 7 }) }).map((d) => `${hex2(d.bus)}:${hex2(d.dev)}.${d.fn}`);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("dup" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("dmar" as const), dev, page: fc.integer({ min: 1, max: 0xfffff }), write: fc.boolean() }),
      fc.record({ kind: fc.constant("dmar-other" as const), dev, page: fc.integer({ min: 1, max: 0xfffff }), write: fc.boolean(), reason: fc.constantFrom(1, 2, 7, 0xa, 0xb, 0xc) }),
      fc.record({ kind: fc.constant("ir" as const), dev, index: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xff }).map((d) => d << 8)), reason: fc.constantFrom(0x22, 0x25) }),
      fc.record({ kind: fc.constant("amd" as const), dev, page: fc.integer({ min: 1, max: 0xfffff }), write: fc.boolean() }),
      fc.record({ kind: fc.constant("junk" as const), at: fc.nat(), text: fc.string({ maxLength: 60 }) }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 10 }), (muts) => {
        const lines = [...base];
        for (const m of muts) {
          if (m.kind === "drop" && lines.length) lines.splice(m.at % lines.length, 1);
          else if (m.kind === "dup" && lines.length) lines.splice(m.at % lines.length, 0, lines[m.at % lines.length]!);
          else if (m.kind === "dmar") lines.push(dmar(m.dev, m.page * 0x1000, m.write));
          else if (m.kind === "dmar-other") lines.push(dmar(m.dev, m.page * 0x1000, m.write, m.reason));
          else if (m.kind === "ir") lines.push(ir(m.dev, m.index, m.reason));
          else if (m.kind === "amd") lines.push(amd(m.dev, m.page * 0x1000 + 0x10, m.write));
          else if (m.kind === "junk" && lines.length) lines[m.at % lines.length] = m.text;
        }
        roundTrip([...importText(lines.join("\n"), "log").records, ...importText(trace, "ftrace").records], "mutated");
      }),
      { numRuns: 30 },
    );
  });

  it("property: a log of scalable-mode faults only gives a scalable-mode unit that prints them again (0x39, 0x41, 0x71, 0x85)", () => {
    // dma_remap_sm_fault_reasons[] (drivers/iommu/intel/dmar.c), 0x30 on.
    const text: Record<number, string> = { 0x39: "SM: Present bit in Root Entry is clear", 0x41: "SM: Present bit in Context Entry is clear", 0x71: "SM: Present bit in first-level paging entry is clear", 0x85: "SM: No write permission for Write/AtomicOp request" };
    const dev = fc.record({ bus: fc.integer({ min: 0, max: 255 }), dev: fc.integer({ min: 0, max: 31 }), fn: fc.integer({ min: 0, max: 7 }) }).map((d) => `${hex2(d.bus)}:${hex2(d.dev)}.${d.fn}`);
    // Also inside x86's interrupt window (0xfee00000-0xfeefffff), where a write is an interrupt
    // request, not DMA: those records are noted, not reproduced (0x85 is always a write).
    const page = fc.oneof(fc.integer({ min: 1, max: 0xfffff }), fc.integer({ min: 0xfee00, max: 0xfeeff }));
    const inWindow = (line: string) => /DMA Write/.test(line) && /fault addr 0xfee[0-9a-f]{5} /.test(line);
    const fault = fc.record({ dev, page, write: fc.boolean(), reason: fc.constantFrom(0x39, 0x41, 0x71, 0x85) }).map((f) => {
      const write = f.write || f.reason === 0x85;
      return `[  5.0] DMAR: [DMA ${write ? "Write" : "Read"} NO_PASID] Request device [${f.dev}] fault addr 0x${(f.page * 0x1000).toString(16)} [fault reason 0x${f.reason.toString(16)}] ${text[f.reason]}`;
    });
    fc.assert(
      fc.property(fc.array(fault, { minLength: 1, maxLength: 8 }), (lines) => {
        const records = importText(lines.join("\n"), "log").records;
        expect(synthesizeScenario(records).text).toMatch(/scalable: true/);
        const { reproduced, noted } = roundTrip(records, "scalable mode");
        const windowed = lines.filter(inWindow).length;
        expect(noted).toBe(windowed);
        expect(reproduced).toBe(lines.length - windowed);
      }),
      { numRuns: 30 },
    );
  });

  it("property: AMD-Vi-only and SMMUv3-only evidence round-trips in its own model, every event at its exact address", () => {
    const dev = fc.record({ bus: fc.integer({ min: 1, max: 255 }), dev: fc.integer({ min: 0, max: 31 }), fn: fc.integer({ min: 0, max: 7 }) }).map((d) => `${hex2(d.bus)}:${hex2(d.dev)}.${d.fn}`);
    // Also inside x86's interrupt window and the Arm guest's reserved MSI window, where a write is
    // an MSI (x86) or the page cannot be mapped: those records are noted, not reproduced.
    const address = fc.oneof(fc.integer({ min: 1, max: 0xfffffff }).map((a) => a * 0x10), fc.integer({ min: 0xfee0000, max: 0xfeeffff }).map((a) => a * 0x10), fc.integer({ min: 0x800000, max: 0x80ffff }).map((a) => a * 0x10));
    const inWindow = (line: string) => {
      const m = /(?:address=|iova: )(0x[0-9a-f]+)/.exec(line);
      const a = m ? Number(m[1]) : 0;
      if (/AMD-Vi/.test(line)) return a >= 0xfee00000 && a <= 0xfeefffff && /flags=0x00[27]0\]/.test(line);
      return a >= 0x8000000 && a < 0x8100000 && /F_PERMISSION/.test(line);
    };
    // drivers/iommu/amd/iommu.c amd_iommu_report_page_fault / iommu_print_event (flags: PR 0x10, RW 0x20, PE 0x40).
    const amdEvent = fc.oneof(
      fc.record({ dev, address, write: fc.boolean(), present: fc.boolean() }).map((e) => `[  6.0] vfio-pci 0000:${e.dev}: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0007 address=0x${e.address.toString(16)} flags=0x00${((e.write ? 0x20 : 0) | (e.present ? 0x50 : 0)).toString(16).padStart(2, "0")}]`),
      dev.map((d) => `[  6.0] iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=0000:${d} pasid=0x00000 address=0x0 flags=0x0080]`),
    );
    // arm_smmu_dump_event (v6.15): the decoded lines; the direction on the second.
    const smmuEvent = fc.record({ dev, address, write: fc.boolean(), event: fc.constantFrom("F_TRANSLATION", "F_PERMISSION", "C_BAD_STE") }).map((e) => {
      const sid = `0x${(parseInt(e.dev.slice(0, 2), 16) * 256 + parseInt(e.dev.slice(3, 5), 16) * 8 + Number(e.dev.slice(6))).toString(16)}`;
      const head = `arm-smmu-v3 arm-smmu-v3.0.auto: event: ${e.event} client: 0000:${e.dev} sid: ${sid} ssid: 0x0`;
      if (e.event === "C_BAD_STE") return head;
      return `${head} iova: 0x${e.address.toString(16)} ipa: 0x0\narm-smmu-v3 arm-smmu-v3.0.auto: unpriv data ${e.write || e.event === "F_PERMISSION" ? "write" : "read"} s1 "Input address caused fault" stag: 0x0`;
    });
    fc.assert(
      fc.property(fc.oneof(fc.array(amdEvent, { minLength: 1, maxLength: 8 }), fc.array(smmuEvent, { minLength: 1, maxLength: 8 })), (lines) => {
        const records = importText(lines.join("\n"), "log").records;
        const { reproduced, noted } = roundTrip(records, "one model");
        const windowed = lines.filter(inWindow).length;
        expect(noted).toBe(windowed);
        expect(reproduced).toBe(lines.length - windowed);
      }),
      { numRuns: 40 },
    );
  });
});
