/**
 * Huge evidence: a log of millions of fault records, streamed as the extension's "Import Evidence…"
 * streams a file (chunks into an EvidenceReader), keeps at most `maxRecords` records and counts
 * the rest, so the extension host's memory is bounded by the limit, not by the file. The log is
 * generated chunk by chunk (nothing on disk); the limit is injected small so the test stays fast -
 * the behaviour is the same at 1 GB (measured once, see the commit message).
 */
import { describe, expect, it } from "vitest";
import { EvidenceReader } from "../../src/import/decode.js";

const enc = new TextEncoder();
const faultLine = (k: number) => `[ ${(5 + k / 1000).toFixed(6)}] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x${(0x10000 + (k % 4096) * 0x1000).toString(16)} [fault reason 0x05] PTE Write access is not set\n`;

/** `lines` log lines (every third a DMAR fault, the rest noise), as byte chunks of about `chunk` bytes, cut anywhere (mid-line). */
function* generatedLog(lines: number, chunk = 256 * 1024): Generator<Uint8Array> {
  let text = "";
  for (let k = 0; k < lines; k++) {
    text += k % 3 === 0 ? faultLine(k) : `[ ${(5 + k / 1000).toFixed(6)}] usb 1-1: noise line ${k} <img src=x onerror=alert(1)>\n`;
    if (text.length >= chunk) {
      const cut = text.length - 7; // never on a line boundary
      yield enc.encode(text.slice(0, cut));
      text = text.slice(cut);
    }
  }
  if (text) yield enc.encode(text);
}

describe("huge evidence imports: bounded records, the rest counted", () => {
  it("a log with more records than the limit keeps the first `maxRecords` and counts the others", () => {
    const LINES = 150_000;
    const reader = new EvidenceReader({ maxRecords: 1000 });
    let chunks = 0;
    for (const c of generatedLog(LINES)) {
      reader.pushBytes(c);
      chunks++;
    }
    const r = reader.end();
    expect(chunks).toBeGreaterThan(10); // streamed, not one string
    expect(r.lines).toBeGreaterThanOrEqual(LINES);
    expect(r.records).toHaveLength(1000);
    expect(r.dropped).toBe(LINES / 3 - 1000);
    // The kept records are the first ones, in order, with their line numbers.
    expect(r.records.map((x) => x.line)).toEqual(Array.from({ length: 1000 }, (_, i) => i * 3));
    expect(r.records.every((x) => x.kind === "dmar-fault")).toBe(true);
    // The noise between the faults: one run of skipped lines per gap, bounded by the same limit.
    expect(r.skipped.length).toBeLessThanOrEqual(1000);
  });

  it("under the limit nothing is dropped (no 'dropped' field)", () => {
    const reader = new EvidenceReader({ maxRecords: 1000 });
    for (const c of generatedLog(300)) reader.pushBytes(c);
    const r = reader.end();
    expect(r.records).toHaveLength(100);
    expect(r.dropped).toBeUndefined();
  });
});
