// Every kernel version boundary the model encodes, one row each: the last version before it and the
// first one on it, with what each prints. The versions are the kernel trees the boundary was read in
// (docs/platform-rules.md lists them: a tree on each side, since no tagged history was at hand);
// where no tree of the exact version was read the row says which side is inferred.
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { HostSpec } from "../../src/scenario/types.js";
import { bootLines, rmrrRefusal } from "../../src/sim/reserved.js";
import { dmarPrefix, dmarRatelimitModel, kernelEra, renderDmarFault } from "../../src/sim/vtd/dmesg.js";
import { explainRecords } from "../../src/import/explain.js";
import { parseLog } from "../../src/import/dmesg.js";

function host(kernel: string, extra = ""): HostSpec {
  const text = `
host:
  kernel: "${kernel}"
  memory: 16GiB
  iommu: { model: intel-vtd, address-width: 48, intremap: true, rmrr: [{ base: 0x7b800000, end: 0x7b9fffff, devices: ["00:14.0"] }]${extra} }
  pci:
    - { bdf: "00:14.0", id: "8086:a36d", driver: vfio-pci }
`;
  const p = parseScenario(text, "t.passthrough.yaml");
  const errors = p.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !p.scenario) throw new Error(errors.map((e) => e.message).join("\n"));
  return p.scenario.host;
}

const boot = (kernel: string) => bootLines(host(kernel)).map((l) => l.text);
const refusal = (kernel: string) => rmrrRefusal(host(kernel), [{ key: "00:14.0", full: "0000:00:14.0", driver: "vfio-pci" }], { full: "0000:00:14.0" }, 7)!;

describe("kernel version boundaries (before | from)", () => {
  const rows: [what: string, before: string, from: string, check: (k: string) => unknown, beforeValue: unknown, fromValue: unknown][] = [
    ["dmar.c pr_fmt: KBUILD_MODNAME then \"DMAR: \" (v4.1.3 | v4.2.8 trees)", "4.1.3", "4.2.8", (k) => dmarPrefix(kernelEra(k)), "dmar: ", "DMAR: "],
    ["intel_irq_remapping.c pr_fmt \"DMAR-IR: \" (v4.1.3 | v4.2.8)", "4.1.3", "4.2.8", (k) => boot(k).find((l) => l.includes("Enabled IRQ remapping")), "Enabled IRQ remapping in xapic mode", "DMAR-IR: Enabled IRQ remapping in xapic mode"],
    ["RMRR boot line prefix (v4.1.3 | v4.2.8)", "4.1.3", "4.2.8", (k) => boot(k)[0], "dmar: RMRR base: 0x0000007b800000 end: 0x0000007b9fffff", "DMAR: RMRR base: 0x0000007b800000 end: 0x0000007b9fffff"],
    ["fault line in one record, a0fe14d7dcf5 (v4.4 | v4.9 trees; v4.7 from the commit)", "4.6", "4.7", (k) => renderDmarFault({ write: false, reason: 5, sourceId: 0x0100, address: 0x1000n }, kernelEra(k)).length, 2, 1],
    ["dmar_fault ratelimit per interrupt, then per record (v4.16.13 | v4.18 trees; v4.17 unread)", "4.17", "4.18", (k) => dmarRatelimitModel(k), "per-irq", "per-record"],
    ["no dmar_fault ratelimit before v4.7 (v4.4 tree | v4.9 tree)", "4.6", "4.7", (k) => dmarRatelimitModel(k), "none", "per-irq"],
    ["RMRR refusal dev_fmt \"DMAR: \", 932a6523ce39 (v5.0.1 | v5.2.1 trees)", "5.0", "5.1", (k) => refusal(k).kernel.startsWith("vfio-pci 0000:00:14.0: DMAR: Device is ineligible"), false, true],
    ["PASID in the fault line and the SM reasons (v5.3.1 | v5.4.59 trees)", "5.3.1", "5.4", (k) => kernelEra(k), "4.7", "5.4"],
    ["\"Default domain type\" printed (v5.3.1 | v5.4.59 trees), with a trailing space", "5.3.1", "5.4", (k) => boot(k).find((l) => l.startsWith("iommu:")), undefined, "iommu: Default domain type: Translated "],
    ["\"0x\" before bus:dev, 719a19335692 (v5.13 inferred | v5.14-rc5 tree)", "5.13", "5.14", (k) => kernelEra(k), "5.4", "5.14"],
    ["\"0x\" dropped again (v5.14-rc5 | v5.15.55 trees)", "5.14", "5.15", (k) => kernelEra(k), "5.14", "5.15"],
    ["\"Default domain type: %s %s\" then \"%s%s\" (v6.4.6 | v6.5.0 trees)", "6.4", "6.5", (k) => boot(k).find((l) => l.startsWith("iommu:")), "iommu: Default domain type: Translated ", "iommu: Default domain type: Translated"],
    ["RMRR refusal moves to the IOMMU core, EPERM -> EINVAL, a48ce36e2786 (v6.5.0 | v6.6.9 trees)", "6.5", "6.6", (k) => refusal(k).errno, "EPERM", "EINVAL"],
  ];
  for (const [what, before, from, check, beforeValue, fromValue] of rows) {
    it(what, () => {
      expect(check(before)).toEqual(beforeValue);
      expect(check(from)).toEqual(fromValue);
    });
  }

  it("the v6.6 refusal's text is the core's, and the explanation of it says Linux 6.6", () => {
    expect(refusal("6.6").kernel).toBe("vfio-pci 0000:00:14.0: Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.");
    const log = parseLog(`[  709.000000] ${refusal("6.6").kernel}`);
    const ex = explainRecords(log.records);
    expect(ex.find((e) => e.title.startsWith("Firmware 1:1 mapping"))?.meaning).toContain("since Linux 6.6 the IOMMU core refuses");
    expect(refusal("6.5").kernel).toBe("vfio-pci 0000:00:14.0: DMAR: Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.");
  });
});
