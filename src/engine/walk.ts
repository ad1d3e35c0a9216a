/**
 * The walk of one translation, stage by stage, as the Mapping Tables view, hovers, the trace
 * webview's walk diagram and the debugger's Translation scope show it: root entry -> context
 * entry -> each second-level page-table entry -> page, every entry read from simulated memory
 * with its address, raw value and decoded bits.
 *
 * The verdict (HPA or fault reason, IOTLB or walk) is the DMAR unit's own answer to a probe
 * translation — the model decides, this module only explains. The stages are read from the
 * tables as they are *now*, so a stale IOTLB hit shows both the cached answer and what the
 * tables would say.
 */
import type { Machine } from "../sim/machine.js";
import { faultLabel } from "../sim/machine.js";
import { XlateKind } from "../sim/vtd/unit.js";
import { formatSid } from "../sim/bdf.js";
import { decodeContextEntry, contextEntryReserved, rootEntryReserved, awToLevels } from "../sim/vtd/context.js";

export type WalkStageKind = "root" | "context" | "pte";

export interface WalkStage {
  kind: WalkStageKind;
  /** Page-table level for `pte` stages (4 = PML4 in a 4-level table), 0 otherwise. */
  level: number;
  /** Index of the entry in its table (bus for root, devfn for context, IOVA bits for pte). */
  index: number;
  /** HPA of the entry. */
  address: bigint;
  /** Raw entry: one qword for pte, two (lo, hi) for root/context. */
  raw: bigint[];
  /** Decoded fields as [name, value] pairs, in the spec's bit order. */
  fields: [string, string][];
  /** Why the walk stopped here, when it did. */
  stop?: string;
}

export interface WalkExplanation {
  sid: number;
  iova: bigint;
  write: boolean;
  stages: WalkStage[];
  /** 0 = translated; otherwise the VT-d fault reason the unit gives. */
  reason: number;
  hpa?: bigint;
  /** Leaf level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) of a translation. */
  leafLevel?: number;
  iotlbHit: boolean;
  kind: "translated" | "pass-through" | "untranslated" | "interrupt";
  domain?: number;
  /** One line: "IOVA 0x… -> HPA 0x… (4 KiB page, walk)" or "fault 0x05: …". */
  summary: string;
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const ADDR_MASK = 0x000ffffffffff000n;

/** Explains how the machine's IOMMU translates (sid, iova) right now, without touching caches. */
export function explainWalk(m: Machine, sid: number, iova: bigint, write: boolean): WalkExplanation {
  const unit = m.unit;
  const haw = unit.haw;
  const stages: WalkStage[] = [];
  const reason = unit.translate(sid, Number((iova >> 32n) & 0xffffffffn), Number(iova & 0xffffffffn), write, true);
  const xkind = unit.kind;
  const hpa = reason === 0 ? (BigInt(unit.hpaHi >>> 0) << 32n) | BigInt(unit.hpaLo >>> 0) : undefined;
  const leafLevel = reason === 0 ? unit.level : undefined;
  const iotlbHit = unit.iotlbHit;
  const kind = xkind === XlateKind.Interrupt ? "interrupt" : xkind === XlateKind.PassThrough ? "pass-through" : xkind === XlateKind.Untranslated ? "untranslated" : "translated";
  const out: WalkExplanation = { sid, iova, write, stages, reason, iotlbHit, kind, summary: "" };
  if (hpa !== undefined) out.hpa = hpa;
  if (leafLevel !== undefined) out.leafLevel = leafLevel;

  if (kind === "interrupt") {
    out.summary = `${hex(iova)} is in the interrupt range 0xfee00000-0xfeefffff: an interrupt request, not translated`;
    return out;
  }
  if (kind === "untranslated") {
    out.summary = "DMA remapping is not enabled (GSTS.TES = 0): the address goes to memory untranslated";
    return out;
  }

  // Root entry (VT-d 9.1): 128 bits per bus.
  const bus = sid >> 8;
  const rootAddr = BigInt(unit.rootTable) + BigInt(bus * 16);
  const rLo = m.mem.readU64(Number(rootAddr));
  const rHi = m.mem.readU64(Number(rootAddr) + 8);
  const root: WalkStage = { kind: "root", level: 0, index: bus, address: rootAddr, raw: [rLo ?? 0n, rHi ?? 0n], fields: [] };
  stages.push(root);
  if (rLo === undefined || rHi === undefined) {
    root.stop = "the root table is not readable memory";
    return finish(out);
  }
  root.fields.push(["P", String(rLo & 1n)], ["CTP", hex(rLo & ADDR_MASK)]);
  if ((rLo & 1n) === 0n) {
    root.stop = `root entry for bus ${bus.toString(16).padStart(2, "0")} not present`;
    return finish(out);
  }
  if (rootEntryReserved(rLo, rHi, haw)) {
    root.stop = "reserved bits set in the root entry";
    return finish(out);
  }

  // Context entry (VT-d 9.3): 128 bits per devfn.
  const devfn = sid & 0xff;
  const ctxAddr = (rLo & ADDR_MASK) + BigInt(devfn * 16);
  const cLo = m.mem.readU64(Number(ctxAddr));
  const cHi = m.mem.readU64(Number(ctxAddr) + 8);
  const ctx: WalkStage = { kind: "context", level: 0, index: devfn, address: ctxAddr, raw: [cLo ?? 0n, cHi ?? 0n], fields: [] };
  stages.push(ctx);
  if (cLo === undefined || cHi === undefined) {
    ctx.stop = "the context table is not readable memory";
    return finish(out);
  }
  const ce = decodeContextEntry(cLo, cHi);
  ctx.fields.push(
    ["P", ce.present ? "1" : "0"],
    ["FPD", ce.fpd ? "1" : "0"],
    // VT-d 9.3 (legacy mode): 00b second-level translation, translated requests blocked;
    // 01b the same plus device-TLB (ATS) requests; 10b pass-through; 11b reserved.
    ["T", `${ce.tt} (${ce.tt === 0 ? "second-level" : ce.tt === 1 ? "second-level + device-TLB" : ce.tt === 2 ? "pass-through" : "reserved"})`],
    ["SLPTPTR", hex(ce.slptptr)],
    ["AW", `${ce.aw} (${30 + 9 * ce.aw}-bit, ${awToLevels(ce.aw)}-level)`],
    ["DID", String(ce.did)],
  );
  if (!ce.present) {
    ctx.stop = `context entry for ${formatSid(sid)} not present`;
    return finish(out);
  }
  if (contextEntryReserved(cLo, cHi, haw)) {
    ctx.stop = "reserved bits set in the context entry";
    return finish(out);
  }
  out.domain = ce.did;
  if (ce.tt === 2) return finish(out);

  // Second-level page-table entries (VT-d 9.8), top level first.
  const levels = awToLevels(ce.aw);
  let table = ce.slptptr;
  for (let l = levels; l >= 1; l--) {
    const index = Number((iova >> BigInt(12 + 9 * (l - 1))) & 511n);
    const at = table + BigInt(index * 8);
    const v = m.mem.readU64(Number(at));
    const st: WalkStage = { kind: "pte", level: l, index, address: at, raw: [v ?? 0n], fields: [] };
    stages.push(st);
    if (v === undefined) {
      st.stop = "the page table is not readable memory";
      break;
    }
    const leaf = l === 1 || (l <= 3 && (v & 0x80n) !== 0n);
    st.fields.push(["R", String(v & 1n)], ["W", String((v >> 1n) & 1n)]);
    if (l <= 3) st.fields.push(["PS", String((v >> 7n) & 1n)]);
    st.fields.push(["ADDR", hex(v & ADDR_MASK)]);
    if ((v & 3n) === 0n) {
      st.stop = `level-${l} entry not present (R = W = 0)`;
      break;
    }
    // The walker's own masks (QEMU vtd_spte_rsvd / vtd_spte_rsvd_large): one source of truth.
    const large = leaf && l > 1 ? 1 : 0;
    const mask = (BigInt(unit.walker.rsvdHi[l * 2 + large]! >>> 0) << 32n) | BigInt(unit.walker.rsvdLo[l * 2 + large]! >>> 0);
    const rsvd = v & mask;
    if (rsvd !== 0n) {
      st.stop = `reserved bits ${hex(rsvd)} set`;
      break;
    }
    if (leaf) {
      if (write && (v & 2n) === 0n) st.stop = "write request, W = 0";
      else if (!write && (v & 1n) === 0n) st.stop = "read request, R = 0";
      break;
    }
    table = v & ADDR_MASK;
  }
  return finish(out);
}

function finish(out: WalkExplanation): WalkExplanation {
  if (out.reason !== 0) {
    out.summary = `fault ${faultLabel(out.reason)}${out.iotlbHit ? " (answered by the IOTLB)" : ""}`;
  } else if (out.kind === "pass-through") {
    out.summary = `pass-through context: IOVA ${hex(out.iova)} = HPA ${hex(out.hpa ?? out.iova)}`;
  } else {
    const size = out.leafLevel === 3 ? "1 GiB" : out.leafLevel === 2 ? "2 MiB" : "4 KiB";
    out.summary = `IOVA ${hex(out.iova)} -> HPA ${hex(out.hpa ?? 0n)} (${size} page, ${out.iotlbHit ? "IOTLB hit" : "walk"})`;
    if (out.iotlbHit) {
      const last = out.stages[out.stages.length - 1];
      if (last?.stop !== undefined) out.summary += `; the tables now say: ${last.stop} — a stale IOTLB entry`;
    }
  }
  return out;
}
