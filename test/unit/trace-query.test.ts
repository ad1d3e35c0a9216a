// The trace webview's queries: filters over a real run, pages as columns, locating a step's
// events, next fault, timeline bins, comparison with the previous run, export.
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { Session } from "../../src/engine/session.js";
import { DIFF_ADDED, DIFF_CHANGED, DIFF_KIND_MASK, DIFF_REMOVED_AFTER, DIFF_REMOVED_BEFORE, DIFF_SAME, ResultKind, TraceQuery } from "../../src/engine/traceQuery.js";
import { csvField, csvText, exportRows } from "../../src/engine/traceExport.js";
import { rowCells, type Radix, type RowFields } from "../../src/trace/rowDisplay.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

function open(text: string) {
  const server = new EngineServer();
  server.handle("update", { uri: "u", version: 1, text });
  return server;
}

describe("trace queries", () => {
  it("filters by result, reason, device and IOVA range, with counts", () => {
    const s = open(read("dma-after-unmap"));
    const all = s.handle("traceInfo", { uri: "u", filter: {}, compare: false });
    expect(all.summary.matched).toBe(all.summary.total);
    expect(all.summary.faults).toBe(1);
    const faults = s.handle("tracePage", { uri: "u", filter: { results: [ResultKind.Fault] }, start: 0, count: 100, compare: false });
    expect(faults.matched).toBe(1);
    expect((faults.columns.reason as Uint8Array)[0]).toBe(0x05);
    const hits = s.handle("traceInfo", { uri: "u", filter: { results: [ResultKind.Hit] }, compare: false });
    expect(hits.summary.matched).toBe(1); // the read of 0x102000 after the write filled the IOTLB
    const range = s.handle("tracePage", { uri: "u", filter: { results: [ResultKind.Walk, ResultKind.Hit, ResultKind.Fault], iovaMin: "0x102000", iovaMax: "0x102fff" }, start: 0, count: 100, compare: false });
    expect(range.matched).toBe(3); // the write, the read (hit) and the faulting write
    const dev = all.devices.find((d) => d.key === "04:00.0")!;
    expect(s.handle("traceInfo", { uri: "u", filter: { sids: [dev.sid + 1] }, compare: false }).summary.matched).toBe(0);
    expect(s.handle("traceInfo", { uri: "u", filter: { text: "unmap" }, compare: false }).summary.matched).toBeGreaterThan(0);
  });

  it("pages are bounded column buffers; locate and next fault find rows", () => {
    const s = open(read("dma-after-unmap"));
    const p = s.handle("tracePage", { uri: "u", filter: {}, start: 2, count: 3, compare: false });
    expect(p.count).toBe(3);
    expect(Array.from(p.columns.index as Uint32Array)).toEqual([2, 3, 4]);
    const loc = s.handle("traceLocate", { uri: "u", filter: {}, step: 5 });
    const page = s.handle("tracePage", { uri: "u", filter: {}, start: loc.row, count: 1, compare: false });
    expect((page.columns.step as Uint32Array)[0]).toBe(5);
    const nf = s.handle("traceNextFault", { uri: "u", filter: {}, row: -1, dir: 1 });
    expect(nf.row).toBe(loc.row);
    expect(s.handle("traceNextFault", { uri: "u", filter: {}, row: nf.row, dir: 1 }).row).toBe(-1);
  });

  it("timeline bins count every kept event once and mark faults", () => {
    const s = open(read("dma-after-unmap"));
    const info = s.handle("traceInfo", { uri: "u", filter: {}, compare: false });
    const tl = s.handle("traceTimeline", { uri: "u", filter: {}, buckets: 7 });
    expect(tl.events.reduce((a, b) => a + b, 0)).toBe(info.summary.total);
    expect(tl.faults.reduce((a, b) => a + b, 0)).toBe(1);
    expect(tl.steps.length).toBe(6);
  });

  it("compare with the previous run marks added and changed events", () => {
    const s = open(read("dma-after-unmap"));
    const text2 = read("dma-after-unmap").replace("iova: 0x10_0000, length: 16KiB, write: true }", "iova: 0x10_0000, length: 20KiB, write: true }").replace("expect: { ok: true, faults: 0 }", "expect: { faults: 1 }");
    s.handle("update", { uri: "u", version: 2, text: text2 });
    const info = s.handle("traceInfo", { uri: "u", filter: {}, compare: true });
    expect(info.canCompare).toBe(true);
    const page = s.handle("tracePage", { uri: "u", filter: {}, start: 0, count: 1000, compare: true });
    const marks = Array.from(page.columns.diff as Uint8Array);
    expect(marks.filter((m) => m === 1).length).toBe(1); // the fifth page of the longer DMA
    expect(marks.filter((m) => m === 0).length).toBeGreaterThan(5);
  });

  it("exports the filtered rows as CSV in chunks, fields quoted as RFC 4180 wants", () => {
    const s = open(read("dma-after-unmap"));
    const first = s.handle("traceExport", { uri: "u", filter: {}, format: "csv", start: 0, count: 5 });
    expect(first.text.split("\n")[0]).toBe("index,step,line,kind,device,vm,pasid,domain,direction,iova,hpa,result,level,reason,cause");
    expect(first.done).toBe(false);
    let text = first.text;
    let next = first.next;
    for (;;) {
      const r = s.handle("traceExport", { uri: "u", filter: {}, format: "csv", start: next, count: 5 });
      text += r.text;
      next = r.next;
      if (r.done) break;
    }
    const rows = text.trim().split("\n");
    expect(rows.length).toBe(first.matched + 1);
    expect(rows.some((r) => r.includes("fault") && r.includes("0x05 PTE Write access is not set"))).toBe(true);
    expect(csvField('a "b", c')).toBe('"a ""b"", c"');
    // The device's VM, and an empty PASID (scalable mode is not simulated).
    expect(rows.filter((r) => r.includes(",dma,")).every((r) => r.split(",").slice(4, 7).join(",") === "04:00.0,fw01,")).toBe(true);
  });

  it("exports a filtered JSON document in chunks: JSON.parse takes it, exactly the filtered rows, with vm and pasid", () => {
    const s = open(read("dma-after-unmap"));
    const filter = { results: [ResultKind.Walk, ResultKind.Hit, ResultKind.Fault] };
    const page = s.handle("tracePage", { uri: "u", filter, start: 0, count: 1000, compare: false });
    expect(page.matched).toBeGreaterThan(4);
    let text = "";
    let next = 0;
    let chunks = 0;
    for (;;) {
      const r = s.handle("traceExport", { uri: "u", filter, format: "json", start: next, count: 2 });
      text += r.text;
      next = r.next;
      chunks++;
      if (r.done) break;
    }
    expect(chunks).toBeGreaterThan(2);
    const doc = JSON.parse(text) as Record<string, unknown>[];
    expect(Array.isArray(doc)).toBe(true);
    expect(doc.map((r) => r.index)).toEqual(Array.from(page.columns.index as Uint32Array));
    for (const r of doc) expect(r).toMatchObject({ kind: "dma", device: "04:00.0", vm: "fw01", pasid: null });
    expect(doc.filter((r) => r.result === "fault")).toMatchObject([{ iova: "0x102000", reason: "0x05 PTE Write access is not set" }]);
    // Nothing matches: still a document.
    expect(JSON.parse(s.handle("traceExport", { uri: "u", filter: { text: "no such row" }, format: "json", start: 0, count: 10 }).text)).toEqual([]);
  });

  it("CSV quotes quotes, commas and newlines and neutralises formulas in text fields only", () => {
    expect(csvField('a "b", c')).toBe('"a ""b"", c"');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvText("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0");
    for (const c of ["+", "-", "@", "\t", "\r"]) expect(csvText(`${c}1`).replace(/^"/, "").startsWith(`'${c}`)).toBe(true);
    expect(csvText("04:00.0")).toBe("04:00.0");
    // VM names may start with "-" (letters, digits, _ . -): "-A1" is a formula to a spreadsheet.
    const session = new Session("u");
    session.update(read("dma-after-unmap").replace(/fw01/g, "-A1"));
    expect(session.run).toBeDefined();
    // Device names from a hostile host: a formula; quotes, commas and a newline.
    const names = ["=cmd|' /C calc'!A0", 'quote " comma , and\nnewline'];
    let n = 0;
    const device = () => names[n++ % 2]!;
    const q = new TraceQuery(session.run!, session.scenario!, device);
    const { text } = exportRows(q, session.run!, { results: [ResultKind.Walk] }, "csv", 0, 10, device);
    const lines = text.split("\n");
    expect(lines[1]).toMatch(/^\d+,\d+,\d+,dma,'=cmd\|' \/C calc'!A0,,,\d+,write,0x100000,0x\w+,walk,\d,,$/);
    expect(text).toContain(',"quote "" comma , and\nnewline",');
    expect(text).not.toMatch(/(^|,)[=@+-]/m);
    const vq = new TraceQuery(session.run!, session.scenario!, () => "04:00.0");
    const vmText = exportRows(vq, session.run!, { results: [ResultKind.Walk] }, "csv", 0, 10, () => "04:00.0").text;
    expect(vmText.split("\n")[1]).toMatch(/^\d+,\d+,\d+,dma,04:00\.0,'-A1,,\d+,/);
  });

  it("compare pairs steps by identity: a step inserted above, an event removed, a result changed", () => {
    const text1 = read("dma-after-unmap");
    const s = open(text1);
    const before = s.handle("tracePage", { uri: "u", filter: {}, start: 0, count: 1000, compare: false });
    // A new (faulting) DMA above everything, and the 16 KiB write shrunk to 8 KiB: two pages fewer,
    // so the read of 0x102000 after it walks instead of hitting the IOTLB.
    const text2 = text1.replace("  - start: fw01\n", '  - start: fw01\n  - dma: { device: "04:00.0", iova: 0x20_0000, length: 4KiB, write: false }\n').replace("length: 16KiB, write: true }", "length: 8KiB, write: true }");
    s.handle("update", { uri: "u", version: 2, text: text2 });
    const page = s.handle("tracePage", { uri: "u", filter: {}, start: 0, count: 1000, compare: true });
    const step = Array.from(page.columns.step as Uint32Array);
    const marks = Array.from(page.columns.diff as Uint8Array);
    const kindOf = (m: number) => m & DIFF_KIND_MASK;
    const rows = (st: number) => marks.filter((_, k) => step[k] === st);
    // The guest-unmap removes four 4 KiB VFIO mappings (QEMU shadows the guest's entries page by
    // page), so type1 flushes the IOTLB once per mapping: an Unmap and four Invalidate events.
    expect(before.count).toBe(16);
    expect(page.count).toBe(15);
    expect(rows(1)).toEqual([DIFF_ADDED]); // the inserted step
    expect(rows(2).map(kindOf)).toEqual([DIFF_SAME]); // guest-map, now step 3: its old self
    expect(rows(3).map(kindOf)).toEqual([DIFF_SAME, DIFF_SAME]); // the shrunk write: two pages left...
    expect(rows(3)[1]! & DIFF_REMOVED_AFTER).toBeTruthy(); // ...and two removed after them
    const last = step.lastIndexOf(3);
    expect((page.columns.removedAfter as Uint32Array)[last]).toBe(2);
    expect(rows(4)).toEqual([DIFF_CHANGED]); // the read: a walk now
    expect(rows(5)).toEqual([DIFF_SAME, DIFF_SAME, DIFF_SAME, DIFF_SAME, DIFF_SAME]); // guest-unmap
    expect(rows(6)).toEqual([DIFF_SAME]); // the late write still faults the same way
    expect(s.handle("traceInfo", { uri: "u", filter: {}, compare: true }).removed).toBe(2);
    // A deleted step: its event is removed before the event of the step that now follows.
    const text3 = text2.replace('  - dma: { device: "04:00.0", iova: 0x10_2000, length: 4KiB, write: false }\n    expect: { iotlb: hit }\n', "");
    expect(text3).not.toBe(text2);
    s.handle("update", { uri: "u", version: 3, text: text3 });
    const p3 = s.handle("tracePage", { uri: "u", filter: {}, start: 0, count: 1000, compare: true });
    const m3 = Array.from(p3.columns.diff as Uint8Array);
    expect(m3.map(kindOf).every((m) => m === DIFF_SAME)).toBe(true);
    const at = m3.findIndex((m) => m & DIFF_REMOVED_BEFORE);
    expect((p3.columns.step as Uint32Array)[at]).toBe(4); // the guest-unmap's first event
    expect((p3.columns.removed as Uint32Array)[at]).toBe(1);
    expect(m3.filter((m) => m & (DIFF_REMOVED_BEFORE | DIFF_REMOVED_AFTER)).length).toBe(1);
  });
});

// Search matches what a row shows: the webview draws rowCells' strings and the search matches the
// same strings, so a word the user reads in a row finds that row.
describe("trace search matches the rows as displayed", () => {
  const examples = readdirSync(join(__dirname, "..", "..", "examples")).filter((f) => f.endsWith(".passthrough.yaml")).map((f) => f.replace(".passthrough.yaml", ""));

  /** Every row of a run as the webview shows it: rowCells over a page's columns with traceInfo's devices and the model's reason names. */
  function displayed(s: EngineServer, radix: Radix): { event: number; cells: string[] }[] {
    const info = s.handle("traceInfo", { uri: "u", filter: {}, compare: false });
    const bySid = new Map(info.devices.map((d) => [d.sid, d]));
    const page = s.handle("tracePage", { uri: "u", filter: {}, start: 0, count: 4096, compare: false });
    const c = page.columns as unknown as Record<string, ArrayLike<number>>;
    const rows: { event: number; cells: string[] }[] = [];
    for (let k = 0; k < page.count; k++) {
      const f: RowFields = { index: c.index![k]!, step: c.step![k]!, kind: c.kind![k]!, flags: c.flags![k]!, level: c.level![k]!, reason: c.reason![k]!, sid: c.sid![k]!, did: c.did![k]!, aLo: c.aLo![k]!, aHi: c.aHi![k]!, bLo: c.bLo![k]!, bHi: c.bHi![k]!, pasid: c.pasid![k]!, cause: c.cause![k]! };
      rows.push({ event: f.index, cells: rowCells(f, bySid.get(f.sid), radix, undefined, info.reasonNames) });
    }
    return rows;
  }

  for (const name of examples) {
    it(`${name}: every word of every row's cells finds that row (hex and decimal)`, () => {
      const s = open(read(name));
      for (const radix of ["hex", "dec"] as const) {
        const rows = displayed(s, radix);
        expect(rows.length).toBeGreaterThan(0);
        const found = new Map<string, Set<number>>();
        const find = (word: string) => {
          let hit = found.get(word);
          if (!hit) {
            const page = s.handle("tracePage", { uri: "u", filter: { text: word, ...(radix === "dec" ? { radix } : {}) }, start: 0, count: 4096, compare: false });
            found.set(word, (hit = new Set(page.columns.index as Uint32Array)));
          }
          return hit;
        };
        // Every row of the small examples; of a large trace (healthy-nic: 2,062 events, each word one
        // search over the whole trace) the first and last 50 rows, every 16th row and every row that
        // is a fault.
        const check = rows.length <= 300 ? rows : rows.filter((r, k) => k < 50 || k >= rows.length - 50 || k % 16 === 0 || r.cells[7]!.startsWith("fault"));
        for (const row of check)
          for (const cell of row.cells)
            for (const word of cell.split(/\s+/).filter(Boolean)) {
              if (!find(word).has(row.event)) throw new Error(`${name} (${radix}): "${word}" (cell "${cell}") does not find event #${row.event}`);
              if (!find(word.toUpperCase()).has(row.event)) throw new Error(`${name} (${radix}): "${word.toUpperCase()}" does not find event #${row.event} (search is case-insensitive)`);
            }
      }
    });
  }

  it("finds device names, VMs, results and fault reasons the rows show (the words users typed)", () => {
    const s = open(read("write-to-readonly"));
    const rows = displayed(s, "hex");
    const count = (text: string) => s.handle("traceInfo", { uri: "u", filter: { text }, compare: false }).summary.matched;
    for (const text of ["NVMe", "db01", "fault", "walk", "W not set", "nvme"]) {
      const shown = rows.filter((r) => r.cells.some((c) => c.toLowerCase().includes(text.toLowerCase()))).length;
      expect(shown, text).toBeGreaterThan(0);
      expect(count(text), text).toBe(shown);
    }
    const inv = open(read("stale-iotlb"));
    expect(inv.handle("traceInfo", { uri: "u", filter: { text: "invalidate" }, compare: false }).summary.matched).toBeGreaterThan(0);
  });

  it("any substring of a row's displayed text, in any case, finds the row (property)", () => {
    const s = open(read("dma-after-unmap"));
    const rows = displayed(s, "hex").filter((r) => r.cells.join(" ").trim().length > 0);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: rows.length - 1 }), fc.integer({ min: 0, max: 8 }), fc.nat(), fc.integer({ min: 1, max: 20 }), fc.boolean(), (r, c, start, len, upper) => {
        const cell = rows[r]!.cells[c]!;
        fc.pre(cell.trim().length > 0);
        const from = start % cell.length;
        const sub = cell.slice(from, from + len);
        fc.pre(sub.trim().length > 0);
        const text = upper ? sub.toUpperCase() : sub;
        const page = s.handle("tracePage", { uri: "u", filter: { text }, start: 0, count: 4096, compare: false });
        expect(Array.from(page.columns.index as Uint32Array)).toContain(rows[r]!.event);
      }),
      { numRuns: 300 },
    );
  });
});
