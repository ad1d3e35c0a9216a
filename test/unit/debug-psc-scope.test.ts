/**
 * The debugger shows the unit's paging-structure caches (VT-d second-level, and first-level /
 * nested in scalable mode) as their own scope when the unit has them, a stale entry marked: what
 * the Mapping Tables view lists, through the same contract (IommuTables.pagingStructureCache /
 * firstLevelPagingStructureCache).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

/** The example up to (not including) the line that starts with `cut`, its scopes after the last step. */
function scopesAtEnd(name: string, cut?: string) {
  const full = read(name);
  const text = cut === undefined ? full : full.slice(0, full.indexOf(cut));
  const s = new EngineServer();
  const state = s.handle("update", { uri: "u", version: 1, text });
  const last = state.steps.length - 1;
  return s.handle("debugScopes", { uri: "u", pos: { step: last, event: -1 } });
}

describe("debugger: the paging-structure caches scope", () => {
  it("second level: the cached SL-PDE that still leads into the freed table is listed and marked stale", () => {
    const scopes = scopesAtEnd("stale-paging-structure-cache", "  # The flush Linux issues");
    const psc = scopes.find((x) => x.name === "Paging-structure caches");
    expect(psc, scopes.map((x) => x.name).join(", ")).toBeDefined();
    const pde = psc!.vars.filter((v) => v.name.startsWith("SL-PDE "));
    expect(pde.length).toBeGreaterThan(0);
    expect(pde.some((v) => v.value.includes("stale: the entry in memory no longer points there"))).toBe(true);
    expect(psc!.vars.every((v) => /^SL-PML[45]E |^SL-PDPE |^SL-PDE /.test(v.name) && /^→ table 0x[0-9a-f]+ [R-][W-]/.test(v.value))).toBe(true);
  });

  it("scalable mode, nested: the first-level entries with their DID and PASID, the FL-PDE stale after the guest freed its table", () => {
    const scopes = scopesAtEnd("stale-nested-paging-structure-cache", "  # The flush with IH = 0");
    const psc = scopes.find((x) => x.name === "Paging-structure caches")!;
    const fl = psc.vars.filter((v) => / DID 5 PASID 0x9 /.test(v.name));
    expect(fl.map((v) => v.name.split(" ")[0])).toEqual(expect.arrayContaining(["FL-PML4E", "FL-PDPE", "FL-PDE"]));
    expect(fl.find((v) => v.name.startsWith("FL-PDE"))!.value).toMatch(/stale/);
    // After the flush with IH = 0 the stale entry is gone.
    const after = scopesAtEnd("stale-nested-paging-structure-cache").find((x) => x.name === "Paging-structure caches")!;
    expect(after.vars.some((v) => v.value.includes("stale"))).toBe(false);
  });

  it("a unit without paging-structure caches (QEMU's model, the default) has no such scope", () => {
    expect(scopesAtEnd("dma-after-unmap").map((x) => x.name)).not.toContain("Paging-structure caches");
  });
});
