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
  return (id: string): TreeNode[] => s.handle("children", { uri: "u", view: "tables", ids: [id], radix: "hex", after: true })[0] ?? [];
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
