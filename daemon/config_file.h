/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration file: a [daemon] section and one section per device.
 * Parsing only checks what the daemon itself owns; plugin keys are kept, in
 * file order with their line numbers, for the plugin to judge later.
 */
#ifndef VFIOUSERD_CONFIG_FILE_H
#define VFIOUSERD_CONFIG_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "sandbox.h"

struct config_entry {
    char *key;
    char *value;
    unsigned line;
};

/* Owner, group and mode of a socket; a field without its has_ flag is
 * taken from the [daemon] section. */
struct socket_perms {
    bool has_mode, has_uid, has_gid;
    mode_t mode;
    uid_t uid;
    gid_t gid;
};

struct device_config {
    char *name;
    unsigned line; /* of the section header */
    char *plugin;  /* short name or path */
    unsigned plugin_line;
    char *socket; /* NULL: <socket-dir>/<name>.sock */
    unsigned socket_line;
    bool write_multiple; /* offer REGION_WRITE_MULTI */
    bool isolate;        /* isolate = process: served by a child process */
    bool isolate_set;    /* isolate given; else the plugin's preference
                          * (prefers_process) decides, see devset.c */
    uint64_t limit_fds;    /* limit-fds (isolated only), 0: the daemon's */
    uint64_t limit_memory; /* limit-memory: RLIMIT_AS of its process, 0: none */
    GPtrArray *keys; /* struct config_entry *: the plugin's keys */

    /* ---- operations: daemon keys a reload applies without recreating
     * the device (see config_device_same_instance) ---- */
    int log_level;             /* -1: the daemon's */
    GArray *allowed_uids;      /* uid_t; NULL: [daemon]'s; empty: anyone */
    GArray *allowed_gids;      /* gid_t; likewise */
    struct socket_perms perms; /* socket-mode/-owner/-group */
};

struct daemon_config {
    char *path; /* for messages */
    char *plugin_dir;
    char *socket_dir;
    mode_t socket_mode;
    bool has_socket_uid, has_socket_gid;
    uid_t socket_uid;
    gid_t socket_gid;
    int log_level; /* -1: not set */
    unsigned callback_warn_ms; /* plugin callback time limit, 0: off */
    unsigned handshake_timeout_ms; /* VERSION deadline, 0: none */
    GPtrArray *devices; /* struct device_config * */

    /* ---- operations ---- */
    char *control_socket;  /* NULL: <socket-dir>/control; "": none */
    mode_t control_mode;   /* default 0600 */
    bool has_control_gid;
    gid_t control_gid;
    GArray *allowed_uids;  /* defaults for devices; NULL: anyone */
    GArray *allowed_gids;

    struct sandbox_config sandbox; /* sandbox, sandbox-violation, user, group */
};

/* Parse FILE.  Every problem is logged as "FILE:LINE: [device] ..." and
 * the result is -EINVAL after the whole file was read (so a user sees all
 * errors at once); -errno if the file cannot be read. */
int config_load(const char *path, struct daemon_config **out);
/* A config with defaults and no devices (single-device mode). */
struct daemon_config *config_new(const char *path);
struct device_config *config_add_device(struct daemon_config *cfg,
                                        const char *name, unsigned line);
void config_device_add_key(struct device_config *dc, const char *key,
                           const char *value, unsigned line);
/* Keys of a device section that the daemon itself takes, besides plugin
 * and socket: 1 if key is one (applied, or *why set on a bad value), 0 if
 * it belongs to the plugin. */
int config_device_daemon_key(struct device_config *dc, const char *key,
                             const char *value, char **why);
void config_free(struct daemon_config *cfg);
/* Look up a device section by name (NULL if none). */
struct device_config *config_find_device(const struct daemon_config *cfg,
                                         const char *name);
/* Socket path of a device: its socket key or <socket-dir>/<name>.sock. */
char *config_device_socket(const struct daemon_config *cfg,
                           const struct device_config *dc);

/* ---- operations: devices defined at run time, and reload ---- */

/* Any key of a device section (plugin, socket, daemon keys, plugin keys),
 * as the file parser applies it; line 0 when it comes from elsewhere
 * (vfiouserctl add).  0, or -EINVAL and *why (g_free it). */
int config_device_set(struct device_config *dc, const char *key,
                      const char *value, unsigned line, char **why);
/* A standalone device section (not in any daemon_config). */
struct device_config *config_device_new(const char *name);
struct device_config *config_device_dup(const struct device_config *dc);
void config_device_free(struct device_config *dc);
/* Would a and b give the same plugin instance: same plugin, same plugin
 * keys with the same values in the same order? */
bool config_device_same_instance(const struct device_config *a,
                                 const struct device_config *b);
/* Do the daemon keys applied at run time (log-level, write-multiple,
 * allowed-*, socket-*) differ? */
bool config_device_same_settings(const struct device_config *a,
                                 const struct device_config *b);
/* The effective values of a device: its own key, else the [daemon] one. */
void config_device_perms(const struct daemon_config *cfg,
                         const struct device_config *dc,
                         struct socket_perms *out);
const GArray *config_device_allowed_uids(const struct daemon_config *cfg,
                                         const struct device_config *dc);
const GArray *config_device_allowed_gids(const struct daemon_config *cfg,
                                         const struct device_config *dc);
/* The configuration an isolated device's process runs with: [daemon]
 * with plugin_dir and the daemon-wide settings, and dc's section with its
 * effective daemon keys and the plugin keys (g_free it). */
char *config_isolated_text(const struct daemon_config *cfg,
                           const struct device_config *dc, const char *plugin_dir,
                           const char *socket_path);
/* The control socket path, or NULL for none (g_free it). */
char *config_control_socket(const struct daemon_config *cfg);

#endif
