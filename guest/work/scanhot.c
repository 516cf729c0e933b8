/*
 * sculpt-work scanhot: a sequential scan mixed with a hot set
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A buffer of --mib holds a contiguous hot region of --hot-mib at a seeded
 * 2 MiB-aligned offset.  Each op is, with probability --scan-pct, the next
 * step of a sequential scan of the rest of the buffer (reads one 64-byte
 * line, wrapping around), else a random 8-byte read-modify-write in the hot
 * region.  The scan touches much more memory than the hot set but each line
 * only once per sweep: a recency policy is misled by it, a good one is not.
 * With --ops the checksum equals the native run's.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sculpt-work.h"

#define LCG_A 6364136223846793005ULL
#define LINE_WORDS 8

int cmd_scanhot(int argc, char **argv)
{
    uint64_t mib = 512, hot_mib = 32, ops = 4000000, scan_pct = 50, seed = 1;
    uint64_t sample = 64;
    double duration = 0;
    const SwOpt opts[] = {
        { "mib", SW_OPT_U64, &mib, "buffer size in MiB" },
        { "hot-mib", SW_OPT_U64, &hot_mib, "hot region in MiB" },
        { "ops", SW_OPT_U64, &ops, "operations (ignored with --duration)" },
        { "duration", SW_OPT_DBL, &duration, "seconds (0 = run --ops)" },
        { "scan-pct", SW_OPT_U64, &scan_pct, "percentage of scan steps" },
        { "seed", SW_OPT_U64, &seed, "seed" },
        { "sample", SW_OPT_U64, &sample, "time 1 of N ops" },
        { NULL }
    };
    uint64_t words, hot_words, hot_first, cold_lines, scan_pos = 0, n, i;
    uint64_t scan_ops = 0, hot_ops = 0, sweeps = 0, checksum = 0, memsum = 0;
    uint64_t hsum = 0, ssum = 0, *buf, t0, tinit;
    SwRng rng = { seed ^ 0x5ca9 };
    SwLat lat;
    double secs, init_secs;

    if (sw_parse_opts("scanhot", argc, argv, opts)) {
        return 2;
    }
    if (mib % 2 || hot_mib % 2 || !hot_mib || hot_mib >= mib ||
        scan_pct > 100) {
        printf("SCULPT-CHECK FAIL scanhot: need even --mib > --hot-mib > 0 "
               "and --scan-pct <= 100\n");
        return 2;
    }
    words = mib * MiB / 8;
    hot_words = hot_mib * MiB / 8;
    hot_first = sw_rng_below(&rng, (mib - hot_mib) / 2 + 1) * 2 * MiB / 8;
    cold_lines = (words - hot_words) / LINE_WORDS;

    tinit = sw_now_ns();
    buf = sw_alloc(words * 8, false, false);
    for (i = 0; i < words; i++) {
        buf[i] = sw_pattern(seed, i);
    }
    init_secs = sw_secs_since(tinit);

    sw_lat_init(&lat, sample);
    t0 = sw_now_ns();
    for (n = 0; duration > 0 || n < ops; n++) {
        bool scan = sw_rng_below(&rng, 100) < scan_pct;
        bool timed = (n % lat.every) == 0;
        uint64_t ts = 0;

        if (duration > 0 && (n & 4095) == 0 && sw_secs_since(t0) >= duration) {
            break;
        }
        if (timed) {
            ts = sw_now_ns();
        }
        if (scan) {
            /* cold line index -> word, skipping the hot region */
            uint64_t w = scan_pos * LINE_WORDS, s = 0;
            int j;

            if (w >= hot_first) {
                w += hot_words;
            }
            for (j = 0; j < LINE_WORDS; j++) {
                s += buf[w + j];
            }
            ssum += s;
            if (++scan_pos == cold_lines) {
                scan_pos = 0;
                sweeps++;
            }
            scan_ops++;
        } else {
            uint64_t idx = hot_first + sw_rng_below(&rng, hot_words);
            uint64_t v = buf[idx];

            buf[idx] = v * LCG_A + (idx | 1);
            hsum += v;
            hot_ops++;
        }
        if (timed) {
            sw_lat_add(&lat, sw_now_ns() - ts);
        }
    }
    secs = sw_secs_since(t0);
    checksum = sw_fold(sw_fold(0, hsum), ssum);
    for (i = 0; i < words; i++) {
        memsum = sw_fold(memsum, buf[i]);
    }
    checksum = sw_fold(checksum, memsum);
    printf("SCULPT-RESULT name=scanhot mib=%llu hot_mib=%llu "
           "hot_off=0x%llx scan_pct=%llu seed=%llu init_secs=%.3f secs=%.3f "
           "ops=%llu scan_ops=%llu hot_ops=%llu sweeps=%llu ops_per_s=%.1f "
           "p99_ns=%llu checksum=0x%016llx\n", (unsigned long long)mib,
           (unsigned long long)hot_mib, (unsigned long long)(hot_first * 8),
           (unsigned long long)scan_pct, (unsigned long long)seed, init_secs,
           secs, (unsigned long long)n, (unsigned long long)scan_ops,
           (unsigned long long)hot_ops, (unsigned long long)sweeps, n / secs,
           (unsigned long long)sw_lat_pct(&lat, 99),
           (unsigned long long)checksum);
    sw_lat_free(&lat);
    sw_free(buf, words * 8);
    sw_check(0, "");
    return 0;
}
