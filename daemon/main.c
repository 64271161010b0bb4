/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfiouserd: serve vfio-user devices implemented by plugins.
 *
 * Start-up is all or nothing: every device is configured and realized
 * before any socket exists, and every socket listens before READY=1.
 */
#include "config.h"

#include "config_file.h"
#include "control.h"
#include "device.h"
#include "device_proc.h"
#include "fdstore.h"
#include "isolate.h"
#include "devset.h"
#include "listener.h"
#include "log.h"
#include "plugin_loader.h"
#include "sandbox.h"
#include "sd_notify.h"
#include "upgrade.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib.h>

struct options {
    char *config;
    char *plugin_dir;
    gboolean check_config;
    char *dump_plugin;
    gboolean version;
    gboolean verbose;
    char *log;
    char *socket_path;
    int fd;
    char *device;
    char *plugin;
    char **args; /* KEY=VALUE for single-device mode */
    char *control_socket;
    gboolean isolated_child; /* started by isolate.c: -c and --fd together */
    int upgrade_fd; /* started by upgrade.c: the hand-over socket */
    int maps_fd; /* isolated child: its channel to the parent's maps helper */
    int store_fd; /* isolated child: its parent's fd store (isolate_store.h) */
    gboolean fd_store; /* use systemd's fd store (fdstore.h) */
};

struct daemon {
    struct devset *ds;
    struct control *ctl;
    GMainLoop *loop;
    int exit_code;
};

static int parse_options(int *argc, char ***argv, struct options *o)
{
    GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config,
          "Configuration file (default " SYSCONFDIR "/vfiouserd/vfiouserd.conf)",
          "FILE" },
        { "plugin-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->plugin_dir,
          "Directory of plugins (default " PLUGINDIR ")", "DIR" },
        { "check-config", 0, 0, G_OPTION_ARG_NONE, &o->check_config,
          "Load and validate the configuration and plugins, then exit", NULL },
        { "dump-plugin", 0, 0, G_OPTION_ARG_STRING, &o->dump_plugin,
          "Describe a plugin and its configuration keys, then exit", "NAME" },
        { "version", 0, 0, G_OPTION_ARG_NONE, &o->version,
          "Print the version and exit", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose,
          "Debug logging", NULL },
        { "log", 0, 0, G_OPTION_ARG_STRING, &o->log,
          "Log to stderr, syslog or journal (default: journal under systemd, "
          "else stderr)", "TARGET" },
        { "socket-path", 0, 0, G_OPTION_ARG_FILENAME, &o->socket_path,
          "Single-device mode: listen on PATH", "PATH" },
        { "fd", 0, 0, G_OPTION_ARG_INT, &o->fd,
          "Single-device mode: serve the listening socket N", "N" },
        { "device", 0, 0, G_OPTION_ARG_STRING, &o->device,
          "Single-device mode: the device's name", "NAME" },
        { "plugin", 0, 0, G_OPTION_ARG_STRING, &o->plugin,
          "Single-device mode: the plugin (name or path)", "NAME" },
        { "isolated-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE,
          &o->isolated_child, "(internal) serve one device for a parent", NULL },
        { "upgrade-fd", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &o->upgrade_fd,
          "(internal) take over from the daemon at the other end of fd N", "N" },
        { "maps-fd", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &o->maps_fd,
          "(internal) isolated child: ask the parent's maps helper on fd N", "N" },
        { "store-fd", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &o->store_fd,
          "(internal) isolated child: the parent's fd store on fd N", "N" },
        { "fd-store", 0, 0, G_OPTION_ARG_NONE, &o->fd_store,
          "Keep clients across a restart or crash in systemd's fd store "
          "(needs FileDescriptorStoreMax=; implied by $FDSTORE)", NULL },
        { "control-socket", 0, 0, G_OPTION_ARG_FILENAME, &o->control_socket,
          "Control socket for vfiouserctl, or none (default <socket-dir>/control; "
          "none in single-device mode)", "PATH" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->args, NULL,
          "[KEY=VALUE...]" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- serve vfio-user devices");
    g_autoptr(GError) err = NULL;

    o->fd = -1;
    o->upgrade_fd = -1;
    o->maps_fd = -1;
    o->store_fd = -1;
    g_option_context_set_summary(ctx,
        "Serves PCI devices implemented by plugins to vfio-user clients such as\n"
        "QEMU's vfio-user-pci, one UNIX socket per device.");
    g_option_context_set_description(ctx,
        "Single-device mode: --socket-path=PATH or --fd=N, with --device=NAME\n"
        "--plugin=NAME and the plugin's KEY=VALUE settings; no config file.\n"
        "See vfiouserd(8) and vfiouserd.conf(5).");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        fprintf(stderr, "vfiouserd: %s\n", err->message);
        return -EINVAL;
    }
    return 0;
}

static void options_free(struct options *o)
{
    g_free(o->config);
    g_free(o->plugin_dir);
    g_free(o->dump_plugin);
    g_free(o->log);
    g_free(o->socket_path);
    g_free(o->device);
    g_free(o->plugin);
    g_strfreev(o->args);
    g_free(o->control_socket);
}

static const char *plugin_dir(const struct options *o,
                              const struct daemon_config *cfg)
{
    if (o->plugin_dir != NULL) {
        return o->plugin_dir;
    }
    if (cfg != NULL && cfg->plugin_dir != NULL) {
        return cfg->plugin_dir;
    }
    return PLUGINDIR;
}

/* Single-device mode: the command line becomes a one-device config. */
static int single_device_config(const struct options *o,
                                struct daemon_config **out)
{
    struct daemon_config *cfg;
    struct device_config *dc;

    if (o->socket_path != NULL && o->fd >= 0) {
        fprintf(stderr, "vfiouserd: --socket-path and --fd exclude each other\n");
        return -EINVAL;
    }
    if (o->device == NULL || o->plugin == NULL) {
        fprintf(stderr, "vfiouserd: single-device mode needs --device and --plugin\n");
        return -EINVAL;
    }
    if (!util_valid_device_name(o->device)) {
        fprintf(stderr, "vfiouserd: invalid device name '%s'\n", o->device);
        return -EINVAL;
    }
    if (o->socket_path != NULL && o->socket_path[0] != '/') {
        fprintf(stderr, "vfiouserd: --socket-path must be absolute\n");
        return -EINVAL;
    }
    cfg = config_new("command line");
    dc = config_add_device(cfg, o->device, 0);
    dc->plugin = g_strdup(o->plugin);
    dc->socket = g_strdup(o->socket_path);
    for (char **a = o->args; a != NULL && *a != NULL; a++) {
        const char *eq = strchr(*a, '=');
        g_autofree char *key = NULL;
        g_autofree char *why = NULL;

        if (eq == NULL || eq == *a) {
            fprintf(stderr, "vfiouserd: argument '%s' is not KEY=VALUE\n", *a);
            config_free(cfg);
            return -EINVAL;
        }
        key = g_strndup(*a, (gsize)(eq - *a));
        if (config_device_daemon_key(dc, key, eq + 1, &why) == 0) {
            config_device_add_key(dc, key, eq + 1, 0);
        } else if (why != NULL) {
            fprintf(stderr, "vfiouserd: %s\n", why);
            config_free(cfg);
            return -EINVAL;
        }
    }
    *out = cfg;
    return 0;
}

static gboolean on_signal(gpointer data)
{
    struct daemon *d = data;

    log_notice(NULL, "stopping on signal");
    /* With the fd store, the clients wait for the next process: it does
     * not return. */
    fdstore_stop(d->ds, d->ctl);
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean on_final_signal(gpointer data)
{
    struct daemon *d = data;

    log_notice(NULL, "stopping on signal");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static int dump_plugin(const struct options *o)
{
    g_autofree char *why = NULL;
    struct plugin *p;
    int r = plugin_open(o->dump_plugin, plugin_dir(o, NULL), &p, &why);

    if (r < 0) {
        log_error(NULL, "%s", why);
        return 1;
    }
    plugin_dump(p, stdout);
    plugin_close(p);
    return 0;
}

static void reload_answered(const struct devset_result *r, void *opaque)
{
    (void)opaque;
    /* A reload logs what it did and every error; only the outcome here. */
    if (r->err != 0) {
        log_warn(NULL, "SIGHUP: %s", r->error);
    }
}

static gboolean on_sighup(gpointer data)
{
    struct daemon *d = data;

    log_notice(NULL, "reloading the configuration on SIGHUP");
    devset_reload(d->ds, reload_answered, NULL);
    return G_SOURCE_CONTINUE;
}

/* The control socket's path: --control-socket, else the config's; none in
 * single-device mode unless asked for. */
static char *control_path(const struct options *o, const struct daemon_config *cfg,
                          bool single)
{
    if (o->control_socket != NULL) {
        return strcmp(o->control_socket, "none") == 0 ? NULL
                                                      : g_strdup(o->control_socket);
    }
    return single ? NULL : config_control_socket(cfg);
}

/* What the sandbox must leave reachable: the devices' plugins and the
 * paths their configurations name; in the daemon proper also what run-time
 * operations touch (sockets, the config file, the plugin directory). */
static struct sandbox_plan *sandbox_plan_for(const struct options *o,
                                             struct devset *ds, const char *config_path,
                                             const char *ctl_path)
{
    const struct daemon_config *cfg = devset_config(ds);
    struct sandbox_plan *p = sandbox_plan_new(&cfg->sandbox);
    GPtrArray *entries = devset_entries(ds);

    p->isolated_child = o->isolated_child;
    p->maps_fd = o->isolated_child ? o->maps_fd : -1;
    p->devices = entries->len;
    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);

        if (p->isolated_child) {
            g_free(p->device);
            p->device = g_strdup(e->dev->name);
            p->limit_fds = e->dc->limit_fds;
            p->limit_memory = e->dc->limit_memory;
        }
        sandbox_plan_add_syscalls(p, e->dev->ops->syscalls);
        for (guint k = 0; k < e->dc->keys->len; k++) {
            const struct config_entry *ce = g_ptr_array_index(e->dc->keys, k);

            sandbox_plan_add_config_value(p, ce->value);
        }
        if (e->dc->isolate) {
            p->spawns = true;
        }
        if (!p->isolated_child) {
            g_autofree char *sock = config_device_socket(cfg, e->dc);
            char *dir = g_path_get_dirname(sock);

            /* Landlock needs it now; binding the socket would make it. */
            g_mkdir_with_parents(dir, 0755);
            g_ptr_array_add(p->rw_paths, dir);
        }
    }
    if (!p->isolated_child) {
        /* An isolated child has its one plugin loaded and its socket as
         * an fd. */
        p->socket_dir = g_strdup(cfg->socket_dir);
        p->control_dir = ctl_path != NULL ? g_path_get_dirname(ctl_path) : NULL;
        g_ptr_array_add(p->ro_paths, g_strdup(plugin_dir(o, cfg)));
        if (config_path != NULL) {
            /* Its directory: editors and tests replace the file. */
            g_ptr_array_add(p->ro_paths, g_path_get_dirname(config_path));
        }
    }
    return p;
}

static int apply_sandbox(void *plan)
{
    return sandbox_apply(plan);
}

/* Listening sockets the fd store kept, for devices no socket unit
 * passes. */
static void stored_listeners(struct devset *ds, GPtrArray **activation)
{
    GPtrArray *entries = devset_entries(ds);

    for (guint i = 0; i < entries->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(entries, i);
        g_autofree char *n = g_strdup_printf(FDSTORE_PREFIX "%s/listen", e->dev->name);
        int fd = fdstore_take_fd(n);
        struct listen_fd *l;
        bool have = false;

        if (fd < 0) {
            continue;
        }
        for (guint k = 0; *activation != NULL && k < (*activation)->len; k++) {
            const struct listen_fd *a = g_ptr_array_index(*activation, k);

            have = have || strcmp(a->name, e->dev->name) == 0;
        }
        if (have) {
            close(fd);
            continue;
        }
        if (*activation == NULL) {
            *activation = listener_fd_array_new();
        }
        l = g_new0(struct listen_fd, 1);
        l->name = g_strdup(e->dev->name);
        l->fd = fd;
        l->ours = true;
        g_ptr_array_add(*activation, l);
    }
}

static int run(const struct options *o)
{
    struct daemon d = { .exit_code = 0 };
    struct daemon_config *cfg = NULL;
    const char *path = o->config != NULL ? o->config
                                         : SYSCONFDIR "/vfiouserd/vfiouserd.conf";
    /* An isolated device's process has a config file and an fd. */
    bool single = !o->isolated_child &&
                  (o->socket_path != NULL || o->fd >= 0 || o->device != NULL ||
                   o->plugin != NULL);
    g_autoptr(GPtrArray) activation = NULL;
    g_autofree char *why = NULL;
    g_autofree char *ctl_path = NULL;
    struct sandbox_plan *sp = NULL;
    int handover = -1;
    bool adopted = false;
    int r;

    if (o->control_socket != NULL && strcmp(o->control_socket, "none") != 0 &&
        o->control_socket[0] != '/') {
        fprintf(stderr, "vfiouserd: --control-socket must be an absolute path or none\n");
        return 1;
    }
    if (o->isolated_child && !isolate_child_setup()) {
        return 1; /* the parent is gone already */
    }
    if (single) {
        if (o->config != NULL) {
            fprintf(stderr, "vfiouserd: single-device mode takes no config file\n");
            return 1;
        }
        r = single_device_config(o, &cfg);
        if (r < 0) {
            return 1;
        }
    } else {
        r = config_load(path, &cfg);
        if (r < 0) {
            return 1;
        }
        if (cfg->log_level >= 0 && !o->verbose) {
            log_set_level(cfg->log_level);
        }
    }
    if (cfg->devices->len == 0) {
        log_error(NULL, "%s: no devices configured", cfg->path);
        config_free(cfg);
        return 1;
    }
    if (!o->isolated_child) {
        fdstore_init(o->fd_store);
        fdstore_take();
    } else if (o->store_fd >= 0) {
        /* Its parent keeps the client across a crash of this process. */
        fdstore_init_child(o->store_fd);
        fdstore_take_child(o->store_fd + 1);
    }
    /* Sockets from the service manager: taken (and the variables unset)
     * even when only checking, so that nothing else inherits them. */
    if (listener_take_activation(&activation, &why) < 0) {
        log_error(NULL, "%s", why);
        config_free(cfg);
        return 1;
    }

    device_set_callback_limit(cfg->callback_warn_ms);
    device_set_handshake_timeout(cfg->handshake_timeout_ms);
    ctl_path = control_path(o, cfg, single);
    {
        /* A reload reads the same file, whatever the working directory. */
        g_autofree char *abs = single ? NULL : g_canonicalize_filename(path, NULL);

        d.ds = devset_new(cfg, abs, o->plugin_dir, o->verbose);
    }
    if (devset_create(d.ds) < 0) {
        d.exit_code = 1;
        goto out;
    }
    if (o->check_config) {
        guint n = devset_entries(d.ds)->len;

        printf("%s: configuration OK (%u device%s)\n", devset_config(d.ds)->path, n,
               n == 1 ? "" : "s");
        goto out;
    }

    {
        g_autofree char *abs = single ? NULL : g_canonicalize_filename(path, NULL);

        sp = sandbox_plan_for(o, d.ds, abs, ctl_path);
    }
    /* Before the sandbox confines us: the upgrade's new process is started
     * by a launcher outside it. */
    if (!sp->cfg->off && !o->isolated_child) {
        upgrade_prepare();
    }
    /* Before the first thread (GLib's worker, which signals need). */
    if (sandbox_prepare(sp) < 0) {
        d.exit_code = 1;
        goto out;
    }
    d.loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, &d);
    /* An isolated device's process: SIGINT is its parent's stop for good
     * (isolate.c), where SIGTERM stores the state with the parent first. */
    g_unix_signal_add(SIGINT, o->isolated_child ? on_final_signal : on_signal, &d);
    g_unix_signal_add(SIGHUP, on_sighup, &d);
    upgrade_register();
    if (o->upgrade_fd < 0) {
        /* A clean stop under systemd left its hand-over in the fd store. */
        handover = fdstore_handover_sock();
    }
    if (handover < 0) {
        stored_listeners(d.ds, &activation);
    }
    if (o->upgrade_fd >= 0 || handover >= 0) {
        /* Sockets, clients and state come from the daemon we replace.
         * upgrade_adopt() applies the sandbox before it starts the devices
         * (upgrade.h), so their plugins' running() is confined without a
         * hold -- which upgrade_adopt, waiting for the restores on the
         * device threads, could not wait out. */
        upgrade_set_confine(apply_sandbox, sp);
        if (upgrade_adopt(d.ds, o->upgrade_fd >= 0 ? o->upgrade_fd : handover,
                          &d.ctl) < 0) {
            d.exit_code = 1;
            goto out;
        }
        adopted = true;
    } else {
        /* Plugins' running() comes once the sandbox is in force. */
        device_hold_running(true, false);
        if (devset_start(d.ds, o->fd, g_steal_pointer(&activation)) < 0) {
            d.exit_code = 1;
            goto out;
        }
    }
    if (ctl_path != NULL && d.ctl == NULL) {
        /* After a crash the fd store kept it listening. */
        int cfd = access(ctl_path, F_OK) == 0 ? fdstore_take_fd(FDSTORE_PREFIX "control")
                                              : -1;

        d.ctl = cfd >= 0 ? control_adopt(d.ds, ctl_path, cfd) : control_new(d.ds, ctl_path);
        if (d.ctl == NULL) {
            d.exit_code = 1;
            goto out;
        }
    }
    /* Every socket is bound: the last step that needed privileges. */
    if (!adopted && sandbox_apply(sp) < 0) {
        d.exit_code = 1;
        goto out;
    }
    device_hold_running(false, true);
    for (guint i = 0; i < devset_entries(d.ds)->len; i++) {
        const struct devset_entry *e = g_ptr_array_index(devset_entries(d.ds), i);

        if (device_wait_running(e->dev) < 0) {
            d.exit_code = 1;
        }
    }
    if (d.exit_code != 0) {
        goto out;
    }
    if (!adopted) {
        /* After a crash: the clients the fd store kept.  Not before:
         * each re-attach runs on its device's thread, which waits in the
         * plugin's running() hold until the sandbox is in force (nvme has
         * a running(): the daemon hung here until systemd's start
         * timeout). */
        fdstore_reattach(d.ds);
    }
    upgrade_set_control(d.ctl);
    fdstore_take_done();
    fdstore_publish(d.ds, d.ctl);
    devset_announce(d.ds);
    sd_notify_printf("READY=1\nSTATUS=serving %u device%s", devset_entries(d.ds)->len,
                     devset_entries(d.ds)->len == 1 ? "" : "s");
    g_main_loop_run(d.loop);
    sd_notify_send("STOPPING=1\nSTATUS=stopping");

out:
    device_hold_running(false, false);
    /* Devices first: operations still waiting are answered while the
     * control connections exist. */
    devset_free(d.ds);
    control_free(d.ctl);
    sandbox_plan_free(sp);
    if (d.loop != NULL) {
        g_main_loop_unref(d.loop);
    }
    return d.exit_code;
}

/* Clients pass fds (guest memory, one eventfd per interrupt vector) and
 * every device adds its own: take the hard limit, not the soft 1024. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Is our stderr the stream journald gave us (JOURNAL_STREAM=dev:inode)?
 * Only then do "<N>" priority prefixes make sense: a unit that redirects
 * the daemon's output elsewhere keeps the variable. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
        fstat(STDERR_FILENO, &st) < 0) {
        return false;
    }
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int main(int argc, char **argv)
{
    struct options o = { 0 };
    enum log_target target = stderr_is_journal() ? LOG_TARGET_JOURNAL
                                                 : LOG_TARGET_STDERR;
    int rc;

    upgrade_save_argv(argc, argv);
    if (parse_options(&argc, &argv, &o) < 0) {
        options_free(&o);
        return 2;
    }
    if (o.version) {
        printf("vfiouserd %s (plugin API %d)\n", PACKAGE_VERSION, VFUD_API_VERSION);
        options_free(&o);
        return 0;
    }
    if (o.log != NULL && log_target_parse(o.log, &target) < 0) {
        fprintf(stderr, "vfiouserd: --log: '%s' is not stderr, syslog or journal\n",
                o.log);
        options_free(&o);
        return 2;
    }
    log_init(target);
    isolate_init(argv[0]);
    device_proc_init();
    if (o.verbose) {
        log_set_level(LOG_DEBUG);
    }
    /* Writes to a vanished peer must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    if (o.dump_plugin != NULL) {
        rc = dump_plugin(&o);
    } else {
        rc = run(&o);
    }
    options_free(&o);
    return rc;
}
