/**
 * What a slow-path trace event is (a VFIO map or unmap, a queued command, an attach, a VM start ...)
 * in the words of the host's IOMMU model: the DMA Trace's walk pane shows it for a row that has no
 * walk. The model names its structures and commands (IommuDecoders.command, InspectTables.names), so
 * an SMMUv3 host's invalidate row says "CMD_TLBI_NH_VA from the command queue", not "an invalidation
 * descriptor".
 */
import * as l10n from "@vscode/l10n";
import type { SlowPathAnswer } from "../protocol/engine.js";
import type { Run } from "../sim/run.js";
import { EventKind } from "../trace/trace.js";
import { causeOfEvent } from "./traceTags.js";
import { qword } from "./trees/common.js";

/** The answer of traceSlowPath for event `event` of `run` (a slow-path kind: not dma or interrupt). */
export function describeSlowPath(run: Run, event: number): SlowPathAnswer {
  const t = run.trace;
  const kind = t.kind[event]! as EventKind;
  const step = t.step[event]!;
  const iommu = run.machine.iommu;
  // The device's entry as the model names it (only attach/detach rows need the tables' names).
  const entry = () => {
    const name = iommu.tables().names?.entry ?? "context entry";
    return name.charAt(0).toUpperCase() + name.slice(1);
  };
  switch (kind) {
    case EventKind.Map:
      return withCause(run, event, { event, step, text: l10n.t("VFIO_IOMMU_MAP_DMA: the host driver wrote page-table entries for this IOVA range and flushed as Linux does.") });
    case EventKind.Unmap:
      return withCause(run, event, { event, step, text: l10n.t("VFIO_IOMMU_UNMAP_DMA: the entries were cleared and the IOTLB invalidated (page-selective or domain).") });
    case EventKind.Invalidate: {
      // The trace keeps the command's two qwords (a, b); the model names it.
      const lo = (BigInt(t.aHi[event]!) << 32n) | BigInt(t.aLo[event]!);
      const hi = (BigInt(t.bHi[event]!) << 32n) | BigInt(t.bLo[event]!);
      const c = iommu.command(lo, hi);
      return { event, step, text: l10n.t("The {0} processed {1} from {2} ({3}).", c.unit, c.name, c.via, c.section), command: { name: c.name, words: [qword(lo), qword(hi)] } };
    }
    case EventKind.Attach:
      return { event, step, text: l10n.t("{0} written: the device's requests now reach its domain's tables.", entry()) };
    case EventKind.Detach:
      return { event, step, text: l10n.t("{0} cleared: the device is detached from the domain.", entry()) };
    case EventKind.VmStart:
      // The model's own account of this VM (with or without a vIOMMU), not a generic sentence.
      return { event, step, text: run.outcomes[step]?.summary ?? l10n.t("The VM started.") };
    case EventKind.VmStop:
      return { event, step, text: l10n.t("The VM stopped: its mappings are gone.") };
    case EventKind.Poke:
      return { event, step, text: l10n.t("A raw write into a table entry (poke): the next walk reads whatever was written.") };
    case EventKind.Error:
      return { event, step, text: run.outcomes[step]?.summary ?? l10n.t("A slow-path operation failed (errno or a refused start); see the step's outcome.") };
    default:
      return { event, step, text: "" };
  }
}

/**
 * A host map/unmap QEMU made for a guest vIOMMU, with the guest action behind it as that vIOMMU
 * model makes it: intel-iommu in caching mode shadows a guest entry when the guest's IOTLB
 * invalidation reaches it (vtd_sync_shadow_page_table_range), maybe steps after the guest wrote it;
 * virtio-iommu maps into VFIO as the guest's MAP request arrives (virtio_iommu_map ->
 * virtio_iommu_notify_map), UNMAP likewise.
 */
function withCause(run: Run, event: number, a: SlowPathAnswer): SlowPathAnswer {
  const c = causeOfEvent(run, event);
  if (c === undefined) return a;
  const op = (s: number) => run.scenario.workload[s]?.op ?? "";
  let text: string;
  if (c.viommu === "virtio-iommu") {
    text = c.map
      ? l10n.t("the guest's virtio-iommu driver sent a MAP request in this step ({0}); QEMU's virtio-iommu passed it to VFIO at once (virtio_iommu_map notifies the VFIO listener).", op(c.invalidatedAt))
      : l10n.t("the guest's virtio-iommu driver sent an UNMAP request in this step ({0}); QEMU's virtio-iommu passed it to VFIO at once (virtio_iommu_unmap).", op(c.invalidatedAt));
  } else if (c.step === c.invalidatedAt) {
    text = l10n.t("QEMU trapped the guest's IOTLB invalidation in this step ({0}) and replayed it as this VFIO call (vtd_sync_shadow_page_table_range).", op(c.invalidatedAt));
  } else {
    text = l10n.t("the guest driver wrote this entry in step {0} ({1}) without invalidating it; QEMU only shadowed it when the guest's IOTLB invalidation in this step reached it.", c.step + 1, op(c.step));
  }
  return { ...a, cause: { step: c.step, text } };
}
