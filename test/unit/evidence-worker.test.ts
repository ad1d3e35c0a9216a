// The evidence work of the extension runs in the worker (engine requests evidenceReadChunk/End,
// evidenceDocument, evidenceHover), so the extension host bundles no importer: a file streamed in
// any chunks gives the records the CLI's reader gives, a restart mid-import is an error (never a
// silently shortened import), the decoded document is import/document.ts's with the explanations,
// and the host's modules reach none of the importers.
import { readFileSync } from "node:fs";
import { isAscii } from "node:buffer";
import { dirname, join, resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { decodeEvidenceBytes, decodeEvidenceText, type AsciiFastPath } from "../../src/import/decode.js";
import { renderEvidenceDocument } from "../../src/import/document.js";
import { explainRecords, rankingContext } from "../../src/import/index.js";
import { hostTableUnits } from "../../src/import/hostTables.js";

const root = join(__dirname, "..", "..");
const dir = join(root, "test", "fixtures", "evidence");
const mixed = readFileSync(join(dir, "mixed-dmesg.txt"));
const FAST: AsciiFastPath = { isAscii: (b) => isAscii(b), latin1: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") };

/** The bytes sent as the host sends them: chunks of the given sizes (repeated), then the end. */
function readThroughWorker(server: EngineServer, id: string, bytes: Uint8Array, cuts: number[], maxRecords?: number) {
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const n = cuts[k % cuts.length]!;
    const chunk = bytes.slice(at, at + n);
    server.handle("evidenceReadChunk", { id, at, bytes: chunk, ...(maxRecords !== undefined ? { maxRecords } : {}) });
    at += chunk.byteLength;
  }
  return server.handle("evidenceReadEnd", { id });
}

describe("evidence files streamed into the worker", () => {
  it("any chunking gives the records of the whole file, with and without the ASCII fast path", () => {
    const whole = decodeEvidenceBytes(new Uint8Array(mixed));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 5 }), fc.boolean(), (cuts, fast) => {
        const server = new EngineServer(undefined, fast ? { asciiFast: FAST } : {});
        const r = readThroughWorker(server, "a", new Uint8Array(mixed), cuts);
        expect(r).toMatchObject({ kind: whole.kind, records: whole.records, skipped: whole.skipped, lines: whole.lines, encoding: "utf-8" });
      }),
      { numRuns: 40, seed: 25 },
    );
  });

  it("keeps at most maxRecords and counts the rest; two imports at once do not mix", () => {
    const server = new EngineServer();
    const all = decodeEvidenceBytes(new Uint8Array(mixed)).records.length;
    server.handle("evidenceReadChunk", { id: "a", at: 0, bytes: new Uint8Array(mixed.subarray(0, 100)), maxRecords: 2 });
    const b = readThroughWorker(server, "b", new Uint8Array(mixed), [1000]);
    server.handle("evidenceReadChunk", { id: "a", at: 100, bytes: new Uint8Array(mixed.subarray(100)) });
    const a = server.handle("evidenceReadEnd", { id: "a" });
    expect(b?.records.length).toBe(all);
    expect(a?.records.length).toBe(2);
    expect(a?.dropped).toBe(all - 2);
  });

  it("a chunk the worker cannot place (restarted mid-import) is an error; cancel and end let the reader go", () => {
    const server = new EngineServer();
    expect(() => server.handle("evidenceReadChunk", { id: "x", at: 4096, bytes: new Uint8Array(mixed.subarray(4096, 8192)) })).toThrow(/lost its first 4096 bytes \(the engine was restarted\); import the file again/);
    server.handle("evidenceReadChunk", { id: "y", at: 0, bytes: new Uint8Array(mixed.subarray(0, 10)) });
    expect(() => server.handle("evidenceReadChunk", { id: "y", at: 20, bytes: new Uint8Array(mixed.subarray(20, 30)) })).toThrow(/lost/);
    expect(server.handle("evidenceReadEnd", { id: "y", cancel: true })).toBeNull();
    expect(server.handle("evidenceReadEnd", { id: "y" })).toBeNull();
  });

  it("evidenceReadEnd with explain answers the explanations and the document of the records it read, as the separate requests do", () => {
    const server = new EngineServer();
    const text = readFileSync(join(dir, "real-world.txt"));
    server.handle("evidenceReadChunk", { id: "e", at: 0, bytes: new Uint8Array(text) });
    const r = server.handle("evidenceReadEnd", { id: "e", explain: { source: "real-world.txt", history: [], context: [] } })!;
    const explanations = server.handle("evidenceExplain", { records: r.records, history: r.records.filter((x) => x.kind === "ftrace"), context: [] });
    expect(explanations.length).toBeGreaterThan(0);
    expect(r.explanations).toEqual(explanations);
    expect(r.laid).toEqual(server.handle("evidenceDocument", { source: "real-world.txt", kind: r.kind, records: r.records, skipped: r.skipped, explanations }));
  });

  it("a big import beats while it is explained and laid out: the host's watchdog never takes it for a hang", () => {
    const server = new EngineServer();
    const slots = new Int32Array(new SharedArrayBuffer(8));
    server.cancelSlots = slots;
    server.heartbeat = 1;
    const line = mixed.toString("utf8").split("\n").find((l) => l.includes("fault reason 0x06"))!;
    const bytes = new TextEncoder().encode(`${Array.from({ length: 3000 }, () => line).join("\n")}\n`);
    server.handle("evidenceReadChunk", { id: "big", at: 0, bytes });
    const r = server.handle("evidenceReadEnd", { id: "big", explain: { source: "big.log", history: [], context: [] } })!;
    expect(r.records.length).toBe(3000);
    // Before and after each phase, and every 1 000 records of the explanations and of the layout.
    expect(Atomics.load(slots, 1)).toBeGreaterThanOrEqual(9);
  });
});

describe("the decoded document and the log hover from the worker", () => {
  it("evidenceDocument: import/document.ts's layout with the explanations, the ranking records", () => {
    const server = new EngineServer();
    const ev = decodeEvidenceText(readFileSync(join(dir, "real-world.txt"), "utf8"));
    const explanations = server.handle("evidenceExplain", { records: ev.records, history: [], context: [] });
    expect(explanations.length).toBeGreaterThan(0);
    const r = server.handle("evidenceDocument", { source: "real-world.txt", kind: ev.kind, records: ev.records, skipped: ev.skipped, explanations });
    expect(r.document).toEqual(renderEvidenceDocument({ source: "real-world.txt", kind: ev.kind, records: ev.records, skipped: ev.skipped, explanations }));
    expect(r.ranking).toEqual(rankingContext([ev.records]));
    expect(r.hostUnits).toBeUndefined();
  });

  it("evidenceDocument of a debugfs dump names its DMAR units (Create Scenario asks which)", () => {
    const server = new EngineServer();
    const ev = decodeEvidenceText(readFileSync(join(dir, "debugfs-kabylake.txt"), "utf8"));
    const r = server.handle("evidenceDocument", { source: "d.txt", kind: ev.kind, records: ev.records, skipped: ev.skipped, explanations: [] });
    expect(r.hostUnits).toEqual(hostTableUnits(ev.records));
    expect(r.hostUnits!.length).toBeGreaterThan(0);
  });

  it("evidenceHover: the record on the hovered line with its meaning and first three causes, null between records", () => {
    const server = new EngineServer();
    const text = mixed.toString("utf8");
    const lines = text.split("\n");
    const at = lines.findIndex((l) => l.includes("fault reason 0x06"));
    const h = server.handle("evidenceHover", { text, line: at });
    const recs = decodeEvidenceText(text).records;
    const i = recs.findIndex((x) => x.line <= at && x.endLine >= at);
    const e = explainRecords(recs).find((x) => x.record === i)!;
    expect(h).toEqual({ line: recs[i]!.line, endLine: recs[i]!.endLine, kind: "dmar-fault", summary: recs[i]!.summary, meaning: e.meaning, causes: e.causes.slice(0, 3) });
    expect(server.handle("evidenceHover", { text: "no evidence here\n", line: 0 })).toBeNull();
  });
});

describe("the extension host's modules", () => {
  /** The modules `file` loads at run time, transitively (type-only imports are erased; packages by name). */
  function loaded(file: string, seen = new Set<string>()): Set<string> {
    if (seen.has(file)) return seen;
    seen.add(file);
    if (!file.startsWith("/")) return seen;
    const code = readFileSync(file, "utf8");
    for (const m of code.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s*["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      if (!spec.startsWith(".")) loaded(spec, seen);
      else loaded(resolve(dirname(file), spec.replace(/\.js$/, ".ts")), seen);
    }
    return seen;
  }

  it("load no importer, explainer or YAML parser (they run in the worker); of import/ only document.ts, for the decoded document's path", () => {
    const host = [...loaded(join(root, "src", "extension", "extension.ts"))].map((f) => f.replace(`${root}/`, ""));
    expect(host).toContain("src/extension/evidence.ts");
    expect(host.filter((f) => f.startsWith("src/import/") || f.startsWith("src/scenario/parse") || f === "yaml")).toEqual(["src/import/document.ts"]);
  });
});
