// The Mapping Tables view reads the tables through the IOMMU contract (sim/iommu.ts tables(),
// VT-d: sim/vtd/inspect.ts). What a node says must be what the model does: random bytes written
// into a root, context or page-table entry on a mapped path, then the node's fields are checked
// against the VT-d layout (spec 9.1, 9.3, 9.8) and its verdict — corrupt (reserved bits, and the
// fault the model would give), leaf (and where it points), or a pointer — against the unit's own
// probe translation of an IOVA through that entry.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { treeChildren, type TreeContext } from "../../src/engine/trees.js";
import type { TableNode } from "../../src/sim/iommu.js";
import { vtdInspection } from "../../src/sim/vtd/inspect.js";
import { vtdUnit } from "../../src/sim/vtd/model.js";
import { bootedUnit } from "./helpers.js";

const SID = 0x0300; // 03:00.0
const IOVA = 0x0000_7f12_3456_7000n + 0x123n;
const q64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bits = (v: bigint, hi: number, lo: number) => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);

function setup(superpages: { "2M": boolean; "1G": boolean }) {
  const b = bootedUnit({ superpages });
  const d = b.driver.allocDomain();
  b.driver.attach(d, [SID]);
  b.driver.map(d, IOVA & ~0xfffn, 0x2_0000_0000n, 0x1000n, 3);
  return b;
}

/** The nodes on IOVA's path: root entry, context entry, domain, then one entry per level (top first). */
function path(root: TableNode, sid: number, iova: bigint): TableNode[] {
  const out: TableNode[] = [];
  let n: TableNode | undefined = root.child((sid >> 8).toString(16).padStart(2, "0"));
  if (n) out.push(n);
  n = n?.child((sid & 0xff).toString(16).padStart(2, "0"));
  if (n) out.push(n);
  n = n?.child("d");
  if (n) out.push(n);
  while (n && n.kind !== "not-present") {
    const level: number = n.kind === "domain" ? n.levels : n.kind === "pte" ? n.level - 1 : 0;
    if (level < 1) break;
    n = n.child(String(Number(bits(iova, 12 + 9 * level - 1, 12 + 9 * (level - 1)))));
    if (n) out.push(n);
  }
  return out;
}

function probe(unit: ReturnType<typeof setup>["unit"], iova: bigint, write: boolean) {
  const r = unit.translate(SID, Number(iova >> 32n), Number(iova & 0xffffffffn), write, true);
  return { reason: r, level: unit.level, hpa: (BigInt(unit.hpaHi >>> 0) << 32n) | BigInt(unit.hpaLo >>> 0) };
}

describe("tables(): every node is the model's decoding and the model's verdict", () => {
  it("a clean 4-level path: root entry -> context entry -> domain -> 4 entries down to the 4 KiB leaf", () => {
    const { unit } = setup({ "2M": true, "1G": true });
    const p = path(vtdInspection(unit).tables().root, SID, IOVA);
    expect(p.map((n) => n.kind)).toEqual(["root-entry", "context-entry", "domain", "pte", "pte", "pte", "pte"]);
    const leaf = p.at(-1)!;
    expect(leaf.kind === "pte" && leaf.leaf && leaf.target).toBe(0x2_0000_0000n);
    expect(p.every((n) => n.reserved === undefined)).toBe(true);
    expect(probe(unit, IOVA, true)).toMatchObject({ reason: 0, hpa: 0x2_0000_0123n });
  });

  for (const superpages of [{ "2M": true, "1G": true }, { "2M": false, "1G": false }]) {
    it(`random page-table entry bytes at any level (superpages 2M ${superpages["2M"]}, 1G ${superpages["1G"]}): fields, reserved bits and leaf agree with the walk`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), q64, fc.boolean(), (level, raw, write) => {
          const { unit, mem } = setup(superpages);
          const before = path(vtdInspection(unit).tables().root, SID, IOVA);
          const entry = before[3 + (4 - level)]!;
          const v = raw | 3n; // present for reads and writes: the walk gets to look at the rest
          mem.writeU64(Number(entry.address!), v);
          const after = path(vtdInspection(unit).tables().root, SID, IOVA);
          const n = after[3 + (4 - level)]!;
          expect(n.kind).toBe("pte");
          if (n.kind !== "pte") return;
          // Fields: the spec's layout (9.8), read here independently.
          const f = Object.fromEntries(n.fields.map((x) => [x.name, x.raw]));
          expect(n.raw).toEqual([v]);
          expect([f.R, f.W]).toEqual([bits(v, 0, 0), bits(v, 1, 1)]);
          // PS is a field of the SL-PDE and SL-PDPE only; bit 7 of an SL-PTE is ignored (VT-d 9.8).
          if (level === 2 || level === 3) expect(f.PS).toBe(bits(v, 7, 7));
          else expect(f.PS).toBeUndefined();
          expect(f.ADDR).toBe(bits(v, 47, 12)); // HAW 48
          // Verdict: the unit's probe through this entry.
          const r = probe(unit, IOVA, write);
          if (n.reserved) {
            expect(n.reserved.reason).toBe(0x0c);
            expect(n.reserved.bits[0]! & ~v).toBe(0n);
            expect(r).toMatchObject({ reason: 0x0c, level });
            expect(n.hasChildren).toBe(false);
          } else if (n.leaf) {
            if (r.reason === 0x0e) return; // the page lies in the interrupt window: the unit's later check
            expect(r.reason).toBe(0);
            expect(r.level).toBe(level);
            expect(r.hpa).toBe(n.target | (IOVA & (n.pageSize - 1n)));
            expect(n.pageSize).toBe(1n << BigInt(12 + 9 * (level - 1)));
          } else {
            // A pointer: the walk goes on below this level (whatever it finds there).
            expect(r.reason === 0x0c && r.level === level).toBe(false);
            expect(r.level).toBeLessThan(level);
            expect(n.hasChildren).toBe(true);
          }
        }),
        { numRuns: 150 },
      );
    });
  }

  it("PS = 1 at level 2 without 2 MiB superpages: PS is a reserved bit there, as the unit faults 0x0c (issue 15, item 2)", () => {
    const { unit, mem } = setup({ "2M": false, "1G": false });
    const l2 = path(vtdInspection(unit).tables().root, SID, IOVA)[5]!;
    mem.writeU64(Number(l2.address!), l2.raw[0]! | 0x80n);
    const n = path(vtdInspection(unit).tables().root, SID, IOVA)[5]!;
    expect(n.reserved).toEqual({ bits: [0x80n], reason: 0x0c });
    expect(n.kind === "pte" && n.leaf).toBe(false);
    expect(probe(unit, IOVA, false)).toMatchObject({ reason: 0x0c, level: 2 });
  });

  it("random root and context entry bytes: reserved bits shown exactly when the unit faults 0x0a / 0x0b", () => {
    fc.assert(
      fc.property(fc.boolean(), q64, q64, (isRoot, lo0, hi0) => {
        const { unit, mem } = setup({ "2M": true, "1G": true });
        const p = path(vtdInspection(unit).tables().root, SID, IOVA);
        const at = Number((isRoot ? p[0]! : p[1]!).address!);
        // Keep P = 1 and the pointer to the real next table, so only reserved bits (and fields) vary.
        const lo = (p[isRoot ? 0 : 1]!.raw[0]! & ~0xfffn) | (lo0 & 0xffen) | 1n | (lo0 & ~((1n << 48n) - 1n));
        const hi = isRoot ? hi0 & (hi0 >> 7n) : (p[1]!.raw[1]! & 0xffff07n) | (hi0 & 0xffffffffff000080n & (hi0 >> 3n));
        mem.writeU64(at, lo);
        mem.writeU64(at + 8, hi);
        const n = path(vtdInspection(unit).tables().root, SID, IOVA)[isRoot ? 0 : 1]!;
        expect(n.raw).toEqual([lo, hi]);
        const f = Object.fromEntries(n.fields.map((x) => [x.name, x]));
        if (isRoot) expect([f.P!.raw, f.CTP!.raw]).toEqual([1n, bits(lo, 63, 12)]);
        else {
          expect([f.P!.raw, f.FPD!.raw, f.T!.raw, f.SLPTPTR!.raw]).toEqual([1n, bits(lo, 1, 1), bits(lo, 3, 2), bits(lo, 63, 12)]);
          expect([f.AW!.raw, f.AW!.lo, f.DID!.raw, f.DID!.lo]).toEqual([bits(hi, 2, 0), 64, bits(hi, 23, 8), 72]);
        }
        const r = probe(unit, IOVA, false);
        const code = isRoot ? 0x0a : 0x0b;
        if (n.reserved) {
          expect(n.reserved.reason).toBe(code);
          expect(r.reason).toBe(code);
        } else expect(r.reason).not.toBe(code);
      }),
      { numRuns: 200 },
    );
  });

  it("the Mapping Tables view words a corrupt entry with the model's reserved bits and fault", () => {
    const b = setup({ "2M": false, "1G": false });
    const l2 = path(vtdInspection(b.unit).tables().root, SID, IOVA)[5]!;
    b.mem.writeU64(Number(l2.address!), l2.raw[0]! | 0x80n | (1n << 48n)); // PS, and an address bit above HAW 48 (bits 61:52 are ignored: QEMU VTD_SL_IGN_COM)
    const iommu = vtdUnit(b.unit, undefined, b.mem);
    const ctx = { machine: { unit: b.unit, mem: b.mem, iommu, hostUnits: { units: [iommu], names: ["dmar0"], unitOf: () => 0 }, pci: { devices: [], dmaAliases: () => [] } }, radix: "hex", scenario: { host: { kernel: "6.8" } } } as unknown as TreeContext;
    const ids = ["t/root/03/00/d", `t/root/03/00/d/${bits(IOVA, 47, 39)}`, `t/root/03/00/d/${bits(IOVA, 47, 39)}/${bits(IOVA, 38, 30)}`];
    const kids = treeChildren("tables", ids[2]!, ctx)!;
    const node = kids.find((k) => k.id === `${ids[2]}/${bits(IOVA, 29, 21)}`)!;
    expect(node.description).toBe("RW · reserved bits 0x1000000000080 set: fault 0x0c non-zero reserved fields in PTE");
    expect(node.collapsible).toBe(0);
    expect(node.color).toBe("errorForeground");
  });

  it("faults(): the fault recording registers as the hardware holds them, with the line Linux prints for each", () => {
    const { unit, driver } = setup({ "2M": true, "1G": true });
    const miss = 0x5000_0000n;
    expect(probe(unit, miss, false).reason).toBe(0x06);
    unit.translate(SID, 0, Number(miss), false);
    const [rec] = vtdInspection(unit).faults("6.8");
    expect(rec).toMatchObject({ index: 0, pending: true, sid: SID, reason: 0x06, address: miss, write: false });
    expect(rec!.dmesg).toEqual(["DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x50000000 [fault reason 0x06] PTE Read access is not set"]);
    expect(vtdInspection(unit).faults("4.9")[0]!.dmesg).toEqual(["DMAR: [DMA Read] Request device [03:00.0] fault addr 50000000 [fault reason 06] PTE Read access is not set"]);
    expect(rec!.fields.find((f) => f.name === "F")!.raw).toBe(1n);
    driver.serviceFaults();
    const [serviced] = vtdInspection(unit).faults("6.8");
    expect(serviced).toMatchObject({ pending: false, reason: 0x06 });
  });
});
