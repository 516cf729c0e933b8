/*
 * sculpt: state shared by the files of the subsystem
 *
 * The sculpt object (sculpt-obj.c) owns one memory backend's guest RAM
 * and the C++ core that models it; the monitor (sculpt-qmp.c) reads it.
 * Nothing outside sculpt/ includes this header.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef SCULPT_INT_H
#define SCULPT_INT_H

#include "qemu/queue.h"
#include "qemu/notify.h"
#include "qom/object.h"
#include "system/hostmem.h"
#include "sculpt/sculpt.h"          /* the C++ core's C ABI */

#define TYPE_SCULPT "sculpt"
OBJECT_DECLARE_SIMPLE_TYPE(SculptState, SCULPT)

struct SculptState {
    Object parent_obj;

    /* Properties */
    char *memdev_id;
    uint64_t block_size;

    /* Set once attached to the backend (sculpt_attach()) */
    HostMemoryBackend *backend;     /* holds a reference */
    RAMBlock *rb;
    uint8_t *host;                  /* host address of guest RAM */
    uint64_t size;                  /* bytes of guest RAM */
    sculpt_core_t *core;

    Notifier machine_done;
    bool attach_pending;

    QTAILQ_ENTRY(SculptState) next;
};

/* All sculpt objects, in creation order.  Main loop, BQL held. */
typedef QTAILQ_HEAD(, SculptState) SculptList;
extern SculptList sculpt_list;

static inline bool sculpt_attached(SculptState *s)
{
    return s->core != NULL;
}

#endif /* SCULPT_INT_H */
