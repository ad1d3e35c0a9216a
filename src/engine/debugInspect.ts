/**
 * The debugger's inspection of a run at a position (a workload step, or one translation event
 * inside it): the names conditions and the Debug Console can use, the Variables scopes (the step,
 * the translation with its walk, the DMAR unit's registers, the IOTLB, the VM memory slots) and
 * Debug Console evaluation. The walk comes from the IOMMU model's trail (walk.ts); nothing here
 * reads a table entry. Pure: the debug adapter asks for these through the engine protocol.
 */
import type { Machine } from "../sim/machine.js";
import { formatSize } from "../sim/machine.js";
import type { DecodedField, IommuUnit } from "../sim/iommu.js";
import type { Run } from "../sim/run.js";
import type { Scenario, Step } from "../scenario/types.js";
import { formatSid } from "../sim/bdf.js";
import { bdfKey } from "../sim/bdf.js";
import { parseAddress } from "../scenario/values.js";
import { EventKind, EVENT_KIND_NAMES, F_FATE_SHIFT, F_IOTLB_HIT, F_WRITE, LEVEL_DEVICE_TLB } from "../trace/trace.js";
import { evalExpr, formatValue, parseExpr, type Value } from "./expr.js";
import { explainEvent, explainWalk, type WalkExplanation } from "./walk.js";
import { causeOfEvent, pasidOfEvent } from "./traceTags.js";
import { permText } from "./trees/common.js";
import type { DebugPos, VarNode, Scope } from "../protocol/debug.js";
export type { DebugPos, VarNode, Scope };


/** Names that only have a value at a translation event. */
export const EVENT_NAMES = new Set(["iova", "hpa", "write", "read", "fault", "reason", "level", "iotlb", "sid", "domain", "kind", "event", "recorded", "fpd", "pasid", "cause"]);

const hx = (v: bigint | number) => `0x${v.toString(16)}`;

export class DebugInspector {
  constructor(
    private readonly run: Run,
    private readonly scenario: Scenario,
    private readonly stepLines: [number, number][],
  ) {}

  get steps(): number {
    return this.run.outcomes.length;
  }

  events(step: number): [number, number] {
    const o = this.run.outcomes[step];
    return o ? [o.eventStart, o.eventEnd] : [0, 0];
  }

  /** The step a breakpoint on a 0-based line belongs to: the step covering it, else the next one. */
  stepForLine(line: number): number | undefined {
    for (let i = 0; i < this.stepLines.length; i++) if (line >= this.stepLines[i]![0] && line <= this.stepLines[i]![1]) return i;
    for (let i = 0; i < this.stepLines.length; i++) if (this.stepLines[i]![0] > line) return i;
    return undefined;
  }

  lineOf(step: number): number {
    return this.stepLines[Math.min(step, this.stepLines.length - 1)]?.[0] ?? 0;
  }

  /** Machine state shown at a position: before the step, or after it when inside its events. */
  machineAt(pos: DebugPos): Machine {
    return this.run.machineBefore(pos.event < 0 ? pos.step : pos.step + 1);
  }

  // ------------------------------------------------------------------ names at a position

  sidOf(device: string): number | undefined {
    const key = bdfKey(device);
    const dev = key ? this.run.machine.pci.device(key) : undefined;
    return dev ? this.run.machine.pci.requesterId(dev) : undefined;
  }

  deviceOfSid(sid: number): string {
    const pci = this.run.machine.pci;
    const dev = pci.devices.find((d) => pci.requesterId(d) === sid) ?? pci.devices.find((d) => pci.dmaAliases(d).includes(sid));
    return dev?.key ?? formatSid(sid);
  }

  names(pos: DebugPos): string[] {
    const base = ["step", "line", "op", "status", "faults", "transactions", "vm", "device", "errno", "error"];
    return pos.event >= 0 ? [...base, ...EVENT_NAMES] : [...base, "iova", "write"];
  }

  lookup(pos: DebugPos, name: string): Value | null {
    const step = this.scenario.workload[pos.step];
    const o = this.run.outcomes[pos.step];
    if (!step || !o) return name === "step" ? BigInt(pos.step + 1) : null;
    const t = this.run.trace;
    const e = pos.event;
    switch (name) {
      case "step":
        return BigInt(pos.step + 1);
      case "line":
        return BigInt(this.lineOf(pos.step) + 1);
      case "op":
        return step.op;
      case "status":
        return o.status;
      case "faults":
        return BigInt(o.faults);
      case "transactions":
        return BigInt(o.transactions);
      case "vm":
        return "vm" in step ? step.vm : undefined;
      case "errno":
        return o.errno;
      case "error":
        return o.error;
      case "device":
        if (e >= 0) return this.deviceOfSid(t.sid[e]!);
        return "device" in step && typeof step.device === "string" ? step.device : undefined;
    }
    if (e < 0) {
      if (name === "iova") return "iova" in step && typeof step.iova === "bigint" ? step.iova : undefined;
      if (name === "write") return "write" in step && typeof step.write === "boolean" ? step.write : undefined;
      return null;
    }
    const flags = t.flags[e]!;
    switch (name) {
      case "event":
        return BigInt(e);
      case "kind":
        return EVENT_KIND_NAMES[t.kind[e]!] ?? "event";
      case "iova":
        return (BigInt(t.aHi[e]!) << 32n) | BigInt(t.aLo[e]!);
      case "hpa":
        return t.reason[e] === 0 ? (BigInt(t.bHi[e]!) << 32n) | BigInt(t.bLo[e]!) : undefined;
      case "write":
        return (flags & F_WRITE) !== 0;
      case "read":
        return (flags & F_WRITE) === 0;
      case "fault":
        return t.reason[e] !== 0;
      case "reason":
        return BigInt(t.reason[e]!);
      case "level":
        return BigInt(t.level[e]!);
      case "iotlb":
        return (flags & F_IOTLB_HIT) !== 0;
      case "sid":
        return BigInt(t.sid[e]!);
      case "domain":
        return BigInt(t.did[e]!);
      case "recorded":
        return ((flags >> F_FATE_SHIFT) & 7) === 1;
      case "fpd":
        return ((flags >> F_FATE_SHIFT) & 7) === 2;
      case "pasid": {
        const p = pasidOfEvent(this.run, e);
        return p === undefined ? undefined : BigInt(p);
      }
      case "cause": {
        // The (1-based) step whose guest action a host VFIO map/unmap replays (traceTags.ts).
        const c = causeOfEvent(this.run, e);
        return c === undefined ? undefined : BigInt(c.step + 1);
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ variables

  scopes(pos: DebugPos): Scope[] {
    const out: Scope[] = [{ name: "Step", vars: this.stepVars(pos) }];
    // A VFIO call QEMU made for a guest vIOMMU is no translation: its scope names the guest action behind it.
    if (pos.event >= 0) out.push({ name: causeOfEvent(this.run, pos.event) ? "Mapping (guest vIOMMU shadow)" : "Translation", vars: this.translationVars(pos) });
    const atEvent = pos.event >= 0 ? this.registersAtEvent(pos) : undefined;
    const m = this.machineAt(pos);
    const when = pos.event >= 0 ? " (after this step)" : "";
    const hu = m.hostUnits;
    if (hu.units.length > 1) {
      // A host of several units (host.iommus): each unit's registers and IOTLB, named as Linux names
      // the unit; the event's own unit shows its registers at the event.
      const evUnit = pos.event >= 0 ? hu.unitOf(this.run.trace.sid[pos.event]!) : -1;
      hu.units.forEach((u, i) => {
        const name = hu.names[i] ?? String(i);
        if (atEvent && i === evUnit) out.push({ name: `IOMMU registers ${name} (at this event, before the driver's fault handler)`, vars: atEvent });
        else out.push({ name: `IOMMU registers ${name}${when}`, vars: registerVars(u) });
      });
      hu.units.forEach((u, i) => out.push({ name: `IOTLB ${hu.names[i] ?? String(i)}${when}`, vars: iotlbVars(u), expensive: true }));
      hu.units.forEach((u, i) => {
        const psc = pscVars(u);
        if (psc) out.push({ name: `Paging-structure caches ${hu.names[i] ?? String(i)}${when}`, vars: psc, expensive: true });
      });
      out.push({ name: `VM memory slots${when}`, vars: slotVars(m) });
      return out;
    }
    if (atEvent) out.push({ name: "IOMMU registers (at this event, before the driver's fault handler)", vars: atEvent });
    else out.push({ name: `IOMMU registers${when}`, vars: registerVars(m.iommu) });
    out.push({ name: `IOTLB${when}`, vars: iotlbVars(m.iommu), expensive: true });
    const psc = pscVars(m.iommu);
    if (psc) out.push({ name: `Paging-structure caches${when}`, vars: psc, expensive: true });
    out.push({ name: `VM memory slots${when}`, vars: slotVars(m) });
    return out;
  }

  /**
   * The DMAR unit's registers right after the transaction of event `pos.event`, as hardware
   * holds them then: Linux's fault handler (dmar_fault, serviced at the end of the step) has not
   * read and cleared FSTS and the fault recording registers yet, so a recorded fault is visible.
   * Rebuilt exactly: the unit of the machine before the step replays the step's transactions up
   * to this one (a DMA step changes the unit only through them), each checked against the trace;
   * the run's machine is left as it was. Undefined outside a DMA step (or should a replay ever
   * disagree with the trace): the caller then shows the state after the step.
   */
  private registersAtEvent(pos: DebugPos): VarNode[] | undefined {
    const [es, ee] = this.events(pos.step);
    if (pos.event < es || pos.event >= ee) return undefined;
    return this.run.atEvent(pos.event, true, (m) => registerVars(m.hostUnits.units[m.hostUnits.unitOf(this.run.trace.sid[pos.event]!)] ?? m.iommu));
  }

  private stepVars(pos: DebugPos): VarNode[] {
    const step = this.scenario.workload[pos.step];
    const o = this.run.outcomes[pos.step];
    if (!step || !o) return [{ name: "position", value: "end of the workload" }];
    const vars: VarNode[] = [
      { name: "step", value: String(pos.step + 1), num: String(pos.step + 1) },
      { name: "line", value: String(this.lineOf(pos.step) + 1), num: String(this.lineOf(pos.step) + 1) },
      { name: "op", value: step.op, type: "string" },
      { name: "outcome", value: o.summary, type: "string" },
      { name: "status", value: o.status, type: "string" },
      { name: "transactions", value: String(o.transactions), num: String(o.transactions) },
      { name: "faults", value: String(o.faults), num: String(o.faults) },
    ];
    if (o.errno) vars.push({ name: "errno", value: o.errno });
    if (o.expect) vars.push({ name: "expect", value: o.expect.pass ? "passed" : `failed: ${o.expect.failures.join("; ")}` });
    vars.push({ name: "arguments", value: `{${step.op}}`, children: stepArgs(step) });
    const [es, ee] = this.events(pos.step);
    if (ee > es) vars.push({ name: "events", value: `${ee - es} (#${es}..#${ee - 1}); Step Into to walk them`, num: String(ee - es) });
    return vars;
  }

  private translationVars(pos: DebugPos): VarNode[] {
    const t = this.run.trace;
    const e = pos.event;
    const iova = (BigInt(t.aHi[e]!) << 32n) | BigInt(t.aLo[e]!);
    const write = (t.flags[e]! & F_WRITE) !== 0;
    const device = this.deviceOfSid(t.sid[e]!);
    const fate = (t.flags[e]! >> F_FATE_SHIFT) & 7;
    const cause = causeOfEvent(this.run, e);
    if (cause) return this.causeVars(e, cause);
    const vars: VarNode[] = [
      { name: "event", value: `#${e} ${EVENT_KIND_NAMES[t.kind[e]!] ?? ""}` },
      { name: "device", value: device, type: "string" },
      { name: "requester id", value: formatSid(t.sid[e]!) },
      { name: "direction", value: write ? "write" : "read" },
      numVar("iova", iova),
      ...pasidVar(pasidOfEvent(this.run, e)),
      { name: "result", value: t.reason[e] === 0 ? (t.kind[e] === EventKind.Interrupt ? "interrupt request (not translated)" : "translated") : `fault ${this.run.machine.iommu.reason(t.reason[e]!).label}` },
    ];
    if (t.reason[e] === 0) vars.push(numVar("hpa", (BigInt(t.bHi[e]!) << 32n) | BigInt(t.bLo[e]!)));
    else vars.push({ name: "why", value: this.run.machine.iommu.reason(t.reason[e]!).explanation }, { name: "fault record", value: ["", "recorded", "suppressed by FPD", "lost: fault overflow", "compressed"][fate] ?? "" });
    // Level bit 7: a Translated Request from the device's own Device-TLB (ATS), no IOTLB lookup (trace.ts LEVEL_DEVICE_TLB).
    const devtlb = (t.level[e]! & LEVEL_DEVICE_TLB) !== 0;
    const level = t.level[e]! & ~LEVEL_DEVICE_TLB;
    vars.push({ name: "iotlb", value: devtlb ? "not asked: a translated request from the device's Device-TLB (ATS)" : t.flags[e]! & F_IOTLB_HIT ? "hit" : "miss (walked the tables)" }, { name: "domain", value: String(t.did[e]), num: String(t.did[e]) });
    if (level) vars.push({ name: "level", value: t.reason[e] === 0 ? `${level} (${level === 3 ? "1 GiB" : level === 2 ? "2 MiB" : "4 KiB"} page)` : String(level) });
    const w = explainEvent(this.run, e);
    vars.push({ name: "walk", value: w.summary, children: walkVars(w) });
    vars.push({ name: "mapping", value: mappingSignature(w, true), dataId: `map|${device}|${hx(iova & ~0xfffn)}` });
    return vars;
  }

  /**
   * A host VFIO map/unmap QEMU made for a guest vIOMMU in caching mode: the range, and the guest
   * action behind it (the model's note, sim/viommu.ts): the step whose guest driver wrote the
   * entry, and the step whose guest invalidation QEMU trapped and replayed.
   */
  private causeVars(e: number, c: NonNullable<ReturnType<typeof causeOfEvent>>): VarNode[] {
    const t = this.run.trace;
    const a = (BigInt(t.aHi[e]!) << 32n) | BigInt(t.aLo[e]!);
    const b = (BigInt(t.bHi[e]!) << 32n) | BigInt(t.bLo[e]!);
    const op = (s: number) => this.scenario.workload[s]?.op ?? "";
    const at = (s: number) => `step ${s + 1} (${op(s)}, line ${this.lineOf(s) + 1})`;
    const call = c.map ? "VFIO_IOMMU_MAP_DMA" : "VFIO_IOMMU_UNMAP_DMA";
    // virtio-iommu passes each MAP/UNMAP to VFIO at once; intel-iommu shadows on the guest's invalidation.
    const virtio = c.viommu === "virtio-iommu";
    const vars: VarNode[] = [
      { name: "event", value: `#${e} ${EVENT_KIND_NAMES[t.kind[e]!] ?? ""}` },
      { name: "call", value: `${call} in domain ${this.run.machine.hostIommu.domain(t.did[e]!)?.label ?? t.did[e]}`, type: "string" },
      numVar("iova", a),
      { name: "size", value: formatSize(b), num: b.toString(10) },
      { name: "vm", value: c.vm, type: "string" },
      {
        name: "caused by",
        value: virtio
          ? `guest ${at(c.step)}: its virtio-iommu driver's ${c.map ? "MAP" : "UNMAP"} request, passed to VFIO at once`
          : c.step === c.invalidatedAt
            ? `guest ${at(c.step)}: QEMU replayed its IOTLB invalidation`
            : `guest ${at(c.step)} wrote the entry; the invalidation of ${at(c.invalidatedAt)} shadowed it`,
        children: [
          { name: "guest step", value: String(c.step + 1), num: String(c.step + 1) },
          { name: "guest line", value: String(this.lineOf(c.step) + 1), num: String(this.lineOf(c.step) + 1) },
          ...(virtio
            ? [{ name: "how", value: "QEMU's virtio-iommu notifies the VFIO listener of each MAP/UNMAP request as it arrives (virtio_iommu_map / virtio_iommu_unmap -> virtio_iommu_notify_map / _unmap), in aligned power-of-two blocks; there is no caching mode" }]
            : [
                { name: "invalidated at step", value: String(c.invalidatedAt + 1), num: String(c.invalidatedAt + 1) },
                { name: "how", value: "QEMU traps the guest's IOTLB invalidation (vtd_process_iotlb_desc), walks the guest table (vtd_page_walk_level) and issues one VFIO call per changed entry (vfio_iommu_map_notify)" },
              ]),
        ],
      },
    ];
    return vars;
  }

  // ------------------------------------------------------------------ console

  evaluate(pos: DebugPos, expression: string): { result: string; children?: VarNode[] } | { error: string } {
    const src = expression.trim();
    const words = src.split(/\s+/);
    const m = this.machineAt(pos);
    if (words[0] === "translate" || words[0] === "pte") {
      if (words.length < 3) return { error: `usage: ${words[0]} BDF IOVA${words[0] === "translate" ? " [r|w]" : ""}` };
      const sid = this.sidOf(words[1]!);
      if (sid === undefined) return { error: `no host device ${words[1]}` };
      const a = parseAddress(words[2]!);
      if (!a.ok) return { error: `${a.message} (${a.hint})` };
      const w = explainWalk(m, sid, a.value, words[3] === "w" || words[3] === "write");
      if (words[0] === "translate") return { result: w.summary, children: walkVars(w) };
      const last = w.stages.filter((s) => s.kind === "pte").at(-1);
      if (!last) return { result: `no page-table entry: ${w.stages.at(-1)?.stop ?? w.summary}` };
      const raw = last.raw[0] === undefined ? "(not readable)" : `0x${last.raw[0].toString(16).padStart(16, "0")}`;
      return { result: `L${last.level}[${last.index}] @ ${hx(last.address)} = ${raw}${last.stop ? ` (${last.stop})` : ""}`, children: last.fields.map(([k, v]) => ({ name: k, value: v })) };
    }
    if (src === "groups") {
      const pci = m.pci;
      const vars = pci.groups.map((g) => {
        const v = pci.viability(g);
        return { name: `group ${g.id}`, value: `${g.devices.map((d) => d.key).join(", ")} — ${v.viable ? "viable" : `not viable: ${v.blockers.map((b) => b.why).join("; ")}`}` };
      });
      return { result: `${pci.groups.length} IOMMU groups`, children: vars };
    }
    const e = parseExpr(src);
    if ("error" in e) return { error: `${e.error} at column ${e.column + 1}` };
    const v = evalExpr(e, (name) => this.lookup(pos, name), () => this.names(pos));
    if (typeof v === "object" && v !== null && "error" in v) return { error: v.error };
    return { result: formatValue(v) };
  }
}

/** The request's PASID, as Linux prints it ("PASID 0x%x"), when it had one. */
function pasidVar(p: number | undefined): VarNode[] {
  return p === undefined ? [] : [{ name: "pasid", value: `0x${p.toString(16)}`, num: String(p) }];
}

function numVar(name: string, v: bigint): VarNode {
  return { name, value: hx(v), num: v.toString(10) };
}

/**
 * What a data breakpoint compares: the translation the device gets (IOTLB first, as hardware)
 * and the entry the tables hold. A DMA filling the IOTLB changes neither; a map, unmap, poke or
 * an invalidation that drops a stale entry changes one of them.
 */
export function mappingSignature(w: WalkExplanation, showCache = false): string {
  const last = w.stages.at(-1);
  const leaf = last ? `${last.kind === "pte" ? `L${last.level}` : last.kind}=0x${(last.raw[0] ?? 0n).toString(16)}` : "no tables";
  const cache = showCache && w.iotlbHit ? " (IOTLB)" : "";
  return w.reason === 0 ? `→ ${hx(w.hpa ?? 0n)}${cache}, ${leaf}` : `fault 0x${w.reason.toString(16).padStart(2, "0")}${cache}, ${leaf}`;
}

function walkVars(w: WalkExplanation): VarNode[] {
  return w.stages.map((s) => ({
    name: s.kind === "root" ? `root[${s.indexText}]` : s.kind === "context" ? `context[${s.indexText}]` : `L${s.level}[${s.index}]`,
    value: `${s.raw.map((r) => `0x${r.toString(16).padStart(16, "0")}`).join(" ")}${s.stop ? ` ← ${s.stop}` : ""}`,
    children: [numVar("address", s.address), ...s.fields.map(([k, v]) => ({ name: k, value: v })), ...(s.stop ? [{ name: "stops here", value: s.stop }] : [])],
  }));
}

function stepArgs(step: Step): VarNode[] {
  const out: VarNode[] = [];
  for (const [k, v] of Object.entries(step)) {
    if (k === "range" || k === "index" || k === "op" || k === "expect") continue;
    if (typeof v === "bigint") out.push(numVar(k, v));
    else if (typeof v === "object" && v !== null) out.push({ name: k, value: JSON.stringify(v, (_, x: unknown) => (typeof x === "bigint" ? hx(x) : x)) });
    else out.push({ name: k, value: String(v) });
  }
  return out;
}

/** A register's fields as variables: the model's decoders (IommuUnit.registers/faults), as the Mapping Tables tree shows them. */
function fieldVars(fields: readonly DecodedField[]): VarNode[] {
  // A field shown as a plain number follows the Variables view's hex/decimal format; decoded text stays as it is.
  return fields.map((f) => ({ name: f.name, value: f.value, ...(f.value === f.raw.toString() ? { num: f.value } : {}) }));
}

/** The fault status and control registers, the fault records not yet serviced, the counters: through the contract. */
function registerVars(iommu: IommuUnit): VarNode[] {
  const regs = iommu.registers();
  const reg = (name: string): VarNode[] => {
    const r = regs.find((x) => x.name === name);
    return r ? [{ name, value: hx(r.value), num: String(r.value), children: fieldVars(r.fields) }] : [];
  };
  const records: VarNode[] = iommu
    .faults()
    .filter((r) => r.pending)
    .map((r) => ({
      name: `FRCD${r.index}`,
      value: `${formatSid(r.sid)} ${r.write ? "write" : "read"} ${hx(r.address)}: ${iommu.reason(r.reason).label}`,
      children: [{ name: "raw", value: `0x${r.raw[1].toString(16).padStart(16, "0")}_${r.raw[0].toString(16).padStart(16, "0")}` }, ...fieldVars(r.fields)],
    }));
  const counters = iommu.counters();
  // A unit of a multi-unit host: where its register block is (its own MMIO base, `register-base`).
  const base = iommu.tables().registerBase;
  return [
    ...(base !== undefined ? [{ name: "register base", value: hx(base), num: String(base) }] : []),
    ...reg("FSTS"),
    ...reg("FECTL"),
    { name: "fault records", value: `${records.length} of ${iommu.tables().faultRecords} in use`, children: records },
    { name: "counters", value: `${counters.requests ?? 0} requests, ${counters.faults ?? 0} faults`, children: Object.entries(counters).map(([k, v]) => ({ name: k, value: String(v), num: String(v) })) },
  ];
}

function iotlbVars(iommu: IommuUnit): VarNode[] {
  return iommu
    .tables()
    .iotlb.entries()
    .map((e) => ({ name: `DID ${e.did} ${hx(e.iova)}`, value: `→ ${hx(e.hpa)} ${e.pageSize === 1n << 30n ? "1 GiB" : e.pageSize === 1n << 21n ? "2 MiB" : "4 KiB"} ${permText(e.perm)}` }));
}

/**
 * The unit's paging-structure caches (second-level, and in scalable mode first-level / nested),
 * when it has them (`paging-structure-cache`): the cached non-leaf entries walks start below, a
 * stale one marked - what the Mapping Tables view lists, through the same contract.
 */
function pscVars(iommu: IommuUnit): VarNode[] | undefined {
  const t = iommu.tables();
  const caches = [t.pagingStructureCache, t.firstLevelPagingStructureCache].filter((c) => c !== undefined);
  if (caches.length === 0) return undefined;
  return caches.flatMap((c) =>
    c.entries().map((e) => ({
      name: `${e.name} DID ${e.did}${e.pasid !== undefined ? ` PASID 0x${e.pasid.toString(16)}` : ""} ${hx(e.iova)}`,
      value: `→ table ${hx(e.table)} ${permText(e.perm)}${e.stale ? " · stale: the entry in memory no longer points there" : ""}`,
    })),
  );
}

function slotVars(m: Machine): VarNode[] {
  return [...m.vms.values()].map((vm) => ({
    name: vm.spec.name,
    value: `${vm.running ? "running" : "stopped"}, ${formatSize(vm.spec.memory)}`,
    children: vm.guest.memslots.map((s) => ({ name: `slot ${s.slot} ${s.name}`, value: `GPA ${hx(s.gpa)}-${hx(s.gpa + s.size - 1n)} → HVA ${hx(s.hva)}${vm.running ? ` → HPA ${hx(vm.guest.gpaToHpa(s.gpa) ?? 0n)}…` : ""}` })),
  }));
}

