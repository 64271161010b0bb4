/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "device.h"
#include "device_proc.h"
#include "fdstore.h"
#include "listener.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

/* A second concurrent client is accepted only to be told no (with a log
 * line), so a small backlog is enough. */
#define LISTEN_BACKLOG 4

static int fill_addr(struct sockaddr_un *sa, const char *path, char **why)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        *why = g_strdup_printf("socket path '%s' is longer than %zu bytes", path,
                               sizeof(sa->sun_path) - 1);
        return -ENAMETOOLONG;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/* Remove a socket file nobody listens on; refuse anything else. */
static int clear_path(const char *path, const struct sockaddr_un *sa, char **why)
{
    struct stat st;
    int fd, r;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        r = -errno;
        *why = g_strdup_printf("%s: %s", path, g_strerror(-r));
        return r;
    }
    if (!S_ISSOCK(st.st_mode)) {
        *why = g_strdup_printf("%s exists and is not a socket", path);
        return -EEXIST;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        r = -errno;
        *why = g_strdup_printf("socket: %s", g_strerror(-r));
        return r;
    }
    r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    close(fd);
    if (r == 0) {
        *why = g_strdup_printf("%s is in use by another process", path);
        return -EADDRINUSE;
    }
    /* ECONNREFUSED: a leftover from a run that did not clean up. */
    if (unlink(path) < 0 && errno != ENOENT) {
        r = -errno;
        *why = g_strdup_printf("cannot remove stale socket %s: %s", path,
                               g_strerror(-r));
        return r;
    }
    return 0;
}

int listener_bind(const struct device_socket *sock, int *out, char **why)
{
    struct sockaddr_un sa, tsa;
    g_autofree char *dir = g_path_get_dirname(sock->path);
    g_autofree char *base = g_path_get_basename(sock->path);
    g_autofree char *tmp = NULL;
    int fd, r;

    *out = -1;
    r = fill_addr(&sa, sock->path, why);
    if (r < 0) {
        return r;
    }
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        r = -errno;
        *why = g_strdup_printf("cannot create socket directory %s: %s", dir,
                               g_strerror(-r));
        return r;
    }
    r = clear_path(sock->path, &sa, why);
    if (r < 0) {
        return r;
    }
    /* Bind under a temporary name, set mode and owner, listen, and only
     * then rename into place: whoever sees the path can connect, and never
     * sees it with the wrong permissions. */
    tmp = g_strdup_printf("%s/.%s.%d", dir, base, (int)getpid());
    if (fill_addr(&tsa, tmp, why) < 0) {
        g_clear_pointer(why, g_free);
        g_free(tmp);
        tmp = g_strdup(sock->path); /* too long: bind in place */
        tsa = sa;
    }
    unlink(tmp);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        r = -errno;
        *why = g_strdup_printf("socket: %s", g_strerror(-r));
        return r;
    }
    if (bind(fd, (struct sockaddr *)&tsa, sizeof(tsa)) < 0) {
        r = -errno;
        *why = g_strdup_printf("cannot bind %s: %s", sock->path, g_strerror(-r));
        close(fd);
        return r;
    }
    if (chmod(tmp, sock->mode) < 0 ||
        ((sock->set_owner || sock->set_group) &&
         lchown(tmp, sock->set_owner ? sock->uid : (uid_t)-1,
                sock->set_group ? sock->gid : (gid_t)-1) < 0)) {
        r = -errno;
        *why = g_strdup_printf("cannot set owner/mode of %s: %s", sock->path,
                               g_strerror(-r));
        goto fail;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        r = -errno;
        *why = g_strdup_printf("listen on %s: %s", sock->path, g_strerror(-r));
        goto fail;
    }
    if (strcmp(tmp, sock->path) != 0 && rename(tmp, sock->path) < 0) {
        r = -errno;
        *why = g_strdup_printf("cannot move socket into place at %s: %s",
                               sock->path, g_strerror(-r));
        goto fail;
    }
    *out = fd;
    return 0;

fail:
    unlink(tmp);
    close(fd);
    return r;
}

int listener_check_fd(int fd, char **why)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof(type);
    struct sockaddr_un sa;
    socklen_t alen = sizeof(sa);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        *why = g_strdup_printf("fd %d is not a socket: %s", fd, g_strerror(errno));
        return -ENOTSOCK;
    }
    len = sizeof(listening);
    if (getsockname(fd, (struct sockaddr *)&sa, &alen) < 0 ||
        sa.sun_family != AF_UNIX || type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
        !listening) {
        *why = g_strdup_printf("fd %d is not a listening AF_UNIX stream socket", fd);
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Operations: permissions at run time, socket activation
 */
int listener_set_perms(const struct device_socket *sock, char **why)
{
    int r;

    if (chmod(sock->path, sock->mode) < 0 ||
        ((sock->set_owner || sock->set_group) &&
         lchown(sock->path, sock->set_owner ? sock->uid : (uid_t)-1,
                sock->set_group ? sock->gid : (gid_t)-1) < 0)) {
        r = -errno;
        *why = g_strdup_printf("cannot set owner/mode of %s: %s", sock->path,
                               g_strerror(-r));
        return r;
    }
    return 0;
}

char *listener_fd_path(int fd)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);

    memset(&sa, 0, sizeof(sa));
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
        len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] == '\0') {
        return NULL; /* unnamed or abstract */
    }
    return g_strndup(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
}

static void listen_fd_free(gpointer p)
{
    struct listen_fd *l = p;

    if (l->fd >= 0) {
        close(l->fd);
    }
    g_free(l->name);
    g_free(l->path);
    g_free(l);
}

GPtrArray *listener_fd_array_new(void)
{
    return g_ptr_array_new_with_free_func(listen_fd_free);
}

/* First fd passed by the service manager (SD_LISTEN_FDS_START). */
#define LISTEN_FDS_START 3

int listener_take_activation(GPtrArray **out, char **why)
{
    const char *spid = getenv("LISTEN_PID");
    const char *sfds = getenv("LISTEN_FDS");
    const char *snames = getenv("LISTEN_FDNAMES");
    g_auto(GStrv) names = NULL;
    g_autoptr(GPtrArray) fds = NULL;
    guint64 pid, n;
    int r = 0;

    *out = NULL;
    *why = NULL;
    if (spid == NULL || sfds == NULL) {
        goto done;
    }
    if (!g_ascii_string_to_unsigned(spid, 10, 1, G_MAXINT, &pid, NULL) ||
        (pid_t)pid != getpid()) {
        goto done; /* meant for another process (our parent, say) */
    }
    if (!g_ascii_string_to_unsigned(sfds, 10, 0, 4096, &n, NULL)) {
        *why = g_strdup_printf("LISTEN_FDS='%s' is not a number of sockets", sfds);
        r = -EINVAL;
        goto done;
    }
    if (snames != NULL) {
        names = g_strsplit(snames, ":", -1);
        if (g_strv_length(names) != n) {
            *why = g_strdup_printf("LISTEN_FDNAMES='%s' names %u sockets, "
                                   "LISTEN_FDS=%u", snames, g_strv_length(names),
                                   (unsigned)n);
            r = -EINVAL;
            goto done;
        }
    }
    fds = listener_fd_array_new();
    for (guint i = 0; i < n; i++) {
        struct listen_fd *l;

        if (names != NULL && fdstore_is_ours(names[i])) {
            continue; /* the fd store's: fdstore_take has it */
        }
        l = g_new0(struct listen_fd, 1);
        l->fd = LISTEN_FDS_START + (int)i;
        l->name = g_strdup(names != NULL && names[i][0] != '\0' ? names[i] : "unknown");
        g_ptr_array_add(fds, l);
    }
    for (guint i = 0; i < fds->len; i++) {
        struct listen_fd *l = g_ptr_array_index(fds, i);
        g_autofree char *bad = NULL;

        if (listener_check_fd(l->fd, &bad) < 0) {
            *why = g_strdup_printf("socket activation: %s ('%s')", bad, l->name);
            r = -EINVAL;
            goto done;
        }
        /* Never leak a device's socket into a process a plugin starts. */
        fcntl(l->fd, F_SETFD, FD_CLOEXEC);
    }
    if (fds->len > 0) {
        *out = g_steal_pointer(&fds);
    }

done:
    /* On failure the fds close with the array: start-up fails anyway. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return r;
}

/* ------------------------------------------------------------------------
 * Accepting clients (device thread): who may connect, one at a time, and
 * a pause when the process runs out of fds.
 */

/* After accept() runs out of fds, wait this long before trying again. */
#define ACCEPT_RETRY_MS 200

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data);

void listener_watch(vfud_dev *dev)
{
    dev->proc->listen_src = g_unix_fd_source_new(dev->proc->listen_fd, G_IO_IN);
    g_source_set_callback(dev->proc->listen_src, G_SOURCE_FUNC(on_accept), dev, NULL);
    g_source_attach(dev->proc->listen_src, dev->ctx);
}

static gboolean listen_resume(gpointer data)
{
    vfud_dev *dev = data;

    listener_watch(dev);
    return G_SOURCE_REMOVE;
}

/* Out of fds: the pending connection stays in the backlog and the socket
 * stays readable, so stop watching it for a while instead of spinning. */
static void listen_pause(vfud_dev *dev, int err)
{
    GSource *t = g_timeout_source_new(ACCEPT_RETRY_MS);

    dev_warn(dev, "cannot accept a client: %s; retrying in %d ms",
             g_strerror(err), ACCEPT_RETRY_MS);
    g_source_destroy(dev->proc->listen_src);
    g_source_unref(dev->proc->listen_src);
    dev->proc->listen_src = NULL;
    g_source_set_callback(t, listen_resume, dev, NULL);
    g_source_attach(t, dev->ctx);
    g_source_unref(t);
}

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

static bool id_listed(const GArray *ids, guint32 id)
{
    for (guint i = 0; ids != NULL && i < ids->len; i++) {
        if (g_array_index(ids, guint32, i) == id) {
            return true;
        }
    }
    return false;
}

/* allowed-uids / allowed-gids, from the peer's credentials as the kernel
 * recorded them at connect(): its uid, its group and (SO_PEERGROUPS) its
 * supplementary groups. */
static bool peer_allowed(vfud_dev *dev, int fd, const struct ucred *cred)
{
    bool ok = false;

    g_mutex_lock(&dev->conn_lock);
    if ((dev->proc->allowed_uids == NULL || dev->proc->allowed_uids->len == 0) &&
        (dev->proc->allowed_gids == NULL || dev->proc->allowed_gids->len == 0)) {
        ok = true;
    } else if (cred->pid < 0) {
        ok = false; /* no credentials: nothing to check against */
    } else if (id_listed(dev->proc->allowed_uids, cred->uid) ||
               id_listed(dev->proc->allowed_gids, cred->gid)) {
        ok = true;
    } else if (dev->proc->allowed_gids != NULL && dev->proc->allowed_gids->len > 0) {
        gid_t groups[256];
        socklen_t len = sizeof(groups);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
            for (size_t i = 0; i < len / sizeof(gid_t) && !ok; i++) {
                ok = id_listed(dev->proc->allowed_gids, groups[i]);
            }
        }
    }
    g_mutex_unlock(&dev->conn_lock);
    return ok;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
    vfud_dev *dev = data;
    struct ucred cred = { .pid = -1 };
    socklen_t len = sizeof(cred);
    int cfd;

    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
            listen_pause(dev, errno);
            return G_SOURCE_REMOVE;
        }
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            dev_warn(dev, "accept failed: %s", g_strerror(errno));
        }
        return G_SOURCE_CONTINUE;
    }
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        cred.pid = -1;
        cred.uid = (uid_t)-1;
        cred.gid = (gid_t)-1;
    }
    if (__atomic_load_n(&dev->sandbox_failed, __ATOMIC_ACQUIRE)) {
        dev_warn(dev, "refused a client (pid %d): the device failed (sandbox violation)",
                 (int)cred.pid);
        dev->proc->clients_refused++;
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    if (!peer_allowed(dev, cfd, &cred)) {
        /* Before reading a single byte: the device never sees it. */
        dev_warn(dev, "refused a client (pid %d uid %u gid %u): not in "
                 "allowed-uids or allowed-gids", (int)cred.pid,
                 (unsigned)cred.uid, (unsigned)cred.gid);
        dev->proc->clients_refused++;
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    if (device_attach(dev, cfd, &cred) < 0) {
        dev->proc->clients_refused++;
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    dev->proc->clients_served++;
    return G_SOURCE_CONTINUE;
}

void listener_unwatch(vfud_dev *dev)
{
    if (dev->proc->listen_src != NULL) {
        g_source_destroy(dev->proc->listen_src);
        g_source_unref(dev->proc->listen_src);
        dev->proc->listen_src = NULL;
    }
}
