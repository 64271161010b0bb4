/* Creating a device's listening socket in the file system. */
#ifndef VFIOUSERD_LISTENER_H
#define VFIOUSERD_LISTENER_H

struct device_socket;

/* Bind and listen on sock->path with its mode and owner.  A stale socket
 * file (nobody listening) is replaced; a live one, or a path that is not a
 * socket, is an error.  Missing parent directories are created (0755).
 * 0 and *fd, or -errno and *why (g_free it). */
int listener_bind(const struct device_socket *sock, int *fd, char **why);
/* Is fd a listening stream socket (for --fd and socket activation)? */
int listener_check_fd(int fd, char **why);

#endif
