/*
 * sculpt: host memory tiers and the block mover
 *
 * Pure POSIX/Linux C (gnu11), no QEMU headers: it builds inside QEMU's
 * system_ss and on its own with "cc" (sculpt/tests/, bench/mover/).
 *
 * Vocabulary
 *   block   a power-of-two piece of guest RAM, 64 KiB .. 1 GiB
 *   pool    one backing file (memfd, hugetlb memfd, cold file) cut into
 *           block-sized slots; every pool keeps a "window" mapping of its
 *           whole backing through which data is copied in
 *   home    the VM's own memory-backend-memfd, wrapped as a pool whose
 *           slot i is guest block i (sculpt_hm_pool_wrap())
 *   run     n blocks contiguous in guest space that go to n contiguous
 *           slots of one destination pool: one mmap() moves it
 *
 * Threading: a pool is not thread-safe; the caller serialises (QEMU: the
 * main loop, with or without the BQL).  The fault-injection state is
 * process-global and test-only.
 *
 * Errors: functions return 0 or a negative errno and, when err is not
 * NULL, write a message naming the syscall, its object and the reason
 * into err[errlen].
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef SCULPT_HOSTMEM_H
#define SCULPT_HOSTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCULPT_HM_MIN_BLOCK     (64 * 1024ULL)
#define SCULPT_HM_MAX_BLOCK     (1024 * 1024 * 1024ULL)
#define SCULPT_HM_NO_SLOT       UINT64_MAX
#define SCULPT_HM_MAX_NODES     64      /* bits in SculptHmVmaAttrs.nodemask */

typedef enum SculptHmKind {
    SCULPT_HM_HOME,         /* the VM's own memfd (wrapped, not created) */
    SCULPT_HM_MEMFD,        /* plain memfd, prefaulted */
    SCULPT_HM_THP,          /* memfd + MADV_HUGEPAGE */
    SCULPT_HM_HUGETLB,      /* MFD_HUGETLB, all huge pages reserved */
    SCULPT_HM_COLD_FILE,    /* unlinked 0600 file, fallocated whole */
    SCULPT_HM_NUMA,         /* memfd bound to one node with mbind */
    SCULPT_HM_SWAP,         /* memfd whose blocks are paged out */
    SCULPT_HM__MAX,
} SculptHmKind;

typedef struct SculptHmPoolConfig {
    SculptHmKind kind;
    uint64_t block_size;    /* power of two, 64 KiB .. 1 GiB */
    uint64_t nr_slots;      /* slots created (and backed) now */
    uint64_t max_slots;     /* address space reserved for growth; 0: same */
    const char *name;       /* memfd name, for /proc/PID/maps; may be NULL */
    const char *dir;        /* COLD_FILE: directory of the unlinked file */
    int numa_node;          /* NUMA: node the pages are bound to */
    bool no_prefault;       /* MEMFD/THP/NUMA: skip MADV_POPULATE_WRITE */
} SculptHmPoolConfig;

typedef struct SculptHmPool {
    SculptHmKind kind;
    int fd;
    bool own_fd;            /* close fd in sculpt_hm_pool_destroy() */
    uint64_t fd_base;       /* file offset of slot 0 */
    uint64_t block_size;
    uint64_t page_size;     /* backing page size (huge page for HUGETLB) */
    uint64_t nr_slots;
    uint64_t max_slots;
    uint64_t nr_used;
    int numa_node;
    bool recycle;           /* released slots keep their pages */
    bool prefault;          /* populate slots when the pool grows */
    bool thp_obtained;      /* THP: huge pages really back the window */
    uint8_t *window;        /* max_slots reserved, nr_slots mapped */
    uint64_t *used;         /* bitmap: slot handed out */
    uint64_t *backed;       /* bitmap: slot has pages/blocks allocated */
    char info[192];         /* what the pool got, e.g. "THP NOT obtained" */
} SculptHmPool;

/* Where one guest block currently lives */
typedef struct SculptHmLoc {
    SculptHmPool *pool;
    uint64_t slot;
} SculptHmLoc;

/*
 * Per-VMA state QEMU had set on guest RAM.  mmap(MAP_FIXED) drops all of
 * it, so it is re-applied after every remap.  userfaultfd registration is
 * dropped too and is NOT handled here: the caller re-registers the range
 * (after populating it, see docs) once sculpt_hm_move_run() returns.
 */
typedef struct SculptHmVmaAttrs {
    bool mergeable;         /* MADV_MERGEABLE (QEMU merge=on) */
    bool dontdump;          /* MADV_DONTDUMP (QEMU dump=off) */
    bool hugepage;          /* MADV_HUGEPAGE (QEMU always asks) */
    bool dontfork;          /* MADV_DONTFORK (QEMU, unless qtest) */
    bool locked;            /* mlock() (-overcommit mem-lock=on) */
    bool mbind;             /* apply mode/nodemask below */
    int mpol_mode;          /* MPOL_* as in <numaif.h> */
    unsigned mpol_flags;    /* MPOL_MF_* */
    uint64_t nodemask;      /* bit n: node n */
} SculptHmVmaAttrs;

/* Flags of SculptHmMove */
enum {
    SCULPT_HM_DEFER_RELEASE = 1 << 0, /* caller releases the sources */
    SCULPT_HM_POPULATE      = 1 << 1, /* prefault the new mapping */
    SCULPT_HM_NT_COPY       = 1 << 2, /* non-temporal copy loop */
    /*
     * The destination slots already hold a copy made outside the pause
     * (with the guest running): compare page by page and copy only the
     * pages that differ.  Every byte is still checked inside the pause,
     * no dirty bitmap is trusted; a page cache destination (cold file)
     * is then mostly read, not written, while the vCPUs wait.
     */
    SCULPT_HM_VERIFY_COPY   = 1 << 3,
    /*
     * With VERIFY_COPY: the destination slots were zeroed outside the
     * pause (sculpt_hm_pool_zero()) for sources that held no data then.
     * A source that still holds none (sculpt_hm_range_empty(): no page,
     * none in swap) is neither read nor compared, so a hole stays a hole;
     * any other is compared and fixed like a pre-copy.
     */
    SCULPT_HM_DST_ZERO      = 1 << 4,
    /*
     * Hand page tables over instead of tearing them down and faulting them
     * in again.  Each source run in a memfd pool first moves (mremap) to
     * its own pool's window, at its slots: its entries leave the pause,
     * and the release after it punches pages and entries together.  For a
     * destination in DRAM, the entries the copy built in the destination's
     * window then move to the guest address (MREMAP_DONTUNMAP: the window
     * stays, empty), so the guest does not fault the run in again.  Where
     * the kernel refuses, or for cold and swap destinations (whose release
     * works through the window), the destination is mapped afresh with
     * mmap(MAP_FIXED) as without the flag; the result is the same.
     */
    SCULPT_HM_TRANSFER      = 1 << 5,
    /*
     * With TRANSFER: some source's guest mapping is mlock()ed (a locked
     * hot zone): no source is moved out to its window, which would keep
     * the lock; MAP_FIXED-style unmapping unlocks them.
     */
    SCULPT_HM_SRC_LOCKED    = 1 << 6,
    /*
     * With TRANSFER: the sources stay at the guest address until the
     * remap replaces them in one step (the guest runs meanwhile, see
     * uffd-wp.h: moved out first, they would leave a hole it could touch,
     * and take their userfaultfd registration along).  Only the
     * destination's page tables are handed over.  Also: once the guest
     * range maps the destination, a later failure (its attributes) keeps
     * it there (SCULPT_HM_AT_DST): the guest may have written to it.
     */
    SCULPT_HM_SRC_STAY      = 1 << 7,
};

typedef struct SculptHmMove {
    uint8_t *host;          /* guest address of the first block */
    uint64_t nblocks;
    const SculptHmLoc *src; /* nblocks entries: where each block is now */
    SculptHmPool *dst;
    uint64_t dst_slot;      /* first of nblocks slots, already allocated */
    const SculptHmVmaAttrs *attrs;  /* NULL: none */
    unsigned flags;
    /*
     * VERIFY_COPY: when more than this many bytes differ, the copy made
     * outside the pause is too stale to fix inside it: give up before the
     * remap, -EAGAIN, the run where it was (SCULPT_HM_AT_SRC), its data
     * untouched.  0: fix whatever differs.
     */
    uint64_t fix_limit;
} SculptHmMove;

typedef enum SculptHmWhere {
    SCULPT_HM_AT_SRC,       /* failed: mapped to the sources, data intact */
    SCULPT_HM_AT_DST,       /* moved (or could not be put back): at dst */
} SculptHmWhere;

typedef struct SculptHmMoveResult {
    SculptHmWhere where;
    bool released;          /* sources released (else the caller does it) */
    int release_err;        /* a punch failed: slot recycled instead */
    uint32_t mmaps;         /* mmap() calls made (remap + any restore) */
    uint32_t mremaps;       /* TRANSFER: page-table moves (mremap) done */
    bool transferred;       /* TRANSFER: the guest took the window's entries */
    uint64_t ns_copy, ns_remap, ns_attrs, ns_populate, ns_release;
    uint64_t bytes_fixed;   /* VERIFY_COPY: bytes that differed, copied */
    uint64_t blocks_empty;  /* DST_ZERO: sources without data, not read */
} SculptHmMoveResult;

/* --- pools ------------------------------------------------------------ */

const char *sculpt_hm_kind_name(SculptHmKind kind);

/* Create a pool; on success *pool is filled, pool->info says what it got */
int sculpt_hm_pool_create(SculptHmPool *pool, const SculptHmPoolConfig *cfg,
                          char *err, size_t errlen);

/*
 * Wrap the VM's memfd [fd_base, fd_base + nr_blocks * block_size) as the
 * HOME pool: slot i is guest block i, all slots start used and backed,
 * released slots are punched.  fd stays owned by the caller.
 */
int sculpt_hm_pool_wrap(SculptHmPool *pool, int fd, uint64_t fd_base,
                        uint64_t nr_blocks, uint64_t block_size,
                        char *err, size_t errlen);

/* Add slots (ftruncate, fallocate/prefault, extend the window) */
int sculpt_hm_pool_grow(SculptHmPool *pool, uint64_t add_slots,
                        char *err, size_t errlen);

void sculpt_hm_pool_destroy(SculptHmPool *pool);

static inline uint64_t sculpt_hm_slot_offset(const SculptHmPool *pool,
                                             uint64_t slot)
{
    return pool->fd_base + slot * pool->block_size;
}

/*
 * Hand out n contiguous free slots: right after 'after' if those are free
 * (keeps neighbouring guest blocks contiguous so their mappings merge),
 * else the first fit.  COLD_FILE/HUGETLB slots are (re)reserved before
 * they are handed out.  -ENOSPC when no run of n is free (grow the pool).
 */
int sculpt_hm_slot_alloc(SculptHmPool *pool, uint64_t n, uint64_t after,
                         uint64_t *slot, char *err, size_t errlen);

/*
 * Take the given free slots [slot, slot+n), e.g. a block's home slot when
 * it moves back home; -EBUSY if one is in use.
 */
int sculpt_hm_slot_claim(SculptHmPool *pool, uint64_t slot, uint64_t n,
                         char *err, size_t errlen);

/*
 * Give n slots back.  recycle=true keeps their pages for the next move
 * (the fast path); false punches them (MEMFD/THP/NUMA/SWAP/HOME) or, for
 * COLD_FILE, punches and re-reserves the blocks; HUGETLB never punches so
 * its reservation holds.  A failed punch still frees the slot (recycled).
 */
int sculpt_hm_slot_release(SculptHmPool *pool, uint64_t slot, uint64_t n,
                           bool recycle, char *err, size_t errlen);

/* Prefault slots through the window (MADV_POPULATE_WRITE) */
int sculpt_hm_pool_prefault(SculptHmPool *pool, uint64_t slot, uint64_t n,
                            char *err, size_t errlen);

/*
 * Write len bytes from src into slots [slot, ...) with pwrite(), then map
 * them in the window (MADV_POPULATE_READ) and read them back, so a later
 * compare through the window neither faults nor reads memory (the kernel's
 * copy may bypass the CPU cache).  For the cold file, outside a pause: a
 * store through the shared mapping costs ext4 a fault and a page_mkwrite
 * per page.  Rewriting released 2 MiB blocks, pwrite() took 0.25 ms per
 * block (p99 0.35) against 0.78 ms (p99 4.4) through the mapping
 * (bench/mover/cold-write-bench).
 */
int sculpt_hm_pool_write(SculptHmPool *pool, uint64_t slot, const void *src,
                         uint64_t len, char *err, size_t errlen);

/*
 * Make slots [slot, slot+n) of a cold file read as zeros and keep their
 * blocks allocated (FALLOC_FL_ZERO_RANGE: no data is written).  Only for
 * the cold file; -EOPNOTSUPP where its filesystem cannot (tmpfs).
 */
int sculpt_hm_pool_zero(SculptHmPool *pool, uint64_t slot, uint64_t n,
                        char *err, size_t errlen);

/*
 * Whether [off, off+len) of @fd holds no data at all: 1 if no page is
 * there, in memory or in swap (SEEK_DATA: shmem counts swapped pages as
 * data; a hugetlbfs file always answers "data"), 0 if some is, -errno.
 */
int sculpt_hm_range_empty(int fd, uint64_t off, uint64_t len);

/* Whether the block at @l holds no data at all (sculpt_hm_range_empty) */
bool sculpt_hm_loc_empty(const SculptHmLoc *l);

/*
 * How many of the @n blocks at @src hold no data at all: one look when
 * they are consecutive slots of one pool and all empty, else one each.
 */
uint64_t sculpt_hm_locs_empty(const SculptHmLoc *src, uint64_t n);

/* --- move primitives -------------------------------------------------- */

/* Copy len bytes; nt: non-temporal stores (x86-64), else memcpy */
void sculpt_hm_copy(void *dst, const void *src, size_t len, bool nt);

/* Make dst equal src page by page, writing only pages that differ;
 * returns the bytes copied.  Stops early once that passes limit. */
uint64_t sculpt_hm_copy_fix(void *dst, const void *src, size_t len,
                            uint64_t limit);

/* mmap(MAP_FIXED|MAP_SHARED) pool slots over host, then apply attrs */
int sculpt_hm_remap(uint8_t *host, uint64_t len, SculptHmPool *pool,
                    uint64_t slot, const SculptHmVmaAttrs *attrs,
                    char *err, size_t errlen);

/* Re-apply per-VMA attributes to [host, host+len) backed by pool */
int sculpt_hm_apply_attrs(uint8_t *host, uint64_t len,
                          const SculptHmPool *pool,
                          const SculptHmVmaAttrs *attrs,
                          char *err, size_t errlen);

/* fallocate(PUNCH_HOLE|KEEP_SIZE) of [off, off+len) in fd */
int sculpt_hm_punch(int fd, uint64_t off, uint64_t len,
                    char *err, size_t errlen);

/*
 * Copy + remap + attrs (+ release the sources unless DEFER_RELEASE) for
 * one run.  On failure the range is mapped to its sources again, data
 * intact, res->where == SCULPT_HM_AT_SRC; no source is released before
 * everything else succeeded.  If even the restore fails, where ==
 * SCULPT_HM_AT_DST: the data is complete there, nothing was released.
 * -EAGAIN: a pre-copy too stale to fix (fix_limit), nothing remapped.
 * The dst slots stay allocated either way (the caller owns them).
 */
int sculpt_hm_move_run(const SculptHmMove *mv, SculptHmMoveResult *res,
                       char *err, size_t errlen);

/*
 * Release the sources of a moved run (the DEFER_RELEASE second half, to
 * run after the vCPUs resumed), each per its pool's 'recycle' setting.
 */
int sculpt_hm_release_sources(const SculptHmLoc *src, uint64_t nblocks,
                              char *err, size_t errlen);

/* --- cold tier -------------------------------------------------------- */

/*
 * After a run went to a COLD_FILE pool: zap the guest's and the window's
 * page-table entries (data stays in the file), write the range out
 * (sync_file_range) and drop the page cache (POSIX_FADV_DONTNEED).  For
 * SWAP pools: zap the window and MADV_PAGEOUT the guest range.  Runs
 * outside the pause.
 * *still_cached (may be NULL): pages of the slots still in DRAM after.
 */
int sculpt_hm_cold_release(SculptHmPool *pool, uint8_t *host,
                           uint64_t slot, uint64_t n, uint64_t *still_cached,
                           char *err, size_t errlen);

/*
 * The same for blocks that stayed in a COLD_FILE pool and were paged back
 * in by the guest or by a prefetch: drop them from DRAM again.  Safe while
 * the guest runs (zapping a shared file mapping loses nothing; dirty pages
 * are written first; pages written meanwhile stay).  Syncs only the range.
 */
int sculpt_hm_cold_drop(SculptHmPool *pool, uint8_t *host, uint64_t slot,
                        uint64_t n, char *err, size_t errlen);

/*
 * Write out the dirty pages of COLD_FILE slots [slot, slot+n), and with
 * wait=true wait for it (sync_file_range): no page-table entry changes, no
 * mmap_lock, so it can run before a drop without holding up anyone's
 * mapping changes; wait=false only starts the writeback.
 */
int sculpt_hm_cold_writeout(SculptHmPool *pool, uint64_t slot, uint64_t n,
                            bool wait, char *err, size_t errlen);

/*
 * How the guest's faults read a range mapped from a COLD_FILE pool.
 * scattered=false: as QEMU mapped guest RAM (with attrs->hugepage, huge
 * folios: a fault reads and maps 2 MiB; the right thing for memory used
 * densely).  scattered=true: one page per fault, no read-around, for
 * blocks the guest uses here and there.  Advice only: no data moves.
 */
int sculpt_hm_cold_advise(uint8_t *host, uint64_t len, bool scattered,
                          const SculptHmVmaAttrs *attrs,
                          char *err, size_t errlen);

/* Bring a cold range back into DRAM: sync=true MADV_POPULATE_READ (waits),
 * else MADV_WILLNEED (readahead started) */
/*
 * Read one byte of each page of [p, p+len), which must be mapped.  The
 * first access through a new page-table entry can cost far more than the
 * copy: on a host that is itself a virtual machine under shadow paging
 * (these test machines run under PVM), a hypervisor exit per page, which
 * made copies out of freshly mapped cold pages run at 0.6-0.7 GB/s
 * instead of 16-19 GB/s, all of it CPU time in the copying thread.  The
 * mover touches what a batch will read and write before it pauses.
 */
uint64_t sculpt_hm_touch(const uint8_t *p, uint64_t len);

int sculpt_hm_prefetch(uint8_t *host, uint64_t len, bool sync,
                       char *err, size_t errlen);

/* --- accounting ------------------------------------------------------- */

typedef struct SculptHmDram {
    uint64_t shmem;         /* memfd pools + home: resident pages */
    uint64_t shmem_alloc;   /* same, by st_blocks (counts swapped pages) */
    uint64_t hugetlb;       /* hugetlb pools: st_blocks */
    uint64_t file_cache;    /* cold files: page cache */
    uint64_t anon;          /* QEMU's anon pages (/proc/self/statm) */
    uint64_t total;         /* shmem + hugetlb + file_cache + anon */
    bool used_cachestat;    /* else mincore over the windows */
} SculptHmDram;

/* DRAM in use as design.md defines it (not RSS), in bytes */
int sculpt_hm_dram(SculptHmPool *const *pools, size_t npools,
                   SculptHmDram *out, char *err, size_t errlen);

/* The same without QEMU's own memory (anon stays 0): the guest RAM's alone */
int sculpt_hm_dram_pools(SculptHmPool *const *pools, size_t npools,
                         SculptHmDram *out, char *err, size_t errlen);

/*
 * An upper bound of sculpt_hm_dram_pools()'s total, in time that does not
 * grow with the guest RAM: a memfd or hugetlb pool's allocated blocks
 * (st_blocks, which for shmem counts the pages swapped out too, so it
 * equals the resident pages only without swap) plus the cold files'
 * cache.  cachestat() of a memfd walks every page it holds: 50 times a
 * second for a 1 GiB guest, a quarter of a host CPU
 * (bench/e2e/own-cost.sh).
 */
int sculpt_hm_dram_bound(SculptHmPool *const *pools, size_t npools,
                         uint64_t *bound, char *err, size_t errlen);

/* Pages of fd [off, off+len) in the page cache (cachestat, else mincore
 * over map if not NULL); -EOPNOTSUPP if neither works */
int64_t sculpt_hm_cached_pages(int fd, uint64_t off, uint64_t len,
                               const uint8_t *map);

/*
 * The memory cgroup the process runs in (v1 or v2) and its ancestors: the
 * levels whose limit and usage files could be opened.  A limit set there
 * (libvirt's <memtune><hard_limit>, systemd's MemoryMax=) bounds guest RAM
 * as a budget does: once the cgroup is full the kernel reclaims in it,
 * guest pages included.  Limits are read at each look, as they can change.
 */
#define SCULPT_HM_MEMCG_LEVELS 8

typedef struct SculptHmMemcg {
    int nr;
    int limit_fd[SCULPT_HM_MEMCG_LEVELS];
    int usage_fd[SCULPT_HM_MEMCG_LEVELS];
    char path[256];         /* the process's own cgroup directory */
} SculptHmMemcg;

/* Find and open the levels; 0 (nr 0: no memory cgroup found) or -errno */
int sculpt_hm_memcg_open(SculptHmMemcg *m, char *err, size_t errlen);
void sculpt_hm_memcg_close(SculptHmMemcg *m);

/*
 * Room under the tightest limit now: the least limit - usage over the
 * levels that have a limit (0 for one at or over it), and that level's
 * limit.  False when no level has one.
 */
bool sculpt_hm_memcg_room(const SculptHmMemcg *m, uint64_t *room,
                          uint64_t *limit);

/* VMAs overlapping [host, host+size) per /proc/self/maps, or -errno */
long sculpt_hm_count_vmas(const void *host, uint64_t size);

/* --- fault injection (tests only) ------------------------------------- */

typedef enum SculptHmSyscall {
    SCULPT_HM_SYS_MMAP,
    SCULPT_HM_SYS_FALLOCATE,
    SCULPT_HM_SYS_MADVISE,
    SCULPT_HM_SYS_MBIND,
    SCULPT_HM_SYS_MREMAP,
    SCULPT_HM_SYS__MAX,
} SculptHmSyscall;

/* Make the nth next call (1 = the next one) of sc fail with errno err;
 * nth = 0 disarms.  Counts only calls made by this library. */
void sculpt_hm_inject_fail(SculptHmSyscall sc, unsigned nth, int err);

/* Calls of sc made so far by this library (for tests and benchmarks) */
uint64_t sculpt_hm_syscall_count(SculptHmSyscall sc);

#endif /* SCULPT_HOSTMEM_H */
