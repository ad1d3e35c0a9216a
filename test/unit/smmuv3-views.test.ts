// The SMMUv3 example through the views' own code (src/engine): the Mapping Tables tree, the Faults
// view, the walk every view draws (explainEvent / explainWalk) - all read the unit through the
// IOMMU contract, with no SMMU code in src/engine, src/extension, media/ or src/debug.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import { treeChildren, type TreeContext } from "../../src/engine/trees.js";
import { explainEvent, explainWalk } from "../../src/engine/walk.js";
import { walkVerdict } from "../../src/engine/hover.js";
import type { TreeNode } from "../../src/protocol/engine.js";

const root = join(__dirname, "..", "..");
const text = readFileSync(join(root, "examples", "smmuv3-translation-fault.passthrough.yaml"), "utf8");

function context(): TreeContext {
  const s = new Session("smmu.passthrough.yaml");
  s.update(text);
  s.setCursor(s.outcomes.length);
  return { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: s.cursor.step, radix: "hex" };
}

function expand(ctx: TreeContext, view: "tables" | "faults", id: string | null, depth: number, out: TreeNode[] = []): TreeNode[] {
  for (const n of treeChildren(view, id, ctx) ?? []) {
    out.push(n);
    if (depth > 0 && n.collapsible) expand(ctx, view, n.id, depth - 1, out);
  }
  return out;
}

describe("SMMUv3 in the views", () => {
  it("Mapping Tables: the SMMU, the stream table, L1STD, the STE, the CD and the descriptors, in Arm's words", () => {
    const ctx = context();
    const nodes = expand(ctx, "tables", null, 9);
    const labels = nodes.map((n) => `${n.label} | ${n.description ?? ""}`);
    expect(labels[0]).toMatch(/^arm-smmu-v3\.0\.auto \| Arm SMMUv3 · 48-bit · translation on$/);
    expect(labels).toContainEqual(expect.stringMatching(/^Stream table \| 2-level · 65536 StreamIDs @ 0x/));
    expect(labels).toContainEqual(expect.stringMatching(/^L1STD\[1\] \| StreamIDs 0x100–0x1ff · level-2 table @ 0x/));
    const ste = nodes.find((n) => n.label === "STE[0x100]")!;
    expect(ste.description).toMatch(/^stage 1 translate, stage 2 bypass · ASID \d+$/);
    expect(ste.device).toBe("01:00.0");
    expect(labels).toContainEqual(expect.stringMatching(/^CD \(ASID \d+\) \| 48-bit IOVA · S1 L0 table @ 0x/));
    expect(labels).toContainEqual(expect.stringMatching(/^S1 L0 table descriptor \[0\] \| S1 L1 table @ 0x[0-9a-f]+$/));
    expect(labels).toContainEqual(expect.stringMatching(/^S1 L2 block descriptor \[\d+\] \| RW · IOVA 0x[0-9a-f]+ → output 0x[0-9a-f]+ \(2 MiB\)$/));
    expect(labels).toContainEqual(expect.stringMatching(/^SMMU_STRTAB_BASE_CFG \| /));
    // The event queue's record with Linux's lines in its tooltip.
    const rec = nodes.find((n) => /^event \d+: 01:00\.0 read 0xc0000000/.test(n.label))!;
    expect(rec.description).toMatch(/^0x10 F_TRANSLATION/);
    expect(rec.tooltip).toContain("event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0xc0000000 ipa: 0x0");
  });

  it("the faulting trace event's walk: STE, CD, the S1 descriptors, stopped at the invalid one", () => {
    const ctx = context();
    const t = ctx.run.trace;
    let fault = -1;
    for (let i = 0; i < t.length; i++) if (t.kind[i] === 1 && t.reason[i] === 0x10) fault = i;
    expect(fault).toBeGreaterThan(0);
    const w = explainEvent(ctx.run, fault);
    // IOVA 0xc0000000 is L1 index 3: the 2 GiB guest's RAM fills L1 entries 0 and 1 only.
    expect(w.stages.map((s) => s.name)).toEqual(["L1STD", "STE", "CD", "S1 L0 table descriptor", "S1 L1 descriptor"]);
    expect(w).toMatchObject({ cause: "not-present", reason: 0x10, reasonLabel: "0x10 F_TRANSLATION", faultLevel: 3 });
    const ok = explainWalk(ctx.machine, 0x100, 0x5000_0000n, false); // guest RAM (QEMU virt: from 0x4000_0000)
    expect(ok.stages.at(-1)!.name).toBe("S1 L2 block descriptor");
  });

  it("an STE is named by its StreamID in the walk, as in Mapping Tables (STE[0x100], not its level-2 index 00.0)", () => {
    const ctx = context();
    const ok = explainWalk(ctx.machine, 0x100, 0x5000_0000n, false);
    const ste = ok.stages.find((s) => s.name === "STE")!;
    // index stays the entry's place in its level-2 table (Mapping Tables' reveal path); the text is the StreamID.
    expect(ste).toMatchObject({ index: 0, indexText: "0x100" });
    expect(ok.stages.find((s) => s.name === "L1STD")).toMatchObject({ index: 1, indexText: "01" });
    // 01:01.0 has no master: its STE aborts, so the hover's deciding entry is the STE.
    const abort = explainWalk(ctx.machine, 0x108, 0x5000_0000n, false);
    expect(abort.stages.at(-1)).toMatchObject({ name: "STE", indexText: "0x108" });
    expect(walkVerdict(abort, "01:01.0", { machine: ctx.machine, step: undefined, lineText: "", character: 0, radix: "hex" })).toContain("`STE[0x108]`");
  });

  it("no SMMU-specific code in the extension, the webview or the debugger", () => {
    const files = (dir: string): string[] => readdirSync(join(root, dir), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && /\.(ts|tsx|css)$/.test(e.name)).map((e) => join(e.parentPath, e.name));
    for (const f of [...files("src/extension"), ...files("media"), ...files("src/debug")]) expect(readFileSync(f, "utf8"), f).not.toMatch(/smmu|SMMU|STE\b|L1STD/);
  });
});
