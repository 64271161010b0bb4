/* SPDX-License-Identifier: BSD-3-Clause */
/* Creating a device's listening socket in the file system. */
#ifndef VFIOUSERD_LISTENER_H
#define VFIOUSERD_LISTENER_H

#include <glib.h>
#include <stdbool.h>

struct device_socket;

/* Bind and listen on sock->path with its mode and owner.  A stale socket
 * file (nobody listening) is replaced; a live one, or a path that is not a
 * socket, is an error.  Missing parent directories are created (0755).
 * 0 and *fd, or -errno and *why (g_free it). */
int listener_bind(const struct device_socket *sock, int *fd, char **why);
/* Is fd a listening stream socket (for --fd and socket activation)? */
int listener_check_fd(int fd, char **why);

/* ---- operations ---- */

/* Give an existing socket file sock->mode and owner/group (reload). */
int listener_set_perms(const struct device_socket *sock, char **why);
/* The path an inherited socket is bound to (g_free it), or NULL. */
char *listener_fd_path(int fd);

/* A socket passed by the service manager (sd_listen_fds(3) protocol). */
struct listen_fd {
    char *name; /* from LISTEN_FDNAMES, "unknown" without it */
    int fd;
    /* Bound by a previous process of this service (kept in the fd store
     * across a crash), not by the service manager: it has the configured
     * path, which the daemon removes when it stops. */
    bool ours;
    /* Its path, if not the name it was bound under (an upgrade's old
     * process bound it under a temporary name and renamed it), or NULL. */
    char *path;
};

/* Take the sockets passed with LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
 * (fds 3, 4, ...; ignored unless LISTEN_PID is our pid), and unset the
 * three variables.  *out: a GPtrArray of struct listen_fd (free with
 * g_ptr_array_unref, which closes the fds), NULL when none were passed.
 * 0, or -errno and *why when one is not a listening AF_UNIX stream socket
 * or the variables are malformed. */
int listener_take_activation(GPtrArray **out, char **why);
/* An empty array of struct listen_fd that closes them when freed. */
GPtrArray *listener_fd_array_new(void);

#endif
