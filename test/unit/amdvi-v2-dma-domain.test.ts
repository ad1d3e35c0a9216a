// AMD-Vi v2 DMA domains (amd_iommu=pgtbl_v2): the driver's choice of the v2 table for paging
// domains (do_iommu_domain_alloc with amd_iommu_pgtable), each device's GCR3 table with the
// domain's table at GCR3[0] (init_gcr3_table), the DTE with GV | GIoV and Mode 0 (set_dte_entry,
// set_dte_gcr3_table), io_pgtable_v2.c's leaves, and the GN flushes (domain_flush_pages_v2). The
// unit translates through its one v2 walk (unit.ts guestWalk).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { amdCommands as commands, firstSteps, runAmd as run, v2AndV1, v2Lines, v2Ops } from "./amdvi-helpers.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { v2Leaf } from "../../src/sim/amdvi/driver.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-v2-dma-domain.passthrough.yaml"), "utf8");
const NVME = 0x0300;

function dte(r: ReturnType<typeof run>, devid: number): [bigint, bigint, bigint, bigint] {
  const host = r.machine.hostIommu as AmdViHost;
  const q = (o: number) => r.machine.mem.readU64(host.driver.deviceTable + devid * 32 + o)!;
  return [q(0), q(8), q(16), q(24)];
}

describe("AMD-Vi v2 DMA domains (amd_iommu=pgtbl_v2)", () => {
  it("examples/amd-v2-dma-domain: its expectations hold and Linux's lines name the GCR3 table's domain id", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    expect(r.machine.log.dmesg().filter((l) => l.includes("IO_PAGE_FAULT")).map((l) => l.replace(/^\[[^\]]*\] /, ""))).toEqual([
      "vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0004 address=0x4000200000 flags=0x0074]",
      "vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0004 address=0x4000001000 flags=0x0020]",
    ]);
  });

  it("the DTE: V | TV | Mode 0 | GIoV | GV | GLX 0 | GCR3 | IR | IW, the GCR3 table's domid; GCR3[0] holds the domain's table", () => {
    const r = run(firstSteps(EXAMPLE, 3));
    const host = r.machine.hostIommu as AmdViHost;
    const [d0, d1] = dte(r, NVME);
    expect(d0 & 3n).toBe(3n);
    expect((d0 >> 9n) & 7n).toBe(0n); // Mode 0: no v1 table
    expect((d0 >> 54n) & 3n).toBe(3n); // GIoV, GV
    expect((d0 >> 56n) & 3n).toBe(0n); // GLX 0: get_gcr3_levels(1)
    expect((d0 >> 61n) & 3n).toBe(3n); // IR, IW
    const g = host.driver.gcr3.get(NVME)!;
    expect(Number(d1 & 0xffffn)).toBe(g.domid);
    const gcr3 = (((d0 >> 58n) & 7n) << 12n) | (((d1 >> 16n) & 0xffffn) << 15n) | (((d1 >> 43n) & 0x1fffffn) << 31n);
    expect(Number(gcr3)).toBe(g.table);
    const d = host.driver.domainOf(NVME)!;
    expect(d.v2).toBe(true);
    expect(r.machine.mem.readU64(g.table)).toBe(BigInt(d.root) | 1n);
    // The writable 2 MiB map (IOVA and host memory 2 MiB aligned): one PS leaf at level 2, P | R/W | U/S | A | D | PS.
    const rw = v2Leaf(r.machine.mem, d.root, 0x40_0000_1000n);
    expect(rw.shift).toBe(21);
    expect(r.machine.mem.readU64(rw.address!)! & 0xfffn).toBe(0xe7n);
    // IOVA and HPA both 2 MiB aligned: one PS leaf at level 2 (AMD_IOMMU_PGSIZES_V2), P | R/W | U/S | A | D | PS.
    host.driver.map(d, 0x40_4000_0000n, 0x2_0000_0000n, 2n << 20n, 3);
    const leaf = v2Leaf(r.machine.mem, d.root, 0x40_4000_0000n);
    expect(leaf.shift).toBe(21);
    expect(r.machine.mem.readU64(leaf.address!)!).toBe(0x2_0000_0000n | 0xe7n);
    expect(host.unit.translate(NVME, 0x40, 0x4012_3456, true, true)).toBe(0);
    expect(host.unit.hpaHi * 2 ** 32 + host.unit.hpaLo).toBe(0x2_0012_3456);
    // The read-only map: 4 KiB leaves without R/W.
    const ro = v2Leaf(r.machine.mem, d.root, 0x40_0020_0000n);
    expect(ro.shift).toBe(12);
    expect(r.machine.mem.readU64(ro.address!)! & 0xfffn).toBe(0x65n);
  });

  it("an unmap flushes with INVALIDATE_IOMMU_PAGES for the GCR3 domid, GN = 1 and PASID 0", () => {
    const r = run(EXAMPLE);
    const host = r.machine.hostIommu as AmdViHost;
    const domid = host.driver.gcr3.get(NVME)!.domid;
    const inv = commands(r).filter(([lo, hi]) => lo >> 60n === 3n && Number((lo >> 32n) & 0xffffn) === domid && (hi & 0xfffn) !== 0n);
    const unmap = inv.find(([, hi]) => (hi & ~0xfffn) === (0x40_0000_0000n | 0xff000n));
    expect(unmap).toBeDefined();
    const [lo, hi] = unmap!;
    expect(lo & 0xfffffn).toBe(0n); // PASID 0
    expect(hi & 7n).toBe(7n); // S | PDE | GN
  });

  it("a kernel before v6.1 does not know the option: the DMA domain is v1 (Mode 3, no GV)", () => {
    const r = run(firstSteps(EXAMPLE.replace('kernel: "6.12"', 'kernel: "6.0"'), 1));
    const [d0] = dte(r, NVME);
    expect((d0 >> 9n) & 7n).toBe(3n);
    expect((d0 >> 55n) & 1n).toBe(0n);
  });

  it("amd_iommu= options other than pgtbl_v1/pgtbl_v2 are a warning, pgtbl_v1 is v1", () => {
    const p = parseScenario(EXAMPLE.replace('"amd_iommu=pgtbl_v2"', '"amd_iommu=pgtbl_v1,fullflush"'), "x.passthrough.yaml");
    expect(p.diagnostics.map((d) => d.code)).toEqual(["kernel-param-ignored"]);
    expect(p.scenario!.host.kernelParams?.amdPgtable).toBe("v1");
  });

  it("property: any sequence of maps, unmaps and DMA has the same outcomes on a v2 domain as on a v1 domain", () => {
    let dmas = 0;
    let translated = 0;
    fc.assert(
      fc.property(v2Ops(1023, 600, 8, 12), (ops) => {
        const lines = v2Lines(ops, 1023);
        dmas += lines.filter((l) => l.includes("dma:")).length;
        const { v2, v1, out } = v2AndV1(firstSteps(EXAMPLE, 1), lines);
        expect(out(v2)).toEqual(out(v1));
        expect(v2.outcomes.every((o) => o.error === undefined)).toBe(true);
        translated += v2.outcomes.filter((o, i) => i > 0 && o.faults === 0 && lines[i - 1]!.includes("dma:")).length;
      }),
      // A fixed seed: the same 25 sequences every run (the check below needs some DMA that translated).
      { numRuns: 25, seed: 0x5eed },
    );
    // The sequences did DMA that translated, not only faults.
    expect(dmas).toBeGreaterThan(0);
    expect(translated).toBeGreaterThan(0);
  });
});
