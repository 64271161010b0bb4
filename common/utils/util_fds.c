/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fds received with SCM_RIGHTS (util.h).  A file of its own: it needs
 * GLib, and the fake daemon of plugin tests builds util.c without it.
 */
#include "config.h"

#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

static size_t cmsg_count(const struct cmsghdr *cm)
{
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
        cm->cmsg_len < CMSG_LEN(0)) {
        return 0;
    }
    return (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
}

int util_cmsg_fds_to(const struct msghdr *mh, int *fds, size_t max, size_t *nr)
{
    bool over = (mh->msg_flags & MSG_CTRUNC) != 0;
    size_t got = 0;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
         cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        size_t n = cmsg_count(cm);

        for (size_t i = 0; i < n; i++) {
            int fd;

            /* CMSG_DATA need not be aligned for an int. */
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (got < max) {
                fds[got++] = fd;
            } else {
                close(fd);
                over = true;
            }
        }
    }
    if (over) {
        for (size_t i = 0; i < got; i++) {
            close(fds[i]);
            fds[i] = -1;
        }
        got = 0;
    }
    *nr = got;
    return over ? -EMSGSIZE : 0;
}

int util_cmsg_fds(const struct msghdr *mh, GArray *fds)
{
    guint start = fds->len;
    size_t total = 0, got = 0;
    int r;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
         cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        total += cmsg_count(cm);
    }
    g_array_set_size(fds, start + (guint)total);
    r = util_cmsg_fds_to(mh, total > 0 ? &g_array_index(fds, int, start) : NULL, total,
                         &got);
    g_array_set_size(fds, start + (guint)got);
    return r;
}
