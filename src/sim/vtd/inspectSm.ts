/**
 * The tables() tree of a unit in scalable mode: root table -> scalable-mode root entries (LCTP
 * and UCTP) -> scalable-mode context entries -> PASID table entries (through the PASID directory)
 * -> the entries of each PASID's page table (second-level by the walker's decoders, first-level by
 * flpt.ts's). Decoded with the layouts and reserved-bit rules the walk uses (scalable.ts, flpt.ts):
 * nothing here decides a translation.
 */
import type { ContextEntryNode, PageEntryNode, PasidEntryNode, RootEntryNode, RootTableNode, TableNode } from "../iommu.js";
import { notPresentNode, readWords, tableLevelNodes } from "../inspectNodes.js";
import type { PhysicalMemory } from "../memory.js";
import { hawMask } from "./context.js";
import { FL_P, FL_PS, FL_RW, flpteLayout, flReservedBits } from "./flpt.js";
import {
  VTD_FR_FS_PAGING_ENTRY_RSVD,
  VTD_FR_SM_CONTEXT_ENTRY_RSVD,
  VTD_FR_SM_PASID_ENTRY_RSVD,
  VTD_FR_SM_ROOT_ENTRY_RSVD,
} from "./reasons.js";
import { PGTT_FL, PGTT_NESTED, PGTT_PT, pasidEntryLayout, pasidEntryReservedBits, pgttName, smContextEntryLayout, smContextReservedBits, smRootEntryLayout, smRootEntryReservedBits } from "./scalable.js";
import type { DmarUnit } from "./unit.js";

const hex2 = (n: number) => n.toString(16).padStart(2, "0");
const M = (n: number) => BigInt(n);

/** Second-level table entries of the legacy inspector (the same nodes as a legacy domain's). */
export type SlTable = (top: bigint, levels: number, key?: string) => TableNode[] | PageEntryNode | undefined;

export function smRootTable(u: DmarUnit, mem: PhysicalMemory, sl: SlTable): RootTableNode {
  const rt = BigInt(u.rootTable);
  const entry = (bus: number): RootEntryNode | undefined => {
    const at = Number(rt) + bus * 16;
    const lo = mem.readU64(at);
    const hi = mem.readU64(at + 8);
    if (lo === undefined || hi === undefined || ((lo | hi) & 1n) === 0n) return undefined;
    const rsvd = smRootEntryReservedBits(lo, hi, u.haw);
    const corrupt = rsvd[0] !== 0n || rsvd[1] !== 0n;
    const tables: [bigint | undefined, number][] = [[(lo & 1n) !== 0n ? lo & ~0xfffn & hawMask(u.haw) : undefined, 0], [(hi & 1n) !== 0n ? hi & ~0xfffn & hawMask(u.haw) : undefined, 0x80]];
    const ctx = (devfn: number): ContextEntryNode | undefined => {
      const [table, base] = tables[devfn >= 0x80 ? 1 : 0]!;
      return table === undefined || corrupt ? undefined : contextEntry(u, mem, sl, bus, table, devfn, base);
    };
    const children = (): TableNode[] => {
      const out: TableNode[] = [];
      for (let devfn = 0; devfn < 256; devfn++) {
        const e = ctx(devfn);
        if (e) out.push(e);
      }
      return out;
    };
    return {
      kind: "root-entry",
      key: hex2(bus),
      address: BigInt(at),
      raw: [lo, hi],
      get fields() {
        return smRootEntryLayout(lo, hi);
      },
      ...(corrupt ? { reserved: { bits: rsvd, reason: VTD_FR_SM_ROOT_ENTRY_RSVD } } : {}),
      bus,
      contextTable: tables[0]![0] ?? tables[1]![0] ?? 0n,
      hasChildren: !corrupt,
      children,
      child: (key) => (/^[0-9a-f]{2}$/.test(key) ? ctx(parseInt(key, 16)) : undefined),
    };
  };
  const entries = (): TableNode[] => {
    const out: TableNode[] = [];
    const absent: number[] = [];
    for (let bus = 0; bus < 256; bus++) {
      const e = entry(bus);
      if (e) out.push(e);
      else absent.push(bus);
    }
    if (absent.length) out.push(notPresentNode("absent", absent[0]!, absent[absent.length - 1]!, absent.length));
    return out;
  };
  return {
    kind: "root-table",
    key: "root",
    address: rt,
    raw: [],
    fields: [],
    hasChildren: true,
    children: entries,
    child: (key) => (/^[0-9a-f]{2}$/.test(key) ? entry(parseInt(key, 16)) : entries().find((n) => n.key === key)),
  };
}

function contextEntry(u: DmarUnit, mem: PhysicalMemory, sl: SlTable, bus: number, table: bigint, devfn: number, base: number): ContextEntryNode | undefined {
  const at = table + M((devfn - base) * 32);
  const v = readWords(mem, at, 4);
  if (v === undefined || (v[0]! & 1n) === 0n) return undefined;
  const rsvd = smContextReservedBits(v, u.haw);
  const corrupt = rsvd.some((b) => b !== 0n);
  const sid = (bus << 8) | devfn;
  const dir = v[0]! & ~0xfffn & hawMask(u.haw);
  const pdts = Number((v[0]! >> 9n) & 7n);
  const ridPasid = Number(v[1]! & 0xfffffn);
  const pasid = (p: number): PasidEntryNode | undefined => (corrupt ? undefined : pasidEntry(u, mem, sl, dir, p, p === ridPasid));
  const pasids = (): TableNode[] => {
    if (corrupt) return [];
    const out: TableNode[] = [];
    for (let d = 0; d < 1 << (pdts + 7) && d < 512; d++) {
      const de = mem.readU64(Number(dir) + d * 8);
      if (de === undefined || (de & 1n) === 0n) continue;
      for (let i = 0; i < 64; i++) {
        const e = pasid(d * 64 + i);
        if (e) out.push(e);
      }
    }
    return out;
  };
  const rid = pasid(ridPasid);
  return {
    kind: "context-entry",
    key: hex2(devfn),
    address: at,
    raw: v,
    get fields() {
      return smContextEntryLayout(v);
    },
    ...(corrupt ? { reserved: { bits: rsvd, reason: VTD_FR_SM_CONTEXT_ENTRY_RSVD } } : {}),
    sid,
    did: rid?.did ?? 0,
    translation: rid?.translation === "pass-through" ? "pass-through" : "translated",
    levels: rid?.levels ?? 0,
    pageTable: rid?.pageTable ?? 0n,
    aw: 0,
    fpd: (v[0]! & 2n) !== 0n,
    hasChildren: !corrupt,
    children: pasids,
    child: (key) => (/^p[0-9a-f]+$/.test(key) ? pasid(parseInt(key.slice(1), 16)) : undefined),
  };
}

function pasidEntry(u: DmarUnit, mem: PhysicalMemory, sl: SlTable, dir: bigint, pasid: number, noPasid: boolean): PasidEntryNode | undefined {
  const de = mem.readU64(Number(dir) + (pasid >>> 6) * 8);
  if (de === undefined || (de & 1n) === 0n) return undefined;
  const at = (de & ~0xfffn & hawMask(u.haw)) + M((pasid & 63) * 64);
  const v = readWords(mem, at, 8);
  if (v === undefined || (v[0]! & 1n) === 0n) return undefined;
  const rsvd = pasidEntryReservedBits(v, u.haw);
  const corrupt = rsvd.some((b) => b !== 0n);
  const pgtt = Number((v[0]! >> 6n) & 7n);
  const fl = pgtt === PGTT_FL || pgtt === PGTT_NESTED;
  const levels = pgtt === PGTT_PT ? 0 : fl ? 4 + Number((v[2]! >> 2n) & 3n) : 2 + Number((v[0]! >> 2n) & 7n);
  const top = (fl ? v[2]! : v[0]!) & ~0xfffn & hawMask(u.haw);
  // A nested first level lives in guest-physical memory: its entries are shown through the walk (trail), not here.
  const walks = !corrupt && (pgtt === PGTT_FL || (pgtt === 2 && levels >= 3 && levels <= 5));
  const children = (): TableNode[] => {
    if (!walks) return [];
    if (pgtt === PGTT_FL) return flEntries(u, mem, top, levels, 0n);
    const r = sl(top, levels);
    return Array.isArray(r) ? r : [];
  };
  return {
    kind: "pasid-entry",
    key: `p${pasid.toString(16)}`,
    address: at,
    raw: v,
    get fields() {
      return pasidEntryLayout(v);
    },
    ...(corrupt ? { reserved: { bits: rsvd, reason: VTD_FR_SM_PASID_ENTRY_RSVD } } : {}),
    pasid,
    noPasid,
    did: Number(v[1]! & 0xffffn),
    translation: pgttName(pgtt),
    levels,
    pageTable: top,
    topName: pgtt === PGTT_PT ? "" : fl ? (levels === 5 ? "FL-PML5" : "FL-PML4") : ["", "", "", "SL-PDPT", "SL-PML4", "SL-PML5"][levels] ?? "",
    hasChildren: walks,
    children,
    child: (key) => {
      if (!walks) return undefined;
      if (pgtt === PGTT_FL) return flEntries(u, mem, top, levels, 0n).find((n) => n.key === key);
      const r = sl(top, levels, key);
      return Array.isArray(r) ? undefined : r;
    },
  };
}

/** One first-level table: present entries (P = 1), non-present runs collapsed. */
function flEntries(u: DmarUnit, mem: PhysicalMemory, table: bigint, level: number, iovaBase: bigint): TableNode[] {
  return tableLevelNodes(mem, {
    table: Number(table),
    entries: 512,
    iovaBase,
    span: 1n << M(12 + 9 * (level - 1)),
    present: (v) => (v & M(FL_P)) !== 0n,
    node: (i, v) => flEntry(u, mem, table, level, i, iovaBase, v),
  });
}

function flEntry(u: DmarUnit, mem: PhysicalMemory, table: bigint, level: number, index: number, iovaBase: bigint, v: bigint): PageEntryNode {
  const span = 1n << M(12 + 9 * (level - 1));
  const iova = iovaBase + M(index) * span;
  const leaf = level === 1 || ((level === 2 || level === 3) && (v & M(FL_PS)) !== 0n);
  const rsvd = flReservedBits(v, level, u.haw, true);
  const target = v & hawMask(u.haw) & ~(leaf ? span - 1n : 0xfffn);
  const descends = !leaf && rsvd === 0n;
  return {
    kind: "pte",
    key: String(index),
    address: table + M(index * 8),
    raw: [v],
    get fields() {
      return flpteLayout(v, level, u.haw);
    },
    ...(rsvd !== 0n ? { reserved: { bits: [rsvd], reason: VTD_FR_FS_PAGING_ENTRY_RSVD } } : {}),
    level,
    index,
    iova,
    span,
    leaf,
    // P grants read; R/W write (first-level entries have no separate R bit).
    perm: 1 | ((v & M(FL_RW)) !== 0n ? 2 : 0),
    target,
    pageSize: leaf ? span : 0n,
    hasChildren: descends,
    children: () => (descends ? flEntries(u, mem, target, level - 1, iova) : []),
    child: (key) => (descends ? flEntries(u, mem, target, level - 1, iova).find((n) => n.key === key) : undefined),
  };
}

