/*
 * sculpt core: the C ABI.
 *
 * This is the only way QEMU (C) reaches the C++ core.  It follows leveldb's
 * c.h conventions: opaque handles, plain fixed-width integer types, and an
 * error out-parameter last (char **errptr), left untouched on success; on
 * failure *errptr receives a malloc()ed message the caller free()s.
 * No C++ exception ever crosses this boundary.
 *
 * The core is deterministic: time (now_ns arguments), host facts and random
 * seeds are inputs.  It never includes a QEMU header and never makes a
 * system call that touches guest memory.
 *
 * Thread safety: a sculpt_core_t is not internally locked; the caller
 * serialises all calls on one handle.
 */
#ifndef SCULPT_CORE_SCULPT_H
#define SCULPT_CORE_SCULPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCULPT_CORE_ABI_VERSION 1

/* Smallest and largest block sizes the core accepts (powers of two). */
#define SCULPT_MIN_BLOCK_SIZE (64ULL * 1024)
#define SCULPT_MAX_BLOCK_SIZE (1024ULL * 1024 * 1024)

/* Where a block's bytes live. */
typedef enum sculpt_tier {
    SCULPT_TIER_BASE = 0,   /* the VM's own memory backend (memfd) */
    SCULPT_TIER_HOT = 1,    /* the hot pool */
    SCULPT_TIER_COLD = 2,   /* the cold tier (file, far node or swap) */
    SCULPT_TIER__MAX = 3,
} sculpt_tier;

typedef struct sculpt_core sculpt_core_t;

typedef struct sculpt_core_config {
    uint64_t guest_bytes;   /* size of the guest RAM block, bytes */
    uint64_t block_size;    /* power of two, SCULPT_MIN..MAX_BLOCK_SIZE,
                             * divides guest_bytes */
    uint64_t seed;          /* randomness for sampling and the model */
} sculpt_core_config_t;

/* Version of the ABI the library was built with. */
int sculpt_core_abi_version(void);

/*
 * Validate @cfg without creating anything.  Returns 0 if valid, else -1 and
 * an explanation in *errptr (what is wrong and what would be right).
 */
int sculpt_core_config_check(const sculpt_core_config_t *cfg, char **errptr);

/* Create a core for one VM's RAM block; NULL and *errptr on bad config. */
sculpt_core_t *sculpt_core_new(const sculpt_core_config_t *cfg,
                               char **errptr);
void sculpt_core_free(sculpt_core_t *core);

uint64_t sculpt_core_block_count(const sculpt_core_t *core);
uint64_t sculpt_core_block_size(const sculpt_core_t *core);

/* Bytes of guest RAM currently placed in @tier (0 for an unknown tier). */
uint64_t sculpt_core_tier_bytes(const sculpt_core_t *core, sculpt_tier tier);

#ifdef __cplusplus
}
#endif

#endif /* SCULPT_CORE_SCULPT_H */
