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
 *
 * The CAP register (iommu_regset) sets the unit's address width, SAGAW, superpages, caching mode
 * and fault-record count (sim/vtd/regs.ts decodeCap). Pure module.
 */
import { Document, Scalar, YAMLMap, YAMLSeq } from "yaml";
import type { EvidenceRecord } from "./records.js";
import type { SynthesisResult } from "./synthesize.js";
import { decodeContextEntry, decodeRootEntry, awToLevels } from "../sim/vtd/context.js";
import { slIndex } from "../sim/vtd/slpt.js";
import { decodeCap, decodeEcap } from "../sim/vtd/regs.js";

/** dma_pte_addr (drivers/iommu/intel/iommu.h): VTD_PAGE_MASK without the XD bit 63. */
const PTE_ADDR_MASK = ((1n << 63n) - 1n) & ~0xfffn;
/** RTADDR.TTM (bits 11:10) = 01: scalable-mode root table (VT-d 11.4.5; Linux DMA_RTADDR_SMT). */
const RTADDR_SMT = 1n << 10n;
/** The simulator's sparse DRAM holds at most this many written pages (sim/machine.ts sparseMaxPages). */
export const MAX_TABLE_PAGES = 4000;
/** The scenario's table pool sits at 0x1000_0000..0x2000_0000 (sim/machine.ts POOL_BASE, POOL_MAX_PAGES): host tables there would overlap the simulator's own. */
const POOL = [0x1000_0000n, 0x2000_0000n] as const;

interface Unit {
  name: string;
  registers: Map<string, bigint>;
  rootTable?: bigint;
  contexts: { record: number; key: string; bus: number; devfn: number; rootLo: bigint; rootHi: bigint; ctxLo: bigint; ctxHi: bigint; pasid?: number }[];
  notEnabled?: number;
}

interface Domain {
  record: number;
  key: string;
  pgd: bigint;
  pasid?: number;
  rows: { record: number; iova: bigint; entries: bigint[] }[];
}

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
        unit(tableUnit || "dmar?").contexts.push({ record: i, key: String(f.device), bus, devfn: (dev << 3) | fn, rootLo: big(f.rootLo), rootHi: big(f.rootHi), ctxLo: big(f.contextLo), ctxHi: big(f.contextHi), ...(typeof f.pasid === "number" ? { pasid: f.pasid } : {}) });
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
export function hostTablesScenario(records: readonly EvidenceRecord[], title = "Host tables from debugfs"): SynthesisResult {
  const notes: string[] = [];
  const reproduced: number[] = [];
  const line = (i: number) => records[i]!.line + 1;
  const { units, domains } = collect(records);
  // One unit is imported (the model has one DMAR unit): the one with the most context entries.
  const withTables = units.filter((u) => u.contexts.length || u.rootTable !== undefined);
  const chosen = [...withTables].sort((a, b) => b.contexts.length - a.contexts.length)[0] ?? units[0];
  for (const u of units) {
    if (u.notEnabled !== undefined) notes.push(`line ${line(u.notEnabled)}: ${u.name} has DMA remapping off (GSTS.TES = 0): it has no tables to import`);
    else if (u !== chosen && u.contexts.length) notes.push(`${u.name}: ${u.contexts.length} context ${u.contexts.length === 1 ? "entry" : "entries"} not imported (the scenario models one DMAR unit; imported: ${chosen?.name ?? "-"})`);
  }
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
  const cap = chosen?.registers.get("CAP");
  const rtaddr = chosen?.registers.get("RTADDR");
  const rootTable = chosen?.rootTable ?? (rtaddr !== undefined ? rtaddr & ~0xfffn : undefined);
  const scalable = (rtaddr !== undefined && (rtaddr & RTADDR_SMT) !== 0n) || (chosen?.contexts.some((c) => c.pasid !== undefined && c.pasid >= 0) ?? false);
  const levelsOf = new Map<string, number>();
  const devices = new Set<string>();
  if (scalable) {
    notes.push(`${chosen?.name ?? "the unit"}: scalable-mode tables (RTADDR.TTM = 01 or PASID entries in the dump) are not imported: the VT-d model walks legacy-mode root and context tables only`);
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
  if (!scalable) {
    for (const d of domains) {
      if (d.pasid !== undefined) {
        notes.push(`line ${line(d.record)}: page table of ${d.key} PASID ${d.pasid} not imported (scalable mode)`);
        continue;
      }
      devices.add(d.key);
      let probed = false;
      for (const row of d.rows) {
        // The row's columns are PML5E, PML4E, PDPE[, PDE[, PTE]]: column c holds level 5 - c.
        const top = levelsOf.get(d.key) ?? 5 - row.entries.findIndex((e) => e !== 0n);
        let table = d.pgd;
        let ok = true;
        for (let level = top; level >= 1; level--) {
          const v = row.entries[5 - level] ?? 0n;
          if (v === 0n) {
            ok = false;
            notes.push(`line ${line(row.record)}: no level-${level} entry on the path of IOVA 0x${row.iova.toString(16)} (a ${top}-level table)`);
            break;
          }
          put(table + BigInt(slIndex(row.iova, level)) * 8n, v, row.record, `level-${level} entry for IOVA 0x${row.iova.toString(16)} of ${d.key}`);
          const last = level === 1 || (row.entries[5 - level + 1] ?? 0n) === 0n;
          if (last) {
            // The first leaf that grants read: a translate step that checks the imported walk.
            if (!probed && (v & 1n) !== 0n) {
              probes.push({ key: d.key, iova: row.iova, hpa: (v & PTE_ADDR_MASK & ~((1n << BigInt(12 + 9 * (level - 1))) - 1n)) + (row.iova & ((1n << BigInt(12 + 9 * (level - 1))) - 1n)), write: false, record: row.record });
              probed = true;
            }
            break;
          }
          table = v & PTE_ADDR_MASK;
        }
        if (ok) reproduced.push(row.record);
      }
    }
  }
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
    ...notes.slice(0, 200).map((n) => ` Not imported: ${n}`),
    ...(notes.length > 200 ? [` ... and ${notes.length - 200} more.`] : []),
  ].join("\n");
  const c = cap !== undefined ? decodeCap(cap) : undefined;
  const ecap = chosen?.registers.get("ECAP");
  const e = ecap !== undefined ? decodeEcap(ecap) : undefined;
  // A context entry with TT = 01 (device-TLB) needs ECAP.DT, or the unit faults it as invalid.
  const devTlb = e ? e.dt : chosen?.contexts.some((x) => decodeContextEntry(x.ctxLo, x.ctxHi).tt === 1) ?? false;
  const sagaw = c ? ([39, 48, 57] as const).filter((_w, k) => (c.sagaw & (2 << k)) !== 0) : [];
  const maxLevels = Math.max(4, ...levelsOf.values());
  const width = sagaw.length ? sagaw[sagaw.length - 1]! : maxLevels >= 5 ? 57 : 48;
  const iommu = flow([
    ["model", "intel-vtd"],
    ["address-width", width],
    ["sagaw", sagaw.length ? Object.assign(new YAMLSeq(), { flow: true, items: [...sagaw] }) : undefined],
    ["caching-mode", c ? c.cm : undefined],
    ["fault-records", c ? Math.min(c.nfr, 256) : undefined],
    ["device-iotlb", devTlb || undefined],
    ["pass-through", e ? e.pt : undefined],
    ["superpages", c ? Object.assign(new YAMLSeq(), { flow: true, items: [...((c.sllps & 1) ? ["2MiB"] : []), ...((c.sllps & 2) ? ["1GiB"] : [])] }) : undefined],
  ]);
  // DRAM reaches past the highest table address (the simulator reads tables only below host.memory).
  let top = 4n << 30n;
  for (const [at] of kept) while (top <= at + 4096n) top <<= 1n;
  if (rootTable !== undefined) while (top <= rootTable + 4096n) top <<= 1n;
  const host = new YAMLMap();
  host.set("memory", `${top >> 30n}GiB`);
  host.set("iommu", iommu);
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
  if (rootTable !== undefined && !scalable && kept.length) {
    const m = new YAMLMap();
    m.set("poke", flow([["register", "RTADDR"], ["value", hex(rtaddr ?? rootTable)]]));
    m.commentBefore = ` the host's root table: RTADDR = 0x${(rtaddr ?? rootTable).toString(16)}`;
    steps.items.push(m);
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
