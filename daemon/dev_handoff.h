/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device's live state taken out of one process and put into another
 * (vfiouserctl upgrade, upgrade.c): the plugin's state by the migration
 * stream (mig_stream.h), and the client's side of things that a migration
 * leaves to the destination's client -- its socket with the bytes not yet
 * served, DMA windows, interrupt eventfds and masks, and the memory of
 * regions the client has mmapped.
 *
 * Both ends run on the device thread.  An isolated device's capture and
 * resume are its process's (isolate.h).  Capture leaves the device quiesced
 * (plugin stopped, DMA refused, interrupts held) until dev_capture_resume
 * or the process ends.
 */
#ifndef VFIOUSERD_DEV_HANDOFF_H
#define VFIOUSERD_DEV_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include <vfiouserd/plugin.h>

struct dh_window {
    uint64_t iova, size, offset;
    uint32_t prot; /* VFUD_DMA_* */
    int fd;        /* the memory, or -1: DMA by messages */
};

struct dh_irq {
    uint32_t type, vec;
    int fd;        /* the client's eventfd, or -1 */
    bool masked;
};

struct dh_conn {
    int fd, twin_fd;
    bool versioned, write_multiple;
    uint32_t client_max_fds;
    uint64_t client_max_xfer, client_pgsize;
    uint32_t next_id;
    int32_t pid, uid, gid;
    int64_t since;
    uint64_t msgs_in, bytes_in, msgs_out, bytes_out, errors;
    GByteArray *in, *twin_in;   /* unread bytes */
    uint64_t drain, twin_drain; /* of a refused message, still to skip */
    GArray *in_fds, *twin_fds;  /* struct conn_saved_fd */
};

struct dev_state {
    char *name;
    GByteArray *mig;           /* the migration stream, or NULL */
    struct dh_conn *conn;      /* NULL: no client */
    GArray *windows;           /* struct dh_window */
    GArray *irqs;              /* struct dh_irq */
    int intx_unmask_fd;
    int region_fd[VFUD_NR_REGIONS]; /* memory the client may have mapped */
    uint64_t clients_served, clients_refused;
};

struct dev_state *dev_state_new(const char *name);
struct dh_conn *dh_conn_new(void);
/* Closes every fd it holds. */
void dev_state_free(struct dev_state *st);

/* Device thread: quiesce and take the state (dups of every fd).  0, or
 * -errno with *why; the device then runs on. */
int dev_capture(vfud_dev *dev, struct dev_state *st, char **why);
/* Device thread: the hand-over failed; serve again. */
void dev_capture_resume(vfud_dev *dev);
/* After the capture: dev's part of hand-over h -- its listening socket
 * and *st (taken) or, for an isolated device, what its process stored
 * with us (isolate_handoff), unless with_stored is false: systemd's store
 * has that already (fdstore_stop). */
struct handoff;
void dev_handoff_add(struct handoff *h, vfud_dev *dev, struct dev_state **st,
                     bool with_stored);
/* Device thread of the new process, device started and idle: make st the
 * device's state and client (takes st's fds), and run.  0, or -errno with
 * *why. */
int dev_restore(vfud_dev *dev, struct dev_state *st, char **why);
/* New process, device thread, before the pause: stop the fresh instance
 * now, as dev_restore() would, so that the pause only loads the state (a
 * plugin's stop may wait for threads of its own, each a wait for a CPU
 * on a busy host).  A device that gets no state must be unprepared. */
int dev_restore_prepare(vfud_dev *dev);
void dev_restore_unprepare(vfud_dev *dev);

#endif
