/**
 * The walk of one translation, stage by stage, as the hovers, Translate Address, the trace
 * webview's walk pane and the debugger's Translation scope show it: a thin adapter from the IOMMU
 * contract's verdict and trail (sim/iommu.ts) to those display shapes. The model decides and
 * records what it read (sim/vtd/model.ts); nothing here reads or interprets a table entry.
 *
 * When a cache answered (IOTLB or context cache), the stages are the walk a miss would do now, so
 * a stale IOTLB hit shows both the cached answer and what the tables say.
 */
import type { Machine } from "../sim/machine.js";
import type { Run } from "../sim/run.js";
import { F_WRITE } from "../trace/trace.js";
import type { IommuDecoders, StopCause, TrailEntry, TrailEntryKind, Translation } from "../sim/iommu.js";
import { pasidOfEvent } from "./traceTags.js";

export type WalkStageKind = TrailEntryKind;

export interface WalkStage {
  kind: WalkStageKind;
  /** The spec's name of the entry: "root entry", "context entry", "SL-PML4E" ... */
  name: string;
  /** Page-table level for `pte` stages (4 = PML4 in a 4-level table), 0 otherwise. */
  level: number;
  /** Index of the entry in its table (bus for root, devfn for context, IOVA bits for pte). */
  index: number;
  /** The index as every view prints it (indexText): "01" (bus), "00.0" (devfn), "0x100" (an SMMUv3 StreamID), "258". */
  indexText: string;
  /** HPA of the entry. */
  address: bigint;
  /** Raw entry: one qword for pte, two (lo, hi) for root/context; empty when it was not readable. */
  raw: bigint[];
  /** Decoded fields as [name, value] pairs, in the spec's bit order (the model's decoders). */
  fields: [string, string][];
  /** Why the walk stopped here, when it did. */
  stop?: string;
}

export interface WalkExplanation {
  sid: number;
  iova: bigint;
  write: boolean;
  stages: WalkStage[];
  /** 0 = translated; otherwise the fault reason the unit gives. */
  reason: number;
  /** The fault reason as the model names it ("0x05 PTE Write access is not set"); "" when translated. */
  reasonLabel: string;
  hpa?: bigint;
  /** Leaf level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) of a translation. */
  leafLevel?: number;
  /** The level whose entry faulted (0: no page-table entry decided). */
  faultLevel: number;
  /** Permissions of the translation (R = 1, W = 2). */
  perms: number;
  iotlbHit: boolean;
  kind: "translated" | "pass-through" | "untranslated" | "interrupt";
  domain?: number;
  /** Why the trail stopped (the model's classification), when it did. */
  cause?: StopCause;
  /** A cache answered and the tables now say otherwise. */
  stale: boolean;
  /** One line: "IOVA 0x… -> HPA 0x… (4 KiB page, walk)" or "fault 0x05: …". */
  summary: string;
  /** The contract's answer this was shaped from. */
  translation: Translation;
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** Explains how the machine's IOMMU translates (sid, iova) right now, without touching caches. */
export function explainWalk(m: Machine, sid: number, iova: bigint, write: boolean, pasid?: number): WalkExplanation {
  return fromTranslation(m.iommu.explain({ sid, iova, write, ...(pasid !== undefined ? { pasid } : {}) }), m.iommu);
}

/**
 * The walk of trace event `event`'s request as its transaction met the unit: the tables as its
 * step found them (they do not change inside a dma step), the caches after the step's earlier
 * transactions (Run.atEvent), so a hit is a hit where the trace row says so. Outside a dma step,
 * the state before the event's step.
 */
export function explainEvent(run: Run, event: number): WalkExplanation {
  const t = run.trace;
  const iova = (BigInt(t.aHi[event]!) << 32n) | BigInt(t.aLo[event]!);
  const pasid = pasidOfEvent(run, event);
  const explain = (m: Machine) => explainWalk(m, t.sid[event]!, iova, (t.flags[event]! & F_WRITE) !== 0, pasid);
  return run.atEvent(event, false, explain) ?? explain(run.machineBefore(t.step[event]!));
}

/**
 * The index of a trail entry as the views print it (the walk pane, hovers, the debugger's
 * Translation scope): the model's own text when it gives one (TrailEntry.indexText), else a bus in
 * hex for a root entry, a devfn ("00.0") for a context entry, the number for the others.
 */
export function indexText(e: Pick<TrailEntry, "kind" | "index" | "indexText">): string {
  if (e.indexText !== undefined) return e.indexText;
  if (e.kind === "root") return e.index.toString(16).padStart(2, "0");
  if (e.kind === "context") return `${(e.index >> 3).toString(16).padStart(2, "0")}.${e.index & 7}`;
  return String(e.index);
}

/** The display shape of a contract Translation; `names` is the model that named its fault reasons. */
export function fromTranslation(t: Translation, names: Pick<IommuDecoders, "reason">): WalkExplanation {
  const v = t.verdict;
  const { sid, iova, write } = t.request;
  const stop = t.trail.stop;
  const stages: WalkStage[] = t.trail.entries.map((e, i) => {
    const st: WalkStage = { kind: e.kind, name: e.name, level: e.level, index: e.index, indexText: indexText(e), address: e.address, raw: e.raw, fields: e.fields.map((f) => [f.name, f.meaning !== undefined ? `${f.value} (${f.meaning})` : f.value]) };
    if (stop !== undefined && stop.entry === i) st.stop = stop.why;
    return st;
  });
  const kind = v.kind === "fault" ? "translated" : v.kind;
  const out: WalkExplanation = { sid, iova, write, stages, reason: v.reason, reasonLabel: v.reason === 0 ? "" : names.reason(v.reason).label, faultLevel: v.kind === "fault" ? v.level : 0, perms: v.perms, iotlbHit: v.cached, kind, stale: t.stale, summary: "", translation: t };
  if (v.hpa !== undefined) out.hpa = v.hpa;
  if (v.kind === "translated") out.leafLevel = v.level;
  if (v.domain !== undefined) out.domain = v.domain;
  if (stop !== undefined) out.cause = stop.cause;
  if (kind === "interrupt") out.summary = `${hex(iova)} is in the interrupt range 0xfee00000-0xfeefffff: an interrupt request, not translated`;
  else if (kind === "untranslated") out.summary = "DMA remapping is not enabled (GSTS.TES = 0): the address goes to memory untranslated";
  else if (out.reason !== 0) {
    out.summary = `fault ${out.reasonLabel}${out.iotlbHit ? " (answered by the IOTLB)" : ""}`;
    if (!out.iotlbHit && stop !== undefined && stop.entry < 0) out.summary += `: ${stop.why}`;
  } else if (kind === "pass-through") {
    out.summary = `pass-through context: IOVA ${hex(iova)} = HPA ${hex(out.hpa ?? iova)}`;
  } else {
    const size = out.leafLevel === 3 ? "1 GiB" : out.leafLevel === 2 ? "2 MiB" : "4 KiB";
    out.summary = `IOVA ${hex(iova)} -> HPA ${hex(out.hpa ?? 0n)} (${size} page, ${out.iotlbHit ? "IOTLB hit" : "walk"})`;
  }
  // A cache answered and the tables say otherwise: say what they say, whatever the cached verdict.
  if (t.stale) out.summary += `; the tables now say: ${stop?.why ?? (t.trail.entries.length ? "another translation" : "no translation")} — a stale ${out.iotlbHit ? "IOTLB" : "context-cache"} entry`;
  return out;
}
