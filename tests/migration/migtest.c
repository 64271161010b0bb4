/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the migration tests: see migtest.h.
 */
#include "config.h"

#include "migtest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

const char *mt_state_name(uint32_t s)
{
    static const char *const names[] = {
        "ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
        "PRE_COPY", "PRE_COPY_P2P",
    };

    return s < G_N_ELEMENTS(names) ? names[s] : "(invalid)";
}

int mt_feature_try(struct vfu_client *c, uint32_t argsz, uint32_t flags,
                   const void *data, size_t len, struct pt_reply *r)
{
    g_autofree uint8_t *msg = g_malloc0(sizeof(struct vfio_user_device_feature) + len);
    struct vfio_user_device_feature h = { .argsz = argsz, .flags = flags };

    memcpy(msg, &h, sizeof(h));
    if (len > 0) {
        memcpy(msg + sizeof(h), data, len);
    }
    return pt_call(c, VFIO_USER_DEVICE_FEATURE, 0, msg, sizeof(h) + len, NULL, 0, r);
}

int mt_set_try(struct vfu_client *c, uint32_t state)
{
    struct vfio_user_device_feature_mig_state st = { .device_state = state };
    struct pt_reply r;
    int ret;

    ret = mt_feature_try(c, 16, MT_SET | VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE,
                         &st, sizeof(st), &r);
    if (ret == 0) {
        /* A SET is answered with its request. */
        ck_assert_uint_eq(r.len, 16);
    }
    pt_reply_clear(&r);
    return ret;
}

void mt_set(struct vfu_client *c, uint32_t state)
{
    int r = mt_set_try(c, state);

    ck_assert_msg(r == 0, "SET %s: %s", mt_state_name(state), strerror(-r));
}

uint32_t mt_get(struct vfu_client *c)
{
    struct vfio_user_device_feature h;
    struct vfio_user_device_feature_mig_state st;
    struct pt_reply r;
    int ret;

    ret = mt_feature_try(c, 16, MT_GET | VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE,
                         NULL, 0, &r);
    ck_assert_msg(ret == 0, "GET MIG_DEVICE_STATE: %s", strerror(-ret));
    ck_assert_uint_eq(r.len, sizeof(h) + sizeof(st));
    memcpy(&h, r.payload, sizeof(h));
    memcpy(&st, r.payload + sizeof(h), sizeof(st));
    ck_assert_uint_eq(h.argsz, 16);
    ck_assert_uint_eq(h.flags, MT_GET | VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE);
    pt_reply_clear(&r);
    return st.device_state;
}

int mt_read_try(struct vfu_client *c, uint32_t size, GByteArray *out)
{
    struct vfio_user_mig_data req = { .argsz = sizeof(req) + size, .size = size };
    struct vfio_user_mig_data rep;
    struct pt_reply r;
    int ret;

    ret = pt_call(c, VFIO_USER_MIG_DATA_READ, 0, &req, sizeof(req), NULL, 0, &r);
    if (ret < 0) {
        pt_reply_clear(&r);
        return ret;
    }
    ck_assert_uint_ge(r.len, sizeof(rep));
    memcpy(&rep, r.payload, sizeof(rep));
    ck_assert_uint_le(rep.size, size);
    ck_assert_uint_eq(rep.argsz, sizeof(rep) + rep.size);
    ck_assert_uint_eq(r.len, sizeof(rep) + rep.size);
    if (out != NULL && rep.size > 0) {
        g_byte_array_append(out, r.payload + sizeof(rep), rep.size);
    }
    pt_reply_clear(&r);
    return (int)rep.size;
}

int mt_write_try(struct vfu_client *c, const void *data, uint32_t size)
{
    g_autofree uint8_t *msg = g_malloc(sizeof(struct vfio_user_mig_data) + size);
    struct vfio_user_mig_data h = { .argsz = sizeof(h), .size = size };
    struct pt_reply r;
    int ret;

    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), data, size);
    ret = pt_call(c, VFIO_USER_MIG_DATA_WRITE, 0, msg, sizeof(h) + size, NULL, 0, &r);
    if (ret == 0) {
        ck_assert_uint_eq(r.len, 0);
    }
    pt_reply_clear(&r);
    return ret;
}

GByteArray *mt_read_all(struct vfu_client *c)
{
    GByteArray *b = g_byte_array_new();
    uint32_t chunk = (uint32_t)vfu_client_server_max_xfer(c);
    int n;

    do {
        n = mt_read_try(c, chunk, b);
        ck_assert_msg(n >= 0, "MIG_DATA_READ: %s", strerror(-n));
    } while ((uint32_t)n == chunk);
    return b;
}

void mt_write_all(struct vfu_client *c, const uint8_t *data, size_t len)
{
    uint32_t chunk = (uint32_t)vfu_client_server_max_xfer(c);

    for (size_t off = 0; off < len; off += chunk) {
        uint32_t n = (uint32_t)MIN((size_t)chunk, len - off);
        int r = mt_write_try(c, data + off, n);

        ck_assert_msg(r == 0, "MIG_DATA_WRITE at %zu: %s", off, strerror(-r));
    }
}

GByteArray *mt_save(struct vfu_client *src)
{
    mt_set(src, MT_STOP_COPY);
    return mt_read_all(src);
}

int mt_load_try(struct vfu_client *dst, const uint8_t *data, size_t len)
{
    mt_set(dst, MT_RESUMING);
    mt_write_all(dst, data, len);
    return mt_set_try(dst, MT_STOP);
}

size_t mt_migrate(struct vfu_client *src, struct vfu_client *dst, double *stopped_ms)
{
    GByteArray *b;
    gint64 t0;
    size_t n;

    mt_set(dst, MT_RESUMING);
    t0 = g_get_monotonic_time();
    b = mt_save(src);
    mt_write_all(dst, b->data, b->len);
    mt_set(dst, MT_STOP);
    mt_set(dst, MT_RUNNING);
    if (stopped_ms != NULL) {
        *stopped_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    }
    mt_set(src, MT_STOP);
    n = b->len;
    g_byte_array_unref(b);
    return n;
}

char *mt_plugin_path(const char *name)
{
    return g_strdup_printf("%s/tests/migration/.libs/%s.so", MT_BUILDDIR, name);
}

const char *mt_tool_path(void)
{
    return MT_BUILDDIR "/tests/migration/vfud-migrate";
}

int mt_run_tool(const char *const *args, char **output)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    gint status = -1;

    g_ptr_array_add(argv, (gpointer)mt_tool_path());
    for (const char *const *a = args; *a != NULL; a++) {
        g_ptr_array_add(argv, (gpointer)*a);
    }
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (gchar **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL,
                               NULL, &out, &err, &status, &error),
                  "cannot run %s: %s", mt_tool_path(),
                  error != NULL ? error->message : "?");
    if (output != NULL) {
        *output = g_strconcat(out, err, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void mt_mem_new(struct mt_mem *m, size_t size)
{
    m->size = size;
    m->fd = pt_memfd(size);
    m->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    ck_assert_ptr_ne(m->p, MAP_FAILED);
}

void mt_mem_map(struct vfu_client *c, const struct mt_mem *m, uint64_t iova)
{
    int r = vfu_client_dma_map(c, iova, m->size, m->fd, 0,
                               VFIO_USER_F_DMA_REGION_READ |
                                   VFIO_USER_F_DMA_REGION_WRITE);

    ck_assert_msg(r == 0, "DMA_MAP: %s", strerror(-r));
}

void mt_mem_free(struct mt_mem *m)
{
    munmap(m->p, m->size);
    close(m->fd);
}
