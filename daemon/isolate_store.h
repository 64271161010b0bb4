/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fd store an isolated device's parent keeps for its child
 * (isolate = process): what systemd's store is to the daemon (fdstore.h),
 * the parent is to the child, so the child's own fd store code keeps its
 * client across a crash of the child.
 *
 * The child talks to it as to systemd: datagrams with FDSTORE=1, FDNAME=
 * and the fds attached, FDSTOREREMOVE=1 with FDNAME=, over a socket pair
 * (its --store-fd).  The parent keeps each fd once (an open file stored
 * again under any name is dropped, as systemd does) and passes them all to
 * the next child it starts, named (fdstore.h, FDSTORE_CHILD_*): after a
 * crash that child re-attaches the client with the device reset
 * (fdstore_restart.c), after a clean stop (SIGTERM) it takes over the
 * hand-over the stopped one stored.
 *
 * When the parent uses systemd's store itself, every entry is also stored
 * there as vfud/DEVICE/c/NAME-WITHOUT-vfud/, so that a crash or a restart
 * of the parent keeps the children's clients too (isolate_store_seed).
 *
 * All on the supervising device thread.
 */
#ifndef VFIOUSERD_ISOLATE_STORE_H
#define VFIOUSERD_ISOLATE_STORE_H

#include <glib.h>

struct iso_store;

struct iso_store *iso_store_new(const char *device);
/* Closes every fd it keeps (the client's last reference: it sees EOF) and
 * removes the names it stored in systemd's store. */
void iso_store_free(struct iso_store *s);
/* A channel for the next child: the child's end (the caller passes it on
 * and closes it), ours watched on ctx.  -errno on failure. */
int iso_store_channel(struct iso_store *s, GMainContext *ctx);
/* Wait up to ms for what the child sends and read it (while we wait for
 * it to stop, away from our main loop); also return when wake_fd (-1:
 * none) is readable. */
void iso_store_pump(struct iso_store *s, int wake_fd, int ms);
/* The child is gone: read what it sent last, close our end. */
void iso_store_drain(struct iso_store *s);
/* What to pass to the next child: fds appended to fds, names ':'-joined;
 * listen_fd too when a stopped child's hand-over needs it. */
void iso_store_export(struct iso_store *s, int listen_fd, GArray *fds, GString *names);
/* "vfiouserctl upgrade": a struct handoff_listen for each entry, named as
 * in systemd's store, appended to listen (fds dup'd). */
void iso_store_handoff(struct iso_store *s, GPtrArray *listen);
/* A child started before the pause (isolate_prestart): the hand-over the
 * stopped one stored, for handoff_send_stream -- its blob in *blob and its
 * fds appended to fds (the caller closes them all; listen_fd where it
 * names the listening socket), then removed from the store.  -ENOENT:
 * none stored; -EPROTO with *why: it cannot be read. */
int iso_store_handover(struct iso_store *s, int listen_fd, int *blob, GArray *fds,
                       char **why);
guint iso_store_count(struct iso_store *s);
/* Start-up: the entries a previous parent stored in systemd's store for
 * this device, taken back from it (fdstore_take). */
void iso_store_seed(struct iso_store *s);

#endif
