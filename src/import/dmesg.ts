/**
 * Kernel and VMM log text (dmesg, journalctl, syslog, a QEMU stderr) -> IOMMU records:
 * Intel DMAR faults in every kernel generation (reference §3: the ≤4.6 two-line form, 4.7-5.3,
 * 5.4-5.13 with `PASID ffffffff` and decimal reasons, 5.14 with 0x-prefixed BDFs, 5.15+ with
 * NO_PASID / PASID and hex reasons), INTR-REMAP faults, AMD-Vi events (§4.2, all eras, with and
 * without the device prefix), Arm SMMUv3 events (raw dump and the decoded lines, §5.3) and SMMUv2
 * context faults (§5.5), VFIO / QEMU / RMRR messages (§6, §7). Context lines attach to records.
 * Pure, line by line, bounded work per line.
 */
import { dmarGetFaultReason } from "../sim/vtd/reasons.js";
import { LineIndex, MAX_LINE, UTF16_REASON, looksUtf16, messageOf, type Line } from "./lines.js";
import { SkipList, bdfText, hex, parseBdf, type EvidenceRecord, type ImportResult } from "./records.js";

const BDF = "(?:0x)?([0-9a-f]{2}):(?:0x)?([0-9a-f]{2})\\.([0-7])";
const PRE = "(?:(?:dmar|DMAR): )?";
// ≤ v4.6 (two lines).
const OLD_DMA_1 = new RegExp(`^${PRE}DMAR:\\[(DMA Read|DMA Write)\\] Request device \\[${BDF}\\] fault addr ([0-9a-f]+) ?$`);
const OLD_DMA_2 = /^(?:(?:dmar|DMAR): )?DMAR:\[fault reason (\d+)\] (.*)$/;
const OLD_IR_1 = new RegExp(`^${PRE}INTR-REMAP: Request device \\[\\[${BDF}\\] fault index ([0-9a-f]+)$`);
const OLD_IR_2 = /^(?:(?:dmar|DMAR): )?INTR-REMAP:\[fault reason (\d+)\] (.*)$/;
// v4.7 .. v5.13 (decimal reason; PASID %x from v5.4, see sim/vtd/dmesg.ts kernelEra).
const MID_DMA = new RegExp(`^${PRE}\\[(DMA Read|DMA Write)\\] Request device \\[${BDF}\\] (?:PASID ([0-9a-f]+) )?fault addr ([0-9a-f]+) \\[fault reason (\\d+)\\] (.*)$`);
// v5.14 and v5.15+ (hex reason; 0x-prefixed BDF in 5.14).
const NEW_DMA = new RegExp(`^${PRE}\\[(DMA Read|DMA Write) (?:NO_PASID|PASID 0x([0-9a-f]+))\\] Request device \\[${BDF}\\] fault addr 0x([0-9a-f]+) \\[fault reason 0x([0-9a-f]+)\\] (.*)$`);
const IR = new RegExp(`^${PRE}\\[INTR-REMAP\\] Request device \\[${BDF}\\] fault index (0x)?([0-9a-f]+) \\[fault reason (0x)?([0-9a-f]+)\\] (.*)$`);
const DRHD = /^(?:(?:dmar|DMAR): )?DRHD: handling fault status reg ([0-9a-f]+)$/;
const SUPPRESSED = /^(\w+): (\d+) callbacks suppressed$/;
/**
 * CONFIG_DMAR_DEBUG page-walk dump, drivers/iommu/intel/iommu.c dmar_fault_dump_ptes() and
 * pgtable_walk() (pr_fmt "DMAR: "), printed after the fault by dmar_fault_do_one(). Both texts:
 *  - v5.17..6.7: "root table entry is not present", "context table entry is not present",
 *    "pasid directory entry is not present", "pasid table entry is not present",
 *    "PTE not present at level %d";
 *  - from commit 6ceb93f952f6 ("iommu/vt-d: Fix some issues in dmar_fault_dump_ptes()", 6.8, and
 *    stable): "root table is not present", "context table is not present", "legacy mode page table
 *    is not present", "pasid directory table is not present", "pasid table is not present",
 *    "scalable mode page table is not present", "page table not present at level %d" (level - 1).
 * Unchanged: "Dump %s table entries for IOVA 0x%llx", "root entry: 0x%016llx",
 * "scalable mode root entry: hi 0x%016llx, low 0x%016llx", "context entry: hi 0x%016llx, low
 * 0x%016llx", "pasid dir entry: 0x%016llx", "pasid table entry[%d]: 0x%016llx",
 * "pte level: %d, pte value: 0x%016llx".
 */
const PTE_DUMP = /^(?:(?:dmar|DMAR): )?(?:Dump \S+ table entries for IOVA 0x[0-9a-f]+|root entry: 0x[0-9a-f]{1,16}|scalable mode root entry: hi 0x[0-9a-f]{1,16}, low 0x[0-9a-f]{1,16}|context entry: hi 0x[0-9a-f]{1,16}, low 0x[0-9a-f]{1,16}|pasid dir entry: 0x[0-9a-f]{1,16}|pasid table entry\[\d\]: 0x[0-9a-f]{1,16}|pte level: \d, pte value: 0x[0-9a-f]{1,16}|page table not present at level -?\d|PTE not present at level \d|(?:root|context) table (?:entry )?is not present|legacy mode page table is not present|pasid directory (?:table|entry) is not present|pasid table (?:entry )?is not present|scalable mode page table is not present)$/;

// AMD-Vi (reference §4.2; drivers/iommu/amd/iommu.c iommu_print_event, amd_iommu_report_page_fault,
// pr_fmt and dev_fmt "AMD-Vi: ").
const AMD_EVENT = /^(?:(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|ivhd\d+|[\w.:-]+): )?AMD-Vi: Event logged \[([A-Z_]+)(?: (.*?))?\]$/;
/** iommu_print_event's default case prints no closing bracket: "Event logged [UNKNOWN event[0]=0x%08x event[1]=0x%08x event[2]=0x%08x event[3]=0x%08x". */
const AMD_UNKNOWN = /^(?:(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|ivhd\d+|[\w.:-]+): )?AMD-Vi: Event logged \[(UNKNOWN) (event\[0\]=0x[0-9a-f]{8} event\[1\]=0x[0-9a-f]{8} event\[2\]=0x[0-9a-f]{8} event\[3\]=0x[0-9a-f]{8})$/;
/** ILLEGAL_DEV_TABLE_ENTRY: dev_err(dev, "Control Reg : 0x%llx\n", ctrl) and dump_dte_entry's "DTE[%d]: %016llx"; COMMAND errors: dump_command's "CMD[%d]: %08x". */
const AMD_DUMP = /^(?:(?:\S+ \S+: )?AMD-Vi: )?(?:DTE\[\d\]: [0-9a-f]{16}|CMD\[\d\]: [0-9a-f]{8}|Control Reg : 0x[0-9a-f]+)$/;
const AMD_OVERFLOW = /^(?:AMD-Vi: )?IOMMU event log overflow$/;
/**
 * amd_iommu_report_page_fault (v6.3..v6.18, removed since): pr_err_ratelimited("Event logged [Device
 * not attached to domain properly]\n") then ("  device=%04x:%02x:%02x.%x domain=0x%04x\n").
 */
const AMD_NOT_ATTACHED = /^(?:AMD-Vi: )?Event logged \[Device not attached to domain properly\]$/;
const AMD_NOT_ATTACHED_2 = /^(?:AMD-Vi: )?\s*device=([0-9a-f]{4}:)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) domain=0x([0-9a-f]+)$/;

// Arm SMMUv3 and SMMUv2 (reference §5.3, §5.5).
const SMMU_EVENT = /^(arm-smmu-v3 \S+|[\w.:-]+ [\w.:-]+): event 0x([0-9a-f]{2}) received:$/;
const SMMU_RAW = /^(arm-smmu-v3 \S+|[\w.:-]+ [\w.:-]+):\s+0x([0-9a-f]{16})$/;
const SMMU_DECODED = /^(?:arm-smmu-v3 \S+: )?event: (\S+) client: (.+?) sid: (0x[0-9a-f]+|0) ssid: (0x[0-9a-f]+|0)(?: iova: (0x[0-9a-f]+|0) ipa: (0x[0-9a-f]+|0)| fetch_addr: (0x[0-9a-f]+|0))?$/;
const SMMU_DECODED_2 = /^(?:arm-smmu-v3 \S+: )?(priv|unpriv) (inst|data) (read|write) (s2|s1) "(.*)"( ttd_read| ttd_write)?( stall)? stag: (0x[0-9a-f]+|0)$/;
const SMMU_OVERFLOW = /^(?:arm-smmu-v3 \S+: )?EVTQ overflow detected -- events lost$/;
/** arm_smmu_context_fault: dev_err(smmu->dev, ...), so the device prefix (when there is one) is the SMMU's ("arm-smmu 15000000.iommu: "). */
const SMMU2 = /(?:^|^[\w-]*smmu[\w-]* \S+: |\s[\w-]*smmu[\w-]* \S+: )Unhandled context fault: fsr=0x([0-9a-f]+), iova=0x([0-9a-f]+), fsynr=0x([0-9a-f]+)(?:, cbfrsynra=0x([0-9a-f]+))?, cb=(\d+)$/;
/** The register dump newer kernels print after a context fault (arm_smmu_print_context_fault_info). */
const SMMU2_DUMP = /(?:^|\s)(?:FSR\s+= [0-9a-f]{8} \[|FSYNR[01]?\s+= |FAR\s+= |CBFRSYNRA\s+= |soft iova-to-phys=)/;

// VFIO, QEMU, RMRR, groups (reference §6, §7).
/**
 * A QEMU error as it reaches a log: QEMU's error_report() prints "<program>: " and, for an option,
 * the option and its argument ("-device vfio-pci,host=...: "); `-msg timestamp=on` puts an ISO time
 * first; libvirt wraps it ("internal error: qemu unexpectedly closed the monitor: ...",
 * "internal error: process exited while connecting to monitor: ...", with libvirt's own
 * "error : qemuProcessReportLogError:2051 : " in the journal). Proxmox runs QEMU as `kvm`.
 */
const QEMU_PREFIX = /^(?:error : \w+:\d+ : )?(?:internal error: )?(?:(?:[Qq][Ee][Mm][Uu] unexpectedly closed the monitor(?: \([^)]*\))?|process exited while connecting to monitor): )?(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z? )?(qemu-system-[\w-]+|qemu-kvm|kvm|qemu): (?:(-device \S+?): )?/;
/** QEMU's VFIO_MSG_PREFIX "vfio %s: " (hw/vfio: error_prepend in vfio_realize) or the older "vfio: " of error_report. */
const VFIO_PREFIX = /^vfio(?: (\S+?))?: /;
/** Kernel device prefix from dev_printk: "vfio-pci 0000:07:00.0: ", then the driver's dev_fmt ("DMAR: "). */
const KDEV = /^([\w.-]+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): (?:(?:DMAR|AMD-Vi|iommu): )?/;
/** hw/vfio (vfio_get_group / vfio_group_get): "group %d is not viable"; older QEMU "vfio: error, group %d is not viable, please ensure ...". */
const NOT_VIABLE = /^(?:error, )?group (\d+) is not viable(?:, please ensure all devices within the iommu_group are bound to their vfio bus driver\.?)?$/;
/** Its error_append_hint. */
const VIABLE_HINT = /^Please ensure all devices within the iommu_group are bound to their vfio bus driver\.?$/;
/** hw/vfio container.c vfio_connect_container: error_prepend(errp, "failed to setup container for group %d: ", group->groupid). */
const SETUP_CONTAINER = /^failed to setup container for group (\d+): (.+)$/;
/**
 * hw/vfio container.c vfio_set_iommu / older vfio_connect_container: error_setg_errno(errp, errno,
 * "Failed to set group container") ("failed to set group container" before, "vfio: failed to set
 * group container: %m" in QEMU 1.x-2.x error_report); the same for "... set iommu for container".
 */
const SET_GROUP_CONTAINER = /^(?:vfio: )?[Ff]ailed to set group container: (.+)$/;
const SET_IOMMU = /^(?:vfio: )?[Ff]ailed to set iommu for container: (.+)$/;
/** hw/vfio vfio_get_device / vfio_device_get: "error getting device from group %d" (errno appended); QEMU 1.x "vfio: error getting device %s from group %d: %m". */
const GET_DEVICE = /^(?:vfio: )?error getting device (?:(\S+) )?from group (\d+): (.+)$/;
/** Its hint: "Verify all devices in group %d are bound to vfio-<bus> or pci-stub and not already in use" (older: "... to vfio-pci or pci-stub ...", "... to the vfio driver and are not already in use"). */
const VERIFY_HINT = /^Verify all devices in group (\d+) are bound to (?:vfio-<bus>|vfio-pci|the vfio(?: platform)? driver)(?: or pci-stub)? and (?:are )?not already in use$/;
/** hw/vfio vfio_get_group: error_setg_errno(errp, errno, "failed to open %s", path). */
const GROUP_OPEN = /^failed to open \/dev\/vfio\/(\d+): (.+)$/;
/** hw/i386/intel_iommu.c vtd_panic_require_caching_mode (older QEMU: without "with IOMMU protection"). */
const CACHING_MODE = /^We need to set caching-mode=on for intel-iommu to enable device assignment(?: with IOMMU protection)?\.$/;
/** What QEMU prints after a failed vfio-pci realize (context of the record before it). */
const QEMU_AFTER = /^(?:Device initialization failed\.?|failed to get group \d+)$/;
const MEMLOCK = /^(vfio_pin_pages_remote): RLIMIT_MEMLOCK \((\d+)\) exceeded$/;
const MAP_FAILED = /^(?:vfio: )?VFIO_MAP_DMA failed: (.+)$/;
const DMA_MAP_CALL = /vfio_dma_map\((0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+)\) = (-\d+) \((.+)\)$/;
const NO_IR = /^(?:vfio_iommu_type1_attach_group: )?No interrupt remapping support\. {1,2}Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support on this platform$/;
/** drivers/iommu/intel/iommu.c (≤6.4) device_is_rmrr_locked callers: dev_warn(dev, "Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.\n"); "DMAR: " since dev_fmt was added. */
const RMRR_INELIGIBLE = /^Device is ineligible for IOMMU domain attach due to platform RMRR requirement\.(?: {1,2}Contact your platform vendor\.)?$/;
/** drivers/iommu/iommu.c __iommu_device_set_domain (6.5+, require_direct: RMRR on Intel, IVMD on AMD): no dev_fmt, so no "DMAR: ". */
const REQUIRE_DIRECT = /^Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping\.(?: Contact your platform vendor\.)?$/;
const RMRR_BROKEN = /RMRR entry for device ([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) is broken/;
const RMRR_BASE = /^(?:(?:dmar|DMAR): )?RMRR base: (0x[0-9a-f]+) end: (0x[0-9a-f]+)$/;
const GROUP_ADD = /^(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|[\w.:-]+): Adding to iommu group (\d+)$/;

/** errno names of the strerror() texts QEMU appends. */
const ERRNO: Record<string, [number, string]> = {
  "Operation not permitted": [1, "EPERM"], "No such file or directory": [2, "ENOENT"], "Bad address": [14, "EFAULT"], "Cannot allocate memory": [12, "ENOMEM"], "Permission denied": [13, "EACCES"],
  "Device or resource busy": [16, "EBUSY"], "No such device": [19, "ENODEV"], "Invalid argument": [22, "EINVAL"], "No space left on device": [28, "ENOSPC"], "Operation not supported": [95, "EOPNOTSUPP"],
};

/** Starts of single-line records a wrap can cut (anywhere in a line: a continuation line never holds one); and how a complete one ends. */
const WRAP_START = /\[DMA (?:Read|Write)|DMAR:\[DMA|Request dev|AMD-Vi: Event|Unhandled context|\[INTR-REMAP\]/;
/** The same at the start of a message (optionally after a device prefix): only such a line is joined with the next. */
const WRAP_HEAD = /^(?:(?:dmar|DMAR): )?(?:DMAR:)?\[(?:DMA (?:Read|Write)|INTR-REMAP)|^(?:(?:dmar|DMAR): )?INTR-REMAP: Request dev|^(?:\S+ \S+: )?AMD-Vi: Event logged \[|^\S+ \S+: Unhandled context fault/;
/** The kinds a wrap can cut (a joined line that decodes as anything else was not a wrap). */
const WRAPPABLE = new Set<string>(["dmar-fault", "intr-remap-fault", "amdvi-event", "smmuv2-fault"]);
const WRAPPED_END = /(\] .+|\]|, cb=\d+)$/;
/** Where a record starts inside a line (to split two messages a lost line break ran together). */
const RECORD_AT = /(?:\[\s*\d+\.\d+\] ?)?(?:(?:dmar|DMAR): ?)?(?:\[(?:DMA (?:Read|Write)|INTR-REMAP)[\] ]|DMAR:\[DMA)|(?:\S+ (?:[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|ivhd\d+): )?AMD-Vi: Event logged \[/g;

/** Every record or context line contains one of these; anything else is skipped at once (tested on the raw line, before its prefixes are parsed). */
const MAYBE = /FSR|FSYNR|FAR |CBFRSYNRA|iova-to-phys|DMAR|dmar|DRHD|INTR-REMAP|AMD-Vi|DTE\[|CMD\[|smmu|event|Unhandled context|vfio|VFIO|RMRR|iommu group|callbacks suppressed|Please ensure|interrupt remapping|pte level|root entry|context entry|pasid|PASID|Dump |not present|priv |ineligible|device=|group \d|caching-mode|1:1 IOMMU|Device initialization/;

/**
 * A necessary condition for MAYBE, cheap to scan a whole text for: every MAYBE keyword contains
 * one of these pieces ("vent" of "event", "try" of "root entry", ...). Pieces start with a
 * character that is rare in logs, so the regex engine skips most of a text quickly: one scan of a
 * 100 MB log with these costs about a quarter of MAYBE's (measured on the decode benchmark's
 * log). A line with a piece is still tested with MAYBE itself; the check below keeps the list
 * complete when MAYBE grows.
 */
const PIECES = ["FSR", "FSY", "FAR ", "CBF", "DMAR", "DRHD", "INTR", "AMD-", "DTE\\[", "CMD\\[", "Unh", "VFIO", "RMRR", "Ple", "PASID", "Dump ", "IOMMU", "Device i", "va-to", "vent", "vfio", "vel", "vice=", "mar", "mmu", "ks sup", "pping", "try", "presen", "pasid", "priv ", "gible", "group \\d", "g-mo"];
for (const k of MAYBE.source.split("|")) if (!PIECES.some((p) => k.includes(p))) throw new Error(`dmesg: no PIECES entry for the keyword ${k}`);
const PIECES_SCAN = new RegExp(PIECES.join("|"), "g");

/**
 * Lines that may contain a MAYBE keyword (1) and lines that cannot (0): one PIECES_SCAN over the
 * whole text instead of MAYBE on each line, going on from the next line after a hit (a keyword
 * never spans a line break).
 */
export function keywordLines(lines: LineIndex): Uint8Array {
  const hit = new Uint8Array(lines.length);
  const text = lines.source;
  let k = 0;
  PIECES_SCAN.lastIndex = 0;
  for (let m = PIECES_SCAN.exec(text); m; m = PIECES_SCAN.exec(text)) {
    while (lines.start(k + 1) <= m.index) k++;
    hit[k] = 1;
    PIECES_SCAN.lastIndex = lines.start(k + 1);
  }
  return hit;
}

/** A PCI device number is 5 bits (00-1f): a larger one is not something the kernel printed. */
const badDev = (dev: number) => dev > 0x1f;
/** More than 16 significant hex digits: wider than the u64 the kernel prints. */
const tooWide = (hexDigits: string) => hexDigits.replace(/^0+/, "").length > 16;

/** The error text QEMU appended (strerror), with its errno name and number when known. */
function errnoFields(text: string): Record<string, string | number> {
  const e = ERRNO[text.trim()];
  return e ? { error: text.trim(), errno: e[1], errnoNumber: e[0] } : { error: text.trim() };
}

/** `host=0000:01:00.0` / `"host":"0000:01:00.0"` / `sysfsdev=/sys/bus/pci/devices/0000:01:00.0` of a QEMU -device argument. */
function deviceOfArg(arg: string): string | undefined {
  const m = /(?:host"?[=:]"?|sysfsdev"?[=:]"?\/sys\/bus\/pci\/devices\/)((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])/i.exec(arg);
  return m ? parseBdf(m[1]!)?.key : undefined;
}

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

export function parseLog(text: string): ImportResult {
  return parseLogWith(text, true);
}

/** parseLog the way it was before the keyword scan (every line tested and split on its own): the reference the fast path is tested against. */
export function parseLogLineByLine(text: string): ImportResult {
  return parseLogWith(text, false);
}

const NOT_IOMMU = "not an IOMMU, VFIO or RMRR message";

function parseLogWith(text: string, scan: boolean): ImportResult {
  if (looksUtf16(text)) {
    let n = 0;
    for (let k = text.indexOf("\n"); k >= 0; k = text.indexOf("\n", k + 1)) n++;
    return { records: [], skipped: [{ line: 0, endLine: n, reason: UTF16_REASON }] };
  }
  const lines = new LineIndex(text);
  // Lines without a piece of a keyword are settled at once; the others (every line without the
  // scan) go through the per-line filter as before.
  const maybe = scan ? keywordLines(lines) : new Uint8Array(lines.length).fill(1);
  const records: EvidenceRecord[] = [];
  const skip = new SkipList();
  /** Context seen before the record it belongs to (DRHD status, suppressed callbacks). */
  let pending: { line: number; text: string }[] = [];
  const emit = (r: EvidenceRecord) => {
    r.context.unshift(...pending);
    pending = [];
    records.push(r);
    return r;
  };
  const last = () => records[records.length - 1];
  /** Whether the next line looks like the continuation of a wrapped line (no log prefix of its own). */
  const WRAP_NEXT = (i: number) => {
    const next = lines.at(i + 1);
    return next !== undefined && next.text.trim() !== "" && next.text.length <= 4096 && messageOf(next.text).column === 0 && !WRAP_START.test(next.text);
  };
  const squash = (x: string) => x.replace(/\s+/g, "");
  for (let i = 0; i < lines.length; i++) {
    if (!maybe[i]) {
      // Not even a piece of a keyword: the outcome the filter below would give, decided from the
      // offsets; the line's string is made only when its first character may be blank or NUL.
      const start = lines.start(i);
      const length = lines.end(i) - start;
      if (length > MAX_LINE) {
        skip.add(i, "line too long to be a kernel message");
        continue;
      }
      if (length === 0) continue;
      const c = text.charCodeAt(start);
      if (c > 32 && c < 0xa0) {
        skip.add(i, NOT_IOMMU);
        continue;
      }
      const raw = lines.text(i);
      if (raw.trim() === "") continue;
      skip.add(i, c === 0 && /^\0+$/.test(raw) ? "NUL bytes (a truncated or preallocated log file)" : NOT_IOMMU);
      continue;
    }
    const ln = lines.at(i)!;
    if (ln.text.length > MAX_LINE) {
      skip.add(ln.index, "line too long to be a kernel message");
      continue;
    }
    // The keyword filter runs on the raw line: prefixes are parsed only for candidate lines.
    if (!MAYBE.test(ln.text)) {
      if (ln.text.trim() === "") continue;
      skip.add(ln.index, ln.text.charCodeAt(0) === 0 && /^\0+$/.test(ln.text) ? "NUL bytes (a truncated or preallocated log file)" : NOT_IOMMU);
      continue;
    }
    const msg = messageOf(ln.text);
    // Trailing blanks carry no meaning (the ≤4.6 format ends in a space; copies often lose it).
    const t = msg.text.replace(/\s+$/, "");
    if (t.trim() === "") continue;
    const base = (kind: EvidenceRecord["kind"], summary: string, fields: EvidenceRecord["fields"], endLine = ln.index): EvidenceRecord => {
      const r: EvidenceRecord = { kind, line: ln.index, endLine, column: msg.column, text: lines.join(ln.index, endLine + 1), summary, fields, context: [] };
      if (msg.timestamp) r.timestamp = msg.timestamp;
      return r;
    };
    let m: RegExpExecArray | null;

    // ---- Two messages on one line (a lost line break): split them and decode each.
    const rq = t.indexOf("Request device [");
    const ev = t.indexOf("Event logged [");
    if ((rq >= 0 && t.indexOf("Request device [", rq + 1) >= 0) || (ev >= 0 && t.indexOf("Event logged [", ev + 1) >= 0) || (rq >= 0 && ev >= 0)) {
      const starts = [...t.matchAll(RECORD_AT)].map((x) => x.index);
      if (starts.length >= 2) {
        const cuts = [0, ...starts.slice(1), t.length];
        let found = 0;
        for (let k = 0; k + 1 < cuts.length; k++) {
          const sub = parseLog(t.slice(cuts[k], cuts[k + 1]).replace(/\s+$/, ""));
          if (sub.records.length !== 1) continue;
          const r = sub.records[0]!;
          r.line = ln.index;
          r.endLine = ln.index;
          r.column = msg.column + cuts[k]! + r.column;
          r.text = ln.text;
          r.context = r.context.map((c) => ({ ...c, line: ln.index }));
          if (r.timestamp === undefined && msg.timestamp) r.timestamp = msg.timestamp;
          r.context.push({ line: ln.index, text: "(two kernel messages on one line, a lost line break: split)" });
          emit(r);
          found++;
        }
        if (!found) skip.add(ln.index, "two messages run together on one line (a lost line break), neither a complete record");
        continue;
      }
    }

    // ---- Intel VT-d
    const mNew = NEW_DMA.exec(t);
    const mMid = mNew ? null : MID_DMA.exec(t);
    if (mNew || mMid) {
      const isNew = mNew !== null;
      // NEW_DMA: type, pasid, bus, dev, fn, addr, reason, text; MID_DMA: type, bus, dev, fn, pasid, addr, reason, text.
      const g = mNew ? mNew : [mMid![0], mMid![1], mMid![5], mMid![2], mMid![3], mMid![4], mMid![6], mMid![7], mMid![8]];
      m = g as RegExpExecArray;
      const write = m[1] === "DMA Write";
      const pasidText = m[2];
      const bus = parseInt(m[3]!, 16), dev = parseInt(m[4]!, 16), fn = Number(m[5]);
      if (badDev(dev)) {
        skip.add(ln.index, `device number 0x${dev.toString(16)} is out of range (a PCI device number is 00-1f): not a kernel record`);
        continue;
      }
      if (tooWide(m[6]!)) {
        skip.add(ln.index, "fault address wider than 64 bits: not a kernel record");
        continue;
      }
      const addr = BigInt(`0x${m[6]}`);
      const reason = isNew ? parseInt(m[7]!, 16) : parseInt(m[7]!, 10);
      const era = isNew ? (/\[0x[0-9a-f]{2}:0x/.test(t) ? "5.14" : "5.15+") : pasidText !== undefined ? "5.4-5.13" : "4.7-5.3";
      // dmar_fault_do_one prints dmar_get_fault_reason()'s text: take it from the table; a wrapped
      // line's rest ("access is not set" under "... PTE Read") is joined while it continues that text.
      const table = vtdReasonText(reason, era !== "4.7-5.3");
      let printed = m[8]!;
      let j = i;
      while (squash(printed) !== squash(table) && squash(table).startsWith(squash(printed)) && j - i < 2 && WRAP_NEXT(j)) {
        const next = lines.text(j + 1).trim();
        if (!squash(table).startsWith(squash(printed + next))) break;
        printed = `${printed} ${next}`;
        j++;
      }
      if (squash(printed) === squash(table)) printed = table;
      const fields: EvidenceRecord["fields"] = { vendor: "intel", era, device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, write, address: hex(addr), reason, reasonText: table };
      if (printed !== table) fields.printedReason = printed;
      if (pasidText !== undefined && pasidText !== "ffffffff") fields.pasid = parseInt(pasidText, 16);
      const r = emit(base("dmar-fault", `${write ? "write" : "read"} by ${bdfText(bus, dev, fn)} to IOVA ${hex(addr)} faulted: 0x${reason.toString(16).padStart(2, "0")} ${table}`, fields, j));
      if (j > i) r.context.push({ line: ln.index, text: `(a wrapped record: ${j - i + 1} lines joined)` });
      i = j;
      continue;
    }
    if ((m = OLD_DMA_1.exec(t))) {
      const write = m[1] === "DMA Write";
      const bus = parseInt(m[2]!, 16), dev = parseInt(m[3]!, 16), fn = Number(m[4]);
      if (badDev(dev) || tooWide(m[5]!)) {
        skip.add(ln.index, badDev(dev) ? `device number 0x${dev.toString(16)} is out of range (a PCI device number is 00-1f): not a kernel record` : "fault address wider than 64 bits: not a kernel record");
        continue;
      }
      const addr = BigInt(`0x${m[5]}`);
      const next = lines.at(i + 1);
      const m2 = next ? OLD_DMA_2.exec(messageOf(next.text).text.replace(/\s+$/, "")) : null;
      const fields: EvidenceRecord["fields"] = { vendor: "intel", era: "≤4.6", device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, write, address: hex(addr) };
      if (m2) {
        fields.reason = parseInt(m2[1]!, 10);
        fields.reasonText = vtdReasonText(fields.reason, false);
        if (m2[2] !== fields.reasonText) fields.printedReason = m2[2]!;
        i++;
      }
      emit(base("dmar-fault", `${write ? "write" : "read"} by ${bdfText(bus, dev, fn)} to IOVA ${hex(addr)} faulted${m2 ? `: 0x${Number(fields.reason).toString(16).padStart(2, "0")} ${fields.reasonText}` : " (the reason line is missing)"}`, fields, m2 ? ln.index + 1 : ln.index));
      continue;
    }
    if ((m = IR.exec(t)) || (m = OLD_IR_1.exec(t))) {
      const isOld = OLD_IR_1.test(t);
      const bus = parseInt(m[1]!, 16), dev = parseInt(m[2]!, 16), fn = Number(m[3]);
      if (badDev(dev)) {
        skip.add(ln.index, `device number 0x${dev.toString(16)} is out of range (a PCI device number is 00-1f): not a kernel record`);
        continue;
      }
      let index: number;
      let reason: number | undefined;
      let printed: string | undefined;
      let end = ln.index;
      if (isOld) {
        index = parseInt(m[4]!, 16);
        const next = lines.at(i + 1);
        const m2 = next ? OLD_IR_2.exec(messageOf(next.text).text.replace(/\s+$/, "")) : null;
        if (m2) {
          reason = parseInt(m2[1]!, 10);
          printed = m2[2]!;
          end++;
          i++;
        }
      } else {
        index = parseInt(m[5]!, 16);
        reason = m[6] ? parseInt(m[7]!, 16) : parseInt(m[7]!, 10);
        printed = m[8]!;
      }
      const fields: EvidenceRecord["fields"] = { vendor: "intel", device: bdfText(bus, dev, fn), bus, devfn: (dev << 3) | fn, index };
      let reasonText: string | undefined;
      if (reason !== undefined) {
        fields.reason = reason;
        reasonText = vtdReasonText(reason);
        fields.reasonText = reasonText;
        if (printed !== undefined && printed !== reasonText) fields.printedReason = printed;
      }
      emit(base("intr-remap-fault", `interrupt from ${bdfText(bus, dev, fn)} (IRTE index ${index}) blocked${reason !== undefined ? `: 0x${reason.toString(16)} ${reasonText}` : ""}`, fields, end));
      continue;
    }
    if ((m = DRHD.exec(t))) {
      const fsts = parseInt(m[1]!, 16);
      pending.push({ line: ln.index, text: `${t} (FSTS: ${[fsts & 1 ? "PFO fault overflow" : "", fsts & 2 ? "PPF primary fault pending" : "", fsts & 0x10 ? "IQE" : ""].filter(Boolean).join(", ") || "no fault bits"})` });
      continue;
    }
    if ((m = SUPPRESSED.exec(t))) {
      pending.push({ line: ln.index, text: `${t}: ${m[2]} more messages of ${m[1]} were dropped by the ratelimit` });
      continue;
    }
    if (PTE_DUMP.test(t) && last()?.kind === "dmar-fault") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }

    // ---- AMD-Vi
    // Older kernels printed "AMD-Vi: Event logged [" and the event as two printk records, each
    // with its own prefix: join them.
    let amdEnd = ln.index;
    m = null;
    if (/AMD-Vi: Event logged \[$/.test(t) && i + 1 < lines.length) {
      const next = messageOf(lines.text(i + 1)).text.replace(/\s+$/, "");
      if (/^[A-Z_]+ .*\]$/.test(next)) {
        m = AMD_EVENT.exec(t + next);
        if (m) {
          amdEnd = ln.index + 1;
          i++;
        }
      }
    }
    if (m || (m = AMD_EVENT.exec(t)) || (m = AMD_UNKNOWN.exec(t))) {
      const event = m[3]!;
      const kv: Record<string, string> = {};
      for (const p of (m[4] ?? "").split(/,?\s+/)) {
        const eq = p.indexOf("=");
        if (eq > 0) kv[p.slice(0, eq)] = p.slice(eq + 1).replace(/[\],]$/, "");
      }
      const devText = kv.device ?? (m[2] && /^[0-9a-f]{4}:/.test(m[2]) ? m[2] : undefined);
      const b = devText ? parseBdf(devText) : undefined;
      if (devText !== undefined && !b) {
        skip.add(ln.index, `device ${devText} is not a PCI address (a device number is 00-1f): not a kernel record`);
        if (amdEnd > ln.index) skip.add(amdEnd, "the second half of an AMD-Vi event that is not a kernel record");
        continue;
      }
      if (kv.address !== undefined && (!/^0x[0-9a-f]+$/.test(kv.address) || tooWide(kv.address.slice(2)))) {
        skip.add(ln.index, "event address is not a 64-bit hex number: not a kernel record");
        continue;
      }
      const fields: EvidenceRecord["fields"] = { vendor: "amd", event };
      if (b) fields.device = b.key;
      if (m[1] && m[2] && /^[0-9a-f]{4}:/.test(m[2])) fields.driver = m[1];
      for (const k of ["domain", "address", "flags", "pasid", "tag"]) if (kv[k] !== undefined) fields[k] = kv[k]!;
      if (event === "UNKNOWN") fields.raw = m[4]!;
      if (kv.flags !== undefined) {
        const f = parseInt(kv.flags, 16);
        fields.write = (f & 0x020) !== 0; // EVENT_FLAG_RW
        fields.interrupt = (f & 0x008) !== 0; // EVENT_FLAG_I
        if (event === "IO_PAGE_FAULT") Object.assign(fields, amdPageFaultFlags(f));
      }
      const what = event === "IO_PAGE_FAULT" ? `${fields.interrupt ? "interrupt request" : fields.write ? "write" : "read"} by ${fields.device ?? "?"} to ${kv.address ?? "?"} in domain ${kv.domain ?? "?"} faulted (IO_PAGE_FAULT${kv.flags !== undefined ? `, ${fields.present ? "page present: a permission fault" : "page not present"}` : ""})` : `${event}${fields.device ? ` for ${fields.device}` : ""}${kv.address ? ` at ${kv.address}` : ""}`;
      emit(base("amdvi-event", what, fields, amdEnd));
      continue;
    }
    if (AMD_NOT_ATTACHED.test(t)) {
      const fields: EvidenceRecord["fields"] = { vendor: "amd", event: "DEVICE_NOT_ATTACHED", message: "Device not attached to domain properly" };
      const next = lines.at(i + 1);
      const m2 = next ? AMD_NOT_ATTACHED_2.exec(messageOf(next.text).text.replace(/\s+$/, "")) : null;
      const b = m2 ? parseBdf(`${m2[1] ?? ""}${m2[2]}:${m2[3]}.${m2[4]}`) : undefined;
      if (m2 && b) {
        fields.device = b.key;
        fields.domain = `0x${m2[5]}`;
        i++;
      }
      emit(base("amdvi-event", `a DMA fault from ${fields.device ?? "a device"}${fields.domain ? ` (domain ${fields.domain})` : ""} that is not attached to any IOMMU domain`, fields, m2 && b ? ln.index + 1 : ln.index));
      continue;
    }
    if (AMD_DUMP.test(t) && last()?.kind === "amdvi-event") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if ((m = AMD_NOT_ATTACHED_2.exec(t)) && last()?.kind === "amdvi-event") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if (AMD_OVERFLOW.test(t)) {
      emit(base("amdvi-event", "the AMD-Vi event log overflowed: events were lost", { vendor: "amd", event: "EVENT_LOG_OVERFLOW" }));
      continue;
    }

    // ---- Arm SMMUv3
    if ((m = SMMU_EVENT.exec(t))) {
      const id = parseInt(m[2]!, 16);
      const raw: bigint[] = [];
      let j = i + 1;
      while (j < lines.length && raw.length < 4) {
        const r = SMMU_RAW.exec(messageOf(lines.text(j)).text);
        if (!r) break;
        raw.push(BigInt(`0x${r[2]}`));
        j++;
      }
      const fields: EvidenceRecord["fields"] = { vendor: "arm", smmu: m[1]!, id, event: SMMU_EVENTS[id] ?? "UNKNOWN" };
      if (raw.length === 4) Object.assign(fields, decodeSmmuEvent(raw));
      i = j - 1;
      emit(base("smmuv3-event", `SMMUv3 event 0x${id.toString(16).padStart(2, "0")} ${fields.event}${fields.sid !== undefined ? ` for stream ${hex(Number(fields.sid))}` : ""}${fields.iova ? ` at ${fields.iova}` : fields.fetchAddr ? ` fetching ${fields.fetchAddr}` : ""}`, fields, j - 1));
      continue;
    }
    if ((m = SMMU_DECODED.exec(t))) {
      const prev = last();
      const fields: EvidenceRecord["fields"] = { vendor: "arm", event: m[1]!, client: m[2]!, sid: parseInt(m[3]!, 16), ssid: parseInt(m[4]!, 16) };
      // "%#llx" prints 0 as "0".
      const x = (v: string) => (v === "0" ? "0x0" : v);
      if (m[5]) fields.iova = x(m[5]);
      if (m[6]) fields.ipa = x(m[6]);
      if (m[7]) fields.fetchAddr = x(m[7]);
      if (prev?.kind === "smmuv3-event" && prev.endLine >= ln.index - 1 && (prev.fields.sid === undefined || prev.fields.sid === fields.sid)) {
        Object.assign(prev.fields, fields);
        prev.endLine = ln.index;
        prev.text += `\n${ln.text}`;
        prev.summary = `SMMUv3 ${fields.event} for ${fields.client} (stream ${m[3]})${fields.iova ? ` at IOVA ${fields.iova}` : ""}`;
      } else emit(base("smmuv3-event", `SMMUv3 ${fields.event} for ${fields.client} (stream ${m[3]})${fields.iova ? ` at IOVA ${fields.iova}` : ""}`, fields));
      continue;
    }
    if ((m = SMMU_DECODED_2.exec(t)) && last()?.kind === "smmuv3-event") {
      const prev = last()!;
      Object.assign(prev.fields, { privileged: m[1] === "priv", instruction: m[2] === "inst", write: m[3] === "write", stage: m[4]!, class: m[5]! });
      prev.endLine = ln.index;
      prev.text += `\n${ln.text}`;
      continue;
    }
    if (SMMU_OVERFLOW.test(t)) {
      emit(base("smmuv3-event", "the SMMUv3 event queue overflowed: events were lost", { vendor: "arm", event: "EVTQ_OVERFLOW" }));
      continue;
    }
    if (SMMU2_DUMP.test(t) && last()?.kind === "smmuv2-fault") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if ((m = SMMU2.exec(t))) {
      const fsr = parseInt(m[1]!, 16);
      const fsynr = parseInt(m[3]!, 16);
      const fields: EvidenceRecord["fields"] = { vendor: "arm", fsr: hex(fsr), iova: `0x${m[2]}`, fsynr: hex(fsynr), cb: Number(m[5]), faults: smmuv2Fsr(fsr), write: (fsynr & 0x10) !== 0 };
      if (m[4]) fields.streamId = `0x${m[4]}`;
      emit(base("smmuv2-fault", `SMMUv2 context bank ${m[5]} fault at IOVA 0x${m[2]}: ${fields.faults} (${fields.write ? "write" : "read"})`, fields));
      continue;
    }

    // ---- VFIO, QEMU, RMRR, groups
    if ((m = GROUP_ADD.exec(t))) {
      const b = parseBdf(m[2]!);
      emit(base("group-add", `${m[2]} joined IOMMU group ${m[3]}`, { device: b?.key ?? m[2]!, group: Number(m[3]), bus: m[1]! }));
      continue;
    }
    const q = QEMU_PREFIX.exec(t);
    let body = q ? t.slice(q[0].length) : t;
    let device: string | undefined;
    let driver: string | undefined;
    const kd = q ? null : KDEV.exec(body);
    if (kd) {
      // "vfio 0000:01:00.0: " is QEMU's VFIO_MSG_PREFIX without the program, not a kernel driver.
      if (kd[1] !== "vfio") driver = kd[1]!;
      device = parseBdf(kd[2]!)?.key;
      body = body.slice(kd[0].length);
    }
    const vp = VFIO_PREFIX.exec(body);
    if (vp) {
      const b = vp[1] ? parseBdf(vp[1]) : undefined;
      if (b) device = b.key;
      body = body.slice(vp[0].length);
    }
    if (device === undefined && q?.[2]) device = deviceOfArg(q[2]);
    const who = (f: EvidenceRecord["fields"]): EvidenceRecord["fields"] => {
      if (device !== undefined) f.device = device;
      if (driver !== undefined) f.driver = driver;
      if (q) f.program = q[1]!;
      return f;
    };
    const dev = device ? ` (device ${device})` : "";
    if ((m = NOT_VIABLE.exec(body))) {
      emit(base("vfio-message", `VFIO refuses IOMMU group ${m[1]}${dev}: the group is not viable`, who({ problem: "group-not-viable", group: Number(m[1]) })));
      continue;
    }
    if ((VIABLE_HINT.test(body) || (m = VERIFY_HINT.exec(body)) || (q && QEMU_AFTER.test(body))) && last()?.kind === "vfio-message") {
      last()!.context.push({ line: ln.index, text: t });
      continue;
    }
    if ((m = SETUP_CONTAINER.exec(body))) {
      const inner = m[2]!;
      const group = Number(m[1]);
      let r: RegExpExecArray | null;
      if ((r = SET_GROUP_CONTAINER.exec(inner))) emit(base("vfio-message", `VFIO could not attach group ${group}${dev} to the container (VFIO_GROUP_SET_CONTAINER): ${r[1]}`, who({ problem: "set-container-failed", group, ...errnoFields(r[1]!) })));
      else if ((r = SET_IOMMU.exec(inner))) emit(base("vfio-message", `VFIO could not set the IOMMU for group ${group}'s container (VFIO_SET_IOMMU): ${r[1]}`, who({ problem: "set-iommu-failed", group, ...errnoFields(r[1]!) })));
      else if ((r = DMA_MAP_CALL.exec(inner))) emit(base("vfio-message", `mapping guest memory for group ${group} failed: vfio_dma_map(iova ${r[2]}, size ${r[3]}) = ${r[5]} (${r[6]})`, who({ problem: "map-failed", group, container: r[1]!, iova: r[2]!, size: r[3]!, vaddr: r[4]!, ...errnoFields(r[6]!) })));
      else emit(base("vfio-message", `VFIO could not set up a container for group ${group}${dev}: ${inner}`, who({ problem: "container-setup-failed", group, ...errnoFields(inner.replace(/^.*: /, "")), message: inner })));
      continue;
    }
    if ((m = SET_GROUP_CONTAINER.exec(body))) {
      emit(base("vfio-message", `VFIO could not attach the group to the container (VFIO_GROUP_SET_CONTAINER)${dev}: ${m[1]}`, who({ problem: "set-container-failed", ...errnoFields(m[1]!) })));
      continue;
    }
    if ((m = SET_IOMMU.exec(body))) {
      emit(base("vfio-message", `VFIO could not set the container's IOMMU (VFIO_SET_IOMMU)${dev}: ${m[1]}`, who({ problem: "set-iommu-failed", ...errnoFields(m[1]!) })));
      continue;
    }
    if ((m = GET_DEVICE.exec(body))) {
      if (m[1] && !device) device = parseBdf(m[1])?.key;
      emit(base("vfio-message", `VFIO could not get ${device ?? "the device"} from group ${m[2]} (VFIO_GROUP_GET_DEVICE_FD): ${m[3]}`, who({ problem: "get-device-failed", group: Number(m[2]), ...errnoFields(m[3]!) })));
      continue;
    }
    if ((m = GROUP_OPEN.exec(body))) {
      emit(base("vfio-message", `QEMU could not open /dev/vfio/${m[1]}${dev}: ${m[2]}`, who({ problem: "group-open-failed", group: Number(m[1]), ...errnoFields(m[2]!) })));
      continue;
    }
    if (CACHING_MODE.test(body)) {
      emit(base("vfio-message", "QEMU refuses device assignment behind a vIOMMU without caching-mode=on (intel-iommu)", who({ problem: "caching-mode-off" })));
      continue;
    }
    if ((m = MEMLOCK.exec(body))) {
      emit(base("vfio-message", `pinning guest memory exceeded RLIMIT_MEMLOCK (${m[2]} bytes): VFIO_IOMMU_MAP_DMA fails with ENOMEM`, { problem: "memlock", limit: Number(m[2]) }));
      continue;
    }
    if ((m = DMA_MAP_CALL.exec(body))) {
      emit(base("vfio-message", `vfio_dma_map(iova ${m[2]}, size ${m[3]}) failed with ${m[5]} (${m[6]})`, who({ problem: "map-failed", container: m[1]!, iova: m[2]!, size: m[3]!, vaddr: m[4]!, ...errnoFields(m[6]!) })));
      continue;
    }
    if ((m = MAP_FAILED.exec(body))) {
      emit(base("vfio-message", `VFIO_MAP_DMA failed: ${m[1]}`, who({ problem: "map-failed", ...errnoFields(m[1]!) })));
      continue;
    }
    if (NO_IR.test(body)) {
      emit(base("vfio-message", "VFIO refuses the device: no interrupt remapping (allow_unsafe_interrupts is off)", { problem: "no-interrupt-remapping" }));
      continue;
    }
    if (RMRR_INELIGIBLE.test(body) || REQUIRE_DIRECT.test(body)) {
      const direct = REQUIRE_DIRECT.test(body);
      const fields: EvidenceRecord["fields"] = { problem: "rmrr-ineligible" };
      if (device) fields.device = device;
      if (driver) fields.driver = driver;
      if (direct) fields.firmwareDirect = true;
      emit(base("rmrr", `${device ?? "a device"} cannot be assigned: ${direct ? "the firmware requires a 1:1 IOMMU mapping for it (an RMRR on Intel, an IVMD on AMD)" : "its firmware RMRR (reserved memory the BIOS keeps using)"}, so it cannot be attached to a VM's IOMMU domain`, fields));
      continue;
    }
    if ((m = RMRR_BROKEN.exec(body))) {
      emit(base("rmrr", `firmware bug: the RMRR of ${m[1]}:${m[2]}.${m[3]} is broken (workaround applied)`, { problem: "rmrr-broken", device: `${m[1]}:${m[2]}.${m[3]}` }));
      continue;
    }
    if ((m = RMRR_BASE.exec(body))) {
      emit(base("rmrr", `firmware reserved memory region (RMRR) ${m[1]}-${m[2]}`, { problem: "rmrr-region", base: m[1]!, end: m[2]! }));
      continue;
    }
    // A record wrapped by a terminal or a mail client: the continuation lines have no log prefix
    // of their own. Join them (longest first) and parse again.
    if (WRAP_HEAD.test(t)) {
      const cont: string[] = [];
      for (let k = 1; k <= 3 && i + k < lines.length; k++) {
        const next = lines.text(i + k);
        const nm = messageOf(next);
        if (nm.column !== 0 || !next.trim() || WRAP_START.test(next) || next.length > 4096) break;
        cont.push(next.replace(/\s+$/, ""));
      }
      let done = false;
      for (let k = cont.length; k >= 1 && !done; k--) {
        const joined = t + cont.slice(0, k).join("");
        if (!WRAPPED_END.test(joined)) continue;
        const sub = parseLog(joined);
        if (sub.records.length !== 1 || !WRAPPABLE.has(sub.records[0]!.kind)) continue;
        const r = sub.records[0]!;
        r.line = ln.index;
        r.endLine = ln.index + k;
        r.column = msg.column;
        r.text = lines.join(ln.index, ln.index + k + 1);
        r.context = r.context.map((c) => ({ ...c, line: ln.index }));
        if (msg.timestamp) r.timestamp = msg.timestamp;
        r.context.push({ line: ln.index, text: `(a wrapped record: ${k + 1} lines joined)` });
        emit(r);
        i += k;
        done = true;
      }
      if (done) continue;
    }
    skip.add(ln.index, lineReason(t));
  }
  // Context with no record after it stays visible as skipped lines with their reason.
  for (const p of pending) skip.add(p.line, "context line with no fault record after it");
  skip.items.sort((a, b) => a.line - b.line);
  return { records, skipped: skip.items };
}

function lineReason(t: string): string {
  if (/AMD-Vi: Event logged \[[A-Z_]/.test(t) && !/\]$/.test(t)) return "a truncated AMD-Vi event (no closing bracket)";
  if (WRAP_HEAD.test(t)) return "an incomplete (truncated) fault record";
  if (WRAP_START.test(t)) return "record-like text inside another message (not where a kernel message starts): not decoded";
  if (/^(?:dmar|DMAR):/.test(t)) return "a DMAR message that is not a fault record";
  if (/AMD-Vi/.test(t)) return "an AMD-Vi message that is not an event";
  if (/arm-smmu/.test(t)) return "an SMMU message that is not an event";
  if (/vfio/i.test(t)) return "a VFIO message this importer does not decode";
  return "not an IOMMU, VFIO or RMRR message";
}

/** SMMUv3 event names (reference §5.1, Linux event_str[]). */
export const SMMU_EVENTS: Record<number, string> = {
  0x02: "C_BAD_STREAMID",
  0x03: "F_STE_FETCH",
  0x04: "C_BAD_STE",
  0x06: "F_STREAM_DISABLED",
  0x08: "C_BAD_SUBSTREAMID",
  0x09: "F_CD_FETCH",
  0x0a: "C_BAD_CD",
  0x10: "F_TRANSLATION",
  0x11: "F_ADDR_SIZE",
  0x12: "F_ACCESS",
  0x13: "F_PERMISSION",
  0x25: "F_VMS_FETCH",
};

/**
 * The event record's fields (reference §5.2), only those the event carries (SMMUv3 architecture,
 * 7.3 "Event records"): every event has StreamID and SSV/SubstreamID; F_UUT, F_BAD_ATS_TREQ,
 * F_TRANSL_FORBIDDEN, F_WALK_EABT and the translation faults F_TRANSLATION / F_ADDR_SIZE /
 * F_ACCESS / F_PERMISSION have the input address and RnW, PnU, InD (F_WALK_EABT and the translation
 * faults also S2, CLASS, STAG/Stall, and the IPA for a stage-2 fault); F_STE_FETCH, F_CD_FETCH,
 * F_VMS_FETCH and F_WALK_EABT have the fetch address (raw[3] 51:3). C_BAD_STREAMID, C_BAD_STE,
 * F_STREAM_DISABLED, C_BAD_SUBSTREAMID and C_BAD_CD have no address and no direction.
 */
export function decodeSmmuEvent(raw: bigint[]): Record<string, string | number | boolean> {
  const b = (v: bigint, hi: number, lo: number) => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
  const id = b(raw[0]!, 7, 0);
  const ssv = b(raw[0]!, 11, 11) === 1;
  const out: Record<string, string | number | boolean> = { sid: b(raw[0]!, 63, 32), ssid: ssv ? b(raw[0]!, 31, 12) : 0, ssv };
  const translation = id >= 0x10 && id <= 0x13;
  const walk = id === 0x0b;
  if (translation || walk || id === 0x01 || id === 0x05 || id === 0x07) {
    out.privileged = b(raw[1]!, 33, 33) === 1;
    out.instruction = b(raw[1]!, 34, 34) === 1;
    out.write = b(raw[1]!, 35, 35) === 0; // RnW = 1 is a read
    out.iova = `0x${raw[2]!.toString(16)}`;
  }
  if (translation || walk) {
    out.stag = b(raw[1]!, 15, 0);
    out.stall = b(raw[1]!, 31, 31) === 1;
    out.stage = b(raw[1]!, 39, 39) ? "s2" : "s1";
    out.class = ["CD fetch", "translation table fetch", "input address", "reserved"][b(raw[1]!, 41, 40)]!;
  }
  if (translation) out.ipa = hex(((raw[3]! >> 12n) & ((1n << 40n) - 1n)) << 12n);
  if (id === 0x03 || id === 0x09 || id === 0x25 || walk) out.fetchAddr = hex(((raw[3]! >> 3n) & ((1n << 49n) - 1n)) << 3n);
  return out;
}

/** FSR fault bits of an SMMUv2 context bank (Arm SMMU architecture; reference §5.5). */
export function smmuv2Fsr(fsr: number): string {
  const bits: [number, string][] = [[1, "TF translation fault"], [2, "AFF access flag fault"], [3, "PF permission fault"], [4, "EF external fault"], [5, "TLBMCF TLB match conflict"], [6, "TLBLKF TLB lock fault"], [7, "ASF address size fault"], [8, "UUT unsupported upstream transaction"], [30, "SS stalled"], [31, "MULTI multiple faults"]];
  const names = bits.filter(([b]) => (fsr >>> b) & 1).map(([, n]) => n);
  return names.length ? names.join(", ") : "no fault bits";
}

/** The reason text Linux prints for a VT-d code (for explanations of old two-line records). */
export function vtdReasonText(code: number, scalableTable = true): string {
  return dmarGetFaultReason(code, scalableTable).text;
}

export type { Line };
