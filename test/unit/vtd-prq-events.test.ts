// VT-d page request event interrupt (PECTL / PEDATA / PEADDR / PEUADDR, VT-d 7.5 and 11.4.12.5-8;
// QEMU vtd_generate_page_request_event): Linux programs and unmasks it when it enables the queue,
// the unit sends it when a request finds PRS.PPR and PRO clear, and Linux's prq_event_thread - the
// `page-response` step - runs only when one came (docs/vtd-scalable-device.md).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PRQ_MSI_ADDRESS, PRQ_MSI_DATA } from "../../src/sim/vtd/driver.js";
import { decodePageRequestDesc, encodePageRequestDesc } from "../../src/sim/vtd/prq.js";
import { QI_RESP_SUCCESS } from "../../src/sim/vtd/qi.js";
import { DMAR_PEADDR_REG, DMAR_PECTL_REG, DMAR_PEDATA_REG, DMAR_PEUADDR_REG, DMAR_PRS_REG, PECTL_IM, PECTL_IP, PRS_PPR, decodeRegister } from "../../src/sim/vtd/regs.js";
import { EventTags, pasidOfEvent } from "../../src/engine/traceTags.js";
import { EventKind, F_WRITE } from "../../src/trace/trace.js";
import { parseScenario } from "../../src/scenario/index.js";
import { bootedUnit } from "./helpers.js";
import { DSA, PRQ_BASE, PRQ_EXAMPLE, runText, vtdHost } from "./prqFixture.js";

const EXAMPLE = PRQ_EXAMPLE;
const BASE = PRQ_BASE;
const run = runText;
const host = vtdHost;

describe("the page request event interrupt (PECTL)", () => {
  it("Linux programs PEDATA / PEADDR / PEUADDR and unmasks PECTL when it enables the queue (dmar_msi_write, dmar_msi_unmask); a unit without a queue keeps IM set", () => {
    const { unit } = bootedUnit({ scalable: true, pri: ["02:00.0"] });
    expect(unit.readReg32(DMAR_PEDATA_REG)).toBe(PRQ_MSI_DATA);
    expect(unit.readReg32(DMAR_PEADDR_REG)).toBe(PRQ_MSI_ADDRESS);
    expect(unit.readReg32(DMAR_PEUADDR_REG)).toBe(0);
    expect(unit.readReg32(DMAR_PECTL_REG)).toBe(0);
    expect(bootedUnit({ scalable: true }).unit.readReg32(DMAR_PECTL_REG)).toBe(PECTL_IM >>> 0);
  });

  it("one interrupt per batch: sent when PPR was clear, none while PPR or PRO is set; the handler clears PPR, so the next request sends another", () => {
    const { unit, driver } = bootedUnit({ scalable: true, pri: ["02:00.0"], prqOrder: 0 });
    unit.pageRequest(DSA, 5, 0x1000n, true, false, false, 1);
    expect(unit.prInterrupts).toBe(1);
    unit.pageRequest(DSA, 5, 0x2000n, true, false, false, 2);
    expect(unit.prInterrupts).toBe(1);
    expect(driver.prqInterruptPending).toBe(true);
    driver.servicePrq(() => QI_RESP_SUCCESS, "6.5");
    expect(driver.prqInterruptPending).toBe(false);
    unit.pageRequest(DSA, 5, 0x3000n, true, false, false, 3);
    expect(unit.prInterrupts).toBe(2);
    // Fill the queue (PPR set all along): the overflow sets PRO but sends no event, nor does a request while PRO is set.
    for (let i = 0; i < 130; i++) unit.pageRequest(DSA, 5, BigInt(0x10000 + i * 0x1000), true, false, false, i);
    expect(unit.prInterrupts).toBe(2);
  });

  it("masked: the event waits in PECTL.IP, the page-response step does not run Linux's handler, and unmasking (poke PECTL) sends it", () => {
    const r = run(`${BASE}  - poke: { register: PECTL, value: 0x8000_0000 }
  - page-request: { device: "02:00.0", pasid: 5, address: 0x7f00_0000_0000, write: true, pages: 2 }
  - page-response: { device: "02:00.0" }
  - poke: { register: PECTL, value: 0 }
  - page-response: { device: "02:00.0" }
`);
    expect(r.outcomes[1]!.summary).toBe("wrote 0x80000000 to PECTL (was 0x00000000): page request interrupts masked (an event stays pending in IP)");
    expect(r.outcomes[2]!.summary).toMatch(/: 2 queued; the page request event is pending in PECTL.IP \(PECTL.IM masks it\)$/);
    expect(r.outcomes[3]!.summary).toBe("no page request interrupt since Linux's handler last ran (PECTL.IM masks the page request event; PECTL.IP holds it): prq_event_thread did not run; 2 page requests wait in the queue");
    expect(r.outcomes[4]!.summary).toBe("wrote 0x00000000 to PECTL (was 0xc0000000): unmasked: the pending page request event was sent");
    expect(r.outcomes[5]!.summary).toMatch(/^page requests handled, page group responses queued: PRG \d+ \(PASID 0x5, write 0x7f0000001000, 2 pages\): Success/);
    expect(host(r).unit.readReg32(DMAR_PECTL_REG) & PECTL_IP).toBe(0);
  });

  it("a masked event dies when software services PPR (Intel's PECTL_REG: IP is cleared when the pending condition is serviced): unmasking then sends nothing", () => {
    const { unit } = bootedUnit({ scalable: true, pri: ["02:00.0"] });
    unit.writeReg32(DMAR_PECTL_REG, PECTL_IM);
    unit.pageRequest(DSA, 5, 0x1000n, true, false, false, 1);
    expect(unit.readReg32(DMAR_PECTL_REG)).toBe((PECTL_IM | PECTL_IP) >>> 0);
    unit.writeReg32(DMAR_PRS_REG, PRS_PPR);
    expect(unit.readReg32(DMAR_PECTL_REG)).toBe(PECTL_IM >>> 0);
    unit.writeReg32(DMAR_PECTL_REG, 0);
    expect(unit.prInterrupts).toBe(0);
  });

  it("the page-request step says when it sent the interrupt; the registers view decodes PECTL, PEDATA and PEADDR", () => {
    const r = run(`${BASE}  - page-request: { device: "02:00.0", pasid: 5, address: 0x7f00_0000_0000, write: true }\n`);
    expect(r.outcomes[1]!.summary).toMatch(/: 1 queued; page request interrupt sent \(PEDATA 0x25 to PEADDR 0xfee00000\)$/);
    const regs = Object.fromEntries(r.machine.iommu.registers().map((x) => [x.name, Object.fromEntries(x.fields.map((f) => [f.name, f.value]))]));
    expect(regs.PECTL).toEqual({ IP: "0", IM: "0" });
    expect(regs.PEDATA!.IMD).toBe("0x25 (vector 0x25)");
    expect(regs.PEADDR!.MA).toBe("0xfee00000 (APIC id 0)");
    expect(decodeRegister("PECTL", BigInt(PECTL_IM | PECTL_IP) & 0xffffffffn).map((f) => f.value)).toEqual(["1 (a page request event is pending)", "1 (masked: no page request interrupt)"]);
  });
});

describe("private data in page requests (PDP, VT-d 3.x)", () => {
  const PDP = BASE.replace("prq-order: 0 }", "prq-order: 0, prq-private-data: true }");
  const steps = `  - page-request: { device: "02:00.0", pasid: 5, address: 0x7f00_0000_0000, write: true, private-data: 0x1234_5678_9abc_def0 }
  - page-response: { device: "02:00.0" }
  - page-request: { device: "02:00.0", pasid: 5, address: 0x7f00_0000_4000, write: true, last: false, private-data: 0x42 }
  - page-response: { device: "02:00.0" }
`;
  const withKernel = (k: string) => run(PDP.replace('kernel: "6.5"', `kernel: "${k}"`) + steps);

  it("property: a page request descriptor with PDP decodes to the fields it was encoded from", () => {
    fc.assert(
      fc.property(fc.record({ pp: fc.boolean(), pdp: fc.boolean(), rid: fc.integer({ min: 0, max: 0xffff }), pasid: fc.integer({ min: 0, max: 0xfffff }), er: fc.boolean(), pmr: fc.boolean(), rdr: fc.boolean(), wrr: fc.boolean(), lpig: fc.boolean(), prgi: fc.integer({ min: 0, max: 511 }), addr: fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((a) => a << 12n) }), (d) => {
        expect(decodePageRequestDesc(...encodePageRequestDesc(d))).toEqual({ type: 1, ...d });
      }),
    );
  });

  it("the unit writes PDP [9] and the data into qw2 of the descriptor", () => {
    const { unit, driver, mem } = bootedUnit({ scalable: true, pri: ["02:00.0"], prqPrivateData: true });
    unit.pageRequest(DSA, 5, 0x1000n, true, false, false, 7, true, false, 0xabcdn);
    expect((mem.readU64(driver.prq)! >> 9n) & 1n).toBe(1n);
    expect(mem.readU64(driver.prq + 16)).toBe(0xabcdn);
    // Without prq-private-data (a VT-d 4.0 unit, as QEMU models) the field does not exist.
    const v4 = bootedUnit({ scalable: true, pri: ["02:00.0"] });
    v4.unit.pageRequest(DSA, 5, 0x1000n, true, false, false, 7, true, false, 0xabcdn);
    expect((v4.mem.readU64(v4.driver.prq)! >> 9n) & 1n).toBe(0n);
    expect(v4.mem.readU64(v4.driver.prq + 16)).toBe(0n);
  });

  it("v5.13 - v6.9: the response carries PDP and the same private data, and a PDP request without LPIG is answered too", () => {
    const r = withKernel("6.5");
    expect(host(r).unit.pageResponses.map((p) => [p.prgi, p.code, p.privateData])).toEqual([
      [0, QI_RESP_SUCCESS, 0x123456789abcdef0n],
      [1, QI_RESP_SUCCESS, 0x42n],
    ]);
    expect(r.outcomes[2]!.summary).toMatch(/private data 0x123456789abcdef0 echoed\): Success/);
  });

  it("v5.0 - v5.12: PDP set but the data cleared before qi_submit_sync (fixed by 1d421058c815)", () => {
    const r = withKernel("5.10");
    expect(host(r).unit.pageResponses.map((p) => [p.prgi, p.privateData])).toEqual([
      [0, 0n],
      [1, 0n],
    ]);
    expect(r.outcomes[2]!.summary).toMatch(/private data 0x123456789abcdef0 not echoed \(PDP set, data cleared: kernels before 1d421058c815, v5\.13\)/);
  });

  it("v6.10 on: PDP is not read (621b7e54f288): no private data in the response, and a request without LPIG waits for its group", () => {
    const r = withKernel("6.12");
    expect(host(r).unit.pageResponses).toEqual([{ sid: DSA, pasid: 5, prgi: 0, code: QI_RESP_SUCCESS }]);
    expect(r.outcomes[2]!.summary).toMatch(/private data ignored \(PDP not read since v6\.10\)/);
    expect(r.outcomes[4]!.summary).toBe("page requests handled, page group responses queued: 1 request of a group without its last page: held back");
  });

  it("without prq-private-data (a VT-d 4.0 unit): a diagnostic at the step, with the key as the hint", () => {
    const d = parseScenario(`${BASE}${steps}`, "x.passthrough.yaml").diagnostics.filter((x) => x.severity === "error");
    expect(d.map((x) => [x.code, x.message, x.range.line])).toEqual([
      ["invalid-value", "private-data needs a unit with page request private data (VT-d 3.x PDP)", BASE.split("\n").length - 1],
      ["invalid-value", "private-data needs a unit with page request private data (VT-d 3.x PDP)", BASE.split("\n").length + 1],
    ]);
    expect(d[0]!.hint).toMatch(/Add prq-private-data: true to host\.iommu/);
  });
});

/** The DMA rows of a step. */
function dmaRows(r: ReturnType<typeof run>, step: number): number[] {
  const o = r.outcomes[step]!;
  const t = r.machine.trace;
  const out: number[] = [];
  for (let i = o.eventStart; i < o.eventEnd; i++) if (t.kind[i] === EventKind.Dma) out.push(i);
  return out;
}

describe("the device's retry after a Success page response: a DMA trace row of the page-response step", () => {
  const SVA = readFileSync(join(__dirname, "..", "..", "examples", "page-request-sva.passthrough.yaml"), "utf8");

  it("examples/page-request-sva: the page-response step has one row per retried page - the Translation Request's result, with the request's PASID", () => {
    const r = run(SVA);
    const o = r.outcomes[3]!;
    expect(o.summary).toMatch(/Success; the retried Translation Request got HPA (0x[0-9a-f]+)$/);
    const hpa = BigInt(/HPA (0x[0-9a-f]+)$/.exec(o.summary)![1]!);
    const t = r.machine.trace;
    // The step's rows: the page group response descriptor the unit processed (an Invalidate row), and the retry.
    const rows = dmaRows(r, 3);
    expect(rows.length).toBe(1);
    const i = rows[0]!;
    expect(t.kind[i]).toBe(EventKind.Dma);
    expect(t.step[i]).toBe(3);
    expect(t.sid[i]).toBe(DSA);
    expect(t.reason[i]).toBe(0);
    expect((BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!)).toBe(0x7f0000001000n);
    expect((BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!)).toBe(hpa);
    expect(t.flags[i]! & F_WRITE).toBe(F_WRITE);
    expect(o.transactions).toBe(1);
    expect(pasidOfEvent(r, i)).toBe(5);
    expect(new EventTags(r).pasid(i)).toBe(5);
  });

  it("an Invalid Request response has no retry row; each answered group of the overflow example is retried in its page-response step", () => {
    const r = run(SVA);
    const invalid = r.outcomes.find((x) => / Invalid Request; the device gives up/.test(x.summary))!;
    expect(dmaRows(r, invalid.step)).toEqual([]);
    // The overflow example: the 125 answered groups are retried in the page-response step, each a row.
    const ov = run(EXAMPLE);
    const t = ov.machine.trace;
    const rows = dmaRows(ov, 4);
    expect(rows.length).toBe(125);
    for (const i of rows) expect(t.reason[i]).toBe(0);
  });
});

describe("invalidation queue error cause 7: a reserved RTADDR.TTM (VirtualBox VTDIQEI_INVALID_TTM)", () => {
  const TTM = (kernel: string) => `name: ttm
host:
  memory: 16GiB
  kernel: "${kernel}"
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "15b3:1017", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - { name: vm1, memory: 2GiB, devices: ["01:00.0"] }
workload:
  - start: vm1
  - poke: { register: RTADDR, set: 0x800 }
  - invalidate: { granularity: global }
`;

  it("TTM = 10b latched by SRTP: the next submission stops with IQEI 7 and Linux prints 'Reason 7'; the views decode TTM and IQEI", () => {
    const r = run(TTM("6.5"));
    const lines = r.machine.log.lines.map((l) => l.text);
    expect(lines.slice(-4)).toEqual([
      "DMAR: VT-d detected Invalidation Queue Error: Reason 7",
      "DMAR: QI HEAD: IOTLB Invalidation qw0 = 0xd2, qw1 = 0x0",
      expect.stringMatching(/^DMAR: QI PRIOR: Invalidation Wait /),
      "DMAR: Invalidation Queue Error (IQE) cleared",
    ]);
    expect(r.outcomes[2]!.summary).toBe("the unit rejected the descriptor (IQE): invalid RTADDR.TTM 10b (reserved): the unit fetches no descriptor");
    const regs = Object.fromEntries(r.machine.iommu.registers().map((x) => [x.name, Object.fromEntries(x.fields.map((f) => [f.name, f.value]))]));
    expect(regs.RTADDR!.TTM).toBe("2 (reserved)");
    expect(regs.IQER!.IQEI).toBe("7 (invalid RTADDR.TTM)");
    expect(decodeRegister("RTADDR", 3n << 10n)[0]!.value).toBe("3 (abort-DMA mode)");
  });

  it("the unit: nothing pending, no error; IQH stays on the first descriptor", () => {
    const { unit } = bootedUnit();
    unit.writeReg64(0x20, unit.readReg64(0x20) | 0x800n);
    unit.writeReg32(0x18, (unit.readReg32(0x1c) | (1 << 30)) >>> 0);
    expect(unit.ttm).toBe(2);
    expect(Number(unit.readReg64(0xb0) & 0xfn)).toBe(0);
  });

  it("a pre-5.13 kernel prints only the rejected descriptor", () => {
    const lines = run(TTM("5.10")).machine.log.lines.map((l) => l.text);
    expect(lines.at(-1)).toBe("DMAR: VT-d detected invalid descriptor: qw0 = d2, qw1 = 0");
  });
});

describe("rejected page requests by kernel generation (prq_event_thread before and after its v5.14 refactor)", () => {
  const bad = (kernel: string, req: string) => run(`${BASE.replace('kernel: "6.5"', `kernel: "${kernel}"`)}  - page-request: { device: "02:00.0", ${req} }\n  - page-response: { device: "02:00.0" }\n`);
  const tail = (r: ReturnType<typeof run>, n: number) => r.machine.log.lines.map((l) => l.text).slice(-n);

  it("v5.12 / v5.13: one line per rejection, without the unit name for privilege and execute ('Unexpected page request in Privilege Mode'), Invalid Request", () => {
    const priv = bad("5.13", "pasid: 5, address: 0x7f00_0000_3000, write: true, privileged: true");
    expect(tail(priv, 1)).toEqual(["Unexpected page request in Privilege Mode"]);
    expect(host(priv).unit.pageResponses).toEqual([{ sid: DSA, pasid: 5, prgi: 0, code: 1 }]);
    expect(tail(bad("5.12", "pasid: 5, address: 0x7f00_0000_3000, exec: true"), 1)).toEqual(["Execution request not supported"]);
    // A non-canonical address: Invalid Request without a line (goto bad_req).
    const nc = bad("5.13", "pasid: 5, address: 0x8000_0000_0000");
    expect(nc.machine.log.lines.some((l) => /canonical|Invalid page request/.test(l.text))).toBe(false);
    expect(host(nc).unit.pageResponses.map((p) => p.code)).toEqual([1]);
  });

  it("without PASID: '<unit>: Page request without PASID: <qw0> <qw1>' before v5.14; before v5.12 the response is Response Failure", () => {
    const r = bad("5.13", "address: 0x7f00_0000_3000, write: true");
    expect(r.machine.log.lines.map((l) => l.text)).toContain("dmar0: Page request without PASID: 02000001 7f0000003006");
    const old = bad("5.10", "address: 0x7f00_0000_3000, write: true");
    expect(old.outcomes[2]!.summary).toMatch(/rejected \(Page request without PASID\); Response Failure: the device's page request interface halts/);
    // The response (code 0xf in qw0 [15:12]) is refused by the unit like any response without PASID: QI HEAD shows it.
    expect(old.machine.log.lines.map((l) => l.text)).toContain("DMAR: VT-d detected invalid descriptor: qw0 = 200f009, qw1 = 4");
  });

  it("before v5.12 privileged and execute requests are not checked: they reach the fault handler", () => {
    const r = bad("5.10", "pasid: 5, address: 0x7f00_0000_3000, write: true, privileged: true");
    expect(r.machine.log.lines.some((l) => /Privilege/.test(l.text))).toBe(false);
    expect(r.outcomes[2]!.summary).toMatch(/PRG 0 \(PASID 0x5, write 0x7f0000003000\): Success/);
  });
});
