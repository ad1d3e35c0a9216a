/**
 * A scenario's poke of IQA (Invalidation Queue Address, VT-d 11.4.11.3: base [63:12], DW [11],
 * QS [2:0]): the register is written alone, as a driver that reprograms the queue behind Linux's
 * back would. The unit latches DW on the write (QEMU vtd_mem_write DMAR_IQA_REG, only with
 * ECAP.SMTS); Linux keeps writing descriptors of its own width (qi_shift(): 256-bit with
 * ecap_smts), so a width that disagrees shows up as an Invalidation Queue Error at the next
 * submission (unit.ts processQueue).
 */
import type { RegisterPoke } from "../host-iommu.js";
import { DMAR_IQA_REG, DMAR_PECTL_REG, IQA_DW, PECTL_IM } from "./regs.js";
import type { DmarUnit } from "./unit.js";

/** `base`: the unit's register block (VtdHost.registerBase): the trace event's MMIO address. */
export function pokeIqa(u: DmarUnit, value: (old: bigint) => bigint, base: bigint): RegisterPoke {
  const old = u.readReg64(DMAR_IQA_REG);
  u.writeReg64(DMAR_IQA_REG, value(old));
  const now = u.readReg64(DMAR_IQA_REG);
  const dw = u.iqDw ? "256-bit" : (now & IQA_DW) !== 0n ? "128-bit (DW ignored: no ECAP.SMTS)" : "128-bit";
  return { old, now, address: base + BigInt(DMAR_IQA_REG), summary: `wrote 0x${now.toString(16).padStart(16, "0")} to IQA (was 0x${old.toString(16).padStart(16, "0")}): the unit now reads ${dw} descriptors, ${(256 << Number(now & 7n)) >> (u.iqDw ? 1 : 0)} of them` };
}

/**
 * A scenario's poke of PECTL (page request event control, VT-d 11.4.12.5): a 32-bit write of IM
 * (IP is read-only). Setting IM is what dmar_msi_mask() does (writel(DMA_FECTL_IM)); clearing it
 * with an event pending in IP sends the interrupt (unit.ts writeReg32), and Linux's handler runs at
 * the next `page-response` step.
 */
export function pokePectl(u: DmarUnit, value: (old: bigint) => bigint, base: bigint): RegisterPoke {
  const old = BigInt(u.readReg32(DMAR_PECTL_REG));
  const sent = u.prInterrupts;
  u.writeReg32(DMAR_PECTL_REG, Number(value(old) & 0xffffffffn));
  const now = BigInt(u.readReg32(DMAR_PECTL_REG));
  const what = u.prInterrupts !== sent ? "unmasked: the pending page request event was sent" : (Number(now) & PECTL_IM) !== 0 ? "page request interrupts masked (an event stays pending in IP)" : "page request interrupts unmasked";
  return { old, now, address: base + BigInt(DMAR_PECTL_REG), summary: `wrote 0x${now.toString(16).padStart(8, "0")} to PECTL (was 0x${old.toString(16).padStart(8, "0")}): ${what}` };
}
