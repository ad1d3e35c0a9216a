/**
 * The evidence importer's entry point: guess what a text is and parse it. Pure (no Node, no
 * vscode): the CLI, the extension and tests call the same functions.
 */
import { parseLog } from "./dmesg.js";
import { parseFtrace } from "./ftrace.js";
import { parseGroups } from "./groups.js";
import { parseLspci } from "./lspci.js";
import { QEMU_COMMAND, parseLibvirtXml, parseQemuCommandLine } from "./vmconfig.js";
import { UTF16_REASON, looksUtf16 } from "./lines.js";
import { withSupplementalRecords } from "./supplements.js";
import type { ImportResult } from "./records.js";

import type { EvidenceKind } from "../protocol/evidence.js";
export type { EvidenceKind };

export { parseLog, parseFtrace, parseGroups, parseLspci, parseLibvirtXml, parseQemuCommandLine };
export { explainRecords, rankingContext, type Explanation } from "./explain.js";
export { synthesizeScenario, type SynthesisResult } from "./synthesize.js";
export { hostTablesScenario, hasHostTables } from "./hostTables.js";
export { parseDebugfs } from "./debugfs.js";
export { iommuStatus, statusTitle, type IommuStatus } from "./bootState.js";
export type { EvidenceRecord, ImportResult, Skipped, RecordKind } from "./records.js";

/**
 * An lspci device line: `01:00.0 VGA compatible controller: NVIDIA ...` (with or without -nn's
 * ids), `01:00.0 0300: 10de:1b80 (rev a1)` (`lspci -n`), quoted or indented as a paste leaves it.
 */
const LSPCI_DEVICE = /^(?:>+ ?)*[ \t]*(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] (?:[A-Za-z][^:\n]*: \S|[0-9a-f]{4}: [0-9a-f]{4}:[0-9a-f]{4}\b)/;
/** The detail lines of `lspci -k` / `-v` (the tab may be lost in a paste). */
const LSPCI_DETAIL = /^(?:>+ ?)*\s*(?:Kernel driver in use|Kernel modules): |^\t(?:Subsystem|Flags|Control|Status|Capabilities|Latency|Interrupt|Region|Physical Slot|DeviceName|IOMMU group|Bus): /;

/** Looks at the first lines only (bounded), in the order the formats are most specific. */
export function detectKind(text: string): EvidenceKind {
  const head = text.slice(0, 64 * 1024);
  if (/^# tracer: /m.test(head) || /^(?:>+ ?)*\s*\S+-\d+\s+(?:\(\s*[\d-]+\)\s+)?\[\d+\]\s+\S*\s*\d+\.\d+: (map|unmap|io_page_fault|attach_device_to_domain|detach_device_from_domain|add_device_to_group|remove_device_from_group):/m.test(head)) return "ftrace";
  if (/^IOMMU [Gg]roup \d+/m.test(head) || /^\/sys\/kernel\/iommu_groups\/\d+\/devices[/:]/m.test(head)) return "groups";
  if (/<domain[\s>]/.test(head)) return "libvirt";
  // A command line starts with the binary; "qemu-system-x86_64: -device ...: error" is QEMU's message (a log line).
  const lines = head.split("\n", 2000);
  if (lines.some((l) => QEMU_COMMAND.test(l))) return "qemu";
  // A fragment: `-device vfio-pci,host=...` lines without the binary (a script's array, a forum post).
  if (lines.some((l) => /^\s*["']?-device["']?\s+["']?(?:vfio-pci|intel-iommu|amd-iommu|virtio-iommu|arm-smmuv3|\{)/.test(l))) return "qemu";
  let devices = 0;
  let details = 0;
  for (const l of lines) {
    if (LSPCI_DEVICE.test(l)) devices++;
    else if (LSPCI_DETAIL.test(l)) details++;
  }
  if (devices >= 1 && (details >= 1 || devices >= 2) && !/^IOMMU/m.test(head)) return "lspci";
  return "log";
}

export function importText(text: string, kindArg?: EvidenceKind): ImportResult & { kind: EvidenceKind } {
  // A UTF-8 byte-order mark is dropped (the first line's columns count from after it).
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const kind = kindArg ?? detectKind(text);
  if (looksUtf16(text)) return { records: [], skipped: [{ line: 0, endLine: text.split("\n").length - 1, reason: UTF16_REASON }], kind };
  const r =
    kind === "ftrace" ? parseFtrace(text)
    : kind === "groups" ? parseGroups(text)
    : kind === "lspci" ? parseLspci(text)
    : kind === "libvirt" ? parseLibvirtXml(text)
    : kind === "qemu" ? parseQemuCommandLine(text)
    : withSupplementalRecords(parseLog(text), text);
  return { ...r, kind };
}
