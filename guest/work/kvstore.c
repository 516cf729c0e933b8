/*
 * sculpt-work kvstore: a key-value store with Zipf-distributed keys
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A table of 64-byte records (key, version, six value words) over --mib.
 * Keys are drawn from a Zipf distribution (exponent --theta, rejection-
 * inversion sampling, no O(n) setup), scrambled over the table unless
 * --scramble 0.  A get reads a record and verifies all its words against
 * (key, version); a put bumps the version and rewrites the values.  With
 * --ops the checksum equals the native run's; --duration runs for a time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sculpt-work.h"

typedef struct KvRecord {
    uint64_t key;
    uint64_t version;
    uint64_t val[6];
} KvRecord;

/* Rejection-inversion Zipf sampler (Hoermann and Derflinger, 1996). */
typedef struct Zipf {
    double n, s, hx1, hn, sv;
} Zipf;

static double zh1(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 -
                                                                0.25 * x));
}

static double zh2(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 *
                                                          (1 + 0.25 * x));
}

static double zipf_hint(const Zipf *z, double x)
{
    double lx = log(x);

    return zh2((1 - z->s) * lx) * lx;
}

static double zipf_h(const Zipf *z, double x)
{
    return exp(-z->s * log(x));
}

static double zipf_hinv(const Zipf *z, double x)
{
    double t = x * (1 - z->s);

    if (t < -1) {
        t = -1;
    }
    return exp(zh1(t) * x);
}

static void zipf_init(Zipf *z, uint64_t n, double s)
{
    z->n = n;
    z->s = s;
    z->hx1 = zipf_hint(z, 1.5) - 1;
    z->hn = zipf_hint(z, n + 0.5);
    z->sv = 2 - zipf_hinv(z, zipf_hint(z, 2.5) - zipf_h(z, 2));
}

/* rank in [0, n) */
static uint64_t zipf_next(const Zipf *z, SwRng *r)
{
    for (;;) {
        double u = z->hn + sw_rng_double(r) * (z->hx1 - z->hn);
        double x = zipf_hinv(z, u);
        double k = floor(x + 0.5);

        if (k < 1) {
            k = 1;
        } else if (k > z->n) {
            k = z->n;
        }
        if (k - x <= z->sv || u >= zipf_hint(z, k + 0.5) - zipf_h(z, k)) {
            return (uint64_t)k - 1;
        }
    }
}

static uint64_t kv_value(uint64_t seed, uint64_t key, uint64_t version,
                         int j)
{
    return sw_pattern(seed + version * 0x100000001ULL, key * 8 + j);
}

int cmd_kvstore(int argc, char **argv)
{
    uint64_t mib = 512, ops = 2000000, get_pct = 90, scramble = 1, seed = 1;
    uint64_t sample = 64;
    double theta = 0.99, duration = 0;
    const SwOpt opts[] = {
        { "mib", SW_OPT_U64, &mib, "table size in MiB (64-byte records)" },
        { "ops", SW_OPT_U64, &ops, "operations (ignored with --duration)" },
        { "duration", SW_OPT_DBL, &duration, "seconds (0 = run --ops)" },
        { "get-pct", SW_OPT_U64, &get_pct, "percentage of gets" },
        { "theta", SW_OPT_DBL, &theta, "Zipf exponent" },
        { "scramble", SW_OPT_U64, &scramble, "1 = spread hot keys over the "
          "table" },
        { "seed", SW_OPT_U64, &seed, "seed" },
        { "sample", SW_OPT_U64, &sample, "time 1 of N ops" },
        { NULL }
    };
    uint64_t nkeys, k, n = 0, ngets = 0, nputs = 0, mism = 0, checksum = 0;
    uint64_t memsum = 0, t0, tinit;
    KvRecord *tab;
    SwRng rng = { seed ^ 0x4b56 };
    Zipf z;
    SwLat lat;
    double secs, init_secs;
    int j;

    if (sw_parse_opts("kvstore", argc, argv, opts)) {
        return 2;
    }
    nkeys = mib * MiB / sizeof(KvRecord);
    if (nkeys < 2 || theta <= 0 || get_pct > 100) {
        printf("SCULPT-CHECK FAIL kvstore: bad --mib, --theta or "
               "--get-pct\n");
        return 2;
    }
    zipf_init(&z, nkeys, theta);
    tinit = sw_now_ns();
    tab = sw_alloc(nkeys * sizeof(KvRecord), false, false);
    for (k = 0; k < nkeys; k++) {
        tab[k].key = k;
        tab[k].version = 0;
        for (j = 0; j < 6; j++) {
            tab[k].val[j] = kv_value(seed, k, 0, j);
        }
    }
    init_secs = sw_secs_since(tinit);

    sw_lat_init(&lat, sample);
    t0 = sw_now_ns();
    for (n = 0; duration > 0 || n < ops; n++) {
        uint64_t rank = zipf_next(&z, &rng), ts = 0;
        bool get = sw_rng_below(&rng, 100) < get_pct;
        bool timed = (n % lat.every) == 0;
        KvRecord *r;

        if (duration > 0 && (n & 4095) == 0 && sw_secs_since(t0) >= duration) {
            break;
        }
        k = scramble ? sw_mix64(rank ^ (seed << 32)) % nkeys : rank;
        r = &tab[k];
        if (timed) {
            ts = sw_now_ns();
        }
        if (get) {
            uint64_t v = r->version, bad = r->key != k;

            for (j = 0; j < 6; j++) {
                bad |= r->val[j] != kv_value(seed, k, v, j);
            }
            mism += bad != 0;
            checksum = sw_fold(checksum, r->val[0] ^ v);
            ngets++;
        } else {
            uint64_t v = ++r->version;

            for (j = 0; j < 6; j++) {
                r->val[j] = kv_value(seed, k, v, j);
            }
            nputs++;
        }
        if (timed) {
            sw_lat_add(&lat, sw_now_ns() - ts);
        }
    }
    secs = sw_secs_since(t0);
    /* every record must hold the values of its version */
    for (k = 0; k < nkeys; k++) {
        uint64_t bad = tab[k].key != k;

        for (j = 0; j < 6; j++) {
            bad |= tab[k].val[j] != kv_value(seed, k, tab[k].version, j);
        }
        mism += bad != 0;
        memsum += tab[k].version * (k + 1);
    }
    checksum = sw_fold(checksum, memsum);
    printf("SCULPT-RESULT name=kvstore mib=%llu keys=%llu theta=%.3f "
           "get_pct=%llu scramble=%llu seed=%llu init_secs=%.3f secs=%.3f "
           "ops=%llu gets=%llu puts=%llu ops_per_s=%.1f p99_ns=%llu "
           "mismatches=%llu checksum=0x%016llx\n", (unsigned long long)mib,
           (unsigned long long)nkeys, theta, (unsigned long long)get_pct,
           (unsigned long long)scramble, (unsigned long long)seed, init_secs,
           secs, (unsigned long long)n, (unsigned long long)ngets,
           (unsigned long long)nputs, n / secs,
           (unsigned long long)sw_lat_pct(&lat, 99), (unsigned long long)mism,
           (unsigned long long)checksum);
    sw_lat_free(&lat);
    sw_free(tab, nkeys * sizeof(KvRecord));
    sw_check(mism != 0, "kvstore: records corrupted");
    return mism != 0;
}
