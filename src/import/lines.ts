/**
 * Evidence text as lines with their offsets, and the prefixes logs put in front of a kernel
 * message: dmesg's `[  12.345678]`, `dmesg -T`'s `[Tue Nov 25 10:00:00 2026]`, journalctl/syslog's
 * `Nov 25 10:00:00 host kernel: `, RFC 3339 syslog `2026-11-25T10:00:00.123456+00:00 host kernel: `,
 * and a bare `kernel: `. The message is what remains; the timestamp is kept.
 */

export interface Line {
  /** 0-based line number. */
  index: number;
  /** Offset of the line's first character in the text. */
  start: number;
  /** The line without its end-of-line characters. */
  text: string;
}

/** Longest line considered (a longer one is skipped, not parsed: bounded work per line). */
export const MAX_LINE = 64 * 1024;

export function splitLines(text: string): Line[] {
  const out: Line[] = [];
  let start = 0;
  let index = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    const end = nl < 0 ? text.length : nl;
    let line = text.slice(start, end);
    if (line.endsWith("\r")) line = line.slice(0, -1);
    out.push({ index: index++, start, text: line });
    if (nl < 0) break;
    start = nl + 1;
  }
  return out;
}

/**
 * The lines of a text as offsets only, each line's string made when asked for: in a big log most
 * lines are never looked at (the keyword scan rules them out), so splitting them all into strings
 * and Line objects was most of the import's work. Same lines as splitLines: one per "\n" plus the
 * last, one trailing "\r" not part of the text.
 */
export class LineIndex {
  /** Offset of each line's first character, and text.length + 1 after the last (as if the text ended in "\n"). */
  private readonly starts: number[] = [0];
  readonly length: number;

  constructor(readonly source: string) {
    for (let nl = source.indexOf("\n"); nl >= 0; nl = source.indexOf("\n", nl + 1)) this.starts.push(nl + 1);
    this.starts.push(source.length + 1);
    this.length = this.starts.length - 1;
  }

  /** Offset of line i's first character. */
  start(i: number): number {
    return this.starts[i]!;
  }

  /** Offset just after line i's text (before its "\r\n" or "\n"). */
  end(i: number): number {
    const e = this.starts[i + 1]! - 1;
    return e > this.starts[i]! && this.source.charCodeAt(e - 1) === 13 ? e - 1 : e;
  }

  /** The line at i, undefined past the end (like an array's element). */
  at(i: number): Line | undefined {
    if (i < 0 || i >= this.length) return undefined;
    return { index: i, start: this.starts[i]!, text: this.text(i) };
  }

  text(i: number): string {
    return this.source.slice(this.starts[i], this.end(i));
  }

  /** Lines from..to-1 joined with "\n" (as the lines array's slice(from, to).map(text).join("\n")). */
  join(from: number, to: number): string {
    const out: string[] = [];
    for (let k = from; k < Math.min(to, this.length); k++) out.push(this.text(k));
    return out.join("\n");
  }
}

export interface Message {
  /** The kernel (or program) message without log prefixes. */
  text: string;
  /** Column where `text` starts in the line. */
  column: number;
  timestamp?: string;
  /** Host name and program from a syslog/journal prefix. */
  host?: string;
  program?: string;
}

/** dmesg `[  12.345678]`, also `dmesg -d`'s `[  812.001010 <    0.000123>]` (the delta to the previous line). */
const DMESG_TS = /^\[\s*(\d+\.\d+)(?:\s*<\s*\d+\.\d+>)?\s*\]\s?/;
/** `dmesg -H`: relative `[  +0.000123]` (a delta, kept as "+0.000123") and `[Nov25 10:00]` when the minute changes. */
const DMESG_REL = /^\[\s*(\+\s*\d+\.\d+)(?:\s*<\s*\d+\.\d+>)?\s*\]\s?/;
const DMESG_H = /^\[([A-Z][a-z]{2} ?[ \d]?\d \d\d:\d\d(?::\d\d)?)\]\s?/;
const DMESG_T = /^\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})(?:\s*<\s*\d+\.\d+>)?\]\s?/;
const PROG = "([\\w.\\-/@]+?)(?:\\[\\d+\\])?: ";
/** syslog and journalctl short / short-precise: `Nov 25 10:00:00[.123456] host prog[pid]: `. */
const SYSLOG = new RegExp(`^([A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?) (\\S+) ${PROG}`);
/**
 * RFC 3339 / journalctl short-iso(-precise): `2026-11-25T10:00:00.123456+00:00 host prog: ` (a space
 * for the T too). Not with a comma decimal: that is `dmesg --time-format iso`, which prints no host,
 * so `arm-smmu-v3 arm-smmu-v3.0.auto: ` after it is a device, not a host and a program (ISO below).
 * A host name has no colon: `2023-02-13T07:02:37.075174Z qemu-system-x86_64: vtd_...: ` is QEMU's
 * `-msg timestamp=on` before its program, not a host and a program.
 */
const RFC3339 = new RegExp(`^(\\d{4}-\\d\\d-\\d\\d[T ]\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?(?:Z|[+-]\\d\\d:?\\d\\d)?) ([^\\s:]+) ${PROG}`);
/** journalctl -o short-full: `Mon 2026-11-25 10:00:00 UTC host prog: `. */
const SHORT_FULL = new RegExp(`^((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?(?: [A-Z][A-Za-z]{1,4}| [+-]\\d{4})?) (\\S+) ${PROG}`);
/** journalctl -o short-unix: `1764064800.123456 host prog: `. */
const SHORT_UNIX = new RegExp(`^(\\d{9,11}\\.\\d{1,9}) (\\S+) ${PROG}`);
/** dmesg --time-format iso (`2026-11-25T10:00:00,123456+01:00 `, no host), QEMU's `-msg timestamp=on` and libvirt's `...+0000: `. */
const ISO = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?):? /;
const BRACKET_ISO = /^\[(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\]\s?/;
/** dmesg -x: `kern  :err   : `; a syslog template's `kern.err: `. */
const LEVEL = /^(?:(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local[0-7]) *:)?(?:emerg|alert|crit|err|warn|notice|info|debug) *: |^(?:kern|user|daemon|syslog)\.(?:emerg|alert|crit|err|warn|warning|notice|info|debug): /;
const KERNEL = /^kernel: /;
/** journalctl -o short-monotonic: "[  812.001010] host kernel: " (only "kernel" as the program: "pci 0000:…: " is a message). */
const HOST_KERNEL = /^\S+ kernel: /;
/** dmesg -r / /dev/kmsg priority: "<3>". */
const PRIORITY = /^<\d{1,3}>/;
/** dmesg --color=always and terminal captures. */
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** `text` without terminal colour codes (dmesg --color=always, a terminal capture). */
export function stripAnsi(text: string): string {
  return text.includes("\x1b") ? text.replace(ANSI, "") : text;
}
/** Indentation of a pasted log (mail, markdown, a bug tracker), and a mail quote `> `. */
const INDENT = /^(?:[ \t]+|>+ ?)(?=[[A-Za-z0-9<])/;
/** `grep -H` output: `/var/log/kern.log:` (optionally `:123:`) right before a log timestamp. */
const GREP_FILE = /^[\w./-]+?:(?:\d+:)?(?=[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d |\[\s*\d+\.\d+\]|\d{4}-\d\d-\d\d[T ]\d\d:)/;
/** NUL bytes a crash or a preallocated log file leaves before a message. */
const NULS = /^\0+/;

/** Strips the log prefixes of one line (several may stack: syslog + dmesg timestamp). */
export function messageOf(line: string): Message {
  let text = stripAnsi(line);
  let column = 0;
  const m: Message = { text, column };
  for (let guard = 0; guard < 6; guard++) {
    let r: RegExpExecArray | null;
    if ((r = SYSLOG.exec(text)) || (r = RFC3339.exec(text)) || (r = SHORT_FULL.exec(text)) || (r = SHORT_UNIX.exec(text))) {
      m.timestamp ??= r[1]!;
      m.host = r[2]!;
      m.program = r[3]!;
    } else if ((r = DMESG_TS.exec(text)) || (r = DMESG_REL.exec(text)) || (r = DMESG_T.exec(text)) || (r = DMESG_H.exec(text)) || (r = BRACKET_ISO.exec(text))) {
      m.timestamp = r[1]!.startsWith("+") ? r[1]!.replace(/\s+/g, "") : r[1]!;
    } else if (m.timestamp === undefined && (r = ISO.exec(text))) {
      m.timestamp = r[1]!;
    } else if ((r = NULS.exec(text))) {
      // NUL padding, nothing to keep
    } else if (guard === 0 && ((r = INDENT.exec(text)) || (r = GREP_FILE.exec(text)))) {
      // leading indentation, a mail quote or a grep file name
    } else if ((r = PRIORITY.exec(text)) || (r = LEVEL.exec(text))) {
      // syslog priority or dmesg -x facility/level, nothing to keep
    } else if ((r = KERNEL.exec(text)) || (m.timestamp !== undefined && (r = HOST_KERNEL.exec(text)))) {
      m.program ??= "kernel";
    } else break;
    column += r[0].length;
    text = text.slice(r[0].length);
  }
  m.text = text;
  m.column = column;
  return m;
}

/**
 * Whether a text is UTF-16 read as UTF-8 (a Windows tool's export, `Out-File` in PowerShell): a
 * byte-order mark decoded as replacement characters, or NULs between the characters. Looks at the
 * first 1024 characters only.
 */
export function looksUtf16(text: string): boolean {
  if (text.startsWith("\uFFFD\uFFFD") || text.startsWith("\u00FF\u00FE") || text.startsWith("\u00FE\u00FF")) return true;
  // ASCII in UTF-16 read byte by byte: a NUL in every other position (odd for LE, even for BE), not
  // runs of NULs (the padding a crash leaves in a UTF-8 log).
  const head = text.slice(0, 1024);
  if (head.length < 16) return false;
  let even = 0;
  let odd = 0;
  for (let k = 0; k + 1 < head.length; k += 2) {
    const a = head.charCodeAt(k) === 0;
    const b = head.charCodeAt(k + 1) === 0;
    if (a && !b) even++;
    else if (b && !a) odd++;
  }
  const pairs = head.length >> 1;
  return Math.max(even, odd) * 5 >= pairs * 2 && Math.min(even, odd) * 20 < pairs;
}

export const UTF16_REASON = "UTF-16 encoded: convert with iconv -f UTF-16 -t UTF-8";
