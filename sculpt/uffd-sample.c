/*
 * sculpt: read+write access sampling of guest RAM with userfaultfd
 *
 * See uffd-sample.h.  No QEMU headers: this file builds inside QEMU and
 * on its own (sculpt/tests/Makefile, bench/tracking/).
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "uffd-sample.h"
#include "uffd-wp.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* Per-block sample state: 0 idle, else gen << 2 | US_ARMED or US_HIT */
#define US_ARMED        1u
#define US_HIT          2u
#define US_STATE_MASK   3u
#define US_GEN_MASK     0x3fffffffu
#define US_CONT_RETRIES 8
#define US_MSG_BATCH    64
#define US_IOV_MAX      1024    /* UIO_MAXIOV */

typedef _Atomic uint64_t UsCounter;

typedef struct UsRegion {
    uint64_t start, nr;         /* blocks */
    uint32_t score;             /* 0..1000 */
    uint32_t age;
    uint32_t nsamp, nhit;       /* this interval */
    bool observed;              /* score holds at least one observation */
} UsRegion;

typedef struct UsSample {
    uint64_t off;               /* chunk offset in the range */
    uint64_t block;
    uint32_t region;
    bool valid;                 /* armed (madvise succeeded) */
    bool carry;                 /* STICKY: stays armed past the harvest */
    bool kept;                  /* carried in: armed already, no zap */
} UsSample;

typedef struct UsSkip {
    uint64_t off, end;
    char why[160];
} UsSkip;

typedef struct UsVma {
    uint64_t s, e;              /* absolute addresses, clamped */
    bool shared;
    char path[128];
} UsVma;

struct SculptUs {
    SculptUsConfig cfg;
    uint8_t *host;
    uint64_t size, bs, chunk, page, nblocks, chunks_per_block;
    unsigned bs_shift;
    uint64_t max_region_blocks;

    int uffd;
    int stop_fd;
    int pidfd;                  /* own pidfd for process_madvise, or -1 */
    struct iovec *iov;
    bool running;
    pthread_t thread;
    clockid_t thread_clock;
    UsCounter thread_cpu_final;

    _Atomic uint32_t *st;       /* per block, see US_ARMED */
    uint8_t *watch;             /* per block: wholly registered */
    /*
     * Per block: handed to another userfaultfd (sculpt_us_unwatch()) until
     * registered here again.  UFFDIO_CONTINUE does not check whose
     * registration a mapping has, and over a write-protect marker it
     * installs a writable entry: no CONTINUE of ours may touch such a
     * block.  Set under cont_lock's write side; us_continue() checks it
     * under the read side, so once unwatch returns none is in flight.
     */
    uint8_t *gone;
    pthread_rwlock_t cont_lock;
    uint8_t *mark;              /* per block: picked this arm (scratch) */
    _Atomic uint8_t *resident;  /* per block: its sample chunks were all
                                   in the memfd (STICKY; cleared by
                                   invalidate: a remap or punch) */
    uint32_t gen;
    bool gen_ready;             /* harvest advanced gen for the next arm */
    bool armed_now;

    UsRegion *reg, *reg_tmp;
    uint32_t nreg, reg_cap;
    UsSample *samp;
    uint32_t nsamp, samp_cap;
    /* SCULPT_US_STICKY: samples for the next arm, from the last harvest */
    UsSample *carry, *rearm;
    uint32_t ncarry, nrearm, carry_cap, rearm_cap;
    uint64_t sweep;             /* next block the sweep looks at */
    /* STICKY cost control: chunks armed anew per interval, adapted so
     * that sampling costs at most cpu_permille of one core */
    uint64_t budget, last_arm_ns, last_cost_ns;
    uint32_t rearm_next;        /* rotates which hit blocks are re-armed */
    uint64_t rng;

    UsSkip *skip;
    size_t nskip, skip_cap;

    struct {
        UsCounter faults, hits, write_hits, stale_faults;
        UsCounter cont_calls, cont_eexist, cont_efault, cont_eagain;
        UsCounter cont_errors, wakes, other_events, handler_ns;
        UsCounter unarm_hits;
    } a;                        /* updated by the fault and owner threads */
    SculptUsStats o;            /* owner-thread fields */
};

static struct {
    int sys_errno, dev_errno;
} us_test;

void sculpt_us_test_deny_uffd(int sys_errno, int dev_errno)
{
    us_test.sys_errno = sys_errno;
    us_test.dev_errno = dev_errno;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static uint64_t us_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline void us_inc(UsCounter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t us_get(UsCounter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* splitmix64: the random stream of one interval, from its seed */
static uint64_t us_rnd(SculptUs *us)
{
    uint64_t z = (us->rng += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t us_rnd_below(SculptUs *us, uint64_t n)
{
    return n ? us_rnd(us) % n : 0;
}

static bool us_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* ---------------------------------------------------------------------- */
/* Fault handling (fault thread, and the owner thread in harvest)          */

/* Mark block b accessed if it holds an armed chunk; true if this call did */
static bool us_note_access(SculptUs *us, uint64_t b)
{
    uint32_t v = atomic_load_explicit(&us->st[b], memory_order_acquire);

    while ((v & US_STATE_MASK) == US_ARMED) {
        if (atomic_compare_exchange_weak_explicit(&us->st[b], &v,
                (v & ~US_STATE_MASK) | US_HIT,
                memory_order_acq_rel, memory_order_acquire)) {
            us_inc(&us->a.hits, 1);
            return true;
        }
    }
    return false;
}

/* us_continue() with cont_lock's read side held */
static void us_continue_locked(SculptUs *us, uint64_t addr, uint64_t len,
                               uint64_t fault, bool note)
{
    uint64_t off = addr, end = addr + len;
    bool fault_done = !fault;
    bool single = false;
    int tries = 0;

    while (off < end) {
        struct uffdio_continue c = {
            .range = { .start = off,
                       .len = single ? us->page : end - off },
            .mode = 0,
        };
        int r;

        /* map the memfd's pages in (they never left it) and wake waiters */
        r = ioctl(us->uffd, UFFDIO_CONTINUE, &c);
        us_inc(&us->a.cont_calls, 1);
        if (r == 0) {
            if (fault >= off && fault < off + c.range.len) {
                fault_done = true;
            }
            off += c.range.len;
            single = false;
            tries = 0;
            continue;
        }
        if (c.mapped > 0) {
            /* partial: stopped at a page that needs the cases below */
            if (fault >= off && fault < off + (uint64_t)c.mapped) {
                fault_done = true;
            }
            off += c.mapped;
            tries = 0;
            continue;
        }
        switch (errno) {
        case EEXIST:
            /*
             * Already mapped, by a racing fault or a non-trapping path:
             * whoever mapped it maps (or mapped) the rest of its chunk
             */
            us_inc(&us->a.cont_eexist, 1);
            if (note &&
                us_note_access(us, (off - (uint64_t)us->host) >>
                               us->bs_shift)) {
                us_inc(&us->a.unarm_hits, 1);
            }
            off = (off | (us->chunk - 1)) + 1;
            break;
        case EFAULT:
            /* a hole in the memfd: the touch allocates it, no trap */
            us_inc(&us->a.cont_efault, 1);
            off += us->page;
            break;
        case EAGAIN:
            /* the mapping is changing (mmap_changing): retry, then skip */
            us_inc(&us->a.cont_eagain, 1);
            if (++tries < US_CONT_RETRIES) {
                sched_yield();
            } else {
                off += us->page;
                tries = 0;
            }
            break;
        default:
            /* ENOENT: not registered any more (remapped): try page-wise */
            if (!single) {
                single = true;
            } else {
                us_inc(&us->a.cont_errors, 1);
                off += us->page;
            }
            break;
        }
    }
    if (!fault_done) {
        struct uffdio_range wr = { .start = fault, .len = us->page };

        /* let the waiting thread retry its fault instead of hanging */
        ioctl(us->uffd, UFFDIO_WAKE, &wr);
        us_inc(&us->a.wakes, 1);
    }
}

/*
 * Map [addr, addr + len) back page by page past errors.  fault (0: none)
 * is a page address inside it that a thread waits on: it ends up mapped
 * or woken.  note: a page found already mapped (EEXIST) counts as an
 * access of its block (used when un-arming).
 */
static void us_continue(SculptUs *us, uint64_t addr, uint64_t len,
                        uint64_t fault, bool note)
{
    uint64_t b0 = (addr - (uint64_t)us->host) >> us->bs_shift;
    uint64_t b1 = (addr + len - 1 - (uint64_t)us->host) >> us->bs_shift;
    bool gone = false;

    pthread_rwlock_rdlock(&us->cont_lock);
    /* un-arming merges the chunks of neighbouring blocks: look at each */
    for (uint64_t b = b0; b <= b1 && !gone; b++) {
        gone = us->gone[b];
    }
    if (gone) {
        /* another userfaultfd's now: let the waiter fault again there */
        if (fault) {
            struct uffdio_range wr = { .start = fault, .len = us->page };

            ioctl(us->uffd, UFFDIO_WAKE, &wr);
            us_inc(&us->a.wakes, 1);
        }
    } else {
        us_continue_locked(us, addr, len, fault, note);
    }
    pthread_rwlock_unlock(&us->cont_lock);
}

static void us_handle(SculptUs *us, const struct uffd_msg *m)
{
    uint64_t addr, page, off, b;

    if (m->event != UFFD_EVENT_PAGEFAULT) {
        us_inc(&us->a.other_events, 1);
        return;
    }
    us_inc(&us->a.faults, 1);
    addr = m->arg.pagefault.address;
    page = addr & ~(us->page - 1);
    if (addr < (uint64_t)us->host || addr >= (uint64_t)us->host + us->size) {
        struct uffdio_range wr = { .start = page, .len = us->page };

        /* not ours (cannot happen): never leave a thread waiting */
        ioctl(us->uffd, UFFDIO_WAKE, &wr);
        us_inc(&us->a.wakes, 1);
        return;
    }
    off = addr - (uint64_t)us->host;
    b = off >> us->bs_shift;
    if (us_note_access(us, b)) {
        if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) {
            us_inc(&us->a.write_hits, 1);
        }
        /* armed chunks are chunk-aligned: map the whole chunk back */
        us_continue(us, (uint64_t)us->host + (off & ~(us->chunk - 1)),
                    us->chunk, page, false);
        return;
    }
    /*
     * Not a first touch: mostly a second thread that faulted in the same
     * chunk before it was mapped back (its page is mapped by now: EEXIST,
     * one ioctl and a wake).  Else a page without PTE that was never
     * armed (e.g. a remapped, unpopulated range): map it and fault around
     * in its chunk so the range does not trap page by page.
     */
    us_inc(&us->a.stale_faults, 1);
    us_continue(us, page, us->page, page, false);
    if (page + us->page < (uint64_t)us->host + ((off | (us->chunk - 1)) + 1)) {
        us_continue(us, page + us->page,
                    ((off | (us->chunk - 1)) + 1) - (off & ~(us->page - 1)) -
                    us->page, 0, false);
    }
}

/* Handle every queued message; 0, or -errno if the uffd broke */
static int us_drain(SculptUs *us)
{
    struct uffd_msg msg[US_MSG_BATCH];

    for (;;) {
        ssize_t n = read(us->uffd, msg, sizeof(msg));
        uint64_t t0;
        ssize_t i;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -errno;
        }
        t0 = us_now_ns();
        for (i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
            us_handle(us, &msg[i]);
        }
        us_inc(&us->a.handler_ns, us_now_ns() - t0);
    }
}

static uint64_t us_thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void *us_thread(void *opaque)
{
    SculptUs *us = opaque;
    struct pollfd pfd[2] = {
        { .fd = us->uffd, .events = POLLIN },
        { .fd = us->stop_fd, .events = POLLIN },
    };

    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd[1].revents) {
            break;
        }
        if (pfd[0].revents & POLLIN) {
            if (us_drain(us) < 0) {
                break;
            }
        } else if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            break;
        }
    }
    atomic_store(&us->thread_cpu_final, us_thread_cpu());
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Opening the userfaultfd                                                 */

static int us_open_uffd(char *err, size_t errlen)
{
    struct uffdio_api api = {
        .api = UFFD_API,
        .features = UFFD_FEATURE_MINOR_SHMEM,
    };
    int fd, e_sys, e_dev;

    fd = sculpt_uffd_open(us_test.sys_errno, us_test.dev_errno, &e_sys,
                          &e_dev);
    if (fd < 0) {
        sculpt_errf(err, errlen, "userfaultfd unavailable: "
               "userfaultfd(2): %s%s; /dev/userfaultfd: %s; access "
               "sampling is off, tracking runs on dirty logging alone",
               strerror(e_sys), e_sys == EPERM ?
               " (vm.unprivileged_userfaultfd=0: needs CAP_SYS_PTRACE)" : "",
               e_dev == EACCES || e_dev == EPERM ?
               "no access (give QEMU read/write on it)" : strerror(e_dev));
        return e_sys == ENOSYS && e_dev == ENOENT ? -ENOSYS : -EPERM;
    }
    /* the handshake; MINOR_SHMEM makes MINOR registration on memfd legal */
    if (ioctl(fd, UFFDIO_API, &api) < 0 ||
        !(api.features & UFFD_FEATURE_MINOR_SHMEM)) {
        int e = errno;

        close(fd);
        sculpt_errf(err, errlen, "userfaultfd: UFFDIO_API with "
               "UFFD_FEATURE_MINOR_SHMEM: %s; access sampling is off, "
               "tracking runs on dirty logging alone", strerror(e));
        return -ENOSYS;
    }
    return fd;
}

/* ---------------------------------------------------------------------- */
/* Registration                                                            */

/* VMAs overlapping [lo, hi), clamped, in address order; -errno */
static int us_read_vmas(uint64_t lo, uint64_t hi, UsVma **out, size_t *n)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    UsVma *v = NULL;
    size_t nv = 0, cap = 0;

    if (!f) {
        return -errno;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long s, e, pgoff, ino;
        char perms[8];
        int pos = 0;

        if (sscanf(line, "%lx-%lx %7s %lx %*s %lu %n", &s, &e, perms,
                   &pgoff, &ino, &pos) < 5) {
            continue;
        }
        if (e <= lo || s >= hi) {
            continue;
        }
        if (nv == cap) {
            UsVma *nvp;

            cap = cap ? cap * 2 : 16;
            nvp = realloc(v, cap * sizeof(*v));
            if (!nvp) {
                free(v);
                fclose(f);
                return -ENOMEM;
            }
            v = nvp;
        }
        v[nv].s = s < lo ? lo : s;
        v[nv].e = e > hi ? hi : e;
        v[nv].shared = perms[3] == 's';
        snprintf(v[nv].path, sizeof(v[nv].path), "%s", pos ? line + pos : "");
        v[nv].path[strcspn(v[nv].path, "\n")] = '\0';
        nv++;
    }
    fclose(f);
    *out = v;
    *n = nv;
    return 0;
}

static bool us_path_is_shmem(const char *p)
{
    return !strncmp(p, "/memfd:", 7) || !strncmp(p, "/dev/zero", 9) ||
        !strncmp(p, "/SYSV", 5) || !strncmp(p, "/dev/shm/", 9);
}

static void us_add_skip(SculptUs *us, uint64_t off, uint64_t end,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void us_add_skip(SculptUs *us, uint64_t off, uint64_t end,
                        const char *fmt, ...)
{
    va_list ap;

    if (us->nskip == us->skip_cap) {
        size_t cap = us->skip_cap ? us->skip_cap * 2 : 8;
        UsSkip *n = realloc(us->skip, cap * sizeof(*n));

        if (!n) {
            return;     /* description only */
        }
        us->skip = n;
        us->skip_cap = cap;
    }
    us->skip[us->nskip].off = off;
    us->skip[us->nskip].end = end;
    va_start(ap, fmt);
    vsnprintf(us->skip[us->nskip].why, sizeof(us->skip[0].why), fmt, ap);
    va_end(ap);
    us->nskip++;
}

static void us_drop_skips(SculptUs *us, uint64_t off, uint64_t end)
{
    size_t i, j = 0;

    for (i = 0; i < us->nskip; i++) {
        if (us->skip[i].end <= off || us->skip[i].off >= end) {
            us->skip[j++] = us->skip[i];
        }
    }
    us->nskip = j;
}

/*
 * Map in the pages of [p, p + len) that the memfd holds (mincore), so
 * they do not trap once each after registration; holes stay holes.
 */
static void us_populate(SculptUs *us, uint8_t *p, uint64_t len)
{
    enum { VEC = 4096 };
    unsigned char vec[VEC];
    uint64_t done = 0;

    while (done < len) {
        uint64_t n = (len - done) / us->page, i = 0;

        if (n > VEC) {
            n = VEC;
        }
        /* which pages of the memfd are in memory (holes are not) */
        if (mincore(p + done, n * us->page, vec) < 0) {
            return;
        }
        while (i < n) {
            uint64_t j;

            if (!(vec[i] & 1)) {
                i++;
                continue;
            }
            for (j = i; j < n && (vec[j] & 1); j++) {
                /* find the run */
            }
            /* map the run in read-only-fault style: no page is allocated */
            if (madvise(p + done + i * us->page, (j - i) * us->page,
                        MADV_POPULATE_READ) == 0) {
                us->o.populated_bytes += (j - i) * us->page;
            }
            i = j;
        }
        done += n * us->page;
    }
}

static void us_invalidate_blocks(SculptUs *us, uint64_t b0, uint64_t b1)
{
    uint64_t b;

    for (b = b0; b < b1; b++) {
        atomic_store_explicit(&us->st[b], 0, memory_order_release);
        atomic_store_explicit(&us->resident[b], 0, memory_order_release);
    }
}

void sculpt_us_invalidate(SculptUs *us, uint64_t off, uint64_t len)
{
    uint64_t b0, b1;

    if (!us || off >= us->size) {
        return;
    }
    if (len > us->size - off) {
        len = us->size - off;
    }
    b0 = off >> us->bs_shift;
    b1 = (off + len + us->bs - 1) >> us->bs_shift;
    us_invalidate_blocks(us, b0, b1);
}

int sculpt_us_unwatch(SculptUs *us, uint64_t off, uint64_t len,
                      char *err, size_t errlen)
{
    struct uffdio_range r;

    if (!us || off >= us->size) {
        return 0;
    }
    if (len > us->size - off) {
        len = us->size - off;
    }
    sculpt_us_invalidate(us, off, len);
    r.start = (uint64_t)us->host + off;
    r.len = len;
    /* no CONTINUE in flight there, and none from now on */
    pthread_rwlock_wrlock(&us->cont_lock);
    memset(us->gone + (off >> us->bs_shift), 1,
           ((off + len - 1) >> us->bs_shift) - (off >> us->bs_shift) + 1);
    pthread_rwlock_unlock(&us->cont_lock);
    if (ioctl(us->uffd, UFFDIO_UNREGISTER, &r) < 0) {
        int e = errno;

        sculpt_errf(err, errlen, "UFFDIO_UNREGISTER of %p+0x%" PRIx64
                    ": %s", us->host + off, len, strerror(e));
        return -e;
    }
    /* unregistering wakes only MISSING waiters: a MINOR one retries now */
    ioctl(us->uffd, UFFDIO_WAKE, &r);
    return 0;
}

/* Register the shmem VMAs of [off, off + len) (block aligned) */
static int us_register(SculptUs *us, uint64_t off, uint64_t len,
                       unsigned flags, char *err, size_t errlen)
{
    uint64_t lo = (uint64_t)us->host + off, hi = lo + len, t0 = us_now_ns();
    uint64_t b0 = off >> us->bs_shift, b1 = (off + len) >> us->bs_shift;
    uint64_t cursor = lo, b;
    uint32_t *cov;
    UsVma *v = NULL;
    size_t nv = 0, i;
    int ret;

    us_invalidate_blocks(us, b0, b1);
    memset(us->watch + b0, 0, b1 - b0);
    us_drop_skips(us, off, off + len);
    ret = us_read_vmas(lo, hi, &v, &nv);
    if (ret < 0) {
        sculpt_errf(err, errlen, "/proc/self/maps: %s", strerror(-ret));
        return ret;
    }
    cov = calloc(b1 - b0, sizeof(*cov));
    if (!cov) {
        free(v);
        sculpt_errf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    us->o.registered_vmas = 0;
    us->o.skipped_vmas = 0;
    for (i = 0; i < nv; i++) {
        struct uffdio_register reg = {
            .range = { .start = v[i].s, .len = v[i].e - v[i].s },
            .mode = UFFDIO_REGISTER_MODE_MINOR,
        };
        uint64_t so = v[i].s - (uint64_t)us->host;
        uint64_t eo = v[i].e - (uint64_t)us->host;

        if (v[i].s > cursor) {
            us_add_skip(us, cursor - (uint64_t)us->host, so, "unmapped");
        }
        cursor = v[i].e;
        if (!v[i].shared) {
            us_add_skip(us, so, eo, "private mapping %s: MINOR faults need "
                        "a MAP_SHARED memfd", v[i].path[0] ? v[i].path :
                        "(anonymous)");
            us->o.skipped_vmas++;
            continue;
        }
        if (!us_path_is_shmem(v[i].path)) {
            us_add_skip(us, so, eo, "file-backed %s: MINOR registration "
                        "needs shmem (EINVAL), not watched; use mincore",
                        v[i].path);
            us->o.skipped_vmas++;
            continue;
        }
        if (flags & SCULPT_US_POPULATE) {
            us_populate(us, (uint8_t *)v[i].s, v[i].e - v[i].s);
        }
        /* per VMA: a MINOR register over a mixed range fails whole */
        if (ioctl(us->uffd, UFFDIO_REGISTER, &reg) < 0) {
            int e = errno;

            us_add_skip(us, so, eo, "%s: UFFDIO_REGISTER MINOR: %s%s",
                        v[i].path, strerror(e), e == EBUSY ?
                        " (another userfaultfd owns it: postcopy?)" :
                        e == EINVAL ? " (not shmem: hugetlb?)" : "");
            us->o.skipped_vmas++;
            continue;
        }
        us->o.registered_vmas++;
        for (b = so >> us->bs_shift; b < b1 && (b << us->bs_shift) < eo;
             b++) {
            uint64_t bs = b << us->bs_shift, be = bs + us->bs;
            uint64_t s = bs > so ? bs : so, e = be < eo ? be : eo;

            if (b >= b0) {
                cov[b - b0] += e - s;
            }
        }
    }
    if (cursor < hi) {
        us_add_skip(us, cursor - (uint64_t)us->host, off + len, "unmapped");
    }
    pthread_rwlock_wrlock(&us->cont_lock);
    for (b = b0; b < b1; b++) {
        us->watch[b] = cov[b - b0] == us->bs;
        /* registered here again: ours (unregistered ones stay gone) */
        us->gone[b] = us->gone[b] && !cov[b - b0];
    }
    pthread_rwlock_unlock(&us->cont_lock);
    us->o.watched_bytes = 0;
    for (b = 0; b < us->nblocks; b++) {
        us->o.watched_bytes += us->watch[b] ? us->bs : 0;
    }
    free(cov);
    free(v);
    us->o.register_ns += us_now_ns() - t0;
    return 0;
}

int sculpt_us_reregister(SculptUs *us, uint64_t off, uint64_t len,
                         unsigned flags, char *err, size_t errlen)
{
    uint64_t end;

    if (off >= us->size || !len) {
        sculpt_errf(err, errlen, "reregister: [0x%" PRIx64 ", +0x%" PRIx64
               ") outside the range of 0x%" PRIx64 " bytes", off, len,
               us->size);
        return -EINVAL;
    }
    end = off + len > us->size ? us->size : off + len;
    off &= ~(us->bs - 1);
    end = (end + us->bs - 1) & ~(us->bs - 1);
    return us_register(us, off, end - off, flags, err, errlen);
}

int sculpt_us_unregister_all(SculptUs *us, char *err, size_t errlen)
{
    uint64_t lo = (uint64_t)us->host, hi = lo + us->size;
    UsVma *v = NULL;
    size_t nv = 0, i;
    int ret;

    us_invalidate_blocks(us, 0, us->nblocks);
    memset(us->watch, 0, us->nblocks);
    us->o.watched_bytes = 0;
    ret = us_read_vmas(lo, hi, &v, &nv);
    if (ret < 0) {
        sculpt_errf(err, errlen, "/proc/self/maps: %s", strerror(-ret));
        return ret;
    }
    for (i = 0; i < nv; i++) {
        struct uffdio_range r = { .start = v[i].s, .len = v[i].e - v[i].s };

        if (!v[i].shared || !us_path_is_shmem(v[i].path)) {
            continue;
        }
        /* per VMA (mixed ranges fail); also wakes faults blocked there */
        ioctl(us->uffd, UFFDIO_UNREGISTER, &r);
    }
    free(v);
    us_drop_skips(us, 0, us->size);
    us_add_skip(us, 0, us->size, "unregistered (sculpt_us_unregister_all)");
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                              */

int sculpt_us_new(SculptUs **pus, const SculptUsConfig *cfg,
                  char *err, size_t errlen)
{
    SculptUs *us;
    uint64_t page = sysconf(_SC_PAGESIZE), i;
    int fd, ret;

    *pus = NULL;
    if (!cfg->host || ((uint64_t)cfg->host & (page - 1)) ||
        !us_pow2(cfg->block_size) || cfg->block_size < page ||
        !cfg->size || cfg->size % cfg->block_size) {
        sculpt_errf(err, errlen, "sampler: host %p, size 0x%" PRIx64 ", block "
               "size 0x%" PRIx64 ": need a page-aligned host, a power-of-"
               "two block size >= the page size dividing size", cfg->host,
               cfg->size, cfg->block_size);
        return -EINVAL;
    }
    if (cfg->sample_bytes && (!us_pow2(cfg->sample_bytes) ||
        cfg->sample_bytes < page || cfg->sample_bytes > cfg->block_size)) {
        sculpt_errf(err, errlen, "sampler: sample_bytes 0x%" PRIx64
               " must be a power of two between the page and the block size",
               cfg->sample_bytes);
        return -EINVAL;
    }
    us = calloc(1, sizeof(*us));
    if (!us) {
        sculpt_errf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    us->cfg = *cfg;
    us->host = cfg->host;
    us->size = cfg->size;
    us->bs = cfg->block_size;
    us->bs_shift = __builtin_ctzll(us->bs);
    us->page = page;
    us->nblocks = cfg->size >> us->bs_shift;
    us->chunk = cfg->sample_bytes ? cfg->sample_bytes :
        (us->bs < SCULPT_US_DEF_SAMPLE_BYTES ? us->bs :
         SCULPT_US_DEF_SAMPLE_BYTES);
    us->chunks_per_block = us->bs / us->chunk;
    if (!us->cfg.min_regions) {
        us->cfg.min_regions = SCULPT_US_DEF_MIN_REGIONS;
    }
    if (!us->cfg.max_regions) {
        us->cfg.max_regions = SCULPT_US_DEF_MAX_REGIONS;
    }
    if (us->cfg.max_regions > us->nblocks) {
        us->cfg.max_regions = us->nblocks;
    }
    if (us->cfg.min_regions > us->cfg.max_regions) {
        us->cfg.min_regions = us->cfg.max_regions;
    }
    if (!us->cfg.init_regions) {
        us->cfg.init_regions = us->cfg.max_regions / 2;
    }
    if (us->cfg.init_regions < us->cfg.min_regions) {
        us->cfg.init_regions = us->cfg.min_regions;
    }
    if (us->cfg.init_regions > us->cfg.max_regions) {
        us->cfg.init_regions = us->cfg.max_regions;
    }
    if (!us->cfg.samples_per_region) {
        us->cfg.samples_per_region = 1;
    }
    if (!us->cfg.merge_permille) {
        us->cfg.merge_permille = SCULPT_US_DEF_MERGE_PERMILLE;
    }
    if (!us->cfg.ewma_permille || us->cfg.ewma_permille > 1000) {
        us->cfg.ewma_permille = SCULPT_US_DEF_EWMA_PERMILLE;
    }
    us->max_region_blocks = (us->nblocks + us->cfg.min_regions - 1) /
        us->cfg.min_regions;
    us->uffd = -1;
    us->stop_fd = -1;
    /* our own pidfd: process_madvise() zaps many runs in one call */
    us->pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    us->reg_cap = us->cfg.max_regions + 1;
    if (us->cfg.flags & SCULPT_US_STICKY) {
        if (!us->cfg.cpu_permille) {
            us->cfg.cpu_permille = SCULPT_US_DEF_CPU_PERMILLE;
        }
        if (!us->cfg.max_armed) {
            us->cfg.max_armed = 8 * us->cfg.max_regions *
                us->cfg.samples_per_region;
        }
        if (us->cfg.max_armed > us->nblocks) {
            us->cfg.max_armed = us->nblocks;
        }
        us->carry_cap = us->cfg.max_armed;
        us->rearm_cap = us->reg_cap * us->cfg.samples_per_region;
    }
    us->samp_cap = us->reg_cap * us->cfg.samples_per_region +
        us->carry_cap + us->rearm_cap;
    us->st = calloc(us->nblocks, sizeof(*us->st));
    us->watch = calloc(us->nblocks, 1);
    us->gone = calloc(us->nblocks, 1);
    pthread_rwlock_init(&us->cont_lock, NULL);
    us->reg = calloc(us->reg_cap, sizeof(*us->reg));
    us->reg_tmp = calloc(us->reg_cap, sizeof(*us->reg_tmp));
    us->samp = calloc(us->samp_cap, sizeof(*us->samp));
    us->iov = calloc(US_IOV_MAX, sizeof(*us->iov));
    us->mark = calloc(us->nblocks, 1);
    us->resident = calloc(us->nblocks, 1);
    us->carry = calloc(us->carry_cap + 1, sizeof(*us->carry));
    us->rearm = calloc(us->rearm_cap + 1, sizeof(*us->rearm));
    if (!us->st || !us->watch || !us->gone || !us->reg || !us->reg_tmp ||
        !us->samp || !us->iov || !us->mark || !us->resident || !us->carry ||
        !us->rearm) {
        sculpt_us_free(us);
        sculpt_errf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* initial regions: init_regions of equal size */
    us->nreg = us->cfg.init_regions;
    for (i = 0; i < us->nreg; i++) {
        us->reg[i].start = us->nblocks * i / us->nreg;
        us->reg[i].nr = us->nblocks * (i + 1) / us->nreg - us->reg[i].start;
    }

    fd = us_open_uffd(err, errlen);
    if (fd < 0) {
        sculpt_us_free(us);
        return fd;
    }
    us->uffd = fd;
    ret = us_register(us, 0, us->size, cfg->flags & SCULPT_US_POPULATE,
                      err, errlen);
    if (ret < 0) {
        sculpt_us_free(us);
        return ret;
    }
    *pus = us;
    return 0;
}

int sculpt_us_start(SculptUs *us, char *err, size_t errlen)
{
    int ret;

    if (us->running) {
        return 0;
    }
    us->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (us->stop_fd < 0) {
        ret = -errno;
        sculpt_errf(err, errlen, "eventfd: %s", strerror(-ret));
        return ret;
    }
    ret = pthread_create(&us->thread, NULL, us_thread, us);
    if (ret) {
        close(us->stop_fd);
        us->stop_fd = -1;
        sculpt_errf(err, errlen, "pthread_create (fault thread): %s",
               strerror(ret));
        return -ret;
    }
    pthread_setname_np(us->thread, "sculpt-uffd");
    if (pthread_getcpuclockid(us->thread, &us->thread_clock)) {
        us->thread_clock = (clockid_t)-1;
    }
    us->running = true;
    return 0;
}

void sculpt_us_stop(SculptUs *us)
{
    uint64_t one = 1;

    if (!us || !us->running) {
        return;
    }
    /* no fault may wait for a thread that is gone */
    sculpt_us_unregister_all(us, NULL, 0);
    if (write(us->stop_fd, &one, sizeof(one)) < 0) {
        /* eventfd write cannot fail short of overflow */
    }
    pthread_join(us->thread, NULL);
    close(us->stop_fd);
    us->stop_fd = -1;
    us->running = false;
    us->armed_now = false;
}

void sculpt_us_free(SculptUs *us)
{
    if (!us) {
        return;
    }
    sculpt_us_stop(us);
    if (us->uffd >= 0) {
        close(us->uffd);
    }
    if (us->pidfd >= 0) {
        close(us->pidfd);
    }
    free(us->iov);
    free(us->st);
    free(us->watch);
    free(us->gone);
    pthread_rwlock_destroy(&us->cont_lock);
    free(us->reg);
    free(us->reg_tmp);
    free(us->samp);
    free(us->mark);
    free((void *)us->resident);
    free(us->carry);
    free(us->rearm);
    free(us->skip);
    free(us);
}

uint64_t sculpt_us_block_count(const SculptUs *us)
{
    return us->nblocks;
}

/* ---------------------------------------------------------------------- */
/* Regions (DAMON-style)                                                   */

static void us_merge(SculptUs *us)
{
    uint32_t i, n = 0;
    UsRegion *r = us->reg;

    for (i = 0; i < us->nreg; i++) {
        UsRegion *last = n ? &r[n - 1] : NULL;
        int d;

        if (last) {
            d = (int)last->score - (int)r[i].score;
            if (d < 0) {
                d = -d;
            }
            if (last->observed == r[i].observed &&
                (uint32_t)d <= us->cfg.merge_permille &&
                last->nr + r[i].nr <= us->max_region_blocks) {
                uint64_t tot = last->nr + r[i].nr;

                last->score = (last->score * last->nr + r[i].score *
                               r[i].nr) / tot;
                last->age = (last->age * last->nr + r[i].age * r[i].nr) /
                    tot;
                last->nr = tot;
                continue;
            }
        }
        r[n++] = r[i];
    }
    us->nreg = n;
}

/*
 * While at most max_regions / 2 regions exist, cut each into pieces
 * (2, or more to use the budget) at jittered points.
 */
static void us_split(SculptUs *us)
{
    uint32_t i, n = 0, pieces;

    if (us->nreg > us->cfg.max_regions / 2) {
        return;
    }
    pieces = us->cfg.max_regions / us->nreg;
    if (pieces < 2) {
        pieces = 2;
    }
    for (i = 0; i < us->nreg; i++) {
        UsRegion *r = &us->reg[i];
        uint64_t k = pieces < r->nr ? pieces : r->nr, j, prev = 0;

        for (j = 0; j < k && n < us->reg_cap; j++) {
            uint64_t cut;

            if (j == k - 1) {
                cut = r->nr;
            } else {
                /* even cut points, each jittered within +-1/4 piece */
                uint64_t even = r->nr * (j + 1) / k, q = r->nr / k / 4;

                cut = even - q + us_rnd_below(us, 2 * q + 1);
                if (cut <= prev) {
                    cut = prev + 1;
                }
                if (cut > r->nr - (k - 1 - j)) {
                    cut = r->nr - (k - 1 - j);
                }
            }
            us->reg_tmp[n] = *r;
            us->reg_tmp[n].start = r->start + prev;
            us->reg_tmp[n].nr = cut - prev;
            us->reg_tmp[n].age = 0;
            n++;
            prev = cut;
        }
        if (prev < r->nr) {
            /* out of room: the last piece keeps the rest */
            us->reg_tmp[n - 1].nr += r->nr - prev;
        }
    }
    memcpy(us->reg, us->reg_tmp, n * sizeof(*us->reg));
    us->nreg = n;
}

/* ---------------------------------------------------------------------- */
/* Intervals                                                               */

/*
 * Zap all sample chunks with process_madvise() on our own pidfd: one
 * syscall and (kernel >= 6.16) one TLB flush per 1024 runs instead of
 * one per run.  Sets o.batched and returns the ns spent if it worked;
 * else (older kernel: EINVAL for MADV_DONTNEED) disables itself and the
 * caller falls back to one madvise() per run.
 */
static uint64_t us_zap_batched(SculptUs *us, uint32_t nz)
{
    uint64_t t0 = us_now_ns();
    uint32_t i = 0;

    us->o.batched = false;
    if (us->pidfd < 0 || !nz) {
        return 0;
    }
    while (i < nz) {
        uint32_t n = 0, first = i;
        size_t total = 0;
        ssize_t r;

        while (i < nz && n < US_IOV_MAX) {
            uint32_t j = i + 1;

            while (j < nz &&
                   us->samp[j].off == us->samp[j - 1].off + us->chunk) {
                j++;
            }
            us->iov[n].iov_base = us->host + us->samp[i].off;
            us->iov[n].iov_len = (j - i) * us->chunk;
            total += us->iov[n].iov_len;
            n++;
            i = j;
        }
        /* drop the PTEs of all runs, one TLB flush; the data stays */
        r = syscall(SYS_process_madvise, us->pidfd, us->iov, n,
                    MADV_DONTNEED, 0);
        us->o.madvise_calls++;
        if (r != (ssize_t)total) {
            if (first == 0) {
                /* not supported here: never try again */
                close(us->pidfd);
                us->pidfd = -1;
                return 0;
            }
            /* a later batch failed: redo everything with madvise() */
            us->o.madvise_errors++;
            return 0;
        }
    }
    us->o.armed += nz;
    us->o.batched = true;
    return us_now_ns() - t0;
}

/*
 * STICKY: may the chunk at @off stay armed for long?  Only if all its
 * pages are in the memfd: a touch of a hole allocates the page and maps
 * it without a minor fault, which would leave the chunk mapped and
 * "untouched" for as long as it is carried.  Holes are free guest memory;
 * they are watched once the guest has used them.
 */
static bool us_resident(SculptUs *us, uint64_t off)
{
    unsigned char vec[64];
    uint64_t n = us->chunk / us->page, i, b = off >> us->bs_shift;

    /* memfd pages stay until a punch or remap, which invalidate */
    if (atomic_load_explicit(&us->resident[b], memory_order_acquire)) {
        return true;
    }
    if (n > sizeof(vec)) {
        n = sizeof(vec);        /* the chunk's head tells enough */
    }
    if (mincore(us->host + off, n * us->page, vec) < 0) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!(vec[i] & 1)) {
            return false;
        }
    }
    if (us->chunks_per_block == 1) {
        atomic_store_explicit(&us->resident[b], 1, memory_order_release);
    }
    return true;
}

static int us_cmp_off(const void *a, const void *b)
{
    const UsSample *x = a, *y = b;

    return x->off < y->off ? -1 : x->off > y->off;
}

/* The region holding block b (regions tile the blocks in order) */
static uint32_t us_region_of(SculptUs *us, uint64_t b)
{
    uint32_t lo = 0, hi = us->nreg;

    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;

        if (us->reg[mid].start <= b) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* CPU time of the fault thread so far (its last figure once stopped) */
static uint64_t us_fault_thread_cpu_ns(SculptUs *us)
{
    struct timespec ts;

    if (!us->running) {
        return atomic_load(&us->thread_cpu_final);
    }
    if (us->thread_clock != (clockid_t)-1 &&
        clock_gettime(us->thread_clock, &ts) == 0) {
        return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
    }
    return 0;
}

/* CPU the sampler has cost so far: the fault thread, arming, harvests */
static uint64_t us_cost_ns(SculptUs *us)
{
    return us->o.arm_ns + us->o.harvest_ns + us_fault_thread_cpu_ns(us);
}

/*
 * STICKY: adapt the number of chunks armed anew per interval to the cost
 * of the last one.  Faults come from chunks armed anew and from carried
 * chunks the guest touches, so a guest that touches much of its memory
 * every interval makes sampling expensive (each touch of an armed chunk
 * is a fault and a round trip to the fault thread); DAMON bounds its
 * cost by a fixed number of regions, this by a CPU target.
 */
static void us_adapt_budget(SculptUs *us, uint64_t now_ns)
{
    uint64_t max = (uint64_t)us->cfg.max_regions *
        us->cfg.samples_per_region;
    uint64_t cost = us_cost_ns(us), dt, spent, target;

    if (!us->budget) {
        us->budget = max;
    } else if (now_ns > us->last_arm_ns) {
        dt = now_ns - us->last_arm_ns;
        spent = cost - us->last_cost_ns;
        target = dt / 1000 * us->cfg.cpu_permille;
        if (spent > target) {
            us->budget = us->budget * target / spent;
        } else {
            us->budget += us->budget / 4 + 1;
        }
        if (us->budget < us->cfg.min_regions) {
            us->budget = us->cfg.min_regions;
        }
        if (us->budget > max) {
            us->budget = max;
        }
    }
    us->last_arm_ns = now_ns;
    us->last_cost_ns = cost;
}

static void us_next_gen(SculptUs *us)
{
    us->gen = (us->gen + 1) & US_GEN_MASK;
    if (!us->gen) {
        us->gen = 1;
    }
}

int sculpt_us_arm_interval(SculptUs *us, uint64_t now_ns, uint64_t seed,
                           char *err, size_t errlen)
{
    uint64_t t0 = us_now_ns(), tm = 0;
    uint32_t i, k = us->cfg.samples_per_region, gen, nz, nkept = 0;
    uint32_t nrearm_used;
    bool sticky = us->cfg.flags & SCULPT_US_STICKY;
    UsSample *kept;

    if (us->armed_now) {
        sculpt_errf(err, errlen, "sampler: the previous interval was not "
               "harvested");
        return -EBUSY;
    }
    if (!us->running) {
        sculpt_errf(err, errlen, "sampler: the fault thread is not running");
        return -EINVAL;
    }
    us->rng = seed ^ 0x5ca1ab1e0ddba11ULL;
    if (us->o.intervals) {
        us_merge(us);
        us_split(us);
    }
    /* the harvest already moved the carried chunks to this generation */
    if (!us->gen_ready) {
        us_next_gen(us);
    }
    us->gen_ready = false;
    gen = us->gen << 2;

    /*
     * Layout of samp[]: first the chunks to zap now (hit blocks armed
     * again, then the regions' picks), sorted by address; then the
     * carried chunks, armed already.
     */
    us->nsamp = 0;
    if (sticky) {
        us_adapt_budget(us, now_ns);
    }
    for (i = 0; i < us->nrearm &&
         (!sticky || us->nsamp < us->budget / 2 + 1); i++) {
        /* hit blocks beyond the budget wait for the sweep: rotate */
        UsSample sm = us->rearm[(i + us->rearm_next) % us->nrearm];

        if (!us->watch[sm.block] || us->mark[sm.block] ||
            !us_resident(us, sm.off)) {
            continue;
        }
        us->mark[sm.block] = 1;
        sm.valid = true;
        sm.carry = sm.kept = false;
        us->samp[us->nsamp++] = sm;
    }
    us->rearm_next += i;
    nrearm_used = us->nsamp;
    kept = us->carry;
    for (i = 0; i < us->ncarry; i++) {
        uint64_t b = kept[i].block;

        /* remapped, unregistered or re-armed meanwhile: not ours now */
        if (!us->watch[b] || us->mark[b] ||
            (atomic_load_explicit(&us->st[b], memory_order_acquire) &
             ~US_STATE_MASK) != gen) {
            continue;
        }
        us->mark[b] = 1;
        kept[nkept++] = kept[i];
    }

    /* pick: k distinct watched blocks per region, a random chunk in each */
    for (i = 0; i < us->nreg; i++) {
        UsRegion *r = &us->reg[i];
        uint32_t j, t;

        r->nsamp = r->nhit = 0;
        for (j = 0; j < k && j < r->nr &&
             (!sticky || us->nsamp < us->budget); j++) {
            for (t = 0; t < 4; t++) {
                uint64_t b = r->start + us_rnd_below(us, r->nr);
                uint64_t off = (b << us->bs_shift) +
                    us_rnd_below(us, us->chunks_per_block) * us->chunk;

                if (!us->watch[b] || us->mark[b] ||
                    (sticky && !us_resident(us, off))) {
                    continue;
                }
                us->mark[b] = 1;
                us->samp[us->nsamp++] = (UsSample) {
                    .off = off, .block = b, .valid = true,
                };
                break;
            }
        }
    }
    /*
     * STICKY: what the regions left of the budget (max_regions * k new
     * chunks) sweeps the blocks that are not armed, in address order
     * from where the last sweep stopped: every block is watched within
     * a bounded number of intervals, and then stays watched while idle.
     */
    if (sticky) {
        uint64_t budget = us->budget > nrearm_used ?
            us->budget - nrearm_used : 0, steps = 0;
        uint32_t picks = us->nsamp - nrearm_used;

        /* bounded: at most 4 * budget residency checks */
        while (picks < budget && steps++ < us->nblocks &&
               steps <= 4 * budget) {
            uint64_t b = us->sweep;
            uint64_t off = (b << us->bs_shift) +
                us_rnd_below(us, us->chunks_per_block) * us->chunk;

            us->sweep = us->sweep + 1 < us->nblocks ? us->sweep + 1 : 0;
            if (!us->watch[b] || us->mark[b] || !us_resident(us, off)) {
                continue;
            }
            us->mark[b] = 1;
            us->samp[us->nsamp++] = (UsSample) {
                .off = off, .block = b, .valid = true,
            };
            picks++;
        }
    }
    nz = us->nsamp;
    /* address order: adjacent chunks zap (and map back) in one call */
    qsort(us->samp, nz, sizeof(*us->samp), us_cmp_off);
    for (i = 0; i < nkept; i++) {
        UsSample sm = kept[i];

        sm.kept = true;
        sm.carry = false;
        us->samp[us->nsamp++] = sm;
    }
    us->ncarry = us->nrearm = 0;
    for (i = 0; i < us->nsamp; i++) {
        us->samp[i].region = us_region_of(us, us->samp[i].block);
        us->mark[us->samp[i].block] = 0;
    }

    /* publish before zapping, so the very first fault finds it armed */
    for (i = 0; i < nz; i++) {
        atomic_store_explicit(&us->st[us->samp[i].block], gen | US_ARMED,
                              memory_order_release);
    }
    tm = us_zap_batched(us, nz);
    for (i = 0; i < nz && !us->o.batched;) {
        uint32_t j = i + 1;
        uint64_t t1;

        while (j < nz &&
               us->samp[j].off == us->samp[j - 1].off + us->chunk) {
            j++;
        }
        t1 = us_now_ns();
        /* drop the PTEs of adjacent chunks in one call; data stays */
        if (madvise(us->host + us->samp[i].off, (j - i) * us->chunk,
                    MADV_DONTNEED) < 0) {
            uint32_t q;

            us->o.madvise_errors++;
            for (q = i; q < j; q++) {
                us->samp[q].valid = false;
                atomic_store_explicit(&us->st[us->samp[q].block], 0,
                                      memory_order_release);
            }
        } else {
            us->o.armed += j - i;
        }
        tm += us_now_ns() - t1;
        us->o.madvise_calls++;
        i = j;
    }
    us->o.nr_armed = us->nsamp;
    us->armed_now = true;
    us->o.madvise_ns += tm;
    us->o.arm_ns += us_now_ns() - t0;
    (void)now_ns;
    return 0;
}

int sculpt_us_harvest(SculptUs *us, uint32_t *counts, uint8_t *sampled,
                      char *err, size_t errlen)
{
    uint64_t t0 = us_now_ns();
    uint32_t gen = us->gen << 2, next, i, w = us->cfg.ewma_permille;
    bool extra = us->cfg.flags & SCULPT_US_EXTRAPOLATE;
    bool sticky = us->cfg.flags & SCULPT_US_STICKY;
    uint32_t ncarry = 0;

    if (!us->armed_now) {
        sculpt_errf(err, errlen, "sampler: no interval is armed");
        return -EINVAL;
    }
    us_next_gen(us);
    next = us->gen << 2;
    us->gen_ready = true;

    /* 1. untouched chunks: keep up to max_armed armed (STICKY) ... */
    for (i = 0; i < us->nsamp; i++) {
        UsSample *sm = &us->samp[i];

        sm->carry = sticky && sm->valid &&
            ncarry < us->carry_cap && ncarry < 8 * us->budget + 8 &&
            atomic_load_explicit(&us->st[sm->block],
                                 memory_order_acquire) == (gen | US_ARMED);
        ncarry += sm->carry;
    }
    /* ... and map the others back (adjacent ones in one UFFDIO_CONTINUE) */
    for (i = 0; i < us->nsamp;) {
        uint32_t j;

        if (!us->samp[i].valid || us->samp[i].carry ||
            atomic_load_explicit(&us->st[us->samp[i].block],
                                 memory_order_acquire) != (gen | US_ARMED)) {
            i++;
            continue;
        }
        for (j = i + 1; j < us->nsamp && us->samp[j].valid &&
             !us->samp[j].carry &&
             us->samp[j].off == us->samp[j - 1].off + us->chunk &&
             atomic_load_explicit(&us->st[us->samp[j].block],
                                  memory_order_acquire) == (gen | US_ARMED);
             j++) {
            /* extend the run */
        }
        us_continue(us, (uint64_t)us->host + us->samp[i].off,
                    (uint64_t)(j - i) * us->chunk, 0, true);
        us->o.unarmed += j - i;
        i = j;
    }
    /* 2. faults queued before the un-arm still belong to this interval */
    us_drain(us);

    /* 3. close every sample (carried ones move to the next generation) */
    if (counts) {
        memset(counts, 0, us->nblocks * sizeof(*counts));
    }
    if (sampled) {
        memset(sampled, 0, us->nblocks);
    }
    for (i = 0; i < us->nsamp; i++) {
        UsSample *s = &us->samp[i];
        uint32_t old = gen | US_ARMED;
        bool hit;

        if (!s->valid) {
            continue;
        }
        if (s->carry &&
            atomic_compare_exchange_strong_explicit(&us->st[s->block], &old,
                next | US_ARMED, memory_order_acq_rel,
                memory_order_acquire)) {
            /* watched, untouched, still armed: it goes on watching */
            us->carry[us->ncarry++] = *s;
            us->o.carried++;
        } else {
            /* touched (or not carried): close it */
            old = atomic_exchange_explicit(&us->st[s->block], 0,
                                           memory_order_acq_rel);
            if ((old & ~US_STATE_MASK) != gen) {
                continue;       /* invalidated (remapped) meanwhile */
            }
        }
        hit = (old & US_STATE_MASK) == US_HIT;
        us->reg[s->region].nsamp++;
        if (hit) {
            us->reg[s->region].nhit++;
            if (sticky && us->nrearm < us->rearm_cap) {
                /* a hit block is watched again the next interval */
                us->rearm[us->nrearm++] = *s;
                us->o.rearmed++;
            }
        }
        if (!extra) {
            if (sampled) {
                sampled[s->block] = 1;
            }
            if (counts && hit) {
                counts[s->block]++;
            }
        }
    }

    /* 4. region scores (EWMA), and DAMON's extrapolated report */
    for (i = 0; i < us->nreg; i++) {
        UsRegion *r = &us->reg[i];
        uint32_t obs;
        uint64_t b;

        r->age++;
        if (!r->nsamp) {
            continue;
        }
        obs = r->nhit * 1000 / r->nsamp;
        r->score = r->observed ? (r->score * (1000 - w) + obs * w) / 1000 :
            obs;
        r->observed = true;
        if (extra) {
            for (b = r->start; b < r->start + r->nr; b++) {
                if (!us->watch[b]) {
                    continue;
                }
                if (sampled) {
                    sampled[b] = 1;
                }
                if (counts) {
                    counts[b] = r->nhit;
                }
            }
        }
    }
    us->armed_now = false;
    us->o.intervals++;
    us->o.harvest_ns += us_now_ns() - t0;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Introspection                                                           */

void sculpt_us_get_stats(SculptUs *us, SculptUsStats *st)
{
    *st = us->o;
    st->faults = us_get(&us->a.faults);
    st->hits = us_get(&us->a.hits);
    st->write_hits = us_get(&us->a.write_hits);
    st->stale_faults = us_get(&us->a.stale_faults);
    st->cont_calls = us_get(&us->a.cont_calls);
    st->cont_eexist = us_get(&us->a.cont_eexist);
    st->cont_efault = us_get(&us->a.cont_efault);
    st->cont_eagain = us_get(&us->a.cont_eagain);
    st->cont_errors = us_get(&us->a.cont_errors);
    st->wakes = us_get(&us->a.wakes);
    st->other_events = us_get(&us->a.other_events);
    st->handler_ns = us_get(&us->a.handler_ns);
    st->unarm_hits = us_get(&us->a.unarm_hits);
    st->nr_regions = us->nreg;
    st->handler_cpu_ns = us_fault_thread_cpu_ns(us);
}

void sculpt_us_estimate(SculptUs *us, int16_t *permille)
{
    uint32_t i;
    uint64_t b;

    for (i = 0; i < us->nreg; i++) {
        for (b = us->reg[i].start; b < us->reg[i].start + us->reg[i].nr;
             b++) {
            permille[b] = us->watch[b] ? (int16_t)us->reg[i].score : -1;
        }
    }
}

uint32_t sculpt_us_get_regions(SculptUs *us, SculptUsRegion *out,
                               uint32_t max)
{
    uint32_t i;

    for (i = 0; i < us->nreg && i < max; i++) {
        out[i] = (SculptUsRegion) {
            .start = us->reg[i].start, .nr = us->reg[i].nr,
            .score = us->reg[i].score, .age = us->reg[i].age,
        };
    }
    return us->nreg;
}

void sculpt_us_describe(SculptUs *us, char *buf, size_t len)
{
    size_t pos = 0;
    uint64_t b = 0, i;

#define US_PUT(...) do { \
        int n_ = snprintf(buf + pos, len > pos ? len - pos : 0, __VA_ARGS__); \
        if (n_ > 0) { \
            pos += n_; \
        } \
    } while (0)

    if (!len) {
        return;
    }
    buf[0] = '\0';
    while (b < us->nblocks) {
        uint64_t e = b;

        if (!us->watch[b]) {
            b++;
            continue;
        }
        while (e < us->nblocks && us->watch[e]) {
            e++;
        }
        US_PUT("watched [0x%" PRIx64 ", 0x%" PRIx64 ") %" PRIu64 " KiB\n",
               b << us->bs_shift, e << us->bs_shift,
               ((e - b) << us->bs_shift) >> 10);
        b = e;
    }
    for (i = 0; i < us->nskip; i++) {
        US_PUT("skipped [0x%" PRIx64 ", 0x%" PRIx64 "): %s\n",
               us->skip[i].off, us->skip[i].end, us->skip[i].why);
    }
#undef US_PUT
}
