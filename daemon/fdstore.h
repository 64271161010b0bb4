/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * systemd's file-descriptor store (FileDescriptorStoreMax=): what keeps a
 * client connected across "systemctl restart" and a crash.  See
 * vfiouserd(8), RESTART AND CRASH.
 *
 * While the daemon runs, each fd a restarted daemon would need is pushed
 * to the store (FDSTORE=1, FDNAME=) when it appears and removed
 * (FDSTOREREMOVE=1) when it goes.  Names are "vfud/DEVICE/KIND[/INDEX]":
 *   vfud/control               the control socket
 *   vfud/D/listen              D's listening socket
 *   vfud/D/meta                a memfd: what the fds below mean (fdstore_dev.c)
 *   vfud/D/conn, vfud/D/twin   the client's socket(s)
 *   vfud/D/win/DEV-INO         a file the client's DMA windows map (hex
 *                              st_dev, st_ino: one per file, not window)
 *   vfud/D/irq/TYPE/VEC        the client's eventfd of an interrupt
 *   vfud/D/intx-unmask         the INTx unmask eventfd
 *   vfud/D/region/N            region memory the client maps (doorbells)
 *   vfud/state, vfud/state-fds a clean stop's hand-over (fdstore_restart.c)
 *   vfud/state/N               an fd of it stored under no other name
 *
 * systemd hands them back on the next start as LISTEN_FDS/LISTEN_FDNAMES
 * (fdstore_take).
 */
#ifndef VFIOUSERD_FDSTORE_H
#define VFIOUSERD_FDSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include <vfiouserd/plugin.h>

#define FDSTORE_PREFIX "vfud/"

struct control;
struct devset;

/* main(): use the store if systemd gave us one ($NOTIFY_SOCKET and either
 * $FDSTORE > 0, systemd >= 254, or asked for by --fd-store). */
void fdstore_init(bool asked);
bool fdstore_enabled(void);
/* An isolated device's process: the store is its parent's, reached over
 * notify_fd (isolate_store.c), which gives the stored fds back from
 * notify_fd + 1 on, counted and named in these variables (the parent
 * cannot set LISTEN_PID: it does not know the pid before the fork). */
#define FDSTORE_CHILD_FDS "VFIOUSERD_STORED_FDS"
#define FDSTORE_CHILD_FDNAMES "VFIOUSERD_STORED_FDNAMES"
void fdstore_init_child(int notify_fd);
void fdstore_take_child(int start);

/* Any thread.  The fd is dup'd by the kernel; the caller keeps its own.
 * The first failure is logged.  The datagram is sent blocking, as
 * sd_notify() does: systemd reads its socket at once, and an update the
 * store missed would lose the client on a crash. */
int fdstore_push(const char *name, int fd);
void fdstore_remove(const char *name);

/* Start-up, before listener_take_activation: take the fds the store gave
 * back (ours only, by name).  Harmless without any. */
bool fdstore_is_ours(const char *name);
void fdstore_take(void);
/* The fd stored under name (the last one, if several), now the caller's;
 * -1 if none. */
int fdstore_take_fd(const char *name);
/* A duplicate of it, which stays there (for an fd several things share). */
int fdstore_dup_fd(const char *name);
/* Names taken back that start with prefix. */
GPtrArray *fdstore_taken_names(const char *prefix);
/* Remove from the store every name taken back that starts with prefix. */
void fdstore_remove_taken(const char *prefix);
/* An fd for the table above that came another way (an upgrade's
 * hand-over, for an isolated device: upgrade_adopt); takes fd. */
void fdstore_give(const char *name, int fd);
/* Close whatever nobody took. */
void fdstore_take_done(void);

/* ---- fdstore_dev.c: following each device ---- */
/* device_hooks. */
struct msg;
void fdstore_dev_command(vfud_dev *dev, const struct msg *m, int r);
void fdstore_dev_client_changed(vfud_dev *dev);
/* After start-up (and after an adopted hand-over): push every device's
 * listening socket, meta and regions, and the control socket. */
void fdstore_publish(struct devset *ds, struct control *ctl);
char *fdstore_win_name(const char *dev, uint64_t st_dev, uint64_t st_ino);
/* A device leaves for good (reload): remove its names. */
void fdstore_dev_forget(vfud_dev *dev);
/* What the meta memfd of a device says, for a crash re-attach. */
struct fdstore_meta;
struct dev_state;
/* Build the state of dev's client from the store (taken fds + meta); 0
 * with *out NULL if there was none, -errno with *why. */
int fdstore_dev_rebuild(vfud_dev *dev, struct dev_state **out, GByteArray **config,
                        unsigned *quick, char **why);
/* A client that the re-attached process loses again at once is dropped:
 * a plugin that dies on its own state (or on the reset) would otherwise
 * keep it waiting through the restarts for ever.  The meta counts the
 * re-attaches in a row that the next crash followed within
 * FDSTORE_CRASH_QUICK_MS (restart delay included); the crash that makes
 * it FDSTORE_CRASH_DROP drops the client (EOF for the VMM) and the device
 * serves its listening socket again.  vfiouserd(8), RESTART AND CRASH. */
#define FDSTORE_CRASH_QUICK_MS 10000u
#define FDSTORE_CRASH_DROP 3u
/* Device thread, after the re-attach, before the reset (which may be what
 * crashes): the count of quick crashes so far, kept in the meta. */
void fdstore_dev_reattached(vfud_dev *dev, unsigned quick);
/* Device thread: write the meta again (after the reset). */
void fdstore_dev_rewrite(vfud_dev *dev);

/* ---- fdstore_restart.c ---- */
/* Before starting the devices: a clean stop's hand-over in the store?
 * Then a socket upgrade_adopt() reads it from (>= 0), else -1. */
int fdstore_handover_sock(void);
/* After the devices started without a hand-over: re-attach each client
 * the store kept, with the device reset. */
void fdstore_reattach(struct devset *ds);
/* SIGTERM with the store on: capture every device, put the hand-over in
 * the store and _exit(0) without touching the clients. Returns only if
 * there is nothing to hand over. */
void fdstore_stop(struct devset *ds, struct control *ctl);

#endif
