// The guest side of a nested SMMUv3 domain (Linux 6.15+ iommufd vIOMMU; QEMU's accelerated vSMMUv3):
// the guest's own CD and stage-1 tables in guest RAM, its TLB invalidations forwarded by the VMM
// with IOMMU_HWPT_INVALIDATE on the vIOMMU (arm_vsmmu_cache_invalidate / arm_vsmmu_convert_user_cmd:
// VMID and StreamID rewritten, other commands EIO), a missed one leaving a stale translation, and a
// stage-1 fault reaching the guest's event queue as the vEVENT the VMM read, printed by the guest.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { CMD_CFGI_CD, CMD_CFGI_STE, CMD_TLBI_NH_ALL, CMD_TLBI_NH_ASID, CMD_TLBI_NH_VA, CMD_TLBI_NH_VAA, CMD_TLBI_NSNH_ALL, CMD_TLBI_S2_IPA, COMMAND_NAMES } from "../../src/sim/smmuv3/spec.js";
import { CMD_ATC_INV } from "../../src/sim/smmuv3/ats.js";
import { EventKind } from "../../src/trace/trace.js";

const FILE = "examples/smmuv3-veventq.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");
/** The example up to (not including) its first DMA: the NIC attached to nested hwpt 7 (vSID 0x8, CD table at IPA 0x4800_0000). */
const setup = example.replace(/  # Two transactions[\s\S]*$/, "").replace("depth: 1", "depth: 8");
const SID = 0x100;
const VSID = 0x8;
const GUEST_ASID = 3n;
const IOVA = 0x1000_0000n;
const OUT_IPA = 0x4100_0000n;
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Runs `steps` (YAML lines appended to the setup) one by one; `before(i)` runs before step i (the guest's own memory writes). */
function run(steps: string, before: (i: number, m: Machine) => void = () => undefined) {
  const parsed = parseScenario(setup + steps, FILE);
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const m = new Machine(parsed.scenario!);
  const outs = m.scenario.workload.map((s, i) => (before(i, m), m.runStep(s)));
  return { m, outs, host: m.hostIommu as SmmuV3Host };
}
const setupSteps = parseScenario(setup, FILE).scenario!.workload.length;

/**
 * What the guest's arm-smmu-v3 writes for its DMA domain (arm_smmu_make_s1_cd + io-pgtable-arm), by
 * hand: the CD at IPA 0x4800_0000 (T0SZ 16, TG0 4K, EPD1, V, IPS 48-bit, AA64, R, A, ASET, ASID 3,
 * TTB0 0x4801_0000) and a 4-level table mapping IOVA 0x1000_0000 -> IPA 0x4100_0000 (AF, SH IS, AP
 * EL0 read/write, page).
 */
function writeGuestTables(m: Machine): void {
  const g = m.vms.get("arm01")!.guest;
  const w = (gpa: bigint, v: bigint) => m.mem.writeU64(Number(g.gpaToHpa(gpa)!), v);
  w(0x4800_0000n, 16n | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (GUEST_ASID << 48n));
  w(0x4800_0008n, 0x4801_0000n);
  w(0x4801_0000n, 0x4802_0000n | 3n); // L0[0] -> L1
  w(0x4802_0000n, 0x4803_0000n | 3n); // L1[0] -> L2
  w(0x4803_0000n + 0x80n * 8n, 0x4804_0000n | 3n); // L2[0x80] -> L3 (IOVA bits 29:21)
  w(0x4804_0000n, OUT_IPA | 0x743n); // L3[0]: page, AF, SH IS, AP[1] (EL0), valid
}
function clearGuestPte(m: Machine): void {
  const g = m.vms.get("arm01")!.guest;
  m.mem.writeU64(Number(g.gpaToHpa(0x4804_0000n)!), 0n);
}

const dma = `  - dma: { device: "01:00.0", iova: ${hex(IOVA)}, length: 4KiB }\n`;
const inval = (cmds: [bigint, bigint][]) => `  - iommufd: { vm: arm01, ioctl: IOMMU_HWPT_INVALIDATE, id: 5, cmds: [${cmds.map(([a, b]) => `[${hex(a)}, ${hex(b)}]`).join(", ")}] }\n`;
const read = `  - iommufd: { vm: arm01, ioctl: IOMMU_VEVENTQ_READ, veventq: 8 }\n`;
/** CMD_TLBI_NH_VA as the guest writes it: its ASID, VMID 0 (the guest has no stage 2), the IOVA with LEAF. */
const tlbiVa = (vmid = 0n): [bigint, bigint] => [BigInt(CMD_TLBI_NH_VA) | (vmid << 32n) | (GUEST_ASID << 48n), IOVA | 1n];

describe("the guest side of a nested SMMUv3 domain", () => {
  it("the guest's stage 1 over the parent's stage 2: its DMA reaches the host page behind the guest's IPA", () => {
    const { m, outs } = run(dma, (i, mm) => i === setupSteps && writeGuestTables(mm));
    const g = m.vms.get("arm01")!.guest;
    expect(outs.at(-1)!.fault).toBeUndefined();
    expect(outs.at(-1)!.firstHpa).toBe(g.gpaToHpa(OUT_IPA));
  });

  it("a guest unmap without its CMD_TLBI_NH_VA reaching the host: the stale TLB entry still translates; after IOMMU_HWPT_INVALIDATE the DMA faults", () => {
    const steps = dma + dma + inval([tlbiVa()]) + dma;
    const { m, outs } = run(steps, (i, mm) => {
      if (i === setupSteps) writeGuestTables(mm);
      if (i === setupSteps + 1) clearGuestPte(mm); // the guest's unmap: its PTE cleared, its TLBI trapped but not yet forwarded
    });
    const g = m.vms.get("arm01")!.guest;
    const [first, stale, inv, after] = outs.slice(setupSteps);
    expect(first!.firstIotlb).toBe("miss");
    // Stale: the guest's table no longer maps the page, the host's TLB (VMID of the parent, ASID 3) still does.
    expect(stale!.fault).toBeUndefined();
    expect(stale!.firstIotlb).toBe("hit");
    expect(stale!.firstHpa).toBe(g.gpaToHpa(OUT_IPA));
    expect(inv!.status).toBe("ok");
    expect(after!.fault).toBe(0x10);
  });

  it("IOMMU_HWPT_INVALIDATE rewrites the VMID of CMD_TLBI_NH_* to the vSMMU's (the guest's own VMID field is ignored) and traces the command the host's queue got", () => {
    const { m, outs, host } = run(dma + inval([tlbiVa(0x77n)]) + dma, (i, mm) => {
      if (i === setupSteps) writeGuestTables(mm);
      if (i === setupSteps + 1) clearGuestPte(mm);
    });
    const vmid = BigInt(host.driver.vsmmus[0]!.vmid);
    const inv = outs[setupSteps + 1]!;
    const word = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;
    const sent: [bigint, bigint] = [BigInt(CMD_TLBI_NH_VA) | (vmid << 32n) | (GUEST_ASID << 48n), IOVA | 1n];
    expect(inv.summary).toBe(`IOMMU_HWPT_INVALIDATE on vIOMMU 5 (IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_num 1): the host's command queue got CMD_TLBI_NH_VA { ${word(sent[0])}, ${word(sent[1])} }, with CMD_SYNC`);
    const t = m.trace;
    const rows = [...Array(t.length).keys()].filter((i) => t.kind[i] === EventKind.Invalidate && t.step[i] === setupSteps + 1);
    expect(rows.map((i) => [(BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!), (BigInt(t.bHi[i]!) << 32n) | BigInt(t.bLo[i]!)])).toEqual([sent]);
    expect(outs.at(-1)!.fault).toBe(0x10);
  });

  it("the conversions: NSNH_ALL -> NH_ALL of the VMID; NH_VAA, NH_ALL, NH_ASID keep their fields with the VMID replaced; ATC_INV, CFGI_CD, CFGI_CD_ALL get the physical StreamID", () => {
    const { host } = run("");
    const v = host.driver.vsmmus[0]!;
    const vmid = BigInt(v.vmid);
    const cmds: [bigint, bigint][] = [
      [BigInt(CMD_TLBI_NSNH_ALL) | (0x55n << 32n), 0x1234n],
      [BigInt(CMD_TLBI_NH_VAA) | (0x55n << 32n), IOVA | 1n],
      [BigInt(CMD_TLBI_NH_ALL), 0n],
      [BigInt(CMD_TLBI_NH_ASID) | (GUEST_ASID << 48n), 0n],
      [BigInt(CMD_ATC_INV) | (BigInt(VSID) << 32n) | (5n << 12n) | (1n << 11n), 0x34n],
      [BigInt(CMD_CFGI_CD) | (BigInt(VSID) << 32n), 1n],
      [0x06n | (BigInt(VSID) << 32n), 0n],
    ];
    const r = host.driver.vsmmuInvalidate(v, cmds);
    expect(r.refused).toBeUndefined();
    expect(r.handled).toBe(7);
    expect(r.issued).toEqual([
      [BigInt(CMD_TLBI_NH_ALL) | (vmid << 32n), 0n],
      [BigInt(CMD_TLBI_NH_VAA) | (vmid << 32n), IOVA | 1n],
      [BigInt(CMD_TLBI_NH_ALL) | (vmid << 32n), 0n],
      [BigInt(CMD_TLBI_NH_ASID) | (vmid << 32n) | (GUEST_ASID << 48n), 0n],
      [BigInt(CMD_ATC_INV) | (BigInt(SID) << 32n) | (5n << 12n) | (1n << 11n), 0x34n],
      [BigInt(CMD_CFGI_CD) | (BigInt(SID) << 32n), 1n],
      [0x06n | (BigInt(SID) << 32n), 0n],
    ]);
  });

  it("refused with EIO: a command the kernel does not take (CMD_CFGI_STE, CMD_TLBI_S2_IPA), a vSID without a vDEVICE; entry_num counts the entries before it, whose batch is not issued", () => {
    const good = tlbiVa();
    for (const [bad, why] of [
      [[BigInt(CMD_CFGI_STE) | (BigInt(VSID) << 32n), 1n], "CMD_CFGI_STE is not a command a guest may send"],
      [[BigInt(CMD_TLBI_S2_IPA) | (1n << 32n), 0x1000n], "CMD_TLBI_S2_IPA is not a command a guest may send"],
      [[BigInt(CMD_CFGI_CD) | (0x9n << 32n), 1n], "vSID 0x9 has no vDEVICE on the vIOMMU (arm_vsmmu_vsid_to_sid)"],
    ] as const) {
      const { outs } = run(inval([good, [bad[0], bad[1]]]));
      const o = outs.at(-1)!;
      expect(o.errno).toBe("EIO");
      expect(o.summary).toContain(`IOMMU_HWPT_INVALIDATE failed: EIO (Input/output error): entry 1 (${COMMAND_NAMES[Number(bad[0] & 0xffn)]}): ${why}`);
      expect(o.summary).toContain("entry_num 1 of 2; nothing issued");
    }
  });

  it("hwpt_id a nested hwpt: EOPNOTSUPP (arm-smmu-v3's nested domain has no cache_invalidate_user); an IOAS: EINVAL; nothing: ENOENT", () => {
    const on = (id: number) => run(inval([tlbiVa()]).replace("id: 5,", `id: ${id},`)).outs.at(-1)!;
    expect(on(7).errno).toBe("EOPNOTSUPP");
    expect(on(7).summary).toContain("give the vIOMMU (5) as hwpt_id (IOMMU_VIOMMU_INVALIDATE)");
    expect(on(1).errno).toBe("EINVAL");
    expect(on(99).errno).toBe("ENOENT");
    const bad = parseScenario(setup + "  - iommufd: { vm: arm01, ioctl: IOMMU_HWPT_INVALIDATE, id: 5, cmds: [0x12] }\n", FILE).diagnostics.filter((d) => d.severity === "error");
    expect(bad.map((d) => d.message)).toEqual(["cmds is a list of SMMUv3 commands, two 64-bit words each"]);
  });

  it("a stage-1 fault after the guest's unmap reaches the guest as a vEVENT and its arm-smmu-v3 prints it with the vSID and the guest BDF; the host prints nothing", () => {
    const { m, outs } = run(dma + inval([tlbiVa()]) + dma + read, (i, mm) => {
      if (i === setupSteps) writeGuestTables(mm);
      if (i === setupSteps + 1) clearGuestPte(mm);
    });
    expect(outs.at(-2)!.fault).toBe(0x10);
    const host = m.log.lines.filter((l) => l.source === "kernel" && l.text.includes("arm-smmu-v3"));
    expect(host).toEqual([]);
    const guest = m.log.lines.filter((l) => l.source === "guest").map((l) => [l.vm, l.text]);
    expect(guest.map(([, t]) => t)).toEqual([
      "arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:",
      expect.stringMatching(/^arm-smmu-v3 arm-smmu-v3\.0\.auto: \t0x0000000800000010$/),
      expect.stringMatching(/^arm-smmu-v3 arm-smmu-v3\.0\.auto: \t0x[0-9a-f]{16}$/),
      "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000010000000",
      expect.stringMatching(/^arm-smmu-v3 arm-smmu-v3\.0\.auto: \t0x[0-9a-f]{16}$/),
      "arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:00:01.0 sid: 0x8 ssid: 0x0 iova: 0x10000000 ipa: 0x0",
      expect.stringMatching(/^arm-smmu-v3 arm-smmu-v3\.0\.auto: unpriv data read s1 "Input address caused fault" stag: 0x0$/),
    ]);
    expect(new Set(guest.map(([vm]) => vm))).toEqual(new Set(["arm01"]));
  });

  it("QEMU notices a sequence gap: after the lost-events header, 'vEVENTQ: incomplete read (8/40 bytes)' and 'vEVENTQ: detected lost 2 event(s)' on its stderr", () => {
    const small = (setup.replace("depth: 8", "depth: 1") + `  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 12KiB }\n` + read + `  - dma: { device: "01:00.0", iova: 0x1000_0000, length: 4KiB }\n` + read);
    const parsed = parseScenario(small, FILE);
    const m = new Machine(parsed.scenario!);
    m.scenario.workload.forEach((s) => m.runStep(s));
    const vmm = m.log.lines.filter((l) => l.source === "vmm" && l.text.includes("vEVENTQ")).map((l) => l.text.replace(/^[^:]+: /, ""));
    // Sequences 0 (event), 2 (lost header: events 1 and 2 lost), then 3: last whole event 0 -> 3 is 2 lost.
    expect(vmm).toEqual(["vEVENTQ: incomplete read (8/40 bytes)", "vEVENTQ: detected lost 2 event(s)"]);
  });

  it("poke { vm, gpa }: the word of the VM's RAM at that GPA (the HPA behind it named); both keys needed, 8-byte aligned, a known VM, RAM of a running VM", () => {
    const { m, outs } = run("  - poke: { vm: arm01, gpa: 0x4800_0010, value: 0x1234 }\n");
    const hpa = m.vms.get("arm01")!.guest.gpaToHpa(0x4800_0010n)!;
    expect(outs.at(-1)!.summary).toBe(`wrote 0x0000000000001234 at GPA 0x48000010 of VM arm01, HPA 0x${hpa.toString(16)} (was 0x0000000000000000); no invalidation issued`);
    expect(m.mem.readU64(Number(hpa))).toBe(0x1234n);
    const errs = (line: string) => parseScenario(setup + line, FILE).diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    expect(errs("  - poke: { gpa: 0x4800_0000, value: 1 }\n")).toEqual(["a poke of guest memory needs both vm and gpa"]);
    expect(errs("  - poke: { vm: arm01, gpa: 0x4800_0004, value: 1 }\n")).toEqual(["a poke writes an aligned 64-bit word: gpa must be a multiple of 8"]);
    expect(errs("  - poke: { vm: nope, gpa: 0x4800_0000, value: 1 }\n")).toEqual(['no VM named "nope"']);
    expect(errs("  - poke: { vm: arm01, gpa: 0x4800_0000, address: 0x1000, value: 1 }\n")).toEqual(["a poke needs exactly one of address, target, register or gpa"]);
    const outside = run("  - poke: { vm: arm01, gpa: 0x1_0000_0000, value: 1 }\n").outs.at(-1)!;
    expect(outside.summary).toBe("GPA 0x100000000 is not RAM of VM arm01");
  });
});
