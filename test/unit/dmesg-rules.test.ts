// dmesg.ts is one loop over per-source rule tables (issue 15 "files with one job"): the tables
// come in the order the loop tries them, and no rule is shadowed by an earlier one (each takes a
// line of the fixtures or of the samples below: a reordered table or a too-wide pattern shows here).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseLog, RULE_TABLES } from "../../src/import/dmesg.js";
import type { Rule } from "../../src/import/dmesg/rule.js";

/** Lines of the formats the fixtures lack (format strings: reference §3-§7 and the rule modules' comments). */
const SAMPLES = [
  "[    5.100000] dmar: DMAR:[DMA Read] Request device [02:00.0] fault addr a0c58000 ",
  "[    5.100001] DMAR:[fault reason 02] Present bit in context entry is clear",
  "[    5.200000] DMAR: [INTR-REMAP] Request device [00:1f.0] fault index 0x1d [fault reason 0x26] Blocked an interrupt request due to source-id verification failure",
  "[    5.300000] DMAR: INTR-REMAP: Request device [[00:1f.0] fault index 1d",
  "[    5.300001] INTR-REMAP:[fault reason 38] Blocked an interrupt request due to source-id verification failure",
  "[    6.000000] iommu ivhd0: AMD-Vi: Event logged [UNKNOWN event[0]=0x0000abcd event[1]=0xf0000000 event[2]=0x00000000 event[3]=0x00000000",
  "[    6.100000] AMD-Vi: Event logged [Device not attached to domain properly]",
  "[    6.100001] AMD-Vi:   device=0000:01:00.0 domain=0x0010",
  "[    6.200000] vfio-pci 0000:01:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0010 address=0xfee00000 flags=0x0020]",
  "[    6.200001] AMD-Vi:   device=0000:01:00.0 domain=0x0010",
  "[    6.300000] AMD-Vi: IOMMU event log overflow",
  "[    6.400000] AMD-Vi: IOMMU PPR log restarting",
  "[    7.000000] arm-smmu-v3 arm-smmu-v3.0.auto: EVTQ overflow detected -- events lost",
  "[    7.000001] arm-smmu-v3 arm-smmu-v3.0.auto: PRIQ overflow detected -- requests lost",
  "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: group 14 is not viable",
  "Verify all devices in group 14 are bound to vfio-<bus> or pci-stub and not already in use",
  "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: Device initialization failed",
  "vfio 0000:01:00.0: failed to setup container for group 13: Failed to set group container: Invalid argument",
  "qemu-system-x86_64: -device vfio-pci,host=03:00.0: vfio: failed to set group container: Device or resource busy",
  "qemu-system-x86_64: -device vfio-pci,host=03:00.0: vfio: failed to set iommu for container: Operation not permitted",
  "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: error getting device from group 14: Invalid argument",
  "qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: failed to open /dev/vfio/14: No such file or directory",
  "qemu-system-x86_64: We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.",
  // QEMU intel-iommu error_report_once formats (hw/i386/intel_iommu.c; reference §4) with example values.
  "qemu-system-x86_64: vtd_iova_to_slpte: detected read error on DMAR slpte (iova=0x1000, pasid=0x0)",
  "qemu-system-x86_64: vtd_iova_to_flpte: detected non canonical IOVA (iova=0xffff800000000000,pasid=0x0)",
  "qemu-system-x86_64: vtd_iova_to_slpte: xlat address is in interrupt range (iova=0xfee00000, level=0x1, pte=0xfee00003, write=1, xlat=0xfee00000, size=0x1000, pasid=0x0)",
  "qemu-system-x86_64: vtd_get_root_entry: invalid root entry: hi=0x1, lo=0x10001001",
  "qemu-system-x86_64: vtd_dev_to_context_entry: invalid context entry: hi=f00, lo=10002001 (reserved nonzero)",
  "qemu-system-x86_64: vtd_ce_type_check: DT specified but not supported",
  "qemu-system-x86_64: vtd_ce_type_check: unknown ce type: 3",
  "qemu-system-x86_64: New fault is not recorded due to Primary Fault Overflow",
  "qemu-system-x86_64: vfio_dma_map(0x55d5c0a0b000, 0x100000000, 0x40000000, 0x7f0000000000) = -12 (Cannot allocate memory)",
  'vfio_iommu_type1_attach_group: No interrupt remapping support.  Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support on this platform',
  "[  709.000000] vfio-pci 0000:01:00.0: Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.",
  "[    0.100000] DMAR: [Firmware Bug]: RMRR entry for device 00:14.0 is broken - applying workaround",
  // QEMU's reset errors and libvirt's errors (test/unit/import-vfio-errors.test.ts has their sources).
  "qemu-system-x86_64: vfio: Cannot reset device 0000:01:00.1, depends on group 1 which is not owned.",
  "vfio: Cannot reset device 0000:00:1b.0, no available reset mechanism.",
  "error: Requested operation is not valid: PCI device 0000:01:00.0 is in use by driver QEMU, domain win10",
  "cannot limit locked memory of process 111 to 9007199254740991: Operation not permitted",
  "error: unsupported configuration: host doesn't support VFIO PCI passthrough",
  "error: internal error: Unable to reset PCI device 0000:00:1f.3: internal error: Active 0000:00:1f.0 devices on bus with 0000:00:1f.3, not doing bus reset",
  "error: Failed to add driver 'vfio-pci' to driver_override interface of PCI device '0000:01:00.0': Device or resource busy",
  // QEMU 8.1+ hw/vfio/migration.c vfio_migration_realize.
  "qemu-system-x86_64: -device vfio-pci,host=0000:17:00.2,enable-migration=on: vfio 0000:17:00.2: 0000:17:00.2: Migration couldn't be initialized for VFIO device, err: -95 (Operation not supported)",
  "0000:3b:00.1: VFIO migration is not supported in kernel",
  "0000:3b:00.1: VFIO device doesn't support device dirty tracking",
  "0000:3b:00.1: Migration is currently not supported with vIOMMU enabled",
  "Error: 0000:3b:00.1: Migration is disabled for VFIO device",
].join("\n");

describe("dmesg rule tables", () => {
  const taken = new Map<Rule, number>();
  const builds = new Map<Rule, Rule["build"]>();
  for (const t of RULE_TABLES)
    for (const r of t.rules) {
      const build = r.build;
      builds.set(r, build);
      (r as { build: Rule["build"] }).build = (m, cx) => {
        const v = build(m, cx);
        if (v !== false) taken.set(r, (taken.get(r) ?? 0) + 1);
        return v;
      };
    }
  afterAll(() => {
    for (const [r, build] of builds) (r as { build: Rule["build"] }).build = build;
  });

  it("one table per source, in the order the loop tries them", () => {
    expect(RULE_TABLES.map((t) => t.source)).toEqual(["Intel VT-d (DMAR, INTR-REMAP)", "AMD-Vi", "Arm SMMUv3, SMMUv2", "IOMMU groups", "VFIO, QEMU", "QEMU intel-iommu (vIOMMU)", "RMRR"]);
  });

  it("every rule takes a line of the fixtures or the samples: none is shadowed by an earlier rule", () => {
    const dir = join(__dirname, "..", "fixtures", "evidence");
    for (const f of readdirSync(dir)) parseLog(readFileSync(join(dir, f), "utf8"));
    const samples = parseLog(SAMPLES);
    expect(samples.skipped.filter((s) => s.reason !== "context line with no fault record after it")).toEqual([]);
    const unused = RULE_TABLES.flatMap((t) => t.rules.filter((r) => !taken.has(r)).map((r) => `${t.source}: ${r.pattern.source.slice(0, 60)}`));
    expect(unused).toEqual([]);
  });
});
