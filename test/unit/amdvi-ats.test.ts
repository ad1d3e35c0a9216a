// AMD-Vi ATS: Linux's device IOTLB flushes (iommu.c __domain_flush_pages -> device_flush_iotlb ->
// build_inv_iotlb_pages) raised through the command buffer, the DTE's I bit (DTE_FLAG_IOTLB), and
// the IOTLB_INV_TIMEOUT event the unit raises when the device never completes the invalidation
// (event layout: device id, the system physical address of the command that timed out).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { runScenario } from "../../src/sim/run.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { invIotlbPages } from "../../src/sim/amdvi/driver.js";

const example = () => {
  const f = join(__dirname, "..", "..", "examples", "amd-ats-inv-timeout.passthrough.yaml");
  return readFileSync(f, "utf8");
};

describe("ATS on an AMD-Vi host", () => {
  it("build_inv_iotlb_pages: devid and queue depth in data[0], devid and opcode 4 in data[1], build_inv_address without PDE", () => {
    const [lo, hi] = invIotlbPages(0x4100, 32, 0x40_0000_0000n, 2n << 20n);
    expect(lo).toBe(0x4100n | (32n << 24n) | (0x4100n << 32n) | (4n << 60n));
    // 2 MiB at 0x40_0000_0000: address bits 12..19 set, bit 20 clear (size 2^21), S = 1.
    expect(hi).toBe(0x40_000f_f001n);
  });

  it("examples/amd-ats-inv-timeout: the unmap's INVALIDATE_IOTLB_PAGES times out, and the event names the command's address", () => {
    const { run } = runScenario(parseScenario(example(), "x").scenario!);
    expect(run!.outcomes.map((o) => o.expect?.failures ?? [])).toEqual([[], [], [], [], []]);
    const line = run!.machine.log.dmesg().find((l) => l.includes("IOTLB_INV_TIMEOUT"))!;
    const m = /\] iommu ivhd0: AMD-Vi: Event logged \[IOTLB_INV_TIMEOUT device=0000:41:00\.0 address=0x([0-9a-f]+)\]$/.exec(line);
    expect(m).not.toBeNull();
    const at = parseInt(m![1]!, 16);
    const mem = run!.machine.mem;
    expect([mem.readU64(at), mem.readU64(at + 8)]).toEqual(invIotlbPages(0x4100, 32, 0x40_0000_0000n, 2n << 20n));
  });

  it("sets DTE I only for the ATS device; a device that responds gets the flush and no event", () => {
    const text = example().replace("responds: false }]", "responds: true }]");
    const { run } = runScenario(parseScenario(text, "x").scenario!);
    const m = run!.machine;
    expect(m.log.dmesg().some((l) => l.includes("IOTLB_INV_TIMEOUT"))).toBe(false);
    const host = m.hostIommu as AmdViHost;
    const dte1 = (devid: number) => m.mem.readU64(host.driver.deviceTable + devid * 32 + 8)!;
    expect((dte1(0x4100) >> 32n) & 1n).toBe(1n);
    expect((dte1(0x4009) >> 32n) & 1n).toBe(0n);
  });

  it("ats names host devices; ats on VT-d needs device-iotlb (ECAP.DT)", () => {
    const bad = parseScenario(example().replace('ats: [{ device: "41:00.0", responds: false }]', 'ats: ["42:00.0"]'), "x.passthrough.yaml");
    expect(bad.diagnostics.find((d) => d.severity === "error")?.message).toMatch(/ATS device 42:00\.0 is not a device in host.pci/);
    const v = parseScenario("host:\n  iommu:\n    model: intel-vtd\n    ats: []\n", "x").diagnostics.filter((d) => d.severity === "error");
    // VT-d has ATS endpoints too now (docs/vtd-device-tlb.md), on a unit with ECAP.DT.
    expect(v[0]!.message).toMatch(/ats needs a unit with device-TLB support \(ECAP\.DT\)/);
  });
});
