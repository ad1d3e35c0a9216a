// VT-d page requests (PRI) in scalable mode (docs/vtd-scalable-device.md): ECAP.PRS, the context
// entry's PRE, the page request queue Linux allocates (intel_svm_enable_prq), the 32-byte page
// request descriptor (struct page_req_dsc), PRS.PPR, the page group response descriptor
// (intel_svm_page_response), and the device's retry.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";
import { decodePageResponseDesc, encodePageResponseDesc } from "../../src/sim/vtd/qi.js";
import { DMAR_PQA_REG, DMAR_PQH_REG, DMAR_PQT_REG, DMAR_PRS_REG } from "../../src/sim/vtd/regs.js";
import { EventKind } from "../../src/trace/trace.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "page-request-sva.passthrough.yaml"), "utf8");
const DSA = 0x0200;

function run(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
}
const UNTIL_RESPONSE = EXAMPLE.replace(/  - page-response:[\s\S]*$/, "");

describe("VT-d page requests (PRI)", () => {
  it("examples/page-request-sva: the not-present page comes in through a page request and the device's retry", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.map((o) => o.expect?.failures ?? [])).toEqual(r.outcomes.map(() => []));
    expect(r.outcomes[3]!.summary).toMatch(/PRG 0 \(PASID 0x5, write 0x7f0000001000\): Success; the retried Translation Request got HPA 0x/);
    expect(r.outcomes[6]!.summary).toMatch(/PRG 1 .*: Invalid Request; the device gives up/);
  });

  it("Linux: ECAP.PRS, PRE and DTE in the context entry, PQA = queue | PRQ_ORDER 4", () => {
    const r = run(UNTIL_RESPONSE);
    const h = r.machine.hostIommu as VtdHost;
    expect((h.unit.ecap >> 29n) & 1n).toBe(1n);
    expect((h.unit.mem.readU64(h.driver.smContextEntry(DSA)) ?? 0n) & 0x1fn).toBe(0x1dn); // P | DTE | PASIDE | PRE
    expect(h.unit.readReg64(DMAR_PQA_REG)).toBe(BigInt(h.driver.prq) | 4n);
  });

  it("the page request descriptor is the bytes of struct page_req_dsc; PQT advances by 32 and PRS.PPR is set", () => {
    const r = run(UNTIL_RESPONSE);
    const h = r.machine.hostIommu as VtdHost;
    expect(h.unit.readReg64(DMAR_PQT_REG)).toBe(32n);
    expect(h.unit.readReg64(DMAR_PQH_REG)).toBe(0n);
    expect(h.unit.readReg32(DMAR_PRS_REG) & 1).toBe(1);
    const qw0 = h.unit.mem.readU64(h.driver.prq)!;
    const qw1 = h.unit.mem.readU64(h.driver.prq + 8)!;
    // type 1, PP, RID 02:00.0, PASID 5; WRR, LPIG, PRGI 0, the page.
    expect(qw0).toBe(1n | (1n << 8n) | (0x0200n << 16n) | (5n << 32n));
    expect(qw1).toBe(2n | 4n | 0x7f00_0000_1000n);
    // Not a fault record.
    expect(r.machine.iommu.faults()).toEqual([]);
  });

  it("the handler empties the queue (PQH = PQT), clears PPR and queues a page group response (type 0x9, Success)", () => {
    const r = run(EXAMPLE.replace(/  # The page is there now[\s\S]*$/, ""));
    const h = r.machine.hostIommu as VtdHost;
    expect(h.unit.readReg64(DMAR_PQH_REG)).toBe(h.unit.readReg64(DMAR_PQT_REG));
    expect(h.unit.readReg32(DMAR_PRS_REG) & 1).toBe(0);
    const t = r.machine.trace;
    const descs: bigint[][] = [];
    for (let i = 0; i < t.length; i++) {
      const row = t.row(i);
      if (row.kind === EventKind.Invalidate && row.step === 3) descs.push([row.a, row.b]);
    }
    expect(descs.filter(([lo]) => (lo! & 0xfn) === 0x9n)).toEqual([encodePageResponseDesc(DSA, 5, 0, 0, true)]);
    expect(h.unit.pageResponses).toEqual([{ sid: DSA, pasid: 5, prgi: 0, code: 0 }]);
  });

  it("a device without PRE in its context entry: the page request is refused with 0x47 (QEMU vtd_check_pre_bit)", () => {
    const r = run(UNTIL_RESPONSE.replace(/  # Not faulted in[\s\S]*$/, "") + `  - poke: { target: { device: "02:00.0", structure: context-lo }, clear: 0x10 }
  - invalidate: { granularity: context-device, device: "02:00.0" }
  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_1000, length: 4KiB, write: true }
    expect: { fault: 0x47, recorded: true }
`);
    expect(r.outcomes.map((o) => o.expect?.failures ?? [])).toEqual(r.outcomes.map(() => []));
  });

  it("property: Linux's page group response encoding decodes to the same fields", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xfffff }), fc.constantFrom(0, 1, 0xf), fc.integer({ min: 0, max: 511 }), fc.boolean(), fc.boolean(), (rid, pasid, code, prgi, lpig, pdp) => {
        expect(decodePageResponseDesc(...encodePageResponseDesc(rid, pasid, code, prgi, lpig, true, pdp))).toEqual({ rid, pasid, pasidPresent: true, pdp, code, prgi, lpig });
      }),
    );
  });

  it("bad input: pri without scalable mode or without ats, present: false outside a first-level bind", () => {
    const errors = (t: string) => parseScenario(t, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errors(EXAMPLE.replace("scalable: true, ", ""))).toContain("pri needs a unit in scalable mode (ECAP.PRS comes with ECAP.SMTS)");
    expect(errors(EXAMPLE.replace('ats: ["02:00.0"], ', ""))).toContain("02:00.0 has PRI but not ATS");
    expect(errors(EXAMPLE.replace("      pasid: 5\n", "      pasid: 5\n      mode: second-level\n"))).toContain("present: false needs a first-level bind (a process address space that page requests fill in)");
  });
});

describe("Mapping Tables: the VT-d page request queue (InspectTables.pageRequests, the node SMMUv3's PRI queue uses)", () => {
  it("lists the queued descriptor with its fields, pending until Linux's handler takes it", () => {
    const queued = run(UNTIL_RESPONSE).machine.iommu.tables().pageRequests!;
    expect(queued.name).toBe("Page request queue");
    expect(queued.capacity).toBe(2048);
    const [e, ...rest] = queued.entries();
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ index: 0, sid: DSA, pasid: 5, page: 0x7f00_0000_1000n, access: "W", group: 0, last: true, pending: true });
    expect(e!.address).toBe(queued.address);
    expect(Object.fromEntries(e!.fields.map((f) => [f.name, f.value]))).toMatchObject({ Type: "0x1", PP: "1", RID: "0x200", PASID: "0x5", RDR: "0", WRR: "1", LPIG: "1", PRGI: "0", ADDR: "0x7f0000001000" });
    // After page-response: the descriptor stays in memory, no longer pending.
    const handled = run(EXAMPLE.replace(/  # The page is there now[\s\S]*$/, "")).machine.iommu.tables().pageRequests!;
    expect(handled.entries().map((x) => x.pending)).toEqual([false]);
  });

  it("a unit without page requests has no queue node", () => {
    const legacy = run(EXAMPLE.replace(/, pri: \["02:00.0"\]/, "").replace(/  - bind-pasid:[\s\S]*$/, "  - wait: 1ms\n"));
    expect(legacy.machine.iommu.tables().pageRequests).toBeUndefined();
  });
});
