/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "sd_notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sd_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len;
    size_t plen;
    int fd, r = 0;

    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    plen = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path)) {
        return -EINVAL;
    }
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0'; /* abstract namespace */
    }
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
               (struct sockaddr *)&sa, len) < 0) {
        r = -errno;
    }
    close(fd);
    return r;
}

int sd_notify_printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return sd_notify_send(buf);
}
