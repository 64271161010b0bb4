/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe fuzz target (fuzz_nvme.c): its input format, shared with the
 * seed generator (fuzz_nvme_seeds.c), and what its files tell each other.
 *
 * An input is one setup byte and then operations, each an op byte (taken
 * modulo NF_NR_OPS) and its arguments; integers are little endian and an
 * input that ends early reads as zeroes, so every byte string is valid.
 *
 *   setup byte
 *     bit 0     no standard bring-up: the input programs AQA/ASQ/ACQ/CC
 *               itself (otherwise a 32-entry admin queue pair at NF_ASQ and
 *               NF_ACQ, CC.EN with 64/16-byte entries, as Linux does)
 *     bit 1     128 I/O queue pairs (otherwise 4)
 *     bits 2-3  queue-entries (MQES + 1): 64, 2, 4096, 17
 *     bit 4     doorbells=poll (otherwise shadow)
 *     bit 5     namespace 2 without a volatile write cache
 *
 *   addr  (an address in guest memory, or not: see enum nf_addr_base)
 *     u8 sel, u32 off; base sel & 7; NF_ADDR_RAW64 reads a u32 high half
 *     sel & 0x08  align down to a page (4 KiB)
 *     sel & 0x10  align down to a quadword
 *     sel & 0x20  inside a PRP list or an SGL segment: where that is
 *                 written plus off (signed) instead, so that lists can
 *                 point into themselves
 *
 * Namespaces: 1 is the null back-end (64 MiB, 512-byte blocks), 2 a 4 MiB
 * file with io_uring (512), 3 the same file read-only (4096-byte blocks).
 * Guest memory is three DMA windows (enum nf_window); everything else is
 * outside it.
 */
#ifndef VFUD_FUZZ_NVME_H
#define VFUD_FUZZ_NVME_H

#include <stddef.h>
#include <stdint.h>

#define NF_SETUP_NO_BRINGUP   0x01
#define NF_SETUP_MANY_QUEUES  0x02
#define NF_SETUP_ENTRIES(s)   (((s) >> 2) & 3)
#define NF_SETUP_POLL         0x10
#define NF_SETUP_NO_WCACHE    0x20

/* Guest memory: W0 and W1 touch (a buffer may straddle them), W2 is
 * reachable by DMA messages only (no host pointer: bounce buffers). */
enum nf_window { NF_W0, NF_W1, NF_W2, NF_NR_WINDOWS };
#define NF_W0_IOVA  0x100000ull
#define NF_W0_SIZE  0x100000ull
#define NF_W1_IOVA  0x200000ull
#define NF_W1_SIZE  0x40000ull
#define NF_W2_IOVA  0x400000ull
#define NF_W2_SIZE  0x40000ull
#define NF_HOLE     0x800000ull /* nothing is mapped from here */

/* Where the standard bring-up puts the admin queues (32 entries). */
#define NF_ASQ      NF_W0_IOVA
#define NF_ACQ      (NF_W0_IOVA + 0x1000)
#define NF_ADMIN_ENTRIES 32

enum nf_addr_base {
    NF_ADDR_W0,       /* W0 + off % size */
    NF_ADDR_W1,
    NF_ADDR_W2,
    NF_ADDR_W0_END,   /* end of W0 - off % 8 KiB: runs into W1 */
    NF_ADDR_W1_END,   /* end of W1 - off % 8 KiB: runs out of memory */
    NF_ADDR_W2_END,
    NF_ADDR_HOLE,     /* NF_HOLE + off */
    NF_ADDR_RAW64,    /* off | u32 << 32 */
};
#define NF_ADDR_PAGE  0x08
#define NF_ADDR_QWORD 0x10
#define NF_ADDR_SELF  0x20

enum nf_op {
    /* u8 size (1 << (size & 3) bytes), u16 offset (modulo the 16 KiB BAR,
     * cut to fit), u64 value: a BAR0 write, doorbells included */
    NF_OP_REG_WRITE,
    /* u8 size, u16 offset */
    NF_OP_REG_READ,
    /* u16 slot (modulo 1024), u32 value: a doorbell, whatever it means */
    NF_OP_DOORBELL,
    /* u8 flags (NF_CMD_*), 64-byte SQE, then an addr for each of
     * NF_CMD_DPTR1/2 set: submitted on the admin queue */
    NF_OP_ADMIN,
    /* u8 qid, then as NF_OP_ADMIN: on I/O queue qid (skipped if absent) */
    NF_OP_IO,
    /* addr, u16 len (at most NF_MEM_WRITE_MAX), len bytes: guest memory
     * writes (the parts outside every window are dropped) */
    NF_OP_MEM_WRITE,
    /* addr list, u8 n (1-64), addr first, u8 stride: a PRP list of n
     * entries first + i * stride pages, written at list */
    NF_OP_PRP_LIST,
    /* addr at, u8 n (1-32), then n times u8 type, u32 len, addr: SGL
     * descriptors written at at */
    NF_OP_SGL,
    /* u8 qid (0xff: every CQ), u8 flags (bit 0: consume but do not
     * report the new head): the driver reaps completions */
    NF_OP_REAP,
    /* CC.EN=0 if enabled, then the standard bring-up */
    NF_OP_BRINGUP,
    /* u8 window (bit 7: swapped): unmap it (the device must drop every
     * reference), or map it again (zeroed) if unmapped; swapped, W0 or W1
     * come back message-only and W2 with a host pointer */
    NF_OP_WINDOW,
    /* u8 on */
    NF_OP_BUS_MASTER,
    /* u8 mode: what the guest enabled (MSI-X, MSI, INTx, nothing) */
    NF_OP_IRQ_MODE,
    /* u8 why: device reset (0) or FLR (1) */
    NF_OP_RESET,
    NF_NR_OPS
};

/* NF_OP_ADMIN / NF_OP_IO flags */
#define NF_CMD_DPTR1    0x01 /* PRP1 / SGL address (or queue base) := addr */
#define NF_CMD_DPTR2    0x02 /* PRP2 := addr */
#define NF_CMD_NO_RING  0x04 /* queue it; a later command rings */
#define NF_CMD_NO_REAP  0x08 /* leave the completions in the CQ */
#define NF_CMD_MMIO     0x10 /* ring the real doorbell, not the shadow */

#define NF_MEM_WRITE_MAX 4096
#define NF_PRP_LIST_MAX  64
#define NF_SGL_MAX       32
#define NF_WINDOW_SWAP   0x80

/* Namespace 2's backing file: made once per process. */
#define NF_FILE_SIZE (4u << 20)

#endif
