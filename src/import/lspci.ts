/**
 * `lspci -nn`, `-nnk` and `-vvv` excerpts: one record per device with class, vendor:device,
 * name, the kernel driver in use and the kernel modules, and the ACS capability (ACSCap / ACSCtl
 * flags) when the verbose listing shows it. Linux isolates a port only with SV, RR, CR and UF
 * enabled (REQ_ACS_FLAGS, reference §7), so `acsIsolates` says whether ACSCtl has all four.
 */
import { describeLspci } from "./groups.js";
import { MAX_LINE, splitLines } from "./lines.js";
import { SkipList, parseBdf, type EvidenceRecord, type ImportResult } from "./records.js";

const DEVICE = /^((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) (.+)$/;
const DRIVER = /^\s+Kernel driver in use: (\S+)$/;
const MODULES = /^\s+Kernel modules: (.+)$/;
const ACS_CAP = /^\s+Capabilities: \[[0-9a-f]+(?: v\d+)?\] Access Control Services$/;
const ACS_FLAGS = /^\s+(ACSCap|ACSCtl):\s+(.*)$/;
const OTHER = /^\s+\S/;

function flags(text: string): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const m of text.matchAll(/(\w+)([+-])/g)) out[m[1]!] = m[2] === "+";
  return out;
}

export function parseLspci(text: string): ImportResult {
  const lines = splitLines(text);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  let cur: EvidenceRecord | undefined;
  let inAcs = false;
  for (const ln of lines) {
    const t = ln.text;
    if (t.length > MAX_LINE) {
      skip.add(ln.index, "line too long");
      continue;
    }
    if (t.trim() === "") {
      cur = undefined;
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = DEVICE.exec(t))) {
      const b = parseBdf(m[1]!);
      if (!b) {
        skip.add(ln.index, "not a PCI address");
        continue;
      }
      const fields: EvidenceRecord["fields"] = { device: b.key, ...describeLspci(m[2]!) };
      cur = { kind: "pci-device", line: ln.index, endLine: ln.index, column: 0, text: t, summary: `${b.key} ${fields.name ?? fields.description ?? ""}`.trim(), fields, context: [] };
      records.push(cur);
      inAcs = false;
      continue;
    }
    if (!cur) {
      skip.add(ln.index, "not an lspci device line");
      continue;
    }
    const extend = () => {
      cur!.endLine = ln.index;
      cur!.text += `\n${t}`;
    };
    if ((m = DRIVER.exec(t))) {
      cur.fields.driver = m[1]!;
      cur.summary = `${cur.fields.device} ${cur.fields.name ?? ""} (driver ${m[1]})`.replace(/ +/g, " ");
      extend();
    } else if ((m = MODULES.exec(t))) {
      cur.fields.modules = m[1]!.trim();
      extend();
    } else if (ACS_CAP.test(t)) {
      inAcs = true;
      cur.fields.acs = true;
      extend();
    } else if (inAcs && (m = ACS_FLAGS.exec(t))) {
      const f = flags(m[2]!);
      for (const [k, v] of Object.entries(f)) cur.fields[`${m[1]}.${k}`] = v;
      if (m[1] === "ACSCtl") cur.fields.acsIsolates = f.SrcValid === true && f.ReqRedir === true && f.CmpltRedir === true && f.UpstreamFwd === true;
      extend();
    } else if (OTHER.test(t)) {
      inAcs = false;
      // lspci -v: "Flags: bus master, fast devsel, latency 0, IRQ 16, IOMMU group 1"
      const g = /^\s+(?:Flags: .*, )?IOMMU group (\d+)$/.exec(t);
      if (g) cur.fields.group = Number(g[1]);
      extend(); // other verbose lines belong to the device, not decoded
    } else skip.add(ln.index, "not an lspci line");
  }
  return { records, skipped: skip.items };
}
