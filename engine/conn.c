/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transport: framing, fds, send queue, server->client requests.
 *
 * Reading.  We read as much as the socket holds (one recvmsg can carry
 * several pipelined messages) and dispatch every complete message.  The
 * kernel hands over the fds of a sendmsg() together with its first bytes and
 * ends a read right after such a chunk, so the fds of one read belong to the
 * last message that *starts* inside that read; we note that message's stream
 * offset and give the fds to it when it is dispatched.  That holds for
 * clients that send each message with fds in a sendmsg() of its own, as the
 * protocol has them do (QEMU, libvfio-user); a client that bundles several
 * messages into one sendmsg() with fds gets its fds refused, with a hint.
 *
 * Framing errors.  A header with msg_size < 16 cannot be resynchronised: the
 * client is dropped.  A message larger than we accept gets an error reply
 * and its bytes are drained without being buffered, so the stream stays in
 * step.
 *
 * Writing.  Replies are queued and flushed once per batch of input, so a
 * pipelining client gets its replies in one write.  A reply that carries fds
 * starts a new send chunk, because the fds must travel with its first byte.
 */
#include "config.h"

#include "conn.h"
#include "conn_uring.h"
#include "device.h"
#include "dispatch.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF_INITIAL (64u << 10)
#define OBUF_KEEP (256u << 10)
/* Replies staged without send_lock stop at this much: past it they go
 * to the send queue under the lock.  Unbounded, a client that does not
 * read held the high-water mark twice over, once staged and once in the
 * queue the stage was committed to (test_hostile_slow). */
#define STAGE_MAX (64u << 10)
#define READS_PER_DISPATCH 32
/* A pump (a handler waiting for a reply) keeps reading while commands pile
 * up behind the message being served; past this much it stops, so a client
 * cannot make us buffer without bound. */
#define PUMP_BUFFER_MAX (4 * CONN_MAX_MSG)

struct fd_batch {
    uint64_t offset; /* stream offset of the message they came with */
    unsigned n;
    bool truncated;
    bool shared_read; /* other messages started in the same read */
    int fds[];
};

/* fds to send with the message that starts at pos in the output buffer. */
struct fd_mark {
    size_t pos;
    int fds[2];
    unsigned n;
};

struct conn_waiter {
    uint16_t id;
    bool done;
    int result;
    void *buf;
    size_t cap;
    size_t len;
};

struct conn_chan {
    struct conn *c;
    int fd;
    bool is_twin;
    GSource *src;
    gpointer tag;
    GIOCondition cond;

    uint8_t *rbuf;
    size_t rcap, rhead, rtail;
    uint64_t rbase;      /* stream offset of rbuf[0] */
    uint64_t drain_left; /* bytes of a refused message still to discard */
    GSList *retired;     /* buffers left by a pump, freed after the handler */
    bool pump_full;      /* told the log that a pump stopped reading */
    GQueue fd_batches;
    GQueue skip;      /* stream offsets of replies a pump already took */
    bool replies_only; /* pumping: leave commands in the buffer */
    bool backlog;      /* complete commands wait in the buffer */
    unsigned ra_skip;  /* batches to go before reading ahead again */
    unsigned ra_misses; /* read-aheads in a row that found nothing */
    gint64 flush_ns;     /* how long the last batch's flush took, 0: sent nothing */
    gint64 flush_min_ns; /* the quickest flush of the last window */
    gint64 flush_low_ns; /* the quickest so far in this window */
    unsigned flush_n;    /* flushes timed in this window */

    /* Replies without fds that the device thread queued without taking
     * send_lock (one lock pair per message less).  Only the device thread
     * touches it; it moves to obuf under the lock before that thread
     * queues or sends anything else, so the order on the wire is the
     * order of queuing (stage_commit_locked). */
    GByteArray *stage;

    GMutex send_lock;
    GByteArray *obuf;    /* messages queued to send, in order */
    size_t osent;        /* bytes of obuf already sent */
    size_t out_bytes;    /* obuf->len - osent; written under send_lock
                          * with atomic stores, so that the device thread
                          * may peek at it without the lock (out_pending) */
    GQueue fd_marks;     /* struct fd_mark *, by position */
    gint want_out;       /* another thread queued bytes it could not send */
    gint64 stall_since;  /* bytes waiting, no progress since; 0: none */

    /* The merged turn (conn_uring.c), main channel only. */
    bool uring_busy;     /* under send_lock: the turn sends the head of
                          * obuf; others queue behind it, no one sends */
    uint8_t *usend;      /* the copy it sends */
    size_t usend_cap;
    int uring_rx;        /* input the turn received for chan_read: */
    int uring_rx_err;    /* URING_RX_*, and the error of URING_RX_ERR */
};

enum { URING_RX_NONE, URING_RX_SOME, URING_RX_FULL, URING_RX_EOF, URING_RX_ERR };
/* A turn sends at most this much; more goes the poll way. */
#define URING_SEND_MAX (64u << 10)

struct chan_source {
    GSource base;
    struct conn_chan *ch;
};

static void chan_free(struct conn_chan *ch);
static void chan_flush(struct conn_chan *ch);

/* ------------------------------------------------------------------------
 * Messages
 */
void *msg_reply_alloc(struct msg *m, size_t n)
{
    size_t old = m->reply->len;

    g_byte_array_set_size(m->reply, (guint)(old + n));
    memset(m->reply->data + old, 0, n);
    return m->reply->data + old;
}

int msg_take_fd(struct msg *m, unsigned i)
{
    int fd;

    if (i >= m->nr_fds) {
        return -1;
    }
    fd = m->fds[i];
    m->fds[i] = -1;
    return fd;
}

/* ------------------------------------------------------------------------
 * Sending
 */
static void fd_mark_free(struct fd_mark *fm)
{
    for (unsigned i = 0; i < fm->n; i++) {
        util_close(&fm->fds[i]);
    }
    g_free(fm);
}

/* Move the replies the device thread staged to the send queue.  Caller
 * holds send_lock; a no-op on any other thread. */
static void stage_commit_locked(struct conn_chan *ch)
{
    GByteArray *st = ch->stage;

    if (st->len == 0 || !device_on_own_thread(ch->c->dev)) {
        return;
    }
    g_byte_array_append(ch->obuf, st->data, st->len);
    __atomic_store_n(&ch->out_bytes, ch->out_bytes + st->len, __ATOMIC_RELAXED);
    g_byte_array_set_size(st, 0); /* at most STAGE_MAX: kept */
}

/* Queue one message.  Takes ownership of fds.  Caller holds send_lock.
 * The output buffer is reused from batch to batch: queuing allocates
 * nothing once it has grown to the usual size. */
static void chan_queue_locked(struct conn_chan *ch,
                              const struct vfio_user_header *hdr,
                              const void *p1, size_t l1, const void *p2,
                              size_t l2, const int *fds, unsigned nr_fds)
{
    stage_commit_locked(ch);
    if (nr_fds > 0) {
        struct fd_mark *fm = g_new0(struct fd_mark, 1);

        fm->pos = ch->obuf->len;
        for (unsigned i = 0; i < nr_fds && i < G_N_ELEMENTS(fm->fds); i++) {
            fm->fds[fm->n++] = fds[i];
        }
        g_queue_push_tail(&ch->fd_marks, fm);
    }
    /* One resize for the whole message: this runs for every reply. */
    {
        size_t at = ch->obuf->len;
        uint8_t *d;

        g_byte_array_set_size(ch->obuf, (guint)(at + sizeof(*hdr) + l1 + l2));
        d = ch->obuf->data + at;
        memcpy(d, hdr, sizeof(*hdr));
        if (l1 > 0) {
            memcpy(d + sizeof(*hdr), p1, l1);
        }
        if (l2 > 0) {
            memcpy(d + sizeof(*hdr) + l1, p2, l2);
        }
    }
    __atomic_store_n(&ch->out_bytes, ch->out_bytes + sizeof(*hdr) + l1 + l2,
                     __ATOMIC_RELAXED);
}

/* Send what the socket takes without blocking, in pieces that each start
 * with the message their fds belong to.  Caller holds send_lock.
 * Returns 0, or -errno on a fatal socket error. */
static int chan_flush_locked(struct conn_chan *ch)
{
    bool progress = false;

    stage_commit_locked(ch);
    if (ch->uring_busy) {
        /* The device thread's turn is sending the head of obuf: what was
         * queued since goes after it, sent by that thread when its turn
         * is accounted (conn_uring_sent). */
        return 0;
    }
    while (ch->osent < ch->obuf->len) {
        struct fd_mark *fm = g_queue_peek_head(&ch->fd_marks);
        size_t end = ch->obuf->len;
        bool with_fds = fm != NULL && fm->pos == ch->osent;
        struct iovec iov;
        union {
            char buf[CMSG_SPACE(sizeof(int) * 2)];
            struct cmsghdr align;
        } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (with_fds) {
            struct fd_mark *next = g_queue_peek_nth(&ch->fd_marks, 1);
            struct cmsghdr *cm;

            if (next != NULL) {
                end = next->pos;
            }
            memset(&u, 0, sizeof(u));
            mh.msg_control = u.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * fm->n);
            cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * fm->n);
            memcpy(CMSG_DATA(cm), fm->fds, sizeof(int) * fm->n);
        } else if (fm != NULL) {
            end = fm->pos;
        }
        iov.iov_base = ch->obuf->data + ch->osent;
        iov.iov_len = end - ch->osent;
        n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            return -errno;
        }
        if (with_fds) {
            /* The fds went with the first byte: they are the peer's now. */
            g_queue_pop_head(&ch->fd_marks);
            fd_mark_free(fm);
        }
        ch->osent += (size_t)n;
        __atomic_store_n(&ch->out_bytes, ch->out_bytes - (size_t)n,
                         __ATOMIC_RELAXED);
        ch->c->bytes_out += (guint64)n;
        progress = true;
    }
    if (ch->out_bytes == 0) {
        ch->osent = 0;
        ch->stall_since = 0;
        if (ch->obuf->len > OBUF_KEEP) {
            /* Do not keep a buffer grown for one large reply. */
            g_byte_array_unref(ch->obuf);
            ch->obuf = g_byte_array_sized_new(OBUF_KEEP);
        } else {
            g_byte_array_set_size(ch->obuf, 0);
        }
    } else if (progress || ch->stall_since == 0) {
        /* Only time spent without any progress counts as a stall. */
        ch->stall_since = g_get_monotonic_time();
    }
    return 0;
}

static void chan_flush(struct conn_chan *ch)
{
    int r;

    g_mutex_lock(&ch->send_lock);
    r = chan_flush_locked(ch);
    g_mutex_unlock(&ch->send_lock);
    if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
        dev_warn(ch->c->dev, "send failed: %s", g_strerror(-r));
    }
    /* A broken pipe shows up as EOF/HUP on the read side as well; the
     * device thread tears down there. */
}

static void send_reply(struct conn *c, const struct msg *m, int err)
{
    struct vfio_user_header hdr = {
        .msg_id = m->hdr.msg_id,
        .cmd = m->hdr.cmd,
        .flags = VFIO_USER_F_TYPE_REPLY,
    };
    size_t len = err == 0 ? m->reply->len : 0;
    struct conn_chan *ch = c->main;

    if (err != 0) {
        hdr.flags |= VFIO_USER_F_ERROR;
        hdr.error_no = (uint32_t)-err;
    }
    hdr.msg_size = (uint32_t)(sizeof(hdr) + len);
    c->msgs_out++;
    if ((err != 0 || m->nr_reply_fds == 0) && device_on_own_thread(c->dev) &&
        ch->stage->len + hdr.msg_size <= STAGE_MAX) {
        /* The usual case: staged, sent with the batch's flush. */
        size_t at = ch->stage->len;

        g_byte_array_set_size(ch->stage, (guint)(at + sizeof(hdr) + len));
        memcpy(ch->stage->data + at, &hdr, sizeof(hdr));
        if (len > 0) {
            memcpy(ch->stage->data + at + sizeof(hdr), m->reply->data, len);
        }
        return;
    }
    g_mutex_lock(&ch->send_lock);
    chan_queue_locked(ch, &hdr, m->reply->data, len, NULL, 0,
                      err == 0 ? m->reply_fds : NULL,
                      err == 0 ? m->nr_reply_fds : 0);
    g_mutex_unlock(&ch->send_lock);
}

/* ------------------------------------------------------------------------
 * Receiving
 */
static void fd_batch_free(struct fd_batch *b)
{
    for (unsigned i = 0; i < b->n; i++) {
        util_close(&b->fds[i]);
    }
    g_free(b);
}

/* Stream offset of the last message starting in [from, to), or UINT64_MAX.
 * Walks message boundaries from the first undispatched byte. */
static uint64_t last_start_in(const struct conn_chan *ch, uint64_t from,
                              uint64_t to, unsigned *starts)
{
    uint64_t s = ch->rbase + ch->rhead + ch->drain_left;
    uint64_t last = UINT64_MAX;

    *starts = 0;
    while (s < to) {
        struct vfio_user_header hdr;

        if (s >= from) {
            last = s;
            (*starts)++;
        }
        if (s + sizeof(hdr) > to) {
            break;
        }
        memcpy(&hdr, ch->rbuf + (s - ch->rbase), sizeof(hdr));
        if (hdr.msg_size < sizeof(hdr)) {
            break; /* framing error; reported at dispatch */
        }
        s += hdr.msg_size;
    }
    return last;
}

static void collect_fds(struct conn_chan *ch, struct msghdr *mh,
                        uint64_t from, uint64_t to)
{
    struct fd_batch *b = NULL;
    bool truncated = (mh->msg_flags & MSG_CTRUNC) != 0;
    unsigned starts;
    uint64_t at;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
         cm = CMSG_NXTHDR(mh, cm)) {
        unsigned n;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        if (b == NULL) {
            b = g_malloc0(sizeof(*b) + sizeof(int) * CONN_RECV_FDS);
        }
        for (unsigned i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (b->n < CONN_RECV_FDS) {
                b->fds[b->n++] = fd;
            } else {
                close(fd);
                truncated = true;
            }
        }
    }
    if (b == NULL && !truncated) {
        return;
    }
    if (b == NULL) {
        b = g_malloc0(sizeof(*b));
    }
    b->truncated = truncated;
    at = last_start_in(ch, from, to, &starts);
    b->shared_read = starts > 1;
    if (at == UINT64_MAX) {
        dev_warn(ch->c->dev, "%u fd(s) arrived without a message; closed", b->n);
        ch->c->errors++;
        fd_batch_free(b);
        return;
    }
    b->offset = at;
    g_queue_push_tail(&ch->fd_batches, b);
}

/* The fds that came with the message at stream offset `at` (or NULL);
 * batches for earlier offsets are stale and closed. */
static struct fd_batch *take_fds(struct conn_chan *ch, uint64_t at)
{
    struct fd_batch *b;

    while ((b = g_queue_peek_head(&ch->fd_batches)) != NULL && b->offset < at) {
        g_queue_pop_head(&ch->fd_batches);
        fd_batch_free(b);
    }
    if (b != NULL && b->offset == at) {
        return g_queue_pop_head(&ch->fd_batches);
    }
    return NULL;
}

static void chan_reserve(struct conn_chan *ch, size_t need)
{
    /* Move undispatched bytes to the front, then grow if still short. */
    if (ch->rhead > 0) {
        memmove(ch->rbuf, ch->rbuf + ch->rhead, ch->rtail - ch->rhead);
        ch->rbase += ch->rhead;
        ch->rtail -= ch->rhead;
        ch->rhead = 0;
    }
    if (ch->rcap < need) {
        ch->rcap = need;
        ch->rbuf = g_realloc(ch->rbuf, ch->rcap);
    }
}

/* Pumping from inside a handler, out of room: the message being served
 * lives in rbuf, so the buffer may neither move nor be reallocated.  Carry
 * on in a new, larger one and keep the old one until the handler returns.
 * Returns false if the buffer is at its limit. */
static bool chan_regrow_pinned(struct conn_chan *ch)
{
    size_t keep = ch->rtail - ch->rhead;
    size_t cap = MAX(ch->rcap * 2, keep + RBUF_INITIAL);
    uint8_t *nb;

    if (keep >= PUMP_BUFFER_MAX) {
        return false;
    }
    cap = MIN(cap, (size_t)PUMP_BUFFER_MAX);
    nb = g_malloc(cap);
    memcpy(nb, ch->rbuf + ch->rhead, keep);
    ch->retired = g_slist_prepend(ch->retired, ch->rbuf);
    ch->rbuf = nb;
    ch->rcap = cap;
    ch->rbase += ch->rhead;
    ch->rtail = keep;
    ch->rhead = 0;
    return true;
}

/* Runs after every dispatched message: return at once in the usual case,
 * where no pump outgrew the buffer. */
static void chan_free_retired(struct conn_chan *ch)
{
    if (ch->retired == NULL && !ch->pump_full) {
        return;
    }
    g_slist_free_full(ch->retired, g_free);
    ch->retired = NULL;
    ch->pump_full = false;
}

static void handle_reply(struct conn *c, const struct vfio_user_header *hdr,
                         const uint8_t *payload, size_t len)
{
    bool found = false;

    g_mutex_lock(&c->req_lock);
    for (GList *l = c->waiters; l != NULL; l = l->next) {
        struct conn_waiter *w = l->data;

        if (w->id != hdr->msg_id || w->done) {
            continue;
        }
        if (hdr->flags & VFIO_USER_F_ERROR) {
            /* As LVU does: 0 or nonsense becomes EINVAL. */
            w->result = hdr->error_no == 0 || hdr->error_no > 4096
                            ? -EINVAL
                            : -(int)hdr->error_no;
        } else {
            w->len = len;
            memcpy(w->buf, payload, MIN(len, w->cap));
        }
        w->done = true;
        found = true;
        break;
    }
    if (found) {
        g_cond_broadcast(&c->req_cond);
    }
    g_mutex_unlock(&c->req_lock);
    if (!found) {
        dev_warn(c->dev, "unexpected reply id %#x (%s); ignored", hdr->msg_id,
                 vfio_user_command_name(hdr->cmd));
        c->errors++;
    }
}

static void close_unused_fds(struct msg *m)
{
    for (unsigned i = 0; i < m->nr_fds; i++) {
        if (m->fds[i] >= 0) {
            dev_debug(NULL, "closing unexpected fd");
            util_close(&m->fds[i]);
        }
    }
}

/* One complete message at rbuf + rhead. */
static void chan_dispatch_one(struct conn_chan *ch,
                              const struct vfio_user_header *hdr)
{
    struct conn *c = ch->c;
    vfud_dev *dev = c->dev;
    struct fd_batch *fb = take_fds(ch, ch->rbase + ch->rhead);
    unsigned type = hdr->flags & VFIO_USER_F_TYPE_MASK;
    struct msg m = {
        .hdr = *hdr,
        .payload = ch->rbuf + ch->rhead + sizeof(*hdr),
        .len = hdr->msg_size - sizeof(*hdr),
        .fds = fb != NULL ? fb->fds : NULL,
        .nr_fds = fb != NULL ? fb->n : 0,
        .fds_shared_read = fb != NULL && fb->shared_read,
        .reply_fds = { -1, -1 },
    };
    int r;

    c->msgs_in++;
    if (type == VFIO_USER_F_TYPE_REPLY) {
        handle_reply(c, hdr, m.payload, m.len);
        goto out;
    }
    if (ch->is_twin || type != VFIO_USER_F_TYPE_COMMAND) {
        dev_warn(dev, "%s: message type %u on the %s socket; refused",
                 vfio_user_command_name(hdr->cmd), type,
                 ch->is_twin ? "twin" : "main");
        r = -EINVAL;
    } else if (fb != NULL && fb->truncated) {
        dev_warn(dev, "%s: too many fds with the message; refused",
                 vfio_user_command_name(hdr->cmd));
        r = -EINVAL;
    } else {
        g_byte_array_set_size(c->scratch, 0);
        m.reply = c->scratch;
        dev->in_dispatch = true;
        r = dispatch_command(c, &m);
        dev->in_dispatch = false;
    }
    if (r < 0) {
        c->errors++;
    }
    if (ch->is_twin) {
        /* Commands are refused here, and there is no reply path for them:
         * the twin socket carries only our requests and their replies. */
    } else if (!(hdr->flags & VFIO_USER_F_NO_REPLY)) {
        if (r != 0) {
            g_byte_array_set_size(c->scratch, 0);
        }
        m.reply = c->scratch;
        send_reply(c, &m, r);
        if (r == 0) {
            /* The send queue owns the reply's fds now. */
            m.reply_fds[0] = m.reply_fds[1] = -1;
        }
    } else if (r < 0) {
        dev_debug(dev, "%s (no reply wanted) failed: %s",
                  vfio_user_command_name(hdr->cmd), g_strerror(-r));
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(m.reply_fds); i++) {
        util_close(&m.reply_fds[i]);
    }
out:
    close_unused_fds(&m);
    if (fb != NULL) {
        g_free(fb); /* its fds were consumed or closed above */
    }
}

/* Unsent bytes, without send_lock.  The answer can be stale by the time
 * it is used, as it could be with the lock held only around the read: the
 * callers only decide whether to serve more requests or to try a read now,
 * and the source's prepare() (under the lock) has the last word.  It is
 * asked once per message and once per read: with the lock, the device
 * thread took 2.6 mutex lock/unlock pairs per message under make bench
 * (one CPU, x8), 1.4 without (perf uprobe on g_mutex_lock). */
static size_t out_pending(struct conn_chan *ch)
{
    return __atomic_load_n(&ch->out_bytes, __ATOMIC_RELAXED);
}

/* More unsent bytes for the client than we let wait?  Staged replies
 * count: one read can hold thousands of requests. */
static bool over_high_water(struct conn *c)
{
    size_t staged = device_on_own_thread(c->dev) ? c->main->stage->len : 0;

    return out_pending(c->main) + staged > CONN_SEND_HIGH_WATER;
}

/* Pumping: deliver the complete replies found after rhead, remember their
 * offsets so chan_process skips them, and leave commands where they are. */
static void pump_scan(struct conn_chan *ch)
{
    size_t pos = ch->rhead;
    uint64_t last_skip = 0;

    if (!g_queue_is_empty(&ch->skip)) {
        last_skip = *(uint64_t *)g_queue_peek_tail(&ch->skip);
    }
    while (ch->rtail - pos >= sizeof(struct vfio_user_header)) {
        struct vfio_user_header hdr;
        uint64_t at = ch->rbase + pos;

        memcpy(&hdr, ch->rbuf + pos, sizeof(hdr));
        if (hdr.msg_size < sizeof(hdr) || hdr.msg_size > CONN_MAX_MSG ||
            ch->rtail - pos < hdr.msg_size) {
            break; /* framing problems are for chan_process to report */
        }
        if ((hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY &&
            (g_queue_is_empty(&ch->skip) || at > last_skip)) {
            uint64_t *o = g_new(uint64_t, 1);

            handle_reply(ch->c, &hdr, ch->rbuf + pos + sizeof(hdr),
                         hdr.msg_size - sizeof(hdr));
            *o = at;
            g_queue_push_tail(&ch->skip, o);
            last_skip = at;
        } else if ((hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY) {
            ch->backlog = true;
        }
        pos += hdr.msg_size;
    }
}

/* Dispatch every complete message.  Returns false if the connection must
 * be dropped (framing error). */
static bool chan_process(struct conn_chan *ch)
{
    struct conn *c = ch->c;

    while (!c->closing) {
        size_t avail = ch->rtail - ch->rhead;
        struct vfio_user_header hdr;

        if (ch->drain_left > 0) {
            size_t n = (size_t)MIN((uint64_t)avail, ch->drain_left);

            ch->rhead += n;
            ch->drain_left -= n;
            if (ch->drain_left > 0) {
                break;
            }
            continue;
        }
        if (avail < sizeof(hdr)) {
            break;
        }
        memcpy(&hdr, ch->rbuf + ch->rhead, sizeof(hdr));
        if (hdr.msg_size < sizeof(hdr)) {
            dev_warn(c->dev, "message id %#x claims size %u (< 16): cannot "
                     "resynchronise, dropping the client",
                     hdr.msg_id, hdr.msg_size);
            return false;
        }
        if (hdr.msg_size > CONN_MAX_MSG) {
            struct fd_batch *fb = take_fds(ch, ch->rbase + ch->rhead);

            dev_warn(c->dev, "%s id %#x: message of %u bytes exceeds %zu; "
                     "refused and skipped",
                     vfio_user_command_name(hdr.cmd), hdr.msg_id, hdr.msg_size,
                     (size_t)CONN_MAX_MSG);
            c->errors++;
            if (fb != NULL) {
                fd_batch_free(fb);
            }
            if ((hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_COMMAND &&
                !(hdr.flags & VFIO_USER_F_NO_REPLY) && !ch->is_twin) {
                struct msg m = { .hdr = hdr, .reply_fds = { -1, -1 } };
                GByteArray *empty = g_byte_array_new();

                m.reply = empty;
                send_reply(c, &m, -E2BIG);
                g_byte_array_unref(empty);
            }
            ch->drain_left = hdr.msg_size;
            continue;
        }
        if (avail < hdr.msg_size) {
            if (ch->rcap - ch->rhead < hdr.msg_size && !ch->replies_only) {
                chan_reserve(ch, hdr.msg_size);
            }
            break;
        }
        if (!g_queue_is_empty(&ch->skip) &&
            *(uint64_t *)g_queue_peek_head(&ch->skip) == ch->rbase + ch->rhead) {
            g_free(g_queue_pop_head(&ch->skip)); /* a pump delivered it */
            ch->rhead += hdr.msg_size;
            continue;
        }
        if (ch->replies_only) {
            pump_scan(ch);
            return true;
        }
        if (over_high_water(c)) {
            /* The client is not reading its replies: serve nothing more
             * until it does (the source resumes us then). */
            ch->backlog = true;
            return true;
        }
        chan_dispatch_one(ch, &hdr);
        ch->rhead += hdr.msg_size;
        chan_free_retired(ch);
    }
    ch->backlog = false;
    if (ch->rhead == ch->rtail) {
        ch->rbase += ch->rhead;
        ch->rhead = ch->rtail = 0;
        /* Give back a buffer grown for one large message. */
        if (ch->rcap > RBUF_INITIAL * 4) {
            ch->rcap = RBUF_INITIAL;
            ch->rbuf = g_realloc(ch->rbuf, ch->rcap);
        }
    }
    return true;
}

/* Do the bytes read so far end where a message ends?  Walks the headers
 * from the first unserved message (or the rest of one being skipped). */
static bool read_ends_at_boundary(const struct conn_chan *ch)
{
    uint64_t pos = ch->rhead;

    if (ch->drain_left > 0) {
        pos += ch->drain_left;
    }
    while (pos + sizeof(struct vfio_user_header) <= ch->rtail) {
        struct vfio_user_header hdr;

        memcpy(&hdr, ch->rbuf + pos, sizeof(hdr));
        if (hdr.msg_size < sizeof(hdr)) {
            return false;
        }
        pos += hdr.msg_size;
    }
    return pos == ch->rtail;
}

/* n bytes (and mh's fds) were received at rtail: count them in. */
static void chan_took(struct conn_chan *ch, struct msghdr *mh, size_t n)
{
    uint64_t from = ch->rbase + ch->rtail;

    ch->rtail += n;
    ch->c->bytes_in += (guint64)n;
    {
        volatile uint32_t *b = ch->is_twin ? ch->c->twin_rx_boundary : ch->c->rx_boundary;

        if (b != NULL) {
            *b = read_ends_at_boundary(ch) ? 1 : 0;
        }
    }
    if (mh->msg_controllen > 0 || (mh->msg_flags & MSG_CTRUNC)) {
        collect_fds(ch, mh, from, ch->rbase + ch->rtail);
    }
}

/* Read what is there and dispatch it.  Returns false when the connection
 * ended (EOF, error, framing). */
static bool chan_read(struct conn_chan *ch)
{
    char *cbuf = ch->c->cbuf;
    const size_t cbuf_len = CMSG_SPACE(sizeof(int) * CONN_RECV_FDS);

    if (ch->uring_rx != URING_RX_NONE) {
        /* A merged turn received already (conn_uring_received). */
        int rx = ch->uring_rx;

        ch->uring_rx = URING_RX_NONE;
        if (rx == URING_RX_EOF) {
            return false;
        }
        if (rx == URING_RX_ERR) {
            if (ch->uring_rx_err != -ECONNRESET) {
                dev_warn(ch->c->dev, "receive failed: %s", g_strerror(-ch->uring_rx_err));
            }
            return false;
        }
        if (!chan_process(ch)) {
            return false;
        }
        if (rx == URING_RX_SOME) {
            return true; /* it emptied the socket */
        }
    }
    for (int i = 0; i < READS_PER_DISPATCH && !ch->c->closing; i++) {
        if (!ch->replies_only && over_high_water(ch->c)) {
            /* Back-pressure: leave the rest in the socket.  A hang-up must
             * still be noticed, though: behind unread requests no EOF would
             * ever reach us, and nobody would read the replies. */
            struct pollfd p = { .fd = ch->fd, .events = POLLRDHUP };

            return !(poll(&p, 1, 0) == 1 &&
                     (p.revents & (POLLHUP | POLLERR | POLLRDHUP)));
        }
        struct iovec iov;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (ch->replies_only) {
            /* A reply may be larger than the room left (a DMA_READ of
             * CONN_MAX_XFER): grow, without moving what is being served. */
            if (ch->rcap - ch->rtail < 4096 && !chan_regrow_pinned(ch)) {
                if (ch->rcap == ch->rtail) {
                    if (ch->pump_full) {
                        return true;
                    }
                    ch->pump_full = true;
                    dev_warn(ch->c->dev, "%zu bytes of commands wait behind "
                             "the one being served; reading paused until "
                             "it completes", ch->rtail - ch->rhead);
                    return true;
                }
            }
        } else if (ch->rcap - ch->rtail < 4096) {
            chan_reserve(ch, MAX(ch->rcap, (size_t)RBUF_INITIAL));
            if (ch->rcap - ch->rtail < 4096) {
                chan_reserve(ch, ch->rcap * 2);
            }
        }
        iov.iov_base = ch->rbuf + ch->rtail;
        iov.iov_len = ch->rcap - ch->rtail;
        mh.msg_control = cbuf;
        mh.msg_controllen = cbuf_len;
        n = recvmsg(ch->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;
            }
            if (errno != ECONNRESET) {
                dev_warn(ch->c->dev, "receive failed: %s", g_strerror(errno));
            }
            return false;
        }
        chan_took(ch, &mh, (size_t)n);
        if (n == 0) {
            return false;
        }
        if (!chan_process(ch)) {
            return false;
        }
        if ((size_t)n < iov.iov_len) {
            return true; /* the socket is empty for now */
        }
    }
    return true;
}

/* After a batch is answered, the client has often sent its next requests
 * already: on one CPU it runs as soon as our reply wakes it, before we are
 * back in the main loop.  Reading them at once saves the wait the loop
 * would make first, one of the three system calls a request costs.  A read
 * that finds the socket empty costs a system call instead, and on one CPU
 * it also costs task switches: the longer our turns, the more often the
 * scheduler lets the client we woke preempt us, and a task switch costs
 * more than a system call (make bench in a VM: about 4 us against 1.3).
 *
 * So we read ahead only when the client has run since our reply: then
 * the send that woke it took its whole turn and two task switches longer
 * than a send that did not let it run (here 20 us against 2 us; the
 * quickest flush of the last FLUSH_WINDOW is the reference).  A client on
 * another CPU does not slow our send, and its requests come too late for
 * a read-ahead to pay.  Misses that remain (our send slowed by something
 * else) back off: after n in a row, 2^n - 1 chances are skipped, at most
 * READ_AHEAD_RETRY.  At most READ_AHEAD_MAX batches go by without the
 * main loop, so timers, deferred work and wake-ups from other threads
 * wait little. */
#define READ_AHEAD_MAX 16
#define READ_AHEAD_RETRY 16
#define FLUSH_WINDOW 256

static gint64 clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* chan_flush, timed for chan_client_ran when it sent something (an empty
 * flush is no reference).  Device thread. */
static void chan_flush_timed(struct conn_chan *ch)
{
    gint64 t0, d;

    if (out_pending(ch) == 0 && ch->stage->len == 0) {
        chan_flush(ch);
        ch->flush_ns = 0; /* nothing woke the client */
        return;
    }
    t0 = clock_ns();
    chan_flush(ch);
    d = clock_ns() - t0;
    ch->flush_ns = d;
    if (ch->flush_n == 0 || d < ch->flush_low_ns) {
        ch->flush_low_ns = d;
    }
    if (++ch->flush_n == FLUSH_WINDOW) {
        ch->flush_min_ns = ch->flush_low_ns;
        ch->flush_n = 0;
    }
}

/* Did the client get the CPU while the last flush woke it?  Twice the
 * quickest flush and a microsecond: above jitter, below two task switches
 * and a turn of the client even on bare metal.  Until a window is timed,
 * yes. */
static bool chan_client_ran(const struct conn_chan *ch)
{
    return ch->flush_ns > 2 * ch->flush_min_ns + 1000;
}

static bool chan_unsent(struct conn_chan *ch)
{
    return out_pending(ch) > 0 || ch->stage->len > 0;
}

static bool chan_read_ahead(struct conn_chan *ch)
{
    struct conn *c = ch->c;

    if (ch->is_twin || !chan_client_ran(ch)) {
        return true;
    }
    if (ch->ra_skip > 0) {
        ch->ra_skip--;
        return true;
    }
    for (int i = 0; i < READ_AHEAD_MAX; i++) {
        uint64_t before = c->bytes_in;
        bool ok;

        if (c->closing || c->hangup || ch->backlog || chan_unsent(ch)) {
            return true; /* the loop's source handles these */
        }
        if (i > 0 && !chan_client_ran(ch)) {
            return true; /* our last reply did not let it run */
        }
        ok = chan_read(ch);
        chan_flush_timed(c->main);
        if (c->twin != NULL) {
            chan_flush(c->twin);
        }
        if (!ok) {
            return false;
        }
        if (c->bytes_in == before) {
            ch->ra_skip = MIN((1u << MIN(ch->ra_misses, 5u)) - 1, READ_AHEAD_RETRY);
            ch->ra_misses++;
            return true;
        }
        ch->ra_misses = 0;
        if (!c->closing) {
            device_run_deferred(c->dev);
        }
    }
    return true;
}

/* ------------------------------------------------------------------------
 * The merged turn's side here (conn_uring.c runs it): the main channel's
 * replies and next requests.  Replies that carry fds, and the twin
 * channel, take the poll path.
 */
bool conn_uring_defers(const struct conn *c)
{
    /* A connection handed over by an upgrade lost its client's replies
     * on a merged turn in test_upgrade, before the hole chan_src_check
     * closes was found; not seen again since, in three runs.  Until more
     * runs show it gone, those keep the poll path; the device's next
     * client gets the turns. */
    return c->dev->uring != NULL && c->dev->conn == c && !c->closing && !c->adopted;
}

int conn_uring_fd(const struct conn *c)
{
    return c->main->fd;
}

bool conn_uring_flush(struct conn *c)
{
    if (!conn_uring_defers(c) || !chan_unsent(c->main)) {
        return false;
    }
    chan_flush(c->main);
    return out_pending(c->main) > 0;
}

bool conn_uring_begin(struct conn *c, struct conn_uring_io *io)
{
    struct conn_chan *ch = c->main;
    size_t len;

    if (!conn_uring_defers(c) || c->hangup || ch->backlog || ch->replies_only ||
        ch->uring_rx != URING_RX_NONE || over_high_water(c)) {
        return false;
    }
    g_mutex_lock(&ch->send_lock);
    stage_commit_locked(ch);
    len = ch->out_bytes;
    if (len > 0 && (!g_queue_is_empty(&ch->fd_marks) || len > URING_SEND_MAX ||
                    ch->stall_since != 0)) {
        g_mutex_unlock(&ch->send_lock);
        return false;
    }
    io->send = NULL;
    io->send_len = len;
    if (len > 0) {
        /* A copy: other threads may grow obuf while the kernel reads. */
        if (ch->usend_cap < len) {
            ch->usend_cap = MAX(len, (size_t)4096);
            ch->usend = g_realloc(ch->usend, ch->usend_cap);
        }
        memcpy(ch->usend, ch->obuf->data + ch->osent, len);
        io->send = ch->usend;
        ch->uring_busy = true;
    }
    g_mutex_unlock(&ch->send_lock);

    if (ch->rcap - ch->rtail < 4096) {
        chan_reserve(ch, MAX(ch->rcap, (size_t)RBUF_INITIAL));
        if (ch->rcap - ch->rtail < 4096) {
            chan_reserve(ch, ch->rcap * 2);
        }
    }
    io->riov = (struct iovec){ ch->rbuf + ch->rtail, ch->rcap - ch->rtail };
    io->rmh = (struct msghdr){
        .msg_iov = &io->riov,
        .msg_iovlen = 1,
        .msg_control = c->cbuf,
        .msg_controllen = CMSG_SPACE(sizeof(int) * CONN_RECV_FDS),
    };
    return true;
}

void conn_uring_sent(struct conn *c, int res)
{
    struct conn_chan *ch = c->main;
    int r;

    g_mutex_lock(&ch->send_lock);
    ch->uring_busy = false;
    if (res > 0) {
        ch->osent += (size_t)res;
        __atomic_store_n(&ch->out_bytes, ch->out_bytes - (size_t)res, __ATOMIC_RELAXED);
        c->bytes_out += (guint64)res;
    }
    /* The rest, and what other threads queued meanwhile; with nothing
     * left this resets the queue. */
    r = chan_flush_locked(ch);
    g_mutex_unlock(&ch->send_lock);
    if (res < 0 && res != -EAGAIN) {
        r = res;
    }
    if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
        dev_warn(c->dev, "send failed: %s", g_strerror(-r));
    }
}

void conn_uring_received(struct conn *c, struct conn_uring_io *io, int res)
{
    struct conn_chan *ch = c->main;

    if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
        return; /* nothing came */
    }
    if (res < 0) {
        ch->uring_rx = URING_RX_ERR;
        ch->uring_rx_err = res;
        return;
    }
    chan_took(ch, &io->rmh, (size_t)res);
    if (res == 0) {
        ch->uring_rx = URING_RX_EOF;
    } else {
        ch->uring_rx = (size_t)res == io->riov.iov_len ? URING_RX_FULL : URING_RX_SOME;
    }
}

/* ------------------------------------------------------------------------
 * GSource: watches the socket for input, and for output while bytes wait.
 */
static gboolean chan_src_prepare(GSource *s, gint *timeout)
{
    struct conn_chan *ch = ((struct chan_source *)s)->ch;
    GIOCondition want = G_IO_IN | G_IO_HUP | G_IO_ERR;
    bool pending;

    g_mutex_lock(&ch->send_lock);
    stage_commit_locked(ch); /* every batch flushes; this is a safety net */
    pending = ch->out_bytes > 0;
    if (pending && !ch->is_twin && ch->stall_since == 0 && conn_uring_defers(ch->c)) {
        /* The wait sends them (conn_uring.c), or flushes first when it
         * cannot, and asks for G_IO_OUT if the socket is full. */
        pending = false;
    }
    g_atomic_int_set(&ch->want_out, 0);
    if (pending) {
        gint64 left = ch->stall_since == 0
                          ? CONN_SEND_STALL_MS
                          : CONN_SEND_STALL_MS -
                                (g_get_monotonic_time() - ch->stall_since) / 1000;

        want |= G_IO_OUT;
        *timeout = (gint)MAX(left, 0);
        /* Back-pressure: a client that does not read its replies does not
         * get more requests served. */
        if (ch->out_bytes > CONN_SEND_HIGH_WATER) {
            want &= ~G_IO_IN;
        }
    } else {
        *timeout = -1;
    }
    g_mutex_unlock(&ch->send_lock);
    if (want != ch->cond) {
        g_source_modify_unix_fd(s, ch->tag, want);
        ch->cond = want;
    }
    /* Commands left in the buffer by a pump need no new input to run,
     * nor does input a merged turn received: see chan_src_check. */
    return (ch->backlog && (want & G_IO_IN)) || ch->uring_rx != URING_RX_NONE;
}

static gboolean chan_src_check(GSource *s)
{
    struct conn_chan *ch = ((struct chan_source *)s)->ch;

    /* uring_rx: a merged turn took input out of the socket, and GLib
     * throws a poll's results away when another thread changed the
     * context's fds meanwhile (poll_changed), revents and all.  Input
     * that waited on that would never run: the next turn's receive
     * waits behind it for a client that waits for its replies. */
    if (g_source_query_unix_fd(s, ch->tag) != 0 || ch->backlog ||
        ch->uring_rx != URING_RX_NONE) {
        return TRUE;
    }
    if (out_pending(ch) > 0 && ch->stall_since != 0 &&
        g_get_monotonic_time() - ch->stall_since >= CONN_SEND_STALL_MS * 1000) {
        return TRUE;
    }
    return FALSE;
}

static gboolean chan_src_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    struct conn_chan *ch = ((struct chan_source *)s)->ch;
    struct conn *c = ch->c;
    vfud_dev *dev = c->dev;
    GIOCondition rev = g_source_query_unix_fd(s, ch->tag);
    const char *why = NULL;
    bool ok = true;

    conn_ref(c);
    if (rev & G_IO_OUT) {
        chan_flush(ch);
    }
    if (ch->backlog && !(rev & (G_IO_IN | G_IO_HUP | G_IO_ERR))) {
        ok = chan_process(ch);
        if (!ok) {
            why = "framing error";
        }
        chan_flush(c->main);
        if (ok && !c->closing) {
            device_run_deferred(dev);
        }
    }
    if ((rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)) || ch->uring_rx != URING_RX_NONE) {
        /* Merged turns: the main channel's replies leave with the wait,
         * which also reads the next requests (no read-ahead). */
        bool turns = conn_uring_defers(c);

        ok = chan_read(ch);
        if (!ok) {
            why = "connection closed";
        }
        if (!turns || ch->is_twin) {
            chan_flush_timed(c->main);
        }
        if (c->twin != NULL) {
            chan_flush(c->twin);
        }
        if (ok && !c->closing) {
            device_run_deferred(dev);
        }
        if (ok && !c->closing && !c->hangup && !turns) {
            ok = chan_read_ahead(ch);
            if (!ok) {
                why = "connection closed";
            }
        }
    }
    if (ok && out_pending(ch) > 0 && ch->stall_since != 0 &&
        g_get_monotonic_time() - ch->stall_since >= CONN_SEND_STALL_MS * 1000) {
        dev_warn(dev, "client has not read its replies for %d s (%zu bytes "
                 "waiting); dropping it", CONN_SEND_STALL_MS / 1000, ch->out_bytes);
        ok = false;
        why = "client stopped reading";
    }
    if (ok && c->hangup) {
        ok = false;
        why = c->hangup_why != NULL ? c->hangup_why : "protocol error";
    }
    if (!ok && !c->closing && dev->conn == c) {
        device_client_gone(dev, why);
    }
    conn_unref(c);
    return ok ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static GSourceFuncs chan_source_funcs = {
    .prepare = chan_src_prepare,
    .check = chan_src_check,
    .dispatch = chan_src_dispatch,
};

static struct conn_chan *chan_new(struct conn *c, int fd, bool is_twin)
{
    struct conn_chan *ch = g_new0(struct conn_chan, 1);
    struct chan_source *cs;

    ch->c = c;
    ch->fd = fd;
    ch->is_twin = is_twin;
    ch->rcap = RBUF_INITIAL;
    ch->rbuf = g_malloc(ch->rcap);
    g_mutex_init(&ch->send_lock);
    ch->obuf = g_byte_array_sized_new(4096);
    ch->stage = g_byte_array_sized_new(4096);
    g_queue_init(&ch->fd_marks);
    g_queue_init(&ch->fd_batches);
    g_queue_init(&ch->skip);
    util_set_nonblock(fd, true);

    cs = (struct chan_source *)g_source_new(&chan_source_funcs, sizeof(*cs));
    cs->ch = ch;
    ch->src = &cs->base;
    ch->cond = G_IO_IN | G_IO_HUP | G_IO_ERR;
    ch->tag = g_source_add_unix_fd(ch->src, fd, ch->cond);
    g_source_set_name(ch->src, is_twin ? "vfio-user twin" : "vfio-user");
    /* GLib "blocks" a non-recursive source around its dispatch, which
     * costs a wake-up of the context (eventfd write and read) per batch.
     * Nothing iterates this context recursively, so skip that. */
    g_source_set_can_recurse(ch->src, TRUE);
    g_source_attach(ch->src, c->dev->ctx);
    return ch;
}

static void chan_free(struct conn_chan *ch)
{
    struct fd_mark *fm;
    struct fd_batch *b;

    if (ch == NULL) {
        return;
    }
    if (ch->src != NULL) {
        g_source_destroy(ch->src);
        g_source_unref(ch->src);
    }
    while ((fm = g_queue_pop_head(&ch->fd_marks)) != NULL) {
        fd_mark_free(fm);
    }
    g_byte_array_unref(ch->obuf);
    g_byte_array_unref(ch->stage);
    g_free(ch->usend);
    while ((b = g_queue_pop_head(&ch->fd_batches)) != NULL) {
        fd_batch_free(b);
    }
    g_queue_clear_full(&ch->skip, g_free);
    chan_free_retired(ch);
    util_close(&ch->fd);
    g_mutex_clear(&ch->send_lock);
    g_free(ch->rbuf);
    g_free(ch);
}

/* ------------------------------------------------------------------------
 * Connection
 */
struct conn *conn_new(vfud_dev *dev, int fd)
{
    struct conn *c = g_new0(struct conn, 1);
    struct ucred cred;
    socklen_t len = sizeof(cred);

    c->refs = 1;
    c->dev = dev;
    c->client_max_fds = 1;
    c->client_max_xfer = CONN_MAX_XFER;
    c->client_pgsize = 4096;
    c->pid = -1;
    c->uid = (uid_t)-1;
    c->gid = (gid_t)-1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        c->pid = cred.pid;
        c->uid = cred.uid;
        c->gid = cred.gid;
    }
    g_mutex_init(&c->req_lock);
    g_cond_init(&c->req_cond);
    c->next_id = 1;
    c->scratch = g_byte_array_sized_new(4096);
    c->cbuf = g_malloc(CMSG_SPACE(sizeof(int) * CONN_RECV_FDS));
    c->main = chan_new(c, fd, false);
    return c;
}

bool conn_finish_if_hung_up(struct conn *c)
{
    struct pollfd p = { .fd = c->main->fd, .events = POLLIN | POLLRDHUP };

    if (c->closing || poll(&p, 1, 0) != 1 ||
        !(p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        return false;
    }
    /* Messages it sent before closing still count, in order. */
    while (chan_read(c->main) && !c->closing) {
    }
    chan_flush(c->main);
    return true;
}

int conn_add_twin(struct conn *c, int fd)
{
    if (c->twin != NULL) {
        return -EEXIST;
    }
    c->twin = chan_new(c, fd, true);
    return 0;
}

void conn_ref(struct conn *c)
{
    g_atomic_int_inc(&c->refs);
}

void conn_unref(struct conn *c)
{
    if (c == NULL || !g_atomic_int_dec_and_test(&c->refs)) {
        return;
    }
    chan_free(c->main);
    chan_free(c->twin);
    g_mutex_clear(&c->req_lock);
    g_cond_clear(&c->req_cond);
    g_list_free(c->waiters);
    g_byte_array_unref(c->scratch);
    g_free(c->cbuf);
    g_free(c);
}

int conn_open_peer_maps(struct conn *c)
{
    /* A confined daemon cannot open the client's maps itself; the
     * process's helper, given our socket, does (daemon/sandbox_maps.c).
     * Not kept open: a client costs the fds it sent us and its socket,
     * no more. */
    return device_open_peer_maps(c->main->fd);
}

void conn_shutdown(struct conn *c)
{
    if (c->dev->uring != NULL && device_on_own_thread(c->dev)) {
        /* Replies left for the next merged turn go now, as they would
         * have gone with their batch on the poll path. */
        chan_flush(c->main);
    }
    c->closing = true;
    g_mutex_lock(&c->req_lock);
    c->dead = true;
    g_cond_broadcast(&c->req_cond);
    g_mutex_unlock(&c->req_lock);
    /* Stop watching now; the sockets close when the last reference goes
     * (a plugin thread may still be inside conn_request). */
    for (struct conn_chan *ch = c->main; ch != NULL;
         ch = ch == c->main ? c->twin : NULL) {
        if (ch->src != NULL) {
            g_source_destroy(ch->src);
        }
        shutdown(ch->fd, SHUT_RDWR);
    }
}

int conn_request(struct conn *c, uint16_t cmd, const void *req, size_t req_len,
                 const void *data, size_t data_len, void *reply,
                 size_t reply_len, size_t *got, int timeout_ms)
{
    struct conn_waiter w = { .buf = reply, .cap = reply_len };
    struct conn_chan *ch = c->twin != NULL ? c->twin : c->main;
    struct vfio_user_header hdr = {
        .cmd = cmd,
        .msg_size = (uint32_t)(sizeof(hdr) + req_len + data_len),
        .flags = VFIO_USER_F_TYPE_COMMAND,
    };
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    bool queued_all;
    int r;

    g_mutex_lock(&c->req_lock);
    if (c->dead) {
        g_mutex_unlock(&c->req_lock);
        return -ENOTCONN;
    }
    w.id = c->next_id++;
    hdr.msg_id = w.id;
    c->waiters = g_list_prepend(c->waiters, &w);
    g_mutex_unlock(&c->req_lock);

    if (ch != c->main && device_on_own_thread(c->dev)) {
        /* Replies staged on the main socket go first: the client may
         * answer us only once it has them. */
        chan_flush(c->main);
    }
    g_mutex_lock(&ch->send_lock);
    chan_queue_locked(ch, &hdr, req, req_len, data, data_len, NULL, 0);
    r = chan_flush_locked(ch);
    queued_all = ch->out_bytes == 0;
    g_mutex_unlock(&ch->send_lock);
    if (r == 0 && !queued_all) {
        /* The device thread finishes the job when the socket drains. */
        g_atomic_int_set(&ch->want_out, 1);
        g_main_context_wakeup(c->dev->ctx);
    }

    g_mutex_lock(&c->req_lock);
    while (!w.done && !c->dead && r == 0) {
        if (!g_cond_wait_until(&c->req_cond, &c->req_lock, deadline)) {
            break;
        }
    }
    c->waiters = g_list_remove(c->waiters, &w);
    if (w.done) {
        r = w.result;
        if (got != NULL) {
            *got = w.len;
        }
    } else if (r == 0) {
        r = c->dead ? -ENOTCONN : -ETIMEDOUT;
    }
    g_mutex_unlock(&c->req_lock);
    return r;
}

void conn_pump_replies(struct conn *c, int timeout_ms)
{
    GPollFD pfd[2];
    struct conn_chan *chans[2] = { c->main, c->twin };
    int n = 0;

    if (c->closing) {
        g_usleep((gulong)timeout_ms * 1000);
        return;
    }
    if (device_on_own_thread(c->dev)) {
        chan_flush(c->main); /* staged replies: the client may wait for them */
    }
    /* A reply may already sit in the buffer, read together with the
     * message being served: deliver it before waiting for more. */
    for (int i = 0; i < 2; i++) {
        if (chans[i] != NULL) {
            chans[i]->replies_only = true;
            chan_process(chans[i]);
            chans[i]->replies_only = false;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (chans[i] != NULL) {
            pfd[n].fd = chans[i]->fd;
            pfd[n].events = G_IO_IN;
            pfd[n].revents = 0;
            n++;
        }
    }
    if (g_poll(pfd, (guint)n, timeout_ms) <= 0) {
        return;
    }
    for (int i = 0; i < n; i++) {
        struct conn_chan *ch = chans[i];
        bool ok;

        if (!(pfd[i].revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))) {
            continue;
        }
        ch->replies_only = true;
        ok = chan_read(ch);
        ch->replies_only = false;
        if (!ok) {
            /* The connection ended: nothing will answer the waiters. */
            g_mutex_lock(&c->req_lock);
            c->dead = true;
            g_cond_broadcast(&c->req_cond);
            g_mutex_unlock(&c->req_lock);
        }
    }
}

/* ------------------------------------------------------------------------
 * Hand-over to another process (upgrade.c): the unread input of a channel
 * and the fds that came with it.  Device thread, between messages.
 */
int conn_socket_fd(const struct conn *c, bool twin)
{
    const struct conn_chan *ch = twin ? c->twin : c->main;

    return ch != NULL ? ch->fd : -1;
}

/* Everything queued for the client must be on the wire first: replies
 * carry fds, and the new process starts with an empty send queue. */
static int chan_drain_output(struct conn_chan *ch, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        struct pollfd p = { .fd = ch->fd, .events = POLLOUT };
        size_t left;

        g_mutex_lock(&ch->send_lock);
        if (chan_flush_locked(ch) < 0) {
            g_mutex_unlock(&ch->send_lock);
            return -EPIPE;
        }
        left = ch->out_bytes;
        g_mutex_unlock(&ch->send_lock);
        if (left == 0) {
            return 0;
        }
        if (g_get_monotonic_time() >= deadline) {
            return -EBUSY;
        }
        poll(&p, 1, 10);
    }
}

int conn_export_input(struct conn *c, bool twin, GByteArray *in,
                      uint64_t *drain_left, GArray *fds, int timeout_ms)
{
    struct conn_chan *ch = twin ? c->twin : c->main;
    uint64_t base;
    bool waiting;
    int r;

    if (ch == NULL) {
        return 0;
    }
    r = chan_drain_output(ch, timeout_ms);
    if (r < 0) {
        return r;
    }
    g_mutex_lock(&c->req_lock);
    waiting = c->waiters != NULL;
    g_mutex_unlock(&c->req_lock);
    if (waiting || !g_queue_is_empty(&ch->skip) || ch->retired != NULL) {
        return -EBUSY; /* a request of ours is waiting for its reply */
    }
    base = ch->rbase + ch->rhead;
    g_byte_array_append(in, ch->rbuf + ch->rhead, (guint)(ch->rtail - ch->rhead));
    *drain_left = ch->drain_left;
    for (GList *l = ch->fd_batches.head; l != NULL; l = l->next) {
        const struct fd_batch *b = l->data;

        if (b->truncated || b->offset < base) {
            return -EBUSY; /* refused at dispatch anyway: not worth moving */
        }
        for (unsigned i = 0; i < b->n; i++) {
            struct conn_saved_fd s = {
                .offset = b->offset - base,
                .fd = fcntl(b->fds[i], F_DUPFD_CLOEXEC, 3),
                .shared_read = b->shared_read,
            };

            if (s.fd < 0) {
                return -errno;
            }
            g_array_append_val(fds, s);
        }
    }
    return 0;
}

int conn_import_input(struct conn *c, bool twin, const uint8_t *in, size_t len,
                      uint64_t drain_left, const struct conn_saved_fd *fds,
                      unsigned nr_fds)
{
    struct conn_chan *ch = twin ? c->twin : c->main;
    struct fd_batch *b = NULL;

    if (ch == NULL) {
        return -ENOTCONN;
    }
    c->adopted = true;
    chan_reserve(ch, MAX(len, (size_t)RBUF_INITIAL));
    if (len > 0) {
        memcpy(ch->rbuf, in, len);
    }
    ch->rtail = len;
    ch->drain_left = drain_left;
    /* fds of one message travel as consecutive entries with one offset. */
    for (unsigned i = 0; i < nr_fds; i++) {
        if (b == NULL || b->offset != ch->rbase + fds[i].offset) {
            b = g_malloc0(sizeof(*b) + sizeof(int) * CONN_RECV_FDS);
            b->offset = ch->rbase + fds[i].offset;
            b->shared_read = fds[i].shared_read;
            g_queue_push_tail(&ch->fd_batches, b);
        }
        if (b->n < CONN_RECV_FDS) {
            b->fds[b->n++] = fds[i].fd;
        } else {
            close(fds[i].fd);
            b->truncated = true;
        }
    }
    /* Complete messages among them run without waiting for new input. */
    ch->backlog = len > 0;
    return 0;
}
