// The trace webview's queries: filters over a real run, pages as columns, locating a step's
// events, next fault, timeline bins, comparison with the previous run, export.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { ResultKind } from "../../src/engine/traceQuery.js";
import { csvField } from "../../src/engine/traceExport.js";

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
    expect(s.handle("traceInfo", { uri: "u", filter: { text: "guest-unmap" }, compare: false }).summary.matched).toBeGreaterThan(0);
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
    expect(first.text.split("\n")[0]).toBe("index,step,line,kind,device,domain,direction,iova,hpa,result,level,reason");
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
    const json = s.handle("traceExport", { uri: "u", filter: { results: [ResultKind.Fault] }, format: "json", start: 0, count: 10 });
    expect(JSON.parse(json.text.trim())).toMatchObject({ kind: "dma", device: "04:00.0", result: "fault", iova: "0x102000" });
  });
});
