// ATS in VT-d scalable mode (docs/vtd-scalable-device.md): the scalable-mode context entry's DTE
// bit (Linux context_set_sm_dte), Translation Requests with a PASID that fill a PASID-tagged
// Device-TLB entry, Translated Requests blocked with 0x44 where DTE = 0, Linux's Device-TLB
// flushes on a first-level unmap (iommu_flush_iotlb_psi) and on a PASID teardown
// (devtlb_invalidation_with_pasid), and the stale Device-TLB a forgotten one leaves.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";
import { encodeDevIotlbDesc, encodePdevIotlbDesc } from "../../src/sim/vtd/qi.js";
import { EventKind, LEVEL_DEVICE_TLB } from "../../src/trace/trace.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "scalable-ats-stale-pasid.passthrough.yaml"), "utf8");
const VA = 0x7f00_0000_0000n;
const DSA = 0x0200;
const NIC = 0x0100;

function run(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
}

function failures(r: ReturnType<typeof run>) {
  return r.outcomes.map((o) => o.expect?.failures ?? []);
}

/** The Invalidate events (qw0, qw1) the run recorded at workload step `step` (0-based). */
function invalidations(r: ReturnType<typeof run>, step: number): [bigint, bigint][] {
  const t = r.machine.trace;
  const out: [bigint, bigint][] = [];
  for (let i = 0; i < t.length; i++) {
    const row = t.row(i);
    if (row.kind === EventKind.Invalidate && row.step === step) out.push([row.a, row.b]);
  }
  return out;
}

function dmaLevels(r: ReturnType<typeof run>, step: number): number[] {
  const t = r.machine.trace;
  const out: number[] = [];
  for (let i = 0; i < t.length; i++) {
    const row = t.row(i);
    if (row.kind === EventKind.Dma && row.step === step) out.push(row.level);
  }
  return out;
}

/** qw0 of the scalable-mode context entry of a requester, read from memory. */
function contextLo(r: ReturnType<typeof run>, sid: number): bigint {
  const h = r.machine.hostIommu as VtdHost;
  return h.unit.mem.readU64(h.driver.smContextEntry(sid)) ?? 0n;
}

const UNTIL_UNBIND = EXAMPLE.replace(/  - unbind-pasid[\s\S]*$/, "");

describe("ATS in scalable mode", () => {
  it("examples/scalable-ats-stale-pasid: after an unbind without the PASID-based invalidation the device writes the old page", () => {
    const r = run(EXAMPLE);
    expect(failures(r)).toEqual([[], [], [], [], [], [], [], [], [], []]);
    // Step 4 (0-based 3) walked the first level; steps 5 and 7 came from the Device-TLB.
    expect(dmaLevels(r, 3)).toEqual([1]);
    expect(dmaLevels(r, 4)).toEqual([1 | LEVEL_DEVICE_TLB]);
    expect(dmaLevels(r, 6)).toEqual([1 | LEVEL_DEVICE_TLB]);
    expect(r.outcomes[6]!.firstHpa).toBe(r.outcomes[3]!.firstHpa);
    // The forgetful unbind sent the PASID-cache and PASID-based IOTLB flushes, no type 0x8.
    const unbind = invalidations(r, 5);
    expect(unbind.some(([lo]) => (lo & 0xfn) === 0x7n)).toBe(true);
    expect(unbind.some(([lo]) => (lo & 0xfn) === 0x8n)).toBe(false);
  });

  it("Linux sets DTE (bit 2) in the context entry of an ATS device only; PASIDE stays set", () => {
    const r = run(UNTIL_UNBIND);
    expect(contextLo(r, DSA) & 0xfn).toBe(0xdn); // P | DTE | PASIDE
    expect(contextLo(r, NIC) & 0xfn).toBe(0x9n); // P | PASIDE
    expect((r.machine.hostIommu as VtdHost).unit.atsSids.has(DSA)).toBe(true);
  });

  it("the Device-TLB entry is tagged with the request's PASID, and Mapping Tables lists it fresh, then stale", () => {
    const r = run(UNTIL_UNBIND);
    const e = r.machine.iommu.tables().deviceTlb!.entries();
    expect(e.map((x) => ({ sid: x.sid, pasid: x.pasid, iova: x.iova, stale: x.stale }))).toEqual([{ sid: DSA, pasid: 5, iova: VA, stale: false }]);
    const after = run(EXAMPLE.replace(/  - invalidate:[\s\S]*$/, ""));
    expect(after.machine.iommu.tables().deviceTlb!.entries().map((x) => [x.pasid, x.stale])).toEqual([[5, true]]);
  });

  it("a request without PASID does not hit an entry of PASID 5 (the Device-TLB's tag)", () => {
    const unit = (run(UNTIL_UNBIND).machine.hostIommu as VtdHost).unit;
    expect(unit.devtlb.lookup(DSA, 5, 0x7f00, 0)).toBeGreaterThanOrEqual(0);
    expect(unit.devtlb.lookup(DSA, -1, 0x7f00, 0)).toBe(-1);
    expect(unit.devtlb.lookup(DSA, 6, 0x7f00, 0)).toBe(-1);
  });

  it("Linux's unbind sends qi_flush_dev_iotlb_pasid (type 0x8, every address) after the IOTLB flush; the next DMA faults 0x59", () => {
    const text = EXAMPLE.replace('ats: [{ device: "02:00.0", invalidate: false }]', 'ats: ["02:00.0"]')
      .replace(/  # The classic bug[\s\S]*$/, '  - dma: { device: "02:00.0", pasid: 5, iova: 0x7f00_0000_0000, length: 4KiB, write: true }\n    expect: { fault: 0x59 }\n');
    const r = run(text);
    expect(failures(r)).toEqual([[], [], [], [], [], [], []]);
    const unbind = invalidations(r, 5);
    const piotlb = unbind.findIndex(([lo]) => (lo & 0xfn) === 0x6n);
    const dev = unbind.findIndex(([lo]) => (lo & 0xfn) === 0x8n);
    expect(piotlb).toBeGreaterThanOrEqual(0);
    expect(dev).toBeGreaterThan(piotlb);
    // devtlb_invalidation_with_pasid: addr 0, size order 64 - VTD_PAGE_SHIFT, queue depth 32 (ats_qdep).
    expect(unbind[dev]).toEqual(encodePdevIotlbDesc(DSA, 0, 5, 32, 0n, 52));
  });

  it("a first-level unmap flushes the Device-TLB without PASID (iommu_flush_iotlb_psi), so the next DMA faults", () => {
    const text = `name: sm ats unmap
host:
  memory: 32GiB
  iommu: { model: intel-vtd, address-width: 48, scalable: true, device-iotlb: true, ats: ["01:00.0"] }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: X710 NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: v
    memory: 4GiB
    devices: ["01:00.0"]
workload:
  - start: v
  - map: { vm: v, iova: 0x40_0000_0000, size: 64KiB, perm: rw, gpa: 0x2000_0000 }
  - dma: { device: "01:00.0", iova: 0x40_0000_0000, length: 4KiB, write: true }
    expect: { ok: true, iotlb: miss, pasid: none }
  - dma: { device: "01:00.0", iova: 0x40_0000_0000, length: 4KiB, write: true }
    expect: { ok: true, iotlb: device-tlb }
  - unmap: { vm: v, iova: 0x40_0000_0000, size: 64KiB }
  - dma: { device: "01:00.0", iova: 0x40_0000_0000, length: 4KiB, write: true }
    expect: { fault: 0x71 }
`;
    const r = run(text);
    expect(failures(r)).toEqual([[], [], [], [], [], []]);
    const unmap = invalidations(r, 4);
    const piotlb = unmap.findIndex(([lo]) => (lo & 0xfn) === 0x6n);
    const dev = unmap.findIndex(([lo]) => (lo & 0xfn) === 0x3n);
    expect(piotlb).toBeGreaterThanOrEqual(0);
    expect(dev).toBeGreaterThan(piotlb);
    expect(unmap[dev]).toEqual(encodeDevIotlbDesc(NIC, 0, 32, 0x40_0000_0000n, 4));
    // The Device-TLB entry was without PASID (RID_PASID's translation).
    expect(r.machine.iommu.tables().deviceTlb!.entries()).toEqual([]);
  });

  it("a Translated Request passes where DTE = 1 and faults 0x44 where DTE = 0, recorded without PASID", () => {
    const r = run(EXAMPLE);
    const rec = r.machine.iommu.faults().find((f) => f.reason === 0x44);
    expect(rec).toMatchObject({ sid: NIC });
    expect(rec?.pasid).toBeUndefined();
    const ok = run(UNTIL_UNBIND + '  - dma: { device: "02:00.0", iova: 0x3000_0000, length: 4KiB, translated: true }\n    expect: { ok: true, hpa: 0x3000_0000 }\n');
    expect(failures(ok).at(-1)).toEqual([]);
  });

  it("DTE cleared under a cached Device-TLB entry: the Translated Request the hit makes faults 0x44", () => {
    const r = run(UNTIL_UNBIND);
    const h = r.machine.hostIommu as VtdHost;
    const at = h.driver.smContextEntry(DSA);
    h.unit.mem.writeU64(at, (h.unit.mem.readU64(at) ?? 0n) & ~4n);
    h.unit.sm.ctx.clear(); // as a context-cache invalidation would
    h.unit.reqPasid = 5;
    const res = h.unit.translate(DSA, 0x7f00, 0, true);
    h.unit.reqPasid = -1;
    expect(res).toBe(0x44);
  });

  it("explain shows the Device-TLB answer and, after the forgotten invalidation, that the tables say otherwise", () => {
    const r = run(EXAMPLE.replace(/  - invalidate:[\s\S]*$/, ""));
    const t = r.machine.iommu.explain({ sid: DSA, iova: VA, write: true, pasid: 5 });
    expect(t.verdict).toMatchObject({ kind: "translated", deviceCached: true });
    expect(t.stale).toBe(true);
  });

  it("property: with Linux's invalidations every Device-TLB answer is the tables' answer (random DMA / unbind / rebind)", () => {
    const base = EXAMPLE.replace('ats: [{ device: "02:00.0", invalidate: false }]', 'ats: ["02:00.0"]').replace(/  - bind-pasid:[\s\S]*$/, "");
    const bind = (hpa: number) => `  - bind-pasid: { device: "02:00.0", pasid: 5, maps: [ { va: 0x7f00_0000_0000, size: 16KiB, perm: rw, hpa: ${hpa} } ] }\n`;
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant("dma" as const), fc.constant("rebind" as const)), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }), (ops, pages) => {
        let text = base + bind(0x1_0000_0000);
        let n = 0;
        ops.forEach((op, i) => {
          if (op === "dma") text += `  - dma: { device: "02:00.0", pasid: 5, iova: ${0x7f00_0000_0000 + (pages[i] ?? 0) * 4096}, length: 4KiB, write: true }\n`;
          else text += `  - unbind-pasid: { device: "02:00.0", pasid: 5 }\n${bind(0x1_0000_0000 + (++n) * 0x10_0000)}`;
        });
        const r = run(text);
        expect(r.outcomes.every((o) => !o.error)).toBe(true);
        expect(r.machine.iommu.tables().deviceTlb!.entries().filter((e) => e.stale)).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });

  it("bad input: a Translated Request with a PASID is refused (QEMU: translated request with PASID not allowed)", () => {
    const errors = parseScenario(UNTIL_UNBIND + '  - dma: { device: "02:00.0", pasid: 5, iova: 0x3000_0000, translated: true }\n', "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    expect(errors.map((d) => d.message)).toEqual(["a Translated Request carries no PASID"]);
    expect([errors[0]!.range.line, errors[0]!.range.column]).toEqual([42, 30]); // 0-based: the appended step's pasid key
  });
});
