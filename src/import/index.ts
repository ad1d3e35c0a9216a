/**
 * The evidence importer's entry point: guess what a text is and parse it. Pure (no Node, no
 * vscode): the CLI, the extension and tests call the same functions.
 */
import { parseLog } from "./dmesg.js";
import { parseFtrace } from "./ftrace.js";
import { parseGroups } from "./groups.js";
import { parseLspci } from "./lspci.js";
import { parseLibvirtXml, parseQemuCommandLine } from "./vmconfig.js";
import type { ImportResult } from "./records.js";

export type EvidenceKind = "log" | "groups" | "ftrace" | "lspci" | "libvirt" | "qemu";

export { parseLog, parseFtrace, parseGroups, parseLspci, parseLibvirtXml, parseQemuCommandLine };
export { explainRecords, type Explanation } from "./explain.js";
export { synthesizeScenario, type SynthesisResult } from "./synthesize.js";
export type { EvidenceRecord, ImportResult, Skipped, RecordKind } from "./records.js";

/** Looks at the first lines only (bounded), in the order the formats are most specific. */
export function detectKind(text: string): EvidenceKind {
  const head = text.slice(0, 64 * 1024);
  if (/^# tracer: /m.test(head) || /^\s*\S+-\d+\s+\[\d+\]\s+\S*\s*\d+\.\d+: (map|unmap|io_page_fault|attach_device_to_domain|add_device_to_group):/m.test(head)) return "ftrace";
  if (/^IOMMU [Gg]roup \d+/m.test(head) || /^\/sys\/kernel\/iommu_groups\/\d+\/devices\//m.test(head)) return "groups";
  if (/<domain[\s>]/.test(head)) return "libvirt";
  if (/(^|\s)(qemu-system-\S+|qemu-kvm|\/usr\/\S*qemu\S*)\s+.*-(machine|device|m)\s/m.test(head.replace(/\\\r?\n/g, " ")) && !/^\[\s*\d+\.\d+\]/m.test(head)) return "qemu";
  if (/^(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] .+\[[0-9a-f]{4}\]: .+\[[0-9a-f]{4}:[0-9a-f]{4}\]/m.test(head) && !/^IOMMU/m.test(head)) return "lspci";
  return "log";
}

export function importText(text: string, kind: EvidenceKind = detectKind(text)): ImportResult & { kind: EvidenceKind } {
  const r =
    kind === "ftrace" ? parseFtrace(text)
    : kind === "groups" ? parseGroups(text)
    : kind === "lspci" ? parseLspci(text)
    : kind === "libvirt" ? parseLibvirtXml(text)
    : kind === "qemu" ? parseQemuCommandLine(text)
    : parseLog(text);
  return { ...r, kind };
}
