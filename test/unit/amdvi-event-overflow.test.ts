// AMD-Vi event log overflow: a full event log sets Status.EventOverflow and stops the log
// (EventLogRun = 0); the event and every later one are discarded until software clears the bit and
// writes EventLogEn 0 then 1. Linux's reaction per generation: none before 5ce97f4ec5e0 (the log
// stays stopped, silently), "IOMMU event log overflow" and the restart from v5.17 (and its stable
// backports), "IOMMU Event log restarting" from v6.6 (amd_iommu_restart_log).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runAmd as run } from "./amdvi-helpers.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { CONTROL_EVT_LOG_EN, MMIO_CONTROL_OFFSET, MMIO_STATUS_OFFSET, STATUS_EVT_OVERFLOW, STATUS_EVT_RUN } from "../../src/sim/amdvi/defs.js";
import { eventOverflowHandling } from "../../src/sim/amdvi/dmesg.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-event-log-overflow.passthrough.yaml"), "utf8");
const withKernel = (k: string) => EXAMPLE.replace('kernel: "6.8"', `kernel: "${k}"`);
const host = (r: ReturnType<typeof run>) => r.machine.hostIommu as AmdViHost;
const status = (r: ReturnType<typeof run>) => Number(host(r).unit.readReg(MMIO_STATUS_OFFSET));
const failures = (r: ReturnType<typeof run>) => r.outcomes.flatMap((o) => o.expect?.failures ?? []);
const overflowLines = (r: ReturnType<typeof run>) => r.machine.log.dmesg().filter((l) => / log (restarting|overflow)$/.test(l));

describe("AMD-Vi event log overflow", () => {
  it("examples/amd-event-log-overflow (6.8): 511 events logged, 3 lost, the log restarted with Linux's line, the next fault recorded", () => {
    const r = run(EXAMPLE);
    expect(failures(r)).toEqual([]);
    const c = host(r).unit.counters;
    expect(c.faults).toBe(515);
    expect(c.logged).toBe(512);
    expect(c.overflowed).toBe(3);
    expect(overflowLines(r)).toHaveLength(1);
    expect(overflowLines(r)[0]).toMatch(/\] AMD-Vi: IOMMU Event log restarting$/);
    expect(status(r) & (STATUS_EVT_OVERFLOW | STATUS_EVT_RUN)).toBe(STATUS_EVT_RUN);
    // The later fault's line, after the ratelimit's interval.
    expect(r.machine.log.dmesg().at(-1)).toMatch(/vfio-pci 0000:03:00\.0: AMD-Vi: Event logged \[IO_PAGE_FAULT domain=0x0003 address=0x4000000000 flags=0x0020\]$/);
  });

  it("kernel 5.4 (before the recovery commit): no line, EventOverflow stays set, the log stays stopped and the later fault is lost", () => {
    const r = run(withKernel("5.4"));
    expect(failures(r)).toEqual(["expected the fault to be recorded, it was not recorded"]);
    expect(overflowLines(r)).toEqual([]);
    expect(status(r) & (STATUS_EVT_OVERFLOW | STATUS_EVT_RUN)).toBe(STATUS_EVT_OVERFLOW);
    expect(host(r).unit.counters.overflowed).toBe(4);
    expect(host(r).unit.counters.logged).toBe(511);
  });

  it("kernel 6.1 (v5.17-v6.5): 'IOMMU event log overflow', then EventLogEn off and on: the log runs again", () => {
    const r = run(withKernel("6.1"));
    expect(failures(r)).toEqual([]);
    expect(overflowLines(r).map((l) => l.replace(/^\[[^\]]*\] /, ""))).toEqual(["AMD-Vi: IOMMU event log overflow"]);
    expect(status(r) & (STATUS_EVT_OVERFLOW | STATUS_EVT_RUN)).toBe(STATUS_EVT_RUN);
  });

  it("the stable backports: 5.15.27 and 5.10.104 restart the log, 5.15.26 does not", () => {
    expect(failures(run(withKernel("5.15.27")))).toEqual([]);
    expect(failures(run(withKernel("5.10.104")))).toEqual([]);
    expect(failures(run(withKernel("5.15.26")))).toHaveLength(1);
  });

  it("eventOverflowHandling per kernel version", () => {
    expect(["4.19", "5.4", "5.10.103", "5.15.26", "5.16", "5.16.12"].map(eventOverflowHandling)).toEqual(Array(6).fill("none"));
    expect(["5.10.104", "5.15.27", "5.16.13", "5.17", "6.1", "6.5.9"].map(eventOverflowHandling)).toEqual(Array(6).fill("restart"));
    expect(["6.6", "6.8", "6.12"].map(eventOverflowHandling)).toEqual(Array(3).fill("restart-log"));
  });

  it("the unit: a stopped log restarts only on EventLogEn 0 -> 1 with EventOverflow cleared; rewriting Control with EventLogEn = 1 does not", () => {
    const r = run(withKernel("5.4"));
    const u = host(r).unit;
    const ctrl = u.readReg(MMIO_CONTROL_OFFSET);
    u.writeReg(MMIO_CONTROL_OFFSET, ctrl);
    expect(Number(u.readReg(MMIO_STATUS_OFFSET)) & STATUS_EVT_RUN).toBe(0);
    // 0 -> 1 alone: running, but EventOverflow still set stops new entries.
    u.writeReg(MMIO_CONTROL_OFFSET, ctrl & ~(1n << BigInt(CONTROL_EVT_LOG_EN)));
    u.writeReg(MMIO_CONTROL_OFFSET, ctrl);
    expect(Number(u.readReg(MMIO_STATUS_OFFSET)) & STATUS_EVT_RUN).toBe(STATUS_EVT_RUN);
    const before = u.counters.logged;
    u.translate(0x300, 0x40, 0, true);
    expect(u.counters.logged).toBe(before);
    u.writeReg(MMIO_STATUS_OFFSET, BigInt(STATUS_EVT_OVERFLOW));
    u.translate(0x300, 0x40, 0, true);
    expect(u.counters.logged).toBe(before + 1);
  });

  it("amd_iommu_restart_log does nothing while EventLogRun is 1", () => {
    const r = run(EXAMPLE);
    expect(host(r).driver.restartLog("Event")).toBe(false);
  });
});
