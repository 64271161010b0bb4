/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device as the engine sees it: one plugin instance, one thread with its
 * own GMainContext serving one client at a time.  Where clients come from
 * (a listening socket), who may connect, isolation and operations are the
 * process's (daemon/device_proc.h, dev->proc).
 *
 * Life: device_new -> device_configure (create, config keys,
 * config_complete) -> device_realize -> device_start (plugin start,
 * thread) -> device_attach per client ... -> device_stop -> device_free.
 */
#ifndef VFIOUSERD_DEVICE_H
#define VFIOUSERD_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "dma.h"
#include "irq.h"
#include "pci_config.h"
#include "region.h"
#include <vfiouserd/plugin.h>

struct conn;
struct device_proc;
struct migration;
struct ucred;
struct worker;

enum device_phase {
    DEV_NEW,        /* plugin not yet asked anything */
    DEV_CONFIGURED, /* create/config/config_complete done */
    DEV_REALIZING,  /* inside realize(): declarations allowed */
    DEV_REALIZED,
    DEV_RUNNING,    /* socket listening, thread running */
    DEV_STOPPED,
};

/* Where a device is in a hand-over between two processes of ours
 * (vfiouserctl upgrade, a restart through systemd's fd store): each side
 * stops it, the old process to capture its state, the new one to load it.
 * Set before the plugin's quiesce(true), which asks vfud_mig_handover(). */
enum device_handover {
    HANDOVER_NONE,                   /* not stopped for a hand-over */
    HANDOVER_STOPPED_FOR_CAPTURE,    /* the old process's (dev_capture) */
    HANDOVER_STOPPED_AWAITING_STATE, /* the new process's, before its state
                                      * came (dev_restore_prepare) */
    HANDOVER_STOPPED_FOR_RESTORE,    /* the new process's, loading its state
                                      * (dev_restore) */
};

/* Message counters of a client (struct conn's), summed over past ones. */
struct device_totals {
    guint64 msgs_in, bytes_in, msgs_out, bytes_out, errors;
};

struct vfud_dev {
    char *name;
    const struct vfud_plugin *ops;
    void *priv;
    enum device_phase phase;
    bool created;  /* the plugin's create() succeeded: destroy() is owed */
    char *where;   /* "FILE:LINE" of the device's section, for messages */
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
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    struct conn_uring *uring; /* the loop waits through it, or NULL */
    GMutex conn_lock;   /* guards conn for threads other than ours */
    struct conn *conn;  /* current client or NULL */
    struct worker *worker;
    GMutex defer_lock;
    GQueue deferred;    /* struct deferred_work * */
    GSource *defer_src;
    bool in_dispatch;   /* the device thread is serving a message */
    GSource *handshake_src; /* drops the client if it sends no VERSION */

    gint64 cb_started;  /* atomic: when the running plugin callback began */
    const char *cb_name; /* and which one */
    bool reset_pending; /* an FLR was requested from config space */
    enum device_handover handover; /* device thread */
    gint64 client_since;   /* under conn_lock: when conn connected */
    struct device_totals totals; /* of past clients, under conn_lock */

    /* A forbidden system call on this device's thread (atomic), set by
     * the process's sandbox (daemon/sandbox_seccomp.c): the device then
     * serves no one. */
    bool sandbox_failed;
    bool sandbox_handled;

    /* The plugin's running() is owed by the device thread; its result
     * (under the running lock, device.c). */
    bool run_hook;
    bool running_done;
    int running_result;

    /* The thread takes device calls (device_call.c's lock): from
     * device_start_thread until it leaves its loop. */
    bool calls_open;

    struct device_proc *proc; /* the process's side, opaque here */
};

struct msg;

/* What the process embedding the engine is told (each may be NULL). */
struct device_hooks {
    /* Device thread: a line for the service manager's status. */
    void (*status)(vfud_dev *dev, const char *status);
    /* Device thread, leaving its loop: the client is gone, plugin work
     * drained. */
    void (*thread_exit)(vfud_dev *dev);
    /* Any thread: an open fd on the maps file of the process at the
     * other end of client_sock, or a negative errno.  For a process
     * that cannot open /proc/PID/maps itself (its sandbox). */
    int (*open_peer_maps)(int client_sock);
    /* Device thread: a client's command before its handler runs (r > 0,
     * its fds still there) and after (r its result).  The fd store
     * (daemon/fdstore_dev.c) follows windows and interrupts with it. */
    void (*command)(vfud_dev *dev, const struct msg *m, int r);
    /* Device thread: a client connected, or dev->conn is gone. */
    void (*client_changed)(vfud_dev *dev);
};
void device_set_hooks(const struct device_hooks *hooks);
int device_open_peer_maps(int client_sock);
void device_command_hook(vfud_dev *dev, const struct msg *m, int r);
void device_client_hook(vfud_dev *dev);

/* A configuration key for device_configure; where is "FILE:LINE". */
struct device_key {
    const char *key, *value, *where;
};

/* Thread-local: the device whose thread this is (NULL elsewhere). */
vfud_dev *device_current(void);
bool device_on_own_thread(const vfud_dev *dev);

vfud_dev *device_new(const char *name, const struct vfud_plugin *ops);
void device_free(vfud_dev *dev);

/* Is key one of the plugin's documented keys?  True if it has no table. */
bool device_knows_key(const struct vfud_plugin *ops, const char *key);
/* Run the plugin's create/config/config_complete with keys (n of them);
 * where is the device's "FILE:LINE".  Errors are logged as "FILE:LINE:
 * [dev] ..."; returns 0 or -errno. */
int device_configure(vfud_dev *dev, const char *where,
                     const struct device_key *keys, unsigned n);
/* realize() and consistency checks of what it declared. */
int device_realize(vfud_dev *dev);
/* Call the plugin's start, then start the thread. */
int device_start(vfud_dev *dev);
/* Only the thread (the plugin instance lives elsewhere: isolate). */
void device_start_thread(vfud_dev *dev);
/* While held, device threads started by device_start wait before the
 * plugin's running() (the process is confining itself) and device_start
 * does not wait for it; releasing with run = false skips it (start-up
 * failed). */
void device_hold_running(bool hold, bool run);
/* The result of the plugin's running() (0 without one), once it ran. */
int device_wait_running(vfud_dev *dev);
/* Drop the client, stop the thread, destroy the plugin instance.  Safe to
 * call on a device in any phase. */
void device_stop(vfud_dev *dev);

/* Run a function on the device's thread and wait for it: for whoever
 * must see or change the device between two messages (an upgrade's
 * capture and restore, the fd store's stop and re-attach).  fn runs from
 * a high-priority source of the device's GMainContext, so before any other
 * work the device has queued; it returns 0 or -errno.
 *   - From the device's own thread, fn runs at once.
 *   - With no thread (not started, stopped) or one that leaves its loop
 *     before running it, fn does not run and the call ends with -ESRCH.
 * device_call_start returns at once and device_call_wait waits for that
 * call (and frees it): start one on each device, then wait for each, and
 * the devices work in parallel. */
typedef int (*device_call_fn)(vfud_dev *dev, void *opaque);
struct device_call;
struct device_call *device_call_start(vfud_dev *dev, device_call_fn fn, void *opaque);
int device_call_wait(struct device_call *c);
int device_call_sync(vfud_dev *dev, device_call_fn fn, void *opaque);
/* Inside fn: end the call now with r (its waiter returns) while fn goes on
 * holding the device thread -- a capture keeps the device from reading its
 * client until the process decides.  A later device_call on the same
 * device waits for fn to return.  Elsewhere a no-op. */
void device_call_return(int r);
/* device.c: the thread starts taking calls; it left its loop (calls still
 * pending end with -ESRCH). */
void device_calls_open(vfud_dev *dev);
void device_calls_close(vfud_dev *dev);

/* Device thread: serve a client on cfd (accepted, credentials in cred).
 * -EBUSY (cfd not taken) while another client is attached. */
int device_attach(vfud_dev *dev, int cfd, const struct ucred *cred);

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
unsigned device_callback_limit(void);
/* The monotonic clock those use: microseconds, never 0. */
gint64 device_cb_clock(void);
/* Drop a client that has not sent VERSION after ms (0: never). */
void device_set_handshake_timeout(unsigned ms);
/* Device thread: the same deadline for a client attached another way (a
 * previous process's, still to send VERSION: dev_handoff.c). */
void device_handshake_start(vfud_dev *dev);

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
