/**
 * Intel VT-d (legacy mode) behind the machine's HostIommu seam (sim/host-iommu.ts): the DMAR unit
 * and Linux's intel-iommu driver, as the machine and the VMM drive them.
 */
import type { IommuSpec, PciDeviceSpec } from "../../scenario/types.js";
import type { HostDomain, HostIommu, HostIommuSnapshot, RegisterPoke, Share } from "../host-iommu.js";
import { UnitHost } from "../unitHost.js";
import type { IommuUnit } from "../iommu.js";
import type { KernelLog } from "../klog.js";
import type { PhysicalMemory } from "../memory.js";
import { EventKind, type Trace } from "../../trace/trace.js";
import { IntelIommuDriver, type DmarDomain, type DriverSnapshot } from "./driver.js";
import { vtdUnit } from "./model.js";
import { DMAR_FSTS_REG, DMAR_GCMD_REG, DMAR_GSTS_REG, DMAR_RTADDR_REG, FSTS_PFO, FSTS_PPF, GCMD_IRE, GCMD_QIE, GCMD_SRTP, GCMD_TE } from "./regs.js";
import { DmarUnit, type DmarUnitSnapshot } from "./unit.js";
import { GCMD_CFI, IrqRemapDriver } from "./intremap.js";
import { pokeIqa, pokePectl } from "./iqa.js";
import { renderQiError } from "./dmesg.js";

/** MMIO base of the DMAR register block of a one-unit host (QEMU's intel-iommu at 0xfed90000; iommu-reference §9). */
const DMAR_REG_BASE = 0xfed90000n;

export interface VtdHostSnapshot extends HostIommuSnapshot {
  readonly model: "intel-vtd";
  unit: DmarUnitSnapshot;
  driver: DriverSnapshot;
}

export class VtdHost extends UnitHost<DmarUnitSnapshot> implements HostIommu {
  readonly unit: DmarUnit;
  readonly driver: IntelIommuDriver;
  readonly iommu: IommuUnit;
  /** The host's IRQ-remapping driver (intremap.ts): enabled at boot with host.iommu.intremap. */
  readonly irq: IrqRemapDriver;
  /** MMIO base of the unit's register block (the DRHD's Register Base Address). */
  readonly registerBase: bigint;

  /** SRAM the unit's caches take in the machine's memory (PhysicalMemory sramBytes). */
  static sramBytes(spec: IommuSpec): number {
    return DmarUnit.sramBytes(spec);
  }

  /** `name`: the unit's name on a host of several DRHDs ("dmar1"; sim/multiHost.ts). */
  constructor(mem: PhysicalMemory, spec: IommuSpec, pci: readonly PciDeviceSpec[] = [], name = "dmar0", kernel?: string) {
    super();
    this.unit = new DmarUnit(mem, spec, name);
    this.registerBase = spec.registerBase ?? DMAR_REG_BASE;
    this.driver = new IntelIommuDriver(this.unit, mem);
    if (kernel !== undefined) this.driver.kernel = kernel;
    // ATS endpoints (host.iommu.ats; ECAP.DT): context entries with T = 01b and Device-TLB invalidations on unmap.
    if (spec.deviceTlb) {
      for (const a of spec.ats ?? []) {
        const d = pci.find((p) => p.key === a.device);
        if (d !== undefined) this.driver.atsRids.set((d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn, a.invalidate !== false);
        if (d !== undefined && (!a.responds || a.present === false)) this.unit.silentSids.add((d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn);
        // A surprise-removed endpoint: silent, and not present for Linux (qi_check_fault's check since v6.9).
        if (d !== undefined && a.present === false) this.driver.absentRids.add((d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn);
      }
    }
    // PRI devices (host.iommu.pri, scalable mode): the driver sets PRE in their context entries.
    this.driver.priRid = (key) => {
      const d = pci.find((p) => p.key === key);
      return d === undefined ? undefined : (d.bdf.bus << 8) | (d.bdf.device << 3) | d.bdf.fn;
    };
    this.iommu = vtdUnit(this.unit, this.driver, mem);
    this.irq = new IrqRemapDriver(this.unit, mem, this.driver);
  }

  init(): void {
    this.driver.init();
  }

  allocDomain(passThrough: boolean): HostDomain {
    return this.driver.allocDomain(passThrough);
  }

  freeDomain(d: HostDomain): void {
    this.driver.freeDomain(d as DmarDomain);
  }

  allocDirtyDomain(): HostDomain | string {
    return this.driver.allocDirtyDomain();
  }

  setDirtyTracking(d: HostDomain, enable: boolean): string | undefined {
    return this.driver.setDirtyTracking(d as DmarDomain, enable);
  }

  readAndClearDirty(d: HostDomain, iova: bigint, length: bigint): bigint[] | string {
    return this.driver.readAndClearDirty(d as DmarDomain, iova, length);
  }

  attach(d: HostDomain, rids: number[]): void {
    this.driver.attach(d as DmarDomain, rids);
  }

  domain(did: number): HostDomain | undefined {
    return this.driver.domains.get(did);
  }

  map(d: HostDomain, iova: bigint, hpa: bigint, size: bigint, prot: number): void {
    this.driver.map(d as DmarDomain, iova, hpa, size, prot);
  }

  unmap(d: HostDomain, iova: bigint, size: bigint): bigint {
    return this.driver.unmap(d as DmarDomain, iova, size);
  }

  shareTable(d: HostDomain, from: HostIommu, owner: HostDomain): boolean {
    return from instanceof VtdHost && this.driver.shareTable(d as DmarDomain, owner as DmarDomain);
  }

  flushShared(d: HostDomain, from: HostIommu): void {
    const f = (from as VtdHost).driver.lastFlush;
    if (f !== undefined) this.driver.flushShared(d as DmarDomain, f);
  }

  domainWidth(d: HostDomain): number {
    return this.driver.domainWidth(d as DmarDomain);
  }

  endBoot(): void {
    this.driver.takeIssued();
    this.unit.takeQueueLog();
  }

  /**
   * A poke of RTADDR: the register write, then GCMD with SRTP set (and the enables kept), as
   * Linux's iommu_set_root_entry() does - but without its context-cache and IOTLB flushes, so
   * cached translations still come from the old tables until something invalidates them. The unit
   * keeps QEMU's write mask (RTADDR bits 9:0 read as zero). The trace event's address is RTADDR's
   * MMIO address in the unit's register block (registerBase).
   */
  pokeRegister(name: string, value: (old: bigint) => bigint): RegisterPoke | string {
    if (name === "IQA") return pokeIqa(this.unit, value, this.registerBase);
    if (name === "PECTL") return pokePectl(this.unit, value, this.registerBase);
    if (name !== "RTADDR") return `register ${name} is not a VT-d register a poke can write (RTADDR, IQA, PECTL)`;
    const u = this.unit;
    const old = u.readReg64(DMAR_RTADDR_REG);
    u.writeReg64(DMAR_RTADDR_REG, value(old));
    const keep = u.readReg32(DMAR_GSTS_REG) & (GCMD_TE | GCMD_QIE | GCMD_IRE | GCMD_CFI);
    u.writeReg32(DMAR_GCMD_REG, (keep | GCMD_SRTP) >>> 0);
    const now = u.readReg64(DMAR_RTADDR_REG);
    return { old, now, address: this.registerBase + BigInt(DMAR_RTADDR_REG), summary: `wrote ${hex16(now)} to RTADDR (was ${hex16(old)}) and set GCMD.SRTP; no invalidation issued` };
  }

  recordInvalidations(trace: Trace, step: number): void {
    for (const d of this.unit.takeQueueLog()) {
      if ((d.lo & 0xfn) === 0x5n) continue; // invalidation-wait: bookkeeping, not an invalidation
      trace.pushBig(EventKind.Invalidate, step, 0, Number((d.lo >> 16n) & 0xffffn), 0, 0, 0, d.lo, d.hi);
    }
    for (const d of this.driver.takeIssued()) {
      if (!this.unit.spec.queuedInvalidation) trace.pushBig(EventKind.Invalidate, step, 0, 0, 0, 0, 0, d.lo, d.hi);
    }
  }

  /** dmar_fault() prints the records when the fault event is pending. */
  serviceFaults(log: KernelLog, ns: bigint, step: number): void {
    // Invalidation time-outs the driver met in this step (driver.ts invalidationTimeout): qi_check_fault's lines.
    for (const e of this.driver.takeIteErrors()) for (const l of renderQiError(e, log.kernelVersion)) log.kernel(ns, l, step);
    if (!this.unit.faultEventPending && !(this.unit.readReg32(DMAR_FSTS_REG) & (FSTS_PFO | FSTS_PPF))) return;
    const { fsts, records } = this.driver.serviceFaults();
    log.dmarFault(ns, fsts, records, step);
  }

  snapshot(prevSnap: HostIommuSnapshot | undefined, share: Share): { snap: HostIommuSnapshot; bytes: number } {
    const prev = prevSnap as VtdHostSnapshot | undefined;
    const unit = this.unit.snapshot();
    unit.regs = share(prev?.unit.regs, unit.regs, 4);
    unit.iotlb = { slots: share(prev?.unit.iotlb.slots, unit.iotlb.slots, 4), victim: share(prev?.unit.iotlb.victim, unit.iotlb.victim, 1) };
    const driver = this.driver.snapshot();
    const bytes = (driver.domains.length + driver.freePages.length + driver.contextTables.length) * 8 + unit.cc.length * 64 + unit.queueLog.length * 16;
    const snap: VtdHostSnapshot = { model: "intel-vtd", unit, driver };
    return { snap, bytes };
  }

  restore(s: HostIommuSnapshot): void {
    const v = s as VtdHostSnapshot;
    this.unit.restore(v.unit);
    this.driver.restore(v.driver);
  }
}

function hex16(v: bigint): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}
