/**
 * AMD-Vi entry and register decoders: the device table entry, v1 page-table entries, the MMIO
 * registers and event-log entries as DecodedField lists (sim/iommu.ts), bit positions as the AMD
 * IOMMU specification (48882) tabulates them (§2.2.2.1 Table 7 DTE fields, §2.2.3 PDE/PTE
 * fields, §3.4 MMIO registers, §2.5 event formats). The unit's checks use defs.ts; these lists
 * name the same bits for every view.
 *
 * Pure module: no vscode, no Node built-ins.
 */
import type { DecodedField } from "../iommu.js";
import { eventInfo, flagNames } from "./defs.js";

const hx = (v: bigint) => `0x${v.toString(16)}`;

function field(word: bigint, base: number, name: string, hi: number, lo: number, opts: { addr?: boolean; meaning?: (v: bigint) => string | undefined } = {}): DecodedField {
  const raw = (word >> BigInt(lo - base)) & ((1n << BigInt(hi - lo + 1)) - 1n);
  const shown = opts.addr ? raw << BigInt(lo - base) : raw;
  const meaning = opts.meaning?.(raw);
  return { name, hi, lo, raw, value: opts.addr || hi - lo >= 15 ? hx(shown) : raw.toString(), ...(meaning ? { meaning } : {}) };
}

const MODE_MEANING = (v: bigint) => (v === 0n ? "no translation (IR/IW decide)" : v === 7n ? "reserved" : `${v}-level table (${Math.min(64, 12 + 9 * Number(v))}-bit)`);

/** The four qwords of a DTE, fields in bit order (data[1..3] numbered from bit 64 on). */
export function dteFields(q: readonly bigint[]): DecodedField[] {
  const [d0 = 0n, d1 = 0n, d2 = 0n, d3 = 0n] = q;
  return [
    field(d0, 0, "V", 0, 0, { meaning: (v) => (v ? "valid" : "not valid: requests pass untranslated") }),
    field(d0, 0, "TV", 1, 1, { meaning: (v) => (v ? "translation information valid" : undefined) }),
    field(d0, 0, "HAD", 8, 7),
    field(d0, 0, "Mode", 11, 9, { meaning: MODE_MEANING }),
    field(d0, 0, "Page Table Root Pointer", 51, 12, { addr: true }),
    field(d0, 0, "PPR", 52, 52),
    field(d0, 0, "GIOV", 54, 54, { meaning: (v) => (v ? "requests without PASID use GCR3[0]" : undefined) }),
    field(d0, 0, "GV", 55, 55, { meaning: (v) => (v ? "GCR3 table valid: requests with PASID use v2 tables" : undefined) }),
    field(d0, 0, "GLX", 57, 56, { meaning: (v) => (v === 3n ? "reserved" : `${Number(v) + 1}-level GCR3 table`) }),
    field(d0, 0, "GCR3[14:12]", 60, 58),
    field(d0, 0, "IR", 61, 61, { meaning: (v) => (v ? "reads allowed" : "no reads") }),
    field(d0, 0, "IW", 62, 62, { meaning: (v) => (v ? "writes allowed" : "no writes") }),
    field(d1, 64, "DomainID", 79, 64),
    field(d1, 64, "GCR3[30:15]", 95, 80),
    field(d1, 64, "I", 96, 96),
    field(d1, 64, "SE", 97, 97),
    field(d1, 64, "SA", 98, 98, { meaning: (v) => (v ? "I/O page fault events suppressed" : undefined) }),
    field(d1, 64, "IoCtl", 100, 99),
    field(d1, 64, "SysMgt", 105, 104),
    field(d1, 64, "GCR3[51:31]", 127, 107),
    field(d2, 128, "IV", 128, 128, { meaning: (v) => (v ? "interrupt map valid" : undefined) }),
    field(d2, 128, "IntTabLen", 132, 129, { meaning: (v) => `${2 ** Number(v)} entries` }),
    field(d2, 128, "IG", 133, 133),
    field(d2, 128, "Interrupt Table Root Pointer", 179, 134, { addr: true }),
    field(d2, 128, "InitPass", 184, 184),
    field(d2, 128, "EIntPass", 185, 185),
    field(d2, 128, "NMIPass", 186, 186),
    field(d2, 128, "IntCtl", 189, 188, { meaning: (v) => ["target abort", "forwarded", "remapped", "reserved"][Number(v)]! }),
    field(d2, 128, "Lint0Pass", 190, 190),
    field(d2, 128, "Lint1Pass", 191, 191),
    field(d3, 192, "data[3]", 255, 192),
  ];
}

/** A v1 page-table entry at `level` (PDE when it points at a table, PTE when it maps). */
export function pteFields(v: bigint, level: number): DecodedField[] {
  const next = Number((v >> 9n) & 7n);
  return [
    field(v, 0, "PR", 0, 0, { meaning: (x) => (x ? "present" : "not present") }),
    field(v, 0, "A", 5, 5),
    field(v, 0, "D", 6, 6),
    field(v, 0, "Next Level", 11, 9, {
      meaning: (x) => (x === 0n ? `a page of ${sizeText(12 + 9 * (level - 1))} here` : x === 7n ? `a large page: ${sizeText(largeShiftOf(v))} (size in the address bits)` : Number(x) >= level ? "invalid (not below this level)" : Number(x) < level - 1 ? `level-${x} table, ${level - 1 - Number(x)} level(s) skipped` : `level-${x} table`),
    }),
    field(v, 0, next === 0 || next === 7 ? "Page Address" : "Next Table Address", 51, 12, { addr: true }),
    field(v, 0, "U", 59, 59),
    field(v, 0, "FC", 60, 60),
    field(v, 0, "IR", 61, 61),
    field(v, 0, "IW", 62, 62),
  ];
}

/** The spec's name of a v1 entry: "level-4 PDE" points at a table, "level-1 PTE" maps. */
export function entryName(level: number, v?: bigint): string {
  const next = v === undefined ? -1 : Number((v >> 9n) & 7n);
  return next === 0 || next === 7 || level === 1 ? `level-${level} PTE` : `level-${level} PDE`;
}

export function largeShiftOf(v: bigint): number {
  let n = 0;
  while (n < 40 && ((v >> BigInt(12 + n)) & 1n) === 1n) n++;
  return 13 + n;
}

export function sizeText(shift: number): string {
  const units: [number, string][] = [[40, "TiB"], [30, "GiB"], [20, "MiB"], [10, "KiB"]];
  for (const [s, u] of units) if (shift >= s) return `${2 ** (shift - s)} ${u}`;
  return `${2 ** shift} bytes`;
}

export interface AmdRegisterDef {
  name: string;
  offset: number;
  section: string;
  fields: (v: bigint) => DecodedField[];
}

const base = (name: string, lenName?: string) => (v: bigint): DecodedField[] => [
  field(v, 0, name, 51, 12, { addr: true }),
  ...(lenName ? [field(v, 0, lenName, 59, 56, { meaning: (x) => `${2 ** Number(x)} entries` })] : []),
];

export const AMD_REGISTERS: readonly AmdRegisterDef[] = [
  { name: "Device Table Base", offset: 0x0000, section: "3.4.1", fields: (v) => [field(v, 0, "DevTabBase", 51, 12, { addr: true }), field(v, 0, "Size", 8, 0, { meaning: (x) => `${Number(x) + 1} × 4 KiB` })] },
  { name: "Command Buffer Base", offset: 0x0008, section: "3.4.2", fields: base("ComBase", "ComLen") },
  { name: "Event Log Base", offset: 0x0010, section: "3.4.3", fields: base("EventBase", "EventLen") },
  {
    name: "Control",
    offset: 0x0018,
    section: "3.4.4",
    fields: (v) => [field(v, 0, "IommuEn", 0, 0), field(v, 0, "HtTunEn", 1, 1), field(v, 0, "EventLogEn", 2, 2), field(v, 0, "EventIntEn", 3, 3), field(v, 0, "ComWaitIntEn", 4, 4), field(v, 0, "InvTimeOut", 7, 5), field(v, 0, "CmdBufEn", 12, 12), field(v, 0, "PPRLogEn", 13, 13), field(v, 0, "PPRIntEn", 14, 14), field(v, 0, "PPREn", 15, 15), field(v, 0, "GAEn", 17, 17), field(v, 0, "GALogEn", 28, 28), field(v, 0, "GAIntEn", 29, 29)],
  },
  { name: "Extended Feature", offset: 0x0030, section: "3.4.7", fields: (v) => [field(v, 0, "HATS", 11, 10, { meaning: (x) => `${Number(x) + 4}-level tables supported` })] },
  { name: "PPR Log Base", offset: 0x0038, section: "3.4.8", fields: base("PPRLogBase", "PPRLogLen") },
  // The GA log's registers as Linux's iommu_ga_log_enable programs them (amd_iommu_types.h
  // MMIO_GA_LOG_BASE_OFFSET / _TAIL_OFFSET, GA_LOG_SIZE_512 = 8 << 56 for 512 entries).
  { name: "GA Log Base", offset: 0x00e0, section: "3.4", fields: (v) => [field(v, 0, "GALogBase", 51, 12, { addr: true }), field(v, 0, "GALogLen", 59, 56, { meaning: (x) => `${2 ** (Number(x) + 1)} entries` })] },
  { name: "GA Log Tail Address", offset: 0x00e8, section: "3.4", fields: (v) => [field(v, 0, "GALogTailAddr", 51, 3, { addr: true })] },
  { name: "Command Buffer Head", offset: 0x2000, section: "3.4.10", fields: (v) => [field(v, 0, "CmdHdPtr", 18, 4, { meaning: (x) => `entry ${x}` })] },
  { name: "Command Buffer Tail", offset: 0x2008, section: "3.4.10", fields: (v) => [field(v, 0, "CmdTailPtr", 18, 4, { meaning: (x) => `entry ${x}` })] },
  { name: "Event Log Head", offset: 0x2010, section: "3.4.11", fields: (v) => [field(v, 0, "EventHdPtr", 18, 4, { meaning: (x) => `entry ${x}` })] },
  { name: "Event Log Tail", offset: 0x2018, section: "3.4.11", fields: (v) => [field(v, 0, "EventTailPtr", 18, 4, { meaning: (x) => `entry ${x}` })] },
  {
    name: "Status",
    offset: 0x2020,
    section: "3.4.12",
    fields: (v) => [field(v, 0, "EventOverflow", 0, 0), field(v, 0, "EventLogInt", 1, 1), field(v, 0, "ComWaitInt", 2, 2), field(v, 0, "EventLogRun", 3, 3), field(v, 0, "CmdBufRun", 4, 4), field(v, 0, "PPROverflow", 5, 5), field(v, 0, "PPRInt", 6, 6), field(v, 0, "PPRLogRun", 7, 7), field(v, 0, "GALogRun", 8, 8), field(v, 0, "GALogOverflow", 9, 9), field(v, 0, "GAInt", 10, 10)],
  },
  { name: "PPR Log Head", offset: 0x2030, section: "3.4.13", fields: (v) => [field(v, 0, "PPRHdPtr", 18, 4, { meaning: (x) => `entry ${x}` })] },
  { name: "PPR Log Tail", offset: 0x2038, section: "3.4.13", fields: (v) => [field(v, 0, "PPRTailPtr", 18, 4, { meaning: (x) => `entry ${x}` })] },
  // Byte offsets into the GA log (iommu_poll_ga_log steps the head by GA_ENTRY_SIZE 8).
  { name: "GA Log Head", offset: 0x2040, section: "3.4", fields: (v) => [field(v, 0, "GAHdPtr", 18, 3, { meaning: (x) => `entry ${x}` })] },
  { name: "GA Log Tail", offset: 0x2048, section: "3.4", fields: (v) => [field(v, 0, "GATailPtr", 18, 3, { meaning: (x) => `entry ${x}` })] },
];

/** A GA log entry's fields (one qword: Linux's GA_TAG 31:0, GA_DEVID 47:32, GA_REQ_TYPE 63:60). */
export function gaLogFields(v: bigint, kvmReads?: (tag: number) => string): DecodedField[] {
  return [
    // A GA_GUEST_NR entry's tag as the host kernel's KVM reads it (`kvmReads`: avic.ts gaTagFields).
    field(v, 0, "GATag", 31, 0, kvmReads === undefined || v >> 60n !== 1n ? {} : { meaning: (t) => kvmReads(Number(t)) }),
    field(v, 0, "DeviceID", 47, 32, { meaning: (d) => `${(d >> 8n).toString(16).padStart(2, "0")}:${((d >> 3n) & 0x1fn).toString(16).padStart(2, "0")}.${d & 7n}` }),
    field(v, 0, "Type", 63, 60, { meaning: (t) => (t === 1n ? "GA_GUEST_NR: an interrupt for a vCPU that is not running" : "not a type Linux handles (ignored)") }),
  ];
}

/** An event-log entry's fields (event[0..3] as two qwords, low first). */
export function eventFields(lo: bigint, hi: bigint): DecodedField[] {
  const code = Number((lo >> 60n) & 0xfn);
  const flags = (lo >> 48n) & 0xfffn;
  return [
    field(lo, 0, "DeviceID", 15, 0, { meaning: (v) => `${(v >> 8n).toString(16).padStart(2, "0")}:${((v >> 3n) & 0x1fn).toString(16).padStart(2, "0")}.${v & 7n}` }),
    field(lo, 0, "PASID[19:16]", 19, 16),
    field(lo, 0, code === 2 ? "DomainID" : "PASID[15:0]", 47, 32),
    { ...field(lo, 0, "Flags", 59, 48), value: hx(flags), ...(flagNames(Number(flags)).length ? { meaning: flagNames(Number(flags)).join(" ") } : {}) },
    field(lo, 0, "EventCode", 63, 60, { meaning: () => eventInfo(code).name }),
    field(hi, 64, "Address", 127, 64, { addr: true }),
  ];
}

/** The GCR3 table root a DTE names (GCR3[14:12] in data[0] 60:58, [30:15] in data[1] 31:16, [51:31] in data[1] 63:43). */
export function dteGcr3Root(d0: bigint, d1: bigint): bigint {
  return (((d0 >> 58n) & 7n) << 12n) | (((d1 >> 16n) & 0xffffn) << 15n) | (((d1 >> 43n) & 0x1fffffn) << 31n);
}

/**
 * An IRTE (AMD IOMMU spec 2.2.5; Linux amd_iommu_types.h union irte, irte_ga_lo / irte_ga_hi):
 * 32-bit (Control.GAEn = 0), 128-bit remapped, or 128-bit guest virtual APIC (GuestMode = 1,
 * fields_vapic: the layout intremap.ts decodeIrte reads).
 */
export function irteFields(lo: bigint, hi: bigint, ga: boolean): DecodedField[] {
  const common = [field(lo, 0, "RemapEn", 0, 0, { meaning: (v) => (v ? "valid" : "not valid: the MSI faults") }), field(lo, 0, "SupIOPF", 1, 1, { meaning: (v) => (v ? "its faults are not logged" : undefined) })];
  const remapped = [field(lo, 0, "IntType", 4, 2, { meaning: (v) => ["fixed", "arbitrated"][Number(v)] ?? "reserved" }), field(lo, 0, "RqEoi", 5, 5), field(lo, 0, "DM", 6, 6, { meaning: (v) => (v ? "logical" : "physical") })];
  if (!ga) return [...common, ...remapped, field(lo, 0, "GuestMode", 7, 7), field(lo, 0, "Destination", 15, 8), field(lo, 0, "Vector", 23, 16)];
  const vapic = ((lo >> 7n) & 1n) === 1n;
  return [
    ...common,
    ...(vapic
      ? [field(lo, 0, "GALogIntr", 2, 2, { meaning: (v) => (v ? "a vCPU not running gets a GA log entry" : undefined) }), field(lo, 0, "IsRun", 6, 6, { meaning: (v) => (v ? "vCPU running: doorbell to Destination" : "vCPU not running") })]
      : remapped),
    field(lo, 0, "GuestMode", 7, 7, { meaning: (v) => (v ? "guest virtual APIC: posted into the vAPIC backing page" : "remapped") }),
    field(lo, 0, "Destination[23:0]", 31, 8),
    field(lo, 0, "GATag", 63, 32),
    field(hi, 64, "Vector", 71, 64),
    ...(vapic ? [field(hi, 64, "GA Root Ptr", 115, 76, { addr: true, meaning: () => "the vAPIC backing page" })] : []),
    field(hi, 64, "Destination[31:24]", 127, 120),
  ];
}

/** A GCR3 table entry: V (GCR3_VALID) and the table or guest CR3 at 51:12. */
export function gcr3Fields(v: bigint, last: boolean): DecodedField[] {
  return [field(v, 0, "V", 0, 0, { meaning: (x) => (x ? "valid" : "not valid") }), field(v, 0, last ? "Guest CR3" : "Next GCR3 Table", 51, 12, { addr: true })];
}

/** A v2 (x86-64 long-mode) page-table entry at `level` (io_pgtable_v2.c IOMMU_PAGE_*). */
export function v2Fields(v: bigint, level: number): DecodedField[] {
  const leaf = level === 1 || ((level === 2 || level === 3) && (v & 0x80n) !== 0n);
  return [
    field(v, 0, "P", 0, 0, { meaning: (x) => (x ? "present" : "not present") }),
    field(v, 0, "R/W", 1, 1, { meaning: (x) => (x ? "writable" : "read-only") }),
    field(v, 0, "U/S", 2, 2, { meaning: (x) => (x ? "user" : "supervisor only") }),
    field(v, 0, "PWT", 3, 3),
    field(v, 0, "PCD", 4, 4),
    field(v, 0, "A", 5, 5),
    field(v, 0, "D", 6, 6),
    field(v, 0, "PS", 7, 7, { meaning: (x) => (x && level > 1 ? (level === 4 ? "reserved at this level" : `a ${sizeText(12 + 9 * (level - 1))} page`) : undefined) }),
    field(v, 0, leaf ? "Page Address" : "Next Table Address", 51, 12, { addr: true }),
    field(v, 0, "NX", 63, 63),
  ];
}

/** The x86 name of a v2 entry at `level` (AMD IOMMU spec, guest page tables: PML4E, PDPE, PDE, PTE). */
export function v2EntryName(level: number): string {
  return ["", "PTE", "PDE", "PDPE", "PML4E", "PML5E"][level] ?? `level-${level} entry`;
}
