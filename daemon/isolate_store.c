/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parent's fd store for an isolated device's child: see isolate_store.h.
 *
 * The child is less trusted than we are (it runs the plugin): what it
 * sends is checked -- names under vfud/ only, no ':', at most
 * MAX_ENTRIES fds -- and a message we cannot read is dropped with its fds
 * closed.  Its listening socket and a control socket are never kept: we
 * hold the one and it has none.
 */
#include "config.h"

#include "fdstore.h"
#include "handoff.h"
#include "isolate_store.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-c/json.h>

/* As vfiouserd.service's FileDescriptorStoreMax=. */
#define MAX_ENTRIES 8192u
#define FDS_PER_MSG 16u
#define NAME_MAX_LEN 255u

struct iso_entry {
    char *name;
    int fd;
    dev_t st_dev;
    ino_t st_ino;
};

struct iso_store {
    char *dev;
    GPtrArray *entries; /* struct iso_entry *, in the order stored */
    int chan;           /* our end of the current child's channel */
    GSource *src;
    bool warned;
};

/* Its name in systemd's store: vfud/D/c/ and the child's name without
 * vfud/. */
static char *mirror_name(const struct iso_store *s, const char *name)
{
    return g_strdup_printf(FDSTORE_PREFIX "%s/c/%s", s->dev,
                           name + strlen(FDSTORE_PREFIX));
}

static void entry_free(gpointer p)
{
    struct iso_entry *e = p;

    util_close(&e->fd);
    g_free(e->name);
    g_free(e);
}

struct iso_store *iso_store_new(const char *device)
{
    struct iso_store *s = g_new0(struct iso_store, 1);

    s->dev = g_strdup(device);
    s->entries = g_ptr_array_new_with_free_func(entry_free);
    s->chan = -1;
    return s;
}

static void close_channel(struct iso_store *s)
{
    if (s->src != NULL) {
        g_source_destroy(s->src);
        g_source_unref(s->src);
        s->src = NULL;
    }
    util_close(&s->chan);
}

void iso_store_free(struct iso_store *s)
{
    if (s == NULL) {
        return;
    }
    close_channel(s);
    for (guint i = 0; i < s->entries->len; i++) {
        const struct iso_entry *e = g_ptr_array_index(s->entries, i);
        g_autofree char *m = mirror_name(s, e->name);

        fdstore_remove(m);
    }
    g_ptr_array_unref(s->entries);
    g_free(s->dev);
    g_free(s);
}

static void store_remove(struct iso_store *s, const char *name)
{
    g_autofree char *m = mirror_name(s, name);
    bool had = false;

    for (guint i = s->entries->len; i-- > 0;) {
        const struct iso_entry *e = g_ptr_array_index(s->entries, i);

        if (strcmp(e->name, name) == 0) {
            g_ptr_array_remove_index(s->entries, i);
            had = true;
        }
    }
    if (had) {
        fdstore_remove(m);
    }
}

/* 1 if a and b are the same open file (one file description, as after a
 * dup() or an SCM_RIGHTS pass), 0 if not, -errno when kcmp cannot say.
 * This is systemd's rule for its fd store, and one rule for every kind
 * of fd: two opens of one file are two files, every eventfd is its own
 * although all of them share one inode.  KCMP_FILE on our own pid only
 * compares two fds we hold: the parent's seccomp filter allows kcmp so
 * and no other way (sandbox_seccomp.c). */
static int same_open_file(int a, int b)
{
#ifdef SYS_kcmp
    pid_t self = getpid();
    long r = syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);

    if (r < 0) {
        return -errno;
    }
    return r == 0;
#else
    (void)a;
    (void)b;
    return -ENOSYS;
#endif
}

/* Without kcmp (a kernel built without CONFIG_KCMP: ENOSYS; a container's
 * own filter refusing it: EPERM), the inode decides, as it did before
 * kcmp: the same inode is the same file, except on the kernel's anonymous
 * inode, which every eventfd shares (each interrupt vector's eventfd must
 * be kept: keeping only the first lost the others on a re-attach or an
 * upgrade's hand-over).  That is right for what a child stores (sockets,
 * memfds, DMA window files, eventfds, each stored by one open file); it
 * would take two opens of one regular file for one. */
static bool same_inode_file(struct iso_store *s, int fd, int err)
{
    static gint said; /* once per process: every device's store tries */
    struct statfs sf;

    if (g_atomic_int_compare_and_exchange(&said, 0, 1)) {
        log_notice(NULL, "[%s] isolated process's fd store: kcmp() unavailable (%s): "
                   "files with the same inode count as one, eventfds excepted",
                   s->dev, g_strerror(err));
    }
    return fstatfs(fd, &sf) < 0 || sf.f_type != ANON_INODE_FS_MAGIC;
}

/* Whether fd's open file is kept already, under any name.  Only entries
 * with its inode can be: the same open file has one inode. */
static bool kept_already(struct iso_store *s, int fd, const struct stat *st)
{
    for (guint i = 0; i < s->entries->len; i++) {
        const struct iso_entry *o = g_ptr_array_index(s->entries, i);
        int r;

        if (o->st_dev != st->st_dev || o->st_ino != st->st_ino) {
            continue;
        }
        r = same_open_file(o->fd, fd);
        if (r < 0) {
            return same_inode_file(s, fd, -r);
        }
        if (r == 1) {
            return true;
        }
    }
    return false;
}

/* Takes fd.  An open file kept already (under any name) is dropped, as
 * systemd drops it: the child stores its client again after a re-attach,
 * and a hand-over names fds it stored already.  The child removes a name
 * before it stores another file under it (fdstore_dev.c). */
static void store_add(struct iso_store *s, const char *name, int fd)
{
    struct iso_entry *e;
    struct stat st;

    if (fstat(fd, &st) < 0 || kept_already(s, fd, &st)) {
        close(fd);
        return;
    }
    if (s->entries->len >= MAX_ENTRIES) {
        if (!s->warned) {
            log_warn(NULL, "[%s] isolated process stores more than %u fds; %s and "
                     "later ones are not kept (a crash of it loses them)", s->dev,
                     MAX_ENTRIES, name);
            s->warned = true;
        }
        close(fd);
        return;
    }
    e = g_new0(struct iso_entry, 1);
    e->name = g_strdup(name);
    e->fd = fd;
    e->st_dev = st.st_dev;
    e->st_ino = st.st_ino;
    g_ptr_array_add(s->entries, e);
    {
        g_autofree char *m = mirror_name(s, name);

        fdstore_push(m, fd);
    }
}

static const char *field(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    while (p != NULL && p != text && p[-1] != '\n') {
        p = strstr(p + 1, key);
    }
    return p != NULL ? p + strlen(key) : NULL;
}

static bool name_ok(const char *name)
{
    return g_str_has_prefix(name, FDSTORE_PREFIX) && strlen(name) <= NAME_MAX_LEN &&
           strchr(name, ':') == NULL && !g_str_has_suffix(name, "/listen") &&
           strcmp(name, FDSTORE_PREFIX "control") != 0;
}

/* One datagram; false when there is none. */
static bool read_one(struct iso_store *s)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FDS_PER_MSG)];
        struct cmsghdr align;
    } u;
    char text[4096];
    struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    g_autofree char *name = NULL;
    g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
    const char *n;
    bool truncated;
    ssize_t len = recvmsg(s->chan, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

    if (len < 0) {
        return errno == EINTR;
    }
    if (len == 0 && mh.msg_controllen == 0) {
        return false;
    }
    text[len] = '\0';
    /* Truncated: what came is closed, and nothing stored under the name
     * (below, FDSTORE=1 with no fds). */
    truncated = util_cmsg_fds(&mh, fds) < 0;
    n = field(text, "FDNAME=");
    if (n != NULL) {
        name = g_strndup(n, strcspn(n, "\n"));
    }
    if (name != NULL && !name_ok(name)) {
        if (!g_str_has_suffix(name, "/listen")) {
            log_warn(NULL, "[%s] isolated process: fd store name '%.64s' refused",
                     s->dev, name);
        }
    } else if (name != NULL && field(text, "FDSTOREREMOVE=1") != NULL) {
        store_remove(s, name);
    } else if (name != NULL && field(text, "FDSTORE=1") != NULL && !truncated) {
        for (guint i = 0; i < fds->len; i++) {
            store_add(s, name, g_array_index(fds, int, i));
        }
        g_array_set_size(fds, 0);
    }
    /* READY=1, STATUS=...: nothing for us. */
    for (guint i = 0; i < fds->len; i++) {
        close(g_array_index(fds, int, i));
    }
    return true;
}

static gboolean readable(gint fd, GIOCondition cond, gpointer data)
{
    struct iso_store *s = data;

    (void)fd;
    (void)cond;
    while (s->chan >= 0 && read_one(s)) {
    }
    return G_SOURCE_CONTINUE;
}

int iso_store_channel(struct iso_store *s, GMainContext *ctx)
{
    int sv[2];

    iso_store_drain(s);
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    s->chan = sv[0];
    s->src = g_unix_fd_source_new(s->chan, G_IO_IN);
    g_source_set_callback(s->src, G_SOURCE_FUNC(readable), s, NULL);
    g_source_attach(s->src, ctx);
    return sv[1];
}

void iso_store_pump(struct iso_store *s, int wake_fd, int ms)
{
    /* poll() skips a negative fd. */
    GPollFD p[2] = {
        { .fd = s != NULL && s->chan >= 0 ? s->chan : -1, .events = G_IO_IN },
        { .fd = wake_fd, .events = G_IO_IN },
    };

    if (p[0].fd < 0 && wake_fd < 0) {
        g_usleep((gulong)ms * 1000);
        return;
    }
    if (g_poll(p, 2, ms) > 0 && p[0].revents != 0) {
        while (read_one(s)) {
        }
    }
}

void iso_store_drain(struct iso_store *s)
{
    if (s == NULL) {
        return;
    }
    while (s->chan >= 0 && read_one(s)) {
    }
    close_channel(s);
}

void iso_store_export(struct iso_store *s, int listen_fd, GArray *fds, GString *names)
{
    bool handover = false;

    for (guint i = 0; i < s->entries->len; i++) {
        const struct iso_entry *e = g_ptr_array_index(s->entries, i);

        g_array_append_val(fds, e->fd);
        g_string_append_printf(names, "%s%s", i > 0 ? ":" : "", e->name);
        handover = handover || strcmp(e->name, FDSTORE_PREFIX "state") == 0;
    }
    if (handover && listen_fd >= 0) {
        /* The stopped child's hand-over names the listening socket, which
         * is ours: given under that name, not kept (a crash re-attach
         * would take it as a second socket for the device). */
        g_array_append_val(fds, listen_fd);
        g_string_append_printf(names, "%s" FDSTORE_PREFIX "%s/listen",
                               names->len > 0 ? ":" : "", s->dev);
    }
}

void iso_store_handoff(struct iso_store *s, GPtrArray *listen)
{
    for (guint i = 0; i < s->entries->len; i++) {
        const struct iso_entry *e = g_ptr_array_index(s->entries, i);
        struct handoff_listen *l = g_new0(struct handoff_listen, 1);

        l->name = mirror_name(s, e->name);
        l->fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 3);
        g_ptr_array_add(listen, l);
    }
}

guint iso_store_count(struct iso_store *s)
{
    return s->entries->len;
}

void iso_store_seed(struct iso_store *s)
{
    g_autofree char *prefix = g_strdup_printf(FDSTORE_PREFIX "%s/c/", s->dev);
    g_autoptr(GPtrArray) names = fdstore_taken_names(prefix);

    for (guint i = 0; i < names->len; i++) {
        const char *m = g_ptr_array_index(names, i);
        g_autofree char *name = g_strconcat(FDSTORE_PREFIX, m + strlen(prefix), NULL);
        int fd;

        /* All of them: several under one name are all the child's. */
        while ((fd = fdstore_take_fd(m)) >= 0) {
            if (name_ok(name)) {
                store_add(s, name, fd);
            } else {
                close(fd);
            }
        }
    }
    if (s->entries->len > 0) {
        log_notice(NULL, "[%s] fd store: %u fd(s) of the isolated process given back",
                   s->dev, s->entries->len);
    }
}

/* The newest entry under name, or NULL. */
static const struct iso_entry *find(const struct iso_store *s, const char *name)
{
    for (guint i = s->entries->len; i-- > 0;) {
        const struct iso_entry *e = g_ptr_array_index(s->entries, i);

        if (strcmp(e->name, name) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The names the stopped child listed for its hand-over's fds, in order. */
static json_object *handover_names(int tbl)
{
    g_autofree char *text = NULL;
    json_object *names;
    struct stat st;

    if (fstat(tbl, &st) < 0 || st.st_size <= 0 || st.st_size > (16 << 20)) {
        return NULL;
    }
    text = g_malloc0((gsize)st.st_size + 1);
    if (pread(tbl, text, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
        return NULL;
    }
    names = json_tokener_parse(text);
    if (names != NULL && !json_object_is_type(names, json_type_array)) {
        json_object_put(names);
        names = NULL;
    }
    return names;
}

int iso_store_handover(struct iso_store *s, int listen_fd, int *blob, GArray *fds,
                       char **why)
{
    const struct iso_entry *state = find(s, FDSTORE_PREFIX "state");
    const struct iso_entry *tbl = find(s, FDSTORE_PREFIX "state-fds");
    g_autofree char *listen = g_strdup_printf(FDSTORE_PREFIX "%s/listen", s->dev);
    json_object *names;
    int r = 0;

    *blob = -1;
    if (state == NULL || tbl == NULL) {
        return -ENOENT;
    }
    names = handover_names(tbl->fd);
    if (names == NULL) {
        *why = g_strdup("the stored list of the hand-over's fds cannot be read");
        return -EPROTO;
    }
    for (size_t i = 0; i < json_object_array_length(names) && r == 0; i++) {
        const char *n = json_object_get_string(json_object_array_get_idx(names, i));
        const struct iso_entry *e = n != NULL ? find(s, n) : NULL;
        int fd = -1;

        if (n != NULL && strcmp(n, listen) == 0) {
            /* Ours, never stored (iso_store_export). */
            fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 3);
        } else if (e != NULL) {
            fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 3);
        }
        if (fd < 0) {
            *why = g_strdup_printf("the stored hand-over lacks %s", n != NULL ? n : "?");
            r = -EPROTO;
            break;
        }
        g_array_append_val(fds, fd);
    }
    json_object_put(names);
    if (r == 0) {
        *blob = fcntl(state->fd, F_DUPFD_CLOEXEC, 3);
        r = *blob >= 0 ? 0 : -errno;
    }
    if (r < 0) {
        for (guint i = 0; i < fds->len; i++) {
            close(g_array_index(fds, int, i));
        }
        g_array_set_size(fds, 0);
        return r;
    }
    /* Used once, as a child taking it from its store removes it
     * (fdstore_handover_sock): a later crash of the next child must
     * re-attach, not go back to this state.  Now, before that child
     * stores its fds again: a name kept here would keep it from storing
     * the same file under its own. */
    {
        g_autoptr(GPtrArray) used = g_ptr_array_new_with_free_func(g_free);

        for (guint i = 0; i < s->entries->len; i++) {
            const struct iso_entry *e = g_ptr_array_index(s->entries, i);

            if (g_str_has_prefix(e->name, FDSTORE_PREFIX "state")) {
                g_ptr_array_add(used, g_strdup(e->name));
            }
        }
        for (guint i = 0; i < used->len; i++) {
            store_remove(s, g_ptr_array_index(used, i));
        }
    }
    return 0;
}
