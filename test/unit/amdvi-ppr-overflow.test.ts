// AMD-Vi PPR log overflow: a full PPR log sets Status.PPROverflow and stops the log (PPRLogRun = 0);
// the request is discarded (no event, no response). Linux v6.6 on answers what was logged, then
// restarts the log (amd_iommu_restart_ppr_log: "AMD-Vi: IOMMU PPR log restarting"); before v6.6
// the PPR overflow bit is not in AMD_IOMMU_INT_MASK and the log stays stopped.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { firstSteps, runAmd as run } from "./amdvi-helpers.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { MMIO_STATUS_OFFSET, STATUS_PPR_OVERFLOW, STATUS_PPR_RUN } from "../../src/sim/amdvi/defs.js";
import { handlesPprOverflow, logOverflowLine } from "../../src/sim/amdvi/dmesg.js";
import { parseLog } from "../../src/import/dmesg.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-ppr-overflow.passthrough.yaml"), "utf8");

const status = (r: ReturnType<typeof run>) => Number((r.machine.hostIommu as AmdViHost).unit.readReg(MMIO_STATUS_OFFSET));

describe("AMD-Vi PPR log overflow", () => {
  it("examples/amd-ppr-overflow: 511 page requests logged, the 512th overflows, the log is restarted with Linux's line (6.8)", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    const host = r.machine.hostIommu as AmdViHost;
    expect(host.unit.counters.pprLost).toBe(3);
    expect(r.machine.log.dmesg().filter((l) => l.includes("PPR log"))).toHaveLength(1);
    expect(r.machine.log.dmesg().some((l) => l.endsWith("] AMD-Vi: IOMMU PPR log restarting"))).toBe(true);
    // Restarted: running again, no overflow pending; no event reached the event log.
    expect(status(r) & (STATUS_PPR_OVERFLOW | STATUS_PPR_RUN)).toBe(STATUS_PPR_RUN);
    expect(r.machine.log.dmesg().filter((l) => l.includes("Event logged"))).toEqual([]);
  });

  it("the full log: PPROverflow set, PPRLogRun cleared, head/tail 511 entries apart, three requests lost", () => {
    const r = run(firstSteps(EXAMPLE, 2));
    const host = r.machine.hostIommu as AmdViHost;
    expect(status(r) & (STATUS_PPR_OVERFLOW | STATUS_PPR_RUN)).toBe(STATUS_PPR_OVERFLOW);
    expect(host.unit.pendingPageRequests()).toHaveLength(511);
    expect(host.unit.counters.pageRequests).toBe(511);
    expect(host.unit.counters.pprLost).toBe(3);
    // The 512th page (0x1ff000) is not in the log; the 511th is its last entry.
    const addrs = host.unit.pendingPageRequests().map((e) => e.raw[1]);
    expect(addrs[510]).toBe(0x7f00_001f_e000n);
    expect(addrs).not.toContain(0x7f00_001f_f000n);
  });

  it("kernel 6.1: the log is polled but never restarted: no line, and a later page request is lost too", () => {
    const r = run(EXAMPLE.replace('kernel: "6.8"', 'kernel: "6.1"'));
    const host = r.machine.hostIommu as AmdViHost;
    const failures = r.outcomes.flatMap((o) => o.expect?.failures ?? []);
    // The second page-response answers nothing, so the last DMA (expect ok) faults.
    expect(failures.length).toBeGreaterThan(0);
    expect(r.machine.log.dmesg().filter((l) => l.includes("log restarting") || l.includes("log overflow"))).toEqual([]);
    expect(status(r) & STATUS_PPR_RUN).toBe(0);
    expect(host.unit.counters.pprLost).toBe(5);
  });

  it("the line per generation: v6.6 on the restart line for the PPR and the event log, before it the event log's overflow line", () => {
    expect(handlesPprOverflow("6.5")).toBe(false);
    expect(handlesPprOverflow("6.6")).toBe(true);
    expect(logOverflowLine("PPR", "6.6.0")).toBe("AMD-Vi: IOMMU PPR log restarting");
    expect(logOverflowLine("Event", "6.12")).toBe("AMD-Vi: IOMMU Event log restarting");
    expect(logOverflowLine("Event", "5.15")).toBe("AMD-Vi: IOMMU event log overflow");
  });

  it("ppr-interrupt on a VT-d host is an error that names the AMD-Vi option", () => {
    const p = parseScenario(EXAMPLE.replace("model: amd-vi, address-width: 48, host-pass-through: true, ppr-interrupt: false, ats: [{ device: \"02:00.0\", pri: true }]", "model: intel-vtd, ppr-interrupt: false"), "x.passthrough.yaml");
    expect(p.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)).toContain("ppr-interrupt is an AMD-Vi option (the PPR log's interrupt thread)");
  });

  it("the dmesg importer reads the restart line of each log", () => {
    const recs = parseLog("[ 12.5] AMD-Vi: IOMMU PPR log restarting\n[ 12.6] AMD-Vi: IOMMU Event log restarting\n").records;
    expect(recs.map((x) => x.fields.event)).toEqual(["PPR_LOG_OVERFLOW", "EVENT_LOG_OVERFLOW"]);
  });
});
