/**
 * What a dmesg rule is and what it sees. Each source (VT-d, AMD-Vi, SMMU, IOMMU groups, VFIO/QEMU,
 * RMRR) is one table of rules, {pattern, build}; parseLog (../dmesg.ts) runs one loop over the
 * tables, in order, for each candidate line: the first rule whose pattern matches (and whose `when`
 * holds) and whose build does not return false decides the line.
 */
import { messageOf, type LineIndex, type Line } from "../lines.js";
import { parseBdf, type EvidenceRecord, type SkipList } from "../records.js";

export type Fields = EvidenceRecord["fields"];

export interface Rule {
  /** Tested on the message (log prefixes removed, trailing blanks trimmed), or with `on: "body"` on the QEMU/VFIO body (LineContext.qemu). */
  readonly pattern: RegExp;
  readonly on?: "body";
  /** A condition besides the pattern (e.g. the previous record's kind, for a context line). */
  readonly when?: (cx: LineContext) => boolean;
  /** Emits a record, adds context or skips the line; `false`: not this rule's line after all (the loop goes on). */
  readonly build: (m: RegExpExecArray, cx: LineContext) => void | false;
}

/** One source's rules, in the order they are tried. */
export interface RuleTable {
  readonly source: string;
  readonly rules: readonly Rule[];
}

/** The prefixes QEMU, libvirt, the kernel's dev_printk and QEMU's VFIO_MSG_PREFIX put before a VFIO/QEMU message (parsed once per line, when a body rule is reached). */
export interface QemuMessage {
  /** The message without those prefixes. */
  body: string;
  /** The device named by a prefix (or by GET_DEVICE's own text), as a BDF key. */
  device: string | undefined;
  /** The kernel driver of a dev_printk prefix. */
  driver: string | undefined;
  /** The program of QEMU's error_report prefix. */
  program: string | undefined;
}

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

/** `host=0000:01:00.0` / `"host":"0000:01:00.0"` / `sysfsdev=/sys/bus/pci/devices/0000:01:00.0` of a QEMU -device argument. */
function deviceOfArg(arg: string): string | undefined {
  const m = /(?:host"?[=:]"?|sysfsdev"?[=:]"?\/sys\/bus\/pci\/devices\/)((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])/i.exec(arg);
  return m ? parseBdf(m[1]!)?.key : undefined;
}

export function parseQemuMessage(t: string): QemuMessage {
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
  return { body, device, driver, program: q?.[1] };
}

/** Starts of single-line records a wrap can cut (anywhere in a line: a continuation line never holds one). */
export const WRAP_START = /\[DMA (?:Read|Write)|DMAR:\[DMA|Request dev|AMD-Vi: Event|Unhandled context|\[INTR-REMAP\]/;

/** The line a rule looks at, and what it may do: emit a record, attach context, skip the line, consume following lines (advance `i`). */
export class LineContext {
  /** The line's index; a rule that uses the following lines too sets it to the last one it used. */
  i = 0;
  ln!: Line;
  /** The line's column and timestamp (from its log prefix). */
  msg!: ReturnType<typeof messageOf>;
  /** The message: log prefixes removed, trailing blanks trimmed. */
  t = "";
  private qemuMessage: QemuMessage | undefined;

  constructor(
    readonly lines: LineIndex,
    readonly records: EvidenceRecord[],
    private readonly skipList: SkipList,
    /** Context seen before the record it belongs to (DRHD status, suppressed callbacks). */
    private pendingContext: { line: number; text: string }[],
  ) {}

  /** Points the context at line `i` (a candidate line whose message is `t`). */
  reset(i: number, ln: Line, msg: ReturnType<typeof messageOf>, t: string): void {
    this.i = i;
    this.ln = ln;
    this.msg = msg;
    this.t = t;
    this.qemuMessage = undefined;
  }

  /** A record of this line (through `endLine`), with its text, column and timestamp. */
  record(kind: EvidenceRecord["kind"], summary: string, fields: Fields, endLine = this.ln.index): EvidenceRecord {
    const r: EvidenceRecord = { kind, line: this.ln.index, endLine, column: this.msg.column, text: this.lines.join(this.ln.index, endLine + 1), summary, fields, context: [] };
    if (this.msg.timestamp) r.timestamp = this.msg.timestamp;
    return r;
  }

  /** Adds a record, with the context lines that came before it. */
  emit(r: EvidenceRecord): EvidenceRecord {
    r.context.unshift(...this.pendingContext);
    this.pendingContext = [];
    this.records.push(r);
    return r;
  }

  last(): EvidenceRecord | undefined {
    return this.records[this.records.length - 1];
  }

  /** Whether the last record is of this kind (a context line's `when`). */
  lastIs(kind: EvidenceRecord["kind"]): boolean {
    return this.last()?.kind === kind;
  }

  /** This line (the message) as context of the last record. */
  attach(): void {
    this.last()!.context.push({ line: this.ln.index, text: this.t });
  }

  /** Context for the next record. */
  before(text: string): void {
    this.pendingContext.push({ line: this.ln.index, text });
  }

  /** Context lines that no record followed. */
  takePending(): { line: number; text: string }[] {
    const p = this.pendingContext;
    this.pendingContext = [];
    return p;
  }

  skip(reason: string, line = this.ln.index): void {
    this.skipList.add(line, reason);
  }

  /** Whether line i + 1 looks like the continuation of a wrapped line (no log prefix of its own). */
  continues(i: number): boolean {
    const next = this.lines.at(i + 1);
    return next !== undefined && next.text.trim() !== "" && next.text.length <= 4096 && messageOf(next.text).column === 0 && !WRAP_START.test(next.text);
  }

  /** The message of line i, trailing blanks trimmed (for a rule that reads the next line). */
  messageAt(i: number): string | undefined {
    const next = this.lines.at(i);
    return next ? messageOf(next.text).text.replace(/\s+$/, "") : undefined;
  }

  /** The QEMU/VFIO prefixes of this line, parsed once. */
  qemu(): QemuMessage {
    return (this.qemuMessage ??= parseQemuMessage(this.t));
  }
}

/** A PCI device number is 5 bits (00-1f): a larger one is not something the kernel printed. */
export const badDev = (dev: number) => dev > 0x1f;
/** More than 16 significant hex digits: wider than the u64 the kernel prints. */
export const tooWide = (hexDigits: string) => hexDigits.replace(/^0+/, "").length > 16;
export const BAD_DEV = (dev: number) => `device number 0x${dev.toString(16)} is out of range (a PCI device number is 00-1f): not a kernel record`;
