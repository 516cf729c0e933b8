/*
 * A minimal TAP harness shared by the standalone tests of sculpt's pure-C
 * modules (hostmem-test.c, uffd-sample-test.c): ok(), skip(), the closing
 * "N passed, N failed, N skipped" line, and a SIGBUS/SIGSEGV handler that
 * turns a faulting guest access into a failed test instead of a silent
 * crash.  Header-only: each test is one program.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef SCULPT_TESTS_TAP_H
#define SCULPT_TESTS_TAP_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

static int n_pass, n_fail, n_skip, n_test;

static void ok(bool cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ok(bool cond, const char *fmt, ...)
{
    va_list ap;

    n_test++;
    printf("%s %d - ", cond ? "ok" : "not ok", n_test);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (cond) {
        n_pass++;
    } else {
        n_fail++;
    }
}

static void skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void skip(const char *fmt, ...)
{
    va_list ap;

    n_test++;
    n_skip++;
    printf("ok %d # SKIP ", n_test);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    char msg[128];
    int len = snprintf(msg, sizeof(msg), "not ok - SIG%s at %p: a guest "
                       "access faulted\n", sig == SIGBUS ? "BUS" : "SEGV",
                       si->si_addr);

    if (write(2, msg, len) < 0) {
        /* nothing more to do */
    }
    _exit(2);
}

#endif /* SCULPT_TESTS_TAP_H */
