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

describe("the core's fault reasons", () => {
  it("are reasons.ts's VT-d codes (one vocabulary: the template's constants are checked, not trusted)", async () => {
    // @ts-expect-error: a plain ES module script without types
    const { FR } = (await import("../../src/sim/vtd/translate-core.template.mjs")) as { FR: Record<string, number> };
    const reasons = await import("../../src/sim/vtd/reasons.js");
    const byName = reasons as unknown as Record<string, number>;
    for (const [name, code] of Object.entries(FR)) expect(code, `VTD_FR_${name}`).toBe(byName[`VTD_FR_${name}`]);
    expect(Object.keys(FR).sort()).toEqual(["ADDR_BEYOND_MGAW", "PAGING_ENTRY_INV", "PAGING_ENTRY_RSVD", "READ", "WRITE"]);
  });
});
