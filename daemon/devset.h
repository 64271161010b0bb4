/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The set of devices the daemon serves, and changing it while the daemon
 * runs: start-up from the configuration, add and remove (control socket),
 * reload (SIGHUP or control socket), shutdown.  Main thread only.
 *
 * Changes are operations run one at a time, in the order they were asked
 * for.  Stopping a device never blocks the main loop: the operation waits
 * for the device thread's answer (device_stop_async), so the control
 * socket, signals and every other device go on meanwhile.
 */
#ifndef VFIOUSERD_DEVSET_H
#define VFIOUSERD_DEVSET_H

#include <stdbool.h>

#include <glib.h>

#include "config_file.h"
#include "device.h"
#include "device_proc.h"

struct devset;

/* A served device. */
struct devset_entry {
    vfud_dev *dev;
    struct device_config *dc; /* the configuration it runs with */
    bool from_file;   /* a section of the config file (reload manages it) */
    bool activated;   /* its socket came from the service manager (or --fd) */
    int inherited_fd; /* that socket, as passed (the device has a dup) */
    bool busy;        /* an operation is stopping or replacing it */
};

/* cfg: the configuration (taken); config_path: the file a reload reads,
 * NULL in single-device mode; plugin_dir: --plugin-dir or NULL; verbose:
 * -v (the daemon-wide level stays debug across reloads). */
struct devset *devset_new(struct daemon_config *cfg, const char *config_path,
                          const char *plugin_dir, bool verbose);
/* Stop every device (last created first) and free; operations still
 * queued are answered "daemon stopping". */
void devset_free(struct devset *ds);

/* An upgrade's new process, before the old one stops its devices: start
 * each plugin instance and device thread (start(), running()) without a
 * socket, so that devset_start, inside the guests' pause, only gives them
 * their sockets.  An isolated device's process is started too, waiting
 * for the state its predecessor stored (isolate_prestart).  0 or -errno
 * (logged). */
int devset_prestart(struct devset *ds);
/* Start-up, all or nothing: open, configure and realize every device of
 * the configuration (nothing listens yet), then make each listen: on
 * single_fd (--fd) if >= 0, else on the socket the service manager passed
 * under its name (activation, may be NULL: taken), else on its own.
 * Errors are logged; -errno. */
int devset_create(struct devset *ds);
int devset_start(struct devset *ds, int single_fd, GPtrArray *activation);
/* Log each device's "listening on" line: once everything listens (the
 * control socket too), since a later failure stops all. */
void devset_announce(struct devset *ds);

const struct daemon_config *devset_config(const struct devset *ds);
GPtrArray *devset_entries(const struct devset *ds); /* struct devset_entry * */
struct devset_entry *devset_find(const struct devset *ds, const char *name);

/* What an operation did: facts, which control.c puts into its answer. */
enum devset_list {
    DEVSET_ADDED,       /* reload: device names */
    DEVSET_REMOVED,
    DEVSET_RECREATED,
    DEVSET_UPDATED,     /* run-time settings applied in place */
    DEVSET_UNCHANGED,
    DEVSET_RUNTIME,     /* added by vfiouserctl add: left alone */
    DEVSET_FAILED,      /* could not be started (see errors) */
    DEVSET_RESTART_NEEDED, /* [daemon] settings: "control-socket" */
    DEVSET_NR_LISTS
};

/* A change a reload left for later: a client is attached. */
struct devset_pending {
    char *device;
    const char *change; /* "remove" or "recreate" */
    char *reason;
};

struct devset_result {
    int err;            /* 0 or the errno (positive) of the failure */
    char *error;        /* what failed, with err */
    char *device;       /* add, remove: the device */
    char *socket;       /* add: where it listens (NULL: an inherited fd) */
    char *config;       /* reload: the file read */
    bool reloaded;      /* reload: compared and committed; the lists say how */
    GPtrArray *lists[DEVSET_NR_LISTS]; /* char *; NULL when empty */
    GPtrArray *pending; /* struct devset_pending *; NULL when none */
    GPtrArray *errors;  /* char *: error lines logged meanwhile, or NULL */
};
void devset_result_free(struct devset_result *r);

/* Operations.  done(result, opaque) runs on the main thread when the
 * operation has finished (possibly before the call returns); result is
 * freed when it returns. */
typedef void (*devset_done_fn)(const struct devset_result *result, void *opaque);
/* dc (taken): a device section built from KEY=VALUE words. */
void devset_add(struct devset *ds, struct device_config *dc,
                devset_done_fn done, void *opaque);
void devset_remove(struct devset *ds, const char *name, bool force,
                   devset_done_fn done, void *opaque);
void devset_reload(struct devset *ds, devset_done_fn done, void *opaque);

#endif
