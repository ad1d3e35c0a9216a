// The guest's arm-smmu-v3 of a nested SMMUv3 domain (src/sim/smmuv3/guestDriver.ts): guest-map /
// guest-unmap on a VM whose device is attached to a nested hwpt write what Linux's arm-smmu-v3 and
// io-pgtable-arm write in guest RAM (the CD at the vSTE's S1ContextPtr, stage-1 descriptors), and an
// unmap's CMD_TLBI_NH_VA reaches the host through the vIOMMU's IOMMU_HWPT_INVALIDATE.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import { treeChildren } from "../../src/engine/trees.js";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { GuestArmSmmuV3 } from "../../src/sim/smmuv3/guestDriver.js";
import { IOMMU_READ, IOMMU_WRITE, type TableMemory } from "../../src/sim/smmuv3/ioPgtable.js";
import { CMD_TLBI_NH_VA } from "../../src/sim/smmuv3/spec.js";

const root = join(__dirname, "..", "..");
const POKED = readFileSync(join(root, "examples/smmuv3-nested-guest.passthrough.yaml"), "utf8");
const FILE = "examples/smmuv3-nested-guest-map.passthrough.yaml";
const example = readFileSync(join(root, FILE), "utf8");
/** The new example up to the attach (the guest's CD written), without its guest-map steps. */
const setup = example.replace(/  # The guest's DMA API maps[\s\S]*$/, "");

/** Guest RAM as a sparse word map by GPA. */
function ram(): TableMemory & { words: Map<number, bigint> } {
  const words = new Map<number, bigint>();
  return { words, readU64: (a) => words.get(a) ?? 0n, writeU64: (a, v) => (words.set(a, v), true) };
}

/** The example's `poke: { vm, gpa, value }` steps, in order. */
function pokes(text: string): [number, bigint][] {
  const p = parseScenario(text, "poked.passthrough.yaml").scenario!;
  return p.workload.flatMap((s) => (s.op === "poke" && s.gpa !== undefined && s.value !== undefined ? [[Number(s.gpa), s.value] as [number, bigint]] : []));
}

describe("the guest's arm-smmu-v3 writes the words Linux writes", () => {
  it("for the inputs of smmuv3-nested-guest (ASID 3, CD at IPA 0x4800_0000, tables at 0x4801_0000.., IOVA 0x1000_0000 -> IPA 0x4100_0000 rw): the CD and every descriptor its pokes write, then the cleared PTE and its CMD_TLBI_NH_VA", () => {
    const m = ram();
    const pages = [0x4801_0000, 0x4802_0000, 0x4803_0000, 0x4804_0000];
    const g = new GuestArmSmmuV3(m, 48, { base: 0, end: 0 }, { nextAsid: 3, nextTable: 0, domains: [] }, () => pages.shift()!);
    g.attach("01:00.0", 0x4800_0000);
    expect(g.map("01:00.0", 0x1000_0000, 0x4100_0000, 4096, IOMMU_READ | IOMMU_WRITE)).toEqual({ ok: true, leaves: 1, tables: 3 });
    const poked = pokes(POKED);
    // Every poke but the last (the guest's unmap clearing the PTE) is a word the driver wrote; the driver wrote nothing else non-zero.
    const mapped = poked.slice(0, -1);
    expect(mapped.map(([a]) => [a, m.words.get(a)])).toEqual(mapped);
    expect([...m.words].filter(([, v]) => v !== 0n).sort((a, b) => a[0] - b[0])).toEqual([...mapped].sort((a, b) => a[0] - b[0]));
    const u = g.unmap("01:00.0", 0x1000_0000, 4096);
    const [pteAt, cleared] = poked.at(-1)!;
    expect(m.words.get(pteAt)).toBe(cleared);
    // The CMD_TLBI_NH_VA the example forwards by hand: ASID 3, VMID 0, IOVA with LEAF.
    expect(u).toEqual({ bytes: 4096, batches: [[[0x0003_0000_0000_0012n, 0x1000_0001n]]] });
    expect(Number(u.batches[0]![0]![0] & 0xffn)).toBe(CMD_TLBI_NH_VA);
  });

  it("refuses what Linux refuses: an unaligned range (iommu: unaligned, EINVAL), an IOVA already mapped (EEXIST, nothing written), beyond the 48-bit input (ERANGE)", () => {
    const m = ram();
    const g = new GuestArmSmmuV3(m, 48, { base: 0x1000_0000, end: 0x1100_0000 });
    g.attach("01:00.0", 0x4800_0000);
    expect(g.map("01:00.0", 0x1000, 0x4100_0800, 4096, IOMMU_READ)).toEqual({ ok: false, errno: "EINVAL", line: "iommu: unaligned: iova 0x1000 pa 0x0000000041000800 size 0x1000 min_pagesz 0x1000" });
    expect(g.map("01:00.0", 0x20_0000, 0x4100_0000, 0x4000, IOMMU_READ).ok).toBe(true);
    const before = new Map(m.words);
    expect(g.map("01:00.0", 0x1f_f000, 0x4200_0000, 0x2000, IOMMU_READ)).toMatchObject({ ok: false, errno: "EEXIST" });
    expect(m.words).toEqual(before);
    expect(g.map("01:00.0", 2 ** 48 - 4096, 0x4100_0000, 0x2000, IOMMU_READ)).toMatchObject({ ok: false, errno: "ERANGE" });
  });

  it("unmap stops at the first hole (__iommu_unmap) and gathers per leaf size: a block and pages are two CMD_SYNC batches", () => {
    const m = ram();
    const g = new GuestArmSmmuV3(m, 48, { base: 0x1000_0000, end: 0x1100_0000 });
    g.attach("01:00.0", 0x4800_0000);
    expect(g.map("01:00.0", 0x20_0000, 0x4020_0000, 0x20_0000, IOMMU_READ).ok).toBe(true);
    expect(g.map("01:00.0", 0x40_0000, 0x4100_0000, 0x2000, IOMMU_READ).ok).toBe(true);
    expect(g.map("01:00.0", 0x40_3000, 0x4100_3000, 0x1000, IOMMU_READ).ok).toBe(true);
    const u = g.unmap("01:00.0", 0x20_0000, 0x30_0000);
    // The 2 MiB block (one command at its base), then two pages; the hole at 0x40_2000 ends it.
    expect(u.bytes).toBe(0x20_0000 + 0x2000);
    expect(u.batches.map((b) => b.map(([, w1]) => w1))).toEqual([[0x20_0001n], [0x40_0001n, 0x40_1001n]]);
  });
});

/** Runs `steps` after the example's set-up; every step's outcome. */
function run(steps: string) {
  const parsed = parseScenario(setup + steps, FILE);
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const m = new Machine(parsed.scenario!);
  const outs = m.scenario.workload.map((s) => m.runStep(s));
  return { m, outs, host: m.hostIommu as SmmuV3Host };
}
const hex = (v: bigint | number) => `0x${v.toString(16)}`;

describe("guest-map / guest-unmap on a nested SMMUv3 guest", () => {
  it("the attach writes the guest's CD at the vSTE's S1ContextPtr (ASID 1, TTB0 a pool page at the top of guest RAM) when the workload drives the guest", () => {
    const { m, outs } = run(`  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_0000, size: 4KiB, gpa: 0x4100_0000 }\n`);
    const g = m.vms.get("arm01")!.guest;
    const word = (gpa: number) => m.mem.readU64(Number(g.gpaToHpa(BigInt(gpa))!));
    expect(word(0x4800_0000)).toBe(0x0001_e205_c000_3510n);
    expect(word(0x4800_0008)).toBe(0xbf00_0000n);
    expect(word(0x4800_0018)).toBe(0xf404_ff44n);
    expect(outs.at(-2)!.summary).toContain("the guest's arm-smmu-v3 wrote its CD at IPA 0x48000000 (arm_smmu_make_s1_cd: ASID 1, TTB0 IPA 0xbf000000");
  });

  it("a forgotten invalidation leaves the host's TLB translating; the next unmap's CMD_TLBI_NH_VA reaches the host's queue with the vSMMU's VMID", () => {
    const map = `  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_0000, size: 4KiB, gpa: 0x4100_0000 }\n`;
    const unmap = (inv: boolean) => `  - guest-unmap: { vm: arm01, device: "01:00.0", iova: 0x1000_0000, size: 4KiB${inv ? "" : ", invalidate: false"} }\n`;
    const dma = `  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 4KiB }\n`;
    const n = parseScenario(setup, FILE).scenario!.workload.length;
    const { outs, host, m } = run(map + dma + unmap(false) + dma + map + unmap(true) + dma);
    const [, first, forgot, stale, , sent, after] = outs.slice(n);
    expect(first!.firstIotlb).toBe("miss");
    expect(forgot!.summary).toContain("forgot its 1 CMD_TLBI_NH_VA (ASID 1, LEAF) + 1 CMD_SYNC");
    expect(stale!.fault).toBeUndefined();
    expect(stale!.firstIotlb).toBe("hit");
    const vmid = BigInt(host.driver.vsmmus[0]!.vmid);
    expect(sent!.summary).toContain(`the host's queue got CMD_TLBI_NH_VA { 0x${((BigInt(CMD_TLBI_NH_VA) | (vmid << 32n) | (1n << 48n))).toString(16).padStart(16, "0")}, 0x0000000010000001 }`);
    expect(after!.fault).toBe(0x10);
    expect(m.vms.get("arm01")!.guestSmmu).toBeDefined();
  });

  it("a scenario that writes the guest's words itself (pokes, no guest-map) runs no guest driver: its CD stays what it poked", () => {
    const p = parseScenario(POKED, "poked.passthrough.yaml").scenario!;
    const m = new Machine(p);
    const outs = p.workload.map((s) => m.runStep(s));
    expect(m.vms.get("arm01")!.guestSmmu).toBeUndefined();
    expect(outs[6]!.summary).not.toContain("arm-smmu-v3 wrote");
  });

  it("the runtime refuses an overlapping map (EEXIST) and an unaligned one (EINVAL, the guest's iommu: unaligned line)", () => {
    const steps = `  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_0000, size: 8KiB, gpa: 0x4100_0000 }
  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_1000, size: 4KiB, gpa: 0x4200_0000 }
    expect: { errno: EEXIST }
  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_0800, size: 4KiB, gpa: 0x4200_0000 }
    expect: { errno: EINVAL }
`;
    const { m, outs } = run(steps);
    expect(outs.slice(-2).map((o) => o.errno)).toEqual(["EEXIST", "EINVAL"]);
    expect(m.log.lines.some((l) => l.text.includes("iommu: unaligned: iova 0x10000800 pa 0x0000000042000000 size 0x1000 min_pagesz 0x1000"))).toBe(true);
  });

  it("validation: a guest-map before the device is attached to a nested hwpt is an error with a hint; an overlap and an unaligned range are warnings naming the guest's kernel", () => {
    const before = example.replace(/  # QEMU attaches the NIC[\s\S]*$/, "") + `  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_0000, size: 4KiB, gpa: 0x4100_0000 }\n`;
    const e = parseScenario(before, FILE).diagnostics.find((d) => d.code === "no-viommu")!;
    expect(e.severity).toBe("error");
    expect(e.message).toBe("01:00.0 is not attached to a nested hwpt before this step, so the guest's arm-smmu-v3 has no stage-1 domain for it");
    expect(e.hint).toContain("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
    expect(e.range.line).toBe(before.split("\n").length - 2);
    const noNested = parseScenario(example.replace(/  - iommufd: \{ vm: arm01, ioctl: IOMMU_HWPT_ALLOC, device: "01:00.0", pt: 5, vste[^\n]*\n    expect: ok\n/, ""), FILE).diagnostics.filter((d) => d.code === "no-viommu");
    expect(noNested[0]!.message).toContain("no nested hwpt before this step");
    const w = parseScenario(setup + `  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_0000, size: 8KiB, gpa: 0x4100_0000 }\n  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x1000_1000, size: 4KiB, gpa: 0x4100_0000 }\n  - guest-map: { vm: arm01, device: "01:00.0", iova: 0x2000_0800, size: 4KiB, gpa: 0x4100_0000 }\n`, FILE).diagnostics;
    expect(w.find((d) => d.code === "map-overlap")!.message).toContain("the guest's io-pgtable-arm refuses it (arm_lpae_init_pte: EEXIST)");
    expect(w.find((d) => d.code === "map-unaligned")!.message).toContain("the guest's iommu_map refuses it with EINVAL");
    expect(parseScenario(example, FILE).diagnostics).toEqual([]);
    // Beyond the guest driver's 48-bit stage-1 input (GUEST_IAS: the driver's ERANGE, tested above).
    const far = parseScenario(setup + `  - guest-map: { vm: arm01, device: "01:00.0", iova: 0xffff_ffff_f000, size: 8KiB, gpa: 0x4100_0000 }\n`, FILE).diagnostics.find((d) => d.code === "address-beyond-aw")!;
    expect([far.severity, far.message, far.hint]).toEqual(["error", "the range ends beyond 2^48, the guest's stage-1 input size; arm_lpae_map_pages refuses it (-ERANGE)", "Keep guest IOVAs below 0x1000000000000."]);
    expect(far.range.line).toBe(setup.split("\n").length - 1);
  });

  it("checkpoints keep the guest driver: stepping back before a map and forward again writes the same tables", () => {
    const sess = new Session("nested-guest-map.passthrough.yaml");
    sess.update(example);
    const n = sess.machineAtCursor()!.scenario.workload.length;
    sess.setCursor(n);
    const at = () => {
      const m = sess.machineAtCursor()!;
      return { asid: m.vms.get("arm01")!.guestSmmu?.domainOf("01:00.0")?.asid, next: m.vms.get("arm01")!.guestSmmu?.state.nextTable };
    };
    const end = at();
    sess.setCursor(7);
    expect(at()).toEqual({ asid: 1, next: 0xbf00_1000 });
    sess.setCursor(n);
    expect(at()).toEqual(end);
    expect(end.next).toBe(0xbf00_4000);
  });
});

describe("the Virtual Machines tree of a nested guest", () => {
  it("the vIOMMU row says nested through iommufd once the device is attached to a nested hwpt (its tooltip names it and the vIOMMU), and none before", () => {
    const sess = new Session("nested-guest-map.passthrough.yaml");
    sess.update(example);
    const row = (cursor: number) => {
      sess.setCursor(cursor);
      const ctx = { machine: sess.machineAtCursor()!, run: sess.run!, scenario: sess.scenario!, cursor, radix: "hex" as const };
      return treeChildren("vms", "vm/arm01", ctx)!.find((n) => n.id === "vm/arm01/viommu")!;
    };
    // Before step 7 (the attach to nested hwpt 7) QEMU's IOVA = GPA mapping is all there is.
    expect(row(6).description).toBe("none (guest RAM mapped IOVA = GPA)");
    const attached = row(7);
    expect(attached.description).toBe("nested through iommufd: the guest's stage 1 over guest RAM mapped IOVA = GPA");
    expect(String(attached.tooltip)).toContain("attached through iommufd to nested hwpt 7 on vIOMMU 5");
    expect(attached.icon).toBe("shield");
  });
});

describe("property: random guest maps translate through both stages", () => {
  it("a DMA anywhere in a guest-mapped range reaches the host page behind the guest's IPA", () => {
    // Distinct 4 MiB slots of IOVA; in each a page run or a 2 MiB block, to distinct 4 MiB slots of guest RAM below the pool.
    const arb = fc.uniqueArray(fc.record({ slot: fc.integer({ min: 0, max: 63 }), ipaSlot: fc.integer({ min: 0, max: 400 }), block: fc.boolean(), pages: fc.integer({ min: 1, max: 8 }), first: fc.integer({ min: 0, max: 7 }), perm: fc.constantFrom("r", "w", "rw"), probe: fc.nat() }), { minLength: 1, maxLength: 4, selector: (x) => x.slot });
    fc.assert(
      fc.property(arb, (maps) => {
        let steps = "";
        const probes: { iova: bigint; ipa: bigint }[] = [];
        for (const x of maps) {
          const base = 0x1_0000_0000n + BigInt(x.slot) * 0x40_0000n;
          const ipaBase = 0x4000_0000n + BigInt(x.ipaSlot) * 0x40_0000n;
          const iova = x.block ? base : base + BigInt(x.first) * 0x1000n;
          const ipa = x.block ? ipaBase : ipaBase + BigInt(x.first) * 0x1000n;
          const size = x.block ? 0x20_0000n : BigInt(x.pages) * 0x1000n;
          steps += `  - guest-map: { vm: arm01, device: "01:00.0", iova: ${hex(iova)}, size: ${hex(size)}, perm: ${x.perm}, gpa: ${hex(ipa)} }\n    expect: ok\n`;
          const off = (BigInt(x.probe) % (size / 0x1000n)) * 0x1000n + (BigInt(x.probe) % 0x1000n);
          probes.push({ iova: iova + off, ipa: ipa + off });
          steps += `  - dma: { device: "01:00.0", iova: ${hex(iova + off)}, length: 1 }\n`;
        }
        const { m, outs } = run(steps);
        const g = m.vms.get("arm01")!.guest;
        const dmas = outs.filter((_, i) => m.scenario.workload[i]!.op === "dma");
        expect(outs.filter((o) => o.status !== "ok").map((o) => o.summary)).toEqual([]);
        expect(dmas.map((o) => o.firstHpa)).toEqual(probes.map((p) => g.gpaToHpa(p.ipa)));
      }),
      { numRuns: 30, seed: 17 },
    );
  });
});
