/*
 * sculpt: moving guest RAM under userfaultfd write-protection
 *
 * Pure POSIX/Linux C (gnu11), no QEMU headers: it builds inside QEMU's
 * system_ss and on its own with "cc" (sculpt/tests/).
 *
 * The protocol (docs/system/sculpt.rst, "moving without a pause"):
 *   1. register the run's guest range with a userfaultfd in WP mode
 *      (sculpt_uffd_wp_register());
 *   2. with no DMA in flight into it (QEMU: block I/O drained), write-
 *      protect it (sculpt_uffd_wp_protect()).  From then on every write
 *      into the range, by a vCPU, a device model, an I/O thread or the
 *      kernel on QEMU's behalf (a read(2) into guest RAM), waits in the
 *      kernel; reads go on;
 *   3. copy, remap the range onto the destination with mmap(MAP_FIXED)
 *      (which drops the registration and the protection with the old
 *      mapping), then wake the waiting writers (sculpt_uffd_wp_end()):
 *      each retries its fault on the new mapping, so its write lands in
 *      the destination.  A run that was not remapped is un-protected
 *      and unregistered instead: the writes land where they were.
 *   Nobody reads the fault messages to resolve them: the waiters only
 *   need the wake.  sculpt_uffd_wp_waiting() counts them, for the stats.
 *
 * Only shmem and hugetlbfs mappings can be write-protected this way
 * (UFFD_FEATURE_WP_HUGETLBFS_SHMEM, Linux 5.19; anonymous memory too, but
 * guest RAM is never anonymous here).  A cold file on ext4/xfs cannot:
 * runs whose sources live there are moved inside a vCPU pause.  Pages
 * without a page-table entry are protected too (shmem installs a marker),
 * so a first write to a hole waits like any other.
 *
 * Errors: functions return 0 or a negative errno and, when err is not
 * NULL, write a message naming the ioctl, its range and the reason.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef SCULPT_UFFD_WP_H
#define SCULPT_UFFD_WP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A userfaultfd (O_CLOEXEC | O_NONBLOCK): userfaultfd(2), else a new one
 * from /dev/userfaultfd (no sysctl needed).  Never UFFD_USER_MODE_ONLY:
 * the kernel's and KVM's own accesses to guest RAM must wait too (with
 * it they fail with EFAULT).  fail_sys / fail_dev: an errno to pretend
 * for either way (tests only; 0: the real calls).  Returns the fd, or -1
 * with *e_sys and *e_dev set to each way's errno (0: not tried).
 */
int sculpt_uffd_open(int fail_sys, int fail_dev, int *e_sys, int *e_dev);

/*
 * A userfaultfd able to write-protect shmem and hugetlbfs mappings:
 * the fd, or -errno with a message (-ENOSYS: the kernel cannot).
 */
int sculpt_uffd_wp_open(char *err, size_t errlen);

/*
 * Register [host, host + len) in WP mode.  -EBUSY: another userfaultfd
 * owns part of it (unregister it there first); -EINVAL: part of it is
 * neither shmem nor hugetlbfs (a cold file).  On failure nothing of the
 * range stays registered with @uffd.
 */
int sculpt_uffd_wp_register(int uffd, void *host, uint64_t len,
                            char *err, size_t errlen);

/*
 * Write-protect the registered range; on return every CPU sees it
 * read-only.  On failure it is un-protected again (but stays registered).
 */
int sculpt_uffd_wp_protect(int uffd, void *host, uint64_t len,
                           char *err, size_t errlen);

/*
 * How many writes into protected ranges are waiting now: reads (and so
 * consumes) the pending fault messages.  Writers stay asleep until
 * sculpt_uffd_wp_end().
 */
uint64_t sculpt_uffd_wp_waiting(int uffd);

/*
 * Let the writes of [host, host + len) go on.  @remapped: the range was
 * replaced by mmap(MAP_FIXED) since it was protected (its registration
 * went with the old mapping): wake the writers, who fault again on the
 * new one.  Else un-protect it (which wakes them) and unregister it.
 * Never leaves a writer waiting: if un-protecting fails, it wakes them
 * anyway and reports the error (they then fault again and wait for the
 * next call for this range).
 */
int sculpt_uffd_wp_end(int uffd, void *host, uint64_t len, bool remapped,
                       char *err, size_t errlen);

#endif /* SCULPT_UFFD_WP_H */
