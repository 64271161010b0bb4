/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user wire format: packed structs named after the protocol
 * (docs/interop/vfio-user.rst).  Integers are host byte order.  Shared by
 * the daemon and the test client; nothing here allocates or validates.
 */
#ifndef VFIOUSERD_VFIO_USER_H
#define VFIOUSERD_VFIO_USER_H

#include <stdint.h>
#include <linux/vfio.h>

#define VFIO_USER_MAJOR 0
#define VFIO_USER_MINOR 0

enum vfio_user_command {
    VFIO_USER_VERSION = 1,
    VFIO_USER_DMA_MAP = 2,
    VFIO_USER_DMA_UNMAP = 3,
    VFIO_USER_DEVICE_GET_INFO = 4,
    VFIO_USER_DEVICE_GET_REGION_INFO = 5,
    VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
    VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
    VFIO_USER_DEVICE_SET_IRQS = 8,
    VFIO_USER_REGION_READ = 9,
    VFIO_USER_REGION_WRITE = 10,
    VFIO_USER_DMA_READ = 11,
    VFIO_USER_DMA_WRITE = 12,
    VFIO_USER_DEVICE_RESET = 13,
    VFIO_USER_DIRTY_PAGES = 14,
    VFIO_USER_REGION_WRITE_MULTI = 15,
    VFIO_USER_DEVICE_FEATURE = 16,
    VFIO_USER_MIG_DATA_READ = 17,
    VFIO_USER_MIG_DATA_WRITE = 18,
    VFIO_USER_MAX_COMMAND = 19,
};

#define VFIO_USER_F_TYPE_MASK    0xfu
#define VFIO_USER_F_TYPE_COMMAND 0u
#define VFIO_USER_F_TYPE_REPLY   1u
#define VFIO_USER_F_NO_REPLY     0x10u
#define VFIO_USER_F_ERROR        0x20u

struct vfio_user_header {
    uint16_t msg_id;
    uint16_t cmd;
    uint32_t msg_size; /* including this header */
    uint32_t flags;
    uint32_t error_no;
} __attribute__((packed));

/* VERSION: followed by NUL-terminated JSON. */
struct vfio_user_version {
    uint16_t major;
    uint16_t minor;
    char data[];
} __attribute__((packed));

/* DMA_MAP */
#define VFIO_USER_F_DMA_REGION_READ  (1u << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1u << 1)

struct vfio_user_dma_map {
    uint32_t argsz;
    uint32_t flags;
    uint64_t offset;
    uint64_t addr;
    uint64_t size;
} __attribute__((packed));

/* DMA_UNMAP */
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP_ (1u << 0)
#define VFIO_USER_F_DMA_UNMAP_ALL            (1u << 1)

struct vfio_user_bitmap {
    uint64_t pgsize;
    uint64_t size;
    char data[];
} __attribute__((packed));

struct vfio_user_dma_unmap {
    uint32_t argsz;
    uint32_t flags;
    uint64_t addr;
    uint64_t size;
} __attribute__((packed));

/* DEVICE_GET_INFO */
struct vfio_user_device_info {
    uint32_t argsz;
    uint32_t flags;
    uint32_t num_regions;
    uint32_t num_irqs;
} __attribute__((packed));

/* DEVICE_GET_REGION_INFO: struct vfio_region_info (32 bytes) + caps */
struct vfio_user_region_info {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t cap_offset;
    uint64_t size;
    uint64_t offset;
} __attribute__((packed));

struct vfio_user_cap_header {
    uint16_t id;
    uint16_t version;
    uint32_t next;
} __attribute__((packed));

struct vfio_user_sparse_mmap_area {
    uint64_t offset;
    uint64_t size;
} __attribute__((packed));

struct vfio_user_cap_sparse_mmap {
    struct vfio_user_cap_header header;
    uint32_t nr_areas;
    uint32_t reserved;
    struct vfio_user_sparse_mmap_area areas[];
} __attribute__((packed));

/* DEVICE_GET_REGION_IO_FDS */
struct vfio_user_region_io_fds_request {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
} __attribute__((packed));

struct vfio_user_sub_region_ioeventfd {
    uint64_t offset;
    uint64_t size;
    uint32_t fd_index;
    uint32_t type;
    uint32_t flags;
    uint32_t padding;
    uint64_t datamatch;
} __attribute__((packed));

/* DEVICE_GET_IRQ_INFO */
struct vfio_user_irq_info {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
} __attribute__((packed));

/* DEVICE_SET_IRQS: followed by count bytes for DATA_BOOL */
struct vfio_user_irq_set {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t start;
    uint32_t count;
    uint8_t data[];
} __attribute__((packed));

/* REGION_READ / REGION_WRITE */
struct vfio_user_region_access {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    uint8_t data[];
} __attribute__((packed));

/* REGION_WRITE_MULTI */
#define VFIO_USER_MULTI_DATA 8
struct vfio_user_write_multi_entry {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    uint8_t data[VFIO_USER_MULTI_DATA];
} __attribute__((packed));

struct vfio_user_write_multi {
    uint64_t wr_cnt;
    struct vfio_user_write_multi_entry wrs[];
} __attribute__((packed));

/* DMA_READ / DMA_WRITE (server -> client) */
struct vfio_user_dma_rw {
    uint64_t addr;
    uint64_t count;
    uint8_t data[];
} __attribute__((packed));

/* DEVICE_FEATURE */
struct vfio_user_device_feature {
    uint32_t argsz;
    uint32_t flags;
    uint8_t data[];
} __attribute__((packed));

/* MIG_DATA_READ / MIG_DATA_WRITE */
struct vfio_user_mig_data {
    uint32_t argsz;
    uint32_t size;
    uint8_t data[];
} __attribute__((packed));

/* ---- Migration v2 (§2.13-2.15) ----
 * Named with a VFIO_USER_ prefix: older <linux/vfio.h> lack PRE_COPY and
 * MIG_DATA_SIZE, newer ones define the same values under VFIO_ names. */
#define VFIO_USER_DEVICE_FEATURE_MASK  0xffffu
#define VFIO_USER_DEVICE_FEATURE_GET   (1u << 16)
#define VFIO_USER_DEVICE_FEATURE_SET   (1u << 17)
#define VFIO_USER_DEVICE_FEATURE_PROBE (1u << 18)

enum vfio_user_device_feature_index {
    VFIO_USER_DEVICE_FEATURE_MIGRATION = 1,
    VFIO_USER_DEVICE_FEATURE_MIG_DEVICE_STATE = 2,
    VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_START = 6,
    VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_STOP = 7,
    VFIO_USER_DEVICE_FEATURE_DMA_LOGGING_REPORT = 8,
    /* Kernel VFIO's data-size query; not in the vfio-user spec text. */
    VFIO_USER_DEVICE_FEATURE_MIG_DATA_SIZE = 9,
};

/* MIGRATION (GET): which optional states exist. */
#define VFIO_USER_MIGRATION_STOP_COPY (1u << 0)
#define VFIO_USER_MIGRATION_P2P       (1u << 1)
#define VFIO_USER_MIGRATION_PRE_COPY  (1u << 2)

struct vfio_user_device_feature_migration {
    uint64_t flags;
} __attribute__((packed));

enum vfio_user_device_mig_state {
    VFIO_USER_DEVICE_STATE_ERROR = 0,
    VFIO_USER_DEVICE_STATE_STOP = 1,
    VFIO_USER_DEVICE_STATE_RUNNING = 2,
    VFIO_USER_DEVICE_STATE_STOP_COPY = 3,
    VFIO_USER_DEVICE_STATE_RESUMING = 4,
    VFIO_USER_DEVICE_STATE_RUNNING_P2P = 5,
    VFIO_USER_DEVICE_STATE_PRE_COPY = 6,
    VFIO_USER_DEVICE_STATE_PRE_COPY_P2P = 7,
    VFIO_USER_DEVICE_NR_STATES = 8,
};

/* MIG_DEVICE_STATE (GET, SET). */
struct vfio_user_device_feature_mig_state {
    uint32_t device_state;
    uint32_t data_fd; /* unused: data goes with MIG_DATA_READ/WRITE */
} __attribute__((packed));

/* DMA_LOGGING_START (SET): followed by num_ranges ranges. */
struct vfio_user_device_feature_dma_logging_control {
    uint64_t page_size;
    uint32_t num_ranges; /* 0: log every address */
    uint32_t reserved;
} __attribute__((packed));

struct vfio_user_device_feature_dma_logging_range {
    uint64_t iova;
    uint64_t length;
} __attribute__((packed));

/* DMA_LOGGING_REPORT (GET): the reply adds the bitmap (u64 words) after
 * these 24 bytes; page n of the range is bit n % 64 of word n / 64. */
struct vfio_user_device_feature_dma_logging_report {
    uint64_t iova;
    uint64_t length;
    uint64_t page_size;
} __attribute__((packed));

/* MIG_DATA_SIZE (GET): bytes STOP_COPY would produce (an estimate while
 * the device runs). */
struct vfio_user_device_feature_mig_data_size {
    uint64_t stop_copy_length;
} __attribute__((packed));

_Static_assert(sizeof(struct vfio_user_header) == 16, "header");
_Static_assert(sizeof(struct vfio_user_dma_map) == 32, "dma_map");
_Static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "dma_unmap");
_Static_assert(sizeof(struct vfio_user_region_info) == 32, "region_info");
_Static_assert(sizeof(struct vfio_user_irq_set) == 20, "irq_set");
_Static_assert(sizeof(struct vfio_user_region_access) == 16, "region_access");
_Static_assert(sizeof(struct vfio_user_write_multi_entry) == 24, "multi");
_Static_assert(sizeof(struct vfio_user_dma_rw) == 16, "dma_rw");
_Static_assert(sizeof(struct vfio_user_device_feature_dma_logging_control) == 16,
               "dma_logging_control");
_Static_assert(sizeof(struct vfio_user_device_feature_dma_logging_report) == 24,
               "dma_logging_report");

const char *vfio_user_command_name(unsigned cmd);

#endif
