/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hand-over message: state blob in a memfd, fds by SCM_RIGHTS.
 */
#include "config.h"

#include "handoff.h"
#include "conn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#define HEADER_SIZE 24u
/* fds per SCM_RIGHTS message (the kernel takes up to 253). */
#define FDS_PER_MSG 200u
/* The most fds one hand-over may carry. */
#define MAX_FDS 65536u
#define MAX_BLOB (1u << 30)

struct handoff *handoff_new(void)
{
    struct handoff *h = g_new0(struct handoff, 1);

    h->version = HANDOFF_VERSION;
    h->devices = g_ptr_array_new_with_free_func((GDestroyNotify)dev_state_free);
    h->listen = g_ptr_array_new();
    h->control_fd = -1;
    return h;
}

void handoff_free(struct handoff *h)
{
    if (h == NULL) {
        return;
    }
    g_ptr_array_unref(h->devices);
    for (guint i = 0; i < h->listen->len; i++) {
        struct handoff_listen *l = g_ptr_array_index(h->listen, i);

        util_close(&l->fd);
        g_free(l->name);
        g_free(l->path);
        g_free(l);
    }
    g_ptr_array_unref(h->listen);
    g_free(h->control_path);
    util_close(&h->control_fd);
    g_free(h);
}

/* ------------------------------------------------------------------------
 * Writing
 */
struct writer {
    GArray *fds;      /* int: borrowed */
    GByteArray *bin;
};

static json_object *put_fd(struct writer *w, int fd)
{
    if (fd < 0) {
        return json_object_new_int(-1);
    }
    g_array_append_val(w->fds, fd);
    return json_object_new_int((int32_t)w->fds->len - 1);
}

static json_object *put_bin(struct writer *w, const GByteArray *b)
{
    json_object *a = json_object_new_array();

    json_object_array_add(a, json_object_new_uint64(w->bin->len));
    json_object_array_add(a, json_object_new_uint64(b != NULL ? b->len : 0));
    if (b != NULL && b->len > 0) {
        g_byte_array_append(w->bin, b->data, b->len);
    }
    return a;
}

static json_object *put_saved_fds(struct writer *w, const GArray *a)
{
    json_object *arr = json_object_new_array();

    for (guint i = 0; i < a->len; i++) {
        const struct conn_saved_fd *s = &g_array_index(a, struct conn_saved_fd, i);
        json_object *e = json_object_new_array();

        json_object_array_add(e, json_object_new_uint64(s->offset));
        json_object_array_add(e, put_fd(w, s->fd));
        json_object_array_add(e, json_object_new_boolean(s->shared_read));
        json_object_array_add(arr, e);
    }
    return arr;
}

#define ADD(o, k, v) json_object_object_add(o, k, v)

static json_object *put_conn(struct writer *w, const struct dh_conn *c)
{
    json_object *o = json_object_new_object();

    ADD(o, "fd", put_fd(w, c->fd));
    ADD(o, "twin_fd", put_fd(w, c->twin_fd));
    ADD(o, "versioned", json_object_new_boolean(c->versioned));
    ADD(o, "write_multiple", json_object_new_boolean(c->write_multiple));
    ADD(o, "max_fds", json_object_new_uint64(c->client_max_fds));
    ADD(o, "max_xfer", json_object_new_uint64(c->client_max_xfer));
    ADD(o, "pgsize", json_object_new_uint64(c->client_pgsize));
    ADD(o, "next_id", json_object_new_uint64(c->next_id));
    ADD(o, "pid", json_object_new_int(c->pid));
    ADD(o, "uid", json_object_new_int(c->uid));
    ADD(o, "gid", json_object_new_int(c->gid));
    ADD(o, "since", json_object_new_int64(c->since));
    ADD(o, "msgs_in", json_object_new_uint64(c->msgs_in));
    ADD(o, "bytes_in", json_object_new_uint64(c->bytes_in));
    ADD(o, "msgs_out", json_object_new_uint64(c->msgs_out));
    ADD(o, "bytes_out", json_object_new_uint64(c->bytes_out));
    ADD(o, "errors", json_object_new_uint64(c->errors));
    ADD(o, "in", put_bin(w, c->in));
    ADD(o, "drain", json_object_new_uint64(c->drain));
    ADD(o, "in_fds", put_saved_fds(w, c->in_fds));
    ADD(o, "twin_in", put_bin(w, c->twin_in));
    ADD(o, "twin_drain", json_object_new_uint64(c->twin_drain));
    ADD(o, "twin_fds", put_saved_fds(w, c->twin_fds));
    return o;
}

static json_object *put_device(struct writer *w, const struct dev_state *st)
{
    json_object *o = json_object_new_object();
    json_object *a;

    ADD(o, "name", json_object_new_string(st->name));
    ADD(o, "mig", st->mig != NULL ? put_bin(w, st->mig) : NULL);
    ADD(o, "conn", st->conn != NULL ? put_conn(w, st->conn) : NULL);
    a = json_object_new_array();
    for (guint i = 0; i < st->windows->len; i++) {
        const struct dh_window *dw = &g_array_index(st->windows, struct dh_window, i);
        json_object *e = json_object_new_array();

        json_object_array_add(e, json_object_new_uint64(dw->iova));
        json_object_array_add(e, json_object_new_uint64(dw->size));
        json_object_array_add(e, json_object_new_uint64(dw->offset));
        json_object_array_add(e, json_object_new_uint64(dw->prot));
        json_object_array_add(e, put_fd(w, dw->fd));
        json_object_array_add(a, e);
    }
    ADD(o, "windows", a);
    a = json_object_new_array();
    for (guint i = 0; i < st->irqs->len; i++) {
        const struct dh_irq *di = &g_array_index(st->irqs, struct dh_irq, i);
        json_object *e = json_object_new_array();

        json_object_array_add(e, json_object_new_uint64(di->type));
        json_object_array_add(e, json_object_new_uint64(di->vec));
        json_object_array_add(e, put_fd(w, di->fd));
        json_object_array_add(e, json_object_new_boolean(di->masked));
        json_object_array_add(a, e);
    }
    ADD(o, "irqs", a);
    ADD(o, "intx_unmask_fd", put_fd(w, st->intx_unmask_fd));
    a = json_object_new_array();
    for (unsigned i = 0; i < VFUD_NR_REGIONS; i++) {
        json_object_array_add(a, put_fd(w, st->region_fd[i]));
    }
    ADD(o, "region_fds", a);
    ADD(o, "clients_served", json_object_new_uint64(st->clients_served));
    ADD(o, "clients_refused", json_object_new_uint64(st->clients_refused));
    return o;
}

static int send_fds(int sock, const char *tag, const int *fds, unsigned n, int extra)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * (FDS_PER_MSG + 1))];
        struct cmsghdr align;
    } u;
    struct iovec iov = { .iov_base = (void *)tag, .iov_len = strlen(tag) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    unsigned total = n + (extra >= 0 ? 1 : 0);

    if (total > 0) {
        struct cmsghdr *cm;
        int *p;

        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * total);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * total);
        p = (int *)(void *)CMSG_DATA(cm);
        if (extra >= 0) {
            *p++ = extra;
        }
        if (n > 0) {
            memcpy(p, fds, sizeof(int) * n);
        }
    }
    while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

int handoff_send_stream(int sock, int blob, const int *fds, unsigned n)
{
    char tag[32];
    int r;

    snprintf(tag, sizeof(tag), "STATE %u", n);
    r = send_fds(sock, tag, NULL, 0, blob);
    for (unsigned i = 0; r == 0 && i < n; i += FDS_PER_MSG) {
        r = send_fds(sock, "FDS", fds + i, MIN(FDS_PER_MSG, n - i), -1);
    }
    return r;
}

/* Tests make us write a future version to see the new process refuse it
 * (tests/ops/test_upgrade.c). */
static uint32_t write_version(void)
{
    const char *v = g_getenv("VFIOUSERD_TEST_HANDOFF_VERSION");

    return v != NULL ? (uint32_t)g_ascii_strtoull(v, NULL, 10) : HANDOFF_VERSION;
}

int handoff_encode(const struct handoff *h, int *blob, GArray *fds)
{
    struct writer w = { .fds = fds, .bin = g_byte_array_new() };
    json_object *root = json_object_new_object();
    json_object *a = json_object_new_array();
    const char *text;
    uint8_t hdr[HEADER_SIZE];
    uint32_t v32;
    uint64_t v64;
    int mfd = -1;
    int r = 0;

    for (guint i = 0; i < h->devices->len; i++) {
        json_object_array_add(a, put_device(&w, g_ptr_array_index(h->devices, i)));
    }
    ADD(root, "devices", a);
    a = json_object_new_array();
    for (guint i = 0; i < h->listen->len; i++) {
        const struct handoff_listen *l = g_ptr_array_index(h->listen, i);
        json_object *e = json_object_new_object();

        ADD(e, "name", json_object_new_string(l->name));
        ADD(e, "path", l->path != NULL ? json_object_new_string(l->path) : NULL);
        ADD(e, "fd", put_fd(&w, l->fd));
        ADD(e, "unlink", json_object_new_boolean(l->unlink_on_stop));
        json_object_array_add(a, e);
    }
    ADD(root, "listen", a);
    if (h->control_path != NULL) {
        json_object *e = json_object_new_object();

        ADD(e, "path", json_object_new_string(h->control_path));
        ADD(e, "fd", put_fd(&w, h->control_fd));
        ADD(root, "control", e);
    }
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);

    memcpy(hdr, HANDOFF_MAGIC, 8);
    v32 = GUINT32_TO_LE(write_version());
    memcpy(hdr + 8, &v32, 4);
    v32 = GUINT32_TO_LE((uint32_t)strlen(text));
    memcpy(hdr + 12, &v32, 4);
    v64 = GUINT64_TO_LE((uint64_t)w.bin->len);
    memcpy(hdr + 16, &v64, 8);
    errno = 0;
    mfd = memfd_create("vfiouserd-upgrade", MFD_CLOEXEC);
    if (mfd < 0 || write(mfd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
        write(mfd, text, strlen(text)) != (ssize_t)strlen(text) ||
        (w.bin->len > 0 && write(mfd, w.bin->data, w.bin->len) != (ssize_t)w.bin->len)) {
        r = errno != 0 ? -errno : -EIO;
        util_close(&mfd);
        g_array_set_size(fds, 0);
    }
    *blob = mfd;
    json_object_put(root);
    g_byte_array_unref(w.bin);
    return r;
}

int handoff_send(int sock, const struct handoff *h)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    int blob = -1;
    int r = handoff_encode(h, &blob, fds);

    if (r == 0) {
        r = handoff_send_stream(sock, blob, (const int *)(void *)fds->data, fds->len);
    }
    util_close(&blob);
    g_array_unref(fds);
    return r;
}

/* ------------------------------------------------------------------------
 * Reading
 */
struct reader {
    GArray *fds;          /* int: taken one by one (slots become -1) */
    const uint8_t *bin;
    uint64_t bin_len;
    const char *err;
};

static int get_fd(struct reader *rd, json_object *o)
{
    int i = o != NULL ? json_object_get_int(o) : -1;
    int fd;

    if (i < 0) {
        return -1;
    }
    if ((guint)i >= rd->fds->len || g_array_index(rd->fds, int, i) < 0) {
        rd->err = "an fd index is out of range or used twice";
        return -1;
    }
    fd = g_array_index(rd->fds, int, i);
    g_array_index(rd->fds, int, i) = -1;
    return fd;
}

static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;

    json_object_object_get_ex(o, k, &v);
    return v;
}

static uint64_t u64(json_object *o, const char *k)
{
    return json_object_get_uint64(member(o, k));
}

static GByteArray *get_bin(struct reader *rd, json_object *a)
{
    uint64_t off, len;
    GByteArray *b = g_byte_array_new();

    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) != 2) {
        rd->err = "malformed binary reference";
        return b;
    }
    off = json_object_get_uint64(json_object_array_get_idx(a, 0));
    len = json_object_get_uint64(json_object_array_get_idx(a, 1));
    if (off > rd->bin_len || len > rd->bin_len - off) {
        rd->err = "binary reference out of range";
        return b;
    }
    g_byte_array_append(b, rd->bin + off, (guint)len);
    return b;
}

static void get_saved_fds(struct reader *rd, json_object *a, GArray *out)
{
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct conn_saved_fd s = {
            .offset = json_object_get_uint64(json_object_array_get_idx(e, 0)),
            .fd = get_fd(rd, json_object_array_get_idx(e, 1)),
            .shared_read = json_object_get_boolean(json_object_array_get_idx(e, 2)),
        };

        if (s.fd >= 0) {
            g_array_append_val(out, s);
        }
    }
}

static struct dh_conn *get_conn(struct reader *rd, json_object *o)
{
    struct dh_conn *c = dh_conn_new();
    GByteArray *b;

    c->fd = get_fd(rd, member(o, "fd"));
    c->twin_fd = get_fd(rd, member(o, "twin_fd"));
    c->versioned = json_object_get_boolean(member(o, "versioned"));
    c->write_multiple = json_object_get_boolean(member(o, "write_multiple"));
    c->client_max_fds = (uint32_t)u64(o, "max_fds");
    c->client_max_xfer = u64(o, "max_xfer");
    c->client_pgsize = u64(o, "pgsize");
    c->next_id = (uint32_t)u64(o, "next_id");
    c->pid = json_object_get_int(member(o, "pid"));
    c->uid = json_object_get_int(member(o, "uid"));
    c->gid = json_object_get_int(member(o, "gid"));
    c->since = json_object_get_int64(member(o, "since"));
    c->msgs_in = u64(o, "msgs_in");
    c->bytes_in = u64(o, "bytes_in");
    c->msgs_out = u64(o, "msgs_out");
    c->bytes_out = u64(o, "bytes_out");
    c->errors = u64(o, "errors");
    b = get_bin(rd, member(o, "in"));
    g_byte_array_unref(c->in);
    c->in = b;
    b = get_bin(rd, member(o, "twin_in"));
    g_byte_array_unref(c->twin_in);
    c->twin_in = b;
    c->drain = u64(o, "drain");
    c->twin_drain = u64(o, "twin_drain");
    get_saved_fds(rd, member(o, "in_fds"), c->in_fds);
    get_saved_fds(rd, member(o, "twin_fds"), c->twin_fds);
    if (c->fd < 0 && rd->err == NULL) {
        rd->err = "a client connection without its socket";
    }
    return c;
}

static struct dev_state *get_device(struct reader *rd, json_object *o)
{
    struct dev_state *st = dev_state_new(json_object_get_string(member(o, "name")));
    json_object *a;

    if (member(o, "mig") != NULL) {
        st->mig = get_bin(rd, member(o, "mig"));
    }
    if (member(o, "conn") != NULL) {
        st->conn = get_conn(rd, member(o, "conn"));
    }
    a = member(o, "windows");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct dh_window w = {
            .iova = json_object_get_uint64(json_object_array_get_idx(e, 0)),
            .size = json_object_get_uint64(json_object_array_get_idx(e, 1)),
            .offset = json_object_get_uint64(json_object_array_get_idx(e, 2)),
            .prot = (uint32_t)json_object_get_uint64(json_object_array_get_idx(e, 3)),
            .fd = get_fd(rd, json_object_array_get_idx(e, 4)),
        };

        g_array_append_val(st->windows, w);
    }
    a = member(o, "irqs");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct dh_irq di = {
            .type = (uint32_t)json_object_get_uint64(json_object_array_get_idx(e, 0)),
            .vec = (uint32_t)json_object_get_uint64(json_object_array_get_idx(e, 1)),
            .fd = get_fd(rd, json_object_array_get_idx(e, 2)),
            .masked = json_object_get_boolean(json_object_array_get_idx(e, 3)),
        };

        g_array_append_val(st->irqs, di);
    }
    st->intx_unmask_fd = get_fd(rd, member(o, "intx_unmask_fd"));
    a = member(o, "region_fds");
    for (size_t i = 0; i < json_object_array_length(a) && i < VFUD_NR_REGIONS; i++) {
        st->region_fd[i] = get_fd(rd, json_object_array_get_idx(a, i));
    }
    st->clients_served = u64(o, "clients_served");
    st->clients_refused = u64(o, "clients_refused");
    return st;
}

/* One message, with the fds that came with it appended to fds. */
static ssize_t recv_one(int sock, char *buf, size_t len, GArray *fds, int timeout_ms)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * (FDS_PER_MSG + 1))];
        struct cmsghdr align;
    } u;
    struct iovec iov = { .iov_base = buf, .iov_len = len - 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    struct pollfd p = { .fd = sock, .events = POLLIN };
    ssize_t n;
    int r;

    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        return -ETIMEDOUT;
    }
    do {
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    /* Fds missing from a hand-over would shift every index after them. */
    r = util_cmsg_fds(&mh, fds);
    if (r < 0) {
        return r;
    }
    if (n == 0) {
        return -EPIPE;
    }
    buf[n] = '\0';
    return n;
}

static int parse_blob(struct handoff *h, int mfd, GArray *fds, char **why)
{
    struct stat st;
    uint8_t *map = NULL;
    uint32_t ver, jlen;
    uint64_t blen;
    json_object *root = NULL, *a;
    struct json_tokener *tok = NULL;
    struct reader rd = { .fds = fds };
    int r = -EPROTO;

    if (fstat(mfd, &st) < 0 || st.st_size < HEADER_SIZE || st.st_size > MAX_BLOB) {
        *why = g_strdup("the state blob is missing or of a bad size");
        return -EPROTO;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, mfd, 0);
    if (map == MAP_FAILED) {
        *why = g_strdup_printf("cannot map the state blob: %s", g_strerror(errno));
        return -errno;
    }
    memcpy(&ver, map + 8, 4);
    memcpy(&jlen, map + 12, 4);
    memcpy(&blen, map + 16, 8);
    ver = GUINT32_FROM_LE(ver);
    jlen = GUINT32_FROM_LE(jlen);
    blen = GUINT64_FROM_LE(blen);
    h->version = ver;
    if (memcmp(map, HANDOFF_MAGIC, 8) != 0) {
        *why = g_strdup("the state blob has no vfud-upg magic");
        goto out;
    }
    if (ver > HANDOFF_VERSION || ver == 0) {
        *why = g_strdup_printf("state format version %u is not one this binary "
                               "reads (it reads 1 to %u)", ver, HANDOFF_VERSION);
        goto out;
    }
    if ((uint64_t)jlen + blen + HEADER_SIZE != (uint64_t)st.st_size) {
        *why = g_strdup("the state blob's sizes do not add up");
        goto out;
    }
    tok = json_tokener_new();
    root = json_tokener_parse_ex(tok, (const char *)map + HEADER_SIZE, (int)jlen);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        *why = g_strdup("the state blob's JSON is malformed");
        goto out;
    }
    rd.bin = map + HEADER_SIZE + jlen;
    rd.bin_len = blen;
    a = member(root, "devices");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        g_ptr_array_add(h->devices, get_device(&rd, json_object_array_get_idx(a, i)));
    }
    a = member(root, "listen");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        struct handoff_listen *l = g_new0(struct handoff_listen, 1);

        l->name = g_strdup(json_object_get_string(member(e, "name")));
        l->path = g_strdup(json_object_get_string(member(e, "path")));
        l->fd = get_fd(&rd, member(e, "fd"));
        l->unlink_on_stop = json_object_get_boolean(member(e, "unlink"));
        g_ptr_array_add(h->listen, l);
    }
    if (member(root, "control") != NULL) {
        h->control_path = g_strdup(json_object_get_string(member(member(root, "control"),
                                                                 "path")));
        h->control_fd = get_fd(&rd, member(member(root, "control"), "fd"));
    }
    if (rd.err != NULL) {
        *why = g_strdup_printf("the state blob is inconsistent: %s", rd.err);
        goto out;
    }
    r = 0;
out:
    if (tok != NULL) {
        json_tokener_free(tok);
    }
    json_object_put(root);
    munmap(map, (size_t)st.st_size);
    return r;
}

int handoff_recv(int sock, struct handoff **out, char **why)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    GArray *first = g_array_new(FALSE, FALSE, sizeof(int));
    struct handoff *h = handoff_new();
    unsigned want = 0;
    char buf[64];
    ssize_t n;
    int r = 0;

    n = recv_one(sock, buf, sizeof(buf), first, HANDOFF_STATE_MS);
    if (n < 0 || sscanf(buf, "STATE %u", &want) != 1 || first->len != 1 ||
        want > MAX_FDS) {
        *why = g_strdup(n < 0 ? g_strerror((int)-n) : "expected STATE with a memfd");
        r = n < 0 ? (int)n : -EPROTO;
        goto out;
    }
    while (fds->len < want) {
        n = recv_one(sock, buf, sizeof(buf), fds, HANDOFF_STATE_MS);
        if (n < 0 || strcmp(buf, "FDS") != 0) {
            *why = g_strdup(n < 0 ? g_strerror((int)-n) : "expected FDS");
            r = n < 0 ? (int)n : -EPROTO;
            goto out;
        }
    }
    if (fds->len != want) {
        *why = g_strdup_printf("%u fds came, %u expected", fds->len, want);
        r = -EPROTO;
        goto out;
    }
    r = parse_blob(h, g_array_index(first, int, 0), fds, why);
out:
    for (guint i = 0; i < first->len; i++) {
        close(g_array_index(first, int, i));
    }
    for (guint i = 0; i < fds->len; i++) {
        util_close(&g_array_index(fds, int, i)); /* those nothing took */
    }
    g_array_unref(first);
    g_array_unref(fds);
    if (r < 0) {
        handoff_free(h);
        return r;
    }
    *out = h;
    return 0;
}

int handoff_say(int sock, const char *text)
{
    return send_fds(sock, text, NULL, 0, -1);
}

int handoff_hear(int sock, int timeout_ms, char **text)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    char buf[4096];
    ssize_t n = recv_one(sock, buf, sizeof(buf), fds, timeout_ms);

    for (guint i = 0; i < fds->len; i++) {
        close(g_array_index(fds, int, i));
    }
    g_array_unref(fds);
    if (n < 0) {
        return (int)n;
    }
    *text = g_strdup(buf);
    return 0;
}
