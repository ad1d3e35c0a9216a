/**
 * VM configurations: QEMU command lines (classic `-device drv,key=val` and JSON `-device {...}`,
 * backslash continuations, `-m`, `-machine`/`-M`, vfio-pci `host=`, intel-iommu / amd-iommu /
 * virtio-iommu-pci / `-machine virt,iommu=smmuv3`) and libvirt domain XML (name, memory with
 * its unit, hostdev PCI addresses, <iommu model> with its <driver> attributes, ioapic). One
 * `vm-config` record per fact, each on its source lines. Options are QEMU's (reference §9).
 */
import { parseLog } from "./dmesg.js";
import { splitLines } from "./lines.js";
import { SkipList, bdfText, parseBdf, type EvidenceRecord, type ImportResult } from "./records.js";

const UNITS: Record<string, bigint> = { "": 1n << 20n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n, b: 1n, kib: 1n << 10n, mib: 1n << 20n, gib: 1n << 30n, tib: 1n << 40n, bytes: 1n };

/** QEMU `-m` sizes: a plain number is MiB; suffixes K, M, G, T. */
export function qemuSize(text: string): bigint | undefined {
  const m = /^(\d+)([kmgt]?)b?$/i.exec(text.trim());
  return m ? BigInt(m[1]!) * UNITS[m[2]!.toLowerCase()]! : undefined;
}

interface Token {
  text: string;
  line: number;
}

/** Shell-like words with their lines; quotes removed, backslash-newline continuations joined. */
function words(text: string): Token[] {
  const out: Token[] = [];
  let line = 0;
  let cur = "";
  let curLine = -1;
  let quote = "";
  for (let i = 0; i < text.length && out.length < 100_000; i++) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
      if (quote) {
        cur += c;
        continue;
      }
    }
    if (quote) {
      // In double quotes a backslash escapes " \ $ and ` (POSIX shell); single quotes have no escapes.
      if (c === quote) quote = "";
      else if (quote === '"' && c === "\\" && /["\\$`]/.test(text[i + 1] ?? "")) cur += text[++i];
      else cur += c;
      continue;
    }
    if (c === "\\" && (text[i + 1] === "\n" || (text[i + 1] === "\r" && text[i + 2] === "\n"))) {
      i += text[i + 1] === "\r" ? 2 : 1;
      line++;
      continue;
    }
    if (c === "\\" && i + 1 < text.length && text[i + 1] !== "\n" && text[i + 1] !== "\r") {
      // Outside quotes a backslash makes the next character literal (`'\''` inside a quoted word).
      if (curLine < 0) curLine = line;
      cur += text[++i];
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      if (curLine < 0) curLine = line;
      continue;
    }
    if (/\s/.test(c)) {
      if (curLine >= 0) out.push({ text: cur, line: curLine });
      cur = "";
      curLine = -1;
      continue;
    }
    if (curLine < 0) curLine = line;
    cur += c;
  }
  if (curLine >= 0) out.push({ text: cur, line: curLine });
  return out;
}

/** `drv,key=val,key2=val2` or JSON `{"driver": ...}` -> a property map. */
function props(arg: string): Record<string, string> | undefined {
  if (arg.trimStart().startsWith("{")) {
    try {
      const o = JSON.parse(arg) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
    } catch {
      return undefined;
    }
  }
  const out: Record<string, string> = {};
  // Options split at single commas; a doubled comma is a comma inside a value (QemuOpts).
  const parts: string[] = [];
  let cur = "";
  for (let k = 0; k < arg.length; k++) {
    if (arg[k] !== ",") cur += arg[k];
    else if (arg[k + 1] === ",") {
      cur += ",";
      k++;
    } else {
      parts.push(cur);
      cur = "";
    }
  }
  parts.push(cur);
  parts.forEach((part, i) => {
    const eq = part.indexOf("=");
    if (eq < 0) out[i === 0 ? "driver" : part] = i === 0 ? part : "on";
    else out[part.slice(0, eq)] = part.slice(eq + 1);
  });
  return out;
}

const on = (v: string | undefined) => v === "on" || v === "true" || v === "yes" || v === "1";

/**
 * A QEMU command line starts with the binary (after a shell prompt, sudo or environment
 * assignments), followed by an option or a line continuation: "qemu-system-x86_64: -device ..." is
 * QEMU's error message, not a command.
 */
export const QEMU_COMMAND = /^(?:[^\n]*?[$#] +)?(?:sudo +(?:-\S+ +)*)?(?:[A-Za-z_]\w*=\S* +)*(?:\S*\/)?(?:qemu-system-[\w.-]+|qemu-kvm|kvm)(?=[ \t]+(?:-|\\\r?$))/;

/**
 * The lines of a text that are a QEMU command line: each line where one starts, with its
 * backslash continuations, and the `VAR=value \` lines libvirt writes before the binary in
 * /var/log/libvirt/qemu/<vm>.log.
 */
function commandLines(lines: string[]): Set<number> {
  const out = new Set<number>();
  const cont = (l: string) => /\\\r?$/.test(l);
  for (let i = 0; i < lines.length; i++) {
    if (!QEMU_COMMAND.test(lines[i]!)) continue;
    for (let k = i - 1; k >= 0 && cont(lines[k]!) && /^[A-Za-z_]\w*=\S* *\\\r?$/.test(lines[k]!); k--) out.add(k);
    out.add(i);
    while (cont(lines[i]!) && i + 1 < lines.length) out.add(++i);
  }
  return out;
}

/** `GPU=0000:01:00.0`, `export GPU="01:00.0"`: a script's variables, as a shell would set them. */
const ASSIGNMENT = /^\s*(?:export\s+|local\s+|readonly\s+|declare\s+(?:-\w+\s+)?)?([A-Za-z_]\w*)=("[^"]*"|'[^']*'|[^\s'"]*)\s*(?:#.*)?$/;
const ULIMIT = /^\s*ulimit\s+(?:-[A-Za-z]+\s+)*-l\s+(\d+|unlimited)\s*$/;
/** A line that is an option (or several) without the binary: a fragment of a command line or of a script's array. */
const OPTION_LINE = /^\s*(?:["']?-(?:device|machine|M|m|smp|name|object|global)["']?)\s+\S/;

/** `$NAME` and `${NAME}` replaced by the script's values; names it does not set are kept as written. */
function substitute(word: string, vars: Map<string, string>): string {
  if (!word.includes("$")) return word;
  return word.replace(/\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g, (all, a: string | undefined, b: string | undefined) => vars.get((a ?? b)!) ?? all);
}

/** QEMU option names (`caching-mode`, `x-scalable-mode`, `kernel_irqchip`) as JSON-style field names. */
function camel(name: string): string {
  return name.replace(/^x-/, "").replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** intel-iommu properties (QEMU hw/i386/intel_iommu.c vtd_properties) that are on/off switches. */
const VTD_SWITCHES = ["caching-mode", "device-iotlb", "eim", "x-scalable-mode", "x-pasid-mode", "x-flts", "dma-drain", "dma-translation", "snoop-control", "stale-tm", "pt"];
/** amd-iommu properties (hw/i386/amd_iommu.c amdvi_properties). */
const AMDVI_SWITCHES = ["xtsup", "dma-remap", "device-iotlb", "pt"];

export function parseQemuCommandLine(text: string): ImportResult {
  const lines = text.split("\n");
  const vars = new Map<string, string>();
  for (const l of lines) {
    const a = ASSIGNMENT.exec(l);
    if (a) vars.set(a[1]!, a[2]!.replace(/^(["'])(.*)\1$/, "$2"));
  }
  const records: EvidenceRecord[] = [];
  // A launcher script's `ulimit -l KiB`: the VMM's RLIMIT_MEMLOCK (bash's -l counts 1024-byte blocks).
  lines.forEach((l, k) => {
    const u = ULIMIT.exec(l);
    if (!u) return;
    const bytes = u[1] === "unlimited" ? undefined : BigInt(u[1]!) * 1024n;
    records.push({ kind: "vm-config", line: k, endLine: k, column: 0, text: l, summary: bytes === undefined ? "memlock unlimited" : `memlock limit ${bytes / (1n << 20n)} MiB`, fields: { source: "qemu", ...(bytes === undefined ? { memlockUnlimited: true } : { memlock: bytes.toString() }) }, context: [] });
  });
  // A command line with QEMU's (or libvirt's) messages around it, as in a libvirt qemu log: the
  // command-line lines are read as options, every other line as a log line (QEMU's errors are
  // records there). Without a recognisable command start, the whole text is read as options.
  const cmd = commandLines(lines);
  // A fragment: option lines without the binary (`-device vfio-pci,host=$GPU \`), and the
  // assignments a script makes before using them.
  for (let i = 0; i < lines.length; i++) {
    if (!cmd.has(i) && (OPTION_LINE.test(lines[i]!) || ASSIGNMENT.test(lines[i]!) || ULIMIT.test(lines[i]!) || /^#!/.test(lines[i]!))) {
      cmd.add(i);
      while (/\\\r?$/.test(lines[i]!) && i + 1 < lines.length) cmd.add(++i);
    }
  }
  const mixed = cmd.size > 0 && cmd.size < lines.length;
  const toks = words(mixed ? lines.map((l, k) => (cmd.has(k) ? l : "")).join("\n") : text);
  const skip = new SkipList();
  const rec = (line: number, summary: string, fields: EvidenceRecord["fields"]) => {
    records.push({ kind: "vm-config", line, endLine: line, column: 0, text: lines[line] ?? "", summary, fields: { source: "qemu", ...fields }, context: [] });
  };
  for (const t of toks) t.text = substitute(t.text, vars);
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!.text;
    const arg = toks[i + 1];
    if (!t.startsWith("-") || !arg) continue;
    const opt = t.replace(/^--/, "-");
    if (opt === "-m") {
      const p = props(arg.text.includes("=") ? arg.text : `size=${arg.text}`);
      const size = p?.size !== undefined ? qemuSize(p.size) : undefined;
      if (size !== undefined) rec(arg.line, `guest RAM ${size / (1n << 20n)} MiB`, { memory: size.toString() });
      i++;
    } else if (opt === "-machine" || opt === "-M") {
      const p = props(arg.text.startsWith("type=") || arg.text.includes("{") ? arg.text : `type=${arg.text}`.replace(/^type=([^,]*)/, "type=$1"));
      if (p) {
        const type = p.type ?? p.driver ?? "";
        // QEMU accepts kernel_irqchip and kernel-irqchip (object property names are normalised).
        const irqchip = p["kernel-irqchip"] ?? p.kernel_irqchip;
        const accel = p.accel;
        rec(arg.line, `machine ${type}${p.iommu ? ` with ${p.iommu}` : ""}${irqchip ? `, kernel-irqchip=${irqchip}` : ""}`, { machine: type, ...(p.iommu ? { viommu: p.iommu } : {}), ...(irqchip ? { kernelIrqchip: irqchip } : {}), ...(accel ? { accel } : {}) });
      }
      i++;
    } else if (opt === "-smp") {
      // -smp 8 | -smp cpus=8,sockets=1,cores=4,threads=2 | -smp sockets=1,cores=4,threads=2 (cpus = the product).
      const p = props(/^\d+(?:,|$)/.test(arg.text) ? `cpus=${arg.text}` : arg.text);
      const n = (k: string) => (p?.[k] !== undefined && /^\d+$/.test(p[k]) ? Number(p[k]) : undefined);
      const cpus = n("cpus") ?? (n("sockets") ?? 1) * (n("dies") ?? 1) * (n("cores") ?? 1) * (n("threads") ?? 1);
      if (cpus > 0) rec(arg.line, `${cpus} vCPU${cpus === 1 ? "" : "s"}`, { vcpus: cpus, ...(n("sockets") !== undefined ? { sockets: n("sockets")! } : {}), ...(n("cores") !== undefined ? { cores: n("cores")! } : {}), ...(n("threads") !== undefined ? { threads: n("threads")! } : {}) });
      i++;
    } else if (opt === "-name") {
      const p = props(arg.text.includes("=") ? arg.text : `guest=${arg.text}`);
      if (p?.guest) rec(arg.line, `VM ${p.guest}`, { name: p.guest });
      i++;
    } else if (opt === "-device") {
      const p = props(arg.text);
      i++;
      if (!p) {
        skip.add(arg.line, "a -device argument that is neither key=value nor JSON");
        continue;
      }
      const drv = p.driver ?? "";
      if (drv === "vfio-pci") {
        // host=SSSS:BB:DD.F, or sysfsdev=/sys/bus/pci/devices/SSSS:BB:DD.F (an mdev's sysfs path has no BDF).
        if (/\$/.test(p.host ?? p.sysfsdev ?? "")) {
          skip.add(arg.line, `vfio-pci ${p.host !== undefined ? `host=${p.host}` : `sysfsdev=${p.sysfsdev}`} uses a shell variable the text does not set`);
          continue;
        }
        const sys = p.sysfsdev !== undefined ? /\/((?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\/?$/.exec(p.sysfsdev)?.[1] : undefined;
        const src = p.host ?? sys;
        const b = src ? parseBdf(src) : undefined;
        if (!b) {
          skip.add(arg.line, p.host !== undefined ? `vfio-pci host=${p.host} is not a PCI address` : p.sysfsdev !== undefined ? `vfio-pci sysfsdev=${p.sysfsdev} names no PCI address (a mediated device?)` : "vfio-pci without host= or sysfsdev=");
          continue;
        }
        const extra: EvidenceRecord["fields"] = {};
        for (const k of ["addr", "bus", "romfile", "rombar", "bootindex"]) if (p[k] !== undefined) extra[camel(k)] = p[k]!;
        if (p["x-vga"] !== undefined) extra.vga = on(p["x-vga"]);
        if (p.multifunction !== undefined) extra.multifunction = on(p.multifunction);
        rec(arg.line, `assigns host device ${b.key} with vfio-pci`, { hostdev: b.key, ...(p.id ? { id: p.id } : {}), ...extra });
      } else if (drv === "intel-iommu") {
        const sw: EvidenceRecord["fields"] = {};
        for (const k of VTD_SWITCHES) if (p[k] !== undefined && k !== "caching-mode" && k !== "device-iotlb") sw[camel(k)] = on(p[k]);
        rec(arg.line, `vIOMMU intel-iommu, caching-mode=${on(p["caching-mode"]) ? "on" : "off"}${p.intremap ? `, intremap=${p.intremap}` : ""}`, { viommu: "intel", cachingMode: on(p["caching-mode"]), intremap: p.intremap ?? "", awBits: Number(p["aw-bits"] ?? 39), deviceIotlb: on(p["device-iotlb"]), ...sw });
      } else if (drv === "amd-iommu") {
        const sw: EvidenceRecord["fields"] = {};
        for (const k of AMDVI_SWITCHES) if (p[k] !== undefined) sw[camel(k)] = on(p[k]);
        rec(arg.line, "vIOMMU amd-iommu", { viommu: "amd", intremap: p.intremap ?? "", ...sw });
      } else if (drv === "virtio-iommu-pci" || drv === "virtio-iommu") {
        rec(arg.line, "vIOMMU virtio-iommu", { viommu: "virtio" });
      } else if (drv === "arm-smmuv3") {
        // QEMU 10's user-creatable SMMUv3 (-device arm-smmuv3,primary-bus=...), one per PCIe root.
        rec(arg.line, `vIOMMU arm-smmuv3${p["primary-bus"] ? ` on ${p["primary-bus"]}` : ""}`, { viommu: "smmuv3", ...(p["primary-bus"] ? { primaryBus: p["primary-bus"] } : {}) });
      }
    }
  }
  if (mixed) {
    const log = parseLog(lines.map((l, k) => (cmd.has(k) ? "" : l)).join("\n"));
    records.push(...log.records);
    for (const s of log.skipped) for (let l = s.line; l <= s.endLine; l++) if (!cmd.has(l)) skip.add(l, s.reason);
    records.sort((x, y) => x.line - y.line);
  }
  return { records: records.sort((x, y) => x.line - y.line), skipped: [...skip.items].sort((x, y) => x.line - y.line) };
}

// ---------------------------------------------------------------- libvirt XML

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  line: number;
  text: string;
  parent?: XmlElement;
}

/** The five predefined entities and character references (XML 1.0 §4.6, §4.1), in one pass. */
function xmlDecode(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(?:(amp|lt|gt|apos|quot)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/g, (all, name: string | undefined, dec: string | undefined, hexa: string | undefined) => {
    if (name) return ({ amp: "&", lt: "<", gt: ">", apos: "'", quot: '"' } as Record<string, string>)[name]!;
    const cp = dec !== undefined ? Number(dec) : parseInt(hexa!, 16);
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
  });
}

/** A small XML reader with line numbers: elements, attributes, text. Never throws. */
export function readXml(text: string): { elements: XmlElement[]; error?: { line: number; message: string } } {
  const elements: XmlElement[] = [];
  const stack: XmlElement[] = [];
  const re = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  let line = 0;
  let last = 0;
  const advance = (to: number) => {
    for (let k = last; k < to; k++) if (text.charCodeAt(k) === 10) line++;
    last = to;
  };
  for (const m of text.matchAll(re)) {
    advance(m.index ?? 0);
    if (m[6]) return { elements, error: { line, message: "a '<' that does not start a tag" } };
    if (m[5] !== undefined) {
      const top = stack[stack.length - 1];
      if (top) top.text += xmlDecode(m[5]);
      continue;
    }
    if (!m[2]) continue;
    if (m[1]) {
      const top = stack.pop();
      if (!top || top.name !== m[2]) return { elements, error: { line, message: `</${m[2]}> closes ${top ? `<${top.name}>` : "nothing"}` } };
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of (m[3] ?? "").matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs[a[1]!] = xmlDecode(a[2] ?? a[3] ?? "");
    const el: XmlElement = { name: m[2], attrs, line, text: "" };
    const parent = stack[stack.length - 1];
    if (parent) el.parent = parent;
    elements.push(el);
    if (!m[4]) stack.push(el);
  }
  if (stack.length) return { elements, error: { line, message: `<${stack[stack.length - 1]!.name}> is never closed` } };
  return { elements };
}

const XML_UNITS: Record<string, bigint> = { b: 1n, bytes: 1n, k: 1n << 10n, kib: 1n << 10n, kb: 1000n, m: 1n << 20n, mib: 1n << 20n, mb: 1000000n, g: 1n << 30n, gib: 1n << 30n, gb: 1000000000n, t: 1n << 40n, tib: 1n << 40n };

export function parseLibvirtXml(text: string): ImportResult {
  const { elements, error } = readXml(text);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  const lines = splitLines(text);
  const rec = (line: number, summary: string, fields: EvidenceRecord["fields"]) => {
    records.push({ kind: "vm-config", line, endLine: line, column: 0, text: lines[line]?.text ?? "", summary, fields: { source: "libvirt", ...fields }, context: [] });
  };
  if (error) skip.add(error.line, `XML error: ${error.message}`);
  for (const el of elements) {
    const parentName = el.parent?.name;
    if (el.name === "name" && parentName === "domain") rec(el.line, `VM ${el.text.trim()}`, { name: el.text.trim() });
    else if (el.name === "memory" && parentName === "domain") {
      const unit = XML_UNITS[(el.attrs.unit ?? "KiB").toLowerCase()] ?? 1024n;
      const n = /^\d+$/.test(el.text.trim()) ? BigInt(el.text.trim()) * unit : undefined;
      if (n !== undefined) rec(el.line, `guest RAM ${n / (1n << 20n)} MiB`, { memory: n.toString() });
    } else if (el.name === "type" && parentName === "os" && el.attrs.machine) rec(el.line, `machine ${el.attrs.machine}`, { machine: el.attrs.machine });
    else if (el.name === "address" && parentName === "source" && el.parent?.parent?.name === "hostdev" && el.parent.parent.attrs.type === "pci") {
      const n = (k: string) => parseInt(el.attrs[k] ?? "0", el.attrs[k]?.startsWith("0x") ? 16 : 10);
      const seg = n("domain");
      if ([seg, n("bus"), n("slot"), n("function")].some(Number.isNaN) || seg > 0xffff || n("bus") > 0xff || n("slot") > 0x1f || n("function") > 7) {
        skip.add(el.line, "a hostdev <address> that is not a PCI address");
        continue;
      }
      const key = `${seg ? `${seg.toString(16).padStart(4, "0")}:` : ""}${bdfText(n("bus"), n("slot"), n("function"))}`;
      const hostdev = el.parent.parent;
      const child = (name: string) => elements.find((x) => x.parent === hostdev && x.name === name);
      const extra: EvidenceRecord["fields"] = {};
      const alias = child("alias")?.attrs.name;
      if (alias) extra.alias = alias;
      const driver = child("driver")?.attrs.name;
      if (driver) extra.driver = driver;
      const rom = child("rom")?.attrs;
      if (rom?.bar) extra.rombar = rom.bar;
      if (rom?.file) extra.romfile = rom.file;
      if (rom?.enabled) extra.romEnabled = rom.enabled === "yes";
      // The hostdev's own <address> is where the guest sees it (type pci, drive, ...).
      const guest = child("address");
      if (guest) {
        const g = guest.attrs;
        extra.guestAddressType = g.type ?? "pci";
        if ((g.type ?? "pci") === "pci" && g.bus !== undefined && g.slot !== undefined) {
          const gn = (k: string) => parseInt(g[k] ?? "0", g[k]?.startsWith("0x") ? 16 : 10);
          const gs = gn("domain");
          if (![gs, gn("bus"), gn("slot"), gn("function")].some(Number.isNaN)) extra.guestAddress = `${gs.toString(16).padStart(4, "0")}:${bdfText(gn("bus"), gn("slot"), gn("function"))}`;
          if (g.multifunction) extra.multifunction = g.multifunction === "on";
        }
      }
      const boot = child("boot")?.attrs.order;
      if (boot) extra.bootOrder = Number(boot);
      rec(el.line, `assigns host device ${key} (hostdev, managed=${hostdev.attrs.managed ?? "no"}${alias ? `, alias ${alias}` : ""})`, { hostdev: key, managed: hostdev.attrs.managed === "yes", ...extra });
    } else if (el.name === "iommu") {
      const drv = elements.find((x) => x.parent === el && x.name === "driver");
      const a = drv?.attrs ?? {};
      // libvirt formatdomain "IOMMU devices": <driver> intremap, caching_mode, eim, iotlb, aw_bits,
      // dma_translation (intel); xtsup, passthrough (amd) - every other attribute is kept by its name.
      const sw: EvidenceRecord["fields"] = {};
      for (const [k, v] of Object.entries(a)) if (!["intremap", "caching_mode", "iotlb", "aw_bits"].includes(k)) sw[camel(k)] = v === "on" ? true : v === "off" ? false : v;
      rec(el.line, `vIOMMU ${el.attrs.model ?? "?"}${a.caching_mode ? `, caching_mode=${a.caching_mode}` : ""}${a.intremap ? `, intremap=${a.intremap}` : ""}`, { viommu: el.attrs.model ?? "", cachingMode: a.caching_mode === "on", intremap: a.intremap ?? "", awBits: Number(a.aw_bits ?? 0) || 39, deviceIotlb: a.iotlb === "on", ...sw });
    } else if (el.name === "vcpu" && parentName === "domain" && /^\d+$/.test(el.text.trim())) {
      const n = Number(el.text.trim());
      rec(el.line, `${n} vCPU${n === 1 ? "" : "s"}`, { vcpus: n, ...(el.attrs.placement ? { placement: el.attrs.placement } : {}) });
    } else if (el.name === "ioapic" && parentName === "features") rec(el.line, `ioapic driver=${el.attrs.driver ?? "kvm"}`, { ioapic: el.attrs.driver ?? "kvm" });
    else if (el.name === "hard_limit" && parentName === "memtune") {
      const unit = XML_UNITS[(el.attrs.unit ?? "KiB").toLowerCase()] ?? 1024n;
      if (/^\d+$/.test(el.text.trim())) rec(el.line, `memlock hard limit ${(BigInt(el.text.trim()) * unit) / (1n << 20n)} MiB`, { memlock: (BigInt(el.text.trim()) * unit).toString() });
    }
  }
  return { records, skipped: skip.items };
}
