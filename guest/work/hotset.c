/*
 * sculpt-work hotset: touch a known hot set and report it in guest-physical
 * terms, so the host can score its hot/cold classification
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The buffer is filled with a pattern and mlocked; /proc/self/pagemap gives
 * the guest-physical frame of each page.  Pages are grouped into
 * guest-physical granules (--granule-kib, default 64 KiB); the hot set is a
 * seeded random choice of granules wholly owned by the buffer, spanning
 * --hot-mib: all their pages (dense) or one page in each (sparse).  With
 * --shift-secs the hot set changes to a disjoint one every that many seconds.
 * Access modes: read (each touch reads and verifies a word), write (each touch
 * rewrites a word with its pattern value), mixed (hot pages alternate between
 * read and write).
 *
 * Output, in guest-physical bytes, ranges [start, end) coalesced and sorted:
 *   SCULPT-BUFFER pages=N bytes=B nranges=M lines=L
 *   SCULPT-BUFFER part=I ranges=0xSTART-0xEND,...          (L lines)
 *   SCULPT-HOTSET phase=K t=SECS access=A layout=Y pages=N bytes=B nranges=M lines=L
 *   SCULPT-HOTSET phase=K part=I ranges=0xSTART-0xEND,...  (L lines)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sculpt-work.h"

#define WORDS_PER_PAGE (PAGE_SIZE_4K / 8)
#define RANGES_PER_LINE 32
#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)

enum { ACC_READ, ACC_WRITE, ACC_MIXED };

static int read_pfns(const void *buf, uint64_t pages, uint64_t *pfn)
{
    uint64_t first = (uintptr_t)buf / PAGE_SIZE_4K, i;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        return -errno;
    }
    n = pread(fd, pfn, pages * 8, first * 8);
    close(fd);
    if (n != (ssize_t)(pages * 8)) {
        return -EIO;
    }
    for (i = 0; i < pages; i++) {
        if (!(pfn[i] & PM_PRESENT) || !(pfn[i] & PM_PFN_MASK)) {
            return -EPERM;
        }
        pfn[i] &= PM_PFN_MASK;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Print a set of frames (sorted in place) as coalesced byte ranges.
 * @head is the start of each line, @attrs the extra summary attributes.
 */
static void print_ranges(const char *head, const char *attrs,
                         uint64_t *frames, uint64_t n)
{
    uint64_t i, j, nranges = 0, lines, part = 0, inline_n = 0;

    qsort(frames, n, sizeof(uint64_t), cmp_u64);
    for (i = 0; i < n; i++) {
        if (i == 0 || frames[i] != frames[i - 1] + 1) {
            nranges++;
        }
    }
    lines = (nranges + RANGES_PER_LINE - 1) / RANGES_PER_LINE;
    printf("%s%s%s pages=%llu bytes=%llu nranges=%llu lines=%llu\n", head,
           *attrs ? " " : "", attrs, (unsigned long long)n,
           (unsigned long long)(n * PAGE_SIZE_4K),
           (unsigned long long)nranges, (unsigned long long)lines);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && frames[j] == frames[j - 1] + 1; j++) {
            /* extend the run */
        }
        if (inline_n == 0) {
            printf("%s part=%llu ranges=", head, (unsigned long long)part++);
        }
        printf("%s0x%llx-0x%llx", inline_n ? "," : "",
               (unsigned long long)(frames[i] * PAGE_SIZE_4K),
               (unsigned long long)((frames[j - 1] + 1) * PAGE_SIZE_4K));
        if (++inline_n == RANGES_PER_LINE || j == n) {
            printf("\n");
            inline_n = 0;
        }
    }
    fflush(stdout);
}

typedef struct Granule {
    uint64_t first;     /* index into the pfn-sorted page order */
} Granule;

int cmd_hotset(int argc, char **argv)
{
    const char *access = "read", *layout = "dense";
    uint64_t mib = 256, hot_mib = 32, granule_kib = 64, seed = 1, thp = 0;
    uint64_t sample = 64;
    double duration = 30, shift_secs = 0, progress = 0;
    const SwOpt opts[] = {
        { "mib", SW_OPT_U64, &mib, "buffer size in MiB" },
        { "hot-mib", SW_OPT_U64, &hot_mib, "MiB spanned by the hot granules" },
        { "access", SW_OPT_STR, &access, "read | write | mixed" },
        { "layout", SW_OPT_STR, &layout, "dense (whole granules) | sparse "
          "(one page per granule)" },
        { "granule-kib", SW_OPT_U64, &granule_kib, "guest-physical granule" },
        { "duration", SW_OPT_DBL, &duration, "seconds of touching" },
        { "shift-secs", SW_OPT_DBL, &shift_secs, "change the hot set every "
          "this many seconds (0 = never)" },
        { "seed", SW_OPT_U64, &seed, "seed" },
        { "thp", SW_OPT_U64, &thp, "1 = madvise(MADV_HUGEPAGE) the buffer" },
        { "sample", SW_OPT_U64, &sample, "time 1 of N touches" },
        { "progress", SW_OPT_DBL, &progress, "seconds between progress "
          "lines (0 = none)" },
        { NULL }
    };
    uint64_t bytes, pages, gpages, ngran = 0, nhot_gran, nhot_pages, i, j;
    uint64_t *buf, *pfn, *pfn2, *order, *hot, *frames, t0, tprog, pend;
    uint64_t ops = 0, mism = 0, moved = 0, checksum = 0, phase = 0, nphases;
    uint64_t round = 0;
    Granule *gran;
    int acc, ret, sparse;
    SwRng rng = { seed ^ 0x407 };
    SwLat lat;
    char head[48], attrs[160];
    double secs;

    if (sw_parse_opts("hotset", argc, argv, opts)) {
        return 2;
    }
    if (!strcmp(access, "read")) {
        acc = ACC_READ;
    } else if (!strcmp(access, "write")) {
        acc = ACC_WRITE;
    } else if (!strcmp(access, "mixed")) {
        acc = ACC_MIXED;
    } else {
        printf("SCULPT-CHECK FAIL hotset: --access must be read, write or "
               "mixed\n");
        return 2;
    }
    if (strcmp(layout, "dense") && strcmp(layout, "sparse")) {
        printf("SCULPT-CHECK FAIL hotset: --layout must be dense or sparse\n");
        return 2;
    }
    sparse = !strcmp(layout, "sparse");
    gpages = granule_kib * 1024 / PAGE_SIZE_4K;
    if (!gpages || granule_kib * 1024 % PAGE_SIZE_4K) {
        printf("SCULPT-CHECK FAIL hotset: --granule-kib must be a multiple "
               "of 4\n");
        return 2;
    }
    bytes = mib * MiB;
    pages = bytes / PAGE_SIZE_4K;
    nhot_gran = hot_mib * MiB / (gpages * PAGE_SIZE_4K);
    nphases = shift_secs > 0 ? (uint64_t)(duration / shift_secs + 0.999) : 1;
    if (!nphases) {
        nphases = 1;
    }

    buf = sw_alloc(bytes, true, thp);
    for (i = 0; i < pages * WORDS_PER_PAGE; i++) {
        buf[i] = sw_pattern(seed, i);
    }
    pfn = malloc(pages * 8);
    pfn2 = malloc(pages * 8);
    order = malloc(pages * 8);
    frames = malloc(pages * 8);
    hot = malloc(pages * 8);
    gran = malloc((pages / gpages + 1) * sizeof(Granule));
    ret = read_pfns(buf, pages, pfn);
    if (ret) {
        printf("SCULPT-CHECK FAIL hotset: /proc/self/pagemap: %s "
               "(frames need root)\n", strerror(-ret));
        return 1;
    }

    /* all buffer frames */
    memcpy(frames, pfn, pages * 8);
    print_ranges("SCULPT-BUFFER", "", frames, pages);

    /* page indices sorted by frame; granules wholly owned by the buffer */
    for (i = 0; i < pages; i++) {
        order[i] = (pfn[i] << 20) | i;  /* pages < 2^20 checked below */
    }
    if (pages >= (1ULL << 20)) {
        printf("SCULPT-CHECK FAIL hotset: --mib too large (max 4095)\n");
        return 2;
    }
    qsort(order, pages, sizeof(uint64_t), cmp_u64);
    for (i = 0; i < pages; i = j) {
        uint64_t g = (order[i] >> 20) / gpages;

        for (j = i + 1; j < pages && (order[j] >> 20) / gpages == g &&
             (order[j] >> 20) == (order[j - 1] >> 20) + 1; j++) {
            /* same granule, consecutive frames */
        }
        if (j - i == gpages) {
            gran[ngran++].first = i;
        }
    }
    for (i = 0; i < pages; i++) {
        order[i] &= (1ULL << 20) - 1;
    }
    if (nhot_gran == 0 || nhot_gran * (nphases > 1 ? 2 : 1) > ngran) {
        printf("SCULPT-CHECK FAIL hotset: need %llu whole %llu KiB granules, "
               "the buffer has %llu (raise --mib or lower --hot-mib)\n",
               (unsigned long long)(nhot_gran * (nphases > 1 ? 2 : 1)),
               (unsigned long long)granule_kib, (unsigned long long)ngran);
        return 2;
    }
    /* seeded shuffle of the granules; phase k takes a window of them */
    for (i = ngran - 1; i > 0; i--) {
        Granule t;

        j = sw_rng_below(&rng, i + 1);
        t = gran[i];
        gran[i] = gran[j];
        gran[j] = t;
    }

    sw_lat_init(&lat, sample);
    t0 = tprog = sw_now_ns();
    for (phase = 0; phase < nphases; phase++) {
        /* consecutive phases use disjoint windows of the shuffled granules */
        uint64_t start = (phase % (ngran / nhot_gran)) * nhot_gran;

        nhot_pages = 0;
        for (i = 0; i < nhot_gran; i++) {
            uint64_t f = gran[start + i].first;

            if (sparse) {
                hot[nhot_pages++] = order[f + sw_rng_below(&rng, gpages)];
            } else {
                for (j = 0; j < gpages; j++) {
                    hot[nhot_pages++] = order[f + j];
                }
            }
        }
        qsort(hot, nhot_pages, sizeof(uint64_t), cmp_u64);
        for (i = 0; i < nhot_pages; i++) {
            frames[i] = pfn[hot[i]];
        }
        snprintf(head, sizeof(head), "SCULPT-HOTSET phase=%llu",
                 (unsigned long long)phase);
        snprintf(attrs, sizeof(attrs), "t=%.3f access=%s layout=%s "
                 "granule_kib=%llu", sw_secs_since(t0), access, layout,
                 (unsigned long long)granule_kib);
        print_ranges(head, attrs, frames, nhot_pages);

        pend = t0 + (uint64_t)((phase + 1 == nphases ? duration :
                                (phase + 1) * shift_secs) * 1e9);
        while (sw_now_ns() < pend) {
            uint64_t off = (round * 8) % WORDS_PER_PAGE, sum = 0;

            for (i = 0; i < nhot_pages; i++) {
                uint64_t w = hot[i] * WORDS_PER_PAGE + off;
                uint64_t e = sw_pattern(seed, w), ts = 0;
                bool timed = (ops % lat.every) == 0;
                bool wr = acc == ACC_WRITE || (acc == ACC_MIXED && (i & 1));

                if (timed) {
                    ts = sw_now_ns();
                }
                if (wr) {
                    buf[w] = e;
                } else {
                    uint64_t v = *(volatile uint64_t *)&buf[w];

                    sum += v;
                    mism += v != e;
                }
                if (timed) {
                    sw_lat_add(&lat, sw_now_ns() - ts);
                }
                ops++;
                if ((ops & 1023) == 0 && sw_now_ns() >= pend) {
                    break;
                }
            }
            checksum = sw_fold(checksum, sum);
            round++;
            if (progress > 0 && sw_secs_since(tprog) >= progress) {
                tprog = sw_now_ns();
                printf("SCULPT-PROGRESS name=hotset t=%.1f phase=%llu "
                       "ops=%llu\n", sw_secs_since(t0),
                       (unsigned long long)phase, (unsigned long long)ops);
            }
        }
    }
    secs = sw_secs_since(t0);

    /* the whole buffer must still hold its pattern, at the same frames */
    for (i = 0; i < pages * WORDS_PER_PAGE; i++) {
        mism += buf[i] != sw_pattern(seed, i);
    }
    if (read_pfns(buf, pages, pfn2) == 0) {
        for (i = 0; i < pages; i++) {
            moved += pfn[i] != pfn2[i];
        }
    } else {
        moved = pages;
    }
    printf("SCULPT-RESULT name=hotset access=%s layout=%s mib=%llu "
           "hot_mib=%llu granule_kib=%llu phases=%llu secs=%.3f ops=%llu "
           "ops_per_s=%.1f p99_ns=%llu mismatches=%llu moved_pages=%llu "
           "checksum=0x%016llx\n", access, layout, (unsigned long long)mib,
           (unsigned long long)hot_mib, (unsigned long long)granule_kib,
           (unsigned long long)nphases, secs, (unsigned long long)ops,
           ops / secs, (unsigned long long)sw_lat_pct(&lat, 99),
           (unsigned long long)mism, (unsigned long long)moved,
           (unsigned long long)checksum);
    sw_lat_free(&lat);
    if (mism) {
        sw_check(1, "hotset: data mismatches");
        return 1;
    }
    sw_check(moved != 0, "hotset: buffer frames moved (hot set report "
             "stale)");
    return moved != 0;
}
