/*
 * sculpt-work: shared helpers and the multi-call entry point
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "sculpt-work.h"

#define LAT_CAP (1u << 18)

uint64_t sw_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

double sw_secs_since(uint64_t t0)
{
    return (sw_now_ns() - t0) / 1e9;
}

void sw_lat_init(SwLat *l, uint64_t every)
{
    memset(l, 0, sizeof(*l));
    l->every = every ? every : 1;
    l->cap = LAT_CAP;
    l->samples = malloc(l->cap * sizeof(uint64_t));
    l->rng.s = 0x5eed;
    if (!l->samples) {
        fprintf(stderr, "sculpt-work: out of memory for latency samples\n");
        exit(2);
    }
}

void sw_lat_add(SwLat *l, uint64_t ns)
{
    l->seen++;
    if (l->n < l->cap) {
        l->samples[l->n++] = ns;
    } else {
        /* reservoir sampling keeps the distribution of a long run */
        uint64_t j = sw_rng_below(&l->rng, l->seen);
        if (j < l->cap) {
            l->samples[j] = ns;
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

uint64_t sw_lat_pct(SwLat *l, double pct)
{
    size_t i;

    if (!l->n) {
        return 0;
    }
    qsort(l->samples, l->n, sizeof(uint64_t), cmp_u64);
    i = (size_t)(pct / 100.0 * (l->n - 1) + 0.5);
    return l->samples[i < l->n ? i : l->n - 1];
}

void sw_lat_free(SwLat *l)
{
    free(l->samples);
    l->samples = NULL;
}

static void usage_opts(const char *cmd, const SwOpt *opts)
{
    fprintf(stderr, "usage: sculpt-work %s [options]\n", cmd);
    for (; opts->name; opts++) {
        switch (opts->type) {
        case SW_OPT_U64:
            fprintf(stderr, "  --%-14s %s (default %llu)\n", opts->name,
                    opts->help, (unsigned long long)*(uint64_t *)opts->p);
            break;
        case SW_OPT_DBL:
            fprintf(stderr, "  --%-14s %s (default %g)\n", opts->name,
                    opts->help, *(double *)opts->p);
            break;
        case SW_OPT_STR:
            fprintf(stderr, "  --%-14s %s (default %s)\n", opts->name,
                    opts->help, *(const char **)opts->p);
            break;
        }
    }
}

int sw_parse_opts(const char *cmd, int argc, char **argv, const SwOpt *opts)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        const SwOpt *o;
        size_t len;
        char *end;

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_opts(cmd, opts);
            exit(0);
        }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "sculpt-work %s: unexpected argument '%s'\n",
                    cmd, a);
            usage_opts(cmd, opts);
            return -1;
        }
        a += 2;
        eq = strchr(a, '=');
        len = eq ? (size_t)(eq - a) : strlen(a);
        for (o = opts; o->name; o++) {
            if (strlen(o->name) == len && !strncmp(o->name, a, len)) {
                break;
            }
        }
        if (!o->name) {
            fprintf(stderr, "sculpt-work %s: unknown option '--%.*s'\n",
                    cmd, (int)len, a);
            usage_opts(cmd, opts);
            return -1;
        }
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "sculpt-work %s: option '--%s' needs a value\n",
                    cmd, o->name);
            return -1;
        }
        errno = 0;
        switch (o->type) {
        case SW_OPT_U64:
            *(uint64_t *)o->p = strtoull(val, &end, 0);
            break;
        case SW_OPT_DBL:
            *(double *)o->p = strtod(val, &end);
            break;
        case SW_OPT_STR:
            *(const char **)o->p = val;
            end = (char *)val + strlen(val);
            break;
        }
        if (errno || *end || !*val) {
            fprintf(stderr, "sculpt-work %s: bad value '%s' for '--%s'\n",
                    cmd, val, o->name);
            return -1;
        }
    }
    return 0;
}

void *sw_alloc(uint64_t bytes, bool lock, bool thp)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        printf("SCULPT-CHECK FAIL mmap of %llu bytes: %s\n",
               (unsigned long long)bytes, strerror(errno));
        exit(1);
    }
    if (thp) {
        madvise(p, bytes, MADV_HUGEPAGE);
    }
    if (lock && mlock(p, bytes)) {
        printf("SCULPT-CHECK FAIL mlock of %llu bytes: %s\n",
               (unsigned long long)bytes, strerror(errno));
        exit(1);
    }
    return p;
}

void sw_free(void *p, uint64_t bytes)
{
    munmap(p, bytes);
}

void sw_check(int failures, const char *reason)
{
    if (failures) {
        printf("SCULPT-CHECK FAIL %s\n", reason);
    } else {
        printf("SCULPT-CHECK ok\n");
    }
    fflush(stdout);
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "memtest", cmd_memtest, "write/verify patterns; --duration for "
      "continuous mode" },
    { "blkcheck", cmd_blkcheck, "verify a pattern disk in a loop, with "
      "memtest running concurrently" },
    { "mkdisk", cmd_mkdisk, "FILE MIB SEED: write the pattern disk "
      "(host side)" },
    { "hotset", cmd_hotset, "touch a known hot set, report its "
      "guest-physical ranges" },
    { "phases", cmd_phases, "phase-shifting random read-modify-writes" },
    { "kvstore", cmd_kvstore, "Zipf key-value store, get/put mix" },
    { "scanhot", cmd_scanhot, "sequential scan mixed with a hot set" },
};

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    size_t i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    base = base ? base + 1 : argv[0];
    if (!strcmp(base, "sculpt-work")) {
        argc--;
        argv++;
    }
    if (argc < 1) {
        fprintf(stderr, "usage: sculpt-work COMMAND [options]  "
                "(COMMAND --help for its options)\n");
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            fprintf(stderr, "  %-9s %s\n", commands[i].name, commands[i].help);
        }
        return 2;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(argv[0], commands[i].name)) {
            return commands[i].fn(argc, argv);
        }
    }
    fprintf(stderr, "sculpt-work: unknown command '%s'\n", argv[0]);
    return 2;
}
