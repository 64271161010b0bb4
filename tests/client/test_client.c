/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the vfio-user test client against a scripted fake server: a
 * thread on the other end of a socketpair() that reads what the client
 * sends and answers with exactly the bytes (and fds) each test needs.
 *
 * The server thread never calls ck_assert (Check's failure path is not
 * thread-safe): it records its first failure, and the test checks it after
 * joining.  Every test also checks that the number of open fds is the same
 * before and after, so the client leaks none.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vfu_client.h"

/* ---- the fake server ---- */

struct srv {
    int fd;
    pthread_t thread;
    void (*script)(struct srv *s);
    int fds_before;
    char err[512];
};

/* One received message. */
struct srv_msg {
    struct vfio_user_header hdr;
    uint8_t body[4096];
    size_t len;
    int fds[32];
    unsigned nr_fds;
};

#define SRV_CHECK(s, cond)                                                     \
    do {                                                                       \
        if (!(cond)) {                                                         \
            srv_fail((s), __LINE__, #cond);                                    \
            return;                                                            \
        }                                                                      \
    } while (0)

static void srv_fail(struct srv *s, int line, const char *what)
{
    if (s->err[0] == '\0') {
        snprintf(s->err, sizeof(s->err), "fake server, line %d: %s", line,
                 what);
    }
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

static int recv_all(struct srv *s, void *buf, size_t len, struct srv_msg *m)
{
    size_t got = 0;

    while (got < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 32)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {(char *)buf + got, len - got};
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = ctl.buf,
            .msg_controllen = sizeof(ctl.buf),
        };
        ssize_t n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);

        if (n <= 0) {
            return -1;
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL;
             cm = CMSG_NXTHDR(&mh, cm)) {
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (size_t i = 0; i < k && m->nr_fds < 32; i++) {
                memcpy(&m->fds[m->nr_fds++], CMSG_DATA(cm) + i * sizeof(int),
                       sizeof(int));
            }
        }
        got += (size_t)n;
    }
    return 0;
}

/* Reads one message; -1 on EOF or anything odd. */
static int srv_recv(struct srv *s, struct srv_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (recv_all(s, &m->hdr, sizeof(m->hdr), m) < 0 ||
        m->hdr.msg_size < sizeof(m->hdr) ||
        m->hdr.msg_size - sizeof(m->hdr) > sizeof(m->body)) {
        return -1;
    }
    m->len = m->hdr.msg_size - sizeof(m->hdr);
    return recv_all(s, m->body, m->len, m);
}

static void srv_close_fds(struct srv_msg *m)
{
    for (unsigned i = 0; i < m->nr_fds; i++) {
        close(m->fds[i]);
    }
    m->nr_fds = 0;
}

/* Blocks until the client hangs up, closing whatever it still sends. */
static void srv_wait_eof(struct srv *s)
{
    struct srv_msg m;

    while (srv_recv(s, &m) == 0) {
        srv_close_fds(&m);
    }
}

/*
 * Sends header + payload, fds with the first byte, in pieces of chunk bytes
 * (0: all at once) with a pause between them so the client sees partial
 * reads.
 */
static int srv_send(struct srv *s, uint16_t id, uint16_t cmd, uint32_t flags,
                    uint32_t err, const void *payload, size_t len,
                    const int *fds, unsigned nr_fds, size_t chunk)
{
    uint8_t buf[8192];
    struct vfio_user_header hdr = {
        .msg_id = id,
        .cmd = cmd,
        .msg_size = (uint32_t)(sizeof(hdr) + len),
        .flags = flags,
        .error_no = err,
    };
    size_t total = sizeof(hdr) + len, sent = 0;

    if (total > sizeof(buf)) {
        return -1;
    }
    memcpy(buf, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(buf + sizeof(hdr), payload, len);
    }
    if (chunk == 0) {
        chunk = total;
    }
    while (sent < total) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 32)];
            struct cmsghdr align;
        } ctl;
        size_t n = total - sent < chunk ? total - sent : chunk;
        struct iovec iov = {buf + sent, n};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t w;

        if (sent == 0 && nr_fds > 0) {
            struct cmsghdr *cm;

            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
            cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nr_fds);
        }
        w = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        sent += (size_t)w;
        if (sent < total && chunk < total) {
            usleep(2000);
        }
    }
    return 0;
}

static int srv_reply(struct srv *s, const struct srv_msg *req,
                     const void *payload, size_t len)
{
    return srv_send(s, req->hdr.msg_id, req->hdr.cmd, VFIO_USER_F_TYPE_REPLY,
                    0, payload, len, NULL, 0, 0);
}

static int srv_error(struct srv *s, const struct srv_msg *req, uint32_t err)
{
    return srv_send(s, req->hdr.msg_id, req->hdr.cmd,
                    VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, err, NULL, 0,
                    NULL, 0, 0);
}

/* Receives the next message and checks it is command cmd. */
static bool srv_expect(struct srv *s, struct srv_msg *m, uint16_t cmd)
{
    if (srv_recv(s, m) < 0) {
        srv_fail(s, __LINE__, "client message missing");
        return false;
    }
    if (m->hdr.cmd != cmd ||
        (m->hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND) {
        char what[128];

        snprintf(what, sizeof(what), "expected %s, got %s flags 0x%x",
                 vfio_user_command_name(cmd),
                 vfio_user_command_name(m->hdr.cmd), m->hdr.flags);
        srv_fail(s, __LINE__, what);
        return false;
    }
    return true;
}

/* Answers the DMA_MAP that vfu_client_add_memory() sends. */
static bool srv_accept_map(struct srv *s, uint64_t iova, uint64_t size,
                           unsigned want_fds)
{
    struct vfio_user_dma_map map;
    struct srv_msg m;

    if (!srv_expect(s, &m, VFIO_USER_DMA_MAP)) {
        return false;
    }
    memcpy(&map, m.body, sizeof(map));
    if (m.len != sizeof(map) || map.argsz != sizeof(map) ||
        map.flags != 3 || map.offset != 0 || map.addr != iova ||
        map.size != size || m.nr_fds != want_fds) {
        srv_close_fds(&m);
        srv_fail(s, __LINE__, "bad DMA_MAP");
        return false;
    }
    srv_close_fds(&m);
    return srv_reply(s, &m, NULL, 0) == 0;
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;

    s->script(s);
    return NULL;
}

static struct srv *srv_start(void (*script)(struct srv *s),
                             struct vfu_client **c)
{
    struct srv *s = calloc(1, sizeof(*s));
    int sv[2];

    ck_assert_ptr_nonnull(s);
    s->fds_before = count_fds();
    s->script = script;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    s->fd = sv[1];
    *c = vfu_client_from_fd(sv[0]);
    ck_assert_ptr_nonnull(*c);
    vfu_client_set_timeout(*c, 3000);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, srv_main, s), 0);
    return s;
}

/* Closes the client, lets the script finish, checks it and the fd count. */
static void srv_finish(struct srv *s, struct vfu_client *c)
{
    char err[sizeof(s->err)];
    int before = s->fds_before;

    vfu_client_close(c);
    pthread_join(s->thread, NULL);
    if (s->fd >= 0) {
        close(s->fd);
    }
    memcpy(err, s->err, sizeof(err));
    free(s);
    ck_assert_msg(err[0] == '\0', "%s", err);
    ck_assert_int_eq(count_fds(), before);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- VERSION ---- */

#define SRV_CAPS "{\"capabilities\": {\"max_msg_fds\": 8, " \
                 "\"max_data_xfer_size\": 65536}}"

static void script_version(struct srv *s)
{
    struct srv_msg m;
    uint8_t rep[128] = {0}; /* major = minor = 0 */
    size_t jlen = strlen(VFU_CLIENT_QEMU_CAPS);

    if (!srv_expect(s, &m, VFIO_USER_VERSION)) {
        return;
    }
    /* As captured from QEMU: 214 bytes, JSON with its NUL. */
    SRV_CHECK(s, m.hdr.msg_size == 16 + 4 + jlen + 1);
    SRV_CHECK(s, m.hdr.msg_size == 214);
    SRV_CHECK(s, m.body[0] == 0 && m.body[1] == 0);
    SRV_CHECK(s, m.body[m.len - 1] == '\0');
    SRV_CHECK(s, strcmp((char *)m.body + 4, VFU_CLIENT_QEMU_CAPS) == 0);
    memcpy(rep + 4, SRV_CAPS, sizeof(SRV_CAPS));
    SRV_CHECK(s, srv_reply(s, &m, rep, 4 + sizeof(SRV_CAPS)) == 0);

    /* Second round: no JSON either way, defaults apply. */
    if (!srv_expect(s, &m, VFIO_USER_VERSION)) {
        return;
    }
    SRV_CHECK(s, m.len == 4);
    SRV_CHECK(s, srv_reply(s, &m, rep, 4) == 0);
    srv_wait_eof(s);
}

START_TEST(test_version)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_version, &c);
    char *json = NULL;

    ck_assert_uint_eq(vfu_client_server_max_xfer(c), 1u << 20);
    ck_assert_uint_eq(vfu_client_server_max_fds(c), 1);
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, &json), 0);
    ck_assert_str_eq(json, SRV_CAPS);
    free(json);
    ck_assert_uint_eq(vfu_client_server_max_xfer(c), 65536);
    ck_assert_uint_eq(vfu_client_server_max_fds(c), 8);

    ck_assert_int_eq(vfu_client_negotiate(c, "", &json), 0);
    ck_assert_ptr_null(json);
    ck_assert_uint_eq(vfu_client_server_max_xfer(c), 1u << 20);
    ck_assert_uint_eq(vfu_client_server_max_fds(c), 1);
    srv_finish(s, c);
}
END_TEST

static void script_version_errors(struct srv *s)
{
    static const char *const bad_json[] = {
        "{\"capabilities\": {\"max_msg_fds\": 17}}",
        "{\"capabilities\": {\"max_data_xfer_size\": \"big\"}}",
        "{\"capabilities\": {\"pgsizes\": 512}}",
        "[1, 2]",
        "{\"capabilities\": ",
    };
    struct srv_msg m;
    uint8_t rep[128] = {0};

    /* An error reply. */
    if (!srv_expect(s, &m, VFIO_USER_VERSION)) {
        return;
    }
    SRV_CHECK(s, srv_error(s, &m, EINVAL) == 0);

    /* Wrong major. */
    if (!srv_expect(s, &m, VFIO_USER_VERSION)) {
        return;
    }
    rep[0] = 1;
    SRV_CHECK(s, srv_reply(s, &m, rep, 4) == 0);
    rep[0] = 0;

    /* JSON without its NUL. */
    if (!srv_expect(s, &m, VFIO_USER_VERSION)) {
        return;
    }
    memcpy(rep + 4, "{}", 2);
    SRV_CHECK(s, srv_reply(s, &m, rep, 6) == 0);

    /* Capabilities QEMU would refuse, or no JSON object at all. */
    for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        size_t n = strlen(bad_json[i]) + 1;

        if (!srv_expect(s, &m, VFIO_USER_VERSION)) {
            return;
        }
        memcpy(rep + 4, bad_json[i], n);
        SRV_CHECK(s, srv_reply(s, &m, rep, 4 + n) == 0);
    }
    srv_wait_eof(s);
}

START_TEST(test_version_errors)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_version_errors, &c);
    char *json = (char *)"untouched";

    ck_assert_int_eq(vfu_client_negotiate(c, NULL, &json), -EINVAL);
    ck_assert_ptr_null(json);
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), -EPROTO);
    ck_assert_int_eq(vfu_client_negotiate(c, NULL, NULL), -EPROTO);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(vfu_client_negotiate(c, NULL, &json), -EPROTO);
        ck_assert_ptr_null(json);
    }
    /* Nothing was accepted. */
    ck_assert_uint_eq(vfu_client_server_max_fds(c), 1);
    srv_finish(s, c);
}
END_TEST

/* ---- partial reads ---- */

static void script_partial_reply(struct srv *s)
{
    struct vfio_user_device_info info = {16, 3, 9, 5};
    struct vfio_user_dma_rw w = {.addr = 0x2008, .count = 8};
    uint8_t req[24];
    struct srv_msg m, r;

    if (!srv_accept_map(s, 0x2000, 0x1000, 0)) {
        return;
    }
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    SRV_CHECK(s, m.len == 16);
    /* A DMA_WRITE in 5-byte pieces... */
    memcpy(req, &w, sizeof(w));
    memcpy(req + 16, "partial!", 8);
    SRV_CHECK(s, srv_send(s, 0x77, VFIO_USER_DMA_WRITE, 0, 0, req,
                          sizeof(req), NULL, 0, 5) == 0);
    SRV_CHECK(s, srv_recv(s, &r) == 0);
    SRV_CHECK(s, r.hdr.msg_id == 0x77 && r.hdr.cmd == VFIO_USER_DMA_WRITE);
    SRV_CHECK(s, r.hdr.flags == VFIO_USER_F_TYPE_REPLY);
    SRV_CHECK(s, r.len == 16 && memcmp(r.body, &w, 16) == 0);
    /* ...then the reply one byte at a time. */
    SRV_CHECK(s, srv_send(s, m.hdr.msg_id, m.hdr.cmd, VFIO_USER_F_TYPE_REPLY,
                          0, &info, sizeof(info), NULL, 0, 1) == 0);
    srv_wait_eof(s);
}

START_TEST(test_partial)
{
    struct vfio_user_device_info info;
    struct vfu_client *c;
    struct srv *s = srv_start(script_partial_reply, &c);
    uint8_t *mem = vfu_client_add_memory(c, 0x2000, 0x1000, false);
    uint64_t reads, writes;

    ck_assert_ptr_nonnull(mem);
    ck_assert_int_eq(vfu_client_device_info(c, &info), 0);
    ck_assert_uint_eq(info.argsz, 16);
    ck_assert_uint_eq(info.flags, 3);
    ck_assert_uint_eq(info.num_regions, 9);
    ck_assert_uint_eq(info.num_irqs, 5);
    ck_assert_mem_eq(mem + 8, "partial!", 8);
    vfu_client_dma_stats(c, &reads, &writes);
    ck_assert_uint_eq(reads, 0);
    ck_assert_uint_eq(writes, 1);
    srv_finish(s, c);
}
END_TEST

/* ---- GET_REGION_INFO: argsz retry, fd, caps ---- */

static int make_memfd(const char *text)
{
    int fd = memfd_create("fake-region", MFD_CLOEXEC);

    if (fd >= 0 && write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void script_region_info(struct srv *s)
{
    struct vfio_user_region_info ri;
    struct vfio_user_region_info info = {80, 0xf, 0, 32, 0x1000, 0};
    const struct vfio_user_cap_sparse_mmap cap = {
        {VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0}, 2, 0};
    const struct vfio_user_sparse_mmap_area areas[2] = {{0, 0x800}, {0xc00, 0x400}};
    /* laid out by hand: a struct holding cap, which ends in a flexible
     * array, before the areas would be a GNU extension */
    uint8_t full[sizeof(info) + sizeof(cap) + sizeof(areas)];
    struct srv_msg m;
    int fd;

    _Static_assert(sizeof(full) == 80, "layout");
    memcpy(full, &info, sizeof(info));
    memcpy(full + sizeof(info), &cap, sizeof(cap));
    memcpy(full + sizeof(info) + sizeof(cap), areas, sizeof(areas));
    /* Round 1: too small, with an fd the client must throw away. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_REGION_INFO)) {
        return;
    }
    memcpy(&ri, m.body, sizeof(ri));
    SRV_CHECK(s, m.len == 32 && ri.argsz == 32 && ri.index == 0);
    ri = (struct vfio_user_region_info){80, 0x7, 0, 0, 0x1000, 0};
    fd = make_memfd("short");
    SRV_CHECK(s, fd >= 0);
    SRV_CHECK(s, srv_send(s, m.hdr.msg_id, m.hdr.cmd, VFIO_USER_F_TYPE_REPLY,
                          0, &ri, sizeof(ri), &fd, 1, 0) == 0);
    close(fd);
    /* Round 2: the full answer and the region fd. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_REGION_INFO)) {
        return;
    }
    memcpy(&ri, m.body, sizeof(ri));
    SRV_CHECK(s, m.len == 32 && ri.argsz == 80 && ri.index == 0);
    fd = make_memfd("region0");
    SRV_CHECK(s, fd >= 0);
    SRV_CHECK(s, srv_send(s, m.hdr.msg_id, m.hdr.cmd, VFIO_USER_F_TYPE_REPLY,
                          0, full, sizeof(full), &fd, 1, 0) == 0);
    close(fd);

    /* Config space: no caps, no fd, one round. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_REGION_INFO)) {
        return;
    }
    ri = (struct vfio_user_region_info){32, 0x3, 7, 0, 0x100, 0};
    SRV_CHECK(s, srv_reply(s, &m, &ri, sizeof(ri)) == 0);

    /* A reply longer than the argsz the client offered. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_REGION_INFO)) {
        return;
    }
    info.argsz = 32;
    memcpy(full, &info, sizeof(info));
    SRV_CHECK(s, srv_reply(s, &m, full, sizeof(full)) == 0);

    /* A server that asks for more on every round. */
    for (uint32_t want = 80; want <= 120; want += 40) {
        if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_REGION_INFO)) {
            return;
        }
        ri = (struct vfio_user_region_info){want, 0x7, 2, 0, 0x1000, 0};
        SRV_CHECK(s, srv_reply(s, &m, &ri, sizeof(ri)) == 0);
    }

    /* A capability pointing outside the reply. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_REGION_INFO)) {
        return;
    }
    ri = (struct vfio_user_region_info){32, 0xf, 3, 40, 0x1000, 0};
    SRV_CHECK(s, srv_reply(s, &m, &ri, sizeof(ri)) == 0);
    srv_wait_eof(s);
}

START_TEST(test_region_info)
{
    struct vfio_user_region_info info;
    struct vfio_user_cap_sparse_mmap cap;
    struct vfio_user_sparse_mmap_area areas[2];
    uint8_t caps[64];
    struct vfu_client *c;
    struct srv *s = srv_start(script_region_info, &c);
    char text[8] = {0};
    int fd = 7777;

    ck_assert_int_eq(vfu_client_region_info(c, 0, &info, caps, sizeof(caps),
                                            &fd), 48);
    ck_assert_uint_eq(info.argsz, 80);
    ck_assert_uint_eq(info.flags, 0xf);
    ck_assert_uint_eq(info.cap_offset, 32);
    ck_assert_uint_eq(info.size, 0x1000);
    memcpy(&cap, caps + info.cap_offset - 32, sizeof(cap));
    ck_assert_uint_eq(cap.header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
    ck_assert_uint_eq(cap.header.next, 0);
    ck_assert_uint_eq(cap.nr_areas, 2);
    memcpy(areas, caps + info.cap_offset - 32 + sizeof(cap), sizeof(areas));
    ck_assert_uint_eq(areas[1].offset, 0xc00);
    ck_assert_uint_eq(areas[1].size, 0x400);
    /* The fd is the second reply's, not the first. */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, text, 7, 0), 7);
    ck_assert_str_eq(text, "region0");
    close(fd);

    ck_assert_int_eq(vfu_client_region_info(c, 7, &info, NULL, 0, &fd), 0);
    ck_assert_int_eq(fd, -1);
    ck_assert_uint_eq(info.size, 0x100);

    ck_assert_int_eq(vfu_client_region_info(c, 1, &info, NULL, 0, &fd),
                     -EPROTO);
    ck_assert_int_eq(vfu_client_region_info(c, 2, &info, NULL, 0, &fd),
                     -EPROTO);
    ck_assert_int_eq(vfu_client_region_info(c, 3, &info, NULL, 0, NULL),
                     -EPROTO);
    ck_assert_int_eq(fd, -1);
    srv_finish(s, c);
}
END_TEST

/* ---- server DMA while the client waits for its reply ---- */

static void script_dma_interleave(struct srv *s)
{
    struct vfio_user_region_access ra;
    struct vfio_user_dma_rw rw;
    uint8_t buf[64];
    struct srv_msg m, r;

    if (!srv_accept_map(s, 0x10000, 0x10000, 0)) {
        return;
    }
    if (!srv_expect(s, &m, VFIO_USER_REGION_READ)) {
        return;
    }
    memcpy(&ra, m.body, sizeof(ra));
    SRV_CHECK(s, m.len == 16 && ra.region == 0 && ra.offset == 0x40 &&
                     ra.count == 8);

    /* DMA_WRITE 16 bytes, as QEMU 11.1.3's capture shows. */
    rw = (struct vfio_user_dma_rw){.addr = 0x10100, .count = 16};
    memcpy(buf, &rw, sizeof(rw));
    memcpy(buf + 16, "ABCDEFGHIJKLMNOP", 16);
    SRV_CHECK(s, srv_send(s, 0x100, VFIO_USER_DMA_WRITE, 0, 0, buf, 32, NULL,
                          0, 0) == 0);
    SRV_CHECK(s, srv_recv(s, &r) == 0);
    SRV_CHECK(s, r.hdr.msg_id == 0x100 && r.hdr.cmd == VFIO_USER_DMA_WRITE);
    SRV_CHECK(s, r.hdr.msg_size == 32 && r.hdr.flags == 1 && r.nr_fds == 0);
    SRV_CHECK(s, memcmp(r.body, &rw, 16) == 0);

    /* DMA_READ it back: reply is address, count, data. */
    SRV_CHECK(s, srv_send(s, 0x101, VFIO_USER_DMA_READ, 0, 0, &rw, 16, NULL,
                          0, 0) == 0);
    SRV_CHECK(s, srv_recv(s, &r) == 0);
    SRV_CHECK(s, r.hdr.msg_id == 0x101 && r.hdr.cmd == VFIO_USER_DMA_READ);
    SRV_CHECK(s, r.hdr.msg_size == 48 && r.hdr.flags == 1);
    SRV_CHECK(s, memcmp(r.body, &rw, 16) == 0);
    SRV_CHECK(s, memcmp(r.body + 16, "ABCDEFGHIJKLMNOP", 16) == 0);
    /* A DMA_READ of what the client put there itself. */
    rw = (struct vfio_user_dma_rw){.addr = 0x1fff0, .count = 16};
    SRV_CHECK(s, srv_send(s, 0x102, VFIO_USER_DMA_READ, 0, 0, &rw, 16, NULL,
                          0, 0) == 0);
    SRV_CHECK(s, srv_recv(s, &r) == 0);
    SRV_CHECK(s, r.hdr.msg_id == 0x102 && r.len == 32);
    SRV_CHECK(s, memcmp(r.body + 16, "end of guest ram", 16) == 0);

    /* A posted DMA_WRITE: no reply, but it must land before ours. */
    rw = (struct vfio_user_dma_rw){.addr = 0x10200, .count = 4};
    memcpy(buf, &rw, sizeof(rw));
    memcpy(buf + 16, "wxyz", 4);
    SRV_CHECK(s, srv_send(s, 0x103, VFIO_USER_DMA_WRITE,
                          VFIO_USER_F_NO_REPLY, 0, buf, 20, NULL, 0, 0) == 0);

    /* Finally the answer to REGION_READ. */
    memcpy(buf, &ra, sizeof(ra));
    memcpy(buf + 16, "12345678", 8);
    SRV_CHECK(s, srv_reply(s, &m, buf, 24) == 0);
    srv_wait_eof(s);
}

START_TEST(test_dma_interleave)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_dma_interleave, &c);
    uint8_t *mem = vfu_client_add_memory(c, 0x10000, 0x10000, false);
    uint64_t reads, writes;
    char buf[8];

    ck_assert_ptr_nonnull(mem);
    ck_assert_ptr_eq(vfu_client_guest_ptr(c, 0x10000, 0x10000), mem);
    ck_assert_ptr_null(vfu_client_guest_ptr(c, 0x10001, 0x10000));
    ck_assert_ptr_null(vfu_client_guest_ptr(c, 0xffff, 2));
    memcpy(mem + 0xfff0, "end of guest ram", 16);
    ck_assert_int_eq(vfu_client_region_read(c, 0, 0x40, buf, 8), 0);
    ck_assert_mem_eq(buf, "12345678", 8);
    ck_assert_mem_eq(mem + 0x100, "ABCDEFGHIJKLMNOP", 16);
    ck_assert_mem_eq(mem + 0x200, "wxyz", 4);
    vfu_client_dma_stats(c, &reads, &writes);
    ck_assert_uint_eq(reads, 2);
    ck_assert_uint_eq(writes, 2);
    ck_assert_uint_eq(vfu_client_request_errors(c), 0);
    srv_finish(s, c);
}
END_TEST

/* ---- shared guest memory: DMA_MAP with the fd ---- */

static void script_dma_shared(struct srv *s)
{
    struct vfio_user_dma_map map;
    struct srv_msg m;
    uint8_t *p;

    if (!srv_expect(s, &m, VFIO_USER_DMA_MAP)) {
        return;
    }
    memcpy(&map, m.body, sizeof(map));
    SRV_CHECK(s, m.nr_fds == 1);
    SRV_CHECK(s, map.argsz == 32 && map.flags == 3 && map.offset == 0 &&
                     map.addr == 0x100000 && map.size == 0x4000);
    p = mmap(NULL, map.size, PROT_READ | PROT_WRITE, MAP_SHARED, m.fds[0],
             (off_t)map.offset);
    srv_close_fds(&m);
    SRV_CHECK(s, p != MAP_FAILED);
    memcpy(p + 0x3000, "written by the server", 21);
    munmap(p, map.size);
    SRV_CHECK(s, srv_reply(s, &m, NULL, 0) == 0);

    /* DMA_UNMAP is answered with its own echo. */
    if (!srv_expect(s, &m, VFIO_USER_DMA_UNMAP)) {
        return;
    }
    SRV_CHECK(s, m.len == 24);
    SRV_CHECK(s, srv_reply(s, &m, m.body, 24) == 0);
    /* ...and a short echo is a protocol error. */
    if (!srv_expect(s, &m, VFIO_USER_DMA_UNMAP)) {
        return;
    }
    SRV_CHECK(s, srv_reply(s, &m, NULL, 0) == 0);
    srv_wait_eof(s);
}

START_TEST(test_dma_shared)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_dma_shared, &c);
    uint8_t *mem = vfu_client_add_memory(c, 0x100000, 0x4000, true);

    ck_assert_ptr_nonnull(mem);
    ck_assert_mem_eq(mem + 0x3000, "written by the server", 21);
    /* Overlapping memory is refused before anything is sent. */
    ck_assert_ptr_null(vfu_client_add_memory(c, 0x103000, 0x4000, true));
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_int_eq(vfu_client_dma_unmap(c, 0x100000, 0x4000, 0), 0);
    ck_assert_int_eq(vfu_client_dma_unmap(c, 0x100000, 0x4000, 0), -EPROTO);
    srv_finish(s, c);
}
END_TEST

/* ---- server requests the client must refuse ---- */

static bool srv_expect_error(struct srv *s, uint16_t id, uint16_t cmd,
                             uint32_t err)
{
    struct srv_msg r;

    if (srv_recv(s, &r) < 0 || r.hdr.msg_id != id || r.hdr.cmd != cmd ||
        r.hdr.msg_size != 16 ||
        r.hdr.flags != (VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR) ||
        r.hdr.error_no != err || r.nr_fds != 0) {
        char what[160];

        snprintf(what, sizeof(what), "expected error %u for id 0x%x, got "
                 "id 0x%x cmd %u size %u flags 0x%x errno %u", err, id,
                 r.hdr.msg_id, r.hdr.cmd, r.hdr.msg_size, r.hdr.flags,
                 r.hdr.error_no);
        srv_fail(s, __LINE__, what);
        srv_close_fds(&r);
        return false;
    }
    return true;
}

static void script_dma_errors(struct srv *s)
{
    struct vfio_user_dma_rw rw;
    uint8_t buf[64] = {0};
    struct srv_msg m, r;
    int fd;

    if (!srv_accept_map(s, 0x1000, 0x1000, 0)) {
        return;
    }
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_RESET)) {
        return;
    }
    SRV_CHECK(s, m.len == 0);

    /* Crossing the end of guest memory. */
    rw = (struct vfio_user_dma_rw){.addr = 0x1800, .count = 0x1000};
    SRV_CHECK(s, srv_send(s, 1, VFIO_USER_DMA_READ, 0, 0, &rw, 16, NULL, 0,
                          0) == 0);
    if (!srv_expect_error(s, 1, VFIO_USER_DMA_READ, EFAULT)) {
        return;
    }
    /* Nowhere near it. */
    rw = (struct vfio_user_dma_rw){.addr = 0x100000, .count = 4};
    SRV_CHECK(s, srv_send(s, 2, VFIO_USER_DMA_READ, 0, 0, &rw, 16, NULL, 0,
                          0) == 0);
    if (!srv_expect_error(s, 2, VFIO_USER_DMA_READ, EFAULT)) {
        return;
    }
    memcpy(buf, &rw, 16);
    memcpy(buf + 16, "data", 4);
    SRV_CHECK(s, srv_send(s, 3, VFIO_USER_DMA_WRITE, 0, 0, buf, 20, NULL, 0,
                          0) == 0);
    if (!srv_expect_error(s, 3, VFIO_USER_DMA_WRITE, EFAULT)) {
        return;
    }
    /* A command the client does not serve. */
    SRV_CHECK(s, srv_send(s, 4, 42, 0, 0, NULL, 0, NULL, 0, 0) == 0);
    if (!srv_expect_error(s, 4, 42, ENOSYS)) {
        return;
    }
    /* DMA_WRITE whose data is shorter than its count. */
    rw = (struct vfio_user_dma_rw){.addr = 0x1000, .count = 16};
    memcpy(buf, &rw, 16);
    SRV_CHECK(s, srv_send(s, 5, VFIO_USER_DMA_WRITE, 0, 0, buf, 24, NULL, 0,
                          0) == 0);
    if (!srv_expect_error(s, 5, VFIO_USER_DMA_WRITE, EINVAL)) {
        return;
    }
    /* Above the 1 MiB the client advertised. */
    rw = (struct vfio_user_dma_rw){.addr = 0x1000, .count = 2u << 20};
    SRV_CHECK(s, srv_send(s, 6, VFIO_USER_DMA_READ, 0, 0, &rw, 16, NULL, 0,
                          0) == 0);
    if (!srv_expect_error(s, 6, VFIO_USER_DMA_READ, E2BIG)) {
        return;
    }
    /* With an fd (QEMU refuses those). */
    rw = (struct vfio_user_dma_rw){.addr = 0x1000, .count = 4};
    fd = make_memfd("x");
    SRV_CHECK(s, fd >= 0);
    SRV_CHECK(s, srv_send(s, 7, VFIO_USER_DMA_READ, 0, 0, &rw, 16, &fd, 1,
                          0) == 0);
    close(fd);
    if (!srv_expect_error(s, 7, VFIO_USER_DMA_READ, EINVAL)) {
        return;
    }
    /* Bad and posted: no answer at all, so the next reply is id 9's. */
    rw = (struct vfio_user_dma_rw){.addr = 0x100000, .count = 4};
    SRV_CHECK(s, srv_send(s, 8, VFIO_USER_DMA_READ, VFIO_USER_F_NO_REPLY, 0,
                          &rw, 16, NULL, 0, 0) == 0);
    rw = (struct vfio_user_dma_rw){.addr = 0x1ffc, .count = 4};
    SRV_CHECK(s, srv_send(s, 9, VFIO_USER_DMA_READ, 0, 0, &rw, 16, NULL, 0,
                          0) == 0);
    SRV_CHECK(s, srv_recv(s, &r) == 0);
    SRV_CHECK(s, r.hdr.msg_id == 9 && r.hdr.flags == 1 && r.len == 20);
    SRV_CHECK(s, memcmp(r.body + 16, "last", 4) == 0);

    SRV_CHECK(s, srv_reply(s, &m, NULL, 0) == 0);
    srv_wait_eof(s);
}

START_TEST(test_dma_errors)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_dma_errors, &c);
    uint8_t *mem = vfu_client_add_memory(c, 0x1000, 0x1000, false);
    uint64_t reads, writes;

    ck_assert_ptr_nonnull(mem);
    memcpy(mem + 0xffc, "last", 4);
    ck_assert_int_eq(vfu_client_reset(c), 0);
    vfu_client_dma_stats(c, &reads, &writes);
    ck_assert_uint_eq(reads, 1);
    ck_assert_uint_eq(writes, 0);
    ck_assert_uint_eq(vfu_client_request_errors(c), 8);
    srv_finish(s, c);
}
END_TEST

/* ---- both sides sending big messages at once ---- */

#define BLAST_MSGS 64
#define BLAST_SIZE 4096

/* Set by the test before the script starts (pthread_create orders it). */
static bool blast_posted;

static void script_blast(struct srv *s)
{
    static uint8_t buf[16 + BLAST_SIZE];
    struct vfio_user_region_access ra;
    struct vfio_user_header hdr;
    struct srv_msg m;
    size_t left;

    if (!srv_accept_map(s, 0, BLAST_MSGS * BLAST_SIZE, 0)) {
        return;
    }
    /* More than a socket buffer of posted DMA_WRITEs while the client is
     * busy sending its megabyte: only works if it reads while it sends. */
    for (unsigned i = 0; i < BLAST_MSGS; i++) {
        struct vfio_user_dma_rw rw = {.addr = i * BLAST_SIZE,
                                      .count = BLAST_SIZE};

        memcpy(buf, &rw, sizeof(rw));
        memset(buf + 16, 'a' + (int)(i % 26), BLAST_SIZE);
        SRV_CHECK(s, srv_send(s, (uint16_t)i, VFIO_USER_DMA_WRITE,
                              VFIO_USER_F_NO_REPLY, 0, buf, sizeof(buf), NULL,
                              0, 0) == 0);
    }
    memset(&m, 0, sizeof(m));
    SRV_CHECK(s, recv_all(s, &hdr, sizeof(hdr), &m) == 0);
    SRV_CHECK(s, hdr.cmd == VFIO_USER_REGION_WRITE);
    SRV_CHECK(s, !!(hdr.flags & VFIO_USER_F_NO_REPLY) == blast_posted);
    SRV_CHECK(s, hdr.msg_size == 16 + 16 + (1u << 20));
    SRV_CHECK(s, recv_all(s, &ra, sizeof(ra), &m) == 0);
    SRV_CHECK(s, ra.count == 1u << 20);
    for (left = ra.count; left > 0;) {
        size_t n = left < sizeof(buf) ? left : sizeof(buf);

        SRV_CHECK(s, recv_all(s, buf, n, &m) == 0);
        SRV_CHECK(s, buf[0] == 0x5a && buf[n - 1] == 0x5a);
        left -= n;
    }
    if (!blast_posted) {
        SRV_CHECK(s, srv_send(s, hdr.msg_id, hdr.cmd, VFIO_USER_F_TYPE_REPLY,
                              0, &ra, sizeof(ra), NULL, 0, 0) == 0);
    }
    srv_wait_eof(s);
}

/* _i: 0 = a REGION_WRITE waiting for its reply, 1 = a posted one. */
START_TEST(test_send_while_server_sends)
{
    struct vfu_client *c;
    struct srv *s;
    uint8_t *mem, *big = malloc(1u << 20);
    uint64_t writes;

    blast_posted = _i == 1;
    s = srv_start(script_blast, &c);
    mem = vfu_client_add_memory(c, 0, BLAST_MSGS * BLAST_SIZE, false);
    ck_assert_ptr_nonnull(mem);
    ck_assert_ptr_nonnull(big);
    memset(big, 0x5a, 1u << 20);
    ck_assert_int_eq(vfu_client_region_write(c, 0, 0, big, 1u << 20,
                                             blast_posted), 0);
    free(big);
    vfu_client_dma_stats(c, NULL, &writes);
    if (blast_posted) {
        /* What was not read during the send is still on the socket. */
        while (writes < BLAST_MSGS) {
            ck_assert_int_gt(vfu_client_serve(c, 1000), 0);
            vfu_client_dma_stats(c, NULL, &writes);
        }
    }
    ck_assert_uint_eq(writes, BLAST_MSGS);
    ck_assert_uint_eq(mem[0], 'a');
    ck_assert_uint_eq(mem[BLAST_MSGS * BLAST_SIZE - 1],
                      'a' + (BLAST_MSGS - 1) % 26);
    srv_finish(s, c);
}
END_TEST

/* ---- hang-up and timeouts ---- */

static void script_hangup(struct srv *s)
{
    struct srv_msg m;

    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    close(s->fd);
    s->fd = -1;
}

START_TEST(test_hangup)
{
    struct vfio_user_device_info info;
    struct vfu_client *c;
    struct srv *s = srv_start(script_hangup, &c);

    ck_assert_int_eq(vfu_client_device_info(c, &info), -ECONNRESET);
    /* Dead from now on, whatever we try. */
    ck_assert_int_eq(vfu_client_reset(c), -ECONNRESET);
    ck_assert_int_eq(vfu_client_serve(c, 0), -ECONNRESET);
    srv_finish(s, c);
}
END_TEST

static void script_hangup_mid_message(struct srv *s)
{
    struct vfio_user_header hdr = {.msg_size = 32, .flags = 1};
    struct srv_msg m;

    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    hdr.msg_id = m.hdr.msg_id;
    hdr.cmd = m.hdr.cmd;
    SRV_CHECK(s, write(s->fd, &hdr, 10) == 10);
    usleep(20000);
    close(s->fd);
    s->fd = -1;
}

START_TEST(test_hangup_mid_message)
{
    struct vfio_user_device_info info;
    struct vfu_client *c;
    struct srv *s = srv_start(script_hangup_mid_message, &c);

    ck_assert_int_eq(vfu_client_device_info(c, &info), -ECONNRESET);
    srv_finish(s, c);
}
END_TEST

static void script_hangup_serving(struct srv *s)
{
    usleep(20000);
    close(s->fd);
    s->fd = -1;
}

START_TEST(test_hangup_while_serving)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_hangup_serving, &c);

    ck_assert_int_eq(vfu_client_serve(c, -1), -ECONNRESET);
    srv_finish(s, c);
}
END_TEST

static void script_silent(struct srv *s)
{
    srv_wait_eof(s);
}

START_TEST(test_timeout)
{
    struct vfio_user_device_info info;
    struct vfu_client *c;
    struct srv *s = srv_start(script_silent, &c);
    int64_t t0;

    vfu_client_set_timeout(c, 200);
    t0 = now_ms();
    ck_assert_int_eq(vfu_client_device_info(c, &info), -ETIMEDOUT);
    ck_assert_int_ge(now_ms() - t0, 190);
    ck_assert_int_lt(now_ms() - t0, 2000);
    /* Nothing half-read: the client is still usable. */
    ck_assert_int_eq(vfu_client_serve(c, 50), 0);
    srv_finish(s, c);
}
END_TEST

static void script_stall_mid_message(struct srv *s)
{
    struct vfio_user_header hdr = {.msg_size = 32, .flags = 1};
    struct srv_msg m;

    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    hdr.msg_id = m.hdr.msg_id;
    hdr.cmd = m.hdr.cmd;
    SRV_CHECK(s, write(s->fd, &hdr, sizeof(hdr)) == sizeof(hdr));
    srv_wait_eof(s);
}

START_TEST(test_timeout_mid_message)
{
    struct vfio_user_device_info info;
    struct vfu_client *c;
    struct srv *s = srv_start(script_stall_mid_message, &c);

    vfu_client_set_timeout(c, 200);
    ck_assert_int_eq(vfu_client_device_info(c, &info), -ETIMEDOUT);
    /* The stream is lost: the client stays failed. */
    ck_assert_int_eq(vfu_client_reset(c), -ETIMEDOUT);
    srv_finish(s, c);
}
END_TEST

/* ---- replies that do not fit ---- */

static void script_bad_replies(struct srv *s)
{
    struct vfio_user_region_access ra;
    struct vfio_user_device_info info = {16, 3, 9, 5};
    uint8_t buf[64];
    struct srv_msg m;
    int fd;

    /* A reply with an id nobody waits for. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    SRV_CHECK(s, srv_send(s, (uint16_t)(m.hdr.msg_id + 5), m.hdr.cmd,
                          VFIO_USER_F_TYPE_REPLY, 0, &info, sizeof(info),
                          NULL, 0, 0) == 0);
    /* A reply for the wrong command. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    SRV_CHECK(s, srv_send(s, m.hdr.msg_id, VFIO_USER_DEVICE_GET_IRQ_INFO,
                          VFIO_USER_F_TYPE_REPLY, 0, &info, sizeof(info),
                          NULL, 0, 0) == 0);
    /* A reply too short. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    SRV_CHECK(s, srv_reply(s, &m, &info, 12) == 0);
    /* A reply with an fd it should not have. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_INFO)) {
        return;
    }
    fd = make_memfd("stray");
    SRV_CHECK(s, fd >= 0);
    SRV_CHECK(s, srv_send(s, m.hdr.msg_id, m.hdr.cmd, VFIO_USER_F_TYPE_REPLY,
                          0, &info, sizeof(info), &fd, 1, 0) == 0);
    close(fd);
    /* REGION_READ answered with fewer bytes than asked. */
    if (!srv_expect(s, &m, VFIO_USER_REGION_READ)) {
        return;
    }
    memcpy(&ra, m.body, sizeof(ra));
    ra.count = 2;
    memcpy(buf, &ra, sizeof(ra));
    memcpy(buf + 16, "ab", 2);
    SRV_CHECK(s, srv_reply(s, &m, buf, 18) == 0);
    /* An error reply with errno 0 still fails. */
    if (!srv_expect(s, &m, VFIO_USER_REGION_READ)) {
        return;
    }
    SRV_CHECK(s, srv_error(s, &m, 0) == 0);
    /* A proper one, to show the stream survived all of the above. */
    if (!srv_expect(s, &m, VFIO_USER_REGION_READ)) {
        return;
    }
    memcpy(&ra, m.body, sizeof(ra));
    memcpy(buf, &ra, sizeof(ra));
    memcpy(buf + 16, "abcd", 4);
    SRV_CHECK(s, srv_reply(s, &m, buf, 20) == 0);
    srv_wait_eof(s);
}

START_TEST(test_bad_replies)
{
    struct vfio_user_device_info info;
    struct vfu_client *c;
    struct srv *s = srv_start(script_bad_replies, &c);
    uint32_t v = 0;

    ck_assert_int_eq(vfu_client_device_info(c, &info), -EPROTO);
    ck_assert_int_eq(vfu_client_device_info(c, &info), -EPROTO);
    ck_assert_int_eq(vfu_client_device_info(c, &info), -EPROTO);
    ck_assert_int_eq(vfu_client_device_info(c, &info), -EPROTO);
    ck_assert_int_eq(vfu_client_cfg_read32(c, 0, &v), -EPROTO);
    ck_assert_int_eq(vfu_client_cfg_read32(c, 0, &v), -EINVAL);
    ck_assert_int_eq(vfu_client_cfg_read32(c, 0, &v), 0);
    ck_assert_mem_eq(&v, "abcd", 4);
    srv_finish(s, c);
}
END_TEST

static void script_many_fds(struct srv *s)
{
    struct vfio_user_region_info ri = {32, 0x7, 0, 0, 0x1000, 0};
    int fds[VFU_CLIENT_MAX_RECV_FDS + 4];
    struct srv_msg m;
    unsigned n = sizeof(fds) / sizeof(fds[0]);

    if (!srv_expect(s, &m, VFIO_USER_DEVICE_GET_REGION_INFO)) {
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        fds[i] = make_memfd("");
    }
    SRV_CHECK(s, srv_send(s, m.hdr.msg_id, m.hdr.cmd, VFIO_USER_F_TYPE_REPLY,
                          0, &ri, sizeof(ri), fds, n, 0) == 0);
    for (unsigned i = 0; i < n; i++) {
        close(fds[i]);
    }
    srv_wait_eof(s);
}

START_TEST(test_too_many_fds)
{
    struct vfio_user_region_info info;
    struct vfu_client *c;
    struct srv *s = srv_start(script_many_fds, &c);
    int fd;

    ck_assert_int_eq(vfu_client_region_info(c, 0, &info, NULL, 0, &fd),
                     -EMSGSIZE);
    ck_assert_int_eq(fd, -1);
    srv_finish(s, c);
}
END_TEST

/* ---- SET_IRQS and waiting for an interrupt ---- */

static void script_irqs(struct srv *s)
{
    struct vfio_user_irq_set set;
    struct vfio_user_dma_rw rw = {.addr = 0x8000, .count = 8};
    uint8_t buf[32];
    struct srv_msg m;
    uint64_t one = 1;
    int efd = -1;

    if (!srv_accept_map(s, 0x8000, 0x1000, 0)) {
        return;
    }
    /* One eventfd for MSI-X vector 0. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_SET_IRQS)) {
        return;
    }
    memcpy(&set, m.body, sizeof(set));
    SRV_CHECK(s, m.len == 20 && set.argsz == 20 && m.nr_fds == 1);
    SRV_CHECK(s, set.flags == (VFIO_IRQ_SET_DATA_EVENTFD |
                               VFIO_IRQ_SET_ACTION_TRIGGER));
    SRV_CHECK(s, set.index == VFIO_PCI_MSIX_IRQ_INDEX && set.start == 0 &&
                     set.count == 1);
    efd = m.fds[0];
    SRV_CHECK(s, srv_reply(s, &m, NULL, 0) == 0);

    /* Three more with max_msg_fds 1: three messages of one fd each. */
    for (unsigned i = 0; i < 3; i++) {
        if (!srv_expect(s, &m, VFIO_USER_DEVICE_SET_IRQS)) {
            close(efd);
            return;
        }
        memcpy(&set, m.body, sizeof(set));
        srv_close_fds(&m);
        if (set.start != 1 + i || set.count != 1 || m.len != 20) {
            close(efd);
            srv_fail(s, __LINE__, "SET_IRQS not split per fd");
            return;
        }
        srv_reply(s, &m, NULL, 0);
    }

    /* DATA_BOOL: argsz counts the bools. */
    if (!srv_expect(s, &m, VFIO_USER_DEVICE_SET_IRQS)) {
        close(efd);
        return;
    }
    memcpy(&set, m.body, sizeof(set));
    if (m.len != 23 || set.argsz != 23 || set.count != 3 || m.nr_fds != 0 ||
        memcmp(m.body + 20, "\1\0\1", 3) != 0) {
        close(efd);
        srv_fail(s, __LINE__, "bad DATA_BOOL SET_IRQS");
        return;
    }
    srv_reply(s, &m, NULL, 0);

    /* Device "completes": posted DMA_WRITE, then the interrupt. */
    memcpy(buf, &rw, sizeof(rw));
    memcpy(buf + 16, "complete", 8);
    srv_send(s, 0x200, VFIO_USER_DMA_WRITE, VFIO_USER_F_NO_REPLY, 0, buf, 24,
             NULL, 0, 0);
    if (write(efd, &one, sizeof(one)) != sizeof(one)) {
        srv_fail(s, __LINE__, "eventfd write");
    }
    close(efd);
    srv_wait_eof(s);
}

START_TEST(test_irqs)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_irqs, &c);
    uint8_t *mem = vfu_client_add_memory(c, 0x8000, 0x1000, false);
    const uint8_t bools[3] = {1, 0, 1};
    int efd = vfu_client_eventfd();
    int more[3];

    ck_assert_ptr_nonnull(mem);
    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(vfu_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
                                         VFIO_IRQ_SET_DATA_EVENTFD |
                                             VFIO_IRQ_SET_ACTION_TRIGGER,
                                         0, 1, &efd, 1, NULL), 0);
    for (int i = 0; i < 3; i++) {
        more[i] = vfu_client_eventfd();
    }
    ck_assert_int_eq(vfu_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
                                         VFIO_IRQ_SET_DATA_EVENTFD |
                                             VFIO_IRQ_SET_ACTION_TRIGGER,
                                         1, 3, more, 3, NULL), 0);
    for (int i = 0; i < 3; i++) {
        close(more[i]);
    }
    ck_assert_int_eq(vfu_client_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
                                         VFIO_IRQ_SET_DATA_BOOL |
                                             VFIO_IRQ_SET_ACTION_TRIGGER,
                                         0, 3, NULL, 0, bools), 0);
    ck_assert_int_eq(vfu_client_wait_eventfd(c, efd, 2000), 1);
    /* The DMA_WRITE posted before the interrupt has landed. */
    ck_assert_mem_eq(mem, "complete", 8);
    /* Nothing more comes. */
    ck_assert_int_eq(vfu_client_wait_eventfd(c, efd, 50), 0);
    close(efd);
    srv_finish(s, c);
}
END_TEST

/* ---- a DMA_MAP the server refuses ---- */

static void script_refuse_map(struct srv *s)
{
    struct srv_msg m;

    if (!srv_expect(s, &m, VFIO_USER_DMA_MAP)) {
        return;
    }
    SRV_CHECK(s, m.nr_fds == 1);
    srv_close_fds(&m);
    SRV_CHECK(s, srv_error(s, &m, ENOSPC) == 0);
    srv_wait_eof(s);
}

START_TEST(test_refused_map)
{
    struct vfu_client *c;
    struct srv *s = srv_start(script_refuse_map, &c);

    errno = 0;
    ck_assert_ptr_null(vfu_client_add_memory(c, 0, 0x1000, true));
    ck_assert_int_eq(errno, ENOSPC);
    /* Not in the table: the server may not DMA there. */
    ck_assert_ptr_null(vfu_client_guest_ptr(c, 0, 1));
    srv_finish(s, c);
}
END_TEST

/* ---- raw messages and connecting by path ---- */

static void script_raw(struct srv *s)
{
    struct srv_msg m;

    SRV_CHECK(s, srv_recv(s, &m) == 0);
    SRV_CHECK(s, m.hdr.msg_id == 0xbeef && m.hdr.cmd == 99 && m.len == 3);
    SRV_CHECK(s, m.nr_fds == 1);
    srv_close_fds(&m);
    SRV_CHECK(s, srv_error(s, &m, ENOSYS) == 0);
    srv_wait_eof(s);
}

START_TEST(test_raw)
{
    struct vfio_user_header hdr = {.msg_id = 0xbeef, .cmd = 99,
                                   .msg_size = 19};
    struct vfio_user_header rhdr;
    uint8_t buf[19];
    struct vfu_client *c;
    struct srv *s = srv_start(script_raw, &c);
    int fd = vfu_client_eventfd();

    int many[300];

    /* Refused by the kernel (SCM_MAX_FD) before a byte went out: the
     * connection is still good. */
    for (int i = 0; i < 300; i++) {
        many[i] = fd;
    }
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DEVICE_RESET, 0, NULL, 0,
                                     many, 300, NULL), -EINVAL);
    memcpy(buf, &hdr, sizeof(hdr));
    memcpy(buf + 16, "xyz", 3);
    ck_assert_int_eq(vfu_client_send_raw(c, buf, sizeof(buf), &fd, 1), 0);
    close(fd);
    ck_assert_int_eq(vfu_client_recv_reply(c, 0xbeef, &rhdr, NULL, NULL,
                                           NULL, NULL), -ENOSYS);
    ck_assert_uint_eq(rhdr.flags, VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR);
    srv_finish(s, c);
}
END_TEST

START_TEST(test_connect)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct vfu_client *c = NULL;
    char dir[] = "/tmp/vfu-client-test.XXXXXX";
    int before = count_fds();
    int lfd, afd;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(vfu_client_connect(sa.sun_path, &c), 0);
    afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(vfu_client_send(c, VFIO_USER_DEVICE_RESET, 0, NULL, 0,
                                     NULL, 0, NULL), 0);
    vfu_client_close(c);
    close(afd);
    close(lfd);
    unlink(sa.sun_path);
    rmdir(dir);
    ck_assert_int_eq(count_fds(), before);
}
END_TEST

START_TEST(test_connect_errors)
{
    struct vfu_client *c = NULL;
    char longpath[200];
    int before = count_fds();

    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    ck_assert_int_eq(vfu_client_connect(longpath, &c), -ENAMETOOLONG);
    ck_assert_int_eq(vfu_client_connect("/nonexistent/vfu.sock", &c),
                     -ENOENT);
    ck_assert_ptr_null(c);
    vfu_client_close(NULL);
    ck_assert_int_eq(count_fds(), before);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("vfu_client");
    TCase *tc = tcase_create("fake-server");

    /* valgrind makes everything ~30x slower */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_version_errors);
    tcase_add_test(tc, test_partial);
    tcase_add_test(tc, test_region_info);
    tcase_add_test(tc, test_dma_interleave);
    tcase_add_test(tc, test_dma_shared);
    tcase_add_test(tc, test_dma_errors);
    tcase_add_loop_test(tc, test_send_while_server_sends, 0, 2);
    tcase_add_test(tc, test_hangup);
    tcase_add_test(tc, test_hangup_mid_message);
    tcase_add_test(tc, test_hangup_while_serving);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_timeout_mid_message);
    tcase_add_test(tc, test_bad_replies);
    tcase_add_test(tc, test_too_many_fds);
    tcase_add_test(tc, test_irqs);
    tcase_add_test(tc, test_refused_map);
    tcase_add_test(tc, test_raw);
    tcase_add_test(tc, test_connect);
    tcase_add_test(tc, test_connect_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
