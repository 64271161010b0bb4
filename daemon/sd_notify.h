/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * systemd's readiness protocol without libsystemd: one datagram to the
 * socket named by $NOTIFY_SOCKET.  A no-op when the variable is unset.
 */
#ifndef VFIOUSERD_SD_NOTIFY_H
#define VFIOUSERD_SD_NOTIFY_H

int sd_notify_send(const char *state);
int sd_notify_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with fds attached (SCM_RIGHTS): FDSTORE=1 (fdstore.h). */
#define SD_NOTIFY_MAX_FDS 16u
int sd_notify_with_fds(const char *state, const int *fds, unsigned n);
/* An isolated device's process (isolate.c): its notifications go to the
 * parent over this connected datagram socket, not to $NOTIFY_SOCKET. */
void sd_notify_set_fd(int fd);

#endif
