/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NBD servers for the tests of the NVMe plugin's NBD back-end: nbdkit or
 * qemu-nbd started in the foreground on a UNIX socket in a fresh temporary
 * directory (or nbdkit on a free TCP port of 127.0.0.1), killed and
 * restarted at will.  A test without the server
 * program skips (ns_have() says which is missing).
 */
#ifndef NBD_SERVER_H
#define NBD_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#define NS_MAX_ARGS 16

struct nbd_server {
    pid_t pid;
    char dir[64];       /* temporary directory, removed by ns_cleanup */
    char sock[128];     /* dir/sock */
    char uri[192];      /* nbd+unix:///?socket=... or nbd://127.0.0.1:PORT/ */
    unsigned port;      /* TCP (ns_init_tcp): the port; 0: the UNIX socket */
    char port_arg[8];
    const char *argv[NS_MAX_ARGS + 8];
};

/* Is prog (nbdkit, qemu-nbd, qemu-img) on PATH? */
bool ns_have(const char *prog);

/* Make the directory and socket/URI names; no process yet. */
int ns_init(struct nbd_server *s);
/* The same, for nbdkit on TCP at 127.0.0.1: a port free at this moment
 * (the kernel's pick for a socket bound to port 0, released again). */
int ns_init_tcp(struct nbd_server *s);
/* Start the server: "nbdkit" or "qemu-nbd" then its plugin/image arguments
 * (NULL-terminated); returns once the socket accepts connections (10 s at
 * most).  The argument strings must outlive the server (restarts reuse
 * them). */
int ns_start(struct nbd_server *s, const char *prog, const char *const *args);
/* Start it again with the same arguments (after ns_kill). */
int ns_restart(struct nbd_server *s);
/* SIGKILL: the server vanishes as if its host crashed. */
void ns_kill(struct nbd_server *s);
/* Kill if running, remove the directory and what is in it. */
void ns_cleanup(struct nbd_server *s);

#endif
