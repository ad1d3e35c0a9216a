// Messages that hold (issue 18): inputs found by fuzzing that read as something else. Each problem
// is reported at its place (line:column) with a hint, or the input is read as the user meant it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/cli.js";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { MAX_NESTING, decodeScenarioBytes } from "../../src/scenario/text.js";
import type { Diagnostic } from "../../src/scenario/types.js";

const BASE = readFileSync(join(__dirname, "..", "..", "examples", "healthy-nic.passthrough.yaml"), "utf8");

function edit(text: string, from: string | RegExp, to: string): string {
  const out = text.replace(from, to);
  if (out === text) throw new Error(`${String(from)} not found`);
  return out;
}

/** 1-based "line:column" of a diagnostic, as an editor and the CLI show it. */
const at = (d: Diagnostic) => `${d.range.line + 1}:${d.range.column + 1}`;
/** 1-based "line:column" of the first `needle` in `text` (lines end at \n, \r\n or \r). */
function where(text: string, needle: string, plus = 0): string {
  const i = text.indexOf(needle) + plus;
  const lines = text.slice(0, i).split(/\r\n|\r|\n/);
  return `${lines.length}:${lines[lines.length - 1]!.length + 1}`;
}
const errors = (text: string) => parseScenario(text, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");

describe("keys without values", () => {
  it("{ device, iova: 0x1000 } is reported at `device`, not at 1:1", () => {
    const text = edit(BASE, '- dma: { device: "01:00.0", iova: 0x1000_0000, length: 8KiB, write: true }', "- dma: { device, iova: 0x1000 }");
    const e = errors(text);
    expect(e).toHaveLength(1);
    expect(e[0]!.message).toMatch(/device.*missing a value/);
    expect(at(e[0]!)).toBe(where(text, "{ device", 2));
    expect(e[0]!.hint).toBeTruthy();
  });
  it("a flow step without a value ({ dma }) is reported at the step's key", () => {
    const text = edit(BASE, "  - stop: web01", "  - { dma }\n  - stop: web01");
    const e = errors(text);
    expect(e.length).toBeGreaterThan(0);
    expect(at(e[0]!)).toBe(where(text, "{ dma }", 2));
  });
});

describe("deep nesting", () => {
  it(`is "nested too deeply (limit ${MAX_NESTING})" at the place, not a stack overflow`, () => {
    for (const deep of ["[".repeat(5000) + "]".repeat(5000), "{a: ".repeat(3000) + "1" + "}".repeat(3000)]) {
      const text = `${BASE}extra: ${deep}\n`;
      const e = errors(text);
      expect(e).toHaveLength(1);
      expect(e[0]!.message).toMatch(new RegExp(`nested too deeply \\(limit ${MAX_NESTING}\\)`));
      expect(e[0]!.message).not.toMatch(/call stack/);
      // At the bracket that goes one level too deep (the scenario's own mapping is the first level).
      expect(e[0]!.range.start).toBe(text.indexOf("extra: ") + 7 + (deep[0] === "[" ? 1 : 4) * (MAX_NESTING - 1));
      expect(e[0]!.hint).toBeTruthy();
    }
  });
  it("block nesting too: a list of lists indented line by line", () => {
    const lines = Array.from({ length: 1500 }, (_, i) => `${" ".repeat(i + 1)}- `).join("\n");
    const e = errors(`${BASE}extra:\n${lines}\n`);
    expect(e).toHaveLength(1);
    expect(e[0]!.message).toMatch(/nested too deeply/);
    // Line k of the list is nesting level k + 2 (under the scenario's mapping and `extra:`'s list).
    const extra = BASE.split("\n").length - 1;
    expect(e[0]!.range.line).toBe(extra + 1 + (MAX_NESTING - 1));
  });
  it("nesting up to the limit is read as usual", () => {
    const text = `${BASE}extra: ${"[".repeat(MAX_NESTING - 1)}${"]".repeat(MAX_NESTING - 1)}\n`;
    expect(errors(text)).toEqual([]);
  });
});

describe("UTF-16 scenarios", () => {
  const encode = (s: string, be: boolean) => {
    const b = Buffer.from(s, "utf16le");
    if (be) b.swap16();
    return new Uint8Array(b);
  };
  it.each([
    ["LE with BOM", true, false],
    ["BE with BOM", true, true],
    ["LE without BOM", false, false],
    ["BE without BOM", false, true],
  ])("%s is decoded from bytes (the CLI's read) and simulates", (_, bom, be) => {
    const text = decodeScenarioBytes(encode((bom ? "\ufeff" : "") + BASE, be));
    const r = parseScenario(text, "t.passthrough.yaml");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.scenario?.name).toBe("Healthy NIC passthrough");
  });
  it("passthrough simulate reads a UTF-16 file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pt-utf16-"));
    try {
      const file = join(dir, "utf16.passthrough.yaml");
      writeFileSync(file, encode("\ufeff" + BASE, false));
      let out = "";
      let err = "";
      const code = await runCli(["simulate", file], { out: (t) => void (out += t), err: (t) => void (err += t) });
      expect(err).toBe("");
      expect(code).toBe(0);
      expect(out).toContain("Healthy NIC passthrough");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("UTF-8 bytes, with or without BOM, decode as before", () => {
    expect(decodeScenarioBytes(new TextEncoder().encode(BASE))).toBe(BASE);
    expect(parseScenario(decodeScenarioBytes(new TextEncoder().encode("\ufeff" + BASE)), "t").scenario?.name).toBe("Healthy NIC passthrough");
  });
  it("UTF-16 text read as UTF-8 says so, with a hint to save as UTF-8", () => {
    for (const bom of [true, false]) {
      const text = Buffer.from(encode((bom ? "\ufeff" : "") + BASE, false)).toString("utf8");
      const e = errors(text);
      expect(e).toHaveLength(1);
      expect(e[0]!.message).toMatch(/UTF-16/);
      expect(e[0]!.hint).toMatch(/UTF-8/);
      expect(at(e[0]!)).toBe("1:1");
    }
  });
});

describe("anchors and aliases", () => {
  it("a scalar alias is read as its anchor's value", () => {
    const text = edit(edit(BASE, "memory: 4GiB", "memory: &guest 4GiB"), "workload:", "  - name: web02\n    memory: *guest\nworkload:");
    const r = parseScenario(text, "t");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.scenario?.vms.map((v) => v.memory)).toEqual([4n << 30n, 4n << 30n]);
  });
  it("a collection alias is read as its anchor's collection", () => {
    const text = edit(edit(BASE, '- dma: { device: "01:00.0", iova: 0x1000_0000, length: 8KiB, write: true }', '- dma: &rx { device: "01:00.0", iova: 0x1000_0000, length: 8KiB, write: true }'), "  - stop: web01", "  - dma: *rx\n  - stop: web01");
    const r = parseScenario(text, "t");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const dmas = r.scenario!.workload.filter((s) => s.op === "dma");
    expect(dmas[dmas.length - 1]).toMatchObject({ iova: 0x1000_0000n, length: 8192n, write: true });
  });
  it("a bad value behind an alias is reported at the alias, with the anchor's text", () => {
    const text = edit(edit(BASE, "memory: 4GiB", "memory: 4GiB\n    x: &bad 12XB"), "  - stop: web01", "  - wait: *bad\n  - stop: web01");
    const e = errors(text);
    expect(e).toHaveLength(1);
    expect(e[0]!.message).toMatch(/12XB/);
    expect(at(e[0]!)).toBe(where(text, "*bad"));
  });
  it("aliases that repeat a large collection many times are refused at the alias (no billion laughs)", () => {
    const devices = Array.from({ length: 2000 }, (_, i) => `"${(i >> 8).toString(16).padStart(2, "0")}:${((i >> 3) & 31).toString(16).padStart(2, "0")}.${i & 7}"`).join(", ");
    const vms = Array.from({ length: 600 }, (_, i) => `  - { name: v${i}, memory: 4MiB, devices: *all }`).join("\n");
    const text = `x: &all [${devices}]\nhost:\n  memory: 64GiB\n  iommu: { model: intel-vtd }\nvms:\n${vms}\n`;
    let ticks = 0;
    const d = parseScenario(text, "t", { progress: () => void ticks++ }).diagnostics.filter((x) => x.code === "too-large");
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toMatch(/aliases/);
    expect(text.slice(d[0]!.range.start, d[0]!.range.end)).toBe("*all");
    // The work stays bounded (progress ticks count lines and nodes read), not 600 x 2000 nodes.
    expect(ticks).toBeLessThan(1_200_000 / 2048);
  });
  it("an alias to an unknown anchor is reported at the alias", () => {
    const text = edit(BASE, "memory: 4GiB", "memory: *nothing");
    const e = errors(text);
    expect(e).toHaveLength(1);
    expect(at(e[0]!)).toBe(where(text, "*nothing"));
  });
});

describe("empty lists", () => {
  it("an empty `pci:` is an empty list", () => {
    const text = "host:\n  memory: 8GiB\n  iommu: { model: intel-vtd }\n  pci:\nvms:\n  - name: a\n    memory: 1GiB\nworkload:\n  - start: a\n";
    const r = parseScenario(text, "t");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.scenario?.host.pci).toEqual([]);
  });
  it("empty `vms:` and `workload:` are empty lists too", () => {
    const r = parseScenario("host:\n  memory: 8GiB\n  iommu: { model: intel-vtd }\n  pci:\nvms:\nworkload:\n", "t");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.scenario?.vms).toEqual([]);
    expect(r.scenario?.workload).toEqual([]);
  });
});

describe("invisible characters", () => {
  it.each([["U+FEFF", "\ufeff"], ["U+200B", "\u200b"]])("a %s in a key is reported at the character, and the key is read", (name, ch) => {
    const text = edit(BASE, "  memory: 64GiB", `  ${ch}memory: 64GiB`);
    const d = parseScenario(text, "t").diagnostics;
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toContain(`invisible ${name}`);
    expect(d[0]!.message).toContain('"memory"');
    expect(at(d[0]!)).toBe(where(text, ch));
    expect(d[0]!.hint).toBeTruthy();
  });
  it("a BOM at the very start stays fine", () => {
    expect(parseScenario("\ufeff" + BASE, "t").diagnostics).toEqual([]);
  });
});

describe("line endings", () => {
  const bad = edit(BASE, "iova: 0x1000_0000", "iova: 0xZZ");
  it.each([
    ["CR", "\r"],
    ["CRLF", "\r\n"],
    ["LF", "\n"],
  ])("%s: a problem is reported at its line and column", (_, eol) => {
    const text = bad.replace(/\n/g, eol);
    const e = errors(text);
    expect(e).toHaveLength(1);
    expect(e[0]!.code).toBe("address-malformed");
    expect(at(e[0]!)).toBe(where(text, "0xZZ"));
    expect(text.slice(e[0]!.range.start, e[0]!.range.end)).toBe("0xZZ");
  });
  it("a CR-only file is read like its LF twin", () => {
    const r = parseScenario(BASE.replace(/\n/g, "\r"), "t");
    expect(r.diagnostics).toEqual([]);
    expect(r.scenario?.workload.length).toBe(parseScenario(BASE, "t").scenario?.workload.length);
  });
});

describe("values shown in messages", () => {
  it("invisible and control characters in a quoted value are shown as escapes, not hidden or sent raw", () => {
    const text = edit(BASE, "model: intel-vtd", 'model: "\u202eintel-vtd\u001b[2J"');
    const e = errors(text);
    expect(e).toHaveLength(1);
    expect(e[0]!.message).toContain('not "\\u{202E}intel-vtd\\u{1B}[2J"');
    expect(e[0]!.hint).toBeTruthy();
  });
});
