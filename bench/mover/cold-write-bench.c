/*
 * cold-write-bench: how fast a block gets into the cold file's page cache
 *
 * The mover pre-copies a run to the cold file before the pause (the pause
 * only compares).  This measures the ways to do that copy, per block, into
 * an unlinked file in the directory given (the cold tier's file system):
 *
 *   mmap+populate  MADV_POPULATE_WRITE the file window, then memcpy
 *   mmap           memcpy into the shared window, faulting page by page
 *   pwrite         pwrite() from the source buffer
 *
 * Each method runs twice over a fresh file: the first pass writes into
 * fallocated (unwritten) space, the second over blocks written before.
 * Between passes the data is written out (fdatasync) and the cache dropped
 * (window PTEs zapped, POSIX_FADV_DONTNEED), as a cold release does.  The
 * data is checked with pread after each pass.
 *
 *   make -C bench/mover && build/bench-mover/cold-write-bench -d DIR
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../bench-util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *dir = "/var/tmp";
    const char *names[] = { "mmap+populate", "mmap", "pwrite" };
    size_t mib = 512, bkib = 2048;
    int c;

    while ((c = getopt(argc, argv, "d:m:b:")) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'm': mib = strtoul(optarg, NULL, 0); break;
        case 'b': bkib = strtoul(optarg, NULL, 0); break;
        default:
            fprintf(stderr, "usage: %s [-d DIR] [-m MiB] [-b block KiB]\n",
                    argv[0]);
            return 2;
        }
    }
    size_t len = mib << 20, bs = bkib << 10, nb = len / bs;
    uint8_t *src = mmap(NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *chk = malloc(bs);
    double *lat = calloc(nb, sizeof(double));

    if (src == MAP_FAILED || !chk || !lat) {
        die("allocating buffers");
    }
    for (size_t i = 0; i < len; i += 8) {
        *(uint64_t *)(src + i) = i * 0x9e3779b97f4a7c15ULL;
    }
    printf("# %zu MiB in %zu KiB blocks into an unlinked file in %s\n",
           mib, bkib, dir);
    printf("%-14s %-12s %9s %9s %9s %9s %12s\n", "method", "pass",
           "ms/block", "p50", "p99", "max", "fdatasync");
    for (int m = 0; m < 3; m++) {
        char path[4096];
        int fd;
        uint8_t *win;

        snprintf(path, sizeof(path), "%s/cold-write-XXXXXX", dir);
        fd = mkstemp(path);
        if (fd < 0) {
            die(path);
        }
        unlink(path);
        if (fallocate(fd, 0, 0, len)) {
            die("fallocate");
        }
        win = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (win == MAP_FAILED) {
            die("mmap of the file");
        }
        for (int pass = 0; pass < 2; pass++) {
            double t0 = now_ms(), t1, t2;

            for (size_t b = 0; b < nb; b++) {
                double a = now_ms();
                uint8_t *d = win + b * bs, *s = src + b * bs;

                if (m == 0) {
                    if (madvise(d, bs, MADV_POPULATE_WRITE)) {
                        die("MADV_POPULATE_WRITE");
                    }
                    memcpy(d, s, bs);
                } else if (m == 1) {
                    memcpy(d, s, bs);
                } else {
                    for (size_t done = 0; done < bs;) {
                        ssize_t n = pwrite(fd, s + done, bs - done,
                                           b * bs + done);
                        if (n <= 0) {
                            die("pwrite");
                        }
                        done += n;
                    }
                }
                lat[b] = now_ms() - a;
            }
            t1 = now_ms();
            if (fdatasync(fd)) {
                die("fdatasync");
            }
            t2 = now_ms();
            madvise(win, len, MADV_DONTNEED);
            posix_fadvise(fd, 0, len, POSIX_FADV_DONTNEED);
            for (size_t b = 0; b < nb; b++) {
                if (pread(fd, chk, bs, b * bs) != (ssize_t)bs ||
                    memcmp(chk, src + b * bs, bs)) {
                    fprintf(stderr, "%s: block %zu differs\n", names[m], b);
                    return 1;
                }
            }
            posix_fadvise(fd, 0, len, POSIX_FADV_DONTNEED);
            qsort(lat, nb, sizeof(double), cmp_double);
            printf("%-14s %-12s %9.3f %9.3f %9.3f %9.3f %9.1f ms\n",
                   names[m], pass ? "overwrite" : "unwritten",
                   (t1 - t0) / nb, lat[nb / 2], lat[nb * 99 / 100],
                   lat[nb - 1], t2 - t1);
        }
        munmap(win, len);
        close(fd);
    }
    printf("# data read back with pread and compared after every pass\n");
    return 0;
}
