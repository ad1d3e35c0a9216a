/**
 * ftrace output of the iommu tracepoints (include/trace/events/iommu.h, reference §8), with the
 * `# tracer:` header and the TASK-PID [CPU] flags TIMESTAMP columns:
 *   map: IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu
 *   unmap: IOMMU: iova=0x%016llx - 0x%016llx size=%zu unmapped_size=%zu
 *   io_page_fault: IOMMU:%s %s iova=0x%016llx flags=0x%04x
 *   attach_device_to_domain / detach_device_from_domain: IOMMU: device=%s
 *   add_device_to_group / remove_device_from_group: IOMMU: groupID=%d device=%s
 */
import { MAX_LINE, splitLines } from "./lines.js";
import { SkipList, parseBdf, type EvidenceRecord, type ImportResult } from "./records.js";

const LINE = /^\s*(.+?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:[\w.]{4,5}\s+)?(\d+\.\d+):\s+(\w+):\s+(.*)$/;
const MAP = /^IOMMU: iova=0x([0-9a-f]+) - 0x([0-9a-f]+) paddr=0x([0-9a-f]+) size=(\d+)$/;
const UNMAP = /^IOMMU: iova=0x([0-9a-f]+) - 0x([0-9a-f]+) size=(\d+) unmapped_size=(\d+)$/;
const FAULT = /^IOMMU:(\S+) (\S+) iova=0x([0-9a-f]+) flags=0x([0-9a-f]+)$/;
const DEVICE = /^IOMMU: device=(\S+)$/;
const GROUP = /^IOMMU: groupID=(\d+) device=(\S+)$/;

const trim = (h: string) => `0x${h.replace(/^0+(?=.)/, "")}`;

export function parseFtrace(text: string): ImportResult {
  const lines = splitLines(text);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  for (const ln of lines) {
    const t = ln.text;
    if (t.length > MAX_LINE) {
      skip.add(ln.index, "line too long");
      continue;
    }
    if (t.trim() === "") continue;
    if (t.startsWith("#")) {
      skip.add(ln.index, "trace header");
      continue;
    }
    const m = LINE.exec(t);
    if (!m) {
      skip.add(ln.index, "not a trace event line");
      continue;
    }
    const [, task, pid, cpu, ts, event, body] = m as unknown as string[];
    const fields: EvidenceRecord["fields"] = { event: event!, task: task!, pid: Number(pid), cpu: Number(cpu), time: ts! };
    let summary: string | undefined;
    let e: RegExpExecArray | null;
    if (event === "map" && (e = MAP.exec(body!))) {
      Object.assign(fields, { iova: trim(e[1]!), end: trim(e[2]!), paddr: trim(e[3]!), size: Number(e[4]) });
      summary = `map IOVA ${fields.iova}..${fields.end} -> ${fields.paddr} (${e[4]} bytes)`;
    } else if (event === "unmap" && (e = UNMAP.exec(body!))) {
      Object.assign(fields, { iova: trim(e[1]!), end: trim(e[2]!), size: Number(e[3]), unmapped: Number(e[4]) });
      summary = `unmap IOVA ${fields.iova}..${fields.end} (${e[4]} of ${e[3]} bytes unmapped)`;
    } else if (event === "io_page_fault" && (e = FAULT.exec(body!))) {
      const b = parseBdf(e[2]!);
      Object.assign(fields, { driver: e[1]!, device: b?.key ?? e[2]!, iova: trim(e[3]!), flags: `0x${e[4]}` });
      summary = `IO page fault: ${fields.device} at IOVA ${fields.iova}`;
    } else if ((event === "attach_device_to_domain" || event === "detach_device_from_domain") && (e = DEVICE.exec(body!))) {
      fields.device = parseBdf(e[1]!)?.key ?? e[1]!;
      summary = `${event === "attach_device_to_domain" ? "attach" : "detach"} ${fields.device}`;
    } else if ((event === "add_device_to_group" || event === "remove_device_from_group") && (e = GROUP.exec(body!))) {
      Object.assign(fields, { group: Number(e[1]), device: parseBdf(e[2]!)?.key ?? e[2]! });
      summary = `${event === "add_device_to_group" ? "add" : "remove"} ${fields.device} ${event === "add_device_to_group" ? "to" : "from"} group ${e[1]}`;
    }
    if (summary === undefined) {
      skip.add(ln.index, `event "${event}" is not an iommu tracepoint this importer decodes`);
      continue;
    }
    records.push({ kind: "ftrace", line: ln.index, endLine: ln.index, column: 0, text: t, timestamp: ts!, summary, fields, context: [] });
  }
  return { records, skipped: skip.items };
}
