/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket (see control.h for the protocol, vfiouserctl(8) for
 * the commands).
 *
 * Every connection is a GSource on the main context.  A request runs when
 * the one before it on the same connection has been answered; while one
 * waits (a device stopping), the connection reads no more, so a client can
 * make the daemon hold at most one request and CONTROL_MAX_LINE bytes.
 */
#include "config.h"

#include "control.h"
#include "device.h"
#include "device_proc.h"
#include "devset.h"
#include "listener.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib.h>

/* Unsent answer bytes above which a connection reads no more requests. */
#define CONTROL_OUT_HIGH (4u << 20)

struct command {
    const char *name;
    control_fn fn;
    void *data;
};

struct control {
    struct devset *ds;
    char *path;
    int fd;
    GSource *listen_src;
    GList *conns; /* struct control_conn * */
    gint64 started;
};

struct control_conn {
    struct control *ctl;
    int fd;
    GSource *src;
    gpointer tag;
    GString *in;     /* received, not yet handled */
    bool skipping;   /* dropping the rest of an oversized line */
    bool eof;        /* the peer will send nothing more */
    GString *out;    /* answers not yet sent */
    gsize out_off;
    struct control_request *pending; /* waiting for its answer */
    bool dispatching; /* inside a command function */
    GSource *resume_src;
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

struct control_request {
    struct control_conn *conn; /* NULL once the connection has gone */
    struct devset *ds;
    json_object *id;
    pid_t pid;
    uid_t uid;
};

static GArray *extra_commands; /* struct command, from control_register */

static void conn_update(struct control_conn *cc);
static void conn_process(struct control_conn *cc);

void control_register(const char *name, control_fn fn, void *data)
{
    struct command c = { name, fn, data };

    if (extra_commands == NULL) {
        extra_commands = g_array_new(FALSE, FALSE, sizeof(struct command));
    }
    g_array_append_val(extra_commands, c);
}

pid_t control_request_pid(const struct control_request *req)
{
    return req->pid;
}

uid_t control_request_uid(const struct control_request *req)
{
    return req->uid;
}

struct devset *control_request_devset(const struct control_request *req)
{
    return req->ds;
}

/* ------------------------------------------------------------------------
 * Answers
 */
static void request_free(struct control_request *req)
{
    if (req->id != NULL) {
        json_object_put(req->id);
    }
    g_free(req);
}

static gboolean resume_idle(gpointer data)
{
    struct control_conn *cc = data;

    g_source_unref(cc->resume_src);
    cc->resume_src = NULL;
    conn_process(cc); /* may close cc */
    return G_SOURCE_REMOVE;
}

void control_answer(struct control_request *req, json_object *answer)
{
    struct control_conn *cc = req->conn;

    if (cc != NULL) {
        if (req->id != NULL) {
            json_object_object_add(answer, "id", json_object_get(req->id));
        }
        g_string_append(cc->out, json_object_to_json_string_ext(
                                     answer, JSON_C_TO_STRING_PLAIN |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
        g_string_append_c(cc->out, '\n');
        cc->pending = NULL;
        if (!cc->dispatching && cc->resume_src == NULL) {
            /* Answered later: the lines already received wait for us, not
             * for the socket to become readable. */
            cc->resume_src = g_idle_source_new();
            g_source_set_callback(cc->resume_src, resume_idle, cc, NULL);
            g_source_attach(cc->resume_src, NULL);
        }
    }
    json_object_put(answer);
    request_free(req);
}

static void add_str(json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, v != NULL ? json_object_new_string(v) : NULL);
}

static const char *errno_name(int err)
{
    switch (err) {
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EBUSY: return "EBUSY";
    case ENOSYS: return "ENOSYS";
    case E2BIG: return "E2BIG";
    case EPROTO: return "EPROTO";
    case ESHUTDOWN: return "ESHUTDOWN";
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOTSUP: return "ENOTSUP";
    case EAGAIN: return "EAGAIN";
    default: return "EIO";
    }
}

/* {"ok": false, "error": text, "code": "EXXX"} */
static json_object *error_answer(int err, const char *text)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "ok", json_object_new_boolean(0));
    json_object_object_add(a, "error", json_object_new_string(text));
    json_object_object_add(a, "code", json_object_new_string(errno_name(err)));
    return a;
}


void control_answer_error(struct control_request *req, int err, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    control_answer(req, error_answer(err, text));
}

static json_object *ok_answer(void)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "ok", json_object_new_boolean(1));
    return a;
}

static json_object *string_list(const GPtrArray *names)
{
    json_object *l = json_object_new_array();

    for (guint i = 0; names != NULL && i < names->len; i++) {
        json_object_array_add(l, json_object_new_string(g_ptr_array_index(names, i)));
    }
    return l;
}

/* The answer to add, remove or reload: {"ok": true, ...} or {"ok": false,
 * "error": "...", "code": "EBUSY", ...}, and the errors logged meanwhile. */
static json_object *devset_answer(const struct devset_result *r)
{
    static const char *const names[DEVSET_NR_LISTS] = {
        [DEVSET_ADDED] = "added", [DEVSET_REMOVED] = "removed",
        [DEVSET_RECREATED] = "recreated", [DEVSET_UPDATED] = "updated",
        [DEVSET_UNCHANGED] = "unchanged", [DEVSET_RUNTIME] = "runtime",
        [DEVSET_FAILED] = "failed", [DEVSET_RESTART_NEEDED] = "restart_needed",
    };
    json_object *a = r->err != 0 ? error_answer(r->err, r->error) : ok_answer();

    if (r->device != NULL) {
        add_str(a, "device", r->device);
    }
    if (r->socket != NULL) {
        add_str(a, "socket", r->socket);
    }
    if (r->config != NULL) {
        add_str(a, "config", r->config);
    }
    if (r->reloaded) {
        json_object *pending = json_object_new_array();

        for (unsigned k = 0; k < DEVSET_NR_LISTS; k++) {
            /* These are always there; the others when not empty. */
            bool always = k <= DEVSET_UNCHANGED || k == DEVSET_RESTART_NEEDED;

            if (k == DEVSET_FAILED && r->lists[k] != NULL) {
                json_object *failed = json_object_new_array();

                for (guint i = 0; i < r->lists[k]->len; i++) {
                    json_object *f = json_object_new_object();

                    add_str(f, "device", g_ptr_array_index(r->lists[k], i));
                    add_str(f, "error", "cannot start (see errors)");
                    json_object_array_add(failed, f);
                }
                json_object_object_add(a, names[k], failed);
            } else if (always || r->lists[k] != NULL) {
                json_object_object_add(a, names[k], string_list(r->lists[k]));
            }
        }
        for (guint i = 0; r->pending != NULL && i < r->pending->len; i++) {
            const struct devset_pending *p = g_ptr_array_index(r->pending, i);
            json_object *o = json_object_new_object();

            add_str(o, "device", p->device);
            add_str(o, "change", p->change);
            add_str(o, "reason", p->reason);
            json_object_array_add(pending, o);
        }
        json_object_object_add(a, "pending", pending);
    }
    if (r->errors != NULL) {
        json_object_object_add(a, "errors", string_list(r->errors));
    }
    return a;
}

static void devset_answered(const struct devset_result *r, void *opaque)
{
    control_answer(opaque, devset_answer(r));
}

/* ------------------------------------------------------------------------
 * Arguments
 */
static const char *arg_string(json_object *args, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(args, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

static bool arg_bool(json_object *args, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(args, key, &v) && json_object_get_boolean(v);
}

/* The "device" member, which must name a served device. */
static struct devset_entry *arg_device(struct control_request *req,
                                       json_object *args)
{
    const char *name = arg_string(args, "device");
    struct devset_entry *e;

    if (name == NULL) {
        control_answer_error(req, EINVAL, "\"device\" (a string) is required");
        return NULL;
    }
    e = devset_find(req->ds, name);
    if (e == NULL) {
        control_answer_error(req, ENOENT, "no device %s", name);
    }
    return e;
}

/* ------------------------------------------------------------------------
 * Status
 */
static const char *state_name(const struct devset_entry *e,
                              const struct device_snapshot *s)
{
    if (e->busy) {
        return "stopping";
    }
    if (s->phase != DEV_RUNNING) {
        return "stopped";
    }
    return s->connected ? "connected" : "listening";
}

static void add_u64(json_object *o, const char *key, guint64 v)
{
    json_object_object_add(o, key, json_object_new_uint64(v));
}

static json_object *counters(const struct device_totals *t)
{
    json_object *o = json_object_new_object();

    add_u64(o, "messages_in", t->msgs_in);
    add_u64(o, "bytes_in", t->bytes_in);
    add_u64(o, "messages_out", t->msgs_out);
    add_u64(o, "bytes_out", t->bytes_out);
    add_u64(o, "errors", t->errors);
    return o;
}

static json_object *id_array(const GArray *ids)
{
    json_object *a = json_object_new_array();

    for (guint i = 0; ids != NULL && i < ids->len; i++) {
        json_object_array_add(a, json_object_new_uint64(g_array_index(ids, guint32, i)));
    }
    return a;
}

static json_object *device_summary(const struct devset_entry *e)
{
    json_object *o = json_object_new_object();
    struct device_snapshot s;
    char pid[UTIL_PID_TEXT_SIZE];

    device_snapshot(e->dev, &s);
    add_str(o, "name", e->dev->name);
    add_str(o, "plugin", e->dev->ops->name);
    add_str(o, "state", state_name(e, &s));
    add_str(o, "socket", e->dev->proc->sock.path);
    json_object_object_add(o, "client_pid",
                           s.connected ? json_object_new_int(s.pid) : NULL);
    /* As status's client.who: a pid 0 is a client in a pid namespace we
     * cannot see (client_pid keeps the kernel's 0 for scripts). */
    add_str(o, "client_who", s.connected ? util_pid_text(s.pid, pid) : NULL);
    return o;
}

static json_object *device_status(struct devset *ds, const struct devset_entry *e)
{
    const struct daemon_config *cfg = devset_config(ds);
    const vfud_dev *dev = e->dev;
    static const char *const irq_names[VFUD_NR_IRQ_TYPES] = {
        "intx", "msi", "msix", "err", "req",
    };
    json_object *o = json_object_new_object();
    json_object *sock = json_object_new_object();
    json_object *dma = json_object_new_object();
    json_object *irqs = json_object_new_object();
    json_object *totals;
    json_object *access = NULL;
    struct device_snapshot s;
    struct device_totals all;
    const GArray *uids = config_device_allowed_uids(cfg, e->dc);
    const GArray *gids = config_device_allowed_gids(cfg, e->dc);
    char mode[8];

    device_snapshot(e->dev, &s);
    add_str(o, "name", dev->name);
    add_str(o, "plugin", dev->ops->name);
    add_str(o, "plugin_path", dev->proc->plugin->path);
    add_str(o, "origin", e->from_file ? "config" : "runtime");
    add_str(o, "state", state_name(e, &s));
    if (s.isolated) {
        /* Its client and counters are the process's, not ours to see. */
        json_object *iso = json_object_new_object();

        json_object_object_add(iso, "pid", s.iso_pid > 0 ? json_object_new_int(s.iso_pid)
                                                         : NULL);
        add_u64(iso, "restarts", s.iso_restarts);
        json_object_object_add(o, "isolated", iso);
    }

    add_str(sock, "path", dev->proc->sock.path);
    json_object_object_add(sock, "activated", json_object_new_boolean(e->activated));
    snprintf(mode, sizeof(mode), "%04o", (unsigned)dev->proc->sock.mode);
    add_str(sock, "mode", e->activated ? NULL : mode);
    json_object_object_add(o, "socket", sock);

    if (s.connected) {
        json_object *c = counters(&s.client);
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(s.since / G_USEC_PER_SEC);
        g_autofree char *iso = t != NULL ? g_date_time_format_iso8601(t) : NULL;
        char pid[UTIL_PID_TEXT_SIZE];

        json_object_object_add(c, "pid", json_object_new_int(s.pid));
        /* What the pid says: 0 is a client in a pid namespace we cannot
         * see, not a process 0. */
        add_str(c, "who", util_pid_text(s.pid, pid));
        add_u64(c, "uid", s.uid);
        add_u64(c, "gid", s.gid);
        add_str(c, "since", iso);
        add_u64(c, "seconds", (guint64)MAX(0, (g_get_real_time() - s.since) / G_USEC_PER_SEC));
        json_object_object_add(c, "negotiated", json_object_new_boolean(s.versioned));
        json_object_object_add(o, "client", c);
    } else {
        json_object_object_add(o, "client", NULL);
    }

    add_u64(dma, "windows", s.dma_windows);
    add_u64(dma, "bytes_mapped", s.dma_bytes);
    json_object_object_add(o, "dma", dma);

    add_str(irqs, "mode", s.irq_mode);
    json_object_object_add(irqs, "bus_master", json_object_new_boolean(s.bus_master));
    add_u64(irqs, "raised", s.irq_raised);
    add_u64(irqs, "delivered", s.irq_delivered);
    for (unsigned t = 0; t < VFUD_NR_IRQ_TYPES; t++) {
        json_object *v = json_object_new_object();

        add_u64(v, "vectors", s.irq_count[t]);
        add_u64(v, "attached", s.irq_attached[t]);
        json_object_object_add(irqs, irq_names[t], v);
    }
    json_object_object_add(o, "irqs", irqs);

    all = s.past;
    all.msgs_in += s.client.msgs_in;
    all.bytes_in += s.client.bytes_in;
    all.msgs_out += s.client.msgs_out;
    all.bytes_out += s.client.bytes_out;
    all.errors += s.client.errors;
    totals = counters(&all);
    add_u64(totals, "clients", s.clients_served);
    add_u64(totals, "refused", s.clients_refused);
    json_object_object_add(o, "totals", totals);

    if ((uids != NULL && uids->len > 0) || (gids != NULL && gids->len > 0)) {
        access = json_object_new_object();
        json_object_object_add(access, "allowed_uids", id_array(uids));
        json_object_object_add(access, "allowed_gids", id_array(gids));
    }
    json_object_object_add(o, "access", access);
    add_str(o, "log_level", s.log_level >= 0 ? log_level_name(s.log_level) : NULL);
    add_str(o, "effective_log_level",
            log_level_name(s.log_level >= 0 ? s.log_level : log_get_level()));
    return o;
}

static void cmd_list(struct control_request *req, json_object *args, void *data)
{
    GPtrArray *entries = devset_entries(req->ds);
    json_object *a = ok_answer();
    json_object *list = json_object_new_array();

    (void)args;
    (void)data;
    for (guint i = 0; i < entries->len; i++) {
        json_object_array_add(list, device_summary(g_ptr_array_index(entries, i)));
    }
    json_object_object_add(a, "devices", list);
    control_answer(req, a);
}

static void cmd_status(struct control_request *req, json_object *args, void *data)
{
    struct control *ctl = data;
    const struct daemon_config *cfg = devset_config(req->ds);
    GPtrArray *entries = devset_entries(req->ds);
    json_object *a, *d, *list;

    if (json_object_object_get_ex(args, "device", NULL)) {
        struct devset_entry *e = arg_device(req, args);

        if (e == NULL) {
            return;
        }
        a = ok_answer();
        list = json_object_new_array();
        json_object_array_add(list, device_status(req->ds, e));
        json_object_object_add(a, "devices", list);
        control_answer(req, a);
        return;
    }
    a = ok_answer();
    d = json_object_new_object();
    json_object_object_add(d, "pid", json_object_new_int((int)getpid()));
    add_str(d, "version", PACKAGE_VERSION);
    add_str(d, "config", cfg->path);
    add_str(d, "control_socket", ctl->path);
    add_str(d, "log_level", log_level_name(log_get_level()));
    add_u64(d, "uptime_seconds",
            (guint64)((g_get_monotonic_time() - ctl->started) / G_USEC_PER_SEC));
    json_object_object_add(a, "daemon", d);
    list = json_object_new_array();
    for (guint i = 0; i < entries->len; i++) {
        json_object_array_add(list, device_status(req->ds, g_ptr_array_index(entries, i)));
    }
    json_object_object_add(a, "devices", list);
    control_answer(req, a);
}

/* The plugin's I/O counters (io_stats).  Runs on the main thread, as
 * device_proc_free() and so the plugin's destroy() do: the instance cannot go
 * away meanwhile. */
static void cmd_stats(struct control_request *req, json_object *args, void *data)
{
    struct devset_entry *e = arg_device(req, args);
    struct vfud_io_stats st;
    json_object *a, *io, *lat;
    vfud_dev *dev;

    (void)data;
    if (e == NULL) {
        return;
    }
    dev = e->dev;
    if (dev->ops->io_stats == NULL) {
        control_answer_error(req, ENOTSUP, "device %s: plugin %s keeps no I/O counters",
                     dev->name, dev->ops->name);
        return;
    }
    if (dev->proc->isolate) {
        control_answer_error(req, ENOTSUP, "device %s runs in a process of its own "
                     "(isolate): its counters live there", dev->name);
        return;
    }
    if (dev->phase != DEV_RUNNING || !dev->created) {
        control_answer_error(req, EAGAIN, "device %s is not running", dev->name);
        return;
    }
    memset(&st, 0, sizeof(st));
    st._struct_size = sizeof(st);
    dev->ops->io_stats(dev, &st);
    a = ok_answer();
    add_str(a, "device", dev->name);
    add_str(a, "plugin", dev->ops->name);
    io = json_object_new_object();
    add_u64(io, "reads", st.reads);
    add_u64(io, "writes", st.writes);
    add_u64(io, "others", st.others);
    add_u64(io, "bytes_read", st.bytes_read);
    add_u64(io, "bytes_written", st.bytes_written);
    add_u64(io, "errors", st.errors);
    add_u64(io, "queue_depth", st.queue_depth);
    /* the buckets that counted something: [from_ns, to_ns) */
    lat = json_object_new_array();
    for (unsigned i = 0; i < VFUD_LAT_BUCKETS; i++) {
        json_object *b;

        if (st.lat[i] == 0) {
            continue;
        }
        b = json_object_new_object();
        add_u64(b, "from_ns", i == 0 ? 0 : 1ull << i);
        if (i + 1 < VFUD_LAT_BUCKETS) {
            add_u64(b, "to_ns", 1ull << (i + 1));
        }
        add_u64(b, "count", st.lat[i]);
        json_object_array_add(lat, b);
    }
    json_object_object_add(io, "latency", lat);
    json_object_object_add(a, "io", io);
    control_answer(req, a);
}

static void cmd_version(struct control_request *req, json_object *args, void *data)
{
    json_object *a = ok_answer();

    (void)args;
    (void)data;
    add_str(a, "daemon", "vfiouserd");
    add_str(a, "version", PACKAGE_VERSION);
    json_object_object_add(a, "protocol", json_object_new_int(CONTROL_PROTOCOL));
    json_object_object_add(a, "pid", json_object_new_int((int)getpid()));
    control_answer(req, a);
}

/* ------------------------------------------------------------------------
 * Changes
 */
static void audit(const struct control_request *req, const char *what)
{
    log_notice(NULL, "control: %s (asked by pid %d uid %u)", what, (int)req->pid,
               (unsigned)req->uid);
}

/* {"device": "gpio1", "keys": ["plugin=gpio", "inputs=0x3", ...]} */
static void cmd_add(struct control_request *req, json_object *args, void *data)
{
    const char *name = arg_string(args, "device");
    struct device_config *dc;
    json_object *keys;
    g_autofree char *what = NULL;

    (void)data;
    if (name == NULL) {
        control_answer_error(req, EINVAL, "\"device\" (a string) is required");
        return;
    }
    if (!util_valid_device_name(name)) {
        control_answer_error(req, EINVAL, "invalid device name '%s' (use 1-64 of A-Z a-z "
                     "0-9 _ . -)", name);
        return;
    }
    if (!json_object_object_get_ex(args, "keys", &keys) ||
        !json_object_is_type(keys, json_type_array)) {
        control_answer_error(req, EINVAL, "\"keys\" (an array of \"key=value\" strings) "
                     "is required");
        return;
    }
    dc = config_device_new(name);
    for (size_t i = 0; i < json_object_array_length(keys); i++) {
        json_object *k = json_object_array_get_idx(keys, i);
        const char *kv = json_object_is_type(k, json_type_string)
                             ? json_object_get_string(k) : NULL;
        const char *eq = kv != NULL ? strchr(kv, '=') : NULL;
        g_autofree char *key = NULL;
        g_autofree char *value = NULL;
        g_autofree char *why = NULL;

        if (eq == NULL || eq == kv) {
            control_answer_error(req, EINVAL, "keys[%zu]: expected \"key=value\"", i);
            config_device_free(dc);
            return;
        }
        key = g_strstrip(g_strndup(kv, (gsize)(eq - kv)));
        value = g_strstrip(g_strdup(eq + 1));
        if (config_device_set(dc, key, value, 0, &why) < 0) {
            control_answer_error(req, EINVAL, "[%s] %s", name, why);
            config_device_free(dc);
            return;
        }
    }
    what = g_strdup_printf("add %s", name);
    audit(req, what);
    devset_add(req->ds, dc, devset_answered, req);
}

/* {"device": "gpio1", "force": false} */
static void cmd_remove(struct control_request *req, json_object *args, void *data)
{
    const char *name = arg_string(args, "device");
    bool force = arg_bool(args, "force");
    g_autofree char *what = NULL;

    (void)data;
    if (name == NULL) {
        control_answer_error(req, EINVAL, "\"device\" (a string) is required");
        return;
    }
    what = g_strdup_printf("remove %s%s", name, force ? " (force)" : "");
    audit(req, what);
    devset_remove(req->ds, name, force, devset_answered, req);
}

static void cmd_reload(struct control_request *req, json_object *args, void *data)
{
    (void)args;
    (void)data;
    audit(req, "reload");
    devset_reload(req->ds, devset_answered, req);
}

/* {"level": "debug"} for the daemon, {"device": "t0", "level": "debug"}
 * for one device ("default": the daemon's level again). */
static void cmd_log_level(struct control_request *req, json_object *args, void *data)
{
    const char *name = arg_string(args, "level");
    int level = -1;
    json_object *a;

    (void)data;
    if (name == NULL) {
        control_answer_error(req, EINVAL, "\"level\" (a string) is required");
        return;
    }
    if (strcmp(name, "default") != 0 && log_level_parse(name, &level) < 0) {
        control_answer_error(req, EINVAL, "invalid level '%s' (error, warning, notice, "
                     "info, debug%s)", name,
                     json_object_object_get_ex(args, "device", NULL) ? ", default" : "");
        return;
    }
    if (json_object_object_get_ex(args, "device", NULL)) {
        struct devset_entry *e = arg_device(req, args);

        if (e == NULL) {
            return;
        }
        __atomic_store_n(&e->dev->log_level, level, __ATOMIC_RELAXED);
        log_notice(e->dev->name, "log level %s", level >= 0 ? log_level_name(level)
                                                            : "as the daemon's");
        a = ok_answer();
        add_str(a, "device", e->dev->name);
    } else {
        if (level < 0) {
            control_answer_error(req, EINVAL, "\"default\" is for a device's level only");
            return;
        }
        log_set_level(level);
        log_notice(NULL, "log level %s", log_level_name(level));
        a = ok_answer();
    }
    add_str(a, "level", level >= 0 ? log_level_name(level) : "default");
    control_answer(req, a);
}

static const struct command builtin_commands[] = {
    { "version", cmd_version, NULL },
    { "list", cmd_list, NULL },
    { "status", cmd_status, NULL },
    { "stats", cmd_stats, NULL },
    { "add", cmd_add, NULL },
    { "remove", cmd_remove, NULL },
    { "reload", cmd_reload, NULL },
    { "log-level", cmd_log_level, NULL },
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(builtin_commands); i++) {
        if (strcmp(builtin_commands[i].name, name) == 0) {
            return &builtin_commands[i];
        }
    }
    for (guint i = 0; extra_commands != NULL && i < extra_commands->len; i++) {
        const struct command *c = &g_array_index(extra_commands, struct command, i);

        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Requests
 */
static struct control_request *request_new(struct control_conn *cc)
{
    struct control_request *req = g_new0(struct control_request, 1);

    req->conn = cc;
    req->ds = cc->ctl->ds;
    req->pid = cc->pid;
    req->uid = cc->uid;
    cc->pending = req;
    return req;
}

/* Parse one line and run its command; the answer may come later. */
static void handle_line(struct control_conn *cc, const char *line, size_t len)
{
    struct control_request *req = request_new(cc);
    json_tokener *tok = json_tokener_new();
    json_object *args = json_tokener_parse_ex(tok, line, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    const struct command *cmd;
    const char *name;

    json_tokener_free(tok);
    if (args == NULL || jerr != json_tokener_success) {
        control_answer_error(req, EINVAL, "invalid JSON: %s",
                     jerr == json_tokener_continue ? "unexpected end of line"
                                                   : json_tokener_error_desc(jerr));
        json_object_put(args);
        return;
    }
    while (used < len && g_ascii_isspace(line[used])) {
        used++;
    }
    if (used < len) {
        control_answer_error(req, EINVAL, "invalid JSON: text after the request object");
        json_object_put(args);
        return;
    }
    if (!json_object_is_type(args, json_type_object)) {
        control_answer_error(req, EINVAL, "a request is a JSON object");
        json_object_put(args);
        return;
    }
    if (json_object_object_get_ex(args, "id", &req->id)) {
        json_object_get(req->id);
    }
    name = arg_string(args, "command");
    if (name == NULL) {
        control_answer_error(req, EINVAL, "\"command\" (a string) is required");
    } else if ((cmd = find_command(name)) == NULL) {
        control_answer_error(req, ENOSYS, "unknown command '%s'", name);
    } else {
        log_debug(NULL, "control: pid %d: %s", (int)cc->pid, name);
        /* Built-in commands get the control socket itself. */
        bool builtin = cmd >= builtin_commands &&
                       cmd < builtin_commands + G_N_ELEMENTS(builtin_commands);

        cmd->fn(req, args, builtin ? cc->ctl : cmd->data);
    }
    json_object_put(args);
}

/* ------------------------------------------------------------------------
 * Connections
 */
static void control_conn_close(struct control_conn *cc)
{
    struct control *ctl = cc->ctl;

    if (cc->pending != NULL) {
        cc->pending->conn = NULL; /* answered into the void */
    }
    if (cc->resume_src != NULL) {
        g_source_destroy(cc->resume_src);
        g_source_unref(cc->resume_src);
    }
    g_source_destroy(cc->src);
    g_source_unref(cc->src);
    close(cc->fd);
    g_string_free(cc->in, TRUE);
    g_string_free(cc->out, TRUE);
    ctl->conns = g_list_remove(ctl->conns, cc);
    g_free(cc);
}

static bool conn_flush(struct control_conn *cc)
{
    while (cc->out_off < cc->out->len) {
        ssize_t n = send(cc->fd, cc->out->str + cc->out_off,
                         cc->out->len - cc->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return true;
            }
            return false; /* the peer has gone */
        }
        cc->out_off += (gsize)n;
    }
    g_string_truncate(cc->out, 0);
    cc->out_off = 0;
    return true;
}

/* Handle the complete lines received, one request at a time. */
static void conn_process(struct control_conn *cc)
{
    /* Answers given from here on are sent below, not by a resume. */
    cc->dispatching = true;
    while (cc->pending == NULL && cc->out->len - cc->out_off < CONTROL_OUT_HIGH) {
        char *nl = memchr(cc->in->str, '\n', cc->in->len);
        size_t len;

        if (cc->skipping) {
            if (nl == NULL) {
                g_string_truncate(cc->in, 0);
                break;
            }
            g_string_erase(cc->in, 0, nl - cc->in->str + 1);
            cc->skipping = false;
            continue;
        }
        if (nl == NULL && cc->in->len > CONTROL_MAX_LINE) {
            /* Too long already: say so now, drop the rest of it. */
            control_answer_error(request_new(cc), E2BIG, "request longer than %u bytes",
                         CONTROL_MAX_LINE);
            g_string_truncate(cc->in, 0);
            cc->skipping = true;
            continue;
        }
        if (nl == NULL && !(cc->eof && cc->in->len > 0)) {
            break;
        }
        len = nl != NULL ? (size_t)(nl - cc->in->str) : cc->in->len;
        if (len > CONTROL_MAX_LINE) {
            control_answer_error(request_new(cc), E2BIG, "request longer than %u bytes",
                         CONTROL_MAX_LINE);
        } else {
            g_autofree char *line = g_strndup(cc->in->str, len);
            size_t l = len;

            while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ' ||
                             line[l - 1] == '\t')) {
                line[--l] = '\0';
            }
            if (l > 0) {
                handle_line(cc, line, l);
            }
        }
        g_string_erase(cc->in, 0, nl != NULL ? len + 1 : len);
    }
    cc->dispatching = false;
    if (!conn_flush(cc) ||
        (cc->eof && cc->pending == NULL && cc->in->len == 0 &&
         cc->out->len == cc->out_off)) {
        control_conn_close(cc);
        return;
    }
    conn_update(cc);
}

/* Watch for what the connection can use now. */
static void conn_update(struct control_conn *cc)
{
    GIOCondition cond = 0;

    if (!cc->eof && cc->pending == NULL && cc->in->len <= CONTROL_MAX_LINE &&
        cc->out->len - cc->out_off < CONTROL_OUT_HIGH) {
        cond |= G_IO_IN;
    }
    if (cc->out->len > cc->out_off) {
        cond |= G_IO_OUT;
    }
    if (cond == 0 && cc->eof) {
        /* Waiting for an answer to a peer that has hung up: poll() would
         * report POLLHUP over and over. */
        if (cc->tag != NULL) {
            g_source_remove_unix_fd(cc->src, cc->tag);
            cc->tag = NULL;
        }
    } else if (cc->tag == NULL) {
        cc->tag = g_source_add_unix_fd(cc->src, cc->fd, cond);
    } else {
        g_source_modify_unix_fd(cc->src, cc->tag, cond);
    }
}

static gboolean conn_ready(gpointer data)
{
    struct control_conn *cc = data;
    GIOCondition rev = g_source_query_unix_fd(cc->src, cc->tag);

    if (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
        char buf[4096];

        while (!cc->eof && cc->in->len <= CONTROL_MAX_LINE) {
            ssize_t n = recv(cc->fd, buf, sizeof(buf), MSG_DONTWAIT);

            if (n > 0) {
                if (!cc->skipping || memchr(buf, '\n', (size_t)n) != NULL) {
                    g_string_append_len(cc->in, buf, n);
                }
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                break;
            }
            cc->eof = true; /* 0, or an error: nothing more will come */
        }
    }
    conn_process(cc);
    return G_SOURCE_CONTINUE;
}

static gboolean fd_source_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
    (void)src;
    return cb(data);
}

static GSourceFuncs fd_source_funcs = {
    .dispatch = fd_source_dispatch,
};

static void control_conn_new(struct control *ctl, int fd)
{
    struct control_conn *cc = g_new0(struct control_conn, 1);
    struct ucred cred = { .pid = -1, .uid = (uid_t)-1, .gid = (gid_t)-1 };
    socklen_t len = sizeof(cred);

    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    cc->ctl = ctl;
    cc->fd = fd;
    cc->pid = cred.pid;
    cc->uid = cred.uid;
    cc->gid = cred.gid;
    cc->in = g_string_new(NULL);
    cc->out = g_string_new(NULL);
    cc->src = g_source_new(&fd_source_funcs, sizeof(GSource));
    cc->tag = g_source_add_unix_fd(cc->src, fd, G_IO_IN);
    g_source_set_callback(cc->src, conn_ready, cc, NULL);
    g_source_attach(cc->src, NULL);
    ctl->conns = g_list_prepend(ctl->conns, cc);
    log_debug(NULL, "control: connection from pid %d uid %u", (int)cred.pid,
              (unsigned)cred.uid);
}

static gboolean on_control_accept(gint fd, GIOCondition cond, gpointer data)
{
    struct control *ctl = data;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    (void)cond;
    if (cfd < 0) {
        return G_SOURCE_CONTINUE;
    }
    if (g_list_length(ctl->conns) >= CONTROL_MAX_CLIENTS) {
        static const char busy[] = "{\"ok\":false,\"error\":\"too many control "
                                   "connections\",\"code\":\"EBUSY\"}\n";

        (void)!send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    control_conn_new(ctl, cfd);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------
 * The socket
 */
struct control *control_new(struct devset *ds, const char *path)
{
    const struct daemon_config *cfg = devset_config(ds);
    struct device_socket sock = {
        .path = (char *)path,
        .fd = -1,
        .mode = cfg->control_mode,
        .set_group = cfg->has_control_gid,
        .gid = cfg->control_gid,
    };
    g_autofree char *why = NULL;
    int fd;

    if (listener_bind(&sock, &fd, &why) < 0) {
        log_error(NULL, "control socket: %s", why);
        return NULL;
    }
    return control_adopt(ds, path, fd);
}

struct control *control_adopt(struct devset *ds, const char *path, int fd)
{
    struct control *ctl;

    util_set_nonblock(fd, true);
    ctl = g_new0(struct control, 1);
    ctl->ds = ds;
    ctl->path = g_strdup(path);
    ctl->fd = fd;
    ctl->started = g_get_monotonic_time();
    ctl->listen_src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(ctl->listen_src, G_SOURCE_FUNC(on_control_accept), ctl, NULL);
    g_source_attach(ctl->listen_src, NULL);
    log_info(NULL, "control socket %s (vfiouserctl -s %s)", path, path);
    return ctl;
}

void control_free(struct control *ctl)
{
    if (ctl == NULL) {
        return;
    }
    while (ctl->conns != NULL) {
        control_conn_close(ctl->conns->data);
    }
    g_source_destroy(ctl->listen_src);
    g_source_unref(ctl->listen_src);
    close(ctl->fd);
    unlink(ctl->path);
    g_free(ctl->path);
    g_free(ctl);
}

int control_fd(const struct control *ctl)
{
    return ctl->fd;
}

void control_stop_accepting(struct control *ctl)
{
    g_source_destroy(ctl->listen_src);
}

const char *control_socket_path(const struct control *ctl)
{
    return ctl->path;
}

void control_flush_answers(struct control *ctl)
{
    for (GList *l = ctl->conns; l != NULL; l = l->next) {
        conn_flush(l->data);
    }
}
