/**
 * Arm SMMUv3 behind the IOMMU contract (../iommu.ts). The verdict and the walk trail come from
 * the unit's own translate() (unit.ts): it records the level-1 stream table descriptor, the STE
 * and the CD it read, and its stage walkers (walk.ts) the descriptors. Nothing here walks for a
 * verdict; the table tree reads the structures as they are in memory with the same decoders
 * (spec.ts) and the unit's STE/CD decoding.
 *
 * Contract mapping (model-neutral kinds): the stream table is the "root-table", a level-1 stream
 * table descriptor a "root-entry" (one per PCI bus with STRTAB_SPLIT = 8), an STE a
 * "context-entry", a CD (stage 1: ASID and TTB0) or a stage-2 configuration (VMID and S2TTB) a
 * "domain", a VMSAv8-64 descriptor a "pte"; trail levels count as the contract does (1 = the last
 * level: Arm's level 3), names are the Arm spec's ("S1 L0 table descriptor"). The "domain" of a
 * translation is its ASID (stage 1, nested) or VMID (stage 2). Requests, targets and fault views
 * speak requester ids, as the machine and the trace do; the unit adds its iommu-map offset.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import { staleAgainstTables } from "../deviceCache.js";
import {
  toTrailField,
  type ContextCacheEntryNode,
  type ContextEntryNode,
  type DecodedField,
  type DecodedWord,
  type DomainNode,
  type EntryTarget,
  type FaultRecordView,
  type InspectTables,
  type InvalidateRequest,
  type InvalidateResult,
  type IommuUnit,
  type DeviceTlbEntryView,
  type PageRequestView,
  type IotlbEntryNode,
  type PageEntryNode,
  type ReasonInfo,
  type RegisterView,
  type RootEntryNode,
  type RootTableNode,
  type StopCause,
  type TableNode,
  type Trail,
  type TrailEntry,
  type TranslateRequest,
  type Translation,
  type Verdict,
  type CommandView,
} from "../iommu.js";
import type { PhysicalMemory } from "../memory.js";
import { NO_CHILDREN, notPresentNode, readWords, tableLevelNodes, unreadableNode } from "../inspectNodes.js";
import { bitsOf, decodedField, hexText, qwordFields } from "../decodedFields.js";
import { renderEvent, renderPageRequest, smmuKernelEra } from "./dmesg.js";
import { cmd, type ArmSmmuV3Driver } from "./driver.js";
import {
  ABORT_NO_EVENT,
  C_BAD_CD,
  C_BAD_STE,
  C_BAD_SUBSTREAMID,
  S1FMT_LINEAR,
  CMD_CFGI_ALL,
  CMD_CFGI_STE,
  CMD_TLBI_NH_ASID,
  CMD_TLBI_NH_VA,
  CMD_TLBI_NSNH_ALL,
  CMD_TLBI_S12_VMALL,
  CMD_TLBI_S2_IPA,
  F_ACCESS,
  F_ADDR_SIZE,
  F_CD_FETCH,
  F_PERMISSION,
  F_STE_FETCH,
  F_TRANSLATION,
  F_WALK_EABT,
  SMMU_CMDQ_BASE,
  SMMU_CMDQ_CONS,
  SMMU_CMDQ_PROD,
  SMMU_CR0,
  SMMU_EVTQ_BASE,
  SMMU_EVTQ_CONS,
  SMMU_EVTQ_PROD,
  SMMU_PRIQ_BASE,
  SMMU_PRIQ_CONS,
  SMMU_PRIQ_PROD,
  SMMU_GBPA,
  SMMU_GERROR,
  SMMU_GERRORN,
  SMMU_IDR0,
  SMMU_IDR1,
  SMMU_IDR5,
  SMMU_STRTAB_BASE,
  SMMU_STRTAB_BASE_CFG,
  STE_CFG_ABORT,
  STE_CFG_BYPASS,
  STE_CFG_NESTED,
  STE_CFG_S1,
  STE_CFG_S2,
  STRTAB_FMT_2LVL,
  COMMAND_NAMES,
  cdFields,
  decodeEvent,
  descriptorFields,
  descriptorName,
  eventFields,
  eventInfo,
  l1DescFields,
  l1CdFields,
  priqFields,
  cdSplit,
  steConfigName,
  steFields,
  MSI_IOVA_BASE,
  MSI_IOVA_LENGTH,
} from "./spec.js";
import { SmmuKind, SmmuStage, type Cd, type SmmuV3Unit, type Ste } from "./unit.js";
import { levelShift, type StageConfig, type StageWalker } from "./walk.js";
import { nestedEntries, nestedTarget, type NestedFetch } from "./nested.js";

const hex = hexText;

/** Contract level (1 = last level) of an Arm lookup level (3 = last level). */
const cLevel = (armLevel: number) => 4 - armLevel;

// ---------------------------------------------------------------- registers

interface RegDef {
  name: string;
  offset: number;
  width: 32 | 64;
  section: string;
  fields: [string, number, number, ((v: bigint) => string | undefined)?][];
}

const REGS: RegDef[] = [
  { name: "SMMU_IDR0", offset: SMMU_IDR0, width: 32, section: "6.3.1", fields: [["S2P", 0, 0], ["S1P", 1, 1], ["TTF", 3, 2, (v) => (v === 2n ? "AArch64" : v === 3n ? "AArch32 and AArch64" : undefined)], ["COHACC", 4, 4], ["ASID16", 12, 12], ["MSI", 13, 13], ["VMID16", 18, 18], ["ST_LVL", 28, 27, (v) => (v === 1n ? "2-level stream table supported" : "linear only")]] },
  { name: "SMMU_IDR1", offset: SMMU_IDR1, width: 32, section: "6.3.2", fields: [["SIDSIZE", 5, 0, (v) => `${v}-bit StreamIDs`], ["SSIDSIZE", 10, 6, (v) => `${v}-bit SubstreamIDs`], ["PRIQS", 15, 11, (v) => (v === 0n ? undefined : `${1n << v} entries max`)], ["EVTQS", 20, 16, (v) => `${1n << v} entries max`], ["CMDQS", 25, 21, (v) => `${1n << v} entries max`]] },
  { name: "SMMU_IDR5", offset: SMMU_IDR5, width: 32, section: "6.3.6", fields: [["OAS", 2, 0, (v) => `${[32, 36, 40, 42, 44, 48, 52][Number(v)] ?? "?"}-bit`], ["GRAN4K", 4, 4], ["GRAN16K", 5, 5], ["GRAN64K", 6, 6]] },
  { name: "SMMU_CR0", offset: SMMU_CR0, width: 32, section: "6.3.9", fields: [["SMMUEN", 0, 0, (v) => (v === 1n ? "translation enabled" : "disabled: GBPA decides")], ["PRIQEN", 1, 1], ["EVTQEN", 2, 2], ["CMDQEN", 3, 3]] },
  { name: "SMMU_GBPA", offset: SMMU_GBPA, width: 32, section: "6.3.14", fields: [["ABORT", 20, 20, (v) => (v === 1n ? "abort while disabled" : "bypass while disabled")]] },
  { name: "SMMU_GERROR", offset: SMMU_GERROR, width: 32, section: "6.3.17", fields: [["CMDQ_ERR", 0, 0], ["EVTQ_ABT_ERR", 2, 2], ["SFM_ERR", 8, 8]] },
  { name: "SMMU_GERRORN", offset: SMMU_GERRORN, width: 32, section: "6.3.18", fields: [["CMDQ_ERR", 0, 0], ["EVTQ_ABT_ERR", 2, 2], ["SFM_ERR", 8, 8]] },
  { name: "SMMU_STRTAB_BASE", offset: SMMU_STRTAB_BASE, width: 64, section: "6.3.23", fields: [["ADDR", 51, 6], ["RA", 62, 62]] },
  { name: "SMMU_STRTAB_BASE_CFG", offset: SMMU_STRTAB_BASE_CFG, width: 32, section: "6.3.24", fields: [["LOG2SIZE", 5, 0, (v) => `${1n << v} StreamIDs`], ["SPLIT", 10, 6], ["FMT", 17, 16, (v) => (v === 0n ? "linear" : v === 1n ? "2-level" : "reserved")]] },
  { name: "SMMU_CMDQ_BASE", offset: SMMU_CMDQ_BASE, width: 64, section: "6.3.25", fields: [["LOG2SIZE", 4, 0, (v) => `${1n << v} entries`], ["ADDR", 51, 5]] },
  { name: "SMMU_CMDQ_PROD", offset: SMMU_CMDQ_PROD, width: 32, section: "6.3.26", fields: [["WR", 19, 0]] },
  { name: "SMMU_CMDQ_CONS", offset: SMMU_CMDQ_CONS, width: 32, section: "6.3.27", fields: [["RD", 19, 0], ["ERR", 30, 24, (v) => ["none", "CERROR_ILL", "CERROR_ABT", "CERROR_ATC_INV_SYNC"][Number(v)]]] },
  { name: "SMMU_EVTQ_BASE", offset: SMMU_EVTQ_BASE, width: 64, section: "6.3.28", fields: [["LOG2SIZE", 4, 0, (v) => `${1n << v} entries`], ["ADDR", 51, 5]] },
  { name: "SMMU_EVTQ_PROD", offset: SMMU_EVTQ_PROD, width: 32, section: "6.3.29", fields: [["WR", 19, 0], ["OVFLG", 31, 31]] },
  { name: "SMMU_EVTQ_CONS", offset: SMMU_EVTQ_CONS, width: 32, section: "6.3.30", fields: [["RD", 19, 0], ["OVACKFLG", 31, 31]] },
  // The PRI queue (SMMU_IDR0.PRI): Linux arm-smmu-v3.h ARM_SMMU_PRIQ_BASE / _PROD / _CONS.
  { name: "SMMU_PRIQ_BASE", offset: SMMU_PRIQ_BASE, width: 64, section: "6.3", fields: [["LOG2SIZE", 4, 0, (v) => `${1n << v} entries`], ["ADDR", 51, 5]] },
  { name: "SMMU_PRIQ_PROD", offset: SMMU_PRIQ_PROD, width: 32, section: "6.3", fields: [["WR", 19, 0], ["OVFLG", 31, 31]] },
  { name: "SMMU_PRIQ_CONS", offset: SMMU_PRIQ_CONS, width: 32, section: "6.3", fields: [["RD", 19, 0], ["OVACKFLG", 31, 31]] },
];

function decodeReg(def: RegDef, value: bigint): DecodedField[] {
  return def.fields.map(([name, hi, lo, f]) => {
    const raw = bitsOf(value, hi, lo);
    const isAddr = name === "ADDR";
    const v = isAddr ? raw << BigInt(lo) : raw;
    return decodedField(name, hi, lo, raw, isAddr || hi - lo >= 8 ? hex(v) : v.toString(), f?.(raw));
  });
}

// ---------------------------------------------------------------- the model

export class SmmuV3Model implements IommuUnit {
  readonly model = "Arm SMMUv3";

  constructor(
    readonly unit: SmmuV3Unit,
    private readonly driver?: ArmSmmuV3Driver,
    private readonly mem: PhysicalMemory = unit.mem,
  ) {}

  // ---- decoders

  reason(code: number): ReasonInfo {
    const i = eventInfo(code);
    return { code, label: code === ABORT_NO_EVENT ? "abort (no event)" : `0x${code.toString(16).padStart(2, "0")} ${i.name}`, name: i.name, explanation: i.explanation };
  }

  decodeRegister(name: string, value: bigint): DecodedField[] | undefined {
    const def = REGS.find((r) => r.name === name);
    return def ? decodeReg(def, value) : undefined;
  }

  decodeWord(structure: EntryTarget["structure"], value: bigint, level?: number): DecodedWord {
    switch (structure) {
      case "root":
        return { fields: l1DescFields(value), present: (value & 0x1fn) !== 0n };
      case "root-hi":
        return { fields: [], present: true };
      case "context-lo":
        return { fields: qwordFields(steFields([value]), 0), present: (value & 1n) === 1n };
      case "context-hi":
        return { fields: qwordFields(steFields([0n, value]), 1), present: true };
      case "pte":
        return { fields: descriptorFields(value, 4 - (level ?? 1), this.driver?.stage === 2, this.driver?.granule), present: (value & 1n) === 1n };
      case "pasid-entry":
        // CD dword 0 (SMMUv3 spec 5.4): V is bit 31.
        return { fields: cdFields([value]).filter((f) => f.lo < 64), present: ((value >> 31n) & 1n) === 1n };
    }
  }

  counters(): Record<string, number> {
    return { ...this.unit.counters };
  }

  command(lo: bigint): CommandView {
    // The opcode is bits 7:0 of the command's first doubleword (SMMUv3 spec 4.1).
    const op = Number(lo & 0xffn);
    return { name: COMMAND_NAMES[op] ?? `unknown command 0x${op.toString(16).padStart(2, "0")}`, section: "SMMUv3 spec 4", via: "the command queue", unit: "SMMU" };
  }

  // ---- translate / explain

  translate(req: TranslateRequest): Verdict {
    const r = this.unit.translate(req.sid + this.unit.sidOffset, req.pasid ?? -1, Number((req.iova >> 32n) & 0xffffffffn), Number(req.iova & 0xffffffffn), req.write, false, req.privileged ?? false, req.exec ?? false);
    return this.verdict(r);
  }

  explain(req: TranslateRequest): Translation {
    const u = this.unit;
    const hi = Number((req.iova >> 32n) & 0xffffffffn);
    const lo = Number(req.iova & 0xffffffffn);
    const saved = u.recordTrail;
    u.recordTrail = true;
    try {
      const r = u.translate(req.sid + u.sidOffset, req.pasid ?? -1, hi, lo, req.write, true, req.privileged ?? false, req.exec ?? false);
      const verdict = this.verdict(r);
      if (!u.tlbHit && !u.steHit && !u.cdHit) return { request: req, verdict, trail: this.trail(r, req), stale: false };
      // A cache answered: the trail is the walk a miss does now (the same code, caches bypassed).
      u.bypassCaches = true;
      const r2 = u.translate(req.sid + u.sidOffset, req.pasid ?? -1, hi, lo, req.write, true, req.privileged ?? false, req.exec ?? false);
      const fresh = this.verdict(r2);
      const trail = this.trail(r2, req);
      const stale = fresh.kind !== verdict.kind || fresh.reason !== verdict.reason || fresh.level !== verdict.level || fresh.hpa !== verdict.hpa || fresh.perms !== verdict.perms;
      return { request: req, verdict, trail, stale };
    } finally {
      u.bypassCaches = false;
      u.recordTrail = saved;
      u.s1.recordTrail = false;
      u.s2.recordTrail = false;
    }
  }

  private verdict(r: number): Verdict {
    const u = this.unit;
    const kind = r !== 0 ? "fault" : u.kind === SmmuKind.Bypass ? "pass-through" : "translated";
    const walkStage = u.stage === SmmuStage.S1 || u.stage === SmmuStage.S2 || u.stage === SmmuStage.Tlb;
    const level = kind === "translated" ? cLevel(u.level) : r !== 0 && walkStage && u.level > 0 ? cLevel(u.level) : 0;
    const v: Verdict = { kind, reason: r, level, perms: r === 0 ? u.perm : 0, cached: u.tlbHit };
    if (u.atcHit && r === 0) v.deviceCached = true;
    if (r === 0) v.hpa = BigInt(u.oa);
    const dom = u.asid >= 0 ? u.asid : u.ste && (u.ste.config === STE_CFG_S2 || u.ste.config === STE_CFG_NESTED) ? u.vmid : -1;
    if (dom >= 0 && (kind === "translated" || (r !== 0 && walkStage))) v.domain = dom;
    return v;
  }

  /** The reads of the unit's last (uncached) translate(), and where it stopped. */
  private trail(r: number, req: TranslateRequest): Trail {
    const u = this.unit;
    const entries: TrailEntry[] = [];
    const out: Trail = { entries };
    const stop = (cause: StopCause, why: string) => {
      out.stop = { entry: entries.length - 1, reason: r, cause, why };
      return out;
    };
    if (u.stage === SmmuStage.Disabled) return r === 0 ? out : stop("invalid", "SMMU_CR0.SMMUEN = 0 and SMMU_GBPA.ABORT = 1: the transaction is terminated");
    const split = u.strtabSplit;
    const sid = req.sid + u.sidOffset;
    if (u.trailL1) {
      const w = u.trailL1.words;
      entries.push({ kind: "root", name: "L1STD", level: 0, index: Math.floor(sid / 2 ** split), address: BigInt(u.trailL1.address), raw: w ?? [], fields: w ? l1DescFields(w[0]!).map(toTrailField) : [] });
      if (!w) return stop("unreadable", "the level-1 stream table is not readable memory (F_STE_FETCH)");
    }
    if (u.stage === SmmuStage.StreamTable && !u.trailSte) return stop("invalid", u.why || eventInfo(r).explanation);
    const ts = u.trailSte;
    if (ts) {
      // Its index in its table: the StreamID in a linear table, its low SPLIT bits in a level-2 table (the devfn of a PCI requester);
      // named by its StreamID in every view, as Mapping Tables labels it (STE[0x100]).
      entries.push({ kind: "context", name: "STE", level: 0, index: u.trailL1 ? sid % 2 ** split : sid, indexText: hex(sid), address: BigInt(ts.address), raw: ts.words ?? [], fields: ts.words ? steFields(ts.words).map(toTrailField) : [] });
      if (!ts.words) return stop("unreadable", `the STE of StreamID ${hex(sid)} is not readable memory (F_STE_FETCH)`);
    }
    if (u.stage === SmmuStage.Ste || (u.stage === SmmuStage.StreamTable && r !== 0)) {
      if (r === 0) return out;
      if (r === C_BAD_STE) return stop(u.ste && !u.ste.valid ? "not-present" : "invalid", `C_BAD_STE: ${u.why}`);
      if (r === ABORT_NO_EVENT) return stop("invalid", "STE.Config = 0b000: abort, no event recorded");
      return stop("invalid", u.why || eventInfo(r).explanation);
    }
    const tc = u.trailCd;
    // Nested: the stage-2 walk that translated the CD's IPA comes before the CD (nested.ts).
    for (const f of u.nestedFetches) if (f.what === "cd") entries.push(...nestedEntries(f, cLevel));
    // A 2-level CD table: the L1CD of the SubstreamID first (SMMUv3 spec 5.3).
    const l1cd = u.trailL1Cd;
    const ssid = Math.max(0, req.pasid ?? 0);
    const cdBits = u.ste ? cdSplit(u.ste.s1Fmt) : 10;
    if (l1cd) {
      entries.push({ kind: "pasid", name: "L1CD", level: 0, index: Math.floor(ssid / 2 ** cdBits), address: BigInt(l1cd.address), raw: l1cd.words ?? [], fields: l1cd.words ? l1CdFields(l1cd.words[0]!).map(toTrailField) : [] });
      if (!l1cd.words) return stop("unreadable", "the level-1 CD table is not readable memory (F_CD_FETCH)");
      if (r === C_BAD_SUBSTREAMID && !tc) return stop("not-present", `C_BAD_SUBSTREAMID: ${u.why}`);
    }
    if (tc) {
      // Its index in its (leaf) table; in a 2-level table named by its SubstreamID.
      entries.push({ kind: "pasid", name: "CD", level: 0, index: l1cd ? ssid % 2 ** cdBits : ssid, ...(l1cd ? { indexText: String(ssid) } : {}), address: BigInt(tc.address), raw: tc.words ?? [], fields: tc.words ? cdFields(tc.words).map(toTrailField) : [] });
      if (!tc.words) return stop("unreadable", "the CD is not readable memory (F_CD_FETCH)");
    }
    if (u.stage === SmmuStage.Cd) {
      if (r === 0) return out;
      const cdFetch = u.nestedFetches.find((f) => f.what === "cd" && f.result !== 0);
      if (cdFetch) return stop(cdFetch.unreadable ? "unreadable" : "invalid", `stage 2 faulted (${eventInfo(cdFetch.result).name}) translating the CD's IPA ${hex(cdFetch.ipa)}`);
      if (r === C_BAD_CD) return stop(u.cd && !u.cd.valid ? "not-present" : "invalid", `C_BAD_CD: ${u.why}`);
      return stop("invalid", u.why || eventInfo(r).explanation);
    }
    // Stage-1 then stage-2 descriptors, as the walkers read them.
    this.walkEntries(entries, u.s1, false, req.iova, u.nestedFetches);
    if (u.stage === SmmuStage.S1 && r !== 0) return this.walkStop(out, stop, r, u.s1, false, req);
    if (u.stage === SmmuStage.S2 || (u.stage === SmmuStage.S1 && r === 0)) {
      this.walkEntries(entries, u.s2, true, BigInt(u.ipa));
      if (r !== 0) return this.walkStop(out, stop, r, u.s2, true, req);
    }
    return out;
  }

  private walkEntries(entries: TrailEntry[], w: StageWalker, s2: boolean, ia: bigint, nested: readonly NestedFetch[] = []): void {
    // A nested stream's stage-1 descriptor i is read after the stage-2 walk of its IPA (s1Index i).
    const before = (i: number) => {
      for (const f of nested) if (f.what === "s1" && f.s1Index === i) entries.push(...nestedEntries(f, cLevel));
    };
    for (let i = 0; i < w.trailLen; i++) {
      before(i);
      const v = (BigInt(w.trailHi[i]!) << 32n) | BigInt(w.trailLo[i]!);
      const lvl = w.trailLevel[i]!;
      const g = w.granule;
      entries.push({ kind: "pte", name: descriptorName(v, lvl, s2), level: cLevel(lvl), index: Number((ia >> BigInt(levelShift(lvl, g))) & ((1n << BigInt(g - 3)) - 1n)), address: BigInt(w.trailAddr[i]!), raw: [v], fields: descriptorFields(v, lvl, s2, g).map(toTrailField) });
    }
    before(w.trailLen); // a stage-2 fault on the next fetch: its walk ends the trail
  }

  private walkStop(out: Trail, stop: (c: StopCause, why: string) => Trail, r: number, w: StageWalker, s2: boolean, req: TranslateRequest): Trail {
    const u = this.unit;
    const st = s2 ? "stage 2" : "stage 1";
    if (w.trailUnreadable) {
      const lvl = w.trailLevel[w.trailLen]!;
      out.entries.push({ kind: "pte", name: descriptorName(undefined, lvl, s2), level: cLevel(lvl), index: 0, address: BigInt(w.trailAddr[w.trailLen]!), raw: [], fields: [] });
      return stop("unreadable", `the ${st} L${lvl} table is not readable memory (F_WALK_EABT)`);
    }
    if (w.tableFault !== 0) {
      const f = u.nestedFetches.find((x) => x.what === "s1" && x.result !== 0);
      return stop(f?.unreadable ? "unreadable" : "invalid", `stage 2 faulted (${eventInfo(w.tableFault).name}) translating the IPA ${f ? hex(f.ipa) : "?"} of the ${f ? nestedTarget(f) : "stage-1 table"}`);
    }
    const last = out.entries[out.entries.length - 1];
    const name = last?.name ?? `${st} walk`;
    if (w.trailLen === 0 && r === F_TRANSLATION) {
      const cfg = s2 ? u.ste?.s2 : u.cd?.s1;
      if (!s2 && u.cd?.epd0) return stop("invalid", "CD.EPD0 = 1: walks of TTB0 are disabled");
      return stop("address-width", `${s2 ? "IPA" : "IOVA"} ${hex(s2 ? BigInt(u.ipa) : req.iova)} is beyond the ${cfg?.inputBits ?? "?"}-bit input range of ${st} (${s2 ? "S2T0SZ" : "T0SZ"})`);
    }
    const v = last?.raw[0] ?? 0n;
    switch (r) {
      case F_TRANSLATION:
        return stop("not-present", (v & 1n) === 0n ? `${name} invalid (bit 0 = 0)` : `${name}: reserved descriptor type`);
      case F_ADDR_SIZE:
        return stop("invalid", `the address in the ${name} is beyond the ${(s2 ? u.ste?.s2 : u.cd?.s1)?.outputBits ?? "?"}-bit output size (${s2 ? "S2PS" : "IPS"})`);
      case F_ACCESS:
        return stop("invalid", `AF = 0 in the ${name}`);
      case F_PERMISSION:
        return stop("permission", s2 ? `${req.write ? "write" : "read"} request, S2AP = ${(v >> 6n) & 3n} in the ${name}` : `${req.privileged ? "privileged" : "unprivileged"} ${req.write ? "write" : "read"} request, AP = ${(v >> 6n) & 3n} in the ${name}`);
      default:
        return stop("invalid", `${eventInfo(r).name} at the ${name}`);
    }
  }

  // ---- invalidate / locate

  invalidate(req: InvalidateRequest): InvalidateResult {
    const d = this.driver;
    if (d === undefined) return { ok: false, dropped: 0, error: "this SMMU has no driver to issue commands", log: [] };
    const id = req.domain ?? 0;
    const dom = d.domains.find((x) => (x.stage === 1 && x.asid === id) || (x.stage === 2 && x.vmid === id));
    const cmds: [bigint, bigint][] = [];
    switch (req.scope) {
      case "global":
        cmds.push(cmd(CMD_TLBI_NSNH_ALL));
        break;
      case "domain":
        if (!dom || dom.stage === 1) cmds.push(cmd(CMD_TLBI_NH_ASID, BigInt(id) << 48n));
        if (!dom || dom.stage === 2) cmds.push(cmd(CMD_TLBI_S12_VMALL, BigInt(id) << 32n));
        break;
      case "page": {
        const pages = 2 ** (req.order ?? 0);
        const base = (req.iova ?? 0n) & ~0xfffn;
        for (let i = 0; i < pages; i++) {
          const a = base + BigInt(i) * 4096n;
          if (!dom || dom.stage === 1) cmds.push(cmd(CMD_TLBI_NH_VA, BigInt(id) << 48n, a | (req.leafOnly ? 1n : 0n)));
          if (!dom || dom.stage === 2) cmds.push(cmd(CMD_TLBI_S2_IPA, BigInt(id) << 32n, a | (req.leafOnly ? 1n : 0n)));
        }
        break;
      }
      case "context-global":
        cmds.push(cmd(CMD_CFGI_ALL, 0n, 31n));
        break;
      case "context-domain":
        for (const sid of dom?.sids ?? []) cmds.push(cmd(CMD_CFGI_STE, BigInt(sid) << 32n, 0n));
        break;
      case "context-device":
        cmds.push(cmd(CMD_CFGI_STE, BigInt((req.sid ?? 0) + this.unit.sidOffset) << 32n, 0n));
        break;
    }
    const before = this.unit.tlbEntries().length;
    if (!d.submit(cmds)) return { ok: false, dropped: 0, error: "the SMMU stopped on an illegal command (GERROR.CMDQ_ERR)", log: d.serviceGerror() };
    return { ok: true, dropped: before - this.unit.tlbEntries().length, log: [] };
  }

  /**
   * Where an entry on the path of (sid, iova) lives: "root" the level-1 stream table descriptor,
   * "context-lo"/"context-hi" the STE's dwords 0/1, "pte" a descriptor of the stream's first
   * translating stage (stage 1 with a CD, else stage 2) at the contract level (1 = Arm level 3).
   */
  locate(target: EntryTarget): number | string {
    const u = this.unit;
    const t = { ...target, sid: target.sid + u.sidOffset };
    const mem = this.mem;
    const split = u.strtabSplit;
    const twoLevel = u.strtabFmt === STRTAB_FMT_2LVL;
    if (t.structure === "root" || t.structure === "root-hi") {
      if (!twoLevel) return "the stream table is linear: there is no level-1 descriptor";
      return t.structure === "root" ? u.strtabAddr + Math.floor(t.sid / 2 ** split) * 8 : "a level-1 stream table descriptor is one dword";
    }
    let steAt: number;
    if (twoLevel) {
      const d = mem.readU64(u.strtabAddr + Math.floor(t.sid / 2 ** split) * 8);
      if (d === undefined || (d & 0x1fn) === 0n) return `the level-1 stream table descriptor of StreamID ${hex(t.sid)} is invalid (Span = 0)`;
      steAt = Number((d >> 6n) & 0x3ffffffffffn) * 64 + (t.sid % 2 ** split) * 64;
    } else steAt = u.strtabAddr + t.sid * 64;
    if (t.structure === "context-lo") return steAt;
    if (t.structure === "context-hi") return steAt + 8;
    const words = readWords(mem, steAt, 8);
    if (!words) return `the STE of StreamID ${hex(t.sid)} is not readable`;
    const ste = u.decodeSte(t.sid, steAt, words);
    if (ste.bad !== undefined) return `the STE of StreamID ${hex(t.sid)} is invalid: ${ste.bad}`;
    if (t.structure === "pasid-entry") {
      // The CD of substream 0: at S1ContextPtr, or through its L1CD in a 2-level table (a PA for stage 1 only; an IPA under nesting).
      if (ste.config === STE_CFG_S1) return this.cdAddress(ste, 0) ?? `the L1CD of SubstreamID 0 of StreamID ${hex(t.sid)} is invalid`;
      return `StreamID ${hex(t.sid)} has no host context descriptor (${steConfigName(ste.config)})`;
    }
    let cfg: StageConfig | undefined;
    if (ste.config === STE_CFG_S1 || ste.config === STE_CFG_NESTED) {
      const cdAt = this.cdAddress(ste, 0) ?? -1;
      const cw = cdAt < 0 ? undefined : readWords(mem, cdAt, 8);
      if (!cw) return "the CD is not readable";
      const cd = u.decodeCd(cdAt, cw);
      if (cd.bad !== undefined) return `the CD is invalid: ${cd.bad}`;
      cfg = cd.s1;
    } else if (ste.config === STE_CFG_S2) cfg = ste.s2;
    if (!cfg) return `StreamID ${hex(t.sid)} does not translate (${steConfigName(ste.config)})`;
    const iova = Number(t.iova ?? 0n);
    const want = t.level === undefined ? undefined : 4 - t.level;
    let table = cfg.ttb;
    for (let l = cfg.startLevel; l <= 3; l++) {
      const shift = levelShift(l, cfg.granule);
      const bits = l === cfg.startLevel ? cfg.inputBits - shift : cfg.granule - 3;
      const at = table + (Math.floor(iova / 2 ** shift) % 2 ** bits) * 8;
      if (l === want) return at;
      const v = mem.readU64(at);
      if (v === undefined || (v & 1n) === 0n) return want === undefined && v !== undefined ? at : `no level-${l + 1} table for IOVA ${hex(iova)}: the L${l} descriptor is invalid`;
      if (l === 3 || (v & 2n) === 0n) return want === undefined ? at : `IOVA ${hex(iova)} is mapped by a block at level ${l}`;
      table = Number(v & 0x0000ffffffffffffn & ~(2n ** BigInt(cfg.granule) - 1n));
    }
    return `level ${t.level ?? "?"} is outside this walk (levels ${cfg.startLevel}..3)`;
  }

  // ---- inspection

  registers(): RegisterView[] {
    const u = this.unit;
    const values: Record<string, number> = {
      SMMU_IDR0: u.idr0,
      SMMU_IDR1: u.idr1,
      SMMU_IDR5: u.idr5,
      SMMU_CR0: u.cr0,
      SMMU_GBPA: u.gbpa,
      SMMU_GERROR: u.gerror,
      SMMU_GERRORN: u.gerrorn,
      SMMU_STRTAB_BASE: u.strtabBase,
      SMMU_STRTAB_BASE_CFG: u.strtabBaseCfg,
      SMMU_CMDQ_BASE: u.cmdqBase,
      SMMU_CMDQ_PROD: u.cmdqProd,
      SMMU_CMDQ_CONS: u.cmdqCons,
      SMMU_EVTQ_BASE: u.evtqBase,
      SMMU_EVTQ_PROD: u.evtqProd,
      SMMU_EVTQ_CONS: u.evtqCons,
      SMMU_PRIQ_BASE: u.priqBase,
      SMMU_PRIQ_PROD: u.priqProd,
      SMMU_PRIQ_CONS: u.priqCons,
    };
    // The PRI queue's registers only where the SMMU has one (SMMU_IDR0.PRI).
    return REGS.filter((d) => u.spec.pri === true || !d.name.startsWith("SMMU_PRIQ")).map((d) => {
      const value = BigInt(values[d.name] ?? 0);
      return { name: d.name, offset: d.offset, width: d.width, section: d.section, value, fields: decodeReg(d, value) };
    });
  }

  faults(kernel?: string): FaultRecordView[] {
    const u = this.unit;
    const era = kernel === undefined ? undefined : smmuKernelEra(kernel);
    const pending = new Set(u.pendingEvents().map((e) => e.index));
    return u.eventSlots().map(({ index, raw }) => {
      const e = decodeEvent(raw);
      const fetch = e.id === F_STE_FETCH || e.id === F_CD_FETCH;
      return {
        index,
        raw: [raw[0], raw[1]] as const,
        words: raw,
        pending: pending.has(index),
        fields: eventFields(raw),
        sid: e.sid - u.sidOffset,
        reason: e.id,
        address: fetch ? e.fetchAddr : e.inputAddr,
        write: !e.read,
        ...(e.ssv ? { pasid: e.ssid } : {}),
        dmesg: renderEvent(raw, u.name, this.driver?.masters.get(e.sid), era),
      };
    });
  }

  tables(): InspectTables {
    const u = this.unit;
    return {
      name: u.name,
      model: "Arm SMMUv3",
      addressWidth: u.spec.oas,
      translationEnabled: u.enabled,
      faultRecords: u.evtqBase === 0 ? 0 : 2 ** (u.evtqBase % 32),
      root: this.streamTable(),
      // The Arm spec's names of the structures (IHI 0070: stream table, STE, CD; the event queue).
      names: {
        root: "Stream table",
        entry: "STE",
        pageTablePointer: "S1ContextPtr",
        entryCache: "Configuration cache",
        faults: "Event queue",
        faultRecord: "event",
        faultsTooltip: "The event queue at SMMU_EVTQ_BASE (SMMUv3 spec 6.3.28): 32-byte event records the SMMU writes at its producer index. Linux's arm_smmu_evtq_thread prints each record it consumes; serviced (F = 0): a record already consumed, still in the queue's memory.",
        spec: "SMMUv3 spec",
      },
      iotlb: { capacity: u.tlb.size, geometry: `${u.tlb.sets}×${u.tlb.ways}`, entries: () => this.tlbNodes() },
      // The endpoints' ATCs (PCIe ATS; an unbounded list in this model: no capacity).
      ...(u.atc.entries.length > 0 || (this.driver?.atsMasters.size ?? 0) > 0 ? { deviceTlb: { entries: () => this.atcEntries() } } : {}),
      contextCache: { entries: () => this.steCacheNodes() },
      // The PRI queue (SMMU_IDR0.PRI, PRIQEN): the Page Requests of PRI endpoints, 16-byte entries.
      ...(u.priqBase !== 0 ? { pageRequests: { name: "PRI queue", address: BigInt(u.priqBase - (u.priqBase % 32)), capacity: 2 ** (u.priqBase % 32), entries: () => this.pageRequestEntries() } } : {}),
      // IOMMU_RESV_SW_MSI (arm_smmu_get_resv_regions): the ITS doorbell's window in every domain.
      reservedRegions: [{ kind: "msi", first: BigInt(MSI_IOVA_BASE), last: BigInt(MSI_IOVA_BASE + MSI_IOVA_LENGTH - 1), devices: [], source: "MSI window (IOMMU_RESV_SW_MSI)" }],
    };
  }

  /** The PRI queue's entries as in memory, decoded (spec.ts priqFields) and printed as arm_smmu_handle_ppr prints them. */
  private pageRequestEntries(): PageRequestView[] {
    const u = this.unit;
    return u.pageRequestSlots().map(({ index, at, raw, pending }) => {
      const [e0, e1] = raw;
      const bit = (n: bigint) => ((e0 >> n) & 1n) === 1n;
      const ssv = bit(63n);
      return {
        key: String(index),
        index,
        address: BigInt(at),
        raw,
        fields: priqFields(e0, e1),
        sid: Number(e0 & 0xffffffffn) - u.sidOffset,
        ...(ssv ? { pasid: Number((e0 >> 32n) & 0xfffffn) } : {}),
        page: e1 & 0xfffffffffffff000n,
        access: `${bit(60n) ? "R" : ""}${bit(61n) ? "W" : ""}${bit(59n) ? "X" : ""}`,
        group: Number(e1 & 0x1ffn),
        last: bit(62n),
        pending,
        dmesg: renderPageRequest(u.name, raw),
      };
    });
  }

  private streamTable(): RootTableNode {
    const u = this.unit;
    const base = BigInt(u.strtabAddr);
    const twoLevel = u.strtabFmt === STRTAB_FMT_2LVL;
    const children = (): TableNode[] => (twoLevel ? this.l1Entries() : this.steNodes(u.strtabAddr, 0, 2 ** u.strtabLog2Size));
    return { kind: "root-table", key: "root", address: base, raw: [], fields: [], label: "Stream table", description: `${twoLevel ? "2-level" : "linear"} · ${2 ** u.strtabLog2Size} StreamIDs`, hasChildren: true, children, child: (k) => children().find((n) => n.key === k) };
  }

  private l1Entries(): TableNode[] {
    const u = this.unit;
    const split = u.strtabSplit;
    const n = 2 ** Math.max(0, u.strtabLog2Size - split);
    const out: TableNode[] = [];
    let absent = 0;
    for (let i = 0; i < n; i++) {
      const at = u.strtabAddr + i * 8;
      const d = this.mem.readU64(at);
      if (d === undefined) {
        out.push(unreadableNode(`l1-${i}`, at, F_STE_FETCH));
        continue;
      }
      const span = Number(d & 0x1fn);
      if (span === 0) {
        absent++;
        continue;
      }
      const l2 = Number((d >> 6n) & 0x3ffffffffffn) * 64;
      const count = Math.min(2 ** (span - 1), 2 ** split);
      const children = () => this.steNodes(l2, i * 2 ** split, count);
      const node: RootEntryNode = {
        kind: "root-entry",
        key: i.toString(16).padStart(2, "0"),
        address: BigInt(at),
        raw: [d],
        fields: l1DescFields(d),
        label: `L1STD[${i}]`,
        description: `StreamIDs ${hex(i * 2 ** split)}–${hex(i * 2 ** split + count - 1)} · level-2 table @ ${hex(l2)}`,
        bus: i,
        contextTable: BigInt(l2),
        hasChildren: true,
        children,
        child: (k) => children().find((c) => c.key === k),
      };
      out.push(node);
    }
    if (absent > 0) out.push(notPresentNode("absent", 0, n - 1, absent, { label: `${absent} L1STD${absent === 1 ? "" : "s"} invalid`, description: "Span = 0: C_BAD_STREAMID" }));
    return out;
  }

  private steNodes(tableAt: number, firstSid: number, count: number): TableNode[] {
    const u = this.unit;
    const out: TableNode[] = [];
    let aborting = 0;
    for (let i = 0; i < count; i++) {
      const at = tableAt + i * 64;
      const words = readWords(this.mem, at, 8);
      if (!words) {
        out.push(unreadableNode(`ste-${i}`, at, F_STE_FETCH));
        break;
      }
      const ste = u.decodeSte(firstSid + i, at, words);
      if (ste.valid && ste.config === STE_CFG_ABORT) {
        aborting++;
        continue;
      }
      if (!ste.valid && words.every((w) => w === 0n)) continue;
      out.push(this.steNode(ste));
    }
    if (aborting > 0) out.push({ kind: "not-present", key: "abort", raw: [], fields: [], label: `${aborting} STE${aborting === 1 ? "" : "s"} abort`, description: "V = 1, Config = abort: DMA terminated without an event", first: firstSid, last: firstSid + count - 1, count: aborting, ...NO_CHILDREN });
    return out;
  }

  private steNode(ste: Ste): ContextEntryNode {
    const u = this.unit;
    const cfg = ste.config;
    const s1 = cfg === STE_CFG_S1 || cfg === STE_CFG_NESTED;
    const s2 = cfg === STE_CFG_S2 || cfg === STE_CFG_NESTED;
    let cd: Cd | undefined;
    const cd0At = ste.bad === undefined && s1 ? this.cdAddress(ste, 0) : undefined;
    if (cd0At !== undefined) {
      const cw = readWords(this.mem, cd0At, 8);
      if (cw) cd = u.decodeCd(cd0At, cw);
    }
    const stage = cd && cd.bad === undefined ? cd.s1 : s2 ? ste.s2 : undefined;
    const did = cd ? cd.asid : s2 ? ste.vmid : 0;
    const children = (): TableNode[] => {
      if (ste.bad !== undefined) return [];
      const out: TableNode[] = [];
      if (s1) out.push(cd ? this.cdNode(ste, cd) : unreadableNode("cd", cd0At ?? ste.s1ContextPtr, F_CD_FETCH));
      // The CDs of the other SubstreamIDs (PASIDs) with V = 1, in SubstreamID order.
      if (s1) for (const [ssid, c] of this.pasidCds(ste)) out.push(this.cdNode(ste, c, ssid));
      if (s2 && ste.s2) out.push(this.s2Node(ste, ste.s2));
      return out;
    };
    const translation: ContextEntryNode["translation"] = ste.bad !== undefined ? "reserved" : cfg === STE_CFG_BYPASS ? "pass-through" : "translated";
    const bad = ste.bad !== undefined ? { reserved: { bits: ste.words.map(() => 0n), reason: C_BAD_STE } } : {};
    return {
      kind: "context-entry",
      key: ste.sid.toString(16).padStart(4, "0"),
      address: BigInt(ste.address),
      raw: ste.words,
      fields: steFields(ste.words),
      label: `STE[${hex(ste.sid)}]`,
      description: `${steConfigName(cfg)}${cd ? ` · ASID ${cd.asid}` : ""}${s2 ? ` · VMID ${ste.vmid}` : ""}${ste.bad !== undefined ? ` · C_BAD_STE: ${ste.bad}` : ""}`,
      ...bad,
      sid: ste.sid - u.sidOffset,
      did,
      translation,
      levels: stage ? 4 - stage.startLevel : 0,
      pageTable: BigInt(stage?.ttb ?? 0),
      aw: stage?.inputBits ?? 0,
      fpd: s1 ? !(cd?.record ?? true) : !ste.s2Record,
      hasChildren: ste.bad === undefined && (s1 || s2),
      children,
      child: (k) => children().find((c) => c.key === k),
    };
  }

  /**
   * Where the CD of SubstreamID `ssid` of a stage-1 STE is (SMMUv3 spec 5.3): S1ContextPtr + 64 *
   * ssid in a linear table (or the only CD when S1CDMax = 0), else through the L1CD of a 2-level
   * table; undefined when that L1CD is invalid or unreadable.
   */
  private cdAddress(ste: Ste, ssid: number): number | undefined {
    if (ste.s1CdMax === 0 || ste.s1Fmt === S1FMT_LINEAR) return ste.s1ContextPtr + ssid * 64;
    const split = cdSplit(ste.s1Fmt);
    const d = this.mem.readU64(ste.s1ContextPtr + Math.floor(ssid / 2 ** split) * 8);
    if (d === undefined || (d & 1n) === 0n) return undefined;
    return Number((d >> 12n) & 0xffffffffffn) * 4096 + (ssid % 2 ** split) * 64;
  }

  /** The valid CDs of SubstreamIDs 1.. of a stage-1 STE with substreams (at most PASID_CD_LIMIT looked at). */
  private pasidCds(ste: Ste): [number, Cd][] {
    const out: [number, Cd][] = [];
    if (ste.s1CdMax === 0) return out;
    const n = 2 ** ste.s1CdMax;
    const split = ste.s1Fmt === S1FMT_LINEAR ? 0 : cdSplit(ste.s1Fmt);
    let looked = 0;
    for (let ssid = 1; ssid < n && looked < PASID_CD_LIMIT; ssid++) {
      // A 2-level table: skip a whole leaf whose L1CD is invalid.
      if (split > 0 && ssid % 2 ** split === 0 && this.cdAddress(ste, ssid) === undefined) {
        ssid += 2 ** split - 1;
        continue;
      }
      const at = this.cdAddress(ste, ssid);
      if (at === undefined) continue;
      looked++;
      const w = readWords(this.mem, at, 8);
      if (w && (w[0]! & (1n << 31n)) !== 0n) out.push([ssid, this.unit.decodeCd(at, w)]);
    }
    return out;
  }

  private cdNode(ste: Ste, cd: Cd, ssid = 0): DomainNode {
    const children = () => (cd.bad === undefined && !cd.epd0 ? this.tableNodes(cd.s1, cd.s1.ttb, cd.s1.startLevel, 0, cd.s1.inputBits - levelShift(cd.s1.startLevel, cd.s1.granule)) : []);
    return {
      kind: "domain",
      key: ssid === 0 ? "cd" : `cd-${ssid.toString(16)}`,
      address: BigInt(cd.address),
      raw: cd.words,
      fields: cdFields(cd.words),
      // SubstreamID 0 is the RID's CD (IOMMU_NO_PASID); the others a PASID's.
      label: ssid === 0 ? `CD (ASID ${cd.asid})` : `CD[${hex(ssid)}] (ASID ${cd.asid})`,
      description: cd.bad !== undefined ? `C_BAD_CD: ${cd.bad}` : `${cd.s1.inputBits}-bit IOVA · S1 L${cd.s1.startLevel} table @ ${hex(cd.s1.ttb)}`,
      ...(cd.bad !== undefined ? { reserved: { bits: cd.words.map(() => 0n), reason: C_BAD_CD } } : {}),
      did: cd.asid,
      levels: 4 - cd.s1.startLevel,
      pageTable: BigInt(cd.s1.ttb),
      topName: `S1 L${cd.s1.startLevel} table`,
      sharedWith: this.sharing(ste, (o) => o.config !== STE_CFG_S2 && o.s1ContextPtr !== ste.s1ContextPtr && this.cdOf(o)?.asid === cd.asid),
      hasChildren: cd.bad === undefined && !cd.epd0,
      children,
      child: (k) => children().find((c) => c.key === k),
    };
  }

  private s2Node(ste: Ste, s2: StageConfig): DomainNode {
    const children = () => this.tableNodes(s2, s2.ttb, s2.startLevel, 0, s2.inputBits - levelShift(s2.startLevel, s2.granule));
    return {
      kind: "domain",
      key: "s2",
      address: BigInt(s2.ttb),
      raw: [],
      fields: [],
      label: `stage 2 (VMID ${ste.vmid})`,
      description: `${s2.inputBits}-bit IPA · S2 L${s2.startLevel} table @ ${hex(s2.ttb)}`,
      did: ste.vmid,
      levels: 4 - s2.startLevel,
      pageTable: BigInt(s2.ttb),
      topName: `S2 L${s2.startLevel} table`,
      sharedWith: this.sharing(ste, (o) => (o.config === STE_CFG_S2 || o.config === STE_CFG_NESTED) && o.vmid === ste.vmid),
      hasChildren: true,
      children,
      child: (k) => children().find((c) => c.key === k),
    };
  }

  private cdOf(ste: Ste): Cd | undefined {
    const at = this.cdAddress(ste, 0);
    const cw = at === undefined ? undefined : readWords(this.mem, at, 8);
    return cw && at !== undefined ? this.unit.decodeCd(at, cw) : undefined;
  }

  /** Other StreamIDs whose STEs the driver attached to the same domain (the driver's list: no scan of 2^SIDSIZE STEs). */
  private sharing(ste: Ste, same: (o: Ste) => boolean): number[] {
    const d = this.driver?.domains.find((x) => x.sids.includes(ste.sid));
    if (!d) return [];
    const out: number[] = [];
    for (const sid of d.sids) {
      if (sid === ste.sid) continue;
      const at = this.driver!.steAddress(sid, false);
      const w = at === undefined ? undefined : readWords(this.mem, at, 8);
      if (w && at !== undefined && same(this.unit.decodeSte(sid, at, w))) out.push(sid - this.unit.sidOffset);
    }
    return out;
  }

  /** The descriptors of one table (level `level`, covering IOVAs from `base`), valid ones as nodes, invalid runs collapsed. */
  private tableNodes(cfg: StageConfig, table: number, level: number, base: number, bitsHere: number): TableNode[] {
    const span = 2 ** levelShift(level, cfg.granule);
    return tableLevelNodes(this.mem, {
      table,
      entries: 2 ** (level === cfg.startLevel ? bitsHere : cfg.granule - 3),
      iovaBase: BigInt(base),
      span: BigInt(span),
      present: (v) => (v & 1n) !== 0n, // descriptor bit 0: valid
      node: (i, v) => this.descNode(cfg, level, i, table + i * 8, v, base + i * span),
      runKey: (first) => `np-${first}`,
      unreadable: (i, at) => unreadableNode(`t-${i}`, at, F_WALK_EABT),
    });
  }

  private descNode(cfg: StageConfig, level: number, index: number, at: number, v: bigint, iova: number): PageEntryNode {
    const isTable = (v & 2n) === 2n && level < 3;
    const leaf = !isTable;
    const shift = levelShift(level, cfg.granule);
    const target = v & 0x0000ffffffffffffn & ~(2n ** BigInt(cfg.granule) - 1n);
    const lo = Number(v & 0xffffffffn);
    const hi = Number(v >> 32n);
    const perm = cfg.s2 ? ((lo >>> 6) & 1 ? 1 : 0) | ((lo >>> 7) & 1 ? 2 : 0) : leaf ? ((lo >>> 6) & 1 ? 1 : 0) | ((lo >>> 6) & 1 && !((lo >>> 7) & 1) ? 2 : 0) : hi & (1 << 30) ? 1 : 3;
    const children = () => (isTable ? this.tableNodes(cfg, Number(target), level + 1, iova, cfg.granule - 3) : []);
    const st = cfg.s2 ? "S2" : "S1";
    const size = 2 ** shift;
    const sizeText = size >= 2 ** 30 ? `${size / 2 ** 30} GiB` : size >= 2 ** 20 ? `${size / 2 ** 20} MiB` : `${size / 1024} KiB`;
    const permText = `${perm & 1 ? "R" : "-"}${perm & 2 ? "W" : "-"}`;
    const af = (v >> 10n) & 1n ? "" : " · AF = 0";
    return {
      kind: "pte",
      key: String(index),
      address: BigInt(at),
      raw: [v],
      fields: descriptorFields(v, level, cfg.s2, cfg.granule),
      label: `${descriptorName(v, level, cfg.s2)} [${index}]`,
      description: leaf ? `${permText}${af} · ${cfg.s2 ? "IPA" : "IOVA"} ${hex(iova)} → ${cfg.s2 ? "PA" : "output"} ${hex(target & ~BigInt(size - 1))} (${sizeText})` : `${st} L${level + 1} table @ ${hex(target)}`,
      level: cLevel(level),
      index,
      iova: BigInt(iova),
      span: BigInt(2 ** shift),
      leaf,
      perm,
      target,
      pageSize: leaf ? BigInt(2 ** shift) : 0n,
      hasChildren: isTable,
      children,
      child: (k) => children().find((c) => c.key === k),
    };
  }

  /**
   * The endpoints' ATC entries (ats.ts): translations a device holds and uses without asking the
   * SMMU (emptied only by CMD_ATC_INV), each checked against the tables now by the unit's own
   * translate() with its caches bypassed (a probe: nothing filled, no event).
   */
  private atcEntries(): DeviceTlbEntryView[] {
    const u = this.unit;
    return u.atc.entries.map((e, i) => {
      const stale = staleAgainstTables(u, { hpa: BigInt(e.pa), perm: e.perm }, () => ({ reason: u.translate(e.sid, e.ssid, Math.floor(e.iova / 2 ** 32), e.iova % 2 ** 32, false, true), hpa: BigInt(u.oa), perm: u.perm & 3 }));
      return { key: `atc-${i}`, sid: e.sid, ...(e.ssid >= 0 ? { pasid: e.ssid } : {}), iova: BigInt(e.iova), hpa: BigInt(e.pa), pageSize: BigInt(e.size), perm: e.perm, stale };
    });
  }

  private tlbNodes(): IotlbEntryNode[] {
    const tlb = this.unit.tlb;
    return tlb.entries().map((i) => {
      const kind = tlb.kind(i);
      const size = 2 ** tlb.shift(i);
      const set = Math.floor(i / tlb.ways);
      return {
        kind: "iotlb-entry",
        key: `tlb-${i}`,
        raw: [],
        fields: [],
        did: kind === 2 ? tlb.vmid(i) : tlb.asid(i),
        iova: BigInt(tlb.vpn(i) * size),
        hpa: BigInt(tlb.oa(i)),
        pageSize: BigInt(size),
        perm: tlb.perm(i),
        slot: `set ${set} way ${i % tlb.ways} · ${kind === 1 ? `stage 1 ASID ${tlb.asid(i)}` : kind === 2 ? `stage 2 VMID ${tlb.vmid(i)}` : `nested ASID ${tlb.asid(i)} VMID ${tlb.vmid(i)}`}`,
        ...NO_CHILDREN,
      };
    });
  }

  private steCacheNodes(): ContextCacheEntryNode[] {
    return [...this.unit.steCache.values()].map((s) => {
      const stage = s.s2;
      return {
        kind: "cc-entry",
        key: `ste-${s.sid}`,
        raw: s.words,
        fields: steFields(s.words),
        label: `STE[${hex(s.sid)}] (cached)`,
        description: `${steConfigName(s.config)}${s.config === STE_CFG_S2 ? ` · VMID ${s.vmid}` : s.config === STE_CFG_BYPASS ? "" : ` · ASID ${this.unit.cdCache.get(s.sid * 2 ** 20)?.asid ?? 0}`}`,
        sid: s.sid - this.unit.sidOffset,
        did: s.config === STE_CFG_S2 ? s.vmid : (this.unit.cdCache.get(s.sid * 2 ** 20)?.asid ?? 0),
        translation: s.config === STE_CFG_BYPASS ? "pass-through" : "translated",
        levels: stage ? 4 - stage.startLevel : 0,
        pageTable: BigInt(stage?.ttb ?? s.s1ContextPtr),
        fpd: !s.s2Record,
        ...NO_CHILDREN,
      };
    });
  }
}

/** The CDs of SubstreamIDs 1.. the tree reads at most per STE (a linear table of 2^20 CDs is 64 MiB). */
const PASID_CD_LIMIT = 4096;

/** The contract view of an SMMU and the driver that issues its commands. */
export function smmuV3Unit(unit: SmmuV3Unit, driver?: ArmSmmuV3Driver, mem?: PhysicalMemory): IommuUnit {
  return new SmmuV3Model(unit, driver, mem);
}

