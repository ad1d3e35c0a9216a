// AMD-Vi IOTLB entries of guest (v2) translations: what the GCR3 table and a v2 table gave a
// request - with PASID (SVA) or without on a GIoV DTE (a v2 DMA domain, PASID 0) - is cached
// tagged by the DTE's domain id and the PASID; only INVALIDATE_IOMMU_PAGES with GN and that PASID
// (or INVALIDATE_IOMMU_ALL) drops it, so a v2 unmap without that flush leaves a stale hit.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstSteps, runAmd as run, v2AndV1, v2Lines, v2Ops } from "./amdvi-helpers.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-v2-stale-iotlb.passthrough.yaml"), "utf8");
const SVA = readFileSync(join(__dirname, "..", "..", "examples", "amd-v2-pasid.passthrough.yaml"), "utf8");
const host = (r: ReturnType<typeof run>) => r.machine.hostIommu as AmdViHost;
const failures = (r: ReturnType<typeof run>) => r.outcomes.flatMap((o) => o.expect?.failures ?? []);
const iotlbNodes = (r: ReturnType<typeof run>) => r.machine.iommu.tables().iotlb.entries();
const head = (text: string) => text.split(/\nworkload:\n/)[0]!;

describe("AMD-Vi IOTLB: guest (v2) translations", () => {
  it("examples/amd-v2-stale-iotlb: the walk fills the IOTLB, a cleared PTE keeps translating from it, GN = 1 PASID 0 drops it", () => {
    const r = run(EXAMPLE);
    expect(failures(r)).toEqual([]);
    expect(r.outcomes.map((o) => o.firstIotlb ?? "")).toEqual(["", "", "miss", "hit", "", "hit", "", "miss"]);
    expect(r.machine.log.dmesg().at(-1)).toMatch(/vfio-pci 0000:03:00\.0: AMD-Vi: Event logged \[IO_PAGE_FAULT domain=0x0004 address=0x4000001000 flags=0x0020\]$/);
  });

  it("the entry is tagged by the GCR3 table's domain id and PASID 0, and Mapping Tables lists it with its PASID", () => {
    const r = run(firstSteps(EXAMPLE, 3));
    const g = host(r).unit.guestIotlb.entries();
    expect(g.map((e) => [e.did, e.pasid, e.iova])).toEqual([[4, 0, 0x40_0000_1000n]]);
    // The v1 IOTLB (the translate core's) holds no guest translation.
    expect(host(r).unit.iotlb.entries()).toEqual([]);
    const nodes = iotlbNodes(r).filter((n) => n.pasid !== undefined);
    expect(nodes.map((n) => [n.did, n.pasid, n.iova, n.slot.startsWith("guest (v2) entry")])).toEqual([[4, 0, 0x40_0000_1000n, true]]);
  });

  it("explain marks the stale hit: the cached verdict translates, the tables now fault", () => {
    const r = run(firstSteps(EXAMPLE, 5));
    const x = r.machine.iommu.explain({ sid: 0x300, iova: 0x40_0000_1000n, write: true });
    expect(x.verdict.kind).toBe("translated");
    expect(x.verdict.cached).toBe(true);
    expect(x.stale).toBe(true);
  });

  it("Linux's own unmap flushes (GN, PASID 0): no stale entry, the next DMA walks and faults", () => {
    const text = `${head(EXAMPLE)}\nworkload:\n  - start: db01\n  - map: { vm: db01, iova: 0x40_0000_0000, size: 64KiB, perm: rw, gpa: 0x4000_0000 }\n  - dma: { device: "03:00.0", iova: 0x40_0000_1000, length: 4KiB, write: true }\n  - unmap: { vm: db01, iova: 0x40_0000_0000, size: 64KiB }\n  - dma: { device: "03:00.0", iova: 0x40_0000_1000, length: 4KiB, write: true }\n    expect: { fault: 0x2, recorded: true }\n`;
    const r = run(text);
    expect(failures(r)).toEqual([]);
    expect(host(r).unit.guestIotlb.entries()).toEqual([]);
  });

  it("SVA PASIDs: entries per PASID; a read-only page's cached entry refuses a write as the walk does (flags 0x0075)", () => {
    const r = run(firstSteps(SVA, 4));
    const g = host(r).unit.guestIotlb.entries();
    expect(new Set(g.map((e) => e.pasid))).toEqual(new Set([5]));
    expect(g.map((e) => e.iova).sort()).toEqual([0x7f00_0000_0000n, 0x7f00_0000_2000n, 0x7f00_0000_3000n]);
    // Step 4 wrote the read-only page: answered from the IOTLB, the same fault and flags as a walk.
    expect(r.outcomes[3]!.fault).toBe(0x2);
    expect(r.outcomes[3]!.firstIotlb).toBe("hit");
    expect(r.machine.log.dmesg().at(-1)).toContain("flags=0x0075]");
  });

  it("unbind-pasid flushes the PASID (GN): its entries are gone, another PASID's stay", () => {
    const text = `${head(SVA)}\nworkload:\n  - bind-pasid: { device: "02:00.0", pasid: 5, maps: [{ va: 0x7f00_0000_0000, size: 4KiB, perm: rw }] }\n  - bind-pasid: { device: "02:00.0", pasid: 7, maps: [{ va: 0x7f00_0000_0000, size: 4KiB, perm: rw }] }\n  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, length: 4KiB, write: true }\n  - dma: { device: "02:00.0", pasid: 7, iova: 0x7f00_0000_0000, length: 4KiB, write: true }\n  - unbind-pasid: { device: "02:00.0", pasid: 5 }\n`;
    const r = run(text);
    expect(failures(r)).toEqual([]);
    expect(host(r).unit.guestIotlb.entries().map((e) => e.pasid)).toEqual([7]);
  });

  it("INVALIDATE_IOMMU_PAGES without GN drops the domain's entries of requests without PASID (GIoV, PASID 0), not a bound PASID's", () => {
    const r = run(`${firstSteps(EXAMPLE, 5)}  - invalidate: { granularity: domain, domain: 4 }\n  - dma: { device: "03:00.0", iova: 0x40_0000_1000, length: 4KiB, write: true }\n    expect: { fault: 0x2 }\n`);
    expect(failures(r)).toEqual([]);
    expect(host(r).unit.guestIotlb.entries()).toEqual([]);
    const text = `${head(SVA)}\nworkload:\n  - bind-pasid: { device: "02:00.0", pasid: 5, maps: [{ va: 0x7f00_0000_0000, size: 4KiB, perm: rw }] }\n  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, length: 4KiB, write: true }\n`;
    const sva = run(text);
    const did = host(sva).unit.guestIotlb.entries()[0]!.did;
    const after = run(`${text}  - invalidate: { granularity: domain, domain: ${did} }\n`);
    expect(host(after).unit.guestIotlb.entries().map((e) => e.pasid)).toEqual([5]);
  });

  it("INVALIDATE_IOMMU_ALL drops guest entries too", () => {
    const r = run(`${firstSteps(EXAMPLE, 5)}  - invalidate: { granularity: global }\n  - dma: { device: "03:00.0", iova: 0x40_0000_1000, length: 4KiB, write: true }\n    expect: { fault: 0x2 }\n`);
    expect(failures(r)).toEqual([]);
    expect(host(r).unit.guestIotlb.entries()).toEqual([]);
  });

  it("property: with Linux's flushes, every DMA repeated at once gives the same outcome, the repeat from the IOTLB, as a v1 domain's", () => {
    let hits = 0;
    fc.assert(
      fc.property(v2Ops(63, 16, 4, 14), (ops) => {
        const lines = v2Lines(ops, 63, 2);
        const { v2, v1, out } = v2AndV1(firstSteps(EXAMPLE, 1), lines);
        expect(out(v2)).toEqual(out(v1));
        // The repeat of a translated DMA is answered by the IOTLB on both.
        for (let i = 1; i < lines.length; i++) {
          if (!lines[i]!.includes("dma:") || lines[i] !== lines[i - 1] || v2.outcomes[i]!.faults !== 0) continue;
          expect(v2.outcomes[i + 1]!.firstIotlb).toBe("hit");
          hits++;
        }
      }),
      { numRuns: 25, seed: 0x5eed },
    );
    expect(hits).toBeGreaterThan(0);
  });
});
