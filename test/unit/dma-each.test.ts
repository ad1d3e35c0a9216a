// translateEach (src/sim/dma.ts): the one per-transaction loop of every host IOMMU's hot path
// (VT-d, AMD-Vi and SMMUv3 translateRun call it). Pins its rules on a scripted unit: the trace
// row of each transaction, the tally's first-transaction and first-fault fields (whatever the
// runs a step cuts the transfer into), and the bytes of a transaction (its part of a 4 KiB page).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DmaTally, dmaTransfer, transactionBytes, translateEach, type DmaTransfer, type DmaUnit } from "../../src/sim/dma.js";
import { EventKind, F_CC_HIT, F_IOTLB_HIT, F_WRITE, Trace } from "../../src/trace/trace.js";

/** A unit whose answer to each request is scripted by the IOVA's page number. */
class ScriptedUnit implements DmaUnit {
  did = 0;
  iotlbHit = false;
  ccHit = false;
  fate = 0;
  xlateKind = 0;
  leafLevel = 0;
  hpaHi = 0;
  hpaLo = 0;
  readonly seen: number[] = [];
  constructor(private readonly answer: (page: number) => { code: number; hit?: boolean; fate?: number; interrupt?: boolean }) {}
  dmaRequest(_x: DmaTransfer, t: number, _to: number, iovaHi: number, iovaLo: number): number {
    this.seen.push(t);
    const page = iovaHi * 2 ** 20 + Math.floor(iovaLo / 4096);
    const a = this.answer(page);
    this.did = 7;
    this.iotlbHit = a.hit ?? false;
    this.ccHit = true;
    this.fate = a.fate ?? 0;
    this.xlateKind = a.interrupt ? 3 : 2;
    this.leafLevel = a.code === 0 ? 1 : 0;
    // A garbage output address on faults: translateEach must not record it.
    this.hpaHi = a.code === 0 ? iovaHi + 1 : 0xdead;
    this.hpaLo = (iovaLo + 0x80000000) >>> 0;
    return a.code;
  }
}

function run(unit: DmaUnit, x: DmaTransfer, cuts: number[]): { trace: Trace; tally: DmaTally } {
  const trace = new Trace(4);
  const tally = new DmaTally();
  const total = x.pages * x.repeat;
  let from = 0;
  for (const c of [...cuts, total]) {
    const to = Math.min(total, Math.max(from, c));
    translateEach(unit, x, from, to, trace, 3, tally);
    from = to;
  }
  return { trace, tally };
}

describe("translateEach: the hot path's per-transaction rules", () => {
  it("writes one trace row per transaction: IOVA pages in order, output address only when translated", () => {
    // 0x1ffff_f800, 0x2000 bytes: pages 0x1fffff (carry into the high half), 0x200000, 0x200001.
    const x = dmaTransfer(0x0300, 0x1_ffff_f800n, 0x2000n, true, 1);
    const unit = new ScriptedUnit((page) => ({ code: page === 0x200000 ? 6 : 0, fate: page === 0x200000 ? 1 : 0, hit: page === 0x200001 }));
    const { trace, tally } = run(unit, x, []);
    expect(trace.length).toBe(3);
    const rows = [0, 1, 2].map((i) => trace.row(i));
    expect(rows.map((r) => r.a)).toEqual([0x1_ffff_f800n, 0x2_0000_0000n, 0x2_0000_1000n]);
    expect(rows.map((r) => r.reason)).toEqual([0, 6, 0]);
    expect(rows[1]!.b).toBe(0n);
    expect(rows[0]!.b).toBe(0x2_7fff_f800n);
    expect(rows.every((r) => r.kind === EventKind.Dma && r.step === 3 && r.sid === 0x0300 && r.did === 7)).toBe(true);
    expect(rows[2]!.flags & (F_WRITE | F_IOTLB_HIT | F_CC_HIT)).toBe(F_WRITE | F_IOTLB_HIT | F_CC_HIT);
    expect((rows[1]!.flags >> 3) & 7).toBe(1);
    expect(rows.map((r) => r.level)).toEqual([1, 0, 1]);
    expect(tally).toMatchObject({ transactions: 3, faults: 1, firstFault: 6, firstRecorded: true, iotlbHits: 1, started: true, firstOk: true, firstHpaHi: 2 });
    // Bytes: 0x800 of the first page and 0x800 of the last; the faulting page's 0x1000 do not count.
    expect(tally.bytes).toBe(0x1000);
  });

  it("records a write the unit took as an interrupt request as an Interrupt event", () => {
    const x = dmaTransfer(1, 0xfee0_0000n, 4n, true, 1);
    const { trace } = run(new ScriptedUnit(() => ({ code: 0, interrupt: true })), x, []);
    expect(trace.row(0).kind).toBe(EventKind.Interrupt);
    expect((trace.row(0).flags >> 6) & 3).toBe(3);
  });

  it("keeps the first fault of the step, not of a later run, and whether it was recorded", () => {
    const x = dmaTransfer(1, 0x4000n, 0x4000n, false, 2);
    const unit = new ScriptedUnit((page) => ({ code: page >= 5 ? 0x20 + page : 0, fate: page === 5 ? 2 : 1 }));
    const { tally } = run(unit, x, [1, 2, 6]);
    expect(tally).toMatchObject({ transactions: 8, faults: 6, firstFault: 0x25, firstRecorded: false, firstOk: true });
  });

  it("sums the transfer's bytes and counts, whatever runs the step cuts it into (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          page: fc.integer({ min: 0, max: 0xfffff }),
          offset: fc.integer({ min: 0, max: 0xfff }),
          length: fc.integer({ min: 1, max: 40_000 }),
          repeat: fc.integer({ min: 1, max: 3 }),
          faulty: fc.integer({ min: 0, max: 7 }),
          cuts: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 5 }),
        }),
        ({ page, offset, length, repeat, faulty, cuts }) => {
          const x = dmaTransfer(2, BigInt(page) * 4096n + BigInt(offset), BigInt(length), true, repeat);
          // Pages whose number is faulty mod 8 fault; the rest translate.
          const unit = new ScriptedUnit((pg) => ({ code: pg % 8 === faulty ? 5 : 0, hit: pg % 2 === 0 }));
          const whole = run(unit, x, []);
          const split = run(new ScriptedUnit((pg) => ({ code: pg % 8 === faulty ? 5 : 0, hit: pg % 2 === 0 })), x, [...cuts].sort((a, b) => a - b));
          expect(split.tally).toEqual(whole.tally);
          expect(Array.from(split.trace.aLo.subarray(0, split.trace.length))).toEqual(Array.from(whole.trace.aLo.subarray(0, whole.trace.length)));
          expect(whole.tally.transactions).toBe(x.pages * repeat);
          expect(unit.seen).toEqual([...Array(x.pages * repeat).keys()]);
          // Every byte of the transfer is in exactly one transaction.
          let sum = 0;
          for (let p = 0; p < x.pages; p++) sum += transactionBytes(x, p);
          expect(sum).toBe(length);
          let ok = 0;
          for (let i = 0; i < whole.trace.length; i++) if (whole.trace.reason[i] === 0) ok += transactionBytes(x, i % x.pages);
          expect(whole.tally.bytes).toBe(ok);
        },
      ),
      { numRuns: 200 },
    );
  });
});
