/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration (vfio-user migration v2, PROTOCOL.md §2.13-2.15): the device
 * state machine driven by DEVICE_FEATURE MIG_DEVICE_STATE, the data
 * session behind MIG_DATA_READ / MIG_DATA_WRITE, and the other migration
 * features (MIGRATION, MIG_DATA_SIZE, DMA logging).
 *
 * A device migrates when its plugin has save_state and load_state; then
 * every state of the kernel's v2 machine exists (STOP_COPY, P2P and
 * PRE_COPY).  Otherwise every migration command answers ENOTSUP.
 *
 * Everything here runs on the device thread.
 */
#ifndef VFIOUSERD_MIGRATION_H
#define VFIOUSERD_MIGRATION_H

#include <stdbool.h>
#include <stdint.h>

#include <vfiouserd/plugin.h>

struct migration;

/* device_new / device_free. */
void migration_init(vfud_dev *dev);
void migration_free(vfud_dev *dev);

bool migration_supported(const vfud_dev *dev);
/* Current state (enum vfio_user_device_mig_state). */
unsigned migration_state(const vfud_dev *dev);
const char *migration_state_name(unsigned state);

/* After a successful device reset: the device runs again (RUNNING), any
 * data session ends; also the way out of ERROR.  0 or -errno (the plugin
 * could not be resumed: the device is left in ERROR). */
int migration_after_reset(vfud_dev *dev);
/* The client went away: DMA logging stops and a data session ends
 * (STOP_COPY -> STOP, PRE_COPY(_P2P) -> RUNNING(_P2P), RESUMING -> STOP
 * keeping the device's previous state).  Stopped devices stay stopped. */
void migration_client_gone(vfud_dev *dev);

#endif
