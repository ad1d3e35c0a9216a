// AMD-Vi interrupt remapping (sim/amdvi/intremap.ts): the unit's answer to an MSI against a
// reference written here from the AMD IOMMU spec 48882 §2.2.5 decision order (DTE IV, reserved
// bits, message type and the pass-through bits, IntCtl, IntTabLen, the IRTE's RemapEn / GuestMode /
// IntType), the IRTE layouts of Linux's union irte / irte_ga, INVALIDATE_INTERRUPT_TABLE, and the
// irte / msi steps through the model-neutral seam with Linux's line for the event.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { EngineServer } from "../../src/engine/server.js";
import { runScenario } from "../../src/sim/run.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { AmdViUnit } from "../../src/sim/amdvi/unit.js";
import { MMIO_CMD_BUF_OFFSET, MMIO_CMD_TAIL_OFFSET, MMIO_CONTROL_OFFSET, MMIO_DEV_TABLE_OFFSET, MMIO_EVT_BUF_OFFSET } from "../../src/sim/amdvi/defs.js";
import { CONTROL_GA_EN, decodeIrte, encodeIrte, IntrOutcome } from "../../src/sim/amdvi/intremap.js";
import { irteFields } from "../../src/sim/amdvi/decode.js";

describe("IRTE layouts (Linux union irte, irte_ga_lo/hi)", () => {
  it("encode then decode gives the fields back, 32-bit with an 8-bit destination, 128-bit with 32 bits, GuestMode's vAPIC fields (property)", () => {
    const vapicArb = fc.record({ gaLogIntr: fc.boolean(), isRun: fc.boolean(), gaTag: fc.integer({ min: 0, max: 0xffffffff }), gaRootPtr: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }).map((p) => p << 12n) });
    fc.assert(
      fc.property(fc.boolean(), fc.record({ remapEn: fc.boolean(), supIopf: fc.boolean(), intType: fc.integer({ min: 0, max: 7 }), dm: fc.boolean(), guestMode: fc.boolean(), destination: fc.integer({ min: 0, max: 0xffffffff }), vector: fc.integer({ min: 0, max: 255 }) }), vapicArb, (ga, f, v) => {
        // A 128-bit IRTE with GuestMode = 1 is the vAPIC format: bits 4:2 hold GALogIntr (bit 2), bit 6 IsRun.
        const vapic = ga && f.guestMode;
        const d = decodeIrte(...encodeIrte(vapic ? { ...f, vapic: v } : f, ga), ga);
        const want = vapic ? { ...f, intType: v.gaLogIntr ? 1 : 0, dm: v.isRun, vapic: v } : { ...f, destination: ga ? f.destination : f.destination & 0xff };
        expect(d).toEqual(want);
      }),
    );
  });

  it("a guest virtual APIC IRTE puts GALogIntr, IsRun, GATag and GA Root Ptr where irte_ga_lo.fields_vapic / irte_ga_hi have them", () => {
    const [lo, hi] = encodeIrte({ remapEn: true, supIopf: false, intType: 0, dm: false, guestMode: true, destination: 0x0102_0304, vector: 0x61, vapic: { gaLogIntr: true, isRun: true, gaTag: 0xdead_beef, gaRootPtr: 0x12_3456_7000n } }, true);
    // lo: valid 0, ga_log_intr 2, is_run 6, guest_mode 7, destination 31:8, ga_tag 63:32.
    expect(lo).toBe((0xdead_beefn << 32n) | (0x02_0304n << 8n) | 0x80n | 0x40n | 0x4n | 1n);
    // hi: vector 7:0, ga_root_ptr 51:12, destination[31:24] 63:56.
    expect(hi).toBe((0x01n << 56n) | 0x12_3456_7000n | 0x61n);
    const names = irteFields(lo, hi, true).map((f) => `${f.name}=${f.value}`);
    expect(names).toEqual(expect.arrayContaining(["GALogIntr=1", "IsRun=1", "GuestMode=1", "GATag=0xdeadbeef", "Vector=97", "GA Root Ptr=0x1234567000"]));
  });

  it("puts the fields where amd_iommu_types.h has them", () => {
    // 32-bit: valid 0, no_fault 1, int_type 4:2, rq_eoi 5, dm 6, guest_mode 7, destination 15:8, vector 23:16.
    expect(encodeIrte({ remapEn: true, supIopf: true, intType: 1, dm: true, guestMode: false, destination: 0x12, vector: 0x41 }, false)[0]).toBe(0x41_12_47n);
    // GA: lo destination[23:0] at 31:8; hi vector 7:0, destination[31:24] at 63:56.
    const [lo, hi] = encodeIrte({ remapEn: true, supIopf: false, intType: 0, dm: false, guestMode: false, destination: 0x1234_5678, vector: 0xef }, true);
    expect(lo).toBe(0x34_5678_01n);
    expect(hi).toBe((0x12n << 56n) | 0xefn);
  });
});

// ------------------------------------------------------------------ the unit against the spec's order

type Ref = { outcome: number; code: number; flags?: number; vector?: number };

/** §2.2.5 for one MSI (IOMMU enabled, DTE readable): q2 = DTE data[2], `irte` the words at the index. */
function refRemap(q2: bigint, data: number, irte: (index: number) => [bigint, bigint], ga: boolean): Ref {
  if ((q2 & 1n) === 0n) return { outcome: IntrOutcome.Forwarded, code: 0 };
  if ((q2 & ((0xfn << 52n) | (1n << 59n))) !== 0n) return { outcome: IntrOutcome.Fault, code: 1, flags: 0x8 | 0x80 };
  const type = (data >> 8) & 7;
  const pass = (bit: bigint) => ((q2 >> bit) & 1n ? { outcome: IntrOutcome.Forwarded, code: 0 } : { outcome: IntrOutcome.Aborted, code: 0 });
  if (type === 2) return { outcome: IntrOutcome.Forwarded, code: 0 };
  if (type === 4) return pass(58n);
  if (type === 5) return pass(56n);
  if (type === 7) return pass(57n);
  if (type === 3 || type === 6) return { outcome: IntrOutcome.Aborted, code: 0 };
  const intCtl = Number((q2 >> 60n) & 3n);
  if (intCtl === 0) return { outcome: IntrOutcome.Fault, code: 8, flags: 5 << 9 };
  if (intCtl === 1) return { outcome: IntrOutcome.Forwarded, code: 0 };
  if (intCtl === 3) return { outcome: IntrOutcome.Fault, code: 1, flags: 0x8 | 0x80 };
  const len = Number((q2 >> 1n) & 0xfn);
  if (len >= 12) return { outcome: IntrOutcome.Fault, code: 1, flags: 0x8 };
  const index = data & 0x7ff;
  if (index >= 2 ** len) return { outcome: IntrOutcome.Fault, code: 2, flags: 0x8 };
  const [lo, hi] = irte(index);
  const l = Number(lo & 0xffn);
  if ((l & 1) === 0) return { outcome: IntrOutcome.Fault, code: 2, flags: 0x8 };
  // GuestMode = 1 in a 128-bit IRTE: guest virtual APIC, the vector posted into the backing page.
  if (ga && (l & 0x80) !== 0) return { outcome: IntrOutcome.Posted, code: 0, vector: Number(hi & 0xffn) };
  if ((l & 0x80) !== 0 || ((l >> 2) & 7) > 1) return { outcome: IntrOutcome.Fault, code: 2, flags: 0x8 | 0x10 | 0x80 };
  return { outcome: IntrOutcome.Remapped, code: 0, vector: ga ? Number(hi & 0xffn) : Number((lo >> 16n) & 0xffn) };
}

function unitWith(ga: boolean): { u: AmdViUnit; mem: PhysicalMemory; devtab: number; irt: number; cmd: number } {
  const mem = new PhysicalMemory({ poolBase: 0x1000_0000, poolMaxPages: 64, poolInitialPages: 16, dramBytes: 1 << 30, sparseMaxPages: 64, sramBytes: 0 });
  const u = new AmdViUnit(mem, { iotlbSets: 16, iotlbWays: 4, maxLevels: 4 });
  const devtab = mem.allocPage();
  const evt = mem.allocPage();
  const cmd = mem.allocPage();
  const irt = mem.allocPage();
  for (let i = 0; i < 8; i++) mem.allocPage(); // 2048 GA entries = 32 KiB
  u.writeReg(MMIO_DEV_TABLE_OFFSET, BigInt(devtab));
  u.writeReg(MMIO_EVT_BUF_OFFSET, BigInt(evt) | (8n << 56n));
  u.writeReg(MMIO_CMD_BUF_OFFSET, BigInt(cmd) | (8n << 56n));
  u.writeReg(MMIO_CONTROL_OFFSET, 1n | (1n << 2n) | (1n << 12n) | (ga ? 1n << BigInt(CONTROL_GA_EN) : 0n));
  return { u, mem, devtab, irt, cmd };
}

describe("the unit's answer to an MSI", () => {
  it("agrees with the spec's decision order on random DTEs, IRTEs and MSI data (property)", () => {
    const q2Arb = fc.record({
      iv: fc.boolean(),
      len: fc.oneof(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 15 })),
      intCtl: fc.oneof(fc.constant(2), fc.integer({ min: 0, max: 3 })),
      pass: fc.integer({ min: 0, max: 7 }),
      rsvd: fc.oneof(fc.constant(0n), fc.constant(1n << 53n), fc.constant(1n << 59n)),
    });
    const irteArb = fc.record({ remapEn: fc.boolean(), supIopf: fc.boolean(), intType: fc.oneof(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 7 })), dm: fc.boolean(), guestMode: fc.oneof(fc.constant(false), fc.boolean()), destination: fc.integer({ min: 0, max: 255 }), vector: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(fc.boolean(), q2Arb, fc.array(irteArb, { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 0x7ff }), fc.integer({ min: 0, max: 3 }), (ga, d, irtes, data, slot) => {
        const { u, mem, devtab, irt } = unitWith(ga);
        const size = ga ? 16 : 4;
        const index = data & 0x7ff;
        // Four IRTEs around the index the MSI names (the rest of the table is zero: RemapEn = 0).
        const words = irtes.map((f) => encodeIrte(f, ga));
        const base = Math.max(0, index - slot);
        words.forEach((w, i) => {
          const at = irt + (base + i) * size;
          if (ga) {
            mem.writeU64(at, w[0]);
            mem.writeU64(at + 8, w[1]);
          } else mem.write32(at, Number(w[0]));
        });
        const q2 = (d.iv ? 1n : 0n) | (BigInt(d.len) << 1n) | BigInt(irt) | (BigInt(d.pass) << 56n) | (BigInt(d.intCtl) << 60n) | d.rsvd;
        mem.writeU64(devtab + 0x0030 * 32, 3n);
        mem.writeU64(devtab + 0x0030 * 32 + 8, 7n);
        mem.writeU64(devtab + 0x0030 * 32 + 16, q2);
        const code = u.intr.remap(0x0030, 0xfee00000, data);
        const ref = refRemap(q2, data, (i) => (i >= base && i < base + 4 ? words[i - base]! : [0n, 0n]), ga);
        return code === ref.code && u.intr.outcome === ref.outcome && (ref.flags === undefined || u.intr.flags === ref.flags) && (ref.vector === undefined || u.intr.vector === ref.vector);
      }),
      { numRuns: 300 },
    );
  });

  it("INVALIDATE_INTERRUPT_TABLE drops the cached IRTEs of its device id only", () => {
    const { u, mem, devtab, irt, cmd } = unitWith(false);
    for (const devid of [0x0030, 0x0040]) {
      mem.writeU64(devtab + devid * 32, 3n);
      mem.writeU64(devtab + devid * 32 + 16, 1n | (9n << 1n) | BigInt(irt) | (2n << 60n));
    }
    mem.write32(irt, Number(encodeIrte({ remapEn: true, supIopf: false, intType: 0, dm: false, guestMode: false, destination: 1, vector: 0x41 }, false)[0]));
    u.intr.remap(0x0030, 0xfee00000, 0);
    u.intr.remap(0x0040, 0xfee00000, 0);
    mem.write32(irt, Number(encodeIrte({ remapEn: true, supIopf: false, intType: 0, dm: false, guestMode: false, destination: 1, vector: 0x42 }, false)[0]));
    // build_inv_irt for 00:06.0: opcode 5 in data[1] 31:28, the device id in data[0] 15:0.
    mem.writeU64(cmd, 0x0030n | (5n << 60n));
    mem.writeU64(cmd + 8, 0n);
    u.writeReg(MMIO_CMD_TAIL_OFFSET, 16n);
    u.intr.remap(0x0030, 0xfee00000, 0);
    expect([u.intr.vector, u.intr.cached]).toEqual([0x42, false]);
    u.intr.remap(0x0040, 0xfee00000, 0);
    expect([u.intr.vector, u.intr.cached]).toEqual([0x41, true]);
  });
});

const host = (iommu: string, steps: string) => `host:
  memory: 16GiB
  kernel: "6.8"
  iommu: ${iommu}
  pci:
    - { bdf: "00:01.1", kind: root-port, acs: true, secondary-bus: 3 }
    - { bdf: "03:00.0", parent: "00:01.1", driver: vfio-pci }
vms:
  - name: vm
    memory: 2GiB
    devices: ["03:00.0"]
workload:
  - start: vm
${steps}`;

describe("irte / msi steps on an AMD-Vi host", () => {
  it("an MSI from a device whose DTE says IntCtl = 0 is INVALID_DEVICE_REQUEST with flags 0x0a00, the flags of pcengines/apu2-documentation#240", () => {
    const s = parseScenario(host("{ model: amd-vi }", ""), "x").scenario!;
    const { run } = runScenario(s);
    // Clear IntCtl in the DTE's data[2] directly (no poke target names data[2]), then the MSI.
    const m = run!.machine;
    const host_ = m.hostIommu as unknown as { driver: { deviceTable: number } };
    const at = host_.driver.deviceTable + 0x0300 * 32 + 16;
    m.mem.writeU64(at, m.mem.readU64(at)! & ~(3n << 60n));
    const a = m.hostIommu.interrupts!.msi(0x0300, 0xfee00000, 0);
    expect(a).toMatchObject({ code: 8, recorded: true, delivered: false });
    m.hostIommu.serviceFaults(m.log, 5_000_000_000n, 9);
    expect(m.log.dmesg().at(-1)).toMatch(/iommu ivhd0: AMD-Vi: Event logged \[INVALID_DEVICE_REQUEST device=0000:03:00\.0 pasid=0x00000 address=0xfee00000 flags=0x0a00\]$/);
  });

  it("examples/amd-irte-stale: the cached IRTE answers until invalidated; a freed IRTE is an IO_PAGE_FAULT with I, printed by pci_err", () => {
    const f = join(__dirname, "..", "..", "examples", "amd-irte-stale.passthrough.yaml");
    const { run } = runScenario(parseScenario(readFileSync(f, "utf8"), f).scenario!);
    expect(run!.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], [], [], [], [], [], []]);
    expect(run!.outcomes[4]!.summary).toContain("remapped to vector 0x41, APIC 2 (IRTE cache)");
    const last = run!.machine.log.dmesg().at(-1)!.replace(/^\[[ \d.]+\] /, "");
    expect(last).toBe("vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0003 address=0xfee00000 flags=0x0008]");
  });

  it("ga: false writes 32-bit IRTEs (4 bytes apart) and refuses an APIC id above 255", () => {
    const steps = "  - irte: { device: \"03:00.0\", index: 1, vector: 0x41, destination: 3 }\n  - irte: { device: \"03:00.0\", index: 2, vector: 0x41, destination: 300 }\n  - msi: { device: \"03:00.0\", index: 1 }\n";
    const { run } = runScenario(parseScenario(host("{ model: amd-vi, ga: false }", steps), "x").scenario!);
    const o = run!.outcomes;
    expect(o[1]!.summary).toMatch(/^32-bit IRTE 1 of devid 03:00\.0 at HPA 0x[0-9a-f]+4: vector 0x41 -> APIC 3/);
    expect(o[2]).toMatchObject({ status: "error" });
    expect(o[2]!.summary).toMatch(/does not fit the 8-bit destination/);
    expect(o[3]!.summary).toContain("IRTE 1 remapped to vector 0x41, APIC 3");
  });

  it("an MSI index past the table is an IO_PAGE_FAULT; SupIOPF (the step's fpd) keeps a freed entry's fault out of the log", () => {
    const steps = "  - msi: { device: \"03:00.0\", index: 600 }\n  - irte: { device: \"03:00.0\", index: 5, present: false, fpd: true }\n  - msi: { device: \"03:00.0\", index: 5 }\n";
    const { run } = runScenario(parseScenario(host("{ model: amd-vi }", steps), "x").scenario!);
    const o = run!.outcomes;
    // data 600 = 0x258: message type 2 (SMI) in 10:8 - forwarded; the index check is for fixed/arbitrated only.
    expect(o[1]!.summary).toContain("an SMI passes unmapped");
    expect(o[3]).toMatchObject({ status: "fault", fault: 2, recorded: true });
  });

  it("intremap: false refuses the irte step; VT-d's urgent field is refused on AMD-Vi, posted without GA mode too; ga on VT-d is an error", () => {
    const p = parseScenario(host("{ model: amd-vi, intremap: false }", "  - irte: { device: \"03:00.0\", index: 0, vector: 0x41 }\n"), "x");
    expect(p.diagnostics.find((d) => d.severity === "error")?.message).toMatch(/an irte step needs interrupt remapping/);
    const { run } = runScenario(parseScenario(host("{ model: amd-vi }", "  - irte: { device: \"03:00.0\", index: 0, vector: 0x41, posted: 0x1000, urgent: true }\n"), "x").scenario!);
    expect(run!.outcomes[1]!.summary).toMatch(/"urgent" is a field of Intel's IRTE/);
    const legacy = runScenario(parseScenario(host("{ model: amd-vi, ga: false }", "  - irte: { device: \"03:00.0\", index: 0, vector: 0x41, posted: 0x1000 }\n"), "x").scenario!).run!;
    expect(legacy.outcomes[1]!.summary).toMatch(/needs 128-bit IRTEs: GA mode/);
    const v = parseScenario("host:\n  iommu:\n    model: intel-vtd\n    ga: true\n", "x").diagnostics.filter((d) => d.severity === "error");
    expect(v[0]!.message).toMatch(/ga is an AMD-Vi option/);
  });

  it("examples/amd-ga-vapic-irte: a GuestMode IRTE posts the MSI into the vAPIC backing page's IRR and rings the doorbell; Mapping Tables decodes it", () => {
    const text = readFileSync(join(__dirname, "..", "..", "examples", "amd-ga-vapic-irte.passthrough.yaml"), "utf8");
    const { run } = runScenario(parseScenario(text, "x").scenario!);
    const r = run!;
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    expect(r.outcomes[2]!.summary).toMatch(/posted vector 0x61 into the IRR of the vAPIC backing page at 0x300000000; doorbell to APIC 4 \(IsRun = 1\)$/);
    // Vector 0x61 = 97: bit 1 of the IRR register at 0x200 + 3 * 0x10.
    expect(r.machine.mem.readU64(0x3_0000_0000 + 0x230)! & 0xffff_ffffn).toBe(1n << 1n);
    expect(r.machine.log.dmesg().filter((l) => l.includes("Event logged"))).toEqual([]);
    const ir = r.machine.iommu.tables().interruptRemapping!;
    const e = ir.entries();
    expect(e).toHaveLength(1);
    expect([e[0]!.format, e[0]!.vector, e[0]!.destination, e[0]!.source, e[0]!.index]).toEqual(["posted", 0x61, 0x3_0000_0000n, "03:00.0", 0]);
    expect(e[0]!.fields.map((f) => `${f.name}=${f.value}`)).toEqual(expect.arrayContaining(["GuestMode=1", "IsRun=1", "GALogIntr=1", "GA Root Ptr=0x300000000", "Destination[23:0]=0x4"]));
    // The IRTE cache holds it as read.
    expect(ir.cache().map((x) => x.key)).toEqual(["768.0"]);
  });

  it("IsRun = 0: the vector still lands in the IRR, the notification is a GA log entry, no event", () => {
    const text = readFileSync(join(__dirname, "..", "..", "examples", "amd-ga-vapic-irte.passthrough.yaml"), "utf8");
    const { run } = runScenario(parseScenario(text, "x").scenario!);
    const r = run!;
    const host_ = r.machine.hostIommu as unknown as { driver: { irqTable(devid: number): number | undefined } };
    const at = host_.driver.irqTable(0x0300)!;
    r.machine.mem.writeU64(at, r.machine.mem.readU64(at)! & ~0x40n);
    r.machine.hostIommu.interrupts!.msi(0x0300, 0xfee00000, 0); // cached: still IsRun = 1
    r.machine.mem.writeU64(0x3_0000_0000 + 0x230, 0n);
    const u = (r.machine.hostIommu as unknown as { unit: { intr: { invalidateAll(): void } } }).unit;
    u.intr.invalidateAll();
    const a = r.machine.hostIommu.interrupts!.msi(0x0300, 0xfee00000, 0);
    expect(a.code).toBe(0);
    expect(a.summary).toMatch(/the vCPU is not running: GA log entry GA_GUEST_NR with GATag 0x0 written, GAInt set$/);
    expect(r.machine.mem.readU64(0x3_0000_0000 + 0x230)! & 0xffff_ffffn).toBe(2n);
  });

  it("Mapping Tables shows the device's IRTE under 'Interrupt remapping table', posted to the backing page, its vAPIC fields as children", () => {
    const server = new EngineServer();
    const uri = "file:///x/ga.passthrough.yaml";
    server.handle("update", { uri, version: 1, text: readFileSync(join(__dirname, "..", "..", "examples", "amd-ga-vapic-irte.passthrough.yaml"), "utf8") });
    server.handle("setCursor", { uri, step: 2 });
    const children = (id: string | null) => server.handle("children", { uri, view: "tables", ids: [id], radix: "hex" })[0]!;
    const ir = children("t").find((n) => n.id === "t/ir")!;
    expect(ir.tooltip).toMatch(/one per device id/);
    // Labelled by its IRTE format (Control.GAEn: 128-bit GA-mode IRTEs), not "x2APIC".
    expect(ir.description).toMatch(/^@ 0x[0-9a-f]+ · 1 of \d+ present · 128-bit GA-mode IRTEs$/);
    const [irte] = children("t/ir");
    expect([irte!.label, irte!.description]).toEqual(["IRTE[0]", "posted → 0x300000000 · from 03:00.0"]);
    expect(children("t/ir/768.0").map((f) => f.label)).toEqual(["RemapEn", "SupIOPF", "GALogIntr", "IsRun", "GuestMode", "Destination[23:0]", "GATag", "Vector", "GA Root Ptr", "Destination[31:24]"]);
  });

  it("Mapping Tables labels a table of 32-bit IRTEs (ga: false) by that format, not xAPIC", () => {
    const server = new EngineServer();
    const uri = "file:///x/ga32.passthrough.yaml";
    const text = readFileSync(join(__dirname, "..", "..", "examples", "amd-ga-vapic-irte.passthrough.yaml"), "utf8").replace("ga: true", "ga: false").replace(", posted: 0x3_0000_0000", "");
    server.handle("update", { uri, version: 1, text });
    server.handle("setCursor", { uri, step: 2 });
    const ir = server.handle("children", { uri, view: "tables", ids: ["t"], radix: "hex" })[0]!.find((n) => n.id === "t/ir")!;
    expect(ir.description).toMatch(/^@ 0x[0-9a-f]+ · 1 of \d+ present · 32-bit IRTEs$/);
  });
});

