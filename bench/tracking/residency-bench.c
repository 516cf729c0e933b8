/*
 * How auto mode should read which pages of each block are in DRAM:
 * mincore() over the guest RAM mapping (in 4 MiB pieces, as sculpt does
 * under mm_lock) against cachestat(2) of each block's range in the file
 * behind it (sculpt-auto.c, sculpt_auto_residency()).
 *
 * A file of -g GiB in -d DIR (unlinked at once), mapped MAP_SHARED; the
 * first -c percent of it is written through the mapping (so cached and
 * mapped), the rest is allocated but neither cached nor mapped, as for
 * the blocks of a cold file that were dropped.  Prints the median over -r
 * passes of each method and checks that both count the same pages.
 *
 *   residency-bench [-d dir] [-g GiB] [-b block KiB] [-c cached %] [-r runs]
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../bench-util.h"

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

struct cs_range {
    uint64_t off, len;
};

struct cs_stat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

int main(int argc, char **argv)
{
    const char *dir = "/var/tmp";
    uint64_t gib = 1, block_kib = 2048, cached_pct = 25;
    int runs = 7, opt, fd;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t size, bs, chunk = 4 << 20;
    char path[4096];
    uint8_t *map;
    unsigned char *vec;
    double *t_mc, *t_cs;
    uint64_t pages_mc = 0, pages_cs = 0;

    while ((opt = getopt(argc, argv, "d:g:b:c:r:")) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'g': gib = strtoull(optarg, NULL, 0); break;
        case 'b': block_kib = strtoull(optarg, NULL, 0); break;
        case 'c': cached_pct = strtoull(optarg, NULL, 0); break;
        case 'r': runs = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-d dir] [-g GiB] [-b block KiB] "
                    "[-c cached %%] [-r runs]\n", argv[0]);
            return 2;
        }
    }
    size = gib << 30;
    bs = block_kib << 10;
    if (!size || !bs || size % bs || bs % page || cached_pct > 100 ||
        runs < 1) {
        fprintf(stderr, "residency-bench: bad arguments\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/residency-bench.XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "residency-bench: %s: %s\n", path, strerror(errno));
        return 1;
    }
    unlink(path);
    if (fallocate(fd, 0, 0, size)) {
        fprintf(stderr, "residency-bench: fallocate: %s\n", strerror(errno));
        return 1;
    }
    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        fprintf(stderr, "residency-bench: mmap: %s\n", strerror(errno));
        return 1;
    }
    for (uint64_t off = 0; off < size / 100 * cached_pct; off += page) {
        map[off] = 1;
    }
    vec = malloc(size / page);
    t_mc = calloc(runs, sizeof(*t_mc));
    t_cs = calloc(runs, sizeof(*t_cs));
    if (!vec || !t_mc || !t_cs) {
        return 1;
    }
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();

        pages_mc = 0;
        for (uint64_t off = 0; off < size; off += chunk) {
            if (mincore(map + off, chunk, vec + off / page)) {
                fprintf(stderr, "residency-bench: mincore: %s\n",
                        strerror(errno));
                return 1;
            }
        }
        for (uint64_t p = 0; p < size / page; p++) {
            pages_mc += vec[p] & 1;
        }
        t_mc[r] = now_ms() - t0;

        t0 = now_ms();
        pages_cs = 0;
        for (uint64_t off = 0; off < size; off += bs) {
            struct cs_range range = { off, bs };
            struct cs_stat st;

            if (syscall(__NR_cachestat, fd, &range, &st, 0)) {
                fprintf(stderr, "residency-bench: cachestat: %s\n",
                        strerror(errno));
                return 1;
            }
            pages_cs += st.nr_cache;
        }
        t_cs[r] = now_ms() - t0;
    }
    qsort(t_mc, runs, sizeof(*t_mc), cmp_double);
    qsort(t_cs, runs, sizeof(*t_cs), cmp_double);
    printf("residency-bench: %" PRIu64 " GiB file in %s, %" PRIu64 "%% "
           "written, %" PRIu64 " KiB blocks, median of %d passes\n",
           gib, dir, cached_pct, block_kib, runs);
    printf("  mincore over the mapping (4 MiB pieces): %8.2f ms, "
           "%" PRIu64 " pages in DRAM\n", t_mc[runs / 2], pages_mc);
    printf("  cachestat per block:                     %8.2f ms, "
           "%" PRIu64 " pages in DRAM\n", t_cs[runs / 2], pages_cs);
    printf("  ratio %.1fx, counts %s\n", t_mc[runs / 2] / t_cs[runs / 2],
           pages_mc == pages_cs ? "equal" : "DIFFER");
    return pages_mc == pages_cs ? 0 : 1;
}
