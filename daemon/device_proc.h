/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The process's side of a device: what the engine's struct vfud_dev does
 * not know.  Its listening socket and the clients the listener let in or
 * refused (listener.c), who may connect, the child process of an isolated
 * device (isolate.c), the watchdog (watchdog.c) and operations from the
 * control socket (device_ops.c).  dev->proc points here.
 *
 * Life: device_proc_new -> device_proc_configure -> device_realize (engine)
 * -> device_proc_start -> ... -> device_proc_free.
 */
#ifndef VFIOUSERD_DEVICE_PROC_H
#define VFIOUSERD_DEVICE_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "config_file.h"
#include "device.h"
#include "plugin_loader.h"

/* Where the listening socket comes from. */
struct device_socket {
    char *path;     /* bound path (for messages, unlink), may be NULL */
    int fd;         /* an inherited listening fd (--fd, LISTEN_FDS) or -1 */
    mode_t mode;
    bool set_owner, set_group;
    uid_t uid;
    gid_t gid;
};

struct device_stop_request;
struct iso_store;

struct device_proc {
    struct plugin *plugin;
    char *socket_where; /* "FILE:LINE" of its socket key, or the section's */

    /* listening (listener.c) */
    struct device_socket sock;
    bool unlink_on_stop; /* we created the socket file */
    int listen_fd;
    GSource *listen_src;
    guint64 clients_served, clients_refused;
    GArray *allowed_uids;  /* uid_t / gid_t, under dev->conn_lock; NULL or */
    GArray *allowed_gids;  /* empty (both): anyone who can connect */

    /* isolate = process (isolate.c): the device thread only supervises
     * the child process that serves the device. */
    bool isolate;
    char *iso_config;   /* the child's configuration file */
    GPid iso_pid;       /* the child, or 0 */
    unsigned iso_restarts;
    unsigned iso_backoff_ms;
    gint64 iso_started;
    GSource *iso_watch, *iso_timer;
    struct iso_store *iso_store; /* what the child stores (isolate_store.h) */
    int iso_upgrade_fd; /* a child started before an upgrade's pause waits
                         * here for the hand-over (isolate_prestart), or -1 */
    bool iso_state_sent; /* ... sent: its answer is awaited there */
    gint64 iso_sent_at;
    int iso_maps_id;    /* > 0: that child's maps helper channel, to scope
                         * when the listening socket comes (sandbox.h) */

    /* device_stop_async (device_ops.c) */
    struct device_stop_request *stop_rq; /* in progress */
    GSource *stop_src;     /* its answer, posted to the main context */
};

vfud_dev *device_proc_new(const char *name, struct plugin *plugin);
/* Stops it first; NULL is fine. */
void device_proc_free(vfud_dev *dev);

/* The engine's create/config/config_complete with the keys of its
 * configuration section; errors are logged as "FILE:LINE: [dev] ...". */
int device_proc_configure(vfud_dev *dev, const char *file,
                          const struct device_config *cfg);
/* Bind (or adopt) the socket, then either start the engine and listen, or
 * start the child of an isolated device. */
int device_proc_start(vfud_dev *dev, const struct device_socket *sock);
/* An isolated device whose start sent the upgrade's state to its child
 * (isolate_taking_over): the child's answer, then the device thread.
 * 0 (also for any other device), or -errno (logged). */
int device_proc_taken_over(vfud_dev *dev);

/* main(): what the engine tells the process (status lines, thread end). */
void device_proc_init(void);

/* ---- listener.c: accepting clients on the device thread ---- */
void listener_watch(vfud_dev *dev);
void listener_unwatch(vfud_dev *dev);

/* ---- device_ops.c: operations (control socket, reload) ---- */

/* What vfiouserctl status shows, read from the main thread while the
 * device thread runs (device_snapshot). */
struct device_snapshot {
    enum device_phase phase;
    bool connected;             /* a client is attached */
    bool versioned;             /* it has negotiated VERSION */
    pid_t pid;                  /* its SO_PEERCRED */
    uid_t uid;
    gid_t gid;
    gint64 since;               /* g_get_real_time() when it connected */
    struct device_totals client; /* the current client's counters */
    struct device_totals past;   /* of the clients that have gone */
    guint64 clients_served, clients_refused;
    unsigned dma_windows;
    guint64 dma_bytes;
    unsigned irq_count[VFUD_NR_IRQ_TYPES];    /* vectors the device has */
    unsigned irq_attached[VFUD_NR_IRQ_TYPES]; /* with a client eventfd */
    guint64 irq_raised, irq_delivered;
    const char *irq_mode;       /* what the guest enabled: msix, msi, intx, none */
    bool bus_master;
    int log_level;              /* -1: the daemon's */
    bool isolated;              /* served by a process of its own: */
    pid_t iso_pid;              /* it (0 while it is being restarted) */
    unsigned iso_restarts;
};

/* Main thread: stop a running device without waiting for its thread.  The
 * device thread stops accepting and quits, dropping the client (why goes
 * in the log) -- or, unless force, leaves everything as it is if a client
 * is attached.  done(dev, 0 or -EBUSY, opaque) then runs on ctx (the main
 * context); after 0 the caller finishes with device_proc_free(), after
 * -EBUSY the device serves on.  device_proc_free at any time cancels it. */
typedef void (*device_stopped_fn)(vfud_dev *dev, int result, void *opaque);
void device_stop_async(vfud_dev *dev, bool force, const char *why,
                       GMainContext *ctx, device_stopped_fn done, void *opaque);
/* The device thread has left its loop: answer a stop request, if any. */
void device_stop_answer_pending(vfud_dev *dev);
/* A stop answer nobody will take now (shutdown). */
void device_stop_cancel(vfud_dev *dev);
/* Who may connect (checked with SO_PEERCRED at accept): a client whose uid
 * is in uids or whose group or a supplementary group is in gids.  NULL or
 * empty lists (both): anyone who can open the socket.  Copied. */
void device_set_access(vfud_dev *dev, const GArray *uids, const GArray *gids);
void device_access_free(vfud_dev *dev);
/* Main thread: a consistent-enough picture of a running device (counters
 * may move on while it is taken). */
void device_snapshot(vfud_dev *dev, struct device_snapshot *s);
bool device_has_client(vfud_dev *dev);

#endif
