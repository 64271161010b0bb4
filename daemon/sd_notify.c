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

static int notify_fd = -1;

void sd_notify_set_fd(int fd)
{
    notify_fd = fd;
}

int sd_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len;
    size_t plen;
    int fd, r = 0;

    if (notify_fd >= 0) {
        return sd_notify_with_fds(state, NULL, 0);
    }
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

int sd_notify_with_fds(const char *state, const int *fds, unsigned n)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    union {
        char buf[CMSG_SPACE(sizeof(int) * SD_NOTIFY_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct iovec iov = { .iov_base = (void *)state, .iov_len = strlen(state) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    size_t plen;
    int fd, r = 0;

    if (notify_fd < 0 && (path == NULL || path[0] == '\0')) {
        return 0;
    }
    if (n > SD_NOTIFY_MAX_FDS) {
        return -EINVAL;
    }
    if (n > 0) {
        struct cmsghdr *cm;

        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    }
    if (notify_fd >= 0) {
        /* Connected: no address, no socket of our own (the sandbox's
         * filter allows neither in an isolated process). */
        return sendmsg(notify_fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
    }
    plen = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path)) {
        return -EINVAL;
    }
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    mh.msg_name = &sa;
    mh.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
        r = -errno;
    }
    close(fd);
    return r;
}
