/**
 * AMD-Vi through the IOMMU contract (sim/iommu.ts): translate/explain with the trail (the DTE,
 * then the page-table entries the unit read, named as the AMD spec names them), invalidate as the
 * amd_iommu driver builds its commands, locate for pokes, and the inspection half: the device
 * table -> DTEs -> domain -> v1 tables as a lazy tree, the IOTLB and device-table cache, the
 * registers and the event log with Linux's lines. The trail is recorded by the unit's own
 * translate(); nothing here decides a verdict.
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
  type IotlbEntryNode,
  type NotPresentNode,
  type PasidEntryNode,
  type PageEntryNode,
  type ReasonInfo,
  type CommandView,
  type RegisterView,
  type RootTableNode,
  type StopCause,
  type TableNode,
  type Trail,
  type TrailEntry,
  type TranslateRequest,
  type Translation,
  type Verdict,
  InterruptEntryView,
  InterruptRemapView,
  UnitLogEntryView,
  UnitLogView,
} from "../iommu.js";
import type { PhysicalMemory } from "../memory.js";
import { NO_CHILDREN, tableLevelNodes, unreadableNode } from "../inspectNodes.js";
import { domainNode, hexText, qwordFields } from "../decodedFields.js";
import { formatSid } from "../bdf.js";
import type { AmdIommuDriver } from "./driver.js";
import { invIommuPages, invIommuPagesGn } from "./driver.js";
import { AMD_REGISTERS, irteFields, dteFields, dteGcr3Root, entryName, eventFields, gaLogFields, gcr3Fields, largeShiftOf, pteFields, v2EntryName, v2Fields } from "./decode.js";
import {
  CMD_INV_ALL,
  CMD_INV_DEV_ENTRY,
  DTE_SIZE,
  EVENT_FLAG_PE,
  EVENT_FLAG_RW,
  EVENT_FLAG_RZ,
  EVENT_TYPE_ILL_DEV,
  EVENT_TYPE_INV_DEV_REQ,
  EVENT_TYPE_IO_FAULT,
  EVENT_TYPE_PAGE_TAB_ERR,
  V2_LEVELS,
  COMMAND_NAMES,
  GA_ENTRY_SIZE,
  GA_GUEST_NR,
  MMIO_STATUS_OFFSET,
  STATUS_GALOG_OVERFLOW,
  STATUS_GALOG_RUN,
  eventInfo,
  flagNames,
} from "./defs.js";
import { decodeEvent, renderEvent, type DeviceLookup } from "./dmesg.js";
import { AmdKind, AmdStage, type AmdViUnit } from "./unit.js";
import type { AmdIotlbEntry } from "./iotlb.js";
import { decodeIrte } from "./intremap.js";
import { gaTagFields } from "./avic.js";

/** MAX_IRQS_PER_TABLE: Linux's per-device interrupt remapping tables hold 512 entries (DTE IntTabLen 9). */
const IRQS_PER_TABLE = 512;

const hex = hexText;
const hex2 = (n: number) => n.toString(16).padStart(2, "0");

export class AmdViModel implements IommuUnit {
  readonly model = "AMD-Vi (v1 page tables)";

  constructor(
    readonly unit: AmdViUnit,
    private readonly driver: AmdIommuDriver | undefined,
    private readonly mem: PhysicalMemory,
    /** Which device ids the kernel knows, with their bound driver (the IO_PAGE_FAULT line's prefix). */
    private readonly known: DeviceLookup = () => undefined,
    /** The host kernel, when known: a GA log entry's tag is read in its KVM's GATag layout (avic.ts). */
    private readonly kernel?: string,
  ) {}

  // ------------------------------------------------------------------ decoders

  reason(code: number): ReasonInfo {
    const i = eventInfo(code);
    return { code, label: `0x${hex2(code)} ${i.name}`, name: i.name, explanation: i.explanation, short: i.name };
  }

  decodeRegister(name: string, value: bigint): DecodedField[] | undefined {
    return AMD_REGISTERS.find((r) => r.name === name)?.fields(value);
  }

  decodeWord(structure: EntryTarget["structure"], value: bigint, level?: number): DecodedWord {
    if (structure === "pte") return { fields: pteFields(value, level ?? 1), present: (value & 1n) !== 0n };
    if (structure === "context-hi") return { fields: qwordFields(dteFields([0n, value]), 1), present: true };
    return { fields: qwordFields(dteFields([value]), 0), present: (value & 1n) !== 0n };
  }

  counters(): Record<string, number> {
    return { ...this.unit.counters };
  }

  command(lo: bigint): CommandView {
    // The opcode is data[1] bits 31:28 (CMD_SET_TYPE), bits 63:60 of the low qword.
    const op = Number(lo >> 60n);
    return { name: COMMAND_NAMES[op] ?? `unknown command 0x${op.toString(16).padStart(2, "0")}`, section: "AMD IOMMU spec 2.4", via: "the command buffer", unit: "IOMMU" };
  }

  // ------------------------------------------------------------------ the model

  translate(req: TranslateRequest): Verdict {
    const r = this.unit.translate(req.sid, Number((req.iova >> 32n) & 0xffffffffn), Number(req.iova & 0xffffffffn), req.write, false, req.pasid ?? -1);
    return this.verdict(r);
  }

  explain(req: TranslateRequest): Translation {
    const u = this.unit;
    const hi = Number((req.iova >> 32n) & 0xffffffffn);
    const lo = Number(req.iova & 0xffffffffn);
    const saved = u.recordTrail;
    u.recordTrail = true;
    try {
      const r = u.translate(req.sid, hi, lo, req.write, true, req.pasid ?? -1);
      const verdict = this.verdict(r);
      if (!u.dtcHit && !u.iotlbHit) return { request: req, verdict, trail: this.trail(r, req), stale: false };
      u.bypassCaches = true;
      const r2 = u.translate(req.sid, hi, lo, req.write, true, req.pasid ?? -1);
      const fresh = this.verdict(r2);
      const trail = this.trail(r2, req);
      const stale = fresh.kind !== verdict.kind || fresh.reason !== verdict.reason || fresh.hpa !== verdict.hpa || fresh.perms !== verdict.perms;
      return { request: req, verdict, trail, stale };
    } finally {
      u.bypassCaches = false;
      u.recordTrail = saved;
    }
  }

  private verdict(r: number): Verdict {
    const u = this.unit;
    const kind = r !== 0 ? "fault" : u.kind === AmdKind.Interrupt ? "interrupt" : u.kind === AmdKind.PassThrough ? "pass-through" : u.kind === AmdKind.Untranslated ? "untranslated" : "translated";
    const leafLevel = u.iotlbHit ? 1 : u.level;
    const v: Verdict = { kind, reason: r, level: kind === "translated" || (r !== 0 && u.stage >= AmdStage.Walk) ? leafLevel : 0, perms: r === 0 ? u.perm : 0, cached: u.iotlbHit };
    // A translated (ATS) request: the device's own IOTLB answered (the leaf level is its cached page's).
    if (u.devIotlbHit && r === 0) v.deviceCached = true;
    if (r === 0) v.hpa = (BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0);
    if (u.stage >= AmdStage.Dte && (kind === "translated" || kind === "pass-through" || r === EVENT_TYPE_IO_FAULT)) v.domain = u.did;
    return v;
  }

  private trail(r: number, req: TranslateRequest): Trail {
    const u = this.unit;
    const entries: TrailEntry[] = [];
    const out: Trail = { entries };
    if (u.stage === AmdStage.None) return out;
    const stop = (cause: StopCause, why: string) => {
      out.stop = { entry: entries.length - 1, reason: r, cause, why };
      return out;
    };
    if (!u.trailDteRead) {
      entries.push({ kind: "context", name: "DTE", level: 0, index: req.sid, address: BigInt(u.trailDteAddr), raw: [], fields: [] });
      return stop("unreadable", "the device table entry is not readable memory (DEV_TAB_HARDWARE_ERROR)");
    }
    const dte = [0, 2, 4, 6].map((i) => (BigInt(u.trailDte[i + 1]! >>> 0) << 32n) | BigInt(u.trailDte[i]! >>> 0));
    entries.push({ kind: "context", name: "DTE", level: 0, index: req.sid, address: BigInt(u.trailDteAddr), raw: dte, fields: dteFields(dte).map(toTrailField) });
    const flags = u.flags;
    if (u.stage === AmdStage.Dte) {
      if (r === 0) return out;
      if (r === EVENT_TYPE_ILL_DEV) return stop("reserved", ((dte[0]! >> 9n) & 7n) === 7n ? "DTE Mode 7 is reserved (ILLEGAL_DEV_TABLE_ENTRY)" : `reserved bits ${hex(dte[0]! & 0x7cn)} set in DTE data[0] (ILLEGAL_DEV_TABLE_ENTRY)`);
      if (r === EVENT_TYPE_IO_FAULT) return stop("permission", `${req.write ? "write" : "read"} request, DTE Mode 0 with ${req.write ? "IW" : "IR"} = 0`);
      return stop("invalid", `event ${hex(r)}`);
    }
    if (u.stage === AmdStage.Range) return stop("address-width", `IOVA ${hex(req.iova)} is beyond the ${12 + 9 * Number((dte[0]! >> 9n) & 7n)}-bit range of the DTE's Mode`);
    if (u.guest || r === EVENT_TYPE_INV_DEV_REQ) return this.guestTrail(r, req, out, entries, stop);
    for (let i = 0; i < u.trailLen; i++) {
      const level = u.trailLevel[i]!;
      const v = (BigInt(u.trailHi[i]! >>> 0) << 32n) | BigInt(u.trailLo[i]! >>> 0);
      entries.push({ kind: "pte", name: entryName(level, v), level, index: indexOf(req.iova, level), address: BigInt(u.trailAddr[i]!), raw: [v], fields: pteFields(v, level).map(toTrailField) });
    }
    if (r === 0) return out;
    if (r === EVENT_TYPE_PAGE_TAB_ERR) {
      const level = u.level;
      entries.push({ kind: "pte", name: entryName(level), level, index: indexOf(req.iova, level), address: BigInt(u.trailAddr[u.trailLen]!), raw: [], fields: [] });
      return stop("unreadable", `the ${entryName(level)} is not readable memory (PAGE_TAB_HARDWARE_ERROR)`);
    }
    const last = entries[entries.length - 1]!;
    if (flags & EVENT_FLAG_RZ) return stop("reserved", `invalid Next Level encoding in the ${last.name} (IO_PAGE_FAULT, RZ = 1)`);
    if (flags & EVENT_FLAG_PE) return stop("permission", `${req.write ? "write" : "read"} request, ${req.write ? "IW" : "IR"} = 0 on the walk to the ${last.name} (IO_PAGE_FAULT, PR = 1 PE = 1)`);
    if (((last.raw[0] ?? 0n) & 1n) === 0n) return stop("not-present", `${last.name} not present (PR = 0)`);
    return stop("not-present", `IOVA bits of a skipped level are not zero below the ${last.name}`);
  }

  /**
   * The rest of a guest (v2) translation's trail: the GCR3 table entries (GLX + 1 levels, the last
   * one the PASID's guest CR3), then the v2 entries (PML4E .. PTE), as the unit read them.
   */
  private guestTrail(r: number, req: TranslateRequest, out: Trail, entries: TrailEntry[], stop: (cause: StopCause, why: string) => Trail): Trail {
    const u = this.unit;
    const p = u.guestPasid;
    if (r === EVENT_TYPE_INV_DEV_REQ) return stop("invalid", u.guest ? `PASID ${hex(p)} is beyond what the DTE's GCR3 table levels (GLX) index (INVALID_DEVICE_REQUEST)` : `a request with PASID ${hex(req.pasid ?? 0)}, but the DTE has GV = 0: no GCR3 table (INVALID_DEVICE_REQUEST)`);
    for (let i = 0; i < u.trailGcr3Len; i++) {
      const level = u.trailGcr3Level[i]!;
      const v = (BigInt(u.trailGcr3Hi[i]! >>> 0) << 32n) | BigInt(u.trailGcr3Lo[i]! >>> 0);
      entries.push({ kind: "pasid", name: `GCR3 entry (level ${level})`, level: 0, index: (p >>> (9 * level)) & 0x1ff, address: BigInt(u.trailGcr3Addr[i]!), raw: [v], fields: gcr3Fields(v, level === 0).map(toTrailField) });
    }
    if (u.stage === AmdStage.Gcr3) {
      if (r === EVENT_TYPE_PAGE_TAB_ERR) {
        entries.push({ kind: "pasid", name: "GCR3 entry", level: 0, index: 0, address: BigInt(u.trailGcr3Addr[u.trailGcr3Len]!), raw: [], fields: [] });
        return stop("unreadable", "the GCR3 table entry is not readable memory (PAGE_TAB_HARDWARE_ERROR)");
      }
      return stop("not-present", `GCR3 entry of PASID ${hex(p)} not valid (V = 0): no guest page table bound (IO_PAGE_FAULT, GN = ${req.pasid !== undefined && req.pasid >= 0 ? 1 : 0})`);
    }
    for (let i = 0; i < u.trailLen; i++) {
      const level = u.trailLevel[i]!;
      const v = (BigInt(u.trailHi[i]! >>> 0) << 32n) | BigInt(u.trailLo[i]! >>> 0);
      entries.push({ kind: "pte", name: v2EntryName(level), level, index: indexOf(req.iova, level), address: BigInt(u.trailAddr[i]!), raw: [v], fields: v2Fields(v, level).map(toTrailField) });
    }
    if (r === 0) return out;
    if (r === EVENT_TYPE_PAGE_TAB_ERR) {
      entries.push({ kind: "pte", name: v2EntryName(u.level), level: u.level, index: indexOf(req.iova, u.level), address: BigInt(u.trailAddr[u.trailLen]!), raw: [], fields: [] });
      return stop("unreadable", `the ${v2EntryName(u.level)} is not readable memory (PAGE_TAB_HARDWARE_ERROR)`);
    }
    if (u.trailLen === 0) return stop("address-width", `IOVA ${hex(req.iova)} is not a canonical 48-bit address (bits 63:47 differ)`);
    const last = entries[entries.length - 1]!;
    if (u.flags & EVENT_FLAG_RZ) return stop("reserved", `PS = 1 in the ${last.name}: reserved at level 4 (IO_PAGE_FAULT, RZ = 1)`);
    if (u.flags & EVENT_FLAG_PE) {
      const user = (u.trailLo.subarray(0, u.trailLen).every((x) => (x & 4) !== 0));
      return stop("permission", user ? `write request, R/W = 0 on the walk to the ${last.name} (IO_PAGE_FAULT, PR = 1 PE = 1)` : `user request, U/S = 0 on the walk to the ${last.name}: a supervisor-only page (IO_PAGE_FAULT, PR = 1 US = 1 PE = 1)`);
    }
    return stop("not-present", `${last.name} not present (P = 0)`);
  }

  invalidate(req: InvalidateRequest): InvalidateResult {
    const d = this.driver;
    if (d === undefined) return { ok: false, dropped: 0, error: "this unit has no driver to issue commands", log: [] };
    const did = req.domain ?? 0;
    const cached = () => this.unit.iotlb.entries().length + this.unit.guestIotlb.entries().length;
    const before = cached();
    let cmds: [bigint, bigint][];
    switch (req.scope) {
      case "global":
      case "context-global":
        cmds = [[BigInt(CMD_INV_ALL) << 60n, 0n]];
        break;
      case "domain":
        cmds = [invIommuPages(did, 0n, 1n << 64n)];
        break;
      case "page":
        cmds = [invIommuPages(did, req.iova ?? 0n, 4096n << BigInt(req.order ?? 0))];
        break;
      case "pasid":
        // A guest (v2) translation's invalidation: INVALIDATE_IOMMU_PAGES with GN and the PASID
        // (the GCR3 table's domain id; PASID 0 for a v2 DMA domain's requests without PASID).
        cmds = [invIommuPagesGn(did, 0n, 1n << 64n, req.pasid ?? 0)];
        break;
      case "pasid-page":
        cmds = [invIommuPagesGn(did, req.iova ?? 0n, 4096n << BigInt(req.order ?? 0), req.pasid ?? 0)];
        break;
      case "context-domain":
        cmds = [...(d.domains.get(did)?.devids ?? [])].map((devid) => [BigInt(devid) | (BigInt(CMD_INV_DEV_ENTRY) << 60n), 0n] as [bigint, bigint]);
        break;
      case "context-device":
        cmds = [[BigInt(req.sid ?? 0) | (BigInt(CMD_INV_DEV_ENTRY) << 60n), 0n]];
        break;
      default:
        // PASID (VT-d scalable mode) and interrupt-entry scopes: the v1 tables and this model's
        // command set have no such invalidation (INVALIDATE_INTERRUPT_TABLE needs interrupt remapping, not modelled).
        return { ok: false, dropped: 0, error: `AMD-Vi has no ${req.scope} invalidation in this model`, log: [] };
    }
    for (const c of cmds) if (!d.submitRaw(c)) return { ok: false, dropped: 0, error: "the unit stopped at an illegal command (ILLEGAL_COMMAND_ERROR)", log: [] };
    return { ok: true, dropped: before - cached(), log: [] };
  }

  /**
   * The entry's address on the path of (sid, iova) in memory now: the DTE (context-lo: data[0],
   * context-hi: data[1]), then each present PDE's table. AMD-Vi has no root table.
   */
  locate(t: EntryTarget): number | string {
    const u = this.unit;
    const at = u.devTableBase + t.sid * DTE_SIZE;
    if (t.structure === "pasid-entry") {
      // GCR3[0] (the per-PASID entry of substream 0) through the DTE's GCR3 table.
      const d0 = this.mem.readU64(at) ?? 0n;
      const d1 = this.mem.readU64(at + 8) ?? 0n;
      if (((d0 >> 55n) & 1n) === 0n) return `the DTE of ${formatSid(t.sid)} has GV = 0: no GCR3 table (bind a PASID of a device in an identity domain first)`;
      let table = Number(dteGcr3Root(d0, d1));
      for (let level = Number((d0 >> 56n) & 3n); level > 0; level--) {
        const v = this.mem.readU64(table);
        if (v === undefined || (v & 1n) === 0n) return `the level-${level} GCR3 entry of PASID 0 is not valid`;
        table = Number(v & 0x000ffffffffff000n);
      }
      return table;
    }
    if (t.structure === "root" || t.structure === "root-hi") return "AMD-Vi has no root table: the device table is indexed by requester id (poke context-lo for DTE data[0], context-hi for data[1])";
    if (t.structure === "context-lo") return at;
    if (t.structure === "context-hi") return at + 8;
    const q0 = this.mem.readU64(at);
    if (q0 === undefined) return `the DTE of ${formatSid(t.sid)} is not readable`;
    const mode = Number((q0 >> 9n) & 7n);
    // A v2 DMA domain's DTE (Mode 0, GV, GIoV): its PTEs through GCR3[0], as the unit walks them.
    if ((q0 & 1n) === 1n && mode === 0 && ((q0 >> 54n) & 3n) === 3n) return this.locateV2(t);
    if ((q0 & 1n) === 0n || mode === 0 || mode === 7) return `the DTE of ${formatSid(t.sid)} has no page table (V = ${q0 & 1n}, Mode ${mode})`;
    const iova = t.iova ?? 0n;
    let table = Number(q0 & 0x000ffffffffff000n);
    let level = mode;
    const want = t.level;
    for (;;) {
      const addr = table + indexOf(iova, level) * 8;
      if (want === level) return addr;
      const v = this.mem.readU64(addr);
      if (v === undefined || (v & 1n) === 0n) return want === undefined ? addr : `no level-${level - 1} table for IOVA ${hex(iova)}: the ${entryName(level)} is not present`;
      const next = Number((v >> 9n) & 7n);
      if (next === 0 || next === 7) return want === undefined ? addr : `IOVA ${hex(iova)} is mapped by a large page at level ${level}`;
      if (next >= level) return `the ${entryName(level, v)} has an invalid Next Level ${next}`;
      if (want !== undefined && want > next && want < level) return `level ${want} is skipped by the ${entryName(level, v)} (Next Level ${next})`;
      table = Number(v & 0x000ffffffffff000n);
      level = next;
      if (level < 1) return `level ${want ?? 1} is outside this table`;
    }
  }

  /**
   * A `pte` target on a DTE with GV and GIoV: the v2 entry at `t.level` (absent: the last one read -
   * the leaf, or the entry that is not present) on the unit's own walk of the request without
   * PASID (GCR3[0] and the v2 table: unit.ts guestWalk), its caches bypassed and nothing logged.
   */
  private locateV2(t: EntryTarget): number | string {
    const u = this.unit;
    const iova = t.iova ?? 0n;
    const saved = u.recordTrail;
    u.recordTrail = true;
    u.bypassCaches = true;
    try {
      u.translate(t.sid, Number((iova >> 32n) & 0xffffffffn), Number(iova & 0xffffffffn), false, true, -1);
      if (u.trailLen === 0) return `no v2 page table entry on the path of IOVA ${hex(iova)}: the walk stopped at the DTE or the GCR3 table`;
      if (t.level === undefined) return u.trailAddr[u.trailLen - 1]!;
      for (let i = 0; i < u.trailLen; i++) if (u.trailLevel[i] === t.level) return u.trailAddr[i]!;
      return `the walk of IOVA ${hex(iova)} does not reach a level-${t.level} v2 entry`;
    } finally {
      u.bypassCaches = false;
      u.recordTrail = saved;
    }
  }

  // ------------------------------------------------------------------ inspection

  tables(): InspectTables {
    const u = this.unit;
    return {
      name: "ivhd0",
      model: "AMD-Vi",
      addressWidth: Math.min(64, 12 + 9 * u.maxLevels),
      translationEnabled: u.translationEnabled,
      faultRecords: u.eventLogBytes / 16,
      root: this.deviceTable(),
      names: {
        root: "Device table",
        entry: "DTE",
        pageTablePointer: "Page Table Root Pointer",
        entryCache: "Device table cache",
        faults: "Event log",
        faultRecord: "event",
        faultsTooltip: "The event log at the Event Log Base register (AMD IOMMU spec 2.5): 16-byte entries the IOMMU writes at the tail. Linux's iommu_poll_events prints each entry from head to tail and zeroes it, so serviced entries disappear.",
        spec: "AMD IOMMU spec",
      },
      iotlb: { capacity: u.iotlb.size, geometry: `${u.iotlb.sets}×${u.iotlb.ways} (v1 and guest (v2) entries share the ways)`, entries: () => this.iotlbEntries() },
      ...(this.driver !== undefined && this.driver.atsDevids.size > 0 ? { deviceTlb: { capacity: u.devIotlb.size, entries: () => this.deviceTlbEntries() } } : {}),
      contextCache: { entries: () => this.dtcEntries() },
      ...(this.driver !== undefined && this.driver.irqTables().length > 0 ? { interruptRemapping: this.interruptRemapView(this.driver) } : {}),
      ...(u.gaLogBytes > 0 ? { logs: [this.gaLogView()] } : {}),
    };
  }

  /**
   * The GA log (guest virtual APIC log) at the GA Log Base register: 8-byte entries the IOMMU
   * writes for interrupts to GuestMode IRTEs whose vCPU is not running (unit.ts logGaEntry).
   * Linux's iommu_poll_ga_log reads them without zeroing, so read entries stay, not pending.
   */
  private gaLogView(): UnitLogView {
    const u = this.unit;
    const mem = this.mem;
    const kernel = this.kernel;
    const status = Number(u.readReg(MMIO_STATUS_OFFSET));
    return {
      id: "ga",
      name: "GA log",
      tooltip: "The guest virtual APIC log at the GA Log Base register (AMD IOMMU spec 48882, guest virtual APIC): an interrupt to a GuestMode IRTE whose vCPU is not running (IsRun = 0, GALogIntr = 1) is an entry with the IRTE's GATag; Linux's iommu_poll_ga_log hands the tag to KVM's avic_ga_log_notifier, which wakes the vCPU.",
      address: BigInt(u.gaLogBase),
      capacity: u.gaLogBytes / GA_ENTRY_SIZE,
      stopped: (status & STATUS_GALOG_OVERFLOW) !== 0 || (status & STATUS_GALOG_RUN) === 0,
      entries() {
        const pending = new Set(u.pendingGaEntries().map((e) => e.at));
        const out: UnitLogEntryView[] = [];
        for (let i = 0; i < u.gaLogBytes / GA_ENTRY_SIZE; i++) {
          const at = u.gaLogBase + i * GA_ENTRY_SIZE;
          const raw = mem.readU64(at) ?? 0n;
          if (raw === 0n) continue;
          const type = Number(raw >> 60n);
          const devid = Number((raw >> 32n) & 0xffffn);
          const name = type === GA_GUEST_NR ? "GA_GUEST_NR" : `type ${type}`;
          // KVM's reading of the tag (avic_ga_log_notifier), in the host kernel's layout: the GATag
          // field's meaning (in the row's label it would not fit a 500 px sidebar).
          const tag = Number(raw & 0xffffffffn);
          const fields = gaLogFields(raw, kernel === undefined ? undefined : (t) => gaTagFields(kernel, t));
          out.push({ key: String(i), index: i, address: BigInt(at), raw: [raw], fields, summary: `${name} ${formatSid(devid)} GATag 0x${tag.toString(16)}`, pending: pending.has(at) });
        }
        return out;
      },
    };
  }

  /**
   * The interrupt remapping tables Linux set up, one per device id (alloc_irq_table: 512 entries of
   * 4 bytes, or 16 with GAEn), as one view: entries keyed `devid.index`, their source the device.
   * A 128-bit IRTE with GuestMode = 1 is "posted": its destination the vAPIC backing page (GA Root Ptr).
   */
  private interruptRemapView(d: AmdIommuDriver): InterruptRemapView {
    const u = this.unit;
    const ga = u.gaEnabled;
    const size = ga ? 16 : 4;
    const mem = this.mem;
    const view = (devid: number, index: number, at: number, lo: bigint, hi: bigint): InterruptEntryView => {
      const f = decodeIrte(lo, hi, ga);
      return {
        key: `${devid}.${index}`,
        index,
        address: BigInt(at),
        raw: ga ? [lo, hi] : [lo],
        fields: irteFields(lo, hi, ga),
        present: f.remapEn,
        format: f.vapic !== undefined ? "posted" : "remapped",
        vector: f.vector,
        destination: f.vapic !== undefined ? f.vapic.gaRootPtr : BigInt(f.destination),
        source: formatSid(devid),
      };
    };
    const read = (at: number): [bigint, bigint] => (ga ? [mem.readU64(at) ?? 0n, mem.readU64(at + 8) ?? 0n] : [BigInt((at % 8 === 0 ? (mem.readU64(at) ?? 0n) : (mem.readU64(at - 4) ?? 0n) >> 32n) & 0xffffffffn), 0n]);
    const tables = d.irqTables();
    return {
      address: BigInt(tables[0]![1]),
      size: tables.length * IRQS_PER_TABLE,
      x2apic: ga,
      // The IRTE format Control.GAEn selects (spec 48882 2.2.5, "Interrupt Remapping Tables": 32-bit
      // IRTEs, or 128-bit IRTEs with GAEn = 1; Linux irq_remap_table, AMD_IOMMU_GUEST_IR_GA(mode):
      // 128-bit IRTEs for both the vAPIC and the legacy GA modes), not an APIC mode.
      entryFormat: ga ? "128-bit GA-mode IRTEs" : "32-bit IRTEs",
      enabled: u.translationEnabled,
      compatibilityAllowed: false,
      perDevice: true,
      entries(limit = 4096) {
        const out: InterruptEntryView[] = [];
        for (const [devid, table] of tables) {
          for (let i = 0; i < IRQS_PER_TABLE && out.length < limit; i++) {
            const [lo, hi] = read(table + i * size);
            if ((lo & 1n) === 1n) out.push(view(devid, i, table + i * size, lo, hi));
          }
        }
        return out;
      },
      cache() {
        return u.intr.cachedEntries().map((e) => view(e.devid, e.index, (d.irqTable(e.devid) ?? 0) + e.index * size, e.words[0], e.words[1]));
      },
    };
  }

  /** The device table; its children are the DTEs a driver wrote (V = 1 and TV = 1 with a Mode, a domain or permissions), the rest collapsed. */
  private deviceTable(): RootTableNode {
    const base = BigInt(this.unit.devTableBase);
    const children = () => this.dtes();
    return {
      kind: "root-table",
      key: "root",
      address: base,
      raw: [],
      fields: [],
      hasChildren: true,
      children,
      child: (key) => {
        const sid = /^[0-9a-f]{4}$/.test(key) ? parseInt(key, 16) : -1;
        if (sid < 0) return children().find((n) => n.key === key);
        return this.dte(sid) ?? undefined;
      },
    };
  }

  private readDte(sid: number): bigint[] | undefined {
    const at = this.unit.devTableBase + sid * DTE_SIZE;
    const q: bigint[] = [];
    for (let i = 0; i < 4; i++) {
      const v = this.mem.readU64(at + i * 8);
      if (v === undefined) return undefined;
      q.push(v);
    }
    return q;
  }

  private dte(sid: number): ContextEntryNode | undefined {
    const q = this.readDte(sid);
    if (q === undefined) return undefined;
    const [d0, d1] = [q[0]!, q[1]!];
    const mode = Number((d0 >> 9n) & 7n);
    const did = Number(d1 & 0xffffn);
    const initial = d0 === 3n && d1 === 0n && q[2] === 0n && q[3] === 0n;
    if ((d0 & 1n) === 0n || initial) return undefined;
    const corrupt = (d0 & 2n) !== 0n && ((d0 & 0x7cn) !== 0n || mode === 7);
    const pageTable = d0 & 0x000ffffffffff000n;
    const walks = !corrupt && (d0 & 2n) !== 0n && mode >= 1 && mode <= 6;
    const domain = (): DomainNode => this.domain(sid, did, mode, pageTable);
    // DTE GV: the GCR3 table's valid PASIDs, each with its v2 table (spec 2.2.2: GLX, GCR3 root).
    const gv = !corrupt && (d0 & 2n) !== 0n && ((d0 >> 55n) & 1n) === 1n;
    const gcr3 = (): TableNode[] => (gv ? this.gcr3Entries(dteGcr3Root(d0, d1), Number((d0 >> 56n) & 3n), did, ((d0 >> 54n) & 1n) === 1n) : []);
    return {
      kind: "context-entry",
      key: sid.toString(16).padStart(4, "0"),
      address: BigInt(this.unit.devTableBase + sid * DTE_SIZE),
      raw: q,
      get fields() {
        return dteFields(q);
      },
      ...(corrupt ? { reserved: { bits: [d0 & 0x7cn, 0n], reason: EVENT_TYPE_ILL_DEV } } : {}),
      sid,
      did,
      translation: (d0 & 2n) === 0n || mode === 0 ? "pass-through" : corrupt ? "reserved" : "translated",
      levels: mode,
      pageTable,
      aw: mode,
      fpd: (d1 & (1n << 34n)) !== 0n,
      hasChildren: walks || gv,
      children: () => [...(walks ? [domain()] : []), ...gcr3()],
      child: (key) => (walks && key === "d" ? domain() : gv && /^p[0-9a-f]+$/.test(key) ? gcr3().find((n) => n.key === key) : undefined),
    };
  }

  /** The valid last-level GCR3 entries (one per bound PASID) under a GCR3 table of GLX + 1 levels. */
  private gcr3Entries(root: bigint, glx: number, did: number, giov: boolean): PasidEntryNode[] {
    const out: PasidEntryNode[] = [];
    if (glx === 3) return out;
    const walk = (table: number, level: number, base: number) => {
      for (let i = 0; i < 512; i++) {
        const at = table + i * 8;
        const v = this.mem.readU64(at);
        if (v === undefined || (v & 1n) === 0n) continue;
        const pasid = base + i * 2 ** (9 * level);
        if (level > 0) walk(Number(v & 0x000ffffffffff000n), level - 1, pasid);
        else out.push(this.gcr3Entry(at, v, pasid, did, giov && pasid === 0));
      }
    };
    walk(Number(root), glx, 0);
    return out;
  }

  private gcr3Entry(at: number, v: bigint, pasid: number, did: number, noPasid: boolean): PasidEntryNode {
    const top = v & 0x000ffffffffff000n;
    return {
      kind: "pasid-entry",
      key: `p${pasid.toString(16)}`,
      address: BigInt(at),
      raw: [v],
      get fields() {
        return gcr3Fields(v, true);
      },
      pasid,
      noPasid,
      did,
      translation: "v2 (guest) page table",
      levels: V2_LEVELS,
      pageTable: top,
      topName: "PML4",
      hasChildren: true,
      children: () => this.v2Entries(top, V2_LEVELS, 0n),
      child: (key) => this.v2Entries(top, V2_LEVELS, 0n).find((n) => n.key === key),
    };
  }

  /** One v2 table: present entries (P = 1) as nodes, non-present runs collapsed. */
  private v2Entries(table: bigint, level: number, iovaBase: bigint): TableNode[] {
    if (this.mem.readU64(Number(table)) === undefined) return [unreadableNode("unreadable", table, EVENT_TYPE_PAGE_TAB_ERR)];
    return tableLevelNodes(this.mem, {
      table: Number(table),
      entries: 512,
      iovaBase,
      span: 1n << BigInt(12 + 9 * (level - 1)),
      present: (v) => (v & 1n) !== 0n, // P (bit 0)
      node: (i, v) => this.v2Pte(table, level, i, iovaBase, v),
    });
  }

  private v2Pte(table: bigint, level: number, index: number, iovaBase: bigint, v: bigint): PageEntryNode {
    const span = 1n << BigInt(12 + 9 * (level - 1));
    const iova = iovaBase + BigInt(index) * span;
    const ps = (v & 0x80n) !== 0n;
    const leaf = level === 1 || (ps && (level === 2 || level === 3));
    const invalid = ps && level === V2_LEVELS;
    const target = v & 0x000ffffffffff000n & ~(leaf ? span - 1n : 0n);
    const descends = !leaf && !invalid;
    return {
      kind: "pte",
      key: String(index),
      address: table + BigInt(index * 8),
      raw: [v],
      label: `${v2EntryName(level)} ${index}`,
      get fields() {
        return v2Fields(v, level);
      },
      ...(invalid ? { reserved: { bits: [0x80n], reason: EVENT_TYPE_IO_FAULT } } : {}),
      level,
      index,
      iova,
      span,
      leaf,
      // Present is readable; R/W (bit 1) writable. U/S is shown in the fields.
      perm: 1 | ((v & 2n) !== 0n ? 2 : 0),
      target,
      pageSize: leaf ? span : 0n,
      hasChildren: descends,
      children: () => (descends ? this.v2Entries(target, level - 1, iova) : []),
      child: (key) => (descends ? this.v2Entries(target, level - 1, iova).find((n) => n.key === key) : undefined),
    };
  }

  private dtes(): TableNode[] {
    const out: TableNode[] = [];
    const n = this.unit.devTableBytes / DTE_SIZE;
    for (let sid = 0; sid < n; sid++) {
      const e = this.dte(sid);
      if (e) out.push(e);
    }
    const rest = n - out.length;
    if (rest > 0) {
      const np: NotPresentNode = { kind: "not-present", key: "absent", raw: [], fields: [], first: 0, last: n - 1, count: rest, ...NO_CHILDREN };
      out.push(np);
    }
    return out;
  }

  private domain(sid: number, did: number, levels: number, top: bigint): DomainNode {
    return domainNode({
      did,
      levels,
      top,
      topName: `level-${levels} table`,
      sharedWith: () => this.sidsOfDomain(did).filter((s) => s !== sid),
      children: () => this.tableEntries(top, levels, 0n),
      child: (key) => this.tableEntry(top, levels, 0n, key),
    });
  }

  private sidsOfDomain(did: number): number[] {
    const out: number[] = [];
    const n = this.unit.devTableBytes / DTE_SIZE;
    for (let sid = 0; sid < n; sid++) {
      const at = this.unit.devTableBase + sid * DTE_SIZE;
      const d0 = this.mem.readU64(at) ?? 0n;
      if ((d0 & 3n) !== 3n || ((d0 >> 9n) & 7n) === 0n) continue;
      if (Number((this.mem.readU64(at + 8) ?? 0n) & 0xffffn) === did) out.push(sid);
    }
    return out;
  }

  private pte(table: bigint, level: number, index: number, iovaBase: bigint, v: bigint): PageEntryNode {
    const span = 1n << BigInt(12 + 9 * (level - 1));
    const iova = iovaBase + BigInt(index) * span;
    const next = Number((v >> 9n) & 7n);
    const leaf = next === 0 || next === 7;
    const invalid = !leaf && next >= level;
    const target = v & 0x000ffffffffff000n;
    const pageShift = next === 7 ? largeShiftOf(v) : 12 + 9 * (level - 1);
    const pageSize = leaf ? 1n << BigInt(pageShift) : 0n;
    const descends = !leaf && !invalid;
    // A skipped level: the next table is at level `next`; its entries cover IOVAs with the skipped bits zero.
    return {
      kind: "pte",
      key: String(index),
      address: table + BigInt(index * 8),
      raw: [v],
      get fields() {
        return pteFields(v, level);
      },
      ...(invalid ? { reserved: { bits: [v & 0xe00n], reason: EVENT_TYPE_IO_FAULT } } : {}),
      level,
      index,
      iova,
      span,
      leaf,
      perm: Number((v >> 61n) & 3n),
      target: leaf ? target & ~(pageSize - 1n) : target,
      pageSize,
      hasChildren: descends,
      children: () => (descends ? this.tableEntries(target, next, iova) : []),
      child: (key) => (descends ? this.tableEntry(target, next, iova, key) : undefined),
    };
  }

  private tableEntry(table: bigint, level: number, iovaBase: bigint, key: string): PageEntryNode | undefined {
    if (!/^\d+$/.test(key)) return undefined;
    const index = Number(key);
    if (index >= 512) return undefined;
    const v = this.mem.readU64(Number(table) + index * 8);
    if (v === undefined || (v & 1n) === 0n) return undefined;
    return this.pte(table, level, index, iovaBase, v);
  }

  private tableEntries(table: bigint, level: number, iovaBase: bigint): TableNode[] {
    if (this.mem.readU64(Number(table)) === undefined) return [unreadableNode("unreadable", table, EVENT_TYPE_PAGE_TAB_ERR)];
    return tableLevelNodes(this.mem, {
      table: Number(table),
      entries: 512,
      iovaBase,
      span: 1n << BigInt(12 + 9 * (level - 1)),
      present: (v) => (v & 1n) !== 0n, // PTE.PR (bit 0)
      node: (i, v) => this.pte(table, level, i, iovaBase, v),
    });
  }

  /**
   * The ATS devices' own IOTLBs (the device IOTLB is tagged by device id and the PASID of the
   * request), each entry checked against the tables now by the unit's own translate() - with the
   * entry's PASID - with its caches bypassed (a probe: nothing filled, nothing logged).
   */
  private deviceTlbEntries(): DeviceTlbEntryView[] {
    const u = this.unit;
    return u.devIotlb.entries().map((e) => {
      const stale = staleAgainstTables(u, e, () => ({ reason: u.request(e.did, Number((e.iova >> 32n) & 0xffffffffn), Number(e.iova & 0xffffffffn), false, true, e.pasid >= 0 ? e.pasid : undefined), hpa: (BigInt(u.hpaHi >>> 0) << 32n) | BigInt(u.hpaLo >>> 0), perm: u.perm }));
      return { key: `${e.set}.${e.way}`, sid: e.did, ...(e.pasid >= 0 ? { pasid: e.pasid } : {}), iova: e.iova, hpa: e.hpa, pageSize: 1n << BigInt(e.pageShift), perm: e.perm, stale };
    });
  }

  /** The IOTLB's entries (tag: domain id; the guest (v2) entries also a PASID). */
  private iotlbEntries(): IotlbEntryNode[] {
    const node = (e: AmdIotlbEntry, guest: boolean): IotlbEntryNode => ({
      kind: "iotlb-entry",
      key: `${guest ? "g" : ""}${e.set}.${e.way}`,
      raw: [],
      fields: [],
      did: e.did,
      iova: e.iova,
      hpa: e.hpa,
      pageSize: 4096n,
      perm: e.perm,
      ...(guest ? { pasid: e.pasid } : {}),
      slot: `${guest ? "guest (v2) entry, " : ""}set ${e.set} way ${e.way} (leaf page ${2 ** (e.pageShift - 12) * 4} KiB)`,
      ...NO_CHILDREN,
    });
    return [...this.unit.iotlb.entries().map((e) => node(e, false)), ...this.unit.guestIotlb.entries().map((e) => node(e, true))];
  }

  private dtcEntries(): ContextCacheEntryNode[] {
    return this.unit.dtcEntries().map((e) => {
      const [lo0, hi0, lo1, hi1] = e.words as [number, number, number, number];
      const mode = (lo0 >>> 9) & 7;
      return {
        kind: "cc-entry",
        key: String(e.sid),
        raw: [],
        fields: [],
        sid: e.sid,
        did: lo1 & 0xffff,
        translation: mode === 0 || (lo0 & 2) === 0 ? "pass-through" : "translated",
        levels: mode,
        pageTable: BigInt(hi0 & 0xfffff) * 0x100000000n + BigInt((lo0 & 0xfffff000) >>> 0),
        fpd: (hi1 & 4) !== 0,
        ...NO_CHILDREN,
      };
    });
  }

  registers(): RegisterView[] {
    return AMD_REGISTERS.map((r) => {
      const value = this.unit.readReg(r.offset);
      return {
        name: r.name,
        offset: r.offset,
        width: 64,
        section: r.section,
        value,
        get fields() {
          return r.fields(value);
        },
      };
    });
  }

  /** The event-log entries with contents (Linux zeroes each after printing it), pending = not yet read. */
  faults(kernel = "6.8"): FaultRecordView[] {
    const u = this.unit;
    const out: FaultRecordView[] = [];
    const n = u.eventLogBytes / 16;
    const pending = new Set(u.pendingEvents().map((e) => e.at));
    for (let i = 0; i < n; i++) {
      const at = u.eventLogBase + i * 16;
      const lo = this.mem.readU64(at) ?? 0n;
      const hi = this.mem.readU64(at + 8) ?? 0n;
      if (lo === 0n && hi === 0n) continue;
      const w: [number, number, number, number] = [Number(lo & 0xffffffffn), Number(lo >> 32n), Number(hi & 0xffffffffn), Number(hi >> 32n)];
      const e = decodeEvent(w);
      out.push({
        index: i,
        raw: [lo, hi],
        pending: pending.has(at),
        fields: eventFields(lo, hi),
        sid: e.devid,
        reason: e.type,
        address: e.address,
        write: (e.flags & EVENT_FLAG_RW) !== 0,
        dmesg: renderEvent(e, kernel, this.known),
      });
    }
    return out;
  }
}

function indexOf(iova: bigint, level: number): number {
  return Number((iova >> BigInt(12 + 9 * (level - 1))) & 511n);
}

/** The event flags of an IO_PAGE_FAULT as words ("PR RW PE"). */
export function describeFlags(flags: number): string {
  const n = flagNames(flags);
  return n.length ? n.join(" ") : "none";
}

