// A one-line `- dma: { key: scalar, ... }` item becomes its Step in the full parse without yaml
// nodes (fastItems.ts fastDmaItem, parse.ts flatDmaStep) when it is valid, and goes through the
// node path (fastItem, parseStep) when anything in it is not: the scenario (with its keys in the
// same order: the --json report prints them) and the diagnostics must be yaml's, and diagnostics of
// a step late in a workload of thousands keep their line and column.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { benchScenarios } from "../../src/cli/bench.js";
import { parseScenario } from "../../src/scenario/index.js";
import { fastPath } from "../../src/scenario/parse.js";
import { FlatDma, fastDmaItem } from "../../src/scenario/fastItems.js";
import { cutWorkload } from "../../src/scenario/cut.js";

const dir = join(__dirname, "..", "..", "examples");
const head = readdirSync(dir)
  .filter((f) => f.endsWith(".passthrough.yaml"))
  .map((f) => readFileSync(join(dir, f), "utf8"))
  .find((t) => t.includes("X710"))!
  .replace(/^workload:[\s\S]*$/m, "workload:\n");

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `0x${x.toString(16)}` : x));
const sorted = (r: ReturnType<typeof parseScenario>) => [...r.diagnostics].sort((a, b) => a.range.start - b.range.start || a.code.localeCompare(b.code) || a.message.localeCompare(b.message));

function both(text: string) {
  fastPath.enabled = true;
  const fast = parseScenario(text, "f");
  fastPath.enabled = false;
  const slow = parseScenario(text, "f");
  fastPath.enabled = true;
  return { fast, slow };
}

// Every key of a dma transfer and a misspelt one; mostly values of the key (valid ones, so that
// whole items take the flat path, and the first invalid one past each end of a range), sometimes
// any word (valid for some keys, not others).
const VALID: Record<string, string[]> = {
  device: ["01:00.0", '"01:00.0"', "'0000:01:00.0'"],
  iova: ["0x1000_0000", "0x10", "4096", '"0x2000"', "0"],
  length: ["4KiB", "1MiB", "1GiB", "4096", "1", "0x1000", "0", "0x40000001"],
  write: ["true", "false", "True", "FALSE"],
  direction: ["read", "write", '"write"'],
  repeat: ["1", "3", "10000000", '"2"', "0", "10000001"],
  pasid: ["0", "1", "0xfffff", "0x100000"],
  ats: ["true", "false"],
  translated: ["true", "false"],
  devce: ["1"],
};
const keys = Object.keys(VALID);
const word = fc.constantFrom("01:00.0", "0000:01:00.0", "0x1000_0000", "0", "10000001", "0x100000", "2GiB", "0x1_0000_0000_0000_0000", "true", "null", "~", "read", "rw", "007", "0o17", "yes", "dev", "1.5");
const scalar = fc.oneof(word, word.map((w) => `"${w}"`), word.map((w) => `'${w}'`));
/** Mostly null (take a valid value of the key), sometimes a random word. */
const maybe = (validWeight: number) => fc.oneof({ arbitrary: fc.constant(null), weight: validWeight }, { arbitrary: scalar, weight: 1 });
const pairOf = (k: string, i: number, v: string | null) => `${k}: ${v ?? VALID[k]![i % VALID[k]!.length]!}`;
const pair = fc.tuple(fc.constantFrom(...keys), fc.nat(), maybe(6)).map(([k, i, v]) => pairOf(k, i, v));
const more = fc.uniqueArray(fc.tuple(fc.constantFrom(...keys.filter((k) => k !== "device" && k !== "iova" && k !== "devce")), fc.nat(), maybe(8)), { maxLength: 4, selector: ([k]) => k });
const body = fc.oneof(
  // Anything: keys missing, twice, unknown.
  { arbitrary: fc.array(pair, { maxLength: 6 }), weight: 1 },
  // A transfer: device and iova (valid or not), then other keys once each, in any order.
  { arbitrary: fc.tuple(fc.nat(), maybe(8), fc.nat(), more).map(([d, dv, i, rest]) => [pairOf("device", d, dv), pairOf("iova", i, null), ...rest.map(([k, n, v]) => pairOf(k, n, v))]), weight: 4 },
);
const item = fc.tuple(body, fc.constantFrom("", "  # note", "   "), fc.constantFrom("", "\n", "  # c\n")).map(([ps, trail, after]) => `  - dma: { ${ps.join(", ")} }${trail}\n${after}`);

describe("dma items read without yaml nodes", () => {
  afterEach(() => {
    fastPath.enabled = true;
  });

  it("reads each item of the 4 000-step bench shape as a flat dma item", () => {
    const text = benchScenarios(1)[1]!.text;
    const cut = cutWorkload(text)!;
    const flat = new FlatDma();
    const dma = cut.items.filter((it) => fastDmaItem(text, it.start, it.start + it.text.length, flat));
    expect(dma).toHaveLength(4000);
    expect(flat.keys.slice(0, flat.n)).toEqual(["device", "iova", "length", "write"]);
    expect(flat.raws.slice(0, flat.n)).toEqual(["01:00.0", "0x11f00000", "1MiB", "false"]);
  });

  it("gives yaml's scenario (keys in the same order) and diagnostics for random dma items", () => {
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 3 }), (items) => {
        const text = `${head}  - start: web01\n${items.join("")}`;
        const { fast, slow } = both(text);
        expect(json(fast.scenario)).toBe(json(slow.scenario));
        expect(sorted(fast)).toEqual(sorted(slow));
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 400) },
    );
  });

  it("reports a bad value in step 3 500 of 4 000 at its line and column", () => {
    const lines = benchScenarios(1)[1]!.text.split("\n");
    const at = lines.findIndex((l) => l.startsWith("  - dma:")) + 3499; // the 3 500th dma step (step 3 500 after start)
    lines[at] = lines[at]!.replace("length: 1MiB", "length: 0");
    const text = lines.join("\n");
    for (const enabled of [true, false]) {
      fastPath.enabled = enabled;
      const r = parseScenario(text, "many.passthrough.yaml");
      expect(r.scenario).toBeUndefined();
      expect(r.diagnostics).toHaveLength(1);
      const d = r.diagnostics[0]!;
      expect(d.code).toBe("dma-length");
      expect(d.range.line).toBe(at);
      expect(d.range.column).toBe(lines[at].indexOf("length: 0") + "length: ".length);
      expect(text.slice(d.range.start, d.range.end)).toBe("0");
    }
  });

  it("reports a YAML syntax error in step 3 900 of 4 000 at the line after it, where yaml finds it", () => {
    const lines = benchScenarios(1)[1]!.text.split("\n");
    const at = lines.findIndex((l) => l.startsWith("  - dma:")) + 3899;
    lines[at] = lines[at]!.replace(" }", ""); // an unclosed flow mapping
    const r = parseScenario(lines.join("\n"), "many.passthrough.yaml");
    expect(r.scenario).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0]!;
    expect([d.code, d.message]).toEqual(["yaml-syntax", "a { ... } above this line is not closed"]);
    expect([d.range.line, d.range.column]).toEqual([at + 1, 2]);
  });
});
