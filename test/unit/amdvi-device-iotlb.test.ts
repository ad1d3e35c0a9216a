// AMD-Vi device-side ATS: an ATS device (DTE I = 1) caches the IOMMU's answers to its translation
// requests in its own IOTLB, and its translated requests then bypass the IOTLB and the walk.
// INVALIDATE_IOTLB_PAGES (Linux __domain_flush_pages -> device_flush_iotlb) clears them; a driver
// that forgets it (host.iommu.ats invalidate: false) leaves the device writing freed pages. The
// views see it through the contract: tables().deviceIotlb, explain()'s stale verdict, the trace row.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { EventKind, LEVEL_DEVICE_TLB } from "../../src/trace/trace.js";
import { rowResult } from "../../src/trace/rowDisplay.js";
import { tableChildren } from "../../src/engine/trees/tables.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-ats-stale-iotlb.passthrough.yaml"), "utf8");
const NIC = 0x4100;
const IOVA = 0x40_0000_0000n;

function run(text: string) {
  const p = parseScenario(text, "x.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const r = runScenario(p.scenario!).run!;
  return { run: r, scenario: p.scenario! };
}

/** The DMA rows of the trace: [flags, reason, output address]. */
function dmaRows(r: ReturnType<typeof run>["run"]) {
  const t = r.trace;
  const rows: { flags: number; reason: number; level: number; hpa: bigint; step: number }[] = [];
  for (let i = 0; i < t.length; i++) if (t.kind[i] === EventKind.Dma) rows.push({ flags: t.flags[i]!, reason: t.reason[i]!, level: t.level[i]!, hpa: (BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!), step: t.step[i]! });
  return rows;
}

describe("a device IOTLB the driver never invalidates (examples/amd-ats-stale-iotlb)", () => {
  const { run: r, scenario } = run(EXAMPLE);

  it("the write after the unmap succeeds to the old host page, answered by the device's IOTLB", () => {
    expect(r.outcomes.every((o) => !o.expect || o.expect.pass)).toBe(true);
    const rows = dmaRows(r);
    expect(rows).toHaveLength(3);
    // The translation request walked; the next two were translated requests (no walk, level 0).
    expect((rows[0]!.level & LEVEL_DEVICE_TLB) !== 0).toBe(false);
    expect(rows[0]!.level).toBe(2); // a 2 MiB leaf (Linux maps the 2 MiB range with one level-2 PTE)
    expect(rows.slice(1).map((x) => (x.level & LEVEL_DEVICE_TLB) !== 0)).toEqual([true, true]);
    expect(rows[2]!.hpa).toBe(rows[0]!.hpa);
    expect(rowResult({ kind: EventKind.Dma, flags: rows[2]!.flags, reason: 0, level: rows[2]!.level }).text).toBe("Device-TLB (ATS)");
    // No INVALIDATE_IOTLB_PAGES was sent, so no event either.
    expect(r.machine.log.dmesg().filter((l) => l.includes("Event logged"))).toEqual([]);
  });

  it("Mapping Tables lists the stale entry under Device-TLB (the one device-side cache node of every model), with its device", () => {
    const t = r.machine.iommu.tables();
    const entries = t.deviceTlb!.entries();
    // Stale: the tables no longer map the IOVA (the unit's own walk, caches bypassed, says so).
    expect(entries.map((e) => [e.sid, e.iova, e.hpa, e.stale])).toEqual([[NIC, IOVA, dmaRows(r)[0]!.hpa & ~0xfffn, true]]);
    const ctx = { machine: r.machine, run: r, scenario, cursor: r.outcomes.length, radix: "hex" as const };
    const node = tableChildren("t", ctx)!.find((n) => n.id === "t/devtlb")!;
    expect(node.label).toBe("Device-TLB");
    expect(node.description).toBe("1 of 64 entries · 1 stale");
    const [leaf] = tableChildren("t/devtlb", ctx)!;
    expect(leaf!.label).toBe("41:00.0 IOVA 0x4000000000");
  });

  it("Translate Address: translated by the device's IOTLB, and stale (the tables say IO_PAGE_FAULT)", () => {
    const tr = r.machine.iommu.explain({ sid: NIC, iova: IOVA, write: true });
    expect(tr.verdict).toMatchObject({ kind: "translated", cached: false, deviceCached: true, hpa: dmaRows(r)[0]!.hpa });
    expect(tr.stale).toBe(true);
  });
});

describe("with the invalidation (Linux's behaviour)", () => {
  const text = EXAMPLE.replace(", invalidate: false", "").replace(/(length: 4KiB, write: true \}\n {4}expect: )\{ ok: true, iotlb: device-tlb \}\s*$/, "$1{ fault: 0x2, recorded: true }\n");

  it("INVALIDATE_IOTLB_PAGES empties the device's IOTLB; the write faults as a translation request (TR = 1)", () => {
    const { run: r } = run(text);
    expect(r.outcomes.every((o) => !o.expect || o.expect.pass)).toBe(true);
    expect(r.machine.iommu.tables().deviceTlb!.entries()).toEqual([]);
    const line = r.machine.log.dmesg().find((l) => l.includes("IO_PAGE_FAULT"))!;
    expect(line.replace(/^\[[ \d.]+\] /, "")).toBe("vfio-pci 0000:41:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0003 address=0x4000000000 flags=0x0120]");
  });

  it("a host without ATS devices has no device IOTLB in the contract", () => {
    const { run: r } = run(text.replace(/, ats: \[\{ device: "41:00\.0" \}\]/, ""));
    expect(r.machine.iommu.tables().deviceTlb).toBeUndefined();
    expect(dmaRows(r).some((x) => (x.level & LEVEL_DEVICE_TLB) !== 0)).toBe(false);
  });
});

describe("property: with the driver's invalidations, the device IOTLB never changes an outcome", () => {
  it("every DMA of a random map/unmap/dma sequence on an ATS device has the outcome of the same DMA without ATS", () => {
    const head = (ats: boolean) => `name: p
host:
  memory: 8GiB
  iommu: { model: amd-vi${ats ? ', ats: ["41:00.0"]' : ""} }
  pci:
    - { bdf: "40:01.1", kind: root-port, acs: true, secondary-bus: 0x41 }
    - { bdf: "41:00.0", id: "15b3:1017", name: NIC, parent: "40:01.1", driver: vfio-pci }
vms:
  - name: v
    memory: 1GiB
    devices: ["41:00.0"]
workload:
  - start: v
`;
    const op = fc.oneof(
      fc.record({ k: fc.constant("map" as const), page: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant("unmap" as const), page: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant("dma" as const), page: fc.integer({ min: 0, max: 3 }), write: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), (ops) => {
        const mapped = new Set<number>();
        const steps: string[] = [];
        for (const o of ops) {
          const iova = `0x${(0x10_0000 + o.page * 0x1000).toString(16)}`;
          if (o.k === "map" && !mapped.has(o.page)) {
            mapped.add(o.page);
            steps.push(`  - map: { vm: v, iova: ${iova}, size: 4KiB, perm: rw, gpa: 0x${(0x20_0000 + o.page * 0x1000).toString(16)} }`);
          } else if (o.k === "unmap" && mapped.has(o.page)) {
            mapped.delete(o.page);
            steps.push(`  - unmap: { vm: v, iova: ${iova}, size: 4KiB }`);
          } else if (o.k === "dma") steps.push(`  - dma: { device: "41:00.0", iova: ${iova}, length: 4KiB, write: ${o.write} }`);
        }
        const outcome = (ats: boolean) => dmaRows(run(head(ats) + steps.join("\n") + "\n").run).map((x) => [x.reason, x.reason === 0 ? x.hpa : 0n]);
        expect(outcome(true)).toEqual(outcome(false));
      }),
      { numRuns: 15 },
    );
  });
});
