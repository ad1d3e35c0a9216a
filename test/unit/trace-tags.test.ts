// What the DMA Trace and the debugger show beyond the trace's columns: the PASID of a request
// (column shown only for scenarios with PASIDs) and, for a host mapping QEMU made for a guest
// vIOMMU, the guest action that caused it (the model's note, sim/viommu.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { rowCells, type RowFields } from "../../src/trace/rowDisplay.js";
import { EventKind } from "../../src/trace/trace.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

function open(text: string) {
  const server = new EngineServer();
  server.handle("update", { uri: "u", version: 1, text });
  return server;
}

type Cols = Record<"index" | "step" | "kind" | "flags" | "level" | "reason" | "sid" | "did" | "aLo" | "aHi" | "bLo" | "bHi" | "pasid" | "cause", ArrayLike<number>>;

function page(s: EngineServer): { columns: Cols; count: number } {
  const p = s.handle("tracePage", { uri: "u", filter: {}, start: 0, count: 4096, compare: false });
  return { columns: p.columns as unknown as Cols, count: p.count };
}

function fields(c: Cols, k: number): RowFields {
  const g = (n: keyof Cols) => c[n][k]!;
  return { index: g("index"), step: g("step"), kind: g("kind"), flags: g("flags"), level: g("level"), reason: g("reason"), sid: g("sid"), did: g("did"), aLo: g("aLo"), aHi: g("aHi"), bLo: g("bLo"), bHi: g("bHi"), pasid: g("pasid"), cause: g("cause") };
}

/** The rows of map events: [step, IOVA, cause]. */
function maps(s: EngineServer): [number, number, number][] {
  const p = page(s);
  const out: [number, number, number][] = [];
  for (let k = 0; k < p.count; k++) if (p.columns.kind[k] === EventKind.Map) out.push([p.columns.step[k]!, p.columns.aLo[k]!, p.columns.cause[k]!]);
  return out;
}

describe("host mappings link to the guest action that caused them", () => {
  const text = read("viommu-late-shadow");

  it("the forgotten entry's host mapping names the guest step that wrote it; the others their own step", () => {
    const s = open(text);
    // Step 4 (index 3) flushes 16 KiB: three of its own entries, then the one step 2 (index 1) wrote.
    expect(maps(s)).toEqual([
      [3, 0x100000, 3],
      [3, 0x103000, 1],
    ]);
    const p = page(s);
    const k = Array.from({ length: p.count }, (_, i) => i).find((i) => p.columns.kind[i] === EventKind.Map && p.columns.cause[i] === 1)!;
    const cells = rowCells(fields(p.columns, k), undefined, "hex");
    expect(cells[7]).toBe("map ← guest step 2");
    // Free-text search matches what the row shows.
    expect(s.handle("traceInfo", { uri: "u", filter: { text: "guest step 2" }, compare: false }).summary.matched).toBe(1);
    // DMA rows have no cause, and no PASID (the scenario has none: the column is hidden).
    for (let i = 0; i < p.count; i++) if (p.columns.kind[i] === EventKind.Dma) expect([p.columns.cause[i], p.columns.pasid[i]]).toEqual([-1, -1]);
    expect(s.handle("traceInfo", { uri: "u", filter: {}, compare: false }).usesPasid).toBe(false);
  });

  it("a run resumed from a checkpoint keeps the causes of the events before it", () => {
    // Checkpoints are taken every 8 steps (DEFAULT_POLICY): steps after the mapping, then an edit
    // past the checkpoint, so the new run restores the machine from it instead of re-running step 4.
    const long = (last: string) => `${text}${"  - wait: 1us\n".repeat(10)}  - wait: ${last}\n`;
    const s = open(long("1us"));
    s.handle("update", { uri: "u", version: 2, text: long("2us") });
    expect(maps(s)).toEqual([
      [3, 0x100000, 3],
      [3, 0x103000, 1],
    ]);
  });

  it("the debugger's scope of that event names the guest step and the invalidating step", () => {
    const s = open(text);
    const p = page(s);
    const k = Array.from({ length: p.count }, (_, i) => i).find((i) => p.columns.kind[i] === EventKind.Map && p.columns.cause[i] === 1)!;
    const event = p.columns.index[k]!;
    const scopes = s.handle("debugScopes", { uri: "u", pos: { step: 3, event } });
    const scope = scopes.find((x) => x.name.startsWith("Mapping"))!;
    expect(scope).toBeDefined();
    const cause = scope.vars.find((v) => v.name === "caused by")!;
    expect(cause.value).toMatch(/^guest step 2 \(guest-map, line \d+\) wrote the entry; the invalidation of step 4 \(guest-map, line \d+\) shadowed it$/);
    expect(cause.children?.find((v) => v.name === "guest step")?.value).toBe("2");
    // The Debug Console and breakpoint conditions see it as `cause`.
    expect(s.handle("debugEvaluate", { uri: "u", pos: { step: 3, event }, expression: "cause == 2" })).toMatchObject({ result: "true" });
    // A map of the step's own entries: caused by this step's invalidation.
    const own = p.columns.index[Array.from({ length: p.count }, (_, i) => i).find((i) => p.columns.kind[i] === EventKind.Map && p.columns.cause[i] === 3)!]!;
    const v = s.handle("debugScopes", { uri: "u", pos: { step: 3, event: own } }).find((x) => x.name.startsWith("Mapping"))!.vars.find((x) => x.name === "caused by")!;
    expect(v.value).toMatch(/^guest step 4 \(guest-map, line \d+\): QEMU replayed its IOTLB invalidation$/);
  });

  it("a virtio-iommu VM's map: the debugger names the guest's MAP request, not an IOTLB invalidation", () => {
    const s = open(read("virtio-iommu-arm"));
    const p = page(s);
    const k = Array.from({ length: p.count }, (_, i) => i).find((i) => p.columns.kind[i] === EventKind.Map && p.columns.cause[i]! >= 0)!;
    const step = p.columns.step[k]!;
    const scope = s.handle("debugScopes", { uri: "u", pos: { step, event: p.columns.index[k]! } }).find((x) => x.name.startsWith("Mapping"))!;
    const cause = scope.vars.find((v) => v.name === "caused by")!;
    expect(cause.value).toMatch(new RegExp(`^guest step ${step + 1} \\(guest-map, line \\d+\\): its virtio-iommu driver's MAP request, passed to VFIO at once$`));
    expect(cause.children?.some((v) => v.name === "invalidated at step")).toBe(false);
    expect(cause.children?.find((v) => v.name === "how")?.value).toMatch(/virtio_iommu_map/);
  });

  it("a plain VFIO map (no vIOMMU) has no cause", () => {
    const s = open(read("amd-io-page-fault"));
    expect(maps(s).length).toBeGreaterThan(0);
    expect(maps(s).every(([, , c]) => c === -1)).toBe(true);
  });
});

describe("PASID in the trace", () => {
  it("requests with PASID show it in hex; those without a dash; the column is on", () => {
    const s = open(read("first-level-permission"));
    expect(s.handle("traceInfo", { uri: "u", filter: {}, compare: false }).usesPasid).toBe(true);
    const p = page(s);
    const shown = new Set<string>();
    for (let k = 0; k < p.count; k++) if (p.columns.kind[k] === EventKind.Dma) shown.add(rowCells(fields(p.columns, k), undefined, "hex")[4]!);
    expect([...shown].sort()).toEqual(["0x5", "—"]);
    // Searching for the PASID finds the three PASID requests (the cell as shown).
    expect(s.handle("traceInfo", { uri: "u", filter: { text: "0x5\t" }, compare: false }).summary.matched).toBe(3);
    // The export carries it.
    const csv = s.handle("traceExport", { uri: "u", filter: {}, format: "csv", start: 0, count: 100 }).text.split("\n");
    expect(csv.filter((l) => /,dma,02:00\.0,,5,/.test(l))).toHaveLength(3);
  });

  it("the debugger names the PASID of a request", () => {
    const s = open(read("first-level-permission"));
    const p = page(s);
    const k = Array.from({ length: p.count }, (_, i) => i).find((i) => p.columns.pasid[i] === 5)!;
    const pos = { step: p.columns.step[k]!, event: p.columns.index[k]! };
    const tr = s.handle("debugScopes", { uri: "u", pos }).find((x) => x.name === "Translation")!;
    expect(tr.vars.find((v) => v.name === "pasid")?.value).toBe("0x5");
    expect(s.handle("debugEvaluate", { uri: "u", pos, expression: "pasid == 5" })).toMatchObject({ result: "true" });
    // The walk pane's answer names it (its heading; the column hides in a narrow panel).
    expect(s.handle("traceWalk", { uri: "u", event: pos.event }).pasid).toBe(5);
    const other = Array.from({ length: p.count }, (_, i) => i).find((i) => p.columns.kind[i] === EventKind.Dma && p.columns.pasid[i] === -1)!;
    expect(s.handle("traceWalk", { uri: "u", event: p.columns.index[other]! }).pasid).toBeUndefined();
  });
});
