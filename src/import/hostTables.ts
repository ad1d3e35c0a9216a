/**
 * A real host's VT-d tables from its debugfs dumps (import/debugfs.ts records), as a scenario
 * whose memory holds the same bytes at the same host physical addresses: each root entry, context
 * entry and page-table entry the dumps print becomes a `poke` of its address, then RTADDR is
 * pointed at the host's root table (a `poke` of the register, latched with GCMD.SRTP). The VT-d
 * model then walks those tables as it walks its own: the Mapping Tables tree shows them, Translate
 * Address and `translate` steps walk them with the contract's trail. Nothing here walks a table
 * for an answer; it only puts each printed entry where the kernel read it:
 *
 * - root entry of bus B at RTA + 16 * B, context entry of devfn D at CTP + 16 * D (VT-d 9.1, 9.3;
 *   Linux iommu_context_addr), with RTA from "Root Table Address" (or RTADDR), CTP from the root
 *   entry (sim/vtd/context.ts decodeRootEntry);
 * - each `domain_translation_struct` row prints the path to one leaf, top level first
 *   (pgtable_walk_level, agaw + 2 levels from the device's pgd): the entry of level L sits at
 *   T + 8 * index(IOVA, L) (sim/vtd/slpt.ts slIndex), T the pgd for the top level and else the
 *   address field of the entry above as the kernel followed it (dma_pte_addr: bits 63:12 without
 *   bit 63, drivers/iommu/intel/iommu.h).
 * - Scalable mode (RTADDR.TTM = 01, or rows with a PASID): the kernel prints one row per present
 *   PASID table entry (ctx_tbl_walk -> pasid_dir_walk -> pasid_tbl_walk, drivers/iommu/intel/debugfs.c):
 *   the root entry (both halves), the first 128 bits of the 256-bit scalable context entry, the
 *   PASID and val[2]:val[1]:val[0] of its 512-bit PASID entry. The context entry of devfn D sits at
 *   LCTP (D < 0x80) or UCTP (D >= 0x80) + 32 * (D & 0x7f) (VT-d 9.2, 9.4; Linux iommu_context_addr,
 *   the model's sim/vtd/scalable.ts resolveSmContext), the PASID entry at 64 * (PASID & 0x3f) in the
 *   PASID table that directory entry PASID >> 6 of PASIDDIRPTR points to (VT-d 9.5, 9.6). The
 *   directory entry itself is not printed (get_pasid_table_from_pde follows it silently): each
 *   (directory, index) gets a made-up PASID table page above every printed address, and its
 *   directory entry is P | that page, said so in a comment. Fields are read with the model's own
 *   layouts (smRootEntryLayout, smContextEntryLayout, pasidEntryLayout).
 *
 * One DMAR unit per scenario (the simulated host has one): `unit` picks it (hostTableUnits lists
 * them); by default the unit with the most context entries. A domain dump's device belongs to the
 * unit that has its context entry.
 *
 * The CAP register (iommu_regset) sets the unit's address width, SAGAW, superpages, caching mode
 * and fault-record count (sim/vtd/regs.ts decodeCap). Pure module.
 */
import { Document, Scalar, YAMLMap, YAMLSeq } from "yaml";
import type { EvidenceRecord } from "./records.js";
import type { SynthesisResult } from "./synthesize.js";
import { decodeContextEntry, decodeRootEntry, awToLevels } from "../sim/vtd/context.js";
import { slIndex } from "../sim/vtd/slpt.js";
import { PGTT_FL, PGTT_NESTED, PGTT_PT, RTADDR_SMT, pasidEntryLayout, pasidEntryReservedBits, smContextEntryLayout, smContextReservedBits, smRootEntryLayout } from "../sim/vtd/scalable.js";
import type { DecodedField } from "../sim/iommu.js";
import { decodeCap, decodeEcap } from "../sim/vtd/regs.js";

/** dma_pte_addr (drivers/iommu/intel/iommu.h): VTD_PAGE_MASK without the XD bit 63. */
const PTE_ADDR_MASK = ((1n << 63n) - 1n) & ~0xfffn;
/** SNP, bit 11 of a second-level entry (VT-d 9.8; Linux DMA_PTE_SNP). */
const SL_SNP = 1n << 11n;
/** The simulator's sparse DRAM holds at most this many written pages (sim/machine.ts sparseMaxPages). */
export const MAX_TABLE_PAGES = 4000;
/** The scenario's table pool sits at 0x1000_0000..0x2000_0000 (sim/machine.ts POOL_BASE, POOL_MAX_PAGES): host tables there would overlap the simulator's own. */
const POOL = [0x1000_0000n, 0x2000_0000n] as const;

interface Unit {
  name: string;
  registers: Map<string, bigint>;
  rootTable?: bigint;
  contexts: { record: number; key: string; bus: number; devfn: number; rootLo: bigint; rootHi: bigint; ctxLo: bigint; ctxHi: bigint; pasid?: number; pasidEntry?: [bigint, bigint, bigint] }[];
  notEnabled?: number;
}

interface Domain {
  record: number;
  key: string;
  pgd: bigint;
  pasid?: number;
  rows: { record: number; iova: bigint; entries: bigint[] }[];
}

/** Which DMAR unit a host-tables scenario imports (the simulated host has one). */
export interface HostTablesOptions {
  unit?: string;
}

/** The units of a dump that hold tables, the one imported by default first: what a user picks from. */
export function hostTableUnits(records: readonly EvidenceRecord[]): { name: string; contexts: number; scalable: boolean }[] {
  const { units } = collect(records);
  return units
    .filter((u) => u.contexts.length || u.rootTable !== undefined)
    .sort((a, b) => b.contexts.length - a.contexts.length)
    .map((u) => {
      const rt = u.registers.get("RTADDR");
      return { name: u.name, contexts: u.contexts.length, scalable: (rt !== undefined && (rt & RTADDR_SMT) !== 0n) || u.contexts.some((c) => c.pasid !== undefined && c.pasid >= 0) };
    });
}

/** N of a unit named dmarN (Linux numbers units in DRHD order: alloc_iommu, drivers/iommu/intel/dmar.c). */
const unitNumber = (name: string): number => Number(/(\d+)$/.exec(name)?.[1] ?? 0);

const fieldRaw = (fields: readonly DecodedField[], name: string): bigint => fields.find((f) => f.name === name)?.raw ?? 0n;

/** Whether records hold debugfs table dumps (rows of dmar_translation_struct or domain_translation_struct). */
export function hasHostTables(records: readonly EvidenceRecord[]): boolean {
  return records.some((r) => r.kind === "vtd-debugfs" && (r.fields.part === "context" || r.fields.part === "pte" || r.fields.part === "root-table"));
}

const big = (v: unknown): bigint => (typeof v === "string" && /^0x[0-9a-f]+$/i.test(v) ? BigInt(v) : 0n);

/** The dumps' records put together: units with their registers and context rows, devices with their page-table rows. */
function collect(records: readonly EvidenceRecord[]): { units: Unit[]; domains: Domain[] } {
  const units = new Map<string, Unit>();
  const unit = (name: string): Unit => {
    let u = units.get(name);
    if (!u) units.set(name, (u = { name, registers: new Map(), contexts: [] }));
    return u;
  };
  const domains: Domain[] = [];
  let regUnit = "";
  let tableUnit = "";
  let dom: Domain | undefined;
  records.forEach((r, i) => {
    if (r.kind !== "vtd-debugfs") return;
    const f = r.fields;
    switch (f.part) {
      case "unit":
        regUnit = String(f.unit);
        unit(regUnit);
        break;
      case "register":
        unit(regUnit || "dmar?").registers.set(String(f.register), big(f.value));
        break;
      case "root-table":
        tableUnit = String(f.unit);
        unit(tableUnit).rootTable = big(f.address);
        break;
      case "not-enabled":
        unit(String(f.unit)).notEnabled = i;
        break;
      case "context": {
        const [bus, dev, fn] = String(f.device).split(/[:.]/).map((x) => parseInt(x, 16)) as [number, number, number];
        // pasidEntry: "val[0],val[1],val[2]" (debugfs.ts).
        const pe = typeof f.pasidEntry === "string" ? f.pasidEntry.split(",").map(big) : undefined;
        unit(tableUnit || "dmar?").contexts.push({ record: i, key: String(f.device), bus, devfn: (dev << 3) | fn, rootLo: big(f.rootLo), rootHi: big(f.rootHi), ctxLo: big(f.contextLo), ctxHi: big(f.contextHi), ...(typeof f.pasid === "number" ? { pasid: f.pasid } : {}), ...(pe?.length === 3 ? { pasidEntry: pe as [bigint, bigint, bigint] } : {}) });
        break;
      }
      case "domain":
        dom = { record: i, key: String(f.device), pgd: big(f.pgd), rows: [], ...(typeof f.pasid === "number" ? { pasid: f.pasid } : {}) };
        domains.push(dom);
        break;
      case "pte":
        if (dom) dom.rows.push({ record: i, iova: big(f.iovaPfn) << 12n, entries: String(f.entries).split(",").map(big) });
        break;
    }
  });
  return { units: [...units.values()], domains };
}

function quoted(s: string): Scalar {
  const n = new Scalar(s);
  n.type = Scalar.QUOTE_DOUBLE;
  return n;
}
function hex(v: bigint): Scalar {
  const n = new Scalar(v);
  n.format = "HEX";
  return n;
}
function flow(entries: [string, unknown][]): YAMLMap {
  const m = new YAMLMap();
  m.flow = true;
  for (const [k, v] of entries) if (v !== undefined) m.set(k, v);
  return m;
}

/** The host's tables as a scenario (see the module comment); `reproduced` lists the records whose entries it holds. */
export function hostTablesScenario(records: readonly EvidenceRecord[], title = "Host tables from debugfs", options: HostTablesOptions = {}): SynthesisResult {
  const notes: string[] = [];
  const reproduced: number[] = [];
  const line = (i: number) => records[i]!.line + 1;
  const { units, domains } = collect(records);
  // One unit is imported (the simulated host has one DMAR unit): the one asked for, else the one with the most context entries.
  const withTables = units.filter((u) => u.contexts.length || u.rootTable !== undefined);
  const asked = options.unit !== undefined ? units.find((u) => u.name === options.unit) : undefined;
  if (options.unit !== undefined && !asked) notes.push(`there is no unit ${options.unit} in the dump (units: ${units.map((u) => u.name).join(", ") || "none"}): ${withTables.length ? "the unit with the most context entries is imported" : "nothing to import"}`);
  const chosen = asked ?? [...withTables].sort((a, b) => b.contexts.length - a.contexts.length)[0] ?? units[0];
  // No unit asked for and several hold tables: every one of them, in DRHD order (their dmarN numbers),
  // as the units of a multi-unit host (host.iommus, docs/multi-unit.md).
  const enabled = withTables.filter((u) => u.notEnabled === undefined);
  const imported: Unit[] = asked === undefined && enabled.length > 1 ? [...enabled].sort((a, b) => unitNumber(a.name) - unitNumber(b.name)) : chosen !== undefined ? [chosen] : [];
  for (const u of units) {
    if (u.notEnabled !== undefined) notes.push(`line ${line(u.notEnabled)}: ${u.name} has DMA remapping off (GSTS.TES = 0): it has no tables to import`);
    else if (!imported.includes(u) && u.contexts.length) notes.push(`${u.name}: ${u.contexts.length} context ${u.contexts.length === 1 ? "entry" : "entries"} not imported (imported: ${imported.map((x) => x.name).join(", ") || "-"}; Create Scenario from Evidence offers each unit)`);
  }
  // A device whose context entry another unit holds: its page table belongs to that unit.
  const ownerOf = new Map<string, string>();
  for (const u of units) for (const c of u.contexts) if (!ownerOf.has(c.key) || u === chosen) ownerOf.set(c.key, u.name);
  const words = new Map<bigint, { value: bigint; record: number; what: string }>();
  const put = (at: bigint, value: bigint, record: number, what: string): boolean => {
    const old = words.get(at);
    if (old && old.value !== value) {
      notes.push(`line ${line(record)}: ${what} at 0x${at.toString(16)} is 0x${value.toString(16)}, but line ${line(old.record)} printed 0x${old.value.toString(16)} there (the tables changed while they were dumped); the first is kept`);
      return false;
    }
    if (!old) words.set(at, { value, record, what });
    return true;
  };
  /** One unit's entries into `words`, and what the scenario needs to know of the unit. */
  const importUnit = (chosen: Unit | undefined, domains: readonly Domain[]) => {
    const cap = chosen?.registers.get("CAP");
    const rtaddr = chosen?.registers.get("RTADDR");
    const rootTable = chosen?.rootTable ?? (rtaddr !== undefined ? rtaddr & ~0xfffn : undefined);
    const scalable = (rtaddr !== undefined && (rtaddr & RTADDR_SMT) !== 0n) || (chosen?.contexts.some((c) => c.pasid !== undefined && c.pasid >= 0) ?? false);
    const levelsOf = new Map<string, number>();
    const devices = new Set<string>();
    /** Scalable mode: per device, the PASID its requests without PASID use (the context entry's RID_PASID), and per PASID entry the PGTT. */
    const ridPasid = new Map<string, number>();
    const pgttOf = new Map<string, number>();
    /** Scalable mode: printed entries the model treats as reserved (its own reserved-bit rules): no self-check on those devices. */
    const reservedAt = new Set<string>();
    let passThroughEntries = false;
    if (chosen && rootTable !== undefined && scalable) {
      // Made-up PASID tables (their directory entries are not printed), placed after every printed address is known.
      const pasidTables: { dir: bigint; index: number; c: Unit["contexts"][number] }[] = [];
      for (const c of chosen.contexts) {
        const rootAt = rootTable + BigInt(c.bus) * 16n;
        put(rootAt, c.rootLo, c.record, `scalable-mode root entry of bus ${c.key.slice(0, 2)} (LCTP: devfn 00-7f)`);
        put(rootAt + 8n, c.rootHi, c.record, `scalable-mode root entry of bus ${c.key.slice(0, 2)} (UCTP: devfn 80-ff)`);
        const root = smRootEntryLayout(c.rootLo, c.rootHi);
        const ctp = fieldRaw(root, c.devfn >= 0x80 ? "UCTP" : "LCTP") << 12n;
        const ceAt = ctp + BigInt(c.devfn & 0x7f) * 32n;
        put(ceAt, c.ctxLo, c.record, `scalable-mode context entry of ${c.key}`);
        put(ceAt + 8n, c.ctxHi, c.record, `scalable-mode context entry of ${c.key} (bits 127:64; 255:128 are reserved, not printed)`);
        devices.add(c.key);
        const ctx = smContextEntryLayout([c.ctxLo, c.ctxHi]);
        ridPasid.set(c.key, Number(fieldRaw(ctx, "RID_PASID")));
        if (smContextReservedBits([c.ctxLo, c.ctxHi], 64).some((b) => b !== 0n)) {
          if (!reservedAt.has(c.key)) notes.push(`line ${line(c.record)}: the context entry of ${c.key} (0x${c.ctxHi.toString(16)}:0x${c.ctxLo.toString(16)}) has bits set that the model treats as reserved (QEMU VTD_SM_CONTEXT_ENTRY_RSVD_VAL0): it is imported as printed, and Translate Address reports the fault the model raises`);
          reservedAt.add(c.key);
        }
        if (c.pasid === undefined || c.pasid < 0 || !c.pasidEntry) {
          notes.push(`line ${line(c.record)}: a context entry of ${c.key} without a PASID entry in a scalable-mode dump: its PASID table is not known`);
          reproduced.push(c.record);
          continue;
        }
        pasidTables.push({ dir: fieldRaw(ctx, "PASIDDIRPTR") << 12n, index: c.pasid >>> 6, c });
        const pe = pasidEntryLayout(c.pasidEntry);
        const pgtt = Number(fieldRaw(pe, "PGTT"));
        // The levels of the table the domain dump walks: first level 4 + FLPM, second level 2 + AW (VT-d 9.6).
        const levels = pgtt === PGTT_FL || pgtt === PGTT_NESTED ? 4 + Number(fieldRaw(pe, "FLPM")) : awToLevels(Number(fieldRaw(pe, "AW")));
        levelsOf.set(`${c.key}/${c.pasid}`, levels);
        pgttOf.set(`${c.key}/${c.pasid}`, pgtt);
        if (pgtt === PGTT_PT) passThroughEntries = true;
        if (pasidEntryReservedBits(c.pasidEntry, 64).some((b) => b !== 0n)) {
          notes.push(`line ${line(c.record)}: the PASID entry of ${c.key} PASID ${c.pasid} has bits set that the model treats as reserved: it is imported as printed`);
          reservedAt.add(`${c.key}/${c.pasid}`);
        }
        reproduced.push(c.record);
      }
      // Above every printed address and pointer (the tables' own pages included): the made-up PASID tables.
      let next = rootTable + 0x1000n;
      const above = (a: bigint) => {
        if (a >= next) next = (a & ~0xfffn) + 0x1000n;
      };
      for (const [at] of words) above(at);
      for (const c of chosen.contexts) for (const v of c.pasidEntry ?? []) above(v & PTE_ADDR_MASK);
      for (const d of domains) {
        above(d.pgd);
        for (const row of d.rows) for (const v of row.entries) above(v & PTE_ADDR_MASK);
      }
      // Not in the simulator's own table pool (a dump whose tables lie below it).
      if (next >= POOL[0] && next < POOL[1]) next = POOL[1];
      const tables = new Map<string, bigint>();
      for (const { dir, index, c } of pasidTables) {
        const key = `${dir}:${index}`;
        let table = tables.get(key);
        if (table === undefined) {
          table = next;
          next += 0x1000n;
          tables.set(key, table);
          put(dir + BigInt(index) * 8n, table | 1n, c.record, `PASID directory entry ${index} of ${c.key} (made up: debugfs does not print it; P = 1, SMPTBLPTR a free page)`);
        }
        const peAt = table + BigInt(c.pasid! & 0x3f) * 64n;
        c.pasidEntry!.forEach((v, k) => put(peAt + BigInt(k) * 8n, v, c.record, `PASID table entry of ${c.key} PASID ${c.pasid}${k ? ` (qword ${k})` : ""}`));
      }
      if (tables.size) notes.push(`the PASID directory entries are not in the dump (debugfs prints the PASID table entries only): ${tables.size} made-up PASID table ${tables.size === 1 ? "page" : "pages"} from 0x${[...tables.values()].reduce((a, b) => (a < b ? a : b)).toString(16)} hold the printed entries`);
    } else if (chosen && rootTable !== undefined) {
      for (const c of chosen.contexts) {
        const root = decodeRootEntry(c.rootLo, c.rootHi);
        const ctx = decodeContextEntry(c.ctxLo, c.ctxHi);
        put(rootTable + BigInt(c.bus) * 16n, c.rootLo, c.record, `root entry of bus ${c.key.slice(0, 2)}`);
        put(rootTable + BigInt(c.bus) * 16n + 8n, c.rootHi, c.record, `root entry of bus ${c.key.slice(0, 2)} (high)`);
        put(root.ctp + BigInt(c.devfn) * 16n, c.ctxLo, c.record, `context entry of ${c.key}`);
        put(root.ctp + BigInt(c.devfn) * 16n + 8n, c.ctxHi, c.record, `context entry of ${c.key} (high)`);
        levelsOf.set(c.key, awToLevels(ctx.aw));
        devices.add(c.key);
        reproduced.push(c.record);
      }
    } else if (chosen?.contexts.length) {
      notes.push(`${chosen.name}: no root table address (the "Root Table Address" line or RTADDR): the context entries cannot be placed`);
    }
    const probes: { key: string; iova: bigint; hpa: bigint; write: boolean; record: number }[] = [];
    {
      for (const d of domains) {
        const owner = ownerOf.get(d.key);
        if (chosen && owner !== undefined && owner !== chosen.name) {
          notes.push(`line ${line(d.record)}: page table of ${d.key} not imported: its context entry is ${owner}'s (imported: ${chosen.name})`);
          continue;
        }
        if (d.pasid !== undefined && !scalable) {
          notes.push(`line ${line(d.record)}: page table of ${d.key} PASID ${d.pasid} not imported: the unit's tables are in legacy mode`);
          continue;
        }
        // Scalable mode: the dump's PASID (v6.4+ "with pasid"), else the one requests without PASID use.
        const pasid = scalable ? (d.pasid ?? ridPasid.get(d.key)) : undefined;
        const lk = pasid !== undefined ? `${d.key}/${pasid}` : d.key;
        devices.add(d.key);
        // A translate step carries no PASID: only the RID_PASID's table (and a device without reserved bits) checks itself.
        let probed = (scalable && (pasid === undefined || pasid !== ridPasid.get(d.key))) || reservedAt.has(d.key) || reservedAt.has(lk);
        // Second-level entries (legacy mode, PGTT 010 or nested): the simulated unit has no snoop control (ECAP.SC = 0,
        // sim/vtd/unit.ts), so an entry with SNP (bit 11; Linux DMA_PTE_SNP) faults there as reserved: no self-check through one.
        const secondLevel = !scalable || pgttOf.get(lk) !== PGTT_FL;
        let snoopRows = 0;
        for (const row of d.rows) {
          // The row's columns are PML5E, PML4E, PDPE[, PDE[, PTE]]: column c holds level 5 - c.
          const top = levelsOf.get(lk) ?? 5 - row.entries.findIndex((e) => e !== 0n);
          let table = d.pgd;
          let ok = true;
          let snoop = false;
          for (let level = top; level >= 1; level--) {
            const v = row.entries[5 - level] ?? 0n;
            if (secondLevel && (v & SL_SNP) !== 0n) snoop = true;
            if (v === 0n) {
              ok = false;
              notes.push(`line ${line(row.record)}: no level-${level} entry on the path of IOVA 0x${row.iova.toString(16)} (a ${top}-level table)`);
              break;
            }
            put(table + BigInt(slIndex(row.iova, level)) * 8n, v, row.record, `level-${level} entry for IOVA 0x${row.iova.toString(16)} of ${d.key}`);
            const last = level === 1 || (row.entries[5 - level + 1] ?? 0n) === 0n;
            if (last) {
              // The first leaf that grants read: a translate step that checks the imported walk.
              if (snoop) snoopRows++;
              else if (!probed && (v & 1n) !== 0n) {
                probes.push({ key: d.key, iova: row.iova, hpa: (v & PTE_ADDR_MASK & ~((1n << BigInt(12 + 9 * (level - 1))) - 1n)) + (row.iova & ((1n << BigInt(12 + 9 * (level - 1))) - 1n)), write: false, record: row.record });
                probed = true;
              }
              break;
            }
            table = v & PTE_ADDR_MASK;
          }
          if (ok) reproduced.push(row.record);
        }
        if (snoopRows) notes.push(`line ${line(d.record)}: ${snoopRows} ${snoopRows === 1 ? "mapping" : "mappings"} of ${d.key} ${snoopRows === 1 ? "has" : "have"} SNP (bit 11) set in a second-level entry: imported as printed, but the simulated unit has no snoop control (ECAP.SC = 0), so it faults them as reserved (0x0c legacy, 0x7a scalable); no translate step checks them`);
      }
    }
    return { chosen, cap, rtaddr, rootTable, scalable, levelsOf, devices, passThroughEntries, probes };
  };
  // Every unit with tables when no unit is asked for and the dump has several (a multi-unit host,
  // host.iommus), else the chosen one. A domain dump goes to the unit holding its context entry.
  const states = imported.map((u) => importUnit(u, imported.length > 1 ? domains.filter((d) => ownerOf.get(d.key) === u.name) : domains));
  const { rootTable } = states[0] ?? importUnit(undefined, domains);
  const devices = new Set(states.flatMap((s) => [...s.devices]));
  const probes = states.flatMap((s) => s.probes);
  // Bounded: the simulator's sparse memory holds MAX_TABLE_PAGES written pages.
  const pages = new Set<bigint>();
  const kept: [bigint, bigint][] = [];
  let dropped = 0;
  let inPool = 0;
  for (const [at, w] of [...words].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (at >= POOL[0] && at < POOL[1]) {
      inPool++;
      continue;
    }
    const page = at >> 12n;
    if (!pages.has(page) && pages.size >= MAX_TABLE_PAGES) {
      dropped++;
      continue;
    }
    pages.add(page);
    kept.push([at, w.value]);
  }
  if (inPool) notes.push(`${inPool} entries lie in 0x10000000-0x1fffffff, where the simulator keeps its own tables: not imported`);
  if (dropped) notes.push(`${dropped} entries beyond the first ${MAX_TABLE_PAGES} table pages not imported (the simulator's memory limit)`);

  // ---- the scenario
  const doc = new Document({}, { version: "1.2" });
  doc.commentBefore = [
    ` ${title.replace(/\n/g, " ")}`,
    " Generated by Passthrough Debugger from the Intel IOMMU driver's debugfs dumps",
    " (/sys/kernel/debug/iommu/intel/). Every entry the dumps print is written where the host kept it;",
    " the last poke points RTADDR at the host's root table. Mapping Tables shows the host's tables,",
    " Translate Address walks them.",
    ...notes.slice(0, 200).map((n) => ` Note: ${n}`),
    ...(notes.length > 200 ? [` ... and ${notes.length - 200} more.`] : []),
  ].join("\n");
  /** The unit's `host.iommu` options, from its CAP and ECAP (or the entries when the registers are not in the dump). */
  const iommuOf = ({ chosen, cap, scalable, levelsOf, passThroughEntries }: ReturnType<typeof importUnit>) => {
    const c = cap !== undefined ? decodeCap(cap) : undefined;
    const ecap = chosen?.registers.get("ECAP");
    const e = ecap !== undefined ? decodeEcap(ecap) : undefined;
    // A context entry with TT = 01 (device-TLB) needs ECAP.DT, or the unit faults it as invalid.
    // Scalable mode: the context entry's DTE (VT-d 9.4).
    const devTlb = e ? e.dt : chosen?.contexts.some((x) => (scalable ? fieldRaw(smContextEntryLayout([x.ctxLo, x.ctxHi]), "DTE") === 1n : decodeContextEntry(x.ctxLo, x.ctxHi).tt === 1)) ?? false;
    const sagaw = c ? ([39, 48, 57] as const).filter((_w, k) => (c.sagaw & (2 << k)) !== 0) : [];
    const maxLevels = Math.max(4, ...levelsOf.values());
    const width = sagaw.length ? sagaw[sagaw.length - 1]! : maxLevels >= 5 ? 57 : 48;
    const iommu = flow([
      ["model", "intel-vtd"],
      ["scalable", scalable || undefined],
      ["address-width", width],
      ["sagaw", sagaw.length ? Object.assign(new YAMLSeq(), { flow: true, items: [...sagaw] }) : undefined],
      ["caching-mode", c ? c.cm : undefined],
      ["fault-records", c ? Math.min(c.nfr, 256) : undefined],
      ["device-iotlb", devTlb || undefined],
      ["pass-through", e ? e.pt : passThroughEntries || undefined],
      ["superpages", c ? Object.assign(new YAMLSeq(), { flow: true, items: [...((c.sllps & 1) ? ["2MiB"] : []), ...((c.sllps & 2) ? ["1GiB"] : [])] }) : undefined],
    ]);
    return iommu;
  };
  const iommus = states.map(iommuOf);
  const iommu = iommus[0] ?? iommuOf(importUnit(undefined, []));
  // DRAM reaches past the highest table address (the simulator reads tables only below host.memory).
  let top = 4n << 30n;
  for (const [at] of kept) while (top <= at + 4096n) top <<= 1n;
  for (const st of states.length ? states : [{ rootTable }]) if (st.rootTable !== undefined) while (top <= st.rootTable + 4096n) top <<= 1n;
  const host = new YAMLMap();
  host.set("memory", `${top >> 30n}GiB`);
  if (states.length > 1) {
    // host.iommus: each unit's scope lists the devices whose context entries it holds; the dump does
    // not say which DRHD has INCLUDE_PCI_ALL, so the last unit has it (the one the VT-d spec, 8.3,
    // requires to come last) and covers the root ports made up below.
    const list = new YAMLSeq();
    states.forEach((st, i) => {
      const m = iommus[i]!;
      const mine = [...st.devices].filter((k) => ownerOf.get(k) === st.chosen?.name || !ownerOf.has(k)).sort();
      if (i < states.length - 1) m.set("devices", Object.assign(new YAMLSeq(), { flow: true, items: mine.map(quoted) }));
      else m.set("include-all", true);
      list.items.push(m);
      if (st.chosen !== undefined && st.chosen.name !== `dmar${i}`) notes.push(`the dump's ${st.chosen.name} is the scenario's dmar${i} (units are numbered in DRHD order; the dump's other units have no tables)`);
    });
    host.set("iommus", list);
  } else host.set("iommu", iommu);
  const pci = new YAMLSeq();
  const keys = [...devices].sort();
  const usedSlots = new Set(keys.filter((k) => k.startsWith("00:")).map((k) => k.slice(3, 5)));
  let slot = 0x1f;
  for (const k of keys.filter((x) => x.startsWith("00:"))) pci.items.push(flow([["bdf", quoted(k)], ["kind", "integrated"]]));
  const buses = [...new Set(keys.filter((k) => !k.startsWith("00:")).map((k) => k.slice(0, 2)))];
  for (const bus of buses) {
    while (slot >= 0 && usedSlots.has(slot.toString(16).padStart(2, "0"))) slot--;
    if (slot < 0) {
      notes.push(`bus ${bus}: no free device number on bus 0 for a root port: its devices are left out`);
      continue;
    }
    const port = `00:${slot.toString(16).padStart(2, "0")}.0`;
    usedSlots.add(port.slice(3, 5));
    pci.items.push(flow([["bdf", quoted(port)], ["kind", "root-port"], ["acs", true], ["secondary-bus", parseInt(bus, 16)]]));
    for (const k of keys.filter((x) => x.startsWith(`${bus}:`))) pci.items.push(flow([["bdf", quoted(k)], ["parent", quoted(port)]]));
  }
  host.set("pci", pci);
  const steps = new YAMLSeq();
  for (const [at, value] of kept) {
    const w = words.get(at)!;
    const m = new YAMLMap();
    m.set("poke", flow([["address", hex(at)], ["value", hex(value)]]));
    m.commentBefore = ` line ${line(w.record)}: ${w.what}`;
    steps.items.push(m);
  }
  if (rootTable !== undefined && kept.length) {
    // Each unit's root table (several: the poke names the unit).
    states.forEach((st, i) => {
      if (st.rootTable === undefined) return;
      // Scalable mode: RTADDR.TTM = 01 (Linux iommu_set_root_entry: DMA_RTADDR_SMT).
      const value = st.rtaddr ?? (st.scalable ? st.rootTable | RTADDR_SMT : st.rootTable);
      const m = new YAMLMap();
      m.set("poke", flow([["register", "RTADDR"], ...(states.length > 1 ? [["unit", `dmar${i}`] as [string, unknown]] : []), ["value", hex(value)]]));
      m.commentBefore = ` the host's root table${states.length > 1 ? ` of ${st.chosen?.name ?? ""}` : ""}${st.scalable ? " (scalable mode)" : ""}: RTADDR = 0x${value.toString(16)}`;
      steps.items.push(m);
    });
    for (const p of probes) {
      const t = new YAMLMap();
      t.set("translate", flow([["device", quoted(p.key)], ["iova", hex(p.iova)]]));
      t.set("expect", flow([["ok", true], ["hpa", hex(p.hpa)]]));
      t.commentBefore = ` line ${line(p.record)}: the first readable mapping of ${p.key}, walked through the imported tables`;
      steps.items.push(t);
    }
  } else {
    notes.push("no table entries to import: the scenario has the host's devices only");
  }
  const root = new YAMLMap();
  root.set("name", quoted(title));
  root.set("host", host);
  root.set("workload", steps);
  doc.contents = root;
  return { text: doc.toString({ lineWidth: 0, flowCollectionPadding: true }), reproduced, notes, hostTables: kept.length };
}
