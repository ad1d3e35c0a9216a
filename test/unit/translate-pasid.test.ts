// `pasid` on translate steps and on Translate Address: a request with PASID on a scalable-mode
// host walks the PASID directory and table, and Mapping Tables reveals the entry it read.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { parsePasid } from "../../src/protocol/pasid.js";
import { parseScenario } from "../../src/scenario/parse.js";
import { validateScenario } from "../../src/scenario/validate.js";
import { runScenario } from "../../src/sim/run.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");
const SM = read("first-level-permission");
const LEGACY = read("healthy-nic");

function open(text: string) {
  const server = new EngineServer();
  server.handle("update", { uri: "u", version: 1, text });
  return server;
}

/** Whether every node of a Mapping Tables id (t/root/...) is one the tree serves, parent by parent. */
function resolves(s: EngineServer, id: string): boolean {
  const parts = id.split("/");
  for (let n = 2; n < parts.length; n++) {
    const parent = parts.slice(0, n).join("/");
    const [kids] = s.handle("children", { uri: "u", view: "tables", ids: [parent], radix: "hex", after: false });
    if (!kids?.some((k) => k.id === `${parent}/${parts[n]}`)) return false;
  }
  return true;
}

describe("translate steps with pasid", () => {
  it("a request with PASID walks the PASID's first-level table: the read translates, the write faults 0x85", () => {
    const text = `${SM}  - translate: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000 }\n    expect: { ok: true }\n  - translate: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, write: true }\n    expect: { fault: 0x85 }\n  - translate: { device: "02:00.0", pasid: 6, iova: 0x7f00_0000_0000 }\n`;
    const p = parseScenario(text, "t.yaml");
    expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const run = runScenario(p.scenario!).run!;
    const o = run.outcomes.slice(-3);
    expect(o.map((x) => x.expect?.pass)).toEqual([true, true, undefined]);
    // PASID 6 is not bound: its PASID table entry is not present (a scalable-mode fault, 0x30 and up).
    expect(o[2]!.status).toBe("fault");
    expect(o[2]!.fault).toBeGreaterThanOrEqual(0x30);
    // Without the pasid the same address goes through RID_PASID's tables: not the PASID's answer.
    const without = runScenario(parseScenario(`${SM}  - translate: { device: "02:00.0", iova: 0x7f00_0000_0000 }\n`, "t.yaml").scenario!).run!;
    expect(without.outcomes.at(-1)!.status).toBe("fault");
  });

  it("a PASID on a legacy-mode host or beyond the unit's PASID bits is an error at the step", () => {
    const legacy = `${LEGACY}  - translate: { device: "01:00.0", pasid: 1, iova: 0x1000 }\n`;
    const p = parseScenario(legacy, "t.yaml");
    const d = validateScenario(p.scenario!).find((x) => x.code === "pasid-unsupported");
    expect(d?.message).toMatch(/^translate with PASID 0x1, but host.iommu is a legacy-mode unit/);
    expect(d?.range.line).toBe(legacy.split("\n").findIndex((l) => l.includes("pasid: 1")));
    const wide = parseScenario(`${SM}  - translate: { device: "02:00.0", pasid: 0x100000, iova: 0x1000 }\n`, "t.yaml");
    expect(wide.diagnostics.some((x) => x.severity === "error" && /pasid/.test(x.message))).toBe(true);
  });
});

describe("Translate Address with a PASID", () => {
  it("answers the PASID's walk and reveals its PASID table entry path in Mapping Tables", () => {
    const s = open(SM);
    const n = s.handle("devices", { uri: "u" });
    expect(n.find((d) => d.key === "02:00.0")?.pasid).toBe(true);
    s.handle("setCursor", { uri: "u", step: 99 });
    const ans = s.handle("translate", { uri: "u", device: "02:00.0", iova: "0x7f0000000000", write: false, pasid: 5, after: true });
    expect(ans.reason).toBe(0);
    expect(ans.stages.filter((x) => x.kind === "pasid").length).toBe(2);
    expect(ans.revealId).toMatch(/^t\/root\/02\/00\/p5\/\d+/);
    expect(resolves(s, ans.revealId!)).toBe(true);
    const w = s.handle("translate", { uri: "u", device: "02:00.0", iova: "0x7f0000000000", write: true, pasid: 5, after: true });
    expect(w.reason).toBe(0x85);
  });

  it("refuses a PASID on a legacy host and one wider than 20 bits, with the reason", () => {
    expect(() => open(LEGACY).handle("translate", { uri: "u", device: "01:00.0", iova: "0x1000", write: false, pasid: 1 })).toThrow(/scalable-mode host/);
    expect(() => open(SM).handle("translate", { uri: "u", device: "02:00.0", iova: "0x1000", write: false, pasid: 0x100000 })).toThrow(/20-bit/);
    expect(open(LEGACY).handle("devices", { uri: "u" }).some((d) => d.pasid)).toBe(false);
  });

  it("property: any PASID and address gives an answer whose reveal path the tree serves", () => {
    const s = open(SM);
    // After the whole workload: PASID 5 is bound.
    s.handle("setCursor", { uri: "u", step: 99 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffff }), fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }), fc.boolean(), fc.constantFrom("01:00.0", "02:00.0"), (pasid, iova, write, device) => {
        const ans = s.handle("translate", { uri: "u", device, iova: `0x${iova.toString(16)}`, write, pasid, after: true });
        if (ans.revealId) expect(resolves(s, ans.revealId)).toBe(true);
      }),
      { numRuns: 40 },
    );
    // The bound PASID's mapped pages: always a full path down to the leaf.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfff }), (off) => {
        const ans = s.handle("translate", { uri: "u", device: "02:00.0", iova: `0x${(0x7f0000000000 + off).toString(16)}`, write: false, pasid: 5, after: true });
        expect(ans.revealId?.startsWith("t/root/02/00/p5/")).toBe(true);
        expect(resolves(s, ans.revealId!)).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it("parses a typed PASID: hex or decimal, 20 bits, empty for none", () => {
    expect([parsePasid(""), parsePasid(" 0x5 "), parsePasid("12"), parsePasid("0xf_ffff"), parsePasid("0x100000"), parsePasid("five"), parsePasid("-1")]).toEqual([null, 5, 12, 0xfffff, undefined, undefined, undefined]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xfffff }), (v) => parsePasid(`0x${v.toString(16)}`) === v && parsePasid(String(v)) === v));
  });
});
