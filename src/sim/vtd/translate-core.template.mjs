// The VT-d second-level translate step as WebAssembly, written once: this module generates the
// text of the core (translate-core.wat, never written by hand) and the layout it shares with the
// TypeScript side (translateCoreLayout.ts). scripts/build-wasm.mjs assembles the text with wabt.
//
// The step — IOTLB probe; on a miss the walk, starting with the address-width range check; the
// IOTLB fill — exists here once per rule, as a generator of straight-line WebAssembly text:
// `walk` (the unrolled page walk of N levels), `setBase`/`tags`/`match4`/`matchWays` (the IOTLB
// probe), `hitResult` (the address of a hit), `fill` (the FIFO fill). The loops below are
// specializations of the same step, expanded from those generators with the configuration
// folded in (a 4-way IOTLB, 4 levels, no IOTLB), so that each loop keeps few enough values live
// that V8 keeps them in registers. Nothing in a specialization restates a rule.
//
// Why WebAssembly: the hot path is 64-bit table entries read from simulated memory. JavaScript
// has no untagged 64-bit integer, so the TypeScript walker splits every entry and address into
// int32 halves and still ran at 0.25-0.35x of the C reference walker (../shared/bench/SPEC.md);
// here an entry is one i64.load.
//
// Rules, check for check as QEMU (hw/i386/intel_iommu.c @0192d6677c38):
// - vtd_do_iommu_translate: the IOTLB is looked up first (vtd_lookup_iotlb); a hit answers with
//   the cached permissions (a hit lacking the access faults 0x05 / 0x06, nothing is walked); only
//   a miss walks (vtd_iova_to_slpte) and fills (vtd_update_iotlb, successful walks only).
// - vtd_iova_to_slpte: first the range check (vtd_iova_sl_range_check -> ADDR_BEYOND_MGAW 0x04),
//   then level by level: permissions ANDed down the levels; a missing R/W bit faults (0x06 read /
//   0x05 write) before reserved bits (0x0C) are looked at; superpages at L3 (1 GiB) and L2
//   (2 MiB) where CAP.SLLPS has them. A table address outside the pool returns -1: the caller
//   redoes the walk in TypeScript (sparse DRAM, the top level's read error 0x03), which reads the
//   same bytes - except below the top level at an address no memory backs (at or above the
//   memory's DRAM size, PhysicalMemory.read64's read error), which the core answers itself with
//   QEMU's 0x07 (vtd_iova_to_slpte: a failed vtd_get_pte is VTD_FR_PAGING_ENTRY_INV).

/** QEMU VTDFaultReason codes the core returns. */
export const FR = { ADDR_BEYOND_MGAW: 0x04, WRITE: 0x05, READ: 0x06, PAGING_ENTRY_INV: 0x07, PAGING_ENTRY_RSVD: 0x0c };
// A missing permission is `FR.READ - write` (write is 0 or 1) and `FR.READ + 1 - need` (need =
// 1 + write: R is bit 0, W bit 1).
if (FR.READ - 1 !== FR.WRITE) throw new Error("the core computes 0x05/0x06 as READ - write");

/**
 * Where the core and the TypeScript side meet, in bytes (translateCoreLayout.ts is generated from
 * this object; nothing else states these numbers).
 */
export const LAYOUT = {
  /** The translator's block in the SRAM arena. */
  block: {
    /** i64 reserved-bit mask of level L (0..5) at masks + 8 * (2 * L + large). */
    masks: 0,
    maskCount: 12,
    /** Result of the last request: translated address (i64). */
    hpa: 96,
    /** Leaf level on success, faulting level of a walk fault, 0 otherwise (i32). */
    level: 104,
    /** Permissions (R = 1, W = 2) of the leaf or IOTLB entry (i32). */
    perm: 108,
    /** 1 when the last request was answered by the IOTLB (i32). */
    iotlbHit: 112,
    /** IOTLB hit and miss counters (i32; an AMD-Vi burst's misses: the requests it walked). */
    hits: 116,
    misses: 120,
    /** translate()'s scratch request: IOVA (i64), write flag (u8), result (i64). */
    reqIova: 128,
    reqWrite: 136,
    reqResult: 144,
    /** Scratch result of the walk loop's second pass over a burst's last request (i64). */
    lastResult: 152,
    /** translate()'s scratch info byte (see `info`). */
    reqInfo: 160,
    /** The per-format walks ($amdV1Walk, $armWalk): the leaf entry (i64). */
    entry: 168,
    /** log2 of the leaf's page size (i32). */
    pageShift: 176,
    /** The level whose entry decided a fault ($armWalk; i32). */
    faultLevel: 180,
    /** The event flags a fault of $amdV1Walk adds (i32). */
    flags: 184,
    /** The faults the last $amdBurst or $armBurst answered (i32): the unit writes their events when it takes them. */
    burstFaults: 188,
    bytes: 192,
  },
  /**
   * Per request of a burst, one info byte beside its result: the level (bits 2:0: the leaf's on
   * success, the faulting entry's on a walk fault, 0 for the range check) and whether the IOTLB
   * answered (bit 3) - what the DMAR unit's trace records of each transaction.
   */
  info: { levelMask: 7, iotlbHit: 8 },
  /**
   * The interrupt address range (QEMU VTD_INTERRUPT_ADDR_FIRST/LAST). A core configured to vet
   * walks (the DMAR unit's) hands a walk whose leaf page overlaps it back to TypeScript before
   * filling the IOTLB, as it hands back a walk that leaves the pool: the unit's rule for such a
   * translation (fault 0x0E, no IOTLB entry) is decided there, once.
   */
  interruptWindow: { first: 0xfee00000, last: 0xfeefffff },
  /** A result, 8 bytes: the translated address, or a fault as (reason, FAULT_HI). */
  faultHi: -1,
  iotlb: {
    /**
     * A set is `rows` rows of `ways` i32, one row per field, so that a field of all ways is
     * contiguous (one 128-bit load for 4 ways): tagA, tagB, page base low | perm, page base high.
     */
    rows: 4,
    rowTagA: 0,
    rowTagB: 1,
    rowBaseLo: 2,
    rowBaseHi: 3,
    /**
     * x = iova >> (pageShift + setBits): tagA = (x mod 2^30) << 2 | level (never 0: an invalid
     * way has tagA 0), tagB = did << 16 | (x >> 30) mod 2^16. The tags hold x up to bit 45, that
     * is every IOVA below 2^TAG_IOVA_BITS with any set count; a probe of an IOVA at or above it
     * misses (no walk ever fills one: the widest address width is 57 bits).
     */
    tagALevelBits: 2,
    tagAXBits: 30,
    tagBXBits: 16,
    tagBDidShift: 16,
    tagIovaBits: 57,
  },
  /**
   * AMD-Vi v1 I/O page tables ($amdV1Walk), AMD IOMMU spec 48882 rev 3.10 section 2.2.3 (Tables
   * "I/O Page Table Entry" / "PDE"; Linux amd_iommu_types.h IOMMU_PTE_PR, PM_PTE_LEVEL,
   * IOMMU_PTE_IR/IW; the model's defs.ts PTE_*): PR bit 0, Next Level 11:9 (7: a large page),
   * address 51:12, IR bit 61, IW bit 62. The walk's result: 0 a leaf, `fault` with the event
   * flags (EVENT_FLAG_* of defs.ts: PR 0x010, PE 0x040, RZ 0x080) in block.flags, `readError` an
   * entry no memory backs (its address in block.hpa). A burst's fault word is event[1] 31:16,
   * event code << codeShift | flags (spec 2.5.2: IO_PAGE_FAULT 2, PAGE_TAB_HARDWARE_ERROR 4;
   * Linux amd_iommu_types.h EVENT_TYPE_IO_FAULT, EVENT_TYPE_PAGE_TAB_ERR; RW 0x020).
   */
  amdV1: { fault: 1, readError: 2, flagPr: 0x010, flagPe: 0x040, flagRz: 0x080, flagRw: 0x020, ioPageFault: 2, pageTabHardwareError: 4, codeShift: 12, nextLevelLarge: 7, irBit: 61 },
  /**
   * The AMD-Vi IOTLB (amdvi/iotlb.ts AmdIotlb; the template's amdMatch4 / amdFill) as the core
   * probes and fills it: a set of `ways` ways is `rows` rows of `ways` i32, one row per field, so
   * that a field of a 4-way set is one 128-bit load (as VT-d's `iotlb`): the tag (domain id + 1,
   * 0 invalid; a guest view's tags lie above: AmdIotlb), the 4 KiB frame number low and high, the
   * page's address low (4 KiB aligned, `pageLoMask`) with the aux byte in its low bits, the page's
   * address high. FIFO victim byte per set. The aux byte - of a way and of a burst's result -
   * is perm (R 1, W 2) | pageShift << auxShiftShift (auxMask); a burst's info byte of an IOTLB
   * hit that faulted: infoHitFault in place of the hit bit; its fault list: per fault
   * `faultBytes`, the request's index (i32) and at 8 the event's address (i64).
   */
  amdIotlb: { rows: 5, rowTag: 0, rowVpnLo: 1, rowVpnHi: 2, rowLo: 3, rowHi: 4, pageLoMask: 0xfffff000, auxMask: 0xff, auxShiftShift: 2, infoHitFault: 0x10, faultBytes: 16 },
  /**
   * SMMUv3 VMSAv8-64 4 KiB-granule walk ($armWalk), event ids of SMMUv3 spec IHI 0070 7.3
   * (smmuv3/spec.ts F_*), Arm ARM D8.3.1 descriptor fields.
   */
  arm: { walkEabt: 0x0b, translation: 0x10, addrSize: 0x11, access: 0x12, permission: 0x13 },
  /**
   * The SMMUv3 TLB (smmuv3/unit.ts SmmuTlb, where its rule is described): the core's layout alone
   * (SmmuTlb looks up and fills through the core's armTlbLookup / armTlbFill, the bursts inline
   * the same generators). A set of `ways` ways is `rows` rows of `ways` i32, one row per field,
   * so that a field of a 4-way set's ways is one 128-bit load (as VT-d's IOTLB); entry k = set *
   * ways + way. Rows: vpnLo, the page number's bits 31:0 (vpn = input >> shift); tag: valid (bit
   * 31) | kind (bits 18:17: 1 stage 1, 2 stage 2, 3 nested) | shift - tagShiftBase (16:12) | the
   * page number's bits 43:32 (11:0), 0 for a way never filled; ids: ASID | VMID << 16 (both 16
   * bits; a stage-2 entry's ASID 0); oaLo: the output base's low dword (2^shift aligned, so bits
   * 11:0 are free) | perm (R 1, W 2, X 4) | Arm level << oaLevelAt; oaHi; ipaLo, ipaHi: a nested
   * entry's IPA base (what a stage-2 permission fault reports), 0 otherwise; one row unused (a
   * 4-way set is 128 bytes). Inputs reach 2^iaBits (52: Arm's largest input size); a probe of an
   * input beyond misses. Besides: a victim byte per set (round robin) and an i32 cell, the mask
   * of filled sizes (bit shift - 12). kindS1: the kind of a stage-1 entry. A burst's info byte
   * holds the trace's level (LAYOUT.info.levelMask), traceLevelOf - the Arm level
   * (SmmuV3Unit.leafLevel), the TLB hit bit (LAYOUT.info.iotlbHit) of a translated TLB hit, and
   * at infoPermAt the permission (R 1, W 2, X 4): a fault's the TLB entry's with infoHitFault
   * when the TLB answered, 0 when a walk did.
   */
  armTlb: {
    rows: 8,
    rowVpnLo: 0,
    rowTag: 1,
    rowIds: 2,
    rowOaLo: 3,
    rowOaHi: 4,
    rowIpaLo: 5,
    rowIpaHi: 6,
    tagValid: 0x80000000,
    tagKindAt: 17,
    tagShiftAt: 12,
    tagShiftBase: 11,
    tagVpnHiBits: 12,
    idsVmidAt: 16,
    oaPermMask: 7,
    oaLevelAt: 3,
    iaBits: 52,
    /** A burst's fault list entry: the request's index (i32), at faultFetch an F_WALK_EABT's fetch address (i64). */
    faultBytes: 16,
    faultFetch: 8,
    kindS1: 1,
    traceLevelOf: 4,
    infoPermAt: 4,
    infoHitFault: 0x80,
  },
  /** The unrolled walks: 2 (30-bit AGAW) to 5 levels (57-bit); other level counts go to TypeScript. */
  minLevels: 2,
  maxLevels: 5,
};

const B = LAYOUT.block;
const T = LAYOUT.iotlb;
const NAMES = { 5: "SL-PML5E", 4: "SL-PML4E", 3: "SL-PDPTE", 2: "SL-PDE", 1: "SL-PTE" };
const hex = (n) => `0x${n.toString(16)}`;
/** IOVA offset mask of a leaf at level L (4 KiB, 2 MiB, 1 GiB). */
const pageMask = (L) => 2 ** (12 + 9 * (L - 1)) - 1;
/** Byte offset of row r of a set of `ways` ways (a number, or an i32 expression). */
const row = (r, ways) => (typeof ways === "number" ? r * ways * 4 : `(i32.mul ${ways} (i32.const ${4 * r}))`);

// ---- the walk --------------------------------------------------------------------------------------

/**
 * Reads the table entry at HPA `at` (i64 expr) into (local $e) from the table pool: every walk of
 * every format reads its entries through this. Uses locals $off $poolHpa $poolBytes $poolOff;
 * `pool(cond)` says what to do when the entry lies outside the pool (cond: i32), where the
 * TypeScript walker, reading the same bytes, takes over.
 */
const readEntry = (at, pool) => `(local.set $off (i64.sub ${at} (local.get $poolHpa)))
    ${pool("(i64.ge_u (local.get $off) (local.get $poolBytes))")}
    (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))`;

/**
 * i64: the HPA of the level-L entry for the IOVA in (local `iova`) of the table at `table` (i64 expr):
 * index(iova, L) * 8 = (iova >> (12 + 9 (L - 1)) & 511) << 3 = (iova >> 9L) & 0xff8.
 */
const entryAt = (table, iova, L) => `(i64.add ${table}
      (i64.and (i64.shr_u (local.get ${iova}) (i64.const ${9 * L})) (i64.const 0xff8)))`;

/**
 * Software memory-level parallelism ("group prefetching", as in hash joins): the table reads of
 * the walks of requests `from` .. `from + count - 1` (i32 expr; all below the burst's end), done
 * ahead of the walks themselves, so that their SL-PT reads - W1's and W3's cache misses - are in
 * flight together while the loop answers the requests before them. Pure reads: nothing is
 * decided from them and nothing is written but the (local $sink), which keeps the reads from
 * being dropped as unused; the walk of each request later reads the same entries (then cached)
 * and decides everything as before. Each level's table comes from the entry just read, as the
 * walk's (entryAt); an address outside the pool - a not-present entry's 0, a bad pointer, a
 * superpage's page, a table in DRAM - is read at the pool's start instead (a select, not a
 * branch: a mispredicted branch would cancel the later requests' reads). Branch-free and
 * request after request (two values live per request), so the CPU overlaps the chains.
 * Uses locals $pfReq $pfIova $pfT $pfOff $sink, $reqs $poolHpa $poolBytes $poolOff, and the
 * walk's root table and entry address mask (i64 exprs; `tables`: VT-d's $root and $addrMask unless given).
 */
function prefetchWalks(levels, count, from, tables = PF_TABLES) {
  let s = `(local.set $pfReq (i32.add (local.get $reqs) (i32.shl ${from} (i32.const 3))))`;
  for (let k = 0; k < count; k++) {
    s += `
    (local.set $pfIova (i64.load offset=${8 * k} (local.get $pfReq)))
    (local.set $pfT ${tables.root})`;
    for (let L = levels; L >= 1; L--) {
      s += `
    (local.set $pfOff (i64.sub ${entryAt("(local.get $pfT)", "$pfIova", L)} (local.get $poolHpa)))
    (local.set $pfT (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64
      (select (local.get $pfOff) (i64.const 0) (i64.lt_u (local.get $pfOff) (local.get $poolBytes)))))))${
      L > 1 ? `
    (local.set $pfT (i64.and (local.get $pfT) ${tables.addrMask}))` : `
    (local.set $sink (i64.xor (local.get $sink) (local.get $pfT)))`}`;
    }
  }
  return s;
}

/** The walks' root table and entry address mask prefetchWalks reads with: VT-d's loops' locals. */
const PF_TABLES = { root: "(local.get $root)", addrMask: "(local.get $addrMask)" };
const PF_LOCALS = `(local $pfAt i32) (local $pfReq i32) (local $pfIova i64) (local $pfT i64) (local $pfOff i64) (local $sink i64)`;

/**
 * In a loop over requests $i < $n: each time $i reaches $pfAt (and `when`, an i32 expr, holds),
 * the reads of the next group of `count` requests after the current group (prefetchWalks), when
 * the burst has them; the first group of a call is read on entry (`prefetchEntry`). The walk of
 * request j thus finds its entries read while the `count` requests before it were answered.
 */
const prefetchStep = (levels, count, when, tables = PF_TABLES) =>
  count === 0
    ? ""
    : `(if ${when ? `(i32.and (i32.ge_u (local.get $i) (local.get $pfAt)) ${when})` : "(i32.ge_u (local.get $i) (local.get $pfAt))"}
          (then
            (local.set $pfAt (i32.add (local.get $i) (i32.const ${count})))
            (if (i32.le_u (i32.add (local.get $i) (i32.const ${2 * count})) (local.get $n))
              (then ${prefetchWalks(levels, count, `(local.get $pfAt)`, tables)}))))`;
const prefetchEntry = (levels, count, tables = PF_TABLES) =>
  count === 0
    ? ""
    : `(local.set $pfAt (local.get $i))
    (if (i32.le_u (i32.add (local.get $i) (i32.const ${count})) (local.get $n))
      (then ${prefetchWalks(levels, count, `(local.get $i)`, tables)}))`;
/**
 * Requests per group of prefetchWalks in the walk loop ($burstWalk4) and the IOTLB loop
 * ($burstTlb4Ahead), as measured (docs/performance.md, 2026-12-06 session 29): W1 4 / 8 / 16 /
 * 32, W3 2 / 4 / 8 / 16 were tried; 16 and 32 gave W1 the same, 8 and 16 W3. A stream that mostly
 * hits (W2: 95 %) enters the IOTLB loop at each miss and leaves it at the fourth 4 KiB hit in a
 * row; reading ahead there cost W2 a quarter of its speed (the reads of requests the IOTLB then
 * answers are wasted: nearly all of W2's, about 40 % of W3's), and even the loop's two more live
 * values cost it some. So $burstProbe4 calls the loop with the reads ahead ($burstTlb4Ahead) only
 * after a call of it that walked TLB_PREFETCH_AFTER misses or more.
 */
const PREFETCH_WALK = 16;
const PREFETCH_TLB = 8;
const TLB_PREFETCH_AFTER = 4;

/**
 * The unrolled walk of `levels` levels from the table at (local $root), for (local $iova) needing
 * (local $need) (i64: 1 read, 2 write). Reads locals $poolHpa $poolBytes $poolOff $addrMask $blk
 * $large2 $large3 (i64: PS where that level has superpages, else 0); sets $e (the entry) and, at a leaf, $offMask, then branches to `leaf` (L2/L3
 * superpages) or falls through (L1). The hooks say what the specialization does:
 *   pool(cond, L, top)  when the entry of level L (top: the first level read) lies outside the
 *                   pool (cond: i32): hand the request back, or (unbacked, below the top:
 *                   `unbacked`) fault 0x07
 *   entry(L, top)   after the entry of level L was read (ANDing permissions, noting the level)
 *   fault(L, cond)  the access lacks permission at L
 *   rsvd(L, cond)   reserved bits set at L
 */
export function walk(levels, leaf, h) {
  let s = "";
  for (let L = levels; L >= 1; L--) {
    const table = L === levels ? "(local.get $root)" : "(i64.and (local.get $e) (local.get $addrMask))";
    s += `
    ;; L${L} (${NAMES[L]}), IOVA bits ${11 + 9 * L}:${3 + 9 * L}
    ${readEntry(entryAt(table, "$iova", L), (c) => h.pool(c, L, L === levels))}
    ${h.entry(L, L === levels)}
    ${h.fault(L, "(i64.eqz (i64.and (local.get $e) (local.get $need)))")}`;
    if (L === 2 || L === 3) {
      // PS (bit 7) makes a superpage only where CAP.SLLPS has one; elsewhere PS is in the mask.
      s += `
    (if (i64.ne (i64.and (local.get $e) (local.get $large${L})) (i64.const 0))
      (then
        ${h.rsvd(L, rsvdSet(L, 1))}
        (local.set $offMask (i64.const ${hex(pageMask(L))}))
        (br ${leaf})))`;
    }
    s += `
    ${h.rsvd(L, rsvdSet(L, 0))}`;
  }
  return s + "\n    (local.set $offMask (i64.const 0xfff))";
}

/**
 * i32, for an entry outside the pool (its address minus the pool's in $off): no memory backs it
 * either - it lies at or above the memory's DRAM size, where PhysicalMemory.read64 fails - so the
 * walk's read fails: QEMU's vtd_iova_to_slpte returns VTD_FR_PAGING_ENTRY_INV (0x07) when
 * vtd_get_pte cannot read a paging entry below the top level (the top level's is the context
 * entry's SLPTPTR: 0x03, left to TypeScript). Addresses below it are sparse DRAM, walked in TypeScript.
 */
const unbacked = `(i64.ge_u (i64.add (local.get $off) (local.get $poolHpa)) (global.get $dramBytes))`;

/** i32: the entry $e has reserved bits of level L (large: a superpage) set. */
const rsvdSet = (L, large) =>
  `(i64.ne (i64.and (local.get $e) (i64.load offset=${B.masks + 8 * (2 * L + large)} (local.get $blk))) (i64.const 0))`;

/** The leaf's address: page base from the entry, offset from the IOVA (i64). */
const leafHpa = () => `(i64.or
      (i64.and (i64.and (local.get $e) (local.get $addrMask)) (i64.xor (local.get $offMask) (i64.const -1)))
      (i64.and (local.get $iova) (local.get $offMask)))`;

/**
 * When the core vets walks and the leaf page of (hpa, offMask) (i64 exprs) overlaps the interrupt
 * window, `handBack` (see LAYOUT.interruptWindow). The window is looked at only when the core
 * vets: a core that does not (the benchmark's) pays one test of $vet per walk.
 */
const vetted = (hpa, offMask, handBack) => `(if (local.get $vet)
      (then
        (if (i32.and (i64.le_u (i64.and ${hpa} (i64.xor ${offMask} (i64.const -1))) (i64.const ${hex(LAYOUT.interruptWindow.last)}))
              (i64.ge_u (i64.or ${hpa} ${offMask}) (i64.const ${hex(LAYOUT.interruptWindow.first)})))
          (then ${handBack}))))`;

/** The info byte of a request (i32 exprs: level, hit 0/1). */
const infoByte = (level, hit) => `(i32.or ${level} (i32.shl ${hit} (i32.const ${Math.log2(LAYOUT.info.iotlbHit)})))`;

/** Locals every walking function declares, and their values from the globals. */
const WALK_LOCALS = `(local $e i64) (local $off i64) (local $offMask i64) (local $perm i64) (local $need i64)
    (local $poolBytes i64) (local $poolHpa i64) (local $poolOff i32) (local $addrMask i64) (local $blk i32)
    (local $large2 i64) (local $large3 i64) (local $vet i32)`;
// Globals in locals: V8 reloads a mutable global at every use. The pool does not grow during a burst.
// A value the hot loops use is read from a global or a parameter as it is, not computed from one
// before the loop: V8's scheduler places such a computation (a shift, an add) inside the loop,
// where it runs again for every request.
const WALK_SETUP = `(local.set $poolBytes (i64.extend_i32_u (i32.load (global.get $poolBytesAt))))
    (local.set $poolHpa (global.get $poolHpa))
    (local.set $poolOff (global.get $poolOff))
    (local.set $addrMask (global.get $addrMask))
    (local.set $blk (global.get $blk))
    (local.set $vet (global.get $vet))
    (local.set $large3 (global.get $ps3))
    (local.set $large2 (global.get $ps2))`;

/** Permissions ANDed down the levels. */
const andPerm = (L, top) => (top ? "(local.set $perm (local.get $e))" : "(local.set $perm (i64.and (local.get $perm) (local.get $e)))");

/**
 * A whole walk of `levels` levels into the result block: an i32 expression, 0 (address, level,
 * permissions in the block), a fault reason (level in the block), or -1 (left the pool).
 */
function walkToBlock(levels) {
  return `(block $walked (result i32)
    (block $leaf
    (block $rsvd
    (block $fault
    ${walk(levels, "$leaf", {
      pool: (c, L, top) =>
        top
          ? `(if ${c} (then (br $walked (i32.const -1))))`
          : `(if ${c} (then
        (br_if $walked (i32.const -1) (i32.eqz ${unbacked})) (drop)
        (i32.store offset=${B.level} (local.get $blk) (i32.const ${L}))
        (br $walked (i32.const ${FR.PAGING_ENTRY_INV}))))`,
      entry: (L, top) => `${andPerm(L, top)} (local.set $level (i32.const ${L}))`,
      fault: (L, c) => `(br_if $fault ${c})`,
      rsvd: (L, c) => `(if ${c} (then (br $rsvd)))`,
    })}
    (br $leaf))
    ;; A missing R or W bit at $level.
    (i32.store offset=${B.level} (local.get $blk) (local.get $level))
    (br $walked (i32.sub (i32.const ${FR.READ + 1}) (i32.wrap_i64 (local.get $need)))))
    ;; Reserved bits set in the entry at $level.
    (i32.store offset=${B.level} (local.get $blk) (local.get $level))
    (br $walked (i32.const ${FR.PAGING_ENTRY_RSVD})))
    ;; The leaf at $level (handed back, as a walk out of the pool, when the core vets it).
    ${vetted(leafHpa(), "(local.get $offMask)", "(br $walked (i32.const -1))")}
    (i64.store offset=${B.hpa} (local.get $blk) ${leafHpa()})
    (i32.store offset=${B.level} (local.get $blk) (local.get $level))
    (i32.store offset=${B.perm} (local.get $blk) (i32.wrap_i64 (i64.and (local.get $perm) (i64.const 3))))
    (i32.const 0))`;
}

/** $walk2 .. $walk5: a walk of that many levels, into the result block (walkToBlock). */
function walkFunc(levels) {
  return `
  (func $walk${levels} (param $root i64) (param $iova i64) (param $write i32) (result i32)
    ${WALK_LOCALS} (local $level i32)
    ${WALK_SETUP}
    (local.set $need (i64.extend_i32_u (i32.add (local.get $write) (i32.const 1))))
    ${walkToBlock(levels)})`;
}

// ---- the IOTLB -------------------------------------------------------------------------------------

/** i32: byte address of the set of the level-L key of $iova (shift = pageShift, i64 expr). */
const setBase = (shift, ways) =>
  typeof ways === "number" && ways === 4
    ? `(i32.add (local.get $tlb) (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) ${shift})) (local.get $setMask)) (i32.const ${Math.log2(T.rows * 4 * 4)})))`
    : `(i32.add (local.get $tlb) (i32.shl (i32.mul (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) ${shift})) (local.get $setMask)) ${ways}) (i32.const ${Math.log2(T.rows * 4)})))`;

/** The tags of $iova at level L (i32 expr) given x = iova >> (pageShift + setBits) (i64 expr). */
const tagA = (x, L) => `(i32.or (i32.shl (i32.wrap_i64 ${x}) (i32.const ${T.tagALevelBits})) ${L})`;
const tagB = (x) =>
  `(i32.or (local.get $didTag) (i32.and (i32.wrap_i64 (i64.shr_u ${x} (i64.const ${T.tagAXBits}))) (i32.const ${hex(2 ** T.tagBXBits - 1)})))`;

/**
 * A 4-way set at `base` (i32 local name) compared with (tagA, tagB) at once, as the hardware's
 * CAM does: the set keeps each field of its ways side by side, so tagA of ways 0-3 is one 128-bit
 * load and tagB the next. i32: bit w set when way w matches; at most one does (a fill only
 * follows a miss for the same tag).
 */
const match4 = (base, a, b) => `(i32x4.bitmask
      (v128.and
        (i32x4.eq (v128.load offset=${row(T.rowTagA, 4)} (local.get ${base})) (i32x4.splat ${a}))
        (i32x4.eq (v128.load offset=${row(T.rowTagB, 4)} (local.get ${base})) (i32x4.splat ${b}))))`;

/** Any number of ways (local $ways): sets $q to the matching way's tagA address, or -1. */
const matchWays = (base, a, b) => `(local.set $q (i32.const -1))
    (local.set $tagA ${a})
    (local.set $tagB ${b})
    (local.set $w (i32.const 0))
    (block $found
      (loop $way
        (br_if $found (i32.ge_u (local.get $w) (local.get $ways)))
        (if (i32.and
              (i32.eq (i32.load (i32.add (local.get ${base}) (i32.shl (local.get $w) (i32.const 2)))) (local.get $tagA))
              (i32.eq (i32.load (i32.add (local.get ${base}) (i32.shl (i32.add (local.get $ways) (local.get $w)) (i32.const 2)))) (local.get $tagB)))
          (then
            (local.set $q (i32.add (local.get ${base}) (i32.shl (local.get $w) (i32.const 2))))
            (br $found)))
        (local.set $w (i32.add (local.get $w) (i32.const 1)))
        (br $way)))`;

/** i32: the low dword of a hit's address: page base from baseLo, offset from $iova (offMask32: a number or an i32 expr). */
const hitLo = (baseLo, offMask32) =>
  typeof offMask32 === "number"
    ? `(i32.or (i32.and ${baseLo} (i32.const ${hex(~offMask32 >>> 0)})) (i32.and (i32.wrap_i64 (local.get $iova)) (i32.const ${hex(offMask32)})))`
    : `(i32.or (i32.and ${baseLo} (i32.xor ${offMask32} (i32.const -1))) (i32.and (i32.wrap_i64 (local.get $iova)) ${offMask32}))`;

/** i32: the IOVA lies where no IOTLB tag reaches: the probe misses. */
const untaggable = `(i64.ne (i64.shr_u (local.get $iova) (i64.const ${T.tagIovaBits})) (i64.const 0))`;

/**
 * The FIFO fill of the leaf at level (i32 expr `L`) for $iova: hpa (i64 expr, the translated
 * address), perm (i32 expr, R|W). `ways`: 4, or "(local.get $ways)". Uses locals $shift $set $x $w $q.
 */
function fill(L, hpa, perm, ways) {
  const four = ways === 4;
  const next = four
    ? `(i32.and (i32.add (local.get $w) (i32.const 1)) (i32.const 3))`
    : `(select (i32.const 0) (i32.add (local.get $w) (i32.const 1)) (i32.eq (i32.add (local.get $w) (i32.const 1)) ${ways}))`;
  const q = four
    ? `(i32.add (local.get $tlb) (i32.add (i32.shl (local.get $set) (i32.const 6)) (i32.shl (local.get $w) (i32.const 2))))`
    : `(i32.add (local.get $tlb) (i32.shl (i32.add (i32.mul (local.get $set) (i32.shl ${ways} (i32.const 2))) (local.get $w)) (i32.const 2)))`;
  const at = (r) => (four ? `offset=${row(r, 4)} (local.get $q)` : `(i32.add (local.get $q) ${r === 0 ? "(i32.const 0)" : `(i32.mul ${ways} (i32.const ${4 * r}))`})`);
  return `;; Fill: key = iova >> shift of the leaf's level, FIFO victim way of its set.
    (local.set $shift (i64.extend_i32_u (i32.add (i32.const 3) (i32.mul (i32.const 9) ${L}))))
    (local.set $set (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) (local.get $shift))) (local.get $setMask)))
    (local.set $x (i64.shr_u (local.get $iova) (i64.add (local.get $shift) (local.get $setBits))))
    (local.set $w (i32.load8_u (i32.add (local.get $victim) (local.get $set))))
    (i32.store8 (i32.add (local.get $victim) (local.get $set)) ${next})
    (local.set $q ${q})
    (i32.store ${at(T.rowTagA)} ${tagA("(local.get $x)", L)})
    (i32.store ${at(T.rowTagB)} ${tagB("(local.get $x)")})
    (i32.store ${at(T.rowBaseLo)}
      (i32.or (i32.and (i32.wrap_i64 ${hpa})
        (i32.xor (i32.sub (i32.shl (i32.const 1) (i32.wrap_i64 (local.get $shift))) (i32.const 1)) (i32.const -1))) ${perm}))
    (i32.store ${at(T.rowBaseHi)} (i32.wrap_i64 (i64.shr_u ${hpa} (i64.const 32))))`;
}

/** Locals of the IOTLB generators, and their values from the globals. */
const TLB_LOCALS = `(local $tlb i32) (local $victim i32) (local $setMask i32) (local $setBits i64) (local $didTag i32)
    (local $shift i64) (local $set i32) (local $x i64) (local $w i32) (local $q i32) (local $base i32) (local $baseLo i32)`;
const tlbSetup = (didTag = `(i32.shl (local.get $did) (i32.const ${T.tagBDidShift}))`) => `(local.set $tlb (global.get $tlb))
    (local.set $victim (global.get $victim))
    (local.set $setMask (global.get $setMask))
    (local.set $setBits (global.get $setBits))
    (local.set $didTag ${didTag})`;
const TLB_SETUP = tlbSetup();
/** The domain's tag bits of tagB (the hot loops take it as a parameter: see WALK_SETUP). */
const didTagOf = (did) => `(i32.shl ${did} (i32.const ${T.tagBDidShift}))`;

// ---- the per-format walk steps ------------------------------------------------------------------------
// The other models' table formats, walked by the same machinery (readEntry, the result block, the
// pool hand-back): one function per format, called per request by the model's unit in place of
// its TypeScript walk loop (AmdViUnit.translate, StageWalker.walk), which stays for what the core
// does not do (the views' trail, an entry outside the pool). test/unit/walk-core.test.ts drives
// random tables through both and requires the same verdict.

const A = LAYOUT.amdV1;
const ARM = LAYOUT.arm;
/** Address field of an entry, bits 51:12 (AMD-Vi v1) or 47:12 (VMSAv8-64, 4 KiB granule). */
const ADDR_51_12 = "0x000ffffffffff000";
const ADDR_47_12 = "0x0000fffffffff000";
/** i64: the IOVA's table index at AMD-Vi level L (i32 expr): bits 12 + 9 (L - 1) up, 9 of them. */
const amdIndex = (L) =>
  `(i64.and (i64.shr_u (local.get $iova) (i64.extend_i32_u (i32.add (i32.const 3) (i32.mul (i32.const 9) ${L})))) (i64.const 511))`;
/** The request as one i64 from its uint32 halves (JavaScript passes numbers without allocating). */
const iovaOf = (hi, lo) => `(i64.or (i64.shl (i64.extend_i32_u (local.get ${hi})) (i64.const 32)) (i64.extend_i32_u (local.get ${lo})))`;
const FORMAT_LOCALS = `(local $e i64) (local $off i64) (local $poolBytes i64) (local $poolHpa i64) (local $poolOff i32) (local $blk i32)`;
const FORMAT_SETUP = `(local.set $poolBytes (i64.extend_i32_u (i32.load (global.get $poolBytesAt))))
    (local.set $poolHpa (global.get $poolHpa))
    (local.set $poolOff (global.get $poolOff))
    (local.set $blk (global.get $blk))`;
const handBack = (c) => `(if ${c} (then (return (i32.const -1))))`;

/**
 * The rules of a v1 entry (AMD IOMMU spec 48882 section 2.2.3; QEMU hw/i386/amd_iommu.c fetch_pte;
 * Linux amd/io_pgtable.c), stated once for the loop ($amdV1Walk) and the unrolled walks of the
 * bursts: PR (bit 0) clear; IR/IW (bits 61/62) as R = 1, W = 2 ANDed into $p; Next Level (11:9).
 */
const amdAbsent = "(i64.eqz (i64.and (local.get $e) (i64.const 1)))";
const amdAndPerm = (p) => `(local.set ${p} (i32.and (local.get ${p}) (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const ${A.irBit})))))`;
const amdNextLevel = "(i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 9))) (i32.const 7))";
/** i32: the leaf's permission $p lacks the access ($write 0/1: need R = 1 or W = 2). */
const amdLacks = (p) => `(i32.eqz (i32.and (local.get ${p}) (i32.add (local.get $write) (i32.const 1))))`;
/**
 * Reads the v1 entry at `at` (i64 expr) into $e (readEntry). Outside the pool: where no memory
 * backs it (`unbacked`: PhysicalMemory.read64 fails, the unit's PAGE_TAB_HARDWARE_ERROR at that
 * entry's address, AmdViUnit.translate) `readError` (its address in $off + $poolHpa), else
 * (sparse DRAM) `back`; in the event log ($evtOff: the log's offset from the pool, $evtBytes its
 * size, 0 for none: a burst logs its faults after it ran, so a walk must not read what they will
 * write) `back`.
 */
const amdRead = (at, back, readError) => `${readEntry(at, (c) => `(if ${c} (then (if ${unbacked} (then ${readError})) ${back}))`)}
    (if (i64.lt_u (i64.sub (local.get $off) (local.get $evtOff)) (local.get $evtBytes)) (then ${back}))`;

/**
 * AMD-Vi v1 (AMD IOMMU spec 48882 section 2.2.3; QEMU hw/i386/amd_iommu.c fetch_pte; Linux
 * amd/io_pgtable.c): the walk of DTE Mode levels from the Page Table Root Pointer. Per level: PR
 * (bit 0) clear is an IO_PAGE_FAULT without flags; IR/IW (bits 61/62) ANDed into the DTE's
 * ($perm); Next Level (11:9) 0 is a leaf of the level's size, 7 a large page whose size the
 * address encodes - 2^(13 + the one bits from bit 12 up) (QEMU pte_override_page_mask; Linux
 * PTE_PAGE_SIZE) - more than the level reaches is an invalid encoding (PR | RZ); a leaf lacking the
 * access's permission is PR | PE; a Next Level at or above the current one is an invalid encoding
 * (PR | RZ); the levels a PDE skips need zero IOVA index bits (a fault without flags).
 * 0: a leaf (entry address, level, permission, page shift in the block); LAYOUT.amdV1.fault: a
 * fault (level, flags in the block); LAYOUT.amdV1.readError: an entry no memory backs (level, the
 * entry's address in block.hpa); -1: an entry in sparse DRAM or in the event log (see amdRead;
 * the export: no event log), which TypeScript walks. From a table of any level with the
 * permissions so far: the unrolled walks of the bursts continue here for what they do not unroll.
 */
function amdV1WalkFunc() {
  const fault = (flags) => `(i32.store offset=${B.flags} (local.get $blk) (i32.const ${hex(flags)})) (return (i32.const ${A.fault}))`;
  return `
  (func (export "amdV1Walk") (param $root f64) (param $mode i32) (param $iovaHi i32) (param $iovaLo i32) (param $perm i32) (param $write i32) (result i32)
    (call $amdV1Walk (i64.trunc_f64_u (local.get $root)) (local.get $mode) ${iovaOf("$iovaHi", "$iovaLo")} (local.get $perm) (local.get $write)
      (i64.const 0) (i64.const 0)))

  (func $amdV1Walk (param $root i64) (param $mode i32) (param $iova i64) (param $perm i32) (param $write i32)
    (param $evtOff i64) (param $evtBytes i64) (result i32)
    ${FORMAT_LOCALS} (local $table i64) (local $level i32) (local $next i32) (local $shift i32) (local $l i32)
    ${FORMAT_SETUP}
    (local.set $table (local.get $root))
    (local.set $level (local.get $mode))
    (loop $down
      (i32.store offset=${B.level} (local.get $blk) (local.get $level))
      ${amdRead(`(i64.add (local.get $table) (i64.shl ${amdIndex("(local.get $level)")} (i64.const 3)))`, "(return (i32.const -1))",
        `(i64.store offset=${B.hpa} (local.get $blk) (i64.add (local.get $off) (local.get $poolHpa))) (return (i32.const ${A.readError}))`)}
      (if ${amdAbsent} (then ${fault(0)}))
      ${amdAndPerm("$perm")}
      (local.set $next ${amdNextLevel})
      (if (i32.or (i32.eqz (local.get $next)) (i32.eq (local.get $next) (i32.const ${A.nextLevelLarge})))
        (then
          (local.set $shift (i32.add (i32.const 3) (i32.mul (i32.const 9) (local.get $level))))
          (if (i32.eq (local.get $next) (i32.const ${A.nextLevelLarge}))
            (then
              ;; The one bits of address bits 51:12 from bit 12 up: the trailing zeros of their complement (at most 40).
              (local.set $shift (i32.add (i32.const 13) (i32.wrap_i64 (i64.ctz (i64.xor
                (i64.and (i64.shr_u (local.get $e) (i64.const 12)) (i64.const 0xffffffffff)) (i64.const -1))))))
              (if (i32.gt_u (local.get $shift) (i32.add (i32.const 12) (i32.mul (i32.const 9) (local.get $level))))
                (then ${fault(A.flagPr | A.flagRz)}))))
          (if ${amdLacks("$perm")} (then ${fault(A.flagPr | A.flagPe)}))
          (i64.store offset=${B.hpa} (local.get $blk) (i64.and (local.get $e) (i64.const ${ADDR_51_12})))
          (i32.store offset=${B.perm} (local.get $blk) (local.get $perm))
          (i32.store offset=${B.pageShift} (local.get $blk) (local.get $shift))
          (return (i32.const 0))))
      (if (i32.ge_u (local.get $next) (local.get $level)) (then ${fault(A.flagPr | A.flagRz)}))
      ;; The levels the entry skips: their index bits must be zero.
      (local.set $l (i32.sub (local.get $level) (i32.const 1)))
      (block $skipped
        (loop $skip
          (br_if $skipped (i32.le_u (local.get $l) (local.get $next)))
          (if (i64.ne ${amdIndex("(local.get $l)")} (i64.const 0)) (then ${fault(0)}))
          (local.set $l (i32.sub (local.get $l) (i32.const 1)))
          (br $skip)))
      (local.set $table (i64.and (local.get $e) (i64.const ${ADDR_51_12})))
      (local.set $level (local.get $next))
      (br $down))
    (unreachable))`;
}

const AI = LAYOUT.amdIotlb;
const IW = LAYOUT.interruptWindow;
/** The Modes whose bursts walk unrolled ($amdBurstWalk4, $amdBurstTlb4 with $amdProbe4); the others call $amdV1Walk per miss ($amdBurstAny). */
const AMD_UNROLLED = [4];

/**
 * The walk of a burst's miss: `levels` unrolled levels from $root (Mode = levels), or 0: the loop
 * ($amdV1Walk). Ends in br $leaf ($addr the leaf entry's address field, $shift, $p, $lvl), br
 * $fault ($flags, $infoF), or br $stop (hand the request back). Unrolled, a level takes the common
 * entries - a PDE of the next level, a leaf (Next Level 0) of the level's size, PR clear - and
 * leaves the rest (skipped levels, Next Level 7, invalid encodings) to $amdV1Walk from that
 * level's table with the permissions so far (ANDing them again changes nothing).
 */
function amdBurstWalk(levels) {
  /** PAGE_TAB_HARDWARE_ERROR at level L (i32 expr), the entry's address `at` (i64 expr): no flags but RW. */
  const readErrorAt = (L, at) => `(local.set $code (i32.const ${A.pageTabHardwareError})) (local.set $evtAddr ${at})
            (local.set $flags (i32.const 0)) (local.set $infoF ${L}) (br $fault)`;
  const general = (table, level) => `(local.set $r (call $amdV1Walk ${table} ${level} (local.get $iova) (local.get $p) (local.get $write)
          (local.get $evtOff) (local.get $evtBytes)))
        (br_if $stop (i32.lt_s (local.get $r) (i32.const 0)))
        (local.set $lvl (i32.load offset=${B.level} (local.get $blk)))
        (if (i32.eq (local.get $r) (i32.const ${A.readError}))
          (then ${readErrorAt("(local.get $lvl)", `(i64.load offset=${B.hpa} (local.get $blk))`)}))
        (if (local.get $r)
          (then
            (local.set $flags (i32.load offset=${B.flags} (local.get $blk)))
            (local.set $infoF (local.get $lvl))
            (br $fault)))
        (local.set $addr (i64.load offset=${B.hpa} (local.get $blk)))
        (local.set $shift (i32.load offset=${B.pageShift} (local.get $blk)))
        (local.set $p (i32.load offset=${B.perm} (local.get $blk)))
        (br $leaf)`;
  if (levels === 0) return `(local.set $p (local.get $perm))
        ${general("(local.get $root)", "(local.get $mode)")}`;
  const faultAt = (L, flags) => `(local.set $flags (i32.const ${hex(flags)})) (local.set $infoF (i32.const ${L})) (br $fault)`;
  const leafAt = (L) => `(local.set $shift (i32.const ${12 + 9 * (L - 1)}))
            (local.set $addr (i64.and (local.get $e) (i64.const ${ADDR_51_12})))
            (local.set $lvl (i32.const ${L}))
            (if ${amdLacks("$p")} (then ${faultAt(L, A.flagPr | A.flagPe)}))
            (br $leaf)`;
  let s = "(local.set $p (local.get $perm))\n        (local.set $table (local.get $root))";
  for (let L = levels; L >= 1; L--) {
    // index(iova, L) * 8 = (iova >> (12 + 9 (L - 1)) & 511) << 3 = (iova >> 9L) & 0xff8
    s += `
        ;; Level ${L}: IOVA bits ${Math.min(63, 11 + 9 * L)}:${3 + 9 * L}
        ${L === levels ? "" : `(local.set $table (i64.and (local.get $e) (i64.const ${ADDR_51_12})))`}
        ${amdRead(`(i64.add (local.get $table) (i64.and (i64.shr_u (local.get $iova) (i64.const ${9 * L})) (i64.const 0xff8)))`, "(br $stop)",
          readErrorAt(`(i32.const ${L})`, "(i64.add (local.get $off) (local.get $poolHpa))"))}
        (if ${amdAbsent} (then ${faultAt(L, 0)}))
        ${amdAndPerm("$p")}
        (local.set $next ${amdNextLevel})
        (if (i32.ne (local.get $next) (i32.const ${L - 1}))
          (then
            ${L > 1 ? `(if (i32.eqz (local.get $next)) (then ${leafAt(L)}))` : ""}
            ${general("(local.get $table)", `(i32.const ${L})`)}))`;
  }
  return s + `
        ${leafAt(1)}`;
}

// ---- The AMD-Vi IOTLB (amdvi/iotlb.ts AmdIotlb; LAYOUT.amdIotlb): its rules, once, for the bursts
// and for AmdIotlb's lookups and fills (amdIotlbMatch, amdIotlbFill). Locals: $tlb $setMask
// $victim $ways (the geometry, from the globals), $base $m $q $set $w.

/** i32: the address of the set of 4 KiB frame `vpnLo` (i32 expr): its low bits. `four`: a 4-way IOTLB. */
const amdSetAt = (vpnLo, four) =>
  `(i32.add (local.get $tlb) (i32.mul (i32.and ${vpnLo} (local.get $setMask)) ${four ? `(i32.const ${AI.rows * 16})` : `(i32.mul (local.get $ways) (i32.const ${AI.rows * 4}))`}))`;

/**
 * i32: bit w set when way w of the 4-way set at `base` (i32 expr) holds tag (`tags`: a v128 of it
 * in every lane) and frame (vpnLo, vpnHi): one 128-bit load and compare per field, as match4. At
 * most one way of a view matches (a fill follows a miss of the same tag and frame); a guest
 * view's ways may share tag and frame with other PASIDs (AmdIotlb.lookup picks among them).
 */
const amdMatch4 = (base, tags, vpnLo, vpnHi) => `(i32x4.bitmask (v128.and (v128.and
        (i32x4.eq (v128.load offset=${row(AI.rowTag, 4)} ${base}) ${tags})
        (i32x4.eq (v128.load offset=${row(AI.rowVpnLo, 4)} ${base}) (i32x4.splat ${vpnLo})))
        (i32x4.eq (v128.load offset=${row(AI.rowVpnHi, 4)} ${base}) (i32x4.splat ${vpnHi}))))`;

/** The same mask for any number of ways ($ways), a way at a time, into $m (the set at $base). */
const amdMatchAny = (tag, vpnLo, vpnHi) => `(local.set $m (i32.const 0))
            (local.set $w (i32.const 0))
            (block $matched
              (loop $way
                (br_if $matched (i32.ge_u (local.get $w) (local.get $ways)))
                (local.set $q (i32.add (local.get $base) (i32.shl (local.get $w) (i32.const 2))))
                (local.set $m (i32.or (local.get $m) (i32.shl
                  (i32.and (i32.eq (i32.load (local.get $q)) ${tag})
                    (i32.and (i32.eq (i32.load (i32.add (local.get $q) ${row(AI.rowVpnLo, "(local.get $ways)")})) ${vpnLo})
                      (i32.eq (i32.load (i32.add (local.get $q) ${row(AI.rowVpnHi, "(local.get $ways)")})) ${vpnHi})))
                  (local.get $w))))
                (local.set $w (i32.add (local.get $w) (i32.const 1)))
                (br $way)))`;

/** i32: the address of the lowest matching way's tag in the set at $base (mask $m, not 0). */
const amdWayOf = "(i32.add (local.get $base) (i32.shl (i32.ctz (local.get $m)) (i32.const 2)))";

/** Row r of the way whose tag is at $q (`four`: a 4-way set). A load/store's address operand. */
const amdAt = (r, four) => (four ? `offset=${row(r, 4)} (local.get $q)` : `(i32.add (local.get $q) ${r === 0 ? "(i32.const 0)" : row(r, "(local.get $ways)")})`);

/** i32: a way's lo word: the 4 KiB page's address low `hpaLo` (i32 expr) | perm | pageShift << auxShiftShift (the aux byte). */
const amdLoWord = (hpaLo, perm, shift) =>
  `(i32.or (i32.and ${hpaLo} (i32.const ${hex(AI.pageLoMask)})) (i32.or ${perm} (i32.shl ${shift} (i32.const ${AI.auxShiftShift}))))`;

/**
 * The FIFO fill (AmdIotlb.fill, the bursts' fills): the frame's set's victim way takes tag,
 * (vpnLo, vpnHi), lo word and hi (i32 exprs), the victim moves to the next way. Leaves $set, $w.
 */
const amdFill = (four, tag, vpnLo, vpnHi, lo, hi) => `(local.set $set (i32.and ${vpnLo} (local.get $setMask)))
            (local.set $w (i32.load8_u (i32.add (local.get $victim) (local.get $set))))
            (i32.store8 (i32.add (local.get $victim) (local.get $set))
              ${four ? "(i32.and (i32.add (local.get $w) (i32.const 1)) (i32.const 3))" : "(i32.rem_u (i32.add (local.get $w) (i32.const 1)) (local.get $ways))"})
            (local.set $q (i32.add (i32.add (local.get $tlb) (i32.mul (local.get $set) ${four ? `(i32.const ${AI.rows * 16})` : `(i32.mul (local.get $ways) (i32.const ${AI.rows * 4}))`}))
              (i32.shl (local.get $w) (i32.const 2))))
            (i32.store ${amdAt(AI.rowTag, four)} ${tag})
            (i32.store ${amdAt(AI.rowVpnLo, four)} ${vpnLo})
            (i32.store ${amdAt(AI.rowVpnHi, four)} ${vpnHi})
            (i32.store ${amdAt(AI.rowLo, four)} ${lo})
            (i32.store ${amdAt(AI.rowHi, four)} ${hi})`;

const AMD_TLB_LOCALS = "(local $tlb i32) (local $setMask i32) (local $victim i32) (local $ways i32) (local $base i32) (local $m i32) (local $q i32) (local $set i32) (local $w i32)";
const AMD_TLB_SETUP = `(local.set $tlb (global.get $amdTlb))
    (local.set $setMask (global.get $amdSetMask))
    (local.set $victim (global.get $amdVictim))
    (local.set $ways (global.get $amdWays))`;

/** i32: the request ($iova, $write) is a write to the interrupt range, an interrupt, not DMA (AmdViUnit.translate: MSI_FIRST..MSI_LAST). */
const amdInterruptWrite = `(i32.and (local.get $write) (i64.lt_u (i64.sub (local.get $iova) (i64.const ${hex(IW.first)})) (i64.const ${hex(IW.last - IW.first + 1)})))`;

/** An IOTLB hit lacking the access's permission is an IO_PAGE_FAULT (PR | PE) at level 1, info bit infoHitFault in place of the hit bit, aux from the way: the unit's. */
const AMD_HIT_FAULT = { flags: A.flagPr | A.flagPe, info: 1 | AI.infoHitFault };

/**
 * A permitted hit's result - page address from the way's lo word $lo and hi row (the way at $q),
 * offset from $iova -, its info byte (level 1, hit) and aux byte (the way's). `resultAt`: i32 expr.
 */
const amdHitOut = (resultAt, four) => `(i32.store ${resultAt}
            (i32.or (i32.and (local.get $lo) (i32.const ${hex(AI.pageLoMask)})) (i32.and (i32.wrap_i64 (local.get $iova)) (i32.const 0xfff))))
          (i32.store offset=4 ${resultAt} (i32.load ${amdAt(AI.rowHi, four)}))
          (i32.store8 (i32.add (local.get $info) (local.get $i)) ${infoByte("(i32.const 1)", "(i32.const 1)")})
          (i32.store8 (i32.add (local.get $aux) (local.get $i)) (local.get $lo))`;

/**
 * A fault of request $i: its event word (event code << ${A.codeShift} | flags with RW: event[1] 31:16, which
 * the unit logs when it takes the result) and LAYOUT.faultHi as its result, its info and aux
 * bytes, and its entry in the fault list ($faultList: the index, the event's address `addr`);
 * $faults counts it. code, flags, info, aux: i32 exprs; addr i64. Uses $o.
 */
const amdFaultOut = (resultAt, code, flags, info, aux, addr) => `(i32.store ${resultAt} (i32.or (i32.shl ${code} (i32.const ${A.codeShift}))
          (i32.or (i32.shl (local.get $write) (i32.const ${Math.log2(A.flagRw)})) ${flags})))
        (i32.store offset=4 ${resultAt} (i32.const ${LAYOUT.faultHi}))
        (i32.store8 (i32.add (local.get $info) (local.get $i)) ${info})
        (i32.store8 (i32.add (local.get $aux) (local.get $i)) ${aux})
        (local.set $o (i32.add (local.get $faultList) (i32.shl (local.get $faults) (i32.const ${Math.log2(AI.faultBytes)}))))
        (i32.store (local.get $o) (local.get $i))
        (i64.store offset=8 (local.get $o) ${addr})
        (local.set $faults (i32.add (local.get $faults) (i32.const 1)))`;

/**
 * How many IOTLB hits in a row $amdBurstTlb4 answers before it hands the stream back to
 * $amdHitRun4 at the next, as VT-d's $burstTlb4 hands back at the fourth 4 KiB hit in a row.
 * Measured (callgrind, docs/benchmarks-amd-smmu.md): 0 and 3 the same for W2 (95 % hits), 3
 * about 40 instructions a request fewer for W3 (35 % hits among walks: fewer switches).
 */
const AMD_HIT_RUN = 3;

/** Requests per group of reads ahead (prefetchWalks) in $amdBurstWalk4 (W1: every request walks), VT-d's PREFETCH_WALK. */
const AMD_PREFETCH_WALK = 16;

/**
 * AMD-Vi's translate step for a burst of $n requests of one device whose DTE the unit resolved
 * (domain $did, Mode $mode levels from $root, the DTE's IR/IW $perm), from request $i: per request, in
 * AmdViUnit.translate's order - a write to the interrupt range is not DMA; the IOTLB (4 KiB frame
 * tag, $useTlb); on a miss the Mode's address range, the walk (amdBurstWalk), the IOTLB fill of
 * the leaf. Request i, result i and info byte i as in $burst, aux byte i: perm | pageShift <<
 * ${AI.auxShiftShift}. A fault is a result too: (event code << ${A.codeShift} | flags with RW, LAYOUT.faultHi), the
 * word of event[1] 31:16 that the unit logs when it takes the result, and an entry of the fault
 * list ($faultList: the request's index, the event's address) - an IO_PAGE_FAULT: an IOTLB hit
 * lacking the permission (PR | PE, level 1, info bit ${hex(AI.infoHitFault)} in place of the hit bit, aux from
 * the entry), a range fault (level 0), a walk fault (its level; aux perm 0, 4 KiB); a
 * PAGE_TAB_HARDWARE_ERROR: an entry no memory backs (its level, its address the event's).
 * Stops at the first request it does not answer - an interrupt write, an entry in sparse DRAM
 * or in the event log ($evtOff, $evtBytes: see amdRead) - and returns its index (n when all were
 * answered; -1 - index from $amdBurstTlb4); nothing of that request was counted, cached or
 * written, so the unit translates it alone. Adds its IOTLB hits to block.hits, its walks (the
 * misses in range) to block.misses, its faults to block.burstFaults (the fault list's length).
 * Specializations (`tlb`): "any" (any Mode, any IOTLB geometry, or none: $useTlb), "none" (no
 * IOTLB: `levels` unrolled), 4 (a 4-way IOTLB, `levels` unrolled; hands back to $amdHitRun4 - returns
 * the request's index - at a hit after ${AMD_HIT_RUN} hits in a row).
 */
function amdBurstFunc(name, levels, tlb, ahead = 0) {
  const resultAt = "(i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3)))";
  const four = tlb === 4;
  const probe = four
    ? `(local.set $base ${amdSetAt("(local.get $vpnLo)", true)})
            (local.set $m ${amdMatch4("(local.get $base)", "(local.get $tags)", "(local.get $vpnLo)", "(local.get $vpnHi)")})`
    : `(local.set $base ${amdSetAt("(local.get $vpnLo)", false)})
            ${amdMatchAny("(local.get $tagV)", "(local.get $vpnLo)", "(local.get $vpnHi)")}`;
  const counters = `(i32.store offset=${B.hits} (local.get $blk) (i32.add (i32.load offset=${B.hits} (local.get $blk)) (local.get $hits)))
    (i32.store offset=${B.misses} (local.get $blk) (i32.add (i32.load offset=${B.misses} (local.get $blk))
      (i32.sub (i32.sub (i32.sub (local.get $i) (local.get $start)) (local.get $hits)) (local.get $outOfRange))))
    (i32.store offset=${B.burstFaults} (local.get $blk) (local.get $faults))`;
  const hit = tlb === "none" ? "" : `(block $hit
            ${tlb === "any" ? "(br_if $miss (i32.eqz (local.get $useTlb)))" : ""}
            ${probe}
            (br_if $miss (i32.eqz (local.get $m))))
          ;; A hit: the way's lo word (page address low | aux byte).${
            four
              ? `
          ;; A hit after ${AMD_HIT_RUN} hits in a row: back to $amdHitRun4, whose loop answers runs of hits.
          (br_if $exit (i32.ge_u (local.get $hitRun) (i32.const ${AMD_HIT_RUN})))
          (local.set $hitRun (i32.add (local.get $hitRun) (i32.const 1)))`
              : ""
          }
          (local.set $q ${amdWayOf})
          (local.set $lo (i32.load ${amdAt(AI.rowLo, four)}))
          (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
          (if ${amdLacks("$lo")}
            (then
              (local.set $flags (i32.const ${hex(AMD_HIT_FAULT.flags)}))
              (local.set $infoF (i32.const ${hex(AMD_HIT_FAULT.info)}))
              (local.set $auxF (i32.and (local.get $lo) (i32.const ${AI.auxMask})))
              (br $fault)))
          ${amdHitOut(resultAt, four)}
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)`;
  const fill = amdFill(
    four,
    "(local.get $tagV)",
    "(local.get $vpnLo)",
    "(local.get $vpnHi)",
    amdLoWord("(i32.wrap_i64 (local.get $out))", "(local.get $p)", "(local.get $shift)"),
    "(i32.wrap_i64 (i64.shr_u (local.get $out) (i64.const 32)))",
  );
  return `
  (func ${name} (param $did i32) (param $root i64) (param $mode i32) (param $perm i32) (param $useTlb i32)
    (param $evtOff i64) (param $evtBytes i64)
    (param $reqs i32) (param $writes i32) (param $i i32) (param $n i32) (param $results i32) (param $info i32) (param $aux i32) (param $faultList i32) (result i32)
    ${FORMAT_LOCALS} ${AMD_TLB_LOCALS} (local $code i32) (local $evtAddr i64) (local $start i32) (local $tags v128) (local $lo i32) (local $hitRun i32)
    (local $iova i64) (local $write i32) (local $vpnLo i32) (local $vpnHi i32) (local $o i32) (local $out i64) (local $shift i32) (local $hits i32) (local $tagV i32)
    (local $range i64) (local $p i32) (local $r i32) (local $table i64) (local $next i32) (local $addr i64) (local $lvl i32)
    (local $flags i32) (local $infoF i32) (local $auxF i32) (local $faults i32) (local $outOfRange i32)
    ${ahead ? `${PF_LOCALS} (local $addrMask i64)` : ""}
    ${FORMAT_SETUP}
    ${AMD_TLB_SETUP}
    (local.set $start (local.get $i))
    (local.set $faults (i32.load offset=${B.burstFaults} (local.get $blk)))
    (local.set $code (i32.const ${A.ioPageFault}))
    (local.set $tagV (i32.add (local.get $did) (i32.const 1)))
    (local.set $tags (i32x4.splat (local.get $tagV)))
    ;; The IOVA bits a Mode below 6 does not reach (bits 12 + 9 Mode up) must be zero; Mode 6 reaches all.
    (local.set $range ${levels === 0 ? `(select (i64.const 0)
      (i64.shl (i64.const -1) (i64.extend_i32_u (i32.add (i32.const 12) (i32.mul (i32.const 9) (local.get $mode)))))
      (i32.ge_u (local.get $mode) (i32.const 6)))` : levels >= 6 ? "(i64.const 0)" : `(i64.const ${hex(2n ** 64n - 2n ** BigInt(12 + 9 * levels))})`})${
      ahead
        ? `
    ;; The reads ahead of later requests' walks (prefetchWalks: a v1 table's index bits are VT-d's, the next table's address bits 51:12).
    (local.set $addrMask (i64.const ${ADDR_51_12}))
    ${prefetchEntry(levels, ahead)}`
        : ""
    }
    (block $stop
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        ${prefetchStep(levels, ahead)}
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        (br_if $stop ${amdInterruptWrite})
        (local.set $vpnLo (i32.wrap_i64 (i64.shr_u (local.get $iova) (i64.const 12))))
        (local.set $vpnHi (i32.wrap_i64 (i64.shr_u (local.get $iova) (i64.const 44))))
        (block $leaf
        (block $fault
        (block $miss
          ${hit})
        ${four ? "(local.set $hitRun (i32.const 0))" : ""}
        ;; A walk fault: permission 0, a 4 KiB page (translate()'s result fields at a fault).
        (local.set $auxF (i32.const ${12 << AI.auxShiftShift}))
        ;; The Mode's address range (an IO_PAGE_FAULT without flags at level 0; no walk), then the walk.
        (if (i64.ne (i64.and (local.get $iova) (local.get $range)) (i64.const 0))
          (then
            (local.set $outOfRange (i32.add (local.get $outOfRange) (i32.const 1)))
            (local.set $flags (i32.const 0))
            (local.set $infoF (i32.const 0))
            (br $fault)))
        ${amdBurstWalk(levels)})
        ;; A fault: its event word as the result (the unit logs the event when it takes it), and in
        ;; the fault list its index and the event's address (the IOVA; an unreadable entry's own).
        ${amdFaultOut(resultAt, "(local.get $code)", "(local.get $flags)", "(local.get $infoF)", "(local.get $auxF)",
          `(select (local.get $evtAddr) (local.get $iova) (i32.eq (local.get $code) (i32.const ${A.pageTabHardwareError})))`)}
        (local.set $code (i32.const ${A.ioPageFault}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))
        ;; The leaf: page base from the entry, offset from the IOVA (AmdViUnit.leaf).
        (local.set $out (i64.or
          (i64.and (local.get $addr) (i64.shl (i64.const -1) (i64.extend_i32_u (local.get $shift))))
          (i64.and (local.get $iova) (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (local.get $shift))) (i64.const 1)))))
        (i64.store ${resultAt} (local.get $out))
        (i32.store8 (i32.add (local.get $info) (local.get $i)) (local.get $lvl))
        (i32.store8 (i32.add (local.get $aux) (local.get $i)) (i32.or (local.get $p) (i32.shl (local.get $shift) (i32.const ${AI.auxShiftShift}))))
        ${tlb === "none" ? "" : `;; The fill (AmdIotlb.fill): FIFO victim of the frame's set.
        ${tlb === "any" ? `(if (local.get $useTlb) (then ${fill}))` : fill}`}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ${ahead ? "(global.set $sink (local.get $sink))" : ""}
    ${counters}
    (return (local.get $i)))
    ;; Stopped at request $i (handed back).
    ${counters}
    ${four ? "(i32.sub (i32.const -1) (local.get $i))" : "(local.get $i)"})`;
}

/**
 * Answers requests $i, $i + 1, ... while the 4-way IOTLB answers them (tag $tags in every lane,
 * as in amdBurstFunc) - a permitted hit with its address, a hit lacking the permission with its
 * fault (AMD_HIT_FAULT; in the fault list, block.burstFaults its length) -; returns the index of
 * the first it does not - a miss, a write to the interrupt range - ($n when it answered all): the
 * caller counts them as hits. The probe and the results are amdBurstFunc's, with no more values
 * live than those (VT-d's $hitRun4).
 */
function amdHitRunFunc() {
  const out = "(local.get $out)";
  return `
  (func $amdHitRun4 (param $tags v128) (param $reqs i32) (param $writes i32) (param $i i32) (param $n i32)
    (param $results i32) (param $info i32) (param $aux i32) (param $faultList i32) (result i32)
    (local $tlb i32) (local $setMask i32) (local $base i32) (local $m i32) (local $q i32) (local $o i32) (local $faults i32)
    (local $iova i64) (local $write i32) (local $vpnLo i32) (local $lo i32) (local $out i32)
    (local.set $tlb (global.get $amdTlb))
    (local.set $setMask (global.get $amdSetMask))
    (local.set $faults (i32.load offset=${B.burstFaults} (global.get $blk)))
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        (br_if $exit ${amdInterruptWrite})
        (local.set $vpnLo (i32.wrap_i64 (i64.shr_u (local.get $iova) (i64.const 12))))
        (local.set $base ${amdSetAt("(local.get $vpnLo)", true)})
        (local.set $m ${amdMatch4("(local.get $base)", "(local.get $tags)", "(local.get $vpnLo)", "(i32.wrap_i64 (i64.shr_u (local.get $iova) (i64.const 44)))")})
        (br_if $exit (i32.eqz (local.get $m)))
        (local.set $q ${amdWayOf})
        (local.set $lo (i32.load ${amdAt(AI.rowLo, true)}))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        (if ${amdLacks("$lo")}
          (then
            ${amdFaultOut(out, `(i32.const ${A.ioPageFault})`, `(i32.const ${hex(AMD_HIT_FAULT.flags)})`, `(i32.const ${hex(AMD_HIT_FAULT.info)})`, "(local.get $lo)", "(local.get $iova)")})
          (else
            ${amdHitOut(out, true)}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store offset=${B.burstFaults} (global.get $blk) (local.get $faults))
    (local.get $i))
${AMD_UNROLLED.map(amdProbeFunc).join("\n")}`;
}

/** Mode L with a 4-way IOTLB: $amdHitRun4 and $amdBurstTlbL (or its read-ahead twin) in turn. */
function amdProbeFunc(L) {
  const args = `(local.get $did) (local.get $root) (i32.const ${L}) (local.get $perm) (i32.const 1) (local.get $evtOff) (local.get $evtBytes)
            (local.get $reqs) (local.get $writes) (local.get $j) (local.get $n) (local.get $results) (local.get $info) (local.get $aux) (local.get $faultList)`;
  return `
  ;; Mode ${L} with a 4-way IOTLB: runs of hits by $amdHitRun4 (counted here), the rest by
  ;; $amdBurstTlb${L} until its next run of hits. Returns as amdBurstFunc.
  (func $amdProbe${L} (param $did i32) (param $root i64) (param $perm i32) (param $evtOff i64) (param $evtBytes i64)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32) (param $aux i32) (param $faultList i32) (result i32)
    (local $i i32) (local $j i32) (local $tags v128) (local $m i32) (local $ahead i32)
    (local.set $tags (i32x4.splat (i32.add (local.get $did) (i32.const 1))))
    (loop $next
      (local.set $j (call $amdHitRun4 (local.get $tags) (local.get $reqs) (local.get $writes) (local.get $i) (local.get $n)
        (local.get $results) (local.get $info) (local.get $aux) (local.get $faultList)))
      (i32.store offset=${B.hits} (global.get $blk) (i32.add (i32.load offset=${B.hits} (global.get $blk)) (i32.sub (local.get $j) (local.get $i))))
      (if (i32.ge_u (local.get $j) (local.get $n)) (then (return (local.get $j))))
      ;; With the reads ahead when the call before walked ${TLB_PREFETCH_AFTER} misses or more (VT-d's rule: see PREFETCH_TLB).
      (local.set $m (i32.load offset=${B.misses} (global.get $blk)))
      (local.set $i
        (if (result i32) (local.get $ahead)
          (then (call $amdBurstTlb${L}Ahead ${args}))
          (else (call $amdBurstTlb${L} ${args}))))
      (local.set $ahead (i32.ge_u (i32.sub (i32.load offset=${B.misses} (global.get $blk)) (local.get $m)) (i32.const ${TLB_PREFETCH_AFTER})))
      (if (i32.lt_s (local.get $i) (i32.const 0)) (then (return (i32.sub (i32.const -1) (local.get $i)))))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))`;
}

// ---- SMMUv3: the VMSAv8-64 descriptor rules, once, for the loop ($armWalk) and the unrolled walk of $armBurst
// Locals the rules use: $e (the descriptor), $off $poolHpa $poolBytes $poolOff (readEntry), $addr
// (i64: the descriptor's address field, then the leaf's output page), $oMask (i64: the bits at and above the output
// size), $hier (i32: APTable[1:0] UXNTable PXNTable accumulated, bits 3:0), $pshift (i64: the
// leaf's page shift), $rd $wr $xn $perm (i32). A level or a flag given as a number is folded in.

/** An i32 flag: a number (0/1, folded) or an i32 expression. */
const armIf = (flag, then, otherwise = "") =>
  typeof flag === "number" ? (flag ? then : otherwise) : `(if ${flag} (then ${then})${otherwise ? ` (else ${otherwise})` : ""})`;

/**
 * One level of a VMSAv8-64 4 KiB-granule walk (Arm ARM D8.3.1; StageWalker.walk's order): the
 * descriptor at `at` (i64 expr) read into $e, its address field into $addr; invalid (bit 0 clear)
 * is F_TRANSLATION; below level 3 bit 1 makes a table descriptor - its address at or above
 * 2^(output size) ($oMask) F_ADDR_SIZE, at stage 1 (`s2` 0) APTable / UXNTable / PXNTable (bits 62:59) ANDed into
 * $hier - then `h.next`; otherwise a page (level 3, bits 1:0 = 0b11) or a block (levels 1-2,
 * 0b01) - a level-3 descriptor with bit 1 clear or a block at level 0 is F_TRANSLATION - then
 * `h.leaf` (the leaf's rules: armLeaf). L: the Arm level (a number, or an i32 expr); h.pool(cond):
 * the descriptor lies outside the pool or in a burst's event queue; h.fault(id): the walk faults
 * at this level with event id `id` (a number).
 */
function armLevel(L, at, s2, h) {
  const num = typeof L === "number";
  const bit1 = "(i64.ne (i64.and (local.get $e) (i64.const 2)) (i64.const 0))";
  const table = `(if (i64.ne (i64.and (local.get $addr) (local.get $oMask)) (i64.const 0)) (then ${h.fault(ARM.addrSize)}))
      ${armIf(typeof s2 === "number" ? 1 - s2 : `(i32.eqz ${s2})`, `(local.set $hier (i32.or (local.get $hier) (i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 59))) (i32.const 15))))`)}
      ${h.next}`;
  // A reserved level-3 type, or a block at level 0.
  const badLeaf = num ? (L === 3 ? `(i64.eqz (i64.and (local.get $e) (i64.const 2)))` : L === 0 ? 1 : 0) : `(if (result i32) (i32.eq ${L} (i32.const 3)) (then (i64.eqz (i64.and (local.get $e) (i64.const 2)))) (else (i32.eqz ${L})))`;
  const leaf = badLeaf === 1 ? h.fault(ARM.translation) : `${armIf(badLeaf, h.fault(ARM.translation))} ${h.leaf}`;
  const isTable = num ? (L < 3 ? bit1 : 0) : `(i32.and (i32.lt_u ${L} (i32.const 3)) ${bit1})`;
  return `${readEntry(at, h.pool)}
      (if (i64.eqz (i64.and (local.get $e) (i64.const 1))) (then ${h.fault(ARM.translation)}))
      (local.set $addr (i64.and (local.get $e) (i64.const ${ADDR_47_12})))
      ${isTable === 0 ? leaf : `(if ${isTable} (then ${table}) (else ${leaf}))`}`;
}

/**
 * The leaf descriptor $e (Arm ARM D8.3-D8.4; StageWalker.walk), its address field in $addr and its
 * page shift in $pshift: the output page ($addr) at or above 2^(output size) ($oMask) is F_ADDR_SIZE; then
 * `h.found`; AF (bit 10) clear without `afOff` F_ACCESS; the permission $perm (R 1, W 2, X 4) from
 * AP[2:1] (bits 7:6) and UXN/PXN (54/53) with $hier's APTable/XNTable at stage 1 (`priv` selecting
 * the privileged view), S2AP (7:6) and XN (54:53) at stage 2; then `h.perm`; a missing R (read),
 * W (`write`) or X (`exec`) F_PERMISSION. s2, priv, exec, afOff, write: numbers or i32 exprs.
 * h.fault(id): the walk faults with event id `id` at the leaf's level.
 */
function armLeaf(o, h) {
  const bit = (n) => `(i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const ${n}))) (i32.const 1))`;
  // AP[1] (bit 6) unprivileged access unless APTable[0] (hier bit 2); AP[2] (bit 7) read-only;
  // APTable[1] (hier bit 3) no write; UXN (54) / UXNTable (hier bit 1) for the unprivileged,
  // PXN (53) / PXNTable (hier bit 0) for the privileged.
  // (Flags are 0 or 1, $hier bits 3:0: bit operations, not i32.eqz, which V8 compiles to a
  // test, a setcc and a zero extension.)
  const unpriv = `(i32.and (local.get $rd) (i32.xor (i32.shr_u (local.get $hier) (i32.const 2)) (i32.const -1)))`;
  const pxn = `(i32.or ${bit(53)} (i32.and (local.get $hier) (i32.const 1)))`;
  const uxn = `(i32.or ${bit(54)} (i32.and (i32.shr_u (local.get $hier) (i32.const 1)) (i32.const 1)))`;
  const s1 = `(local.set $rd ${typeof o.priv === "number" ? (o.priv ? "(i32.const 1)" : unpriv) : `(select (i32.const 1) ${unpriv} ${o.priv})`})
        (local.set $wr (i32.and (local.get $rd)
          (i32.xor (i32.or (local.get $wr) (i32.shr_u (local.get $hier) (i32.const 3))) (i32.const -1))))
        (local.set $xn (i32.or ${typeof o.priv === "number" ? (o.priv ? pxn : uxn) : `(select ${pxn} ${uxn} ${o.priv})`} (i32.xor (local.get $rd) (i32.const 1))))`;
  // S2AP[0] read, S2AP[1] write, XN[1:0] (bits 54:53) 0b00 executable.
  const s2 = `(local.set $xn (i32.ne (i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 53))) (i32.const 3)) (i32.const 0)))`;
  const need = typeof o.write === "number" ? `(i32.const ${o.write ? 2 : 1})` : `(select (i32.const 2) (i32.const 1) ${o.write})`;
  return `(local.set $addr (i64.and (local.get $addr) (i64.shl (i64.const -1) (local.get $pshift))))
      (if (i64.ne (i64.and (local.get $addr) (local.get $oMask)) (i64.const 0)) (then ${h.fault(ARM.addrSize)}))
      ${h.found}
      ${armIf(typeof o.afOff === "number" ? 1 - o.afOff : `(i32.eqz ${o.afOff})`, `(if (i64.eqz (i64.and (local.get $e) (i64.const 0x400))) (then ${h.fault(ARM.access)}))`)}
      (local.set $rd ${bit(6)})
      (local.set $wr ${bit(7)})
      ${typeof o.s2 === "number" ? (o.s2 ? s2 : s1) : `(if ${o.s2} (then ${s2}) (else ${s1}))`}
      ;; R = 1, W = 2, X = 4 (sim/iommu.ts PERM_*).
      (local.set $perm (i32.or (local.get $rd) (i32.or (i32.shl (local.get $wr) (i32.const 1)) (i32.shl (i32.xor (local.get $xn) (i32.const 1)) (i32.const 2)))))
      ${h.perm}
      (if (i32.eqz (i32.and (local.get $perm) ${need})) (then ${h.fault(ARM.permission)}))
      ${armIf(o.exec, `(if (i32.eqz (i32.and (local.get $perm) (i32.const 4))) (then ${h.fault(ARM.permission)}))`)}`;
}

/** Locals of armLevel / armLeaf, and the pool's from the globals (FORMAT_SETUP less $blk). */
const ARM_WALK_LOCALS = `(local $e i64) (local $off i64) (local $poolBytes i64) (local $poolHpa i64) (local $poolOff i32)
    (local $addr i64) (local $oBits i64) (local $oMask i64) (local $hier i32) (local $pshift i64) (local $rd i32) (local $wr i32) (local $xn i32)`;
const ARM_WALK_SETUP = `(local.set $poolBytes (i64.extend_i32_u (i32.load (global.get $poolBytesAt))))
    (local.set $poolHpa (global.get $poolHpa))
    (local.set $poolOff (global.get $poolOff))`;

/** The AMD-Vi IOTLB's geometry, its lookups and fills for AmdIotlb, and the burst's entry: the unrolled Mode's specializations or the any-Mode one. */
function amdBurstFuncs() {
  const ARGS = `(local.get $did) (local.get $root64) (local.get $mode) (local.get $perm) (local.get $useTlb)
        (local.get $evtOff) (local.get $bytes) (local.get $reqs) (local.get $writes) (i32.const 0) (local.get $n) (local.get $results) (local.get $info) (local.get $aux) (local.get $faultList)`;
  return `
  ;; The AMD-Vi IOTLB (LAYOUT.amdIotlb): its sets, victim bytes, sets - 1, ways.
  (global $amdTlb (mut i32) (i32.const 0))
  (global $amdVictim (mut i32) (i32.const 0))
  (global $amdSetMask (mut i32) (i32.const 0))
  (global $amdWays (mut i32) (i32.const 1))
  (func (export "configureAmdIotlb") (param $tlb i32) (param $victim i32) (param $sets i32) (param $ways i32)
    (global.set $amdTlb (local.get $tlb))
    (global.set $amdVictim (local.get $victim))
    (global.set $amdSetMask (i32.sub (local.get $sets) (i32.const 1)))
    (global.set $amdWays (local.get $ways)))

  ;; AmdIotlb.lookup: the ways of frame (vpnLo, vpnHi)'s set that hold tag $tag (bit w: way w).
  (func (export "amdIotlbMatch") (param $tag i32) (param $vpnLo i32) (param $vpnHi i32) (result i32)
    ${AMD_TLB_LOCALS}
    ${AMD_TLB_SETUP}
    (local.set $base ${amdSetAt("(local.get $vpnLo)", false)})
    ${amdMatchAny("(local.get $tag)", "(local.get $vpnLo)", "(local.get $vpnHi)")}
    (local.get $m))

  ;; AmdIotlb.fill: the FIFO fill of frame (vpnLo, vpnHi) with tag $tag; returns the way's index (set x ways + way).
  (func (export "amdIotlbFill") (param $tag i32) (param $vpnLo i32) (param $vpnHi i32) (param $hpaLo i32) (param $hpaHi i32) (param $perm i32) (param $shift i32) (result i32)
    ${AMD_TLB_LOCALS}
    ${AMD_TLB_SETUP}
    ${amdFill(false, "(local.get $tag)", "(local.get $vpnLo)", "(local.get $vpnHi)", amdLoWord("(local.get $hpaLo)", "(local.get $perm)", "(local.get $shift)"), "(local.get $hpaHi)")}
    (i32.add (i32.mul (local.get $set) (local.get $ways)) (local.get $w)))
${amdBurstFunc("$amdBurstAny", 0, "any")}
${AMD_UNROLLED.map((L) => `${amdBurstFunc(`$amdBurstWalk${L}`, L, "none", AMD_PREFETCH_WALK)}\n${amdBurstFunc(`$amdBurstTlb${L}`, L, 4)}\n${amdBurstFunc(`$amdBurstTlb${L}Ahead`, L, 4, PREFETCH_TLB)}`).join("\n")}
${amdHitRunFunc()}

  ;; $evt, $evtBytes: the event log (its address and size; 0 bytes: none).
  (func (export "amdBurst") (param $did i32) (param $root f64) (param $mode i32) (param $perm i32) (param $useTlb i32)
    (param $evt f64) (param $evtBytes i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32) (param $aux i32) (param $faultList i32) (result i32)
    (local $root64 i64) (local $evtOff i64) (local $bytes i64)
    (local.set $root64 (i64.trunc_f64_u (local.get $root)))
    (local.set $evtOff (i64.sub (i64.trunc_f64_u (local.get $evt)) (global.get $poolHpa)))
    (local.set $bytes (i64.extend_i32_u (local.get $evtBytes)))
    (i32.store offset=${B.hits} (global.get $blk) (i32.const 0))
    (i32.store offset=${B.misses} (global.get $blk) (i32.const 0))
    (i32.store offset=${B.burstFaults} (global.get $blk) (i32.const 0))
${AMD_UNROLLED.map((L) => `    (if (i32.eq (local.get $mode) (i32.const ${L}))
      (then
        (if (i32.eqz (local.get $useTlb)) (then (return (call $amdBurstWalk${L} ${ARGS}))))
        (if (i32.eq (global.get $amdWays) (i32.const 4))
          (then (return (call $amdProbe${L} (local.get $did) (local.get $root64) (local.get $perm) (local.get $evtOff) (local.get $bytes)
            (local.get $reqs) (local.get $writes) (local.get $n) (local.get $results) (local.get $info) (local.get $aux) (local.get $faultList)))))))`).join("\n")}
    (call $amdBurstAny ${ARGS}))`;
}

/**
 * SMMUv3, one stage of a VMSAv8-64 walk with the 4 KiB granule (Arm ARM D8.2-D8.4 and the
 * AArch64 walk pseudocode's order; SMMUv3 spec IHI 0070 3.4, 5.2, 5.4; StageWalker.walk): from
 * $startLevel to 3, 9 index bits per level below the start level (the start level takes every
 * remaining input bit), each level's descriptor by armLevel, the leaf's by armLeaf. The caller
 * checked the input range. 0 or the event id; the block holds the deciding level (faultLevel)
 * and, once a leaf's output is in range, the leaf (entry, level), then its permission and output
 * address (hpa); -1: a descriptor outside the pool (or in a running burst's event queue).
 */
function armWalkFunc() {
  const fault = (id) => `(return (i32.const ${hex(id)}))`;
  return `
  ;; A burst's event queue (pool offset, bytes; 0 bytes outside a burst): see armGuarded.
  (global $armGuardOff (mut i64) (i64.const 0))
  (global $armGuardBytes (mut i64) (i64.const 0))
  ;; $armProbe4's choice of TLB loop for the next burst (see ARM_TLB_AHEAD_BELOW).
  (global $armAhead (mut i32) (i32.const 0))
  ;; A burst's fault list (armFaultAt).
  (global $armFaultList (mut i32) (i32.const 0))
  (func (export "armWalk") (param $ttb f64) (param $startLevel i32) (param $outputBits i32) (param $s2 i32)
    (param $afOff i32) (param $priv i32) (param $exec i32) (param $iaHi i32) (param $iaLo i32) (param $write i32) (result i32)
    (call $armWalk (i64.trunc_f64_u (local.get $ttb)) (local.get $startLevel) (local.get $outputBits) (local.get $s2)
      (local.get $afOff) (local.get $priv) (local.get $exec) ${iovaOf("$iaHi", "$iaLo")} (local.get $write)))

  (func $armWalk (param $ttb i64) (param $startLevel i32) (param $outputBits i32) (param $s2 i32)
    (param $afOff i32) (param $priv i32) (param $exec i32) (param $ia i64) (param $write i32) (result i32)
    ${ARM_WALK_LOCALS} (local $blk i32) (local $table i64) (local $level i32) (local $idx i64) (local $perm i32)
    ${ARM_WALK_SETUP}
    (local.set $blk (global.get $blk))
    (local.set $oBits (i64.extend_i32_u (local.get $outputBits)))
    (local.set $oMask (i64.shl (i64.const -1) (local.get $oBits)))
    (local.set $table (local.get $ttb))
    (local.set $level (local.get $startLevel))
    (loop $down
      (i32.store offset=${B.faultLevel} (local.get $blk) (local.get $level))
      (local.set $pshift (i64.extend_i32_u (i32.add (i32.const 12) (i32.mul (i32.const 9) (i32.sub (i32.const 3) (local.get $level))))))
      (local.set $idx (i64.shr_u (local.get $ia) (local.get $pshift)))
      (if (i32.ne (local.get $level) (local.get $startLevel)) (then (local.set $idx (i64.and (local.get $idx) (i64.const 511)))))
      ${armLevel("(local.get $level)", "(i64.add (local.get $table) (i64.shl (local.get $idx) (i64.const 3)))", "(local.get $s2)", {
        pool: (c) => handBack(`(i32.or ${c} ${armGuarded})`),
        fault,
        next: `(local.set $table (local.get $addr))
      (local.set $level (i32.add (local.get $level) (i32.const 1)))
      (br $down)`,
        leaf: "",
      })}
      ${armLeaf(
        { s2: "(local.get $s2)", priv: "(local.get $priv)", exec: "(local.get $exec)", afOff: "(local.get $afOff)", write: "(local.get $write)" },
        {
          fault,
          found: `(i64.store offset=${B.entry} (local.get $blk) (local.get $e))
      (i32.store offset=${B.level} (local.get $blk) (local.get $level))`,
          perm: `(i32.store offset=${B.perm} (local.get $blk) (local.get $perm))
      (i64.store offset=${B.hpa} (local.get $blk)
        (i64.or (local.get $addr) (i64.and (local.get $ia) (i64.sub (i64.shl (i64.const 1) (local.get $pshift)) (i64.const 1)))))
      (i32.store offset=${B.pageShift} (local.get $blk) (i32.wrap_i64 (local.get $pshift)))`,
        },
      )}
      (return (i32.const 0)))
    (unreachable))`;
}

const AT = LAYOUT.armTlb;
if (AT.tagVpnHiBits + 12 + 32 < AT.iaBits) throw new Error("the SMMUv3 TLB's tag must hold a 4 KiB page number of every input");

// ---- the SMMUv3 TLB (LAYOUT.armTlb): its rules once, for SmmuTlb (armTlbLookup, armTlbFill) and the bursts
/** i32: the tag row of a valid entry of kind, shift (i32 exprs, or both numbers) for page number vpn (i64 expr). */
const armTag = (kind, shift, vpn) => {
  const vpnHi = `(i32.and (i32.wrap_i64 (i64.shr_u ${vpn} (i64.const 32))) (i32.const ${hex(2 ** AT.tagVpnHiBits - 1)}))`;
  // kind and shift numbers: the constant bits folded (V8 does not fold them).
  return typeof kind === "number" && typeof shift === "number"
    ? `(i32.or (i32.const ${hex((AT.tagValid | (kind << AT.tagKindAt) | ((shift - AT.tagShiftBase) << AT.tagShiftAt)) >>> 0)}) ${vpnHi})`
    : `(i32.or
      (i32.or (i32.const ${hex(AT.tagValid)}) (i32.shl ${kind} (i32.const ${AT.tagKindAt})))
      (i32.or (i32.shl (i32.sub ${shift} (i32.const ${AT.tagShiftBase})) (i32.const ${AT.tagShiftAt}))
        ${vpnHi}))`;
};
/** i32: the ids row of VMID, ASID (i32 exprs). */
const armIds = (vmid, asid) => `(i32.or (i32.and ${asid} (i32.const 0xffff)) (i32.shl ${vmid} (i32.const ${AT.idsVmidAt})))`;
/** i32: the input $iova lies beyond every tag (a probe of it misses). */
const armUntaggable = `(i64.ne (i64.shr_u (local.get $iova) (i64.const ${AT.iaBits})) (i64.const 0))`;
/** The memory argument of row r of the way whose row-0 cell is at q (i32 expr), `ways` ways (i32 expr). */
const armRowAt = (q, ways, r) => (r === 0 ? q : `(i32.add ${q} (i32.mul ${ways} (i32.const ${4 * r})))`);
/** i32: the byte address of the 4-way set of page number vpn (i64 expr); locals $tlb $setMask unless given. */
const armSet4 = (vpn, tlb = "(local.get $tlb)", setMask = "(local.get $setMask)") =>
  `(i32.add ${tlb} (i32.shl (i32.and (i32.wrap_i64 ${vpn}) ${setMask}) (i32.const ${Math.log2(AT.rows * 16)})))`;
/**
 * i32: bit w set when way w of the 4-way set at `base` (a local's name) holds page number
 * low dword `lo` with tag `tag` (i32 exprs) and the ids of (local $vIds): three rows, each one
 * 128-bit compare, as the hardware's CAM compares all ways at once.
 */
const armMatch4 = (base, lo, tag) => `(i32x4.bitmask
      (v128.and
        (v128.and
          (i32x4.eq (v128.load offset=${16 * AT.rowVpnLo} (local.get ${base})) (i32x4.splat ${lo}))
          (i32x4.eq (v128.load offset=${16 * AT.rowTag} (local.get ${base})) (i32x4.splat ${tag})))
        (i32x4.eq (v128.load offset=${16 * AT.rowIds} (local.get ${base})) (local.get $vIds))))`;
/** i32: the Arm level of an entry from its oaLo row (i32 expr). */
const armEntryLevel = (oaLo) => `(i32.and (i32.shr_u ${oaLo} (i32.const ${AT.oaLevelAt})) (i32.const 3))`;
/** i64: an entry's output base from its rows (i32 exprs). */
const armOa = (oaHi, oaLo) => `(i64.or (i64.shl (i64.extend_i32_u ${oaHi}) (i64.const 32)) (i64.extend_i32_u (i32.and ${oaLo} (i32.const -4096))))`;
/**
 * The stores of a fill into the way whose row r is at rowAt(r) (a memory argument); kind, ids,
 * shift, perm, level: i32 exprs; vpn, oa (the output base), ipa (base): i64 exprs.
 */
const armFillRows = (rowAt, kind, ids, shift, vpn, oa, perm, level, ipa) => `(i32.store ${rowAt(AT.rowVpnLo)} (i32.wrap_i64 ${vpn}))
    (i32.store ${rowAt(AT.rowTag)} ${armTag(kind, shift, vpn)})
    (i32.store ${rowAt(AT.rowIds)} ${ids})
    (i32.store ${rowAt(AT.rowOaLo)} (i32.or (i32.wrap_i64 ${oa}) (i32.or ${perm} (i32.shl ${level} (i32.const ${AT.oaLevelAt})))))
    (i32.store ${rowAt(AT.rowOaHi)} (i32.wrap_i64 (i64.shr_u ${oa} (i64.const 32))))
    (i32.store ${rowAt(AT.rowIpaLo)} (i32.wrap_i64 ${ipa}))
    (i32.store ${rowAt(AT.rowIpaHi)} (i32.wrap_i64 (i64.shr_u ${ipa} (i64.const 32))))
    ;; The filled sizes.
    (i32.store (global.get $armShifts) (i32.or (i32.load (global.get $armShifts)) (i32.shl (i32.const 1) (i32.sub ${shift} (i32.const 12)))))`;

/**
 * SmmuTlb.lookup and SmmuTlb.fill: the TLB's rule for any geometry and every entry kind
 * (translate()'s lookups and fills, and $armBurstAny's): the filled sizes smallest first, the
 * page number's set, its ways in order; the fill round robin per set.
 */
function armTlbFuncs() {
  return `
  (global $armTlb (mut i32) (i32.const 0))
  (global $armNext (mut i32) (i32.const 0))
  (global $armShifts (mut i32) (i32.const 0))
  (global $armSets (mut i32) (i32.const 1))
  (global $armSetMask (mut i32) (i32.const 0))
  (global $armWays (mut i32) (i32.const 0))
  ;; The last hit of $armTlbFind: its way's row-0 cell, its shift.
  (global $armHitAt (mut i32) (i32.const 0))
  (global $armHitShift (mut i32) (i32.const 0))
  ;; The TLB's sets (LAYOUT.armTlb), victim bytes and filled-sizes cell; sets a power of two.
  (func (export "configureArmTlb") (param $tlb i32) (param $next i32) (param $shifts i32) (param $sets i32) (param $ways i32)
    (global.set $armTlb (local.get $tlb))
    (global.set $armNext (local.get $next))
    (global.set $armShifts (local.get $shifts))
    (global.set $armSets (local.get $sets))
    (global.set $armSetMask (i32.sub (local.get $sets) (i32.const 1)))
    (global.set $armWays (local.get $ways)))

  ;; The entry (set * ways + way) of kind $kind with ids $ids holding $iova, or -1.
  (func $armTlbFind (param $kind i32) (param $ids i32) (param $iova i64) (result i32)
    (local $m i32) (local $shift i32) (local $vpn i64) (local $set i32) (local $base i32) (local $w i32) (local $ways i32)
    (local $tag i32) (local $lo i32) (local $q i32)
    (if ${armUntaggable} (then (return (i32.const -1))))
    (local.set $ways (global.get $armWays))
    (local.set $m (i32.load (global.get $armShifts)))
    (block $none
      (loop $size
        (br_if $none (i32.eqz (local.get $m)))
        (local.set $shift (i32.add (i32.const 12) (i32.ctz (local.get $m))))
        (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
        (local.set $vpn (i64.shr_u (local.get $iova) (i64.extend_i32_u (local.get $shift))))
        (local.set $set (i32.and (i32.wrap_i64 (local.get $vpn)) (global.get $armSetMask)))
        (local.set $base (i32.add (global.get $armTlb) (i32.mul (i32.mul (local.get $set) (local.get $ways)) (i32.const ${4 * AT.rows}))))
        (local.set $tag ${armTag("(local.get $kind)", "(local.get $shift)", "(local.get $vpn)")})
        (local.set $lo (i32.wrap_i64 (local.get $vpn)))
        (local.set $w (i32.const 0))
        (loop $way
          (br_if $size (i32.ge_u (local.get $w) (local.get $ways)))
          (local.set $q (i32.add (local.get $base) (i32.shl (local.get $w) (i32.const 2))))
          (if (i32.and
                (i32.and (i32.eq (i32.load ${armRowAt("(local.get $q)", "(local.get $ways)", AT.rowVpnLo)}) (local.get $lo))
                  (i32.eq (i32.load ${armRowAt("(local.get $q)", "(local.get $ways)", AT.rowTag)}) (local.get $tag)))
                (i32.eq (i32.load ${armRowAt("(local.get $q)", "(local.get $ways)", AT.rowIds)}) (local.get $ids)))
            (then
              (global.set $armHitAt (local.get $q))
              (global.set $armHitShift (local.get $shift))
              (return (i32.add (i32.mul (local.get $set) (local.get $ways)) (local.get $w)))))
          (local.set $w (i32.add (local.get $w) (i32.const 1)))
          (br $way))))
    (i32.const -1))

  ;; Caches the leaf of 2^$shift bytes at output base $oa (IPA base $ipa) for $iova.
  (func $armTlbFill (param $kind i32) (param $ids i32) (param $iova i64) (param $shift i32) (param $oa i64)
    (param $perm i32) (param $level i32) (param $ipa i64)
    (local $vpn i64) (local $set i32) (local $w i32) (local $ways i32) (local $q i32)
    (local.set $ways (global.get $armWays))
    (local.set $vpn (i64.shr_u (local.get $iova) (i64.extend_i32_u (local.get $shift))))
    (local.set $set (i32.and (i32.wrap_i64 (local.get $vpn)) (global.get $armSetMask)))
    (local.set $w (i32.load8_u (i32.add (global.get $armNext) (local.get $set))))
    (i32.store8 (i32.add (global.get $armNext) (local.get $set)) (i32.rem_u (i32.add (local.get $w) (i32.const 1)) (local.get $ways)))
    (local.set $q (i32.add (global.get $armTlb)
      (i32.shl (i32.add (i32.mul (i32.mul (local.get $set) (local.get $ways)) (i32.const ${AT.rows})) (local.get $w)) (i32.const 2))))
    ${armFillRows((r) => armRowAt("(local.get $q)", "(local.get $ways)", r), "(local.get $kind)", "(local.get $ids)", "(local.get $shift)", "(local.get $vpn)", "(local.get $oa)", "(local.get $perm)", "(local.get $level)", "(local.get $ipa)")})

  (func (export "armTlbLookup") (param $kind i32) (param $vmid i32) (param $asid i32) (param $iaHi i32) (param $iaLo i32) (result i32)
    (call $armTlbFind (local.get $kind) ${armIds("(local.get $vmid)", "(local.get $asid)")} ${iovaOf("$iaHi", "$iaLo")}))
  ;; The hit's shift (after armTlbLookup).
  (func (export "armTlbHitShift") (result i32) (global.get $armHitShift))

  (func (export "armTlbFill") (param $kind i32) (param $vmid i32) (param $asid i32) (param $iaHi i32) (param $iaLo i32) (param $shift i32)
    (param $oa f64) (param $perm i32) (param $level i32) (param $ipa f64)
    (call $armTlbFill (local.get $kind) ${armIds("(local.get $vmid)", "(local.get $asid)")} ${iovaOf("$iaHi", "$iaLo")} (local.get $shift)
      (i64.trunc_f64_u (local.get $oa)) (local.get $perm) (local.get $level) (i64.trunc_f64_u (local.get $ipa))))`;
}
/** prefetchWalks of a 4-level stage-1 walk from level 0: the CD's TTB0, the descriptors' address field 47:12. */
const ARM_PF_TABLES = { root: "(local.get $ttb64)", addrMask: `(i64.const ${ADDR_47_12})` };
/** The filled-sizes mask of 4 KiB pages, 2 MiB and 1 GiB blocks (bits shift - 12), which the 4-way loops probe unrolled. */
const ARM_PROBE3 = (1 << 0) | (1 << 9) | (1 << 18);
/** Requests per group of reads ahead in $armBurstWalk (no TLB: every request walks), as PREFETCH_WALK. */
const ARM_PREFETCH_WALK = 16;
/**
 * $armProbe4 runs the TLB loop with reads ahead ($armBurstTlb4Ahead, groups of ARM_PREFETCH_TLB) in a
 * burst after one in which fewer than this many in 4 requests hit the TLB (W2 of the benchmark:
 * 95 % hits, W3: 39 %); otherwise the hit loop answers every request, its misses through
 * $armMiss4 (a call per miss, no reads ahead).
 */
const ARM_TLB_AHEAD_BELOW = 3;
/**
 * Requests per iteration of $armHitRun4's loop (each with its own exits): the loop's stack check
 * and back edge once per two. Measured (callgrind, W2, instructions per request in the hit loop):
 * 1: 68.4, 2: 64.6, 4: 63.1; W2's time the same within the spread for 2 and 4.
 */
const ARM_HIT_UNROLL = 2;
/**
 * $armBurstTlb4Ahead hands back to $armHitRun4 at this many 4 KiB hits in a row (W3 of the
 * benchmark: 39 % hits, each switch two calls and the reads ahead started again). Measured (W3
 * alone, N = 2 M, best of 4, six rounds alternating, idle): 4 (VT-d's and AMD-Vi's choice) 28.6-30.1
 * Mtps, 8 29.2-30.6; 6, 12 and 16 between; never (1000) 29.5-30.3.
 */
const ARM_AHEAD_RUN = 8;
/**
 * Requests per group of reads ahead in $armBurstTlb4Ahead (VT-d's and AMD-Vi's PREFETCH_TLB is 8).
 * Measured with ARM_AHEAD_RUN 8 (W3 alone, N = 2 M, best of 4, seven rounds alternating, idle):
 * 8 28.5-30.5 Mtps, 12 30.3-30.8, 16 30.2-30.7 (one round 26.2).
 */
const ARM_PREFETCH_TLB = 12;

/**
 * i32, after readEntry: the descriptor lies in the event queue of the burst running ($armBurst
 * sets the range, pool offsets in $armGuardOff/$armGuardBytes). A burst answers faults without
 * writing their events - the unit writes them when it takes the results, after the burst - so a
 * later walk of the same burst reading the queue would read it as it was before those events:
 * such a walk is handed back (the unit writes the events before it translates the request).
 */
const armGuarded = `(i64.lt_u (i64.sub (local.get $off) (global.get $armGuardOff)) (global.get $armGuardBytes))`;

/**
 * i32: the burst's fault list entry of the fault request $i is about to be (LAYOUT.armTlb
 * faultBytes each, at $armFaultList, set by the burst's caller: the request's index, and for
 * F_WALK_EABT at faultFetch the fetch address the unit's event record carries, SMMUv3 spec 7.3.9
 * FetchAddr): the faults of the burst so far (the block's count and the loop's). Written only for
 * faults, so that the unit takes them without looking at every result.
 */
const armFaultAt = `(i32.add (global.get $armFaultList)
      (i32.shl (i32.add (i32.load offset=${B.burstFaults} (local.get $blk)) (local.get $faults)) (i32.const ${Math.log2(AT.faultBytes)})))`;

/**
 * i32: a burst's info byte `low` (i32 expr: the level, the hit bit) with the permission `perm`
 * (i32 expr; null: none, a walk's fault) at infoPermAt and, for a TLB hit's fault (`hitFault`), infoHitFault.
 */
const armInfoHi = (low, perm, hitFault = false) =>
  perm === null
    ? low
    : `(i32.or ${low} ${hitFault ? `(i32.or (i32.shl ${perm} (i32.const ${AT.infoPermAt})) (i32.const ${hex(AT.infoHitFault)}))` : `(i32.shl ${perm} (i32.const ${AT.infoPermAt}))`})`;

/**
 * SMMUv3's translate step for a burst of $n requests of one stream whose STE and CD the unit
 * resolved (SmmuV3Unit.burstConfig: stage 1 only, 4 KiB granule, one CD; its VMID $vmid, ASID
 * $asid, TTB0 $ttb, start level, output size, AFFD/HA $afOff, input size $inputBits), per request
 * in SmmuV3Unit.translate's order: the TLB (SmmuTlb.lookup: the filled sizes smallest first, the
 * page number's set, the ways in order - a 4-way set in one SIMD compare per row: page number,
 * tag (kind 1, size), ids (VMID, ASID); 4 KiB hits in $armHitRun4), on a miss the walk (StageWalker.walk: the input range check, then the descriptors
 * by armLevel / armLeaf - unrolled for a walk from level 0, $armWalk otherwise -, unprivileged
 * data access; the table reads of later requests read ahead where most requests walk) and the fill
 * of the leaf (SmmuTlb.fill: round-robin way per set). Request i, result i, info byte i as in $burst - its
 * level the trace's (SmmuV3Unit.leafLevel), ${AT.traceLevelOf} - the Arm level (1 a 4 KiB page, as
 * VT-d's and AMD-Vi's; a fault's: 0 at Arm level 0, its hit bit clear) -, and its permission (R 1,
 * W 2, X 4; a fault's: the TLB entry's permission | ${hex(AT.infoHitFault)} when the TLB answered, 0
 * when a walk did) at bit ${AT.infoPermAt}. A fault - F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION, from the TLB or
 * the walk, and from the unrolled walk F_WALK_EABT (a descriptor where no memory is) - is a result
 * (event id, ${LAYOUT.faultHi}) like $burst's; its event is not written here (block.burstFaults
 * counts them, the fault list holds them: the unit writes their events, in order, as it takes the
 * results). Stops at the first request it cannot decide - a descriptor outside the pool in DRAM
 * (or, from $armWalk, anywhere outside the pool) or in the event queue ($evq, $evqBytes: see
 * armGuarded) - and returns its index (n when all were answered); nothing of that request was
 * counted, cached or written, so the unit translates it alone. The burst's TLB hits are left in
 * block.hits.
 */
function armBurstFunc() {
  const result = "(i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3)))";
  /**
   * Request $i faults with event id `id` (i32 expr) found at Arm level `level` (i32 expr); `hitPerm`
   * (i32 expr, or null for a walk's fault) the TLB entry's permission.
   */
  const fault = (id, level, hitPerm) => `(i32.store ${result} ${id})
          (i32.store offset=4 ${result} (i32.const ${LAYOUT.faultHi}))
          (local.set $level ${level})
          ;; (SmmuV3Unit.leafLevel: a fault at Arm level 0 is the trace's level 0.)
          (i32.store8 (i32.add (local.get $info) (local.get $i))
            ${armInfoHi(`(select (i32.sub (i32.const ${AT.traceLevelOf}) (local.get $level)) (i32.const 0) (local.get $level))`, hitPerm, true)})
          (i32.store ${armFaultAt} (local.get $i))
          (local.set $faults (i32.add (local.get $faults) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)`;

  /**
   * A TLB hit on the way whose row-0 cell is at `q` (i32 expr; `rowAt(r)` its row r: armRowAt):
   * a hit lacking the access's permission faults (F_PERMISSION) at the entry's level; otherwise
   * request $i's result is the entry's output page and the input's offset in the entry's
   * 2^$shift bytes. Answers request $i (br $next).
   */
  const hit = (rowAt) => `(local.set $oaLo (i32.load ${rowAt(AT.rowOaLo)}))
            (local.set $perm (i32.and (local.get $oaLo) (i32.const ${AT.oaPermMask})))
            (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
            (if (i32.eqz (i32.and (local.get $perm) (i32.add (local.get $write) (i32.const 1))))
              (then ${fault(`(i32.const ${hex(ARM.permission)})`, armEntryLevel("(local.get $oaLo)"), "(local.get $perm)")}))
            (i64.store ${result}
              (i64.or ${armOa(`(i32.load ${rowAt(AT.rowOaHi)})`, "(local.get $oaLo)")}
                (i64.and (local.get $iova) (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (local.get $shift))) (i64.const 1)))))
            (i32.store8 (i32.add (local.get $info) (local.get $i))
              ${armInfoHi(infoByte(`(i32.sub (i32.const ${AT.traceLevelOf}) ${armEntryLevel("(local.get $oaLo)")})`, "(i32.const 1)"), "(local.get $perm)")})
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)`;

  /** i32: armMatch4 of the size 2^sh (a number) for $iova. */
  const armMatch4p = (sh) => {
    const vpn = `(i64.shr_u (local.get $iova) (i64.const ${sh}))`;
    return armMatch4(`$b${sh}`, `(i32.wrap_i64 ${vpn})`, armTag(AT.kindS1, sh, vpn)).replace(
      "(i32x4.bitmask",
      `(i32x4.bitmask (local.set $b${sh} ${armSet4(vpn)})`,
    );
  };
  /**
   * The TLB probe (ways: 4, folded in; or "any": $armTlbFind, under $useTlb); a hit answers
   * request $i (br $next), a miss leaves block $miss. after4k: the 4 KiB probe missed already
   * (the hit loop's): the larger filled sizes alone.
   */
  const probe = (ways, run, after4k = false) =>
    ways === 4
      ? `(block $miss
          (block $found
            ;; The filled sizes, smallest first (bit shift - 12 of the shifts cell), as SmmuTlb.lookup${after4k ? ", 4 KiB probed" : ""}.
            (local.set $m ${after4k ? "(i32.and (i32.load (global.get $armShifts)) (i32.const -2))" : "(i32.load (global.get $armShifts))"})
            (if (i32.eq (local.get $m) (i32.const ${hex(after4k ? ARM_PROBE3 & ~1 : ARM_PROBE3)}))
              (then
                ;; ${after4k ? "" : "4 KiB pages, "}2 MiB and 1 GiB blocks, the sizes of a 4 KiB-granule stage 1: the
                ;; ${after4k ? "two" : "three"} sets compared before one branch (the first size that matches answers).
                ${(after4k ? [21, 30] : [12, 21, 30])
                  .map(
                    (sh) => `(local.set $w${sh} ${armMatch4p(sh)})`,
                  )
                  .join("\n                ")}${
                  after4k
                    ? `
                (br_if $miss (i32.eqz (i32.or (local.get $w21) (local.get $w30))))
                (local.set $shift (select (i32.const 21) (i32.const 30) (local.get $w21)))
                (local.set $w (select (local.get $w21) (local.get $w30) (local.get $w21)))
                (local.set $base (select (local.get $b21) (local.get $b30) (local.get $w21)))`
                    : `
                (br_if $miss (i32.eqz (i32.or (local.get $w12) (i32.or (local.get $w21) (local.get $w30)))))
                (local.set $shift (select (i32.const 12) (select (i32.const 21) (i32.const 30) (local.get $w21)) (local.get $w12)))
                (local.set $w (select (local.get $w12) (select (local.get $w21) (local.get $w30) (local.get $w21)) (local.get $w12)))
                (local.set $base (select (local.get $b12) (select (local.get $b21) (local.get $b30) (local.get $w21)) (local.get $w12)))`
                }
                (br $found)))
            (loop $size
              (br_if $miss (i32.eqz (local.get $m)))
              (local.set $shift (i32.add (i32.const 12) (i32.ctz (local.get $m))))
              (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
              (local.set $vpn (i64.shr_u (local.get $iova) (i64.extend_i32_u (local.get $shift))))
              ;; The set's four ways compared at once (armMatch4); the first matching way, as SmmuTlb.lookup.
              (local.set $base ${armSet4("(local.get $vpn)")})
              (local.set $w ${armMatch4("$base", "(i32.wrap_i64 (local.get $vpn))", armTag(`(i32.const ${AT.kindS1})`, "(local.get $shift)", "(local.get $vpn)"))})
              (br_if $found (local.get $w))
              (br $size)))
            ;; (Checked only on a match: an input no tag holds misses.)
            (br_if $miss ${armUntaggable})
            (local.set $q (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $w)) (i32.const 2))))${
              run
                ? `
            ;; The run-th 4 KiB hit in a row: back to $armHitRun4, whose loop answers runs of them
            ;; with fewer values live (as VT-d's $burstTlb4 hands back to $hitRun4).
            (if (i32.eq (local.get $shift) (i32.const 12))
              (then
                ${
                  run === 1
                    ? "(br_if $toRun (i32.ne (local.get $i) (local.get $start)))"
                    : `(br_if $toRun (i32.and (i32.ge_u (local.get $hitRun) (i32.const ${run - 1})) (i32.ne (local.get $i) (local.get $start))))
                (local.set $hitRun (i32.add (local.get $hitRun) (i32.const 1)))`
                }))`
                : ""
            }
            ${hit((r) => `offset=${16 * r} (local.get $q)`)})`
      : `(block $miss
          (br_if $miss (i32.eqz (local.get $useTlb)))
          (local.set $k (call $armTlbFind (i32.const ${AT.kindS1}) (local.get $ids) (local.get $iova)))
          (br_if $miss (i32.lt_s (local.get $k) (i32.const 0)))
          (local.set $q (global.get $armHitAt))
          (local.set $shift (global.get $armHitShift))
          ${hit((r) => armRowAt("(local.get $q)", "(local.get $ways)", r))})`;

  /** The unrolled walk of four levels from level 0 (an input of 40 to 48 bits), no call: into $out, $perm, $level, $shift (br $walked), or a fault. */
  const unrolled = `(local.set $r
                (block $wfault (result i32)
                  (block $leaf
                    (local.set $hier (i32.const 0))
                    ${[0, 1, 2, 3]
                      .map((L) =>
                        armLevel(
                          L,
                          // Index bits 47:39 (level 0: the range check left no others), 38:30, 29:21, 20:12, times 8.
                          `(i64.add (local.get ${L === 0 ? "$ttb64" : "$addr"}) (i64.and (i64.shr_u (local.get $iova) (i64.const ${36 - 9 * L})) (i64.const 0xff8)))`,
                          0,
                          {
                            // Outside the pool: where no memory is (unbacked), the read fails - F_WALK_EABT at
                            // this level, its fetch address noted for the event (armFaultAt) -; a descriptor
                            // in sparse DRAM or in the event queue goes back to translate().
                            // (Two tests, each a branch: V8 computes an i32.or of the two with flag
                            // moves. A queue where no memory is can be neither written nor read: the
                            // order of the tests changes no answer.)
                            pool: (c) => `(if ${c}
                      (then
                        (br_if $stop (i32.eqz ${unbacked}))
                        (i64.store offset=${AT.faultFetch} ${armFaultAt} (i64.add (local.get $off) (local.get $poolHpa)))
                        (local.set $level (i32.const ${L}))
                        (br $wfault (i32.const ${hex(ARM.walkEabt)}))))
                    (br_if $stop ${armGuarded})`,
                            fault: (id) => `(local.set $level (i32.const ${L})) (br $wfault (i32.const ${hex(id)}))`,
                            next: "",
                            leaf: `(local.set $level (i32.const ${L})) (local.set $pshift (i64.const ${12 + 9 * (3 - L)}))${L < 3 ? " (br $leaf)" : ""}`,
                          },
                        ),
                      )
                      .join("\n    ;; the next level\n    ")})
                  ${armLeaf({ s2: 0, priv: 0, exec: 0, afOff: "(local.get $afOff)", write: "(local.get $write)" }, { fault: (id) => `(br $wfault (i32.const ${hex(id)}))`, found: "", perm: "" })}
                  (local.set $out (i64.or (local.get $addr) (i64.and (local.get $iova) (i64.sub (i64.shl (i64.const 1) (local.get $pshift)) (i64.const 1)))))
                  (local.set $shift (i32.wrap_i64 (local.get $pshift)))
                  (br $walked)))
              ${fault("(local.get $r)", "(local.get $level)", null)}`;

  /** The walk (unrolledOnly: the start level is 0): into $out, $perm, $level, $shift, or a fault, or a hand-back (br $stop). */
  const walk = (unrolledOnly) => `(block $walked
          ${
            unrolledOnly
              ? unrolled
              : `(if (i32.eqz (local.get $startLevel))
            (then
              ${unrolled}))
          ;; Other start levels: $armWalk.
          (local.set $r (call $armWalk (local.get $ttb64) (local.get $startLevel) (i32.wrap_i64 (i64.ctz (local.get $oMask))) (i32.const 0)
            (local.get $afOff) (i32.const 0) (i32.const 0) (local.get $iova) (local.get $write)))
          (br_if $stop (i32.lt_s (local.get $r) (i32.const 0)))
          (if (local.get $r)
            (then ${fault("(local.get $r)", `(i32.load offset=${B.faultLevel} (local.get $blk))`, null)}))
          (local.set $out (i64.load offset=${B.hpa} (local.get $blk)))
          (local.set $perm (i32.load offset=${B.perm} (local.get $blk)))
          (local.set $level (i32.load offset=${B.level} (local.get $blk)))
          (local.set $shift (i32.load offset=${B.pageShift} (local.get $blk)))`
          })`;

  /** The fill of the walk's leaf (SmmuTlb.fill; ways: 4, folded in, or "any": $armTlbFill). */
  const fillArm = (ways) =>
    ways === 4
      ? `;; The fill (SmmuTlb.fill): the next way of the page number's set, round robin.
            (local.set $vpn (i64.shr_u (local.get $iova) (i64.extend_i32_u (local.get $shift))))
            (local.set $set (i32.and (i32.wrap_i64 (local.get $vpn)) (local.get $setMask)))
            (local.set $w (i32.load8_u (i32.add (global.get $armNext) (local.get $set))))
            (i32.store8 (i32.add (global.get $armNext) (local.get $set)) (i32.and (i32.add (local.get $w) (i32.const 1)) (i32.const 3)))
            (local.set $q (i32.add ${armSet4("(local.get $vpn)")} (i32.shl (local.get $w) (i32.const 2))))
            ${armFillRows((r) => `offset=${16 * r} (local.get $q)`, `(i32.const ${AT.kindS1})`, "(local.get $ids)", "(local.get $shift)", "(local.get $vpn)",
              "(i64.and (local.get $out) (i64.shl (i64.const -1) (i64.extend_i32_u (local.get $shift))))", "(local.get $perm)", "(local.get $level)", "(i64.const 0)")}`
      : `(call $armTlbFill (i32.const ${AT.kindS1}) (local.get $ids) (local.get $iova) (local.get $shift)
              (i64.and (local.get $out) (i64.shl (i64.const -1) (i64.extend_i32_u (local.get $shift)))) (local.get $perm) (local.get $level) (i64.const 0))`;

  /**
   * The loops' parameters: the burst's, converted once by armBurst (the TLB's ids row, TTB0, the
   * output and input sizes as i64): a value a loop uses is a parameter as it is, not computed
   * from one before the loop, where V8's scheduler would sink the computation into the loop.
   */
  const PARAMS = `(param $ids i32) (param $ttbP i64) (param $startLevel i32) (param $oMaskP i64)
    (param $afOff i32) (param $inBitsP i64) (param $useTlb i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32)`;
  const ARGS = ["ids", "ttbP", "startLevel", "oMaskP", "afOff", "inBitsP", "useTlb", "reqs", "writes", "n", "results", "info"].map((p) => `(local.get $${p})`).join(" ");
  /** The loops take the request to start at ($i) after the burst's parameters. */
  const LOOP_PARAMS = `${PARAMS} (param $i i32)`;

  /** The burst's parameters $armMiss4 reads from globals (armBurst sets them): name, type. */
  const MISS_GLOBALS = [["ids", "i32"], ["ttbP", "i64"], ["oMaskP", "i64"], ["afOff", "i32"], ["inBitsP", "i64"], ["reqs", "i32"], ["writes", "i32"], ["results", "i32"], ["info", "i32"]];
  const missGlobal = (p) => `$armB_${p}`;

  /**
   * The loop of one configuration (tlb: 0 none, 4 a 4-way TLB, "any" $useTlb with $armWays ways;
   * unrolledOnly: the start level is 0), so that V8 keeps a loop's few values in registers (as
   * VT-d's $burstWalk4 / $burstTlb4 beside $burst): each expanded from the same pieces. one: not a
   * loop but request $i alone after the hit loop's 4 KiB probe missed ($armMiss4: a 4-way TLB, a
   * walk from level 0; the burst's values from the MISS_GLOBALS): returns $i + 1 when it answered
   * the request, -1 - $i when it hands it back.
   */
  const loop = (name, tlb, unrolledOnly, ahead = 0, run = 0, one = false) => `
  (func ${name} ${one ? "(param $i i32)" : LOOP_PARAMS} (result i32)
    (local $iova i64)${run ? " (local $start i32) (local $hitRun i32) (local $toRunAt i32)" : ""} (local $write i32) (local $m i32) (local $shift i32) (local $vpn i64) (local $base i32)
    (local $w i32) (local $k i32) (local $perm i32) (local $out i64) (local $hits i32) (local $blk i32) (local $ttb64 i64)
    (local $level i32) (local $set i32) (local $ways i32) (local $setMask i32) (local $inBits i64) (local $r i32) (local $faults i32)
    (local $tlb i32) (local $q i32) (local $oaLo i32) (local $vIds v128)
    (local $w12 i32) (local $w21 i32) (local $w30 i32) (local $b12 i32) (local $b21 i32) (local $b30 i32)${one ? `
    ${MISS_GLOBALS.map(([p, t]) => `(local $${p} ${t})`).join(" ")}` : ""}
    ${ARM_WALK_LOCALS} ${ahead ? PF_LOCALS : ""}${one ? `
    ${MISS_GLOBALS.map(([p]) => `(local.set $${p} (global.get ${missGlobal(p)}))`).join("\n    ")}` : ""}
    ${ARM_WALK_SETUP}
    (local.set $oMask (local.get $oMaskP))
    (local.set $tlb (global.get $armTlb))
    (local.set $vIds (i32x4.splat (local.get $ids)))
    (local.set $blk (global.get $blk))
    (local.set $ttb64 (local.get $ttbP))
    (local.set $ways (global.get $armWays))
    (local.set $setMask (global.get $armSetMask))
    (local.set $inBits (local.get $inBitsP))
    ${prefetchEntry(4, ahead, ARM_PF_TABLES)}
    ${run ? "(local.set $start (local.get $i))" : ""}
    (block $stop
      ${run ? "(block $toRun" : ""}
      ${one ? "(block $next" : "(loop $next"}
        ${one ? "" : "(br_if $stop (i32.ge_u (local.get $i) (local.get $n)))"}
        ${prefetchStep(4, ahead, undefined, ARM_PF_TABLES)}
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        ${tlb === 0 ? "" : probe(tlb, run, one)}
        ${run ? "(local.set $hitRun (i32.const 0))" : ""}
        ;; A miss walks: an input at or above the stage's range is F_TRANSLATION at the start level
        ;; (StageWalker.walk's range check: SMMUv3 spec 3.4.1), no descriptor read.
        (if (i64.ne (i64.shr_u (local.get $iova) (local.get $inBits)) (i64.const 0))
          (then ${fault(`(i32.const ${hex(ARM.translation)})`, one ? "(i32.const 0)" : "(local.get $startLevel)", null)}))
        ;; The walk: an unprivileged data access; a fault is the request's result (at the level the
        ;; walk decided it), a hand-back stops the burst. Into $out, $perm, $level, $shift.
        ${walk(unrolledOnly)}
        (i64.store ${result} (local.get $out))
        (i32.store8 (i32.add (local.get $info) (local.get $i)) ${armInfoHi(`(i32.sub (i32.const ${AT.traceLevelOf}) (local.get $level))`, "(local.get $perm)")})
        ${tlb === 0 ? "" : tlb === 4 ? fillArm(4) : `(if (local.get $useTlb) (then ${fillArm("any")}))`}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))${run ? `)
      ;; Request $i starts a run of 4 KiB hits.
      (local.set $toRunAt (i32.const 1))` : ""}${
        one
          ? `
      ;; Answered: the burst's counts, and the hit loop's count of the requests it did not answer itself.
      (i32.store offset=${B.hits} (local.get $blk) (i32.add (i32.load offset=${B.hits} (local.get $blk)) (local.get $hits)))
      (i32.store offset=${B.burstFaults} (local.get $blk) (i32.add (i32.load offset=${B.burstFaults} (local.get $blk)) (local.get $faults)))
      (global.set $armMissed (i32.add (global.get $armMissed) (i32.const 1)))
      (return (local.get $i))`
          : ""
      })${
    one
      ? `
    ;; Handed back: nothing of request $i was counted, cached or written.
    (i32.sub (i32.const -1) (local.get $i)))`
      : `
    ${ahead ? "(global.set $sink (local.get $sink))" : ""}
    ;; The burst's counts (armBurst zeroes them; a burst may run the loops several times).
    (i32.store offset=${B.hits} (local.get $blk) (i32.add (i32.load offset=${B.hits} (local.get $blk)) (local.get $hits)))
    (i32.store offset=${B.burstFaults} (local.get $blk) (i32.add (i32.load offset=${B.burstFaults} (local.get $blk)) (local.get $faults)))
    ${run ? "(select (i32.sub (i32.const -1) (local.get $i)) (local.get $i) (local.get $toRunAt))" : "(local.get $i)"})`
    }`;

  /** One request of $armHitRun4's loop (k: its copy in the unrolled loop). */
  const hitStep = (k) => `
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        ;; The TLB's base and set mask read from their globals here, not kept in locals: with
        ;; fewer values live V8 reloads fewer from the stack per hit.
        (local.set $base ${armSet4("(i64.shr_u (local.get $iova) (i64.const 12))", "(global.get $armTlb)", "(global.get $armSetMask)")})
        (local.set $w ${armMatch4("$base", "(i32.wrap_i64 (i64.shr_u (local.get $iova) (i64.const 12)))", armTag(AT.kindS1, 12, "(i64.shr_u (local.get $iova) (i64.const 12))"))})
        (block $hit${k}
          (block $miss${k}
            (br_if $miss${k} (i32.eqz (local.get $w)))
            (br_if $hit${k} (i32.eqz ${armUntaggable})))
          ;; Not a 4 KiB hit: the TLB loop's (with $armAhead), or $armMiss4's.
          (br_if $exit (global.get $armAhead))
          (local.set $i (call $armMiss4 (local.get $i)))
          (br_if $next (i32.ge_s (local.get $i) (i32.const 0)))
          (local.set $i (i32.sub (i32.const -1) (local.get $i)))
          (br $exit))
        (local.set $q (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $w)) (i32.const 2))))
        (local.set $oaLo (i32.load offset=${16 * AT.rowOaLo} (local.get $q)))
        (local.set $perm (i32.and (local.get $oaLo) (i32.const ${AT.oaPermMask})))
        (if (i32.eqz (i32.and (local.get $perm)
              (i32.add (i32.load8_u (i32.add (local.get $writes) (local.get $i))) (i32.const 1))))
          (then
            ;; A hit lacking the access's permission: F_PERMISSION at the page's level (3), as the
            ;; TLB loop answers it (the info byte's level, the permission and infoHitFault).
            (local.set $k (i32.load offset=${B.burstFaults} (global.get $blk)))
            (i32.store (i32.add (global.get $armFaultList) (i32.shl (local.get $k) (i32.const ${Math.log2(AT.faultBytes)}))) (local.get $i))
            (i32.store offset=${B.burstFaults} (global.get $blk) (i32.add (local.get $k) (i32.const 1)))
            (i32.store ${result} (i32.const ${hex(ARM.permission)}))
            (i32.store offset=4 ${result} (i32.const ${LAYOUT.faultHi}))
            (i32.store8 (i32.add (local.get $info) (local.get $i)) ${armInfoHi(`(i32.const ${AT.traceLevelOf - 3})`, "(local.get $perm)", true)})
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        ;; The output page and the input's offset in it, a dword at a time.
        (i32.store ${result} (i32.or (i32.and (local.get $oaLo) (i32.const -4096)) (i32.and (i32.wrap_i64 (local.get $iova)) (i32.const 0xfff))))
        (i32.store offset=4 ${result} (i32.load offset=${16 * AT.rowOaHi} (local.get $q)))
        (i32.store8 (i32.add (local.get $info) (local.get $i)) ${armInfoHi(infoByte(`(i32.const ${AT.traceLevelOf - 3})`, "(i32.const 1)"), "(local.get $perm)")})
        (local.set $i (i32.add (local.get $i) (i32.const 1)))`;

  return `${armTlbFuncs()}

  ;; The burst's values $armMiss4 reads (armBurst sets them), and the requests it answered (the hit loop's count of them).
  ${MISS_GLOBALS.map(([p, t]) => `(global ${missGlobal(p)} (mut ${t}) (${t}.const 0))`).join("\n  ")}
  (global $armMissed (mut i32) (i32.const 0))

  ;; The burst through the loop of its configuration; the event queue's range set for its walks.
  ;; $faultList: the burst's fault list (armFaultAt).
  (func (export "armBurst") (param $vmid i32) (param $asid i32) (param $ttb f64) (param $startLevel i32) (param $outputBits i32)
    (param $afOff i32) (param $inputBits i32) (param $useTlb i32) (param $evq f64) (param $evqBytes i32) (param $faultList i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32) (result i32)
    (local $r i32) (local $ids i32) (local $ttbP i64) (local $oMaskP i64) (local $inBitsP i64)
    (local.set $ids ${armIds("(local.get $vmid)", "(local.get $asid)")})
    (local.set $ttbP (i64.trunc_f64_u (local.get $ttb)))
    (local.set $oMaskP (i64.shl (i64.const -1) (i64.extend_i32_u (local.get $outputBits))))
    (local.set $inBitsP (i64.extend_i32_u (local.get $inputBits)))
    (global.set $armFaultList (local.get $faultList))
    (i32.store offset=${B.hits} (global.get $blk) (i32.const 0))
    (i32.store offset=${B.burstFaults} (global.get $blk) (i32.const 0))
    (global.set $armGuardOff (i64.sub (i64.trunc_f64_u (local.get $evq)) (global.get $poolHpa)))
    (global.set $armGuardBytes (i64.extend_i32_u (local.get $evqBytes)))
    ${MISS_GLOBALS.map(([p]) => `(global.set ${missGlobal(p)} (local.get $${p}))`).join("\n    ")}
    (local.set $r
      (if (result i32) (i32.eqz (local.get $startLevel))
        (then
          (if (result i32) (i32.eqz (local.get $useTlb))
            (then (call $armBurstWalk ${ARGS} (i32.const 0)))
            (else
              (if (result i32) (i32.eq (global.get $armWays) (i32.const 4))
                (then (call $armProbe4 ${ARGS}))
                (else (call $armBurstAny ${ARGS} (i32.const 0)))))))
        (else (call $armBurstAny ${ARGS} (i32.const 0)))))
    (global.set $armGuardBytes (i64.const 0))
    (local.get $r))
${loop("$armBurstWalk", 0, true, ARM_PREFETCH_WALK)}
${loop("$armBurstTlb4Ahead", 4, true, ARM_PREFETCH_TLB, ARM_AHEAD_RUN)}
${loop("$armMiss4", 4, true, 0, 0, true)}

  ;; A 4-way TLB and a walk from level 0. A burst that mostly hits the TLB (W2) runs in
  ;; $armHitRun4 alone: it answers 4 KiB hits itself and each other request through $armMiss4.
  ;; One that misses often (W3: see ARM_TLB_AHEAD_BELOW; which it is, the TLB hits of the burst
  ;; before say) alternates runs of 4 KiB hits in $armHitRun4 with $armBurstTlb4Ahead, which reads
  ;; later walks ahead and goes back at the ${ARM_AHEAD_RUN}th 4 KiB hit in a row (ARM_AHEAD_RUN: a switch per hit would
  ;; cost it two calls every few requests). Returns as the TLB loop: the first request not answered.
  (func $armProbe4 ${PARAMS} (result i32)
    (local $i i32) (local $j i32) (local $r i32) (local $ahead i32) (local $vIds v128)
    (local.set $vIds (i32x4.splat (local.get $ids)))
    (local.set $ahead (global.get $armAhead))
    (block $done
      (loop $next
        (local.set $r (call $armHitRun4 (local.get $vIds) (local.get $reqs) (local.get $writes)
          (local.get $i) (local.get $n) (local.get $results) (local.get $info)))
        ;; (Without $ahead the hit loop stops only at $n or at a request handed back.)
        (br_if $done (i32.or (i32.eqz (local.get $ahead)) (i32.ge_u (local.get $r) (local.get $n))))
        (local.set $r (call $armBurstTlb4Ahead ${ARGS} (local.get $r)))
        (br_if $done (i32.ge_s (local.get $r) (i32.const 0)))
        (local.set $i (i32.sub (i32.const -1) (local.get $r)))
        (br $next)))
    ;; The next burst's loop: reads ahead when fewer than ${ARM_TLB_AHEAD_BELOW} in 4 of this one's requests hit.
    (global.set $armAhead (i32.lt_u (i32.mul (i32.load offset=${B.hits} (global.get $blk)) (i32.const 4))
      (i32.mul (local.get $r) (i32.const ${ARM_TLB_AHEAD_BELOW}))))
    (local.get $r))

  ;; Answers requests $i, $i + 1, ... up to $n: a request the TLB answers with a stage-1 4 KiB page
  ;; (SmmuTlb.lookup's first probe, the smallest size: a hit there is its answer) itself - its
  ;; result, info byte (the trace's level 1: a stage-1 entry of 2^12 bytes is a level-3 page of
  ;; the 4 KiB granule; the hit bit; the permission); a hit lacking the permission its F_PERMISSION,
  ;; into the fault list and the block's count -, any other through $armMiss4 (the larger sizes,
  ;; the walk, the fill), or, with $armAhead, by returning its index for the TLB loop. Returns the
  ;; first request it did not answer: $n, a request $armMiss4 handed back, or (with $armAhead) a
  ;; miss. Adds the 4 KiB hits to the block's count: the requests answered less $armMiss4's.
  (func $armHitRun4 (param $vIds v128) (param $reqs i32) (param $writes i32)
    (param $i i32) (param $n i32) (param $results i32) (param $info i32) (result i32)
    (local $iova i64) (local $base i32) (local $w i32) (local $q i32) (local $perm i32) (local $oaLo i32) (local $k i32)
    (local $start i32) (local $missed i32)
    (local.set $start (local.get $i))
    (local.set $missed (global.get $armMissed))
    (block $exit
      (loop $next
        ${Array.from({ length: ARM_HIT_UNROLL }, (_, k) => hitStep(k)).join("\n")}
        (br $next)))
    (i32.store offset=${B.hits} (global.get $blk)
      (i32.add (i32.load offset=${B.hits} (global.get $blk))
        (i32.sub (i32.sub (local.get $i) (local.get $start)) (i32.sub (global.get $armMissed) (local.get $missed)))))
    (local.get $i))
${loop("$armBurstAny", "any", false)}`;
}

// ---- the module ------------------------------------------------------------------------------------

/** The core's WebAssembly text. */
/**
 * $burstTlb4's IOTLB probe of the level-L key of $iova (L a number: 1 4 KiB, 2 2 MiB, 3 1 GiB): on
 * a match, the hit's result is written to $out (block $done), or its fault leaves block $word0; a
 * match of an IOVA no tag reaches is a miss ($miss); otherwise falls through to the next page size.
 */
const tlb4Probe = (L) => {
  const shift = 12 + 9 * (L - 1);
  return `
              (local.set $base ${setBase(`(i64.const ${shift})`, 4)})
              (local.set $x (i64.shr_u (local.get $iova) (i64.add (i64.const ${shift}) (local.get $setBits))))
              (local.set $q ${match4("$base", tagA("(local.get $x)", `(i32.const ${L})`), tagB("(local.get $x)"))})
              (if (local.get $q)
                (then
                  ;; (Checked only on a match, off the path of a miss.)
                  (br_if $miss ${untaggable})${
                    L === 1
                      ? `
                  ;; The fourth 4 KiB hit in a row: back to $hitRun4, whose loop answers runs of hits
                  ;; faster. (Handing back at every 4 KiB hit cost two calls per switch, and a
                  ;; stream with hits and misses interleaved, as W3 of the benchmark, switched
                  ;; every few requests.)
                  (br_if $exit (i32.and (i32.ge_u (local.get $hitRun) (i32.const 3)) (i32.ne (local.get $i) (local.get $start))))
                  (local.set $hitRun (i32.add (local.get $hitRun) (i32.const 1)))`
                      : ""
                  }
                  (local.set $q (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $q)) (i32.const 2))))
                  (local.set $baseLo (i32.load offset=${row(T.rowBaseLo, 4)} (local.get $q)))
                  (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
                  (local.set $hit (i32.const 1))
                  (local.set $level (i32.const ${L}))
                  (local.set $lastPerm (i32.and (local.get $baseLo) (i32.const 3)))
                  (br_if $word0 (i32.sub (i32.const ${FR.READ}) (local.get $write))
                    (i32.eqz (i32.and (local.get $baseLo) (i32.wrap_i64 (local.get $need)))))
                  (drop)
                  (i32.store offset=4 (local.get $out) (i32.load offset=${row(T.rowBaseHi, 4)} (local.get $q)))
                  (i32.store (local.get $out) ${hitLo("(local.get $baseLo)", pageMask(L))})
                  (br $done)))`;
};

/**
 * $burstTlb4 (`ahead` 0) and $burstTlb4Ahead (`ahead` requests per group of reads ahead:
 * prefetchWalks): the same step, generated twice so that a stream that mostly hits runs the loop
 * without the reads ahead and the two values they keep live.
 */
function burstTlb4Func(name, ahead) {
  return `  ;; A 4-way IOTLB and 4 levels (the DMAR unit's 48-bit domains), from request $i: the whole step
  ;; in one loop with no call — probes of the three page sizes with one SIMD compare each, the
  ;; unrolled walk, the fill — so that nothing is spilled across a call and a walk-bound stream
  ;; keeps several walks' table reads in flight. $burstProbe4 runs it for the requests its hit loop
  ;; cannot answer; it hands back at the fourth 4 KiB hit in a row (returns that request's index), at $n, or
  ;; at a request whose walk leaves the table pool (returns -1 - its index; its miss is counted).
  ;; A fault's reason leaves the block $word0; a result is written where it is found.
  ;; $didTagP: the domain's tagB bits; $widthMask: the IOVA bits at or above the address width.${
    ahead
      ? `
  ;; This one reads the table entries of later requests' walks ahead, in groups of ${ahead}
  ;; (prefetchWalks), for streams that miss often (see PREFETCH_TLB).`
      : ""
  }
  (func ${name} (param $didTagP i32) (param $root i64) (param $widthMask i64)
    (param $reqs i32) (param $writes i32) (param $i i32) (param $n i32) (param $results i32) (param $info i32) (result i32)
    ${WALK_LOCALS} ${TLB_LOCALS}
    (local $start i32) (local $iova i64) (local $write i32) (local $out i32) (local $hpa i64)
    (local $hits i32) (local $misses i32) (local $level i32) (local $lastPerm i32) (local $hit i32)
    (local $hitRun i32) ${ahead ? PF_LOCALS : ""}
    ${WALK_SETUP}
    ${tlbSetup("(local.get $didTagP)")}
    (local.set $start (local.get $i))
    ${prefetchEntry(4, ahead)}
    (block $pool
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        ${prefetchStep(4, ahead)}
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        ;; The access needs R (bit 0) for a read, W (bit 1) for a write: 1 + write.
        (local.set $need (i64.extend_i32_u (i32.add (local.get $write) (i32.const 1))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        ;; A result leaves block $done written; a fault's reason leaves block $word0.
        (block $done
        (i32.store (local.get $out)
          (block $word0 (result i32)
            ;; The request's level and hit bit (its info byte): set anew for each request, so that
            ;; they are not live across the loop (the end of the burst reads the last info byte).
            (local.set $hit (i32.const 0))
            (local.set $level (i32.const 0))
            ;; IOTLB probes: 4 KiB, then 2 MiB, then 1 GiB (unrolled: each with its shift a constant).
            (block $miss
              ${[1, 2, 3].map(tlb4Probe).join("")})
            (local.set $misses (i32.add (local.get $misses) (i32.const 1)))
            (local.set $hitRun (i32.const 0))
            ;; A miss walks, range check first (vtd_iova_sl_range_check).
            (br_if $word0 (i32.const ${FR.ADDR_BEYOND_MGAW}) (i64.ne (i64.and (local.get $iova) (local.get $widthMask)) (i64.const 0)))
            (drop)
            (block $leaf
              ${walk(4, "$leaf", {
                // Every walk that leaves the pool goes back (read errors included): answering
                // 0x07 here, as the other loops do, cost W3 35 instructions per request more
                // than the trip to TypeScript (callgrind: V8 spilled more of this loop).
                pool: (c) => `(br_if $pool ${c})`,
                entry: (L, top) => `${andPerm(L, top)} (local.set $level (i32.const ${L}))`,
                fault: (L, c) => `(br_if $word0 (i32.sub (i32.const ${FR.READ}) (local.get $write)) ${c}) (drop)`,
                rsvd: (L, c) => `(br_if $word0 (i32.const ${FR.PAGING_ENTRY_RSVD}) ${c}) (drop)`,
              })})
            ;; The leaf at $level.
            (local.set $lastPerm (i32.and (i32.wrap_i64 (local.get $perm)) (i32.const 3)))
            (local.set $hpa ${leafHpa()})
            ;; A leaf in the interrupt window goes back to TypeScript unfilled (LAYOUT.interruptWindow).
            ${vetted("(local.get $hpa)", "(local.get $offMask)", "(br $pool)")}
            ;; The fill, its shifts constants for the common 4 KiB leaf.
            (if (i32.eq (local.get $level) (i32.const 1))
              (then ${fill("(i32.const 1)", "(local.get $hpa)", "(local.get $lastPerm)", 4)})
              (else ${fill("(local.get $level)", "(local.get $hpa)", "(local.get $lastPerm)", 4)}))
            (i64.store (local.get $out) (local.get $hpa))
            (br $done)))
        (i32.store offset=4 (local.get $out) (i32.const ${LAYOUT.faultHi})))
        (i32.store8 (i32.add (local.get $info) (local.get $i)) ${infoByte("(local.get $level)", "(local.get $hit)")})
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ${ahead ? "(global.set $sink (local.get $sink))" : ""}
    ;; Done, or stopped at a 4 KiB hit: the block describes the last request done, as after $burst.
    (i32.store offset=${B.hits} (local.get $blk) (i32.add (i32.load offset=${B.hits} (local.get $blk)) (local.get $hits)))
    (i32.store offset=${B.misses} (local.get $blk) (i32.add (i32.load offset=${B.misses} (local.get $blk)) (local.get $misses)))
    (if (i32.and (i32.eq (local.get $i) (local.get $n)) (i32.gt_u (local.get $n) (local.get $start)))
      (then
        ;; The last request's level and hit bit from its info byte, its result from the results.
        (local.set $level (i32.load8_u (i32.add (local.get $info) (i32.sub (local.get $i) (i32.const 1)))))
        (local.set $out (i32.add (local.get $results) (i32.shl (i32.sub (local.get $i) (i32.const 1)) (i32.const 3))))
        (i32.store offset=${B.level} (local.get $blk) (i32.and (local.get $level) (i32.const ${LAYOUT.info.levelMask})))
        (i32.store offset=${B.perm} (local.get $blk) (local.get $lastPerm))
        (i32.store offset=${B.iotlbHit} (local.get $blk)
          (i32.shr_u (local.get $level) (i32.const ${Math.log2(LAYOUT.info.iotlbHit)})))
        (if (i32.ne (i32.load offset=4 (local.get $out)) (i32.const ${LAYOUT.faultHi}))
          (then (i64.store offset=${B.hpa} (local.get $blk) (i64.load (local.get $out)))))))
    (return (local.get $i)))
    ;; Stopped at request $i, whose walk left the table pool (its miss counted): the caller walks it
    ;; and fills the result block.
    (i32.store offset=${B.hits} (local.get $blk) (i32.add (i32.load offset=${B.hits} (local.get $blk)) (local.get $hits)))
    (i32.store offset=${B.misses} (local.get $blk) (i32.add (i32.load offset=${B.misses} (local.get $blk)) (local.get $misses)))
    (i32.sub (i32.const -1) (local.get $i)))`;
}

/** $burstProbe4's call of $burstTlb4 / $burstTlb4Ahead from request $j. */
const burstTlb4Args = `${didTagOf("(local.get $did)")} (local.get $root)
                  (i64.shl (i64.const -1) (i64.extend_i32_u (local.get $widthBits)))
                  (local.get $reqs) (local.get $writes) (local.get $j) (local.get $n) (local.get $results) (local.get $info)`;

export function translateCoreWat() {
  const levelsRange = [];
  for (let n = LAYOUT.minLevels; n <= LAYOUT.maxLevels; n++) levelsRange.push(n);
  return `;; Generated by scripts/build-wasm.mjs from src/sim/vtd/translate-core.template.mjs: do not edit.
;; Memory (imported; PhysicalMemory owns it):
;;   [poolBytesAt]     i32  bytes of the table pool allocated so far (PhysicalMemory keeps it)
;;   [poolOff, ...)    the table pool: entry at HPA a is the i64 at poolOff + (a - poolHpa)
;;   [blk, ...)        the translator's block (LAYOUT.block)
;;   [tlb, ...)        IOTLB sets (LAYOUT.iotlb); [victim + set] u8 FIFO victim way
(module
  (import "sim" "memory" (memory 1))

  (global $blk (mut i32) (i32.const 0))
  (global $poolHpa (mut i64) (i64.const 0))
  (global $poolOff (mut i32) (i32.const 0))
  (global $poolBytesAt (mut i32) (i32.const 0))
  ;; ADDR field of an entry: bits HAW-1:12.
  (global $addrMask (mut i64) (i64.const 0))
  ;; Bit L set when PS=1 at level L is a superpage (CAP.SLLPS): bits 2 and 3 only.
  (global $largeOk (mut i32) (i32.const 0))
  ;; PS (bit 7) where level 3 / 2 has superpages, else 0: the walks test an entry against it.
  (global $ps3 (mut i64) (i64.const 0))
  (global $ps2 (mut i64) (i64.const 0))
  ;; IOTLB: byte offset of the sets (0: no IOTLB), of the victim bytes, sets - 1, log2(sets), ways.
  (global $tlb (mut i32) (i32.const 0))
  (global $victim (mut i32) (i32.const 0))
  (global $setMask (mut i32) (i32.const 0))
  (global $setBits (mut i64) (i64.const 0))
  ;; $hitRun4's: (sets - 1) << 6 (a 4-way set's 64 bytes), 12 + log2(sets).
  (global $setMask6 (mut i64) (i64.const 0))
  (global $shift1 (mut i64) (i64.const 0))
  (global $ways (mut i32) (i32.const 0))
  ;; $hitRun4: the permission of the last hit it answered.
  (global $lastPerm (mut i32) (i32.const 0))
  ;; 1: hand back walks whose leaf page overlaps the interrupt window (LAYOUT.interruptWindow).
  (global $vet (mut i32) (i32.const 0))
  ;; The memory's DRAM size (PhysicalMemory.dramBytes): a paging entry outside the pool and at or
  ;; above it cannot be read (0x07: see unbacked in the template). Until configureDram: every address is DRAM
  ;; (every walk that leaves the pool goes back to TypeScript).
  (global $dramBytes (mut i64) (i64.const -1))
  ;; What the read-ahead of the walk loops read (prefetchWalks in the template): never read.
  (global $sink (mut i64) (i64.const 0))

  (func (export "configureDram") (param $dramBytes f64)
    (global.set $dramBytes (i64.trunc_f64_u (local.get $dramBytes))))

  (func (export "configure")
    (param $blk i32) (param $poolHpa f64) (param $poolOff i32) (param $poolBytesAt i32)
    (param $addrMaskHi i32) (param $largeOk i32)
    (param $tlb i32) (param $victim i32) (param $sets i32) (param $ways i32) (param $vet i32)
    (global.set $vet (local.get $vet))
    (global.set $blk (local.get $blk))
    (global.set $poolHpa (i64.trunc_f64_u (local.get $poolHpa)))
    (global.set $poolOff (local.get $poolOff))
    (global.set $poolBytesAt (local.get $poolBytesAt))
    (global.set $addrMask
      (i64.or (i64.shl (i64.extend_i32_u (local.get $addrMaskHi)) (i64.const 32)) (i64.const 0xfffff000)))
    (global.set $largeOk (local.get $largeOk))
    (global.set $ps3 (i64.extend_i32_u (i32.and (i32.shl (local.get $largeOk) (i32.const 4)) (i32.const 0x80))))
    (global.set $ps2 (i64.extend_i32_u (i32.and (i32.shl (local.get $largeOk) (i32.const 5)) (i32.const 0x80))))
    (global.set $tlb (local.get $tlb))
    (global.set $victim (local.get $victim))
    (global.set $setMask (i32.sub (local.get $sets) (i32.const 1)))
    (global.set $setBits (i64.extend_i32_u (i32.ctz (local.get $sets))))
    (global.set $setMask6 (i64.shl (i64.extend_i32_u (global.get $setMask)) (i64.const 6)))
    (global.set $shift1 (i64.add (i64.const 12) (global.get $setBits)))
    (global.set $ways (local.get $ways)))
${levelsRange.map(walkFunc).join("\n")}
${amdV1WalkFunc()}
${amdBurstFuncs()}
${armWalkFunc()}
${armBurstFunc()}

  ;; A walk of any number of levels into the result block: 0, a fault reason, or -1 (left the
  ;; pool, or a level count the core has no walk for: TypeScript walks it).
  (func $walk (param $root i64) (param $levels i32) (param $iova i64) (param $write i32) (result i32)
${levelsRange.map((n) => `    (if (i32.eq (local.get $levels) (i32.const ${n})) (then (return (call $walk${n} (local.get $root) (local.get $iova) (local.get $write)))))`).join("\n")}
    (i32.const -1))

  ;; IOTLB lookup of (did, iova): -1 on a miss; 0 on a permitted hit (address, level, permissions
  ;; in the block); 0x05 / 0x06 on a hit whose cached permission lacks the access. Probes the
  ;; 4 KiB key, then 2 MiB, then 1 GiB, starting at level $from.
  (func $lookup (param $did i32) (param $iova i64) (param $write i32) (param $from i32) (result i32)
    ${TLB_LOCALS} (local $L i32) (local $ways i32) (local $tagA i32) (local $tagB i32) (local $perm i32) (local $offMask i32)
    ${TLB_SETUP}
    (local.set $ways (global.get $ways))
    (if ${untaggable} (then (return (i32.const -1))))
    (local.set $L (local.get $from))
    (loop $probe
      (local.set $shift (i64.extend_i32_u (i32.add (i32.const 3) (i32.mul (i32.const 9) (local.get $L)))))
      (local.set $x (i64.shr_u (local.get $iova) (i64.add (local.get $shift) (local.get $setBits))))
      (if (i32.eq (local.get $ways) (i32.const 4))
        (then
          (local.set $base ${setBase("(local.get $shift)", 4)})
          (local.set $q ${match4("$base", tagA("(local.get $x)", "(local.get $L)"), tagB("(local.get $x)"))})
          (local.set $q (select (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $q)) (i32.const 2))) (i32.const -1) (local.get $q))))
        (else
          (local.set $base ${setBase("(local.get $shift)", "(local.get $ways)")})
          ${matchWays("$base", tagA("(local.get $x)", "(local.get $L)"), tagB("(local.get $x)"))}))
      (if (i32.ge_s (local.get $q) (i32.const 0))
        (then
          (local.set $baseLo (i32.load (i32.add (local.get $q) ${row(T.rowBaseLo, "(local.get $ways)")})))
          (local.set $perm (i32.and (local.get $baseLo) (i32.const 3)))
          (i32.store offset=${B.level} (global.get $blk) (local.get $L))
          (i32.store offset=${B.perm} (global.get $blk) (local.get $perm))
          (if (i32.eqz (i32.and (local.get $perm) (i32.add (local.get $write) (i32.const 1))))
            (then (return (i32.sub (i32.const ${FR.READ}) (local.get $write)))))
          (local.set $offMask (i32.sub (i32.shl (i32.const 1) (i32.wrap_i64 (local.get $shift))) (i32.const 1)))
          (i32.store offset=${B.hpa} (global.get $blk) ${hitLo("(local.get $baseLo)", "(local.get $offMask)")})
          (i32.store offset=${B.hpa + 4} (global.get $blk)
            (i32.load (i32.add (local.get $q) (i32.mul (local.get $ways) (i32.const ${4 * T.rowBaseHi})))))
          (return (i32.const 0))))
      (local.set $L (i32.add (local.get $L) (i32.const 1)))
      (br_if $probe (i32.le_u (local.get $L) (i32.const 3))))
    (i32.const -1))

  ;; Caches the successful walk just done (result block) for (did, iova), FIFO victim per set.
  (func $fill (param $did i32) (param $iova i64)
    ${TLB_LOCALS} (local $ways i32)
    ${TLB_SETUP}
    (local.set $ways (global.get $ways))
    ${fill(`(i32.load offset=${B.level} (global.get $blk))`, `(i64.load offset=${B.hpa} (global.get $blk))`,
      `(i32.and (i32.load offset=${B.perm} (global.get $blk)) (i32.const 3))`, "(local.get $ways)")})

  ;; The translate step — IOTLB probe; on a miss the range check, walk and fill — for a burst of
  ;; $n requests of one context, in order: IOVA i is the i64 at $reqs + 8i, its write flag the
  ;; byte at $writes + i. Result i, at $results + 8i: the translated address as an i64, or a fault
  ;; as (low dword = reason, high dword = ${LAYOUT.faultHi}: no address has that high dword). The
  ;; result block describes the last request done. Returns the number of requests done: less
  ;; than $n when that request's walk left the table pool and must be walked in TypeScript (the
  ;; caller resumes the burst after it). Any configuration; translate() is a burst of one.
  (func $burst (param $did i32) (param $root i64) (param $levels i32) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32) (result i32)
    ${WALK_LOCALS} ${TLB_LOCALS}
    (local $i i32) (local $r i32) (local $iova i64) (local $write i32) (local $out i32)
    (local $hits i32) (local $misses i32) (local $fast4 i32) (local $lastFast i32) (local $level i32)
    ${WALK_SETUP}
    ${TLB_SETUP}
    ;; A 4-way IOTLB has its 4 KiB probe inlined below: a busy device's common case is a hit there.
    (local.set $fast4 (i32.and (i32.ne (local.get $tlb) (i32.const 0)) (i32.eq (global.get $ways) (i32.const 4))))
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $lastFast (i32.const 0))
        (local.set $r
          (block $step (result i32)
            ;; The IOTLB first (vtd_do_iommu_translate: vtd_lookup_iotlb before vtd_iova_to_slpte).
            (if (local.get $tlb)
              (then
                (if (i32.and (local.get $fast4) (i32.eqz ${untaggable}))
                  (then
                    (local.set $base ${setBase("(i64.const 12)", 4)})
                    (local.set $x (i64.shr_u (local.get $iova) (i64.add (i64.const 12) (local.get $setBits))))
                    (local.set $q ${match4("$base", tagA("(local.get $x)", "(i32.const 1)"), tagB("(local.get $x)"))})
                    (if (local.get $q)
                      (then
                        (local.set $q (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $q)) (i32.const 2))))
                        (local.set $baseLo (i32.load offset=${row(T.rowBaseLo, 4)} (local.get $q)))
                        ;; Level 1, perm, hit: written to the result block at the end if this was the last request.
                        (local.set $lastFast (i32.const 1))
                        (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
                        (drop (br_if $step (i32.sub (i32.const ${FR.READ}) (local.get $write))
                          (i32.eqz (i32.and (local.get $baseLo) (i32.add (local.get $write) (i32.const 1))))))
                        (i32.store (local.get $out) ${hitLo("(local.get $baseLo)", pageMask(1))})
                        (i32.store offset=4 (local.get $out) (i32.load offset=${row(T.rowBaseHi, 4)} (local.get $q)))
                        (br $step (i32.const 0))))
                    (local.set $r (call $lookup (local.get $did) (local.get $iova) (local.get $write) (i32.const 2))))
                  (else
                    (local.set $r (call $lookup (local.get $did) (local.get $iova) (local.get $write) (i32.const 1)))))
                (if (i32.ge_s (local.get $r) (i32.const 0))
                  (then
                    (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
                    (i32.store offset=${B.iotlbHit} (local.get $blk) (i32.const 1))
                    (if (i32.eqz (local.get $r)) (then (i64.store (local.get $out) (i64.load offset=${B.hpa} (local.get $blk)))))
                    (br $step (local.get $r))))
                (local.set $misses (i32.add (local.get $misses) (i32.const 1)))))
            (i32.store offset=${B.iotlbHit} (local.get $blk) (i32.const 0))
            ;; A miss walks, range check first (vtd_iova_sl_range_check): bits at or above widthBits are zero.
            (if (i32.and (i32.lt_u (local.get $widthBits) (i32.const 64))
                  (i64.ne (i64.shr_u (local.get $iova) (i64.extend_i32_u (local.get $widthBits))) (i64.const 0)))
              (then
                (i32.store offset=${B.level} (local.get $blk) (i32.const 0))
                (br $step (i32.const ${FR.ADDR_BEYOND_MGAW}))))
            (local.set $r
              (if (result i32) (i32.eq (local.get $levels) (i32.const 4))
                (then
                  ;; The 4-level walk (48-bit AGAW, the common case) inline.
                  (local.set $need (i64.extend_i32_u (i32.add (local.get $write) (i32.const 1))))
                  ${walkToBlock(4)})
                (else (call $walk (local.get $root) (local.get $levels) (local.get $iova) (local.get $write)))))
            ;; (br_if with a value leaves it on the stack when not taken)
            (drop (br_if $step (local.get $r) (local.get $r)))
            (if (local.get $tlb) (then (call $fill (local.get $did) (local.get $iova))))
            (i64.store (local.get $out) (i64.load offset=${B.hpa} (local.get $blk)))
            (i32.const 0)))
        (br_if $exit (i32.lt_s (local.get $r) (i32.const 0)))
        (if (local.get $r)
          (then
            (i32.store (local.get $out) (local.get $r))
            (i32.store offset=4 (local.get $out) (i32.const ${LAYOUT.faultHi}))))
        ;; The inlined probe's hit wrote nothing to the block: level 1, a hit.
        (i32.store8 (i32.add (local.get $info) (local.get $i))
          (select ${infoByte("(i32.const 1)", "(i32.const 1)")}
            ${infoByte(`(i32.load offset=${B.level} (local.get $blk))`, `(i32.load offset=${B.iotlbHit} (local.get $blk))`)}
            (local.get $lastFast)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store offset=${B.hits} (local.get $blk) (i32.add (i32.load offset=${B.hits} (local.get $blk)) (local.get $hits)))
    (i32.store offset=${B.misses} (local.get $blk) (i32.add (i32.load offset=${B.misses} (local.get $blk)) (local.get $misses)))
    ;; The result block describes the last request done, as after translate(): a hit of the inlined
    ;; probe wrote nothing there (every other path did), and the address is the last success's.
    (if (local.get $lastFast)
      (then
        (i32.store offset=${B.level} (local.get $blk) (i32.const 1))
        (i32.store offset=${B.perm} (local.get $blk) (i32.and (local.get $baseLo) (i32.const 3)))
        (i32.store offset=${B.iotlbHit} (local.get $blk) (i32.const 1))))
    (if (local.get $i)
      (then
        (local.set $out (i32.add (local.get $results) (i32.shl (i32.sub (local.get $i) (i32.const 1)) (i32.const 3))))
        (if (i32.ne (i32.load offset=4 (local.get $out)) (i32.const ${LAYOUT.faultHi}))
          (then (i64.store offset=${B.hpa} (local.get $blk) (i64.load (local.get $out)))))))
    (local.get $i))

;; ---- Bursts of the two common configurations ------------------------------------------------
  ;; $burst handles every configuration, so its loop keeps some thirty values live and V8 spills
  ;; many of them to the stack: loads and stores on every request. These loops do only what
  ;; their configuration needs, with few enough values to stay in registers, and hand everything
  ;; else to $burst one request at a time. Their results, counters and IOTLB state are exactly
  ;; $burst's (test/unit/slpt.test.ts runs both against translate()).

  ;; A 4-way IOTLB: requests that hit its 4 KiB entries are answered by $hitRun4 in a few
  ;; instructions each; the others by $burstTlb4 (4 levels) or one at a time by $burst. The
  ;; loops are separate functions because V8 spills every value live across a call: a call in the
  ;; hit loop would cost it a dozen stack loads and stores per request.
  (func $burstProbe4 (param $did i32) (param $root i64) (param $levels i32) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32) (local $out i32) (local $m i32) (local $ahead i32)
    (block $exit
      (loop $next
        (local.set $j (call $hitRun4 ${didTagOf("(local.get $did)")} (local.get $reqs) (local.get $writes)
          (local.get $i) (local.get $n) (local.get $results)))
        ;; Every request the hit loop answered hit a 4 KiB entry: one fill of their info bytes,
        ;; not a store in that loop.
        (memory.fill (i32.add (local.get $info) (local.get $i)) ${infoByte("(i32.const 1)", "(i32.const 1)")} (i32.sub (local.get $j) (local.get $i)))
        (i32.store offset=${B.hits} (global.get $blk)
          (i32.add (i32.load offset=${B.hits} (global.get $blk)) (i32.sub (local.get $j) (local.get $i))))
        (if (i32.ge_u (local.get $j) (local.get $n))
          (then
            ;; The burst ended on a hit: the result block describes it, as $burst would leave it.
            (if (i32.gt_u (local.get $j) (local.get $i))
              (then
                (local.set $out (i32.add (local.get $results) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 3))))
                (i32.store offset=${B.level} (global.get $blk) (i32.const 1))
                (i32.store offset=${B.perm} (global.get $blk) (global.get $lastPerm))
                (i32.store offset=${B.iotlbHit} (global.get $blk) (i32.const 1))
                (if (i32.ne (i32.load offset=4 (local.get $out)) (i32.const ${LAYOUT.faultHi}))
                  (then (i64.store offset=${B.hpa} (global.get $blk) (i64.load (local.get $out)))))))
            (return (local.get $j))))
        (if (i32.eq (local.get $levels) (i32.const 4))
          (then
            ;; Until the next run of 4 KiB hits; stops at a request whose walk left the pool. With
            ;; the reads ahead when the call before walked ${TLB_PREFETCH_AFTER} misses or more (see PREFETCH_TLB).
            (local.set $m (i32.load offset=${B.misses} (global.get $blk)))
            (local.set $k
              (if (result i32) (local.get $ahead)
                (then (call $burstTlb4Ahead ${burstTlb4Args}))
                (else (call $burstTlb4 ${burstTlb4Args}))))
            (local.set $ahead
              (i32.ge_u (i32.sub (i32.load offset=${B.misses} (global.get $blk)) (local.get $m)) (i32.const ${TLB_PREFETCH_AFTER})))
            (if (i32.lt_s (local.get $k) (i32.const 0)) (then (return (i32.sub (i32.const -1) (local.get $k)))))
            (local.set $i (local.get $k)))
          (else
            (br_if $exit
              (i32.eqz (call $burst (local.get $did) (local.get $root) (local.get $levels) (local.get $widthBits)
                (i32.add (local.get $reqs) (i32.shl (local.get $j) (i32.const 3))) (i32.add (local.get $writes) (local.get $j))
                (i32.const 1) (i32.add (local.get $results) (i32.shl (local.get $j) (i32.const 3))) (i32.add (local.get $info) (local.get $j)))))
            (local.set $i (i32.add (local.get $j) (i32.const 1)))))
        (br_if $next (i32.lt_u (local.get $i) (local.get $n)))
        (return (local.get $i))))
    ;; Request $j left the table pool.
    (local.get $j))

  ;; Answers requests $i, $i + 1, ... while they hit a 4 KiB entry of the 4-way IOTLB; returns the
  ;; index of the first that does not ($n when all did). Every request answered is one IOTLB hit
  ;; (the IOTLB comes first: the address width is not looked at). The permission of the last hit
  ;; is left in $lastPerm.
  (func $hitRun4 (param $didTag i32) (param $reqs i32) (param $writes i32)
    (param $i i32) (param $n i32) (param $results i32) (result i32)
    (local $iova i64) (local $write i32) (local $out i32) (local $base i32) (local $x i64)
    (local $q i32) (local $baseLo i32) (local $tlb i32) (local $setMask6 i64) (local $shift1 i64)
    (local.set $tlb (global.get $tlb))
    (local.set $setMask6 (global.get $setMask6))
    (local.set $shift1 (global.get $shift1))
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (br_if $exit ${untaggable})
        ;; The set: 4 ways x 4 rows x 4 bytes = 64 bytes (setBase with the shift folded in).
        (local.set $base
          (i32.add (local.get $tlb) (i32.wrap_i64 (i64.and (i64.shr_u (local.get $iova) (i64.const 6)) (local.get $setMask6)))))
        (local.set $x (i64.shr_u (local.get $iova) (local.get $shift1)))
        (local.set $q ${match4("$base", tagA("(local.get $x)", "(i32.const 1)"), tagB("(local.get $x)"))})
        (br_if $exit (i32.eqz (local.get $q)))
        (local.set $q (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $q)) (i32.const 2))))
        (local.set $baseLo (i32.load offset=${row(T.rowBaseLo, 4)} (local.get $q)))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        ;; The access needs R (bit 0) for a read, W (bit 1) for a write: 1 + write.
        (if (i32.and (local.get $baseLo) (i32.add (local.get $write) (i32.const 1)))
          (then
            (i32.store (local.get $out) ${hitLo("(local.get $baseLo)", pageMask(1))})
            (i32.store offset=4 (local.get $out) (i32.load offset=${row(T.rowBaseHi, 4)} (local.get $q))))
          (else
            (i32.store (local.get $out) (i32.sub (i32.const ${FR.READ}) (local.get $write)))
            (i32.store offset=4 (local.get $out) (i32.const ${LAYOUT.faultHi}))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (global.set $lastPerm (i32.and (local.get $baseLo) (i32.const 3)))
    (local.get $i))

${burstTlb4Func("$burstTlb4", 0)}
${burstTlb4Func("$burstTlb4Ahead", PREFETCH_TLB)}

  ;; No IOTLB, 4 levels: the unrolled walk alone (every request walks, as W1 of the benchmark and
  ;; a unit without an IOTLB do). The level a fault was found at and the leaf's permissions are
  ;; not kept per request; the last request goes through $burst again at the end (no IOTLB: it
  ;; changes nothing but the result block) so that the block describes it.
  ;; $widthMask: the IOVA bits at or above the address width ($widthBits < 64).
  (func $burstWalk4 (param $did i32) (param $root i64) (param $widthBits i32) (param $widthMask i64)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32) (result i32)
    ${WALK_LOCALS}
    (local $i i32) (local $iova i64) (local $out i32) (local $lvl i32) ${PF_LOCALS}
    ${WALK_SETUP}
    ${prefetchEntry(4, PREFETCH_WALK)}
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        ${prefetchStep(4, PREFETCH_WALK)}
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        ;; need = 1 + write: R (bit 0) for a read, W (bit 1) for a write.
        (local.set $need (i64.extend_i32_u (i32.add (i32.const 1) (i32.load8_u (i32.add (local.get $writes) (local.get $i))))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $lvl (i32.const 0))
        (i32.store (local.get $out)
          (block $fault (result i32)
            (block $leaf
              ;; No IOTLB: every request is a miss; the walk starts with the range check.
              (br_if $fault (i32.const ${FR.ADDR_BEYOND_MGAW}) (i64.ne (i64.and (local.get $iova) (local.get $widthMask)) (i64.const 0)))
              (drop)
              ;; The permission ANDed down the levels matters only for which bit is missing, so it
              ;; is tested at each level.
              ${walk(4, "$leaf", {
                pool: (c, L, top) =>
                  top
                    ? `(br_if $exit ${c})`
                    : `(if ${c} (then
                  (br_if $exit (i32.eqz ${unbacked}))
                  (local.set $lvl (i32.const ${L}))
                  (br $fault (i32.const ${FR.PAGING_ENTRY_INV}))))`,
                entry: (L) => `(local.set $lvl (i32.const ${L}))`,
                fault: (L, c) => `(br_if $fault (i32.sub (i32.const ${FR.READ + 1}) (i32.wrap_i64 (local.get $need))) ${c}) (drop)`,
                rsvd: (L, c) => `(br_if $fault (i32.const ${FR.PAGING_ENTRY_RSVD}) ${c}) (drop)`,
              })})
            ;; The leaf.
            (i64.store (local.get $out) ${leafHpa()})
            (i32.store8 (i32.add (local.get $info) (local.get $i)) (local.get $lvl))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (i32.store offset=4 (local.get $out) (i32.const ${LAYOUT.faultHi}))
        (i32.store8 (i32.add (local.get $info) (local.get $i)) (local.get $lvl))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ${PREFETCH_WALK ? "(global.set $sink (local.get $sink))" : ""}
    ;; Stopped early at request $i (its walk left the pool): the caller walks it, and $burst does
    ;; not describe it. Otherwise the last request again, through $burst, for the result block.
    (if (i32.and (i32.eq (local.get $i) (local.get $n)) (i32.gt_u (local.get $n) (i32.const 0)))
      (then
        (drop (call $burst (local.get $did) (local.get $root) (i32.const 4) (local.get $widthBits)
          (i32.add (local.get $reqs) (i32.shl (i32.sub (local.get $n) (i32.const 1)) (i32.const 3)))
          (i32.add (local.get $writes) (i32.sub (local.get $n) (i32.const 1)))
          (i32.const 1) (i32.add (local.get $blk) (i32.const ${B.lastResult})) (i32.add (local.get $blk) (i32.const ${B.reqInfo}))))))
    (local.get $i))

  ;; One request: a burst of one through the block's scratch request. The IOVA and the root
  ;; arrive as numbers JavaScript passes without allocating (i64 parameters would be BigInts):
  ;; the IOVA as uint32 halves, the root as a double. 0, a fault reason, or -1 (left the pool).
  (func (export "translate")
    (param $did i32) (param $root f64) (param $levels i32) (param $widthBits i32)
    (param $iovaHi i32) (param $iovaLo i32) (param $write i32) (result i32)
    (local $blk i32)
    (local.set $blk (global.get $blk))
    (i64.store offset=${B.reqIova} (local.get $blk)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $iovaHi)) (i64.const 32)) (i64.extend_i32_u (local.get $iovaLo))))
    (i32.store8 offset=${B.reqWrite} (local.get $blk) (local.get $write))
    (if (i32.eqz
          (call $burst (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $levels) (local.get $widthBits)
            (i32.add (local.get $blk) (i32.const ${B.reqIova})) (i32.add (local.get $blk) (i32.const ${B.reqWrite})) (i32.const 1)
            (i32.add (local.get $blk) (i32.const ${B.reqResult})) (i32.add (local.get $blk) (i32.const ${B.reqInfo}))))
      (then (return (i32.const -1))))
    (select (i32.load offset=${B.reqResult} (local.get $blk)) (i32.const 0)
      (i32.eq (i32.load offset=${B.reqResult + 4} (local.get $blk)) (i32.const ${LAYOUT.faultHi}))))

  ;; The IOTLB alone, for Iotlb (iotlb.ts): the probe path's lookup without a fill, and the fill
  ;; of a walk done in TypeScript. The same $lookup and $fill as the step's.
  (func (export "lookup") (param $did i32) (param $iovaHi i32) (param $iovaLo i32) (param $write i32) (result i32)
    (call $lookup (local.get $did)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $iovaHi)) (i64.const 32)) (i64.extend_i32_u (local.get $iovaLo)))
      (local.get $write) (i32.const 1)))

  (func (export "fill") (param $did i32) (param $iovaHi i32) (param $iovaLo i32) (param $level i32)
    (param $hpaHi i32) (param $hpaLo i32) (param $perm i32)
    (i64.store offset=${B.hpa} (global.get $blk)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $hpaHi)) (i64.const 32)) (i64.extend_i32_u (local.get $hpaLo))))
    (i32.store offset=${B.level} (global.get $blk) (local.get $level))
    (i32.store offset=${B.perm} (global.get $blk) (local.get $perm))
    (call $fill (local.get $did)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $iovaHi)) (i64.const 32)) (i64.extend_i32_u (local.get $iovaLo)))))

  ;; A burst (see $burst), through the loop of its configuration.
  (func (export "translateBatch")
    (param $did i32) (param $root f64) (param $levels i32) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (param $info i32) (result i32)
    (if (i32.lt_u (local.get $widthBits) (i32.const 64))
      (then
        (if (i32.and (i32.ne (global.get $tlb) (i32.const 0)) (i32.eq (global.get $ways) (i32.const 4)))
          (then
            (return (call $burstProbe4 (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $levels) (local.get $widthBits)
              (local.get $reqs) (local.get $writes) (local.get $n) (local.get $results) (local.get $info)))))
        (if (i32.and (i32.eqz (global.get $tlb)) (i32.eq (local.get $levels) (i32.const 4)))
          (then
            (return (call $burstWalk4 (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $widthBits)
              (i64.shl (i64.const -1) (i64.extend_i32_u (local.get $widthBits))) (local.get $reqs) (local.get $writes) (local.get $n) (local.get $results) (local.get $info)))))))
    (call $burst (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $levels) (local.get $widthBits)
      (local.get $reqs) (local.get $writes) (local.get $n) (local.get $results) (local.get $info)))
)
`;
}
