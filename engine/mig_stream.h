/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The migration stream: what STOP_COPY produces and RESUMING consumes.
 * Daemon-owned and versioned; the plugin's own bytes travel inside it.
 *
 * Layout (all integers little-endian):
 *
 *   header (MIG_HEADER_SIZE bytes)
 *     0   8  magic "vfud-mig"
 *     8   4  stream format version (MIG_FORMAT_VERSION)
 *    12   4  header size
 *    16   8  total stream length, this header and the digest included
 *    24  32  plugin name, NUL-padded
 *    56   4  the plugin's state_version when it saved
 *    60   4  flags (0)
 *    64   2  vendor id, 2 device id, 2 subsystem vendor, 2 subsystem id
 *    72   4  class code << 8 | revision
 *    76   4  config space size
 *    80  32  layout fingerprint: SHA-256 of the device's shape (power-on
 *            config space with its write masks, regions and their mmap
 *            areas, interrupt counts)
 *   112   8  bytes of plugin state
 *   120   8  reserved (0)
 *   sections, each: u32 type, u32 flags (bit 0: optional, a reader that
 *   does not know the type may skip it), u64 body length, body
 *     1 CONFIG  the config space bytes
 *     2 IRQ     u32 vector counts per type (5); u32 bits (0 INTx asserted,
 *               1 INTx signalled and waiting for unmask); one pending byte
 *               per vector of every type; the MSI-X table (16 B/vector)
 *     3 REGION  u32 index, u32 0, u64 size, the bytes: memory the daemon
 *               allocated for a region (vfud_region_alloc_mmap)
 *     4 PLUGIN  what save_state() wrote
 *   SHA-256 of everything before it (32 bytes)
 *
 * What is not in it: the client's side of things (DMA windows, eventfds,
 * SET_IRQS masks), which the destination's client sets up itself.
 */
#ifndef VFIOUSERD_MIG_STREAM_H
#define VFIOUSERD_MIG_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include <vfiouserd/plugin.h>

#define MIG_FORMAT_VERSION 1u
#define MIG_HEADER_SIZE 128u
#define MIG_DIGEST_SIZE 32u
/* Largest stream we produce or accept. */
#define MIG_MAX_STREAM (256u << 20)

/* Build the stream of a stopped device (device thread).  *plugin_len gets
 * the size of the plugin's part.  0 or -errno (the plugin's save_state
 * failed, or the stream would exceed MIG_MAX_STREAM); logged. */
int mig_stream_save(vfud_dev *dev, GByteArray **out, uint64_t *plugin_len);

/* Check the first bytes of a stream being received (at least
 * MIG_HEADER_SIZE): magic, format version, sizes.  *total gets the declared
 * length.  0 or -EINVAL with *why set. */
int mig_stream_peek(const uint8_t *data, size_t len, uint64_t *total,
                    const char **why);

/* Validate a whole stream and make it the device's state (device thread,
 * device stopped).  On failure nothing of the device changed: config
 * space, interrupts and region memory are restored if the plugin's
 * load_state refuses.  0 or -errno; logged. */
int mig_stream_load(vfud_dev *dev, const uint8_t *data, size_t len);

/* Bytes of a stream besides the plugin's part (for the size estimate). */
uint64_t mig_stream_overhead(vfud_dev *dev);

#endif
