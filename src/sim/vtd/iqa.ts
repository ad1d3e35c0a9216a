/**
 * A scenario's poke of IQA (Invalidation Queue Address, VT-d 11.4.11.3: base [63:12], DW [11],
 * QS [2:0]): the register is written alone, as a driver that reprograms the queue behind Linux's
 * back would. The unit latches DW on the write (QEMU vtd_mem_write DMAR_IQA_REG, only with
 * ECAP.SMTS); Linux keeps writing descriptors of its own width (qi_shift(): 256-bit with
 * ecap_smts), so a width that disagrees shows up as an Invalidation Queue Error at the next
 * submission (unit.ts processQueue).
 */
import type { RegisterPoke } from "../host-iommu.js";
import { DMAR_IQA_REG, IQA_DW } from "./regs.js";
import type { DmarUnit } from "./unit.js";

/** `base`: the unit's register block (VtdHost.registerBase): the trace event's MMIO address. */
export function pokeIqa(u: DmarUnit, value: (old: bigint) => bigint, base: bigint): RegisterPoke {
  const old = u.readReg64(DMAR_IQA_REG);
  u.writeReg64(DMAR_IQA_REG, value(old));
  const now = u.readReg64(DMAR_IQA_REG);
  const dw = u.iqDw ? "256-bit" : (now & IQA_DW) !== 0n ? "128-bit (DW ignored: no ECAP.SMTS)" : "128-bit";
  return { old, now, address: base + BigInt(DMAR_IQA_REG), summary: `wrote 0x${now.toString(16).padStart(16, "0")} to IQA (was 0x${old.toString(16).padStart(16, "0")}): the unit now reads ${dw} descriptors, ${(256 << Number(now & 7n)) >> (u.iqDw ? 1 : 0)} of them` };
}
