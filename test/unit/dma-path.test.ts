// The dma step end to end: the unit's run of transactions (translateRun) records what single
// requests record, and a step may issue several devices' transfers, interleaved, so that the
// fault recording registers see several sources at once and overflow (FSTS.PFO).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { runScenario } from "../../src/sim/run.js";
import { DmaTally, dmaTransfer, FaultFate } from "../../src/sim/vtd/unit.js";
import { F_FATE_SHIFT, Trace } from "../../src/trace/trace.js";

/** Three NICs, each behind its own ACS root port (three groups), all assigned to one VM without a vIOMMU. */
const host = (records: number) => `
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48, fault-records: ${records} }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:01.0", driver: vfio-pci }
    - { bdf: "00:02.0", kind: root-port, acs: true, secondary-bus: 2 }
    - { bdf: "02:00.0", id: "8086:1572", parent: "00:02.0", driver: vfio-pci }
    - { bdf: "00:03.0", kind: root-port, acs: true, secondary-bus: 3 }
    - { bdf: "03:00.0", id: "8086:1572", parent: "00:03.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["01:00.0", "02:00.0", "03:00.0"]
workload:
  - start: a
`;

function load(text: string): Scenario {
  const p = parseScenario(text, "t.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

/** Events of step i: [sid, fate, reason] each. */
function events(t: Trace, from: number, to: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = from; i < to; i++) out.push([t.sid[i]!, (t.flags[i]! >> F_FATE_SHIFT) & 7, t.reason[i]!]);
  return out;
}

// The PCI hole (3 GiB) is not guest RAM: nothing maps it, every transaction there faults 0x06.
const HOLE = "0xc000_0000";

describe("dma from several devices in one step", () => {
  it("parses a list of transfers, each read as a single-device step reads its keys", () => {
    const s = load(`${host(8)}  - dma:
      - { device: "01:00.0", iova: 0x1000_0000, length: 8KiB, write: true }
      - { device: "02:00.0", iova: ${HOLE}, repeat: 2 }
    expect: { faults: 2 }
`);
    const st = s.workload[1]!;
    expect(st.op).toBe("dma");
    if (st.op !== "dma") return;
    expect(st.transfers!.map((t) => [t.device, t.iova, t.length, t.write, t.repeat])).toEqual([
      ["01:00.0", 0x10000000n, 8192n, true, 1],
      ["02:00.0", 0xc0000000n, 4096n, false, 2],
    ]);
    // The step's own fields are the first transfer's (what views that show one device read).
    expect([st.device, st.iova, st.length, st.write]).toEqual(["01:00.0", 0x10000000n, 8192n, true]);
    expect(st.transfers![1]!.range.line).toBe(st.range.line + 2);
  });

  it("reports a bad transfer at its line, an unknown device at its transfer, and an empty list", () => {
    const text = `${host(8)}  - dma:
      - { device: "01:00.0", iova: 0x1000 }
      - { device: "07:00.0", iova: 0x1000, lenght: 4KiB }
  - dma: []
`;
    const d = parseScenario(text, "t.passthrough.yaml").diagnostics;
    const line = (code: string) => d.filter((x) => x.code === code).map((x) => x.range.line + 1);
    const lines = text.split("\n");
    const at = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
    expect(line("unknown-key")).toEqual([at("lenght")]);
    expect(line("dma-transfers")).toEqual([at("dma: []")]);
    const again = parseScenario(text.replace(", lenght: 4KiB", "").replace("  - dma: []\n", ""), "t.passthrough.yaml").diagnostics;
    expect(again.filter((x) => x.code === "unknown-device").map((x) => [x.range.line + 1, x.range.column + 1])).toEqual([[at("07:00.0"), 9]]);
  });

  it("interleaves the devices' transactions one by one, as they reach the IOMMU", () => {
    const s = load(`${host(8)}  - dma: [ { device: "01:00.0", iova: 0x1000_0000, length: 12KiB }, { device: "02:00.0", iova: 0x2000_0000, length: 4KiB }, { device: "03:00.0", iova: 0x3000_0000, length: 8KiB } ]\n`);
    const run = runScenario(s).run!;
    const o = run.outcomes[1]!;
    expect(o.status).toBe("ok");
    expect(o.transactions).toBe(6);
    // Guest RAM is mapped in 2 MiB pages: each device's first transaction walks, its next ones hit.
    expect(o.summary).toBe("24576 bytes read by 3 devices; 3/6 IOTLB hits");
    const [from, to] = run.trace.stepRange(1);
    expect(events(run.trace, from, to).map((e) => e[0])).toEqual([0x100, 0x200, 0x300, 0x100, 0x300, 0x100]);
    expect(o.firstHpa).toBeDefined();
  });

  it("reaches the primary fault overflow: more faulting sources in one step than fault recording registers", () => {
    const s = load(`${host(2)}  - dma: [ { device: "01:00.0", iova: ${HOLE}, length: 8KiB }, { device: "02:00.0", iova: ${HOLE}, length: 8KiB }, { device: "03:00.0", iova: ${HOLE}, length: 8KiB } ]
    expect: { fault: 0x06, faults: 6, recorded: true }
`);
    const m = new Machine(s);
    m.runStep(s.workload[0]!);
    const o = m.runStep(s.workload[1]!);
    expect(o.expect).toEqual({ pass: true, failures: [] });
    const [from, to] = [o.eventStart, o.eventEnd];
    const R = FaultFate.Recorded;
    const O = FaultFate.Overflow;
    // 01:00.0 and 02:00.0 take the two registers; 03:00.0 finds the next one busy and sets PFO; from then on every fault is dropped.
    expect(events(m.trace, from, to)).toEqual([
      [0x100, R, 6],
      [0x200, R, 6],
      [0x300, O, 6],
      [0x100, O, 6],
      [0x200, O, 6],
      [0x300, O, 6],
    ]);
    expect(m.unit.counters.overflowed).toBe(4);
    // dmar_fault() at the end of the step: FSTS with PFO (bit 0) and PPF (bit 1), then the two records.
    const log = m.log.lines.slice(o.logStart, o.logEnd).map((l) => l.text);
    expect(log[0]).toMatch(/DRHD: handling fault status reg 3$/);
    expect(log.filter((l) => /DMAR: \[DMA Read NO_PASID\] Request device \[0[12]:00\.0\]/.test(l)).length).toBe(2);
    expect(log.some((l) => l.includes("[03:00.0]"))).toBe(false);
  });

  it("one device alone never overflows: its later faults are compressed into its pending record", () => {
    const s = load(`${host(2)}  - dma: { device: "01:00.0", iova: ${HOLE}, length: 16KiB }\n`);
    const run = runScenario(s).run!;
    const [from, to] = run.trace.stepRange(1);
    expect(events(run.trace, from, to).map((e) => e[1])).toEqual([FaultFate.Recorded, FaultFate.Compressed, FaultFate.Compressed, FaultFate.Compressed]);
  });
});

describe("the unit's run of transactions", () => {
  it("records exactly what one translate() per transaction records, for any transfer and split into runs", () => {
    // Transfers around the end of the VM's 1 GiB of RAM (translated, then faulting) and into the interrupt range.
    const s = load(`${host(4)}  - map: { vm: a, iova: 0xfee0_0000, size: 4KiB }\n`);
    fc.assert(
      fc.property(
        fc.record({
          page: fc.integer({ min: 0x3fff0, max: 0x40010 }).map((p) => BigInt(p) * 4096n),
          off: fc.nat(4095),
          length: fc.integer({ min: 1, max: 40_000 }),
          write: fc.boolean(),
          repeat: fc.integer({ min: 1, max: 3 }),
          dev: fc.constantFrom(0x100, 0x200, 0x300),
          cuts: fc.array(fc.nat(100), { maxLength: 4 }),
          interrupt: fc.boolean(),
        }),
        (c) => {
          const iova = (c.interrupt ? 0xfedff000n : c.page) + BigInt(c.off);
          const a = new Machine(s);
          const b = new Machine(s);
          for (const m of [a, b]) m.runStep(s.workload[0]!);
          const x = dmaTransfer(c.dev, iova, BigInt(c.length), c.write, c.repeat);
          const total = x.pages * x.repeat;
          // a: the run, cut into pieces at random points.
          const tally = new DmaTally();
          const cuts = [0, ...c.cuts.map((k) => k % (total + 1)).sort((p, q) => p - q), total];
          for (let k = 0; k + 1 < cuts.length; k++) a.unit.translateRun(x, cuts[k]!, cuts[k + 1]!, a.trace, 7, tally);
          // b: one translate() per transaction, the events as the dma step wrote them before translateRun.
          const ref: number[][] = [];
          let faults = 0;
          let bytes = 0;
          for (let r = 0; r < c.repeat; r++)
            for (let p = 0; p < x.pages; p++) {
              const at = (iova & ~0xfffn) + BigInt(p) * 4096n + (p === 0 ? BigInt(x.startOff) : 0n);
              const code = b.unit.translate(c.dev, Number(at >> 32n), Number(at & 0xffffffffn), c.write);
              ref.push([code, b.unit.level, b.unit.did, b.unit.fate, b.unit.kind, b.unit.iotlbHit ? 1 : 0, code === 0 ? b.unit.hpaLo : 0]);
              if (code !== 0) faults++;
              else bytes += p === 0 ? Math.min(4096 - x.startOff, c.length) : Math.min(4096, c.length + x.startOff - p * 4096);
            }
          const got: number[][] = [];
          const t = a.trace;
          for (let i = t.length - total; i < t.length; i++) got.push([t.reason[i]!, t.level[i]!, t.did[i]!, (t.flags[i]! >> 3) & 7, t.flags[i]! >> 6, (t.flags[i]! >> 1) & 1, t.bLo[i]!]);
          expect(got).toEqual(ref);
          expect([tally.transactions, tally.faults, tally.bytes]).toEqual([total, faults, bytes]);
          expect(a.unit.counters).toEqual(b.unit.counters);
          expect(a.unit.regs).toEqual(b.unit.regs);
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 60) },
    );
  });
});
