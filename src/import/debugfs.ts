/**
 * The Intel IOMMU driver's debugfs dumps (/sys/kernel/debug/iommu/intel/), line by line, as the
 * kernel prints them (drivers/iommu/intel/debugfs.c; before v5.7 drivers/iommu/intel-iommu-debugfs.c):
 *
 * - `iommu_regset` (iommu_regset_show): a unit header
 *   `"IOMMU: %s Register Base Address: %llx\n"`, the column header `"Name\t\t\tOffset\t\tContents\n"`,
 *   then one `"%-16s\t0x%02x\t\t0x%016llx\n"` line per register (name, MMIO offset, value; since
 *   v5.6 the 32-bit registers read with dmar_readl, still printed as 16 hex digits).
 * - `dmar_translation_struct` (root_tbl_walk / print_tbl_walk): `"IOMMU %s: Root Table Address: 0x%llx\n"`,
 *   the header `"B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry\n"`, then per
 *   present context entry `"%02x:%02x.%x\t0x%016llx:0x%016llx\t0x%016llx:0x%016llx\t"` (root entry
 *   hi:lo, context entry hi:lo) and `"%-6d\t0x%016llx:0x%016llx:0x%016llx\n"` (PASID, -1 in legacy
 *   mode, and the PASID entry). The first version (v4.20) had no PASID columns. Since v5.13 a unit
 *   with translation off prints `"DMA Remapping is not enabled on %s\n"` instead.
 * - `domain_translation_struct`: v5.15..v6.3 one file for every device
 *   (show_device_domain_translation: `"Device %s @0x%llx\n"` with dev_name, the header
 *   `"IOVA_PFN\t\tPML5E\t\t\tPML4E\t\t\tPDPE\t\t\tPDE\t\t\tPTE\n"`, rows
 *   `"0x%013lx |\t0x%016llx\t0x%016llx\t0x%016llx\t0x%016llx\t0x%016llx\n"`: IOVA page frame and the
 *   entries of the path, path[5] (PML5E) first); since v6.4 one file per device under
 *   <dev>/domain_translation_struct (domain_translation_struct_show: `"Device %04x:%02x:%02x.%x "`
 *   then `"@0x%llx\n"` or `"with pasid %x @0x%llx\n"`, the header `"%-17s\t%-18s\t..."`, rows
 *   dump_page_info `"0x%013lx |\t0x%016llx\t0x%016llx\t0x%016llx"` + `"\t0x%016llx"` for PDE and
 *   PTE only when present, so a 2 MiB leaf row ends at its PDE).
 *
 * Every line becomes one `vtd-debugfs` record that says what it holds (`fields.part`); the records
 * do not depend on each other, so a dump cut into slices (import/stream.ts) decodes the same. Which
 * unit and device a row belongs to is the nearest header before it: hostTables.ts puts them together.
 * Pure module.
 */
import type { EvidenceRecord } from "./records.js";

const HEX = "[0-9a-fA-F]";
/** A mail quote, a shell prompt's indentation or a paste's leading blanks. */
const LEAD = /^(?:>+ ?)*[ \t]*/;

const REGSET_UNIT = /^IOMMU: (\S+) Register Base Address: (?:0x)?([0-9a-fA-F]+)\s*$/;
const REGSET_HEADER = /^Name\s+Offset\s+Contents\s*$/;
const REGISTER = new RegExp(`^([A-Z][A-Z0-9_]*)\\s+0x(${HEX}{2,3})\\s+0x(${HEX}{1,16})\\s*$`);
const ROOT_TABLE = /^IOMMU (\S+): Root Table Address: ?(?:0x)?([0-9a-fA-F]+)\s*$/;
const CONTEXT_HEADER = /^B\.D\.F\s+Root_entry\s+Context_entry(?:\s+PASID\s+PASID_table_entry)?\s*$/;
const CONTEXT_ROW = new RegExp(`^(${HEX}{2}):(${HEX}{2})\\.([0-7])\\s+0x(${HEX}{16}):0x(${HEX}{16})\\s+0x(${HEX}{16}):0x(${HEX}{16})(?:\\s+(-?\\d+)\\s+0x(${HEX}{16}):0x(${HEX}{16}):0x(${HEX}{16}))?\\s*$`);
const NOT_ENABLED = /^DMA Remapping is not enabled on (\S+)\s*$/;
const DEVICE = new RegExp(`^Device (?:(${HEX}{4}):)?(${HEX}{2}):(${HEX}{2})\\.([0-7]) (?:with pasid (${HEX}+) )?@0x(${HEX}+)\\s*$`);
const PTE_HEADER = /^IOVA_PFN\s+PML5E\s+PML4E\s+PDPE\s+PDE\s+PTE\s*$/;
const PTE_ROW = new RegExp(`^0x(${HEX}{1,13}) \\|\\s+(0x${HEX}{16}(?:\\s+0x${HEX}{16}){2,4})\\s*$`);

/** Cheap test on the raw line before the rules: every debugfs line has one of these. */
const FILTER = /0x|Base Address|Root Table|B\.D\.F|IOVA_PFN|Offset|not enabled on|Device /;

const h = (s: string) => `0x${BigInt(`0x${s}`).toString(16)}`;

function record(i: number, raw: string, column: number, summary: string, fields: EvidenceRecord["fields"]): EvidenceRecord {
  return { kind: "vtd-debugfs", line: i, endLine: i, column, text: raw, summary, fields, context: [] };
}

/** A row's start that a wrap cut short: a context row (B.D.F and a hex entry) or a page-table row (IOVA_PFN |). */
const ROW_START = new RegExp(`^(?:${HEX}{2}:${HEX}{2}\\.[0-7]\\s+0x${HEX}|0x${HEX}{1,13} \\|)`);
/** What a wrap moves down from a whole-looking row: the PASID columns of a context row, or the last entries of a page-table row. */
const TAIL = /^[-0-9a-fA-Fx:\s]+$/;
/** A column header's start, and what a wrap moves down from it: more column names. */
const HEADER_START = /^(?:IOVA_PFN|B\.D\.F|Name)\s/;
const HEADER_TAIL = /^[A-Za-z0-9_\s]+$/;
/** Lines a wrapped row spans at most (a 146-column context row cut at 40 columns, its continuations indented). */
const MAX_WRAP = 5;

/** One line's text without its mail quote or indentation, and that prefix's length. */
function strip(raw: string): [string, number] {
  const lead = LEAD.exec(raw)![0].length;
  return [raw.slice(lead).replace(/\r$/, ""), lead];
}

/**
 * A row a mail client or a terminal wrapped (cut at a tab or a space, whose character it may eat
 * or move down, or inside a token; the continuation indented, quoted or not), joined back when
 * that is unambiguous: the line starts a row but is no whole row (or is a whole row of an older or
 * shorter form: a context row without the PASID columns, a page-table row that ends early), the
 * continuation lines are neither records nor row starts, and the ways of joining them (with or
 * without a space at each cut) make exactly one row, and a more complete one. Returns the joined
 * text and the index of its last line, or undefined.
 */
function rejoin(lines: readonly string[], i: number, t: string, one: EvidenceRecord | undefined): [string, number] | undefined {
  const entries = (x: string) => x.trim().split(/\s+/).length;
  let better: (x: string) => boolean;
  let tail = TAIL;
  if (one === undefined) {
    if (ROW_START.test(t)) better = (x) => CONTEXT_ROW.test(x) || PTE_ROW.test(x);
    else if (HEADER_START.test(t)) {
      // A column header (the v6.4+ page-table header is 97 columns): it names the file the rows after it come from.
      better = (x) => REGSET_HEADER.test(x) || CONTEXT_HEADER.test(x) || PTE_HEADER.test(x);
      tail = HEADER_TAIL;
    } else return undefined;
  } else if (one.fields.part === "header") {
    // v4.20's context header has no PASID columns: the v5.x header cut before them looks whole.
    if (one.fields.file !== "dmar_translation_struct" || /PASID/.test(t)) return undefined;
    better = (x) => CONTEXT_HEADER.test(x) && /PASID_table_entry\s*$/.test(x);
    tail = HEADER_TAIL;
  } else if (one.fields.part === "context") {
    if (one.fields.pasid !== undefined) return undefined;
    better = (x) => CONTEXT_ROW.exec(x)?.[8] !== undefined;
  } else if (one.fields.part === "pte") {
    const have = String(one.fields.entries).split(",").length;
    if (have >= 5) return undefined;
    better = (x) => {
      const m = PTE_ROW.exec(x);
      return m !== null && entries(m[2]!) > have;
    };
  } else return undefined;
  let joins = [t.trimEnd()];
  for (let k = 1; k < MAX_WRAP && i + k < lines.length; k++) {
    const next = lines[i + k]!;
    if (next.length > 400) return undefined;
    const c = strip(next)[0].trimEnd();
    if (c === "" || ROW_START.test(c) || lineRecord(0, next) !== undefined) return undefined;
    // What a wrap moves down from a whole-looking row is only the rest of its columns.
    if ((one !== undefined || tail === HEADER_TAIL) && !tail.test(c)) return undefined;
    const seen = new Set<string>();
    joins = joins.flatMap((x) => [`${x}${c}`, `${x} ${c}`]).filter((x) => {
      const key = x.replace(/\s+/g, " ");
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const hits = joins.filter(better);
    if (hits.length === 1) return [hits[0]!, i + k];
    if (hits.length > 1) return undefined;
  }
  return undefined;
}

/** The debugfs records of a text's lines (headers of a table become records too: they name the unit or device the rows after them belong to). */
export function parseDebugfs(lines: readonly string[]): EvidenceRecord[] {
  const out: EvidenceRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    // Every record's first line (a wrapped row's and header's too) passes the cheap filter.
    if (raw.length > 400 || !FILTER.test(raw)) continue;
    const [t, lead] = strip(raw);
    const one = lineRecord(i, raw);
    let joined = rejoin(lines, i, t, one);
    // A join that makes a whole row of the shorter form may continue (the PASID columns a line further down).
    for (let more = joined; more && more[1] - i < MAX_WRAP - 1; ) {
      more = rejoin(lines, more[1], more[0], lineRecord(i, more[0]));
      if (more) joined = more;
    }
    if (joined) {
      const r = lineRecord(i, `${raw.slice(0, lead)}${joined[0]}`)!;
      r.endLine = joined[1];
      r.text = lines.slice(i, joined[1] + 1).join("\n");
      r.context.push({ line: i, text: `(a wrapped row: ${joined[1] - i + 1} lines joined)` });
      out.push(r);
      i = joined[1];
    } else if (one) out.push(one);
  }
  return out;
}

/** One line's record, or undefined. */
function lineRecord(i: number, raw: string): EvidenceRecord | undefined {
  {
    const [t, lead] = strip(raw);
    if (!FILTER.test(t)) return undefined;
    let m: RegExpExecArray | null;
    if ((m = REGISTER.exec(t))) {
      return record(i, raw, lead, `register ${m[1]} (offset 0x${m[2]}) = ${h(m[3]!)}`, { part: "register", register: m[1]!, offset: parseInt(m[2]!, 16), value: h(m[3]!) });
    } else if ((m = CONTEXT_ROW.exec(t))) {
      const device = `${m[1]}:${m[2]}.${m[3]}`.toLowerCase();
      const f: EvidenceRecord["fields"] = { part: "context", device, rootHi: h(m[4]!), rootLo: h(m[5]!), contextHi: h(m[6]!), contextLo: h(m[7]!) };
      if (m[8] !== undefined) {
        f.pasid = Number(m[8]);
        f.pasidEntry = [m[11], m[10], m[9]].map((x) => h(x!)).join(",");
      }
      return record(i, raw, lead, `context entry of ${device}: ${h(m[7]!)}:${h(m[6]!)} (lo:hi), root entry ${h(m[5]!)}`, f);
    } else if ((m = PTE_ROW.exec(t))) {
      const entries = m[2]!.trim().split(/\s+/).map((x) => h(x.slice(2)));
      return record(i, raw, lead, `IOVA 0x${(BigInt(`0x${m[1]}`) << 12n).toString(16)}: ${entries.filter((e) => e !== "0x0").length} entries on its path`, { part: "pte", iovaPfn: h(m[1]!), entries: entries.join(",") });
    } else if ((m = DEVICE.exec(t))) {
      const device = `${m[2]}:${m[3]}.${m[4]}`.toLowerCase();
      const f: EvidenceRecord["fields"] = { part: "domain", device, segment: parseInt(m[1] ?? "0", 16), pgd: h(m[6]!) };
      if (m[5] !== undefined) f.pasid = parseInt(m[5], 16);
      return record(i, raw, lead, `page table of ${device}${m[5] !== undefined ? ` (PASID ${parseInt(m[5], 16)})` : ""} at ${h(m[6]!)}`, f);
    } else if ((m = ROOT_TABLE.exec(t))) {
      return record(i, raw, lead, `root table of ${m[1]} at ${h(m[2]!)}`, { part: "root-table", unit: m[1]!, address: h(m[2]!) });
    } else if ((m = REGSET_UNIT.exec(t))) {
      return record(i, raw, lead, `registers of ${m[1]} (MMIO base ${h(m[2]!)})`, { part: "unit", unit: m[1]!, base: h(m[2]!) });
    } else if ((m = NOT_ENABLED.exec(t))) {
      return record(i, raw, lead, `${m[1]}: DMA remapping is not enabled (no tables to dump)`, { part: "not-enabled", unit: m[1]! });
    } else if (REGSET_HEADER.test(t) || CONTEXT_HEADER.test(t) || PTE_HEADER.test(t)) {
      const which = REGSET_HEADER.test(t) ? "iommu_regset" : CONTEXT_HEADER.test(t) ? "dmar_translation_struct" : "domain_translation_struct";
      return record(i, raw, lead, `column header of ${which}`, { part: "header", file: which });
    }
  }
  return undefined;
}
