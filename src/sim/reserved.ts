/**
 * Reserved regions of a passthrough host, and what they cost a VM: the firmware's RMRRs (and the
 * kernel's refusal to hand an RMRR device to user space), the boot lines of the default domain
 * type and of interrupt remapping, the MSI window VFIO keeps out of every container, and the
 * RLIMIT_MEMLOCK a VM needs (libvirt's rule, beside what type1 really pins).
 *
 * Model-neutral in what it answers (an RMRR is an IOMMU_RESV_DIRECT region to the IOMMU core);
 * the kernel lines are Linux's, cited per generation. Pure module: no vscode, no Node built-ins.
 */
import type { Errno } from "./vfio.js";
import type { Diagnostic, HostSpec, RmrrSpec, Scenario, VmSpec } from "../scenario/types.js";
import { parseKernelVersion } from "./vtd/dmesg.js";

/** The MSI window every x86 IOMMU reserves (IOMMU_RESV_MSI; Linux IOAPIC_RANGE_START/END, QEMU VTD_INTERRUPT_ADDR_FIRST/LAST). */
export const MSI_WINDOW: readonly [bigint, bigint] = [0xfee00000n, 0xfeefffffn];

function atLeast(kernel: string, major: number, minor: number): boolean {
  const v = parseKernelVersion(kernel);
  return v !== undefined && (v.major > major || (v.major === major && v.minor >= minor));
}

/** The RMRRs whose device scope names `device` (a host device key). */
export function rmrrsOf(host: HostSpec, device: string): RmrrSpec[] {
  return (host.iommu.rmrr ?? []).filter((r) => r.devices.includes(device));
}

const hex016 = (v: bigint) => `0x${v.toString(16).padStart(14, "0")}`;

/**
 * Boot lines of the host kernel about its IOMMU setup, in boot order with their times (ns), before
 * the devices are added to their groups:
 *  - per RMRR, dmar.c dmar_table_print_dmar_entry(): `pr_info("RMRR base: %#016Lx end: %#016Lx\n")`
 *    (`%#016Lx`: 16 characters with the "0x"), pr_fmt "DMAR: " (v4.1+, "dmar: " before; vtd/dmesg.ts dmarPrefix);
 *  - with interrupt remapping, irq_remapping.c intel_enable_irq_remapping():
 *    `pr_info("Enabled IRQ remapping in %s mode\n", eim_mode ? "x2apic" : "xapic")`, pr_fmt "DMAR-IR: ";
 *  - iommu.c iommu_subsys_init(): `pr_info("Default domain type: %s%s\n", iommu_domain_type_str(...),
 *    (iommu_cmd_line & IOMMU_CMD_LINE_DMA_API) ? " (set via kernel command line)" : "")`, pr_fmt "iommu: "
 *    ("Passthrough" for IOMMU_DOMAIN_IDENTITY, "Translated" for DMA/DMA_FQ). Printed from v5.4 on ("iommu: Print default domain type on boot", Joerg Roedel, 2019)
 *    (the line's first kernel is approximate: docs/interrupt-remapping-and-reserved-regions.md).
 */
export function bootLines(host: HostSpec): { ns: bigint; text: string }[] {
  const out: { ns: bigint; text: string }[] = [];
  const dmar = atLeast(host.kernel, 4, 1) ? "DMAR: " : "dmar: ";
  for (const r of host.iommu.rmrr ?? []) out.push({ ns: 12_000_000n, text: `${dmar}RMRR base: ${hex016(r.base)} end: ${hex016(r.end)}` });
  if (host.iommu.intremap) out.push({ ns: 95_000_000n, text: `${atLeast(host.kernel, 4, 1) ? "DMAR-IR: " : ""}Enabled IRQ remapping in ${host.iommu.eim ? "x2apic" : "xapic"} mode` });
  if (atLeast(host.kernel, 5, 4)) {
    const pt = host.iommu.hostPassThrough && host.iommu.passThrough;
    out.push({ ns: 420_000_000n, text: `iommu: Default domain type: ${pt ? "Passthrough (set via kernel command line)" : "Translated"}` });
  }
  return out;
}

/** Why the kernel refuses to give the group of an assigned device to VFIO: an RMRR device in it. */
export interface RmrrRefusal {
  /** The RMRR device (the group member that has the RMRR). */
  device: string;
  errno: Errno;
  /** The kernel's line (without timestamp); `driver` is the device's bound driver. */
  kernel: string;
  /** QEMU's error for the assigned device (without the "qemu-system-x86_64: " prefix). */
  qemu: string;
  summary: string;
}

/**
 * The refusal, per kernel generation:
 *  - before v6.6, intel-iommu's attach path (intel_iommu_attach_device, since c875d2c1b808 "iommu/vt-d:
 *    Exclude devices using RMRRs from IOMMU API domains", v3.17): `dev_warn(dev, "Device is ineligible
 *    for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.\n")`,
 *    -EPERM, which VFIO_SET_IOMMU returns (type1 attaches the group there). From v5.1 (932a6523ce39
 *    "iommu/vt-d: Use dev_printk() when possible", dev_fmt = pr_fmt) the text carries "DMAR: ".
 *    QEMU (hw/vfio/container.c vfio_set_iommu): "Failed to set iommu for container".
 *  - from v6.6, the IOMMU core (a48ce36e2786 "iommu: Prevent RESV_DIRECT devices from blocking
 *    domains"; d3aedf94f480 removed the VT-d check): `dev_warn(dev, "Firmware has requested this
 *    device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact
 *    your platform vendor.\n")`, -EINVAL from VFIO_GROUP_SET_CONTAINER (claiming DMA ownership
 *    attaches the blocking domain). QEMU: "Failed to set group container".
 * Every RMRR is treated as non-relaxable: device_rmrr_is_relaxable() exempts USB and graphics
 * devices by class code, which a scenario does not carry.
 */
export function rmrrRefusal(host: HostSpec, groupDevices: readonly { key: string; full: string; driver?: string }[], assigned: { full: string }, groupId: number): RmrrRefusal | undefined {
  const d = groupDevices.find((g) => rmrrsOf(host, g.key).length > 0);
  if (d === undefined) return undefined;
  const who = `${d.driver ?? "pci"} ${d.full}: `;
  const head = `-device vfio-pci,host=${assigned.full}: vfio ${assigned.full}: failed to setup container for group ${groupId}: `;
  if (atLeast(host.kernel, 6, 6)) {
    return {
      device: d.key,
      errno: "EINVAL",
      kernel: `${who}Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.`,
      qemu: `${head}Failed to set group container: Invalid argument`,
      summary: `${d.key} has an RMRR (a firmware-required 1:1 mapping): the kernel refuses to put its group ${groupId} under VFIO (EINVAL)`,
    };
  }
  return {
    device: d.key,
    errno: "EPERM",
    kernel: `${who}${atLeast(host.kernel, 5, 1) ? "DMAR: " : ""}Device is ineligible for IOMMU domain attach due to platform RMRR requirement.  Contact your platform vendor.`,
    qemu: `${head}Failed to set iommu for container: Operation not permitted`,
    summary: `${d.key} has an RMRR: intel-iommu refuses to attach it to a VFIO domain (EPERM)`,
  };
}

// ---------------------------------------------------------------- memlock

const GiB = 1n << 30n;

/** What a VM needs locked, and why. */
export interface MemlockNeed {
  vm: string;
  /** VFIO devices of the VM. */
  devices: number;
  viommu: boolean;
  /** libvirt's limit for it (qemuDomainGetMemLockLimitBytes), bytes. */
  libvirt: bigint;
  /** How libvirt got there, one line. */
  formula: string;
  /** What type1 pins in this simulator when the VM starts (guest RAM once per container; 0 with a vIOMMU until the guest maps). */
  pinnedAtStart: bigint;
  /** The configured limit (undefined: unlimited) and how far it is short of libvirt's, if it is. */
  configured?: bigint;
  short?: bigint;
}

/**
 * libvirt's qemuDomainGetMemLockLimitBytes() (src/qemu/qemu_domain.c) for an x86 KVM guest with
 * VFIO host devices and no <memtune><hard_limit> / <memoryBacking><locked/>: the guest memory
 * (virDomainDefGetMemoryTotal, which covers memory the guest may hot-plug only as it is added:
 * qemuDomainAdjustMaxMemLock raises the limit again on hot-plug) times a factor, plus 1 GiB for
 * MMIO and the IO space ("The chosen value of 1GiB below originates from x86 systems where it
 * was used as space reserved for the MMIO region"). The factor is 1 without a vIOMMU (one
 * container pins the RAM once, whatever the device count) and the number of VFIO devices with
 * one (each device has its own address space, its own container, and pins what its guest maps
 * again). Read from libvirt's source in memory, not re-read this session: see the doc.
 */
export function memlockNeed(host: HostSpec, vm: VmSpec): MemlockNeed | undefined {
  const n = vm.devices.length;
  if (n === 0) return undefined;
  const viommu = vm.viommu !== undefined;
  const factor = viommu ? BigInt(n) : 1n;
  const libvirt = factor * vm.memory + GiB;
  const out: MemlockNeed = {
    vm: vm.name,
    devices: n,
    viommu,
    libvirt,
    formula: `${viommu ? `${n} × ` : ""}${fmt(vm.memory)} guest RAM + 1GiB`,
    pinnedAtStart: viommu ? 0n : vm.memory,
  };
  if (host.memlock !== undefined) {
    out.configured = host.memlock;
    if (host.memlock < libvirt) out.short = libvirt - host.memlock;
  }
  return out;
}

/** Every VM's need (VMs without devices have none). */
export function memlockNeeds(s: Scenario): MemlockNeed[] {
  return s.vms.map((vm) => memlockNeed(s.host, vm)).filter((n): n is MemlockNeed => n !== undefined);
}

/** 2GiB, 64KiB; a size that is no whole number of its unit: 1.99GiB (2147418112 bytes). */
function fmt(n: bigint): string {
  for (const [u, s] of [[1n << 40n, "TiB"], [GiB, "GiB"], [1n << 20n, "MiB"], [1n << 10n, "KiB"]] as const) {
    if (n < u) continue;
    if (n % u === 0n) return `${n / u}${s}`;
    return `${(Number(n) / Number(u)).toFixed(2)}${s} (${n} bytes)`;
  }
  return `${n} bytes`;
}

export { fmt as formatBytes };

/** A warning on the host when host.memlock is short of what libvirt would set for a VM (info when the scenario expects the ENOMEM). */
export function memlockDiagnostics(s: Scenario): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const n of memlockNeeds(s)) {
    if (n.short === undefined) continue;
    // A scenario that expects the ENOMEM demonstrates it on purpose: still say it, as information.
    const onPurpose = s.workload.some((w) => w.expect?.errno === "ENOMEM");
    out.push({
      severity: onPurpose ? "info" : "warning",
      code: "memlock-short",
      message: `host.memlock ${fmt(n.configured!)} is ${fmt(n.short)} short of the ${fmt(n.libvirt)} libvirt would set for VM ${n.vm} (${n.formula})`,
      hint: "type1 pins all guest RAM it maps against RLIMIT_MEMLOCK: raise the limit (ulimit -l, LimitMEMLOCK=, /etc/security/limits.conf) or let libvirt set it.",
      range: s.host.range,
    });
  }
  return out;
}
