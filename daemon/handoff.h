/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hand-over message between an old and a new vfiouserd (upgrade.c):
 * a state blob in a memfd and the fds it refers to, over a SOCK_SEQPACKET
 * socketpair.
 *
 * Blob layout (integers little-endian):
 *   0   8  magic "vfud-upg"
 *   8   4  format version (HANDOFF_VERSION); a reader refuses a newer one
 *  12   4  length of the JSON text that follows
 *  16   8  length of the binary part after the JSON
 *  24      JSON: {"devices": [...], "listen": [...], "control": {...}};
 *          fds are indexes into the fd list, binary data [offset, length]
 *          into the binary part
 *
 * Messages: the new process sends "READY" once its devices are started;
 * the old one sends "STATE" with the memfd, then the fds in "FDS" chunks;
 * the new one answers "OK" or "ERR <why>".
 */
#ifndef VFIOUSERD_HANDOFF_H
#define VFIOUSERD_HANDOFF_H

#include <stdint.h>

#include <glib.h>

#include "dev_handoff.h"

#define HANDOFF_MAGIC "vfud-upg"
#define HANDOFF_VERSION 1u
/* Each side's longest wait for the other. */
#define HANDOFF_READY_MS 30000
#define HANDOFF_STATE_MS 10000

struct handoff_listen {
    char *name;
    char *path;          /* the socket file's name (NULL: unknown) */
    int fd;
    bool unlink_on_stop; /* the old process created the socket file */
};

struct handoff {
    unsigned version;         /* as read */
    GPtrArray *devices;       /* struct dev_state * */
    GPtrArray *listen;        /* struct handoff_listen * */
    char *control_path;       /* NULL: none */
    int control_fd;
};

struct handoff *handoff_new(void);
void handoff_free(struct handoff *h); /* closes the fds it still holds */

/* Encode h: *blob is a new memfd (the caller's to close), and the fds it
 * refers to are appended to fds (int) in their order -- borrowed from h,
 * which keeps owning them: valid until handoff_free(h).  0 or -errno
 * (nothing appended, *blob -1). */
int handoff_encode(const struct handoff *h, int *blob, GArray *fds);
/* Send h (handoff_encode, then handoff_send_stream: the kernel dups the
 * fds; h keeps its own).  0 or -errno. */
int handoff_send(int sock, const struct handoff *h);
/* The wire form handoff_send uses, for a blob already encoded (the fd
 * store's replay of a stopped process's hand-over): the blob's memfd, then
 * its n fds in order. */
int handoff_send_stream(int sock, int blob, const int *fds, unsigned n);
/* Receive one; -EPROTO with *why for a blob we cannot read (a newer
 * version among them). */
int handoff_recv(int sock, struct handoff **out, char **why);

/* Short text messages ("READY", "OK", "ERR ..."). */
int handoff_say(int sock, const char *text);
/* Wait up to timeout_ms for one; 0 and *text, -ETIMEDOUT, or -EPIPE when
 * the other side is gone. */
int handoff_hear(int sock, int timeout_ms, char **text);

#endif
