/*
 * sculpt: what sculpt refuses to run with, and when it must hold off
 *
 * Moving a block copies it inside a pause that stops vCPUs, main-loop
 * device emulation (the BQL) and block I/O (drain).  Anything that writes
 * guest RAM without any of these, holds the memfd's file offsets, or pins
 * guest pages would lose writes or keep stale pages, so sculpt refuses it,
 * both when the object is created and when such a device is added later:
 *
 *   vhost-user, vhost-vdpa      the backend maps the memfd by fd + offset
 *   vhost-kernel (tap vhost=on) the kernel writes guest RAM on its own
 *   vhost-* devices             the same, for blk, scsi, vsock, fs, ...
 *   VFIO, vDPA, iommufd, SEV    pin pages (ram_block_discard_require())
 *   virtio-mem                  owns discards of its memory backend
 *   libblkio drivers            map guest RAM by memfd offset
 *   CPR transfer                re-maps the memfd (moved blocks read zeros)
 *   x-ignore-shared migration   skips shared RAM, which sculpt remaps
 *
 * This is the one place that decides; nothing else in sculpt/ second-guesses
 * it.  All of it runs in the main loop with the BQL held.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "hw/qdev-core.h"
#include "net/net.h"
#include "net/tap.h"
#include "block/block.h"
#include "block/block_int.h"
#include "migration/blocker.h"
#include "migration/misc.h"
#include "migration/options.h"
#include "sculpt-int.h"

/* Device types that write guest RAM behind QEMU's back or pin it. */
static const char *const sculpt_denied_prefixes[] = {
    "vhost-",               /* vhost-user-*, vhost-vsock, vhost-scsi, ... */
    "vfio-",                /* vfio-pci, vfio-platform, ... */
    "x-vfio-user",
    "x-remote-object",
    "virtio-mem",
};

/* libblkio drivers: they map guest RAM by memfd offset. */
static const char *const sculpt_denied_drivers[] = {
    "io_uring", "nvme-io_uring", "virtio-blk-vfio-pci",
    "virtio-blk-vhost-user", "virtio-blk-vhost-vdpa",
};

static const char *sculpt_denied_type(const char *type)
{
    for (size_t i = 0; i < ARRAY_SIZE(sculpt_denied_prefixes); i++) {
        if (g_str_has_prefix(type, sculpt_denied_prefixes[i])) {
            return sculpt_denied_prefixes[i];
        }
    }
    return NULL;
}

/* Why network client @nc cannot live with sculpt, or NULL. */
static const char *sculpt_denied_netdev(NetClientState *nc)
{
    switch (nc->info->type) {
    case NET_CLIENT_DRIVER_VHOST_USER:
        return "netdev type vhost-user (its backend maps guest RAM by memfd "
               "offset)";
    case NET_CLIENT_DRIVER_VHOST_VDPA:
        return "netdev type vhost-vdpa (the device writes guest RAM on its "
               "own)";
    case NET_CLIENT_DRIVER_TAP:
        if (tap_get_vhost_net(nc)) {
            return "tap with vhost=on (the vhost-net kernel thread writes "
                   "guest RAM on its own); use vhost=off";
        }
        return NULL;
    default:
        return NULL;
    }
}

static bool sculpt_check_netdevs(Error **errp)
{
    NetClientState *ncs[MAX_QUEUE_NUM];
    int n = qemu_find_net_clients_except(NULL, ncs, NET_CLIENT_DRIVER_NIC,
                                         MAX_QUEUE_NUM);

    for (int i = 0; i < MIN(n, MAX_QUEUE_NUM); i++) {
        const char *why = sculpt_denied_netdev(ncs[i]);

        if (why) {
            error_setg(errp, "sculpt cannot run with netdev '%s': %s",
                       ncs[i]->name, why);
            return false;
        }
    }
    return true;
}

typedef struct SculptScan {
    HostMemoryBackend *backend;
    Error **errp;
} SculptScan;

static int sculpt_scan_object(Object *obj, void *opaque)
{
    SculptScan *scan = opaque;
    const char *type = object_get_typename(obj);
    const char *prefix;

    if (!object_dynamic_cast(obj, TYPE_DEVICE)) {
        return 0;
    }
    prefix = sculpt_denied_type(type);
    if (!prefix) {
        return 0;
    }
    if (g_str_equal(prefix, "virtio-mem")) {
        /* Only a virtio-mem device on our own backend is in the way. */
        Object *mem = object_property_get_link(obj, "memdev", NULL);

        if (mem != OBJECT(scan->backend)) {
            return 0;
        }
    }
    error_setg(scan->errp, "sculpt cannot run with device '%s' (%s): it "
               "writes or pins guest RAM outside the pauses sculpt moves "
               "memory in", object_get_canonical_path_component(obj) ?: "",
               type);
    return 1;
}

static bool sculpt_check_block_drivers(Error **errp)
{
    BdrvNextIterator it;

    for (BlockDriverState *bs = bdrv_first(&it); bs; bs = bdrv_next(&it)) {
        for (size_t i = 0; bs->drv && i < ARRAY_SIZE(sculpt_denied_drivers);
             i++) {
            if (g_str_equal(bs->drv->format_name, sculpt_denied_drivers[i])) {
                error_setg(errp, "sculpt cannot run with block driver '%s' "
                           "(libblkio maps guest RAM by memfd offset)",
                           bs->drv->format_name);
                bdrv_next_cleanup(&it);
                return false;
            }
        }
    }
    return true;
}

/* Veto devices added after a sculpt object exists. */
static bool sculpt_hide_device(DeviceListener *listener,
                               const QDict *opts, bool from_json,
                               Error **errp)
{
    const char *driver = qdict_get_try_str(opts, "driver");
    const char *netdev = qdict_get_try_str(opts, "netdev");

    if (QTAILQ_EMPTY(&sculpt_list) || !driver) {
        return false;
    }
    if (sculpt_denied_type(driver) && !g_str_has_prefix(driver, "virtio-mem")) {
        error_setg(errp, "device '%s' cannot be added while sculpt runs: it "
                   "writes or pins guest RAM outside the pauses sculpt moves "
                   "memory in", driver);
        return false;
    }
    if (netdev) {
        NetClientState *ncs[1];
        int n = qemu_find_net_clients_except(netdev, ncs,
                                             NET_CLIENT_DRIVER_NIC, 1);
        const char *why = n ? sculpt_denied_netdev(ncs[0]) : NULL;

        if (why) {
            error_setg(errp, "device '%s' cannot use netdev '%s' while "
                       "sculpt runs: %s", driver, netdev, why);
            return false;
        }
    }
    return false;
}

static DeviceListener sculpt_device_listener = {
    .hide_device = sculpt_hide_device,
};

static int sculpt_migration_notify(NotifierWithReturn *n, MigrationEvent *e,
                                   Error **errp)
{
    if (e->type == MIG_EVENT_PRECOPY_SETUP && migrate_ignore_shared()) {
        error_setg(errp, "sculpt: migration with x-ignore-shared would skip "
                   "guest RAM that sculpt has remapped; turn the capability "
                   "off");
        return -EINVAL;
    }
    return 0;
}

bool sculpt_guard_attach(SculptState *s, Error **errp)
{
    SculptScan scan = { .backend = s->backend, .errp = errp };
    static bool listening;

    if (!sculpt_check_netdevs(errp) || !sculpt_check_block_drivers(errp) ||
        object_child_foreach_recursive(object_get_root(), sculpt_scan_object,
                                       &scan)) {
        return false;
    }
    error_setg(&s->cpr_blocker, "sculpt '%s' remaps guest RAM, which "
               "cpr-transfer would re-map from the old memfd",
               object_get_canonical_path_component(OBJECT(s)));
    if (migrate_add_blocker_modes(&s->cpr_blocker, errp,
                                  MIG_MODE_CPR_TRANSFER, -1) < 0) {
        return false;
    }
    migration_add_notifier(&s->migration_notifier, sculpt_migration_notify);
    if (!listening) {
        device_listener_register(&sculpt_device_listener);
        listening = true;
    }
    return true;
}

void sculpt_guard_detach(SculptState *s)
{
    if (s->cpr_blocker) {
        migrate_del_blocker(&s->cpr_blocker);
    }
    if (s->migration_notifier.notify) {
        migration_remove_notifier(&s->migration_notifier);
        s->migration_notifier.notify = NULL;
    }
}
