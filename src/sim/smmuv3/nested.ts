/**
 * The stage-2 walks of a nested stream's own fetches (SMMUv3 spec 3.4.4 / Arm ARM D8.2.10: with
 * stage 1 and stage 2 both on, the CD address and every stage-1 table descriptor address are IPAs,
 * each translated by a stage-2 walk before the read). translate() on the hot path walks them
 * without recording; with the trail on (explain) the unit keeps each such walk here, and the model
 * itemises them in the trail before the read they served, marked `nestedFor` (../iommu.ts).
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { toTrailField, type TrailEntry } from "../iommu.js";
import { descriptorFields, descriptorName } from "./spec.js";
import { levelShift, type StageWalker } from "./walk.js";

/**
 * The seam's number of a stage-2 nesting parent (IOMMU_HWPT_ALLOC_NEST_PARENT): 0x8000 | VMID, so
 * it never equals a stage-1 domain's ASID or a plain stage-2 domain's VMID (both count from 1;
 * host.ts asHost). Only the seam uses this number; what the user sees is nestParentLabel.
 */
export const NEST_PARENT_TAG = 0x8000;
export const nestParentDid = (vmid: number): number => NEST_PARENT_TAG | vmid;
/** A nesting parent as the user knows it: by the VMID its STEs and TLB invalidations carry (STE.S2VMID). */
export const nestParentLabel = (vmid: number): string => `S2 VMID ${vmid}`;

/** One stage-2 walk of a nested stream's fetch address. */
export interface NestedFetch {
  /** What was being fetched: the CD, or the stage-1 descriptor the stage-1 walk reads next (its trail index). */
  what: "cd" | "s1";
  s1Index: number;
  /** The stage-1 level of the descriptor fetched (what = "s1"). */
  s1Level: number;
  /** The IPA translated, and the walk's result (0 or an event id). */
  ipa: number;
  result: number;
  granule: number;
  /** The descriptors the stage-2 walk read (address, both halves, level). */
  reads: { address: number; lo: number; hi: number; level: number }[];
  /** The walk stopped on an unreadable table at this address and level. */
  unreadable: { address: number; level: number } | undefined;
}

/** Copies what the stage-2 walker `w` read for one fetch (explain only: allocates). */
export function captureNestedFetch(w: StageWalker, what: "cd" | "s1", s1Index: number, s1Level: number, ipa: number, result: number): NestedFetch {
  const reads: NestedFetch["reads"] = [];
  for (let i = 0; i < w.trailLen; i++) reads.push({ address: w.trailAddr[i]!, lo: w.trailLo[i]!, hi: w.trailHi[i]!, level: w.trailLevel[i]! });
  const unreadable = w.trailUnreadable ? { address: w.trailAddr[w.trailLen]!, level: w.trailLevel[w.trailLen]! } : undefined;
  return { what, s1Index, s1Level, ipa, result, granule: w.granule, reads, unreadable };
}

/** The name of what a nested fetch fetched: "CD", "S1 L1 table". */
export function nestedTarget(f: NestedFetch): string {
  return f.what === "cd" ? "CD" : `S1 L${f.s1Level} table`;
}

/** The trail entries of one nested fetch: its stage-2 descriptors, marked with what they translated. */
export function nestedEntries(f: NestedFetch, cLevel: (armLevel: number) => number): TrailEntry[] {
  const nestedFor = { of: nestedTarget(f), input: BigInt(f.ipa) };
  const ia = BigInt(f.ipa);
  const g = f.granule;
  const out: TrailEntry[] = f.reads.map((r) => {
    const v = (BigInt(r.hi) << 32n) | BigInt(r.lo);
    return { kind: "pte", name: descriptorName(v, r.level, true), level: cLevel(r.level), index: Number((ia >> BigInt(levelShift(r.level, g))) & ((1n << BigInt(g - 3)) - 1n)), address: BigInt(r.address), raw: [v], fields: descriptorFields(v, r.level, true, g).map(toTrailField), nestedFor };
  });
  if (f.unreadable) out.push({ kind: "pte", name: descriptorName(undefined, f.unreadable.level, true), level: cLevel(f.unreadable.level), index: 0, address: BigInt(f.unreadable.address), raw: [], fields: [], nestedFor });
  return out;
}
