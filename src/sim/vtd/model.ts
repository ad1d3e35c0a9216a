/**
 * Intel VT-d (legacy mode) behind the IOMMU contract (../iommu.ts). The verdict and the walk trail
 * come from the DMAR unit's own translate(): resolveContext records the root and context entries
 * it reads, the SlptWalker (recordTrail) the second-level entries, and the unit says which check
 * decided (XlateStage). Nothing here walks a table; it only names what the unit read and decodes
 * the entries with the decoders the unit's checks use (context.ts, slpt.ts).
 */
import { staleAgainstTables } from "../deviceCache.js";
import { decodedField, hexText } from "../decodedFields.js";
import { decodePageRequestDesc } from "./prq.js";
import { DEVICE_TLB_ENTRIES } from "./devtlb.js";
import { toTrailField, type DeviceTlbEntryView, type PageRequestView, type EntryTarget, type DecodedField, type InterruptVerdict, type DecodedWord, type FaultRecordView, type InspectTables, type ReasonInfo, type CommandView, type InvalidateRequest, type InvalidateResult, type IommuInspection, type IommuUnit, type RegisterView, type StopCause, type Trail, type TrailEntry, type TranslateRequest, type Translation, type Verdict } from "../iommu.js";
import type { PhysicalMemory } from "../memory.js";
import { qiTypeString, renderQiError } from "./dmesg.js";
import type { IntelIommuDriver } from "./driver.js";
import { decodeEntryWord, vtdInspection } from "./inspect.js";
import { decodeRegister, DMAR_PQA_REG, DMAR_PQH_REG, DMAR_PQT_REG, REGISTER_VIEWS, type RegisterName } from "./regs.js";
import { CC_DEVICE, CC_DOMAIN, CC_GLOBAL, encodeCcDesc, encodeDevIotlbDesc, encodePdevIotlbDesc, encodeIotlbDesc, encodePcDesc, encodePiotlbDesc, IOTLB_DSI, IOTLB_GLOBAL, IOTLB_PSI, PC_DOMAIN, PC_PASID, PIOTLB_PASID, PIOTLB_PSI } from "./qi.js";
import { awToLevels, awToWidth, contextEntryFields, contextEntryReservedBits, bitRanges, decodeContextEntry, decodeRootEntry, rootEntryFields, rootEntryReservedBits } from "./context.js";
import { formatSid } from "../bdf.js";
import { decodeSlpte, slEntryName, slIndex, slpteLayout } from "./slpt.js";
import {
  VTD_FR_ADDR_BEYOND_MGAW,
  VTD_FR_SM_PASID_ENTRY_RSVD,
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_CONTEXT_ENTRY_P,
  VTD_FR_CONTEXT_ENTRY_RSVD,
  VTD_FR_CONTEXT_TABLE_INV,
  VTD_FR_INTERRUPT_ADDR,
  VTD_FR_IR_ENTRY_P,
  VTD_FR_IR_INDEX_OVER,
  VTD_FR_IR_IRTE_RSVD,
  VTD_FR_IR_REQ_COMPAT,
  VTD_FR_IR_REQ_RSVD,
  VTD_FR_IR_ROOT_INVAL,
  VTD_FR_IR_SID_ERR,
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
import { pasidEntryLayout, pasidEntryReservedBits } from "./scalable.js";
import { INTERRUPT_ADDR_FIRST, INTERRUPT_ADDR_LAST, XlateKind, XlateStage, type DmarUnit } from "./unit.js";
import { encodeIecDesc, interruptRemapView, irteFields, MsiFormat } from "./intremap.js";
import { ndstApicId, pidFields, readPid } from "./posted.js";

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const hex2 = (n: number) => n.toString(16).padStart(2, "0");
const SHORT = shortReasons();

export class VtdModel implements IommuUnit {
  get model(): string {
    return this.unit.ttm === 1 ? "Intel VT-d (scalable mode)" : "Intel VT-d (legacy mode)";
  }
  private readonly inspection: IommuInspection;

  /**
   * `driver` is the host's intel-iommu driver that issues invalidations (absent: a bare unit,
   * whose invalidate() rejects); `mem` the memory the inspection reads (the unit's by default).
   */
  constructor(
    readonly unit: DmarUnit,
    private readonly driver?: IntelIommuDriver,
    private readonly mem: PhysicalMemory = unit.mem,
  ) {
    this.inspection = vtdInspection(unit, mem);
  }

  tables(): InspectTables {
    const t = this.inspection.tables();
    const ir = interruptRemapView(this.unit, this.mem);
    if (ir) t.interruptRemapping = ir;
    if (this.unit.atsSids.size > 0) t.deviceTlb = { capacity: DEVICE_TLB_ENTRIES, entries: () => this.deviceTlbEntries() };
    // The page request queue, once the driver has set one up (PQA: intel_svm_enable_prq; VT-d 11.4.12.3).
    const pqa = this.unit.readReg64(DMAR_PQA_REG);
    if (pqa !== 0n) t.pageRequests = { name: "Page request queue", address: pqa & ~0xfffn, capacity: 2 ** (Number(pqa & 7n) + 7), entries: () => this.pageRequestEntries(pqa) };
    // The MSI window (IOMMU_RESV_MSI, intel_iommu_get_resv_regions: IOAPIC_RANGE_START..END) and the RMRRs (IOMMU_RESV_DIRECT).
    t.reservedRegions = [
      ...(this.unit.spec.rmrr ?? []).map((r) => ({ kind: "direct" as const, first: r.base, last: r.end, devices: r.devices, source: "RMRR" })),
      { kind: "msi", first: BigInt(INTERRUPT_ADDR_FIRST), last: BigInt(INTERRUPT_ADDR_LAST), devices: [], source: "MSI window" },
    ];
    return t;
  }

  /**
   * The Device-TLB entries (devtlb.ts), each checked against the tables now by the unit's own
   * translate() with its caches bypassed (a probe: nothing filled, nothing recorded).
   */
  private deviceTlbEntries(): DeviceTlbEntryView[] {
    const u = this.unit;
    return u.devtlb.entries().map((e) => {
      const stale = staleAgainstTables(u, e, () => ({ reason: u.request(e.sid, Number((e.iova >> 32n) & 0xffffffffn), Number(e.iova & 0xffffffffn), false, true, e.pasid), hpa: (BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0), perm: u.perm }));
      return { key: String(e.slot), sid: e.sid, ...(e.pasid >= 0 ? { pasid: e.pasid } : {}), iova: e.iova, hpa: e.hpa, pageSize: 1n << BigInt(12 + 9 * (e.level - 1)), perm: e.perm, stale };
    });
  }

  /**
   * The page request queue's descriptors as in memory (32 bytes each, prq.ts's layout: VT-d
   * 7.5.1.1, Linux struct page_req_dsc), the slots never written left
   * out; pending: between PQH (what Linux's prq_event_thread has taken) and PQT. Linux prints
   * nothing for a request it handles, so no dmesg.
   */
  private pageRequestEntries(pqa: bigint): PageRequestView[] {
    const base = Number(pqa & ~0xfffn);
    const size = 32 * 2 ** (Number(pqa & 7n) + 7);
    const head = Number(this.unit.readReg64(DMAR_PQH_REG)) % size;
    const used = (Number(this.unit.readReg64(DMAR_PQT_REG)) % size - head + size) % size;
    const out: PageRequestView[] = [];
    for (let off = 0; off < size; off += 32) {
      const qw0 = this.mem.readU64(base + off) ?? 0n;
      const qw1 = this.mem.readU64(base + off + 8) ?? 0n;
      if (qw0 === 0n && qw1 === 0n) continue;
      const d = decodePageRequestDesc(qw0, qw1);
      const flag = (name: string, hi: number, on: boolean, set: string) => decodedField(name, hi, hi, on ? 1n : 0n, on ? "1" : "0", on ? set : undefined);
      // Bit positions of prq.ts's layout, counted from qw0 as DecodedField's are.
      const fields = [
        decodedField("Type", 7, 0, BigInt(d.type), hexText(d.type), d.type === 1 ? "page request" : undefined),
        flag("PP", 8, d.pp, "PASID present"),
        decodedField("RID", 31, 16, BigInt(d.rid), hexText(d.rid), formatSid(d.rid)),
        decodedField("PASID", 51, 32, BigInt(d.pasid), hexText(d.pasid)),
        flag("ER", 52, d.er, "execute requested"),
        flag("PMR", 53, d.pmr, "privileged mode requested"),
        flag("RDR", 64, d.rdr, "read requested"),
        flag("WRR", 65, d.wrr, "write requested"),
        flag("LPIG", 66, d.lpig, "last page in group"),
        decodedField("PRGI", 75, 67, BigInt(d.prgi), String(d.prgi)),
        decodedField("ADDR", 127, 76, d.addr >> 12n, hexText(d.addr)),
      ];
      out.push({
        key: String(off / 32),
        index: off / 32,
        address: BigInt(base + off),
        raw: [qw0, qw1, this.mem.readU64(base + off + 16) ?? 0n, this.mem.readU64(base + off + 24) ?? 0n],
        fields,
        sid: d.rid,
        ...(d.pp ? { pasid: d.pasid } : {}),
        page: d.addr,
        access: `${d.rdr ? "R" : ""}${d.wrr ? "W" : ""}${d.er ? "X" : ""}`,
        group: d.prgi,
        last: d.lpig,
        pending: (off - head + size) % size < used,
        dmesg: [],
      });
    }
    return out;
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
    if (structure === "pasid-entry") {
      // Qword 0 of a PASID table entry (scalable.ts's layout and reserved bits; a set one is 0x5a).
      const rsvd = pasidEntryReservedBits([value], this.unit.haw)[0]!;
      return { fields: pasidEntryLayout([value]).filter((f) => f.hi < 64), present: (value & 1n) !== 0n, ...(rsvd !== 0n ? { reserved: { bits: rsvd, reason: VTD_FR_SM_PASID_ENTRY_RSVD } } : {}) };
    }
    return decodeEntryWord(this.unit, structure, value, level);
  }

  counters(): Record<string, number> {
    return { ...this.unit.counters };
  }

  command(lo: bigint): CommandView {
    // The descriptor type (bits 3:0) as Linux's qi_type_string() names it; without ECAP.QI the
    // driver invalidates through CCMD_REG and IOTLB_REG (VT-d 6.5.1; host.ts records those as the
    // descriptor they are equivalent to).
    const type = Number(lo & 0xfn);
    const name = qiTypeString(type);
    return {
      name: name === "UNKNOWN" ? `unknown descriptor type 0x${type.toString(16)}` : name,
      section: "VT-d spec 6.5.2",
      via: this.unit.spec.queuedInvalidation ? "the invalidation queue" : "the CCMD/IOTLB registers",
      unit: "DMAR unit",
    };
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
      // Scalable mode (VT-d 6.5.2.2, 6.5.2.4; Linux pasid_cache_invalidation_with_pasid, qi_flush_piotlb).
      case "pasid-cache":
        desc = req.pasid === undefined ? encodePcDesc(PC_DOMAIN, did) : encodePcDesc(PC_PASID, did, req.pasid);
        break;
      case "pasid":
        desc = encodePiotlbDesc(PIOTLB_PASID, did, req.pasid ?? 0);
        break;
      case "pasid-page":
        desc = encodePiotlbDesc(PIOTLB_PSI, did, req.pasid ?? 0, req.iova ?? 0n, req.order ?? 0, req.leafOnly ?? false);
        break;
      case "device-tlb": {
        // Linux qi_flush_dev_iotlb (no PASID) / qi_flush_dev_iotlb_pasid: pfsid 0 (no ECAP.DIT),
        // queue depth 32; without an IOVA the whole Device-TLB (MAX_AGAW_PFN_WIDTH, as domain_context_clear_one).
        const before = this.unit.devtlb.entries().length;
        const sid = req.sid ?? 0;
        const order = req.iova === undefined ? 52 : req.order ?? 0;
        const d = req.pasid === undefined ? encodeDevIotlbDesc(sid, 0, 32, req.iova ?? 0n, order) : encodePdevIotlbDesc(sid, 0, req.pasid, 0, req.iova ?? 0n, order);
        this.driver.iteHung = false;
        this.driver.iteGaveUp = false;
        if (!this.driver.submitRaw(d)) {
          if (this.driver.iteGaveUp) {
            // driver.ts invalidationTimeout: v6.9's qi_check_fault gives up on a device that is not present.
            const log = this.driver.takeIteErrors().flatMap((x) => renderQiError(x, req.kernel));
            return { ok: false, dropped: 0, error: `Invalidation Time-out (ITE): ${formatSid(sid)} is not present (surprise removal); qi_check_fault() gives up with -ETIMEDOUT instead of submitting it again (80a9b50c0b9e, v6.9)`, log };
          }
          if (this.driver.iteHung) {
            // driver.ts invalidationTimeout: qi_check_fault's ITE lines, once per (re)submission.
            const log = this.driver.takeIteErrors().flatMap((x) => renderQiError(x, req.kernel));
            return { ok: false, dropped: 0, error: `Invalidation Time-out (ITE): ${formatSid(sid)} never completed the Device-TLB invalidation; qi_submit_sync() submits it again ${this.driver.absentRids.has(sid) ? "for ever: this kernel does not check pci_device_is_present() (before 80a9b50c0b9e, v6.9), though the device is gone" : "for as long as the device is present"}`, log };
          }
          const e = this.driver.lastQiError;
          return { ok: false, dropped: 0, error: `the unit rejected the descriptor (IQE): ${this.driver.lastQiWhy || "no device-TLB support (ECAP.DT = 0)"}`, log: e ? renderQiError(e, req.kernel) : [] };
        }
        return { ok: true, dropped: before - this.unit.devtlb.entries().length, log: [] };
      }
      case "interrupt-global":
      case "interrupt-entry": {
        // VT-d 6.5.2.7 interrupt entry cache invalidation (Linux qi_global_iec / qi_flush_iec).
        const before = this.unit.ir.cachedEntries().length;
        if (!this.driver.submitRaw(encodeIecDesc(req.scope === "interrupt-global", req.index ?? 0, req.order ?? 0))) {
          const e = this.driver.lastQiError;
          return { ok: false, dropped: 0, error: "the unit rejected the descriptor (IQE)", log: e ? renderQiError(e, req.kernel) : [] };
        }
        return { ok: true, dropped: before - this.unit.ir.cachedEntries().length, log: [] };
      }
    }
    const before = this.unit.iotlb.entries().length;
    const pscBefore = this.unit.pscDropped;
    if (!this.driver.submitRaw(desc)) {
      const e = this.driver.lastQiError;
      return { ok: false, dropped: 0, error: `the unit rejected the descriptor (IQE): ${this.driver.lastQiWhy || "unsupported granularity or AM above CAP.MAMV"}`, log: e ? renderQiError(e, req.kernel) : [] };
    }
    // With paging-structure caches (host.iommu.paging-structure-cache) the IOTLB-family descriptors count what they dropped of them too.
    const psc = this.unit.walker.psc !== null && req.scope !== "pasid-cache" && !req.scope.startsWith("context") ? { pscDropped: this.unit.pscDropped - pscBefore } : {};
    return { ok: true, dropped: before - this.unit.iotlb.entries().length, ...psc, log: [] };
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
    if (u.ttm === 1) return locateScalable(u, t, rootAddr);
    if (t.structure === "pasid-entry") return "the unit is in legacy mode: it has no PASID tables (host.iommu.scalable: true gives them)";
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
    this.setRequest(req);
    try {
      const r = this.request(req, false);
      return this.verdict(r);
    } finally {
      this.setRequest(undefined);
    }
  }

  /** The request's PASID prefix (PASID, privileged, execute) on the unit, for one translate(); undefined resets it. */
  private setRequest(req: TranslateRequest | undefined): void {
    const u = this.unit;
    u.reqPasid = req?.pasid ?? -1;
    u.reqPriv = req?.pasid !== undefined && (req.privileged ?? false);
    u.reqExec = req?.pasid !== undefined && (req.exec ?? false);
  }

  /** One request through the unit: an MSI (a write with data into the interrupt window) or DMA. */
  private request(req: TranslateRequest, probe: boolean): number {
    const hi = Number((req.iova >> 32n) & 0xffffffffn);
    const lo = Number(req.iova & 0xffffffffn);
    if (req.data !== undefined && req.write && hi === 0) return this.unit.translateMsi(req.sid, lo, req.data, probe);
    return this.unit.translate(req.sid, hi, lo, req.write, probe);
  }

  explain(req: TranslateRequest): Translation {
    const u = this.unit;
    const w = u.walker;
    const savedU = u.recordTrail;
    const savedW = w.recordTrail;
    u.recordTrail = true;
    w.recordTrail = true;
    this.setRequest(req);
    try {
      const r = this.request(req, true);
      const verdict = this.verdict(r);
      const iecHit = u.stage === XlateStage.InterruptRemap && u.ir.cached;
      // A walk that started below a paging-structure-cache entry (slpt.ts pscLevel) is a cache answer too.
      // The first-level / nested caches likewise (flpt.ts pscLevel).
      const pscHit = u.stage === XlateStage.Walk && (w.pscLevel !== 0 || u.flWalker.pscLevel !== 0);
      if (!u.ccHit && !u.iotlbHit && !u.devtlbHit && !iecHit && !pscHit) return { request: req, verdict, trail: this.trail(r, req), stale: false };
      // A cache answered: the trail is the walk a miss does now (the same code, caches bypassed).
      u.bypassCaches = true;
      const r2 = this.request(req, true);
      const fresh = this.verdict(r2);
      const trail = this.trail(r2, req);
      // Stale: the cached answer is not what the tables give now (a different fault level counts:
      // a cached context's old SLPTPTR walks other tables than the context entry in memory).
      const stale = fresh.kind !== verdict.kind || fresh.reason !== verdict.reason || fresh.level !== verdict.level || fresh.hpa !== verdict.hpa || fresh.perms !== verdict.perms || fresh.interrupt?.vector !== verdict.interrupt?.vector || fresh.interrupt?.destination !== verdict.interrupt?.destination;
      return { request: req, verdict, trail, stale };
    } finally {
      this.setRequest(undefined);
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
    if (u.devtlbHit) v.deviceCached = true;
    if (r === 0) v.hpa = (BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0);
    if (kind === "translated" || kind === "pass-through" || (r !== 0 && u.stage >= XlateStage.Width && u.stage !== XlateStage.InterruptRemap)) v.domain = u.did;
    if (kind === "interrupt" || (r !== 0 && u.stage === XlateStage.InterruptRemap)) v.interrupt = this.interruptVerdict(kind === "interrupt");
    return v;
  }

  /** What interrupt remapping made of the last request (intremap.ts results). */
  private interruptVerdict(delivered: boolean): InterruptVerdict {
    const u = this.unit;
    const ir = u.ir;
    if (u.stage !== XlateStage.InterruptRemap) return { format: "not-remapped", vector: 0, destination: 0, cached: false };
    const out: InterruptVerdict = { format: ir.format === MsiFormat.Compatibility ? "compatibility" : ir.posted && delivered ? "posted" : "remapped", vector: delivered ? ir.vector : 0, destination: delivered ? ir.destination : 0, cached: ir.cached };
    if (ir.format === MsiFormat.Remappable) out.index = ir.index;
    if (ir.posted && delivered) out.descriptor = (BigInt(ir.pdaHi >>> 0) << 32n) | BigInt(ir.pdaLo >>> 0);
    const p = ir.post;
    if (ir.posted && delivered && p.ok) {
      out.posting = { written: true, coalesced: p.alreadyPending, notified: p.notified, notificationVector: p.nv, notificationDestination: ndstApicId(p.ndst, ir.eime) };
      if (!p.notified) out.posting.withheld = p.onWasSet ? "outstanding" : "suppressed";
    } else if (ir.posted && delivered && ir.postAttempted) {
      out.posting = { written: false, coalesced: false, notified: false, notificationVector: 0, notificationDestination: 0 };
    }
    return out;
  }

  /** The IRTE the unit's last interrupt request read (intremap.ts), and why it stopped. */
  private irTrail(r: number, req: TranslateRequest, out: Trail, stop: (cause: StopCause, why: string) => Trail): Trail {
    const ir = this.unit.ir;
    if (ir.format === MsiFormat.Remappable && r !== VTD_FR_IR_INDEX_OVER) {
      const raw = ir.read ? ir.irteQwords() : [];
      const fields = ir.read ? irteFields(raw[0], raw[1], ir.eime).map(toTrailField) : [];
      out.entries.push({ kind: "irte", name: "IRTE", level: 0, index: ir.index, address: BigInt(ir.address), raw, fields });
      if (r === 0 && ir.posted) {
        // The posted-interrupt descriptor the entry names (posted.ts, VT-d 9.12), as it is in memory now.
        const pda = (BigInt(ir.pdaHi >>> 0) << 32n) | BigInt(ir.pdaLo >>> 0);
        const pid = readPid(this.mem, pda) ?? [];
        out.entries.push({ kind: "posted-descriptor", name: "PID", level: 0, index: ir.index, address: pda, raw: pid, fields: pid.length ? pidFields(pid, ir.eime).map(toTrailField) : [] });
      }
    }
    if (r === 0) return out;
    const [cause, why] = IR_STOP[r] ?? ["invalid", `fault 0x${hex2(r)}`];
    return stop(cause, r === VTD_FR_IR_SID_ERR ? `${why}: request from ${formatSid(req.sid)}` : why);
  }

  /** The entries the unit's last (uncached) translate() read, and where it stopped. */
  private trail(r: number, req: TranslateRequest): Trail {
    const u = this.unit;
    const haw = u.haw;
    const entries: TrailEntry[] = [];
    const out: Trail = { entries };
    const stage = u.stage;
    if (stage === XlateStage.None || stage === XlateStage.Iotlb) return out;
    if (u.ttm === 1) {
      // Scalable mode: the entries translateScalable recorded (scalable.ts), in the contract's words.
      entries.push(...u.smTrail);
      if (r !== 0 && u.smStop !== undefined) out.stop = { entry: entries.length - 1, reason: r, cause: u.smStop.cause, why: u.smStop.why };
      return out;
    }
    const stop = (cause: StopCause, why: string) => {
      out.stop = { entry: entries.length - 1, reason: r, cause, why };
      return out;
    };
    if (stage === XlateStage.InterruptRemap) return this.irTrail(r, req, out, stop);
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
    // The first entry read: the top level, or the level below a paging-structure-cache entry.
    const top = w.trailTop;
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

/** Why interrupt remapping stopped, by fault reason (intremap.ts checks, VT-d 7.1.3 / 9.10). */
const IR_STOP: Record<number, [StopCause, string]> = {
  [VTD_FR_IR_REQ_RSVD]: ["reserved", "reserved bits set in the interrupt request (SHV with data bits 31:16)"],
  [VTD_FR_IR_INDEX_OVER]: ["invalid", "the interrupt index is beyond the interrupt-remapping table (IRTA.S)"],
  [VTD_FR_IR_ENTRY_P]: ["not-present", "IRTE not present (P = 0)"],
  [VTD_FR_IR_ROOT_INVAL]: ["unreadable", "the interrupt-remapping table is not readable memory"],
  [VTD_FR_IR_IRTE_RSVD]: ["reserved", "reserved bits set in the IRTE"],
  [VTD_FR_IR_REQ_COMPAT]: ["blocked", "compatibility-format interrupt while GSTS.CFIS = 0"],
  [VTD_FR_IR_SID_ERR]: ["source-id", "the requester id fails the IRTE's source validation (SVT/SQ/SID)"],
};

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

/**
 * A poke target in scalable mode (RTADDR.TTM = 01), read from the tables as they are now:
 * context-lo / context-hi are qwords 0 / 1 of the 256-bit scalable-mode context entry (root entry
 * LCTP for devfn 00-7f, UCTP for 80-ff, 32-byte entries; VT-d 9.2, 9.4), pasid-entry is qword
 * `word` of the 512-bit PASID table entry of `pasid` (directory index PASID[19:6], 8-byte entries;
 * table index PASID[5:0], 64-byte entries; VT-d 9.5, 9.6) - the path translateScalable reads.
 * First-level entries are named by address.
 */
function locateScalable(u: DmarUnit, t: EntryTarget, rootAddr: number): number | string {
  const mem = u.mem;
  const devfn = t.sid & 0xff;
  const upper = devfn >= 0x80;
  if (t.structure === "pte") return "in scalable mode a pte target is not located through the tables; give the address of the first- or second-level entry";
  const half = mem.readU64(rootAddr + (upper ? 8 : 0)) ?? 0n;
  if ((half & 1n) === 0n) return `the scalable-mode root entry of bus ${hex2(t.sid >> 8)} has ${upper ? "UP" : "LP"} = 0: no ${upper ? "upper" : "lower"} context table`;
  const ceAddr = Number(half & ~0xfffn) + (devfn & 0x7f) * 32;
  if (t.structure === "context-lo") return ceAddr;
  if (t.structure === "context-hi") return ceAddr + 8;
  const ce = mem.readU64(ceAddr) ?? 0n;
  if ((ce & 1n) === 0n) return `the scalable-mode context entry of ${formatSid(t.sid)} is not present`;
  const pasid = t.pasid ?? 0;
  const pdts = Number((ce >> 9n) & 7n);
  if (pasid >>> 6 >= 1 << (pdts + 7)) return `PASID ${hex(pasid)} is beyond the PASID directory of ${formatSid(t.sid)} (PDTS ${pdts}: ${1 << (pdts + 7)} entries)`;
  const deAddr = Number(ce & ~0xfffn) + (pasid >>> 6) * 8;
  const de = mem.readU64(deAddr) ?? 0n;
  if ((de & 1n) === 0n) return `the PASID directory entry ${pasid >>> 6} of ${formatSid(t.sid)} is not present: no PASID table for PASID ${hex(pasid)}`;
  return Number(de & ~0xfffn) + (pasid & 0x3f) * 64 + 8 * (t.word ?? 0);
}
