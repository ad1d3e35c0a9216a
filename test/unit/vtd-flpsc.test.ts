// VT-d first-level / nested paging-structure caches (VT-d spec 6.2.4; src/sim/vtd/flpt.ts over
// psc.ts): a first-level walk starts below the deepest cached FL-PML5E ... FL-PDE of the PASID; a
// nested entry holds the host-physical address of the next first-level table (after the second
// level). PASID-based IOTLB invalidations drop them (page-selective only with IH = 0), a global
// one too; a freed first-level table behind an IH = 1 flush stays reachable
// (examples/stale-nested-paging-structure-cache). Off unless a scenario asks for it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runScenario } from "../../src/sim/run.js";
import { PGTT_FL, PGTT_NESTED } from "../../src/sim/vtd/scalable.js";
import { IOTLB_DSI, IOTLB_GLOBAL, PC_PASID, PIOTLB_PASID, PIOTLB_PSI } from "../../src/sim/vtd/qi.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";
import type { DmarUnit } from "../../src/sim/vtd/unit.js";
import { bootedUnit, loadScenario, split } from "./helpers.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "stale-nested-paging-structure-cache.passthrough.yaml"), "utf8");
const STALE_OK = "expect: { ok: true, iotlb: miss, hpa: 0x6_3254_6000 }";

const run = (text: string) => runScenario(loadScenario(text)).run!;
/** The expectations that failed, over all steps. */
const failures = (r: ReturnType<typeof run>) => r.outcomes.flatMap((o) => o.expect?.failures ?? []);
/** The example up to (not including) the line that starts with `marker`. */
const upTo = (marker: string) => EXAMPLE.slice(0, EXAMPLE.indexOf(marker));
const unitOf = (r: ReturnType<typeof run>) => (r.machine.hostIommu as VtdHost).unit;

describe("first-level / nested paging-structure caches in a scenario", () => {
  it("the example's expectations hold: the stale nested FL-PDE translates after IH = 1, IH = 0 ends it", () => {
    const r = run(EXAMPLE);
    expect(failures(r)).toEqual([]);
    // The invalidate steps count the paging-structure-cache entries they dropped.
    expect(r.outcomes.filter((o) => o.summary.startsWith("pasid-page")).map((o) => o.summary)).toEqual([
      "pasid-page invalidation: 1 IOTLB entry and 0 paging-structure-cache entries dropped",
      "pasid-page invalidation: 1 IOTLB entry and 3 paging-structure-cache entries dropped",
    ]);
  });

  it("without the caches (QEMU's model) the DMA after the IH = 1 flush faults at the cleared FL-PDE, and summaries name IOTLB entries only", () => {
    const r = run(EXAMPLE.replace(", paging-structure-cache: { entries: 16, replacement: lru }", "").replace(STALE_OK, "expect: { fault: 0x71 }"));
    expect(failures(r)).toEqual([]);
    expect(r.outcomes.filter((o) => o.summary.startsWith("pasid-page")).map((o) => o.summary)).toEqual(["pasid-page invalidation: 1 IOTLB entry dropped", "pasid-page invalidation: 0 IOTLB entries dropped"]);
    expect(r.machine.iommu.tables().firstLevelPagingStructureCache).toBeUndefined();
  });

  it("a PASID-selective, global or (nested PASID) domain-selective IOTLB invalidation drops them whatever IH says; a PASID-cache one does not", () => {
    const ih1 = "{ granularity: pasid-page, domain: 5, pasid: 9, iova: 0x4000_0000, am: 9, ih: true }";
    for (const inv of ["{ granularity: pasid, domain: 5, pasid: 9 }", "{ granularity: global }"]) {
      expect(failures(run(EXAMPLE.replace(ih1, inv).replace(STALE_OK, "expect: { fault: 0x71 }")))).toEqual([]);
    }
    // The IOTLB descriptor of the nested domain's DID drops them too: nested entries hold the second
    // level's output, and Linux flushes a nesting parent's changes with that descriptor (cache.c,
    // CACHE_TAG_NESTING_IOTLB).
    expect(failures(run(EXAMPLE.replace(ih1, `${ih1}\n  - invalidate: { granularity: domain, domain: 5 }`).replace(STALE_OK, "expect: { fault: 0x71 }")))).toEqual([]);
    // PASID-cache invalidation (VT-d 6.5.2.2) keeps them: only the leaf went (the IH = 1 flush), the
    // walk starts at the cached FL-PDE.
    expect(failures(run(EXAMPLE.replace(ih1, `${ih1}\n  - invalidate: { granularity: pasid-cache, domain: 5, pasid: 9 }`)))).toEqual([]);
  });

  it("a page-selective IH = 0 flush of another 2 MiB region keeps the FL-PDE (and drops the FL-PDPE and FL-PML4E above both)", () => {
    const r = run(EXAMPLE.replace("iova: 0x4000_0000, am: 9, ih: false", "iova: 0x4020_0000, am: 9, ih: false").replace("expect: { fault: 0x71 }", "expect: { ok: true, iotlb: hit }"));
    expect(failures(r)).toEqual([]);
    expect(r.machine.iommu.tables().firstLevelPagingStructureCache!.entries().map((e) => e.name)).toEqual(["FL-PDE (nested)"]);
  });

  it("Mapping Tables lists the nested FL-PML4E, FL-PDPE and FL-PDE with host-physical tables; the FL-PDE is stale after the poke", () => {
    const before = run(upTo("  # The guest frees the FL-PT")).machine.iommu.tables().firstLevelPagingStructureCache!;
    expect(before).toMatchObject({ capacity: 16, replacement: "lru" });
    const e = before.entries();
    expect(e.map((x) => [x.name, x.did, x.pasid, x.iova, x.span, x.perm, x.stale])).toEqual([
      ["FL-PDE (nested)", 5, 9, 0x4000_0000n, 2n << 20n, 3, false],
      ["FL-PDPE (nested)", 5, 9, 0x4000_0000n, 1n << 30n, 3, false],
      ["FL-PML4E (nested)", 5, 9, 0n, 512n << 30n, 3, false],
    ]);
    // Each entry leads to the host-physical table the next one was read from (not the GPA in the entry).
    const page = (a: bigint) => a & ~0xfffn;
    expect(e[2]!.table).toBe(page(e[1]!.address));
    expect(e[1]!.table).toBe(page(e[0]!.address));
    const raw = (r: ReturnType<typeof run>, a: bigint) => unitOf(r).mem.readU64(Number(a))!;
    const rb = run(upTo("  # The guest frees the FL-PT"));
    expect(page(raw(rb, e[1]!.address) & 0xf_ffff_ffff_f000n)).not.toBe(e[1]!.table);
    const after = run(upTo("  # Not in the IOTLB")).machine.iommu.tables().firstLevelPagingStructureCache!.entries();
    expect(after.map((x) => [x.name, x.stale])).toEqual([["FL-PDE (nested)", true], ["FL-PDPE (nested)", false], ["FL-PML4E (nested)", false]]);
  });

  it("explain: a walk from the stale FL-PDE is marked stale, with the walk the tables give now", () => {
    const m = run(upTo("  # Not in the IOTLB")).machine;
    const x = m.iommu.explain({ sid: 0x100, pasid: 9, iova: 0x4000_1000n, write: true });
    expect(x.stale).toBe(true);
    expect(x.verdict).toMatchObject({ kind: "translated" });
    expect(x.trail.entries.filter((t) => t.name.startsWith("FL-")).at(-1)).toMatchObject({ name: "FL-PDE", raw: [0n] });
  });

  it("a checkpoint keeps them: the unit's snapshot restores the first-level caches", () => {
    const unit = unitOf(run(upTo("  # The guest frees the FL-PT")));
    const snap = unit.snapshot();
    unit.flWalker.psc!.invalidateAll();
    unit.restore(snap);
    expect(unit.flWalker.psc!.entries().map((e) => e.level)).toEqual([2, 3, 4]);
  });
});

// ---------------------------------------------------------------- random tables

const SID = 0x0100;
const LEVELS = 4;
/** VAs the PASIDs map (4 KiB pages in a few 2 MiB and 1 GiB regions) and a few they do not. */
const VAS = [0x4000_0000n, 0x4000_1000n, 0x4000_2000n, 0x4020_0000n, 0x4020_3000n, 0x8000_0000n, 0x7f_c000_0000n, 0x7f_c000_5000n];
const ALL_VAS = [...VAS, 0x4000_5000n, 0x4040_0000n, 0x1_0000_0000n];
type Leaf = { pasid: number; va: bigint; at: number };

/** PASID 2 first-level, PASID 3 nested (parent: the pool identity, GPA 0x8000_0000.. -> 0x3_2000_0000..), same VAs. */
function build(psc: number) {
  const { mem, unit, driver } = bootedUnit({ scalable: true, addressWidth: 48, sagaw: [39, 48], superpages: { "2M": true, "1G": true }, ...(psc > 0 ? { pagingStructureCache: { entries: psc, replacement: "lru" as const } } : {}) });
  const dom = driver.allocDomain();
  driver.attach(dom, [SID]);
  const leaves: Leaf[] = [];
  const fl = driver.allocPage();
  VAS.forEach((va, i) => {
    const at = driver.entryAddressIn(fl, LEVELS, true, va, 1, true)!;
    mem.writeU64(at, (0x3_1000_0000n + BigInt(i) * 0x1000n) | 0x67n);
    leaves.push({ pasid: 2, va, at });
  });
  const did2 = driver.allocDid();
  driver.setPasidEntry(SID, 2, PGTT_FL, did2, 0, fl, LEVELS, { sre: true });
  const parent = driver.allocDomain(false, true);
  driver.map(parent, 0x1000_0000n, 0x1000_0000n, 0x100_0000n, 3);
  driver.map(parent, 0x8000_0000n, 0x3_2000_0000n, 0x10000n, 3);
  const g = driver.allocPage();
  VAS.forEach((va, i) => {
    const at = driver.entryAddressIn(g, LEVELS, true, va, 1, true)!;
    mem.writeU64(at, (0x8000_0000n + BigInt(i) * 0x1000n) | 0x67n);
    leaves.push({ pasid: 3, va, at });
  });
  const did3 = driver.allocDid();
  driver.setPasidEntry(SID, 3, PGTT_NESTED, did3, parent.pgd, g, LEVELS, { sre: true });
  unit.iotlb.invalidateAll();
  // The non-leaf first-level entries of both PASIDs (their tables are pool pages the leaves' walks pass through).
  const nonLeaf: number[] = [];
  const visit = (table: number, level: number) => {
    for (let i = 0; i < 512; i++) {
      const v = mem.readU64(table + i * 8) ?? 0n;
      if (v === 0n || level === 1) continue;
      nonLeaf.push(table + i * 8);
      visit(Number(v & 0xf_ffff_ffff_f000n), level - 1);
    }
  };
  visit(fl, LEVELS);
  visit(g, LEVELS);
  return { mem, unit, leaves, nonLeaf, did: (pasid: number) => (pasid === 2 ? did2 : did3) };
}

function request(u: DmarUnit, pasid: number, va: bigint, write: boolean, priv: boolean, exec: boolean): string {
  const [hi, lo] = split(va);
  u.reqPasid = pasid;
  u.reqPriv = priv;
  u.reqExec = exec;
  const r = u.translate(SID, hi, lo, write);
  u.reqPasid = -1;
  u.reqPriv = false;
  u.reqExec = false;
  return r === 0 ? `ok 0x${((BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0)).toString(16)} perm ${u.perm}` : `fault 0x${r.toString(16)}`;
}

/** Flip bits worth flipping in a first-level entry: P, R/W, U/S, A, PS, a reserved address bit (51), XD. */
const BITS = [0, 1, 2, 5, 7, 51, 63];
const op = fc.oneof(
  fc.record({ kind: fc.constant("req" as const), pasid: fc.constantFrom(2, 3), va: fc.constantFrom(...ALL_VAS), write: fc.boolean(), priv: fc.boolean(), exec: fc.boolean() }),
  // A non-leaf entry changes, then the PASID-selective invalidation software owes for it.
  fc.record({ kind: fc.constant("nonleaf" as const), i: fc.nat(200), bit: fc.constantFrom(...BITS), pasidSelective: fc.boolean() }),
  // A leaf changes, then a page-selective flush of its page with IH = 1 (no non-leaf entry changed).
  fc.record({ kind: fc.constant("leaf" as const), i: fc.nat(200), bit: fc.constantFrom(...BITS) }),
);

describe("first-level / nested paging-structure caches on random tables", () => {
  it("give the same answers as a unit without them while software invalidates what it changes (IH = 1 for leaf changes)", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.constantFrom(2, 4, 16), fc.array(op, { minLength: 1, maxLength: 40 }), (size, ops) => {
        const a = build(size);
        const b = build(0);
        for (const o of ops) {
          if (o.kind === "req") {
            const want = request(b.unit, o.pasid, o.va, o.write, o.priv, o.exec);
            const got = request(a.unit, o.pasid, o.va, o.write, o.priv, o.exec);
            seen.add(want.split(" ").slice(0, 2).join(" ").replace(/^ok .*/, "ok"));
            if (a.unit.flWalker.pscLevel !== 0) seen.add("psc hit");
            expect(got, `${o.pasid} 0x${o.va.toString(16)} ${o.write ? "W" : "R"}${o.priv ? " priv" : ""}${o.exec ? " exec" : ""}`).toBe(want);
          } else {
            const list = o.kind === "leaf" ? a.leaves.map((l) => l.at) : a.nonLeaf;
            const at = list[o.i % list.length]!;
            for (const m of [a.mem, b.mem]) m.writeU64(at, m.readU64(at)! ^ (1n << BigInt(o.bit)));
            for (const x of [a, b]) {
              if (o.kind === "leaf") {
                const l = x.leaves[o.i % x.leaves.length]!;
                x.unit.invalidate({ type: "piotlb", granularity: PIOTLB_PSI, did: x.did(l.pasid), pasid: l.pasid, addr: l.va, am: 0, ih: true });
              } else if (o.pasidSelective) {
                for (const p of [2, 3]) x.unit.invalidate({ type: "piotlb", granularity: PIOTLB_PASID, did: x.did(p), pasid: p, addr: 0n, am: 0, ih: false });
              } else x.unit.invalidate({ type: "iotlb", granularity: IOTLB_GLOBAL, did: 0, dr: false, dw: false, addr: 0n, ih: false, am: 0 });
            }
          }
        }
      }),
      { numRuns: 80, seed: 16 },
    );
    // The runs used the caches and reached translations and first-level faults.
    for (const k of ["psc hit", "ok", "fault 0x71", "fault 0x81", "fault 0x85", "fault 0x72"]) expect(seen, k).toContain(k);
  });

  it("differ only where an invalidation was skipped: a non-leaf change with IH = 1 leaves the cached path, IH = 0 over it ends it", () => {
    fc.assert(
      fc.property(fc.nat(200), fc.constantFrom(2, 3), fc.constantFrom(...VAS), (i, pasid, va) => {
        const a = build(16);
        const b = build(0);
        // Warm: every mapped VA of the PASID walked once (caches filled), IOTLB emptied.
        for (const v of VAS) for (const x of [a, b]) request(x.unit, pasid, v, false, true, false);
        const at = a.nonLeaf[i % a.nonLeaf.length]!;
        for (const m of [a.mem, b.mem]) m.writeU64(at, 0n); // the table freed: the entry cleared
        const flush = (ih: boolean) => {
          for (const x of [a, b]) x.unit.invalidate({ type: "piotlb", granularity: PIOTLB_PSI, did: x.did(pasid), pasid, addr: va & ~0x1f_ffffn, am: 9, ih });
        };
        flush(true);
        // With IH = 1 the cached unit may still translate through the cleared entry; the other reads memory.
        const stale = request(a.unit, pasid, va, false, true, false);
        const fresh = request(b.unit, pasid, va, false, true, false);
        if (stale !== fresh) expect(stale).toMatch(/^ok /);
        flush(false);
        expect(request(a.unit, pasid, va, false, true, false)).toBe(request(b.unit, pasid, va, false, true, false));
      }),
      { numRuns: 40, seed: 7 },
    );
  });

  it("which invalidations drop which entries: PASID-selective and page-selective (IH = 0, overlapping) of the PASID, global, the IOTLB descriptor's domain for the nested PASID; not IH = 1, another PASID, PASID-cache, the IOTLB descriptor for the first-level one", () => {
    const fresh = () => {
      const x = build(16);
      for (const p of [2, 3]) for (const v of VAS) request(x.unit, p, v, false, true, false);
      return x;
    };
    const count = (x: ReturnType<typeof build>, pasid?: number) => x.unit.flWalker.psc!.entries().filter((e) => pasid === undefined || x.unit.sm.tagInfo(e.tag)?.pasid === pasid).length;
    const x0 = fresh();
    const n2 = count(x0, 2);
    const n3 = count(x0, 3);
    expect(n2).toBeGreaterThan(3);
    expect(n3).toBe(n2);
    // Nested entries are marked and hold other tables than the first-level PASID's.
    expect(x0.unit.flWalker.psc!.entries().filter((e) => (e.perm & 0x20) !== 0).length).toBe(n3);
    const cases: [string, (x: ReturnType<typeof build>) => void, number, number][] = [
      ["PASID-selective, PASID 2", (x) => x.unit.invalidate({ type: "piotlb", granularity: PIOTLB_PASID, did: x.did(2), pasid: 2, addr: 0n, am: 0, ih: false }), 0, n3],
      ["page-selective IH = 1", (x) => x.unit.invalidate({ type: "piotlb", granularity: PIOTLB_PSI, did: x.did(3), pasid: 3, addr: 0x4000_0000n, am: 9, ih: true }), n2, n3],
      // 0x4000_0000-0x401f_ffff: the FL-PDE of that region and the FL-PDPE / FL-PML4E above it.
      ["page-selective IH = 0", (x) => x.unit.invalidate({ type: "piotlb", granularity: PIOTLB_PSI, did: x.did(3), pasid: 3, addr: 0x4000_0000n, am: 9, ih: false }), n2, n3 - 3],
      ["PASID-cache", (x) => x.unit.invalidate({ type: "pc", granularity: PC_PASID, did: x.did(3), pasid: 3 }), n2, n3],
      // The DID-tagged IOTLB descriptor: the nested PASID's entries (they hold the second level's output), not the first-level one's.
      ["IOTLB domain-selective, nested PASID 3's DID", (x) => x.unit.invalidate({ type: "iotlb", granularity: IOTLB_DSI, did: x.did(3), dr: false, dw: false, addr: 0n, ih: false, am: 0 }), x0.did(2) === x0.did(3) ? 0 : n2, 0],
      ["IOTLB domain-selective, first-level PASID 2's DID", (x) => x.unit.invalidate({ type: "iotlb", granularity: IOTLB_DSI, did: x.did(2), dr: false, dw: false, addr: 0n, ih: false, am: 0 }), n2, x0.did(2) === x0.did(3) ? 0 : n3],
      ["global", (x) => x.unit.invalidate({ type: "iotlb", granularity: IOTLB_GLOBAL, did: 0, dr: false, dw: false, addr: 0n, ih: false, am: 0 }), 0, 0],
    ];
    for (const [name, inv, want2, want3] of cases) {
      const x = fresh();
      inv(x);
      expect([count(x, 2), count(x, 3)], name).toEqual([want2, want3]);
    }
  });
});
