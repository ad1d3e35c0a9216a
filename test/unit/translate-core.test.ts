// The committed WebAssembly translate core is the assembly of its source: a change to
// translate-core.wat that was not followed by `npm run build:wasm` fails here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without types
import { assemble } from "../../scripts/build-wasm.mjs";

describe("translate core", () => {
  it("translateCoreWasm.ts is the assembly of translate-core.wat", async () => {
    const committed = readFileSync(join(__dirname, "../../src/sim/vtd/translateCoreWasm.ts"), "utf8");
    expect(await assemble(), "run npm run build:wasm").toBe(committed);
  });
});
