/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Finding, loading and checking plugins.  A plugin is loaded once and shared
 * by every device that names it; load() runs on first use, unload() and
 * dlclose() when the last device lets go.
 */
#ifndef VFIOUSERD_PLUGIN_LOADER_H
#define VFIOUSERD_PLUGIN_LOADER_H

#include <stdbool.h>
#include <stdio.h>

#include <vfiouserd/plugin.h>

struct plugin {
    char *path;
    void *dl;
    struct vfud_plugin ops; /* the plugin's struct, zero-extended */
    unsigned users;
};

/* spec: a short name ("gpio" -> <plugin_dir>/gpio.so) or a path containing
 * '/'.  On failure returns a negative errno and sets *why (g_free it) to a
 * message without any location prefix. */
int plugin_open(const char *spec, const char *plugin_dir, struct plugin **out,
                char **why);
void plugin_close(struct plugin *p);

/* Is key one of the plugin's documented keys?  True if it has no table. */
bool plugin_knows_key(const struct plugin *p, const char *key);
void plugin_dump(const struct plugin *p, FILE *out);

#endif
