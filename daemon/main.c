/*
 * vfiouserd: serve vfio-user devices implemented by plugins.
 *
 * Start-up is all or nothing: every device is configured and realized
 * before any socket exists, and every socket listens before READY=1.
 */
#include "config.h"

#include "config_file.h"
#include "device.h"
#include "listener.h"
#include "log.h"
#include "plugin_loader.h"
#include "sd_notify.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
};

struct daemon {
    struct daemon_config *cfg;
    GPtrArray *devices; /* vfud_dev * */
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
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->args, NULL,
          "[KEY=VALUE...]" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- serve vfio-user devices");
    g_autoptr(GError) err = NULL;

    o->fd = -1;
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

static void stop_devices(struct daemon *d)
{
    if (d->devices == NULL) {
        return;
    }
    /* Last created, first gone. */
    for (guint i = d->devices->len; i-- > 0;) {
        vfud_dev *dev = g_ptr_array_index(d->devices, i);
        struct plugin *p = dev->plugin;

        device_free(dev);
        plugin_close(p);
    }
    g_ptr_array_set_size(d->devices, 0);
}

/* Open, configure and realize every device; nothing listens yet. */
static int create_devices(struct daemon *d, const struct options *o)
{
    const char *dir = plugin_dir(o, d->cfg);
    int errors = 0;

    for (guint i = 0; i < d->cfg->devices->len; i++) {
        const struct device_config *dc = g_ptr_array_index(d->cfg->devices, i);
        g_autofree char *why = NULL;
        struct plugin *p;
        vfud_dev *dev;
        int r;

        r = plugin_open(dc->plugin, dir, &p, &why);
        if (r < 0) {
            if (dc->plugin_line > 0) {
                log_error(NULL, "%s:%u: [%s] %s", d->cfg->path, dc->plugin_line,
                          dc->name, why);
            } else {
                log_error(NULL, "%s: [%s] %s", d->cfg->path, dc->name, why);
            }
            errors++;
            continue;
        }
        dev = device_new(dc->name, p);
        g_ptr_array_add(d->devices, dev);
        if (device_configure(dev, d->cfg->path, dc) < 0 || device_realize(dev) < 0) {
            errors++;
        }
    }
    return errors > 0 ? -EINVAL : 0;
}

static int start_devices(struct daemon *d, const struct options *o)
{
    for (guint i = 0; i < d->devices->len; i++) {
        vfud_dev *dev = g_ptr_array_index(d->devices, i);
        const struct device_config *dc = g_ptr_array_index(d->cfg->devices, i);
        struct device_socket sock = {
            .fd = -1,
            .mode = d->cfg->socket_mode,
            .set_owner = d->cfg->has_socket_uid,
            .set_group = d->cfg->has_socket_gid,
            .uid = d->cfg->socket_uid,
            .gid = d->cfg->socket_gid,
        };
        g_autofree char *path = NULL;
        int r;

        if (o->fd >= 0) {
            g_autofree char *why = NULL;

            if (listener_check_fd(o->fd, &why) < 0) {
                log_error(NULL, "[%s] %s", dev->name, why);
                return -EINVAL;
            }
            sock.fd = o->fd;
        } else {
            path = config_device_socket(d->cfg, dc);
            sock.path = path;
        }
        r = device_start(dev, &sock);
        if (r < 0) {
            return r;
        }
    }
    /* Announce only once everything listens: a later failure stops all. */
    for (guint i = 0; i < d->devices->len; i++) {
        vfud_dev *dev = g_ptr_array_index(d->devices, i);

        if (dev->sock.path != NULL) {
            log_notice(dev->name, "plugin %s, listening on %s; attach with: "
                       "-device '{\"driver\":\"vfio-user-pci\",\"socket\":"
                       "{\"type\":\"unix\",\"path\":\"%s\"}}'",
                       dev->ops->name, dev->sock.path, dev->sock.path);
        } else {
            log_notice(dev->name, "plugin %s, serving listening socket fd %d",
                       dev->ops->name, dev->listen_fd);
        }
    }
    return 0;
}

static gboolean on_signal(gpointer data)
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

static int run(const struct options *o)
{
    struct daemon d = { .exit_code = 0 };
    int r;

    if (o->socket_path != NULL || o->fd >= 0 || o->device != NULL || o->plugin != NULL) {
        if (o->config != NULL) {
            fprintf(stderr, "vfiouserd: single-device mode takes no config file\n");
            return 1;
        }
        r = single_device_config(o, &d.cfg);
        if (r < 0) {
            return 1;
        }
    } else {
        r = config_load(o->config != NULL ? o->config
                                          : SYSCONFDIR "/vfiouserd/vfiouserd.conf",
                        &d.cfg);
        if (r < 0) {
            return 1;
        }
        if (d.cfg->log_level >= 0 && !o->verbose) {
            log_set_level(d.cfg->log_level);
        }
    }
    if (d.cfg->devices->len == 0) {
        log_error(NULL, "%s: no devices configured", d.cfg->path);
        config_free(d.cfg);
        return 1;
    }

    device_set_callback_limit(d.cfg->callback_warn_ms);
    d.devices = g_ptr_array_new();
    if (create_devices(&d, o) < 0) {
        stop_devices(&d);
        d.exit_code = 1;
        goto out;
    }
    if (o->check_config) {
        printf("%s: configuration OK (%u device%s)\n", d.cfg->path,
               d.devices->len, d.devices->len == 1 ? "" : "s");
        stop_devices(&d);
        goto out;
    }

    d.loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, &d);
    g_unix_signal_add(SIGINT, on_signal, &d);
    if (start_devices(&d, o) < 0) {
        stop_devices(&d);
        d.exit_code = 1;
        goto out;
    }
    sd_notify_printf("READY=1\nSTATUS=serving %u device%s", d.devices->len,
                     d.devices->len == 1 ? "" : "s");
    g_main_loop_run(d.loop);
    sd_notify_send("STOPPING=1\nSTATUS=stopping");
    stop_devices(&d);

out:
    if (d.loop != NULL) {
        g_main_loop_unref(d.loop);
    }
    if (d.devices != NULL) {
        g_ptr_array_unref(d.devices);
    }
    config_free(d.cfg);
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

int main(int argc, char **argv)
{
    struct options o = { 0 };
    enum log_target target = getenv("JOURNAL_STREAM") != NULL ? LOG_TARGET_JOURNAL
                                                               : LOG_TARGET_STDERR;
    int rc;

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
