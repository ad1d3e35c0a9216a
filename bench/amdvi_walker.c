/*
 * amdvi_walker.c - tight C reference of the AMD-Vi translation benchmark (SPEC-amdvi.md): the
 * VT-d anchor's workloads (/work/shared/bench/SPEC.md) over AMD-Vi v1 host page tables (4 levels,
 * DTE Mode 4), the IOTLB and the event log, in the order of the project's AmdViUnit.translate()
 * (src/sim/amdvi/unit.ts), which follows QEMU hw/i386/amd_iommu.c amdvi_page_walk/fetch_pte.
 *
 * Bits (AMD I/O Virtualization Technology (IOMMU) Specification 48882 rev 3.x):
 *   DTE  (2.2.2.1, Table "Device Table Entry"): data[0] bit 0 V, 1 TV, 11:9 Mode,
 *        51:12 Page Table Root Pointer, 61 IR, 62 IW; data[1] 15:0 DomainID, bit 34 SA.
 *   PTE/PDE (2.2.3, Figures "I/O Page Translation Entry" / "Page Directory Entry"): bit 0 PR,
 *        11:9 Next Level (0 leaf, 7 large page with the size in the address), 51:12 address,
 *        60 FC, 61 IR, 62 IW.
 *   Event log entry (2.5, IO_PAGE_FAULT / PAGE_TAB_HARDWARE_ERROR): event[1] 31:28 EventCode,
 *        27:16 flags (PR 0x10, RW 0x20, PE 0x40, RZ 0x80; Linux amd_iommu_types.h EVENT_FLAG_*).
 *
 * Build: make amdvi_walker    Run: ./amdvi_walker [N] [REPS]  |  ./amdvi_walker --dump
 */
#define MODEL_NAME "amdvi"
/* The fault word: event[1] >> 16 = EventCode << 12 | flags (SPEC-amdvi.md section 6). */
#define N_FAULT_KEYS 8
#define FAULT_KEYS { 0x2000, 0x2020, 0x2050, 0x2070, 0x2090, 0x20b0, 0x4000, 0x4020 }
#define FAULT_KEY_FMT "0x%04x"
#include "spec_common.h"

#define PR 0x1ull
#define NL_SHIFT 9
#define NL_LARGE 7
#define ADDR_MASK 0x000FFFFFFFFFF000ull   /* bits 51:12 */
#define FC (1ull << 60)
#define IR (1ull << 61)
#define IW (1ull << 62)
#define AMD_BAD_PTR 0x00007FFFFFFFF000ull

enum { EV_IO_PAGE_FAULT = 0x2, EV_PAGE_TAB_HW_ERR = 0x4 };
enum { F_PR = 0x010, F_RW = 0x020, F_PE = 0x040, F_RZ = 0x080 };

/* ---- the encoding (Linux amd/io_pgtable.c: PM_LEVEL_PDE for tables; iommu_v1_map_pages leaves) */
static uint64_t enc_table(int level, uint64_t page) { return page | ((uint64_t)(level - 1) << NL_SHIFT) | PR | IR | IW; }
/* the "SNP" page: Next Level 1 at level 1, an invalid level encoding (PR | RZ) */
static uint64_t enc_leaf4k(uint64_t hpa, int ro, int badenc) { return hpa | PR | FC | IR | (ro ? 0 : IW) | (badenc ? 1ull << NL_SHIFT : 0); }
static uint64_t enc_large(int level, uint64_t hpa) { (void)level; return hpa | PR | FC | IR | IW; }
static uint64_t enc_ro_table(uint64_t e) { return e & ~IW; }
static uint64_t enc_bad(void) { return AMD_BAD_PTR | (1ull << NL_SHIFT) | PR | IR | IW; }
static int enc_present(uint64_t e) { return (int)(e & PR); }
static uint64_t enc_next(uint64_t e) { return e & ADDR_MASK; }
static int enc_is_leaf(int level, uint64_t e) { return level > 1 && ((e >> NL_SHIFT) & 7) == 0; }

/* ---- the unit: one DTE (device 01:00.0, DomainID 1, Mode 4, root = TABLE_BASE, IR = IW = 1) -- */
#define DEVID 0x100
static uint64_t devtab[(DEVID + 1) * 4];
/* the event log: 512 entries of 16 bytes (Linux EVT_BUFFER_SIZE 8192), head stays at 0 */
#define EVT_ENTRIES 512
static uint64_t evtlog[EVT_ENTRIES * 2];
static unsigned evt_tail, evt_overflow;

/* the IOTLB: 256 sets x 4 ways, one entry per 4 KiB frame tagged by DomainID (FIFO victim) */
typedef struct { uint64_t tag[4]; uint64_t val[4]; } __attribute__((aligned(64))) TlbSet;
static TlbSet tlb[256];
static uint8_t victim[256];

static void unit_reset(int with_tlb)
{
    (void)with_tlb;
    memset(tlb, 0, sizeof tlb);
    memset(victim, 0, sizeof victim);
    evt_tail = 0;
    evt_overflow = 0;
    devtab[DEVID * 4] = TABLE_BASE | (4ull << 9) | IR | IW | 0x3;   /* V | TV, Mode 4 */
    devtab[DEVID * 4 + 1] = 1;                                     /* DomainID 1 */
}

/* 2.5: write the event at the tail unless the log is full (EventOverflow) */
static void log_event(uint32_t e1, uint64_t addr)
{
    unsigned next = (evt_tail + 1) & (EVT_ENTRIES - 1);
    if (evt_overflow || next == 0) { evt_overflow = 1; return; }
    evtlog[evt_tail * 2] = DEVID | ((uint64_t)e1 << 32);
    evtlog[evt_tail * 2 + 1] = addr;
    evt_tail = next;
}

/* returns 0 (hpa in *out) or the fault word EventCode << 12 | flags */
static ALWAYS_INLINE uint32_t translate(uint64_t iova, int is_w, int with_tlb, uint64_t *out, uint64_t *hits)
{
    uint32_t flags = is_w ? F_RW : 0, code;
    uint64_t eaddr = iova;
    /* interrupt requests: writes to FEE0_0000h-FEEF_FFFFh are not translated (2.2.5.1) */
    if (is_w && iova >= 0xFEE00000ull && iova <= 0xFEEFFFFFull) { *out = iova; return 0; }
    const uint64_t *dte = &devtab[DEVID * 4];
    uint64_t d0 = dte[0], d1 = dte[1];
    unsigned did = (unsigned)(d1 & 0xffff);
    if (!(d0 & 1) || !(d0 & 2)) { *out = iova; return 0; }          /* V = 0 / TV = 0: untranslated */
    unsigned mode = (unsigned)(d0 >> 9) & 7;
    if ((d0 & 0x7c) || mode == 7) { flags |= F_RZ; code = 0x1; goto fault; }   /* ILLEGAL_DEV_TABLE_ENTRY */
    uint64_t perm = (d0 >> 61) & 3, need = is_w ? 2 : 1;
    if (mode == 0) {
        if (!(perm & need)) { flags |= F_PR | F_PE; code = EV_IO_PAGE_FAULT; goto fault; }
        *out = iova; return 0;
    }
    uint64_t vpn = iova >> 12, T = (vpn << 16) | (did + 1);
    TlbSet *s = &tlb[vpn & 255];
    if (with_tlb) {
        uint64_t m0 = -(uint64_t)(s->tag[0] == T), m1 = -(uint64_t)(s->tag[1] == T);
        uint64_t m2 = -(uint64_t)(s->tag[2] == T), m3 = -(uint64_t)(s->tag[3] == T);
        if (m0 | m1 | m2 | m3) {
            uint64_t val = (s->val[0] & m0) | (s->val[1] & m1) | (s->val[2] & m2) | (s->val[3] & m3);
            ++*hits;
            if (!(val & need)) { flags |= F_PR | F_PE; code = EV_IO_PAGE_FAULT; goto fault; }
            *out = (val & ~0xFFFull) | (iova & 0xFFF);
            return 0;
        }
    }
    /* the IOVA bits above Mode levels must be zero */
    if (mode < 6 && (iova >> (12 + 9 * mode))) { code = EV_IO_PAGE_FAULT; goto fault; }
    uint64_t table = d0 & ADDR_MASK;
    for (unsigned level = mode;;) {
        uint64_t off = table - TABLE_BASE + 8 * lvl_idx(iova, (int)level);
        if (off >= g_table_bytes) { eaddr = table + 8 * lvl_idx(iova, (int)level); code = EV_PAGE_TAB_HW_ERR; goto fault; }
        uint64_t e = g_mem[off >> 3];
        if (!(e & PR)) { code = EV_IO_PAGE_FAULT; goto fault; }
        perm &= (e >> 61) & 3;
        unsigned next = (unsigned)(e >> NL_SHIFT) & 7;
        uint64_t addr = e & ADDR_MASK;
        if (next == 0 || next == NL_LARGE) {
            unsigned shift = 12 + 9 * (level - 1);
            if (next == NL_LARGE) {
                /* the size is the first zero address bit from bit 12 up (PTE_PAGE_SIZE) */
                shift = 13 + (unsigned)__builtin_ctzll(~(addr >> 12) | (1ull << 40));
                if (shift > 12 + 9 * level) { flags |= F_PR | F_RZ; code = EV_IO_PAGE_FAULT; goto fault; }
            }
            if (!(perm & need)) { flags |= F_PR | F_PE; code = EV_IO_PAGE_FAULT; goto fault; }
            uint64_t mask = (1ull << shift) - 1, hpa = (addr & ~mask) | (iova & mask);
            if (with_tlb) {
                unsigned set = (unsigned)(vpn & 255), w = victim[set];
                victim[set] = (uint8_t)((w + 1) & 3);
                s->tag[w] = T;
                s->val[w] = (hpa & ~0xFFFull) | perm;
            }
            *out = hpa;
            return 0;
        }
        if (next >= level) { flags |= F_PR | F_RZ; code = EV_IO_PAGE_FAULT; goto fault; }
        for (unsigned l = level - 1; l > next; l--)        /* skipped levels: their bits are zero */
            if (lvl_idx(iova, (int)l)) { code = EV_IO_PAGE_FAULT; goto fault; }
        table = addr;
        level = next;
    }
fault:
    log_event((code << 28) | (flags << 16) | did, eaddr);
    return (code << 12) | flags;
}

static void run(const uint64_t *req, size_t n, int with_tlb, Stats *st)
{
    uint32_t h1 = H1_INIT, h2 = H2_INIT;
    uint64_t ok = 0, hits = 0;
    memset(st->fault, 0, sizeof st->fault);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = req[i], iova = r & ~REQ_W, hpa;
        uint32_t f = with_tlb ? translate(iova, (int)(r >> 63), 1, &hpa, &hits)
                              : translate(iova, (int)(r >> 63), 0, &hpa, &hits);
        if (!f) { ok++; FOLD((uint32_t)hpa, (uint32_t)(hpa >> 32)); }
        else    { st->fault[f]++; FOLD(f, 0xFFFFFFFFu); }
    }
    st->ok = ok; st->hits = hits; st->misses = with_tlb ? n - hits : 0;
    st->h1 = h1; st->h2 = h2;
}
