/**
 * AMD-Vi lines (reference §4.2; drivers/iommu/amd/iommu.c iommu_print_event,
 * amd_iommu_report_page_fault, pr_fmt and dev_fmt "AMD-Vi: "): events of all eras, with and
 * without the device prefix, the two-printk form of older kernels, the dumps after an event.
 */
import { parseBdf } from "../records.js";
import { tooWide, type Fields, type LineContext, type RuleTable } from "./rule.js";

/** "<driver> <device>: " of dev_err/pci_err: a PCI address, the IOMMU's sysfs name (ivhd0) or another device name. */
const DEV_PREFIX = String.raw`(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|ivhd\d+|[\w.:-]+): `;
/**
 * "AMD-Vi: " comes from the string (< 4.20) or pr_fmt/dev_fmt (4.20 on). The 4.19 stable kernels from
 * 4.19.89 (1a21ee1aabf7 "iommu/amd: Fix line-break in error log reporting") print dev_err lines
 * without it: "<drv> 0000:BB:DD.F: Event logged [...]", so after a device prefix it is optional.
 */
const AMD_LEAD = String.raw`^(?:${DEV_PREFIX}(?:AMD-Vi: )?|AMD-Vi: )Event logged \[`;
const AMD_EVENT = new RegExp(String.raw`${AMD_LEAD}([A-Z_]+)(?: (.*?))?\]$`);
/** Older kernels printed "AMD-Vi: Event logged [" and the event as two records (printk 4.9-4.14, dev_err with the IOMMU's prefix 4.15-4.19). */
const AMD_EVENT_HEAD = /AMD-Vi: Event logged \[$/;
/**
 * iommu_print_event's default case prints no closing bracket: "Event logged [UNKNOWN event[0]=0x%08x
 * event[1]=0x%08x event[2]=0x%08x event[3]=0x%08x"; in 4.15-4.17 dev_err(dev, KERN_ERR "UNKNOWN ...")
 * left the level's bytes in the text, which dmesg(1) shows as "\x013".
 */
const AMD_UNKNOWN = new RegExp(String.raw`${AMD_LEAD}(?:\\x01\d)?(UNKNOWN) (event\[0\]=0x[0-9a-f]{8} event\[1\]=0x[0-9a-f]{8} event\[2\]=0x[0-9a-f]{8} event\[3\]=0x[0-9a-f]{8})$`);
/** ILLEGAL_DEV_TABLE_ENTRY: dev_err(dev, "Control Reg : 0x%llx\n", ctrl) and dump_dte_entry's "DTE[%d]: %016llx"; COMMAND errors: dump_command's "CMD[%d]: %08x". */
const AMD_DUMP = /^(?:(?:\S+ \S+: )?AMD-Vi: )?(?:DTE\[\d\]: [0-9a-f]{16}|CMD\[\d\]: [0-9a-f]{8}|Control Reg : 0x[0-9a-f]+)$/;
const AMD_OVERFLOW = /^(?:AMD-Vi: )?IOMMU event log overflow$/;
/** v6.6 on, amd_iommu_restart_log (init.c): pr_info_ratelimited("IOMMU %s log restarting\n") after an Event, PPR or GA log overflow. */
const AMD_LOG_RESTART = /^(?:AMD-Vi: )?IOMMU (Event|PPR|GA) log restarting$/;
const RESTARTED: Record<string, [string, string]> = {
  Event: ["EVENT_LOG_OVERFLOW", "the AMD-Vi event log overflowed (events were lost) and Linux restarted it"],
  PPR: ["PPR_LOG_OVERFLOW", "the AMD-Vi PPR log overflowed: page requests were lost (their devices got no response) and Linux restarted the log"],
  GA: ["GA_LOG_OVERFLOW", "the AMD-Vi guest virtual APIC log overflowed: vAPIC interrupt notifications were lost and Linux restarted the log"],
};
/**
 * amd_iommu_report_page_fault (v6.3..v6.18, removed since): pr_err_ratelimited("Event logged [Device
 * not attached to domain properly]\n") then ("  device=%04x:%02x:%02x.%x domain=0x%04x\n").
 */
const AMD_NOT_ATTACHED = /^(?:AMD-Vi: )?Event logged \[Device not attached to domain properly\]$/;
const AMD_NOT_ATTACHED_2 = /^(?:AMD-Vi: )?\s*device=([0-9a-f]{4}:)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) domain=0x([0-9a-f]+)$/;

/** IO_PAGE_FAULT flag bits (AMD IOMMU spec, IO_PAGE_FAULT event: event[1] bits 16..24; Linux defines EVENT_FLAG_I 0x008 and EVENT_FLAG_RW 0x020 in amd_iommu_types.h). */
export const AMD_PF_FLAGS: readonly [number, string][] = [
  [0x001, "guest"], // GN: the request had a PASID (guest / nested translation)
  [0x002, "execute"], // NX: execute permission was requested
  [0x004, "user"], // US: a user-mode (not supervisor) access
  [0x008, "interrupt"], // I: an interrupt request, not a memory access
  [0x010, "present"], // PR: the page was present (so a permission or reserved-bit fault, not a missing translation)
  [0x020, "write"], // RW: a write
  [0x040, "permission"], // PE: the access lacked permission
  [0x080, "reservedBit"], // RZ: a reserved bit was set in a page-table entry
  [0x100, "translationRequest"], // TR: an ATS translation request, not an untranslated access
];

export function amdPageFaultFlags(flags: number): Record<string, boolean> {
  return Object.fromEntries(AMD_PF_FLAGS.map(([bit, name]) => [name, (flags & bit) !== 0]));
}

/** An event (AMD_EVENT's or AMD_UNKNOWN's groups) ending on line `end`. */
function amdEvent(cx: LineContext, m: RegExpExecArray, end: number): void {
  const event = m[3]!;
  const kv: Record<string, string> = {};
  for (const p of (m[4] ?? "").split(/,?\s+/)) {
    const eq = p.indexOf("=");
    if (eq > 0) kv[p.slice(0, eq)] = p.slice(eq + 1).replace(/[\],]$/, "");
  }
  const devText = kv.device ?? (m[2] && /^[0-9a-f]{4}:/.test(m[2]) ? m[2] : undefined);
  const b = devText ? parseBdf(devText) : undefined;
  if (devText !== undefined && !b) {
    cx.skip(`device ${devText} is not a PCI address (a device number is 00-1f): not a kernel record`);
    if (end > cx.ln.index) cx.skip("the second half of an AMD-Vi event that is not a kernel record", end);
    return;
  }
  if (kv.address !== undefined && (!/^0x[0-9a-f]+$/.test(kv.address) || tooWide(kv.address.slice(2)))) return cx.skip("event address is not a 64-bit hex number: not a kernel record");
  const fields: Fields = { vendor: "amd", event };
  if (b) fields.device = b.key;
  if (m[1] && m[2] && /^[0-9a-f]{4}:/.test(m[2])) fields.driver = m[1];
  // 4.15-4.19 printed events with dev_err(&iommu->dev->dev, ...): "iommu ivhd0: AMD-Vi: Event logged
  // [...]", the prefix naming the IOMMU that logged it (synthesize.ts places the device in that unit).
  if (m[2] && /^ivhd\d+$/.test(m[2])) fields.unit = m[2];
  for (const k of ["domain", "address", "flags", "pasid", "tag"]) if (kv[k] !== undefined) fields[k] = kv[k]!;
  if (event === "UNKNOWN") fields.raw = m[4]!;
  if (kv.flags !== undefined) {
    const f = parseInt(kv.flags, 16);
    fields.write = (f & 0x020) !== 0; // EVENT_FLAG_RW
    fields.interrupt = (f & 0x008) !== 0; // EVENT_FLAG_I
    if (event === "IO_PAGE_FAULT") Object.assign(fields, amdPageFaultFlags(f));
  }
  const what = event === "IO_PAGE_FAULT" ? `${fields.interrupt ? "interrupt request" : fields.write ? "write" : "read"} by ${fields.device ?? "?"} to ${kv.address ?? "?"} in domain ${kv.domain ?? "?"} faulted (IO_PAGE_FAULT${kv.flags !== undefined ? `, ${fields.present ? "page present: a permission fault" : "page not present"}` : ""})` : `${event}${fields.device ? ` for ${fields.device}` : ""}${kv.address ? ` at ${kv.address}` : ""}`;
  cx.emit(cx.record("amdvi-event", what, fields, end));
}

export const AMDVI_RULES: RuleTable = {
  source: "AMD-Vi",
  rules: [
    {
      // The head of a two-record event: joined with the next line when that is the event's rest. The
      // dev_err form (4.15-4.19) repeats the head's "iommu ivhd0: " prefix on the rest; it is dropped.
      pattern: AMD_EVENT_HEAD,
      build: (_m, cx) => {
        if (cx.i + 1 >= cx.lines.length) return false;
        let next = cx.messageAt(cx.i + 1)!;
        const prefix = cx.t.slice(0, cx.t.length - "AMD-Vi: Event logged [".length);
        if (prefix !== "" && next.startsWith(prefix)) next = next.slice(prefix.length);
        if (!/^(?:[A-Z_]+ .*\]|(?:\\x01\d)?UNKNOWN event\[0\]=.*)$/.test(next)) return false;
        const joined = cx.t + next;
        const m = AMD_EVENT.exec(joined) ?? AMD_UNKNOWN.exec(joined);
        if (!m) return false;
        cx.i++;
        amdEvent(cx, m, cx.ln.index + 1);
      },
    },
    { pattern: AMD_EVENT, build: (m, cx) => amdEvent(cx, m, cx.ln.index) },
    { pattern: AMD_UNKNOWN, build: (m, cx) => amdEvent(cx, m, cx.ln.index) },
    {
      pattern: AMD_NOT_ATTACHED,
      build: (_m, cx) => {
        const fields: Fields = { vendor: "amd", event: "DEVICE_NOT_ATTACHED", message: "Device not attached to domain properly" };
        const next = cx.messageAt(cx.i + 1);
        const m2 = next !== undefined ? AMD_NOT_ATTACHED_2.exec(next) : null;
        const b = m2 ? parseBdf(`${m2[1] ?? ""}${m2[2]}:${m2[3]}.${m2[4]}`) : undefined;
        if (m2 && b) {
          fields.device = b.key;
          fields.domain = `0x${m2[5]}`;
          cx.i++;
        }
        cx.emit(cx.record("amdvi-event", `a DMA fault from ${fields.device ?? "a device"}${fields.domain ? ` (domain ${fields.domain})` : ""} that is not attached to any IOMMU domain`, fields, m2 && b ? cx.ln.index + 1 : cx.ln.index));
      },
    },
    { pattern: AMD_DUMP, when: (cx) => cx.lastIs("amdvi-event"), build: (_m, cx) => cx.attach() },
    { pattern: AMD_NOT_ATTACHED_2, when: (cx) => cx.lastIs("amdvi-event"), build: (_m, cx) => cx.attach() },
    { pattern: AMD_OVERFLOW, build: (_m, cx) => void cx.emit(cx.record("amdvi-event", "the AMD-Vi event log overflowed: events were lost", { vendor: "amd", event: "EVENT_LOG_OVERFLOW" })) },
    { pattern: AMD_LOG_RESTART, build: (m, cx) => void cx.emit(cx.record("amdvi-event", RESTARTED[m[1]!]![1], { vendor: "amd", event: RESTARTED[m[1]!]![0] })) },
  ],
};
