/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Completions handed to the I/O thread by threads of a back-end's library
 * (librbd's callbacks), without a lock and without a system call while the
 * I/O thread is awake.  remote.c says how no hand-over is ever missed.
 */
#ifndef VFUD_NVME_REMOTE_H
#define VFUD_NVME_REMOTE_H

#include <stdatomic.h>
#include <stdbool.h>

/* Embedded in a back-end's operation. */
struct nvme_remote_done {
    struct nvme_remote_done *next;
};

struct nvme_remote {
    _Atomic(struct nvme_remote_done *) head;    /* newest first */
    _Atomic bool waiting;   /* the consumer is (about to be) asleep */
};

/* Any thread: queue d.  True: the consumer may be asleep, and the caller
 * must wake it (write its eventfd). */
bool nvme_remote_push(struct nvme_remote *r, struct nvme_remote_done *d);

/* The consumer: everything pushed so far, oldest first (NULL: none). */
struct nvme_remote_done *nvme_remote_take(struct nvme_remote *r);

/* The consumer, around its sleep: begin() false means something was pushed
 * already and it must not sleep (end() is still called); between a true
 * begin() and end(), the next push returns true. */
bool nvme_remote_sleep_begin(struct nvme_remote *r);
void nvme_remote_sleep_end(struct nvme_remote *r);

#endif
