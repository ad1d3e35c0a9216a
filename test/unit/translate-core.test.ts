// The committed WebAssembly modules (and the core's layout module) are generated from their
// sources: a change to a .wat file or to the core's template that was not followed by
// `npm run build:wasm` fails here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without types
import { assemble, MODULES } from "../../scripts/build-wasm.mjs";

describe("WebAssembly modules", () => {
  (MODULES as { src: string; out: string }[]).forEach(({ src, out }, i) => {
    it(`${out} is generated from ${src}`, async () => {
      const committed = readFileSync(join(__dirname, "../..", out), "utf8");
      expect(await (assemble as (i: number) => Promise<string>)(i), "run npm run build:wasm").toBe(committed);
    });
  });
});
