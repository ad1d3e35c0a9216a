// The field formatting the models share (sim/decodedFields.ts): a poked qword of a wide entry
// decodes to the fields of that qword only, in every model (what the poke hover and the tree show),
// and the domain node asks for the requesters sharing it only when a view reads them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import { bitsOf, decodedField, domainNode, hexText, qwordFields } from "../../src/sim/decodedFields.js";
import { nicScenario } from "./helpers.js";

const unitOf = (model: string) => {
  const p = parseScenario(nicScenario(`{ model: ${model} }`), "t.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return new Machine(p.scenario!).iommu;
};

describe("decoded words of wide entries", () => {
  it.each([["intel-vtd"], ["amd-vi"], ["smmuv3"]])("%s: a context entry's low and high qword decode to fields within that qword, with their bits", (model) => {
    const u = unitOf(model);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => {
        const lo = u.decodeWord("context-lo", v).fields;
        const hi = u.decodeWord("context-hi", v).fields;
        expect(lo.length).toBeGreaterThan(0);
        for (const f of lo) expect([f.lo >= 0, f.hi < 64]).toEqual([true, true]);
        for (const f of hi) expect([f.lo >= 64, f.hi < 128]).toEqual([true, true]);
        // A one-bit field's raw value is that bit of the word.
        for (const f of lo.filter((x) => x.hi === x.lo)) expect(f.raw).toBe(bitsOf(v, f.lo, f.lo));
      }),
      { numRuns: 50, seed: 25 },
    );
  });

  it("qwordFields keeps the fields that start in the qword; decodedField leaves out an absent meaning", () => {
    const f = [decodedField("A", 3, 0, 1n, "1"), decodedField("B", 70, 64, 2n, "2", "two"), decodedField("C", 200, 128, 0n, hexText(0n))];
    expect(qwordFields(f, 0).map((x) => x.name)).toEqual(["A"]);
    expect(qwordFields(f, 1)).toEqual([{ name: "B", hi: 70, lo: 64, raw: 2n, value: "2", meaning: "two" }]);
    expect("meaning" in f[0]!).toBe(false);
    expect(hexText(0xabcn)).toBe("0xabc");
  });

  it("domainNode computes sharedWith when read, not when made", () => {
    let scans = 0;
    const d = domainNode({ did: 3, levels: 4, top: 0x1000n, topName: "PML4", sharedWith: () => (scans++, [0x101]), children: () => [], child: () => undefined });
    expect(scans).toBe(0);
    expect(d).toMatchObject({ kind: "domain", key: "d", did: 3, levels: 4, pageTable: 0x1000n, address: 0x1000n, topName: "PML4", hasChildren: true });
    expect(d.sharedWith).toEqual([0x101]);
    expect(scans).toBe(1);
  });
});
