/*
 * The configuration file: a [daemon] section and one section per device.
 * Parsing only checks what the daemon itself owns; plugin keys are kept, in
 * file order with their line numbers, for the plugin to judge later.
 */
#ifndef VFIOUSERD_CONFIG_FILE_H
#define VFIOUSERD_CONFIG_FILE_H

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

struct config_entry {
    char *key;
    char *value;
    unsigned line;
};

struct device_config {
    char *name;
    unsigned line; /* of the section header */
    char *plugin;  /* short name or path */
    unsigned plugin_line;
    char *socket; /* NULL: <socket-dir>/<name>.sock */
    unsigned socket_line;
    bool write_multiple; /* offer REGION_WRITE_MULTI */
    GPtrArray *keys; /* struct config_entry *: the plugin's keys */
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
    GPtrArray *devices; /* struct device_config * */
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
/* Socket path of a device: its socket key or <socket-dir>/<name>.sock. */
char *config_device_socket(const struct daemon_config *cfg,
                           const struct device_config *dc);

#endif
