// SMMUv3 SubstreamIDs (PASIDs): Linux's CD tables per master (arm_smmu_alloc_cd_tables: linear up to
// CTXDESC_L2_ENTRIES 1024 CDs, else 2-level with 64 KiB leaves), bind-pasid as
// arm_smmu_s1_set_dev_pasid writes it, DMA and ATS Translation Requests with a PASID, ATC entries
// tagged by SubstreamID and invalidated by CMD_ATC_INV with SSV, Page Requests with the PASID.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { C_BAD_SUBSTREAMID, F_TRANSLATION } from "../../src/sim/smmuv3/spec.js";
import { DeviceAtc, atcInvCommand } from "../../src/sim/smmuv3/ats.js";
import { EventKind } from "../../src/trace/trace.js";
import { explainWalk } from "../../src/engine/walk.js";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";

const FILE = "examples/smmuv3-pasid-ats.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

function run(text: string) {
  const parsed = parseScenario(text, FILE);
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const m = new Machine(parsed.scenario!);
  const outs = m.scenario.workload.map((s) => m.runStep(s));
  return { m, outs, host: m.hostIommu as SmmuV3Host };
}

const invalidates = (m: Machine, step: number) => {
  const [a, b] = m.trace.stepRange(step);
  return Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Invalidate).map((r) => [r.a, r.b]);
};

describe("SMMUv3 PASIDs", () => {
  it("the example passes its expectations; the STE holds a 2-level CD table (S1Fmt 0b10, S1CDMax 16) and CD 5 sits in the first leaf", () => {
    const { m, outs, host } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true, true, true]);
    const sid = 0x100;
    const steAt = host.driver.steAddress(sid, false)!;
    const w0 = m.mem.readU64(steAt)!;
    expect(Number((w0 >> 4n) & 3n)).toBe(2); // S1Fmt 64K_L2
    expect(Number((w0 >> 59n) & 31n)).toBe(16); // S1CDMax
    const l1 = Number(w0 & 0x000fffffffffffc0n);
    // 65536 CDs / 1024 per leaf = 64 L1CDs; only the first leaf was made (SubstreamIDs 0 and 5 are in it).
    const l1cds = Array.from({ length: 64 }, (_, i) => m.mem.readU64(l1 + i * 8)!);
    expect(l1cds.map((d) => Number(d & 1n))).toEqual([1, ...Array<number>(63).fill(0)]);
    expect(host.driver.cdAddress(sid, 5, false)).toBe(Number(l1cds[0]! & 0x000ffffffffff000n) + 5 * 64);
    // The PRI queue entry of the failed Translation Request carried SSID_V and SubstreamID 5; Linux answered with SSV.
    expect(host.unit.priResponses).toEqual([{ sid, ssid: 5, grpid: 0, resp: 0 }]);
    expect(m.log.lines.map((l) => l.text)).toContain("arm-smmu-v3 arm-smmu-v3.0.auto: \tsid 0x00000100.0x00005: [0L] unprivileged W access at iova 0x0000000030000000");
  });

  it("bind-pasid writes the domain's CD at the SubstreamID and syncs it (CMD_CFGI_CD with SSID 5, leaf); unbind clears it and sends CMD_ATC_INV with SSV and SSID 5", () => {
    const { m } = run(example);
    const bind = invalidates(m, 1);
    expect(bind).toContainEqual([0x05n | (0x100n << 32n) | (5n << 12n), 1n]);
    const unbind = invalidates(m, 5);
    // CMD_ATC_INV 0x40: SID 0x100, SSID 5, SSV (bit 11), G clear; Size 52 (everything).
    expect(unbind).toContainEqual([0x40n | (0x100n << 32n) | (5n << 12n) | (1n << 11n), 52n]);
  });

  it("ATC entries are tagged by SubstreamID: PASID 5's fill does not answer a request without PASID", () => {
    const { host } = run(example.replace(/  - unbind-pasid[\s\S]*$/, ""));
    expect(host.unit.atc.entries.map((e) => [e.sid, e.ssid, e.iova])).toEqual([[0x100, 5, 0x1000_0000]]);
    // Without a PASID the RID's CD (substream 0) translates 0x1000_0000: guest RAM is at 0x4000_0000, so it is not mapped there.
    host.unit.atsDma(0x100, 0, 0x1000_0000, true, -1);
    expect(host.unit.atcHit).toBe(false);
    host.unit.atsDma(0x100, 0, 0x1000_0000, true, 5);
    expect(host.unit.atcHit).toBe(true);
  });

  it("a SubstreamID whose L1CD is invalid is C_BAD_SUBSTREAMID, and the walk shows the L1CD that stopped it", () => {
    const { m } = run(example);
    // PASID 0x400 is in the second leaf, never made: its L1CD has V = 0.
    const w = explainWalk(m, 0x100, 0x1000_0000n, false, 0x400);
    expect(w.reason).toBe(C_BAD_SUBSTREAMID);
    expect(w.stages.map((s) => s.name)).toEqual(["L1STD", "STE", "L1CD"]);
    expect(w.stages.at(-1)!.index).toBe(1);
    expect(w.stages.at(-1)!.stop).toMatch(/^C_BAD_SUBSTREAMID: the L1CD 1 of SubstreamID 1024 is invalid/);
    expect(w.cause).toBe("not-present");
    // PASID 5 before unbinding: L1CD 0, then CD named by its SubstreamID.
    const { m: m2 } = run(example.replace(/  - unbind-pasid[\s\S]*$/, ""));
    const ok = explainWalk(m2, 0x100, 0x1000_0000n, true, 5);
    expect(ok.reason).toBe(0);
    expect(ok.stages.slice(0, 4).map((s) => `${s.name}[${s.indexText}]`)).toEqual(["L1STD[01]", "STE[0x100]", "L1CD[0]", "CD[5]"]);
  });

  it("a linear CD table when the master has at most 1024 SubstreamIDs, and Mapping Tables lists the PASID's CD", () => {
    const { m, host } = run(example.replace("substream-id-bits: 16", "substream-id-bits: 4").replace(/  - unbind-pasid[\s\S]*$/, ""));
    const w0 = m.mem.readU64(host.driver.steAddress(0x100, false)!)!;
    expect([Number((w0 >> 4n) & 3n), Number((w0 >> 59n) & 31n)]).toEqual([0, 4]);
    const ctx = m.iommu.tables();
    const l1 = ctx.root.children().find((n) => n.key === "01")!;
    const ste = l1.children().find((n) => n.label === "STE[0x100]")!;
    expect(ste.children().map((n) => n.label)).toEqual([expect.stringMatching(/^CD \(ASID \d+\)$/), expect.stringMatching(/^CD\[0x5\] \(ASID \d+\)$/)]);
  });

  it("a PASID the device has not got, or beyond substream-id-bits, is an error with a hint", () => {
    const noCap = parseScenario(example.replace('pasid: ["01:00.0"], ', ""), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(noCap.map((d) => d.message)).toContain("DMA with PASID 0x5, but 01:00.0 has no PASID capability on this SMMUv3 host");
    expect(noCap[0]!.hint).toMatch(/host\.iommu\.pasid/);
    const narrow = parseScenario(example.replace("substream-id-bits: 16", "substream-id-bits: 2"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(narrow.map((d) => d.message)).toContain("PASID 0x5 does not fit the SMMU's 2-bit SubstreamIDs (SMMU_IDR1.SSIDSIZE)");
    const none = parseScenario(example.replace("substream-id-bits: 16, ", ""), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(none.map((d) => d.message)).toContain("PASID devices need SubstreamIDs, but host.iommu.substream-id-bits is 0");
  });

  it("property: CMD_ATC_INV as Linux builds it (arm_smmu_atc_inv_to_cmd) drops exactly the entries of its SubstreamID in its range; without SSV every SubstreamID's", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ ssid: fc.integer({ min: -1, max: 3 }), page: fc.integer({ min: 0, max: 63 }) }), { maxLength: 12 }), fc.integer({ min: -1, max: 3 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 16 }), (fills, ssid, first, pages) => {
        const atc = new DeviceAtc();
        for (const f of fills) atc.fill({ sid: 7, ssid: f.ssid, iova: f.page * 4096, size: 4096, pa: 0x1000_0000 + f.page * 4096, perm: 3 });
        const before = atc.snapshot();
        const [w0, w1] = atcInvCommand(7, ssid, first * 4096, pages * 4096);
        atc.invalidate(w0, w1);
        for (const e of before) {
          const inRange = e.iova < (first + pages) * 4096 && e.iova + e.size > first * 4096;
          const mine = ssid < 0 || e.ssid === ssid;
          const kept = atc.entries.some((x) => x.ssid === e.ssid && x.iova === e.iova);
          // Linux's span is a power of two aligned to itself: it may drop more, never less.
          if (inRange && mine) expect(kept).toBe(false);
          if (!mine) expect(kept).toBe(true);
        }
      }),
      { numRuns: 300, seed: 17 },
    );
  });

  it("dma with a PASID the CD table does not enable faults F_TRANSLATION through its own CD, recorded with SSV", () => {
    const text = example.replace(/workload:[\s\S]*$/, `workload:
  - start: arm01
  - bind-pasid: { device: "01:00.0", pasid: 5, mode: second-level, maps: [ { va: 0x1000_0000, size: 4KiB, perm: r } ] }
  - dma: { device: "01:00.0", pasid: 5, iova: 0x2000_0000, length: 4KiB, write: false }
    expect: { fault: 0x10, pasid: 5 }
`);
    const { m, outs } = run(text);
    expect(outs.at(-1)!.expect!.pass).toBe(true);
    expect(outs.at(-1)!.fault).toBe(F_TRANSLATION);
    expect(m.log.lines.map((l) => l.text)).toContain("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x5 iova: 0x20000000 ipa: 0x0");
  });

  it("Mapping Tables shows the PRI queue: its entry with the PASID, decoded from its bytes, and the line Linux printed for it", () => {
    const sess = new Session("pasid.passthrough.yaml");
    sess.update(example);
    sess.setCursor(sess.outcomes.length);
    const ctx = { machine: sess.machineAtCursor()!, run: sess.run!, scenario: sess.scenario!, cursor: sess.cursor.step, radix: "hex" as const };
    const top = treeChildren("tables", "t", ctx)!;
    const q = top.find((n) => n.id === "t/priq")!;
    expect(q.label).toBe("PRI queue");
    expect(q.description).toMatch(/^1 of 128 slots used @ 0x[0-9a-f]+$/);
    const [e] = treeChildren("tables", "t/priq", ctx)!;
    expect(e!.label).toBe("[0] 01:00.0 PASID 0x5 W 0x30000000");
    expect(e!.description).toBe("PRG 0 (last)");
    expect(e!.tooltip).toContain("sid 0x00000100.0x00005: [0L] unprivileged W access at iova 0x0000000030000000");
    const fields = treeChildren("tables", "t/priq/0", ctx)!.map((n) => `${n.label}=${n.description ?? ""}`);
    expect(fields).toEqual(expect.arrayContaining(["SID=0x100 · [31:0] = 0x100", "SSID=0x5 · [51:32] = 0x5", "PERM_WRITE=1 (set)", "PRG_LAST=1 (last request of the group: answered with CMD_PRI_RESP)", "SSID_V=1 (SubstreamID valid)", "ADDR=0x30000000 · [127:76] = 0x30000000"]));
  });
});
