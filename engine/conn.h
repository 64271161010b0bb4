/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A client connection: framing of the byte stream into messages (with the
 * fds that came with them), the send queue, and server->client requests
 * (DMA_READ/DMA_WRITE) with their replies.
 *
 * Only the device thread reads the socket and dispatches.  Other threads may
 * send requests (conn_request); they queue bytes under send_lock and wake the
 * device thread, which owns flushing when the socket is full.
 */
#ifndef VFIOUSERD_CONN_H
#define VFIOUSERD_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "vfio-user.h"
#include <vfiouserd/plugin.h>

/* What we advertise in VERSION. */
#define CONN_MAX_MSG_FDS 16u
#define CONN_MAX_XFER (1u << 20)
/* Largest message we accept: a REGION_WRITE / MIG_DATA_WRITE of
 * CONN_MAX_XFER with its headers, with room to spare (QEMU uses +32 too). */
#define CONN_MAX_MSG (sizeof(struct vfio_user_header) + 64 + CONN_MAX_XFER)
/* fds the kernel can pass in one message (SCM_MAX_FD): receiving them all
 * lets us close them instead of the kernel truncating silently. */
#define CONN_RECV_FDS 253u
/* Unsent bytes that make us stop reading the client's requests. */
#define CONN_SEND_HIGH_WATER (8u << 20)
/* A client that reads nothing for this long while we have replies for it
 * is dropped. */
#define CONN_SEND_STALL_MS 10000

struct msg {
    struct vfio_user_header hdr;
    const uint8_t *payload;
    size_t len;
    int *fds; /* a handler takes one by setting its slot to -1 */
    unsigned nr_fds;
    bool fds_shared_read; /* they came in a read with other messages */
    GByteArray *reply; /* reply payload, appended by the handler */
    int reply_fds[2];  /* owned; sent with the reply */
    unsigned nr_reply_fds;
};

/* Append n zeroed bytes to the reply and return them. */
void *msg_reply_alloc(struct msg *m, size_t n);
/* Take fd i of the message (caller owns it now), or -1. */
int msg_take_fd(struct msg *m, unsigned i);

struct conn_chan; /* one socket: the main one, or the twin */

struct conn {
    gint refs;
    vfud_dev *dev;
    struct conn_chan *main;
    struct conn_chan *twin; /* server->client requests, if negotiated */
    bool closing;           /* device thread: stop dispatching */
    bool hangup;            /* drop the client once replies are sent */
    bool adopted;           /* handed over (upgrade, fd store): poll path */
    const char *hangup_why; /* static string, for the log */

    /* negotiated (VERSION) */
    bool versioned;
    unsigned client_max_fds;
    uint64_t client_max_xfer;
    uint64_t client_pgsize;
    bool write_multiple;    /* we accepted REGION_WRITE_MULTI */
    guint dma_warned;       /* dma_verify.c: warnings given (atomic bits) */
    unsigned peer_maps_read; /* dma_verify.c: /proc/PID/maps reads */

    /* peer credentials (SO_PEERCRED) */
    pid_t pid;
    uid_t uid;
    gid_t gid;

    /* server->client requests */
    GMutex req_lock;
    GCond req_cond;
    uint16_t next_id;
    GList *waiters; /* struct conn_waiter * */
    bool dead;      /* no more replies will come */

    GByteArray *scratch; /* reply payload under construction */
    char *cbuf;          /* control buffer for received fds */

    /* counters (device thread writes, anyone reads) */
    guint64 msgs_in, bytes_in, msgs_out, bytes_out, errors;

    /* Set by the process (daemon/fdstore_dev.c): after every read, 1 if
     * the bytes read from the main socket end exactly at a message
     * boundary, else 0.  Shared memory that outlives a crash, so the
     * restarted daemon knows whether the socket is in step. */
    volatile uint32_t *rx_boundary;
    /* The same for the twin socket (the client's replies to our requests):
     * a reply cut in two cannot be resynchronised either. */
    volatile uint32_t *twin_rx_boundary;
};

/* Device thread. */
struct conn *conn_new(vfud_dev *dev, int fd);
/* Device thread: a new fd of the client's /proc/PID/maps when the
 * sandbox's helper is there to open it (Landlock hides it from us), else
 * -errno (-ENOSYS: no helper). */
int conn_open_peer_maps(struct conn *c);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
/* Stop serving: fail waiters, remove sources, close sockets. */
void conn_shutdown(struct conn *c);
/* Has the client hung up?  Then serve what it sent before and return
 * true; the caller tears the connection down (device thread). */
bool conn_finish_if_hung_up(struct conn *c);
/* Make fd the twin channel (after the VERSION reply went out). */
int conn_add_twin(struct conn *c, int fd);

/* Device thread, while it waits for something a plugin thread does: read
 * the sockets for up to timeout_ms and deliver replies to waiting
 * requests.  Commands that arrive stay queued, in order, for later. */
void conn_pump_replies(struct conn *c, int timeout_ms);

/* Any thread but the device thread: send cmd with payload and wait for the
 * reply (up to timeout_ms).  The reply payload is copied into reply (up to
 * reply_len bytes; *got gets its full length).  0 or -errno (an error
 * reply's errno, -ETIMEDOUT, -ENOTCONN). */
int conn_request(struct conn *c, uint16_t cmd, const void *req, size_t req_len,
                 const void *data, size_t data_len, void *reply,
                 size_t reply_len, size_t *got, int timeout_ms);

/* ---- hand-over to a new process (upgrade.c) ---- */

/* An fd that came with unread input, at offset bytes into it. */
struct conn_saved_fd {
    uint64_t offset;
    int fd;
    bool shared_read;
};

/* The socket of the main channel or of the twin (-1: none). */
int conn_socket_fd(const struct conn *c, bool twin);
/* Device thread, between messages: send what is queued for the client
 * (waiting up to timeout_ms), then append the channel's unread bytes to in
 * and dups of their fds to fds (struct conn_saved_fd).  -EBUSY while a
 * request of ours waits for its reply or the client does not read. */
int conn_export_input(struct conn *c, bool twin, GByteArray *in,
                      uint64_t *drain_left, GArray *fds, int timeout_ms);
/* The other side: a fresh connection starts with that input (takes the
 * fds). */
int conn_import_input(struct conn *c, bool twin, const uint8_t *in, size_t len,
                      uint64_t drain_left, const struct conn_saved_fd *fds,
                      unsigned nr_fds);

#endif
