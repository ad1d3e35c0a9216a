/**
 * ftrace captures of the iommu events as people paste them: without the header, with other events
 * interleaved, mail-quoted, and wrapped by a mail client (at a space) or a narrow terminal (mid
 * word). The event bodies are include/trace/events/iommu.h's TP_printk formats (reference §8).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { detectKind, importText, parseFtrace } from "../../src/import/index.js";

const fixture = readFileSync(join(__dirname, "..", "fixtures", "evidence", "iommu-trace.txt"), "utf8");
const events = fixture.split("\n").filter((l) => /^\s*\S+-\d+ /.test(l));
const decoded = (text: string) => parseFtrace(text).records.map((r) => r.fields);

describe("ftrace pastes", () => {
  it("without the header and with scheduler events interleaved: the same iommu records", () => {
    const want = decoded(fixture);
    expect(want.length).toBeGreaterThan(3);
    const noisy = events.flatMap((l, k) => [l, `          <idle>-0       [001] d..2.   ${(812 + k / 1000).toFixed(6)}: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=qemu next_pid=4242 next_prio=120`]).join("\n");
    expect(detectKind(noisy)).toBe("ftrace");
    expect(decoded(noisy)).toEqual(want);
    expect(parseFtrace(noisy).skipped.every((s) => /sched_switch/.test(s.reason))).toBe(true);
  });

  it("mail-quoted, and wrapped at a space or mid-word: each event is one record over its lines", () => {
    const want = decoded(events.join("\n"));
    const quoted = events.map((l) => `> ${l}`).join("\n");
    expect(detectKind(quoted)).toBe("ftrace");
    expect(decoded(quoted)).toEqual(want);
    // Wrapped at column 72: a mail client breaks at the last space, a terminal anywhere.
    const soft = events.flatMap((l) => {
      if (l.length <= 72) return [l];
      const cut = l.lastIndexOf(" ", 72);
      return [l.slice(0, cut), l.slice(cut + 1)];
    });
    const hard = events.flatMap((l) => (l.length <= 72 ? [l] : [l.slice(0, 72), l.slice(72)]));
    for (const text of [soft.join("\n"), hard.join("\n"), soft.map((l) => `> ${l}`).join("\n")]) {
      const r = parseFtrace(text);
      expect(r.records.map((x) => x.fields)).toEqual(want);
      expect(r.skipped).toEqual([]);
      expect(r.records.some((x) => x.endLine === x.line + 1)).toBe(true);
    }
  });

  it("property: any wrap width and quoting keeps every record", () => {
    const want = decoded(events.join("\n"));
    fc.assert(
      fc.property(fc.integer({ min: 40, max: 200 }), fc.boolean(), fc.boolean(), (width, atSpace, quote) => {
        const lines = events.flatMap((l) => {
          if (l.length <= width) return [l];
          const cut = atSpace ? l.lastIndexOf(" ", width) : width;
          if (cut <= 0) return [l];
          return [l.slice(0, cut), l.slice(atSpace ? cut + 1 : cut)];
        });
        const text = lines.map((l) => (quote ? `> ${l}` : l)).join("\n");
        expect(importText(text, "ftrace").records.map((x) => x.fields)).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });
});
