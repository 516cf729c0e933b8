/*
 * sculpt-work blkcheck / mkdisk: device writes into guest RAM, verified
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The disk holds sw_pattern(seed, byte_offset / 8) in every 8-byte word;
 * "mkdisk FILE MIB SEED" writes it on the host.  blkcheck reads random
 * extents of the disk with O_DIRECT (so the device writes straight into the
 * buffers) into a pool of buffers poisoned before each read, and verifies
 * every word; a forked child runs memtest's continuous mode at the same time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sculpt-work.h"

#define POISON 0xdeadbeefdeadbeefULL
#define MAX_REPORTED 10

int cmd_mkdisk(int argc, char **argv)
{
    uint64_t mib, seed, off, i, *buf;
    int fd;

    if (argc != 4) {
        fprintf(stderr, "usage: sculpt-work mkdisk FILE MIB SEED\n");
        return 2;
    }
    mib = strtoull(argv[2], NULL, 0);
    seed = strtoull(argv[3], NULL, 0);
    fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "mkdisk: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    buf = malloc(MiB);
    for (off = 0; off < mib * MiB; off += MiB) {
        for (i = 0; i < MiB / 8; i++) {
            buf[i] = sw_pattern(seed, off / 8 + i);
        }
        if (pwrite(fd, buf, MiB, off) != (ssize_t)MiB) {
            fprintf(stderr, "mkdisk: write %s: %s\n", argv[1],
                    strerror(errno));
            return 1;
        }
    }
    if (fsync(fd) || close(fd)) {
        fprintf(stderr, "mkdisk: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    free(buf);
    return 0;
}

int cmd_blkcheck(int argc, char **argv)
{
    const char *dev = "/dev/vda";
    uint64_t seed = 1, disk_mib = 0, buf_mib = 16, io_kib = 256;
    uint64_t mem_mib = 64, chunk_kib = 256, sample = 1, direct = 1;
    double duration = 10, progress = 0;
    const SwOpt opts[] = {
        { "dev", SW_OPT_STR, &dev, "disk holding the mkdisk pattern" },
        { "seed", SW_OPT_U64, &seed, "seed the disk was made with (the "
          "memtest child uses seed+1000)" },
        { "disk-mib", SW_OPT_U64, &disk_mib, "MiB of the disk to read "
          "(0 = all)" },
        { "duration", SW_OPT_DBL, &duration, "seconds" },
        { "buf-mib", SW_OPT_U64, &buf_mib, "MiB of read buffers" },
        { "io-kib", SW_OPT_U64, &io_kib, "size of one read" },
        { "direct", SW_OPT_U64, &direct, "1 = O_DIRECT reads" },
        { "mem-mib", SW_OPT_U64, &mem_mib, "MiB for concurrent memtest "
          "(0 = none)" },
        { "chunk-kib", SW_OPT_U64, &chunk_kib, "memtest chunk size" },
        { "progress", SW_OPT_DBL, &progress, "seconds between progress "
          "lines (0 = none)" },
        { "sample", SW_OPT_U64, &sample, "time 1 of N reads" },
        { NULL }
    };
    uint64_t io_bytes, disk_bytes, nslots, nextents, ops = 0, mism = 0;
    uint64_t reported = 0, checksum = 0, bytes_read = 0, t0, tprog;
    uint64_t *pool;
    pid_t child = -1;
    int fd, status, child_fail = 0, io_errors = 0;
    SwRng rng = { seed ^ 0xb10c };
    SwLat lat;
    off_t end;
    double secs;

    if (sw_parse_opts("blkcheck", argc, argv, opts)) {
        return 2;
    }
    io_bytes = io_kib * 1024;
    if (!io_bytes || io_bytes % PAGE_SIZE_4K || (buf_mib * MiB) % io_bytes) {
        printf("SCULPT-CHECK FAIL blkcheck: --io-kib must be a multiple of "
               "4 that divides --buf-mib\n");
        return 2;
    }
    fd = open(dev, O_RDONLY | (direct ? O_DIRECT : 0));
    if (fd < 0 && direct && errno == EINVAL) {
        direct = 0;
        fd = open(dev, O_RDONLY);
    }
    if (fd < 0) {
        printf("SCULPT-CHECK FAIL blkcheck: open %s: %s\n", dev,
               strerror(errno));
        return 1;
    }
    end = lseek(fd, 0, SEEK_END);
    disk_bytes = disk_mib ? disk_mib * MiB : (uint64_t)end;
    if (end < 0 || disk_bytes > (uint64_t)end || disk_bytes < io_bytes) {
        printf("SCULPT-CHECK FAIL blkcheck: %s is %lld bytes, need %llu\n",
               dev, (long long)end, (unsigned long long)disk_bytes);
        return 1;
    }
    nextents = disk_bytes / io_bytes;
    nslots = buf_mib * MiB / io_bytes;

    if (mem_mib) {
        child = fork();
        if (child == 0) {
            SwMemtestResult r;
            int ret = sw_memtest_continuous(mem_mib, seed + 1000, duration,
                                            chunk_kib, progress, 16, &r);

            if (ret >= 0) {
                sw_memtest_print(&r, mem_mib, chunk_kib, seed + 1000);
            }
            fflush(stdout);
            _exit(ret ? 1 : 0);
        }
        if (child < 0) {
            printf("SCULPT-CHECK FAIL blkcheck: fork: %s\n", strerror(errno));
            return 1;
        }
    }

    pool = sw_alloc(buf_mib * MiB, false, false);
    sw_lat_init(&lat, sample);
    t0 = tprog = sw_now_ns();
    while (sw_secs_since(t0) < duration) {
        uint64_t ext = sw_rng_below(&rng, nextents);
        uint64_t slot = sw_rng_below(&rng, nslots);
        uint64_t *b = pool + slot * (io_bytes / 8);
        uint64_t first = ext * io_bytes / 8, i, sum = 0, ts = 0;
        bool timed = (ops % lat.every) == 0;
        ssize_t n;

        for (i = 0; i < io_bytes / 8; i++) {
            b[i] = POISON;
        }
        if (timed) {
            ts = sw_now_ns();
        }
        n = pread(fd, b, io_bytes, ext * io_bytes);
        if (timed) {
            sw_lat_add(&lat, sw_now_ns() - ts);
        }
        if (n != (ssize_t)io_bytes) {
            if (io_errors++ < MAX_REPORTED) {
                printf("SCULPT-IOERROR name=blkcheck off=0x%llx ret=%zd "
                       "err=%s\n", (unsigned long long)(ext * io_bytes), n,
                       n < 0 ? strerror(errno) : "short read");
            }
            continue;
        }
        for (i = 0; i < io_bytes / 8; i++) {
            uint64_t e = sw_pattern(seed, first + i);

            sum += b[i];
            if (b[i] != e) {
                if (reported++ < MAX_REPORTED) {
                    printf("SCULPT-MISMATCH name=blkcheck disk_off=0x%llx "
                           "expect=0x%016llx got=0x%016llx\n",
                           (unsigned long long)((first + i) * 8),
                           (unsigned long long)e, (unsigned long long)b[i]);
                }
                mism++;
            }
        }
        checksum = sw_fold(checksum, sum);
        bytes_read += io_bytes;
        ops++;
        if (progress > 0 && sw_secs_since(tprog) >= progress) {
            tprog = sw_now_ns();
            printf("SCULPT-PROGRESS name=blkcheck t=%.1f read_mib=%llu "
                   "mismatches=%llu\n", sw_secs_since(t0),
                   (unsigned long long)(bytes_read / MiB),
                   (unsigned long long)mism);
        }
    }
    secs = sw_secs_since(t0);
    close(fd);

    if (child > 0) {
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
            WEXITSTATUS(status)) {
            child_fail = 1;
        }
    }
    printf("SCULPT-RESULT name=blkcheck dev=%s direct=%llu seed=%llu "
           "secs=%.3f ops=%llu ops_per_s=%.1f mib_per_s=%.1f p99_ns=%llu "
           "read_mib=%llu io_errors=%d mismatches=%llu checksum=0x%016llx\n",
           dev, (unsigned long long)direct, (unsigned long long)seed, secs,
           (unsigned long long)ops, ops / secs, bytes_read / (double)MiB / secs,
           (unsigned long long)sw_lat_pct(&lat, 99),
           (unsigned long long)(bytes_read / MiB), io_errors,
           (unsigned long long)mism, (unsigned long long)checksum);
    sw_lat_free(&lat);
    if (mism || io_errors || !ops) {
        sw_check(1, mism ? "blkcheck: disk data mismatches" :
                 io_errors ? "blkcheck: read errors" : "blkcheck: no reads");
        return 1;
    }
    sw_check(child_fail, "blkcheck: concurrent memtest failed");
    return child_fail;
}
