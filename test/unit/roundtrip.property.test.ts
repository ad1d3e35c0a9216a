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

const FAULT_KINDS = new Set(["dmar-fault", "amdvi-event", "smmuv3-event", "smmuv2-fault"]);
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

/** Synthesizes, simulates, re-imports the simulated dmesg and checks every fault record. */
function roundTrip(records: EvidenceRecord[], label: string): { reproduced: number; noted: number } {
  const s = synthesizeScenario(records, label);
  const parsed = parseScenario(s.text, "synth.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.range.line + 1}: ${d.message}`), label).toEqual([]);
  const run = runScenario(parsed.scenario!).run!;
  expect(run.failedExpectations.map((o) => o.summary), label).toEqual([]);
  const dmesg = run.log.filter((l) => l.source === "kernel").map((l) => l.text).join("\n");
  const simulated = importText(dmesg, "log").records.filter((r) => r.kind === "dmar-fault").map((r) => signature(r)!);
  let reproduced = 0;
  let noted = 0;
  records.forEach((r, i) => {
    if (!isFault(r)) return;
    if (s.reproduced.includes(i)) {
      const want = signature(r)!;
      const hit = simulated.some((x) => x.dev === want.dev && x.page === want.page && (want.reason === undefined || x.reason === want.reason) && (want.write === undefined || (x.reason === 5) === want.write));
      expect(hit, `${label}: line ${r.line + 1} (${r.summary}) is not in the simulated dmesg:\n${dmesg.split("\n").filter((l) => l.includes(want.dev) && !l.includes("iommu group")).join("\n").slice(0, 3000)}`).toBe(true);
      reproduced++;
    } else {
      expect(s.notes.some((n) => n.startsWith(`line ${r.line + 1}:`) || n.startsWith(`lines `)), `${label}: line ${r.line + 1} (${r.summary}) is neither reproduced nor noted`).toBe(true);
      noted++;
    }
  });
  return { reproduced, noted };
}

const dmar = (dev: string, iova: number, write: boolean) => `[  5.0] DMAR: [DMA ${write ? "Write" : "Read"} NO_PASID] Request device [${dev}] fault addr 0x${iova.toString(16)} [fault reason 0x0${write ? 5 : 6}] PTE ${write ? "Write" : "Read"} access is not set`;
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
          else if (m.kind === "amd") lines.push(amd(m.dev, m.page * 0x1000 + 0x10, m.write));
          else if (m.kind === "junk" && lines.length) lines[m.at % lines.length] = m.text;
        }
        roundTrip([...importText(lines.join("\n"), "log").records, ...importText(trace, "ftrace").records], "mutated");
      }),
      { numRuns: 30 },
    );
  });
});
