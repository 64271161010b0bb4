/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the migration tests (on top of tests/protocol's proto.h):
 * DEVICE_FEATURE calls, migration states, reading and writing streams, a
 * whole migration between two clients, and the test plugins' paths.
 *
 * Like proto.h's, the helpers assert instead of returning errors, except
 * those named *_try, which return 0 or -errno for tests of refusals.
 */
#ifndef VFUD_MIGTEST_H
#define VFUD_MIGTEST_H

#include "proto.h"

#define MT_ERROR        VFIO_USER_DEVICE_STATE_ERROR
#define MT_STOP         VFIO_USER_DEVICE_STATE_STOP
#define MT_RUNNING      VFIO_USER_DEVICE_STATE_RUNNING
#define MT_STOP_COPY    VFIO_USER_DEVICE_STATE_STOP_COPY
#define MT_RESUMING     VFIO_USER_DEVICE_STATE_RESUMING
#define MT_RUNNING_P2P  VFIO_USER_DEVICE_STATE_RUNNING_P2P
#define MT_PRE_COPY     VFIO_USER_DEVICE_STATE_PRE_COPY
#define MT_PRE_COPY_P2P VFIO_USER_DEVICE_STATE_PRE_COPY_P2P

#define MT_GET   VFIO_USER_DEVICE_FEATURE_GET
#define MT_SET   VFIO_USER_DEVICE_FEATURE_SET
#define MT_PROBE VFIO_USER_DEVICE_FEATURE_PROBE

/* testdev's migration fault register (see testdev.c). */
#define TD_MIG_FAULT       0x030
#define TD_FAULT_STOP      (1u << 0)
#define TD_FAULT_RESUME    (1u << 1)
#define TD_FAULT_SAVE      (1u << 2)
#define TD_FAULT_LOAD      (1u << 3)

const char *mt_state_name(uint32_t s);

/* DEVICE_FEATURE with flags and data; the reply payload goes to *r. */
int mt_feature_try(struct vfu_client *c, uint32_t argsz, uint32_t flags,
                   const void *data, size_t len, struct pt_reply *r);

int mt_set_try(struct vfu_client *c, uint32_t state);
void mt_set(struct vfu_client *c, uint32_t state);
uint32_t mt_get(struct vfu_client *c);

/* MIG_DATA_READ of size bytes: appended to out (may be NULL), count
 * returned, or -errno. */
int mt_read_try(struct vfu_client *c, uint32_t size, GByteArray *out);
int mt_write_try(struct vfu_client *c, const void *data, uint32_t size);
/* All of the stream (the device is in a saving state). */
GByteArray *mt_read_all(struct vfu_client *c);
void mt_write_all(struct vfu_client *c, const uint8_t *data, size_t len);

/* SET STOP_COPY on src and return its whole stream. */
GByteArray *mt_save(struct vfu_client *src);
/* RESUMING, write, SET STOP: 0 or the SET's error. */
int mt_load_try(struct vfu_client *dst, const uint8_t *data, size_t len);

/* The whole migration between two clients, as a VMM would do it: dst to
 * RESUMING, src to STOP_COPY, copy, dst STOP then RUNNING, src STOP.
 * Returns the stream size; *stopped_ms (may be NULL) the time from the
 * source stopping to the destination running. */
size_t mt_migrate(struct vfu_client *src, struct vfu_client *dst,
                  double *stopped_ms);

/* Paths of the test plugins (tests/migration/.libs) and the tool. */
char *mt_plugin_path(const char *name);
const char *mt_tool_path(void);
/* Run the tool with args (NULL-terminated, after the program name);
 * returns the exit status, *output (may be NULL) its stdout+stderr. */
int mt_run_tool(const char *const *args, char **output);

/* A memfd of size bytes mapped here, to DMA_MAP into several daemons:
 * "guest memory" shared by source and destination. */
struct mt_mem {
    int fd;
    uint8_t *p;
    size_t size;
};
void mt_mem_new(struct mt_mem *m, size_t size);
void mt_mem_map(struct vfu_client *c, const struct mt_mem *m, uint64_t iova);
void mt_mem_free(struct mt_mem *m);

#endif
