/*
 * sculpt: host memory tiers and the block mover
 *
 * See hostmem.h.  No QEMU headers: this file builds inside QEMU and on
 * its own (sculpt/tests/Makefile, bench/mover/).
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "hostmem.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4      /* Linux 5.7; file mappings since 5.13 */
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#define HM_MPOL_BIND        2
#define HM_MPOL_MF_STRICT   (1 << 0)
#define HM_MPOL_MF_MOVE     (1 << 1)
#define HM_NR_CACHESTAT     451

#define MiB(x) ((unsigned long long)(x) >> 20)

/* ---------------------------------------------------------------------- */
/* Errors and fault injection                                              */

static struct {
    unsigned nth[SCULPT_HM_SYS__MAX];
    int err[SCULPT_HM_SYS__MAX];
    uint64_t count[SCULPT_HM_SYS__MAX];
} hm_inject;

void sculpt_hm_inject_fail(SculptHmSyscall sc, unsigned nth, int err)
{
    hm_inject.nth[sc] = nth;
    hm_inject.err[sc] = err;
}

uint64_t sculpt_hm_syscall_count(SculptHmSyscall sc)
{
    return hm_inject.count[sc];
}

/* true (and errno set) if this call is the injected failure */
static bool hm_injected(SculptHmSyscall sc)
{
    hm_inject.count[sc]++;
    if (hm_inject.nth[sc] && --hm_inject.nth[sc] == 0) {
        errno = hm_inject.err[sc];
        return true;
    }
    return false;
}

static void *hm_mmap(void *addr, size_t len, int prot, int flags, int fd,
                     off_t off)
{
    if (hm_injected(SCULPT_HM_SYS_MMAP)) {
        return MAP_FAILED;
    }
    return mmap(addr, len, prot, flags, fd, off);
}

/* Move [old, old+len) to new, unmapping what was there */
static void *hm_mremap(void *old, size_t len, void *new, int flags)
{
    if (hm_injected(SCULPT_HM_SYS_MREMAP)) {
        return MAP_FAILED;
    }
    return mremap(old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED | flags, new);
}

static int hm_fallocate(int fd, int mode, off_t off, off_t len)
{
    if (hm_injected(SCULPT_HM_SYS_FALLOCATE)) {
        return -1;
    }
    return fallocate(fd, mode, off, len);
}

static int hm_madvise(void *addr, size_t len, int advice)
{
    if (hm_injected(SCULPT_HM_SYS_MADVISE)) {
        return -1;
    }
    return madvise(addr, len, advice);
}

static long hm_mbind(void *addr, unsigned long len, int mode,
                     const unsigned long *nodemask, unsigned long maxnode,
                     unsigned flags)
{
    if (hm_injected(SCULPT_HM_SYS_MBIND)) {
        return -1;
    }
    return syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags);
}

static uint64_t hm_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static const char *hm_madv_name(int advice)
{
    switch (advice) {
    case MADV_DONTNEED: return "MADV_DONTNEED";
    case MADV_HUGEPAGE: return "MADV_HUGEPAGE";
    case MADV_NOHUGEPAGE: return "MADV_NOHUGEPAGE";
    case MADV_RANDOM: return "MADV_RANDOM";
    case MADV_NORMAL: return "MADV_NORMAL";
    case MADV_MERGEABLE: return "MADV_MERGEABLE";
    case MADV_DONTDUMP: return "MADV_DONTDUMP";
    case MADV_DONTFORK: return "MADV_DONTFORK";
    case MADV_WILLNEED: return "MADV_WILLNEED";
    case MADV_PAGEOUT: return "MADV_PAGEOUT";
    case MADV_POPULATE_READ: return "MADV_POPULATE_READ";
    case MADV_POPULATE_WRITE: return "MADV_POPULATE_WRITE";
    default: return "madvise";
    }
}

/* ---------------------------------------------------------------------- */
/* Host facts                                                              */

/*
 * QEMU's own anonymous memory: /proc/self/statm's resident minus shared
 * pages, i.e. the mm's anon-page counter.  Constant time and without the
 * mmap_lock, where smaps_rollup's Anonymous walks every page table (the
 * guest RAM's too) under it; 0 if unreadable.
 */
static uint64_t hm_self_anon(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size, resident, shared;
    int n;

    if (!f) {
        return 0;
    }
    n = fscanf(f, "%llu %llu %llu", &size, &resident, &shared);
    fclose(f);
    if (n != 3 || resident < shared) {
        return 0;
    }
    return (uint64_t)(resident - shared) * sysconf(_SC_PAGESIZE);
}

/* A "Key:   N kB" field of a /proc file, in bytes; 0 if absent */
static uint64_t hm_proc_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[256];
    size_t klen = strlen(key);
    uint64_t kb = 0;

    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            kb = strtoull(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

static void hm_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");

    buf[0] = '\0';
    if (f) {
        if (!fgets(buf, len, f)) {
            buf[0] = '\0';
        }
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
}

static bool hm_swap_active(void)
{
    FILE *f = fopen("/proc/swaps", "r");
    char line[256];
    int lines = 0;

    if (!f) {
        return false;
    }
    while (fgets(line, sizeof(line), f)) {
        lines++;
    }
    fclose(f);
    return lines > 1;
}

/* "ShmemPmdMapped" (etc.) of the VMA starting at addr, in bytes */
static uint64_t hm_smaps_field(const void *addr, const char *key)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    size_t klen = strlen(key);
    bool in = false;
    uint64_t sum = 0;

    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long s, e;

        if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') <
            strchr(line, ' ')) {
            in = (s == (unsigned long)addr);
            continue;
        }
        if (in && !strncmp(line, key, klen) && line[klen] == ':') {
            sum += strtoull(line + klen + 1, NULL, 10) * 1024;
        }
    }
    fclose(f);
    return sum;
}

const char *sculpt_hm_kind_name(SculptHmKind kind)
{
    static const char *const names[SCULPT_HM__MAX] = {
        [SCULPT_HM_HOME] = "home",
        [SCULPT_HM_MEMFD] = "memfd",
        [SCULPT_HM_THP] = "thp",
        [SCULPT_HM_HUGETLB] = "hugetlb",
        [SCULPT_HM_COLD_FILE] = "cold-file",
        [SCULPT_HM_NUMA] = "numa",
        [SCULPT_HM_SWAP] = "swap",
    };

    return kind < SCULPT_HM__MAX ? names[kind] : "?";
}

/* ---------------------------------------------------------------------- */
/* Bitmaps                                                                 */

static bool hm_test(const uint64_t *map, uint64_t i)
{
    return map[i / 64] & (1ULL << (i % 64));
}

static void hm_set_range(uint64_t *map, uint64_t i, uint64_t n, bool v)
{
    for (; n; i++, n--) {
        if (v) {
            map[i / 64] |= 1ULL << (i % 64);
        } else {
            map[i / 64] &= ~(1ULL << (i % 64));
        }
    }
}

static bool hm_range_clear(const uint64_t *map, uint64_t i, uint64_t n)
{
    for (; n; i++, n--) {
        if (hm_test(map, i)) {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Pools                                                                   */

static uint64_t hm_align(const SculptHmPool *pool)
{
    uint64_t a = pool->block_size;

    a = a > pool->page_size ? a : pool->page_size;
    return a > (2ULL << 20) ? a : (2ULL << 20);
}

/* fallocate slots [first, first+n) so no later write can fail */
static int hm_reserve(SculptHmPool *pool, uint64_t first, uint64_t n,
                      char *err, size_t errlen)
{
    uint64_t off = sculpt_hm_slot_offset(pool, first);
    uint64_t len = n * pool->block_size;
    int e;

    /* preallocate: guest writes to these slots must never meet ENOSPC
     * (cold file) or a missing huge page (hugetlb), both a SIGBUS */
    if (hm_fallocate(pool->fd, 0, off, len) == 0) {
        hm_set_range(pool->backed, first, n, true);
        return 0;
    }
    e = errno;
    if (pool->kind == SCULPT_HM_HUGETLB) {
        uint64_t hp = pool->page_size;

        sculpt_errf(err, errlen, "fallocate of %llu MiB on the hugetlb pool "
               "failed: %s; it needs %" PRIu64 " free huge pages of %"
               PRIu64 " kB, %" PRIu64 " are free: raise vm.nr_hugepages "
               "(/proc/sys/vm/nr_hugepages)", MiB(len), strerror(e),
               len / hp, hp >> 10,
               hm_proc_kb("/proc/meminfo", "HugePages_Free") / 1024);
        return e == ENOSPC ? -ENOMEM : -e;
    }
    if (e == EOPNOTSUPP) {
        sculpt_errf(err, errlen, "fallocate of %llu MiB in the cold file "
               "failed: %s: this filesystem cannot preallocate, so guest "
               "writes could meet ENOSPC (a SIGBUS); use a directory on "
               "ext4, xfs, btrfs or tmpfs", MiB(len), strerror(e));
    } else if (e == ENOSPC) {
        struct statvfs sv;
        unsigned long long avail = 0;

        if (fstatvfs(pool->fd, &sv) == 0) {
            avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
        }
        sculpt_errf(err, errlen, "fallocate of %llu KiB in the cold file "
               "failed: %s (%llu MiB free on its filesystem)",
               (unsigned long long)len >> 10, strerror(e), MiB(avail));
    } else {
        sculpt_errf(err, errlen, "fallocate of %llu MiB at offset %llu of the "
               "%s pool failed: %s", MiB(len), (unsigned long long)off,
               sculpt_hm_kind_name(pool->kind), strerror(e));
    }
    return -e;
}

int sculpt_hm_pool_prefault(SculptHmPool *pool, uint64_t slot, uint64_t n,
                            char *err, size_t errlen)
{
    uint8_t *p = pool->window + slot * pool->block_size;
    uint64_t len = n * pool->block_size;

    /* allocate the pages and the window's page tables now, so a move
     * into these slots copies without faulting */
    if (hm_madvise(p, len, MADV_POPULATE_WRITE)) {
        int e = errno;

        sculpt_errf(err, errlen, "madvise(MADV_POPULATE_WRITE) of %llu MiB of "
               "the %s pool window failed: %s", MiB(len),
               sculpt_hm_kind_name(pool->kind), strerror(e));
        return -e;
    }
    hm_set_range(pool->backed, slot, n, true);
    return 0;
}

/* Read one byte every @stride bytes of [p, p+len); their sum. */
static uint64_t hm_read_every(const uint8_t *p, uint64_t len, uint64_t stride)
{
    uint64_t sum = 0, off;

    for (off = 0; off < len; off += stride) {
        sum += *(const volatile uint8_t *)(p + off);
    }
    return sum;
}

int sculpt_hm_pool_write(SculptHmPool *pool, uint64_t slot, const void *src,
                         uint64_t len, char *err, size_t errlen)
{
    uint64_t off = sculpt_hm_slot_offset(pool, slot);
    uint8_t *p = pool->window + slot * pool->block_size;
    uint64_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(pool->fd, (const uint8_t *)src + done, len - done,
                           off + done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;

            sculpt_errf(err, errlen, "pwrite of %llu KiB into the %s pool "
                   "failed: %s", (unsigned long long)len >> 10,
                   sculpt_hm_kind_name(pool->kind), strerror(e));
            return -e;
        }
        done += n;
    }
    hm_set_range(pool->backed, slot, len / pool->block_size, true);
    if (hm_madvise(p, len, MADV_POPULATE_READ) == 0) {
        /*
         * Read it all back, every cache line: the kernel's copy may bypass
         * the CPU cache, and the compare inside the pause then reads memory
         * instead.
         */
        hm_read_every(p, len, 64);
    }
    return 0;
}

int sculpt_hm_pool_zero(SculptHmPool *pool, uint64_t slot, uint64_t n,
                        char *err, size_t errlen)
{
    uint64_t off = sculpt_hm_slot_offset(pool, slot);
    uint64_t len = n * pool->block_size;
    int e;

    if (pool->kind != SCULPT_HM_COLD_FILE) {
        sculpt_errf(err, errlen, "zeroing slots is for the cold file, not "
                    "the %s pool", sculpt_hm_kind_name(pool->kind));
        return -EINVAL;
    }
    /* the blocks stay allocated: a guest write can still not meet ENOSPC */
    if (hm_fallocate(pool->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                     off, len)) {
        e = errno;
        sculpt_errf(err, errlen, "fallocate(FALLOC_FL_ZERO_RANGE) of %llu "
                    "KiB of the cold file failed: %s",
                    (unsigned long long)len >> 10, strerror(e));
        return -e;
    }
    hm_set_range(pool->backed, slot, n, true);
    return 0;
}

int sculpt_hm_range_empty(int fd, uint64_t off, uint64_t len)
{
    off_t d = lseek(fd, off, SEEK_DATA);

    if (d < 0) {
        return errno == ENXIO ? 1 : -errno;
    }
    return (uint64_t)d >= off + len;
}

bool sculpt_hm_loc_empty(const SculptHmLoc *l)
{
    return sculpt_hm_range_empty(l->pool->fd,
                                 sculpt_hm_slot_offset(l->pool, l->slot),
                                 l->pool->block_size) == 1;
}

uint64_t sculpt_hm_locs_empty(const SculptHmLoc *src, uint64_t n)
{
    uint64_t i, empty = 0;

    for (i = 1; i < n; i++) {
        if (src[i].pool != src[0].pool || src[i].slot != src[0].slot + i) {
            break;
        }
    }
    if (n && i == n &&
        sculpt_hm_range_empty(src[0].pool->fd,
                              sculpt_hm_slot_offset(src[0].pool, src[0].slot),
                              n * src[0].pool->block_size) == 1) {
        return n;
    }
    for (i = 0; i < n; i++) {
        empty += sculpt_hm_loc_empty(&src[i]);
    }
    return empty;
}

/* Size the file for nr_slots + add and map the new part of the window */
static int hm_pool_extend(SculptHmPool *pool, uint64_t add, bool prefault,
                          char *err, size_t errlen)
{
    uint64_t bs = pool->block_size;
    uint64_t first = pool->nr_slots;
    uint8_t *p = pool->window + first * bs;
    uint64_t len = add * bs;
    uint64_t old_size = sculpt_hm_slot_offset(pool, first);
    void *m;
    int ret, e;

    if (first + add > pool->max_slots) {
        sculpt_errf(err, errlen, "%s pool: %" PRIu64 " slots requested, the "
               "window reserved %" PRIu64, sculpt_hm_kind_name(pool->kind),
               first + add, pool->max_slots);
        return -ENOSPC;
    }
    if (ftruncate(pool->fd, old_size + len)) {
        e = errno;
        sculpt_errf(err, errlen, "ftruncate of the %s pool to %llu MiB failed: "
               "%s", sculpt_hm_kind_name(pool->kind),
               MiB(old_size + len), strerror(e));
        return -e;
    }
    if (pool->kind == SCULPT_HM_HUGETLB ||
        pool->kind == SCULPT_HM_COLD_FILE) {
        ret = hm_reserve(pool, first, add, err, errlen);
        if (ret) {
            goto fail_truncate;
        }
    }
    /* the window: a shared mapping of the new slots over our reserved,
     * PROT_NONE address range; copies into the pool go through it */
    m = hm_mmap(p, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                pool->fd, old_size);
    if (m == MAP_FAILED) {
        e = errno;
        sculpt_errf(err, errlen, "mmap of %llu MiB of the %s pool window "
               "failed: %s", MiB(len), sculpt_hm_kind_name(pool->kind),
               strerror(e));
        ret = -e;
        goto fail_truncate;
    }
    pool->nr_slots += add;
    if (pool->kind == SCULPT_HM_THP) {
        /* ask for huge pages; shmem honours it only with shmem_enabled
         * "advise" (or always/within_size) */
        if (hm_madvise(p, len, MADV_HUGEPAGE)) {
            e = errno;
            sculpt_errf(err, errlen, "madvise(MADV_HUGEPAGE) of the THP pool "
                   "window failed: %s", strerror(e));
            ret = -e;
            goto fail_unmap;
        }
    }
    if (pool->kind == SCULPT_HM_NUMA) {
        unsigned long mask = 1UL << pool->numa_node;

        /* bind the pool's pages (shmem shared policy: every mapping of
         * this range) to the node before any page is allocated */
        if (hm_mbind(p, len, HM_MPOL_BIND, &mask, sizeof(mask) * 8 + 1,
                     HM_MPOL_MF_STRICT | HM_MPOL_MF_MOVE)) {
            char online[64];

            e = errno;
            hm_read_line("/sys/devices/system/node/online", online,
                         sizeof(online));
            sculpt_errf(err, errlen, "mbind(MPOL_BIND, node %d) of the NUMA "
                   "pool failed: %s; online nodes: %s", pool->numa_node,
                   strerror(e), online[0] ? online : "unknown");
            ret = -e;
            goto fail_unmap;
        }
    }
    if (prefault) {
        ret = sculpt_hm_pool_prefault(pool, first, add, err, errlen);
        if (ret) {
            goto fail_unmap;
        }
    }
    return 0;

fail_unmap:
    pool->nr_slots -= add;
    /* give the range back to the PROT_NONE reservation */
    mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
         MAP_NORESERVE, -1, 0);
fail_truncate:
    hm_set_range(pool->backed, first, add, false);
    if (ftruncate(pool->fd, old_size)) {
        /* the file stays longer than nr_slots says: harmless */
    }
    return ret;
}

static int hm_open_cold(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    int fd, e;

    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        return fd;
    }
    e = errno;
    if (e != EOPNOTSUPP && e != EISDIR && e != EINVAL) {
        sculpt_errf(err, errlen, "open(O_TMPFILE) in %s for the cold tier "
               "failed: %s", dir, strerror(e));
        return -e;
    }
    snprintf(path, sizeof(path), "%s/sculpt-cold-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        sculpt_errf(err, errlen, "mkstemp(%s) for the cold tier failed: %s",
               path, strerror(e));
        return -e;
    }
    if (fchmod(fd, 0600) || unlink(path)) {
        e = errno;
        sculpt_errf(err, errlen, "fchmod/unlink of %s failed: %s", path,
               strerror(e));
        unlink(path);
        close(fd);
        return -e;
    }
    return fd;
}

static int hm_pool_alloc_maps(SculptHmPool *pool, char *err, size_t errlen)
{
    size_t words = (pool->max_slots + 63) / 64;

    pool->used = calloc(words, sizeof(uint64_t));
    pool->backed = calloc(words, sizeof(uint64_t));
    if (!pool->used || !pool->backed) {
        sculpt_errf(err, errlen, "out of memory for the slot bitmaps");
        return -ENOMEM;
    }
    return 0;
}

/* Reserve max_slots * block_size of address space, aligned */
static int hm_reserve_window(SculptHmPool *pool, char *err, size_t errlen)
{
    uint64_t align = hm_align(pool);
    uint64_t len = pool->max_slots * pool->block_size;
    uint8_t *p, *a;

    /* address space only (PROT_NONE, no memory): the window grows into
     * it without moving, and stays aligned for huge pages */
    p = mmap(NULL, len + align, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        int e = errno;

        sculpt_errf(err, errlen, "mmap reserving %llu MiB of address space for "
               "the %s pool window failed: %s", MiB(len + align),
               sculpt_hm_kind_name(pool->kind), strerror(e));
        return -e;
    }
    a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    if (a > p) {
        munmap(p, a - p);
    }
    if (a + len < p + len + align) {
        munmap(a + len, p + len + align - (a + len));
    }
    pool->window = a;
    return 0;
}

int sculpt_hm_pool_create(SculptHmPool *pool, const SculptHmPoolConfig *cfg,
                          char *err, size_t errlen)
{
    const char *name = cfg->name ? cfg->name : "sculpt-pool";
    uint64_t bs = cfg->block_size;
    int ret, e;

    memset(pool, 0, sizeof(*pool));
    pool->fd = -1;
    pool->kind = cfg->kind;
    pool->block_size = bs;
    pool->nr_slots = 0;
    pool->max_slots = cfg->max_slots > cfg->nr_slots ? cfg->max_slots
                                                     : cfg->nr_slots;
    pool->numa_node = cfg->numa_node;
    pool->page_size = sysconf(_SC_PAGESIZE);
    pool->recycle = cfg->kind != SCULPT_HM_COLD_FILE &&
                    cfg->kind != SCULPT_HM_SWAP;
    pool->prefault = !cfg->no_prefault &&
                     (cfg->kind == SCULPT_HM_MEMFD ||
                      cfg->kind == SCULPT_HM_THP ||
                      cfg->kind == SCULPT_HM_NUMA);

    if (cfg->kind <= SCULPT_HM_HOME || cfg->kind >= SCULPT_HM__MAX) {
        sculpt_errf(err, errlen, "pool kind %d cannot be created", cfg->kind);
        return -EINVAL;
    }
    if (bs < SCULPT_HM_MIN_BLOCK || bs > SCULPT_HM_MAX_BLOCK ||
        (bs & (bs - 1))) {
        sculpt_errf(err, errlen, "block size %" PRIu64 " is not a power of two "
               "between 64 KiB and 1 GiB", bs);
        return -EINVAL;
    }
    if (!cfg->nr_slots) {
        sculpt_errf(err, errlen, "a pool needs at least one slot");
        return -EINVAL;
    }
    if (cfg->kind == SCULPT_HM_NUMA &&
        (cfg->numa_node < 0 || cfg->numa_node >= 64)) {
        sculpt_errf(err, errlen, "NUMA node %d out of range 0..63",
               cfg->numa_node);
        return -EINVAL;
    }
    if (cfg->kind == SCULPT_HM_HUGETLB) {
        pool->page_size = hm_proc_kb("/proc/meminfo", "Hugepagesize");
        if (!pool->page_size) {
            sculpt_errf(err, errlen, "no Hugepagesize in /proc/meminfo: this "
                   "kernel has no hugetlb support");
            return -EOPNOTSUPP;
        }
        if (bs < pool->page_size) {
            sculpt_errf(err, errlen, "a hugetlb pool needs blocks of at least "
                   "its huge page size (%" PRIu64 " KiB); the block size "
                   "is %" PRIu64 " KiB", pool->page_size >> 10, bs >> 10);
            return -EINVAL;
        }
    }
    if (cfg->kind == SCULPT_HM_COLD_FILE && !cfg->dir) {
        sculpt_errf(err, errlen, "a cold-file pool needs a directory");
        return -EINVAL;
    }

    if (cfg->kind == SCULPT_HM_COLD_FILE) {
        pool->fd = hm_open_cold(cfg->dir, err, errlen);
        if (pool->fd < 0) {
            ret = pool->fd;
            pool->fd = -1;
            return ret;
        }
    } else {
        unsigned flags = MFD_CLOEXEC;

        if (cfg->kind == SCULPT_HM_HUGETLB) {
            flags |= MFD_HUGETLB;
        }
        pool->fd = memfd_create(name, flags);
        if (pool->fd < 0) {
            e = errno;
            sculpt_errf(err, errlen, "memfd_create(%s%s) for the %s pool "
                   "failed: %s", name,
                   flags & MFD_HUGETLB ? ", MFD_HUGETLB" : "",
                   sculpt_hm_kind_name(cfg->kind), strerror(e));
            pool->fd = -1;
            return -e;
        }
    }
    pool->own_fd = true;

    ret = hm_pool_alloc_maps(pool, err, errlen);
    if (ret) {
        goto fail;
    }
    ret = hm_reserve_window(pool, err, errlen);
    if (ret) {
        goto fail;
    }
    ret = hm_pool_extend(pool, cfg->nr_slots, pool->prefault, err, errlen);
    if (ret) {
        goto fail;
    }

    switch (cfg->kind) {
    case SCULPT_HM_THP: {
        char line[128], mode[16] = "?";
        char *b;
        uint64_t pmd = 0;

        hm_read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
                     line, sizeof(line));
        b = strchr(line, '[');
        if (b) {
            snprintf(mode, sizeof(mode), "%.*s", (int)strcspn(b + 1, "]"),
                     b + 1);
        }
        if (pool->prefault) {
            pmd = hm_smaps_field(pool->window, "ShmemPmdMapped");
        }
        pool->thp_obtained = pmd > 0;
        snprintf(pool->info, sizeof(pool->info), "THP %s: %llu of %llu "
                 "MiB huge (shmem_enabled: %s%s)",
                 pmd ? "obtained" : "NOT obtained", MiB(pmd),
                 MiB(pool->nr_slots * bs), mode,
                 pmd ? "" : "; needs advise, always or within_size");
        break;
    }
    case SCULPT_HM_HUGETLB:
        snprintf(pool->info, sizeof(pool->info), "hugetlb: %llu MiB "
                 "reserved in %" PRIu64 " KiB pages",
                 MiB(pool->nr_slots * bs), pool->page_size >> 10);
        break;
    case SCULPT_HM_SWAP:
        snprintf(pool->info, sizeof(pool->info), "swap: %s",
                 hm_swap_active() ? "active" :
                 "NO swap active: MADV_PAGEOUT will free nothing");
        break;
    case SCULPT_HM_COLD_FILE:
        snprintf(pool->info, sizeof(pool->info), "cold file in %s: %llu "
                 "MiB preallocated", cfg->dir, MiB(pool->nr_slots * bs));
        break;
    default:
        snprintf(pool->info, sizeof(pool->info), "%s: %llu MiB%s",
                 sculpt_hm_kind_name(cfg->kind), MiB(pool->nr_slots * bs),
                 pool->prefault ? " prefaulted" : "");
        break;
    }
    return 0;

fail:
    sculpt_hm_pool_destroy(pool);
    return ret;
}

int sculpt_hm_pool_wrap(SculptHmPool *pool, int fd, uint64_t fd_base,
                        uint64_t nr_blocks, uint64_t block_size,
                        char *err, size_t errlen)
{
    uint64_t len = nr_blocks * block_size;
    void *m;
    int ret;

    memset(pool, 0, sizeof(*pool));
    pool->kind = SCULPT_HM_HOME;
    pool->fd = fd;
    pool->fd_base = fd_base;
    pool->block_size = block_size;
    pool->page_size = sysconf(_SC_PAGESIZE);
    pool->nr_slots = nr_blocks;
    pool->max_slots = nr_blocks;
    pool->recycle = false;
    if (block_size < SCULPT_HM_MIN_BLOCK || (block_size & (block_size - 1))
        || !nr_blocks) {
        sculpt_errf(err, errlen, "bad home geometry: %" PRIu64 " blocks of %"
               PRIu64 " bytes", nr_blocks, block_size);
        return -EINVAL;
    }
    ret = hm_pool_alloc_maps(pool, err, errlen);
    if (ret) {
        goto fail;
    }
    ret = hm_reserve_window(pool, err, errlen);
    if (ret) {
        goto fail;
    }
    /* the home window: a second mapping of the VM's memfd, so blocks can
     * be copied back home while the guest range maps another tier */
    m = hm_mmap(pool->window, len, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_FIXED, fd, fd_base);
    if (m == MAP_FAILED) {
        int e = errno;

        sculpt_errf(err, errlen, "mmap of the home memfd window (%llu MiB) "
               "failed: %s", MiB(len), strerror(e));
        ret = -e;
        goto fail;
    }
    /* blocks copied back home allocate their pages through this window:
     * advise THP as QEMU does on guest RAM (no effect with shmem THP
     * "never"), or a returning block comes back in 4 KiB pages */
    hm_madvise(pool->window, len, MADV_HUGEPAGE);
    hm_set_range(pool->used, 0, nr_blocks, true);
    hm_set_range(pool->backed, 0, nr_blocks, true);
    pool->nr_used = nr_blocks;
    snprintf(pool->info, sizeof(pool->info), "home memfd: %llu MiB",
             MiB(len));
    return 0;

fail:
    pool->fd = -1;
    sculpt_hm_pool_destroy(pool);
    return ret;
}

int sculpt_hm_pool_grow(SculptHmPool *pool, uint64_t add_slots,
                        char *err, size_t errlen)
{
    if (pool->kind == SCULPT_HM_HOME) {
        sculpt_errf(err, errlen, "the home pool cannot grow");
        return -EINVAL;
    }
    return hm_pool_extend(pool, add_slots, pool->prefault, err, errlen);
}

void sculpt_hm_pool_destroy(SculptHmPool *pool)
{
    if (pool->window) {
        munmap(pool->window, pool->max_slots * pool->block_size);
    }
    if (pool->own_fd && pool->fd >= 0) {
        close(pool->fd);
    }
    free(pool->used);
    free(pool->backed);
    memset(pool, 0, sizeof(*pool));
    pool->fd = -1;
}

/* ---------------------------------------------------------------------- */
/* Slots                                                                   */

/*
 * Mark free slots [s, s+n) used.  Hugetlb and cold-file slots are
 * (re)reserved first, so a guest write to them can never fault for lack
 * of a page or a disk block.
 */
static int hm_take(SculptHmPool *pool, uint64_t s, uint64_t n,
                   char *err, size_t errlen)
{
    uint64_t i;
    int ret;

    if (pool->kind == SCULPT_HM_HUGETLB ||
        pool->kind == SCULPT_HM_COLD_FILE) {
        for (i = s; i < s + n; i++) {
            if (!hm_test(pool->backed, i)) {
                ret = hm_reserve(pool, i, 1, err, errlen);
                if (ret) {
                    return ret;
                }
            }
        }
    }
    hm_set_range(pool->used, s, n, true);
    pool->nr_used += n;
    return 0;
}

int sculpt_hm_slot_alloc(SculptHmPool *pool, uint64_t n, uint64_t after,
                         uint64_t *slot, char *err, size_t errlen)
{
    uint64_t s = SCULPT_HM_NO_SLOT, i, run = 0;
    int ret;

    if (!n) {
        sculpt_errf(err, errlen, "zero slots requested");
        return -EINVAL;
    }
    if (after != SCULPT_HM_NO_SLOT && after + 1 + n <= pool->nr_slots &&
        hm_range_clear(pool->used, after + 1, n)) {
        s = after + 1;
    }
    for (i = 0; s == SCULPT_HM_NO_SLOT && i < pool->nr_slots; i++) {
        if (i % 64 == 0 && pool->used[i / 64] == UINT64_MAX) {
            run = 0;
            i += 63;
            continue;
        }
        if (hm_test(pool->used, i)) {
            run = 0;
        } else if (++run == n) {
            s = i + 1 - n;
        }
    }
    if (s == SCULPT_HM_NO_SLOT) {
        sculpt_errf(err, errlen, "%s pool: no run of %" PRIu64 " free slots "
               "(%" PRIu64 " of %" PRIu64 " used)",
               sculpt_hm_kind_name(pool->kind), n, pool->nr_used,
               pool->nr_slots);
        return -ENOSPC;
    }
    ret = hm_take(pool, s, n, err, errlen);
    if (ret == 0) {
        *slot = s;
    }
    return ret;
}

int sculpt_hm_slot_claim(SculptHmPool *pool, uint64_t slot, uint64_t n,
                         char *err, size_t errlen)
{
    if (!n || slot + n > pool->nr_slots ||
        !hm_range_clear(pool->used, slot, n)) {
        sculpt_errf(err, errlen, "%s pool: slots %" PRIu64 "+%" PRIu64 " are "
               "not all free", sculpt_hm_kind_name(pool->kind), slot, n);
        return -EBUSY;
    }
    return hm_take(pool, slot, n, err, errlen);
}

int sculpt_hm_punch(int fd, uint64_t off, uint64_t len,
                    char *err, size_t errlen)
{
    /* free the old backing's pages (or disk blocks); the size stays */
    if (hm_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     off, len)) {
        int e = errno;

        sculpt_errf(err, errlen, "fallocate(PUNCH_HOLE) of %llu KiB at offset "
               "%llu of fd %d failed: %s", (unsigned long long)len >> 10,
               (unsigned long long)off, fd, strerror(e));
        return -e;
    }
    return 0;
}

int sculpt_hm_slot_release(SculptHmPool *pool, uint64_t slot, uint64_t n,
                           bool recycle, char *err, size_t errlen)
{
    int ret = 0;

    if (slot + n > pool->nr_slots) {
        sculpt_errf(err, errlen, "release of slots %" PRIu64 "+%" PRIu64
               " beyond the %s pool", slot, n,
               sculpt_hm_kind_name(pool->kind));
        return -EINVAL;
    }
    if (!recycle && pool->kind != SCULPT_HM_HUGETLB) {
        ret = sculpt_hm_punch(pool->fd, sculpt_hm_slot_offset(pool, slot),
                              n * pool->block_size, err, errlen);
        if (ret == 0) {
            hm_set_range(pool->backed, slot, n, false);
            if (pool->kind == SCULPT_HM_COLD_FILE) {
                /* the punch dropped stale page cache without writeback;
                 * re-reserve now, or the next alloc will */
                hm_reserve(pool, slot, n, NULL, 0);
            }
        }
        /* a failed punch leaves the pages: the slot is simply recycled */
    }
    hm_set_range(pool->used, slot, n, false);
    pool->nr_used -= n;
    return ret;
}

/* ---------------------------------------------------------------------- */
/* Copy, remap, attributes                                                 */

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void hm_copy_nt_avx2(void *dst, const void *src, size_t len)
{
    __m256i *d = dst;
    const __m256i *s = src;
    size_t i, n = len / 32;

    for (i = 0; i < n; i += 4) {
        __m256i a = _mm256_load_si256(s + i);
        __m256i b = _mm256_load_si256(s + i + 1);
        __m256i c = _mm256_load_si256(s + i + 2);
        __m256i e = _mm256_load_si256(s + i + 3);

        _mm_prefetch((const char *)(s + i) + 512, _MM_HINT_NTA);
        _mm256_stream_si256(d + i, a);
        _mm256_stream_si256(d + i + 1, b);
        _mm256_stream_si256(d + i + 2, c);
        _mm256_stream_si256(d + i + 3, e);
    }
    _mm_sfence();
}

static void hm_copy_nt_sse2(void *dst, const void *src, size_t len)
{
    __m128i *d = dst;
    const __m128i *s = src;
    size_t i, n = len / 16;

    for (i = 0; i < n; i += 4) {
        __m128i a = _mm_load_si128(s + i);
        __m128i b = _mm_load_si128(s + i + 1);
        __m128i c = _mm_load_si128(s + i + 2);
        __m128i e = _mm_load_si128(s + i + 3);

        _mm_stream_si128(d + i, a);
        _mm_stream_si128(d + i + 1, b);
        _mm_stream_si128(d + i + 2, c);
        _mm_stream_si128(d + i + 3, e);
    }
    _mm_sfence();
}
#endif

void sculpt_hm_copy(void *dst, const void *src, size_t len, bool nt)
{
#if defined(__x86_64__)
    if (nt && !(((uintptr_t)dst | (uintptr_t)src | len) & 127)) {
        static int avx2 = -1;

        if (avx2 < 0) {
            __builtin_cpu_init();
            avx2 = __builtin_cpu_supports("avx2");
        }
        if (avx2) {
            hm_copy_nt_avx2(dst, src, len);
        } else {
            hm_copy_nt_sse2(dst, src, len);
        }
        return;
    }
#endif
    (void)nt;
    memcpy(dst, src, len);
}

uint64_t sculpt_hm_copy_fix(void *dst, const void *src, size_t len,
                            uint64_t limit)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    uint64_t fixed = 0, *diff = NULL;
    size_t off, n, pg;

    /*
     * With a limit, compare first and write nothing when it is passed: the
     * first store into a clean page of a file costs a write fault
     * (page_mkwrite), far more than comparing the page.  The pages found
     * different are remembered, so that none is compared twice (nothing
     * else writes either buffer meanwhile: the caller's pause).
     */
    if (limit != UINT64_MAX) {
        diff = calloc((len + 4095) / 4096 / 64 + 1, sizeof(*diff));
        for (off = 0, pg = 0; off < len && fixed <= limit; off += n, pg++) {
            n = len - off < 4096 ? len - off : 4096;
            if (memcmp(d + off, s + off, n)) {
                fixed += n;
                if (diff) {
                    diff[pg / 64] |= 1ULL << (pg % 64);
                }
            }
        }
        if (fixed > limit) {
            free(diff);
            return fixed;
        }
        if (diff) {
            for (off = 0, pg = 0; off < len; off += n, pg++) {
                n = len - off < 4096 ? len - off : 4096;
                if (diff[pg / 64] & (1ULL << (pg % 64))) {
                    memcpy(d + off, s + off, n);
                }
            }
            free(diff);
            return fixed;
        }
        fixed = 0;          /* no memory for the list: compare again */
    }
    for (off = 0; off < len; off += n) {
        n = len - off < 4096 ? len - off : 4096;
        if (memcmp(d + off, s + off, n)) {
            memcpy(d + off, s + off, n);
            fixed += n;
        }
    }
    return fixed;
}

static int hm_madv(uint8_t *host, uint64_t len, int advice,
                   char *err, size_t errlen)
{
    /* one per-VMA attribute; the caller's comment says why */
    if (hm_madvise(host, len, advice)) {
        int e = errno;

        sculpt_errf(err, errlen, "madvise(%s) of %llu KiB at %p failed: %s",
               hm_madv_name(advice), (unsigned long long)len >> 10,
               (void *)host, strerror(e));
        return -e;
    }
    return 0;
}

int sculpt_hm_apply_attrs(uint8_t *host, uint64_t len,
                          const SculptHmPool *pool,
                          const SculptHmVmaAttrs *attrs,
                          char *err, size_t errlen)
{
    bool huge = pool->kind == SCULPT_HM_HUGETLB;
    int ret;

    /* a THP pool's huge folios are PMD-mapped only in VM_HUGEPAGE VMAs */
    if ((pool->kind == SCULPT_HM_THP || (attrs && attrs->hugepage)) &&
        !huge) {
        ret = hm_madv(host, len, MADV_HUGEPAGE, err, errlen);
        if (ret) {
            return ret;
        }
    }
    if (!attrs) {
        return 0;
    }
    /* KSM (merge=on): a no-op on shared mappings, kept for fidelity;
     * hugetlb VMAs refuse it */
    if (attrs->mergeable && !huge) {
        ret = hm_madv(host, len, MADV_MERGEABLE, err, errlen);
        if (ret) {
            return ret;
        }
    }
    /* dump=off: keep guest RAM out of core dumps */
    if (attrs->dontdump) {
        ret = hm_madv(host, len, MADV_DONTDUMP, err, errlen);
        if (ret) {
            return ret;
        }
    }
    /* QEMU keeps guest RAM out of fork()ed children */
    if (attrs->dontfork) {
        ret = hm_madv(host, len, MADV_DONTFORK, err, errlen);
        if (ret) {
            return ret;
        }
    }
    /* the memdev's host-nodes/policy; a NUMA pool keeps its own binding
     * and a cold file's page cache is not bound */
    if (attrs->mbind && pool->kind != SCULPT_HM_NUMA &&
        pool->kind != SCULPT_HM_COLD_FILE) {
        unsigned long mask = attrs->nodemask;

        if (hm_mbind(host, len, attrs->mpol_mode,
                     attrs->nodemask ? &mask : NULL,
                     attrs->nodemask ? SCULPT_HM_MAX_NODES + 1 : 0,
                     attrs->mpol_flags)) {
            int e = errno;

            sculpt_errf(err, errlen, "mbind(mode %d, nodes 0x%llx) of %llu KiB "
                   "at %p failed: %s", attrs->mpol_mode,
                   (unsigned long long)attrs->nodemask,
                   (unsigned long long)len >> 10, (void *)host,
                   strerror(e));
            return -e;
        }
    }
    if (attrs->locked) {
        /* mem-lock=on: keep the new backing resident */
        if (mlock(host, len)) {
            int e = errno;

            sculpt_errf(err, errlen, "mlock of %llu KiB at %p failed: %s",
                   (unsigned long long)len >> 10, (void *)host,
                   strerror(e));
            return -e;
        }
    }
    return 0;
}

static int hm_map_fixed(uint8_t *host, uint64_t len, SculptHmPool *pool,
                        uint64_t slot, char *err, size_t errlen)
{
    uint64_t off = sculpt_hm_slot_offset(pool, slot);
    void *m;

    /* the move itself: the same guest address now maps the pool slots;
     * KVM follows through its MMU notifier, TCG through the same HVA */
    m = hm_mmap(host, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                pool->fd, off);
    if (m == MAP_FAILED) {
        int e = errno;

        sculpt_errf(err, errlen, "mmap(MAP_FIXED) of %llu KiB of the %s pool "
               "(offset %llu) over %p failed: %s",
               (unsigned long long)len >> 10,
               sculpt_hm_kind_name(pool->kind), (unsigned long long)off,
               (void *)host, strerror(e));
        return -e;
    }
    return 0;
}

int sculpt_hm_remap(uint8_t *host, uint64_t len, SculptHmPool *pool,
                    uint64_t slot, const SculptHmVmaAttrs *attrs,
                    char *err, size_t errlen)
{
    int ret = hm_map_fixed(host, len, pool, slot, err, errlen);

    if (ret) {
        return ret;
    }
    return sculpt_hm_apply_attrs(host, len, pool, attrs, err, errlen);
}

/* Length in blocks of the source run starting at src[i] */
static uint64_t hm_src_run(const SculptHmLoc *src, uint64_t i, uint64_t n)
{
    uint64_t j = i + 1;

    while (j < n && src[j].pool == src[i].pool &&
           src[j].slot == src[i].slot + (j - i)) {
        j++;
    }
    return j - i;
}

/*
 * Map the sources back over the range; 0 or the first error of a mapping.
 * Once the sources are mapped the guest uses them, whatever else fails:
 * their attributes are applied as far as they go, not reported (else the
 * caller would take the run for moved and release the sources it maps).
 */
static int hm_restore(uint8_t *host, const SculptHmLoc *src, uint64_t n,
                      const SculptHmVmaAttrs *attrs, uint32_t *mmaps,
                      char *err, size_t errlen)
{
    uint64_t i, k;
    int ret = 0, r;

    for (i = 0; i < n; i += k) {
        SculptHmPool *p = src[i].pool;
        uint64_t bs = p->block_size;

        k = hm_src_run(src, i, n);
        (*mmaps)++;
        r = hm_map_fixed(host + i * bs, k * bs, p, src[i].slot,
                         ret ? NULL : err, errlen);
        if (r && !ret) {
            ret = r;
        } else if (!r) {
            sculpt_hm_apply_attrs(host + i * bs, k * bs, p, attrs, NULL, 0);
        }
    }
    return ret;
}

/* Is every page of [host, host+len) mapped? (msync fails on holes) */
static bool hm_range_mapped(uint8_t *host, uint64_t len)
{
    return msync(host, len, MS_ASYNC) == 0;
}

/*
 * Runs shorter than this are remapped the old way even with
 * SCULPT_HM_TRANSFER: below a page table's reach each mremap splits VMAs
 * like the mmap it replaces and costs about as much as the entries it
 * saves (64 KiB blocks moved one by one: 0.20x of memcpy with it, 0.29x
 * without, refaults included 0.19x both; bench/mover/RESULTS.md).
 */
#define HM_TRANSFER_MIN (2ULL << 20)

/*
 * Pools a guest mapping can take page-table entries from, and give them
 * back to: memfds whose window is a plain shared mapping.  Not hugetlb
 * (VM_DONTEXPAND: the kernel refuses MREMAP_DONTUNMAP), nor the cold
 * file and swap pools, whose release zaps and drops through the window.
 */
static bool hm_can_transfer(const SculptHmPool *p)
{
    return p->kind == SCULPT_HM_HOME || p->kind == SCULPT_HM_MEMFD ||
           p->kind == SCULPT_HM_THP || p->kind == SCULPT_HM_NUMA;
}

/*
 * SCULPT_HM_TRANSFER, inside the pause, before the remap: each source run
 * in a memfd pool goes to its own pool's window, at its slots (the same
 * file and offsets: still a valid window; what was mapped there only
 * mapped the same pages).  Its page-table entries leave the guest range
 * without being torn down (mremap moves whole page tables where 2 MiB
 * aligned), and the release after the pause punches the pages and their
 * entries together.  Best effort: a run the kernel will not move (say, it
 * spans two VMAs) is unmapped by the remap instead, as without the flag.
 * Not when a source is mlock()ed: the window would keep the lock.
 */
static void hm_move_out_sources(const SculptHmMove *mv,
                                SculptHmMoveResult *res)
{
    uint64_t bs = mv->dst->block_size, i, k;

    if ((mv->attrs && mv->attrs->locked) ||
        (mv->flags & (SCULPT_HM_SRC_LOCKED | SCULPT_HM_SRC_STAY))) {
        return;
    }
    for (i = 0; i < mv->nblocks; i += k) {
        const SculptHmLoc *s = &mv->src[i];

        k = hm_src_run(mv->src, i, mv->nblocks);
        if (!hm_can_transfer(s->pool) || s->pool->kind == SCULPT_HM_NUMA ||
            k * bs < HM_TRANSFER_MIN) {
            continue;   /* (a NUMA window keeps its binding, not ours) */
        }
        if (hm_mremap(mv->host + i * bs, k * bs,
                      s->pool->window + s->slot * bs, 0) == MAP_FAILED) {
            return;     /* the rest is replaced where it is */
        }
        res->mremaps++;
    }
}

/*
 * SCULPT_HM_TRANSFER, the remap itself for a destination in DRAM: the
 * page-table entries the copy built in the destination's window move to
 * the guest address with MREMAP_DONTUNMAP, which leaves the window mapped,
 * empty.  The guest then does not fault the run in again.  0 when the
 * guest range maps the destination; else the caller maps it with
 * mmap(MAP_FIXED), which also fills the holes the sources left (and if
 * that fails too, hm_restore() maps the sources back).
 */
static int hm_take_window(const SculptHmMove *mv, SculptHmMoveResult *res)
{
    SculptHmPool *dst = mv->dst;
    uint64_t len = mv->nblocks * dst->block_size;
    uint8_t *win = dst->window + mv->dst_slot * dst->block_size;
    SculptHmVmaAttrs wa;

    /*
     * The window's range gets the guest's settings first (no page is
     * touched), so what arrives matches its neighbours and merges with
     * them, and the windows, which take the sources' mappings, stay
     * uniform instead of fragmenting.  Not mlock: the window is not kept.
     */
    if (mv->attrs) {
        wa = *mv->attrs;
        wa.locked = false;
        if (sculpt_hm_apply_attrs(win, len, dst, &wa, NULL, 0)) {
            return -1;
        }
    }
    if (hm_mremap(win, len, mv->host, MREMAP_DONTUNMAP) == MAP_FAILED) {
        return -1;
    }
    res->mremaps++;
    res->transferred = true;
    return 0;
}

int sculpt_hm_release_sources(const SculptHmLoc *src, uint64_t nblocks,
                              char *err, size_t errlen)
{
    uint64_t i, k;
    int ret = 0, r;

    for (i = 0; i < nblocks; i += k) {
        k = hm_src_run(src, i, nblocks);
        r = sculpt_hm_slot_release(src[i].pool, src[i].slot, k,
                                   src[i].pool->recycle,
                                   ret ? NULL : err, errlen);
        if (r && !ret) {
            ret = r;
        }
    }
    return ret;
}

int sculpt_hm_move_run(const SculptHmMove *mv, SculptHmMoveResult *res,
                       char *err, size_t errlen)
{
    SculptHmPool *dst = mv->dst;
    uint64_t bs = dst->block_size;
    uint64_t len = mv->nblocks * bs;
    uint8_t *win;
    uint64_t t0, t1, i, limit;
    SculptHmVmaAttrs lock_only = { 0 };
    char err2[256];
    int ret, r;

    memset(res, 0, sizeof(*res));
    res->where = SCULPT_HM_AT_SRC;

    if (!mv->nblocks || !mv->src ||
        mv->dst_slot + mv->nblocks > dst->nr_slots) {
        sculpt_errf(err, errlen, "bad move: %" PRIu64 " blocks to slot %" PRIu64
               " of a %" PRIu64 "-slot %s pool", mv->nblocks, mv->dst_slot,
               dst->nr_slots, sculpt_hm_kind_name(dst->kind));
        return -EINVAL;
    }
    /*
     * Only the destination's page size matters to mmap(); guest RAM of a
     * memory-backend-memfd is page aligned, not block aligned.
     */
    if ((uintptr_t)mv->host % dst->page_size) {
        sculpt_errf(err, errlen, "guest address %p is not aligned to the %s "
               "pool's page size %" PRIu64, (void *)mv->host,
               sculpt_hm_kind_name(dst->kind), dst->page_size);
        return -EINVAL;
    }
    for (i = 0; i < mv->nblocks; i++) {
        const SculptHmLoc *s = &mv->src[i];

        if (!s->pool || s->pool->block_size != bs ||
            s->slot >= s->pool->nr_slots ||
            (s->pool == dst && s->slot >= mv->dst_slot &&
             s->slot < mv->dst_slot + mv->nblocks)) {
            sculpt_errf(err, errlen, "bad source for block %" PRIu64 " of the "
                   "run: slot %" PRIu64 " (block sizes must match, the "
                   "run cannot overlap its own sources)", i, s->slot);
            return -EINVAL;
        }
        if (!hm_test(dst->used, mv->dst_slot + i)) {
            sculpt_errf(err, errlen, "destination slot %" PRIu64 " of the %s "
                   "pool is not allocated", mv->dst_slot + i,
                   sculpt_hm_kind_name(dst->kind));
            return -EINVAL;
        }
    }
    if (mv->attrs && mv->attrs->locked &&
        (dst->kind == SCULPT_HM_COLD_FILE || dst->kind == SCULPT_HM_SWAP)) {
        sculpt_errf(err, errlen, "refusing to move locked guest RAM "
               "(mem-lock=on) to the %s tier: locked pages cannot be "
               "paged out", sculpt_hm_kind_name(dst->kind));
        return -EPERM;
    }

    /* 1. copy through the destination's window (never pwrite: hugetlb) */
    t0 = hm_now_ns();
    win = dst->window + mv->dst_slot * bs;
    limit = mv->fix_limit ? mv->fix_limit : UINT64_MAX;
    if (mv->flags & SCULPT_HM_DST_ZERO &&
        sculpt_hm_locs_empty(mv->src, mv->nblocks) == mv->nblocks) {
        res->blocks_empty = mv->nblocks;        /* zeros at both ends */
    } else if (mv->flags & SCULPT_HM_DST_ZERO) {
        /* some source got data since the zeroing: block by block */
        for (i = 0; i < mv->nblocks && res->bytes_fixed <= limit; i++) {
            if (sculpt_hm_loc_empty(&mv->src[i])) {
                res->blocks_empty++;
                continue;
            }
            res->bytes_fixed += sculpt_hm_copy_fix(win + i * bs,
                                                   mv->host + i * bs, bs,
                                                   limit == UINT64_MAX ?
                                                   UINT64_MAX :
                                                   limit - res->bytes_fixed);
        }
    } else if (mv->flags & SCULPT_HM_VERIFY_COPY) {
        res->bytes_fixed = sculpt_hm_copy_fix(win, mv->host, len, limit);
    } else {
        sculpt_hm_copy(win, mv->host, len, mv->flags & SCULPT_HM_NT_COPY);
    }
    hm_set_range(dst->backed, mv->dst_slot, mv->nblocks, true);
    t1 = hm_now_ns();
    res->ns_copy = t1 - t0;
    if (res->bytes_fixed > limit) {
        /* Nothing remapped: the guest still runs on the sources. */
        sculpt_errf(err, errlen, "the guest rewrote more than %" PRIu64
                    " KiB of the run since it was copied outside the pause",
                    limit >> 10);
        return -EAGAIN;
    }

    /* 2. remap the guest range onto the destination slots */
    ret = -1;
    if ((mv->flags & SCULPT_HM_TRANSFER) && len >= HM_TRANSFER_MIN) {
        hm_move_out_sources(mv, res);
        if (hm_can_transfer(dst)) {
            ret = hm_take_window(mv, res);
        }
    }
    if (ret) {
        res->mmaps++;
        ret = hm_map_fixed(mv->host, len, dst, mv->dst_slot, err, errlen);
    }
    t0 = hm_now_ns();
    res->ns_remap = t0 - t1;
    if (ret) {
        /* kernels restore the old VMAs on a failed MAP_FIXED, or leave a
         * hole: fill a hole from the untouched sources */
        if (!hm_range_mapped(mv->host, len)) {
            r = hm_restore(mv->host, mv->src, mv->nblocks, mv->attrs,
                           &res->mmaps, err2, sizeof(err2));
            if (r) {
                sculpt_errf(err, errlen, "remap failed and left a hole, then "
                       "restoring it failed too: %s; the sources are "
                       "intact, NOT released", err2);
                return r;
            }
        }
        return ret;
    }

    /*
     * 3. the per-VMA state MAP_FIXED dropped; a range handed over came
     * with it (hm_take_window() set it on the window), all but mlock
     */
    if (res->transferred && mv->attrs) {
        lock_only.locked = mv->attrs->locked;
        ret = sculpt_hm_apply_attrs(mv->host, len, dst, &lock_only,
                                    err, errlen);
    } else {
        ret = sculpt_hm_apply_attrs(mv->host, len, dst, mv->attrs,
                                    err, errlen);
    }
    t1 = hm_now_ns();
    res->ns_attrs = t1 - t0;
    if (ret && (mv->flags & SCULPT_HM_SRC_STAY)) {
        /*
         * The guest runs and may have written to the destination since
         * the remap (nothing protects it): mapping the sources back would
         * lose that.  The data is complete there; only settings are
         * missing.
         */
        size_t l = err ? strlen(err) : 0;

        res->where = SCULPT_HM_AT_DST;
        if (err && l < errlen) {
            snprintf(err + l, errlen - l, "; the guest runs on the "
                     "destination, so the run stays there, complete");
        }
        return ret;
    }
    if (ret) {
        r = hm_restore(mv->host, mv->src, mv->nblocks, mv->attrs,
                       &res->mmaps, err2, sizeof(err2));
        if (r) {
            size_t l = err ? strlen(err) : 0;

            res->where = SCULPT_HM_AT_DST;
            if (err && l < errlen) {
                snprintf(err + l, errlen - l, "; mapping the sources back "
                         "failed too (%s): the run stays at the "
                         "destination, complete, sources NOT released",
                         err2);
            }
        }
        return ret;
    }
    res->where = SCULPT_HM_AT_DST;

    /* 4. optionally build the new page tables now instead of refaulting
     * in the guest (not for cold files: it would dirty the page cache) */
    if ((mv->flags & SCULPT_HM_POPULATE) && !res->transferred &&
        dst->kind != SCULPT_HM_COLD_FILE && dst->kind != SCULPT_HM_SWAP) {
        /* prefault the new mapping; failure only costs refaults later */
        hm_madvise(mv->host, len, MADV_POPULATE_WRITE);
    }
    t0 = hm_now_ns();
    res->ns_populate = t0 - t1;

    /* 5. only now may the old backing go */
    if (!(mv->flags & SCULPT_HM_DEFER_RELEASE)) {
        res->release_err = sculpt_hm_release_sources(mv->src, mv->nblocks,
                                                     err, errlen);
        res->released = true;
    }
    res->ns_release = hm_now_ns() - t0;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Cold tier                                                               */

/*
 * Drop the page cache of a cold file's free slots: readahead from guest
 * faults and prefetches reads past the blocks in use (the test saw 24 MiB
 * of cached free slots), and those pages hold no data anyone needs.
 */
static void hm_trim_free(SculptHmPool *pool)
{
    uint64_t i = 0, j;

    while (i < pool->nr_slots) {
        if (i % 64 == 0 && pool->used[i / 64] == UINT64_MAX) {
            i += 64;
            continue;
        }
        if (hm_test(pool->used, i)) {
            i++;
            continue;
        }
        for (j = i; j < pool->nr_slots && !hm_test(pool->used, j); j++) {
            /* the free run */
        }
        /* clean, unmapped cache pages: dropping them loses nothing */
        posix_fadvise(pool->fd, sculpt_hm_slot_offset(pool, i),
                      (j - i) * pool->block_size, POSIX_FADV_DONTNEED);
        i = j;
    }
}

/* Write the cold file's [off, off+len) out; with @wait, wait for it. */
static int hm_cold_sync(SculptHmPool *pool, uint64_t off, uint64_t len,
                        bool wait, char *err, size_t errlen)
{
    int e;

    if (sync_file_range(pool->fd, off, len,
                        wait ? SYNC_FILE_RANGE_WAIT_BEFORE |
                               SYNC_FILE_RANGE_WRITE |
                               SYNC_FILE_RANGE_WAIT_AFTER :
                               SYNC_FILE_RANGE_WRITE)) {
        e = errno;
        sculpt_errf(err, errlen, "sync_file_range of the cold file failed: "
                    "%s", strerror(e));
        return -e;
    }
    return 0;
}

/*
 * @drop: sculpt_hm_cold_drop() (auto mode's sculpt thread, blocks the guest
 * may be touching), else sculpt_hm_cold_release() (the mover, after a move).
 */
static int hm_cold_release(SculptHmPool *pool, uint8_t *host,
                           uint64_t slot, uint64_t n, uint64_t *still_cached,
                           bool drop, char *err, size_t errlen)
{
    uint64_t off = sculpt_hm_slot_offset(pool, slot);
    uint64_t len = n * pool->block_size;
    uint8_t *win = pool->window + slot * pool->block_size;
    int64_t cached;
    int ret, e;

    if (still_cached) {
        *still_cached = 0;
    }
    if (pool->kind != SCULPT_HM_COLD_FILE && pool->kind != SCULPT_HM_SWAP) {
        sculpt_errf(err, errlen, "cold release on a %s pool",
               sculpt_hm_kind_name(pool->kind));
        return -EINVAL;
    }
    if (drop && pool->kind == SCULPT_HM_COLD_FILE && host) {
        /*
         * The guest may be touching these pages right now: between a zap
         * and the fadvise it maps some back, and a mapped folio cannot be
         * dropped.  So write the range out, unmap the window, and let
         * MADV_PAGEOUT unmap and reclaim each clean folio under its lock;
         * what it skips (redirtied meanwhile) goes the usual way below.
         */
        ret = hm_cold_sync(pool, off, len, true, err, errlen);
        if (!ret) {
            ret = hm_madv(win, len, MADV_DONTNEED, err, errlen);
        }
        if (!ret) {
            ret = hm_madv(host, len, MADV_PAGEOUT, err, errlen);
        }
        if (ret) {
            return ret;
        }
    }
    /* drop the guest's page-table entries: on a shared file mapping the
     * data stays in the file, but mapped pages cannot be dropped/paged */
    if (host) {
        ret = hm_madv(host, len, MADV_DONTNEED, err, errlen);
        if (ret) {
            return ret;
        }
    }
    if (pool->kind == SCULPT_HM_SWAP) {
        /* the copy left the pages mapped only by the window: page them
         * out from there (mapcount 1, so MADV_PAGEOUT takes them) */
        ret = hm_madv(win, len, MADV_PAGEOUT, err, errlen);
        if (ret) {
            return ret;
        }
        /* and then zap the window's entries of whatever stayed */
        ret = hm_madv(win, len, MADV_DONTNEED, err, errlen);
    } else {
        /*
         * Page-cache folios can be larger than a block (ext4 uses up to
         * 2 MiB) and fadvise skips a folio that sticks out of its range:
         * widen the window zap and the fadvise to 2 MiB boundaries.  Pages
         * the guest still maps stay; dropping other clean cold pages is
         * harmless.
         */
        uint64_t end = pool->fd_base + pool->nr_slots * pool->block_size;
        uint64_t lo = off & ~((2ULL << 20) - 1);
        uint64_t hi = (off + len + (2ULL << 20) - 1) & ~((2ULL << 20) - 1);

        lo = lo < pool->fd_base ? pool->fd_base : lo;
        hi = hi > end ? end : hi;
        /* the window maps the pages too (the copy wrote through it) */
        ret = hm_madv(pool->window + (lo - pool->fd_base), hi - lo,
                      MADV_DONTNEED, err, errlen);
        if (ret) {
            return ret;
        }
        off = lo;
        len = hi - lo;
        /*
         * Dirty pages cannot be dropped: write them out first.  A range
         * sync is enough for that (the file is unlinked and not meant to
         * survive us; its extents were allocated up front).  Not
         * fdatasync: that writes every dirty page of the file, and with
         * the guest writing blocks it paged back in, one 2 MiB move's
         * release could wait for hundreds of MiB.
         */
        ret = hm_cold_sync(pool, off, len, true, err, errlen);
        if (ret) {
            return ret;
        }
        e = posix_fadvise(pool->fd, off, len, POSIX_FADV_DONTNEED);
        if (e) {
            sculpt_errf(err, errlen, "posix_fadvise(DONTNEED) of %llu MiB of "
                   "the cold file failed: %s", MiB(len), strerror(e));
            return -e;
        }
        if (!drop) {
            /* (not from the sculpt thread: the slot map is the mover's) */
            hm_trim_free(pool);
        }
    }
    if (ret) {
        return ret;
    }
    cached = sculpt_hm_cached_pages(pool->fd, off, len, NULL);
    if (still_cached && cached > 0) {
        *still_cached = cached;
    }
    if (pool->kind == SCULPT_HM_SWAP && cached > 0 && !hm_swap_active()) {
        sculpt_errf(err, errlen, "MADV_PAGEOUT kept %" PRId64 " pages in DRAM: "
               "no swap is active", cached);
    }
    return 0;
}

int sculpt_hm_cold_release(SculptHmPool *pool, uint8_t *host,
                           uint64_t slot, uint64_t n, uint64_t *still_cached,
                           char *err, size_t errlen)
{
    return hm_cold_release(pool, host, slot, n, still_cached, false,
                           err, errlen);
}

int sculpt_hm_cold_drop(SculptHmPool *pool, uint8_t *host, uint64_t slot,
                        uint64_t n, char *err, size_t errlen)
{
    return hm_cold_release(pool, host, slot, n, NULL, true, err, errlen);
}

int sculpt_hm_cold_writeout(SculptHmPool *pool, uint64_t slot, uint64_t n,
                            bool wait, char *err, size_t errlen)
{
    if (pool->kind != SCULPT_HM_COLD_FILE) {
        return 0;
    }
    return hm_cold_sync(pool, sculpt_hm_slot_offset(pool, slot),
                        n * pool->block_size, wait, err, errlen);
}

uint64_t sculpt_hm_touch(const uint8_t *p, uint64_t len)
{
    return hm_read_every(p, len, sysconf(_SC_PAGESIZE));
}

int sculpt_hm_cold_advise(uint8_t *host, uint64_t len, bool scattered,
                          const SculptHmVmaAttrs *attrs,
                          char *err, size_t errlen)
{
    int ret = 0;

    /*
     * In a VM_HUGEPAGE file mapping every fault reads one or two PMD-sized
     * folios around the faulting page, whatever read_ahead_kb or
     * MADV_RANDOM say (do_sync_mmap_readahead()); without it, MADV_RANDOM
     * turns read-around off: a fault reads its page only.  Only the
     * hugepage flag QEMU set is toggled: the advice restores what it was.
     */
    if (attrs && attrs->hugepage) {
        ret = hm_madv(host, len, scattered ? MADV_NOHUGEPAGE : MADV_HUGEPAGE,
                      err, errlen);
    }
    if (!ret) {
        ret = hm_madv(host, len, scattered ? MADV_RANDOM : MADV_NORMAL,
                      err, errlen);
    }
    return ret;
}

int sculpt_hm_prefetch(uint8_t *host, uint64_t len, bool sync,
                       char *err, size_t errlen)
{
    /* sync: read the range in and map it now; else start readahead */
    return hm_madv(host, len, sync ? MADV_POPULATE_READ : MADV_WILLNEED,
                   err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Accounting                                                              */

struct hm_cachestat_range {
    uint64_t off;
    uint64_t len;
};

struct hm_cachestat {
    uint64_t nr_cache;
    uint64_t nr_dirty;
    uint64_t nr_writeback;
    uint64_t nr_evicted;
    uint64_t nr_recently_evicted;
};

int64_t sculpt_hm_cached_pages(int fd, uint64_t off, uint64_t len,
                               const uint8_t *map)
{
    struct hm_cachestat_range r = { off, len };
    struct hm_cachestat cs;
    long psz = sysconf(_SC_PAGESIZE);
    unsigned char vec[4096];
    uint64_t done, sum = 0;

    if (syscall(HM_NR_CACHESTAT, fd, &r, &cs, 0) == 0) {
        return cs.nr_cache;
    }
    if (!map) {
        return -EOPNOTSUPP;
    }
    for (done = 0; done < len; done += sizeof(vec) * psz) {
        uint64_t chunk = len - done;
        uint64_t i, np;

        chunk = chunk > sizeof(vec) * psz ? sizeof(vec) * psz : chunk;
        np = (chunk + psz - 1) / psz;
        /* on a file mapping mincore reports page-cache residency */
        if (mincore((void *)(map + done), chunk, vec)) {
            return -errno;
        }
        for (i = 0; i < np; i++) {
            sum += vec[i] & 1;
        }
    }
    return sum;
}

int sculpt_hm_dram(SculptHmPool *const *pools, size_t npools,
                   SculptHmDram *out, char *err, size_t errlen)
{
    int ret = sculpt_hm_dram_pools(pools, npools, out, err, errlen);

    if (!ret) {
        out->anon = hm_self_anon();
        out->total += out->anon;
    }
    return ret;
}

/* A pool's blocks allocated in its file (st_blocks), in bytes */
static int hm_pool_allocated(const SculptHmPool *p, uint64_t *bytes,
                             char *err, size_t errlen)
{
    struct stat st;

    if (fstat(p->fd, &st)) {
        int e = errno;

        sculpt_errf(err, errlen, "fstat of the %s pool fd %d failed: %s",
                    sculpt_hm_kind_name(p->kind), p->fd, strerror(e));
        return -e;
    }
    *bytes = (uint64_t)st.st_blocks * 512;
    return 0;
}

/*
 * A pool's pages in the page cache: cachestat(), else mincore() over its
 * window (@used_cachestat cleared then); -errno if neither works.
 */
static int64_t hm_pool_cached(const SculptHmPool *p, bool *used_cachestat,
                              char *err, size_t errlen)
{
    uint64_t len = p->nr_slots * p->block_size;
    int64_t pages = sculpt_hm_cached_pages(p->fd, p->fd_base, len, NULL);

    if (pages < 0) {
        *used_cachestat = false;
        pages = sculpt_hm_cached_pages(-1, p->fd_base, len, p->window);
    }
    if (pages < 0) {
        sculpt_errf(err, errlen, "cachestat and mincore both failed on "
                    "the %s pool: %s", sculpt_hm_kind_name(p->kind),
                    strerror((int)-pages));
    }
    return pages;
}

int sculpt_hm_dram_bound(SculptHmPool *const *pools, size_t npools,
                         uint64_t *bound, char *err, size_t errlen)
{
    uint64_t sum = 0;
    bool used_cachestat = true;   /* (not reported) */
    size_t i;

    for (i = 0; i < npools; i++) {
        uint64_t bytes = 0;
        int64_t pages;
        int ret;

        if (pools[i]->kind != SCULPT_HM_COLD_FILE) {
            ret = hm_pool_allocated(pools[i], &bytes, err, errlen);
            if (ret) {
                return ret;
            }
            sum += bytes;
            continue;
        }
        /* its blocks are preallocated on disk: only its cache is DRAM */
        pages = hm_pool_cached(pools[i], &used_cachestat, err, errlen);
        if (pages < 0) {
            return (int)pages;
        }
        sum += (uint64_t)pages * sysconf(_SC_PAGESIZE);
    }
    *bound = sum;
    return 0;
}

int sculpt_hm_dram_pools(SculptHmPool *const *pools, size_t npools,
                         SculptHmDram *out, char *err, size_t errlen)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->used_cachestat = true;
    for (i = 0; i < npools; i++) {
        SculptHmPool *p = pools[i];
        uint64_t alloc = 0;
        int64_t pages;
        int ret = hm_pool_allocated(p, &alloc, err, errlen);

        if (ret) {
            return ret;
        }
        if (p->kind == SCULPT_HM_HUGETLB) {
            out->hugetlb += alloc;
            continue;
        }
        pages = hm_pool_cached(p, &out->used_cachestat, err, errlen);
        if (pages < 0) {
            return (int)pages;
        }
        if (p->kind == SCULPT_HM_COLD_FILE) {
            out->file_cache += pages * sysconf(_SC_PAGESIZE);
        } else {
            out->shmem += pages * sysconf(_SC_PAGESIZE);
            out->shmem_alloc += alloc;
        }
    }
    out->total = out->shmem + out->hugetlb + out->file_cache;
    return 0;
}

long sculpt_hm_count_vmas(const void *host, uint64_t size)
{
    FILE *f = fopen("/proc/self/maps", "r");
    uintptr_t lo = (uintptr_t)host, hi = lo + size;
    char line[512];
    long n = 0;

    if (!f) {
        return -errno;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long s, e;

        if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s < hi && e > lo) {
            n++;
        }
    }
    fclose(f);
    return n;
}

/* ---------------------------------------------------------------------- */
/* Memory cgroup                                                           */

/*
 * @line of /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
 * [TAGS...] - FSTYPE SOURCE SUPEROPTS".  Whether it mounts the memory
 * controller (v1: a "cgroup" mount with "memory" in its options; v2:
 * "cgroup2"), and its root and mount point.
 */
static bool hm_memcg_mount(char *line, bool v1, char **root, char **mnt)
{
    char *sep = strstr(line, " - "), *save = NULL, *f[5], *fstype, *opts, *o;

    if (!sep) {
        return false;
    }
    *sep = '\0';
    f[0] = strtok_r(line, " ", &save);
    for (int i = 1; i < 5; i++) {
        f[i] = f[i - 1] ? strtok_r(NULL, " ", &save) : NULL;
    }
    if (!f[4]) {
        return false;
    }
    save = NULL;
    fstype = strtok_r(sep + 3, " ", &save);
    (void)strtok_r(NULL, " ", &save);
    opts = strtok_r(NULL, " \n", &save);
    if (!fstype || strcmp(fstype, v1 ? "cgroup" : "cgroup2")) {
        return false;
    }
    if (v1) {
        save = NULL;
        for (o = opts ? strtok_r(opts, ",", &save) : NULL; o;
             o = strtok_r(NULL, ",", &save)) {
            if (!strcmp(o, "memory")) {
                break;
            }
        }
        if (!o) {
            return false;
        }
    }
    *root = f[3];
    *mnt = f[4];
    return true;
}

int sculpt_hm_memcg_open(SculptHmMemcg *m, char *err, size_t errlen)
{
    char line[1024], cg[512] = "", dir[sizeof(m->path)];
    size_t base = 0;
    bool v1 = false;
    FILE *f;

    memset(m, 0, sizeof(*m));
    f = fopen("/proc/self/cgroup", "re");
    if (!f) {
        int e = errno;

        sculpt_errf(err, errlen, "/proc/self/cgroup: %s", strerror(e));
        return -e;
    }
    /* "ID:CONTROLLERS:PATH"; v1's memory line wins over v2's "0::PATH". */
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        char *save = NULL, *ctl;
        bool mem = false, v2 = false;

        if (!c2) {
            continue;
        }
        c2[strcspn(c2, "\n")] = '\0';
        *c1 = *c2 = '\0';
        v2 = !strcmp(line, "0") && c2 == c1 + 1;
        for (ctl = strtok_r(c1 + 1, ",", &save); ctl;
             ctl = strtok_r(NULL, ",", &save)) {
            mem |= !strcmp(ctl, "memory");
        }
        if (mem || v2) {
            snprintf(cg, sizeof(cg), "%s", c2 + 1);
        }
        if (mem) {
            v1 = true;
            break;
        }
    }
    fclose(f);
    if (!cg[0]) {
        return 0;
    }
    f = fopen("/proc/self/mountinfo", "re");
    if (!f) {
        int e = errno;

        sculpt_errf(err, errlen, "/proc/self/mountinfo: %s", strerror(e));
        return -e;
    }
    dir[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        char *root, *mnt;
        size_t rl;

        if (!hm_memcg_mount(line, v1, &root, &mnt)) {
            continue;
        }
        /* The path is the hierarchy's; a mount may show a subtree of it
         * (in a container, say). */
        rl = strcmp(root, "/") ? strlen(root) : 0;
        if (rl && strncmp(cg, root, rl)) {
            continue;
        }
        base = strlen(mnt);
        snprintf(dir, sizeof(dir), "%s%s", mnt,
                 strcmp(cg + rl, "/") ? cg + rl : "");
        break;
    }
    fclose(f);
    snprintf(m->path, sizeof(m->path), "%s", dir);
    /* From the process's own cgroup up to the hierarchy's root. */
    while (dir[0] && m->nr < SCULPT_HM_MEMCG_LEVELS) {
        char lp[sizeof(dir) + 32], up[sizeof(dir) + 32];
        char *slash;
        int lfd, ufd = -1;

        snprintf(lp, sizeof(lp), "%s/%s", dir,
                 v1 ? "memory.limit_in_bytes" : "memory.max");
        snprintf(up, sizeof(up), "%s/%s", dir,
                 v1 ? "memory.usage_in_bytes" : "memory.current");
        lfd = open(lp, O_RDONLY | O_CLOEXEC);
        if (lfd >= 0) {
            ufd = open(up, O_RDONLY | O_CLOEXEC);
            if (ufd < 0) {
                close(lfd);
            }
        }
        if (ufd >= 0) {
            m->limit_fd[m->nr] = lfd;
            m->usage_fd[m->nr] = ufd;
            m->nr++;
        }
        slash = strrchr(dir, '/');
        if (strlen(dir) <= base || !slash || (size_t)(slash - dir) < base) {
            break;
        }
        *slash = '\0';
    }
    return 0;
}

void sculpt_hm_memcg_close(SculptHmMemcg *m)
{
    for (int i = 0; i < m->nr; i++) {
        close(m->limit_fd[i]);
        close(m->usage_fd[i]);
    }
    m->nr = 0;
}

/* A cgroup file's number, or UINT64_MAX for "max" or if unreadable */
static uint64_t hm_memcg_read(int fd)
{
    char buf[32];
    ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);

    if (r <= 0) {
        return UINT64_MAX;
    }
    buf[r] = '\0';
    return strncmp(buf, "max", 3) ? strtoull(buf, NULL, 10) : UINT64_MAX;
}

bool sculpt_hm_memcg_room(const SculptHmMemcg *m, uint64_t *room,
                          uint64_t *limit)
{
    bool found = false;

    for (int i = 0; i < m->nr; i++) {
        uint64_t lim = hm_memcg_read(m->limit_fd[i]), use, r;

        /* v1 spells "no limit" as the page counter's maximum, ~2^63 */
        if (lim >= (1ULL << 62)) {
            continue;
        }
        use = hm_memcg_read(m->usage_fd[i]);
        if (use == UINT64_MAX) {
            continue;
        }
        r = lim > use ? lim - use : 0;
        if (!found || r < *room) {
            *room = r;
            *limit = lim;
        }
        found = true;
    }
    return found;
}
