// Parsing and validating a huge scenario does work in proportion to its size, and says so while it
// works. Nothing here measures time: the work is counted (edit-distance cells, DMA-alias lookups,
// progress calls) or the fixed function is checked structurally (the yaml options it parses with).
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { IncrementalScenarioParser } from "../../src/scenario/incremental.js";
import { PROGRESS_EVERY, parseScenario } from "../../src/scenario/index.js";
import { parseScenario as parseOnly } from "../../src/scenario/parse.js";
import { overlapWork, validateScenario } from "../../src/scenario/validate.js";
import { didYouMean, hintWork } from "../../src/scenario/values.js";
import { PciTopology } from "../../src/sim/pci.js";

const yamlCalls = vi.hoisted(() => [] as { uniqueKeys?: unknown }[]);
vi.mock("yaml", async (importOriginal) => {
  const y = await importOriginal<typeof import("yaml")>();
  return {
    ...y,
    parseDocument: (src: string, opts?: { uniqueKeys?: unknown }) => {
      yamlCalls.push(opts ?? {});
      return y.parseDocument(src, opts as never);
    },
    // The scenario parser composes yaml's syntax tree itself (scenario/text.ts parseYaml, which
    // bounds its nesting first): its options reach the Composer.
    Composer: class extends y.Composer {
      constructor(opts?: ConstructorParameters<typeof y.Composer>[0]) {
        yamlCalls.push((opts ?? {}));
        super(opts);
      }
    },
  };
});

const HEAD = "host:\n  memory: 64GiB\n  iommu: { model: intel-vtd }\n";

function bdf(i: number): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, "0");
  return `${h(1 + (i >> 8), 2)}:${h((i >> 3) & 31, 2)}.${i & 7}`;
}

/** n endpoints on their own buses, one VM with the first `assigned`, and `steps` dma steps. */
function big(n: number, assigned: number, steps: number): string {
  const out = [HEAD, "  pci:\n"];
  for (let i = 0; i < n; i++) out.push(`    - { bdf: "${bdf(i)}", driver: vfio-pci }\n`);
  out.push("vms:\n  - name: a\n    memory: 2GiB\n    devices: [", Array.from({ length: assigned }, (_, i) => `"${bdf(i)}"`).join(", "), "]\n");
  if (steps > 0) out.push("workload:\n  - start: a\n");
  for (let i = 1; i < steps; i++) out.push(`  - dma: { device: "${bdf(i % assigned)}", iova: 0x1000, length: 4KiB }\n`);
  return out.join("");
}

describe("linear parsing", () => {
  it("did-you-mean does no edit-distance work on a 1 MB word, and still finds a typo", () => {
    const keys = ["memory", "backing", "memlock", "dma-entry-limit", "kernel", "seed", "iommu", "pci"];
    const before = hintWork.cells;
    expect(didYouMean("x".repeat(1_000_000), keys)).toBeUndefined();
    expect(hintWork.cells - before).toBe(0);
    expect(didYouMean("memroy", keys)).toBe("memory");
    expect(didYouMean("Memory", keys)).toBe("memory");
  });

  it("a 1 MB unknown key or value costs a bounded hint and a short message", () => {
    const x = "x".repeat(1_000_000);
    for (const text of [`host: { iommu: { model: intel-vtd }, ${x}: 1 }\n`, `${HEAD}  ? ${x}\n  : 1\n`, `host:\n  iommu: { model: ${x} }\n`, `${HEAD}workload:\n  - ? ${x}\n    : 1\n`]) {
      const before = hintWork.cells;
      const r = parseScenario(text, "big.passthrough.yaml");
      expect(hintWork.cells - before).toBeLessThan(10_000);
      expect(r.diagnostics.length).toBeGreaterThan(0);
      for (const d of r.diagnostics) expect(d.message.length).toBeLessThan(200);
    }
  }, 300_000);

  it("leaves duplicate keys to the parser's own Map (the yaml library's uniqueKeys compares every pair), and still reports them", () => {
    yamlCalls.length = 0;
    const many = HEAD + Array.from({ length: 3000 }, (_, i) => `  k${i}: 1\n`).join("") + "  memory: 32GiB\n";
    const r = parseScenario(many, "dup.passthrough.yaml");
    expect(yamlCalls.length).toBeGreaterThan(0);
    for (const o of yamlCalls) expect(o.uniqueKeys).toBe(false);
    const dup = r.diagnostics.filter((d) => d.code === "duplicate-key");
    expect(dup).toHaveLength(1);
    expect(dup[0]!.range.line).toBe(3003);
    expect(dup[0]!.message).toBe('"memory" appears twice in host');
    // Steps: the same operation or expect twice.
    const steps = parseScenario(`${big(1, 1, 0)}workload:\n  - start: a\n    start: a\n  - start: a\n    expect: ok\n    expect: ok\n`, "dup.passthrough.yaml");
    expect(steps.diagnostics.filter((d) => d.code === "duplicate-key").map((d) => d.range.line)).toEqual([11, 14]);
  });

  it("builds the IOMMU groups of n devices with O(n) DMA-alias lookups", () => {
    const spy = vi.spyOn(PciTopology.prototype, "dmaAliases");
    try {
      for (const n of [500, 2000]) {
        spy.mockClear();
        const r = parseScenario(big(n, 4, 2), "pci.passthrough.yaml");
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        expect(spy.mock.calls.length).toBeLessThanOrEqual(3 * n);
      }
    } finally {
      spy.mockRestore();
    }
  }, 300_000);
});

describe("linear validation", () => {
  it("checks the overlaps of n maps and unmaps in any order looking at O(n) mappings", () => {
    const n = 3000;
    const at = (i: number) => `0x${(0x1_0000_0000 + i * 0x2000).toString(16)}`;
    const order = Array.from({ length: n }, (_, i) => (i * 7919) % n);
    const out = [big(1, 1, 0), "workload:\n  - start: a\n"];
    for (const i of order) out.push(`  - map: { vm: a, iova: ${at(i)}, size: 4KiB }\n`);
    for (const i of order) out.push(`  - unmap: { vm: a, iova: ${at(i)}, size: 4KiB }\n`);
    // Everything is unmapped again: a new map is fine, a second one over it overlaps.
    out.push(`  - map: { vm: a, iova: ${at(5)}, size: 8KiB }\n`, `  - map: { vm: a, iova: ${at(5)}, size: 4KiB }\n`);
    const text = out.join("");
    const before = overlapWork.visited;
    const r = parseScenario(text, "maps.passthrough.yaml");
    expect(overlapWork.visited - before).toBeLessThanOrEqual(4 * n);
    expect(r.diagnostics.map((d) => [d.code, d.range.line])).toEqual([["map-overlap", text.split("\n").length - 2]]);
  }, 300_000);
});

describe("validating many maps", () => {
  it("keeps a VM's mappings in order moving O(n) of them per map, not half the list (80 000 scattered maps took 6.4 s)", () => {
    const s = parseScenario(`${big(1, 1, 0)}workload:\n  - start: a\n`, "m.passthrough.yaml").scenario!;
    const n = 20_000;
    const range = s.workload[0]!.range;
    // Scattered: each map lands in the middle of the ones made before it.
    for (let k = 0; k < n; k++) s.workload.push({ index: k + 1, range, op: "map", vm: "a", iova: 0x1_0000_0000n + BigInt(((k * 7919) % n) * 0x2000), size: 4096n, perm: "rw" });
    const before = { ...overlapWork };
    expect(validateScenario(s)).toEqual([]);
    // One sorted array moved n^2 / 4 = 10^8 mappings here; in chunks of at most 1 024, under 1 024 per map.
    expect(overlapWork.moved - before.moved).toBeLessThanOrEqual(1024 * n);
    expect(overlapWork.visited - before.visited).toBeLessThanOrEqual(4 * n);
  });

  it("reports the same overlaps as a scan of every live mapping, across chunk splits and removals", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(4), fc.nat(6000), fc.integer({ min: 1, max: 8 })), { minLength: 3000, maxLength: 3500 }), (ops) => {
        const s = parseScenario(`${big(1, 1, 0)}workload:\n  - start: a\n`, "m.passthrough.yaml").scenario!;
        const base = s.workload[0]!.range;
        const live: { iova: bigint; size: bigint; line: number }[] = [];
        const want: [number, number][] = [];
        ops.forEach(([op, page, pages], k) => {
          const map = op > 0;
          const iova = 0x1_0000_0000n + BigInt(page) * 4096n;
          const size = BigInt(pages) * 4096n;
          const range = { ...base, line: k + 10 };
          if (map) {
            const hit = live.find((m) => iova < m.iova + m.size && m.iova < iova + size);
            if (hit) want.push([range.line, hit.line + 1]);
            live.push({ iova, size, line: range.line });
            s.workload.push({ index: k + 1, range, op: "map", vm: "a", iova, size, perm: "rw" });
          } else {
            for (let i = live.length - 1; i >= 0; i--) if (live[i]!.iova >= iova && live[i]!.iova + live[i]!.size <= iova + size) live.splice(i, 1);
            s.workload.push({ index: k + 1, range, op: "unmap", vm: "a", iova, size });
          }
        });
        const got = validateScenario(s).map((d) => [d.range.line, Number(/line (\d+)/.exec(d.message)![1])]);
        expect(got).toEqual(want);
      }),
      { numRuns: 5 },
    );
  });
});

describe("progress while parsing", () => {
  const text = big(6000, 500, 3000);
  const lines = text.split("\n").length;

  it("parseScenario calls progress every few thousand lines, nodes and steps: during a big parse, not per node", () => {
    let calls = 0;
    const r = parseScenario(text, "big.passthrough.yaml", { progress: () => calls++ });
    expect(r.scenario).toBeDefined();
    // Lines read by YAML, then devices, VM devices, steps and their fields checked, then steps validated.
    expect(calls).toBeGreaterThanOrEqual(Math.floor(lines / PROGRESS_EVERY) + 2);
    expect(calls).toBeLessThan(lines / 100);
    // The parse without validation reports progress too, and validation on its own.
    let parseCalls = 0;
    const parsed = parseOnly(text, "big.passthrough.yaml", { progress: () => parseCalls++ });
    let validateCalls = 0;
    validateScenario(parsed.scenario!, { progress: () => validateCalls++ });
    expect(parseCalls).toBeGreaterThanOrEqual(Math.floor(lines / PROGRESS_EVERY));
    expect(validateCalls).toBeGreaterThanOrEqual(Math.floor(3000 / PROGRESS_EVERY));
    expect(parseCalls + validateCalls).toBe(calls);
    // Three parses of a 9 000-line scenario: generous for a loaded CI machine (no timing is asserted).
  }, 300_000);

  it("the incremental parser reports progress on its full parse and on an incremental one", () => {
    const p = new IncrementalScenarioParser();
    let calls = 0;
    p.parse(text, "big.passthrough.yaml", { progress: () => calls++ });
    expect(calls).toBeGreaterThanOrEqual(Math.floor(lines / PROGRESS_EVERY));
    const full = calls;
    calls = 0;
    p.parse(text.replace(/iova: 0x1000, length: 4KiB \}\n$/, "iova: 0x2000, length: 4KiB }\n"), "big.passthrough.yaml", { progress: () => calls++ });
    expect(p.last.mode).toBe("incremental");
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(full);
  }, 300_000);
});
