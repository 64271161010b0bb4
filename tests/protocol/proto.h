/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared helpers of the protocol tests: start the built daemon on a testdev
 * (or gpio) device, talk to it with the test client, send malformed
 * messages and look at the raw replies.
 *
 * Every helper asserts (Check) instead of returning errors, so a test reads
 * as the conversation it has with the daemon.  Each test starts its own
 * daemon; Check runs each test in its own process group and kills what is
 * left of it (the daemon included) when the test ends.
 */
#ifndef VFUD_PROTO_H
#define VFUD_PROTO_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <linux/pci_regs.h>

#include "harness.h"
#include "vfu_client.h"

/* testdev BAR0 registers (see the top of plugins/testdev/testdev.c). */
#define TD_ID            0x000
#define TD_SCRATCH       0x010
#define TD_BAR2_TRAPS    0x014
#define TD_IRQ_RAISE     0x018
#define TD_IRQ_RESULT    0x01c
#define TD_INTX_DEASSERT 0x020
#define TD_RESETS        0x024
#define TD_LAST_RESET    0x028
#define TD_IRQ_SIGNAL    0x02c
#define TD_DMA_SRC_LO    0x100
#define TD_DMA_SRC_HI    0x104
#define TD_DMA_DST_LO    0x108
#define TD_DMA_DST_HI    0x10c
#define TD_DMA_LEN       0x110
#define TD_DMA_OP        0x114
#define TD_DMA_FILL      0x118
#define TD_DMA_VECTOR    0x11c
#define TD_DMA_GO        0x120
#define TD_DMA_STATUS    0x124
#define TD_DMA_COUNT     0x128

#define TD_ID_VALUE      0x7e57de01u
#define TD_OP_FILL       0
#define TD_OP_COPY       1
#define TD_OP_TO_DEV     2
#define TD_OP_FROM_DEV   3
#define TD_ST_BUSY       (1u << 0)
#define TD_ST_DONE       (1u << 1)
#define TD_ST_ERROR      (1u << 2)
#define TD_ST_ERRNO(s)   ((s) >> 16)
#define TD_VECTORS       4
#define TD_BAR2_SIZE     0x10000u
#define TD_PBA_OFFSET    0x800u

/* LAST_RESET values: enum vfud_reset_reason + 1. */
#define TD_RESET_DEVICE  1
#define TD_RESET_FLR     2

/* Region and IRQ indices (vfio numbering). */
#define PT_BAR0   0
#define PT_BAR2   2
#define PT_BAR3   3
#define PT_BAR4   4
#define PT_ROM    6
#define PT_CONFIG 7
#define PT_VGA    8
#define PT_NR_REGIONS 9

#define PT_IRQ_INTX 0
#define PT_IRQ_MSI  1
#define PT_IRQ_MSIX 2
#define PT_IRQ_ERR  3
#define PT_IRQ_REQ  4

/* SET_IRQS flag shorthands. */
#define PT_TRIGGER VFIO_IRQ_SET_ACTION_TRIGGER
#define PT_MASK    VFIO_IRQ_SET_ACTION_MASK
#define PT_UNMASK  VFIO_IRQ_SET_ACTION_UNMASK
#define PT_NONE    VFIO_IRQ_SET_DATA_NONE
#define PT_BOOL    VFIO_IRQ_SET_DATA_BOOL
#define PT_EVENTFD VFIO_IRQ_SET_DATA_EVENTFD

/* The fixed parts of wire structs that end in a flexible array, for test
 * messages that put the payload right after them in one struct (a member
 * whose type ends in a flexible array is a GNU extension clang warns
 * about).  Same layout as the protocol's structs. */
struct pt_region_access {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
} __attribute__((packed));
struct pt_write_multi {
    uint64_t wr_cnt;
} __attribute__((packed));
struct pt_dma_rw {
    uint64_t addr;
    uint64_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct pt_region_access) == sizeof(struct vfio_user_region_access),
               "pt_region_access layout");
_Static_assert(sizeof(struct pt_write_multi) == sizeof(struct vfio_user_write_multi),
               "pt_write_multi layout");
_Static_assert(sizeof(struct pt_dma_rw) == sizeof(struct vfio_user_dma_rw),
               "pt_dma_rw layout");

/* ---- the daemon ---- */

/* Start the daemon on devices_config (sections after [daemon]) and wait
 * for the sockets of the devices named (NULL-terminated). */
struct harness *pt_start(const char *devices_config, const char *const *names);
/* One testdev called "t0"; extra_keys (may be NULL) go into its section. */
struct harness *pt_start_testdev(const char *extra_keys);
/* One gpio called "g0". */
struct harness *pt_start_gpio(void);
/* SIGTERM the daemon and insist it exits 0 (under valgrind with
 * --error-exitcode, errors and leaks fail the test here); free. */
void pt_finish(struct harness *h);
/* Wait until the daemon's log contains text (it writes asynchronously). */
bool pt_log_wait(struct harness *h, const char *text, int timeout_ms);
/* Occurrences of text in the daemon's log so far, and waiting for more. */
unsigned pt_log_count(struct harness *h, const char *text);
void pt_log_wait_count(struct harness *h, const char *text, unsigned n);
/* Wait until the daemon has `want` open fds; returns the last count. */
int pt_fd_count_settle(struct harness *h, int want, int timeout_ms);

/* ---- clients ---- */
struct vfu_client *pt_connect(struct harness *h, const char *dev);
/* Connect and negotiate with QEMU 11.1.3's capabilities (json NULL) or
 * the given ones. */
struct vfu_client *pt_open(struct harness *h, const char *dev);
struct vfu_client *pt_open_caps(struct harness *h, const char *dev,
                                const char *json);

/* Close a client and wait until the daemon has noticed (it serves one
 * client at a time and refuses the next until then). */
void pt_close_wait(struct harness *h, struct vfu_client *c);

/* ---- raw messages ---- */
struct pt_reply {
    struct vfio_user_header hdr;
    uint8_t *payload; /* malloc()ed, NULL when empty or on error */
    size_t len;
    int fds[VFU_CLIENT_MAX_RECV_FDS];
    unsigned nr_fds;
};

/* Send one command and take its reply.  Checks what every reply must
 * satisfy: our msg_id and cmd echoed, type REPLY, and for an error reply
 * (trap 20) a bare 16-byte header.  Returns 0 or -error_no. */
int pt_call(struct vfu_client *c, uint16_t cmd, uint32_t flags,
            const void *payload, size_t len, const int *fds, unsigned nr_fds,
            struct pt_reply *r);
void pt_reply_clear(struct pt_reply *r);
/* The command must fail with exactly err (positive errno). */
void pt_expect_err(struct vfu_client *c, uint16_t cmd, const void *payload,
                   size_t len, const int *fds, unsigned nr_fds, int err);
/* The command must succeed with a reply payload of reply_len bytes and no
 * fds. */
void pt_expect_ok(struct vfu_client *c, uint16_t cmd, const void *payload,
                  size_t len, size_t reply_len);
/* Append one message (header + payload) to buf; returns its offset. */
size_t pt_msg_append(GByteArray *buf, uint16_t id, uint16_t cmd,
                     uint32_t flags, const void *payload, size_t len);
/* Append a message whose header claims msg_size but carries len bytes. */
size_t pt_msg_append_sized(GByteArray *buf, uint16_t id, uint16_t cmd,
                           uint32_t flags, uint32_t msg_size,
                           const void *payload, size_t len);
/* Read the reply for id: 0 or -error_no (header in *hdr). */
int pt_recv(struct vfu_client *c, uint16_t id, struct vfio_user_header *hdr);
/* Nothing arrives for ms milliseconds. */
void pt_expect_silence(struct vfu_client *c, int ms);
/* The daemon closes the connection (within 5 s); whatever it sent before
 * is discarded. */
void pt_expect_hangup(struct vfu_client *c);
/* A good message (DEVICE_GET_INFO) is answered as it should be. */
void pt_assert_alive(struct vfu_client *c);

/* ---- registers and config space ---- */
uint32_t pt_rd32(struct vfu_client *c, unsigned region, uint64_t off);
void pt_wr32(struct vfu_client *c, unsigned region, uint64_t off, uint32_t v);
uint32_t pt_bar0(struct vfu_client *c, unsigned reg);
void pt_bar0_set(struct vfu_client *c, unsigned reg, uint32_t v);
uint16_t pt_cfg16(struct vfu_client *c, unsigned off);
void pt_cfg16_set(struct vfu_client *c, unsigned off, uint16_t v);
/* Offset of a (extended) capability in config space, 0 if absent. */
unsigned pt_find_cap(struct vfu_client *c, uint8_t id);
unsigned pt_find_ext_cap(struct vfu_client *c, uint16_t id);
void pt_bus_master(struct vfu_client *c, bool on);
void pt_msix_enable(struct vfu_client *c, bool on);

/* ---- testdev DMA engine ---- */
/* Program and start one DMA (vector >= 4: no interrupt).  The client
 * serves DMA_READ/WRITE while we poll. */
void pt_dma_start(struct vfu_client *c, unsigned op, uint64_t src,
                  uint64_t dst, uint32_t len, uint32_t fill, uint32_t vector);
/* Poll DMA_STATUS until not busy; returns it. */
uint32_t pt_dma_wait(struct vfu_client *c);
/* Both, no interrupt. */
uint32_t pt_dma(struct vfu_client *c, unsigned op, uint64_t src, uint64_t dst,
                uint32_t len, uint32_t fill);

/* ---- eventfds and guest memory ---- */
int pt_eventfd(void);
/* The eventfd's counter after waiting up to ms (0: not signalled). */
uint64_t pt_efd_wait(int efd, int ms);
/* A memfd of size bytes. */
int pt_memfd(size_t size);
/* Attach eventfds to index with SET_IRQS (TRIGGER | EVENTFD). */
void pt_irq_attach(struct vfu_client *c, unsigned index, unsigned start,
                   unsigned count, const int *fds);
void pt_close_fds(int *fds, unsigned n);

/* Register the test cases with a timeout fit for valgrind reruns. */
TCase *pt_tcase(const char *name);
/* main() of every test program. */
int pt_run(Suite *s);

#endif
