/**
 * VT-d scalable mode (RTADDR.TTM = 01): scalable-mode root entries (lower and upper context
 * tables), 256-bit scalable-mode context entries, the PASID directory and 512-bit PASID table
 * entries, and the translation a DMAR unit does with them: PGTT first-level, second-level, nested
 * or pass-through. Field layouts from the VT-d spec 9.4 - 9.6 as QEMU (`VTD_SM_*`,
 * hw/i386/intel_iommu_internal.h) and VirtualBox (include/VBox/iommu-intel.h `VTD_BF_*_SM_*`)
 * name them; ../reference/iommu-reference.md §1.8.
 *
 * One walk per format: the second-level stage is SlptWalker / the WebAssembly translate core (the
 * legacy walk), the first-level stage FlptWalker (flpt.ts), and nested = first level whose table
 * addresses and output go through that same second-level walk. Caches: the context cache holds
 * scalable context entries per requester, the PASID cache PASID entries per (requester, PASID),
 * and the IOTLB (the unit's one, in the core's memory) is tagged per (DID, PASID): each pair gets
 * an IOTLB tag, so a lookup and a fill are the core's own, and the invalidations drop the tags of
 * the domain (IOTLB descriptor: second-level and pass-through PASIDs) or of one PASID
 * (PASID-based IOTLB descriptor: first-level and nested).
 *
 * Fault reasons are the scalable-mode codes (0x30 and up) as Linux's dma_remap_sm_fault_reasons[]
 * names them; QEMU's emulation reports the legacy codes for root/context and second-level faults in
 * scalable mode, the hardware the SM ones (see docs/scalable-mode.md).
 */
import { toTrailField, type DecodedField, type StopCause, type TrailField } from "../iommu.js";
import { awToLevels, awToWidth, bitRanges, hawMask } from "./context.js";
import { flWidth, secondLevelTrail, smSecondLevelReason, type FlRequest, type NestParent } from "./flpt.js";
import { sagawBit } from "./regs.js";
import {
  VTD_FR_FS_NON_CANONICAL,
  VTD_FR_FS_PAGING_ENTRY_INV,
  VTD_FR_FS_PAGING_ENTRY_P,
  VTD_FR_FS_PAGING_ENTRY_RSVD,
  VTD_FR_FS_PAGING_ENTRY_US,
  VTD_FR_PASID_DIR_ACCESS_ERR,
  VTD_FR_PASID_DIR_ENTRY_P,
  VTD_FR_PASID_ENTRY_FSPTPTR_INV,
  VTD_FR_PASID_ENTRY_P,
  VTD_FR_PASID_TABLE_ACCESS_ERR,
  VTD_FR_PASID_TABLE_ENTRY_INV,
  VTD_FR_SM_ADDR_BEYOND_MAX,
  VTD_FR_SM_CONTEXT_ENTRY_INV,
  VTD_FR_SM_SL_ADDR_BEYOND,
  VTD_FR_SM_CONTEXT_ACCESS_ERR,
  VTD_FR_SM_CONTEXT_ENTRY_P,
  VTD_FR_SM_CONTEXT_ENTRY_RSVD,
  VTD_FR_SM_DTE_CLEAR,
  VTD_FR_SM_ERE_CLEAR,
  VTD_FR_SM_EXECUTE,
  VTD_FR_SM_INTERRUPT_ADDR,
  VTD_FR_SM_NESTED_FL_BEYOND,
  VTD_FR_SM_NESTED_FL_READ,
  VTD_FR_SM_NESTED_FL_TOP_READ,
  VTD_FR_SM_PASIDE_CLEAR,
  VTD_FR_SM_PRE_CLEAR,
  VTD_FR_SM_PASID_DIR_ENTRY_RSVD,
  VTD_FR_SM_PASID_ENTRY_RSVD,
  VTD_FR_SM_PASID_TOO_LARGE,
  VTD_FR_SM_READ,
  VTD_FR_SM_ROOT_ACCESS_ERR,
  VTD_FR_SM_ROOT_ENTRY_P,
  VTD_FR_SM_ROOT_ENTRY_RSVD,
  VTD_FR_SM_SLPTPTR_INV,
  VTD_FR_SM_SL_ACCESS_ERR,
  VTD_FR_SM_SL_PERM,
  VTD_FR_SM_SL_RSVD,
  VTD_FR_SM_SRE_CLEAR,
  VTD_FR_SM_WRITE,
  VTD_FR_READ,
  VTD_FR_WRITE,
} from "./reasons.js";
import { FaultFate, PageRequestFate, XlateKind, XlateStage, type DmarUnit } from "./unit.js";

/** RTADDR bits 11:10, TTM: 00 legacy, 01 scalable (Linux DMA_RTADDR_SMT = bit 10; QEMU VTD_RTADDR_SMT). */
export const RTADDR_SMT = 1n << 10n;

/** PASID entry PGTT values (VT-d 9.6; QEMU VTD_SM_PASID_ENTRY_FLT/SLT/NESTED/PT; Linux PASID_ENTRY_PGTT_*). */
export const PGTT_FL = 1;
export const PGTT_SL = 2;
export const PGTT_NESTED = 3;
export const PGTT_PT = 4;

/** Linux IOMMU_NO_PASID (include/linux/iommu.h; older kernels PASID_RID2PASID): the RID_PASID it programs. */
export const IOMMU_NO_PASID = 0;

export function pgttName(pgtt: number): string {
  return ["reserved", "first-level", "second-level", "nested", "pass-through"][pgtt] ?? "reserved";
}

const MASK64 = (1n << 64n) - 1n;
const aboveHaw = (haw: number) => ~hawMask(haw) & MASK64;

/** Reserved bits of a scalable-mode root entry, [lo, hi]: each half is P [0], CTP [63:12]; QEMU VTD_ROOT_ENTRY_RSVD(aw) = 0xffe | ~HAW_MASK on both. */
export function smRootEntryReservedBits(lo: bigint, hi: bigint, haw: number): [bigint, bigint] {
  const m = 0xffen | aboveHaw(haw);
  return [lo & m, hi & m];
}

/** Reserved bits of a scalable-mode context entry (4 qwords): val[0] 0x1e0 | ~HAW (QEMU VTD_SM_CONTEXT_ENTRY_RSVD_VAL0), val[1] 63:21, val[2], val[3] all. */
export function smContextReservedBits(v: readonly bigint[], haw: number): bigint[] {
  return [(v[0] ?? 0n) & (0x1e0n | (aboveHaw(haw) & ~0xfffn)), (v[1] ?? 0n) & 0xffffffffffe00000n, v[2] ?? 0n, v[3] ?? 0n];
}

/** Reserved bits of a PASID directory entry: 11:2 and above HAW (VT-d 9.5). */
export function pasidDirReservedBits(v: bigint, haw: number): bigint {
  return v & (0xffcn | aboveHaw(haw));
}

/**
 * Reserved bits of a PASID table entry (8 qwords, VT-d 9.6): val[0] 11:10 and SLPTPTR above HAW;
 * val[1] 22:16; val[2] 11:8 and FLPTPTR above HAW; val[3] .. val[7] (no field this model knows).
 */
export function pasidEntryReservedBits(v: readonly bigint[], haw: number): bigint[] {
  const a = aboveHaw(haw) & ~0xfffn;
  return [(v[0] ?? 0n) & (0xc00n | a), (v[1] ?? 0n) & 0x7f0000n, (v[2] ?? 0n) & (0xf00n | a), v[3] ?? 0n, v[4] ?? 0n, v[5] ?? 0n, v[6] ?? 0n, v[7] ?? 0n];
}

function field(name: string, v: bigint, hi: number, lo: number, base: number, value?: (raw: bigint) => string, meaning?: (raw: bigint) => string | undefined): DecodedField {
  const raw = (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
  const m = meaning?.(raw);
  return { name, hi: hi + base, lo: lo + base, raw, value: value ? value(raw) : raw.toString(), ...(m ? { meaning: m } : {}) };
}
const addr = (r: bigint) => `0x${(r << 12n).toString(16)}`;
const hexv = (r: bigint) => `0x${r.toString(16)}`;

/** Scalable-mode root entry (VT-d 9.2): LP [0], LCTP [63:12], UP [64], UCTP [127:76]. */
export function smRootEntryLayout(lo: bigint, hi: bigint): DecodedField[] {
  return [field("LP", lo, 0, 0, 0), field("LCTP", lo, 63, 12, 0, addr, () => "devfn 00-7f"), field("UP", hi, 0, 0, 64), field("UCTP", hi, 63, 12, 64, addr, () => "devfn 80-ff")];
}

/** Scalable-mode context entry (VT-d 9.4): P, FPD, DTE, PASIDE, PRE, PDTS, PASIDDIRPTR; RID_PASID, RID_PRIV. */
export function smContextEntryLayout(v: readonly bigint[]): DecodedField[] {
  const v0 = v[0] ?? 0n;
  const v1 = v[1] ?? 0n;
  return [
    field("P", v0, 0, 0, 0),
    field("FPD", v0, 1, 1, 0),
    field("DTE", v0, 2, 2, 0),
    field("PASIDE", v0, 3, 3, 0, undefined, (r) => (r ? "requests with PASID allowed" : "requests with PASID blocked")),
    field("PRE", v0, 4, 4, 0),
    field("PDTS", v0, 11, 9, 0, undefined, (r) => `${1 << (Number(r) + 7)} directory entries`),
    field("PASIDDIRPTR", v0, 63, 12, 0, addr),
    field("RID_PASID", v1, 19, 0, 64, hexv, () => "PASID of requests without PASID"),
    field("RID_PRIV", v1, 20, 20, 64, undefined, (r) => (r ? "supervisor" : "user")),
  ];
}

/** PASID directory entry (VT-d 9.5): P, FPD, SMPTBLPTR. */
export function pasidDirEntryLayout(v: bigint): DecodedField[] {
  return [field("P", v, 0, 0, 0), field("FPD", v, 1, 1, 0), field("SMPTBLPTR", v, 63, 12, 0, addr)];
}

/** PASID table entry (VT-d 9.6), the fields this model uses. */
export function pasidEntryLayout(v: readonly bigint[]): DecodedField[] {
  const v0 = v[0] ?? 0n;
  const v1 = v[1] ?? 0n;
  const v2 = v[2] ?? 0n;
  return [
    field("P", v0, 0, 0, 0),
    field("FPD", v0, 1, 1, 0),
    field("AW", v0, 4, 2, 0, undefined, (r) => `${awToWidth(Number(r))}-bit, ${awToLevels(Number(r))}-level second level`),
    field("SLEE", v0, 5, 5, 0),
    field("PGTT", v0, 8, 6, 0, undefined, (r) => pgttName(Number(r))),
    field("SLADE", v0, 9, 9, 0),
    field("SLPTPTR", v0, 63, 12, 0, addr),
    field("DID", v1, 15, 0, 64),
    field("PWSNP", v1, 23, 23, 64, undefined, (r) => (r ? "page walks snooped" : "page walks not snooped: an A/D update faults")),
    field("SRE", v2, 0, 0, 128, undefined, (r) => (r ? "supervisor requests allowed" : "supervisor requests blocked")),
    field("ERE", v2, 1, 1, 128),
    field("FLPM", v2, 3, 2, 128, undefined, (r) => (r === 0n ? "4-level" : r === 1n ? "5-level" : "reserved")),
    field("WPE", v2, 4, 4, 128, undefined, (r) => (r ? "supervisor writes honour R/W" : undefined)),
    field("NXE", v2, 5, 5, 128),
    field("FLPTPTR", v2, 63, 12, 128, addr),
  ];
}

function withReserved(fields: TrailField[], rsvd: readonly bigint[], reason: number): TrailField[] {
  const parts: string[] = [];
  rsvd.forEach((r, i) => {
    if (r !== 0n) parts.push(bitRanges(r << BigInt(64 * i)));
  });
  if (parts.length > 0) fields.push({ name: "reserved", bits: parts.join(", "), value: rsvd.map(hexv).join(" "), meaning: `set: fault 0x${reason.toString(16)}` });
  return fields;
}

// ---------------------------------------------------------------- caches

/** A cached scalable-mode context entry. */
export interface SmContext {
  pasidDir: number;
  pdts: number;
  paside: boolean;
  /** DTE (bit 2): the device's Translation and Translated Requests (ATS) are allowed (VT-d 9.4). */
  dte: boolean;
  /** PRE (bit 4): the device's page requests (PRI) are allowed (VT-d 9.4). */
  pre: boolean;
  ridPasid: number;
  ridPriv: boolean;
  fpd: boolean;
}

/** A cached PASID entry (with what the directory entry added). */
export interface SmPasid {
  did: number;
  pgtt: number;
  fpd: boolean;
  slRoot: number;
  slLevels: number;
  slWidth: number;
  flRoot: number;
  flLevels: number;
  sre: boolean;
  ere: boolean;
  wpe: boolean;
  nxe: boolean;
  /** SLADE: the second-level walk sets A and D (slpt.ts updateAD). */
  slade: boolean;
  /** PWSNP (bit 87): page walks snooped; 0: an A/D update is fault 0x7c / 0x90 (slpt.ts / flpt.ts adNoSnoop). */
  pwsnp: boolean;
  /** IOTLB tag of (DID, PASID). */
  tag: number;
  /** IOTLB tag of (DID, PASID)'s supervisor-only first-level translations (0: none yet; SmState.privTag). */
  privTag: number;
}

export interface SmSnapshot {
  ctx: [number, SmContext][];
  pc: [number, SmPasid][];
  tags: [number, number][];
}

/** Key offset of a supervisor-only tag (above DID * 2^20 + PASID < 2^36). */
const PRIV_KEY = 2 ** 36;

/** The scalable-mode caches of a unit, and its IOTLB tags. */
export class SmState {
  /** Context cache: requester id -> scalable context entry. */
  readonly ctx = new Map<number, SmContext>();
  /** PASID cache: sid * 2^20 + PASID -> PASID entry. */
  readonly pc = new Map<number, SmPasid>();
  /** IOTLB tag of DID * 2^20 + PASID (tags 1..65535 take the place of the legacy IOTLB's DID). */
  readonly tags = new Map<number, number>();
  /** Per tag: DID, PASID, whether it caches first-level/nested translations, and whether nested ones. */
  private info: { did: number; pasid: number; fl: boolean; nested: boolean }[] = [];

  tag(did: number, pasid: number, fl: boolean, nested = false): number {
    const key = did * 1048576 + pasid;
    let t = this.tags.get(key);
    if (t === undefined) {
      t = this.tags.size + 1;
      if (t > 0xffff) return 0; // out of tags: the translation is not cached
      this.tags.set(key, t);
      this.info[t] = { did, pasid, fl, nested };
    }
    const i = this.info[t]!;
    if (i.fl !== fl) i.fl = fl;
    if (i.nested !== nested) i.nested = nested;
    return t;
  }

  /**
   * The tag of (DID, PASID)'s supervisor-only first-level translations: a key of its own in `tags`
   * (PRIV_KEY above every DID * 2^20 + PASID), so invalidations and snapshots treat it as the
   * PASID's. `alloc` false: 0 unless it exists.
   */
  privTag(did: number, pasid: number, alloc: boolean): number {
    const key = PRIV_KEY + did * 1048576 + pasid;
    let t = this.tags.get(key);
    if (t === undefined) {
      if (!alloc) return 0;
      t = this.tags.size + 1;
      if (t > 0xffff) return 0; // out of tags: not cached
      this.tags.set(key, t);
      this.info[t] = { did, pasid, fl: true, nested: this.info[this.tags.get(did * 1048576 + pasid) ?? 0]?.nested ?? false };
    }
    return t;
  }

  /** DID and PASID a tag stands for, and whether it caches first-level / nested translations. */
  tagInfo(tag: number): { did: number; pasid: number; fl: boolean; nested: boolean } | undefined {
    return this.info[tag];
  }

  /** Tags of a domain: every PASID (undefined), or first-level/nested ones (fl = true) or second-level/pass-through ones (fl = false). */
  tagsOf(did: number, fl?: boolean, pasid?: number): number[] {
    const out: number[] = [];
    for (const t of this.tags.values()) {
      const i = this.info[t]!;
      if (i.did !== did) continue;
      if (pasid !== undefined && i.pasid !== pasid) continue;
      if (fl !== undefined && i.fl !== fl) continue;
      out.push(t);
    }
    return out;
  }

  /**
   * Tags the IOTLB descriptor (VT-d 6.5.2.3, DID-tagged) invalidates in scalable mode: the
   * domain's second-level and pass-through PASIDs, and its nested ones - a nested translation
   * combines the second level, and Linux flushes a nesting parent's changes with this descriptor
   * under each nested domain's DID (drivers/iommu/intel/cache.c cache_tag_flush_range:
   * CACHE_TAG_NESTING_IOTLB on the parent, which does not use the first level -> flush_iotlb).
   * First-level-only PASIDs answer to PASID-based invalidations alone.
   */
  stageTwoTags(did: number): number[] {
    return this.tagsOf(did).filter((t) => !this.info[t]!.fl || this.info[t]!.nested);
  }

  snapshot(): SmSnapshot {
    return { ctx: [...this.ctx].map(([k, v]) => [k, { ...v }]), pc: [...this.pc].map(([k, v]) => [k, { ...v }]), tags: [...this.tags] };
  }

  restore(s: SmSnapshot, fl: (tag: number) => boolean = () => false): void {
    this.ctx.clear();
    for (const [k, v] of s.ctx) this.ctx.set(k, { ...v });
    this.pc.clear();
    for (const [k, v] of s.pc) this.pc.set(k, { ...v });
    this.tags.clear();
    const info: { did: number; pasid: number; fl: boolean; nested: boolean }[] = [];
    for (const [key, t] of s.tags) {
      this.tags.set(key, t);
      const priv = key >= PRIV_KEY;
      info[t] = { did: Math.floor((key % PRIV_KEY) / 1048576), pasid: key % 1048576, fl: priv || (this.info[t]?.fl ?? fl(t)), nested: this.info[t]?.nested ?? false };
    }
    for (const v of this.pc.values())
      if (info[v.tag]) {
        info[v.tag]!.fl = v.pgtt === PGTT_FL || v.pgtt === PGTT_NESTED;
        info[v.tag]!.nested = v.pgtt === PGTT_NESTED;
      }
    this.info = info;
  }
}

// ---------------------------------------------------------------- the walk

/** Where and why a scalable-mode translation stopped, for the trail (recordTrail only). */
export interface SmStop {
  cause: StopCause;
  why: string;
}

/** The request attributes the scalable-mode path reads (besides sid, IOVA and direction). */
const req: FlRequest = { priv: false, exec: false, wpe: false, nxe: false };

/**
 * Translates one request in scalable mode (the unit's RTADDR.TTM = 01). The unit's request fields
 * (reqPasid, reqPriv, reqExec) say whether the request carries a PASID. Returns 0 or the fault
 * reason after the unit recorded it (DmarUnit.fault), with the unit's result fields set.
 */
export function translateScalable(u: DmarUnit, sid: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean): number {
  const sm = u.sm;
  const record = u.recordTrail;
  const bypass = u.bypassCaches && probe;
  if (record) {
    u.smTrail = [];
    u.smStop = undefined;
  }
  u.flWalker.pscLevel = 0;
  // ---- context entry (root entry -> lower/upper context table)
  u.stage = XlateStage.Context;
  let ctx = bypass ? undefined : sm.ctx.get(sid);
  if (ctx !== undefined) u.ccHit = true;
  else {
    const r = resolveSmContext(u, sid, record);
    if (typeof r === "number") return smFault(u, sid, iovaHi, iovaLo, write, probe, record, r, causeOf(r), whyOf(r, sid), smLastFpd);
    ctx = r;
    if (!probe) sm.ctx.set(sid, ctx);
  }
  const withPasid = u.reqPasid >= 0;
  // ---- ATS (VT-d 4.2): a Translated Request, or a Translation Request on a Device-TLB miss, needs
  // DTE = 1 in the context entry, else 0x44. The Device-TLB is tagged with the request's PASID (a
  // request without PASID: none). A Translated Request carries no PASID and is passed as it is.
  const ats = u.reqTranslated || (u.atsSids.size > 0 && u.atsSids.has(sid));
  if (ats) {
    if (record && !ctx.dte) u.smStop = { cause: "invalid", why: `DTE = 0 in the scalable-mode context entry: ${u.reqTranslated ? "a Translated Request" : "a Translation Request"} (ATS) from the device is blocked` };
    const a = u.atsRequest(ctx.dte, ctx.fpd, VTD_FR_SM_DTE_CLEAR, sid, withPasid ? u.reqPasid : -1, iovaHi, iovaLo, write, probe);
    if (a >= 0) return a;
  }
  // ---- PASID: the request's, or RID_PASID for a request without PASID (VT-d 3.4.3)
  const pasid = withPasid ? u.reqPasid : ctx.ridPasid;
  const priv = withPasid ? u.reqPriv : ctx.ridPriv;
  if (withPasid && !ctx.paside) return smFault(u, sid, iovaHi, iovaLo, write, probe, record, VTD_FR_SM_PASIDE_CLEAR, "invalid", `request with PASID ${hexn(pasid)}, PASIDE = 0 in the context entry`, ctx.fpd);
  // VT-d §7.1.3 Table 26: a request's PASID beyond the directory (PDTS) is SCT.7 (0x46); the
  // context entry's own RID_PASID beyond it is an invalid context entry, SCT.4 (0x43).
  if (pasid >>> 6 >= 1 << (ctx.pdts + 7)) {
    const dir = `the PASID directory (PDTS ${ctx.pdts}: ${1 << (ctx.pdts + 7)} entries)`;
    if (withPasid) return smFault(u, sid, iovaHi, iovaLo, write, probe, record, VTD_FR_SM_PASID_TOO_LARGE, "invalid", `PASID ${hexn(pasid)} is beyond ${dir}`, ctx.fpd);
    return smFault(u, sid, iovaHi, iovaLo, write, probe, record, VTD_FR_SM_CONTEXT_ENTRY_INV, "invalid", `the context entry's RID_PASID ${hexn(pasid)} is beyond ${dir}`, ctx.fpd);
  }
  const key = sid * 1048576 + pasid;
  let pe = bypass ? undefined : sm.pc.get(key);
  if (pe !== undefined) u.ccHit = true; // the PASID cache answered (a view re-walks the tables as they are now)
  else {
    const r = resolvePasidEntry(u, ctx, pasid, record);
    if (typeof r === "number") return smFault(u, sid, iovaHi, iovaLo, write, probe, record, r, causeOf(r), whyOf(r, sid, pasid), smLastFpd || ctx.fpd);
    pe = r;
    if (!probe) sm.pc.set(key, pe);
  }
  u.did = pe.did;
  const fpd = pe.fpd || ctx.fpd;
  if (priv && !pe.sre && pe.pgtt !== PGTT_PT) return smFault(u, sid, iovaHi, iovaLo, write, probe, record, VTD_FR_SM_SRE_CLEAR, "permission", `supervisor request, SRE = 0 in the PASID table entry`, fpd);
  if (u.reqExec && !pe.ere && pe.pgtt !== PGTT_PT) return smFault(u, sid, iovaHi, iovaLo, write, probe, record, VTD_FR_SM_ERE_CLEAR, "permission", `execute request, ERE = 0 in the PASID table entry`, fpd);
  if (pe.pgtt === PGTT_PT) {
    // Table 26 SGN.4: the input address above 2^HAW - 1 (pass-through hands it on as the output).
    if (u.haw < 64 && iovaHi >>> (u.haw - 32) !== 0) {
      u.stage = XlateStage.Width;
      return smFault(u, sid, iovaHi, iovaLo, write, probe, record, VTD_FR_SM_ADDR_BEYOND_MAX, "address-width", `pass-through: the address is above the host address width (${u.haw} bits)`, fpd);
    }
    u.kind = XlateKind.PassThrough;
    u.hpaHi = iovaHi;
    u.hpaLo = iovaLo;
    u.setPerm(3);
    if (ats && !probe) atsFill(u, sid, iovaHi, iovaLo);
    return 0;
  }
  u.kind = XlateKind.Translated;
  u.stage = XlateStage.Walk;
  let r: number;
  if (pe.pgtt === PGTT_SL) {
    // Second level only: the legacy translate step (IOTLB probe, width check, walk, fill) under the PASID's tag.
    if (probe) {
      r = bypass || pe.tag === 0 ? -1 : u.iotlb.lookup(pe.tag, iovaHi, iovaLo, write);
      if (r >= 0) {
        u.iotlbHit = true;
        u.stage = XlateStage.Iotlb;
        u.level = u.iotlb.level;
        u.setPerm(u.iotlb.perm);
        u.hpaLo = u.iotlb.hpaLo >>> 0;
        u.hpaHi = u.iotlb.hpaHi >>> 0;
        // An IOTLB entry holds a present translation: a missing bit is SGN.6 / SGN.7.
        if (r !== 0) r = write ? VTD_FR_SM_WRITE : VTD_FR_SM_READ;
      } else if (pe.slWidth < 64 && iovaHi >>> (pe.slWidth - 32) !== 0) {
        u.stage = XlateStage.Width;
        r = VTD_FR_SM_SL_ADDR_BEYOND;
      } else {
        const w = u.walker;
        const saved = w.recordTrail;
        w.recordTrail = record;
        w.adNoSnoop = pe.slade && !pe.pwsnp;
        r = w.walkTagged(bypass ? 0 : pe.tag, false, pe.slRoot, pe.slLevels, iovaHi, iovaLo, write, true);
        w.adNoSnoop = false;
        w.recordTrail = saved;
        if (record) u.smTrail.push(...secondLevelTrail(w, big(iovaHi, iovaLo)));
        u.level = w.level;
        u.setPerm(r === 0 ? w.perm : 0);
        u.hpaLo = w.hpaLo >>> 0;
        u.hpaHi = w.hpaHi >>> 0;
        if (r !== 0) r = smSecondLevelReason(r);
      }
    } else {
      const t = u.translator;
      u.walker.updateAD = pe.slade;
      u.walker.adNoSnoop = pe.slade && !pe.pwsnp;
      r = t.translate(pe.tag, pe.slRoot, pe.slLevels, pe.slWidth, iovaHi, iovaLo, write);
      u.walker.updateAD = false;
      u.walker.adNoSnoop = false;
      u.iotlbHit = t.iotlbHit;
      u.level = t.level;
      u.setPerm(r === 0 ? t.perm : 0);
      u.hpaLo = t.hpaLo >>> 0;
      u.hpaHi = t.hpaHi >>> 0;
      if (t.iotlbHit) {
        u.stage = XlateStage.Iotlb;
        u.counters.iotlbHits++;
      } else u.counters.walks++;
      if (r === VTD_FR_WRITE || r === VTD_FR_READ) {
        if (t.iotlbHit) r = write ? VTD_FR_SM_WRITE : VTD_FR_SM_READ;
        else {
          // The core checks in QEMU's legacy order (a missing bit stops the walk at once); the
          // hardware's scalable-mode answer needs the walk in its own order. Fault path only:
          // the same walker over the same tables, in the order of VT-d §7.1.3 Table 26.
          r = u.walker.walkTagged(pe.tag, false, pe.slRoot, pe.slLevels, iovaHi, iovaLo, write, true);
          u.level = u.walker.level;
          r = smSecondLevelReason(r);
        }
      } else if (r !== 0) r = smSecondLevelReason(r);
      if (r === VTD_FR_SM_SL_ADDR_BEYOND) u.stage = XlateStage.Width;
    }
  } else {
    // First level, or nested: the IOTLB under the PASID's tag, else the first-level walk.
    r = -1;
    if (!bypass && pe.tag !== 0) {
      r = u.iotlb.lookup(pe.tag, iovaHi, iovaLo, write);
      // A supervisor request may also hit what only supervisor requests get (pe.privTag).
      if (r < 0 && priv && pe.privTag !== 0) r = u.iotlb.lookup(pe.privTag, iovaHi, iovaLo, write);
      if (r >= 0) {
        u.iotlbHit = true;
        u.stage = XlateStage.Iotlb;
        u.level = u.iotlb.level;
        u.setPerm(u.iotlb.perm);
        u.hpaLo = u.iotlb.hpaLo >>> 0;
        u.hpaHi = u.iotlb.hpaHi >>> 0;
        if (r !== 0) r = write ? VTD_FR_SM_WRITE : VTD_FR_SM_READ;
        if (!probe) u.counters.iotlbHits++;
      }
    }
    if (r < 0) {
      const f = u.flWalker;
      req.priv = priv;
      req.exec = u.reqExec;
      req.wpe = pe.wpe;
      req.nxe = pe.nxe;
      f.recordTrail = record;
      f.updateAD = !probe;
      let nest: NestParent | null = null;
      if (pe.pgtt === PGTT_NESTED) {
        nest = nestScratch;
        nest.root = pe.slRoot;
        nest.levels = pe.slLevels;
        nest.width = pe.slWidth;
      }
      const savedW = u.walker.recordTrail;
      u.walker.recordTrail = record;
      u.walker.updateAD = pe.slade && !probe;
      u.walker.adNoSnoop = pe.slade && !pe.pwsnp;
      f.adNoSnoop = !pe.pwsnp;
      // First-level / nested paging-structure caches (flpt.ts; off unless the scenario asks): under
      // the PASID's tag; a probe looks (unless it bypasses the caches) and never fills.
      f.pscTag = bypass ? 0 : pe.tag;
      f.pscFill = !probe;
      r = f.walk(pe.flRoot, pe.flLevels, iovaHi, iovaLo, write, req, nest);
      f.pscTag = 0;
      u.walker.updateAD = false;
      u.walker.adNoSnoop = false;
      f.adNoSnoop = false;
      u.walker.recordTrail = savedW;
      f.recordTrail = false;
      if (record) u.smTrail.push(...f.trail);
      if (!probe) u.counters.walks++;
      u.level = f.level;
      if (r === VTD_FR_FS_NON_CANONICAL) u.stage = XlateStage.Width;
      if (r === 0) {
        u.setPerm(f.perm);
        u.hpaLo = f.hpaLo >>> 0;
        u.hpaHi = f.hpaHi >>> 0;
        // Not a writable page whose D is still clear (the first write must walk to set it; with SLADE,
        // the second-level leaf's D too). Under
        // the PASID's tag when user and supervisor requests would get the same answer from it; a
        // supervisor request's other answers under its supervisor tag, which only supervisor
        // requests look up (the IOTLB keeps a first-level translation's U/S: VT-d 6.2.1).
        if (!probe && pe.tag !== 0 && (f.perm !== 3 || (f.dirty && (!pe.slade || u.walker.dirty)))) {
          if (f.user && (f.perm === 3 || pe.wpe)) u.iotlb.fill(pe.tag, iovaHi, iovaLo, f.level, f.hpaHi, f.hpaLo, f.perm);
          else if (priv) {
            if (pe.privTag === 0) pe.privTag = u.sm.privTag(pe.did, pasid, true);
            if (pe.privTag !== 0) u.iotlb.fill(pe.privTag, iovaHi, iovaLo, f.level, f.hpaHi, f.hpaLo, f.perm);
          }
        }
      }
    }
  }
  if (r === 0 && !u.iotlbHit && u.pageHitsInterruptRange()) {
    // VT-d "SGN.8": the output overlaps 0xFEE00000 - 0xFEEFFFFF (QEMU vtd_do_iommu_translate: 0x87 in scalable mode).
    if (!probe && pe.tag !== 0) u.iotlb.invalidatePages(pe.tag, big(iovaHi, iovaLo), 0);
    u.stage = XlateStage.InterruptRange;
    if (record) u.smStop = { cause: "interrupt-range", why: "the translated page overlaps the interrupt range 0xfee00000-0xfeefffff" };
    return u.fault(VTD_FR_SM_INTERRUPT_ADDR, sid, iovaHi, iovaLo, write, fpd, probe);
  }
  if (r !== 0) {
    if (record && u.stage !== XlateStage.Iotlb) u.smStop = walkStop(r, u, write, priv);
    if (ats && withPasid && u.priSids.size > 0 && u.priSids.has(sid) && PAGE_REQUEST_REASONS.has(r)) {
      // PRI (VT-d 7.4): the Translation Completion says R = W = 0 and the device asks for the page
      // with a page request, which needs PRE in the context entry (QEMU vtd_check_pre_bit: 0x47).
      if (!ctx.pre) return u.fault(VTD_FR_SM_PRE_CLEAR, sid, iovaHi, iovaLo, write, ctx.fpd, probe);
      if (probe) return r;
      u.counters.faults++;
      // Each failed Translation Request is a page request group of its own (LPIG): queued, or, with
      // the queue full, answered by the unit itself (unit.ts pageRequest).
      const queued = u.pageRequest(sid, pasid, big(iovaHi, iovaLo), write, priv, u.reqExec, u.nextPrgi) === PageRequestFate.Queued;
      u.fate = queued ? FaultFate.PageRequest : FaultFate.PageRequestOverflow;
      u.nextPrgi = (u.nextPrgi + 1) & 0x1ff;
      return r;
    }
    return u.fault(r, sid, iovaHi, iovaLo, write, fpd, probe);
  }
  if (ats && !probe) atsFill(u, sid, iovaHi, iovaLo);
  return 0;
}

/**
 * A translation stops with fault `r`: the trail's reason (recordTrail only), then the unit's fault
 * handling. A function of its own, not a closure per translation: the hot path allocates nothing.
 */
function smFault(u: DmarUnit, sid: number, iovaHi: number, iovaLo: number, write: boolean, probe: boolean, record: boolean, r: number, cause: StopCause, why: string, fpd: boolean): number {
  if (record) u.smStop = { cause, why };
  return u.fault(r, sid, iovaHi, iovaLo, write, fpd, probe);
}

/** The second level of a nested walk, reused by every translation (FlptWalker.walk only reads it). */
const nestScratch: NestParent = { root: 0, levels: 0, width: 0 };

/**
 * A successful Translation Request (ATS, VT-d 4.2.2): the device caches the completion in its
 * Device-TLB under the request's PASID (none for a request without PASID), for the page of the
 * translation's leaf (a pass-through completion: 4 KiB).
 */
function atsFill(u: DmarUnit, sid: number, iovaHi: number, iovaLo: number): void {
  u.devtlb.fill(sid, u.reqPasid >= 0 ? u.reqPasid : -1, iovaHi, iovaLo, u.hpaHi, u.hpaLo, Math.max(1, u.level), u.perm);
}

/** Translation failures a PRI device answers with a page request: the page is missing or lacks the access (first or second level). */
const PAGE_REQUEST_REASONS = new Set([VTD_FR_FS_PAGING_ENTRY_P, VTD_FR_FS_PAGING_ENTRY_US, VTD_FR_SM_WRITE, VTD_FR_SM_READ, VTD_FR_SM_EXECUTE, VTD_FR_SM_SL_PERM]);

function big(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
const hexn = (n: number) => `0x${n.toString(16)}`;

/** FPD seen by the last failed resolve (QEMU reads it even when P = 0). */
let smLastFpd = false;

function read4(u: DmarUnit, at: number, n: number): bigint[] | undefined {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const v = u.mem.readU64(at + 8 * i);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

/** Root entry -> lower/upper context table -> scalable-mode context entry (VT-d 9.2, 9.4; QEMU vtd_get_context_entry_from_root). */
function resolveSmContext(u: DmarUnit, sid: number, record: boolean): SmContext | number {
  smLastFpd = false;
  const bus = sid >> 8;
  const devfn = sid & 0xff;
  const haw = u.haw;
  const reAddr = u.rootTable + bus * 16;
  const re = read4(u, reAddr, 2);
  if (re === undefined) {
    if (record) u.smTrail.push({ kind: "root", name: "scalable-mode root entry", level: 0, index: bus, address: BigInt(reAddr), raw: [], fields: [] });
    return VTD_FR_SM_ROOT_ACCESS_ERR;
  }
  const [lo, hi] = re as [bigint, bigint];
  const rr = smRootEntryReservedBits(lo, hi, haw);
  if (record) u.smTrail.push({ kind: "root", name: "scalable-mode root entry", level: 0, index: bus, address: BigInt(reAddr), raw: re, fields: withReserved(smRootEntryLayout(lo, hi).map(toTrailField), rr, VTD_FR_SM_ROOT_ENTRY_RSVD) });
  const half = devfn >= 0x80 ? hi : lo;
  if ((half & 1n) === 0n) return VTD_FR_SM_ROOT_ENTRY_P;
  if (rr[0] !== 0n || rr[1] !== 0n) return VTD_FR_SM_ROOT_ENTRY_RSVD;
  const ceAddr = Number(half & ~0xfffn) + (devfn & 0x7f) * 32;
  const ce = read4(u, ceAddr, 4);
  if (ce === undefined) {
    if (record) u.smTrail.push({ kind: "context", name: "scalable-mode context entry", level: 0, index: devfn, address: BigInt(ceAddr), raw: [], fields: [] });
    return VTD_FR_SM_CONTEXT_ACCESS_ERR;
  }
  const cr = smContextReservedBits(ce, haw);
  if (record) u.smTrail.push({ kind: "context", name: "scalable-mode context entry", level: 0, index: devfn, address: BigInt(ceAddr), raw: ce, fields: withReserved(smContextEntryLayout(ce).map(toTrailField), cr, VTD_FR_SM_CONTEXT_ENTRY_RSVD) });
  const v0 = ce[0]!;
  const v1 = ce[1]!;
  smLastFpd = (v0 & 2n) !== 0n;
  if ((v0 & 1n) === 0n) return VTD_FR_SM_CONTEXT_ENTRY_P;
  if (cr.some((b) => b !== 0n)) return VTD_FR_SM_CONTEXT_ENTRY_RSVD;
  return {
    pasidDir: Number(v0 & ~0xfffn & hawMask(haw)),
    pdts: Number((v0 >> 9n) & 7n),
    paside: (v0 & 8n) !== 0n,
    dte: (v0 & 4n) !== 0n,
    pre: (v0 & 0x10n) !== 0n,
    ridPasid: Number(v1 & 0xfffffn),
    ridPriv: ((v1 >> 20n) & 1n) === 1n,
    fpd: smLastFpd,
  };
}

/** PASID directory entry -> PASID table entry, checked for this unit (VT-d 9.5, 9.6; QEMU vtd_ce_get_pasid_entry, vtd_pe_type_check). */
function resolvePasidEntry(u: DmarUnit, ctx: SmContext, pasid: number, record: boolean): SmPasid | number {
  smLastFpd = false;
  const haw = u.haw;
  const dirIndex = pasid >>> 6;
  const deAddr = ctx.pasidDir + dirIndex * 8;
  const de = u.mem.readU64(deAddr);
  if (de === undefined) {
    if (record) u.smTrail.push({ kind: "pasid", name: "PASID directory entry", level: 0, index: dirIndex, address: BigInt(deAddr), raw: [], fields: [] });
    return VTD_FR_PASID_DIR_ACCESS_ERR;
  }
  const dr = pasidDirReservedBits(de, haw);
  if (record) u.smTrail.push({ kind: "pasid", name: "PASID directory entry", level: 0, index: dirIndex, address: BigInt(deAddr), raw: [de], fields: withReserved(pasidDirEntryLayout(de).map(toTrailField), [dr], VTD_FR_SM_PASID_DIR_ENTRY_RSVD) });
  smLastFpd = (de & 2n) !== 0n;
  if ((de & 1n) === 0n) return VTD_FR_PASID_DIR_ENTRY_P;
  if (dr !== 0n) return VTD_FR_SM_PASID_DIR_ENTRY_RSVD;
  const peAddr = Number(de & ~0xfffn) + (pasid & 0x3f) * 64;
  const pv = read4(u, peAddr, 8);
  if (pv === undefined) {
    if (record) u.smTrail.push({ kind: "pasid", name: "PASID table entry", level: 0, index: pasid & 0x3f, address: BigInt(peAddr), raw: [], fields: [] });
    return VTD_FR_PASID_TABLE_ACCESS_ERR;
  }
  const pr = pasidEntryReservedBits(pv, haw);
  if (record) u.smTrail.push({ kind: "pasid", name: "PASID table entry", level: 0, index: pasid & 0x3f, address: BigInt(peAddr), raw: pv, fields: withReserved(pasidEntryLayout(pv).map(toTrailField), pr, VTD_FR_SM_PASID_ENTRY_RSVD) });
  const [v0, v1, v2] = pv as [bigint, bigint, bigint];
  smLastFpd = smLastFpd || (v0 & 2n) !== 0n;
  if ((v0 & 1n) === 0n) return VTD_FR_PASID_ENTRY_P;
  if (pr.some((b) => b !== 0n)) return VTD_FR_SM_PASID_ENTRY_RSVD;
  const pgtt = Number((v0 >> 6n) & 7n);
  const aw = Number((v0 >> 2n) & 7n);
  const flpm = Number((v2 >> 2n) & 3n);
  if (pasidEntryInvalid(u, pgtt, aw, flpm) !== undefined) return VTD_FR_PASID_TABLE_ENTRY_INV;
  const did = Number(v1 & 0xffffn);
  const fl = pgtt === PGTT_FL || pgtt === PGTT_NESTED;
  return {
    did,
    pgtt,
    fpd: smLastFpd,
    slRoot: Number(v0 & ~0xfffn & hawMask(haw)),
    slLevels: awToLevels(aw),
    slWidth: Math.min(awToWidth(aw), haw),
    flRoot: Number(v2 & ~0xfffn & hawMask(haw)),
    flLevels: 4 + flpm,
    sre: (v2 & 1n) !== 0n,
    ere: (v2 & 2n) !== 0n,
    wpe: (v2 & 0x10n) !== 0n,
    nxe: (v2 & 0x20n) !== 0n,
    // SLADE (bit 9): second-level A/D updates, on a unit with ECAP.SLADS (Linux pasid_set_ssade).
    slade: (v0 & 0x200n) !== 0n && u.spec.slads === true && (pgtt === PGTT_SL || pgtt === PGTT_NESTED),
    // PWSNP (bit 87; Linux pasid_set_page_snoop, "Setup Page Walk Snoop bit (Bit 87)").
    pwsnp: (v1 & 0x80_0000n) !== 0n,
    tag: pgtt === PGTT_PT ? 0 : u.sm.tag(did, pasid, fl, pgtt === PGTT_NESTED),
    privTag: fl ? u.sm.privTag(did, pasid, false) : 0,
  };
}

/**
 * Why a present PASID entry is invalid on this unit (0x5b), or undefined: the PGTT must be one the
 * unit supports (ECAP.FLTS, SLTS, NEST, PT), a second-level AW one SAGAW advertises, FLPM 4-level,
 * or 5-level on a 57-bit unit (CAP.FL5LP). QEMU vtd_pe_type_check / vtd_is_fl_level_supported.
 */
export function pasidEntryInvalid(u: DmarUnit, pgtt: number, aw: number, flpm: number): string | undefined {
  const s = u.spec;
  const slOk = () => aw >= 1 && aw <= 3 && s.sagaw.some((w) => sagawBit(w) === 1 << aw);
  const flOk = () => flpm === 0 || (flpm === 1 && u.haw >= 57);
  switch (pgtt) {
    case PGTT_FL:
      if (!(s.firstLevel ?? true)) return "PGTT = 001 (first-level) but the unit has no first-level translation (ECAP.FLTS = 0)";
      return flOk() ? undefined : `FLPM = ${flpm} is not a paging mode the unit supports`;
    case PGTT_SL:
      if (!(s.secondLevel ?? true)) return "PGTT = 010 (second-level) but the unit has no second-level translation (ECAP.SLTS = 0)";
      return slOk() ? undefined : "its AW is not a width the unit supports (CAP.SAGAW)";
    case PGTT_NESTED:
      if (!(s.nested ?? true)) return "PGTT = 011 (nested) but the unit has no nested translation (ECAP.NEST = 0)";
      if (!slOk()) return "its AW is not a width the unit supports (CAP.SAGAW)";
      return flOk() ? undefined : `FLPM = ${flpm} is not a paging mode the unit supports`;
    case PGTT_PT:
      return s.passThrough ? undefined : "PGTT = 100 (pass-through) but the unit has no pass-through support (ECAP.PT = 0)";
    default:
      return `PGTT = ${pgtt.toString(2).padStart(3, "0")} is reserved`;
  }
}

function causeOf(r: number): StopCause {
  switch (r) {
    case VTD_FR_SM_ROOT_ENTRY_P:
    case VTD_FR_SM_CONTEXT_ENTRY_P:
    case VTD_FR_PASID_DIR_ENTRY_P:
    case VTD_FR_PASID_ENTRY_P:
      return "not-present";
    case VTD_FR_SM_ROOT_ENTRY_RSVD:
    case VTD_FR_SM_CONTEXT_ENTRY_RSVD:
    case VTD_FR_SM_PASID_DIR_ENTRY_RSVD:
    case VTD_FR_SM_PASID_ENTRY_RSVD:
      return "reserved";
    case VTD_FR_SM_ROOT_ACCESS_ERR:
    case VTD_FR_SM_CONTEXT_ACCESS_ERR:
    case VTD_FR_PASID_DIR_ACCESS_ERR:
    case VTD_FR_PASID_TABLE_ACCESS_ERR:
      return "unreadable";
    default:
      return "invalid";
  }
}

function whyOf(r: number, sid: number, pasid?: number): string {
  const bdf = `${(sid >> 8).toString(16).padStart(2, "0")}:${((sid >> 3) & 0x1f).toString(16).padStart(2, "0")}.${sid & 7}`;
  const p = pasid === undefined ? "" : hexn(pasid);
  switch (r) {
    case VTD_FR_SM_ROOT_ACCESS_ERR:
      return "the root table is not readable memory";
    case VTD_FR_SM_ROOT_ENTRY_P:
      return `the root entry's ${(sid & 0xff) >= 0x80 ? "UP" : "LP"} for bus ${(sid >> 8).toString(16).padStart(2, "0")} is 0: no ${(sid & 0xff) >= 0x80 ? "upper" : "lower"} context table`;
    case VTD_FR_SM_ROOT_ENTRY_RSVD:
      return "reserved bits set in the scalable-mode root entry";
    case VTD_FR_SM_CONTEXT_ACCESS_ERR:
      return "the context table is not readable memory";
    case VTD_FR_SM_CONTEXT_ENTRY_P:
      return `scalable-mode context entry for ${bdf} not present`;
    case VTD_FR_SM_CONTEXT_ENTRY_RSVD:
      return "reserved bits set in the scalable-mode context entry";
    case VTD_FR_PASID_DIR_ACCESS_ERR:
      return "the PASID directory is not readable memory";
    case VTD_FR_PASID_DIR_ENTRY_P:
      return `PASID directory entry for PASID ${p} not present`;
    case VTD_FR_SM_PASID_DIR_ENTRY_RSVD:
      return "reserved bits set in the PASID directory entry";
    case VTD_FR_PASID_TABLE_ACCESS_ERR:
      return "the PASID table is not readable memory";
    case VTD_FR_PASID_ENTRY_P:
      return `PASID table entry for PASID ${p} not present`;
    case VTD_FR_SM_PASID_ENTRY_RSVD:
      return "reserved bits set in the PASID table entry";
    case VTD_FR_PASID_TABLE_ENTRY_INV:
      return `PASID table entry for PASID ${p} invalid on this unit`;
    default:
      return `fault ${hexn(r)}`;
  }
}

/** Why the page walk stopped (the trail's last entry decided). */
function walkStop(r: number, u: DmarUnit, write: boolean, priv: boolean): SmStop {
  const last = u.smTrail[u.smTrail.length - 1];
  const name = last?.name ?? "entry";
  switch (r) {
    case VTD_FR_FS_NON_CANONICAL:
      return { cause: "address-width", why: `IOVA is not canonical for ${u.flWalker.level === 5 ? "5" : "4"}-level first-level paging (bits 63:${flWidth(u.flWalker.level === 5 ? 5 : 4) - 1} differ)` };
    case VTD_FR_SM_SL_ADDR_BEYOND:
      return { cause: "address-width", why: "the address is beyond the second-level input width (PASID entry AW, MGAW)" };
    case VTD_FR_FS_PAGING_ENTRY_P:
      return { cause: "not-present", why: `${name} not present (P = 0)` };
    case VTD_FR_FS_PAGING_ENTRY_US:
      return { cause: "permission", why: `user request, U/S = 0 in the ${name}` };
    case VTD_FR_SM_WRITE:
    case VTD_FR_SM_READ: {
      // A second-level entry decided (second-level PASID, or a nested walk's output): the first present entry without the bit.
      if (name.startsWith("SL-")) {
        const bit = r === VTD_FR_SM_WRITE ? 2n : 1n;
        const e = u.smTrail.find((t) => t.name.startsWith("SL-") && ((t.raw[0] ?? 0n) & bit) === 0n) ?? last;
        return { cause: "permission", why: `${write ? "write" : "read"} request, ${bit === 2n ? "W" : "R"} = 0 in the ${e?.name ?? name}` };
      }
      return { cause: "permission", why: `${priv ? "supervisor write with WPE = 1" : "write request"}, R/W = 0 in the ${name}` };
    }
    case VTD_FR_SM_EXECUTE:
      return { cause: "permission", why: `execute request, XD = 1 in the ${name}` };
    case VTD_FR_FS_PAGING_ENTRY_RSVD:
    case VTD_FR_SM_SL_RSVD:
      return { cause: "reserved", why: `reserved bits set in the ${name}` };
    case VTD_FR_SM_SL_PERM: {
      const v = last?.raw[0] ?? 0n;
      if ((v & 3n) === 0n) return { cause: "not-present", why: `${name} not present (R = W = 0)` };
      return { cause: "not-present", why: `R and W ANDed down the second-level entries are both 0 at the ${name}` };
    }
    case VTD_FR_PASID_ENTRY_FSPTPTR_INV:
    case VTD_FR_FS_PAGING_ENTRY_INV:
    case VTD_FR_SM_SL_ACCESS_ERR:
    case VTD_FR_SM_SLPTPTR_INV:
      return { cause: "unreadable", why: `the ${name} is not readable memory` };
    case VTD_FR_SM_NESTED_FL_TOP_READ:
    case VTD_FR_SM_NESTED_FL_READ:
      return { cause: "not-present", why: `the first-level table's guest-physical address is not mapped readable in the second level (${name})` };
    case VTD_FR_SM_NESTED_FL_BEYOND:
      return { cause: "address-width", why: "a first-level table's guest-physical address is beyond the second level's input width" };
    default:
      return { cause: "invalid", why: `fault ${hexn(r)} at the ${name}` };
  }
}
