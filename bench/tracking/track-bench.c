/*
 * Cost of userfaultfd access sampling (sculpt/uffd-sample.c) on the host:
 * a 1 GiB memfd "guest" (MAP_SHARED), worker threads touching random
 * 64-byte lines of a hot set (half reads, half writes), runs with and
 * without sampling in alternating pairs.
 *
 * Per "on" run: CPU of the fault thread (its thread CPU clock) + CPU of
 * the thread that arms and harvests (CLOCK_THREAD_CPUTIME_ID around the
 * calls), as % of one core over the run's wall time; the workers' own
 * system time; and the workers' throughput against the paired "off" run.
 *
 *   track-bench [-g GiB] [-b block KiB] [-i interval ms] [-R max_regions]
 *               [-k samples/region] [-t s per run] [-p pairs] [-w workers]
 *               [-H hot %]
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#define _GNU_SOURCE
#include "uffd-sample.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define MAX_WORKERS 8
#define MAX_PAIRS   32

static uint8_t *guest;
static uint64_t gsize, bsize, hot_bytes;
static _Atomic int stop;
static _Atomic uint64_t ops[MAX_WORKERS];
static uint64_t sys_ns[MAX_WORKERS];

static uint64_t now_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void *worker(void *opaque)
{
    unsigned id = (uintptr_t)opaque;
    uint64_t x = 0x9E3779B97F4A7C15ULL * (id + 1), n = 0, sum = 0;
    struct rusage ru;

    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned i;

        for (i = 0; i < 256; i++) {
            volatile uint64_t *p;

            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p = (volatile uint64_t *)(guest + ((x >> 8) % hot_bytes & ~63));
            if (x & 1) {
                *p = x;
            } else {
                sum += *p;
            }
        }
        n += 256;
    }
    getrusage(RUSAGE_THREAD, &ru);
    sys_ns[id] = ru.ru_stime.tv_sec * 1000000000ULL +
        ru.ru_stime.tv_usec * 1000ULL;
    atomic_store(&ops[id], n + (sum & 0));
    return NULL;
}

typedef struct Run {
    double mops;        /* million touches per second, all workers */
    double cost_pct;    /* fault thread + arm/harvest, % of one core */
    double fault_pct, owner_pct;
    double wsys_ms;     /* workers' system time */
    uint64_t faults, hits, armed, intervals;
    uint32_t regions;
} Run;

static int nworkers = 1;
static double run_s = 5;

static void run_once(bool on, const SculptUsConfig *cfg, unsigned ival_ms,
                     uint64_t seed, Run *out)
{
    pthread_t th[MAX_WORKERS];
    SculptUs *us = NULL;
    SculptUsStats st0, st1;
    char err[512];
    uint64_t t0, t1, own = 0, total = 0, k = 0, wsys = 0;
    uintptr_t i;

    memset(out, 0, sizeof(*out));
    if (on) {
        if (sculpt_us_new(&us, cfg, err, sizeof(err)) ||
            sculpt_us_start(us, err, sizeof(err))) {
            fprintf(stderr, "sampler: %s\n", err);
            exit(1);
        }
        sculpt_us_get_stats(us, &st0);
    }
    atomic_store(&stop, 0);
    for (i = 0; i < (uintptr_t)nworkers; i++) {
        pthread_create(&th[i], NULL, worker, (void *)i);
    }
    t0 = now_ns(CLOCK_MONOTONIC);
    while (now_ns(CLOCK_MONOTONIC) - t0 < run_s * 1e9) {
        if (on) {
            uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);

            sculpt_us_arm_interval(us, now_ns(CLOCK_MONOTONIC), seed + k++,
                                   err, sizeof(err));
            own += now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
            usleep(ival_ms * 1000);
            c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
            sculpt_us_harvest(us, NULL, NULL, err, sizeof(err));
            own += now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        } else {
            usleep(ival_ms * 1000);
        }
    }
    atomic_store(&stop, 1);
    for (i = 0; i < (uintptr_t)nworkers; i++) {
        pthread_join(th[i], NULL);
        total += atomic_load(&ops[i]);
        wsys += sys_ns[i];
    }
    t1 = now_ns(CLOCK_MONOTONIC);
    out->mops = total / ((t1 - t0) / 1e9) / 1e6;
    out->wsys_ms = wsys / 1e6;
    if (on) {
        sculpt_us_get_stats(us, &st1);
        out->fault_pct = (st1.handler_cpu_ns - st0.handler_cpu_ns) * 100.0 /
            (t1 - t0);
        out->owner_pct = own * 100.0 / (t1 - t0);
        out->cost_pct = out->fault_pct + out->owner_pct;
        out->faults = st1.faults;
        out->hits = st1.hits;
        out->armed = st1.armed;
        out->intervals = st1.intervals;
        out->regions = st1.nr_regions;
        sculpt_us_free(us);
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void med(double *v, int n, double *m, double *lo, double *hi)
{
    qsort(v, n, sizeof(*v), cmp_d);
    *lo = v[0];
    *hi = v[n - 1];
    *m = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    SculptUsConfig cfg = { 0 };
    unsigned ival_ms = 1000, hot_pct = 25;
    int pairs = 5, c, p;
    uint64_t gib = 1, bkib = 64, off;
    double ratio[MAX_PAIRS], cost[MAX_PAIRS], fpct[MAX_PAIRS];
    double opct[MAX_PAIRS], dsys[MAX_PAIRS], m, lo, hi;
    int fd;

    while ((c = getopt(argc, argv, "g:b:i:R:k:t:p:w:H:")) != -1) {
        switch (c) {
        case 'g': gib = strtoull(optarg, NULL, 0); break;
        case 'b': bkib = strtoull(optarg, NULL, 0); break;
        case 'i': ival_ms = atoi(optarg); break;
        case 'R': cfg.max_regions = atoi(optarg); break;
        case 'k': cfg.samples_per_region = atoi(optarg); break;
        case 't': run_s = atof(optarg); break;
        case 'p': pairs = atoi(optarg); break;
        case 'w': nworkers = atoi(optarg); break;
        case 'H': hot_pct = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: see the comment at the top\n");
            return 2;
        }
    }
    if (pairs > MAX_PAIRS || nworkers > MAX_WORKERS || !pairs) {
        return 2;
    }
    gsize = gib << 30;
    bsize = bkib << 10;
    hot_bytes = gsize / 100 * hot_pct;
    fd = memfd_create("track-bench-guest", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, gsize)) {
        perror("memfd");
        return 1;
    }
    guest = mmap(NULL, gsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (guest == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (off = 0; off < gsize; off += 4096) {
        guest[off] = 1;
    }
    cfg.host = guest;
    cfg.size = gsize;
    cfg.block_size = bsize;
    printf("# guest %" PRIu64 " MiB memfd, %" PRIu64 " KiB blocks (%" PRIu64
           "), hot set %u%% (random 64-byte touches, half writes), %d "
           "worker(s), interval %u ms, max_regions %u, samples/region %u, "
           "%.1f s per run, %d pairs\n", gsize >> 20, bkib, gsize / bsize,
           hot_pct, nworkers, ival_ms,
           cfg.max_regions ? cfg.max_regions : SCULPT_US_DEF_MAX_REGIONS,
           cfg.samples_per_region ? cfg.samples_per_region : 1, run_s,
           pairs);
    printf("# pair  off Mops/s  on Mops/s  ratio   cost%%  (fault thr + "
           "arm/harvest)  workers' sys ms off/on  faults  armed  regions\n");
    for (p = 0; p < pairs; p++) {
        Run r_off, r_on;

        /* alternate the order so drift does not favour one side */
        if (p & 1) {
            run_once(true, &cfg, ival_ms, 1000 * p, &r_on);
            run_once(false, &cfg, ival_ms, 0, &r_off);
        } else {
            run_once(false, &cfg, ival_ms, 0, &r_off);
            run_once(true, &cfg, ival_ms, 1000 * p, &r_on);
        }
        ratio[p] = r_on.mops / r_off.mops;
        cost[p] = r_on.cost_pct;
        fpct[p] = r_on.fault_pct;
        opct[p] = r_on.owner_pct;
        dsys[p] = r_on.wsys_ms - r_off.wsys_ms;
        printf("  %2d   %9.2f  %9.2f  %.4f  %6.3f  (%.3f + %.3f)        "
               "%7.1f / %7.1f   %7" PRIu64 " %6" PRIu64 " %5u\n", p,
               r_off.mops, r_on.mops, ratio[p], cost[p], fpct[p], opct[p],
               r_off.wsys_ms, r_on.wsys_ms, r_on.faults, r_on.armed,
               r_on.regions);
        fflush(stdout);
    }
    med(ratio, pairs, &m, &lo, &hi);
    printf("throughput on/off: median %.4f [%.4f .. %.4f] -> slowdown "
           "%.2f%% [%.2f .. %.2f]\n", m, lo, hi, (1 - m) * 100,
           (1 - hi) * 100, (1 - lo) * 100);
    med(cost, pairs, &m, &lo, &hi);
    printf("sampling CPU, %% of one core: median %.3f [%.3f .. %.3f]\n", m,
           lo, hi);
    med(fpct, pairs, &m, &lo, &hi);
    printf("  fault thread: median %.3f [%.3f .. %.3f]\n", m, lo, hi);
    med(opct, pairs, &m, &lo, &hi);
    printf("  arm + harvest: median %.3f [%.3f .. %.3f]\n", m, lo, hi);
    med(dsys, pairs, &m, &lo, &hi);
    printf("workers' extra system time per run (ms): median %.1f "
           "[%.1f .. %.1f]\n", m, lo, hi);
    return 0;
}
