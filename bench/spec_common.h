/*
 * spec_common.h - what the AMD-Vi and SMMUv3 walkers share with the VT-d anchor
 * (/work/shared/bench/anchor/walker.c, SPEC.md): the PRNG (SPEC 2), generation (SPEC 4) with
 * the model's entry encoding, the request streams (SPEC 5), the result fold (SPEC 8), timing and
 * the JSON line (SPEC 10), and --dump (the checkpoints of SPEC-amdvi.md / SPEC-smmuv3.md section 9).
 *
 * The including walker defines, before `#include "spec_common.h"`:
 *   MODEL_NAME                 "amdvi" / "smmuv3" (the JSON's impl is "c-" MODEL_NAME)
 *   N_FAULT_KEYS, FAULT_KEYS   the fault words counted in the JSON, FAULT_KEY_FMT their format
 *   BAD_PTR                    SPEC 4.5's pointer outside table memory
 * and after it the functions declared below (encodings, unit reset, translate).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define TABLE_BASE 0x10000000ull

/* SPEC 4 sizes */
#define M_4K 262144
#define N_1G 8
#define N_2M 64
#define N_BAD 64
#define N_HOT 512
#define N_WS 65536
#define MAX_PAGES (1 + 2 + 512 + (N_2M + N_BAD) + M_4K)

/* ---- the model's encoding (defined by the walker) ------------------------------------------ */
static uint64_t enc_table(int level, uint64_t page);            /* entry at `level` -> table page  */
static uint64_t enc_leaf4k(uint64_t hpa, int ro, int bad);      /* level-1 leaf                    */
static uint64_t enc_large(int level, uint64_t hpa);             /* 2 MiB (2) / 1 GiB (3) leaf      */
static uint64_t enc_ro_table(uint64_t e);                       /* SPEC 4.2 "read-only PDE"        */
static uint64_t enc_bad(void);                                  /* SPEC 4.5 level-2 entry          */
static int enc_present(uint64_t e);
static uint64_t enc_next(uint64_t e);                           /* next-table address              */
static int enc_is_leaf(int level, uint64_t e);                  /* a large page above level 1      */

/* ---- SPEC 2: splitmix64 -------------------------------------------------------------------- */
static uint64_t sm_state;
static inline uint64_t next64(void)
{
    uint64_t z = (sm_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- simulated physical memory holding the tables (SPEC 3) ---------------------------------- */
static uint64_t *mem;
static uint64_t mem_pages;
static const uint64_t *g_mem;
static uint64_t g_table_bytes;

static uint64_t alloc_table(void)
{
    if (mem_pages == MAX_PAGES) { fprintf(stderr, "table memory full\n"); exit(1); }
    return TABLE_BASE + 4096 * mem_pages++;
}
static inline unsigned lvl_idx(uint64_t iova, int level)
{
    return (unsigned)(iova >> (12 + 9 * (level - 1))) & 511;
}
static inline uint64_t *ent(uint64_t table, unsigned idx)
{
    return &mem[(table - TABLE_BASE) / 8 + idx];
}
/* SPEC 4.1 peek in the model's encoding: the entry at `level`, or a large page above it. */
static uint64_t peek(uint64_t iova, int level)
{
    uint64_t t = TABLE_BASE;
    for (int l = 4; l > level; l--) {
        uint64_t e = *ent(t, lvl_idx(iova, l));
        if (!enc_present(e)) return 0;
        if (enc_is_leaf(l, e)) return e;
        t = enc_next(e);
    }
    return *ent(t, lvl_idx(iova, level));
}
/* SPEC 4.1 install: descend, allocating missing tables top-down. */
static uint64_t *slot_for(uint64_t iova, int level)
{
    uint64_t t = TABLE_BASE;
    for (int l = 4; l > level; l--) {
        uint64_t *e = ent(t, lvl_idx(iova, l));
        if (!enc_present(*e)) *e = enc_table(l, alloc_table());
        t = enc_next(*e);
    }
    return ent(t, lvl_idx(iova, level));
}

static uint64_t map4k[M_4K], g1[N_1G], sp2m[N_2M], bad[N_BAD], hot[N_HOT], ws[N_WS];

static uint64_t draw_unmapped_page(void)
{
    uint64_t p;
    do p = (next64() >> 37) << 12; while (peek(p, 1));
    return p;
}

static void gen_tables(void)                   /* SPEC 4, in order */
{
    mem = calloc((size_t)MAX_PAGES * 512, sizeof(uint64_t));
    if (!mem) { perror("calloc"); exit(1); }
    mem_pages = 0;
    sm_state = 42;
    alloc_table();
    for (uint32_t j = 0; j < M_4K; j++) {      /* 4.2 */
        uint64_t iova = draw_unmapped_page();
        uint64_t y = next64();
        *slot_for(iova, 1) = enc_leaf4k((y >> 36) << 12, (y & 7) == 0, (j & 1023) == 1023);
        if ((j & 1023) == 511) { uint64_t *e = slot_for(iova, 2); *e = enc_ro_table(*e); }
        map4k[j] = iova;
    }
    for (int k = 0; k < N_1G; k++) {           /* 4.3 */
        uint64_t iova;
        do iova = (1ull << 39) + ((next64() >> 55) << 30); while (peek(iova, 3));
        uint64_t y = next64();
        *slot_for(iova, 3) = enc_large(3, (y >> 54) << 30);
        g1[k] = iova;
    }
    for (int k = 0; k < N_2M; k++) {           /* 4.4 */
        uint64_t iova;
        do iova = (1ull << 39) + ((next64() >> 46) << 21); while (peek(iova, 2));
        uint64_t y = next64();
        *slot_for(iova, 2) = enc_large(2, (y >> 45) << 21);
        sp2m[k] = iova;
    }
    for (int k = 0; k < N_BAD; k++) {          /* 4.5 */
        uint64_t iova;
        do iova = (1ull << 39) + ((next64() >> 46) << 21); while (peek(iova, 2));
        *slot_for(iova, 2) = enc_bad();
        bad[k] = iova;
    }
    for (int k = 0; k < N_HOT; k++) hot[k] = map4k[next64() >> 46];   /* 4.6 */
    for (int i = 0; i < N_WS; i++) {           /* 4.7 */
        uint64_t x = next64();
        unsigned sel = (unsigned)(x >> 58);
        if (sel < 56)      ws[i] = map4k[x & 0x3FFFF];
        else if (sel < 60) ws[i] = sp2m[x & 63] + (((x >> 6) & 0x1FF) << 12);
        else if (sel < 62) ws[i] = g1[x & 7] + (((x >> 3) & 0x3FFFF) << 12);
        else if (sel == 62) ws[i] = draw_unmapped_page();
        else               ws[i] = bad[x & 63] + (((x >> 6) & 0x1FF) << 12);
    }
    g_mem = mem;
    g_table_bytes = mem_pages * 4096;
}

/* ---- SPEC 5: request streams.  req = iova | is_write << 63 ---------------------------------- */
#define REQ_W ((uint64_t)1 << 63)
static void gen_w1(uint64_t *req, size_t n)
{
    sm_state = 43;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = next64(), b = next64(), iova;
        unsigned sel = (unsigned)((a >> 32) % 100);
        if (sel < 90)       iova = map4k[a & 0x3FFFF] + ((b >> 2) & 0xFFF);
        else if (sel < 94)  iova = sp2m[a & 63] + ((b >> 2) & 0x1FFFFF);
        else if (sel == 94) iova = g1[a & 7] + ((b >> 2) & 0x3FFFFFFF);
        else if (sel < 98) { do iova = next64() >> 25; while (peek(iova & ~0xFFFull, 1)); }
        else if (sel == 98) iova = bad[a & 63] + ((b >> 2) & 0x1FFFFF);
        else                iova = next64() >> 15;
        req[i] = iova | ((b & 3) == 0 ? REQ_W : 0);
    }
}
static void gen_w2(uint64_t *req, size_t n)
{
    sm_state = 44;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = next64(), b = next64();
        req[i] = (hot[a >> 55] + ((b >> 2) & 0xFFF)) | ((b & 3) == 0 ? REQ_W : 0);
    }
}
static void gen_w3(uint64_t *req, size_t n)
{
    sm_state = 45;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = next64(), b = next64();
        double u = (double)(a >> 11) * 0x1p-53;
        double p = u * u;
        p = p * u;
        p = p * p;
        uint32_t idx = (uint32_t)(p * 65536.0);
        req[i] = (ws[idx] + ((b >> 2) & 0xFFF)) | ((b & 3) == 0 ? REQ_W : 0);
    }
}

/* ---- SPEC 8 ---------------------------------------------------------------------------------- */
#define H1_INIT 0x811C9DC5u
#define H2_INIT 0x6A09E667u
#define FOLD(w0, w1) do { \
    h1 = (h1 ^ (w0)) * 0x01000193u; h1 = (h1 ^ (w1)) * 0x01000193u; \
    h2 = (h2 ^ (w1)) * 0x9E3779B1u; h2 = (h2 ^ (w0)) * 0x9E3779B1u; } while (0)

/* Fault words index `fault[]` directly: 16 bits. */
typedef struct { uint64_t ok, hits, misses, fault[1 << 16]; uint32_t h1, h2; } Stats;

/* ---- the walker's unit (defined by the walker) ------------------------------------------------ */
static void unit_reset(int with_tlb);           /* empty caches, event log; untimed */
static void run(const uint64_t *req, size_t n, int with_tlb, Stats *st);

/* ---- SPEC 10 ---------------------------------------------------------------------------------- */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const unsigned FAULT_KEY_LIST[N_FAULT_KEYS] = FAULT_KEYS;

static void print_workload(const char *w, const Stats *st, const double *mtps, int reps, int with_tlb)
{
    double best = 0;
    for (int r = 0; r < reps; r++) if (mtps[r] > best) best = mtps[r];
    printf("\"%s_mtps\":%.3f,\"%s_runs\":[", w, best, w);
    for (int r = 0; r < reps; r++) printf("%s%.3f", r ? "," : "", mtps[r]);
    printf("],\"%s_ok\":%" PRIu64 ",\"%s_faults\":{", w, st->ok, w);
    for (int k = 0; k < N_FAULT_KEYS; k++)
        printf("%s\"" FAULT_KEY_FMT "\":%" PRIu64, k ? "," : "", FAULT_KEY_LIST[k], st->fault[FAULT_KEY_LIST[k]]);
    printf("},\"%s_hash\":\"0x%08x%08x\"", w, st->h2, st->h1);
    if (with_tlb) printf(",\"%s_hits\":%" PRIu64 ",\"%s_misses\":%" PRIu64, w, st->hits, w, st->misses);
}

static void dump(void)
{
    gen_tables();
    printf("table_pages %" PRIu64 "\n", mem_pages);
    printf("root[0] 0x%016" PRIx64 "\n", mem[0]);
    printf("pte(map4k[0]) 0x%016" PRIx64 "\n", peek(map4k[0], 1));
    printf("pte(map4k[1023]) 0x%016" PRIx64 "\n", peek(map4k[1023], 1));
    printf("pde(map4k[511]) 0x%016" PRIx64 "\n", peek(map4k[511], 2));
    printf("g1[0] 0x%" PRIx64 " pte 0x%016" PRIx64 "\n", g1[0], peek(g1[0], 3));
    printf("sp2m[0] 0x%" PRIx64 " pte 0x%016" PRIx64 "\n", sp2m[0], peek(sp2m[0], 2));
    printf("bad[0] 0x%" PRIx64 " pde 0x%016" PRIx64 "\n", bad[0], peek(bad[0], 2));
    printf("hot[0] 0x%" PRIx64 " hot[511] 0x%" PRIx64 "\n", hot[0], hot[N_HOT - 1]);
    printf("ws[0] 0x%" PRIx64 " ws[65535] 0x%" PRIx64 "\n", ws[0], ws[N_WS - 1]);
    uint64_t req[4];
    void (*gens[3])(uint64_t *, size_t) = { gen_w1, gen_w2, gen_w3 };
    for (int w = 0; w < 3; w++) {
        gens[w](req, 4);
        printf("w%d req[0..3]:", w + 1);
        for (int i = 0; i < 4; i++)
            printf(" 0x%" PRIx64 "%s", req[i] & ~REQ_W, (req[i] & REQ_W) ? "W" : "R");
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--dump")) { dump(); return 0; }
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 10000000;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    if (n == 0 || reps < 1 || reps > 16) { fprintf(stderr, "usage: %s [N] [REPS]\n", argv[0]); return 2; }
    gen_tables();
    uint64_t *req = malloc(n * sizeof *req);
    static Stats st, first;
    if (!req) { perror("malloc"); return 1; }
    void (*gens[3])(uint64_t *, size_t) = { gen_w1, gen_w2, gen_w3 };
    const char *names[3] = { "w1", "w2", "w3" };
    printf("{\"impl\":\"c-%s\",\"n\":%zu,\"reps\":%d,\"table_pages\":%" PRIu64, MODEL_NAME, n, reps, mem_pages);
    for (int w = 0; w < 3; w++) {
        gens[w](req, n);
        double mtps[16];
        for (int r = 0; r < reps; r++) {
            unit_reset(w != 0);
            double t0 = now_s();
            run(req, n, w != 0, &st);
            double t1 = now_s();
            mtps[r] = (double)n / (t1 - t0) / 1e6;
            if (r == 0) first = st;
            else if (memcmp(&first, &st, sizeof st)) { fprintf(stderr, "non-deterministic %s\n", names[w]); return 1; }
        }
        printf(",");
        print_workload(names[w], &st, mtps, reps, w != 0);
        fflush(stdout);
    }
    printf("}\n");
    free(req);
    free(mem);
    return 0;
}
