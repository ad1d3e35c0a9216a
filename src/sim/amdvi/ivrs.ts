/**
 * What Linux's amd_iommu makes of the IVHD device entries (drivers/iommu/amd/init.c
 * init_iommu_from_acpi, set_dev_entry_from_acpi_range, find_last_devid_from_ivhd): the alias
 * table (pci_seg->alias_table: DMA from a device id arrives with its alias's id, so the alias's
 * DTE is the one the IOMMU reads), the DTE settings each device id starts with, and last_bdf
 * (the device table's size). The byte format is scenario/ivhd.ts.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { IommuSpec } from "../../scenario/types.js";
import {
  IVHD_DEV_ALIAS,
  IVHD_DEV_ALIAS_RANGE,
  IVHD_DEV_ALL,
  IVHD_DEV_EXT_SELECT,
  IVHD_DEV_EXT_SELECT_RANGE,
  IVHD_DEV_RANGE_END,
  IVHD_DEV_SELECT,
  IVHD_DEV_SELECT_RANGE_START,
  IVHD_DEV_SPECIAL,
  decodeIvhd,
  type IvhdEntry,
} from "../../scenario/ivhd.js";

/** IVHD "DTE setting" flags (amd_iommu_types.h ACPI_DEVFLAG_*). */
export const ACPI_DEVFLAG_INITPASS = 0x01;
export const ACPI_DEVFLAG_EXTINT = 0x02;
export const ACPI_DEVFLAG_NMI = 0x04;
export const ACPI_DEVFLAG_SYSMGT1 = 0x10;
export const ACPI_DEVFLAG_SYSMGT2 = 0x20;
export const ACPI_DEVFLAG_LINT0 = 0x40;
export const ACPI_DEVFLAG_LINT1 = 0x80;

/**
 * The DTE bits an IVHD flag sets (amd_iommu_types.h DEV_ENTRY_*: bit numbers in the 256-bit
 * entry): SYSMGT1 0x68 and SYSMGT2 0x69 (data[1] bits 40, 41), INIT_PASS 0xb8, EINT_PASS 0xb9,
 * NMI_PASS 0xba, LINT0_PASS 0xbe, LINT1_PASS 0xbf (data[2] bits 56, 57, 58, 62, 63).
 */
const FLAG_BITS: readonly [number, number][] = [
  [ACPI_DEVFLAG_INITPASS, 0xb8],
  [ACPI_DEVFLAG_EXTINT, 0xb9],
  [ACPI_DEVFLAG_NMI, 0xba],
  [ACPI_DEVFLAG_SYSMGT1, 0x68],
  [ACPI_DEVFLAG_SYSMGT2, 0x69],
  [ACPI_DEVFLAG_LINT0, 0xbe],
  [ACPI_DEVFLAG_LINT1, 0xbf],
];

/** The initial DTE of a device id, as qwords data[0..3] (set_dev_entry_from_acpi_range's `dte`). */
export function ivhdDte(flags: number): [bigint, bigint, bigint, bigint] {
  const d: [bigint, bigint, bigint, bigint] = [0n, 0n, 0n, 0n];
  for (const [f, bit] of FLAG_BITS) if ((flags & f) !== 0) d[bit >> 6] = d[bit >> 6]! | (1n << BigInt(bit & 63));
  // Erratum 63: SysMgt = 01b needs IW in data[0] (DTE_DATA1_SYSMGT_MASK == 0x1 -> DTE_FLAG_IW, bit 62).
  if (((d[1] >> 40n) & 3n) === 1n) d[0] |= 1n << 62n;
  return d;
}

export interface IvrsDevices {
  /** alias_table: device id -> the id its DMA carries (only the ids the IVHD aliases). */
  alias: Map<number, number>;
  /** IVHD flags of each device id that has any (the initial DTE: ivhdDte). */
  flags: Map<number, number>;
  /** The highest device id an entry names (find_last_devid_from_ivhd), -1 without entries. */
  lastDevid: number;
  entries: IvhdEntry[];
}

/** The IVHD device entries of an amd-vi IommuSpec (none: an empty table). */
export function ivrsDevices(spec: IommuSpec): IvrsDevices {
  const bytes = (spec.amd?.ivhd ?? []).flatMap((b) => b.bytes);
  const d = decodeIvhd(bytes);
  return applyIvhd(d.ok ? d.entries : [], -1);
}

/**
 * init_iommu_from_acpi over the entries. `lastBdf` bounds DEV_ALL; below 0 it is the entries'
 * own last device id. A range's state (devid_start, flags, alias, devid_to) carries over from its
 * start entry to DEV_RANGE_END exactly as Linux keeps it in locals, stale values included.
 */
export function applyIvhd(entries: readonly IvhdEntry[], lastBdf: number): IvrsDevices {
  const out: IvrsDevices = { alias: new Map(), flags: new Map(), lastDevid: -1, entries: [...entries] };
  // find_last_devid_from_ivhd: SELECT, RANGE_END, ALIAS and EXT_SELECT entries name a device id.
  for (const e of entries) if (e.type === IVHD_DEV_SELECT || e.type === IVHD_DEV_RANGE_END || e.type === IVHD_DEV_ALIAS || e.type === IVHD_DEV_EXT_SELECT) out.lastDevid = Math.max(out.lastDevid, e.devid);
  const last = lastBdf >= 0 ? lastBdf : out.lastDevid;
  const set = (first: number, lastId: number, flags: number) => {
    // set_dev_entry_from_acpi_range: a zero flags byte leaves the DTE as it is.
    if (flags === 0) return;
    for (let i = first; i <= lastId; i++) out.flags.set(i, flags);
  };
  let devidStart = 0;
  let devidTo = 0;
  let flags = 0;
  let alias = false;
  for (const e of entries) {
    switch (e.type) {
      case IVHD_DEV_ALL:
        set(0, last, e.flags);
        break;
      case IVHD_DEV_SELECT:
      case IVHD_DEV_EXT_SELECT:
        set(e.devid, e.devid, e.flags);
        break;
      case IVHD_DEV_SELECT_RANGE_START:
      case IVHD_DEV_EXT_SELECT_RANGE:
        devidStart = e.devid;
        flags = e.flags;
        alias = false;
        break;
      case IVHD_DEV_ALIAS:
        devidTo = e.ext >>> 8;
        set(e.devid, e.devid, e.flags);
        set(devidTo, devidTo, e.flags);
        out.alias.set(e.devid, devidTo & 0xffff);
        break;
      case IVHD_DEV_ALIAS_RANGE:
        devidStart = e.devid;
        flags = e.flags;
        devidTo = e.ext >>> 8;
        alias = true;
        break;
      case IVHD_DEV_RANGE_END:
        if (alias) {
          for (let i = devidStart; i <= e.devid; i++) out.alias.set(i, devidTo & 0xffff);
          set(devidTo & 0xffff, devidTo & 0xffff, flags);
        }
        set(devidStart, e.devid, flags);
        break;
      case IVHD_DEV_SPECIAL:
        set((e.ext >>> 8) & 0xffff, (e.ext >>> 8) & 0xffff, e.flags);
        break;
      default:
        break;
    }
  }
  // An alias to itself is no alias (setup_aliases: ivrs_alias != pci_dev_id(pdev)).
  for (const [k, v] of out.alias) if (k === v) out.alias.delete(k);
  return out;
}
