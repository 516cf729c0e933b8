/*
 * QTest for the sculpt object: creation on the command line and with
 * object-add, query-sculpt-stats, info sculpt, and every refusal with its
 * message.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qapi/error.h"

#define RAM_ARGS(size) \
    "-m " size " -machine pc,memory-backend=ram0 " \
    "-object memory-backend-memfd,id=ram0,size=" size ",share=on "

/* The one entry of query-sculpt-stats, or NULL when the list is empty. */
static QDict *sculpt_stats_first(QTestState *qts, int *count)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-sculpt-stats' }");
    QList *list;
    QDict *first = NULL;

    g_assert(qdict_haskey(rsp, "return"));
    list = qdict_get_qlist(rsp, "return");
    *count = qlist_size(list);
    if (*count) {
        first = qobject_to(QDict, qlist_peek(list));
        qobject_ref(first);
    }
    qobject_unref(rsp);
    return first;
}

/* @rsp is an error whose description contains @expect; frees @rsp. */
static void assert_error(QDict *rsp, const char *expect)
{
    const char *desc;

    g_assert(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    if (!strstr(desc, expect)) {
        g_test_message("got: %s", desc);
        g_test_message("expected: %s", expect);
        g_assert_not_reached();
    }
    qobject_unref(rsp);
}

static void check_stats(QDict *st, const char *id, const char *memdev,
                        uint64_t size, uint64_t block_size)
{
    QList *tiers = qdict_get_qlist(st, "tiers");
    QListEntry *e;
    uint64_t total = 0;
    int n = 0;

    g_assert_cmpstr(qdict_get_str(st, "id"), ==, id);
    g_assert_cmpstr(qdict_get_str(st, "memdev"), ==, memdev);
    g_assert_cmpuint(qdict_get_int(st, "size"), ==, size);
    g_assert_cmpuint(qdict_get_int(st, "block-size"), ==, block_size);
    g_assert_cmpuint(qdict_get_int(st, "blocks"), ==, size / block_size);
    QLIST_FOREACH_ENTRY(tiers, e) {
        QDict *t = qobject_to(QDict, qlist_entry_obj(e));
        const char *tier = qdict_get_str(t, "tier");
        uint64_t bytes = qdict_get_int(t, "bytes");

        /* Nothing is moved yet: everything is in the base tier. */
        g_assert_cmpuint(bytes, ==, g_str_equal(tier, "base") ? size : 0);
        total += bytes;
        n++;
    }
    g_assert_cmpint(n, ==, 3);
    g_assert_cmpuint(total, ==, size);
}

static void test_cmdline(void)
{
    QTestState *qts = qtest_init(RAM_ARGS("128M")
                                 "-object sculpt,id=sc0,memdev=ram0,"
                                 "block-size=64K");
    g_autofree char *info = NULL;
    QDict *st;
    int n;

    st = sculpt_stats_first(qts, &n);
    g_assert_cmpint(n, ==, 1);
    check_stats(st, "sc0", "ram0", 128 * 1024 * 1024, 64 * 1024);
    qobject_unref(st);

    info = qtest_hmp(qts, "info sculpt");
    g_assert_nonnull(strstr(info, "sculpt sc0: memdev ram0, 128 MiB in "
                            "2048 blocks of 64 KiB"));
    g_assert_nonnull(strstr(info, "base  128 MiB"));
    g_assert_nonnull(strstr(info, "cold  0 B"));
    qtest_quit(qts);
}

static void test_default_block_size(void)
{
    QTestState *qts = qtest_init(RAM_ARGS("128M")
                                 "-object sculpt,id=sc0,memdev=ram0");
    QDict *st;
    int n;

    st = sculpt_stats_first(qts, &n);
    g_assert_cmpint(n, ==, 1);
    check_stats(st, "sc0", "ram0", 128 * 1024 * 1024, 2 * 1024 * 1024);
    qobject_unref(st);
    qtest_quit(qts);
}

static void test_none(void)
{
    QTestState *qts = qtest_init(RAM_ARGS("128M"));
    g_autofree char *info = NULL;
    QDict *st;
    int n;

    st = sculpt_stats_first(qts, &n);
    g_assert_null(st);
    g_assert_cmpint(n, ==, 0);
    info = qtest_hmp(qts, "info sculpt");
    g_assert_cmpstr(info, ==, "No sculpt objects.\r\n");
    qtest_quit(qts);
}

static void test_object_add_del(void)
{
    QTestState *qts = qtest_init(RAM_ARGS("128M"));
    QDict *st;
    int n;

    qtest_qmp_assert_success(qts, "{ 'execute': 'object-add', 'arguments': {"
                             " 'qom-type': 'sculpt', 'id': 'sc1',"
                             " 'memdev': 'ram0', 'block-size': 1048576 } }");
    st = sculpt_stats_first(qts, &n);
    g_assert_cmpint(n, ==, 1);
    check_stats(st, "sc1", "ram0", 128 * 1024 * 1024, 1024 * 1024);
    qobject_unref(st);

    /* One sculpt object per backend. */
    {
        QDict *rsp = qtest_qmp(qts, "{ 'execute': 'object-add',"
                               " 'arguments': { 'qom-type': 'sculpt',"
                               " 'id': 'sc2', 'memdev': 'ram0' } }");
        g_assert(qdict_haskey(rsp, "error"));
        g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                              "desc"),
                                "is already sculpted by 'sc1'"));
        qobject_unref(rsp);
    }

    qtest_qmp_assert_success(qts, "{ 'execute': 'object-del', 'arguments': {"
                             " 'id': 'sc1' } }");
    st = sculpt_stats_first(qts, &n);
    g_assert_cmpint(n, ==, 0);
    qtest_quit(qts);
}

typedef struct BadInput {
    const char *name;
    const char *setup;      /* another object-add before, or NULL */
    const char *args;       /* object-add arguments for the sculpt object */
    const char *error;      /* expected in the error's desc */
} BadInput;

static const BadInput bad_inputs[] = {
    { "no-memdev", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0'",
      "Parameter 'memdev' is missing" },
    { "missing-backend", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'nosuch'",
      "memory backend 'nosuch' not found; create it with -object "
      "memory-backend-memfd,id=nosuch,size=...,share=on" },
    { "not-memfd",
      "'qom-type': 'memory-backend-ram', 'id': 'm1', 'size': 67108864",
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'm1'",
      "memory backend 'm1' is a memory-backend-ram; sculpt needs a "
      "memory-backend-memfd with share=on" },
    { "share-off",
      "'qom-type': 'memory-backend-memfd', 'id': 'm1', 'size': 67108864,"
      " 'share': false",
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'm1'",
      "memory backend 'm1' has share=off; sculpt needs share=on" },
    { "move-protocol", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0',"
      " 'move-protocol': 'copy'",
      "Parameter 'move-protocol' expects 'write-protect' or 'pause'" },
    { "too-small", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0',"
      " 'block-size': 32768",
      "block-size 32 KiB is out of range; it must be a power of two from "
      "64 KiB to 1 GiB" },
    { "too-large", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0',"
      " 'block-size': 2147483648",
      "block-size 2 GiB is out of range" },
    { "not-power-of-two", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0',"
      " 'block-size': 98304",
      "block-size 96 KiB is not a power of two; try 64 KiB or 128 KiB" },
    { "does-not-divide",
      "'qom-type': 'memory-backend-memfd', 'id': 'm1', 'size': 100663296,"
      " 'share': true",
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'm1',"
      " 'block-size': 67108864",
      "block-size 64 MiB does not divide the size of memory backend 'm1' "
      "(96 MiB); use a block size that does, such as 32 MiB" },
    { "auto-no-budget", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0', 'auto': true,"
      " 'cold-tier': 'file', 'cold-dir': '/tmp'",
      "sculpt 'sc0': auto=on needs fast-budget=SIZE, the DRAM its guest RAM "
      "may use" },
    { "auto-no-cold-tier", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0', 'auto': true,"
      " 'fast-budget': 33554432",
      "sculpt 'sc0': auto=on needs cold-tier=file,cold-dir=DIR (the numa and "
      "swap tiers are for explicit sculpt-pool moves only)" },
    { "bad-policy", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0',"
      " 'policy': 'lru'",
      "policy: " },
    { "bad-sampling-cpu", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0', 'track': true,"
      " 'access-sampling': true, 'access-sampling-cpu': 0",
      "access-sampling-cpu must be from 1 to 100 (percent of one host "
      "core)" },
    { "bad-track-duty", NULL,
      "'qom-type': 'sculpt', 'id': 'sc0', 'memdev': 'ram0', 'track': true,"
      " 'track-duty': 101",
      "track-duty must be from 1 to 100 (percent of each interval the "
      "dirty log is on)" },
};

/* object-add with @args, the members of its arguments object as JSON. */
static QDict *object_add(QTestState *qts, const char *args)
{
    g_autofree char *json = g_strdup_printf("{ %s }", args);
    QObject *arguments = qobject_from_json(json, &error_abort);

    return qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments': %p }",
                     arguments);
}

static void test_bad_input(const void *opaque)
{
    const BadInput *bad = opaque;
    QTestState *qts = qtest_init(RAM_ARGS("128M"));
    QDict *rsp;
    const char *desc;
    int n;

    if (bad->setup) {
        rsp = object_add(qts, bad->setup);
        g_assert(qdict_haskey(rsp, "return"));
        qobject_unref(rsp);
    }
    rsp = object_add(qts, bad->args);
    g_assert(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    if (!strstr(desc, bad->error)) {
        g_test_message("got: %s", desc);
        g_test_message("expected: %s", bad->error);
        g_assert_not_reached();
    }
    qobject_unref(rsp);
    /* Nothing was created, and QEMU still answers. */
    g_assert_null(sculpt_stats_first(qts, &n));
    g_assert_cmpint(n, ==, 0);
    qtest_quit(qts);
}

/* Run QEMU with @args and expect it to refuse to start with @error. */
static void expect_cmdline_error(const char *args, const char *error)
{
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    /* timeout: a QEMU that wrongly starts must not hang the test. */
    g_autofree char *cmd = g_strdup_printf("timeout 60 %s -display none "
                                           "-accel qtest "
                                           "-nodefaults %s", qemu, args);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) gerr = NULL;
    int status;

    g_assert(g_spawn_command_line_sync(cmd, &out, &err, &status, &gerr));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    if (!strstr(err, error)) {
        g_test_message("stderr: %s", err);
        g_test_message("expected: %s", error);
        g_assert_not_reached();
    }
}

static void test_cmdline_errors(void)
{
    expect_cmdline_error(RAM_ARGS("128M")
                         "-object sculpt,id=sc0,memdev=nosuch",
                         "sculpt 'sc0': memory backend 'nosuch' not found");
    expect_cmdline_error(RAM_ARGS("128M")
                         "-object sculpt,id=sc0,memdev=ram0,block-size=96K",
                         "sculpt 'sc0': block-size 96 KiB is not a power of "
                         "two");
    expect_cmdline_error("-m 128M -machine pc,memory-backend=ram0 "
                         "-object memory-backend-memfd,id=ram0,size=128M,"
                         "share=off "
                         "-object sculpt,id=sc0,memdev=ram0",
                         "memory backend 'ram0' has share=off");
    expect_cmdline_error("-m 128M -machine pc,memory-backend=ram0 "
                         "-object memory-backend-ram,id=ram0,size=128M "
                         "-object sculpt,id=sc0,memdev=ram0",
                         "memory backend 'ram0' is a memory-backend-ram");
    expect_cmdline_error(RAM_ARGS("128M") "-object sculpt,id=sc0",
                         "Parameter 'memdev' is missing");
}

/*
 * Moves: guest RAM holds a known pattern; every sculpt-pool step is
 * followed by a byte-for-byte check of all of it.
 */
#define MOVE_RAM (16 * 1024 * 1024)
#define MOVE_BS (64 * 1024)
#define MOVE_BLOCKS (MOVE_RAM / MOVE_BS)

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

typedef struct MoveTest {
    QTestState *qts;
    uint8_t *expect;        /* what guest RAM must hold */
    char *cold_dir;
    GRand *rand;
    int ops;
} MoveTest;

/*
 * Guest-physical [0xa0000, 0x100000) (blocks 10-15) is the PC's VGA window
 * and BIOS area, not RAM as the guest sees it: it is moved like any block
 * but cannot be written or read back through guest addresses.
 */
#define HOLE_FIRST 10
#define HOLE_END 16

static bool in_hole(uint64_t block)
{
    return block >= HOLE_FIRST && block < HOLE_END;
}

/* Write generation @gen of the pattern into blocks [first, first+n). */
static void mt_write(MoveTest *mt, uint64_t first, uint64_t n, uint64_t gen)
{
    for (uint64_t b = first; b < first + n; b++) {
        uint64_t *p = (uint64_t *)(mt->expect + b * MOVE_BS);

        if (in_hole(b)) {
            continue;
        }
        for (uint64_t i = 0; i < MOVE_BS / 8; i++) {
            p[i] = splitmix64((b * MOVE_BS / 8 + i) ^ (gen << 40));
        }
        qtest_bufwrite(mt->qts, b * MOVE_BS, p, MOVE_BS);
    }
}

static void mt_verify(MoveTest *mt, const char *after)
{
    g_autofree uint8_t *got = g_malloc(MOVE_RAM);

    /* Block by block: libqtest's line reader is quadratic in the length. */
    for (uint64_t b = 0; b < MOVE_BLOCKS; b++) {
        if (!in_hole(b)) {
            qtest_bufread(mt->qts, b * MOVE_BS, got + b * MOVE_BS, MOVE_BS);
        }
    }
    for (uint64_t off = 0; off < MOVE_RAM; off += 8) {
        if (in_hole(off / MOVE_BS)) {
            continue;
        }
        if (memcmp(got + off, mt->expect + off, 8)) {
            g_test_message("after %s: guest RAM differs at 0x%" PRIx64,
                           after, off);
            g_assert_not_reached();
        }
    }
}

/* query-sculpt-stats' tier bytes; they always add up to the RAM size. */
static void mt_tiers(MoveTest *mt, uint64_t *base, uint64_t *hot,
                     uint64_t *cold)
{
    int n;
    QDict *st = sculpt_stats_first(mt->qts, &n);
    QListEntry *e;

    *base = *hot = *cold = 0;
    QLIST_FOREACH_ENTRY(qdict_get_qlist(st, "tiers"), e) {
        QDict *t = qobject_to(QDict, qlist_entry_obj(e));
        const char *tier = qdict_get_str(t, "tier");
        uint64_t bytes = qdict_get_int(t, "bytes");

        *(g_str_equal(tier, "base") ? base :
          g_str_equal(tier, "hot") ? hot : cold) = bytes;
    }
    g_assert_cmpuint(*base + *hot + *cold, ==, MOVE_RAM);
    qobject_unref(st);
}

/* Run one sculpt-pool and wait for its completion event. */
static void mt_pool(MoveTest *mt, const char *args_json)
{
    g_autofree char *json = g_strdup_printf("{ 'id': 'sc0', %s }",
                                            args_json);
    QObject *args = qobject_from_json(json, &error_abort);
    QDict *rsp, *ev;

    rsp = qtest_qmp(mt->qts, "{ 'execute': 'sculpt-pool', "
                    "'arguments': %p }", args);
    if (!qdict_haskey(rsp, "return")) {
        g_test_message("sculpt-pool %s failed: %s", json,
                       qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));
        g_assert_not_reached();
    }
    qobject_unref(rsp);
    ev = qtest_qmp_eventwait_ref(mt->qts, "SCULPT_POOL_COMPLETED");
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(ev, "data"), "failures"),
                    ==, 0);
    qobject_unref(ev);
    mt->ops++;
}

/* A 16 MiB VM with a sculpt object; guest RAM as yet unwritten (zeros). */
static void mt_launch(MoveTest *mt, const char *extra)
{
    mt->cold_dir = g_dir_make_tmp("sculpt-test-XXXXXX", NULL);
    g_assert_nonnull(mt->cold_dir);
    mt->qts = qtest_initf("-m 16M -machine pc,memory-backend=ram0 "
                          "-object memory-backend-memfd,id=ram0,size=16M,"
                          "share=on "
                          "-object sculpt,id=sc0,memdev=ram0,block-size=64K,"
                          "cold-tier=file,cold-dir=%s%s",
                          mt->cold_dir, extra);
    mt->expect = g_malloc0(MOVE_RAM);
    mt->rand = g_rand_new_with_seed(0x5c);
}

/* The same with the pattern written over all of guest RAM, and checked. */
static void mt_start(MoveTest *mt, const char *extra)
{
    mt_launch(mt, extra);
    mt_write(mt, 0, MOVE_BLOCKS, 1);
    mt_verify(mt, "the first write");
}

static void mt_stop(MoveTest *mt)
{
    qtest_quit(mt->qts);
    rmdir(mt->cold_dir);
    g_free(mt->cold_dir);
    g_free(mt->expect);
    g_rand_free(mt->rand);
}

/*
 * Explicit moves between every pair of the three tiers, both ways, with
 * every byte checked after each move;
 * @opaque "no-transfer": with x-transfer off (moves map afresh,
 * MAP_FIXED); "pause": with move-protocol=pause (every move inside a
 * vCPU pause); NULL: as by default (32 blocks of 64 KiB: runs long enough
 * to hand page tables over with mremap(); runs from the base and hot
 * tiers, memfds, move under write-protection, those from the cold file
 * inside a pause).
 */
static void test_move_tiers(const void *opaque)
{
    static const char *const tiers[] = { "hot", "cold", "base" };
    const char *variant = opaque ? opaque : "";
    MoveTest mt = { 0 };
    uint64_t base, hot, cold;
    QDict *rsp, *st;
    int n;

    mt_start(&mt, ",hot-pool=memfd,hot-size=4M");
    if (g_str_equal(variant, "no-transfer")) {
        qtest_qmp_assert_success(mt.qts, "{ 'execute': 'qom-set', "
                                 "'arguments': { 'path': '/objects/sc0', "
                                 "'property': 'x-transfer', "
                                 "'value': false } }");
    }
    if (g_str_equal(variant, "pause")) {
        qtest_qmp_assert_success(mt.qts, "{ 'execute': 'qom-set', "
                                 "'arguments': { 'path': '/objects/sc0', "
                                 "'property': 'move-protocol', "
                                 "'value': 'pause' } }");
    }
    rsp = qtest_qmp(mt.qts, "{ 'execute': 'qom-get', 'arguments': { "
                    "'path': '/objects/sc0', 'property': 'x-transfer' } }");
    g_assert_cmpint(qdict_get_bool(rsp, "return"), ==,
                    !g_str_equal(variant, "no-transfer"));
    qobject_unref(rsp);
    rsp = qtest_qmp(mt.qts, "{ 'execute': 'qom-get', 'arguments': { "
                    "'path': '/objects/sc0', 'property': 'move-protocol' } }");
    g_assert_cmpstr(qdict_get_str(rsp, "return"), ==,
                    g_str_equal(variant, "pause") ? "pause" : "write-protect");
    qobject_unref(rsp);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            g_autofree char *a = NULL;

            /* Blocks 8..39 to tiers[i], then 24..55 to tiers[j]. */
            a = g_strdup_printf("'type': 'move', 'tier': '%s', "
                                "'blocks': [ { 'first': 8, 'count': 32 } ]",
                                tiers[i]);
            mt_pool(&mt, a);
            mt_verify(&mt, a);
            g_free(a);
            a = g_strdup_printf("'type': 'move', 'tier': '%s', "
                                "'blocks': [ { 'first': 24, 'count': 32 } ]",
                                tiers[j]);
            mt_pool(&mt, a);
            mt_verify(&mt, a);
            /* Rewrite some moved blocks in place; they must stay new. */
            mt_write(&mt, 20, 8, 10 + i * 3 + j);
            mt_verify(&mt, "rewriting blocks 20..27");
        }
    }
    /* The last round moved both ranges home. */
    mt_tiers(&mt, &base, &hot, &cold);
    g_assert_cmpuint(base, ==, MOVE_RAM);
    mt_pool(&mt, "'type': 'move', 'tier': 'cold', "
            "'blocks': [ { 'first': 0, 'count': 16 } ]");
    mt_pool(&mt, "'type': 'move', 'tier': 'hot', "
            "'blocks': [ { 'first': 100, 'count': 8 } ]");
    mt_verify(&mt, "moving blocks 0-15 cold and 100-107 hot");
    mt_tiers(&mt, &base, &hot, &cold);
    g_assert_cmpuint(base, ==, MOVE_RAM - 24 * MOVE_BS);
    g_assert_cmpuint(hot, ==, 8 * MOVE_BS);
    g_assert_cmpuint(cold, ==, 16 * MOVE_BS);
    mt_pool(&mt, "'type': 'move', 'tier': 'base', "
            "'blocks': [ { 'first': 0, 'count': 256 } ]");
    mt_verify(&mt, "moving everything home");
    mt_tiers(&mt, &base, &hot, &cold);
    g_assert_cmpuint(base, ==, MOVE_RAM);
    /* Which protocol moved them: moves from the cold file always pause. */
    st = sculpt_stats_first(mt.qts, &n);
    g_test_message("%s: %" PRId64 " pauses, %" PRId64 " batches under "
                   "write-protection", opaque ? variant : "default",
                   qdict_get_int(st, "pauses"),
                   qdict_get_int(st, "wp-batches"));
    g_assert_cmpint(qdict_get_int(st, "pauses"), >, 0);
    if (g_str_equal(variant, "pause")) {
        g_assert_cmpint(qdict_get_int(st, "wp-batches"), ==, 0);
    } else {
        g_assert_cmpint(qdict_get_int(st, "wp-batches"), >, 0);
    }
    qobject_unref(st);
    mt_stop(&mt);
}

/*
 * Blocks that hold no data move to a cold file without a copy (the slot is
 * zeroed, the pause only remaps): they read back as zeros and keep what
 * the guest writes later, and one request that mixes them with written
 * blocks moves both kinds intact.
 */
static void test_move_empty(void)
{
    MoveTest mt = { 0 };
    uint64_t base, hot, cold;
    QDict *st;
    int n;

    mt_launch(&mt, "");
    /*
     * Blocks 128-191 (8-12 MiB) are never written, so no page is behind
     * them; not even read (reading a hole of a memfd allocates a page), so
     * the first check comes after the move.
     */
    mt_write(&mt, 16, 112, 1);
    mt_write(&mt, 192, 64, 1);

    mt_pool(&mt, "'type': 'move', 'tier': 'cold', "
            "'blocks': [ { 'first': 120, 'count': 80 } ]");
    mt_verify(&mt, "moving blocks 120-199 (64 of them empty) cold");
    st = sculpt_stats_first(mt.qts, &n);
    g_assert_cmpint(qdict_get_int(st, "blocks-moved"), ==, 80);
    g_assert_cmpint(qdict_get_int(st, "blocks-empty"), ==, 64);
    g_assert_cmpint(qdict_get_int(st, "bytes-moved"), ==, 16 * MOVE_BS);
    qobject_unref(st);
    mt_tiers(&mt, &base, &hot, &cold);
    g_assert_cmpuint(cold, ==, 80 * MOVE_BS);

    /* The guest writes into some of them where they are now. */
    mt_write(&mt, 140, 8, 2);
    mt_verify(&mt, "writing blocks 140-147 in the cold tier");
    mt_pool(&mt, "'type': 'move', 'tier': 'base', "
            "'blocks': [ { 'first': 120, 'count': 80 } ]");
    mt_verify(&mt, "moving blocks 120-199 home");
    mt_tiers(&mt, &base, &hot, &cold);
    g_assert_cmpuint(base, ==, MOVE_RAM);
    mt_stop(&mt);
}

/* VmLck of QEMU, in KiB. */
static uint64_t vm_locked_kib(QTestState *qts)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            qtest_pid(qts));
    g_autofree char *text = NULL;
    const char *p;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    p = strstr(text, "VmLck:");
    g_assert_nonnull(p);
    return g_ascii_strtoull(p + strlen("VmLck:"), NULL, 10);
}

/* hot-lock=on: the hot zone is locked in memory, and unlocked on leaving. */
static void test_move_hot_lock(void)
{
    MoveTest mt = { 0 };
    uint64_t before, in_hot, after;

    mt_start(&mt, ",hot-pool=memfd,hot-size=4M,hot-lock=on");
    before = vm_locked_kib(mt.qts);
    mt_pool(&mt, "'type': 'move', 'tier': 'hot', "
            "'blocks': [ { 'first': 64, 'count': 32 } ]");
    mt_verify(&mt, "moving blocks 64-95 into the locked hot zone");
    in_hot = vm_locked_kib(mt.qts);
    g_test_message("VmLck %" PRIu64 " KiB -> %" PRIu64 " KiB", before,
                   in_hot);
    g_assert_cmpuint(in_hot, >=, before + 32 * MOVE_BS / 1024);
    mt_write(&mt, 64, 32, 2);
    mt_verify(&mt, "writing the locked blocks");
    mt_pool(&mt, "'type': 'move', 'tier': 'base', "
            "'blocks': [ { 'first': 64, 'count': 32 } ]");
    mt_verify(&mt, "moving them home");
    after = vm_locked_kib(mt.qts);
    g_assert_cmpuint(after, ==, before);
    mt_stop(&mt);
}

/*
 * A long random sequence of hot-zone, cold-zone, prefetch and explicit
 * moves, with guest writes between them, each step verified.
 */
static void test_move_random(void)
{
    static const char *const tiers[] = { "hot", "cold", "base" };
    MoveTest mt = { 0 };
    uint64_t base, hot, cold;
    int gen = 2;

    mt_start(&mt, ",hot-pool=memfd,hot-size=4M");
    for (int step = 0; mt.ops < 110 && step < 1000; step++) {
        g_autofree char *a = NULL;
        uint32_t first = g_rand_int_range(mt.rand, 0, MOVE_BLOCKS);
        uint32_t count = g_rand_int_range(mt.rand, 1,
                                          MIN(33, MOVE_BLOCKS - first + 1));

        switch (g_rand_int_range(mt.rand, 0, 5)) {
        case 0:
            a = g_strdup_printf("'type': 'hot-zone', 'size': %d",
                                g_rand_int_range(mt.rand, 1, 65) * MOVE_BS);
            break;
        case 1:
            a = g_strdup_printf("'type': 'cold-zone', 'size': %d",
                                g_rand_int_range(mt.rand, 1, 65) * MOVE_BS);
            break;
        case 2:
            a = g_strdup_printf("'type': 'prefetch', 'blocks': "
                                "[ { 'first': %u, 'count': %u } ]",
                                first, count);
            break;
        default:
            a = g_strdup_printf("'type': 'move', 'tier': '%s', 'blocks': "
                                "[ { 'first': %u, 'count': %u } ]",
                                tiers[g_rand_int_range(mt.rand, 0, 3)],
                                first, count);
            break;
        }
        if (g_str_has_prefix(a, "'type': 'hot-zone'")) {
            /* Only as much as the hot pool has room for. */
            mt_tiers(&mt, &base, &hot, &cold);
            g_free(a);
            a = g_strdup_printf("'type': 'hot-zone', 'size': %" PRIu64,
                                (uint64_t)MIN(4 * 1024 * 1024 - hot,
                                              64 * MOVE_BS));
            if (hot == 4 * 1024 * 1024) {
                continue;
            }
        }
        if (g_str_has_prefix(a, "'type': 'move', 'tier': 'hot'")) {
            mt_tiers(&mt, &base, &hot, &cold);
            if (hot + count * MOVE_BS > 4 * 1024 * 1024) {
                continue;
            }
        }
        mt_pool(&mt, a);
        mt_verify(&mt, a);
        if (step % 3 == 0) {
            uint32_t wf = g_rand_int_range(mt.rand, 0, MOVE_BLOCKS);
            uint32_t wn = g_rand_int_range(mt.rand, 1,
                                           MIN(17, MOVE_BLOCKS - wf + 1));

            mt_write(&mt, wf, wn, gen++);
            mt_verify(&mt, "a guest write");
        }
        mt_tiers(&mt, &base, &hot, &cold);
        g_assert_cmpuint(hot, <=, 4 * 1024 * 1024);
    }
    g_test_message("%d operations verified", mt.ops);
    g_assert_cmpint(mt.ops, >=, 100);
    mt_stop(&mt);
}

/* A run's mmap fails in the middle of a batch: nothing is lost. */
static void test_fault_mmap(void)
{
    MoveTest mt = { 0 };
    uint64_t base, hot, cold;
    QDict *rsp, *ev, *data;

    /* A long max-pause: the three runs move whole, in one batch. */
    mt_start(&mt, ",hot-pool=memfd,hot-size=4M,max-pause=100000");
    qtest_qmp_assert_success(mt.qts, "{ 'execute': 'qom-set', 'arguments':"
                             " { 'path': '/objects/sc0', 'property':"
                             " 'x-fault-inject', 'value': 'mmap:2' } }");
    rsp = qtest_qmp(mt.qts, "{ 'execute': 'sculpt-pool', 'arguments': {"
                    " 'id': 'sc0', 'type': 'move', 'tier': 'cold',"
                    " 'blocks': [ { 'first': 20, 'count': 4 },"
                    " { 'first': 40, 'count': 4 },"
                    " { 'first': 60, 'count': 4 } ] } }");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    ev = qtest_qmp_eventwait_ref(mt.qts, "SCULPT_POOL_COMPLETED");
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpint(qdict_get_int(data, "failures"), ==, 1);
    g_assert_cmpint(qdict_get_int(data, "blocks"), ==, 8);
    g_assert_nonnull(strstr(qdict_get_str(data, "error"),
                            "moving blocks 40-43 to cold failed"));
    g_assert_nonnull(strstr(qdict_get_str(data, "error"), "mmap"));
    qobject_unref(ev);
    mt_verify(&mt, "a failed mmap");

    rsp = qtest_qmp(mt.qts, "{ 'execute': 'query-sculpt-stats' }");
    data = qobject_to(QDict, qlist_peek(qdict_get_qlist(rsp, "return")));
    g_assert_cmpint(qdict_get_int(data, "failures"), ==, 1);
    qobject_unref(rsp);
    rsp = qtest_qmp(mt.qts, "{ 'execute': 'query-status' }");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "return"), "status"),
                    ==, "running");
    qobject_unref(rsp);

    /* Blocks 40-43 stayed home; the same move now succeeds. */
    mt_pool(&mt, "'type': 'move', 'tier': 'cold', "
            "'blocks': [ { 'first': 40, 'count': 4 } ]");
    mt_verify(&mt, "retrying the move");
    mt_write(&mt, 38, 8, 99);
    mt_verify(&mt, "writing over moved blocks");
    {
        uint64_t b, h, c;

        mt_tiers(&mt, &b, &h, &c);
        base = b;
        hot = h;
        cold = c;
    }
    g_assert_cmpuint(cold, ==, 12 * MOVE_BS);
    g_assert_cmpuint(hot, ==, 0);
    g_assert_cmpuint(base, ==, MOVE_RAM - 12 * MOVE_BS);
    mt_stop(&mt);
}

/* Run @cmd through the shell; true if it exited 0. */
static bool run_sh(const char *cmd)
{
    g_autofree char *argv_cmd = g_strdup_printf("sh -c '%s'", cmd);
    int status;

    return g_spawn_command_line_sync(argv_cmd, NULL, NULL, &status, NULL) &&
           WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A cold tier on a tiny tmpfs: refused when it does not fit, and full. */
static void test_fault_tiny_tmpfs(void)
{
    g_autofree char *dir = g_dir_make_tmp("sculpt-tiny-XXXXXX", NULL);
    g_autofree char *mount = g_strdup_printf("mount -t tmpfs -o size=2M "
                                             "tmpfs %s", dir);
    g_autofree char *fill = g_strdup_printf("dd if=/dev/zero of=%s/fill "
                                            "bs=64k 2>/dev/null; true", dir);
    g_autofree char *args = NULL;
    MoveTest mt = { 0 };
    QDict *rsp;

    if (!run_sh(mount)) {
        g_test_skip("cannot mount a tmpfs (needs root)");
        rmdir(dir);
        return;
    }
    mt.cold_dir = g_dir_make_tmp("sculpt-test-XXXXXX", NULL);
    mt.qts = qtest_init("-m 16M -machine pc,memory-backend=ram0 "
                        "-object memory-backend-memfd,id=ram0,size=16M,"
                        "share=on");
    mt.expect = g_malloc(MOVE_RAM);
    mt.rand = g_rand_new_with_seed(1);
    mt_write(&mt, 0, MOVE_BLOCKS, 1);

    /* 4 MiB of cold tier cannot be preallocated on a 2 MiB tmpfs. */
    args = g_strdup_printf("'qom-type': 'sculpt', 'id': 'sc0', 'memdev': "
                           "'ram0', 'block-size': 65536, 'cold-tier': "
                           "'file', 'cold-dir': '%s', 'cold-size': 4194304",
                           dir);
    rsp = object_add(mt.qts, args);
    g_assert(qdict_haskey(rsp, "error"));
    g_test_message("refused: %s",
                   qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "No space left"));
    qobject_unref(rsp);
    mt_verify(&mt, "a refused cold tier");

    /* 1 MiB fits; then the rest of the tmpfs is filled by someone else. */
    g_free(args);
    args = g_strdup_printf("'qom-type': 'sculpt', 'id': 'sc0', 'memdev': "
                           "'ram0', 'block-size': 65536, 'cold-tier': "
                           "'file', 'cold-dir': '%s', 'cold-size': 1048576",
                           dir);
    rsp = object_add(mt.qts, args);
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    g_assert_true(run_sh(fill));
    mt_pool(&mt, "'type': 'move', 'tier': 'cold', "
            "'blocks': [ { 'first': 100, 'count': 16 } ]");
    mt_verify(&mt, "filling the cold tier");
    mt_write(&mt, 100, 16, 2);
    mt_verify(&mt, "writing cold blocks on a full filesystem");

    /* The tier is full: the next move is refused, nothing changes. */
    rsp = qtest_qmp(mt.qts, "{ 'execute': 'sculpt-pool', 'arguments': {"
                    " 'id': 'sc0', 'type': 'move', 'tier': 'cold',"
                    " 'blocks': [ { 'first': 200, 'count': 8 } ] } }");
    assert_error(rsp, "the cold tier is full");
    mt_verify(&mt, "a refused move");
    mt_pool(&mt, "'type': 'move', 'tier': 'base', "
            "'blocks': [ { 'first': 0, 'count': 256 } ]");
    mt_verify(&mt, "moving everything home");
    qtest_qmp_assert_success(mt.qts, "{ 'execute': 'object-del', "
                             "'arguments': { 'id': 'sc0' } }");
    qtest_quit(mt.qts);
    g_free(mount);
    mount = g_strdup_printf("umount %s", dir);
    g_assert_true(run_sh(mount));
    rmdir(dir);
    rmdir(mt.cold_dir);
    g_free(mt.cold_dir);
    g_free(mt.expect);
    g_rand_free(mt.rand);
}

/* Write (@verify false) or check the pattern of @gen over [start, end). */
static void hp_pattern(QTestState *qts, uint64_t start, uint64_t end,
                       uint64_t gen, bool verify)
{
    uint64_t buf[64 * 1024 / 8], got[64 * 1024 / 8];

    for (uint64_t off = start; off < end; off += sizeof(buf)) {
        for (size_t i = 0; i < G_N_ELEMENTS(buf); i++) {
            buf[i] = splitmix64((off / 8 + i) ^ (gen << 40));
        }
        if (!verify) {
            qtest_bufwrite(qts, off, buf, sizeof(buf));
            continue;
        }
        qtest_bufread(qts, off, got, sizeof(got));
        if (memcmp(buf, got, sizeof(buf))) {
            g_test_message("guest RAM differs in 0x%" PRIx64 "+64K", off);
            g_assert_not_reached();
        }
    }
}

/* Write @value to a /proc file (g_file_set_contents renames: not here). */
static bool write_proc(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");
    bool ok;

    if (!f) {
        return false;
    }
    ok = fputs(value, f) >= 0;
    return (fclose(f) == 0) && ok;
}

/* A hugetlb hot pool: 2 MiB blocks into reserved huge pages and back. */
static void test_move_hugetlb(void)
{
    const char *nr = "/proc/sys/vm/nr_hugepages";
    g_autofree char *old = NULL;
    g_autofree char *want = NULL;
    QTestState *qts;
    QDict *ev;
    int n;
    QDict *st;

    if (!g_file_get_contents(nr, &old, NULL, NULL)) {
        g_test_skip("no /proc/sys/vm/nr_hugepages");
        return;
    }
    want = g_strdup_printf("%d\n", atoi(old) + 8);
    if (!write_proc(nr, want)) {
        g_test_skip("cannot reserve huge pages (needs root)");
        return;
    }
    qts = qtest_init("-m 32M -machine pc,memory-backend=ram0 "
                     "-object memory-backend-memfd,id=ram0,size=32M,share=on "
                     "-object sculpt,id=sc0,memdev=ram0,block-size=2M,"
                     "hot-pool=hugetlb,hot-size=8M");
    /* Blocks 2-15 (4-32 MiB): clear of the PC's legacy holes. */
    hp_pattern(qts, 4 << 20, 32 << 20, 1, false);
    qtest_qmp_assert_success(qts, "{ 'execute': 'sculpt-pool', 'arguments':"
                             " { 'id': 'sc0', 'type': 'move', 'tier': 'hot',"
                             " 'blocks': [ { 'first': 4, 'count': 4 } ] } }");
    ev = qtest_qmp_eventwait_ref(qts, "SCULPT_POOL_COMPLETED");
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(ev, "data"), "failures"),
                    ==, 0);
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(ev, "data"), "blocks"),
                    ==, 4);
    qobject_unref(ev);
    hp_pattern(qts, 4 << 20, 32 << 20, 1, true);
    st = sculpt_stats_first(qts, &n);
    g_assert_cmpint(qdict_get_int(st, "blocks-moved"), ==, 4);
    qobject_unref(st);

    /* Write into the huge pages, then bring the blocks home. */
    hp_pattern(qts, 8 << 20, 16 << 20, 2, false);
    qtest_qmp_assert_success(qts, "{ 'execute': 'sculpt-pool', 'arguments':"
                             " { 'id': 'sc0', 'type': 'move', 'tier': 'base',"
                             " 'blocks': [ { 'first': 4, 'count': 4 } ] } }");
    ev = qtest_qmp_eventwait_ref(qts, "SCULPT_POOL_COMPLETED");
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(ev, "data"), "failures"),
                    ==, 0);
    qobject_unref(ev);
    hp_pattern(qts, 4 << 20, 8 << 20, 1, true);
    hp_pattern(qts, 8 << 20, 16 << 20, 2, true);
    hp_pattern(qts, 16 << 20, 32 << 20, 1, true);
    qtest_quit(qts);
    g_assert_true(write_proc(nr, old));
}

/* Moves wait while a migration runs, and finish once it is over. */
static void test_hold_migration(void)
{
    MoveTest mt = { 0 };
    QDict *rsp, *st;
    int n, tries = 0;

    mt_start(&mt, "");
    /* A migration that crawls, so it is still running below. */
    qtest_qmp_assert_success(mt.qts, "{ 'execute': 'migrate-set-parameters',"
                             " 'arguments': { 'max-bandwidth': 65536 } }");
    qtest_qmp_assert_success(mt.qts, "{ 'execute': 'migrate', 'arguments': {"
                             " 'uri': 'exec:cat > /dev/null' } }");
    rsp = qtest_qmp(mt.qts, "{ 'execute': 'sculpt-pool', 'arguments': {"
                    " 'id': 'sc0', 'type': 'move', 'tier': 'cold',"
                    " 'blocks': [ { 'first': 100, 'count': 16 } ] } }");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    do {
        g_usleep(50 * 1000);
        st = sculpt_stats_first(mt.qts, &n);
        if (qdict_get_bool(st, "paused")) {
            break;
        }
        qobject_unref(st);
        st = NULL;
    } while (++tries < 100);
    g_assert_nonnull(st);
    g_assert_true(qdict_get_bool(st, "busy"));
    g_assert_cmpint(qdict_get_int(st, "blocks-moved"), ==, 0);
    qobject_unref(st);

    qtest_qmp_assert_success(mt.qts, "{ 'execute': 'migrate_cancel' }");
    rsp = qtest_qmp_eventwait_ref(mt.qts, "SCULPT_POOL_COMPLETED");
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(rsp, "data"), "blocks"),
                    ==, 16);
    qobject_unref(rsp);
    mt_verify(&mt, "moving after the migration ended");
    mt_stop(&mt);
}

/* Devices and settings sculpt refuses, each with its message. */
static void test_refusals(void)
{
    g_autofree char *dir = g_dir_make_tmp("sculpt-test-XXXXXX", NULL);
    g_autofree char *args = NULL;
    QTestState *qts;
    QDict *rsp;

    args = g_strdup_printf(RAM_ARGS("128M") "-overcommit mem-lock=on "
                           "-object sculpt,id=sc0,memdev=ram0,"
                           "cold-tier=file,cold-dir=%s", dir);
    expect_cmdline_error(args, "a cold tier cannot work with -overcommit "
                         "mem-lock=on");

    /* virtio-mem on the sculpted backend. */
    expect_cmdline_error("-m 128M,maxmem=1G -machine pc "
                         "-object memory-backend-memfd,id=mem1,size=128M,"
                         "share=on "
                         "-device virtio-mem-pci,id=vm0,memdev=mem1 "
                         "-object sculpt,id=sc0,memdev=mem1",
                         "memory backend 'mem1' is managed by "
                         "virtio-mem");

    /* Huge pages cannot back blocks smaller than a huge page. */
    expect_cmdline_error(RAM_ARGS("128M")
                         "-object sculpt,id=sc0,memdev=ram0,block-size=64K,"
                         "hot-pool=hugetlb,hot-size=16M",
                         "hugetlb");

    qts = qtest_init(RAM_ARGS("128M")
                     "-object sculpt,id=sc0,memdev=ram0");
    /* cpr-transfer would map the old memfd: a migration blocker says so. */
    rsp = qtest_qmp(qts, "{ 'execute': 'query-migrationblockers' }");
    qobject_unref(rsp);
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-parameters',"
                             " 'arguments': { 'mode': 'cpr-transfer' } }");
    rsp = qtest_qmp(qts, "{ 'execute': 'migrate', 'arguments': {"
                    " 'channels': [ { 'channel-type': 'main', 'addr': {"
                    " 'transport': 'exec', 'args': [ 'sh', '-c',"
                    " 'cat > /dev/null' ] } }, { 'channel-type': 'cpr',"
                    " 'addr': { 'transport': 'socket', 'type': 'unix',"
                    " 'path': '/nonexistent/cpr.sock' } } ] } }");
    g_assert(qdict_haskey(rsp, "error"));
    g_test_message("cpr-transfer: %s",
                   qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "cpr-transfer"));
    qobject_unref(rsp);
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-parameters',"
                             " 'arguments': { 'mode': 'normal' } }");
    /* Devices that write or pin guest RAM on their own are vetoed. */
    rsp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': {"
                    " 'driver': 'vhost-user-blk-pci', 'id': 'vb0',"
                    " 'chardev': 'nosuch' } }");
    assert_error(rsp, "device 'vhost-user-blk-pci' cannot be added "
                            "while sculpt runs");
    /* vhost-kernel: the vhost-scsi kernel thread would write guest RAM. */
    rsp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': {"
                    " 'driver': 'vhost-scsi-pci', 'id': 'vs0',"
                    " 'wwpn': 'naa.500140500000000a' } }");
    assert_error(rsp, "device 'vhost-scsi-pci' cannot be added "
                            "while sculpt runs");
    rsp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': {"
                    " 'driver': 'vfio-pci', 'id': 'vf0',"
                    " 'host': '0000:00:00.0' } }");
    assert_error(rsp, "device 'vfio-pci' cannot be added");

    /* Migration with x-ignore-shared would skip the remapped RAM. */
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-set-capabilities',"
                             " 'arguments': { 'capabilities': [ {"
                             " 'capability': 'x-ignore-shared',"
                             " 'state': true } ] } }");
    rsp = qtest_qmp(qts, "{ 'execute': 'migrate', 'arguments': {"
                    " 'uri': 'exec:cat > /dev/null' } }");
    if (qdict_haskey(rsp, "error")) {
        g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                              "desc"), "x-ignore-shared"));
    } else {
        QDict *info;
        const char *status;

        do {
            qobject_unref(rsp);
            g_usleep(20 * 1000);
            rsp = qtest_qmp(qts, "{ 'execute': 'query-migrate' }");
            info = qdict_get_qdict(rsp, "return");
            status = qdict_get_try_str(info, "status");
        } while (!status || g_str_equal(status, "setup") ||
                 g_str_equal(status, "active"));
        g_assert_cmpstr(status, ==, "failed");
        g_assert_nonnull(strstr(qdict_get_str(info, "error-desc"),
                                "x-ignore-shared"));
    }
    qobject_unref(rsp);
    qtest_quit(qts);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/sculpt/cmdline", test_cmdline);
    qtest_add_func("/sculpt/default-block-size", test_default_block_size);
    qtest_add_func("/sculpt/none", test_none);
    qtest_add_func("/sculpt/object-add-del", test_object_add_del);
    qtest_add_func("/sculpt/cmdline-errors", test_cmdline_errors);
    qtest_add_data_func("/sculpt/move/tiers", NULL, test_move_tiers);
    qtest_add_data_func("/sculpt/move/tiers-no-transfer", "no-transfer",
                        test_move_tiers);
    qtest_add_data_func("/sculpt/move/tiers-pause", "pause",
                        test_move_tiers);
    qtest_add_func("/sculpt/move/random", test_move_random);
    qtest_add_func("/sculpt/move/empty", test_move_empty);
    qtest_add_func("/sculpt/move/hugetlb", test_move_hugetlb);
    qtest_add_func("/sculpt/move/hot-lock", test_move_hot_lock);
    qtest_add_func("/sculpt/fault/mmap", test_fault_mmap);
    qtest_add_func("/sculpt/fault/tiny-tmpfs", test_fault_tiny_tmpfs);
    qtest_add_func("/sculpt/refusals", test_refusals);
    qtest_add_func("/sculpt/hold-migration", test_hold_migration);
    for (size_t i = 0; i < G_N_ELEMENTS(bad_inputs); i++) {
        g_autofree char *path = g_strdup_printf("/sculpt/bad-input/%s",
                                                bad_inputs[i].name);
        qtest_add_data_func(path, &bad_inputs[i], test_bad_input);
    }
    return g_test_run();
}
