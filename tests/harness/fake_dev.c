/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake daemon (fake_vfud.h): a device's life, logging and errors,
 * config parsing (the daemon's own parsers) and migration.
 */
#include "config.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_priv.h"
#include "util.h"

/* As the daemon's stream (daemon/mig_stream.c). */
#define FAKE_MIG_MAX (256u << 20)

struct vfud_mig_stream {
    uint8_t *buf;
    size_t len, cap;
    size_t room; /* bytes the plugin may still write */
};

/* Plugins loaded, so that load() and unload() run once per process, as the
 * daemon runs them, however many devices use a plugin. */
struct fake_loaded {
    void *dl;
    unsigned users;
    struct fake_loaded *next;
};

static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_loaded *loaded;

static _Thread_local vfud_dev *device_thread_of;

/* ------------------------------------------------------------------------
 * Functions the daemon provides to plugins
 */

const char *vfud_dev_name(const vfud_dev *dev)
{
    return dev->name;
}

void vfud_set_private(vfud_dev *dev, void *priv)
{
    dev->priv = priv;
}

void *vfud_get_private(const vfud_dev *dev)
{
    return dev->priv;
}

void vfud_log(vfud_dev *dev, int level, const char *fmt, ...)
{
    va_list ap;

    if (level > dev->log_level) {
        return;
    }
    va_start(ap, fmt);
    fprintf(stderr, "[%s] <%d> ", dev->name, level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void set_error_v(vfud_dev *dev, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void set_error_v(vfud_dev *dev, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&dev->error_lock);
    vsnprintf(dev->last_error, sizeof(dev->last_error), fmt, ap);
    if (dev->verbose) {
        fprintf(stderr, "[%s] error: %s\n", dev->name, dev->last_error);
    }
    pthread_mutex_unlock(&dev->error_lock);
}

void vfud_error(vfud_dev *dev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    set_error_v(dev, fmt, ap);
    va_end(ap);
}

void fk_set_error(vfud_dev *dev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    set_error_v(dev, fmt, ap);
    va_end(ap);
}

/* The fake daemon hands nothing over: every stop is a migration's. */
bool vfud_mig_handover(vfud_dev *dev)
{
    (void)dev;
    return false;
}

bool vfud_debug_enabled(const vfud_dev *dev)
{
    return dev->log_level >= LOG_DEBUG;
}

int vfud_client_describe(vfud_dev *dev, char *buf, size_t len)
{
    (void)dev;
    if (len == 0) {
        return -EINVAL;
    }
    snprintf(buf, len, "pid %d (fake client)", (int)getpid());
    return 0;
}

int vfud_parse_bool(const char *s, bool *out)
{
    return util_parse_bool(s, out);
}

int vfud_parse_u64(const char *s, uint64_t *out)
{
    return util_parse_u64(s, out);
}

int vfud_parse_size(const char *s, uint64_t *out)
{
    return util_parse_size(s, out);
}

int vfud_mig_write(vfud_mig_stream *out, const void *data, size_t len)
{
    if (out == NULL || (data == NULL && len > 0)) {
        return -EINVAL;
    }
    if (len > out->room) {
        out->room = 0;
        return -EFBIG;
    }
    if (out->len + len > out->cap) {
        size_t cap = out->cap ? out->cap : 4096;
        uint8_t *p;

        while (cap < out->len + len) {
            cap *= 2;
        }
        p = realloc(out->buf, cap);
        if (p == NULL) {
            return -ENOMEM;
        }
        out->buf = p;
        out->cap = cap;
    }
    if (len > 0) {
        memcpy(out->buf + out->len, data, len);
    }
    out->len += len;
    out->room -= len;
    return 0;
}

/* ------------------------------------------------------------------------
 * The device thread
 */

vfud_dev *fk_enter(vfud_dev *dev)
{
    vfud_dev *prev = device_thread_of;

    device_thread_of = dev;
    return prev;
}

void fk_leave(vfud_dev *prev)
{
    device_thread_of = prev;
}

bool fk_on_device_thread(const vfud_dev *dev)
{
    return device_thread_of == dev;
}

/* ------------------------------------------------------------------------
 * Loading
 */

static bool valid_name(const char *s)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
            *s != '_' && *s != '-') {
            return false;
        }
    }
    return true;
}

/* The daemon's checks of a plugin struct (daemon/plugin_loader.c). */
static int check_plugin(vfud_dev *dev, const struct vfud_plugin *p,
                        const char *path)
{
    size_t min = offsetof(struct vfud_plugin, realize) + sizeof(p->realize);

    if (p->_api_version != VFUD_API_VERSION) {
        fk_set_error(dev, "%s: plugin API version %d, the daemon speaks %d",
                     path, p->_api_version, VFUD_API_VERSION);
        return -EPROTO;
    }
    if (p->_struct_size < min) {
        fk_set_error(dev, "%s: plugin struct too small (%llu bytes)", path,
                     (unsigned long long)p->_struct_size);
        return -EPROTO;
    }
    if (!valid_name(p->name)) {
        fk_set_error(dev, "%s: plugin has no valid name", path);
        return -EINVAL;
    }
    if (p->realize == NULL) {
        fk_set_error(dev, "%s: plugin '%s' has no realize callback", path,
                     p->name);
        return -EINVAL;
    }
    if ((p->region_read == NULL) != (p->region_write == NULL)) {
        fk_set_error(dev, "%s: plugin '%s' must provide both region_read and "
                     "region_write, or neither", path, p->name);
        return -EINVAL;
    }
    return 0;
}

/* Count a user of dl; true if it is the first. */
static bool loaded_get(void *dl)
{
    struct fake_loaded *l;

    pthread_mutex_lock(&loaded_lock);
    for (l = loaded; l != NULL && l->dl != dl; l = l->next) {
    }
    if (l == NULL) {
        l = calloc(1, sizeof(*l));
        if (l == NULL) {
            abort();
        }
        l->dl = dl;
        l->next = loaded;
        loaded = l;
    }
    l->users++;
    pthread_mutex_unlock(&loaded_lock);
    return l->users == 1;
}

/* Drop a user of dl; true if it was the last. */
static bool loaded_put(void *dl)
{
    struct fake_loaded **pp, *l;
    bool last = false;

    pthread_mutex_lock(&loaded_lock);
    for (pp = &loaded; *pp != NULL && (*pp)->dl != dl; pp = &(*pp)->next) {
    }
    l = *pp;
    if (l != NULL && --l->users == 0) {
        *pp = l->next;
        free(l);
        last = true;
    }
    pthread_mutex_unlock(&loaded_lock);
    return last;
}

int fake_dev_load(vfud_dev *dev, const char *so_path)
{
    struct vfud_plugin *(*init)(void);
    struct vfud_plugin *p;
    int r;

    if (dev->dl != NULL) {
        return -EEXIST;
    }
    dev->dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (dev->dl == NULL) {
        fk_set_error(dev, "cannot load plugin %s: %s", so_path, dlerror());
        return -ENOEXEC;
    }
    *(void **)&init = dlsym(dev->dl, "vfud_plugin_init");
    if (init == NULL) {
        fk_set_error(dev, "%s is not a vfiouserd plugin (no vfud_plugin_init)",
                     so_path);
        return -ENOEXEC;
    }
    p = init();
    if (p == NULL) {
        fk_set_error(dev, "%s: vfud_plugin_init returned NULL", so_path);
        return -EINVAL;
    }
    r = check_plugin(dev, p, so_path);
    if (r < 0) {
        return r;
    }
    fake_dev_set_plugin(dev, p);
    if (loaded_get(dev->dl) && dev->plugin.load != NULL) {
        r = dev->plugin.load();
        if (r < 0) {
            loaded_put(dev->dl);
            fk_set_error(dev, "plugin '%s': load failed: %s", p->name,
                         strerror(-r));
            return r;
        }
    }
    dev->loaded = true;
    return 0;
}

void fake_dev_set_plugin(vfud_dev *dev, struct vfud_plugin *plugin)
{
    /* as the daemon does: copy what the plugin knows, zero the rest */
    size_t n = plugin->_struct_size < sizeof(dev->plugin)
                   ? (size_t)plugin->_struct_size : sizeof(dev->plugin);

    memset(&dev->plugin, 0, sizeof(dev->plugin));
    memcpy(&dev->plugin, plugin, n);
}

struct vfud_plugin *fake_dev_plugin(vfud_dev *dev)
{
    return &dev->plugin;
}

/* ------------------------------------------------------------------------
 * Life
 */

vfud_dev *fake_dev_new(const char *name)
{
    vfud_dev *dev = calloc(1, sizeof(*dev));

    if (dev == NULL) {
        return NULL;
    }
    dev->name = strdup(name);
    dev->verbose = getenv("FAKE_VFUD_VERBOSE") != NULL;
    dev->log_level = dev->verbose ? LOG_DEBUG : LOG_WARNING;
    pthread_mutex_init(&dev->error_lock, NULL);
    atomic_store(&dev->bus_master, true);
    fk_irq_init(dev);
    fk_dma_init(dev);
    fk_loop_init(dev);
    return dev;
}

static int ensure_created(vfud_dev *dev)
{
    int r;

    if (dev->created) {
        return 0;
    }
    if (dev->plugin.realize == NULL) {
        fk_set_error(dev, "no plugin loaded");
        return -EINVAL;
    }
    r = dev->plugin.create != NULL ? dev->plugin.create(dev) : 0;
    dev->created = r == 0;
    return r;
}

/* The daemon passes only the keys of the plugin's table (if it has one). */
static bool knows_key(const struct vfud_plugin *p, const char *key)
{
    const struct vfud_config_key *k = p->config_keys;

    if (k == NULL) {
        return true;
    }
    for (; k->name != NULL; k++) {
        if (fnmatch(k->name, key, 0) == 0) {
            return true;
        }
    }
    return false;
}

int fake_dev_config(vfud_dev *dev, const char *key, const char *value)
{
    int r = ensure_created(dev);

    if (r < 0) {
        return r;
    }
    if (!knows_key(&dev->plugin, key) || dev->plugin.config == NULL) {
        fk_set_error(dev, "unknown key '%s'", key);
        return -EINVAL;
    }
    return dev->plugin.config(dev, key, value);
}

int fake_dev_config_complete(vfud_dev *dev)
{
    int r = ensure_created(dev);

    if (r == 0 && dev->plugin.config_complete != NULL) {
        r = dev->plugin.config_complete(dev);
    }
    dev->configured = r == 0;
    return r;
}

int fake_dev_configure(vfud_dev *dev, ...)
{
    const char *key, *value;
    va_list ap;
    int r = 0;

    va_start(ap, dev);
    while (r == 0 && (key = va_arg(ap, const char *)) != NULL) {
        value = va_arg(ap, const char *);
        r = fake_dev_config(dev, key, value);
    }
    va_end(ap);
    return r < 0 ? r : fake_dev_config_complete(dev);
}

int fake_dev_realize(vfud_dev *dev)
{
    int r = 0;

    if (dev->realized) {
        return -EEXIST;
    }
    if (!dev->configured) {
        r = fake_dev_config_complete(dev);
    }
    if (r == 0) {
        dev->realizing = true;
        r = dev->plugin.realize(dev);
        dev->realizing = false;
    }
    if (r == 0) {
        r = fk_pci_finalize(dev);
    }
    if (r == 0) {
        dev->realized = true;
        if (dev->plugin.start != NULL) {
            r = dev->plugin.start(dev);
        }
        /* The daemon's device thread, once the process is confined. */
        if (r == 0 && dev->plugin.running != NULL) {
            vfud_dev *prev = fk_enter(dev);

            r = dev->plugin.running(dev);
            fk_leave(prev);
        }
    }
    return r;
}

void fake_dev_attach(vfud_dev *dev)
{
    vfud_dev *prev = fk_enter(dev);

    dev->attached = true;
    if (dev->plugin.attach != NULL) {
        dev->plugin.attach(dev);
    }
    fk_run_deferred(dev);
    fk_leave(prev);
}

void fake_dev_detach(vfud_dev *dev)
{
    vfud_dev *prev = fk_enter(dev);

    fk_drain(dev);
    fk_dma_unmap_all(dev);
    if (dev->attached && dev->plugin.detach != NULL) {
        dev->plugin.detach(dev);
    }
    dev->attached = false;
    fk_run_deferred(dev);
    fk_leave(prev);
}

int fake_dev_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    vfud_dev *prev = fk_enter(dev);
    int r = 0;

    if (dev->plugin.reset != NULL) {
        r = dev->plugin.reset(dev, why);
    }
    fk_drain(dev);
    if (r == 0) {
        fk_irq_reset(dev);
    }
    fk_run_deferred(dev);
    fk_leave(prev);
    return r;
}

void fake_dev_free(vfud_dev *dev)
{
    if (dev == NULL) {
        return;
    }
    if (dev->attached) {
        fake_dev_detach(dev);
    }
    fk_loop_stop(dev);
    if (dev->created && dev->plugin.destroy != NULL) {
        dev->plugin.destroy(dev);
    }
    fk_loop_free(dev);
    fk_dma_free(dev);
    fk_regions_free(dev);
    fk_irq_free(dev);
    if (dev->loaded && loaded_put(dev->dl) && dev->plugin.unload != NULL) {
        dev->plugin.unload();
    }
    if (dev->dl != NULL) {
        dlclose(dev->dl);
    }
    pthread_mutex_destroy(&dev->error_lock);
    free(dev->name);
    free(dev);
}

const char *fake_dev_last_error(vfud_dev *dev)
{
    return dev->last_error;
}

void fake_dev_set_log_level(vfud_dev *dev, int level)
{
    dev->log_level = level;
}

/* ------------------------------------------------------------------------
 * Migration
 */

int fake_dev_quiesce(vfud_dev *dev, bool stop)
{
    vfud_dev *prev = fk_enter(dev);
    int r = 0;

    if (dev->plugin.quiesce != NULL) {
        r = dev->plugin.quiesce(dev, stop);
    }
    if (r == 0 && stop) {
        fk_drain(dev);
    }
    fk_run_deferred(dev);
    fk_leave(prev);
    return r;
}

int fake_dev_save_state(vfud_dev *dev, void **data, size_t *len)
{
    struct vfud_mig_stream s = { .room = FAKE_MIG_MAX };
    vfud_dev *prev;
    int r;

    *data = NULL;
    *len = 0;
    if (dev->plugin.save_state == NULL) {
        return -ENOTSUP;
    }
    prev = fk_enter(dev);
    r = dev->plugin.save_state(dev, &s);
    fk_leave(prev);
    if (r < 0) {
        free(s.buf);
        return r;
    }
    *data = s.buf;
    *len = s.len;
    return 0;
}

int fake_dev_load_state(vfud_dev *dev, uint32_t version, const void *data,
                        size_t len)
{
    vfud_dev *prev;
    int r;

    if (dev->plugin.load_state == NULL) {
        return -ENOTSUP;
    }
    if (version == 0 || version > dev->plugin.state_version) {
        fk_set_error(dev, "state version %u: plugin '%s' reads 1 to %u",
                     version, dev->plugin.name, dev->plugin.state_version);
        return -EINVAL;
    }
    prev = fk_enter(dev);
    r = dev->plugin.load_state(dev, version, data, len);
    fk_leave(prev);
    return r;
}
