/**
 * QEMU's vfio_* error output and libvirt's error lines: decoded, explained with concrete checks,
 * in `decode --json`. Each sample with its source:
 * - QEMU hw/vfio/pci.c vfio_pci_hot_reset "vfio: Cannot reset device %s, depends on group %d which
 *   is not owned." and "vfio: Cannot reset device %s, no available reset mechanism." (the strings as
 *   compiled into QEMU, found in public QEMU builds), the usual GPU + audio function case;
 * - libvirt src/hypervisor/virhostdev.c "PCI device %s is in use by driver %s, domain %s": the
 *   `virsh start` error a GPU-passthrough guide's FAQ quotes ("error: Requested operation is not
 *   valid: PCI device 0000:01:00.0 is in use by driver QEMU, domain <guestname>") and the Xen form
 *   quoted in a Qubes salt test ("PCI device 0000:04:00.0 is in use by driver xenlight, domain salt-testvm4");
 * - libvirt src/util/virprocess.c "cannot limit locked memory of process %lld to %llu": KubeVirt's
 *   non-root VFIO failure "cannot limit locked memory of process 111 to 9007199254740991: Operation not permitted";
 * - libvirt src/qemu/qemu_hostdev.c "host doesn't support VFIO PCI passthrough", src/util/virpci.c
 *   "Unable to reset PCI device %s: %s" with its bus-reset refusal, and the driver_override bind error;
 * - the lines the brief names that decoded before (dma_map, setup container, group not viable) stay decoded.
 */
import { describe, expect, it } from "vitest";
import { decodeEvidenceText } from "../../src/import/decode.js";
import { explainRecords } from "../../src/import/explain.js";
import { recordToJson } from "../../src/import/json.js";

function one(line: string) {
  const r = decodeEvidenceText(`${line}\n`);
  expect(r.records, line).toHaveLength(1);
  const rec = r.records[0]!;
  const e = explainRecords(r.records)[0];
  return { rec, e, json: recordToJson(rec, "f") };
}

describe("QEMU's vfio reset errors", () => {
  it("a bus reset that reaches a group the VM does not own: the device, the group, and which group to assign", () => {
    const { rec, e, json } = one("qemu-system-x86_64: vfio: Cannot reset device 0000:01:00.1, depends on group 1 which is not owned.");
    expect(rec.fields).toMatchObject({ problem: "reset-group-not-owned", device: "01:00.1", group: 1 });
    expect(json).toMatchObject({ source: "vfio", type: "reset-group-not-owned", bdf: "0000:01:00.1" });
    expect(e!.checks.join(" ")).toContain("ls /sys/kernel/iommu_groups/1/devices/");
  });

  it("no reset method at all", () => {
    const { rec, e } = one("vfio: Cannot reset device 0000:00:1b.0, no available reset mechanism.");
    expect(rec.fields).toMatchObject({ problem: "no-reset-method", device: "00:1b.0" });
    expect(e!.checks.join(" ")).toContain("/sys/bus/pci/devices/0000:00:1b.0/reset_method");
  });
});

describe("libvirt's error lines", () => {
  it("a hostdev in use by another domain, from virsh and from the journal", () => {
    const virsh = one("error: Requested operation is not valid: PCI device 0000:01:00.0 is in use by driver QEMU, domain win10");
    expect(virsh.rec.fields).toMatchObject({ problem: "hostdev-in-use", device: "01:00.0", user: "QEMU", domain: "win10", program: "libvirt" });
    expect(virsh.e!.causes[0]).toContain("win10");
    const journal = one("Dec 05 10:00:00 host libvirtd[1234]: Requested operation is not valid: PCI device 0000:04:00.0 is in use by driver xenlight, domain salt-testvm4");
    expect(journal.rec.fields).toMatchObject({ problem: "hostdev-in-use", device: "04:00.0", user: "xenlight", domain: "salt-testvm4" });
  });

  it("memlock: libvirt may not raise the limit (EPERM: no CAP_SYS_RESOURCE)", () => {
    const { rec, e, json } = one("cannot limit locked memory of process 111 to 9007199254740991: Operation not permitted");
    expect(rec.fields).toMatchObject({ problem: "memlock-raise-failed", pid: 111, limit: "9007199254740991", errno: "EPERM" });
    expect(json).toMatchObject({ source: "vfio", reason: 1, reasonText: "Operation not permitted" });
    expect(e!.causes[0]).toContain("CAP_SYS_RESOURCE");
  });

  it("no VFIO on the host, a reset libvirt refuses, a failed bind", () => {
    expect(one("error: unsupported configuration: host doesn't support VFIO PCI passthrough").rec.fields.problem).toBe("no-vfio-support");
    const reset = one("error: internal error: Unable to reset PCI device 0000:00:1f.3: internal error: Active 0000:00:1f.0 devices on bus with 0000:00:1f.3, not doing bus reset");
    expect(reset.rec.fields).toMatchObject({ problem: "reset-failed", device: "00:1f.3" });
    expect(reset.e!.causes[0]).toContain("other active devices on the same bus");
    const bind = one("error: Failed to add driver 'vfio-pci' to driver_override interface of PCI device '0000:01:00.0': Device or resource busy");
    expect(bind.rec.fields).toMatchObject({ problem: "bind-failed", device: "01:00.0", driver: "vfio-pci", errno: "EBUSY" });
  });

  it("the lines that decoded before still do (dma_map ENOMEM, container setup, group not viable)", () => {
    expect(one("qemu-system-x86_64: VFIO_MAP_DMA failed: Cannot allocate memory").rec.fields.problem).toBe("map-failed");
    expect(one("qemu-system-x86_64: -device vfio-pci,host=0000:01:00.0: vfio 0000:01:00.0: failed to setup container for group 1: Failed to set iommu for container: Operation not permitted").rec.fields).toMatchObject({ problem: "set-iommu-failed", group: 1, device: "01:00.0" });
    expect(one("qemu-system-x86_64: vfio: error, group 14 is not viable, please ensure all devices within the iommu_group are bound to their vfio bus driver.").rec.fields).toMatchObject({ problem: "group-not-viable", group: 14 });
  });
});

/**
 * "Failed to initialize ... VFIO": no such string in QEMU's hw/vfio or libvirt. The real lines it
 * stands for: QEMU 8.1+ hw/vfio/migration.c vfio_migration_realize's error_setg strings
 * ("%s: Migration couldn't be initialized for VFIO device, err: %d (%s)" and its siblings), printed
 * under vfio_realize's VFIO_MSG_PREFIX when enable-migration=on, and older QEMU's qdev
 * "Device '%s' could not be initialized" (QERR_DEVICE_INIT_FAILED) after a failed realize, as in
 * libvirt's commit message quoting "qemu-system-x86_64: -device vfio-pci,host=00:1a.0,...: Device
 * 'vfio-pci' could not be initialized".
 */
describe("QEMU's VFIO migration errors (the 'could not be initialized' lines)", () => {
  it("migration couldn't be initialized: the device from the prefix, the errno, and the variant driver to check", () => {
    const { rec, e, json } = one("qemu-system-x86_64: -device vfio-pci,host=0000:17:00.2,enable-migration=on: vfio 0000:17:00.2: 0000:17:00.2: Migration couldn't be initialized for VFIO device, err: -95 (Operation not supported)");
    expect(rec.fields).toMatchObject({ problem: "migration-init-failed", device: "17:00.2", errno: "EOPNOTSUPP", errnoNumber: 95 });
    expect(json).toMatchObject({ source: "vfio", type: "migration-init-failed", bdf: "0000:17:00.2" });
    expect(e!.meaning).toContain("vfio_migration_realize");
    expect(e!.causes.join(" ")).toContain("EOPNOTSUPP");
    expect(e!.checks[0]).toContain("lspci -nnk -s 17:00.2");
  });

  it("the four other reasons decode each to its own problem and causes", () => {
    const cases: [string, string, RegExp][] = [
      ["0000:3b:00.1: VFIO migration is not supported in kernel", "migration-unsupported", /variant drivers/],
      ["qemu-kvm: -device vfio-pci,host=0000:3b:00.1,enable-migration=on: vfio 0000:3b:00.1: 0000:3b:00.1: VFIO device doesn't support device dirty tracking", "migration-no-dirty-tracking", /dirty tracking/],
      ["qemu-system-x86_64: -device vfio-pci,host=0000:3b:00.1: 0000:3b:00.1: Migration is currently not supported with vIOMMU enabled", "migration-viommu", /vIOMMU/],
      ["Error: 0000:3b:00.1: Migration is disabled for VFIO device", "migration-disabled", /enable-migration=off/],
    ];
    for (const [line, problem, cause] of cases) {
      const r = decodeEvidenceText(`${line}\n`);
      const rec = r.records.find((x) => x.kind === "vfio-message");
      expect(rec?.fields.problem, line).toBe(problem);
      expect(rec?.fields.device, line).toBe("3b:00.1");
      expect(explainRecords(r.records).find((x) => x.record === r.records.indexOf(rec!))!.causes.join(" "), line).toMatch(cause);
    }
  });

  it("older QEMU's \"Device 'vfio-pci' could not be initialized\" is the context of the error before it, not a record of its own", () => {
    const r = decodeEvidenceText(
      [
        "qemu-system-x86_64: -device vfio-pci,host=00:1a.0,id=hostdev0,bus=pci.0,addr=0x5: vfio: error, group 8 is not viable, please ensure all devices within the iommu_group are bound to their vfio bus driver.",
        "qemu-system-x86_64: -device vfio-pci,host=00:1a.0,id=hostdev0,bus=pci.0,addr=0x5: vfio: failed to get group 8",
        "qemu-system-x86_64: -device vfio-pci,host=00:1a.0,id=hostdev0,bus=pci.0,addr=0x5: Device 'vfio-pci' could not be initialized",
      ].join("\n"),
    );
    expect(r.records).toHaveLength(1);
    expect(r.records[0]!.fields).toMatchObject({ problem: "group-not-viable", group: 8 });
    expect(r.records[0]!.context.map((c) => c.line)).toEqual([1, 2]);
    expect(r.skipped).toEqual([]);
  });
});
