// The engine as the extension uses it: update -> state, tree children per view, translate with a
// reveal path, hovers, cursor, typed errors. No VS Code, no worker: EngineServer directly.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineFailure, EngineServer } from "../../src/engine/server.js";
import type { TreeNode, ViewId } from "../../src/protocol/engine.js";
import { Machine, POLL_TRANSACTIONS } from "../../src/sim/machine.js";
import { runScenario } from "../../src/sim/run.js";
import { parseScenario, PROGRESS_EVERY } from "../../src/scenario/index.js";

const examples = join(__dirname, "..", "..", "examples");
const read = (name: string) => readFileSync(join(examples, `${name}.passthrough.yaml`), "utf8");

function open(name: string, server = new EngineServer()) {
  const uri = `file:///x/${name}.passthrough.yaml`;
  const state = server.handle("update", { uri, version: 1, text: read(name) });
  return { server, uri, state };
}

/** Expands every node of a view (bounded), returning all nodes by id. */
function expandAll(server: EngineServer, uri: string, view: ViewId, limit = 5000): Map<string, TreeNode> {
  const all = new Map<string, TreeNode>();
  const queue: (string | null)[] = [null];
  while (queue.length && all.size < limit) {
    const id = queue.shift()!;
    const [kids] = server.handle("children", { uri, view, ids: [id], radix: "hex" });
    for (const k of kids ?? []) {
      expect(all.has(k.id), `duplicate id ${k.id}`).toBe(false);
      if (id !== null) expect(k.id.startsWith(`${id}/`), `${k.id} under ${id}`).toBe(true);
      all.set(k.id, k);
      if (k.collapsible) queue.push(k.id);
    }
  }
  return all;
}

describe("engine server", () => {
  it("runs a scenario and summarises every step with its source line", () => {
    const { state } = open("dma-after-unmap");
    expect(state.stale).toBe(false);
    expect(state.steps.map((s) => s.op)).toEqual(["start", "guest-map", "dma", "dma", "guest-unmap", "dma"]);
    const lines = read("dma-after-unmap").split("\n");
    for (const s of state.steps) expect(lines[s.line]).toContain(s.op === "start" ? "start:" : `${s.op}:`);
    expect(state.steps[5]!.status).toBe("fault");
    expect(state.steps[2]!.endLine).toBe(state.steps[2]!.line + 1); // the expect: line belongs to the step
    expect(state.totals.faults).toBe(1);
    expect(state.totals.failedExpectations).toBe(0);
  });

  it("keeps the last good run, marked stale, when the text breaks", () => {
    const { server, uri } = open("healthy-nic");
    const broken = server.handle("update", { uri, version: 2, text: read("healthy-nic").replace("workload:", "workload: [") });
    expect(broken.stale).toBe(true);
    expect(broken.diagnostics.length).toBeGreaterThan(0);
    expect(broken.runVersion).toBe(1);
    expect(broken.steps.length).toBeGreaterThan(0);
    const [vms] = server.handle("children", { uri, view: "vms", ids: [null], radix: "hex" });
    expect(vms!.length).toBe(1);
  });

  it("VM tree: slots resolve GPA -> HVA -> HPA runs, and the VFIO container lists mappings", () => {
    const { server, uri, state } = open("dma-after-unmap");
    server.handle("setCursor", { uri, step: 3 }); // after start and guest-map
    const all = expandAll(server, uri, "vms");
    expect(all.get("vm/fw01")!.description).toMatch(/^running/);
    const runs = [...all.keys()].filter((id) => id.startsWith("vm/fw01/slots/0/0x"));
    expect(runs.length).toBeGreaterThan(1);
    expect(all.get(runs[0]!)!.description).toMatch(/^→ HPA 0x[0-9a-f]+ · /);
    expect([...all.keys()].some((id) => id.startsWith("vm/fw01/vfio/0x100000"))).toBe(true);
    // Before start: not running, no backing.
    server.handle("setCursor", { uri, step: 0 });
    const before = expandAll(server, uri, "vms");
    expect(before.get("vm/fw01")!.description).toMatch(/^stopped/);
    expect(before.has("vm/fw01/slots/0/none")).toBe(true);
    expect(state.cursor).toBe(0);
  });

  it("groups tree says why a group is not viable", () => {
    const { server, uri } = open("non-viable-group");
    const all = expandAll(server, uri, "groups");
    const bad = [...all.values()].filter((n) => n.contextValue === "group-not-viable");
    expect(bad.length).toBe(1);
    const why = [...all.values()].filter((n) => n.id.startsWith(`${bad[0]!.id}/why/`));
    expect(why.length).toBeGreaterThan(0);
    expect(why[0]!.label).toMatch(/is bound to the host driver/);
  });

  it("mapping tables: root -> bus -> context -> domain -> page-table levels down to a 4 KiB leaf, non-present runs collapsed", () => {
    const { server, uri } = open("dma-after-unmap");
    server.handle("setCursor", { uri, step: 3 });
    const all = expandAll(server, uri, "tables");
    const leaves = [...all.values()].filter((n) => n.contextValue === "pte" && n.collapsible === 0 && /HPA/.test(n.description ?? ""));
    expect(leaves.length).toBeGreaterThan(0);
    expect(leaves.some((l) => / IOVA 0x100000 → HPA 0x[0-9a-f]+ \(4 KiB\)/.test(l.description!))).toBe(true);
    // Every level lists 512 slots: present entries plus collapsed runs add up to 512.
    // Context entry -> its domain (DID, levels, top table) -> the levels.
    const domain = all.get("t/root/04/00/d")!;
    expect(domain.label).toMatch(/^domain \d+$/);
    expect(domain.description).toMatch(/^4-level · SL-PML4 @ 0x[0-9a-f]+$/);
    const levelIds = new Set([...all.keys()].filter((id) => /^t\/root\/[0-9a-f]{2}\/[0-9a-f]{2}\/d(\/\d+)*$/.test(id) && all.get(id)!.collapsible));
    expect(levelIds.size).toBeGreaterThan(3);
    for (const id of levelIds) {
      const [kids] = server.handle("children", { uri, view: "tables", ids: [id], radix: "hex" });
      let covered = 0;
      for (const k of kids!) {
        const run = /\/n(\d+)-(\d+)$/.exec(k.id);
        covered += run ? Number(run[2]) - Number(run[1]) + 1 : 1;
      }
      expect(covered, id).toBe(512);
    }
    expect(all.get("t/regs/CAP")).toBeDefined();
    expect(all.get("t/regs/GSTS/TES")!.description).toBe("1");
  });

  it("children of a node that no longer exists answer null", () => {
    const { server, uri } = open("healthy-nic");
    const [gone] = server.handle("children", { uri, view: "vms", ids: ["vm/nope"], radix: "hex" });
    expect(gone).toBeNull();
  });

  it("translate explains the walk, with a reveal path into Mapping Tables", () => {
    const { server, uri } = open("dma-after-unmap");
    server.handle("setCursor", { uri, step: 3 });
    const ok = server.handle("translate", { uri, device: "04:00.0", iova: "0x100000", write: true });
    expect(ok.reason).toBe(0);
    expect(ok.stages.map((s) => s.kind)).toEqual(["root", "context", "pte", "pte", "pte", "pte"]);
    expect(ok.revealId).toMatch(/^t\/root\/04\/00\/d\/0\/0\/0\/256$/);
    // The reveal path exists in the tree.
    const parent = ok.revealId!.slice(0, ok.revealId!.lastIndexOf("/"));
    const [kids] = server.handle("children", { uri, view: "tables", ids: [parent], radix: "hex" });
    expect(kids!.some((k) => k.id === ok.revealId)).toBe(true);
    // After the unmap: the leaf is gone, so the walk stops at a non-present entry.
    server.handle("setCursor", { uri, step: 5 });
    const gone = server.handle("translate", { uri, device: "04:00.0", iova: "0x102000", write: true });
    expect(gone.reason).toBe(0x05);
    expect(gone.stages.at(-1)!.stop).toMatch(/not present/);
  });

  it("translate rejects bad input with typed errors", () => {
    const { server, uri } = open("healthy-nic");
    expect(() => server.handle("translate", { uri, device: "99:00.0", iova: "0x0", write: false })).toThrow(EngineFailure);
    expect(() => server.handle("translate", { uri, device: "01:00.0", iova: "zebra", write: false })).toThrow(/bad|invalid|address/i);
    expect(() => server.handle("setCursor", { uri: "file:///nope", step: 0 })).toThrow(/no scenario open/);
  });

  it("hovers decode BDFs and walk IOVAs at the hovered step", () => {
    const { server, uri } = open("dma-after-unmap");
    const text = read("dma-after-unmap").split("\n");
    const bdfLine = text.findIndex((l) => l.includes('bdf: "04:00.0"'));
    const h1 = server.handle("hover", { uri, line: bdfLine, character: text[bdfLine]!.indexOf("04:00.0") + 2, lineText: text[bdfLine]!, radix: "hex" });
    expect(h1!.markdown).toContain("IOMMU group");
    expect(h1!.markdown).toContain("82599ES");
    const dmaLine = text.findIndex((l) => l.includes("iova: 0x10_2000, length: 4KiB, write: true"));
    const col = text[dmaLine]!.indexOf("0x10_2000") + 3;
    const h2 = server.handle("hover", { uri, line: dmaLine, character: col, lineText: text[dmaLine]!, radix: "hex" });
    expect(h2!.markdown).toMatch(/^\*\*`04:00\.0` write: fault 0x05/);
    expect(h2!.markdown).toMatch(/not present/);
    expect(h2!.start).toBe(text[dmaLine]!.indexOf("0x10_2000"));
  });

  it("an IOVA hover names the VFIO mapping and the VM memory region it lands in", () => {
    const { server, uri } = open("healthy-nic");
    const text = read("healthy-nic").split("\n");
    // The DMA above 4 GiB: no vIOMMU, so QEMU mapped IOVA = GPA and the region is q35's RAM above 4G.
    const line = text.findIndex((l) => l.includes("iova: 0x1_0000_0000"));
    const h = server.handle("hover", { uri, line, character: text[line]!.indexOf("0x1_0000_0000") + 3, lineText: text[line]!, radix: "hex" });
    expect(h!.markdown).toMatch(/VFIO mapping of `web01`: IOVA `0x100000000-0x[0-9a-f]+` → HVA `0x[0-9a-f]+`; this IOVA is HVA `0x[0-9a-f]+` → GPA `0x100000000` in `web01` memslot 1 /);
    expect(h!.markdown).toContain("(pc\\.ram \\(above 4G\\))"); // the slot's name, markdown-escaped
  });

  it("hover text escapes user strings", () => {
    const server = new EngineServer();
    const uri = "file:///x/h.passthrough.yaml";
    const text = read("healthy-nic").replace("name: X710 10GbE", 'name: "<img src=x onerror=alert(1)> *bold* `tick`"');
    const st = server.handle("update", { uri, version: 1, text });
    expect(st.stale).toBe(false);
    const lines = text.split("\n");
    const i = lines.findIndex((l) => l.includes("onerror"));
    const bdf = /"(\d\d:\d\d\.\d)"/.exec(lines[i]!)![1]!;
    const h = server.handle("hover", { uri, line: i, character: lines[i]!.indexOf(bdf) + 1, lineText: lines[i]!, radix: "hex" });
    expect(h!.markdown).not.toMatch(/(^|[^\\])<img/); // every < escaped
    expect(h!.markdown).toContain("\\*bold\\*");
  });

  it("a cancelled update changes nothing and answers 'cancelled'", () => {
    const server = new EngineServer();
    const slots = new Int32Array(new SharedArrayBuffer(16));
    server.cancelSlots = slots;
    const uri = "file:///x/c.passthrough.yaml";
    Atomics.store(slots, 0, 1);
    server.handle("update", { uri, version: 1, text: read("healthy-nic"), slot: 0 });
    Atomics.store(slots, 0, 3); // version 3 is already on its way
    try {
      server.handle("update", { uri, version: 2, text: read("stale-iotlb"), slot: 0 });
      expect.unreachable();
    } catch (e) {
      expect((e as EngineFailure).code).toBe("cancelled");
    }
    const st = server.handle("setCursor", { uri, step: 0 });
    expect(st.version).toBe(1);
  });

  describe("the heartbeat the host's watchdog reads", () => {
    const head = read("healthy-nic").slice(0, read("healthy-nic").indexOf("workload:"));
    /** start, then ONE dma step of `polls` × POLL_TRANSACTIONS transactions (64 KiB = 16 pages, repeated). */
    const longStep = (polls: number) => `${head}workload:\n  - start: web01\n  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 64KiB, write: true, repeat: ${(polls * POLL_TRANSACTIONS) / 16} }\n`;
    function beating() {
      const server = new EngineServer();
      const slots = new Int32Array(new SharedArrayBuffer(8));
      server.cancelSlots = slots;
      server.heartbeat = 1;
      return { server, beats: () => Atomics.load(slots, 1), slots };
    }

    it("beats every POLL_TRANSACTIONS transactions within one long step, not only between steps", () => {
      const { server, beats, slots } = beating();
      Atomics.store(slots, 0, 1);
      const st = server.handle("update", { uri: "u", version: 1, text: longStep(12), slot: 0 });
      expect(st.totals.steps).toBe(2);
      expect(st.steps[1]!.transactions).toBe(12 * POLL_TRANSACTIONS);
      // 12 within the dma step, plus the between-steps' beats (the parse beats every PROGRESS_EVERY items).
      expect(beats()).toBeGreaterThanOrEqual(12 + 2);
    });

    it("beats while a query replays a long step (the state after it)", () => {
      const { server, beats } = beating();
      server.handle("update", { uri: "u", version: 1, text: longStep(6) });
      const before = beats();
      server.handle("setCursor", { uri: "u", step: 2 });
      const [vms] = server.handle("children", { uri: "u", view: "vms", ids: [null], radix: "hex" });
      expect(vms!.length).toBe(1);
      expect(beats() - before).toBeGreaterThanOrEqual(6);
    });

    it("beats while the text is parsed, even when it then does not run", () => {
      const { server, beats } = beating();
      // 5 × PROGRESS_EVERY workload items, the last one broken: a parse and no run.
      const text = `${head}workload:\n  - start: web01\n${"  - wait: 1us\n".repeat(5 * PROGRESS_EVERY)}  - dma: { device: "01:00.0" }\n`;
      const st = server.handle("update", { uri: "u", version: 1, text });
      expect(st.diagnostics.some((d) => d.severity === "error")).toBe(true);
      expect(st.totals.steps).toBe(0);
      expect(beats()).toBeGreaterThanOrEqual(5);
    });

    it("a long step makes room for its events before it starts: no doubling of the trace (silent for seconds under load) within it", () => {
      const scenario = parseScenario(longStep(40), "x").scenario!;
      const m = new Machine(scenario);
      const capacities = new Set<number>();
      m.poll = () => {
        capacities.add(m.trace.capacity);
        return false;
      };
      for (const step of scenario.workload) m.runStep(step);
      expect(m.trace.length).toBeGreaterThan(40 * POLL_TRANSACTIONS);
      expect([...capacities]).toEqual([m.trace.capacity]); // the same at every poll within the step
      // Exactly the room the step's events need (a doubling held up to 56 bytes per event).
      expect(m.trace.capacity).toBe(m.trace.length);
    });

    it("a newer version stops a long step halfway (cancellation is polled within the step)", () => {
      const parsed = parseScenario(longStep(40), "x");
      let polls = 0;
      const run = runScenario(parsed.scenario!, { cancelled: () => ++polls > 5 }).run!;
      expect(run.stoppedEarly).toBe("cancelled");
      expect(run.outcomes.length).toBe(1); // the start; the dma stopped halfway has no outcome
      expect(polls).toBe(6); // 2 between steps, then 4 within the dma: 4 × POLL_TRANSACTIONS of its 40
      expect(run.trace.length).toBeLessThan(5 * POLL_TRANSACTIONS);
    });
  });
});

describe("the worker's memory budget (all open scenarios together)", () => {
  const text = (repeat: number) => `name: big
host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:01.0", driver: vfio-pci }
vms:
  - { name: web01, memory: 4GiB, devices: ["01:00.0"] }
workload:
  - start: web01
  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 4KiB, repeat: ${repeat} }
  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 4KiB }
`;
  const MiB = 2 ** 20;

  it("a run gets what the other open scenarios leave; the limit's message names them; closing one gives the room back", () => {
    // 600 000 events of 28 bytes: about 16 MiB of trace per run.
    const server = new EngineServer(() => 0, { workerBudget: 28 * MiB });
    const a = server.handle("update", { uri: "file:///w/a.passthrough.yaml", version: 1, text: text(600_000) });
    expect(a.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const b = server.handle("update", { uri: "file:///w/b.passthrough.yaml", version: 1, text: text(600_000) });
    const err = b.diagnostics.find((d) => /memory budget exceeded/.test(d.message));
    expect(err?.message).toMatch(/less [\d.]+ MiB held by 1 other open scenario; close scenarios you are not using/);
    server.handle("close", { uri: "file:///w/a.passthrough.yaml" });
    const again = server.handle("update", { uri: "file:///w/b.passthrough.yaml", version: 2, text: text(600_000) + "  - dma: { device: \"01:00.0\", iova: 0x1000_0000, length: 4KiB }\n" });
    expect(again.diagnostics.filter((d) => /memory budget/.test(d.message))).toEqual([]);
  });

  it("lets other scenarios' comparison runs go before it limits a run", () => {
    const server = new EngineServer(() => 0, { workerBudget: 55 * MiB });
    const a = "file:///w/a.passthrough.yaml";
    server.handle("update", { uri: a, version: 1, text: text(600_000) });
    // The second version's run keeps the first as its comparison run (the trace's "compare with previous run").
    server.handle("update", { uri: a, version: 2, text: text(600_001) });
    // Another scenario that does not fit beside both: the comparison run goes, and it runs whole.
    const b = server.handle("update", { uri: "file:///w/b.passthrough.yaml", version: 1, text: text(900_000) });
    expect(b.diagnostics.filter((d) => /memory budget/.test(d.message))).toEqual([]);
  });
});
