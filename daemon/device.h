/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A configured device: one plugin instance, one listening socket, one thread
 * with its own GMainContext serving one client at a time.
 *
 * Life: device_new -> device_configure (create, config keys,
 * config_complete) -> device_realize -> device_start (socket, thread, plugin
 * start) -> ... -> device_stop -> device_free.
 */
#ifndef VFIOUSERD_DEVICE_H
#define VFIOUSERD_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "config_file.h"
#include "dma.h"
#include "irq.h"
#include "pci_config.h"
#include "plugin_loader.h"
#include "region.h"
#include <vfiouserd/plugin.h>

struct conn;
struct migration;
struct worker;

enum device_phase {
    DEV_NEW,        /* plugin not yet asked anything */
    DEV_CONFIGURED, /* create/config/config_complete done */
    DEV_REALIZING,  /* inside realize(): declarations allowed */
    DEV_REALIZED,
    DEV_RUNNING,    /* socket listening, thread running */
    DEV_STOPPED,
};

/* Where the listening socket comes from. */
struct device_socket {
    char *path;     /* bound path (for messages, unlink), may be NULL */
    int fd;         /* an inherited listening fd (--fd, LISTEN_FDS) or -1 */
    mode_t mode;
    bool set_owner, set_group;
    uid_t uid;
    gid_t gid;
};

/* ---- operations (control socket, reload; see devset.c) ---- */

/* Message counters of a client (struct conn's), summed over past ones. */
struct device_totals {
    guint64 msgs_in, bytes_in, msgs_out, bytes_out, errors;
};

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

struct device_stop_request;

struct vfud_dev {
    char *name;
    struct plugin *plugin;
    const struct vfud_plugin *ops;
    void *priv;
    enum device_phase phase;
    bool created;  /* the plugin's create() succeeded: destroy() is owed */
    char *where;   /* "FILE:LINE" of the device's section, for messages */
    char *socket_where; /* of its socket key, or the section's */
    int log_level; /* -1: daemon-wide level */
    bool write_multiple; /* offer REGION_WRITE_MULTI to clients */

    /* declared by the plugin in realize() */
    struct pci_config pci;
    bool pci_declared;
    struct region regions[VFUD_NR_REGIONS];
    struct irq_state irq;
    struct dma_state dma;
    struct migration *mig; /* migration.c */

    /* serving */
    struct device_socket sock;
    bool unlink_on_stop; /* we created the socket file */
    int listen_fd;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    GSource *listen_src;
    GMutex conn_lock;   /* guards conn for threads other than ours */
    struct conn *conn;  /* current client or NULL */
    struct worker *worker;
    GMutex defer_lock;
    GQueue deferred;    /* struct deferred_work * */
    GSource *defer_src;
    bool in_dispatch;   /* the device thread is serving a message */
    GSource *handshake_src; /* drops the client if it sends no VERSION */

    /* isolate = process (isolate.c): this device thread only supervises
     * the child process that serves the device. */
    bool isolate;
    char *iso_config;   /* the child's configuration file */
    GPid iso_pid;       /* the child, or 0 */
    unsigned iso_restarts;
    unsigned iso_backoff_ms;
    gint64 iso_started;
    GSource *iso_watch, *iso_timer;
    gint64 cb_started;  /* atomic: when the running plugin callback began */
    const char *cb_name; /* and which one */
    bool cb_reported;   /* the watchdog has already logged it */
    bool reset_pending; /* an FLR was requested from config space */
    guint64 clients_served, clients_refused;

    /* operations: access control, past clients, asynchronous stop */
    GArray *allowed_uids;  /* uid_t / gid_t, under conn_lock; NULL or */
    GArray *allowed_gids;  /* empty (both): anyone who can connect */
    gint64 client_since;   /* under conn_lock: when conn connected */
    struct device_totals totals; /* of past clients, under conn_lock */
    struct device_stop_request *stop_rq; /* device_stop_async in progress */
    GSource *stop_src;     /* its answer, posted to the main context */

    /* sandbox (sandbox_seccomp.c): a forbidden system call on this
     * device's thread (atomic); the device then serves no one. */
    bool sandbox_failed;
    bool sandbox_handled;
};

/* Thread-local: the device whose thread this is (NULL elsewhere). */
vfud_dev *device_current(void);
bool device_on_own_thread(const vfud_dev *dev);

vfud_dev *device_new(const char *name, struct plugin *plugin);
void device_free(vfud_dev *dev);

/* Run the plugin's create/config/config_complete with cfg's keys.  Errors
 * are logged as "FILE:LINE: [dev] ..."; returns 0 or -errno. */
int device_configure(vfud_dev *dev, const char *file,
                     const struct device_config *cfg);
/* realize() and consistency checks of what it declared. */
int device_realize(vfud_dev *dev);
/* Bind (or adopt) the socket, start the thread, call the plugin's start. */
int device_start(vfud_dev *dev, const struct device_socket *sock);
/* Stop accepting, drop the client, destroy the plugin instance, unlink the
 * socket.  Safe to call on a device in any phase. */
void device_stop(vfud_dev *dev);

/* Device thread: the client connection ended (EOF, error, protocol
 * violation): release its DMA windows and eventfds, keep device state,
 * accept the next client. */
void device_client_gone(vfud_dev *dev, const char *why);
/* Another thread's handle on the current connection (ref taken), or NULL. */
struct conn *device_get_conn(vfud_dev *dev);

/* Reset the device (DEVICE_RESET or FLR): quiesce, plugin reset, config
 * space and IRQ state back to power-on.  0 or -errno. */
int device_reset(vfud_dev *dev, enum vfud_reset_reason why);

/* Deferred work: run on the device thread after the current message. */
int device_defer(vfud_dev *dev, vfud_work_fn fn, void *opaque);
void device_run_deferred(vfud_dev *dev);

/* Plugin callbacks on the device thread are timed: one still running
 * after the limit is logged by a watchdog thread (the client may time out:
 * QEMU gives up on a synchronous request after 5 s), and again when it
 * returns.  Wrap each call in device_cb_enter/leave. */
void device_cb_enter(vfud_dev *dev, const char *name);
void device_cb_leave(vfud_dev *dev);
void device_set_callback_limit(unsigned ms); /* 0: off */
/* Drop a client that has not sent VERSION after ms (0: never). */
void device_set_handshake_timeout(unsigned ms);

/* ---- operations ---- */

/* Main thread: stop a running device without waiting for its thread.  The
 * device thread stops accepting and quits, dropping the client (why goes
 * in the log) -- or, unless force, leaves everything as it is if a client
 * is attached.  done(dev, 0 or -EBUSY, opaque) then runs on ctx (the main
 * context); after 0 the caller finishes with device_free(), after -EBUSY
 * the device serves on.  device_stop/device_free at any time cancel it. */
typedef void (*device_stopped_fn)(vfud_dev *dev, int result, void *opaque);
void device_stop_async(vfud_dev *dev, bool force, const char *why,
                       GMainContext *ctx, device_stopped_fn done, void *opaque);
/* Who may connect (checked with SO_PEERCRED at accept): a client whose uid
 * is in uids or whose group or a supplementary group is in gids.  NULL or
 * empty lists (both): anyone who can open the socket.  Copied. */
void device_set_access(vfud_dev *dev, const GArray *uids, const GArray *gids);
/* Main thread: a consistent-enough picture of a running device (counters
 * may move on while it is taken). */
void device_snapshot(vfud_dev *dev, struct device_snapshot *s);
bool device_has_client(vfud_dev *dev);

/* Log with the device's own level. */
void device_log(const vfud_dev *dev, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool device_log_enabled(const vfud_dev *dev, int level);

#define dev_err(dev, ...) device_log(dev, LOG_ERR, __VA_ARGS__)
#define dev_warn(dev, ...) device_log(dev, LOG_WARNING, __VA_ARGS__)
#define dev_notice(dev, ...) device_log(dev, LOG_NOTICE, __VA_ARGS__)
#define dev_info(dev, ...) device_log(dev, LOG_INFO, __VA_ARGS__)
#define dev_debug(dev, ...)                                                   \
    do {                                                                      \
        if (device_log_enabled(dev, LOG_DEBUG)) {                             \
            device_log(dev, LOG_DEBUG, __VA_ARGS__);                          \
        }                                                                     \
    } while (0)

/* The plugin's error message for the failing callback (thread-local): set
 * by vfud_error(), taken (and cleared) by whoever reports the failure. */
void device_set_error(const char *msg);
char *device_take_error(void);

#endif
