/*
 * sculpt: tracking which blocks of guest RAM are used, and the sculpt thread
 *
 * Every interval (property "interval", default 1000 ms) a main-loop timer
 * takes, under the BQL:
 *   - which pages vCPUs wrote: QEMU's dirty log, enabled with sculpt's own
 *     global reason (GLOBAL_DIRTY_SCULPT) and read from the DIRTY_MEMORY_VGA
 *     client bitmap of the backend's region.  It never reads or clears the
 *     migration bitmap and never turns logging off under another user (the
 *     reasons are bits: stopping ours leaves the others on).  Device and
 *     QEMU writes do not reach this bitmap: it is a sample of vCPU writes;
 *   - VM signals: vCPU busy time (thread CPU clocks), block I/O bytes (QEMU's
 *     block accounting), network bytes (the statistics of the tap
 *     interfaces behind the NICs: QEMU keeps no per-NIC counters), host
 *     minor/major faults (getrusage).
 * and hands them to the sculpt thread.  Reads (which the dirty log never
 * sees) and writes are also sampled, DAMON-style, through userfaultfd minor
 * faults on the shmem mapping (uffd-sample.c, property access-sampling);
 * where userfaultfd is not available sculpt says so and runs on the dirty
 * log alone.  The sculpt thread feeds it all to the C++ core
 * (begin_interval, record_*, end_interval: train, then predict) and, when
 * asked, appends the interval to a trace file for offline replay.
 *
 * The sculpt thread never takes the BQL.  The core is shared with the main
 * loop (moves, stats) under s->core_lock; lock order: BQL -> core_lock.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "exec/memory.h"
#include "exec/target_page.h"
#include "hw/core/cpu.h"
#include "system/block-backend.h"
#include "system/system.h"
#include "net/net.h"
#include "net/tap.h"
#include "sculpt-int.h"
#include "uffd-sample.h"
#include "trace.h"

struct SculptTrack {
    QEMUTimer *timer;
    bool logging;               /* GLOBAL_DIRTY_SCULPT is on */
    bool started;               /* the first interval has begun */
    bool window_done;           /* this interval's logging window ended */
    int64_t start_ms;           /* when this interval began */
    uint32_t *window;           /* dirty pages per block, this interval */
    uint32_t *scratch;
    uint64_t t_begin;           /* start of the open interval, ns */

    /* Filled by the main loop, consumed by the thread (under lock) */
    QemuMutex lock;
    QemuCond cond;
    bool pending, stop;
    uint32_t *dirty;            /* dirty pages per block, this interval */
    sculpt_vm_signals_t sig;
    uint64_t t0, t1;

    /* Owned by the thread */
    QemuThread thread;
    uint32_t *work_dirty;
    sculpt_trace_writer_t *trace;
    SculptUs *us;               /* access sampler, or NULL */
    uint32_t *access;
    uint8_t *sampled;
    bool armed;
    uint64_t seed;
    GArray *reregister;         /* under lock: ranges remapped, {off, len} */
    QemuMutex trace_lock;       /* the trace writer: thread and exit */
    uint32_t *zero_counts;
    uint8_t *zero_sampled;
    Notifier exit;              /* closes the trace file when QEMU exits */

    /* Previous counters, for the per-interval signals */
    uint64_t prev_vcpu_ns, prev_io_bytes, prev_minflt, prev_majflt;
    uint64_t prev_net_bytes;
};

/* CPU time of the calling thread. */
static uint64_t sculpt_thread_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

static uint64_t sculpt_vcpu_ns(unsigned *ncpus)
{
    CPUState *cpu;
    uint64_t ns = 0;

    *ncpus = 0;
    CPU_FOREACH(cpu) {
        clockid_t cid;
        struct timespec ts;

        (*ncpus)++;
        if (cpu->thread && pthread_getcpuclockid(cpu->thread->thread,
                                                 &cid) == 0 &&
            clock_gettime(cid, &ts) == 0) {
            ns += ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
        }
    }
    return ns;
}

static uint64_t sculpt_io_bytes(void)
{
    uint64_t bytes = 0;

    for (BlockBackend *blk = blk_all_next(NULL); blk;
         blk = blk_all_next(blk)) {
        BlockAcctStats *st = blk_get_stats(blk);

        bytes += st->nr_bytes[BLOCK_ACCT_READ] +
                 st->nr_bytes[BLOCK_ACCT_WRITE];
    }
    return bytes;
}

typedef struct SculptNetCount {
    GHashTable *seen;           /* interface names counted already */
    uint64_t bytes;
} SculptNetCount;

static uint64_t sculpt_read_u64(const char *path)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    return g_ascii_strtoull(text, NULL, 10);
}

/* One NIC: add its tap backends' interface statistics. */
static void sculpt_net_nic(NICState *nic, void *opaque)
{
    SculptNetCount *nc = opaque;

    for (int i = 0; i < MAX(1, nic->conf->peers.queues); i++) {
        NetClientState *peer = qemu_get_subqueue(nic, i)->peer;
        struct ifreq ifr = { 0 };
        g_autofree char *rx = NULL, *tx = NULL;
        int fd;

        if (!peer || peer->info->type != NET_CLIENT_DRIVER_TAP) {
            continue;
        }
        fd = tap_get_fd(peer);
        if (fd < 0 || ioctl(fd, TUNGETIFF, &ifr) || !ifr.ifr_name[0] ||
            g_hash_table_contains(nc->seen, ifr.ifr_name)) {
            continue;
        }
        g_hash_table_add(nc->seen, g_strdup(ifr.ifr_name));
        rx = g_strdup_printf("/sys/class/net/%s/statistics/rx_bytes",
                             ifr.ifr_name);
        tx = g_strdup_printf("/sys/class/net/%s/statistics/tx_bytes",
                             ifr.ifr_name);
        nc->bytes += sculpt_read_u64(rx) + sculpt_read_u64(tx);
    }
}

/*
 * Network bytes so far.  QEMU keeps no per-NIC byte counters, and vhost
 * moves packets without QEMU, so this reads the statistics of the tap
 * interfaces behind the VM's NICs (found with TUNGETIFF on the tap fd,
 * which also works for fds libvirt passed in).  Other backends (user,
 * socket, ...) are not counted.  BQL held.
 */
static uint64_t sculpt_net_bytes(void)
{
    SculptNetCount nc = {
        .seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
    };

    qemu_foreach_nic(sculpt_net_nic, &nc);
    g_hash_table_destroy(nc.seen);
    return nc.bytes;
}

/* The VM's signals since the previous call.  BQL held. */
static void sculpt_signals(SculptTrack *t, uint64_t interval_ns,
                           sculpt_vm_signals_t *sig)
{
    unsigned ncpus;
    uint64_t vcpu = sculpt_vcpu_ns(&ncpus);
    uint64_t io = sculpt_io_bytes();
    uint64_t net = sculpt_net_bytes();
    struct rusage ru;
    uint64_t busy;

    getrusage(RUSAGE_SELF, &ru);
    memset(sig, 0, sizeof(*sig));
    busy = ncpus && interval_ns ?
        (vcpu - t->prev_vcpu_ns) * 1000000 / (ncpus * interval_ns) : 0;
    sig->vcpu_busy_ppm = MIN(busy, 1000000);
    sig->block_io_bytes = io - t->prev_io_bytes;
    /* A tap that went away restarts its count: never negative. */
    sig->net_bytes = net >= t->prev_net_bytes ? net - t->prev_net_bytes : 0;
    t->prev_net_bytes = net;
    sig->minor_faults = ru.ru_minflt - t->prev_minflt;
    sig->major_faults = ru.ru_majflt - t->prev_majflt;
    t->prev_vcpu_ns = vcpu;
    t->prev_io_bytes = io;
    t->prev_minflt = ru.ru_minflt;
    t->prev_majflt = ru.ru_majflt;
}

/*
 * Count the pages vCPUs wrote in each block since the last call, and clear
 * them in sculpt's view only.  BQL held.
 */
static void sculpt_harvest_dirty(SculptState *s, uint32_t *dirty)
{
    MemoryRegion *mr = host_memory_backend_get_memory(s->backend);
    uint64_t page = qemu_target_page_size();
    uint64_t nblocks = s->size / s->block_size;
    DirtyBitmapSnapshot *snap;

    snap = memory_region_snapshot_and_clear_dirty(mr, 0, s->size,
                                                  DIRTY_MEMORY_VGA);
    for (uint64_t b = 0; b < nblocks; b++) {
        uint64_t off = b * s->block_size;
        uint32_t n = 0;

        if (memory_region_snapshot_get_dirty(mr, snap, off, s->block_size)) {
            for (uint64_t p = 0; p < s->block_size; p += page) {
                n += memory_region_snapshot_get_dirty(mr, snap, off + p,
                                                      page);
            }
        }
        dirty[b] = n;
    }
    g_free(snap);
}

/* End the sampled interval: t->access, t->sampled.  Sculpt thread. */
static bool sculpt_sample_harvest(SculptTrack *t, uint64_t nblocks)
{
    char err[256];

    t->armed = false;
    if (sculpt_us_harvest(t->us, t->access, t->sampled, err, sizeof(err))) {
        warn_report_once("sculpt: access sampling: %s", err);
        return false;
    }
    return true;
}

/*
 * The mover remapped [off, off+len) of guest RAM: forget its samples now
 * (lock-free, inside the pause) and have the sculpt thread register it
 * again after the pause.  Main loop.
 */
void sculpt_track_remapped(SculptState *s, uint64_t off, uint64_t len)
{
    SculptTrack *t = s->track;
    uint64_t r[2] = { off, len };

    if (!t || !t->us) {
        return;
    }
    sculpt_us_invalidate(t->us, off, len);
    qemu_mutex_lock(&t->lock);
    g_array_append_vals(t->reregister, r, 1);
    qemu_mutex_unlock(&t->lock);
}

/*
 * Stop the access sampler watching [off, off + len) so that the mover's
 * userfaultfd may register it (a mapping takes one), until
 * sculpt_track_remapped() queues it to be registered again.  Main loop,
 * mm_lock held.
 */
bool sculpt_track_unwatch(SculptState *s, uint64_t off, uint64_t len,
                          Error **errp)
{
    SculptTrack *t = s->track;
    char err[256];

    if (t && t->us && sculpt_us_unwatch(t->us, off, len, err, sizeof(err))) {
        error_setg(errp, "sculpt: access sampling: %s", err);
        return false;
    }
    return true;
}

/* The access sampler's figures, or NULL without one.  Any thread. */
SculptSamplingStats *sculpt_track_sampling_stats(SculptState *s)
{
    SculptTrack *t = s->track;
    SculptSamplingStats *ss;
    SculptUsStats us;

    if (!t || !t->us) {
        return NULL;
    }
    sculpt_us_get_stats(t->us, &us);
    ss = g_new0(SculptSamplingStats, 1);
    ss->watched_bytes = us.watched_bytes;
    ss->armed = us.nr_armed;
    ss->faults = us.faults;
    ss->hits = us.hits;
    ss->carried = us.carried;
    ss->fault_time = us.handler_cpu_ns;
    ss->arm_time = us.arm_ns + us.harvest_ns;
    return ss;
}

/*
 * [off, off+len) of guest RAM was discarded (balloon, ram_block_discard_
 * range): its pages are holes now, which a touch refills without a minor
 * fault, so the sampler forgets the samples there.  Lock-free.
 */
void sculpt_track_discarded(SculptState *s, uint64_t off, uint64_t len)
{
    if (s->track && s->track->us) {
        sculpt_us_invalidate(s->track->us, off, len);
    }
}

static void *sculpt_thread(void *opaque)
{
    SculptState *s = opaque;
    SculptTrack *t = s->track;
    uint64_t nblocks = s->size / s->block_size;
    unsigned guard_ms = SCULPT_AUTO_GUARD_MS;

    qemu_mutex_lock(&t->lock);
    for (;;) {
        sculpt_vm_signals_t sig;
        uint64_t t0, t1, c0, c1;
        char *err = NULL;
        char ebuf[256];
        GArray *remapped;
        bool ok, have_access;

        while (!t->pending && !t->stop) {
            if (!qatomic_read(&s->auto_on)) {
                qemu_cond_wait(&t->cond, &t->lock);
                continue;
            }
            /* Auto mode: between intervals, keep an eye on the budget. */
            if (!qemu_cond_timedwait(&t->cond, &t->lock, guard_ms)) {
                qemu_mutex_unlock(&t->lock);
                guard_ms = sculpt_auto_guard(s);
                qemu_mutex_lock(&t->lock);
            }
        }
        if (t->stop) {
            break;
        }
        memcpy(t->work_dirty, t->dirty, nblocks * sizeof(uint32_t));
        sig = t->sig;
        t0 = t->t0;
        t1 = t->t1;
        t->pending = false;
        remapped = t->reregister;
        t->reregister = g_array_new(false, false, sizeof(uint64_t) * 2);
        qemu_mutex_unlock(&t->lock);

        c0 = sculpt_thread_ns();
        have_access = t->us && t->armed &&
                      sculpt_sample_harvest(t, nblocks);
        if (!have_access) {
            memset(t->access, 0, nblocks * sizeof(uint32_t));
            memset(t->sampled, 0, nblocks);
        }
        /* Auto mode watches the cold tier by residency: reads too. */
        have_access |= sculpt_auto_observe(s, t->access, t->sampled);
        /* Ranges the mover remapped lost their registration: redo it. */
        for (guint i = 0; t->us && i < remapped->len; i++) {
            uint64_t *r = &g_array_index(remapped, uint64_t, i * 2);

            if (sculpt_us_reregister(t->us, r[0], r[1], SCULPT_US_POPULATE,
                                     ebuf, sizeof(ebuf))) {
                warn_report_once("sculpt: access sampling: %s", ebuf);
            }
        }
        g_array_free(remapped, true);

        qemu_mutex_lock(&s->core_lock);
        ok = !sculpt_core_begin_interval(s->core, t0, &err) &&
             (!have_access ||
              !sculpt_core_record_access(s->core, t->access, t->sampled,
                                         nblocks, &err)) &&
             !sculpt_core_record_dirty(s->core, t->work_dirty, nblocks,
                                       &err) &&
             !sculpt_core_record_signals(s->core, &sig, &err) &&
             !sculpt_core_end_interval(s->core, t1, &err);
        qemu_mutex_unlock(&s->core_lock);
        /* Without sampling no block was watched: zero counts, sampled 0. */
        qemu_mutex_lock(&t->trace_lock);
        if (ok && t->trace &&
            sculpt_trace_writer_add(t->trace, t1,
                                    have_access ? t->access : t->zero_counts,
                                    have_access ? t->sampled :
                                    t->zero_sampled,
                                    t->work_dirty, &sig, nblocks, &err)) {
            ok = false;
        }
        qemu_mutex_unlock(&t->trace_lock);
        /* Samples for the interval that has begun. */
        if (t->us) {
            t->armed = !sculpt_us_arm_interval(t->us, t1, t->seed++, ebuf,
                                               sizeof(ebuf));
            if (!t->armed) {
                warn_report_once("sculpt: access sampling: %s", ebuf);
            }
        }
        if (!ok) {
            warn_report_once("sculpt: tracking: %s", err);
            free(err);
        } else {
            sculpt_auto_tick(s, t->work_dirty, t1 - t0);
        }
        c1 = sculpt_thread_ns();
        qatomic_add(&s->track_stats.model_ns, c1 - c0);
        qatomic_inc(&s->track_stats.intervals);

        qemu_mutex_lock(&t->lock);
    }
    qemu_mutex_unlock(&t->lock);
    return NULL;
}

/*
 * The main-loop timer.  With track-duty=100 it fires once per interval:
 * harvest, hand over, go on.  With track-duty=D < 100 the dirty log runs
 * only for the first D% of each interval (its cost, mostly vCPU exits or
 * TCG's slow write path, scales with the time it is on): the timer fires
 * at the end of that window (harvest, stop logging) and again at the
 * interval's end (hand over what the window saw, start logging again).
 * Each (re)start harvests once and throws that away: KVM may report
 * everything dirty at first.
 */
static void sculpt_track_tick(void *opaque)
{
    SculptState *s = opaque;
    SculptTrack *t = s->track;
    uint64_t now = get_clock();
    uint64_t h0 = sculpt_thread_ns();
    int64_t now_ms = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    uint32_t on_ms = s->track_duty < 100 ?
                     MAX(1, s->interval_ms * s->track_duty / 100) :
                     s->interval_ms;
    bool first = !t->started;
    Error *err = NULL;

    if (t->logging && on_ms < s->interval_ms && !t->window_done) {
        /* End of the logging window. */
        sculpt_harvest_dirty(s, t->window);
        memory_global_dirty_log_stop(GLOBAL_DIRTY_SCULPT);
        t->logging = false;
        t->window_done = true;
        timer_mod(t->timer, t->start_ms + s->interval_ms);
        s->track_stats.harvest_ns += sculpt_thread_ns() - h0;
        return;
    }

    t->start_ms = now_ms;
    timer_mod(t->timer, now_ms + on_ms);
    if (!t->logging) {
        if (!memory_global_dirty_log_start(GLOBAL_DIRTY_SCULPT, &err)) {
            warn_report_err(err);
            return;
        }
        t->logging = true;
        if (!t->window_done) {
            /* Not a duty-cycle restart: the window did not harvest. */
            sculpt_harvest_dirty(s, t->window);
            memset(t->window, 0, s->size / s->block_size * sizeof(uint32_t));
        }
        sculpt_harvest_dirty(s, t->scratch);   /* thrown away */
    } else {
        sculpt_harvest_dirty(s, t->window);
    }
    t->window_done = false;
    if (first) {
        t->started = true;
        sculpt_signals(t, 0, &t->sig);
        t->t_begin = now;
        return;
    }

    qemu_mutex_lock(&t->lock);
    if (!t->pending) {
        memcpy(t->dirty, t->window, s->size / s->block_size *
               sizeof(uint32_t));
        sculpt_signals(t, now - t->t_begin, &t->sig);
        s->track_stats.net_bytes += t->sig.net_bytes;
        s->track_stats.block_bytes += t->sig.block_io_bytes;
        t->t0 = t->t_begin;
        t->t1 = now;
        t->pending = true;
        qemu_cond_signal(&t->cond);
    }
    /* else the thread is behind: this interval's writes are lost to it */
    qemu_mutex_unlock(&t->lock);
    t->t_begin = now;
    s->track_stats.harvest_ns += sculpt_thread_ns() - h0;
}

/* QEMU exits without finalizing objects: write the trace out now. */
static void sculpt_track_exit(Notifier *n, void *data)
{
    SculptTrack *t = container_of(n, SculptTrack, exit);
    char *err = NULL;

    qemu_mutex_lock(&t->trace_lock);
    if (t->trace && sculpt_trace_writer_close(t->trace, &err)) {
        fprintf(stderr, "sculpt: trace-file: %s\n", err);
        free(err);
    }
    t->trace = NULL;
    qemu_mutex_unlock(&t->trace_lock);
}

bool sculpt_track_start(SculptState *s, Error **errp)
{
    uint64_t nblocks = s->size / s->block_size;
    SculptTrack *t;
    char *err = NULL;

    if (!s->track_on) {
        return true;
    }
    if (!s->interval_ms) {
        error_setg(errp, "interval must be at least 1 ms");
        return false;
    }
    if (!s->track_duty || s->track_duty > 100) {
        error_setg(errp, "track-duty must be from 1 to 100 (percent of each "
                   "interval the dirty log is on)");
        return false;
    }
    if (!s->sampling_cpu || s->sampling_cpu > 100) {
        error_setg(errp, "access-sampling-cpu must be from 1 to 100 (percent "
                   "of one host core)");
        return false;
    }
    t = g_new0(SculptTrack, 1);
    t->dirty = g_new0(uint32_t, nblocks);
    t->work_dirty = g_new0(uint32_t, nblocks);
    t->window = g_new0(uint32_t, nblocks);
    t->scratch = g_new0(uint32_t, nblocks);
    if (s->trace_file) {
        t->trace = sculpt_trace_writer_new(s->trace_file, s->block_size,
                                           nblocks,
                                           s->interval_ms * SCALE_MS, &err);
        if (!t->trace) {
            error_setg(errp, "trace-file: %s", err);
            free(err);
            g_free(t->dirty);
            g_free(t->work_dirty);
            g_free(t->window);
            g_free(t->scratch);
            g_free(t);
            return false;
        }
    }
    t->reregister = g_array_new(false, false, sizeof(uint64_t) * 2);
    t->zero_counts = g_new0(uint32_t, nblocks);
    t->zero_sampled = g_new0(uint8_t, nblocks);
    qemu_mutex_init(&t->trace_lock);
    if (t->trace) {
        t->exit.notify = sculpt_track_exit;
        qemu_add_exit_notifier(&t->exit);
    }
    if (s->access_sampling) {
        SculptUsConfig cfg = {
            .host = s->host,
            .size = s->size,
            .block_size = s->block_size,
            /* idle blocks stay watched, hot ones are re-checked */
            .flags = SCULPT_US_POPULATE | SCULPT_US_STICKY,
            .cpu_permille = s->sampling_cpu * 10,
        };
        char ebuf[256];

        if (sculpt_us_new(&t->us, &cfg, ebuf, sizeof(ebuf)) ||
            sculpt_us_start(t->us, ebuf, sizeof(ebuf))) {
            warn_report("sculpt '%s': %s",
                        object_get_canonical_path_component(OBJECT(s)),
                        ebuf);
            if (t->us) {
                sculpt_us_free(t->us);
                t->us = NULL;
            }
        } else {
            t->seed = 0x5c0;
        }
    }
    t->access = g_new0(uint32_t, nblocks);
    t->sampled = g_new0(uint8_t, nblocks);
    sculpt_auto_init(s);
    qemu_mutex_init(&t->lock);
    qemu_cond_init(&t->cond);
    s->track = t;
    qemu_thread_create(&t->thread, "sculpt", sculpt_thread, s,
                       QEMU_THREAD_JOINABLE);
    t->timer = timer_new_ms(QEMU_CLOCK_REALTIME, sculpt_track_tick, s);
    timer_mod(t->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME));
    return true;
}

void sculpt_track_stop(SculptState *s)
{
    SculptTrack *t = s->track;
    char *err = NULL;

    if (!t) {
        return;
    }
    timer_free(t->timer);
    qemu_mutex_lock(&t->lock);
    t->stop = true;
    qemu_cond_signal(&t->cond);
    qemu_mutex_unlock(&t->lock);
    qemu_thread_join(&t->thread);
    sculpt_auto_cleanup(s);
    if (t->us) {
        sculpt_us_stop(t->us);
        sculpt_us_free(t->us);
    }
    g_free(t->access);
    g_free(t->sampled);
    g_array_free(t->reregister, true);
    if (t->logging) {
        memory_global_dirty_log_stop(GLOBAL_DIRTY_SCULPT);
    }
    if (t->exit.notify) {
        qemu_remove_exit_notifier(&t->exit);
    }
    if (t->trace && sculpt_trace_writer_close(t->trace, &err)) {
        warn_report("sculpt: trace-file: %s", err);
        free(err);
    }
    qemu_mutex_destroy(&t->trace_lock);
    g_free(t->zero_counts);
    g_free(t->zero_sampled);
    qemu_cond_destroy(&t->cond);
    qemu_mutex_destroy(&t->lock);
    g_free(t->dirty);
    g_free(t->work_dirty);
    g_free(t->window);
    g_free(t->scratch);
    g_free(t);
    s->track = NULL;
}
