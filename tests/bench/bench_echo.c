/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_echo: the transport limit for the benchmark.  A vfio-user server
 * that only frames and answers, so that the daemon can be compared with
 * what this transport costs when nothing else is done.
 *
 *     bench_echo [--uring] SOCKET-PATH
 *
 * It listens on SOCKET-PATH and serves one connection at a time, until
 * killed.
 *
 * What it does, the way engine/conn.c does it:
 *  - a non-blocking socket behind poll();
 *  - on input, recvmsg() into a 64 KiB buffer with room for fds, as much as
 *    the socket holds (one read can carry many pipelined messages), again
 *    only while a read filled the buffer; received fds are closed;
 *  - every complete message is answered into an output buffer, and the
 *    whole batch goes out in one sendmsg() (MSG_NOSIGNAL | MSG_DONTWAIT);
 *    what the socket does not take waits for POLLOUT.
 *
 * The answers have the shape the daemon's have: REGION_READ gets the
 * 16-byte access echoed and `count` bytes of data (zeros), REGION_WRITE the
 * 16-byte access, VERSION a fixed capability set, any other command an
 * empty reply.  NO_REPLY commands and replies get nothing.
 *
 * What it does not do: no read-ahead (after answering a batch whose send
 * let the client run, the daemon tries one more recvmsg() before going
 * back to poll(), which finds the client's next requests and saves the
 * poll(); see
 * chan_read_ahead() in engine/conn.c), so on one CPU the daemon can come
 * closer to this server than framing alone would let it; no GLib main
 * loop, no dispatch table, no payload
 * checks beyond what framing needs, no device, no DMA, no fds in replies.
 * A header with a size below 16 or above 1 MiB + 80 ends the connection
 * (the daemon drains an oversized message instead).
 *
 * --uring (bench_transport's "echo-uring"): what merging the system calls
 * of a turn would be worth.  After a batch is answered, ONE io_uring_enter()
 * submits the replies' SENDMSG and a RECVMSG for the next requests and
 * waits for one completion, instead of sendmsg() + poll() + recvmsg().  The
 * send is MSG_DONTWAIT | MSG_WAITALL with IOSQE_CQE_SKIP_SUCCESS: it runs
 * inline during the submit, a complete send posts nothing, and a short or
 * failed one posts its count or error (WAITALL makes a short send a
 * failure, so it is not skipped).  So once io_uring_enter() returns, the
 * output buffer is free again.  What the socket did not take is then sent
 * by a blocking SENDMSG whose completion is awaited before any new reply is
 * written.  The receive is blocking (io_uring polls for it) with room for
 * fds, one per turn.  Without io_uring (io_uring_setup fails) it says so
 * and serves the poll() way.
 */
#include "config.h"

#include "vfio-user.h"

#ifdef BENCH_ECHO_URING
#include <liburing.h>
#endif

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ECHO_RBUF (64u << 10)        /* the daemon's initial read buffer */
#define ECHO_MAX_MSG ((1u << 20) + 80) /* the daemon's CONN_MAX_MSG */
#define ECHO_RECV_FDS 253            /* SCM_MAX_FD, as the daemon */

static const char echo_caps[] =
    "{\"capabilities\": {\"max_msg_fds\": 16, \"max_data_xfer_size\": 1048576, "
    "\"pgsizes\": 4096}}";

struct echo {
    int fd;
    uint8_t *rbuf;
    size_t rcap, rhead, rtail;
    uint8_t *obuf;
    size_t ocap, olen, osent;
};

/* Room for n more output bytes; the buffer only grows. */
static uint8_t *out_reserve(struct echo *e, size_t n)
{
    if (e->ocap - e->olen < n) {
        size_t cap = e->ocap != 0 ? e->ocap : 4096;
        uint8_t *b;

        while (cap - e->olen < n) {
            cap *= 2;
        }
        b = realloc(e->obuf, cap);
        if (b == NULL) {
            fprintf(stderr, "bench_echo: out of memory\n");
            exit(1);
        }
        e->obuf = b;
        e->ocap = cap;
    }
    return e->obuf + e->olen;
}

/* Answer one complete command. */
static void echo_answer(struct echo *e, const struct vfio_user_header *h,
                        const uint8_t *payload, size_t len)
{
    struct vfio_user_header rep = {
        .msg_id = h->msg_id,
        .cmd = h->cmd,
        .flags = VFIO_USER_F_TYPE_REPLY,
    };
    struct vfio_user_region_access acc;
    size_t body = 0, extra = 0;
    uint8_t *q;

    switch (h->cmd) {
    case VFIO_USER_VERSION:
        body = sizeof(struct vfio_user_version) + sizeof(echo_caps);
        break;
    case VFIO_USER_REGION_READ:
        if (len < sizeof(acc)) {
            break;
        }
        memcpy(&acc, payload, sizeof(acc));
        body = sizeof(acc);
        extra = acc.count <= (1u << 20) ? acc.count : 0;
        break;
    case VFIO_USER_REGION_WRITE:
        body = len < sizeof(acc) ? 0 : sizeof(acc);
        break;
    default:
        break;
    }
    rep.msg_size = (uint32_t)(sizeof(rep) + body + extra);
    q = out_reserve(e, rep.msg_size);
    memcpy(q, &rep, sizeof(rep));
    if (h->cmd == VFIO_USER_VERSION) {
        struct vfio_user_version v = { .major = VFIO_USER_MAJOR, .minor = 0 };

        memcpy(q + sizeof(rep), &v, sizeof(v));
        memcpy(q + sizeof(rep) + sizeof(v), echo_caps, sizeof(echo_caps));
    } else if (body > 0) {
        memcpy(q + sizeof(rep), payload, sizeof(acc)); /* offset, region, count */
        memset(q + sizeof(rep) + sizeof(acc), 0, extra);
    }
    e->olen += rep.msg_size;
}

/* Answer every complete message in the buffer.  false: framing error. */
static bool echo_process(struct echo *e)
{
    while (e->rtail - e->rhead >= sizeof(struct vfio_user_header)) {
        struct vfio_user_header h;

        memcpy(&h, e->rbuf + e->rhead, sizeof(h));
        if (h.msg_size < sizeof(h) || h.msg_size > ECHO_MAX_MSG) {
            fprintf(stderr, "bench_echo: message of %u bytes; hanging up\n",
                    h.msg_size);
            return false;
        }
        if (e->rtail - e->rhead < h.msg_size) {
            if (e->rcap - e->rhead < h.msg_size) {
                /* Make room for the whole message. */
                memmove(e->rbuf, e->rbuf + e->rhead, e->rtail - e->rhead);
                e->rtail -= e->rhead;
                e->rhead = 0;
                if (e->rcap < h.msg_size) {
                    uint8_t *b = realloc(e->rbuf, h.msg_size);

                    if (b == NULL) {
                        return false;
                    }
                    e->rbuf = b;
                    e->rcap = h.msg_size;
                }
            }
            break;
        }
        if ((h.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_COMMAND &&
            !(h.flags & VFIO_USER_F_NO_REPLY)) {
            echo_answer(e, &h, e->rbuf + e->rhead + sizeof(h),
                        h.msg_size - sizeof(h));
        }
        e->rhead += h.msg_size;
    }
    if (e->rhead == e->rtail) {
        e->rhead = e->rtail = 0;
    }
    return true;
}

static void close_fds(struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
         cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (size_t i = 0; i < n; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                close(fd);
            }
        }
    }
}

/* Read what is there and answer it.  false: the connection ended. */
static bool echo_read(struct echo *e)
{
    static char cbuf[CMSG_SPACE(sizeof(int) * ECHO_RECV_FDS)];

    for (;;) {
        struct iovec iov;
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = cbuf,
            .msg_controllen = sizeof(cbuf),
        };
        ssize_t n;

        if (e->rcap - e->rtail < 4096 && e->rhead > 0) {
            memmove(e->rbuf, e->rbuf + e->rhead, e->rtail - e->rhead);
            e->rtail -= e->rhead;
            e->rhead = 0;
        }
        iov.iov_base = e->rbuf + e->rtail;
        iov.iov_len = e->rcap - e->rtail;
        n = recvmsg(e->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        if (mh.msg_controllen > 0) {
            close_fds(&mh);
        }
        if (n == 0) {
            return false;
        }
        e->rtail += (size_t)n;
        if (!echo_process(e)) {
            return false;
        }
        if ((size_t)n < iov.iov_len) {
            return true; /* the socket is empty for now */
        }
    }
}

/* Send what the socket takes.  false: the connection broke. */
static bool echo_flush(struct echo *e)
{
    while (e->osent < e->olen) {
        struct iovec iov = {
            .iov_base = e->obuf + e->osent,
            .iov_len = e->olen - e->osent,
        };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n = sendmsg(e->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        e->osent += (size_t)n;
    }
    e->olen = e->osent = 0;
    return true;
}

#ifdef BENCH_ECHO_URING
enum { URING_RECV = 1, URING_SEND, URING_SEND_WAIT };

/* Submit the send of what is unsent; wait is false for the merged,
 * non-blocking attempt, true for the rest of a short one. */
static void uring_send(struct io_uring *ring, struct echo *e, struct msghdr *mh,
                       struct iovec *iov, bool wait)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

    iov->iov_base = e->obuf + e->osent;
    iov->iov_len = e->olen - e->osent;
    *mh = (struct msghdr){ .msg_iov = iov, .msg_iovlen = 1 };
    io_uring_prep_sendmsg(sqe, e->fd, mh,
                          MSG_NOSIGNAL | MSG_WAITALL | (wait ? 0 : MSG_DONTWAIT));
    if (!wait) {
        io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
    }
    io_uring_sqe_set_data64(sqe, wait ? URING_SEND_WAIT : URING_SEND);
}

static void echo_serve_uring(int fd, struct io_uring *ring)
{
    static char cbuf[CMSG_SPACE(sizeof(int) * ECHO_RECV_FDS)];
    struct echo e = { .fd = fd, .rcap = ECHO_RBUF };
    struct msghdr rmh, smh;
    struct iovec riov, siov;
    bool recv_armed = false, send_waiting = false, unprocessed = false;

    e.rbuf = malloc(e.rcap);
    if (e.rbuf == NULL) {
        return;
    }
    for (;;) {
        struct io_uring_cqe *cqe;
        struct io_uring_sqe *sqe;
        unsigned head, seen = 0;
        bool send_merged = false, done = false;
        int r;

        if (!send_waiting && unprocessed) {
            if (!echo_process(&e)) {
                break;
            }
            unprocessed = false;
        }
        if (!send_waiting && e.olen > e.osent) {
            uring_send(ring, &e, &smh, &siov, false);
            send_merged = true;
        }
        if (!recv_armed) {
            if (e.rcap - e.rtail < 4096 && e.rhead > 0) {
                memmove(e.rbuf, e.rbuf + e.rhead, e.rtail - e.rhead);
                e.rtail -= e.rhead;
                e.rhead = 0;
            }
            riov = (struct iovec){ e.rbuf + e.rtail, e.rcap - e.rtail };
            rmh = (struct msghdr){
                .msg_iov = &riov,
                .msg_iovlen = 1,
                .msg_control = cbuf,
                .msg_controllen = sizeof(cbuf),
            };
            sqe = io_uring_get_sqe(ring);
            io_uring_prep_recvmsg(sqe, fd, &rmh, MSG_CMSG_CLOEXEC);
            io_uring_sqe_set_data64(sqe, URING_RECV);
            recv_armed = true;
        }
        r = io_uring_submit_and_wait(ring, 1);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "bench_echo: io_uring_enter: %s\n", strerror(-r));
            break;
        }
        /* No CQE for the merged send: it went out whole. */
        if (send_merged) {
            e.osent = e.olen;
        }
        io_uring_for_each_cqe(ring, head, cqe) {
            seen++;
            switch (cqe->user_data) {
            case URING_SEND:
            case URING_SEND_WAIT:
                send_waiting = false;
                if (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -EINTR) {
                    done = true; /* EPIPE, ECONNRESET: the client left */
                    break;
                }
                if (cqe->user_data == URING_SEND) {
                    /* Short: sent is the count before the merge. */
                    e.osent = e.olen - siov.iov_len;
                }
                e.osent += cqe->res > 0 ? (size_t)cqe->res : 0;
                break;
            case URING_RECV:
                recv_armed = false;
                if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
                    break;
                }
                if (rmh.msg_controllen > 0) {
                    close_fds(&rmh);
                }
                if (cqe->res <= 0) {
                    done = true;
                    break;
                }
                e.rtail += (size_t)cqe->res;
                unprocessed = true;
                break;
            }
        }
        io_uring_cq_advance(ring, seen);
        if (done) {
            break;
        }
        if (e.osent == e.olen) {
            e.olen = e.osent = 0;
        } else if (!send_waiting) {
            uring_send(ring, &e, &smh, &siov, true);
            send_waiting = true;
        }
    }
    /* Nothing may still point into the buffers. */
    io_uring_queue_exit(ring);
    free(e.rbuf);
    free(e.obuf);
}
#endif

static void echo_serve(int fd)
{
    struct echo e = { .fd = fd, .rcap = ECHO_RBUF };

    e.rbuf = malloc(e.rcap);
    if (e.rbuf == NULL) {
        return;
    }
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        if (e.olen > e.osent) {
            pfd.events |= POLLOUT;
        }
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if ((pfd.revents & POLLOUT) && !echo_flush(&e)) {
            break;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!echo_read(&e) || !echo_flush(&e)) {
                break;
            }
        }
    }
    free(e.rbuf);
    free(e.obuf);
}

int main(int argc, char **argv)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    bool uring = argc == 3 && strcmp(argv[1], "--uring") == 0;
    int lfd;

    if (uring) {
        argv++;
        argc--;
    }
    if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "usage: bench_echo [--uring] SOCKET-PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    strcpy(sa.sun_path, argv[1]);
    unlink(argv[1]);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 4) < 0) {
        perror("bench_echo: listen");
        return 1;
    }
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            perror("bench_echo: accept");
            return 1;
        }
#ifdef BENCH_ECHO_URING
        if (uring) {
            struct io_uring ring;
            int r = io_uring_queue_init(8, &ring, 0);

            if (r == 0) {
                echo_serve_uring(fd, &ring);
                close(fd);
                continue;
            }
            fprintf(stderr, "bench_echo: io_uring unavailable (%s): serving "
                    "with poll()\n", strerror(-r));
            uring = false;
        }
#else
        if (uring) {
            fprintf(stderr, "bench_echo: built without liburing: serving with poll()\n");
            uring = false;
        }
#endif
        echo_serve(fd);
        close(fd);
    }
}
