/*
 * sculpt-work memtest: write and verify position-dependent patterns
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Passes mode (default): every pass writes sw_pattern(seed + pass, word) over
 * the whole buffer, then verifies it; the checksum is deterministic.
 * Continuous mode (--duration > 0): the buffer is split into chunks, each with
 * a generation number; a random chunk is verified against its generation and
 * rewritten with the next one, until the duration ends; then everything is
 * verified once more.  Mismatches must be 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sculpt-work.h"

#define WORDS_PER_PAGE (PAGE_SIZE_4K / 8)
#define MAX_REPORTED 10

static uint64_t chunk_seed(uint64_t seed, uint64_t gen)
{
    return seed + gen * 0x100000001ULL;
}

static void report_mismatch(const char *name, uint64_t *reported,
                            uint64_t off, uint64_t expect, uint64_t got)
{
    if (*reported < MAX_REPORTED) {
        printf("SCULPT-MISMATCH name=%s off=0x%llx expect=0x%016llx "
               "got=0x%016llx\n", name, (unsigned long long)off,
               (unsigned long long)expect, (unsigned long long)got);
    }
    (*reported)++;
}

/* Write words [first, first + n) with the pattern of @seed. */
static void write_words(uint64_t *buf, uint64_t first, uint64_t n,
                        uint64_t seed)
{
    uint64_t i;

    for (i = 0; i < n; i++) {
        buf[first + i] = sw_pattern(seed, first + i);
    }
}

/* Verify words [first, first + n); returns mismatches, adds to *sum. */
static uint64_t verify_words(const uint64_t *buf, uint64_t first, uint64_t n,
                             uint64_t seed, uint64_t *sum, uint64_t *reported)
{
    uint64_t i, bad = 0, s = 0;

    for (i = 0; i < n; i++) {
        uint64_t v = buf[first + i];
        uint64_t e = sw_pattern(seed, first + i);

        s += v;
        if (v != e) {
            report_mismatch("memtest", reported, (first + i) * 8, e, v);
            bad++;
        }
    }
    *sum += s;
    return bad;
}

int sw_memtest_continuous(uint64_t mib, uint64_t seed, double duration,
                          uint64_t chunk_kib, double progress,
                          uint64_t sample_every, SwMemtestResult *res)
{
    uint64_t bytes = mib * MiB;
    uint64_t chunk_words = chunk_kib * 1024 / 8;
    uint64_t nchunks, c, *gen, *buf, t0, tprog, reported = 0, sum;
    SwRng rng = { seed ^ 0xc0ffee };
    SwLat lat;

    if (!chunk_words || bytes % (chunk_words * 8)) {
        printf("SCULPT-CHECK FAIL memtest: --chunk-kib must divide --mib\n");
        return -1;
    }
    nchunks = bytes / (chunk_words * 8);
    gen = calloc(nchunks, sizeof(uint64_t));
    buf = sw_alloc(bytes, false, false);
    sw_lat_init(&lat, sample_every);
    *res = (SwMemtestResult) { 0 };

    t0 = sw_now_ns();
    for (c = 0; c < nchunks; c++) {
        write_words(buf, c * chunk_words, chunk_words, chunk_seed(seed, 0));
    }
    tprog = sw_now_ns();
    while (sw_secs_since(t0) < duration) {
        uint64_t ts = 0;
        bool timed = (res->ops % lat.every) == 0;

        c = sw_rng_below(&rng, nchunks);
        if (timed) {
            ts = sw_now_ns();
        }
        sum = 0;
        res->mismatches += verify_words(buf, c * chunk_words, chunk_words,
                                        chunk_seed(seed, gen[c]), &sum,
                                        &reported);
        gen[c]++;
        write_words(buf, c * chunk_words, chunk_words,
                    chunk_seed(seed, gen[c]));
        if (timed) {
            sw_lat_add(&lat, sw_now_ns() - ts);
        }
        res->checksum = sw_fold(res->checksum, sum);
        res->bytes_verified += chunk_words * 8;
        res->ops++;
        if (progress > 0 && sw_secs_since(tprog) >= progress) {
            tprog = sw_now_ns();
            printf("SCULPT-PROGRESS name=memtest t=%.1f verified_mib=%llu "
                   "mismatches=%llu\n", sw_secs_since(t0),
                   (unsigned long long)(res->bytes_verified / MiB),
                   (unsigned long long)res->mismatches);
        }
    }
    /* final full verification */
    for (c = 0; c < nchunks; c++) {
        sum = 0;
        res->mismatches += verify_words(buf, c * chunk_words, chunk_words,
                                        chunk_seed(seed, gen[c]), &sum,
                                        &reported);
        res->checksum = sw_fold(res->checksum, sum);
        res->bytes_verified += chunk_words * 8;
    }
    res->secs = sw_secs_since(t0);
    res->p99_ns = sw_lat_pct(&lat, 99);
    sw_lat_free(&lat);
    sw_free(buf, bytes);
    free(gen);
    return res->mismatches ? 1 : 0;
}

void sw_memtest_print(const SwMemtestResult *r, uint64_t mib,
                      uint64_t chunk_kib, uint64_t seed)
{
    printf("SCULPT-RESULT name=memtest mode=continuous mib=%llu "
           "chunk_kib=%llu seed=%llu secs=%.3f ops=%llu ops_per_s=%.1f "
           "mib_per_s=%.1f p99_ns=%llu verified_mib=%llu mismatches=%llu "
           "checksum=0x%016llx\n",
           (unsigned long long)mib, (unsigned long long)chunk_kib,
           (unsigned long long)seed, r->secs, (unsigned long long)r->ops,
           r->ops / r->secs, r->bytes_verified / (double)MiB / r->secs,
           (unsigned long long)r->p99_ns,
           (unsigned long long)(r->bytes_verified / MiB),
           (unsigned long long)r->mismatches,
           (unsigned long long)r->checksum);
}

int cmd_memtest(int argc, char **argv)
{
    uint64_t mib = 64, passes = 3, seed = 1, chunk_kib = 256, sample = 16;
    double duration = 0, progress = 0;
    const SwOpt opts[] = {
        { "mib", SW_OPT_U64, &mib, "buffer size in MiB" },
        { "passes", SW_OPT_U64, &passes, "write+verify passes "
          "(passes mode)" },
        { "seed", SW_OPT_U64, &seed, "pattern seed" },
        { "duration", SW_OPT_DBL, &duration, "seconds of continuous mode "
          "(0 = passes mode)" },
        { "chunk-kib", SW_OPT_U64, &chunk_kib, "chunk size of continuous "
          "mode" },
        { "progress", SW_OPT_DBL, &progress, "seconds between progress "
          "lines (0 = none)" },
        { "sample", SW_OPT_U64, &sample, "time 1 of N ops" },
        { NULL }
    };
    uint64_t bytes, pages, p, pg, ops = 0, mism = 0, reported = 0;
    uint64_t checksum = 0, *buf, t0;
    double secs;
    SwLat lat;

    if (sw_parse_opts("memtest", argc, argv, opts)) {
        return 2;
    }
    if (duration > 0) {
        SwMemtestResult r;
        int ret = sw_memtest_continuous(mib, seed, duration, chunk_kib,
                                        progress, sample, &r);

        if (ret < 0) {
            return 1;
        }
        sw_memtest_print(&r, mib, chunk_kib, seed);
        sw_check(ret, "memtest: data mismatches");
        return ret;
    }

    bytes = mib * MiB;
    pages = bytes / PAGE_SIZE_4K;
    buf = sw_alloc(bytes, false, false);
    sw_lat_init(&lat, sample);
    t0 = sw_now_ns();
    for (p = 0; p < passes; p++) {
        uint64_t s = seed + p;

        for (pg = 0; pg < pages; pg++, ops++) {
            uint64_t ts = 0;
            bool timed = (ops % lat.every) == 0;

            if (timed) {
                ts = sw_now_ns();
            }
            write_words(buf, pg * WORDS_PER_PAGE, WORDS_PER_PAGE, s);
            if (timed) {
                sw_lat_add(&lat, sw_now_ns() - ts);
            }
        }
        for (pg = 0; pg < pages; pg++, ops++) {
            uint64_t ts = 0, sum = 0;
            bool timed = (ops % lat.every) == 0;

            if (timed) {
                ts = sw_now_ns();
            }
            mism += verify_words(buf, pg * WORDS_PER_PAGE, WORDS_PER_PAGE, s,
                                 &sum, &reported);
            if (timed) {
                sw_lat_add(&lat, sw_now_ns() - ts);
            }
            checksum = sw_fold(checksum, sum);
        }
    }
    secs = sw_secs_since(t0);
    printf("SCULPT-RESULT name=memtest mode=passes mib=%llu passes=%llu "
           "seed=%llu secs=%.3f ops=%llu ops_per_s=%.1f mib_per_s=%.1f "
           "p99_ns=%llu mismatches=%llu checksum=0x%016llx\n",
           (unsigned long long)mib, (unsigned long long)passes,
           (unsigned long long)seed, secs, (unsigned long long)ops,
           ops / secs, 2.0 * passes * mib / secs,
           (unsigned long long)sw_lat_pct(&lat, 99),
           (unsigned long long)mism, (unsigned long long)checksum);
    sw_lat_free(&lat);
    sw_free(buf, bytes);
    sw_check(mism != 0, "memtest: data mismatches");
    return mism != 0;
}
