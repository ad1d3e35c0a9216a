// Property: DmarUnit.translateRun hands a DMA step's transactions to the translate core in bursts
// (the hot path); every transaction must come out exactly as one translate() per transaction
// answers it - the same trace rows (kind, domain, flags, level, reason, addresses), tally,
// counters, fault recording registers (compression, overflow) and IOTLB contents - with
// faults, superpages, pages mapped into the interrupt window (fault 0x0E, never cached),
// interrupt requests, runs cut where the step polls, and every IOTLB geometry.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bootedUnit } from "./helpers.js";
import { DmaTally, dmaTransfer, type DmarUnit } from "../../src/sim/vtd/unit.js";
import { Trace } from "../../src/trace/trace.js";

const RID = 0x0300;
const PAGE = 0x1000n;
const BASE = 0x1000_0000n;

const mapArb = fc.array(
  fc.record({ prot: fc.constantFrom(0, 1, 2, 3, 3, 3), window: fc.integer({ min: 0, max: 15 }) }),
  { minLength: 64, maxLength: 64 },
);

const transferArb = fc.record({
  /** 0: the mapped window; 1: writes that cross into 0xFEE00000 (interrupt requests). */
  place: fc.constantFrom(0, 0, 0, 0, 1),
  page: fc.integer({ min: 0, max: 63 }),
  offset: fc.constantFrom(0, 0, 0x123, 0xfff),
  pages: fc.integer({ min: 1, max: 24 }),
  write: fc.boolean(),
  repeat: fc.integer({ min: 1, max: 3 }),
  /** Where the step polls: runs of this many transactions. */
  cut: fc.constantFrom(1, 2, 7, 64, 600),
  service: fc.boolean(),
});

function rows(t: Trace): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < t.length; i++) out.push([t.kind[i]!, t.step[i]!, t.sid[i]!, t.did[i]!, t.flags[i]!, t.level[i]!, t.reason[i]!, t.aHi[i]!, t.aLo[i]!, t.bHi[i]!, t.bLo[i]!]);
  return out;
}

function records(u: DmarUnit): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < u.nfr; i++) out.push(u.readRecord(i) ?? null);
  return out;
}

describe("DmarUnit.translateRun (bursts through the translate core)", () => {
  it("answers every transaction as one translate() per transaction does", () => {
    fc.assert(
      fc.property(
        mapArb,
        fc.boolean(),
        fc.array(transferArb, { minLength: 1, maxLength: 8 }),
        fc.constantFrom([16, 4], [8, 2], [4, 1], [64, 4]),
        fc.integer({ min: 1, max: 4 }),
        (pages, superpage, transfers, [sets, ways], faultRecords) => {
          const run = (bursts: boolean) => {
            const { unit, driver } = bootedUnit({ iotlbSets: sets, iotlbWays: ways, faultRecords });
            unit.runBursts = bursts;
            const d = driver.allocDomain();
            driver.attach(d, [RID]);
            pages.forEach((pg, k) => {
              if (pg.prot === 0) return;
              // Window 0 puts the page into the interrupt window (0xFEE00000 + k pages): fault 0x0E.
              const hpa = pg.window === 0 ? 0xfee0_0000n + BigInt(k) * PAGE : 0x2_0000_0000n + BigInt(pg.window * 64 + k) * PAGE;
              driver.map(d, BASE + BigInt(k) * PAGE, hpa, PAGE, pg.prot);
            });
            // A read-only 2 MiB superpage beyond the window.
            if (superpage) driver.map(d, 0x4000_0000n, 0x3_0000_0000n, 0x20_0000n, 1);
            const trace = new Trace(64);
            const tallies: DmaTally[] = [];
            transfers.forEach((x, step) => {
              const iova = x.place === 1 ? 0xfee0_0000n - 2n * PAGE + BigInt(x.offset) : x.page === 63 && superpage ? 0x4000_0000n + BigInt(x.offset) : BASE + BigInt(x.page) * PAGE + BigInt(x.offset);
              const dt = dmaTransfer(RID, iova, BigInt(x.pages) * PAGE - BigInt(x.offset), x.write, x.repeat);
              const tally = new DmaTally();
              const total = dt.pages * dt.repeat;
              for (let t = 0; t < total; t += x.cut) unit.translateRun(dt, t, Math.min(total, t + x.cut), trace, step, tally);
              tallies.push(tally);
              if (x.service) driver.serviceFaults();
            });
            return { rows: rows(trace), tallies, counters: { ...unit.counters }, records: records(unit), iotlb: unit.iotlb.entries(), last: [unit.level, unit.iotlbHit, unit.fate] };
          };
          expect(run(true)).toEqual(run(false));
        },
      ),
      { numRuns: 150 },
    );
  });
});
