// The full parse reads plain workload items itself (src/scenario/fastItems.ts) instead of through
// the yaml package: it must give exactly what yaml's reading gives — the same scenario, ranges
// included, and the same diagnostics — for every example, for random plain items, and for random
// edits of them (which are mostly not plain: then the yaml path runs anyway).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { fastPath, parseWorkloadItem } from "../../src/scenario/parse.js";
import { cutWorkload } from "../../src/scenario/cut.js";
import { fastItem, fastSequence } from "../../src/scenario/fastItems.js";

const dir = join(__dirname, "..", "..", "examples");
const examples = readdirSync(dir).filter((f) => f.endsWith(".passthrough.yaml")).map((f) => readFileSync(join(dir, f), "utf8"));

const norm = (r: ReturnType<typeof parseScenario>) => ({
  scenario: r.scenario,
  diagnostics: [...r.diagnostics].sort((a, b) => a.range.start - b.range.start || a.code.localeCompare(b.code) || a.message.localeCompare(b.message)),
});

function both(text: string) {
  fastPath.enabled = true;
  const fast = norm(parseScenario(text, "f"));
  fastPath.enabled = false;
  const slow = norm(parseScenario(text, "f"));
  fastPath.enabled = true;
  return { fast, slow };
}

// The host and VM of one named example (a device 01:00.0 and a VM web01, which the random items name), its workload cut off.
const head = readFileSync(join(dir, "healthy-nic.passthrough.yaml"), "utf8").replace(/^workload:[\s\S]*$/m, "workload:\n");

// Pieces of plain items, and a few that are not plain (the reader must decline them, not misread them).
const word = fc.constantFrom("web01", "0x1000_0000", "0x10", "4096", "8KiB", "1MiB", "true", "false", "True", "null", "~", "ok", "miss", "rw", "r", "1us", "007", "0o17", "1.5", "1e3", ".inf", "-5", "+5", "a:b", "x#y", "dev", "01:00.0", "", "yes");
const scalar = fc.oneof(word, word.map((w) => `"${w}"`), word.map((w) => `'${w}'`), fc.constantFrom('"a\\"b"', "'it''s'", "[1, 2]", "[]", "{}", "a b"));
const key = fc.constantFrom("device", "iova", "length", "write", "repeat", "vm", "size", "perm", "ok", "fault", "iotlb", "faults", "recorded", "devce", "true", "expect", "dma");
const flowMap = fc.array(fc.tuple(key, scalar, fc.constantFrom(": ", ":  ", ":"), fc.constantFrom(", ", ",", " , ")), { maxLength: 5 }).map((ps) => `{ ${ps.map(([k, v, c], i) => `${k}${c}${v}${i < ps.length - 1 ? ps[i]![3] : ""}`).join("")} }`);
const op = fc.constantFrom("dma", "map", "guest-map", "unmap", "start", "stop", "translate", "wait", "poke", "invalidate", "bogus");
const value = fc.oneof(flowMap, scalar, flowMap.map((m) => `[${m}, ${m}]`), flowMap.map((m) => `{ target: ${m}, value: 0x1 }`));
const trail = fc.constantFrom("", "  # note", " #x", "#x", "   ", "\r");
const item = fc.record({ op, value, trail, expect: fc.option(fc.tuple(fc.constantFrom("    expect: ", "     expect: ", "    expect:"), fc.oneof(flowMap, scalar), trail)), after: fc.constantFrom("", "\n", "  # c\n", "\n\n") });
const items = fc.array(item, { minLength: 1, maxLength: 6 }).map((its) =>
  its.map((i) => `  - ${i.op}: ${i.value}${i.trail}\n${i.expect ? `${i.expect[0]}${i.expect[1]}${i.expect[2]}\n` : ""}${i.after}`).join(""),
);

// Plain items only: dma/map/start/... bodies, valid or not (a wrong value is a diagnostic, still plain).
const pword = fc.constantFrom("web01", "0x1000_0000", "0x10", "4096", "8KiB", "1MiB", "true", "false", "True", "null", "~", "ok", "miss", "rw", "r", "1us", "007", "0o17", "dev", "01:00.0", "yes", "0x04");
const pscalar = fc.oneof(pword, pword.map((w) => `"${w}"`), pword.map((w) => `'${w}'`));
const pkey = fc.constantFrom("device", "iova", "length", "write", "repeat", "vm", "size", "perm", "ok", "fault", "iotlb", "faults", "recorded", "devce", "expect", "dma");
const pmap = fc.array(fc.tuple(pkey, pscalar, fc.constantFrom(", ", ",", " , ", " ,  ")), { maxLength: 5 }).map((ps) => `{${ps.length ? " " : ""}${ps.map(([k, v], i) => `${k}: ${v}${i < ps.length - 1 ? ps[i]![2] : ""}`).join("")}${ps.length ? " " : ""}}`);
const pvalue = fc.oneof(pmap, pscalar, fc.tuple(pmap, pmap).map(([a, b]) => `[${a}, ${b}]`), pmap.map((m) => `{ target: ${m}, value: 0x1 }`));
const ptrail = fc.constantFrom("", "  # note", " #x", "   ");
const plainItems = fc
  .array(fc.record({ op, value: pvalue, trail: ptrail, expect: fc.option(fc.tuple(fc.oneof(pmap, pscalar), ptrail)), after: fc.constantFrom("", "\n", "  # c\n", "\n\n", "# at column 0\n") }), { minLength: 1, maxLength: 6 })
  .map((its) => its.map((i) => `  - ${i.op}: ${i.value}${i.trail}\n${i.expect ? `    expect: ${i.expect[0]}${i.expect[1]}\n` : ""}${i.after}`).join(""));

describe("the plain-item reader of the full parse", () => {
  afterEach(() => {
    fastPath.enabled = true;
  });

  it("reads every example's workload itself, with yaml's result", () => {
    for (const text of examples) {
      const { fast, slow } = both(text);
      expect(fast).toEqual(slow);
    }
  });

  it("equals yaml's reading for random items, plain or not (and declines what is not plain)", () => {
    fc.assert(
      fc.property(items, fc.boolean(), (body, eof) => {
        const text = head + (eof ? body.replace(/\n$/, "") : body);
        const { fast, slow } = both(text);
        expect(fast).toEqual(slow);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 400) },
    );
  });

  it("equals yaml's reading after random edits of the examples", () => {
    const edit = fc.record({
      example: fc.nat(examples.length - 1),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      del: fc.nat(8),
      ins: fc.oneof(fc.constantFrom("", "\n", "  - ", "- ", "    expect: ok\n", "  - dma: { device: \"01:00.0\", iova: 0x1000, length: 4KiB }\n", "#", ":", "{", "}", "\"", "'", "0x", " ", ",", "[", "]"), fc.string({ maxLength: 4 })),
    });
    fc.assert(
      fc.property(edit, (e) => {
        const base = examples[e.example]!;
        const at = Math.floor(e.at * base.length);
        const text = base.slice(0, at) + e.ins + base.slice(at + e.del);
        const { fast, slow } = both(text);
        expect(fast).toEqual(slow);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });

  it("equals yaml's reading for random plain items, which it reads itself", () => {
    fc.assert(
      fc.property(plainItems, fc.boolean(), (body, eof) => {
        const text = head + (eof ? body.replace(/\n$/, "") : body);
        const cut = cutWorkload(text)!;
        expect(fastSequence(text, cut.items.map((i) => ({ start: i.start, end: i.start + i.text.length })))).toBeDefined();
        const { fast, slow } = both(text);
        expect(fast).toEqual(slow);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });

  it("a single item (the incremental parser's unit) reads the same either way", () => {
    fc.assert(
      fc.property(items, (body) => {
        const one = body.slice(0, body.indexOf("\n  - ", 1) + 1 || body.length);
        fastPath.enabled = true;
        const fast = parseWorkloadItem(one);
        fastPath.enabled = false;
        const slow = parseWorkloadItem(one);
        fastPath.enabled = true;
        if (fast !== undefined && slow !== undefined) expect(fast).toEqual(slow);
        else if (fastItem(one, 0, one.length) !== undefined) expect(fast).toEqual(slow);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });

  it("reads a 4 000-step workload of plain items without yaml", () => {
    const body = Array.from({ length: 4000 }, (_, i) => `  - dma: { device: "01:00.0", iova: 0x${(0x10000000 + i * 4096).toString(16)}, length: 4KiB, write: ${i % 2 === 0} }\n`).join("");
    const text = head + "  - start: web01\n" + body;
    expect(fastItem(text, head.length, head.length + 17)).toBeDefined();
    const { fast, slow } = both(text);
    expect(fast.scenario!.workload.length).toBe(4001);
    expect(fast).toEqual(slow);
  });
});
