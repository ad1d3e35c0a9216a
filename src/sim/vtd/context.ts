/**
 * Legacy-mode root and context entries (VT-d spec 9.1 / 9.3; Linux `struct root_entry`,
 * `struct context_entry`; QEMU `vtd_dev_to_context_entry`). 128 bits each, as two u64 words in
 * simulated memory: 256 root entries (one per bus) in the root table, 256 context entries (one
 * per devfn) in each context table.
 */
import { toTrailField, type DecodedField, type TrailField } from "../iommu.js";

export const ROOT_ENTRY_P = 1n;
export const CONTEXT_P = 1n;
export const CONTEXT_FPD = 1n << 1n;
/** Translation type, lo bits 3:2 (Linux CONTEXT_TT_*). */
export const CONTEXT_TT_MULTI_LEVEL = 0;
export const CONTEXT_TT_DEV_IOTLB = 1;
export const CONTEXT_TT_PASS_THROUGH = 2;

/** QEMU VTD_CONTEXT_ENTRY_RSVD_HI: bits 63:24 and bit 7 of the high word. */
export const CONTEXT_RSVD_HI = 0xffffffffff000080n;

export interface RootEntry {
  lo: bigint;
  hi: bigint;
  present: boolean;
  /** Context-table pointer (HPA). */
  ctp: bigint;
}

export interface ContextEntry {
  lo: bigint;
  hi: bigint;
  present: boolean;
  fpd: boolean;
  /** Translation type: 0 multi-level, 1 multi-level + device-TLB, 2 pass-through, 3 reserved. */
  tt: number;
  /** Second-level page-table pointer (HPA). */
  slptptr: bigint;
  /** Adjusted guest address width field: 1 = 39-bit/3-level, 2 = 48-bit/4-level, 3 = 57-bit/5-level. */
  aw: number;
  did: number;
}

export function hawMask(haw: number): bigint {
  return (1n << BigInt(haw)) - 1n;
}

const MASK64 = (1n << 64n) - 1n;

/** Reserved bits set in a root entry, [lo, hi]: QEMU VTD_ROOT_ENTRY_RSVD(aw) = 0xffe | ~HAW_MASK; legacy mode reserves all of hi. */
export function rootEntryReservedBits(lo: bigint, hi: bigint, haw: number): [bigint, bigint] {
  return [lo & ((0xffen | ~hawMask(haw)) & MASK64), hi];
}

export function rootEntryReserved(lo: bigint, hi: bigint, haw: number): boolean {
  const [l, h] = rootEntryReservedBits(lo, hi, haw);
  return l !== 0n || h !== 0n;
}

/** Reserved bits set in a context entry, [lo, hi]: QEMU VTD_CONTEXT_ENTRY_RSVD_LO(aw) = 0xff0 | ~HAW_MASK; RSVD_HI as above. */
export function contextEntryReservedBits(lo: bigint, hi: bigint, haw: number): [bigint, bigint] {
  return [lo & ((0xff0n | ~hawMask(haw)) & MASK64), hi & CONTEXT_RSVD_HI];
}

export function contextEntryReserved(lo: bigint, hi: bigint, haw: number): boolean {
  const [l, h] = contextEntryReservedBits(lo, hi, haw);
  return l !== 0n || h !== 0n;
}

const hexOf = (v: bigint) => `0x${v.toString(16)}`;

/** The positions of the set bits of a 128-bit entry (`hi` counts from 64) as the spec writes ranges: "63:52, 7". */
export function bitRanges(lo: bigint, hi = 0n): string {
  const v = (hi << 64n) | lo;
  const out: string[] = [];
  for (let b = 127; b >= 0; b--) {
    if (((v >> BigInt(b)) & 1n) === 0n) continue;
    let e = b;
    while (e > 0 && ((v >> BigInt(e - 1)) & 1n) === 1n) e--;
    out.push(e === b ? String(b) : `${b}:${e}`);
    b = e;
  }
  return out.join(", ");
}

/** VT-d 9.3 (legacy mode) translation types. */
export function translationTypeName(tt: number): string {
  return tt === CONTEXT_TT_MULTI_LEVEL ? "second-level" : tt === CONTEXT_TT_DEV_IOTLB ? "second-level + device-TLB" : tt === CONTEXT_TT_PASS_THROUGH ? "pass-through" : "reserved";
}

/** The bits hi:lo of `v` (hi >= lo, both within the qword). */
function bitsOf(v: bigint, hi: number, lo: number): bigint {
  return (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

function layoutField(name: string, v: bigint, hi: number, lo: number, base = 0, value?: (raw: bigint) => string, meaning?: (raw: bigint) => string): DecodedField {
  const raw = bitsOf(v, hi, lo);
  const m = meaning?.(raw);
  return { name, hi: hi + base, lo: lo + base, raw, value: value ? value(raw) : raw.toString(), ...(m ? { meaning: m } : {}) };
}
const addrValue = (r: bigint) => hexOf(r << 12n);

/**
 * The field layout of a legacy-mode root entry (VT-d 9.1): P [0], CTP [63:12]; the high qword is
 * reserved. The one layout: the walk trail (rootEntryFields) and the tables tree (inspect.ts) read it.
 */
export function rootEntryLayout(lo: bigint): DecodedField[] {
  return [layoutField("P", lo, 0, 0), layoutField("CTP", lo, 63, 12, 0, addrValue)];
}

/** The field layout of a legacy-mode context entry (VT-d 9.3): P, FPD, T, SLPTPTR in the low qword; AW, DID in the high one. */
export function contextEntryLayout(lo: bigint, hi: bigint): DecodedField[] {
  return [
    layoutField("P", lo, 0, 0),
    layoutField("FPD", lo, 1, 1),
    layoutField("T", lo, 3, 2, 0, undefined, (r) => translationTypeName(Number(r))),
    layoutField("SLPTPTR", lo, 63, 12, 0, addrValue),
    layoutField("AW", hi, 2, 0, 64, undefined, (r) => `${awToWidth(Number(r))}-bit, ${awToLevels(Number(r))}-level`),
    layoutField("DID", hi, 23, 8, 64),
  ];
}

/** A root entry's fields as the walk trail shows them, with the reserved bits that are set (`haw`: the unit's host address width). */
export function rootEntryFields(lo: bigint, hi: bigint, haw: number): TrailField[] {
  const out = rootEntryLayout(lo).map(toTrailField);
  const [rl, rh] = rootEntryReservedBits(lo, hi, haw);
  if (rl !== 0n || rh !== 0n) out.push({ name: "reserved", bits: bitRanges(rl, rh), value: rh !== 0n ? `${hexOf(rh)}:${hexOf(rl)}` : hexOf(rl), meaning: "set: fault 0x0a" });
  return out;
}

/** A context entry's fields as the walk trail shows them (VT-d 9.3, legacy mode), with the reserved bits that are set. */
export function contextEntryFields(lo: bigint, hi: bigint, haw: number): TrailField[] {
  const out = contextEntryLayout(lo, hi).map(toTrailField);
  const [rl, rh] = contextEntryReservedBits(lo, hi, haw);
  if (rl !== 0n || rh !== 0n) out.push({ name: "reserved", bits: bitRanges(rl, rh), value: rh !== 0n ? `${hexOf(rh)}:${hexOf(rl)}` : hexOf(rl), meaning: "set: fault 0x0b" });
  return out;
}

export function decodeRootEntry(lo: bigint, hi: bigint): RootEntry {
  return { lo, hi, present: (lo & ROOT_ENTRY_P) !== 0n, ctp: lo & ~0xfffn };
}

export function decodeContextEntry(lo: bigint, hi: bigint): ContextEntry {
  return {
    lo,
    hi,
    present: (lo & CONTEXT_P) !== 0n,
    fpd: (lo & CONTEXT_FPD) !== 0n,
    tt: Number((lo >> 2n) & 3n),
    slptptr: lo & ~0xfffn,
    aw: Number(hi & 7n),
    did: Number((hi >> 8n) & 0xffffn),
  };
}

export function encodeContextEntry(e: { slptptr: bigint; tt: number; aw: number; did: number; fpd?: boolean }): [bigint, bigint] {
  const lo = (e.slptptr & ~0xfffn) | (BigInt(e.tt & 3) << 2n) | (e.fpd ? CONTEXT_FPD : 0n) | CONTEXT_P;
  const hi = (BigInt(e.did & 0xffff) << 8n) | BigInt(e.aw & 7);
  return [lo, hi];
}

/** Levels of a second-level table for a context AW value (QEMU: 2 + AW). */
export function awToLevels(aw: number): number {
  return 2 + aw;
}

/** Input address width for a context AW value: 30 + 9 * AW (39, 48, 57). */
export function awToWidth(aw: number): number {
  return 30 + 9 * aw;
}

export function widthToAw(width: number): number {
  return (width - 30) / 9;
}
