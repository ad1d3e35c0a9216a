// The views show the machine before the cursor's step, or (the title toggle) after it; Translate
// Address translates in that same state and says which.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";

const text = readFileSync(join(__dirname, "..", "..", "examples", "dma-after-unmap.passthrough.yaml"), "utf8");

function open() {
  const server = new EngineServer();
  const uri = "file:///x/dma-after-unmap.passthrough.yaml";
  server.handle("update", { uri, version: 1, text });
  return { server, uri };
}

describe("state before / after the cursor's step", () => {
  it("at the faulting step, 'after' shows the fault record and the step as past", () => {
    const { server, uri } = open();
    server.handle("setCursor", { uri, step: 5 }); // before step 6: the DMA that faults
    const frcd = (after: boolean) => server.handle("children", { uri, view: "tables", ids: ["t"], radix: "hex", after })[0]!.find((n) => n.id === "t/frcd")!;
    expect(frcd(false).description).toBe("0 of 8 in use");
    expect(frcd(true).description).toBe("0 of 8 in use · 1 record serviced (F = 0)");
    const [records] = server.handle("children", { uri, view: "tables", ids: ["t/frcd"], radix: "hex", after: true });
    expect(records!.map((n) => n.label)).toEqual(["FRCD0: 04:00.0 write 0x102000"]);
    const fault = (after: boolean) => server.handle("children", { uri, view: "faults", ids: [null], radix: "hex", after })[0]!.find((n) => n.id === "f/5")!;
    expect(fault(false).tooltip).toMatch(/after the cursor/);
    expect(fault(true).tooltip).not.toMatch(/after the cursor/);
  });

  it("Translate Address translates in the views' state and says at which step", () => {
    const { server, uri } = open();
    server.handle("setCursor", { uri, step: 4 }); // before step 5: guest-unmap
    const before = server.handle("translate", { uri, device: "04:00.0", iova: "0x102000", write: true });
    expect(before).toMatchObject({ reason: 0, state: "before step 5 of 6", step: 4 });
    const after = server.handle("translate", { uri, device: "04:00.0", iova: "0x102000", write: true, after: true });
    expect(after).toMatchObject({ reason: 5, state: "after step 5 of 6", step: 5 });
  });
});
