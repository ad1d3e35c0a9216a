// The VT-d `pasid-entry` poke target (docs/vtd-scalable-device.md): a 64-bit word of the PASID
// table entry of a device's PASID, located through the scalable-mode tables as the unit reads
// them; scalable-mode context-lo / context-hi; the decoder of a PASID entry's qword 0.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "pasid-entry-poke.passthrough.yaml"), "utf8");
const ATS = readFileSync(join(__dirname, "..", "..", "examples", "scalable-ats-stale-pasid.passthrough.yaml"), "utf8");
const DSA = 0x0200;

function run(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
}

const BOUND = EXAMPLE.replace(/  - poke:[\s\S]*$/, "");

/** The PASID table entry address of (rid, pasid), read through the driver's own PASID directory. */
function pasidEntryAt(r: ReturnType<typeof run>, rid: number, pasid: number): number {
  const h = r.machine.hostIommu as VtdHost;
  const de = h.unit.mem.readU64(h.driver.pasidDirectory(rid)! + (pasid >>> 6) * 8)!;
  return Number(de & ~0xfffn) + (pasid & 0x3f) * 64;
}

describe("poke target pasid-entry (VT-d scalable mode)", () => {
  it("examples/pasid-entry-poke: a reserved PGTT faults 0x5b once the PASID cache is invalidated, a reserved bit of word 2 0x5a", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.map((o) => o.expect?.failures ?? [])).toEqual(r.outcomes.map(() => []));
    expect(r.outcomes.map((o) => o.fault)).toEqual([undefined, undefined, undefined, undefined, undefined, 0x5b, undefined, undefined, undefined, undefined, 0x5a]);
  });

  it("locates word N of the PASID table entry of the named PASID, as the driver wrote it", () => {
    const r = run(BOUND);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), (word) => {
        expect(r.machine.iommu.locate({ sid: DSA, structure: "pasid-entry", pasid: 5, word })).toBe(pasidEntryAt(r, DSA, 5) + 8 * word);
      }),
    );
    // Absent pasid: PASID 0, the RID_PASID entry of the device's DMA domain.
    expect(r.machine.iommu.locate({ sid: DSA, structure: "pasid-entry" })).toBe(pasidEntryAt(r, DSA, 0));
  });

  it("context-lo / context-hi in scalable mode are qwords 0 and 1 of the 256-bit context entry", () => {
    const r = run(BOUND);
    const at = (r.machine.hostIommu as VtdHost).driver.smContextEntry(DSA);
    expect(r.machine.iommu.locate({ sid: DSA, structure: "context-lo" })).toBe(at);
    expect(r.machine.iommu.locate({ sid: DSA, structure: "context-hi" })).toBe(at + 8);
  });

  it("a poke clearing DTE in the scalable-mode context entry: 0x44 once the context cache is invalidated", () => {
    const text = ATS.replace(/  - unbind-pasid[\s\S]*$/, "") + `  - poke: { target: { device: "02:00.0", structure: context-lo }, clear: 0x4 }
  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_1000, length: 4KiB }
    expect: ok
  - invalidate: { granularity: context-device, device: "02:00.0" }
  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_1000, length: 4KiB }
    expect: { fault: 0x44, recorded: true }
`;
    const r = run(text);
    expect(r.outcomes.map((o) => o.expect?.failures ?? [])).toEqual(r.outcomes.map(() => []));
  });

  it("names what is missing: a PASID with no PASID table, a PASID beyond the directory, legacy mode, a pte in scalable mode", () => {
    const r = run(BOUND);
    expect(r.machine.iommu.locate({ sid: DSA, structure: "pasid-entry", pasid: 0x40 })).toBe("the PASID directory entry 1 of 02:00.0 is not present: no PASID table for PASID 0x40");
    expect(r.machine.iommu.locate({ sid: DSA, structure: "pasid-entry", pasid: 0xfffff })).toMatch(/^PASID 0xfffff is beyond the PASID directory of 02:00.0 \(PDTS \d: \d+ entries\)$/);
    expect(r.machine.iommu.locate({ sid: 0x0300, structure: "pasid-entry", pasid: 5 })).toBe("the scalable-mode root entry of bus 03 has LP = 0: no lower context table");
    expect(typeof r.machine.iommu.locate({ sid: DSA, structure: "pte", iova: 0n })).toBe("string");
    const legacy = run(readFileSync(join(__dirname, "..", "..", "examples", "device-tlb-stale.passthrough.yaml"), "utf8"));
    expect(legacy.machine.iommu.locate({ sid: 0x0300, structure: "pasid-entry", pasid: 5 })).toMatch(/legacy mode: it has no PASID tables/);
    // The step reports it, with the step's line.
    const bad = run(BOUND + '  - poke: { target: { device: "02:00.0", structure: pasid-entry, pasid: 0x40 }, value: 0 }\n');
    expect([bad.outcomes.at(-1)!.error, bad.outcomes.at(-1)!.summary]).toEqual(["poke-target-missing", expect.stringMatching(/PASID directory entry 1 of 02:00.0 is not present/)]);
  });

  it("bad input: pasid/word on another structure, a word beyond 7", () => {
    const errors = (t: string) => parseScenario(t, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errors(BOUND + '  - poke: { target: { device: "02:00.0", structure: context-lo, pasid: 5 }, value: 0 }\n')).toEqual(['"pasid" belongs to a pasid-entry target']);
    expect(errors(BOUND + '  - poke: { target: { device: "02:00.0", structure: pasid-entry, word: 8 }, value: 0 }\n')).toHaveLength(1);
  });

  it("decodes qword 0 of a PASID entry: P, PGTT by name, reserved bits -> 0x5a", () => {
    const r = run(BOUND);
    const d = r.machine.iommu.decodeWord("pasid-entry", 0x1000c049n);
    expect(d.present).toBe(true);
    expect(d.fields.find((f) => f.name === "PGTT")).toMatchObject({ raw: 1n, meaning: "first-level" });
    expect(d.reserved).toBeUndefined();
    expect(r.machine.iommu.decodeWord("pasid-entry", 0x1000c449n).reserved).toEqual({ bits: 0x400n, reason: 0x5a });
  });
});
