/*
 * smmuv3_walker.c - tight C reference of the SMMUv3 translation benchmark (SPEC-smmuv3.md): the
 * VT-d anchor's workloads (/work/shared/bench/SPEC.md) over a stage-1 AArch64 translation table,
 * 4 KiB granule, 4 levels (CD.T0SZ = 16, start level 0), the TLB and the event queue, in the order
 * of the project's SmmuV3Unit.translate() + StageWalker.walk() (src/sim/smmuv3/unit.ts, walk.ts).
 *
 * Bits (Arm IHI 0070 SMMUv3; Arm ARM DDI 0487 D8.3 "Translation table descriptor formats"):
 *   STE (IHI 0070 5.2): V, Config = 0b101 (stage 1 translate), S1ContextPtr, S1CDMax = 0.
 *   CD  (5.4): T0SZ 5:0 = 16, TG0 7:6 = 0 (4 KiB), EPD0 = 0, IPS 34:32 = 0b100 (44 bits),
 *       AA64, R = 1 (record faults), ASID 63:48, TTB0 51:4.
 *   Descriptors (D8.3.1/D8.3.2): bits 1:0 0b11 table (levels 0-2) / page (level 3), 0b01 block
 *       (levels 1-2 with 4 KiB), 47:12 address; leaf AP[1] bit 6 (EL0 access), AP[2] bit 7
 *       (read-only), AF bit 10; table APTable bits 62:61 (62: no writes below, 61: no EL0 below).
 *   Faults and event ids (IHI 0070 7.3): F_WALK_EABT 0x0B (external abort on a descriptor fetch),
 *       F_TRANSLATION 0x10, F_ADDR_SIZE 0x11, F_ACCESS 0x12, F_PERMISSION 0x13.
 *
 * Build: make smmuv3_walker    Run: ./smmuv3_walker [N] [REPS]  |  ./smmuv3_walker --dump
 */
#define MODEL_NAME "smmuv3"
#define N_FAULT_KEYS 5
#define FAULT_KEYS { 0x0b, 0x10, 0x11, 0x12, 0x13 }
#define FAULT_KEY_FMT "0x%02x"
#include "spec_common.h"

#define D_VALID 0x1ull
#define D_TABLE 0x2ull               /* bit 1: table (levels 0-2) / page (level 3); 0 = block */
#define D_ADDR 0x0000FFFFFFFFF000ull /* bits 47:12 */
#define AP1 (1ull << 6)              /* AP[1]: EL0 (unprivileged) access */
#define AP2 (1ull << 7)              /* AP[2]: read-only */
#define AF (1ull << 10)
#define APTABLE0 (1ull << 61)        /* no unprivileged access below */
#define APTABLE1 (1ull << 62)        /* no write access below */
/* Linux io-pgtable-arm leaf: AttrIndx 1 (4:2), AP_UNPRIV, SH inner (9:8), AF, nG */
#define LEAF_ATTRS (0x4ull | AP1 | 0x300ull | AF | 0x800ull)
#define SMMU_BAD_PTR 0x00000FFFFFFFF000ull
#define OAS_BITS 44
#define IAS_BITS 48

enum { F_WALK_EABT = 0x0b, F_TRANSLATION = 0x10, F_ADDR_SIZE = 0x11, F_ACCESS = 0x12, F_PERMISSION = 0x13 };
enum { P_R = 1, P_W = 2, P_X = 4 };

static uint64_t enc_table(int level, uint64_t page) { (void)level; return page | D_VALID | D_TABLE; }
/* the "SNP" page: output address bit 44 set, beyond CD.IPS = 44 bits -> F_ADDR_SIZE */
static uint64_t enc_leaf4k(uint64_t hpa, int ro, int badenc) { return hpa | D_VALID | D_TABLE | LEAF_ATTRS | (ro ? AP2 : 0) | (badenc ? 1ull << 44 : 0); }
static uint64_t enc_large(int level, uint64_t hpa) { (void)level; return hpa | D_VALID | LEAF_ATTRS; }
static uint64_t enc_ro_table(uint64_t e) { return e | APTABLE1; }
static uint64_t enc_bad(void) { return SMMU_BAD_PTR | D_VALID | D_TABLE; }
static int enc_present(uint64_t e) { return (int)(e & D_VALID); }
static uint64_t enc_next(uint64_t e) { return e & D_ADDR; }
static int enc_is_leaf(int level, uint64_t e) { return level > 1 && (e & 3) == 1; }

/* ---- the unit: the STE/CD as the configuration cache holds them (decoded once) ---------------- */
#define SID 0x100
typedef struct { uint64_t ttb; unsigned ias, oas, asid, vmid, record; } Config;
static Config cfg;

/* the event queue: 128 entries of 32 bytes (SMMU_IDR1.EVTQS, Linux ARM_SMMU_EVTQ_MAX_SZ_SHIFT 7) */
#define EVTQ_SHIFT 7
#define Q_OVF 0x80000000u
static uint64_t evtq[(1 << EVTQ_SHIFT) * 4];
static uint32_t evtq_prod, evtq_cons;

/* the TLB: 256 sets x 4 ways, round-robin per set; an entry is one page or block (its shift) */
typedef struct { uint64_t tag[4]; uint64_t val[4]; } __attribute__((aligned(64))) TlbSet;
static TlbSet tlb[256];
static uint8_t victim[256];

static void unit_reset(int with_tlb)
{
    (void)with_tlb;
    memset(tlb, 0, sizeof tlb);
    memset(victim, 0, sizeof victim);
    evtq_prod = evtq_cons = 0;
    cfg = (Config){ .ttb = TABLE_BASE, .ias = IAS_BITS, .oas = OAS_BITS, .asid = 1, .vmid = 0, .record = 1 };
}

/* IHI 0070 7.4: a full queue loses the record and toggles PROD.OVFLG */
static void record_event(uint32_t id, uint64_t iova, int is_w)
{
    const uint32_t mask = (1u << EVTQ_SHIFT) - 1, wrap = 1u << EVTQ_SHIFT;
    uint32_t prod = evtq_prod, cons = evtq_cons;
    if ((prod & mask) == (cons & mask) && (prod & wrap) != (cons & wrap)) {
        if ((prod & Q_OVF) == (cons & Q_OVF)) evtq_prod = prod ^ Q_OVF;
        return;
    }
    uint64_t *e = &evtq[(prod & mask) * 4];
    e[0] = id | ((uint64_t)SID << 32);
    e[1] = (uint64_t)(is_w ? 0 : 1u << 3) << 32;      /* RnW, CLASS = IN (0) */
    e[2] = iova;
    e[3] = 0;
    evtq_prod = (prod & Q_OVF) | (((prod & (mask | wrap)) + 1) & (mask | wrap));
}

/* the TLB key of a page or block: (ia >> shift) << 8 | shift, with ASID 1 (0 = invalid) */
static ALWAYS_INLINE int tlb_probe(uint64_t ia, unsigned shift, uint64_t *val)
{
    uint64_t vpn = ia >> shift;
    const TlbSet *s = &tlb[vpn & 255];
    uint64_t T = (vpn << 14) | (shift << 8) | cfg.asid;
    uint64_t m0 = -(uint64_t)(s->tag[0] == T), m1 = -(uint64_t)(s->tag[1] == T);
    uint64_t m2 = -(uint64_t)(s->tag[2] == T), m3 = -(uint64_t)(s->tag[3] == T);
    if (!(m0 | m1 | m2 | m3)) return 0;
    *val = (s->val[0] & m0) | (s->val[1] & m1) | (s->val[2] & m2) | (s->val[3] & m3);
    return 1;
}

/* returns 0 (output address in *out) or the event id */
static ALWAYS_INLINE uint32_t translate(uint64_t ia, int is_w, int with_tlb, uint64_t *out, uint64_t *hits)
{
    uint32_t id;
    unsigned need = is_w ? P_W : P_R;
    if (with_tlb) {
        uint64_t val;
        unsigned shift;
        if (tlb_probe(ia, shift = 12, &val) || tlb_probe(ia, shift = 21, &val) || tlb_probe(ia, shift = 30, &val)) {
            ++*hits;
            if (!(val & need)) { id = F_PERMISSION; goto fault; }
            uint64_t mask = (1ull << shift) - 1;
            *out = (val & ~mask) | (ia & mask);
            return 0;
        }
    }
    /* the input range of TTB0: bits at and above 64 - T0SZ are zero (IHI 0070 3.4.1) */
    if (ia >> cfg.ias) { id = F_TRANSLATION; goto fault; }
    uint64_t table = cfg.ttb, d = 0;
    uint64_t no_unpriv = 0, no_write = 0;
    const uint64_t out_limit = 1ull << cfg.oas;
    unsigned shift = 39;
    for (int level = 0; level <= 3; level++, shift -= 9) {
        uint64_t off = table - TABLE_BASE + 8 * ((ia >> shift) & 511);
        if (off >= g_table_bytes) { id = F_WALK_EABT; goto fault; }
        d = g_mem[off >> 3];
        if (!(d & D_VALID)) { id = F_TRANSLATION; goto fault; }
        if (level < 3 && (d & D_TABLE)) {
            uint64_t next = d & D_ADDR;
            if (next >= out_limit) { id = F_ADDR_SIZE; goto fault; }
            no_unpriv |= d & APTABLE0;
            no_write |= d & APTABLE1;
            table = next;
            continue;
        }
        /* a page (level 3, bit 1 set) or a block (levels 1-2 with the 4 KiB granule) */
        if (level == 3 ? !(d & D_TABLE) : level == 0) { id = F_TRANSLATION; goto fault; }
        uint64_t mask = (1ull << shift) - 1, oa = d & D_ADDR & ~mask;
        if (oa >= out_limit) { id = F_ADDR_SIZE; goto fault; }
        if (!(d & AF)) { id = F_ACCESS; goto fault; }
        /* unprivileged, data access: AP[1] and no APTable[0] to read, AP[2] = 0 and no APTable[1] to write */
        unsigned readable = (d & AP1) && !no_unpriv;
        unsigned perm = (readable ? P_R : 0) | (readable && !(d & AP2) && !no_write ? P_W : 0)
                      | (readable && !((d >> 54) & 1) ? P_X : 0);
        if (!(perm & need)) { id = F_PERMISSION; goto fault; }
        if (with_tlb) {
            uint64_t vpn = ia >> shift;
            unsigned set = (unsigned)(vpn & 255), w = victim[set];
            victim[set] = (uint8_t)((w + 1) & 3);
            tlb[set].tag[w] = (vpn << 14) | (shift << 8) | cfg.asid;
            tlb[set].val[w] = oa | perm;
        }
        *out = oa | (ia & mask);
        return 0;
    }
    __builtin_unreachable();
fault:
    if (cfg.record) record_event(id, ia, is_w);
    return id;
}

static void run(const uint64_t *req, size_t n, int with_tlb, Stats *st)
{
    uint32_t h1 = H1_INIT, h2 = H2_INIT;
    uint64_t ok = 0, hits = 0;
    memset(st->fault, 0, sizeof st->fault);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = req[i], iova = r & ~REQ_W, oa;
        uint32_t f = with_tlb ? translate(iova, (int)(r >> 63), 1, &oa, &hits)
                              : translate(iova, (int)(r >> 63), 0, &oa, &hits);
        if (!f) { ok++; FOLD((uint32_t)oa, (uint32_t)(oa >> 32)); }
        else    { st->fault[f]++; FOLD(f, 0xFFFFFFFFu); }
    }
    st->ok = ok; st->hits = hits; st->misses = with_tlb ? n - hits : 0;
    st->h1 = h1; st->h2 = h2;
}
