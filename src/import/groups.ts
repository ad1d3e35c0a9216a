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
const ONE_LINE = /^IOMMU [Gg]roup (\d+):?\s+((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s*(.*)$/;
const HEADER = /^IOMMU [Gg]roup (\d+):?\s*$/;
const MEMBER = /^\s+((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s*(.*)$/;
const SYSFS = /^\/sys\/kernel\/iommu_groups\/(\d+)\/devices\/([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/;
const PROMPT = /^(?:[\w.@-]+:[~\w/.-]*[$#]|\$|#)(?:\s|$)/;

export function describeLspci(rest: string): Record<string, string> {
  const m = LSPCI_NN.exec(rest.trim());
  if (!m) return rest.trim() ? { description: rest.trim() } : {};
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
    else if ((m = HEADER.exec(t))) group = Number(m[1]);
    else if ((m = SYSFS.exec(t.trim()))) add(Number(m[1]), m[2]!, "");
    else if ((m = MEMBER.exec(t)) && group !== undefined) add(group, m[1]!, m[2]!);
    else if (PROMPT.test(t) || /^for \w+ in /.test(t.trim()) || /^(do|done)\b/.test(t.trim())) skip.add(ln.index, "shell prompt or command");
    else skip.add(ln.index, "not a group listing line");
  }
  return { records, skipped: skip.items };
}
