/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The callback watchdog: a thread that logs a plugin callback still
 * running after the limit (device_set_callback_limit), while it runs --
 * the client may be about to give up (QEMU waits 5 s for a synchronous
 * reply).  The engine times each callback (device_cb_enter/leave) and logs
 * it again when it returns.
 */
#ifndef VFIOUSERD_WATCHDOG_H
#define VFIOUSERD_WATCHDOG_H

#include <vfiouserd/plugin.h>

/* A device starts or stops running (main thread).  The thread runs while
 * some device is timed, and not at all with the limit 0. */
void watchdog_add(vfud_dev *dev);
void watchdog_remove(vfud_dev *dev);

#endif
