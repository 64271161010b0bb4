/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of the test client, shared by its files:
 *   vfu_client.c      lifecycle and the "wait for my reply" loop
 *   vfu_client_io.c   framing: one message in, one message out, fds
 *   vfu_client_mem.c  guest memory and serving the server's DMA requests
 *   vfu_client_cmd.c  VERSION and the per-command helpers
 */
#ifndef VFU_CLIENT_PRIV_H
#define VFU_CLIENT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vfu_client.h"

/* Defaults the protocol gives to capabilities a peer leaves out. */
#define VFU_CLIENT_DEFAULT_MAX_XFER (1024u * 1024u)
#define VFU_CLIENT_DEFAULT_MAX_FDS  1u

/*
 * The largest message we accept.  QEMU refuses a max_data_xfer_size above
 * 64 MiB, so nothing legitimate is bigger than that plus a small header;
 * a larger msg_size means the stream is garbage.
 */
#define VFU_CLIENT_MAX_MSG ((64u << 20) + 4096u)

/* One received message with the fds that came with its first bytes. */
struct vfu_msg {
    struct vfio_user_header hdr;
    uint8_t *body; /* msg_size - 16 bytes, NULL when empty */
    size_t len;
    int fds[VFU_CLIENT_MAX_RECV_FDS];
    unsigned nr_fds;
    bool fds_truncated; /* MSG_CTRUNC: the sender passed more than we hold */
    struct vfu_msg *next;
};

struct vfu_mem {
    uint64_t iova;
    size_t size;
    uint8_t *ptr;
    int fd;
    size_t lead; /* bytes mapped before ptr (an unaligned file offset) */
};

struct vfu_client {
    int fd;
    uint16_t next_id;
    int timeout_ms;
    /*
     * 0 while the stream is usable; otherwise the negative errno every
     * further call returns (the server hung up, or a message was cut in the
     * middle so we no longer know where the next one starts).
     */
    int dead;
    bool debug;

    /* What the server told us in VERSION (its receive limits). */
    uint64_t server_max_xfer;
    unsigned server_max_fds;
    /* What we told the server (our receive limit for DMA data). */
    uint64_t own_max_xfer;

    /* Messages read while a send was blocked, oldest first. */
    struct vfu_msg *queue_head;
    struct vfu_msg *queue_tail;

    struct vfu_mem *mem;
    size_t nr_mem;

    int dma_reply_layout; /* enum vfu_dma_reply_layout */
    uint64_t dma_reads;
    uint64_t dma_writes;
    uint64_t req_errors;
};

/* ---- vfu_client_io.c ---- */
int64_t vfu_now_ms(void);
/* Milliseconds left until deadline (-1 = never) for poll(). */
int vfu_remaining_ms(int64_t deadline);
int64_t vfu_deadline(int timeout_ms);

/* Sends header + payload as one message; fds ride with the first byte. */
int vfu_io_send(struct vfu_client *c, const struct vfio_user_header *hdr,
                const void *payload, size_t len, const int *fds,
                unsigned nr_fds);
/* Same, payload gathered from parts (at most 3). */
int vfu_io_sendv(struct vfu_client *c, const struct vfio_user_header *hdr,
                 const struct iovec *parts, int nr_parts, const int *fds,
                 unsigned nr_fds);
int vfu_io_send_bytes(struct vfu_client *c, const void *buf, size_t len,
                      const int *fds, unsigned nr_fds);
/*
 * Next message: queued one first, else read from the socket, waiting for
 * its first byte until deadline (-ETIMEDOUT, stream still fine) and for the
 * rest for at most the client timeout (stream broken if it never comes).
 */
int vfu_io_recv(struct vfu_client *c, int64_t deadline, struct vfu_msg **out);
bool vfu_io_has_queued(const struct vfu_client *c);
void vfu_msg_free(struct vfu_msg *m);
void vfu_io_drop_queue(struct vfu_client *c);
void vfu_io_trace(const struct vfu_client *c, const char *dir,
                  const struct vfio_user_header *hdr, unsigned nr_fds);

/* ---- vfu_client_mem.c ---- */
/* Answers one server->client command (consumes nothing of m). */
int vfu_mem_serve(struct vfu_client *c, struct vfu_msg *m);
void vfu_mem_release(struct vfu_client *c);

/* ---- vfu_client.c ---- */
/* Handles a message that is not the reply we wait for: serves commands,
 * fails on stray replies.  Takes ownership of m. */
int vfu_client_dispatch(struct vfu_client *c, struct vfu_msg *m);
/* Serves the messages queued during a blocked send (no socket reads). */
int vfu_client_serve_queued(struct vfu_client *c);

#endif
