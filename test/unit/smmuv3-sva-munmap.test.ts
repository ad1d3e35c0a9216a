// SVA munmap on SMMUv3: the process bound to a PASID (bind-pasid sva: true) unmaps part of its
// address space; its PTEs go and the SVA mmu notifier (arm-smmu-v3-sva.c
// arm_smmu_mm_arch_invalidate_secondary_tlbs, arm_smmu_mm_invalidate_range before v6.6) sends
// CMD_TLBI_NH_VA per page (LEAF clear) or, from CMDQ_MAX_TLBI_OPS pages on (v6.6+), one
// CMD_TLBI_NH_ASID, then CMD_ATC_INV of the ATS attachments. sva-invalidation: false is the what-if
// where nothing reaches the SMMU: its TLB keeps the unmapped page.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { CMD_SYNC, CMD_TLBI_NH_ASID, CMD_TLBI_NH_VA } from "../../src/sim/smmuv3/spec.js";
import { CMD_ATC_INV } from "../../src/sim/smmuv3/ats.js";
import { runSmmuScenario } from "./smmuv3-helpers.js";

const FILE = "examples/smmuv3-sva-munmap.passthrough.yaml";
const STALE = "examples/smmuv3-sva-stale-tlb.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");
const stale = readFileSync(join(__dirname, "..", "..", STALE), "utf8");
const field = (w: bigint, hi: number, lo: number) => Number((w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
const VA = 0x7f12_3456_0000n;

/** Runs the scenario up to (not including) its first munmap, then the munmap with the driver's submissions recorded. */
function munmapCommands(text: string) {
  const parsed = parseScenario(text, FILE);
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const { m, host } = runSmmuScenario(text.replace(/  - munmap[\s\S]*$/, ""), FILE);
  const st = parsed.scenario!.workload.find((s) => s.op === "munmap")!;
  const sent: [bigint, bigint][] = [];
  const submit = host.driver.submit.bind(host.driver);
  host.driver.submit = (cmds, sync = true) => {
    sent.push(...cmds);
    if (sync) sent.push([BigInt(CMD_SYNC), 0n]);
    return submit(cmds, sync);
  };
  const out = m.runStep(st);
  const asid = host.driver.domains.find((d) => d.sva === true)!.asid;
  return { out, sent, asid, m, host };
}

describe("SMMUv3 SVA munmap and the mmu notifier", () => {
  it("both examples pass their expectations", () => {
    expect(runSmmuScenario(example, FILE).outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true, true, true, true, true]);
    expect(runSmmuScenario(stale, STALE).outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual([true, true, true, true]);
  });

  it("a one-page munmap: CMD_TLBI_NH_VA with the SVA domain's ASID, the page and LEAF clear, CMD_SYNC, then CMD_ATC_INV with SSV and SubstreamID 5, CMD_SYNC", () => {
    const { sent, asid, out } = munmapCommands(example);
    expect(out.status).not.toBe("error");
    expect(sent.map(([w0]) => field(w0, 7, 0))).toEqual([CMD_TLBI_NH_VA, CMD_SYNC, CMD_ATC_INV, CMD_SYNC]);
    const [tlbi, , atc] = sent;
    expect(field(tlbi![0], 63, 48)).toBe(asid);
    expect(field(tlbi![0], 47, 32)).toBe(0); // no VMID: a stage-1 domain
    expect(tlbi![1]).toBe(VA); // ADDR, LEAF (bit 0) clear: arm_smmu_tlb_inv_range_asid(..., leaf = false)
    expect([field(atc![0], 63, 32), field(atc![0], 11, 11), field(atc![0], 31, 12)]).toEqual([0x100, 1, 5]);
    expect(atc![1]).toBe(VA); // the page, log2 span 0
    expect(out.summary).toContain("CMD_TLBI_NH_VA, CMD_ATC_INV");
  });

  it("three pages: three CMD_TLBI_NH_VA (PAGE_SIZE steps) in one batch; the ATC invalidation spans them", () => {
    const { sent } = munmapCommands(example.replace("size: 4KiB }\n    expect: ok", "size: 12KiB }\n    expect: ok"));
    expect(sent.map(([w0]) => field(w0, 7, 0))).toEqual([CMD_TLBI_NH_VA, CMD_TLBI_NH_VA, CMD_TLBI_NH_VA, CMD_SYNC, CMD_ATC_INV, CMD_SYNC]);
    expect(sent.slice(0, 3).map(([, w1]) => w1)).toEqual([VA, VA + 0x1000n, VA + 0x2000n]);
    expect(field(sent[4]![1], 5, 0)).toBe(2); // 4 pages cover 0..2, aligned
  });

  it("512 pages (CMDQ_MAX_TLBI_OPS on 4 KiB pages) or more: one CMD_TLBI_NH_ASID and a whole-ATC CMD_ATC_INV on v6.6+ and the stable backports (6.5.6, 6.1.56, 5.15.134); v6.5 sends 512 CMD_TLBI_NH_VA", () => {
    const big = example.replace("size: 16KiB, perm: rw", "size: 2MiB, perm: rw").replace("size: 4KiB }\n    expect: ok", "size: 2MiB }\n    expect: ok");
    const now = munmapCommands(big);
    expect(now.sent.map(([w0]) => field(w0, 7, 0))).toEqual([CMD_TLBI_NH_ASID, CMD_SYNC, CMD_ATC_INV, CMD_SYNC]);
    expect(field(now.sent[0]![0], 63, 48)).toBe(now.asid);
    expect(now.sent[2]![1]).toBe(52n); // ATC_INV_SIZE_ALL: arm_smmu_atc_inv_to_cmd with size 0
    const old = munmapCommands(big.replace('kernel: "6.15"', 'kernel: "6.5"'));
    expect(old.sent.filter(([w0]) => field(w0, 7, 0) === CMD_TLBI_NH_VA)).toHaveLength(512);
    expect(old.sent.some(([w0]) => field(w0, 7, 0) === CMD_TLBI_NH_ASID)).toBe(false);
    // The stable backports of d5afb4b47e13: 6.5.6, 6.1.56, 5.15.134 switch to the ASID; the patch before does not.
    for (const k of ["6.5.6", "6.1.56", "5.15.134"]) expect(munmapCommands(big.replace('kernel: "6.15"', `kernel: "${k}"`)).sent.map(([w0]) => field(w0, 7, 0))).toEqual([CMD_TLBI_NH_ASID, CMD_SYNC, CMD_ATC_INV, CMD_SYNC]);
    for (const k of ["6.5.5", "6.1.55", "5.15.133"]) expect(munmapCommands(big.replace('kernel: "6.15"', `kernel: "${k}"`)).sent.filter(([w0]) => field(w0, 7, 0) === CMD_TLBI_NH_VA)).toHaveLength(512);
    // 511 pages stay per page on every kernel.
    const under = munmapCommands(big.replace("size: 2MiB }\n    expect: ok", "size: 0x1ff000 }\n    expect: ok"));
    expect(under.sent.filter(([w0]) => field(w0, 7, 0) === CMD_TLBI_NH_VA)).toHaveLength(511);
  });

  it("without ATS masters no CMD_ATC_INV (nr_ats_masters == 0); sva-invalidation: false sends nothing at all and the TLB keeps the page", () => {
    const noAts = munmapCommands(example.replace(', ats: ["01:00.0"]', "").replace(/  - dma: \{ [^\n]*ats: true \}\n    expect: \{ ok: true \}\n/, ""));
    expect(noAts.sent.map(([w0]) => field(w0, 7, 0))).toEqual([CMD_TLBI_NH_VA, CMD_SYNC]);
    const none = munmapCommands(stale);
    expect(none.sent).toEqual([]);
    expect(none.out.summary).toContain("sva-invalidation: false");
    // The same scenario with the notifier on: the write after munmap faults instead of hitting the stale entry.
    const fixed = runSmmuScenario(stale.replace(", sva-invalidation: false", ""), STALE);
    const after = fixed.outs[4]!;
    expect(after.fault).toBe(0x10);
    expect(after.expect?.pass).toBe(false);
  });

  it("the process's PTEs are cleared: the CD's table has no entry for the unmapped page, the neighbour keeps its own", () => {
    const { host, m } = munmapCommands(example);
    const sva = host.driver.domains.find((d) => d.sva === true)!;
    const pte = (va: bigint) => m.mem.readU64(host.driver.entryAddress(sva, Number(va), 3, false)!) ?? 0n;
    expect(pte(VA)).toBe(0n);
    expect(pte(VA + 0x1000n) & 3n).toBe(3n);
  });

  it("errors: a PASID bound to no process (ENOENT), a PASID holding a DMA domain (EINVAL), a VT-d host, an unaligned range", () => {
    const unbound = runSmmuScenario(example.replace("munmap: { device: \"01:00.0\", pasid: 5", "munmap: { device: \"01:00.0\", pasid: 6"), FILE);
    expect(unbound.outs[4]!.errno).toBe("ENOENT");
    const dmaDomain = runSmmuScenario(example.replace("sva: true, ", ""), FILE);
    expect(dmaDomain.outs[4]!.errno).toBe("EINVAL");
    const vtd = parseScenario("host:\n  iommu: { model: intel-vtd, scalable: true }\n  pci:\n    - { bdf: \"01:00.0\", driver: vfio-pci }\nworkload:\n  - munmap: { device: \"01:00.0\", pasid: 5, va: 0x1000, size: 4KiB }\n", "x.passthrough.yaml").diagnostics.filter((d) => d.severity === "error");
    expect(vtd.map((d) => d.code)).toContain("pasid-unsupported");
    const odd = parseScenario(example.replace("va: 0x7f12_3456_0000, size: 4KiB }", "va: 0x7f12_3456_0800, size: 4KiB }"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(odd).toHaveLength(1);
    expect(odd[0]!.message).toContain("whole 4 KiB pages");
    expect(odd[0]!.range.line).toBe(29); // 0-based: the munmap line, at the va value
    expect(odd[0]!.range.column).toBe('  - munmap: { device: "01:00.0", pasid: 5, va: '.length);
    expect(odd[0]!.hint).toContain("EINVAL");
  });

  it("property: after munmap of any page range of the bound buffer, a DMA to each page faults exactly when it was unmapped, whatever the TLB held", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), (first, count, warm) => {
        const n = Math.min(count, 4 - first);
        const text = example.replace(/  - dma[\s\S]*$/, "") + (warm ? `  - dma: { device: "01:00.0", pasid: 5, iova: 0x7f12_3456_0000, length: 16KiB, write: true }\n` : "") + `  - munmap: { device: "01:00.0", pasid: 5, va: ${VA + BigInt(first) * 0x1000n}, size: ${n * 4096} }\n` + [0, 1, 2, 3].map((p) => `  - dma: { device: "01:00.0", pasid: 5, iova: ${VA + BigInt(p) * 0x1000n}, length: 4KiB }\n`).join("");
        const { outs } = runSmmuScenario(text, FILE);
        const probes = outs.slice(-4);
        for (let p = 0; p < 4; p++) expect(probes[p]!.fault === 0x10, `page ${p}`).toBe(p >= first && p < first + n);
      }),
      { numRuns: 25 },
    );
  });
});
