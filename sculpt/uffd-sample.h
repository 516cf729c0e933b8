/*
 * sculpt: read+write access sampling of guest RAM with userfaultfd
 *
 * Pure POSIX/Linux C (gnu11), no QEMU headers: it builds inside QEMU's
 * system_ss and on its own with "cc" (sculpt/tests/, bench/tracking/).
 *
 * How it works
 *   The guest RAM range [host, host + size) is a MAP_SHARED mapping of a
 *   memfd (shmem), cut into blocks of block_size.  Its shmem VMAs are
 *   registered with one userfaultfd in MINOR mode.  Each interval a few
 *   "sample chunks" (sample_bytes, aligned, inside one block) are armed:
 *   MADV_DONTNEED drops their page-table entries, the data stays in the
 *   memfd.  The first touch of an armed chunk by anyone (vCPU, QEMU, KVM,
 *   the kernel) is a minor fault: the fault thread records "block b was
 *   accessed" and maps the whole chunk back with UFFDIO_CONTINUE, so one
 *   chunk costs at most one fault per interval.
 *
 *   Where to sample is chosen DAMON-style: the blocks are covered by
 *   regions (min_regions .. max_regions); each region gets
 *   samples_per_region samples per interval at random blocks; adjacent
 *   regions whose smoothed scores differ by at most merge_permille are
 *   merged, and every region is split in two at a random point while
 *   there are at most max_regions / 2.  The cost per interval is bounded
 *   by max_regions * samples_per_region chunks, whatever the guest size.
 *
 * Un-arming: at harvest, chunks that were armed but not touched are mapped
 *   back by the harvesting thread itself with UFFDIO_CONTINUE (no fault,
 *   no TLB flush), so no zapped page outlives its interval and a late
 *   touch is never counted in the wrong interval.  A chunk found mapped
 *   by someone else at that point (UFFDIO_CONTINUE says EEXIST: e.g. a
 *   hole that was allocated by the touch, or a fault being handled right
 *   now) counts as accessed.
 *
 * Sticky samples (SCULPT_US_STICKY): an untouched chunk is not mapped
 *   back but stays armed into the next interval (its state moves to the
 *   next generation atomically at harvest, so a touch is counted in the
 *   interval it happened in), up to max_armed chunks; and a block hit in
 *   one interval is armed again in the next one (up to max_regions *
 *   samples_per_region of them).  A chunk left armed costs nothing until
 *   touched, and then one fault; so, for the same bound on faults per
 *   interval, every idle block soon stays watched all the time and a
 *   block that turns hot is caught at its first touch, where plain
 *   DAMON sampling sees a scattered hot set only a few blocks per
 *   interval.  Cost: arming and faults per interval stay bounded by
 *   2 * max_regions * samples_per_region plus the carried chunks that
 *   get touched (at most one fault each).  That would still let a guest
 *   that touches most of its memory every interval cost a fault per
 *   armed chunk per interval, so the number of chunks armed anew (hit
 *   blocks re-armed, at most half of it, rotating; then the regions and
 *   the sweep) and the carried ones (at most 8 times as many) follow a
 *   budget adapted each interval to keep the sampler's CPU time (fault
 *   thread, arming, harvest) under cpu_permille of one core.  Only
 *   chunks whose pages are all in the memfd are armed (mincore,
 *   remembered per block until a remap or discard invalidates it):
 *   touching a hole allocates the page
 *   and maps it with no minor fault, which would leave a carried chunk
 *   mapped, and reported idle, for good.
 *
 * Not watched (sampled = 0, see sculpt_us_describe()): file-backed (cold
 *   file) and hugetlb VMAs, private mappings, VMAs registered by another
 *   userfaultfd (EBUSY: postcopy), and chunks that are holes in the memfd
 *   (an access allocates them without a minor fault; caught only if the
 *   chunk is still mapped at harvest).
 *
 * Threads
 *   - the fault thread (sculpt_us_start()) only reads the userfaultfd,
 *     updates per-block atomics and issues UFFDIO_CONTINUE/UFFDIO_WAKE.
 *     It takes no lock but the read side of the CONTINUE fence (see
 *     sculpt_us_unwatch()) and never touches guest RAM.
 *   - every other function is called by one "owner" thread at a time
 *     (QEMU: the sculpt thread; the caller serialises), except
 *     sculpt_us_invalidate() and sculpt_us_get_stats(), which are
 *     lock-free and may run anywhere (QEMU: the mover, inside its pause).
 *
 * Registration traps (kernel 6.18): MINOR registration needs shmem, a
 *   register over a mixed range fails whole (so it is done per VMA),
 *   mmap(MAP_FIXED) drops it silently (call sculpt_us_reregister() after
 *   every remap), and every page of a registered VMA without a page-table
 *   entry traps (SCULPT_US_POPULATE maps resident pages in first).
 *
 * Errors: functions return 0 or a negative errno and, when err is not
 * NULL, write a message naming the syscall, its object and the reason
 * into err[errlen].
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef SCULPT_UFFD_SAMPLE_H
#define SCULPT_UFFD_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct SculptUs SculptUs;

/* Defaults for the zero fields of SculptUsConfig */
#define SCULPT_US_DEF_MIN_REGIONS       10
#define SCULPT_US_DEF_MAX_REGIONS       1000
#define SCULPT_US_DEF_SAMPLE_BYTES      (64 * 1024ULL)
#define SCULPT_US_DEF_MERGE_PERMILLE    200
#define SCULPT_US_DEF_EWMA_PERMILLE     500
#define SCULPT_US_DEF_CPU_PERMILLE      10      /* 1% of a core */

/* Flags of SculptUsConfig and sculpt_us_reregister() */
enum {
    /*
     * Before registering, map in the pages of the range that are in the
     * page cache (mincore() + MADV_POPULATE_READ of those runs only, so
     * holes stay holes): otherwise each of them traps once later.
     */
    SCULPT_US_POPULATE      = 1 << 0,
    /*
     * sculpt_us_harvest() reports DAMON's view: every watched block of a
     * sampled region gets sampled = 1 and the region's hits as its count
     * (extrapolated).  Default: only blocks that held a sample chunk.
     */
    SCULPT_US_EXTRAPOLATE   = 1 << 1,
    /* Untouched chunks stay armed across intervals (see above). */
    SCULPT_US_STICKY        = 1 << 2,
};

typedef struct SculptUsConfig {
    uint8_t *host;              /* guest RAM, page aligned */
    uint64_t size;              /* bytes, a multiple of block_size */
    uint64_t block_size;        /* power of two, >= the page size */
    uint64_t sample_bytes;      /* armed chunk, power of two, page..block;
                                   0: min(block_size, 64 KiB) */
    uint32_t min_regions;       /* 0: 10; bounds the largest region */
    uint32_t max_regions;       /* 0: 1000; bounds the cost */
    uint32_t init_regions;      /* 0: max_regions / 2 */
    uint32_t samples_per_region;    /* 0: 1 */
    uint32_t merge_permille;    /* 0: 200 (scores are 0..1000) */
    uint32_t ewma_permille;     /* weight of the newest interval; 0: 500 */
    uint32_t max_armed;         /* SCULPT_US_STICKY: chunks kept armed
                                   across intervals; 0: 8 * max_regions *
                                   samples_per_region */
    uint32_t cpu_permille;      /* SCULPT_US_STICKY: CPU the sampler may
                                   use (fault thread, arming), per mille
                                   of one core; 0: 10 */
    unsigned flags;             /* SCULPT_US_* */
} SculptUsConfig;

typedef struct SculptUsStats {
    /* fault thread (and the drain in harvest) */
    uint64_t faults;            /* page-fault messages handled */
    uint64_t hits;              /* ... that were first touches of a chunk */
    uint64_t write_hits;        /* ... of which write faults */
    uint64_t stale_faults;      /* faults on pages not armed (no PTE) */
    uint64_t cont_calls;        /* UFFDIO_CONTINUE ioctls (all threads) */
    uint64_t cont_eexist;       /* page already mapped (racing thread) */
    uint64_t cont_efault;       /* hole in the memfd: left to fault */
    uint64_t cont_eagain;       /* mapping changing: retried */
    uint64_t cont_errors;       /* any other error (ENOENT: remapped) */
    uint64_t wakes;             /* UFFDIO_WAKE after giving up a page */
    uint64_t other_events;      /* non-pagefault messages (ignored) */
    uint64_t handler_ns;        /* wall time handling messages */
    uint64_t handler_cpu_ns;    /* CPU time of the fault thread */
    /* owner thread */
    uint64_t intervals;         /* harvests done */
    uint64_t armed;             /* chunks armed */
    uint64_t unarmed;           /* chunks mapped back untouched */
    uint64_t unarm_hits;        /* chunks found mapped at harvest */
    uint64_t carried;           /* chunks left armed into the next interval */
    uint64_t rearmed;           /* hit blocks armed again the next interval */
    uint32_t nr_armed;          /* chunks armed by the last arm */
    uint64_t madvise_calls;     /* MADV_DONTNEED calls (batched) */
    bool batched;               /* the last arm used process_madvise() */
    uint64_t madvise_errors;
    uint64_t arm_ns;            /* wall time in sculpt_us_arm_interval() */
    uint64_t madvise_ns;        /* ... of which in madvise */
    uint64_t harvest_ns;        /* wall time in sculpt_us_harvest() */
    uint64_t register_ns;       /* wall time (re)registering, populating */
    uint64_t populated_bytes;   /* mapped in by SCULPT_US_POPULATE */
    uint32_t nr_regions;        /* now */
    uint32_t registered_vmas;   /* VMAs registered by the last call */
    uint32_t skipped_vmas;      /* VMAs skipped by the last call */
    uint64_t watched_bytes;     /* bytes of the range registered now */
} SculptUsStats;

/* One region, for sculpt_us_get_regions() */
typedef struct SculptUsRegion {
    uint64_t start;             /* first block */
    uint64_t nr;                /* blocks */
    uint32_t score;             /* smoothed hit rate, 0..1000 */
    uint32_t age;               /* intervals since created */
} SculptUsRegion;

/*
 * Open a userfaultfd (userfaultfd(2), else /dev/userfaultfd), negotiate
 * UFFD_FEATURE_MINOR_SHMEM and register every shmem VMA of the range.
 * -EPERM/-ENOSYS with a message when userfaultfd cannot be had: the
 * caller then runs on dirty tracking alone.  A range with no shmem VMA
 * at all is not an error (nothing is watched; see sculpt_us_describe()).
 */
int sculpt_us_new(SculptUs **pus, const SculptUsConfig *cfg,
                  char *err, size_t errlen);

/* Start the fault thread.  Must be running before the first arm. */
int sculpt_us_start(SculptUs *us, char *err, size_t errlen);

/*
 * Adapt the regions (merge, split) from what the last harvest saw, pick
 * the samples for the next interval with the random stream of @seed and
 * arm them.  @now_ns is kept for the stats only.  -EBUSY if the previous
 * interval was not harvested.  A failed madvise leaves that chunk
 * unwatched (counted in madvise_errors), it is not an error.
 */
int sculpt_us_arm_interval(SculptUs *us, uint64_t now_ns, uint64_t seed,
                           char *err, size_t errlen);

/*
 * End the armed interval: map the untouched chunks back (STICKY: up to
 * max_armed of them stay armed into the next interval), then fill
 * counts[nblocks] (accessed sample chunks per block) and sampled[nblocks]
 * (1: the block was watched this interval, else 0 and count 0), as
 * sculpt_core_record_access() takes them; either may be NULL.  Updates
 * the region scores.  -EINVAL if no interval is armed.
 */
int sculpt_us_harvest(SculptUs *us, uint32_t *counts, uint8_t *sampled,
                      char *err, size_t errlen);

/*
 * Forget the samples armed in [off, off + len) (offsets in the range),
 * e.g. because the mover remapped it or a discard punched it: those
 * blocks report sampled = 0 this interval (and, STICKY, their chunks are
 * checked for holes again before they are armed).  Lock-free: may run in any thread, concurrently with
 * the owner and the fault thread.  Call it before (or right after) the
 * remap, then sculpt_us_reregister() from the owner thread.
 */
void sculpt_us_invalidate(SculptUs *us, uint64_t off, uint64_t len);

/*
 * Stop watching [off, off + len) until sculpt_us_reregister(): forget its
 * samples and unregister it, so that another userfaultfd may register it
 * (the mover's write-protection, uffd-wp.h), and wake a minor fault
 * waiting there.  Waits for a UFFDIO_CONTINUE of the sampler in flight
 * there, and none is issued there until it is registered again: the
 * kernel would let it map a page writable over the other's protection.
 * Any thread.
 */
int sculpt_us_unwatch(SculptUs *us, uint64_t off, uint64_t len,
                      char *err, size_t errlen);

/*
 * Register again [off, off + len) after mmap(MAP_FIXED) replaced
 * mappings there (it dropped their registration silently); invalidates
 * the range first.  flags: SCULPT_US_POPULATE.  Skipped VMAs are not an
 * error (see sculpt_us_describe()).
 */
int sculpt_us_reregister(SculptUs *us, uint64_t off, uint64_t len,
                         unsigned flags, char *err, size_t errlen);

/*
 * Unregister the whole range (postcopy and background snapshots need the
 * mapping's single userfaultfd context), waking any blocked fault; armed
 * chunks are forgotten.  sculpt_us_reregister(us, 0, size, ...) resumes.
 */
int sculpt_us_unregister_all(SculptUs *us, char *err, size_t errlen);

/* Which parts are watched and which were skipped, and why (one line each) */
void sculpt_us_describe(SculptUs *us, char *buf, size_t len);

void sculpt_us_get_stats(SculptUs *us, SculptUsStats *st);

/*
 * Per block DAMON estimate: the smoothed score (0..1000) of the block's
 * region, or -1 for blocks that are not watched.
 */
void sculpt_us_estimate(SculptUs *us, int16_t *permille);

/* Copy up to max regions; returns the number of regions */
uint32_t sculpt_us_get_regions(SculptUs *us, SculptUsRegion *out,
                               uint32_t max);

uint64_t sculpt_us_block_count(const SculptUs *us);

/* Stop the fault thread (unregisters everything first, so no fault waits
 * for a thread that is gone).  Idempotent. */
void sculpt_us_stop(SculptUs *us);

/* sculpt_us_stop() + close the userfaultfd + free.  NULL is fine. */
void sculpt_us_free(SculptUs *us);

/* --- test hooks -------------------------------------------------------- */

/*
 * Make sculpt_us_new() see userfaultfd(2) fail with sys_errno and
 * open("/dev/userfaultfd") with dev_errno (0: real calls).  Tests only.
 */
void sculpt_us_test_deny_uffd(int sys_errno, int dev_errno);

#endif /* SCULPT_UFFD_SAMPLE_H */
