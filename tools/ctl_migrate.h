/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Move a device's state from one vfiouserd socket to another
 * (vfiouserctl migrate SRC DST): the tool is the vfio-user client of both
 * devices, so neither may have another client attached.
 *
 * The destination goes to RESUMING first (its device must be configured
 * like the source's: same plugin, same layout); then the source goes to
 * STOP_COPY (through PRE_COPY if asked), its stream is copied chunk by
 * chunk, the destination loads it (RESUMING -> STOP) and runs.  The source
 * is left stopped (or reset), so the device never runs twice.  If the
 * destination refuses the stream it keeps its own state and the source
 * runs again.
 */
#ifndef VFIOUSERD_CTL_MIGRATE_H
#define VFIOUSERD_CTL_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What becomes of the source once the destination runs. */
enum ctl_migrate_after {
    CTL_MIGRATE_SRC_STOP = 0, /* stays in STOP: a later client may reset it */
    CTL_MIGRATE_SRC_RESET,    /* DEVICE_RESET: running, from power-on state */
};

/* Measurements, in milliseconds unless said otherwise. */
struct ctl_migrate_stats {
    uint64_t bytes;      /* stream size */
    unsigned chunks;     /* MIG_DATA_READ/WRITE pairs with data */
    double save_ms;      /* source SET STOP_COPY: quiesce and save */
    double transfer_ms;  /* reading and writing the stream */
    double load_ms;      /* destination SET STOP: check and load */
    double resume_ms;    /* destination SET RUNNING */
    double stopped_ms;   /* source stops .. destination runs */
    double total_ms;     /* connect .. done */
};

struct ctl_migrate_opts {
    bool pre_copy;        /* through PRE_COPY when the source offers it */
    enum ctl_migrate_after after;
    uint32_t chunk;       /* bytes per message; 0: the most both accept */
    int timeout_ms;       /* per reply; 0: 10000 */
    struct ctl_migrate_stats *stats; /* filled in on success; may be NULL */
};

/* Migrate; a summary goes to report (may be NULL), errors to stderr.
 * Returns 0 or a negative errno. */
int ctl_migrate(const char *src_socket, const char *dst_socket,
                const struct ctl_migrate_opts *o, FILE *report);

#endif
