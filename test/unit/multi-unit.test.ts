// A host of several IOMMU units (host.iommus, docs/multi-unit.md): the scope syntax and its
// refusals, each requester id routed to its unit (tables, DIDs, fault records, dmesg per unit), and
// a one-unit list that behaves exactly as host.iommu.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseScenario } from "../../src/scenario/index.js";
import { defaultRegisterBase } from "../../src/scenario/parse.js";
import type { Scenario } from "../../src/scenario/types.js";
import { runScenario, type Run } from "../../src/sim/run.js";
import { EventKind } from "../../src/trace/trace.js";
import type { ContextEntryNode, IommuUnit } from "../../src/sim/iommu.js";
import { Session } from "../../src/engine/session.js";
import { treeChildren, type TreeContext } from "../../src/engine/trees.js";
import { unitTreePrefix } from "../../src/engine/trees/tables.js";
import { explainWalk } from "../../src/engine/walk.js";
import { DebugInspector } from "../../src/engine/debugInspect.js";
import { EngineServer } from "../../src/engine/server.js";
import { importText, synthesizeScenario } from "../../src/import/index.js";

const LAPTOP = readFileSync(join(__dirname, "..", "..", "examples", "laptop-two-dmar-units.passthrough.yaml"), "utf8");

function scenario(text: string): Scenario {
  const r = parseScenario(text, "t.passthrough.yaml");
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.scenario!;
}

function run(text: string): Run {
  const r = runScenario(scenario(text));
  if (r.run === undefined) throw new Error(r.error);
  return r.run;
}

function errors(text: string) {
  return parseScenario(text, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
}

/** The present context entries of a unit, as its tables() lists them. */
function contexts(u: IommuUnit): ContextEntryNode[] {
  const out: ContextEntryNode[] = [];
  for (const re of u.tables().root.children()) for (const ce of re.children()) if (ce.kind === "context-entry") out.push(ce);
  return out;
}

const host = (units: string, pci = `    - { bdf: "00:02.0", id: "8086:9a49", driver: vfio-pci }
    - { bdf: "00:1c.0", kind: root-port, acs: true, secondary-bus: 3 }
    - { bdf: "03:00.0", id: "8086:15f3", parent: "00:1c.0", driver: vfio-pci }`) => `name: t
host:
  iommus:
${units}
  pci:
${pci}
`;

describe("host.iommus: scope syntax", () => {
  it("names VT-d units dmar0, dmar1 in DRHD order and keeps host.iommu as the first unit", () => {
    const s = scenario(LAPTOP);
    expect(s.host.iommus?.map((u) => [u.name, u.devices, u.includeAll])).toEqual([
      ["dmar0", ["00:02.0"], false],
      ["dmar1", [], true],
    ]);
    expect(s.host.iommu).toBe(s.host.iommus![0]!.iommu);
  });

  it("refuses a device in no unit's scope, at the device's line, with a hint", () => {
    const text = host(`    - { model: intel-vtd, devices: ["00:02.0"] }`);
    const e = errors(text);
    expect(e.map((d) => d.message)).toEqual(["00:1c.0 is in no IOMMU unit's scope", "03:00.0 is in no IOMMU unit's scope"]);
    expect(e[1]!.range.line).toBe(text.split("\n").findIndex((l) => l.includes('"03:00.0"')));
    expect(e[1]!.hint).toMatch(/include-all: true/);
  });

  it("a bridge in the scope covers the devices below it", () => {
    const e = errors(host(`    - { model: intel-vtd, devices: ["00:02.0"] }\n    - { model: intel-vtd, devices: ["00:1c.0"] }`));
    expect(e).toEqual([]);
  });

  it("refuses two include-all units, an include-all unit that is not last, mixed models, both forms, unknown devices", () => {
    expect(errors(host(`    - { model: intel-vtd, include-all: true }\n    - { model: intel-vtd, include-all: true }`)).map((d) => d.message)).toEqual(["dmar0 and dmar1 both have include-all", "the include-all unit dmar0 is not the last unit"]);
    const notLast = errors(host(`    - { model: intel-vtd, include-all: true }\n    - { model: intel-vtd, devices: ["00:02.0"] }`));
    expect(notLast.map((d) => d.message)).toEqual(["the include-all unit dmar0 is not the last unit"]);
    expect(notLast[0]!.hint).toMatch(/VT-d spec 8\.3/);
    expect(errors(host(`    - { model: intel-vtd, devices: ["00:02.0"] }\n    - { model: amd-vi, devices: ["00:1c.0"] }`)).map((d) => d.message)).toContain("host.iommus mixes intel-vtd and amd-vi units");
    expect(errors(host(`    - { model: intel-vtd, include-all: true }`).replace("  iommus:", "  iommu: { model: intel-vtd }\n  iommus:")).map((d) => d.message)).toContain("host.iommu and host.iommus are both given");
    expect(errors(host(`    - { model: intel-vtd, devices: ["00:02.0", "05:00.0"] }\n    - { model: intel-vtd, include-all: true }`)).map((d) => d.message)).toEqual(["05:00.0 in the scope of dmar0 is not in host.pci"]);
    expect(errors(host(`    - { model: intel-vtd, devices: ["00:02.0"] }\n    - { model: intel-vtd, devices: ["00:02.0", "00:1c.0"] }`)).map((d) => d.message)).toEqual(["00:02.0 is in the scope of both dmar0 and dmar1"]);
  });

  it("include-all is VT-d's only", () => {
    expect(errors(host(`    - { model: amd-vi, devices: ["00:02.0"] }\n    - { model: amd-vi, include-all: true }`)).map((d) => d.message)).toContain("include-all is VT-d's INCLUDE_PCI_ALL flag");
  });
});

describe("host.iommus: the machine routes each requester id to its unit", () => {
  it("each unit holds the context entries of its own devices, with a DID of its own for the VM's domain", () => {
    const r = run(LAPTOP);
    const m = r.machineBefore(r.outcomes.length);
    expect(m.hostUnits.names).toEqual(["dmar0", "dmar1"]);
    const [u0, u1] = m.hostUnits.units;
    expect(u0!.tables().name).toBe("dmar0");
    expect(u1!.tables().name).toBe("dmar1");
    expect(contexts(u0!).map((c) => c.sid)).toEqual([0x10]);
    expect(contexts(u1!).map((c) => c.sid)).toEqual([0xe0, 0x300]);
    // The VM's domain is attached in both units: the GPU's and the NIC's entries point at page
    // tables that translate the same guest RAM.
    const gpu = contexts(u0!)[0]!;
    const nic = contexts(u1!).find((c) => c.sid === 0x300)!;
    expect(gpu.translation).toBe("translated");
    expect(nic.translation).toBe("translated");
    expect(u0!.explain({ sid: 0x10, iova: 0x1000_0000n, write: true }).verdict.hpa).toBe(u1!.explain({ sid: 0x300, iova: 0x1000_0000n, write: true }).verdict.hpa);
    expect(m.hostUnits.unitOf(0x10)).toBe(0);
    expect(m.hostUnits.unitOf(0x300)).toBe(1);
  });

  it("a fault is recorded in the unit that saw it and printed by it", () => {
    const r = run(LAPTOP);
    expect(r.failedExpectations).toEqual([]);
    const m = r.machineBefore(r.outcomes.length);
    const [u0, u1] = m.hostUnits.units;
    expect(u0!.faults().map((f) => [f.sid, f.reason, f.write])).toEqual([[0x10, 0x05, true]]);
    expect(u1!.faults().map((f) => [f.sid, f.reason, f.write])).toEqual([[0x300, 0x06, false]]);
    // Through the machine's one unit: every unit's records, each naming its unit.
    expect(m.iommu.faults().map((f) => f.unit)).toEqual(["dmar0", "dmar1"]);
    const kernel = r.log.filter((l) => l.step >= 0).map((l) => l.text);
    // Each unit's fault interrupt: dmar_fault()'s DRHD line, then the record (drivers/iommu/intel/dmar.c).
    expect(kernel).toEqual([
      "DMAR: DRHD: handling fault status reg 2",
      "DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x200000000 [fault reason 0x05] PTE Write access is not set",
      "DMAR: DRHD: handling fault status reg 2",
      "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x200000000 [fault reason 0x06] PTE Read access is not set",
    ]);
  });

  it("a device hot-plugged into a running VM on the other unit gets the container's mappings replayed, and an unmap reaches both units", () => {
    const text = LAPTOP.replace('devices: ["00:02.0", "03:00.0"]', 'devices: ["00:02.0"]').replace(/workload:[\s\S]*/, `workload:
  - start: win11
  - map: { vm: win11, iova: 0x40_0000_0000, size: 2MiB, perm: rw, gpa: 0x2000_0000 }
  - assign: { vm: win11, device: "03:00.0" }
  - translate: { device: "03:00.0", iova: 0x40_0000_0000, write: true }
    expect: ok
  - unmap: { vm: win11, iova: 0x40_0000_0000, size: 2MiB }
  - dma: { device: "03:00.0", iova: 0x40_0000_0000, length: 4KiB, write: true }
    expect: { fault: 0x05 }
  - dma: { device: "00:02.0", iova: 0x40_0000_0000, length: 4KiB, write: true }
    expect: { fault: 0x05 }
  - dma: { device: "03:00.0", iova: 0x1000_0000, length: 4KiB, write: true }
    expect: ok
`);
    const r = run(text);
    expect(r.outcomes.map((o) => o.status)).toEqual(["ok", "ok", "ok", "ok", "ok", "fault", "fault", "ok"]);
    expect(r.failedExpectations).toEqual([]);
  });

  it("stepping back restores every unit", () => {
    const r = run(LAPTOP);
    const before = r.machineBefore(3);
    expect(before.hostUnits.units.map((u) => u.faults().length)).toEqual([0, 0]);
    const after = r.machineBefore(5);
    expect(after.hostUnits.units.map((u) => u.faults().length)).toEqual([1, 1]);
  });
});

describe("host.iommus: one domain, one page table (VT-d)", () => {
  const SHARED = readFileSync(join(__dirname, "..", "..", "examples", "laptop-shared-table.passthrough.yaml"), "utf8");

  it("both units' context entries point at the domain's one table, each with the unit's own DID", () => {
    const r = run(LAPTOP);
    const m = r.machineBefore(r.outcomes.length);
    const [u0, u1] = m.hostUnits.units;
    const gpu = contexts(u0!)[0]!;
    const nic = contexts(u1!).find((c) => c.sid === 0x300)!;
    expect(nic.pageTable).toBe(gpu.pageTable);
    expect(nic.levels).toBe(gpu.levels);
    // The DID is the unit's own (domain_id_iommu()): dmar0 gave DID 1 to the GPU's boot domain,
    // dmar1 gave DIDs 1 and 2 to the root port's and the NIC's; the VM's domain is 2 and 3.
    expect([gpu.did, nic.did]).toEqual([2, 3]);
    // Through the contract, each unit's walk reads the same leaf entry in memory.
    const leaf = (u: IommuUnit, sid: number) => u.explain({ sid, iova: 0x1000_0000n, write: true }).trail.entries.at(-1)!.address;
    expect(leaf(u1!, 0x300)).toBe(leaf(u0!, 0x10));
  });

  it("a PTE poked through one unit's context entry is the other unit's PTE too; the example passes", () => {
    const r = run(SHARED);
    expect(r.failedExpectations).toEqual([]);
    // Step 6 (index 5): the NIC on dmar1 faults on the entry poked through the GPU on dmar0.
    expect(r.outcomes[5]!.status).toBe("fault");
  });

  it("an unmap writes the table once and invalidates the IOTLB of every unit the domain is attached to", () => {
    const r = run(SHARED);
    const unmap = r.scenario.workload.findIndex((s) => s.op === "unmap");
    const inv = (step: number) => r.machineBefore(step).hostUnits.units.map((u) => u.counters().invalidations);
    const [b0, b1] = inv(unmap);
    const [a0, a1] = inv(unmap + 1);
    expect(a0! - b0!).toBeGreaterThan(0);
    expect(a1! - b1!).toBeGreaterThan(0);
    // Both devices had the 2 MiB mapping in their unit's IOTLB; both fault after the one unmap.
    expect(r.outcomes.slice(unmap + 1).map((o) => o.status)).toEqual(["fault", "fault"]);
  });

  it("a unit that joins the domain later points at its table; stepping back keeps one table", () => {
    const text = LAPTOP.replace('devices: ["00:02.0", "03:00.0"]', 'devices: ["00:02.0"]').replace(/workload:[\s\S]*/, `workload:
  - start: win11
  - map: { vm: win11, iova: 0x40_0000_0000, size: 2MiB, perm: rw, gpa: 0x2000_0000 }
  - assign: { vm: win11, device: "03:00.0" }
  - map: { vm: win11, iova: 0x50_0000_0000, size: 4KiB, perm: r, gpa: 0x2000_0000 }
  - translate: { device: "03:00.0", iova: 0x50_0000_0000, write: false }
    expect: ok
`);
    const r = run(text);
    expect(r.failedExpectations).toEqual([]);
    for (const step of [3, 5]) {
      const m = r.machineBefore(step);
      const gpu = contexts(m.hostUnits.units[0]!).find((c) => c.sid === 0x10)!;
      const nic = contexts(m.hostUnits.units[1]!).find((c) => c.sid === 0x300)!;
      expect(nic.pageTable).toBe(gpu.pageTable);
    }
  });

  it("a wider unit joins a narrower domain's table with the domain's depth (paging_domain_compatible: the domain's agaw is not above the unit's)", () => {
    // dmar0 (39 bits, 3 levels) attaches the domain first; dmar1 (48 bits, SAGAW 39 and 48) joins it.
    const text = LAPTOP.replace("{ model: intel-vtd, address-width: 39, include-all: true }", "{ model: intel-vtd, address-width: 48, include-all: true }");
    const r = run(text);
    expect(r.failedExpectations).toEqual([]);
    const m = r.machineBefore(r.outcomes.length);
    const gpu = contexts(m.hostUnits.units[0]!)[0]!;
    const nic = contexts(m.hostUnits.units[1]!).find((c) => c.sid === 0x300)!;
    expect([gpu.levels, nic.levels]).toEqual([3, 3]);
    expect(nic.pageTable).toBe(gpu.pageTable);
    // Without 39 in its SAGAW the wider unit cannot point a context entry at a 3-level table: a copy.
    const noSagaw = run(text.replace("address-width: 48, include-all: true }", "address-width: 48, sagaw: [48], include-all: true }"));
    expect(noSagaw.failedExpectations).toEqual([]);
    const m2 = noSagaw.machineBefore(noSagaw.outcomes.length);
    const nic2 = contexts(m2.hostUnits.units[1]!).find((c) => c.sid === 0x300)!;
    expect(nic2.levels).toBe(4);
    expect(nic2.pageTable).not.toBe(contexts(m2.hostUnits.units[0]!)[0]!.pageTable);
  });

  it("a narrower unit is refused the wider domain (-EINVAL, no log line): VFIO keeps its group in a domain and table of its own, which translates the same", () => {
    // dmar0 (48 bits) attaches the domain first; dmar1 (39 bits) may not join a 4-level domain.
    const text = LAPTOP.replace("{ model: intel-vtd, address-width: 39, devices", "{ model: intel-vtd, address-width: 48, devices");
    const r = run(text);
    expect(r.failedExpectations).toEqual([]);
    const m = r.machineBefore(r.outcomes.length);
    const gpu = contexts(m.hostUnits.units[0]!)[0]!;
    const nic = contexts(m.hostUnits.units[1]!).find((c) => c.sid === 0x300)!;
    expect([gpu.levels, nic.levels]).toEqual([4, 3]);
    expect(nic.pageTable).not.toBe(gpu.pageTable);
  });
});

describe("host.iommus: one protection domain, one page table and one id (AMD-Vi)", () => {
  const AMD = readFileSync(join(__dirname, "..", "..", "examples", "amd-two-ivhd-units.passthrough.yaml"), "utf8");
  const dtes = (u: IommuUnit) => u.tables().root.children().filter((n): n is ContextEntryNode => n.kind === "context-entry");

  it("both IOMMUs' DTEs point at the domain's one table with the one domain id; ids are host-wide", () => {
    const r = run(AMD);
    expect(r.failedExpectations).toEqual([]);
    const m = r.machineBefore(r.outcomes.length);
    const [u0, u1] = m.hostUnits.units;
    const nvme = dtes(u0!).find((c) => c.sid === 0x300)!;
    const nic = dtes(u1!).find((c) => c.sid === 0x4100)!;
    expect(nic.pageTable).toBe(nvme.pageTable);
    // pdom_id_alloc(): one IDA for every IOMMU, so the four boot domains are 1-4 across both units
    // and the VM's domain is 5 in each, as the IO_PAGE_FAULT lines print it.
    expect([nvme.did, nic.did]).toEqual([5, 5]);
    const boot = [...dtes(u0!), ...dtes(u1!)].filter((c) => c.did !== 5).map((c) => c.did);
    expect(new Set(boot).size).toBe(boot.length);
    expect(r.log.filter((l) => l.text.includes("IO_PAGE_FAULT")).every((l) => l.text.includes("domain=0x0005"))).toBe(true);
  });

  it("a table grown by a map (increase_address_space) is the new root in both IOMMUs' DTEs; an unmap flushes both", () => {
    const text = AMD.replace(/workload:[\s\S]*/, `workload:
  - start: db01
  - map: { vm: db01, iova: 0x100_0000_0000, size: 4KiB, perm: rw, gpa: 0x2000_0000 }
  - dma: { device: "03:00.0", iova: 0x100_0000_0000, length: 4KiB, write: true }
    expect: ok
  - dma: { device: "41:00.0", iova: 0x100_0000_0000, length: 4KiB, write: true }
    expect: ok
  - unmap: { vm: db01, iova: 0x100_0000_0000, size: 4KiB }
  - dma: { device: "03:00.0", iova: 0x100_0000_0000, length: 4KiB, write: true }
    expect: { fault: 0x2 }
  - dma: { device: "41:00.0", iova: 0x100_0000_0000, length: 4KiB, write: true }
    expect: { fault: 0x2 }
`);
    const r = run(text);
    expect(r.failedExpectations).toEqual([]);
    // machineBefore reuses one machine: read each state before asking for the next.
    const tops = (step: number) => {
      const units = r.machineBefore(step).hostUnits.units;
      return [dtes(units[0]!).find((c) => c.sid === 0x300)!, dtes(units[1]!).find((c) => c.sid === 0x4100)!].map((c) => ({ levels: c.levels, table: c.pageTable }));
    };
    const before = tops(1);
    const after = tops(2);
    expect(before.map((t) => t.levels)).toEqual([3, 3]);
    expect(after.map((t) => t.levels)).toEqual([4, 4]);
    expect(after[1]!.table).toBe(after[0]!.table);
    expect(after[0]!.table).not.toBe(before[0]!.table);
  });
});

describe("host.iommus with one unit is host.iommu", () => {
  /** The trace's columns and the kernel log as one comparable value. */
  function fingerprint(r: Run) {
    const t = r.trace;
    const cols = [t.kind, t.flags, t.level, t.reason, t.sid, t.did, t.aLo, t.aHi, t.bLo, t.bHi].map((c) => Array.from(c.subarray(0, t.length)));
    return { cols, log: r.log.map((l) => `${l.ns} ${l.text}`), outcomes: r.outcomes.map((o) => o.summary) };
  }

  it("gives the same trace and log for any DMA workload (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(39, 48),
        fc.array(fc.record({ nic: fc.boolean(), page: fc.integer({ min: 0, max: 0x3ffff }), pages: fc.integer({ min: 1, max: 3 }), write: fc.boolean() }), { minLength: 1, maxLength: 6 }),
        (aw, dmas) => {
          const steps = dmas.map((d) => `  - dma: { device: "${d.nic ? "03:00.0" : "00:02.0"}", iova: 0x${(d.page * 4096).toString(16)}, length: ${d.pages * 4096}, write: ${d.write} }`).join("\n");
          const body = `  pci:
    - { bdf: "00:02.0", id: "8086:9a49", driver: vfio-pci }
    - { bdf: "00:1c.0", kind: root-port, acs: true, secondary-bus: 3 }
    - { bdf: "03:00.0", id: "8086:15f3", parent: "00:1c.0", driver: vfio-pci }
vms:
  - name: vm
    memory: 1GiB
    devices: ["00:02.0", "03:00.0"]
workload:
  - start: vm
${steps}
`;
          const old = run(`name: t\nhost:\n  iommu: { model: intel-vtd, address-width: ${aw} }\n${body}`);
          const list = run(`name: t\nhost:\n  iommus:\n    - { model: intel-vtd, address-width: ${aw}, include-all: true }\n${body}`);
          expect(fingerprint(list)).toEqual(fingerprint(old));
        },
      ),
      { numRuns: 12, seed: 17 },
    );
  });
});


describe("host.iommus: the views show each unit through the contract", () => {
  function session(): { ctx: TreeContext; s: Session } {
    const s = new Session("laptop");
    expect(s.update(LAPTOP).ran).toBe(true);
    s.setCursor(5);
    return { s, ctx: { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: 5, radix: "hex" } };
  }

  it("Mapping Tables has one row per unit, each with its own root table, registers and fault records", () => {
    const { ctx } = session();
    const top = treeChildren("tables", null, ctx)!;
    expect(top.map((n) => [n.id, n.label])).toEqual([
      ["t", "dmar0"],
      ["t~1", "dmar1"],
    ]);
    const second = treeChildren("tables", "t~1", ctx)!;
    expect(second.map((n) => n.id)).toContain("t~1/root");
    expect(second.every((n) => n.id.startsWith("t~1/"))).toBe(true);
    // dmar1's root table: bus 0 (the root port 00:1c.0) and bus 3 (the NIC); dmar0's: bus 0 only.
    expect(treeChildren("tables", "t~1/root", ctx)!.filter((n) => !n.id.endsWith("np")).map((n) => n.id.split("/").pop())).toEqual(expect.arrayContaining(["00", "03"]));
    expect(treeChildren("tables", "t/root", ctx)!.some((n) => n.id === "t/root/03")).toBe(false);
    const frcd = treeChildren("tables", "t~1/frcd", ctx)!;
    expect(frcd).toHaveLength(1);
    expect(String(frcd[0]!.tooltip)).toContain("Request device [03:00.0]");
    expect(treeChildren("tables", "t/regs", ctx)!.length).toBeGreaterThan(0);
  });

  it("the Faults view names the unit of each fault", () => {
    const { ctx } = session();
    const gpu = treeChildren("faults", "f/3", ctx)!.find((n) => n.contextValue === "fault")!;
    const nic = treeChildren("faults", "f/4", ctx)!.find((n) => n.contextValue === "fault")!;
    expect(gpu.description).toMatch(/^dmar0 · 0x05 /);
    expect(nic.description).toMatch(/^dmar1 · 0x06 /);
    expect(nic.accessibilityLabel).toContain("dmar1");
  });

  it("Translate Address walks the device's unit and reveals the row under that unit", () => {
    const { s } = session();
    const w = explainWalk(s.machineAtCursor()!, 0x300, 0x2_0000_0000n, false);
    expect(w.reason).toBe(0x06);
    // The walk read dmar1's root table, not dmar0's.
    const m = s.machineAtCursor()!;
    const dmar1Root = m.hostUnits.units[1]!.tables().root.address;
    expect(m.iommu.explain({ sid: 0x300, iova: 0x2_0000_0000n, write: false }).trail.entries[0]!.address - dmar1Root).toBe(3n * 16n);
    expect(unitTreePrefix(m.hostUnits.unitOf(0x300))).toBe("t~1");
  });
});

describe("host.iommus: the debugger", () => {
  it("shows each unit's registers, the faulting event's unit at the event", () => {
    const r = run(LAPTOP);
    const insp = new DebugInspector(r, r.scenario, r.scenario.workload.map((s) => [s.range.line, s.range.line]));
    const nicFault = r.outcomes[4]!.eventStart;
    const names = insp.scopes({ step: 4, event: nicFault }).map((s) => s.name);
    expect(names).toContain("IOMMU registers dmar1 (at this event, before the driver's fault handler)");
    expect(names).toContain("IOMMU registers dmar0 (after this step)");
    expect(names).toContain("IOTLB dmar1 (after this step)");
    const dmar0 = insp.scopes({ step: 4, event: nicFault }).find((s) => s.name === "IOMMU registers dmar0 (after this step)")!;
    expect(dmar0.vars[0]).toMatchObject({ name: "register base", value: "0xfed90000" });
    const at = insp.scopes({ step: 4, event: nicFault }).find((s) => s.name.startsWith("IOMMU registers dmar1"))!;
    expect(at.vars.find((v) => v.name === "fault records")!.value).toBe("1 of 8 in use");
  });
});

describe("host.iommus: a register poke names its unit", () => {
  it("RTADDR of dmar1 moves dmar1's root table only; an unknown unit is an error", () => {
    const text = LAPTOP.replace(/workload:[\s\S]*/, `workload:
  - start: win11
  - poke: { register: RTADDR, unit: dmar1, value: 0x7000_0000 }
  - dma: { device: "03:00.0", iova: 0x1000_0000, length: 4KiB, write: false }
  - dma: { device: "00:02.0", iova: 0x1000_0000, length: 4KiB, write: false }
    expect: ok
  - poke: { register: RTADDR, unit: dmar7, value: 0x7000_0000 }
`);
    const r = run(text);
    expect(r.outcomes[1]!.summary).toMatch(/^dmar1: wrote 0x0000000070000000 to RTADDR/);
    expect(r.outcomes[2]!.status).toBe("fault");
    expect(r.outcomes[3]!.status).toBe("ok");
    expect(r.outcomes[4]!.summary).toBe("no IOMMU unit dmar7 on this host (units: dmar0, dmar1)");
  });
});

describe("host.iommus: each unit's register block at its own MMIO base", () => {
  it("defaults by position as firmware lays them out; register-base overrides; misaligned or shared bases are errors", () => {
    expect(scenario(LAPTOP).host.iommus!.map((u) => u.iommu.registerBase)).toEqual([0xfed90000n, 0xfed91000n]);
    const amd = scenario(host(`    - { model: amd-vi, devices: ["00:02.0"] }\n    - { model: amd-vi, devices: ["00:1c.0"] }`));
    // Several AMD-Vi units: an EPYC Rome socket's IOMMU blocks (/proc/iomem amd_iommu); SMMUv3: the Hi1620 IORT's SMMU nodes, chip by chip.
    expect(amd.host.iommus!.map((u) => u.iommu.registerBase)).toEqual([0xb4100000n, 0xb5200000n]);
    expect([0, 1, 2, 3, 4].map((i) => defaultRegisterBase("amd-vi", i, 5))).toEqual([0xb4100000n, 0xb5200000n, 0xf4100000n, 0xf5100000n, 0xb4300000n]);
    const smmu = scenario(host(`    - { model: smmuv3, devices: ["00:02.0"] }\n    - { model: smmuv3, devices: ["00:1c.0"] }`));
    expect(smmu.host.iommus!.map((u) => u.iommu.registerBase)).toEqual([0x148000000n, 0x100000000n]);
    expect([3, 4, 5].map((i) => defaultRegisterBase("smmuv3", i, 6))).toEqual([0x400148000000n, 0x400100000000n, 0x400140000000n]);
    // One unit in the list keeps host.iommu's (QEMU's) base, so the list is host.iommu.
    const one = scenario(host(`    - { model: amd-vi, devices: ["00:02.0", "00:1c.0"] }`));
    expect(one.host.iommus![0]!.iommu.registerBase).toBe(0xfeb80000n);
    // A two-socket Xeon's DMAR table (dmesg "DMAR: dmar0: reg_base_addr fbffd000", "dmar1: reg_base_addr fbffc000").
    const server = scenario(host(`    - { model: intel-vtd, devices: ["00:02.0"], register-base: 0xfbffd000 }\n    - { model: intel-vtd, include-all: true, register-base: 0xfbff_c000 }`));
    expect(server.host.iommus!.map((u) => u.iommu.registerBase)).toEqual([0xfbffd000n, 0xfbffc000n]);
    const text = host(`    - { model: intel-vtd, devices: ["00:02.0"], register-base: 0xfbffd800 }\n    - { model: intel-vtd, include-all: true }`);
    const bad = errors(text);
    expect(bad.map((d) => d.message)).toEqual(["register-base 0xfbffd800 is not 4 KiB aligned"]);
    expect(bad[0]!.range.line).toBe(text.split("\n").findIndex((l) => l.includes("0xfbffd800")));
    expect(bad[0]!.hint).toMatch(/DRHD base/);
    expect(errors(host(`    - { model: intel-vtd, devices: ["00:02.0"] }\n    - { model: intel-vtd, include-all: true, register-base: 0xfed90000 }`)).map((d) => d.message)).toEqual(["dmar0 and dmar1 both have their registers at 0xfed90000"]);
  });

  it("a poke of dmar1's RTADDR is traced at dmar1's MMIO address, and Mapping Tables shows each unit's base", () => {
    const text = LAPTOP.replace("include-all: true }", "include-all: true, register-base: 0xfbffc000 }").replace(/workload:[\s\S]*/, `workload:
  - start: win11
  - poke: { register: RTADDR, unit: dmar1, set: 0x1000 }
  - poke: { register: RTADDR, unit: dmar0, set: 0x1000 }
`);
    const r = run(text);
    const t = r.trace;
    const pokes: bigint[] = [];
    for (let i = 0; i < t.length; i++) if (t.kind[i] === EventKind.Poke) pokes.push((BigInt(t.aHi[i]! >>> 0) << 32n) | BigInt(t.aLo[i]! >>> 0));
    // RTADDR is at offset 0x20 of each unit's block (VT-d 11.4.5).
    expect(pokes).toEqual([0xfbffc020n, 0xfed90020n]);
    expect(r.outcomes[1]!.summary).toMatch(/^set 0x1000: dmar1: .*\(MMIO 0xfbffc020\)$/);
    const s = new Session("regs");
    expect(s.update(text).ran).toBe(true);
    s.setCursor(2);
    const ctx: TreeContext = { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: 2, radix: "hex" };
    const regs = (prefix: string) => treeChildren("tables", prefix, ctx)!.find((n) => n.id === `${prefix}/regs`)!;
    expect(regs("t").description).toBe("@ 0xfed90000");
    expect(regs("t~1").description).toBe("@ 0xfbffc000");
    const rtaddr = treeChildren("tables", "t~1/regs", ctx)!.find((n) => n.label === "RTADDR")!;
    expect(String(rtaddr.tooltip)).toContain("MMIO 0xfbffc020");
  });
});

describe("host.iommus: interrupt remapping, RMRRs and ATS per DRHD", () => {
  const SERVER = readFileSync(join(__dirname, "..", "..", "examples", "server-two-drhd-per-unit.passthrough.yaml"), "utf8");

  it("each DRHD has its own interrupt-remapping table; an MSI is remapped (or faults) in its device's unit", () => {
    const r = run(SERVER);
    expect(r.failedExpectations).toEqual([]);
    const m = r.machineBefore(r.outcomes.length);
    const [ir0, ir1] = m.hostUnits.units.map((u) => u.tables().interruptRemapping!);
    expect(ir0!.address).not.toBe(ir1!.address);
    expect([ir0!.enabled, ir1!.enabled]).toEqual([true, true]);
    expect(ir0!.entries().map((e) => e.index)).toEqual([0, 1]);
    expect(ir1!.entries().map((e) => e.index)).toEqual([0]);
    // The 0x22 of 02:00.0 is dmar1's record, printed by dmar1's fault handler.
    expect(m.hostUnits.units[1]!.faults().map((f) => [f.sid, f.reason])).toEqual([[0x200, 0x22]]);
    expect(m.hostUnits.units[0]!.faults().map((f) => f.reason)).toEqual([0x05]);
  });

  it("the RMRR is mapped 1:1 in the domain of the unit that holds its device; ATS is its unit's", () => {
    const r = run(SERVER);
    expect(r.outcomes[0]!.summary).toMatch(/-> HPA 0x9b280000/);
    const m = r.machineBefore(r.outcomes.length);
    const xhci = contexts(m.hostUnits.units[1]!).find((c) => c.sid === 0xa0)!;
    expect(xhci.translation).toBe("translated");
    expect(contexts(m.hostUnits.units[0]!).find((c) => c.sid === 0xa0)).toBeUndefined();
    // ConnectX-5 in dmar0's scope: its context entry has the Device-TLB type there.
    expect(contexts(m.hostUnits.units[0]!).find((c) => c.sid === 0x8100)!.translation).toBe("translated+device-TLB");
    // The RMRR is among the reserved regions of dmar1, the unit its device belongs to, not dmar0.
    expect(m.hostUnits.units[1]!.tables().reservedRegions!.some((x) => x.source === "RMRR")).toBe(true);
    expect(m.hostUnits.units[0]!.tables().reservedRegions?.some((x) => x.source === "RMRR") ?? false).toBe(false);
  });

  it("an RMRR device on a multi-unit host is still refused to a VM", () => {
    const text = SERVER.replace('devices: ["81:00.0", "02:00.0"]', 'devices: ["00:14.0"]').replace(/workload:[\s\S]*/, "workload:\n  - start: nfv01\n    expect: { errno: EINVAL }\n");
    expect(run(text.replace("driver: xhci_hcd", "driver: vfio-pci")).failedExpectations).toEqual([]);
  });

  it("refuses units that disagree on interrupt remapping, and an RMRR or ATS device listed under another unit", () => {
    const two = (a: string, b: string) => host(`    - { model: intel-vtd, devices: ["00:02.0"]${a} }\n    - { model: intel-vtd, include-all: true${b} }`);
    const ir = errors(two(", intremap: true", ""));
    expect(ir.map((d) => d.message)).toEqual(["intremap is on in dmar0 and off in dmar1"]);
    expect(ir[0]!.hint).toMatch(/intel_prepare_irq_remapping/);
    expect(errors(two(", intremap: true, eim: true", ", intremap: true")).map((d) => d.message)).toEqual(["eim is on in dmar0 and off in dmar1"]);
    const rmrr = errors(two(', rmrr: [ { base: 0x7b800000, end: 0x7b81ffff, devices: ["03:00.0"] } ]', ""));
    expect(rmrr.map((d) => d.message)).toEqual(["RMRR device 03:00.0 is in the scope of dmar1, not dmar0"]);
    expect(rmrr[0]!.hint).toMatch(/list this RMRR under dmar1/);
    expect(errors(two(', device-iotlb: true, ats: [{ device: "03:00.0" }]', "")).map((d) => d.message)).toEqual(["ATS device 03:00.0 is in the scope of dmar1, not dmar0"]);
    // What the refusal used to reject now parses.
    expect(errors(two(', intremap: true, rmrr: [ { base: 0x7b800000, end: 0x7b81ffff, devices: ["00:02.0"] } ]', ", intremap: true"))).toEqual([]);
  });
});

describe("host.iommus of AMD-Vi and SMMUv3 units", () => {
  const example = (f: string) => readFileSync(join(__dirname, "..", "..", "examples", f), "utf8");

  it("AMD-Vi units are ivhd0, ivhd1 (IVHD order), each with its own device table and event log", () => {
    const r = run(example("amd-two-ivhd-units.passthrough.yaml"));
    expect(r.failedExpectations).toEqual([]);
    const m = r.machineBefore(r.outcomes.length);
    expect(m.hostUnits.units.map((u) => u.tables().name)).toEqual(["ivhd0", "ivhd1"]);
    expect(r.log.filter((l) => l.text.includes("IO_PAGE_FAULT")).map((l) => l.text.slice(0, 22))).toEqual(["vfio-pci 0000:03:00.0:", "vfio-pci 0000:41:00.0:"]);
    // Each fault went through its own unit: one request faulted in each.
    expect(m.hostUnits.units.map((u) => u.counters().faults)).toEqual([1, 1]);
  });

  it("SMMUv3 units are the IORT platform devices arm-smmu-v3.0.auto, arm-smmu-v3.1.auto, and each prints its own events", () => {
    const r = run(example("smmuv3-two-root-complexes.passthrough.yaml"));
    expect(r.failedExpectations).toEqual([]);
    const m = r.machineBefore(r.outcomes.length);
    expect(m.hostUnits.names).toEqual(["arm-smmu-v3.0.auto", "arm-smmu-v3.1.auto"]);
    const events = r.log.filter((l) => l.text.includes("event 0x10 received")).map((l) => l.text);
    expect(events).toEqual(["arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:", "arm-smmu-v3 arm-smmu-v3.1.auto: event 0x10 received:"]);
  });
});

/**
 * Decoded SMMUv3 events (v6.15 arm_smmu_dump_event) from two SMMUs: the first is
 * test/fixtures/evidence/mixed-dmesg.txt's (reference §5.3's rendered example), the second the same
 * format strings rendered for arm-smmu-v3.1.auto, client 0000:41:00.0 behind StreamID 0x10000
 * (word 0 bits 63:32) at IOVA 0xffffe000.
 */
const TWO_SMMU_LOG = [
  "[  830.5] arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:",
  "[  830.5] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000010000000010",
  "[  830.5] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000020800000000",
  "[  830.5] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x00000000fffff000",
  "[  830.5] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000",
  "[  830.5] arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0xfffff000 ipa: 0x0",
  "[  830.5] arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data read s1 \"Input address caused fault\" stag: 0x0",
  "[  831.5] arm-smmu-v3 arm-smmu-v3.1.auto: event 0x10 received:",
  "[  831.5] arm-smmu-v3 arm-smmu-v3.1.auto: \t0x0001000000000010",
  "[  831.5] arm-smmu-v3 arm-smmu-v3.1.auto: \t0x0000020800000000",
  "[  831.5] arm-smmu-v3 arm-smmu-v3.1.auto: \t0x00000000ffffe000",
  "[  831.5] arm-smmu-v3 arm-smmu-v3.1.auto: \t0x0000000000000000",
  "[  831.5] arm-smmu-v3 arm-smmu-v3.1.auto: event: F_TRANSLATION client: 0000:41:00.0 sid: 0x10000 ssid: 0x0 iova: 0xffffe000 ipa: 0x0",
  "[  831.5] arm-smmu-v3 arm-smmu-v3.1.auto: unpriv data read s1 \"Input address caused fault\" stag: 0x0",
].join("\n");

describe("host.iommus synthesized from a log that names several units", () => {
  it("SMMUv3 events of two SMMUs give a host.iommus scenario that prints each SMMU's lines again", () => {
    const log = TWO_SMMU_LOG;
    const s = synthesizeScenario(importText(log, "log").records);
    const sc = scenario(s.text);
    expect(sc.host.iommus!.map((u) => [u.name, u.devices])).toEqual([
      ["arm-smmu-v3.0.auto", ["00:1c.0", "01:00.0"]],
      ["arm-smmu-v3.1.auto", ["00:1c.1", "41:00.0"]],
    ]);
    const r = run(s.text);
    expect(r.failedExpectations).toEqual([]);
    const events = r.log.filter((l) => l.text.includes("event: F_TRANSLATION")).map((l) => l.text);
    expect(events).toEqual(log.split("\n").filter((l) => l.includes("event: F_TRANSLATION")).map((l) => l.replace(/^\[[^\]]*\] /, "")));
  });

  it("one SMMU, or raw dumps that name no client, keep host.iommu", () => {
    const log = TWO_SMMU_LOG;
    const one = log.split("\n").filter((l) => l.includes("v3.0.auto")).join("\n");
    expect(synthesizeScenario(importText(one, "log").records).text).toMatch(/\n  iommu: \{ model: smmuv3/);
    const raw = log.split("\n").filter((l) => !l.includes("event: ") && !l.includes("unpriv")).join("\n");
    expect(synthesizeScenario(importText(raw, "log").records).text).not.toMatch(/iommus:/);
  });
});

/**
 * A laptop's boot lines (dmar.c dmar_table_print_dmar_entry and alloc_iommu format strings, with
 * the Kabylake laptop's cap/ecap of test/unit/import-debugfs.test.ts) and two faults. The fault
 * lines do not name a unit (dmar_fault_do_one), the boot lines do.
 */
const LAPTOP_LOG = [
  "[    0.010000] DMAR: Host address width 39",
  "[    0.010001] DMAR: DRHD base: 0x000000fed90000 flags: 0x0",
  "[    0.010002] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 1c0000c40660462 ecap 19e2ff0505e",
  "[    0.010003] DMAR: DRHD base: 0x000000fed91000 flags: 0x1",
  "[    0.010004] DMAR: dmar1: reg_base_addr fed91000 ver 1:0 cap d2008c40660462 ecap f050da",
  "[    0.400000] pci 0000:00:02.0: Adding to iommu group 0",
  "[    0.400001] pci 0000:03:00.0: Adding to iommu group 12",
  "[  812.001010] DMAR: DRHD: handling fault status reg 3",
  "[  812.001011] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x7c346000 [fault reason 0x05] PTE Write access is not set",
  "[  813.001011] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7c347000 [fault reason 0x06] PTE Read access is not set",
].join("\n");

describe("host.iommus synthesized from VT-d and AMD-Vi logs (boot lines, sysfs links)", () => {
  it("a laptop's two DRHDs: dmar0 and dmar1 at the log's register bases, INCLUDE_PCI_ALL on dmar1, the GPU on dmar0 (guessed, and said)", () => {
    const s = synthesizeScenario(importText(LAPTOP_LOG, "log").records);
    const sc = scenario(s.text);
    expect(sc.host.iommus!.map((u) => [u.name, u.iommu.registerBase, u.devices, u.includeAll])).toEqual([
      ["dmar0", 0xfed90000n, ["00:02.0"], false],
      ["dmar1", 0xfed91000n, [], true],
    ]);
    expect(s.text).toMatch(/# Guessed: 00:02\.0 is in dmar0's scope/);
    const r = run(s.text);
    expect(r.failedExpectations).toEqual([]);
    // Each fault was recorded by the unit its device is behind: the GPU's by dmar0, the NIC's by dmar1.
    expect(r.machineBefore(r.outcomes.length).hostUnits.units.map((u) => u.counters().faults)).toEqual([1, 1]);
  });

  it("sysfs links (/sys/class/iommu/dmarN/devices/...) place devices in their unit; without a DRHD line the last unit gets include-all", () => {
    const log = [
      "DMAR: dmar0: reg_base_addr fbffd000 ver 1:0 cap 8d2078c106f0466 ecap f020de",
      "DMAR: dmar1: reg_base_addr fbffc000 ver 1:0 cap 8d2078c106f0466 ecap f020de",
      "[  100.000000] DMAR: [DMA Read NO_PASID] Request device [81:00.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set",
      "[  100.000001] DMAR: [DMA Read NO_PASID] Request device [02:00.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set",
      "/sys/class/iommu/dmar0/devices/0000:81:00.0",
      "/sys/class/iommu/dmar1/devices/0000:02:00.0",
    ].join("\n");
    const s = synthesizeScenario(importText(log, "log").records);
    const sc = scenario(s.text);
    const units = sc.host.iommus!;
    expect(units.map((u) => [u.name, u.iommu.registerBase, u.includeAll])).toEqual([
      ["dmar0", 0xfbffd000n, false],
      ["dmar1", 0xfbffc000n, true],
    ]);
    // 81:00.0 is under dmar0 (its root port with it), 02:00.0 stays with dmar1.
    const port = sc.host.pci.find((d) => d.key === "81:00.0")!.parent!;
    expect(units[0]!.devices).toEqual([port]);
    expect(s.text).toMatch(/# Guessed: dmar1 has include-all/);
    const r = run(s.text);
    expect(r.failedExpectations).toEqual([]);
    expect(r.machineBefore(r.outcomes.length).hostUnits.units.map((u) => u.counters().faults)).toEqual([1, 1]);
  });

  it("one DRHD keeps host.iommu", () => {
    const one = LAPTOP_LOG.split("\n").filter((l) => !/fed91000/.test(l)).join("\n");
    const s = synthesizeScenario(importText(one, "log").records);
    expect(s.text).toMatch(/\n  iommu: \{ model: intel-vtd/);
    expect(s.text).not.toMatch(/iommus:/);
  });

  it("AMD-Vi: one ivhd unit per IOMMU found, devices by root bus, and an event printed by ivhd0 (4.15-4.19) places its device there", () => {
    const log = [
      "[    1.1] pci 0000:00:00.2: AMD-Vi: Found IOMMU cap 0x40",
      "[    1.1] pci 0000:40:00.2: AMD-Vi: Found IOMMU cap 0x40",
      "[  100.0] vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0005 address=0x00000000fffff000 flags=0x0000]",
      "[  100.1] vfio-pci 0000:41:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0005 address=0x00000000ffffe000 flags=0x0020]",
      "[  100.2] vfio-pci 0000:42:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0005 address=0x00000000ffffd000 flags=0x0020]",
      "[  100.3] iommu ivhd0: AMD-Vi: Event logged [",
      "[  100.3] iommu ivhd0: ILLEGAL_DEV_TABLE_ENTRY device=42:00.0 address=0x0000000000001000 flags=0x00a0]",
    ].join("\n");
    const s = synthesizeScenario(importText(log, "log").records);
    const sc = scenario(s.text);
    const units = sc.host.iommus!;
    expect(units.map((u) => u.name)).toEqual(["ivhd0", "ivhd1"]);
    const portOf = (k: string) => sc.host.pci.find((d) => d.key === k)!.parent!;
    expect(units[0]!.devices.sort()).toEqual([portOf("03:00.0"), portOf("42:00.0")].sort());
    expect(units[1]!.devices).toEqual([portOf("41:00.0")]);
    expect(s.text).toMatch(/# Guessed: 03:00\.0, 41:00\.0: placed by bus number/);
    const r = run(s.text);
    expect(r.failedExpectations).toEqual([]);
    // ivhd0: 03:00.0's page fault, 42:00.0's and its ILLEGAL_DEV_TABLE_ENTRY (a reserved DTE bit set for that step).
    expect(r.machineBefore(r.outcomes.length).hostUnits.units.map((u) => u.counters().faults)).toEqual([3, 1]);
    expect(s.notes).toEqual([]);
  });
});

describe("host.iommus synthesized from VT-d and AMD-Vi logs: any mix of boot lines, links and faults", () => {
  it("property: the scenario parses, runs with every expectation met, and has one unit per unit the log names", () => {
    const pool = ["00:02.0", "02:00.0", "03:00.0", "41:00.0", "81:00.0"];
    const line = fc.oneof(
      fc.record({ k: fc.constant("drhd"), unit: fc.nat(3), flags: fc.constantFrom("0x0", "0x1") }),
      fc.record({ k: fc.constant("unit"), unit: fc.nat(3) }),
      fc.record({ k: fc.constant("found"), unit: fc.nat(3) }),
      fc.record({ k: fc.constant("link"), unit: fc.nat(4), dev: fc.constantFrom(...pool), amd: fc.boolean() }),
      fc.record({ k: fc.constant("fault"), dev: fc.constantFrom(...pool), amd: fc.boolean() }),
    );
    const text = (l: { k: string; unit?: number; flags?: string; dev?: string; amd?: boolean }) => {
      const base = (0xfed90000 + (l.unit ?? 0) * 0x1000).toString(16);
      if (l.k === "drhd") return `DMAR: DRHD base: 0x000000${base} flags: ${l.flags}`;
      if (l.k === "unit") return `DMAR: dmar${l.unit}: reg_base_addr ${base} ver 1:0 cap d2008c40660462 ecap f050da`;
      if (l.k === "found") return `pci 0000:${(l.unit! * 0x40).toString(16).padStart(2, "0")}:00.2: AMD-Vi: Found IOMMU cap 0x40`;
      if (l.k === "link") return `/sys/class/iommu/${l.amd ? "ivhd" : "dmar"}${l.unit}/devices/0000:${l.dev}`;
      return l.amd
        ? `vfio-pci 0000:${l.dev}: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0005 address=0x00000000fffff000 flags=0x0000]`
        : `DMAR: [DMA Read NO_PASID] Request device [${l.dev}] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set`;
    };
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 12 }), (lines) => {
        const records = importText(lines.map(text).join("\n"), "log").records;
        const s = synthesizeScenario(records);
        const parsed = parseScenario(s.text, "t.passthrough.yaml");
        expect(parsed.diagnostics.filter((d) => d.severity === "error").map((d) => d.message), s.text).toEqual([]);
        const r = runScenario(parsed.scenario!);
        expect(r.run?.failedExpectations ?? [r.error], s.text).toEqual([]);
        const units = parsed.scenario!.host.iommus;
        if (units !== undefined) expect(units.length).toBeGreaterThanOrEqual(2);
        // Every device a link names is in the scenario, and in the scope of the unit the link names.
        for (const l of lines) if (l.k === "link" && units !== undefined && units[0]!.iommu.model === (l.amd ? "amd-vi" : "intel-vtd")) {
          const owner = units.findIndex((u) => u.devices.includes(l.dev) || u.devices.includes(parsed.scenario!.host.pci.find((d) => d.key === l.dev)?.parent ?? ""));
          const last = [...lines].reverse().find((x) => x.k === "link" && x.dev === l.dev && x.amd === l.amd)!;
          if (last === l) expect(owner, s.text).toBe(l.unit);
        }
      }),
      { numRuns: 120 },
    );
  });
});

describe("host.iommus: hovers", () => {
  it("a poke of dmar1's RTADDR shows dmar1's current value, not dmar0's", () => {
    const text = LAPTOP.replace(/workload:[\s\S]*/, `workload:
  - start: win11
  - poke: { register: RTADDR, unit: dmar1, set: 0x1000 }
`);
    const server = new EngineServer();
    const uri = "file:///x/h.passthrough.yaml";
    server.handle("update", { uri, version: 1, text });
    const lines = text.split("\n");
    const line = lines.findIndex((l) => l.includes("set: 0x1000"));
    const h = server.handle("hover", { uri, line, character: lines[line]!.indexOf("0x1000") + 2, lineText: lines[line]!, radix: "hex" })!;
    const m = run(text).machineBefore(1);
    const rtaddr = (i: number) => m.hostUnits.units[i]!.registers().find((r) => r.name === "RTADDR")!.value;
    expect(rtaddr(0)).not.toBe(rtaddr(1));
    expect(h.markdown).toContain(`Bits set in the current value: \`0x${rtaddr(1).toString(16).padStart(16, "0")}\``);
  });
});
