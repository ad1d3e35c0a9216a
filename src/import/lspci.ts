/**
 * `lspci -nn`, `-nnk` and `-vvv` excerpts: one record per device with class, vendor:device,
 * name, the kernel driver in use and the kernel modules, and the ACS capability (ACSCap / ACSCtl
 * flags) when the verbose listing shows it. Linux isolates a port only with SV, RR, CR and UF
 * enabled (REQ_ACS_FLAGS, reference §7), so `acsIsolates` says whether ACSCtl has all four.
 */
import { PROMPT, describeLspci } from "./groups.js";
import { MAX_LINE, splitLines, stripAnsi } from "./lines.js";
import { SkipList, parseBdf, type EvidenceRecord, type ImportResult } from "./records.js";

/**
 * A device line, with what a paste puts before it: a mail quote (`> `), a markdown code block's or
 * a forum's indentation. The same prefix is then taken off the device's detail lines.
 */
const DEVICE = /^((?:>+ ?)*[ \t]*)((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) (.+)$/;
/** Detail lines; forums and chat clients often drop the leading tab, so it is optional here. */
const DRIVER = /^\s*Kernel driver in use: (\S+)\s*$/;
const MODULES = /^\s*Kernel modules: (.+)$/;
const SUBSYSTEM = /^\s*Subsystem: (.+)$/;
/** Other `-k`/`-v` detail lines that lost their indentation in a paste. */
const BARE_DETAIL = /^(?:Flags|Control|Status|Capabilities|Latency|Interrupt|Region|Physical Slot|DeviceName|IOMMU group|Bus|Expansion ROM at|Memory at|I\/O ports at|NUMA node): /;
/** `grep -A`/`-B` prints `--` between groups of matches. */
const GREP_SEPARATOR = /^--$/;
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
  /** The quote/indentation prefix of the current device's line. */
  let prefix = "";
  for (const ln of lines) {
    const raw = ln.text;
    if (raw.length > MAX_LINE) {
      skip.add(ln.index, "line too long");
      continue;
    }
    const t0 = stripAnsi(raw);
    // A paste's prefix comes off a detail line only when the line carries it.
    const t = prefix && t0.startsWith(prefix) ? t0.slice(prefix.length) : t0;
    if (t.trim() === "" || /^>+\s*$/.test(t0.trim())) {
      cur = undefined;
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = DEVICE.exec(t0))) {
      const b = parseBdf(m[2]!);
      if (!b) {
        skip.add(ln.index, "not a PCI address");
        continue;
      }
      prefix = m[1]!;
      const fields: EvidenceRecord["fields"] = { device: b.key, ...describeLspci(m[3]!) };
      const name = fields.name ?? fields.description ?? (fields.vendorId !== undefined ? `[${fields.vendorId}:${fields.deviceId}]` : "");
      cur = { kind: "pci-device", line: ln.index, endLine: ln.index, column: prefix.length, text: raw, summary: `${b.key} ${name}`.trim(), fields, context: [] };
      records.push(cur);
      inAcs = false;
      continue;
    }
    if (PROMPT.test(t0.trim())) {
      // `user@host:~$ lspci -nnk`: the command, not output; what follows starts afresh.
      skip.add(ln.index, "shell prompt");
      cur = undefined;
      continue;
    }
    if (GREP_SEPARATOR.test(t.trim())) {
      skip.add(ln.index, "grep separator");
      cur = undefined;
      continue;
    }
    if (!cur) {
      skip.add(ln.index, "not an lspci device line");
      continue;
    }
    const extend = () => {
      cur!.endLine = ln.index;
      cur!.text += `\n${raw}`;
    };
    if ((m = DRIVER.exec(t))) {
      cur.fields.driver = m[1]!;
      const name = cur.fields.name ?? (cur.fields.vendorId !== undefined ? `[${cur.fields.vendorId}:${cur.fields.deviceId}]` : "");
      cur.summary = `${cur.fields.device} ${name} (driver ${m[1]})`.replace(/ +/g, " ");
      extend();
    } else if ((m = MODULES.exec(t))) {
      cur.fields.modules = m[1]!.trim();
      extend();
    } else if ((m = SUBSYSTEM.exec(t))) {
      inAcs = false;
      cur.fields.subsystem = m[1]!.trim();
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
    } else if (OTHER.test(t) || BARE_DETAIL.test(t)) {
      inAcs = false;
      // lspci -v: "Flags: bus master, fast devsel, latency 0, IRQ 16, IOMMU group 1"
      const g = /^\s+(?:Flags: .*, )?IOMMU group (\d+)$/.exec(t);
      if (g) cur.fields.group = Number(g[1]);
      extend(); // other verbose lines belong to the device, not decoded
    } else skip.add(ln.index, "not an lspci line");
  }
  return { records, skipped: skip.items };
}
