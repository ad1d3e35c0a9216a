import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VfioContainer, type IommuDomainOps, type PinSource } from "../../src/sim/vfio.js";

const PAGE = 4096n;

/** A recording domain: page -> hpa, so tests can see exactly what the IOMMU was told. */
function recorder() {
  const pages = new Map<bigint, bigint>();
  const ops: IommuDomainOps = {
    map(_d, iova, hpa, size) {
      for (let o = 0n; o < size; o += PAGE) {
        if (pages.has(iova + o)) throw new Error(`double map of 0x${(iova + o).toString(16)}`);
        pages.set(iova + o, hpa + o);
      }
    },
    unmap(_d, iova, size) {
      for (let o = 0n; o < size; o += PAGE) pages.delete(iova + o);
    },
  };
  return { pages, ops };
}

/** vaddr v is backed by hpa 0x1_0000_0000 + v, contiguous in 64 KiB runs. */
const pins: PinSource = {
  resolve(v) {
    if (v >= 1n << 40n) return undefined;
    return { hpa: 0x1_0000_0000n + v, contiguous: 0x10000n - (v % 0x10000n) };
  },
};

function container(over: Partial<ConstructorParameters<typeof VfioContainer>[0]> = {}) {
  const r = recorder();
  const c = new VfioContainer({ ops: r.ops, pins, dmaEntryLimit: 65535, ...over });
  c.addDomain(1);
  return { c, ...r };
}

describe("VFIO type1 MAP/UNMAP", () => {
  it("maps by contiguous chunks and records the pinned pages", () => {
    const { c, pages } = container();
    const r = c.map({ iova: 0x100000n, vaddr: 0x8000n, size: 0x20000n, read: true, write: true });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.dma.chunks.map((k) => k.size)).toEqual([0x8000n, 0x10000n, 0x8000n]);
    expect(pages.get(0x100000n)).toBe(0x1_0000_8000n);
    expect(c.lockedPages).toBe(32);
  });

  it("returns the kernel's errno in the kernel's order", () => {
    const { c } = container({ apertureEnd: (1n << 39n) - 1n });
    const m = (iova: bigint, size: bigint, vaddr = 0n, read = true, write = true) => c.map({ iova, vaddr, size, read, write });
    expect(m(0n, PAGE, 0n, false, false)).toMatchObject({ errno: "EINVAL" });
    expect(m(0x800n, PAGE)).toMatchObject({ errno: "EINVAL" });
    expect(m(0n, 0n)).toMatchObject({ errno: "EINVAL" });
    expect(m(0xfee00000n, PAGE)).toMatchObject({ errno: "EINVAL" }); // MSI reserved region
    expect(m(1n << 39n, PAGE)).toMatchObject({ errno: "EINVAL" }); // beyond the aperture
    expect(m(0n, PAGE, 1n << 40n)).toMatchObject({ errno: "EFAULT" });
    expect(m(0n, 2n * PAGE).ok).toBe(true);
    expect(m(PAGE, PAGE)).toMatchObject({ errno: "EEXIST" });
  });

  it("ENOSPC after dma_entry_limit mappings; unmap gives entries back", () => {
    const { c } = container({ dmaEntryLimit: 3 });
    for (let i = 0n; i < 3n; i++) expect(c.map({ iova: i * PAGE, vaddr: 0n, size: PAGE, read: true, write: false }).ok).toBe(true);
    expect(c.map({ iova: 8n * PAGE, vaddr: 0n, size: PAGE, read: true, write: false })).toMatchObject({ errno: "ENOSPC" });
    expect(c.unmap({ iova: 0n, size: PAGE })).toMatchObject({ ok: true, unmapped: PAGE });
    expect(c.map({ iova: 8n * PAGE, vaddr: 0n, size: PAGE, read: true, write: false }).ok).toBe(true);
  });

  it("ENOMEM past RLIMIT_MEMLOCK with the kernel's message, leaving nothing behind", () => {
    const { c, pages } = container({ memlockBytes: 65536n });
    const r = c.map({ iova: 0n, vaddr: 0n, size: 0x20000n, read: true, write: true });
    expect(r).toEqual({ ok: false, errno: "ENOMEM", kernelLog: ["vfio_pin_pages_remote: RLIMIT_MEMLOCK (65536) exceeded"] });
    expect(pages.size).toBe(0);
    expect(c.lockedPages).toBe(0);
    expect(c.dmas).toHaveLength(0);
  });

  it("never splits a mapping: a bisecting unmap is EINVAL", () => {
    const { c } = container();
    c.map({ iova: 0n, vaddr: 0n, size: 4n * PAGE, read: true, write: true });
    expect(c.unmap({ iova: PAGE, size: PAGE })).toMatchObject({ errno: "EINVAL" });
    expect(c.unmap({ iova: 0n, size: 8n * PAGE })).toMatchObject({ ok: true, unmapped: 4n * PAGE });
  });

  it("replays existing mappings into a domain attached later", () => {
    const a = recorder();
    const c = new VfioContainer({ ops: a.ops, pins, dmaEntryLimit: 10 });
    c.map({ iova: 0n, vaddr: 0n, size: PAGE, read: true, write: true });
    expect(a.pages.size).toBe(0);
    c.addDomain(7);
    expect(a.pages.get(0n)).toBe(0x1_0000_0000n);
  });

  it("property: random map/unmap sequences keep type1's invariants", () => {
    const op = fc.oneof(
      fc.record({ map: fc.constant(true), page: fc.integer({ min: 0, max: 63 }), pages: fc.integer({ min: 1, max: 20 }), v: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ map: fc.constant(false), page: fc.integer({ min: 0, max: 63 }), pages: fc.integer({ min: 1, max: 40 }), v: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
        const { c, pages } = container({ dmaEntryLimit: 8 });
        const model = new Map<bigint, bigint>();
        for (const o of ops) {
          const iova = BigInt(o.page) * PAGE;
          const size = BigInt(o.pages) * PAGE;
          if (o.map) {
            const vaddr = BigInt(o.v) * PAGE;
            const r = c.map({ iova, vaddr, size, read: true, write: true });
            if (r.ok) for (let i = 0n; i < size; i += PAGE) model.set(iova + i, 0x1_0000_0000n + vaddr + i);
          } else {
            const r = c.unmap({ iova, size });
            if (r.ok) for (const k of [...model.keys()]) if (k >= iova && k < iova + size) model.delete(k);
          }
          // Invariants: the domain holds exactly the model; no overlaps; accounting adds up.
          expect(new Map([...pages].sort())).toEqual(new Map([...model].sort()));
          const list = c.dmas;
          for (let i = 1; i < list.length; i++) expect(list[i - 1]!.iova + list[i - 1]!.size <= list[i]!.iova).toBe(true);
          expect(c.dmaAvail + list.length).toBe(8);
          expect(c.lockedPages).toBe(model.size);
        }
      }),
      { numRuns: 300 },
    );
  });
});
