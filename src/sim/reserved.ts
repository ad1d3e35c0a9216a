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
import { kernelAtLeast } from "./kernelVersion.js";

/** The MSI window every x86 IOMMU reserves (IOMMU_RESV_MSI; Linux IOAPIC_RANGE_START/END, QEMU VTD_INTERRUPT_ADDR_FIRST/LAST). */
export const MSI_WINDOW: readonly [bigint, bigint] = [0xfee00000n, 0xfeefffffn];

/**
 * Whether `kernel` is `major.minor` or later. Every boundary below was read in the kernel trees
 * listed in docs/platform-rules.md (pairs of version trees on both sides) and is pinned by
 * test/unit/kernel-boundaries.test.ts.
 */
function atLeast(kernel: string, major: number, minor: number): boolean {
  // (A host without a kernel version: the oldest behaviour of each rule.)
  return kernelAtLeast(kernel, major, minor, false);
}

/** Every RMRR of the host: a host of several DRHDs lists each under the unit whose scope holds its devices. */
export function hostRmrrs(host: HostSpec): RmrrSpec[] {
  return host.iommus !== undefined ? host.iommus.flatMap((u) => u.iommu.rmrr ?? []) : (host.iommu.rmrr ?? []);
}

/** The RMRRs whose device scope names `device` (a host device key). */
export function rmrrsOf(host: HostSpec, device: string): RmrrSpec[] {
  return hostRmrrs(host).filter((r) => r.devices.includes(device));
}

const hex016 = (v: bigint) => `0x${v.toString(16).padStart(14, "0")}`;

/**
 * Boot lines of the host kernel about its IOMMU setup, in boot order with their times (ns), before
 * the devices are added to their groups:
 *  - per RMRR, dmar.c dmar_table_print_dmar_entry(): `pr_info("RMRR base: %#016Lx end: %#016Lx\n")`
 *    (`%#016Lx`: 16 characters with the "0x"), pr_fmt "DMAR: " (v4.2+, "dmar: " up to v4.1; vtd/dmesg.ts dmarPrefix);
 *  - with interrupt remapping, intel_irq_remapping.c intel_enable_irq_remapping():
 *    `pr_info("Enabled IRQ remapping in %s mode\n", eim_mode ? "x2apic" : "xapic")`, pr_fmt "DMAR-IR: "
 *    from v4.2 (a v4.1.3 tree's intel_irq_remapping.c has no pr_fmt: no prefix);
 *  - iommu.c iommu_subsys_init(), pr_fmt "iommu: " ("Passthrough" for IOMMU_DOMAIN_IDENTITY,
 *    "Translated" for DMA/DMA_FQ), printed from v5.4 on (a v5.3.1 tree has no such line, v5.4.59 has it):
 *    v5.4 - v6.4 `pr_info("Default domain type: %s %s\n", ..., cmd_line ? "(set via kernel command line)" : "")`,
 *    so "Translated " ends in a space (v5.4.59, v5.14-rc5, v5.15.55, v6.1.0, v6.3.8, v6.4.6 trees);
 *    v6.5+ `"Default domain type: %s%s\n"` with " (set via kernel command line)" (v6.5.0, v6.6.9 trees).
 */
export function bootLines(host: HostSpec): { ns: bigint; text: string }[] {
  const out: { ns: bigint; text: string }[] = [];
  const dmar = atLeast(host.kernel, 4, 2) ? "DMAR: " : "dmar: ";
  for (const r of hostRmrrs(host)) out.push({ ns: 12_000_000n, text: `${dmar}RMRR base: ${hex016(r.base)} end: ${hex016(r.end)}` });
  if (host.iommu.intremap) out.push({ ns: 95_000_000n, text: `${atLeast(host.kernel, 4, 2) ? "DMAR-IR: " : ""}Enabled IRQ remapping in ${host.iommu.eim ? "x2apic" : "xapic"} mode` });
  if (atLeast(host.kernel, 5, 4)) {
    const pt = host.iommu.hostPassThrough && host.iommu.passThrough;
    // "%s %s" with "" before v6.5 leaves a trailing space after "Translated".
    out.push({ ns: 420_000_000n, text: `iommu: Default domain type: ${pt ? "Passthrough (set via kernel command line)" : atLeast(host.kernel, 6, 5) ? "Translated" : "Translated "}` });
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
 *    "iommu/vt-d: Use dev_printk() when possible", dev_fmt = pr_fmt) the text carries "DMAR: " (a
 *    v5.0.1 tree's intel-iommu.c has no dev_fmt, v5.2.1's has; no v5.1 tree was read). Still there,
 *    with -EPERM, in v6.5.0.
 *    QEMU (hw/vfio/container.c vfio_set_iommu): "Failed to set iommu for container".
 *  - from v6.6, the IOMMU core (a48ce36e2786 "iommu: Prevent RESV_DIRECT devices from blocking
 *    domains"; d3aedf94f480 removed the VT-d check; a v6.5.0 tree has neither change, a v6.6.9 tree
 *    has both: __iommu_device_set_domain, -EINVAL): `dev_warn(dev, "Firmware has requested this
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

/** iommufd's IOMMU_OPTION_RLIMIT_MODE: "user" (0, IOPT_PAGES_ACCOUNT_USER) or "mm" (1, IOPT_PAGES_ACCOUNT_MM); sim/iommufd.ts. */
export type RlimitMode = "user" | "mm";

/**
 * The accounting mode of a VM's iommufd: the scenario's `rlimit-mode`, else "mm" when libvirt starts
 * the VM (it opens /dev/iommu and sets process accounting: libvirt src/util/viriommufd.c
 * virIOMMUFDOpenDevice -> virIOMMUFDSetRLimitMode(fd, true)), else the kernel's default "user" (a
 * hand-started QEMU opens /dev/iommu itself and sets nothing).
 */
export function rlimitMode(vm: VmSpec): RlimitMode {
  return vm.rlimitMode ?? (vm.libvirt !== undefined ? "mm" : "user");
}

/** What a VM needs locked, and why. */
export interface MemlockNeed {
  vm: string;
  /** VFIO devices of the VM. */
  devices: number;
  viommu: boolean;
  /** NVMe disks and vDPA devices libvirt counts beside them (VmSpec.libvirt). */
  nvme: number;
  vdpa: number;
  /** libvirt's computed limit for the VM's devices (qemuDomainGetMemLockLimitBytes without a hard limit), bytes. */
  libvirt: bigint;
  /** How libvirt got there, one line. */
  formula: string;
  /** <memtune><hard_limit>: libvirt's limit instead of the computed one. */
  hardLimit?: bigint;
  /** <memoryBacking><locked/> without a hard limit: libvirt lifts the limit (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED). */
  locked?: boolean;
  /** What type1 pins in this simulator when the VM starts (guest RAM once per container; 0 with a vIOMMU until the guest maps). */
  pinnedAtStart: bigint;
  /** The VMM's RLIMIT_MEMLOCK while the VM runs (effectiveMemlock; undefined: unlimited) and how far it is short of libvirt's computed limit, if it is. */
  configured?: bigint;
  short?: bigint;
  /**
   * The iommufd backend: the counter its IOMMU_IOAS_MAPs charge (sim/iommufd.ts) and what is on it
   * once every VM charging it has started - under "user" the RAM pinned at start by every iommufd VM
   * in "user" mode (`with`: their names), under "mm" the VM's own - and how far the VMM's
   * RLIMIT_MEMLOCK is short of that.
   */
  iommufd?: { mode: RlimitMode; counted: bigint; with: string[]; short?: bigint };
}

/**
 * The limit libvirt sets for a VM, as libvirt's qemuDomainGetMemLockLimitBytes() computes it
 * (src/qemu/qemu_domain.c; read in zippy2/libvirt 02a16c6e, whose tests/qemumemlocktest.c pins
 * the cases: pc-hostdev 1GiB guest -> 2147483648, pc-hostdev-nvme -> 3221225472,
 * pc-hardlimit+hostdev -> the hard limit, pc-locked+hostdev -> unlimited, pc-kvm -> 0):
 *  1. "prefer the hard limit": <memtune><hard_limit> set -> that, whatever the devices;
 *  2. <memoryBacking><locked/> -> VIR_DOMAIN_MEMORY_PARAM_UNLIMITED;
 *  3. ppc64 KVM -> getPPC64MemLockLimitBytes() (TCE tables per PHB: not modelled, the simulator
 *     has no ppc64 host);
 *  4. nvfio = PCI + mdev hostdevs, nnvme = NVMe disks, nvdpa = vDPA devices; when any is non-zero,
 *     factor = nvdpa + nnvme + (nvfio ? (def->iommu ? nvfio : 1) : 0) and the limit is
 *     factor × virDomainDefGetMemoryTotal() + 1 GiB ("The chosen value of 1GiB below originates
 *     from x86 systems where it was used as space reserved for the MMIO region"); else 0 (libvirt
 *     leaves the limit alone).
 * Each VFIO device behind a vIOMMU has its own address space and container, which pins what its
 * guest maps again; without one a single container pins the RAM once.
 * Returns undefined when the VM has nothing that pins (factor 0).
 */
export function memlockNeed(host: HostSpec, vm: VmSpec): MemlockNeed | undefined {
  const n = vm.devices.length;
  const nvme = vm.libvirt?.nvmeDisks ?? 0;
  const vdpa = vm.libvirt?.vdpaDevices ?? 0;
  const viommu = vm.viommu !== undefined;
  const vfioFactor = n === 0 ? 0 : viommu ? n : 1;
  const factor = nvme + vdpa + vfioFactor;
  if (factor === 0) return undefined;
  const libvirt = BigInt(factor) * vm.memory + GiB;
  const terms = [...(n > 0 ? [viommu ? `${n} VFIO device${n > 1 ? "s" : ""} with a vIOMMU` : `VFIO`] : []), ...(nvme > 0 ? [`${nvme} NVMe disk${nvme > 1 ? "s" : ""}`] : []), ...(vdpa > 0 ? [`${vdpa} vDPA device${vdpa > 1 ? "s" : ""}`] : [])];
  const out: MemlockNeed = {
    vm: vm.name,
    devices: n,
    viommu,
    nvme,
    vdpa,
    libvirt,
    // The one-device, no-NVMe case keeps its short form: "4GiB guest RAM + 1GiB".
    formula: factor === 1 && n > 0 ? `${fmt(vm.memory)} guest RAM + 1GiB` : `${factor} × ${fmt(vm.memory)} guest RAM + 1GiB (${terms.join(" + ")})`,
    pinnedAtStart: n === 0 || viommu ? 0n : vm.memory,
  };
  if (vm.libvirt?.hardLimit !== undefined) out.hardLimit = vm.libvirt.hardLimit;
  else if (vm.libvirt?.locked) out.locked = true;
  const eff = effectiveMemlock(host, vm);
  if (eff !== undefined) {
    out.configured = eff;
    if (eff < libvirt) out.short = libvirt - eff;
  }
  return out;
}

/**
 * The RLIMIT_MEMLOCK the VM's VMM runs with (undefined: unlimited). A hand-started QEMU (no
 * `libvirt:` block) has host.memlock. libvirt applies its limit through qemuDomainSetMaxMemLock(),
 * which only raises: "If the limit is already high enough ... we shouldn't do anything ourselves".
 * Its limit is the hard limit when set, else unlimited with <locked/>, else the computed one
 * (0 = leave it).
 */
export function effectiveMemlock(host: HostSpec, vm: VmSpec): bigint | undefined {
  const lv = vm.libvirt;
  if (host.memlock === undefined || lv === undefined) return host.memlock;
  let limit: bigint | undefined;
  if (lv.hardLimit !== undefined) limit = lv.hardLimit;
  else if (lv.locked) return undefined;
  else {
    const factor = (lv.nvmeDisks ?? 0) + (lv.vdpaDevices ?? 0) + (vm.devices.length === 0 ? 0 : vm.viommu ? vm.devices.length : 1);
    limit = factor === 0 ? 0n : BigInt(factor) * vm.memory + GiB;
  }
  return limit > host.memlock ? limit : host.memlock;
}

/** Every VM's need (VMs without devices have none), with the iommufd counters the VMs share. */
export function memlockNeeds(s: Scenario): MemlockNeed[] {
  const needs = s.vms.map((vm) => memlockNeed(s.host, vm)).filter((n): n is MemlockNeed => n !== undefined);
  const spec = new Map(s.vms.map((v) => [v.name, v]));
  const iommufd = (n: MemlockNeed) => n.devices > 0 && spec.get(n.vm)?.backend === "iommufd";
  const userVms = needs.filter((n) => iommufd(n) && rlimitMode(spec.get(n.vm)!) === "user");
  for (const n of needs) {
    if (!iommufd(n)) continue;
    const mode = rlimitMode(spec.get(n.vm)!);
    const group = mode === "user" ? userVms : [n];
    const counted = group.reduce((sum, m) => sum + m.pinnedAtStart, 0n);
    n.iommufd = { mode, counted, with: group.map((m) => m.vm) };
    if (n.configured !== undefined && n.configured < counted) n.iommufd.short = counted - n.configured;
  }
  return needs;
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

/**
 * A warning when a VM's memlock limit is short of what libvirt computes for its devices (info when
 * the scenario expects the ENOMEM): on host.memlock for a hand-started VMM, on the VM's
 * libvirt.hard-limit when that caps it (libvirt uses the hard limit as is).
 */
export function memlockDiagnostics(s: Scenario): Diagnostic[] {
  const out: Diagnostic[] = [];
  // A scenario that expects the ENOMEM demonstrates it on purpose: still say it, as information.
  const onPurpose = s.workload.some((w) => w.expect?.errno === "ENOMEM");
  for (const n of memlockNeeds(s)) {
    const shared = n.iommufd?.short !== undefined && n.short === undefined ? n.iommufd : undefined;
    if (shared !== undefined) {
      // iommufd's user accounting: the VMs of one user fill one locked_vm (pages.c incr_user_locked_vm).
      out.push({
        severity: onPurpose ? "info" : "warning",
        code: "memlock-short",
        message: `VM ${n.vm}: iommufd charges the user's locked_vm (IOMMU_OPTION_RLIMIT_MODE 0), which VMs ${shared.with.join(", ")} fill with ${fmt(shared.counted)} of pinned guest RAM: ${fmt(shared.short!)} more than the VMM's RLIMIT_MEMLOCK ${fmt(n.configured!)}`,
        hint: "Start the VMs through libvirt (it sets process accounting, IOMMU_OPTION_RLIMIT_MODE 1, on the /dev/iommu it opens), give each VM rlimit-mode: mm, run them as different users, or raise the limit to what all of them pin.",
        range: s.vms.find((v) => v.name === n.vm)?.range ?? s.host.range,
      });
      continue;
    }
    if (n.short === undefined) continue;
    const vm = s.vms.find((v) => v.name === n.vm);
    const byHardLimit = n.hardLimit !== undefined && n.configured === n.hardLimit;
    out.push({
      severity: onPurpose ? "info" : "warning",
      code: "memlock-short",
      message: byHardLimit
        ? `VM ${n.vm}: <memtune><hard_limit> ${fmt(n.hardLimit!)} is ${fmt(n.short)} short of the ${fmt(n.libvirt)} libvirt computes for its devices (${n.formula}); libvirt sets RLIMIT_MEMLOCK to the hard limit instead`
        : `host.memlock ${fmt(n.configured!)} is ${fmt(n.short)} short of the ${fmt(n.libvirt)} libvirt would set for VM ${n.vm} (${n.formula})`,
      hint: byHardLimit
        ? "Raise <memtune><hard_limit> to at least the computed limit, or remove it and let libvirt compute the limit (qemuDomainGetMemLockLimitBytes prefers the hard limit)."
        : "type1 pins all guest RAM it maps against RLIMIT_MEMLOCK: raise the limit (ulimit -l, LimitMEMLOCK=, /etc/security/limits.conf) or let libvirt set it.",
      range: byHardLimit && vm?.libvirt ? vm.libvirt.range : s.host.range,
    });
  }
  return out;
}
