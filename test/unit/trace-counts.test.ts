// The report's trace counts (simulate.ts report.trace: DMA events and faulting ones) come from one
// pass, Trace.dmaCounts: it must count exactly the DMA events and the faulting DMA events, whatever
// the other kinds (interrupts with a fault reason, errors with an errno) around them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventKind, Trace } from "../../src/trace/trace.js";

describe("Trace.dmaCounts", () => {
  it("counts the DMA events and, of them, those with a fault reason; other kinds never count", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ kind: fc.integer({ min: 1, max: 11 }), reason: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 255 })) }), { maxLength: 300 }), (events) => {
        const t = new Trace(8);
        for (const e of events) t.push(e.kind, 0, 0, 0, 0, 0, e.reason, 0, 0, 0, 0);
        const dmaKind: number = EventKind.Dma;
        const dma = events.filter((e) => e.kind === dmaKind);
        expect(t.dmaCounts()).toEqual({ dma: dma.length, faults: dma.filter((e) => e.reason !== 0).length });
        expect(t.countFaults()).toBe(dma.filter((e) => e.reason !== 0).length);
      }),
      { numRuns: 200, seed: 15 },
    );
  });

  it("reads only the events held (length), not the spare capacity", () => {
    const t = new Trace(64);
    t.push(EventKind.Dma, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0);
    t.kind.fill(EventKind.Dma, 1);
    t.reason.fill(6, 1);
    expect(t.dmaCounts()).toEqual({ dma: 1, faults: 1 });
  });
});
