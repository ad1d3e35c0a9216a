/**
 * Node construction every model's inspection half of the IOMMU contract (sim/iommu.ts
 * InspectTables) shares: nodes without children, unreadable tables, collapsed runs of
 * non-present entries, and one table level as the tree shows it (present entries as the model's
 * nodes, each run of non-present entries as one node). The decoding of entries stays the
 * model's; this only arranges the nodes.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { NotPresentNode, TableNode, UnreadableNode } from "./iommu.js";
import type { PhysicalMemory } from "./memory.js";

/** The NodeBase fields of a node without children (spread into the node). */
export const NO_CHILDREN = {
  hasChildren: false,
  children: (): TableNode[] => [],
  child: (): TableNode | undefined => undefined,
} as const;

/** A table the model cannot read at `address`: a walk through it faults with `reason`. */
export function unreadableNode(key: string, address: bigint | number, reason: number): UnreadableNode {
  return { kind: "unreadable", key, address: BigInt(address), raw: [], fields: [], reason, ...NO_CHILDREN };
}

/**
 * Entries first..last that are not present, as one node (`count` when they are not one
 * contiguous run; `more`: label, description, the IOVAs they cover).
 */
export function notPresentNode(key: string, first: number, last: number, count = last - first + 1, more: Partial<Pick<NotPresentNode, "label" | "description" | "iova">> = {}): NotPresentNode {
  return { kind: "not-present", key, raw: [], fields: [], first, last, count, ...more, ...NO_CHILDREN };
}

/** `n` consecutive 64-bit words at `at`, or undefined when any is not backed by memory. */
export function readWords(mem: PhysicalMemory, at: bigint | number, n: number): bigint[] | undefined {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const v = mem.readU64(Number(at) + 8 * i);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

/** One table level as tableLevelNodes lays it out. */
export interface TableLevel {
  /** Address of entry 0 and the number of 8-byte entries. */
  table: number;
  entries: number;
  /** IOVA of entry 0's range and the bytes one entry maps (the non-present runs' IOVA ranges). */
  iovaBase: bigint;
  span: bigint;
  /** The model's present bit(s). */
  present(v: bigint): boolean;
  /** The model's node of present entry `index` (value v). */
  node(index: number, v: bigint): TableNode;
  /** Key of the run first..last (default `n<first>-<last>`). */
  runKey?(first: number, last: number): string;
  /**
   * An entry that is not backed by memory: the node that ends the level there. Without it such an
   * entry reads as not present.
   */
  unreadable?(index: number, at: number): TableNode;
}

/** A table level's nodes: present entries in order, each run of non-present entries collapsed into one node. */
export function tableLevelNodes(mem: PhysicalMemory, l: TableLevel): TableNode[] {
  const out: TableNode[] = [];
  let runStart = -1;
  const closeRun = (end: number) => {
    if (runStart < 0) return;
    const iova = { first: l.iovaBase + BigInt(runStart) * l.span, last: l.iovaBase + BigInt(end + 1) * l.span - 1n };
    out.push(notPresentNode(l.runKey ? l.runKey(runStart, end) : `n${runStart}-${end}`, runStart, end, end - runStart + 1, { iova }));
    runStart = -1;
  };
  for (let i = 0; i < l.entries; i++) {
    const at = l.table + i * 8;
    const read = mem.readU64(at);
    if (read === undefined && l.unreadable) {
      closeRun(i - 1);
      out.push(l.unreadable(i, at));
      return out;
    }
    const v = read ?? 0n;
    if (!l.present(v)) {
      if (runStart < 0) runStart = i;
      continue;
    }
    closeRun(i - 1);
    out.push(l.node(i, v));
  }
  closeRun(l.entries - 1);
  return out;
}
