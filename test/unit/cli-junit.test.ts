// `passthrough simulate --format junit` / `--junit FILE`: JUnit XML a CI system reads natively.
// The XML is parsed back with a strict parser (sax, already installed with @vscode/vsce's xml2js):
// counts, one test case per expect, failures with their message, skipped for not reached, and
// hostile scenario names (`]]>`, `<`, quotes, control characters, lone surrogates) still parse.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { USAGE } from "../../src/cli/args.js";
import { toJunit } from "../../src/cli/junit.js";
import { simulateText } from "../../src/cli/simulate.js";
import { cli } from "./helpers.js";

const require = createRequire(import.meta.url);
const sax = require("sax") as { parser(strict: boolean): SaxParser };
interface SaxParser {
  onerror: (e: Error) => void;
  onopentag: (t: { name: string; attributes: Record<string, string> }) => void;
  onclosetag: (name: string) => void;
  ontext: (t: string) => void;
  write(s: string): SaxParser;
  close(): void;
}
interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
  text: string;
}
/** Parses strictly (throws on anything not well-formed) into a small tree. */
function parseXml(xml: string): El {
  const p = sax.parser(true);
  const root: El = { name: "#root", attrs: {}, children: [], text: "" };
  const stack = [root];
  p.onerror = (e) => {
    throw e;
  };
  p.onopentag = (t) => {
    const el: El = { name: t.name, attrs: t.attributes, children: [], text: "" };
    stack[stack.length - 1]!.children.push(el);
    stack.push(el);
  };
  p.onclosetag = () => void stack.pop();
  p.ontext = (t) => void (stack[stack.length - 1]!.text += t);
  p.write(xml).close();
  expect(root.children.length).toBe(1);
  return root.children[0]!;
}
const all = (el: El, name: string): El[] => [...(el.name === name ? [el] : []), ...el.children.flatMap((c) => all(c, name))];

const root = join(__dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "passthrough-junit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const scenario = (name: string, workload: string) => `name: ${JSON.stringify(name)}
host:
  memory: 64GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1, driver: pcieport }
    - { bdf: "01:00.0", id: "8086:1572", name: X710, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: web01
    memory: 4GiB
    devices: ["01:00.0"]
workload:
  - start: web01
${workload}`;

/** Three expects: one passes, one fails, then a step that stops the run and one never reached. */
const mixed = scenario(
  "mixed",
  `  - map: { vm: web01, iova: 0x1000_0000, size: 4KiB, perm: rw }
    expect: { errno: EEXIST }
  - map: { vm: web01, iova: 0x1000_0000, size: 4KiB, perm: rw }
    expect: { errno: ENOMEM }
  - stop: web01
  - dma: { device: "01:00.0", iova: 0x1000, length: 4KiB }
    expect: { fault: 0x05 }
`,
);

/** A run that stops early (nd: 0 allows 16 domain ids, the 15th start fails): its later expects are not reached. */
const stops = `name: stops early
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48, nd: 0 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["01:00.0"]
    viommu: { model: intel, caching-mode: true }
workload:
  - start: a
${"  - stop: a\n  - start: a\n".repeat(16)}  - dma: { device: "01:00.0", iova: 0x100000 }
    expect: { fault: 0x06 }
  - wait: 1s
  - wait: 1s
    expect: ok
`;

describe("simulate --format junit", () => {
  it("every example: one testsuite per scenario, one testcase per expect, all passing", async () => {
    const { readdirSync } = await import("node:fs");
    const files = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".passthrough.yaml")).map((f) => join(root, "examples", f));
    const r = await cli("simulate", "--format", "junit", ...files);
    expect(r.code).toBe(0);
    const doc = parseXml(r.out);
    expect(doc.name).toBe("testsuites");
    const suites = all(doc, "testsuite");
    expect(suites.map((s) => s.attrs.file)).toEqual(files);
    for (const [i, s] of suites.entries()) {
      const rep = simulateText(readFileSync(files[i]!, "utf8"), files[i]!);
      expect(Number(s.attrs.tests)).toBe(rep.expectations.passed);
      expect(all(s, "testcase").length).toBe(rep.expectations.passed);
      expect(s.attrs.failures).toBe("0");
    }
    expect(Number(doc.attrs.tests)).toBe(all(doc, "testcase").length);
  });

  it("a failing expect is a <failure> with its message, a not-reached one <skipped>, an early stop a failing case; exit code as in text mode", async () => {
    const file = join(tmp, "mixed.passthrough.yaml");
    writeFileSync(file, mixed);
    const text = await cli("simulate", file);
    const r = await cli("simulate", "--format", "junit", file);
    expect(r.code).toBe(text.code);
    const rep = simulateText(mixed, file);
    const doc = parseXml(r.out);
    const suite = all(doc, "testsuite")[0]!;
    const cases = all(suite, "testcase");
    expect(suite.attrs).toMatchObject({ name: "mixed", tests: String(cases.length) });
    expect(Number(suite.attrs.failures)).toBe(rep.expectations.failed + (rep.stoppedEarly ? 1 : 0));
    expect(Number(suite.attrs.skipped)).toBe(rep.expectations.notReached);
    expect(rep.expectations.failed).toBeGreaterThan(0);
    const failed = rep.steps.find((s) => s.expect && !s.expect.pass)!;
    const fc1 = cases.find((c) => c.attrs.line === String(failed.line))!;
    expect(all(fc1, "failure")[0]!.attrs.message).toBe(failed.expect!.failures.join("; "));
  });

  it("expects after an early stop are <skipped>, and the stop itself is a failing case (exit code 1)", async () => {
    const file = join(tmp, "stops.passthrough.yaml");
    writeFileSync(file, stops);
    const r = await cli("simulate", "--format", "junit", file);
    expect(r.code).toBe(1);
    const rep = simulateText(stops, file);
    expect(rep.expectations.notReached).toBe(2);
    const suite = all(parseXml(r.out), "testsuite")[0]!;
    expect(suite.attrs).toMatchObject({ tests: "3", failures: "1", skipped: "2", errors: "0" });
    const cases = all(suite, "testcase");
    for (const s of rep.steps.filter((x) => x.status === "not-reached")) expect(all(cases.find((c) => c.attrs.line === String(s.line))!, "skipped").length).toBe(1);
    expect(all(cases.find((c) => c.attrs.name === "the run reaches its end")!, "failure")[0]!.attrs.message).toBe(`stopped early: ${rep.stoppedEarly}`);
  });

  it("--junit FILE writes the same XML and keeps the text output; an unreadable scenario is an <error>", async () => {
    const out = join(tmp, "report.xml");
    const file = join(tmp, "mixed2.passthrough.yaml");
    writeFileSync(file, mixed);
    const r = await cli("simulate", "--junit", out, file, join(tmp, "missing.yaml"));
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/expectations: \d+ passed, \d+ failed/);
    const doc = parseXml(readFileSync(out, "utf8"));
    const suites = all(doc, "testsuite");
    expect(suites.length).toBe(2);
    expect(all(suites[1]!, "error")[0]!.attrs.message).toBe("cannot read: ENOENT");
    expect(doc.attrs.errors).toBe("1");
    const cannot = await cli("simulate", "--junit", join(tmp, "no", "such", "dir.xml"), file);
    expect(cannot.code).toBe(2);
    expect(cannot.err).toContain("cannot write the JUnit report: ENOENT");
  });

  it("a scenario that does not load is one testcase with an <error> naming its diagnostics", async () => {
    const file = join(tmp, "broken.passthrough.yaml");
    writeFileSync(file, "name: broken\nhost: 7\n");
    const r = await cli("simulate", "--format", "junit", file);
    expect(r.code).toBe(2);
    const err = all(parseXml(r.out), "error")[0]!;
    expect(err.attrs.type).toBe("invalid-scenario");
    expect(err.text).toMatch(/broken\.passthrough\.yaml:\d+:\d+: error /);
  });

  it("hostile names (]]>, <, &, quotes, control characters, bidi, lone surrogates) stay text and the XML parses", async () => {
    const hostile = `]]><x a="1">&amp;</x>'"\u0000\u0001\u001b[2J\u0007\u007f\u0085\u202e\ud800 end`;
    const file = join(tmp, "hostile.passthrough.yaml");
    writeFileSync(file, mixed.replace('name: "mixed"', `name: ${JSON.stringify(hostile)}`));
    const r = await cli("simulate", "--format", "junit", file);
    const suite = all(parseXml(r.out), "testsuite")[0]!;
    expect(suite.attrs.name).toBe(`]]><x a="1">&amp;</x>'"\\x00\\x01\\x1b[2J\\x07\\x7f\\x85\\u202e\\ud800 end`);
    expect(all(suite, "testcase").every((c) => c.attrs.classname === suite.attrs.name)).toBe(true);
  });

  it("any report text parses back exactly (property): names, failures and summaries of arbitrary strings", () => {
    const base = simulateText(mixed, "m.yaml");
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 24 }), fc.string({ unit: "grapheme-composite", maxLength: 8 }), (a, b) => {
        const rep = structuredClone(base);
        rep.name = a + b;
        rep.file = b + a;
        for (const s of rep.steps) if (s.expect && !s.expect.pass) s.expect.failures = [a, b];
        const doc = parseXml(toJunit([rep]));
        const suite = all(doc, "testsuite")[0]!;
        // Legal characters come back as they were; the rest as visible escapes.
         
        const legal = /^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]*$/;
        if (legal.test(a + b)) expect(suite.attrs.name).toBe(a + b);
        expect(suite.attrs.file!.length).toBeGreaterThanOrEqual((b + a).length);
      }),
      { numRuns: 60 },
    );
  });

  it("--format is checked: an unknown value, or --json with junit, is a usage error", async () => {
    const f = await cli("simulate", "--format", "junt", "x.yaml");
    expect(f.code).toBe(2);
    expect(f.err).toContain('--format "junt" is not one of text, json, junit; did you mean junit?');
    expect(f.err).toContain(USAGE);
    expect((await cli("simulate", "--json", "--format", "junit", "x.yaml")).code).toBe(2);
    expect((await cli("simulate", "--junit", "", "x.yaml")).code).toBe(2);
  });
});
