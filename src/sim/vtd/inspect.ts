/**
 * The inspection half of the IOMMU contract (../iommu.ts) for Intel VT-d in legacy mode: the root
 * table -> context entries -> domain -> second-level page tables as a lazy tree, the IOTLB and
 * context-cache contents, the decoded registers and the fault recording registers with Linux's
 * rendering of each record.
 *
 * Every field comes from the model's own decoders and masks: context.ts (decodeContextEntry,
 * root/context reserved bits: QEMU VTD_ROOT_ENTRY_RSVD / VTD_CONTEXT_ENTRY_RSVD_*), the walker's
 * reserved-bit masks and superpage rule (slpt.ts, QEMU vtd_spte_rsvd / vtd_spte_rsvd_large),
 * regs.ts (decodeRegister, decodeFrcd) and dmesg.ts (renderDmarFault). Nothing here walks for a
 * translation verdict: the tree shows the tables as they are, the unit decides what a DMA gets.
 * Pure module: no vscode, no Node built-ins.
 */
import type {
  ContextCacheEntryNode,
  ContextEntryNode,
  DecodedField,
  DomainNode,
  FaultRecordView,
  InspectTables,
  IommuInspection,
  IotlbEntryNode,
  PageEntryNode,
  PagingStructureCacheEntryView,
  RegisterView,
  RootEntryNode,
  RootTableNode,
  TableNode,
} from "../iommu.js";
import { NO_CHILDREN, notPresentNode, tableLevelNodes, unreadableNode } from "../inspectNodes.js";
import { domainNode, qwordFields } from "../decodedFields.js";
import type { PhysicalMemory } from "../memory.js";
import { flEntryName, flpteLayout, PSC_FL_NESTED } from "./flpt.js";
import { CONTEXT_P, awToLevels, contextEntryLayout, contextEntryReservedBits, decodeContextEntry, decodeRootEntry, rootEntryLayout, rootEntryReserved, rootEntryReservedBits } from "./context.js";
import { CURRENT_ERA, kernelEra, renderDmarFault, type KernelEra } from "./dmesg.js";
import {
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_CONTEXT_ENTRY_RSVD,
  VTD_FR_CONTEXT_TABLE_INV,
  VTD_FR_PAGING_ENTRY_INV,
  VTD_FR_PAGING_ENTRY_RSVD,
  VTD_FR_ROOT_ENTRY_RSVD,
  VTD_FR_ROOT_TABLE_INV,
} from "./reasons.js";
import { DMAR_FRCD_REG, REGISTER_VIEWS, decodeFrcd, decodeFrcdRecord, decodeRegister, type RegisterName } from "./regs.js";
import { SL_R, SL_W, decodeSlpte, slEntryName, slpteLayout, type SlptWalker } from "./slpt.js";
import type { DmarUnit } from "./unit.js";
import { smRootTable } from "./inspectSm.js";

const hex2 = (n: number) => n.toString(16).padStart(2, "0");

// ------------------------------------------------------------------ entry decoders

/** VT-d 9.3 (legacy mode) T as the tree names the translation a context entry selects. */
const TT_NAMES = ["translated", "translated+device-TLB", "pass-through", "reserved"] as const;

/** The entry layouts are the model's (context.ts, slpt.ts): the tree shows what the trail shows. */
const rootEntryFields = rootEntryLayout;
const contextEntryFields = contextEntryLayout;
const slpteFields = slpteLayout;

/** Whether a second-level entry at `level` is a leaf, by the walker's rule (slpt.ts decodeSlpte). */
export function slpteIsLeaf(walker: SlptWalker, level: number, v: bigint): boolean {
  return decodeSlpte(walker, level, v).leaf;
}

/** The set bits of a second-level entry that the walker's masks reserve at `level` (0n = none; slpt.ts decodeSlpte). */
export function slpteReservedBits(walker: SlptWalker, level: number, v: bigint): bigint {
  return decodeSlpte(walker, level, v).reserved;
}

/** The address field of a second-level entry as the walker uses it (next table or page frame; slpt.ts decodeSlpte). */
function slpteAddress(walker: SlptWalker, v: bigint): bigint {
  return decodeSlpte(walker, 1, v).address;
}

/** Which qword of which structure a raw value is written to (a scenario's `poke` target). */
export type EntryWord = "root" | "root-hi" | "context-lo" | "context-hi" | "pte";

/**
 * One qword decoded as the structure it is written to, with the reserved bits the unit would
 * fault on in it (the other qword of a 128-bit entry taken as clean) — what a `poke` of that
 * value means. `level` places a PTE (default 1, the last level).
 */
export function decodeEntryWord(unit: DmarUnit, word: EntryWord, v: bigint, level = 1): { fields: DecodedField[]; reserved?: { bits: bigint; reason: number }; present: boolean } {
  const haw = unit.haw;
  switch (word) {
    case "root": {
      const bits = rootEntryReservedBits(v, 0n, haw)[0];
      return { fields: rootEntryFields(v), present: (v & 1n) === 1n, ...(bits ? { reserved: { bits, reason: VTD_FR_ROOT_ENTRY_RSVD } } : {}) };
    }
    case "root-hi": {
      // Legacy mode reserves the whole high qword of a root entry (rootEntryReservedBits).
      const bits = rootEntryReservedBits(1n, v, haw)[1];
      return { fields: [], present: true, ...(bits ? { reserved: { bits, reason: VTD_FR_ROOT_ENTRY_RSVD } } : {}) };
    }
    case "context-lo": {
      const bits = contextEntryReservedBits(v, 0n, haw)[0];
      return { fields: qwordFields(contextEntryFields(v, 0n), 0), present: (v & 1n) === 1n, ...(bits ? { reserved: { bits, reason: VTD_FR_CONTEXT_ENTRY_RSVD } } : {}) };
    }
    case "context-hi": {
      const bits = contextEntryReservedBits(1n, v, haw)[1];
      return { fields: qwordFields(contextEntryFields(1n, v), 1), present: true, ...(bits ? { reserved: { bits, reason: VTD_FR_CONTEXT_ENTRY_RSVD } } : {}) };
    }
    case "pte": {
      const bits = slpteReservedBits(unit.walker, level, v);
      return { fields: slpteFields(unit.walker, level, v), present: (v & PRESENT) !== 0n, ...(bits ? { reserved: { bits, reason: VTD_FR_PAGING_ENTRY_RSVD } } : {}) };
    }
  }
}

// ------------------------------------------------------------------ the lazy tree

const TOP_NAMES = ["", "SL-PT", "SL-PD", "SL-PDPT", "SL-PML4", "SL-PML5"];
/** R | W: an entry with neither is not present (the walk faults on it for any request). */
const PRESENT = BigInt(SL_R | SL_W);

function pageSize(level: number): bigint {
  return 1n << BigInt(12 + 9 * (level - 1));
}

function listChild<T extends TableNode>(list: () => T[], key: string): T | undefined {
  return list().find((n) => n.key === key);
}

class VtdInspector implements IommuInspection {
  constructor(
    private readonly unit: DmarUnit,
    private readonly mem: PhysicalMemory,
  ) {}

  private read(addr: bigint | number): bigint | undefined {
    return this.mem.readU64(Number(addr));
  }

  tables(): InspectTables {
    const u = this.unit;
    return {
      name: u.name,
      model: "Intel VT-d",
      addressWidth: u.haw,
      translationEnabled: u.translationEnabled,
      faultRecords: u.nfr,
      root: this.rootTable(),
      iotlb: { capacity: u.iotlb.size, geometry: `${u.iotlb.sets}×${u.iotlb.ways}`, entries: () => this.iotlbEntries() },
      contextCache: { entries: () => this.ccEntries() },
      ...(u.walker.psc !== null ? { pagingStructureCache: { capacity: u.walker.psc.size, replacement: u.walker.psc.replacement, entries: () => this.pscEntries() } } : {}),
      ...(u.flWalker.psc !== null && u.ttm === 1 ? { firstLevelPagingStructureCache: { capacity: u.flWalker.psc.size, replacement: u.flWalker.psc.replacement, entries: () => this.flPscEntries() } } : {}),
    };
  }

  /** The paging-structure caches' entries (psc.ts), each checked against the entry in memory now (decodeSlpte: the walk's own decode). */
  private pscEntries(): PagingStructureCacheEntryView[] {
    const u = this.unit;
    const w = u.walker;
    const sm = u.ttm === 1 ? u.sm : undefined;
    return (w.psc?.entries() ?? []).map((e) => {
      const v = this.read(e.address);
      const d = v === undefined ? undefined : decodeSlpte(w, e.level, v);
      const info = sm?.tagInfo(e.tag);
      return {
        key: String(e.slot),
        did: info?.did ?? e.tag,
        ...(info ? { pasid: info.pasid } : {}),
        name: slEntryName(e.level),
        level: e.level,
        iova: e.iova,
        span: pageSize(e.level),
        table: e.table,
        address: e.address,
        perm: e.perm,
        stale: d === undefined || (!d.read && !d.write) || d.leaf || d.address !== e.table,
        slot: `slot ${e.slot}`,
      };
    });
  }

  /**
   * The first-level / nested paging-structure caches' entries (flpt.ts), each checked against the
   * entry in memory now by the first-level layout (flpteLayout): present, not a leaf, and pointing
   * to the cached table - for a nested entry, its guest-physical ADDR through the PASID's second
   * level now (the unit's SlptWalker.walk).
   */
  private flPscEntries(): PagingStructureCacheEntryView[] {
    const u = this.unit;
    const w = u.walker;
    return (u.flWalker.psc?.entries() ?? []).map((e) => {
      const info = u.sm.tagInfo(e.tag);
      const nested = (e.perm & PSC_FL_NESTED) !== 0;
      const v = this.read(e.address);
      let stale = true;
      if (v !== undefined) {
        const fields = flpteLayout(v, e.level, u.haw);
        const bit = (name: string) => fields.find((f) => f.name === name)?.raw ?? 0n;
        const addr = bit("ADDR") << 12n;
        if (bit("P") === 1n && bit("PS") === 0n) {
          if (!nested) stale = addr !== e.table;
          else {
            const pe = [...u.sm.pc.values()].find((p) => p.tag === e.tag);
            if (pe !== undefined) {
              const saved = w.recordTrail;
              w.recordTrail = false;
              const r = w.walk(pe.slRoot, pe.slLevels, Number(addr >> 32n), Number(addr & 0xffffffffn), false);
              w.recordTrail = saved;
              stale = r !== 0 || ((BigInt(w.hpaHi >>> 0) << 32n) | BigInt(w.hpaLo >>> 0)) !== e.table;
            }
          }
        }
      }
      return {
        key: String(e.slot),
        did: info?.did ?? e.tag,
        ...(info ? { pasid: info.pasid } : {}),
        name: `${flEntryName(e.level)}${nested ? " (nested)" : ""}`,
        level: e.level,
        iova: e.iova,
        span: pageSize(e.level),
        table: e.table,
        address: e.address,
        perm: e.perm & 3,
        stale,
        slot: `slot ${e.slot}`,
      };
    });
  }

  private rootTable(): RootTableNode {
    if (this.unit.ttm === 1) return smRootTable(this.unit, this.mem, (top, levels, key) => (key === undefined ? this.tableEntries(top, levels, 0n, true) : this.tableEntry(top, levels, 0n, key)));
    const rt = BigInt(this.unit.rootTable);
    const children = () => this.rootEntries(rt);
    return {
      kind: "root-table",
      key: "root",
      address: rt,
      raw: [],
      fields: [],
      hasChildren: true,
      children,
      child: (key) => {
        const bus = /^[0-9a-f]{2}$/.test(key) ? parseInt(key, 16) : -1;
        if (bus < 0) return listChild(children, key);
        const e = this.rootEntry(rt, bus);
        return e !== null && e !== "absent" ? e : undefined;
      },
    };
  }

  /** Root entry `bus`: a RootEntryNode when present, "absent" when P = 0, null when unreadable. */
  private rootEntry(rt: bigint, bus: number): RootEntryNode | "absent" | null {
    const lo = this.mem.readU64(Number(rt) + bus * 16);
    const hi = this.mem.readU64(Number(rt) + bus * 16 + 8);
    if (lo === undefined || hi === undefined) return null;
    const re = decodeRootEntry(lo, hi);
    if (!re.present) return "absent";
    const at = rt + BigInt(bus * 16);
    const rsvd = rootEntryReservedBits(lo, hi, this.unit.haw);
    const corrupt = rsvd[0] !== 0n || rsvd[1] !== 0n;
    const ctp = re.ctp & ((1n << 64n) - 1n);
    const children = () => (corrupt ? [] : this.contextEntries(bus, ctp));
    return {
      kind: "root-entry",
      key: hex2(bus),
      address: at,
      raw: [lo, hi],
      // Decoded when a view reads them: listing a table decodes nothing it does not show.
      get fields() {
        return rootEntryFields(lo);
      },
      ...(corrupt ? { reserved: { bits: rsvd, reason: VTD_FR_ROOT_ENTRY_RSVD } } : {}),
      bus,
      contextTable: ctp,
      hasChildren: !corrupt,
      children,
      child: (key) => {
        if (corrupt) return undefined;
        const devfn = /^[0-9a-f]{2}$/.test(key) ? parseInt(key, 16) : -1;
        if (devfn < 0) return listChild(children, key);
        const e = this.contextEntry(bus, ctp, devfn);
        return e ?? undefined;
      },
    };
  }

  private rootEntries(rt: bigint): TableNode[] {
    const out: TableNode[] = [];
    const absent: number[] = [];
    const unreadable: number[] = [];
    for (let bus = 0; bus < 256; bus++) {
      const e = this.rootEntry(rt, bus);
      if (e === null) unreadable.push(bus);
      else if (e === "absent") absent.push(bus);
      else out.push(e);
    }
    if (absent.length) out.push(notPresentNode("absent", absent[0]!, absent[absent.length - 1]!, absent.length));
    if (unreadable.length) out.push(unreadableNode("unreadable", rt, VTD_FR_ROOT_TABLE_INV));
    return out;
  }

  private contextEntry(bus: number, ctp: bigint, devfn: number): ContextEntryNode | undefined {
    const at = ctp + BigInt(devfn * 16);
    const lo = this.read(at);
    const hi = this.read(at + 8n);
    if (lo === undefined || hi === undefined) return undefined;
    const ce = decodeContextEntry(lo, hi);
    if (!ce.present) return undefined;
    const rsvd = contextEntryReservedBits(lo, hi, this.unit.haw);
    const corrupt = rsvd[0] !== 0n || rsvd[1] !== 0n;
    const translation = TT_NAMES[ce.tt]!;
    const levels = awToLevels(ce.aw);
    const sid = (bus << 8) | devfn;
    const walks = !corrupt && (translation === "translated" || translation === "translated+device-TLB");
    const domain = (): DomainNode => this.domain(sid, ce.did, levels, ce.slptptr);
    return {
      kind: "context-entry",
      key: hex2(devfn),
      address: at,
      raw: [lo, hi],
      get fields() {
        return contextEntryFields(lo, hi);
      },
      ...(corrupt ? { reserved: { bits: rsvd, reason: VTD_FR_CONTEXT_ENTRY_RSVD } } : {}),
      sid,
      did: ce.did,
      translation,
      levels,
      pageTable: ce.slptptr,
      aw: ce.aw,
      fpd: ce.fpd,
      hasChildren: walks,
      children: () => (walks ? [domain()] : []),
      child: (key) => (walks && key === "d" ? domain() : undefined),
    };
  }

  private contextEntries(bus: number, ctp: bigint): TableNode[] {
    const out: TableNode[] = [];
    if (this.read(ctp) === undefined) return [unreadableNode("unreadable", ctp, VTD_FR_CONTEXT_TABLE_INV)];
    for (let devfn = 0; devfn < 256; devfn++) {
      const e = this.contextEntry(bus, ctp, devfn);
      if (e) out.push(e);
    }
    return out;
  }

  /** Requester ids of every present context entry (under a present, clean root entry) whose DID is `did`. */
  private sidsOfDomain(did: number): number[] {
    const rt = this.unit.rootTable;
    const haw = this.unit.haw;
    const mem = this.mem;
    const out: number[] = [];
    for (let bus = 0; bus < 256; bus++) {
      const rlo = mem.readU64(rt + bus * 16);
      const rhi = mem.readU64(rt + bus * 16 + 8);
      if (rlo === undefined || rhi === undefined || !decodeRootEntry(rlo, rhi).present || rootEntryReserved(rlo, rhi, haw)) continue;
      const ctp = Number(decodeRootEntry(rlo, rhi).ctp);
      for (let devfn = 0; devfn < 256; devfn++) {
        const lo = mem.readU64(ctp + devfn * 16);
        if (lo === undefined || (lo & CONTEXT_P) === 0n) continue;
        const ce = decodeContextEntry(lo, mem.readU64(ctp + devfn * 16 + 8) ?? 0n);
        if (ce.present && ce.did === did) out.push((bus << 8) | devfn);
      }
    }
    return out;
  }

  private domain(sid: number, did: number, levels: number, top: bigint): DomainNode {
    return domainNode({
      did,
      levels,
      top,
      topName: TOP_NAMES[levels] ?? `level-${levels}`,
      sharedWith: () => this.sidsOfDomain(did).filter((s) => s !== sid),
      children: () => this.tableEntries(top, levels, 0n, true),
      child: (key) => this.tableEntry(top, levels, 0n, key),
    });
  }

  private pte(table: bigint, level: number, index: number, iovaBase: bigint, v: bigint): PageEntryNode {
    const w = this.unit.walker;
    const span = pageSize(level);
    const iova = iovaBase + BigInt(index) * span;
    const rsvd = slpteReservedBits(w, level, v);
    const leaf = slpteIsLeaf(w, level, v);
    const target = slpteAddress(w, v);
    const descends = !leaf && rsvd === 0n;
    const children = () => (descends ? this.tableEntries(target, level - 1, iova, false) : []);
    return {
      kind: "pte",
      key: String(index),
      address: table + BigInt(index * 8),
      raw: [v],
      get fields() {
        return slpteFields(w, level, v);
      },
      ...(rsvd !== 0n ? { reserved: { bits: [rsvd], reason: VTD_FR_PAGING_ENTRY_RSVD } } : {}),
      level,
      index,
      iova,
      span,
      leaf,
      perm: Number(v & PRESENT),
      target,
      pageSize: leaf ? span : 0n,
      hasChildren: descends,
      children,
      child: (key) => (descends ? this.tableEntry(target, level - 1, iova, key) : undefined),
    };
  }

  /** One present entry by its index key, without reading the rest of its table. */
  tableEntry(table: bigint, level: number, iovaBase: bigint, key: string): PageEntryNode | undefined {
    if (!/^\d+$/.test(key)) return undefined;
    const index = Number(key);
    if (index >= 512) return undefined;
    const v = this.read(table + BigInt(index * 8));
    if (v === undefined || (v & PRESENT) === 0n) return undefined;
    return this.pte(table, level, index, iovaBase, v);
  }

  /** One page-table level: present entries, non-present runs collapsed into one node each. */
  tableEntries(table: bigint, level: number, iovaBase: bigint, top: boolean): TableNode[] {
    // QEMU vtd_iova_to_slpte: failing to read the top-level entry is VTD_FR_CONTEXT_ENTRY_INV,
    // below it VTD_FR_PAGING_ENTRY_INV (a table is one 4 KiB page: readable as a whole or not).
    if (this.read(table) === undefined) return [unreadableNode("unreadable", table, top ? VTD_FR_CONTEXT_ENTRY_INV : VTD_FR_PAGING_ENTRY_INV)];
    return tableLevelNodes(this.mem, {
      table: Number(table),
      entries: 512,
      iovaBase,
      span: pageSize(level),
      present: (v) => (v & PRESENT) !== 0n,
      node: (i, v) => this.pte(table, level, i, iovaBase, v),
    });
  }

  private iotlbEntries(): IotlbEntryNode[] {
    const sm = this.unit.ttm === 1 ? this.unit.sm : undefined;
    return this.unit.iotlb.entries().map((e) => ({
      kind: "iotlb-entry",
      key: `${e.set}.${e.way}`,
      raw: [],
      fields: [],
      // Scalable mode: the slot's tag stands for (DID, PASID) (scalable.ts SmState).
      did: sm?.tagInfo(e.did)?.did ?? e.did,
      ...(sm?.tagInfo(e.did) ? { pasid: sm.tagInfo(e.did)!.pasid } : {}),
      iova: e.iova,
      hpa: e.hpa,
      pageSize: pageSize(e.level),
      perm: e.perm,
      slot: `set ${e.set} way ${e.way}`,
      ...NO_CHILDREN,
    }));
  }

  private ccEntries(): ContextCacheEntryNode[] {
    return this.unit.contextCacheEntries().map((e) => ({
      kind: "cc-entry",
      key: String(e.sid),
      raw: [],
      fields: [],
      sid: e.sid,
      did: e.did,
      translation: TT_NAMES[e.tt]!,
      levels: e.levels,
      pageTable: BigInt(e.root),
      fpd: e.fpd,
      ...NO_CHILDREN,
    }));
  }

  // ---------------------------------------------------------------- registers and faults

  private registerValue(name: RegisterName): bigint {
    const u = this.unit;
    const r = REGISTER_VIEWS.find((x) => x.name === name)!;
    return r.width === 64 ? u.readReg64(r.offset) : BigInt(u.readReg32(r.offset) >>> 0);
  }

  registers(): RegisterView[] {
    // IQH/IQT: the index field starts at bit 5 with 256-bit descriptors (IQA.DW, VT-d 11.4.11.3).
    const dw = decodeRegister("IQA", this.registerValue("IQA")).find((f) => f.name === "DW")!.raw === 1n;
    return REGISTER_VIEWS.map((r) => {
      const value = this.registerValue(r.name);
      return {
        name: r.name,
        offset: r.offset,
        width: r.width,
        section: r.section,
        value,
        get fields() {
          return decodeRegister(r.name, value, r.name === "IQH" || r.name === "IQT" ? dw : false);
        },
      };
    });
  }

  faults(kernel?: string): FaultRecordView[] {
    const u = this.unit;
    let era: KernelEra = CURRENT_ERA;
    if (kernel !== undefined) {
      try {
        era = kernelEra(kernel);
      } catch {
        era = CURRENT_ERA;
      }
    }
    const out: FaultRecordView[] = [];
    for (let i = 0; i < u.nfr; i++) {
      const lo = u.readReg64(DMAR_FRCD_REG + 16 * i);
      const hi = u.readReg64(DMAR_FRCD_REG + 16 * i + 8);
      if (lo === 0n && hi === 0n) continue;
      const r = decodeFrcdRecord(lo, hi);
      out.push({
        index: i,
        raw: [lo, hi],
        pending: r.F,
        fields: decodeFrcd(lo, hi),
        sid: r.SID,
        reason: r.FR,
        address: r.FI,
        write: !r.T,
        ...(r.PP ? { pasid: r.PV } : {}),
        dmesg: renderDmarFault({ write: !r.T, reason: r.FR, sourceId: r.SID, address: r.FI, ...(r.PP ? { pasid: r.PV } : {}) }, era),
      });
    }
    return out;
  }
}

/** The inspection half of the contract for a VT-d unit over its memory. */
export function vtdInspection(unit: DmarUnit, mem: PhysicalMemory = unit.mem): IommuInspection {
  return new VtdInspector(unit, mem);
}
