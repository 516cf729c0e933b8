/*
 * sculpt core: the C ABI.
 *
 * This is the only way QEMU (C) reaches the C++ core.  It follows leveldb's
 * c.h conventions: opaque handles, plain fixed-width integer types, and an
 * error out-parameter last (char **errptr), left untouched on success; on
 * failure *errptr receives a malloc()ed message the caller free()s.
 * No C++ exception ever crosses this boundary.
 *
 * The core is deterministic: time (now_ns arguments), host facts and random
 * seeds are inputs.  It never includes a QEMU header and never makes a
 * system call that touches guest memory.
 *
 * Thread safety: a sculpt_core_t is not internally locked; the caller
 * serialises all calls on one handle.  No function blocks, sleeps or takes a
 * lock; none allocates on the per-interval hot path except where noted.
 * Distinct handles share nothing and may be used from different threads.
 *
 * Conventions used in the contracts below:
 *   REQUIRES: what the caller must guarantee (violations are reported
 *             through *errptr where cheap to detect, never by aborting);
 *   OWNERSHIP: who frees what;
 *   ERRORS: when *errptr is set.  errptr may be NULL when the caller does
 *             not want the message; the return value still says failure.
 * Functions returning int return 0 on success and -1 on failure.
 */
#ifndef SCULPT_CORE_SCULPT_H
#define SCULPT_CORE_SCULPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCULPT_CORE_ABI_VERSION 3

/* Smallest and largest block sizes the core accepts (powers of two). */
#define SCULPT_MIN_BLOCK_SIZE (64ULL * 1024)
#define SCULPT_MAX_BLOCK_SIZE (1024ULL * 1024 * 1024)

/* Where a block's bytes live. */
typedef enum sculpt_tier {
    SCULPT_TIER_BASE = 0,   /* the VM's own memory backend (memfd) */
    SCULPT_TIER_HOT = 1,    /* the hot pool */
    SCULPT_TIER_COLD = 2,   /* the cold tier (file, far node or swap) */
    SCULPT_TIER__MAX = 3,
} sculpt_tier;

typedef struct sculpt_core sculpt_core_t;

typedef struct sculpt_core_config {
    uint64_t guest_bytes;   /* size of the guest RAM block, bytes */
    uint64_t block_size;    /* power of two, SCULPT_MIN..MAX_BLOCK_SIZE,
                             * divides guest_bytes */
    uint64_t seed;          /* randomness for sampling and the model */
} sculpt_core_config_t;

/* Version of the ABI the library was built with. */
int sculpt_core_abi_version(void);

/*
 * Validate @cfg without creating anything.  Returns 0 if valid, else -1 and
 * an explanation in *errptr (what is wrong and what would be right).
 */
int sculpt_core_config_check(const sculpt_core_config_t *cfg, char **errptr);

/*
 * Create a core for one VM's RAM block; NULL and *errptr on bad config.
 * Every block starts in SCULPT_TIER_BASE at slot == its own index; the HOT
 * and COLD tiers start with capacity 0 (see sculpt_core_tier_set_capacity).
 * The policy starts as "guarded": learned+prefetch, with recency and EWMA
 * as a safety net.
 * OWNERSHIP: the caller frees the handle with sculpt_core_free().
 */
sculpt_core_t *sculpt_core_new(const sculpt_core_config_t *cfg,
                               char **errptr);
/* Free @core and everything it owns.  NULL is a no-op. */
void sculpt_core_free(sculpt_core_t *core);

uint64_t sculpt_core_block_count(const sculpt_core_t *core);
uint64_t sculpt_core_block_size(const sculpt_core_t *core);

/* Bytes of guest RAM currently placed in @tier (0 for an unknown tier). */
uint64_t sculpt_core_tier_bytes(const sculpt_core_t *core, sculpt_tier tier);

/*
 * ---- Tracking input, once per interval ----
 *
 * One interval is: begin_interval, any number of record_* calls, then
 * end_interval.  end_interval folds the interval into the access history,
 * trains the model on what actually happened (against what it predicted at
 * the previous end_interval), and predicts the next interval.
 */

/* VM-level signals for one interval, as plain integers. */
typedef struct sculpt_vm_signals {
    uint32_t vcpu_busy_ppm;     /* busy time of all vCPUs / (nr * interval),
                                 * parts per million, 0..1000000 */
    uint32_t reserved;          /* must be 0 */
    uint64_t block_io_bytes;    /* block device bytes read+written */
    uint64_t net_bytes;         /* network bytes received+sent */
    uint64_t minor_faults;      /* host minor faults of the QEMU process */
    uint64_t major_faults;      /* host major faults of the QEMU process */
} sculpt_vm_signals_t;

/*
 * Start an interval at host time @now_ns.
 * REQUIRES: no interval is open; @now_ns >= the previous end_interval's.
 * ERRORS: an interval is already open; time went backwards.
 */
int sculpt_core_begin_interval(sculpt_core_t *core, uint64_t now_ns,
                               char **errptr);

/*
 * Record sampled accesses for the open interval.  @counts[b] is how many
 * sampled pages of block b were seen accessed (0 = none).  Reads are
 * sampled DAMON-style, so not every block is watched every interval:
 * @sampled[b] != 0 says block b was watched; @sampled == NULL means every
 * block was.  Unwatched blocks keep their previous state and are not used
 * to train or score the model this interval.  Calls add up.
 * REQUIRES: an open interval; @nblocks == sculpt_core_block_count(); the
 * arrays hold @nblocks elements and are only read during the call.
 * ERRORS: no open interval; wrong @nblocks; NULL @counts.
 */
int sculpt_core_record_access(sculpt_core_t *core, const uint32_t *counts,
                              const uint8_t *sampled, uint64_t nblocks,
                              char **errptr);

/*
 * Record dirty pages per block for the open interval (from the dirty log,
 * which sees every vCPU write: no sampling).  A dirty block also counts as
 * accessed and watched.  Calls add up.
 * REQUIRES and ERRORS: as sculpt_core_record_access.
 */
int sculpt_core_record_dirty(sculpt_core_t *core, const uint32_t *dirty_pages,
                             uint64_t nblocks, char **errptr);

/*
 * Set the VM signals of the open interval (the last call wins).
 * ERRORS: no open interval; NULL @sig; vcpu_busy_ppm > 1000000;
 * reserved != 0.
 */
int sculpt_core_record_signals(sculpt_core_t *core,
                               const sculpt_vm_signals_t *sig, char **errptr);

/*
 * Close the open interval at @now_ns: update history and statistics, train
 * the model, predict the next interval.  Cost: O(block count), no
 * allocation after the first interval.
 * ERRORS: no open interval; @now_ns before begin_interval's.
 */
int sculpt_core_end_interval(sculpt_core_t *core, uint64_t now_ns,
                             char **errptr);

/*
 * ---- Predictions (valid after an end_interval; before the first, every
 * block is cold with probability 0) ----
 */
typedef enum sculpt_class {
    SCULPT_CLASS_COLD = 0,  /* probability < 0.1 */
    SCULPT_CLASS_WARM = 1,  /* 0.1 <= probability < 0.5 */
    SCULPT_CLASS_HOT = 2,   /* probability >= 0.5 */
    SCULPT_CLASS__MAX = 3,
} sculpt_class;

/*
 * Copy per-block predictions out: @classes[b] (a sculpt_class) and
 * @probs[b], the probability that block b is touched in the next interval
 * (for the baselines, a score in [0,1] with the same ordering meaning).
 * Either array may be NULL.
 * REQUIRES: @nblocks == sculpt_core_block_count().
 */
int sculpt_core_predictions(const sculpt_core_t *core, uint8_t *classes,
                            float *probs, uint64_t nblocks, char **errptr);

/* Number of blocks currently predicted in class @cls (0 if unknown). */
uint64_t sculpt_core_class_count(const sculpt_core_t *core, sculpt_class cls);

typedef struct sculpt_range {
    uint64_t block_first;
    uint64_t nblocks;
    float prob;             /* mean probability over the range */
    uint32_t reserved;
} sculpt_range_t;

/*
 * Write up to @max ranges of HOT-class blocks into @out, coalescing
 * adjacent hot blocks, hottest (highest mean probability) first.  Returns
 * the number written.  @out may be NULL only when @max is 0.
 */
uint64_t sculpt_core_hottest_ranges(const sculpt_core_t *core,
                                    sculpt_range_t *out, uint64_t max);

/*
 * ---- Block map ----
 *
 * Each block lives in one tier at one slot.  In SCULPT_TIER_BASE the slot
 * is the block's own index (its offset in the memory backend).  HOT and
 * COLD are pools of @capacity slots each; the slot allocator places a run
 * of neighbouring blocks in neighbouring slots so that host mappings merge.
 */

/*
 * Set the number of slots of HOT or COLD.
 * ERRORS: @tier is BASE or unknown; shrinking below a slot in use or
 * reserved by a pending move; @nslots > 2^32 - 2.
 */
int sculpt_core_tier_set_capacity(sculpt_core_t *core, sculpt_tier tier,
                                  uint64_t nslots, char **errptr);
uint64_t sculpt_core_tier_capacity(const sculpt_core_t *core,
                                   sculpt_tier tier);

/*
 * Read block @block's tier and slot.  Either out-pointer may be NULL.
 * ERRORS: @block out of range.
 */
int sculpt_core_block_get(const sculpt_core_t *core, uint64_t block,
                          sculpt_tier *tier, uint64_t *slot, char **errptr);

/*
 * Place block @block at (@tier, @slot) directly, e.g. when restoring a
 * placement after migration.  Frees the block's previous slot.
 * ERRORS: @block out of range; unknown tier; BASE with @slot != @block;
 * slot beyond capacity, or held by another block or a pending move.
 */
int sculpt_core_block_set(sculpt_core_t *core, uint64_t block,
                          sculpt_tier tier, uint64_t slot, char **errptr);

/*
 * Number of distinct host mappings the current placement needs: maximal
 * runs of neighbouring blocks in the same tier at consecutive slots.
 * O(1).
 */
uint64_t sculpt_core_mapping_count(const sculpt_core_t *core);

/*
 * ---- Planner ----
 */
typedef struct sculpt_budget {
    uint64_t fast_bytes;         /* DRAM allowed: BASE + HOT bytes;
                                  * UINT64_MAX = no limit */
    uint64_t hot_zone_bytes;     /* bytes of the hot zone to fill (clamped
                                  * to the HOT capacity) */
    uint64_t move_bytes_per_sec; /* bytes any move may copy per second */
    uint64_t interval_ns;        /* planning interval; with the rate above
                                  * gives the bytes one plan may move */
} sculpt_budget_t;

typedef enum sculpt_move_kind {
    SCULPT_MOVE_PROMOTE = 0,    /* to a faster tier: touched recently */
    SCULPT_MOVE_DEMOTE = 1,     /* to a slower tier */
    SCULPT_MOVE_PREFETCH = 2,   /* to a faster tier: predicted, not touched
                                 * in the last interval */
} sculpt_move_kind;

typedef struct sculpt_move {
    uint64_t id;             /* handle for move_done / move_failed */
    uint64_t block_first;    /* blocks [block_first, block_first+nblocks) */
    uint64_t nblocks;
    uint64_t dst_slot;       /* first destination slot; the run is
                              * contiguous in the destination tier */
    uint8_t from;            /* sculpt_tier every block is in now */
    uint8_t to;              /* sculpt_tier */
    uint8_t kind;            /* sculpt_move_kind */
    uint8_t reserved[5];
} sculpt_move_t;

/*
 * Plan moves from the current predictions and @budget into @moves (at most
 * @max_moves), in the order they must be executed: demotions first, then
 * promotions and prefetches, hottest first.  Returns the number of moves
 * or -1.  The moves' destination slots are reserved until reported; a new
 * plan first abandons (releases) every move of the previous plan not yet
 * reported.  Destination slots are only slots that were free when planning,
 * so executing any subset of the moves in order is safe.  Hysteresis keeps
 * blocks from ping-ponging: a block displaces another only if its score is
 * higher by the policy's margin.  Total bytes are bounded by
 * move_bytes_per_sec * interval_ns.
 * ERRORS: NULL @budget; @moves NULL with @max_moves > 0; interval open.
 */
int64_t sculpt_core_plan(sculpt_core_t *core, const sculpt_budget_t *budget,
                         sculpt_move_t *moves, uint64_t max_moves,
                         char **errptr);

/*
 * Report that move @id was carried out: the block map now places its
 * blocks at the destination and frees their old slots.
 * ERRORS: unknown, abandoned or already reported @id.
 */
int sculpt_core_move_done(sculpt_core_t *core, uint64_t id, char **errptr);

/*
 * Report that move @id failed: its reservation is released and the block
 * map stays exactly as it was before the move.
 * ERRORS: unknown, abandoned or already reported @id.
 */
int sculpt_core_move_failed(sculpt_core_t *core, uint64_t id, char **errptr);

/*
 * ---- Policy and statistics ----
 */

/*
 * Select the predictor by name: "recency", "ewma", "learned",
 * "learned+prefetch" or "guarded".  The access history is kept; the model
 * starts fresh.
 * ERRORS: unknown name (the message lists the valid ones).
 */
int sculpt_core_set_policy(sculpt_core_t *core, const char *name,
                           char **errptr);
/* Current policy name; static storage, valid for the handle's life. */
const char *sculpt_core_policy(const sculpt_core_t *core);

/*
 * How many blocks fast memory holds (e.g. a fast-memory budget over the
 * block size); 0: not known (the default).  The guarded policy judges its
 * predictors at that depth of their rankings.  Kept across
 * sculpt_core_set_policy() and sculpt_core_load().
 * ERRORS: more blocks than the guest has.
 */
int sculpt_core_set_fast_capacity(sculpt_core_t *core, uint64_t blocks,
                                  char **errptr);

typedef struct sculpt_core_stats {
    uint64_t intervals;          /* completed intervals */
    /* Predictions against what happened next, summed over intervals.
     * Predicted = HOT class at the previous end_interval; actual = touched
     * (and watched) in the interval that followed. */
    uint64_t true_pos;
    uint64_t false_pos;
    uint64_t false_neg;
    double precision;            /* true_pos / (true_pos + false_pos) */
    double recall;               /* true_pos / (true_pos + false_neg) */
    double last_precision;       /* the same, last interval only */
    double last_recall;
    uint64_t moves_planned;      /* moves returned by sculpt_core_plan */
    uint64_t moves_done;
    uint64_t moves_failed;
    uint64_t bytes_moved;        /* bytes of moves reported done */
    uint64_t mappings;           /* sculpt_core_mapping_count() */
} sculpt_core_stats_t;

/* Fill @out.  REQUIRES: @out not NULL (else no-op). */
void sculpt_core_get_stats(const sculpt_core_t *core,
                           sculpt_core_stats_t *out);

/*
 * ---- Model state for live migration ----
 *
 * The blob holds a version byte, the geometry, the policy, the access
 * history and the model's weights, protected by a CRC-32.  The block map
 * is not in it (the destination rebuilds its placement).
 */

/*
 * Serialise into a malloc()ed buffer *@blob of *@len bytes.
 * OWNERSHIP: the caller free()s *@blob.
 * ERRORS: interval open; out of memory.
 */
int sculpt_core_save(const sculpt_core_t *core, uint8_t **blob, size_t *len,
                     char **errptr);

/*
 * Replace the model state of @core with @blob.  All or nothing: on error
 * @core is unchanged.
 * ERRORS: interval open; bad magic, version, length or CRC; geometry
 * differs from @core's; unknown policy; non-finite numbers.
 */
int sculpt_core_load(sculpt_core_t *core, const uint8_t *blob, size_t len,
                     char **errptr);

/*
 * ---- Trace recording (format: docs/devel/sculpt-trace-format.rst) ----
 */
typedef struct sculpt_trace_writer sculpt_trace_writer_t;

/*
 * Create (truncate) the trace file @path for a RAM block of @nblocks blocks
 * of @block_size bytes, nominal interval @interval_ns.
 * OWNERSHIP: close with sculpt_trace_writer_close().
 * ERRORS: bad geometry; cannot create the file.
 */
sculpt_trace_writer_t *sculpt_trace_writer_new(const char *path,
                                               uint64_t block_size,
                                               uint64_t nblocks,
                                               uint64_t interval_ns,
                                               char **errptr);

/*
 * Append one interval ending at @now_ns: @counts as in record_access,
 * @sampled may be NULL (all watched), @dirty_pages may be NULL (none),
 * @sig may be NULL (all zero).
 * ERRORS: wrong @nblocks; time went backwards; write error.
 */
int sculpt_trace_writer_add(sculpt_trace_writer_t *w, uint64_t now_ns,
                            const uint32_t *counts, const uint8_t *sampled,
                            const uint32_t *dirty_pages,
                            const sculpt_vm_signals_t *sig, uint64_t nblocks,
                            char **errptr);

/*
 * Write the end record, flush and close; frees @w whatever the result.
 * ERRORS: write or close error (the file is then incomplete).
 */
int sculpt_trace_writer_close(sculpt_trace_writer_t *w, char **errptr);

#ifdef __cplusplus
}
#endif

#endif /* SCULPT_CORE_SCULPT_H */
