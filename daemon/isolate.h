/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * isolate = process: a device served by a child process of its own, so a
 * plugin that crashes takes down only that device.
 *
 * The parent keeps the listening socket (its path never changes, and
 * clients wait in its backlog while the child restarts) and a device
 * thread that only supervises: it starts the child
 *
 *     vfiouserd --isolated-child -c /proc/self/fd/4 --fd=3
 *
 * with the socket as fd 3 and, as fd 4, a configuration written from the
 * parent's own (config_isolated_text), logs how the child ended (signal,
 * core dump, exit status) and starts it again with a growing delay.
 *
 * The parent is also the child's fd store (isolate_store.h): the next
 * child gets back the client of the one that crashed, re-attached with the
 * device reset, or the state a child stopped with SIGTERM stored.
 */
#ifndef VFIOUSERD_ISOLATE_H
#define VFIOUSERD_ISOLATE_H

#include <stdbool.h>

#include <glib.h>

#include <vfiouserd/plugin.h>

/* main(): where our own binary is, for starting children. */
void isolate_init(const char *argv0);
/* Device start (main thread; the device thread is not running yet): the
 * child runs with dev->proc->iso_config.  0 or -errno. */
int isolate_start(vfud_dev *dev);
/* Main thread, a process taking over (upgrade_adopt, before it says
 * READY): start the child now -- exec, plugin, sandbox -- waiting for its
 * hand-over, so that the pause only moves the state: isolate_start gives
 * it what the stopped child stored.  0 also when it cannot be started
 * early (a maps helper's channel needs the listening socket): then
 * isolate_start starts one as usual.  -errno: the child did not get ready
 * (logged). */
int isolate_prestart(vfud_dev *dev);
/* isolate_start sent such a child its state and returned at once: the
 * device thread is not started until isolate_take_over_wait has heard the
 * child's answer (until then we alone use the device's store), so that
 * the children of several devices load their states at the same time. */
bool isolate_taking_over(const vfud_dev *dev);
/* Main thread: that answer.  0, or -errno (logged; the child is gone). */
int isolate_take_over_wait(vfud_dev *dev);
/* The device freed before isolate_start: end that child. */
void isolate_prestart_cancel(vfud_dev *dev);
/* Device thread, at its end: stop the child and wait for it. */
void isolate_stop(vfud_dev *dev);
/* Device thread: stop the child the way that keeps its client -- it
 * stores its state with us (and we in systemd's store, when we use it) --
 * and leave the store as it is.  dev_capture() of an isolated device, for
 * "vfiouserctl upgrade" (upgrade.c) and a stop with systemd's fd store
 * (fdstore_restart.c).  Always 0: without the state, the next child still
 * re-attaches the client from what it stored while it ran. */
int isolate_capture(vfud_dev *dev, char **why);
/* Device thread, the hand-over abandoned (dev_capture_resume()): a child
 * takes over the stored state. */
void isolate_resume(vfud_dev *dev);
/* What the child stored, for a hand-over over a socket (dev_handoff_add):
 * appended to listen as struct handoff_listen named vfud/DEVICE/c/...,
 * which upgrade_adopt gives to the fd store's table for isolate_store_seed.
 * Nothing for a device that is not isolated. */
void isolate_handoff(vfud_dev *dev, GPtrArray *listen);
/* In the child: die with the parent; false if it is already gone. */
bool isolate_child_setup(void);
/* Are we that child? */
bool isolate_in_child(void);

#endif
