/*
 * sculpt: the monitor side (QMP query-sculpt-stats, HMP info sculpt)
 *
 * Both succeed with no sculpt object at all (an empty list, a one-line
 * note): QEMU's qmp-cmd-test and test-hmp run every query and info command
 * on a machine with no RAM.  They only read; they never block on the sculpt
 * thread.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-sculpt.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "sculpt-int.h"

static const sculpt_tier sculpt_tiers[] = {
    SCULPT_TIER_BASE, SCULPT_TIER_HOT, SCULPT_TIER_COLD,
};

static SculptMemoryTier sculpt_tier_to_qapi(sculpt_tier t)
{
    switch (t) {
    case SCULPT_TIER_HOT:
        return SCULPT_MEMORY_TIER_HOT;
    case SCULPT_TIER_COLD:
        return SCULPT_MEMORY_TIER_COLD;
    default:
        return SCULPT_MEMORY_TIER_BASE;
    }
}

/* What tracking sees and the model predicts.  core_lock held. */
static SculptTrackingStats *sculpt_tracking_stats(SculptState *s,
                                                  uint32_t hottest)
{
    SculptTrackingStats *ts = g_new0(SculptTrackingStats, 1);
    SculptBlockRangeList **tail = &ts->hottest;
    g_autofree sculpt_range_t *ranges = g_new(sculpt_range_t, hottest);
    sculpt_core_stats_t cs;
    uint64_t n;

    sculpt_core_get_stats(s->core, &cs);
    ts->policy = g_strdup(sculpt_core_policy(s->core));
    ts->intervals = qatomic_read(&s->track_stats.intervals);
    ts->hot_blocks = sculpt_core_class_count(s->core, SCULPT_CLASS_HOT);
    ts->warm_blocks = sculpt_core_class_count(s->core, SCULPT_CLASS_WARM);
    ts->cold_blocks = sculpt_core_class_count(s->core, SCULPT_CLASS_COLD);
    ts->precision = cs.precision;
    ts->recall = cs.recall;
    ts->harvest_time = s->track_stats.harvest_ns;
    ts->model_time = qatomic_read(&s->track_stats.model_ns);
    ts->net_bytes = s->track_stats.net_bytes;
    ts->block_bytes = s->track_stats.block_bytes;
    ts->sampling = sculpt_track_sampling_stats(s);
    n = sculpt_core_hottest_ranges(s->core, ranges, hottest);
    for (uint64_t i = 0; i < n; i++) {
        SculptBlockRange *r = g_new0(SculptBlockRange, 1);

        r->first = ranges[i].block_first;
        r->count = ranges[i].nblocks;
        QAPI_LIST_APPEND(tail, r);
    }
    return ts;
}

static SculptStats *sculpt_stats(SculptState *s, uint32_t hottest)
{
    SculptStats *st = g_new0(SculptStats, 1);
    SculptTierStatsList **tail = &st->tiers;

    st->id = g_strdup(object_get_canonical_path_component(OBJECT(s)));
    st->memdev = g_strdup(s->memdev_id);
    st->size = s->size;
    st->block_size = s->block_size;
    st->blocks = sculpt_core_block_count(s->core);
    qemu_mutex_lock(&s->core_lock);
    for (size_t i = 0; i < ARRAY_SIZE(sculpt_tiers); i++) {
        SculptTierStats *t = g_new0(SculptTierStats, 1);

        t->tier = sculpt_tier_to_qapi(sculpt_tiers[i]);
        t->bytes = sculpt_core_tier_bytes(s->core, sculpt_tiers[i]);
        QAPI_LIST_APPEND(tail, t);
    }
    if (s->track) {
        st->tracking = sculpt_tracking_stats(s, hottest);
    }
    qemu_mutex_unlock(&s->core_lock);
    if (s->autos) {
        st->q_auto = sculpt_auto_stats(s);
    }
    st->moves = s->stats.moves;
    st->blocks_moved = s->stats.blocks_moved;
    st->blocks_empty = s->stats.blocks_empty;
    st->bytes_moved = s->stats.bytes_moved;
    st->failures = s->stats.failures;
    st->stale_copies = s->stats.stale_copies;
    st->pauses = s->pauses.count;
    st->pause_p50 = sculpt_lat_percentile(&s->pauses, 50);
    st->pause_p99 = sculpt_lat_percentile(&s->pauses, 99);
    st->pause_max = s->pauses.max;
    st->wp_batches = s->wp_windows.count;
    st->wp_waits = s->stats.wp_waits;
    st->wp_window_p50 = sculpt_lat_percentile(&s->wp_windows, 50);
    st->wp_window_p99 = sculpt_lat_percentile(&s->wp_windows, 99);
    st->wp_window_max = s->wp_windows.max;
    st->mappings = sculpt_hm_count_vmas(s->host, s->size);
    st->busy = s->op != NULL;
    st->paused = s->hold_reason != NULL;
    return st;
}

SculptStatsList *qmp_query_sculpt_stats(bool has_hottest, uint32_t hottest,
                                        Error **errp)
{
    SculptStatsList *head = NULL, **tail = &head;
    SculptState *s;

    QTAILQ_FOREACH(s, &sculpt_list, next) {
        if (sculpt_attached(s)) {
            QAPI_LIST_APPEND(tail, sculpt_stats(s, has_hottest ? hottest
                                                            : 8));
        }
    }
    return head;
}

void hmp_info_sculpt(Monitor *mon, const QDict *qdict)
{
    g_autoptr(SculptStatsList) list = qmp_query_sculpt_stats(false, 0, NULL);

    if (!list) {
        monitor_printf(mon, "No sculpt objects.\n");
        return;
    }
    for (SculptStatsList *l = list; l; l = l->next) {
        SculptStats *st = l->value;
        g_autofree char *size = size_to_str(st->size);
        g_autofree char *bs = size_to_str(st->block_size);

        monitor_printf(mon, "sculpt %s: memdev %s, %s in %" PRIu64
                       " blocks of %s\n", st->id, st->memdev, size,
                       st->blocks, bs);
        for (SculptTierStatsList *t = st->tiers; t; t = t->next) {
            g_autofree char *bytes = size_to_str(t->value->bytes);

            monitor_printf(mon, "  %-5s %s\n",
                           SculptMemoryTier_str(t->value->tier), bytes);
        }
        monitor_printf(mon, "  moves %" PRIu64 " (%" PRIu64 " blocks, %"
                       PRIu64 " empty), failures %" PRIu64 ", mappings %"
                       PRId64 "\n", st->moves, st->blocks_moved,
                       st->blocks_empty, st->failures, st->mappings);
        if (st->pauses) {
            monitor_printf(mon, "  pauses %" PRIu64 ": p50 %" PRIu64
                           " us, p99 %" PRIu64 " us, max %" PRIu64 " us\n",
                           st->pauses, st->pause_p50 / 1000,
                           st->pause_p99 / 1000, st->pause_max / 1000);
        }
        if (st->wp_batches) {
            monitor_printf(mon, "  write-protected batches %" PRIu64
                           " (%" PRIu64 " writes waited): p50 %" PRIu64
                           " us, p99 %" PRIu64 " us, max %" PRIu64 " us\n",
                           st->wp_batches, st->wp_waits,
                           st->wp_window_p50 / 1000,
                           st->wp_window_p99 / 1000,
                           st->wp_window_max / 1000);
        }
        if (st->tracking) {
            SculptTrackingStats *ts = st->tracking;

            monitor_printf(mon, "  tracking: %" PRIu64 " intervals, "
                           "policy %s, blocks hot %" PRIu64 " warm %" PRIu64
                           " cold %" PRIu64 ", precision %.2f recall %.2f\n",
                           ts->intervals, ts->policy, ts->hot_blocks,
                           ts->warm_blocks, ts->cold_blocks, ts->precision,
                           ts->recall);
            if (ts->sampling) {
                SculptSamplingStats *ss = ts->sampling;

                monitor_printf(mon, "  sampling: %" PRIu64 " MiB watched, %"
                               PRIu64 " chunks armed, %" PRIu64 " faults (%"
                               PRIu64 " hits), fault thread %" PRIu64
                               " ms, arming %" PRIu64 " ms\n",
                               ss->watched_bytes / MiB, ss->armed, ss->faults,
                               ss->hits, ss->fault_time / 1000000,
                               ss->arm_time / 1000000);
            }
            for (SculptBlockRangeList *r = ts->hottest; r; r = r->next) {
                monitor_printf(mon, "    hot blocks %" PRIu64 "-%" PRIu64
                               "\n", r->value->first,
                               r->value->first + r->value->count - 1);
            }
        }
        if (st->q_auto) {
            SculptAutoStats *as = st->q_auto;

            monitor_printf(mon, "  auto %s: DRAM %" PRIu64 " of %" PRIu64
                           " MiB budget%s (peak %" PRIu64 ", over in %" PRIu64
                           " of %" PRIu64 " intervals), hit ratio %.3f, "
                           "prefetched %" PRIu64 " MiB (%" PRIu64 " used, %"
                           PRIu64 " not), demoted %" PRIu64 ", promoted %"
                           PRIu64 ", dropped %" PRIu64 " MiB, %" PRIu64
                           " blocks scattered, vCPUs held %" PRIu64
                           " times (%" PRIu64 " ms)\n",
                           as->enabled ? "on" : "off", as->dram / MiB,
                           as->effective_budget / MiB,
                           as->effective_budget < as->fast_budget ?
                           ", memory cgroup's" : "", as->dram_peak / MiB,
                           as->over_budget, as->ticks, as->hit_ratio,
                           as->prefetched / MiB, as->prefetch_hits,
                           as->prefetch_misses, as->demoted, as->promoted,
                           as->dropped / MiB, as->scattered_blocks,
                           as->stalls, as->stall_ms);
        }
        if (st->busy || st->paused) {
            monitor_printf(mon, "  %s%s\n", st->busy ? "busy" : "",
                           st->paused ? " (waiting)" : "");
        }
    }
}
