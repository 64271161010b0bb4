/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fd store's protocol (fdstore.h): pushing, removing, taking back.
 */
#include "config.h"

#include "fdstore.h"
#include "log.h"
#include "sd_notify.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_FDS_START 3

static bool enabled;
static gint warned;
/* Taken back at start-up: name -> GArray of int (all fds of that name). */
static GHashTable *taken;

void fdstore_init(bool asked)
{
    const char *ns = getenv("NOTIFY_SOCKET");
    const char *max = getenv("FDSTORE");

    if (ns == NULL || ns[0] == '\0') {
        return;
    }
    /* systemd >= 254 tells us the store's size; 252 does not, so the
     * units ask with --fd-store. */
    enabled = asked || (max != NULL && g_ascii_strtoull(max, NULL, 10) > 0);
    if (enabled) {
        log_info(NULL, "fd store: clients survive a restart or a crash of "
                 "this daemon (vfiouserd(8), RESTART AND CRASH)");
    }
}

void fdstore_init_child(int notify_fd)
{
    sd_notify_set_fd(notify_fd);
    enabled = true;
}

bool fdstore_enabled(void)
{
    return enabled;
}

int fdstore_push(const char *name, int fd)
{
    g_autofree char *msg = NULL;
    int r;

    if (!enabled || fd < 0) {
        return 0;
    }
    msg = g_strdup_printf("FDSTORE=1\nFDNAME=%s", name);
    r = sd_notify_with_fds(msg, &fd, 1);
    if (r < 0 && g_atomic_int_compare_and_exchange(&warned, 0, 1)) {
        log_warn(NULL, "fd store: cannot store %s: %s (a restart will lose it)",
                 name, g_strerror(-r));
    }
    return r;
}

void fdstore_remove(const char *name)
{
    g_autofree char *msg = NULL;

    if (!enabled) {
        return;
    }
    msg = g_strdup_printf("FDSTOREREMOVE=1\nFDNAME=%s", name);
    (void)sd_notify_send(msg);
}

bool fdstore_is_ours(const char *name)
{
    return name != NULL && g_str_has_prefix(name, FDSTORE_PREFIX);
}

static void fd_array_free(gpointer p)
{
    GArray *a = p;

    for (guint i = 0; i < a->len; i++) {
        util_close(&g_array_index(a, int, i));
    }
    g_array_unref(a);
}

/* n fds from start on, named by the ':'-separated names. */
static void take_names(int start, guint64 n, const char *snames)
{
    g_auto(GStrv) names = g_strsplit(snames, ":", -1);

    if (g_strv_length(names) != n) {
        return;
    }
    for (guint i = 0; i < n; i++) {
        int fd = start + (int)i;
        GArray *a;

        if (!fdstore_is_ours(names[i])) {
            continue;
        }
        /* Never into a process a plugin starts. */
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        a = g_hash_table_lookup(taken, names[i]);
        if (a == NULL) {
            a = g_array_new(FALSE, FALSE, sizeof(int));
            g_hash_table_insert(taken, g_strdup(names[i]), a);
        }
        g_array_append_val(a, fd);
    }
    if (g_hash_table_size(taken) > 0) {
        log_notice(NULL, "fd store: %u name(s) given back by the %s",
                   g_hash_table_size(taken),
                   start == LISTEN_FDS_START ? "service manager" : "parent process");
    }
}

void fdstore_take(void)
{
    const char *spid = getenv("LISTEN_PID");
    const char *sfds = getenv("LISTEN_FDS");
    const char *snames = getenv("LISTEN_FDNAMES");
    guint64 pid, n;

    if (taken == NULL) {
        taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, fd_array_free);
    }
    if (spid == NULL || sfds == NULL || snames == NULL ||
        !g_ascii_string_to_unsigned(spid, 10, 1, G_MAXINT, &pid, NULL) ||
        (pid_t)pid != getpid() ||
        !g_ascii_string_to_unsigned(sfds, 10, 0, 65536, &n, NULL)) {
        return; /* listener_take_activation reports what is wrong */
    }
    take_names(LISTEN_FDS_START, n, snames);
}

void fdstore_take_child(int start)
{
    const char *sfds = getenv(FDSTORE_CHILD_FDS);
    const char *snames = getenv(FDSTORE_CHILD_FDNAMES);
    guint64 n;

    if (taken == NULL) {
        taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, fd_array_free);
    }
    if (sfds != NULL && snames != NULL &&
        g_ascii_string_to_unsigned(sfds, 10, 0, 65536, &n, NULL)) {
        take_names(start, n, snames);
    }
    /* Nothing the plugin starts inherits them. */
    g_unsetenv(FDSTORE_CHILD_FDS);
    g_unsetenv(FDSTORE_CHILD_FDNAMES);
}

int fdstore_take_fd(const char *name)
{
    GArray *a = taken != NULL ? g_hash_table_lookup(taken, name) : NULL;
    int fd;

    if (a == NULL || a->len == 0) {
        return -1;
    }
    /* Several under one name: an fd re-stored after an upgrade; the last
     * is the newest. */
    fd = g_array_index(a, int, a->len - 1);
    g_array_index(a, int, a->len - 1) = -1;
    g_array_set_size(a, a->len - 1);
    return fd;
}

int fdstore_dup_fd(const char *name)
{
    GArray *a = taken != NULL ? g_hash_table_lookup(taken, name) : NULL;

    if (a == NULL || a->len == 0) {
        return -1;
    }
    return fcntl(g_array_index(a, int, a->len - 1), F_DUPFD_CLOEXEC, 3);
}

GPtrArray *fdstore_taken_names(const char *prefix)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer k, v;

    if (taken == NULL) {
        return out;
    }
    g_hash_table_iter_init(&it, taken);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        if (g_str_has_prefix(k, prefix) && ((GArray *)v)->len > 0) {
            g_ptr_array_add(out, g_strdup(k));
        }
    }
    return out;
}

void fdstore_remove_taken(const char *prefix)
{
    GHashTableIter it;
    gpointer k;

    if (taken == NULL) {
        return;
    }
    g_hash_table_iter_init(&it, taken);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        if (g_str_has_prefix(k, prefix)) {
            fdstore_remove(k);
        }
    }
}

void fdstore_give(const char *name, int fd)
{
    GArray *a;

    if (fd < 0) {
        return;
    }
    if (taken == NULL) {
        taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, fd_array_free);
    }
    a = g_hash_table_lookup(taken, name);
    if (a == NULL) {
        a = g_array_new(FALSE, FALSE, sizeof(int));
        g_hash_table_insert(taken, g_strdup(name), a);
    }
    g_array_append_val(a, fd);
}

void fdstore_take_done(void)
{
    if (taken != NULL) {
        g_hash_table_destroy(taken);
        taken = NULL;
    }
}
