// AMD-Vi v2 DMA domains (amd_iommu=pgtbl_v2) per kernel generation (dmesg.ts v2DomainLayout):
// Linux 6.1-6.8 kept one GCR3 table per protection domain with the domain's own id
// (protection_domain_init_v2 -> domain_enable_v2(domain, 1), GLX 0) and flushed it with one
// INVALIDATE_IOMMU_PAGES for that id - without GN up to 6.7 (__domain_flush_pages(..., pde)), with
// GN and PASID 0 in 6.8 (pdom_is_v2_pgtbl_mode; the v6.8 flush rework) -; from v6.9 each device has its own table and
// id (setup_gcr3_table) and domain_flush_pages_v2 flushes per device.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { amdCommands, firstSteps, runAmd as run, v2AndV1, v2Lines, v2Ops } from "./amdvi-helpers.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { dteGcr3Root } from "../../src/sim/amdvi/decode.js";
import { v2DomainLayout } from "../../src/sim/amdvi/dmesg.js";
import { tableChildren } from "../../src/engine/trees/tables.js";
import { parseScenario } from "../../src/scenario/index.js";
import { EventKind } from "../../src/trace/trace.js";

const BASE = readFileSync(join(__dirname, "..", "..", "examples", "amd-v2-dma-domain.passthrough.yaml"), "utf8");
/** The example with a second NVMe in the same VM (one VFIO domain, two devices) on kernel `k`. */
const two = (k: string) =>
  BASE.replace('kernel: "6.12"', `kernel: "${k}"`)
    .replace('    - { bdf: "03:00.0"', '    - { bdf: "00:01.2", kind: root-port, acs: true, secondary-bus: 4 }\n    - { bdf: "04:00.0", id: "144d:a808", name: NVMe SSD 970 EVO, parent: "00:01.2", driver: vfio-pci }\n    - { bdf: "03:00.0"')
    .replace('devices: ["03:00.0"]', 'devices: ["03:00.0", "04:00.0"]');
const host = (r: ReturnType<typeof run>) => r.machine.hostIommu as AmdViHost;
const dte = (r: ReturnType<typeof run>, devid: number) => [0, 8].map((o) => r.machine.mem.readU64(host(r).driver.deviceTable + devid * 32 + o)!) as [bigint, bigint];
const faultLines = (r: ReturnType<typeof run>) => r.machine.log.dmesg().filter((l) => l.includes("IO_PAGE_FAULT")).map((l) => l.replace(/^\[[^\]]*\] /, ""));
/** INVALIDATE_IOMMU_PAGES commands in the buffer: [domain id, GN, PASID]. */
const invPages = (r: ReturnType<typeof run>) => amdCommands(r).filter(([lo]) => lo >> 60n === 3n).map(([lo, hi]) => [Number((lo >> 32n) & 0xffffn), Number((hi >> 2n) & 1n), Number(lo & 0xfffffn)]);

describe("AMD-Vi v2 DMA domains by kernel generation", () => {
  it("generations: before 6.8 no GN (6.7 too: the flush rework is in the v6.8 pull), 6.8 GN, 6.9 on per device", () => {
    expect(["6.1", "6.6", "6.7", "6.7.12", "6.8", "6.9", "6.12"].map(v2DomainLayout)).toEqual(["domain", "domain", "domain", "domain", "domain-gn", "device", "device"]);
  });

  for (const k of ["6.1", "6.8"]) {
    it(`Linux ${k}: one GCR3 table for the domain, both DTEs point at it with the domain's own id; GCR3[0] holds the domain's table`, () => {
      const r = run(firstSteps(two(k), 2));
      const d = host(r).driver;
      const dom = d.domainOf(0x0300)!;
      const [a0, a1] = dte(r, 0x0300);
      const [b0, b1] = dte(r, 0x0400);
      expect(Number(a1 & 0xffffn)).toBe(dom.did);
      expect(Number(b1 & 0xffffn)).toBe(dom.did);
      expect(dteGcr3Root(a0, a1)).toBe(dteGcr3Root(b0, b1));
      expect((a0 >> 54n) & 3n).toBe(3n); // GIoV, GV
      expect((a0 >> 56n) & 3n).toBe(0n); // GLX 0: domain_enable_v2(domain, 1)
      const gcr3 = Number(dteGcr3Root(a0, a1));
      expect(r.machine.mem.readU64(gcr3)).toBe(BigInt(dom.root) | 1n);
      expect(d.gcr3.size).toBe(0); // no per-device tables
    });
  }

  it("Linux 6.12: each device its own GCR3 table and id, neither the domain's", () => {
    const r = run(firstSteps(two("6.12"), 2));
    const dom = host(r).driver.domainOf(0x0300)!;
    const [a0, a1] = dte(r, 0x0300);
    const [b0, b1] = dte(r, 0x0400);
    expect(dteGcr3Root(a0, a1)).not.toBe(dteGcr3Root(b0, b1));
    expect(new Set([Number(a1 & 0xffffn), Number(b1 & 0xffffn), dom.did]).size).toBe(3);
  });

  it("the unmap's flushes: 6.1 and 6.7 one command for the domain id without GN, 6.8 with GN and PASID 0, 6.12 one per device's GCR3 id with GN", () => {
    const unmapCmds = (k: string) => {
      const before = run(firstSteps(two(k), 6));
      const after = run(firstSteps(two(k), 7));
      return { cmds: invPages(after).slice(invPages(before).length), did: host(after).driver.domainOf(0x0300)!.did, ids: [0x0300, 0x0400].map((devid) => host(after).driver.gcr3.get(devid)?.domid ?? -1) };
    };
    const a = unmapCmds("6.1");
    expect(a.cmds).toEqual([[a.did, 0, 0]]);
    const a7 = unmapCmds("6.7");
    expect(a7.cmds).toEqual([[a7.did, 0, 0]]);
    const b = unmapCmds("6.8");
    expect(b.cmds).toEqual([[b.did, 1, 0]]);
    const c = unmapCmds("6.12");
    expect(c.cmds.map(([id, gn]) => [id, gn]).sort()).toEqual(c.ids.map((id) => [id, 1]).sort());
  });

  it("the trace shows those flushes: the unmap step's invalidate rows carry the domain's id (6.1)", () => {
    const r = run(firstSteps(two("6.1"), 7));
    const t = r.machine.trace;
    const did = host(r).driver.domainOf(0x0300)!.did;
    const rows: number[] = [];
    for (let i = 0; i < t.length; i++) if (t.kind[i] === EventKind.Invalidate && t.step[i] === 6) rows.push(t.did[i]!);
    expect(rows).toEqual([did]);
  });

  it("Linux 6.8: the fault line names the domain's own id; Mapping Tables shows the DTE's GCR3 entry leading to the v2 table", () => {
    const text = BASE.replace('kernel: "6.12"', 'kernel: "6.8"');
    const r = run(text);
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    const did = host(r).driver.domainOf(0x0300)!.did;
    expect(faultLines(r)[0]).toBe(`vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x${did.toString(16).padStart(4, "0")} address=0x4000200000 flags=0x0074]`);
    const scenario = parseScenario(text, "x.passthrough.yaml").scenario!;
    const ctx = { machine: r.machine, run: r, scenario, cursor: 3, radix: "hex" as const };
    const dteNode = tableChildren("t/root", ctx)!.find((n) => n.label.startsWith("03:00.0"))!;
    const kids = tableChildren(dteNode.id, ctx)!;
    expect(kids.some((n) => /PASID 0x0/.test(n.label) && /v2/.test(n.description ?? ""))).toBe(true);
  });

  for (const k of ["6.1", "6.8"]) {
    it(`property (Linux ${k}): with its flushes, random maps, unmaps and DMA on the v2 domain give a v1 domain's outcomes`, () => {
      fc.assert(
        fc.property(v2Ops(63, 16, 4, 12), (ops) => {
          const { v2, v1, out } = v2AndV1(firstSteps(BASE.replace('kernel: "6.12"', `kernel: "${k}"`), 1), v2Lines(ops, 63, 2));
          expect(out(v2)).toEqual(out(v1));
        }),
        { numRuns: 12, seed: 0x61 },
      );
    });
  }
});
