/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Restarting under systemd with the fd store (fdstore.h).
 *
 * Clean stop (SIGTERM: "systemctl restart", or stop): every device is
 * captured at a message boundary exactly as for "vfiouserctl upgrade"
 * (dev_handoff.h), and the hand-over that upgrade.c sends over a socket
 * is put in the store instead: the blob's memfd as vfud/state, its fds
 * as vfud/state/0..N-1.  The next process feeds them through a local
 * socketpair to upgrade_adopt(), which cannot tell the difference: the
 * guest sees a pause.  On "systemctl stop" systemd drops the store, and
 * with it the last reference to the client sockets: QEMU sees the server
 * go away, as before.
 *
 * Crash: no hand-over, but the fds the daemon kept in the store while it
 * ran (fdstore_dev.c).  Each client that was attached is re-attached
 * from them -- windows mapped again, interrupts wired, config space as
 * the guest left it -- and its device is reset with VFUD_RESET_LOST (an
 * NVMe controller then reports a fatal status, which the guest driver's
 * timeout handler answers with a controller reset).  A client whose
 * socket the dead process left in the middle of a message cannot be
 * resynchronised: it is disconnected.
 */
#include "config.h"

#include "fdstore.h"
#include "conn.h"
#include "control.h"
#include "dev_handoff.h"
#include "device.h"
#include "device_proc.h"
#include "devset.h"
#include "handoff.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#define STATE_NAME FDSTORE_PREFIX "state"

static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;

    json_object_object_get_ex(o, k, &v);
    return v;
}

/* ------------------------------------------------------------------------
 * Start-up: the hand-over of a clean stop
 */
/* The fds of the hand-over, in its order, from the names the stopped
 * process listed. */
static int handover_fds(int tbl, GArray *fds)
{
    g_autofree char *text = NULL;
    json_object *names;
    struct stat st;
    int r = 0;

    if (fstat(tbl, &st) < 0 || st.st_size <= 0 || st.st_size > (16 << 20)) {
        return -EPROTO;
    }
    text = g_malloc0((gsize)st.st_size + 1);
    if (pread(tbl, text, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
        return -EIO;
    }
    names = json_tokener_parse(text);
    if (names == NULL || !json_object_is_type(names, json_type_array)) {
        json_object_put(names);
        return -EPROTO;
    }
    for (size_t i = 0; i < json_object_array_length(names) && r == 0; i++) {
        const char *n = json_object_get_string(json_object_array_get_idx(names, i));
        int fd;

        if (n == NULL) {
            r = -EPROTO;
            break;
        }
        /* Shared names (a window's file) stay for the others. */
        fd = g_str_has_prefix(n, STATE_NAME "/") ? fdstore_take_fd(n) : fdstore_dup_fd(n);
        if (fd < 0) {
            log_error(NULL, "fd store: the hand-over lacks %s", n);
            r = -ENOENT;
            break;
        }
        g_array_append_val(fds, fd);
    }
    json_object_put(names);
    return r;
}

int fdstore_handover_sock(void)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    int blob = fdstore_take_fd(STATE_NAME);
    int tbl = fdstore_take_fd(STATE_NAME "-fds");
    int sv[2] = { -1, -1 };
    int r = 0;

    /* Used once: if adopting it fails, the next start takes the crash
     * path with what the store still holds. */
    fdstore_remove_taken(STATE_NAME);
    if (blob < 0 || tbl < 0) {
        util_close(&blob);
        util_close(&tbl);
        g_array_unref(fds);
        return -1;
    }
    r = handover_fds(tbl, fds);
    if (r == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = -errno;
    }
    if (r == 0) {
        r = handoff_send_stream(sv[0], blob, (const int *)(void *)fds->data, fds->len);
    }
    util_close(&blob);
    util_close(&tbl);
    for (guint i = 0; i < fds->len; i++) {
        close(g_array_index(fds, int, i));
    }
    g_array_unref(fds);
    /* Our end stays open until we exit: upgrade_adopt's READY and OK go
     * there and are never read. */
    if (r < 0) {
        log_error(NULL, "fd store: cannot replay the hand-over: %s; re-attaching "
                  "the clients with the devices reset instead", g_strerror(-r));
        util_close(&sv[0]);
        util_close(&sv[1]);
        return -1;
    }
    log_notice(NULL, "fd store: taking over from the stopped process");
    return sv[1];
}

/* ------------------------------------------------------------------------
 * Start-up: crash re-attach
 */
struct reattach {
    struct dev_state *st;
    GByteArray *config;
    unsigned quick;
    char *why;
};

static int reattach_on_thread(vfud_dev *dev, void *data)
{
    struct reattach *ra = data;
    int r = dev_restore(dev, ra->st, &ra->why);

    if (r == 0 && !ra->st->conn->versioned) {
        /* Connected, VERSION still to come (or read by the dead process and
         * never answered: the client times it out, or our handshake
         * deadline drops it).  Nothing of the device was used: no reset,
         * this process negotiates with it as with a new client. */
        fdstore_dev_reattached(dev, ra->quick);
        return 0;
    }
    if (r == 0) {
        if (ra->config != NULL) {
            memcpy(dev->pci.cfg, ra->config->data, ra->config->len);
        }
        /* Counted in the store before the plugin runs again. */
        fdstore_dev_reattached(dev, ra->quick);
        if (dev->ops->reset != NULL) {
            int rr;

            device_cb_enter(dev, "reset");
            rr = dev->ops->reset(dev, VFUD_RESET_LOST);
            device_cb_leave(dev);
            if (rr < 0) {
                g_autofree char *e = device_take_error();

                dev_err(dev, "fd store: reset after re-attach failed: %s",
                        e != NULL ? e : g_strerror(-rr));
            }
        }
        fdstore_dev_rewrite(dev);
    }
    return r;
}

void fdstore_reattach(struct devset *ds)
{
    GPtrArray *entries = devset_entries(ds);

    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);
        vfud_dev *dev = e->dev;
        struct dev_state *st = NULL;
        GByteArray *config = NULL;
        unsigned quick = 0;
        g_autofree char *why = NULL;
        g_autofree char *prefix = g_strdup_printf(FDSTORE_PREFIX "%s/", dev->name);
        gint64 t0 = g_get_monotonic_time();
        int r;

        if (dev->proc->isolate) {
            /* Its process re-attaches its own client (isolate_store.h);
             * what a threaded instance of it stored before a change of
             * configuration is not for the supervising thread. */
            continue;
        }
        r = fdstore_dev_rebuild(dev, &st, &config, &quick, &why);
        if (r == 0 && st != NULL) {
            struct reattach ra = { .st = st, .config = config, .quick = quick };

            r = device_call_sync(dev, reattach_on_thread, &ra);
            if (r < 0) {
                g_free(why);
                why = ra.why != NULL ? ra.why : g_strdup(g_strerror(-r));
            } else {
                g_free(ra.why);
            }
        }
        if (config != NULL) {
            g_byte_array_unref(config);
        }
        /* From what was restored: the device thread serves the client
         * already, which may have sent VERSION or left. */
        if (r == 0 && st != NULL && !st->conn->versioned) {
            char pid[UTIL_PID_TEXT_SIZE];

            dev_notice(dev, "fd store: client %s re-attached after a crash before its "
                       "VERSION; it negotiates with this process",
                       util_pid_text(st->conn->pid, pid));
        } else if (r == 0 && st != NULL) {
            char pid[UTIL_PID_TEXT_SIZE];

            dev_notice(dev, "fd store: client %s re-attached after a crash in "
                       "%.1f ms; device reset (the guest driver recovers it)",
                       util_pid_text(st->conn->pid, pid),
                       (double)(g_get_monotonic_time() - t0) / 1000.0);
            if (quick > 0) {
                dev_warn(dev, "fd store: crash %u in a row within %u s of re-attaching "
                         "this client; at %u it is dropped", quick,
                         FDSTORE_CRASH_QUICK_MS / 1000, FDSTORE_CRASH_DROP);
            }
        }
        if (r < 0) {
            g_autofree char *conn = g_strdup_printf("%sconn", prefix);
            g_autofree char *twin = g_strdup_printf("%stwin", prefix);
            g_autofree char *win = g_strdup_printf("%swin/", prefix);
            g_autofree char *irq = g_strdup_printf("%sirq/", prefix);
            g_autofree char *meta = g_strdup_printf("%smeta", prefix);

            dev_err(dev, "fd store: the client cannot be re-attached after the "
                    "crash: %s; it is disconnected", why != NULL ? why : "?");
            /* The store's copies would keep the client's socket open. */
            fdstore_remove(conn);
            fdstore_remove(twin);
            fdstore_remove_taken(win);
            fdstore_remove_taken(irq);
            /* What it described is gone: the next crash has no client. */
            fdstore_remove(meta);
        }
        dev_state_free(st); /* closes what the device did not take */
    }
}

/* ------------------------------------------------------------------------
 * SIGTERM
 */
struct stop_cap {
    struct dev_state *st;
    struct device_call *call;
    char *why;
};

/* Device thread: capture, then stay here until the process exits (it
 * must read nothing more from the client). */
static int stop_on_thread(vfud_dev *dev, void *data)
{
    static GMutex never_lock;
    static GCond never;
    struct stop_cap *sc = data;

    device_call_return(dev_capture(dev, sc->st, &sc->why));
    g_mutex_lock(&never_lock);
    for (;;) {
        g_cond_wait(&never, &never_lock);
    }
    return 0;
}

/* The store name of each fd of the hand-over, from its JSON: the names the
 * running daemon stored them under already (systemd keeps an open file
 * once, whatever the name, so the same fd cannot be stored again under
 * another).  Fds with no such name get vfud/state/INDEX. */
static int name_fds(int blob, const GArray *fds, GPtrArray *names)
{
    uint8_t hdr[24];
    uint32_t jlen;
    g_autofree char *text = NULL;
    json_object *root, *a;

    if (pread(blob, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
        return -EIO;
    }
    memcpy(&jlen, hdr + 12, 4);
    jlen = GUINT32_FROM_LE(jlen);
    text = g_malloc0((gsize)jlen + 1);
    if (pread(blob, text, jlen, sizeof(hdr)) != (ssize_t)jlen) {
        return -EIO;
    }
    root = json_tokener_parse(text);
    if (root == NULL) {
        return -EPROTO;
    }
    g_ptr_array_set_size(names, (gint)fds->len);
#define NAME(idx_obj, ...)                                                      \
    do {                                                                        \
        int i_ = (idx_obj) != NULL ? json_object_get_int(idx_obj) : -1;        \
        if (i_ >= 0 && (guint)i_ < fds->len && names->pdata[i_] == NULL) {      \
            names->pdata[i_] = g_strdup_printf(__VA_ARGS__);                    \
        }                                                                       \
    } while (0)
    a = member(root, "devices");
    for (size_t d = 0; d < json_object_array_length(a); d++) {
        json_object *dev = json_object_array_get_idx(a, d);
        const char *dn = json_object_get_string(member(dev, "name"));
        json_object *c = member(dev, "conn");
        json_object *l;

        if (c != NULL) {
            NAME(member(c, "fd"), FDSTORE_PREFIX "%s/conn", dn);
            NAME(member(c, "twin_fd"), FDSTORE_PREFIX "%s/twin", dn);
        }
        l = member(dev, "windows");
        for (size_t i = 0; i < json_object_array_length(l); i++) {
            json_object *idx = json_object_array_get_idx(json_object_array_get_idx(l, i), 4);
            int k = json_object_get_int(idx);
            struct stat st;

            if (k >= 0 && (guint)k < fds->len &&
                fstat(g_array_index(fds, int, k), &st) == 0 && names->pdata[k] == NULL) {
                names->pdata[k] = fdstore_win_name(dn, (uint64_t)st.st_dev,
                                                   (uint64_t)st.st_ino);
            }
        }
        l = member(dev, "irqs");
        for (size_t i = 0; i < json_object_array_length(l); i++) {
            json_object *e = json_object_array_get_idx(l, i);

            NAME(json_object_array_get_idx(e, 2), FDSTORE_PREFIX "%s/irq/%d/%d", dn,
                 json_object_get_int(json_object_array_get_idx(e, 0)),
                 json_object_get_int(json_object_array_get_idx(e, 1)));
        }
        NAME(member(dev, "intx_unmask_fd"), FDSTORE_PREFIX "%s/intx-unmask", dn);
        l = member(dev, "region_fds");
        for (size_t i = 0; i < json_object_array_length(l); i++) {
            NAME(json_object_array_get_idx(l, i), FDSTORE_PREFIX "%s/region/%zu", dn, i);
        }
    }
    a = member(root, "listen");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);

        NAME(member(e, "fd"), FDSTORE_PREFIX "%s/listen",
             json_object_get_string(member(e, "name")));
    }
    if (member(root, "control") != NULL) {
        NAME(member(member(root, "control"), "fd"), FDSTORE_PREFIX "control");
    }
#undef NAME
    for (guint i = 0; i < names->len; i++) {
        if (names->pdata[i] == NULL) {
            names->pdata[i] = g_strdup_printf(STATE_NAME "/%u", i);
        }
    }
    json_object_put(root);
    return 0;
}

/* Store h: its fds under their names, the list of names, then the blob. */
static int store_handoff(const struct handoff *h)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int)); /* borrowed from h */
    json_object *list = json_object_new_array();
    const char *text;
    int blob = -1, tbl = -1;
    int r;

    r = handoff_encode(h, &blob, fds);
    if (r == 0) {
        r = name_fds(blob, fds, names);
    }
    for (guint i = 0; r == 0 && i < fds->len; i++) {
        const char *n = g_ptr_array_index(names, i);

        /* Already there under that name: systemd ignores it. */
        if (fdstore_push(n, g_array_index(fds, int, i)) < 0) {
            r = -EIO;
        }
        json_object_array_add(list, json_object_new_string(n));
    }
    if (r == 0) {
        text = json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN);
        tbl = memfd_create("vfiouserd-fdstore-names", MFD_CLOEXEC);
        if (tbl < 0 || write(tbl, text, strlen(text)) != (ssize_t)strlen(text)) {
            r = -EIO;
        }
    }
    if (r == 0 && fdstore_push(STATE_NAME "-fds", tbl) < 0) {
        r = -EIO;
    }
    /* Last: without it the next process takes the crash path. */
    if (r == 0 && fdstore_push(STATE_NAME, blob) < 0) {
        r = -EIO;
    }
    util_close(&blob);
    util_close(&tbl);
    g_array_unref(fds);
    json_object_put(list);
    return r;
}

void fdstore_stop(struct devset *ds, struct control *ctl)
{
    GPtrArray *entries = devset_entries(ds);
    struct stop_cap *caps;
    struct handoff *h;
    gint64 t0 = g_get_monotonic_time();
    int r = 0;

    if (!fdstore_enabled()) {
        return;
    }
    caps = g_new0(struct stop_cap, entries->len);
    h = handoff_new();
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        caps[i].st = dev_state_new(e->dev->name);
        caps[i].call = device_call_start(e->dev, stop_on_thread, &caps[i]);
    }
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);
        int rc = device_call_wait(caps[i].call);

        if (rc < 0) {
            log_error(NULL, "[%s] fd store: no hand-over (%s); the next process "
                      "re-attaches its client with the device reset", e->dev->name,
                      caps[i].why != NULL ? caps[i].why : g_strerror(-rc));
            r = rc;
            continue;
        }
        /* An isolated device's process stored its state with us, and we
         * in systemd's store already. */
        dev_handoff_add(h, e->dev, &caps[i].st, false);
    }
    if (r == 0) {
        if (ctl != NULL) {
            h->control_fd = fcntl(control_fd(ctl), F_DUPFD_CLOEXEC, 3);
            h->control_path = g_strdup(control_socket_path(ctl));
        }
        r = store_handoff(h);
        if (r < 0) {
            log_error(NULL, "fd store: storing the hand-over failed: %s; the next "
                      "process re-attaches the clients with the devices reset",
                      g_strerror(-r));
            fdstore_remove(STATE_NAME);
        }
    }
    /* As any stop: the socket files go, so that "systemctl stop" leaves
     * none.  A restart binds new ones; clients already connected keep
     * their connection (in the store), new ones wait for the new process
     * as they always did. */
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        if (e->dev->proc->unlink_on_stop && e->dev->proc->sock.path != NULL) {
            unlink(e->dev->proc->sock.path);
        }
    }
    if (ctl != NULL && control_socket_path(ctl) != NULL) {
        unlink(control_socket_path(ctl));
    }
    if (r == 0) {
        log_notice(NULL, "fd store: state of %u device(s) stored in %.1f ms; "
                   "exiting without disconnecting the clients", entries->len,
                   (double)(g_get_monotonic_time() - t0) / 1000.0);
    }
    /* Nothing torn down: the store holds the clients' sockets, and a
     * shutdown() would reach them. */
    _exit(0);
}
