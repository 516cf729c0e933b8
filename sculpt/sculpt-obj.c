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
#include "qapi/visitor.h"
#include "qom/object_interfaces.h"
#include "hw/qdev-core.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "system/system.h"
#include "sculpt-int.h"
#include "trace.h"

#define SCULPT_DEFAULT_BLOCK_SIZE (2 * MiB)

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
    trace_sculpt_attach(id, s->memdev_id, s->size, s->block_size,
                        sculpt_core_block_count(s->core));
    return true;
}

static void sculpt_machine_done(Notifier *n, void *unused)
{
    SculptState *s = container_of(n, SculptState, machine_done);

    s->attach_pending = false;
    qemu_remove_machine_init_done_notifier(&s->machine_done);
    /* A bad -object on the command line stops QEMU, as at parse time. */
    sculpt_attach(s, &error_fatal);
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
    /* Nothing is moved yet, so every block is still in its backend. */
    return true;
}

static char *sculpt_get_memdev(Object *obj, Error **errp)
{
    return g_strdup(SCULPT(obj)->memdev_id);
}

static void sculpt_set_memdev(Object *obj, const char *value, Error **errp)
{
    SculptState *s = SCULPT(obj);

    if (sculpt_attached(s) || s->attach_pending) {
        error_setg(errp, "sculpt: 'memdev' cannot change once created");
        return;
    }
    g_free(s->memdev_id);
    s->memdev_id = g_strdup(value);
}

static void sculpt_get_block_size(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    uint64_t value = SCULPT(obj)->block_size;

    visit_type_size(v, name, &value, errp);
}

static void sculpt_set_block_size(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    SculptState *s = SCULPT(obj);
    uint64_t value;

    if (sculpt_attached(s) || s->attach_pending) {
        error_setg(errp, "sculpt: 'block-size' cannot change once created");
        return;
    }
    if (!visit_type_size(v, name, &value, errp)) {
        return;
    }
    s->block_size = value;
}

static void sculpt_instance_init(Object *obj)
{
    SCULPT(obj)->block_size = SCULPT_DEFAULT_BLOCK_SIZE;
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
        sculpt_core_free(s->core);
        s->core = NULL;
    }
    if (s->backend) {
        object_unref(OBJECT(s->backend));
        s->backend = NULL;
    }
    g_free(s->memdev_id);
}

static void sculpt_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = sculpt_complete;
    ucc->can_be_deleted = sculpt_can_be_deleted;

    object_class_property_add_str(oc, "memdev", sculpt_get_memdev,
                                  sculpt_set_memdev);
    object_class_property_set_description(oc, "memdev",
        "id of the memory-backend-memfd (share=on) to sculpt");
    object_class_property_add(oc, "block-size", "size",
                              sculpt_get_block_size, sculpt_set_block_size,
                              NULL, NULL);
    object_class_property_set_description(oc, "block-size",
        "unit of tracking and moves: a power of two from 64K to 1G that "
        "divides the backend size");
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
