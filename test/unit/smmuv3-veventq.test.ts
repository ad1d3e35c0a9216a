// SMMUv3 nesting through iommufd's vIOMMU and the vEVENTQ (Linux 6.15+): a stage-2 nesting parent,
// a vSMMU on it, a vDEVICE (the guest's StreamID), a nested hwpt from the guest's STE and the STE
// arm_smmu_make_nested_cd_table_ste writes; events of the nested master that arm_smmu_handle_event
// forwards (arm_vmaster_report_event: StreamID -> vSID) reach the vEVENTQ instead of dmesg, a full
// queue gets the lost-events header (IOMMU_VEVENTQ_FLAG_LOST_EVENTS), stage-2 events stay the host's.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { runSmmuScenario } from "./smmuv3-helpers.js";

const FILE = "examples/smmuv3-veventq.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");
const run = (text: string) => runSmmuScenario(text, FILE);
const SID = 0x100;
/** The host's arm-smmu-v3 lines (dmesg; the guest's own driver prints forwarded events in the guest's log). */
const smmuLines = (m: Machine) => m.log.lines.filter((l) => l.source === "kernel").map((l) => l.text).filter((t) => t.includes("arm-smmu-v3"));
/** The example up to (not including) its first DMA. */
const setup = example.replace(/  # Two transactions[\s\S]*$/, "");
const dma = (iova: string, length = "4KiB") => `  - dma: { device: "01:00.0", iova: ${iova}, length: ${length}, write: true }\n`;
const read = `  - iommufd: { vm: arm01, ioctl: IOMMU_VEVENTQ_READ, veventq: 8 }\n`;

describe("SMMUv3 nested domains and the vEVENTQ", () => {
  it("the example passes its expectations; the C_BAD_CDs reach the vEVENTQ, not dmesg; the stage-2 fault is printed", () => {
    const { m, outs, host } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual(Array(12).fill(true));
    expect(host.unit.counters.events).toBe(3);
    const lines = smmuLines(m);
    expect(lines.some((l) => l.includes("C_BAD_CD"))).toBe(false);
    expect(lines.some((l) => l.includes("event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x10000000 ipa: 0x100000000"))).toBe(true);
  });

  it("the nested STE: V, Config 0b111, the vSTE's S1ContextPtr, word 1 = the stage-2 STE's | the vSTE's | MEV (bit 19), S2VMID and S2TTB of the nesting parent", () => {
    const { m, host } = run(setup);
    const at = host.driver.steAddress(SID, false)!;
    const w = Array.from({ length: 4 }, (_, i) => m.mem.readU64(at + i * 8) ?? 0n);
    const parent = host.driver.domains.find((d) => d.nestParent === true)!;
    expect(parent.stage).toBe(2);
    expect(w[0]).toBe(0x4800_0000n | (7n << 1n) | 1n);
    expect(w[1]).toBe((1n << 44n) | 0xd6n | (1n << 19n));
    expect(w[2]! & 0xffffn).toBe(BigInt(parent.vmid));
    expect(w[3]).toBe(BigInt(parent.pgd));
    // vSMMU of 6.15: the parent's VMID.
    expect(host.driver.vsmmus).toMatchObject([{ id: 5, parent: parent.id, vmid: parent.vmid, vdevs: [[SID, 8]] }]);
    expect(host.driver.vmasters.get(SID)).toEqual({ vsmmu: 5, vsid: 8 });
  });

  it("a vEVENT is the event record with StreamID [63:32] = the vSID and dwords 1-3 as the SMMU wrote them; header sequence counts from 0", () => {
    const { m, outs, host } = run(setup + dma("0x1000_0000") + read);
    const raw = readEvtq(m, host, 0);
    expect(raw[0] & 0xffn).toBe(0x0an);
    expect(raw[0] >> 32n).toBe(BigInt(SID));
    const q = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;
    const vevt = [(raw[0] & 0xffffffffn) | (8n << 32n), raw[1], raw[2], raw[3]];
    expect(outs.at(-1)!.summary).toBe(`read(vEVENTQ fd 8): iommufd_vevent_header { flags 0, sequence 0 } + evt { ${vevt.map(q).join(", ")} } (event 0x0a, vSID 0x8); QEMU put the event in the guest's event queue (smmuv3_propagate_event): the guest's arm-smmu-v3 prints it`);
  });

  it("a stage-1 F_TRANSLATION in the guest's own tables is forwarded too (the guest wrote its CD; TTB0 is an empty table)", () => {
    const { m, host } = run(setup);
    const guest = m.vms.get("arm01")!.guest;
    const cd = guest.gpaToHpa(0x4800_0000n)!;
    // CD: T0SZ 16, EPD1, V, IPS 48-bit, AA64, R, A, ASET, ASID 1; TTB0 = GPA 0x4801_0000 (zeroed guest RAM).
    m.mem.writeU64(Number(cd), 16n | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (1n << 48n));
    m.mem.writeU64(Number(cd) + 8, 0x4801_0000n);
    const st = parseScenario(setup + dma("0x1000_0000") + read, FILE).scenario!.workload;
    const dmaOut = m.runStep(st.at(-2)!);
    expect(dmaOut.fault).toBe(0x10);
    const r = m.runStep(st.at(-1)!);
    expect(r.summary).toMatch(/^read\(vEVENTQ fd 8\): iommufd_vevent_header \{ flags 0, sequence 0 \} \+ evt \{ 0x0000000800000010, 0x[0-9a-f]{16}, 0x0000000010000000, 0x0000000000000000 \} \(event 0x10, vSID 0x8\); QEMU put the event in the guest's event queue/);
    expect(smmuLines(m)).toEqual([]);
    expect(host.unit.counters.events).toBe(1);
  });

  it("the lost-events header: a full queue queues it (rc 0, nothing printed); a later event while it is last takes its place with the next sequence; after a read new events continue the sequence", () => {
    // Depth 1: event 0 queued; events 1 and 2 find it full: one header, re-queued with sequence 2.
    const three = run(setup + dma("0x1000_0000", "12KiB") + read);
    expect(three.outs.at(-1)!.summary).toMatch(/sequence 0 \} \+ evt .*; iommufd_vevent_header \{ flags IOMMU_VEVENTQ_FLAG_LOST_EVENTS, sequence 2 \} \(events were lost: the queue was full\); QEMU put the event in the guest's event queue/);
    expect(smmuLines(three.m)).toEqual([]);
    // After the read the queue is empty: the next event is queued with sequence 3.
    const more = run(setup + dma("0x1000_0000", "12KiB") + read + dma("0x1000_0000") + read);
    expect(more.outs.at(-1)!.summary).toMatch(/^read\(vEVENTQ fd 8\): iommufd_vevent_header \{ flags 0, sequence 3 \} \+ evt \{ 0x000000080000000a,/);
    // Depth 4: three events, no header.
    const deep = run(setup.replace("depth: 1", "depth: 4") + dma("0x1000_0000", "12KiB") + read);
    expect(deep.outs.at(-1)!.summary.match(/sequence \d/g)).toEqual(["sequence 0", "sequence 1", "sequence 2"]);
    expect(deep.outs.at(-1)!.summary).not.toContain("LOST_EVENTS");
  });

  it("not forwarded: without a vEVENTQ (iommufd_viommu_report_event -EOPNOTSUPP) or without a vDEVICE at attach (no vmaster) the host prints the event", () => {
    const noQ = run(setup.replace(/  - iommufd: \{ vm: arm01, ioctl: IOMMU_VEVENTQ_ALLOC[^\n]*\n    expect: ok\n/, "") + dma("0x1000_0000"));
    expect(smmuLines(noQ.m).some((l) => l.includes("event: C_BAD_CD client: 0000:01:00.0 sid: 0x100"))).toBe(true);
    const noVdev = run(setup.replace(/  - iommufd: \{ vm: arm01, ioctl: IOMMU_VDEVICE_ALLOC[^\n]*\n    expect: ok\n/, "").replace("device: \"01:00.0\", pt: 7 }", "device: \"01:00.0\", pt: 6 }") + dma("0x1000_0000"));
    expect(noVdev.outs[5]!.summary).toContain("no vDEVICE yet: its events stay with the host");
    expect(smmuLines(noVdev.m).some((l) => l.includes("C_BAD_CD"))).toBe(true);
    expect(noVdev.host.driver.vmasters.size).toBe(0);
  });

  it("vSTE Config bypass: the parent's stage-2 STE; a non-valid vSTE: an abort STE (no event)", () => {
    // Bypass: the IOVA is the IPA, translated by the parent (guest RAM from 0x4000_0000).
    const bypass = run(setup.replace("vste: [0x4800_000b, 0xd6]", "vste: [0x9, 0]") + dma("0x4000_0000"));
    expect(bypass.outs.at(-1)!.fault).toBeUndefined();
    const at = bypass.host.driver.steAddress(SID, false)!;
    expect(((bypass.m.mem.readU64(at) ?? 0n) >> 1n) & 7n).toBe(6n);
    const invalid = run(setup.replace("vste: [0x4800_000b, 0xd6]", "vste: [0x4800_000a, 0xd6]") + dma("0x1000_0000"));
    expect(((invalid.m.mem.readU64(at) ?? 0n) >> 1n) & 7n).toBe(0n);
    expect(invalid.host.unit.counters.events).toBe(0);
  });

  it("errors as the kernel gives them: EIO for vSTE bits outside the nesting masks and for Config S2, EINVAL for a vIOMMU on a plain hwpt, EEXIST for a second vEVENTQ or a taken virt_id, EBUSY destroying a used vIOMMU, none on VT-d", () => {
    const errOf = (text: string, i: number) => run(text).outs[i]!;
    expect(errOf(setup.replace("0x4800_000b, 0xd6]", "0x4800_000b, 0x1d6]"), 4).summary).toBe("IOMMU_HWPT_ALLOC failed: EIO (Input/output error): vSTE word 1 sets bits outside STRTAB_STE_1_NESTING_ALLOWED: 0x100 (arm_smmu_validate_vste)");
    expect(errOf(setup.replace("0x4800_000b, 0xd6]", "0x4800_000d, 0xd6]"), 4).errno).toBe("EIO");
    expect(errOf(setup.replace("nest-parent: true", "nest-parent: false"), 2).errno).toBe("EINVAL");
    const twice = setup + `  - iommufd: { vm: arm01, ioctl: IOMMU_VEVENTQ_ALLOC, viommu: 5, depth: 2 }\n`;
    expect(errOf(twice, 7).errno).toBe("EEXIST");
    const taken = setup + `  - iommufd: { vm: arm01, ioctl: IOMMU_VDEVICE_ALLOC, viommu: 5, device: "01:00.0", virt-id: 8 }\n`;
    expect(errOf(taken, 7).errno).toBe("EEXIST");
    const busy = setup + `  - iommufd: { vm: arm01, ioctl: IOMMU_DESTROY, id: 5 }\n`;
    expect(errOf(busy, 7).errno).toBe("EBUSY");
    const zero = parseScenario(setup.replace("depth: 1", "depth: 0"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(zero).toHaveLength(1);
    const vtd = new Machine(parseScenario(setup.replace(/iommu: \{ model: smmuv3[^}]*\}/, "iommu: { model: intel-vtd }"), FILE).scenario!);
    const outs = vtd.scenario.workload.slice(0, 2).map((s) => vtd.runStep(s));
    expect(outs[1]!.summary).toBe("IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT: nesting is modelled for SMMUv3 only");
  });

  it("checkpoints keep the vEVENTQ: the state after the DMA has the queued events, the state after the read none", () => {
    const sess = new Session("veventq.passthrough.yaml");
    sess.update(example);
    sess.setCursor(8);
    const q = () => (sess.machineAtCursor()!.hostIommu as SmmuV3Host).driver.vsmmus[0]!.veventq!.queued.map((e) => [e.sequence, e.raw === undefined]);
    expect(q()).toEqual([
      [0, false],
      [1, true],
    ]);
    sess.setCursor(9);
    expect(q()).toEqual([]);
    sess.setCursor(8);
    expect(q()).toHaveLength(2);
  });
});

/** The event record at index `i` of the SMMU's event queue (what the SMMU wrote). */
function readEvtq(m: Machine, host: SmmuV3Host, i: number): [bigint, bigint, bigint, bigint] {
  const u = host.unit;
  const at = u.evtqBase - (u.evtqBase % 32) + i * 32;
  const rd = (o: number) => m.mem.readU64(at + o) ?? 0n;
  return [rd(0), rd(8), rd(16), rd(24)];
}
