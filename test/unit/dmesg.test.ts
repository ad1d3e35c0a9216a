import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Ratelimit, formatTimestamp } from "../../src/sim/printk.js";
import {
  DMA_FSTS_ICE,
  DMA_FSTS_IQE,
  DMA_FSTS_ITE,
  type DmarFaultRecord,
  type KernelEra,
  KERNEL_ERAS,
  dmarFaultInterrupt,
  dmarRatelimitModel,
  kernelEra,
  renderDmarFault,
  renderDrhdLine,
  renderQiError,
} from "../../src/sim/vtd/dmesg.js";
import { parseKernelVersion } from "../../src/sim/kernelVersion.js";
import { faultReasonInfo } from "../../src/sim/vtd/reasons.js";

const sid = (bus: number, dev: number, fn: number): number => (bus << 8) | (dev << 3) | fn;

describe("kernelEra", () => {
  it.each([
    ["6.8", "5.15"],
    ["6.12.0-55.el10.x86_64", "5.15"],
    ["v5.15-rc3", "5.15"],
    ["5.15", "5.15"],
    ["5.14.21-150400.24-default", "5.14"],
    ["5.13", "5.4"],
    ["5.10", "5.4"],
    ["5.5", "5.4"],
    ["5.4.0-150-generic", "5.4"],
    ["5.4", "5.4"],
    ["5.3.18", "4.7"],
    ["4.19", "4.7"],
    ["4.7", "4.7"],
    ["4.6", "4.1"],
    ["4.4", "4.1"],
    ["4.2", "4.1"],
    ["4.1.3", "3.x"],
    ["4.0", "3.x"],
    ["3.10.0-1160.el7.x86_64", "3.x"],
    ["2.6.32", "3.x"],
    ["7", "5.15"],
    ["linux-4.9.337", "4.7"],
  ])("%s → %s", (v, era) => {
    expect(kernelEra(v)).toBe(era);
  });

  it("rejects strings without a version", () => {
    expect(() => kernelEra("latest")).toThrow(RangeError);
    expect(parseKernelVersion("latest")).toBeUndefined();
  });
});

describe("renderDmarFault: the real pasted lines", () => {
  it("≤4.6 with the 3.x prefix: two lines, trailing space, decimal reason", () => {
    const lines = renderDmarFault({ write: false, reason: 0x02, sourceId: sid(2, 0, 0), address: 0xa0c58000n }, "3.x");
    expect(lines).toEqual(["dmar: DMAR:[DMA Read] Request device [02:00.0] fault addr a0c58000 ", "DMAR:[fault reason 02] Present bit in context entry is clear"]);
    expect(renderDrhdLine(2, "3.x")).toBe("dmar: DRHD: handling fault status reg 2");
  });

  it("≤4.6 with the 4.x prefix (2016)", () => {
    expect(renderDrhdLine(2, "4.1")).toBe("DMAR: DRHD: handling fault status reg 2");
    expect(renderDmarFault({ write: false, reason: 0x01, sourceId: sid(4, 0, 0), address: 0xca6d5000n }, "4.1")).toEqual([
      "DMAR: DMAR:[DMA Read] Request device [04:00.0] fault addr ca6d5000 ",
      "DMAR:[fault reason 01] Present bit in root entry is clear",
    ]);
  });

  it("4.7 – 5.4", () => {
    expect(renderDmarFault({ write: false, reason: 6, sourceId: sid(3, 0, 0), address: 0xfffc0000n }, "4.7")).toEqual([
      "DMAR: [DMA Read] Request device [03:00.0] fault addr fffc0000 [fault reason 06] PTE Read access is not set",
    ]);
    // OpenNetworkLinux PR #897 (real): "fault addr 0" — %llx, no padding.
    expect(renderDmarFault({ write: true, reason: 5, sourceId: sid(0, 0x12, 0), address: 0n }, "4.7")).toEqual([
      "DMAR: [DMA Write] Request device [00:12.0] fault addr 0 [fault reason 05] PTE Write access is not set",
    ]);
  });

  it("5.4 – 5.13: PASID ffffffff for requests without PASID", () => {
    expect(renderDmarFault({ write: true, reason: 5, sourceId: sid(0, 2, 0), address: 0xb97ff000n }, "5.4")).toEqual([
      "DMAR: [DMA Write] Request device [00:02.0] PASID ffffffff fault addr b97ff000 [fault reason 05] PTE Write access is not set",
    ]);
    expect(renderDmarFault({ write: true, reason: 0x59, sourceId: sid(0, 2, 0), address: 0x1000n, pasid: 0x2a }, "5.4")).toEqual([
      "DMAR: [DMA Write] Request device [00:02.0] PASID 2a fault addr 1000 [fault reason 89] SM: Present bit in PASID Table Entry is clear",
    ]);
  });

  it("5.14: 0x before bus and device", () => {
    expect(renderDmarFault({ write: false, reason: 6, sourceId: sid(0, 2, 0), address: 0n }, "5.14")).toEqual([
      "DMAR: [DMA Read NO_PASID] Request device [0x00:0x02.0] fault addr 0x0 [fault reason 0x06] PTE Read access is not set",
    ]);
    expect(renderDmarFault({ write: false, reason: 0x22, sourceId: sid(0, 0, 5), address: 0x1cn << 48n }, "5.14")).toEqual([
      "DMAR: [INTR-REMAP] Request device [0x00:0x00.5] fault index 0x1c [fault reason 0x22] Present field in the IRTE entry is clear",
    ]);
  });

  it("5.15+ (real, LKML 2022)", () => {
    expect(renderDrhdLine(3, "5.15")).toBe("DMAR: DRHD: handling fault status reg 3");
    expect(renderDmarFault({ write: false, reason: 6, sourceId: sid(0, 0x16, 7), address: 0xdceff000n }, "5.15")).toEqual([
      "DMAR: [DMA Read NO_PASID] Request device [00:16.7] fault addr 0xdceff000 [fault reason 0x06] PTE Read access is not set",
    ]);
    expect(renderDmarFault({ write: true, reason: 2, sourceId: sid(3, 0, 1), address: 0xfffc0000n }, "5.15")).toEqual([
      "DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0xfffc0000 [fault reason 0x02] Present bit in context entry is clear",
    ]);
    // Dasharo issue #641 (real, 2023).
    expect(renderDmarFault({ write: false, reason: 1, sourceId: sid(0, 2, 0), address: 0x7cd87000n }, "5.15")).toEqual([
      "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7cd87000 [fault reason 0x01] Present bit in root entry is clear",
    ]);
  });

  it("5.15+ with PASID and IR", () => {
    expect(renderDmarFault({ write: true, reason: 0x85, sourceId: sid(0x6a, 1, 0), address: 0x7f0000001000n, pasid: 3 }, "5.15")).toEqual([
      "DMAR: [DMA Write PASID 0x3] Request device [6a:01.0] fault addr 0x7f0000001000 [fault reason 0x85] SM: No write permission for Write/AtomicOp request",
    ]);
    expect(renderDmarFault({ write: true, reason: 0x26, sourceId: sid(0, 0x1f, 0), address: 0x1dn << 48n }, "5.15")).toEqual([
      "DMAR: [INTR-REMAP] Request device [00:1f.0] fault index 0x1d [fault reason 0x26] Blocked an interrupt request due to source-id verification failure",
    ]);
  });
});

describe("renderDmarFault: every era", () => {
  const ir: DmarFaultRecord = { write: true, reason: 0x26, sourceId: sid(0, 0x1f, 0), address: 0x1dn << 48n };
  const irLines: Record<KernelEra, string[]> = {
    "3.x": ["dmar: INTR-REMAP: Request device [[00:1f.0] fault index 1d", "INTR-REMAP:[fault reason 38] Blocked an interrupt request due to source-id verification failure"],
    "4.1": ["DMAR: INTR-REMAP: Request device [[00:1f.0] fault index 1d", "INTR-REMAP:[fault reason 38] Blocked an interrupt request due to source-id verification failure"],
    "4.7": ["DMAR: [INTR-REMAP] Request device [00:1f.0] fault index 1d [fault reason 38] Blocked an interrupt request due to source-id verification failure"],
    "5.4": ["DMAR: [INTR-REMAP] Request device [00:1f.0] fault index 1d [fault reason 38] Blocked an interrupt request due to source-id verification failure"],
    "5.14": ["DMAR: [INTR-REMAP] Request device [0x00:0x1f.0] fault index 0x1d [fault reason 0x26] Blocked an interrupt request due to source-id verification failure"],
    "5.15": ["DMAR: [INTR-REMAP] Request device [00:1f.0] fault index 0x1d [fault reason 0x26] Blocked an interrupt request due to source-id verification failure"],
  };
  it.each(KERNEL_ERAS)("IR fault in era %s", (era) => {
    expect(renderDmarFault(ir, era)).toEqual(irLines[era]);
  });

  const unknown: DmarFaultRecord = { write: false, reason: 0x0e, sourceId: sid(1, 0, 0), address: 0xfee00000n };
  const unknownLines: Record<KernelEra, string[]> = {
    "3.x": ["dmar: DMAR:[DMA Read] Request device [01:00.0] fault addr fee00000 ", "DMAR:[fault reason 14] Unknown"],
    "4.1": ["DMAR: DMAR:[DMA Read] Request device [01:00.0] fault addr fee00000 ", "DMAR:[fault reason 14] Unknown"],
    "4.7": ["DMAR: [DMA Read] Request device [01:00.0] fault addr fee00000 [fault reason 14] Unknown"],
    "5.4": ["DMAR: [DMA Read] Request device [01:00.0] PASID ffffffff fault addr fee00000 [fault reason 14] Unknown"],
    "5.14": ["DMAR: [DMA Read NO_PASID] Request device [0x01:0x00.0] fault addr 0xfee00000 [fault reason 0x0e] Unknown"],
    "5.15": ["DMAR: [DMA Read NO_PASID] Request device [01:00.0] fault addr 0xfee00000 [fault reason 0x0e] Unknown"],
  };
  it.each(KERNEL_ERAS)("Unknown reason (QEMU's 0x0E) uses the DMA form in era %s", (era) => {
    expect(renderDmarFault(unknown, era)).toEqual(unknownLines[era]);
  });

  it("SM reasons are Unknown before 5.4 and decimal %02d grows to three digits", () => {
    const r: DmarFaultRecord = { write: false, reason: 0x90, sourceId: sid(0, 3, 0), address: 0x2000n, pasid: 1 };
    expect(renderDmarFault(r, "4.7")).toEqual(["DMAR: [DMA Read] Request device [00:03.0] fault addr 2000 [fault reason 144] Unknown"]);
    expect(renderDmarFault(r, "5.4")).toEqual([
      "DMAR: [DMA Read] Request device [00:03.0] PASID 1 fault addr 2000 [fault reason 144] SM: A/D bit update needed in first-level entry when set up in no snoop",
    ]);
    // Older kernels ignore FRCD.PP entirely.
    expect(renderDmarFault(r, "4.1")[0]).not.toContain("PASID");
  });

  it("keeps only the page address (dma_frcd_page_addr) and 64 bits", () => {
    expect(renderDmarFault({ write: true, reason: 5, sourceId: 0x100, address: 0x12345fffn }, "5.15")[0]).toContain("fault addr 0x12345000 ");
    expect(renderDmarFault({ write: true, reason: 5, sourceId: 0x100, address: (1n << 64n) - 1n }, "5.15")[0]).toContain("fault addr 0xfffffffffffff000 ");
  });

  it("DRHD line prints FSTS in unpadded hex", () => {
    expect(renderDrhdLine(0x402, "5.15")).toBe("DMAR: DRHD: handling fault status reg 402");
  });
});

describe("formatTimestamp", () => {
  it.each([
    [0n, "[    0.000000] "],
    [1_234_567_000n, "[    1.234567] "],
    [1_234_567_999n, "[    1.234567] "], // truncated, not rounded
    [2_501_000_000n, "[    2.501000] "],
    [10_672_868_940_000n, "[10672.868940] "],
    [99_999_999_999_999n, "[99999.999999] "],
    [100_000_000_001_000n, "[100000.000001] "],
    [18_446_744_073_709_551_615n, "[18446744073.709551] "],
  ])("%s ns → %j", (ns, s) => {
    expect(formatTimestamp(ns)).toBe(s);
  });
});

describe("Ratelimit (___ratelimit)", () => {
  const S = 1_000_000_000n;

  it("allows a burst of 10 in 5 s, then suppresses; the next interval reports the count first", () => {
    const rl = new Ratelimit();
    const t0 = 100n * S;
    const res = Array.from({ length: 54 }, (_, i) => rl.check(t0 + BigInt(i) * 1000n, "dmar_fault"));
    expect(res.filter((r) => r.allowed).length).toBe(10);
    expect(res.slice(0, 10).every((r) => r.allowed && r.suppressedLine === undefined)).toBe(true);
    expect(res.slice(10).every((r) => !r.allowed && r.suppressedLine === undefined)).toBe(true);
    expect(rl.missedCount).toBe(44);
    // Exactly begin + 5 s is still the same interval (time_is_before_jiffies is strict).
    expect(rl.check(t0 + 5n * S, "dmar_fault")).toEqual({ allowed: false });
    const next = rl.check(t0 + 5n * S + 1n, "dmar_fault");
    expect(next).toEqual({ allowed: true, suppressedLine: "dmar_fault: 45 callbacks suppressed" });
    expect(rl.missedCount).toBe(0);
  });

  it("the interval restarts at the first call after expiry, not on a fixed grid", () => {
    const rl = new Ratelimit(5n * S, 2);
    expect(rl.check(0n, "f").allowed).toBe(true); // begin = 0
    expect(rl.check(1n, "f").allowed).toBe(true);
    expect(rl.check(2n, "f").allowed).toBe(false);
    expect(rl.check(7n * S, "f")).toEqual({ allowed: true, suppressedLine: "f: 1 callbacks suppressed" }); // begin = 7 s
    expect(rl.check(7n * S + 1n, "f").allowed).toBe(true);
    expect(rl.check(11n * S, "f").allowed).toBe(false); // still inside [7 s, 12 s]
    expect(rl.check(12n * S + 1n, "f").suppressedLine).toBe("f: 1 callbacks suppressed");
  });

  it("44 callbacks suppressed, as in the LKML log", () => {
    const rl = new Ratelimit();
    for (let i = 0; i < 54; i++) rl.check(BigInt(i), "dmar_fault");
    expect(rl.check(6n * S, "dmar_fault").suppressedLine).toBe("dmar_fault: 44 callbacks suppressed");
  });

  it("no line when nothing was missed; interval 0 disables limiting", () => {
    const rl = new Ratelimit();
    rl.check(0n, "x");
    expect(rl.check(10n * S, "x")).toEqual({ allowed: true });
    const off = new Ratelimit(0n, 1);
    for (let i = 0; i < 100; i++) expect(off.check(0n, "x").allowed).toBe(true);
  });

  it("snapshot/restore round-trips and is JSON-safe", () => {
    const rl = new Ratelimit();
    for (let i = 0; i < 13; i++) rl.check(BigInt(i), "x");
    const snap = JSON.parse(JSON.stringify(rl.snapshot())) as ReturnType<Ratelimit["snapshot"]>;
    const a = new Ratelimit();
    a.restore(snap);
    expect(a.check(6n * S, "x").suppressedLine).toBe("x: 3 callbacks suppressed");
    expect(rl.check(6n * S, "x").suppressedLine).toBe("x: 3 callbacks suppressed");
  });
});

describe("dmarFaultInterrupt (dmar_fault with its ratelimit)", () => {
  const S = 1_000_000_000n;
  const rec: DmarFaultRecord = { write: true, reason: 5, sourceId: sid(0, 0x12, 0), address: 0n };
  const DRHD = "DMAR: DRHD: handling fault status reg 2";
  const LINE = "DMAR: [DMA Write] Request device [00:12.0] fault addr 0 [fault reason 05] PTE Write access is not set";

  it("v4.19+: the loop's final F=0 check also consumes a token (OpenNetworkLinux log pattern)", () => {
    expect(dmarRatelimitModel("4.19")).toBe("per-record");
    const rl = new Ratelimit();
    const out: string[] = [];
    for (let i = 0; i < 100; i++) out.push(...dmarFaultInterrupt(rl, 10_672n * S + BigInt(i) * 1000n, 2, [rec], "4.19"));
    // DRHD, rec, (F=0) ×3 = 9 tokens, then the 10th is the 4th DRHD line.
    expect(out).toEqual([DRHD, LINE, DRHD, LINE, DRHD, LINE, DRHD]);
    const later = dmarFaultInterrupt(rl, 10_677n * S + 928_602_000n, 2, [rec], "4.19");
    expect(later).toEqual(["dmar_fault: 290 callbacks suppressed", DRHD, LINE]);
  });

  it("no records are read without FSTS.PPF; FSTS = 0 prints nothing", () => {
    const rl = new Ratelimit();
    expect(dmarFaultInterrupt(rl, 0n, 1, [rec], "6.8")).toEqual(["DMAR: DRHD: handling fault status reg 1"]);
    expect(dmarFaultInterrupt(rl, 0n, 0, [rec], "6.8")).toEqual([]);
  });

  it("several records in one interrupt (5.15 form)", () => {
    const rl = new Ratelimit();
    const a = { write: false, reason: 6, sourceId: sid(0, 0x16, 7), address: 0xdceff000n };
    const b = { write: true, reason: 2, sourceId: sid(3, 0, 1), address: 0xfffc0000n };
    expect(dmarFaultInterrupt(rl, 0n, 3, [a, b], "6.8")).toEqual([
      "DMAR: DRHD: handling fault status reg 3",
      "DMAR: [DMA Read NO_PASID] Request device [00:16.7] fault addr 0xdceff000 [fault reason 0x06] PTE Read access is not set",
      "DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0xfffc0000 [fault reason 0x02] Present bit in context entry is clear",
    ]);
  });

  it("≤4.6 prints everything; 4.7–4.18 limits whole interrupts", () => {
    expect(dmarRatelimitModel("4.4")).toBe("none");
    const rl = new Ratelimit();
    let n = 0;
    for (let i = 0; i < 30; i++) n += dmarFaultInterrupt(rl, 0n, 2, [rec], "4.4").length;
    expect(n).toBe(30 * 3);
    expect(dmarRatelimitModel("4.9")).toBe("per-irq");
    const rl2 = new Ratelimit();
    const out: string[] = [];
    for (let i = 0; i < 30; i++) out.push(...dmarFaultInterrupt(rl2, 0n, 2, [rec, rec], "4.9"));
    expect(out.length).toBe(10 * 3);
    expect(dmarFaultInterrupt(rl2, 6n * S, 2, [], "4.9")).toEqual(["dmar_fault: 20 callbacks suppressed", DRHD]);
  });
});

describe("renderQiError", () => {
  it("IQE: dump, HEAD/PRIOR, cleared (current dmar.c)", () => {
    expect(
      renderQiError({
        fault: DMA_FSTS_IQE,
        iqer: 0x1n,
        head: { qw0: 0x2n | (5n << 16n) | (3n << 4n), qw1: 0xfee00000n | 0x3fn },
        prior: { qw0: 0x200000025n, qw1: 0x12345678n },
      }),
    ).toEqual([
      "DMAR: VT-d detected Invalidation Queue Error: Reason 1",
      "DMAR: QI HEAD: IOTLB Invalidation qw0 = 0x50032, qw1 = 0xfee0003f",
      "DMAR: QI PRIOR: Invalidation Wait qw0 = 0x200000025, qw1 = 0x12345678",
      "DMAR: Invalidation Queue Error (IQE) cleared",
    ]);
  });

  it("ITE and ICE with their SIDs", () => {
    const lines = renderQiError({ fault: DMA_FSTS_ITE | DMA_FSTS_ICE, iqer: (0x0100n << 48n) | (0x0300n << 32n), head: { qw0: 3n, qw1: 0n }, prior: { qw0: 0xan, qw1: 0n } });
    expect(lines).toEqual([
      "DMAR: VT-d detected Invalidation Time-out Error: SID 300",
      "DMAR: VT-d detected Invalidation Completion Error: SID 100",
      "DMAR: QI HEAD: Device-TLB Invalidation qw0 = 0x3, qw1 = 0x0",
      "DMAR: QI PRIOR: UNKNOWN qw0 = 0xa, qw1 = 0x0",
      "DMAR: Invalidation Time-out Error (ITE) cleared",
      "DMAR: Invalidation Completion Error (ICE) cleared",
    ]);
    expect(renderQiError({ fault: 0x2, iqer: 0n, head: { qw0: 0n, qw1: 0n }, prior: { qw0: 0n, qw1: 0n } })).toEqual([]);
  });
});

// ---- Property: the current-era line parses back to the record --------------------------------

// Mirrors "[%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s\n",
// "[%s PASID 0x%x] ..." and "[INTR-REMAP] Request device [%02x:%02x.%d] fault index 0x%llx [fault reason 0x%02x] %s\n".
const DMA_RE = /^DMAR: \[(DMA Read|DMA Write) (?:NO_PASID|PASID 0x([0-9a-f]+))\] Request device \[([0-9a-f]{2}):([0-9a-f]{2})\.(\d)\] fault addr 0x([0-9a-f]+) \[fault reason 0x([0-9a-f]{2})\] (.+)$/;
const IR_RE = /^DMAR: \[INTR-REMAP\] Request device \[([0-9a-f]{2}):([0-9a-f]{2})\.(\d)\] fault index 0x([0-9a-f]+) \[fault reason 0x([0-9a-f]{2})\] (.+)$/;

describe("property: current-era line round-trips", () => {
  it("parses back to the same fields", () => {
    const record = fc.record({
      write: fc.boolean(),
      reason: fc.integer({ min: 0, max: 0xff }),
      sourceId: fc.integer({ min: 0, max: 0xffff }),
      address: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((a) => a & ~0xfffn),
      pasid: fc.option(fc.integer({ min: 0, max: 0xfffff }), { nil: undefined }),
    });
    fc.assert(
      fc.property(record, (r) => {
        const rec: DmarFaultRecord = { write: r.write, reason: r.reason, sourceId: r.sourceId, address: r.address, ...(r.pasid !== undefined ? { pasid: r.pasid } : {}) };
        const lines = renderDmarFault(rec, "5.15");
        expect(lines.length).toBe(1);
        const info = faultReasonInfo(r.reason);
        const bus = r.sourceId >> 8, dev = (r.sourceId >> 3) & 0x1f, fn = r.sourceId & 7;
        if (info.kind === "intr-remap") {
          const m = IR_RE.exec(lines[0]!);
          expect(m).not.toBeNull();
          expect([parseInt(m![1]!, 16), parseInt(m![2]!, 16), Number(m![3])]).toEqual([bus, dev, fn]);
          expect(BigInt(`0x${m![4]}`)).toBe(r.address >> 48n);
          expect(parseInt(m![5]!, 16)).toBe(r.reason);
          expect(m![6]).toBe(info.linuxText);
        } else {
          const m = DMA_RE.exec(lines[0]!);
          expect(m).not.toBeNull();
          expect(m![1]).toBe(r.write ? "DMA Write" : "DMA Read");
          expect(m![2] === undefined ? undefined : parseInt(m![2], 16)).toBe(r.pasid);
          expect([parseInt(m![3]!, 16), parseInt(m![4]!, 16), Number(m![5])]).toEqual([bus, dev, fn]);
          expect(BigInt(`0x${m![6]}`)).toBe(r.address);
          expect(parseInt(m![7]!, 16)).toBe(r.reason);
          expect(m![8]).toBe(info.linuxText);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("every era renders every reason without throwing, with the era's prefix", () => {
    fc.assert(
      fc.property(fc.constantFrom(...KERNEL_ERAS), fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 0xffff }), (era, reason, s) => {
        const lines = renderDmarFault({ write: true, reason, sourceId: s, address: 0x1000n }, era);
        expect(lines[0]!.startsWith(era === "3.x" ? "dmar: " : "DMAR: ")).toBe(true);
        expect(lines.length).toBe(era === "3.x" || era === "4.1" ? 2 : 1);
        expect(lines.every((l) => !l.includes("\n"))).toBe(true);
      }),
    );
  });
});
