/*
 * sculpt-work phases: a hot set that shifts between regions in phases
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The workload of field.md: --phases regions of --phase-mib each (default six
 * of 96 MiB), all filled with a pattern first; each step does --ops random
 * 8-byte read-modify-writes in one region.  Orders:
 *   cycle      0,1,...,P-1, repeated --cycles times (field.md's workload)
 *   recurring  0,1,0,2,0,3,...,0,P-1, repeated --cycles times (region 0 comes
 *              back every other step; the others once a cycle)
 *   random     P * cycles steps, each a seeded random region other than the
 *              previous one
 * Prints one SCULPT-PHASE line per step, then the result; the checksum folds
 * every value read plus a hash of the final buffer, so it equals the native
 * run's with the same arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sculpt-work.h"

#define LCG_A 6364136223846793005ULL

int cmd_phases(int argc, char **argv)
{
    const char *order = "cycle";
    uint64_t nphases = 6, phase_mib = 96, ops = 2000000, cycles = 3;
    uint64_t seed = 1, sample = 64;
    const SwOpt opts[] = {
        { "phases", SW_OPT_U64, &nphases, "number of regions" },
        { "phase-mib", SW_OPT_U64, &phase_mib, "MiB per region" },
        { "ops", SW_OPT_U64, &ops, "read-modify-writes per step" },
        { "cycles", SW_OPT_U64, &cycles, "cycles through the regions" },
        { "order", SW_OPT_STR, &order, "cycle | recurring | random" },
        { "seed", SW_OPT_U64, &seed, "seed" },
        { "sample", SW_OPT_U64, &sample, "time 1 of N ops" },
        { NULL }
    };
    uint64_t words, total_words, nsteps, step, i, *buf, *steps, t0, tinit;
    uint64_t checksum = 0, memsum = 0, total_ops = 0;
    SwRng orng = { seed ^ 0x0de5 };
    SwLat lat;
    double secs, init_secs;

    if (sw_parse_opts("phases", argc, argv, opts)) {
        return 2;
    }
    if (nphases < 2 || !phase_mib || !ops || !cycles) {
        printf("SCULPT-CHECK FAIL phases: need --phases >= 2 and nonzero "
               "--phase-mib, --ops, --cycles\n");
        return 2;
    }
    if (!strcmp(order, "recurring")) {
        nsteps = 2 * (nphases - 1) * cycles;
    } else if (!strcmp(order, "cycle") || !strcmp(order, "random")) {
        nsteps = nphases * cycles;
    } else {
        printf("SCULPT-CHECK FAIL phases: --order must be cycle, recurring "
               "or random\n");
        return 2;
    }
    steps = malloc(nsteps * sizeof(uint64_t));
    for (step = 0; step < nsteps; step++) {
        if (!strcmp(order, "cycle")) {
            steps[step] = step % nphases;
        } else if (!strcmp(order, "recurring")) {
            uint64_t k = step % (2 * (nphases - 1));

            steps[step] = (k & 1) ? k / 2 + 1 : 0;
        } else {
            uint64_t p;

            do {
                p = sw_rng_below(&orng, nphases);
            } while (step && p == steps[step - 1]);
            steps[step] = p;
        }
    }

    words = phase_mib * MiB / 8;
    total_words = words * nphases;
    tinit = sw_now_ns();
    buf = sw_alloc(total_words * 8, false, false);
    for (i = 0; i < total_words; i++) {
        buf[i] = sw_pattern(seed, i);
    }
    init_secs = sw_secs_since(tinit);
    printf("SCULPT-PROGRESS name=phases init_secs=%.3f mib=%llu\n", init_secs,
           (unsigned long long)(nphases * phase_mib));

    sw_lat_init(&lat, sample);
    t0 = sw_now_ns();
    for (step = 0; step < nsteps; step++) {
        uint64_t *base = buf + steps[step] * words, sum = 0, ts0 = sw_now_ns();
        SwRng rng = { sw_mix64(seed + step * 0x51ed) };
        double ssecs;

        for (i = 0; i < ops; i++) {
            uint64_t idx = sw_rng_below(&rng, words), v, ts = 0;
            bool timed = (i % lat.every) == 0;

            if (timed) {
                ts = sw_now_ns();
            }
            v = base[idx];
            base[idx] = v * LCG_A + (idx | 1);
            if (timed) {
                sw_lat_add(&lat, sw_now_ns() - ts);
            }
            sum += v;
        }
        total_ops += ops;
        checksum = sw_fold(checksum, sum);
        ssecs = sw_secs_since(ts0);
        printf("SCULPT-PHASE name=phases step=%llu cycle=%llu phase=%llu "
               "secs=%.3f ops_per_s=%.1f\n", (unsigned long long)step,
               (unsigned long long)(step / (nsteps / cycles)),
               (unsigned long long)steps[step], ssecs, ops / ssecs);
    }
    secs = sw_secs_since(t0);
    for (i = 0; i < total_words; i++) {
        memsum = sw_fold(memsum, buf[i]);
    }
    checksum = sw_fold(checksum, memsum);
    printf("SCULPT-RESULT name=phases order=%s phases=%llu phase_mib=%llu "
           "ops=%llu cycles=%llu steps=%llu seed=%llu init_secs=%.3f "
           "secs=%.3f ops_per_s=%.1f p99_ns=%llu checksum=0x%016llx\n",
           order, (unsigned long long)nphases, (unsigned long long)phase_mib,
           (unsigned long long)ops, (unsigned long long)cycles,
           (unsigned long long)nsteps, (unsigned long long)seed, init_secs,
           secs, total_ops / secs, (unsigned long long)sw_lat_pct(&lat, 99),
           (unsigned long long)checksum);
    sw_lat_free(&lat);
    sw_free(buf, total_words * 8);
    free(steps);
    sw_check(0, "");
    return 0;
}
