/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the protocol tests: see proto.h.
 */
#include "config.h"

#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

static int patience_ms(void)
{
    return harness_wrapped() ? 30000 : 5000;
}

/* ------------------------------------------------------------------------
 * The daemon
 */
static void dump_log(struct harness *h)
{
    g_autofree char *log = harness_log(h);

    fprintf(stderr, "---- daemon log (%s) ----\n%s---- end of log ----\n",
            h->log_path, log);
}

struct harness *pt_start(const char *devices_config, const char *const *names)
{
    g_autofree char *text = g_strdup_printf("[daemon]\nsocket-dir = @SOCKDIR@\n%s",
                                            devices_config);
    struct harness *h = harness_new(text);

    unsigned n = 0;

    if (harness_start(h, NULL, names) != 0) {
        dump_log(h);
        ck_abort_msg("the daemon did not start");
    }
    /* The socket file exists from bind() on, but connect() is refused
     * until listen(): the daemon logs each device after that. */
    while (names[n] != NULL) {
        n++;
    }
    pt_log_wait_count(h, "listening on", n);
    return h;
}

struct harness *pt_start_testdev(const char *extra_keys)
{
    g_autofree char *cfg = g_strdup_printf("[t0]\nplugin = testdev\n%s\n",
                                           extra_keys != NULL ? extra_keys : "");
    static const char *const names[] = { "t0", NULL };

    return pt_start(cfg, names);
}

struct harness *pt_start_gpio(void)
{
    static const char *const names[] = { "g0", NULL };

    return pt_start("[g0]\nplugin = gpio\n", names);
}

void pt_finish(struct harness *h)
{
    int status = harness_stop(h);

    if (status != 0) {
        dump_log(h);
    }
    ck_assert_msg(status == 0, "the daemon exited with status %d", status);
    harness_free(h);
}

bool pt_log_wait(struct harness *h, const char *text, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    if (harness_wrapped()) {
        deadline += 20 * G_USEC_PER_SEC;
    }
    for (;;) {
        if (harness_log_contains(h, text)) {
            return true;
        }
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(5000);
    }
}

int pt_fd_count_settle(struct harness *h, int want, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int n;

    if (harness_wrapped()) {
        deadline += 20 * G_USEC_PER_SEC;
    }
    for (;;) {
        n = harness_fd_count(h->pid);
        if (n == want || g_get_monotonic_time() > deadline) {
            return n;
        }
        g_usleep(5000);
    }
}

/* ------------------------------------------------------------------------
 * Clients
 */
struct vfu_client *pt_connect(struct harness *h, const char *dev)
{
    g_autofree char *path = harness_socket(h, dev);
    struct vfu_client *c = NULL;
    int r = vfu_client_connect(path, &c);

    ck_assert_msg(r == 0, "connect %s: %s", path, strerror(-r));
    vfu_client_set_timeout(c, patience_ms());
    return c;
}

struct vfu_client *pt_open_caps(struct harness *h, const char *dev,
                                const char *json)
{
    struct vfu_client *c = pt_connect(h, dev);
    int r = vfu_client_negotiate(c, json, NULL);

    ck_assert_msg(r == 0, "VERSION: %s", strerror(-r));
    return c;
}

struct vfu_client *pt_open(struct harness *h, const char *dev)
{
    return pt_open_caps(h, dev, NULL);
}

unsigned pt_log_count(struct harness *h, const char *text)
{
    g_autofree char *log = harness_log(h);
    unsigned n = 0;

    for (const char *p = strstr(log, text); p != NULL; p = strstr(p + 1, text)) {
        n++;
    }
    return n;
}

void pt_log_wait_count(struct harness *h, const char *text, unsigned n)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)patience_ms() * 1000;

    while (pt_log_count(h, text) < n) {
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "the daemon's log never showed \"%s\" %u times", text, n);
        g_usleep(2000);
    }
}

void pt_close_wait(struct harness *h, struct vfu_client *c)
{
    unsigned before = pt_log_count(h, "client disconnected");

    vfu_client_close(c);
    pt_log_wait_count(h, "client disconnected", before + 1);
}

/* ------------------------------------------------------------------------
 * Raw messages
 */
void pt_reply_clear(struct pt_reply *r)
{
    free(r->payload);
    pt_close_fds(r->fds, r->nr_fds);
    memset(r, 0, sizeof(*r));
}

/* Shape every reply must have; returns 0 or -error_no. */
static int check_reply(const struct vfio_user_header *hdr, uint16_t id,
                       uint16_t cmd)
{
    ck_assert_msg(hdr->msg_id == id, "reply id %#x, sent %#x", hdr->msg_id, id);
    ck_assert_msg(hdr->cmd == cmd, "reply for command %u, sent %u", hdr->cmd, cmd);
    ck_assert_uint_eq(hdr->flags & VFIO_USER_F_TYPE_MASK, VFIO_USER_F_TYPE_REPLY);
    ck_assert_msg(!(hdr->flags & VFIO_USER_F_NO_REPLY), "reply flagged NO_REPLY");
    if (hdr->flags & VFIO_USER_F_ERROR) {
        /* Trap 20: an error reply is a bare header with a positive errno. */
        ck_assert_msg(hdr->msg_size == sizeof(*hdr),
                      "%s error reply of %u bytes", vfio_user_command_name(cmd),
                      hdr->msg_size);
        ck_assert_msg(hdr->error_no > 0 && hdr->error_no < 4096,
                      "%s error reply with errno %u", vfio_user_command_name(cmd),
                      hdr->error_no);
        return -(int)hdr->error_no;
    }
    return 0;
}

int pt_call(struct vfu_client *c, uint16_t cmd, uint32_t flags,
            const void *payload, size_t len, const int *fds, unsigned nr_fds,
            struct pt_reply *r)
{
    unsigned nr = VFU_CLIENT_MAX_RECV_FDS;
    void *body = NULL;
    uint16_t id;
    int ret;

    memset(r, 0, sizeof(*r));
    ret = vfu_client_send(c, cmd, flags, payload, len, fds, nr_fds, &id);
    ck_assert_msg(ret == 0, "send %s: %s", vfio_user_command_name(cmd),
                  strerror(-ret));
    ret = vfu_client_recv_reply(c, id, &r->hdr, &body, &r->len, r->fds, &nr);
    if (ret < 0 && !(r->hdr.flags & VFIO_USER_F_ERROR)) {
        ck_abort_msg("no reply to %s: %s", vfio_user_command_name(cmd),
                     strerror(-ret));
    }
    r->payload = body;
    r->nr_fds = ret == 0 ? nr : 0;
    return check_reply(&r->hdr, id, cmd);
}

size_t pt_msg_append_sized(GByteArray *buf, uint16_t id, uint16_t cmd,
                           uint32_t flags, uint32_t msg_size,
                           const void *payload, size_t len)
{
    struct vfio_user_header hdr = {
        .msg_id = id,
        .cmd = cmd,
        .msg_size = msg_size,
        .flags = flags,
    };
    size_t at = buf->len;

    g_byte_array_append(buf, (const guint8 *)&hdr, sizeof(hdr));
    if (len > 0) {
        g_byte_array_append(buf, payload, (guint)len);
    }
    return at;
}

size_t pt_msg_append(GByteArray *buf, uint16_t id, uint16_t cmd,
                     uint32_t flags, const void *payload, size_t len)
{
    return pt_msg_append_sized(buf, id, cmd, flags,
                               (uint32_t)(sizeof(struct vfio_user_header) + len),
                               payload, len);
}

int pt_recv(struct vfu_client *c, uint16_t id, struct vfio_user_header *hdr)
{
    struct vfio_user_header h;
    void *body = NULL;
    int ret;

    memset(&h, 0, sizeof(h));
    ret = vfu_client_recv_reply(c, id, &h, &body, NULL, NULL, NULL);
    free(body);
    if (ret < 0 && !(h.flags & VFIO_USER_F_ERROR)) {
        ck_abort_msg("no reply for id %#x: %s", id, strerror(-ret));
    }
    if (hdr != NULL) {
        *hdr = h;
    }
    return check_reply(&h, id, h.cmd);
}

void pt_expect_err(struct vfu_client *c, uint16_t cmd, const void *payload,
                   size_t len, const int *fds, unsigned nr_fds, int err)
{
    struct pt_reply r;
    int ret = pt_call(c, cmd, 0, payload, len, fds, nr_fds, &r);

    ck_assert_msg(ret == -err, "%s: expected error %s, got %s",
                  vfio_user_command_name(cmd), strerror(err),
                  ret == 0 ? "success" : strerror(-ret));
    pt_reply_clear(&r);
}

void pt_expect_ok(struct vfu_client *c, uint16_t cmd, const void *payload,
                  size_t len, size_t reply_len)
{
    struct pt_reply r;
    int ret = pt_call(c, cmd, 0, payload, len, NULL, 0, &r);

    ck_assert_msg(ret == 0, "%s failed: %s", vfio_user_command_name(cmd),
                  strerror(-ret));
    ck_assert_uint_eq(r.len, reply_len);
    ck_assert_uint_eq(r.nr_fds, 0);
    pt_reply_clear(&r);
}

void pt_expect_silence(struct vfu_client *c, int ms)
{
    struct pollfd pfd = { .fd = vfu_client_fd(c), .events = POLLIN };

    ck_assert_msg(poll(&pfd, 1, ms) == 0, "the daemon sent something");
}

void pt_expect_hangup(struct vfu_client *c)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)patience_ms() * 1000;
    int fd = vfu_client_fd(c);

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char buf[4096];
        ssize_t n;
        int left = (int)((deadline - g_get_monotonic_time()) / 1000);

        ck_assert_msg(left > 0, "the daemon kept the connection open");
        if (poll(&pfd, 1, left) <= 0) {
            continue;
        }
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return;
        }
    }
}

void pt_assert_alive(struct vfu_client *c)
{
    struct vfio_user_device_info info;
    int r = vfu_client_device_info(c, &info);

    ck_assert_msg(r == 0, "DEVICE_GET_INFO after the bad input: %s", strerror(-r));
    ck_assert_uint_eq(info.argsz, sizeof(info));
    ck_assert_uint_eq(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
    ck_assert_uint_eq(info.num_regions, PT_NR_REGIONS);
    ck_assert_uint_eq(info.num_irqs, 5);
}

/* ------------------------------------------------------------------------
 * Registers and config space
 */
uint32_t pt_rd32(struct vfu_client *c, unsigned region, uint64_t off)
{
    uint32_t v = 0;
    int r = vfu_client_region_read(c, region, off, &v, sizeof(v));

    ck_assert_msg(r == 0, "read region %u at %#llx: %s", region,
                  (unsigned long long)off, strerror(-r));
    return v;
}

void pt_wr32(struct vfu_client *c, unsigned region, uint64_t off, uint32_t v)
{
    int r = vfu_client_region_write(c, region, off, &v, sizeof(v), false);

    ck_assert_msg(r == 0, "write region %u at %#llx: %s", region,
                  (unsigned long long)off, strerror(-r));
}

uint32_t pt_bar0(struct vfu_client *c, unsigned reg)
{
    return pt_rd32(c, PT_BAR0, reg);
}

void pt_bar0_set(struct vfu_client *c, unsigned reg, uint32_t v)
{
    pt_wr32(c, PT_BAR0, reg, v);
}

uint16_t pt_cfg16(struct vfu_client *c, unsigned off)
{
    uint16_t v = 0;

    ck_assert_int_eq(vfu_client_cfg_read16(c, off, &v), 0);
    return v;
}

void pt_cfg16_set(struct vfu_client *c, unsigned off, uint16_t v)
{
    ck_assert_int_eq(vfu_client_cfg_write16(c, off, v), 0);
}

unsigned pt_find_cap(struct vfu_client *c, uint8_t id)
{
    uint8_t ptr = 0, cap_id = 0;

    ck_assert_int_eq(vfu_client_cfg_read8(c, PCI_CAPABILITY_LIST, &ptr), 0);
    for (int guard = 0; ptr != 0 && guard < 48; guard++) {
        ptr &= ~3u;
        ck_assert_int_eq(vfu_client_cfg_read8(c, ptr, &cap_id), 0);
        if (cap_id == id) {
            return ptr;
        }
        ck_assert_int_eq(vfu_client_cfg_read8(c, ptr + 1, &ptr), 0);
    }
    return 0;
}

unsigned pt_find_ext_cap(struct vfu_client *c, uint16_t id)
{
    unsigned off = 0x100;

    for (int guard = 0; off != 0 && guard < 960; guard++) {
        uint32_t h = 0;

        ck_assert_int_eq(vfu_client_cfg_read32(c, off, &h), 0);
        if (h == 0) {
            return 0;
        }
        if ((h & 0xffff) == id) {
            return off;
        }
        off = (h >> 20) & ~3u;
    }
    return 0;
}

void pt_bus_master(struct vfu_client *c, bool on)
{
    uint16_t cmd = pt_cfg16(c, PCI_COMMAND);

    if (on) {
        cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    } else {
        cmd &= ~PCI_COMMAND_MASTER;
    }
    pt_cfg16_set(c, PCI_COMMAND, cmd);
}

void pt_msix_enable(struct vfu_client *c, bool on)
{
    unsigned cap = pt_find_cap(c, PCI_CAP_ID_MSIX);
    uint16_t ctrl;

    ck_assert_uint_ne(cap, 0);
    ctrl = pt_cfg16(c, cap + PCI_MSIX_FLAGS);
    if (on) {
        ctrl |= PCI_MSIX_FLAGS_ENABLE;
    } else {
        ctrl &= ~PCI_MSIX_FLAGS_ENABLE;
    }
    pt_cfg16_set(c, cap + PCI_MSIX_FLAGS, ctrl);
}

/* ------------------------------------------------------------------------
 * testdev DMA engine
 */
void pt_dma_start(struct vfu_client *c, unsigned op, uint64_t src,
                  uint64_t dst, uint32_t len, uint32_t fill, uint32_t vector)
{
    pt_bar0_set(c, TD_DMA_SRC_LO, (uint32_t)src);
    pt_bar0_set(c, TD_DMA_SRC_HI, (uint32_t)(src >> 32));
    pt_bar0_set(c, TD_DMA_DST_LO, (uint32_t)dst);
    pt_bar0_set(c, TD_DMA_DST_HI, (uint32_t)(dst >> 32));
    pt_bar0_set(c, TD_DMA_LEN, len);
    pt_bar0_set(c, TD_DMA_OP, op);
    pt_bar0_set(c, TD_DMA_FILL, fill);
    pt_bar0_set(c, TD_DMA_VECTOR, vector);
    pt_bar0_set(c, TD_DMA_GO, 1);
}

uint32_t pt_dma_wait(struct vfu_client *c)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)patience_ms() * 2000;

    for (;;) {
        /* Each read also lets the client serve the DMA messages queued
         * in front of its reply. */
        uint32_t s = pt_bar0(c, TD_DMA_STATUS);

        if (!(s & TD_ST_BUSY)) {
            return s;
        }
        ck_assert_msg(g_get_monotonic_time() < deadline, "the DMA never ended");
        vfu_client_serve(c, 1);
    }
}

uint32_t pt_dma(struct vfu_client *c, unsigned op, uint64_t src, uint64_t dst,
                uint32_t len, uint32_t fill)
{
    pt_dma_start(c, op, src, dst, len, fill, 0xffffffffu);
    return pt_dma_wait(c);
}

/* ------------------------------------------------------------------------
 * eventfds and memory
 */
int pt_eventfd(void)
{
    int fd = vfu_client_eventfd();

    ck_assert_int_ge(fd, 0);
    return fd;
}

uint64_t pt_efd_wait(int efd, int ms)
{
    struct pollfd pfd = { .fd = efd, .events = POLLIN };
    uint64_t v = 0;

    if (poll(&pfd, 1, ms) <= 0) {
        return 0;
    }
    if (read(efd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
        return 0;
    }
    return v;
}

int pt_memfd(size_t size)
{
    int fd = memfd_create("pt-guest", MFD_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    return fd;
}

void pt_irq_attach(struct vfu_client *c, unsigned index, unsigned start,
                   unsigned count, const int *fds)
{
    int r = vfu_client_set_irqs(c, index, PT_TRIGGER | PT_EVENTFD, start, count,
                                fds, count, NULL);

    ck_assert_msg(r == 0, "SET_IRQS attach %u..%u of index %u: %s", start,
                  start + count - 1, index, strerror(-r));
}

void pt_close_fds(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
}

/* ------------------------------------------------------------------------
 * Running
 */
TCase *pt_tcase(const char *name)
{
    TCase *tc = tcase_create(name);

    /* CK_TIMEOUT_MULTIPLIER scales this for valgrind runs. */
    tcase_set_timeout(tc, 30);
    return tc;
}

int pt_run(Suite *s)
{
    g_autofree char *plugin = g_build_filename(harness_plugin_dir(), "testdev.so", NULL);
    SRunner *sr;
    int failed;

    if (access(harness_daemon_path(), X_OK) != 0 || access(plugin, R_OK) != 0) {
        fprintf(stderr, "SKIP: needs the built daemon (%s) and testdev plugin (%s)\n",
                harness_daemon_path(), plugin);
        return 77;
    }
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
