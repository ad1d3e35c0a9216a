// The AMD-Vi GA log (guest virtual APIC log): an MSI to a GuestMode IRTE whose vCPU is not running
// (IsRun = 0, GALogIntr = 1) writes a GA_GUEST_NR entry with the IRTE's GATag (Linux
// amd_iommu_types.h GA_TAG / GA_DEVID / GA_REQ_TYPE) and raises GAInt; the GA log thread
// (iommu_poll_ga_log) hands the tag to KVM's avic_ga_log_notifier. A full log overflows
// (GALogOverflow, the log stopped) and each kernel generation handles that as it does
// (af47b0a24058 "iommu/amd: Handle GALog overflows", v6.4 / 6.3.7; amd_iommu_restart_log, v6.6).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { CONTROL_GAINT_EN, CONTROL_GALOG_EN, MMIO_CONTROL_OFFSET, MMIO_GA_HEAD_OFFSET, MMIO_GA_LOG_BASE_OFFSET, MMIO_GA_TAIL_OFFSET, MMIO_STATUS_OFFSET, STATUS_GALOG_OVERFLOW } from "../../src/sim/amdvi/defs.js";
import { gaOverflowHandling } from "../../src/sim/amdvi/dmesg.js";
import { tableChildren } from "../../src/engine/trees/tables.js";
import { EventKind } from "../../src/trace/trace.js";
import { firstSteps, runAmd } from "./amdvi-helpers.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-ga-log.passthrough.yaml"), "utf8");
const host = (r: ReturnType<typeof runAmd>) => r.machine.hostIommu as AmdViHost;
const failures = (r: ReturnType<typeof runAmd>) => r.outcomes.flatMap((o) => o.expect?.failures ?? []);
const lines = (r: ReturnType<typeof runAmd>) => r.machine.log.dmesg().map((l) => l.replace(/^\[[ \d.]+\] /, "")).filter((l) => l.includes("GA "));
const withKernel = (text: string, k: string) => text.replace('kernel: "6.8"', `kernel: "${k}"`);
/** The example's first 4 steps (the IRTE with IsRun = 0) and then `msi` steps of these counts. */
const bursts = (counts: number[], kernel = "6.8") => withKernel(firstSteps(EXAMPLE, 4), kernel) + counts.map((n) => `  - msi: { device: "03:00.0", index: 0, count: ${n} }\n`).join("");

describe("AMD-Vi GA log", () => {
  it("examples/amd-ga-log: doorbell while running, a GA log entry when not, the overflow and v6.6's restart line", () => {
    const r = runAmd(EXAMPLE);
    expect(failures(r)).toEqual([]);
    expect(lines(r)).toEqual(["AMD-Vi: IOMMU GA log restarting"]);
  });

  it("Linux programs the GA log at boot in GA mode (iommu_ga_log_enable): 512 entries, GAIntEn and GALogEn; not in legacy mode", () => {
    const u = host(runAmd(firstSteps(EXAMPLE, 1))).unit;
    const base = u.readReg(MMIO_GA_LOG_BASE_OFFSET);
    expect(base >> 56n).toBe(8n); // GA_LOG_SIZE_512
    expect(u.gaLogBytes).toBe(4096);
    const ctrl = u.readReg(MMIO_CONTROL_OFFSET);
    expect([(ctrl >> BigInt(CONTROL_GALOG_EN)) & 1n, (ctrl >> BigInt(CONTROL_GAINT_EN)) & 1n]).toEqual([1n, 1n]);
    const legacy = host(runAmd(firstSteps(EXAMPLE, 1).replace("ga: true", "ga: false"))).unit;
    expect(legacy.readReg(MMIO_GA_LOG_BASE_OFFSET)).toBe(0n);
  });

  it("the entry's bytes: GATag 31:0, DeviceID 47:32, GA_GUEST_NR in 63:60; the thread read it (head = tail) and KVM's notifier got the tag", () => {
    const r = runAmd(firstSteps(EXAMPLE, 5));
    const u = host(r).unit;
    expect(r.machine.mem.readU64(u.gaLogBase)).toBe(0x202n | (0x0300n << 32n) | (1n << 60n));
    expect(u.readReg(MMIO_GA_TAIL_OFFSET)).toBe(8n);
    expect(u.readReg(MMIO_GA_HEAD_OFFSET)).toBe(8n);
    expect(r.outcomes[4]!.summary).toContain("GA log interrupt: iommu_poll_ga_log read 1 entry, GA_GUEST_NR GATag 0x202 (vm_id=0x1, vcpu_id=0x2: wakes vCPU id 2 of the VM with AVIC id 1) handed to KVM's avic_ga_log_notifier");
    // No line for it: the GA_GUEST_NR path prints only pr_debug.
    expect(lines(r)).toEqual([]);
  });

  it("the trace: the interrupt row's target is the GA log entry it wrote (the doorbell's: the backing page)", () => {
    const r = runAmd(firstSteps(EXAMPLE, 5));
    const t = r.machine.trace;
    const rows = [];
    for (let i = 0; i < t.length; i++) if (t.kind[i] === EventKind.Interrupt) rows.push(t.bHi[i]! * 2 ** 32 + t.bLo[i]!);
    expect(rows).toEqual([0x3_0000_0000, host(r).unit.gaLogBase]);
  });

  it("Mapping Tables lists the GA log through the contract, each entry decoded; an entry the thread has not read is pending", () => {
    const r = runAmd(firstSteps(EXAMPLE, 5));
    // One more MSI without its interrupt thread: written, not yet read.
    r.machine.hostIommu.interrupts!.msi(0x0300, 0xfee00000, 0);
    const scenario = parseScenario(firstSteps(EXAMPLE, 5), "x.passthrough.yaml").scenario!;
    const ctx = { machine: r.machine, run: r, scenario, cursor: r.outcomes.length, radix: "hex" as const };
    const node = tableChildren("t", ctx)!.find((n) => n.id === "t/log/ga")!;
    expect(node.label).toBe("GA log");
    expect(node.description).toMatch(/^2 of 512 slots used · 1 pending @ 0x[0-9a-f]+$/);
    const entries = tableChildren("t/log/ga", ctx)!;
    expect(entries.map((e) => [e.label, e.description])).toEqual([
      ["[0] GA_GUEST_NR 03:00.0 GATag 0x202", "read"],
      ["[1] GA_GUEST_NR 03:00.0 GATag 0x202", "pending"],
    ]);
    expect(tableChildren("t/log/ga/0", ctx)!.map((f) => `${f.label}=${f.description}`)).toEqual(["GATag=0x202 (vm_id=0x1, vcpu_id=0x2) · [31:0] = 0x202", "DeviceID=0x300 (03:00.0) · [47:32] = 0x300", "Type=1 (GA_GUEST_NR: an interrupt for a vCPU that is not running)"]);
  });

  it("Linux before af47b0a24058 (6.1): the overflow is never cleared - no line, the log stays stopped, later interrupts are lost", () => {
    const r = runAmd(bursts([600, 1], "6.1"));
    expect(lines(r)).toEqual([]);
    expect(Number(host(r).unit.readReg(MMIO_STATUS_OFFSET)) & STATUS_GALOG_OVERFLOW).toBe(STATUS_GALOG_OVERFLOW);
    expect(r.outcomes[5]!.notified).toBe(false);
    expect(r.outcomes[5]!.summary).toContain("the GA log is stopped (GALogOverflow; this kernel never clears it)");
    const scenario = parseScenario(bursts([600, 1], "6.1"), "x.passthrough.yaml").scenario!;
    const ctx = { machine: r.machine, run: r, scenario, cursor: r.outcomes.length, radix: "hex" as const };
    expect(tableChildren("t", ctx)!.find((n) => n.id === "t/log/ga")!.description).toMatch(/ · stopped$/);
  });

  for (const k of ["6.4", "6.5", "6.3.7", "6.1.33"]) {
    it(`Linux ${k} (af47b0a24058): "IOMMU GA Log overflow" then amd_iommu_restart_ga_log's "IOMMU GA Log restarting"; the next interrupt is logged`, () => {
      const r = runAmd(bursts([600, 1], k));
      expect(lines(r)).toEqual(["AMD-Vi: IOMMU GA Log overflow", "AMD-Vi: IOMMU GA Log restarting"]);
      expect(r.outcomes[5]!.notified).toBe(true);
    });
  }

  it("generations: 6.3 none, 6.3.7, 6.1.33 and 6.4-6.5 restart-ga (5.15.116 none: its stable queue took only the GATag fix), 6.6 on restart-log", () => {
    expect(["5.15", "5.15.116", "6.1", "6.1.32", "6.1.33", "6.3", "6.3.6", "6.3.7", "6.4", "6.5", "6.6", "6.8", "6.12"].map(gaOverflowHandling)).toEqual(["none", "none", "none", "none", "restart-ga", "none", "none", "restart-ga", "restart-ga", "restart-ga", "restart-log", "restart-log", "restart-log"]);
  });

  it("property: n back-to-back MSIs to a vCPU not running log min(n, 511) entries; a notification iff n <= 511; v6.6's restart line iff the log overflowed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1100 }), (n) => {
        const r = runAmd(bursts([n]));
        const o = r.outcomes[4]!;
        expect(o.notified).toBe(n <= 511);
        expect(o.summary).toContain(`iommu_poll_ga_log read ${Math.min(n, 511) === 1 ? "1 entry" : `${Math.min(n, 511)} entries`}`);
        expect(lines(r)).toEqual(n > 511 ? ["AMD-Vi: IOMMU GA log restarting"] : []);
        expect(host(r).unit.counters.gaLost ?? 0).toBe(Math.max(0, n - 511));
      }),
      { numRuns: 12, seed: 0x6a },
    );
  });

  it("scenario input: running / ga-tag need posted; on a VT-d host they are refused, and so is count", () => {
    const bad = parseScenario(EXAMPLE.replace("vcpu: 2, running: false }", "running: false }").replace(", posted: 0x3_0000_0000, running: false", ", running: false"), "x.passthrough.yaml");
    const d = bad.diagnostics.find((x) => x.message.includes('"running" is a field of an AMD-Vi guest virtual APIC IRTE'));
    expect(d?.severity).toBe("error");
    expect(d?.hint).toMatch(/posted: ADDR/);
    expect(d?.range.line).toBeGreaterThan(0);
    const vtd = runAmd(readFileSync(join(__dirname, "..", "..", "examples", "irte-not-present.passthrough.yaml"), "utf8").replace(/\nworkload:\n[\s\S]*$/, "\nworkload:\n") + '  - irte: { device: "01:00.0", index: 3, vector: 0x41, destination: 2, posted: 0x1000_0040, running: false }\n  - msi: { device: "01:00.0", index: 3, count: 2 }\n');
    expect(vtd.outcomes.map((o) => o.error)).toEqual(["intremap-config", "intremap-config"]);
    expect(vtd.outcomes[0]!.summary).toMatch(/"running" is a field of AMD-Vi's guest virtual APIC IRTE/);
  });
});

describe("AMD-Vi GA log: KVM's GALogIntr per kernel", () => {
  const preemptedToo = (kernel: string, extra = "") =>
    withKernel(firstSteps(EXAMPLE, 4), kernel).replace("vcpu: 2, running: false }", `vcpu: 2, running: false${extra} }`) + '  - msi: { device: "03:00.0", index: 0 }\n';

  it("before 6.17 every guest-mode IRTE has GALogIntr = 1, a preempted vCPU's too (its MSI is a GA log entry); from 6.17 only a blocked vCPU's (b9e53f9ff4a8, b03500f03ea0)", () => {
    for (const [kernel, running, blocked, preempted] of [
      ["6.16", 1, 1, 1],
      ["6.8", 1, 1, 1],
      ["6.17", 0, 1, 0],
      ["6.19", 0, 1, 0],
    ] as const) {
      const gaLogIntr = (s: string) => Number(/GALogIntr = (\d)/.exec(s)![1]);
      const b = runAmd(preemptedToo(kernel));
      expect([gaLogIntr(b.outcomes[1]!.summary), gaLogIntr(b.outcomes[3]!.summary)]).toEqual([running, blocked]);
      const p = runAmd(preemptedToo(kernel, ", preempted: true"));
      expect(gaLogIntr(p.outcomes[3]!.summary)).toBe(preempted);
      // The IRTE's low qword as the unit reads it: GALogIntr is bit 2.
      const at = BigInt(/at HPA (0x[0-9a-f]+)/.exec(p.outcomes[3]!.summary)![1]!);
      expect(Number((p.machine.mem.readU64(Number(at))! >> 2n) & 1n)).toBe(preempted);
      // The MSI after it: a GA log entry (and KVM's wake-up) only with GALogIntr.
      expect(host(p).unit.readReg(MMIO_GA_TAIL_OFFSET)).toBe(preempted ? 8n : 0n);
      expect(p.outcomes[4]!.summary).toContain(preempted ? "GA log interrupt" : "GALogIntr = 0: no notification");
    }
    expect(runAmd(preemptedToo("6.17", ", preempted: true")).outcomes[3]!.summary).toContain("vCPU preempted (GuestMode = 1, IsRun = 0, GALogIntr = 0): its interrupts are only posted to the vAPIC backing page, no GA log entry");
  });

  it("scenario input: preempted needs posted and running: false", () => {
    const diag = (text: string) => parseScenario(text, "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(diag(preemptedToo("6.17").replace("vcpu: 2, running: false }", "vcpu: 2, preempted: true }"))).toEqual(['"preempted" describes a vCPU that is not running']);
    expect(diag(preemptedToo("6.17").replace("posted: 0x3_0000_0000, vcpu: 2, running: false }", "vcpu: 2, running: false, preempted: true }")).some((m) => m.includes('"preempted" is a field of an AMD-Vi guest virtual APIC IRTE'))).toBe(true);
  });
});
