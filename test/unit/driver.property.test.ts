// Property: whatever sequence of map/unmap the host driver performs (superpages included), the
// DMAR unit translates exactly what a plain page -> (hpa, perm) model says, and the IOTLB never
// serves a translation the model no longer has (the driver's flushes are sufficient).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bootedUnit, split } from "./helpers.js";

const PAGE = 0x1000n;
const RID = 0x0300;

type Op = { kind: "map"; slot: number; pages: number; hpaSlot: number; prot: number } | { kind: "unmap"; slot: number; pages: number } | { kind: "dma"; slot: number; off: number; write: boolean };

// IOVA slots are 2 MiB apart so superpage mappings (512 pages) can occur when aligned.
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("map" as const), slot: fc.integer({ min: 0, max: 3 }), pages: fc.constantFrom(1, 2, 3, 16, 512, 1024), hpaSlot: fc.integer({ min: 0, max: 63 }), prot: fc.constantFrom(1, 2, 3) }),
  fc.record({ kind: fc.constant("unmap" as const), slot: fc.integer({ min: 0, max: 3 }), pages: fc.constantFrom(1, 2, 512, 1024) }),
  fc.record({ kind: fc.constant("dma" as const), slot: fc.integer({ min: 0, max: 3 }), off: fc.constantFrom(0, 0, 0, 1, 2, 511, 512, 1023), write: fc.boolean() }),
);

describe("intel-iommu driver + DMAR unit", () => {
  it("translate agrees with a page model after any map/unmap sequence", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 8, maxLength: 60, size: "max" }), fc.boolean(), (ops, cachingMode) => {
        const { unit, driver } = bootedUnit({ cachingMode });
        const d = driver.allocDomain();
        driver.attach(d, [RID]);
        const model = new Map<bigint, { hpa: bigint; prot: number }>();
        for (const op of ops) {
          const base = BigInt(op.slot) * 0x200000n;
          if (op.kind === "map") {
            const pages = BigInt(op.pages);
            // Like VFIO: never map over an existing mapping.
            let free = true;
            for (let i = 0n; i < pages; i++) if (model.has(base / PAGE + i)) free = false;
            if (!free) continue;
            const hpa = 0x1_0000_0000n + BigInt(op.hpaSlot) * 0x200000n;
            driver.map(d, base, hpa, pages * PAGE, op.prot);
            for (let i = 0n; i < pages; i++) model.set(base / PAGE + i, { hpa: hpa + i * PAGE, prot: op.prot });
          } else if (op.kind === "unmap") {
            // Unmap whole mappings only, as type1 does: find the extent the driver will clear.
            const pages = BigInt(op.pages);
            let all = true;
            for (let i = 0n; i < pages; i++) if (!model.has(base / PAGE + i)) all = false;
            if (!all) continue;
            const bytes = driver.unmap(d, base, pages * PAGE);
            for (let i = 0n; i < bytes / PAGE; i++) model.delete(base / PAGE + i);
          } else {
            const iova = base + BigInt(op.off) * PAGE + 0x123n;
            const [hi, lo] = split(iova);
            const r = unit.translate(RID, hi, lo, op.write);
            const m = model.get(iova / PAGE);
            const need = op.write ? 2 : 1;
            if (m === undefined || (m.prot & need) === 0) {
              expect(r, `0x${iova.toString(16)}`).toBe(op.write ? 0x05 : 0x06);
            } else {
              expect(r, `0x${iova.toString(16)}`).toBe(0);
              expect((BigInt(unit.hpaHi) << 32n) | BigInt(unit.hpaLo)).toBe(m.hpa + 0x123n);
            }
            driver.serviceFaults();
          }
        }
      }),
      // The first example is the stale-IOTLB case spelled out.
      { numRuns: 300, examples: [[[{ kind: "map", slot: 1, pages: 1, hpaSlot: 0, prot: 3 }, { kind: "dma", slot: 1, off: 0, write: false }, { kind: "unmap", slot: 1, pages: 1 }, { kind: "dma", slot: 1, off: 0, write: false }], false]] },
    );
  });
});
