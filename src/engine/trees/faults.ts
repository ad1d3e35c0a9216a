/** The Faults view: steps that faulted, failed or missed an expectation, their fault events and log lines. */
import type { TreeNode } from "../../protocol/engine.js";
import { plural } from "../../sim/plural.js";
import { formatSid } from "../../sim/bdf.js";
import { EVENT_KIND_NAMES, EventKind, F_FATE_SHIFT, F_IOTLB_HIT, F_WRITE } from "../../trace/trace.js";
import { leaf, num, type TreeContext } from "./common.js";
import * as l10n from "@vscode/l10n";

/** How many fault events one step node lists before "… N more". */
export const FAULTS_PER_STEP = 200;

export function faultChildren(id: string | null, ctx: TreeContext): TreeNode[] | null {
  const run = ctx.run;
  if (id === null) {
    const out: TreeNode[] = [];
    for (const o of run.outcomes) {
      if (o.faults === 0 && o.status !== "errno" && o.status !== "error" && !(o.expect && !o.expect.pass)) continue;
      const step = ctx.scenario.workload[o.step]!;
      const future = o.step >= ctx.cursor;
      out.push({
        id: `f/${o.step}`,
        label: l10n.t("step {0}: {1}", o.step + 1, step.op),
        description: o.summary,
        tooltip: l10n.t("Line {0}: {1}{2}{3}", step.range.line + 1, o.summary, o.expect && !o.expect.pass ? `\nexpectation failed: ${o.expect.failures.join("; ")}` : "", future ? "\n(after the cursor)" : ""),
        icon: o.status === "fault" ? "error" : o.status === "errno" ? "debug-disconnect" : "warning",
        color: future ? "disabledForeground" : o.status === "fault" ? "errorForeground" : "problemsWarningIcon.foreground",
        contextValue: "fault-step",
        collapsible: 1,
        step: o.step,
      });
    }
    return out;
  }
  const parts = id.split("/");
  const o = run.outcomes[Number(parts[1])];
  if (o === undefined || parts[0] !== "f") return null;
  if (parts.length === 2) {
    const out: TreeNode[] = [];
    const t = run.trace;
    let listed = 0;
    let more = 0;
    for (let i = o.eventStart; i < o.eventEnd; i++) {
      if (t.reason[i] === 0 || t.kind[i] !== EventKind.Dma) {
        if (t.kind[i] === EventKind.Error) out.push(leaf(`f/${o.step}/e${i}`, o.errno ?? o.error ?? "error", o.summary, { icon: "debug-disconnect", color: "errorForeground", step: o.step }));
        continue;
      }
      if (listed >= FAULTS_PER_STEP) {
        more++;
        continue;
      }
      listed++;
      const iova = (BigInt(t.aHi[i]!) << 32n) | BigInt(t.aLo[i]!);
      const fate = (t.flags[i]! >> F_FATE_SHIFT) & 7;
      const fateText = ["", "recorded", "suppressed by FPD", "lost: fault overflow", "compressed (same source already recorded)"][fate] ?? "";
      // A host of several units (host.iommus): the unit that saw the fault, first (a 500 px side bar
      // cuts the end of a description).
      const hu = ctx.machine.hostUnits;
      const unitText = hu.units.length > 1 ? `${hu.names[hu.unitOf(t.sid[i]!)] ?? ""} · ` : "";
      out.push(leaf(`f/${o.step}/e${i}`, `#${i} ${formatSid(t.sid[i]!)} ${t.flags[i]! & F_WRITE ? "write" : "read"} ${num(iova, ctx.radix)}`, `${unitText}${ctx.machine.iommu.reason(t.reason[i]!).label}${t.flags[i]! & F_IOTLB_HIT ? " · IOTLB" : ""}${fateText ? ` · ${fateText}` : ""}`, {
        icon: "error",
        color: "errorForeground",
        contextValue: "fault",
        accessibilityLabel: l10n.t("Event {0}, {1} {2} {3}, fault {4}", i, formatSid(t.sid[i]!), t.flags[i]! & F_WRITE ? "write" : "read", num(iova, ctx.radix), `${unitText}${ctx.machine.iommu.reason(t.reason[i]!).label}`),
        tooltip: l10n.t("Event {0} ({1}), domain {2}: {3}", i, EVENT_KIND_NAMES[t.kind[i]!] ?? "", t.did[i]!, ctx.machine.iommu.reason(t.reason[i]!).explanation),
        step: o.step,
      }));
    }
    if (more) out.push(leaf(`f/${o.step}/more`, `… ${plural(more, "more fault")} in this step`, "see the DMA trace", { icon: "ellipsis" }));
    const lines = run.log.filter((l) => l.step === o.step);
    if (lines.length) out.push({ id: `f/${o.step}/log`, label: l10n.t("Kernel and VMM log"), description: plural(lines.length, "line"), icon: "output", collapsible: 1 });
    return out;
  }
  if (parts[2] === "log") {
    return run.log.filter((l) => l.step === o.step).map((l, k) => leaf(`f/${o.step}/log/${k}`, l.text, l.source === "vmm" ? l.vm : l.source === "guest" ? l10n.t("{0} guest dmesg", l.vm ?? "") : "dmesg", { icon: l.source === "vmm" ? "terminal" : "output", tooltip: l.text }));
  }
  return null;
}
