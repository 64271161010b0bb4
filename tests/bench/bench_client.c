/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The benchmark's hot loop: raw sends and receives on a socket that the
 * client library has connected and negotiated, so that the client costs
 * as little as possible and the server is what is measured.
 *
 * Pipelining: send `depth` requests, then for every reply received send one
 * more until the time is up; then stop sending and collect what is still
 * due.  A round trip is timed from just before the send() that carried the
 * request to just after the recv() that completed its reply (one clock
 * reading per call, shared by every message of that call).
 */
#include "config.h"

#include "bench.h"
#include "vfio-user.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RBUF_SIZE (64u << 10)
#define MAX_DEPTH 1024u

struct pipe_state {
    int fd;
    const struct bench_op *op;
    enum bench_send mode;
    uint8_t req[sizeof(struct vfio_user_header) +
                sizeof(struct vfio_user_region_access) + 8];
    size_t req_len;
    size_t reply_len;   /* the reply we expect, header included */
    uint16_t next_id;   /* of the next request */
    uint16_t expect_id; /* of the next reply: replies come in order */
    uint64_t sent_ns[65536];
    uint8_t *sbuf;      /* MAX_DEPTH requests, for one send() */
    uint32_t *rtt_ns;   /* one per reply */
    size_t nr_rtt, cap_rtt;
};

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double process_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void build_request(struct pipe_state *p)
{
    const struct bench_op *op = p->op;
    bool is_write = op->cmd == VFIO_USER_REGION_WRITE;
    size_t data = is_write ? op->count : 0;
    struct vfio_user_header hdr = {
        .cmd = op->cmd,
        .msg_size = (uint32_t)(sizeof(hdr) + sizeof(struct vfio_user_region_access) + data),
        .flags = VFIO_USER_F_TYPE_COMMAND,
    };
    struct vfio_user_region_access acc = {
        .offset = op->offset,
        .region = op->region,
        .count = op->count,
    };

    memcpy(p->req, &hdr, sizeof(hdr));
    memcpy(p->req + sizeof(hdr), &acc, sizeof(acc));
    memcpy(p->req + sizeof(hdr) + sizeof(acc), op->data, data);
    p->req_len = hdr.msg_size;
    p->reply_len = sizeof(hdr) + sizeof(acc) + (is_write ? 0 : op->count);
}

static int send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Send k requests. */
static int send_requests(struct pipe_state *p, unsigned k)
{
    uint8_t *q = p->sbuf;
    uint64_t now = bench_now_ns();

    for (unsigned i = 0; i < k; i++) {
        uint16_t id = p->next_id++;

        memcpy(q, &id, sizeof(id)); /* msg_id is the header's first field */
        memcpy(q + sizeof(id), p->req + sizeof(id), p->req_len - sizeof(id));
        p->sent_ns[id] = now;
        if (p->mode == BENCH_SEND_EACH) {
            int r = send_all(p->fd, q, p->req_len);

            if (r < 0) {
                return r;
            }
            if (i + 1 < k) {
                now = bench_now_ns();
            }
            continue;
        }
        q += p->req_len;
    }
    if (p->mode == BENCH_SEND_BATCH) {
        return send_all(p->fd, p->sbuf, (size_t)(q - p->sbuf));
    }
    return 0;
}

static int record_rtt(struct pipe_state *p, uint64_t ns)
{
    if (p->nr_rtt == p->cap_rtt) {
        size_t cap = p->cap_rtt != 0 ? p->cap_rtt * 2 : 1u << 16;
        uint32_t *a = realloc(p->rtt_ns, cap * sizeof(*a));

        if (a == NULL) {
            return -ENOMEM;
        }
        p->rtt_ns = a;
        p->cap_rtt = cap;
    }
    p->rtt_ns[p->nr_rtt++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
    return 0;
}

static int check_reply(const struct pipe_state *p, const struct vfio_user_header *h)
{
    if (h->msg_id != p->expect_id || h->cmd != p->op->cmd ||
        (h->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY ||
        (h->flags & VFIO_USER_F_ERROR) || h->msg_size != p->reply_len) {
        fprintf(stderr, "bench: %s: unexpected reply: id %#x (want %#x) cmd %u "
                "flags %#x error %u size %u (want %zu)\n", p->op->name, h->msg_id,
                p->expect_id, h->cmd, h->flags, h->error_no, h->msg_size,
                p->reply_len);
        return -EPROTO;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double percentile_us(const uint32_t *sorted, size_t n, double q)
{
    size_t i;

    if (n == 0) {
        return 0;
    }
    i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i] / 1000.0;
}

static int run_loop(struct pipe_state *p, unsigned depth, double seconds,
                    struct bench_result *res)
{
    static uint8_t rbuf[RBUF_SIZE];
    size_t rtail = 0;
    unsigned inflight = depth;
    uint64_t start = bench_now_ns();
    uint64_t end = start + (uint64_t)(seconds * 1e9);
    uint64_t now = start;
    double cpu0 = process_cpu_s();
    int r;

    r = send_requests(p, depth);
    while (r == 0 && inflight > 0) {
        size_t pos = 0;
        unsigned got = 0;
        ssize_t n = recv(p->fd, rbuf + rtail, sizeof(rbuf) - rtail, 0);

        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            r = n == 0 ? -ECONNRESET : -errno;
            break;
        }
        now = bench_now_ns();
        rtail += (size_t)n;
        while (rtail - pos >= sizeof(struct vfio_user_header)) {
            struct vfio_user_header h;

            memcpy(&h, rbuf + pos, sizeof(h));
            /* Checked on the header alone: a wrong size must not make us
             * wait for bytes that never come. */
            r = check_reply(p, &h);
            if (r < 0 || rtail - pos < h.msg_size) {
                break;
            }
            r = record_rtt(p, now - p->sent_ns[h.msg_id]);
            if (r < 0) {
                break;
            }
            p->expect_id++;
            pos += h.msg_size;
            inflight--;
            got++;
        }
        memmove(rbuf, rbuf + pos, rtail - pos);
        rtail -= pos;
        if (r == 0 && got > 0 && now < end) {
            r = send_requests(p, got);
            inflight += got;
        }
    }
    res->secs = (double)(now - start) / 1e9;
    res->client_cpu_s = process_cpu_s() - cpu0;
    return r;
}

int bench_run(int fd, const struct bench_op *op, unsigned depth, double seconds,
              enum bench_send mode, struct bench_result *res)
{
    struct pipe_state *p;
    int r;

    if (depth == 0 || depth > MAX_DEPTH || op->count > sizeof(op->data)) {
        return -EINVAL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    p->fd = fd;
    p->op = op;
    p->mode = mode;
    p->next_id = p->expect_id = 1;
    build_request(p);
    p->sbuf = malloc(MAX_DEPTH * p->req_len);
    if (p->sbuf == NULL) {
        free(p);
        return -ENOMEM;
    }
    memset(res, 0, sizeof(*res));
    r = run_loop(p, depth, seconds, res);
    if (r == 0) {
        qsort(p->rtt_ns, p->nr_rtt, sizeof(*p->rtt_ns), cmp_u32);
        res->msgs = p->nr_rtt;
        res->p50_us = percentile_us(p->rtt_ns, p->nr_rtt, 0.50);
        res->p99_us = percentile_us(p->rtt_ns, p->nr_rtt, 0.99);
    }
    free(p->rtt_ns);
    free(p->sbuf);
    free(p);
    return r;
}
