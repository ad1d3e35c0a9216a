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

const DMESG_TS = /^\[\s*(\d+\.\d+)\]\s?/;
const DMESG_T = /^\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\]\s?/;
const SYSLOG = /^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([\w.\-/@]+?)(?:\[\d+\])?: /;
const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) (\S+) ([\w.\-/@]+?)(?:\[\d+\])?: /;
const KERNEL = /^kernel: /;
/** journalctl -o short-monotonic: "[  812.001010] host kernel: " (only "kernel" as the program: "pci 0000:…: " is a message). */
const HOST_KERNEL = /^\S+ kernel: /;
/** dmesg -r / /dev/kmsg priority: "<3>". */
const PRIORITY = /^<\d{1,3}>/;
/** dmesg --color=always and terminal captures. */
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
/** Indentation of a pasted log (mail, markdown, a bug tracker). */
const INDENT = /^[ \t]+(?=[[A-Za-z0-9])/;

/** Strips the log prefixes of one line (several may stack: syslog + dmesg timestamp). */
export function messageOf(line: string): Message {
  let text = line.includes("\x1b") ? line.replace(ANSI, "") : line;
  let column = 0;
  const m: Message = { text, column };
  for (let guard = 0; guard < 4; guard++) {
    let r: RegExpExecArray | null;
    if ((r = SYSLOG.exec(text)) || (r = RFC3339.exec(text))) {
      m.timestamp ??= r[1]!;
      m.host = r[2]!;
      m.program = r[3]!;
    } else if ((r = DMESG_TS.exec(text)) || (r = DMESG_T.exec(text))) {
      m.timestamp = r[1]!;
    } else if (guard === 0 && (r = INDENT.exec(text))) {
      // leading indentation only
    } else if ((r = PRIORITY.exec(text))) {
      // syslog priority, nothing to keep
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
