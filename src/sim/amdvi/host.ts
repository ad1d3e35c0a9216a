/**
 * AMD-Vi behind the machine's HostIommu seam (sim/host-iommu.ts): one IOMMU (ivhd0) and Linux's
 * amd_iommu driver, the IVRS unity ranges (IVMD) mapped into the devices' default domains, and the
 * event-log interrupt serviced as iommu_poll_events prints it.
 */
import type { IommuSpec, PciDeviceSpec } from "../../scenario/types.js";
import type { HostDomain, HostIommu, HostIommuSnapshot, RegisterPoke, Share } from "../host-iommu.js";
import { UnitHost } from "../unitHost.js";
import type { IommuUnit } from "../iommu.js";
import type { KernelLog } from "../klog.js";
import type { PhysicalMemory } from "../memory.js";
import { Ratelimit } from "../printk.js";
import { EventKind, type Trace } from "../../trace/trace.js";
import { AmdIommuDriver, type AmdDomain, type AmdDriverSnapshot, type PprAnswer } from "./driver.js";
import { AmdViModel } from "./model.js";
import { AmdViUnit, type AmdUnitSnapshot } from "./unit.js";
import { AMDVI_MMIO_BASE, DTE_SIZE, EVENT_TYPE_ILL_CMD, EVENT_TYPE_ILL_DEV, MMIO_CONTROL_OFFSET, MMIO_DEV_TABLE_OFFSET, MMIO_STATUS_OFFSET, STATUS_EVT_INT, STATUS_EVT_OVERFLOW, STATUS_PPR_INT, STATUS_PPR_OVERFLOW, GA_GUEST_NR, STATUS_GALOG_INT, STATUS_GALOG_OVERFLOW } from "./defs.js";
import { decodeEvent, eventOverflowHandling, gaOverflowHandling, v2DomainLayout, handlesPprOverflow, hasPgtblV2, logOverflowLine, ratelimitedPerDevice, renderEvent, type DeviceLookup } from "./dmesg.js";
import { AMD_REGISTERS } from "./decode.js";
import { ivrsDevices } from "./ivrs.js";
import { AmdInterrupts } from "./irq.js";
import { gaTagWakes } from "./avic.js";

export interface AmdHostSnapshot extends HostIommuSnapshot {
  readonly model: "amd-vi";
  unit: AmdUnitSnapshot;
  driver: AmdDriverSnapshot;
  ratelimits: [number, unknown][];
  overflowLimit: unknown;
  /** The GA log lines' ratelimits ("IOMMU GA Log overflow", "IOMMU GA Log restarting"); absent in snapshots from before. */
  gaLimits?: [unknown, unknown];
}

/** Levels of the v1 table the unit supports for a scenario address width (39: 3, 48: 4, 57: 5). */
export function amdLevels(width: number): number {
  return Math.max(3, Math.min(6, Math.ceil((width - 12) / 9)));
}

export class AmdViHost extends UnitHost<AmdUnitSnapshot> implements HostIommu {
  readonly unit: AmdViUnit;
  readonly driver: AmdIommuDriver;
  readonly iommu: IommuUnit;
  /** Interrupt remapping through the seam (irq.ts). */
  readonly interrupts: AmdInterrupts;
  private readonly known: DeviceLookup;
  /** amd_iommu_report_page_fault's per-device ratelimit (dev_data->rs, 5 s / 10). */
  private ratelimits = new Map<number, Ratelimit>();
  private overflowLimit = new Ratelimit();
  /** pr_info_ratelimited's state per call site of the GA log's lines (v6.4-6.5: the overflow line, the restart line). */
  private gaOverflowLimit = new Ratelimit();
  private gaRestartLimit = new Ratelimit();
  private readonly rids = new Map<string, number>();
  /** MMIO base of the IOMMU's registers (the IVHD's IOMMU Base Address). */
  readonly registerBase: bigint;

  static sramBytes(spec: IommuSpec): number {
    // The unit's translate core: its block, the IOTLB it probes and fills, its burst.
    return AmdViUnit.sramBytes(spec.iotlbSets, spec.iotlbWays);
  }

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly spec: IommuSpec,
    pci: readonly PciDeviceSpec[],
    private readonly kernel: string,
    /** amd_iommu=pgtbl_v1|pgtbl_v2 (host.kernel-params); the option exists from v6.1 (older kernels ignore it: v1). */
    pgtable: "v1" | "v2" = "v1",
  ) {
    super();
    this.registerBase = spec.registerBase ?? AMDVI_MMIO_BASE;
    const maxLevels = amdLevels(spec.addressWidth);
    this.unit = new AmdViUnit(mem, { iotlbSets: spec.iotlbSets, iotlbWays: spec.iotlbWays, maxLevels });
    // last_bdf: the IVHD's device range; here the last requester id of the highest bus in use.
    const lastBus = pci.reduce((m, d) => Math.max(m, d.bdf.bus, d.secondaryBus ?? 0), 0);
    // The IVHD device entries (IVRS): aliases and DTE settings; their last device id sizes the table too.
    const ivrs = ivrsDevices(spec);
    const lastBdf = Math.max((lastBus << 8) | 0xff, ivrs.lastDevid, ...ivrs.alias.values());
    this.driver = new AmdIommuDriver(this.unit, mem, lastBdf, Math.min(3, maxLevels), maxLevels, ivrs, spec.amd?.intremap === false ? "off" : spec.amd?.ga === false ? "legacy" : "ga", pgtable === "v2" && hasPgtblV2(kernel) ? "v2" : "v1");
    // Linux 6.1-6.8 built a v2 DMA domain with one GCR3 table of its own (dmesg.ts v2DomainLayout).
    this.driver.v2Layout = v2DomainLayout(kernel);
    this.interrupts = new AmdInterrupts(this.unit, this.driver, (log, ns, step) => this.serviceGaLog(log, ns, step), kernel);
    // ATS devices (host.iommu.ats): Linux enables ATS, so their DTEs get I and their unmaps INVALIDATE_IOTLB_PAGES.
    const ats = new Map<number, boolean>();
    for (const a of spec.amd?.ats ?? []) {
      const d = pci.find((p) => p.key === a.device);
      if (d === undefined) continue;
      const rid = (d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn;
      ats.set(rid, a.responds);
      this.driver.atsDevids.add(rid);
      if (a.invalidate === false) this.driver.atsFlushForgotten.add(rid);
      // PRI: pdev_enable_caps enables it, amd_iommu_iopf_add_device sets dev_data->ppr (DTE PPR with the GCR3 table).
      if (a.pri === true) this.driver.priDevids.add(rid);
    }
    this.unit.atsResponds = (devid) => ats.get(devid);
    // The PPR interrupt, serviced at once: the device waits for its page request's response. With
    // ppr-interrupt: false the thread does not run: requests wait in the log for a page-response step.
    this.unit.pageRequest = spec.amd?.pprInterrupt === false ? () => false : () => this.driver.handlePageRequests();
    const drivers = new Map<number, string>();
    for (const d of pci) drivers.set((d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn, d.driver ?? "pci");
    this.known = (devid) => {
      const drv = drivers.get(devid);
      return drv === undefined ? undefined : { driver: drv };
    };
    this.iommu = new AmdViModel(this.unit, this.driver, mem, this.known, kernel);
    for (const d of pci) this.rids.set(d.key, (d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn);
  }

  init(): void {
    this.driver.init();
    if (this.driver.priDevids.size > 0) this.driver.enablePprLog();
  }

  allocDomain(passThrough: boolean, did?: number): HostDomain {
    return this.driver.allocDomain(passThrough, did);
  }

  /** Linux allocates protection domain ids from one IDA for every IOMMU (pdom_ids, pdom_id_alloc()). */
  domainIdFree(did: number): boolean {
    return this.driver.domainIdFree(did);
  }

  /** The host-wide ids (sim/multiHost.ts): a GCR3 table's domain id avoids those of every unit. */
  useIdSpace(taken: (did: number) => boolean): void {
    this.driver.idTaken = taken;
  }

  /** One io_pgtable per protection domain; both IOMMUs must walk the same depth (the same maxMode). */
  shareTable(d: HostDomain, from: HostIommu, owner: HostDomain): boolean {
    return from instanceof AmdViHost && from.driver.maxMode === this.driver.maxMode && this.driver.shareTable(d as AmdDomain, owner as AmdDomain);
  }

  flushShared(d: HostDomain, from: HostIommu, owner: HostDomain): void {
    const c = (from as AmdViHost).driver.lastChange;
    if (c !== undefined) this.driver.followShared(d as AmdDomain, owner as AmdDomain, c);
  }

  freeDomain(d: HostDomain): void {
    this.driver.freeDomain(d as AmdDomain);
  }

  attach(d: HostDomain, rids: number[]): void {
    this.driver.attach(d as AmdDomain, rids);
  }

  domain(did: number): HostDomain | undefined {
    return this.driver.domains.get(did);
  }

  map(d: HostDomain, iova: bigint, hpa: bigint, size: bigint, prot: number): void {
    this.driver.map(d as AmdDomain, iova, hpa, size, prot);
  }

  unmap(d: HostDomain, iova: bigint, size: bigint): bigint {
    return this.driver.unmap(d as AmdDomain, iova, size);
  }

  domainWidth(): number {
    return this.driver.domainWidth();
  }

  /**
   * Boot: the IVMD unity ranges go into the default domain of their device (the iommu core's
   * iommu_create_device_direct_mappings of the IOMMU_RESV_DIRECT regions amd_iommu_get_resv_regions
   * reports), then the bring-up's commands are no step's events.
   */
  endBoot(defaultDomain: (rid: number) => HostDomain | undefined): void {
    for (const u of this.spec.amd?.unityMaps ?? []) {
      const rid = this.rids.get(u.device);
      const d = rid === undefined ? undefined : (defaultDomain(rid) as AmdDomain | undefined);
      if (d !== undefined) this.driver.map(d, u.start, u.start, u.size, (u.read ? 1 : 0) | (u.write ? 2 : 0));
    }
    this.unit.takeCommandLog();
  }

  /** A poke of the Device Table Base register (the AMD twin of RTADDR): written, no flush. */
  pokeRegister(name: string, value: (old: bigint) => bigint): RegisterPoke | string {
    if (name !== "RTADDR" && name !== "DEVTAB") return `register ${name} is not an AMD-Vi register a poke can write (DEVTAB: the Device Table Base)`;
    const old = this.unit.readReg(MMIO_DEV_TABLE_OFFSET);
    this.unit.writeReg(MMIO_DEV_TABLE_OFFSET, value(old));
    const now = this.unit.readReg(MMIO_DEV_TABLE_OFFSET);
    return { old, now, address: this.registerBase + BigInt(MMIO_DEV_TABLE_OFFSET), summary: `wrote ${hex16(now)} to the Device Table Base register (was ${hex16(old)}); no invalidation issued` };
  }

  /** The commands the unit executed in the step (COMPLETION_WAIT is bookkeeping), as Invalidate events. */
  recordInvalidations(trace: Trace, step: number): void {
    for (const [lo, hi] of this.unit.takeCommandLog()) {
      if (lo >> 60n === 1n) continue; // COMPLETION_WAIT
      trace.pushBig(EventKind.Invalidate, step, 0, lo >> 60n === 3n ? Number((lo >> 32n) & 0xffffn) : 0, 0, 0, 0, lo, hi);
    }
  }

  /**
   * The event log interrupt thread (amd_iommu_int_thread; v6.6 on amd_iommu_int_thread_evtlog ->
   * amd_iommu_handle_irq): the Status bits it acknowledges (W1C) at its loop's top, iommu_poll_events
   * - every event from head to tail through iommu_print_event, an IO_PAGE_FAULT of a known device
   * through its dev_data->rs ratelimit (amd_iommu_report_page_fault) - and an overflow as the kernel
   * generation handles it (dmesg.ts eventOverflowHandling): before the recovery commit EventOverflow
   * is not in the mask and stays set, so the log stays stopped without a line; v5.17 on
   * pr_info_ratelimited("IOMMU event log overflow\n") and amd_iommu_restart_event_logging; v6.6 on
   * amd_iommu_restart_log's "IOMMU Event log restarting" when EventLogRun is 0.
   */
  serviceFaults(log: KernelLog, ns: bigint, step: number): void {
    const kernel = this.kernel;
    const u = this.unit;
    const handling = eventOverflowHandling(kernel);
    const status = Number(u.readReg(MMIO_STATUS_OFFSET));
    const overflow = (status & STATUS_EVT_OVERFLOW) !== 0;
    // AMD_IOMMU_INT_MASK (EVT_INT, with EVT_OVERFLOW_INT from the recovery commit on) or v6.6's
    // int_mask | overflow_mask, written to Status to acknowledge.
    if ((status & (STATUS_EVT_INT | STATUS_EVT_OVERFLOW)) !== 0) u.writeReg(MMIO_STATUS_OFFSET, BigInt(STATUS_EVT_INT | (handling === "none" ? 0 : STATUS_EVT_OVERFLOW)));
    for (const words of this.driver.pollEvents()) {
      const e = decodeEvent(words);
      if (ratelimitedPerDevice(e, kernel, this.known)) {
        let rl = this.ratelimits.get(e.devid);
        if (rl === undefined) this.ratelimits.set(e.devid, (rl = new Ratelimit()));
        const r = rl.check(ns, "amd_iommu_report_page_fault");
        if (r.suppressedLine) log.kernel(ns, r.suppressedLine, step);
        if (!r.allowed) continue;
      }
      const extra: { ctrl?: bigint; dte?: bigint[]; cmd?: number[] } = {};
      if (e.type === EVENT_TYPE_ILL_DEV) {
        extra.ctrl = this.unit.readReg(MMIO_CONTROL_OFFSET);
        const at = this.unit.devTableBase + e.devid * DTE_SIZE;
        extra.dte = [0, 8, 16, 24].map((o) => this.mem.readU64(at + o) ?? 0n);
      }
      if (e.type === EVENT_TYPE_ILL_CMD) {
        const at = Number(e.address);
        extra.cmd = [0, 4, 8, 12].map((o) => (this.mem.read64(at + (o & ~7)) ? ((o & 4) !== 0 ? this.mem.hi : this.mem.lo) : 0));
      }
      for (const line of renderEvent(e, kernel, this.known, extra)) log.kernel(ns, line, step);
    }
    if (!overflow || handling === "none") return;
    if (handling === "restart-log" && !this.driver.restartLog("Event")) return;
    const r = this.overflowLimit.check(ns, handling === "restart" ? "amd_iommu_int_thread" : "amd_iommu_restart_log");
    if (r.suppressedLine) log.kernel(ns, r.suppressedLine, step);
    if (r.allowed) log.kernel(ns, logOverflowLine("Event", kernel), step);
    if (handling === "restart") this.driver.restartEventLogging();
  }

  /**
   * The PPR log interrupt thread as it runs for a `page-response` step. v6.6 on
   * (amd_iommu_int_thread_pprlog -> amd_iommu_handle_irq "PPR"): PPRInt and PPROverflow cleared
   * (W1C), the log polled (amd_iommu_poll_ppr_log), and after an overflow amd_iommu_restart_ppr_log:
   * pr_info_ratelimited("IOMMU %s log restarting\n", "PPR") and the log restarted. Before v6.6
   * (amd_iommu_int_thread): AMD_IOMMU_INT_MASK has PPRInt but not PPROverflow (iommu.c of v5.x-6.5:
   * EVT_OVERFLOW_INT | EVT_INT | PPR_INT | GALOG_INT), so the log is polled and an overflow is never
   * seen: the PPR log stays stopped and every later page request is lost, without a line.
   * "iommu/amd: Handle PPR log overflow" (274c2218b8b2) and "Generalize log overflow handling"
   * (386ae59bd7db) came with the IOMMU updates for v6.6. Returns the answers and whether it restarted.
   */
  servicePprLog(log: KernelLog, ns: bigint, step: number): { answers: PprAnswer[]; overflow: boolean; restarted: boolean } {
    const u = this.unit;
    const status = Number(u.readReg(MMIO_STATUS_OFFSET));
    const handlesOverflow = handlesPprOverflow(this.kernel);
    u.writeReg(MMIO_STATUS_OFFSET, BigInt(STATUS_PPR_INT | (handlesOverflow ? STATUS_PPR_OVERFLOW : 0)));
    const answers = this.driver.pollPprLog();
    const overflow = (status & STATUS_PPR_OVERFLOW) !== 0;
    let restarted = false;
    if (overflow && handlesOverflow && this.driver.restartLog("PPR")) {
      restarted = true;
      const r = this.overflowLimit.check(ns, "amd_iommu_restart_log");
      if (r.suppressedLine) log.kernel(ns, r.suppressedLine, step);
      if (r.allowed) log.kernel(ns, logOverflowLine("PPR", this.kernel), step);
    }
    return { answers, overflow, restarted };
  }

  /**
   * The GA log interrupt thread after a step's MSIs (v6.6 on amd_iommu_int_thread_galog ->
   * amd_iommu_handle_irq("GA", ...); before, the GA part of amd_iommu_int_thread): the Status bits
   * acknowledged (W1C: GAInt, with GALogOverflow from af47b0a24058 on), iommu_poll_ga_log - each
   * entry read and the head advanced; a GA_GUEST_NR entry's GATag handed to the notifier KVM
   * registered (avic_ga_log_notifier: the VM and vCPU from the tag, kvm_vcpu_wake_up; it returns 0,
   * so Linux's "GA log notifier failed." is not printed; the pr_debug of devid and tag is off by
   * default), another type ignored without a line - then the overflow as the generation handles
   * it (dmesg.ts gaOverflowHandling). Returns what it did for the step's summary ("" when Status
   * asked for nothing).
   */
  serviceGaLog(log: KernelLog, ns: bigint, step: number): string {
    const u = this.unit;
    const handling = gaOverflowHandling(this.kernel);
    const status = Number(u.readReg(MMIO_STATUS_OFFSET));
    const overflow = (status & STATUS_GALOG_OVERFLOW) !== 0;
    // Before af47b0a24058 only GAInt is in AMD_IOMMU_INT_MASK: an overflow alone wakes no thread.
    const wake = (status & STATUS_GALOG_INT) !== 0 || (overflow && handling !== "none");
    if (!wake) return overflow ? "the GA log is stopped (GALogOverflow; this kernel never clears it): interrupts for vCPUs not running are lost" : "";
    u.writeReg(MMIO_STATUS_OFFSET, BigInt(STATUS_GALOG_INT | (handling === "none" ? 0 : STATUS_GALOG_OVERFLOW)));
    const entries = this.driver.pollGaLog();
    const parts: string[] = [];
    if (entries.length > 0) {
      const nr = entries.filter((e) => e.type === GA_GUEST_NR);
      // avic_ga_log_notifier reads the VM and the vCPU from each tag in the kernel's layout (avic.ts).
      const tags = [...new Set(nr.map((e) => e.tag >>> 0))].map((t) => `0x${t.toString(16)} (${gaTagWakes(this.kernel, t)})`);
      const other = entries.length - nr.length;
      parts.push(
        `GA log interrupt: iommu_poll_ga_log read ${entries.length === 1 ? "1 entry" : `${entries.length} entries`}` +
          (nr.length > 0 ? `, GA_GUEST_NR GATag ${tags.join(", ")} handed to KVM's avic_ga_log_notifier` : "") +
          (other > 0 ? `, ${other} of another type ignored (no line)` : ""),
      );
    }
    if (overflow && handling !== "none") {
      const say = (limit: Ratelimit, fn: string, line: string) => {
        const r = limit.check(ns, fn);
        if (r.suppressedLine) log.kernel(ns, r.suppressedLine, step);
        if (r.allowed) log.kernel(ns, line, step);
      };
      // v6.4-6.5: amd_iommu_int_thread prints the overflow, then amd_iommu_restart_ga_log (nothing while GALogRun is 1).
      if (handling === "restart-ga") say(this.gaOverflowLimit, "amd_iommu_int_thread", "AMD-Vi: IOMMU GA Log overflow");
      if (this.driver.restartLog("GA")) {
        say(this.gaRestartLimit, handling === "restart-ga" ? "amd_iommu_restart_ga_log" : "amd_iommu_restart_log", handling === "restart-ga" ? "AMD-Vi: IOMMU GA Log restarting" : logOverflowLine("GA", this.kernel));
        parts.push("GA log overflow: the log restarted (GALogEn 0 then 1)");
      } else parts.push("GA log overflow: GALogRun still 1, no restart");
    }
    return parts.join("; ");
  }

  snapshot(prevSnap: HostIommuSnapshot | undefined, share: Share): { snap: HostIommuSnapshot; bytes: number } {
    const prev = prevSnap as AmdHostSnapshot | undefined;
    const unit = this.unit.snapshot();
    // The PASIDs of the guest-format (v2) entries are part of the IOTLB's state (AmdIotlb.guestView).
    unit.iotlb = { slots: share(prev?.unit.iotlb.slots, unit.iotlb.slots, 4), victim: share(prev?.unit.iotlb.victim, unit.iotlb.victim, 1), pasid: share(prev?.unit.iotlb.pasid, unit.iotlb.pasid!, 4) };
    const driver = this.driver.snapshot();
    const bytes = unit.regs.length * 16 + unit.dtc.length * 48 + driver.domains.length * 48 + driver.irt.length * 16;
    const snap: AmdHostSnapshot = { model: "amd-vi", unit, driver, ratelimits: [...this.ratelimits].map(([k, r]) => [k, r.snapshot()]), overflowLimit: this.overflowLimit.snapshot(), gaLimits: [this.gaOverflowLimit.snapshot(), this.gaRestartLimit.snapshot()] };
    return { snap, bytes };
  }

  restore(s: HostIommuSnapshot): void {
    const a = s as AmdHostSnapshot;
    this.unit.restore(a.unit);
    this.driver.restore(a.driver);
    this.ratelimits = new Map(
      a.ratelimits.map(([k, st]) => {
        const r = new Ratelimit();
        r.restore(st as never);
        return [k, r];
      }),
    );
    this.overflowLimit.restore(a.overflowLimit as never);
    this.gaOverflowLimit = new Ratelimit();
    this.gaRestartLimit = new Ratelimit();
    if (a.gaLimits !== undefined) {
      this.gaOverflowLimit.restore(a.gaLimits[0] as never);
      this.gaRestartLimit.restore(a.gaLimits[1] as never);
    }
  }

  /** The register names a poke may write on this model. */
  static readonly registers = AMD_REGISTERS.map((r) => r.name);
}

function hex16(v: bigint): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}
