// Hovers on a scenario lead with the verdict and the entry that decided it; the full walk is one
// click away (a trusted command link); a run diagnostic's text is not repeated; an address is never
// rendered as a size; the hex/decimal toggle applies.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { hoverAt } from "../../src/engine/hover.js";
import { Session } from "../../src/engine/session.js";
import { HOVER_COMMANDS, type Radix } from "../../src/protocol/engine.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

function hover(text: string, match: string, token: string, radix: Radix = "hex", offset = 2) {
  const server = new EngineServer();
  const uri = "file:///x/h.passthrough.yaml";
  server.handle("update", { uri, version: 1, text });
  const lines = text.split("\n");
  const line = lines.findIndex((l) => l.includes(match));
  expect(line, match).toBeGreaterThanOrEqual(0);
  return server.handle("hover", { uri, line, character: lines[line]!.indexOf(token) + offset, lineText: lines[line]!, radix })!;
}

describe("address hovers", () => {
  it("lead with the verdict and the deciding entry; the full walk is a command link", () => {
    const h = hover(read("write-to-readonly"), "iova: 0xfff0_1000, length: 4KiB, write: true", "0xfff0_1000");
    const blocks = h.markdown.split("\n\n");
    const [verdict, entry, link] = blocks[0]!.split("  \n");
    expect(verdict).toBe("**`03:00.0` write: fault 0x05 PTE Write access is not set** (before step 4 of 4)");
    // The leaf PTE that said no: its index, raw value, decoded bits and why.
    expect(entry).toMatch(/^`SL-PTE\[257\]` `0x[0-9a-f]{16}` R=1 W=0 ADDR=0x[0-9a-f]+ \*\*← write request, W = 0 in the SL\\-PTE\*\*$/);
    expect(link).toMatch(/^\[Full walk \(6 entries\) in Mapping Tables\]\(command:passthrough\.translate\?[^ )]+ "/);
    const args: unknown = JSON.parse(decodeURIComponent(/command:passthrough\.translate\?([^ )]+)/.exec(link!)![1]!));
    expect(args).toEqual(["03:00.0", "0xfff01000", true, 3]);
    expect(HOVER_COMMANDS).toContain("passthrough.translate");
    // No walk table: the hover stays a few lines high.
    expect(h.markdown).not.toContain("| entry |");
    expect(h.markdown.split("\n").length).toBeLessThanOrEqual(8);
  });

  it("never renders an address as a size (0xfff0_1000 is not '4193284 KiB')", () => {
    const h = hover(read("write-to-readonly"), "iova: 0xfff0_1000, length: 4KiB, write: true", "0xfff0_1000");
    expect(h.markdown).not.toMatch(/KiB|MiB|GiB/);
    expect(h.markdown).toContain("`0xfff01000` = `4293922816`");
    // A size still is one.
    const s = hover(read("write-to-readonly"), "size: 64KiB", "64KiB", "hex", 1);
    expect(s.markdown).toContain("= 64 KiB");
  });

  it("does not repeat what the step's diagnostic says", () => {
    // Without `expect:` the faulting DMA gets a dma-fault diagnostic with the reason and its hint.
    const text = read("write-to-readonly").replace("    expect: { fault: 0x05, recorded: true }\n", "");
    const h = hover(text, "iova: 0xfff0_1000, length: 4KiB, write: true", "0xfff0_1000");
    expect(h.markdown).not.toMatch(/PTE Write access is not set/);
    expect(h.markdown).toMatch(/^\*\*`03:00\.0` write faults here\*\* \(before step 4 of 4\)  \n`SL-PTE\[257\]`/);
  });

  it("follows the hex/decimal toggle", () => {
    const h = hover(read("write-to-readonly"), "iova: 0xfff0_0000, length: 4KiB, write: false", "0xfff0_0000", "dec");
    expect(h.markdown).toMatch(/^\*\*`03:00\.0` read → HPA `\d+`\*\* \(4 KiB page, walk; before step 3 of 4\)/);
    expect(h.markdown).toContain("`4293918720` = `0xfff00000`");
  });

  it("no address key ever shows a size, whatever the (page-aligned) value (property)", () => {
    const s = new Session("p");
    s.update(read("write-to-readonly"));
    const machine = s.run!.machineBefore(3);
    const step = s.scenario!.workload[3];
    fc.assert(
      fc.property(fc.constantFrom("iova", "gpa", "address"), fc.bigInt({ min: 1n, max: (1n << 40n) - 1n }).map((page) => page << 12n), fc.constantFrom<Radix>("hex", "dec"), (key, v, radix) => {
        const lineText = `  - dma: { ${key}: 0x${v.toString(16)} }`;
        const h = hoverAt({ machine, step, lineText, character: lineText.indexOf("0x") + 2, radix, stepIndex: 3, steps: 4 });
        if (h) expect(h.markdown).not.toMatch(/\d (KiB|MiB|GiB|TiB)\b/);
      }),
      { numRuns: 150 },
    );
  });

  it("decodes a poke's value with the model's rules: the reserved bits the walk would fault on", () => {
    const text = read("stale-iotlb").replace("structure: pte, iova: 0x20_0000 }, value: 0 }", "structure: pte, iova: 0x20_0000 }, value: 0x1234_5803 }");
    const h = hover(text, "value: 0x1234_5803", "0x1234_5803");
    // One poke decoder and one entry layout (slpt.ts slpteLayout: the SL-PTE has no PS field) after the merge of the two halves of the contract.
    expect(h.markdown).toContain("as a second-level PTE (level 1): R=1, W=1, ADDR=`0x12345000`, reserved bits `0x800` set → fault 0x0c");
  });
});

describe("poke value hovers decode with the model's decoders", () => {
  it("a root entry with an address bit above the 48-bit width shows the reserved bit the unit faults 0x0a on; a PS bit at L2 without 2 MiB pages is reserved", () => {
    const base = read("corrupted-context-entry");
    const root = base.replace("structure: context-hi }, value: 0x0000_0000_0000_0382", "structure: root }, value: 0x0001_0000_0000_1001");
    const h = hover(root, "structure: root", "0x0001_0000_0000_1001");
    expect(h.markdown).toContain("as a root entry (low qword): P=1, CTP=`0x1000000001000`, reserved bits `0x1000000000000` set → fault 0x0a");
    const ctx = hover(base, "structure: context-hi", "0x0000_0000_0000_0382");
    expect(ctx.markdown).toContain("as a context entry (high qword): AW=2 (48-bit, 4-level), DID=3, reserved bits `0x80` set → fault 0x0b");
    const pte = base.replace("iommu: { model: intel-vtd, address-width: 48 }", "iommu: { model: intel-vtd, address-width: 48, superpages: [] }").replace("structure: context-hi }, value: 0x0000_0000_0000_0382", "structure: pte, iova: 0x10_0000, level: 2 }, value: 0x8000_0083");
    const p = hover(pte, "structure: pte", "0x8000_0083");
    expect(p.markdown).toContain("as a second-level PTE (level 2): R=1, W=1, PS=1 (reserved: no superpage of this size (CAP.SLLPS)), ADDR=`0x80000000`, reserved bits `0x80` set → fault 0x0c");
  });
});
