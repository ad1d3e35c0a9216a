// AMD-Vi PPR: a PRI device's page request for a not-present v2 page goes to the PPR log (the entry
// layout Linux's ppr.c reads: PPR_DEVID, PPR_PASID1/2, PPR_TAG, PPR_FLAGS, PPR_REQ_TYPE), the
// driver's PPR handler (amd_iommu_poll_ppr_log -> iommu_call_iopf_notifier -> the SVA fault
// handler) maps the page and answers COMPLETE_PPR (build_complete_ppr), and the device retries.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { MMIO_PPR_LOG_OFFSET } from "../../src/sim/amdvi/defs.js";
import { amdCommands as commands } from "./amdvi-helpers.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-ppr-page-request.passthrough.yaml"), "utf8");
const DEV = 0x0200;

function run(text: string) {
  const p = parseScenario(text, "x.passthrough.yaml");
  expect(p.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return runScenario(p.scenario!).run!;
}

/** The example up to (and with) its first `n` workload items. */
function firstSteps(n: number): string {
  const parts = EXAMPLE.split(/\n(?=  - )/);
  return parts.slice(0, n + 1).join("\n") + "\n";
}

describe("AMD-Vi page requests (PPR)", () => {
  it("examples/amd-ppr-page-request: the not-present pages are faulted in by page requests, an unknown page is refused, and nothing reaches dmesg", () => {
    const r = run(EXAMPLE);
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    expect(r.machine.log.dmesg().filter((l) => l.includes("AMD-Vi: Event logged"))).toEqual([]);
    const host = r.machine.hostIommu as AmdViHost;
    expect(host.unit.counters.pageRequests).toBe(3);
    // Linux zeroes each entry it read and moves the head to the tail.
    expect(host.unit.pendingPageRequests()).toEqual([]);
  });

  it("the PPR log entry: type 1, GN | US | WRITE, PASID, the group's last tag bit, the page address; the DTE has PPR", () => {
    const r = run(firstSteps(1));
    const host = r.machine.hostIommu as AmdViHost;
    const dte0 = r.machine.mem.readU64(host.driver.deviceTable + DEV * 32)!;
    expect((dte0 >> 52n) & 1n).toBe(1n);
    // A page request the driver has not serviced yet: drop the handler and write to a lazy page.
    host.unit.pageRequest = undefined;
    expect(host.unit.translate(DEV, 0x7f00, 0x1234, true, false, 9)).toBe(2);
    const base = Number(host.unit.readReg(MMIO_PPR_LOG_OFFSET) & 0x000ffffffffff000n);
    const [e] = host.unit.pendingPageRequests();
    expect(e!.at).toBe(base);
    const [r0, r1] = e!.raw;
    expect(Number(r0 & 0xffffn)).toBe(DEV);
    expect(Number((r0 >> 16n) & 0xffffn)).toBe(9);
    expect(Number((r0 >> 32n) & 0x3ffn)).toBe(0x200);
    expect(Number((r0 >> 48n) & 0xfffn)).toBe(0x100 | 0x040 | 0x020);
    expect(Number(r0 >> 60n)).toBe(1);
    expect(r1).toBe(0x7f00_0000_1000n);
    // No event: the translation request completed without access.
    expect(host.unit.pendingEvents()).toEqual([]);
  });

  it("COMPLETE_PPR answers with the PASID, GN, the tag without its last bit and the status: success, then invalid", () => {
    const r = run(EXAMPLE);
    const ppr = commands(r).filter(([lo]) => lo >> 60n === 7n);
    expect(ppr).toHaveLength(3);
    const status = ppr.map(([lo, hi]) => {
      expect(Number(lo & 0xffffn)).toBe(DEV);
      expect(Number((lo >> 32n) & 0xfffffn)).toBe(9);
      expect(hi & 0xffffffffn).toBe(4n);
      expect(Number((hi >> 32n) & 0x200n)).toBe(0);
      return Number((hi >> 44n) & 0xfn);
    });
    expect(status).toEqual([0, 0, 1]);
  });

  it("without PRI the same request is an IO_PAGE_FAULT with GN, logged and printed", () => {
    const r = run(EXAMPLE.replace(', ats: [{ device: "02:00.0", pri: true }]', "").replace("    expect: { ok: true }\n  - dma: { device: \"02:00.0\", pasid: 9, iova: 0x7f00_0000_1000, length: 8KiB }", "    expect: { fault: 0x2, recorded: true }\n  - dma: { device: \"02:00.0\", pasid: 9, iova: 0x7f00_0000_1000, length: 8KiB }"));
    expect(r.outcomes[2]!.expect?.failures).toEqual([]);
    expect(r.machine.log.dmesg().some((l) => l.endsWith("idxd 0000:02:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0009 address=0x7f0000001000 flags=0x0021]"))).toBe(true);
  });
});
