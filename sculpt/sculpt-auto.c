/*
 * sculpt: automatic mode, guest RAM kept under a fast-memory budget
 *
 * With auto=on the sculpt thread closes the loop every tracking interval,
 * after the model has learned from it (sculpt-track.c):
 *
 *   observe   cachestat() of each block's range in its pool's file (or
 *             mincore() over the guest RAM): which pages of each block are
 *             in DRAM.  For blocks in a cold file this is also a read AND
 *             write sample: pages that came back since the last interval
 *             were faulted in by the guest (the dirty log sees writes only).
 *             It is fed to the model as accesses of the cold blocks.
 *   measure   DRAM in use by the guest RAM (design.md: the memfd's and the
 *             pools' pages plus the cold file's page cache; cachestat).
 *   plan      rank blocks by the model's probability of use.  Above the
 *             budget's high mark, free DRAM from the least likely blocks up:
 *             a cold-file block is dropped in place (its pages written out
 *             and evicted: no copy, no vCPU pause), a block in DRAM memory
 *             is demoted to the cold tier (a move).  Below the low mark,
 *             prefetch cold blocks the model expects (read back at disk
 *             speed instead of page by page), and the rest of cold
 *             blocks the guest has started to page back in; with a hot
 *             pool, promote blocks that stayed hot for a while into the
 *             hot zone (a move).  Without one, a cold block whose pages
 *             are back in the page cache runs as fast as DRAM, so it
 *             stays where it is and needs no copy or pause.
 *   act       drops and prefetches here, in the sculpt thread (they only
 *             advise the kernel: none can lose or change a byte, whatever
 *             the mover does meanwhile); moves go to the main loop as one
 *             internal operation, carried out like sculpt-pool's, in
 *             batches under max-pause (sculpt-move.c).
 *
 * Between intervals a guard checks DRAM every SCULPT_AUTO_GUARD_MS and
 * frees at once what the guest added past the high mark.  When the guest
 * adds memory faster than that (it fills fresh memory faster than blocks
 * can be copied out, or dirties cold-file pages faster than the disk
 * takes them), the guard holds its vCPUs until DRAM is back under the
 * budget, as the kernel's direct reclaim holds a task that outruns
 * reclaim in a memory cgroup.
 *
 * Copies and prefetches are bounded by move-bandwidth.  Hysteresis: freeing
 * starts above 97% of the budget and goes down to 90%; a block is promoted
 * only after SCULPT_AUTO_PROMOTE_STREAK hot intervals in a row, and a
 * prefetched block is not dropped in the interval after its prefetch.
 * The budget covers the guest RAM; QEMU's own memory is reported beside it.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qapi-types-sculpt.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "system/cpus.h"
#include "migration/misc.h"
#include "sculpt-int.h"
#include "trace.h"

#define SCULPT_AUTO_HIGH 0.97       /* start freeing above this share */
#define SCULPT_AUTO_GUARD_TO 0.90   /* the guard frees down to this share */
/*
 * Under this share of the budget nothing needs choosing: skip residency and
 * page-table sampling (their cost is paid by the guest and the host when
 * the working set fits) until DRAM comes closer.
 */
#define SCULPT_AUTO_RELAXED 0.75
/* Above this share of the budget the guard checks every 5 ms, not 20 */
#define SCULPT_AUTO_NEAR 0.85
/* How long the guard needs to catch and free a growth past the high mark */
#define SCULPT_AUTO_REACT_MS (4 * SCULPT_AUTO_GUARD_MS)
/* Intervals a pass over the budget keeps the tick's headroom whole */
#define SCULPT_AUTO_OVER_MEMORY 8
#define SCULPT_AUTO_PREFETCH_P 0.5f /* prefetch blocks at least this likely */
#define SCULPT_AUTO_PROMOTE_P 0.9f
#define SCULPT_AUTO_PROMOTE_STREAK 20
#define SCULPT_AUTO_PREFETCH_TTL 2  /* intervals a prefetch has to be used */
/*
 * Scattered blocks (see sculpt_auto_classify): paged back in within this
 * many intervals of a drop, with fewer than ppb / SCULPT_AUTO_DENSE pages
 * written in the interval; a block with at least that many written, or
 * paged in that densely page by page, is dense again.
 */
#define SCULPT_AUTO_REFAULT 8
#define SCULPT_AUTO_DENSE 8
/* Returns it takes: with 2, kvstore ran at 30,952 ops/s against 59,219
 * with 1 (bench/e2e/run.py, one run each): it is slow until classified */
#define SCULPT_AUTO_STRIKES 1
/*
 * A guard check that finds DRAM over the budget after all it could drop
 * holds the vCPUs this long (the next check extends it while DRAM stays
 * over, or ends it once DRAM is under the high mark); a held vCPU looks
 * again this often.
 */
#define SCULPT_AUTO_STALL_MS (2 * SCULPT_AUTO_GUARD_MS)
#define SCULPT_AUTO_STALL_POLL_MS 2
#define SCULPT_AUTO_STALL_MAX_MS 1000

typedef struct SculptAutoScored {
    uint64_t block;
    float score;
} SculptAutoScored;

struct SculptAuto {
    uint64_t nblocks;
    uint64_t ppb;               /* host pages per block */
    uint64_t page;
    unsigned char *vec;         /* mincore() vector */
    uint32_t *res;              /* pages in DRAM per block, now */
    uint32_t *res_after;        /* ... after the previous interval's acts */
    uint8_t *tier;              /* sculpt_tier per block, at observe */
    uint64_t *slot;
    float *prob;
    uint8_t *streak;            /* hot intervals in a row */
    uint8_t *prefetch_ttl;      /* >0: prefetched, not yet used */
    uint8_t *fast_before;       /* was in DRAM when the interval began */
    uint8_t *used;              /* used in the interval that just ended */
    uint32_t *seen;             /* sampled pages found accessed */
    uint8_t *armed;             /* block's sampled chunk was zapped */
    uint64_t *pool_page;        /* page size of the block's tier */
    uint8_t *scattered;         /* used here and there: page by page */
    uint8_t *fresh;             /* moved to the cold file holding no data:
                                 * read page by page until filled */
    uint8_t *advised;           /* its cold mapping was told so */
    uint64_t *advised_slot;     /* ... at this cold slot */
    uint8_t *strikes;           /* refaults since it was last dense */
    uint8_t *light;             /* written, but little, since then */
    uint32_t *dropped_at;       /* tick of the last drop, 0: none */
    uint32_t tick;              /* ticks so far */
    int pagemap_fd;             /* /proc/self/pagemap, or -1 */
    uint64_t *pm;               /* pagemap entries of one sampled chunk */
    uint64_t phase;             /* rotates the sampled pages */
    bool observed;              /* res_after is valid */
    bool cachestat;             /* residency by cachestat, not mincore */
    bool observed_now;          /* observe ran for this interval */
    bool relaxed;               /* DRAM well under the budget: look less */
    uint64_t dram_after;        /* DRAM after the last tick's acts */
    uint32_t ticks_since_over;  /* ticks since DRAM was over the budget */
    uint64_t growth[4];         /* DRAM the guest added in recent ticks */
    uint64_t moves_prev;        /* demoted + promoted at the last tick */
    SculptAutoScored *order;

    /* Moves handed to the main loop; under lock */
    QemuMutex lock;
    GArray *to_cold, *to_fast;
    QEMUBH *bh;
    uint64_t capacity_budget;   /* budget the core's capacity was set for */
    bool stalling;              /* the guard holds the vCPUs; sculpt thread */
    int64_t stall_began;        /* ... since then */
    int64_t stall_next;         /* no new hold before then */
    SculptHmMemcg memcg;        /* QEMU's memory cgroup; sculpt thread */
    bool memcg_warned;

    /* Statistics; under lock */
    SculptAutoStats st;
};

static int sculpt_auto_cmp_desc(const void *a, const void *b)
{
    const SculptAutoScored *x = a, *y = b;

    if (x->score != y->score) {
        return x->score < y->score ? 1 : -1;
    }
    return x->block < y->block ? -1 : x->block > y->block;
}

/* Tier and slot of every block, now.  Sculpt thread. */
static void sculpt_auto_placement(SculptState *s, SculptAuto *a)
{
    char *err = NULL;

    qemu_mutex_lock(&s->core_lock);
    for (uint64_t b = 0; b < a->nblocks; b++) {
        sculpt_tier t;

        if (sculpt_core_block_get(s->core, b, &t, &a->slot[b], &err)) {
            warn_report_once("sculpt: auto: %s", err);
            free(err);
            err = NULL;
            t = SCULPT_TIER_BASE;
            a->slot[b] = b;
        }
        a->tier[b] = t;
    }
    qemu_mutex_unlock(&s->core_lock);
}

/*
 * Pages of guest RAM in DRAM, per block, and (first) every block's tier and
 * slot.  A block's pages are those of its slot in its pool's file, mapped
 * or not, so cachestat(2) on that range counts them: it walks only the
 * pages that are there, while mincore() over the mapping looks each page
 * up (0.19 ms against 8.8 ms for 1 GiB with a quarter cached:
 * bench/tracking/RESIDENCY.md).  Once cachestat fails (an older kernel, or
 * a hugetlbfs pool, which it refuses), mincore for good.  Sculpt thread.
 */
static bool sculpt_auto_residency(SculptState *s, SculptAuto *a)
{
    sculpt_auto_placement(s, a);
    for (uint64_t b = 0; a->cachestat && b < a->nblocks; b++) {
        const SculptHmPool *p = &s->pools[a->tier[b]];
        int64_t n = sculpt_hm_cached_pages(p->fd,
                                           sculpt_hm_slot_offset(p, a->slot[b]),
                                           s->block_size, NULL);

        if (n < 0) {
            a->cachestat = false;       /* from now on, mincore */
            break;
        }
        a->res[b] = MIN((uint64_t)n, a->ppb);
    }
    if (a->cachestat) {
        return true;
    }
    for (uint64_t off = 0; off < s->size; off += SCULPT_MM_CHUNK) {
        uint64_t len = MIN(SCULPT_MM_CHUNK, s->size - off);
        int r;

        qemu_mutex_lock(&s->mm_lock);
        r = mincore(s->host + off, len, a->vec + off / a->page);
        qemu_mutex_unlock(&s->mm_lock);
        if (r) {
            warn_report_once("sculpt: auto: mincore over guest RAM failed: "
                             "%s", strerror(errno));
            return false;
        }
    }
    for (uint64_t b = 0; b < a->nblocks; b++) {
        const unsigned char *v = a->vec + b * a->ppb;
        uint32_t n = 0;

        for (uint64_t p = 0; p < a->ppb; p++) {
            n += v[p] & 1;
        }
        a->res[b] = n;
    }
    return true;
}

/*
 * Access sampling by page-table entries, for reads as well as writes and
 * for every tier (the dirty log sees only vCPU writes; userfaultfd minor
 * faults do not work on a cold file): at the end of an interval, the
 * page-table entries of one chunk of SCULPT_AUTO_SAMPLES contiguous pages
 * of each resident block are dropped with MADV_DONTNEED (the data stays
 * in the memfd or the file's page cache, dirty state included); a guest
 * access maps the pages back with a minor fault, which /proc/self/pagemap
 * shows as "present" at the next interval.  The chunk moves through the
 * block from one interval to the next.
 *
 * One chunk, not pages spread over the block: each madvise() that zaps a
 * present entry flushes the TLB of every CPU running QEMU, an IPI to the
 * vCPU threads.  Sixteen single pages per block cost 16 flushes, and with
 * 512 blocks every 250 ms that slowed a guest by 12-15% (phases-cycle at
 * a budget it fits in, bench/e2e/run.py); one 64 KiB chunk per block costs
 * nothing measurable.  A read fault on a shmem or file mapping maps its
 * neighbours too (fault-around), so a touched chunk usually reads as
 * wholly present: the count is a sign of use more than a measure of it.
 */
#define SCULPT_AUTO_SAMPLES 16
#define SCULPT_PM_PRESENT (1ULL << 63)

/* First page of the sampled chunk of every block, this interval. */
static uint64_t sculpt_auto_sample_first(SculptAuto *a)
{
    uint64_t chunks = MAX(1, a->ppb / SCULPT_AUTO_SAMPLES);

    return (a->phase % chunks) * SCULPT_AUTO_SAMPLES;
}

static uint64_t sculpt_auto_sample_pages(SculptAuto *a)
{
    return MIN(SCULPT_AUTO_SAMPLES, a->ppb);
}

/*
 * Zap the sampled chunk of resident blocks.  Sculpt thread.
 *
 * Not of a block in the cold tier the guest wrote in the interval that
 * just ended (@dirty): the dirty log will most likely call it used again,
 * and in a cold file its sampled pages cost more than a minor fault.  A
 * shared file mapping with writeback maps a page read in read-only, so a
 * guest store there takes a second fault into the filesystem's
 * page_mkwrite, which for a page of a large folio walks the whole folio's
 * buffers (ext4, 7-8 us per store: bench/mover/mkwrite-cost.c).  (A
 * NUMA-node or swap cold tier skips the sample too; only the cold file
 * was measured.)
 */
static void sculpt_auto_arm(SculptState *s, SculptAuto *a,
                            const uint32_t *dirty)
{
    uint64_t off, len;

    a->phase++;
    off = sculpt_auto_sample_first(a) * a->page;
    len = sculpt_auto_sample_pages(a) * a->page;
    for (uint64_t b = 0; b < a->nblocks; b++) {
        a->armed[b] = a->pagemap_fd >= 0 && a->res[b] &&
                      a->pool_page[b] == a->page &&
                      !(a->tier[b] == SCULPT_TIER_COLD && dirty[b]);
        if (!a->armed[b]) {
            continue;
        }
        qemu_mutex_lock(&s->mm_lock);
        if (madvise(s->host + b * s->block_size + off, len, MADV_DONTNEED)) {
            a->armed[b] = false;        /* e.g. locked: not sampled */
        }
        qemu_mutex_unlock(&s->mm_lock);
    }
}

/* Which sampled pages came back; fills a->seen.  Sculpt thread. */
static void sculpt_auto_harvest(SculptState *s, SculptAuto *a)
{
    uint64_t first = sculpt_auto_sample_first(a);
    uint64_t n = sculpt_auto_sample_pages(a);
    uint64_t len = n * sizeof(uint64_t);

    for (uint64_t b = 0; b < a->nblocks; b++) {
        uint64_t vpn = (uintptr_t)(s->host + b * s->block_size) / a->page +
                       first;
        uint32_t seen = 0;
        ssize_t r;

        a->seen[b] = 0;
        if (!a->armed[b]) {
            continue;
        }
        qemu_mutex_lock(&s->mm_lock);
        r = pread(a->pagemap_fd, a->pm, len, vpn * sizeof(uint64_t));
        qemu_mutex_unlock(&s->mm_lock);
        if (r != (ssize_t)len) {
            a->armed[b] = false;
            continue;
        }
        for (uint64_t i = 0; i < n; i++) {
            seen += !!(a->pm[i] & SCULPT_PM_PRESENT);
        }
        a->seen[b] = seen;
    }
}

/*
 * Before the model closes an interval: what the guest faulted back in
 * from the cold file is a sample of its reads and writes there.  Adds to
 * @access/@sampled (the userfaultfd sampler's, or zeros).  Sculpt thread.
 */
bool sculpt_auto_observe(SculptState *s, uint32_t *access, uint8_t *sampled)
{
    SculptAuto *a = s->autos;
    uint64_t faults = 0;
    bool any = false;

    if (!a || !qatomic_read(&s->auto_on)) {
        return false;
    }
    if (a->relaxed && a->observed) {
        /* res and res_after stay as the last look left them */
        sculpt_auto_placement(s, a);
    } else if (!sculpt_auto_residency(s, a)) {
        return false;
    }
    a->observed_now = true;
    if (!a->observed) {
        return false;
    }
    if (!a->relaxed) {
        sculpt_auto_harvest(s, a);
    }
    for (uint64_t b = 0; b < a->nblocks; b++) {
        if (a->tier[b] == SCULPT_TIER_COLD) {
            uint32_t back = a->res[b] > a->res_after[b] ?
                            a->res[b] - a->res_after[b] : 0;

            access[b] += back;
            sampled[b] = 1;
            faults += back;
            any = true;
        }
        if (a->armed[b]) {
            access[b] += a->seen[b];
            sampled[b] = 1;
            any = true;
        }
    }
    qemu_mutex_lock(&a->lock);
    a->st.cold_faults += faults;
    qemu_mutex_unlock(&a->lock);
    return any;
}

/* Drop cold blocks [first, first+n) at consecutive slots from DRAM. */
static void sculpt_auto_drop(SculptState *s, SculptAuto *a, uint64_t first,
                             uint64_t n)
{
    char err[256];
    int r;

    /* Writing back needs no mmap_lock: do it before taking mm_lock. */
    r = sculpt_hm_cold_writeout(&s->pools[SCULPT_TIER_COLD], a->slot[first],
                                n, true, err, sizeof(err));
    if (!r) {
        qemu_mutex_lock(&s->mm_lock);
        r = sculpt_hm_cold_drop(&s->pools[SCULPT_TIER_COLD],
                                s->host + first * s->block_size,
                                a->slot[first], n, err, sizeof(err));
        qemu_mutex_unlock(&s->mm_lock);
    }
    if (r) {
        warn_report_once("sculpt: auto: dropping cold blocks %" PRIu64
                         "-%" PRIu64 ": %s", first, first + n - 1, err);
    }
    /* for sculpt_auto_classify: a block back soon after this is warm */
    for (uint64_t b = first; b < first + n; b++) {
        a->dropped_at[b] = a->tick;
    }
}

/* Start writing back cold blocks the guest paged in and dirtied. */
static void sculpt_auto_writeback(SculptState *s, SculptAuto *a,
                                  uint64_t first, uint64_t n)
{
    char err[256];

    if (sculpt_hm_cold_writeout(&s->pools[SCULPT_TIER_COLD], a->slot[first],
                                n, false, err, sizeof(err))) {
        warn_report_once("sculpt: auto: writing back cold blocks %" PRIu64
                         "-%" PRIu64 ": %s", first, first + n - 1, err);
    }
}

/* Run @fn over the marked blocks, merged where blocks and slots follow. */
static void sculpt_auto_runs(SculptState *s, SculptAuto *a, uint8_t *mark,
                             void (*fn)(SculptState *, SculptAuto *,
                                        uint64_t, uint64_t))
{
    for (uint64_t b = 0; b < a->nblocks;) {
        uint64_t e = b + 1;

        if (!mark[b]) {
            b++;
            continue;
        }
        /* at most SCULPT_MM_CHUNK per call: see SculptState.mm_lock */
        while (e < a->nblocks && mark[e] &&
               a->slot[e] == a->slot[e - 1] + 1 &&
               (e - b + 1) * s->block_size <= SCULPT_MM_CHUNK) {
            e++;
        }
        fn(s, a, b, e - b);
        b = e;
    }
}

static void sculpt_auto_prefetch(SculptState *s, SculptAuto *a,
                                 uint64_t first, uint64_t n)
{
    char err[256];
    int r;

    /*
     * Start the reads without mm_lock (readahead drops the mmap_lock while
     * it reads), then map what arrived under it.
     */
    sculpt_hm_prefetch(s->host + first * s->block_size, n * s->block_size,
                       false, err, sizeof(err));
    qemu_mutex_lock(&s->mm_lock);
    r = sculpt_hm_prefetch(s->host + first * s->block_size,
                           n * s->block_size, true, err, sizeof(err));
    qemu_mutex_unlock(&s->mm_lock);
    if (r) {
        warn_report_once("sculpt: auto: prefetching blocks %" PRIu64
                         "-%" PRIu64 ": %s", first, first + n - 1, err);
    }
}

/* Whether block @b's cold mapping should be read page by page */
static bool sculpt_auto_page_by_page(const SculptAuto *a, uint64_t b)
{
    return a->scattered[b] || a->fresh[b];
}

/* Tell the cold mappings of blocks [first, first+n) how to be read. */
static void sculpt_auto_advise(SculptState *s, SculptAuto *a, uint64_t first,
                               uint64_t n)
{
    bool scattered = sculpt_auto_page_by_page(a, first);
    char err[256];
    int r;

    qemu_mutex_lock(&s->mm_lock);
    r = sculpt_hm_cold_advise(s->host + first * s->block_size,
                              n * s->block_size, scattered, &s->attrs,
                              err, sizeof(err));
    qemu_mutex_unlock(&s->mm_lock);
    if (r) {
        warn_report_once("sculpt: auto: advising cold blocks %" PRIu64
                         "-%" PRIu64 ": %s", first, first + n - 1, err);
        return;
    }
    memset(a->advised + first, scattered, n);
    memcpy(a->advised_slot + first, a->slot + first, n * sizeof(*a->slot));
}

/*
 * Dense or scattered.  A cold-file block is mapped as QEMU mapped guest
 * RAM, with huge folios: the guest's first touch reads and maps the
 * whole 2 MiB block (and starts reading the next), which is what a
 * working set moving in needs, block after block.  A block the guest
 * uses here and there pays that read for a few pages: a Zipf key-value
 * store over more memory than the budget, whose every block stays warm,
 * read 225 GB from disk that way in 400 s and did not finish.  Such a
 * block shows itself by coming back soon after a drop (within
 * SCULPT_AUTO_REFAULT intervals) while the guest writes a little of it
 * (some pages, never ppb / SCULPT_AUTO_DENSE in one interval): from then
 * on its faults read a page each, as swap-in would, and auto mode no
 * longer prefetches it whole.  Coming back alone is no evidence: the
 * huge-folio read of a neighbour or of a prefetch brings a block back
 * too (phases-cycle showed hundreds of such returns with nothing
 * written), and so does a sequential scan, which huge folios serve best
 * (scanhot ran at 0.64x of unconstrained when such returns counted,
 * 0.85-0.98x in three runs where they did not: bench/e2e/run.py); so a
 * block never written stays dense, and a read-only scattered use is not
 * caught.  Writing a good part of it in one interval, or paging half of
 * it in page by page (an honest count once advised: no read-around),
 * makes it dense again.
 *
 * A block moved to the cold file holding no data (fresh) is read page by
 * page as well until the guest fills it: its file range is unwritten, and
 * a fault there zero-fills the whole read-around in the faulting vCPU
 * thread (two huge folios and more, up to read_ahead_kb); perf caught
 * single guest stores spending 5-20 ms in that memset, and a vCPU pause
 * waited for each.  Page by page, a fault zeroes one page; the same
 * writing or paging in that makes a block dense ends it.  Sculpt thread.
 */
static void sculpt_auto_classify(SculptState *s, SculptAuto *a,
                                 const uint32_t *dirty)
{
    g_autofree uint8_t *to_scattered = g_new0(uint8_t, a->nblocks);
    g_autofree uint8_t *to_dense = g_new0(uint8_t, a->nblocks);
    uint32_t dense = MAX(1, a->ppb / SCULPT_AUTO_DENSE);
    uint64_t n = 0;

    for (uint64_t b = 0; b < a->nblocks; b++) {
        bool cold = a->tier[b] == SCULPT_TIER_COLD;
        uint32_t back = cold && a->observed && a->res[b] > a->res_after[b] ?
                        a->res[b] - a->res_after[b] : 0;
        /* written in good part, or half paged in one page at a time */
        bool dense_use = dirty[b] >= dense ||
                         (a->advised[b] && back >= a->ppb / 2);

        /*
         * fresh: 1..8 while its move is pending (ticks), then 255 once it
         * is in the cold file, until it is filled or leaves the file.
         */
        if (a->fresh[b] && (dense_use ||
                            (!cold && (a->fresh[b] == 255 ||
                                       ++a->fresh[b] > 8)))) {
            a->fresh[b] = 0;
        } else if (a->fresh[b] && cold) {
            a->fresh[b] = 255;
        }
        if (dense_use) {
            a->scattered[b] = 0;
            a->strikes[b] = 0;
            a->light[b] = 0;
        } else {
            a->light[b] |= dirty[b] != 0;
            if (back && !a->prefetch_ttl[b] && a->dropped_at[b] &&
                a->tick - a->dropped_at[b] <= SCULPT_AUTO_REFAULT &&
                a->strikes[b] < SCULPT_AUTO_STRIKES) {
                a->strikes[b]++;
            }
            if (a->strikes[b] >= SCULPT_AUTO_STRIKES && a->light[b]) {
                a->scattered[b] = 1;
            }
        }
        n += a->scattered[b];
        /*
         * A move maps a block afresh, as QEMU mapped it: out of the cold
         * tier, or back into it at another slot (a sculpt-pool move
         * between two ticks).
         */
        if (!cold || a->advised_slot[b] != a->slot[b]) {
            a->advised[b] = 0;
        }
        if (cold && sculpt_auto_page_by_page(a, b) != a->advised[b]) {
            (sculpt_auto_page_by_page(a, b) ? to_scattered : to_dense)[b] = 1;
        }
    }
    sculpt_auto_runs(s, a, to_scattered, sculpt_auto_advise);
    sculpt_auto_runs(s, a, to_dense, sculpt_auto_advise);
    qemu_mutex_lock(&a->lock);
    a->st.scattered_blocks = n;
    qemu_mutex_unlock(&a->lock);
}

/* The pools sculpt has: guest RAM's DRAM is theirs.  Returns how many. */
static size_t sculpt_auto_pools(SculptState *s, SculptHmPool **pools)
{
    size_t n = 0;

    for (int t = 0; t < SCULPT_TIER__MAX; t++) {
        if (s->have_pool[t]) {
            pools[n++] = &s->pools[t];
        }
    }
    return n;
}

/*
 * DRAM used by guest RAM: every pool's pages and the cold file's cache.
 * With @qemu_anon, also QEMU's own memory.
 */
static uint64_t sculpt_auto_dram(SculptState *s, uint64_t *qemu_anon)
{
    SculptHmPool *pools[SCULPT_TIER__MAX];
    size_t n = sculpt_auto_pools(s, pools);
    SculptHmDram d;
    char err[256];
    int r;

    r = qemu_anon ? sculpt_hm_dram(pools, n, &d, err, sizeof(err)) :
                    sculpt_hm_dram_pools(pools, n, &d, err, sizeof(err));
    if (r) {
        warn_report_once("sculpt: auto: measuring DRAM: %s", err);
        d = (SculptHmDram) { 0 };
    }
    if (qemu_anon) {
        *qemu_anon = d.anon;
    }
    return d.total - d.anon;
}

/* The memory cgroup's room, read once per look (sculpt_hm_memcg_room()) */
typedef struct SculptAutoMemcg {
    bool limited;           /* a limit applies; else room and limit are 0 */
    uint64_t room, limit;   /* under the tightest limit; that limit */
} SculptAutoMemcg;

static void sculpt_auto_memcg(SculptAuto *a, SculptAutoMemcg *m)
{
    m->limited = sculpt_hm_memcg_room(&a->memcg, &m->room, &m->limit);
    if (!m->limited) {
        m->room = m->limit = 0;
    }
}

/*
 * The budget in effect: fast-budget, or less when the memory cgroup QEMU
 * runs in (libvirt's memtune hard_limit, a systemd unit's MemoryMax=)
 * would be full first.  All that QEMU uses is charged there: guest RAM,
 * QEMU's own memory, the cold file's page cache.  Once it is full the
 * kernel reclaims in it behind the budget's back: it swaps guest pages
 * out (out of DRAM, so no longer counted, and each a major fault back)
 * and evicts cold-file pages the model wanted kept.  So guest RAM may
 * grow by the room the tightest limit leaves, and the high mark below
 * that keeps the kernel's reclaim out.  @dram: guest RAM's DRAM now;
 * @m: the cgroup as sculpt_auto_memcg() read it.  Sculpt thread.
 */
static uint64_t sculpt_auto_budget(SculptState *s, SculptAuto *a,
                                   uint64_t dram, const SculptAutoMemcg *m)
{
    uint64_t budget = qatomic_read(&s->fast_budget), room = m->room;

    if (!m->limited || !budget || dram + room >= budget) {
        return budget;
    }
    if (!a->memcg_warned) {
        a->memcg_warned = true;
        warn_report("sculpt '%s': memory cgroup %s: its limit, %" PRIu64
                    " MiB, leaves guest RAM %" PRIu64 " MiB of DRAM, less "
                    "than fast-budget=%" PRIu64 "M; auto mode keeps to the "
                    "limit", object_get_canonical_path_component(OBJECT(s)),
                    a->memcg.path, m->limit / MiB, (dram + room) / MiB,
                    budget / MiB);
    }
    return dram + room;
}

/*
 * After the model closed an interval: plan and act.  @dirty: pages the
 * vCPUs wrote per block in it; @interval_ns: its length.  Sculpt thread.
 */
void sculpt_auto_tick(SculptState *s, const uint32_t *dirty,
                      uint64_t interval_ns)
{
    SculptAuto *a = s->autos;
    uint64_t bs = s->block_size, page = a ? a->page : 0;
    uint64_t budget, high, dram, anon, freed = 0;
    SculptAutoMemcg memcg;
    uint64_t allowance, copied = 0, prefetched = 0;
    uint64_t touched = 0, hits = 0, pf_hits = 0, pf_misses = 0;
    uint64_t dropped = 0, moves, grow = 0;
    g_autofree uint8_t *drop = NULL, *fetch = NULL, *keep = NULL;
    g_autofree uint8_t *demote = NULL;
    uint64_t target, admitted = 0, future;
    g_autoptr(GArray) to_cold = NULL, to_fast = NULL;
    bool have_hot;
    char *err = NULL;

    if (!a || !qatomic_read(&s->auto_on) || !a->observed_now) {
        return;
    }
    budget = qatomic_read(&s->fast_budget);
    allowance = MAX(bs, qatomic_read(&s->move_bandwidth) * interval_ns /
                        NANOSECONDS_PER_SECOND);
    have_hot = s->have_pool[SCULPT_TIER_HOT];
    drop = g_new0(uint8_t, a->nblocks);
    fetch = g_new0(uint8_t, a->nblocks);
    keep = g_new0(uint8_t, a->nblocks);
    demote = g_new0(uint8_t, a->nblocks);
    to_cold = g_array_new(false, false, sizeof(uint64_t));
    to_fast = g_array_new(false, false, sizeof(uint64_t));
    a->tick++;
    sculpt_auto_classify(s, a, dirty);

    qemu_mutex_lock(&s->core_lock);
    /* The guarded policy judges its predictors at the budget's depth. */
    if (budget != a->capacity_budget &&
        !sculpt_core_set_fast_capacity(s->core,
                                       MIN(budget / bs, a->nblocks), &err)) {
        a->capacity_budget = budget;
    } else if (err) {
        warn_report_once("sculpt: auto: %s", err);
        free(err);
        err = NULL;
    }
    if (sculpt_core_predictions(s->core, NULL, a->prob, a->nblocks, &err)) {
        qemu_mutex_unlock(&s->core_lock);
        warn_report_once("sculpt: auto: %s", err);
        free(err);
        return;
    }
    qemu_mutex_unlock(&s->core_lock);

    /* What the interval touched, and whether it was in DRAM already. */
    for (uint64_t b = 0; b < a->nblocks; b++) {
        bool cold = a->tier[b] == SCULPT_TIER_COLD;
        bool used = dirty[b] || (a->armed[b] && a->seen[b]) ||
                    (cold && a->observed && a->res[b] > a->res_after[b]);
        bool pf_used = used && a->prefetch_ttl[b];

        a->used[b] = used;
        if (used) {
            touched++;
            hits += a->fast_before[b];
        }
        if (a->prefetch_ttl[b]) {
            if (used) {
                pf_hits++;
                a->prefetch_ttl[b] = 0;
            } else if (!--a->prefetch_ttl[b]) {
                pf_misses++;
            }
        }
        a->streak[b] = a->prob[b] >= SCULPT_AUTO_PROMOTE_P ?
                       MIN(a->streak[b] + 1, 255) : 0;
        /*
         * Rank: the model's probability, lifted for blocks used in the
         * interval, and again for those the guest is paging in now (or
         * that were prefetched and used): at a phase change the new set
         * goes before the old one, though both were used.
         */
        a->order[b] = (SculptAutoScored) {
            b, a->prob[b] + (used ? 1.0f : 0.0f) +
               (used && (a->res[b] > a->res_after[b] || pf_used) ?
                1.0f : 0.0f) };
    }
    qsort(a->order, a->nblocks, sizeof(*a->order), sculpt_auto_cmp_desc);

    dram = sculpt_auto_dram(s, &anon);
    sculpt_auto_memcg(a, &memcg);
    budget = sculpt_auto_budget(s, a, dram, &memcg);
    high = budget * SCULPT_AUTO_HIGH;
    a->ticks_since_over = dram > budget ? 0 :
                          MIN(a->ticks_since_over + 1, UINT32_MAX - 1);

    /*
     * Headroom: the guest adds DRAM between ticks by faulting cold pages
     * back and touching new ones.  Keep what it added in recent ticks free,
     * so that the next tick still finds DRAM under the budget.
     */
    for (int i = ARRAY_SIZE(a->growth) - 1; i > 0; i--) {
        a->growth[i] = a->growth[i - 1];
    }
    a->growth[0] = dram > a->dram_after ? dram - a->dram_after : 0;
    for (int i = 0; i < ARRAY_SIZE(a->growth); i++) {
        grow = MAX(grow, a->growth[i]);
    }
    /*
     * Between ticks the guard (every SCULPT_AUTO_GUARD_MS) frees DRAM as
     * soon as it passes the high mark, so the headroom has to cover only
     * the growth until the guard's frees take effect, not a whole
     * interval's: a whole interval's frees, while the guest fills its
     * memory, blocks it is about to use, though it all fits.  But the
     * guard frees by copying when no cold-file block is left to drop, at
     * the mover's speed, which a guest filling its memory can outrun: once
     * DRAM has passed the budget lately, keep a whole interval's growth.
     */
    grow = MIN(grow, budget / 2);
    if (a->ticks_since_over > SCULPT_AUTO_OVER_MEMORY &&
        interval_ns > SCULPT_AUTO_REACT_MS * SCALE_MS) {
        grow = grow * SCULPT_AUTO_REACT_MS * SCALE_MS / interval_ns;
    }
    target = high - grow;

    /*
     * Admit blocks to DRAM best first, up to the target: a cold block
     * the model expects, or that the guest is paging in, is admitted
     * whole and prefetched; any other block at what it holds now.
     */
    for (uint64_t i = 0; budget && i < a->nblocks; i++) {
        uint64_t b = a->order[i].block;
        uint64_t have = (uint64_t)a->res[b] * page, missing = bs - MIN(bs, have);
        /*
         * Prefetch what the model expects, and blocks the guest pages in
         * densely (a quarter of the block in one interval: a working set
         * moving in); not blocks it touches here and there, where a
         * whole-block read would mostly fetch what it does not use,
         * nor scattered blocks (sculpt_auto_classify).
         */
        bool dense = a->res[b] >= a->res_after[b] + a->ppb / 4;
        bool want = a->tier[b] == SCULPT_TIER_COLD && missing &&
                    !a->scattered[b] &&
                    ((a->used[b] && dense) ||
                     a->prob[b] >= SCULPT_AUTO_PREFETCH_P);

        if (want && admitted + bs <= target &&
            prefetched + missing <= allowance) {
            fetch[b] = 1;
            keep[b] = 1;
            prefetched += missing;
            admitted += bs;
        } else if (have && admitted + have <= target) {
            keep[b] = 1;
            admitted += have;
        }
    }

    /*
     * Free what was not admitted, least likely first, once DRAM (with
     * the prefetches) is past the middle of target..high: cold-file
     * blocks are dropped in place, others demoted (copied: bounded by
     * move-bandwidth).  Blocks used in the interval go last.
     */
    future = dram + prefetched;
    if (budget && future > target + (high - target) / 2) {
        uint64_t need = future - target;

        for (int pass = 0; pass < 2 && freed < need; pass++) {
            for (uint64_t i = a->nblocks; i-- > 0 && freed < need;) {
                uint64_t b = a->order[i].block;
                uint64_t bytes = (uint64_t)a->res[b] * page;

                if (!bytes || keep[b] || drop[b] || demote[b] ||
                    (!pass && a->used[b]) ||
                    a->prefetch_ttl[b] == SCULPT_AUTO_PREFETCH_TTL) {
                    continue;
                }
                if (a->tier[b] == SCULPT_TIER_COLD) {
                    drop[b] = 1;
                    dropped += bytes;
                } else if (copied + bs <= allowance) {
                    demote[b] = 1;
                    g_array_append_val(to_cold, b);
                    copied += bs;
                } else {
                    continue;
                }
                freed += bytes;
            }
        }
    }

    /*
     * Once DRAM passes SCULPT_AUTO_RELAXED of a budget smaller than guest
     * RAM, blocks that hold no data at all (never touched, or discarded by
     * the balloon) go to the cold file: what the guest touches first stays
     * in its memfd, what it fills when DRAM runs short lands in the slow
     * tier, as a tiered-memory kernel spills new pages to the slow node.
     * Such a move copies nothing (the slot is zeroed, the pause only
     * remaps), and once the guest fills the block its pages are the cold
     * file's page cache, which the guard frees by writing back and
     * dropping, with the guest running, instead of by copying them out
     * with the vCPUs paused, at a speed a guest filling its memory
     * outruns.  Not earlier: with every empty block placed from the
     * first interval, phases-recurring's region 0 (filled first, used
     * every other phase) lived in the file too and ran 4% slower (three
     * alternating pairs of bench/e2e/run.py; which of writeback's
     * write-protect faults or the kernel's own reclaim in the bench's
     * cgroup costs it was not found out).
     */
    if (budget && budget < s->size && dram > budget * SCULPT_AUTO_RELAXED &&
        s->have_pool[SCULPT_TIER_COLD] &&
        s->pools[SCULPT_TIER_COLD].kind == SCULPT_HM_COLD_FILE) {
        SculptHmPool *base = &s->pools[SCULPT_TIER_BASE];
        const SculptHmPool *cold = &s->pools[SCULPT_TIER_COLD];
        /* a heuristic bound (the main loop owns the pool): no failures */
        uint64_t room = cold->nr_slots - MIN(cold->nr_slots, cold->nr_used +
                                                             to_cold->len);

        for (uint64_t b = 0; b < a->nblocks && room; b++) {
            SculptHmLoc l = { base, a->slot[b] };

            if (a->tier[b] != SCULPT_TIER_BASE || a->res[b] || demote[b] ||
                !sculpt_hm_loc_empty(&l)) {
                continue;
            }
            demote[b] = 1;
            a->fresh[b] = 1;
            g_array_append_val(to_cold, b);
            room--;
        }
    }

    /*
     * Prefetch only into room there is now, or that this tick's drops
     * make: a demotion frees its DRAM only once the mover has copied the
     * block, and reading a phase's worth back before that overshoots the
     * budget (the guard then drops it again).  The rest stays admitted and
     * is fetched by later ticks, or by the guest.
     */
    if (budget && prefetched) {
        uint64_t now = dram > dropped ? dram - dropped : 0;
        uint64_t room = high > now ? high - now : 0;

        prefetched = 0;
        for (uint64_t i = 0; i < a->nblocks; i++) {
            uint64_t b = a->order[i].block;
            uint64_t missing = bs - MIN(bs, (uint64_t)a->res[b] * page);

            if (!fetch[b]) {
                continue;
            }
            if (prefetched + missing > room) {
                fetch[b] = 0;
                continue;
            }
            prefetched += missing;
        }
    }

    /* With a hot pool, blocks hot for long go to the hot zone. */
    for (uint64_t i = 0; have_hot && i < a->nblocks; i++) {
        uint64_t b = a->order[i].block;

        if (copied + bs > allowance) {
            break;
        }
        if (keep[b] && a->tier[b] != SCULPT_TIER_HOT && a->res[b] &&
            a->streak[b] >= SCULPT_AUTO_PROMOTE_STREAK) {
            g_array_append_val(to_fast, b);
            copied += bs;
        }
    }

    sculpt_auto_runs(s, a, drop, sculpt_auto_drop);
    sculpt_auto_runs(s, a, fetch, sculpt_auto_prefetch);

    /*
     * Near the budget, start writing back the cold blocks in DRAM that the
     * interval did not use: they are the next ones to drop, and a drop
     * must wait for a dirty page's write (at a phase change, the old
     * working set: ~100 MiB at disk speed while the new one pages in).
     * Written now, they drop at once when their time comes.  Blocks in use
     * are left alone: they would be dirtied and written again.
     */
    if (budget && dram > budget * SCULPT_AUTO_RELAXED) {
        g_autofree uint8_t *wb = g_new0(uint8_t, a->nblocks);

        for (uint64_t b = 0; b < a->nblocks; b++) {
            wb[b] = a->tier[b] == SCULPT_TIER_COLD && a->res[b] &&
                    !a->used[b] && !drop[b];
        }
        sculpt_auto_runs(s, a, wb, sculpt_auto_writeback);
    }

    /* What the next interval starts with (a cheap second look). */
    a->dram_after = sculpt_auto_dram(s, NULL);
    a->relaxed = budget && a->dram_after < budget * SCULPT_AUTO_RELAXED;
    if (a->relaxed) {
        memset(a->armed, 0, a->nblocks);
        memset(a->seen, 0, a->nblocks * sizeof(*a->seen));
    } else {
        sculpt_auto_residency(s, a);
        for (uint64_t b = 0; b < a->nblocks; b++) {
            a->pool_page[b] = s->pools[a->tier[b]].page_size;
        }
        sculpt_auto_arm(s, a, dirty);
    }
    for (uint64_t b = 0; b < a->nblocks; b++) {
        a->res_after[b] = a->res[b];
        a->fast_before[b] = a->tier[b] != SCULPT_TIER_COLD ||
                            a->res[b] == a->ppb;
        if (fetch[b]) {
            a->prefetch_ttl[b] = SCULPT_AUTO_PREFETCH_TTL;
        }
    }
    a->observed = true;
    a->observed_now = false;

    qemu_mutex_lock(&a->lock);
    a->st.ticks++;
    a->st.dram = dram;
    a->st.effective_budget = budget;
    a->st.has_memcg_limit = memcg.limited;
    a->st.memcg_limit = memcg.limit;
    a->st.dram_peak = MAX(a->st.dram_peak, dram);
    a->st.qemu_anon = anon;
    if (budget && dram > budget) {
        a->st.over_budget++;
        a->st.overshoot_max = MAX(a->st.overshoot_max, dram - budget);
    }
    a->st.touched_blocks += touched;
    a->st.fast_hits += hits;
    a->st.hit_ratio = a->st.touched_blocks ?
        (double)a->st.fast_hits / a->st.touched_blocks : 0;
    a->st.prefetched += prefetched;
    a->st.prefetch_hits += pf_hits;
    a->st.prefetch_misses += pf_misses;
    a->st.dropped += dropped;
    moves = a->st.demoted + a->st.promoted;
    a->st.moves_per_sec = interval_ns ? (double)(moves - a->moves_prev) *
                          NANOSECONDS_PER_SECOND / interval_ns : 0;
    a->moves_prev = moves;
    if (to_cold->len || to_fast->len) {
        /* The newest plan replaces one the main loop has not taken. */
        g_array_set_size(a->to_cold, 0);
        g_array_set_size(a->to_fast, 0);
        g_array_append_vals(a->to_cold, to_cold->data, to_cold->len);
        g_array_append_vals(a->to_fast, to_fast->data, to_fast->len);
        qemu_bh_schedule(a->bh);
    }
    qemu_mutex_unlock(&a->lock);
    trace_sculpt_auto_tick(object_get_canonical_path_component(OBJECT(s)),
                           dram, budget, target, dropped, prefetched,
                           to_cold->len, to_fast->len);
}

/*
 * Holding the vCPUs while DRAM is over the budget.  They are the VM's, not
 * one object's, so this is global: until sculpt_stall_until (ns, realtime
 * clock) each vCPU waits in a work item of its own, the BQL released;
 * pause_all_vcpus() still stops it at once.  Only the guard, in the
 * sculpt thread, sets the deadline, so nothing refers to an object that
 * may go away: a hold ends by itself SCULPT_AUTO_STALL_MS after the last
 * check that wanted it.
 */
static int64_t sculpt_stall_until;
static int sculpt_stall_queued;        /* work items not finished yet */
static uint64_t sculpt_stall_ns;       /* time vCPUs were held, summed */

static void sculpt_auto_stall_cpu(CPUState *cpu, run_on_cpu_data unused)
{
    int64_t t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME), now = t0;

    /*
     * Other work queued for this vCPU ends the hold: the main loop may be
     * waiting for it (run_on_cpu() from a dirty-log sync, say), and the
     * mover that frees DRAM runs in the main loop.
     */
    while (!cpu->stop && cpu_work_list_empty(cpu) &&
           now < qatomic_read(&sculpt_stall_until)) {
        qemu_cond_timedwait_bql(cpu->halt_cond, SCULPT_AUTO_STALL_POLL_MS);
        now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    }
    qatomic_add(&sculpt_stall_ns, now - t0);
    qatomic_dec(&sculpt_stall_queued);
    trace_sculpt_auto_stall_cpu(cpu->cpu_index, now - t0, cpu->stop,
                                !cpu_work_list_empty(cpu));
}

/* Hold the vCPUs a while longer, or let them go.  Sculpt thread. */
static void sculpt_auto_stall(SculptAuto *a, bool hold)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    /*
     * However long the guard needs, the guest gets a fifth of the time at
     * least: a hold lasts at most SCULPT_AUTO_STALL_MAX_MS, and the next
     * one waits a quarter of that.  The budget then gives way rather than
     * the VM.
     */
    if (hold && !a->stalling && now < a->stall_next) {
        return;
    }
    if (hold && a->stalling &&
        now - a->stall_began > SCULPT_AUTO_STALL_MAX_MS * SCALE_MS) {
        a->stall_next = now + SCULPT_AUTO_STALL_MAX_MS * SCALE_MS / 4;
        hold = false;
    }
    if (!hold || migration_is_running()) {
        if (a->stalling) {
            qatomic_set(&sculpt_stall_until, 0);
            a->stalling = false;
            trace_sculpt_auto_stall(false);
        }
        return;
    }
    qatomic_set(&sculpt_stall_until, now + SCULPT_AUTO_STALL_MS * SCALE_MS);
    if (!a->stalling) {
        a->stalling = true;
        a->stall_began = now;
        trace_sculpt_auto_stall(true);
    }
    if (sculpt_auto_hold()) {
        qemu_mutex_lock(&a->lock);
        a->st.stalls++;
        qemu_mutex_unlock(&a->lock);
    }
}

/*
 * Hold the vCPUs if the guard wants them held and they are not already.
 * The sculpt thread calls it, and the mover once it resumed the vCPUs
 * from a batch (a pause ends a hold early: the vCPUs stop from inside
 * it).  Returns whether it queued a hold.  Any thread.
 */
bool sculpt_auto_hold(void)
{
    CPUState *cpu;

    if (qatomic_read(&sculpt_stall_until) <=
        qemu_clock_get_ns(QEMU_CLOCK_REALTIME) ||
        qatomic_cmpxchg(&sculpt_stall_queued, 0, 1) != 0) {
        return false;           /* not wanted, or held: sees the deadline */
    }
    cpu_list_lock();
    CPU_FOREACH(cpu) {
        qatomic_inc(&sculpt_stall_queued);
        async_run_on_cpu(cpu, sculpt_auto_stall_cpu, RUN_ON_CPU_NULL);
    }
    cpu_list_unlock();
    qatomic_dec(&sculpt_stall_queued);  /* the claim taken above */
    return true;
}

/*
 * Whether guest RAM is surely under SCULPT_AUTO_NEAR of the budget, by a
 * bound that costs the same whatever its size (sculpt_hm_dram_bound()):
 * measuring it exactly, 50 times a second, took a quarter of a host CPU
 * for a 1 GiB guest that fits its budget (bench/e2e/own-cost.sh; the
 * guest's own speed did not measurably change).  The bound is at least the
 * DRAM in use, and "dram <= NEAR * min(budget, dram + room)" holds for
 * every dram under a bound it holds for, so a yes is the exact answer's.
 * Sculpt thread.
 */
static bool sculpt_auto_far(SculptState *s, const SculptAutoMemcg *m)
{
    SculptHmPool *pools[SCULPT_TIER__MAX];
    size_t n = sculpt_auto_pools(s, pools);
    uint64_t budget = qatomic_read(&s->fast_budget), bound;
    char err[256];

    if (!budget || sculpt_hm_dram_bound(pools, n, &bound, err, sizeof(err))) {
        return false;
    }
    if (m->limited) {
        budget = MIN(budget, bound + m->room);
    }
    return bound <= budget * SCULPT_AUTO_NEAR;
}

/*
 * Between intervals (every SCULPT_AUTO_GUARD_MS): if the guest paged in or
 * touched enough to pass the budget's high mark, act at once rather than
 * at the next interval: drop cold-file blocks, demote others.  Victims,
 * least likely first (by the last interval's ranking): blocks that are
 * not growing, i.e. not being paged in or filled right now; those that
 * are, are the guest's new working set.  Sculpt thread.
 */
unsigned sculpt_auto_guard(SculptState *s)
{
    SculptAuto *a = s->autos;
    uint64_t budget, dram, page, target, freed = 0, dropped = 0;
    SculptAutoMemcg memcg;
    uint64_t allowance, copied = 0;
    unsigned next;
    g_autofree uint8_t *drop = NULL, *demote = NULL;
    g_autoptr(GArray) to_cold = NULL;

    if (!a || !a->observed || !qatomic_read(&s->auto_on)) {
        return SCULPT_AUTO_GUARD_MS;
    }
    sculpt_auto_memcg(a, &memcg);
    if (sculpt_auto_far(s, &memcg)) {
        sculpt_auto_stall(a, false);
        return SCULPT_AUTO_GUARD_MS;
    }
    dram = sculpt_auto_dram(s, NULL);
    budget = sculpt_auto_budget(s, a, dram, &memcg);
    if (budget && dram > budget) {
        a->ticks_since_over = 0;
    }
    /*
     * Near the budget, look more often: a guest paging a new working set
     * in from the cold file adds more than 5% of a 256 MiB budget in
     * 20 ms here (test-auto-guest's phase changes).
     */
    next = dram > budget * SCULPT_AUTO_NEAR ? SCULPT_AUTO_GUARD_NEAR_MS :
           SCULPT_AUTO_GUARD_MS;
    if (!budget || dram <= budget * SCULPT_AUTO_HIGH) {
        sculpt_auto_stall(a, false);
        return next;
    }
    if (!sculpt_auto_residency(s, a)) {
        return next;
    }
    sculpt_auto_harvest(s, a);          /* accessed since the interval began */
    page = a->page;
    target = budget * SCULPT_AUTO_GUARD_TO;
    allowance = MAX(s->block_size, qatomic_read(&s->move_bandwidth) *
                    SCULPT_AUTO_GUARD_MS / 1000);
    drop = g_new0(uint8_t, a->nblocks);
    demote = g_new0(uint8_t, a->nblocks);
    to_cold = g_array_new(false, false, sizeof(uint64_t));
    /*
     * Pass 0 spares blocks used since the interval began; pass 1 takes
     * those not being paged in (at a phase change: the old working set,
     * still used early in the interval); pass 2, only above the budget
     * itself, takes any: the budget is a limit.
     */
    for (int pass = 0; pass < 3 && dram - freed > target; pass++) {
        if (pass == 2 && dram - freed <= budget) {
            break;
        }
    for (uint64_t i = a->nblocks; i-- > 0 && dram - freed > target;) {
        uint64_t b = a->order[i].block;
        bool growing = a->res[b] > a->res_after[b];

        if (!a->res[b] || drop[b] || demote[b] || a->prefetch_ttl[b] ||
            (pass == 0 && (growing || (a->armed[b] && a->seen[b]))) ||
            (pass == 1 && growing)) {
            continue;
        }
        if (pass && a->tier[b] != SCULPT_TIER_COLD) {
            continue;                   /* pass 1 drops, it does not copy */
        }
        if (a->tier[b] == SCULPT_TIER_COLD) {
            drop[b] = 1;
        } else if (copied + s->block_size <= allowance) {
            demote[b] = 1;
            /* e.g. memory the guest filled and left: demote it */
            g_array_append_val(to_cold, b);
            copied += s->block_size;
        } else {
            continue;
        }
        freed += (uint64_t)a->res[b] * page;
    }
    }
    sculpt_auto_runs(s, a, drop, sculpt_auto_drop);
    /* What was dropped no longer counts as paged back in by the guest. */
    for (uint64_t b = 0; b < a->nblocks; b++) {
        if (drop[b]) {
            a->res_after[b] = 0;
            dropped += (uint64_t)a->res[b] * page;
        }
    }
    /*
     * Still over the budget with all it could drop (what it demotes frees
     * nothing until it is moved; measured again, as the guest may have
     * dirtied what was dropped): the guest outruns the guard, so hold its
     * vCPUs until DRAM is back.  Between the high mark and the budget, a
     * hold runs out by itself.
     */
    if (dram - dropped > budget) {
        sculpt_auto_stall(a, sculpt_auto_dram(s, NULL) > budget);
    }
    trace_sculpt_auto_guard(object_get_canonical_path_component(OBJECT(s)),
                            dram, budget, target, dropped, to_cold->len);
    qemu_mutex_lock(&a->lock);
    a->st.dropped += dropped;
    a->st.guard_drops++;
    if (to_cold->len && !a->to_cold->len && !a->to_fast->len) {
        g_array_append_vals(a->to_cold, to_cold->data, to_cold->len);
        qemu_bh_schedule(a->bh);
    }
    qemu_mutex_unlock(&a->lock);
    return next;
}

/* Main loop: hand the planned moves to the mover. */
static void sculpt_auto_bh(void *opaque)
{
    SculptState *s = opaque;
    SculptAuto *a = s->autos;
    g_autoptr(GArray) to_cold = g_array_new(false, false, sizeof(uint64_t));
    g_autoptr(GArray) to_fast = g_array_new(false, false, sizeof(uint64_t));
    sculpt_tier fast;
    Error *err = NULL;

    if (s->op || !qatomic_read(&s->auto_on)) {
        return;                     /* the next interval plans again */
    }
    qemu_mutex_lock(&a->lock);
    g_array_append_vals(to_cold, a->to_cold->data, a->to_cold->len);
    g_array_append_vals(to_fast, a->to_fast->data, a->to_fast->len);
    g_array_set_size(a->to_cold, 0);
    g_array_set_size(a->to_fast, 0);
    qemu_mutex_unlock(&a->lock);

    fast = s->have_pool[SCULPT_TIER_HOT] &&
           s->pools[SCULPT_TIER_HOT].nr_used + to_fast->len <=
           s->pools[SCULPT_TIER_HOT].nr_slots ? SCULPT_TIER_HOT :
           SCULPT_TIER_BASE;
    if (!sculpt_move_auto(s, to_cold, to_fast, fast, &err)) {
        warn_report_once("sculpt: auto: %s", error_get_pretty(err));
        error_free(err);
    }
}

void sculpt_auto_moved(SculptState *s, uint64_t blocks_to_cold,
                       uint64_t blocks_to_fast)
{
    SculptAuto *a = s->autos;

    if (a) {
        qemu_mutex_lock(&a->lock);
        a->st.demoted += blocks_to_cold;
        a->st.promoted += blocks_to_fast;
        qemu_mutex_unlock(&a->lock);
    }
}

/*
 * The mover is free again: hand it what the sculpt thread planned while it
 * was busy (sculpt_auto_bh() leaves the lists alone then).  Without this the
 * plan waited for the next interval, and the mover sat idle for up to one
 * interval between operations while DRAM was over the budget.  Main loop.
 */
void sculpt_auto_kick(SculptState *s)
{
    SculptAuto *a = s->autos;
    bool pending;

    if (!a) {
        return;
    }
    qemu_mutex_lock(&a->lock);
    pending = a->to_cold->len || a->to_fast->len;
    qemu_mutex_unlock(&a->lock);
    if (pending) {
        qemu_bh_schedule(a->bh);
    }
}

SculptAutoStats *sculpt_auto_stats(SculptState *s)
{
    SculptAuto *a = s->autos;
    SculptAutoStats *st = g_new0(SculptAutoStats, 1);

    if (a) {
        qemu_mutex_lock(&a->lock);
        *st = a->st;
        qemu_mutex_unlock(&a->lock);
    }
    /* The knobs as they are now, not as the last interval saw them. */
    st->enabled = qatomic_read(&s->auto_on);
    st->fast_budget = qatomic_read(&s->fast_budget);
    if (!st->ticks) {
        st->effective_budget = st->fast_budget;
    }
    st->move_bandwidth = qatomic_read(&s->move_bandwidth);
    st->stall_ms = qatomic_read(&sculpt_stall_ns) / SCALE_MS;
    return st;
}

void sculpt_auto_init(SculptState *s)
{
    SculptAuto *a = g_new0(SculptAuto, 1);
    char err[256];

    a->page = qemu_real_host_page_size();
    a->ticks_since_over = UINT32_MAX - 1;   /* no pass over the budget yet */
    a->cachestat = true;        /* until a pool's file refuses it */
    a->nblocks = s->size / s->block_size;
    a->ppb = s->block_size / a->page;
    a->vec = g_new0(unsigned char, s->size / a->page);
    a->res = g_new0(uint32_t, a->nblocks);
    a->res_after = g_new0(uint32_t, a->nblocks);
    a->tier = g_new0(uint8_t, a->nblocks);
    a->slot = g_new0(uint64_t, a->nblocks);
    a->prob = g_new0(float, a->nblocks);
    a->streak = g_new0(uint8_t, a->nblocks);
    a->prefetch_ttl = g_new0(uint8_t, a->nblocks);
    a->fast_before = g_new0(uint8_t, a->nblocks);
    a->used = g_new0(uint8_t, a->nblocks);
    a->seen = g_new0(uint32_t, a->nblocks);
    a->armed = g_new0(uint8_t, a->nblocks);
    a->pool_page = g_new0(uint64_t, a->nblocks);
    a->scattered = g_new0(uint8_t, a->nblocks);
    a->fresh = g_new0(uint8_t, a->nblocks);
    a->advised = g_new0(uint8_t, a->nblocks);
    a->advised_slot = g_new0(uint64_t, a->nblocks);
    a->strikes = g_new0(uint8_t, a->nblocks);
    a->light = g_new0(uint8_t, a->nblocks);
    a->dropped_at = g_new0(uint32_t, a->nblocks);
    a->pm = g_new0(uint64_t, SCULPT_AUTO_SAMPLES);
    /* With access-sampling=on the userfaultfd sampler zaps pages itself. */
    a->pagemap_fd = s->access_sampling ? -1 :
                    open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (!s->access_sampling && a->pagemap_fd < 0) {
        warn_report("sculpt: auto: /proc/self/pagemap: %s; reads of blocks "
                    "in DRAM go unseen", strerror(errno));
    }
    a->order = g_new0(SculptAutoScored, a->nblocks);
    a->to_cold = g_array_new(false, false, sizeof(uint64_t));
    a->to_fast = g_array_new(false, false, sizeof(uint64_t));
    if (sculpt_hm_memcg_open(&a->memcg, err, sizeof(err))) {
        warn_report("sculpt: auto: %s; the budget ignores QEMU's memory "
                    "cgroup", err);
    }
    qemu_mutex_init(&a->lock);
    a->bh = qemu_bh_new(sculpt_auto_bh, s);
    s->autos = a;
}

/* After the sculpt thread stopped. */
void sculpt_auto_cleanup(SculptState *s)
{
    SculptAuto *a = s->autos;

    if (!a) {
        return;
    }
    qemu_bh_delete(a->bh);
    qemu_mutex_destroy(&a->lock);
    g_array_free(a->to_cold, true);
    g_array_free(a->to_fast, true);
    g_free(a->vec);
    g_free(a->res);
    g_free(a->res_after);
    g_free(a->tier);
    g_free(a->slot);
    g_free(a->prob);
    g_free(a->streak);
    g_free(a->prefetch_ttl);
    g_free(a->fast_before);
    g_free(a->used);
    g_free(a->seen);
    g_free(a->armed);
    g_free(a->pool_page);
    g_free(a->scattered);
    g_free(a->fresh);
    g_free(a->advised);
    g_free(a->advised_slot);
    g_free(a->strikes);
    g_free(a->light);
    g_free(a->dropped_at);
    g_free(a->pm);
    if (a->pagemap_fd >= 0) {
        close(a->pagemap_fd);
    }
    sculpt_hm_memcg_close(&a->memcg);
    g_free(a->order);
    g_free(a);
    s->autos = NULL;
}

/* Can auto mode run on this object?  Main loop. */
bool sculpt_auto_check(SculptState *s, Error **errp)
{
    const char *id = object_get_canonical_path_component(OBJECT(s));

    if (!qatomic_read(&s->fast_budget)) {
        error_setg(errp, "sculpt '%s': auto=on needs fast-budget=SIZE, the "
                   "DRAM its guest RAM may use", id);
        return false;
    }
    if (!s->have_pool[SCULPT_TIER_COLD] ||
        s->pools[SCULPT_TIER_COLD].kind != SCULPT_HM_COLD_FILE) {
        error_setg(errp, "sculpt '%s': auto=on needs cold-tier=file,"
                   "cold-dir=DIR (the numa and swap tiers are for explicit "
                   "sculpt-pool moves only)", id);
        return false;
    }
    return true;
}
