/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The merged turn: a device thread's main loop waits with one
 * io_uring_enter() that also sends the client's replies and receives its
 * next requests (conn_uring.c), where the poll path makes three system
 * calls (sendmsg, poll, recvmsg).
 */
#ifndef VFIOUSERD_CONN_URING_H
#define VFIOUSERD_CONN_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <glib.h>

#include "device.h"

struct conn;
struct conn_uring;

/* Main thread.  A ring for a device thread, or NULL (the poll path): made
 * here before the process's sandbox is sealed, taken from the reserve
 * after.  NULL with VFIOUSERD_URING=no, and by default where the
 * kernel would count the wait as iowait (conn_uring.c). */
struct conn_uring *conn_uring_get(const char *dev_name);
/* Main thread, after the device thread ended: back to the reserve, or
 * closed if that thread enabled it (DEFER_TASKRUN binds it to one). */
void conn_uring_put(struct conn_uring *u);
/* Main thread, before the system call filter is loaded: make free rings
 * for the devices of the process that have none yet, and spare ones for
 * devices added later; from then on no ring is made, only taken
 * (io_uring_setup is not in the filter). */
void conn_uring_seal(unsigned devices, unsigned spare);

/* Device thread: wait through u from now on (enabling it first if it
 * waits for its thread) / stop (cancels and reaps everything still in the
 * kernel's hands). */
void conn_uring_attach(vfud_dev *dev);
void conn_uring_detach(vfud_dev *dev);

/* conn.c's side of a turn (device thread). */
struct conn_uring_io {
    const void *send; /* a copy of the unsent replies, or NULL */
    size_t send_len;
    struct iovec riov;
    struct msghdr rmh;
};
/* Is dev's client served by merged turns (its replies are sent by the
 * next wait)? */
bool conn_uring_defers(const struct conn *c);
/* Ready a turn: false if this one takes the poll path (fds to send, a
 * stalled send, a backlog...). */
bool conn_uring_begin(struct conn *c, struct conn_uring_io *io);
/* The send's result (bytes or -errno): accounts it and sends, the poll
 * way, what other threads queued meanwhile or the socket did not take. */
void conn_uring_sent(struct conn *c, int res);
/* The receive's result: the bytes join the input, served by the
 * channel's next dispatch. */
void conn_uring_received(struct conn *c, struct conn_uring_io *io, int res);
/* The poll path instead: send what the batch left for the turn.  true
 * if bytes still wait for the socket. */
bool conn_uring_flush(struct conn *c);
int conn_uring_fd(const struct conn *c);

#endif
