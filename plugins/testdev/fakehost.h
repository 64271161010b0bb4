/*
 * fakehost: just enough of the daemon's plugin API to unit-test a plugin
 * module without a daemon or a client.  A test dlopen()s the built .so; the
 * plugin's vfud_* calls land here and are recorded in struct vfud_dev, whose
 * fields the test reads and sets directly.  Guest memory is one buffer at
 * FAKE_GUEST_BASE; jobs run on one worker thread like the daemon's; watches
 * run only when the test calls fake_poll().
 */
#ifndef VFIOUSERD_FAKEHOST_H
#define VFIOUSERD_FAKEHOST_H

#include <pthread.h>

#include <vfiouserd/plugin.h>

#define FAKE_GUEST_BASE 0x100000ull
#define FAKE_GUEST_SIZE (2u << 20)
#define FAKE_MAX_WATCHES 8
#define FAKE_MAX_JOBS 16
#define FAKE_MAX_CAPS 16

struct vfud_watch {
    vfud_dev *dev;
    int fd;            /* -1 for a timer */
    unsigned interval_ms;
    vfud_fd_fn fd_fn;
    vfud_timer_fn timer_fn;
    void *opaque;
    bool used;
};

struct vfud_dev {
    const struct vfud_plugin *plugin;
    char name[32];
    void *priv;
    char error[256];       /* last vfud_error() */
    unsigned nr_logs;

    /* Declarations from realize. */
    bool pci_done;
    enum vfud_pci_type pci_type;
    struct vfud_pci_id id;
    int caps[FAKE_MAX_CAPS]; /* capability ids in order; ext caps as 0x1000 | id */
    unsigned nr_caps;
    unsigned msix_vectors;
    uint64_t region_size[VFUD_NR_REGIONS];
    unsigned region_flags[VFUD_NR_REGIONS];
    uint8_t *region_mem[VFUD_NR_REGIONS];
    struct vfud_mmap_area areas[VFUD_NR_REGIONS][4];
    unsigned nr_areas[VFUD_NR_REGIONS];
    unsigned irq_count[VFUD_NR_IRQ_TYPES];

    /* Interrupts. */
    int irq_result;        /* what vfud_irq_trigger() returns when valid */
    unsigned triggers[8];  /* per vector */
    bool intx;             /* INTx level */
    unsigned signals[VFUD_NR_IRQ_TYPES];

    /* Guest memory. */
    uint8_t guest[FAKE_GUEST_SIZE];

    /* The worker. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t worker;
    bool worker_started, stopping;
    struct { vfud_work_fn fn; void *opaque; } jobs[FAKE_MAX_JOBS];
    unsigned job_head, job_tail; /* queued: head..tail-1 */
    bool job_running;

    struct vfud_watch watches[FAKE_MAX_WATCHES];
};

/* What save_state() writes into (vfud_mig_write appends). */
struct vfud_mig_stream {
    uint8_t *data;
    size_t len, cap;
};

/* Load a module by path; NULL with the dlerror() text on stderr. */
const struct vfud_plugin *fake_load(const char *path, void **handle);
/* A device for plugin p, through create() (if any). */
vfud_dev *fake_dev_new(const struct vfud_plugin *p, const char *name);
/* destroy() (if any), stop the worker, free. */
void fake_dev_free(vfud_dev *dev);
/* config() for each "key", "value" pair up to NULL, then config_complete. */
int fake_configure(vfud_dev *dev, ...);
/* Run every watch once: fd watches whose fd is readable, and timers. */
void fake_poll(vfud_dev *dev);
unsigned fake_nr_watches(vfud_dev *dev);
/* The plugin's save_state() into *data (malloc()ed, *len bytes): 0 or
 * its error. */
int fake_save(vfud_dev *dev, uint8_t **data, size_t *len);

#endif
