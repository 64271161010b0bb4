/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test client: connection lifecycle and the loop that waits for one reply
 * while serving whatever the server asks of us in between (the protocol
 * lets server->client commands arrive before the reply we wait for).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfu_client_priv.h"

struct vfu_client *vfu_client_from_fd(int fd)
{
    struct vfu_client *c;
    const char *dbg;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    c->fd = fd;
    c->timeout_ms = 5000;
    c->server_max_xfer = VFU_CLIENT_DEFAULT_MAX_XFER;
    c->server_max_fds = VFU_CLIENT_DEFAULT_MAX_FDS;
    c->own_max_xfer = VFU_CLIENT_DEFAULT_MAX_XFER;
    dbg = getenv("VFU_CLIENT_DEBUG");
    c->debug = dbg != NULL && *dbg != '\0' && strcmp(dbg, "0") != 0;
    return c;
}

int vfu_client_connect(const char *path, struct vfu_client **out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;

        close(fd);
        return -err;
    }
    *out = vfu_client_from_fd(fd);
    return *out != NULL ? 0 : -ENOMEM;
}

void vfu_client_close(struct vfu_client *c)
{
    if (c == NULL) {
        return;
    }
    vfu_io_drop_queue(c);
    /* Hang up before unmapping: the server must stop using our memory. */
    if (c->fd >= 0) {
        close(c->fd);
    }
    vfu_mem_release(c);
    free(c);
}

int vfu_client_fd(const struct vfu_client *c)
{
    return c->fd;
}

void vfu_client_set_timeout(struct vfu_client *c, int ms)
{
    c->timeout_ms = ms;
}

uint64_t vfu_client_server_max_xfer(const struct vfu_client *c)
{
    return c->server_max_xfer;
}

unsigned vfu_client_server_max_fds(const struct vfu_client *c)
{
    return c->server_max_fds;
}

void vfu_client_dma_stats(const struct vfu_client *c, uint64_t *reads,
                          uint64_t *writes)
{
    if (reads != NULL) {
        *reads = c->dma_reads;
    }
    if (writes != NULL) {
        *writes = c->dma_writes;
    }
}

uint64_t vfu_client_request_errors(const struct vfu_client *c)
{
    return c->req_errors;
}

int vfu_client_send(struct vfu_client *c, uint16_t cmd, uint32_t flags,
                    const void *payload, size_t len, const int *fds,
                    unsigned nr_fds, uint16_t *id_out)
{
    struct vfio_user_header hdr = {
        .msg_id = c->next_id,
        .cmd = cmd,
        .flags = flags,
    };
    int r;

    if (len > UINT32_MAX - sizeof(hdr)) {
        return -EMSGSIZE;
    }
    hdr.msg_size = (uint32_t)(sizeof(hdr) + len);
    c->next_id++;
    r = vfu_io_send(c, &hdr, payload, len, fds, nr_fds);
    if (r == 0 && id_out != NULL) {
        *id_out = hdr.msg_id;
    }
    return r;
}

int vfu_client_send_raw(struct vfu_client *c, const void *buf, size_t len,
                        const int *fds, unsigned nr_fds)
{
    return vfu_io_send_bytes(c, buf, len, fds, nr_fds);
}

int vfu_client_dispatch(struct vfu_client *c, struct vfu_msg *m)
{
    uint32_t type = m->hdr.flags & VFIO_USER_F_TYPE_MASK;
    int r;

    if (type == VFIO_USER_F_TYPE_COMMAND) {
        r = vfu_mem_serve(c, m);
    } else {
        /*
         * We are single-threaded and only leave NO_REPLY commands behind,
         * so a reply we are not waiting for means the server answered
         * something twice, late, or with a wrong id.
         */
        fprintf(stderr, "vfu-client: unexpected %s id=0x%04x cmd=%s "
                "flags=0x%x\n", type == VFIO_USER_F_TYPE_REPLY ? "reply"
                : "message type", m->hdr.msg_id,
                vfio_user_command_name(m->hdr.cmd), m->hdr.flags);
        r = -EPROTO;
    }
    vfu_msg_free(m);
    return r;
}

int vfu_client_recv_reply(struct vfu_client *c, uint16_t id,
                          struct vfio_user_header *hdr, void **payload,
                          size_t *len, int *fds, unsigned *nr_fds)
{
    unsigned room = nr_fds != NULL ? *nr_fds : 0;
    int64_t deadline = vfu_deadline(c->timeout_ms);
    struct vfu_msg *m;
    int r;

    if (payload != NULL) {
        *payload = NULL;
    }
    if (len != NULL) {
        *len = 0;
    }
    if (nr_fds != NULL) {
        *nr_fds = 0;
    }
    for (;;) {
        r = vfu_io_recv(c, deadline, &m);
        if (r < 0) {
            return r;
        }
        if ((m->hdr.flags & VFIO_USER_F_TYPE_MASK) ==
                VFIO_USER_F_TYPE_REPLY &&
            m->hdr.msg_id == id) {
            break;
        }
        r = vfu_client_dispatch(c, m);
        if (r < 0) {
            return r;
        }
    }

    if (hdr != NULL) {
        *hdr = m->hdr;
    }
    if (m->hdr.flags & VFIO_USER_F_ERROR) {
        int err = (int)m->hdr.error_no;

        /* Like libvfio-user: no errno, or nonsense, is still a failure. */
        if (err <= 0 || err > 4095) {
            err = EINVAL;
        }
        vfu_msg_free(m);
        return -err;
    }
    if (m->fds_truncated) {
        fprintf(stderr, "vfu-client: reply id=0x%04x carried more than %d "
                "fds\n", m->hdr.msg_id, VFU_CLIENT_MAX_RECV_FDS);
        vfu_msg_free(m);
        return -EMSGSIZE;
    }
    for (unsigned i = 0; i < m->nr_fds; i++) {
        if (fds != NULL && i < room) {
            fds[i] = m->fds[i];
            (*nr_fds)++;
        } else {
            close(m->fds[i]);
        }
    }
    m->nr_fds = 0;
    if (len != NULL) {
        *len = m->len;
    }
    if (payload != NULL) {
        *payload = m->body;
        m->body = NULL;
    }
    vfu_msg_free(m);
    return 0;
}

int vfu_client_call(struct vfu_client *c, uint16_t cmd, const void *req,
                    size_t req_len, const int *fds, unsigned nr_fds,
                    void *reply, size_t *reply_len, int *rfds,
                    unsigned *nr_rfds)
{
    struct vfio_user_header hdr;
    void *body;
    size_t len;
    uint16_t id;
    int r;

    r = vfu_client_send(c, cmd, 0, req, req_len, fds, nr_fds, &id);
    if (r < 0) {
        return r;
    }
    r = vfu_client_recv_reply(c, id, &hdr, &body, &len, rfds, nr_rfds);
    if (r < 0) {
        return r;
    }
    if (hdr.cmd != cmd) {
        fprintf(stderr, "vfu-client: reply id=0x%04x is for %s, sent %s\n",
                id, vfio_user_command_name(hdr.cmd),
                vfio_user_command_name(cmd));
        for (unsigned i = 0; rfds != NULL && i < *nr_rfds; i++) {
            close(rfds[i]);
        }
        if (nr_rfds != NULL) {
            *nr_rfds = 0;
        }
        free(body);
        return -EPROTO;
    }
    if (reply_len != NULL) {
        if (reply != NULL && len > 0) {
            memcpy(reply, body, len < *reply_len ? len : *reply_len);
        }
        *reply_len = len;
    }
    free(body);
    return 0;
}

int vfu_client_serve_queued(struct vfu_client *c)
{
    while (vfu_io_has_queued(c)) {
        struct vfu_msg *m;
        int r = vfu_io_recv(c, 0, &m);

        if (r == 0) {
            r = vfu_client_dispatch(c, m);
        }
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

int vfu_client_serve(struct vfu_client *c, int timeout_ms)
{
    int64_t deadline = vfu_deadline(timeout_ms);
    int served = 0;

    for (;;) {
        struct vfu_msg *m;
        int r;

        r = vfu_io_recv(c, deadline, &m);
        if (r == -ETIMEDOUT) {
            return served;
        }
        if (r < 0) {
            return r;
        }
        r = vfu_client_dispatch(c, m);
        if (r < 0) {
            return r;
        }
        if (served < INT32_MAX) {
            served++;
        }
    }
}

int vfu_client_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    return fd < 0 ? -errno : fd;
}

int64_t vfu_client_wait_eventfd(struct vfu_client *c, int efd, int timeout_ms)
{
    int64_t deadline = vfu_deadline(timeout_ms);

    for (;;) {
        struct pollfd pfd[2] = {
            {.fd = c->fd, .events = POLLIN},
            {.fd = efd, .events = POLLIN},
        };
        struct vfu_msg *m;
        uint64_t v;
        int r;

        /*
         * Serve the socket before looking at the eventfd: a server posts
         * its DMA_WRITE before it raises the interrupt, and the caller
         * expects to see that data once we return.
         */
        r = vfu_client_serve_queued(c);
        if (r < 0) {
            return r;
        }
        if (c->dead) {
            return c->dead;
        }
        r = poll(pfd, 2, vfu_remaining_ms(deadline));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (r == 0) {
            return 0;
        }
        if (pfd[0].revents != 0) {
            r = vfu_io_recv(c, vfu_deadline(0), &m);
            if (r == 0) {
                r = vfu_client_dispatch(c, m);
            }
            if (r < 0 && r != -ETIMEDOUT) {
                return r;
            }
            continue;
        }
        if (pfd[1].revents & (POLLERR | POLLNVAL)) {
            return -EBADF;
        }
        if (read(efd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            return -errno;
        }
        return v > INT64_MAX ? INT64_MAX : (int64_t)v;
    }
}
