/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_nvme_host: what the NVMe plugin costs the daemon per I/O, measured
 * from the host with no guest, by a client that drives the controller the
 * way a userspace driver does (SPDK's NVMe driver over vfio-user, or QEMU
 * for a guest).  Run by "make bench-nvme"; prints figures, never fails on
 * them (only on errors).
 *
 * What it does.  For each doorbell mode it starts the built daemon (the
 * VFIOUSERD variable names another binary; --baseline adds a second one,
 * measured in the same run, case by case, repetitions interleaved) with
 * one nvme device on the null back-end (reads return zeroes without a
 * system call: what is left is the controller and the transport) or, with
 * --nbd URI, on an NBD export ("make bench-nvme-nbd": nbdkit's memory
 * plugin), or with --rbd rbd:POOL/IMAGE (and --rbd-conf), on a Ceph RBD
 * image ("make bench-nvme-rbd": a one-node test cluster), or with --file
 * PATH on a raw file through the host page cache (the write path QEMU's
 * cache=writeback takes; the file must hold --nbd-size MiB), and
 * makes the client library the guest with the NVMe test driver of
 * tests/plugins/nvme (nvme_tdrv_vfu.h): queues in one memfd window, MSI-X eventfds
 * connected, bus mastering on, the controller enabled, I/O queue pairs of
 * 256 entries.  Like a real driver:
 *
 *   - data buffers live in --windows DMA windows of 2 MiB, each its own
 *     memfd mapped with its own DMA_MAP (SPDK's hugepages, a VM's memory
 *     slots), one buffer per command slot, spread over the windows;
 *   - commands over 8 KiB use a PRP list, written for every command;
 *   - completion queues are polled, created without interrupts (--irq
 *     creates them with interrupts: the daemon then signals an eventfd per
 *     completion pass, which nobody reads);
 *   - doorbells:
 *       poll    the doorbell page of BAR0 is mmapped from the daemon and
 *               written with plain stores; the plugin's I/O thread polls it
 *       shadow  Doorbell Buffer Config is set up; the driver writes shadow
 *               doorbells in guest memory and rings the real one (a posted
 *               REGION_WRITE message) only when EventIdx asks for it
 *       adaptive  the same driver; the plugin polls the shadow doorbells
 *               while I/O flows and publishes EventIdx (asks for rings)
 *               only after poll-idle-us without work, then sleeps
 *
 * Workloads (--workloads, comma-separated; default all):
 *   randread-qd1 randread-qd32 randwrite-qd1 randwrite-qd32   4 KiB, PRP1
 *   seqread128k-qd8   128 KiB sequential reads, PRP1 + a PRP list
 * each on --queues queue pairs (default 1), QD commands in flight per queue.
 * The hot loop polls every CQ in guest memory, submits the next command for
 * each completion, and reports the CQ head and rings the SQ tail once per
 * pass over a queue (as SPDK's qpair processing does).
 *
 * Placement: the client on the first CPU we may use, every daemon thread
 * on the second (a server core of its own); with one CPU both share it.
 *
 * How to read the output, per case, medians over the repetitions:
 *   IOPS        completions per second of wall time
 *   p50/p99 us  submission (the pass that queued it) to completion seen
 *   cpu us/IO   daemon CPU time (all threads, from schedstat, with its
 *               children: an isolated device's process) per I/O
 *   cores       daemon CPU time / wall time: cores the daemon kept busy
 *   IOPS/core   IOPS / cores: what one daemon core sustains
 *   cs/IO       daemon context switches (schedstat run count) per I/O: a
 *               poll-mode daemon that makes no blocking system call on the
 *               I/O path shows ~0
 *   rings/IO    real doorbell writes per I/O: posted REGION_WRITE messages
 *               in shadow mode (the rest went to the shadow buffer), stores
 *               to the mmapped page in poll mode
 *   cli us/IO   the client's own CPU per I/O
 * With --baseline (and/or --baseline-plugins: another build's plugins),
 * each row of the baseline daemon follows the row of the daemon under
 * test, and "ratio" is IOPS (and IOPS/core) over it.
 *
 * The poll and adaptive rows are compared with the figures of SPDK's own
 * vfio-user NVMe target (null bdev, one core) measured with spdk_nvme_perf
 * on a machine of this kind (issue 11); SPDK cannot be built here, so they
 * are constants, and the comparison is only as good as the two machines
 * are alike.  A shared or loaded machine shows in "cores" below 1.0 at high
 * QD; compare rows of one run, not across runs.
 *
 * --idle S measures, after the loaded cases of each mode, the daemon's CPU
 * over S seconds with the client connected, queues created and no I/O.
 */
#include "config.h"

#include "bench.h"
#include "harness.h"
#include "nvme_tdrv_vfu.h"
#include "vfu_client.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#define MAX_Q      4
#define Q_ENTRIES  256
#define MAX_QD     (Q_ENTRIES - 1)
#define MAX_CASES  64
#define MAX_REPS   32
#define MAX_DAEMONS 2
#define NS_BLOCKS  (1ull << 31) /* 1 TiB of 512-byte blocks */
#define BUF_SIZE   (128u << 10) /* a command slot's buffer: the largest I/O */
#define WIN_SIZE   (2u << 20)
#define DATA_IOVA  0x400000000ull /* data windows from 16 GiB */
#define MAX_WINDOWS 1024

enum { MODE_SHADOW, MODE_POLL, MODE_ADAPTIVE, NR_MODES };
static const char *const mode_names[NR_MODES] = { "shadow", "poll", "adaptive" };

/* What SPDK's vfio-user target did per core in issue 11 (spdk_nvme_perf,
 * 4 KiB, null bdev, one core), IOPS low and high of its runs; 0: none. */
struct workload {
    const char *name;
    uint8_t opcode;
    uint32_t bytes;
    unsigned qd;
    bool sequential;
    double spdk_lo, spdk_hi;
};

static const struct workload workloads[] = {
    { "randread-qd1", NVME_CMD_READ, 4096, 1, false, 862e3, 901e3 },
    { "randread-qd32", NVME_CMD_READ, 4096, 32, false, 4.51e6, 4.83e6 },
    { "randwrite-qd1", NVME_CMD_WRITE, 4096, 1, false, 0, 0 },
    { "randwrite-qd32", NVME_CMD_WRITE, 4096, 32, false, 4.72e6, 4.99e6 },
    { "seqread128k-qd8", NVME_CMD_READ, 128u << 10, 8, true, 0, 0 },
};
#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

struct sample {
    double iops, p50, p99, cpu_us, cores, per_core, cs, msgs, cli_us;
};

struct bench_case {
    unsigned mode, daemon;
    const struct workload *w;
    struct sample s[MAX_REPS];
};

static double opt_seconds = 1.0;
static double opt_warmup = 0.2;
static int opt_reps = 3;
static int opt_queues = 1;
static int opt_windows = 64;
static double opt_idle;
static char *opt_workloads;
static char *opt_modes;
static char *opt_baseline;
static char *opt_baseline_plugins;
static gboolean opt_irq;
static gboolean opt_verbose;
static char *opt_nbd;
static int opt_nbd_mib = 1024;
static char *opt_rbd;
static char *opt_file;
static char *opt_rbd_conf;
static char *opt_config_keys; /* "sandbox = off", "isolate = process" */
static char *opt_baseline_keys;
static gboolean opt_no_pin;
static int opt_sleep_us;

static GOptionEntry options[] = {
    { "keys", 0, 0, G_OPTION_ARG_STRING, &opt_config_keys,
      "extra daemon or device keys, ';'-separated (\"sandbox = off;isolate = process\"): "
      "sandbox goes to [daemon], the others to the device", "KEYS" },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds,
      "duration of each measurement (default 1)", "S" },
    { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &opt_warmup,
      "warm-up before each measurement (default 0.2)", "S" },
    { "reps", 'r', 0, G_OPTION_ARG_INT, &opt_reps,
      "repetitions (default 3)", "N" },
    { "queues", 'q', 0, G_OPTION_ARG_INT, &opt_queues,
      "I/O queue pairs driven at once (default 1)", "N" },
    { "workloads", 'w', 0, G_OPTION_ARG_STRING, &opt_workloads,
      "comma-separated (default: all; see the source)", "LIST" },
    { "modes", 'm', 0, G_OPTION_ARG_STRING, &opt_modes,
      "doorbell modes (default poll,adaptive,shadow)", "LIST" },
    { "windows", 0, 0, G_OPTION_ARG_INT, &opt_windows,
      "2 MiB DMA windows holding the data buffers (default 64)", "N" },
    { "irq", 0, 0, G_OPTION_ARG_NONE, &opt_irq,
      "completion queues with interrupts (default: polled, none)", NULL },
    { "baseline", 'b', 0, G_OPTION_ARG_FILENAME, &opt_baseline,
      "another vfiouserd binary to measure in the same run", "PATH" },
    { "baseline-keys", 0, 0, G_OPTION_ARG_STRING, &opt_baseline_keys,
      "the baseline's --keys instead (the same binary unless --baseline): the "
      "cost of a key, measured interleaved in one run", "KEYS" },
    { "baseline-plugins", 0, 0, G_OPTION_ARG_FILENAME, &opt_baseline_plugins,
      "the baseline daemon's plugin directory (default: this build's)", "DIR" },
    { "idle", 0, 0, G_OPTION_ARG_DOUBLE, &opt_idle,
      "measure the idle daemon's CPU for S seconds per mode (default 0: no)",
      "S" },
    { "nbd", 0, 0, G_OPTION_ARG_STRING, &opt_nbd,
      "namespace on this NBD export instead of the null back-end", "URI" },
    { "nbd-size", 0, 0, G_OPTION_ARG_INT, &opt_nbd_mib,
      "MiB of the NBD export or RBD image the I/O spreads over (default 1024)",
      "MiB" },
    { "file", 0, 0, G_OPTION_ARG_FILENAME, &opt_file,
      "namespace on this raw file (the uring back-end, cache = writeback: the "
      "host page cache) instead of the null back-end; --nbd-size MiB of it",
      "PATH" },
    { "rbd", 0, 0, G_OPTION_ARG_STRING, &opt_rbd,
      "namespace on this RBD image (rbd:POOL/IMAGE) instead of the null back-end",
      "URI" },
    { "rbd-conf", 0, 0, G_OPTION_ARG_STRING, &opt_rbd_conf,
      "the RBD image's cluster (a ceph.conf)", "PATH" },
    { "no-pin", 0, 0, G_OPTION_ARG_NONE, &opt_no_pin,
      "pin neither the client nor the daemon (the scheduler places them)", NULL },
    { "sleep-us", 0, 0, G_OPTION_ARG_INT, &opt_sleep_us,
      "sleep this long after a pass over the CQs found nothing (default 0: "
      "spin), leaving the CPU to the storage's own processes", "US" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
      "print every measurement, and the daemon's log", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const char *daemon_path[MAX_DAEMONS];
static unsigned nr_daemons = 1;

/* ------------------------------------------------------------------------
 * One daemon, one device, one client as its guest
 */
struct target {
    unsigned mode, daemon;
    struct harness *h;
    struct vfu_client *cl;
    struct tdrv d;
    unsigned nq;             /* queues created */
    uint8_t *win[MAX_WINDOWS];
    /* per queue and command slot: data buffer (guest address) and the
     * page its PRP list is written to */
    uint64_t buf[MAX_Q + 1][MAX_QD];
    uint64_t prp_list[MAX_Q + 1][MAX_QD];
};

/* The data windows, and every slot's buffer in them: slot i of all queues
 * taken together lands in window i % n, so consecutive commands touch
 * different windows (and different translations), as a driver's buffers
 * spread over hugepages do. */
static int map_data_windows(struct target *t)
{
    unsigned n = (unsigned)opt_windows;

    for (unsigned i = 0; i < n; i++) {
        t->win[i] = vfu_client_add_memory(t->cl, DATA_IOVA + (uint64_t)i * WIN_SIZE,
                                          WIN_SIZE, true);
        if (!t->win[i]) {
            return -errno;
        }
    }
    for (unsigned q = 1; q <= MAX_Q; q++) {
        for (unsigned s = 0; s < MAX_QD; s++) {
            unsigned idx = (q - 1) * MAX_QD + s;

            t->buf[q][s] = DATA_IOVA + (uint64_t)(idx % n) * WIN_SIZE +
                           (uint64_t)(idx / n) * BUF_SIZE;
            t->prp_list[q][s] = td_alloc(&t->d, 4096, 4096);
        }
    }
    return 0;
}

/* Blocks the I/O spreads over. */
static uint64_t ns_blocks(void)
{
    return opt_nbd || opt_rbd || opt_file ? ((uint64_t)opt_nbd_mib << 20) / 512
                                          : NS_BLOCKS;
}

static int start_target(struct target *t, unsigned mode, unsigned daemon,
                        const cpu_set_t *dcpu)
{
    g_autofree char *ns = opt_nbd
        ? g_strdup_printf("namespace.1.uri = %s\n", opt_nbd)
        : opt_rbd ? g_strdup_printf("namespace.1.uri = %s\n%s%s%s", opt_rbd,
                                    opt_rbd_conf ? "namespace.1.rbd-conf = " : "",
                                    opt_rbd_conf ? opt_rbd_conf : "",
                                    opt_rbd_conf ? "\n" : "")
        : opt_file ? g_strdup_printf("namespace.1.path = %s\n"
                                     "namespace.1.cache = writeback\n", opt_file)
        : g_strdup("backend = null\nsize = 1T\n");
    const char *kl = daemon == 1 && opt_baseline_keys != NULL ? opt_baseline_keys
                                                              : opt_config_keys;
    g_auto(GStrv) keys = g_strsplit(kl != NULL ? kl : "", ";", -1);
    g_autoptr(GString) dkeys = g_string_new("");
    g_autoptr(GString) nkeys = g_string_new("");
    g_autofree char *cfg = NULL;

    for (char **k = keys; *k != NULL; k++) {
        g_autofree char *kv = g_strstrip(g_strdup(*k));

        if (kv[0] != '\0') {
            g_string_append_printf(g_str_has_prefix(kv, "sandbox") ? dkeys : nkeys, "%s\n",
                                   kv);
        }
    }
    cfg = g_strdup_printf(
        "[daemon]\nsocket-dir = @SOCKDIR@\n%s"
        "[nvme0]\nplugin = nvme\n%s"
        "queues = %d\nqueue-entries = %d\ndoorbells = %s\n%s",
        dkeys->str, ns, MAX_Q, Q_ENTRIES, mode_names[mode], nkeys->str);
    g_autofree char *path = NULL;
    struct td_vfu_opts o = {
        .share = true,
        .poll_doorbells = mode == MODE_POLL,
        .vectors = MAX_Q + 1,
    };
    int r;

    memset(t, 0, sizeof(*t));
    t->mode = mode;
    t->daemon = daemon;
    g_setenv("VFIOUSERD", daemon_path[daemon], TRUE);
    if (daemon == 1 && opt_baseline_plugins) {
        g_setenv("VFIOUSERD_PLUGIN_DIR", opt_baseline_plugins, TRUE);
    } else {
        g_unsetenv("VFIOUSERD_PLUGIN_DIR");
    }
    t->h = harness_new(cfg);
    if (harness_start(t->h, NULL, (const char *const[]){ "nvme0", NULL }) < 0) {
        g_autofree char *log = harness_log(t->h);

        fprintf(stderr, "bench: the daemon did not start:\n%s", log);
        return -1;
    }
    r = opt_no_pin ? 0 : bench_pin(t->h->pid, dcpu);
    path = harness_socket(t->h, "nvme0");
    for (int i = 0; i < 500; i++) {
        r = vfu_client_connect(path, &t->cl);
        if (r != -ECONNREFUSED && r != -ENOENT) {
            break;
        }
        g_usleep(10000);
    }
    if (r == 0) {
        r = vfu_client_negotiate(t->cl, NULL, NULL);
    }
    if (r == 0) {
        r = td_vfu_attach(&t->d, t->cl, &o);
    }
    if (r == 0) {
        r = map_data_windows(t);
    }
    if (r == 0) {
        r = td_enable(&t->d, 32);
    }
    if (r == 0 && (mode == MODE_SHADOW || mode == MODE_ADAPTIVE)) {
        r = td_enable_shadow(&t->d) == 0 ? 0 : -EIO;
    }
    for (unsigned q = 1; r == 0 && q <= (unsigned)opt_queues; q++) {
        r = opt_irq ? td_create_io_queue(&t->d, (uint16_t)q, Q_ENTRIES)
                    : td_create_io_queue_polled(&t->d, (uint16_t)q, Q_ENTRIES);
        r = r == 0 ? 0 : -EIO;
        t->nq = q;
    }
    if (r < 0) {
        fprintf(stderr, "bench: %s: set-up failed: %s\n", mode_names[mode],
                g_strerror(-r));
    }
    return r;
}

static int stop_target(struct target *t)
{
    int st = 0;

    if (t->cl) {
        td_vfu_detach(&t->d);
        vfu_client_close(t->cl);
    }
    if (t->h) {
        st = harness_stop(t->h);
        if (st != 0 || opt_verbose) {
            g_autofree char *log = harness_log(t->h);

            fprintf(stderr, "bench: daemon %s (%s) exit status %d, log:\n%s",
                    daemon_path[t->daemon], mode_names[t->mode], st, log);
        }
        harness_free(t->h);
    }
    memset(t, 0, sizeof(*t));
    return st;
}

/* ------------------------------------------------------------------------
 * The hot loop
 */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run_state {
    struct target *t;
    const struct workload *w;
    unsigned nq, qd;
    uint64_t seed;
    uint64_t next_lba;         /* sequential workloads */
    uint64_t *sent[MAX_Q + 1]; /* by CID: submission time */
    uint32_t *lat;             /* ns, one per completion */
    size_t nr_lat, cap_lat;
    uint64_t ios;
};

static void submit(struct run_state *st, uint16_t q, uint64_t now)
{
    struct tdrv *d = &st->t->d;
    const struct workload *w = st->w;
    struct nvme_sqe c;
    uint16_t cid = d->q[q].next_cid;
    unsigned slot = cid % st->qd;
    uint64_t blocks = w->bytes / 512, lba;
    uint64_t buf = st->t->buf[q][slot];

    memset(&c, 0, sizeof(c));
    if (w->sequential) {
        lba = st->next_lba;
        st->next_lba = (st->next_lba + blocks) % ns_blocks();
    } else {
        st->seed = st->seed * 6364136223846793005ull + 1442695040888963407ull;
        lba = ((st->seed >> 33) % (ns_blocks() / blocks)) * blocks;
    }
    c.opcode = w->opcode;
    c.nsid = 1;
    c.cdw10 = (uint32_t)lba;
    c.cdw11 = (uint32_t)(lba >> 32);
    c.cdw12 = (uint32_t)(blocks - 1);
    c.dptr1 = buf;
    if (w->bytes > 8192) {
        /* PRP2 points to a list of the remaining pages, rewritten for
         * every command as a driver does */
        uint64_t list = st->t->prp_list[q][slot];
        uint64_t *ent = td_ptr(d, list);

        for (uint32_t i = 1; i < w->bytes / 4096; i++) {
            ent[i - 1] = buf + 4096ull * i;
        }
        c.dptr2 = list;
    } else if (w->bytes > 4096) {
        c.dptr2 = buf + 4096;
    }
    st->sent[q][cid] = now;
    td_queue_cmd(d, q, &c);
}

static int record(struct run_state *st, uint64_t ns)
{
    if (st->nr_lat == st->cap_lat) {
        size_t cap = st->cap_lat ? st->cap_lat * 2 : 1u << 20;
        uint32_t *a = realloc(st->lat, cap * sizeof(*a));

        if (!a) {
            return -ENOMEM;
        }
        st->lat = a;
        st->cap_lat = cap;
    }
    st->lat[st->nr_lat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
    return 0;
}

/* Keep qd commands in flight on queues 1..nq for `seconds`, then collect
 * what is still due.  Returns 0 or -errno (a failed command is -EIO). */
static int run_loop(struct run_state *st, double seconds, double *secs)
{
    struct tdrv *d = &st->t->d;
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
    uint64_t now = start, idle = 0;
    unsigned inflight = 0;

    for (uint16_t q = 1; q <= st->nq; q++) {
        for (unsigned i = 0; i < st->qd; i++) {
            submit(st, q, now);
            inflight++;
        }
        td_ring(d, q);
    }
    while (inflight > 0) {
        bool got_any = false;

        now = now_ns();
        for (uint16_t q = 1; q <= st->nq; q++) {
            unsigned got = 0;

            while (td_cqe_ready(d, q)) {
                struct nvme_cqe e;

                td_consume(d, q, &e);
                if (td_status(&e) != 0) {
                    fprintf(stderr, "bench: command failed with status %#x\n",
                            td_status(&e));
                    return -EIO;
                }
                if (record(st, now - st->sent[q][e.cid]) < 0) {
                    return -ENOMEM;
                }
                st->ios++;
                inflight--;
                got++;
                if (now < end) {
                    submit(st, q, now);
                    inflight++;
                }
            }
            if (got) {
                td_cq_ring(d, q);
                td_ring(d, q);
                got_any = true;
            }
        }
        if (got_any) {
            idle = 0;
        } else if (opt_sleep_us > 0) {
            struct timespec ts = { 0, (long)opt_sleep_us * 1000 };

            nanosleep(&ts, NULL);
            if (++idle > 100000000ull / 1000) {
                fprintf(stderr, "bench: no completion for a long time\n");
                return -ETIMEDOUT;
            }
        } else if (++idle > 100000000ull) {
            fprintf(stderr, "bench: no completion for a long time\n");
            return -ETIMEDOUT;
        }
        if (td_vfu_error(d) < 0) {
            return td_vfu_error(d);
        }
    }
    *secs = (double)(now - start) / 1e9;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double pct_us(const uint32_t *v, size_t n, double q)
{
    return n ? v[(size_t)(q * (double)(n - 1) + 0.5)] / 1000.0 : 0;
}

static int measure(struct target *t, const struct bench_case *bc,
                   struct sample *s)
{
    struct run_state st = { .t = t, .w = bc->w, .nq = t->nq, .qd = bc->w->qd,
                            .seed = 0x9e3779b97f4a7c15ull };
    struct bench_cpu c0, c1;
    unsigned rings0;
    double secs = 0, cli0, cpu;
    int r;

    for (unsigned q = 1; q <= t->nq; q++) {
        st.sent[q] = calloc(65536, sizeof(uint64_t));
    }
    r = run_loop(&st, opt_warmup, &secs);
    st.nr_lat = 0;
    st.ios = 0;
    rings0 = t->d.rings;
    if (r == 0) {
        r = bench_cpu_read(t->h->pid, &c0);
    }
    cli0 = cpu_s();
    if (r == 0) {
        r = run_loop(&st, opt_seconds, &secs);
    }
    if (r == 0) {
        r = bench_cpu_read(t->h->pid, &c1);
    }
    if (r == 0 && st.ios == 0) {
        r = -EIO;
    }
    if (r == 0) {
        qsort(st.lat, st.nr_lat, sizeof(*st.lat), cmp_u32);
        cpu = (double)(c1.ns - c0.ns) / 1e9;
        s->iops = (double)st.ios / secs;
        s->p50 = pct_us(st.lat, st.nr_lat, 0.50);
        s->p99 = pct_us(st.lat, st.nr_lat, 0.99);
        s->cpu_us = cpu * 1e6 / (double)st.ios;
        s->cores = cpu / secs;
        s->per_core = s->cores > 0 ? s->iops / s->cores : 0;
        s->cs = (double)(c1.runs - c0.runs) / (double)st.ios;
        s->msgs = (double)(t->d.rings - rings0) / (double)st.ios;
        s->cli_us = (cpu_s() - cli0) * 1e6 / (double)st.ios;
        if (opt_verbose) {
            fprintf(stderr, "  d%u %-6s %-16s %9.0f IOPS p50 %6.1f p99 %6.1f us "
                    "cpu %5.2f us/IO %4.2f cores %9.0f IOPS/core cs %.3f/IO "
                    "rings %.3f/IO\n", bc->daemon, mode_names[bc->mode],
                    bc->w->name, s->iops, s->p50, s->p99, s->cpu_us, s->cores,
                    s->per_core, s->cs, s->msgs);
        }
    } else {
        fprintf(stderr, "bench: %s %s: %s\n", mode_names[bc->mode],
                bc->w->name, g_strerror(-r));
    }
    for (unsigned q = 1; q <= t->nq; q++) {
        free(st.sent[q]);
    }
    free(st.lat);
    return r;
}

/* Daemon CPU over `seconds` with the client connected and nothing to do. */
static int measure_idle(struct target *t, double seconds, double *pct)
{
    struct bench_cpu c0, c1;
    uint64_t t0, t1;
    int r = bench_cpu_read(t->h->pid, &c0);

    t0 = now_ns();
    g_usleep((gulong)(seconds * 1e6));
    t1 = now_ns();
    if (r == 0) {
        r = bench_cpu_read(t->h->pid, &c1);
    }
    if (r == 0) {
        *pct = 100.0 * (double)(c1.ns - c0.ns) / (double)(t1 - t0);
    }
    return r;
}

/* ------------------------------------------------------------------------
 * The table
 */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double med_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double med(const struct sample *s, int n, size_t off)
{
    double v[MAX_REPS];

    for (int i = 0; i < n; i++) {
        memcpy(&v[i], (const char *)&s[i] + off, sizeof(double));
    }
    return med_of(v, n);
}

/* Median over the repetitions of a's field over b's (same repetition:
 * the two ran back to back, under the same load). */
static double med_ratio(const struct sample *a, const struct sample *b, int n,
                        size_t off)
{
    double v[MAX_REPS];

    for (int i = 0; i < n; i++) {
        double x, y;

        memcpy(&x, (const char *)&a[i] + off, sizeof(double));
        memcpy(&y, (const char *)&b[i] + off, sizeof(double));
        v[i] = y > 0 ? x / y : 0;
    }
    return med_of(v, n);
}

#define MED(bc, f) med((bc)->s, opt_reps, offsetof(struct sample, f))

static void print_table(const struct bench_case *cases, int n)
{
    printf("%-7s %-8s %-16s %10s %8s %8s %9s %5s %10s %6s %8s %9s\n", "daemon",
           "mode", "workload", "IOPS", "p50 us", "p99 us", "cpu us/IO",
           "cores", "IOPS/core", "cs/IO", "rings/IO", "cli us/IO");
    for (int i = 0; i < n; i++) {
        const struct bench_case *bc = &cases[i];

        printf("%-7s %-8s %-16s %10.0f %8.1f %8.1f %9.3f %5.2f %10.0f %6.3f "
               "%8.3f %9.3f\n", bc->daemon ? "base" : "test",
               mode_names[bc->mode], bc->w->name, MED(bc, iops), MED(bc, p50),
               MED(bc, p99), MED(bc, cpu_us), MED(bc, cores), MED(bc, per_core),
               MED(bc, cs), MED(bc, msgs), MED(bc, cli_us));
    }
    if (nr_daemons > 1) {
        printf("\n# test (%s%s%s) over base (%s%s%s), median of per-repetition "
               "ratios\n", daemon_path[0], opt_config_keys ? ", keys " : "",
               opt_config_keys ? opt_config_keys : "", daemon_path[1],
               opt_baseline_keys ? ", keys " : "", opt_baseline_keys ? opt_baseline_keys : "");
        for (int i = 0; i < n; i++) {
            const struct bench_case *a = &cases[i];

            for (int j = 0; j < n; j++) {
                const struct bench_case *b = &cases[j];

                if (a->daemon == 0 && b->daemon == 1 && a->mode == b->mode &&
                    a->w == b->w) {
                    printf("#   %-6s %-16s IOPS %5.2fx  IOPS/core %5.2fx  "
                           "p50 %5.2fx\n", mode_names[a->mode], a->w->name,
                           med_ratio(a->s, b->s, opt_reps,
                                     offsetof(struct sample, iops)),
                           med_ratio(a->s, b->s, opt_reps,
                                     offsetof(struct sample, per_core)),
                           med_ratio(a->s, b->s, opt_reps,
                                     offsetof(struct sample, p50)));
                }
            }
        }
    }
    printf("\n# poll and adaptive modes against SPDK's vfio-user target per core (issue 11's "
           "figures, another run on a machine of this kind)\n");
    for (int i = 0; i < n; i++) {
        const struct bench_case *bc = &cases[i];
        double got = MED(bc, per_core);

        if (bc->daemon != 0 || bc->mode == MODE_SHADOW || bc->w->spdk_lo == 0) {
            continue;
        }
        printf("#   %-8s %-16s %10.0f IOPS/core vs SPDK %.0f-%.0f: %.2f-%.2fx, %s\n",
               mode_names[bc->mode], bc->w->name, got, bc->w->spdk_lo, bc->w->spdk_hi,
               got / bc->w->spdk_hi, got / bc->w->spdk_lo,
               got >= bc->w->spdk_hi ? "met" :
               got >= bc->w->spdk_lo ? "within SPDK's range" : "MISSED");
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * Set-up
 */
static int parse_workloads(const char *text, const struct workload **out)
{
    g_auto(GStrv) parts = NULL;
    int n = 0;

    if (!text) {
        for (size_t i = 0; i < NR_WORKLOADS; i++) {
            out[n++] = &workloads[i];
        }
        return n;
    }
    parts = g_strsplit(text, ",", -1);
    for (char **p = parts; *p; p++) {
        size_t i;

        for (i = 0; i < NR_WORKLOADS; i++) {
            if (strcmp(*p, workloads[i].name) == 0) {
                break;
            }
        }
        if (i == NR_WORKLOADS || n == (int)NR_WORKLOADS) {
            return -EINVAL;
        }
        out[n++] = &workloads[i];
    }
    return n;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- NVMe plugin host benchmark");
    g_autoptr(GError) err = NULL;
    static struct bench_case cases[MAX_CASES];
    const struct workload *wl[NR_WORKLOADS];
    unsigned modes[NR_MODES], nm = 0;
    int nw, nc = 0, ret = 0;
    cpu_set_t all, ccpu, dcpu;
    struct utsname u;
    double idle_pct[NR_MODES][MAX_DAEMONS] = { { 0 } };

    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "bench: %s\n", err->message);
        return 2;
    }
    nw = parse_workloads(opt_workloads, wl);
    {
        g_auto(GStrv) parts = g_strsplit(opt_modes ? opt_modes : "poll,adaptive,shadow", ",", -1);

        for (char **p = parts; *p; p++) {
            unsigned m;

            for (m = 0; m < NR_MODES; m++) {
                if (strcmp(*p, mode_names[m]) == 0) {
                    break;
                }
            }
            if (m < NR_MODES && nm < NR_MODES) {
                modes[nm++] = m;
            } else {
                nm = 0;
                break;
            }
        }
    }
    daemon_path[0] = g_strdup(harness_daemon_path());
    if (opt_baseline || opt_baseline_plugins || opt_baseline_keys) {
        daemon_path[1] = opt_baseline ? opt_baseline : daemon_path[0];
        nr_daemons = 2;
    }
    if (nw <= 0 || nm == 0 || opt_reps < 1 || opt_reps > MAX_REPS ||
        opt_seconds <= 0 || opt_queues < 1 || opt_queues > MAX_Q ||
        opt_windows < 1 || opt_windows > MAX_WINDOWS || opt_idle < 0 ||
        (MAX_Q * MAX_QD + opt_windows - 1) / opt_windows * BUF_SIZE > WIN_SIZE ||
        (unsigned)nw * nm * nr_daemons > MAX_CASES) {
        fprintf(stderr, "bench: --queues 1..%d, --windows 64..%d, --modes "
                "poll,adaptive,shadow, --reps 1..%d, --seconds > 0, --workloads from:",
                MAX_Q, MAX_WINDOWS, MAX_REPS);
        for (size_t i = 0; i < NR_WORKLOADS; i++) {
            fprintf(stderr, " %s", workloads[i].name);
        }
        fprintf(stderr, "\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (sched_getaffinity(0, sizeof(all), &all) < 0) {
        perror("bench: sched_getaffinity");
        return 1;
    }
    CPU_ZERO(&ccpu);
    CPU_ZERO(&dcpu);
    {
        int first = -1, second = -1;

        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
            if (CPU_ISSET(cpu, &all)) {
                if (first < 0) {
                    first = cpu;
                } else if (second < 0) {
                    second = cpu;
                }
            }
        }
        CPU_SET(first, &ccpu);
        CPU_SET(second >= 0 ? second : first, &dcpu);
        uname(&u);
        if (opt_no_pin) {
            printf("# vfiouserd NVMe host benchmark, %s %s, %ld CPUs online; "
                   "nothing pinned; client %s; load average at start: ",
                   u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN),
                   opt_sleep_us ? "sleeps when idle" : "spins");
        } else {
            printf("# vfiouserd NVMe host benchmark, %s %s, %ld CPUs online; "
                   "client on CPU %d, daemon on CPU %d; client %s; load "
                   "average at start: ", u.sysname, u.release,
                   sysconf(_SC_NPROCESSORS_ONLN), first,
                   second >= 0 ? second : first,
                   opt_sleep_us ? "sleeps when idle" : "spins");
        }
        {
            double la[1] = { 0 };

            printf("%.2f\n", getloadavg(la, 1) == 1 ? la[0] : -1.0);
        }
    }
    printf("# daemon: test %s%s%s; %s%s, %d queue pair%s of %d "
           "entries, interrupts %s, data in %d DMA windows of 2 MiB; "
           "%d x %.1f s (+%.1f s warm-up), medians\n", daemon_path[0],
           nr_daemons > 1 ? ", base " : "", nr_daemons > 1 ? daemon_path[1] : "",
           opt_nbd ? "NBD export " : opt_rbd ? "RBD image "
                   : opt_file ? "file (page cache) " : "null back-end",
           opt_nbd ? opt_nbd : opt_rbd ? opt_rbd : opt_file ? opt_file : "",
           opt_queues, opt_queues > 1 ? "s" : "", Q_ENTRIES,
           opt_irq ? "on (never read)" : "off (polled CQs)", opt_windows,
           opt_reps, opt_seconds, opt_warmup);
    fflush(stdout);
    if (!opt_no_pin) {
        bench_pin(0, &ccpu);
    }

    for (unsigned m = 0; m < nm; m++) {
        for (int wi = 0; wi < nw; wi++) {
            for (unsigned dm = 0; dm < nr_daemons; dm++) {
                cases[nc++] = (struct bench_case){ modes[m], dm, wl[wi],
                                                   { { 0 } } };
            }
        }
    }
    /* Both daemons run side by side (each on the daemon CPU), measured in
     * turn, so a change in the machine's load hits both alike. */
    for (unsigned m = 0; m < nm && ret == 0; m++) {
        static struct target t[MAX_DAEMONS];

        for (unsigned dm = 0; dm < nr_daemons; dm++) {
            if (start_target(&t[dm], modes[m], dm, &dcpu) < 0) {
                for (unsigned k = 0; k <= dm; k++) {
                    stop_target(&t[k]);
                }
                return 1;
            }
        }
        for (int rep = 0; rep < opt_reps && ret == 0; rep++) {
            for (int i = 0; i < nc && ret == 0; i++) {
                if (cases[i].mode == modes[m] &&
                    measure(&t[cases[i].daemon], &cases[i], &cases[i].s[rep]) < 0) {
                    ret = 1;
                }
            }
        }
        for (unsigned dm = 0; dm < nr_daemons && ret == 0 && opt_idle > 0; dm++) {
            if (measure_idle(&t[dm], opt_idle, &idle_pct[modes[m]][dm]) < 0) {
                ret = 1;
            }
        }
        for (unsigned dm = 0; dm < nr_daemons; dm++) {
            if (stop_target(&t[dm]) != 0) {
                ret = 1;
            }
        }
    }
    if (ret == 0) {
        print_table(cases, nc);
        for (unsigned m = 0; m < nm && opt_idle > 0; m++) {
            for (unsigned dm = 0; dm < nr_daemons; dm++) {
                printf("# idle, client connected, %s doorbells, %s daemon: "
                       "%.2f%% of a core over %.0f s\n", mode_names[modes[m]],
                       dm ? "base" : "test", idle_pct[modes[m]][dm], opt_idle);
            }
        }
    }
    return ret;
}
