/*
 * The C ABI, compiled as C (as leveldb's db/c_test.c): every function of
 * sculpt.h used the way QEMU will use it.  Exits non-zero on the first
 * failed check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sculpt/sculpt.h"

static int failures;

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,   \
                    __LINE__, #cond);                                 \
            failures++;                                               \
        }                                                             \
    } while (0)

/*
 * Call must have failed with a message containing @want; frees the message
 * and resets *@errp to NULL.  (A macro would evaluate the call first; a
 * function argument list does not order the call before reading err.)
 */
static void expect_err(int rc, char **errp, const char *want)
{
    CHECK(rc != 0);
    CHECK(*errp != NULL);
    if (*errp) {
        if (!strstr(*errp, want)) {
            fprintf(stderr, "error '%s' lacks '%s'\n", *errp, want);
            failures++;
        }
        free(*errp);
        *errp = NULL;
    }
}

static void test_config(void)
{
    sculpt_core_config_t cfg = { 1ULL << 30, 96 * 1024, 1 };
    char *err = NULL;

    {
        int rc_ = sculpt_core_config_check(&cfg, &err);
        expect_err(rc_, &err, "block-size 96K is not a power of two; try 64K or 128K");
    }
    cfg.block_size = 2ULL << 20;
    cfg.guest_bytes = 0;
    {
        int rc_ = sculpt_core_config_check(&cfg, &err);
        expect_err(rc_, &err, "is 0");
    }
    cfg.guest_bytes = 3ULL << 20;
    {
        int rc_ = sculpt_core_config_check(&cfg, &err);
        expect_err(rc_, &err, "not a multiple");
    }
    cfg.guest_bytes = 1ULL << 30;
    CHECK(sculpt_core_config_check(&cfg, &err) == 0);
    CHECK(err == NULL);
    CHECK(sculpt_core_config_check(&cfg, NULL) == 0);
    cfg.block_size = 1;
    CHECK(sculpt_core_config_check(&cfg, NULL) == -1); /* errptr may be NULL */
    CHECK(sculpt_core_new(&cfg, NULL) == NULL);
    CHECK(sculpt_core_abi_version() == SCULPT_CORE_ABI_VERSION);
}

static void run_interval(sculpt_core_t *c, uint64_t *now, const uint32_t *counts,
                         uint64_t n)
{
    char *err = NULL;
    sculpt_vm_signals_t sig;

    memset(&sig, 0, sizeof(sig));
    sig.vcpu_busy_ppm = 500000;
    sig.block_io_bytes = 4096;
    CHECK(sculpt_core_begin_interval(c, *now, &err) == 0);
    CHECK(sculpt_core_record_access(c, counts, NULL, n, &err) == 0);
    CHECK(sculpt_core_record_signals(c, &sig, &err) == 0);
    *now += 1000000000ULL;
    CHECK(sculpt_core_end_interval(c, *now, &err) == 0);
    CHECK(err == NULL);
}

static void test_core(void)
{
    enum { N = 64 };
    sculpt_core_config_t cfg = { N * 65536ULL, 65536, 7 };
    char *err = NULL;
    sculpt_core_t *c = sculpt_core_new(&cfg, &err);
    uint32_t counts[N];
    uint32_t dirty[N];
    uint8_t sampled[N];
    uint8_t classes[N];
    float probs[N];
    sculpt_range_t ranges[4];
    sculpt_move_t moves[16];
    sculpt_budget_t budget;
    sculpt_core_stats_t st;
    sculpt_tier tier;
    uint64_t slot, now = 0, i;
    int64_t nmoves;
    uint8_t *blob = NULL;
    size_t len = 0;

    CHECK(c != NULL);
    CHECK(err == NULL);
    CHECK(sculpt_core_block_count(c) == N);
    CHECK(sculpt_core_block_size(c) == 65536);
    CHECK(sculpt_core_tier_bytes(c, SCULPT_TIER_BASE) == N * 65536ULL);
    CHECK(sculpt_core_tier_bytes(c, SCULPT_TIER_HOT) == 0);
    CHECK(sculpt_core_tier_bytes(c, (sculpt_tier)7) == 0);
    CHECK(sculpt_core_mapping_count(c) == 1);
    CHECK(strcmp(sculpt_core_policy(c), "guarded") == 0);

    /* Protocol errors. */
    memset(counts, 0, sizeof(counts));
    {
        int rc_ = sculpt_core_record_access(c, counts, NULL, N, &err);
        expect_err(rc_, &err, "no open interval");
    }
    CHECK(sculpt_core_begin_interval(c, 0, &err) == 0);
    {
        int rc_ = sculpt_core_record_access(c, counts, NULL, N - 1, &err);
        expect_err(rc_, &err, "array has 63 blocks");
    }
    CHECK(sculpt_core_end_interval(c, 1, &err) == 0);

    {
        int rc_ = sculpt_core_set_policy(c, "lru", &err);
        expect_err(rc_, &err, "valid:");
    }
    CHECK(sculpt_core_set_policy(c, "recency", &err) == 0);
    CHECK(strcmp(sculpt_core_policy(c), "recency") == 0);
    {
        int rc_ = sculpt_core_set_fast_capacity(c, N + 1, &err);
        expect_err(rc_, &err, "more than the guest's 64");
    }
    CHECK(sculpt_core_set_fast_capacity(c, N / 4, &err) == 0);
    CHECK(sculpt_core_set_fast_capacity(c, 0, &err) == 0);

    /* Blocks 8..15 touched (sampled), 20 dirty, 40..47 unwatched. */
    for (i = 0; i < N; i++) {
        counts[i] = (i >= 8 && i < 16) ? 3 : 0;
        dirty[i] = i == 20 ? 1 : 0;
        sampled[i] = !(i >= 40 && i < 48);
    }
    CHECK(sculpt_core_begin_interval(c, 10, &err) == 0);
    CHECK(sculpt_core_record_access(c, counts, sampled, N, &err) == 0);
    CHECK(sculpt_core_record_dirty(c, dirty, N, &err) == 0);
    CHECK(sculpt_core_end_interval(c, 20, &err) == 0);
    now = 20;

    CHECK(sculpt_core_predictions(c, classes, probs, N, &err) == 0);
    CHECK(classes[8] == SCULPT_CLASS_HOT);
    CHECK(classes[20] == SCULPT_CLASS_HOT);
    CHECK(classes[0] == SCULPT_CLASS_COLD);
    CHECK(probs[8] > probs[0]);
    CHECK(sculpt_core_predictions(c, NULL, NULL, N, &err) == 0);
    CHECK(sculpt_core_class_count(c, SCULPT_CLASS_HOT) == 9);
    CHECK(sculpt_core_hottest_ranges(c, ranges, 4) == 2);
    CHECK(ranges[0].nblocks + ranges[1].nblocks == 9);
    CHECK(sculpt_core_hottest_ranges(c, NULL, 0) == 0);

    /* Block map. */
    CHECK(sculpt_core_tier_set_capacity(c, SCULPT_TIER_HOT, 16, &err) == 0);
    CHECK(sculpt_core_tier_set_capacity(c, SCULPT_TIER_COLD, N, &err) == 0);
    CHECK(sculpt_core_tier_capacity(c, SCULPT_TIER_HOT) == 16);
    {
        int rc_ = sculpt_core_tier_set_capacity(c, SCULPT_TIER_BASE, 1, &err);
        expect_err(rc_, &err, "base tier");
    }
    CHECK(sculpt_core_block_set(c, 60, SCULPT_TIER_COLD, 5, &err) == 0);
    CHECK(sculpt_core_block_get(c, 60, &tier, &slot, &err) == 0);
    CHECK(tier == SCULPT_TIER_COLD && slot == 5);
    CHECK(sculpt_core_mapping_count(c) == 3);
    {
        int rc_ = sculpt_core_block_set(c, 61, SCULPT_TIER_COLD, 5, &err);
        expect_err(rc_, &err, "held by block 60");
    }
    {
        int rc_ = sculpt_core_block_get(c, N, &tier, &slot, &err);
        expect_err(rc_, &err, "out of range");
    }
    CHECK(sculpt_core_block_set(c, 60, SCULPT_TIER_BASE, 60, &err) == 0);
    CHECK(sculpt_core_mapping_count(c) == 1);

    /* Planner: 9 hot blocks into a 16-slot hot zone; fail one move. */
    memset(&budget, 0, sizeof(budget));
    budget.fast_bytes = UINT64_MAX;
    budget.hot_zone_bytes = 16 * 65536ULL;
    budget.move_bytes_per_sec = 1ULL << 30;
    budget.interval_ns = 1000000000ULL;
    nmoves = sculpt_core_plan(c, &budget, moves, 16, &err);
    CHECK(nmoves == 2);
    CHECK(err == NULL);
    for (i = 0; i < (uint64_t)nmoves; i++) {
        CHECK(moves[i].from == SCULPT_TIER_BASE);
        CHECK(moves[i].to == SCULPT_TIER_HOT);
        CHECK(moves[i].kind == SCULPT_MOVE_PROMOTE);
    }
    CHECK(sculpt_core_move_done(c, moves[0].id, &err) == 0);
    CHECK(sculpt_core_move_failed(c, moves[1].id, &err) == 0);
    {
        int rc_ = sculpt_core_move_done(c, moves[1].id, &err);
        expect_err(rc_, &err, "not pending");
    }
    CHECK(sculpt_core_tier_bytes(c, SCULPT_TIER_HOT) ==
          moves[0].nblocks * 65536ULL);
    CHECK(sculpt_core_block_get(c, moves[1].block_first, &tier, &slot,
                                &err) == 0);
    CHECK(tier == SCULPT_TIER_BASE && slot == moves[1].block_first);
    {
        int rc_ = (int)sculpt_core_plan(c, NULL, moves, 16, &err);
        expect_err(rc_, &err, "NULL");
    }

    sculpt_core_get_stats(c, &st);
    CHECK(st.intervals == 2);
    CHECK(st.moves_planned == 2 && st.moves_done == 1 && st.moves_failed == 1);
    CHECK(st.bytes_moved == moves[0].nblocks * 65536ULL);
    CHECK(st.mappings == sculpt_core_mapping_count(c));

    /* A few more intervals with the learned model, then migrate it. */
    CHECK(sculpt_core_set_policy(c, "learned+prefetch", &err) == 0);
    for (i = 0; i < 5; i++) {
        run_interval(c, &now, counts, N);
    }
    CHECK(sculpt_core_save(c, &blob, &len, &err) == 0);
    CHECK(blob != NULL && len > 16);
    {
        sculpt_core_t *d = sculpt_core_new(&cfg, &err);
        uint8_t *blob2 = NULL;
        size_t len2 = 0;

        CHECK(sculpt_core_set_policy(d, "ewma", &err) == 0);
        CHECK(sculpt_core_load(d, blob, len, &err) == 0);
        CHECK(strcmp(sculpt_core_policy(d), "learned+prefetch") == 0);
        CHECK(sculpt_core_save(d, &blob2, &len2, &err) == 0);
        CHECK(len2 == len && memcmp(blob, blob2, len) == 0);
        free(blob2);
        blob[len / 2] ^= 0x55;
        {
        int rc_ = sculpt_core_load(d, blob, len, &err);
        expect_err(rc_, &err, "CRC");
    }
            {
        int rc_ = sculpt_core_load(d, blob, 3, &err);
        expect_err(rc_, &err, "too short");
    }
            sculpt_core_free(d);
    }
    free(blob);
    sculpt_core_free(c);
    sculpt_core_free(NULL);
}

static void test_trace_writer(void)
{
    enum { N = 16 };
    const char *path = "c_abi_test.sctrace";
    char *err = NULL;
    uint32_t counts[N];
    sculpt_vm_signals_t sig;
    sculpt_trace_writer_t *w;

    memset(counts, 0, sizeof(counts));
    memset(&sig, 0, sizeof(sig));
    counts[3] = 2;
    w = sculpt_trace_writer_new(path, 65536, N, 1000000000ULL, &err);
    CHECK(w != NULL);
    CHECK(sculpt_trace_writer_add(w, 100, counts, NULL, NULL, &sig, N, &err)
          == 0);
    {
        int rc_ = sculpt_trace_writer_add(w, 50, counts, NULL, NULL, NULL, N,
                                       &err);
        expect_err(rc_, &err, "backwards");
    }
    {
        int rc_ = sculpt_trace_writer_add(w, 200, counts, NULL, NULL, NULL, 3,
                                       &err);
        expect_err(rc_, &err, "array has 3");
    }
    CHECK(sculpt_trace_writer_close(w, &err) == 0);
    CHECK(err == NULL);
    CHECK(sculpt_trace_writer_new(path, 1000, N, 1, &err) == NULL);
    CHECK(err != NULL);
    free(err);
    remove(path);
}

int main(void)
{
    test_config();
    test_core();
    test_trace_writer();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("c_abi_test: all checks passed\n");
    return 0;
}
