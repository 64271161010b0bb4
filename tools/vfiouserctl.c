/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserctl: ask a running vfiouserd about its devices and change them,
 * through its control socket.  See vfiouserctl(8).
 *
 * Each subcommand sends one request and prints the answer: tables for
 * people, the daemon's JSON as it is with --json.
 */
#include "config.h"

#include "ctl.h"
#include "ctl_migrate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

/* ------------------------------------------------------------------------
 * Reading answers
 */
static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return v;
}

static const char *str(json_object *o, const char *key, const char *dflt)
{
    json_object *v = member(o, key);

    return v != NULL && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : dflt;
}

static guint64 u64(json_object *o, const char *key)
{
    json_object *v = member(o, key);

    return v != NULL ? (guint64)json_object_get_uint64(v) : 0;
}

static char *size_text(guint64 bytes)
{
    return g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
}

/* "45s", "3m 12s", "2h 03m", "4d 02h". */
static char *duration_text(guint64 s)
{
    if (s < 60) {
        return g_strdup_printf("%us", (unsigned)s);
    }
    if (s < 3600) {
        return g_strdup_printf("%um %02us", (unsigned)(s / 60), (unsigned)(s % 60));
    }
    if (s < 86400) {
        return g_strdup_printf("%uh %02um", (unsigned)(s / 3600),
                               (unsigned)(s % 3600 / 60));
    }
    return g_strdup_printf("%ud %02uh", (unsigned)(s / 86400),
                           (unsigned)(s % 86400 / 3600));
}

/* "1234 (56.0 KiB)" */
static char *count_text(guint64 n, guint64 bytes)
{
    g_autofree char *b = size_text(bytes);

    return g_strdup_printf("%llu (%s)", (unsigned long long)n, b);
}

static char *ids_text(json_object *a)
{
    GString *s = g_string_new(NULL);

    for (size_t i = 0; a != NULL && i < json_object_array_length(a); i++) {
        g_string_append_printf(s, "%s%llu", i > 0 ? " " : "",
                               (unsigned long long)json_object_get_uint64(
                                   json_object_array_get_idx(a, i)));
    }
    return g_string_free(s, s->len == 0);
}

/* ------------------------------------------------------------------------
 * list
 */
static int cmd_list(struct ctl *ctl, int argc, char **argv)
{
    json_object *a, *devs;
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    int w[5] = { 6, 6, 5, 6, 6 };
    int r;

    (void)argv;
    if (argc != 1) {
        return ctl_usage("list takes no arguments");
    }
    r = ctl_call(ctl, ctl_request_new("list"), &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (ctl->json || !ctl_ok(a)) {
        return ctl_finish(ctl, a);
    }
    devs = member(a, "devices");
    for (size_t i = 0; devs != NULL && i < json_object_array_length(devs); i++) {
        json_object *d = json_object_array_get_idx(devs, i);
        json_object *pid = member(d, "client_pid");
        const char *who = str(d, "client_who", NULL);
        char **row = g_new0(char *, 6);

        row[0] = g_strdup(str(d, "name", "?"));
        row[1] = g_strdup(str(d, "plugin", "?"));
        row[2] = g_strdup(str(d, "state", "?"));
        /* client_who: the daemon's words for the pid, as status's (a pid
         * 0 is a client in a pid namespace it cannot see); an earlier
         * daemon's: the number. */
        if (who != NULL) {
            row[3] = g_strdup(who);
        } else {
            row[3] = pid != NULL ? g_strdup_printf("pid %d", json_object_get_int(pid))
                                 : g_strdup("-");
        }
        row[4] = g_strdup(str(d, "socket", "-"));
        for (int c = 0; c < 5; c++) {
            w[c] = MAX(w[c], (int)strlen(row[c]));
        }
        g_ptr_array_add(rows, row);
    }
    printf("%-*s  %-*s  %-*s  %-*s  %s\n", w[0], "DEVICE", w[1], "PLUGIN", w[2],
           "STATE", w[3], "CLIENT", "SOCKET");
    for (guint i = 0; i < rows->len; i++) {
        char **row = g_ptr_array_index(rows, i);

        printf("%-*s  %-*s  %-*s  %-*s  %s\n", w[0], row[0], w[1], row[1], w[2],
               row[2], w[3], row[3], row[4]);
    }
    return ctl_finish(ctl, a);
}

/* ------------------------------------------------------------------------
 * status
 */
static void print_irqs(json_object *irqs)
{
    static const char *const types[][2] = {
        { "intx", "INTx" }, { "msi", "MSI" }, { "msix", "MSI-X" },
        { "err", "ERR" }, { "req", "REQ" },
    };
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        json_object *t = member(irqs, types[i][0]);

        /* ERR and REQ always exist; show them once a client wired them. */
        if (t == NULL || u64(t, "vectors") == 0 ||
            (i >= 3 && u64(t, "attached") == 0)) {
            continue;
        }
        g_string_append_printf(s, "%s%s %llu/%llu", s->len > 0 ? ", " : "",
                               types[i][1], (unsigned long long)u64(t, "attached"),
                               (unsigned long long)u64(t, "vectors"));
    }
    const char *mode = str(irqs, "mode", "none");

    printf("  %-10s %s%s; eventfds %s; %llu raised, %llu delivered\n", "IRQs",
           strcmp(mode, "msix") == 0 ? "MSI-X enabled"
           : strcmp(mode, "msi") == 0 ? "MSI enabled"
           : strcmp(mode, "intx") == 0 ? "INTx" : "all disabled",
           json_object_get_boolean(member(irqs, "bus_master")) ? ", bus master" : "",
           s->len > 0 ? s->str : "none", (unsigned long long)u64(irqs, "raised"),
           (unsigned long long)u64(irqs, "delivered"));
    g_string_free(s, TRUE);
}

static void print_device(json_object *d)
{
    json_object *sock = member(d, "socket");
    json_object *client = member(d, "client");
    json_object *dma = member(d, "dma");
    json_object *tot = member(d, "totals");
    json_object *access = member(d, "access");
    g_autofree char *mapped = size_text(u64(dma, "bytes_mapped"));
    g_autofree char *tin = count_text(u64(tot, "messages_in"), u64(tot, "bytes_in"));
    g_autofree char *tout = count_text(u64(tot, "messages_out"), u64(tot, "bytes_out"));

    printf("%s (%s): %s%s\n", str(d, "name", "?"), str(d, "plugin", "?"),
           str(d, "state", "?"),
           strcmp(str(d, "origin", ""), "runtime") == 0 ? ", added at run time" : "");
    if (member(d, "isolated") != NULL) {
        json_object *iso = member(d, "isolated");

        if (member(iso, "pid") != NULL) {
            printf("  %-10s process %d, %llu restarts (its client and counters "
                   "are the process's)\n", "isolated",
                   json_object_get_int(member(iso, "pid")),
                   (unsigned long long)u64(iso, "restarts"));
        } else {
            printf("  %-10s process being restarted, %llu restarts so far\n",
                   "isolated", (unsigned long long)u64(iso, "restarts"));
        }
    }
    if (json_object_get_boolean(member(sock, "activated"))) {
        printf("  %-10s %s (from the service manager)\n", "socket",
               str(sock, "path", "unnamed"));
    } else {
        printf("  %-10s %s, mode %s\n", "socket", str(sock, "path", "-"),
               str(sock, "mode", "?"));
    }
    if (client != NULL) {
        g_autofree char *up = duration_text(u64(client, "seconds"));
        g_autofree char *in = count_text(u64(client, "messages_in"),
                                         u64(client, "bytes_in"));
        g_autofree char *out = count_text(u64(client, "messages_out"),
                                          u64(client, "bytes_out"));
        g_autofree char *pid = g_strdup_printf("pid %d",
                                               json_object_get_int(member(client, "pid")));

        /* "who": the daemon's words for the pid (a pid 0 is a client in a
         * pid namespace it cannot see); an earlier daemon's: the number. */
        printf("  %-10s %s, uid %llu, gid %llu, since %s (%s)%s\n", "client",
               str(client, "who", pid),
               (unsigned long long)u64(client, "uid"),
               (unsigned long long)u64(client, "gid"), str(client, "since", "?"), up,
               json_object_get_boolean(member(client, "negotiated"))
                   ? "" : ", has not negotiated VERSION yet");
        printf("  %-10s in %s, out %s, %llu errors\n", "messages", in, out,
               (unsigned long long)u64(client, "errors"));
    } else {
        printf("  %-10s none\n", "client");
    }
    printf("  %-10s %llu windows, %s mapped\n", "DMA",
           (unsigned long long)u64(dma, "windows"), mapped);
    print_irqs(member(d, "irqs"));
    printf("  %-10s %llu clients served, %llu refused; in %s, out %s, %llu errors\n",
           "all time", (unsigned long long)u64(tot, "clients"),
           (unsigned long long)u64(tot, "refused"), tin, tout,
           (unsigned long long)u64(tot, "errors"));
    if (access != NULL) {
        g_autofree char *u = ids_text(member(access, "allowed_uids"));
        g_autofree char *g = ids_text(member(access, "allowed_gids"));

        printf("  %-10s uids %s; gids %s\n", "access", u != NULL ? u : "-",
               g != NULL ? g : "-");
    } else {
        printf("  %-10s anyone who can open the socket\n", "access");
    }
    if (str(d, "log_level", NULL) != NULL) {
        printf("  %-10s %s\n", "log level", str(d, "log_level", "?"));
    } else {
        printf("  %-10s %s (the daemon's)\n", "log level",
               str(d, "effective_log_level", "?"));
    }
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
    json_object *rq = ctl_request_new("status");
    json_object *a, *d, *devs;
    int r;

    if (argc > 2) {
        json_object_put(rq);
        return ctl_usage("status takes at most one device name");
    }
    if (argc == 2) {
        json_object_object_add(rq, "device", json_object_new_string(argv[1]));
    }
    r = ctl_call(ctl, rq, &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (ctl->json || !ctl_ok(a)) {
        return ctl_finish(ctl, a);
    }
    d = member(a, "daemon");
    if (d != NULL) {
        g_autofree char *up = duration_text(u64(d, "uptime_seconds"));

        printf("vfiouserd %s, pid %llu, up %s\n", str(d, "version", "?"),
               (unsigned long long)u64(d, "pid"), up);
        printf("  %-10s %s\n", "config", str(d, "config", "?"));
        printf("  %-10s %s\n", "control", str(d, "control_socket", "?"));
        printf("  %-10s %s\n", "log level", str(d, "log_level", "?"));
    }
    devs = member(a, "devices");
    for (size_t i = 0; devs != NULL && i < json_object_array_length(devs); i++) {
        if (d != NULL || i > 0) {
            printf("\n");
        }
        print_device(json_object_array_get_idx(devs, i));
    }
    return ctl_finish(ctl, a);
}

/* ------------------------------------------------------------------------
 * stats
 */
/* "500 ns", "2 us", "1 ms", "2 s": a power of two of nanoseconds, rounded
 * to the unit it is at least one of. */
static char *ns_text(guint64 ns)
{
    if (ns < 1000) {
        return g_strdup_printf("%llu ns", (unsigned long long)ns);
    }
    if (ns < 1000000) {
        return g_strdup_printf("%.3g us", (double)ns / 1e3);
    }
    if (ns < 1000000000) {
        return g_strdup_printf("%.3g ms", (double)ns / 1e6);
    }
    return g_strdup_printf("%.3g s", (double)ns / 1e9);
}

static int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
    json_object *rq = ctl_request_new("stats");
    json_object *a, *io, *lat;
    guint64 total = 0, seen = 0;
    int r;

    if (argc != 2) {
        json_object_put(rq);
        return ctl_usage("stats takes one device name");
    }
    json_object_object_add(rq, "device", json_object_new_string(argv[1]));
    r = ctl_call(ctl, rq, &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (ctl->json || !ctl_ok(a)) {
        return ctl_finish(ctl, a);
    }
    io = member(a, "io");
    {
        g_autofree char *rd = count_text(u64(io, "reads"), u64(io, "bytes_read"));
        g_autofree char *wr = count_text(u64(io, "writes"), u64(io, "bytes_written"));

        printf("%s (%s)\n", str(a, "device", "?"), str(a, "plugin", "?"));
        printf("  %-12s %s\n", "reads", rd);
        printf("  %-12s %s\n", "writes", wr);
        printf("  %-12s %llu\n", "other", (unsigned long long)u64(io, "others"));
        printf("  %-12s %llu\n", "errors", (unsigned long long)u64(io, "errors"));
        printf("  %-12s %llu\n", "queue depth",
               (unsigned long long)u64(io, "queue_depth"));
    }
    lat = member(io, "latency");
    for (size_t i = 0; lat != NULL && i < json_object_array_length(lat); i++) {
        total += u64(json_object_array_get_idx(lat, i), "count");
    }
    if (total > 0) {
        printf("  latency      count     cumulative\n");
    }
    for (size_t i = 0; total > 0 && i < json_object_array_length(lat); i++) {
        json_object *b = json_object_array_get_idx(lat, i);
        g_autofree char *from = ns_text(u64(b, "from_ns"));
        g_autofree char *to = member(b, "to_ns") ? ns_text(u64(b, "to_ns"))
                                                 : g_strdup("");
        g_autofree char *range = g_strdup_printf("%s - %s", from, to);

        seen += u64(b, "count");
        printf("  %-20s %12llu %6.2f%%\n", range,
               (unsigned long long)u64(b, "count"), 100.0 * (double)seen / (double)total);
    }
    return ctl_finish(ctl, a);
}

/* ------------------------------------------------------------------------
 * add, remove, reload, log-level, version
 */
static int cmd_add(struct ctl *ctl, int argc, char **argv)
{
    json_object *rq, *keys, *a;
    bool has_plugin = false;
    int r;

    if (argc < 3) {
        return ctl_usage("usage: add DEVICE plugin=NAME [KEY=VALUE...]");
    }
    rq = ctl_request_new("add");
    keys = json_object_new_array();
    json_object_object_add(rq, "device", json_object_new_string(argv[1]));
    for (int i = 2; i < argc; i++) {
        if (strchr(argv[i], '=') == NULL || argv[i][0] == '=') {
            json_object_put(rq);
            json_object_put(keys);
            return ctl_usage("'%s' is not KEY=VALUE", argv[i]);
        }
        has_plugin |= g_str_has_prefix(argv[i], "plugin=");
        json_object_array_add(keys, json_object_new_string(argv[i]));
    }
    json_object_object_add(rq, "keys", keys);
    if (!has_plugin) {
        json_object_put(rq);
        return ctl_usage("add needs plugin=NAME");
    }
    r = ctl_call(ctl, rq, &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (!ctl->json && ctl_ok(a)) {
        const char *sock = str(a, "socket", NULL);

        printf("added %s", str(a, "device", argv[1]));
        if (sock != NULL) {
            printf(", listening on %s\nattach with: -device '{\"driver\":"
                   "\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}}'",
                   sock, sock);
        }
        printf("\n");
    }
    return ctl_finish(ctl, a);
}

static int cmd_remove(struct ctl *ctl, int argc, char **argv)
{
    const char *name = NULL;
    bool force = false;
    json_object *rq, *a;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0) {
            force = true;
        } else if (argv[i][0] == '-' || name != NULL) {
            return ctl_usage("usage: remove [--force] DEVICE");
        } else {
            name = argv[i];
        }
    }
    if (name == NULL) {
        return ctl_usage("usage: remove [--force] DEVICE");
    }
    rq = ctl_request_new("remove");
    json_object_object_add(rq, "device", json_object_new_string(name));
    json_object_object_add(rq, "force", json_object_new_boolean(force));
    r = ctl_call(ctl, rq, &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (!ctl->json && ctl_ok(a)) {
        printf("removed %s\n", name);
    }
    return ctl_finish(ctl, a);
}

static void print_names(json_object *a, const char *key, const char *title)
{
    json_object *l = member(a, key);

    if (l == NULL || json_object_array_length(l) == 0) {
        return;
    }
    printf("  %-10s", title);
    for (size_t i = 0; i < json_object_array_length(l); i++) {
        printf(" %s", json_object_get_string(json_object_array_get_idx(l, i)));
    }
    printf("\n");
}

static int cmd_reload(struct ctl *ctl, int argc, char **argv)
{
    json_object *a, *l;
    int r;

    (void)argv;
    if (argc != 1) {
        return ctl_usage("reload takes no arguments");
    }
    r = ctl_call(ctl, ctl_request_new("reload"), &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (!ctl->json && member(a, "added") != NULL) {
        /* Also after a partial failure: say what did change. */
        printf("reloaded %s\n", str(a, "config", "?"));
        print_names(a, "added", "added");
        print_names(a, "removed", "removed");
        print_names(a, "recreated", "recreated");
        print_names(a, "updated", "updated");
        print_names(a, "unchanged", "unchanged");
        print_names(a, "runtime", "kept");
        l = member(a, "pending");
        for (size_t i = 0; l != NULL && i < json_object_array_length(l); i++) {
            json_object *p = json_object_array_get_idx(l, i);

            printf("  %-10s %s: not %s: %s\n", "pending", str(p, "device", "?"),
                   strcmp(str(p, "change", ""), "remove") == 0 ? "removed" : "recreated",
                   str(p, "reason", "?"));
        }
        l = member(a, "failed");
        for (size_t i = 0; l != NULL && i < json_object_array_length(l); i++) {
            json_object *f = json_object_array_get_idx(l, i);

            printf("  %-10s %s: %s\n", "failed", str(f, "device", "?"),
                   str(f, "error", "?"));
        }
        print_names(a, "restart_needed", "restart");
    }
    return ctl_finish(ctl, a);
}

static int cmd_upgrade(struct ctl *ctl, int argc, char **argv)
{
    const char *exec = NULL;
    json_object *rq, *a;
    int r;

    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--exec=")) {
            exec = argv[i] + strlen("--exec=");
        } else if (strcmp(argv[i], "--exec") == 0 && i + 1 < argc) {
            exec = argv[++i];
        } else {
            return ctl_usage("usage: upgrade [--exec PATH]");
        }
    }
    rq = ctl_request_new("upgrade");
    if (exec != NULL) {
        json_object_object_add(rq, "exec", json_object_new_string(exec));
    }
    r = ctl_call(ctl, rq, &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (!ctl->json && ctl_ok(a)) {
        printf("upgraded: pid %d (%s) serves now; devices paused %.1f ms\n",
               json_object_get_int(member(a, "pid")), str(a, "exec", "?"),
               json_object_get_double(member(a, "pause_ms")));
    }
    return ctl_finish(ctl, a);
}

static int cmd_log_level(struct ctl *ctl, int argc, char **argv)
{
    json_object *rq, *a;
    int r;

    if (argc < 2 || argc > 3) {
        return ctl_usage("usage: log-level [DEVICE] LEVEL");
    }
    rq = ctl_request_new("log-level");
    if (argc == 3) {
        json_object_object_add(rq, "device", json_object_new_string(argv[1]));
    }
    json_object_object_add(rq, "level", json_object_new_string(argv[argc - 1]));
    r = ctl_call(ctl, rq, &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (!ctl->json && ctl_ok(a)) {
        if (argc == 3) {
            printf("%s: log level %s\n", argv[1], str(a, "level", "?"));
        } else {
            printf("log level %s\n", str(a, "level", "?"));
        }
    }
    return ctl_finish(ctl, a);
}

static int cmd_version(struct ctl *ctl, int argc, char **argv)
{
    json_object *a;
    int r;

    (void)argv;
    if (argc != 1) {
        return ctl_usage("version takes no arguments");
    }
    r = ctl_call(ctl, ctl_request_new("version"), &a);
    if (r != CTL_EXIT_OK) {
        return r;
    }
    if (!ctl->json && ctl_ok(a)) {
        printf("vfiouserctl %s; daemon: %s %s, pid %llu, control protocol %llu\n",
               PACKAGE_VERSION, str(a, "daemon", "?"), str(a, "version", "?"),
               (unsigned long long)u64(a, "pid"), (unsigned long long)u64(a, "protocol"));
    }
    return ctl_finish(ctl, a);
}

/* ------------------------------------------------------------------------
 * migrate: a vfio-user client of two device sockets (ctl_migrate.c), not a
 * control socket request.
 */
static int cmd_migrate(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_migrate_stats stats = { 0 };
    struct ctl_migrate_opts o = { .stats = &stats };
    const char *sock[2] = { NULL, NULL };
    unsigned n = 0;
    json_object *a;
    int r;

    for (int i = 1; i < argc; i++) {
        const char *v;

        if (strcmp(argv[i], "--pre-copy") == 0) {
            o.pre_copy = true;
        } else if (strcmp(argv[i], "--reset-source") == 0) {
            o.after = CTL_MIGRATE_SRC_RESET;
        } else if ((v = g_str_has_prefix(argv[i], "--chunk=") ? argv[i] + 8 : NULL) != NULL ||
                   (v = g_str_has_prefix(argv[i], "--timeout=") ? argv[i] + 10 : NULL) != NULL) {
            guint64 x;

            if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT32, &x, NULL)) {
                return ctl_usage("%s: expected a number", argv[i]);
            }
            if (argv[i][2] == 'c') {
                o.chunk = (uint32_t)x;
            } else {
                o.timeout_ms = (int)x;
            }
        } else if (argv[i][0] == '-' || n == 2) {
            return ctl_usage("usage: migrate [--pre-copy] [--reset-source] "
                             "[--chunk=BYTES] [--timeout=MS] SRC-SOCKET DST-SOCKET");
        } else {
            sock[n++] = argv[i];
        }
    }
    if (n != 2) {
        return ctl_usage("usage: migrate [--pre-copy] [--reset-source] "
                         "[--chunk=BYTES] [--timeout=MS] SRC-SOCKET DST-SOCKET");
    }
    r = ctl_migrate(sock[0], sock[1], &o, ctl->json ? NULL : stdout);
    if (!ctl->json) {
        return r == 0 ? CTL_EXIT_OK : CTL_EXIT_REFUSED;
    }
    a = json_object_new_object();
    json_object_object_add(a, "ok", json_object_new_boolean(r == 0));
    json_object_object_add(a, "source", json_object_new_string(sock[0]));
    json_object_object_add(a, "destination", json_object_new_string(sock[1]));
    if (r == 0) {
        json_object_object_add(a, "bytes", json_object_new_uint64(stats.bytes));
        json_object_object_add(a, "chunks", json_object_new_int((int)stats.chunks));
        json_object_object_add(a, "save_ms", json_object_new_double(stats.save_ms));
        json_object_object_add(a, "transfer_ms", json_object_new_double(stats.transfer_ms));
        json_object_object_add(a, "load_ms", json_object_new_double(stats.load_ms));
        json_object_object_add(a, "resume_ms", json_object_new_double(stats.resume_ms));
        json_object_object_add(a, "stopped_ms", json_object_new_double(stats.stopped_ms));
        json_object_object_add(a, "total_ms", json_object_new_double(stats.total_ms));
    } else {
        json_object_object_add(a, "error", json_object_new_string(g_strerror(-r)));
    }
    return ctl_finish(ctl, a);
}

/* ------------------------------------------------------------------------
 * Subcommands
 */
struct subcommand {
    const char *name;
    ctl_cmd_fn fn;
    const char *usage;
};

static const struct subcommand subcommands[] = {
    { "list", cmd_list, "list" },
    { "status", cmd_status, "status [DEVICE]" },
    { "stats", cmd_stats, "stats DEVICE" },
    { "add", cmd_add, "add DEVICE plugin=NAME [KEY=VALUE...]" },
    { "remove", cmd_remove, "remove [--force] DEVICE" },
    { "reload", cmd_reload, "reload" },
    { "upgrade", cmd_upgrade, "upgrade [--exec PATH]" },
    { "log-level", cmd_log_level, "log-level [DEVICE] LEVEL" },
    { "version", cmd_version, "version" },
    { "migrate", cmd_migrate,
      "migrate [--pre-copy] [--reset-source] [--chunk=BYTES] [--timeout=MS] "
      "SRC-SOCKET DST-SOCKET" },
};

static char *describe_subcommands(void)
{
    GString *s = g_string_new("Commands:\n");

    for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++) {
        g_string_append_printf(s, "  %s\n", subcommands[i].usage);
    }
    g_string_append(s, "\nSee vfiouserctl(8).");
    return g_string_free(s, FALSE);
}

int main(int argc, char **argv)
{
    g_autofree char *socket_path = NULL;
    g_autofree char *instance = NULL;
    g_autofree char *description = describe_subcommands();
    gboolean json = FALSE, version = FALSE;
    int timeout_s = 30;
    GOptionEntry entries[] = {
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
          "The daemon's control socket (default $VFIOUSERCTL_SOCKET, else "
          SOCKETDIR "/control)", "PATH" },
        { "instance", 'i', 0, G_OPTION_ARG_STRING, &instance,
          "The daemon of vfiouserd@NAME.service: " SOCKETDIR "/NAME.control", "NAME" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json,
          "Print the daemon's answer as JSON", NULL },
        { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
          "Seconds to wait for an answer (default 30, 0: forever)", "SECONDS" },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
          "Print vfiouserctl's version and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("COMMAND [ARGS...]");
    g_autoptr(GError) err = NULL;
    struct ctl ctl = { .fd = -1 };
    const char *env = getenv("VFIOUSERCTL_SOCKET");
    int rc;

    g_option_context_set_summary(oc, "Show and change the devices of a running "
                                     "vfiouserd.");
    g_option_context_set_description(oc, description);
    g_option_context_add_main_entries(oc, entries, NULL);
    /* Options after the command belong to it (remove --force). */
    g_option_context_set_strict_posix(oc, TRUE);
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        return ctl_usage("%s", err->message);
    }
    if (version) {
        printf("vfiouserctl %s\n", PACKAGE_VERSION);
        return CTL_EXIT_OK;
    }
    if (argc < 2) {
        return ctl_usage("no command given");
    }
    /* --json may also follow the command ("vfiouserctl status --json"). */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
            json = TRUE;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
            argc--;
            i--;
        }
    }
    if (socket_path != NULL && instance != NULL) {
        return ctl_usage("-s and -i exclude each other");
    }
    if (instance != NULL) {
        if (strchr(instance, '/') != NULL || instance[0] == '\0') {
            return ctl_usage("-i takes an instance name, not a path");
        }
        ctl.socket = socket_path = g_strdup_printf("%s/%s.control", SOCKETDIR, instance);
    } else if (socket_path != NULL) {
        ctl.socket = socket_path;
    } else if (env != NULL && env[0] != '\0') {
        ctl.socket = env;
    } else {
        ctl.socket = SOCKETDIR "/control";
    }
    ctl.json = json;
    ctl.timeout_ms = timeout_s > 0 ? timeout_s * 1000 : 0;
    for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++) {
        if (strcmp(subcommands[i].name, argv[1]) == 0) {
            rc = subcommands[i].fn(&ctl, argc - 1, argv + 1);
            ctl_close(&ctl);
            return rc;
        }
    }
    return ctl_usage("unknown command '%s'", argv[1]);
}
