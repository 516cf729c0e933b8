/*
 * What a guest's first store to a cold-file page costs, by the page
 * cache's folio size (bench/e2e/README.md, "Where the time goes").
 *
 *   make -C bench/mover
 *   build/bench-mover/mkwrite-cost DIR [MiB]   (DIR on the cold tier's disk)
 *
 * For a mapping with MADV_HUGEPAGE (as QEMU maps guest RAM, and the mover
 * the cold file) and one with MADV_NOHUGEPAGE: write MiB of data to an
 * unlinked file in DIR, write it back and drop it from the page cache,
 * map it shared, read every page (read faults, read-around), then store
 * one byte in every page, timed: each store to a clean file page is a
 * write fault that calls the filesystem's page_mkwrite; then write it back
 * (fdatasync, which write-protects the pages again, as the guard's and the
 * mover's writeback do) and store again, timed.  Then a "fresh"
 * range: fallocated, never written, mapped MADV_RANDOM, stored to at once.
 * Prints the mean per read and per store, and the pages then cached.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * fresh: the file range fallocated and never written (unwritten extents,
 * as a block moved to the cold file empty), mapped MADV_RANDOM and
 * MADV_NOHUGEPAGE as auto mode maps such blocks, stored to without a read
 */
static int run(const char *dir, size_t len, int advice, const char *name,
               int fresh)
{
    long psz = sysconf(_SC_PAGESIZE);
    char path[4096];
    unsigned char *buf, *m;
    volatile unsigned char sink = 0;
    double t0, t1, t2, t3, t4;
    size_t i;
    int fd;

    snprintf(path, sizeof(path), "%s/mkwrite-XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    unlink(path);
    buf = malloc(1 << 20);
    memset(buf, 0x5a, 1 << 20);
    if (fresh && fallocate(fd, 0, 0, len)) {
        perror("fallocate");
        return 1;
    }
    for (i = 0; !fresh && i < len; i += 1 << 20) {
        if (pwrite(fd, buf, 1 << 20, i) != 1 << 20) {
            perror("pwrite");
            return 1;
        }
    }
    free(buf);
    fdatasync(fd);
    posix_fadvise(fd, 0, len, POSIX_FADV_DONTNEED);
    m = mmap(NULL, len + (2 << 20), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    /* a 2 MiB-aligned mapping, as guest RAM is */
    munmap(m, len + (2 << 20));
    m = (unsigned char *)(((uintptr_t)m + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
    m = mmap(m, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED || madvise(m, len, advice) ||
        (fresh && madvise(m, len, MADV_RANDOM))) {
        perror("mmap/madvise");
        return 1;
    }
    t0 = now();
    for (i = 0; !fresh && i < len; i += psz) {
        sink += m[i];
    }
    t1 = now();
    for (i = 0; i < len; i += psz) {
        m[i] = 0xa5;
    }
    t2 = now();
    /* written back, the pages are clean and write-protected again */
    fdatasync(fd);
    t3 = now();
    for (i = 0; i < len; i += psz) {
        m[i] = 0x3c;
    }
    t4 = now();
    {
        unsigned char *vec = malloc(len / psz);
        size_t n = 0;

        mincore(m, len, vec);
        for (i = 0; i < len / psz; i++) {
            n += vec[i] & 1;
        }
        free(vec);
        printf("%-16s read %4.1f us/page, first store %5.2f us/page, "
               "store after writeback %5.2f us/page (%zu pages, %zu cached)\n",
               name, (t1 - t0) * 1e6 / (len / psz),
               (t2 - t1) * 1e6 / (len / psz), (t4 - t3) * 1e6 / (len / psz),
               len / psz, n);
    }
    munmap(m, len);
    close(fd);
    (void)sink;
    return 0;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 64;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [MiB]\n", argv[0]);
        return 2;
    }
    int r = 0;

    for (int rep = 0; rep < 2; rep++) {
        r |= run(argv[1], mib << 20, MADV_HUGEPAGE, "MADV_HUGEPAGE", 0);
        r |= run(argv[1], mib << 20, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE", 0);
        r |= run(argv[1], mib << 20, MADV_NOHUGEPAGE, "fresh, RANDOM", 1);
    }
    return r;
}
