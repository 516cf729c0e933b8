/*
 * Standalone test of sculpt/hostmem.c: every byte of a 256 MiB "guest"
 * survives random moves between all tiers this host has, moves made
 * while another thread writes under userfaultfd write-protection,
 * injected syscall failures and a full cold-tier filesystem.
 *
 * Build and run: make -C sculpt/tests check   (see the Makefile)
 * Options:
 *   -s SEED      random seed (default: time)
 *   -n STEPS     random moves per block size (default 300)
 *   -c DIR       directory for the cold file (default /var/tmp)
 *   -t DIR       a tiny (8 MiB) tmpfs for the ENOSPC test (skip if none)
 *   -m DIR       an empty memory cgroup with a limit, to be run in by the
 *                memory cgroup test (skip if none)
 * Output: TAP ("ok N - ..."), then "N passed, N failed, N skipped".
 * It changes no host setting; run-tests.sh raises nr_hugepages, sets
 * shmem_enabled, adds swap, mounts the tmpfs, makes the cgroup, and
 * restores them.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#define _GNU_SOURCE
#include "hostmem.h"
#include "tap.h"
#include "uffd-wp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define GUEST_SIZE  (256ULL << 20)
#define MAX_POOLS   8
#define MPOL_BIND_  2

static char err[512];

static uint64_t bs, nblk;
static uint8_t *guest;
static int guest_fd;
static uint32_t *gen;           /* pattern generation of each block */
static SculptHmLoc *loc;        /* where each block lives */
static SculptHmPool home;
static SculptHmPool pools[MAX_POOLS];
static int npools;
static uint64_t rng_state;
static const char *cold_dir = "/var/tmp";
static const char *tiny_dir;
static const char *memcg_dir;
static SculptHmVmaAttrs attrs = {
    .dontdump = true, .dontfork = true, .hugepage = true,
};

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static inline uint64_t pat(uint64_t off, uint32_t g)
{
    return (off * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)g << 40) ^ 0x5a5a;
}

static void write_block(uint64_t b, uint32_t g)
{
    uint64_t *p = (uint64_t *)(guest + b * bs);
    uint64_t i, base = b * bs;

    gen[b] = g;
    for (i = 0; i < bs / 8; i++) {
        p[i] = pat(base + i * 8, g);
    }
}

/* Number of blocks whose bytes are wrong */
static uint64_t verify_all(void)
{
    uint64_t b, i, bad = 0;

    for (b = 0; b < nblk; b++) {
        const uint64_t *p = (const uint64_t *)(guest + b * bs);
        uint64_t base = b * bs;

        for (i = 0; i < bs / 8; i++) {
            if (p[i] != pat(base + i * 8, gen[b])) {
                if (bad < 3) {
                    printf("# block %" PRIu64 " (%s slot %" PRIu64 ") "
                           "word %" PRIu64 ": %016" PRIx64 " != %016"
                           PRIx64 "\n", b,
                           sculpt_hm_kind_name(loc[b].pool->kind),
                           loc[b].slot, i, p[i], pat(base + i * 8, gen[b]));
                }
                bad++;
                break;
            }
        }
    }
    return bad;
}

/* Used slots of every pool match the block map */
static bool books_balance(void)
{
    uint64_t cnt[MAX_POOLS + 1] = { 0 }, b;
    int i;

    for (b = 0; b < nblk; b++) {
        if (loc[b].pool == &home) {
            cnt[MAX_POOLS]++;
        }
        for (i = 0; i < npools; i++) {
            if (loc[b].pool == &pools[i]) {
                cnt[i]++;
            }
        }
    }
    if (home.nr_used != cnt[MAX_POOLS]) {
        printf("# home: %" PRIu64 " used, %" PRIu64 " blocks\n",
               home.nr_used, cnt[MAX_POOLS]);
        return false;
    }
    for (i = 0; i < npools; i++) {
        if (pools[i].nr_used != cnt[i]) {
            printf("# %s: %" PRIu64 " used, %" PRIu64 " blocks\n",
                   sculpt_hm_kind_name(pools[i].kind), pools[i].nr_used,
                   cnt[i]);
            return false;
        }
    }
    return true;
}

static int setup_guest(uint64_t block)
{
    uint8_t *r;
    uint64_t b;

    bs = block;
    nblk = GUEST_SIZE / bs;
    guest_fd = memfd_create("hm-test-guest", MFD_CLOEXEC);
    if (guest_fd < 0 || ftruncate(guest_fd, GUEST_SIZE)) {
        perror("guest memfd");
        return -1;
    }
    /* 2 MiB-aligned like QEMU's RAM (hugetlb pools need it) */
    r = mmap(NULL, GUEST_SIZE + (2 << 20), PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    guest = (uint8_t *)(((uintptr_t)r + (2 << 20) - 1) &
                        ~(uintptr_t)((2 << 20) - 1));
    if (mmap(guest, GUEST_SIZE, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_FIXED, guest_fd, 0) == MAP_FAILED) {
        perror("guest mmap");
        return -1;
    }
    madvise(guest, GUEST_SIZE, MADV_DONTDUMP);
    madvise(guest, GUEST_SIZE, MADV_DONTFORK);
    gen = calloc(nblk, sizeof(*gen));
    loc = calloc(nblk, sizeof(*loc));
    if (sculpt_hm_pool_wrap(&home, guest_fd, 0, nblk, bs, err,
                            sizeof(err))) {
        printf("# wrap: %s\n", err);
        return -1;
    }
    for (b = 0; b < nblk; b++) {
        loc[b].pool = &home;
        loc[b].slot = b;
        write_block(b, 1);
    }
    return 0;
}

static void teardown_guest(void)
{
    int i;

    for (i = 0; i < npools; i++) {
        sculpt_hm_pool_destroy(&pools[i]);
    }
    npools = 0;
    sculpt_hm_pool_destroy(&home);
    munmap(guest, GUEST_SIZE);
    close(guest_fd);
    free(gen);
    free(loc);
}

static SculptHmPool *add_pool(SculptHmKind kind, uint64_t slots,
                              int node, const char *dir)
{
    SculptHmPoolConfig cfg = {
        .kind = kind, .block_size = bs, .nr_slots = slots,
        .max_slots = nblk, .name = "hm-test-pool", .dir = dir,
        .numa_node = node,
    };
    SculptHmPool *p = &pools[npools];
    int ret = sculpt_hm_pool_create(p, &cfg, err, sizeof(err));

    if (ret) {
        printf("# %s pool (%" PRIu64 " KiB blocks) not created: %s\n",
               sculpt_hm_kind_name(kind), bs >> 10, err);
        return NULL;
    }
    printf("# %s\n", p->info);
    npools++;
    return p;
}

static uint64_t precopy_errors;   /* failed pre-copies (pool_write) */
static uint64_t move_fix_limit;   /* SculptHmMove.fix_limit for move() */

/*
 * Move guest blocks [b, b+n) to dst; returns the move's result code,
 * or 1 if dst had no free run (err says why).
 * Keeps loc[] exactly where the library says the blocks are.
 */
static int move(uint64_t b, uint64_t n, SculptHmPool *dst, unsigned flags,
                SculptHmMoveResult *res)
{
    SculptHmLoc src[64];
    SculptHmMove mv = {
        .host = guest + b * bs, .nblocks = n, .src = src, .dst = dst,
        .attrs = &attrs, .flags = flags, .fix_limit = move_fix_limit,
    };
    uint64_t i, slot, after = SCULPT_HM_NO_SLOT;
    int ret;

    memcpy(src, &loc[b], n * sizeof(*src));
    if (dst == &home) {
        ret = sculpt_hm_slot_claim(dst, b, n, err, sizeof(err));
        slot = b;
    } else {
        if (b > 0 && loc[b - 1].pool == dst) {
            after = loc[b - 1].slot;
        }
        ret = sculpt_hm_slot_alloc(dst, n, after, &slot, err, sizeof(err));
        if (ret == -ENOSPC && dst->nr_slots + 16 <= dst->max_slots) {
            ret = sculpt_hm_pool_grow(dst, 16, err, sizeof(err));
            if (ret == 0) {
                ret = sculpt_hm_slot_alloc(dst, n, after, &slot, err,
                                           sizeof(err));
            }
        }
    }
    if (ret) {
        return 1;       /* no slots: pool full (not a move failure) */
    }
    mv.dst_slot = slot;
    if (flags & SCULPT_HM_VERIFY_COPY) {
        /*
         * The mover's pre-copy: copy with the "guest" running, which then
         * rewrites one of the blocks before the move compares and fixes.
         */
        if (dst->kind == SCULPT_HM_COLD_FILE) {
            /* as the mover does it for the cold file */
            if (sculpt_hm_pool_write(dst, slot, guest + b * bs, n * bs,
                                     err, sizeof(err))) {
                printf("# pre-copy by pwrite: %s\n", err);
                precopy_errors++;
            }
        } else {
            sculpt_hm_copy(dst->window + slot * bs, guest + b * bs, n * bs,
                           false);
        }
        write_block(b + rnd() % n, gen[b] + 7);
    }
    ret = sculpt_hm_move_run(&mv, res, err, sizeof(err));
    if (res->where == SCULPT_HM_AT_DST) {
        for (i = 0; i < n; i++) {
            loc[b + i].pool = dst;
            loc[b + i].slot = slot + i;
        }
        if (!res->released) {
            sculpt_hm_release_sources(src, n, NULL, 0);
        }
    } else {
        sculpt_hm_slot_release(dst, slot, n, true, NULL, 0);
    }
    return ret;
}

static SculptHmPool *pick_pool(void)
{
    uint64_t i = rnd() % (npools + 1);

    return i == (uint64_t)npools ? &home : &pools[i];
}

static void random_moves(int steps)
{
    uint64_t moved = 0, bad = 0, released = 0, prefetched = 0;
    uint64_t fails = 0, rewrites = 0, verified = 0, transferred = 0;
    int s;
    bool books = true;

    for (s = 0; s < steps; s++) {
        SculptHmPool *dst = pick_pool();
        uint64_t b = rnd() % nblk, n = 1 + rnd() % 8, i;
        unsigned flags = 0;
        SculptHmMoveResult res;
        int ret;

        if (bs < (2 << 20) && rnd() % 4 == 0) {
            n = (2 << 20) / bs + rnd() % 8;     /* long enough to transfer */
        }

        if (b + n > nblk) {
            n = nblk - b;
        }
        if (dst == &home) {
            /* only the blocks not at home yet */
            while (n && loc[b].pool == &home) {
                b++;
                n--;
            }
            for (i = 0; i < n && loc[b + i].pool != &home; i++) {
                /* count */
            }
            n = i;
            if (!n) {
                continue;
            }
        }
        flags |= rnd() % 2 ? SCULPT_HM_NT_COPY : 0;
        flags |= rnd() % 3 == 0 ? SCULPT_HM_POPULATE : 0;
        flags |= rnd() % 4 == 0 ? SCULPT_HM_DEFER_RELEASE : 0;
        flags |= rnd() % 2 ? SCULPT_HM_TRANSFER : 0;
        if (dst->kind != SCULPT_HM_HUGETLB && rnd() % 3 == 0) {
            flags |= SCULPT_HM_VERIFY_COPY;
            verified++;
        }
        ret = move(b, n, dst, flags, &res);
        if (ret == 1) {
            continue;
        }
        if (ret) {
            printf("# step %d: move of %" PRIu64 "+%" PRIu64 " to %s "
                   "failed: %s\n", s, b, n, sculpt_hm_kind_name(dst->kind),
                   err);
            fails++;
        } else {
            moved += n;
            transferred += res.transferred;
            if ((dst->kind == SCULPT_HM_COLD_FILE ||
                 dst->kind == SCULPT_HM_SWAP) && rnd() % 2) {
                ret = sculpt_hm_cold_release(dst, guest + b * bs,
                                             loc[b].slot, n, NULL, err,
                                             sizeof(err));
                if (ret && dst->kind != SCULPT_HM_SWAP) {
                    printf("# cold release: %s\n", err);
                    fails++;
                }
                released++;
            }
        }
        /* the guest writes somewhere, sometimes into what just moved */
        if (rnd() % 3 == 0) {
            uint64_t w = rnd() % 2 ? b : rnd() % nblk;

            write_block(w, gen[w] + 1);
            rewrites++;
        }
        if (rnd() % 10 == 0) {
            uint64_t p = rnd() % nblk;

            if (sculpt_hm_prefetch(guest + p * bs, bs, rnd() % 2, err,
                                   sizeof(err))) {
                printf("# prefetch: %s\n", err);
                fails++;
            }
            prefetched++;
        }
        i = verify_all();
        if (i) {
            printf("# step %d (%" PRIu64 "+%" PRIu64 " -> %s): %" PRIu64
                   " blocks wrong\n", s, b, n,
                   sculpt_hm_kind_name(dst->kind), i);
            bad += i;
            break;
        }
        if (books && !books_balance()) {
            printf("# step %d: slot books out of balance\n", s);
            books = false;
        }
    }
    ok(bad == 0 && fails == 0 && precopy_errors == 0 &&
       (steps < 50 || transferred > 0),
       "%d random steps, %" PRIu64 " KiB blocks: "
       "%" PRIu64 " blocks moved, %" PRIu64 " cold releases, %" PRIu64
       " prefetches, %" PRIu64 " guest rewrites, %" PRIu64 " pre-copied "
       "moves (a block rewritten before the compare-and-fix), %" PRIu64
       " runs moved by handing page tables over, every byte "
       "verified after every step (%" PRIu64 " bad blocks, %" PRIu64
       " failures, %" PRIu64 " failed pre-copies)", steps, bs >> 10, moved,
       released, prefetched, rewrites, verified, transferred, bad, fails,
       precopy_errors);
    ok(books, "slot books balance (pool used slots == blocks placed)");
}

static void everything_home(void)
{
    uint64_t b, n;
    SculptHmMoveResult res;

    for (b = 0; b < nblk; b += n ? n : 1) {
        for (n = 0; b + n < nblk && n < 64 && loc[b + n].pool != &home;
             n++) {
            /* run of away blocks */
        }
        if (n && move(b, n, &home, 0, &res)) {
            printf("# home: %s\n", err);
        }
    }
}

/*
 * A "vCPU" that rewrites block wp_block with generation wp_gen, page by
 * page from its start, while the main thread moves it under write-
 * protection: its first store must wait until the move is done, and
 * every store must end up where the guest range maps afterwards.
 */
static uint64_t wp_block;
static uint32_t wp_gen;

static void *wp_writer(void *arg)
{
    uint64_t *p = (uint64_t *)(guest + wp_block * bs);
    uint64_t base = wp_block * bs;

    for (uint64_t i = 0; i < bs / 8; i++) {
        p[i] = pat(base + i * 8, wp_gen);
    }
    return NULL;
}

/* Wait (up to 10 s) until a write is waiting on @uffd; how many were */
static uint64_t wp_wait_for_writer(int uffd)
{
    struct pollfd pfd = { .fd = uffd, .events = POLLIN };

    if (poll(&pfd, 1, 10000) != 1) {
        return 0;
    }
    return sculpt_uffd_wp_waiting(uffd);
}

/*
 * The move protocol without a pause: protect a run, let a writer thread
 * block on it, move the run to @dst (or not, @move false: write-
 * protection ended in place), wake the writer, verify every byte.  With
 * @hole the run's first block is punched to a hole first: a first write
 * to a page that is not there must wait too.
 */
static void wp_case(int uffd, SculptHmPool *dst, bool do_move, bool hole)
{
    const char *what = do_move ? sculpt_hm_kind_name(dst->kind) : "nowhere";
    SculptHmMoveResult res = { 0 };
    uint64_t b, n = 2, waiting;
    pthread_t th;
    int r;

    for (b = nblk / 2; b + n <= nblk; b++) {
        if (loc[b].pool == &home && loc[b + 1].pool == &home) {
            break;
        }
    }
    if (b + n > nblk) {
        ok(false, "write-protected move: no two blocks at home");
        return;
    }
    if (hole) {
        if (fallocate(guest_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      b * bs, bs)) {
            ok(false, "punch: %s", strerror(errno));
            return;
        }
        gen[b] = 0;     /* not checked: the writer rewrites it whole */
    }
    r = sculpt_uffd_wp_register(uffd, guest + b * bs, n * bs, err,
                                sizeof(err));
    if (!r) {
        r = sculpt_uffd_wp_protect(uffd, guest + b * bs, n * bs, err,
                                   sizeof(err));
    }
    if (r) {
        ok(false, "write-protect blocks %" PRIu64 "-%" PRIu64 ": %s", b,
           b + n - 1, err);
        return;
    }
    wp_block = b;
    wp_gen = gen[b + 1] + 11;
    pthread_create(&th, NULL, wp_writer, NULL);
    waiting = wp_wait_for_writer(uffd);
    ok(waiting >= 1, "%s: the writer waits on the protected %s (%" PRIu64
       " fault)", what, hole ? "hole" : "block", waiting);
    r = 0;
    if (do_move) {
        /*
         * The writer is blocked: a plain copy, the sources cannot change;
         * as QEMU moves them, the destination's page tables handed over
         * (2 MiB blocks) but the sources replaced in one step.
         */
        r = move(b, n, dst, SCULPT_HM_NT_COPY | SCULPT_HM_TRANSFER |
                 SCULPT_HM_SRC_STAY, &res);
    }
    ok(sculpt_uffd_wp_end(uffd, guest + b * bs, n * bs,
                          res.where == SCULPT_HM_AT_DST && do_move, err,
                          sizeof(err)) == 0, "%s: write-protection ended%s%s",
       what, r ? ": " : "", r ? err : "");
    pthread_join(th, NULL);
    gen[b] = wp_gen;
    ok(r == 0 && verify_all() == 0 && books_balance() &&
       (!do_move || loc[b].pool == dst),
       "%s: the write that waited landed %s, every byte intact", what,
       do_move ? "in the destination" : "in place");
    if (do_move && dst->kind == SCULPT_HM_MEMFD && n * bs >= (2 << 20)) {
        ok(res.transferred, "%s: the destination's page tables were handed "
           "over, the sources replaced in one step", what);
    }
}

static void wp_test(SculptHmPool *mem, SculptHmPool *cold)
{
    int uffd = sculpt_uffd_wp_open(err, sizeof(err));

    if (uffd < 0) {
        skip("moves under write-protection: %s", err);
        return;
    }
    wp_case(uffd, mem, true, false);
    wp_case(uffd, mem, true, true);
    if (cold) {
        wp_case(uffd, cold, true, false);
        wp_case(uffd, cold, true, true);
    }
    wp_case(uffd, mem, false, false);
    everything_home();
    ok(verify_all() == 0 && books_balance(), "after the write-protected "
       "moves, everything home and intact");
    close(uffd);
}

static void fault_injection(SculptHmPool *pa, SculptHmPool *pb)
{
    SculptHmMoveResult res;
    uint64_t before, b;
    int ret;

    everything_home();
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MMAP, 1, ENOMEM);
    ret = move(8, 4, pa, 0, &res);
    ok(ret == -ENOMEM && res.where == SCULPT_HM_AT_SRC &&
       loc[8].pool == &home && verify_all() == 0,
       "injected mmap ENOMEM: run stays home, data intact (\"%s\")", err);

    /* a batch of 4 runs, the 3rd run's mmap fails */
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MMAP, 3, EAGAIN);
    for (b = 16, ret = 0; b < 32 && !ret; b += 4) {
        ret = move(b, 4, pb, 0, &res);
    }
    ok(ret == -EAGAIN && loc[16].pool == pb && loc[20].pool == pb &&
       loc[24].pool == &home && loc[28].pool == &home &&
       verify_all() == 0 && books_balance(),
       "mmap failing mid-batch: 2 runs moved, 3rd and 4th home, intact");

    /* attribute re-application fails after the remap: mapped back */
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MADVISE, 1, EINVAL);
    ret = move(40, 4, pa, 0, &res);
    ok(ret == -EINVAL && res.where == SCULPT_HM_AT_SRC &&
       loc[40].pool == &home && verify_all() == 0 && books_balance(),
       "madvise failing after remap: old backing mapped back, intact "
       "(\"%s\")", err);
    write_block(41, gen[41] + 1);
    ok(verify_all() == 0, "guest write after the failed move lands");

    /* attrs fail AND the restore mmap fails: stays at dst, complete */
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MADVISE, 1, EINVAL);
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MMAP, 2, ENOMEM);
    ret = move(48, 4, pa, 0, &res);
    ok(ret == -EINVAL && res.where == SCULPT_HM_AT_DST &&
       loc[48].pool == pa && verify_all() == 0 && books_balance(),
       "attrs and restore both failing: run complete at dst (\"%s\")", err);

    /* punching the old backing fails: the move holds, slot recycled */
    before = home.nr_used;
    sculpt_hm_inject_fail(SCULPT_HM_SYS_FALLOCATE, 1, EIO);
    ret = move(56, 2, pa, 0, &res);
    ok(ret == 0 && res.release_err == -EIO && loc[56].pool == pa &&
       home.nr_used == before - 2 && verify_all() == 0,
       "punch failing: move done, source recycled, intact (\"%s\")", err);

    /* growth of the cold pool fails on fallocate */
    if (pb->kind == SCULPT_HM_COLD_FILE) {
        uint64_t slots = pb->nr_slots;

        sculpt_hm_inject_fail(SCULPT_HM_SYS_FALLOCATE, 1, ENOSPC);
        ret = sculpt_hm_pool_grow(pb, 4, err, sizeof(err));
        ok(ret == -ENOSPC && pb->nr_slots == slots && verify_all() == 0,
           "cold pool growth with fallocate ENOSPC fails cleanly (\"%s\")",
           err);
    }
    for (b = 0; b < SCULPT_HM_SYS__MAX; b++) {
        sculpt_hm_inject_fail(b, 0, 0);
    }
    everything_home();
    ok(verify_all() == 0 && books_balance() && home.nr_used == nblk,
       "all blocks back home after the fault tests, intact");
}

static void merge_test(SculptHmPool *p)
{
    SculptHmMoveResult res;
    long v0, v1;

    everything_home();
    v0 = sculpt_hm_count_vmas(guest, GUEST_SIZE);
    move(64, 4, p, 0, &res);
    move(68, 4, p, 0, &res);
    move(72, 8, p, 0, &res);
    v1 = sculpt_hm_count_vmas(guest + 64 * bs, 16 * bs);
    ok(v1 == 1 && loc[68].slot == loc[67].slot + 1,
       "3 neighbouring runs into neighbouring slots share one mapping "
       "(%ld VMA in the range; %ld in the whole guest before, %ld after)",
       v1, v0, sculpt_hm_count_vmas(guest, GUEST_SIZE));
    everything_home();
}

/* Pages of [p, p+len) with a page-table entry (/proc/self/pagemap) */
static int64_t present_pages(const void *p, uint64_t len)
{
    long ps = sysconf(_SC_PAGESIZE);
    uint64_t first = (uintptr_t)p / ps, n = len / ps, i, e;
    int64_t present = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);

    if (fd < 0) {
        return -errno;
    }
    for (i = 0; i < n; i++) {
        if (pread(fd, &e, sizeof(e), (first + i) * sizeof(e)) != sizeof(e)) {
            close(fd);
            return -EIO;
        }
        present += e >> 63;
    }
    close(fd);
    return present;
}

/* The VmFlags line of the VMA holding @addr (/proc/self/smaps), or "" */
static void vm_flags(const void *addr, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false;

    out[0] = 0;
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;

        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            in = lo <= (uintptr_t)addr && (uintptr_t)addr < hi;
        } else if (in && !strncmp(line, "VmFlags:", 8)) {
            snprintf(out, len, "%s", line + 8);
            break;
        }
    }
    if (f) {
        fclose(f);
    }
}

/*
 * SCULPT_HM_TRANSFER: the guest takes the page tables the copy built,
 * the window keeps none, the old ones leave the guest range; every way
 * the mremaps can fail falls back or restores, losing nothing.
 */
static void transfer_test(SculptHmPool *p)
{
    /* runs of 2 MiB at least: shorter ones are mapped afresh */
    uint64_t n = bs >= (2 << 20) ? 8 : (2 << 20) / bs;
    uint64_t b0 = 96, b1 = b0 + n, b2 = b1 + n;
    uint64_t pages = n * bs / sysconf(_SC_PAGESIZE);
    SculptHmMoveResult res;
    char flags[256];
    int64_t g, w;
    long v;
    int ret;

    everything_home();
    ret = move(b0, n, p, SCULPT_HM_TRANSFER, &res);
    g = present_pages(guest + b0 * bs, n * bs);
    w = present_pages(p->window + loc[b0].slot * bs, n * bs);
    ok(ret == 0 && res.transferred && res.mmaps == 0 &&
       res.mremaps == 2 && loc[b0].pool == p && verify_all() == 0,
       "transfer home -> %s: 2 mremaps, no mmap, intact",
       sculpt_hm_kind_name(p->kind));
    ok(g == (int64_t)pages && w == 0,
       "the guest maps all %" PRIu64 " pages without a fault (%" PRId64
       " present), the window none (%" PRId64 ")", pages, g, w);
    vm_flags(guest + b0 * bs, flags, sizeof(flags));
    ok(strstr(flags, " dd") && strstr(flags, " dc") && strstr(flags, " hg"),
       "the range handed over has the guest's settings (VmFlags:%s)",
       strtok(flags, "\n"));
    move(b1, n, p, SCULPT_HM_TRANSFER, &res);
    v = sculpt_hm_count_vmas(guest + b0 * bs, 2 * n * bs);
    ok(res.transferred && loc[b1].slot == loc[b1 - 1].slot + 1 && v == 1,
       "two transferred neighbouring runs share one mapping (%ld VMA)", v);

    ret = move(b0, n, &home, SCULPT_HM_TRANSFER, &res);
    g = present_pages(guest + b0 * bs, n * bs);
    ok(ret == 0 && res.transferred && loc[b0].pool == &home &&
       verify_all() == 0 && g == (int64_t)pages,
       "transfer back home: intact, %" PRId64 " of %" PRIu64 " pages "
       "present", g, pages);

    /* a locked source (SRC_LOCKED) is not moved out: only the window's
     * mremap, and the old mapping (and its lock) goes with the remap */
    ret = move(b1, n, &home, SCULPT_HM_TRANSFER | SCULPT_HM_SRC_LOCKED, &res);
    ok(ret == 0 && res.transferred && res.mremaps == 1 &&
       loc[b1].pool == &home && verify_all() == 0,
       "a locked source stays put, the destination is still handed over");
    move(b1, n, p, SCULPT_HM_TRANSFER, &res);

    /* the source's mremap fails: it is unmapped the usual way (a NUMA
     * source is never moved out to its window: nothing to fail) */
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MREMAP,
                          p->kind == SCULPT_HM_NUMA ? 0 : 1, ENOMEM);
    ret = move(b1, n, &home, SCULPT_HM_TRANSFER, &res);
    ok(ret == 0 && res.transferred && res.mremaps == 1 &&
       loc[b1].pool == &home && verify_all() == 0,
       "mremap of the source failing: transferred all the same, intact");

    /* the window's mremap fails: mapped afresh */
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MREMAP, 2, ENOMEM);
    ret = move(b0, n, p, SCULPT_HM_TRANSFER, &res);
    ok(ret == 0 && !res.transferred && res.mmaps == 1 &&
       loc[b0].pool == p && verify_all() == 0 && books_balance(),
       "mremap of the window failing: mmap(MAP_FIXED) instead, intact");

    /* ... and that mmap fails too, after the source left: restored */
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MREMAP, 2, ENOMEM);
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MMAP, 1, ENOMEM);
    ret = move(b2, n, p, SCULPT_HM_TRANSFER, &res);
    ok(ret == -ENOMEM && res.where == SCULPT_HM_AT_SRC &&
       loc[b2].pool == &home && verify_all() == 0 && books_balance(),
       "mremap and mmap failing with the range half moved out: the "
       "sources mapped back, intact (\"%s\")", err);
    write_block(b2 + 1, gen[b2 + 1] + 1);
    ok(verify_all() == 0, "guest write after the failed transfer lands");
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MREMAP, 0, 0);
    sculpt_hm_inject_fail(SCULPT_HM_SYS_MMAP, 0, 0);
    if (bs < (1 << 20)) {
        everything_home();
        ret = move(b0, 2, p, SCULPT_HM_TRANSFER, &res);
        ok(ret == 0 && !res.transferred && res.mremaps == 0 &&
           res.mmaps == 1 && verify_all() == 0,
           "a run under 2 MiB is mapped afresh, intact");
    }
    everything_home();
}

static void dram_test(SculptHmPool *cold)
{
    SculptHmPool *all[] = { &home, cold };
    SculptHmDram d0, d1, d2;
    SculptHmMoveResult res;
    uint64_t b, n = (64ULL << 20) / bs, cached = 0;
    int ret = 0;

    everything_home();
    sculpt_hm_dram(all, 2, &d0, err, sizeof(err));
    for (b = 0; b < n && !ret; b += 8) {
        ret = move(b, 8, cold, 0, &res);
    }
    sculpt_hm_dram(all, 2, &d1, err, sizeof(err));
    for (b = 0; b < n && !ret; b += 8) {
        ret = sculpt_hm_cold_release(cold, guest + b * bs, loc[b].slot, 8,
                                     &cached, err, sizeof(err));
    }
    sculpt_hm_dram(all, 2, &d2, err, sizeof(err));
    if (getenv("HM_DEBUG")) {
        uint64_t sl;
        for (sl = 0; sl < cold->nr_slots; sl++) {
            int64_t c = sculpt_hm_cached_pages(cold->fd,
                                               sl * bs, bs, NULL);
            if (c) {
                printf("# slot %" PRIu64 " used %d cached %" PRId64 "\n",
                       sl, (int)((cold->used[sl / 64] >> (sl % 64)) & 1), c);
            }
        }
    }
    printf("# DRAM MiB before %llu (shmem %llu anon %llu), after the move "
           "%llu (cold cache %llu), after release %llu (cold cache %llu, "
           "%s)\n", (unsigned long long)d0.total >> 20,
           (unsigned long long)d0.shmem >> 20,
           (unsigned long long)d0.anon >> 20,
           (unsigned long long)d1.total >> 20,
           (unsigned long long)d1.file_cache >> 20,
           (unsigned long long)d2.total >> 20,
           (unsigned long long)d2.file_cache >> 20,
           d2.used_cachestat ? "cachestat" : "mincore");
    ok(ret == 0 && d0.total > d2.total + (60ULL << 20) &&
       d2.file_cache < (4ULL << 20) && verify_all() == 0,
       "64 MiB to the cold file: DRAM drops by %lld MiB, data intact",
       ((long long)d0.total - (long long)d2.total) >> 20);
    {
        SculptHmDram dp;
        int r = sculpt_hm_dram_pools(all, 2, &dp, err, sizeof(err));

        /* the guest RAM alone: the same pools, without QEMU's anon */
        ok(r == 0 && dp.anon == 0 && dp.shmem == d2.shmem &&
           dp.total == dp.shmem + dp.hugetlb + dp.file_cache &&
           d2.anon > 0,
           "DRAM of the pools alone: %llu MiB, without QEMU's anon",
           (unsigned long long)dp.total >> 20);
    }
    {
        SculptHmDram dp;
        uint64_t bound = 0;
        int r = sculpt_hm_dram_bound(all, 2, &bound, err, sizeof(err));
        int r2 = sculpt_hm_dram_pools(all, 2, &dp, err, sizeof(err));

        /*
         * At least the DRAM in use; without swap in the way, the memfd's
         * allocated pages are its resident ones, so exactly it.
         */
        ok(r == 0 && r2 == 0 && bound >= dp.total &&
           bound == dp.shmem_alloc + dp.hugetlb + dp.file_cache,
           "DRAM bound of the pools: %llu MiB >= %llu MiB in use",
           (unsigned long long)bound >> 20,
           (unsigned long long)dp.total >> 20);
    }
    everything_home();
}

/* Whether the block at @blk reads as zeros */
static bool block_zero(const uint8_t *blk)
{
    const uint64_t *p = (const uint64_t *)blk;
    uint64_t i;

    for (i = 0; i < bs / 8; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/*
 * Blocks that hold no data move to the cold file as zeroed slots
 * (sculpt_hm_pool_zero + SCULPT_HM_DST_ZERO): a hole is neither read nor
 * copied, and a source the "guest" wrote after the zeroing is copied
 * inside the move all the same.
 */
static void empty_test(SculptHmPool *cold)
{
    SculptHmLoc src[2];
    SculptHmMove mv = {
        .host = guest, .nblocks = 2, .src = src, .dst = cold,
        .attrs = &attrs,
        .flags = SCULPT_HM_VERIFY_COPY | SCULPT_HM_DST_ZERO |
                 SCULPT_HM_DEFER_RELEASE,
    };
    SculptHmMoveResult res;
    uint64_t off, slot;
    int r, e0;

    everything_home();
    off = sculpt_hm_slot_offset(&home, loc[0].slot);
    ok(sculpt_hm_range_empty(home.fd, off, 2 * bs) == 0,
       "range_empty: a written block holds data");
    r = fallocate(home.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
                  2 * bs);
    ok(r == 0 && sculpt_hm_range_empty(home.fd, off, 2 * bs) == 1,
       "range_empty: punched blocks hold none");
    guest[bs + 5] = 1;
    ok(sculpt_hm_range_empty(home.fd, off, bs) == 1 &&
       sculpt_hm_range_empty(home.fd, off + bs, bs) == 0,
       "range_empty: one byte written makes that block hold data");
    r = fallocate(home.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  off + bs, bs);

    r = r ? r : sculpt_hm_slot_alloc(cold, 2, SCULPT_HM_NO_SLOT, &slot, err,
                                     sizeof(err));
    if (r) {
        ok(false, "cold slots for the empty-block move: %s", err);
        return;
    }
    /* the slots held a block's data before: the zeroing must clear it */
    sculpt_hm_pool_write(cold, slot, guest + 2 * bs, 2 * bs, err, sizeof(err));
    r = sculpt_hm_pool_zero(cold, slot, 2, err, sizeof(err));
    /* (read through the pool's window: reading the guest's holes would
     * allocate pages there) */
    ok(r == 0 && block_zero(cold->window + slot * bs) &&
       block_zero(cold->window + (slot + 1) * bs),
       "pool_zero: cold slots that held data read as zeros (%s)",
       r ? err : "ok");
    /* the guest writes block 1 after the zeroing, before the pause */
    write_block(1, gen[1] + 11);
    memcpy(src, loc, sizeof(src));
    mv.dst_slot = slot;
    r = sculpt_hm_move_run(&mv, &res, err, sizeof(err));
    e0 = sculpt_hm_range_empty(home.fd, off, bs);
    if (res.where == SCULPT_HM_AT_DST) {
        loc[0] = (SculptHmLoc) { cold, slot };
        loc[1] = (SculptHmLoc) { cold, slot + 1 };
        sculpt_hm_release_sources(src, 2, NULL, 0);
    } else {
        sculpt_hm_slot_release(cold, slot, 2, true, NULL, 0);
    }
    ok(r == 0 && res.blocks_empty == 1 && e0 == 1 && block_zero(guest),
       "DST_ZERO move: the empty block moved unread (its source still "
       "a hole) and reads zeros");
    write_block(0, gen[0] + 11);
    ok(verify_all() == 0 && books_balance(),
       "DST_ZERO move: the block written after the zeroing arrived whole; "
       "both hold new writes; all verified");
    everything_home();
}

/* THP on for MADV_HUGEPAGE mappings ("always" or "madvise") */
static bool thp_madvise_ok(void)
{
    char buf[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

    if (f) {
        if (!fgets(buf, sizeof(buf), f)) {
            buf[0] = 0;
        }
        fclose(f);
    }
    return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

/* Pages of block @b's cold slot in the page cache */
static int64_t slot_cached(SculptHmPool *cold, uint64_t b)
{
    return sculpt_hm_cached_pages(cold->fd,
                                  sculpt_hm_slot_offset(cold, loc[b].slot),
                                  bs, NULL);
}

/*
 * sculpt_hm_cold_advise: a guest read of one byte of a block advised
 * scattered reads that page alone from the cold file; advised dense again,
 * the mapping is as QEMU's (huge folios, where THP allows).  Data intact.
 */
/*
 * A pre-copy the "guest" rewrote more of than fix_limit allows is not
 * fixed inside the pause: -EAGAIN, nothing remapped, every byte intact;
 * within the limit it is fixed as before.  move() rewrites one whole
 * block of the run between its pre-copy and the move, block b or b+1 with
 * gen[b] + 7: block 5 is given another generation first, so that either
 * rewrite changes the block.
 */
static void stale_test(SculptHmPool *cold)
{
    SculptHmMoveResult res;
    int r;

    everything_home();
    move_fix_limit = bs / 2;            /* a quarter of a 2-block run */
    write_block(5, gen[4] + 100);
    r = move(4, 2, cold, SCULPT_HM_VERIFY_COPY, &res);
    ok(r == -EAGAIN && res.where == SCULPT_HM_AT_SRC &&
       loc[4].pool == &home && loc[5].pool == &home &&
       res.bytes_fixed > bs / 2 && verify_all() == 0,
       "pre-copy rewritten past fix_limit (%" PRIu64 " KiB): -EAGAIN, "
       "the run stays home, every byte intact (\"%s\")",
       res.bytes_fixed >> 10, err);
    move_fix_limit = 2 * bs;
    write_block(5, gen[4] + 100);
    r = move(4, 2, cold, SCULPT_HM_VERIFY_COPY, &res);
    ok(r == 0 && loc[4].pool == cold && loc[5].pool == cold &&
       res.bytes_fixed == bs && verify_all() == 0,
       "pre-copy rewritten within fix_limit: fixed in the move (%" PRIu64
       " KiB), every byte verified", res.bytes_fixed >> 10);
    move_fix_limit = 0;
    everything_home();
}

static void advise_test(SculptHmPool *cold)
{
    SculptHmMoveResult res;
    int64_t scattered, dense;
    volatile uint8_t sink;
    uint64_t cached = 0;
    int r;

    everything_home();
    r = move(0, 2, cold, 0, &res);
    r = r ? r : sculpt_hm_cold_release(cold, guest, loc[0].slot, 2, &cached,
                                       err, sizeof(err));
    if (r || slot_cached(cold, 0) != 0 || slot_cached(cold, 1) != 0) {
        ok(false, "two blocks to the cold file and out of DRAM: %s (%" PRIu64
           " pages still cached)", r ? err : "-", cached);
        everything_home();
        return;
    }
    r = sculpt_hm_cold_advise(guest, bs, true, &attrs, err, sizeof(err));
    sink = guest[bs / 2 + 123];
    scattered = slot_cached(cold, 0);
    ok(r == 0 && scattered == 1,
       "advised scattered, a one-byte read reads %" PRId64 " page(s) of the "
       "block (want 1) %s", scattered, r ? err : "");
    r = sculpt_hm_cold_advise(guest, bs, false, &attrs, err, sizeof(err));
    r = r ? r : sculpt_hm_cold_drop(cold, guest, loc[0].slot, 1,
                                    err, sizeof(err));
    sink = guest[bs / 2 + 123];
    dense = slot_cached(cold, 0);
    (void)sink;
    printf("# one-byte read of a dense-advised cold block read %" PRId64
           " pages\n", dense);
    ok(r == 0 && dense >= 1 && verify_all() == 0,
       "advised dense again; every block intact %s", r ? err : "");
    if (bs >= (2 << 20) && thp_madvise_ok()) {
        ok(dense > scattered, "dense advice reads more than the page: %"
           PRId64 " pages (huge folios)", dense);
    }
    everything_home();
    ok(verify_all() == 0, "home again, intact");
}

static void swap_test(SculptHmPool *sw)
{
    SculptHmPool *all[] = { &home, sw };
    SculptHmDram d0, d2;
    SculptHmMoveResult res;
    uint64_t b, n = (32ULL << 20) / bs, cached, left = 0;
    int ret = 0;

    everything_home();
    sculpt_hm_dram(all, 2, &d0, err, sizeof(err));
    for (b = 0; b < n && !ret; b += 8) {
        ret = move(b, 8, sw, 0, &res);
        if (!ret) {
            ret = sculpt_hm_cold_release(sw, guest + b * bs, loc[b].slot, 8,
                                         &cached, err, sizeof(err));
            left += cached;
        }
    }
    sculpt_hm_dram(all, 2, &d2, err, sizeof(err));
    {
        /* a block wholly out in swap still holds data: never "empty" */
        int e = -1;

        for (b = 0; b < n && e < 0; b++) {
            uint64_t off = sculpt_hm_slot_offset(sw, loc[b].slot);

            if (sculpt_hm_cached_pages(sw->fd, off, bs, NULL) == 0) {
                e = sculpt_hm_range_empty(sw->fd, off, bs);
            }
        }
        ok(ret == 0 && e == 0, "range_empty: a block paged out to swap, "
           "none of it in memory, holds data (%s)",
           e < 0 ? "no such block found" : "checked");
    }
    printf("# swap tier: DRAM MiB %llu -> %llu (shmem by st_blocks %llu -> "
           "%llu), %llu KiB left resident\n",
           (unsigned long long)d0.total >> 20,
           (unsigned long long)d2.total >> 20,
           (unsigned long long)d0.shmem_alloc >> 20,
           (unsigned long long)d2.shmem_alloc >> 20,
           (unsigned long long)left * 4);
    ok(ret == 0 && d0.total > d2.total + (28ULL << 20) &&
       verify_all() == 0, "32 MiB paged out to swap: DRAM drops by %lld "
       "MiB, data intact after swap-in%s%s",
       ((long long)d0.total - (long long)d2.total) >> 20,
       ret ? ": " : "", ret ? err : "");
    everything_home();
}

static void refusal_tests(void)
{
    SculptHmPoolConfig cfg = {
        .kind = SCULPT_HM_HUGETLB, .block_size = 64 << 10, .nr_slots = 4,
    };
    SculptHmPool p;
    SculptHmVmaAttrs locked = { .locked = true };
    int ret;

    ret = sculpt_hm_pool_create(&p, &cfg, err, sizeof(err));
    ok(ret == -EINVAL && strstr(err, "huge page size"),
       "hugetlb pool with 64 KiB blocks refused: \"%s\"", err);
    cfg.kind = SCULPT_HM_NUMA;
    cfg.block_size = 2 << 20;
    cfg.numa_node = 1;
    ret = sculpt_hm_pool_create(&p, &cfg, err, sizeof(err));
    if (ret) {
        ok(strstr(err, "mbind") != NULL,
           "NUMA pool on node 1 refused: \"%s\"", err);
    } else {
        skip("node 1 exists here: NUMA refusal not testable");
        sculpt_hm_pool_destroy(&p);
    }
    cfg.kind = SCULPT_HM_MEMFD;
    cfg.block_size = 96 << 10;
    ret = sculpt_hm_pool_create(&p, &cfg, err, sizeof(err));
    ok(ret == -EINVAL, "96 KiB block size refused: \"%s\"", err);
    cfg.kind = SCULPT_HM_COLD_FILE;
    cfg.block_size = 2 << 20;
    cfg.dir = "/proc";
    ret = sculpt_hm_pool_create(&p, &cfg, err, sizeof(err));
    ok(ret < 0, "cold file in /proc refused: \"%s\"", err);

    /* mem-lock=on guest RAM cannot go cold */
    cfg.dir = cold_dir;
    cfg.nr_slots = 2;
    ret = sculpt_hm_pool_create(&p, &cfg, err, sizeof(err));
    if (ret == 0) {
        SculptHmLoc src[1] = { { &home, 0 } };
        SculptHmMove mv = {
            .host = guest, .nblocks = 1, .src = src, .dst = &p,
            .attrs = &locked,
        };
        SculptHmMoveResult res;
        uint64_t slot;

        sculpt_hm_slot_alloc(&p, 1, SCULPT_HM_NO_SLOT, &slot, NULL, 0);
        mv.dst_slot = slot;
        ret = sculpt_hm_move_run(&mv, &res, err, sizeof(err));
        ok(ret == -EPERM && res.where == SCULPT_HM_AT_SRC &&
           verify_all() == 0, "locked RAM to a cold file refused: \"%s\"",
           err);
        sculpt_hm_pool_destroy(&p);
    }
}

static void attrs_test(void)
{
    SculptHmVmaAttrs all = {
        .mergeable = true, .dontdump = true, .hugepage = true,
        .dontfork = true, .locked = true, .mbind = true,
        .mpol_mode = MPOL_BIND_, .nodemask = 1,
    };
    int i;

    for (i = 0; i < npools; i++) {
        SculptHmPool *p = &pools[i];
        SculptHmVmaAttrs a = all;
        SculptHmMoveResult res;
        SculptHmVmaAttrs keep = attrs;
        int ret;

        if (p->kind == SCULPT_HM_COLD_FILE || p->kind == SCULPT_HM_SWAP) {
            a.locked = false;
        }
        attrs = a;
        ret = move(100, 2, p, SCULPT_HM_POPULATE, &res);
        attrs = keep;
        ok(ret == 0 && verify_all() == 0, "every VMA attribute re-applied "
           "on a %s pool mapping%s%s", sculpt_hm_kind_name(p->kind),
           ret ? ": " : "", ret ? err : "");
        munlock(guest + 100 * bs, 2 * bs);
        everything_home();
    }
}

static void tiny_tmpfs_test(void)
{
    SculptHmPoolConfig cfg = {
        .kind = SCULPT_HM_COLD_FILE, .block_size = 2 << 20,
        .nr_slots = 8, .max_slots = 16, .dir = tiny_dir,
    };
    SculptHmPool p;
    SculptHmMoveResult res;
    char path[512];
    int ret, fd;
    uint64_t b;

    if (!tiny_dir) {
        skip("no tiny tmpfs given (-t DIR; run-tests.sh mounts one)");
        return;
    }
    everything_home();
    ret = sculpt_hm_pool_create(&p, &cfg, err, sizeof(err));
    ok(ret == -ENOSPC && strstr(err, "No space"),
       "16 MiB cold pool on an 8 MiB tmpfs: refused at creation (\"%s\")",
       err);
    cfg.nr_slots = 2;
    ret = sculpt_hm_pool_create(&p, &cfg, err, sizeof(err));
    ok(ret == 0, "4 MiB cold pool on the 8 MiB tmpfs created%s%s",
       ret ? ": " : "", ret ? err : "");
    if (ret) {
        return;
    }
    pools[npools++] = p;
    ret = sculpt_hm_pool_grow(&pools[npools - 1], 4, err, sizeof(err));
    ok(ret == -ENOSPC && pools[npools - 1].nr_slots == 2,
       "growing it by 8 MiB fails cleanly (\"%s\")", err);

    /* fill the rest of the filesystem behind the pool's back */
    snprintf(path, sizeof(path), "%s/filler", tiny_dir);
    fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd >= 0) {
        static char buf[1 << 16];

        memset(buf, 1, sizeof(buf));
        while (write(fd, buf, sizeof(buf)) > 0) {
            /* until ENOSPC */
        }
        close(fd);
    }
    if (bs == (2 << 20)) {
        ret = move(10, 2, &pools[npools - 1], 0, &res);
        for (b = 0; b < 20 && ret == 0; b++) {
            write_block(10, gen[10] + 1);
            write_block(11, gen[11] + 1);
            sculpt_hm_cold_release(&pools[npools - 1], guest + 10 * bs,
                                   loc[10].slot, 2, NULL, NULL, 0);
        }
        ok(ret == 0 && verify_all() == 0,
           "full tmpfs: guest writes into the preallocated cold blocks "
           "never SIGBUS, data intact");
        ret = move(12, 2, &pools[npools - 1], 0, &res);
        ok(ret == 1 && loc[12].pool == &home && verify_all() == 0,
           "no cold slot left: the move is refused, block stays home "
           "(\"%s\")", err);
    }
    everything_home();
    unlink(path);
    npools--;
    sculpt_hm_pool_destroy(&pools[npools]);
}

/*
 * sculpt_hm_memcg_*() in a process of its own moved into memcg_dir: it
 * finds that cgroup, its limit, and room that shrinks by what the process
 * charges there (32 MiB of memfd pages, as guest RAM is).
 */
static void memcg_test(void)
{
    struct {
        int ret, nr;
        bool found0, found1;
        uint64_t room0, room1, limit0, limit1;
        char path[256];
        char err[256];
    } r;
    char lp[512], buf[64], real[PATH_MAX];
    uint64_t want_limit = 0, charged = 32ULL << 20;
    int pfd[2], status = 0, fd;
    ssize_t n;
    pid_t pid;

    if (!memcg_dir) {
        skip("memory cgroup: none given (-m DIR; run-tests.sh makes one)");
        return;
    }
    snprintf(lp, sizeof(lp), "%s/memory.limit_in_bytes", memcg_dir);
    fd = open(lp, O_RDONLY);
    if (fd < 0) {
        snprintf(lp, sizeof(lp), "%s/memory.max", memcg_dir);
        fd = open(lp, O_RDONLY);
    }
    n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) {
        close(fd);
    }
    buf[n > 0 ? n : 0] = '\0';
    want_limit = strtoull(buf, NULL, 10);
    if (pipe(pfd)) {
        ok(false, "memory cgroup: pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        SculptHmMemcg m;
        uint8_t *p;
        int mfd;

        memset(&r, 0, sizeof(r));
        snprintf(lp, sizeof(lp), "%s/cgroup.procs", memcg_dir);
        fd = open(lp, O_WRONLY);
        if (fd < 0 || write(fd, "0", 1) != 1) {
            r.ret = -errno;
            snprintf(r.err, sizeof(r.err), "joining %.150s: %s", lp,
                     strerror(errno));
        } else {
            r.ret = sculpt_hm_memcg_open(&m, r.err, sizeof(r.err));
        }
        if (fd >= 0) {
            close(fd);
        }
        if (!r.ret) {
            r.nr = m.nr;
            snprintf(r.path, sizeof(r.path), "%s", m.path);
            r.found0 = sculpt_hm_memcg_room(&m, &r.room0, &r.limit0);
            mfd = memfd_create("memcg-test", 0);
            p = mfd < 0 || ftruncate(mfd, charged) ? MAP_FAILED :
                mmap(NULL, charged, PROT_READ | PROT_WRITE, MAP_SHARED,
                     mfd, 0);
            if (p != MAP_FAILED) {
                memset(p, 0x5a, charged);
            }
            r.found1 = sculpt_hm_memcg_room(&m, &r.room1, &r.limit1);
            sculpt_hm_memcg_close(&m);
        }
        _exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
    }
    close(pfd[1]);
    n = read(pfd[0], &r, sizeof(r));
    close(pfd[0]);
    waitpid(pid, &status, 0);
    if (n != sizeof(r) || !WIFEXITED(status) || WEXITSTATUS(status)) {
        ok(false, "memory cgroup: the child process reported nothing");
        return;
    }
    ok(r.ret == 0 && realpath(memcg_dir, real) && !strcmp(r.path, real) &&
       r.nr >= 1, "memory cgroup: found the process's own, %s (%d levels "
       "with limit files)%s%s", r.path, r.nr, r.ret ? ": " : "", r.err);
    ok(r.found0 && r.limit0 == want_limit && r.room0 <= r.limit0 &&
       r.room0 + (16ULL << 20) >= r.limit0,
       "memory cgroup: limit %" PRIu64 " MiB (set: %" PRIu64 " MiB), room "
       "%" PRIu64 " MiB for a process just moved in", r.limit0 >> 20,
       want_limit >> 20, r.room0 >> 20);
    ok(r.found1 && r.limit1 == r.limit0 && r.room1 + charged <= r.room0 &&
       r.room1 + charged + (8ULL << 20) >= r.room0,
       "memory cgroup: %" PRIu64 " MiB of memfd pages written, room "
       "%" PRIu64 " -> %" PRIu64 " MiB", charged >> 20, r.room0 >> 20,
       r.room1 >> 20);
}

static void run_block_size(uint64_t block, int steps)
{
    SculptHmPool *mem, *cold = NULL, *swap = NULL, *numa, *p;
    uint64_t slots;

    if (setup_guest(block)) {
        ok(false, "guest setup");
        return;
    }
    printf("# --- %" PRIu64 " KiB blocks, %" PRIu64 " blocks ---\n",
           bs >> 10, nblk);
    slots = nblk / 4;
    mem = add_pool(SCULPT_HM_MEMFD, slots, 0, NULL);
    ok(mem != NULL, "memfd pool created");
    p = add_pool(SCULPT_HM_THP, slots, 0, NULL);
    if (p) {
        printf("# THP obtained: %s\n", p->thp_obtained ? "yes" : "no");
    }
    if (block >= (2 << 20)) {
        if (!add_pool(SCULPT_HM_HUGETLB, slots, 0, NULL)) {
            skip("hugetlb pool: %s", err);
        }
    }
    cold = add_pool(SCULPT_HM_COLD_FILE, slots, 0, cold_dir);
    ok(cold != NULL, "cold file pool in %s created", cold_dir);
    numa = p = add_pool(SCULPT_HM_NUMA, slots, 0, NULL);
    ok(p != NULL, "NUMA pool bound to node 0 created");
    if (access("/proc/swaps", R_OK) == 0) {
        p = add_pool(SCULPT_HM_SWAP, slots, 0, NULL);
        if (p && strstr(p->info, "NO swap")) {
            printf("# swap pool kept, but %s\n", p->info);
        } else if (p) {
            swap = p;
        }
    }
    ok(verify_all() == 0, "pattern written and verified");
    random_moves(steps);
    everything_home();
    ok(verify_all() == 0 && books_balance() && home.nr_used == nblk,
       "everything moved back home, intact");
    attrs_test();
    merge_test(mem);
    transfer_test(mem);
    wp_test(mem, cold);
    if (numa) {
        transfer_test(numa);
    }
    if (cold) {
        dram_test(cold);
        empty_test(cold);
        advise_test(cold);
        stale_test(cold);
    }
    if (swap) {
        swap_test(swap);
    } else {
        skip("swap tier: no swap active");
    }
    fault_injection(mem, cold ? cold : mem);
    if (block == (2 << 20)) {
        refusal_tests();
        tiny_tmpfs_test();
        memcg_test();
    }
    teardown_guest();
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_sigaction = on_sigbus,
                            .sa_flags = SA_SIGINFO };
    uint64_t seed = time(NULL);
    int steps = 300, c;

    while ((c = getopt(argc, argv, "s:n:c:t:m:")) != -1) {
        switch (c) {
        case 's':
            seed = strtoull(optarg, NULL, 0);
            break;
        case 'n':
            steps = atoi(optarg);
            break;
        case 'c':
            cold_dir = optarg;
            break;
        case 't':
            tiny_dir = optarg;
            break;
        case 'm':
            memcg_dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-s seed] [-n steps] [-c colddir] "
                    "[-t tiny-tmpfs-dir] [-m memory-cgroup-dir]\n", argv[0]);
            return 2;
        }
    }
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    rng_state = seed | 1;
    printf("TAP version 13\n# seed %" PRIu64 "\n", seed);
    run_block_size(2 << 20, steps);
    run_block_size(64 << 10, steps);
    printf("1..%d\n# %d passed, %d failed, %d skipped\n", n_test, n_pass,
           n_fail, n_skip);
    return n_fail ? 1 : 0;
}
