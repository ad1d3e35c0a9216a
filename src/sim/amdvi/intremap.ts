/**
 * AMD-Vi interrupt remapping (AMD IOMMU spec 48882 §2.2.5 "Interrupt Remapping Tables"): the DTE's
 * interrupt fields (data[2]: IV bit 0, IntTabLen 4:1, IG 5, IntTableRootPtr 51:6, INITPass 56,
 * EIntPass 57, NMIPass 58, IntCtl 61:60, Lint0Pass 62, Lint1Pass 63 - DTE bits 128-191), the
 * interrupt remapping table of 32-bit IRTEs (Control.GAEn = 0) or 128-bit IRTEs (GAEn = 1), an
 * IRTE cache that INVALIDATE_INTERRUPT_TABLE empties per device id, and the unit's answer to an
 * MSI write. The decision order is VirtualBox's DevIommuAmd.cpp iommuAmdLookupIntrTable /
 * iommuAmdReadIrte / iommuAmdRemapIntr (written from the same spec section); QEMU's
 * hw/i386/amd_iommu.c amdvi_int_remap_msi agrees on the IntCtl and pass-through rules.
 *
 * IRTE layouts (Linux drivers/iommu/amd/amd_iommu_types.h union irte, irte_ga_lo, irte_ga_hi):
 *   32-bit: RemapEn 0, SupIOPF 1, IntType 4:2, RqEoi 5, DM 6, GuestMode 7, Destination 15:8,
 *           Vector 23:16.
 *   128-bit: lo RemapEn 0, SupIOPF 1, IntType 4:2, RqEoi 5, DM 6, GuestMode 7, Destination[23:0]
 *           31:8; hi Vector 7:0, Destination[31:24] 63:56.
 *   128-bit with GuestMode = 1 (guest virtual APIC, AVIC: irte_ga_lo.fields_vapic, written by
 *           amd_iommu_activate_guest_mode and amd_iommu_update_ga): lo RemapEn 0, SupIOPF 1,
 *           GALogIntr 2, IsRun 6, GuestMode 7, Destination[23:0] 31:8 (the physical APIC id of the
 *           CPU the vCPU runs on: the doorbell's target), GATag 63:32 (KVM's AVIC_GATAG(vm, vcpu),
 *           what the GA log hands back); hi Vector 7:0, GA Root Ptr 51:12 (the vCPU's vAPIC backing
 *           page >> 12, irte_ga_hi.ga_root_ptr), Destination[31:24] 63:56.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { PhysicalMemory } from "../memory.js";
import { EVENT_FLAG_I, EVENT_FLAG_PR, EVENT_FLAG_RZ, EVENT_TYPE_DEV_TAB_ERR, EVENT_TYPE_ILL_DEV, EVENT_TYPE_INV_DEV_REQ, EVENT_TYPE_IO_FAULT } from "./defs.js";

/** Control register GAEn (amd_iommu_types.h CONTROL_GA_EN 17): 128-bit IRTEs. */
export const CONTROL_GA_EN = 17;
/** INVALIDATE_INTERRUPT_TABLE (CMD_INV_IRT 0x05): data[0] 15:0 the device id (build_inv_irt). */
export const CMD_INV_IRT = 0x05;

/** DTE data[2] fields (bits 128-191 of the entry). */
export const DTE2_IV = 1n;
export const DTE2_INTTABLEN_SHIFT = 1n;
export const DTE2_IG = 1n << 5n;
export const DTE2_IRT_MASK = 0x000f_ffff_ffff_ffc0n; // 51:6
export const DTE2_INIT_PASS = 1n << 56n;
export const DTE2_EINT_PASS = 1n << 57n;
export const DTE2_NMI_PASS = 1n << 58n;
export const DTE2_INTCTL_SHIFT = 60n;
/** Reserved bits of data[2] when IV = 1: 55:52 and 59 (ILLEGAL_DEV_TABLE_ENTRY with RZ). */
export const DTE2_RESERVED = (0xfn << 52n) | (1n << 59n);
/** IntCtl values (IOMMU_INTR_CTRL_*): fixed/arbitrated interrupts target-aborted, forwarded unmapped, remapped; 3 reserved. */
export const INTCTL_ABORT = 0;
export const INTCTL_FORWARD = 1;
export const INTCTL_REMAP = 2;
/** IntTabLen 1100b-1111b are reserved (2^11 = 2048 entries at most: MSI data 10:0 is the index). */
export const INTTABLEN_MAX = 12;

/** INVALID_DEVICE_REQUEST Type 101b: a posted write to the interrupt/EOI range with DTE IntCtl = 00b. */
export const INV_DEV_REQ_TYPE_INTCTL0 = 5;

/** MSI data 10:8: the message type (x86 delivery mode). */
export const MsiType = { Fixed: 0, Arbitrated: 1, Smi: 2, Nmi: 4, Init: 5, ExtInt: 7 } as const;

/** What the unit did with the GA log entry of an interrupt for a vCPU that is not running (AmdViUnit.logGaEntry). */
export const GaLogFate = { Off: 0, Logged: 1, Lost: 2 } as const;

/** How the unit handled an interrupt request. */
export const IntrOutcome = { Remapped: 0, Forwarded: 1, Aborted: 2, Fault: 3, Posted: 4 } as const;

/**
 * The vAPIC backing page's IRR (the APIC register page's layout, APIC_IRR 0x200): vector v is bit
 * v % 32 of the 32-bit register at 0x200 + (v / 32) * 0x10 (KVM lapic.c REG_POS / VEC_POS).
 */
export function vapicIrrBit(vector: number): { offset: number; bit: number } {
  return { offset: 0x200 + (vector >>> 5) * 0x10, bit: vector & 31 };
}

export interface IrteFields {
  remapEn: boolean;
  supIopf: boolean;
  /** Remapped format only (GuestMode = 0): bits 4:2 and 6 mean other things in the vAPIC format. */
  intType: number;
  dm: boolean;
  guestMode: boolean;
  destination: number;
  vector: number;
  /** A 128-bit IRTE with GuestMode = 1: the guest virtual APIC fields (irte_ga_lo.fields_vapic, irte_ga_hi). */
  vapic?: VapicFields;
}

export interface VapicFields {
  /** GALogIntr (lo bit 2): an interrupt for a vCPU not running goes to the GA log. */
  gaLogIntr: boolean;
  /** IsRun (lo bit 6): the vCPU runs now, on the CPU whose APIC id is Destination (a doorbell). */
  isRun: boolean;
  /** GATag (lo 63:32): the tag the GA log entry carries (KVM: AVIC_GATAG(vm_id, vcpu_id)). */
  gaTag: number;
  /** The vAPIC backing page's address (hi 51:12, GA Root Ptr << 12). */
  gaRootPtr: bigint;
}

/** irte_ga_hi.ga_root_ptr: bits 51:12 of the high qword, the backing page's address bits 51:12. */
const VAPIC_ROOT_MASK = 0x000f_ffff_ffff_f000n;

/** The IRTE's words: one (32-bit, as the low qword's low dword) or two qwords (128-bit). */
export function encodeIrte(f: IrteFields, ga: boolean): [bigint, bigint] {
  const flags = (f.remapEn ? 1 : 0) | (f.supIopf ? 2 : 0) | ((f.intType & 7) << 2) | (f.dm ? 0x40 : 0) | (f.guestMode ? 0x80 : 0);
  if (!ga) return [BigInt(((flags | ((f.destination & 0xff) << 8) | ((f.vector & 0xff) << 16)) >>> 0)), 0n];
  const v = f.guestMode ? f.vapic : undefined;
  const low = v === undefined ? flags : (f.remapEn ? 1 : 0) | (f.supIopf ? 2 : 0) | (v.gaLogIntr ? 4 : 0) | (v.isRun ? 0x40 : 0) | 0x80;
  const lo = BigInt(low) | (BigInt(f.destination & 0xffffff) << 8n) | (v === undefined ? 0n : BigInt(v.gaTag >>> 0) << 32n);
  const hi = BigInt(f.vector & 0xff) | (BigInt((f.destination >>> 24) & 0xff) << 56n) | (v === undefined ? 0n : v.gaRootPtr & VAPIC_ROOT_MASK);
  return [lo, hi];
}


export function decodeIrte(lo: bigint, hi: bigint, ga: boolean): IrteFields {
  const l = Number(lo & 0xffffffffn);
  return {
    remapEn: (l & 1) !== 0,
    supIopf: (l & 2) !== 0,
    intType: (l >>> 2) & 7,
    dm: (l & 0x40) !== 0,
    guestMode: (l & 0x80) !== 0,
    destination: ga ? ((l >>> 8) & 0xffffff) + Number((hi >> 56n) & 0xffn) * 0x1000000 : (l >>> 8) & 0xff,
    vector: ga ? Number(hi & 0xffn) : (l >>> 16) & 0xff,
    ...(ga && (l & 0x80) !== 0 ? { vapic: { gaLogIntr: (l & 4) !== 0, isRun: (l & 0x40) !== 0, gaTag: Number(lo >> 32n) >>> 0, gaRootPtr: hi & VAPIC_ROOT_MASK } } : {}),
  };
}

/** What the unit needs of its owner to answer an interrupt: registers, memory, the event log. */
export interface IntrHost {
  readonly mem: PhysicalMemory;
  readonly devTableBase: number;
  readonly devTableBytes: number;
  readonly translationEnabled: boolean;
  readonly gaEnabled: boolean;
  /** Writes a GA log entry (GA_GUEST_NR with the IRTE's GATag); returns its GaLogFate. */
  logGaEntry(devid: number, gaTag: number): number;
  /** Where the last logged GA log entry was written (HPA). */
  readonly gaEntryAt: number;
  /** Logs an event (suppressed: counted, not written); returns the fate (AmdFate). */
  logIntrEvent(devid: number, code: number, did: number, flags: number, addrHi: number, addrLo: number, suppress: boolean): number;
}

/**
 * The interrupt side of one unit. remap() is called per MSI write, so its answer is in fields;
 * the IRTE cache is keyed by device id and index and emptied by INVALIDATE_INTERRUPT_TABLE.
 */
export class AmdIntRemap {
  private cache = new Map<number, Map<number, [bigint, bigint]>>();

  // ---- the last answer
  outcome = 0;
  code = 0;
  flags = 0;
  fate = 0;
  did = 0;
  index = -1;
  cached = false;
  /** Remapped (or forwarded) MSI. */
  vector = 0;
  destination = 0;
  intType = 0;
  dm = false;
  /** Why, for the summary: the rule that decided. */
  why = "";
  /** A posted interrupt for a vCPU not running with GALogIntr = 1: what became of its GA log entry (GaLogFate; Off otherwise). */
  gaLog = 0;
  /** That entry's GATag. */
  gaTag = 0;
  /** A posted interrupt notified someone: the doorbell rang (IsRun = 1) or its GA log entry was written. */
  notified = false;
  /** A posted interrupt: the HPA it wrote last - its GA log entry when one was logged, else the vAPIC backing page (0 otherwise). */
  postedTo = 0;
  irteAddress = 0;

  constructor(private readonly u: IntrHost) {}

  invalidate(devid: number): void {
    this.cache.delete(devid);
  }

  invalidateAll(): void {
    this.cache.clear();
  }

  /** An MSI write of `data` to `address` (0xFEExxxxx) from `devid`. `probe`: no event, no cache fill. */
  remap(devid: number, address: number, data: number, probe = false): number {
    this.code = 0;
    this.flags = EVENT_FLAG_I;
    this.fate = 0;
    this.did = 0;
    this.index = -1;
    this.cached = false;
    this.irteAddress = 0;
    this.gaLog = GaLogFate.Off;
    this.gaTag = 0;
    this.notified = false;
    this.postedTo = 0;
    this.vector = data & 0xff;
    this.destination = (address >>> 12) & 0xff;
    this.intType = (data >>> 8) & 7;
    this.dm = (address & 4) !== 0;
    const u = this.u;
    if (!u.translationEnabled) return this.forward("the IOMMU is disabled (Control.IommuEn = 0): interrupts pass unmapped");
    const at = u.devTableBase + devid * 32;
    const mem = u.mem;
    if (devid * 32 >= u.devTableBytes || !mem.read64(at)) return this.fault(devid, EVENT_TYPE_DEV_TAB_ERR, address, false, "the device table entry is not readable", probe);
    const q1 = mem.readU64(at + 8) ?? 0n;
    const q2 = mem.readU64(at + 16) ?? 0n;
    this.did = Number(q1 & 0xffffn);
    const suppressAll = ((q1 >> 34n) & 1n) === 1n; // DTE SA (bit 98)
    if ((q2 & DTE2_IV) === 0n) return this.forward("DTE IV = 0: the device's interrupts are not remapped");
    if ((q2 & DTE2_RESERVED) !== 0n) {
      this.flags |= EVENT_FLAG_RZ;
      return this.fault(devid, EVENT_TYPE_ILL_DEV, address, false, "reserved bits set in the DTE's interrupt fields", probe);
    }
    switch (this.intType) {
      case MsiType.Fixed:
      case MsiType.Arbitrated:
        break;
      case MsiType.Smi:
        return this.forward("an SMI passes unmapped (no SMI filter)");
      case MsiType.Nmi:
        return (q2 & DTE2_NMI_PASS) !== 0n ? this.forward("an NMI with DTE NMIPass = 1") : this.abort("an NMI with DTE NMIPass = 0 is target-aborted");
      case MsiType.Init:
        return (q2 & DTE2_INIT_PASS) !== 0n ? this.forward("an INIT with DTE INITPass = 1") : this.abort("an INIT with DTE INITPass = 0 is target-aborted");
      case MsiType.ExtInt:
        return (q2 & DTE2_EINT_PASS) !== 0n ? this.forward("an ExtInt with DTE EIntPass = 1") : this.abort("an ExtInt with DTE EIntPass = 0 is target-aborted");
      default:
        return this.abort(`MSI data type ${this.intType} is reserved: target-aborted`);
    }
    const intCtl = Number((q2 >> DTE2_INTCTL_SHIFT) & 3n);
    if (intCtl === INTCTL_ABORT) {
      // A posted write to the interrupt range with IntCtl = 00b: INVALID_DEVICE_REQUEST, Type 101b
      // (event[1] 27:25; Linux's flags 0x0a00, as in pcengines/apu2-documentation#240 and the
      // spec text quoted in sharpjs/home linux/pc/journal.md). VirtualBox only target-aborts.
      this.flags = INV_DEV_REQ_TYPE_INTCTL0 << 9;
      return this.fault(devid, EVENT_TYPE_INV_DEV_REQ, address, false, "DTE IntCtl = 0: fixed and arbitrated interrupts are target-aborted (INVALID_DEVICE_REQUEST)", probe);
    }
    if (intCtl === INTCTL_FORWARD) return this.forward("DTE IntCtl = 1: forwarded unmapped");
    if (intCtl !== INTCTL_REMAP) {
      this.flags |= EVENT_FLAG_RZ;
      return this.fault(devid, EVENT_TYPE_ILL_DEV, address, false, "DTE IntCtl = 3 is reserved", probe);
    }
    const tabLen = Number((q2 >> DTE2_INTTABLEN_SHIFT) & 0xfn);
    if (tabLen >= INTTABLEN_MAX) return this.fault(devid, EVENT_TYPE_ILL_DEV, address, false, `DTE IntTabLen ${tabLen} is reserved (at most 11: 2048 entries)`, probe);
    const index = data & 0x7ff;
    this.index = index;
    const ga = u.gaEnabled;
    const size = ga ? 16 : 4;
    const root = Number(q2 & DTE2_IRT_MASK);
    this.irteAddress = root + index * size;
    if (index >= 2 ** tabLen) return this.fault(devid, EVENT_TYPE_IO_FAULT, address, suppressAll, `index ${index} is past the table's ${2 ** tabLen} entries (IntTabLen ${tabLen})`, probe);
    let words = this.cache.get(devid)?.get(index);
    if (words !== undefined) this.cached = true;
    else {
      if (!mem.read64(this.irteAddress - (ga ? 0 : this.irteAddress % 8))) return this.fault(devid, EVENT_TYPE_IO_FAULT, address, suppressAll, "the IRTE is not readable", probe);
      const lo = ga ? (mem.readU64(this.irteAddress) ?? 0n) : BigInt(this.irteAddress % 8 === 0 ? mem.lo >>> 0 : mem.hi >>> 0);
      const hi = ga ? (mem.readU64(this.irteAddress + 8) ?? 0n) : 0n;
      words = [lo, hi];
      if (!probe) {
        let m = this.cache.get(devid);
        if (m === undefined) this.cache.set(devid, (m = new Map<number, [bigint, bigint]>()));
        m.set(index, words);
      }
    }
    const irte = decodeIrte(words[0], words[1], ga);
    const sup = suppressAll || irte.supIopf;
    if (!irte.remapEn) return this.fault(devid, EVENT_TYPE_IO_FAULT, address, sup, `IRTE ${index} has RemapEn = 0`, probe);
    const v = irte.vapic;
    if (v !== undefined) {
      // Guest virtual APIC (AVIC; Linux amd_iommu_activate_guest_mode, KVM avic.c): the IOMMU sets the
      // vector's bit in the vAPIC backing page's IRR, then rings the doorbell of the CPU whose APIC
      // id is Destination when IsRun = 1; when the vCPU is not running, GALogIntr = 1 asks for a GA
      // log entry (GATag, device id: AmdViUnit.logGaEntry) that Linux's iommu_poll_ga_log hands to
      // KVM's avic_ga_log_notifier to wake the vCPU; GALogIntr = 0, nothing (the vector waits in
      // the IRR for the vCPU's next run).
      this.vector = irte.vector;
      this.destination = irte.destination;
      this.index = index;
      const irr = vapicIrrBit(irte.vector);
      const at = Number(v.gaRootPtr) + irr.offset;
      const q = at - (at % 8);
      if (!probe && mem.read64(q)) {
        const upper = at % 8 >= 4;
        const set = ((upper ? mem.hi : mem.lo) | (1 << irr.bit)) >>> 0;
        mem.write64(q, upper ? mem.lo : set, upper ? set : mem.hi);
      }
      this.outcome = IntrOutcome.Posted;
      const tag = `0x${v.gaTag.toString(16)}`;
      let then: string;
      if (v.isRun) then = `doorbell to APIC ${irte.destination} (IsRun = 1)`;
      else if (!v.gaLogIntr) then = "the vCPU is not running and GALogIntr = 0: no notification";
      else {
        this.gaTag = v.gaTag;
        this.gaLog = probe ? GaLogFate.Off : u.logGaEntry(devid, v.gaTag);
        then =
          probe ? `the vCPU is not running: a GA log entry with GATag ${tag}`
          : this.gaLog === GaLogFate.Logged ? `the vCPU is not running: GA log entry GA_GUEST_NR with GATag ${tag} written, GAInt set`
          : this.gaLog === GaLogFate.Lost ? `the vCPU is not running: the GA log entry with GATag ${tag} is lost (GA log overflow: GALogOverflow set, the log stopped)`
          : `the vCPU is not running: no GA log (Control.GALogEn = 0), GATag ${tag} is not reported`;
      }
      this.notified = v.isRun || this.gaLog === GaLogFate.Logged;
      this.postedTo = this.gaLog === GaLogFate.Logged ? u.gaEntryAt : Number(v.gaRootPtr);
      this.why = `IRTE ${index} (GuestMode = 1) posted vector 0x${irte.vector.toString(16)} into the IRR of the vAPIC backing page at 0x${v.gaRootPtr.toString(16)}; ${then}`;
      return 0;
    }
    if (irte.guestMode) {
      this.flags |= EVENT_FLAG_PR | EVENT_FLAG_RZ;
      return this.fault(devid, EVENT_TYPE_IO_FAULT, address, sup, `IRTE ${index} has GuestMode = 1 in a 32-bit IRTE (guest virtual APIC needs GAEn)`, probe);
    }
    if (irte.intType > MsiType.Arbitrated) {
      this.flags |= EVENT_FLAG_PR | EVENT_FLAG_RZ;
      return this.fault(devid, EVENT_TYPE_IO_FAULT, address, sup, `IRTE ${index} has the reserved IntType ${irte.intType}`, probe);
    }
    this.outcome = IntrOutcome.Remapped;
    this.vector = irte.vector;
    this.destination = irte.destination;
    this.intType = irte.intType;
    this.dm = irte.dm;
    this.why = `IRTE ${index}`;
    return 0;
  }

  private forward(why: string): number {
    this.outcome = IntrOutcome.Forwarded;
    this.why = why;
    return 0;
  }

  private abort(why: string): number {
    this.outcome = IntrOutcome.Aborted;
    this.why = why;
    return 0;
  }

  /**
   * An event for the interrupt (iommuAmdInitIoPageFaultEvent: I = 1 for an interrupt request, RW
   * = 0, PR = the IRTE's RemapEn where one was read, DomainID from the DTE; address = the MSI's).
   */
  private fault(devid: number, code: number, address: number, suppress: boolean, why: string, probe: boolean): number {
    this.outcome = IntrOutcome.Fault;
    this.code = code;
    this.why = why;
    if (!probe) this.fate = this.u.logIntrEvent(devid, code, code === EVENT_TYPE_IO_FAULT ? this.did : 0, this.flags, 0, address >>> 0, suppress);
    return code;
  }

  snapshot(): [number, [number, [bigint, bigint]][]][] {
    return [...this.cache].map(([d, m]) => [d, [...m].map(([i, w]) => [i, [w[0], w[1]]])]);
  }

  restore(s: [number, [number, [bigint, bigint]][]][] | undefined): void {
    this.cache = new Map((s ?? []).map(([d, m]) => [d, new Map(m.map(([i, w]) => [i, [w[0], w[1]]]))]));
  }

  /** Cached IRTEs (device id, index, words), for views and tests. */
  cachedEntries(): { devid: number; index: number; words: [bigint, bigint] }[] {
    const out: { devid: number; index: number; words: [bigint, bigint] }[] = [];
    for (const [devid, m] of this.cache) for (const [index, words] of m) out.push({ devid, index, words });
    return out.sort((a, b) => a.devid - b.devid || a.index - b.index);
  }
}
