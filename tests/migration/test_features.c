/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DEVICE_FEATURE (§2.13): PROBE, GET and SET of the migration features and
 * their flag validation, the MIG_DATA_SIZE query, the VERSION "migration"
 * capability, and a device whose plugin cannot migrate (ENOTSUP
 * everywhere).
 */
#include "config.h"

#include "migtest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define F_MIGRATION  VFIO_USER_DEVICE_FEATURE_MIGRATION
#define F_STATE      VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE
#define F_LOG_START  VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_START
#define F_LOG_STOP   VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_STOP
#define F_LOG_REPORT VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_REPORT
#define F_DATA_SIZE  VFIO_USER_DEVICE_FEATURE_MIG_DATA_SIZE

static void expect_feature_err(struct vfu_client *c, uint32_t argsz, uint32_t flags,
                               const void *data, size_t len, int err)
{
    struct pt_reply r;
    int ret = mt_feature_try(c, argsz, flags, data, len, &r);

    ck_assert_msg(ret == -err, "DEVICE_FEATURE flags %#x: expected %s, got %s", flags,
                  strerror(err), ret == 0 ? "success" : strerror(-ret));
    pt_reply_clear(&r);
    pt_assert_alive(c);
}

START_TEST(test_probe)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    /* Which operations each feature has. */
    static const struct { unsigned index; bool get, set; } feats[] = {
        { F_MIGRATION, true, false },
        { F_STATE, true, true },
        { F_LOG_START, false, true },
        { F_LOG_STOP, false, true },
        { F_LOG_REPORT, true, false },
        { F_DATA_SIZE, true, false },
    };
    uint64_t junk[3] = { 1, 2, 3 };

    for (unsigned i = 0; i < G_N_ELEMENTS(feats); i++) {
        for (unsigned ops = 0; ops < 4; ops++) {
            bool get = ops & 1, set = ops & 2;
            uint32_t flags = MT_PROBE | feats[i].index | (get ? MT_GET : 0) |
                             (set ? MT_SET : 0);
            bool ok = (!get || feats[i].get) && (!set || feats[i].set);
            struct pt_reply r;
            int ret = mt_feature_try(c, 32, flags, junk, sizeof(junk), &r);

            if (ok) {
                /* A PROBE is answered with its request, data untouched. */
                ck_assert_msg(ret == 0, "PROBE flags %#x: %s", flags, strerror(-ret));
                ck_assert_uint_eq(r.len, 8 + sizeof(junk));
                ck_assert_int_eq(memcmp(r.payload + 8, junk, sizeof(junk)), 0);
            } else {
                ck_assert_msg(ret == -EINVAL, "PROBE flags %#x: %s", flags,
                              ret == 0 ? "accepted" : strerror(-ret));
            }
            pt_reply_clear(&r);
        }
    }
    /* Probing changes nothing. */
    ck_assert_uint_eq(mt_get(c), MT_RUNNING);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_flag_validation)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_device_feature_mig_state st = { .device_state = MT_STOP };
    static const uint64_t report[3] = { 0x100000, 0x1000, 4096 };

    /* GET and SET together, or neither, without PROBE. */
    expect_feature_err(c, 16, MT_GET | MT_SET | F_STATE, &st, sizeof(st), EINVAL);
    expect_feature_err(c, 16, F_STATE, &st, sizeof(st), EINVAL);
    /* Unknown flag bits. */
    expect_feature_err(c, 16, MT_GET | F_STATE | (1u << 19), NULL, 0, EINVAL);
    expect_feature_err(c, 16, MT_GET | F_STATE | (1u << 31), NULL, 0, EINVAL);
    /* Operations a feature lacks. */
    expect_feature_err(c, 16, MT_SET | F_MIGRATION, &st, sizeof(st), EINVAL);
    expect_feature_err(c, 40, MT_GET | F_LOG_START, NULL, 0, EINVAL);
    expect_feature_err(c, 16, MT_GET | F_LOG_STOP, NULL, 0, EINVAL);
    expect_feature_err(c, 40, MT_SET | F_LOG_REPORT, report, sizeof(report), EINVAL);
    /* Features that do not exist (PCI_VF_TOKEN, low power, anything). */
    expect_feature_err(c, 32, MT_GET | 0, NULL, 0, ENOTSUP);
    expect_feature_err(c, 32, MT_GET | 3, NULL, 0, ENOTSUP);
    expect_feature_err(c, 32, MT_PROBE | 10, NULL, 0, ENOTSUP);
    expect_feature_err(c, 32, MT_SET | 0xffff, NULL, 0, ENOTSUP);
    /* A GET whose argsz has no room for the answer. */
    expect_feature_err(c, 15, MT_GET | F_STATE, NULL, 0, EINVAL);
    expect_feature_err(c, 8, MT_GET | F_MIGRATION, NULL, 0, EINVAL);
    /* SET with too little data, a state that does not exist, ERROR. */
    expect_feature_err(c, 16, MT_SET | F_STATE, &st, 4, EINVAL);
    st.device_state = 8;
    expect_feature_err(c, 16, MT_SET | F_STATE, &st, sizeof(st), EINVAL);
    st.device_state = 0xffffffffu;
    expect_feature_err(c, 16, MT_SET | F_STATE, &st, sizeof(st), EINVAL);
    st.device_state = MT_ERROR;
    expect_feature_err(c, 16, MT_SET | F_STATE, &st, sizeof(st), EINVAL);
    /* Nothing of that moved the device. */
    ck_assert_uint_eq(mt_get(c), MT_RUNNING);
    /* A NO_REPLY SET is carried out but never answered (trap 6). */
    {
        uint8_t msg[16] = { 0 };
        struct vfio_user_device_feature hd = { 16, MT_SET | F_STATE };

        st.device_state = MT_STOP;
        memcpy(msg, &hd, 8);
        memcpy(msg + 8, &st, 8);
        ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DEVICE_FEATURE,
                                         VFIO_USER_F_NO_REPLY, msg, sizeof(msg), NULL,
                                         0, NULL), 0);
        pt_expect_silence(c, 100);
        ck_assert_uint_eq(mt_get(c), MT_STOP);
    }
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_get)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct vfio_user_device_feature hd;
    struct vfio_user_device_feature_migration mf;
    struct vfio_user_device_feature_mig_state st;
    struct pt_reply r;

    /* MIGRATION: STOP_COPY, P2P and PRE_COPY; argsz grown to the reply. */
    ck_assert_int_eq(mt_feature_try(c, 64, MT_GET | F_MIGRATION, NULL, 0, &r), 0);
    ck_assert_uint_eq(r.len, 16);
    memcpy(&hd, r.payload, 8);
    memcpy(&mf, r.payload + 8, 8);
    ck_assert_uint_eq(hd.argsz, 16);
    ck_assert_uint_eq(hd.flags, MT_GET | F_MIGRATION);
    ck_assert_uint_eq(mf.flags, VFIO_USER_MIGRATION_STOP_COPY | VFIO_USER_MIGRATION_P2P |
                                    VFIO_USER_MIGRATION_PRE_COPY);
    pt_reply_clear(&r);
    /* MIG_DEVICE_STATE: RUNNING after start; data_fd unused (-1). */
    ck_assert_int_eq(mt_feature_try(c, 16, MT_GET | F_STATE, NULL, 0, &r), 0);
    ck_assert_uint_eq(r.len, 16);
    memcpy(&st, r.payload + 8, 8);
    ck_assert_uint_eq(st.device_state, MT_RUNNING);
    ck_assert_uint_eq(st.data_fd, 0xffffffffu);
    pt_reply_clear(&r);
    /* SET answers with its request. */
    st = (struct vfio_user_device_feature_mig_state){ .device_state = MT_STOP };
    ck_assert_int_eq(mt_feature_try(c, 16, MT_SET | F_STATE, &st, 8, &r), 0);
    ck_assert_uint_eq(r.len, 16);
    memcpy(&hd, r.payload, 8);
    ck_assert_uint_eq(hd.flags, MT_SET | F_STATE);
    memcpy(&st, r.payload + 8, 8);
    ck_assert_uint_eq(st.device_state, MT_STOP);
    pt_reply_clear(&r);
    ck_assert_uint_eq(mt_get(c), MT_STOP);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static uint64_t data_size(struct vfu_client *c)
{
    struct vfio_user_device_feature_mig_data_size ds;
    struct pt_reply r;

    ck_assert_int_eq(mt_feature_try(c, 16, MT_GET | F_DATA_SIZE, NULL, 0, &r), 0);
    ck_assert_uint_eq(r.len, 16);
    memcpy(&ds, r.payload + 8, 8);
    pt_reply_clear(&r);
    return ds.stop_copy_length;
}

START_TEST(test_data_size)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    uint64_t running, stopped;
    GByteArray *b;
    int n;

    /* Running: the daemon's part exactly, the plugin's part unknown until
     * it first saved: an underestimate, never more than the stream. */
    running = data_size(c);
    ck_assert_uint_gt(running, 4096);
    /* Stopped: exact. */
    mt_set(c, MT_STOP);
    stopped = data_size(c);
    ck_assert_uint_gt(stopped, running);
    mt_set(c, MT_STOP_COPY);
    ck_assert_uint_eq(data_size(c), stopped);
    /* It counts down as the stream is read. */
    b = g_byte_array_new();
    n = mt_read_try(c, 1000, b);
    ck_assert_int_eq(n, 1000);
    ck_assert_uint_eq(data_size(c), stopped - 1000);
    g_byte_array_unref(b);
    b = mt_read_all(c);
    ck_assert_uint_eq(b->len + 1000, stopped);
    ck_assert_uint_eq(data_size(c), 0);
    g_byte_array_unref(b);
    /* Running again: now the estimate knows the plugin's size. */
    mt_set(c, MT_RUNNING);
    ck_assert_uint_eq(data_size(c), stopped);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_version_capability)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    char *json = NULL;
    json_object *root, *caps, *mg, *ps;

    ck_assert_int_eq(vfu_client_negotiate(c, NULL, &json), 0);
    root = json_tokener_parse(json);
    ck_assert_ptr_nonnull(root);
    ck_assert(json_object_object_get_ex(root, "capabilities", &caps));
    ck_assert(json_object_object_get_ex(caps, "migration", &mg));
    ck_assert(json_object_object_get_ex(mg, "pgsize", &ps));
    ck_assert_int_eq(json_object_get_int64(ps), 4096);
    json_object_put(root);
    free(json);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_no_migration)
{
    g_autofree char *path = mt_plugin_path("nomig");
    g_autofree char *cfg = g_strdup_printf("[n0]\nplugin = %s\n", path);
    static const char *const names[] = { "n0", NULL };
    struct harness *h = pt_start(cfg, names);
    struct vfu_client *c = pt_connect(h, "n0");
    struct { uint32_t argsz, size; uint8_t data[16]; } mig = { 8 + 16, 16, { 0 } };
    char *json = NULL;
    static const unsigned feats[] = { F_MIGRATION, F_STATE, F_LOG_START, F_LOG_STOP,
                                      F_LOG_REPORT, F_DATA_SIZE, 3 };

    /* No "migration" in VERSION: QEMU then does not try. */
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, &json), 0);
    ck_assert_ptr_null(strstr(json, "migration"));
    free(json);
    for (unsigned i = 0; i < G_N_ELEMENTS(feats); i++) {
        expect_feature_err(c, 64, MT_GET | feats[i], NULL, 0, ENOTSUP);
        expect_feature_err(c, 64, MT_PROBE | feats[i], NULL, 0, ENOTSUP);
        expect_feature_err(c, 64, MT_SET | feats[i], &mig, 16, ENOTSUP);
    }
    pt_expect_err(c, VFIO_USER_MIG_DATA_READ, &mig, 8, NULL, 0, ENOTSUP);
    pt_expect_err(c, VFIO_USER_MIG_DATA_WRITE, &mig, sizeof(mig), NULL, 0, ENOTSUP);
    /* The device works as ever. */
    pt_wr32(c, PT_BAR0, 0, 0x1234);
    ck_assert_uint_eq(pt_rd32(c, PT_BAR0, 0), 0x1234);
    ck_assert_int_eq(vfu_client_reset(c), 0);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

static Suite *features_suite(void)
{
    Suite *s = suite_create("features");
    TCase *tc = pt_tcase("features");

    tcase_add_test(tc, test_probe);
    tcase_add_test(tc, test_flag_validation);
    tcase_add_test(tc, test_get);
    tcase_add_test(tc, test_data_size);
    tcase_add_test(tc, test_version_capability);
    tcase_add_test(tc, test_no_migration);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(features_suite());
}
