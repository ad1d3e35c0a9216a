// VT-d page request queue overflow, rejected page requests and invalidation-queue error causes
// (docs/vtd-scalable-device.md): PRS.PRO and the unit's auto-response, Linux's prq_event_thread
// lines per kernel generation, the page-request step, IQERCD.IQEI, the PRQ registers' decode.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulateText } from "../../src/cli/simulate.js";
import { parseScenario } from "../../src/scenario/index.js";
import { renderQiError } from "../../src/sim/vtd/dmesg.js";
import { QI_RESP_INVALID, QI_RESP_SUCCESS } from "../../src/sim/vtd/qi.js";
import { DMAR_FSTS_REG, DMAR_IQER_REG, DMAR_PQA_REG, DMAR_PQH_REG, DMAR_PQT_REG, DMAR_PRS_REG, PRS_PRO, decodeRegister } from "../../src/sim/vtd/regs.js";
import { F_FATE_SHIFT, EventKind } from "../../src/trace/trace.js";
import { bootedUnit } from "./helpers.js";
import { DSA, PRQ_BASE, PRQ_EXAMPLE, dmesgOf, runText, vtdHost } from "./prqFixture.js";

const EXAMPLE = PRQ_EXAMPLE;
const BASE = PRQ_BASE;
const run = runText;
const host = vtdHost;
const dmesg = dmesgOf;

describe("page request queue overflow (PRS.PRO)", () => {
  it("examples/prq-overflow: 127 of 128 slots fill, the rest is lost; Linux prints the overflow and clears PRO once the queue is empty", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.map((o) => o.expect?.failures ?? [])).toEqual(r.outcomes.map(() => []));
    expect(dmesg(r).filter((l) => l.includes("PRQ overflow"))).toEqual(["IOMMU: dmar0: PRQ overflow detected", "IOMMU: dmar0: PRQ overflow cleared"]);
    expect(r.outcomes[4]!.summary).toMatch(/2 requests of a group without its last page: held back, then discarded with the overflow \(iopf_queue_discard_partial\); PRQ overflow detected, PRQ overflow cleared$/);
    expect(r.outcomes[3]!.summary).toBe("1 page request of 02:00.0 (PRG 300, PASID 0x5): 0 queued, 1 lost to a full page request queue (PRS.PRO set); the unit answered the last one itself with Success");
    expect(host(r).unit.readReg32(DMAR_PRS_REG) & PRS_PRO).toBe(0);
  });

  it("the unit: PQT stops one slot short of PQH, PRO is set, nothing is written for a lost request, and each lost last-in-group request is auto-answered Success", () => {
    const r = run(EXAMPLE.replace(/  # The last page of group 300[\s\S]*$/, ""));
    const u = host(r).unit;
    expect(u.readReg64(DMAR_PQH_REG)).toBe(0n);
    expect(u.readReg64(DMAR_PQT_REG)).toBe(127n * 32n);
    expect(u.readReg32(DMAR_PRS_REG) & PRS_PRO).toBe(PRS_PRO);
    // The 5 lost pages of the dma (PRG 125..129), each its own group: the unit's answers.
    expect(u.pageResponses).toEqual([125, 126, 127, 128, 129].map((prgi) => ({ sid: DSA, pasid: 5, prgi, code: QI_RESP_SUCCESS, auto: true })));
    // Their trace rows carry the fate PageRequestOverflow (6); the queued ones PageRequest (5).
    const t = r.machine.trace;
    const fates: number[] = [];
    for (let i = 0; i < t.length; i++) if (t.kind[i] === EventKind.Dma && t.step[i] === 2) fates.push((t.flags[i]! >> F_FATE_SHIFT) & 7);
    expect(fates).toEqual([...new Array<number>(125).fill(5), ...new Array<number>(5).fill(6)]);
  });

  it("simulate --json: each faulting transaction's fate is page-request or page-request-overflow, not recorded", () => {
    const rep = simulateText(EXAMPLE, "prq-overflow.passthrough.yaml", { detail: true });
    const dma = rep.steps[2]!.dma!;
    expect(dma.fates).toEqual({ recorded: 0, "suppressed-fpd": 0, overflow: 0, compressed: 0, "page-request": 125, "page-request-overflow": 5 });
    expect(dma.faults.at(-1)).toMatchObject({ iova: "0x7f0000081000", fate: "page-request-overflow", recorded: false });
  });

  it("VT-d 3.x: a lost request with private data is answered Success with its private data even without LPIG; without PDP it is dropped", () => {
    const { unit } = bootedUnit({ scalable: true, pri: ["02:00.0"], prqOrder: 0, prqPrivateData: true });
    for (let i = 0; i < 127; i++) expect(unit.pageRequest(DSA, 5, BigInt(i) << 12n, true, false, false, i)).toBe(0);
    expect(unit.pageRequest(DSA, 5, 0x100000n, true, false, false, 200, false)).toBe(1); // no PDP, not last: dropped
    expect(unit.pageRequest(DSA, 5, 0x101000n, true, false, false, 201, false, false, 0x42n)).toBe(2); // PDP: answered
    expect(unit.pageResponses).toEqual([{ sid: DSA, pasid: 5, prgi: 201, code: QI_RESP_SUCCESS, auto: true, privateData: 0x42n }]);
    // A VT-d 4.0 unit (no prq-private-data) has no PDP: the same request is dropped.
    const v4 = bootedUnit({ scalable: true, pri: ["02:00.0"], prqOrder: 0 }).unit;
    for (let i = 0; i < 127; i++) v4.pageRequest(DSA, 5, BigInt(i) << 12n, true, false, false, i);
    expect(v4.pageRequest(DSA, 5, 0x101000n, true, false, false, 201, false, false, 0x42n)).toBe(1);
    expect(v4.pageResponses).toEqual([]);
  });

  it("the page-request step says how many lost requests with private data the unit answered", () => {
    const text = BASE.replace("prq-order: 0 }", "prq-order: 0, prq-private-data: true }") +
      '  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, length: 508KiB, write: true }\n' +
      '  - page-request: { device: "02:00.0", pasid: 5, address: 0x7f00_000f_0000, write: true, pages: 2, last: false, prgi: 300, private-data: 0x7 }\n';
    const r = run(text);
    expect(r.outcomes.at(-1)!.summary).toBe("2 page requests of 02:00.0 (PRG 300, PASID 0x5): 0 queued, 2 lost to a full page request queue (PRS.PRO set); the unit answered all 2 itself with Success (private data needs a response, VT-d 3.x)");
    expect(host(r).unit.pageResponses.filter((p) => p.prgi === 300)).toEqual([0, 1].map(() => ({ sid: DSA, pasid: 5, prgi: 300, code: QI_RESP_SUCCESS, auto: true, privateData: 7n })));
  });

  it("a request that comes while PRO is set is lost even when the queue has room again (PRO is sticky until software clears it)", () => {
    const { unit } = bootedUnit({ scalable: true, pri: ["02:00.0"], prqOrder: 0 });
    for (let i = 0; i < 127; i++) expect(unit.pageRequest(DSA, 5, BigInt(i) << 12n, true, false, false, i)).toBe(0);
    expect(unit.pageRequest(DSA, 5, 0x100000n, true, false, false, 200, false)).toBe(1); // dropped, no response
    unit.writeReg64(DMAR_PQH_REG, unit.readReg64(DMAR_PQT_REG)); // software took every descriptor but left PRO set
    expect(unit.pageRequest(DSA, 5, 0x101000n, true, false, false, 201)).toBe(2); // auto-responded
    expect(unit.pageResponses).toEqual([{ sid: DSA, pasid: 5, prgi: 201, code: QI_RESP_SUCCESS, auto: true }]);
    unit.writeReg32(DMAR_PRS_REG, PRS_PRO);
    expect(unit.pageRequest(DSA, 5, 0x102000n, true, false, false, 202)).toBe(0);
  });

  it("Linux's reaction by kernel generation: 5.10 clears PRO without a line; before 5.8 PRO is never cleared and every later request is lost", () => {
    const steps = `  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, length: 520KiB, write: true }
  - page-response: { device: "02:00.0" }
`;
    const r510 = run(BASE.replace('kernel: "6.5"', 'kernel: "5.10"') + steps);
    expect(dmesg(r510).filter((l) => l.includes("PRQ"))).toEqual([]);
    expect(host(r510).unit.readReg32(DMAR_PRS_REG) & PRS_PRO).toBe(0);
    const r54 = run(BASE.replace('kernel: "6.5"', 'kernel: "5.4"') + steps + `  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0008_0000, length: 4KiB, write: true }\n`);
    expect(dmesg(r54).filter((l) => l.includes("PRQ"))).toEqual([]);
    expect(host(r54).unit.readReg32(DMAR_PRS_REG) & PRS_PRO).toBe(PRS_PRO);
    expect(host(r54).unit.readReg64(DMAR_PQT_REG)).toBe(host(r54).unit.readReg64(DMAR_PQH_REG)); // nothing queued after the overflow
  });

  it("property: every last-in-group request is answered exactly once - by Linux's handler or by the unit - whatever the interleaving with the handler", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constant(0)), { minLength: 1, maxLength: 8 }), (plan) => {
        const r = run(BASE);
        const h = host(r);
        const u = h.unit;
        expect(u.readReg64(DMAR_PQA_REG) & 7n).toBe(0n); // 128 descriptors: the plans overflow it
        u.priSids.add(DSA);
        let sent = 0;
        for (const n of plan) {
          if (n === 0) h.driver.servicePrq(() => QI_RESP_SUCCESS, "6.5");
          for (let i = 0; i < n; i++) u.pageRequest(DSA, 5, 0x7f00_0000_0000n + (BigInt(sent + i) << 12n), true, false, false, (sent + i) & 0x1ff);
          sent += n;
        }
        h.driver.servicePrq(() => QI_RESP_SUCCESS, "6.5");
        expect(u.pageResponses.length).toBe(sent);
        expect(u.pageResponses.every((x) => x.code === QI_RESP_SUCCESS)).toBe(true);
        expect(u.readReg64(DMAR_PQH_REG)).toBe(u.readReg64(DMAR_PQT_REG));
        expect(u.readReg32(DMAR_PRS_REG) & PRS_PRO).toBe(0);
      }),
      { numRuns: 25 },
    );
  });
});

describe("rejected page requests (prq_event_thread's checks, handle_bad_prq_event)", () => {
  const bad = (req: string) => run(`${BASE}  - page-request: { device: "02:00.0", ${req} }\n  - page-response: { device: "02:00.0" }\n`);

  it("a privileged write: 'Page request in Privilege Mode', the descriptor's words, and Invalid Request", () => {
    const r = bad("pasid: 5, address: 0x7f00_0000_3000, write: true, privileged: true");
    // qw0: type 1, PP, RID 0x200, PASID 5, PMR [53]; qw1: WRR, LPIG, PRGI 0, the page.
    expect(dmesg(r).slice(-2)).toEqual(["IOMMU: dmar0: Page request in Privilege Mode", "dmar0: Invalid page request: 20000502000101 7f0000003006"]);
    expect(host(r).unit.pageResponses).toEqual([{ sid: DSA, pasid: 5, prgi: 0, code: QI_RESP_INVALID }]);
    expect(r.outcomes[2]!.summary).toMatch(/rejected \(Page request in Privilege Mode\); Invalid Request, the device gives up/);
  });

  it("execute with read, a non-canonical address: their lines; a rejected request that is not the last of its group gets no response", () => {
    expect(dmesg(bad("pasid: 5, address: 0x7f00_0000_3000, exec: true")).at(-2)).toBe("IOMMU: dmar0: Execution request not supported");
    expect(dmesg(bad("pasid: 5, address: 0x8000_0000_0000")).at(-2)).toBe("IOMMU: dmar0: Address is not canonical");
    const open = bad("pasid: 5, address: 0x8000_0000_0000, last: false");
    expect(host(open).unit.pageResponses).toEqual([]);
    expect(dmesg(open).at(-1)).toBe("dmar0: Invalid page request: 502000101 800000000001");
  });

  it("a request without PASID: 'Page request without PASID', and the Invalid Request response without PASID stops the invalidation queue (QEMU takes none): qi_check_fault's lines", () => {
    const r = bad("address: 0x7f00_0000_3000, write: true");
    expect(dmesg(r).slice(-6)).toEqual([
      "IOMMU: dmar0: Page request without PASID",
      "dmar0: Invalid page request: 02000001 7f0000003006",
      "DMAR: VT-d detected Invalidation Queue Error: Reason 4",
      "DMAR: QI HEAD: Page Group Response qw0 = 0x2001009, qw1 = 0x4",
      expect.stringMatching(/^DMAR: QI PRIOR: /),
      "DMAR: Invalidation Queue Error (IQE) cleared",
    ]);
  });

  it("a Stop Marker (LPIG without read or write) is dropped without a response or a line", () => {
    const r = bad("pasid: 5, address: 0x7f00_0000_3000, read: false");
    expect(host(r).unit.pageResponses).toEqual([]);
    expect(dmesg(r).some((l) => l.includes("page request"))).toBe(false);
  });

  it("bad input: page-request needs device and address; pages and prgi are bounded", () => {
    const errors = (t: string) => parseScenario(`${BASE}  - page-request: { ${t} }\n`, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    expect(errors('device: "02:00.0"').length).toBeGreaterThan(0);
    expect(errors('device: "02:00.0", address: 0x1000, pages: 5000').length).toBeGreaterThan(0);
    expect(errors('device: "02:00.0", address: 0x1000, prgi: 512').length).toBeGreaterThan(0);
    expect(errors('device: "02:00.0", address: 0x1000, prgi: 511, pages: 3, last: false')).toEqual([]);
    expect(parseScenario(BASE.replace("prq-order: 0 }", "prq-order: 8 }"), "x.passthrough.yaml").diagnostics.some((d) => d.severity === "error")).toBe(true);
  });
});

describe("invalidation queue error causes (IQERCD.IQEI, VT-d 11.4.9.9)", () => {
  const iqei = (u: ReturnType<typeof bootedUnit>["unit"]) => Number(u.readReg64(DMAR_IQER_REG) & 0xfn);

  it("unknown descriptor type: 3; a page group response in legacy mode: 3; reserved bits in a page group response: 4; a wait descriptor with none of IF/SW/FN: 4", () => {
    const legacy = bootedUnit();
    expect(legacy.driver.submitRaw([0xan, 0n])).toBe(false);
    expect(iqei(legacy.unit)).toBe(3);
    expect(legacy.driver.submitRaw([0x9n | (1n << 4n), 4n])).toBe(false);
    expect(iqei(legacy.unit)).toBe(3);
    const sm = bootedUnit({ scalable: true, pri: ["02:00.0"] });
    expect(sm.driver.submitRaw([0x9n | (1n << 4n) | (1n << 5n) | (0x200n << 16n) | (5n << 32n), 4n])).toBe(false); // PDP [5]: QEMU PGRESP_RSVD_LO
    expect(iqei(sm.unit)).toBe(4);
    expect(sm.driver.submitRaw([0x9n | (1n << 4n) | (0x200n << 16n) | (5n << 32n), 4n])).toBe(true);
    expect(sm.driver.submitRaw([0x5n | (1n << 32n), 0n])).toBe(false);
    expect(iqei(sm.unit)).toBe(4);
    expect(sm.unit.readReg32(DMAR_FSTS_REG) & (1 << 4)).toBe(0); // Linux cleared IQE
  });

  it("qi_check_fault's lines by kernel: qi_dump_fault from v5.13, 'invalid descriptor: qw0 = ...' in 5.0-5.12, 'low=..., high=...' before, 'dmar: ' before 4.2", () => {
    const { driver } = bootedUnit({ mamv: 4 });
    expect(driver.submitRaw([0x2n | (3n << 4n), 5n])).toBe(false);
    const e = driver.lastQiError!;
    expect(renderQiError(e, "5.13")[0]).toBe("DMAR: VT-d detected Invalidation Queue Error: Reason 4");
    expect(renderQiError(e, "5.12")).toEqual(["DMAR: VT-d detected invalid descriptor: qw0 = 32, qw1 = 5"]);
    expect(renderQiError(e, "4.19")).toEqual(["DMAR: VT-d detected invalid descriptor: low=32, high=5"]);
    expect(renderQiError(e, "4.1")).toEqual(["dmar: VT-d detected invalid descriptor: low=32, high=5"]);
    // ITE had no line of its own before v5.13.
    expect(renderQiError({ ...e, fault: 1 << 6 }, "5.10")).toEqual([]);
  });
});

describe("the page request registers in the decoded-registers view", () => {
  it("PQH, PQT, PQA, PRS and IQER through the contract's registers()", () => {
    const r = run(EXAMPLE.replace(/  # The last page of group 300[\s\S]*$/, ""));
    const regs = Object.fromEntries(r.machine.iommu.registers().map((x) => [x.name, Object.fromEntries(x.fields.map((f) => [f.name, f.value]))]));
    expect(regs.PRS).toEqual({ PPR: "1 (page requests pending)", PRO: "1 (overflow: page requests are being dropped)" });
    expect(regs.PQA!.PQS).toBe("0 (128 descriptors; Linux PRQ_ORDER)");
    expect(regs.PQT!.PQT).toBe("127 (offset 0xfe0)");
    expect(regs.PQH!.PQH).toBe("0 (offset 0x0)");
    expect(decodeRegister("IQER", 5n).find((f) => f.name === "IQEI")!.value).toBe("5 (descriptor width wrong for the mode (IQA.DW))");
  });
});
