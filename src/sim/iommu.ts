/**
 * The IOMMU contract: what every IOMMU model (Intel VT-d now; AMD-Vi, Arm SMMUv3, VT-d scalable
 * mode later) offers the engine. Views never interpret a table entry or re-walk tables: a hover,
 * Translate Address, the debugger's Translation scope, the trace's walk pane and the quick fixes
 * all read the model's verdict and its walk *trail*, recorded by the code that decides the verdict.
 *
 * The hot DMA path is not this interface: a model keeps its allocation-free API for that (VT-d:
 * DmarUnit.translate with results in fields). `translate` here is one DMA request as the device
 * issues it (caches filled, faults recorded), `explain` the same question asked without side
 * effects, with the trail — both answer from the same code, in the hardware's order.
 *
 * Pure module: no vscode, no Node built-ins.
 */

/** One DMA request. Addresses are bigints: this is the inspection path, not the hot path. */
export interface TranslateRequest {
  /** Requester id (bus << 8 | devfn) or the model's stream id. */
  sid: number;
  /** PASID / substream id (models without one ignore it). */
  pasid?: number;
  iova: bigint;
  /** Bytes accessed from iova (default 1); a model may check only the first page. */
  size?: number;
  write: boolean;
  exec?: boolean;
  privileged?: boolean;
  /** The data of a write into the interrupt window (an MSI): what interrupt remapping reads the subhandle from. */
  data?: number;
}

/** Permission bits of a translation: R = 1, W = 2, X = 4. */
export const PERM_R = 1;
export const PERM_W = 2;
export const PERM_X = 4;

export type VerdictKind = "translated" | "pass-through" | "untranslated" | "interrupt" | "fault";

/** How the IOMMU handled a request. */
export interface Verdict {
  kind: VerdictKind;
  /** The hardware's fault reason code (VT-d FR, AMD-Vi event code, SMMU event id); 0 unless a fault. */
  reason: number;
  /**
   * Translated: the leaf level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB); fault: the level whose entry
   * faulted (0 when no page-table entry decided: context faults, address width).
   */
  level: number;
  /** The output address unless the request faulted (an interrupt request: the address as issued, untranslated). */
  hpa?: bigint;
  /** Permissions of the translation (PERM_*): ANDed down the levels, or those of the IOTLB entry. */
  perms: number;
  /** Answered by the IOTLB (a hit: permitted or not). */
  cached: boolean;
  /**
   * A Translated Request (PCIe ATS): the address came from the device's own translation cache
   * (VT-d Device-TLB, the ATC) and the IOMMU walked nothing. Absent: false.
   */
  deviceCached?: boolean;
  /** The domain the request was translated in, when a context said so. */
  domain?: number;
  /** An interrupt request (kind "interrupt", or a fault of interrupt remapping): what the remapping table made of it. */
  interrupt?: InterruptVerdict;
}

/** How an interrupt request was remapped, model-neutral (VT-d IRTE, AMD-Vi IRTE, an SMMU's MSI doorbell). */
export interface InterruptVerdict {
  /** "remapped": to a vector and destination; "posted": into a posted-interrupt descriptor; "compatibility": passed through unremapped; "not-remapped": remapping is off. */
  format: "remapped" | "posted" | "compatibility" | "not-remapped";
  /** The interrupt-remapping table index the request named (remappable requests). */
  index?: number;
  vector: number;
  destination: number;
  /** Posted: the posted-interrupt descriptor address. */
  descriptor?: bigint;
  /** Posted, when the request was delivered (not a probe): what posting did to the descriptor. */
  posting?: PostingOutcome;
  /** Answered by the interrupt entry cache. */
  cached: boolean;
}

/** What the unit did to a posted-interrupt descriptor for one interrupt (VT-d 5.2.3), model-neutral. */
export interface PostingOutcome {
  /** The descriptor was in memory (false: nothing was posted). */
  written: boolean;
  /** The vector's request bit was already set: this interrupt coalesced with a pending one. */
  coalesced: boolean;
  /** A notification event was sent: `notificationVector` to APIC `notificationDestination`. */
  notified: boolean;
  /** Why no notification: "outstanding" (one is pending, VT-d ON = 1) or "suppressed" (SN = 1, not urgent). */
  withheld?: "outstanding" | "suppressed";
  notificationVector: number;
  notificationDestination: number;
}

/** A posted-interrupt descriptor (VT-d PID) as read from memory now, decoded by the model. */
export interface PostedDescriptorView {
  address: bigint;
  /** The descriptor's qwords, low first; empty when the address is not memory. */
  raw: readonly bigint[];
  fields: readonly DecodedField[];
  /** Vectors whose request bit is set (PIR). */
  pending: readonly number[];
  /** A notification is outstanding (ON). */
  outstanding: boolean;
  /** Non-urgent notifications are suppressed (SN). */
  suppressed: boolean;
  notificationVector: number;
  /** The APIC id notifications go to. */
  notificationDestination: number;
}

/**
 * Which structure an entry of the trail is, model-neutral: the table indexed by the requester
 * (VT-d root table, SMMU stream table level 1), the per-device entry (VT-d context entry, AMD-Vi
 * device table entry, SMMU STE), the per-PASID entry (PASID entry, SMMU CD), a page-table entry.
 */
export type TrailEntryKind = "root" | "context" | "pasid" | "pte" | "irte" | "posted-descriptor";

/** One decoded field of an entry, from the model's own decoder. */
export interface TrailField {
  name: string;
  /** Bit range in the entry as the spec writes it: "0", "63:12", "127:64" (128-bit entries count on). */
  bits: string;
  /** The field's value as text (a number in hex for addresses, else decimal). */
  value: string;
  /** What the value means here, when that is more than the number ("pass-through", "reserved"). */
  meaning?: string;
}

/** One entry the translation read, in the order it read them. */
export interface TrailEntry {
  kind: TrailEntryKind;
  /** The spec's name: "root entry", "context entry", "SL-PML4E", "SL-PTE". */
  name: string;
  /** Page-table level for `pte` entries (4 = the PML4 of a 4-level table), 0 otherwise. */
  level: number;
  /** Index of the entry in its table (bus for a root entry, devfn for a context entry, IOVA bits for a PTE). */
  index: number;
  /**
   * How the model names the entry in its views, where the table index alone would mislead (SMMUv3:
   * an STE is named by its StreamID, "0x100", as Mapping Tables labels it, not by its index in a
   * level-2 table). Absent: views derive it from kind and index (engine/walk.ts indexText).
   */
  indexText?: string;
  /** HPA of the entry. */
  address: bigint;
  /** The entry as read, low qword first; empty when it could not be read. */
  raw: bigint[];
  /** Decoded fields in the spec's bit order; empty when the entry could not be read. */
  fields: TrailField[];
  /**
   * Nested translation only: this entry was read by the second stage while translating the
   * address of a first-stage structure - `of` names it ("CD", "S1 L1 table"), `input` is that
   * address (an IPA / GPA) - not the request's own address. The entries of one such walk come
   * right before the read they served. Absent for the request's own walk.
   */
  nestedFor?: { of: string; input: bigint };
}

/** Why a walk stopped, model-neutral, for views that act on it (a quick fix for a missing mapping). */
export type StopCause = "not-present" | "permission" | "reserved" | "unreadable" | "invalid" | "address-width" | "interrupt-range" | "source-id" | "blocked";

/** Where and why the walk stopped (a fault). */
export interface TrailStop {
  /** Index into `entries` of the entry that decided; -1 when none did (a check before the first read). */
  entry: number;
  /** The hardware's fault reason code (the verdict's, when the trail decided the verdict). */
  reason: number;
  cause: StopCause;
  /** One line: "write request, W = 0 in the SL-PDPE". */
  why: string;
}

/** The entries a translation reads, and where it stopped when it faulted. */
export interface Trail {
  entries: TrailEntry[];
  stop?: TrailStop;
}

/** A request explained: the verdict and the walk that decides it. */
export interface Translation {
  request: TranslateRequest;
  verdict: Verdict;
  /**
   * The walk of the tables as they are now, recorded by the model's own translation code. When a
   * cache answered (verdict.cached, or a cached context), this is the walk a miss would do — the
   * hardware read none of it — so a stale cache entry shows as a verdict the trail disagrees with.
   */
  trail: Trail;
  /** The trail's verdict differs from the cached verdict: a stale IOTLB (or context-cache) entry answered. */
  stale: boolean;
}

/** What every IOMMU model implements for the engine and the views. */
export interface IommuModel {
  /** The model's name for users: "Intel VT-d (legacy mode)". */
  readonly model: string;
  /** One DMA request as the device issues it: caches filled, faults recorded. */
  translate(req: TranslateRequest): Verdict;
  /** The same request without side effects, with its trail: what every view shows. */
  explain(req: TranslateRequest): Translation;
  /**
   * An invalidation as the host's IOMMU driver issues it (VT-d: a descriptor through the
   * invalidation queue, then a wait descriptor; AMD-Vi: a command-buffer entry and COMPLETION_WAIT;
   * SMMUv3: CMD_TLBI_* / CMD_CFGI_* and CMD_SYNC). What the caches drop is the model's business.
   */
  invalidate(req: InvalidateRequest): InvalidateResult;
  /**
   * Where one entry on the translation path of (sid, iova) lives in memory, read from the tables as
   * they are now (a `poke` step's target): its host physical address, or why there is none.
   */
  locate(target: EntryTarget): number | string;
}

/** What an invalidation covers, in the scenario's words (VT-d's granularities; other models map them). */
export type InvalidateScope = "global" | "domain" | "page" | "context-global" | "context-domain" | "context-device" | PasidInvalidateScope | "interrupt-global" | "interrupt-entry" | DeviceCacheInvalidateScope;

/**
 * The translations an ATS endpoint caches itself (VT-d Device-TLB invalidate descriptor, AMD-Vi
 * INVALIDATE_IOTLB_PAGES, SMMUv3 CMD_ATC_INV): of device `sid`, every address, or 2^order pages
 * from `iova`; with `pasid`, that PASID's.
 */
export type DeviceCacheInvalidateScope = "device-tlb";

/**
 * Per-PASID invalidations (VT-d scalable mode: the PASID-cache descriptor and the PASID-based IOTLB
 * descriptor; SMMUv3: CMD_CFGI_CD and CMD_TLBI_NH_VA/ASID): the cached PASID entries of a domain
 * (pasid-cache, with `pasid`: of one PASID), the translations of one PASID (pasid), or some pages
 * of them (pasid-page, with iova and order).
 */
export type PasidInvalidateScope = "pasid-cache" | "pasid" | "pasid-page";

export interface InvalidateRequest {
  scope: InvalidateScope;
  /** Domain id (domain, page and context-domain/device scopes). */
  domain?: number;
  /** Requester id (context-device scope). */
  sid?: number;
  /** First IOVA (page scope) and the address mask: 2^order pages. */
  iova?: bigint;
  order?: number;
  /** Leaf entries only changed (VT-d IH): non-leaf caches may be kept. */
  leafOnly?: boolean;
  /** The PASID of a per-PASID scope (pasid-cache without it: every PASID of the domain). */
  pasid?: number;
  /** Interrupt-remapping table index (interrupt-entry scope; `order`: 2^order entries). */
  index?: number;
  /** The host kernel's version (host.kernel): the driver's lines of a rejected command are its generation's. */
  kernel?: string;
}

export interface InvalidateResult {
  /** False when the unit rejected the command (VT-d: IQE). */
  ok: boolean;
  /** Cached translations the invalidation dropped. */
  dropped: number;
  /** Why the unit rejected it, for the user. */
  error?: string;
  /** The kernel lines the driver prints for a rejected command (pr_fmt prefix, no timestamp). */
  log: string[];
}

/** A table entry named by the path a translation of (sid, iova) takes (the scenario's poke targets). */
export interface EntryTarget {
  sid: number;
  /**
   * VT-d: root entry low/high qword, context entry low/high qword, or a page-table entry;
   * "pasid-entry": dword 0 of the per-PASID context of substream 0 (SMMUv3: the CD; a model
   * without one answers with a reason).
   */
  structure: "root" | "root-hi" | "context-lo" | "context-hi" | "pte" | "pasid-entry";
  iova?: bigint;
  /** Page-table level of a `pte` target (1 = last level; absent: the leaf, whatever its level). */
  level?: number;
  /** "pasid-entry": the PASID whose entry (VT-d: the PASID table entry; absent: 0). */
  pasid?: number;
  /** "pasid-entry": the 64-bit word of a multi-word entry (VT-d's 512-bit PASID entry: 0-7; absent: 0). */
  word?: number;
}

/**
 * One IOMMU unit as the engine sees it: the model (translate, explain, invalidate, locate), the
 * inspection half (tables, registers, faults) and its decoders (reasons, register and entry words). A machine hands out one per unit (Machine.iommu);
 * nothing outside sim/ names a model's own classes.
 */
export interface IommuUnit extends IommuModel, IommuInspection, IommuDecoders {}

/**
 * The IOMMU units of a host, for views that show each unit (a host may have several of one model:
 * `host.iommus`). `units[i]` is named `names[i]` as Linux names it ("dmar0", "dmar1"); `unitOf`
 * gives the index of the unit translating a requester id. A one-unit host has one entry, the unit
 * Machine.iommu is.
 */
export interface IommuHostUnits {
  readonly units: readonly IommuUnit[];
  readonly names: readonly string[];
  unitOf(sid: number): number;
}

// ---- inspection
//
// The read-only half: the in-memory structures as a lazy tree (tables()), the decoded registers
// (registers()) and the fault records as the hardware exposes them with Linux's rendering of each
// (faults()). Model-independent: a VT-d, AMD-Vi or SMMUv3 model fills the same shapes with its own
// decoders (VT-d: sim/vtd/inspect.ts).

/** One decoded field of an entry or register, as every view shows it. */
export interface DecodedField {
  name: string;
  /** Most and least significant bit of the field in the entry/register (128-bit entries count from the low qword). */
  hi: number;
  lo: number;
  /** The field's bits as stored. */
  raw: bigint;
  /** The field's value as text (a number in hex for addresses, else decimal). */
  value: string;
  /** What the value means here, when that is more than the number (AW 2: "48-bit, 4-level"). */
  meaning?: string;
}

/** A field as one text: "2 (48-bit, 4-level)". */
export function fieldText(f: { value: string; meaning?: string }): string {
  return f.meaning ? `${f.value} (${f.meaning})` : f.value;
}

/** A field as the trail carries it: its bit range as the spec writes it ("63:12"). */
export function toTrailField(f: DecodedField): TrailField {
  return { name: f.name, bits: f.hi === f.lo ? String(f.lo) : `${f.hi}:${f.lo}`, value: f.value, ...(f.meaning ? { meaning: f.meaning } : {}) };
}

/** Permissions an entry grants (R = 1, W = 2), ANDed down a walk where the model does so. */
export type Perm = number;

interface NodeBase {
  /** The node's key among its siblings: stable across runs, so a view can re-find it by its path of keys. */
  key: string;
  /** HPA of the entry (or table) in simulated memory, where it lives there. */
  address?: bigint;
  /** The raw entry as stored: one qword, or [lo, hi] of a 128-bit entry. Empty for summary nodes. */
  raw: readonly bigint[];
  /** The model's own decoding of `raw`, low bits first. */
  fields: readonly DecodedField[];
  /**
   * Set reserved bits (per word of `raw`) that the model would fault on, and the fault reason it
   * would give: a corrupt entry shows exactly what the hardware would reject.
   */
  reserved?: { bits: readonly bigint[]; reason: number };
  /**
   * The model's own wording of the node for views, when the kind's default wording (VT-d's: "bus",
   * "DID", "SLPTPTR") does not fit: a label ("STE[0x100]", "L1STD[1]", "CD (ASID 1)") and a one-line
   * description. Views show them instead of their own text for the kind.
   */
  label?: string;
  description?: string;
  /** Whether children() can return anything (a view draws an expander without fetching them). */
  readonly hasChildren: boolean;
  /** The nodes below, read from the model's state now (lazy: nothing is read before this call). */
  children(): TableNode[];
  /** One child by key, without decoding its siblings; undefined when it does not exist (any more). */
  child(key: string): TableNode | undefined;
}

/** The root of the translation structures (VT-d: the root table at RTADDR). */
export interface RootTableNode extends NodeBase {
  kind: "root-table";
  address: bigint;
}

/** A present root entry: one bus and its context table. */
export interface RootEntryNode extends NodeBase {
  kind: "root-entry";
  bus: number;
  /** Context-table pointer (HPA). */
  contextTable: bigint;
}

/** A present context entry: one requester id and its domain. */
export interface ContextEntryNode extends NodeBase {
  kind: "context-entry";
  /** Requester id (bus << 8 | devfn). */
  sid: number;
  did: number;
  /** Translation type: "translated" (walks the domain's tables), "pass-through", or "reserved"/"device-TLB" variants as the model names them. */
  translation: "translated" | "translated+device-TLB" | "pass-through" | "reserved";
  /** Levels of the domain's page table and its top table (HPA). */
  levels: number;
  pageTable: bigint;
  /** Address-width field as stored (VT-d AW). */
  aw: number;
  /** Fault processing disabled. */
  fpd: boolean;
}

/**
 * A present PASID-table entry (VT-d scalable mode; SMMUv3 would give a CD): one PASID of a
 * requester, its domain and how it translates. Its children are the entries of its page table.
 */
export interface PasidEntryNode extends NodeBase {
  kind: "pasid-entry";
  pasid: number;
  /** The PASID that requests without PASID use (VT-d RID_PASID). */
  noPasid: boolean;
  did: number;
  /** How it translates, in the model's words ("first-level", "second-level", "nested", "pass-through"). */
  translation: string;
  levels: number;
  /** The top table of its page table (HPA; guest-physical for a nested first level). */
  pageTable: bigint;
  /** The spec's name of the top table ("FL-PML4"). */
  topName: string;
}

/** The domain a context entry points to: its page tables, shared by every context entry with the same id. */
export interface DomainNode extends NodeBase {
  kind: "domain";
  did: number;
  levels: number;
  pageTable: bigint;
  /** The spec's name of the top table (VT-d: SL-PML4 for 4 levels). */
  topName: string;
  /** Other requester ids whose context entries use the same domain id. */
  sharedWith: readonly number[];
}

/** A present page-table entry (R or W set): a pointer to the next level or a leaf. */
export interface PageEntryNode extends NodeBase {
  kind: "pte";
  /** Level of the table holding the entry (1 = last level). */
  level: number;
  index: number;
  /** First IOVA the entry covers, and how many bytes it covers. */
  iova: bigint;
  span: bigint;
  /** A leaf: translates (4 KiB at level 1, a superpage above). */
  leaf: boolean;
  /** Permissions of this entry alone (R = 1, W = 2). */
  perm: Perm;
  /** The address field: next table (non-leaf) or page frame (leaf). */
  target: bigint;
  /** Page size of a leaf, in bytes (0 for a non-leaf). */
  pageSize: bigint;
}

/** A run of consecutive non-present entries of one table, collapsed into one node. */
export interface NotPresentNode extends NodeBase {
  kind: "not-present";
  /** Entry indices (root entries: buses). */
  first: number;
  last: number;
  /** IOVA range the run covers (page tables only). */
  iova?: { first: bigint; last: bigint };
  /** Entry count when `first..last` is not one contiguous run (the root table's absent buses). */
  count: number;
}

/** A table the model cannot read (its address is not backed by memory): a walk through it faults. */
export interface UnreadableNode extends NodeBase {
  kind: "unreadable";
  /** The fault reason a walk gets here. */
  reason: number;
}

/** A cached translation. */
export interface IotlbEntryNode extends NodeBase {
  kind: "iotlb-entry";
  did: number;
  iova: bigint;
  hpa: bigint;
  pageSize: bigint;
  perm: Perm;
  /** The PASID the entry is tagged with (models with PASID-tagged IOTLBs). */
  pasid?: number;
  /** Where the cache holds it (set/way), as a text the view may show. */
  slot: string;
}

/** A cached context entry. */
export interface ContextCacheEntryNode extends NodeBase {
  kind: "cc-entry";
  sid: number;
  did: number;
  translation: ContextEntryNode["translation"];
  levels: number;
  pageTable: bigint;
  fpd: boolean;
}

export type TableNode = RootTableNode | RootEntryNode | ContextEntryNode | PasidEntryNode | DomainNode | PageEntryNode | NotPresentNode | UnreadableNode | IotlbEntryNode | ContextCacheEntryNode;

/** What tables() returns: the unit's identity and its three trees (memory, IOTLB, context cache). */
export interface InspectTables {
  /** Unit name (e.g. "dmar0") and model ("Intel VT-d"). */
  name: string;
  /** MMIO base of the unit's register block, on a host of several units (each has its own: `register-base`). */
  registerBase?: bigint;
  model: string;
  addressWidth: number;
  translationEnabled: boolean;
  faultRecords: number;
  root: RootTableNode;
  /**
   * The model's names of its structures, for views that word them (absent: VT-d's). AMD-Vi: the
   * "Device table" of DTEs, the "Device table cache", the "Event log" of events.
   */
  names?: StructureNames;
  iotlb: { capacity: number; geometry: string; entries(): IotlbEntryNode[] };
  contextCache: { entries(): ContextCacheEntryNode[] };
  /** The interrupt-remapping table, when the unit has one set up (VT-d IRTA; AMD-Vi's per-device IRTs would list theirs). */
  interruptRemapping?: InterruptRemapView;
  /** The reserved regions the IOMMU keeps for itself or the firmware: direct (1:1) regions such as RMRRs, and the MSI window. */
  reservedRegions?: readonly ReservedRegionView[];
  /**
   * The translations ATS endpoints cache themselves (PCIe ATS: VT-d's Device-TLB, AMD-Vi's device
   * IOTLB, SMMUv3's ATC), when the unit has ATS devices. A translated request a device answers from
   * here never reaches the IOTLB or the tables, so an entry outlives an unmap until the device is
   * sent its invalidation; `stale` says the tables no longer give it. `capacity`: absent when the
   * model does not bound it.
   */
  deviceTlb?: { capacity?: number; entries(): DeviceTlbEntryView[] };
  /**
   * The non-leaf entries the unit caches (VT-d paging-structure caches), when it has such caches:
   * walks start below them, so a table changed in memory is not seen until an invalidation drops
   * them (a page-selective one with IH = 0).
   */
  pagingStructureCache?: { capacity: number; replacement: string; entries(): PagingStructureCacheEntryView[] };
  /**
   * The queue the unit writes PCIe Page Requests into (PRI: SMMUv3's PRI queue; VT-d's page
   * request queue and AMD-Vi's PPR log would list theirs), when it has one: its entries as they are
   * in memory, decoded by the model. `name` is the model's ("PRI queue").
   */
  pageRequests?: { name: string; address: bigint; capacity: number; entries(): PageRequestView[] };
  /**
   * Other logs the unit writes into memory besides its fault records (AMD-Vi's GA log: interrupts
   * for vCPUs that are not running), when it has them set up: entries as they are in memory,
   * decoded by the model. `name` is the model's ("GA log"), `tooltip` what the log is for.
   */
  logs?: readonly UnitLogView[];
}

/** A log the unit writes (InspectTables.logs). */
export interface UnitLogView {
  /** Short stable id for views' node ids ("ga"). */
  id: string;
  name: string;
  tooltip: string;
  address: bigint;
  /** Entries the log holds. */
  capacity: number;
  /** The log is stopped (an overflow the driver has not recovered from). */
  stopped: boolean;
  /** Entries with contents, in slot order. */
  entries(): UnitLogEntryView[];
}

/** One entry of a unit's log, decoded by the model. */
export interface UnitLogEntryView {
  key: string;
  index: number;
  address: bigint;
  raw: readonly bigint[];
  fields: readonly DecodedField[];
  /** The model's one-line decode ("GA_GUEST_NR 03:00.0 GATag 0x102"). */
  summary: string;
  /** Written but not yet read by software (between head and tail). */
  pending: boolean;
}

/** One Page Request entry of the unit's page request queue, as in memory. */
export interface PageRequestView {
  key: string;
  /** Slot in the queue. */
  index: number;
  address: bigint;
  raw: readonly bigint[];
  fields: readonly DecodedField[];
  /** The requester (requester id, as the machine speaks). */
  sid: number;
  pasid?: number;
  /** The page asked for, and the access: "R", "W", "RW" (with "X" for execute). */
  page: bigint;
  access: string;
  /** Page Request Group index, and whether this is the group's last request (the one answered). */
  group: number;
  last: boolean;
  /** Not yet consumed by software (between the queue's consumer and producer indexes). */
  pending: boolean;
  /** The lines Linux's handler prints for it (pr_fmt prefix, no timestamp). */
  dmesg: readonly string[];
}

/** One translation an ATS endpoint holds in its own cache, as the model lists it. */
export interface DeviceTlbEntryView {
  key: string;
  /** The device (requester id) holding it. */
  sid: number;
  /** The PASID it was translated for; absent: a translation without PASID. */
  pasid?: number;
  iova: bigint;
  hpa: bigint;
  pageSize: bigint;
  perm: Perm;
  /** The tables in memory no longer give this translation (the model's own walk, now): the device still uses it. */
  stale: boolean;
}

/**
 * A cached non-leaf page-table entry (VT-d paging-structure caches, VT-d spec 6.2.4): the region of
 * IOVAs it translates and the next-level table it leads the walk to.
 */
export interface PagingStructureCacheEntryView {
  key: string;
  did: number;
  /** Scalable mode: the PASID it is tagged with. */
  pasid?: number;
  /** The spec's name of the cached entry ("SL-PDE"). */
  name: string;
  level: number;
  /** First IOVA of the region it translates, and the region's size. */
  iova: bigint;
  span: bigint;
  /** HPA of the next-level table the walk continues in. */
  table: bigint;
  /** HPA the entry was read from. */
  address: bigint;
  /** R/W ANDed from the top level down to this entry. */
  perm: Perm;
  /** The entry in memory no longer points to `table` (cleared or changed): walks still use the cached copy. */
  stale: boolean;
  /** Where the cache holds it, as a text the view may show. */
  slot: string;
}

/** An interrupt-remapping table: where it is, how big, its mode, and its present entries read from memory now. */
export interface InterruptRemapView {
  address: bigint;
  /** Entries the table holds. */
  size: number;
  /** 32-bit (x2APIC) destination ids. */
  x2apic: boolean;
  /**
   * The model's name of its entries' format, when the APIC mode does not name it (AMD-Vi: "128-bit
   * GA-mode IRTEs" with Control.GAEn, "32-bit IRTEs" without); views show it instead of x2APIC/xAPIC.
   */
  entryFormat?: string;
  /** Interrupt requests are remapped now (VT-d GSTS.IRES). */
  enabled: boolean;
  /** Compatibility-format requests pass through unremapped (VT-d GSTS.CFIS); blocked otherwise. */
  compatibilityAllowed: boolean;
  /** The entries are several per-device tables shown as one (AMD-Vi: a table per device id, no compatibility format). */
  perDevice?: boolean;
  /** Entries with P = 1, in index order (at most `limit`, default 4096). */
  entries(limit?: number): InterruptEntryView[];
  /** Entries the interrupt entry cache holds (as cached: they can differ from memory). */
  cache(): InterruptEntryView[];
}

/** One interrupt-remapping table entry, decoded by the model. */
export interface InterruptEntryView {
  key: string;
  index: number;
  address: bigint;
  raw: readonly bigint[];
  fields: readonly DecodedField[];
  present: boolean;
  format: "remapped" | "posted";
  vector: number;
  /** Remapped: the destination APIC id; posted: the posted-interrupt descriptor address. */
  destination: bigint;
  /** Source validation: the requester id (or bus range) the entry accepts, as text ("01:00.0", "bus 05-06", "any"). */
  source: string;
  /** Set reserved bits ([lo, hi]) and the fault a request through the entry gets. */
  reserved?: { bits: readonly bigint[]; reason: number };
  /** Posted format: the descriptor the entry points at, read from memory now. */
  descriptor?: PostedDescriptorView;
}

/** A reserved IOVA region (Linux's iommu_resv_region): "direct" regions are mapped 1:1 for their devices, "msi" is the interrupt window. */
export interface ReservedRegionView {
  kind: "direct" | "msi";
  first: bigint;
  last: bigint;
  /** Devices (keys) the region belongs to; empty: every device. */
  devices: readonly string[];
  /** Where it comes from: "RMRR", "MSI window". */
  source: string;
}

/** How a model names its structures (InspectTables.names). */
export interface StructureNames {
  /** The table indexed by requester id ("Root table", "Device table"). */
  root: string;
  /** The per-device entry ("context entry", "DTE"). */
  entry: string;
  /** The entry's pointer to the page table ("SLPTPTR", "Page Table Root Pointer"). */
  pageTablePointer: string;
  /** The cache of per-device entries ("Context cache", "Device table cache"). */
  entryCache: string;
  /** Where faults are recorded ("Fault recording registers", "Event log"), one record's prefix ("FRCD", "event"), and a tooltip. */
  faults: string;
  faultRecord: string;
  faultsTooltip: string;
  /** The specification a register section refers to ("VT-d spec", "AMD IOMMU spec"). */
  spec: string;
}

/** One decoded register. */
export interface RegisterView {
  name: string;
  /** MMIO offset and width in bits. */
  offset: number;
  width: 32 | 64;
  /** Where the spec defines it ("11.4.2"). */
  section: string;
  value: bigint;
  fields: readonly DecodedField[];
}

/** One fault recording register (VT-d FRCD) that holds a record, as hardware exposes it. */
export interface FaultRecordView {
  index: number;
  /** The register as stored (low qword, high qword). */
  raw: readonly [bigint, bigint];
  /** Every 64-bit word of a record wider than 128 bits (an SMMUv3 event: four), low first. */
  words?: readonly bigint[];
  /** F = 1: not yet read by software. F = 0 with contents: serviced, the register keeps its last record. */
  pending: boolean;
  fields: readonly DecodedField[];
  sid: number;
  reason: number;
  /** Faulting page address. */
  address: bigint;
  write: boolean;
  pasid?: number;
  /** The lines Linux's fault handler prints for this record (pr_fmt prefix, no timestamp). */
  dmesg: readonly string[];
  /** The unit that recorded it ("dmar1"), on a host with several units (IommuHostUnits). */
  unit?: string;
}

/** A fault reason in the model's vocabulary. */
export interface ReasonInfo {
  code: number;
  /** "0x05 PTE Write access is not set": the code and what Linux prints for it. */
  label: string;
  /** The spec's / QEMU's name ("VTD_FR_WRITE"), "" when there is none. */
  name: string;
  /** A few words for a table cell (the DMA Trace's result column): "PTE W=0", "IO_PAGE_FAULT". */
  short?: string;
  /** One or two plain sentences: what the hardware found. */
  explanation: string;
}

/** One qword decoded as the structure a `poke` writes it to. */
export interface DecodedWord {
  fields: DecodedField[];
  /** Reserved bits set in it, and the fault a walk through it gets. */
  reserved?: { bits: bigint; reason: number };
  present: boolean;
}

/** The inspection half of the contract. */
export interface IommuInspection {
  tables(): InspectTables;
  registers(): RegisterView[];
  /** Every fault recording register with contents; `kernel` picks the era of Linux's format strings. */
  faults(kernel?: string): FaultRecordView[];
}

/** A command the unit took from its queue, named as its spec names it (a trace's invalidate row). */
export interface CommandView {
  /** "IOTLB Invalidation", "INVALIDATE_IOMMU_PAGES", "CMD_TLBI_NH_VA"; "unknown command 0x…" for an opcode the spec does not define. */
  name: string;
  /** Where the spec defines it ("VT-d spec 6.5.2"). */
  section: string;
  /** How it reached the unit: "the invalidation queue", "the command buffer", "the command queue", "the CCMD/IOTLB registers". */
  via: string;
  /** What its spec calls the unit that processed it: "DMAR unit", "IOMMU", "SMMU". */
  unit: string;
}

/** The model's vocabulary and decoders for values the views hold (a poke's word, a trace row's reason). */
export interface IommuDecoders {
  /** A fault reason code of this model, named and explained. */
  reason(code: number): ReasonInfo;
  /** A value decoded as the named register would hold it (a poke's new value); undefined for an unknown name. */
  decodeRegister(name: string, value: bigint): DecodedField[] | undefined;
  /** One qword decoded as the entry word a poke target names (`level` places a page-table entry). */
  decodeWord(structure: EntryTarget["structure"], value: bigint, level?: number): DecodedWord;
  /** Event counters of the unit (requests, walks, IOTLB hits, faults ...), for the debugger. */
  counters(): Record<string, number>;
  /** A queued command as the trace holds it (its low and high qwords: EventKind.Invalidate a, b), named. */
  command(lo: bigint, hi: bigint): CommandView;
}
