/**
 * The answer to "is host.memlock enough?" for the hover on `memlock:` (and any view that asks):
 * per VM with assigned devices, the limit libvirt would set (sim/reserved.ts memlockNeed, from
 * qemuDomainGetMemLockLimitBytes), what VFIO's type1 pins when the VM starts, and by how much the
 * configured limit is short. Engine side: no vscode import.
 */
import type { Scenario } from "../scenario/types.js";
import { formatBytes, memlockNeeds } from "../sim/reserved.js";
import * as l10n from "@vscode/l10n";

const c = (t: string) => `\`${t.replace(/`/g, "'")}\``;

export function memlockHover(s: Scenario): string[] {
  const needs = memlockNeeds(s);
  const limit = s.host.memlock;
  const head = limit === undefined ? l10n.t("**RLIMIT_MEMLOCK**: unlimited (CAP_IPC_LOCK): VFIO may pin all guest RAM") : l10n.t("**RLIMIT_MEMLOCK** of the VMM: {0}", c(formatBytes(limit)));
  if (needs.length === 0) return [head, l10n.t("No VM has an assigned device: nothing is pinned.")];
  const lines = needs.map((n) => {
    const verdict = n.short !== undefined ? l10n.t("**{0} short**", formatBytes(n.short)) : n.configured !== undefined ? l10n.t("enough") : l10n.t("no limit");
    const pinned = n.viommu ? l10n.t("type1 pins what the guest maps through its vIOMMU, once per device") : l10n.t("type1 pins {0} of guest RAM at start", formatBytes(n.pinnedAtStart));
    return l10n.t("- VM {0}: libvirt sets {1} ({2}); {3} — {4}", c(n.vm), c(formatBytes(n.libvirt)), n.formula, pinned, verdict);
  });
  return [head, lines.join("\n"), l10n.t("libvirt: guest memory × (VFIO devices with a vIOMMU, else 1) + 1GiB (qemuDomainGetMemLockLimitBytes); a hand-started QEMU inherits the shell's limit (ulimit -l).")];
}
