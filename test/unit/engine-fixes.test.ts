// Quick fixes as a user applies them: each fix is a set of text edits; applying it and re-running
// must make the problem go away (and nothing else break).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import type { EngineDiagnostic, TextEditFix } from "../../src/protocol/engine.js";

const read = (name: string) => readFileSync(join(__dirname, "..", "..", "examples", `${name}.passthrough.yaml`), "utf8");

function run(text: string) {
  const server = new EngineServer();
  return server.handle("update", { uri: "file:///f.passthrough.yaml", version: 1, text });
}

function apply(text: string, fix: TextEditFix): string {
  // Edits are applied back to front so earlier offsets stay valid (as a WorkspaceEdit does).
  let out = text;
  for (const e of [...fix.edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

function only(diags: EngineDiagnostic[], code: string): EngineDiagnostic {
  const d = diags.filter((x) => x.code === code);
  expect(d.length, `${code} among ${diags.map((x) => x.code).join(", ")}`).toBe(1);
  return d[0]!;
}

describe("quick fixes", () => {
  it("group not viable: binds the group's other function to vfio-pci", () => {
    const text = read("non-viable-group").replace("    expect: { error: group-not-viable }\n", "");
    const st = run(text);
    // Twice: the validator's warning on the VM and the refused start on the step; both offer the fix.
    const both = st.diagnostics.filter((d) => d.code === "group-not-viable");
    expect(both.map((d) => d.severity).sort()).toEqual(["error", "warning"]);
    for (const d of both) expect(d.fixes?.[0]?.title).toMatch(/Bind 01:00\.1 to vfio-pci/);
    const warn = both[0]!;
    const fixed = apply(text, warn.fixes![0]!);
    expect(fixed).toContain('name: 82599ES port 1, parent: "00:01.0", driver: vfio-pci }');
    const after = run(fixed);
    expect(after.diagnostics.filter((d) => d.severity !== "info")).toEqual([]);
    expect(after.steps[0]!.status).toBe("ok");
  });

  it("vIOMMU without caching mode: turns caching-mode on", () => {
    const text = read("viommu-no-caching-mode").replace("    expect: { error: caching-mode-required }\n", "");
    const d = only(run(text).diagnostics, "caching-mode-required");
    const fixed = apply(text, d.fixes![0]!);
    expect(fixed).toContain("viommu: { model: intel, caching-mode: true }");
    const after = run(fixed);
    expect(after.steps[0]!.status).toBe("ok");
    expect(after.diagnostics).toEqual([]);
  });

  it("DMA to an unmapped IOVA: inserts the missing map before the step", () => {
    const text = read("unmapped-iova").replace("    expect: { fault: 0x06 }\n", "");
    const st = run(text);
    const d = only(st.diagnostics, "dma-fault");
    expect(d.message).toMatch(/0x06 PTE Read access is not set/);
    const fixed = apply(text, d.fixes![0]!);
    expect(fixed).toContain("  - map: { vm: hpc01, iova: 0xc0000000, size: 4KiB, perm: r, gpa: 0x0 }\n  - dma: { device: \"02:00.0\", iova: 0xc000_0000, length: 4KiB, write: false }");
    const after = run(fixed);
    expect(after.diagnostics.filter((x) => x.code === "dma-fault")).toEqual([]);
    // The write that follows is still expected to fault (the map is read-only): nothing else changed.
    expect(after.totals.failedExpectations).toBe(0);
  });

  it("unaligned map: rounds IOVA down and size up to whole pages", () => {
    const broken = read("healthy-nic").replace("  - stop: web01\n", "  - map: { vm: web01, iova: 0x2000_0800, size: 6KiB, perm: rw, gpa: 0x1000_0800 }\n  - stop: web01\n");
    const d = only(run(broken).diagnostics, "map-unaligned");
    const fixed = apply(broken, d.fixes![0]!);
    expect(fixed).toContain("- map: { vm: web01, iova: 0x20000000, size: 8KiB, perm: rw, gpa: 0x10000000 }");
    expect(run(fixed).diagnostics.filter((x) => x.code === "map-unaligned")).toEqual([]);
  });

  it("expected outcomes are not diagnostics; failed expectations are errors on the expect line", () => {
    const ok = run(read("dma-after-unmap"));
    expect(ok.diagnostics).toEqual([]);
    const text = read("dma-after-unmap").replace("expect: { fault: 0x05 }", "expect: { fault: 0x06 }");
    const st = run(text);
    const d = only(st.diagnostics, "expectation-failed");
    expect(d.severity).toBe("error");
    expect(text.slice(d.range.start, d.range.end)).toContain("fault: 0x06");
  });
});
