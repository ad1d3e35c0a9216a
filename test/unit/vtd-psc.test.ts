// VT-d second-level paging-structure caches (VT-d spec 6.2.4; src/sim/vtd/psc.ts): the walk starts
// below the deepest cached non-leaf entry; IOTLB invalidations drop them by granularity, a
// page-selective one only with IH = 0, so a page table freed behind an IH = 1 flush stays
// reachable (examples/stale-paging-structure-cache). Off unless a scenario asks for it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { PagingStructureCache } from "../../src/sim/vtd/psc.js";
import { SlptWalker } from "../../src/sim/vtd/slpt.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "stale-paging-structure-cache.passthrough.yaml"), "utf8");
const SID = 0x400;

function run(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
}
const failures = (r: ReturnType<typeof run>) => r.outcomes.flatMap((o) => o.expect?.failures ?? []);
/** The example up to (not including) the line that starts with `marker`. */
const upTo = (marker: string) => EXAMPLE.slice(0, EXAMPLE.indexOf(marker));

describe("PagingStructureCache", () => {
  it("answers the deepest cached level of the tag, and only for IOVAs of the entry's region", () => {
    const c = new PagingStructureCache(8);
    c.fill(1, 4, 0, 0x20_0000, 0x1000, 3, 0x100);
    c.fill(1, 3, 0, 0x20_0000, 0x2000, 3, 0x1000);
    c.fill(1, 2, 0, 0x20_0000, 0x3000, 1, 0x2008);
    expect(c.lookup(1, 4, 0, 0x3f_ffff)).toBe(2);
    expect([c.hitTable, c.hitPerm, c.hitAddress]).toEqual([0x3000, 1, 0x2008]);
    // The next 2 MiB: only the SL-PDPE (1 GiB) and SL-PML4E regions cover it.
    expect(c.lookup(1, 4, 0, 0x40_0000)).toBe(3);
    expect(c.lookup(2, 4, 0, 0x20_0000)).toBe(0);
    // A 3-level table never uses a level-4 entry.
    expect(c.lookup(1, 3, 0, 0x40_0000)).toBe(3);
    // IH = 0 over 0x20_0000-0x3f_ffff: every entry used to translate the range goes, other regions' stay.
    c.fill(1, 2, 0, 0x40_0000, 0x4000, 3, 0x2010);
    c.invalidatePages(1, 0x20_0000n, 9);
    expect(c.entries().map((e) => [e.level, e.iova])).toEqual([[2, 0x40_0000n]]);
    expect(c.lookup(1, 4, 0, 0x20_0000)).toBe(0);
  });

  it("fifo evicts the oldest fill, lru the least recently used", () => {
    const fill3 = (c: PagingStructureCache) => {
      for (let i = 0; i < 3; i++) c.fill(1, 2, 0, i << 21, 0x1000 * (i + 1), 3, 8 * i);
    };
    const fifo = new PagingStructureCache(3, "fifo");
    const lru = new PagingStructureCache(3, "lru");
    fill3(fifo);
    fill3(lru);
    // Region 0 used again, then a fourth region comes in.
    expect(fifo.lookup(1, 4, 0, 0)).toBe(2);
    expect(lru.lookup(1, 4, 0, 0)).toBe(2);
    fifo.fill(1, 2, 0, 3 << 21, 0x9000, 3, 0);
    lru.fill(1, 2, 0, 3 << 21, 0x9000, 3, 0);
    expect(fifo.entries().map((e) => Number(e.iova >> 21n))).toEqual([1, 2, 3]);
    expect(lru.entries().map((e) => Number(e.iova >> 21n))).toEqual([0, 2, 3]);
  });

  it("a walker with the caches gives the walker's answers on unchanged tables (random tables, 3/4/5 levels)", () => {
    const BASE = 0x1000_0000;
    fc.assert(
      fc.property(
        fc.constantFrom(39, 48, 57),
        fc.array(fc.tuple(fc.nat(7), fc.constantFrom(0n, 1n, 2n, 3n, 3n, 3n, 0x83n, 0x803n), fc.nat(7), fc.nat(3)), { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.bigInt({ min: 0n, max: (1n << 39n) - 1n }), fc.boolean()), { minLength: 1, maxLength: 24 }),
        fc.constantFrom<"fifo" | "lru">("fifo", "lru"),
        (haw, writes, reqs, replacement) => {
          const levels = haw === 39 ? 3 : haw === 48 ? 4 : 5;
          const mem = new PhysicalMemory({ poolBase: BASE, poolMaxPages: 16, dramBytes: 0 });
          for (let i = 0; i < 8; i++) mem.allocPage();
          writes.forEach(([page, bits, target, which], n) => {
            const iova = reqs[(n + which) % reqs.length]![0];
            const level = levels - (n % levels);
            const at = BASE + page * 4096 + Number((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8;
            mem.writeU64(at, BigInt(BASE + target * 4096) | bits);
          });
          const fmt = { haw, deviceTlb: false, snoopControl: false, superpage2M: true, superpage1G: true };
          const plain = new SlptWalker(mem, fmt);
          const cached = new SlptWalker(mem, fmt);
          cached.psc = new PagingStructureCache(4, replacement);
          // Twice over: the second round walks from what the first cached.
          for (const [iova, write] of [...reqs, ...reqs]) {
            const hi = Number(iova >> 32n);
            const lo = Number(iova & 0xffffffffn);
            for (const scalable of [false, true]) {
              const a = plain.walk(BASE, levels, hi, lo, write, scalable);
              const b = cached.walkTagged(7, true, BASE, levels, hi, lo, write, scalable);
              expect([b, cached.level, b === 0 ? [cached.hpaHi, cached.hpaLo, cached.perm] : []]).toEqual([a, plain.level, a === 0 ? [plain.hpaHi, plain.hpaLo, plain.perm] : []]);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("VT-d unit with paging-structure caches", () => {
  it("the example's expectations hold: the stale SL-PDE translates after IH = 1, IH = 0 ends it", () => {
    expect(failures(run(EXAMPLE))).toEqual([]);
  });

  it("without the caches (QEMU's model) the same DMA after the IH = 1 flush faults at the cleared SL-PDE", () => {
    const text = EXAMPLE.replace(", paging-structure-cache: { entries: 16, replacement: fifo }", "").replace("expect: { ok: true, iotlb: miss, hpa: 0x5_8620_1000 }", "expect: { fault: 0x05 }");
    expect(failures(run(text))).toEqual([]);
  });

  it("a domain-selective or global invalidation drops the cached entries whatever IH says; entries: 0 is no cache", () => {
    for (const inv of ["{ granularity: domain, domain: 3 }", "{ granularity: global }"]) {
      const text = EXAMPLE.replace("{ granularity: page, domain: 3, iova: 0x20_0000, am: 9, ih: true }", inv).replace("expect: { ok: true, iotlb: miss, hpa: 0x5_8620_1000 }", "expect: { fault: 0x05 }");
      expect(failures(run(text))).toEqual([]);
    }
    const off = EXAMPLE.replace("entries: 16", "entries: 0").replace("expect: { ok: true, iotlb: miss, hpa: 0x5_8620_1000 }", "expect: { fault: 0x05 }");
    const r = run(off);
    expect(failures(r)).toEqual([]);
    expect(r.machine.iommu.tables().pagingStructureCache).toBeUndefined();
  });

  it("a page-selective IH = 0 flush of another 2 MiB region keeps the SL-PDE", () => {
    const text = EXAMPLE.replace("iova: 0x20_0000, am: 9, ih: false", "iova: 0x40_0000, am: 9, ih: false").replace("expect: { fault: 0x05 }", "expect: { ok: true, iotlb: hit }");
    expect(failures(run(text))).toEqual([]);
  });

  it("Mapping Tables lists the cached SL-PML4E, SL-PDPE and SL-PDE; the SL-PDE is stale after the poke", () => {
    const before = run(upTo("  # The SL-PT goes away")).machine.iommu.tables().pagingStructureCache!;
    expect(before).toMatchObject({ capacity: 16, replacement: "fifo" });
    expect(before.entries().map((e) => [e.name, e.did, e.iova, e.span, e.perm, e.stale])).toEqual([
      ["SL-PDE", 3, 0x20_0000n, 2n << 20n, 3, false],
      ["SL-PDPE", 3, 0n, 1n << 30n, 3, false],
      ["SL-PML4E", 3, 0n, 512n << 30n, 3, false],
    ]);
    const after = run(upTo("  # Not in the IOTLB")).machine.iommu.tables().pagingStructureCache!.entries();
    expect(after.map((e) => [e.name, e.stale])).toEqual([["SL-PDE", true], ["SL-PDPE", false], ["SL-PML4E", false]]);
  });

  it("explain: a walk from a stale SL-PDE is marked stale, with the walk the tables give now; a current one is not", () => {
    const stale = run(upTo("  # Not in the IOTLB")).machine.iommu.explain({ sid: SID, iova: 0x20_1000n, write: true });
    expect(stale.verdict).toMatchObject({ kind: "translated", cached: false });
    expect(stale.stale).toBe(true);
    // The trail is what the tables give now: the cleared SL-PDE.
    expect(stale.trail.entries.at(-1)).toMatchObject({ name: "SL-PDE", raw: [0n] });
    const fresh = run(upTo("  # The SL-PT goes away")).machine.iommu.explain({ sid: SID, iova: 0x20_1000n, write: true });
    expect(fresh.stale).toBe(false);
    expect(fresh.trail.entries.filter((e) => e.kind === "pte").map((e) => e.name)).toEqual(["SL-PML4E", "SL-PDPE", "SL-PDE", "SL-PTE"]);
  });

  it("a checkpoint keeps the caches: the unit's snapshot restores them", () => {
    const r = run(upTo("  # The SL-PT goes away"));
    const unit = (r.machine.hostIommu as VtdHost).unit;
    const snap = unit.snapshot();
    unit.walker.psc!.invalidateAll();
    unit.restore(snap);
    expect(unit.walker.psc!.entries().map((e) => e.level)).toEqual([2, 3, 4]);
  });

  it("scalable mode: a second-level PASID's entries are tagged with its (DID, PASID); a domain-selective IOTLB invalidation drops them", () => {
    const sm = readFileSync(join(__dirname, "..", "..", "examples", "second-level-dirty-tracking.passthrough.yaml"), "utf8")
      .replace("scalable: true, slads: true", "scalable: true, slads: true, paging-structure-cache: { entries: 4, replacement: lru }")
      .replace("      dirty-tracking: true\n", "")
      .replace(/  - dma:[\s\S]*$/, '  - dma: { device: "02:00.0", pasid: 9, iova: 0x1000_1000, length: 4KiB }\n    expect: { ok: true, iotlb: miss }\n');
    const r = run(sm);
    expect(failures(r)).toEqual([]);
    const psc = r.machine.iommu.tables().pagingStructureCache!;
    expect(psc).toMatchObject({ capacity: 4, replacement: "lru" });
    expect(psc.entries().map((e) => [e.name, e.did, e.pasid, e.iova])).toEqual([
      ["SL-PDE", 3, 9, 0x1000_0000n],
      ["SL-PDPE", 3, 9, 0n],
      ["SL-PML4E", 3, 9, 0n],
    ]);
    const dropped = run(sm + "  - invalidate: { granularity: domain, domain: 3 }\n");
    expect(dropped.machine.iommu.tables().pagingStructureCache!.entries()).toEqual([]);
  });

  it("bad input: entries out of range and an unknown replacement are diagnosed", () => {
    const errors = (text: string) => parseScenario(text, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errors(EXAMPLE.replace("entries: 16", "entries: 2000")).length).toBe(1);
    expect(errors(EXAMPLE.replace("replacement: fifo", "replacement: random")).length).toBe(1);
  });
});
