/**
 * A host with several IOMMU units of one model (`host.iommus`, docs/multi-unit.md) behind the one
 * HostIommu seam the machine and the VMM drive: each requester id goes to the unit whose scope
 * holds its device (scenario/iommuUnits.ts), every unit keeps its own tables, caches, registers and
 * fault records, and prints its own faults.
 *
 * Domains: a HostDomain here stands for the driver's domain across units. Linux's intel-iommu gives
 * a domain one DID per unit it is attached to (domain_attach_iommu() allocates the unit's DID on
 * the first device of that unit; domain_id_iommu() reads it from dmar_domain->iommu_array); here
 * the domain gets a unit-local domain in each unit on the first attach of one of that unit's
 * devices, with the unit's own DID (AMD-Vi: the one id a host-wide allocator chose, domainIdFree;
 * Linux's pdom_id_alloc() is one IDA for all IOMMUs). One table: where the model can
 * (HostIommu.shareTable: VT-d, AMD-Vi), the first unit's domain owns the page table and the other
 * units' domains point at it, as every unit's context entry points at the one dmar_domain->pgd
 * (every DTE at the one protection domain's io_pgtable) in Linux; a map or unmap writes the table
 * once and each other unit does its own invalidations (flushShared), as cache_tag_flush_range /
 * domain_flush_pages_v1 flush every unit the domain is attached to. Otherwise (SMMUv3, a VT-d
 * unit narrower than the domain, which Linux refuses, AMD-Vi units of different depths) each unit
 * holds its own copy of
 * the mappings, and one attached after mappings exist gets them replayed (what VFIO type1 does
 * when a group joins a container: vfio_iommu_replay()).
 *
 * The hot path: a transfer's requester id picks its unit once per translateRun call (a lookup in a
 * 64 Ki-entry table), no allocation.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { IommuUnitSpec, PciDeviceSpec } from "../scenario/types.js";
import { unitIndexOfDevice } from "../scenario/iommuUnits.js";
import type { HostDomain, HostInterruptRemap, HostIommu, HostIommuSnapshot, ProbeResult, RegisterPoke, Share } from "./host-iommu.js";
import type { EntryTarget, FaultRecordView, InspectTables, InvalidateRequest, InvalidateResult, IommuUnit, RegisterView, TranslateRequest, Translation, Verdict, DecodedField, DecodedWord, ReasonInfo, CommandView } from "./iommu.js";
import type { KernelLog } from "./klog.js";
import type { DmaTally, DmaTransfer } from "./dma.js";
import type { Trace } from "../trace/trace.js";

/** One mapping of a domain, kept to replay into a unit that joins the domain later. */
interface Mapping {
  iova: bigint;
  hpa: bigint;
  size: bigint;
  prot: number;
}

/** The driver's domain across the units: a unit-local domain per unit it is attached in. */
export class MultiDomain implements HostDomain {
  constructor(
    readonly did: number,
    readonly passThrough: boolean,
    /** Per unit: its domain, once a device of that unit is attached. */
    readonly parts: (HostDomain | undefined)[],
    public maps: Mapping[] = [],
    /** The unit whose domain owns the page table the others share; -1: none yet. */
    public owner = -1,
    /** Per unit: its domain shares the owner's table (writes go to the owner's only). */
    readonly shared: boolean[] = parts.map(() => false),
  ) {}
}

export interface MultiHostSnapshot extends HostIommuSnapshot {
  readonly model: "multi";
  units: HostIommuSnapshot[];
  domains: { did: number; passThrough: boolean; parts: number[]; maps: Mapping[]; owner: number; shared: boolean[] }[];
  nextDid: number;
  routes: Int8Array;
}

/** The requester id of a device spec (bus << 8 | devfn). */
function ridOf(d: PciDeviceSpec): number {
  return (d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn;
}

export class MultiHost implements HostIommu {
  readonly iommu: IommuUnit;
  /** The units through the contract, in the firmware's order. */
  readonly units: readonly IommuUnit[];
  readonly names: readonly string[];
  /** Requester id -> index of its unit; -1: not routed yet (an alias joins its device's unit on attach). */
  private routes = new Int8Array(65536).fill(-1);
  /** Where requests of a requester id no scope names go: the INCLUDE_PCI_ALL unit, else the first. */
  private readonly fallback: number;
  private readonly domains = new Map<number, MultiDomain>();
  private nextDid = 1;
  /** Each unit's address width (the last resort of domainWidth). */
  private readonly widths: number[];
  private last: HostIommu;
  /** The model numbers domains host-wide (HostIommu.domainIdFree): a domain has one id in every unit. */
  private readonly globalIds: boolean;
  readonly interrupts?: HostInterruptRemap;

  constructor(
    readonly hosts: readonly HostIommu[],
    specs: readonly IommuUnitSpec[],
    pci: readonly PciDeviceSpec[],
  ) {
    this.names = specs.map((s) => s.name);
    this.units = hosts.map((h, i) => new NamedUnit(h.iommu, this.names[i]!, h.registerBase));
    this.widths = specs.map((s) => s.iommu.addressWidth);
    this.last = hosts[0]!;
    this.globalIds = hosts.every((h) => h.domainIdFree !== undefined);
    if (this.globalIds) for (const h of hosts) h.useIdSpace?.((did) => this.domains.has(did) || !this.hosts.every((x) => x.domainIdFree!(did)));
    const all = specs.findIndex((s) => s.includeAll);
    this.fallback = all >= 0 ? all : 0;
    for (const d of pci) {
      const i = unitIndexOfDevice(specs, pci, d.key);
      if (i >= 0) this.routes[ridOf(d)] = i;
    }
    this.iommu = new MultiUnit(this);
    if (hosts.every((h) => h.interrupts !== undefined)) {
      this.interrupts = {
        program: (rid, index, e, invalidate) => this.hostOf(rid).interrupts!.program(rid, index, e, invalidate),
        msi: (rid, address, data) => this.hostOf(rid).interrupts!.msi(rid, address, data),
      };
    }
    const h0 = hosts[0]!;
    if (h0.reservedIova !== undefined) this.reservedIova = () => h0.reservedIova!();
  }

  reservedIova?(): [bigint, bigint][];

  /** Index of the unit that translates requester id `rid`. */
  unitIndex(rid: number): number {
    const i = this.routes[rid & 0xffff]!;
    return i < 0 ? this.fallback : i;
  }

  private hostOf(rid: number): HostIommu {
    return this.hosts[this.unitIndex(rid)]!;
  }

  init(): void {
    for (const h of this.hosts) h.init();
  }

  allocDomain(passThrough: boolean): HostDomain {
    let did = this.nextDid++;
    if (this.globalIds) {
      // One allocator for every unit (AMD-Vi's pdom_ids IDA): the lowest id no unit uses.
      did = 1;
      while (this.domains.has(did) || !this.hosts.every((h) => h.domainIdFree!(did))) did++;
    }
    const d = new MultiDomain(did, passThrough, this.hosts.map(() => undefined));
    this.domains.set(d.did, d);
    return d;
  }

  freeDomain(d: HostDomain): void {
    const m = d as MultiDomain;
    m.parts.forEach((p, i) => p !== undefined && this.hosts[i]!.freeDomain(p));
    this.domains.delete(m.did);
  }

  /** The domain's part in unit `i`, allocated (and given the domain's mappings) on first use. */
  private part(m: MultiDomain, i: number): HostDomain {
    let p = m.parts[i];
    if (p === undefined) {
      const h = this.hosts[i]!;
      p = this.globalIds ? h.allocDomain(m.passThrough, m.did) : h.allocDomain(m.passThrough);
      m.parts[i] = p;
      const o = m.owner;
      if (o >= 0 && h.shareTable?.(p, this.hosts[o]!, m.parts[o]!) === true) {
        m.shared[i] = true;
        return p;
      }
      for (const x of m.maps) h.map(p, x.iova, x.hpa, x.size, x.prot);
      if (o < 0 && !m.passThrough) m.owner = i;
    }
    return p;
  }

  attach(d: HostDomain, rids: number[]): void {
    const m = d as MultiDomain;
    // A device and its DMA aliases are one unit's: aliases not routed yet follow the device.
    const first = rids.find((r) => this.routes[r & 0xffff]! >= 0);
    const unit = first === undefined ? this.fallback : this.routes[first & 0xffff]!;
    for (const r of rids) if (this.routes[r & 0xffff]! < 0) this.routes[r & 0xffff] = unit;
    for (let i = 0; i < this.hosts.length; i++) {
      const mine = rids.filter((r) => this.routes[r & 0xffff] === i);
      if (mine.length > 0) this.hosts[i]!.attach(this.part(m, i), mine);
    }
  }

  domain(did: number): HostDomain | undefined {
    return this.domains.get(did);
  }

  map(d: HostDomain, iova: bigint, hpa: bigint, size: bigint, prot: number): void {
    const m = d as MultiDomain;
    m.parts.forEach((p, i) => p !== undefined && !m.shared[i] && this.hosts[i]!.map(p, iova, hpa, size, prot));
    this.flushSharers(m);
    m.maps.push({ iova, hpa, size, prot });
  }

  unmap(d: HostDomain, iova: bigint, size: bigint): bigint {
    const m = d as MultiDomain;
    let bytes: bigint | undefined;
    m.parts.forEach((p, i) => {
      if (p === undefined || m.shared[i]) return;
      const b = this.hosts[i]!.unmap(p, iova, size);
      bytes ??= b;
    });
    this.flushSharers(m);
    const end = iova + size;
    const kept: Mapping[] = [];
    let cut = 0n;
    for (const x of m.maps) {
      const xEnd = x.iova + x.size;
      if (xEnd <= iova || x.iova >= end) {
        kept.push(x);
        continue;
      }
      cut += (xEnd < end ? xEnd : end) - (x.iova > iova ? x.iova : iova);
      if (x.iova < iova) kept.push({ ...x, size: iova - x.iova });
      if (xEnd > end) kept.push({ iova: end, hpa: x.hpa + (end - x.iova), size: xEnd - end, prot: x.prot });
    }
    m.maps = kept;
    return bytes ?? cut;
  }

  /** Each unit sharing the owner's table flushes what the owner's last map or unmap changed. */
  private flushSharers(m: MultiDomain): void {
    if (m.owner < 0) return;
    const from = this.hosts[m.owner]!;
    const owner = m.parts[m.owner]!;
    m.parts.forEach((p, i) => p !== undefined && m.shared[i] && this.hosts[i]!.flushShared?.(p, from, owner));
  }

  domainWidth(d: HostDomain): number {
    const m = d as MultiDomain;
    let w = Infinity;
    m.parts.forEach((p, i) => {
      if (p !== undefined) w = Math.min(w, this.hosts[i]!.domainWidth(p));
    });
    if (w !== Infinity) return w;
    // Not attached anywhere yet (a VFIO container before its first group): the narrowest width of
    // the units' domains that exist (every unit with devices has their default domains since boot).
    for (const o of this.domains.values()) o.parts.forEach((p, i) => p !== undefined && (w = Math.min(w, this.hosts[i]!.domainWidth(p))));
    return w === Infinity ? Math.min(...this.widths) : w;
  }

  endBoot(defaultDomain: (rid: number) => HostDomain | undefined): void {
    this.hosts.forEach((h, i) =>
      h.endBoot((rid) => {
        const m = defaultDomain(rid) as MultiDomain | undefined;
        return m?.parts[i];
      }),
    );
  }

  translateRun(x: DmaTransfer, from: number, to: number, trace: Trace, step: number, tally: DmaTally): void {
    const h = this.hosts[this.unitIndex(x.sid)]!;
    this.last = h;
    h.translateRun(x, from, to, trace, step, tally);
  }

  probe(sid: number, iova: bigint, write: boolean, pasid?: number): ProbeResult {
    const h = this.hostOf(sid);
    this.last = h;
    return h.probe(sid, iova, write, pasid);
  }

  transact(sid: number, iovaHi: number, iovaLo: number, write: boolean): number {
    const h = this.hostOf(sid);
    this.last = h;
    return h.transact(sid, iovaHi, iovaLo, write);
  }

  get fate(): number {
    return this.last.fate;
  }

  scratch<T>(use: () => T): T {
    let run = use;
    for (const h of this.hosts) {
      const inner = run;
      run = () => h.scratch(inner);
    }
    return run();
  }

  /** A register poke without a unit goes to the first unit. */
  pokeRegister(name: string, value: (old: bigint) => bigint): RegisterPoke | string {
    return this.pokeRegisterOf(0, name, value);
  }

  /** A register poke of unit `i` (a poke step's `unit`); the summary names the unit and the register's MMIO address in the unit's block. */
  pokeRegisterOf(i: number, name: string, value: (old: bigint) => bigint): RegisterPoke | string {
    const r = this.hosts[i]!.pokeRegister(name, value);
    return typeof r === "string" ? r : { ...r, summary: `${this.names[i]!}: ${r.summary} (MMIO 0x${r.address.toString(16)})` };
  }

  recordInvalidations(trace: Trace, step: number): void {
    for (const h of this.hosts) h.recordInvalidations(trace, step);
  }

  /** Each unit raises its own fault interrupt; the driver's handler prints each unit's records, in unit order. */
  serviceFaults(log: KernelLog, ns: bigint, step: number): void {
    for (const h of this.hosts) h.serviceFaults(log, ns, step);
  }

  snapshot(prevSnap: HostIommuSnapshot | undefined, share: Share): { snap: HostIommuSnapshot; bytes: number } {
    const prev = prevSnap as MultiHostSnapshot | undefined;
    let bytes = 0;
    const units = this.hosts.map((h, i) => {
      const s = h.snapshot(prev?.units[i], share);
      bytes += s.bytes;
      return s.snap;
    });
    const domains = [...this.domains.values()].map((d) => ({ did: d.did, passThrough: d.passThrough, parts: d.parts.map((p) => p?.did ?? -1), maps: share(prev?.domains.find((x) => x.did === d.did)?.maps, d.maps, 32), owner: d.owner, shared: [...d.shared] }));
    const snap: MultiHostSnapshot = { model: "multi", units, domains, nextDid: this.nextDid, routes: share(prev?.routes, this.routes, 1) };
    return { snap, bytes: bytes + domains.length * 16 };
  }

  restore(s: HostIommuSnapshot): void {
    const v = s as MultiHostSnapshot;
    this.hosts.forEach((h, i) => h.restore(v.units[i]!));
    this.domains.clear();
    for (const d of v.domains) {
      const parts = d.parts.map((did, i) => (did < 0 ? undefined : this.hosts[i]!.domain(did)));
      this.domains.set(d.did, new MultiDomain(d.did, d.passThrough, parts, d.maps, d.owner, [...d.shared]));
    }
    this.nextDid = v.nextDid;
    this.routes = v.routes.slice();
  }
}

/**
 * The units of a multi-unit host as one IommuUnit for the views that ask about one request: a
 * request goes to its requester's unit; an invalidation without a requester id goes to every unit
 * (each drops what it holds); fault records are every unit's, each naming its unit. tables() and
 * registers() are the first unit's: views that show every unit read Machine.units.
 */
class MultiUnit implements IommuUnit {
  constructor(private readonly host: MultiHost) {}

  private of(sid: number): IommuUnit {
    return this.host.units[this.host.unitIndex(sid)]!;
  }

  private get first(): IommuUnit {
    return this.host.units[0]!;
  }

  get model(): string {
    return this.first.model;
  }

  translate(req: TranslateRequest): Verdict {
    return this.of(req.sid).translate(req);
  }

  explain(req: TranslateRequest): Translation {
    return this.of(req.sid).explain(req);
  }

  invalidate(req: InvalidateRequest): InvalidateResult {
    if (req.sid !== undefined) return this.of(req.sid).invalidate(req);
    const out: InvalidateResult = { ok: true, dropped: 0, log: [] };
    for (const u of this.host.units) {
      const r = u.invalidate(req);
      out.dropped += r.dropped;
      out.log.push(...r.log);
      if (!r.ok) {
        out.ok = false;
        out.error ??= r.error;
      }
    }
    return out;
  }

  locate(target: EntryTarget): number | string {
    return this.of(target.sid).locate(target);
  }

  tables(): InspectTables {
    return this.first.tables();
  }

  registers(): RegisterView[] {
    return this.first.registers();
  }

  faults(kernel?: string): FaultRecordView[] {
    return this.host.units.flatMap((u, i) => u.faults(kernel).map((f) => ({ ...f, unit: this.host.names[i]! })));
  }

  reason(code: number): ReasonInfo {
    return this.first.reason(code);
  }

  decodeRegister(name: string, value: bigint): DecodedField[] | undefined {
    return this.first.decodeRegister(name, value);
  }

  decodeWord(structure: EntryTarget["structure"], value: bigint, level?: number): DecodedWord {
    return this.first.decodeWord(structure, value, level);
  }

  command(lo: bigint, hi: bigint): CommandView {
    return this.first.command(lo, hi);
  }

  counters(): Record<string, number> {
    const sum: Record<string, number> = {};
    for (const u of this.host.units) for (const [k, v] of Object.entries(u.counters())) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }
}

/**
 * A unit under the name Linux gives it on this host ("ivhd1"), for a model whose tables() names
 * every unit the same, with its register base; everything else is the unit's own.
 */
class NamedUnit implements IommuUnit {
  constructor(
    private readonly u: IommuUnit,
    private readonly name: string,
    private readonly registerBase: bigint | undefined,
  ) {}

  get model(): string {
    return this.u.model;
  }
  translate(req: TranslateRequest): Verdict {
    return this.u.translate(req);
  }
  explain(req: TranslateRequest): Translation {
    return this.u.explain(req);
  }
  invalidate(req: InvalidateRequest): InvalidateResult {
    return this.u.invalidate(req);
  }
  locate(target: EntryTarget): number | string {
    return this.u.locate(target);
  }
  tables(): InspectTables {
    const t = this.u.tables();
    return { ...t, name: this.name, ...(this.registerBase !== undefined ? { registerBase: this.registerBase } : {}) };
  }
  registers(): RegisterView[] {
    return this.u.registers();
  }
  faults(kernel?: string): FaultRecordView[] {
    return this.u.faults(kernel);
  }
  reason(code: number): ReasonInfo {
    return this.u.reason(code);
  }
  decodeRegister(name: string, value: bigint): DecodedField[] | undefined {
    return this.u.decodeRegister(name, value);
  }
  decodeWord(structure: EntryTarget["structure"], value: bigint, level?: number): DecodedWord {
    return this.u.decodeWord(structure, value, level);
  }
  command(lo: bigint, hi: bigint): CommandView {
    return this.u.command(lo, hi);
  }
  counters(): Record<string, number> {
    return this.u.counters();
  }
}
