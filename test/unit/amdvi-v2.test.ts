// AMD-Vi v2 (guest) page tables through the GCR3 table: the DTE fields Linux writes
// (iommu.c set_dte_gcr3_table: GV, GLX, GCR3 split over data[0] 60:58 and data[1] 31:16 / 63:43),
// the GCR3 table (__get_gcr3_pte: 9 PASID bits per level, GCR3_VALID), the x86-64 long-mode walk
// (io_pgtable_v2.c IOMMU_PAGE_*: P, R/W, U/S, PS), SVA binds as pasid.c iommu_sva_set_dev_pasid
// allows them, the GN flushes (build_inv_iommu_pages / build_inv_iotlb_pages with gn), and the
// IO_PAGE_FAULT of a request with PASID as Linux prints it (the PASID is the "domain=").
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import type { TableNode } from "../../src/sim/iommu.js";
import { dteGcr3Root } from "../../src/sim/amdvi/decode.js";
import { MMIO_CMD_BUF_OFFSET } from "../../src/sim/amdvi/defs.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-v2-pasid.passthrough.yaml"), "utf8");
const DEV = 0x0200;

function run(text: string) {
  const p = parseScenario(text, "x.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const r = runScenario(p.scenario!);
  return r.run!;
}

/** The example's host with `steps` as its workload. */
function scenario(steps: string, iommu = "{ model: amd-vi, address-width: 48, host-pass-through: true }"): string {
  const head = EXAMPLE.slice(0, EXAMPLE.indexOf("workload:")).replace(/iommu: \{[^}]*\}/, `iommu: ${iommu}`);
  return `${head}workload:\n${steps}`;
}

const BIND = `  - bind-pasid:
      device: "02:00.0"
      pasid: 5
      maps:
        - { va: 0x7f00_0000_0000, size: 4KiB, perm: r }
        - { va: 0x7f00_0000_1000, size: 4KiB, perm: rw, user: false }
        - { va: 0x7f00_0000_2000, size: 8KiB, perm: rw, hpa: 0x2_0000_0000 }
`;

describe("AMD-Vi v2 page tables (GCR3)", () => {
  it("examples/amd-v2-pasid: every expectation holds and Linux prints the PASID as the domain, with GN in the flags", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    const lines = r.machine.log.dmesg().filter((l) => l.includes("IO_PAGE_FAULT")).map((l) => l.replace(/^\[[^\]]*\] /, ""));
    expect(lines).toEqual([
      // GN 0x1 | US 0x4 | PR 0x10 | RW 0x20 | PE 0x40: a write to a read-only page.
      "idxd 0000:02:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0005 address=0x7f0000000000 flags=0x0075]",
      // GN | US | PR | PE: a user read of a supervisor-only page.
      "idxd 0000:02:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0005 address=0x7f0000001000 flags=0x0055]",
      // GN alone: PASID 6 has no valid GCR3 entry.
      "idxd 0000:02:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0006 address=0x7f0000000000 flags=0x0001]",
      "idxd 0000:02:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0005 address=0x7f0000002000 flags=0x0001]",
    ]);
  });

  it("the event-log entry carries the PASID in event[0] 19:16 and event[1] 15:0, and Linux prints the low 16 bits (u16 domain_id)", () => {
    const r = run(scenario(BIND));
    const host = r.machine.hostIommu as AmdViHost;
    // A 20-bit PASID straight at the unit (a scenario's PASIDs stop at 16 bits): GCR3 not valid there.
    expect(host.unit.translate(DEV, 0x7f00, 0, false, false, 0x1abcd)).toBe(2);
    const ev = host.unit.pendingEvents();
    expect(ev).toHaveLength(1);
    const [w0, w1] = ev[0]!.words;
    expect(w0 >>> 0).toBe(DEV | (0x1 << 16));
    expect(w1 >>> 0).toBe(((2 << 28) | (0x001 << 16) | 0xabcd) >>> 0);
    const f = host.iommu.faults().find((x) => x.pending)!;
    expect(f.dmesg).toEqual(["idxd 0000:02:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0xabcd address=0x7f0000000000 flags=0x0001]"]);
  });

  it("set_dte_gcr3_table: TV, GV, GLX 1 (16-bit PASIDs), the GCR3 root split over three fields, Mode 0, IR/IW, the table's own domain id; GCR3[5] = CR3 | V", () => {
    const r = run(scenario(BIND));
    const m = r.machine;
    const host = m.hostIommu as AmdViHost;
    const at = host.driver.deviceTable + DEV * 32;
    const d0 = m.mem.readU64(at)!;
    const d1 = m.mem.readU64(at + 8)!;
    const g = host.driver.gcr3.get(DEV)!;
    expect(d0 & 3n).toBe(3n);
    expect((d0 >> 55n) & 1n).toBe(1n); // GV
    expect((d0 >> 54n) & 1n).toBe(0n); // no GIoV: an identity domain
    expect((d0 >> 56n) & 3n).toBe(1n); // GLX
    expect((d0 >> 9n) & 7n).toBe(0n); // Mode 0
    expect((d0 >> 61n) & 3n).toBe(3n); // IR, IW
    expect(dteGcr3Root(d0, d1)).toBe(BigInt(g.table));
    expect(Number(d1 & 0xffffn)).toBe(g.domid);
    expect([...host.driver.domains.keys()]).not.toContain(g.domid);
    // Level 1 (PASID bits 17:9 = 0), then level 0 at index 5.
    const l1 = m.mem.readU64(g.table)!;
    expect(l1 & 1n).toBe(1n);
    const e = m.mem.readU64(Number(l1 & ~0xfffn) + 5 * 8)!;
    expect(e).toBe(BigInt(g.pasids[0]![1]) | 1n);
  });

  it("refuses what iommu_sva_set_dev_pasid refuses: a device in a v1 DMA domain, PASID 0, a PASID bound twice", () => {
    const v1 = run(scenario(`${BIND}    expect: { errno: EINVAL }\n`, "{ model: amd-vi }"));
    expect(v1.outcomes[0]!.summary).toMatch(/-EINVAL: the device's DMA domain has v1 page tables/);
    expect(v1.outcomes[0]!.expect?.failures).toEqual([]);
    const zero = run(scenario(`${BIND.replace("pasid: 5", "pasid: 0")}    expect: { errno: EINVAL }\n`));
    expect(zero.outcomes[0]!.summary).toMatch(/PASID 0x0 is not in 1\.\.0xffff/);
    const twice = run(scenario(`${BIND}${BIND}    expect: { errno: EBUSY }\n`));
    expect(twice.outcomes[1]!.expect?.failures).toEqual([]);
  });

  it("a request with PASID to a DTE without GV is an INVALID_DEVICE_REQUEST, printed with the PASID", () => {
    const r = run(scenario(`  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_2000, length: 4KiB }\n    expect: { fault: 0x8 }\n`, "{ model: amd-vi }"));
    expect(r.outcomes[0]!.expect?.failures).toEqual([]);
    expect(r.machine.log.dmesg().some((l) => l.endsWith("iommu ivhd0: AMD-Vi: Event logged [INVALID_DEVICE_REQUEST device=0000:02:00.0 pasid=0x00005 address=0x7f0000002000 flags=0x0001]"))).toBe(true);
  });

  it("a PASID beyond 16 bits is rejected with a hint, and modes other than first-level are VT-d's", () => {
    const wide = parseScenario(scenario(`  - dma: { device: "02:00.0", pasid: 0x10000, iova: 0, length: 4KiB }\n`), "x").diagnostics.filter((d) => d.severity === "error");
    expect(wide[0]!.message).toMatch(/PASID 0x10000 does not fit AMD-Vi's 16-bit PASIDs/);
    expect(wide[0]!.hint).toMatch(/below 0x10000/);
    const mode = parseScenario(scenario(BIND.replace("pasid: 5", "pasid: 5\n      mode: second-level")), "x").diagnostics.filter((d) => d.severity === "error");
    expect(mode[0]!.message).toMatch(/AMD-Vi binds a PASID to a v2 \(guest\) page table: mode second-level/);
  });

  it("unbind clears the GCR3 entry and flushes the PASID: INVALIDATE_IOMMU_PAGES with GN and the PASID for the table's domain id", () => {
    const r = run(scenario(`${BIND}  - unbind-pasid: { device: "02:00.0", pasid: 5 }\n  - unbind-pasid: { device: "02:00.0", pasid: 5 }\n    expect: { errno: ENOENT }\n`));
    expect(r.outcomes[2]!.expect?.failures).toEqual([]);
    const host = r.machine.hostIommu as AmdViHost;
    const g = host.driver.gcr3.get(DEV)!;
    const l1 = r.machine.mem.readU64(g.table)!;
    expect(r.machine.mem.readU64(Number(l1 & ~0xfffn) + 5 * 8)).toBe(0n);
    const base = Number(host.unit.readReg(MMIO_CMD_BUF_OFFSET) & 0x000ffffffffff000n);
    const cmds: [bigint, bigint][] = [];
    for (let i = 0; i < 512; i++) cmds.push([r.machine.mem.readU64(base + i * 16)!, r.machine.mem.readU64(base + i * 16 + 8)!]);
    const gn = cmds.filter(([lo, hi]) => lo >> 60n === 3n && (hi & 4n) !== 0n);
    // One at the bind (update_gcr3 -> dev_flush_pasid_all), one at the unbind; all pages, PDE, S.
    expect(gn).toHaveLength(2);
    for (const [lo, hi] of gn) {
      expect(Number(lo & 0xfffffn)).toBe(5);
      expect(Number((lo >> 32n) & 0xffffn)).toBe(g.domid);
      expect(hi).toBe(0x7ffffffffffff000n | 7n);
    }
  });

  it("explain names the DTE, the two GCR3 entries and PML4E..PTE, and says why a supervisor page faults a user request", () => {
    const r = run(scenario(BIND));
    const u = r.machine.hostIommu.iommu;
    const ok = u.explain({ sid: DEV, pasid: 5, iova: 0x7f00_0000_2123n, write: true });
    expect(ok.verdict.kind).toBe("translated");
    expect(ok.verdict.hpa).toBe(0x2_0000_0123n);
    expect(ok.trail.entries.map((e) => e.name)).toEqual(["DTE", "GCR3 entry (level 1)", "GCR3 entry (level 0)", "PML4E", "PDPE", "PDE", "PTE"]);
    const bad = u.explain({ sid: DEV, pasid: 5, iova: 0x7f00_0000_1000n, write: false });
    expect(bad.verdict.reason).toBe(2);
    expect(bad.trail.stop?.cause).toBe("permission");
    expect(bad.trail.stop?.why).toMatch(/U\/S = 0 on the walk to the PTE/);
    const unbound = u.explain({ sid: DEV, pasid: 7, iova: 0x7f00_0000_2000n, write: false });
    expect(unbound.trail.stop?.cause).toBe("not-present");
    expect(unbound.trail.stop?.why).toMatch(/GCR3 entry of PASID 0x7 not valid/);
  });

  it("Mapping Tables: the DTE lists GCR3[5] as a PASID entry whose v2 table leads to the leaf", () => {
    const r = run(scenario(BIND));
    const t = r.machine.hostIommu.iommu.tables();
    const dte = t.root.child("0200")!;
    const p5 = dte.children().find((n) => n.kind === "pasid-entry")!;
    expect(p5).toMatchObject({ key: "p5", pasid: 5, translation: "v2 (guest) page table", levels: 4, topName: "PML4" });
    let n: TableNode | undefined = p5;
    for (const idx of ["254", "0", "0", "2"]) n = n!.child(idx);
    expect(n).toMatchObject({ kind: "pte", leaf: true, target: 0x2_0000_0000n, perm: 3, label: "PTE 2" });
  });

  it("GIoV: a request without PASID uses GCR3[0] (the v2 DMA domain's table) when the DTE has GV and GIoV", () => {
    const r = run(scenario(BIND));
    const m = r.machine;
    const host = m.hostIommu as AmdViHost;
    const g = host.driver.gcr3.get(DEV)!;
    // Point GCR3[0] at PASID 5's table and set GIoV, as set_dte_gcr3_table does for a v2 domain.
    const l1 = Number(m.mem.readU64(g.table)! & ~0xfffn);
    m.mem.writeU64(l1, m.mem.readU64(l1 + 5 * 8)!);
    const at = host.driver.deviceTable + DEV * 32;
    m.mem.writeU64(at, m.mem.readU64(at)! | (1n << 54n));
    host.unit.bypassCaches = true;
    const v = host.iommu.translate({ sid: DEV, iova: 0x7f00_0000_2000n, write: false });
    expect(v).toMatchObject({ kind: "translated", hpa: 0x2_0000_0000n });
    // GN is clear for a request without PASID: the fault names the DTE's domain id.
    const f = host.iommu.translate({ sid: DEV, iova: 0x7f00_0000_1000n, write: false });
    expect(f.reason).toBe(2);
    expect(host.unit.flags & 1).toBe(0);
  });

  it("property: the unit's v2 walk agrees with the bound maps (present, U/S, R/W) for any request", () => {
    const pageArb = fc.record({ page: fc.integer({ min: 0, max: 1023 }), perm: fc.constantFrom("r", "rw"), user: fc.boolean() });
    fc.assert(
      fc.property(fc.uniqueArray(pageArb, { minLength: 1, maxLength: 6, selector: (p) => p.page }), fc.array(fc.record({ page: fc.integer({ min: 0, max: 1023 }), write: fc.boolean(), pasid: fc.constantFrom(3, 4) }), { minLength: 1, maxLength: 8 }), (pages, reqs) => {
        const va = (p: number) => 0x5555_0000_0000n + BigInt(p) * 0x20_1000n; // spreads pages over PDEs and PDPEs
        const maps = pages.map((p, i) => `        - { va: ${"0x" + va(p.page).toString(16)}, size: 4KiB, perm: ${p.perm}, user: ${p.user}, hpa: ${"0x" + (0x3_0000_0000n + BigInt(i) * 4096n).toString(16)} }`).join("\n");
        const r = run(scenario(`  - bind-pasid:\n      device: "02:00.0"\n      pasid: 3\n      maps:\n${maps}\n`));
        const u = r.machine.hostIommu.iommu;
        for (const q of reqs) {
          const v = u.translate({ sid: DEV, pasid: q.pasid, iova: va(q.page) + 0x10n, write: q.write });
          const i = pages.findIndex((p) => p.page === q.page);
          const p = pages[i];
          const ok = q.pasid === 3 && p !== undefined && p.user && (!q.write || p.perm === "rw");
          expect(v.kind).toBe(ok ? "translated" : "fault");
          if (ok) expect(v.hpa).toBe(0x3_0000_0000n + BigInt(i) * 4096n + 0x10n);
          else expect(v.reason).toBe(2);
        }
      }),
      { numRuns: 40, seed: 1717 },
    );
  });
});
