// iommufd fault delivery on SMMUv3 (drivers/iommu/iommufd/fault.c): IOMMU_FAULT_QUEUE_ALLOC makes a
// fault object, IOMMU_HWPT_ALLOC with IOMMU_HWPT_FAULT_ID_VALID routes the hwpt's I/O page faults
// to it, a stall fault goes to user space instead of the kernel's handler (no dmesg lines, no
// CMD_RESUME), and the page response written to the fault fd becomes CMD_RESUME RETRY / ABORT.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import { Machine } from "../../src/sim/machine.js";
import type { SmmuV3Host } from "../../src/sim/smmuv3/host.js";
import { Session } from "../../src/engine/session.js";
import { EventKind } from "../../src/trace/trace.js";
import { runSmmuScenario } from "./smmuv3-helpers.js";

const FILE = "examples/smmuv3-iommufd-fault.passthrough.yaml";
const example = readFileSync(join(__dirname, "..", "..", FILE), "utf8");

const run = (text: string) => runSmmuScenario(text, FILE);

const resumes = (m: Machine, step: number) => {
  const [a, b] = m.trace.stepRange(step);
  return Array.from({ length: b - a }, (_, k) => m.trace.row(a + k)).filter((r) => r.kind === EventKind.Invalidate && (r.a & 0xffn) === 0x44n).map((r) => [r.a, r.b]);
};

describe("SMMUv3 iommufd fault delivery", () => {
  it("the example passes; the stalls reach the fault object, not dmesg; SUCCESS resumes with RETRY and the write completes, INVALID aborts", () => {
    const { m, outs, host } = run(example);
    expect(outs.filter((o) => o.expect !== undefined).map((o) => o.expect!.pass)).toEqual(Array(10).fill(true));
    // Nothing printed for the two consumed events (arm_smmu_handle_event returned 0), but both were recorded.
    expect(m.log.lines.map((l) => l.text).filter((t) => t.includes("arm-smmu-v3"))).toEqual([]);
    expect(host.unit.counters.events).toBe(2);
    // The faulting step issued no CMD_RESUME; the page-response steps did: RETRY (1) for STAG 0, ABORT (2) for STAG 1, SID 0x100.
    expect(resumes(m, 4)).toEqual([]);
    expect(resumes(m, 6)).toEqual([[(0x100n << 32n) | (1n << 12n) | 0x44n, 0n]]);
    expect(resumes(m, 9)).toEqual([[(0x100n << 32n) | (2n << 12n) | 0x44n, 1n]]);
    expect(outs[6]!.summary).toBe("read(fault fd 4): iommu_hwpt_pgfault { flags LAST_PAGE, dev_id 2, pasid 0, grpid 0, perm WRITE, addr 0xc0000000, cookie 1 }; write: iommu_hwpt_page_response { cookie 1, code IOMMUFD_PAGE_RESP_SUCCESS } -> CMD_RESUME RETRY (the device retries the access)");
    expect(host.unit.stalled).toEqual([]);
    expect(host.driver.iopfQueue).toEqual([]);
  });

  it("the retried write goes through the page the VMM mapped before answering", () => {
    const { m, host } = run(example.replace(/  # The fault object is in use[\s\S]*$/, ""));
    void m;
    // The unit's record of CMD_RESUME: the retry translated to guest RAM's first page (GPA 0x4000_0000's host page).
    const o = host.unit.stallOutcomes.at(-1)!;
    expect(o).toMatchObject({ sid: 0x100, stag: 0, action: "retry", result: 0 });
    expect(o.oa).toBeGreaterThan(0);
  });

  it("without IOMMU_HWPT_FAULT_ID_VALID the kernel answers: the event is printed with its stall and aborted at once", () => {
    const text = example.replace("pt: 1, fault: 4 }", "pt: 1 }").replace(/  - iommufd: \{ vm: arm01, ioctl: IOMMU_IOAS_MAP[\s\S]*$/, "");
    const { m } = run(text);
    const lines = m.log.lines.map((l) => l.text);
    expect(lines).toContain("arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 \"Input address caused fault\" stall stag: 0x0");
    expect(resumes(m, 4)).toEqual([[(0x100n << 32n) | (2n << 12n) | 0x44n, 0n]]);
  });

  it("checkpoints keep the queued fault: the state after the DMA has it, the state after the response does not", () => {
    const sess = new Session("fault.passthrough.yaml");
    sess.update(example);
    sess.setCursor(5);
    expect((sess.machineAtCursor()!.hostIommu as SmmuV3Host).driver.iopfQueue.map((r) => [r.fault, r.cookie, r.grpid])).toEqual([[4, 1, 0]]);
    sess.setCursor(7);
    expect((sess.machineAtCursor()!.hostIommu as SmmuV3Host).driver.iopfQueue).toEqual([]);
  });

  it("errors as the kernel gives them: a master that cannot stall (EINVAL at attach), a fault_id of another object (ENOENT), a bad code (a diagnostic), no fault delivery on VT-d", () => {
    const noStall = run(example.replace(", stall-model: force", "").replace(/  # Nothing maps[\s\S]*$/, "").replace("pt: 5 }\n    expect: { ok: true }", "pt: 5 }\n    expect: { errno: EINVAL }"));
    expect(noStall.outs[3]!.summary).toMatch(/^VFIO_DEVICE_ATTACH_IOMMUFD_PT failed: EINVAL \(Invalid argument\): hwpt 5 takes I\/O page faults, but 01:00.0: the master cannot stall/);
    const wrongId = run(example.replace("pt: 1, fault: 4 }\n    expect: { ok: true }", "pt: 1, fault: 1 }\n    expect: { errno: ENOENT }").replace(/  - iommufd: \{ vm: arm01, ioctl: VFIO_DEVICE_ATTACH[\s\S]*$/, ""));
    expect(wrongId.outs[2]!.summary).toBe("IOMMU_HWPT_ALLOC failed: ENOENT (No such file or directory): fault_id 1 is not a fault object (it is an IOAS)");
    const bad = parseScenario(example.replace("code: success", "code: retry"), FILE).diagnostics.filter((d) => d.severity === "error");
    expect(bad).toHaveLength(1);
    const vtd = new Machine(parseScenario(example.replace(/iommu: \{ model: smmuv3[^}]*\}/, "iommu: { model: intel-vtd }"), FILE).scenario!);
    const outs = vtd.scenario.workload.slice(0, 2).map((s) => vtd.runStep(s));
    expect(outs[1]!.summary).toBe("IOMMU_FAULT_QUEUE_ALLOC: fault delivery is modelled for SMMUv3 only");
  });
});
