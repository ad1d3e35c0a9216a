/**
 * A scenario that reproduces the evidence: the host's PCI devices from group listings, lspci and
 * fault records, with the root ports and groups the listing shows; one VM with the devices the
 * evidence shows assigned (bound to vfio-pci, a hostdev, or faulting) behind a vIOMMU with
 * caching mode (so nothing is mapped that the guest did not map); the ftrace map/unmap history
 * replayed as guest-map / guest-unmap steps; every DMA fault as a `dma` step that expects the
 * fault the log shows (identical faults folded into one step with `repeat`).
 *
 * Every record that reports a fault or a refusal is either reproduced (its index is in
 * `reproduced`) or named in `notes` with the reason. Faults the model reproduces: VT-d 0x05/0x06,
 * AMD-Vi IO_PAGE_FAULT, SMMU F_TRANSLATION and ftrace io_page_fault (all become VT-d 0x05/0x06 in
 * the Intel model); and, with a set-up around their step (Recipe below), VT-d 0x01/0x02/0x07,
 * interrupt-remapping 0x22/0x25, AMD-Vi writes to present pages and ILLEGAL_DEV_TABLE_ENTRY, SMMUv3
 * F_PERMISSION and C_BAD_STE. Evidence whose faults all come from an Arm SMMUv3 gets an smmuv3 host instead
 * (docs/smmuv3.md): F_TRANSLATION stays event 0x10 at its exact input address, the SMMU keeps its
 * device name, a StreamID that is not the requester id becomes the host's iommu-map, and kernels
 * that print the decoded lines get them.
 * Evidence whose only IOMMU faults are AMD-Vi events gives an amd-vi host whose steps expect
 * event code 0x2 (evidenceModel).
 *
 * Written with the `yaml` library's document API, so every name and driver from the evidence is
 * quoted as YAML needs (a VM called `null` stays a string) and comments sit above their steps.
 */
import { Document, Scalar, YAMLMap, YAMLSeq } from "yaml";
import type { EvidenceRecord } from "./records.js";
import { stripAnsi } from "./lines.js";
import { bdfKey, parseBdf } from "../sim/bdf.js";
import { VIRT_RAM_BASE } from "../sim/kvm.js";
import { MSI_WINDOW } from "../sim/reserved.js";
import { VIRTIO_IOMMU_SW_MSI } from "../sim/viommu.js";
import { hasHostTables, hostTablesScenario, type HostTablesOptions } from "./hostTables.js";

export interface SynthesisResult {
  text: string;
  /** Records turned into steps, by index into the input list. */
  reproduced: number[];
  /** Records the scenario only mentions in comments, with why. */
  notes: string[];
  /** A host-tables scenario (debugfs dumps, hostTables.ts): the table entries it writes into memory. */
  hostTables?: number;
}

interface Dev {
  key: string;
  name?: string;
  cls?: string;
  id?: string;
  group?: number;
  /** The bound driver the evidence shows (lspci), if any. */
  driver?: string;
  /** The evidence shows the device assigned to the VM (vfio-pci, a hostdev, a DMA fault). */
  assigned: boolean;
}

/**
 * How a fault is brought about. "absent": nothing is mapped at the page (VT-d 0x05/0x06, AMD-Vi
 * IO_PAGE_FAULT without PR, SMMU F_TRANSLATION). The others set the host up for the one step and
 * put it back after it, so later steps see the host as before:
 * - "read-only": the guest maps the page read-only and the device writes (AMD-Vi IO_PAGE_FAULT with
 *   PR and PE, SMMU F_PERMISSION).
 * - "root" / "context": the present bit of the device's root or context entry (VT-d 0x01 / 0x02;
 *   bit 0 of each, VT-d spec 9.1 and 9.3) cleared, and the context cache flushed.
 * - "pointer": the guest maps the page, and the top-level entry's address is moved above the host's
 *   memory, so reading the next table fails (VT-d 0x07).
 * - "root-rsvd" / "context-rsvd" / "pte-rsvd": a reserved bit set in the root entry, the context
 *   entry or the page's leaf (VT-d 0x0a / 0x0b / 0x0c).
 * - "dte" / "ste": a reserved bit set in the DTE (AMD-Vi ILLEGAL_DEV_TABLE_ENTRY) / the STE's V
 *   bit cleared (SMMUv3 C_BAD_STE), and the entry invalidated.
 * - "irte" / "compat": an MSI through an IRTE the host never programmed (VT-d 0x22) / an MSI in
 *   compatibility format, which Linux blocks (0x25).
 */
type Recipe = "absent" | "read-only" | "root" | "context" | "pointer" | "root-rsvd" | "context-rsvd" | "pte-rsvd" | "dte" | "ste" | "irte" | "compat";

/** The recipes whose step needs the page mapped (a `guest-map` before it, a `guest-unmap` after), with the permissions. */
const PAGE_MAP: Partial<Record<Recipe, "r" | "rw">> = { "read-only": "r", pointer: "rw", "pte-rsvd": "rw" };

/** A poke of the faulting device's entry: the target (without the device), the bits set or cleared, and the step's comment. */
interface EntryPoke {
  target: [string, unknown][];
  op: "set" | "clear";
  bits: bigint;
  why: string;
}

/**
 * The entry a recipe changes for its one step (undone by the opposite op after it), or undefined.
 * `page`: the faulting page; `rootHi`: a scalable-mode root entry's upper half serves the devfn.
 */
function entryPoke(recipe: Recipe, page: Scalar, rootHi: boolean): EntryPoke | undefined {
  switch (recipe) {
    case "root":
      // A scalable-mode root entry has a present bit per half: the upper 64 bits serve devfn 0x80-0xff (VT-d 9.2).
      return { target: [["structure", rootHi ? "root-hi" : "root"]], op: "clear", bits: 1n, why: "The root entry of the device's bus loses its present bit (what a 0x01 fault reports), for this DMA only." };
    case "context":
      return { target: [["structure", "context-lo"]], op: "clear", bits: 1n, why: "The device's context entry loses its present bit (what a 0x02 fault reports: no domain for this requester id), for this DMA only." };
    case "pointer":
      // Bit 46 is below the 48-bit address width (not reserved) and far above the host's memory.
      return { target: [["structure", "pte"], ["iova", page], ["level", 4]], op: "set", bits: 1n << 46n, why: "The top-level entry points above the host's memory, so the next table cannot be read (0x07), for this DMA only." };
    // Legacy root entry bits 11:1 and context entry (upper qword) bit 7 are reserved (VT-d 9.1, 9.3);
    // a second-level leaf's bits 51:48 lie above the 48-bit address width (9.8; QEMU vtd_spte_rsvd).
    case "root-rsvd":
      return { target: [["structure", "root"]], op: "set", bits: 0x2n, why: "A reserved bit of the root entry set (0x0a), for this DMA only." };
    case "context-rsvd":
      return { target: [["structure", "context-hi"]], op: "set", bits: 0x80n, why: "A reserved bit of the device's context entry set (0x0b), for this DMA only." };
    case "pte-rsvd":
      return { target: [["structure", "pte"], ["iova", page], ["level", 1]], op: "set", bits: 1n << 48n, why: "A reserved bit of the page's leaf entry set (0x0c: a stale or corrupted entry), for this DMA only." };
    case "dte":
      // DTE bits 6:2 are reserved (AMD IOMMU spec 2.2.2.1): ILLEGAL_DEV_TABLE_ENTRY once the unit reads the entry again.
      return { target: [["structure", "context-lo"]], op: "set", bits: 0x4n, why: "A reserved bit of the device's DTE set and the DTE invalidated (ILLEGAL_DEV_TABLE_ENTRY), for this DMA only." };
    case "ste":
      // STE.V is bit 0 of STE word 0 (SMMUv3 spec 5.2): an STE with V = 0 is C_BAD_STE.
      return { target: [["structure", "context-lo"]], op: "clear", bits: 1n, why: "The device's STE made invalid (V = 0) and invalidated (C_BAD_STE), for this DMA only." };
    default:
      return undefined;
  }
}

interface Fault {
  records: number[];
  dev: string;
  iova: bigint;
  write: boolean;
  reason: number;
  recipe: Recipe;
  /** An interrupt-remapping fault's IRTE index. */
  index?: number;
}

/** An Arm host: the SMMU's device name, its requester-id -> StreamID offset, the decoded lines' era. */
interface ArmHost {
  device: string;
  rid: number;
  sid: number;
  decoded: boolean;
}

/** The requester id of a device key ("01:00.0", "0000:01:00.0"): bus << 8 | device << 3 | function. */
function ridOfKey(key: string): number {
  return (parseInt(key.slice(-7, -5), 16) << 8) | (parseInt(key.slice(-4, -2), 16) << 3) | Number(key.slice(-1));
}

/**
 * The SMMU of evidence whose faults all come from an SMMUv3 (none from VT-d or AMD-Vi): its
 * device name ("arm-smmu-v3 fc900000.iommu" -> "fc900000.iommu"), the first faulting client's
 * requester id and StreamID (the iommu-map), and whether the kernel printed the decoded lines.
 */
function armHost(records: EvidenceRecord[]): ArmHost | undefined {
  if (records.some((r) => r.kind === "dmar-fault" || r.kind === "amdvi-event")) return undefined;
  const ev = records.filter((r) => r.kind === "smmuv3-event" && r.fields.event !== "EVTQ_OVERFLOW" && r.fields.event !== "PRIQ_OVERFLOW");
  if (ev.length === 0) return undefined;
  const withDev = ev.find((r) => typeof r.fields.smmu === "string") ?? ev[0]!;
  const dev = typeof withDev.fields.smmu === "string" ? withDev.fields.smmu.replace(/^arm-smmu-v3 /, "") : "arm-smmu-v3.0.auto";
  const client = ev.find((r) => pciKey(r.fields.client) !== undefined && typeof r.fields.sid === "number");
  const key = client ? pciKey(client.fields.client)! : undefined;
  const rid = key ? ridOfKey(key) : 0;
  return { device: /^[\w.:-]{1,64}$/.test(dev) ? dev : "arm-smmu-v3.0.auto", rid, sid: client ? Number(client.fields.sid) : rid, decoded: ev.some((r) => r.fields.client !== undefined) };
}

/** Distinct fault steps kept: beyond this the scenario would pass simulate's size limit. */
export const MAX_FAULT_STEPS = 10_000;
/** Linux DEFAULT_RATELIMIT_BURST (dmar_fault's printk ratelimit) and a wait longer than its 5 s interval. */
const DMAR_RATELIMIT_BURST = 10;
const DMAR_RATELIMIT_WAIT = "6s";
/** Printable text for a name: no colour codes or control characters, at most 80 characters. */
const clean = (s: string) => stripAnsi(s).replace(/[\x00-\x1f\x7f]/g, " ").trim().slice(0, 80);
/** "0000:01:00.0" -> "01:00.0" (sim/bdf.ts, the one BDF parser); undefined for anything that is not a PCI address. */
const pciKey = (text: unknown): string | undefined => (typeof text === "string" ? bdfKey(text) : undefined);
const busOf = (key: string) => key.slice(-7, -5);
const isPciBridge = (d: Dev) => /^PCI bridge/i.test(d.cls ?? "");
const isHostBridge = (d: Dev) => /^Host bridge/i.test(d.cls ?? "");

function quoted(s: string): Scalar {
  const n = new Scalar(s);
  n.type = Scalar.QUOTE_DOUBLE;
  return n;
}
function hex(v: bigint | number): Scalar {
  const n = new Scalar(typeof v === "bigint" ? v : BigInt(v));
  n.format = "HEX";
  return n;
}
function flow(entries: [string, unknown][]): YAMLMap {
  const m = new YAMLMap();
  m.flow = true;
  for (const [k, v] of entries) if (v !== undefined) m.set(k, v);
  return m;
}

/** The faults the model reproduces, and notes for the fault-like records it does not. */
/**
 * The host model the evidence shows: amd-vi when AMD-Vi events are its only IOMMU faults (their
 * IO_PAGE_FAULTs are then reproduced as AMD-Vi event code 2), intel-vtd otherwise.
 */
export function evidenceModel(records: readonly EvidenceRecord[]): "intel-vtd" | "amd-vi" {
  return records.some((r) => r.kind === "amdvi-event") && !records.some((r) => r.kind === "dmar-fault") ? "amd-vi" : "intel-vtd";
}

/**
 * Evidence from several SMMUs (docs/multi-unit.md): every event names its SMMU ("arm-smmu-v3
 * arm-smmu-v3.1.auto: event 0x10 received:") and, in the decoded lines, its PCI client. One
 * ArmHost per SMMU, with the clients it reported, in the platform devices' numbering
 * (arm-smmu-v3.N.auto: IORT order) or else the order the log names them. Undefined for one SMMU,
 * or when a raw dump leaves an event's client unknown (which SMMU a device sits behind is then a guess).
 */
function armHosts(records: EvidenceRecord[]): (ArmHost & { clients: Set<string> })[] | undefined {
  if (records.some((r) => r.kind === "dmar-fault" || r.kind === "amdvi-event")) return undefined;
  const ev = records.filter((r) => r.kind === "smmuv3-event" && r.fields.event !== "EVTQ_OVERFLOW");
  const smmu = (r: EvidenceRecord) => (typeof r.fields.smmu === "string" ? r.fields.smmu.replace(/^arm-smmu-v3 /, "") : "");
  const names = [...new Set(ev.map(smmu))];
  if (names.length < 2 || names.some((n) => !/^[\w.:-]{1,64}$/.test(n)) || ev.some((r) => pciKey(r.fields.client) === undefined)) return undefined;
  const auto = (n: string) => /^arm-smmu-v3\.(\d+)\.auto$/.exec(n)?.[1];
  if (names.every((n) => auto(n) !== undefined)) names.sort((a, b) => Number(auto(a)) - Number(auto(b)));
  return names.map((n) => {
    const mine = ev.filter((r) => smmu(r) === n);
    const key = pciKey(mine[0]!.fields.client)!;
    const rid = ridOfKey(key);
    const sid = typeof mine[0]!.fields.sid === "number" ? Number(mine[0]!.fields.sid) : rid;
    return { device: n, rid, sid, decoded: true, clients: new Set(mine.map((r) => pciKey(r.fields.client)!)) };
  });
}

/** An SMMU unit of host.iommu / host.iommus: its StreamID width, device name and iommu-map. */
function smmuEntries(arm: ArmHost): [string, unknown][] {
  const map = arm.sid !== arm.rid ? ([["iommu-map", flow([["rid-base", hex(arm.rid)], ["sid-base", hex(arm.sid)]])]] as [string, unknown][]) : [];
  return [["model", "smmuv3"], ["stream-id-bits", Math.min(24, Math.max(16, Math.ceil(Math.log2(Math.max(arm.sid, arm.rid) + 1))))], ["device-name", arm.device], ...map];
}

/** A scalar of a host.pci entry as text ("bdf", "parent"). */
function field(m: YAMLMap, k: string): string | undefined {
  const v = m.get(k, true);
  return v === undefined ? undefined : String(v.value);
}

/**
 * Each root port (or bridge) no unit holds yet goes to the unit of the first device below it that
 * one holds: a DRHD, IVHD or IORT scope names the port of a hierarchy.
 */
function portsFollowDevices(items: YAMLMap[], unitOf: Map<string, number>): void {
  for (const m of items) {
    const bdf = field(m, "bdf");
    const parent = field(m, "parent");
    if (bdf !== undefined && parent !== undefined && unitOf.has(bdf) && !unitOf.has(parent)) unitOf.set(parent, unitOf.get(bdf)!);
  }
}

/**
 * host.iommus of evidence from several SMMUs: each unit's scope lists the clients it reported and
 * the root ports above them (IORT: the root complex behind the SMMU); the devices no event places
 * go to the first unit, which the generated comment says.
 */
function smmuUnits(arms: (ArmHost & { clients: Set<string> })[], pci: YAMLSeq): YAMLSeq {
  const unitOf = new Map<string, number>();
  arms.forEach((a, i) => a.clients.forEach((k) => unitOf.set(k, i)));
  const items = pci.items as YAMLMap[];
  portsFollowDevices(items, unitOf);
  const units = new YAMLSeq();
  arms.forEach((a, i) => {
    const scope = new YAMLSeq();
    scope.flow = true;
    for (const m of items) {
      const bdf = field(m, "bdf");
      if (bdf !== undefined && (unitOf.get(bdf) ?? 0) === i) scope.items.push(quoted(bdf));
    }
    const unit = flow([...smmuEntries(a), ["devices", scope]]);
    if (i === 0 && items.some((m) => !unitOf.has(field(m, "bdf") ?? ""))) unit.commentBefore = " No event places the devices not named by an event: they are listed under the first SMMU.";
    units.items.push(unit);
  });
  return units;
}

/**
 * A VT-d or AMD-Vi unit a kernel log names (docs/multi-unit.md "Evidence"): VT-d from the DMAR
 * table lines ("DMAR: DRHD base: 0x000000fed91000 flags: 0x1") and the units made of them
 * ("DMAR: dmar1: reg_base_addr fed91000 ver 1:0 cap ... ecap ..."), AMD-Vi from "AMD-Vi: Found
 * IOMMU at 0000:40:00.2 cap 0x40" (init.c, in IVHD order), both from `/sys/class/iommu/<unit>/devices/`
 * paths and AMD-Vi events that 4.15-4.19 printed with the IOMMU's "iommu ivhd0: " prefix. Fault
 * lines never name a VT-d unit: dmar_fault_do_one() prints "[%s NO_PASID] Request device ..." and
 * dmar_fault() "DRHD: handling fault status reg %x", neither with iommu->name (drivers/iommu/intel/dmar.c).
 */
interface LogUnit {
  name: string;
  /** VT-d: the DRHD's register base (the scenario's register-base); AMD-Vi logs do not print the IVHD's. */
  base?: bigint;
  /** VT-d: INCLUDE_PCI_ALL, when a DRHD line gives the flags. */
  includeAll?: boolean;
  /** AMD-Vi: the bus of the IOMMU's own PCI function (the root complex it sits on). */
  bus?: number;
  /** The boot lines that describe the unit, for its comment. */
  about: string[];
  /** Devices the evidence places in the unit. */
  placed: Set<string>;
}

const fact = (r: EvidenceRecord, f: string) => r.kind === "boot-state" && r.fields.fact === f;

/** The units a VT-d (DMAR) or AMD-Vi (IVHD) log names; undefined for fewer than two. */
function logUnits(records: readonly EvidenceRecord[], model: "intel-vtd" | "amd-vi"): LogUnit[] | undefined {
  const prefix = model === "intel-vtd" ? "dmar" : "ivhd";
  let units: LogUnit[] = [];
  if (model === "intel-vtd") {
    // One unit per register base, in DMAR table order; named by the log's dmarN when it names them all.
    const byBase = new Map<string, LogUnit & { index?: number }>();
    for (const r of records) {
      if (!fact(r, "drhd") && !fact(r, "vtd-unit")) continue;
      const key = String(r.fields.base);
      let u = byBase.get(key);
      if (!u) byBase.set(key, (u = { name: "", base: BigInt(key), about: [], placed: new Set() }));
      if (fact(r, "drhd")) u.includeAll = r.fields.includeAll === true;
      else {
        u.index = Number(String(r.fields.unit).slice(4));
        u.about.push(`cap ${String(r.fields.cap)} ecap ${String(r.fields.ecap)}`);
      }
      if (!u.about.some((a) => a.startsWith("log line"))) u.about.unshift(`log line ${r.line + 1}`);
    }
    const all = [...byBase.values()];
    const indices = all.map((u) => u.index ?? -1).sort((a, b) => a - b);
    if (indices.every((x, i) => x === i)) all.sort((a, b) => a.index! - b.index!);
    units = all;
  } else {
    const seen = new Set<string>();
    for (const r of records) {
      if (!fact(r, "amdvi-found") || pciKey(r.fields.device) === undefined || seen.has(String(r.fields.device))) continue;
      seen.add(String(r.fields.device));
      units.push({ name: "", bus: parseInt(String(r.fields.device).slice(5, 7), 16), about: [`log line ${r.line + 1}`, `IOMMU at ${String(r.fields.device)} cap ${String(r.fields.cap)}`], placed: new Set() });
    }
  }
  units.forEach((u, i) => (u.name = `${prefix}${i}`));
  // Devices the evidence places: sysfs links, and AMD-Vi events of the dev_err era naming their IVHD.
  for (const r of records) {
    const unit = fact(r, "unit-device") ? String(r.fields.unit) : r.kind === "amdvi-event" && typeof r.fields.unit === "string" ? r.fields.unit : undefined;
    const key = pciKey(r.fields.device);
    if (unit === undefined || !unit.startsWith(prefix) || key === undefined) continue;
    const n = Number(unit.slice(prefix.length));
    // Linux numbers units from 0; a bound on what one link can add (a DMAR table has a few DRHDs).
    if (n > 31) continue;
    while (units.length <= n) units.push({ name: `${prefix}${units.length}`, about: [], placed: new Set() });
    // The last line that places a device wins (a later boot of a log with two).
    for (const u of units) u.placed.delete(key);
    units[n]!.placed.add(key);
  }
  return units.length >= 2 ? units : undefined;
}

/**
 * host.iommus of a VT-d or AMD-Vi log's units. Each unit's scope: the devices the evidence places
 * in it (and the root port above each, as a DRHD or IVHD scope names the port of a hierarchy);
 * otherwise a documented rule, which `guessed` reports:
 * - VT-d: 00:02.0 goes to the first DRHD without INCLUDE_PCI_ALL that the evidence leaves empty
 *   (Intel client firmware's first DRHD covers the integrated GPU alone, a laptop's dmar0); every
 *   other device to the INCLUDE_PCI_ALL unit, or, when no DRHD line gives the flags, to the last
 *   unit, given include-all (VT-d spec 8.3: that DRHD is the last);
 * - AMD-Vi: a device goes to the IOMMU on the highest root bus not above its own bus (on EPYC each
 *   IOMMU is function 2 of its root complex, 00:00.2, 40:00.2, ..., and its IVHD covers that root's buses);
 * - a unit left without a device gets a root port of its own with nothing behind it, as a place to
 *   list its devices (host.iommus needs a scope per unit).
 */
function logUnitsYaml(units: LogUnit[], model: "intel-vtd" | "amd-vi", pci: YAMLSeq, placeholder: () => string, guessed: string[]): YAMLSeq {
  const items = pci.items as YAMLMap[];
  const has = new Set(items.map((m) => field(m, "bdf")));
  const unitOf = new Map<string, number>();
  units.forEach((u, i) => u.placed.forEach((k) => has.has(k) && unitOf.set(k, i)));
  portsFollowDevices(items, unitOf);
  const fromEvidence = unitOf.size;
  let includeAll = units.findIndex((u) => u.includeAll === true);
  const known = units.some((u) => u.includeAll !== undefined);
  /** The unit that takes the devices nothing else places: VT-d's include-all unit, else the last. */
  let catchAll = units.length - 1;
  if (includeAll >= 0 && includeAll !== units.length - 1) {
    // The scenario's include-all unit is the last (VT-d 8.3); a log that shows it elsewhere (a partial or
    // mixed log) gets that unit's devices listed instead.
    catchAll = includeAll;
    guessed.push(`${units[includeAll]!.name} has INCLUDE_PCI_ALL but is not the last DRHD: the devices no other unit takes are listed in its scope`);
    includeAll = -1;
  }
  if (model === "intel-vtd") {
    const gpu = units.findIndex((u, i) => u.includeAll !== true && ![...unitOf.values()].includes(i));
    if (has.has("00:02.0") && !unitOf.has("00:02.0") && gpu >= 0 && gpu < units.length - 1) {
      unitOf.set("00:02.0", gpu);
      guessed.push(`00:02.0 is in ${units[gpu]!.name}'s scope: the first DRHD without INCLUDE_PCI_ALL covers the integrated GPU on Intel client platforms (the log does not list DRHD scopes)`);
    }
    if (includeAll < 0 && !known) {
      includeAll = units.length - 1;
      guessed.push(`${units[includeAll]!.name} has include-all: no "DRHD base: ... flags:" line says which DRHD has INCLUDE_PCI_ALL, and that DRHD is the last (VT-d spec 8.3)`);
    }
  }
  const rest: string[] = [];
  if (model === "amd-vi") {
    const byBus = (bdf: string) => {
      const bus = parseInt(bdf.slice(-7, -5), 16);
      let at = 0;
      let best = -1;
      units.forEach((u, i) => {
        if (u.bus !== undefined && u.bus <= bus && u.bus > best) [at, best] = [i, u.bus];
      });
      return at;
    };
    // Devices below a port first (their bus is the root complex's), then the ports with them, then the rest.
    for (const m of items) {
      const bdf = field(m, "bdf");
      if (bdf === undefined || unitOf.has(bdf) || field(m, "parent") === undefined) continue;
      unitOf.set(bdf, byBus(bdf));
      rest.push(bdf);
    }
    for (const m of items) {
      const bdf = field(m, "bdf");
      const parent = field(m, "parent");
      if (bdf !== undefined && parent !== undefined && !unitOf.has(parent)) unitOf.set(parent, unitOf.get(bdf)!);
    }
    for (const m of items) {
      const bdf = field(m, "bdf");
      if (bdf === undefined || unitOf.has(bdf)) continue;
      unitOf.set(bdf, byBus(bdf));
      rest.push(bdf);
    }
  } else if (includeAll < 0) {
    for (const m of items) {
      const bdf = field(m, "bdf");
      if (bdf === undefined || unitOf.has(bdf) || field(m, "parent") !== undefined) continue;
      unitOf.set(bdf, catchAll);
      rest.push(bdf);
    }
  }
  if (rest.length && model === "amd-vi") guessed.push(`${rest.join(", ")}: placed by bus number (the IOMMU on the highest root bus not above the device's); the log does not list IVHD device entries`);
  else if (rest.length) guessed.push(`${rest.join(", ")}: in ${units[catchAll]!.name}'s scope: the log lists no DRHD scopes, and no last DRHD with INCLUDE_PCI_ALL takes them`);
  // A unit the log names without its base (a sysfs link only) gets the next free page after the others'.
  const bases = new Set(units.flatMap((u) => (u.base !== undefined ? [u.base] : [])));
  if (bases.size > 0) {
    let next = [...bases].reduce((a, b) => (a > b ? a : b));
    for (const u of units) {
      if (u.base !== undefined) continue;
      do next += 0x1000n;
      while (bases.has(next));
      u.base = next;
      guessed.push(`${u.name}'s register base 0x${next.toString(16)}: the log does not print it`);
    }
  }
  const out = new YAMLSeq();
  units.forEach((u, i) => {
    const scope = new YAMLSeq();
    scope.flow = true;
    for (const m of items) {
      const bdf = field(m, "bdf");
      const parent = field(m, "parent");
      // A device below a port of the same unit is covered by the port.
      if (bdf !== undefined && unitOf.get(bdf) === i && !(parent !== undefined && unitOf.get(parent) === i)) scope.items.push(quoted(bdf));
    }
    if (scope.items.length === 0 && i !== includeAll) {
      const port = placeholder();
      scope.items.push(quoted(port));
      guessed.push(`${u.name}: no evidence places a device in it, so its scope is an empty root port ${port}; list its devices there`);
    }
    const unit = flow([
      ["model", model],
      ["address-width", 48],
      ["register-base", u.base !== undefined ? hex(u.base) : undefined],
      ["devices", scope.items.length ? scope : undefined],
      ["include-all", i === includeAll ? true : undefined],
    ]);
    const about = [u.name, ...u.about, ...(u.includeAll ? ["INCLUDE_PCI_ALL"] : [])];
    unit.commentBefore = ` ${about.join(", ")}${fromEvidence ? "" : " (scope not in the evidence: see the header)"}`;
    out.items.push(unit);
  });
  return out;
}

/** AMD-Vi IO_PAGE_FAULT (amd_iommu_types.h EVENT_TYPE_IO_FAULT): the code an amd-vi scenario expects. */
const AMD_IO_PAGE_FAULT = 0x2;

/** VT-d legacy fault reasons (spec 7.2.3 / Appendix A; drivers/iommu/intel/dmar.c dma_remap_fault_reasons[]) the reproduction brings about. */
const VTD_RECIPES: ReadonlyMap<number, Recipe> = new Map([
  [0x01, "root"],
  [0x02, "context"],
  [0x05, "absent"],
  [0x06, "absent"],
  [0x07, "pointer"],
  [0x0a, "root-rsvd"],
  [0x0b, "context-rsvd"],
  [0x0c, "pte-rsvd"],
]);
/**
 * Scalable-mode reasons (the same tables, 0x30 and up): a unit in scalable mode with Linux's
 * first-level tables for its DMA domains (sim/vtd/scalable.ts) answers 0x39 / 0x41 for a root /
 * context entry without its present bit, 0x71 for a missing first-level entry and 0x85 for a
 * write to a present read-only page (SGN.6).
 */
const VTD_SM_RECIPES: ReadonlyMap<number, Recipe> = new Map([
  [0x39, "root"],
  [0x41, "context"],
  [0x71, "absent"],
  [0x85, "read-only"],
]);

/**
 * Whether the reproduction's VT-d unit runs in scalable mode: the log's DMAR faults include
 * scalable-mode reasons it reproduces and none of legacy mode's (a unit is in one mode; a log with
 * both keeps legacy mode and notes the others).
 */
function scalableEvidence(records: readonly EvidenceRecord[]): boolean {
  const reasons = records.filter((r) => r.kind === "dmar-fault" && typeof r.fields.reason === "number").map((r) => r.fields.reason as number);
  return reasons.some((x) => VTD_SM_RECIPES.has(x)) && !reasons.some((x) => VTD_RECIPES.has(x));
}

/** VT-d interrupt-remapping fault reasons (intr_remap_fault_reasons[]): 0x22 IRTE not present, 0x25 compatibility format blocked. */
const IR_RECIPES: ReadonlyMap<number, Recipe> = new Map([
  [0x22, "irte"],
  [0x25, "compat"],
]);
/** AMD-Vi event codes (amd_iommu_types.h EVENT_TYPE_*). */
const AMD_ILLEGAL_DEV_TABLE_ENTRY = 0x1;
/** SMMUv3 event ids (arm-smmu-v3.h EVT_ID_*). */
const SMMU_C_BAD_STE = 0x04;
const SMMU_F_TRANSLATION = 0x10;
const SMMU_F_PERMISSION = 0x13;

function collectFaults(records: EvidenceRecord[], notes: string[], model: "intel-vtd" | "amd-vi" = "intel-vtd", arm?: ArmHost, scalable = false): Fault[] {
  const faults: Fault[] = [];
  const note = (r: EvidenceRecord, why: string) => notes.push(`line ${r.line + 1}: ${stripAnsi(r.summary)} (${why})`);
  records.forEach((r, i) => {
    const f = r.fields;
    const add = (dev: unknown, address: unknown, write: boolean, reason: number, recipe: Recipe = "absent", exact = false) => {
      const key = pciKey(dev);
      if (!key) return note(r, `not reproduced: ${typeof dev === "string" ? `"${clean(dev)}" is not a PCI address` : "no device"}`);
      if (typeof address !== "string" || !/^0x[0-9a-f]+$/i.test(address) || BigInt(address) >= 1n << 64n) return note(r, "not reproduced: no fault address");
      // On x86 a write into 0xFEEx_xxxx is an interrupt request (an MSI), not a DMA; no host maps
      // that window, nor an Arm guest its reserved MSI window (a set-up that maps the page).
      const at = BigInt(address);
      const maps = PAGE_MAP[recipe] !== undefined;
      if (!arm && at >= MSI_WINDOW[0] && at <= MSI_WINDOW[1] && (write || maps)) return note(r, `not reproduced: ${write ? "a write to 0xfee00000-0xfeefffff is an interrupt request, not a DMA" : "the interrupt window 0xfee00000-0xfeefffff cannot be mapped"}`);
      if (arm && maps && at >= VIRTIO_IOMMU_SW_MSI.base && at < VIRTIO_IOMMU_SW_MSI.base + VIRTIO_IOMMU_SW_MSI.size) return note(r, "not reproduced: the guest never maps its reserved MSI window 0x8000000-0x80fffff");
      // On a scalable-mode unit a missing translation is the first level's 0x71 (a read or a write).
      const sm = scalable && (reason === 5 || reason === 6) ? 0x71 : reason;
      faults.push({ records: [i], dev: key, iova: exact ? BigInt(address) : BigInt(address) & ~0xfffn, write, reason: sm, recipe });
    };
    if (r.kind === "dmar-fault") {
      const recipe = typeof f.reason === "number" ? (scalable ? VTD_SM_RECIPES : VTD_RECIPES).get(f.reason) : undefined;
      if (recipe) add(f.device, f.address, f.write === true, f.reason as number, recipe);
      else if (typeof f.reason === "number" && (scalable ? VTD_RECIPES : VTD_SM_RECIPES).has(f.reason)) note(r, `not reproduced: the log's other faults put the unit in ${scalable ? "scalable" : "legacy"} mode, and this reason is ${scalable ? "legacy" : "scalable"} mode's`);
      else note(r, "not reproduced: the model reproduces the faults 0x01, 0x02, 0x05-0x07 and 0x0a-0x0c (legacy mode) and 0x39, 0x41, 0x71 and 0x85 (scalable mode)");
    } else if (r.kind === "amdvi-event") {
      // An amd-vi reproduction keeps the event's exact address (the unit logs the request's address).
      if (f.event === "IO_PAGE_FAULT" && !f.interrupt) add(f.device, f.address, f.write === true, model === "amd-vi" ? AMD_IO_PAGE_FAULT : f.write ? 5 : 6, model === "amd-vi" && f.present === true && f.write === true ? "read-only" : "absent", model === "amd-vi");
      else if (f.event === "ILLEGAL_DEV_TABLE_ENTRY" && model === "amd-vi") add(f.device, typeof f.address === "string" && BigInt(f.address) < 1n << 48n ? f.address : "0x0", f.write === true, AMD_ILLEGAL_DEV_TABLE_ENTRY, "dte");
      else note(r, model === "amd-vi" ? `not reproduced: the amd-vi model reproduces IO_PAGE_FAULTs of DMA requests and ILLEGAL_DEV_TABLE_ENTRY, not ${String(f.event)}` : `not reproduced: AMD-Vi ${String(f.event)} has no VT-d equivalent in this model`);
    } else if (r.kind === "smmuv3-event" && arm) {
      // The raw dump alone names no client: the StreamID through the host's iommu-map is the requester id.
      const rid = typeof f.sid === "number" ? f.sid - arm.sid + arm.rid : -1;
      const client = f.client ?? (rid >= 0 && rid <= 0xffff ? `${(rid >> 8).toString(16).padStart(2, "0")}:${((rid >> 3) & 31).toString(16).padStart(2, "0")}.${rid & 7}` : undefined);
      if (f.event === "F_TRANSLATION") add(client, f.iova, f.write === true, SMMU_F_TRANSLATION, "absent", true);
      else if (f.event === "F_PERMISSION" && f.write === true) add(client, f.iova, true, SMMU_F_PERMISSION, "read-only", true);
      else if (f.event === "C_BAD_STE") add(client, f.iova ?? "0x0", f.write === true, SMMU_C_BAD_STE, "ste");
      else note(r, `not reproduced: SMMU ${String(f.event)} (the reproduction brings about F_TRANSLATION, a write's F_PERMISSION and C_BAD_STE)`);
    } else if (r.kind === "smmuv3-event") {
      if (f.event === "F_TRANSLATION") add(f.client, f.iova, f.write === true, f.write ? 5 : 6);
      else note(r, `not reproduced: SMMU ${String(f.event)} has no VT-d equivalent in this model`);
    } else if (r.kind === "ftrace" && f.event === "io_page_fault") {
      // report_iommu_fault's flags: IOMMU_FAULT_WRITE = 0x1 (include/linux/iommu.h).
      const write = (parseInt(String(f.flags ?? "0"), 16) & 1) === 1;
      add(f.device, f.iova, write, write ? 5 : 6);
    } else if (r.kind === "viommu-fault") {
      note(r, "not reproduced: QEMU's vIOMMU walks the guest's own page tables, which the simulator does not model (a guest-map step is a mapping QEMU shadows, not a guest table)");
    } else if (r.kind === "intr-remap-fault") {
      const recipe = model === "intel-vtd" && !arm && typeof f.reason === "number" ? IR_RECIPES.get(f.reason) : undefined;
      const key = pciKey(f.device);
      // A compatibility-format request's index is its address bits 19:4 (sim/vtd/intremap.ts): the
      // step's APIC destination times 0x100; other bits there the `msi` step cannot write.
      const compatOk = recipe !== "compat" || (typeof f.index === "number" && (f.index & 0xff) === 0);
      if (recipe && key && typeof f.index === "number" && compatOk) faults.push({ records: [i], dev: key, iova: 0n, write: true, reason: f.reason as number, recipe, index: f.index });
      else note(r, recipe === "compat" && !compatOk ? `not reproduced: fault index 0x${Number(f.index).toString(16)} has address bits 11:4 set (the x2APIC extended destination id), which an msi step does not write` : "not reproduced: the model reproduces interrupt-remapping faults 0x22 (IRTE not present) and 0x25 (compatibility format) of a VT-d host");
    } else if (r.kind === "smmuv2-fault") {
      note(r, "not reproduced: SMMUv2 faults are not modelled");
    } else if (r.kind === "vfio-message" || r.kind === "rmrr") {
      if (f.problem !== "rmrr-region") note(r, "noted: a configuration problem, not a DMA step");
    }
  });
  return faults;
}

/** Identical faults (device, page, direction, reason) folded into one step; consecutive runs only when order matters. */
function foldFaults(faults: Fault[], ordered: boolean): (Fault & { count: number })[] {
  const out: (Fault & { count: number })[] = [];
  const index = new Map<string, number>();
  for (const f of faults) {
    const keyOf = (x: Fault) => `${x.dev}|${x.iova}|${x.write}|${x.reason}|${x.recipe}|${x.index}`;
    const key = keyOf(f);
    const last = out[out.length - 1];
    const at = ordered ? (last && keyOf(last) === key ? out.length - 1 : -1) : (index.get(key) ?? -1);
    if (at >= 0) {
      out[at]!.count++;
      out[at]!.records.push(...f.records);
    } else {
      index.set(key, out.length);
      out.push({ ...f, records: [...f.records], count: 1 });
    }
  }
  return out;
}

export function synthesizeScenario(records: EvidenceRecord[], title = "Reproduced from evidence", options: HostTablesOptions = {}): SynthesisResult {
  // The kernel's debugfs table dumps: the host's own tables, written into memory (hostTables.ts);
  // evidence with faults or refusals keeps the reproduction below (every such record reproduced or noted).
  if (hasHostTables(records) && !records.some((r) => r.kind !== "vtd-debugfs" && r.kind !== "boot-state" && r.kind !== "pci-device" && r.kind !== "iommu-group" && r.kind !== "group-add")) return hostTablesScenario(records, title, options);
  const devices = new Map<string, Dev>();
  const notes: string[] = [];
  const reproduced: number[] = [];
  const devOf = (key: string): Dev => {
    let d = devices.get(key);
    if (!d) {
      d = { key, assigned: false };
      devices.set(key, d);
    }
    return d;
  };
  for (const r of records) {
    if (r.kind !== "iommu-group" && r.kind !== "pci-device") continue;
    const key = pciKey(r.fields.device);
    if (!key) {
      notes.push(`line ${r.line + 1}: "${clean(String(r.fields.device))}" is not a PCI address (left out of the topology)`);
      continue;
    }
    const d = devOf(key);
    if (typeof r.fields.group === "number") d.group = r.fields.group;
    if (r.fields.name) d.name = clean(String(r.fields.name));
    if (r.fields.class) d.cls = clean(String(r.fields.class));
    if (typeof r.fields.vendorId === "string" && typeof r.fields.deviceId === "string") d.id = `${r.fields.vendorId}:${r.fields.deviceId}`;
    if (typeof r.fields.driver === "string" && /^[\w.-]+$/.test(r.fields.driver)) {
      d.driver = r.fields.driver;
      if (d.driver === "vfio-pci") d.assigned = true;
    }
  }
  // Devices the sysfs links of the IOMMU units name are the host's too (docs/multi-unit.md).
  for (const r of records) {
    const key = fact(r, "unit-device") ? pciKey(r.fields.device) : undefined;
    if (key !== undefined) devOf(key);
  }
  // The VM from a libvirt domain or a QEMU command line, when one was imported.
  let vmName = "vm0";
  let vmMemory = 1n << 30n;
  for (const r of records) {
    if (r.kind !== "vm-config") continue;
    if (typeof r.fields.name === "string" && clean(r.fields.name)) vmName = clean(r.fields.name);
    if (typeof r.fields.memory === "string" && /^\d+$/.test(r.fields.memory)) {
      const m = BigInt(r.fields.memory);
      // Large guests are capped: the faults do not depend on the RAM size, the run time does.
      vmMemory = m > 4n << 30n ? 4n << 30n : m < 256n << 20n ? 256n << 20n : m;
    }
    const key = pciKey(r.fields.hostdev);
    if (key) {
      const d = devOf(key);
      d.assigned = true;
      d.driver = "vfio-pci";
    }
  }
  const history = records.filter((r) => r.kind === "ftrace" && (r.fields.event === "map" || r.fields.event === "unmap"));
  const arms = armHosts(records);
  const arm = arms?.[0] ?? armHost(records);
  const model = evidenceModel(records);
  const scalable = model === "intel-vtd" && !arm && scalableEvidence(records);
  const faults = foldFaults(collectFaults(records, notes, model, arm, scalable), history.length > 0);
  for (const f of faults) {
    const d = devOf(f.dev);
    d.assigned = true;
    // A faulting device does DMA, so it is bound to vfio-pci in the reproduction.
    d.driver = "vfio-pci";
  }
  const kept = faults.slice(0, MAX_FAULT_STEPS);
  if (faults.length > kept.length) {
    const rest = faults.slice(kept.length).flatMap((f) => f.records);
    const lines = rest.map((i) => records[i]!.line + 1);
    const lo = lines.reduce((a, b) => Math.min(a, b), Infinity);
    const hi = lines.reduce((a, b) => Math.max(a, b), 0);
    notes.push(`lines ${lo}-${hi}: ${rest.length} more faults at ${faults.length - kept.length} other pages (not reproduced: the scenario keeps the first ${MAX_FAULT_STEPS} distinct faults)`);
  }

  const doc = new Document({}, { version: "1.2" });
  const header = [
    ` ${title.replace(/\n/g, " ")}`,
    " Generated by Passthrough Debugger from imported evidence. The VM has a vIOMMU with caching",
    " mode, so only what the trace maps is mapped; each logged DMA fault is a step expecting it.",
    ...notes.slice(0, 200).map((n) => ` Not reproduced: ${n}`),
    ...(notes.length > 200 ? [` ... and ${notes.length - 200} more records not reproduced (see the import's explanations).`] : []),
  ];
  if (devices.size === 0) header.push(" The evidence names no PCI device: add the host's devices under host.pci and assign one to the VM.");
  doc.commentBefore = header.join("\n");

  // ---- topology: the listing's own root ports and groups, synthesized ports for the rest.
  const pci = new YAMLSeq();
  const rootPorts = [...devices.values()].filter((d) => busOf(d.key) === "00" && isPciBridge(d)).sort((a, b) => a.key.localeCompare(b.key));
  const busDevices = new Map<string, Dev[]>();
  for (const d of devices.values()) {
    if (busOf(d.key) === "00" || isPciBridge(d)) continue;
    const bus = d.key.length > 7 ? d.key.slice(0, -5) : busOf(d.key);
    busDevices.set(bus, [...(busDevices.get(bus) ?? []), d]);
  }
  const buses = [...busDevices.keys()].sort();
  // A port in the same IOMMU group as a bus's devices leads to that bus (and lacks ACS); the
  // other buses go to the other ports in order, as Linux numbers buses depth-first.
  const portOf = new Map<string, { key: string; acs: boolean }>();
  const freePorts = rootPorts.filter((p) => {
    const bus = buses.find((b) => !portOf.has(b) && p.group !== undefined && busDevices.get(b)!.some((d) => d.group === p.group));
    if (bus === undefined) return true;
    portOf.set(bus, { key: p.key, acs: false });
    return false;
  });
  const usedSlots = new Set([...devices.keys()].filter((k) => busOf(k) === "00" && k.length === 7).map((k) => k.slice(3, 5)));
  let nextSlot = 0x1c;
  let nextFn = 0;
  const newPort = (): string => {
    // Root ports we add take free device numbers on bus 0 (0x1c up, then down from 0x1b), all 8 functions each.
    for (let tries = 0; tries < 32 * 8; tries++) {
      const slot = nextSlot.toString(16).padStart(2, "0");
      const key = `00:${slot}.${nextFn}`;
      if (++nextFn === 8) {
        nextFn = 0;
        nextSlot = nextSlot >= 0x1c ? (nextSlot === 0x1f ? 0x1b : nextSlot + 1) : nextSlot - 1;
      }
      if (!usedSlots.has(slot) && nextSlot >= 0) return key;
    }
    throw new Error("unreachable: 256 functions on bus 0");
  };
  for (const bus of buses) {
    if (portOf.has(bus)) continue;
    const free = freePorts.shift();
    portOf.set(bus, free ? { key: free.key, acs: true } : { key: bus.length > 2 ? "" : newPort(), acs: true });
  }
  const entry = (d: Dev, kind: string | undefined, parent: string | undefined, extra: [string, unknown][] = []): YAMLMap =>
    flow([
      ["bdf", quoted(d.key)],
      ["kind", kind],
      ["id", d.id ? quoted(d.id) : undefined],
      ["name", d.name ? quoted(d.name) : undefined],
      ["parent", parent ? quoted(parent) : undefined],
      ...extra,
      ["driver", d.assigned ? "vfio-pci" : d.driver ? quoted(d.driver) : undefined],
    ]);
  const portLines = new Map<string, YAMLMap>();
  for (const d of [...devices.values()].filter((x) => busOf(x.key) === "00" && x.key.length === 7).sort((a, b) => a.key.localeCompare(b.key))) {
    if (isPciBridge(d)) {
      const bus = [...portOf].find(([, p]) => p.key === d.key)?.[0];
      const m = entry(d, "root-port", undefined, [["acs", bus ? portOf.get(bus)!.acs : true], ["secondary-bus", bus ? parseInt(bus, 16) : undefined]]);
      portLines.set(d.key, m);
      pci.items.push(m);
    } else pci.items.push(entry(d, isHostBridge(d) ? "host-bridge" : "integrated", undefined));
  }
  for (const bus of buses) {
    const port = portOf.get(bus)!;
    if (port.key && !portLines.has(port.key)) {
      pci.items.push(flow([["bdf", quoted(port.key)], ["kind", "root-port"], ["acs", true], ["secondary-bus", parseInt(bus, 16)]]));
      portLines.set(port.key, pci.items[pci.items.length - 1] as YAMLMap);
    }
    for (const d of busDevices.get(bus)!.sort((a, b) => a.key.localeCompare(b.key))) pci.items.push(entry(d, undefined, port.key || undefined));
  }

  // ---- the VM and its workload.
  const assigned = [...devices.values()].filter((d) => d.assigned && !isPciBridge(d) && !isHostBridge(d)).map((d) => d.key);
  const target = pciKey(history.find((r) => typeof r.fields.device === "string")?.fields.device) ?? faults[0]?.dev ?? assigned[0];
  const steps = new YAMLSeq();
  const step = (comment: string, item: [string, unknown][]) => {
    const m = new YAMLMap();
    for (const [k, v] of item) m.set(k, v);
    m.commentBefore = ` ${stripAnsi(comment).replace(/\n/g, " ")}`;
    steps.items.push(m);
  };
  if (assigned.length) steps.items.push(doc.createNode({ start: vmName }));
  // Guest RAM the trace's mappings point at, 256 MiB into it: from GPA 0 on q35; on an Arm host
  // (SMMUv3) the VM is QEMU's virt machine, whose RAM starts at GPA 0x4000_0000 (sim/kvm.ts
  // VIRT_RAM_BASE, hw/arm/virt.c VIRT_MEM): below it a GPA is no RAM, and QEMU's VFIO map of it fails.
  const ramBase = arm ? VIRT_RAM_BASE : 0n;
  const firstGpa = ramBase + 0x1000_0000n;
  let gpa = firstGpa;
  if (target && assigned.includes(target)) {
    for (const h of history) {
      const iova = BigInt(String(h.fields.iova));
      const size = BigInt(Number(h.fields.size ?? 0)) || BigInt(String(h.fields.end)) - iova;
      const pages = (size + 0xfffn) & ~0xfffn;
      if (pages <= 0n) continue;
      if (h.fields.event === "map") {
        step(`trace line ${h.line + 1}: ${h.summary}`, [["guest-map", flow([["vm", quoted(vmName)], ["device", quoted(target)], ["iova", hex(iova)], ["size", Number(pages)], ["perm", "rw"], ["gpa", hex(gpa)]])]]);
        gpa += pages;
        if (gpa >= ramBase + vmMemory) gpa = firstGpa;
      } else step(`trace line ${h.line + 1}: ${h.summary}`, [["guest-unmap", flow([["vm", quoted(vmName)], ["device", quoted(target)], ["iova", hex(iova)], ["size", Number(pages)]])]]);
    }
  }
  // The kernel's dmar_fault ratelimit (DEFAULT_RATELIMIT_BURST lines per 5 s; a fault interrupt
  // takes three: the status line, the record, the loop's last look) would keep the fourth fault of
  // a burst out of the simulated dmesg: simulated time passes before a fault that would not be
  // printed, so every reproduced record shows in the simulated log as it did in the evidence.
  let printed = 0;
  let intremap = false;
  for (const f of kept) {
    if (printed > DMAR_RATELIMIT_BURST - 2) {
      steps.items.push(doc.createNode({ wait: DMAR_RATELIMIT_WAIT }));
      printed = 0;
    }
    printed = f.count > 1 ? DMAR_RATELIMIT_BURST : printed + 3;
    const first = records[f.records[0]!]!;
    const lines = f.records.slice(0, 8).map((i) => records[i]!.line + 1);
    const where = f.count === 1 ? `log line ${first.line + 1}: ${first.summary}` : `log lines ${lines.join(", ")}${f.count > lines.length ? ", ..." : ""} (${f.count} faults): ${first.summary}`;
    const dev = quoted(f.dev);
    const repeat = f.count > 1 ? ([["repeat", f.count]] as [string, unknown][]) : [];
    const expectFault: [string, unknown] = ["expect", flow([["fault", hex(f.reason)]])];
    if (f.recipe === "irte" || f.recipe === "compat") {
      intremap = true;
      // An MSI through an IRTE the host never programmed (no `irte` step wrote it), or in the
      // compatibility format Linux's intel_setup_irq_remapping leaves blocked (GCMD.CFI clear).
      step(where, [["msi", flow(f.recipe === "irte" ? [["device", dev], ["index", f.index]] : [["device", dev], ["format", "compatibility"], ["destination", hex(f.index! >> 8)]])], expectFault]);
      reproduced.push(...f.records);
      continue;
    }
    // An SMMU or AMD-Vi event has the exact input address: one transaction from there to the page's end.
    const length = f.iova & 0xfffn ? Number(0x1000n - (f.iova & 0xfffn)) : "4KiB";
    const page = f.iova & ~0xfffn;
    const dma = flow([["device", dev], ["iova", hex(f.iova)], ["length", length], ["write", f.write], ...repeat]);
    const poke = (target: [string, unknown][], op: "set" | "clear", bits: bigint, why?: string) => {
      const m = flow([["target", flow([["device", dev], ...target])], [op, hex(bits)]]);
      const item = new YAMLMap();
      item.set("poke", m);
      if (why) item.commentBefore = ` ${why}`;
      steps.items.push(item);
    };
    const flush = () => steps.items.push(doc.createNode({ invalidate: flow(model === "intel-vtd" && !arm ? [["granularity", "context-global"]] : [["granularity", "context-device"], ["device", dev]]) }));
    const guestMap = (perm: string) => {
      steps.items.push(doc.createNode({ "guest-map": flow([["vm", quoted(vmName)], ["device", dev], ["iova", hex(page)], ["size", 4096], ["perm", perm], ["gpa", hex(gpa)]]) }));
      gpa += 0x1000n;
      if (gpa >= ramBase + vmMemory) gpa = firstGpa;
    };
    const guestUnmap = () => steps.items.push(doc.createNode({ "guest-unmap": flow([["vm", quoted(vmName)], ["device", dev], ["iova", hex(page)], ["size", 4096]]) }));
    const map = PAGE_MAP[f.recipe];
    const b = parseBdf(f.dev);
    const e = entryPoke(f.recipe, hex(page), scalable && b.ok && ((b.bdf.device << 3) | b.bdf.fn) >= 0x80);
    if (map) guestMap(map);
    if (e) {
      poke(e.target, e.op, e.bits, e.why);
      // An entry the unit caches (root, context, DTE, STE) is read again only after its invalidation.
      if (!map) flush();
    }
    step(where, [["dma", dma], expectFault]);
    if (e) {
      poke(e.target, e.op === "set" ? "clear" : "set", e.bits);
      if (!map) flush();
    }
    if (map) guestUnmap();
    reproduced.push(...f.records);
  }
  const vm = new YAMLMap();
  vm.set("name", quoted(vmName));
  vm.set("memory", `${vmMemory / (1n << 20n)}MiB`);
  const devs = new YAMLSeq();
  devs.flow = true;
  for (const k of assigned) devs.items.push(quoted(k));
  vm.set("devices", devs);
  // An Arm guest's vIOMMU for VFIO is virtio-iommu (QEMU's virt machine has no intel-iommu).
  vm.set("viommu", arm ? flow([["model", "virtio-iommu"]]) : flow([["model", "intel"], ["caching-mode", true]]));
  const vms = new YAMLSeq();
  vms.items.push(vm);
  const host = new YAMLMap();
  host.set("memory", "64GiB");
  if (arm) {
    // v6.15's arm_smmu_dump_event prints the decoded lines (dmesg.ts): a kernel that has them.
    if (arm.decoded) host.set("kernel", quoted("6.15"));
    if (arms !== undefined) host.set("iommus", smmuUnits(arms, pci));
    else host.set("iommu", flow(smmuEntries(arm)));
  } else {
    // Several VT-d or AMD-Vi units named by the log's boot lines or sysfs links: host.iommus.
    const units = logUnits(records, model);
    if (units !== undefined) {
      const guessed: string[] = [];
      host.set("iommus", logUnitsYaml(units, model, pci, () => {
        const key = newPort();
        pci.items.push(flow([["bdf", quoted(key)], ["kind", "root-port"], ["acs", true]]));
        return key;
      }, guessed));
      header.push(` Units: the log names ${units.length} ${model === "intel-vtd" ? "DMAR units (DRHDs)" : "AMD-Vi IOMMUs (IVHDs)"}: ${units.map((u) => u.name).join(", ")}.`);
      for (const g of guessed) header.push(` Guessed: ${g}.`);
      doc.commentBefore = header.join("\n");
    } else host.set("iommu", flow([["model", model], ["address-width", 48]]));
    for (const unit of host.has("iommu") ? [host.get("iommu") as YAMLMap] : ((host.get("iommus") as YAMLSeq).items as YAMLMap[])) {
      if (scalable) unit.set("scalable", true);
      // An interrupt-remapping fault to reproduce: the host's units remap interrupts (Linux's default with x2APIC).
      if (intremap) unit.set("intremap", true);
    }
  }
  host.set("pci", pci);
  const root = new YAMLMap();
  root.set("name", quoted(title));
  root.set("host", host);
  root.set("vms", vms);
  root.set("workload", steps);
  doc.contents = root;
  return { text: doc.toString({ lineWidth: 0, flowCollectionPadding: true }), reproduced, notes };
}
