// Page-table pages the host's intel-iommu driver frees on unmap (drivers/iommu/intel/iommu.c
// dma_pte_clear_level / dma_pte_list_pagetables): only the entry that points at a fully covered
// table is cleared; the table pages go on the freelist as they are and go back to the allocator
// after the IOTLB flush (intel_iommu_tlb_sync: IH = 0, since a table was freed). A walk that still
// reaches a freed page (a paging-structure-cache entry kept by a flush with IH = 1) reads its old
// entries; the allocator zeroes a page when it hands it out again (__GFP_ZERO).
import { describe, expect, it } from "vitest";
import { bootedUnit, split } from "./helpers.js";

const RID = 0x0300;
const IOVA = 0x20_0000n;
// Not 2 MiB aligned: the 2 MiB is mapped with 512 SL-PTEs in one SL-PT.
const HPA = 0x1_0000_1000n;

function setup(psc = false) {
  const b = bootedUnit(psc ? { pagingStructureCache: { entries: 16, replacement: "fifo" } } : {});
  const d = b.driver.allocDomain();
  b.driver.attach(d, [RID]);
  b.driver.map(d, IOVA, HPA, 0x20_0000n, 3);
  const pde = b.driver.entryAddress(d, IOVA, 2, false)!;
  const pt = Number(b.mem.readU64(pde)! & 0x000f_ffff_ffff_f000n);
  return { ...b, d, pde, pt };
}
const words = (mem: ReturnType<typeof setup>["mem"], at: number, n: number) => Array.from({ length: n }, (_, i) => mem.readU64(at + 8 * i));

describe("VT-d page tables freed by an unmap", () => {
  it("unmapping the whole 2 MiB clears the SL-PDE only: the freed SL-PT keeps its SL-PTEs", () => {
    const { driver, mem, d, pde, pt } = setup();
    const old = words(mem, pt, 512);
    expect(old[1]).toBe((HPA + 0x1000n) | 3n);
    expect(driver.unmap(d, IOVA, 0x20_0000n)).toBe(0x20_0000n);
    expect(mem.readU64(pde)).toBe(0n);
    expect(words(mem, pt, 512)).toEqual(old);
  });

  it("a partial unmap clears the leaves it covers and frees nothing", () => {
    const { driver, mem, d, pde, pt } = setup();
    const before = mem.readU64(pde);
    driver.unmap(d, IOVA, 0x2000n);
    expect(mem.readU64(pde)).toBe(before);
    expect(words(mem, pt, 3)).toEqual([0n, 0n, (HPA + 0x2000n) | 3n]);
  });

  it("a freed table page handed out again is zeroed before its new entry is written", () => {
    const { driver, mem, d, pt } = setup();
    driver.unmap(d, IOVA, 0x20_0000n);
    driver.map(d, 0x40_0000n, 0x2_0000_0000n, 0x1000n, 3);
    const newPde = driver.entryAddress(d, 0x40_0000n, 2, false)!;
    expect(Number(mem.readU64(newPde)! & 0x000f_ffff_ffff_f000n)).toBe(pt);
    expect(words(mem, pt, 3)).toEqual([0x2_0000_0000n | 3n, 0n, 0n]);
  });

  it("a stale SL-PDE in the paging-structure cache (a flush with IH = 1) walks into the freed SL-PT and translates with its old SL-PTE", () => {
    const { unit, driver, d } = setup(true);
    const [hi, lo] = split(IOVA + 0x1000n);
    expect(unit.translate(RID, hi, lo, true)).toBe(0);
    // The unmap without its flush, then a page-selective flush that (wrongly) says IH = 1.
    driver.unmap(d, IOVA, 0x20_0000n, false);
    driver.flushIotlbRange(d, IOVA >> 12n, 512n, true);
    expect(unit.translate(RID, hi, lo, true)).toBe(0);
    expect((BigInt(unit.hpaHi) << 32n) | BigInt(unit.hpaLo)).toBe(HPA + 0x1000n);
    // The flush Linux issues (IH = 0) ends it.
    driver.flushIotlbRange(d, IOVA >> 12n, 512n, false);
    expect(unit.translate(RID, hi, lo, true)).toBe(0x05);
  });
});
