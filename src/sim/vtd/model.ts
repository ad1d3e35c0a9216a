/**
 * Intel VT-d (legacy mode) behind the IOMMU contract (../iommu.ts). The verdict and the walk trail
 * come from the DMAR unit's own translate(): resolveContext records the root and context entries
 * it reads, the SlptWalker (recordTrail) the second-level entries, and the unit says which check
 * decided (XlateStage). Nothing here walks a table; it only names what the unit read and decodes
 * the entries with the decoders the unit's checks use (context.ts, slpt.ts).
 */
import { toTrailField, type EntryTarget, type DecodedField, type DecodedWord, type FaultRecordView, type InspectTables, type ReasonInfo, type InvalidateRequest, type InvalidateResult, type IommuInspection, type IommuUnit, type RegisterView, type StopCause, type Trail, type TrailEntry, type TranslateRequest, type Translation, type Verdict } from "../iommu.js";
import type { PhysicalMemory } from "../memory.js";
import { renderQiError } from "./dmesg.js";
import type { IntelIommuDriver } from "./driver.js";
import { decodeEntryWord, vtdInspection } from "./inspect.js";
import { decodeRegister, REGISTER_VIEWS, type RegisterName } from "./regs.js";
import { CC_DEVICE, CC_DOMAIN, CC_GLOBAL, encodeCcDesc, encodeIotlbDesc, IOTLB_DSI, IOTLB_GLOBAL, IOTLB_PSI } from "./qi.js";
import { awToLevels, awToWidth, contextEntryFields, contextEntryReservedBits, bitRanges, decodeContextEntry, decodeRootEntry, rootEntryFields, rootEntryReservedBits } from "./context.js";
import { formatSid } from "../bdf.js";
import { decodeSlpte, slEntryName, slIndex, slpteLayout } from "./slpt.js";
import {
  VTD_FR_ADDR_BEYOND_MGAW,
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_CONTEXT_ENTRY_P,
  VTD_FR_CONTEXT_ENTRY_RSVD,
  VTD_FR_CONTEXT_TABLE_INV,
  VTD_FR_INTERRUPT_ADDR,
  VTD_FR_PAGING_ENTRY_INV,
  VTD_FR_PAGING_ENTRY_RSVD,
  VTD_FR_READ,
  VTD_FR_ROOT_ENTRY_P,
  VTD_FR_ROOT_ENTRY_RSVD,
  VTD_FR_ROOT_TABLE_INV,
  VTD_FR_WRITE,
  faultReasonInfo,
  shortReasons,
} from "./reasons.js";
import { XlateKind, XlateStage, type DmarUnit } from "./unit.js";

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const hex2 = (n: number) => n.toString(16).padStart(2, "0");
const SHORT = shortReasons();

export class VtdModel implements IommuUnit {
  readonly model = "Intel VT-d (legacy mode)";
  private readonly inspection: IommuInspection;

  /**
   * `driver` is the host's intel-iommu driver that issues invalidations (absent: a bare unit,
   * whose invalidate() rejects); `mem` the memory the inspection reads (the unit's by default).
   */
  constructor(
    readonly unit: DmarUnit,
    private readonly driver?: IntelIommuDriver,
    mem: PhysicalMemory = unit.mem,
  ) {
    this.inspection = vtdInspection(unit, mem);
  }

  tables(): InspectTables {
    return this.inspection.tables();
  }

  registers(): RegisterView[] {
    return this.inspection.registers();
  }

  faults(kernel?: string): FaultRecordView[] {
    return this.inspection.faults(kernel);
  }

  reason(code: number): ReasonInfo {
    const i = faultReasonInfo(code);
    const short = SHORT[i.code];
    return { code: i.code, label: `0x${hex2(i.code)} ${i.linuxText}`, name: i.name, explanation: i.explanation, ...(short !== undefined ? { short } : {}) };
  }

  decodeRegister(name: string, value: bigint): DecodedField[] | undefined {
    return REGISTER_VIEWS.some((r) => r.name === name) ? decodeRegister(name as RegisterName, value) : undefined;
  }

  decodeWord(structure: EntryTarget["structure"], value: bigint, level?: number): DecodedWord {
    return decodeEntryWord(this.unit, structure, value, level);
  }

  counters(): Record<string, number> {
    return { ...this.unit.counters };
  }

  /**
   * The invalidation as Linux's qi_submit_sync() issues it: the descriptor (VT-d 6.5.2.3
   * context-cache, 6.5.2.4 IOTLB) and a wait descriptor through the queue, or the register-based
   * invalidation when the unit has no queue. A descriptor the unit rejects (an unsupported
   * granularity, AM above CAP.MAMV) sets FSTS.IQE, and Linux prints qi_dump_fault()'s lines.
   */
  invalidate(req: InvalidateRequest): InvalidateResult {
    if (this.driver === undefined) return { ok: false, dropped: 0, error: "this unit has no driver to issue invalidations", log: [] };
    const did = req.domain ?? 0;
    let desc: [bigint, bigint];
    switch (req.scope) {
      case "global":
        desc = encodeIotlbDesc(IOTLB_GLOBAL);
        break;
      case "domain":
        desc = encodeIotlbDesc(IOTLB_DSI, did);
        break;
      case "page":
        desc = encodeIotlbDesc(IOTLB_PSI, did, req.iova ?? 0n, req.order ?? 0, req.leafOnly ?? false);
        break;
      case "context-global":
        desc = encodeCcDesc(CC_GLOBAL);
        break;
      case "context-domain":
        desc = encodeCcDesc(CC_DOMAIN, did);
        break;
      case "context-device":
        desc = encodeCcDesc(CC_DEVICE, did, req.sid ?? 0);
        break;
    }
    const before = this.unit.iotlb.entries().length;
    if (!this.driver.submitRaw(desc)) {
      const e = this.driver.lastQiError;
      return { ok: false, dropped: 0, error: "the unit rejected the descriptor (IQE): unsupported granularity or AM above CAP.MAMV", log: e ? renderQiError(e) : [] };
    }
    return { ok: true, dropped: before - this.unit.iotlb.entries().length, log: [] };
  }

  /**
   * The entry's address on the path of (sid, iova) through the tables in memory now: the root
   * entry from RTADDR, the context entry from the root entry's CTP, then each present
   * second-level entry's address field (decoders of context.ts and slpt.ts, the walk's own rules
   * for what is present and what is a superpage leaf). Permissions do not stop the descent: a
   * poke names an entry, it is not a request.
   */
  locate(t: EntryTarget): number | string {
    const u = this.unit;
    const mem = u.mem;
    const bus = t.sid >> 8;
    const rootAddr = u.rootTable + bus * 16;
    if (t.structure === "root") return rootAddr;
    if (t.structure === "root-hi") return rootAddr + 8;
    const re = decodeRootEntry(mem.readU64(rootAddr) ?? 0n, mem.readU64(rootAddr + 8) ?? 0n);
    if (!re.present) return `the root entry of bus ${hex2(bus)} is not present`;
    const ceAddr = Number(re.ctp) + (t.sid & 0xff) * 16;
    if (t.structure === "context-lo") return ceAddr;
    if (t.structure === "context-hi") return ceAddr + 8;
    const ce = decodeContextEntry(mem.readU64(ceAddr) ?? 0n, mem.readU64(ceAddr + 8) ?? 0n);
    if (!ce.present) return `the context entry of ${formatSid(t.sid)} is not present`;
    const levels = awToLevels(ce.aw);
    const iova = t.iova ?? 0n;
    let table = Number(ce.slptptr);
    const want = t.level ?? 1;
    for (let l = levels; l >= 1; l--) {
      const at = table + slIndex(iova, l) * 8;
      if (l === want) return at;
      const v = mem.readU64(at);
      const d = v === undefined ? undefined : decodeSlpte(u.walker, l, v);
      if (d === undefined || (!d.read && !d.write)) return `no level-${l - 1} table for IOVA ${hex(iova)}: the level-${l} entry is not present`;
      if (d.leaf) return t.level === undefined ? at : `IOVA ${hex(iova)} is mapped by a superpage at level ${l}`;
      table = Number(d.address);
    }
    return `level ${want} is outside this ${levels}-level table`;
  }

  translate(req: TranslateRequest): Verdict {
    const r = this.unit.translate(req.sid, Number((req.iova >> 32n) & 0xffffffffn), Number(req.iova & 0xffffffffn), req.write);
    return this.verdict(r);
  }

  explain(req: TranslateRequest): Translation {
    const u = this.unit;
    const w = u.walker;
    const hi = Number((req.iova >> 32n) & 0xffffffffn);
    const lo = Number(req.iova & 0xffffffffn);
    const savedU = u.recordTrail;
    const savedW = w.recordTrail;
    u.recordTrail = true;
    w.recordTrail = true;
    try {
      const r = u.translate(req.sid, hi, lo, req.write, true);
      const verdict = this.verdict(r);
      if (!u.ccHit && !u.iotlbHit) return { request: req, verdict, trail: this.trail(r, req), stale: false };
      // A cache answered: the trail is the walk a miss does now (the same code, caches bypassed).
      u.bypassCaches = true;
      const r2 = u.translate(req.sid, hi, lo, req.write, true);
      const fresh = this.verdict(r2);
      const trail = this.trail(r2, req);
      // Stale: the cached answer is not what the tables give now (a different fault level counts:
      // a cached context's old SLPTPTR walks other tables than the context entry in memory).
      const stale = fresh.kind !== verdict.kind || fresh.reason !== verdict.reason || fresh.level !== verdict.level || fresh.hpa !== verdict.hpa || fresh.perms !== verdict.perms;
      return { request: req, verdict, trail, stale };
    } finally {
      u.bypassCaches = false;
      u.recordTrail = savedU;
      w.recordTrail = savedW;
    }
  }

  /** The verdict of the unit's last translate(), which returned `r`. */
  private verdict(r: number): Verdict {
    const u = this.unit;
    const kind = r !== 0 ? "fault" : u.kind === XlateKind.Interrupt ? "interrupt" : u.kind === XlateKind.PassThrough ? "pass-through" : u.kind === XlateKind.Untranslated ? "untranslated" : "translated";
    const v: Verdict = { kind, reason: r, level: kind === "translated" || (r !== 0 && (u.stage === XlateStage.Walk || u.stage === XlateStage.Iotlb || u.stage === XlateStage.InterruptRange)) ? u.level : 0, perms: r === 0 ? u.perm : 0, cached: u.iotlbHit };
    if (r === 0) v.hpa = (BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0);
    if (kind === "translated" || kind === "pass-through" || (r !== 0 && u.stage >= XlateStage.Width)) v.domain = u.did;
    return v;
  }

  /** The entries the unit's last (uncached) translate() read, and where it stopped. */
  private trail(r: number, req: TranslateRequest): Trail {
    const u = this.unit;
    const haw = u.haw;
    const entries: TrailEntry[] = [];
    const out: Trail = { entries };
    const stage = u.stage;
    if (stage === XlateStage.None || stage === XlateStage.Iotlb) return out;
    const stop = (cause: StopCause, why: string) => {
      out.stop = { entry: entries.length - 1, reason: r, cause, why };
      return out;
    };
    const bus = req.sid >> 8;
    const devfn = req.sid & 0xff;
    // Root entry (VT-d 9.1).
    const tr = u.trailRoot;
    if (!tr.read) {
      entries.push({ kind: "root", name: "root entry", level: 0, index: bus, address: BigInt(tr.address), raw: [], fields: [] });
      return stop("unreadable", "the root table is not readable memory");
    }
    entries.push({ kind: "root", name: "root entry", level: 0, index: bus, address: BigInt(tr.address), raw: [tr.lo!, tr.hi!], fields: rootEntryFields(tr.lo!, tr.hi!, haw) });
    if (stage === XlateStage.Root) {
      if (r === VTD_FR_ROOT_ENTRY_P) return stop("not-present", `root entry for bus ${hex2(bus)} not present`);
      if (r === VTD_FR_ROOT_ENTRY_RSVD) {
        const [l, h] = rootEntryReservedBits(tr.lo!, tr.hi!, haw);
        return stop("reserved", `reserved bits ${bitRanges(l, h)} set in the root entry`);
      }
      return stop("invalid", `root entry: fault ${hex(r)}`);
    }
    // Context entry (VT-d 9.3).
    const tc = u.trailContext;
    if (!tc.read) {
      entries.push({ kind: "context", name: "context entry", level: 0, index: devfn, address: BigInt(tc.address), raw: [], fields: [] });
      return stop("unreadable", "the context table is not readable memory");
    }
    entries.push({ kind: "context", name: "context entry", level: 0, index: devfn, address: BigInt(tc.address), raw: [tc.lo!, tc.hi!], fields: contextEntryFields(tc.lo!, tc.hi!, haw) });
    if (stage === XlateStage.Context) {
      if (r === 0) return out; // a pass-through context: no page table
      if (r === VTD_FR_CONTEXT_ENTRY_P) return stop("not-present", `context entry for ${formatSid(req.sid)} not present`);
      if (r === VTD_FR_CONTEXT_ENTRY_RSVD) {
        const [l, h] = contextEntryReservedBits(tc.lo!, tc.hi!, haw);
        return stop("reserved", `reserved bits ${bitRanges(l, h)} set in the context entry`);
      }
      if (r === VTD_FR_CONTEXT_ENTRY_INV) {
        const ce = decodeContextEntry(tc.lo!, tc.hi!);
        return stop("invalid", `context entry invalid: ${u.contextInvalid(ce.aw, ce.tt) ?? "fault 0x03"}`);
      }
      return stop("invalid", `context entry: fault ${hex(r)}`);
    }
    if (stage === XlateStage.Width) {
      const width = Math.min(awToWidth(decodeContextEntry(tc.lo!, tc.hi!).aw), haw);
      return stop("address-width", `IOVA ${hex(req.iova)} is beyond the ${width}-bit input address width (context AW, MGAW)`);
    }
    // Second-level entries (VT-d 9.8), top level first: what the walker read.
    const w = u.walker;
    const top = awToLevels(decodeContextEntry(tc.lo!, tc.hi!).aw);
    for (let i = 0; i < w.trailLen; i++) {
      const level = top - i;
      const v = (BigInt(w.trailHi[i]! >>> 0) << 32n) | BigInt(w.trailLo[i]! >>> 0);
      entries.push(pteEntry(u, level, req.iova, w.trailAddr[i]!, v));
    }
    if (r === 0) return out;
    if (w.trailUnreadable && (r === VTD_FR_PAGING_ENTRY_INV || r === VTD_FR_CONTEXT_ENTRY_INV)) {
      const level = top - w.trailLen;
      entries.push({ kind: "pte", name: slEntryName(level), level, index: slIndexOf(req.iova, level), address: BigInt(w.trailAddr[w.trailLen]!), raw: [], fields: [] });
      return stop("unreadable", `the ${slEntryName(level)} is not readable memory${r === VTD_FR_CONTEXT_ENTRY_INV ? " (the context entry's SLPTPTR is bad)" : ""}`);
    }
    const last = entries[entries.length - 1]!;
    const v = last.raw[0] ?? 0n;
    const d = decodeSlpte(w, last.level, v);
    if (r === VTD_FR_WRITE || r === VTD_FR_READ) {
      if (!d.read && !d.write) return stop("not-present", `${last.name} not present (R = W = 0)`);
      return stop("permission", r === VTD_FR_WRITE ? `write request, W = 0 in the ${last.name}` : `read request, R = 0 in the ${last.name}`);
    }
    if (r === VTD_FR_PAGING_ENTRY_RSVD) return stop("reserved", `reserved bits ${bitRanges(d.reserved)} (${hex(d.reserved)}) set in the ${last.name}`);
    if (r === VTD_FR_INTERRUPT_ADDR) return stop("interrupt-range", "the translated page overlaps the interrupt range 0xfee00000-0xfeefffff");
    if (r === VTD_FR_ADDR_BEYOND_MGAW || r === VTD_FR_ROOT_TABLE_INV || r === VTD_FR_CONTEXT_TABLE_INV) return stop("invalid", `fault ${hex(r)}`);
    return stop("invalid", `fault ${hex(r)} at the ${last.name}`);
  }
}

function slIndexOf(iova: bigint, level: number): number {
  return Number((iova >> BigInt(12 + 9 * (level - 1))) & 511n);
}

/** A second-level entry of the trail, decoded by the walker's rules (slpt.ts slpteLayout, decodeSlpte). */
function pteEntry(u: DmarUnit, level: number, iova: bigint, address: number, v: bigint): TrailEntry {
  const d = decodeSlpte(u.walker, level, v);
  const fields: TrailEntry["fields"] = slpteLayout(u.walker, level, v).map(toTrailField);
  if (d.reserved !== 0n) fields.push({ name: "reserved", bits: bitRanges(d.reserved), value: hex(d.reserved), meaning: "set: fault 0x0c" });
  return { kind: "pte", name: slEntryName(level), level, index: slIndexOf(iova, level), address: BigInt(address), raw: [v], fields };
}

/** The contract view of a DMAR unit and the driver that issues its invalidations. */
export function vtdUnit(unit: DmarUnit, driver?: IntelIommuDriver, mem?: PhysicalMemory): IommuUnit {
  return new VtdModel(unit, driver, mem);
}
