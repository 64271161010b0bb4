/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VERSION (§2.1): what the daemon answers QEMU, how big its answer may be
 * (trap 4), the order rules (first message, only once) and the client
 * capabilities it refuses (bad JSON, wrong types, missing NUL), which end
 * the connection.  Also twin-socket negotiation (§1.7) and a DMA request
 * travelling on the twin socket.
 *
 * Traps covered: 4 (reply not larger than the request, nothing the client
 * did not ask for), 20 (error replies), 25 (page sizes).
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

struct version_reply {
    struct vfio_user_header hdr;
    uint16_t major, minor;
    char *json; /* NULL when the reply has none */
    size_t json_len; /* with the NUL */
    int fds[VFU_CLIENT_MAX_RECV_FDS];
    unsigned nr_fds;
};

static void version_reply_clear(struct version_reply *v)
{
    free(v->json);
    pt_close_fds(v->fds, v->nr_fds);
    memset(v, 0, sizeof(*v));
}

/* VERSION with text (len bytes, sent as given: include the NUL yourself).
 * Returns 0 or -error_no; on success the reply is parsed into *v. */
static int version_raw(struct vfu_client *c, uint16_t major, uint16_t minor,
                       const void *text, size_t len, const int *fds,
                       unsigned nr_fds, struct version_reply *v)
{
    g_autofree uint8_t *p = g_malloc0(4 + len);
    uint8_t *body = NULL;
    size_t blen = 0;
    uint16_t id;
    int r;

    memset(v, 0, sizeof(*v));
    memcpy(p, &major, 2);
    memcpy(p + 2, &minor, 2);
    if (len > 0) {
        memcpy(p + 4, text, len);
    }
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_VERSION, 0, p, 4 + len, fds,
                                     nr_fds, &id), 0);
    v->nr_fds = VFU_CLIENT_MAX_RECV_FDS;
    r = vfu_client_recv_reply(c, id, &v->hdr, (void **)&body, &blen, v->fds,
                              &v->nr_fds);
    if (r < 0) {
        ck_assert_msg(v->hdr.flags & VFIO_USER_F_ERROR, "no VERSION reply: %s",
                      strerror(-r));
        ck_assert_uint_eq(v->hdr.msg_size, 16);
        ck_assert_uint_eq(v->hdr.msg_id, id);
        v->nr_fds = 0;
        return r;
    }
    ck_assert_uint_eq(v->hdr.msg_id, id);
    ck_assert_uint_eq(v->hdr.cmd, VFIO_USER_VERSION);
    ck_assert_uint_ge(blen, 4);
    memcpy(&v->major, body, 2);
    memcpy(&v->minor, body + 2, 2);
    if (blen > 4) {
        v->json_len = blen - 4;
        ck_assert_msg(body[blen - 1] == '\0', "VERSION reply JSON lacks its NUL");
        v->json = g_strdup((char *)body + 4);
        ck_assert_uint_eq(strlen(v->json) + 1, v->json_len);
    }
    free(body);
    return 0;
}

static int version_json(struct vfu_client *c, const char *json,
                        struct version_reply *v)
{
    return version_raw(c, 0, 0, json, strlen(json) + 1, NULL, 0, v);
}

/* The capabilities object of a reply (reference owned by root). */
static json_object *reply_caps(const struct version_reply *v, json_object **root)
{
    json_object *caps;

    ck_assert_ptr_nonnull(v->json);
    *root = json_tokener_parse(v->json);
    ck_assert_msg(*root != NULL && json_object_is_type(*root, json_type_object),
                  "VERSION reply is not a JSON object: %s", v->json);
    ck_assert(json_object_object_get_ex(*root, "capabilities", &caps));
    ck_assert(json_object_is_type(caps, json_type_object));
    return caps;
}

static int64_t cap_int(json_object *caps, const char *key)
{
    json_object *o;

    ck_assert_msg(json_object_object_get_ex(caps, key, &o), "no %s", key);
    ck_assert_msg(json_object_is_type(o, json_type_int), "%s is not an integer", key);
    return json_object_get_int64(o);
}

/* ------------------------------------------------------------------------
 * Good path
 */
START_TEST(test_qemu_caps)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    struct version_reply v;
    json_object *root, *caps, *o;

    ck_assert_int_eq(version_json(c, VFU_CLIENT_QEMU_CAPS, &v), 0);
    /* QEMU 11.1.3's request is 214 bytes and it reads the reply into that
     * buffer (trap 4). */
    ck_assert_uint_eq(strlen(VFU_CLIENT_QEMU_CAPS) + 1 + 4 + 16, 214);
    ck_assert_uint_le(v.hdr.msg_size, 214);
    ck_assert_uint_eq(v.major, 0);
    ck_assert_uint_eq(v.minor, 0);
    ck_assert_uint_eq(v.nr_fds, 0);
    caps = reply_caps(&v, &root);
    /* Within what QEMU accepts (proxy.c caps_*). */
    ck_assert_int_ge(cap_int(caps, "max_msg_fds"), 1);
    ck_assert_int_le(cap_int(caps, "max_msg_fds"), 16);
    ck_assert_int_ge(cap_int(caps, "max_data_xfer_size"), 4096);
    ck_assert_int_le(cap_int(caps, "max_data_xfer_size"), 64 << 20);
    if (json_object_object_get_ex(caps, "pgsizes", &o)) {
        ck_assert_int_eq(json_object_get_int64(o) & 4095, 0);
        ck_assert_int_ne(json_object_get_int64(o) & 4096, 0);
    }
    if (json_object_object_get_ex(caps, "max_dma_maps", &o)) {
        ck_assert_int_le(json_object_get_int64(o), 65535);
    }
    /* Nothing QEMU did not ask for (trap 4), and no write_multiple: the
     * daemon never turns REGION_WRITE_MULTI on (see test_regions). */
    ck_assert(!json_object_object_get_ex(caps, "twin_socket", NULL));
    ck_assert(!json_object_object_get_ex(caps, "write_multiple", NULL));
    /* testdev migrates: "migration" with a page size QEMU accepts. */
    ck_assert(json_object_object_get_ex(caps, "migration", &o));
    ck_assert(json_object_object_get_ex(o, "pgsize", &o));
    ck_assert_int_eq(json_object_get_int64(o), 4096);
    json_object_put(root);
    version_reply_clear(&v);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_reply_never_larger)
{
    struct harness *h = pt_start_testdev(NULL);
    /* Requests from no JSON at all up to QEMU's: the reply must fit in the
     * request's size every time (trap 4), dropping capabilities rather
     * than overflowing, and stay valid JSON. */
    static const char *const texts[] = {
        NULL,
        "{}",
        "{\"capabilities\":{}}",
        "{\"capabilities\":{}}                                          ",
        "{\"capabilities\":{\"max_msg_fds\":16}}                                "
        "                         ",
        VFU_CLIENT_QEMU_CAPS,
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(texts); i++) {
        struct vfu_client *c = pt_connect(h, "t0");
        size_t len = texts[i] != NULL ? strlen(texts[i]) + 1 : 0;
        struct version_reply v;

        ck_assert_int_eq(version_raw(c, 0, 0, texts[i], len, NULL, 0, &v), 0);
        ck_assert_msg(v.hdr.msg_size <= 16 + 4 + len,
                      "request of %zu bytes got a reply of %u", 16 + 4 + len,
                      v.hdr.msg_size);
        ck_assert_uint_eq(v.nr_fds, 0);
        if (v.json != NULL) {
            json_object *root;

            reply_caps(&v, &root);
            json_object_put(root);
        }
        version_reply_clear(&v);
        pt_assert_alive(c);
        pt_close_wait(h, c);
    }
    pt_finish(h);
}
END_TEST

START_TEST(test_minor_and_unknown_keys)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    static const char json[] =
        "{\"capabilities\": {\"future_thing\": [1, 2], \"max_msg_fds\": 4}, "
        "\"vendor\": {\"x\": null}}";
    struct version_reply v;

    /* A newer minor is answered with ours; keys we do not know are
     * ignored. */
    ck_assert_int_eq(version_raw(c, 0, 7, json, sizeof(json), NULL, 0, &v), 0);
    ck_assert_uint_eq(v.major, 0);
    ck_assert_uint_eq(v.minor, 0);
    version_reply_clear(&v);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Order
 */
START_TEST(test_version_first)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    struct vfio_user_device_info info = { .argsz = sizeof(info) };
    struct vfio_user_region_access rd = { .region = PT_BAR0, .count = 4 };
    struct vfio_user_dma_map map = { .argsz = sizeof(map), .flags = 3,
                                     .addr = 0x10000, .size = 0x1000 };
    int fd = pt_memfd(0x1000);
    int base;

    /* Nothing is served before VERSION... */
    pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), NULL, 0, EINVAL);
    base = harness_fd_count(h->pid); /* the daemon holds our socket now */
    pt_expect_err(c, VFIO_USER_REGION_READ, &rd, sizeof(rd), NULL, 0, EINVAL);
    pt_expect_err(c, VFIO_USER_DMA_MAP, &map, sizeof(map), &fd, 1, EINVAL);
    pt_expect_err(c, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, EINVAL);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    /* ...and VERSION still works afterwards. */
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), 0);
    pt_assert_alive(c);
    close(fd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_second_version)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_open(h, "t0");
    struct version_reply v;

    ck_assert_int_eq(version_json(c, VFU_CLIENT_QEMU_CAPS, &v), -EINVAL);
    pt_assert_alive(c);
    ck_assert_int_eq(version_json(c, "{}", &v), -EINVAL);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_version_with_fd)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    struct vfio_user_device_info info = { .argsz = sizeof(info) };
    int efd = pt_eventfd();
    struct version_reply v;
    const char *json = VFU_CLIENT_QEMU_CAPS;
    int base;

    /* A round trip first, so that the daemon holds our socket. */
    pt_expect_err(c, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info), NULL, 0, EINVAL);
    base = harness_fd_count(h->pid);

    /* A VERSION request carries no fds (§1.4). */
    ck_assert_int_eq(version_raw(c, 0, 0, json, strlen(json) + 1, &efd, 1, &v),
                     -EINVAL);
    ck_assert_int_eq(pt_fd_count_settle(h, base, 2000), base);
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), 0);
    pt_assert_alive(c);
    close(efd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_payload_bounds)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    g_autofree char *huge = g_malloc(5000);
    struct pt_reply r;
    uint16_t two = 0;

    /* Shorter than major+minor, or absurdly long: refused, and the
     * client may try again. */
    ck_assert_int_eq(pt_call(c, VFIO_USER_VERSION, 0, &two, sizeof(two), NULL, 0, &r),
                     -EINVAL);
    memset(huge, ' ', 4999);
    huge[0] = huge[1] = huge[2] = huge[3] = 0;
    huge[4] = '{';
    huge[4997] = '}';
    huge[4999] = '\0';
    ck_assert_int_eq(pt_call(c, VFIO_USER_VERSION, 0, huge, 5000, NULL, 0, &r),
                     -EINVAL);
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), 0);
    pt_assert_alive(c);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Refused capabilities: error reply, then the daemon hangs up
 */
static void expect_refused(struct harness *h, uint16_t major, const void *text,
                           size_t len, int err)
{
    unsigned gone = pt_log_count(h, "client disconnected");
    struct vfu_client *c = pt_connect(h, "t0");
    struct version_reply v;
    int r = version_raw(c, major, 0, text, len, NULL, 0, &v);

    ck_assert_msg(r == -err, "VERSION %u \"%.*s\": expected %s, got %s", major,
                  (int)len, (const char *)text, strerror(err),
                  r == 0 ? "success" : strerror(-r));
    pt_expect_hangup(c);
    vfu_client_close(c);
    pt_log_wait_count(h, "client disconnected", gone + 1);
}

START_TEST(test_bad_json)
{
    struct harness *h = pt_start_testdev(NULL);
    static const char *const bad[] = {
        "{",
        "not json",
        "[1, 2]",
        "42",
        "{\"capabilities\": 5}",
        "{\"capabilities\": [\"max_msg_fds\"]}",
        "{\"capabilities\": {\"max_msg_fds\": \"16\"}}",
        "{\"capabilities\": {\"max_msg_fds\": 1.5}}",
        "{\"capabilities\": {\"max_msg_fds\": -1}}",
        "{\"capabilities\": {\"max_msg_fds\": 1025}}",
        "{\"capabilities\": {\"max_data_xfer_size\": true}}",
        "{\"capabilities\": {\"max_data_xfer_size\": 100}}",
        "{\"capabilities\": {\"max_data_xfer_size\": 8589934592}}",
        "{\"capabilities\": {\"pgsizes\": \"4096\"}}",
        /* trap 25: 4 KiB pages must be among the client's page sizes */
        "{\"capabilities\": {\"pgsizes\": 8192}}",
        "{\"capabilities\": {\"write_multiple\": 1}}",
        "{\"capabilities\": {\"twin_socket\": true}}",
        "{\"capabilities\": {\"twin_socket\": {\"supported\": \"yes\"}}}",
        "{\"capabilities\": {\"migration\": [4096]}}",
        "{\"capabilities\": {\"migration\": {\"pgsize\": \"4096\"}}}",
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        expect_refused(h, 0, bad[i], strlen(bad[i]) + 1, EINVAL);
    }
    /* JSON without its terminating NUL. */
    expect_refused(h, 0, "{}", 2, EINVAL);
    expect_refused(h, 0, VFU_CLIENT_QEMU_CAPS, strlen(VFU_CLIENT_QEMU_CAPS), EINVAL);
    /* A major version we do not speak. */
    expect_refused(h, 1, "{}", 3, ENOTSUP);
    expect_refused(h, 0xffff, NULL, 0, ENOTSUP);
    {
        struct vfu_client *c = pt_open(h, "t0");

        pt_assert_alive(c);
        vfu_client_close(c);
    }
    pt_finish(h);
}
END_TEST

/* ------------------------------------------------------------------------
 * Twin socket (§1.7)
 */
#define TWIN_CAPS                                                              \
    "{\"capabilities\": {\"max_msg_fds\": 1, \"twin_socket\": "               \
    "{\"supported\": true}}}                                                " \
    "                                                                        "

START_TEST(test_twin_socket)
{
    struct harness *h = pt_start_testdev(NULL);
    struct vfu_client *c = pt_connect(h, "t0");
    struct version_reply v;
    json_object *root, *caps, *twin, *o;
    struct stat st;
    struct {
        struct vfio_user_header hdr;
        struct pt_dma_rw rw;
        uint8_t data[64];
    } req;
    struct {
        struct vfio_user_header hdr;
        struct pt_dma_rw rw;
    } rep;
    uint32_t status;
    int tfd;

    ck_assert_int_eq(version_json(c, TWIN_CAPS, &v), 0);
    ck_assert_uint_le(v.hdr.msg_size, 16 + 4 + sizeof(TWIN_CAPS));
    caps = reply_caps(&v, &root);
    ck_assert(json_object_object_get_ex(caps, "twin_socket", &twin));
    ck_assert(json_object_object_get_ex(twin, "supported", &o));
    ck_assert(json_object_get_boolean(o));
    ck_assert(json_object_object_get_ex(twin, "fd_index", &o));
    ck_assert_int_eq(json_object_get_int(o), 0);
    json_object_put(root);
    ck_assert_uint_eq(v.nr_fds, 1);
    tfd = v.fds[0];
    v.nr_fds = 0;
    ck_assert_int_eq(fstat(tfd, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    version_reply_clear(&v);

    /* A window without fd: the testdev's DMA goes by message, and the
     * DMA_WRITE travels on the twin socket while the main one carries our
     * register polling. */
    ck_assert_int_eq(vfu_client_dma_map(c, 0x100000, 0x1000, -1, 0,
                                        VFIO_USER_F_DMA_REGION_READ |
                                            VFIO_USER_F_DMA_REGION_WRITE), 0);
    pt_bus_master(c, true);
    pt_dma_start(c, TD_OP_FILL, 0, 0x100010, 64, 0x11223344, 0xffffffff);
    {
        struct pollfd pfd = { .fd = tfd, .events = POLLIN };

        ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    }
    ck_assert_int_eq(recv(tfd, &req, sizeof(req), MSG_WAITALL), (ssize_t)sizeof(req));
    ck_assert_uint_eq(req.hdr.cmd, VFIO_USER_DMA_WRITE);
    ck_assert_uint_eq(req.hdr.flags & VFIO_USER_F_TYPE_MASK, VFIO_USER_F_TYPE_COMMAND);
    ck_assert_uint_eq(req.hdr.msg_size, sizeof(req));
    ck_assert_uint_eq(req.rw.addr, 0x100010);
    ck_assert_uint_eq(req.rw.count, 64);
    ck_assert_uint_eq(req.data[0], 0x44);
    ck_assert_uint_eq(req.data[63], 0x11);
    memset(&rep, 0, sizeof(rep));
    rep.hdr.msg_id = req.hdr.msg_id;
    rep.hdr.cmd = VFIO_USER_DMA_WRITE;
    rep.hdr.msg_size = sizeof(rep);
    rep.hdr.flags = VFIO_USER_F_TYPE_REPLY;
    rep.rw = req.rw;
    ck_assert_int_eq(send(tfd, &rep, sizeof(rep), MSG_NOSIGNAL), (ssize_t)sizeof(rep));
    status = pt_dma_wait(c);
    ck_assert_uint_eq(status, TD_ST_DONE);
    /* Commands are not served on the twin socket. */
    {
        struct vfio_user_header cmd = { .msg_id = 9, .cmd = VFIO_USER_DEVICE_GET_INFO,
                                        .msg_size = 16 };
        struct pollfd pfd = { .fd = tfd, .events = POLLIN };

        ck_assert_int_eq(send(tfd, &cmd, sizeof(cmd), MSG_NOSIGNAL), 16);
        ck_assert_int_eq(poll(&pfd, 1, 100), 0);
    }
    pt_assert_alive(c);
    close(tfd);
    vfu_client_close(c);
    pt_finish(h);
}
END_TEST

START_TEST(test_twin_socket_not_possible)
{
    struct harness *h = pt_start_testdev(NULL);
    static const char no_fds[] =
        "{\"capabilities\": {\"max_msg_fds\": 0, \"twin_socket\": "
        "{\"supported\": true}}}                                            ";
    static const char too_short[] =
        "{\"capabilities\": {\"twin_socket\": {\"supported\": true}}}";
    static const char *const texts[] = { no_fds, too_short };

    /* A client that cannot receive fds, or whose request is too short for
     * a reply naming the twin socket, gets no twin socket and no fd. */
    for (unsigned i = 0; i < G_N_ELEMENTS(texts); i++) {
        struct vfu_client *c = pt_connect(h, "t0");
        struct version_reply v;

        ck_assert_int_eq(version_json(c, texts[i], &v), 0);
        ck_assert_uint_eq(v.nr_fds, 0);
        ck_assert_ptr_null(v.json != NULL ? strstr(v.json, "twin_socket") : NULL);
        version_reply_clear(&v);
        pt_assert_alive(c);
        pt_close_wait(h, c);
    }
    pt_finish(h);
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc;

    tc = pt_tcase("good");
    tcase_add_test(tc, test_qemu_caps);
    tcase_add_test(tc, test_reply_never_larger);
    tcase_add_test(tc, test_minor_and_unknown_keys);
    suite_add_tcase(s, tc);

    tc = pt_tcase("order");
    tcase_add_test(tc, test_version_first);
    tcase_add_test(tc, test_second_version);
    tcase_add_test(tc, test_version_with_fd);
    tcase_add_test(tc, test_payload_bounds);
    suite_add_tcase(s, tc);

    tc = pt_tcase("refused");
    tcase_add_test(tc, test_bad_json);
    suite_add_tcase(s, tc);

    tc = pt_tcase("twin");
    tcase_add_test(tc, test_twin_socket);
    tcase_add_test(tc, test_twin_socket_not_possible);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(version_suite());
}
