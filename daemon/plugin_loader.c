/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "device.h"
#include "plugin_loader.h"
#include "sandbox.h"
#include "log.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

/* Loaded plugins by canonical path.  Only the main thread loads and
 * unloads plugins (start-up, shutdown, reload), so no lock. */
static GHashTable *plugins_by_path;

/* The fields every plugin must have: everything up to realize. */
#define PLUGIN_MIN_SIZE (offsetof(struct vfud_plugin, realize) + \
                         sizeof(((struct vfud_plugin *)0)->realize))

static bool valid_short_name(const char *s)
{
    if (*s == '\0') {
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

static int plugin_path(const char *spec, const char *plugin_dir, char **path,
                       char **why)
{
    if (strchr(spec, '/') != NULL) {
        *path = g_strdup(spec);
        return 0;
    }
    if (!valid_short_name(spec)) {
        *why = g_strdup_printf("invalid plugin name '%s' (use [a-z0-9_-], or a path)",
                               spec);
        return -EINVAL;
    }
    *path = g_strdup_printf("%s/%s.so", plugin_dir, spec);
    return 0;
}

static int plugin_check(struct plugin *p, const struct vfud_plugin *raw,
                        char **why)
{
    size_t n;

    /* Older versions are served with their old meanings (plugin.h); a
     * newer one may rely on what this daemon lacks. */
    if (raw->_api_version < VFUD_API_VERSION_MIN ||
        raw->_api_version > VFUD_API_VERSION) {
        *why = g_strdup_printf("%s: plugin API version %d, this daemon speaks %d to %d",
                               p->path, raw->_api_version,
                               VFUD_API_VERSION_MIN, VFUD_API_VERSION);
        return -EPROTO;
    }
    if (raw->_struct_size < PLUGIN_MIN_SIZE) {
        *why = g_strdup_printf("%s: plugin struct too small (%llu bytes)", p->path,
                               (unsigned long long)raw->_struct_size);
        return -EPROTO;
    }
    /* Copy what both sides know; zero what only we know (nbdkit's scheme). */
    n = MIN(sizeof(p->ops), raw->_struct_size);
    memset(&p->ops, 0, sizeof(p->ops));
    memcpy(&p->ops, raw, n);

    if (p->ops.name == NULL || !valid_short_name(p->ops.name)) {
        *why = g_strdup_printf("%s: plugin has no valid name", p->path);
        return -EINVAL;
    }
    if (p->ops.realize == NULL) {
        *why = g_strdup_printf("%s: plugin '%s' has no realize callback",
                               p->path, p->ops.name);
        return -EINVAL;
    }
    if ((p->ops.region_read == NULL) != (p->ops.region_write == NULL)) {
        *why = g_strdup_printf("%s: plugin '%s' must provide both region_read "
                               "and region_write, or neither",
                               p->path, p->ops.name);
        return -EINVAL;
    }
    for (const char *const *s = p->ops.syscalls; s != NULL && *s != NULL; s++) {
        if (!seccomp_known(*s)) {
            *why = g_strdup_printf("%s: plugin '%s' declares '%s', which is neither "
                                   "a system call nor a sandbox group", p->path,
                                   p->ops.name, *s);
            return -EINVAL;
        }
    }
    return 0;
}

int plugin_open(const char *spec, const char *plugin_dir, struct plugin **out,
                char **why)
{
    g_autofree char *path = NULL;
    g_autofree char *canon = NULL;
    struct vfud_plugin *(*init)(void);
    struct plugin *p;
    int r;

    *out = NULL;
    *why = NULL;
    r = plugin_path(spec, plugin_dir, &path, why);
    if (r < 0) {
        return r;
    }
    canon = realpath(path, NULL);
    if (canon == NULL) {
        r = -errno;
        *why = g_strdup_printf("plugin '%s' not found: %s: %s", spec, path,
                               g_strerror(-r));
        return r;
    }
    if (plugins_by_path == NULL) {
        plugins_by_path = g_hash_table_new(g_str_hash, g_str_equal);
    }
    p = g_hash_table_lookup(plugins_by_path, canon);
    if (p != NULL) {
        p->users++;
        *out = p;
        return 0;
    }

    p = g_new0(struct plugin, 1);
    p->path = g_steal_pointer(&canon);
    dlerror();
    p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (p->dl == NULL) {
        *why = g_strdup_printf("cannot load plugin %s: %s", p->path, dlerror());
        r = -ENOEXEC;
        goto fail;
    }
    init = (struct vfud_plugin * (*)(void))dlsym(p->dl, "vfud_plugin_init");
    if (init == NULL) {
        *why = g_strdup_printf("%s is not a vfiouserd plugin (no vfud_plugin_init)",
                               p->path);
        r = -ENOEXEC;
        goto fail;
    }
    {
        struct vfud_plugin *raw = init();

        if (raw == NULL) {
            *why = g_strdup_printf("%s: vfud_plugin_init returned NULL", p->path);
            r = -EINVAL;
            goto fail;
        }
        r = plugin_check(p, raw, why);
        if (r < 0) {
            goto fail;
        }
    }
    if (p->ops.load != NULL) {
        r = p->ops.load();
        if (r < 0) {
            *why = g_strdup_printf("plugin '%s': load failed: %s", p->ops.name,
                                   g_strerror(-r));
            goto fail;
        }
    }
    p->users = 1;
    g_hash_table_insert(plugins_by_path, p->path, p);
    log_debug(NULL, "loaded plugin '%s' %s from %s", p->ops.name,
              p->ops.version != NULL ? p->ops.version : "", p->path);
    *out = p;
    return 0;

fail:
    if (p->dl != NULL) {
        dlclose(p->dl);
    }
    g_free(p->path);
    g_free(p);
    return r;
}

void plugin_close(struct plugin *p)
{
    if (p == NULL || --p->users > 0) {
        return;
    }
    g_hash_table_remove(plugins_by_path, p->path);
    if (p->ops.unload != NULL) {
        p->ops.unload();
    }
    /* Valgrind and ASAN report more useful stacks if the code stays mapped. */
    if (getenv("VFIOUSERD_NO_DLCLOSE") == NULL) {
        dlclose(p->dl);
    }
    g_free(p->path);
    g_free(p);
    if (g_hash_table_size(plugins_by_path) == 0) {
        g_hash_table_unref(plugins_by_path);
        plugins_by_path = NULL;
    }
}

bool plugin_knows_key(const struct plugin *p, const char *key)
{
    return device_knows_key(&p->ops, key);
}

void plugin_dump(const struct plugin *p, FILE *out)
{
    const struct vfud_config_key *k;

    fprintf(out, "name=%s\n", p->ops.name);
    fprintf(out, "version=%s\n", p->ops.version != NULL ? p->ops.version : "");
    fprintf(out, "description=%s\n",
            p->ops.description != NULL ? p->ops.description : "");
    fprintf(out, "api_version=%d\n", p->ops._api_version);
    fprintf(out, "path=%s\n", p->path);
    fprintf(out, "syscalls=");
    for (const char *const *s = p->ops.syscalls; s != NULL && *s != NULL; s++) {
        fprintf(out, "%s%s", s == p->ops.syscalls ? "" : " ", *s);
    }
    fprintf(out, "\n");
    fprintf(out, "prefers_process=%s\n", p->ops.prefers_process ? "yes" : "no");
    fprintf(out, "keys:\n");
    fprintf(out, "  %-24s %s\n", "plugin", "(daemon) plugin name or path");
    fprintf(out, "  %-24s %s\n", "socket", "(daemon) socket path");
    fprintf(out, "  %-24s %s\n", "write-multiple",
            "(daemon) offer REGION_WRITE_MULTI to clients (default no)");
    for (k = p->ops.config_keys; k != NULL && k->name != NULL; k++) {
        fprintf(out, "  %-24s %s\n", k->name, k->help != NULL ? k->help : "");
    }
}
