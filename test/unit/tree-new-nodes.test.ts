// Mapping Tables' wording of the newer structures, found by looking at them: a scalable-mode
// context entry points at a PASID directory (not a page table); AMD-Vi's device table lists
// requester ids (not buses), names a device once, and says why an entry without reserved bits is invalid.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import type { TreeNode } from "../../src/protocol/engine.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

function tree(name: string) {
  const s = new EngineServer();
  s.handle("update", { uri: "u", version: 1, text: read(name) });
  s.handle("setCursor", { uri: "u", step: 999 });
  return (id: string | null): TreeNode[] => s.handle("children", { uri: "u", view: "tables", ids: [id], radix: "hex", after: true })[0] ?? [];
}

describe("Mapping Tables: the newer structures' nodes", () => {
  it("a scalable-mode context entry shows its PASID directory and RID_PASID, not a second-level pointer", () => {
    const kids = tree("first-level-permission");
    const ce = kids("t/root/02").find((n) => n.id === "t/root/02/00")!;
    expect(ce.label).toBe("00.0 DSA accelerator");
    expect(ce.description).toMatch(/^PASID directory @ 0x[0-9a-f]+000 · RID_PASID 0x0: DID \d+$/);
    expect(kids("t/root/02/00").map((n) => n.label)).toEqual(["PASID 0x0 (requests without PASID)", "PASID 0x5"]);
    // A legacy context entry keeps its domain's page-table pointer.
    expect(tree("healthy-nic")("t/root/01")[0]!.description).toMatch(/^DID \d+ · 4-level · SLPTPTR 0x/);
  });

  it("AMD-Vi's device table: requester ids not present, a device named once, an invalid DTE says why", () => {
    const kids = tree("amd-illegal-dte");
    const root = kids("t/root");
    expect(root.find((n) => n.id === "t/root/absent")?.label).toMatch(/^\d+ DTEs not present$/);
    // A device without a name: its requester id once, not "00:01.1 00:01.1".
    expect(root.find((n) => n.id === "t/root/0009")?.label).toBe("00:01.1");
    const bad = root.find((n) => n.id === "t/root/0300")!;
    expect(bad.description).toMatch(/· invalid entry: fault 0x01 ILLEGAL_DEV_TABLE_ENTRY$/);
    expect(bad.description).not.toMatch(/reserved bits {2}set/);
  });
});

// Found by looking at the trees in VS Code (test/e2e/tree-shots.mjs): the same thing in each
// model's words, decoded fields where raw hex was, a tooltip on every structure, words a screen
// reader can say where a label is a number or a glyph.
describe("Mapping Tables: wording across models, tooltips, screen-reader labels", () => {
  const all = (kids: (id: string) => TreeNode[], id: string, depth: number, out: TreeNode[] = []): TreeNode[] => {
    for (const n of kids(id)) {
      out.push(n);
      if (n.collapsible && depth > 0 && !/\/(regs|frcd|iotlb)$/.test(n.id)) all(kids, n.id, depth - 1, out);
    }
    return out;
  };

  it("SMMUv3 in Arm's words: stream table, STE, CD by ASID, configuration cache, event queue (not VT-d's context entry, DID, FRCD)", () => {
    const kids = tree("smmuv3-translation-fault");
    const top = kids("t");
    expect(top.map((n) => n.label)).toEqual(["Registers", "Stream table", "IOTLB", "Configuration cache", "Event queue", "Reserved regions"]);
    const ste = kids("t/root/01").find((n) => n.label === "STE[0x100]")!;
    expect(ste.tooltip).toMatch(/^STE\[0x100\] 01:00\.0 at HPA 0x/);
    const cd = kids(ste.id)[0]!;
    expect(cd.tooltip).toMatch(/^CD \(ASID 3\): page tables of 4 levels/);
    expect(cd.tooltip).not.toMatch(/DID/);
    expect(kids("t/cc")[0]).toMatchObject({ label: "STE[0x100] (cached)", description: "stage 1 translate, stage 2 bypass · ASID 3" });
    expect(kids("t/frcd")[0]!.label).toMatch(/^event \d+: 01:00\.0 read 0xc0000000$/);
    expect(kids(null)[0]!.tooltip).toMatch(/^IOMMU arm-smmu-v3\.0\.auto \(Arm SMMUv3\): host address width 48 bits, event queue of 128 records/);
  });

  it("VT-d: a device named once, a root entry's decoded pointer (raw in the tooltip), an IRTE's decoded fields", () => {
    const kids = tree("first-level-permission");
    // 00:01.0 has no name: its devfn under bus 00, not "01.0 00:01.0".
    expect(kids("t/root/00").map((n) => n.label)).toEqual(["01.0", "02.0"]);
    const bus = kids("t/root")[0]!;
    expect(bus.description).toBe("→ context table @ 0x10005000");
    expect(bus.tooltip).toMatch(/^Root entry 0 at HPA 0x10000000\nraw 0x0000000010005001 0x0000000000000000\nLP=1/);
    const irte = tree("irte-not-present")("t/ir")[0]!;
    expect(irte.description).not.toMatch(/0x[0-9a-f]{16}/);
    expect(irte.tooltip).toMatch(/^Interrupt remapping table entry 32 at HPA 0x[0-9a-f]+\nlo 0x0000000200410001\nhi /);
  });

  it("every structure at the top of Mapping Tables has a tooltip, in all three models", () => {
    for (const name of ["first-level-permission", "amd-illegal-dte", "smmuv3-translation-fault", "rmrr-device-refused"]) {
      const kids = tree(name);
      for (const n of [...kids(null), ...kids("t"), ...kids("t/root").filter((k) => k.collapsible === 0)]) expect(n.tooltip, `${name}: ${n.label}`).toBeTruthy();
    }
  });

  it("a label that is a number or a glyph has words for a screen reader: the entry's level and index, its permissions", () => {
    const kids = tree("first-level-permission");
    const pasid5 = kids("t/root/02/00").find((n) => n.label === "PASID 0x5")!;
    const level4 = kids(pasid5.id);
    expect(level4[0]).toMatchObject({ label: "[0–253]", accessibilityLabel: "Entries 0 to 253 not present" });
    expect(level4[1]!.accessibilityLabel).toBe("Level-4 entry 254, read-write, level-3 table @ 0x1001b000");
    const leaf = all(kids, pasid5.id, 4).find((n) => /^\[1\] 0x000000001001e063/.test(n.label))!;
    expect(leaf.accessibilityLabel).toBe("Level-1 entry 1, read-write, IOVA 0x7f0000001000 → HPA 0x1001e000 (4 KiB)");
    for (const name of ["first-level-permission", "amd-illegal-dte", "smmuv3-translation-fault", "rmrr-device-refused", "irte-not-present"]) {
      for (const n of all(tree(name), "t", 6)) {
        // "[254] 0x…", "#9 …", "0xfee00000–…", "00:01.1", "02.0": an index, an address, a requester id
        if (!/^(\[|#|0x|[0-9a-f]{2}[:.][0-9a-f])/i.test(n.label)) continue;
        expect(n.accessibilityLabel ?? "", `${name}: ${n.label}`).toMatch(/^\p{L}/u);
      }
    }
  });
});

describe("Faults and devices: words first for a screen reader", () => {
  it("a fault event ('#6 01:00.0 read …') and a device ('04:00.0') start with what they are", () => {
    const s = new EngineServer();
    s.handle("update", { uri: "u", version: 1, text: read("smmuv3-translation-fault") });
    s.handle("setCursor", { uri: "u", step: 999 });
    const kids = (view: "faults" | "groups", id: string | null): TreeNode[] => s.handle("children", { uri: "u", view, ids: [id], radix: "hex", after: true })[0] ?? [];
    const step = kids("faults", null)[0]!;
    const event = kids("faults", step.id).find((n) => n.label.startsWith("#"))!;
    expect(event.accessibilityLabel).toMatch(/^Event \d+, 01:00\.0 read 0xc0000000, fault 0x10 F_TRANSLATION$/);
    const group = kids("groups", null).find((g) => g.collapsible)!;
    const dev = kids("groups", group.id).find((n) => /^[0-9a-f]{2}:/.test(n.label))!;
    expect(dev.accessibilityLabel).toMatch(/^(Device|Bridge) [0-9a-f]{2}:[0-9a-f]{2}\.\d, /);
  });
});
