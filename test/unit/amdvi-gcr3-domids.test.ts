// AMD-Vi GCR3 tables' domain ids on a host of several IOMMUs: Linux's setup_gcr3_table takes the
// id from pdom_id_alloc(), the one pdom_ids IDA of every IOMMU (before v6.11 domain_id_alloc()'s
// global bitmap), so no GCR3 table shares an id with another unit's table or with any protection
// domain, and the fault lines of two units never name the same domain for different tables.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runAmd as run } from "./amdvi-helpers.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";

const TWO = readFileSync(join(__dirname, "..", "..", "examples", "amd-two-ivhd-units.passthrough.yaml"), "utf8").replace('  kernel: "6.8"\n', '  kernel: "6.12"\n  kernel-params: "amd_iommu=pgtbl_v2"\n');

describe("AMD-Vi GCR3 table domain ids: one allocator for every unit", () => {
  it("two IVHDs with v2 DMA domains: GCR3 domids are distinct host-wide and from every domain id", () => {
    const r = run(TWO);
    expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
    const hosts = (r.machine.hostIommu as unknown as { hosts: AmdViHost[] }).hosts;
    const gcr3 = hosts.flatMap((h) => [...h.driver.gcr3.values()].map((g) => g.domid));
    const domains = new Set(hosts.flatMap((h) => [...h.driver.domains.keys()]));
    expect(gcr3.length).toBeGreaterThanOrEqual(4);
    expect(new Set(gcr3).size).toBe(gcr3.length);
    expect(gcr3.filter((id) => domains.has(id))).toEqual([]);
    // The two devices' faults name their own GCR3 tables' ids.
    const doms = r.machine.log.dmesg().filter((l) => l.includes("IO_PAGE_FAULT")).map((l) => /domain=(0x[0-9a-f]+)/.exec(l)![1]);
    expect(doms).toHaveLength(2);
    expect(doms[0]).not.toBe(doms[1]);
  });
});
