/**
 * IOMMU group, VFIO, QEMU and RMRR lines (reference §6, §7). The VFIO/QEMU and RMRR rules match
 * the body under QEMU's, libvirt's and dev_printk's prefixes (rule.ts parseQemuMessage), which
 * also name the device and the program.
 */
import { parseBdf } from "../records.js";
import { type Fields, type LineContext, type RuleTable } from "./rule.js";

const GROUP_ADD = /^(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|[\w.:-]+): Adding to iommu group (\d+)$/;
/** hw/vfio (vfio_get_group / vfio_group_get): "group %d is not viable"; older QEMU "vfio: error, group %d is not viable, please ensure ...". */
const NOT_VIABLE = /^(?:error, )?group (\d+) is not viable(?:, please ensure all devices within the iommu_group are bound to their vfio bus driver\.?)?$/;
/** Its error_append_hint. */
const VIABLE_HINT = /^Please ensure all devices within the iommu_group are bound to their vfio bus driver\.?$/;
/** hw/vfio container.c vfio_connect_container: error_prepend(errp, "failed to setup container for group %d: ", group->groupid). */
const SETUP_CONTAINER = /^failed to setup container for group (\d+): (.+)$/;
/**
 * hw/vfio container.c vfio_set_iommu / older vfio_connect_container: error_setg_errno(errp, errno,
 * "Failed to set group container") ("failed to set group container" before, "vfio: failed to set
 * group container: %m" in QEMU 1.x-2.x error_report); the same for "... set iommu for container".
 */
const SET_GROUP_CONTAINER = /^(?:vfio: )?[Ff]ailed to set group container: (.+)$/;
const SET_IOMMU = /^(?:vfio: )?[Ff]ailed to set iommu for container: (.+)$/;
/** hw/vfio vfio_get_device / vfio_device_get: "error getting device from group %d" (errno appended); QEMU 1.x "vfio: error getting device %s from group %d: %m". */
const GET_DEVICE = /^(?:vfio: )?error getting device (?:(\S+) )?from group (\d+): (.+)$/;
/** Its hint: "Verify all devices in group %d are bound to vfio-<bus> or pci-stub and not already in use" (older: "... to vfio-pci or pci-stub ...", "... to the vfio driver and are not already in use"). */
const VERIFY_HINT = /^Verify all devices in group (\d+) are bound to (?:vfio-<bus>|vfio-pci|the vfio(?: platform)? driver)(?: or pci-stub)? and (?:are )?not already in use$/;
/** hw/vfio vfio_get_group: error_setg_errno(errp, errno, "failed to open %s", path). */
const GROUP_OPEN = /^failed to open \/dev\/vfio\/(\d+): (.+)$/;
/** hw/i386/intel_iommu.c vtd_panic_require_caching_mode (older QEMU: without "with IOMMU protection"). */
const CACHING_MODE = /^We need to set caching-mode=on for intel-iommu to enable device assignment(?: with IOMMU protection)?\.$/;
/** What QEMU prints after a failed vfio-pci realize (context of the record before it). */
const QEMU_AFTER = /^(?:Device initialization failed\.?|failed to get group \d+|Device '[\w-]+' could not be initialized)$/;
const MEMLOCK = /^(vfio_pin_pages_remote): RLIMIT_MEMLOCK \((\d+)\) exceeded$/;
const MAP_FAILED = /^(?:vfio: )?VFIO_MAP_DMA failed: (.+)$/;
const DMA_MAP_CALL = /vfio_dma_map\((0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+)\) = (-\d+) \((.+)\)$/;
const NO_IR = /^(?:vfio_iommu_type1_attach_group: )?No interrupt remapping support\. {1,2}Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support on this platform$/;
/** drivers/iommu/intel/iommu.c (≤6.4) device_is_rmrr_locked callers: dev_warn(dev, "Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.\n"); "DMAR: " since dev_fmt was added. */
const RMRR_INELIGIBLE = /^Device is ineligible for IOMMU domain attach due to platform RMRR requirement\.(?: {1,2}Contact your platform vendor\.)?$/;
/** drivers/iommu/iommu.c __iommu_device_set_domain (6.6+, a48ce36e2786; require_direct: RMRR on Intel, IVMD on AMD): no dev_fmt, so no "DMAR: ". */
const REQUIRE_DIRECT = /^Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping\.(?: Contact your platform vendor\.)?$/;
const RMRR_BROKEN = /RMRR entry for device ([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) is broken/;
const RMRR_BASE = /^(?:(?:dmar|DMAR): )?RMRR base: (0x[0-9a-f]+) end: (0x[0-9a-f]+)$/;

/** hw/vfio/pci.c vfio_pci_hot_reset: error_report("vfio: Cannot reset device %s, depends on group %d which is not owned."). */
const RESET_NOT_OWNED = /^Cannot reset device (\S+), depends on group (\d+) which is not owned\.?$/;
/** hw/vfio/pci.c vfio_pci_reset / vfio_realize (older QEMU): "vfio: Cannot reset device %s, no available reset mechanism.". */
const RESET_NONE = /^Cannot reset device (\S+), no available reset mechanism\.?$/;
/**
 * QEMU 8.1+ hw/vfio/migration.c vfio_migration_realize: why a VFIO device cannot be migrated, each
 * an error_setg "%s: ..." with vbasedev->name. With enable-migration=on, vfio_block_migration
 * propagates it and realize fails (QEMU prints it under "-device vfio-pci,...: vfio NAME: ");
 * with the default auto it becomes the device's migration blocker, reported when a migration is
 * tried. The nearest real text to "Failed to initialize ... VFIO": neither QEMU's hw/vfio nor
 * libvirt prints that string. Older QEMU's qdev said "Device '%s' could not be initialized"
 * (QERR_DEVICE_INIT_FAILED, include/qapi/qmp/qerror.h, QEMU 1.x-2.x) after a failed vfio-pci realize.
 * A refused `migrate` in the monitor prints the blocker as "Error: %s" (monitor/hmp.c hmp_handle_error).
 */
const MIG_INIT = /^(?:Error: )?(\S+): Migration couldn't be initialized for VFIO device, err: (-\d+) \((.+)\)$/;
const MIG_KERNEL = /^(?:Error: )?(\S+): VFIO migration is not supported in kernel$/;
const MIG_DIRTY = /^(?:Error: )?(\S+): VFIO device doesn't support device dirty tracking$/;
const MIG_VIOMMU = /^(?:Error: )?(\S+): Migration is currently not supported with vIOMMU enabled$/;
const MIG_DISABLED = /^(?:Error: )?(\S+): Migration is disabled for VFIO device$/;

/**
 * libvirt's error prefixes (virErrorMsgStrings, src/util/virerror.c) and virsh's "error: ": the
 * same message reaches a user through `virsh start`, virt-manager's dialog and the journal.
 */
const LV = "(?:error: )?(?:(?:Requested operation is not valid|internal error|unsupported configuration|operation failed): )*";
/** src/hypervisor/virhostdev.c virHostdevIsPCINodeDeviceUsed: _("PCI device %1$s is in use by driver %2$s, domain %3$s"). */
const LV_IN_USE = new RegExp(`^${LV}PCI device ((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]) is in use by driver (\\S+), domain (.+)$`);
/** src/util/virprocess.c virProcessSetMaxMemLock: virReportSystemError(errno, _("cannot limit locked memory of process %1$lld to %2$llu")) (": strerror" appended). */
const LV_MEMLOCK = new RegExp(`^${LV}cannot limit locked memory of process (\\d+) to (\\d+)(?:: (.+))?$`);
/** src/qemu/qemu_hostdev.c qemuHostdevPreparePCIDevicesCheckSupport: _("host doesn't support VFIO PCI passthrough"). */
const LV_NO_VFIO = new RegExp(`^${LV}host doesn't support VFIO PCI passthrough$`);
/** src/util/virpci.c virPCIDeviceReset: _("Unable to reset PCI device %1$s: %2$s") (the last error, or "no FLR, PM reset or bus reset available"). */
const LV_RESET = new RegExp(`^${LV}Unable to reset PCI device ((?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]): (.+)$`);
/** src/util/virpci.c virPCIDeviceBindWithDriverOverride: _("Failed to add driver '%1$s' to driver_override interface of PCI device '%2$s'") (": strerror" appended). */
const LV_BIND = new RegExp(`^${LV}Failed to add driver '([^']+)' to driver_override interface of PCI device '([^']+)'(?:: (.+))?$`);

/** errno names of the strerror() texts QEMU appends. */
const ERRNO: Record<string, [number, string]> = {
  "Operation not permitted": [1, "EPERM"], "No such file or directory": [2, "ENOENT"], "Bad address": [14, "EFAULT"], "Cannot allocate memory": [12, "ENOMEM"], "Permission denied": [13, "EACCES"],
  "Device or resource busy": [16, "EBUSY"], "No such device": [19, "ENODEV"], "Invalid argument": [22, "EINVAL"], "No space left on device": [28, "ENOSPC"], "Operation not supported": [95, "EOPNOTSUPP"],
};

/** The error text QEMU appended (strerror), with its errno name and number when known. */
function errnoFields(text: string): Record<string, string | number> {
  const e = ERRNO[text.trim()];
  return e ? { error: text.trim(), errno: e[1], errnoNumber: e[0] } : { error: text.trim() };
}

/** The fields with the device, driver and program the prefixes named. */
function who(cx: LineContext, f: Fields): Fields {
  const q = cx.qemu();
  if (q.device !== undefined) f.device = q.device;
  if (q.driver !== undefined) f.driver = q.driver;
  if (q.program !== undefined) f.program = q.program;
  return f;
}
const dev = (cx: LineContext) => {
  const device = cx.qemu().device;
  return device ? ` (device ${device})` : "";
};
const vfio = (cx: LineContext, summary: string, fields: Fields) => void cx.emit(cx.record("vfio-message", summary, who(cx, fields)));
const hint = { on: "body", when: (cx: LineContext) => cx.lastIs("vfio-message"), build: (_m: RegExpExecArray, cx: LineContext) => cx.attach() } as const;

export const GROUP_RULES: RuleTable = {
  source: "IOMMU groups",
  rules: [
    {
      pattern: GROUP_ADD,
      build: (m, cx) => {
        const b = parseBdf(m[2]!);
        cx.emit(cx.record("group-add", `${m[2]} joined IOMMU group ${m[3]}`, { device: b?.key ?? m[2]!, group: Number(m[3]), bus: m[1]! }));
      },
    },
  ],
};

export const VFIO_RULES: RuleTable = {
  source: "VFIO, QEMU",
  rules: [
    { pattern: NOT_VIABLE, on: "body", build: (m, cx) => vfio(cx, `VFIO refuses IOMMU group ${m[1]}${dev(cx)}: the group is not viable`, { problem: "group-not-viable", group: Number(m[1]) }) },
    { ...hint, pattern: VIABLE_HINT },
    { ...hint, pattern: VERIFY_HINT },
    { ...hint, pattern: QEMU_AFTER, when: (cx) => cx.qemu().program !== undefined && cx.lastIs("vfio-message") },
    {
      pattern: SETUP_CONTAINER,
      on: "body",
      build: (m, cx) => {
        const inner = m[2]!;
        const group = Number(m[1]);
        let r: RegExpExecArray | null;
        if ((r = SET_GROUP_CONTAINER.exec(inner))) vfio(cx, `VFIO could not attach group ${group}${dev(cx)} to the container (VFIO_GROUP_SET_CONTAINER): ${r[1]}`, { problem: "set-container-failed", group, ...errnoFields(r[1]!) });
        else if ((r = SET_IOMMU.exec(inner))) vfio(cx, `VFIO could not set the IOMMU for group ${group}'s container (VFIO_SET_IOMMU): ${r[1]}`, { problem: "set-iommu-failed", group, ...errnoFields(r[1]!) });
        else if ((r = DMA_MAP_CALL.exec(inner))) vfio(cx, `mapping guest memory for group ${group} failed: vfio_dma_map(iova ${r[2]}, size ${r[3]}) = ${r[5]} (${r[6]})`, { problem: "map-failed", group, container: r[1]!, iova: r[2]!, size: r[3]!, vaddr: r[4]!, ...errnoFields(r[6]!) });
        else vfio(cx, `VFIO could not set up a container for group ${group}${dev(cx)}: ${inner}`, { problem: "container-setup-failed", group, ...errnoFields(inner.replace(/^.*: /, "")), message: inner });
      },
    },
    { pattern: SET_GROUP_CONTAINER, on: "body", build: (m, cx) => vfio(cx, `VFIO could not attach the group to the container (VFIO_GROUP_SET_CONTAINER)${dev(cx)}: ${m[1]}`, { problem: "set-container-failed", ...errnoFields(m[1]!) }) },
    { pattern: SET_IOMMU, on: "body", build: (m, cx) => vfio(cx, `VFIO could not set the container's IOMMU (VFIO_SET_IOMMU)${dev(cx)}: ${m[1]}`, { problem: "set-iommu-failed", ...errnoFields(m[1]!) }) },
    {
      pattern: GET_DEVICE,
      on: "body",
      build: (m, cx) => {
        const q = cx.qemu();
        if (m[1] && !q.device) q.device = parseBdf(m[1])?.key;
        vfio(cx, `VFIO could not get ${q.device ?? "the device"} from group ${m[2]} (VFIO_GROUP_GET_DEVICE_FD): ${m[3]}`, { problem: "get-device-failed", group: Number(m[2]), ...errnoFields(m[3]!) });
      },
    },
    { pattern: GROUP_OPEN, on: "body", build: (m, cx) => vfio(cx, `QEMU could not open /dev/vfio/${m[1]}${dev(cx)}: ${m[2]}`, { problem: "group-open-failed", group: Number(m[1]), ...errnoFields(m[2]!) }) },
    { pattern: CACHING_MODE, on: "body", build: (_m, cx) => vfio(cx, "QEMU refuses device assignment behind a vIOMMU without caching-mode=on (intel-iommu)", { problem: "caching-mode-off" }) },
    // The kernel's own messages: no QEMU program or device to name.
    { pattern: MEMLOCK, on: "body", build: (m, cx) => void cx.emit(cx.record("vfio-message", `pinning guest memory exceeded RLIMIT_MEMLOCK (${m[2]} bytes): VFIO_IOMMU_MAP_DMA fails with ENOMEM`, { problem: "memlock", limit: Number(m[2]) })) },
    { pattern: DMA_MAP_CALL, on: "body", build: (m, cx) => vfio(cx, `vfio_dma_map(iova ${m[2]}, size ${m[3]}) failed with ${m[5]} (${m[6]})`, { problem: "map-failed", container: m[1]!, iova: m[2]!, size: m[3]!, vaddr: m[4]!, ...errnoFields(m[6]!) }) },
    { pattern: MAP_FAILED, on: "body", build: (m, cx) => vfio(cx, `VFIO_MAP_DMA failed: ${m[1]}`, { problem: "map-failed", ...errnoFields(m[1]!) }) },
    { pattern: RESET_NOT_OWNED, on: "body", build: (m, cx) => vfio(cx, `QEMU cannot reset ${m[1]}: the bus reset also resets group ${m[2]}, which this VM does not own`, { problem: "reset-group-not-owned", device: parseBdf(m[1]!)?.key ?? m[1]!, group: Number(m[2]) }) },
    { pattern: RESET_NONE, on: "body", build: (m, cx) => vfio(cx, `QEMU cannot reset ${m[1]}: the device has no reset method (no FLR, no PM reset, no bus reset)`, { problem: "no-reset-method", device: parseBdf(m[1]!)?.key ?? m[1]! }) },
    ...(
      [
        [MIG_INIT, "migration-init-failed", (m: RegExpExecArray) => `VFIO migration of ${m[1]} could not be set up: ${m[2]} (${m[3]})`],
        [MIG_KERNEL, "migration-unsupported", (m: RegExpExecArray) => `${m[1]} cannot be migrated: its VFIO driver has no migration support (VFIO_DEVICE_FEATURE_MIGRATION)`],
        [MIG_DIRTY, "migration-no-dirty-tracking", (m: RegExpExecArray) => `${m[1]} cannot be migrated: neither the device nor the IOMMU tracks the pages it dirties`],
        [MIG_VIOMMU, "migration-viommu", (m: RegExpExecArray) => `${m[1]} cannot be migrated while the VM has a vIOMMU`],
        [MIG_DISABLED, "migration-disabled", (m: RegExpExecArray) => `migration is disabled for ${m[1]} (enable-migration=off)`],
      ] as const
    ).map(([pattern, problem, summary]) => ({
      pattern,
      on: "body" as const,
      build: (m: RegExpExecArray, cx: LineContext) => {
        const q = cx.qemu();
        if (!q.device) q.device = parseBdf(m[1]!)?.key;
        vfio(cx, summary(m), { problem, ...(q.device === undefined ? { name: m[1]! } : {}), ...(m[2] !== undefined ? { errnoNumber: -Number(m[2]), ...errnoFields(m[3]!) } : {}) });
      },
    })),
    // libvirt's own errors (program libvirt): the host side of starting a VM with a <hostdev>.
    { pattern: LV_IN_USE, on: "body", build: (m, cx) => vfio(cx, `libvirt: ${m[1]} is already in use by ${m[2]} (domain ${m[3]})`, { problem: "hostdev-in-use", device: parseBdf(m[1]!)?.key ?? m[1]!, user: m[2]!, domain: m[3]!, program: "libvirt" }) },
    { pattern: LV_MEMLOCK, on: "body", build: (m, cx) => vfio(cx, `libvirt could not raise the VM's locked-memory limit to ${m[2]} bytes${m[3] ? `: ${m[3]}` : ""}`, { problem: "memlock-raise-failed", pid: Number(m[1]), limit: m[2]!, ...(m[3] ? errnoFields(m[3]) : {}), program: "libvirt" }) },
    { pattern: LV_NO_VFIO, on: "body", build: (_m, cx) => vfio(cx, "libvirt: the host does not support VFIO PCI passthrough (no IOMMU groups or no vfio modules)", { problem: "no-vfio-support", program: "libvirt" }) },
    { pattern: LV_RESET, on: "body", build: (m, cx) => vfio(cx, `libvirt could not reset ${m[1]}: ${m[2]}`, { problem: "reset-failed", device: parseBdf(m[1]!)?.key ?? m[1]!, error: m[2]!, program: "libvirt" }) },
    { pattern: LV_BIND, on: "body", build: (m, cx) => vfio(cx, `libvirt could not bind ${m[2]} to ${m[1]}${m[3] ? `: ${m[3]}` : ""}`, { problem: "bind-failed", device: parseBdf(m[2]!)?.key ?? m[2]!, driver: m[1]!, ...(m[3] ? errnoFields(m[3]) : {}), program: "libvirt" }) },
    { pattern: NO_IR, on: "body", build: (_m, cx) => void cx.emit(cx.record("vfio-message", "VFIO refuses the device: no interrupt remapping (allow_unsafe_interrupts is off)", { problem: "no-interrupt-remapping" })) },
  ],
};

/** A device whose firmware RMRR (or, 6.6+, a firmware 1:1 mapping) keeps it from a VM's domain. */
function rmrrIneligible(cx: LineContext, direct: boolean): void {
  const { device, driver } = cx.qemu();
  const fields: Fields = { problem: "rmrr-ineligible" };
  if (device) fields.device = device;
  if (driver) fields.driver = driver;
  if (direct) fields.firmwareDirect = true;
  cx.emit(cx.record("rmrr", `${device ?? "a device"} cannot be assigned: ${direct ? "the firmware requires a 1:1 IOMMU mapping for it (an RMRR on Intel, an IVMD on AMD)" : "its firmware RMRR (reserved memory the BIOS keeps using)"}, so it cannot be attached to a VM's IOMMU domain`, fields));
}

export const RMRR_RULES: RuleTable = {
  source: "RMRR",
  rules: [
    { pattern: RMRR_INELIGIBLE, on: "body", build: (_m, cx) => rmrrIneligible(cx, false) },
    { pattern: REQUIRE_DIRECT, on: "body", build: (_m, cx) => rmrrIneligible(cx, true) },
    { pattern: RMRR_BROKEN, on: "body", build: (m, cx) => void cx.emit(cx.record("rmrr", `firmware bug: the RMRR of ${m[1]}:${m[2]}.${m[3]} is broken (workaround applied)`, { problem: "rmrr-broken", device: `${m[1]}:${m[2]}.${m[3]}` })) },
    { pattern: RMRR_BASE, on: "body", build: (m, cx) => void cx.emit(cx.record("rmrr", `firmware reserved memory region (RMRR) ${m[1]}-${m[2]}`, { problem: "rmrr-region", base: m[1]!, end: m[2]! })) },
  ],
};
