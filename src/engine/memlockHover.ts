/**
 * The answer to "is host.memlock enough?" for the hover on `memlock:` (and any view that asks):
 * per VM with assigned devices, the limit libvirt would set (sim/reserved.ts memlockNeed, from
 * qemuDomainGetMemLockLimitBytes), what VFIO's type1 pins when the VM starts, and by how much the
 * configured limit is short. Engine side: no vscode import.
 */
import type { Scenario } from "../scenario/types.js";
import { formatBytes, memlockNeeds, type MemlockNeed } from "../sim/reserved.js";
import * as l10n from "@vscode/l10n";

const c = (t: string) => `\`${t.replace(/`/g, "'")}\``;

/** What an iommufd VM charges, and to which counter (sim/iommufd.ts, IOMMU_OPTION_RLIMIT_MODE). */
function iommufdPinned(f: NonNullable<MemlockNeed["iommufd"]>, own: bigint, viommu: boolean): string {
  const mine = viommu ? l10n.t("iommufd pins what the guest maps through its vIOMMU") : l10n.t("iommufd pins {0} of guest RAM at start", formatBytes(own));
  return f.mode === "user"
    ? l10n.t("{0}, charged to the user's locked_vm (RLIMIT_MODE 0), which {1} fill with {2}", mine, f.with.map(c).join(", "), c(formatBytes(f.counted)))
    : l10n.t("{0}, charged to the process's locked_vm (RLIMIT_MODE 1)", mine);
}

export function memlockHover(s: Scenario): string[] {
  const needs = memlockNeeds(s);
  const limit = s.host.memlock;
  const head = limit === undefined ? l10n.t("**RLIMIT_MEMLOCK**: unlimited (CAP_IPC_LOCK): VFIO may pin all guest RAM") : l10n.t("**RLIMIT_MEMLOCK** of the VMM: {0}", c(formatBytes(limit)));
  if (needs.length === 0) return [head, l10n.t("No VM has an assigned device: nothing is pinned.")];
  const lines = needs.map((n) => {
    const short = n.short ?? n.iommufd?.short;
    const verdict = short !== undefined ? l10n.t("**{0} short**", formatBytes(short)) : n.configured !== undefined ? l10n.t("enough") : l10n.t("no limit");
    const pinned = n.iommufd ? iommufdPinned(n.iommufd, n.pinnedAtStart, n.viommu) : n.devices === 0 ? l10n.t("no VFIO device") : n.viommu ? l10n.t("type1 pins what the guest maps through its vIOMMU, once per device") : l10n.t("type1 pins {0} of guest RAM at start", formatBytes(n.pinnedAtStart));
    const sets = n.hardLimit !== undefined
      ? l10n.t("libvirt sets the hard limit {0} (computed: {1}, {2})", c(formatBytes(n.hardLimit)), c(formatBytes(n.libvirt)), n.formula)
      : n.locked
        ? l10n.t("libvirt lifts the limit (<locked/>; computed: {0})", c(formatBytes(n.libvirt)))
        : l10n.t("libvirt sets {0} ({1})", c(formatBytes(n.libvirt)), n.formula);
    const runs = n.configured !== undefined && n.configured !== limit ? l10n.t("; the VMM runs with {0}", c(formatBytes(n.configured))) : "";
    return l10n.t("- VM {0}: {1}{2}; {3} — {4}", c(n.vm), sets, runs, pinned, verdict);
  });
  return [
    head,
    lines.join("\n"),
    l10n.t("libvirt (qemuDomainGetMemLockLimitBytes): <memtune><hard_limit> if set; unlimited with <memoryBacking><locked/>; else (NVMe disks + vDPA devices + (VFIO devices with a vIOMMU, else 1)) × guest memory + 1GiB, raised only (qemuDomainSetMaxMemLock); ppc64 has its own rule. A hand-started QEMU inherits the shell's limit (ulimit -l)."),
    ...(needs.some((n) => n.iommufd)
      ? [l10n.t("iommufd charges every IOMMU_IOAS_MAP (a second IOAS mapping the same RAM is charged again; IOMMU_IOAS_COPY is not) to the counter IOMMU_OPTION_RLIMIT_MODE picks: 0 (the kernel's default, a hand-started QEMU) the user's locked_vm, shared by every VMM of that user; 1 (libvirt sets it) the process's, as type1.")]
      : []),
  ];
}
