// The shared node construction of the contract's table trees (src/sim/inspectNodes.ts), which the
// VT-d (legacy and scalable), AMD-Vi and SMMUv3 trees use: one table level is its present
// entries in order with each run of non-present entries collapsed into one node that says which
// entries and IOVAs it covers; an unreadable entry ends the level where the model says so.
import { describe, expect, it } from "vitest";
import { NO_CHILDREN, notPresentNode, readWords, tableLevelNodes, unreadableNode } from "../../src/sim/inspectNodes.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import type { TableNode } from "../../src/sim/iommu.js";

const TABLE = 0x10000000;

function memWith(entries: Record<number, bigint>): PhysicalMemory {
  const mem = new PhysicalMemory({ poolBase: TABLE, poolMaxPages: 16, dramBytes: 2 ** 30 });
  for (const [i, v] of Object.entries(entries)) mem.writeU64(TABLE + Number(i) * 8, v);
  return mem;
}

const leaf = (i: number, v: bigint): TableNode => ({ kind: "unreadable", key: `e${i}`, address: v, raw: [], fields: [], reason: 0, ...NO_CHILDREN });

describe("tableLevelNodes", () => {
  it("collapses the non-present runs between present entries, with the IOVAs each covers", () => {
    const mem = memWith({ 2: 0x1001n, 3: 0x2001n, 511: 0x3001n, 7: 0x4000n });
    const nodes = tableLevelNodes(mem, { table: TABLE, entries: 512, iovaBase: 0x40000000n, span: 0x1000n, present: (v) => (v & 1n) !== 0n, node: leaf });
    expect(nodes.map((n) => n.key)).toEqual(["n0-1", "e2", "e3", "n4-510", "e511"]);
    expect(nodes[3]).toMatchObject({ kind: "not-present", first: 4, last: 510, count: 507, iova: { first: 0x40004000n, last: 0x401fefffn }, hasChildren: false });
    expect(nodes[3]!.children()).toEqual([]);
  });

  it("ends the level at an unreadable entry when the model says so, else reads it as not present", () => {
    // Four entries from 16 bytes below the end of backed memory: entries 2 and 3 are not backed.
    const memTop = new PhysicalMemory({ poolBase: TABLE, poolMaxPages: 1, dramBytes: TABLE + 0x1000 });
    const top = TABLE + 0x1000 - 16;
    const opts = { table: top, entries: 4, iovaBase: 0n, span: 0x1000n, present: (v: bigint) => (v & 1n) !== 0n, node: leaf };
    expect(memTop.readU64(top + 16)).toBeUndefined();
    const stop = tableLevelNodes(memTop, { ...opts, runKey: (f) => `np-${f}`, unreadable: (i, at) => unreadableNode(`t-${i}`, at, 0x23) });
    expect(stop.map((n) => n.key)).toEqual(["np-0", "t-2"]);
    expect(stop[1]).toMatchObject({ kind: "unreadable", address: BigInt(top + 16), reason: 0x23 });
    expect(tableLevelNodes(memTop, opts).map((n) => n.key)).toEqual(["n0-3"]);
  });

  it("builds absent-bus nodes and reads words only when all are backed", () => {
    expect(notPresentNode("absent", 3, 200, 5)).toMatchObject({ kind: "not-present", first: 3, last: 200, count: 5, hasChildren: false });
    const mem = new PhysicalMemory({ poolBase: TABLE, poolMaxPages: 1, dramBytes: TABLE + 0x1000 });
    mem.writeU64(TABLE + 0xff0, 7n);
    expect(readWords(mem, TABLE + 0xff0, 2)).toEqual([7n, 0n]);
    expect(readWords(mem, TABLE + 0xff0, 3)).toBeUndefined();
  });
});
