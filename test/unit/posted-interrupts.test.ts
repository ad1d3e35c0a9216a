// VT-d posted interrupts (src/sim/vtd/posted.ts, the posted branch of intremap.ts): the posting
// operation against a reference written here from VT-d 5.2.3, CAP.PI and IRTE.IM, KVM's descriptor
// updates (posted-descriptor), expect.notification, the descriptor in Mapping Tables and in the
// trail, and the scenario's errors.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EngineServer } from "../../src/engine/server.js";
import { parseScenario } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/types.js";
import { Machine } from "../../src/sim/machine.js";
import { PhysicalMemory } from "../../src/sim/memory.js";
import { encodeIrte, InterruptRemapper, remappableMsiAddress } from "../../src/sim/vtd/intremap.js";
import { encodePid, kvmNdst, postInterrupt, PostResult, readPid } from "../../src/sim/vtd/posted.js";

function load(text: string): Scenario {
  const p = parseScenario(text, "t.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return p.scenario;
}

const host = (iommu: string, steps: string) => `
host:
  memory: 16GiB
  kernel: "6.8"
  iommu: { model: intel-vtd, address-width: 48, intremap: true${iommu} }
  pci:
    - { bdf: "00:1c.0", kind: root-port, acs: true, secondary-bus: 1 }
    - { bdf: "01:00.0", id: "8086:1572", parent: "00:1c.0", driver: vfio-pci }
workload:
${steps}`;

function run(text: string) {
  const m = new Machine(load(text));
  const outs = m.scenario.workload.map((st) => m.runStep(st));
  return { m, outs, kernel: m.log.lines.filter((l) => l.source === "kernel").map((l) => l.text) };
}

const PDA = 0x3f000040;

describe("posting into the descriptor (VT-d 5.2.3), against a reference", () => {
  it("sets PIR[vector], and ON with a notification only when ON was clear and (URG or not SN); nothing else changes", () => {
    const qword = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    fc.assert(
      fc.property(fc.array(qword, { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (before, vector, urgent) => {
        const mem = new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 4, dramBytes: 2 ** 32 });
        before.forEach((w, i) => mem.writeU64(PDA + i * 8, w));
        const r = new PostResult();
        postInterrupt(mem, PDA, vector, urgent, r);
        // Reference: the spec's operation on the 512-bit descriptor as one bigint.
        let d = before.reduce((acc, w, i) => acc | (w << BigInt(64 * i)), 0n);
        const bit = (b: number) => ((d >> BigInt(b)) & 1n) === 1n;
        const wasPending = bit(vector);
        const on = bit(256);
        const sn = bit(257);
        d |= 1n << BigInt(vector);
        const notify = !on && (urgent || !sn);
        if (notify) d |= 1n << 256n;
        const after = readPid(mem, BigInt(PDA))!;
        expect(after).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => (d >> BigInt(64 * i)) & ((1n << 64n) - 1n)));
        expect(r.ok).toBe(true);
        expect(r.notified).toBe(notify);
        expect(r.alreadyPending).toBe(wasPending);
        expect(r.onWasSet).toBe(on);
        expect(r.suppress).toBe(sn);
        expect(r.nv).toBe(Number((d >> 272n) & 0xffn));
        expect(r.ndst).toBe(Number((d >> 288n) & 0xffffffffn));
      }),
      { numRuns: 300 },
    );
  });

  it("a descriptor outside memory is not written and says so", () => {
    const mem = new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 4, dramBytes: 2 ** 30 });
    const r = new PostResult();
    postInterrupt(mem, 2 ** 31, 0x41, false, r);
    expect(r.ok).toBe(false);
    expect(r.notified).toBe(false);
  });

  it("KVM's NDST: the APIC id in x2APIC mode, id << 8 in xAPIC mode (vmx_vcpu_pi_load)", () => {
    expect(kvmNdst(3, true)).toBe(3);
    expect(kvmNdst(3, false)).toBe(0x300);
    expect(kvmNdst(0x1ff, false)).toBe(0xff00);
  });
});

describe("IRTE.IM and CAP.PI", () => {
  function remapper(pi: boolean, lo: bigint, hi: bigint) {
    const mem = new PhysicalMemory({ poolBase: 0x10000000, poolMaxPages: 64, dramBytes: 2 ** 32 });
    const base = mem.allocPage();
    mem.writeU64(base + 5 * 16, lo);
    mem.writeU64(base + 5 * 16 + 8, hi);
    mem.writeU64(PDA + 32, BigInt(encodePid({ nv: 0xf2, ndst: 7 })[4]!));
    const ir = new InterruptRemapper(mem);
    ir.pi = pi;
    ir.setTable(BigInt(base) | 7n);
    return { ir, mem };
  }
  it("a posted-format entry posts with CAP.PI and is a reserved-field fault (0x24) without it", () => {
    const [lo, hi] = encodeIrte({ present: true, vector: 0x41, sid: 0x100, posted: { pda: BigInt(PDA) } }, true);
    const yes = remapper(true, lo, hi);
    expect(yes.ir.remap(0x100, remappableMsiAddress(5, false), 0, false, false, true)).toBe(0);
    expect(yes.ir.posted).toBe(true);
    expect(yes.ir.post.notified).toBe(true);
    expect(readPid(yes.mem, BigInt(PDA))![1]).toBe(1n << 1n); // PIR bit 0x41 = qword 1, bit 1
    const no = remapper(false, lo, hi);
    expect(no.ir.remap(0x100, remappableMsiAddress(5, false), 0, false, false, true)).toBe(0x24);
    expect(readPid(no.mem, BigInt(PDA))![1]).toBe(0n);
  });
  it("a probe (explain) posts nothing", () => {
    const [lo, hi] = encodeIrte({ present: true, vector: 0x41, sid: 0x100, posted: { pda: BigInt(PDA) } }, true);
    const { ir, mem } = remapper(true, lo, hi);
    expect(ir.remap(0x100, remappableMsiAddress(5, false), 0, false, true, true)).toBe(0);
    expect(readPid(mem, BigInt(PDA))![1]).toBe(0n);
    expect(ir.postAttempted).toBe(false);
  });
});

const steps = `  - start: a
  - posted-descriptor: { address: 0x3f000040, vcpu: running, cpu: 3 }
  - irte: { device: "01:00.0", index: 32, vector: 0x41, posted: 0x3f000040 }
  - msi: { device: "01:00.0", index: 32 }
`;
const vm = `vms:\n  - { name: a, memory: 1GiB, devices: ["01:00.0"] }\n`;

describe("posted interrupts in a scenario", () => {
  it("KVM's descriptor states: running notifies with 0xf2, ON coalesces, sync takes PIR, preempted suppresses, urgent overrides SN, blocked wakes with 0xf1", () => {
    const { outs } = run(
      host(", eim: true, posted-interrupts: true", "") +
        steps +
        `  - msi: { device: "01:00.0", index: 32 }
  - posted-descriptor: { address: 0x3f000040, vcpu: running, cpu: 3, sync: true }
  - posted-descriptor: { address: 0x3f000040, vcpu: preempted }
  - msi: { device: "01:00.0", index: 32 }
  - irte: { device: "01:00.0", index: 32, vector: 0x42, posted: 0x3f000040, urgent: true }
  - msi: { device: "01:00.0", index: 32 }
  - posted-descriptor: { address: 0x3f000040, vcpu: blocked, cpu: 5, sync: true }
  - msi: { device: "01:00.0", index: 32 }
` +
        vm,
    );
    expect(outs.map((o) => o.status)).toEqual(Array(12).fill("ok"));
    expect(outs.map((o) => o.notified)).toEqual([undefined, undefined, undefined, true, false, undefined, undefined, false, undefined, true, undefined, true]);
    expect(outs[3]!.summary).toContain("PIR[0x41] set; ON set, notification vector 0xf2 (POSTED_INTR_VECTOR) to x2APIC 3");
    expect(outs[4]!.summary).toContain("was already set (coalesced); no notification (ON already set: one is outstanding)");
    expect(outs[5]!.summary).toContain("the vCPU took vector 0x41 from PIR and cleared ON");
    expect(outs[7]!.summary).toContain("no notification (SN = 1: suppressed, IRTE not urgent)");
    expect(outs[9]!.summary).toContain("PIR[0x42] set; ON set, notification vector 0xf2");
    // Blocked + sync: ON was set by the urgent MSI, so the vCPU took 0x41 and 0x42; the wakeup vector follows.
    expect(outs[10]!.summary).toContain("took vectors 0x41, 0x42");
    expect(outs[11]!.summary).toContain("notification vector 0xf1 (POSTED_INTR_WAKEUP_VECTOR) to x2APIC 5");
  });

  it("xAPIC mode: NDST holds the APIC id in bits 15:8, and the notification names the id", () => {
    const { outs } = run(host(", posted-interrupts: true", steps) + vm);
    expect(outs[1]!.summary).toContain("NDST 0x300");
    expect(outs[3]!.summary).toContain("notification vector 0xf2 (POSTED_INTR_VECTOR) to APIC 3");
  });

  it("expect: { notification } checks the outcome and names what happened", () => {
    const { outs } = run(host(", posted-interrupts: true", steps + "    expect: { ok: true, notification: false }\n") + vm);
    expect(outs[3]!.expect?.pass).toBe(false);
    expect(outs[3]!.expect?.failures).toEqual(["expected no notification event, one was sent"]);
  });

  it("without CAP.PI the posted IRTE faults 0x24 with Linux's line, and the scenario is warned", () => {
    const text = host("", steps) + vm;
    const d = parseScenario(text, "t.passthrough.yaml").diagnostics.find((x) => x.code === "intremap-config");
    expect(d?.severity).toBe("warning");
    expect(d?.message).toContain("CAP.PI = 0");
    expect(d?.range.line).toBe(text.split("\n").findIndex((l) => l.includes("irte:")));
    const { outs, kernel } = run(text);
    expect(outs[3]!.fault).toBe(0x24);
    expect(kernel).toContain("DMAR: [INTR-REMAP] Request device [01:00.0] fault index 0x20 [fault reason 0x24] Detected reserved fields in the IRTE entry");
  });

  it("explain() shows the IRTE and the descriptor (PID) as the trail, and the delivered verdict says what posting did", () => {
    const { m } = run(host(", eim: true, posted-interrupts: true", steps) + vm);
    const t = m.iommu.explain({ sid: 0x100, iova: BigInt(remappableMsiAddress(32, false)), write: true, data: 0 });
    expect(t.verdict.interrupt).toMatchObject({ format: "posted", vector: 0x41, descriptor: BigInt(PDA) });
    expect(t.verdict.interrupt?.posting).toBeUndefined(); // a probe posts nothing
    expect(t.trail.entries.map((e) => [e.kind, e.name])).toEqual([["irte", "IRTE"], ["posted-descriptor", "PID"]]);
    const f = Object.fromEntries(t.trail.entries[1]!.fields.map((x) => [x.name, x.value]));
    expect(f).toMatchObject({ PIR: "0x41", ON: "1", SN: "0", NV: "0xf2", NDST: "0x3" });
    const v = m.iommu.translate({ sid: 0x100, iova: BigInt(remappableMsiAddress(32, false)), write: true, data: 0 });
    expect(v.interrupt?.posting).toEqual({ written: true, coalesced: true, notified: false, withheld: "outstanding", notificationVector: 0xf2, notificationDestination: 3 });
  });

  it("Mapping Tables: the posted IRTE has its descriptor as a child, decoded from memory", () => {
    const server = new EngineServer();
    const uri = "file:///x/p.passthrough.yaml";
    const text = readFileSync(join(__dirname, "..", "..", "examples", "posted-interrupts.passthrough.yaml"), "utf8");
    server.handle("update", { uri, version: 1, text });
    server.handle("setCursor", { uri, step: 4 });
    const children = (id: string) => server.handle("children", { uri, view: "tables", ids: [id], radix: "hex" })[0]!;
    const [irte] = children("t/ir");
    expect(irte!.description).toBe("posted → 0x3f000040 · from 01:00.0");
    const kids = children("t/ir/32");
    const pid = kids.find((n) => n.id === "t/ir/32/pid")!;
    expect(pid.label).toBe("Posted-interrupt descriptor");
    expect(pid.description).toBe("@ 0x3f000040 · PIR 0x41 · ON · NV 0xf2 → APIC 3");
    expect(children("t/ir/32/pid").map((n) => n.label)).toEqual(["PIR", "ON", "SN", "NV", "NDST"]);
  });
});

describe("posted-descriptor: bad input", () => {
  const diag = (s: string) => parseScenario(host(", posted-interrupts: true", s) + vm, "t.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
  it("a misaligned descriptor, one beyond host memory, an unknown vCPU state, at the value", () => {
    const mis = diag("  - posted-descriptor: { address: 0x3f000044 }\n");
    expect(mis[0]?.message).toBe("the posted-interrupt descriptor address must be 64-byte aligned");
    expect(mis[0]?.range.column).toBeGreaterThan(20);
    expect(diag("  - posted-descriptor: { address: 0x800000000 }\n")[0]?.message).toContain("is beyond host memory");
    expect(diag("  - posted-descriptor: { address: 0x3f000040, vcpu: sleeping }\n")[0]?.code).toBeDefined();
    expect(diag("  - posted-descriptor: { vcpu: running }\n")[0]?.message).toContain("address");
  });
  it("posted-interrupts without intremap is an error", () => {
    const d = parseScenario(host("", "").replace("intremap: true", "intremap: false, posted-interrupts: true"), "t.passthrough.yaml").diagnostics;
    expect(d.find((x) => x.severity === "error")?.message).toBe("host.iommu.posted-interrupts needs host.iommu.intremap");
  });
});
