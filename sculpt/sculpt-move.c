/*
 * sculpt: moving blocks of guest RAM between tiers while the guest runs
 *
 * A sculpt-pool operation is planned at once (in the QMP handler) into runs:
 * neighbouring blocks that share a source tier and go to neighbouring slots
 * of one destination, so that one remap moves a run.  The runs are then
 * carried out in batches, each in one main-loop bottom half:
 *
 *   BH (BQL held: main-loop device emulation cannot run)
 *     may we move?  (no migration, snapshot or incoming postcopy)
 *     pause_all_vcpus()         drops the BQL while waiting: check again
 *     bdrv_drain_all_begin()    no block I/O completes into guest RAM
 *     for each run in the batch:
 *         copy into the destination, mmap(MAP_FIXED) it over the same
 *         host address, re-apply QEMU's per-mapping settings
 *     bdrv_drain_all_end(), resume_all_vcpus()
 *   then, with the guest running again: release the sources (punch), and
 *   write cold data out and drop it from DRAM.
 *
 * Copying inside the pause is what makes a move lose no write: vCPUs are
 * stopped, device emulation needs the BQL we hold, block I/O is drained.
 * Writers that need none of these (vhost-kernel, vhost-user, VFIO, vDPA)
 * are refused when the object is created (sculpt-obj.c).  A dirty-bitmap
 * re-copy alone would NOT be enough: device writes never reach the bitmap.
 *
 * Runs whose sources are shmem or hugetlbfs move without a pause, under
 * userfaultfd write-protection (move-protocol=write-protect, the default;
 * sculpt_move_wp(), uffd-wp.h): every write into them, whoever makes it,
 * waits in its page fault from the protection to the wake after the
 * remap, and then lands in the destination.  Runs from a cold file (no
 * write-protection for ext4/xfs mappings) still take the pause above.
 *
 * A batch holds at most max-pause worth of copying (at the copy speed
 * measured so far), so no pause grows with the operation.  Any failure
 * leaves the failed run mapped where it was, with its data; the batch goes
 * on with the next run.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qemu/cutils.h"
#include "qemu/units.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-sculpt.h"
#include "qapi/qapi-events-sculpt.h"
#include "block/block.h"
#include "migration/misc.h"
#include "hw/core/cpu.h"
#include "system/cpus.h"
#include "system/runstate.h"
#include "sculpt-int.h"
#include "uffd-wp.h"
#include "trace.h"

/* Copy speed assumed before any move was measured: 2 GB/s, cautious. */
#define SCULPT_INITIAL_BYTES_PER_US 2000
/* How long to wait before retrying while moving is held off. */
#define SCULPT_RETRY_MS 100

typedef struct SculptRun {
    uint64_t first;             /* first block */
    uint64_t n;                 /* blocks */
    sculpt_tier from;
    sculpt_tier to;
    uint64_t dst_slot;          /* first destination slot (reserved) */
    bool ready;                 /* faulted in before the pause */
    bool precopied;             /* dst slots got a copy before the pause */
    bool zeroed;                /* ... zeros: the sources held no data */
    uint8_t stale;              /* pauses that found that copy too stale */
    bool no_wp;                 /* write-protection refused: pause */
} SculptRun;

struct SculptOp {
    SculptPoolOperation type;
    bool internal;              /* auto mode's: no event */
    uint64_t blocks_to_cold, blocks_to_fast;
    GArray *runs;               /* SculptRun */
    guint next;                 /* first run not done */
    uint64_t runs_done, blocks_done, bytes_done, failures;
    char *first_error;
};

static const char *const sculpt_tier_names[] = {
    [SCULPT_TIER_BASE] = "base",
    [SCULPT_TIER_HOT] = "hot",
    [SCULPT_TIER_COLD] = "cold",
};

static bool sculpt_tier_is_slow(sculpt_tier t)
{
    return t == SCULPT_TIER_COLD;
}

/* ---- block map helpers ---------------------------------------------- */

static sculpt_tier sculpt_block_tier(SculptState *s, uint64_t block,
                                     uint64_t *slot)
{
    sculpt_tier tier = SCULPT_TIER_BASE;
    char *err = NULL;
    int ret;

    qemu_mutex_lock(&s->core_lock);
    ret = sculpt_core_block_get(s->core, block, &tier, slot, &err);
    qemu_mutex_unlock(&s->core_lock);
    if (ret) {
        /* Only an out-of-range block fails, which callers exclude. */
        error_report("sculpt: %s", err);
        free(err);
        abort();
    }
    return tier;
}

/* ---- statistics ------------------------------------------------------- */

static void sculpt_lat_record(SculptLatRing *r, uint64_t ns)
{
    r->max = MAX(r->max, ns);
    r->ns[r->count++ % SCULPT_PAUSE_SAMPLES] = ns;
}

static int sculpt_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The @pct percentile of the last SCULPT_PAUSE_SAMPLES durations of @r */
uint64_t sculpt_lat_percentile(const SculptLatRing *r, unsigned pct)
{
    size_t n = MIN(r->count, SCULPT_PAUSE_SAMPLES);
    g_autofree uint64_t *v = NULL;

    if (!n) {
        return 0;
    }
    v = g_memdup2(r->ns, n * sizeof(uint64_t));
    qsort(v, n, sizeof(uint64_t), sculpt_cmp_u64);
    return v[MIN(n - 1, (n * pct + 99) / 100 - (pct ? 1 : 0))];
}

/* ---- planning --------------------------------------------------------- */

static void sculpt_op_free(SculptOp *op)
{
    if (op) {
        g_array_free(op->runs, true);
        g_free(op->first_error);
        g_free(op);
    }
}

/*
 * Reserve @n destination slots in tier @to for blocks [first, first+n):
 * a block's home slot in BASE, else a contiguous run of the pool, placed
 * right after the slot of block first-1 when that block is in @to too.
 * Returns how many blocks got slots (a prefix, >= 1), or 0 if none: the
 * pool is full.
 */
static uint64_t sculpt_reserve(SculptState *s, uint64_t first, uint64_t n,
                               sculpt_tier to, uint64_t *slot, Error **errp)
{
    SculptHmPool *pool = &s->pools[to];
    char err[256];
    uint64_t after = SCULPT_HM_NO_SLOT, prev_slot;

    if (to == SCULPT_TIER_BASE) {
        if (sculpt_hm_slot_claim(pool, first, n, err, sizeof(err))) {
            error_setg(errp, "sculpt: %s", err);
            return 0;
        }
        *slot = first;
        return n;
    }
    if (first > 0 && sculpt_block_tier(s, first - 1, &prev_slot) == to) {
        after = prev_slot;
    }
    /* Largest contiguous run the pool still has, halving down to 1. */
    for (uint64_t want = n; want; want /= 2) {
        if (!sculpt_hm_slot_alloc(pool, want, after, slot, err,
                                  sizeof(err))) {
            return want;
        }
    }
    error_setg(errp, "sculpt: the %s tier is full (%" PRIu64 " slots of %"
               PRIu64 " in use); make it larger with %s-size",
               sculpt_tier_names[to], pool->nr_used, pool->nr_slots,
               sculpt_tier_names[to]);
    return 0;
}

/* Give back the slots a planned run reserved but never used. */
static void sculpt_unreserve(SculptState *s, const SculptRun *r)
{
    char err[256];

    if (sculpt_hm_slot_release(&s->pools[r->to], r->dst_slot, r->n,
                               true, err, sizeof(err))) {
        warn_report("sculpt: %s", err);
    }
}

/*
 * Append runs moving blocks [first, first+n) to @to, split where the
 * source tier changes; blocks already in @to are skipped.  With @dry_run
 * nothing is reserved and dst_slot is meaningless.
 */
static bool sculpt_plan_range(SculptState *s, SculptOp *op, uint64_t first,
                              uint64_t n, sculpt_tier to, bool dry_run,
                              Error **errp)
{
    uint64_t b = first, end = first + n, slot;

    while (b < end) {
        sculpt_tier from = sculpt_block_tier(s, b, &slot);
        uint64_t e = b + 1;
        SculptRun r;

        if (from == to) {
            b++;
            continue;
        }
        while (e < end && sculpt_block_tier(s, e, &slot) == from) {
            e++;
        }
        while (b < e) {
            r = (SculptRun) { .first = b, .n = e - b, .from = from, .to = to };
            if (!dry_run) {
                r.n = sculpt_reserve(s, b, e - b, to, &r.dst_slot, errp);
                if (!r.n) {
                    return false;
                }
            }
            g_array_append_val(op->runs, r);
            b += r.n;
        }
    }
    return true;
}

typedef struct SculptScored {
    uint64_t block;
    float prob;
} SculptScored;

static int sculpt_cmp_prob_desc(const void *a, const void *b)
{
    const SculptScored *x = a, *y = b;

    if (x->prob != y->prob) {
        return x->prob < y->prob ? 1 : -1;
    }
    return x->block < y->block ? -1 : x->block > y->block;
}

/*
 * Choose blocks by the predictor: the hottest (@hottest) or coldest
 * blocks not in @to, at most @max of them, in guest order.  For prefetch,
 * only blocks in COLD whose probability is at least @min_prob.
 */
static GArray *sculpt_choose(SculptState *s, sculpt_tier to, bool hottest,
                             uint64_t max, bool only_cold, float min_prob)
{
    uint64_t nblocks = sculpt_core_block_count(s->core);
    g_autofree float *probs = g_new(float, nblocks);
    g_autofree SculptScored *v = g_new(SculptScored, nblocks);
    GArray *chosen = g_array_new(false, false, sizeof(uint64_t));
    char *err = NULL;
    uint64_t n = 0, slot;
    int ret;

    qemu_mutex_lock(&s->core_lock);
    ret = sculpt_core_predictions(s->core, NULL, probs, nblocks, &err);
    qemu_mutex_unlock(&s->core_lock);
    if (ret) {
        error_report("sculpt: %s", err);
        free(err);
        return chosen;
    }
    for (uint64_t b = 0; b < nblocks; b++) {
        sculpt_tier t = sculpt_block_tier(s, b, &slot);

        if (t == to || (only_cold && t != SCULPT_TIER_COLD) ||
            probs[b] < min_prob) {
            continue;
        }
        v[n++] = (SculptScored) { b, hottest ? probs[b] : -probs[b] };
    }
    qsort(v, n, sizeof(*v), sculpt_cmp_prob_desc);
    n = MIN(n, max);
    for (uint64_t i = 0; i < n; i++) {
        g_array_append_val(chosen, v[i].block);
    }
    g_array_sort(chosen, (GCompareFunc)sculpt_cmp_u64);
    return chosen;
}

/* Runs for a list of single blocks in guest order, merged where adjacent. */
static bool sculpt_plan_blocks(SculptState *s, SculptOp *op, GArray *blocks,
                               sculpt_tier to, bool dry_run, Error **errp)
{
    for (guint i = 0; i < blocks->len;) {
        uint64_t first = g_array_index(blocks, uint64_t, i);
        guint j = i + 1;

        while (j < blocks->len &&
               g_array_index(blocks, uint64_t, j) == first + (j - i)) {
            j++;
        }
        if (!sculpt_plan_range(s, op, first, j - i, to, dry_run, errp)) {
            return false;
        }
        i = j;
    }
    return true;
}

static void sculpt_plan_summary(SculptState *s, SculptOp *op,
                                SculptPoolPlan *plan)
{
    uint64_t bs = s->block_size;
    uint64_t in_batch = 0, batch;

    plan->batches = 0;
    for (guint i = 0; i < op->runs->len; i++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, i);
        uint64_t bytes = r->n * bs;
        bool was_fast = !sculpt_tier_is_slow(r->from);
        bool now_fast = !sculpt_tier_is_slow(r->to);

        plan->runs++;
        plan->blocks += r->n;
        plan->bytes += bytes;
        switch (r->to) {
        case SCULPT_TIER_HOT:
            plan->to_hot += bytes;
            break;
        case SCULPT_TIER_COLD:
            plan->to_cold += bytes;
            break;
        default:
            plan->to_base += bytes;
            break;
        }
        plan->dram_delta += (int64_t)(now_fast - was_fast) * (int64_t)bytes;
        /* Batches as sculpt_move_bh() will cut them, at measured speeds. */
        batch = MAX(bs, s->bytes_per_us[r->from][r->to] *
                        s->max_pause_us);
        for (uint64_t left = bytes; left;) {
            uint64_t take;

            if (!in_batch) {
                plan->batches++;
            }
            take = MIN(left, MAX(bs, QEMU_ALIGN_DOWN(batch - in_batch, bs)));
            in_batch += take;
            left -= take;
            if (in_batch >= batch) {
                in_batch = 0;
            }
        }
    }
}

static SculptState *sculpt_find(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                id);

    if (!obj || !object_dynamic_cast(obj, TYPE_SCULPT)) {
        error_setg(errp, "'%s' is not a sculpt object", id);
        return NULL;
    }
    if (!sculpt_attached(SCULPT(obj))) {
        error_setg(errp, "sculpt '%s' is not attached to its memory backend "
                   "yet", id);
        return NULL;
    }
    return SCULPT(obj);
}

static bool sculpt_check_tier(SculptState *s, sculpt_tier t, Error **errp)
{
    if (!s->have_pool[t]) {
        error_setg(errp, "sculpt '%s' has no %s tier; create it with %s",
                   object_get_canonical_path_component(OBJECT(s)),
                   sculpt_tier_names[t],
                   t == SCULPT_TIER_HOT ? "hot-pool=memfd|thp|hugetlb" :
                   "cold-tier=file,cold-dir=DIR (or numa, swap)");
        return false;
    }
    return true;
}

static void sculpt_schedule(SculptState *s);

SculptPoolPlan *qmp_sculpt_pool(const char *id, SculptPoolOperation type,
                                bool has_size, uint64_t size,
                                bool has_window, uint32_t window,
                                bool has_blocks,
                                SculptBlockRangeList *blocks,
                                bool has_tier, SculptMemoryTier tier,
                                bool has_dry_run, bool dry_run,
                                Error **errp)
{
    SculptState *s = sculpt_find(id, errp);
    uint64_t nblocks, bs;
    sculpt_tier to;
    SculptOp *op;
    SculptPoolPlan *plan;
    bool ok = true;

    if (!s) {
        return NULL;
    }
    if (s->op && s->op->internal) {
        error_setg(errp, "sculpt '%s' is moving blocks for auto mode; retry "
                   "in a moment, or turn it off with qom-set %s auto false",
                   id, id);
        return NULL;
    }
    if (s->op) {
        error_setg(errp, "sculpt '%s' is busy with an operation; wait for "
                   "SCULPT_POOL_COMPLETED", id);
        return NULL;
    }
    nblocks = sculpt_core_block_count(s->core);
    bs = s->block_size;
    for (SculptBlockRangeList *l = blocks; l; l = l->next) {
        SculptBlockRange *r = l->value;

        if (!r->count || r->first >= nblocks ||
            r->count > nblocks - r->first) {
            error_setg(errp, "block range %" PRIu64 "+%" PRIu64 " is outside "
                       "the %" PRIu64 " blocks of sculpt '%s'", r->first,
                       r->count, nblocks, id);
            return NULL;
        }
    }
    if (has_size && (size % bs || size > s->size)) {
        error_setg(errp, "size %" PRIu64 " must be a multiple of the block "
                   "size (%" PRIu64 ") and at most the RAM size", size, bs);
        return NULL;
    }

    switch (type) {
    case SCULPT_POOL_OPERATION_HOT_ZONE:
        to = SCULPT_TIER_HOT;
        break;
    case SCULPT_POOL_OPERATION_COLD_ZONE:
        to = SCULPT_TIER_COLD;
        break;
    case SCULPT_POOL_OPERATION_PREFETCH: {
        /* Back to fast memory: the hot pool if it has room, else home. */
        uint64_t want = 0;

        for (SculptBlockRangeList *l = blocks; l; l = l->next) {
            want += l->value->count;
        }
        if (!blocks) {
            qemu_mutex_lock(&s->core_lock);
            want = sculpt_core_class_count(s->core, SCULPT_CLASS_HOT);
            qemu_mutex_unlock(&s->core_lock);
        }
        to = s->have_pool[SCULPT_TIER_HOT] &&
             s->pools[SCULPT_TIER_HOT].nr_slots -
             s->pools[SCULPT_TIER_HOT].nr_used >= want ? SCULPT_TIER_HOT :
             SCULPT_TIER_BASE;
        break;
    }
    default:
        if (!has_tier || !blocks) {
            error_setg(errp, "'move' needs 'blocks' and 'tier'");
            return NULL;
        }
        to = tier == SCULPT_MEMORY_TIER_HOT ? SCULPT_TIER_HOT :
             tier == SCULPT_MEMORY_TIER_COLD ? SCULPT_TIER_COLD :
             SCULPT_TIER_BASE;
        break;
    }
    if (to != SCULPT_TIER_BASE && !sculpt_check_tier(s, to, errp)) {
        return NULL;
    }

    op = g_new0(SculptOp, 1);
    op->type = type;
    op->runs = g_array_new(false, false, sizeof(SculptRun));
    if (blocks) {
        for (SculptBlockRangeList *l = blocks; l && ok; l = l->next) {
            ok = sculpt_plan_range(s, op, l->value->first, l->value->count,
                                   to, has_dry_run && dry_run, errp);
        }
    } else if (type == SCULPT_POOL_OPERATION_PREFETCH) {
        /*
         * The model gives p, the chance a block is touched in the next
         * interval.  Over a window of k intervals that is 1 - (1 - p)^k;
         * prefetch the cold blocks where it reaches one half, i.e.
         * p >= 1 - 0.5^(1/k).
         */
        uint32_t ms = has_window ? window : 1000;
        double k = MAX(1.0, ceil((double)ms / MAX(1, s->interval_ms)));
        g_autoptr(GArray) chosen =
            sculpt_choose(s, to, true, UINT64_MAX, true,
                          (float)(1.0 - pow(0.5, 1.0 / k)));

        ok = sculpt_plan_blocks(s, op, chosen, to, has_dry_run && dry_run,
                                errp);
    } else {
        uint64_t want = has_size ? size :
                        to == SCULPT_TIER_HOT ? s->pools[to].nr_slots * bs :
                        s->size;
        g_autoptr(GArray) chosen =
            sculpt_choose(s, to, to == SCULPT_TIER_HOT, want / bs, false,
                          0.0f);

        ok = sculpt_plan_blocks(s, op, chosen, to, has_dry_run && dry_run,
                                errp);
    }
    if (!ok) {
        for (guint i = 0; !(has_dry_run && dry_run) && i < op->runs->len;
             i++) {
            sculpt_unreserve(s, &g_array_index(op->runs, SculptRun, i));
        }
        sculpt_op_free(op);
        return NULL;
    }

    plan = g_new0(SculptPoolPlan, 1);
    sculpt_plan_summary(s, op, plan);
    trace_sculpt_pool_plan(id, SculptPoolOperation_str(type), plan->runs,
                           plan->blocks, has_dry_run && dry_run);
    if (has_dry_run && dry_run) {
        sculpt_op_free(op);
        return plan;
    }
    s->op = op;
    sculpt_schedule(s);
    return plan;
}

/*
 * Auto mode's moves (sculpt-auto.c): @to_cold to the cold tier, then
 * @to_fast to @fast, carried out like a sculpt-pool operation but with no
 * event.  Blocks already where they should go are skipped; if a tier
 * fills up, what was planned before still runs.  Main loop, BQL held.
 */
bool sculpt_move_auto(SculptState *s, GArray *to_cold, GArray *to_fast,
                      sculpt_tier fast, Error **errp)
{
    SculptOp *op;
    bool ok;

    if (s->op || (!to_cold->len && !to_fast->len)) {
        return true;
    }
    g_array_sort(to_cold, (GCompareFunc)sculpt_cmp_u64);
    g_array_sort(to_fast, (GCompareFunc)sculpt_cmp_u64);
    op = g_new0(SculptOp, 1);
    op->type = SCULPT_POOL_OPERATION_MOVE;
    op->internal = true;
    op->runs = g_array_new(false, false, sizeof(SculptRun));
    ok = sculpt_plan_blocks(s, op, to_cold, SCULPT_TIER_COLD, false, errp) &&
         sculpt_plan_blocks(s, op, to_fast, fast, false, errp);
    if (!op->runs->len) {
        sculpt_op_free(op);
        return ok;
    }
    s->op = op;
    sculpt_schedule(s);
    return ok;
}

/* ---- execution -------------------------------------------------------- */

/* Why moving must wait now, or NULL.  BQL held. */
static const char *sculpt_hold_reason(SculptState *s)
{
    if (migration_is_running()) {
        return "migration";
    }
    if (runstate_check(RUN_STATE_INMIGRATE) ||
        migration_in_incoming_postcopy()) {
        return "incoming migration";
    }
    if (runstate_check(RUN_STATE_SAVE_VM) ||
        runstate_check(RUN_STATE_RESTORE_VM)) {
        return "snapshot";
    }
    return NULL;
}

static void sculpt_schedule(SculptState *s)
{
    qemu_bh_schedule(s->move_bh);
}

static void sculpt_op_complete(SculptState *s)
{
    SculptOp *op = s->op;
    const char *id = object_get_canonical_path_component(OBJECT(s));

    s->op = NULL;
    trace_sculpt_pool_done(id, op->runs_done, op->blocks_done,
                           op->failures);
    if (op->internal) {
        sculpt_auto_moved(s, op->blocks_to_cold, op->blocks_to_fast);
    } else {
        qapi_event_send_sculpt_pool_completed(id, op->type, op->runs_done,
                                              op->blocks_done, op->bytes_done,
                                              op->failures, op->first_error);
    }
    sculpt_op_free(op);
    sculpt_auto_kick(s);
}

/* Where a block lives, as the mover sees it. */
static SculptHmLoc sculpt_loc(SculptState *s, uint64_t block)
{
    uint64_t slot = 0;
    sculpt_tier t = sculpt_block_tier(s, block, &slot);

    return (SculptHmLoc) { .pool = &s->pools[t], .slot = slot };
}

/* Where each block of run @r lives now: @locs has r->n entries. */
static void sculpt_run_locs(SculptState *s, const SculptRun *r,
                            SculptHmLoc *locs)
{
    for (uint64_t i = 0; i < r->n; i++) {
        locs[i] = sculpt_loc(s, r->first + i);
    }
}

/* The per-mapping settings QEMU had made, for a range going to @to. */
static SculptHmVmaAttrs sculpt_attrs(SculptState *s, sculpt_tier to)
{
    SculptHmVmaAttrs a = s->attrs;

    a.locked = s->attrs.locked || (to == SCULPT_TIER_HOT && s->hot_lock);
    return a;
}

/*
 * A pre-copied run of which the guest rewrote more than this share since
 * (it is filling it, say) is not fixed inside the pause, which would cost
 * up to a full copy at page-cache speed: it is copied again outside, at
 * most SCULPT_STALE_TRIES times, and then fixed whatever it costs.
 */
#define SCULPT_STALE_SHARE 4        /* a quarter */
#define SCULPT_STALE_TRIES 2

/*
 * Move one run inside the pause.  On success (0) the block map is updated
 * and the sources are left for sculpt_release() (*src is filled).  On
 * -EAGAIN the run's copy made before the pause was too stale: nothing
 * moved, the run must be prepared again.  On failure (-1, errp set) the
 * run is where it was, with its data, and its reservation is freed.
 */
static int sculpt_move_run(SculptState *s, SculptRun *r, SculptHmLoc *src,
                           SculptHmMoveResult *out, bool wp, Error **errp)
{
    SculptHmVmaAttrs attrs = sculpt_attrs(s, r->to);
    SculptHmMove mv = {
        .host = s->host + r->first * s->block_size,
        .nblocks = r->n,
        .src = src,
        .dst = &s->pools[r->to],
        .dst_slot = r->dst_slot,
        .attrs = &attrs,
        /*
         * Release after the pause (punching 4 KiB shmem pages is slow);
         * non-temporal stores: the copy is not read again soon, and they
         * move data faster than memcpy here (bench/mover/RESULTS.md);
         * the page tables the copy built go to the guest, and the old
         * ones leave the pause to be torn down by the release.
         */
        .flags = SCULPT_HM_DEFER_RELEASE | SCULPT_HM_NT_COPY |
                 (s->transfer ? SCULPT_HM_TRANSFER : 0) |
                 /* the guest runs: no hole, not even for a moment */
                 (wp ? SCULPT_HM_SRC_STAY : 0) |
                 (r->precopied ? SCULPT_HM_VERIFY_COPY : 0) |
                 (r->zeroed ? SCULPT_HM_DST_ZERO : 0),
        .fix_limit = r->stale < SCULPT_STALE_TRIES ?
                     MAX(r->n * s->block_size / SCULPT_STALE_SHARE, 1) : 0,
    };
    SculptHmMoveResult res = { 0 };
    char err[256];
    char *cerr = NULL;
    int ret;

    sculpt_run_locs(s, r, src);
    for (uint64_t i = 0; i < r->n && s->hot_lock; i++) {
        if (src[i].pool == &s->pools[SCULPT_TIER_HOT]) {
            mv.flags |= SCULPT_HM_SRC_LOCKED;   /* the hot zone is locked */
            break;
        }
    }
    /*
     * The remap drops the range's userfaultfd registration: redo later
     * (under write-protection the caller does, once it ended).
     */
    if (!wp) {
        sculpt_track_remapped(s, r->first * s->block_size,
                              r->n * s->block_size);
    }
    ret = sculpt_hm_move_run(&mv, &res, err, sizeof(err));
    if (ret == -EAGAIN && res.where == SCULPT_HM_AT_SRC) {
        trace_sculpt_move_stale(r->first, r->n, res.bytes_fixed,
                                res.ns_copy);
        s->stats.stale_copies++;
        r->ready = r->precopied = r->zeroed = false;
        r->stale++;
        return -EAGAIN;
    }
    if (ret) {
        if (res.where == SCULPT_HM_AT_DST) {
            /* Data complete at dst, the sources untouched: keep dst. */
            warn_report("sculpt: %s; the run stays at its destination", err);
        } else {
            error_setg(errp, "sculpt: moving blocks %" PRIu64 "-%" PRIu64
                       " to %s failed: %s", r->first, r->first + r->n - 1,
                       sculpt_tier_names[r->to], err);
            sculpt_unreserve(s, r);
            return -1;
        }
    }
    *out = res;
    s->stats.mmaps += res.mmaps;
    trace_sculpt_move_run(r->first, r->n, r->from, r->to, res.ns_copy,
                          res.ns_remap, res.ns_attrs, res.ns_populate,
                          r->precopied, res.bytes_fixed);
    qemu_mutex_lock(&s->core_lock);
    for (uint64_t i = 0; i < r->n; i++) {
        if (sculpt_core_block_set(s->core, r->first + i, r->to,
                                  r->dst_slot + i, &cerr)) {
            /* The map and the pools disagree: a bug, never a guest fault. */
            error_report("sculpt: block map: %s", cerr);
            abort();
        }
    }
    qemu_mutex_unlock(&s->core_lock);
    return 0;
}

/*
 * After the pause: free the sources of moved runs and make cold data
 * really leave DRAM.  Failures here lose nothing (the data is already at
 * its destination) and only cost memory, so they warn.
 */
static void sculpt_release(SculptState *s, SculptRun *r, SculptHmLoc *src)
{
    char err[256];

    if (sculpt_hm_release_sources(src, r->n, err, sizeof(err))) {
        warn_report("sculpt: releasing the old copy of blocks %" PRIu64
                    "-%" PRIu64 ": %s", r->first, r->first + r->n - 1, err);
    }
    if (r->to == SCULPT_TIER_COLD) {
        if (sculpt_hm_cold_release(&s->pools[r->to],
                                   s->host + r->first * s->block_size,
                                   r->dst_slot, r->n, NULL, err,
                                   sizeof(err))) {
            warn_report("sculpt: dropping cold blocks %" PRIu64 "-%" PRIu64
                        " from DRAM: %s", r->first, r->first + r->n - 1, err);
        }
    }
}

/* Split run @i so that its first part holds @n blocks. */
static void sculpt_split_run(SculptOp *op, guint i, uint64_t n)
{
    SculptRun *r = &g_array_index(op->runs, SculptRun, i);
    SculptRun tail = *r;

    tail.first += n;
    tail.n -= n;
    tail.dst_slot += n;
    r->n = n;
    g_array_insert_val(op->runs, i + 1, tail);
}

/* Blocks the op still has to move: a bound for one batch's sources. */
static uint64_t sculpt_blocks_left(SculptOp *op)
{
    uint64_t left = 0;

    for (guint i = op->next; i < op->runs->len; i++) {
        left += g_array_index(op->runs, SculptRun, i).n;
    }
    return left;
}

/* How many blocks of run @r have sources without any data. */
static uint64_t sculpt_run_empty(SculptState *s, const SculptRun *r)
{
    g_autofree SculptHmLoc *locs = g_new(SculptHmLoc, r->n);

    sculpt_run_locs(s, r, locs);
    return sculpt_hm_locs_empty(locs, r->n);
}

/*
 * Whether the sources of run @i hold no data at all; a run that mixes
 * both is split first where they change, and the answer is its first
 * part's.
 */
static bool sculpt_split_run_empty(SculptState *s, SculptOp *op, guint i)
{
    SculptRun *r = &g_array_index(op->runs, SculptRun, i);
    uint64_t empty = sculpt_run_empty(s, r);
    SculptHmLoc l = sculpt_loc(s, r->first);
    bool first;

    if (!empty || empty == r->n) {
        return empty;
    }
    first = sculpt_hm_loc_empty(&l);
    for (uint64_t k = 1; k < r->n; k++) {
        l = sculpt_loc(s, r->first + k);
        if (sculpt_hm_loc_empty(&l) != first) {
            sculpt_split_run(op, i, k);
            break;
        }
    }
    return first;
}

/*
 * Before pausing: fault in what the next batch will touch, so that the
 * pause only copies and remaps.  A store into a file page that is not
 * mapped yet costs a fault (and a read, for a slot used before): 1-4 ms
 * per 2 MiB of cold file against 0.07 ms prefaulted, measured here.  So
 * destination slots are populated for writing and sources read in.
 * Nothing here changes what the guest sees.  Main loop, without the BQL.
 */
static void sculpt_prepare_batch(SculptState *s, SculptOp *op)
{
    uint64_t want = 0, bs = s->block_size;
    char err[256];

    for (guint i = op->next; i < op->runs->len; i++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, i);
        SculptHmPool *dst = &s->pools[r->to];
        uint64_t batch = MAX(bs, s->bytes_per_us[r->from][r->to] *
                                 s->max_pause_us);

        if (want >= batch) {
            break;
        }
        /*
         * To the cold file from sources that hold no data at all (never
         * touched, or discarded): zero the slots instead of copying, and
         * leave the sources alone (reading a shmem hole allocates a page).
         * Cheap to prepare and to move, so they do not count in @want.
         */
        if (!r->ready && dst->kind == SCULPT_HM_COLD_FILE) {
            bool empty = sculpt_split_run_empty(s, op, i);

            r = &g_array_index(op->runs, SculptRun, i);
            if (empty && !sculpt_hm_pool_zero(dst, r->dst_slot, r->n, err,
                                              sizeof(err))) {
                r->ready = r->precopied = r->zeroed = true;
                continue;
            }
        }
        if (r->zeroed) {
            continue;
        }
        want += r->n * bs;
        /*
         * Sources, every time (cheap when they are mapped already): read
         * cold ones in and map them; a memfd source's holes (pages the
         * guest never touched) are allocated by the copy's reads, so let
         * that happen here too.  Since an earlier batch prepared a run,
         * its cold pages may have been unmapped: punching a released
         * slot unmaps the whole page-cache folio around it (up to 2 MiB).
         */
        if (sculpt_hm_prefetch(s->host + r->first * bs, r->n * bs, true,
                               err, sizeof(err))) {
            warn_report_once("sculpt: %s", err);
        } else {
            sculpt_hm_touch(s->host + r->first * bs, r->n * bs);
        }
        if (r->ready) {
            continue;
        }
        r->ready = true;
        /*
         * To the cold file: copy now, with the guest running, by pwrite()
         * (3x faster than stores through the mapping, see hostmem.h);
         * inside the pause the mover then only compares and fixes the
         * pages the guest changed meanwhile.
         */
        if (dst->kind == SCULPT_HM_COLD_FILE && !r->precopied) {
            if (sculpt_hm_pool_write(dst, r->dst_slot,
                                     s->host + r->first * bs, r->n * bs,
                                     err, sizeof(err))) {
                warn_report_once("sculpt: %s", err);
            } else {
                r->precopied = true;
                continue;
            }
        }
        if (dst->kind != SCULPT_HM_HUGETLB &&
            sculpt_hm_pool_prefault(dst, r->dst_slot, r->n, err,
                                    sizeof(err))) {
            warn_report_once("sculpt: %s", err);
        } else if (dst->kind != SCULPT_HM_HUGETLB) {
            sculpt_hm_touch(dst->window + r->dst_slot * bs, r->n * bs);
        }
    }
}

/* A vCPU thread's scheduler state letter ("R", "S", "D"...), '?' if unknown */
static char sculpt_cpu_state(CPUState *cpu)
{
    g_autofree char *path = g_strdup_printf("/proc/self/task/%d/stat",
                                            cpu->thread_id);
    g_autofree char *stat = NULL;
    const char *p;

    /* "tid (comm) S ...": the comm may hold spaces and parentheses */
    if (g_file_get_contents(path, &stat, NULL, NULL)) {
        p = strrchr(stat, ')');
        if (p && p[1] == ' ' && p[2]) {
            return p[2];
        }
    }
    return '?';
}

/*
 * For the sculpt_stop_cpu trace: a vCPU thread's state letter and, from
 * its schedstat, the ns it has run and waited on a run queue.  Only read
 * while that trace is on (a few /proc reads per batch).
 */
typedef struct SculptCpuSched {
    uint64_t exec_ns, delay_ns;
    char state;
} SculptCpuSched;

static void sculpt_cpu_sched(CPUState *cpu, SculptCpuSched *cs)
{
    g_autofree char *dir = g_strdup_printf("/proc/self/task/%d",
                                           cpu->thread_id);
    g_autofree char *path = g_strconcat(dir, "/schedstat", NULL);
    g_autofree char *text = NULL;

    memset(cs, 0, sizeof(*cs));
    if (g_file_get_contents(path, &text, NULL, NULL) &&
        sscanf(text, "%" SCNu64 " %" SCNu64, &cs->exec_ns,
               &cs->delay_ns) != 2) {
        cs->exec_ns = cs->delay_ns = 0;
    }
    cs->state = sculpt_cpu_state(cpu);
}

/*
 * A vCPU thread in uninterruptible sleep is inside a host page fault
 * waiting for I/O (reading a cold-file page, say) and stops only once it
 * is done: with the others already stopped, pause_all_vcpus() waits for
 * it, which was most of the pauses' tail (bench/mover/trace-summary.py:
 * "waiting for the last stop", p99 4.2 ms against 0.6 ms from then to the
 * resume).  So wait for such faults to end before asking, with the guest
 * running and without the BQL, for at most SCULPT_STOP_DEFER_NS; then ask
 * anyway.  A fault that starts after the look still delays the stop.
 * Main loop, BQL not held.
 */
#define SCULPT_STOP_DEFER_NS (5 * SCALE_MS)
#define SCULPT_STOP_POLL_US 100

static void sculpt_wait_cpus_out_of_io(SculptState *s)
{
    int64_t t0 = get_clock(), waited;
    unsigned polls = 0;

    for (;;) {
        unsigned in_io = 0;
        CPUState *cpu;

        WITH_RCU_READ_LOCK_GUARD() {
            CPU_FOREACH(cpu) {
                in_io += cpu->thread_id && sculpt_cpu_state(cpu) == 'D';
            }
        }
        waited = get_clock() - t0;
        if (!in_io || waited >= SCULPT_STOP_DEFER_NS) {
            break;
        }
        polls++;
        g_usleep(SCULPT_STOP_POLL_US);
    }
    if (polls) {
        trace_sculpt_stop_deferred(object_get_canonical_path_component(
                                       OBJECT(s)), polls, waited);
    }
}

/*
 * Account for run @r, moved (@res): the op's and the object's counters,
 * and learn the costs: copy speed for this source and destination, and
 * the rest of a run (remap, attributes) per destination.  The speed
 * falls at once and recovers slowly, so that one slow run (a cold page
 * read back, a preempted copy) shrinks the next batches rather than
 * overrunning several.
 */
static void sculpt_run_moved(SculptState *s, SculptOp *op, SculptRun *r,
                             const SculptHmMoveResult *res)
{
    uint64_t *bw = &s->bytes_per_us[r->from][r->to];
    uint64_t rest = res->ns_remap + res->ns_attrs + res->ns_populate;
    uint64_t seen;

    /* A remap's cost grows with the pages it unmaps: count it in the
     * speed, and learn the fixed part from small runs.  Not from runs
     * without data: nothing was copied. */
    if (!res->blocks_empty) {
        if (r->n <= 2) {
            s->run_ns[r->to] = (s->run_ns[r->to] * 3 + rest) / 4;
        }
        rest = rest > s->run_ns[r->to] ? rest - s->run_ns[r->to] : 0;
        seen = MAX(1, r->n * s->block_size * 1000 /
                      MAX(1, res->ns_copy + rest));
        *bw = seen < *bw ? seen : (*bw * 3 + seen) / 4;
    }
    op->runs_done++;
    op->blocks_done += r->n;
    if (r->to == SCULPT_TIER_COLD) {
        op->blocks_to_cold += r->n;
    } else {
        op->blocks_to_fast += r->n;
    }
    op->bytes_done += r->n * s->block_size;
    s->stats.moves++;
    s->stats.blocks_moved += r->n;
    s->stats.blocks_empty += res->blocks_empty;
    s->stats.bytes_moved += (r->n - res->blocks_empty) * s->block_size;
}

/* A run failed (@err, consumed): it stayed where it was, with its data. */
static void sculpt_run_failed(SculptState *s, SculptOp *op, Error *err)
{
    op->failures++;
    s->stats.failures++;
    if (!op->first_error) {
        op->first_error = g_strdup(error_get_pretty(err));
    }
    warn_report_err(err);
}

/*
 * After a batch, with the guest running: release the sources of the runs
 * in @done (indexes into op->runs; @srcs holds their sources in order).
 */
static void sculpt_release_done(SculptState *s, SculptOp *op, GArray *done,
                                SculptHmLoc *srcs)
{
    bool cold_released = false;
    uint64_t nsrc = 0;

    for (guint i = 0; i < done->len; i++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun,
                                      g_array_index(done, guint, i));

        sculpt_release(s, r, srcs + nsrc);
        cold_released |= r->to == SCULPT_TIER_COLD;
        nsrc += r->n;
    }
    /*
     * A cold release writes the file out and drops clean cache around its
     * runs (2 MiB granules): runs to the cold tier that were pre-copied
     * but not moved in this batch may have lost their pages (not their
     * data, which was written out first).  Fault them in again before the
     * next pause rather than read them back inside it; copying them again
     * would cost the main loop as much as the first time.
     */
    for (guint i = op->next; cold_released && i < op->runs->len; i++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, i);

        if (r->to == SCULPT_TIER_COLD) {
            r->ready = false;
        }
    }
}

/* ---- moving under write-protection ------------------------------------ */

/*
 * Whether run @r may move with the vCPUs running (uffd-wp.h): the
 * protocol is on, the kernel offers it, the run was prepared, and its
 * sources are shmem or hugetlbfs (a cold file on ext4 or xfs cannot be
 * write-protected: runs from there move inside a pause).
 */
static bool sculpt_run_wp_ok(SculptState *s, const SculptRun *r)
{
    return s->wp_moves && !s->wp_refused && !r->no_wp && r->ready &&
           s->pools[r->from].kind != SCULPT_HM_COLD_FILE;
}

/* The mover's userfaultfd, opened the first time it is wanted. */
static bool sculpt_wp_open(SculptState *s)
{
    char err[256];

    if (s->wp_uffd < 0 && !s->wp_refused) {
        s->wp_uffd = sculpt_uffd_wp_open(err, sizeof(err));
        if (s->wp_uffd < 0) {
            s->wp_refused = true;
            warn_report("sculpt: %s; every move pauses the vCPUs", err);
        }
    }
    return s->wp_uffd >= 0;
}

/*
 * A batch's time: 60% of max-pause.  Speeds vary, a run cannot stop, and
 * resuming the vCPUs and the block layer takes its time too.
 */
static uint64_t sculpt_batch_budget_ns(const SculptState *s)
{
    return s->max_pause_us * 600ULL;
}

/*
 * How many of run @r's blocks fit in what is left of a batch's @budget
 * (ns) once @spent is gone, at the speed measured for its source and
 * destination tiers; all of them if it copies nothing (@empty: its remap
 * costs the same at any size).  0: none.
 */
static uint64_t sculpt_run_fit(const SculptState *s, const SculptRun *r,
                               uint64_t spent, uint64_t budget, bool empty)
{
    if (spent >= budget) {
        return 0;
    }
    if (empty) {
        return r->n;
    }
    return (budget - spent) / 1000 *
           MAX(1, s->bytes_per_us[r->from][r->to]) / s->block_size;
}

/*
 * The runs of the next batch under write-protection, from op->next: those
 * that may (sculpt_run_wp_ok()), as many as max-pause holds at the costs
 * measured so far (the estimate a pause makes: a write to them waits that
 * long), the last one split to fit; the first always moves at least one
 * block.  Returns how many.
 */
static guint sculpt_wp_select(SculptState *s, SculptOp *op)
{
    uint64_t budget = sculpt_batch_budget_ns(s), cost = 0;
    guint i;

    for (i = op->next; i < op->runs->len; i++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, i);
        uint64_t bw = MAX(1, s->bytes_per_us[r->from][r->to]);
        uint64_t fit;

        if (!sculpt_run_wp_ok(s, r)) {
            break;
        }
        cost += s->run_ns[r->to];
        fit = sculpt_run_fit(s, r, cost, budget, r->zeroed);
        if (!fit) {
            if (i > op->next) {
                break;
            }
            fit = 1;
        }
        if (r->n > fit) {
            sculpt_split_run(op, i, fit);
            r = &g_array_index(op->runs, SculptRun, i);
        }
        if (!r->zeroed) {
            cost += r->n * s->block_size * 1000 / bw;
        }
        if (cost >= budget) {
            i++;
            break;
        }
    }
    return i - op->next;
}

/*
 * One batch of @nruns runs from op->next with the vCPUs running:
 *
 *   mm_lock   register each run's range with the mover's userfaultfd in
 *             WP mode (first unregistered from the access sampler's: a
 *             mapping takes one userfaultfd)
 *   BQL       may we move?  bdrv_drain_all_begin(): no DMA in flight
 *             into guest RAM (a request submitted later faults, and
 *             waits); write-protect the ranges; bdrv_drain_all_end()
 *   no BQL    move each run as inside a pause (copy or compare-and-fix,
 *             remap, attributes): no write can reach the sources now,
 *             every write waits in its own fault
 *             wake the writers: each faults again on the new mapping
 *             (a run left where it was is un-protected instead)
 *             release the sources, as after a pause
 *
 * A vCPU, device model or I/O thread that writes to a moving run waits
 * from the protection to the wake (the "write-protect window"), and so
 * does a vCPU that holds the BQL meanwhile: nothing the window needs
 * takes the BQL.  Nothing else stops.  Called from the BH without the BQL
 * or mm_lock.  Returns false, still without them, when not a single run
 * could be registered (the caller then pauses); else true with the BQL
 * held, the next batch scheduled.
 */
static bool sculpt_move_wp(SculptState *s, SculptOp *op, guint nruns,
                           uint64_t tprep)
{
    const char *id = object_get_canonical_path_component(OBJECT(s));
    uint64_t bs = s->block_size, used = 0, nsrc = 0, waits;
    uint64_t tlock, twp, t0, t1, window;
    g_autoptr(GArray) done = g_array_new(false, false, sizeof(guint));
    g_autofree SculptHmLoc *srcs = NULL;
    g_autofree bool *moved = g_new0(bool, nruns);
    guint first = op->next, nreg, nprot, k;
    const char *reason;
    char err[256];

    tlock = get_clock();
    qemu_mutex_lock(&s->mm_lock);
    tlock = get_clock() - tlock;
    for (nreg = 0; nreg < nruns; nreg++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, first + nreg);
        Error *lerr = NULL;

        if (!sculpt_track_unwatch(s, r->first * bs, r->n * bs, &lerr)) {
            warn_report_err(lerr);      /* registering says what next */
        }
        if (sculpt_uffd_wp_register(s->wp_uffd, s->host + r->first * bs,
                                    r->n * bs, err, sizeof(err))) {
            warn_report_once("sculpt: %s; such runs move inside a vCPU "
                             "pause", err);
            r->no_wp = true;
            sculpt_track_remapped(s, r->first * bs, r->n * bs);
            break;
        }
    }
    if (!nreg) {
        qemu_mutex_unlock(&s->mm_lock);
        return false;
    }

    bql_lock();
    tprep = get_clock() - tprep;
    twp = get_clock();
    reason = sculpt_hold_reason(s);
    nprot = 0;
    if (!reason) {
        bdrv_drain_all_begin();
        for (; nprot < nreg; nprot++) {
            SculptRun *r = &g_array_index(op->runs, SculptRun,
                                          first + nprot);

            if (sculpt_uffd_wp_protect(s->wp_uffd, s->host + r->first * bs,
                                       r->n * bs, err, sizeof(err))) {
                warn_report_once("sculpt: %s; such runs move inside a "
                                 "vCPU pause", err);
                r->no_wp = true;
                break;
            }
        }
        bdrv_drain_all_end();
        bql_unlock();
    }
    t0 = get_clock();

    srcs = g_new(SculptHmLoc, sculpt_blocks_left(op));
    for (k = 0; k < nprot; k++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, op->next);
        SculptHmMoveResult res;
        Error *lerr = NULL;
        int ret = sculpt_move_run(s, r, srcs + nsrc, &res, true, &lerr);

        if (ret == -EAGAIN) {
            break;          /* copied again before the next batch */
        }
        if (!ret) {
            guint idx = op->next;

            moved[k] = true;
            sculpt_run_moved(s, op, r, &res);
            g_array_append_val(done, idx);
            nsrc += r->n;
            used += r->n * bs;
        } else {
            sculpt_run_failed(s, op, lerr);
        }
        op->next++;
    }
    t1 = get_clock();

    /* Let the writes go on, onto the new mappings or where they were. */
    waits = nprot ? sculpt_uffd_wp_waiting(s->wp_uffd) : 0;
    for (k = 0; k < nreg; k++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, first + k);

        if (sculpt_uffd_wp_end(s->wp_uffd, s->host + r->first * bs,
                               r->n * bs, moved[k], err, sizeof(err))) {
            warn_report("sculpt: %s", err);
        }
    }
    window = get_clock() - twp;
    qemu_mutex_unlock(&s->mm_lock);
    for (k = 0; k < nreg; k++) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, first + k);

        /* the access sampler may watch them again */
        sculpt_track_remapped(s, r->first * bs, r->n * bs);
    }

    if (reason) {
        /* BQL still held: try again later */
        s->hold_reason = reason;
        timer_mod(s->retry_timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + SCULPT_RETRY_MS);
        return true;
    }
    s->hold_reason = NULL;
    if (nprot) {
        s->stats.wp_waits += waits;
        sculpt_lat_record(&s->wp_windows, window);
        trace_sculpt_wp_batch(id, done->len, used, window, t0 - twp, t1 - t0,
                              waits, tprep, tlock);
    }
    sculpt_release_done(s, op, done, srcs);

    bql_lock();
    qemu_bh_schedule(s->move_bh);
    return true;
}

static void sculpt_move_bh(void *opaque)
{
    SculptState *s = opaque;
    SculptOp *op = s->op;
    const char *reason;
    uint64_t budget, used = 0, t0, t1, ts, tstop, tprep, tlock, paused;
    g_autoptr(GArray) done = g_array_new(false, false, sizeof(guint));
    g_autofree SculptHmLoc *srcs = NULL;
    g_autofree SculptCpuSched *sched = NULL;
    uint64_t nsrc = 0;
    int ret;
    CPUState *cpu;

    if (!op) {
        return;
    }
    if (op->next >= op->runs->len) {
        sculpt_op_complete(s);
        return;
    }
    reason = sculpt_hold_reason(s);
    if (reason) {
        s->hold_reason = reason;
        timer_mod(s->retry_timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + SCULPT_RETRY_MS);
        return;
    }

    /*
     * Without the BQL: preparing reads cold blocks from disk and writes
     * to the cold file, up to hundreds of ms when the disk is busy, and a
     * vCPU thread needs the BQL to take an interrupt or emulate a device.
     * Held, it stalled the guest for as long (docs/system/sculpt.rst,
     * "pauses").  Nothing here needs it: the op and its runs are the main
     * loop's, which is here, the block map has its own lock, and what a
     * vCPU may do meanwhile (write guest RAM, discard a block through the
     * balloon) is what the pause's compare-and-fix is for.
     */
    tprep = get_clock();
    bql_unlock();
    sculpt_prepare_batch(s, op);
    if (sculpt_run_wp_ok(s, &g_array_index(op->runs, SculptRun, op->next)) &&
        sculpt_wp_open(s) &&
        sculpt_move_wp(s, op, sculpt_wp_select(s, op), tprep)) {
        return;
    }
    sculpt_wait_cpus_out_of_io(s);
    /*
     * The sculpt thread's page-table work waits until the vCPUs run.  Wait
     * for its step in progress here, still without the BQL: a drop can
     * wait for a block's writeback, and meanwhile a vCPU thread that takes
     * an interrupt or emulates a device needs the BQL.
     */
    tlock = get_clock();
    qemu_mutex_lock(&s->mm_lock);
    tlock = get_clock() - tlock;
    bql_lock();
    tprep = get_clock() - tprep;
    if (trace_event_get_state_backends(TRACE_SCULPT_STOP_CPU)) {
        int ncpu = 0;

        CPU_FOREACH(cpu) {
            ncpu = MAX(ncpu, cpu->cpu_index + 1);
        }
        sched = g_new0(SculptCpuSched, 2 * ncpu);
        CPU_FOREACH(cpu) {
            sculpt_cpu_sched(cpu, &sched[2 * cpu->cpu_index]);
        }
    }
    ts = get_clock();
    pause_all_vcpus();
    tstop = get_clock();
    if (sched) {
        CPU_FOREACH(cpu) {
            SculptCpuSched *a = &sched[2 * cpu->cpu_index], *b = a + 1;

            sculpt_cpu_sched(cpu, b);
            trace_sculpt_stop_cpu(cpu->cpu_index, tstop - ts, a->state,
                                  b->exec_ns - a->exec_ns,
                                  b->delay_ns - a->delay_ns);
        }
    }
    /* pause_all_vcpus() dropped the BQL while waiting: look again. */
    reason = sculpt_hold_reason(s);
    if (reason) {
        resume_all_vcpus();
        qemu_mutex_unlock(&s->mm_lock);
        s->hold_reason = reason;
        timer_mod(s->retry_timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + SCULPT_RETRY_MS);
        return;
    }
    s->hold_reason = NULL;
    bdrv_drain_all_begin();

    t0 = get_clock();
    /*
     * Cut the batch by time: a run costs the fixed part of a remap
     * (measured per destination) plus its bytes at the speed measured for
     * its source and destination tiers (a cold file is slower than
     * memory, a remap's cost grows with its pages); each run gets what is
     * left of the budget; the first run of a batch always moves at least
     * one block (sculpt_run_fit()).  The pause counts from the request to
     * stop to the resume.
     */
    budget = sculpt_batch_budget_ns(s);
    srcs = g_new(SculptHmLoc, sculpt_blocks_left(op));
    while (op->next < op->runs->len) {
        SculptRun *r = &g_array_index(op->runs, SculptRun, op->next);
        /* The guest's pause began when the vCPUs were asked to stop. */
        uint64_t elapsed = get_clock() - ts + s->run_ns[r->to];
        /* Sources still without data (checked with the vCPUs stopped):
         * the run costs a remap, whatever its size. */
        bool empty = r->zeroed && r->ready && sculpt_run_empty(s, r) == r->n;
        uint64_t fit = sculpt_run_fit(s, r, elapsed, budget, empty);
        SculptHmMoveResult res;
        Error *err = NULL;

        if (!fit || !r->ready) {
            /* out of time, or past what was prepared before the pause */
            if (done->len || op->failures) {
                break;
            }
            fit = MAX(fit, 1);
        }
        if (r->n > fit) {
            sculpt_split_run(op, op->next, fit);
            r = &g_array_index(op->runs, SculptRun, op->next);
        }
        ret = sculpt_move_run(s, r, srcs + nsrc, &res, false, &err);
        if (ret == -EAGAIN) {
            break;          /* copied again before the next pause */
        }
        if (!ret) {
            guint idx = op->next;

            sculpt_run_moved(s, op, r, &res);
            g_array_append_val(done, idx);
            nsrc += r->n;
            used += r->n * s->block_size;
        } else {
            sculpt_run_failed(s, op, err);
        }
        op->next++;
    }
    t1 = get_clock();

    bdrv_drain_all_end();
    resume_all_vcpus();
    /*
     * What the guest saw: from the request to stop to the resume.  Read
     * the clock before anything else: once resumed, a vCPU thread can
     * take this thread's core (two cores here) and a later reading would
     * count guest time as pause.
     */
    paused = get_clock() - ts;
    qemu_mutex_unlock(&s->mm_lock);
    sculpt_auto_hold();     /* still over the budget: hold them again */

    sculpt_lat_record(&s->pauses, paused);
    trace_sculpt_batch(object_get_canonical_path_component(OBJECT(s)),
                       done->len, used, t1 - t0, paused, tstop - ts,
                       t0 - tstop, paused - (t1 - ts), tprep, tlock);

    sculpt_release_done(s, op, done, srcs);
    /* Let the guest and the main loop run before the next batch. */
    qemu_bh_schedule(s->move_bh);
}

static void sculpt_retry_cb(void *opaque)
{
    sculpt_schedule(opaque);
}

void sculpt_move_init(SculptState *s)
{
    s->move_bh = qemu_bh_new(sculpt_move_bh, s);
    s->retry_timer = timer_new_ms(QEMU_CLOCK_REALTIME, sculpt_retry_cb, s);
    for (int f = 0; f < SCULPT_TIER__MAX; f++) {
        for (int t = 0; t < SCULPT_TIER__MAX; t++) {
            /* A cold file's page cache runs at 0.5-0.9 GB/s. */
            s->bytes_per_us[f][t] = f == SCULPT_TIER_COLD ||
                                    t == SCULPT_TIER_COLD ?
                                    SCULPT_INITIAL_BYTES_PER_US / 4 :
                                    SCULPT_INITIAL_BYTES_PER_US;
        }
    }
}

void sculpt_move_cleanup(SculptState *s)
{
    if (s->op) {
        for (guint i = s->op->next; i < s->op->runs->len; i++) {
            sculpt_unreserve(s, &g_array_index(s->op->runs, SculptRun, i));
        }
        sculpt_op_free(s->op);
        s->op = NULL;
    }
    if (s->retry_timer) {
        timer_free(s->retry_timer);
        s->retry_timer = NULL;
    }
    if (s->move_bh) {
        qemu_bh_delete(s->move_bh);
        s->move_bh = NULL;
    }
    if (s->wp_uffd >= 0) {
        close(s->wp_uffd);
        s->wp_uffd = -1;
    }
}

/* ---- discards (balloon, free page reporting) --------------------------- */

/*
 * ram_block_discard_range() on sculpted RAM: free each block's range where
 * the block really lives.  Punching a shared file range also unmaps it
 * from every mapping, so the guest reads zeros there afterwards, as it
 * would from its own memfd.  A cold file is re-reserved at once, so a
 * later guest write can never meet ENOSPC.  BQL held, so no batch of
 * moves runs meanwhile, except one under write-protection.  A discard of
 * one of its blocks then frees the block where the map says it is; if
 * that is still the source, the copy may carry the discarded data over
 * (it is not freed until the block is moved or discarded again).  Never
 * done again later: by then the guest may use those pages again.
 */
static bool sculpt_discard(RAMBlock *rb, uint64_t start, size_t length,
                           int *ret)
{
    SculptState *s;
    uint64_t bs, end = start + length, slot;
    bool sculpted = false;

    QTAILQ_FOREACH(s, &sculpt_list, next) {
        if (s->rb == rb && sculpt_attached(s)) {
            break;
        }
    }
    if (!s || !length || end > s->size) {
        return false;
    }
    /* Whoever frees it: the sampler must not keep watching holes. */
    sculpt_track_discarded(s, start, length);
    bs = s->block_size;
    for (uint64_t b = start / bs; b <= (end - 1) / bs; b++) {
        sculpted |= sculpt_block_tier(s, b, &slot) != SCULPT_TIER_BASE;
    }
    if (!sculpted) {
        return false;               /* all at home: QEMU's own discard */
    }

    *ret = 0;
    for (uint64_t a = start; a < end;) {
        uint64_t b = a / bs;
        uint64_t len = MIN(end, (b + 1) * bs) - a;
        sculpt_tier t = sculpt_block_tier(s, b, &slot);
        SculptHmPool *pool = &s->pools[t];
        uint64_t off = sculpt_hm_slot_offset(pool, slot) + (a - b * bs);
        char err[256];

        if (off % pool->page_size || len % pool->page_size) {
            /* A part of a huge page cannot be freed; leave it be. */
            warn_report_once("sculpt: discards smaller than the %s pool's "
                             "%" PRIu64 " KiB pages are ignored",
                             sculpt_hm_kind_name(pool->kind),
                             pool->page_size / KiB);
        } else if (sculpt_hm_punch(pool->fd, off, len, err, sizeof(err))) {
            warn_report_once("sculpt: discard: %s", err);
            *ret = -errno;
        } else if (pool->kind == SCULPT_HM_COLD_FILE &&
                   fallocate(pool->fd, 0, off, len)) {
            /* Re-reserve, so a guest write here never meets ENOSPC. */
            warn_report_once("sculpt: re-reserving %" PRIu64 " bytes of the "
                             "cold file: %s", len, strerror(errno));
        }
        a += len;
    }
    s->stats.discards++;
    return true;
}

void sculpt_discard_init(void)
{
    ram_block_discard_hook = sculpt_discard;
}
