/**
 * VT-d interrupt remapping (VT-d spec chapter 5 and 9.10): the interrupt-remapping table at IRTA,
 * 128-bit IRTEs in simulated memory (remapped and posted formats), MSI requests in remappable and
 * compatibility format, source-id verification, the interrupt entry cache and the
 * interrupt-remapping fault reasons 0x20-0x26 (reasons.ts).
 *
 * The order of the checks is QEMU's vtd_interrupt_remap_msi() / vtd_irte_get()
 * (hw/i386/intel_iommu.c @0192d667): index beyond the table (0x21), table not readable (0x23),
 * P = 0 (0x22), reserved bits (0x24), source-id (0x26); then the request's own reserved bits
 * (data[31:16] with SHV, 0x20). Where QEMU stops short of the spec it is said at the rule:
 * compatibility-format requests are blocked (0x25) unless GSTS.CFIS (VT-d 5.1.4; QEMU passes them
 * through), SVT = 10 reads SID[15:8] as the start bus and SID[7:0] as the end bus (VT-d 9.10;
 * QEMU's vtd_irte_get names them bus_max and bus_min).
 *
 * The translate path (InterruptRemapper.remap) allocates nothing: IRTEs are read as 32-bit words
 * through PhysicalMemory.read64, results land in fields. Decoding for the views (irteFields) is
 * the inspection path and uses bigints.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { DecodedField, InterruptEntryView, InterruptRemapView, PostedDescriptorView } from "../iommu.js";
import type { PhysicalMemory } from "../memory.js";
import { formatSid } from "../bdf.js";
import { DMAR_GCMD_REG, DMAR_GSTS_REG, GCMD_IRE, GCMD_QIE, GCMD_SIRTP, GCMD_TE } from "./regs.js";
import { pidFields, pirVectors, postInterrupt, PostResult, readPid, ndstApicId } from "./posted.js";
import { VTD_FR_IR_ENTRY_P, VTD_FR_IR_INDEX_OVER, VTD_FR_IR_IRTE_RSVD, VTD_FR_IR_REQ_COMPAT, VTD_FR_IR_REQ_RSVD, VTD_FR_IR_ROOT_INVAL, VTD_FR_IR_SID_ERR } from "./reasons.js";

/** IRTA_REG (VT-d 11.4.8.1; Linux DMAR_IRTA_REG 0xb8). */
export const DMAR_IRTA_REG = 0x0b8;
/** IRTA.EIME (bit 11): x2APIC mode, 32-bit destination ids. */
export const IRTA_EIME = 1n << 11n;
/** Linux INTR_REMAP_TABLE_REG_SIZE (drivers/iommu/intel/irq_remapping.c): S = 0xf, 2^(S+1) = 65536 entries. */
export const INTR_REMAP_TABLE_REG_SIZE = 0xf;
/** GCMD.CFI / GSTS.CFIS (bit 23): compatibility-format interrupts pass through unremapped. */
export const GCMD_CFI = 1 << 23;

/** IRTE.SVT (VT-d 9.10): source validation type. */
export const SVT_NONE = 0;
export const SVT_ALL = 1;
export const SVT_BUS = 2;
/** QEMU vtd_svt_mask[]: SQ 0-3 mask out 0, 1, 2 or 3 low function bits of the requester id. */
const SVT_MASK = [0xffff, 0xfffb, 0xfff9, 0xfff8] as const;

/**
 * Reserved bits of a remapped-format IRTE (IM = 0): low dword 14:12 and 31:24, high qword 127:84
 * (QEMU VTD_IR_TableEntry __reserved_0/1/2). Posted format (IM = 1, VT-d 9.11): 7:2, 13:12, 37:24
 * and 95:84. As words: [lo32, hi32 of qword 0, lo32, hi32 of qword 1].
 */
const RSVD_REMAPPED = [0xff007000, 0, 0xfff00000, 0xffffffff] as const;
const RSVD_POSTED = [0x000030fc, 0x0000003f, 0xfff00000, 0] as const;

/** Interrupt entry cache slots (a small, fully associative cache; replacement round robin). */
const IEC_SLOTS = 64;

/** The format of an MSI request address (VT-d 5.1.2.1 / 5.1.2.2). */
export const enum MsiFormat {
  Compatibility = 0,
  Remappable = 1,
}

/** The 32-bit MSI address of a remappable-format request: 0xFEE, handle[14:0] in 19:5, bit 4 = 1, SHV in bit 3, handle[15] in bit 2. */
export function remappableMsiAddress(handle: number, shv: boolean): number {
  return (0xfee00000 | ((handle & 0x7fff) << 5) | (1 << 4) | (shv ? 1 << 3 : 0) | (((handle >> 15) & 1) << 2)) >>> 0;
}

/** A compatibility-format MSI address (bit 4 = 0): the APIC destination in bits 19:12. */
export function compatMsiAddress(destination: number): number {
  return (0xfee00000 | ((destination & 0xff) << 12)) >>> 0;
}

/** The fields of an IRTE a host driver writes (Linux struct irte, include/linux/dmar.h). */
export interface IrteSpec {
  present: boolean;
  fpd?: boolean;
  /** Remapped format. */
  destMode?: number;
  redirHint?: number;
  triggerMode?: number;
  deliveryMode?: number;
  avail?: number;
  vector: number;
  /** Destination id: xAPIC mode puts the 8-bit APIC id in bits 47:40 (dest << 8 in the DST field). */
  destination?: number;
  /** Posted format (IM = 1): posted-descriptor address (64-byte aligned) and URG. */
  posted?: { pda: bigint; urgent?: boolean };
  sid: number;
  sq?: number;
  svt?: number;
}

/**
 * The IRTE as stored, [low qword, high qword] - Linux's irte layout: remapped format
 * (modify_irte after prepare_irte: P, DM, RH, TM, DLM, vector, DST, SID/SQ/SVT) or posted format
 * (intel_ir_set_vcpu_affinity: IM = 1, vector, PDA low in 63:38, PDA high in 127:96, URG).
 */
export function encodeIrte(s: IrteSpec, eim: boolean): [bigint, bigint] {
  let lo = (s.present ? 1n : 0n) | (s.fpd ? 2n : 0n) | (BigInt((s.avail ?? 0) & 0xf) << 8n) | (BigInt(s.vector & 0xff) << 16n);
  let hi = BigInt(s.sid & 0xffff) | (BigInt((s.sq ?? 0) & 3) << 16n) | (BigInt((s.svt ?? SVT_ALL) & 3) << 18n);
  if (s.posted) {
    lo |= 1n << 15n; // IM
    if (s.posted.urgent) lo |= 1n << 14n;
    lo |= ((s.posted.pda >> 6n) & 0x3ffffffn) << 38n;
    hi |= ((s.posted.pda >> 32n) & 0xffffffffn) << 32n;
  } else {
    lo |= (BigInt((s.destMode ?? 0) & 1) << 2n) | (BigInt((s.redirHint ?? 0) & 1) << 3n) | (BigInt((s.triggerMode ?? 0) & 1) << 4n) | (BigInt((s.deliveryMode ?? 0) & 7) << 5n);
    // IRTE_DEST(dest): x2APIC: the 32-bit id; xAPIC: (dest & 0xff) << 8 (Linux irq_remapping.c).
    const dest = eim ? BigInt((s.destination ?? 0) >>> 0) : BigInt(((s.destination ?? 0) & 0xff) << 8);
    lo |= dest << 32n;
  }
  return [lo, hi];
}

const DLM_NAMES = ["fixed", "lowest priority", "SMI", "reserved", "NMI", "INIT", "reserved", "ExtINT"] as const;
const SVT_NAMES = ["no verification", "verify requester id (SID, SQ mask)", "verify bus in [SID 15:8, SID 7:0]", "reserved"] as const;

/** The IRTE's fields, low bits first, in the spec's names (VT-d 9.10 remapped, 9.11 posted). */
export function irteFields(lo: bigint, hi: bigint, eim: boolean): DecodedField[] {
  const out: DecodedField[] = [];
  const f = (name: string, hiBit: number, loBit: number, meaning?: (raw: bigint) => string | undefined, hex = false) => {
    const word = hiBit >= 64 ? hi : lo;
    const shift = BigInt(loBit >= 64 ? loBit - 64 : loBit);
    const raw = (word >> shift) & ((1n << BigInt(hiBit - loBit + 1)) - 1n);
    const m = meaning?.(raw);
    out.push({ name, hi: hiBit, lo: loBit, raw, value: hex ? `0x${raw.toString(16)}` : raw.toString(), ...(m ? { meaning: m } : {}) });
  };
  const posted = ((lo >> 15n) & 1n) === 1n;
  f("P", 0, 0, (r) => (r ? "present" : "not present"));
  f("FPD", 1, 1, (r) => (r ? "fault processing disabled" : undefined));
  if (posted) {
    f("AVAIL", 11, 8);
    f("URG", 14, 14, (r) => (r ? "urgent" : undefined));
    f("IM", 15, 15, () => "posted format");
    f("Vector", 23, 16, undefined, true);
    const pda = (((hi >> 32n) & 0xffffffffn) << 32n) | (((lo >> 38n) & 0x3ffffffn) << 6n);
    out.push({ name: "PDA", hi: 127, lo: 38, raw: pda, value: `0x${pda.toString(16)}`, meaning: "posted-interrupt descriptor (PDA low 63:38, high 127:96)" });
  } else {
    f("DM", 2, 2, (r) => (r ? "logical" : "physical"));
    f("RH", 3, 3);
    f("TM", 4, 4, (r) => (r ? "level" : "edge"));
    f("DLM", 7, 5, (r) => DLM_NAMES[Number(r)]);
    f("AVAIL", 11, 8);
    f("IM", 15, 15, () => "remapped format");
    f("Vector", 23, 16, undefined, true);
    if (eim) f("DST", 63, 32, (r) => `x2APIC id ${r}`, true);
    else f("DST", 63, 32, (r) => `xAPIC id ${(r >> 8n) & 0xffn} (bits 47:40)`, true);
  }
  f("SID", 79, 64, (r) => formatSid(Number(r)), true);
  f("SQ", 81, 80, (r) => (r === 0n ? "compare all 16 bits" : `ignore function bits ${["", "2", "2:1", "2:0"][Number(r)]}`));
  f("SVT", 83, 82, (r) => SVT_NAMES[Number(r)]);
  return out;
}

/**
 * Set reserved bits of an IRTE as [lo qword, hi qword] (the decoder's view of the check remap() does).
 * `pi`: CAP.PI; without it IM (bit 15) is reserved (VT-d 9.10: "treated as reserved(0) by hardware
 * implementations not supporting Posted Interrupts") and the entry is checked as remapped format.
 */
export function irteReservedBits(lo: bigint, hi: bigint, pi = true): [bigint, bigint] {
  const im = ((lo >> 15n) & 1n) === 1n;
  const m = im && pi ? RSVD_POSTED : RSVD_REMAPPED;
  const mlo = (BigInt(m[1]) << 32n) | BigInt(m[0]) | (im && !pi ? 1n << 15n : 0n);
  const mhi = (BigInt(m[3]) << 32n) | BigInt(m[2]);
  return [lo & mlo, hi & mhi];
}

/** The interrupt-remapping unit of a DMAR unit: IRTA state, the entry cache and the last remap's results. */
export class InterruptRemapper {
  /** IRT base latched by the last SIRTP, its entry count (2^(S+1)) and EIME. */
  table = 0;
  entries = 0;
  eime = false;
  /** CAP.PI (bit 59): posted-format IRTEs are understood; without it IM is a reserved bit (fault 0x24). */
  pi = true;

  // ---- results of the last remap() (valid when it returned 0 or a fault after the index was known)
  index = 0;
  format: MsiFormat = MsiFormat.Remappable;
  vector = 0;
  destination = 0;
  posted = false;
  /** Posted format: the descriptor address as uint32 halves. */
  pdaHi = 0;
  pdaLo = 0;
  /** Posted format: the IRTE's URG. */
  urgent = false;
  /** Posted format, delivered (not a probe): what posting did to the descriptor (posted.ts). */
  readonly post = new PostResult();
  /** The last remap() posted (not a probe); `post.ok` says whether the descriptor was memory. */
  postAttempted = false;
  /** The IRTE read (or cached): words lo32, hi32 of qword 0, lo32, hi32 of qword 1; valid when `read`. */
  readonly irte = new Uint32Array(4);
  read = false;
  /** The IRTE's FPD (qualified faults are not recorded). */
  fpd = false;
  /** The IRTE came from the interrupt entry cache. */
  cached = false;
  /** The IRTE address of the last remap (also when it could not be read). */
  address = 0;

  // ---- interrupt entry cache: index -> slot, slots of 4 words
  private readonly iecIndex = new Int32Array(IEC_SLOTS).fill(-1);
  private readonly iecWords = new Uint32Array(IEC_SLOTS * 4);
  private iecNext = 0;

  constructor(private readonly mem: PhysicalMemory) {}

  /** GCMD.SIRTP: latch IRTA (VT-d 11.4.8.1: IRTA [63:12], EIME bit 11, S [3:0]); the IEC is not flushed by this. */
  setTable(irta: bigint): void {
    this.table = Number(irta & 0xffffffffff000n);
    this.entries = 2 ** (Number(irta & 0xfn) + 1);
    this.eime = (irta & IRTA_EIME) !== 0n;
  }

  /**
   * One interrupt request: `address` the 32-bit MSI address (0xFEEx_xxxx), `data` the MSI data, from
   * requester `sid`. Returns 0 (remapped, passed through, or posted; fields set) or the fault reason.
   * `cfis`: GSTS.CFIS. `probe`: no cache fill (explain).
   */
  remap(sid: number, address: number, data: number, cfis: boolean, probe: boolean, bypassCache: boolean): number {
    this.read = false;
    this.cached = false;
    this.fpd = false;
    this.posted = false;
    this.post.ok = false;
    this.postAttempted = false;
    this.index = 0;
    if (((address >>> 4) & 1) === 0) {
      // Compatibility format (VT-d 5.1.2.1): blocked unless GSTS.CFIS (VT-d 5.1.4, fault 0x25).
      this.format = MsiFormat.Compatibility;
      this.vector = data & 0xff;
      this.destination = (address >>> 12) & 0xff;
      // The fault record's FI for a compatibility-format request is undefined (VT-d spec 10.4.14,
      // Fault Recording Registers: FI holds the interrupt_index of remappable requests only); units
      // report the address's bits 19:4 there - the destination ID times 0x100 - as public logs show:
      // "[0xc9:0x05.0] fault index 0xa00 [fault reason 0x25]" (linux-pci, Feb 2022, "PCI: vmd:
      // Check EIME mode before MSI remapping"), "[09:00.0] fault index 0x8080" (iommu list, the
      // revert of 9cd4f1434479f; bit 11 is the x2APIC extended destination id), "[f0:1f.0] fault
      // index 0x0" (an HPET MSI to APIC 0).
      this.index = (address >>> 4) & 0xffff;
      return cfis ? 0 : VTD_FR_IR_REQ_COMPAT;
    }
    this.format = MsiFormat.Remappable;
    const shv = ((address >>> 3) & 1) === 1;
    let index = (((address >>> 2) & 1) << 15) | ((address >>> 5) & 0x7fff);
    // VT-d 5.1.3: with SHV the subhandle (data[15:0]) is added to the handle (QEMU: index += data & 0xffff).
    if (shv) index = (index + (data & 0xffff)) & 0xffff;
    this.index = index;
    if (index >= this.entries) return VTD_FR_IR_INDEX_OVER;
    const at = this.table + index * 16;
    this.address = at;
    const w = this.irte;
    const slot = bypassCache ? -1 : this.iecLookup(index);
    if (slot >= 0) {
      this.cached = true;
      w[0] = this.iecWords[slot * 4]!;
      w[1] = this.iecWords[slot * 4 + 1]!;
      w[2] = this.iecWords[slot * 4 + 2]!;
      w[3] = this.iecWords[slot * 4 + 3]!;
    } else {
      const mem = this.mem;
      if (!mem.read64(at)) return VTD_FR_IR_ROOT_INVAL;
      w[0] = mem.lo;
      w[1] = mem.hi;
      if (!mem.read64(at + 8)) return VTD_FR_IR_ROOT_INVAL;
      w[2] = mem.lo;
      w[3] = mem.hi;
    }
    this.read = true;
    this.fpd = (w[0] & 2) !== 0;
    if ((w[0] & 1) === 0) return VTD_FR_IR_ENTRY_P;
    const im = (w[0] & 0x8000) !== 0;
    // Without CAP.PI, IM is reserved (VT-d 9.10): a posted-format entry is a reserved-field fault.
    if (im && !this.pi) return VTD_FR_IR_IRTE_RSVD;
    const posted = im;
    const m = posted ? RSVD_POSTED : RSVD_REMAPPED;
    if ((w[0] & m[0]) !== 0 || (w[1] & m[1]) !== 0 || (w[2] & m[2]) !== 0 || (w[3] & m[3]) !== 0) return VTD_FR_IR_IRTE_RSVD;
    // Source-id verification (VT-d 9.10 SVT/SQ; QEMU vtd_irte_get).
    const irteSid = w[2] & 0xffff;
    const sq = (w[2] >>> 16) & 3;
    const svt = (w[2] >>> 18) & 3;
    if (svt === SVT_ALL) {
      const mask = SVT_MASK[sq]!;
      if ((irteSid & mask) !== (sid & mask)) return VTD_FR_IR_SID_ERR;
    } else if (svt === SVT_BUS) {
      const bus = sid >>> 8;
      if (bus < irteSid >>> 8 || bus > (irteSid & 0xff)) return VTD_FR_IR_SID_ERR;
    } else if (svt !== SVT_NONE) {
      return VTD_FR_IR_SID_ERR; // QEMU: "detected invalid IRTE SVT", taken as a verification failure
    }
    // QEMU vtd_interrupt_remap_msi: with SHV, data[31:16] must be zero (VTD_IR_MSI_DATA_RESERVED).
    if (shv && (data & 0xffff0000) !== 0) return VTD_FR_IR_REQ_RSVD;
    if (!probe && slot < 0) this.iecFill(index);
    this.vector = (w[0] >>> 16) & 0xff;
    if (posted) {
      this.posted = true;
      this.pdaLo = (w[1] & 0xffffffc0) >>> 0;
      this.pdaHi = w[3]!;
      this.urgent = (w[0] & 0x4000) !== 0;
      this.destination = 0;
      // VT-d 5.2.3: set PIR[vector], then ON and a notification unless one is outstanding or SN (posted.ts).
      this.postAttempted = !probe;
      if (!probe) postInterrupt(this.mem, this.pdaHi * 0x100000000 + this.pdaLo, this.vector, this.urgent, this.post);
    } else {
      // QEMU vtd_remap_irq_get: xAPIC mode takes DST bits 15:8 (IRTE bits 47:40).
      this.destination = this.eime ? w[1] : (w[1] >>> 8) & 0xff;
    }
    return 0;
  }

  /** Whether fault `reason` is one the IRTE's FPD suppresses: the qualified IR faults 0x22, 0x24, 0x26 (VT-d 7.1.3 table). */
  static qualified(reason: number): boolean {
    return reason === VTD_FR_IR_ENTRY_P || reason === VTD_FR_IR_IRTE_RSVD || reason === VTD_FR_IR_SID_ERR;
  }

  private iecLookup(index: number): number {
    const ix = this.iecIndex;
    for (let i = 0; i < IEC_SLOTS; i++) if (ix[i] === index) return i;
    return -1;
  }

  private iecFill(index: number): void {
    const s = this.iecNext;
    this.iecNext = (s + 1) % IEC_SLOTS;
    this.iecIndex[s] = index;
    this.iecWords.set(this.irte, s * 4);
  }

  /** IEC invalidation (VT-d 6.5.2.7): global, or 2^im entries from `index`. Returns the entries dropped. */
  invalidate(global: boolean, index: number, im: number): number {
    let n = 0;
    const first = index & ~((1 << im) - 1);
    const last = first + (1 << im) - 1;
    for (let i = 0; i < IEC_SLOTS; i++) {
      const x = this.iecIndex[i]!;
      if (x >= 0 && (global || (x >= first && x <= last))) {
        this.iecIndex[i] = -1;
        n++;
      }
    }
    return n;
  }

  /** Cached IRTEs: index and the words as qwords. */
  cachedEntries(): { index: number; lo: bigint; hi: bigint }[] {
    const out: { index: number; lo: bigint; hi: bigint }[] = [];
    for (let i = 0; i < IEC_SLOTS; i++) {
      const x = this.iecIndex[i]!;
      if (x < 0) continue;
      const w = this.iecWords;
      out.push({ index: x, lo: (BigInt(w[i * 4 + 1]!) << 32n) | BigInt(w[i * 4]!), hi: (BigInt(w[i * 4 + 3]!) << 32n) | BigInt(w[i * 4 + 2]!) });
    }
    return out.sort((a, b) => a.index - b.index);
  }

  /** The IRTE words of the last remap as qwords (valid when `read`). */
  irteQwords(): [bigint, bigint] {
    const w = this.irte;
    return [(BigInt(w[1]!) << 32n) | BigInt(w[0]!), (BigInt(w[3]!) << 32n) | BigInt(w[2]!)];
  }

  snapshot(): { table: number; entries: number; eime: boolean; iecIndex: Int32Array; iecWords: Uint32Array; iecNext: number } {
    // `pi` is the unit's capability (set at construction), not state.
    return { table: this.table, entries: this.entries, eime: this.eime, iecIndex: this.iecIndex.slice(), iecWords: this.iecWords.slice(), iecNext: this.iecNext };
  }

  restore(s: ReturnType<InterruptRemapper["snapshot"]>): void {
    this.table = s.table;
    this.entries = s.entries;
    this.eime = s.eime;
    this.iecIndex.set(s.iecIndex);
    this.iecWords.set(s.iecWords);
    this.iecNext = s.iecNext;
  }
}

// ------------------------------------------------------------------ the host driver's half

/** What the IRQ-remapping driver needs of the DMA-remapping driver: the invalidation queue. */
export interface IecSubmitter {
  submitRaw(desc: [bigint, bigint]): boolean;
}

/** Linux qi_flush_iec(): QI_IEC_IIDX(index) | QI_IEC_TYPE | QI_IEC_IM(mask) | QI_IEC_SELECTIVE; qi_global_iec(): QI_IEC_TYPE. */
export function encodeIecDesc(global: boolean, index = 0, im = 0): [bigint, bigint] {
  if (global) return [0x4n, 0n];
  return [0x4n | (1n << 4n) | (BigInt(im & 0x1f) << 27n) | (BigInt(index & 0xffff) << 32n), 0n];
}

/**
 * The host's intel irq_remapping driver (drivers/iommu/intel/irq_remapping.c): at boot
 * intel_setup_irq_remapping() allocates the table (INTR_REMAP_TABLE_ENTRIES = 65536 IRTEs, 1 MiB)
 * and iommu_set_irq_remapping() writes IRTA (address | EIME | INTR_REMAP_TABLE_REG_SIZE), sets
 * SIRTP and flushes the whole IEC (qi_global_iec); iommu_enable_irq_remapping() sets IRE and clears
 * CFI ("Block compatibility-format MSIs"). modify_irte() writes an IRTE and flushes its IEC entry.
 */
export class IrqRemapDriver {
  /** HPA of the interrupt-remapping table (0 until enabled). */
  table = 0;
  eim = false;

  constructor(
    private readonly unit: { writeReg64(off: number, v: bigint): void; writeReg32(off: number, v: number): void; readReg32(off: number): number },
    private readonly mem: PhysicalMemory,
    private readonly qi: IecSubmitter,
  ) {}

  /** GCMD with the enables GSTS shows kept (TE, QIE, IRE) and `set` added: GCMD is a level register. */
  private gcmd(set: number): void {
    const keep = this.unit.readReg32(DMAR_GSTS_REG) & (GCMD_TE | GCMD_QIE | GCMD_IRE);
    this.unit.writeReg32(DMAR_GCMD_REG, (keep | set) >>> 0);
  }

  enable(eim: boolean): void {
    const entries = 2 ** (INTR_REMAP_TABLE_REG_SIZE + 1);
    const pages = (entries * 16) / 4096;
    this.table = this.mem.allocPage();
    for (let i = 1; i < pages; i++) this.mem.allocPage(); // the pool is a bump allocator: contiguous
    this.eim = eim;
    this.unit.writeReg64(DMAR_IRTA_REG, BigInt(this.table) | (eim ? IRTA_EIME : 0n) | BigInt(INTR_REMAP_TABLE_REG_SIZE));
    this.gcmd(GCMD_SIRTP);
    this.qi.submitRaw(encodeIecDesc(true));
    this.gcmd(GCMD_IRE); // CFI stays clear: compatibility-format MSIs are blocked

  }

  /** modify_irte(): the entry, then qi_flush_iec(index, 0) unless `flush` is false. */
  modifyIrte(index: number, irte: [bigint, bigint], flush: boolean): boolean {
    const at = this.table + index * 16;
    this.mem.writeU64(at, irte[0]);
    this.mem.writeU64(at + 8, irte[1]);
    return flush ? this.qi.submitRaw(encodeIecDesc(false, index, 0)) : true;
  }
}

// ------------------------------------------------------------------ inspection (the views' half)

/** One IRTE as the views show it: the decoder above, the reserved bits remap() faults on. */
function entryView(index: number, address: number, lo: bigint, hi: bigint, eim: boolean, pi: boolean, mem: PhysicalMemory): InterruptEntryView {
  const posted = ((lo >> 15n) & 1n) === 1n && pi;
  const [rl, rh] = irteReservedBits(lo, hi, pi);
  const sid = Number(hi & 0xffffn);
  const svt = Number((hi >> 18n) & 3n);
  const source = svt === SVT_NONE ? "any" : svt === SVT_ALL ? formatSid(sid) : svt === SVT_BUS ? `bus ${(sid >> 8).toString(16).padStart(2, "0")}-${(sid & 0xff).toString(16).padStart(2, "0")}` : "reserved SVT";
  const v: InterruptEntryView = {
    key: String(index),
    index,
    address: BigInt(address),
    raw: [lo, hi],
    fields: irteFields(lo, hi, eim),
    present: (lo & 1n) === 1n,
    format: posted ? "posted" : "remapped",
    vector: Number((lo >> 16n) & 0xffn),
    destination: posted ? (((hi >> 32n) & 0xffffffffn) << 32n) | (((lo >> 38n) & 0x3ffffffn) << 6n) : eim ? (lo >> 32n) & 0xffffffffn : (lo >> 40n) & 0xffn,
    source,
  };
  if (rl !== 0n || rh !== 0n) v.reserved = { bits: [rl, rh], reason: VTD_FR_IR_IRTE_RSVD };
  if (posted) v.descriptor = descriptorView(mem, v.destination, eim);
  return v;
}

/** The posted-interrupt descriptor at `pda` as the views show it (posted.ts decoder), read from memory now. */
export function descriptorView(mem: PhysicalMemory, pda: bigint, x2apic: boolean): PostedDescriptorView {
  const raw = readPid(mem, pda);
  if (raw === undefined) return { address: pda, raw: [], fields: [], pending: [], outstanding: false, suppressed: false, notificationVector: 0, notificationDestination: 0 };
  const ctl = raw[4]!;
  return {
    address: pda,
    raw,
    fields: pidFields(raw, x2apic),
    pending: pirVectors(raw),
    outstanding: (ctl & 1n) === 1n,
    suppressed: ((ctl >> 1n) & 1n) === 1n,
    notificationVector: Number((ctl >> 16n) & 0xffn),
    notificationDestination: ndstApicId(Number((ctl >> 32n) & 0xffffffffn), x2apic),
  };
}

/** The unit's interrupt-remapping table as the contract shows it, or undefined before SIRTP latched one. */
export function interruptRemapView(unit: { ir: InterruptRemapper; readReg32(off: number): number }, mem: PhysicalMemory): InterruptRemapView | undefined {
  const ir = unit.ir;
  if (ir.entries === 0) return undefined;
  const gsts = unit.readReg32(DMAR_GSTS_REG);
  return {
    address: BigInt(ir.table),
    size: ir.entries,
    x2apic: ir.eime,
    enabled: (gsts & GCMD_IRE) !== 0,
    compatibilityAllowed: (gsts & GCMD_CFI) !== 0,
    entries(limit = 4096) {
      const out: InterruptEntryView[] = [];
      for (let i = 0; i < ir.entries && out.length < limit; i++) {
        const at = ir.table + i * 16;
        if (!mem.read64(at) || (mem.lo & 1) === 0) continue;
        out.push(entryView(i, at, mem.readU64(at) ?? 0n, mem.readU64(at + 8) ?? 0n, ir.eime, ir.pi, mem));
      }
      return out;
    },
    cache() {
      return ir.cachedEntries().map((e) => entryView(e.index, ir.table + e.index * 16, e.lo, e.hi, ir.eime, ir.pi, mem));
    },
  };
}
