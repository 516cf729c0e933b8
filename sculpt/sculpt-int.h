/*
 * sculpt: state shared by the files of the subsystem
 *
 * The sculpt object (sculpt-obj.c) owns one memory backend's guest RAM
 * and the C++ core that models it; the monitor (sculpt-qmp.c) reads it.
 * Nothing outside sculpt/ includes this header.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef SCULPT_INT_H
#define SCULPT_INT_H

#include "qemu/queue.h"
#include "qemu/notify.h"
#include "qemu/thread.h"
#include "qom/object.h"
#include "system/hostmem.h"
#include "qapi/qapi-types-sculpt.h"
#include "sculpt/sculpt.h"          /* the C++ core's C ABI */
#include "hostmem.h"                /* host memory tiers and moves */

#define TYPE_SCULPT "sculpt"
OBJECT_DECLARE_SIMPLE_TYPE(SculptState, SCULPT)

#define SCULPT_PAUSE_SAMPLES 4096

/* Durations of one kind (ns): how many, the longest, the last ones */
typedef struct SculptLatRing {
    uint64_t count, max;
    uint64_t ns[SCULPT_PAUSE_SAMPLES];  /* ns[i % SCULPT_PAUSE_SAMPLES] */
} SculptLatRing;

typedef struct SculptOp SculptOp;
typedef struct SculptTrack SculptTrack;
typedef struct SculptAuto SculptAuto;

struct SculptState {
    Object parent_obj;

    /* Properties */
    char *memdev_id;
    uint64_t block_size;
    char *hot_pool;                 /* none, memfd, thp, hugetlb */
    uint64_t hot_size;
    bool hot_lock;
    bool transfer;                  /* x-transfer: moves hand page tables over */
    char *cold_tier;                /* none, file, numa, swap */
    char *cold_dir;
    uint32_t cold_node;
    uint64_t cold_size;
    uint32_t max_pause_us;
    bool wp_moves;                  /* move-protocol=write-protect */
    bool track_on;                  /* property "track" */
    bool access_sampling;           /* property "access-sampling" */
    uint32_t interval_ms;
    uint32_t track_duty;            /* % of each interval the log is on */
    uint32_t sampling_cpu;          /* % of a core read sampling may use */
    char *trace_file;
    char *policy;                   /* predictor name, or NULL: default */
    bool auto_on;                   /* property "auto"; atomic */
    uint64_t fast_budget;           /* atomic */
    uint64_t move_bandwidth;        /* bytes/s; atomic */

    /* Set once attached to the backend (sculpt_attach()) */
    HostMemoryBackend *backend;     /* holds a reference */
    RAMBlock *rb;
    uint8_t *host;                  /* host address of guest RAM */
    uint64_t size;                  /* bytes of guest RAM */
    sculpt_core_t *core;

    Notifier machine_done;
    bool attach_pending;
    bool discard_required;          /* holds ram_block_discard_require() */
    Error *cpr_blocker;             /* blocks cpr-transfer migration */
    NotifierWithReturn migration_notifier;

    /* Tiers: pools[SCULPT_TIER_BASE] wraps the backend's own memfd */
    SculptHmPool pools[SCULPT_TIER__MAX];
    bool have_pool[SCULPT_TIER__MAX];
    SculptHmVmaAttrs attrs;         /* what QEMU set on the guest RAM */

    /*
     * The core is fed by the sculpt thread and read and changed by the
     * main loop (moves, stats).  Lock order: BQL -> core_lock.  The block
     * map changes only in the main loop.
     */
    QemuMutex core_lock;

    /*
     * The mover holds mm_lock across each pause; the sculpt thread holds it
     * around each of its page-table operations (drops, prefetches, sample
     * arming, mincore), cut to at most SCULPT_MM_CHUNK bytes each.  Those
     * hold the process's mmap_lock, which the mover's MAP_FIXED needs for
     * writing: without this, a pause waited for them with the vCPUs
     * stopped (5-10 ms at p90 in auto mode).  Now the main loop waits, if
     * at all, before it stops the vCPUs and before it takes the BQL back
     * (a drop can wait for a writeback).  Lock order: mm_lock -> BQL ->
     * core_lock; the sculpt thread never takes the BQL.
     */
    QemuMutex mm_lock;

    /* Tracking (sculpt-track.c) */
    SculptTrack *track;
    struct {
        uint64_t intervals;         /* atomic: the thread adds */
        uint64_t model_ns;          /* atomic: thread CPU in the core */
        uint64_t harvest_ns;        /* main-loop CPU reading the dirty log */
        uint64_t net_bytes;         /* VM signals, summed (main loop) */
        uint64_t block_bytes;
    } track_stats;

    /* Automatic mode (sculpt-auto.c); lives while tracking runs */
    SculptAuto *autos;

    /* Moving (sculpt-move.c); main loop, with or without the BQL */
    SculptOp *op;                   /* the running sculpt-pool, or NULL */
    QEMUBH *move_bh;
    QEMUTimer *retry_timer;
    const char *hold_reason;        /* why moving waits, or NULL */
    /* copy speed, measured per source and destination tier (reading a
     * cold file's pages and writing them differ from DRAM copies) */
    uint64_t bytes_per_us[SCULPT_TIER__MAX][SCULPT_TIER__MAX];
    uint64_t run_ns[SCULPT_TIER__MAX];  /* per-run cost besides the copy
                                           (remap, attributes), measured */
    /*
     * Moving under write-protection (uffd-wp.h): the userfaultfd, opened
     * at the first batch that can use it (-1 before, or if the kernel
     * refused: then wp_refused).
     */
    int wp_uffd;
    bool wp_refused;
    struct {
        uint64_t moves, blocks_moved, blocks_empty, bytes_moved, failures;
        uint64_t mmaps, discards, stale_copies, wp_waits;
    } stats;
    SculptLatRing pauses;       /* vCPU pauses */
    SculptLatRing wp_windows;   /* write-protect windows (batches) */

    QTAILQ_ENTRY(SculptState) next;
};

/* The most one page-table operation of the sculpt thread covers */
#define SCULPT_MM_CHUNK (4ULL << 20)

/* All sculpt objects, in creation order.  Main loop, BQL held. */
typedef QTAILQ_HEAD(, SculptState) SculptList;
extern SculptList sculpt_list;

static inline bool sculpt_attached(SculptState *s)
{
    return s->core != NULL;
}

/* sculpt-guard.c */
bool sculpt_guard_attach(SculptState *s, Error **errp);
void sculpt_guard_detach(SculptState *s);

/* sculpt-move.c */
void sculpt_discard_init(void);
void sculpt_move_init(SculptState *s);
void sculpt_move_cleanup(SculptState *s);
uint64_t sculpt_lat_percentile(const SculptLatRing *r, unsigned pct);

bool sculpt_move_auto(SculptState *s, GArray *to_cold, GArray *to_fast,
                      sculpt_tier fast, Error **errp);

/* sculpt-auto.c */
void sculpt_auto_init(SculptState *s);
void sculpt_auto_cleanup(SculptState *s);
bool sculpt_auto_observe(SculptState *s, uint32_t *access, uint8_t *sampled);
void sculpt_auto_tick(SculptState *s, const uint32_t *dirty,
                      uint64_t interval_ns);
/* How often auto mode checks the budget between intervals, and near it */
#define SCULPT_AUTO_GUARD_MS 20
#define SCULPT_AUTO_GUARD_NEAR_MS 5
unsigned sculpt_auto_guard(SculptState *s);
bool sculpt_auto_hold(void);
void sculpt_auto_kick(SculptState *s);
void sculpt_auto_moved(SculptState *s, uint64_t blocks_to_cold,
                       uint64_t blocks_to_fast);
bool sculpt_auto_check(SculptState *s, Error **errp);
struct SculptAutoStats *sculpt_auto_stats(SculptState *s);

/* sculpt-track.c */
bool sculpt_track_start(SculptState *s, Error **errp);
void sculpt_track_stop(SculptState *s);
void sculpt_track_remapped(SculptState *s, uint64_t off, uint64_t len);
bool sculpt_track_unwatch(SculptState *s, uint64_t off, uint64_t len,
                          Error **errp);
void sculpt_track_discarded(SculptState *s, uint64_t off, uint64_t len);
SculptSamplingStats *sculpt_track_sampling_stats(SculptState *s);

static inline bool sculpt_is_sculpted(SculptState *s)
{
    bool ret;

    if (!s->core) {
        return false;
    }
    qemu_mutex_lock(&s->core_lock);
    ret = sculpt_core_tier_bytes(s->core, SCULPT_TIER_BASE) != s->size;
    qemu_mutex_unlock(&s->core_lock);
    return ret;
}

#endif /* SCULPT_INT_H */
