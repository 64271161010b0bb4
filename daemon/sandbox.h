/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sandbox the daemon puts itself in once it has started (vfiouserd(8),
 * SECURITY).  Layers, each in a file of its own:
 *
 *   privdrop.c          as root: switch to [daemon] user/group (default
 *                       the vfiouserd user when it exists), no capabilities
 *                       left in any thread; always no_new_privs
 *   sandbox_landlock.c  file access limited to what the configuration names
 *   sandbox_seccomp.c   an allow-list of system calls: the daemon's own plus
 *                       the groups each loaded plugin declares (syscalls in
 *                       struct vfud_plugin); a forbidden call is logged with
 *                       its name and device, then fails with EPERM or kills
 *                       the offending process
 *
 * sandbox.c applies them in that order: after every socket is bound (the
 * last privileged step) and before READY=1.  An isolated device's process
 * applies its own, narrower sandbox after its one plugin is loaded.
 */
#ifndef VFIOUSERD_SANDBOX_H
#define VFIOUSERD_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

enum sandbox_violation {
    SANDBOX_KILL = 0, /* the offending process dies (thread mode: see below) */
    SANDBOX_EPERM,    /* the call fails with EPERM */
};

/* [daemon] keys sandbox, sandbox-violation, user, group. */
struct sandbox_config {
    bool off;                        /* sandbox = off */
    enum sandbox_violation violation;
    char *user;                      /* NULL: vfiouserd if it exists */
    char *group;                     /* NULL: the user's primary group */
};

/* io_uring rings kept for devices added after the filter (hot add,
 * reload): past these, such a device's messages take the poll path. */
#define SANDBOX_URING_SPARE 4

/* What the running daemon is about to confine: everything sandbox_apply
 * needs to know about the devices. */
struct sandbox_plan {
    const struct sandbox_config *cfg;
    bool isolated_child;     /* one device, in a process of its own: */
    char *device;            /* its name */
    bool spawns;             /* starts isolated device processes */
    GPtrArray *syscalls;     /* const char *: names and groups, all plugins */
    GPtrArray *rw_paths;     /* char *: paths named by device configurations */
    GPtrArray *ro_paths;     /* char *: config file, plugin dir (parent) */
    char *socket_dir;        /* where sockets are created at run time */
    char *control_dir;       /* directory of the control socket, or NULL */
    int ruleset_fd;          /* Landlock's, while prepare builds it */
    bool landlock;           /* in force since prepare */
    bool switch_user;        /* privdrop_apply will leave uid 0 */
    uint64_t limit_fds;      /* isolated child: RLIMIT_NOFILE, 0: as is */
    uint64_t limit_memory;   /* isolated child: RLIMIT_AS, 0: none */
    int maps_fd;             /* isolated child: its channel to the daemon's
                              * maps helper (--maps-fd), or -1 */
    unsigned devices;        /* served by this process: each needs an
                              * io_uring ring made before the filter */
};

/* "sandbox", "sandbox-violation", "user", "group": 1 if key is one (on a
 * bad value *why is set), 0 if not. */
int sandbox_config_key(struct sandbox_config *sc, const char *key,
                       const char *value, char **why);
void sandbox_config_clear(struct sandbox_config *sc);
/* The keys again, for an isolated device's configuration. */
void sandbox_config_write(const struct sandbox_config *sc, GString *out);

struct sandbox_plan *sandbox_plan_new(const struct sandbox_config *cfg);
void sandbox_plan_free(struct sandbox_plan *p);
/* A device's plugin declared these (NULL-terminated, may be NULL). */
void sandbox_plan_add_syscalls(struct sandbox_plan *p, const char *const *list);
/* Absolute paths among a device's configuration values. */
void sandbox_plan_add_config_value(struct sandbox_plan *p, const char *value);

/* Main thread, before anything starts a thread (GLib's worker included):
 * builds the Landlock rules.  Then, after start-up, sandbox_apply confines
 * every thread of the process.  Both return 0, or -errno after logging why
 * (the daemon then exits: it promised a sandbox it cannot give). */
int sandbox_prepare(struct sandbox_plan *p);
int sandbox_apply(struct sandbox_plan *p);
/* Is the sandbox in force (for tests and vfiouserctl)? */
bool sandbox_active(void);
/* An fd of /proc/PID/maps of client_sock's peer, opened by the helper that
 * sandbox_prepare started for a daemon under Landlock (sandbox_maps.c);
 * -ENOSYS without one. */
int sandbox_maps_open(int client_sock);
/* For an isolated device's process: a channel to the helper that answers
 * only for clients accepted on listen_fd (to be passed to the process, which
 * calls sandbox_maps_adopt), or -errno (-ENOSYS without a helper).  With
 * listen_fd -1 (a process started before an upgrade's pause, which brings
 * the listening socket), it answers for nobody until sandbox_maps_scope(*id,
 * the listening socket); *id is set (0 with a listen_fd) if id is not NULL. */
int sandbox_maps_child_channel(int listen_fd, int *id);
int sandbox_maps_scope(int id, int listen_fd);
/* In that process: use fd, from the daemon, instead of a helper of its own. */
void sandbox_maps_adopt(int fd);

/* ---- layers (internal to the sandbox files) ---- */
int privdrop_apply(const struct sandbox_config *cfg);
/* Will privdrop_apply switch to another user (started as root, and the
 * user exists)? */
bool privdrop_will_switch(const struct sandbox_config *cfg);
/* On each thread (async-signal-safe). */
int privdrop_thread_caps(void);
/* 0, or -EOPNOTSUPP when the kernel has no Landlock (logged, not fatal). */
int landlock_prepare(const struct sandbox_plan *p, int *ruleset_fd);
int landlock_restrict_thread(int ruleset_fd);
int seccomp_apply(const struct sandbox_plan *p);
/* Forks the maps helper (before Landlock applies). */
int sandbox_maps_start(void);
/* Checks a plugin's list before a device is added at run time: 0, or
 * -EPERM with *why when the filter in force does not allow it all. */
int seccomp_check_needs(const char *const *list, char **why);
/* Is name a syscall or group we know (for plugin loading)? */
bool seccomp_known(const char *name);

/* Runs fn(arg) on every other thread of the process (from a signal
 * handler), waiting for all: 0 or the first negative errno. */
int sandbox_on_all_threads(int (*fn)(void *arg), void *arg);

#endif
