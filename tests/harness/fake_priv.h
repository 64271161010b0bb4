/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the fake daemon (fake_vfud.h): the device record its files share,
 * and their helpers (prefix fk_).  One file per concern, as in daemon/:
 * fake_dev.c (life, logging, migration), fake_pci.c (identity, capabilities,
 * regions), fake_irq.c, fake_dma.c, fake_loop.c (jobs, deferred work,
 * vfud_wait, watches).
 */
#ifndef FAKE_PRIV_H
#define FAKE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "fake_vfud.h"
#include "pci_config.h"

#define FAKE_MAX_AREAS 16

struct fake_window {
    bool used;
    bool message_only;
    uint64_t iova;
    size_t size;
    uint8_t *mem;
    _Atomic int refs;
};

struct fake_region {
    uint64_t size;
    unsigned flags;
    uint8_t *mem;
    size_t mem_size; /* 0: the plugin's memory, not ours to unmap */
    struct vfud_mmap_area areas[FAKE_MAX_AREAS];
    unsigned nr_areas;
};

struct fake_job {
    vfud_work_fn fn;
    void *opaque;
    struct fake_job *next;
};

struct vfud_watch {
    vfud_dev *dev;
    int fd; /* -1 for a timer */
    unsigned events;
    vfud_fd_fn fd_fn;
    vfud_timer_fn timer_fn;
    unsigned interval_ms;
    uint64_t due_ms;
    void *opaque;
    bool dead; /* removed while the watches run: freed after */
    struct vfud_watch *next;
};

struct vfud_dev {
    char *name;
    void *priv;
    bool verbose;
    int log_level; /* plugin log lines above it are dropped */

    /* The plugin and where it is in its life. */
    void *dl;
    struct vfud_plugin plugin;
    bool loaded, created, configured, realizing, realized, attached;
    pthread_mutex_t error_lock;
    char last_error[1024];

    /* PCI identity, capabilities, regions (fake_pci.c). */
    bool pci_inited;
    enum vfud_pci_type type;
    struct vfud_pci_id id;
    unsigned caps[FAKE_MAX_CAPS];
    unsigned nr_caps;
    unsigned msi_vectors, msix_vectors;
    struct pci_config pci; /* the daemon's config space code */
    struct fake_region regions[VFUD_NR_REGIONS];
    _Atomic bool bus_master;

    /* Interrupts (fake_irq.c). */
    unsigned irq_setup[VFUD_NR_IRQ_TYPES];
    _Atomic int irq_mode; /* enum vfud_irq_type, or -1 until set */
    pthread_mutex_t irq_lock;
    pthread_cond_t irq_cond;
    _Atomic unsigned irq_count[FAKE_MAX_VECTORS];
    _Atomic bool intx_level;
    _Atomic unsigned intx_deasserts;
    _Atomic unsigned irq_signals[VFUD_NR_IRQ_TYPES];

    /* Guest memory (fake_dma.c). */
    pthread_rwlock_t win_lock;
    struct fake_window win[FAKE_MAX_WINDOWS];
    _Atomic unsigned long dma_messages;
    _Atomic unsigned long dma_deadlocks;

    /* Jobs and deferred work (fake_loop.c), under work_lock. */
    pthread_mutex_t work_lock;
    pthread_cond_t work_cond;
    pthread_t worker;
    bool worker_started, worker_stopping;
    struct fake_job *jobs, **jobs_tail;
    unsigned long jobs_submitted, jobs_done;
    struct fake_job *deferred, **deferred_tail;

    /* Watches: device thread only. */
    struct vfud_watch *watches;
    bool running_watches;
};

/* Record why the fake refused something, as vfud_error() would. */
void fk_set_error(vfud_dev *dev, const char *fmt, ...) VFUD_PRINTF(2, 3);

/* The test's thread plays the device thread between fk_enter() and
 * fk_leave(prev), around every device-thread callback. */
vfud_dev *fk_enter(vfud_dev *dev);
void fk_leave(vfud_dev *prev);
bool fk_on_device_thread(const vfud_dev *dev);

/* fake_pci.c: vfud_* declarations only from realize(); 0 or -errno. */
int fk_declaring(vfud_dev *dev, const char *what);
/* After realize: what the daemon checks when it finalizes the device. */
int fk_pci_finalize(vfud_dev *dev);
void fk_regions_free(vfud_dev *dev);

/* fake_irq.c */
void fk_irq_init(vfud_dev *dev);
void fk_irq_reset(vfud_dev *dev);
void fk_irq_free(vfud_dev *dev);

/* fake_dma.c */
void fk_dma_init(vfud_dev *dev);
/* Unmap every window, calling dma_unmap for each. */
void fk_dma_unmap_all(vfud_dev *dev);
void fk_dma_free(vfud_dev *dev);

/* fake_loop.c */
void fk_loop_init(vfud_dev *dev);
/* Run the work vfud_defer() queued, on the device thread. */
void fk_run_deferred(vfud_dev *dev);
/* Wait until every job submitted so far has finished. */
void fk_drain(vfud_dev *dev);
/* Run deferred work, drain, stop the worker (before destroy). */
void fk_loop_stop(vfud_dev *dev);
/* Free the watches and what is left queued (after destroy). */
void fk_loop_free(vfud_dev *dev);
uint64_t fk_now_ms(void);

#endif
