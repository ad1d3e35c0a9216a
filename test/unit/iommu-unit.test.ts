/**
 * The IOMMU contract's unit (sim/iommu.ts IommuUnit) as the machine hands it out: invalidation
 * as the driver issues it, poke targets located in the tables, and the model's decoders that the
 * views use instead of their own.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { Machine } from "../../src/sim/machine.js";

const HEAD = (iommu: string) => `name: unit
host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48${iommu} }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:01.0", driver: vfio-pci }
vms:
  - { name: web01, memory: 4GiB, devices: ["01:00.0"] }
workload:
  - start: web01
`;

function machineAfter(steps: string[], iommu = ""): Machine {
  const parsed = parseScenario(HEAD(iommu) + steps.map((s) => `  - ${s}\n`).join(""), "unit.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const r = runScenario(parsed.scenario!);
  if (!r.run) throw new Error(r.error);
  return r.run.machine;
}

const SID = 0x0100;

describe("IommuUnit.invalidate", () => {
  it("drops the cached translation a page-selective invalidation covers, and the next request walks", () => {
    const m = machineAfter(['dma: [{ device: "01:00.0", iova: 0x1000_0000, length: 4KiB }, { device: "01:00.0", iova: 0x3000_0000, length: 4KiB }]']);
    const did = m.iommu.explain({ sid: SID, iova: 0x1000_0000n, write: false }).verdict.domain!;
    expect(m.iommu.explain({ sid: SID, iova: 0x1000_0000n, write: false }).verdict.cached).toBe(true);
    const r = m.iommu.invalidate({ scope: "page", domain: did, iova: 0x1000_0000n, order: 0 });
    expect(r).toEqual({ ok: true, dropped: 1, log: [] });
    expect(m.iommu.explain({ sid: SID, iova: 0x1000_0000n, write: false }).verdict.cached).toBe(false);
    expect(m.iommu.explain({ sid: SID, iova: 0x3000_0000n, write: false }).verdict.cached).toBe(true);
    expect(m.iommu.invalidate({ scope: "global" }).dropped).toBe(1);
  });

  it("a descriptor the unit rejects (AM above CAP.MAMV) sets IQE and comes back with qi_dump_fault()'s lines", () => {
    const m = machineAfter([], ", mamv: 2");
    const r = m.iommu.invalidate({ scope: "page", domain: 1, iova: 0n, order: 3 });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/IQE/);
    // qi_check_fault(): pr_err("VT-d detected Invalidation Queue Error: Reason %llx", ...), then qi_dump_fault().
    expect(r.log[0]).toMatch(/^DMAR: VT-d detected Invalidation Queue Error: Reason [0-9a-f]+$/);
    expect(r.log.some((l) => /^DMAR: .*: IOTLB Invalidation qw0 = 0x/.test(l))).toBe(true);
  });
});

describe("IommuUnit.locate", () => {
  const m = machineAfter(['map: { vm: web01, iova: 0x1000_0000, size: 2MiB }']);

  it("names the root and context entry words by the requester id, through RTADDR and the root entry", () => {
    const tables = m.iommu.tables();
    const root = m.iommu.locate({ sid: SID, structure: "root" });
    expect(root).toBe(Number(tables.root.address) + 16);
    expect(m.iommu.locate({ sid: SID, structure: "root-hi" })).toBe((root as number) + 8);
    const ctx = m.iommu.explain({ sid: SID, iova: 0n, write: false }).trail.entries.find((e) => e.kind === "context")!;
    expect(m.iommu.locate({ sid: SID, structure: "context-lo" })).toBe(Number(ctx.address));
    expect(m.iommu.locate({ sid: SID, structure: "context-hi" })).toBe(Number(ctx.address) + 8);
    expect(m.iommu.locate({ sid: 0x0200, structure: "context-lo" })).toBe("the root entry of bus 02 is not present");
  });

  it("finds every page-table entry where the unit's own walk reads it (property over IOVAs and levels)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0x1000_0000n - 0x40_0000n, max: 0x1000_0000n + 0x40_0000n }), fc.integer({ min: 1, max: 4 }), (iova, level) => {
        const trail = m.iommu.explain({ sid: SID, iova, write: false }).trail;
        const at = trail.entries.find((e) => e.kind === "pte" && e.level === level);
        const located = m.iommu.locate({ sid: SID, structure: "pte", iova, level });
        if (at !== undefined) expect(located).toBe(Number(at.address));
        else expect(located).toMatch(/not present|mapped by a superpage/);
      }),
      { numRuns: 200 },
    );
  });

  it("descends through an entry without permissions when it is present, as a poke names entries, not requests", () => {
    const w = machineAfter(['map: { vm: web01, iova: 0x10_0000_0000, size: 4KiB, gpa: 0x1000_0000 }', 'poke: { target: { device: "01:00.0", structure: pte, iova: 0x10_0000_0000, level: 2 }, clear: 0x1 }']);
    // A read stops at the L2 entry (R = 0) ...
    const t = w.iommu.explain({ sid: SID, iova: 0x10_0000_0000n, write: false });
    expect(t.verdict.reason).toBe(0x06);
    expect(t.trail.entries.at(-1)!.level).toBe(2);
    // ... but the leaf under it is still there to poke.
    const leaf = w.iommu.locate({ sid: SID, structure: "pte", iova: 0x10_0000_0000n, level: 1 });
    expect(typeof leaf).toBe("number");
    expect(w.mem.readU64(leaf as number)! & 3n).toBe(3n);
  });
});

describe("IommuUnit decoders", () => {
  const m = machineAfter([]);
  it("names fault reasons as Linux prints them, with the model's explanation", () => {
    const r = m.iommu.reason(0x05);
    expect(r.label).toBe("0x05 PTE Write access is not set");
    expect(r.name).toBe("VTD_FR_WRITE");
    expect(r.explanation.length).toBeGreaterThan(10);
  });
  it("decodes a value as a named register, and knows no other names", () => {
    const f = m.iommu.decodeRegister("RTADDR", 0x1234_5000n)!;
    expect(f.map((x) => x.name)).toContain("RTA");
    expect(m.iommu.decodeRegister("NOPE", 0n)).toBeUndefined();
  });
  it("decodes a poked word with the reserved bits the unit faults on", () => {
    const d = m.iommu.decodeWord("pte", 0x803n, 1);
    expect(d.present).toBe(true);
    expect(d.reserved).toEqual({ bits: 0x800n, reason: 0x0c });
  });
  it("counts requests and faults", () => {
    const c = machineAfter(['dma: { device: "01:00.0", iova: 0x9000_0000, length: 4KiB }']).iommu.counters();
    expect(c.requests).toBeGreaterThan(0);
    expect(c.faults).toBe(1);
  });
});
