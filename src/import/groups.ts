/**
 * IOMMU group listings as people paste them: the usual shell loops over /sys/kernel/iommu_groups
 * (one line per device `IOMMU Group 1 01:00.0 VGA ... [10de:1b80] (rev a1)`, or a `IOMMU Group 1:`
 * header with indented devices; sorted or not; with shell prompts around) and raw
 * `find /sys/kernel/iommu_groups/ -type l` output. One record per device.
 */
import { MAX_LINE, splitLines } from "./lines.js";
import { SkipList, parseBdf, type EvidenceRecord, type ImportResult } from "./records.js";

/** `lspci -nn` text after the BDF: `Class [cccc]: Vendor Device [vvvv:dddd] (rev xx)`. */
const LSPCI_NN = /^(.+?) \[([0-9a-f]{4})\]: (.+?) \[([0-9a-f]{4}):([0-9a-f]{4})\](?: \(rev ([0-9a-f]{2})\))?(?: \(prog-if [^)]*\))?$/;
/** Plain `lspci` text (no -nn): `Class: Name (rev xx)`. */
const LSPCI_PLAIN = /^([A-Z][^:]*?): (.+?)(?: \(rev ([0-9a-f]{2})\))?(?: \(prog-if [^)]*\))?$/;
/**
 * `lspci -n` text: `cccc: vvvv:dddd (rev xx)`. pciutils' show_terse prints `" %s: %s"` of the class
 * and the vendor/device names, which PCI_LOOKUP_NUMERIC turns into bare hex (pciutils lspci.c).
 */
const LSPCI_N = /^([0-9a-f]{4}): ([0-9a-f]{4}):([0-9a-f]{4})(?: \(rev ([0-9a-f]{2})\))?(?: \(prog-if ([0-9a-f]{2})[^)]*\))?$/;
const ONE_LINE = /^(?:IOMMU )?[Gg]roup (\d+):?\s+((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s*(.*)$/;
const HEADER = /^(?:IOMMU )?[Gg]roup (\d+):?\s*$/;
/** A device under a header: indented, or not (scripts that print the header and then `lspci -nns` lines). */
const MEMBER = /^\s*((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])(?:\s+(.*))?$/;
const SYSFS = /^\/sys\/kernel\/iommu_groups\/(\d+)\/devices\/([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/;
/** `ls -l /sys/kernel/iommu_groups/*\/devices`: a `/sys/kernel/iommu_groups/1/devices:` header, `total 0`, then the links. */
const LS_HEADER = /^\/sys\/kernel\/iommu_groups\/(\d+)\/devices:$/;
const LS_TOTAL = /^total \d+$/;
const LS_LINK = /^l[rwxsStT-]{9}[.+@]?\s+\d+\s+\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+\S+\s+((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) -> \S+$/;
export const PROMPT = /^(?:[\w.@-]+:[~\w/.-]*[$#]|\[[^\]\n]+\][$#]|\$|#)(?:\s|$)/;

export function describeLspci(rest: string): Record<string, string> {
  const m = LSPCI_NN.exec(rest.trim());
  const n = m ? null : LSPCI_N.exec(rest.trim());
  if (n) return { classId: n[1]!, vendorId: n[2]!, deviceId: n[3]!, ...(n[4] ? { rev: n[4] } : {}) };
  if (!m) {
    const p = LSPCI_PLAIN.exec(rest.trim());
    if (p) return { class: p[1]!, name: p[2]!, ...(p[3] ? { rev: p[3] } : {}) };
    return rest.trim() ? { description: rest.trim() } : {};
  }
  const out: Record<string, string> = { class: m[1]!, classId: m[2]!, name: m[3]!, vendorId: m[4]!, deviceId: m[5]! };
  if (m[6]) out.rev = m[6];
  return out;
}

export function parseGroups(text: string): ImportResult {
  const lines = splitLines(text);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  let group: number | undefined;
  for (const ln of lines) {
    const t = ln.text;
    if (t.length > MAX_LINE) {
      skip.add(ln.index, "line too long");
      continue;
    }
    if (t.trim() === "") continue;
    let m: RegExpExecArray | null;
    const add = (g: number, bdf: string, rest: string) => {
      const b = parseBdf(bdf);
      if (!b) return skip.add(ln.index, "not a PCI address");
      const fields: EvidenceRecord["fields"] = { group: g, device: b.key, ...describeLspci(rest) };
      records.push({ kind: "iommu-group", line: ln.index, endLine: ln.index, column: 0, text: t, summary: `${b.key} is in IOMMU group ${g}${fields.name ? ` (${fields.name})` : ""}`, fields, context: [] });
    };
    if ((m = ONE_LINE.exec(t))) add(Number(m[1]), m[2]!, m[3]!);
    else if ((m = HEADER.exec(t)) || (m = LS_HEADER.exec(t.trim()))) group = Number(m[1]);
    else if ((m = SYSFS.exec(t.trim()))) add(Number(m[1]), m[2]!, "");
    else if ((m = LS_LINK.exec(t.trim())) && group !== undefined) add(group, m[1]!, "");
    else if (LS_TOTAL.test(t.trim()) && group !== undefined) skip.add(ln.index, "ls total line");
    else if ((m = MEMBER.exec(t)) && group !== undefined) add(group, m[1]!, m[2] ?? "");
    else if (PROMPT.test(t) || /^for \w+ in /.test(t.trim()) || /^(do|done)\b/.test(t.trim())) {
      group = undefined;
      skip.add(ln.index, "shell prompt or command");
    }
    else skip.add(ln.index, "not a group listing line");
  }
  return { records, skipped: skip.items };
}
