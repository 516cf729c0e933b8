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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/sculpt/cmdline", test_cmdline);
    qtest_add_func("/sculpt/default-block-size", test_default_block_size);
    qtest_add_func("/sculpt/none", test_none);
    qtest_add_func("/sculpt/object-add-del", test_object_add_del);
    qtest_add_func("/sculpt/cmdline-errors", test_cmdline_errors);
    for (size_t i = 0; i < G_N_ELEMENTS(bad_inputs); i++) {
        g_autofree char *path = g_strdup_printf("/sculpt/bad-input/%s",
                                                bad_inputs[i].name);
        qtest_add_data_func(path, &bad_inputs[i], test_bad_input);
    }
    return g_test_run();
}
