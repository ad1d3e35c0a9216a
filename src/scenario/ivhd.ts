/**
 * IVHD device entries: the bytes of the ACPI IVRS table's I/O Virtualization Hardware Definition
 * block that say which device ids an AMD-Vi unit covers, with which DTE settings and which DMA
 * aliases (AMD IOMMU spec 48882 §5.2.2.2 "IVHD Device Entries"; Linux
 * drivers/iommu/amd/amd_iommu_types.h struct ivhd_entry and IVHD_DEV_*, init.c ivhd_entry_length).
 *
 * An entry: byte 0 type, bytes 1-2 DeviceID (little endian), byte 3 the "DTE setting" flags;
 * 8-byte entries add bytes 4-7 (`ext`, little endian): an alias's DeviceID in ext 23:8
 * (IVHD_DEV_ALIAS: `devid_to = e->ext >> 8`), the extended flags of IVHD_DEV_EXT_SELECT, or
 * IVHD_DEV_SPECIAL's handle (7:0), DeviceID (23:8) and variety (31:24).
 *
 * This module is the format only (encode, decode, lengths); what Linux does with the entries
 * (alias table, DTE flags, last_bdf) is sim/amdvi/ivrs.ts.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import * as l10n from "@vscode/l10n";

export const IVHD_DEV_ALL = 0x01;
export const IVHD_DEV_SELECT = 0x02;
export const IVHD_DEV_SELECT_RANGE_START = 0x03;
export const IVHD_DEV_RANGE_END = 0x04;
export const IVHD_DEV_ALIAS = 0x42;
export const IVHD_DEV_ALIAS_RANGE = 0x43;
export const IVHD_DEV_EXT_SELECT = 0x46;
export const IVHD_DEV_EXT_SELECT_RANGE = 0x47;
export const IVHD_DEV_SPECIAL = 0x48;
export const IVHD_DEV_ACPI_HID = 0xf0;
/** IVHD_DEV_SPECIAL varieties (IVHD_SPECIAL_IOAPIC / IVHD_SPECIAL_HPET). */
export const IVHD_SPECIAL_IOAPIC = 1;
export const IVHD_SPECIAL_HPET = 2;

/** The names Linux's amd_iommu_dump (init.c DUMP_printk) gives each type. */
export const IVHD_TYPE_NAMES: Readonly<Record<number, string>> = {
  [IVHD_DEV_ALL]: "DEV_ALL",
  [IVHD_DEV_SELECT]: "DEV_SELECT",
  [IVHD_DEV_SELECT_RANGE_START]: "DEV_SELECT_RANGE_START",
  [IVHD_DEV_RANGE_END]: "DEV_RANGE_END",
  [IVHD_DEV_ALIAS]: "DEV_ALIAS",
  [IVHD_DEV_ALIAS_RANGE]: "DEV_ALIAS_RANGE",
  [IVHD_DEV_EXT_SELECT]: "DEV_EXT_SELECT",
  [IVHD_DEV_EXT_SELECT_RANGE]: "DEV_EXT_SELECT_RANGE",
  [IVHD_DEV_SPECIAL]: "DEV_SPECIAL",
  [IVHD_DEV_ACPI_HID]: "DEV_ACPI_HID",
};

export interface IvhdEntry {
  /** Byte offset of the entry in the device-entry bytes. */
  offset: number;
  type: number;
  devid: number;
  flags: number;
  /** Bytes 4-7 of an 8-byte entry (0 for a 4-byte one). */
  ext: number;
  length: number;
}

/**
 * init.c ivhd_entry_length: types below 0x80 are 4 << (type >> 6) bytes (4, 8, 16 or 32);
 * IVHD_DEV_ACPI_HID is 22 + its UID length (byte 21); any other type is 0 - Linux's parser
 * would not advance past it (a firmware table like that hangs the loop), so decode refuses it.
 * Returns undefined when the entry's bytes run past the end.
 */
export function ivhdEntryLength(bytes: ArrayLike<number>, at: number): number | undefined {
  const type = bytes[at]!;
  if (type < 0x80) return 0x04 << (type >> 6);
  if (type === IVHD_DEV_ACPI_HID) {
    if (at + 21 >= bytes.length) return undefined;
    return bytes[at + 21]! + 22;
  }
  return 0;
}

export type IvhdDecode = { ok: true; entries: IvhdEntry[] } | { ok: false; offset: number; message: string; hint: string };

/** Every entry of the device-entry bytes, in table order, or where and why they cannot be read. */
export function decodeIvhd(bytes: ArrayLike<number>): IvhdDecode {
  const entries: IvhdEntry[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = ivhdEntryLength(bytes, at);
    const type = bytes[at]!;
    if (length === 0) {
      return { ok: false, offset: at, message: l10n.t("IVHD device entry type 0x{0} at byte {1} has no length Linux knows", hex(type, 2), at), hint: l10n.t("Types below 0x80 are 4, 8, 16 or 32 bytes long and 0xf0 (ACPI HID) is 22 + its UID length; Linux's ivhd_entry_length returns 0 for any other, and its parser would not move past the entry.") };
    }
    if (length === undefined || at + length > bytes.length) {
      return { ok: false, offset: at, message: l10n.t("IVHD device entry type 0x{0} at byte {1} needs {2} bytes, only {3} are left", hex(type, 2), at, length ?? 22, bytes.length - at), hint: l10n.t("Entries of type 0x00-0x3f take 4 bytes, 0x40-0x7f take 8 (the alias or extended field in bytes 4-7).") };
    }
    const devid = bytes[at + 1]! | (bytes[at + 2]! << 8);
    const ext = length >= 8 ? (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0 : 0;
    entries.push({ offset: at, type, devid, flags: bytes[at + 3]!, ext, length });
    at += length;
  }
  return { ok: true, entries };
}

/** A 4-byte entry (types 0x00-0x3f). */
export function ivhdEntry4(type: number, devid: number, flags: number): number[] {
  return [type & 0xff, devid & 0xff, (devid >> 8) & 0xff, flags & 0xff];
}

/** An 8-byte entry (types 0x40-0x7f) with its ext dword. */
export function ivhdEntry8(type: number, devid: number, flags: number, ext: number): number[] {
  return [...ivhdEntry4(type, devid, flags), ext & 0xff, (ext >>> 8) & 0xff, (ext >>> 16) & 0xff, (ext >>> 24) & 0xff];
}

/** An alias entry's ext: the alias DeviceID in bits 23:8 (Linux `devid_to = e->ext >> 8`). */
export function aliasExt(devidTo: number): number {
  return (devidTo & 0xffff) << 8;
}

/**
 * Bytes as firmware dumps print them: hex pairs separated by spaces, commas or newlines, with or
 * without 0x ("43 00 ff 00 00 a5 00 00" or "0x43,0x00,..."). undefined when a token is not one byte.
 */
export function parseHexBytes(text: string): { bytes: number[] } | { bad: string } {
  const out: number[] = [];
  for (const tok of text.split(/[\s,]+/).filter((t) => t.length > 0)) {
    const m = /^(?:0x)?([0-9a-f]{1,2})$/i.exec(tok);
    if (!m) return { bad: tok };
    out.push(parseInt(m[1]!, 16));
  }
  return { bytes: out };
}

function hex(n: number, w: number): string {
  return n.toString(16).padStart(w, "0");
}
