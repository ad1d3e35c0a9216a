// The AMD-Vi IOTLB holds the configured sets x ways entries in all: the guest (v2) translations
// (DomainID + PASID) share the ways and the FIFO victim of the v1 ones, instead of arrays of their
// own that doubled the capacity. A guest entry is invisible to the v1 lookups and invalidations
// (and the other way round), so the translate core's probe never answers with one.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AmdIotlb } from "../../src/sim/amdvi/iotlb.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { runAmd } from "./amdvi-helpers.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-v2-stale-iotlb.passthrough.yaml"), "utf8");

function pair(shared: boolean, sets = 2, ways = 2): { host: AmdIotlb; guest: AmdIotlb } {
  const mem = shared ? new PhysicalMemory({ poolBase: 0x1000_0000, poolMaxPages: 16, dramBytes: 0 }) : undefined;
  const host = new AmdIotlb(sets, ways, mem);
  return { host, guest: AmdIotlb.guestView(host) };
}

describe("AMD-Vi IOTLB capacity: v1 and guest (v2) entries share the configured ways", () => {
  for (const shared of [false, true]) {
    it(`a set holds \`ways\` entries of both kinds together (${shared ? "arrays in the core's SRAM arena" : "own arrays"})`, () => {
      const { host, guest } = pair(shared, 1, 2);
      host.fill(1, 0x10, 0, 0x1000, 0, 3, 12);
      guest.fill(1, 0x11, 0, 0x2000, 0, 3, 12, 0);
      expect(host.entries().length + guest.entries().length).toBe(2);
      // A third fill takes the oldest way (FIFO across both kinds): the v1 entry goes.
      guest.fill(1, 0x12, 0, 0x3000, 0, 3, 12, 5);
      expect(host.entries()).toEqual([]);
      expect(guest.entries().map((e) => [e.did, e.pasid, e.iova])).toEqual([
        [1, 5, 0x12000n],
        [1, 0, 0x11000n],
      ]);
      // And a v1 fill takes the guest entry's way, which then reads as a v1 entry without PASID.
      host.fill(1, 0x13, 0, 0x4000, 0, 1, 12);
      expect(host.entries().map((e) => [e.did, e.pasid, e.iova])).toEqual([[1, -1, 0x13000n]]);
      expect(guest.entries().map((e) => e.pasid)).toEqual([5]);
    });
  }

  it("the same domain and page: a v1 lookup never hits a guest entry, a guest lookup never a v1 one; invalidations stay on their side", () => {
    const { host, guest } = pair(true);
    guest.fill(4, 0x20, 0, 0x5000, 0, 3, 12, 0);
    expect(host.lookup(4, 0x20, 0)).toBe(false);
    expect(guest.lookup(4, 0x20, 0, 0)).toBe(true);
    host.fill(4, 0x22, 0, 0x6000, 0, 3, 12);
    expect(guest.lookup(4, 0x22, 0, 0)).toBe(false);
    expect(guest.lookup(4, 0x22, 0, -1)).toBe(false);
    expect(host.invalidate(-1, 0n, (1n << 64n) - 1n)).toBe(1);
    expect(guest.entries().length).toBe(1);
    expect(guest.invalidate(4, 0n, (1n << 64n) - 1n, 0)).toBe(1);
  });

  it("property: after any fills of either kind, the entries of both fit in sets x ways, and each lookup of the last fill hits", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ g: fc.boolean(), did: fc.integer({ min: 0, max: 3 }), vpn: fc.integer({ min: 0, max: 15 }), pasid: fc.integer({ min: 0, max: 2 }) }), { maxLength: 40 }), fc.boolean(), (fills, shared) => {
        const { host, guest } = pair(shared, 4, 2);
        for (const f of fills) {
          if (f.g) guest.fill(f.did, f.vpn, 0, f.vpn << 12, 0, 3, 12, f.pasid);
          else host.fill(f.did, f.vpn, 0, f.vpn << 12, 0, 3, 12);
          expect(f.g ? guest.lookup(f.did, f.vpn, 0, f.pasid) : host.lookup(f.did, f.vpn, 0)).toBe(true);
          expect(host.entries().length + guest.entries().length).toBeLessThanOrEqual(8);
        }
      }),
      { numRuns: 200, seed: 0x17 },
    );
  });

  it("a v2 DMA domain's host: Mapping Tables gives the configured capacity, not twice it", () => {
    const text = EXAMPLE.replace("iommu: { model: amd-vi, address-width: 48 }", "iommu: { model: amd-vi, address-width: 48, iotlb: { sets: 16, ways: 2 } }");
    const r = runAmd(text);
    expect(r.machine.iommu.tables().iotlb.capacity).toBe(32);
  });
});
