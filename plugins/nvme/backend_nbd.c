/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NBD back-end (libnbd): the namespace is an export of an NBD server named
 * by an NBD URI (nbd://host:port/export, nbd+unix:///export?socket=PATH).
 *
 * Connections: the first is made in realize() (the server must be there
 * and tells the size and what it can do); when the server allows
 * multi-conn, start() opens the others (namespace.N.connections, by
 * default 1 over a UNIX socket and 4 over TCP: NBD_DEFAULT_CONNS_*) and
 * commands go round-robin over them.  Without multi-conn there is
 * one connection, because only then does a flush on one connection cover
 * writes done on another.
 *
 * Event loop: everything runs on the controller's I/O thread through its
 * io_uring, so the loop itself (ctrl.c) knows nothing of NBD.  libnbd
 * says which way each socket wants to go; the back-end keeps a one-shot
 * IORING_OP_POLL_ADD armed per direction and tells libnbd when it fires
 * (nbd_aio_notify_read/write).  Reconnection timers are IORING_OP_TIMEOUTs.
 * Those ring entries carry NVME_UD_NBD in the low bits of their user_data
 * and reach nvme_nbd_event() from nvme_uring_process(); they are not
 * back-end operations (backend_inflight counts NBD commands, so draining
 * the controller waits for them as for io_uring reads and writes).
 *
 * libnbd's completion callbacks only note the result and queue the
 * operation; the queue is reaped after each call into libnbd, where it is
 * safe to post completions and issue more commands.
 *
 * Server gone: when a connection dies (EOF, reset, a failed send), its
 * commands come back from libnbd with an error; they are queued, not
 * failed, and re-issued on another connection or, once the server is back,
 * on a new one.  Reconnection is tried after 50 ms, then with a doubling
 * back-off up to 2 s.  Reads, writes, zeroing and flushes are idempotent,
 * so re-issuing a command the old server may already have executed loses
 * nothing.  If no connection has been up for namespace.N.reconnect-timeout
 * seconds (default 10, below the 30 s after which Linux gives up on a
 * command and resets the controller), the waiting commands and every new
 * one fail with Namespace Not Ready until the server returns.
 *
 * Commands: Read/Write become NBD_CMD_READ/WRITE, one per request
 * (libnbd takes one buffer, not a vector: guest memory in pieces goes
 * through a bounce buffer, kept for reuse); replies are read as many as
 * the socket holds per wake-up; FUA becomes NBD_CMD_FLAG_FUA, or a flush once written if the server
 * cannot FUA; Flush becomes NBD_CMD_FLUSH; Write Zeroes becomes
 * NBD_CMD_WRITE_ZEROES with NO_HOLE unless DEAC is set; Deallocate
 * becomes NBD_CMD_WRITE_ZEROES that may punch holes (so the server trims),
 * not NBD_CMD_TRIM: the namespace tells the host that deallocated blocks
 * read as zeroes (DLFEAT), which a trim does not promise.  A server that
 * cannot zero gets writes of zeroes instead.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libnbd.h>

#include "nvme_int.h"
#include "op_pool.h"

#define NBD_MAX_CONNS      16
/* Connections with multi-conn, unless namespace.N.connections says: over
 * a UNIX socket the server shares this host's CPUs, and each connection
 * more costs wake-ups on both sides; in the lab guest (nbdkit's file
 * plugin, fio QD32 against QEMU's NVMe on its one-connection nbd driver)
 * one connection made 1.21x / 1.10x / 1.01x QEMU's IOPS in randread /
 * randwrite / 128 KiB seqread, four 0.85x / 0.86x / 1.08x.  Over TCP the
 * server is usually on another host, where several connections carry
 * commands in parallel. */
#define NBD_DEFAULT_CONNS_LOCAL  1
#define NBD_DEFAULT_CONNS_REMOTE 4
#define NBD_BACKOFF_MIN_MS 50
#define NBD_BACKOFF_MAX_MS 2000
#define NBD_ZERO_MAX       (32u << 20) /* bytes per zeroing command */
#define NBD_ZERO_BUF       (1u << 20)  /* bytes per write of zeroes */
#define NBD_READ_BATCH     64          /* replies read per wake-up, at most */
#define NBD_BOUNCE_KEEP    64          /* bounce buffers kept for reuse */

enum nbd_ev_kind { EV_IN, EV_OUT, EV_TIMER };

/* What a ring entry of ours stands for (its address is the user_data). */
struct nbd_ev {
    enum nbd_ev_kind kind;
    bool armed;
    struct nbd_conn *conn;
    struct nvme_nbd *nb;
};

enum nbd_op_kind { OPK_READ, OPK_WRITE, OPK_FLUSH, OPK_ZERO, OPK_ZERO_WRITE };

struct nbd_op {
    struct nvme_req *req;
    struct nbd_conn *conn;  /* where it was issued; NULL while queued */
    enum nbd_op_kind kind;
    uint32_t flags;         /* LIBNBD_CMD_FLAG_* */
    bool flush_after;       /* FUA the server cannot do: flush once written */
    void *buf;
    void *bounce;           /* buf when the guest's buffer is in pieces */
    bool bounce_pooled;     /* bounce is NVME_MAX_XFER long, from the pool */
    uint64_t off, len;
    int err;                /* from libnbd's callback (positive errno) */
    struct nbd_op *next;    /* waiting or done list */
};

struct nbd_conn {
    struct nvme_nbd *nb;
    unsigned idx;
    struct nbd_handle *h;   /* NULL: not connected */
    bool ready;             /* commands may be issued */
    bool was_up;            /* has been ready once (for the log) */
    unsigned inflight;
    struct nbd_ev ev_in, ev_out;
};

struct nvme_nbd {
    struct nvme_ctrl *c;
    struct nvme_ns *ns;
    unsigned nconns;
    unsigned next_conn;     /* round robin */
    struct nbd_conn conn[NBD_MAX_CONNS];
    uint64_t server_size;
    bool can_fua, can_flush, can_zero, multi_conn;
    /* operations */
    struct nvme_op_pool ops;
    void *bounce_free;      /* bounce buffers kept, linked by first bytes */
    unsigned bounce_nfree;
    struct nbd_op *done_head, *done_tail; /* finished in libnbd, to reap */
    struct nbd_op *wait_head, *wait_tail; /* waiting for a connection */
    bool reaping;
    /* reconnection */
    uint64_t down_since;    /* ms since no connection was up; 0: up */
    bool failing;           /* down longer than the timeout */
    unsigned backoff_ms;
    struct nbd_ev ev_timer;
    struct __kernel_timespec ts;
};

static _Alignas(4096) const uint8_t nbd_zeroes[NBD_ZERO_BUF];

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_update(struct nbd_conn *conn);
static void op_submit(struct nvme_nbd *nb, struct nbd_op *op);
static void reap(struct nvme_nbd *nb);

/* ---- ring entries ---- */

static void ev_submit_poll(struct nvme_ctrl *c, struct nbd_ev *ev, int fd,
                           unsigned mask)
{
    struct io_uring_sqe *sqe = nvme_uring_get_sqe(c);

    if (!sqe) {
        return; /* cannot happen: get_sqe flushes a full ring */
    }
    io_uring_prep_poll_add(sqe, fd, mask);
    io_uring_sqe_set_data(sqe, (void *)((uintptr_t)ev | NVME_UD_NBD));
    ev->armed = true;
}

static void ev_cancel(struct nvme_ctrl *c, struct nbd_ev *ev)
{
    struct io_uring_sqe *sqe;

    if (!ev->armed || !c->ring_ok) {
        return;
    }
    sqe = nvme_uring_get_sqe(c);
    if (!sqe) {
        return;
    }
    io_uring_prep_poll_remove(sqe, (uint64_t)((uintptr_t)ev | NVME_UD_NBD));
    /* the removal's own completion: nothing to do */
    io_uring_sqe_set_data(sqe, (void *)(uintptr_t)NVME_UD_NBD);
}

static void timer_arm(struct nvme_nbd *nb, unsigned ms)
{
    struct nvme_ctrl *c = nb->c;
    struct io_uring_sqe *sqe;

    if (nb->ev_timer.armed || !c->ring_ok) {
        return;
    }
    sqe = nvme_uring_get_sqe(c);
    if (!sqe) {
        return;
    }
    nb->ts.tv_sec = ms / 1000;
    nb->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
    io_uring_prep_timeout(sqe, &nb->ts, 0, 0);
    io_uring_sqe_set_data(sqe, (void *)((uintptr_t)&nb->ev_timer | NVME_UD_NBD));
    nb->ev_timer.armed = true;
}

/* ---- operations ---- */

static struct nbd_op *op_new(struct nvme_nbd *nb, struct nvme_req *req,
                             enum nbd_op_kind kind, uint64_t off, uint64_t len)
{
    struct nbd_op *op = nvme_op_get(&nb->ops, sizeof(*op));

    if (!op) {
        return NULL;
    }
    op->req = req;
    op->kind = kind;
    op->bounce = NULL;
    op->off = off;
    op->len = len;
    req->pending++;
    nb->c->backend_inflight++;
    return op;
}

/* Bounce buffers of NVME_MAX_XFER bytes (every request fits one), kept
 * when done: a malloc() of 128 KiB per request came back as fresh pages
 * (glibc trims the I/O thread's heap, or maps a request that large), so
 * every 128 KiB read also took page faults as the socket was read into it
 * (1.7 per I/O at QD32).  Up to NBD_BOUNCE_KEEP are kept, as many as two
 * queues of Linux's depth have out; more in flight than that are
 * allocated and freed. */
static void *bounce_get(struct nvme_nbd *nb)
{
    void *b = nb->bounce_free;

    if (!b) {
        return malloc(NVME_MAX_XFER);
    }
    memcpy(&nb->bounce_free, b, sizeof(nb->bounce_free));
    nb->bounce_nfree--;
    return b;
}

static void bounce_put(struct nvme_nbd *nb, void *b)
{
    if (nb->bounce_nfree >= NBD_BOUNCE_KEEP) {
        free(b);
        return;
    }
    memcpy(b, &nb->bounce_free, sizeof(nb->bounce_free));
    nb->bounce_free = b;
    nb->bounce_nfree++;
}

static void bounce_clear(struct nvme_nbd *nb)
{
    while (nb->bounce_free) {
        void *b = nb->bounce_free;

        memcpy(&nb->bounce_free, b, sizeof(nb->bounce_free));
        free(b);
    }
    nb->bounce_nfree = 0;
}

/* A read that went through a bounce buffer: into the guest's pieces. */
static void scatter(struct nvme_req *req, const uint8_t *from)
{
    for (unsigned i = 0; i < req->niov; i++) {
        memcpy(req->iov[i].iov_base, from, req->iov[i].iov_len);
        from += req->iov[i].iov_len;
    }
}

static void op_complete(struct nvme_nbd *nb, struct nbd_op *op, int res)
{
    struct nvme_req *req = op->req;

    if (res == 0 && op->flush_after) {
        op->flush_after = false;
        op->kind = OPK_FLUSH;
        op->flags = 0;
        op_submit(nb, op);
        return;
    }
    if (op->bounce) {
        if (res == 0 && op->kind == OPK_READ) {
            scatter(req, op->bounce);
        }
        if (op->bounce_pooled) {
            bounce_put(nb, op->bounce);
        } else {
            free(op->bounce);
        }
        op->bounce = NULL;
    }
    nvme_op_put(&nb->ops, op);
    nb->c->backend_inflight--;
    nvme_io_backend_done(nb->c, req, res);
}

static void wait_push(struct nvme_nbd *nb, struct nbd_op *op)
{
    op->next = NULL;
    op->conn = NULL;
    if (nb->wait_tail) {
        nb->wait_tail->next = op;
    } else {
        nb->wait_head = op;
    }
    nb->wait_tail = op;
}

static int op_callback(void *opaque, int *error)
{
    struct nbd_op *op = opaque;
    struct nvme_nbd *nb = op->conn->nb;

    op->err = *error;
    op->next = NULL;
    if (nb->done_tail) {
        nb->done_tail->next = op;
    } else {
        nb->done_head = op;
    }
    nb->done_tail = op;
    /* Retire the command, unless the connection is dying: then libnbd
     * may be inside nbd_aio_* issuing it, and (1.14) reads the command
     * after this callback; it frees it with the handle instead. */
    return *error == ENOTCONN ? 0 : 1;
}

static struct nbd_conn *pick_conn(struct nvme_nbd *nb)
{
    for (unsigned i = 0; i < nb->nconns; i++) {
        struct nbd_conn *conn = &nb->conn[(nb->next_conn + i) % nb->nconns];

        if (conn->ready) {
            nb->next_conn = (conn->idx + 1) % nb->nconns;
            return conn;
        }
    }
    return NULL;
}

static int64_t op_issue(struct nbd_conn *conn, struct nbd_op *op)
{
    nbd_completion_callback cb = { .callback = op_callback, .user_data = op };
    struct nbd_handle *h = conn->h;

    switch (op->kind) {
    case OPK_READ:
        return nbd_aio_pread(h, op->buf, op->len, op->off, cb, 0);
    case OPK_WRITE:
    case OPK_ZERO_WRITE:
        return nbd_aio_pwrite(h, op->buf, op->len, op->off, cb, op->flags);
    case OPK_FLUSH:
        return nbd_aio_flush(h, cb, 0);
    case OPK_ZERO:
        return nbd_aio_zero(h, op->len, op->off, cb, op->flags);
    }
    return -1;
}

static void op_submit(struct nvme_nbd *nb, struct nbd_op *op)
{
    struct nbd_conn *conn;

    if (nb->failing) {
        op_complete(nb, op, -ENOTCONN);
        return;
    }
    conn = pick_conn(nb);
    if (!conn) {
        wait_push(nb, op); /* until a connection is (re)established */
        return;
    }
    op->conn = conn;
    op->err = 0;
    if (op_issue(conn, op) < 0) {
        int err = nbd_get_errno();

        op->conn = NULL;
        if (nbd_aio_is_dead(conn->h) || nbd_aio_is_closed(conn->h)) {
            conn_update(conn);
            wait_push(nb, op);
            return;
        }
        vfud_log(nb->c->dev, LOG_ERR, "nvme: namespace %u: NBD: %s",
                 nb->ns->nsid, nbd_get_error());
        op_complete(nb, op, err > 0 ? -err : -EIO);
        return;
    }
    conn->inflight++;
    conn_update(conn);
}

/* Operations waiting for a connection go out when one is up. */
static void dispatch_waiting(struct nvme_nbd *nb)
{
    while (nb->wait_head && (nb->failing || pick_conn(nb))) {
        struct nbd_op *op = nb->wait_head;

        nb->wait_head = op->next;
        if (!nb->wait_head) {
            nb->wait_tail = NULL;
        }
        op_submit(nb, op);
    }
}

static void reap(struct nvme_nbd *nb)
{
    if (nb->reaping) {
        return; /* op_complete -> op_submit -> conn_update: the outer loop */
    }
    nb->reaping = true;
again:
    while (nb->done_head) {
        struct nbd_op *op = nb->done_head;
        struct nbd_conn *conn = op->conn;

        nb->done_head = op->next;
        if (!nb->done_head) {
            nb->done_tail = NULL;
        }
        conn->inflight--;
        if (op->err && !conn->ready) {
            /* the connection died under it: again, elsewhere or later */
            wait_push(nb, op);
            continue;
        }
        op->conn = NULL;
        op_complete(nb, op, op->err ? -op->err : 0);
    }
    dispatch_waiting(nb);
    if (nb->done_head) {
        goto again; /* re-issued on a connection that died too */
    }
    nb->reaping = false;
}

/* ---- connections ---- */

static bool any_ready(const struct nvme_nbd *nb)
{
    for (unsigned i = 0; i < nb->nconns; i++) {
        if (nb->conn[i].ready) {
            return true;
        }
    }
    return false;
}

static struct nbd_handle *handle_new(struct nvme_nbd *nb)
{
    struct nbd_handle *h = nbd_create();

    if (!h) {
        return NULL;
    }
    /* Reads land in guest memory; libnbd need not clear it first. */
    (void)nbd_set_pread_initialize(h, false);
    (void)nbd_set_handle_name(h, "vfiouserd-nvme");
    /* Credentials for nbds URIs (which make TLS required); the URI's own
     * tls-* parameters are refused by libnbd, and nvme_nbd_open refuses
     * them with the reason. */
    if ((nb->ns->tls_psk_file &&
         nbd_set_tls_psk_file(h, nb->ns->tls_psk_file) < 0) ||
        (nb->ns->tls_certs &&
         nbd_set_tls_certificates(h, nb->ns->tls_certs) < 0)) {
        nbd_close(h);
        return NULL;
    }
    return h;
}

static void conn_lost(struct nbd_conn *conn)
{
    struct nvme_nbd *nb = conn->nb;
    struct nvme_ctrl *c = nb->c;

    if (conn->ready) {
        vfud_log(c->dev, LOG_WARNING, "nvme: namespace %u: NBD connection %u "
                 "to %s lost (%s); %u commands will be re-issued",
                 nb->ns->nsid, conn->idx, nb->ns->uri,
                 nbd_get_error() ? nbd_get_error() : "closed by the server",
                 conn->inflight);
    }
    conn->ready = false;
    ev_cancel(c, &conn->ev_in);
    ev_cancel(c, &conn->ev_out);
    /* Its commands have all been handed back (libnbd fails them with
     * ENOTCONN as the handle dies): they sit in the done list. */
    nbd_close(conn->h);
    conn->h = NULL;
    if (!any_ready(nb) && !nb->down_since) {
        nb->down_since = mono_ms();
        nb->backoff_ms = NBD_BACKOFF_MIN_MS;
    }
    timer_arm(nb, nb->backoff_ms);
}

static void conn_now_ready(struct nbd_conn *conn)
{
    struct nvme_nbd *nb = conn->nb;
    int64_t size = nbd_get_size(conn->h);

    if (size < 0 || (uint64_t)size < nb->ns->size_bytes) {
        vfud_log(nb->c->dev, LOG_ERR, "nvme: namespace %u: the NBD export "
                 "at %s came back with %lld bytes, the namespace has %llu: "
                 "not using it", nb->ns->nsid, nb->ns->uri, (long long)size,
                 (unsigned long long)nb->ns->size_bytes);
        nbd_close(conn->h);
        conn->h = NULL;
        return;
    }
    conn->ready = true;
    if (conn->was_up) {
        vfud_log(nb->c->dev, LOG_NOTICE, "nvme: namespace %u: NBD connection "
                 "%u to %s re-established", nb->ns->nsid, conn->idx,
                 nb->ns->uri);
    }
    conn->was_up = true;
    if (nb->failing) {
        vfud_log(nb->c->dev, LOG_NOTICE, "nvme: namespace %u: NBD server "
                 "back: I/O resumes", nb->ns->nsid);
    }
    nb->failing = false;
    nb->down_since = 0;
    nb->backoff_ms = NBD_BACKOFF_MIN_MS;
}

/* After every call into libnbd on this connection: notice death or
 * readiness, and keep a poll armed for each direction libnbd waits on. */
static void conn_update(struct nbd_conn *conn)
{
    struct nvme_ctrl *c = conn->nb->c;
    unsigned dir;
    int fd;

    if (!conn->h) {
        return;
    }
    if (nbd_aio_is_dead(conn->h) || nbd_aio_is_closed(conn->h)) {
        conn_lost(conn);
        return;
    }
    if (!conn->ready && nbd_aio_is_ready(conn->h)) {
        conn_now_ready(conn);
        if (!conn->h) {
            return;
        }
    }
    fd = nbd_aio_get_fd(conn->h);
    if (fd < 0 || !c->ring_ok) {
        return;
    }
    dir = nbd_aio_get_direction(conn->h);
    /* Ready connections always listen: a server going away shows as EOF
     * even while no command is in flight. */
    if (!conn->ev_in.armed && (conn->ready || (dir & LIBNBD_AIO_DIRECTION_READ))) {
        ev_submit_poll(c, &conn->ev_in, fd, POLLIN);
    }
    if (!conn->ev_out.armed && (dir & LIBNBD_AIO_DIRECTION_WRITE)) {
        ev_submit_poll(c, &conn->ev_out, fd, POLLOUT);
    }
}

/* Start an asynchronous connection (the I/O thread must not block). */
static void conn_start(struct nbd_conn *conn)
{
    struct nvme_nbd *nb = conn->nb;

    conn->h = handle_new(nb);
    if (!conn->h) {
        return;
    }
    if (nbd_aio_connect_uri(conn->h, nb->ns->uri) < 0 && !nbd_aio_is_dead(conn->h)) {
        nbd_close(conn->h);
        conn->h = NULL;
        return;
    }
    if (nbd_aio_is_dead(conn->h)) {
        nbd_close(conn->h); /* refused: the server is not back yet */
        conn->h = NULL;
        return;
    }
    conn_update(conn);
}

static void on_timer(struct nvme_nbd *nb)
{
    bool down = false;

    nb->ev_timer.armed = false;
    for (unsigned i = 0; i < nb->nconns; i++) {
        struct nbd_conn *conn = &nb->conn[i];

        /* a slot is reused once the polls of its old socket are gone */
        if (!conn->h && !conn->ev_in.armed && !conn->ev_out.armed) {
            conn_start(conn);
        }
        down |= !conn->ready;
    }
    if (nb->down_since && !nb->failing && !any_ready(nb) &&
        mono_ms() - nb->down_since >= (uint64_t)nb->ns->nbd_timeout_s * 1000u) {
        vfud_log(nb->c->dev, LOG_ERR, "nvme: namespace %u: NBD server %s "
                 "unreachable for %u s: I/O fails (Namespace Not Ready) "
                 "until it is back", nb->ns->nsid, nb->ns->uri,
                 nb->ns->nbd_timeout_s);
        nb->failing = true;
    }
    dispatch_waiting(nb);
    if (down) {
        if (nb->backoff_ms < NBD_BACKOFF_MAX_MS) {
            nb->backoff_ms *= 2;
        }
        timer_arm(nb, nb->backoff_ms);
    }
}

/* Every reply the socket holds, not one: libnbd's state machine stops in
 * READY after each reply (and after part of one), so one notify_read()
 * reads one reply.  A wake-up per reply was a pass of the I/O thread per
 * completion, each raising its own interrupt: 128 KiB sequential reads at
 * QD32 on one connection took 0.48 interrupts per I/O against QEMU's 0.12.
 * Only while there is something to read: libnbd 1.14 told to read with
 * nothing there waits in REPLY.START and issues no command until the
 * server sends something, which it never does if none is in flight (and a
 * synchronous call, nvme_nbd_flush_sync, may have read what made the poll
 * fire).  Bounded, so that the queues are served meanwhile. */
static void read_replies(struct nbd_conn *conn)
{
    struct pollfd p = { .fd = nbd_aio_get_fd(conn->h), .events = POLLIN };

    for (unsigned i = 0; i < NBD_READ_BATCH; i++) {
        if (i > 0 && nbd_aio_in_flight(conn->h) <= 0) {
            break;
        }
        if (poll(&p, 1, 0) <= 0 || nbd_aio_notify_read(conn->h) < 0 ||
            nbd_aio_is_dead(conn->h) || nbd_aio_is_closed(conn->h)) {
            break;
        }
    }
}

void nvme_nbd_event(struct nvme_ctrl *c, void *tag, int res)
{
    struct nbd_ev *ev = tag;
    struct nbd_conn *conn;

    (void)c;
    (void)res;
    if (!ev) {
        return; /* a poll removal completing */
    }
    ev->armed = false;
    if (ev->kind == EV_TIMER) {
        on_timer(ev->nb);
        return;
    }
    conn = ev->conn;
    if (!conn->h || res == -ECANCELED) {
        return; /* the socket of a connection that is gone */
    }
    if (ev->kind == EV_IN) {
        read_replies(conn);
    } else {
        (void)nbd_aio_notify_write(conn->h);
    }
    conn_update(conn);
    reap(conn->nb);
}

/* ---- commands (I/O thread) ---- */

/* One NBD command for the whole request.  A guest buffer is rarely
 * contiguous in our mapping (a 128 KiB read of fio's was up to 32 pieces):
 * one command per piece cost the server and both sides a round trip each
 * (seqread 128 KiB at 0.51x QEMU's NBD client, which sends one); a copy
 * through a bounce buffer costs less than one of those. */
int nvme_nbd_rw(struct nvme_ctrl *c, struct nvme_req *req)
{
    struct nvme_nbd *nb = req->ns->nbd;
    uint64_t len = 0;
    bool pieces = false;
    struct nbd_op *op;

    for (unsigned i = 0; i < req->niov; i++) {
        pieces |= i > 0 && (uint8_t *)req->iov[i - 1].iov_base +
                           req->iov[i - 1].iov_len != req->iov[i].iov_base;
        len += req->iov[i].iov_len;
    }
    op = op_new(nb, req, req->is_write ? OPK_WRITE : OPK_READ, req->offset, len);
    if (!op) {
        return -ENOMEM;
    }
    op->buf = req->niov ? req->iov[0].iov_base : NULL;
    if (pieces) {
        /* (a request is MDTS long at most; the pool's size is that) */
        bool pooled = len <= NVME_MAX_XFER;
        uint8_t *b = pooled ? bounce_get(nb) : malloc(len);

        if (!b) {
            op_complete(nb, op, -ENOMEM);
            return 0;
        }
        if (req->is_write) {
            for (unsigned i = 0, at = 0; i < req->niov; at += req->iov[i].iov_len, i++) {
                memcpy(b + at, req->iov[i].iov_base, req->iov[i].iov_len);
            }
        }
        op->buf = op->bounce = b;
        op->bounce_pooled = pooled;
    }
    if (req->is_write && req->fua) {
        if (nb->can_fua) {
            op->flags = LIBNBD_CMD_FLAG_FUA;
        } else {
            op->flush_after = nb->can_flush;
        }
    }
    op_submit(nb, op);
    reap(nb);
    return 0;
}

int nvme_nbd_flush(struct nvme_ctrl *c, struct nvme_req *req,
                   struct nvme_ns *ns)
{
    struct nvme_nbd *nb = ns->nbd;
    struct nbd_op *op;

    (void)c;
    if (!nb->can_flush) {
        return 0; /* the server writes through */
    }
    op = op_new(nb, req, OPK_FLUSH, 0, 0);
    if (!op) {
        return -ENOMEM;
    }
    op_submit(nb, op);
    reap(nb);
    return 0;
}

int nvme_nbd_zero(struct nvme_ctrl *c, struct nvme_req *req, uint64_t off,
                  uint64_t len, bool may_trim)
{
    struct nvme_nbd *nb = req->ns->nbd;
    bool fua = req->fua;
    int r = 0;

    (void)c;
    while (len && r == 0) {
        uint64_t max = nb->can_zero ? NBD_ZERO_MAX : NBD_ZERO_BUF;
        uint64_t l = len < max ? len : max;
        struct nbd_op *op;

        op = op_new(nb, req, nb->can_zero ? OPK_ZERO : OPK_ZERO_WRITE, off, l);
        if (!op) {
            r = -ENOMEM;
            break;
        }
        if (nb->can_zero && !may_trim) {
            op->flags = LIBNBD_CMD_FLAG_NO_HOLE;
        }
        op->buf = (void *)nbd_zeroes;
        if (fua) {
            if (nb->can_fua) {
                op->flags |= LIBNBD_CMD_FLAG_FUA;
            } else {
                op->flush_after = nb->can_flush;
            }
        }
        op_submit(nb, op);
        off += l;
        len -= l;
    }
    reap(nb);
    return r;
}

/* ---- synchronous paths (quiesce, shutdown, destroy; format) ---- */

static struct nbd_handle *any_handle(struct nvme_nbd *nb)
{
    for (unsigned i = 0; i < nb->nconns; i++) {
        if (nb->conn[i].ready) {
            return nb->conn[i].h;
        }
    }
    return NULL;
}

/* NBD_CMD_FLUSH on h, waited for at most timeout_s: a server that hangs
 * with its socket open would hold a stopping controller (and the daemon's
 * shutdown, a migration's stop) for ever in nbd_flush(). */
static int flush_bounded(struct nbd_handle *h, unsigned timeout_s)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_s * 1000u;
    int64_t cookie = nbd_aio_flush(h, NBD_NULL_COMPLETION, 0);

    if (cookie < 0) {
        return -(nbd_get_errno() ? nbd_get_errno() : EIO);
    }
    for (;;) {
        int done = nbd_aio_command_completed(h, cookie);
        uint64_t now = mono_ms();

        if (done == 1) {
            return 0;
        }
        if (done < 0) {
            return -(nbd_get_errno() ? nbd_get_errno() : EIO);
        }
        if (now >= deadline) {
            return -ETIMEDOUT;
        }
        if (nbd_poll(h, (int)(deadline - now)) < 0) {
            return -(nbd_get_errno() ? nbd_get_errno() : EIO);
        }
    }
}

int nvme_nbd_flush_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    struct nvme_nbd *nb = ns->nbd;
    int r = -ENOTCONN;

    if (!nb || !nb->can_flush) {
        return 0;
    }
    /* One connection that flushes is enough (multi-conn, or only one);
     * one whose server went away unnoticed fails at once: the next. */
    for (unsigned i = 0; i < nb->nconns && r < 0; i++) {
        if (!nb->conn[i].ready) {
            continue;
        }
        r = flush_bounded(nb->conn[i].h, ns->nbd_timeout_s ? ns->nbd_timeout_s : 1);
        if (r < 0) {
            vfud_log(c->dev, LOG_WARNING, "nvme: namespace %u: flush on NBD "
                     "connection %u failed: %s", ns->nsid, i,
                     r == -ETIMEDOUT ? "no answer within reconnect-timeout"
                                     : nbd_get_error());
        }
    }
    if (r < 0) {
        vfud_log(c->dev, LOG_ERR, "nvme: namespace %u: cannot flush the NBD "
                 "export %s", ns->nsid, ns->uri);
    }
    /* (other commands' replies read meanwhile are in the done list) */
    for (unsigned i = 0; i < nb->nconns; i++) {
        conn_update(&nb->conn[i]);
    }
    if (c->ring_ok) {
        reap(nb);
    }
    return r;
}

int nvme_nbd_erase_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    struct nvme_nbd *nb = ns->nbd;
    struct nbd_handle *h = any_handle(nb);
    uint64_t off = 0;

    if (!h) {
        return -ENOTCONN;
    }
    while (off < ns->size_bytes) {
        uint64_t max = nb->can_zero ? NBD_ZERO_MAX : NBD_ZERO_BUF;
        uint64_t l = ns->size_bytes - off < max ? ns->size_bytes - off : max;
        int r = nb->can_zero ? nbd_zero(h, l, off, 0)
                             : nbd_pwrite(h, nbd_zeroes, l, off, 0);

        if (r < 0) {
            vfud_log(c->dev, LOG_ERR, "nvme: namespace %u: erase failed: %s",
                     ns->nsid, nbd_get_error());
            return -EIO;
        }
        off += l;
    }
    return 0;
}

/* ---- set-up (device thread, before the I/O thread runs) ---- */

static int conn_connect_sync(struct nvme_ctrl *c, struct nvme_ns *ns,
                             struct nbd_conn *conn)
{
    conn->h = handle_new(ns->nbd);
    if (!conn->h) {
        vfud_error(c->dev, "namespace %u: %s", ns->nsid, nbd_get_error());
        return -ENOMEM;
    }
    if (nbd_connect_uri(conn->h, ns->uri) < 0) {
        int e = nbd_get_errno();
        const char *err = nbd_get_error();
        /* GnuTLS says only that the verification failed: say what the
         * operator can check (libnbd verifies over TCP, by host name) */
        bool cert = ns->tls_certs && err && strstr(err, "certificate verification");

        vfud_error(c->dev, "namespace %u: NBD %s: %s%s%s%s", ns->nsid, ns->uri,
                   err, cert ? " (the server's certificate is not signed by "
                               "a CA of " : "",
                   cert ? ns->tls_certs : "",
                   cert ? "/ca-cert.pem, or not issued for the URI's host)" : "");
        nbd_close(conn->h);
        conn->h = NULL;
        return e > 0 ? -e : -EIO;
    }
    conn->ready = true;
    conn->was_up = true;
    return 0;
}

/* Is the server on this host: a URI of scheme nbd+unix or nbds+unix? */
static bool uri_is_local(const char *uri)
{
    return strncmp(uri, "nbd+unix:", 9) == 0 || strncmp(uri, "nbds+unix:", 10) == 0;
}

/* TLS is asked for by the URI's scheme (nbds://, nbds+unix://: libnbd
 * then requires it) and its credentials are named by keys of their own,
 * not by the URI's tls-psk-file and tls-certificates parameters: the
 * daemon's sandbox opens only what the configuration names (a key whose
 * value is a path), and libnbd refuses local files named in a URI. */
static int tls_check(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    bool tls = strncmp(ns->uri, "nbds:", 5) == 0 ||
               strncmp(ns->uri, "nbds+", 5) == 0;

    if (strstr(ns->uri, "tls-psk-file=") || strstr(ns->uri, "tls-certificates=")) {
        vfud_error(c->dev, "namespace %u: uri: name TLS files with "
                   "namespace.%u.tls-psk-file or tls-certificates, not in "
                   "the URI", ns->nsid, ns->nsid);
        return -EINVAL;
    }
    if ((ns->tls_psk_file || ns->tls_certs) && !tls) {
        vfud_error(c->dev, "namespace %u: %s needs an nbds:// or "
                   "nbds+unix:// uri (TLS)", ns->nsid,
                   ns->tls_psk_file ? "tls-psk-file" : "tls-certificates");
        return -EINVAL;
    }
    if (ns->tls_psk_file && ns->tls_certs) {
        vfud_error(c->dev, "namespace %u: tls-psk-file and tls-certificates "
                   "are exclusive", ns->nsid);
        return -EINVAL;
    }
    return 0;
}

int nvme_nbd_open(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    struct nvme_nbd *nb;
    struct nbd_handle *h;
    int64_t size, minblk;
    int r;

    if (ns->path) {
        vfud_error(c->dev, "namespace %u: path and uri are exclusive",
                   ns->nsid);
        return -EINVAL;
    }
    nb = calloc(1, sizeof(*nb));
    if (!nb) {
        return -ENOMEM;
    }
    nb->c = c;
    nb->ns = ns;
    nb->nconns = 1;
    nb->backoff_ms = NBD_BACKOFF_MIN_MS;
    nb->ev_timer.kind = EV_TIMER;
    nb->ev_timer.nb = nb;
    for (unsigned i = 0; i < NBD_MAX_CONNS; i++) {
        struct nbd_conn *conn = &nb->conn[i];

        conn->nb = nb;
        conn->idx = i;
        conn->ev_in = (struct nbd_ev){ .kind = EV_IN, .conn = conn, .nb = nb };
        conn->ev_out = (struct nbd_ev){ .kind = EV_OUT, .conn = conn, .nb = nb };
    }
    ns->nbd = nb;
    r = tls_check(c, ns);
    if (r < 0) {
        return r;
    }
    r = conn_connect_sync(c, ns, &nb->conn[0]);
    if (r < 0) {
        return r;
    }
    h = nb->conn[0].h;
    size = nbd_get_size(h);
    if (size <= 0) {
        vfud_error(c->dev, "namespace %u: NBD %s: no size: %s", ns->nsid,
                   ns->uri, nbd_get_error());
        return -EIO;
    }
    nb->server_size = (uint64_t)size;
    if (ns->cfg_size > nb->server_size) {
        vfud_error(c->dev, "namespace %u: size is larger than the NBD "
                   "export (%lld bytes)", ns->nsid, (long long)size);
        return -EINVAL;
    }
    ns->size_bytes = ns->cfg_size ? ns->cfg_size : nb->server_size;
    minblk = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
    if (minblk > (int64_t)ns->cfg_block_size) {
        vfud_error(c->dev, "namespace %u: the NBD export needs blocks of "
                   "%lld bytes at least: set block-size=4096", ns->nsid,
                   (long long)minblk);
        return -EINVAL;
    }
    if (nbd_is_read_only(h) == 1 && !ns->read_only) {
        vfud_log(c->dev, LOG_NOTICE, "nvme: namespace %u: the NBD export is "
                 "read-only: so is the namespace", ns->nsid);
        ns->read_only = true;
    }
    nb->can_flush = nbd_can_flush(h) == 1;
    nb->can_fua = nbd_can_fua(h) == 1;
    nb->can_zero = nbd_can_zero(h) == 1;
    nb->multi_conn = nbd_can_multi_conn(h) == 1;
    if (nb->multi_conn) {
        nb->nconns = ns->nbd_conns ? ns->nbd_conns
                     : uri_is_local(ns->uri) ? NBD_DEFAULT_CONNS_LOCAL
                                             : NBD_DEFAULT_CONNS_REMOTE;
    } else if (ns->nbd_conns > 1) {
        vfud_log(c->dev, LOG_NOTICE, "nvme: namespace %u: the NBD server "
                 "does not allow multi-conn: one connection", ns->nsid);
    }
    ns->dio_align = 1;
    vfud_log(c->dev, LOG_INFO, "nvme: namespace %u: NBD %s: %llu bytes, "
             "%u connection(s), flush %s, FUA %s, zero %s", ns->nsid, ns->uri,
             (unsigned long long)nb->server_size, nb->nconns,
             nb->can_flush ? "yes" : "no", nb->can_fua ? "yes" : "no",
             nb->can_zero ? "yes" : "no");
    return 0;
}

int nvme_nbd_prepare(struct nvme_ctrl *c, struct nvme_ns *ns)
{
    struct nvme_nbd *nb = ns->nbd;

    for (unsigned i = 1; i < nb->nconns; i++) {
        int r;

        if (nb->conn[i].h) {
            continue;
        }
        r = conn_connect_sync(c, ns, &nb->conn[i]);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

void nvme_nbd_close(struct nvme_ns *ns)
{
    struct nvme_nbd *nb = ns->nbd;

    if (!nb) {
        return;
    }
    for (unsigned i = 0; i < NBD_MAX_CONNS; i++) {
        struct nbd_conn *conn = &nb->conn[i];

        if (conn->h) {
            if (conn->ready) {
                (void)nbd_shutdown(conn->h, 0);
            }
            nbd_close(conn->h);
        }
    }
    nvme_op_pool_clear(&nb->ops);
    bounce_clear(nb);
    free(nb);
    ns->nbd = NULL;
}
