/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal state of the NVMe controller plugin.  See nvme.c for the design.
 *
 * Ownership: everything below "owned by the I/O thread" is touched only by
 * the controller's I/O thread (or by the device thread while the I/O thread
 * is not running / is parked in nvme_ctl_call()).  The device thread only
 * writes doorbell slots and register fields marked atomic.  The structures
 * keep plain values (no host pointers that matter beyond caches), which is
 * what lets migration (nvme_mig.h) serialise them.
 */
#ifndef VFUD_NVME_INT_H
#define VFUD_NVME_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include <liburing.h>
#include <vfiouserd/plugin.h>

#include "nvme_spec.h"
#include "remote.h"

#define NVME_PAGE_SIZE     4096u
#define NVME_PAGE_SHIFT    12
#define NVME_MDTS          5      /* 2^5 pages = 128 KiB per command */
#define NVME_MAX_XFER      (NVME_PAGE_SIZE << NVME_MDTS)
#define NVME_MAX_SEGS      128    /* guest segments per command */
#define NVME_MAX_INFLIGHT  128    /* commands in flight per SQ */
#define NVME_ADMIN_REQS    8      /* admin: AERs + the one being served */
#define NVME_AERL          3      /* 0's based: 4 outstanding AERs */
#define NVME_MAX_NS        256
#define NVME_MAX_QUEUES    128    /* I/O queue pairs */
#define NVME_BAR0_SIZE     0x4000u
#define NVME_MSIX_TABLE    0x2000u
#define NVME_MSIX_PBA      0x3000u
#define NVME_DB_SLOTS      (NVME_PAGE_SIZE / 4) /* DSTRD = 0 */
#define NVME_MAX_EVENTS    16     /* queued async events */
#define NVME_SQE_BATCH     16     /* SQEs fetched with one copy */
#define NVME_MEM_FAULT_MS  5000   /* unreachable queue memory: fatal after */
#define NVME_KAS           1      /* Keep Alive granularity, 100 ms units */
#define NVME_TEMP_OVER_DEFAULT 343 /* over-temperature threshold: 70 C */

struct nvme_ctrl;
struct nvme_req;
struct nvme_mig;
struct nvme_mig_load;

/* ---- Namespaces (ns.c) ---- */
enum nvme_backend_kind { NVME_BACKEND_URING = 0, NVME_BACKEND_NULL,
                         NVME_BACKEND_NBD, NVME_BACKEND_RBD };
enum nvme_cache_mode { NVME_CACHE_WRITEBACK = 0, NVME_CACHE_NONE };

struct nvme_ns {
    uint32_t nsid;
    bool configured;
    /* from the configuration */
    char *path;
    uint64_t cfg_size;        /* 0: from the file/device */
    unsigned cfg_block_size;  /* 512 or 4096 */
    bool read_only;
    bool write_cache;         /* volatile write cache on this namespace */
    enum nvme_cache_mode cache;
    enum nvme_backend_kind backend;
    uint8_t uuid[16], nguid[16], eui64[8];
    bool have_uuid, have_nguid, have_eui64;
    char *uri;                /* NBD back-end: the export; RBD: the image */
    unsigned nbd_conns;       /* 0: the default */
    unsigned nbd_timeout_s;   /* server (NBD) or cluster (RBD) away longer:
                               * I/O fails */
    char *rbd_conf;           /* RBD: ceph.conf (NULL: librados' default) */
    char *rbd_id;             /* RBD: client name without "client." */
    char *rbd_keyring;        /* RBD: keyring file (NULL: ceph.conf's) */
    char *tls_psk_file;       /* NBD over TLS: PSK file (nbds URIs) */
    char *tls_certs;          /* NBD over TLS: X.509 directory */
    /* runtime */
    int fd;
    bool is_blockdev;
    unsigned dio_align;       /* memory/offset alignment O_DIRECT needs */
    uint64_t size_bytes;
    unsigned lba_shift;       /* 9 or 12: current format */
    uint64_t nsze;            /* size in logical blocks */
    _Atomic bool attr_changed; /* for the Changed Namespace List */
    bool backend_no_fallocate; /* zero by writing instead */
    /* The file is created, or grown to cfg_size, in start(), not in
     * realize(), which --check-config also runs. */
    bool create_at_start;
    bool grow_at_start;
    struct nvme_nbd *nbd;     /* NBD back-end state (backend_nbd.c) */
    struct nvme_rbd *rbd;     /* RBD back-end state (backend_rbd.c) */
};

/* ---- Guest memory of a queue or shadow buffer (queue.c) ---- */
struct nvme_gmem {
    uint64_t iova;
    uint64_t len;
    vfud_sg *sg;       /* one entry, allocated while mapped */
    void *base;        /* host address of iova, while mapped */
    bool mapped;       /* sg holds a reference, base is valid */
    bool remote;       /* not mappable: use vfud_dma_read/write */
};

struct nvme_cq {
    uint16_t qid;
    uint16_t vector;
    bool ien;
    bool valid;
    uint32_t size;
    uint32_t tail;
    uint32_t head;       /* last head the host reported */
    bool phase;
    unsigned nr_sqs;     /* SQs bound to this CQ */
    bool irq_pending;    /* entries posted since the last interrupt */
    struct nvme_gmem mem;
    struct nvme_req *wait_head, *wait_tail; /* completions waiting for room */
};

struct nvme_sq {
    uint16_t qid;
    uint16_t cqid;
    bool valid;
    uint32_t size;
    uint32_t head;       /* next entry to fetch */
    uint32_t tail;       /* last tail seen */
    uint32_t bad_tail;   /* last out-of-range tail seen (0: none; 0 is valid) */
    uint32_t eventidx;   /* last EventIdx published (shadow doorbells) */
    struct nvme_gmem mem;
    struct nvme_req *reqs;      /* pool */
    vfud_sg *sg_pool;           /* NVME_MAX_SEGS entries per request */
    struct nvme_req *free_list;
    unsigned nr_reqs;
    unsigned inflight;
};

/* Where a command's data lives in guest memory. */
struct nvme_seg {
    uint64_t iova;
    uint64_t len;
};

enum nvme_req_kind { NVME_REQ_IO = 0, NVME_REQ_ADMIN };

struct nvme_req {
    struct nvme_sq *sq;
    struct nvme_sqe cmd;
    struct nvme_ns *ns;
    uint16_t status;
    uint32_t dw0;
    /* data */
    uint64_t offset;   /* byte offset in the namespace */
    uint64_t len;      /* bytes to transfer */
    unsigned nseg;
    struct nvme_seg seg[NVME_MAX_SEGS];
    unsigned nsg;      /* entries of sg held (iov[0..nsg) describes them) */
    vfud_sg *sg;       /* NVME_MAX_SEGS entries of the SQ's sg_pool */
    struct iovec iov[NVME_MAX_SEGS];
    unsigned niov;
    void *bounce;      /* NVME_MAX_XFER bytes, allocated on first need */
    bool bounced;      /* data goes through bounce */
    bool is_write;
    bool fua;
    /* back-end completion */
    unsigned pending;  /* back-end operations outstanding */
    int res;           /* first error (negative errno), or 0 */
    uint64_t t_fetch;  /* I/O queues: nvme_pass_ns() when fetched */
    struct nvme_req *next; /* free list / CQ wait list */
};

/* Operators' counters (vfiouserctl stats): written by the I/O thread only,
 * with relaxed atomic stores (plain moves), read by nvme_io_stats() on the
 * daemon's main thread. */
struct nvme_io_counters {
    uint64_t reads, writes, others;
    uint64_t bytes_read, bytes_written;
    uint64_t errors;
    uint32_t depth;   /* I/O thread's last pass: commands in flight */
    uint64_t lat[VFUD_LAT_BUCKETS];
};
#define NVME_CTR_ADD(field, v) \
    __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)

/* ---- Controller ---- */
enum nvme_doorbell_mode { NVME_DB_SHADOW = 0, NVME_DB_POLL };

enum nvme_ctl_op {
    NVME_CTL_NONE = 0,
    NVME_CTL_ENABLE,
    NVME_CTL_DISABLE,   /* controller reset: tear everything down */
    NVME_CTL_SHUTDOWN,  /* asynchronous: SHST set to complete later */
    NVME_CTL_UNMAP,     /* drop cached guest pointers in a range */
    NVME_CTL_STOP,      /* the I/O thread exits */
    NVME_CTL_QUIESCE,   /* migration: stop fetching, drain, post, flush */
    NVME_CTL_RESUME,    /* migration: run again */
    NVME_CTL_SAVE,      /* migration: capture the state (ctl_a: where) */
    NVME_CTL_LOAD,      /* migration: install a checked state (ctl_a) */
};

struct nvme_smart {
    uint64_t data_units_read, data_units_written; /* 512-byte units */
    uint64_t host_reads, host_writes;
    uint64_t media_errors, err_log_entries;
    uint64_t power_cycles, unsafe_shutdowns;
};

struct nvme_err_entry {
    uint64_t count;
    uint16_t sqid, cid, status, param_loc;
    uint64_t lba;
    uint32_t nsid;
};

struct nvme_ctrl {
    vfud_dev *dev;

    /* ---- configuration (set before realize, read-only afterwards) ---- */
    char serial[21], model[41], firmware[9];
    uint16_t vendor_id, device_id, ssvid, ssid;
    unsigned nr_io_queues;      /* I/O queue pairs offered */
    unsigned max_q_entries;     /* MQES + 1 */
    enum nvme_doorbell_mode db_mode;
    unsigned poll_max_sleep_us; /* poll mode: longest idle back-off */
    /* doorbells=adaptive (shadow doorbells underneath): poll this long
     * after the last progress before publishing EventIdx and sleeping;
     * 0: sleep at once (plain shadow) */
    unsigned poll_idle_us;
    bool adaptive;              /* doorbells=adaptive was configured */
    /* Every namespace across the network (RBD, NBD), shadow doorbells:
     * with many commands out, the I/O thread waits for the next completion
     * with EventIdx withheld instead of asking for doorbells (ctrl.c) */
    bool remote_hold;
    /* doorbells=shadow: while the driver has commands outstanding, look at
     * the shadow doorbells every hold_us with EventIdx withheld instead of
     * asking for a doorbell (ctrl.c); 0: ask at once */
    unsigned hold_us;
    unsigned cfg_poll_idle_us;  /* poll-idle-us, 0: not given */
    unsigned cfg_hold_us;       /* hold-us, if hold_given */
    bool hold_given;
    struct nvme_ns *ns[NVME_MAX_NS + 1]; /* by nsid; NULL if absent */
    uint32_t nn;                /* highest configured nsid */
    bool vwc;                   /* some namespace has a volatile cache */
    unsigned nr_vectors;        /* MSI-X vectors */

    /* ---- the client (device thread) ---- */
    char client[96];            /* "pid N (comm)", from attach */
    bool client_touched;        /* it read/wrote a register, config space
                                 * or reset the device since attach */

    /* ---- registers (device thread; csts atomic, read by both) ---- */
    uint64_t cap;
    uint32_t cc, intms, aqa;
    uint64_t asq, acq;
    _Atomic uint32_t csts;

    /* Doorbell slots, one uint32 per doorbell: device-thread-written in
     * shadow mode (trapped), guest-written in poll mode (mmapped page). */
    _Atomic uint32_t *db;
    _Atomic uint32_t *db_alloc; /* what to free (shadow mode) */
    _Atomic bool intx_asserted;

    /* ---- I/O thread ---- */
    pthread_t thread;
    bool thread_running;
    struct io_uring ring;
    bool ring_ok;
    int kick_fd;
    _Atomic bool sleeping;
    /* Completions made on other threads (librbd's callbacks), collected
     * by the I/O thread in its pass; a push writes kick_fd only while the
     * thread waits in io_wait() (nvme_ctrl_remote_done). */
    struct nvme_remote remote;
    _Atomic bool cq_waiting;    /* some completion waits for CQ room */
    _Atomic int nr_mapped;      /* queue/shadow mappings held (gmem) */
    unsigned sqes_queued;       /* io_uring SQEs not yet submitted */
    unsigned inline_writes;     /* page-cache writes copied this pass */
    unsigned backend_inflight;  /* io_uring operations outstanding */

    pthread_mutex_t ctl_lock;
    pthread_cond_t ctl_cond;
    _Atomic int ctl_op;         /* enum nvme_ctl_op pending */
    uint64_t ctl_a, ctl_b;
    int ctl_result;
    bool ctl_done;
    /* Parked (ctrl.c): from a quiesce to its resume the I/O thread waits
     * on ctl_cond, and the device thread runs every ctl operation itself
     * instead of handing it over and waiting for a thread that, on a busy
     * host, waits for a CPU each time (an upgrade's pause is two or three
     * of them).  park is the I/O thread's order, under ctl_lock; parked
     * the device thread's own view of it. */
    bool park;
    bool parked;

    /* ---- controller state, owned by the I/O thread ---- */
    bool enabled;
    /* Quiesced for migration: no command is fetched, no completion posted,
     * no interrupt raised and no guest memory touched until resumed.  Not
     * controller state: a controller reset leaves it as it is. */
    bool stopped;
    bool fatal;
    bool mem_fault;             /* queue memory unreachable this round */
    uint64_t mem_fault_since;   /* ms, 0: no fault */
    bool shutting_down;
    bool shutdown_done;
    _Atomic uint32_t cc_at_enable; /* CC while enabled (queue entry sizes) */
    uint64_t start_time;        /* for the power-on hours counter */
    struct nvme_sq *sqs[NVME_MAX_QUEUES + 1];
    struct nvme_cq *cqs[NVME_MAX_QUEUES + 1];
    struct nvme_sq admin_sq;
    struct nvme_cq admin_cq;
    unsigned total_inflight;
    /* shadow doorbells */
    bool dbbuf;
    /* Adaptive polling: the I/O thread polls the shadow doorbells and does
     * not publish EventIdx, so the driver rings no real doorbell (a
     * message) while I/O flows; see io_thread(). */
    bool eventidx_withheld;
    struct nvme_gmem dbbuf_dbs, dbbuf_eis;
    /* async events */
    struct nvme_req *aer[NVME_AERL + 1];
    unsigned nr_aer;
    uint32_t events[NVME_MAX_EVENTS];
    unsigned nr_events;
    uint8_t masked_event_types; /* event types awaiting a log read (RAE) */
    /* Namespace Attribute Changed: a back-end's thread sets the flag
     * (nvme_ns_attr_changed); the I/O thread fills the list (log 04h) */
    _Atomic bool ns_attr_changed;
    uint32_t changed_ns[NVME_CHANGED_NS_MAX];
    unsigned nr_changed_ns;
    /* features */
    uint32_t feat_arbitration, feat_err_recovery, feat_irq_coalesce;
    uint32_t feat_async_event, feat_write_atomic;
    uint16_t temp_over, temp_under;
    bool wce;                   /* volatile write cache enabled */
    uint32_t irq_config_cd[(NVME_MAX_QUEUES + 1 + 31) / 32];
    uint32_t kato;              /* Keep Alive Timeout in ms, 0: off */
    uint64_t ka_deadline_ns;    /* CLOCK_MONOTONIC; 0: timer not running */
    uint8_t hbs_acre;           /* Host Behavior Support: ACRE */
    /* logs */
    struct nvme_smart smart;
    struct nvme_err_entry errlog[4];
    uint64_t err_count;
    /* scratch for admin data (4 KiB) */
    uint8_t *admin_buf;
    /* DMA windows the client unmapped while we held nothing: statistics */
    uint64_t unmaps;
    struct nvme_io_counters io_ctr;
    /* The clock of this pass of the I/O thread's loop, read at most once
     * per pass and only when a command needs it (0: not read yet): what
     * latency counting costs is one clock read per busy pass, not two per
     * command. */
    uint64_t pass_ns;
};

static inline uint64_t nvme_pass_ns(struct nvme_ctrl *c)
{
    if (c->pass_ns == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        c->pass_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    return c->pass_ns;
}

/* ---- nvme.c ---- */
void nvme_ctrl_kick(struct nvme_ctrl *c);

/* ---- ctrl.c ---- */
int nvme_ctrl_start_thread(struct nvme_ctrl *c);
void nvme_ctrl_stop_thread(struct nvme_ctrl *c);
int nvme_ctl_call(struct nvme_ctrl *c, enum nvme_ctl_op op, uint64_t a,
                  uint64_t b);
void nvme_reg_read(struct nvme_ctrl *c, uint64_t off, void *buf, size_t len);
void nvme_reg_write(struct nvme_ctrl *c, uint64_t off, const void *buf,
                    size_t len);
void nvme_ctrl_init_regs(struct nvme_ctrl *c);
void nvme_ctrl_reset_state(struct nvme_ctrl *c, bool power_on);
void nvme_ctrl_free_queues(struct nvme_ctrl *c);
void nvme_ctrl_drain(struct nvme_ctrl *c, struct nvme_sq *sq);
void nvme_ctrl_fatal(struct nvme_ctrl *c, const char *why);
/* I/O thread: the Keep Alive Timer expired?  Then the controller is
 * fatal (CSTS.CFS) and an Error Information entry says why. */
void nvme_keep_alive_check(struct nvme_ctrl *c);
/* (Re)start the Keep Alive Timer with the current KATO (stop it if 0). */
void nvme_keep_alive_restart(struct nvme_ctrl *c);
/* Add an Error Information log entry (status without the phase bit). */
void nvme_errlog_add(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid,
                     uint16_t status, uint32_t nsid, uint64_t lba);
void nvme_ctrl_mem_fault(struct nvme_ctrl *c, const char *why);
void nvme_flush_all_sync(struct nvme_ctrl *c);

/* ---- queue.c ---- */
void nvme_gmem_init(struct nvme_gmem *g, uint64_t iova, uint64_t len);
void nvme_gmem_release(struct nvme_ctrl *c, struct nvme_gmem *g);
int nvme_gmem_map(struct nvme_ctrl *c, struct nvme_gmem *g);
int nvme_gmem_read(struct nvme_ctrl *c, struct nvme_gmem *g, uint64_t off,
                   void *buf, size_t len);
int nvme_gmem_write(struct nvme_ctrl *c, struct nvme_gmem *g, uint64_t off,
                    const void *buf, size_t len);
void nvme_gmem_unmap_range(struct nvme_ctrl *c, struct nvme_gmem *g,
                           uint64_t iova, uint64_t len);
int nvme_sq_init(struct nvme_ctrl *c, struct nvme_sq *sq, uint16_t qid,
                 uint16_t cqid, uint64_t iova, uint32_t size, unsigned nreqs);
void nvme_sq_fini(struct nvme_ctrl *c, struct nvme_sq *sq);
void nvme_cq_init(struct nvme_cq *cq, uint16_t qid, uint64_t iova,
                  uint32_t size, uint16_t vector, bool ien);
void nvme_cq_fini(struct nvme_ctrl *c, struct nvme_cq *cq);
struct nvme_sq *nvme_get_sq(struct nvme_ctrl *c, uint16_t qid);
struct nvme_cq *nvme_get_cq(struct nvme_ctrl *c, uint16_t qid);
bool nvme_process_sq(struct nvme_ctrl *c, struct nvme_sq *sq);
void nvme_req_complete(struct nvme_ctrl *c, struct nvme_req *req);
bool nvme_cq_flush_waiters(struct nvme_ctrl *c, struct nvme_cq *cq);
void nvme_raise_irqs(struct nvme_ctrl *c);
bool nvme_doorbells_pending(struct nvme_ctrl *c);
unsigned nvme_cq_unconsumed(struct nvme_ctrl *c);
void nvme_dbbuf_setup_queue(struct nvme_ctrl *c, uint16_t qid);
void nvme_req_release_data(struct nvme_ctrl *c, struct nvme_req *req);
/* Any thread: ns changed (its size); the I/O thread tells the host. */
void nvme_ns_attr_changed(struct nvme_ctrl *c, struct nvme_ns *ns);
/* I/O thread: changed namespaces into log page 04h, and the event. */
void nvme_ns_attr_collect(struct nvme_ctrl *c);
void nvme_post_event(struct nvme_ctrl *c, uint8_t type, uint8_t info,
                     uint8_t log);
void nvme_deliver_events(struct nvme_ctrl *c);

/* ---- dptr.c ---- */
uint16_t nvme_dptr_parse(struct nvme_ctrl *c, struct nvme_req *req,
                         uint64_t len, bool allow_sgl);
uint16_t nvme_dptr_map(struct nvme_ctrl *c, struct nvme_req *req,
                       unsigned prot, unsigned align);
uint16_t nvme_dptr_to_guest(struct nvme_ctrl *c, struct nvme_req *req,
                            const void *buf, uint64_t len);
uint16_t nvme_dptr_from_guest(struct nvme_ctrl *c, struct nvme_req *req,
                              void *buf, uint64_t len);
int nvme_req_bounce(struct nvme_req *req);
uint16_t nvme_errno_to_dma_status(int err);

void nvme_io_stats(vfud_dev *dev, struct vfud_io_stats *st);

/* ---- admin.c ---- */
void nvme_admin_exec(struct nvme_ctrl *c, struct nvme_req *req);

/* ---- io.c ---- */
void nvme_io_exec(struct nvme_ctrl *c, struct nvme_req *req);
void nvme_io_backend_done(struct nvme_ctrl *c, struct nvme_req *req, int res);

/* ---- ns.c ---- */
struct nvme_ns *nvme_ns_get_or_create(struct nvme_ctrl *c, uint32_t nsid);
int nvme_ns_config(struct nvme_ctrl *c, struct nvme_ns *ns, const char *key,
                   const char *value);
int nvme_ns_open(struct nvme_ctrl *c, struct nvme_ns *ns);
/* start(): create or grow the backing file as configured. */
int nvme_ns_prepare(struct nvme_ctrl *c, struct nvme_ns *ns);
/* running(): connect to the storage a library's threads serve (RBD). */
int nvme_ns_connect(struct nvme_ctrl *c, struct nvme_ns *ns);
void nvme_ns_close(struct nvme_ns *ns);
void nvme_ns_free(struct nvme_ns *ns);
void nvme_ns_default_ids(struct nvme_ctrl *c, struct nvme_ns *ns);
int nvme_ns_set_format(struct nvme_ns *ns, unsigned lba_shift);
bool nvme_ns_format_ok(const struct nvme_ns *ns, unsigned lba_shift);

/* ---- backend_uring.c / backend_null.c ---- */
#define NVME_FALLOC_ZERO  0
#define NVME_FALLOC_PUNCH 1
int nvme_uring_rw(struct nvme_ctrl *c, struct nvme_req *req);
int nvme_uring_flush(struct nvme_ctrl *c, struct nvme_req *req,
                     struct nvme_ns *ns);
int nvme_uring_fallocate(struct nvme_ctrl *c, struct nvme_req *req,
                         int mode, uint64_t off, uint64_t len);
struct io_uring_sqe *nvme_uring_get_sqe(struct nvme_ctrl *c);
int nvme_uring_process(struct nvme_ctrl *c);
void nvme_null_rw(struct nvme_ctrl *c, struct nvme_req *req);

/* ---- backend_nbd.c (with libnbd) ----
 * Ring entries the NBD back-end submits (polls on its sockets, timers)
 * carry this tag in the low bits of their user_data; nvme_uring_process()
 * hands them to nvme_nbd_event(). */
#define NVME_UD_NBD 2u
#ifdef HAVE_LIBNBD
int nvme_nbd_open(struct nvme_ctrl *c, struct nvme_ns *ns);
int nvme_nbd_prepare(struct nvme_ctrl *c, struct nvme_ns *ns);
void nvme_nbd_close(struct nvme_ns *ns);
int nvme_nbd_rw(struct nvme_ctrl *c, struct nvme_req *req);
int nvme_nbd_flush(struct nvme_ctrl *c, struct nvme_req *req,
                   struct nvme_ns *ns);
int nvme_nbd_zero(struct nvme_ctrl *c, struct nvme_req *req, uint64_t off,
                  uint64_t len, bool may_trim);
void nvme_nbd_event(struct nvme_ctrl *c, void *tag, int res);
int nvme_nbd_flush_sync(struct nvme_ctrl *c, struct nvme_ns *ns);
int nvme_nbd_erase_sync(struct nvme_ctrl *c, struct nvme_ns *ns);
#else
/* Without libnbd no namespace has the NBD back-end (ns.c refuses uri=),
 * so none of these is reached. */
static inline int nvme_nbd_open(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return -ENOTSUP; }
static inline int nvme_nbd_prepare(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return -ENOTSUP; }
static inline void nvme_nbd_close(struct nvme_ns *ns) { (void)ns; }
static inline int nvme_nbd_rw(struct nvme_ctrl *c, struct nvme_req *req)
{ (void)c; (void)req; return -ENOTSUP; }
static inline int nvme_nbd_flush(struct nvme_ctrl *c, struct nvme_req *req,
                                 struct nvme_ns *ns)
{ (void)c; (void)req; (void)ns; return -ENOTSUP; }
static inline int nvme_nbd_zero(struct nvme_ctrl *c, struct nvme_req *req,
                                uint64_t off, uint64_t len, bool may_trim)
{ (void)c; (void)req; (void)off; (void)len; (void)may_trim; return -ENOTSUP; }
static inline void nvme_nbd_event(struct nvme_ctrl *c, void *tag, int res)
{ (void)c; (void)tag; (void)res; }
static inline int nvme_nbd_flush_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return 0; }
static inline int nvme_nbd_erase_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return -ENOTSUP; }
#endif

/* ---- ctrl.c: completions handed over by other threads ----
 * A back-end whose library completes on its own threads embeds a struct
 * nvme_remote_done in its operation, hands it over from there (any
 * thread) and collects the list on the I/O thread with
 * nvme_remote_take(&c->remote). */
void nvme_ctrl_remote_done(struct nvme_ctrl *c, struct nvme_remote_done *d);

/* ---- backend_rbd.c (with librbd) ---- */
#ifdef HAVE_LIBRBD
int nvme_rbd_open(struct nvme_ctrl *c, struct nvme_ns *ns);
int nvme_rbd_connect(struct nvme_ctrl *c, struct nvme_ns *ns);
void nvme_rbd_close(struct nvme_ns *ns);
int nvme_rbd_rw(struct nvme_ctrl *c, struct nvme_req *req);
int nvme_rbd_flush(struct nvme_ctrl *c, struct nvme_req *req,
                   struct nvme_ns *ns);
int nvme_rbd_zero(struct nvme_ctrl *c, struct nvme_req *req, uint64_t off,
                  uint64_t len, bool deallocate);
int nvme_rbd_collect(struct nvme_ctrl *c);
int nvme_rbd_flush_sync(struct nvme_ctrl *c, struct nvme_ns *ns);
int nvme_rbd_erase_sync(struct nvme_ctrl *c, struct nvme_ns *ns);
#else
/* Without librbd no namespace has the RBD back-end (ns.c refuses rbd:
 * URIs), so none of these is reached. */
static inline int nvme_rbd_open(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return -ENOTSUP; }
static inline int nvme_rbd_connect(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return -ENOTSUP; }
static inline void nvme_rbd_close(struct nvme_ns *ns) { (void)ns; }
static inline int nvme_rbd_rw(struct nvme_ctrl *c, struct nvme_req *req)
{ (void)c; (void)req; return -ENOTSUP; }
static inline int nvme_rbd_flush(struct nvme_ctrl *c, struct nvme_req *req,
                                 struct nvme_ns *ns)
{ (void)c; (void)req; (void)ns; return -ENOTSUP; }
static inline int nvme_rbd_zero(struct nvme_ctrl *c, struct nvme_req *req,
                                uint64_t off, uint64_t len, bool deallocate)
{ (void)c; (void)req; (void)off; (void)len; (void)deallocate; return -ENOTSUP; }
static inline int nvme_rbd_collect(struct nvme_ctrl *c)
{ (void)c; return 0; }
static inline int nvme_rbd_flush_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return 0; }
static inline int nvme_rbd_erase_sync(struct nvme_ctrl *c, struct nvme_ns *ns)
{ (void)c; (void)ns; return -ENOTSUP; }
#endif

/* ---- little-endian helpers for building data structures ---- */
static inline void nvme_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void nvme_put32(uint8_t *p, uint32_t v)
{
    nvme_put16(p, (uint16_t)v);
    nvme_put16(p + 2, (uint16_t)(v >> 16));
}
static inline void nvme_put64(uint8_t *p, uint64_t v)
{
    nvme_put32(p, (uint32_t)v);
    nvme_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
