// Quick fixes as a user applies them: each fix is a set of text edits; applying it and re-running
// must make the problem go away (and nothing else break).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import type { EngineDiagnostic, TextEditFix } from "../../src/protocol/engine.js";
import { parseSize } from "../../src/scenario/values.js";
import { q35Memslots, virtMemslots } from "../../src/sim/kvm.js";
import { chooseGpa, formatAddressLike, formatSizeLike } from "../../src/engine/fixes.js";
import fc from "fast-check";

const EXAMPLES = readdirSync(join(__dirname, "..", "..", "examples")).filter((f) => f.endsWith(".passthrough.yaml")).map((f) => f.replace(/\.passthrough\.yaml$/, ""));
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
    // The IOVA in the user's own spelling; the GPA inside hpc01's RAM (all of it is mapped at
    // IOVA = GPA already, so the first range above 1 MiB is shared), never 0x0 or the PCI hole.
    expect(fixed).toContain("  - map: { vm: hpc01, iova: 0xc000_0000, size: 4KiB, perm: r, gpa: 0x10_0000 }\n  - dma: { device: \"02:00.0\", iova: 0xc000_0000, length: 4KiB, write: false }");
    expect(d.fixes![0]!.title).toMatch(/gpa 0x10_0000 \(all of hpc01's 2GiB RAM is mapped already, so this shares those pages\)/);
    const after = run(fixed);
    expect(after.diagnostics.filter((x) => x.code === "dma-fault")).toEqual([]);
    // The write that follows is still expected to fault (the map is read-only): nothing else changed.
    expect(after.totals.failedExpectations).toBe(0);
  });

  it("unaligned map: rounds IOVA down and size up to whole pages", () => {
    const broken = read("healthy-nic").replace("  - stop: web01\n", "  - map: { vm: web01, iova: 0x2000_0800, size: 6KiB, perm: rw, gpa: 0x1000_0800 }\n  - stop: web01\n");
    const d = only(run(broken).diagnostics, "map-unaligned");
    const fixed = apply(broken, d.fixes![0]!);
    expect(fixed).toContain("- map: { vm: web01, iova: 0x2000_0000, size: 8KiB, perm: rw, gpa: 0x1000_0000 }");
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

  // Each example as shipped, without its `expect:` lines (so faults and errors become
  // diagnostics with fixes), and with every map's size made unaligned (so the align fix runs on
  // the examples' own spellings: `0x10_0000`, `16KiB`, comments around the step).
  function variants(name: string): { label: string; text: string }[] {
    const text = read(name);
    const bare = text.replace(/^\s*expect:.*\n/gm, "");
    const out = [{ label: name, text }, { label: `${name} without expect`, text: bare }];
    const unaligned = bare.replace(/(- (?:guest-)?map: \{[^}\n]*\bsize: )(\d+)KiB/g, (_m, head: string, n: string) => `${head}${Number(n) - 1}KiB`);
    if (unaligned !== bare) out.push({ label: `${name} with unaligned maps`, text: unaligned });
    const beyondRam = bare.replace(/(- dma: \{ device: "[^"]+", iova: )[^,]+/, "$10x9000_0000");
    if (beyondRam !== bare) out.push({ label: `${name} with a DMA into the PCI hole`, text: beyondRam });
    return out;
  }

  const fixesOf = (text: string) => run(text).diagnostics.flatMap((d) => (d.fixes ?? []).map((f) => ({ d, f })));
  const valueOf = (s: string) => {
    const p = parseSize(s);
    return p.ok ? p.value : undefined;
  };

  it("every quick fix on every example edits only what it changes: all other lines and tokens stay byte-identical", () => {
    let seen = 0;
    for (const name of EXAMPLES) {
      for (const v of variants(name)) {
        for (const { d, f } of fixesOf(v.text)) {
          seen++;
          const where = `${v.label}: ${d.code}: ${f.title}`;
          for (const e of f.edits) {
            const old = v.text.slice(e.start, e.end);
            if (e.start === e.end) {
              // An insertion is whole lines at a line start: no existing line is split or changed.
              expect(e.start === 0 || v.text[e.start - 1] === "\n", where).toBe(true);
              expect(e.text.endsWith("\n"), where).toBe(true);
              continue;
            }
            // A replacement covers exactly one value token and really changes it.
            expect(old, where).toMatch(/^[^\s,{}:#"]+$/);
            expect(e.text, where).not.toBe(old);
            const a = valueOf(old);
            const b = valueOf(e.text);
            if (a !== undefined && b !== undefined) expect(b, `${where}: ${old} -> ${e.text} rewrites an unchanged value`).not.toBe(a);
          }
          // Every line the edits do not touch is identical after applying the fix.
          const fixed = apply(v.text, f);
          const touched = new Set(f.edits.filter((e) => e.start !== e.end).map((e) => v.text.slice(0, e.start).split("\n").length - 1));
          const inserted = f.edits.filter((e) => e.start === e.end).reduce((n, e) => n + e.text.split("\n").length - 1, 0);
          const before = v.text.split("\n");
          const after = fixed.split("\n");
          expect(after.length, where).toBe(before.length + inserted);
          for (let i = 0; i < before.length; i++) if (!touched.has(i)) expect(after, where).toContain(before[i]);
        }
      }
    }
    expect(seen).toBeGreaterThanOrEqual(10);
  });

  it("the align fix keeps an aligned IOVA's spelling and the size's unit; it edits only the size", () => {
    const text = read("dma-after-unmap").replace("size: 16KiB, perm: rw", "size: 15KiB, perm: rw");
    const d = only(run(text).diagnostics, "map-unaligned");
    const f = d.fixes![0]!;
    expect(f.edits).toHaveLength(1);
    expect(apply(text, f)).toBe(read("dma-after-unmap"));
  });

  it("the add-map fix points into the VM's guest RAM, never the PCI hole or a page another mapping uses", () => {
    let checked = 0;
    for (const name of EXAMPLES) {
      for (const v of variants(name)) {
        for (const { d, f } of fixesOf(v.text).filter((x) => x.d.code === "dma-fault")) {
          const line = f.edits[0]!.text;
          const m = /\b(guest-map|map): \{ vm: ([\w-]+),.*\biova: ([0-9a-fx_]+), size: (\w+),.*?(?:gpa: ([0-9a-fx_]+))? \}/.exec(line);
          expect(m, line).not.toBeNull();
          const [, , vmName, iova, size, gpaText] = m!;
          const gpa = valueOf(gpaText ?? iova!)!;
          const len = valueOf(size!)!;
          const mem = valueOf(new RegExp(`- name: ${vmName}\\n\\s+memory: (\\w+)`).exec(v.text)![1]!)!;
          // An Arm (SMMUv3) host's guests follow QEMU's virt layout (RAM at 1 GiB), x86 ones q35's.
          const slots = /model: smmuv3/.test(v.text) ? virtMemslots(mem, 0n) : q35Memslots(mem, 0n);
          expect(slots.some((s) => gpa >= s.gpa && gpa + len <= s.gpa + s.size), `${v.label}: gpa ${gpaText} in RAM`).toBe(true);
          expect(gpa, v.label).toBeGreaterThanOrEqual(1n << 20n);
          // Applying it makes the fault go away (the step moved down one line).
          const after = run(apply(v.text, f));
          expect(after.diagnostics.filter((x) => x.code === "dma-fault" && x.range.line === d.range.line + 1), v.label).toEqual([]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  });

  it("chooseGpa: GPA = IOVA inside free RAM, else the first unused range above 1 MiB, never outside a memslot", () => {
    const vm = (memory: bigint, dmas: [bigint, bigint][] = []) => {
      const guest = { memslots: q35Memslots(memory, 0x7f0000000000n) };
      return { spec: { name: "g", memory, devices: [], range: { start: 0, end: 0, line: 0, column: 0 } }, guest, container: { dmas: dmas.map(([gpa, size]) => ({ iova: gpa, vaddr: 0x7f0000000000n + gpa, size, prot: 3, lockedPages: 0, chunks: [] })) } } as unknown as Parameters<typeof chooseGpa>[0];
    };
    const G = 1n << 30n;
    expect(chooseGpa(vm(4n * G), 0x1000_0000n, 0x1000n)?.gpa).toBe(0x1000_0000n);
    // In the PCI hole: not RAM.
    expect(chooseGpa(vm(4n * G), 0xc000_0000n, 0x1000n)?.gpa).toBe(0x10_0000n);
    // The first MiB-up range is taken by a guest-map: the next free page after it.
    expect(chooseGpa(vm(4n * G, [[0x10_0000n, 0x4000n]]), 0xc000_0000n, 0x1000n)?.gpa).toBe(0x10_4000n);
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 16n }), fc.bigInt({ min: 0n, max: (1n << 36n) - 1n }), fc.bigInt({ min: 1n, max: 64n }), (gib, iovaPage, pages) => {
        const memory = gib * (G / 4n);
        const size = pages * 0x1000n;
        const r = chooseGpa(vm(memory), iovaPage * 0x1000n, size);
        if (!r) return size > memory;
        return q35Memslots(memory, 0n).some((s) => r.gpa >= s.gpa && r.gpa + size <= s.gpa + s.size);
      }),
    );
  });

  it("numbers keep the user's spelling when a fix rewrites them", () => {
    expect(formatAddressLike(0x20000000n, "0x2000_0800")).toBe("0x2000_0000");
    expect(formatAddressLike(0x20000000n, "0x20000800")).toBe("0x20000000");
    expect(formatAddressLike(0xabc000n, "0xABC800")).toBe("0xABC000");
    expect(formatAddressLike(4096n, "4097")).toBe("4096");
    expect(formatSizeLike(8192n, "6KiB")).toBe("8KiB");
    expect(formatSizeLike(2n << 20n, "1536k")).toBe("2048k");
    expect(formatSizeLike(0x2000n, "0x1800")).toBe("0x2000");
    expect(formatSizeLike(8192n, "6000")).toBe("8192");
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom("0x1_0000", "0x10", "0XAB", "12", "1_000"), (v, like) => valueOf(formatAddressLike(v, like)) === v),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 1n << 40n }), fc.constantFrom("4KiB", "2M", "1g", "0x1000", "4096", "3TiB"), (v, like) => valueOf(formatSizeLike(v, like)) === v),
    );
  });
});

describe("diagnosesFault is runDiagnostics' own rule", () => {
  it("for every step of every example, with and without its expectations: the hover's answer is whether a fault/expectation diagnostic is on that step", async () => {
    const { Session } = await import("../../src/engine/session.js");
    const { diagnosesFault, runDiagnostics } = await import("../../src/engine/fixes.js");
    for (const name of EXAMPLES) {
      // Dropping the `expect:` lines turns expected faults into reported ones.
      for (const text of [read(name), read(name).replace(/^\s*expect:.*$/gm, "")]) {
        const s = new Session(`${name}.passthrough.yaml`);
        s.update(text);
        if (!s.run || !s.scenario) continue;
        const diags = runDiagnostics(s.scenario, s.run, text);
        for (const o of s.run.outcomes) {
          const line = s.scenario.workload[o.step]!.range.line;
          const exp = s.scenario.workload[o.step]!.expect?.range.line;
          const reported = diags.some((d) => (d.code === "dma-fault" || d.code === "expectation-failed") && (d.range.line === line || d.range.line === exp));
          expect(diagnosesFault(o), `${name} step ${o.step + 1}`).toBe(reported);
        }
      }
    }
  });
});
