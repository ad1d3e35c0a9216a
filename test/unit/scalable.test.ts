// VT-d scalable mode behind the IOMMU contract: the walk trail names the scalable structures as
// the spec does, the fault record carries the PASID and Linux prints it per kernel generation,
// the PASID cache and the PASID-tagged IOTLB keep a stale answer until the right invalidation,
// and inconsistent scenarios are validation errors at their line and column.
import { describe, expect, it } from "vitest";
import { bootedUnit } from "./helpers.js";
import { parseScenario } from "../../src/scenario/index.js";
import { simulateText } from "../../src/cli/simulate.js";
import { vtdUnit } from "../../src/sim/vtd/model.js";
import { PGTT_FL, PGTT_NESTED } from "../../src/sim/vtd/scalable.js";
import { decodeEcap } from "../../src/sim/vtd/regs.js";
import { runScenario } from "../../src/sim/run.js";
import { explainEvent } from "../../src/engine/walk.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const SID = 0x0100;

/** A scalable-mode unit with 01:00.0 attached (RID_PASID: a first-level domain) and PASID 2 bound to an SVA table. */
function sva() {
  const u = bootedUnit({ scalable: true });
  const { mem, driver } = u;
  const dom = driver.allocDomain();
  driver.attach(dom, [SID]);
  driver.map(dom, 0x10000000n, 0x2_0000_0000n, 0x2000n, 3);
  const fl = driver.allocPage();
  const put = (va: bigint, v: bigint) => mem.writeU64(driver.entryAddressIn(fl, 4, true, va, 1, true)!, v);
  put(0x7f00_0000_0000n, 0x3_1000_0000n | 0x67n); // P R/W U/S A D
  put(0x7f00_0000_1000n, 0x3_1000_1000n | 0x25n); // read-only
  driver.setPasidEntry(SID, 2, PGTT_FL, driver.allocDid(), 0, fl, 4, {});
  return { ...u, dom, iommu: vtdUnit(u.unit, u.driver) };
}

describe("scalable-mode registers and structures", () => {
  it("ECAP advertises SMTS, FLTS, SLTS, NEST, PASID and PSS; RTADDR carries TTM = 01", () => {
    const { unit } = bootedUnit({ scalable: true, pasidBits: 16 });
    const e = unit.ecap;
    expect([(e >> 43n) & 1n, (e >> 47n) & 1n, (e >> 46n) & 1n, (e >> 26n) & 1n, (e >> 40n) & 1n, (e >> 35n) & 0x1fn]).toEqual([1n, 1n, 1n, 1n, 1n, 15n]);
    expect(decodeEcap(e)).toBeDefined();
    expect(unit.ttm).toBe(1);
    expect(bootedUnit().unit.ttm).toBe(0);
  });

  it("Linux's choice: a DMA domain is first-level (PGTT 001) on RID_PASID 0; iommu=pt is pass-through (100)", () => {
    const { iommu } = sva();
    const t = iommu.explain({ sid: SID, iova: 0x10000000n, write: true });
    expect(t.verdict).toMatchObject({ kind: "translated", hpa: 0x2_0000_0000n });
    const pe = t.trail.entries.find((e) => e.name === "PASID table entry")!;
    expect(pe.fields.find((f) => f.name === "PGTT")).toMatchObject({ value: "1", meaning: "first-level" });
    const ce = t.trail.entries.find((e) => e.name === "scalable-mode context entry")!;
    expect(ce.fields.find((f) => f.name === "RID_PASID")).toMatchObject({ value: "0x0" });
    const pt = bootedUnit({ scalable: true });
    const d = pt.driver.allocDomain(true);
    pt.driver.attach(d, [SID]);
    const v = vtdUnit(pt.unit, pt.driver).explain({ sid: SID, iova: 0x1234_5000n, write: false });
    expect(v.verdict).toMatchObject({ kind: "pass-through", hpa: 0x1234_5000n });
  });
});

describe("the walk trail (the one source of every view)", () => {
  it("names each scalable structure as the spec does and stops at the FL-PTE with R/W = 0", () => {
    const { iommu } = sva();
    const t = iommu.explain({ sid: SID, pasid: 2, iova: 0x7f00_0000_1000n, write: true });
    expect(t.verdict).toMatchObject({ kind: "fault", reason: 0x85, level: 1 });
    expect(t.trail.entries.map((e) => e.name)).toEqual(["scalable-mode root entry", "scalable-mode context entry", "PASID directory entry", "PASID table entry", "FL-PML4E", "FL-PDPE", "FL-PDE", "FL-PTE"]);
    expect(t.trail.entries.map((e) => e.kind)).toEqual(["root", "context", "pasid", "pasid", "pte", "pte", "pte", "pte"]);
    expect(t.trail.stop).toMatchObject({ entry: 7, reason: 0x85, cause: "permission", why: "write request, R/W = 0 in the FL-PTE" });
    expect(t.trail.entries[7]!.fields.find((f) => f.name === "R/W")).toMatchObject({ value: "0", meaning: "read-only" });
  });

  it("a user request to a supervisor-only page stops at U/S = 0 (0x81); a supervisor request needs SRE (0x5d)", () => {
    const { iommu, driver, mem } = sva();
    const fl = driver.allocPage();
    mem.writeU64(driver.entryAddressIn(fl, 4, true, 0x1000n, 1, true)!, 0x3_2000_0000n | 0x63n); // no U/S
    driver.setPasidEntry(SID, 7, PGTT_FL, driver.allocDid(), 0, fl, 4, { sre: false });
    expect(iommu.explain({ sid: SID, pasid: 7, iova: 0x1000n, write: false }).trail.stop).toMatchObject({ reason: 0x81, cause: "permission", why: "user request, U/S = 0 in the FL-PTE" });
    expect(iommu.explain({ sid: SID, pasid: 7, iova: 0x1000n, write: false, privileged: true }).verdict).toMatchObject({ kind: "fault", reason: 0x5d });
    driver.setPasidEntry(SID, 8, PGTT_FL, driver.allocDid(), 0, fl, 4, { sre: true });
    expect(iommu.explain({ sid: SID, pasid: 8, iova: 0x1000n, write: true, privileged: true }).verdict).toMatchObject({ kind: "translated", hpa: 0x3_2000_0000n });
  });

  it("a nested walk shows the second-level entries that translate each first-level table", () => {
    const { iommu, driver, mem } = sva();
    const parent = driver.allocDomain(false, true);
    driver.map(parent, 0x10000000n, 0x10000000n, 0x1000000n, 3); // the table pool, identity
    driver.map(parent, 0x8000_0000n, 0x3_3000_0000n, 0x1000n, 3);
    const g = driver.allocPage();
    mem.writeU64(driver.entryAddressIn(g, 4, true, 0x5000_0000n, 1, true)!, 0x8000_0000n | 0x67n);
    driver.setPasidEntry(SID, 3, PGTT_NESTED, driver.allocDid(), parent.pgd, g, 4, {});
    const t = iommu.explain({ sid: SID, pasid: 3, iova: 0x5000_0123n, write: true });
    expect(t.verdict).toMatchObject({ kind: "translated", hpa: 0x3_3000_0123n });
    const names = t.trail.entries.map((e) => e.name);
    expect(names.slice(4, 8)).toEqual(["SL-PML4E", "SL-PDPE", "SL-PDE", "FL-PML4E"]);
    expect(names.filter((n) => n.startsWith("FL-"))).toEqual(["FL-PML4E", "FL-PDPE", "FL-PDE", "FL-PTE"]);
    expect(names.at(-1)).toBe("SL-PTE"); // the output GPA's own second-level walk
    // Every table fetch's second-level walk is in the trail, though all four tables share a second-level
    // page (the walk reuses that translation only when it records no trail: flpt.ts).
    expect(names.filter((n) => n === "SL-PML4E")).toHaveLength(5);
  });
});

describe("tables() in scalable mode (the trees)", () => {
  it("root entry -> scalable context entry -> PASID entries -> first-level entries, decoded by the walk's layouts", () => {
    const { iommu } = sva();
    const ctx = iommu.tables().root.child("01")!.child("00")!;
    expect(ctx).toMatchObject({ kind: "context-entry", sid: SID, translation: "translated", levels: 4 });
    expect(ctx.fields.map((f) => f.name)).toEqual(["P", "FPD", "DTE", "PASIDE", "PRE", "PDTS", "PASIDDIRPTR", "RID_PASID", "RID_PRIV"]);
    const pasids = ctx.children();
    expect(pasids.map((n) => n.kind === "pasid-entry" && [n.pasid, n.noPasid, n.translation, n.topName])).toEqual([
      [0, true, "first-level", "FL-PML4"],
      [2, false, "first-level", "FL-PML4"],
    ]);
    // PASID 2's FL-PTEs: the read-only page has perm R only.
    let n = ctx.child("p2")!;
    for (const k of ["254", "0", "0"]) n = n.children().find((c) => c.key === k)!;
    const ptes = n.children().filter((c) => c.kind === "pte");
    expect(ptes.map((p) => p.kind === "pte" && [p.index, p.perm, p.leaf, p.target])).toEqual([
      [0, 3, true, 0x3_1000_0000n],
      [1, 1, true, 0x3_1000_1000n],
    ]);
    expect(ptes[1]!.fields.find((f) => f.name === "U/S")).toMatchObject({ value: "1", meaning: "user" });
  });

  it("IOTLB entries name their domain and PASID, not the internal tag", () => {
    const { iommu } = sva();
    iommu.translate({ sid: SID, pasid: 2, iova: 0x7f00_0000_0000n, write: false });
    const did = iommu.tables().root.child("01")!.child("00")!.child("p2")!;
    const e = iommu.tables().iotlb.entries();
    expect(e.map((x) => [x.did, x.pasid, x.iova])).toEqual([[did.kind === "pasid-entry" ? did.did : -1, 2, 0x7f00_0000_0000n]]);
  });
});

describe("views of a PASID transaction", () => {
  it("the trace walk pane / debugger explain a PASID event with its PASID (not RID_PASID)", () => {
    const file = join(__dirname, "..", "..", "examples", "first-level-permission.passthrough.yaml");
    const scenario = parseScenario(readFileSync(file, "utf8"), file).scenario!;
    const { run } = runScenario(scenario);
    const t = run!.trace;
    let ev = -1;
    for (let i = 0; i < t.length; i++) if (t.reason[i] === 0x85) ev = i;
    const w = explainEvent(run!, ev);
    expect(w.reason).toBe(0x85);
    expect(w.stages.map((s) => s.name).slice(0, 4)).toEqual(["scalable-mode root entry", "scalable-mode context entry", "PASID directory entry", "PASID table entry"]);
    expect(w.stages.at(-1)?.name).toBe("FL-PTE");
    expect(w.stages.at(-1)?.stop).toContain("R/W = 0");
  });
});

describe("fault records and Linux's lines", () => {
  it("FRCD carries PP and PV; dmar_fault_do_one prints the PASID form of each kernel generation", () => {
    const { iommu, driver } = sva();
    expect(iommu.translate({ sid: SID, pasid: 2, iova: 0x7f00_0000_1000n, write: true })).toMatchObject({ kind: "fault", reason: 0x85 });
    driver.serviceFaults(); // dmar_fault() clears F: the next fault of this source is recorded, not compressed
    expect(iommu.translate({ sid: SID, iova: 0x9000_0000n, write: false })).toMatchObject({ kind: "fault", reason: 0x71 });
    const recs = iommu.faults("6.8");
    expect(recs.map((r) => r.pasid)).toEqual([2, undefined]);
    // drivers/iommu/intel/dmar.c dmar_fault_do_one() (v5.15+): "[%s PASID 0x%x] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s"
    expect(recs[0]!.dmesg).toEqual(["DMAR: [DMA Write PASID 0x2] Request device [01:00.0] fault addr 0x7f0000001000 [fault reason 0x85] SM: No write permission for Write/AtomicOp request"]);
    expect(recs[1]!.dmesg).toEqual(["DMAR: [DMA Read NO_PASID] Request device [01:00.0] fault addr 0x90000000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear"]);
    // v5.4 - v5.13: "[%s] Request device [%02x:%02x.%d] PASID %x fault addr %llx [fault reason %02d] %s", PASID -1 when absent.
    const old = iommu.faults("5.4");
    expect(old[0]!.dmesg).toEqual(["DMAR: [DMA Write] Request device [01:00.0] PASID 2 fault addr 7f0000001000 [fault reason 133] SM: No write permission for Write/AtomicOp request"]);
    expect(old[1]!.dmesg[0]).toContain("PASID ffffffff fault addr 90000000 [fault reason 113]");
  });

  it("a request with PASID on a legacy-mode unit faults 0x31 (SM: TTM 0 for request with PASID)", () => {
    const u = bootedUnit();
    const d = u.driver.allocDomain();
    u.driver.attach(d, [SID]);
    expect(vtdUnit(u.unit, u.driver).translate({ sid: SID, pasid: 1, iova: 0x1000n, write: false })).toMatchObject({ kind: "fault", reason: 0x31 });
  });
});

describe("PASID cache, PASID-tagged IOTLB and their invalidations", () => {
  it("a PASID entry cleared behind the unit's back keeps translating until the PASID-cache invalidation", () => {
    const { iommu, driver, mem, unit } = sva();
    const req = { sid: SID, pasid: 2, iova: 0x7f00_0000_0000n, write: true };
    expect(iommu.translate(req)).toMatchObject({ kind: "translated", cached: false });
    expect(iommu.translate(req)).toMatchObject({ kind: "translated", cached: true });
    const de = mem.readU64(driver.pasidDirectory(SID)!)!;
    mem.writeU64(Number(de & ~0xfffn) + 2 * 64, 0n); // the PASID entry's P = 0, no invalidation
    const ex = iommu.explain(req);
    expect(ex).toMatchObject({ stale: true, verdict: { kind: "translated", cached: true } });
    expect(ex.trail.stop).toMatchObject({ reason: 0x59, cause: "not-present" });
    const did = unit.sm.pc.get(SID * 1048576 + 2)!.did;
    // The PASID-based IOTLB invalidation empties the IOTLB; the PASID cache still answers.
    expect(iommu.invalidate({ scope: "pasid", domain: did, pasid: 2 })).toMatchObject({ ok: true, dropped: 1 });
    expect(iommu.translate(req)).toMatchObject({ kind: "translated", cached: false });
    // A domain-selective IOTLB invalidation does not cover first-level PASIDs (VT-d 6.5.2.3).
    expect(iommu.invalidate({ scope: "domain", domain: did })).toMatchObject({ ok: true, dropped: 0 });
    expect(iommu.invalidate({ scope: "pasid-cache", domain: did, pasid: 2 })).toMatchObject({ ok: true });
    expect(iommu.invalidate({ scope: "pasid", domain: did, pasid: 2 })).toMatchObject({ ok: true });
    expect(iommu.translate(req)).toMatchObject({ kind: "fault", reason: 0x59 });
  });

  it("the IOTLB is tagged per PASID: two PASIDs of one domain at one address do not share an entry", () => {
    const { iommu, driver, mem } = sva();
    const fl = driver.allocPage();
    mem.writeU64(driver.entryAddressIn(fl, 4, true, 0x7f00_0000_0000n, 1, true)!, 0x3_5000_0000n | 0x67n);
    driver.setPasidEntry(SID, 9, PGTT_FL, driver.allocDid(), 0, fl, 4, {});
    expect(iommu.translate({ sid: SID, pasid: 2, iova: 0x7f00_0000_0000n, write: false })).toMatchObject({ hpa: 0x3_1000_0000n, cached: false });
    expect(iommu.translate({ sid: SID, pasid: 9, iova: 0x7f00_0000_0000n, write: false })).toMatchObject({ hpa: 0x3_5000_0000n, cached: false });
    expect(iommu.translate({ sid: SID, pasid: 2, iova: 0x7f00_0000_0000n, write: false })).toMatchObject({ hpa: 0x3_1000_0000n, cached: true });
  });

  it("unmap of a first-level DMA domain flushes with PASID-based IOTLB descriptors (cache_tag_flush_range)", () => {
    const { iommu, driver, dom } = sva();
    expect(iommu.translate({ sid: SID, iova: 0x10000000n, write: true })).toMatchObject({ kind: "translated" });
    driver.takeIssued();
    driver.unmap(dom, 0x10000000n, 0x2000n);
    const types = driver.takeIssued().map((d) => Number(d.lo & 0xfn));
    expect(types).toEqual([0x6, 0x5]); // P_IOTLB, then the wait descriptor
    expect(iommu.translate({ sid: SID, iova: 0x10000000n, write: true })).toMatchObject({ kind: "fault", reason: 0x71 });
  });
});

describe("validation", () => {
  const host = (iommu: string) => `host:\n  memory: 16GiB\n  iommu: ${iommu}\n  pci:\n    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }\n    - { bdf: "01:00.0", id: "8086:0b25", parent: "00:01.0", driver: idxd }\n`;
  const errors = (text: string) => parseScenario(text, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => ({ code: d.code, line: d.range.line + 1, column: d.range.column + 1, message: d.message }));

  it("DMA with a PASID on a legacy-mode unit is an error at the transfer", () => {
    const text = host("{ model: intel-vtd }") + `workload:\n  - dma: { device: "01:00.0", pasid: 1, iova: 0x1000 }\n`;
    expect(errors(text)).toEqual([{ code: "pasid-unsupported", line: 8, column: 5, message: "DMA with PASID 0x1, but host.iommu is a legacy-mode unit" }]);
  });

  it("a scalable-mode capability on a unit without scalable mode names the key", () => {
    const text = host("{ model: intel-vtd, first-level: true }") + `workload: []\n`;
    expect(errors(text)).toEqual([{ code: "scalable-mode-required", line: 3, column: 30, message: "host.iommu.first-level is a scalable-mode capability, but this unit has no scalable mode (ECAP.SMTS = 0)" }]);
  });

  it("nested without first-level, scalable mode without queued invalidation, a PASID beyond pasid-bits", () => {
    expect(errors(host("{ model: intel-vtd, scalable: true, first-level: false, nested: true }") + "workload: []\n").map((e) => e.code)).toEqual(["invalid-value"]);
    expect(errors(host("{ model: intel-vtd, scalable: true, queued-invalidation: false }") + "workload: []\n")[0]!.message).toBe("scalable mode needs queued invalidation");
    const text = host("{ model: intel-vtd, scalable: true, pasid-bits: 8 }") + `workload:\n  - bind-pasid: { device: "01:00.0", pasid: 0x100 }\n`;
    expect(errors(text)).toEqual([{ code: "pasid-unsupported", line: 8, column: 5, message: "PASID 0x100 does not fit the unit's 8-bit PASIDs (ECAP.PSS)" }]);
  });

  it("a scenario binding and unbinding PASIDs simulates, and a double bind is EBUSY", () => {
    const text =
      host("{ model: intel-vtd, scalable: true }") +
      `workload:\n  - bind-pasid: { device: "01:00.0", pasid: 1, mode: second-level, maps: [ { va: 0x1000, hpa: 0x4_0000_0000 } ] }\n  - bind-pasid: { device: "01:00.0", pasid: 1 }\n    expect: { errno: EBUSY }\n  - dma: { device: "01:00.0", pasid: 1, iova: 0x1008 }\n    expect: { hpa: 0x4_0000_0008 }\n  - unbind-pasid: { device: "01:00.0", pasid: 1 }\n  - dma: { device: "01:00.0", pasid: 1, iova: 0x1008 }\n    expect: { fault: 0x59 }\n`;
    const r = simulateText(text, "t.passthrough.yaml");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.expectations).toMatchObject({ passed: 3, failed: 0 });
  });
});
