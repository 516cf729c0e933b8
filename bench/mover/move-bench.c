/*
 * Mover benchmark: moving guest RAM between host memory tiers with
 * sculpt/hostmem.c, against memcpy between two prefaulted buffers of the
 * same size in the same run.  See bench/mover/RESULTS.md and run.sh.
 *
 *   move-bench [-g GiB] [-r reps] [-b batch-KiB] [-k memfd|thp|hugetlb]
 *              [-B block-KiB,...] [-c cold-dir]
 *
 * The "guest" is a memfd mapped at a 1 GiB-aligned address, like QEMU's
 * memory-backend-memfd.  All figures are medians over -r repetitions
 * with [min..max]; a batch is what one vCPU pause would cover.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#define _GNU_SOURCE
#include "hostmem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#define MAXREP 32

static uint64_t gsize = 1ULL << 30;
static uint64_t bs, nblk, batch_bytes = 8ULL << 20;
static int reps = 5;
static SculptHmKind pool_kind = SCULPT_HM_MEMFD;
static const char *cold_dir = "/var/tmp";
static uint8_t *guest;
static int guest_fd;
static SculptHmLoc *loc;
static SculptHmPool home, pa, pb;
static char err[512];
static double memcpy_gbs;
static uint8_t *mc_a, *mc_b;    /* prefaulted baseline buffers */
static uint64_t ns_parts[5];    /* copy, remap, attrs, populate, release */
static SculptHmVmaAttrs attrs = {
    /* what QEMU sets by default: merge=on, THP advice, dontfork */
    .mergeable = true, .hugepage = true, .dontfork = true,
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* median [min..max] of n values */
static void stat3(double *v, int n, double *med, double *lo, double *hi)
{
    qsort(v, n, sizeof(*v), cmp_d);
    *med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *lo = v[0];
    *hi = v[n - 1];
}

static double pct(double *v, size_t n, double p)
{
    size_t i = (size_t)(p * (n - 1) + 0.5);

    qsort(v, n, sizeof(*v), cmp_d);
    return v[i];
}

static void die(const char *what)
{
    fprintf(stderr, "move-bench: %s: %s\n", what, err);
    exit(1);
}

static uint8_t *alloc_prefaulted(uint64_t size)
{
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    /* the baseline's buffers are prefaulted, as the task defines it */
    madvise(p, size, MADV_NOHUGEPAGE);
    if (madvise(p, size, MADV_POPULATE_WRITE)) {
        perror("MADV_POPULATE_WRITE");
        exit(1);
    }
    memset(p, 0x5a, size);
    return p;
}

/* memcpy between two prefaulted buffers of the guest's size, GB/s */
static void bench_memcpy(void)
{
    uint8_t *a = alloc_prefaulted(gsize), *b = alloc_prefaulted(gsize);
    double v[MAXREP], nt[MAXREP], sc[MAXREP], m, lo, hi;
    uint64_t t, i;
    int r;

    for (r = 0; r < reps; r++) {
        t = now_ns();
        memcpy(b, a, gsize);
        v[r] = gsize / (double)(now_ns() - t);
        t = now_ns();
        sculpt_hm_copy(b, a, gsize, true);
        nt[r] = gsize / (double)(now_ns() - t);
        t = now_ns();
        for (i = 0; i < gsize; i += 2 * bs) {
            memcpy(b + i, a + i, bs);
        }
        sc[r] = gsize / 2 / (double)(now_ns() - t);
    }
    stat3(v, reps, &m, &lo, &hi);
    memcpy_gbs = m;
    printf("memcpy %llu MiB prefaulted->prefaulted (4 KiB anon pages, the "
           "baseline): %.2f GB/s [%.2f..%.2f]\n",
           (unsigned long long)gsize >> 20, m, lo, hi);
    stat3(nt, reps, &m, &lo, &hi);
    printf("  same with the NT (AVX2 streaming) copy loop: %.2f GB/s "
           "[%.2f..%.2f]\n", m, lo, hi);
    {
        uint8_t *ha = mmap(NULL, gsize, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        uint8_t *hb = mmap(NULL, gsize, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        double h[MAXREP];

        /* reference only: the same with THP-backed anonymous buffers */
        madvise(ha, gsize, MADV_HUGEPAGE);
        madvise(hb, gsize, MADV_HUGEPAGE);
        memset(ha, 1, gsize);
        memset(hb, 2, gsize);
        for (r = 0; r < reps; r++) {
            t = now_ns();
            memcpy(hb, ha, gsize);
            h[r] = gsize / (double)(now_ns() - t);
        }
        stat3(h, reps, &m, &lo, &hi);
        printf("  reference, THP-advised anon buffers: %.2f GB/s "
               "[%.2f..%.2f]\n", m, lo, hi);
        munmap(ha, gsize);
        munmap(hb, gsize);
    }
    stat3(sc, reps, &m, &lo, &hi);
    printf("  memcpy of every other %llu KiB block: %.2f GB/s [%.2f..%.2f]"
           "\n", (unsigned long long)bs >> 10, m, lo, hi);
    mc_a = a;
    mc_b = b;
}

static double memcpy_once(void)
{
    uint64_t t = now_ns();

    memcpy(mc_b, mc_a, gsize);
    return gsize / (double)(now_ns() - t);
}

static void setup(uint64_t block)
{
    uint8_t *r;
    uint64_t b, *p, i;
    SculptHmPoolConfig cfg = {
        .kind = pool_kind, .block_size = block, .name = "bench-pool",
    };

    bs = block;
    nblk = gsize / bs;
    guest_fd = memfd_create("bench-guest", MFD_CLOEXEC);
    if (guest_fd < 0 || ftruncate(guest_fd, gsize)) {
        perror("guest memfd");
        exit(1);
    }
    r = mmap(NULL, gsize * 2, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    guest = (uint8_t *)(((uintptr_t)r + gsize - 1) & ~(uintptr_t)(gsize - 1));
    if (mmap(guest, gsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
             guest_fd, 0) == MAP_FAILED) {
        perror("guest mmap");
        exit(1);
    }
    /* as QEMU's ram_block_add(): THP advice on guest RAM (it only
     * takes effect with shmem_enabled=advise) */
    madvise(guest, gsize, MADV_HUGEPAGE);
    madvise(guest, gsize, MADV_POPULATE_WRITE);
    p = (uint64_t *)guest;
    for (i = 0; i < gsize / 8; i++) {
        p[i] = i * 0x9E3779B97F4A7C15ULL;
    }
    loc = calloc(nblk, sizeof(*loc));
    if (sculpt_hm_pool_wrap(&home, guest_fd, 0, nblk, bs, err,
                            sizeof(err))) {
        die("wrap");
    }
    for (b = 0; b < nblk; b++) {
        loc[b].pool = &home;
        loc[b].slot = b;
    }
    cfg.nr_slots = nblk;
    if (sculpt_hm_pool_create(&pa, &cfg, err, sizeof(err)) ||
        sculpt_hm_pool_create(&pb, &cfg, err, sizeof(err))) {
        die("pool");
    }
    printf("pools: 2 x %s\n", pa.info);
}

static void teardown(void)
{
    sculpt_hm_pool_destroy(&pa);
    sculpt_hm_pool_destroy(&pb);
    sculpt_hm_pool_destroy(&home);
    munmap(guest, gsize);
    close(guest_fd);
    free(loc);
}

static bool verify(void)
{
    const uint64_t *p = (const uint64_t *)guest;
    uint64_t i;

    for (i = 0; i < gsize / 8; i++) {
        if (p[i] != i * 0x9E3779B97F4A7C15ULL) {
            printf("MISMATCH at byte %" PRIu64 "\n", i * 8);
            return false;
        }
    }
    return true;
}

/* Move [b, b+n) to dst; ns of the move (the pause), or die */
static uint64_t move(uint64_t b, uint64_t n, SculptHmPool *dst,
                     unsigned flags, uint64_t *ns_release)
{
    SculptHmLoc src[16384];
    SculptHmMove mv = {
        .host = guest + b * bs, .nblocks = n, .src = src, .dst = dst,
        .attrs = &attrs, .flags = flags,
    };
    SculptHmMoveResult res;
    uint64_t slot, i, t, after = SCULPT_HM_NO_SLOT;

    memcpy(src, &loc[b], n * sizeof(*src));
    if (dst == &home) {
        if (sculpt_hm_slot_claim(dst, b, n, err, sizeof(err))) {
            die("claim");
        }
        slot = b;
    } else {
        if (b > 0 && loc[b - 1].pool == dst) {
            after = loc[b - 1].slot;
        }
        if (sculpt_hm_slot_alloc(dst, n, after, &slot, err, sizeof(err))) {
            die("alloc");
        }
    }
    mv.dst_slot = slot;
    t = now_ns();
    if (sculpt_hm_move_run(&mv, &res, err, sizeof(err))) {
        die("move");
    }
    t = now_ns() - t;
    ns_parts[0] += res.ns_copy;
    ns_parts[1] += res.ns_remap;
    ns_parts[2] += res.ns_attrs;
    ns_parts[3] += res.ns_populate;
    ns_parts[4] += res.ns_release;
    for (i = 0; i < n; i++) {
        loc[b + i].pool = dst;
        loc[b + i].slot = slot + i;
    }
    if (flags & SCULPT_HM_DEFER_RELEASE) {
        uint64_t t2 = now_ns();

        sculpt_hm_release_sources(src, n, NULL, 0);
        *ns_release += now_ns() - t2;
    }
    return t;
}

/*
 * Put every block into target in big runs (not measured); with the
 * variant's TRANSFER flag, so the windows end up as that variant's moves
 * leave them (a window whose entries went to the guest gets them back
 * when the guest moves out of it)
 */
static void place_all(SculptHmPool *target, unsigned flags)
{
    uint64_t b, n, z = 0;

    for (b = 0; b < nblk; b += n) {
        for (n = 1; b + n < nblk && n < 16384 &&
             (loc[b + n].pool != target) == (loc[b].pool != target); n++) {
            /* same side of target */
        }
        if (loc[b].pool != target) {
            move(b, n, target, flags & SCULPT_HM_TRANSFER, &z);
        }
    }
}

/* Read one byte of every 4 KiB page: what refaults after a remap cost */
static double touch_ms(void)
{
    volatile uint8_t sink = 0;
    uint64_t t = now_ns(), i;

    for (i = 0; i < gsize; i += 4096) {
        sink += guest[i];
    }
    (void)sink;
    return (now_ns() - t) / 1e6;
}

enum { CONTIG, SCATTER, NAIVE };

typedef struct Variant {
    const char *name;
    int pattern;
    bool from_home;     /* source is the VM's memfd: released by punch */
    unsigned flags;
} Variant;

static void run_variant(const Variant *v)
{
    double gbs[MAXREP], gbs_rf[MAXREP], touch[MAXREP], rel[MAXREP];
    double mc[MAXREP], ratio[MAXREP], ratio_rf[MAXREP];
    double *pause = calloc(reps * (nblk + 1), sizeof(double));
    size_t npause = 0;
    uint64_t mm0, mr0, bpb = batch_bytes / bs ? batch_bytes / bs : 1;
    uint64_t moved_blocks = 0, mmaps = 0, mremaps = 0, bytes_last = gsize;
    long vmas = 0;
    int r;
    SculptHmPool *x = &pa, *y = &pb;
    double m, lo, hi, parts[5] = { 0 };

    if (v->from_home) {
        x = &home;
    }
    for (r = 0; r < reps; r++) {
        uint64_t total = 0, bytes = 0, b, ns_rel = 0;

        place_all(x, v->flags);
        if (!v->from_home) {
            /* the sources were recycled into x's free list last time */
        }
        madvise(guest, gsize, MADV_POPULATE_READ);
        mc[r] = memcpy_once();      /* paired baseline, same moment */
        mm0 = sculpt_hm_syscall_count(SCULPT_HM_SYS_MMAP);
        mr0 = sculpt_hm_syscall_count(SCULPT_HM_SYS_MREMAP);
        memset(ns_parts, 0, sizeof(ns_parts));
        if (v->pattern == CONTIG) {
            for (b = 0; b < nblk; b += bpb) {
                uint64_t t = move(b, bpb, y, v->flags, &ns_rel);

                pause[npause++] = t / 1e3;
                total += t;
            }
            bytes = gsize;
        } else if (v->pattern == NAIVE) {
            for (b = 0; b < nblk; b++) {
                uint64_t t = move(b, 1, y, v->flags, &ns_rel);

                pause[npause++] = t / 1e3;
                total += t;
            }
            bytes = gsize;
        } else {
            /* every other block; one batch = batch_bytes of moved data */
            uint64_t per = bpb, in = 0, t = 0;

            for (b = 0; b < nblk; b += 2) {
                t += move(b, 1, y, v->flags, &ns_rel);
                if (++in == per || b + 2 >= nblk) {
                    pause[npause++] = t / 1e3;
                    total += t;
                    t = 0;
                    in = 0;
                }
            }
            bytes = gsize / 2;
        }
        mmaps += sculpt_hm_syscall_count(SCULPT_HM_SYS_MMAP) - mm0;
        mremaps += sculpt_hm_syscall_count(SCULPT_HM_SYS_MREMAP) - mr0;
        bytes_last = bytes;
        moved_blocks += bytes / bs;
        vmas = sculpt_hm_count_vmas(guest, gsize);
        gbs[r] = bytes / (double)total;
        for (b = 0; b < 5; b++) {
            parts[b] += ns_parts[b] / 1e6 / reps;
        }
        rel[r] = ns_rel / 1e6;
        touch[r] = touch_ms();
        gbs_rf[r] = bytes / (double)(total + touch[r] * 1e6);
        ratio[r] = gbs[r] / mc[r];
        ratio_rf[r] = gbs_rf[r] / mc[r];
        if (r == 0 && !verify()) {
            printf("DATA MISMATCH in %s\n", v->name);
            exit(1);
        }
        if (!v->from_home) {
            SculptHmPool *t = x;

            x = y;
            y = t;
        }
    }
    printf("%-36s", v->name);
    stat3(gbs, reps, &m, &lo, &hi);
    printf(" %5.2f GB/s [%5.2f..%5.2f]", m, lo, hi);
    stat3(ratio, reps, &m, &lo, &hi);
    printf(" = %4.2fx [%4.2f..%4.2f] of memcpy", m, lo, hi);
    printf("\n    pause/batch p50 %7.1f p99 %7.1f us",
           pct(pause, npause, 0.5), pct(pause, npause, 0.99));
    printf(" | mmaps/1k blk %6.1f, mremaps/1k blk %6.1f, VMAs %ld",
           mmaps * 1000.0 / moved_blocks, mremaps * 1000.0 / moved_blocks,
           vmas);
    stat3(touch, reps, &m, &lo, &hi);
    printf("\n    refault (read every page) %6.1f ms [%.1f..%.1f]", m, lo,
           hi);
    stat3(gbs_rf, reps, &m, &lo, &hi);
    printf(" -> incl. refault %5.2f GB/s", m);
    stat3(ratio_rf, reps, &m, &lo, &hi);
    printf(" = %4.2fx", m);
    stat3(mc, reps, &m, &lo, &hi);
    printf(" | paired memcpy %5.2f GB/s [%5.2f..%5.2f]", m, lo, hi);
    if (v->flags & SCULPT_HM_DEFER_RELEASE) {
        stat3(rel, reps, &m, &lo, &hi);
        printf(" | deferred punch %.1f ms", m);
    }
    printf("\n    per GiB ms: copy %.1f, mmap %.1f, attrs %.1f, "
           "populate %.1f, release %.1f\n", parts[0] * gsize / bytes_last,
           parts[1] * gsize / bytes_last, parts[2] * gsize / bytes_last,
           parts[3] * gsize / bytes_last, parts[4] * gsize / bytes_last);
    fflush(stdout);
    free(pause);
}

static void dram_print(const char *when, SculptHmPool **p, int n)
{
    SculptHmDram d;

    if (sculpt_hm_dram(p, n, &d, err, sizeof(err))) {
        die("dram");
    }
    printf("  DRAM %-28s %6llu MiB = memfds %llu + hugetlb %llu + cold "
           "file cache %llu + anon %llu  (%s)\n", when,
           (unsigned long long)d.total >> 20,
           (unsigned long long)d.shmem >> 20,
           (unsigned long long)d.hugetlb >> 20,
           (unsigned long long)d.file_cache >> 20,
           (unsigned long long)d.anon >> 20,
           d.used_cachestat ? "cachestat" : "mincore");
}

/* Half of the guest to a cold file on disk; DRAM before and after */
static void bench_cold(void)
{
    SculptHmPoolConfig cfg = {
        .kind = SCULPT_HM_COLD_FILE, .block_size = bs,
        .nr_slots = nblk / 2, .dir = cold_dir,
    };
    SculptHmPool cold;
    SculptHmPool *all[] = { &home, &cold };
    uint64_t b, t, t_move = 0, t_rel, z = 0, cached = 0, left = 0;
    uint64_t run = (64ULL << 20) / bs;
    double t_pre;

    /* back home, hot pools gone: DRAM is the guest's 1 GiB + anon */
    place_all(&home, 0);
    sculpt_hm_pool_destroy(&pa);
    sculpt_hm_pool_destroy(&pb);
    if (sculpt_hm_pool_create(&cold, &cfg, err, sizeof(err))) {
        die("cold pool");
    }
    printf("cold zone: %llu MiB (half the guest) to %s\n",
           (unsigned long long)gsize >> 21, cold.info);
    dram_print("before:", all, 2);
    for (b = 0; b < nblk / 2; b += run) {
        t_move += move(b, run, &cold, 0, &z);
    }
    dram_print("after the move (pause):", all, 2);
    t = now_ns();
    for (b = 0; b < nblk / 2; b += run) {
        if (sculpt_hm_cold_release(&cold, guest + b * bs, loc[b].slot, run,
                                   &cached, err, sizeof(err))) {
            die("cold release");
        }
        left += cached;
    }
    t_rel = now_ns() - t;
    dram_print("after cold release:", all, 2);
    printf("  move %.0f ms (%.2f GB/s into the page cache), release "
           "(zap, fdatasync, fadvise) %.0f ms (%.2f GB/s written out), "
           "%llu KiB left cached\n", t_move / 1e6,
           (gsize / 2) / (double)t_move, t_rel / 1e6,
           (gsize / 2) / (double)t_rel, (unsigned long long)left * 4);
    t = now_ns();
    if (sculpt_hm_prefetch(guest, gsize / 2, true, err, sizeof(err))) {
        die("prefetch");
    }
    t_pre = (now_ns() - t) / 1e6;
    printf("  prefetch back (MADV_POPULATE_READ): %.0f ms, %.2f GB/s from "
           "disk\n", t_pre, (gsize / 2) / (t_pre * 1e6));
    dram_print("after prefetch:", all, 2);
    printf("  data %s\n", verify() ? "verified" : "MISMATCH");
    place_all(&home, 0);
    sculpt_hm_pool_destroy(&cold);
}

int main(int argc, char **argv)
{
    static const Variant variants[] = {
        { "contiguous, recycled slots", CONTIG, false, 0 },
        { "contiguous, recycled, NT copy", CONTIG, false,
          SCULPT_HM_NT_COPY },
        { "contiguous, recycled, populate", CONTIG, false,
          SCULPT_HM_POPULATE },
        { "contiguous, recycled, NT, transfer", CONTIG, false,
          SCULPT_HM_NT_COPY | SCULPT_HM_TRANSFER },
        { "every other block, recycled", SCATTER, false, 0 },
        { "every other block, recycled, NT", SCATTER, false,
          SCULPT_HM_NT_COPY },
        { "every other block, recycled, NT, transfer", SCATTER, false,
          SCULPT_HM_NT_COPY | SCULPT_HM_TRANSFER },
        { "from memfd, punch in pause", CONTIG, true, 0 },
        { "from memfd, punch after resume", CONTIG, true,
          SCULPT_HM_DEFER_RELEASE },
        { "from memfd, as the mover: NT, transfer, punch after",
          CONTIG, true,
          SCULPT_HM_NT_COPY | SCULPT_HM_TRANSFER | SCULPT_HM_DEFER_RELEASE },
        { "naive: per block, punch", NAIVE, true, 0 },
    };
    uint64_t blocks[4] = { 64 << 10, 2 << 20 };
    int nblocks = 2, c, i, k;

    while ((c = getopt(argc, argv, "g:r:b:k:B:c:")) != -1) {
        switch (c) {
        case 'g':
            gsize = strtoull(optarg, NULL, 0) << 30;
            break;
        case 'r':
            reps = atoi(optarg);
            reps = reps < 1 ? 1 : reps > MAXREP ? MAXREP : reps;
            break;
        case 'b':
            batch_bytes = strtoull(optarg, NULL, 0) << 10;
            break;
        case 'k':
            pool_kind = !strcmp(optarg, "thp") ? SCULPT_HM_THP :
                        !strcmp(optarg, "hugetlb") ? SCULPT_HM_HUGETLB :
                        SCULPT_HM_MEMFD;
            break;
        case 'B': {
            char *s = optarg;

            for (nblocks = 0; nblocks < 4 && *s; nblocks++) {
                blocks[nblocks] = strtoull(s, &s, 0) << 10;
                s += *s == ',';
            }
            break;
        }
        case 'c':
            cold_dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-g GiB] [-r reps] [-b batch-KiB] "
                    "[-k memfd|thp|hugetlb] [-B KiB,KiB] [-c colddir]\n",
                    argv[0]);
            return 2;
        }
    }
    printf("guest %llu MiB, batch %llu KiB, %d repetitions, hot pool "
           "kind %s; median [min..max]\n",
           (unsigned long long)gsize >> 20,
           (unsigned long long)batch_bytes >> 10, reps,
           sculpt_hm_kind_name(pool_kind));
    for (k = 0; k < nblocks; k++) {
        if (pool_kind == SCULPT_HM_HUGETLB && blocks[k] < (2 << 20)) {
            printf("\n== %llu KiB blocks: skipped, hugetlb needs >= 2 MiB\n",
                   (unsigned long long)blocks[k] >> 10);
            continue;
        }
        bs = blocks[k];
        printf("\n== %llu KiB blocks\n", (unsigned long long)bs >> 10);
        bench_memcpy();
        setup(bs);
        for (i = 0; i < (int)(sizeof(variants) / sizeof(variants[0]));
             i++) {
            if (variants[i].pattern == NAIVE && bs > (2 << 20)) {
                continue;
            }
            run_variant(&variants[i]);
        }
        printf("memcpy after the variants: %.2f GB/s\n", memcpy_once());
        munmap(mc_a, gsize);
        munmap(mc_b, gsize);
        bench_cold();
        teardown();
    }
    return 0;
}
