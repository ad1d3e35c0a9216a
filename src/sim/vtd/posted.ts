/**
 * VT-d interrupt posting: the posted-interrupt descriptor (PID) in memory and what the unit does
 * with it when a remappable interrupt hits an IRTE in posted format (IM = 1).
 *
 * Layout (VT-d spec 9.12 "Posted Interrupt Descriptor"; Linux struct pi_desc in
 * arch/x86/include/asm/posted_intr.h, earlier arch/x86/kvm/vmx/posted_intr.h, first in vmx.c by
 * 6ef1522f7ecc "KVM: Extend struct pi_desc for VT-d Posted-Interrupts"), 64 bytes, 64-byte aligned:
 *
 *   255:0   PIR   posted interrupt requests, one bit per vector
 *   256     ON    outstanding notification
 *   257     SN    suppress notification
 *   271:258 reserved
 *   279:272 NV    notification vector
 *   287:280 reserved
 *   319:288 NDST  notification destination (x2APIC: the 32-bit APIC id; xAPIC: the 8-bit id in 303:296)
 *   511:320 reserved
 *
 * Posting (VT-d 5.2.3 "Interrupt-Posting Hardware Operation"): the unit sets PIR[vector]; then, when
 * ON = 0 and (URG = 1 or SN = 0), it sets ON and sends a notification event (vector NV to NDST);
 * otherwise no notification (ON already set: one is outstanding; SN = 1 and not urgent: suppressed).
 * The read-modify-write is one atomic operation in hardware: here it is one call.
 *
 * The hot path (postInterrupt) allocates nothing: 64-bit words through PhysicalMemory.read64/write64,
 * results in the fields of a PostResult the caller owns. pidFields / pidView are the inspection path.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { DecodedField } from "../iommu.js";
import type { PhysicalMemory } from "../memory.js";

/** Bytes of a posted-interrupt descriptor (VT-d 9.12; `__aligned(64)` in Linux). */
export const PID_SIZE = 64;
/** Byte offset of the control qword (ON, SN, NV, NDST): bits 319:256. */
const PID_CONTROL = 32;
/** Control bits, relative to bit 256: ON (Linux POSTED_INTR_ON 0), SN (POSTED_INTR_SN 1). */
export const PID_ON = 1;
export const PID_SN = 2;

/**
 * KVM's notification vectors (arch/x86/include/asm/irq_vectors.h): POSTED_INTR_VECTOR while the
 * vCPU runs (the CPU posts into the guest without a VM exit), POSTED_INTR_WAKEUP_VECTOR while it is
 * blocked (the host's pi_wakeup_handler wakes it).
 */
export const POSTED_INTR_VECTOR = 0xf2;
export const POSTED_INTR_WAKEUP_VECTOR = 0xf1;

/** What the last posting did; reused across requests (no allocation per interrupt). */
export class PostResult {
  /** The descriptor could be read and written (inside host memory). */
  ok = false;
  /** PIR[vector] was already set before this request (the interrupt coalesced with a pending one). */
  alreadyPending = false;
  /** ON was already set before: a notification is outstanding, none sent. */
  onWasSet = false;
  /** SN as read. */
  suppress = false;
  /** A notification event was sent (vector `nv` to `ndst`). */
  notified = false;
  nv = 0;
  /** NDST as stored (xAPIC: the id in bits 15:8). */
  ndst = 0;
}

/**
 * The posting operation of VT-d 5.2.3 on the descriptor at `pda` for `vector`, `urgent` the IRTE's
 * URG. Writes the descriptor in `mem`; results land in `out`.
 */
export function postInterrupt(mem: PhysicalMemory, pda: number, vector: number, urgent: boolean, out: PostResult): void {
  out.ok = false;
  out.alreadyPending = false;
  out.onWasSet = false;
  out.suppress = false;
  out.notified = false;
  // PIR: the qword holding bit `vector`.
  const q = pda + ((vector >>> 6) << 3);
  if (!mem.read64(q) || !mem.read64(pda + PID_CONTROL)) return;
  mem.read64(q);
  let lo = mem.lo;
  let hi = mem.hi;
  const bit = vector & 63;
  if (bit < 32) {
    out.alreadyPending = ((lo >>> bit) & 1) === 1;
    lo = (lo | (1 << bit)) >>> 0;
  } else {
    out.alreadyPending = ((hi >>> (bit - 32)) & 1) === 1;
    hi = (hi | (1 << (bit - 32))) >>> 0;
  }
  mem.write64(q, lo, hi);
  mem.read64(pda + PID_CONTROL);
  const ctl = mem.lo;
  out.onWasSet = (ctl & PID_ON) !== 0;
  out.suppress = (ctl & PID_SN) !== 0;
  out.nv = (ctl >>> 16) & 0xff;
  out.ndst = mem.hi;
  out.ok = true;
  if (!out.onWasSet && (urgent || !out.suppress)) {
    out.notified = true;
    mem.write64(pda + PID_CONTROL, (ctl | PID_ON) >>> 0, mem.hi);
  }
}

/** The descriptor's fields as KVM writes them (vmx_vcpu_pi_load / pi_enable_wakeup_handler / vmx_vcpu_pi_put). */
export interface PidSpec {
  pir?: readonly number[];
  on?: boolean;
  sn?: boolean;
  nv: number;
  ndst: number;
}

/** The descriptor as 8 qwords, low first (VT-d 9.12). */
export function encodePid(s: PidSpec): bigint[] {
  const out = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  for (const v of s.pir ?? []) out[v >> 6] = out[v >> 6]! | (1n << BigInt(v & 63));
  out[4] = (s.on ? 1n : 0n) | (s.sn ? 2n : 0n) | (BigInt(s.nv & 0xff) << 16n) | (BigInt(s.ndst >>> 0) << 32n);
  return out;
}

/**
 * NDST for a physical CPU's APIC id, as KVM's vmx_vcpu_pi_load() computes it:
 * `dest = cpu_physical_id(cpu); if (!x2apic_mode) dest = (dest << 8) & 0xFF00;`.
 */
export function kvmNdst(apicId: number, x2apic: boolean): number {
  return x2apic ? apicId >>> 0 : (apicId << 8) & 0xff00;
}

/** The destination APIC id an NDST names (xAPIC: bits 15:8). */
export function ndstApicId(ndst: number, x2apic: boolean): number {
  return x2apic ? ndst >>> 0 : (ndst >>> 8) & 0xff;
}

/** The vectors pending in PIR (ascending). */
export function pirVectors(words: readonly bigint[]): number[] {
  const out: number[] = [];
  for (let q = 0; q < 4; q++) {
    const w = words[q] ?? 0n;
    if (w === 0n) continue;
    for (let b = 0; b < 64; b++) if ((w >> BigInt(b)) & 1n) out.push(q * 64 + b);
  }
  return out;
}

/** Reads the 8 qwords of the descriptor at `pda`, or undefined when it is not in host memory. */
export function readPid(mem: PhysicalMemory, pda: bigint): bigint[] | undefined {
  const out: bigint[] = [];
  for (let i = 0; i < 8; i++) {
    const w = mem.readU64(Number(pda) + i * 8);
    if (w === undefined) return undefined;
    out.push(w);
  }
  return out;
}

const hx = (n: number | bigint) => `0x${n.toString(16)}`;

/** The descriptor's fields in the spec's names and bit positions (VT-d 9.12). */
export function pidFields(words: readonly bigint[], x2apic: boolean): DecodedField[] {
  const pir = pirVectors(words);
  const ctl = words[4] ?? 0n;
  const pirRaw = (words[0] ?? 0n) | ((words[1] ?? 0n) << 64n) | ((words[2] ?? 0n) << 128n) | ((words[3] ?? 0n) << 192n);
  const on = ctl & 1n;
  const sn = (ctl >> 1n) & 1n;
  const nv = (ctl >> 16n) & 0xffn;
  const ndst = (ctl >> 32n) & 0xffffffffn;
  const nvMeaning = nv === BigInt(POSTED_INTR_VECTOR) ? "POSTED_INTR_VECTOR (vCPU running)" : nv === BigInt(POSTED_INTR_WAKEUP_VECTOR) ? "POSTED_INTR_WAKEUP_VECTOR (vCPU blocked)" : undefined;
  const out: DecodedField[] = [
    { name: "PIR", hi: 255, lo: 0, raw: pirRaw, value: pir.length ? pir.map(hx).join(", ") : "none", meaning: pir.length ? `pending vector${pir.length > 1 ? "s" : ""} ${pir.map(hx).join(", ")}` : "no interrupt pending" },
    { name: "ON", hi: 256, lo: 256, raw: on, value: on.toString(), ...(on ? { meaning: "notification outstanding" } : {}) },
    { name: "SN", hi: 257, lo: 257, raw: sn, value: sn.toString(), ...(sn ? { meaning: "notifications suppressed (non-urgent)" } : {}) },
    { name: "NV", hi: 279, lo: 272, raw: nv, value: hx(nv), ...(nvMeaning ? { meaning: nvMeaning } : {}) },
    { name: "NDST", hi: 319, lo: 288, raw: ndst, value: hx(ndst), meaning: `${x2apic ? "x2APIC" : "xAPIC"} id ${ndstApicId(Number(ndst), x2apic)}` },
  ];
  const rsvd = (ctl & 0xff00fffcn) | (words[5] ?? 0n) | (words[6] ?? 0n) | (words[7] ?? 0n);
  if (rsvd !== 0n) out.push({ name: "reserved", hi: 511, lo: 258, raw: rsvd, value: "set", meaning: "reserved bits set (software must write 0)" });
  return out;
}
