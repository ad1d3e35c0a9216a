// AMD-Vi ATS with PASIDs: the device IOTLB (the one device-side cache model: Device-TLB view,
// LEVEL_DEVICE_TLB rows, deviceCache.ts staleness) keeps the PASID of each translation request;
// INVALIDATE_IOTLB_PAGES with GN and a PASID (build_inv_iotlb_pages) drops only that PASID's
// entries, one without GN only the entries without PASID. A driver that skips the invalidation on
// unbind (dev_flush_pasid_all) leaves a stale PASID entry (examples/amd-ats-stale-pasid).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { firstSteps, runAmd as run } from "./amdvi-helpers.js";
import { EventKind, LEVEL_DEVICE_TLB } from "../../src/trace/trace.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { invIotlbPages } from "../../src/sim/amdvi/driver.js";
import { CMD_INV_PAGES_GN } from "../../src/sim/amdvi/defs.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-ats-stale-pasid.passthrough.yaml"), "utf8");
const DEV = 0x0200;
const VA = 0x7f00_0000_0000n;

function dmaLevels(r: ReturnType<typeof run>): number[] {
  const t = r.trace;
  const out: number[] = [];
  for (let i = 0; i < t.length; i++) if (t.kind[i] === EventKind.Dma) out.push(t.level[i]!);
  return out;
}

describe("PASID-tagged device IOTLB entries (AMD-Vi ATS)", () => {
  it("examples/amd-ats-stale-pasid: the write after the unbind goes through the stale PASID 9 entry", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    // Walk, device IOTLB, walk (PASID 10), device IOTLB (stale), walk (fault).
    expect(dmaLevels(r).map((l) => (l & LEVEL_DEVICE_TLB) !== 0)).toEqual([false, true, false, true, false]);
    expect(r.machine.log.dmesg().filter((l) => l.includes("IO_PAGE_FAULT")).map((l) => l.replace(/^\[[^\]]*\] /, ""))).toEqual([
      "idxd 0000:02:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0009 address=0x7f0000001000 flags=0x0121]",
    ]);
  });

  it("the Device-TLB view lists each entry with its PASID; the PASID 9 entry is stale, the PASID 10 one is not", () => {
    const r = run(EXAMPLE);
    const entries = r.machine.iommu.tables().deviceTlb!.entries();
    expect(entries.map((e) => [e.sid, e.pasid, e.iova, e.stale]).sort()).toEqual([
      [DEV, 10, VA, false],
      [DEV, 9, VA, true],
    ]);
  });

  it("with the invalidation (Linux's dev_flush_pasid_all) the PASID 9 entry is gone and the write faults; PASID 10 keeps its entry", () => {
    const r = run(firstSteps(EXAMPLE.replace(', invalidate: false', ""), 6));
    const entries = r.machine.iommu.tables().deviceTlb!.entries();
    expect(entries.map((e) => e.pasid)).toEqual([10]);
  });

  it("INVALIDATE_IOTLB_PAGES: GN with PASID 10 drops only PASID 10's entry; without GN nothing of a PASID", () => {
    const r = run(firstSteps(EXAMPLE, 5));
    const host = r.machine.hostIommu as AmdViHost;
    const pasids = () => host.unit.devIotlb.entries().map((e) => e.pasid).sort();
    expect(pasids()).toEqual([10, 9]);
    // Without GN: the entries of requests without PASID only - none here.
    expect(host.driver.submitRaw(invIotlbPages(DEV, 32, 0n, 1n << 64n))).toBe(true);
    expect(pasids()).toEqual([10, 9]);
    // GN with PASID 10: PASID[15:8] in data[0] 23:16, PASID[7:0] in data[1] 23:16.
    const [lo, hi] = invIotlbPages(DEV, 32, VA, 4096n);
    expect(host.driver.submitRaw([lo | (0n << 16n) | (10n << 48n), hi | BigInt(CMD_INV_PAGES_GN)])).toBe(true);
    expect(pasids()).toEqual([9]);
  });

  it("a request with PASID from an ATS device that misses is a translation request: its fault has TR and GN", () => {
    const r = run(EXAMPLE);
    const host = r.machine.hostIommu as AmdViHost;
    expect(host.unit.translate(DEV, 0x7f00, 0x2000, true, true, 10)).toBe(2);
    expect(host.unit.flags & 0x101).toBe(0x101);
  });
});
