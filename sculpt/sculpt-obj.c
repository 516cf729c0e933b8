/*
 * sculpt: the QOM object
 *
 *   -object memory-backend-memfd,id=ram0,size=1G,share=on
 *   -object sculpt,id=sc0,memdev=ram0,block-size=64K
 *
 * A sculpt object takes one memory-backend-memfd (share=on) and divides its
 * guest RAM into power-of-two blocks, the unit it tracks and moves.  It
 * checks every property against the backend, with an error that says what
 * is wrong and what would be right, and hands the block map to the C++ core.
 *
 * The memory backend is usually created after this object (QEMU creates
 * memory backends late), so for -object the backend is resolved when the
 * machine is ready; for object-add it is resolved at once.
 *
 * It must never write guest RAM behind QEMU's back, and never take guest
 * RAM it cannot give back intact.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "qapi/qmp/qerror.h"
#include "qemu/error-report.h"
#include "qapi/visitor.h"
#include "qom/object_interfaces.h"
#include "hw/qdev-core.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "system/system.h"
#include "system/qtest.h"
#include "sculpt-int.h"
#include "trace.h"

#define SCULPT_DEFAULT_BLOCK_SIZE (2 * MiB)
#define SCULPT_DEFAULT_MAX_PAUSE_US 1000
#define SCULPT_DEFAULT_INTERVAL_MS 1000
#define SCULPT_DEFAULT_MOVE_BANDWIDTH (1 * GiB)

SculptList sculpt_list = QTAILQ_HEAD_INITIALIZER(sculpt_list);

/*
 * Check @bs against the RAM it divides.  @size and @page_size are the
 * backend's; pass 0 for either when the backend is not known yet.
 */
static bool sculpt_check_block_size(uint64_t bs, uint64_t size,
                                    uint64_t page_size, const char *memdev,
                                    Error **errp)
{
    g_autofree char *bs_str = size_to_str(bs);

    if (bs < SCULPT_MIN_BLOCK_SIZE || bs > SCULPT_MAX_BLOCK_SIZE) {
        error_setg(errp, "block-size %s is out of range; it must be a power "
                   "of two from 64 KiB to 1 GiB", bs_str);
        return false;
    }
    if (!is_power_of_2(bs)) {
        uint64_t lo = pow2floor(bs);
        g_autofree char *lo_str = size_to_str(lo);
        g_autofree char *hi_str = size_to_str(lo * 2);

        error_setg(errp, "block-size %s is not a power of two; try %s or %s",
                   bs_str, lo_str, hi_str);
        return false;
    }
    if (page_size && bs % page_size) {
        g_autofree char *ps_str = size_to_str(page_size);

        error_setg(errp, "block-size %s is not a multiple of memory backend "
                   "'%s''s page size %s; use block-size=%s or larger",
                   bs_str, memdev, ps_str, ps_str);
        return false;
    }
    if (size && size % bs) {
        g_autofree char *size_str = size_to_str(size);
        /* The largest power of two dividing size, capped at bs. */
        uint64_t fit = MIN(size & -size, bs);
        g_autofree char *fit_str = size_to_str(fit);

        error_setg(errp, "block-size %s does not divide the size of memory "
                   "backend '%s' (%s); use a block size that does, such as "
                   "%s", bs_str, memdev, size_str, fit_str);
        return false;
    }
    return true;
}

static SculptState *sculpt_find_by_backend(HostMemoryBackend *backend)
{
    SculptState *s;

    QTAILQ_FOREACH(s, &sculpt_list, next) {
        if (s->backend == backend) {
            return s;
        }
    }
    return NULL;
}

static bool sculpt_pool_kind(const char *name, bool hot, SculptHmKind *kind,
                             Error **errp)
{
    static const struct {
        const char *name;
        bool hot;
        SculptHmKind kind;
    } kinds[] = {
        { "memfd", true, SCULPT_HM_MEMFD },
        { "thp", true, SCULPT_HM_THP },
        { "hugetlb", true, SCULPT_HM_HUGETLB },
        { "file", false, SCULPT_HM_COLD_FILE },
        { "numa", false, SCULPT_HM_NUMA },
        { "swap", false, SCULPT_HM_SWAP },
    };

    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (kinds[i].hot == hot && g_str_equal(kinds[i].name, name)) {
            *kind = kinds[i].kind;
            return true;
        }
    }
    error_setg(errp, hot ? "hot-pool '%s' is not one of none, memfd, thp, "
               "hugetlb" : "cold-tier '%s' is not one of none, file, numa, "
               "swap", name);
    return false;
}

/* Create one pool of @size bytes for @tier. */
static bool sculpt_create_pool(SculptState *s, sculpt_tier tier,
                               SculptHmKind kind, uint64_t size,
                               Error **errp)
{
    const char *id = object_get_canonical_path_component(OBJECT(s));
    g_autofree char *name = g_strdup_printf("sculpt-%s-%s", id,
                                            tier == SCULPT_TIER_HOT ? "hot" :
                                            "cold");
    SculptHmPoolConfig cfg = {
        .kind = kind,
        .block_size = s->block_size,
        .nr_slots = size / s->block_size,
        .name = name,
        .dir = s->cold_dir,
        .numa_node = s->cold_node,
        /* Auto mode counts every pool page against its budget. */
        .no_prefault = s->auto_on,
    };
    char err[256];
    char *cerr = NULL;

    if (!size || size % s->block_size) {
        error_setg(errp, "the %s tier's size must be a non-zero multiple of "
                   "block-size", tier == SCULPT_TIER_HOT ? "hot" : "cold");
        return false;
    }
    if (sculpt_hm_pool_create(&s->pools[tier], &cfg, err, sizeof(err))) {
        error_setg(errp, "%s", err);
        return false;
    }
    s->have_pool[tier] = true;
    if (s->auto_on) {
        s->pools[tier].recycle = false;     /* free slots give pages back */
    }
    if (sculpt_core_tier_set_capacity(s->core, tier, cfg.nr_slots, &cerr)) {
        error_setg(errp, "%s", cerr);
        free(cerr);
        return false;
    }
    return true;
}

/* Select the predictor; the core's error lists the valid names. */
static bool sculpt_apply_policy(SculptState *s, const char *name,
                                Error **errp)
{
    char *err = NULL;
    int ret;

    qemu_mutex_lock(&s->core_lock);
    ret = sculpt_core_set_policy(s->core, name, &err);
    qemu_mutex_unlock(&s->core_lock);
    if (ret) {
        error_setg(errp, "policy: %s", err);
        free(err);
        return false;
    }
    return true;
}

/*
 * Wrap the backend's memfd as the base tier and create the hot and cold
 * tiers the properties ask for.
 */
static bool sculpt_setup_tiers(SculptState *s, Error **errp)
{
    HostMemoryBackend *be = s->backend;
    uint64_t nblocks = s->size / s->block_size;
    SculptHmKind kind;
    char err[256];

    if (sculpt_hm_pool_wrap(&s->pools[SCULPT_TIER_BASE],
                            memory_region_get_fd(&be->mr), 0, nblocks,
                            s->block_size, err, sizeof(err))) {
        error_setg(errp, "%s", err);
        return false;
    }
    s->have_pool[SCULPT_TIER_BASE] = true;

    /* What QEMU set on the guest RAM mapping, re-applied after a remap. */
    s->attrs = (SculptHmVmaAttrs) {
        .mergeable = be->merge,
        .dontdump = !be->dump,
        .hugepage = true,           /* ram_block_add() always asks */
        .dontfork = !qtest_enabled(),
        .locked = should_mlock(mlock_state),
    };

    if (s->hot_pool && !g_str_equal(s->hot_pool, "none")) {
        if (!sculpt_pool_kind(s->hot_pool, true, &kind, errp) ||
            !sculpt_create_pool(s, SCULPT_TIER_HOT, kind,
                                s->hot_size ? s->hot_size :
                                QEMU_ALIGN_UP(s->size / 4, s->block_size),
                                errp)) {
            return false;
        }
        /* Huge pages can only be mapped at huge-page aligned addresses. */
        if ((uintptr_t)s->host % s->pools[SCULPT_TIER_HOT].page_size) {
            error_setg(errp, "hot-pool=%s needs guest RAM at a host address "
                       "aligned to %" PRIu64 " KiB, but memdev '%s' is "
                       "mapped at %p; use hot-pool=thp", s->hot_pool,
                       s->pools[SCULPT_TIER_HOT].page_size / KiB,
                       s->memdev_id, s->host);
            return false;
        }
    }
    if (s->cold_tier && !g_str_equal(s->cold_tier, "none")) {
        if (!sculpt_pool_kind(s->cold_tier, false, &kind, errp)) {
            return false;
        }
        if (should_mlock(mlock_state)) {
            error_setg(errp, "a cold tier cannot work with -overcommit "
                       "mem-lock=on: locked guest RAM is never paged out");
            return false;
        }
        if (kind == SCULPT_HM_COLD_FILE && !s->cold_dir) {
            error_setg(errp, "cold-tier=file needs cold-dir=DIR, a directory "
                       "on the disk that should hold cold blocks");
            return false;
        }
        if (!sculpt_create_pool(s, SCULPT_TIER_COLD, kind,
                                s->cold_size ? s->cold_size : s->size,
                                errp)) {
            return false;
        }
    }

    /*
     * Remapping guest RAM is only safe if nothing pins its pages or holds
     * its memfd offsets: this fails while VFIO, vDPA, iommufd, SEV or a
     * KVM without sync MMU is present, and keeps them away while we live.
     */
    if (ram_block_discard_require(true)) {
        error_setg(errp, "guest RAM is pinned by a device (VFIO, vDPA, "
                   "iommufd) or the accelerator, so sculpt cannot move it");
        return false;
    }
    s->discard_required = true;
    if (!sculpt_guard_attach(s, errp)) {
        return false;
    }
    sculpt_move_init(s);
    sculpt_discard_init();
    if (s->policy && !sculpt_apply_policy(s, s->policy, errp)) {
        return false;
    }
    if (s->auto_on) {
        if (!sculpt_auto_check(s, errp)) {
            return false;
        }
        s->track_on = true;
    }
    return sculpt_track_start(s, errp);
}

/* Undo sculpt_setup_tiers() and sculpt_attach().  Every block is at home. */
static void sculpt_teardown(SculptState *s)
{
    sculpt_track_stop(s);
    sculpt_move_cleanup(s);
    sculpt_guard_detach(s);
    for (int t = SCULPT_TIER__MAX - 1; t >= 0; t--) {
        if (s->have_pool[t]) {
            sculpt_hm_pool_destroy(&s->pools[t]);
            s->have_pool[t] = false;
        }
    }
    if (s->discard_required) {
        ram_block_discard_require(false);
        s->discard_required = false;
    }
    if (s->core) {
        sculpt_core_free(s->core);
        s->core = NULL;
    }
    if (s->backend) {
        object_unref(OBJECT(s->backend));
        s->backend = NULL;
    }
}

/*
 * Resolve the memory backend and check that sculpt can own it.
 * Main loop, BQL held.
 */
static bool sculpt_attach(SculptState *s, Error **errp)
{
    const char *id = object_get_canonical_path_component(OBJECT(s));
    Object *obj;
    HostMemoryBackend *backend;
    MemoryRegion *mr;
    RAMBlock *rb;
    SculptState *other;
    sculpt_core_config_t cfg;
    char *core_err = NULL;

    obj = object_resolve_path_component(object_get_objects_root(),
                                        s->memdev_id);
    if (!obj || !object_dynamic_cast(obj, TYPE_MEMORY_BACKEND)) {
        error_setg(errp, "sculpt '%s': memory backend '%s' not found; "
                   "create it with -object memory-backend-memfd,id=%s,"
                   "size=...,share=on", id, s->memdev_id, s->memdev_id);
        return false;
    }
    backend = MEMORY_BACKEND(obj);
    if (!object_dynamic_cast(obj, TYPE_MEMORY_BACKEND_MEMFD)) {
        error_setg(errp, "sculpt '%s': memory backend '%s' is a %s; sculpt "
                   "needs a memory-backend-memfd with share=on",
                   id, s->memdev_id, object_get_typename(obj));
        return false;
    }
    if (!host_memory_backend_mr_inited(backend)) {
        error_setg(errp, "sculpt '%s': memory backend '%s' has no memory "
                   "yet", id, s->memdev_id);
        return false;
    }
    mr = host_memory_backend_get_memory(backend);
    rb = mr->ram_block;
    if (!rb || !qemu_ram_is_shared(rb)) {
        error_setg(errp, "sculpt '%s': memory backend '%s' has share=off; "
                   "sculpt needs share=on, because it remaps the backend's "
                   "memfd", id, s->memdev_id);
        return false;
    }
    if (memory_region_has_ram_discard_manager(mr)) {
        error_setg(errp, "sculpt '%s': memory backend '%s' is managed by "
                   "virtio-mem, which sculpt cannot share memory with",
                   id, s->memdev_id);
        return false;
    }
    if (memory_region_has_guest_memfd(mr)) {
        error_setg(errp, "sculpt '%s': memory backend '%s' uses guest_memfd "
                   "(confidential guests), which sculpt cannot remap",
                   id, s->memdev_id);
        return false;
    }
    other = sculpt_find_by_backend(backend);
    if (other) {
        error_setg(errp, "sculpt '%s': memory backend '%s' is already "
                   "sculpted by '%s'", id, s->memdev_id,
                   object_get_canonical_path_component(OBJECT(other)));
        return false;
    }
    if (!sculpt_check_block_size(s->block_size, memory_region_size(mr),
                                 qemu_ram_pagesize(rb), s->memdev_id, errp)) {
        error_prepend(errp, "sculpt '%s': ", id);
        return false;
    }

    cfg = (sculpt_core_config_t) {
        .guest_bytes = memory_region_size(mr),
        .block_size = s->block_size,
        .seed = 0x5c01d7ULL,
    };
    s->core = sculpt_core_new(&cfg, &core_err);
    if (!s->core) {
        error_setg(errp, "sculpt '%s': %s", id, core_err);
        free(core_err);
        return false;
    }
    s->backend = backend;
    object_ref(OBJECT(backend));
    s->rb = rb;
    s->host = memory_region_get_ram_ptr(mr);
    s->size = memory_region_size(mr);
    if (!sculpt_setup_tiers(s, errp)) {
        error_prepend(errp, "sculpt '%s': ", id);
        sculpt_teardown(s);
        return false;
    }
    trace_sculpt_attach(id, s->memdev_id, s->size, s->block_size,
                        sculpt_core_block_count(s->core));
    return true;
}

static void sculpt_machine_done(Notifier *n, void *unused)
{
    SculptState *s = container_of(n, SculptState, machine_done);
    Error *err = NULL;

    s->attach_pending = false;
    qemu_remove_machine_init_done_notifier(&s->machine_done);
    /* A bad -object on the command line stops QEMU, as at parse time. */
    if (!sculpt_attach(s, &err)) {
        error_report_err(err);
        exit(1);
    }
}

static void sculpt_complete(UserCreatable *uc, Error **errp)
{
    SculptState *s = SCULPT(uc);

    if (!s->memdev_id) {
        error_setg(errp, "sculpt: property 'memdev' is required; name a "
                   "memory-backend-memfd with share=on");
        return;
    }
    /* What can be checked without the backend, is checked now. */
    if (!sculpt_check_block_size(s->block_size, 0, 0, s->memdev_id, errp)) {
        error_prepend(errp, "sculpt '%s': ",
                      object_get_canonical_path_component(OBJECT(s)));
        return;
    }
    if (phase_check(PHASE_MACHINE_READY)) {
        if (!sculpt_attach(s, errp)) {
            return;
        }
    } else {
        /* -object: memory backends are created after us. */
        s->machine_done.notify = sculpt_machine_done;
        s->attach_pending = true;
        qemu_add_machine_init_done_notifier(&s->machine_done);
    }
    QTAILQ_INSERT_TAIL(&sculpt_list, s, next);
}

static bool sculpt_can_be_deleted(UserCreatable *uc)
{
    SculptState *s = SCULPT(uc);

    /* Only once every block is back in its backend. */
    return !s->op && !sculpt_is_sculpted(s);
}

/* Properties only change before the object is attached. */
static bool sculpt_check_settable(Object *obj, const char *name, Error **errp)
{
    SculptState *s = SCULPT(obj);

    if (sculpt_attached(s) || s->attach_pending) {
        error_setg(errp, "sculpt: '%s' cannot change once created", name);
        return false;
    }
    return true;
}

/* Size properties: @opaque is the field's offset in SculptState. */
static void sculpt_get_size(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    uint64_t *field = (void *)((char *)obj + (uintptr_t)opaque);
    uint64_t value = *field;

    visit_type_size(v, name, &value, errp);
}

static void sculpt_set_size(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    uint64_t *field = (void *)((char *)obj + (uintptr_t)opaque);
    uint64_t value;

    if (sculpt_check_settable(obj, name, errp) &&
        visit_type_size(v, name, &value, errp)) {
        *field = value;
    }
}

static void sculpt_get_u32(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    uint32_t *field = (void *)((char *)obj + (uintptr_t)opaque);
    uint32_t value = *field;

    visit_type_uint32(v, name, &value, errp);
}

static void sculpt_set_u32(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    uint32_t *field = (void *)((char *)obj + (uintptr_t)opaque);
    uint32_t value;

    if (sculpt_check_settable(obj, name, errp) &&
        visit_type_uint32(v, name, &value, errp)) {
        *field = value;
    }
}

/* String properties, by field offset. */
#define SCULPT_STR_PROP(field, prop)                                            \
static char *sculpt_get_##field(Object *obj, Error **errp)                  \
{                                                                           \
    return g_strdup(SCULPT(obj)->field);                                    \
}                                                                           \
static void sculpt_set_##field(Object *obj, const char *v, Error **errp)    \
{                                                                           \
    if (sculpt_check_settable(obj, prop, errp)) {                           \
        g_free(SCULPT(obj)->field);                                         \
        SCULPT(obj)->field = g_strdup(v);                                   \
    }                                                                       \
}

SCULPT_STR_PROP(memdev_id, "memdev")
SCULPT_STR_PROP(hot_pool, "hot-pool")
SCULPT_STR_PROP(cold_tier, "cold-tier")
SCULPT_STR_PROP(cold_dir, "cold-dir")
SCULPT_STR_PROP(trace_file, "trace-file")

static bool sculpt_get_access_sampling(Object *obj, Error **errp)
{
    return SCULPT(obj)->access_sampling;
}

static void sculpt_set_access_sampling(Object *obj, bool value, Error **errp)
{
    if (sculpt_check_settable(obj, "access-sampling", errp)) {
        SCULPT(obj)->access_sampling = value;
    }
}

static bool sculpt_get_track(Object *obj, Error **errp)
{
    return SCULPT(obj)->track_on;
}

static void sculpt_set_track(Object *obj, bool value, Error **errp)
{
    if (sculpt_check_settable(obj, "track", errp)) {
        SCULPT(obj)->track_on = value;
    }
}

/*
 * x-fault-inject=SYSCALL:N[:ERRNO] makes the Nth next mmap, fallocate,
 * madvise, mbind or mremap of the mover fail (default ERRNO: ENOMEM), to test
 * that a failed move loses nothing.  Settable at any time; tests only.
 */
static void sculpt_set_fault_inject(Object *obj, const char *value,
                                    Error **errp)
{
    static const char *const names[SCULPT_HM_SYS__MAX] = {
        [SCULPT_HM_SYS_MMAP] = "mmap",
        [SCULPT_HM_SYS_FALLOCATE] = "fallocate",
        [SCULPT_HM_SYS_MADVISE] = "madvise",
        [SCULPT_HM_SYS_MBIND] = "mbind",
        [SCULPT_HM_SYS_MREMAP] = "mremap",
    };
    g_auto(GStrv) f = g_strsplit(value, ":", 3);
    uint64_t nth = 0, err = ENOMEM;

    for (int sc = 0; sc < SCULPT_HM_SYS__MAX; sc++) {
        if (f[0] && g_str_equal(f[0], names[sc]) && f[1] &&
            !qemu_strtou64(f[1], NULL, 10, &nth) && nth <= UINT_MAX &&
            (!f[2] || !qemu_strtou64(f[2], NULL, 10, &err))) {
            sculpt_hm_inject_fail(sc, nth, err);
            return;
        }
    }
    error_setg(errp, "x-fault-inject wants SYSCALL:N[:ERRNO] with SYSCALL "
               "one of mmap, fallocate, madvise, mbind, mremap");
}

/*
 * Auto mode and its knobs change at any time (qom-set).  Turning auto on
 * in a running VM starts tracking if it was off.
 */
static bool sculpt_get_auto(Object *obj, Error **errp)
{
    return qatomic_read(&SCULPT(obj)->auto_on);
}

static void sculpt_set_auto(Object *obj, bool value, Error **errp)
{
    SculptState *s = SCULPT(obj);

    if (value && sculpt_attached(s)) {
        if (!sculpt_auto_check(s, errp)) {
            return;
        }
        if (!s->track) {
            s->track_on = true;
            if (!sculpt_track_start(s, errp)) {
                s->track_on = false;
                return;
            }
        }
    }
    qatomic_set(&s->auto_on, value);
}

static void sculpt_get_live_size(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    uint64_t *field = (void *)((char *)obj + (uintptr_t)opaque);
    uint64_t value = qatomic_read(field);

    visit_type_size(v, name, &value, errp);
}

static void sculpt_set_live_size(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    uint64_t *field = (void *)((char *)obj + (uintptr_t)opaque);
    uint64_t value;

    if (visit_type_size(v, name, &value, errp)) {
        qatomic_set(field, value);
    }
}

static char *sculpt_get_policy(Object *obj, Error **errp)
{
    SculptState *s = SCULPT(obj);

    if (sculpt_attached(s)) {
        const char *name;

        qemu_mutex_lock(&s->core_lock);
        name = sculpt_core_policy(s->core);
        qemu_mutex_unlock(&s->core_lock);
        return g_strdup(name);
    }
    return g_strdup(s->policy ? s->policy : "guarded");
}

static void sculpt_set_policy(Object *obj, const char *value, Error **errp)
{
    SculptState *s = SCULPT(obj);

    if (sculpt_attached(s) && !sculpt_apply_policy(s, value, errp)) {
        return;
    }
    g_free(s->policy);
    s->policy = g_strdup(value);
}

static bool sculpt_get_hot_lock(Object *obj, Error **errp)
{
    return SCULPT(obj)->hot_lock;
}

static void sculpt_set_hot_lock(Object *obj, bool value, Error **errp)
{
    if (sculpt_check_settable(obj, "hot-lock", errp)) {
        SCULPT(obj)->hot_lock = value;
    }
}

/*
 * x-transfer false (qom-set, at any time; it is not in the QAPI schema,
 * so not an -object option) makes moves map their destination afresh
 * (MAP_FIXED) and the guest fault it in, as before SCULPT_HM_TRANSFER:
 * for comparisons.
 */
static bool sculpt_get_transfer(Object *obj, Error **errp)
{
    return SCULPT(obj)->transfer;
}

static void sculpt_set_transfer(Object *obj, bool value, Error **errp)
{
    SCULPT(obj)->transfer = value;
}

/*
 * move-protocol: "write-protect" or "pause"; settable at any time, the
 * next batch of moves follows it (sculpt-move.c).
 */
static char *sculpt_get_move_protocol(Object *obj, Error **errp)
{
    return g_strdup(SCULPT(obj)->wp_moves ? "write-protect" : "pause");
}

static void sculpt_set_move_protocol(Object *obj, const char *v,
                                     Error **errp)
{
    if (!g_str_equal(v, "write-protect") && !g_str_equal(v, "pause")) {
        error_setg(errp, QERR_INVALID_PARAMETER_VALUE, "move-protocol",
                   "'write-protect' or 'pause'");
        return;
    }
    SCULPT(obj)->wp_moves = g_str_equal(v, "write-protect");
}

static void sculpt_instance_init(Object *obj)
{
    SculptState *s = SCULPT(obj);

    s->block_size = SCULPT_DEFAULT_BLOCK_SIZE;
    s->max_pause_us = SCULPT_DEFAULT_MAX_PAUSE_US;
    s->interval_ms = SCULPT_DEFAULT_INTERVAL_MS;
    s->track_duty = 100;
    s->sampling_cpu = 5;
    s->move_bandwidth = SCULPT_DEFAULT_MOVE_BANDWIDTH;
    s->transfer = true;
    s->wp_moves = true;
    s->wp_uffd = -1;
    qemu_mutex_init(&s->core_lock);
    qemu_mutex_init(&s->mm_lock);
}

static void sculpt_instance_finalize(Object *obj)
{
    SculptState *s = SCULPT(obj);

    if (s->attach_pending) {
        qemu_remove_machine_init_done_notifier(&s->machine_done);
    }
    if (QTAILQ_IN_USE(s, next)) {
        QTAILQ_REMOVE(&sculpt_list, s, next);
    }
    if (s->core) {
        trace_sculpt_detach(object_get_canonical_path_component(obj));
    }
    sculpt_teardown(s);
    g_free(s->memdev_id);
    g_free(s->hot_pool);
    g_free(s->cold_tier);
    g_free(s->cold_dir);
    g_free(s->trace_file);
    g_free(s->policy);
    qemu_mutex_destroy(&s->core_lock);
    qemu_mutex_destroy(&s->mm_lock);
}

static void sculpt_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = sculpt_complete;
    ucc->can_be_deleted = sculpt_can_be_deleted;

    object_class_property_add_str(oc, "memdev", sculpt_get_memdev_id,
                                  sculpt_set_memdev_id);
    object_class_property_set_description(oc, "memdev",
        "id of the memory-backend-memfd (share=on) to sculpt");
    object_class_property_add(oc, "block-size", "size", sculpt_get_size,
                              sculpt_set_size, NULL,
                              (void *)offsetof(SculptState, block_size));
    object_class_property_set_description(oc, "block-size",
        "unit of tracking and moves: a power of two from 64K to 1G that "
        "divides the backend size");
    object_class_property_add_str(oc, "hot-pool", sculpt_get_hot_pool,
                                  sculpt_set_hot_pool);
    object_class_property_set_description(oc, "hot-pool",
        "hot pool backing: none, memfd, thp or hugetlb");
    object_class_property_add(oc, "hot-size", "size", sculpt_get_size,
                              sculpt_set_size, NULL,
                              (void *)offsetof(SculptState, hot_size));
    object_class_property_set_description(oc, "hot-size",
        "size of the hot pool (default: a quarter of the RAM)");
    object_class_property_add_bool(oc, "hot-lock", sculpt_get_hot_lock,
                                   sculpt_set_hot_lock);
    object_class_property_set_description(oc, "hot-lock",
        "lock the hot pool in memory");
    object_class_property_add_str(oc, "cold-tier", sculpt_get_cold_tier,
                                  sculpt_set_cold_tier);
    object_class_property_set_description(oc, "cold-tier",
        "cold tier: none, file, numa or swap");
    object_class_property_add_str(oc, "cold-dir", sculpt_get_cold_dir,
                                  sculpt_set_cold_dir);
    object_class_property_set_description(oc, "cold-dir",
        "directory of the cold tier's file");
    object_class_property_add(oc, "cold-node", "uint32", sculpt_get_u32,
                              sculpt_set_u32, NULL,
                              (void *)offsetof(SculptState, cold_node));
    object_class_property_set_description(oc, "cold-node",
        "NUMA node of the numa cold tier");
    object_class_property_add(oc, "cold-size", "size", sculpt_get_size,
                              sculpt_set_size, NULL,
                              (void *)offsetof(SculptState, cold_size));
    object_class_property_set_description(oc, "cold-size",
        "size of the cold tier (default: the RAM size)");
    object_class_property_add_bool(oc, "track", sculpt_get_track,
                                   sculpt_set_track);
    object_class_property_set_description(oc, "track",
        "track which blocks are used and predict (default off)");
    object_class_property_add_bool(oc, "access-sampling",
                                   sculpt_get_access_sampling,
                                   sculpt_set_access_sampling);
    object_class_property_set_description(oc, "access-sampling",
        "with track=on, also sample reads through userfaultfd (default off)");
    object_class_property_add(oc, "interval", "uint32", sculpt_get_u32,
                              sculpt_set_u32, NULL,
                              (void *)offsetof(SculptState, interval_ms));
    object_class_property_set_description(oc, "interval",
        "tracking interval, milliseconds (default 1000)");
    object_class_property_add(oc, "access-sampling-cpu", "uint32",
                              sculpt_get_u32, sculpt_set_u32, NULL,
                              (void *)offsetof(SculptState, sampling_cpu));
    object_class_property_set_description(oc, "access-sampling-cpu",
        "percent of one host core read sampling may use: fault thread and "
        "arming (default 5)");
    object_class_property_add(oc, "track-duty", "uint32", sculpt_get_u32,
                              sculpt_set_u32, NULL,
                              (void *)offsetof(SculptState, track_duty));
    object_class_property_set_description(oc, "track-duty",
        "percent of each interval the dirty log is on (default 100)");
    object_class_property_add_str(oc, "trace-file", sculpt_get_trace_file,
                                  sculpt_set_trace_file);
    object_class_property_set_description(oc, "trace-file",
        "record every tracking interval to this file (sculpt-replay format)");
    object_class_property_add_str(oc, "policy", sculpt_get_policy,
                                  sculpt_set_policy);
    object_class_property_set_description(oc, "policy",
        "predictor: guarded, learned+prefetch, learned, recency or ewma "
        "(default guarded; changes at run time)");
    object_class_property_add_bool(oc, "auto", sculpt_get_auto,
                                   sculpt_set_auto);
    object_class_property_set_description(oc, "auto",
        "keep the guest RAM's DRAM use under fast-budget by itself "
        "(default off; changes at run time)");
    object_class_property_add(oc, "fast-budget", "size",
                              sculpt_get_live_size, sculpt_set_live_size,
                              NULL, (void *)offsetof(SculptState,
                                                     fast_budget));
    object_class_property_set_description(oc, "fast-budget",
        "DRAM the guest RAM may use in auto mode (changes at run time)");
    object_class_property_add(oc, "move-bandwidth", "size",
                              sculpt_get_live_size, sculpt_set_live_size,
                              NULL, (void *)offsetof(SculptState,
                                                     move_bandwidth));
    object_class_property_set_description(oc, "move-bandwidth",
        "bytes per second auto mode may copy or prefetch (default 1G)");
    object_class_property_add_bool(oc, "x-transfer", sculpt_get_transfer,
                                   sculpt_set_transfer);
    object_class_property_set_description(oc, "x-transfer",
        "moves hand the copy's page tables to the guest (mremap) instead "
        "of mapping afresh (default on; off only to compare)");
    object_class_property_add_str(oc, "x-fault-inject", NULL,
                                  sculpt_set_fault_inject);
    object_class_property_set_description(oc, "x-fault-inject",
        "tests only: SYSCALL:N[:ERRNO] fails the Nth next mover syscall");
    object_class_property_add(oc, "max-pause", "uint32", sculpt_get_u32,
                              sculpt_set_u32, NULL,
                              (void *)offsetof(SculptState, max_pause_us));
    object_class_property_set_description(oc, "max-pause",
        "longest vCPU pause of one batch of moves, microseconds");
    object_class_property_add_str(oc, "move-protocol",
                                  sculpt_get_move_protocol,
                                  sculpt_set_move_protocol);
    object_class_property_set_description(oc, "move-protocol",
        "write-protect (moves from shmem or hugetlbfs run with the vCPUs "
        "running, writes to the blocks moving wait) or pause");
}

static const TypeInfo sculpt_info = {
    .name = TYPE_SCULPT,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(SculptState),
    .instance_init = sculpt_instance_init,
    .instance_finalize = sculpt_instance_finalize,
    .class_init = sculpt_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void sculpt_register_types(void)
{
    type_register_static(&sculpt_info);
}

type_init(sculpt_register_types);
