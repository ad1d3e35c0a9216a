// The iommufd backend's IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP rules, each beside type1's answer to the
// same request, with the kernel source that makes the difference (drivers/iommu/iommufd/ioas.c
// iommufd_ioas_map()/iommufd_ioas_unmap(), io_pagetable.c iopt_alloc_area_pages()/
// iopt_check_iova()/iopt_insert_area()/iopt_unmap_iova_range(), pages.c incr_user_locked_vm()).
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { IommufdIoas } from "../../src/sim/iommufd.js";
import { Machine } from "../../src/sim/machine.js";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";
import { VfioContainer, type IommuDomainOps, type PinSource, type VfioContainerOptions } from "../../src/sim/vfio.js";

const PAGE = 4096n;
const U64_MAX = (1n << 64n) - 1n;

function recorder() {
  const pages = new Map<bigint, bigint>();
  const ops: IommuDomainOps = {
    map(_d, iova, hpa, size) {
      for (let o = 0n; o < size; o += PAGE) pages.set(iova + o, hpa + o);
    },
    unmap(_d, iova, size) {
      for (let o = 0n; o < size; o += PAGE) pages.delete(iova + o);
    },
  };
  return { pages, ops };
}

const pins: PinSource = {
  resolve(v) {
    if (v >= 1n << 40n) return undefined;
    return { hpa: 0x1_0000_0000n + v, contiguous: 0x10000n - (v % 0x10000n) };
  },
};

function both(over: Partial<VfioContainerOptions> = {}) {
  const a = recorder();
  const b = recorder();
  const ioas = new IommufdIoas({ ops: a.ops, pins, dmaEntryLimit: 65535, ...over });
  const type1 = new VfioContainer({ ops: b.ops, pins, dmaEntryLimit: 65535, ...over });
  ioas.addDomain(1);
  type1.addDomain(1);
  return { ioas, type1, pages: a.pages };
}

const rw = (iova: bigint, size: bigint, vaddr = iova) => ({ iova, vaddr, size, read: true, write: true });
const errno = (r: { ok: boolean; errno?: string }) => (r.ok ? "ok" : r.errno);

describe("IOMMU_IOAS_MAP", () => {
  it("a range over an existing mapping and a reserved IOVA is EINVAL: iopt_check_iova() checks reserved IOVAs before areas (type1: EEXIST)", () => {
    const { ioas, type1 } = both();
    expect(errno(ioas.map(rw(0xfe000000n, 0x100000n)))).toBe("ok");
    expect(errno(type1.map(rw(0xfe000000n, 0x100000n)))).toBe("ok");
    // [0xfe000000, 0xfef00000) overlaps the mapping above and the MSI window 0xfee00000-0xfeefffff.
    expect(errno(ioas.map(rw(0xfe000000n, 0xf00000n)))).toBe("EINVAL");
    expect(errno(type1.map(rw(0xfe000000n, 0xf00000n)))).toBe("EEXIST");
    // Overlap alone is EEXIST in both ("if (iopt_area_iter_first(iopt, iova, last)) return -EEXIST").
    expect(errno(ioas.map(rw(0xfe080000n, 0x1000n)))).toBe("EEXIST");
  });

  it("there is no dma_entry_limit: no ENOSPC (type1: ENOSPC once dma_entry_limit mappings exist)", () => {
    const { ioas, type1 } = both({ dmaEntryLimit: 2 });
    for (let i = 0n; i < 3n; i++) {
      expect(errno(ioas.map(rw(i * PAGE * 2n, PAGE)))).toBe("ok");
      expect(errno(type1.map(rw(i * PAGE * 2n, PAGE)))).toBe(i < 2n ? "ok" : "ENOSPC");
    }
  });

  it("RLIMIT_MEMLOCK is ENOMEM without the kernel's line: incr_user_locked_vm() returns -ENOMEM silently (type1 pr_warns)", () => {
    const { ioas, type1, pages } = both({ memlockBytes: 8n * PAGE });
    expect(errno(ioas.map(rw(0n, 8n * PAGE)))).toBe("ok");
    const r = ioas.map(rw(0x100000n, PAGE));
    expect(r).toEqual({ ok: false, errno: "ENOMEM", kernelLog: [] });
    expect(pages.has(0x100000n)).toBe(false);
    expect(errno(type1.map(rw(0n, 8n * PAGE)))).toBe("ok");
    const t = type1.map(rw(0x100000n, PAGE));
    expect(t.ok ? [] : t.kernelLog).toEqual([`vfio_pin_pages_remote: RLIMIT_MEMLOCK (${8n * PAGE}) exceeded`]);
  });

  it("iova or length >= ULONG_MAX is EOVERFLOW (iommufd_ioas_map), so is iova + length - 1 past 2^64 (iopt_check_iova)", () => {
    const { ioas, type1 } = both();
    expect(errno(ioas.map(rw(U64_MAX, PAGE, 0n)))).toBe("EOVERFLOW");
    expect(errno(ioas.map(rw(U64_MAX - PAGE + 1n, 2n * PAGE, 0n)))).toBe("EOVERFLOW");
    expect(errno(type1.map(rw(U64_MAX - PAGE + 1n, 2n * PAGE, 0n)))).toBe("EINVAL");
  });

  it("no READABLE/WRITEABLE flag, zero or unaligned length, unaligned IOVA or user VA are EINVAL", () => {
    const { ioas } = both();
    expect(errno(ioas.map({ iova: 0n, vaddr: 0n, size: PAGE, read: false, write: false }))).toBe("EINVAL");
    expect(errno(ioas.map(rw(0n, 0n)))).toBe("EINVAL");
    expect(errno(ioas.map(rw(0n, 100n)))).toBe("EINVAL");
    expect(errno(ioas.map(rw(0x10n, PAGE, 0n)))).toBe("EINVAL");
    expect(errno(ioas.map(rw(0n, PAGE, 0x10n)))).toBe("EINVAL");
  });
});

describe("IOMMU_IOAS_UNMAP", () => {
  it("a range that cuts a mapping is ENOENT (iopt_unmap_iova_range: area_first < start || area_last > last), type1 EINVAL", () => {
    const { ioas, type1, pages } = both();
    ioas.map(rw(0n, 16n * PAGE));
    type1.map(rw(0n, 16n * PAGE));
    expect(errno(ioas.unmap({ iova: 0n, size: 8n * PAGE }))).toBe("ENOENT");
    expect(errno(type1.unmap({ iova: 0n, size: 8n * PAGE }))).toBe("EINVAL");
    expect(pages.size).toBe(16);
  });

  it("nothing mapped in the range is ENOENT ('int rc = -ENOENT; ... if (unmapped_bytes) rc = 0'), type1 unmaps 0 bytes", () => {
    const { ioas, type1 } = both();
    expect(errno(ioas.unmap({ iova: 0x100000n, size: PAGE }))).toBe("ENOENT");
    expect(type1.unmap({ iova: 0x100000n, size: PAGE })).toEqual({ ok: true, unmapped: 0n });
  });

  it("an unaligned range that covers whole mappings succeeds (no alignment rule), type1 EINVAL; length 0 is EINVAL", () => {
    const { ioas, type1 } = both();
    ioas.map(rw(PAGE, PAGE));
    type1.map(rw(PAGE, PAGE));
    expect(ioas.unmap({ iova: 1n, size: 3n * PAGE })).toEqual({ ok: true, unmapped: PAGE });
    expect(errno(type1.unmap({ iova: 1n, size: 3n * PAGE }))).toBe("EINVAL");
    expect(errno(ioas.unmap({ iova: 0n, size: 0n }))).toBe("EINVAL");
  });

  it("areas below a cut one are removed before the ENOENT: the failed ioctl already unmapped them", () => {
    const { ioas, pages } = both();
    ioas.map(rw(0n, PAGE));
    ioas.map(rw(4n * PAGE, 4n * PAGE));
    expect(errno(ioas.unmap({ iova: 0n, size: 6n * PAGE }))).toBe("ENOENT");
    expect(ioas.dmas.map((d) => d.iova)).toEqual([4n * PAGE]);
    expect(pages.has(0n)).toBe(false);
  });

  it("iova 0 / length U64_MAX unmaps everything, and on an empty IOAS that is success (iopt_unmap_all)", () => {
    const { ioas } = both();
    expect(ioas.unmap({ iova: 0n, size: U64_MAX })).toEqual({ ok: true, unmapped: 0n });
    ioas.map(rw(0n, PAGE));
    expect(ioas.unmap({ iova: 0n, size: U64_MAX })).toEqual({ ok: true, unmapped: PAGE });
  });

  it("property: against a reference of areas, map/unmap results and the mapped pages agree", () => {
    const op = fc.record({ map: fc.boolean(), page: fc.integer({ min: 0, max: 31 }), pages: fc.integer({ min: 1, max: 6 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const { ioas, pages } = both();
        let areas: [number, number][] = []; // [first page, last page]
        for (const o of ops) {
          const first = o.page;
          const last = o.page + o.pages - 1;
          const r = o.map ? ioas.map(rw(BigInt(first) * PAGE, BigInt(o.pages) * PAGE)) : ioas.unmap({ iova: BigInt(first) * PAGE, size: BigInt(o.pages) * PAGE });
          if (o.map) {
            const clash = areas.some(([a, b]) => a <= last && first <= b);
            expect(errno(r)).toBe(clash ? "EEXIST" : "ok");
            if (!clash) areas.push([first, last]);
          } else {
            // Lowest first: remove contained areas until one that sticks out of the range.
            const hit = areas.filter(([a, b]) => a <= last && first <= b).sort((x, y) => x[0] - y[0]);
            let removed = 0;
            let cut = false;
            for (const h of hit) {
              if (h[0] < first || h[1] > last) {
                cut = true;
                break;
              }
              areas = areas.filter((x) => x !== h);
              removed++;
            }
            expect(errno(r)).toBe(cut || removed === 0 ? "ENOENT" : "ok");
          }
          const want = new Set(areas.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => BigInt(a + i) * PAGE)));
          expect(new Set(pages.keys())).toEqual(want);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("iommufd in a VM", () => {
  const example = readFileSync(join(__dirname, "..", "..", "examples", "iommufd-map-failure.passthrough.yaml"), "utf8");

  it("QEMU logs IOMMU_IOAS_MAP failed and no kernel line for the memlock failure; an unmap's ENOENT logs nothing", () => {
    const m = new Machine(parseScenario(example, "x.yaml").scenario!);
    const outs = m.scenario.workload.map((st) => m.runStep(st));
    expect(outs.map((o) => o.errno ?? o.status)).toEqual(["ok", "EINVAL", "ENOMEM", "ENOENT", "ok"]);
    const at = (i: number) => m.log.lines.slice(outs[i]!.logStart, outs[i]!.logEnd).map((l) => l.text);
    expect(at(2)).toEqual(["qemu-system-x86_64: IOMMU_IOAS_MAP failed: Cannot allocate memory", "qemu-system-x86_64: vfio_container_dma_map(0x55d0c0a01000, 0x100000000, 0x200000, 0x7f0000200000) = -12 (Cannot allocate memory)"]);
    expect(at(3)).toEqual([]);
    expect(outs[0]!.summary).toContain("IOMMU_IOAS_ALLOC -> IOAS 1");
  });

  it("the same steps on type1 give EEXIST, ENOMEM with vfio_pin_pages_remote's line, and EINVAL", () => {
    const m = new Machine(parseScenario(example.replace("    backend: iommufd\n", ""), "x.yaml").scenario!);
    const outs = m.scenario.workload.map((st) => m.runStep(st));
    expect(outs.map((o) => o.errno ?? o.status)).toEqual(["ok", "EEXIST", "ENOMEM", "EINVAL", "ok"]);
    expect(m.log.lines.slice(outs[2]!.logStart, outs[2]!.logEnd).map((l) => l.text)).toContain("vfio_pin_pages_remote: RLIMIT_MEMLOCK (1074790400) exceeded");
  });

  it("a device in a non-viable group fails VFIO_DEVICE_BIND_IOMMUFD with EBUSY, in QEMU's words", () => {
    const text = example.replace('driver: vfio-pci }', 'driver: vfio-pci }\n    - { bdf: "01:00.1", parent: "00:01.0", driver: i40e }');
    const m = new Machine(parseScenario(text, "x.yaml").scenario!);
    const out = m.runStep(m.scenario.workload[0]!);
    expect(out.error).toBe("group-not-viable");
    expect(m.log.lines.slice(out.logStart, out.logEnd).map((l) => l.text)).toEqual(["qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: error bind device fd=21 to iommufd=20: Device or resource busy"]);
  });

  it("the VMs tree names the IOAS and its mappings by iommufd's ioctl", () => {
    const s = new Session("iommufd");
    expect(s.update(example).ran).toBe(true);
    s.setCursor(1);
    const ctx = { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: 1, radix: "hex" as const };
    const vm = treeChildren("vms", "vm/vm1", ctx)!;
    const ioas = vm.find((n) => n.id === "vm/vm1/vfio")!;
    expect(ioas.label).toBe("iommufd IOAS");
    expect(ioas.description).toMatch(/^hwpt = domain \d+ · 1 mapping · 262144 pages locked$/);
    expect(String(treeChildren("vms", "vm/vm1/vfio", ctx)![0]!.tooltip)).toMatch(/^IOMMU_IOAS_MAP: IOVA 0x0 size 0x40000000 -> user VA /);
  });

  it("checkpoints restore the IOAS exactly", () => {
    const m = new Machine(parseScenario(example, "x.yaml").scenario!);
    m.runStep(m.scenario.workload[0]!);
    const snap = m.snapshot();
    const before = m.vms.get("vm1")!.container!.dmas.length;
    m.runStep({ ...m.scenario.workload[3]!, op: "unmap", vm: "vm1", iova: 0n, size: 1n << 30n } as never);
    expect(m.vms.get("vm1")!.container!.dmas.length).toBe(before - 1);
    m.restore(snap);
    expect(m.vms.get("vm1")!.container).toBeInstanceOf(IommufdIoas);
    expect(m.vms.get("vm1")!.container!.dmas.length).toBe(before);
  });
});
