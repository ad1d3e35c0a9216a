/**
 * Kernel and VMM log text (dmesg, journalctl, syslog, a QEMU stderr) -> IOMMU records: one loop
 * over per-source rule tables (dmesg/*.ts, in this order): Intel DMAR faults in every kernel
 * generation and INTR-REMAP faults (vtd.ts), AMD-Vi events (amdvi.ts), Arm SMMUv3 and SMMUv2
 * (smmu.ts), IOMMU group, VFIO / QEMU and RMRR messages (vfio.ts). This file finds the candidate
 * lines, strips their log prefixes, splits two messages run together and joins wrapped ones.
 * Context lines attach to records. Pure, line by line, bounded work per line.
 */
import { LineIndex, MAX_LINE, UTF16_REASON, looksUtf16, messageOf, type Line } from "./lines.js";
import { SkipList, type EvidenceRecord, type ImportResult } from "./records.js";
import { LineContext, WRAP_START, type RuleTable } from "./dmesg/rule.js";
import { VTD_RULES } from "./dmesg/vtd.js";
import { AMDVI_RULES } from "./dmesg/amdvi.js";
import { SMMU_RULES } from "./dmesg/smmu.js";
import { GROUP_RULES, RMRR_RULES, VFIO_RULES } from "./dmesg/vfio.js";
import { QEMU_VTD_RULES } from "./dmesg/qemuVtd.js";

export { vtdReasonText } from "./dmesg/vtd.js";
export { AMD_PF_FLAGS, amdPageFaultFlags } from "./dmesg/amdvi.js";
export { SMMU_EVENTS, decodeSmmuEvent, smmuv2Fsr } from "./dmesg/smmu.js";

/** Every source's rules, in the order a line is tried against them. */
export const RULE_TABLES: readonly RuleTable[] = [VTD_RULES, AMDVI_RULES, SMMU_RULES, GROUP_RULES, VFIO_RULES, QEMU_VTD_RULES, RMRR_RULES];
/** The same, flat (the loop's order). */
const RULES = RULE_TABLES.flatMap((t) => t.rules);

/** How a complete wrapped record ends (WRAP_START, rule.ts: where one starts). */
/** The same at the start of a message (optionally after a device prefix): only such a line is joined with the next. */
const WRAP_HEAD = /^(?:(?:dmar|DMAR): )?(?:DMAR:)?\[(?:DMA (?:Read|Write)|INTR-REMAP)|^(?:(?:dmar|DMAR): )?INTR-REMAP: Request dev|^(?:\S+ \S+: )?AMD-Vi: Event logged \[|^\S+ \S+: Unhandled context fault/;
/** The kinds a wrap can cut (a joined line that decodes as anything else was not a wrap). */
const WRAPPABLE = new Set<string>(["dmar-fault", "intr-remap-fault", "amdvi-event", "smmuv2-fault"]);
const WRAPPED_END = /(\] .+|\]|, cb=\d+)$/;
/** Where a record starts inside a line (to split two messages a lost line break ran together). */
const RECORD_AT = /(?:\[\s*\d+\.\d+\] ?)?(?:(?:dmar|DMAR): ?)?(?:\[(?:DMA (?:Read|Write)|INTR-REMAP)[\] ]|DMAR:\[DMA)|(?:\S+ (?:[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|ivhd\d+): )?AMD-Vi: Event logged \[/g;

/** Every record or context line contains one of these; anything else is skipped at once (tested on the raw line, before its prefixes are parsed). */
const MAYBE = /FSR|FSYNR|FAR |CBFRSYNRA|iova-to-phys|DMAR|dmar|DRHD|INTR-REMAP|AMD-Vi|Event logged|DTE\[|CMD\[|smmu|event|Unhandled context|vfio|VFIO|RMRR|iommu group|callbacks suppressed|Please ensure|interrupt remapping|pte level|root entry|context entry|pasid|PASID|Dump |not present|priv |ineligible|device=|group \d|caching-mode|1:1 IOMMU|Device initialization|vtd_|New fault is not|in use by driver|locked memory|reset PCI device|driver_override|with vIOMMU/;

/**
 * A necessary condition for MAYBE, cheap to scan a whole text for: every MAYBE keyword contains
 * one of these pieces ("vent" of "event", "try" of "root entry", ...). Pieces start with a
 * character that is rare in logs, so the regex engine skips most of a text quickly: one scan of a
 * 100 MB log with these costs about a quarter of MAYBE's (measured on the decode benchmark's
 * log). A line with a piece is still tested with MAYBE itself; the check below keeps the list
 * complete when MAYBE grows.
 */
const PIECES = ["FSR", "FSY", "FAR ", "CBF", "DMAR", "DRHD", "INTR", "AMD-", "DTE\\[", "CMD\\[", "Unh", "VFIO", "RMRR", "Ple", "PASID", "Dump ", "IOMMU", "Device i", "va-to", "vent", "vfio", "vel", "vice=", "mar", "mmu", "ks sup", "pping", "try", "presen", "pasid", "priv ", "gible", "group \\d", "g-mo", "vtd_", "New f", "n use by", "ked mem", "set PCI d", "er_ov"];
for (const k of MAYBE.source.split("|")) if (!PIECES.some((p) => k.includes(p))) throw new Error(`dmesg: no PIECES entry for the keyword ${k}`);
const PIECES_SCAN = new RegExp(PIECES.join("|"), "g");

/**
 * Lines that may contain a MAYBE keyword (1) and lines that cannot (0): one PIECES_SCAN over the
 * whole text instead of MAYBE on each line, going on from the next line after a hit (a keyword
 * never spans a line break).
 */
export function keywordLines(lines: LineIndex): Uint8Array {
  const hit = new Uint8Array(lines.length);
  const text = lines.source;
  let k = 0;
  PIECES_SCAN.lastIndex = 0;
  for (let m = PIECES_SCAN.exec(text); m; m = PIECES_SCAN.exec(text)) {
    while (lines.start(k + 1) <= m.index) k++;
    hit[k] = 1;
    PIECES_SCAN.lastIndex = lines.start(k + 1);
  }
  return hit;
}

export function parseLog(text: string): ImportResult {
  return parseLogWith(text, true);
}

/** parseLog the way it was before the keyword scan (every line tested and split on its own): the reference the fast path is tested against. */
export function parseLogLineByLine(text: string): ImportResult {
  return parseLogWith(text, false);
}

const NOT_IOMMU = "not an IOMMU, VFIO or RMRR message";

function parseLogWith(text: string, scan: boolean): ImportResult {
  if (looksUtf16(text)) {
    let n = 0;
    for (let k = text.indexOf("\n"); k >= 0; k = text.indexOf("\n", k + 1)) n++;
    return { records: [], skipped: [{ line: 0, endLine: n, reason: UTF16_REASON }] };
  }
  const lines = new LineIndex(text);
  // Lines without a piece of a keyword are settled at once; the others (every line without the
  // scan) go through the per-line filter as before.
  const maybe = scan ? keywordLines(lines) : new Uint8Array(lines.length).fill(1);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  /** What a rule sees of the line it looks at (one object, pointed at each candidate line in turn). */
  const cx = new LineContext(lines, records, skip, []);
  const emit = (r: EvidenceRecord) => cx.emit(r);
  for (let i = 0; i < lines.length; i++) {
    if (!maybe[i]) {
      // Not even a piece of a keyword: the outcome the filter below would give, decided from the
      // offsets; the line's string is made only when its first character may be blank or NUL.
      const start = lines.start(i);
      const length = lines.end(i) - start;
      if (length > MAX_LINE) {
        skip.add(i, "line too long to be a kernel message");
        continue;
      }
      if (length === 0) continue;
      const c = text.charCodeAt(start);
      if (c > 32 && c < 0xa0) {
        skip.add(i, NOT_IOMMU);
        continue;
      }
      const raw = lines.text(i);
      if (raw.trim() === "") continue;
      skip.add(i, c === 0 && /^\0+$/.test(raw) ? "NUL bytes (a truncated or preallocated log file)" : NOT_IOMMU);
      continue;
    }
    const ln = lines.at(i)!;
    if (ln.text.length > MAX_LINE) {
      skip.add(ln.index, "line too long to be a kernel message");
      continue;
    }
    // The keyword filter runs on the raw line: prefixes are parsed only for candidate lines.
    if (!MAYBE.test(ln.text)) {
      if (ln.text.trim() === "") continue;
      skip.add(ln.index, ln.text.charCodeAt(0) === 0 && /^\0+$/.test(ln.text) ? "NUL bytes (a truncated or preallocated log file)" : NOT_IOMMU);
      continue;
    }
    const msg = messageOf(ln.text);
    // Trailing blanks carry no meaning (the ≤4.6 format ends in a space; copies often lose it).
    const t = msg.text.replace(/\s+$/, "");
    if (t.trim() === "") continue;

    // ---- Two messages on one line (a lost line break): split them and decode each.
    const rq = t.indexOf("Request device [");
    const ev = t.indexOf("Event logged [");
    if ((rq >= 0 && t.indexOf("Request device [", rq + 1) >= 0) || (ev >= 0 && t.indexOf("Event logged [", ev + 1) >= 0) || (rq >= 0 && ev >= 0)) {
      const starts = [...t.matchAll(RECORD_AT)].map((x) => x.index);
      if (starts.length >= 2) {
        const cuts = [0, ...starts.slice(1), t.length];
        let found = 0;
        for (let k = 0; k + 1 < cuts.length; k++) {
          const sub = parseLog(t.slice(cuts[k], cuts[k + 1]).replace(/\s+$/, ""));
          if (sub.records.length !== 1) continue;
          const r = sub.records[0]!;
          r.line = ln.index;
          r.endLine = ln.index;
          r.column = msg.column + cuts[k]! + r.column;
          r.text = ln.text;
          r.context = r.context.map((c) => ({ ...c, line: ln.index }));
          if (r.timestamp === undefined && msg.timestamp) r.timestamp = msg.timestamp;
          r.context.push({ line: ln.index, text: "(two kernel messages on one line, a lost line break: split)" });
          emit(r);
          found++;
        }
        if (!found) skip.add(ln.index, "two messages run together on one line (a lost line break), neither a complete record");
        continue;
      }
    }

    // ---- The sources' rules (VT-d, AMD-Vi, SMMU, groups, VFIO/QEMU, RMRR).
    cx.reset(i, ln, msg, t);
    if (applyRules(cx)) {
      i = cx.i; // past the lines the rule used
      continue;
    }

    // A record wrapped by a terminal or a mail client: the continuation lines have no log prefix
    // of their own. Join them (longest first) and parse again.
    if (WRAP_HEAD.test(t)) {
      const cont: string[] = [];
      for (let k = 1; k <= 3 && i + k < lines.length; k++) {
        const next = lines.text(i + k);
        const nm = messageOf(next);
        if (nm.column !== 0 || !next.trim() || WRAP_START.test(next) || next.length > 4096) break;
        cont.push(next.replace(/\s+$/, ""));
      }
      let done = false;
      for (let k = cont.length; k >= 1 && !done; k--) {
        const joined = t + cont.slice(0, k).join("");
        if (!WRAPPED_END.test(joined)) continue;
        const sub = parseLog(joined);
        if (sub.records.length !== 1 || !WRAPPABLE.has(sub.records[0]!.kind)) continue;
        const r = sub.records[0]!;
        r.line = ln.index;
        r.endLine = ln.index + k;
        r.column = msg.column;
        r.text = lines.join(ln.index, ln.index + k + 1);
        r.context = r.context.map((c) => ({ ...c, line: ln.index }));
        if (msg.timestamp) r.timestamp = msg.timestamp;
        r.context.push({ line: ln.index, text: `(a wrapped record: ${k + 1} lines joined)` });
        emit(r);
        i += k;
        done = true;
      }
      if (done) continue;
    }
    skip.add(ln.index, lineReason(t));
  }
  // Context with no record after it stays visible as skipped lines with their reason.
  for (const p of cx.takePending()) skip.add(p.line, "context line with no fault record after it");
  skip.items.sort((a, b) => a.line - b.line);
  return { records, skipped: skip.items };
}

/** Tries the line on every rule in order: the first whose pattern matches, whose `when` holds and whose build does not return false takes it. */
function applyRules(cx: LineContext): boolean {
  for (let r = 0; r < RULES.length; r++) {
    const rule = RULES[r]!;
    const m = rule.pattern.exec(rule.on === "body" ? cx.qemu().body : cx.t);
    if (m && (!rule.when || rule.when(cx)) && rule.build(m, cx) !== false) return true;
  }
  return false;
}

function lineReason(t: string): string {
  if (/AMD-Vi: Event logged \[[A-Z_]/.test(t) && !/\]$/.test(t)) return "a truncated AMD-Vi event (no closing bracket)";
  if (WRAP_HEAD.test(t)) return "an incomplete (truncated) fault record";
  if (WRAP_START.test(t)) return "record-like text inside another message (not where a kernel message starts): not decoded";
  if (/^(?:dmar|DMAR):/.test(t)) return "a DMAR message that is not a fault record";
  if (/AMD-Vi/.test(t)) return "an AMD-Vi message that is not an event";
  if (/arm-smmu/.test(t)) return "an SMMU message that is not an event";
  if (/vfio/i.test(t)) return "a VFIO message this importer does not decode";
  return "not an IOMMU, VFIO or RMRR message";
}

export type { Line };
