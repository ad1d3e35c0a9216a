import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { runScenario } from "../../src/sim/run.js";
import type { GuestViommu } from "../../src/sim/viommu.js";
import { Trace } from "../../src/trace/trace.js";
import type { VtdHostSnapshot } from "../../src/sim/vtd/host.js";

const examplesDir = join(__dirname, "..", "..", "examples");

function load(text: string): Scenario {
  const p = parseScenario(text, "test.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

function example(name: string): Scenario {
  return load(readFileSync(join(examplesDir, name), "utf8"));
}

const HOST = `
host:
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48, fault-records: 4 }
  pci:
    - { bdf: "00:01.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", name: NIC, parent: "00:01.0", driver: vfio-pci }
vms:
  - name: a
    memory: 1GiB
    devices: ["01:00.0"]
    viommu: { model: intel, caching-mode: true }
`;

/** A long workload mixing every kind of step, so checkpoints and replays cross all of them. */
function mixedWorkload(steps: number): string {
  const lines = ["workload:", "  - start: a"];
  for (let i = 0; i < steps; i++) {
    const iova = `0x${(0x100000 + (i % 7) * 0x10000).toString(16)}`;
    switch (i % 6) {
      case 0:
        lines.push(`  - guest-map: { vm: a, device: "01:00.0", iova: ${iova}, size: 8KiB, gpa: 0x${(0x200000 + i * 0x2000).toString(16)} }`);
        break;
      case 1:
      case 2:
        lines.push(`  - dma: { device: "01:00.0", iova: ${iova}, length: 12KiB, write: ${i % 2 === 0}, repeat: 3 }`);
        break;
      case 3:
        lines.push(`  - guest-unmap: { vm: a, device: "01:00.0", iova: ${iova}, size: 8KiB, invalidate: ${i % 4 !== 3} }`);
        break;
      case 4:
        lines.push(`  - poke: { target: { device: "01:00.0", structure: pte, iova: 0x100000 }, value: 0x${(0x1000 * i + 3).toString(16)} }`);
        break;
      case 5:
        lines.push(`  - invalidate: { granularity: ${i % 12 === 5 ? "global" : "context-global"} }`);
        break;
    }
  }
  return HOST + lines.join("\n") + "\n";
}

function fingerprint(m: Machine) {
  const s = m.snapshot();
  // The host IOMMU's snapshot is the model's own shape (a VT-d host here: sim/vtd/host.ts).
  const v = s.iommu as VtdHostSnapshot;
  return {
    clock: s.clock,
    memory: m.mem.contents(),
    regs: Array.from(v.unit.regs),
    iotlb: Array.from(v.unit.iotlb.slots),
    cc: v.unit.cc,
    driver: v.driver,
    log: m.log.lines.map((l) => l.text),
    // A guest vIOMMU's state by content, as the host's: its tables in guest memory, its registers and QEMU's shadow.
    vms: s.vms.map(({ viommu, ...v }) => ({ ...v, ...(viommu && "driver" in viommu ? { viommu: { driver: viommu.driver, regs: Array.from(viommu.unit.regs), shadow: viommu.shadow, rids: viommu.rids, written: viommu.written } } : {}) })),
    guestTables: [...m.vms.values()].map((vm) => (vm.viommu as GuestViommu | undefined)?.mem.contents()),
  };
}

describe("runs", () => {
  it("are deterministic: the same text gives the same trace, byte for byte", () => {
    const text = mixedWorkload(60);
    const a = runScenario(load(text)).run!;
    const b = runScenario(load(text)).run!;
    expect(a.trace.length).toBeGreaterThan(100);
    expect(b.trace.columns()).toEqual(a.trace.columns());
    expect(b.log.map((l) => l.text)).toEqual(a.log.map((l) => l.text));
  });

  it("rebuild the exact machine state before any step from checkpoints", () => {
    const text = mixedWorkload(40);
    const run = runScenario(load(text)).run!;
    expect(run.checkpoints.count).toBeGreaterThan(2);
    for (const n of [0, 1, 7, 8, 9, 17, 25, 33, run.outcomes.length]) {
      // Reference: a fresh machine that runs steps 0..n-1 from boot.
      const scenario = load(text);
      const fresh = new Machine(scenario);
      for (let i = 0; i < n; i++) fresh.runStep(scenario.workload[i]!);
      expect(fingerprint(run.machineBefore(n)), `state before step ${n}`).toEqual(fingerprint(fresh));
    }
    // Backwards after forwards: still exact.
    const late = fingerprint(run.machineBefore(30));
    run.machineBefore(3);
    expect(fingerprint(run.machineBefore(30))).toEqual(late);
  });

  it("keep the trace at most 32 bytes per event and tie each event to its step", () => {
    const run = runScenario(load(mixedWorkload(30))).run!;
    expect(Trace.BYTES_PER_EVENT).toBeLessThanOrEqual(32);
    for (const o of run.outcomes) {
      for (let i = o.eventStart; i < o.eventEnd; i++) expect(run.trace.step[i]).toBe(o.step);
    }
  });

  it("stop at a cancellation request between steps", () => {
    let polls = 0;
    const run = runScenario(load(mixedWorkload(30)), { cancelled: () => ++polls > 5 }).run!;
    expect(run.outcomes).toHaveLength(5);
    expect(run.stoppedEarly).toBe("cancelled");
  });
});

describe("hot-plug", () => {
  it("a device_add that fails to pin guest RAM leaves no trace of the device in the VM", () => {
    const text =
      HOST.replace("memory: 16GiB", "memory: 16GiB\n  memlock: 64KiB").replace('    devices: ["01:00.0"]\n    viommu: { model: intel, caching-mode: true }\n', "") +
      'workload:\n  - start: a\n  - assign: { vm: a, device: "01:00.0" }\n    expect: { errno: ENOMEM }\n  - dma: { device: "01:00.0", iova: 0x1000 }\n    expect: { fault: 0x06 }\n';
    const run = runScenario(load(text)).run!;
    expect(run.failedExpectations).toEqual([]);
    const vm = run.machine.vmState("a")!;
    expect(vm.devices).toEqual([]);
    expect(vm.container).toBeUndefined();
    expect(vm.groups.size).toBe(0);
    expect(run.log.some((l) => l.text === "vfio_pin_pages_remote: RLIMIT_MEMLOCK (65536) exceeded")).toBe(true);
  });
});

describe("what the host prints", () => {
  it("renders a write fault as the current kernel's dmar_fault() line", () => {
    const run = runScenario(example("write-to-readonly.passthrough.yaml")).run!;
    const dmesg = run.machine.log.dmesg().filter((l) => l.includes("DMAR"));
    expect(dmesg).toHaveLength(2);
    expect(dmesg[0]).toMatch(/^\[ {4}\d\.\d{6}\] DMAR: DRHD: handling fault status reg 2$/);
    expect(dmesg[1]).toMatch(/^\[ {4}\d\.\d{6}\] DMAR: \[DMA Write NO_PASID\] Request device \[03:00\.0\] fault addr 0xfff01000 \[fault reason 0x05\] PTE Write access is not set$/);
  });

  it("renders the same fault in the 4.x two-line-free format and the 5.5 PASID ffffffff format", () => {
    const base = readFileSync(join(examplesDir, "write-to-readonly.passthrough.yaml"), "utf8");
    const v47 = runScenario(load(base.replace("memory: 32GiB", 'memory: 32GiB\n  kernel: "4.19"'))).run!;
    expect(v47.machine.log.dmesg().at(-1)).toMatch(/DMAR: \[DMA Write\] Request device \[03:00\.0\] fault addr fff01000 \[fault reason 05\] PTE Write access is not set$/);
    const v510 = runScenario(load(base.replace("memory: 32GiB", 'memory: 32GiB\n  kernel: "5.10"'))).run!;
    expect(v510.machine.log.dmesg().at(-1)).toMatch(/DMAR: \[DMA Write\] Request device \[03:00\.0\] PASID ffffffff fault addr fff01000 \[fault reason 05\] PTE Write access is not set$/);
  });

  it("prints the PASID form from v5.4 on (Ubuntu 20.04's 5.4.0 kernels)", () => {
    // "iommu/vt-d: Add Scalable Mode fault information" went into v5.4 (verified in a 5.4.228 tree).
    const base = readFileSync(join(examplesDir, "write-to-readonly.passthrough.yaml"), "utf8");
    const v54 = runScenario(load(base.replace("memory: 32GiB", 'memory: 32GiB\n  kernel: "5.4.0-150-generic"'))).run!;
    expect(v54.machine.log.dmesg().at(-1)).toMatch(/DMAR: \[DMA Write\] Request device \[03:00\.0\] PASID ffffffff fault addr fff01000 \[fault reason 05\] PTE Write access is not set$/);
  });

  it("ratelimits a fault storm: 10 lines per 5 s, then 'dmar_fault: N callbacks suppressed'", () => {
    const text =
      HOST.replace("viommu: { model: intel, caching-mode: true }", "") +
      `workload:\n  - start: a\n` +
      Array.from({ length: 20 }, (_, i) => `  - dma: { device: "01:00.0", iova: 0x${(0x80000000 + i * 0x1000).toString(16)} }\n`).join("") +
      `  - wait: 6s\n  - dma: { device: "01:00.0", iova: 0x90000000 }\n`;
    const run = runScenario(load(text)).run!;
    const dmar = run.machine.log.dmesg().filter((l) => /DMAR|dmar_fault/.test(l)).map((l) => l.replace(/^\[[^\]]*\] /, ""));
    // v4.19+ calls __ratelimit() for the DRHD line, for each record, and once more for the loop
    // iteration that finds no further record: 3 calls per interrupt, 60 in all. The burst of 10
    // prints 3 interrupts fully plus a 4th DRHD line; the other 50 calls are reported after the wait.
    expect(dmar.slice(0, 7).filter((l) => l.startsWith("DMAR: DRHD"))).toHaveLength(4);
    expect(dmar[7]).toBe("dmar_fault: 50 callbacks suppressed");
    expect(dmar[8]).toBe("DMAR: DRHD: handling fault status reg 2");
    expect(dmar).toHaveLength(10);
  });

  it("explains a non-viable group the way QEMU does", () => {
    const run = runScenario(example("non-viable-group.passthrough.yaml")).run!;
    const vmm = run.log.filter((l) => l.source === "vmm").map((l) => l.text);
    expect(vmm[0]).toMatch(/^qemu-system-x86_64: -device vfio-pci,host=0000:01:00\.0: vfio 0000:01:00\.0: group \d+ is not viable$/);
    expect(vmm[1]).toBe("qemu-system-x86_64: Please ensure all devices within the iommu_group are bound to their vfio bus driver.");
    expect(run.outcomes[0]!.summary).toContain("01:00.1");
  });
});
