/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-device worker thread behind vfud_submit(): runs plugin jobs one
 * at a time, off the device thread, so they may wait for DMA messages.
 */
#ifndef VFIOUSERD_WORKER_H
#define VFIOUSERD_WORKER_H

#include <vfiouserd/plugin.h>

struct conn;
struct worker;

struct worker *worker_new(vfud_dev *dev);
int worker_submit(struct worker *w, vfud_work_fn fn, void *opaque);
/* Wait until no job is queued or running.  On the device thread, pass the
 * client connection so replies a job waits for are still read. */
void worker_drain(struct worker *w, struct conn *c);
/* Drain and stop the thread. */
void worker_free(struct worker *w);

#endif
