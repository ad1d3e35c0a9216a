// `poke` reproduces corruption the driver or firmware could cause: any 64-bit word of a root or
// context entry, RTADDR itself, and read-modify-write of single bits, with clear diagnostics.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv, { type SchemaObject } from "ajv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { EngineServer } from "../../src/engine/server.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { pokeValue } from "../../src/sim/machine.js";
import { runScenario } from "../../src/sim/run.js";

const HEAD = `
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["01:00.0"]
workload:
  - start: a
  - dma: { device: "01:00.0", iova: 0x1000, length: 4KiB, write: true }
`;

function load(text: string): Scenario {
  const p = parseScenario(text, "test.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

const run = (workload: string) => runScenario(load(HEAD + workload)).run!;

describe("poke", () => {
  it("writes the high qword of a root entry: reserved in legacy mode, so the next walk faults 0x0a", () => {
    const r = run(`  - poke: { target: { device: "01:00.0", structure: root-hi }, value: 0x1 }
  - invalidate: { granularity: context-global }
  - invalidate: { granularity: global }
  - dma: { device: "01:00.0", iova: 0x1000, length: 4KiB, write: true }
`);
    const poke = r.outcomes[2]!;
    expect(poke.status).toBe("ok");
    const rootLo = r.machine.unit.rootTable + 1 * 16;
    expect(poke.summary).toContain(`at HPA 0x${(rootLo + 8).toString(16)} `);
    expect(r.outcomes[5]!.fault).toBe(0x0a);
  });

  it("sets and clears bits of the current value (read-modify-write): W cleared in a PTE", () => {
    const r = run(`  - poke: { target: { device: "01:00.0", structure: pte, iova: 0x1000 }, clear: 0x2 }
  - invalidate: { granularity: global }
  - dma: { device: "01:00.0", iova: 0x1000, length: 4KiB, write: true }
  - poke: { target: { device: "01:00.0", structure: pte, iova: 0x1000 }, set: 0x2 }
  - dma: { device: "01:00.0", iova: 0x1000, length: 4KiB, write: true }
`);
    const [, , clear, , write, set, again] = r.outcomes;
    expect(clear!.status).toBe("ok");
    expect(clear!.summary).toMatch(/^cleared 0x2: wrote 0x[0-9a-f]{16} at HPA 0x[0-9a-f]+ \(was 0x[0-9a-f]{16}\); no invalidation issued$/);
    const [, now, was] = /wrote 0x([0-9a-f]+) .*was 0x([0-9a-f]+)/.exec(clear!.summary)!;
    expect(BigInt(`0x${was}`) & ~2n).toBe(BigInt(`0x${now}`));
    expect(BigInt(`0x${was}`) & 2n).toBe(2n);
    expect(write!.fault).toBe(0x05);
    expect(set!.summary).toMatch(/^set 0x2: /);
    // The faulting write cached nothing, so the write after `set` walks the restored entry.
    expect(again!.status).toBe("ok");
  });

  it("RTADDR: writes the register and latches it with GCMD.SRTP, without invalidating any cache", () => {
    const r = run(`  - poke: { register: RTADDR, value: 0x2000000 }
  - dma: { device: "01:00.0", iova: 0x1000, length: 4KiB, write: true }
  - invalidate: { granularity: context-global }
  - invalidate: { granularity: global }
  - dma: { device: "01:00.0", iova: 0x1000, length: 4KiB, write: true }
`);
    const poke = r.outcomes[2]!;
    expect(poke.status).toBe("ok");
    expect(poke.summary).toMatch(/^wrote 0x0000000002000000 to RTADDR \(was 0x[0-9a-f]{16}\) and set GCMD\.SRTP; no invalidation issued$/);
    expect(r.machine.unit.rootTable).toBe(0x2000000);
    // The context cache and IOTLB still answer from the old tables...
    expect(r.outcomes[3]!.status).toBe("ok");
    // ...until they are invalidated: the new root table is all zeroes, its entry not present.
    expect(r.outcomes[6]!.fault).toBe(0x01);
  });

  it("says which of address, target and register, and value or set/clear, a poke needs", () => {
    const diag = (step: string) => parseScenario(HEAD + step, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    const both = diag(`  - poke: { register: RTADDR, address: 0x1000, value: 0 }\n`);
    expect(both.map((d) => d.code)).toEqual(["poke-target"]);
    expect(both[0]!.message).toBe("a poke needs exactly one of address, target, register or gpa");
    expect(both[0]!.range.line).toBe((HEAD + "  - poke").split("\n").length - 1);
    const mixed = diag(`  - poke: { address: 0x1000, value: 0, set: 1 }\n`);
    expect(mixed.map((d) => d.code)).toEqual(["poke-value"]);
    expect(mixed[0]!.hint).toContain("set");
    expect(diag(`  - poke: { address: 0x1000 }\n`).map((d) => d.code)).toEqual(["poke-value"]);
    expect(diag(`  - poke: { register: GCMD, value: 0 }\n`).map((d) => d.code)).toEqual(["invalid-value"]);
    expect(diag(`  - poke: { target: { device: "01:00.0", structure: root-hi }, set: 0x10, clear: 0x1 }\n`)).toEqual([]);
  });

  it("hovers: a set/clear mask shows the entry before and after; an RTADDR value is decoded as RTADDR", () => {
    const server = new EngineServer();
    const uri = "file:///x/p.passthrough.yaml";
    const text = HEAD + `  - poke: { target: { device: "01:00.0", structure: pte, iova: 0x1000 }, clear: 0x2 }\n  - poke: { register: RTADDR, value: 0x2000000 }\n  - poke: { target: { device: "01:00.0", structure: root-hi }, value: 0x10 }\n`;
    server.handle("update", { uri, version: 1, text });
    const lines = text.split("\n");
    const at = (match: string, token: string) => {
      const line = lines.findIndex((l) => l.includes(match));
      return server.handle("hover", { uri, line, character: lines[line]!.indexOf(token) + 2, lineText: lines[line]!, radix: "hex" })!.markdown;
    };
    const clear = at("clear: 0x2", "0x2 }");
    expect(clear).toMatch(/cleared in the current value: .*R=1, W=1.* → .*R=1, W=0/s);
    const rt = at("register: RTADDR", "0x2000000").replace(/\\/g, ""); // markdown escapes
    expect(rt).toContain("RTA=0x2000000");
    expect(rt).toContain("TTM=0 (legacy mode)");
    expect(at("root-hi", "0x10").replace(/\\/g, "")).toContain("as a root entry (high qword): reserved in legacy mode; bits `0x10` set → fault 0x0a");
  });

  it("the JSON schema accepts the register, root-hi and set/clear forms and still rejects a typo", () => {
    const schema = JSON.parse(readFileSync(join(__dirname, "..", "..", "schemas", "passthrough.schema.json"), "utf8")) as SchemaObject;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const doc = (step: string): unknown => parseYaml(HEAD + step);
    expect(validate(doc(`  - poke: { register: RTADDR, set: 0x1000 }\n`)) ? [] : validate.errors).toEqual([]);
    expect(validate(doc(`  - poke: { target: { device: "01:00.0", structure: root-hi }, clear: 1 }\n`)) ? [] : validate.errors).toEqual([]);
    expect(validate(doc(`  - poke: { register: RTADDR, vaule: 1 }\n`))).toBe(false);
  });

  it("property: the parser keeps any 64-bit set/clear/value, and a read-modify-write touches only the masked bits", () => {
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    fc.assert(
      fc.property(u64, u64, u64, fc.boolean(), (cur, set, clear, hex) => {
        const lit = (v: bigint) => (hex ? `0x${v.toString(16)}` : v.toString());
        const p = parseScenario(HEAD + `  - poke: { address: 0x1000, set: ${lit(set)}, clear: ${lit(clear)} }\n`, "t.passthrough.yaml");
        expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        const step = p.scenario!.workload.at(-1)!;
        expect(step).toMatchObject({ op: "poke", set, clear });
        if (step.op !== "poke") return;
        const next = pokeValue(step, cur);
        expect(next & set).toBe(set);
        expect(next & clear & ~set).toBe(0n);
        const untouched = ~(set | clear) & ((1n << 64n) - 1n);
        expect(next & untouched).toBe(cur & untouched);
      }),
      { numRuns: 200 },
    );
  });
});

