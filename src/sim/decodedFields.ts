/**
 * Field formatting every model's decoders and inspection halves share (sim/iommu.ts DecodedField,
 * DecodedWord, DomainNode): the hex text of a value, a bit field of a word as a DecodedField, the
 * fields of one qword of a wider entry (what a `poke` of that qword means), and the domain node
 * over a top table. What the bits mean stays each model's; this only formats them.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { DecodedField, DomainNode, TableNode } from "./iommu.js";

/** A value as the views write addresses and wide fields: 0x-prefixed lower-case hex. */
export const hexText = (v: bigint | number): string => `0x${v.toString(16)}`;

/** Bits hi:lo of `word` (hi >= lo, both in the word). */
export function bitsOf(word: bigint, hi: number, lo: number): bigint {
  return (word >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** A decoded field: its bit range, raw bits, the value as text and, when there is one, what it means. */
export function decodedField(name: string, hi: number, lo: number, raw: bigint, value: string, meaning?: string): DecodedField {
  return { name, hi, lo, raw, value, ...(meaning !== undefined ? { meaning } : {}) };
}

/**
 * The fields of qword `n` (bits 64n..64n+63) of an entry decoded whole: the decoders number a
 * wide entry's bits from its low qword, a poke writes one qword.
 */
export function qwordFields(fields: readonly DecodedField[], n: number): DecodedField[] {
  return fields.filter((f) => f.lo >= 64 * n && f.lo < 64 * (n + 1));
}

/** The domain node of a requester's translation: top table `top` of `levels` levels, its entries below. */
export function domainNode(d: { did: number; levels: number; top: bigint; topName: string; sharedWith: () => readonly number[]; children: () => TableNode[]; child: (key: string) => TableNode | undefined }): DomainNode {
  return {
    kind: "domain",
    key: "d",
    address: d.top,
    raw: [],
    fields: [],
    did: d.did,
    levels: d.levels,
    pageTable: d.top,
    topName: d.topName,
    // Scans every context entry or DTE: computed when a view asks for it, not when the node is made.
    get sharedWith() {
      return d.sharedWith();
    },
    hasChildren: true,
    children: d.children,
    child: d.child,
  };
}
