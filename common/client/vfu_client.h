/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vfio-user client for tests, benchmarks and tools: speaks the client side
 * of the protocol over a UNIX socket, owns "guest memory" it can hand to the
 * server with DMA_MAP, and answers the server's DMA_READ/DMA_WRITE from that
 * memory while it waits for its own replies.
 *
 * Not thread-safe: one thread drives one client.  Every function returns 0
 * (or a count) on success and a negative errno on failure; a failed command
 * returns minus the errno of the server's error reply.
 */
#ifndef VFU_CLIENT_H
#define VFU_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfio-user.h"

struct vfu_client;

/* fds the client accepts with one message; more fail the reply with
 * -EMSGSIZE (the kernel drops the excess: MSG_CTRUNC). */
#define VFU_CLIENT_MAX_RECV_FDS 16

/* The capabilities QEMU 11.1.3 sends (captured). */
#define VFU_CLIENT_QEMU_CAPS                                                   \
    "{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, "            \
    "\"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, "              \
    "\"migration\": {\"max_bitmap_size\": 268435456, \"pgsize\": 4096}, "     \
    "\"write_multiple\": true}}"

/* ---- connection ---- */
int vfu_client_connect(const char *path, struct vfu_client **out);
/* Wraps a connected socket (takes ownership). */
struct vfu_client *vfu_client_from_fd(int fd);
void vfu_client_close(struct vfu_client *c); /* NULL ok; unmaps, closes */
int vfu_client_fd(const struct vfu_client *c);

/* VERSION with the given JSON (NULL: VFU_CLIENT_QEMU_CAPS).  On success,
 * *reply_json (if not NULL) receives the server's JSON (free()), and the
 * server's max_data_xfer_size / max_msg_fds are remembered. */
int vfu_client_negotiate(struct vfu_client *c, const char *json,
                         char **reply_json);
/* Same with an explicit version (to test the server's refusal).  json ""
 * sends no JSON at all.  The reply must have the same major and a minor
 * not above ours; its capabilities are checked against QEMU's limits
 * (max_msg_fds <= 16, max_data_xfer_size <= 64 MiB, page sizes >= 4096):
 * -EPROTO otherwise. */
int vfu_client_negotiate_version(struct vfu_client *c, uint16_t major,
                                 uint16_t minor, const char *json,
                                 char **reply_json);
uint64_t vfu_client_server_max_xfer(const struct vfu_client *c);
unsigned vfu_client_server_max_fds(const struct vfu_client *c);
/* Milliseconds to wait for a reply before -ETIMEDOUT (default 5000; -1
 * waits forever).  A message that stops half-way, a hang-up (-ECONNRESET)
 * or a garbled header leaves the client dead: every later call fails with
 * the same error. */
void vfu_client_set_timeout(struct vfu_client *c, int ms);

/* How this client lays out its replies to the server's DMA requests: the
 * protocol's (default), or the variants other clients send (PROTOCOL.md
 * trap 22), to test that the server tolerates them. */
enum vfu_dma_reply_layout {
    VFU_DMA_REPLY_SPEC,      /* address u64, count u64 (+ data) */
    VFU_DMA_REPLY_COUNT32,   /* address u64, count u32 (+ data at 12) */
    VFU_DMA_REPLY_QEMU_10_1, /* DMA_READ as COUNT32, DMA_WRITE bare */
};
void vfu_client_set_dma_reply_layout(struct vfu_client *c,
                                     enum vfu_dma_reply_layout layout);

/* ---- raw messages ---- */
/* Send one message; *id_out gets the msg_id used.  fds go in the same
 * sendmsg as the first byte. */
int vfu_client_send(struct vfu_client *c, uint16_t cmd, uint32_t flags,
                    const void *payload, size_t len, const int *fds,
                    unsigned nr_fds, uint16_t *id_out);
/* Bytes exactly as given (for malformed-message tests). */
int vfu_client_send_raw(struct vfu_client *c, const void *buf, size_t len,
                        const int *fds, unsigned nr_fds);
/* Wait for the reply to id, serving server requests meanwhile.  *payload is
 * malloc()ed (free it), received fds are stored in fds[] (up to *nr_fds,
 * extra ones closed) and *nr_fds updated.  Returns 0, or -errno from an
 * error reply (the header is still returned in *hdr if not NULL). */
int vfu_client_recv_reply(struct vfu_client *c, uint16_t id,
                          struct vfio_user_header *hdr, void **payload,
                          size_t *len, int *fds, unsigned *nr_fds);
/* send + recv_reply; reply payload copied into reply (up to *reply_len,
 * which is updated to the full reply payload length).  A reply for another
 * command, or for an id we are not waiting for, is -EPROTO. */
int vfu_client_call(struct vfu_client *c, uint16_t cmd, const void *req,
                    size_t req_len, const int *fds, unsigned nr_fds,
                    void *reply, size_t *reply_len, int *rfds,
                    unsigned *nr_rfds);
/* Serve server->client requests (DMA_READ/DMA_WRITE) for up to timeout_ms
 * (0: only what is already there; -1: forever).  Returns the number served
 * or -errno (-ECONNRESET when the server hung up). */
int vfu_client_serve(struct vfu_client *c, int timeout_ms);
/* Count of DMA_READ / DMA_WRITE requests served successfully so far. */
void vfu_client_dma_stats(const struct vfu_client *c, uint64_t *reads,
                          uint64_t *writes);
/* Count of server requests answered with an error (EFAULT outside guest
 * memory, E2BIG over our max_data_xfer_size, EINVAL malformed or with fds,
 * ENOSYS unknown command); NO_REPLY ones are counted too. */
uint64_t vfu_client_request_errors(const struct vfu_client *c);

/* ---- guest memory ---- */
/* Create size bytes of memfd-backed "guest RAM" at guest address iova.  It is
 * DMA_MAPped with its fd when share is true, else without an fd (the server
 * must use DMA_READ/DMA_WRITE, which this client serves from it).  Returns a
 * pointer to the client's own mapping, or NULL (errno set; EEXIST if it
 * overlaps earlier memory, or the server's error for DMA_MAP).  The memory
 * lives until vfu_client_close(). */
void *vfu_client_add_memory(struct vfu_client *c, uint64_t iova, size_t size,
                            bool share);
/* The same memory DMA_MAPped with its fd, but mapped privately by the
 * client (MAP_PRIVATE), as QEMU 11 does with memory-backend-memfd/-file
 * share=off: what the client writes after the map is not in the file the
 * server got.  The server must notice and use DMA_READ/DMA_WRITE. */
void *vfu_client_add_memory_private(struct vfu_client *c, uint64_t iova,
                                    size_t size);
/* Serve the server's DMA_READ/DMA_WRITE for [iova, iova + size) from fd at
 * offset (mapped shared; fd stays the caller's), without sending DMA_MAP:
 * for tests that send their own maps.  0 or -errno. */
int vfu_client_track_memory(struct vfu_client *c, uint64_t iova, size_t size,
                            int fd, uint64_t offset);
/* The client's view of guest address iova (NULL if not inside memory). */
void *vfu_client_guest_ptr(struct vfu_client *c, uint64_t iova, size_t len);

/* ---- commands ---- */
int vfu_client_dma_map(struct vfu_client *c, uint64_t iova, uint64_t size,
                       int fd, uint64_t offset, uint32_t prot_flags);
int vfu_client_dma_unmap(struct vfu_client *c, uint64_t iova, uint64_t size,
                         uint32_t flags);
int vfu_client_device_info(struct vfu_client *c,
                           struct vfio_user_device_info *info);
/* caps (may be NULL) receives up to caps_len bytes of the capability chain:
 * the bytes after the 32-byte info, so the capability at wire offset
 * info->cap_offset is at caps + cap_offset - 32.  *fd gets the region fd or
 * -1 (fd NULL: closed).  Retries once with the argsz the server asks for,
 * like QEMU, closing any fd of the short reply.  Returns the number of caps
 * bytes the server sent (may exceed caps_len).  -EPROTO if the reply is
 * longer than argsz, has more than one fd, or a chain leaving the reply. */
int vfu_client_region_info(struct vfu_client *c, unsigned index,
                           struct vfio_user_region_info *info, void *caps,
                           size_t caps_len, int *fd);
int vfu_client_irq_info(struct vfu_client *c, unsigned index,
                        struct vfio_user_irq_info *info);
/* flags: VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_*; fds for DATA_EVENTFD
 * (nr_fds may be 0 to detach), bools for DATA_BOOL (count bytes).
 * An eventfd array (nr_fds == count) longer than the server's max_msg_fds
 * is split into several messages, as QEMU does. */
int vfu_client_set_irqs(struct vfu_client *c, unsigned index, uint32_t flags,
                        unsigned start, unsigned count, const int *fds,
                        unsigned nr_fds, const uint8_t *bools);
int vfu_client_region_read(struct vfu_client *c, unsigned region,
                           uint64_t offset, void *buf, uint32_t count);
/* region_read fails with -EPROTO unless the reply's count and length match
 * the request; both refuse count > server max_data_xfer_size (-E2BIG).
 * posted: NO_REPLY, returns once sent. */
int vfu_client_region_write(struct vfu_client *c, unsigned region,
                            uint64_t offset, const void *buf, uint32_t count,
                            bool posted);
int vfu_client_reset(struct vfu_client *c);

/* Config-space shortcuts (region 7). */
int vfu_client_cfg_read32(struct vfu_client *c, unsigned off, uint32_t *v);
int vfu_client_cfg_write32(struct vfu_client *c, unsigned off, uint32_t v);
int vfu_client_cfg_read16(struct vfu_client *c, unsigned off, uint16_t *v);
int vfu_client_cfg_write16(struct vfu_client *c, unsigned off, uint16_t v);
int vfu_client_cfg_read8(struct vfu_client *c, unsigned off, uint8_t *v);
int vfu_client_cfg_write8(struct vfu_client *c, unsigned off, uint8_t v);

/* ---- eventfds ---- */
int vfu_client_eventfd(void); /* EFD_CLOEXEC|EFD_NONBLOCK */
/* Wait until efd is signalled, serving server requests meanwhile (those
 * already on the socket first: a DMA_WRITE posted before the interrupt is
 * in guest memory on return); returns the counter (>0), 0 on timeout, or
 * -errno. */
int64_t vfu_client_wait_eventfd(struct vfu_client *c, int efd, int timeout_ms);

#endif
