/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: arbitrary byte streams, with and without fds, from a client
 * into the daemon's message engine serving a real device.
 *
 * Once per process we configure, realize and start one device per plugin
 * (testdev, gpio) exactly as the daemon does, each on its own thread and
 * GMainContext, listening on an abstract UNIX socket.  For each input we
 * connect as a client, send the input's chunks (each with the fds it asks
 * for, in a sendmsg() of its own), read and check every reply, answer the
 * daemon's DMA_READ/DMA_WRITE requests, then hang up and wait until the
 * device has dropped the client.  After that the device must hold no DMA
 * window and no eventfd, the process must have exactly the fds it had
 * before the input, and the device is reset so inputs do not depend on each
 * other.
 *
 * Input format:
 *   byte 0            device: 0 testdev, 1 gpio (modulo the number)
 *   then chunks       ctl u8 | len u16 little endian | len bytes
 *     ctl bits 0-2    fd kind sent with the chunk (enum fd_kind; 0 none)
 *     ctl bits 3-5    fd count - 1 (1..8)
 *     ctl bit 6       barrier: first wait until the daemon has read and
 *                     served everything sent so far
 *     ctl bit 7       many fds: count = 17 + 8 * (bits 3-5), up to 73
 *   A chunk's length is cut to what the input has left; fewer than 3 bytes
 *   left are sent as a last plain chunk.  capture2seed.py writes this
 *   format from QEMU captures (the seed corpus in corpus/).
 *
 * Oracles besides the sanitizers: every reply is well formed (an error
 * reply is a bare header with an errno in 1..4095, trap 20); the daemon
 * sends no command but DMA_READ/DMA_WRITE; no fd, window or eventfd
 * outlives the client.  A violation abort()s, which libFuzzer records as a
 * crash with its input.
 *
 * FUZZ_LOG=LEVEL (error, warning, info, debug) sets the daemon's log level;
 * the default is silent under libFuzzer and "debug" in the replay (so log
 * formatting runs under the sanitizers too).
 */
#include "config.h"

#include "conn.h"
#include "device.h"
#include "dma.h"
#include "fuzz.h"
#include "irq.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

/* Guest RAM memfds: large enough for the windows of the captures (QEMU
 * maps 512 MiB); sparse, so only what the device touches costs memory. */
#define GUEST_MEMFD_SIZE (1ull << 30)
/* An input that has not finished after this long is a hang. */
#define INPUT_DEADLINE_US (20 * G_USEC_PER_SEC)

enum fd_kind {
    FD_NONE,
    FD_MEMFD,     /* guest memory */
    FD_EVENTFD,
    FD_PIPE,      /* read end of a pipe */
    FD_SOCKET,    /* one end of a socketpair */
    FD_DIRECTORY,
    FD_SHORT_FILE, /* a 4 KiB memfd: smaller than any window */
    FD_DEVNULL,
};

#define CTL_KIND(c) ((c) & 7u)
#define CTL_COUNT(c) ((((c) >> 3) & 7u) + 1u)
#define CTL_BARRIER 0x40u
#define CTL_MANY 0x80u

struct fuzz_device {
    const char *name;
    struct vfud_plugin *(*init)(void);
    const char *const *keys; /* key, value, ..., NULL */
    bool write_multiple;     /* the daemon's write-multiple key */
    vfud_dev *dev;
    struct sockaddr_un addr;
    socklen_t addr_len;
};

static const char *const testdev_keys[] = { "magic", "0x1122334455667788", NULL };
static const char *const no_keys[] = { NULL };

static struct fuzz_device devices[] = {
    /* REGION_WRITE_MULTI is only served where it was offered. */
    { "testdev", fuzz_testdev_plugin_init, testdev_keys, true, NULL, { 0 }, 0 },
    { "gpio", fuzz_gpio_plugin_init, no_keys, false, NULL, { 0 }, 0 },
};

static int fd_baseline = -1;

/* ------------------------------------------------------------------------
 * Setting up the devices
 */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("fuzz_engine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* What the daemon's plugin_open() does after dlsym(), for a plugin linked
 * in. */
static const struct vfud_plugin *linked_plugin(struct vfud_plugin *(*init)(void))
{
    struct vfud_plugin *ops = g_new0(struct vfud_plugin, 1);
    struct vfud_plugin *raw = init();

    memcpy(ops, raw, MIN(sizeof(*ops), raw->_struct_size));
    if (ops->load != NULL && ops->load() < 0) {
        die("%s: load failed", ops->name);
    }
    return ops;
}

/* What the daemon's listener does, access lists aside: hand each
 * connection to the engine, on the device thread. */
static gboolean on_accept(gint lfd, GIOCondition cond, gpointer data)
{
    vfud_dev *dev = data;
    struct ucred cred = { .pid = -1 };
    socklen_t len = sizeof(cred);
    int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (cfd < 0) {
        return G_SOURCE_CONTINUE;
    }
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        cred.pid = -1;
        cred.uid = (uid_t)-1;
        cred.gid = (gid_t)-1;
    }
    if (device_attach(dev, cfd, &cred) < 0) {
        close(cfd);
    }
    return G_SOURCE_CONTINUE;
}

static void device_setup(struct fuzz_device *fd)
{
    struct device_key keys[8];
    unsigned n = 0;
    GSource *src;
    int lfd;

    for (unsigned i = 0; fd->keys[i] != NULL && n < G_N_ELEMENTS(keys); i += 2) {
        keys[n++] = (struct device_key){ fd->keys[i], fd->keys[i + 1], "fuzz" };
    }
    fd->dev = device_new(fd->name, linked_plugin(fd->init));
    fd->dev->write_multiple = fd->write_multiple;
    if (device_configure(fd->dev, "fuzz", keys, n) < 0 || device_realize(fd->dev) < 0) {
        die("%s: cannot create the device", fd->name);
    }

    /* An abstract socket: nothing to clean up in the file system. */
    fd->addr.sun_family = AF_UNIX;
    snprintf(fd->addr.sun_path + 1, sizeof(fd->addr.sun_path) - 1,
             "vfiouserd-fuzz-%d-%s", (int)getpid(), fd->name);
    fd->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                               strlen(fd->addr.sun_path + 1));
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&fd->addr, fd->addr_len) < 0 ||
        listen(lfd, 4) < 0) {
        die("%s: listening socket: %s", fd->name, strerror(errno));
    }
    util_set_nonblock(lfd, true);
    src = g_unix_fd_source_new(lfd, G_IO_IN);
    g_source_set_callback(src, G_SOURCE_FUNC(on_accept), fd->dev, NULL);
    g_source_attach(src, fd->dev->ctx);
    g_source_unref(src);
    if (device_start(fd->dev) < 0) {
        die("%s: cannot start the device", fd->name);
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
    return n - 1; /* the directory's own fd */
}

static void fuzz_init(void)
{
    const char *level = getenv("FUZZ_LOG");
    int lv = LOG_CRIT;

#ifdef FUZZ_REPLAY
    lv = LOG_DEBUG;
#endif
    if (level != NULL && log_level_parse(level, &lv) < 0) {
        die("FUZZ_LOG=%s: not a log level", level);
    }
    log_init(LOG_TARGET_STDERR);
    log_set_level(lv);
    for (unsigned i = 0; i < G_N_ELEMENTS(devices); i++) {
        device_setup(&devices[i]);
    }
}

/* ------------------------------------------------------------------------
 * Barriers: a callback on the device thread once it has nothing more
 * urgent to do (an idle source ranks below the connection).  Idle sources
 * of one priority run in the order they were attached, so when barrier n
 * has run, every earlier one has too.
 */
struct barrier {
    GMutex lock;
    GCond cond;
    unsigned posted, ran;
};

struct barrier_job {
    struct barrier *b;
    vfud_dev *dev;
    bool reset; /* also reset the device */
};

static gboolean barrier_idle(gpointer data)
{
    struct barrier_job *p = data;

    if (p->reset && device_reset(p->dev, VFUD_RESET_DEVICE) < 0) {
        die("%s: reset failed", p->dev->name);
    }
    g_mutex_lock(&p->b->lock);
    p->b->ran++;
    g_cond_signal(&p->b->cond);
    g_mutex_unlock(&p->b->lock);
    g_free(p);
    return G_SOURCE_REMOVE;
}

/* Returns the barrier's number. */
static unsigned barrier_post(struct barrier *b, vfud_dev *dev, bool reset)
{
    struct barrier_job *p = g_new(struct barrier_job, 1);
    GSource *s = g_idle_source_new();
    unsigned n;

    p->b = b;
    p->dev = dev;
    p->reset = reset;
    g_mutex_lock(&b->lock);
    n = ++b->posted;
    g_mutex_unlock(&b->lock);
    g_source_set_callback(s, barrier_idle, p, NULL);
    g_source_attach(s, dev->ctx);
    g_source_unref(s);
    return n;
}

static bool barrier_passed(struct barrier *b, unsigned n)
{
    bool done;

    g_mutex_lock(&b->lock);
    done = b->ran >= n;
    g_mutex_unlock(&b->lock);
    return done;
}

/* Wait until every barrier posted so far has run. */
static void barrier_wait_all(struct barrier *b, const char *dev_name)
{
    gint64 deadline = g_get_monotonic_time() + INPUT_DEADLINE_US;

    g_mutex_lock(&b->lock);
    while (b->ran < b->posted) {
        if (!g_cond_wait_until(&b->cond, &b->lock, deadline)) {
            die("%s: the device thread is stuck", dev_name);
        }
    }
    g_mutex_unlock(&b->lock);
}

/* ------------------------------------------------------------------------
 * One client session
 */
struct session {
    struct fuzz_device *fd;
    int sock;
    bool eof;
    uint64_t sent;     /* bytes written to the daemon */
    GByteArray *in;    /* bytes from the daemon not yet parsed */
    GByteArray *out;   /* our answers to its requests, not yet sent */
    struct barrier barrier;
    unsigned armed; /* barrier posted when the byte counts matched; 0: none */
    uint64_t armed_sent; /* what we had sent then */
};

static int make_fd(enum fd_kind kind)
{
    int fd = -1, pair[2];

    switch (kind) {
    case FD_MEMFD:
    case FD_SHORT_FILE:
        fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
        if (fd >= 0 &&
            ftruncate(fd, kind == FD_MEMFD ? (off_t)GUEST_MEMFD_SIZE : 4096) < 0) {
            close(fd);
            fd = -1;
        }
        break;
    case FD_EVENTFD:
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        break;
    case FD_PIPE:
        if (pipe2(pair, O_CLOEXEC) == 0) {
            close(pair[1]);
            fd = pair[0];
        }
        break;
    case FD_SOCKET:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
            close(pair[1]);
            fd = pair[0];
        }
        break;
    case FD_DIRECTORY:
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        break;
    case FD_DEVNULL:
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        break;
    case FD_NONE:
        break;
    }
    if (fd < 0) {
        die("cannot make an fd of kind %d: %s", kind, strerror(errno));
    }
    return fd;
}

/* Send as much of buf as the socket takes, with fds on the first byte.
 * Returns bytes sent (0 if the socket is full), or -1 at a hang-up. */
static ssize_t send_some(struct session *s, const uint8_t *buf, size_t len,
                         const int *fds, unsigned nr_fds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 80)];
        struct cmsghdr align;
    } u;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    if (nr_fds > 0) {
        struct cmsghdr *cm;

        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nr_fds);
    }
    n = sendmsg(s->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return 0;
        }
        s->eof = true;
        return -1;
    }
    s->sent += (uint64_t)n;
    return n;
}

static void check_reply(const struct vfio_user_header *h)
{
    if (h->flags & VFIO_USER_F_NO_REPLY) {
        die("reply %#x (%s) flagged NO_REPLY", h->msg_id,
            vfio_user_command_name(h->cmd));
    }
    if (h->flags & VFIO_USER_F_ERROR) {
        if (h->msg_size != sizeof(*h) || h->error_no == 0 || h->error_no >= 4096) {
            die("error reply %#x (%s): %u bytes, errno %u (trap 20)",
                h->msg_id, vfio_user_command_name(h->cmd), h->msg_size,
                h->error_no);
        }
    }
}

/* The daemon asks for guest memory: answer like a client without it. */
static void answer_request(struct session *s, const struct vfio_user_header *h,
                           const uint8_t *p, size_t len)
{
    struct vfio_user_header r = {
        .msg_id = h->msg_id,
        .cmd = h->cmd,
        .msg_size = sizeof(r),
        .flags = VFIO_USER_F_TYPE_REPLY,
    };
    struct vfio_user_dma_rw rw;

    if (h->cmd != VFIO_USER_DMA_READ && h->cmd != VFIO_USER_DMA_WRITE) {
        die("the daemon sent command %u (%s)", h->cmd,
            vfio_user_command_name(h->cmd));
    }
    if (h->flags & VFIO_USER_F_NO_REPLY) {
        return;
    }
    if (len < sizeof(rw)) {
        die("%s request of %zu bytes", vfio_user_command_name(h->cmd), len);
    }
    memcpy(&rw, p, sizeof(rw));
    if (rw.count > CONN_MAX_XFER) {
        die("%s of %llu bytes exceeds max_data_xfer_size",
            vfio_user_command_name(h->cmd), (unsigned long long)rw.count);
    }
    if (h->cmd == VFIO_USER_DMA_WRITE) {
        if (len != sizeof(rw) + rw.count) {
            die("DMA_WRITE of %llu bytes carries %zu", (unsigned long long)rw.count,
                len - sizeof(rw));
        }
        r.msg_size += sizeof(rw);
        g_byte_array_append(s->out, (const guint8 *)&r, sizeof(r));
        g_byte_array_append(s->out, (const guint8 *)&rw, sizeof(rw));
    } else {
        size_t at;

        r.msg_size += (uint32_t)(sizeof(rw) + rw.count);
        g_byte_array_append(s->out, (const guint8 *)&r, sizeof(r));
        g_byte_array_append(s->out, (const guint8 *)&rw, sizeof(rw));
        at = s->out->len;
        g_byte_array_set_size(s->out, (guint)(at + rw.count));
        memset(s->out->data + at, 0xa5, (size_t)rw.count);
    }
}

static void parse_input(struct session *s)
{
    size_t pos = 0;

    while (s->in->len - pos >= sizeof(struct vfio_user_header)) {
        struct vfio_user_header h;

        memcpy(&h, s->in->data + pos, sizeof(h));
        if (h.msg_size < sizeof(h) || h.msg_size > CONN_MAX_MSG + 4096) {
            die("the daemon sent a message of %u bytes", h.msg_size);
        }
        if (s->in->len - pos < h.msg_size) {
            break;
        }
        switch (h.flags & VFIO_USER_F_TYPE_MASK) {
        case VFIO_USER_F_TYPE_REPLY:
            check_reply(&h);
            break;
        case VFIO_USER_F_TYPE_COMMAND:
            answer_request(s, &h, s->in->data + pos + sizeof(h),
                           h.msg_size - sizeof(h));
            break;
        default:
            die("the daemon sent message type %u", h.flags & VFIO_USER_F_TYPE_MASK);
        }
        pos += h.msg_size;
    }
    g_byte_array_remove_range(s->in, 0, (guint)pos);
}

static void read_some(struct session *s)
{
    uint8_t buf[65536];
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;

    for (;;) {
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
        };
        ssize_t n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            s->eof = true;
            return;
        }
        /* Replies may carry fds (region fds): we have no use for them. */
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL;
             cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                    int fd;

                    memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
                    close(fd);
                }
            }
        }
        if (mh.msg_flags & MSG_CTRUNC) {
            die("a reply carried more than 4 fds");
        }
        g_byte_array_append(s->in, buf, (guint)n);
        parse_input(s);
    }
}

/* Queued answers first, whole, so a chunk is never cut by one. */
static bool flush_answers(struct session *s)
{
    while (s->out->len > 0 && !s->eof) {
        ssize_t n = send_some(s, s->out->data, s->out->len, NULL, 0);

        if (n <= 0) {
            return false;
        }
        g_byte_array_remove_range(s->out, 0, (guint)n);
    }
    return s->out->len == 0;
}

/* Has the daemon read everything we sent and gone idle since?  Posts a
 * barrier when the byte counts match; true once it has run and the counts
 * still match. */
static bool daemon_caught_up(struct session *s)
{
    struct conn *c;
    uint64_t in;

    if (s->out->len > 0) {
        return false;
    }
    c = device_get_conn(s->fd->dev);
    if (c == NULL) {
        return false; /* not accepted yet, or being dropped: EOF will come */
    }
    in = __atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
    conn_unref(c);
    if (in != s->sent) {
        return false;
    }
    if (s->armed == 0) {
        s->armed = barrier_post(&s->barrier, s->fd->dev, false);
        s->armed_sent = s->sent;
        return false;
    }
    if (!barrier_passed(&s->barrier, s->armed)) {
        return false;
    }
    s->armed = 0;
    /* Answers we sent meanwhile need another round. */
    return s->armed_sent == s->sent;
}

/* One step: read what came, then write what we may.  wait_ms bounds the
 * poll. */
static void pump(struct session *s, bool want_write, int wait_ms)
{
    struct pollfd p = { .fd = s->sock, .events = POLLIN };

    if (want_write || s->out->len > 0) {
        p.events |= POLLOUT;
    }
    if (poll(&p, 1, wait_ms) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
        read_some(s);
    }
    flush_answers(s);
}

static void check_deadline(struct session *s, gint64 deadline)
{
    if (g_get_monotonic_time() > deadline) {
        die("%s: input still running after %lld s", s->fd->name,
            (long long)(INPUT_DEADLINE_US / G_USEC_PER_SEC));
    }
}

/* Send one chunk (with its fds) while serving the daemon. */
static void send_chunk(struct session *s, uint8_t ctl, const uint8_t *data,
                       size_t len, gint64 deadline)
{
    enum fd_kind kind = (enum fd_kind)CTL_KIND(ctl);
    unsigned nr_fds = 0;
    int fds[80];
    size_t off = 0;

    if (ctl & CTL_BARRIER) {
        while (!s->eof && !daemon_caught_up(s)) {
            pump(s, false, 1);
            check_deadline(s, deadline);
        }
    }
    if (kind != FD_NONE) {
        nr_fds = (ctl & CTL_MANY) ? 17 + 8 * (CTL_COUNT(ctl) - 1) : CTL_COUNT(ctl);
        for (unsigned i = 0; i < nr_fds; i++) {
            fds[i] = make_fd(kind);
        }
    }
    while (off < len && !s->eof) {
        ssize_t n = 0;

        if (flush_answers(s)) {
            n = send_some(s, data + off, len - off, off == 0 ? fds : NULL,
                          off == 0 ? nr_fds : 0);
        }
        if (n < 0) {
            break;
        }
        off += (size_t)n;
        if (off < len) {
            pump(s, true, 1);
            check_deadline(s, deadline);
        }
    }
    /* The daemon has its own copies now (or never will). */
    for (unsigned i = 0; i < nr_fds; i++) {
        close(fds[i]);
    }
    read_some(s);
}

/* No client may leave anything behind in the device. */
static void check_device_clean(vfud_dev *dev)
{
    unsigned windows = dma_window_count(dev);

    if (windows != 0) {
        die("%s: %u DMA windows left after the client", dev->name, windows);
    }
    g_mutex_lock(&dev->irq.lock);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        for (unsigned i = 0; i < dev->irq.count[t]; i++) {
            if (dev->irq.vec[t][i].efd >= 0) {
                die("%s: IRQ %u vector %u keeps an eventfd after the client",
                    dev->name, t, i);
            }
        }
    }
    if (dev->irq.intx_unmask_fd >= 0) {
        die("%s: the INTx unmask fd outlived the client", dev->name);
    }
    g_mutex_unlock(&dev->irq.lock);
}

static void run_session(struct fuzz_device *fd, const uint8_t *data, size_t size)
{
    gint64 deadline = g_get_monotonic_time() + INPUT_DEADLINE_US;
    struct session s = { .fd = fd };
    bool gone = false;
    int n;

    g_mutex_init(&s.barrier.lock);
    g_cond_init(&s.barrier.cond);
    s.in = g_byte_array_new();
    s.out = g_byte_array_new();
    s.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.sock < 0 || connect(s.sock, (struct sockaddr *)&fd->addr, fd->addr_len) < 0) {
        die("%s: connect: %s", fd->name, strerror(errno));
    }
    util_set_nonblock(s.sock, true);

    while (size > 0 && !s.eof) {
        uint8_t ctl = 0;
        size_t len = size;

        if (size >= 3) {
            ctl = data[0];
            len = MIN((size_t)(data[1] | data[2] << 8), size - 3);
            data += 3;
            size -= 3;
        }
        send_chunk(&s, ctl, data, len, deadline);
        data += len;
        size -= len;
    }
    /* Let the daemon serve everything, answering its DMA meanwhile. */
    while (!s.eof && !daemon_caught_up(&s)) {
        pump(&s, false, 1);
        check_deadline(&s, deadline);
    }
    /* Hang up and read until the daemon closes its end. */
    shutdown(s.sock, SHUT_WR);
    while (!s.eof) {
        pump(&s, false, 10);
        check_deadline(&s, deadline);
    }
    close(s.sock);

    /* Wait until the device thread has let the client go, then reset. */
    while (!gone) {
        g_mutex_lock(&fd->dev->conn_lock);
        gone = fd->dev->conn == NULL;
        g_mutex_unlock(&fd->dev->conn_lock);
        if (!gone) {
            g_usleep(100);
            check_deadline(&s, deadline);
        }
    }
    barrier_post(&s.barrier, fd->dev, true);
    barrier_wait_all(&s.barrier, fd->name);
    check_device_clean(fd->dev);

    n = count_fds();
    if (fd_baseline < 0) {
        fd_baseline = n;
    } else if (n != fd_baseline) {
        char cmd[64];

        snprintf(cmd, sizeof(cmd), "ls -l /proc/%d/fd >&2", (int)getpid());
        if (system(cmd) < 0) {
            /* the listing is only a hint */
        }
        die("%s: %d fds open after the input, %d before", fd->name, n, fd_baseline);
    }
    g_byte_array_unref(s.in);
    g_byte_array_unref(s.out);
    g_mutex_clear(&s.barrier.lock);
    g_cond_clear(&s.barrier.cond);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;

    if (!ready) {
        fuzz_init();
        ready = true;
    }
    if (size < 1) {
        return 0;
    }
    run_session(&devices[data[0] % G_N_ELEMENTS(devices)], data + 1, size - 1);
    return 0;
}
