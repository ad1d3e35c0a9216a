/**
 * Explains imported records: what the hardware or kernel reported, the likely causes ranked for
 * that kind of fault, what to check next, and — when an ftrace map/unmap history is at hand —
 * the concrete evidence ("IOVA 0x7c346000 was unmapped at line 812, 3 ms before the fault").
 */
import { EXPLAIN_HISTORY_WORK, WorkBudget } from "./work.js";
import {
  VTD_FR_ADDR_BEYOND_MGAW,
  VTD_FR_CONTEXT_ENTRY_P,
  VTD_FR_INTERRUPT_ADDR,
  VTD_FR_PASID_DIR_ACCESS_ERR,
  VTD_FR_PASID_DIR_ENTRY_P,
  VTD_FR_PASID_ENTRY_FSPTPTR_INV,
  VTD_FR_PASID_ENTRY_P,
  VTD_FR_PASID_TABLE_ACCESS_ERR,
  VTD_FR_PASID_TABLE_ENTRY_INV,
  VTD_FR_FS_NON_CANONICAL,
  VTD_FR_FS_PAGING_ENTRY_INV,
  VTD_FR_FS_PAGING_ENTRY_P,
  VTD_FR_FS_PAGING_ENTRY_RSVD,
  VTD_FR_FS_PAGING_ENTRY_US,
  VTD_FR_READ,
  VTD_FR_ROOT_ENTRY_P,
  VTD_FR_SM_INTERRUPT_ADDR,
  VTD_FR_SM_WRITE,
  VTD_FR_WRITE,
  faultReasonInfo,
} from "../sim/vtd/reasons.js";
import { nounFor, plural } from "../sim/plural.js";
import type { EvidenceRecord } from "./records.js";
import { iommuStatus, statusTitle } from "./bootState.js";
import { explainDeviceEvent } from "./deviceEvents.js";

import type { Explanation } from "../protocol/evidence.js";
import { contextEntryLayout } from "../sim/vtd/context.js";
import { fieldText, type DecodedField } from "../sim/iommu.js";
import { pasidEntryLayout, smContextEntryLayout } from "../sim/vtd/scalable.js";
export type { Explanation };

const CAUSES = {
  unmapped: "DMA to an IOVA that was never mapped: the driver handed the device a wrong or stale address (a descriptor ring or buffer pointer).",
  afterUnmap: "DMA after unmap: the buffer was unmapped (or the VM freed it) while the device still used it — a use-after-free of a DMA buffer.",
  direction: "Wrong DMA direction: the page is mapped, but read-only (or write-only) and the device accessed it the other way.",
  viommu: "A vIOMMU without caching mode: the guest mapped the IOVA in its own IOMMU, but QEMU could not shadow it into VFIO.",
  rmrr: "A missing RMRR / identity map: firmware-owned memory (USB legacy, GPU stolen memory) the device still accesses.",
  firmware: "Firmware DMA before the OS took over the device (faults at boot, before the driver probed).",
  notAttached: "The device is not attached to any domain: no context entry for its requester id (used before the driver set it up, or after it was released).",
  alias: "The DMA arrives with another requester id (a PCIe-to-PCI bridge or a quirk alias) that has no context entry.",
  corrupted: "Corrupted or mis-programmed tables: a driver bug or memory corruption wrote reserved bits or a bad pointer.",
  dmaMask: "The device's DMA mask is wider than the IOMMU's address width, so the driver handed out IOVAs the IOMMU cannot translate.",
  msi: "A DMA write into the interrupt window 0xFEE00000-0xFEEFFFFF (an MSI address used as a buffer, or a broken MSI setup).",
  irte: "The interrupt-remapping table: no entry (or a disabled one) for this interrupt, or a source-id check that fails for this requester.",
};

function dmarCauses(code: number): string[] {
  switch (code) {
    case 0x05:
    case 0x06:
      return [CAUSES.unmapped, CAUSES.afterUnmap, CAUSES.direction, CAUSES.viommu, CAUSES.rmrr, CAUSES.firmware];
    case 0x01:
    case 0x02:
      return [CAUSES.notAttached, CAUSES.alias, CAUSES.firmware, CAUSES.corrupted];
    case 0x04:
      return [CAUSES.dmaMask, CAUSES.corrupted];
    case 0x0e:
      return [CAUSES.msi];
    default:
      return code >= 0x20 && code < 0x30 ? [CAUSES.irte] : [CAUSES.corrupted, CAUSES.afterUnmap];
  }
}

const CHECKS_DMA = [
  "Trace the IOMMU maps and unmaps around the fault: `echo 1 > /sys/kernel/tracing/events/iommu/enable`, reproduce, and import /sys/kernel/tracing/trace here.",
  "Check whether the IOVA belongs to a VFIO mapping of the VM (QEMU's memory map: `info mtree` in the monitor) or to a guest vIOMMU mapping.",
  "Look for 'RMRR base' lines in the boot log and for firmware-reserved ranges in /proc/iomem that cover the address.",
  "If a VM has a vIOMMU: make sure intel-iommu has caching-mode=on (libvirt: <driver caching_mode='on'/>).",
];

/**
 * Whether another import's record ranks this import's causes (rankFromConfig): a device's driver
 * from lspci, a VM's configuration (hostdevs, vIOMMU options), an IOMMU group listing.
 */
export function ranksCauses(r: EvidenceRecord): boolean {
  return r.kind === "pci-device" || r.kind === "vm-config" || r.kind === "iommu-group";
}

/**
 * The evidence of the user's other imports (the extension) or other files (the CLI's `explain
 * FILE...`) that ranks one import's causes: one function for both, so a fault explained in VS Code
 * and on the command line with the same files gets the same ranking.
 */
export function rankingContext(others: Iterable<readonly EvidenceRecord[]>): EvidenceRecord[] {
  const out: EvidenceRecord[] = [];
  for (const records of others) for (const r of records) if (ranksCauses(r)) out.push(r);
  return out;
}

/**
 * Every record's explanation, in record order (the boot state's at the first of its lines).
 * `beat`: called every 1 000 records (the worker's sign of life for the host's watchdog).
 */
export function explainRecords(records: EvidenceRecord[], history: EvidenceRecord[] = [], context: readonly EvidenceRecord[] = [], beat?: () => void): Explanation[] {
  const out: Explanation[] = [];
  const around = new ExplainContext();
  for (const r of records) around.add(r);
  // Other imports' configuration (lspci, a VM's XML or command line), after the records: their indices stay.
  for (const r of context) if (ranksCauses(r)) around.add(r);
  records.forEach((r, i) => {
    if (beat && i % 1000 === 999) beat();
    const e = explainRecord(r, i, history, around);
    if (e) out.push(e);
  });
  const e = around.bootExplanation();
  if (e) {
    const k = out.findIndex((x) => x.record > e.record);
    if (k < 0) out.push(e);
    else out.splice(k, 0, e);
  }
  return out;
}

/**
 * One record's explanation (`i`: its index among all the records the context was built from),
 * or undefined when there is nothing to explain. With an ExplainContext built in a first pass,
 * a log of any size is explained as it streams in a second (the CLI's explain).
 */
export function explainRecord(r: EvidenceRecord, i: number, history: EvidenceRecord[], around: ExplainContext): Explanation | undefined {
  const e = explainOne(r, i, history, around);
  if (!e) return undefined;
  // Evidence re-ranks the causes: the trace says which one it was.
  const first = (c: string) => {
    const k = e.causes.indexOf(c);
    if (k > 0) e.causes.unshift(...e.causes.splice(k, 1));
  };
  if (e.evidence.some((x) => x.includes("DMA after unmap"))) first(CAUSES.afterUnmap);
  else if (e.evidence.some((x) => x.includes("not unmapped before the fault"))) {
    const k = e.causes.findIndex((c) => c.startsWith("Wrong DMA direction"));
    if (k > 0) e.causes.unshift(...e.causes.splice(k, 1));
  }
  return e;
}

/** The boot-state lines added up to one answer (its record: the first of them). */
function bootExplanation(records: readonly EvidenceRecord[], index: (k: number) => number): Explanation | undefined {
  const st = iommuStatus(records);
  if (!st) return undefined;
  const at = index(st.facts[0]!.record);
  const meaning =
    st.translation === "on"
      ? `The IOMMU translates DMA${st.defaultDomain === "Passthrough" ? "; host devices use identity (pass-through) domains (iommu=pt), devices assigned to VMs still get translated VFIO domains" : st.defaultDomain ? `; host devices use ${st.defaultDomain.toLowerCase()} DMA domains` : ""}.`
      : st.translation === "off"
        ? "The IOMMU does not translate DMA in this boot: VFIO cannot assign devices."
        : "The lines in this log do not say whether the IOMMU translates DMA.";
  const checks = [
    "ls /sys/class/iommu/ (one dmar*/ivhd* entry per IOMMU unit when translation is on) and ls /sys/kernel/iommu_groups/ (empty when it is off).",
    "cat /proc/cmdline: on Intel, intel_iommu=on (unless the kernel was built with CONFIG_INTEL_IOMMU_DEFAULT_ON); on AMD the IOMMU is on unless amd_iommu=off; iommu=pt puts host devices in identity domains and does not change assigned devices.",
    ...(st.interruptRemapping !== "on" ? ["dmesg | grep -i remapping: VFIO needs interrupt remapping (or allow_unsafe_interrupts)."] : []),
  ];
  return { record: at, title: statusTitle(st), meaning, causes: st.blockers, checks, evidence: st.facts.map((f) => f.text) };
}

function explainOne(r: EvidenceRecord, i: number, history: EvidenceRecord[], around: ExplainContext): Explanation | undefined {
  const f = r.fields;
  switch (r.kind) {
    case "intr-remap-fault": {
      const code = typeof f.reason === "number" ? f.reason : -1;
      const info = code >= 0 ? faultReasonInfo(code) : undefined;
      const device = String(f.device);
      return {
        record: i,
        title: `VT-d interrupt-remapping fault ${code >= 0 ? `0x${code.toString(16).padStart(2, "0")} ` : ""}${info?.linuxText ?? "(reason not in the log)"} — ${device}, IRTE index ${f.index}`,
        meaning: `An interrupt request from ${device} selected entry ${f.index} of the interrupt-remapping table and was blocked. ${info?.explanation ?? "The reason is not in the log."}`,
        causes: [CAUSES.irte],
        checks: [`grep -i remap in dmesg: is interrupt remapping on, and was ${device}'s interrupt (IRTE ${f.index}) set up before the device raised it?`, "A VM with a split irqchip needs intremap=on on intel-iommu."],
        evidence: deviceEvidence(r, i, device, around),
      };
    }
    case "dmar-fault":
      return explainDmar(r, i, history, around);
    case "vtd-debugfs":
      return explainDebugfs(r, i);
    case "viommu-fault":
      return explainViommu(r, i, around);
    case "device-event": {
      const d = explainDeviceEvent(f);
      if (!d) return undefined;
      const same = typeof f.device === "string" ? around.otherDeviceEvents(f.device, i) : { count: 0, events: [] };
      const evidence = same.count ? [`${f.device} has ${same.count} other reset/power/error ${nounFor(same.count, "line")} in this log: ${same.events.join(", ")}.`] : [];
      return { record: i, ...d, evidence };
    }
    case "amdvi-event": {
      const pf = f.event === "IO_PAGE_FAULT";
      return {
        record: i,
        title: `AMD-Vi ${f.event}${f.device ? ` — ${f.device}` : ""}`,
        meaning: pf ? `The IOMMU ${f.present ? "found a translation but it does not allow" : "found no valid translation for"} the device's ${f.interrupt ? "interrupt request" : f.write ? "write" : "read"} to ${f.address} in domain ${f.domain}${f.reservedBit ? " (a reserved bit is set in a page-table entry)" : ""}.` : f.event === "DEVICE_NOT_ATTACHED" ? `The device (${f.device ?? "?"}) did DMA while Linux had it attached to no IOMMU domain.` : `The AMD IOMMU logged ${f.event}.`,
        causes: pf ? (f.present ? [CAUSES.direction, CAUSES.corrupted] : [CAUSES.unmapped, CAUSES.afterUnmap, CAUSES.direction, CAUSES.viommu, CAUSES.firmware]) : f.event === "DEVICE_NOT_ATTACHED" ? [CAUSES.notAttached, CAUSES.firmware] : f.event === "ILLEGAL_DEV_TABLE_ENTRY" ? ["The device table entry for this device is invalid (reserved bits or an inconsistent mode): a driver bug or corruption."] : f.event === "IOTLB_INV_TIMEOUT" ? ["The device did not answer an ATS invalidation in time (a hung device or a broken ATS implementation)."] : [CAUSES.corrupted],
        checks: pf ? CHECKS_DMA.slice(0, 3) : ["Look at the DTE/CMD dump lines that follow the event."],
        evidence: [...(pf && typeof f.address === "string" ? [...historyEvidence(r, String(f.address), String(f.device ?? ""), history, around), ...addressEvidence(String(f.address)).text] : []), ...(f.device ? deviceEvidence(r, i, String(f.device), around) : [])],
      };
    }
    case "smmuv3-event":
    case "smmuv2-fault": {
      const ev = String(f.event ?? "context fault");
      const translation = /F_TRANSLATION|F_ADDR_SIZE/.test(ev) || /TF translation/.test(String(f.faults ?? ""));
      const permission = /F_PERMISSION/.test(ev) || /PF permission/.test(String(f.faults ?? ""));
      return {
        record: i,
        title: `Arm SMMU ${ev}${f.client ? ` — ${f.client}` : ""}`,
        meaning: translation ? `No translation for the ${f.write ? "write" : "read"} at ${f.iova}.` : permission ? `The translation of ${f.iova} does not allow this ${f.write ? "write" : "read"}.` : `The SMMU reported ${ev}.`,
        causes: translation ? [CAUSES.unmapped, CAUSES.afterUnmap, CAUSES.firmware] : permission ? [CAUSES.direction] : /C_BAD_STE|C_BAD_STREAMID|F_STREAM_DISABLED/.test(ev) ? ["The stream (device) has no valid stream table entry: it is not attached to a domain, or its StreamID is not what the firmware tables say."] : [CAUSES.corrupted],
        checks: CHECKS_DMA.slice(0, 2),
        evidence: [...(typeof f.iova === "string" ? [...historyEvidence(r, String(f.iova), String(f.client ?? ""), history, around), ...addressEvidence(String(f.iova)).text] : []), ...(typeof f.client === "string" && /^[0-9a-f]{4}:/.test(f.client) ? deviceEvidence(r, i, f.client, around) : [])],
      };
    }
    case "vfio-message":
      switch (f.problem) {
        case "group-not-viable":
          return { record: i, title: `IOMMU group ${f.group} is not viable`, meaning: "VFIO only hands out a group when every device in it is bound to vfio-pci (or pci-stub, or no driver); another device of the group is still bound to a host driver.", causes: ["Another function of the same card (a second NIC port, the GPU's audio function) is still bound to its host driver.", "The devices share a group because a bridge above them lacks ACS, so they can reach each other without the IOMMU."], checks: [`ls /sys/kernel/iommu_groups/${f.group}/devices/ and bind every device there to vfio-pci (driverctl set-override BDF vfio-pci).`, "Import the group listing here to see which device blocks it and whether ACS would separate them."], evidence: [] };
        case "memlock":
          return { record: i, title: `RLIMIT_MEMLOCK (${f.limit} bytes) exceeded`, meaning: "VFIO pins every page it maps for DMA and charges it to the VMM's locked-memory limit; the limit is smaller than the guest's RAM.", causes: ["The VMM runs with the default memlock limit (often 64 KiB or 8 MiB), not with the VM's memory size."], checks: ["Raise the limit for the VMM (ulimit -l, LimitMEMLOCK= in the systemd unit; libvirt sets it from <memtune><hard_limit> or for <hostdev> automatically)."], evidence: [] };
        case "map-failed":
          return { record: i, title: `VFIO_IOMMU_MAP_DMA failed: ${f.error}`, meaning: "The VMM's map request was refused; the errno says why.", causes: [String(f.error).includes("Cannot allocate memory") ? "ENOMEM: the memlock limit or pinning failed." : String(f.error).includes("No space left") ? "ENOSPC: more mappings than dma_entry_limit (65535 by default)." : String(f.error).includes("Invalid argument") ? "EINVAL: unaligned range, or it overlaps a reserved region such as the MSI window 0xFEE00000-0xFEEFFFFF." : "See the errno."], checks: ["Simulate the VM's map sequence in a scenario to see which request fails and why."], evidence: [] };
        case "set-iommu-failed":
          return { record: i, title: `VFIO_SET_IOMMU failed${f.group !== undefined ? ` for group ${f.group}` : ""}: ${f.error}`, meaning: "QEMU could not give the VFIO container an IOMMU model, so no device of the group can be assigned.", causes: [f.errno === "EPERM" ? "EPERM: vfio_iommu_type1 refuses a platform without interrupt remapping (look for \"No interrupt remapping support\" in dmesg) unless allow_unsafe_interrupts=1." : "The IOMMU driver refused the container's IOMMU type (the IOMMU is off: intel_iommu=on / amd_iommu=on missing, or no vfio_iommu_type1 module)."], checks: ["dmesg | grep -i -e 'remapping' -e 'DMAR' -e 'AMD-Vi': is the IOMMU on, with interrupt remapping?", "lsmod | grep vfio_iommu_type1"], evidence: [] };
        case "set-container-failed":
          return { record: i, title: `VFIO_GROUP_SET_CONTAINER failed${f.group !== undefined ? ` for group ${f.group}` : ""}: ${f.error}`, meaning: "The kernel refused to attach the group to the VM's IOMMU domain.", causes: [f.errno === "EINVAL" ? "EINVAL: a device of the group needs a firmware 1:1 mapping (an RMRR on Intel, an IVMD on AMD): look for \"Firmware has requested this device have a 1:1 IOMMU mapping\" or \"ineligible ... RMRR\" in dmesg." : "The group is already in another container (another VM or process uses it).", "The group is already in another container (another VM or process uses it)."].filter((c, k, a) => a.indexOf(c) === k), checks: ["dmesg | grep -e 'RMRR' -e '1:1 IOMMU mapping'", `lsof /dev/vfio/${f.group ?? "N"}`], evidence: [] };
        case "get-device-failed":
          return { record: i, title: `VFIO_GROUP_GET_DEVICE_FD failed for group ${f.group}: ${f.error}`, meaning: "QEMU opened the group but could not get the device from it.", causes: [f.errno === "EBUSY" ? "EBUSY: the device is already in use (another VM or a process has it open)." : "The device is not bound to vfio-pci (or pci-stub) although its group is: bind it to vfio-pci.", "The device is in use by another VM or process."].filter((c, k, a) => a.indexOf(c) === k), checks: [`ls -l /sys/kernel/iommu_groups/${f.group}/devices/ and each device's driver link`, "lspci -nnk -s BDF: 'Kernel driver in use: vfio-pci'"], evidence: [] };
        case "group-open-failed":
          return { record: i, title: `/dev/vfio/${f.group} could not be opened: ${f.error}`, meaning: "The VFIO group device file is missing or not accessible.", causes: [f.errno === "ENOENT" ? "ENOENT: no device of the group is bound to vfio-pci, or the vfio modules are not loaded." : f.errno === "EACCES" || f.errno === "EPERM" ? "No permission: the VMM runs as a user without access to /dev/vfio/N (libvirt sets it for managed hostdevs)." : "See the errno."], checks: ["ls -l /dev/vfio/", "lsmod | grep vfio"], evidence: [] };
        case "caching-mode-off":
          return { record: i, title: "intel-iommu without caching-mode=on", meaning: "QEMU can shadow a guest's vIOMMU mappings into VFIO only when the guest must tell it about every mapping, which caching mode forces; without it QEMU refuses to start with an assigned device.", causes: [CAUSES.viommu], checks: ["-device intel-iommu,caching-mode=on (libvirt: <iommu model='intel'><driver caching_mode='on'/></iommu>)."], evidence: [] };
        case "reset-group-not-owned":
          return { record: i, title: `${f.device} cannot be reset: group ${f.group} is not owned`, meaning: "The only reset the device offers is a bus (or slot) reset, and that resets every device on the bus; VFIO allows it only when the VM owns every group the reset reaches, and group " + String(f.group) + " belongs to the host or another VM.", causes: ["The device has no function-level reset (FLR), so QEMU falls back to a bus reset (many GPUs, some NICs).", `Another device on the same bus is in IOMMU group ${f.group}, which is not assigned to this VM (the GPU's audio function, a second port).`], checks: [`ls /sys/kernel/iommu_groups/${f.group}/devices/: assign those devices to the same VM too (all functions of a card).`, `lspci -vvv -s ${f.device} | grep -i flreset: FLReset+ means the device has FLR.`], evidence: [] };
        case "no-reset-method":
          return { record: i, title: `${f.device} has no reset method`, meaning: "QEMU found neither FLR, a power-management reset nor a usable bus reset: the device keeps its state across VM reboots.", causes: ["The device lacks FLR and PM reset (NoSoftRst+), and sits on the root bus or shares its bus with devices the VM does not own.", "A known vendor reset bug (AMD GPUs before Navi need vendor-reset)."], checks: [`cat /sys/bus/pci/devices/0000:${f.device}/reset_method (kernel 5.15+): the methods the kernel can use.`, `lspci -vvv -s ${f.device}: FLReset+ in DevCap, NoSoftRst- in the PM capability.`], evidence: [] };
        case "hostdev-in-use":
          return { record: i, title: `${f.device} is in use by ${f.user} (domain ${f.domain})`, meaning: "libvirt keeps a list of host devices in use; the device is already assigned to another running domain (or a stale entry survived a crash), so it refuses to give it to this one.", causes: [`Domain ${f.domain} is running with the same <hostdev>.`, "A previous run of the domain crashed and libvirt still lists the device as active (restart libvirtd after checking nothing uses it)."], checks: ["virsh list --all; virsh dumpxml DOMAIN | grep -A3 hostdev", `lsof /dev/vfio/* to see which process holds the device's group`], evidence: [] };
        case "memlock-raise-failed":
          return { record: i, title: `libvirt could not set RLIMIT_MEMLOCK to ${f.limit} bytes${f.error ? `: ${f.error}` : ""}`, meaning: "VFIO pins all guest memory; libvirt raises the QEMU process's locked-memory limit before starting it and was not allowed to.", causes: [f.errno === "EPERM" ? "EPERM: libvirt runs without CAP_SYS_RESOURCE (session mode qemu:///session, a container, a non-root virt-handler): it cannot raise a hard limit." : "The limit could not be set (see the errno).", "A systemd unit or limits.conf sets a lower hard limit for the process."], checks: ["Use qemu:///system, or raise the hard limit first (LimitMEMLOCK=infinity in the unit, @group hard memlock unlimited in /etc/security/limits.conf).", "grep 'locked memory' /proc/$(pidof qemu-system-x86_64)/limits"], evidence: [] };
        case "no-vfio-support":
          return { record: i, title: "libvirt: host doesn't support VFIO PCI passthrough", meaning: "libvirt found no usable VFIO on the host: /dev/vfio/vfio is missing or /sys/kernel/iommu_groups/ is empty.", causes: ["The IOMMU is off (intel_iommu=on missing, VT-d/AMD-Vi disabled in the firmware).", "The vfio, vfio_iommu_type1 and vfio-pci modules are not loaded."], checks: ["ls /sys/kernel/iommu_groups/ (empty: the IOMMU is off); ls /dev/vfio/", "lsmod | grep vfio; modprobe vfio-pci"], evidence: [] };
        case "reset-failed":
          return { record: i, title: `libvirt could not reset ${f.device}`, meaning: `libvirt resets a managed hostdev before and after use; here it found no way to: ${String(f.error)}.`, causes: [/not doing bus reset/.test(String(f.error)) ? "A bus reset would also reset other active devices on the same bus (libvirt refuses that); the device has no FLR." : "The device has no FLR, no PM reset, and is on the root bus (no bus reset).", "Binding the device to vfio-pci before starting the domain lets the kernel's vfio-pci do the reset instead (libvirt skips its own reset then)."], checks: [`lspci -vvv -s ${f.device} | grep -i -e flreset -e nosoftrst`, `cat /sys/bus/pci/devices/0000:${f.device}/reset_method`], evidence: [] };
        case "bind-failed":
          return { record: i, title: `libvirt could not bind ${f.device} to ${f.driver}`, meaning: "libvirt's managed hostdev detaches the device from its host driver with driver_override and re-probes it; the kernel refused.", causes: [f.errno === "EBUSY" ? "EBUSY: the host driver is still using the device (a GPU with a console on it, a NIC with an active link)." : f.errno === "ENODEV" || f.errno === "ENOENT" ? "The vfio-pci driver is not loaded, or the device disappeared." : "The kernel refused the bind (see the errno).", "Another device of the same IOMMU group is still bound to a host driver."], checks: [`lspci -nnk -s ${f.device}: Kernel driver in use`, "modprobe vfio-pci; dmesg | tail"], evidence: [] };
        // QEMU 8.1+ hw/vfio/migration.c vfio_migration_realize: an error with enable-migration=on, else the device's migration blocker.
        case "migration-init-failed":
        case "migration-unsupported":
        case "migration-no-dirty-tracking":
        case "migration-viommu":
        case "migration-disabled": {
          const d = String(f.device ?? f.name ?? "the device");
          const causes: Record<string, string[]> = {
            "migration-init-failed": [`The device's VFIO variant driver answered the migration probe (VFIO_DEVICE_FEATURE_MIGRATION) with ${f.errno ?? "an error"}${f.error ? ` (${f.error})` : ""}: the driver or its firmware does not support migration in this configuration (a VF without migration enabled on its PF, an old firmware).`, "The device is bound to plain vfio-pci, not to the vendor's migration-capable variant driver (mlx5_vfio_pci, hisi_acc_vfio_pci, pds_vfio_pci, virtio_vfio_pci, nvgrace-gpu)."],
            "migration-unsupported": ["The device is bound to plain vfio-pci: only the vendor's variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, pds_vfio_pci, ...) implement VFIO migration.", "The host kernel is older than the v2 migration uAPI (Linux 6.0) that QEMU 8.x needs."],
            "migration-no-dirty-tracking": ["Neither the device (VFIO_DEVICE_FEATURE_DMA_LOGGING) nor the IOMMU (iommufd dirty tracking: Intel SSADS, AMD HAD) can report which guest pages the device writes, so QEMU cannot copy them during a live migration.", "The VM uses the legacy VFIO container, not iommufd, so IOMMU dirty tracking is not available."],
            "migration-viommu": ["QEMU cannot migrate a VFIO device behind a guest vIOMMU (its DMA mappings change under the guest's control); remove the vIOMMU or do not migrate this VM."],
            "migration-disabled": ["enable-migration=off on the -device vfio-pci option (or the machine type's default)."],
          };
          return {
            record: i,
            title: `${d}: VFIO migration not available (${String(f.problem)})`,
            meaning: `QEMU's vfio_migration_realize (hw/vfio/migration.c) found that ${d} cannot take part in a live migration. With enable-migration=on this fails the device's realize (the VM does not start); with the default (auto) the VM runs and a migration of it is refused with this message.`,
            causes: causes[String(f.problem)] ?? [],
            checks: [`lspci -nnk -s ${d}: 'Kernel driver in use' names a migration-capable variant driver (*_vfio_pci), not vfio-pci.`, "The VM's -device vfio-pci option: enable-migration=on makes this an error at start; auto (the default) only blocks migration.", "uname -r (6.0+ for VFIO migration v2; 6.7+ for iommufd dirty tracking)."],
            evidence: [],
          };
        }
        case "container-setup-failed":
          return { record: i, title: `VFIO could not set up a container for group ${f.group}`, meaning: r.summary, causes: [], checks: ["See the message after the colon; import the kernel log of the same moment (dmesg) for the kernel's side."], evidence: [] };
        default:
          return { record: i, title: String(f.problem), meaning: r.summary, causes: [], checks: [], evidence: [] };
      }
    case "rmrr":
      if (f.problem !== "rmrr-ineligible") return undefined;
      if (f.firmwareDirect) return { record: i, title: `Firmware 1:1 mapping: ${f.device ?? "the device"} cannot be assigned`, meaning: "The firmware asks for an identity (1:1) IOMMU mapping of memory this device uses (IOMMU_RESV_DIRECT: an RMRR on Intel, an IVMD on AMD); since Linux 6.6 the IOMMU core refuses any domain without it, so VFIO cannot take the device (QEMU then fails with VFIO_GROUP_SET_CONTAINER: Invalid argument).", causes: ["A firmware RMRR/IVMD covers this device (integrated NICs and GPUs, some servers; AMD boards with IVMD ranges over whole buses).", "A BIOS option such as pre-boot DMA protection adds such ranges."], checks: ["Look for 'RMRR base' lines (Intel) or the IVRS table's IVMD entries (AMD) in the boot log; a firmware update or a BIOS option may remove them; otherwise use another device."], evidence: [] };
      return { record: i, title: `RMRR: ${f.device ?? "the device"} cannot be assigned`, meaning: "The firmware reserves memory this device keeps using (an RMRR); Linux refuses to put such a device into a VM's domain, which would cut off that memory.", causes: ["A firmware RMRR covers this device (common for integrated NICs and GPUs on some servers)."], checks: ["Look for 'RMRR base' lines in the boot log; a firmware update or a BIOS option may remove the RMRR; otherwise use another device."], evidence: [] };
    default:
      return undefined;
  }
}

/** Guest-side causes of a QEMU vIOMMU report, by QEMU's check (hw/i386/intel_iommu.c). */
const VIOMMU_CAUSES: Record<string, string[]> = {
  "slpte-permission": [
    "The guest's driver handed the device an IOVA it never mapped in its (virtual) IOMMU, or one it already unmapped: the same bugs as on bare metal, caught by QEMU instead of the host's IOMMU.",
    "The guest maps the page read-only and the device writes it (or the other way).",
    "The guest's IOMMU driver runs with a different page-table format than QEMU expects (e.g. scalable mode or first-stage tables on an older QEMU): the entries QEMU reads are not the ones the guest wrote.",
  ],
  "slpte-reserved": [
    "The guest wrote bits QEMU's vIOMMU reserves: the snoop bit (SNP) that Linux guests since 5.15 set in scalable mode without snoop control (fixed in QEMU by ignoring the leaf SNP bit), or address bits above the vIOMMU's aw-bits.",
  ],
  "iova-overflow": [
    "The guest's IOVA is wider than the vIOMMU's address width: intel-iommu aw-bits=39 (QEMU's old default) while the guest driver uses 48-bit IOVAs; raise aw-bits to 48.",
  ],
  "slpte-read-error": ["A table pointer in the guest's page table points outside guest RAM: guest memory corruption or a guest IOMMU driver bug."],
  "interrupt-range": [CAUSES.msi],
  "root-entry-invalid": [CAUSES.corrupted],
  "context-entry-reserved": [CAUSES.corrupted],
  "context-level-unsupported": ["The guest programs a page-table depth the vIOMMU does not offer (a 5-level or 3-level table against aw-bits): match aw-bits to what the guest uses (48 for 4 levels)."],
  "device-tlb-unsupported": ["The guest enables ATS (a device-TLB context) but the vIOMMU has device-iotlb=off: add device-iotlb=on (and ats=on on the device)."],
  "pass-through-unsupported": ["The guest asks for pass-through contexts (iommu=pt) but the vIOMMU has pt=off."],
  "context-type-unknown": [CAUSES.corrupted],
  "translation-failure": ["QEMU's vIOMMU found no translation in the guest's tables (see the report before this line for which check failed)."],
  "dmar-fault-trace": ["QEMU's vtd_dmar_fault trace event: the fault QEMU records in the guest's fault registers (the guest's dmesg shows it as a DMAR fault)."],
  "fault-not-recorded": ["The guest already had a fault of this device pending (QEMU compresses faults per source id), or its fault registers overflowed: the guest's dmesg shows fewer faults than happened."],
};

/** A QEMU vIOMMU report: the guest's own IOMMU tables refused the DMA, not the host's. */
function explainViommu(r: EvidenceRecord, i: number, around: ExplainContext): Explanation {
  const f = r.fields;
  const code = typeof f.reason === "number" ? f.reason : undefined;
  const info = code !== undefined ? faultReasonInfo(code) : undefined;
  const device = typeof f.device === "string" ? f.device : undefined;
  const problem = String(f.problem);
  const host = device ? around.otherFaults(bare(device), i, false) : { count: 0, lines: [] };
  const hostFaults = host.count;
  const evidence = [
    ...(f.notRecorded ? [`QEMU did not record it in the guest's fault registers (${f.notRecorded === "compressed" ? "another fault of this device was pending" : "they overflowed"}): the guest's dmesg may show no line for it.`] : []),
    ...(hostFaults ? [`The host's log here also has ${plural(hostFaults, "IOMMU fault")} for ${device} (${nounFor(hostFaults, "line")} ${host.lines.join(", ")}${hostFaults > host.lines.length ? ", …" : ""}): those come from the host's IOMMU (the VFIO mappings), this one from the guest's vIOMMU.`] : []),
  ];
  return {
    record: i,
    title: `QEMU vIOMMU: ${info ? `fault 0x${code!.toString(16).padStart(2, "0")} ${info.linuxText}` : problem}${device ? ` — ${device}` : ""}${typeof f.iova === "string" ? ` at IOVA ${f.iova}` : ""}`,
    meaning: `${r.summary}. QEMU emulates the guest's IOMMU: it walks the page tables the guest's driver wrote into guest memory, and this DMA failed there, inside the VM — the host's IOMMU and VFIO were never asked. The guest sees it as a DMAR fault${info ? ` (reason 0x${code!.toString(16).padStart(2, "0")})` : ""} in its own dmesg.`,
    // The trace event and the summary line carry only the reason: a missing R/W is QEMU's permission check.
    causes: VIOMMU_CAUSES[(problem === "dmar-fault-trace" || problem === "translation-failure") && (code === 0x05 || code === 0x06) ? "slpte-permission" : problem] ?? [CAUSES.corrupted],
    checks: [
      "Look at the guest's dmesg for the matching DMAR fault line and the driver that owns the device.",
      "Compare the vIOMMU's options with what the guest uses: aw-bits (39 or 48), caching-mode=on for assigned devices, device-iotlb, x-scalable-mode, and the QEMU version.",
      "Boot the guest with intel_iommu=off (or without the vIOMMU) once: if the DMA then works, the problem is in the guest's IOMMU programming, not in the host.",
    ],
    evidence,
  };
}

/**
 * The map/unmap history of an IOVA: from ftrace records (kernel time, compared with the fault's
 * timestamp), or from a loaded scenario's run (records with fields.origin = "scenario", ordered by
 * step; their `line` is the scenario's source line).
 */
function historyEvidence(fault: EvidenceRecord, address: string, device: string, history: EvidenceRecord[], around: ExplainContext): string[] {
  if (history.length === 0) return [];
  // Faults x history: the comparisons are counted against the pass's budget (work.ts).
  if (!around.historyWork.take(history.length)) {
    return [`Not compared with the ${history.length} map/unmap records of the history: this explanation reached its work limit (${EXPLAIN_HISTORY_WORK} comparisons of a fault with a map or unmap). Explain a smaller part of the log (a selection, or a shorter trace) to see this IOVA's history.`];
  }
  let a: bigint;
  try {
    a = BigInt(address);
  } catch {
    return [];
  }
  const page = a & ~0xfffn;
  const faultTime = fault.timestamp !== undefined ? Number(fault.timestamp) : NaN;
  const out: string[] = [];
  const order = (h: EvidenceRecord) => (h.fields.origin === "scenario" ? Number(h.fields.step) : Number(h.fields.time));
  for (const origin of ["trace", "scenario"] as const) {
    let lastUnmap: EvidenceRecord | undefined;
    let lastMap: EvidenceRecord | undefined;
    let any = false;
    for (const h of history) {
      const isScenario = h.fields.origin === "scenario";
      if ((origin === "scenario") !== isScenario) continue;
      if (h.kind !== "ftrace" || (h.fields.event !== "map" && h.fields.event !== "unmap")) continue;
      // A scenario's history speaks only for the devices of the domain it maps.
      if (isScenario && typeof h.fields.devices === "string" && !h.fields.devices.split(",").includes(device.replace(/^0000:/, ""))) continue;
      any = true;
      const [lo, hi] = around.rangeOf(h);
      if (!(page >= lo && page < hi)) continue;
      if (!isScenario) {
        const t = Number(h.fields.time);
        if (!Number.isNaN(faultTime) && t > faultTime) continue;
      }
      if (h.fields.event === "unmap") lastUnmap = h;
      else lastMap = h;
    }
    const where = (h: EvidenceRecord) => (origin === "scenario" ? `line ${h.line + 1} of the scenario (step ${Number(h.fields.step) + 1})` : `line ${h.line + 1} of the trace`);
    const ago = (h: EvidenceRecord) => {
      if (origin === "scenario") return "";
      const t = Number(h.fields.time);
      return Number.isNaN(faultTime) ? "" : `, ${((faultTime - t) * 1000).toFixed(t === faultTime ? 0 : 3).replace(/\.?0+$/, "")} ms before the fault`;
    };
    if (lastUnmap && (!lastMap || order(lastUnmap) >= order(lastMap))) out.push(`IOVA ${address} was unmapped at ${where(lastUnmap)} (${lastUnmap.fields.iova}..${lastUnmap.fields.end})${ago(lastUnmap)}: DMA after unmap.`);
    else if (lastMap) out.push(`IOVA ${address} was mapped at ${where(lastMap)}${lastMap.fields.paddr ? ` (→ ${lastMap.fields.paddr})` : ""}${ago(lastMap)} and not unmapped before the fault: look at the direction and the permissions.`);
    else if (any) out.push(`The ${origin} has no map of IOVA ${address}${device ? ` (${device})` : ""}${origin === "trace" ? " before the fault" : ""}: the IOVA was never mapped${origin === "trace" ? " in the traced window" : " in the scenario"}.`);
  }
  return out;
}

/** The other faults of a device listed in its evidence (the count is complete). */
const FAULTS_LISTED = 5;

/**
 * What the other records of the same import say about a device (its group, a non-viable group,
 * its RMRR, its other faults and reset/power/error lines) and the boot state: built record by
 * record in one pass (add, in record order), its size bounded by the devices, groups and boot
 * lines, not by the records (a 1 GB log of faults is counted, not kept).
 */
export class ExplainContext {
  readonly group = new Map<string, { group: number; line: number }>();
  readonly notViable = new Map<number, number>();
  readonly rmrr = new Map<string, number>();
  /** Per device: its fault records (count), the first FAULTS_LISTED + 1 of them (index, line). */
  private readonly faults = new Map<string, { count: number; first: { i: number; line: number }[] }>();
  /** Per device: its device-event records (count), per event the first two of them (index). */
  private readonly deviceEvents = new Map<string, { count: number; events: Map<string, number[]> }>();
  private readonly boot: EvidenceRecord[] = [];
  private readonly bootIndex: number[] = [];
  /** Per device: the driver lspci shows bound to it, and that line. */
  readonly driver = new Map<string, { driver: string; line: number }>();
  /** Devices a VM configuration assigns (a <hostdev>, a -device vfio-pci), and the line. */
  readonly hostdev = new Map<string, number>();
  /** The vIOMMUs the VM configurations declare, and whether a VM configuration was imported at all. */
  readonly viommus: { model: string; cachingMode: boolean; line: number }[] = [];
  vmConfig = false;
  private next = 0;
  /** Comparisons of faults with the map/unmap history this pass may still make (faults x history is not linear). */
  readonly historyWork = new WorkBudget(EXPLAIN_HISTORY_WORK);
  /** A history record's IOVA range, parsed once (every fault compares with every map and unmap). */
  private readonly ranges = new WeakMap<EvidenceRecord, readonly [bigint, bigint]>();

  rangeOf(h: EvidenceRecord): readonly [bigint, bigint] {
    let r = this.ranges.get(h);
    if (r === undefined) {
      r = [BigInt(String(h.fields.iova)), BigInt(String(h.fields.end))];
      this.ranges.set(h, r);
    }
    return r;
  }

  /** The next record (its index is the count of records added before it). */
  add(r: EvidenceRecord): void {
    const i = this.next++;
    const f = r.fields;
    const device = typeof f.device === "string" ? bare(f.device) : typeof f.client === "string" ? bare(f.client) : undefined;
    if ((r.kind === "group-add" || r.kind === "iommu-group") && device && typeof f.group === "number") this.group.set(device, { group: f.group, line: r.line });
    if (r.kind === "vfio-message" && f.problem === "group-not-viable" && typeof f.group === "number") {
      this.notViable.set(f.group, r.line);
      if (device && !this.group.has(device)) this.group.set(device, { group: f.group, line: r.line });
    }
    if (r.kind === "rmrr" && f.problem === "rmrr-ineligible" && device) this.rmrr.set(device, r.line);
    const key = faultKey(r);
    if (key !== undefined) {
      const d = this.faults.get(key) ?? { count: 0, first: [] };
      d.count++;
      if (d.first.length <= FAULTS_LISTED) d.first.push({ i, line: r.line });
      this.faults.set(key, d);
    }
    if (r.kind === "device-event" && typeof f.device === "string") {
      const d = this.deviceEvents.get(f.device) ?? { count: 0, events: new Map<string, number[]>() };
      d.count++;
      const ev = String(f.event);
      const seen = d.events.get(ev) ?? [];
      if (seen.length < 2) seen.push(i);
      d.events.set(ev, seen);
      this.deviceEvents.set(f.device, d);
    }
    if (r.kind === "pci-device" && device && typeof f.driver === "string") this.driver.set(device, { driver: f.driver, line: r.line });
    if (r.kind === "vm-config") {
      this.vmConfig = true;
      if (typeof f.hostdev === "string") this.hostdev.set(bare(f.hostdev), r.line);
      if (typeof f.viommu === "string" && f.viommu) this.viommus.push({ model: f.viommu, cachingMode: f.cachingMode === true, line: r.line });
    }
    if (r.kind === "boot-state") {
      this.boot.push(r);
      this.bootIndex.push(i);
    }
  }

  /** Records added so far. */
  get records(): number {
    return this.next;
  }

  /** A device's fault records other than record `i`: how many, and the lines of the first FAULTS_LISTED (1-based). */
  otherFaults(device: string, i: number, isFault: boolean): { count: number; lines: number[] } {
    const all = this.faults.get(device);
    if (!all) return { count: 0, lines: [] };
    return { count: all.count - (isFault ? 1 : 0), lines: all.first.filter((x) => x.i !== i).slice(0, FAULTS_LISTED).map((x) => x.line + 1) };
  }

  /** A device's reset/power/error lines other than record `i`: how many, and their events in the order they first appear. */
  otherDeviceEvents(device: string, i: number): { count: number; events: string[] } {
    const d = this.deviceEvents.get(device);
    if (!d) return { count: 0, events: [] };
    const firsts: [string, number][] = [];
    for (const [ev, seen] of d.events) {
      const k = seen.find((x) => x !== i);
      if (k !== undefined) firsts.push([ev, k]);
    }
    return { count: d.count - 1, events: firsts.sort((a, b) => a[1] - b[1]).map((x) => x[0]) };
  }

  /** The boot state's explanation, when the records had boot-state lines. */
  bootExplanation(): Explanation | undefined {
    return bootExplanation(this.boot, (k) => this.bootIndex[k]!);
  }

  /** The line of the boot state's explanation (0-based), with bootExplanation. */
  bootLine(): number | undefined {
    return this.boot[0]?.line;
  }
}

const bare = (device: string) => device.replace(/^0000:/, "");

/** The device a fault record is counted under, or undefined when the record is not a device's fault. */
function faultKey(r: EvidenceRecord): string | undefined {
  if (r.kind !== "dmar-fault" && r.kind !== "amdvi-event" && r.kind !== "smmuv3-event" && r.kind !== "intr-remap-fault") return undefined;
  const f = r.fields;
  return typeof f.device === "string" ? bare(f.device) : typeof f.client === "string" ? bare(f.client) : undefined;
}

/** Evidence about the device from the rest of the import: its group, a non-viable group, an RMRR, its other faults, suppressed reports, the time since boot. */
function deviceEvidence(r: EvidenceRecord, i: number, device: string, around: ExplainContext): string[] {
  const out: string[] = [];
  const d = bare(device);
  const g = around.group.get(d);
  if (g) {
    const nv = around.notViable.get(g.group);
    out.push(`${d} is in IOMMU group ${g.group} (line ${g.line + 1})${nv !== undefined ? `, which VFIO reported not viable at line ${nv + 1}: another device of the group is still bound to a host driver` : ""}.`);
  }
  const rm = around.rmrr.get(d);
  if (rm !== undefined) out.push(`${d} has a firmware RMRR (line ${rm + 1}): the firmware keeps using memory through it.`);
  // The first few of the device's other faults (bounded: a log of thousands of faults of one device).
  const { count, lines: shown } = around.otherFaults(d, i, faultKey(r) !== undefined);
  if (count > 0) out.push(`${d} has ${plural(count, "other fault record")} in this log (${nounFor(count, "line")} ${shown.join(", ")}${count > 5 ? ", …" : ""}).`);
  for (const c of r.context) {
    const m = /(\d+) callbacks suppressed/.exec(c.text);
    if (m) out.push(`${plural(Number(m[1]), "more fault report")} ${nounFor(Number(m[1]), "was", "were")} suppressed just before this one (line ${c.line + 1}): the device is faulting repeatedly, so this record is one of many.`);
  }
  const t = r.timestamp !== undefined && /^\d+\.\d+$/.test(r.timestamp) ? Number(r.timestamp) : NaN;
  if (t < 10) out.push(`The fault came ${r.timestamp} s after boot, before most drivers probed: boot-time or firmware DMA.`);
  return out;
}

/** How many bits an IOVA needs, against the widths of 3-, 4- and 5-level tables; and whether it is in the interrupt window. */
function addressEvidence(address: string, what = "IOVA"): { bits: number; text: string[] } {
  let a: bigint;
  try {
    a = BigInt(address);
  } catch {
    return { bits: 0, text: [] };
  }
  const bits = a === 0n ? 0 : a.toString(2).length;
  const text: string[] = [];
  if (bits > 57) text.push(`${what} ${address} needs ${bits} bits: above any IOMMU address width (57 bits with 5-level tables), so no mapping can cover it: a garbage or sign-extended pointer.`);
  else if (bits > 48) text.push(`${what} ${address} needs ${bits} bits: above the 48-bit width of 4-level tables; only a 5-level (57-bit) domain can map it.`);
  else if (bits > 39) text.push(`${what} ${address} needs ${bits} bits: above the 39-bit width of 3-level tables, within 48 bits.`);
  if (a >= 0xfee00000n && a <= 0xfeefffffn) text.push(`${what} ${address} is in the interrupt window 0xFEE00000-0xFEEFFFFF: a DMA there is an MSI write, not a buffer access.`);
  return { bits, text };
}

const WRITE_CODES = new Set([VTD_FR_WRITE, VTD_FR_SM_WRITE]);
/** Scalable mode's "No read permission" (0x86) has no QEMU name. */
const READ_CODES = new Set([VTD_FR_READ, 0x86]);
const NOT_ATTACHED_CODES = new Set([VTD_FR_ROOT_ENTRY_P, VTD_FR_CONTEXT_ENTRY_P, 0x39, 0x41]);
const WIDTH_CODES = new Set([VTD_FR_ADDR_BEYOND_MGAW, 0x74, 0x83, 0x84]);
const PASID_CODES = new Set([0x31, 0x45, 0x46, VTD_FR_PASID_DIR_ENTRY_P, VTD_FR_PASID_ENTRY_P]);
const INTR_CODES = new Set([VTD_FR_INTERRUPT_ADDR, VTD_FR_SM_INTERRUPT_ADDR]);
/**
 * Scalable-mode first-stage faults (Linux dma_remap_sm_fault_reasons[] 0x70-0x77, 0x80-0x82): the
 * walk of a PASID's first-level table — with SVA the process's own page table — found no usable entry.
 */
const FIRST_STAGE_CODES = new Set([VTD_FR_FS_PAGING_ENTRY_INV, VTD_FR_FS_PAGING_ENTRY_P, VTD_FR_FS_PAGING_ENTRY_RSVD, VTD_FR_PASID_ENTRY_FSPTPTR_INV, 0x75, 0x76, 0x77, VTD_FR_FS_NON_CANONICAL, VTD_FR_FS_PAGING_ENTRY_US, 0x82]);
/** Scalable-mode structure errors before any page table: root, context, PASID directory or PASID entry unreadable, reserved or invalid. */
const SM_STRUCTURE_CODES = new Set([0x30, 0x32, 0x38, 0x3a, 0x40, 0x42, 0x43, 0x44, 0x47, 0x48, VTD_FR_PASID_DIR_ACCESS_ERR, 0x52, VTD_FR_PASID_TABLE_ACCESS_ERR, 0x5a, VTD_FR_PASID_TABLE_ENTRY_INV, 0x5c, 0x5d]);
/** Scalable-mode second-stage faults (0x78-0x7c): the domain's second-level table, as in legacy mode. */
const SM_SECOND_STAGE_CODES = new Set([0x78, 0x79, 0x7a, 0x7b, 0x7c]);

/** A VT-d DMA fault, explained for its own direction, reason, requester, IOVA and PASID, and what the rest of the evidence shows. */
function explainDmar(r: EvidenceRecord, i: number, history: EvidenceRecord[], around: ExplainContext): Explanation {
  const f = r.fields;
  const code = typeof f.reason === "number" ? f.reason : -1;
  const info = code >= 0 ? faultReasonInfo(code) : undefined;
  const device = bare(String(f.device));
  const write = f.write === true;
  const dir = write ? "write" : "read";
  const address = String(f.address);
  const pasid = typeof f.pasid === "number" ? f.pasid : undefined;
  const rid = typeof f.bus === "number" && typeof f.devfn === "number" ? `requester ID 0x${((f.bus << 8) | f.devfn).toString(16).padStart(4, "0")}` : "";
  let page = address;
  try {
    page = `0x${(BigInt(address) & ~0xfffn).toString(16)}`;
  } catch {
    // the address as logged
  }
  const reasonName = code >= 0 ? `reason 0x${code.toString(16).padStart(2, "0")}${info?.name ? ` (${info.name})` : ""}` : "an unknown reason (the reason line is missing from the log)";
  const head = `${device}${rid ? ` (${rid})` : ""} ${write ? "wrote to" : "read from"} IOVA ${address}${pasid !== undefined ? ` with PASID ${pasid}` : " without a PASID"}, and the IOMMU refused the ${dir} with ${reasonName}.`;
  const addr = addressEvidence(address);
  const evidence = historyEvidence(r, address, device, history, around);
  const causes: string[] = [];
  const checks: string[] = [];
  let specific = "";
  const dump = r.context.find((c) => /page table not present at level \d|pte level: \d/.test(c.text));
  const notPresent = r.context.find((c) => /page table not present at level (\d)/.test(c.text));
  if (WRITE_CODES.has(code) || READ_CODES.has(code)) {
    const expectWrite = WRITE_CODES.has(code);
    if (expectWrite !== write) specific += ` The reason is a ${expectWrite ? "write" : "read"}-permission fault but the record says ${dir}: the log line may be garbled or from a kernel that prints the type differently.`;
    specific += ` The walk of ${device}'s ${pasid !== undefined ? `PASID ${pasid} address space` : "domain"} found no entry for page ${page} that grants ${dir} access: either no mapping covers that page (never mapped, or unmapped already), or it is mapped ${write ? "read-only" : "write-only"}.`;
    if (notPresent) evidence.push(`The kernel's dump of the walk (line ${notPresent.line + 1}: "${notPresent.text.replace(/^.*?(page table not present)/, "$1")}") shows that no mapping of page ${page} exists at all: not a permission problem.`);
    else if (dump) evidence.push(`The kernel dumped the walk for this IOVA (line ${dump.line + 1}): the last entry it printed decides whether the page is mapped.`);
    causes.push(
      `IOVA ${address} was never mapped for ${device}: the driver handed the device a wrong or stale address (a descriptor ring or buffer pointer).`,
      CAUSES.afterUnmap,
      write ? `Wrong DMA direction: page ${page} is mapped read-only (DMA_TO_DEVICE, or a VFIO map without WRITE) and the device wrote to it.` : `Wrong DMA direction: page ${page} is mapped write-only (DMA_FROM_DEVICE) and the device read from it.`,
    );
    if (pasid !== undefined) causes.push(`The mapping exists in another address space: this request carried PASID ${pasid}, so it was translated with that PASID's tables, not the device's default domain (RID_PASID).`);
    else causes.push(CAUSES.viommu);
    causes.push(CAUSES.rmrr);
    // Firmware DMA happens at boot; a fault minutes after boot is not that.
    const t = r.timestamp !== undefined && /^\d+\.\d+$/.test(r.timestamp) ? Number(r.timestamp) : NaN;
    if (!(t >= 60)) causes.push(CAUSES.firmware);
    if (notPresent) {
      // The dump rules the direction out.
      const k = causes.findIndex((c) => c.startsWith("Wrong DMA direction"));
      causes.push(...causes.splice(k, 1));
    }
    if (!history.length) checks.push(`Trace the IOMMU maps and unmaps around the fault: \`echo 1 > /sys/kernel/tracing/events/iommu/enable\`, reproduce, and import /sys/kernel/tracing/trace with this log: the map and unmap that cover ${page} are then named here.`);
    else if (evidence.some((x) => x.includes("DMA after unmap"))) checks.push(`Find who unmapped ${page} while ${device} still used it: the driver's buffer or ring teardown (CONFIG_DMA_API_DEBUG reports such a use), or the VM's balloon/memory hot-unplug.`);
    else if (evidence.some((x) => x.includes("not unmapped before the fault"))) checks.push(`Compare the permission of the map that covers ${page} (the DMA direction, or the VFIO map's READ/WRITE flags) with this ${dir}.`);
    checks.push(`Check whether ${page} belongs to a VFIO mapping of the VM (QEMU's memory map: \`info mtree\` in the monitor) or to a guest vIOMMU mapping.`);
    if (pasid === undefined) checks.push("If the VM has a vIOMMU: make sure intel-iommu has caching-mode=on (libvirt: <driver caching_mode='on'/>).");
    else checks.push(`Check which address space PASID ${pasid} of ${device} is bound to (the driver's SVA/PASID setup; debugfs: /sys/kernel/debug/iommu/intel/).`);
  } else if (NOT_ATTACHED_CODES.has(code)) {
    specific += ` No ${code === VTD_FR_ROOT_ENTRY_P || code === 0x39 ? `root entry is present for bus 0x${Number(f.bus).toString(16).padStart(2, "0")}` : `context entry is present for ${device}`}: the walk stopped before any page table, so IOVA ${address} itself is not the problem — ${device} had no domain when it did this ${dir}.`;
    causes.push(CAUSES.notAttached, CAUSES.alias, CAUSES.firmware, CAUSES.corrupted);
    checks.push(`lspci -k -s ${device}: which driver is bound now? A fault while it was unbound or being reset fits this reason.`, `lspci -t: is ${device} behind a PCIe-to-PCI bridge (its DMA then carries the bridge's requester ID)?`, `cat /sys/bus/pci/devices/0000:${device}/iommu_group/type`);
  } else if (WIDTH_CODES.has(code)) {
    specific += ` IOVA ${address} needs ${addr.bits} bits; the domain's page table covers fewer (39 bits with 3 levels, 48 with 4, 57 with 5).`;
    causes.push(CAUSES.dmaMask, CAUSES.corrupted);
    checks.push("cat /sys/class/iommu/dmar*/intel-iommu/cap (MGAW and SAGAW: the widths the unit supports)", `The DMA mask ${device}'s driver sets (dma_set_mask): wider than the IOMMU's width?`);
  } else if (PASID_CODES.has(code)) {
    specific += ` ${pasid !== undefined ? `PASID ${pasid}` : "The request's PASID (RID_PASID for a request without one)"} has no usable PASID entry for ${device}: the PASID is not bound to an address space.`;
    causes.push(`${pasid !== undefined ? `PASID ${pasid}` : "The PASID"} was never bound for ${device}, or was unbound (the process exited, the mm was released) while the device still used it.`, CAUSES.corrupted);
    checks.push(`The driver's PASID/SVA binding for ${device} (iommu_sva_bind_device) and its lifetime.`);
  } else if (code === 0x7c || code === 0x90) {
    // VT-d 3.10 "Snoop Behavior": an A/D update of an entry the unit walks without snooping is a
    // non-recoverable fault (the model: sim/vtd/reasons.ts VTD_FR_SM_FL_AD_NO_SNOOP / VTD_FR_SM_SL_AD_NO_SNOOP).
    const fl = code === 0x90;
    specific += ` The mapping of page ${page} itself can be fine: what is missing is a preset ${fl ? "A (or D)" : "A/D"} bit in the ${fl ? "first" : "second"}-level entry, or a unit that snoops its page walks.`;
    if (fl) causes.push("A host kernel before \"iommu/vt-d: Preset Access bit for IOVA in FL non-leaf paging entries\" (242b0aaeabbe, v6.1; taken into 5.15.y stable) left A clear in the first-level non-leaf entries of VFIO/user domains; that commit quotes exactly this fault from a unit with ECAP_REG.SMPWC == 0.", `With SVA, a page of the process's own page table whose A/D bits the CPU has not set yet (a page the process never touched).`);
    else causes.push("Dirty tracking (SLADE, iommufd IOMMU_HWPT_ALLOC_DIRTY_TRACKING) on a unit without ECAP.SMPWC: kernels before \"iommu/vt-d: Disallow dirty tracking if incoherent page walk\" (57f55048e564, v6.18) allowed it, and Linux's second-level entries carry no preset A bit.");
    causes.push(CAUSES.corrupted);
    checks.push("cat /sys/class/iommu/dmar*/intel-iommu/ecap: bit 48 is SMPWC (page walks snooped); 0 here explains the fault.", `The host kernel version against ${fl ? "242b0aaeabbe (v6.1)" : "57f55048e564 (v6.18)"}.`);
  } else if (FIRST_STAGE_CODES.has(code)) {
    const space = pasid !== undefined ? `PASID ${pasid}'s first-level table (with SVA: the bound process's page table)` : "the first-level table of the device's RID_PASID entry";
    specific += ` The walk of ${space} found no usable entry for page ${page}${code === VTD_FR_FS_NON_CANONICAL ? ": the address is not canonical (bits 63:47 must equal bit 47 with 4-level paging)" : code === VTD_FR_FS_PAGING_ENTRY_US ? ": a user-privilege request reached a supervisor-only page (U/S = 0)" : code === 0x82 ? ": an execute request to a page without execute permission" : ""}.`;
    causes.push(
      `The page was not present in ${space} when ${device} used it (never touched, swapped out or freed), and ${device} does not fault it in with page requests (PRI) — an SVA buffer must be present or the device must use PRI.`,
      pasid !== undefined ? `PASID ${pasid} is bound to another address space than the one the driver filled this buffer in (a stale or reused PASID after the process exited).` : "The device's default (RID_PASID) entry uses first-level translation and the page is not mapped there.",
      CAUSES.corrupted,
    );
    checks.push(
      `lspci -vvv -s ${device}: PASIDCtl Enable+ and PRICtl Enable+ (without PRI every page must be present before the DMA).`,
      `cat /sys/kernel/debug/iommu/intel/dmar_translation_struct: ${device}'s PASID entries (PGTT, first-level table pointer).`,
      `The driver's SVA binding for ${device} (iommu_sva_bind_device) and whether the buffer is pinned (mlock) or faulted in before the device uses it.`,
    );
  } else if (SM_STRUCTURE_CODES.has(code)) {
    specific += ` A scalable-mode structure the walk reads before any page table (root, context, PASID directory or PASID entry of ${device}) could not be read, or has reserved or invalid fields: IOVA ${address} itself is not the problem.`;
    causes.push(
      "The kernel and the IOMMU disagree on scalable mode: intel_iommu=sm_on/sm_off, or a kexec'd kernel that found the other mode's tables still installed.",
      CAUSES.corrupted,
      CAUSES.notAttached,
    );
    checks.push(
      "cat /sys/class/iommu/dmar*/intel-iommu/ecap: SMTS (bit 43) says the unit supports scalable mode; dmesg | grep -i -e 'scalable' -e 'sm_on' for what the kernel chose.",
      `cat /sys/kernel/debug/iommu/intel/dmar_translation_struct: ${device}'s scalable-mode context and PASID entries.`,
    );
  } else if (SM_SECOND_STAGE_CODES.has(code)) {
    specific += ` The second-level (domain) table of ${device} has no usable entry for page ${page}, as a legacy-mode ${dir} fault would say.`;
    causes.push(`IOVA ${address} was never mapped for ${device}: the driver handed the device a wrong or stale address.`, CAUSES.afterUnmap, CAUSES.direction, CAUSES.corrupted);
    checks.push(`Check whether ${page} belongs to a VFIO mapping of the VM (QEMU's memory map: \`info mtree\` in the monitor).`);
  } else if (INTR_CODES.has(code)) {
    specific += ` The ${dir} to ${address} falls in the interrupt window 0xFEE00000-0xFEEFFFFF and is not a valid interrupt request.`;
    causes.push(CAUSES.msi);
    checks.push(`The MSI/MSI-X setup of ${device} (lspci -vv -s ${device}: the MSI address), and whether a buffer pointer got an MSI address.`);
  } else {
    causes.push(...dmarCauses(code));
    checks.push(`Import the boot log around the fault: the IOMMU setup lines and the driver's probe of ${device}.`);
  }
  evidence.push(...addr.text, ...deviceEvidence(r, i, device, around));
  if (WRITE_CODES.has(code) || READ_CODES.has(code)) rankFromConfig(device, pasid, causes, evidence, around);
  if (around.rmrr.has(device)) {
    const k = causes.indexOf(CAUSES.rmrr);
    if (k > 0) causes.unshift(...causes.splice(k, 1));
  }
  const g = around.group.get(device);
  checks.push(g ? `ls /sys/kernel/iommu_groups/${g.group}/devices/: the devices that share ${device}'s domain.` : `readlink /sys/bus/pci/devices/0000:${device}/iommu_group: the group (and domain) ${device} is in.`);
  return {
    record: i,
    title: `VT-d ${dir} fault ${code >= 0 ? `0x${code.toString(16).padStart(2, "0")} ` : ""}${info?.linuxText ?? "(reason not in the log)"} — ${device} at ${address}${pasid !== undefined ? ` PASID ${pasid}` : ""}`,
    meaning: `${head}${info ? ` ${info.explanation}` : ""}${specific}`,
    causes: causes.filter((c, k, a) => a.indexOf(c) === k),
    checks,
    evidence,
  };
}

/**
 * A debugfs context row, decoded with the model's own layouts (sim/vtd/context.ts), and a unit
 * with translation off. The other debugfs lines (registers, page-table rows) are facts the host-
 * tables scenario reads (hostTables.ts), with nothing to explain one by one.
 */
function explainDebugfs(r: EvidenceRecord, i: number): Explanation | undefined {
  const f = r.fields;
  const open = "Passthrough: Create Scenario from Evidence (\"Open as Host Tables\") writes these tables into a scenario's memory: Mapping Tables shows them, Translate Address walks them.";
  if (f.part === "not-enabled") {
    return { record: i, title: `${String(f.unit)}: DMA remapping is off`, meaning: `GSTS.TES is clear on ${String(f.unit)}: devices behind this unit are not translated, and debugfs has no tables to show for it.`, causes: ["The kernel did not enable this unit: intel_iommu=off, or intel_iommu=igfx_off for the graphics unit, or the unit is one the kernel skipped (a DRHD with no devices, a firmware bug)."], checks: ["cat /proc/cmdline; dmesg | grep -e DMAR -e IOMMU (which units were enabled); grep -H . /sys/class/iommu/*/intel-iommu/*"], evidence: [] };
  }
  if (f.part !== "context" || typeof f.contextLo !== "string" || typeof f.contextHi !== "string") return undefined;
  const lo = BigInt(f.contextLo);
  const hi = BigInt(f.contextHi);
  const pasid = typeof f.pasid === "number" && f.pasid >= 0;
  const text = (fs: readonly DecodedField[]) => fs.map((x) => `${x.name} ${fieldText(x)}`).join(", ");
  // Scalable mode: the first 128 bits of the 256-bit context entry and val[0..2] of the PASID entry (debugfs.c print_tbl_walk), in the model's layouts.
  const pe = typeof f.pasidEntry === "string" ? f.pasidEntry.split(",").map((x) => BigInt(x)) : [];
  return {
    record: i,
    title: `${pasid ? "Scalable-mode context entry" : "Context entry"} of ${String(f.device)}${pasid ? `, PASID ${f.pasid}` : ""} (host tables from debugfs)`,
    meaning: pasid ? `The host's scalable-mode context entry of ${String(f.device)}: ${text(smContextEntryLayout([lo, hi]))}. Its PASID ${f.pasid} entry: ${text(pasidEntryLayout(pe))}.` : `The host's legacy-mode context entry of ${String(f.device)}: ${text(contextEntryLayout(lo, hi))}.`,
    causes: [],
    checks: [open, `sudo cat /sys/kernel/debug/iommu/intel/0000:${String(f.device)}/${pasid ? `${Number(f.pasid).toString(16)}/` : ""}domain_translation_struct (kernel 6.4+; before: /sys/kernel/debug/iommu/intel/domain_translation_struct) for its page table.`],
    evidence: [],
  };
}

/** Drivers that hand a device to a VM (VFIO) or keep it from the host (pci-stub): no host driver does DMA through it. */
const VM_DRIVERS = new Set(["vfio-pci", "pci-stub", "vfio"]);

/**
 * A translation fault's causes ranked by the configuration in the same import: the device's
 * driver (lspci -k), whether a VM assigns it, and that VM's vIOMMU options (libvirt XML, QEMU
 * command line). The trace's verdict (DMA after unmap, a map that is still there) is applied
 * after this and wins (explainRecord). Changes `causes` and `evidence` in place.
 */
function rankFromConfig(device: string, pasid: number | undefined, causes: string[], evidence: string[], around: ExplainContext): void {
  const first = (c: string) => {
    const k = causes.indexOf(c);
    if (k >= 0) causes.unshift(...causes.splice(k, 1));
  };
  const drv = around.driver.get(device);
  const hostdev = around.hostdev.get(device);
  if (drv && !VM_DRIVERS.has(drv.driver) && hostdev === undefined) {
    // A host driver owns the device: its own DMA API use faulted, no VM is involved.
    const c = `The host driver ${drv.driver} does this DMA (lspci shows ${device} bound to it, not to vfio-pci): a bug in ${drv.driver}'s DMA API use (a buffer it unmapped, a wrong address), or firmware-set-up DMA it inherited; no VM is involved.`;
    causes.unshift(c);
    const k = causes.indexOf(CAUSES.viommu);
    if (k >= 0) causes.splice(k, 1);
    evidence.push(`line ${drv.line + 1}: ${device} is bound to ${drv.driver}, a host driver: the fault is in the host's own DMA, not a VM's.`);
    return;
  }
  if (!around.vmConfig || pasid !== undefined) return;
  const assigned = hostdev !== undefined || drv?.driver === "vfio-pci";
  if (!assigned) return;
  const intel = around.viommus.find((v) => v.model === "intel" || v.model === "intel-iommu");
  if (intel && !intel.cachingMode) {
    first(CAUSES.viommu);
    evidence.push(`line ${intel.line + 1}: the VM's intel-iommu has caching mode off: QEMU does not see the guest's mappings, so the device's IOVAs are not in VFIO.`);
  } else if (around.viommus.length === 0) {
    const k = causes.indexOf(CAUSES.viommu);
    if (k >= 0) causes.splice(k, 1);
    evidence.push(`The VM configuration has no vIOMMU: IOVA = guest physical address, so ${device}'s IOVAs are guest RAM addresses and a fault means an address outside guest RAM (or in a hole) — not a vIOMMU problem.`);
  } else if (intel) {
    const k = causes.indexOf(CAUSES.viommu);
    if (k >= 0) causes.push(...causes.splice(k, 1));
    evidence.push(`line ${intel.line + 1}: the VM's intel-iommu has caching mode on: QEMU shadows every guest mapping, so a fault is the guest's own (an IOVA its driver never mapped, or unmapped).`);
  }
}
