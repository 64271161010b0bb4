/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing for the test client: one whole message out per send, one whole
 * message in per receive.
 *
 * All socket calls are non-blocking (MSG_DONTWAIT) behind poll(), so every
 * wait has a deadline.  fds are sent in the same sendmsg() as the message's
 * first byte.  A receive reads exactly the header and then exactly the body:
 * never more, so fds the kernel hands over always belong to the message
 * being read.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vfu_client_priv.h"

/* header + at most three payload pieces (e.g. DMA_READ reply head + data) */
#define VFU_IO_MAX_IOV 4

int64_t vfu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vfu_deadline(int timeout_ms)
{
    if (timeout_ms < 0) {
        return -1;
    }
    return vfu_now_ms() + timeout_ms;
}

int vfu_remaining_ms(int64_t deadline)
{
    int64_t left;

    if (deadline < 0) {
        return -1;
    }
    left = deadline - vfu_now_ms();
    if (left <= 0) {
        return 0;
    }
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

void vfu_io_trace(const struct vfu_client *c, const char *dir,
                  const struct vfio_user_header *hdr, unsigned nr_fds)
{
    if (!c->debug) {
        return;
    }
    fprintf(stderr,
            "vfu-client: %s id=0x%04x %-22s %s size=%u flags=0x%x err=%u "
            "fds=%u\n",
            dir, hdr->msg_id, vfio_user_command_name(hdr->cmd),
            (hdr->flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY
                ? "REPLY"
                : "CMD  ",
            hdr->msg_size, hdr->flags, hdr->error_no, nr_fds);
}

void vfu_msg_free(struct vfu_msg *m)
{
    if (m == NULL) {
        return;
    }
    for (unsigned i = 0; i < m->nr_fds; i++) {
        close(m->fds[i]);
    }
    free(m->body);
    free(m);
}

bool vfu_io_has_queued(const struct vfu_client *c)
{
    return c->queue_head != NULL;
}

void vfu_io_drop_queue(struct vfu_client *c)
{
    while (c->queue_head != NULL) {
        struct vfu_msg *m = c->queue_head;

        c->queue_head = m->next;
        vfu_msg_free(m);
    }
    c->queue_tail = NULL;
}

static int io_fail(struct vfu_client *c, int err)
{
    if (err == -EPIPE) {
        err = -ECONNRESET;
    }
    c->dead = err;
    return err;
}

static void collect_fds(struct vfu_msg *m, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
         cm = CMSG_NXTHDR(mh, cm)) {
        size_t n;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
            if (m->nr_fds < VFU_CLIENT_MAX_RECV_FDS) {
                m->fds[m->nr_fds++] = fd;
            } else {
                close(fd);
                m->fds_truncated = true;
            }
        }
    }
    if (mh->msg_flags & MSG_CTRUNC) {
        /* The kernel dropped fds that did not fit: the message is not
         * what the sender meant, but the byte stream is still intact. */
        m->fds_truncated = true;
    }
}

/*
 * Reads exactly len bytes into buf.  *total counts the bytes of the current
 * message so far: until the first one arrives we wait until first_deadline
 * (the caller's patience); after it, the rest of the message must follow
 * within the client timeout.
 */
static int recv_exact(struct vfu_client *c, struct vfu_msg *m, void *buf,
                      size_t len, size_t *total, int64_t first_deadline,
                      int64_t *rest_deadline)
{
    size_t got = 0;

    while (got < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * VFU_CLIENT_MAX_RECV_FDS)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {(char *)buf + got, len - got};
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = ctl.buf,
            .msg_controllen = sizeof(ctl.buf),
        };
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int64_t deadline = *total == 0 ? first_deadline : *rest_deadline;
        ssize_t n;
        int r;

        r = poll(&pfd, 1, vfu_remaining_ms(deadline));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return *total == 0 ? -errno : io_fail(c, -errno);
        }
        if (r == 0) {
            /* Nothing of this message yet: the stream is still in step. */
            return *total == 0 ? -ETIMEDOUT : io_fail(c, -ETIMEDOUT);
        }
        n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            return io_fail(c, -errno);
        }
        collect_fds(m, &mh);
        if (n == 0) {
            return io_fail(c, -ECONNRESET);
        }
        if (*total == 0) {
            *rest_deadline = vfu_deadline(c->timeout_ms);
        }
        got += (size_t)n;
        *total += (size_t)n;
    }
    return 0;
}

static int read_one(struct vfu_client *c, int64_t deadline,
                    struct vfu_msg **out)
{
    struct vfu_msg *m;
    size_t total = 0;
    int64_t rest_deadline = -1;
    int r;

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    r = recv_exact(c, m, &m->hdr, sizeof(m->hdr), &total, deadline,
                   &rest_deadline);
    if (r < 0) {
        vfu_msg_free(m);
        return r;
    }
    if (m->hdr.msg_size < sizeof(m->hdr) ||
        m->hdr.msg_size > VFU_CLIENT_MAX_MSG) {
        fprintf(stderr, "vfu-client: message id=0x%04x cmd=%u has msg_size "
                "%u: stream lost\n", m->hdr.msg_id, m->hdr.cmd,
                m->hdr.msg_size);
        vfu_msg_free(m);
        return io_fail(c, -EPROTO);
    }
    m->len = m->hdr.msg_size - sizeof(m->hdr);
    if (m->len > 0) {
        m->body = malloc(m->len);
        if (m->body == NULL) {
            vfu_msg_free(m);
            return io_fail(c, -ENOMEM);
        }
        r = recv_exact(c, m, m->body, m->len, &total, deadline,
                       &rest_deadline);
        if (r < 0) {
            vfu_msg_free(m);
            return r;
        }
    }
    vfu_io_trace(c, "S->C", &m->hdr, m->nr_fds);
    *out = m;
    return 0;
}

int vfu_io_recv(struct vfu_client *c, int64_t deadline, struct vfu_msg **out)
{
    if (c->queue_head != NULL) {
        struct vfu_msg *m = c->queue_head;

        c->queue_head = m->next;
        if (c->queue_head == NULL) {
            c->queue_tail = NULL;
        }
        m->next = NULL;
        *out = m;
        return 0;
    }
    if (c->dead) {
        return c->dead;
    }
    return read_one(c, deadline, out);
}

/*
 * While our send is blocked the server may be blocked sending to us (a DMA
 * request, say).  Read whole messages into the queue so both sides move.
 */
static int queue_one(struct vfu_client *c)
{
    struct vfu_msg *m;
    int r;

    r = read_one(c, vfu_deadline(0), &m);
    if (r == -ETIMEDOUT) {
        return 0; /* spurious wake-up */
    }
    if (r < 0) {
        return r;
    }
    if (c->queue_tail != NULL) {
        c->queue_tail->next = m;
    } else {
        c->queue_head = m;
    }
    c->queue_tail = m;
    return 0;
}

static int send_iov(struct vfu_client *c, struct iovec *iov, int iovcnt,
                    const int *fds, unsigned nr_fds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } small;
    char *ctl = small.buf;
    size_t ctl_len = CMSG_SPACE(sizeof(int) * nr_fds);
    size_t sent = 0, total = 0;
    int64_t deadline;
    int ret = 0;

    if (c->dead) {
        return c->dead;
    }
    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    if (nr_fds > 0 && ctl_len > sizeof(small.buf)) {
        ctl = calloc(1, ctl_len);
        if (ctl == NULL) {
            return -ENOMEM;
        }
    }
    deadline = vfu_deadline(c->timeout_ms);

    while (sent < total) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = iovcnt};
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN | POLLOUT};
        ssize_t n;
        int r;

        if (sent == 0 && nr_fds > 0) {
            struct cmsghdr *cm;

            memset(ctl, 0, ctl_len);
            mh.msg_control = ctl;
            mh.msg_controllen = ctl_len;
            cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nr_fds);
        }
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            size_t adv = (size_t)n;

            sent += adv;
            while (adv > 0 && iovcnt > 0) {
                if (adv >= iov->iov_len) {
                    adv -= iov->iov_len;
                    iov++;
                    iovcnt--;
                } else {
                    iov->iov_base = (char *)iov->iov_base + adv;
                    iov->iov_len -= adv;
                    adv = 0;
                }
            }
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            /* Refused before the first byte (too many fds, say): nothing
             * of the message is on the wire, the stream is intact. */
            bool intact = sent == 0 && errno != EPIPE && errno != ECONNRESET;

            ret = intact ? -errno : io_fail(c, -errno);
            break;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        r = poll(&pfd, 1, vfu_remaining_ms(deadline));
        if (r < 0 && errno != EINTR) {
            ret = sent == 0 ? -errno : io_fail(c, -errno);
            break;
        }
        if (r == 0) {
            /* Half a message on the wire cannot be taken back. */
            ret = sent == 0 ? -ETIMEDOUT : io_fail(c, -ETIMEDOUT);
            break;
        }
        if (r > 0 && !(pfd.revents & POLLOUT) && (pfd.revents & POLLIN)) {
            ret = queue_one(c);
            if (ret < 0) {
                break;
            }
        }
    }
    if (ctl != small.buf) {
        free(ctl);
    }
    return ret;
}

int vfu_io_send(struct vfu_client *c, const struct vfio_user_header *hdr,
                const void *payload, size_t len, const int *fds,
                unsigned nr_fds)
{
    struct iovec iov[2] = {
        {(void *)hdr, sizeof(*hdr)},
        {(void *)payload, len},
    };

    vfu_io_trace(c, "C->S", hdr, nr_fds);
    return send_iov(c, iov, len > 0 ? 2 : 1, fds, nr_fds);
}

int vfu_io_sendv(struct vfu_client *c, const struct vfio_user_header *hdr,
                 const struct iovec *parts, int nr_parts, const int *fds,
                 unsigned nr_fds)
{
    struct iovec iov[VFU_IO_MAX_IOV];
    int n = 0;

    if (nr_parts >= VFU_IO_MAX_IOV) {
        return -EINVAL;
    }
    iov[n++] = (struct iovec){(void *)hdr, sizeof(*hdr)};
    for (int i = 0; i < nr_parts; i++) {
        if (parts[i].iov_len > 0) {
            iov[n++] = parts[i];
        }
    }
    vfu_io_trace(c, "C->S", hdr, nr_fds);
    return send_iov(c, iov, n, fds, nr_fds);
}

int vfu_io_send_bytes(struct vfu_client *c, const void *buf, size_t len,
                      const int *fds, unsigned nr_fds)
{
    struct iovec iov = {(void *)buf, len};

    if (len == 0) {
        return nr_fds > 0 ? -EINVAL : 0; /* fds need a byte to ride on */
    }
    return send_iov(c, &iov, 1, fds, nr_fds);
}
