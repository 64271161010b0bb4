/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test driver (nvme_tdrv.h) on the fake daemon: the plugin is loaded
 * into the test program (tests/harness), registers are direct calls, guest
 * memory is a fake DMA window and "interrupts" are counters.
 */
#ifndef NVME_TDRV_FAKE_H
#define NVME_TDRV_FAKE_H

#include "fake_vfud.h"
#include "nvme_tdrv.h"

/* Plugin .so path (built by make; $NVME_PLUGIN overrides it) */
const char *td_plugin_path(void);

/* Create a device with a temporary sparse backing file of size bytes
 * (namespace 1) plus extra "key=value" config pairs (NULL-terminated). */
int td_open(struct tdrv *d, uint64_t size, bool message_only,
            const char *const *extra);
void td_close(struct tdrv *d);

#endif
