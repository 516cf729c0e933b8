/*
 * Helpers shared by the C benchmarks under bench/ (header only).
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */
#ifndef SCULPT_BENCH_UTIL_H
#define SCULPT_BENCH_UTIL_H

#include <time.h>

/* CLOCK_MONOTONIC in milliseconds */
static inline double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* qsort() comparator for doubles, ascending */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

#endif
