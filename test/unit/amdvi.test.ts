// AMD-Vi: the unit's v1 walk against a reference walker written here from the AMD IOMMU spec's
// tables (48882 §2.2.2 DTE, §2.2.3 I/O page tables, Table 14 page size encodings), Linux's event
// lines against real lines from public reports, the driver's command and PTE encodings, and the
// scenario surface (model: amd-vi, its options and errors).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { AmdViUnit } from "../../src/sim/amdvi/unit.js";
import { MMIO_CONTROL_OFFSET, MMIO_DEV_TABLE_OFFSET, MMIO_EVT_BUF_OFFSET } from "../../src/sim/amdvi/defs.js";
import { decodeEvent, renderEvent } from "../../src/sim/amdvi/dmesg.js";
import { invIommuPages, pageShiftFor } from "../../src/sim/amdvi/driver.js";
import { invalidationRange } from "../../src/sim/amdvi/unit.js";
import { tableChildren } from "../../src/engine/trees/tables.js";
import { TraceQuery } from "../../src/engine/traceQuery.js";
import { rowResult } from "../../src/trace/rowDisplay.js";
import { importText, synthesizeScenario } from "../../src/import/index.js";

// ------------------------------------------------------------------ the reference walker

const MASK_ADDR = 0x000f_ffff_ffff_f000n;
type Ref = { code: 0; hpa: bigint; perm: number } | { code: number; flags: number };

/** Spec §2.2.3 for one request, with the DTE's data[0] given; `read` reads a qword (undefined: master abort). */
function refWalk(read: (a: bigint) => bigint | undefined, dte0: bigint, iova: bigint, write: boolean): Ref | "untranslated" {
  const rw = write ? 0x20 : 0;
  if ((dte0 & 1n) === 0n || (dte0 & 2n) === 0n) return "untranslated";
  const mode = Number((dte0 >> 9n) & 7n);
  if (mode === 7 || (dte0 & 0x7cn) !== 0n) return { code: 1, flags: rw | 0x80 };
  let perm = Number((dte0 >> 61n) & 3n);
  const need = write ? 2 : 1;
  if (mode === 0) return perm & need ? { code: 0, hpa: iova, perm } : { code: 2, flags: rw | 0x10 | 0x40 };
  // Level n covers IOVA bits [12 + 9(n-1), 12 + 9n); bits above level `mode` must be zero.
  if (mode < 6 && iova >> BigInt(12 + 9 * mode) !== 0n) return { code: 2, flags: rw };
  let table = dte0 & MASK_ADDR;
  let level = mode;
  for (;;) {
    const idx = (iova >> BigInt(12 + 9 * (level - 1))) & 511n;
    const e = read(table + idx * 8n);
    if (e === undefined) return { code: 4, flags: 0 };
    if ((e & 1n) === 0n) return { code: 2, flags: rw };
    perm &= Number((e >> 61n) & 3n);
    const next = Number((e >> 9n) & 7n);
    if (next === 0 || next === 7) {
      let size = 1n << BigInt(12 + 9 * (level - 1));
      if (next === 7) {
        // Table 14: the page size is 2^(n+13) where n is the count of ones from address bit 12 up.
        let n = 0n;
        while (((e >> (12n + n)) & 1n) === 1n) n++;
        size = 1n << (n + 13n);
        if (size > 1n << BigInt(12 + 9 * level)) return { code: 2, flags: rw | 0x10 | 0x80 };
      }
      if ((perm & need) === 0) return { code: 2, flags: rw | 0x10 | 0x40 };
      return { code: 0, hpa: ((e & MASK_ADDR) & ~(size - 1n)) | (iova & (size - 1n)), perm };
    }
    if (next >= level) return { code: 2, flags: rw | 0x10 | 0x80 };
    for (let l = level - 1; l > next; l--) if (((iova >> BigInt(12 + 9 * (l - 1))) & 511n) !== 0n) return { code: 2, flags: rw };
    table = e & MASK_ADDR;
    level = next;
  }
}

// ------------------------------------------------------------------ a bare unit

const SID = 0x0300;

function bare() {
  const mem = new PhysicalMemory({ poolBase: 0x1000_0000, poolMaxPages: 4096, poolInitialPages: 64, dramBytes: 1 << 30, sparseMaxPages: 64 });
  const unit = new AmdViUnit(mem, { iotlbSets: 16, iotlbWays: 2, maxLevels: 6 });
  const devtab = mem.allocPage();
  for (let i = 1; i < 8; i++) mem.allocPage();
  unit.writeReg(MMIO_DEV_TABLE_OFFSET, BigInt(devtab) | 7n);
  const evt = mem.allocPage();
  mem.allocPage();
  unit.writeReg(MMIO_EVT_BUF_OFFSET, BigInt(evt) | (9n << 56n));
  unit.writeReg(MMIO_CONTROL_OFFSET, 0b101n); // IommuEn, EventLogEn
  return { mem, unit, devtab };
}

/** One random path through a v1 table for `iova`: what each level's entry on the path is. */
const arbEntry = fc.record({
  kind: fc.constantFrom("next", "next", "next", "skip", "leaf", "large", "absent", "invalid", "unreadable"),
  ir: fc.boolean(),
  iw: fc.boolean(),
  ones: fc.integer({ min: 0, max: 9 }),
  skipTo: fc.integer({ min: 0, max: 5 }),
});

describe("AMD-Vi v1 walk", () => {
  it("agrees with the reference walker on random tables, IOVAs and permissions (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.boolean(),
        fc.boolean(),
        fc.array(arbEntry, { minLength: 6, maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }),
        (mode, rawIova, write, zeroHigh, path, dir, diw, out) => {
          const { mem, unit, devtab } = bare();
          // Mostly IOVAs inside the mode's range, sometimes not.
          const iova = zeroHigh && mode > 0 && mode < 6 ? rawIova & ((1n << BigInt(12 + 9 * mode)) - 1n) : rawIova;
          const root = mem.allocPage();
          const dte0 = BigInt(root) | (BigInt(mode) << 9n) | 3n | (dir ? 1n << 61n : 0n) | (diw ? 1n << 62n : 0n);
          mem.writeU64(devtab + SID * 32, dte0);
          mem.writeU64(devtab + SID * 32 + 8, 5n);
          let table = BigInt(root);
          for (let level = mode, i = 0; level >= 1 && level <= 6; i++) {
            const p = path[i]!;
            const at = Number(table + ((iova >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n);
            const perm = (p.ir ? 1n << 61n : 0n) | (p.iw ? 1n << 62n : 0n);
            const kind = level === 1 && (p.kind === "next" || p.kind === "skip") ? "leaf" : p.kind;
            if (kind === "absent") break;
            if (kind === "unreadable") {
              mem.writeU64(at, 0x80_0000_0000n | (BigInt(level - 1) << 9n) | 1n | perm);
              break;
            }
            if (kind === "leaf") {
              mem.writeU64(at, ((out << 12n) & MASK_ADDR) | 1n | perm);
              break;
            }
            if (kind === "large") {
              const ones = (1n << BigInt(p.ones)) - 1n;
              mem.writeU64(at, (((out << 12n) | (ones << 12n)) & ~(1n << BigInt(12 + p.ones)) & MASK_ADDR) | (7n << 9n) | 1n | perm);
              break;
            }
            if (kind === "invalid") {
              mem.writeU64(at, BigInt(mem.allocPage()) | (BigInt(Math.min(6, level + (p.skipTo % 2))) << 9n) | 1n | perm);
              break;
            }
            const next = kind === "skip" ? Math.min(level - 1, p.skipTo % level) : level - 1;
            if (next === 0) {
              mem.writeU64(at, ((out << 12n) & MASK_ADDR) | 1n | perm);
              break;
            }
            const t = mem.allocPage();
            mem.writeU64(at, BigInt(t) | (BigInt(next) << 9n) | 1n | perm);
            table = BigInt(t);
            level = next;
          }
          const read = (a: bigint) => mem.readU64(Number(a));
          const ref = refWalk(read, dte0, iova, write);
          const code = unit.translate(SID, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
          if (ref === "untranslated") {
            expect(code).toBe(0);
            return;
          }
          expect(code).toBe(ref.code);
          if (ref.code === 0 && "hpa" in ref) {
            expect((BigInt(unit.hpaHi) << 32n) | BigInt(unit.hpaLo)).toBe(ref.hpa);
            expect(unit.perm).toBe(ref.perm);
            // The IOTLB now answers the same (tagged by the DTE's DomainID 5).
            const again = unit.translate(SID, Number(iova >> 32n), Number(iova & 0xffffffffn), write);
            expect(again).toBe(0);
            expect((BigInt(unit.hpaHi) << 32n) | BigInt(unit.hpaLo)).toBe(ref.hpa);
          } else if ("flags" in ref && ref.code === 2) expect(unit.flags).toBe(ref.flags);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("logs each fault as a 16-byte event with the code, flags, DomainID and address where Linux reads them", () => {
    const { mem, unit, devtab } = bare();
    const root = mem.allocPage();
    mem.writeU64(devtab + SID * 32, BigInt(root) | (3n << 9n) | 3n | (3n << 61n));
    mem.writeU64(devtab + SID * 32 + 8, 0x0dn);
    expect(unit.translate(SID, 0, 0xcff49550, true)).toBe(2);
    const [e] = unit.pendingEvents();
    const d = decodeEvent(e!.words);
    expect(d).toMatchObject({ type: 2, devid: SID, pasid: 0x0d, flags: 0x20, address: 0xcff49550n });
  });
});

// ------------------------------------------------------------------ Linux's lines

describe("AMD-Vi event lines", () => {
  const words = (devid: number, type: number, flags: number, dom: number, addr: bigint): [number, number, number, number] => [devid, ((type << 28) | (flags << 16) | dom) >>> 0, Number(addr & 0xffffffffn), Number(addr >> 32n)];
  const known = (drv: string) => () => ({ driver: drv });

  it("renders a known device's IO_PAGE_FAULT as pci_err does (6.x)", () => {
    // Dasharo/dasharo-issues#1134 (2024, APU2, ath10k): "[   40.182570] ath10k_pci 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000d address=0xcff49550 flags=0x0070]"
    expect(renderEvent(decodeEvent(words(0x0100, 2, 0x70, 0x0d, 0xcff49550n)), "6.8", known("ath10k_pci"))).toEqual(["ath10k_pci 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000d address=0xcff49550 flags=0x0070]"]);
    // pop-os/pop#853 (nvme, domain 0): "nvme 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0xfc189000 flags=0x0000]"
    expect(renderEvent(decodeEvent(words(0x0100, 2, 0, 0, 0xfc189000n)), "5.4", known("nvme"))).toEqual(["nvme 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0xfc189000 flags=0x0000]"]);
  });

  it("renders the two-record form of 4.9-4.14 and the one-line form before", () => {
    // pcengines/apu2-documentation#240 (2021): "AMD-Vi: Event logged [" then
    // "IO_PAGE_FAULT device=05:00.0 domain=0x0012 address=0x00000000ff6101b0 flags=0x0070]"
    expect(renderEvent(decodeEvent(words(0x0500, 2, 0x70, 0x12, 0xff6101b0n)), "4.9", () => undefined)).toEqual(["AMD-Vi: Event logged [", "IO_PAGE_FAULT device=05:00.0 domain=0x0012 address=0x00000000ff6101b0 flags=0x0070]"]);
    // Same report: "INVALID_DEVICE_REQUEST device=00:00.1 address=0x000000fdf8000020 flags=0x0a00]"
    expect(renderEvent(decodeEvent(words(0x0001, 8, 0xa00, 0, 0xfdf8000020n)), "4.14", () => undefined)[1]).toBe("INVALID_DEVICE_REQUEST device=00:00.1 address=0x000000fdf8000020 flags=0x0a00]");
    // DIGImend/digimend-kernel-drivers#136: "AMD-Vi: Event logged [IO_PAGE_FAULT device=20:00.0 domain=0x0003 address=0x000000f4001eef80 flags=0x0010]"
    expect(renderEvent(decodeEvent(words(0x2000, 2, 0x10, 3, 0xf4001eef80n)), "4.4", () => undefined)).toEqual(["AMD-Vi: Event logged [IO_PAGE_FAULT device=20:00.0 domain=0x0003 address=0x000000f4001eef80 flags=0x0010]"]);
  });

  it("renders ILLEGAL_DEV_TABLE_ENTRY with the control register and the DTE dump (iommu_print_event, dump_dte_entry)", () => {
    const lines = renderEvent(decodeEvent(words(0x0300, 1, 0xa0, 0, 0x1000n)), "6.8", () => undefined, { ctrl: 0x1005n, dte: [0x1000_0e03n, 3n, 0n, 0n] });
    expect(lines[0]).toBe("iommu ivhd0: AMD-Vi: Event logged [ILLEGAL_DEV_TABLE_ENTRY device=0000:03:00.0 pasid=0x00000 address=0x1000 flags=0x00a0]");
    expect(lines.slice(1)).toEqual(["iommu ivhd0: AMD-Vi: Control Reg : 0x1005", "AMD-Vi: DTE[0]: 0000000010000e03", "AMD-Vi: DTE[1]: 0000000000000003", "AMD-Vi: DTE[2]: 0000000000000000", "AMD-Vi: DTE[3]: 0000000000000000"]);
  });
});

// ------------------------------------------------------------------ the driver's encodings

describe("amd_iommu driver encodings", () => {
  it("build_inv_address: one page without S; a range as the low ones below the flipped bit, with S; all pages past bit 51", () => {
    expect(invIommuPages(3, 0x1000n, 0x1000n)).toEqual([(3n << 32n) | (3n << 60n), 0x1000n | 2n]);
    // 0x10000..0x1ffff: msb_diff = 15, address | 0x7fff, page bits cleared, S | PDE.
    expect(invIommuPages(3, 0x10000n, 0x10000n)[1]).toBe(0x17000n | 3n);
    expect(invIommuPages(3, 0n, 1n << 64n)[1]).toBe(0x7fff_ffff_ffff_f000n | 3n);
    expect(invalidationRange(0x17000n | 3n)).toEqual([0x10000n, 0x1ffffn]);
    expect(invalidationRange(0x7fff_ffff_ffff_f000n | 1n)).toEqual([0n, (1n << 64n) - 1n]);
  });

  it("iommu_pgsize over AMD_IOMMU_PGSIZES: the largest power of two the alignment allows, never 512 GiB", () => {
    expect(pageShiftFor(0x4000_0000n, 0x2345_0000n, 0x10000n)).toBe(16);
    expect(pageShiftFor(0x1000n, 0x2000n, 0x100000n)).toBe(12);
    expect(pageShiftFor(0n, 0n, 1n << 40n)).toBe(40);
    expect(pageShiftFor(0n, 0n, 1n << 39n)).toBe(38);
  });
});

// ------------------------------------------------------------------ scenarios

const host = (iommu: string, extra = "") => `host:
  memory: 16GiB
  iommu: ${iommu}
  pci:
    - { bdf: "00:01.1", kind: root-port, acs: true, secondary-bus: 3 }
    - { bdf: "03:00.0", parent: "00:01.1", driver: vfio-pci }
vms:
  - { name: vm, memory: 4GiB, devices: ["03:00.0"] }
workload:
  - start: vm
${extra}`;

describe("model: amd-vi scenarios", () => {
  it("rejects an Intel VT-d option at its place, with the AMD-Vi keys as the hint", () => {
    const r = parseScenario(host("{ model: amd-vi, caching-mode: true }"), "x.passthrough.yaml");
    const d = r.diagnostics.find((x) => x.severity === "error")!;
    expect(d.message).toMatch(/"caching-mode" is an Intel VT-d option/);
    expect(d.hint).toMatch(/unity-maps/);
    expect(d.range.line).toBe(2);
  });

  it("a write to a read-only VFIO mapping is an IO_PAGE_FAULT with PR RW PE, printed by pci_err", () => {
    const s = parseScenario(host("{ model: amd-vi }", "  - map: { vm: vm, iova: 0x40_0000_0000, size: 16KiB, perm: r, gpa: 0x10_0000 }\n  - dma: { device: \"03:00.0\", iova: 0x40_0000_2000, length: 8, write: true }\n"), "x").scenario!;
    const { run } = runScenario(s);
    const o = run!.outcomes[2]!;
    expect(o).toMatchObject({ status: "fault", fault: 2, recorded: true });
    expect(o.summary).toContain("0x02 IO_PAGE_FAULT");
    expect(run!.machine.log.dmesg().at(-1)).toMatch(/\] vfio-pci 0000:03:00\.0: AMD-Vi: Event logged \[IO_PAGE_FAULT domain=0x0003 address=0x4000002000 flags=0x0070\]$/);
    // The trail names the AMD structures: the DTE, then the level-3 PDE ... the level-1 PTE.
    const t = run!.machine.iommu.explain({ sid: 0x0300, iova: 0x40_0000_2000n, write: true });
    expect(t.trail.entries.map((e) => e.name)).toEqual(["DTE", "level-3 PDE", "level-2 PDE", "level-1 PTE"]);
    expect(t.trail.stop).toMatchObject({ cause: "permission", reason: 2 });
  });

  it("Linux maps a 16 KiB aligned run as one Next Level 7 page: four equal PTEs with the size in the address", () => {
    const s = parseScenario(host("{ model: amd-vi }", "  - map: { vm: vm, iova: 0x40_0000_0000, size: 16KiB, perm: rw, gpa: 0x10_0000 }\n"), "x").scenario!;
    const { run } = runScenario(s);
    const m = run!.machine;
    const at = m.iommu.locate({ sid: 0x0300, structure: "pte", iova: 0x40_0000_0000n });
    expect(typeof at).toBe("number");
    const ptes = [0, 8, 16, 24].map((o) => m.mem.readU64((at as number) + o)!);
    expect(new Set(ptes).size).toBe(1);
    expect((ptes[0]! >> 9n) & 7n).toBe(7n);
    // 16 KiB: address bit 12 set, bit 13 clear (PAGE_SIZE_PTE).
    expect((ptes[0]! >> 12n) & 3n).toBe(1n);
    const tr = m.iommu.explain({ sid: 0x0300, iova: 0x40_0000_3008n, write: true });
    expect(tr.verdict).toMatchObject({ kind: "translated", perms: 3 });
  });

  it("a DTE poked to Mode 7 is used from the device-table cache until INVALIDATE_DEVTAB_ENTRY, then ILLEGAL_DEV_TABLE_ENTRY", () => {
    const steps = [
      "  - dma: { device: \"03:00.0\", iova: 0x1000, length: 8, write: false }",
      "  - poke: { target: { device: \"03:00.0\", structure: context-lo }, set: 0xe00 }",
      "  - dma: { device: \"03:00.0\", iova: 0x1000, length: 8, write: false }",
      "  - invalidate: { granularity: context-device, device: \"03:00.0\", domain: 3 }",
      "  - dma: { device: \"03:00.0\", iova: 0x1000, length: 8, write: false }",
    ].join("\n");
    const { run } = runScenario(parseScenario(host("{ model: amd-vi }", steps + "\n"), "x").scenario!);
    const o = run!.outcomes;
    expect(o[1]!.status).toBe("ok");
    expect(o[3]!.status).toBe("ok");
    expect(o[5]).toMatchObject({ status: "fault", fault: 1 });
    const log = run!.machine.log.dmesg().join("\n");
    expect(log).toMatch(/iommu ivhd0: AMD-Vi: Event logged \[ILLEGAL_DEV_TABLE_ENTRY device=0000:03:00\.0 pasid=0x00000 address=0x1000 flags=0x0080\]/);
    expect(log).toMatch(/AMD-Vi: DTE\[0\]: [0-9a-f]{13}e03/);
  });

  it("IVMD unity ranges are in the device's default domain with their permissions", () => {
    const text = `host:
  memory: 16GiB
  iommu:
    model: amd-vi
    unity-maps: [{ device: "03:00.0", start: 0xcff4_9000, size: 4KiB, perm: r }]
  pci:
    - { bdf: "00:01.1", kind: root-port, acs: true, secondary-bus: 3 }
    - { bdf: "03:00.0", parent: "00:01.1", driver: ath10k_pci }
workload:
  - translate: { device: "03:00.0", iova: 0xcff4_9550, write: false }
    expect: { ok: true, hpa: 0xcff4_9550 }
  - translate: { device: "03:00.0", iova: 0xcff4_9550, write: true }
    expect: { fault: 0x2 }
`;
    const p = parseScenario(text, "x");
    expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const { run } = runScenario(p.scenario!);
    expect(run!.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], []]);
  });
});

describe("the real-line example", () => {
  it("examples/amd-dasharo-1134 prints the line of Dasharo/dasharo-issues#1134 exactly", () => {
    const f = join(__dirname, "..", "..", "examples", "amd-dasharo-1134.passthrough.yaml");
    const { run } = runScenario(parseScenario(readFileSync(f, "utf8"), f).scenario!);
    const last = run!.machine.log.dmesg().at(-1)!.replace(/^\[[ \d.]+\] /, "");
    expect(last).toBe("ath10k_pci 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000d address=0xcff49550 flags=0x0070]");
  });
});

describe("the views read AMD-Vi through the contract", () => {
  const file = join(__dirname, "..", "..", "examples", "amd-io-page-fault.passthrough.yaml");
  const scenario = parseScenario(readFileSync(file, "utf8"), file).scenario!;
  const run = runScenario(scenario).run!;

  it("Mapping Tables: the device table, the DTE by requester id, its domain and the v1 levels, the event log", () => {
    const ctx = { machine: run.machine, run, scenario, cursor: run.outcomes.length, radix: "hex" as const };
    const top = tableChildren("t", ctx)!;
    expect(top.map((n) => n.label)).toEqual(["Registers", "Device table", "IOTLB", "Device table cache", "Event log", "Interrupt remapping table", "GA log"]);
    const dtes = tableChildren("t/root", ctx)!;
    const dte = dtes.find((n) => n.label.startsWith("03:00.0"))!;
    expect(dte.description).toMatch(/^DID 3 · 3-level · Page Table Root Pointer 0x/);
    const [domain] = tableChildren(dte.id, ctx)!;
    expect(domain!.label).toBe("domain 3");
    expect(tableChildren(domain!.id, ctx)!.some((n) => /level-2 table/.test(n.description ?? ""))).toBe(true);
    const regs = tableChildren("t/regs", ctx)!.map((n) => n.label);
    expect(regs).toEqual(expect.arrayContaining(["Device Table Base", "Command Buffer Tail", "Event Log Head", "Control", "Status"]));
  });

  it("DMA Trace: a fault row names the AMD-Vi event, not a VT-d reason", () => {
    const q = new TraceQuery(run, scenario, (sid) => sid.toString(16));
    const names = q.reasonNames();
    expect(names).toEqual({ 2: "IO_PAGE_FAULT" });
    const t = run.trace;
    let i = 0;
    while (t.reason[i] === 0) i++;
    expect(rowResult({ kind: t.kind[i]!, flags: t.flags[i]!, reason: t.reason[i]!, level: t.level[i]! }, names).text).toBe("fault 0x02 IO_PAGE_FAULT");
  });
});

describe("synthesize from AMD-Vi evidence", () => {
  it("an AMD-Vi log gives an amd-vi scenario whose steps reproduce its IO_PAGE_FAULTs (event code 2)", () => {
    // pcengines/apu2-documentation#240 (two-record form) and Dasharo/dasharo-issues#1134 (pci_err form).
    const log = [
      "[  221.562629] AMD-Vi: Event logged [",
      "[  221.565929] IO_PAGE_FAULT device=05:00.0 domain=0x0012 address=0x00000000ff6101b0 flags=0x0070]",
      "[   40.182570] ath10k_pci 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000d address=0xcff49550 flags=0x0070]",
    ].join("\n");
    const records = importText(log, "log").records;
    const s = synthesizeScenario(records);
    expect(s.text).toMatch(/model: amd-vi/);
    const p = parseScenario(s.text, "synth.passthrough.yaml");
    expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const { run } = runScenario(p.scenario!);
    const faults = run!.outcomes.filter((o) => o.status === "fault");
    expect(faults.map((o) => o.fault)).toEqual([2, 2]);
    expect(run!.outcomes.every((o) => !o.expect || o.expect.pass)).toBe(true);
  });
});
