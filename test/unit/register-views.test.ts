// The Mapping Tables view's registers: every decoded field of every register view, checked
// against the raw value with the expected values computed here from the VT-d spec's bit layout
// (Intel VT-d Architecture Specification, chapter 11.4; ../shared/reference/iommu-reference.md
// sections 1.1 - 1.6). The view must print what the model decodes, once: no field adjusted twice.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import { treeChildren, type TreeContext } from "../../src/engine/trees.js";
import type { TreeNode } from "../../src/protocol/engine.js";

const text = readFileSync(join(__dirname, "..", "..", "examples", "dma-after-unmap.passthrough.yaml"), "utf8");

function context(): TreeContext {
  const s = new Session("regs.passthrough.yaml");
  s.update(text);
  s.setCursor(s.outcomes.length);
  return { machine: s.machineAtCursor()!, run: s.run!, scenario: s.scenario!, cursor: s.cursor.step, radix: "hex" };
}

const OFFSET = { VER: 0x000, CAP: 0x008, ECAP: 0x010, GSTS: 0x01c, RTADDR: 0x020, FSTS: 0x034, FECTL: 0x038, IQH: 0x080, IQT: 0x088, IQA: 0x090 } as const;
type Reg = keyof typeof OFFSET;
const WIDTH: Record<Reg, 32 | 64> = { VER: 32, CAP: 64, ECAP: 64, GSTS: 32, RTADDR: 64, FSTS: 32, FECTL: 32, IQH: 64, IQT: 64, IQA: 64 };

function poke(ctx: TreeContext, off: number, v: bigint, width: 32 | 64): void {
  const r = ctx.machine.unit.regs;
  r[off >> 2] = Number(v & 0xffffffffn);
  if (width === 64) r[(off >> 2) + 1] = Number((v >> 32n) & 0xffffffffn);
}

const bits = (v: bigint, hi: number, lo: number) => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const s = (n: bigint | number, one: string) => `${n} ${BigInt(n) === 1n ? one : `${one}s`}`;

interface Expected {
  name: string;
  hi: number;
  lo: number;
  /** The field's meaning per the spec, from its raw bits. */
  value: (raw: bigint, reg: bigint) => string;
}
const flag = (name: string, bit: number): Expected => ({ name, hi: bit, lo: bit, value: (r) => r.toString() });
const plain = (name: string, hi: number, lo: number): Expected => ({ name, hi, lo, value: (r) => r.toString() });

const SPEC: Record<Reg, Expected[]> = {
  // 11.4.1 Version Register: MIN [3:0], MAX [7:4].
  VER: [plain("MIN", 3, 0), plain("MAX", 7, 4)],
  // 11.4.2 Capability Register.
  CAP: [
    // ND [2:0]: 2^(4 + 2*ND) domain ids.
    { name: "ND", hi: 2, lo: 0, value: (r) => `${r} (${s(1n << (4n + 2n * r), "domain")})` },
    flag("AFL", 3), flag("RWBF", 4), flag("PLMR", 5), flag("PHMR", 6), flag("CM", 7),
    // SAGAW [12:8]: bit 1 = 39-bit (3-level), bit 2 = 48-bit (4-level), bit 3 = 57-bit (5-level).
    { name: "SAGAW", hi: 12, lo: 8, value: (r) => {
      const n = [[1n, "39-bit 3-level"], [2n, "48-bit 4-level"], [3n, "57-bit 5-level"]].filter(([b]) => (r >> (b as bigint)) & 1n).map(([, x]) => x);
      return `0b${r.toString(2).padStart(5, "0")}${n.length ? ` (${n.join(", ")})` : ""}`;
    } },
    // MGAW [21:16]: maximum guest address width - 1.
    { name: "MGAW", hi: 21, lo: 16, value: (r) => `${r + 1n}-bit` },
    flag("ZLR", 22),
    // FRO [33:24]: offset of the first fault recording register in 16-byte units.
    { name: "FRO", hi: 33, lo: 24, value: (r) => hex(r * 16n) },
    // SLLPS [37:34]: bit 0 = 2 MiB, bit 1 = 1 GiB, bit 2 = 512 GiB, bit 3 = 256 TiB.
    { name: "SLLPS", hi: 37, lo: 34, value: (r) => {
      const n = ["2 MiB", "1 GiB", "512 GiB", "256 TiB"].filter((_, b) => (r >> BigInt(b)) & 1n);
      return `0b${r.toString(2).padStart(4, "0")}${n.length ? ` (${n.join(", ")})` : " (4 KiB pages only)"}`;
    } },
    flag("PSI", 39),
    // NFR [47:40]: number of fault recording registers - 1.
    { name: "NFR", hi: 47, lo: 40, value: (r) => s(r + 1n, "record") },
    plain("MAMV", 53, 48),
    flag("DWD", 54), flag("DRD", 55),
    // PI [59]: posted interrupts (posted-format IRTEs, VT-d 9.11).
    flag("PI", 59),
  ],
  // 11.4.3 Extended Capability Register.
  ECAP: [
    flag("C", 0), flag("QI", 1), flag("DT", 2), flag("IR", 3), flag("EIM", 4), flag("PT", 6), flag("SC", 7),
    // IRO [17:8]: IOTLB registers' offset in 16-byte units.
    { name: "IRO", hi: 17, lo: 8, value: (r) => hex(r * 16n) },
    plain("MHMV", 23, 20),
  ],
  // 11.4.5 Global Status Register.
  GSTS: [flag("CFIS", 23), flag("IRTPS", 24), flag("IRES", 25), flag("QIES", 26), flag("WBFS", 27), flag("AFLS", 28), flag("FLS", 29), flag("RTPS", 30), flag("TES", 31)],
  // 11.4.6 Root Table Address Register: TTM [11:10] (00b legacy, 01b scalable, 10b reserved, 11b abort-DMA; VirtualBox VTD_TTM_*), RTA [63:12] (4-KiB aligned).
  RTADDR: [
    { name: "TTM", hi: 11, lo: 10, value: (r) => `${r} (${["legacy mode", "scalable mode", "reserved", "abort-DMA mode"][Number(r)]})` },
    { name: "RTA", hi: 63, lo: 12, value: (r) => hex(r << 12n) },
  ],
  // 11.4.9.1 Fault Status Register.
  FSTS: [flag("PFO", 0), flag("PPF", 1), flag("IQE", 4), flag("ICE", 5), flag("ITE", 6), plain("FRI", 15, 8)],
  // 11.4.9.2 Fault Event Control Register.
  FECTL: [flag("IP", 30), flag("IM", 31)],
  // 11.4.11.1 / 11.4.11.2 Invalidation Queue Head / Tail: QH/QT [18:4] for 128-bit descriptors.
  IQH: [plain("QH", 18, 4)],
  IQT: [plain("QT", 18, 4)],
  // 11.4.11.3 Invalidation Queue Address Register: QS [2:0] (2^QS 4-KiB pages), DW [11], IQA [63:12].
  IQA: [
    { name: "QS", hi: 2, lo: 0, value: (r, reg) => `${r} (${s((1n << r) * (bits(reg, 11, 11) ? 128n : 256n), "descriptor")})` },
    { name: "DW", hi: 11, lo: 11, value: (r) => `${r} (${r ? "256" : "128"}-bit descriptors)` },
    { name: "IQA", hi: 63, lo: 12, value: (r) => hex(r << 12n) },
  ],
};

/** 11.4.9.6 Fault Recording Register, 128 bits. */
const FRCD: Expected[] = [
  { name: "FI", hi: 63, lo: 12, value: (r) => hex(r << 12n) },
  { name: "SID", hi: 79, lo: 64, value: (r) => `${hex(r)} (${bits(r, 15, 8).toString(16).padStart(2, "0")}:${bits(r, 7, 3).toString(16).padStart(2, "0")}.${bits(r, 2, 0)})` },
  plain("PRIV", 93, 93),
  plain("EXE", 94, 94),
  plain("PP", 95, 95),
  { name: "FR", hi: 103, lo: 96, value: (r) => `0x${r.toString(16).padStart(2, "0")}` },
  { name: "PV", hi: 123, lo: 104, value: (r) => hex(r) },
  { name: "AT", hi: 125, lo: 124, value: (r) => `${r} (${["untranslated", "translation request", "translated", "reserved"][Number(r)]})` },
  { name: "T", hi: 126, lo: 126, value: (r) => `${r} (${r ? "read" : "write"})` },
  plain("F", 127, 127),
];

function expectFields(nodes: TreeNode[] | null, expected: Expected[], raw: bigint, where: string): void {
  expect(nodes, where).not.toBeNull();
  expect(nodes!.map((n) => n.label), where).toEqual(expected.map((e) => e.name));
  expected.forEach((e, i) => {
    const r = bits(raw, e.hi, e.lo);
    const value = e.value(r, raw);
    const range = e.hi === e.lo ? `[${e.lo}]` : `[${e.hi}:${e.lo}]`;
    const description = e.hi === e.lo || value === r.toString() ? value : `${value} · ${range} = ${hex(r)}`;
    expect(nodes![i]!.description, `${where} ${e.name}`).toBe(description);
    expect(nodes![i]!.tooltip, `${where} ${e.name}`).toBe(`${e.name}, bits ${range}: raw ${hex(r)} → ${value}`);
  });
}

describe("Mapping Tables → Registers", () => {
  it("CAP 0x00d2078c222f0606 prints MGAW 48-bit, 8 fault records at 0x220 (each field decoded once)", () => {
    const ctx = context();
    poke(ctx, OFFSET.CAP, 0x00d2078c222f0606n, 64);
    const regs = treeChildren("tables", "t/regs", ctx)!;
    expect(regs.find((n) => n.label === "CAP")!.description).toBe("0x00d2078c222f0606");
    const f = Object.fromEntries(treeChildren("tables", "t/regs/CAP", ctx)!.map((n) => [n.label, n.description]));
    expect(f).toMatchObject({
      ND: "6 (65536 domains) · [2:0] = 0x6",
      SAGAW: "0b00110 (39-bit 3-level, 48-bit 4-level) · [12:8] = 0x6",
      MGAW: "48-bit · [21:16] = 0x2f",
      FRO: "0x220 · [33:24] = 0x22",
      SLLPS: "0b0011 (2 MiB, 1 GiB) · [37:34] = 0x3",
      NFR: "8 records · [47:40] = 0x7",
      MAMV: "18",
      PSI: "1",
      CM: "0",
    });
    expectFields(treeChildren("tables", "t/regs/CAP", ctx), SPEC.CAP, 0x00d2078c222f0606n, "CAP");
  });

  it("the model's own registers decode as the spec says (booted unit, after a fault)", () => {
    const ctx = context();
    const u = ctx.machine.unit;
    for (const name of Object.keys(OFFSET) as Reg[]) {
      const raw = WIDTH[name] === 64 ? u.readReg64(OFFSET[name]) : BigInt(u.readReg32(OFFSET[name]));
      expectFields(treeChildren("tables", `t/regs/${name}`, ctx), SPEC[name], raw, name);
    }
    // The example's last step faults: Linux's dmar_fault() read the record and cleared F; the
    // register keeps the record, decoded from its 128 bits.
    const frcd = treeChildren("tables", "t/frcd", ctx)!;
    expect(frcd.map((n) => [n.label, n.description])).toEqual([["FRCD0: 04:00.0 write 0x102000", "0x05 PTE Write access is not set · serviced (F = 0)"]]);
    const raw = (u.readReg64(0x220 + 8) << 64n) | u.readReg64(0x220);
    expectFields(treeChildren("tables", "t/frcd/0", ctx), FRCD, raw, "FRCD0");
    expect(treeChildren("tables", "t/regs/CAP", ctx)!.find((n) => n.label === "MGAW")!.description).toMatch(/^48-bit /);
  });

  it("every field of every register view matches the spec's bit layout for random raw values", () => {
    const ctx = context();
    const regs = Object.keys(OFFSET) as Reg[];
    fc.assert(
      fc.property(fc.constantFrom(...regs), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (name, v) => {
        const raw = WIDTH[name] === 32 ? v & 0xffffffffn : v;
        // IQH/IQT read IQA.DW: keep it 0 for them (128-bit descriptors).
        poke(ctx, OFFSET.IQA, 0n, 64);
        poke(ctx, OFFSET[name], raw, WIDTH[name]);
        expectFields(treeChildren("tables", `t/regs/${name}`, ctx), SPEC[name], raw, name);
        const top = treeChildren("tables", "t/regs", ctx)!.find((n) => n.label === name)!;
        expect(top.description).toBe(`0x${raw.toString(16).padStart(WIDTH[name] / 4, "0")}`);
      }),
      { numRuns: 300 },
    );
  });

  it("IQH/IQT take their index from bits 18:5 when IQA.DW selects 256-bit descriptors", () => {
    const ctx = context();
    poke(ctx, OFFSET.IQA, 1n << 11n, 64);
    poke(ctx, OFFSET.IQT, 0x60n, 64);
    expect(treeChildren("tables", "t/regs/IQT", ctx)![0]!.description).toBe("3");
    expect(treeChildren("tables", "t/regs/IQA", ctx)!.map((n) => n.description)).toEqual(["0 (128 descriptors) · [2:0] = 0x0", "1 (256-bit descriptors)", "0x0 · [63:12] = 0x0"]);
  });

  it("every fault recording register's fields match the spec for random raw values", () => {
    const ctx = context();
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (lo, hi0) => {
        const hi = hi0 | (1n << 63n); // F = 1: a record the view lists
        poke(ctx, 0x220, lo, 64);
        poke(ctx, 0x228, hi, 64);
        expectFields(treeChildren("tables", "t/frcd/0", ctx), FRCD, (hi << 64n) | lo, "FRCD0");
      }),
      { numRuns: 200 },
    );
  });
});
