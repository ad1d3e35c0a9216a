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

/** An event line: task-pid [cpu] flags timestamp: event: body; after a mail quote or indentation as a paste leaves it. */
const LINE = /^(?:>+ ?)*\s*(.+?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:[\w.]{4,5}\s+)?(\d+\.\d+):\s+(\w+):\s+(.*)$/;

const MAP = /^IOMMU: iova=0x([0-9a-f]+) - 0x([0-9a-f]+) paddr=0x([0-9a-f]+) size=(\d+)$/;
const UNMAP = /^IOMMU: iova=0x([0-9a-f]+) - 0x([0-9a-f]+) size=(\d+) unmapped_size=(\d+)$/;
const FAULT = /^IOMMU:(\S+) (\S+) iova=0x([0-9a-f]+) flags=0x([0-9a-f]+)$/;
const DEVICE = /^IOMMU: device=(\S+)$/;
const GROUP = /^IOMMU: groupID=(\d+) device=(\S+)$/;

/** The iommu tracepoints (include/trace/events/iommu.h) and the body each prints. */
const BODIES: Readonly<Record<string, RegExp>> = {
  map: MAP,
  unmap: UNMAP,
  io_page_fault: FAULT,
  attach_device_to_domain: DEVICE,
  detach_device_from_domain: DEVICE,
  add_device_to_group: GROUP,
  remove_device_from_group: GROUP,
};

const trim = (h: string) => `0x${h.replace(/^0+(?=.)/, "")}`;
/** A continuation line of a wrapped event: what a mail client or a narrow terminal moved down, without its quote. */
const unquote = (t: string) => t.replace(/^(?:>+ ?)*\s*/, "");

export function parseFtrace(text: string): ImportResult {
  const lines = splitLines(text);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  for (let k = 0; k < lines.length; k++) {
    const ln = lines[k]!;
    const t = ln.text;
    let endLine = ln.index;
    if (t.length > MAX_LINE) {
      skip.add(ln.index, "line too long");
      continue;
    }
    if (t.trim() === "") continue;
    if (t.startsWith("#")) {
      skip.add(ln.index, "trace header");
      continue;
    }
    // A line that is not a whole event — no event at all, or a body its tracepoint does not print
    // whole — followed by lines that are not events: a line a mail client or a terminal wrapped.
    // Joined (at the break, with or without the space it ate) while that makes a whole event,
    // over at most two continuation lines.
    let m = LINE.exec(t);
    const whole = (x: RegExpExecArray | null): x is RegExpExecArray => x !== null && BODIES[x[5]!]?.test(x[6]!) === true;
    // A terminal's wrap inside the last token leaves a whole-looking event ("size=655" + "36",
    // "device=0" + "000:03:00.1"): the next line then continues that token (hex digits, ':' or '.')
    // and the join is a whole event too, with a complete PCI address where there is one.
    const cutInLastToken = (): boolean => {
      const next = lines[k + 1]?.text;
      if (next === undefined || next.trim() === "" || LINE.test(next) || /\s$/.test(t)) return false;
      const cont = unquote(next);
      if (!/^[0-9a-fA-Fx.:]+(?:\s|$)/.test(cont)) return false;
      const j = LINE.exec(`${t}${cont}`);
      if (!whole(j)) return false;
      const dev = /device=(\S+)$/.exec(m![6]!)?.[1];
      return dev === undefined || parseBdf(dev) === undefined;
    };
    if (!whole(m) || cutInLastToken()) {
      let acc = t;
      for (let extra = 1; extra <= 2 && k + extra < lines.length; extra++) {
        const next = lines[k + extra]!.text;
        if (next.trim() === "" || LINE.test(next) || next.length > MAX_LINE) break;
        const cont = unquote(next);
        const hit = [`${acc}${cont}`, `${acc} ${cont}`].map((x) => LINE.exec(x)).find(whole);
        if (hit) {
          m = hit;
          endLine = lines[k + extra]!.index;
          k += extra;
          break;
        }
        acc += cont;
      }
    }
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
    const text = endLine === ln.index ? ln.text : lines.slice(ln.index, endLine + 1).map((x) => x.text).join("\n");
    records.push({ kind: "ftrace", line: ln.index, endLine, column: 0, text, timestamp: ts!, summary, fields, context: [] });
  }
  return { records, skipped: skip.items };
}
