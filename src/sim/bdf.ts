/**
 * PCI addresses, the one parser and formatter: segment (PCI domain), bus, device, function, and
 * the 16-bit requester id (source id) the IOMMU sees. Text forms:
 *  - "BB:DD.F" / "SSSS:BB:DD.F" (lspci, sysfs, the scenario format; segment 0 is written without
 *    its prefix in a key, with it in the kernel's `dev_name()` form "0000:01:00.0"),
 *  - a source id as Linux's fault handler prints it: `%02x:%02x.%d` of `sid >> 8`,
 *    `PCI_SLOT(sid & 0xff)`, `PCI_FUNC(sid & 0xff)` (drivers/iommu/intel/dmar.c dmar_fault_do_one;
 *    v5.14 printed each number with "0x", 719a19335692).
 * Parsing accepts hex in either case, an optional "0x" before bus and device (old kernel logs),
 * and surrounding blanks; every number is range-checked with a message and a hint.
 * A leaf module: no imports, so every layer (scenario, import, sim, engine) can use it.
 */

export interface Bdf {
  /** PCI segment (domain), 0..0xffff. */
  segment: number;
  bus: number;
  /** Device (slot) number, 0..0x1f. */
  device: number;
  /** Function number, 0..7. */
  fn: number;
}

export type BdfParse = { ok: true; bdf: Bdf; key: string } | { ok: false; message: string; hint: string };

const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
const quoted = (s: string) => JSON.stringify(s);

const BDF_TEXT = /^\s*(?:([0-9a-f]+):)?(?:0x)?([0-9a-f]+):(?:0x)?([0-9a-f]+)\.([0-9a-f]+)\s*$/i;

/** Parses "BB:DD.F" or "SSSS:BB:DD.F" (hex); `key` is the normalised text (formatBdf). */
export function parseBdf(raw: string): BdfParse {
  const m = BDF_TEXT.exec(raw);
  if (!m) return { ok: false, message: `${quoted(raw)} is not a PCI address`, hint: 'Write it as BB:DD.F or SSSS:BB:DD.F in hex, e.g. "01:00.0".' };
  const num = (s: string) => (s.replace(/^0+(?=.)/, "").length > 8 ? Infinity : parseInt(s, 16));
  const segment = m[1] === undefined ? 0 : num(m[1]);
  const bus = num(m[2]!);
  const device = num(m[3]!);
  const fn = num(m[4]!);
  const big = (n: number) => (n === Infinity ? m[0].trim() : `0x${n.toString(16)}`);
  if (segment > 0xffff) return { ok: false, message: `BDF ${quoted(raw)}: segment ${big(segment)} is above 0xffff`, hint: "A PCI segment (domain) is 16 bits." };
  if (bus > 0xff) return { ok: false, message: `BDF ${quoted(raw)}: bus ${big(bus)} is above 0xff`, hint: "A PCI bus number is 00..ff (8 bits)." };
  if (device > 0x1f) return { ok: false, message: `BDF ${quoted(raw)}: device number ${big(device)} is above 0x1f`, hint: "A PCI device number is 0..1f (5 bits); functions are 0..7." };
  if (fn > 7) return { ok: false, message: `BDF ${quoted(raw)}: function ${fn === Infinity ? m[4] : fn} is above 7`, hint: "A PCI function number is 0..7 (3 bits)." };
  const bdf = { segment, bus, device, fn };
  return { ok: true, bdf, key: formatBdf(bdf) };
}

/** The normalised key of a BDF text ("0000:4:0.0" -> "04:00.0"), or undefined when it is not one. */
export function bdfKey(raw: string): string | undefined {
  const p = parseBdf(raw);
  return p.ok ? p.key : undefined;
}

/**
 * "BB:DD.F", with "SSSS:" in front when the segment is not 0 (`segment: "auto"`, the scenario's
 * keys) or always (`"always"`: the kernel's dev_name(), "0000:01:00.0").
 */
export function formatBdf(b: Bdf, segment: "auto" | "always" = "auto"): string {
  const core = `${hex(b.bus, 2)}:${hex(b.device, 2)}.${b.fn}`;
  return segment === "always" || b.segment !== 0 ? `${hex(b.segment, 4)}:${core}` : core;
}

/** "DD.F" of a devfn byte (device << 3 | function). */
export function formatDevfn(devfn: number): string {
  return `${hex((devfn >> 3) & 0x1f, 2)}.${devfn & 7}`;
}

/** Requester id (source id) of bus and devfn: bus << 8 | devfn. */
export function sidOf(bus: number, devfn: number): number {
  return ((bus & 0xff) << 8) | (devfn & 0xff);
}

/** Requester id of a BDF (the segment is not part of it). */
export function sidOfBdf(b: Bdf): number {
  return sidOf(b.bus, (b.device << 3) | b.fn);
}

/** The BDF of a requester id in `segment`. */
export function bdfOfSid(sid: number, segment = 0): Bdf {
  return { segment, bus: (sid >> 8) & 0xff, device: (sid >> 3) & 0x1f, fn: sid & 7 };
}

/** A requester id as Linux prints it: "BB:DD.F". */
export function formatSid(sid: number): string {
  return `${hex((sid >> 8) & 0xff, 2)}:${hex((sid >> 3) & 0x1f, 2)}.${sid & 7}`;
}

/** A requester id as v5.14's dmar_fault_do_one() printed it: "0xBB:0xDD.F" (719a19335692). */
export function formatSidZeroX(sid: number): string {
  return `0x${hex((sid >> 8) & 0xff, 2)}:0x${hex((sid >> 3) & 0x1f, 2)}.${sid & 7}`;
}
