/**
 * What a trace event carries beyond its columns, read from the scenario and the model: the PASID
 * of a DMA request (the `pasid` of its step's transfer), and the guest action behind a host
 * mapping that QEMU made for a guest vIOMMU in caching mode (sim/viommu.ts notes it: the step
 * whose guest driver wrote the entry, when it is not the step whose invalidation QEMU replayed).
 * The DMA Trace's PASID column and cause link, the walk pane and the debugger read them here.
 * Pure: no vscode, no Node built-ins.
 */
import type { Run } from "../sim/run.js";
import type { Scenario, Step } from "../scenario/types.js";
import { EventKind } from "../trace/trace.js";

/** The steps whose VFIO calls replay a guest vIOMMU's invalidation (Vmm.guestMap / guestUnmap). */
const GUEST_OPS: ReadonlySet<Step["op"]> = new Set(["guest-map", "guest-unmap"]);

/** Whether a scenario sends requests with PASID (or binds one): the DMA Trace then shows its PASID column. */
export function usesPasid(s: Scenario): boolean {
  return s.workload.some((st) => (st.op === "dma" && (st.transfers ?? [st]).some((t) => t.pasid !== undefined)) || st.op === "bind-pasid" || (st.op === "translate" && st.pasid !== undefined));
}

/**
 * The PASID a trace event's request carried: the trace row has no PASID column, so it is the
 * `pasid` of the step's transfer by the event's requester (undefined: a request without PASID).
 * Two transfers of one device with different PASIDs in one step: the first one's.
 */
export function pasidOfEvent(run: Run, event: number): number | undefined {
  const t = run.trace;
  const step = run.scenario.workload[t.step[event]!];
  if (step?.op === "page-response") return retryPasid(run, t.step[event]!);
  if (step?.op !== "dma") return undefined;
  const pci = run.machine.pci; // the topology is the scenario's: any of the run's machines has it
  const sid = t.sid[event]!;
  for (const x of step.transfers ?? [step]) {
    const dev = pci.device(x.device);
    if (x.pasid !== undefined && dev !== undefined && pci.requesterId(dev) === sid) return x.pasid;
  }
  return undefined;
}

/**
 * The PASID of a `page-response` step's rows: the device's retried Translation Requests after a
 * Success response (vtd/pasidBind.ts pageResponseStep), whose PASID the step's outcome keeps (the
 * first retried group's; groups of several PASIDs in one step all show the first).
 */
function retryPasid(run: Run, step: number): number | undefined {
  const p = run.outcomes[step]?.pasid;
  return p !== undefined && p >= 0 ? p : undefined;
}

/** The guest action behind a host VFIO mapping (or unmapping) that QEMU made for a guest vIOMMU. */
export interface MappingCause {
  /** The VM whose vIOMMU it shadows. */
  vm: string;
  /** The step whose guest driver action wrote the guest entry (a guest-map; for an unmap, the guest-unmap). */
  step: number;
  /** The step whose guest IOTLB invalidation QEMU trapped and replayed as this VFIO call: the event's own step. */
  invalidatedAt: number;
  /** The event is a map (else an unmap). */
  map: boolean;
  /**
   * How QEMU made it: intel-iommu shadows a guest entry when the guest's IOTLB invalidation reaches
   * it (caching mode), virtio-iommu passes each MAP/UNMAP request to VFIO as it arrives.
   */
  viommu: "intel" | "virtio-iommu";
}

/** The guest action behind trace event `event`, when it is a VFIO map/unmap that QEMU's vIOMMU shadowing made. */
export function causeOfEvent(run: Run, event: number): MappingCause | undefined {
  const t = run.trace;
  if (!(event >= 0 && event < t.length)) return undefined;
  const kind: EventKind = t.kind[event]!;
  if (kind !== EventKind.Map && kind !== EventKind.Unmap) return undefined;
  const own = t.step[event]!;
  const st = run.scenario.workload[own];
  if (!st || !GUEST_OPS.has(st.op) || !("vm" in st) || st.vm === undefined) return undefined;
  const viommu = run.machine.vmState(st.vm)?.viommu;
  if (!viommu) return undefined;
  const noted = kind === EventKind.Map ? viommu.causeOf(event) : undefined;
  return { vm: st.vm, step: noted ?? own, invalidatedAt: own, map: kind === EventKind.Map, viommu: viommu.model === "virtio-iommu" ? "virtio-iommu" : "intel" };
}

/** Per-event tags for a page of rows: a PASID (-1: none) and a cause step (-1: none), cached per step. */
export class EventTags {
  /** Per step: requester id -> PASID of its transfer (null: a step without PASIDs). */
  private readonly pasids = new Map<number, Map<number, number> | null>();
  readonly usesPasid: boolean;

  constructor(private readonly run: Run) {
    this.usesPasid = usesPasid(run.scenario);
  }

  pasid(i: number): number {
    if (!this.usesPasid) return -1;
    const t = this.run.trace;
    const kind: EventKind = t.kind[i]!;
    if (kind !== EventKind.Dma && kind !== EventKind.Interrupt) return -1;
    const s = t.step[i]!;
    let m = this.pasids.get(s);
    if (m === undefined) {
      m = null;
      const st = this.run.scenario.workload[s];
      const retried = st?.op === "page-response" ? retryPasid(this.run, s) : undefined;
      if (retried !== undefined) m = new Map([[t.sid[i]!, retried]]);
      if (st?.op === "dma") {
        const pci = this.run.machine.pci;
        for (const x of st.transfers ?? [st]) {
          const dev = pci.device(x.device);
          if (x.pasid === undefined || dev === undefined) continue;
          m ??= new Map();
          const sid = pci.requesterId(dev);
          if (!m.has(sid)) m.set(sid, x.pasid);
        }
      }
      this.pasids.set(s, m);
    }
    return m?.get(t.sid[i]!) ?? -1;
  }

  cause(i: number): number {
    return causeOfEvent(this.run, i)?.step ?? -1;
  }
}
