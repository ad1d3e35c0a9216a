// Interrupt remapping (src/sim/vtd/intremap.ts), reserved regions and memlock (src/sim/reserved.ts):
// the IRTE checks against a small reference written here from the VT-d spec (9.10, 5.1.2-5.1.4,
// 7.1.3), the kernel's lines per generation, and the scenario's steps end to end.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { EngineServer } from "../../src/engine/server.js";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { compatMsiAddress, encodeIrte, InterruptRemapper, irteFields, remappableMsiAddress } from "../../src/sim/vtd/intremap.js";
import { bootLines, memlockNeed, rmrrRefusal } from "../../src/sim/reserved.js";
import { NO_RANGE } from "./helpers.js";

function load(text: string): Scenario {
  const p = parseScenario(text, "t.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

function diagnostics(text: string) {
  return parseScenario(text, "t.passthrough.yaml").diagnostics;
}

// ---- the reference: the spec's rules, written independently of intremap.ts, in bigints

interface Req {
  sid: number;
  handle: number;
  shv: boolean;
  data: number;
  compat: boolean;
}

function reference(lo: bigint, hi: bigint, r: Req, entries: number, cfis: boolean): { code: number; vector?: number; dest?: number; index?: number } {
  if (r.compat) return { code: cfis ? 0 : 0x25 };
  let index = r.handle;
  if (r.shv) index = (index + (r.data & 0xffff)) & 0xffff;
  if (index >= entries) return { code: 0x21, index };
  const bit = (v: bigint, b: number) => Number((v >> BigInt(b)) & 1n);
  const bits = (v: bigint, h: number, l: number) => Number((v >> BigInt(l)) & ((1n << BigInt(h - l + 1)) - 1n));
  if (!bit(lo, 0)) return { code: 0x22, index };
  const posted = bit(lo, 15) === 1;
  const rsvd = posted ? bits(lo, 7, 2) | bits(lo, 13, 12) | bits(lo, 37, 24) | bits(hi, 31, 20) : bits(lo, 14, 12) | bits(lo, 31, 24) | bits(hi, 63, 20);
  if (rsvd !== 0) return { code: 0x24, index };
  const sid = bits(hi, 15, 0);
  const sq = bits(hi, 17, 16);
  const svt = bits(hi, 19, 18);
  if (svt === 1) {
    const ignore = [0, 0b100, 0b110, 0b111][sq]!;
    if ((sid | ignore) !== (r.sid | ignore)) return { code: 0x26, index };
  } else if (svt === 2) {
    const bus = r.sid >> 8;
    if (bus < sid >> 8 || bus > (sid & 0xff)) return { code: 0x26, index };
  } else if (svt === 3) return { code: 0x26, index };
  if (r.shv && r.data >>> 16 !== 0) return { code: 0x20, index };
  return { code: 0, vector: bits(lo, 23, 16), dest: posted ? 0 : bits(lo, 47, 40), index };
}

/** A remapper over a table of `entries` IRTEs at 0x10000000 (xAPIC mode), entry `at` holding [lo, hi]. */
function remapperWith(at: number, lo: bigint, hi: bigint, sBits: number) {
  const mem = new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 64, dramBytes: 4 * 2 ** 30 });
  const base = mem.allocPage();
  for (let i = 1; i < 16; i++) mem.allocPage();
  if (at * 16 < 16 * 4096) {
    mem.writeU64(base + at * 16, lo);
    mem.writeU64(base + at * 16 + 8, hi);
  }
  const ir = new InterruptRemapper(mem);
  ir.setTable(BigInt(base) | BigInt(sBits));
  return ir;
}

describe("IRTE translation (property, against the spec's rules)", () => {
  it("answers every request as the reference does: fault code, index, vector, destination", () => {
    const word = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    // Entries that mostly pass: P set, few reserved bits, SID near the requester.
    const irte = fc.record({ lo: word, hi: word, clean: fc.boolean(), posted: fc.boolean() }).map(({ lo, hi, clean, posted }) => {
      if (!clean) return { lo, hi };
      let l = (lo & ~(posted ? 0x3f_ff00_30fcn : 0xff00_7000n)) | 1n;
      l = posted ? l | (1n << 15n) : l & ~(1n << 15n);
      const h = hi & (posted ? ~0xfff0_0000n : 0xf_ffffn);
      return { lo: l, hi: h };
    });
    const req = fc.record({ sid: fc.integer({ min: 0, max: 0xffff }), handle: fc.integer({ min: 0, max: 300 }), shv: fc.boolean(), data: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 0xffffffff })), compat: fc.boolean() });
    fc.assert(
      fc.property(irte, req, fc.integer({ min: 0, max: 7 }), fc.boolean(), fc.integer({ min: 0, max: 299 }), ({ lo, hi }, r, s, cfis, at) => {
        const ir = remapperWith(at, lo, hi, s);
        const addr = r.compat ? compatMsiAddress(3) : remappableMsiAddress(r.handle, r.shv);
        const code = ir.remap(r.sid, addr, r.data, cfis, false, true);
        let index = r.handle;
        if (r.shv) index = (index + (r.data & 0xffff)) & 0xffff;
        // The entry under test sits at `at`; every other entry is zero (not present).
        const ref = reference(index === at ? lo : 0n, index === at ? hi : 0n, r, 2 ** (s + 1), cfis);
        expect(code).toBe(ref.code);
        if (!r.compat) expect(ir.index).toBe(ref.index);
        if (code === 0 && !r.compat) {
          expect(ir.vector).toBe(ref.vector);
          expect(ir.destination).toBe(ref.dest);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("decodes what encodeIrte wrote: vector, destination, SID, SVT, posted descriptor", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.option(fc.bigInt({ min: 0n, max: (1n << 58n) - 1n }).map((v) => v << 6n)), (vector, dest, sid, eim, pda) => {
        const [lo, hi] = encodeIrte({ present: true, vector, destination: dest, sid, svt: 1, ...(pda !== null ? { posted: { pda } } : {}) }, eim);
        const f = Object.fromEntries(irteFields(lo, hi, eim).map((x) => [x.name, x.raw]));
        expect(f.P).toBe(1n);
        expect(f.Vector).toBe(BigInt(vector));
        expect(f.SID).toBe(BigInt(sid));
        expect(f.SVT).toBe(1n);
        if (pda !== null) expect(f.PDA).toBe(pda);
        else expect(f.DST).toBe(eim ? BigInt(dest >>> 0) : BigInt((dest & 0xff) << 8));
      }),
      { numRuns: 200 },
    );
  });

  it("the interrupt entry cache answers until the IEC is invalidated (a stale IRTE)", () => {
    const [lo, hi] = encodeIrte({ present: true, vector: 0x41, sid: 0x100 }, false);
    const ir = remapperWith(5, lo, hi, 0xf);
    const addr = remappableMsiAddress(5, false);
    expect(ir.remap(0x100, addr, 0, false, false, false)).toBe(0);
    expect(ir.cached).toBe(false);
    expect(ir.remap(0x100, addr, 0, false, false, false)).toBe(0);
    expect(ir.cached).toBe(true);
    expect(ir.invalidate(false, 4, 0)).toBe(0); // another index: kept
    expect(ir.invalidate(false, 4, 1)).toBe(1); // 2^1 entries from 4 cover 5
    expect(ir.remap(0x100, addr, 0, false, false, false)).toBe(0);
    expect(ir.cached).toBe(false);
  });
});

// ---- scenarios end to end

const irHost = (kernel: string, extra = "") => `
host:
  memory: 16GiB
  kernel: "${kernel}"
  iommu: { model: intel-vtd, address-width: 48, intremap: true${extra} }
  pci:
    - { bdf: "00:1c.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:1c.0", driver: vfio-pci }
    - { bdf: "00:1c.1", kind: root-port, acs: true, secondary-bus: 2 }
    - { bdf: "02:00.0", id: "8086:1572", parent: "00:1c.1", driver: vfio-pci }
workload:
`;

function run(text: string) {
  const m = new Machine(load(text));
  const outs = m.scenario.workload.map((st) => m.runStep(st));
  return { m, outs, kernel: m.log.lines.filter((l) => l.source === "kernel").map((l) => l.text), vmm: m.log.lines.filter((l) => l.source === "vmm").map((l) => l.text) };
}

describe("interrupt remapping in a scenario", () => {
  it("an MSI naming an IRTE the host never wrote faults 0x22, recorded with the index, printed per kernel generation (dmar.c dmar_fault_do_one)", () => {
    const steps = `  - irte: { device: "01:00.0", index: 32, vector: 0x41, destination: 2 }
  - msi: { device: "01:00.0", index: 33 }
`;
    const want: Record<string, string> = {
      "4.4": "DMAR: INTR-REMAP: Request device [[01:00.0] fault index 21",
      "4.19": "DMAR: [INTR-REMAP] Request device [01:00.0] fault index 21 [fault reason 34] Present field in the IRTE entry is clear",
      "5.14": "DMAR: [INTR-REMAP] Request device [0x01:0x00.0] fault index 0x21 [fault reason 0x22] Present field in the IRTE entry is clear",
      "6.8": "DMAR: [INTR-REMAP] Request device [01:00.0] fault index 0x21 [fault reason 0x22] Present field in the IRTE entry is clear",
    };
    for (const [k, line] of Object.entries(want)) {
      const { outs, kernel, m } = run(irHost(k) + steps);
      expect(outs[1]!.fault).toBe(0x22);
      expect(outs[1]!.recorded).toBe(true);
      expect(kernel).toContain(line);
      // The view of the record: FRCD.FI carries the index in bits 63:48.
      expect(m.iommu.faults(k)[0]?.address).toBe(33n << 48n);
    }
  });

  it("a blocked compatibility-format MSI records the address's bits 19:4 as its index, as real units do (lkml: \"[0xc9:0x05.0] fault index 0xa00 [fault reason 0x25]\")", () => {
    const { outs, kernel, m } = run(irHost("6.8") + `  - msi: { device: "01:00.0", format: compatibility, destination: 0xa }\n  - msi: { device: "01:00.0", format: compatibility, destination: 0 }\n`);
    expect(outs.map((o) => o.fault)).toEqual([0x25, 0x25]);
    expect(kernel).toContain("DMAR: [INTR-REMAP] Request device [01:00.0] fault index 0xa00 [fault reason 0x25] Blocked a compatibility format interrupt request");
    expect(m.iommu.faults("6.8")[0]?.address).toBe(0xa00n << 48n);
  });

  it("remaps, checks the source id, blocks compatibility format, and an IRTE written without IEC invalidation stays stale until the IEC is invalidated", () => {
    const { outs } = run(
      irHost("6.8", ", eim: true") +
        `  - irte: { device: "01:00.0", index: 7, vector: 0x41, destination: 300 }
  - msi: { device: "01:00.0", index: 7 }
  - msi: { device: "02:00.0", index: 7 }
  - msi: { device: "01:00.0", format: compatibility }
  - irte: { device: "01:00.0", index: 7, present: false, invalidate: false }
  - msi: { device: "01:00.0", index: 7 }
  - invalidate: { granularity: interrupt-entry, index: 7 }
  - msi: { device: "01:00.0", index: 7 }
  - msi: { device: "01:00.0", index: 6, subhandle: 1 }
`,
    );
    expect(outs.map((o) => o.fault ?? 0)).toEqual([0, 0, 0x26, 0x25, 0, 0, 0, 0x22, 0x22]);
    expect(outs[1]!.summary).toContain("vector 0x41, x2APIC 300");
    expect(outs[5]!.summary).toContain("(interrupt entry cache)");
    expect(outs[6]!.summary).toContain("1 interrupt entry cache entry dropped");
  });

  it("explain() shows the IRTE read and why it stopped, through the contract", () => {
    const { m } = run(irHost("6.8") + `  - irte: { device: "01:00.0", index: 3, vector: 0x30 }\n`);
    const ok = m.iommu.explain({ sid: 0x100, iova: BigInt(remappableMsiAddress(3, false)), write: true, data: 0 });
    expect(ok.verdict.kind).toBe("interrupt");
    expect(ok.verdict.interrupt).toMatchObject({ format: "remapped", index: 3, vector: 0x30 });
    expect(ok.trail.entries.map((e) => [e.kind, e.index])).toEqual([["irte", 3]]);
    const bad = m.iommu.explain({ sid: 0x200, iova: BigInt(remappableMsiAddress(3, false)), write: true });
    expect(bad.verdict).toMatchObject({ kind: "fault", reason: 0x26 });
    expect(bad.trail.stop?.cause).toBe("source-id");
    // A DMA write into the window from a dma step is the same request, data 0.
    expect(m.iommu.reason(0x26).label).toBe("0x26 Blocked an interrupt request due to source-id verification failure");
  });

  it("FPD in the IRTE keeps a qualified fault (0x22 is, 0x25 is not) out of the fault records", () => {
    const { outs } = run(irHost("6.8") + `  - irte: { device: "01:00.0", index: 3, vector: 0x30, fpd: true }\n  - msi: { device: "02:00.0", index: 3 }\n`);
    expect(outs[1]!.fault).toBe(0x26);
    expect(outs[1]!.recorded).toBe(false);
  });

  it("boot lines: IRQ remapping mode, default domain type, RMRRs (irq_remapping.c, iommu.c, dmar.c)", () => {
    const s = load(irHost("6.8", ", eim: true, host-pass-through: true, rmrr: [ { base: 0x7b800000, end: 0x7b81ffff, devices: [\"01:00.0\"] } ]"));
    expect(bootLines(s.host).map((l) => l.text)).toEqual([
      "DMAR: RMRR base: 0x0000007b800000 end: 0x0000007b81ffff",
      "DMAR-IR: Enabled IRQ remapping in x2apic mode",
      "iommu: Default domain type: Passthrough (set via kernel command line)",
    ]);
  });
});

describe("validation", () => {
  it("a vIOMMU with intremap needs the split irqchip: QEMU's error at the key's line and column", () => {
    const d = diagnostics(`${irHost("6.8")}vms:\n  - name: a\n    viommu: { model: intel, caching-mode: true, intremap: true }\n`.replace("workload:\n", "") + "workload: []\n");
    const e = d.find((x) => x.code === "intremap-config");
    expect(e?.message).toBe("Intel Interrupt Remapping cannot work with kernel-irqchip=on, please use 'split|off'.");
    expect(e?.range.line).toBe(12);
    const ok = diagnostics(`${irHost("6.8")}vms:\n  - name: a\n    irqchip: split\n    viommu: { model: intel, caching-mode: true, intremap: true, eim: true }\n`.replace("workload:\n", "") + "workload: []\n");
    expect(ok.filter((x) => x.code === "intremap-config")).toEqual([]);
    const eim = diagnostics(`${irHost("6.8")}vms:\n  - name: a\n    irqchip: split\n    viommu: { model: intel, eim: true }\n`.replace("workload:\n", "") + "workload: []\n");
    expect(eim.find((x) => x.code === "intremap-config")?.message).toBe("eim=on cannot be selected without intremap=on");
  });

  it("host eim without intremap, an irte step without intremap, an RMRR naming no device, a broken RMRR", () => {
    const codes = (t: string) => diagnostics(t).map((x) => x.code);
    expect(codes(irHost("6.8").replace("intremap: true", "eim: true"))).toContain("intremap-config");
    expect(codes(irHost("6.8").replace(", intremap: true", "") + `  - irte: { device: "01:00.0", index: 1, vector: 1 }\n`)).toContain("intremap-config");
    expect(codes(irHost("6.8", ", rmrr: [ { base: 0x1000, end: 0x1fff, devices: [\"09:00.0\"] } ]"))).toContain("unknown-device");
    expect(diagnostics(irHost("6.8", ", rmrr: [ { base: 0x1000, end: 0x1ffe, devices: [\"01:00.0\"] } ]")).find((x) => x.code === "invalid-value")?.message).toContain("not a page-aligned range");
  });
});

// ---- reserved regions

const rmrrHost = (kernel: string) => `
host:
  memory: 16GiB
  kernel: "${kernel}"
  iommu: { model: intel-vtd, address-width: 48, rmrr: [ { base: 0x7b800000, end: 0x7b81ffff, devices: ["00:14.0"] } ] }
  pci:
    - { bdf: "00:14.0", kind: integrated, id: "8086:a36d", driver: vfio-pci }
    - { bdf: "00:1c.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:1c.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["00:14.0"]
  - name: b
    memory: 1GiB
    devices: ["01:00.0"]
workload:
  - translate: { device: "00:14.0", iova: 0x7b81f000 }
  - start: a
  - start: b
`;

describe("RMRR devices", () => {
  it("are identity-mapped in their default domain and refused to VFIO with the kernel's words per generation", () => {
    const cases: [string, string, string, string][] = [
      ["4.19", "EPERM", "vfio-pci 0000:00:14.0: Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.", "Failed to set iommu for container: Operation not permitted"],
      ["5.15", "EPERM", "vfio-pci 0000:00:14.0: DMAR: Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.", "Failed to set iommu for container: Operation not permitted"],
      ["6.8", "EINVAL", "vfio-pci 0000:00:14.0: Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.", "Failed to set group container: Invalid argument"],
    ];
    for (const [k, errno, kline, qemu] of cases) {
      const { outs, kernel, vmm } = run(rmrrHost(k));
      expect(outs[0]!.firstHpa).toBe(0x7b81f000n);
      expect(outs[1]!.errno).toBe(errno);
      expect(outs[2]!.status).toBe("ok"); // a device without an RMRR is assigned as before
      expect(kernel).toContain(kline);
      expect(vmm).toContain(`qemu-system-x86_64: -device vfio-pci,host=0000:00:14.0: vfio 0000:00:14.0: failed to setup container for group 0: ${qemu}`);
    }
  });

  it("a group member's RMRR refuses the whole group, naming the member", () => {
    const host = load(rmrrHost("6.8")).host;
    const r = rmrrRefusal(host, [{ key: "00:14.1", full: "0000:00:14.1" }, { key: "00:14.0", full: "0000:00:14.0", driver: "xhci_hcd" }], { full: "0000:00:14.1" }, 4);
    expect(r?.device).toBe("00:14.0");
    expect(r?.kernel.startsWith("xhci_hcd 0000:00:14.0: Firmware has requested")).toBe(true);
    expect(rmrrRefusal(host, [{ key: "01:00.0", full: "0000:01:00.0" }], { full: "0000:01:00.0" }, 1)).toBeUndefined();
  });
});

describe("memlock", () => {
  const vm = (devices: number, viommu: boolean) => ({ name: "v", memory: 4n << 30n, devices: Array.from({ length: devices }, (_, i) => `0${i + 1}:00.0`), ...(viommu ? { viommu: { model: "intel" as const, cachingMode: true, range: NO_RANGE } } : {}), range: NO_RANGE });
  it("is libvirt's guest RAM (times the VFIO devices with a vIOMMU) + 1 GiB, and says how short the limit is", () => {
    const host = { ...load(rmrrHost("6.8")).host, memlock: 3n << 30n };
    expect(memlockNeed(host, vm(2, false))).toMatchObject({ libvirt: 5n << 30n, short: 2n << 30n, pinnedAtStart: 4n << 30n });
    expect(memlockNeed(host, vm(2, true))).toMatchObject({ libvirt: 9n << 30n, short: 6n << 30n, pinnedAtStart: 0n, formula: "2 × 4GiB guest RAM + 1GiB (2 VFIO devices with a vIOMMU)" });
    expect(memlockNeed(host, vm(0, false))).toBeUndefined();
    const { memlock: _, ...unlimited } = host;
    expect(memlockNeed(unlimited, vm(1, false))?.short).toBeUndefined();
  });

  it("a short limit is a warning on the host, information when the scenario expects the ENOMEM", () => {
    const text = (expect: string) => `
host:
  memory: 16GiB
  memlock: 3GiB
  iommu: { model: intel-vtd, address-width: 48 }
  pci:
    - { bdf: "00:1c.4", kind: root-port, acs: true, secondary-bus: 5 }
    - { bdf: "05:00.0", id: "10de:1eb8", parent: "00:1c.4", driver: vfio-pci }
vms:
  - { name: g, memory: 4GiB, devices: ["05:00.0"] }
workload:
  - start: g${expect}
`;
    const warn = new Machine(load(text(""))).diagnostics.find((d) => d.code === "memlock-short");
    expect(warn?.severity).toBe("warning");
    expect(warn?.message).toBe("host.memlock 3GiB is 2GiB short of the 5GiB libvirt would set for VM g (4GiB guest RAM + 1GiB)");
    expect(new Machine(load(text("\n    expect: { errno: ENOMEM }"))).diagnostics.find((d) => d.code === "memlock-short")?.severity).toBe("info");
  });
});

describe("the memlock hover", () => {
  it("on memlock: names libvirt's limit per VM and how far the configured one is short", () => {
    const text = readFileSync(join(__dirname, "..", "..", "examples", "memlock-short.passthrough.yaml"), "utf8");
    const server = new EngineServer();
    const uri = "file:///x/m.passthrough.yaml";
    server.handle("update", { uri, version: 1, text });
    const lines = text.split("\n");
    const line = lines.findIndex((l) => l.includes("memlock: 3GiB"));
    const h = server.handle("hover", { uri, line, character: lines[line]!.indexOf("3GiB") + 1, lineText: lines[line]!, radix: "hex" })!;
    expect(h.markdown).toContain("**RLIMIT_MEMLOCK** of the VMM: `3GiB`");
    expect(h.markdown).toContain("- VM `gpu02`: libvirt sets `5GiB` (4GiB guest RAM + 1GiB); type1 pins 4GiB of guest RAM at start — **2GiB short**");
  });
});

describe("Mapping Tables (contract tables(): interruptRemapping, reservedRegions)", () => {
  function children(server: EngineServer, uri: string, id: string | null) {
    return server.handle("children", { uri, view: "tables", ids: [id], radix: "hex" })[0]!;
  }
  it("lists the IRTEs the host wrote, decoded by the model, and the reserved regions", () => {
    const server = new EngineServer();
    const uri = "file:///x/i.passthrough.yaml";
    const text = readFileSync(join(__dirname, "..", "..", "examples", "irte-not-present.passthrough.yaml"), "utf8").replace("eim: true }", "eim: true, rmrr: [ { base: 0x7b800000, end: 0x7b81ffff, devices: [\"02:00.0\"] } ] }");
    server.handle("update", { uri, version: 1, text });
    server.handle("setCursor", { uri, step: 3 });
    const top = children(server, uri, "t");
    const ir = top.find((n) => n.id === "t/ir")!;
    expect(ir.description).toMatch(/^@ 0x[0-9a-f]+ · 1 of 65536 present · x2APIC$/);
    const [irte] = children(server, uri, "t/ir");
    expect(irte!.label).toBe("IRTE[32]");
    expect(irte!.description).toBe("vector 0x41 → APIC 2 · from 01:00.0");
    const fields = children(server, uri, "t/ir/32").map((f) => f.label);
    expect(fields).toEqual(["P", "FPD", "DM", "RH", "TM", "DLM", "AVAIL", "IM", "Vector", "DST", "SID", "SQ", "SVT"]);
    expect(children(server, uri, "t/resv").map((r) => `${r.label} ${r.description}`)).toEqual(["0x7b800000–0x7b81ffff RMRR · 02:00.0", "0xfee00000–0xfeefffff MSI window"]);
  });
});
