/*
 * bench_nvme_host: what the NVMe plugin costs the daemon per I/O, measured
 * from the host with no guest.  Run by "make bench-nvme"; prints figures,
 * never fails on them (only on errors).
 *
 * What it does.  For each doorbell mode it starts the built daemon (the
 * VFIOUSERD variable names another binary) with one nvme device on the null
 * back-end (reads return zeroes without a system call: what is left is the
 * controller and the transport), and makes the client library the guest
 * with the NVMe test driver of tests/nvme (nvme_tdrv_vfu.h): shared
 * (memfd) guest memory given with DMA_MAP, MSI-X eventfds connected, bus
 * mastering on, the controller enabled, up to 4 I/O queue pairs of 256
 * entries.  Doorbells are what QEMU makes of a guest's doorbell writes:
 *
 *   shadow  Doorbell Buffer Config is set up; the driver writes shadow
 *           doorbells in guest memory and rings the real one (a posted
 *           REGION_WRITE message) only when EventIdx asks for it
 *   poll    the doorbell page of BAR0 is mmapped from the daemon; the
 *           plugin's I/O thread polls it
 *
 * The hot loop keeps QD 4 KiB reads (random LBAs, PRP1 only) in flight on
 * each queue: it polls every CQ in guest memory, and for each completion
 * submits the next command; it reports the CQ heads and rings the SQ tails
 * once per pass over a queue, as a driver does once per interrupt.  The
 * completion queues are created with interrupts enabled (the daemon raises
 * MSI-X eventfds as it would for a guest; the client never waits on them)
 * unless --no-irq creates polled queues.
 *
 * Placement: the client on the first CPU we may use, every daemon thread
 * on the second (as a vCPU and the daemon on different cores); with one
 * CPU both share it.
 *
 * How to read the output, per case (mode, queues, QD), medians over the
 * repetitions:
 *   IOPS        completions per second of wall time
 *   p50/p99 us  submission (the pass that queued it) to completion seen
 *   cpu us/IO   daemon CPU time (all threads, from schedstat) per I/O
 *   cores       daemon CPU time / wall time: cores the daemon kept busy
 *   IOPS/core   IOPS / cores: what one daemon core sustains
 *   rings/IO    real doorbell writes per I/O: posted REGION_WRITE messages
 *               in shadow mode (the rest went to the shadow buffer), stores
 *               to the mmapped page in poll mode
 *   cli us/IO   the client's own CPU per I/O
 * The last lines check the targets at QD 32: IOPS per daemon core
 * >= 1,000,000 in poll mode and >= 500,000 in shadow mode.
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
#define NS_BLOCKS  (1ull << 31) /* 1 TiB of 512-byte blocks */

#define TARGET_POLL   1000000.0
#define TARGET_SHADOW  500000.0

enum { MODE_SHADOW, MODE_POLL, NR_MODES };
static const char *const mode_names[NR_MODES] = { "shadow", "poll" };

struct sample {
    double iops, p50, p99, cpu_us, cores, per_core, msgs, cli_us;
};

struct bench_case {
    unsigned mode, queues, qd;
    struct sample s[MAX_REPS];
};

static double opt_seconds = 1.0;
static double opt_warmup = 0.2;
static int opt_reps = 3;
static char *opt_queues;
static char *opt_depths;
static char *opt_modes;
static gboolean opt_no_irq;
static gboolean opt_verbose;
static char *opt_config_keys; /* "sandbox = off", "isolate = process" */

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
    { "queues", 'q', 0, G_OPTION_ARG_STRING, &opt_queues,
      "I/O queue pairs, comma-separated (default 1,2,4)", "LIST" },
    { "depths", 'd', 0, G_OPTION_ARG_STRING, &opt_depths,
      "commands in flight per queue (default 1,32)", "LIST" },
    { "modes", 'm', 0, G_OPTION_ARG_STRING, &opt_modes,
      "doorbell modes (default shadow,poll)", "LIST" },
    { "no-irq", 0, 0, G_OPTION_ARG_NONE, &opt_no_irq,
      "completion queues without interrupts (polled queues)", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
      "print every measurement, and the daemon's log", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
};

/* ------------------------------------------------------------------------
 * One daemon, one device, one client as its guest
 */
struct target {
    unsigned mode;
    struct harness *h;
    struct vfu_client *cl;
    struct tdrv d;
    uint64_t buf[MAX_Q + 1]; /* MAX_QD pages per queue */
    unsigned nq;             /* queues created */
};

static int start_target(struct target *t, unsigned mode, const cpu_set_t *dcpu)
{
    g_auto(GStrv) keys = g_strsplit(opt_config_keys != NULL ? opt_config_keys : "", ";", -1);
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
        "[nvme0]\nplugin = nvme\nbackend = null\nsize = 1T\n"
        "queues = %d\nqueue-entries = %d\ndoorbells = %s\n%s",
        dkeys->str, MAX_Q, Q_ENTRIES, mode_names[mode], nkeys->str);
    g_autofree char *path = NULL;
    struct td_vfu_opts o = {
        .share = true,
        .poll_doorbells = mode == MODE_POLL,
        .vectors = MAX_Q + 1,
    };
    int r;

    memset(t, 0, sizeof(*t));
    t->mode = mode;
    t->h = harness_new(cfg);
    if (harness_start(t->h, NULL, (const char *const[]){ "nvme0", NULL }) < 0) {
        g_autofree char *log = harness_log(t->h);

        fprintf(stderr, "bench: the daemon did not start:\n%s", log);
        return -1;
    }
    r = bench_pin(t->h->pid, dcpu);
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
        r = td_enable(&t->d, 32);
    }
    if (r == 0 && mode == MODE_SHADOW) {
        r = td_enable_shadow(&t->d) == 0 ? 0 : -EIO;
    }
    for (unsigned q = 1; r == 0 && q <= MAX_Q; q++) {
        r = opt_no_irq ? td_create_io_queue_polled(&t->d, (uint16_t)q, Q_ENTRIES)
                       : td_create_io_queue(&t->d, (uint16_t)q, Q_ENTRIES);
        r = r == 0 ? 0 : -EIO;
        t->buf[q] = td_alloc(&t->d, 4096ull * MAX_QD, 4096);
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

            fprintf(stderr, "bench: daemon (%s) exit status %d, log:\n%s",
                    mode_names[t->mode], st, log);
        }
        harness_free(t->h);
    }
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
    unsigned nq, qd;
    uint64_t seed;
    uint64_t *sent[MAX_Q + 1]; /* by CID: submission time */
    uint32_t *lat;             /* ns, one per completion */
    size_t nr_lat, cap_lat;
    uint64_t ios;
};

static void submit(struct run_state *st, uint16_t q, uint64_t now)
{
    struct tdrv *d = &st->t->d;
    struct nvme_sqe c;
    uint16_t cid = d->q[q].next_cid;

    memset(&c, 0, sizeof(c));
    st->seed = st->seed * 6364136223846793005ull + 1442695040888963407ull;
    c.opcode = NVME_CMD_READ;
    c.nsid = 1;
    c.cdw10 = (uint32_t)(((st->seed >> 33) % (NS_BLOCKS / 8)) * 8);
    c.cdw11 = 0;
    c.cdw12 = 7; /* 8 blocks: 4 KiB */
    c.dptr1 = st->t->buf[q] + 4096ull * (cid % st->qd);
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

/* Keep qd reads in flight on queues 1..nq for `seconds`, then collect what
 * is still due.  Returns 0 or -errno (a failed command is -EIO). */
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
    struct run_state st = { .t = t, .nq = bc->queues, .qd = bc->qd,
                            .seed = 0x9e3779b97f4a7c15ull };
    struct bench_cpu c0, c1;
    unsigned rings0;
    double secs = 0, cli0, cpu;
    int r;

    for (unsigned q = 1; q <= bc->queues; q++) {
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
        s->msgs = (double)(t->d.rings - rings0) / (double)st.ios;
        s->cli_us = (cpu_s() - cli0) * 1e6 / (double)st.ios;
        if (opt_verbose) {
            fprintf(stderr, "  %-6s q%u qd%-3u %9.0f IOPS p50 %6.1f p99 %6.1f us "
                    "cpu %5.2f us/IO %4.2f cores %9.0f IOPS/core rings %.3f/IO\n",
                    mode_names[bc->mode], bc->queues, bc->qd, s->iops, s->p50,
                    s->p99, s->cpu_us, s->cores, s->per_core, s->msgs);
        }
    } else {
        fprintf(stderr, "bench: %s q%u qd%u: %s\n", mode_names[bc->mode],
                bc->queues, bc->qd, g_strerror(-r));
    }
    for (unsigned q = 1; q <= bc->queues; q++) {
        free(st.sent[q]);
    }
    free(st.lat);
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

static double med(const struct sample *s, int n, size_t off)
{
    double v[MAX_REPS];

    for (int i = 0; i < n; i++) {
        memcpy(&v[i], (const char *)&s[i] + off, sizeof(double));
    }
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MED(bc, f) med((bc)->s, opt_reps, offsetof(struct sample, f))

static void print_table(const struct bench_case *cases, int n)
{
    printf("%-6s %6s %4s %10s %8s %8s %10s %6s %10s %8s %9s\n", "mode",
           "queues", "qd", "IOPS", "p50 us", "p99 us", "cpu us/IO", "cores",
           "IOPS/core", "rings/IO", "cli us/IO");
    for (int i = 0; i < n; i++) {
        const struct bench_case *bc = &cases[i];

        printf("%-6s %6u %4u %10.0f %8.1f %8.1f %10.3f %6.2f %10.0f %8.3f %9.3f\n",
               mode_names[bc->mode], bc->queues, bc->qd, MED(bc, iops),
               MED(bc, p50), MED(bc, p99), MED(bc, cpu_us), MED(bc, cores),
               MED(bc, per_core), MED(bc, msgs), MED(bc, cli_us));
    }
    printf("\n# targets at QD 32: IOPS per daemon core >= %.0f (poll), "
           ">= %.0f (shadow)\n", TARGET_POLL, TARGET_SHADOW);
    for (int i = 0; i < n; i++) {
        const struct bench_case *bc = &cases[i];
        double want = bc->mode == MODE_POLL ? TARGET_POLL : TARGET_SHADOW;
        double got = MED(bc, per_core);

        if (bc->qd != 32) {
            continue;
        }
        printf("#   %-6s %u queue%s: %.0f IOPS/core, %s\n", mode_names[bc->mode],
               bc->queues, bc->queues > 1 ? "s" : " ", got,
               got >= want ? "met" : "MISSED");
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * Set-up
 */
static int parse_list(const char *text, const char *def, unsigned lo,
                      unsigned hi, unsigned *out, unsigned max)
{
    g_auto(GStrv) parts = g_strsplit(text ? text : def, ",", -1);
    unsigned n = 0;

    for (char **p = parts; *p; p++) {
        guint64 v;

        if (n == max || !g_ascii_string_to_unsigned(*p, 10, lo, hi, &v, NULL)) {
            return -EINVAL;
        }
        out[n++] = (unsigned)v;
    }
    return (int)n;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- NVMe plugin host benchmark");
    g_autoptr(GError) err = NULL;
    static struct bench_case cases[MAX_CASES];
    unsigned queues[8], depths[8], modes[NR_MODES], nm = 0;
    int nqs, nds, nc = 0, ret = 0;
    cpu_set_t all, ccpu, dcpu;
    struct utsname u;

    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "bench: %s\n", err->message);
        return 2;
    }
    nqs = parse_list(opt_queues, "1,2,4", 1, MAX_Q, queues, 8);
    nds = parse_list(opt_depths, "1,32", 1, MAX_QD, depths, 8);
    {
        g_auto(GStrv) parts = g_strsplit(opt_modes ? opt_modes : "shadow,poll", ",", -1);

        for (char **p = parts; *p; p++) {
            if (strcmp(*p, "shadow") == 0 && nm < NR_MODES) {
                modes[nm++] = MODE_SHADOW;
            } else if (strcmp(*p, "poll") == 0 && nm < NR_MODES) {
                modes[nm++] = MODE_POLL;
            } else {
                nm = 0;
                break;
            }
        }
    }
    if (nqs <= 0 || nds <= 0 || nm == 0 || opt_reps < 1 || opt_reps > MAX_REPS ||
        opt_seconds <= 0 || (unsigned)(nm * nqs * nds) > MAX_CASES) {
        fprintf(stderr, "bench: --queues 1..%d, --depths 1..%d, --modes shadow,poll, "
                "--reps 1..%d, --seconds > 0\n", MAX_Q, MAX_QD, MAX_REPS);
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
        printf("# vfiouserd NVMe host benchmark, %s %s, %ld CPUs online; "
               "client on CPU %d, daemon on CPU %d\n", u.sysname, u.release,
               sysconf(_SC_NPROCESSORS_ONLN), first, second >= 0 ? second : first);
    }
    printf("# daemon: %s; null back-end, 4 KiB random reads, queues of %d "
           "entries, interrupts %s; %d x %.1f s (+%.1f s warm-up), medians\n",
           harness_daemon_path(), Q_ENTRIES, opt_no_irq ? "off (polled CQs)" : "on",
           opt_reps, opt_seconds, opt_warmup);
    fflush(stdout);
    bench_pin(0, &ccpu);

    for (unsigned m = 0; m < nm; m++) {
        for (int qi = 0; qi < nqs; qi++) {
            for (int di = 0; di < nds; di++) {
                cases[nc++] = (struct bench_case){ modes[m], queues[qi], depths[di],
                                                   { { 0 } } };
            }
        }
    }
    for (unsigned m = 0; m < nm && ret == 0; m++) {
        static struct target t;

        if (start_target(&t, modes[m], &dcpu) < 0) {
            stop_target(&t);
            return 1;
        }
        for (int rep = 0; rep < opt_reps && ret == 0; rep++) {
            for (int i = 0; i < nc && ret == 0; i++) {
                if (cases[i].mode == modes[m] &&
                    measure(&t, &cases[i], &cases[i].s[rep]) < 0) {
                    ret = 1;
                }
            }
        }
        if (stop_target(&t) != 0) {
            ret = 1;
        }
    }
    if (ret == 0) {
        print_table(cases, nc);
    }
    return ret;
}
