// VT-d Device-TLB / ATS (docs/vtd-device-tlb.md): Linux's qi_flush_dev_iotlb and
// qi_flush_dev_iotlb_pasid encodings against QEMU's decoding of the range (vtd_process_device_iotlb_desc),
// context entries with T = 01b for ATS endpoints, Translated Requests that skip the walk, the stale
// Device-TLB a forgotten invalidation leaves, and QEMU's reserved-bit and queue-width checks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { VtdHost } from "../../src/sim/vtd/host.js";
import { DeviceTlb, deviceTlbRange } from "../../src/sim/vtd/devtlb.js";
import { decodeDesc, encodeDevIotlbDesc, encodePdevIotlbDesc } from "../../src/sim/vtd/qi.js";
import { EventKind, LEVEL_DEVICE_TLB } from "../../src/trace/trace.js";
import { rowResult } from "../../src/trace/rowDisplay.js";
import { FSTS_IQE } from "../../src/sim/vtd/regs.js";
import { bootedUnit } from "./helpers.js";
import { EngineServer } from "../../src/engine/server.js";
import type { TreeNode } from "../../src/protocol/engine.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "device-tlb-stale.passthrough.yaml"), "utf8");
const IOVA = 0x40_0000_0000n;

function run(text: string) {
  const parsed = parseScenario(text, "x.passthrough.yaml");
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(parsed.scenario!).run!;
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

/** The DMA rows of workload step `step`. */
function dmaRows(r: ReturnType<typeof run>, step: number) {
  const t = r.machine.trace;
  const out = [];
  for (let i = 0; i < t.length; i++) {
    const row = t.row(i);
    if (row.kind === EventKind.Dma && row.step === step) out.push(row);
  }
  return out;
}

describe("Device-TLB invalidate descriptors", () => {
  it("qi_flush_dev_iotlb: SID [47:32], QDEP [20:16] (32 sent as 0), type 3; the address with ones below the size bit and S", () => {
    // 16 pages (mask 4) at 0x40_0000_0000: bits 12..14 set, bit 15 clear, S = 1.
    expect(encodeDevIotlbDesc(0x0300, 0, 32, IOVA, 4)).toEqual([0x0000_0300_0000_0003n, 0x40_0000_7001n]);
    expect(encodeDevIotlbDesc(0x0300, 0, 8, IOVA, 0)).toEqual([0x0000_0300_0008_0003n, 0x40_0000_0000n]);
    const d = decodeDesc(...encodeDevIotlbDesc(0x0300, 0, 8, IOVA, 4));
    expect(d).toMatchObject({ type: "dev-iotlb", sid: 0x0300, qdep: 8, size: true });
  });

  it("qi_flush_dev_iotlb_pasid: PASID [51:32], SID [31:16], QDEP [8:4], type 8; S is bit 11", () => {
    const [lo, hi] = encodePdevIotlbDesc(0x0300, 0, 0x12, 0, IOVA, 4);
    expect(lo).toBe((0x12n << 32n) | (0x0300n << 16n) | 0x8n);
    expect(hi).toBe(0x40_0000_7800n);
    expect(decodeDesc(lo, hi)).toMatchObject({ type: "pdev-iotlb", sid: 0x0300, pasid: 0x12, size: true, global: false });
  });

  it("QEMU decodes exactly the range Linux encodes (any aligned base, 1 to 2^20 pages)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 36n) - 1n }), fc.integer({ min: 0, max: 20 }), (pfn, mask) => {
        const base = (pfn >> BigInt(mask)) << BigInt(mask + 12);
        const want = { addr: base, size: 0x1000n << BigInt(mask) };
        const [, hi] = encodeDevIotlbDesc(0x100, 0, 32, base, mask);
        const d = decodeDesc(0x3n, hi);
        expect(d.type === "dev-iotlb" && deviceTlbRange(d.addr, d.size)).toEqual(want);
        const [plo, phi] = encodePdevIotlbDesc(0x100, 0, 1, 0, base, mask);
        const p = decodeDesc(plo, phi);
        expect(p.type === "pdev-iotlb" && deviceTlbRange(p.addr, p.size)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it("a Device-TLB drops exactly the entries a range overlaps, of the named device and PASID", () => {
    const t = new DeviceTlb();
    t.fill(0x300, -1, 0x40, 0x0000_0000, 0, 0x1000_0000, 1, 3); // 4 KiB at 0x40_0000_0000
    t.fill(0x300, -1, 0x40, 0x0020_0000, 0, 0x2000_0000, 2, 3); // 2 MiB at 0x40_0020_0000
    t.fill(0x301, -1, 0x40, 0x0000_0000, 0, 0x3000_0000, 1, 3);
    t.fill(0x300, 5, 0x40, 0x0000_0000, 0, 0x4000_0000, 1, 3);
    expect(t.lookup(0x300, -1, 0x40, 0x0021_2345)).toBeGreaterThanOrEqual(0);
    expect([t.hpaHi, t.hpaLo.toString(16)]).toEqual([0, "20012345"]);
    // A 4 KiB invalidation inside the 2 MiB entry drops all of it, nothing else.
    expect(t.invalidate(0x300, -1, 0x40_0030_0000n, 0x1000n)).toBe(1);
    expect(t.lookup(0x300, -1, 0x40, 0x0020_0000)).toBe(-1);
    expect(t.entries().map((e) => [e.sid, e.pasid])).toEqual([[0x300, -1], [0x300, 5], [0x301, -1]]);
    // G = 1: every PASID of the device, not its entries without PASID.
    expect(t.invalidate(0x300, 0, 0n, 1n << 52n, true)).toBe(1);
    expect(t.entries().map((e) => [e.sid, e.pasid])).toEqual([[0x300, -1], [0x301, -1]]);
  });

  it("reserved bits (QEMU VTD_INV_DESC_DEVICE_IOTLB_RSVD_LO) and ECAP.DT = 0 are Invalidation Queue Errors", () => {
    const { driver } = bootedUnit({ deviceTlb: true });
    expect(driver.submitRaw(encodeDevIotlbDesc(0x300, 0, 32, IOVA, 0))).toBe(true);
    const [lo, hi] = encodeDevIotlbDesc(0x300, 0, 32, IOVA, 0);
    expect(driver.submitRaw([lo | (1n << 4n), hi])).toBe(false);
    expect(driver.lastQiError?.fault).toBe(FSTS_IQE);
    const off = bootedUnit({ deviceTlb: false });
    expect(off.driver.submitRaw(encodeDevIotlbDesc(0x300, 0, 32, IOVA, 0))).toBe(false);
  });

  it("a PASID-based Device-TLB descriptor in a 128-bit queue is QEMU's width error", () => {
    const { driver } = bootedUnit({ deviceTlb: true });
    expect(driver.submitRaw(encodePdevIotlbDesc(0x300, 0, 1, 0, IOVA, 0))).toBe(false);
    expect(driver.lastQiWhy).toBe("vtd_inv_desc_reserved_check: 256-bit p-dev-iotlb inv desc in 128-bit invalidation queue");
  });
});

describe("ATS endpoints on a VT-d host", () => {
  it("examples/device-tlb-stale: a DMA after the unmap does not fault while the Device-TLB holds the translation", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], [], [], [], [], [], [], []]);
    // Step 3 (0-based 2): a Translation Request walked; step 4: a Translated Request, no walk.
    expect(dmaRows(r, 2).map((row) => row.level)).toEqual([1]);
    const hit = dmaRows(r, 3);
    expect(hit.map((row) => row.level)).toEqual([1 | LEVEL_DEVICE_TLB]);
    expect(rowResult(hit[0]!).text).toBe("Device-TLB (ATS)");
    // The forgotten invalidation: the unmap sent the IOTLB flush and no type-3 descriptor.
    const unmap = invalidations(r, 4);
    expect(unmap.length).toBeGreaterThan(0);
    expect(unmap.some(([lo]) => (lo & 0xfn) === 0x3n)).toBe(false);
    // The stale DMA went to the old HPA.
    expect(r.outcomes[5]!.firstHpa).toBe(r.outcomes[3]!.firstHpa);
    expect(r.outcomes[5]!.summary).toMatch(/1 from the device's Device-TLB \(ATS\)/);
  });

  it("Linux's unmap sends qi_flush_dev_iotlb after the IOTLB flush; the next DMA faults", () => {
    const r = run(EXAMPLE.replace('ats: [{ device: "03:00.0", invalidate: false }]', 'ats: ["03:00.0"]').replace(/  # The classic bug[\s\S]*$/, "  - dma: { device: \"03:00.0\", iova: 0x40_0000_0000, length: 4KiB, write: true }\n    expect: { fault: 0x05 }\n"));
    expect(r.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], [], [], [], [], []]);
    const unmap = invalidations(r, 4);
    const iotlb = unmap.findIndex(([lo]) => (lo & 0xfn) === 0x2n);
    const dev = unmap.findIndex(([lo]) => (lo & 0xfn) === 0x3n);
    expect(iotlb).toBeGreaterThanOrEqual(0);
    expect(dev).toBeGreaterThan(iotlb);
    // 64 KiB = 16 pages: mask 4 at pfn 0x4000000, sid 03:00.0, queue depth 32 sent as 0.
    expect(unmap[dev]).toEqual(encodeDevIotlbDesc(0x0300, 0, 32, IOVA, 4));
  });

  it("the ATS endpoint's context entry has T = 01b (CONTEXT_TT_DEV_IOTLB), the other device's T = 00b", () => {
    const text = EXAMPLE.replace('    - { bdf: "03:00.0"', '    - { bdf: "03:00.1", id: "15b3:1017", name: NIC fn1, parent: "00:01.0", driver: vfio-pci }\n    - { bdf: "03:00.0"').replace('devices: ["03:00.0"]', 'devices: ["03:00.0", "03:00.1"]');
    const r = run(text);
    const tables = r.machine.iommu.tables();
    const bus3 = tables.root.children().find((e) => e.kind === "root-entry" && e.bus === 3)!;
    const ctx = bus3.children().flatMap((c) => (c.kind === "context-entry" ? [[c.sid, c.translation]] : []));
    expect(ctx).toEqual([[0x300, "translated+device-TLB"], [0x301, "translated"]]);
  });

  it("Mapping Tables lists the Device-TLB entry, stale once the unmap left it behind", () => {
    const text = EXAMPLE.replace(/  # The classic bug[\s\S]*$/, "");
    const r = run(text);
    const dtlb = r.machine.iommu.tables().deviceTlb!;
    expect(dtlb.capacity).toBe(64);
    expect(dtlb.entries().map((e) => ({ sid: e.sid, iova: e.iova, pageSize: e.pageSize, stale: e.stale }))).toEqual([{ sid: 0x300, iova: IOVA, pageSize: 4096n, stale: true }]);
    const fresh = run(EXAMPLE.replace(/  - unmap:[\s\S]*$/, "")).machine.iommu.tables().deviceTlb!.entries();
    expect(fresh.map((e) => e.stale)).toEqual([false]);
  });

  it("explain: a Device-TLB answer is marked, and the trail is the walk the tables give now (stale after the unmap)", () => {
    const r = run(EXAMPLE.replace(/  # The classic bug[\s\S]*$/, ""));
    const t = r.machine.iommu.explain({ sid: 0x300, iova: IOVA, write: true });
    expect(t.verdict).toMatchObject({ kind: "translated", deviceCached: true, cached: false });
    expect(t.stale).toBe(true);
  });

  it("a translated request (AT = translated) passes only where the context entry has T = 01b; else fault 0x0D", () => {
    const text = EXAMPLE.replace(/  # Device-TLB miss[\s\S]*$/, "  - dma: { device: \"03:00.0\", iova: 0x2000_0000, length: 4KiB, write: true, translated: true }\n    expect: { ok: true, hpa: 0x2000_0000 }\n");
    expect(run(text).outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], [], []]);
    const noAts = run(text.replace(', ats: [{ device: "03:00.0", invalidate: false }]', "").replace("expect: { ok: true, hpa: 0x2000_0000 }", "expect: { fault: 0x0d }"));
    expect(noAts.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], [], []]);
  });

  it("a checkpoint keeps the Device-TLB: the unit's snapshot restores its entries", () => {
    const r = run(EXAMPLE.replace(/  # The classic bug[\s\S]*$/, ""));
    const unit = (r.machine.hostIommu as VtdHost).unit;
    const snap = unit.snapshot();
    unit.devtlb.clear();
    unit.restore(snap);
    expect(unit.devtlb.entries().map((e) => e.iova)).toEqual([IOVA]);
  });

  it("bad input: ats without device-iotlb, responds on VT-d, an unknown device", () => {
    const errors = (text: string) => parseScenario(text, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errors(EXAMPLE.replace("device-iotlb: true, ", ""))).toEqual(["ats needs a unit with device-TLB support (ECAP.DT)"]);
    // `responds: false` (a Device-TLB invalidation that never completes, ITE) is a key of a VT-d ATS
    // device too since the Invalidation Time-out model (invalidation-timeout.test.ts).
    const warn = parseScenario(EXAMPLE.replace('device: "03:00.0", invalidate: false', 'device: "03:00.0", responds: false'), "x.passthrough.yaml").diagnostics.map((d) => d.message);
    expect(warn).not.toContain('unknown key "responds" in an ATS device');
    expect(errors(EXAMPLE.replace('ats: [{ device: "03:00.0"', 'ats: [{ device: "03:00.7"'))).toEqual(["ATS device 03:00.7 is not a device in host.pci"]);
  });
});

describe("Mapping Tables: the Device-TLB node", () => {
  function tree(text: string, step: number) {
    const s = new EngineServer();
    s.handle("update", { uri: "u", version: 1, text });
    s.handle("setCursor", { uri: "u", step });
    return (id: string): TreeNode[] => s.handle("children", { uri: "u", view: "tables", ids: [id], radix: "hex", after: true })[0] ?? [];
  }

  it("shows the device's cached page, and warns when the unmap left it stale", () => {
    // After step 4 (0-based 3): cached and current; after the unmap and the stale DMA (step 6): stale.
    const before = tree(EXAMPLE, 3);
    const node = before("t").find((n) => n.id === "t/devtlb")!;
    expect([node.label, node.description, node.icon]).toEqual(["Device-TLB", "1 of 64 entries", "database"]);
    expect(before("t/devtlb").map((n) => n.label)).toEqual(["03:00.0 IOVA 0x4000000000"]);
    const after = tree(EXAMPLE, 5);
    expect(after("t").find((n) => n.id === "t/devtlb")!.description).toBe("1 of 64 entries · 1 stale");
    const leaf = after("t/devtlb")[0]!;
    expect(leaf.description).toMatch(/^→ HPA 0x[0-9a-f]+ · 4 KiB · .* · stale$/);
    expect(leaf.tooltip).toMatch(/without a device-TLB invalidation/);
    // A host without ATS endpoints has no such node.
    expect(tree(EXAMPLE.replace(', ats: [{ device: "03:00.0", invalidate: false }]', ""), 3)("t").some((n) => n.id === "t/devtlb")).toBe(false);
  });
});

describe("the trace's other readers of a Device-TLB row", () => {
  it("the trace export says device-tlb, with the leaf level (not the level column's bit 7)", () => {
    const s = new EngineServer();
    s.handle("update", { uri: "u", version: 1, text: EXAMPLE });
    const out = s.handle("traceExport", { uri: "u", filter: {}, format: "json", start: 0, count: 100 });
    const rows = (JSON.parse(out.text) as { rows?: { step: number; kind: string; result: string; level: number }[] } | { step: number; kind: string; result: string; level: number }[]);
    const list = Array.isArray(rows) ? rows : rows.rows ?? [];
    expect(list.filter((r) => r.kind === "dma").map((r) => [r.result, r.level])).toEqual([["walk", 1], ["device-tlb", 1], ["device-tlb", 1], ["fault", 1]]);
  });
});
