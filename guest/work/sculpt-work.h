/*
 * sculpt-work: guest workloads for qemu-sculpt tests and benchmarks
 *
 * Copyright (c) 2025 qemu-sculpt contributors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every workload prints machine-readable lines on stdout:
 *   SCULPT-RESULT name=<workload> key=value ...   one per workload (and child)
 *   SCULPT-PHASE, SCULPT-HOTSET, SCULPT-BUFFER, SCULPT-PROGRESS   details
 *   SCULPT-CHECK ok | SCULPT-CHECK FAIL <reason>  last line
 * Everything is deterministic given --seed; checksums of op-count-bound runs
 * match a native run of the same binary with the same arguments.
 */
#ifndef SCULPT_WORK_H
#define SCULPT_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MiB (1024ULL * 1024ULL)
#define PAGE_SIZE_4K 4096ULL

/*
 * The shared data pattern: the 8-byte word at word index @idx of a pattern
 * stream with seed @seed.  Used for guest RAM patterns and for the content
 * of the test disk (word index = byte offset / 8), written on the host by
 * "sculpt-work mkdisk" and verified in the guest by "blkcheck".
 */
static inline uint64_t sw_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t sw_pattern(uint64_t seed, uint64_t idx)
{
    return sw_mix64(seed * 0xd1b54a32d192ed03ULL + idx * 0x9e3779b97f4a7c15ULL
                    + 0x632be59bd9b4e019ULL);
}

/* splitmix64 generator */
typedef struct SwRng {
    uint64_t s;
} SwRng;

static inline uint64_t sw_rng_next(SwRng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return sw_mix64(r->s);
}

/* uniform in [0, n) (Lemire's multiply-shift, bias negligible here) */
static inline uint64_t sw_rng_below(SwRng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)sw_rng_next(r) * n) >> 64);
}

static inline double sw_rng_double(SwRng *r)
{
    return (sw_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Checksum: order-dependent fold of 64-bit values */
static inline uint64_t sw_fold(uint64_t sum, uint64_t v)
{
    return sw_mix64(sum ^ v) + 0x9e3779b97f4a7c15ULL;
}

uint64_t sw_now_ns(void);
double sw_secs_since(uint64_t t0);

/* Latency sampler: time 1 of every @every ops, keep up to a fixed cap. */
typedef struct SwLat {
    uint64_t *samples;
    size_t n;
    size_t cap;
    uint64_t every;
    uint64_t seen;      /* total samples offered (reservoir) */
    SwRng rng;
} SwLat;

void sw_lat_init(SwLat *l, uint64_t every);
void sw_lat_add(SwLat *l, uint64_t ns);
uint64_t sw_lat_pct(SwLat *l, double pct);
void sw_lat_free(SwLat *l);

/* Option parsing: --name VALUE or --name=VALUE */
typedef enum SwOptType {
    SW_OPT_U64,
    SW_OPT_DBL,
    SW_OPT_STR,
} SwOptType;

typedef struct SwOpt {
    const char *name;
    SwOptType type;
    void *p;
    const char *help;
} SwOpt;

int sw_parse_opts(const char *cmd, int argc, char **argv, const SwOpt *opts);

/* Memory */
void *sw_alloc(uint64_t bytes, bool lock, bool thp);
void sw_free(void *p, uint64_t bytes);

/* Result helpers */
void sw_check(int failures, const char *reason);

/* Memtest core shared by memtest and blkcheck */
typedef struct SwMemtestResult {
    uint64_t bytes_verified;
    uint64_t mismatches;
    uint64_t ops;
    uint64_t checksum;
    double secs;
    uint64_t p99_ns;
} SwMemtestResult;

int sw_memtest_continuous(uint64_t mib, uint64_t seed, double duration,
                          uint64_t chunk_kib, double progress,
                          uint64_t sample_every, SwMemtestResult *res);
void sw_memtest_print(const SwMemtestResult *r, uint64_t mib,
                      uint64_t chunk_kib, uint64_t seed);

/* Workload entry points */
int cmd_memtest(int argc, char **argv);
int cmd_blkcheck(int argc, char **argv);
int cmd_mkdisk(int argc, char **argv);
int cmd_hotset(int argc, char **argv);
int cmd_phases(int argc, char **argv);
int cmd_kvstore(int argc, char **argv);
int cmd_scanhot(int argc, char **argv);

#endif
