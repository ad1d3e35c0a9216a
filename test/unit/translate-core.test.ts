// The committed WebAssembly modules are the assembly of their sources: a change to a .wat file
// that was not followed by `npm run build:wasm` fails here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without types
import { assemble, MODULES } from "../../scripts/build-wasm.mjs";

describe("WebAssembly modules", () => {
  (MODULES as { wat: string; out: string }[]).forEach(({ wat, out }, i) => {
    it(`${out} is the assembly of ${wat}`, async () => {
      const committed = readFileSync(join(__dirname, "../..", out), "utf8");
      expect(await assemble(i), "run npm run build:wasm").toBe(committed);
    });
  });
});
