// src/sim/pow2.ts replaces `2 ** n` and `x % 2 ** n` on the SMMUv3 hot path (the TLB's set and page
// number, the walk's table index and output address): against BigInt shifts and masks, for every
// n and integers up to 2^53 - 1, including the edges (0, powers of two and one below them).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { floorPow2, INV_POW2, modPow2, POW2, shrPow2 } from "../../src/sim/pow2.js";

const x53 = fc.oneof(
  fc.maxSafeNat(),
  fc.integer({ min: 0, max: 52 }).map((k) => 2 ** k),
  fc.integer({ min: 1, max: 53 }).map((k) => 2 ** k - 1),
);

describe("pow2 helpers (exact address arithmetic on doubles)", () => {
  it("POW2 and INV_POW2 are the powers of two", () => {
    for (let n = 0; n <= 64; n++) {
      expect(POW2[n]).toBe(Number(1n << BigInt(n)));
      expect(INV_POW2[n]! * POW2[n]!).toBe(1);
    }
  });

  it("shrPow2, floorPow2 and modPow2 equal BigInt's >>, & ~mask and & mask", () => {
    fc.assert(
      fc.property(x53, fc.integer({ min: 0, max: 64 }), (x, n) => {
        const b = BigInt(x);
        const mask = (1n << BigInt(n)) - 1n;
        expect(shrPow2(x, n)).toBe(Number(b >> BigInt(n)));
        expect(floorPow2(x, n)).toBe(Number(b & ~mask));
        expect(modPow2(x, n)).toBe(Number(b & mask));
      }),
      { numRuns: 2000, seed: 0x5eed },
    );
  });
});
