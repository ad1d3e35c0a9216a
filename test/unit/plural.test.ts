// Counts in the UI: one helper, singular for exactly one. And the VM-start text says what the
// model did for this VM's spec (with or without a vIOMMU).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nounFor, plural } from "../../src/sim/plural.js";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";
import { formatSize } from "../../src/sim/machine.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

describe("plural()", () => {
  it("uses the singular for exactly one, the plural otherwise, irregular plurals included", () => {
    expect(plural(1, "fault")).toBe("1 fault");
    expect(plural(0, "fault")).toBe("0 faults");
    expect(plural(2, "step")).toBe("2 steps");
    expect(plural(1n, "byte")).toBe("1 byte");
    expect(plural(4096n, "byte")).toBe("4096 bytes");
    expect(plural(1, "entry")).toBe("1 entry");
    expect(plural(3, "entry")).toBe("3 entries");
    expect(plural(2, "bus")).toBe("2 buses");
    expect(plural(2, "IOTLB entry", "IOTLB entries")).toBe("2 IOTLB entries");
    expect(formatSize(1n)).toBe("1 byte");
  });

  it("singular iff the count is one (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 1_000_000 }), (n) => {
        expect(plural(n, "record")).toBe(`${n} ${Math.abs(n) === 1 ? "record" : "records"}`);
        expect(nounFor(BigInt(n), "entry")).toBe(Math.abs(n) === 1 ? "entry" : "entries");
      }),
    );
  });

  it("tree views never print '1 <plural>' ('1 devices', '1 mappings', '1 faults', …)", () => {
    // One 4 KiB mapping (1 page locked, 1 mapping), then the VM stops (1 DMA mapping removed).
    const one = read("dma-after-unmap").replace(/\n  - guest-map[\s\S]*$/, '\n  - guest-map: { vm: fw01, device: "04:00.0", iova: 0x10_0000, size: 4KiB, perm: rw, gpa: 0x4000_0000 }\n  - stop: fw01\n');
    const texts: [string, string][] = [["one mapping", one], ...["dma-after-unmap", "healthy-nic", "write-to-readonly", "unmapped-iova", "bridge-multifunction"].map((n): [string, string] => [n, read(n)])];
    for (const [name, text] of texts) {
      const s = new Session(name);
      expect(s.update(text).ran, name).toBe(true);
      for (let step = 0; step <= s.outcomes.length; step++) {
        s.setCursor(step);
        const ctx = { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: step, radix: "hex" as const };
        const seen: string[] = [];
        const walk = (view: "vms" | "groups" | "tables" | "faults", id: string | null, depth: number) => {
          for (const n of treeChildren(view, id, ctx) ?? []) {
            seen.push(n.label, n.description ?? "", n.tooltip ?? "");
            if (n.collapsible && depth > 0 && !/^t\/root\/..\/..\/d/.test(n.id)) walk(view, n.id, depth - 1);
          }
        };
        for (const v of ["vms", "groups", "tables", "faults"] as const) walk(v, null, 4);
        for (const o of s.outcomes) seen.push(o.summary);
        const bad = seen.filter((t) => /(^|[^\d.,/x])1 (?!KiB|MiB|GiB|TiB|of\b|is\b|has\b|was\b)[a-zA-Z-]+s\b/.test(t) && !/\b1 (bus|process|class|address|access)\b/.test(t));
        expect(bad, `${name} at step ${step}`).toEqual([]);
      }
    }
  });
});

describe("VM start text", () => {
  it("describes a VM with a vIOMMU as one (not as IOVA = GPA)", () => {
    const s = new Session("a");
    s.update(read("dma-after-unmap"));
    expect(s.outcomes[0]!.summary).toBe("VM fw01 started behind a vIOMMU (intel-iommu, caching-mode=on) with 1 assigned device: no DMA mappings until the guest maps IOVAs");
  });

  it("describes a VM without a vIOMMU as mapping its RAM IOVA = GPA", () => {
    const s = new Session("b");
    s.update(read("healthy-nic"));
    expect(s.outcomes[0]!.summary).toMatch(/^VM web01 started without a vIOMMU with 1 assigned device: QEMU mapped its \d+ GiB of guest RAM IOVA = GPA in domain \d+$/);
  });

  it("a VM with no devices says whether it has a vIOMMU", () => {
    const text = read("dma-after-unmap").replace('    devices: ["04:00.0"]\n', "    devices: []\n").replace(/\n  - guest-map[\s\S]*$/, "\n");
    const s = new Session("c");
    s.update(text);
    expect(s.outcomes[0]!.summary).toBe("VM fw01 started with 4 GiB of RAM and a vIOMMU (intel-iommu, caching-mode=on); no assigned devices, so no DMA mappings");
  });
});
