/*
 * sculpt: moving guest RAM under userfaultfd write-protection
 *
 * See uffd-wp.h for the protocol.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "uffd-wp.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>

int sculpt_uffd_open(int fail_sys, int fail_dev, int *e_sys, int *e_dev)
{
    int fd, dev = -1;

    *e_sys = *e_dev = 0;
    if (fail_sys) {
        errno = fail_sys;
        fd = -1;
    } else {
        fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    }
    if (fd >= 0) {
        return fd;
    }
    *e_sys = errno;
    if (fail_dev) {
        errno = fail_dev;
    } else {
        dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    }
    if (dev < 0) {
        *e_dev = errno;
        return -1;
    }
    /* the device hands out a userfaultfd without the sysctl */
    fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    *e_dev = fd < 0 ? errno : 0;
    close(dev);
    return fd;
}

int sculpt_uffd_wp_open(char *err, size_t errlen)
{
    struct uffdio_api api = {
        .api = UFFD_API,
        .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
    };
    int fd, e_sys, e_dev, e;

    fd = sculpt_uffd_open(0, 0, &e_sys, &e_dev);
    if (fd < 0) {
        sculpt_errf(err, errlen, "userfaultfd unavailable: userfaultfd(2): "
                    "%s%s; /dev/userfaultfd: %s", strerror(e_sys),
                    e_sys == EPERM ? " (vm.unprivileged_userfaultfd=0: "
                    "needs CAP_SYS_PTRACE)" : "", strerror(e_dev));
        return -EPERM;
    }
    if (ioctl(fd, UFFDIO_API, &api) < 0 ||
        !(api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM) ||
        !(api.ioctls & (1ULL << _UFFDIO_REGISTER))) {
        e = errno;
        close(fd);
        sculpt_errf(err, errlen, "userfaultfd: UFFDIO_API with "
                    "UFFD_FEATURE_WP_HUGETLBFS_SHMEM: %s (needs Linux 5.19 "
                    "with CONFIG_PTE_MARKER_UFFD_WP)",
                    e ? strerror(e) : "not offered");
        return -ENOSYS;
    }
    return fd;
}

int sculpt_uffd_wp_register(int uffd, void *host, uint64_t len,
                            char *err, size_t errlen)
{
    struct uffdio_register reg = {
        .range = { .start = (uintptr_t)host, .len = len },
        .mode = UFFDIO_REGISTER_MODE_WP,
    };
    int e;

    if (ioctl(uffd, UFFDIO_REGISTER, &reg) == 0) {
        if (reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT)) {
            return 0;
        }
        e = EINVAL;     /* registered, but the range cannot be protected */
        ioctl(uffd, UFFDIO_UNREGISTER, &reg.range);
    } else {
        e = errno;
    }
    sculpt_errf(err, errlen, "UFFDIO_REGISTER WP of %p+0x%" PRIx64 ": %s%s",
                host, len, strerror(e), e == EBUSY ?
                " (another userfaultfd owns part of it)" : e == EINVAL ?
                " (not all shmem or hugetlbfs)" : "");
    return -e;
}

static int wp_set(int uffd, void *host, uint64_t len, bool wp)
{
    struct uffdio_writeprotect w = {
        .range = { .start = (uintptr_t)host, .len = len },
        .mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
    };

    /*
     * -EAGAIN: the mm is changing under it (an event of a userfaultfd that
     * asked for them, e.g. a fork, not read yet); give that a moment, up
     * to ~10 ms in all, rather than spin.
     */
    for (int tries = 0; tries < 100; tries++) {
        if (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) == 0) {
            return 0;
        }
        if (errno != EAGAIN) {
            break;
        }
        nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
    }
    return -errno;
}

int sculpt_uffd_wp_protect(int uffd, void *host, uint64_t len,
                           char *err, size_t errlen)
{
    int r = wp_set(uffd, host, len, true);

    if (r) {
        wp_set(uffd, host, len, false);
        sculpt_errf(err, errlen, "UFFDIO_WRITEPROTECT of %p+0x%" PRIx64
                    ": %s", host, len, strerror(-r));
    }
    return r;
}

uint64_t sculpt_uffd_wp_waiting(int uffd)
{
    struct uffd_msg m[16];
    uint64_t n = 0;
    ssize_t r;

    /* O_NONBLOCK: EAGAIN once nothing is pending */
    while ((r = read(uffd, m, sizeof(m))) > 0) {
        for (size_t i = 0; i < (size_t)r / sizeof(m[0]); i++) {
            n += m[i].event == UFFD_EVENT_PAGEFAULT;
        }
    }
    return n;
}

int sculpt_uffd_wp_end(int uffd, void *host, uint64_t len, bool remapped,
                       char *err, size_t errlen)
{
    struct uffdio_range range = { .start = (uintptr_t)host, .len = len };
    int r = 0;

    if (!remapped) {
        /*
         * Un-protecting wakes the writers; unregistering does it too.
         * -ENOENT: no longer registered, a failed move mapped the
         * sources back: nothing is protected there any more.
         */
        r = wp_set(uffd, host, len, false);
        r = r == -ENOENT ? 0 : r;
        if (ioctl(uffd, UFFDIO_UNREGISTER, &range) && errno != EINVAL &&
            !r) {
            r = -errno;
        }
        if (r) {
            sculpt_errf(err, errlen, "ending write-protection of %p+0x%"
                        PRIx64 ": %s", host, len, strerror(-r));
        }
    }
    /* after a remap the waiters only need this; else it does no harm */
    if (ioctl(uffd, UFFDIO_WAKE, &range) && !r) {
        r = -errno;
        sculpt_errf(err, errlen, "UFFDIO_WAKE of %p+0x%" PRIx64 ": %s",
                    host, len, strerror(-r));
    }
    return r;
}
